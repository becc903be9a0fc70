//! nom primitives shared by the frame, method, property and table decoders.
//!
//! Every parser works on a `&[u8]` that is a view into one received frame (`base: &Bytes`), so
//! strings and bodies come out as `base.slice_ref(..)`: a reference-counted view, never a copy.
//! Lengths are checked against what is actually there before anything is sliced or allocated.

use crate::error::DecodeError;
use crate::strings::{LongStr, ShortStr};
use bytes::{BufMut, Bytes, BytesMut};
use nom::error::{ErrorKind, ParseError};
use nom::Parser;

/// nom error type: a `DecodeError`, with "ran out of input" as `Truncated`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub DecodeError);

impl<'a> ParseError<&'a [u8]> for WireError {
    fn from_error_kind(_input: &'a [u8], _kind: ErrorKind) -> Self {
        WireError(DecodeError::Truncated { what: "field" })
    }

    fn append(_input: &'a [u8], _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

pub type PResult<'a, T> = nom::IResult<&'a [u8], T, WireError>;

/// Fails the parse with `err` (not retried by nom combinators: a protocol violation is final).
#[inline]
pub fn fail<T>(err: DecodeError) -> PResult<'static, T> {
    Err(nom::Err::Failure(WireError(err)))
}

/// Names what was truncated: turns the generic `Truncated { what: "field" }` into `what`.
#[inline]
pub fn label<'a, T>(what: &'static str, r: PResult<'a, T>) -> PResult<'a, T> {
    r.map_err(|e| {
        e.map(|w| match w.0 {
            DecodeError::Truncated { .. } => WireError(DecodeError::Truncated { what }),
            other => WireError(other),
        })
    })
}

/// Turns a nom result over a whole payload into a value, rejecting trailing bytes.
#[inline]
pub fn finish<T>(what: &'static str, r: PResult<'_, T>) -> Result<T, DecodeError> {
    match label(what, r) {
        Ok(([], v)) => Ok(v),
        Ok(_) => Err(DecodeError::Malformed { what }),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e.0),
        Err(nom::Err::Incomplete(_)) => Err(DecodeError::Truncated { what }),
    }
}

#[inline]
pub fn octet(i: &[u8]) -> PResult<'_, u8> {
    nom::number::complete::be_u8(i)
}

#[inline]
pub fn short(i: &[u8]) -> PResult<'_, u16> {
    nom::number::complete::be_u16(i)
}

#[inline]
pub fn long(i: &[u8]) -> PResult<'_, u32> {
    nom::number::complete::be_u32(i)
}

#[inline]
pub fn longlong(i: &[u8]) -> PResult<'_, u64> {
    nom::number::complete::be_u64(i)
}

/// `n` raw bytes as a zero-copy slice of `base`.
#[inline]
pub fn raw<'a>(base: &Bytes, n: usize, i: &'a [u8]) -> PResult<'a, Bytes> {
    let (rest, s) = nom::bytes::complete::take(n).parse(i)?;
    Ok((rest, view(base, s)))
}

/// `s`, a subslice of `base`, as a shared view of it. Cheaper than `Bytes::slice_ref`, which
/// re-checks that `s` lies inside `base`; here that holds by construction (every parser input
/// is a suffix of `base`), and `Bytes::slice` still bounds-checks the offsets.
#[inline]
pub fn view(base: &Bytes, s: &[u8]) -> Bytes {
    let start = (s.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
    base.slice(start..start + s.len())
}

#[inline]
pub fn short_str<'a>(base: &Bytes, i: &'a [u8]) -> PResult<'a, ShortStr> {
    let (i, len) = octet(i)?;
    let (i, b) = raw(base, len as usize, i)?;
    Ok((i, ShortStr::from_checked(b)))
}

#[inline]
pub fn long_str<'a>(base: &Bytes, i: &'a [u8]) -> PResult<'a, LongStr> {
    let (i, len) = long(i)?;
    let (i, b) = raw(base, len as usize, i)?;
    Ok((i, LongStr::new(b)))
}

pub fn put_short_str(buf: &mut BytesMut, s: &ShortStr) {
    buf.put_u8(s.len() as u8);
    buf.put_slice(s.as_bytes());
}

pub fn put_long_str(buf: &mut BytesMut, s: &LongStr) {
    buf.put_u32(s.len() as u32);
    buf.put_slice(s.as_bytes());
}

/// Reserves a big-endian u32 length prefix and returns its position for [`patch_len`].
pub fn begin_len(buf: &mut BytesMut) -> usize {
    let at = buf.len();
    buf.put_u32(0);
    at
}

/// Writes the number of bytes added since [`begin_len`] into the reserved prefix.
pub fn patch_len(buf: &mut BytesMut, at: usize) {
    let len = (buf.len() - at - 4) as u32;
    buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

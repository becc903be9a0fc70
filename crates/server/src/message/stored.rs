//! The stored message format: how a persistent message is written to the durable store and
//! read back (pages of a queue, delayed messages), and the versioned byte reader the store's
//! definition formats (`meta::formats`) share. Pure encoding and decoding, no I/O.

// The parent module allows `unsafe` for the message's allocation; nothing here needs it.
#![deny(unsafe_code)]

use super::{Message, Route};
use bytes::{BufMut, Bytes, BytesMut};
use warren_codec::FieldTable;

pub(crate) const FORMAT_V1: u8 = 1;
/// Messages only: v1 plus the publish time, so TTL clocks survive a restart.
const FORMAT_V2: u8 = 2;

/// Why a stored record could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("unreadable stored {what}: {detail}")]
pub(crate) struct FormatError {
    what: &'static str,
    detail: String,
}

pub(crate) fn bad(what: &'static str, detail: impl Into<String>) -> FormatError {
    FormatError {
        what,
        detail: detail.into(),
    }
}

/// A cursor over a stored record.
pub(crate) struct Reader<'a> {
    base: &'a Bytes,
    at: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(base: &'a Bytes, what: &'static str) -> Result<Self, FormatError> {
        Self::new_versioned(base, what, &[FORMAT_V1]).map(|(r, _)| r)
    }

    /// A reader past the version byte, which must be one of `accepted`; and the version.
    fn new_versioned(
        base: &'a Bytes,
        what: &'static str,
        accepted: &[u8],
    ) -> Result<(Self, u8), FormatError> {
        let mut r = Reader { base, at: 0, what };
        let version = r.u8()?;
        if !accepted.contains(&version) {
            return Err(bad(what, format!("unknown format version {version}")));
        }
        Ok((r, version))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, FormatError> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<Bytes, FormatError> {
        if self.base.len() - self.at < n {
            return Err(bad(self.what, "truncated"));
        }
        let out = self.base.slice(self.at..self.at + n);
        self.at += n;
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, FormatError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn short(&mut self) -> Result<Bytes, FormatError> {
        let n = self.u8()? as usize;
        self.take(n)
    }

    pub(crate) fn string(&mut self) -> Result<String, FormatError> {
        let b = self.short()?;
        String::from_utf8(b.to_vec()).map_err(|_| bad(self.what, "name is not UTF-8"))
    }

    pub(crate) fn table(&mut self) -> Result<FieldTable, FormatError> {
        let n = self.u32()? as usize;
        self.at -= 4;
        let bytes = self.take(n + 4)?;
        FieldTable::decode_bytes(&bytes).map_err(|e| bad(self.what, e.to_string()))
    }

    pub(crate) fn rest(&mut self) -> Bytes {
        let out = self.base.slice(self.at..);
        self.at = self.base.len();
        out
    }
}

pub(crate) fn put_short(out: &mut BytesMut, s: &[u8]) {
    // Names come from short strings (at most 255 bytes), so the length fits a byte.
    let n = s.len().min(255);
    out.put_u8(n as u8);
    out.put_slice(&s[..n]);
}

// ----- messages -----

/// `v2 ‖ published at:u64 (ms since the epoch) ‖ exchange:short ‖ routing key:short ‖
/// properties:u32-prefixed ‖ body (the rest)`. (v1, still read, had no publish time.)
pub(crate) fn encode_message(m: &Message, published_at_ms: u64) -> Bytes {
    let mut out = BytesMut::with_capacity(
        1 + 8
            + 2
            + m.exchange().len()
            + m.routing_key().len()
            + 4
            + m.properties().len()
            + m.body_len(),
    );
    out.put_u8(FORMAT_V2);
    out.put_u64(published_at_ms);
    put_short(&mut out, m.exchange());
    put_short(&mut out, m.routing_key());
    out.put_u32(m.properties().len() as u32);
    out.put_slice(m.properties());
    out.put_slice(m.body());
    out.freeze()
}

/// The inverse of [`encode_message`] (the parts are copied into a new [`Message`]), and the
/// publish time (`None` for a v1 record, which has none).
/// `last_route`: the route of the previous message read, shared when this one has the same
/// (a page of one queue's messages mostly does); replaced when it differs.
pub(crate) fn decode_message_timed(
    bytes: &Bytes,
    last_route: &mut Option<Route>,
) -> Result<(Message, Option<u64>), FormatError> {
    let (mut r, version) = Reader::new_versioned(bytes, "message", &[FORMAT_V1, FORMAT_V2])?;
    let published_at = if version == FORMAT_V2 {
        Some(r.u64()?)
    } else {
        None
    };
    let exchange = r.short()?;
    let routing_key = r.short()?;
    let props_len = r.u32()? as usize;
    let properties = r.take(props_len)?;
    let body = r.rest();
    let route = match last_route {
        Some(route) if route.is(&exchange, &routing_key) => route.clone(),
        _ => last_route
            .insert(Route::new(&exchange, &routing_key))
            .clone(),
    };
    Ok((Message::new(route, &properties, &body, true), published_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_round_trips_and_shares_repeated_routes() {
        let m = Message::new(
            Route::new(b"orders", b"order.placed"),
            &[0x10, 0x00, 2],
            b"hello",
            true,
        );
        let bytes = encode_message(&m, 1_700_000_000_123);
        let mut last = None;
        let (back, at) = decode_message_timed(&bytes, &mut last).unwrap();
        assert_eq!(at, Some(1_700_000_000_123));
        assert_eq!(back.exchange(), m.exchange());
        assert_eq!(back.routing_key(), m.routing_key());
        assert_eq!(back.properties(), m.properties());
        assert_eq!(back.body(), m.body());
        assert!(back.persistent());
        let (again, _) = decode_message_timed(&bytes, &mut last).unwrap();
        assert!(Route::ptr_eq(back.route(), again.route()));
    }

    #[test]
    fn truncated_or_foreign_records_are_errors() {
        let m = Message::new(Route::new(b"x", b"k"), &[0, 0], b"", true);
        let bytes = encode_message(&m, 0);
        for n in 0..bytes.len() - 1 {
            assert!(
                decode_message_timed(&bytes.slice(..n), &mut None).is_err(),
                "prefix {n}"
            );
        }
    }
}

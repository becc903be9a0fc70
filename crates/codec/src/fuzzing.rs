//! The body of the codec's fuzz target, kept here as a plain function so that
//! `cargo fuzz run decode_frames` (crates/codec/fuzz) and the regression test
//! (crates/codec/tests/fuzz_regressions.rs) run exactly the same code.
//!
//! [`decode_stream`] treats its input as bytes a peer sent and checks, besides "never panics":
//! - the protocol header is answered consistently with the bytes (and consumes 8 of them);
//! - the frame decoder, at each of [`FRAME_MAX_VALUES`], never consumes anything when it asks
//!   for more bytes, never returns a frame larger than `frame_max`, and a smaller `frame_max`
//!   only cuts the stream short with `FrameTooLarge`, never changes what decodes, and a
//!   partial frame never makes it reserve more than about 1 MiB ahead of the bytes received;
//! - feeding the stream one byte at a time yields the same frames and the same error as
//!   decoding it from one buffer;
//! - every decoded frame re-encodes to the same length (header, body and heartbeat frames to
//!   the same bytes), decodes back to an equal frame, and re-encoding is a fixed point;
//! - body payloads and raw header properties are views of the read buffer, not copies;
//! - the same bytes read as a field table and as a content-header payload round-trip too;
//! - every error maps to a hard (connection-closing) reply code.

use crate::error::DecodeError;
use crate::frame::{decode_protocol_header, Frame, FrameDecoder, ProtocolHeader, PROTOCOL_HEADER};
use crate::properties::ContentHeader;
use crate::table::FieldTable;
use bytes::{Bytes, BytesMut};
use std::ops::Range;

/// The `frame_max` values every input is decoded at: no limit (the reference), RabbitMQ's
/// default 131072, the pre-tune 4096, and a tiny 64 that admits only the smallest frames.
pub const FRAME_MAX_VALUES: [u32; 4] = [0, 131_072, 4096, 64];

/// Bound on the spare capacity a partial frame may leave in the read buffer.
const MAX_SPARE: usize = 1 << 20;

/// The `frame_max` at which the stream is also fed one byte at a time.
const STREAMING_FRAME_MAX: u32 = 131_072;

/// Runs `data` through every decoder entry point and checks the invariants listed in the
/// module docs.
///
/// # Panics
/// When the codec panics or breaks one of the invariants: that is a bug the fuzzer found.
pub fn decode_stream(data: &[u8]) {
    let start = check_protocol_header(data);
    let stream = &data[start..];

    let reference = decode_whole(FRAME_MAX_VALUES[0], stream, true);
    for &frame_max in &FRAME_MAX_VALUES[1..] {
        let pass = decode_whole(frame_max, stream, false);
        let k = pass.frames.len();
        assert!(
            k <= reference.frames.len(),
            "frame_max {frame_max} decoded more frames"
        );
        assert_eq!(
            pass.frames[..],
            reference.frames[..k],
            "frame_max {frame_max} changed what decodes"
        );
        if k < reference.frames.len() || pass.end != reference.end {
            assert!(
                matches!(pass.end, Some(DecodeError::FrameTooLarge { max, .. }) if max == frame_max),
                "frame_max {frame_max} stopped with {:?} where no limit gave {:?}",
                pass.end,
                reference.end
            );
        }
        if frame_max == STREAMING_FRAME_MAX {
            let streamed = decode_byte_by_byte(frame_max, stream);
            assert_eq!(streamed, pass, "byte-at-a-time decoding differs");
        }
    }

    check_field_table(data);
    check_content_header(data);
}

/// The outcome of decoding a stream until it runs out or fails.
#[derive(Debug, PartialEq)]
struct Pass {
    frames: Vec<Frame>,
    /// Bytes consumed by the decoded frames.
    consumed: usize,
    /// The error that stopped decoding, or `None` when the bytes ran out.
    end: Option<DecodeError>,
}

/// Decodes `stream` from one buffer. With `round_trip`, checks each frame's re-encoding.
fn decode_whole(frame_max: u32, stream: &[u8], round_trip: bool) -> Pass {
    let decoder = FrameDecoder::new(frame_max);
    let mut buf = BytesMut::from(stream);
    let start = buf.as_ptr() as usize;
    let read_buffer = start..start + stream.len();
    let mut pass = Pass {
        frames: Vec::new(),
        consumed: 0,
        end: None,
    };
    loop {
        let before = buf.len();
        match decoder.decode(&mut buf) {
            Ok(Some(frame)) => {
                let used = before - buf.len();
                assert!(used >= 8, "a frame is at least 8 bytes, consumed {used}");
                assert!(
                    frame_max == 0 || used <= frame_max as usize,
                    "frame of {used} bytes passed frame_max {frame_max}"
                );
                check_zero_copy(&frame, &read_buffer);
                if round_trip {
                    check_frame_round_trip(&frame, &stream[pass.consumed..pass.consumed + used]);
                }
                pass.consumed += used;
                pass.frames.push(frame);
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                assert_eq!(
                    &buf[..],
                    &stream[pass.consumed..],
                    "Ok(None) changed the buffer"
                );
                // The declared size is only the peer's claim: a few header bytes must not make
                // the decoder reserve memory for gigabytes that may never arrive.
                let spare = buf.capacity() - buf.len();
                assert!(
                    spare <= MAX_SPARE.max(2 * stream.len()),
                    "a partial frame made the decoder reserve {spare} bytes ahead"
                );
                return pass;
            }
            Err(e) => {
                check_error(&e);
                pass.end = Some(e);
                return pass;
            }
        }
    }
}

/// Decodes `stream` as if it arrived one byte per read.
fn decode_byte_by_byte(frame_max: u32, stream: &[u8]) -> Pass {
    let decoder = FrameDecoder::new(frame_max);
    let mut buf = BytesMut::new();
    let mut pass = Pass {
        frames: Vec::new(),
        consumed: 0,
        end: None,
    };
    for &byte in stream {
        buf.extend_from_slice(&[byte]);
        loop {
            let before = buf.len();
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    pass.consumed += before - buf.len();
                    pass.frames.push(frame);
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                    break;
                }
                Err(e) => {
                    pass.end = Some(e);
                    return pass;
                }
            }
        }
    }
    pass
}

/// Body payloads and raw header properties must point into the buffer they were read from.
fn check_zero_copy(frame: &Frame, read_buffer: &Range<usize>) {
    let view = match frame {
        Frame::Body { payload, .. } => payload,
        Frame::Header { header, .. } => &header.raw_properties,
        _ => return,
    };
    if !view.is_empty() {
        let p = view.as_ptr() as usize;
        assert!(
            read_buffer.contains(&p) && p + view.len() <= read_buffer.end,
            "payload was copied out of the read buffer"
        );
    }
}

/// Re-encodes a decoded frame (`wire`: the bytes it came from) and decodes it again.
fn check_frame_round_trip(frame: &Frame, wire: &[u8]) {
    let mut out = BytesMut::new();
    frame.encode(&mut out);
    assert_eq!(
        out.len(),
        wire.len(),
        "re-encoding changed the length of {frame:?}"
    );
    if !matches!(frame, Frame::Method { .. }) {
        // Method frames may lose reserved bits; everything else is kept byte for byte.
        assert_eq!(&out[..], wire, "re-encoding changed the bytes of {frame:?}");
    }
    let encoded = Bytes::copy_from_slice(&out);
    let again = FrameDecoder::new(0)
        .decode(&mut out)
        .unwrap_or_else(|e| panic!("re-encoded {frame:?} does not decode: {e}"))
        .expect("a re-encoded frame is complete");
    assert!(out.is_empty(), "re-encoded frame left bytes behind");
    assert_eq!(&again, frame, "frame changed in a round trip");
    let mut out2 = BytesMut::new();
    again.encode(&mut out2);
    assert_eq!(&out2[..], &encoded[..], "re-encoding is not a fixed point");
}

/// Checks the protocol-header answer against the bytes; returns where frames start.
fn check_protocol_header(data: &[u8]) -> usize {
    let mut buf = BytesMut::from(data);
    let n = data.len().min(8);
    match decode_protocol_header(&mut buf) {
        Some(ProtocolHeader::Amqp091) => {
            assert_eq!(data[..n], PROTOCOL_HEADER[..], "accepted a wrong header");
            assert_eq!(buf.len(), data.len() - 8, "the header is 8 bytes");
            8
        }
        Some(ProtocolHeader::Unsupported(seen)) => {
            assert_eq!(seen[..n], data[..n], "reported other bytes than received");
            assert!(seen[n..].iter().all(|&b| b == 0));
            assert_ne!(data[..n], PROTOCOL_HEADER[..n], "refused a correct header");
            if data.len() >= 8 {
                assert_eq!(buf.len(), data.len() - 8, "the header is 8 bytes");
            } else {
                assert!(buf.is_empty(), "a refused short header is discarded");
            }
            0
        }
        None => {
            assert!(data.len() < 8, "no answer with 8 bytes buffered");
            assert_eq!(&buf[..], data, "waiting consumed bytes");
            let m = data.len().min(4);
            assert_eq!(data[..m], PROTOCOL_HEADER[..m], "waited on a non-AMQP peer");
            0
        }
    }
}

/// Reads the whole input as one length-prefixed field table.
fn check_field_table(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    match FieldTable::decode_bytes(&bytes) {
        Ok(table) => {
            let mut out = BytesMut::new();
            table.encode(&mut out);
            assert_eq!(out.len(), data.len(), "table re-encoding changed length");
            let out = out.freeze();
            let again = FieldTable::decode_bytes(&out)
                .unwrap_or_else(|e| panic!("re-encoded table does not decode: {e}"));
            assert_eq!(again, table, "table changed in a round trip");
            let mut out2 = BytesMut::new();
            again.encode(&mut out2);
            assert_eq!(
                &out2[..],
                &out[..],
                "table re-encoding is not a fixed point"
            );
        }
        Err(e) => check_error(&e),
    }
}

/// Reads the whole input as a content-header frame payload.
fn check_content_header(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    match ContentHeader::decode(&bytes, &bytes) {
        Ok(header) => {
            let mut out = BytesMut::new();
            header.encode_payload(&mut out);
            assert_eq!(
                &out[..],
                data,
                "content header not re-encoded byte for byte"
            );
            assert_eq!(header.payload_len(), data.len());
            // Encoding the decoded properties afresh must give the same properties back.
            let fresh = ContentHeader::new(header.body_size, header.properties.clone());
            let mut out = BytesMut::new();
            fresh.encode_payload(&mut out);
            let out = out.freeze();
            let again = ContentHeader::decode(&out, &out)
                .unwrap_or_else(|e| panic!("re-encoded properties do not decode: {e}"));
            assert_eq!(again.properties, header.properties, "properties changed");
            assert_eq!(again.body_size, header.body_size);
        }
        Err(e) => check_error(&e),
    }
}

/// Every decode error is a protocol violation that closes the connection.
fn check_error(e: &DecodeError) {
    let code = e.reply_code();
    assert!(code.is_hard(), "{e} maps to soft reply code {code:?}");
    assert!(!e.to_string().is_empty());
}

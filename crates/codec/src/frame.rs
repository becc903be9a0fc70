//! Frames on the wire: the protocol header, the streaming frame decoder and the encoders.
//!
//! A frame is `type:u8 channel:u16 size:u32 payload[size] 0xCE`. The decoder looks at the 7-byte
//! header first and refuses a frame over `frame_max` before any of its payload is buffered;
//! with too few bytes it answers `Ok(None)` and consumes nothing. A complete frame is split off
//! the read buffer and frozen, so method strings and body payloads are views of it, not copies.

use crate::error::DecodeError;
use crate::generated::{
    Method, FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD,
};
use crate::properties::ContentHeader;
use crate::wire;
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The header a 0-9-1 client opens with, and the one a server answers with to refuse others.
pub const PROTOCOL_HEADER: [u8; 8] = *b"AMQP\x00\x00\x09\x01";

/// Bytes a frame adds around its payload: 7-byte header plus the frame-end octet.
pub const FRAME_OVERHEAD: usize = 8;

/// Most the decoder reserves ahead of the received bytes for a partial frame (RabbitMQ's
/// default frame_max). Without a cap, 7 bytes declaring a 4 GiB frame under `frame_max` 0 would
/// make it allocate 4 GiB up front.
const MAX_RESERVE_AHEAD: usize = 128 * 1024;

/// What the first eight bytes of a connection said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolHeader {
    /// `AMQP 0 0 9 1`.
    Amqp091,
    /// Another AMQP version or not AMQP at all: the server writes [`PROTOCOL_HEADER`] and
    /// closes, as RabbitMQ does.
    Unsupported([u8; 8]),
}

/// Reads the protocol header once eight bytes are there (consuming them), else `None`.
pub fn decode_protocol_header(buf: &mut BytesMut) -> Option<ProtocolHeader> {
    if buf.len() < 8 {
        // A peer that is clearly not speaking AMQP is answered as soon as that is certain.
        let n = buf.len().min(4);
        if buf[..n] != PROTOCOL_HEADER[..n] {
            let mut seen = [0u8; 8];
            seen[..buf.len()].copy_from_slice(buf);
            buf.clear();
            return Some(ProtocolHeader::Unsupported(seen));
        }
        return None;
    }
    let mut seen = [0u8; 8];
    seen.copy_from_slice(&buf[..8]);
    buf.advance(8);
    if seen == PROTOCOL_HEADER {
        Some(ProtocolHeader::Amqp091)
    } else {
        Some(ProtocolHeader::Unsupported(seen))
    }
}

/// One decoded frame.
///
/// The header is boxed: decoded properties make it over 400 bytes, and an unboxed `Frame` was
/// copied whole (even for a body frame) each time it moved through a `Result` or `Option`,
/// which cost more than the one allocation per published message (docs/benchmarks.md).
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Method {
        channel: u16,
        method: Method,
    },
    Header {
        channel: u16,
        header: Box<ContentHeader>,
    },
    Body {
        channel: u16,
        payload: Bytes,
    },
    Heartbeat,
}

impl Frame {
    /// The channel the frame belongs to (0 for heartbeats).
    pub fn channel(&self) -> u16 {
        match self {
            Frame::Method { channel, .. }
            | Frame::Header { channel, .. }
            | Frame::Body { channel, .. } => *channel,
            Frame::Heartbeat => 0,
        }
    }

    /// Appends this frame as one wire frame. Body payloads are written as given (split larger
    /// bodies with [`encode_body`]).
    pub fn encode(&self, buf: &mut BytesMut) {
        match self {
            Frame::Method { channel, method } => encode_method(*channel, method, buf),
            Frame::Header { channel, header } => encode_header(*channel, header, buf),
            Frame::Body { channel, payload } => {
                put_frame_header(buf, FRAME_BODY, *channel, payload.len());
                buf.put_slice(payload);
                buf.put_u8(FRAME_END);
            }
            Frame::Heartbeat => encode_heartbeat(buf),
        }
    }
}

/// A frame split off the stream with only its envelope checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub kind: u8,
    pub channel: u16,
    pub payload: Bytes,
}

impl RawFrame {
    /// Decodes the payload according to the frame type.
    #[inline]
    pub fn decode(self) -> Result<Frame, DecodeError> {
        match self.decode_some() {
            Ok(Some(frame)) => Ok(frame),
            Ok(None) => unreachable!("decode_some never answers None"),
            Err(e) => Err(e),
        }
    }

    /// [`RawFrame::decode`] with its answer already in the shape [`FrameDecoder::decode`]
    /// returns. Each arm builds that final value itself (the header in place): a `Frame` is
    /// over 400 bytes and every re-wrapping (`map(Some)`, `?` into another `Result`) would copy
    /// it, several times per published message.
    #[inline]
    fn decode_some(self) -> Result<Option<Frame>, DecodeError> {
        let RawFrame {
            kind,
            channel,
            payload,
        } = self;
        match kind {
            FRAME_METHOD => {
                let ids = wire::short(&payload[..])
                    .and_then(|(i, c)| wire::short(i).map(|(i, m)| (i, (c, m))));
                let (args, (class_id, method_id)) = match ids {
                    Ok(v) => v,
                    Err(_) => {
                        return Err(DecodeError::Truncated {
                            what: "method frame",
                        })
                    }
                };
                match Method::decode_args(class_id, method_id, &payload, args) {
                    Ok(method) => Ok(Some(Frame::Method { channel, method })),
                    Err(e) => Err(e),
                }
            }
            FRAME_HEADER => {
                // Written straight into the allocation (`Box::new` would build the 400-byte
                // value on the stack and copy it).
                let mut header = Box::write(Box::new_uninit(), ContentHeader::empty());
                header.decode_into(&payload, &payload)?;
                Ok(Some(Frame::Header { channel, header }))
            }
            FRAME_BODY => Ok(Some(Frame::Body { channel, payload })),
            FRAME_HEARTBEAT if channel == 0 && payload.is_empty() => Ok(Some(Frame::Heartbeat)),
            FRAME_HEARTBEAT => Err(DecodeError::BadHeartbeat {
                channel,
                len: payload.len() as u32,
            }),
            other => Err(DecodeError::UnknownFrameType(other)),
        }
    }
}

/// Streaming frame decoder. Holds the negotiated `frame_max` (total frame size, header and
/// frame-end included; 0 means no limit beyond the u32 size field).
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    frame_max: u32,
}

impl Default for FrameDecoder {
    /// Before tuning, frames are capped at 4096 bytes (the spec's frame-min-size).
    fn default() -> Self {
        FrameDecoder::new(crate::generated::FRAME_MIN_SIZE)
    }
}

impl FrameDecoder {
    pub fn new(frame_max: u32) -> Self {
        FrameDecoder { frame_max }
    }

    pub fn frame_max(&self) -> u32 {
        self.frame_max
    }

    pub fn set_frame_max(&mut self, frame_max: u32) {
        self.frame_max = frame_max;
    }

    /// Splits the next complete frame off `buf`, checking size, type and frame-end.
    /// `Ok(None)`: more bytes are needed and nothing was consumed.
    #[inline]
    pub fn decode_raw(&self, buf: &mut BytesMut) -> Result<Option<RawFrame>, DecodeError> {
        if buf.len() < 7 {
            return Ok(None);
        }
        let kind = buf[0];
        let channel = u16::from_be_bytes([buf[1], buf[2]]);
        let size = u32::from_be_bytes([buf[3], buf[4], buf[5], buf[6]]) as usize;
        if !matches!(
            kind,
            FRAME_METHOD | FRAME_HEADER | FRAME_BODY | FRAME_HEARTBEAT
        ) {
            return Err(DecodeError::UnknownFrameType(kind));
        }
        let total = size as u64 + FRAME_OVERHEAD as u64;
        if self.frame_max != 0 && total > u64::from(self.frame_max) {
            return Err(DecodeError::FrameTooLarge {
                size: total,
                max: self.frame_max,
            });
        }
        let total = total as usize;
        if buf.len() < total {
            // Room for the rest of the frame, but the size is only the peer's claim: at most
            // MAX_RESERVE_AHEAD now, the rest as the bytes actually arrive.
            buf.reserve((total - buf.len()).min(MAX_RESERVE_AHEAD));
            return Ok(None);
        }
        let end = buf[total - 1];
        if end != FRAME_END {
            return Err(DecodeError::BadFrameEnd { found: end });
        }
        let mut frame = buf.split_to(total);
        frame.advance(7);
        frame.truncate(size);
        Ok(Some(RawFrame {
            kind,
            channel,
            payload: frame.freeze(),
        }))
    }

    /// Splits off and decodes the next frame. `Ok(None)`: more bytes are needed.
    #[inline]
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        match self.decode_raw(buf)? {
            Some(raw) => raw.decode_some(),
            None => Ok(None),
        }
    }
}

fn put_frame_header(buf: &mut BytesMut, kind: u8, channel: u16, size: usize) {
    buf.put_u8(kind);
    buf.put_u16(channel);
    buf.put_u32(size as u32);
}

/// Appends a method frame.
pub fn encode_method(channel: u16, method: &Method, buf: &mut BytesMut) {
    buf.put_u8(FRAME_METHOD);
    buf.put_u16(channel);
    let at = wire::begin_len(buf);
    buf.put_u16(method.class_id());
    buf.put_u16(method.method_id());
    method.encode_args(buf);
    wire::patch_len(buf, at);
    buf.put_u8(FRAME_END);
}

/// Appends a content header frame.
pub fn encode_header(channel: u16, header: &ContentHeader, buf: &mut BytesMut) {
    put_frame_header(buf, FRAME_HEADER, channel, header.payload_len());
    header.encode_payload(buf);
    buf.put_u8(FRAME_END);
}

/// Appends `body` as body frames of at most `frame_max` bytes each (0: one frame).
/// An empty body produces no frame, as clients expect.
pub fn encode_body(channel: u16, body: &[u8], frame_max: u32, buf: &mut BytesMut) {
    let chunk = match frame_max {
        0 => u32::MAX as usize,
        n => (n as usize).saturating_sub(FRAME_OVERHEAD).max(1),
    };
    buf.reserve(body.len() + body.len().div_ceil(chunk) * FRAME_OVERHEAD);
    for piece in body.chunks(chunk) {
        put_frame_header(buf, FRAME_BODY, channel, piece.len());
        buf.put_slice(piece);
        buf.put_u8(FRAME_END);
    }
}

/// Appends a whole content-carrying method (publish, deliver, get-ok, return): the method
/// frame, the header frame and the body frames, in one buffer.
pub fn encode_content(
    channel: u16,
    method: &Method,
    header: &ContentHeader,
    body: &[u8],
    frame_max: u32,
    buf: &mut BytesMut,
) {
    buf.reserve(64 + header.payload_len() + body.len() + 2 * FRAME_OVERHEAD);
    encode_method(channel, method, buf);
    encode_header(channel, header, buf);
    encode_body(channel, body, frame_max, buf);
}

/// Like [`encode_content`] for a basic-class message whose properties are kept as the raw
/// flags-and-list bytes (what a broker stores): the header frame is written from them
/// directly, with `body.len()` as the body size.
pub fn encode_content_raw(
    channel: u16,
    method: &Method,
    raw_properties: &[u8],
    body: &[u8],
    frame_max: u32,
    buf: &mut BytesMut,
) {
    buf.reserve(64 + 12 + raw_properties.len() + body.len() + 2 * FRAME_OVERHEAD);
    encode_method(channel, method, buf);
    encode_header_and_body_raw(channel, raw_properties, body, frame_max, buf);
}

/// The fields of the two methods that carry a queued message to a consumer, borrowed from
/// wherever the broker keeps them (no owned strings per delivery).
#[derive(Debug, Clone, Copy)]
pub enum DeliveryMethod<'a> {
    /// `basic.deliver`.
    Deliver {
        consumer_tag: &'a [u8],
        delivery_tag: u64,
        redelivered: bool,
    },
    /// `basic.get-ok`.
    GetOk {
        delivery_tag: u64,
        redelivered: bool,
        message_count: u32,
    },
}

/// Like [`encode_content_raw`] for `basic.deliver` or `basic.get-ok`, with the exchange and
/// routing key given as bytes (each at most 255: callers hold them as short strings).
#[allow(clippy::too_many_arguments)]
pub fn encode_delivery_raw(
    channel: u16,
    method: DeliveryMethod<'_>,
    exchange: &[u8],
    routing_key: &[u8],
    raw_properties: &[u8],
    body: &[u8],
    frame_max: u32,
    buf: &mut BytesMut,
) {
    let short = |buf: &mut BytesMut, s: &[u8]| {
        let s = &s[..s.len().min(255)];
        buf.put_u8(s.len() as u8);
        buf.put_slice(s);
    };
    buf.reserve(64 + 3 * 256 + 12 + raw_properties.len() + body.len() + 2 * FRAME_OVERHEAD);
    buf.put_u8(FRAME_METHOD);
    buf.put_u16(channel);
    let at = wire::begin_len(buf);
    buf.put_u16(crate::generated::CLASS_BASIC);
    match method {
        DeliveryMethod::Deliver {
            consumer_tag,
            delivery_tag,
            redelivered,
        } => {
            buf.put_u16(60);
            short(buf, consumer_tag);
            buf.put_u64(delivery_tag);
            buf.put_u8(u8::from(redelivered));
            short(buf, exchange);
            short(buf, routing_key);
        }
        DeliveryMethod::GetOk {
            delivery_tag,
            redelivered,
            message_count,
        } => {
            buf.put_u16(71);
            buf.put_u64(delivery_tag);
            buf.put_u8(u8::from(redelivered));
            short(buf, exchange);
            short(buf, routing_key);
            buf.put_u32(message_count);
        }
    }
    wire::patch_len(buf, at);
    buf.put_u8(FRAME_END);
    encode_header_and_body_raw(channel, raw_properties, body, frame_max, buf);
}

/// The header frame (from raw property bytes) and the body frames of a basic-class message.
fn encode_header_and_body_raw(
    channel: u16,
    raw_properties: &[u8],
    body: &[u8],
    frame_max: u32,
    buf: &mut BytesMut,
) {
    put_frame_header(buf, FRAME_HEADER, channel, 12 + raw_properties.len());
    buf.put_u16(crate::generated::CLASS_BASIC);
    buf.put_u16(0);
    buf.put_u64(body.len() as u64);
    buf.put_slice(raw_properties);
    buf.put_u8(FRAME_END);
    encode_body(channel, body, frame_max, buf);
}

/// Appends a heartbeat frame.
pub fn encode_heartbeat(buf: &mut BytesMut) {
    buf.put_slice(&[FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::{BasicPublish, ChannelOpen};
    use crate::strings::ShortStr;

    #[test]
    fn partial_frame_consumes_nothing() {
        let mut out = BytesMut::new();
        encode_method(1, &Method::ChannelOpen(ChannelOpen::default()), &mut out);
        let dec = FrameDecoder::new(4096);
        for cut in 0..out.len() {
            let mut part = BytesMut::from(&out[..cut]);
            assert_eq!(dec.decode(&mut part).unwrap(), None);
            assert_eq!(part.len(), cut);
        }
        let mut whole = out.clone();
        assert!(dec.decode(&mut whole).unwrap().is_some());
        assert!(whole.is_empty());
    }

    #[test]
    fn oversized_frame_is_refused_from_the_header_alone() {
        let mut buf = BytesMut::from(&[1u8, 0, 1, 0, 0, 0x20, 0][..]);
        let err = FrameDecoder::new(4096).decode(&mut buf).unwrap_err();
        assert_eq!(
            err,
            DecodeError::FrameTooLarge {
                size: 8200,
                max: 4096
            }
        );
        assert_eq!(err.reply_code() as u16, 501);
    }

    #[test]
    fn raw_content_encoding_matches_the_decoded_form() {
        let props = crate::BasicProperties {
            content_type: Some(ShortStr::from_static("text/plain")),
            delivery_mode: Some(2),
            ..Default::default()
        };
        let header = ContentHeader::new(7, props);
        let method = Method::BasicPublish(BasicPublish::default());
        let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
        encode_content(3, &method, &header, b"payload", 4096, &mut a);
        encode_content_raw(3, &method, &header.raw_properties, b"payload", 4096, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn borrowed_delivery_encoding_matches_the_generated_methods() {
        use crate::generated::{BasicDeliver, BasicGetOk};
        let raw = ContentHeader::new(0, Default::default()).raw_properties;
        let (ex, rk) = (
            ShortStr::from_static("amq.topic"),
            ShortStr::from_static("a.b"),
        );
        let deliver = Method::BasicDeliver(BasicDeliver {
            consumer_tag: ShortStr::from_static("ctag-1"),
            delivery_tag: 42,
            redelivered: true,
            exchange: ex.clone(),
            routing_key: rk.clone(),
        });
        let get_ok = Method::BasicGetOk(BasicGetOk {
            delivery_tag: 9,
            redelivered: false,
            exchange: ex.clone(),
            routing_key: rk.clone(),
            message_count: 77,
        });
        let cases = [
            (
                deliver,
                DeliveryMethod::Deliver {
                    consumer_tag: b"ctag-1",
                    delivery_tag: 42,
                    redelivered: true,
                },
            ),
            (
                get_ok,
                DeliveryMethod::GetOk {
                    delivery_tag: 9,
                    redelivered: false,
                    message_count: 77,
                },
            ),
        ];
        for (method, borrowed) in cases {
            let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
            encode_content_raw(5, &method, &raw, &[1u8; 300], 128, &mut a);
            let (e, r) = (ex.as_bytes(), rk.as_bytes());
            encode_delivery_raw(5, borrowed, e, r, &raw, &[1u8; 300], 128, &mut b);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn body_is_a_view_of_the_read_buffer() {
        let mut out = BytesMut::new();
        let publish = Method::BasicPublish(BasicPublish {
            routing_key: ShortStr::from_static("q"),
            ..Default::default()
        });
        let header = ContentHeader::new(5, Default::default());
        encode_content(1, &publish, &header, b"hello", 4096, &mut out);
        let dec = FrameDecoder::new(4096);
        let mut buf = out;
        let start = buf.as_ptr() as usize;
        let end = start + buf.len();
        let mut frames = Vec::new();
        while let Some(f) = dec.decode(&mut buf).unwrap() {
            frames.push(f);
        }
        assert_eq!(frames.len(), 3);
        match &frames[2] {
            Frame::Body { payload, .. } => {
                let p = payload.as_ptr() as usize;
                assert!(p >= start && p < end, "body was copied");
                assert_eq!(&payload[..], b"hello");
            }
            other => panic!("expected body, got {other:?}"),
        }
    }
}

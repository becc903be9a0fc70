//! The frame-sets the codec bench measures, shared with the zero-copy test
//! (tests/bench_zero_copy.rs includes this file), so the test checks the very buffers
//! the bench decodes.

#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use warren_codec::frame::encode_content;
use warren_codec::generated::BasicPublish;
use warren_codec::{BasicProperties, ContentHeader, Method, ShortStr};

/// RabbitMQ's default negotiated frame_max.
pub const FRAME_MAX: u32 = 131_072;

/// Frame-sets per read buffer in the decode bench.
pub const SETS_PER_BUFFER: usize = 256;

/// The body sizes measured.
pub const BODY_SIZES: [usize; 2] = [16, 1024];

/// A typical publish: named exchange and routing key, content type, persistent.
pub fn publish() -> Method {
    Method::BasicPublish(BasicPublish {
        ticket: 0,
        exchange: ShortStr::from_static("orders"),
        routing_key: ShortStr::from_static("orders.created.eu"),
        mandatory: false,
        immediate: false,
    })
}

pub fn header(body_len: usize) -> ContentHeader {
    ContentHeader::new(
        body_len as u64,
        BasicProperties {
            content_type: Some(ShortStr::from_static("application/json")),
            delivery_mode: Some(2),
            ..Default::default()
        },
    )
}

pub fn body(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// A server-generated consumer tag, as RabbitMQ makes them.
pub const CONSUMER_TAG: &str = "amq.ctag-Qp3cS4kzVvGd1Z3n0aYf9A";

/// One publish frame-set (method + header + body frames) on channel 1.
pub fn publish_frame_set(body_len: usize) -> BytesMut {
    let mut buf = BytesMut::new();
    encode_content(
        1,
        &publish(),
        &header(body_len),
        &body(body_len),
        FRAME_MAX,
        &mut buf,
    );
    buf
}

/// A read buffer holding `SETS_PER_BUFFER` publish frame-sets back to back.
pub fn publish_stream(body_len: usize) -> BytesMut {
    let one = publish_frame_set(body_len);
    let mut buf = BytesMut::with_capacity(one.len() * SETS_PER_BUFFER);
    for _ in 0..SETS_PER_BUFFER {
        buf.extend_from_slice(&one);
    }
    buf
}

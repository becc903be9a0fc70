//! Companion to benches/codec.rs: decoding the bench's own read buffers (16 B and 1 KiB
//! bodies, 256 publish frame-sets each) copies no payload. Bodies, raw properties and the
//! method's strings must all be views into the one read buffer.

use bytes::Bytes;
use std::ops::Range;
use warren_codec::frame::Frame;
use warren_codec::{FrameDecoder, Method};

#[path = "../benches/fixtures.rs"]
mod fixtures;
use fixtures::*;

fn assert_view(what: &str, view: &Bytes, read_buffer: &Range<usize>) {
    let start = view.as_ptr() as usize;
    assert!(
        read_buffer.contains(&start) && start + view.len() <= read_buffer.end,
        "{what} was copied out of the read buffer"
    );
}

#[test]
fn decoding_the_bench_streams_copies_no_payload() {
    for len in BODY_SIZES {
        let mut buf = publish_stream(len);
        let start = buf.as_ptr() as usize;
        let read_buffer = start..start + buf.len();
        let expected_body = body(len);
        let decoder = FrameDecoder::new(FRAME_MAX);
        let mut sets = 0;
        while !buf.is_empty() {
            match decoder.decode(&mut buf).unwrap().expect("complete frame") {
                Frame::Method {
                    method: Method::BasicPublish(p),
                    ..
                } => {
                    assert_eq!(p.routing_key, "orders.created.eu");
                    assert_view("routing key", p.routing_key.bytes(), &read_buffer);
                    assert_view("exchange", p.exchange.bytes(), &read_buffer);
                }
                other => panic!("expected basic.publish, got {other:?}"),
            }
            match decoder.decode(&mut buf).unwrap().expect("complete frame") {
                Frame::Header { header, .. } => {
                    assert_eq!(header.body_size, len as u64);
                    assert_view("raw properties", &header.raw_properties, &read_buffer);
                    let ct = header.properties.content_type.as_ref().unwrap();
                    assert_view("content type", ct.bytes(), &read_buffer);
                }
                other => panic!("expected a header, got {other:?}"),
            }
            match decoder.decode(&mut buf).unwrap().expect("complete frame") {
                Frame::Body { channel, payload } => {
                    assert_eq!(channel, 1);
                    assert_eq!(payload, expected_body);
                    assert_view("body", &payload, &read_buffer);
                }
                other => panic!("expected a body, got {other:?}"),
            }
            sets += 1;
        }
        assert_eq!(sets, SETS_PER_BUFFER, "{len} B stream");
    }
}

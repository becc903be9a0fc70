//! Codec throughput: decoding and encoding a basic.publish frame-set (method + header + body)
//! with 16 B and 1 KiB bodies, and encoding a basic.deliver frame-set.
//!
//! Decoding: each iteration decodes `SETS_PER_BUFFER` frame-sets from one read buffer (a
//! `BytesMut` clone made in criterion's untimed setup), so the figure per element is one
//! frame-set: three `FrameDecoder::decode` calls, the method and properties parsed, the body a
//! view of the buffer, and the frames dropped again. Encoding appends into a reused `BytesMut`.
//!
//! Run: `cargo bench -p warren-codec --bench codec -- --warm-up-time 1 --measurement-time 3`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use warren_codec::frame::{encode_content, Frame};
use warren_codec::generated::BasicDeliver;
use warren_codec::{FrameDecoder, Method, ShortStr};

mod fixtures;
use fixtures::*;

#[inline(never)]
fn decode_all(decoder: &FrameDecoder, mut buf: bytes::BytesMut) -> bytes::BytesMut {
    for _ in 0..SETS_PER_BUFFER * 3 {
        let frame: Frame = decoder.decode(&mut buf).unwrap().unwrap();
        black_box(frame);
    }
    buf
}

fn decode_publish(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_publish");
    group.throughput(Throughput::Elements(SETS_PER_BUFFER as u64));
    for len in BODY_SIZES {
        let stream = publish_stream(len);
        let decoder = FrameDecoder::new(FRAME_MAX);
        group.bench_function(format!("{len}B"), |b| {
            b.iter_batched(
                || stream.clone(),
                |buf| decode_all(&decoder, buf),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn encode_publish(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode_publish");
    group.throughput(Throughput::Elements(1));
    for len in BODY_SIZES {
        let (method, header, body) = (publish(), header(len), body(len));
        let mut buf = bytes::BytesMut::with_capacity(2 * len + 256);
        group.bench_function(format!("{len}B"), |b| {
            b.iter(|| {
                buf.clear();
                encode_content(1, black_box(&method), &header, &body, FRAME_MAX, &mut buf);
                black_box(buf.len())
            })
        });
    }
    group.finish();
}

fn encode_deliver(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode_deliver");
    group.throughput(Throughput::Elements(1));
    for len in BODY_SIZES {
        // What a broker forwards: the header as decoded from the publish (raw properties
        // reused, not re-encoded) and the body view; the deliver method is built per message
        // from the publish's exchange and routing key (reference-counted views).
        let mut set = publish_frame_set(len);
        let decoder = FrameDecoder::new(FRAME_MAX);
        let Some(Frame::Method {
            method: Method::BasicPublish(publish),
            ..
        }) = decoder.decode(&mut set).unwrap()
        else {
            panic!("expected basic.publish")
        };
        let Some(Frame::Header { header, .. }) = decoder.decode(&mut set).unwrap() else {
            panic!("expected a header frame")
        };
        let Some(Frame::Body { payload, .. }) = decoder.decode(&mut set).unwrap() else {
            panic!("expected a body frame")
        };
        let mut buf = bytes::BytesMut::with_capacity(2 * len + 256);
        let consumer_tag = ShortStr::try_from(String::from(CONSUMER_TAG)).unwrap();
        let mut tag = 0u64;
        group.bench_function(format!("{len}B"), |b| {
            b.iter(|| {
                tag += 1;
                buf.clear();
                let method = Method::BasicDeliver(BasicDeliver {
                    consumer_tag: consumer_tag.clone(),
                    delivery_tag: tag,
                    redelivered: false,
                    exchange: publish.exchange.clone(),
                    routing_key: publish.routing_key.clone(),
                });
                encode_content(2, &method, &header, &payload, FRAME_MAX, &mut buf);
                black_box(buf.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decode_publish, encode_publish, encode_deliver);
criterion_main!(benches);

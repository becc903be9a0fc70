//! Flow control: bounded buffers and TCP back-pressure at both ends of a connection.
//!
//! - A consumer that stops reading gets at most the connection's delivery window; the rest of
//!   the backlog waits in the queue (not in the broker's output buffers), and all of it arrives
//!   once the consumer reads again. (The pika suite runs the same story against RabbitMQ.)
//! - A publisher that never reads what it is sent (here: a basic.return for every publish)
//!   finds its writes blocked once the broker's output backlog passes its high-water mark,
//!   instead of the broker buffering the returns without limit; reading again frees it.

use bytes::{Bytes, BytesMut};
use lapin::options::*;
use lapin::types::FieldTable;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use warren_codec::frame::{self, FrameDecoder};
use warren_codec::generated::{BasicConsume, BasicPublish};
use warren_codec::{ContentHeader, Frame, Method, ShortStr};
use warren_testkit::{broker_with_channel, passive_declare_queue, start_broker, within, RawClient};

/// Reads frames from `rd` until `want` methods matching `counts` have arrived.
async fn count_methods(rd: &mut OwnedReadHalf, want: u64, counts: impl Fn(&Method) -> bool) -> u64 {
    let decoder = FrameDecoder::new(0);
    let mut buf = BytesMut::with_capacity(1 << 20);
    let mut seen = 0;
    while seen < want {
        match decoder.decode(&mut buf).expect("valid frames") {
            Some(Frame::Method { method, .. }) if counts(&method) => seen += 1,
            Some(_) => {}
            None => {
                let n = within("more frames", rd.read_buf(&mut buf)).await.unwrap();
                assert!(n > 0, "connection closed after {seen} of {want}");
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_does_not_read_leaves_its_backlog_in_the_queue() {
    const COUNT: u32 = 4000;
    let (server, _conn, ch) = broker_with_channel().await;
    ch.queue_declare(
        "stalled".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();

    let mut raw = RawClient::with_channel_1(&server).await;
    raw.send_method(
        1,
        Method::BasicConsume(BasicConsume {
            queue: ShortStr::from_static("stalled"),
            no_ack: true,
            ..Default::default()
        }),
    )
    .await;
    let (_, ok) = raw.next_method().await.unwrap();
    assert!(matches!(ok, Method::BasicConsumeOk(_)), "got {ok:?}");
    // From here on the raw consumer reads nothing.

    let body = vec![7u8; 16 * 1024];
    for _ in 0..COUNT {
        ch.basic_publish(
            "".into(),
            "stalled".into(),
            BasicPublishOptions::default(),
            &body,
            Default::default(),
        )
        .await
        .unwrap();
    }
    // No wait needed: the passive declare on the publishing channel is handled after every
    // publish, and a publish is dispatched (into the consumer's window) as it is routed.
    let ready = passive_declare_queue(&ch, "stalled")
        .await
        .unwrap()
        .message_count();
    // The 4 MiB window is 250 of these; the kernel's socket buffers hold some more.
    assert!(
        ready >= COUNT / 2,
        "only {ready} of {COUNT} still queued for a consumer that reads nothing"
    );

    let (mut rd, _wr) = raw.stream.into_split();
    let got = count_methods(&mut rd, u64::from(COUNT), |m| {
        matches!(m, Method::BasicDeliver(_))
    })
    .await;
    assert_eq!(got, u64::from(COUNT));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_does_not_read_meets_tcp_back_pressure() {
    const BODY: usize = 64 * 1024;
    // 256 MiB of returns if the broker never pushed back.
    const LIMIT: u64 = 4096;
    let server = start_broker().await;
    let raw = RawClient::with_channel_1(&server).await;
    // Unroutable and mandatory: every publish comes back as a basic.return with its body.
    let mut one = BytesMut::new();
    frame::encode_content(
        1,
        &Method::BasicPublish(BasicPublish {
            routing_key: ShortStr::from_static("nowhere"),
            mandatory: true,
            ..Default::default()
        }),
        &ContentHeader::new(BODY as u64, Default::default()),
        &vec![1u8; BODY],
        0,
        &mut one,
    );
    let one: Bytes = one.freeze();
    let (mut rd, mut wr) = raw.stream.into_split();
    let sent = Arc::new(AtomicU64::new(0));
    let target = Arc::new(AtomicU64::new(LIMIT));
    let writer = {
        let (sent, target) = (sent.clone(), target.clone());
        tokio::spawn(async move {
            while sent.load(Ordering::SeqCst) < target.load(Ordering::SeqCst) {
                wr.write_all(&one).await.expect("write");
                sent.fetch_add(1, Ordering::SeqCst);
            }
            wr
        })
    };

    // Stalled: no publish completed for a whole second. A real wait by design: what is
    // checked is that progress stops (something that does NOT happen) for that long.
    let mut last = u64::MAX;
    let stalled_at = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = sent.load(Ordering::SeqCst);
        if now == last {
            break now;
        }
        assert!(
            !writer.is_finished(),
            "the broker took all {LIMIT} publishes ({} MiB of returns) without pushing back",
            (LIMIT * BODY as u64) >> 20
        );
        last = now;
    };
    // The broker's 4 MiB high-water mark plus what the kernel buffers in both directions.
    eprintln!(
        "publisher stalled after {stalled_at} publishes ({} MiB)",
        (stalled_at * BODY as u64) >> 20
    );
    assert!(
        stalled_at * (BODY as u64) < 128 << 20,
        "stalled only after {stalled_at} publishes"
    );

    // Reading again lets the publisher go on; every publish gets its return.
    let total = stalled_at + 64;
    target.store(total, Ordering::SeqCst);
    let returns = count_methods(&mut rd, total, |m| matches!(m, Method::BasicReturn(_))).await;
    assert_eq!(returns, total);
    within("the publisher to finish", writer).await.unwrap();
    assert_eq!(sent.load(Ordering::SeqCst), total);
}

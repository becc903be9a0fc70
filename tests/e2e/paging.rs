//! Paging under memory pressure, end to end with lapin over TCP: with a paging threshold far
//! below the broker's memory (and the watermark far above it, so no alarm blocks anyone),
//! transient bodies leave memory for the store's transient area, every message still comes
//! out once and in order, and after a restart no transient message and nothing of the
//! transient area comes back (docs/storage.md, "Paging"). A priority queue pages its stored
//! bodies too, and still delivers highest priority first.

use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};
use warren_server::config::MemoryWatermark;
use warren_server::{Config, Server};
use warren_testkit::{
    consume_no_ack, data_dir, declare_queue_with, eventually, field_table, next, open_channel,
    publish_pipelined, select_confirms, start_broker_in, within,
};

const N: usize = 3000;

fn body(tag: &str, i: usize) -> Vec<u8> {
    let mut b = format!("{tag}-{i:06}-").into_bytes();
    b.resize(1024, b'.');
    b
}

fn id(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.iter().position(|&c| c == b'.').unwrap_or(body.len())])
        .trim_end_matches('-')
        .to_string()
}

async fn under_pressure(dir: &std::path::Path) -> Server {
    let config = Config {
        data_dir: dir.to_path_buf(),
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        memory_high_watermark: MemoryWatermark::Absolute(1 << 40),
        // 1 TiB x 1e-7: about 100 kB, far below any broker's memory.
        memory_paging_ratio: 1e-7,
        ..Config::default()
    };
    Server::start(config).await.expect("broker starts")
}

async fn declare(ch: &Channel, name: &str, durable: bool) {
    let options = QueueDeclareOptions {
        durable,
        ..Default::default()
    };
    declare_queue_with(ch, name, options).await;
}

/// Consumes `n` messages with acks (prefetch 100), requeueing the first delivery of every
/// 500th once; returns the ids in the order they were finally acked.
async fn consume_all(ch: &Channel, queue: &str, n: usize) -> Vec<String> {
    ch.basic_qos(100, BasicQosOptions::default()).await.unwrap();
    let mut consumer = ch
        .basic_consume(
            queue.into(),
            "pager".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < n {
        let d = within("a delivery", consumer.next())
            .await
            .expect("a delivery")
            .expect("no error");
        let i = id(&d.data);
        if !d.redelivered && got.len() % 500 == 499 {
            d.nack(BasicNackOptions {
                requeue: true,
                ..Default::default()
            })
            .await
            .unwrap();
            continue;
        }
        d.ack(BasicAckOptions::default()).await.unwrap();
        got.push(i);
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_bodies_page_out_under_pressure_and_never_come_back_after_a_restart() {
    let (_tmp, dir) = data_dir();
    let server = under_pressure(&dir).await;
    let admin = server.admin();
    let (_conn, ch) = open_channel(&server).await;
    select_confirms(&ch).await;
    declare(&ch, "pg.durable", true).await;
    declare(&ch, "pg.plain", false).await;
    let transient: Vec<Vec<u8>> = (0..N).map(|i| body("t", i)).collect();
    let persistent: Vec<Vec<u8>> = (0..100).map(|i| body("p", i)).collect();
    let props = BasicProperties::default();
    publish_pipelined(&ch, "", "pg.plain", &transient, props.clone()).await;
    publish_pipelined(&ch, "", "pg.durable", &transient, props.clone()).await;
    let durable = props.with_delivery_mode(2);
    publish_pipelined(&ch, "", "pg.durable", &persistent, durable).await;

    for queue in ["pg.plain", "pg.durable"] {
        eventually("transient bodies paged out", || async {
            admin.queue("/", queue).unwrap().memory.paged_out as usize >= N - 300
        })
        .await;
    }
    let info = admin.queue("/", "pg.plain").unwrap();
    assert_eq!(info.messages_ready as usize, N);
    assert_eq!(info.memory.ready_bytes as usize, N * 1024);
    assert_eq!(info.memory.bytes_paged_out, info.memory.paged_out * 1024);
    let store = admin
        .stored_queue("/", "pg.durable")
        .unwrap()
        .expect("a durable queue")
        .store;
    assert!(store.debug_transient_len().unwrap() >= 2 * (N - 300));

    // A requeued message goes back to its place, the head: the order stays.
    let got = consume_all(&ch, "pg.plain", N).await;
    let expected: Vec<String> = (0..N).map(|i| id(&body("t", i))).collect();
    assert_eq!(got, expected);

    // The durable queue still has its transient messages paged out: after the restart they
    // are gone, and so is the transient area; the persistent ones come back.
    drop((ch, store, admin));
    server.shutdown().await;
    let server = start_broker_in(&dir).await;
    let admin = server.admin();
    assert!(admin.queue("/", "pg.plain").is_err(), "a non-durable queue");
    let info = admin.queue("/", "pg.durable").unwrap();
    assert_eq!(info.messages_ready, 100, "only the persistent messages");
    let store = admin
        .stored_queue("/", "pg.durable")
        .unwrap()
        .unwrap()
        .store;
    assert_eq!(store.debug_transient_len().unwrap(), 0);
    let (_conn, ch) = open_channel(&server).await;
    let got = consume_all(&ch, "pg.durable", 100).await;
    let expected: Vec<String> = (0..100).map(|i| id(&body("p", i))).collect();
    assert_eq!(got, expected);
    drop((ch, store, admin));
    server.shutdown().await;
}

/// Transient and persistent messages interleaved in one durable queue, far more than it keeps
/// in memory: their entries leave memory (the queue's cold run, docs/storage.md) and come back
/// merged from the stored index and the transient area in publish order, requeues included.
/// After a restart only the persistent ones are left, recovered as a cold run, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_transient_and_persistent_entries_leave_memory_and_come_back_in_order() {
    const M: usize = 12_000;
    const TAKEN: usize = 3_000;
    let (_tmp, dir) = data_dir();
    let server = under_pressure(&dir).await;
    let admin = server.admin();
    let (conn, ch) = open_channel(&server).await;
    select_confirms(&ch).await;
    declare(&ch, "pg.mixed", true).await;
    let kind = |i: usize| {
        if (i / 100).is_multiple_of(2) {
            "t"
        } else {
            "p"
        }
    };
    let all: Vec<Vec<u8>> = (0..M).map(|i| body(kind(i), i)).collect();
    for (n, chunk) in all.chunks(100).enumerate() {
        let props = BasicProperties::default();
        let props = if n % 2 == 1 {
            props.with_delivery_mode(2)
        } else {
            props
        };
        publish_pipelined(&ch, "", "pg.mixed", chunk, props).await;
    }
    eventually("most entries leave memory", || async {
        admin.queue_entries_in_memory("/", "pg.mixed").unwrap() < M / 4
    })
    .await;
    assert_eq!(
        admin.queue("/", "pg.mixed").unwrap().messages_ready as usize,
        M
    );

    let got = consume_all(&ch, "pg.mixed", TAKEN).await;
    let expected: Vec<String> = all[..TAKEN].iter().map(|b| id(b)).collect();
    assert_eq!(got, expected);
    drop(conn);
    drop(admin);
    server.shutdown().await;

    let server = start_broker_in(&dir).await;
    let admin = server.admin();
    let persistent: Vec<String> = (TAKEN..M)
        .filter(|&i| kind(i) == "p")
        .map(|i| id(&all[i]))
        .collect();
    let info = admin.queue("/", "pg.mixed").unwrap();
    assert_eq!(info.messages_ready as usize, persistent.len());
    assert!(admin.queue_entries_in_memory("/", "pg.mixed").unwrap() <= 256);
    let (_conn, ch) = open_channel(&server).await;
    let got = consume_all(&ch, "pg.mixed", persistent.len()).await;
    assert_eq!(got, persistent);
    drop(admin);
    server.shutdown().await;
}

/// Priority queues under pressure: messages of three priorities, published interleaved in
/// chunks, have their bodies paged out band by band (persistent ones in a durable queue to the
/// store, transient ones in a plain queue to the transient area) and read back by seq, and
/// come out highest priority first and in publish order within a priority, requeues included.
/// After a restart (which reads every stored message once for its priority) the durable
/// queue's bodies are paged out again and the rest comes out the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_queues_page_their_bodies_and_keep_priority_order() {
    const P: usize = 6_000;
    const TAKEN: usize = 2_000;
    let (_tmp, dir) = data_dir();
    let server = under_pressure(&dir).await;
    let admin = server.admin();
    let (conn, ch) = open_channel(&server).await;
    select_confirms(&ch).await;
    for (queue, durable) in [("pg.prio", true), ("pg.prio.t", false)] {
        let options = QueueDeclareOptions {
            durable,
            ..Default::default()
        };
        let arguments = field_table(&[("x-max-priority", AMQPValue::ShortShortUInt(5))]);
        ch.queue_declare(queue.into(), options, arguments)
            .await
            .unwrap();
    }
    let priority = |i: usize| [0u8, 3, 5][(i / 100) % 3];
    let all: Vec<Vec<u8>> = (0..P)
        .map(|i| body(&format!("p{}", priority(i)), i))
        .collect();
    for (n, chunk) in all.chunks(100).enumerate() {
        let props = BasicProperties::default().with_priority(priority(n * 100));
        publish_pipelined(&ch, "", "pg.prio.t", chunk, props.clone()).await;
        publish_pipelined(&ch, "", "pg.prio", chunk, props.with_delivery_mode(2)).await;
    }
    for queue in ["pg.prio", "pg.prio.t"] {
        // Each band may keep up to a head window (256) of bodies that were near the head when
        // paging passed them (docs/storage.md, "Priority queues page too").
        eventually("bodies paged out", || async {
            admin.queue("/", queue).unwrap().memory.paged_out as usize >= P - 3 * 256
        })
        .await;
        let info = admin.queue("/", queue).unwrap();
        assert_eq!(info.messages_ready as usize, P);
        assert_eq!(info.memory.ready_bytes as usize, P * 1024);
        assert_eq!(info.memory.bytes_paged_out, info.memory.paged_out * 1024);
    }

    // Highest priority first; stable within a priority.
    let mut by_priority: Vec<usize> = (0..P).collect();
    by_priority.sort_by_key(|&i| std::cmp::Reverse(priority(i)));
    let expected: Vec<String> = by_priority.iter().map(|&i| id(&all[i])).collect();
    // consume_all's consumer stays: another channel for the other queue.
    let ch_t = conn.create_channel().await.unwrap();
    let got = consume_all(&ch_t, "pg.prio.t", P).await;
    assert_eq!(got, expected);
    let got = consume_all(&ch, "pg.prio", TAKEN).await;
    assert_eq!(got, expected[..TAKEN]);
    drop((conn, admin));
    server.shutdown().await;

    let server = under_pressure(&dir).await;
    let admin = server.admin();
    let left = P - TAKEN;
    let info = admin.queue("/", "pg.prio").unwrap();
    assert_eq!(info.messages_ready as usize, left);
    assert_eq!(info.memory.ready_bytes as usize, left * 1024);
    assert_eq!(info.memory.paged_out as usize, left, "recovered paged out");
    let (_conn, ch) = open_channel(&server).await;
    let got = consume_all(&ch, "pg.prio", left).await;
    assert_eq!(got, expected[TAKEN..]);
    let info = admin.queue("/", "pg.prio").unwrap();
    assert_eq!((info.messages_ready, info.memory.paged_out), (0, 0));
    drop(admin);
    server.shutdown().await;
}

/// Delivered, unacknowledged persistent messages page out too (RabbitMQ's classic queues page
/// pending acks): a consumer without a prefetch limit takes them all and acks none, their
/// bodies leave memory (transient ones stay: nothing on disk to read back), and they come back
/// whole when rejected to a dead-letter queue, when nacked with requeue, and when the channel
/// closes; the byte counters stay exact throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_persistent_bodies_page_out_and_come_back_when_settled() {
    const U: usize = 600;
    const TRANSIENT: usize = 50;
    let (_tmp, dir) = data_dir();
    let server = under_pressure(&dir).await;
    let admin = server.admin();
    let (conn, ch) = open_channel(&server).await;
    select_confirms(&ch).await;
    declare(&ch, "pa.dead", true).await;
    let options = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let arguments = field_table(&[
        ("x-dead-letter-exchange", AMQPValue::LongString("".into())),
        (
            "x-dead-letter-routing-key",
            AMQPValue::LongString("pa.dead".into()),
        ),
    ]);
    ch.queue_declare("pa.work".into(), options, arguments)
        .await
        .unwrap();
    let persistent: Vec<Vec<u8>> = (0..U).map(|i| body("u", i)).collect();
    let transient: Vec<Vec<u8>> = (0..TRANSIENT).map(|i| body("v", i)).collect();
    let props = BasicProperties::default();
    publish_pipelined(
        &ch,
        "",
        "pa.work",
        &persistent,
        props.clone().with_delivery_mode(2),
    )
    .await;
    publish_pipelined(&ch, "", "pa.work", &transient, props).await;
    let all: Vec<&Vec<u8>> = persistent.iter().chain(&transient).collect();

    // No prefetch limit, no acks: everything is delivered and held.
    let taker = conn.create_channel().await.unwrap();
    let mut consumer = taker
        .basic_consume(
            "pa.work".into(),
            "taker".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut held = Vec::new();
    while held.len() < all.len() {
        let d = within("a delivery", consumer.next())
            .await
            .expect("a delivery")
            .expect("no error");
        assert_eq!(&d.data, all[held.len()], "delivered in publish order");
        held.push(d);
    }
    eventually("unacked persistent bodies paged out", || async {
        admin.queue("/", "pa.work").unwrap().memory.unacked_ram as usize == TRANSIENT
    })
    .await;
    let info = admin.queue("/", "pa.work").unwrap();
    assert_eq!(info.messages_unacknowledged as usize, U + TRANSIENT);
    assert_eq!(info.memory.unacked_bytes as usize, (U + TRANSIENT) * 1024);
    assert_eq!(info.memory.unacked_bytes_ram as usize, TRANSIENT * 1024);

    // Rejected without requeue: read back for the dead-letter queue, whole and in order.
    let mut held = held.into_iter();
    for d in held.by_ref().take(100) {
        d.reject(BasicRejectOptions { requeue: false })
            .await
            .unwrap();
    }
    let reader = conn.create_channel().await.unwrap();
    let mut letters = consume_no_ack(&reader, "pa.dead", "reader").await;
    let mut dead = Vec::new();
    while dead.len() < 100 {
        dead.push(next(&mut letters).await.data);
    }
    assert_eq!(dead, persistent[..100]);

    // Nacked with requeue (the next 200), then the channel closes (the rest): all back in
    // their places, paged out, and read back whole.
    for d in held.by_ref().take(200) {
        d.nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await
        .unwrap();
    }
    taker.close(200, "bye".into()).await.unwrap();
    eventually("every held message requeued", || async {
        let info = admin.queue("/", "pa.work").unwrap();
        info.messages_unacknowledged == 0 && info.messages_ready as usize == all.len() - 100
    })
    .await;
    let info = admin.queue("/", "pa.work").unwrap();
    assert_eq!(info.memory.ready_bytes as usize, (all.len() - 100) * 1024);
    // Nothing read them back yet (no consumer): the persistent ones are all paged out.
    assert_eq!(info.memory.paged_out as usize, U - 100);
    assert_eq!(info.memory.bytes_paged_out, info.memory.paged_out * 1024);
    let got = consume_all(&ch, "pa.work", all.len() - 100).await;
    let expected: Vec<String> = all[100..].iter().map(|b| id(b)).collect();
    assert_eq!(got, expected);
    let info = admin.queue("/", "pa.work").unwrap();
    assert_eq!(
        (
            info.messages_ready,
            info.memory.paged_out,
            info.memory.bytes_paged_out
        ),
        (0, 0, 0)
    );
    drop((conn, admin));
    server.shutdown().await;
}

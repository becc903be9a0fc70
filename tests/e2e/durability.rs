//! Durability across a clean restart, driven by lapin over TCP: a broker is started on a data
//! dir, used, shut down, and a new broker is started on the same dir. Asserts exactly what is
//! and is not there afterwards, as a RabbitMQ user expects: durable exchanges, queues and their
//! bindings and the persistent messages in them survive; transient ones do not. The crash
//! (kill -9) test with the real binary is `crates/warren/tests/process/kill9.rs`.

use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, ExchangeKind};
use warren_server::Server;
use warren_testkit::{
    bind, close_connection, consume_no_ack, consume_tagged, data_dir, declare_queue_with,
    exchange_exists, open_channel, publish_pipelined, queue_exists, select_confirms,
    start_broker_in, within,
};

fn persistent() -> BasicProperties {
    BasicProperties::default().with_delivery_mode(2)
}

async fn queue(ch: &Channel, name: &str, durable: bool) {
    let options = QueueDeclareOptions {
        durable,
        ..Default::default()
    };
    declare_queue_with(ch, name, options).await;
}

/// Every message left in `queue`, taken with basic.get and acked: (body, redelivered).
async fn drain(ch: &Channel, queue: &str) -> Vec<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    while let Some(m) = within(
        "basic.get",
        ch.basic_get(queue.into(), BasicGetOptions::default()),
    )
    .await
    .expect("basic.get")
    {
        out.push((m.delivery.data.clone(), m.delivery.redelivered));
        m.delivery
            .ack(BasicAckOptions::default())
            .await
            .expect("ack");
    }
    out
}

fn bodies(prefix: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{prefix}-{i}").into_bytes())
        .collect()
}

async fn restart(server: Server, dir: &std::path::Path) -> Server {
    server.shutdown().await;
    start_broker_in(dir).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_topology_and_persistent_messages_survive_a_restart() {
    let (_tmp, dir) = data_dir();
    let server = start_broker_in(&dir).await;
    let (conn, ch) = open_channel(&server).await;
    for (name, durable) in [("orders.x", true), ("scratch.x", false)] {
        ch.exchange_declare(
            name.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    }
    queue(&ch, "payments", true).await;
    queue(&ch, "scratch", false).await;
    ch.queue_declare(
        "mine".into(),
        QueueDeclareOptions {
            durable: true,
            exclusive: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    for q in ["payments", "scratch"] {
        bind(&ch, q, "orders.x", "order.*", FieldTable::default()).await;
    }
    select_confirms(&ch).await;
    // Interleaved persistent and transient messages through the durable exchange.
    for i in 0..10 {
        let props = if i % 2 == 0 {
            persistent()
        } else {
            BasicProperties::default()
        };
        publish_pipelined(
            &ch,
            "orders.x",
            "order.placed",
            &[format!("m{i}").into_bytes()],
            props,
        )
        .await;
    }
    close_connection(&conn).await;

    let server = restart(server, &dir).await;
    let (conn, ch) = open_channel(&server).await;
    assert!(exchange_exists(&conn, "orders.x").await);
    assert!(!exchange_exists(&conn, "scratch.x").await);
    assert!(queue_exists(&conn, "payments").await);
    assert!(!queue_exists(&conn, "scratch").await);
    assert!(
        !queue_exists(&conn, "mine").await,
        "exclusive queues never survive"
    );
    let got: Vec<Vec<u8>> = drain(&ch, "payments")
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    let want: Vec<Vec<u8>> = (0..10)
        .step_by(2)
        .map(|i| format!("m{i}").into_bytes())
        .collect();
    assert_eq!(got, want, "only the persistent messages, in order");
    // The binding came back: a new publish through the durable exchange reaches the queue.
    select_confirms(&ch).await;
    publish_pipelined(
        &ch,
        "orders.x",
        "order.paid",
        &[b"after".to_vec()],
        persistent(),
    )
    .await;
    assert_eq!(
        drain(&ch, "payments").await,
        vec![(b"after".to_vec(), false)]
    );
    close_connection(&conn).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_messages_are_gone_and_unacked_ones_come_back_redelivered() {
    let (_tmp, dir) = data_dir();
    let server = start_broker_in(&dir).await;
    let (conn, ch) = open_channel(&server).await;
    queue(&ch, "work", true).await;
    select_confirms(&ch).await;
    publish_pipelined(&ch, "", "work", &bodies("job", 5), persistent()).await;
    // job-0 and job-1 acked; job-2 delivered but never acked.
    for _ in 0..2 {
        let m = ch
            .basic_get("work".into(), BasicGetOptions::default())
            .await
            .unwrap()
            .expect("get-ok");
        m.delivery.ack(BasicAckOptions::default()).await.unwrap();
    }
    let m = ch
        .basic_get("work".into(), BasicGetOptions::default())
        .await
        .unwrap()
        .expect("get-ok");
    assert_eq!(m.delivery.data, b"job-2");
    assert!(!m.delivery.redelivered);
    drop(m);
    drop(conn);

    let server = restart(server, &dir).await;
    let (conn, ch) = open_channel(&server).await;
    let got = drain(&ch, "work").await;
    assert_eq!(
        got,
        vec![
            (b"job-2".to_vec(), true),
            (b"job-3".to_vec(), false),
            (b"job-4".to_vec(), false),
        ]
    );
    close_connection(&conn).await;

    // Drained and acked: nothing comes back after another restart.
    let server = restart(server, &dir).await;
    let (conn, ch) = open_channel(&server).await;
    assert!(drain(&ch, "work").await.is_empty());
    close_connection(&conn).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_in_two_queues_lives_until_both_are_done_with_it() {
    let (_tmp, dir) = data_dir();
    let server = start_broker_in(&dir).await;
    let (conn, ch) = open_channel(&server).await;
    ch.exchange_declare(
        "order.placed".into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    for q in ["inventory", "email"] {
        queue(&ch, q, true).await;
        bind(&ch, q, "order.placed", "", FieldTable::default()).await;
    }
    select_confirms(&ch).await;
    publish_pipelined(&ch, "order.placed", "", &bodies("order", 3), persistent()).await;
    assert_eq!(drain(&ch, "inventory").await.len(), 3);
    close_connection(&conn).await;

    let server = restart(server, &dir).await;
    let (conn, ch) = open_channel(&server).await;
    assert!(drain(&ch, "inventory").await.is_empty());
    let email: Vec<Vec<u8>> = drain(&ch, "email").await.into_iter().map(|m| m.0).collect();
    assert_eq!(email, bodies("order", 3));
    close_connection(&conn).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_and_purged_queues_stay_that_way() {
    let (_tmp, dir) = data_dir();
    let server = start_broker_in(&dir).await;
    let (conn, ch) = open_channel(&server).await;
    for q in ["purged", "deleted"] {
        queue(&ch, q, true).await;
    }
    select_confirms(&ch).await;
    publish_pipelined(&ch, "", "purged", &bodies("p", 4), persistent()).await;
    publish_pipelined(&ch, "", "deleted", &bodies("d", 4), persistent()).await;
    assert_eq!(
        ch.queue_purge("purged".into(), QueuePurgeOptions::default())
            .await
            .unwrap(),
        4
    );
    ch.queue_delete("deleted".into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    // A later message in the purged queue survives.
    publish_pipelined(&ch, "", "purged", &[b"later".to_vec()], persistent()).await;
    close_connection(&conn).await;

    let server = restart(server, &dir).await;
    let (conn, ch) = open_channel(&server).await;
    assert!(!queue_exists(&conn, "deleted").await);
    assert_eq!(drain(&ch, "purged").await, vec![(b"later".to_vec(), false)]);
    close_connection(&conn).await;
    server.shutdown().await;
}

/// More messages than a queue keeps in memory: most bodies are paged out to the store and
/// read back in order, before and after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_larger_than_the_memory_budget_is_paged_and_delivered_in_order() {
    const N: usize = 12_000;
    let (_tmp, dir) = data_dir();
    let server = start_broker_in(&dir).await;
    let (conn, ch) = open_channel(&server).await;
    queue(&ch, "backlog", true).await;
    select_confirms(&ch).await;
    let all: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            let mut b = format!("msg-{i:06}-").into_bytes();
            b.resize(1024, b'x');
            b
        })
        .collect();
    for chunk in all.chunks(1000) {
        publish_pipelined(&ch, "", "backlog", chunk, persistent()).await;
    }
    // The queue holds every message, but only a bounded number of bodies in memory.
    let (ready, in_memory) = server.admin().queue_memory("/", "backlog").unwrap();
    assert_eq!(ready, N);
    assert!(
        in_memory <= 4096 + 1000,
        "{in_memory} of {N} bodies in memory: paging did not happen"
    );
    // Most entries left memory too (the queue's cold run).
    let entries = server
        .admin()
        .queue_entries_in_memory("/", "backlog")
        .unwrap();
    assert!(entries < N / 2, "{entries} of {N} entries in memory");
    // Take the first half with a consumer (acks in batches), in order.
    ch.basic_qos(500, BasicQosOptions::default()).await.unwrap();
    let mut consumer = consume_tagged(&ch, "backlog", "c").await;
    for (i, want) in all.iter().enumerate().take(N / 2) {
        let d = within("a delivery", consumer.next())
            .await
            .expect("stream open")
            .expect("delivery");
        assert_eq!(&d.data, want, "message {i}");
        if i % 100 == 99 {
            d.ack(BasicAckOptions { multiple: true }).await.unwrap();
        }
    }
    close_connection(&conn).await;

    let server = restart(server, &dir).await;
    // Recovered as a cold run: one page of entries in memory.
    let (ready, _) = server.admin().queue_memory("/", "backlog").unwrap();
    assert_eq!(ready, N / 2);
    let entries = server
        .admin()
        .queue_entries_in_memory("/", "backlog")
        .unwrap();
    assert!(entries <= 256, "{entries} recovered entries in memory");
    let (conn, ch) = open_channel(&server).await;
    let rest: Vec<Vec<u8>> = drain(&ch, "backlog")
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(rest.len(), N / 2);
    assert!(rest == all[N / 2..], "the second half, in order");
    close_connection(&conn).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_store_stops_the_start_with_an_error_naming_the_data_dir() {
    let (_tmp, dir) = data_dir();
    let server = start_broker_in(&dir).await;
    let (conn, ch) = open_channel(&server).await;
    queue(&ch, "q", true).await;
    close_connection(&conn).await;
    server.shutdown().await;
    std::fs::write(dir.join("CURRENT"), b"garbage\n").unwrap();
    let config = warren_server::Config {
        data_dir: dir.clone(),
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        ..Default::default()
    };
    let err = match Server::start(config).await {
        Ok(_) => panic!("a broker started over a corrupt store"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&dir.display().to_string()),
        "error names the data dir: {err}"
    );
}

/// Flow control engaged on (almost) every read: a publisher without confirms that outruns the
/// store is paused, resumed, and every message still arrives, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_control_pauses_publishers_behind_the_store_and_loses_nothing() {
    const N: usize = 5_000;
    let config = warren_server::Config {
        store_pending_max: 1,
        ..Default::default()
    };
    let server = warren_testkit::start_broker_with(config).await;
    let (conn, ch) = open_channel(&server).await;
    queue(&ch, "flow", true).await;
    let body = vec![b'f'; 2048];
    for i in 0..N {
        let mut b = body.clone();
        b[..8].copy_from_slice(format!("{i:08}").as_bytes());
        ch.basic_publish(
            "".into(),
            "flow".into(),
            BasicPublishOptions::default(),
            &b,
            persistent(),
        )
        .await
        .unwrap();
    }
    let mut consumer = consume_no_ack(&ch, "flow", "c").await;
    for i in 0..N {
        let d = within("a delivery", consumer.next())
            .await
            .expect("stream open")
            .expect("delivery");
        assert_eq!(&d.data[..8], format!("{i:08}").as_bytes());
    }
    assert!(
        server.admin().overview().await.flow_pauses > 0,
        "the publisher was never paused: the test did not exercise flow control"
    );
    close_connection(&conn).await;
}

/// A confirm means "on disk": with every fsync taking 30 ms, each basic.ack must arrive only
/// once its message is in the store's index and a sync has covered it. (A broker confirming at
/// enqueue time would ack before the write lands and fail here; kill -9 alone cannot tell,
/// since a killed process's writes survive in the page cache.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirms_are_sent_only_after_the_synced_write() {
    let mut config = warren_server::Config::default();
    config.store_options.simulated_sync_delay = std::time::Duration::from_millis(30);
    let server = warren_testkit::start_broker_with(config).await;
    let (conn, ch) = open_channel(&server).await;
    queue(&ch, "synced", true).await;
    select_confirms(&ch).await;
    let stored = server
        .admin()
        .stored_queue("/", "synced")
        .unwrap()
        .expect("a durable queue is stored");
    let store = stored.store.clone();
    for i in 0..20usize {
        let syncs_before = store.stats().syncs;
        let confirm = ch
            .basic_publish(
                "".into(),
                "synced".into(),
                BasicPublishOptions::default(),
                format!("m{i}").as_bytes(),
                persistent(),
            )
            .await
            .unwrap();
        let confirmation = within("a confirm", confirm).await.unwrap();
        assert!(matches!(confirmation, Confirmation::Ack(_)));
        let in_store = store.read_index(stored.id, None, usize::MAX).unwrap().len();
        assert_eq!(
            in_store,
            i + 1,
            "message {i} confirmed before it was written"
        );
        assert!(
            store.stats().syncs > syncs_before,
            "message {i} confirmed without a sync after its publish"
        );
    }
    close_connection(&conn).await;
}

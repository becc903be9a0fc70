//! The metrics endpoint over real HTTP against an in-process broker driven by lapin: after a
//! known workload every counter and gauge reads what the workload did, in RabbitMQ's names;
//! per-object and detailed scrapes carry one series per queue; label values are escaped; and
//! an aggregated scrape stays cheap with 10,000 queues.

use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Confirmation};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use warren_testkit::*;

/// A plain HTTP/1.1 GET: status line and body.
async fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// Series (name and labels, as written) to value.
fn samples(body: &str) -> HashMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_string(), value.parse().unwrap())
        })
        .collect()
}

fn value(s: &HashMap<String, f64>, series: &str) -> f64 {
    *s.get(series)
        .unwrap_or_else(|| panic!("no series {series} in the scrape"))
}

const CLASSIC: &str = "{protocol=\"amqp091\",queue_type=\"rabbit_classic_queue\"}";
const AMQP: &str = "{protocol=\"amqp091\"}";

#[tokio::test]
async fn a_known_workload_reads_back_in_rabbitmqs_families() {
    let server = start_broker().await;
    let stop = CancellationToken::new();
    let addr =
        warren_prometheus::serve(server.admin(), "127.0.0.1:0".parse().unwrap(), stop.clone())
            .await
            .unwrap();
    let conn = connect(&server).await;
    let confirming = confirm_channel(&conn).await;
    let plain = conn.create_channel().await.unwrap();
    let q = unique("metrics");
    declare_queue(&plain, &q).await;
    // N = 10 confirmed publishes, U = 3 dropped and 2 returned unroutable ones.
    for i in 0..10 {
        publish(&confirming, "", &q, format!("m{i}").as_bytes()).await;
    }
    for _ in 0..3 {
        publish(&plain, "amq.direct", "nowhere", b"u").await;
    }
    for _ in 0..2 {
        let c = publish_mandatory(
            &confirming,
            "amq.direct",
            "nowhere",
            b"r",
            BasicProperties::default(),
        )
        .await;
        assert!(matches!(c, Confirmation::Ack(Some(_))), "{c:?}");
    }
    // M = 6 taken with manual ack: K = 4 acked, 2 rejected back (to be redelivered).
    let mut taken = Vec::new();
    for _ in 0..6 {
        taken.push(get_one(&plain, &q, false).await);
    }
    for m in &taken[..4] {
        m.delivery.ack(BasicAckOptions::default()).await.unwrap();
    }
    for m in &taken[4..] {
        m.delivery
            .reject(BasicRejectOptions { requeue: true })
            .await
            .unwrap();
    }
    // One more by basic.get with auto-ack, the last five by an auto-ack consumer.
    get_one(&plain, &q, true).await;
    let mut consumer = plain
        .basic_consume(
            q.as_str().into(),
            "c".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    for _ in 0..5 {
        within("a delivery", consumer.next())
            .await
            .unwrap()
            .unwrap();
    }
    assert!(
        get(&plain, &q, false).await.is_none(),
        "the queue is drained"
    );

    let (status, body) = within("a scrape", get_metrics(addr, "/metrics")).await;
    assert!(status.contains("200"), "{status}");
    let s = samples(&body);
    let expected = [
        (
            format!("rabbitmq_global_messages_received_total{AMQP}"),
            15.0,
        ),
        (
            format!("rabbitmq_global_messages_received_confirm_total{AMQP}"),
            12.0,
        ),
        (
            format!("rabbitmq_global_messages_confirmed_total{AMQP}"),
            12.0,
        ),
        (format!("rabbitmq_global_messages_routed_total{AMQP}"), 10.0),
        (
            format!("rabbitmq_global_messages_unroutable_dropped_total{AMQP}"),
            3.0,
        ),
        (
            format!("rabbitmq_global_messages_unroutable_returned_total{AMQP}"),
            2.0,
        ),
        (
            format!("rabbitmq_global_messages_delivered_get_manual_ack_total{CLASSIC}"),
            6.0,
        ),
        (
            format!("rabbitmq_global_messages_delivered_get_auto_ack_total{CLASSIC}"),
            1.0,
        ),
        (
            format!("rabbitmq_global_messages_delivered_consume_auto_ack_total{CLASSIC}"),
            5.0,
        ),
        (
            format!("rabbitmq_global_messages_delivered_consume_manual_ack_total{CLASSIC}"),
            0.0,
        ),
        (
            format!("rabbitmq_global_messages_delivered_total{CLASSIC}"),
            12.0,
        ),
        (
            format!("rabbitmq_global_messages_redelivered_total{CLASSIC}"),
            2.0,
        ),
        (
            format!("rabbitmq_global_messages_acknowledged_total{CLASSIC}"),
            4.0,
        ),
        (
            format!("rabbitmq_global_messages_get_empty_total{CLASSIC}"),
            1.0,
        ),
        (format!("rabbitmq_global_publishers{AMQP}"), 2.0),
        (format!("rabbitmq_global_consumers{AMQP}"), 1.0),
        ("rabbitmq_connections".into(), 1.0),
        ("rabbitmq_channels".into(), 2.0),
        ("rabbitmq_queues".into(), 1.0),
        ("rabbitmq_consumers".into(), 1.0),
        ("rabbitmq_queue_messages_ready".into(), 0.0),
        ("rabbitmq_queue_messages_unacked".into(), 0.0),
        ("rabbitmq_queue_messages".into(), 0.0),
        ("rabbitmq_queue_messages_published_total".into(), 10.0),
        ("rabbitmq_queues_declared_total".into(), 1.0),
        ("rabbitmq_queues_created_total".into(), 1.0),
        ("rabbitmq_queues_deleted_total".into(), 0.0),
        ("rabbitmq_connections_opened_total".into(), 1.0),
        ("rabbitmq_channels_opened_total".into(), 2.0),
        ("rabbitmq_alarms_memory_used_watermark".into(), 0.0),
    ];
    for (series, want) in &expected {
        assert_eq!(value(&s, series), *want, "{series}");
    }
    assert!(value(&s, "rabbitmq_process_resident_memory_bytes") > 0.0);
    assert!(value(&s, "rabbitmq_process_open_fds") > 0.0);
    assert!(
        !body.contains(&format!("queue=\"{q}\"")),
        "aggregated has no per-queue series"
    );
    assert!(body.contains("# TYPE rabbitmq_global_messages_received counter"));
    assert!(body.contains("# HELP rabbitmq_queues Queues available"));
    assert!(body.ends_with("# EOF\n"));

    // Per object: the same queue's series, with RabbitMQ's labels.
    let (_, body) = get_metrics(addr, "/metrics/per-object").await;
    let s = samples(&body);
    let labels = format!("{{vhost=\"/\",queue=\"{q}\"}}");
    assert_eq!(value(&s, &format!("rabbitmq_queue_consumers{labels}")), 1.0);
    assert_eq!(
        value(
            &s,
            &format!("rabbitmq_queue_messages_published_total{labels}")
        ),
        10.0
    );
    assert_eq!(
        value(&s, &format!("rabbitmq_queue_messages_ready{labels}")),
        0.0
    );

    // Detailed: only the families asked for, of the vhost asked for.
    let path = "/metrics/detailed?family=queue_coarse_metrics&vhost=%2F";
    let (_, body) = get_metrics(addr, path).await;
    let s = samples(&body);
    assert_eq!(
        value(&s, &format!("rabbitmq_detailed_queue_messages{labels}")),
        0.0
    );
    assert!(
        !body.contains("rabbitmq_detailed_queue_consumers"),
        "{body}"
    );
    let (_, body) = get_metrics(
        addr,
        "/metrics/detailed?family=queue_coarse_metrics&vhost=other",
    )
    .await;
    assert!(
        !body.contains("rabbitmq_detailed_queue_messages{"),
        "{body}"
    );
    assert!(body.contains("rabbitmq_identity_info{"), "{body}");
    close_connection(&conn).await;
    stop.cancel();
}

async fn get_metrics(addr: SocketAddr, path: &str) -> (String, String) {
    http_get(addr, path).await
}

#[tokio::test]
async fn queue_names_are_escaped_in_label_values() {
    let server = start_broker().await;
    let admin = server.admin();
    let name = "R\"quote\\slash";
    admin
        .declare_queue("/", name, false, false, &Default::default())
        .unwrap();
    let body = warren_prometheus::render_per_object(&admin);
    assert!(
        body.contains("rabbitmq_queue_messages{vhost=\"/\",queue=\"R\\\"quote\\\\slash\"} 0"),
        "{body}"
    );
}

/// 10,000 queues: the aggregated scrape walks them for their depths but writes no series per
/// queue; per object writes five series for each. Timings are printed for docs/benchmarks.md.
#[tokio::test]
async fn an_aggregated_scrape_stays_fast_with_10000_queues() {
    let server = start_broker().await;
    let admin = server.admin();
    for i in 0..10_000 {
        admin
            .declare_queue("/", &format!("q{i:05}"), false, false, &Default::default())
            .unwrap();
    }
    let time = |f: &dyn Fn() -> String| {
        let start = Instant::now();
        let mut len = 0;
        for _ in 0..5 {
            len = f().len();
        }
        (start.elapsed() / 5, len)
    };
    let (aggregated, agg_len) = time(&|| warren_prometheus::render_aggregated(&admin));
    let (per_object, obj_len) = time(&|| warren_prometheus::render_per_object(&admin));
    eprintln!(
        "10000 queues: /metrics {aggregated:?} ({agg_len} bytes), /metrics/per-object \
         {per_object:?} ({obj_len} bytes)"
    );
    assert!(
        agg_len < 20_000,
        "aggregated output grew with the queues: {agg_len} bytes"
    );
    assert!(obj_len > 10_000 * 5 * 20);
    assert!(
        aggregated.as_millis() < 250,
        "an aggregated scrape took {aggregated:?}"
    );
}

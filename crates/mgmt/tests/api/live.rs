//! Connections, channels and consumers over HTTP with a real lapin client on the broker:
//! RabbitMQ's names (`PEER -> LOCAL`, `NAME (N)`), and DELETE closing with `X-Reason`.

use crate::Api;
use hyper::StatusCode;
use lapin::options::{BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use serde_json::json;
use std::time::Duration;

/// `%`-encodes a name for a path segment (names hold spaces, `>` and `:`).
fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn connections_channels_consumers_and_forced_close() {
    let api = Api::start().await;
    let (conn, ch) = warren_testkit::open_channel(&api.server).await;
    ch.queue_declare(
        "q1".into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.basic_qos(7, BasicQosOptions::default()).await.unwrap();
    let _consumer =
        warren_testkit::consume_with(&ch, "q1", "t1", BasicConsumeOptions::default()).await;
    let list = api.get("connections").await.json;
    let c = &list[0];
    let name = c["name"].as_str().unwrap().to_string();
    let port = api.server.local_addr().port();
    assert_eq!(
        name,
        format!("127.0.0.1:{} -> 127.0.0.1:{port}", c["peer_port"])
    );
    assert_eq!(
        (c["user"].clone(), c["channels"].clone()),
        (json!("guest"), json!(1))
    );
    assert_eq!(
        api.get(&format!("connections/{}", segment(&name)))
            .await
            .json["name"],
        name
    );
    assert_eq!(
        api.get("vhosts/%2F/connections")
            .await
            .json
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let chans = api
        .get(&format!("connections/{}/channels", segment(&name)))
        .await
        .json;
    let channel = format!("{name} (1)");
    assert_eq!(
        (
            chans[0]["name"].clone(),
            chans[0]["prefetch_count"].clone(),
            chans[0]["consumer_count"].clone()
        ),
        (json!(channel), json!(7), json!(1))
    );
    assert_eq!(
        api.get(&format!("channels/{}", segment(&channel)))
            .await
            .json["number"],
        1
    );
    let consumers = api.get("consumers/%2F").await.json;
    assert_eq!(
        (
            consumers[0]["consumer_tag"].clone(),
            consumers[0]["queue"].clone()
        ),
        (json!("t1"), json!({"name": "q1", "vhost": "/"}))
    );
    let closed = api.close_with_reason(&segment(&name), "bye now").await;
    assert_eq!(closed, StatusCode::NO_CONTENT);
    for _ in 0..50 {
        if api.get("connections").await.json == json!([]) && !conn.status().connected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(api.get("connections").await.json, json!([]));
    assert!(!conn.status().connected(), "the client saw no close");
    assert_eq!(
        api.get(&format!("connections/{}", segment(&name)))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    api.stop().await;
}

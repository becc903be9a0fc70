//! Exchanges, queues, messages and bindings over HTTP, as RabbitMQ 3.10.8 answers them
//! (interop/tests/test_management_topology.py checks the same against both brokers).

use crate::Api;
use hyper::StatusCode;
use serde_json::json;

#[tokio::test]
async fn exchanges_declare_redeclare_and_delete() {
    let api = Api::start().await;
    let put = |body: &'static str| api.call("PUT", "exchanges/%2F/x1", Some(body));
    assert_eq!(
        put(r#"{"type":"direct","durable":true}"#).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        put(r#"{"type":"direct","durable":true}"#).await.status,
        StatusCode::NO_CONTENT
    );
    let clash = put(r#"{"type":"fanout","durable":true}"#).await;
    assert_eq!(
        clash.error(),
        ("bad_request".into(), json!("inequivalent arg 'type' for exchange 'x1' in vhost '/': received 'fanout' but current is 'direct'"))
    );
    let x = api.get("exchanges/%2F/x1").await.json;
    assert_eq!(
        (x["type"].clone(), x["durable"].clone()),
        (json!("direct"), json!(true))
    );
    assert_eq!(api.get("exchanges/%2F/amq.default").await.json["name"], "");
    let refused = api.call("DELETE", "exchanges/%2F/amq.direct", None).await;
    assert_eq!(
        refused.error(),
        ("not_authorised".into(), json!("Access refused."))
    );
    assert_eq!(
        api.call("DELETE", "exchanges/%2F/x1", None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get("exchanges/%2F/x1").await.status,
        StatusCode::NOT_FOUND
    );
    api.stop().await;
}

#[tokio::test]
async fn queues_publish_get_purge_and_delete() {
    let api = Api::start().await;
    let made = api
        .call(
            "PUT",
            "queues/%2F/q1",
            Some(r#"{"arguments":{"x-max-length":10}}"#),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let publish = r#"{"routing_key":"q1","payload":"hello","payload_encoding":"string","properties":{"headers":{"a":1}}}"#;
    let routed = api
        .call("POST", "exchanges/%2F/amq.default/publish", Some(publish))
        .await;
    assert_eq!(routed.json, json!({"routed": true}));
    let q = api.get("queues/%2F/q1").await.json;
    assert_eq!(
        (q["messages"].clone(), q["arguments"].clone()),
        (json!(1), json!({"x-max-length": 10}))
    );
    let get = r#"{"count":2,"ackmode":"ack_requeue_true","encoding":"base64","truncate":2}"#;
    let got = api.call("POST", "queues/%2F/q1/get", Some(get)).await.json;
    assert_eq!(
        got,
        json!([{"payload_bytes": 5, "redelivered": false, "exchange": "", "routing_key": "q1",
            "message_count": 0, "properties": {"headers": {"a": 1}}, "payload": "aGU=",
            "payload_encoding": "base64"}])
    );
    let not_empty = api
        .call("DELETE", "queues/%2F/q1?if-empty=true", None)
        .await;
    assert_eq!(
        not_empty.error(),
        (
            "bad_request".into(),
            json!("queue 'q1' in vhost '/' not empty")
        )
    );
    assert_eq!(
        api.call("DELETE", "queues/%2F/q1/contents", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(api.get("queues/%2F/q1").await.json["messages"], 0);
    assert_eq!(
        api.call("DELETE", "queues/%2F/q1?if-empty=true", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(api.get("queues/%2F/q1").await.status, StatusCode::NOT_FOUND);
    api.stop().await;
}

#[tokio::test]
async fn bindings_carry_rabbitmqs_properties_keys() {
    let api = Api::start().await;
    api.call("PUT", "exchanges/%2F/x1", Some(r#"{"type":"direct"}"#))
        .await;
    api.call("PUT", "queues/%2F/q1", Some("{}")).await;
    let bind = |body: &'static str| api.call("POST", "bindings/%2F/e/x1/q/q1", Some(body));
    let with_args = bind(r#"{"routing_key":"k1","arguments":{"x-a":"b","n":1}}"#).await;
    assert_eq!(with_args.status, StatusCode::CREATED);
    assert_eq!(with_args.headers["location"], "q1/k1~IDmrlw");
    assert_eq!(
        bind(r#"{"routing_key":"a b"}"#).await.headers["location"],
        "q1/a%2Bb"
    );
    let one = api.get("bindings/%2F/e/x1/q/q1/k1~IDmrlw").await.json;
    assert_eq!(one["arguments"], json!({"n": 1, "x-a": "b"}));
    let keys: Vec<_> = api
        .get("queues/%2F/q1/bindings")
        .await
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["properties_key"].clone())
        .collect();
    assert_eq!(keys, vec![json!("q1"), json!("a+b"), json!("k1~IDmrlw")]);
    let gone = api
        .call("DELETE", "bindings/%2F/e/x1/q/q1/k1~IDmrlw", None)
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("bindings/%2F/e/x1/q/q1/k1~IDmrlw").await.status,
        StatusCode::NOT_FOUND
    );
    let missing = bind_missing(&api).await;
    assert_eq!(
        missing,
        (
            StatusCode::NOT_FOUND,
            json!({"error": "not_found", "reason": "no queue 'nope' in vhost '/'"})
        )
    );
    api.stop().await;
}

async fn bind_missing(api: &Api) -> (StatusCode, serde_json::Value) {
    let a = api
        .call("POST", "bindings/%2F/e/x1/q/nope", Some("{}"))
        .await;
    (a.status, a.json)
}

#[tokio::test]
async fn a_management_user_is_held_to_its_amqp_permissions() {
    let api = Api::start().await;
    api.call(
        "PUT",
        "users/u1",
        Some(r#"{"password":"pw","tags":"management"}"#),
    )
    .await;
    let perms = r#"{"configure":"^ok","write":"^ok","read":"^ok"}"#;
    api.call("PUT", "permissions/%2F/u1", Some(perms)).await;
    api.call("PUT", "queues/%2F/other", Some("{}")).await;
    let as_u1 = |method: &'static str, path: &'static str, body: Option<&'static str>| {
        api.call_as(Some(("u1", "pw")), method, path, body)
    };
    let refused = ("not_authorised".to_string(), json!("Access refused."));
    assert_eq!(
        as_u1("PUT", "queues/%2F/nope", Some("{}")).await.error(),
        refused
    );
    assert_eq!(
        as_u1("DELETE", "queues/%2F/other", None).await.error(),
        refused
    );
    let get = r#"{"count":1,"ackmode":"ack_requeue_true","encoding":"auto"}"#;
    assert_eq!(
        as_u1("POST", "queues/%2F/other/get", Some(get))
            .await
            .error()
            .1,
        json!("ACCESS_REFUSED - access to queue 'other' in vhost '/' refused for user 'u1'")
    );
    assert_eq!(
        as_u1("PUT", "queues/%2F/ok1", Some("{}")).await.status,
        StatusCode::CREATED
    );
    api.stop().await;
}

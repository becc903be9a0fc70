//! What `warren ctl` and rabbitmqadmin need of the API (issue 16, CLI): Warren's memory
//! watermark extension, `get` with a count given as text, and a created vhost's permissions
//! for its creator.

use crate::Api;
use hyper::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

const WATERMARK: &str = "warren/vm-memory-high-watermark";

/// The local-alarms check's status once it is `want` (the alarm check runs every second).
async fn alarms_become(api: &Api, want: StatusCode) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = api.get("health/checks/local-alarms").await.status;
        if status == want {
            return;
        }
        assert!(Instant::now() < deadline, "local-alarms stayed {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_watermark_extension_sets_and_lifts_the_memory_alarm() {
    let api = Api::start().await;
    let put = |body: &'static str| api.call("PUT", WATERMARK, Some(body));
    assert_eq!(
        put(r#"{"relative": 0}"#).await.status,
        StatusCode::NO_CONTENT
    );
    alarms_become(&api, StatusCode::SERVICE_UNAVAILABLE).await;
    let huge = r#"{"absolute": 1099511627776}"#;
    assert_eq!(put(huge).await.status, StatusCode::NO_CONTENT);
    alarms_become(&api, StatusCode::OK).await;
    assert_eq!(
        put(r#"{"relative": 0.4}"#).await.status,
        StatusCode::NO_CONTENT
    );
    for bad in [
        "{}",
        r#"{"relative": 1.5}"#,
        r#"{"relative": "0.5"}"#,
        r#"{"absolute": -1}"#,
        r#"{"relative": 0.5, "absolute": 1}"#,
    ] {
        let a = put(bad).await;
        assert_eq!(
            (a.status, a.error().0.as_str()),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{bad}"
        );
    }
    assert_eq!(
        put("{nope").await.error(),
        ("bad_request".into(), json!("not_json"))
    );
    // Administrators only.
    let user = json!({"password": "pw", "tags": "monitoring"}).to_string();
    api.call("PUT", "users/cli-mon", Some(&user)).await;
    let a = api
        .call_as(
            Some(("cli-mon", "pw")),
            "PUT",
            WATERMARK,
            Some(r#"{"relative": 0}"#),
        )
        .await;
    assert_eq!(
        a.error(),
        ("not_authorised".into(), json!("Not administrator user"))
    );
    alarms_become(&api, StatusCode::OK).await;
    api.stop().await;
}

#[tokio::test]
async fn get_takes_count_and_truncate_as_text_as_rabbitmqadmin_sends_them() {
    let api = Api::start().await;
    api.call("PUT", "queues/%2F/cli-q", Some("{}")).await;
    let publish =
        r#"{"properties":{},"routing_key":"cli-q","payload":"hello","payload_encoding":"string"}"#;
    for _ in 0..3 {
        api.call("POST", "exchanges/%2F/amq.default/publish", Some(publish))
            .await;
    }
    let get = r#"{"count":"2","ackmode":"ack_requeue_false","encoding":"auto","truncate":"2"}"#;
    let a = api.call("POST", "queues/%2F/cli-q/get", Some(get)).await;
    let got = a.json.as_array().unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(
        (&got[0]["payload"], &got[0]["payload_bytes"]),
        (&json!("he"), &json!(5))
    );
    let bad = r#"{"count":"two","ackmode":"ack_requeue_false","encoding":"auto"}"#;
    let a = api.call("POST", "queues/%2F/cli-q/get", Some(bad)).await;
    assert_eq!(
        a.error(),
        ("bad_request".into(), json!(["not_integer", "two"]))
    );
    api.stop().await;
}

#[tokio::test]
async fn a_vhost_created_over_the_api_gives_its_creator_every_permission() {
    let api = Api::start().await;
    assert_eq!(
        api.call("PUT", "vhosts/cli-vh", Some("{}")).await.status,
        StatusCode::CREATED
    );
    let perms = api.get("vhosts/cli-vh/permissions").await.json;
    assert_eq!(
        perms,
        json!([{"user": "guest", "vhost": "cli-vh", "configure": ".*", "write": ".*", "read": ".*"}])
    );
    // Updating it grants nothing again.
    api.call("DELETE", "permissions/cli-vh/guest", None).await;
    assert_eq!(
        api.call("PUT", "vhosts/cli-vh", Some("{}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(api.get("vhosts/cli-vh/permissions").await.json, json!([]));
    api.stop().await;
}

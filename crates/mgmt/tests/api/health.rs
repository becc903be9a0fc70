//! Health checks, the aliveness test, overview and nodes.

use crate::Api;
use hyper::StatusCode;
use serde_json::json;

#[tokio::test]
async fn health_checks_answer_as_rabbitmq() {
    let api = Api::start().await;
    for path in [
        "health/checks/alarms",
        "health/checks/local-alarms",
        "health/checks/virtual-hosts",
    ] {
        let a = api.get(path).await;
        assert_eq!(
            (a.status, a.json),
            (StatusCode::OK, json!({"status": "ok"})),
            "{path}"
        );
    }
    let q = api.get("health/checks/node-is-quorum-critical").await;
    assert_eq!(q.json["status"], "ok");
    let port = api.server.local_addr().port();
    let ok = api
        .get(&format!("health/checks/port-listener/{port}"))
        .await;
    assert_eq!(ok.json, json!({"status": "ok", "port": port}));
    let missing = api.get("health/checks/port-listener/1").await;
    assert_eq!(missing.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(missing.json["reason"], "No active listener");
    assert!(missing.json["ports"]
        .as_array()
        .unwrap()
        .contains(&json!(port)));
    let bad = api.get("health/checks/port-listener/abc").await;
    assert_eq!(bad.error(), ("bad_request".into(), json!("Invalid port")));
    assert_eq!(
        api.get("aliveness-test/%2F").await.json,
        json!({"status": "ok"})
    );
    assert_eq!(
        api.get("aliveness-test/nope").await.status,
        StatusCode::NOT_FOUND
    );
    api.stop().await;
}

#[tokio::test]
async fn overview_and_nodes_describe_one_node() {
    let api = Api::start().await;
    let o = api.get("overview").await.json;
    for key in [
        "management_version",
        "rabbitmq_version",
        "node",
        "object_totals",
        "queue_totals",
        "listeners",
        "message_stats",
    ] {
        assert!(o.get(key).is_some(), "overview has {key}");
    }
    assert!(o["node"].as_str().unwrap().starts_with("warren@"));
    let nodes = api.get("nodes").await.json;
    assert_eq!(nodes.as_array().unwrap().len(), 1);
    assert_eq!(nodes[0]["name"], o["node"]);
    let name = o["node"].as_str().unwrap();
    assert_eq!(
        api.get(&format!("nodes/{name}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.get("nodes/rabbit@elsewhere").await.status,
        StatusCode::NOT_FOUND
    );
    let unknown = api.get("no-such-endpoint").await;
    assert_eq!(
        unknown.error(),
        ("Object Not Found".into(), json!("Not Found"))
    );
    api.stop().await;
}

//! Policies and operator policies: the endpoints (status codes, RabbitMQ's validation texts,
//! tag rules), what a policy does to a queue and an exchange as the API shows it, and the
//! `policies` section of definitions.

use crate::Api;
use hyper::StatusCode;
use serde_json::json;

const MAX3: &str = r#"{"pattern":"^q","definition":{"max-length":3}}"#;

#[tokio::test]
async fn policies_are_set_listed_read_and_cleared() {
    let api = Api::start().await;
    let put = |path: &'static str, body: &'static str| api.call("PUT", path, Some(body));
    assert_eq!(
        put("policies/%2F/p", MAX3).await.status,
        StatusCode::CREATED
    );
    let again =
        r#"{"pattern":"^q","priority":2.5,"apply-to":"queues","definition":{"max-length":4}}"#;
    assert_eq!(
        put("policies/%2F/p", again).await.status,
        StatusCode::NO_CONTENT
    );
    let want = json!({"vhost": "/", "name": "p", "pattern": "^q", "apply-to": "queues",
        "definition": {"max-length": 4}, "priority": 2.5});
    assert_eq!(api.get("policies/%2F/p").await.json, want);
    assert_eq!(api.get("policies").await.json, json!([want]));
    assert_eq!(api.get("policies/%2F").await.json, json!([want]));
    assert_eq!(api.get("operator-policies").await.json, json!([]));
    assert_eq!(api.get("policies/nope").await.status, StatusCode::NOT_FOUND);
    let no_vhost = put("policies/nope/p", MAX3).await;
    assert_eq!(
        no_vhost.error(),
        ("not_found".into(), json!("vhost_not_found"))
    );
    assert_eq!(
        api.call("DELETE", "policies/%2F/p", None).await.status,
        StatusCode::NO_CONTENT
    );
    let gone = api.call("DELETE", "policies/%2F/p", None).await;
    assert_eq!(
        gone.error(),
        ("Object Not Found".into(), json!("Not Found"))
    );
    api.stop().await;
}

#[tokio::test]
async fn bad_policies_get_rabbitmqs_texts() {
    let api = Api::start().await;
    let shared = &api;
    let reason = |path: &'static str, body: &'static str| async move {
        let a = shared.call("PUT", path, Some(body)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        a.error().1
    };
    assert_eq!(
        reason(
            "policies/%2F/p",
            r#"{"pattern":"^q","definition":{"max-length":"x"}}"#
        )
        .await,
        json!("Validation failed\n\n&lt;&lt;\"x\"&gt;&gt; is not a valid maximum length\n")
    );
    assert_eq!(
        reason("policies/%2F/p", r#"{"pattern":"^q","apply-to":"bogus","definition":{"max-length":1}}"#).await,
        json!("Validation failed\n\napply-to 'bogus' unrecognised; should be 'queues', 'exchanges' or 'all'\n")
    );
    assert_eq!(
        reason("policies/%2F/p", r#"{"definition":{"max-length":1}}"#).await,
        json!("[{key_missing,pattern}]")
    );
    // The operator policy endpoint does not escape, as RabbitMQ's does not.
    assert_eq!(
        reason("operator-policies/%2F/o", r#"{"pattern":"^q","definition":{"overflow":"reject-publish"}}"#).await,
        json!("Validation failed\n\n[{<<\"overflow\">>,<<\"reject-publish\">>}] are not recognised policy settings\n")
    );
    assert_eq!(api.get("policies").await.json, json!([]));
    api.stop().await;
}

#[tokio::test]
async fn policymakers_manage_policies_and_only_administrators_operator_policies() {
    let api = Api::start().await;
    for (user, tags) in [("pm", "policymaker"), ("mg", "management")] {
        let body = format!(r#"{{"password":"pw","tags":"{tags}"}}"#);
        api.call("PUT", &format!("users/{user}"), Some(&body)).await;
        let all = r#"{"configure":".*","write":".*","read":".*"}"#;
        api.call("PUT", &format!("permissions/%2F/{user}"), Some(all))
            .await;
    }
    let as_user = |user: &'static str, method: &'static str, path: &'static str, body| {
        api.call_as(Some((user, "pw")), method, path, body)
    };
    assert_eq!(
        as_user("pm", "PUT", "policies/%2F/p", Some(MAX3))
            .await
            .status,
        StatusCode::CREATED
    );
    let op = as_user("pm", "PUT", "operator-policies/%2F/o", Some(MAX3)).await;
    assert_eq!(
        op.error(),
        ("not_authorised".into(), json!("Not administrator user"))
    );
    let mg = as_user("mg", "PUT", "policies/%2F/p2", Some(MAX3)).await;
    assert_eq!(
        mg.error(),
        (
            "not_authorised".into(),
            json!("User not authorised to access object")
        )
    );
    // Any management user lists the policies of the vhosts it sees, but may not read one.
    let listed = as_user("mg", "GET", "policies", None).await.json;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let one = as_user("mg", "GET", "policies/%2F/p", None).await;
    assert_eq!(one.error().1, json!("User not authorised to access object"));
    assert_eq!(
        as_user("pm", "GET", "policies", None)
            .await
            .json
            .as_array()
            .unwrap()
            .len(),
        1
    );
    api.stop().await;
}

#[tokio::test]
async fn a_policy_shows_on_queues_and_exchanges_and_trims_an_existing_queue() {
    let api = Api::start().await;
    api.call(
        "PUT",
        "queues/%2F/q1",
        Some(r#"{"durable":false,"arguments":{"x-max-length":10}}"#),
    )
    .await;
    api.call("PUT", "exchanges/%2F/qx", Some(r#"{"type":"fanout"}"#))
        .await;
    for i in 0..5 {
        let body = format!(
            r#"{{"properties":{{}},"routing_key":"q1","payload":"{i}","payload_encoding":"string"}}"#
        );
        api.call("POST", "exchanges/%2F/amq.default/publish", Some(&body))
            .await;
    }
    let q = api.get("queues/%2F/q1").await.json;
    assert_eq!(
        (q["policy"].clone(), q["operator_policy"].clone()),
        (json!(null), json!(null))
    );
    assert_eq!(q["effective_policy_definition"], json!({}));
    api.call(
        "PUT",
        "policies/%2F/p",
        Some(r#"{"pattern":"^q","definition":{"max-length":4,"message-ttl":9000}}"#),
    )
    .await;
    api.call(
        "PUT",
        "operator-policies/%2F/o",
        Some(r#"{"pattern":"^q1$","definition":{"max-length":2}}"#),
    )
    .await;
    let q = api.get("queues/%2F/q1").await.json;
    assert_eq!(
        (q["policy"].clone(), q["operator_policy"].clone()),
        (json!("p"), json!("o"))
    );
    assert_eq!(
        q["effective_policy_definition"],
        json!({"max-length": 2, "message-ttl": 9000})
    );
    assert_eq!(q["arguments"], json!({"x-max-length": 10}));
    assert_eq!(q["messages_ready"], json!(2));
    let x = api.get("exchanges/%2F/qx").await.json;
    assert_eq!(x["policy"], json!("p"));
    assert!(api
        .get("exchanges/%2F/amq.direct")
        .await
        .json
        .get("policy")
        .is_none());
    api.call("DELETE", "policies/%2F/p", None).await;
    assert!(api
        .get("exchanges/%2F/qx")
        .await
        .json
        .get("policy")
        .is_none());
    api.stop().await;
}

#[tokio::test]
async fn definitions_carry_policies_both_ways() {
    let api = Api::start().await;
    api.call("PUT", "policies/%2F/p", Some(MAX3)).await;
    let defs = api.get("definitions").await.json;
    let want = json!([{"vhost": "/", "name": "p", "pattern": "^q", "apply-to": "all",
        "definition": {"max-length": 3}, "priority": 0}]);
    assert_eq!(defs["policies"], want);
    assert_eq!(api.get("definitions/%2F").await.json["policies"], want);
    let file = r#"{"policies":[{"name":"imp","pattern":"^i","apply-to":"all","definition":{"expires":1000},"priority":1}]}"#;
    assert_eq!(
        api.call("POST", "definitions/%2F", Some(file)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get("policies/%2F/imp").await.json["definition"],
        json!({"expires": 1000})
    );
    let bad = r#"{"policies":[{"vhost":"/","name":"bad","pattern":"^i","definition":{"max-length":-7}}]}"#;
    let refused = api.call("POST", "definitions", Some(bad)).await;
    assert_eq!(
        refused.error().1,
        json!("Validation failed\n\n-7 is not a valid maximum length\n (//bad)")
    );
    assert_eq!(
        api.get("policies/%2F/bad").await.status,
        StatusCode::NOT_FOUND
    );
    api.stop().await;
}

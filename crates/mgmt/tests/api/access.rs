//! Vhosts, users, permissions, topic permissions, limits and definitions.

use crate::Api;
use hyper::StatusCode;
use serde_json::json;

#[tokio::test]
async fn vhosts_are_created_updated_listed_and_deleted() {
    let api = Api::start().await;
    let put = |body| api.call("PUT", "vhosts/v1", Some(body));
    assert_eq!(
        put(r#"{"description":"d","tags":"a,b"}"#).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        put(r#"{"description":"d2"}"#).await.status,
        StatusCode::NO_CONTENT
    );
    let v = api.get("vhosts/v1").await.json;
    assert_eq!(
        (v["description"].clone(), v["tags"].clone()),
        (json!("d2"), json!([]))
    );
    assert_eq!(v["metadata"], json!({"description": "d2", "tags": []}));
    assert_eq!(api.get("vhosts").await.json.as_array().unwrap().len(), 2);
    assert_eq!(
        api.call("DELETE", "vhosts/v1", None).await.status,
        StatusCode::NO_CONTENT
    );
    let gone = api.call("DELETE", "vhosts/v1", None).await;
    assert_eq!(
        gone.error(),
        ("Object Not Found".into(), json!("Not Found"))
    );
    let bad = api.call("PUT", "vhosts/v2", Some("{bad")).await;
    assert_eq!(
        (bad.status, bad.error().1),
        (StatusCode::BAD_REQUEST, json!("not_json"))
    );
    api.stop().await;
}

#[tokio::test]
async fn users_take_passwords_or_hashes_and_tags() {
    let api = Api::start().await;
    let put = |body: &'static str| api.call("PUT", "users/u1", Some(body));
    assert_eq!(
        put(r#"{"password":"pw","tags":"management"}"#).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        api.call_as(Some(("u1", "pw")), "GET", "whoami", None)
            .await
            .status,
        StatusCode::OK
    );
    let retag = put(r#"{"password":"pw","tags":["monitoring"]}"#).await;
    assert_eq!(retag.status, StatusCode::NO_CONTENT);
    let me = api.call_as(Some(("u1", "pw")), "GET", "whoami", None).await;
    assert_eq!(me.json["tags"], json!(["monitoring"]));
    // Tags alone take the password away, as RabbitMQ's new random one does.
    assert_eq!(
        put(r#"{"tags":"monitoring"}"#).await.status,
        StatusCode::NO_CONTENT
    );
    let old = api.call_as(Some(("u1", "pw")), "GET", "whoami", None).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    put(r#"{"password":"pw","tags":"monitoring"}"#).await;
    assert_eq!(put("{}").await.error().1, json!("tags_not_present"));
    assert_eq!(
        put(r#"{"password":"a","password_hash":"b","tags":""}"#)
            .await
            .error()
            .1,
        json!("both_password_and_password_hash_are_provided")
    );
    assert_eq!(
        put(r#"{"password_hash":"zzz","tags":""}"#).await.error().1,
        json!(["not_base64", "zzz"])
    );
    let u = api.get("users/u1").await.json;
    assert_eq!(u["hashing_algorithm"], "rabbit_password_hashing_sha256");
    assert_eq!(u["limits"], json!({}));
    // The hash moves a user to another name with the same password.
    let body = json!({"password_hash": u["password_hash"], "hashing_algorithm": u["hashing_algorithm"], "tags": "management"});
    assert_eq!(
        api.call("PUT", "users/u2", Some(&body.to_string()))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        api.call_as(Some(("u2", "pw")), "GET", "whoami", None)
            .await
            .status,
        StatusCode::OK
    );
    let without = api.get("users/without-permissions").await.json;
    let names: Vec<_> = without
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].clone())
        .collect();
    assert_eq!(names, [json!("u1"), json!("u2")]);
    let bulk = api
        .call(
            "POST",
            "users/bulk-delete",
            Some(r#"{"users":["u1","nobody"]}"#),
        )
        .await;
    assert_eq!(bulk.error().1, json!(["no_such_user", "nobody"]));
    assert_eq!(api.get("users/u1").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.call("DELETE", "users/u2", None).await.status,
        StatusCode::NO_CONTENT
    );
    api.stop().await;
}

#[tokio::test]
async fn permissions_and_topic_permissions_round_trip() {
    let api = Api::start().await;
    api.call("PUT", "users/u", Some(r#"{"password":"pw","tags":""}"#))
        .await;
    let all = r#"{"configure":".*","write":".*","read":"^r"}"#;
    assert_eq!(
        api.call("PUT", "permissions/%2F/u", Some(all)).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        api.call("PUT", "permissions/%2F/u", Some(all)).await.status,
        StatusCode::NO_CONTENT
    );
    let p = api.get("permissions/%2F/u").await.json;
    assert_eq!(
        p,
        json!({"user": "u", "vhost": "/", "configure": ".*", "write": ".*", "read": "^r"})
    );
    assert_eq!(api.get("users/u/permissions").await.json, json!([p]));
    assert_eq!(
        api.get("vhosts/%2F/permissions")
            .await
            .json
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let missing = api
        .call("PUT", "permissions/%2F/u", Some(r#"{"configure":".*"}"#))
        .await;
    assert_eq!(
        missing.error().1,
        json!("[{key_missing,write},{key_missing,read}]")
    );
    let nobody = api.call("PUT", "permissions/nope/u", Some(all)).await;
    assert_eq!(
        (nobody.status, nobody.error().1),
        (StatusCode::BAD_REQUEST, json!("vhost_or_user_not_found"))
    );
    assert_eq!(
        api.call("DELETE", "permissions/%2F/u", None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.call("DELETE", "permissions/%2F/u", None).await.status,
        StatusCode::NOT_FOUND
    );
    let topic = r#"{"exchange":"amq.topic","write":"^a","read":".*"}"#;
    assert_eq!(
        api.call("PUT", "topic-permissions/%2F/u", Some(topic))
            .await
            .status,
        StatusCode::CREATED
    );
    let t = api.get("topic-permissions/%2F/u").await.json;
    assert_eq!(
        t,
        json!([{"user": "u", "vhost": "/", "exchange": "amq.topic", "write": "^a", "read": ".*"}])
    );
    let no_x = api
        .call(
            "PUT",
            "topic-permissions/%2F/u",
            Some(r#"{"write":"","read":""}"#),
        )
        .await;
    assert_eq!(no_x.error().1, json!("[{key_missing,exchange}]"));
    assert_eq!(
        api.call("DELETE", "topic-permissions/%2F/u", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get("topic-permissions/%2F/u").await.status,
        StatusCode::NOT_FOUND
    );
    api.stop().await;
}

#[tokio::test]
async fn vhost_and_user_limits_are_set_listed_and_cleared() {
    let api = Api::start().await;
    let put = api
        .call("PUT", "vhost-limits/%2F/max-queues", Some(r#"{"value":5}"#))
        .await;
    assert_eq!(put.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("vhost-limits").await.json,
        json!([{"vhost": "/", "value": {"max-queues": 5}}])
    );
    let bad = api
        .call("PUT", "vhost-limits/%2F/bogus", Some(r#"{"value":5}"#))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let none = api
        .call(
            "PUT",
            "vhost-limits/nope/max-queues",
            Some(r#"{"value":5}"#),
        )
        .await;
    assert_eq!(
        (none.status, none.error()),
        (
            StatusCode::NOT_FOUND,
            ("not_found".into(), json!("vhost_not_found"))
        )
    );
    assert_eq!(
        api.call("DELETE", "vhost-limits/%2F/max-queues", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(api.get("vhost-limits/%2F").await.json, json!([]));
    let put = api
        .call(
            "PUT",
            "user-limits/guest/max-channels",
            Some(r#"{"value":3}"#),
        )
        .await;
    assert_eq!(put.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("user-limits/guest").await.json,
        json!([{"user": "guest", "value": {"max-channels": 3}}])
    );
    let nobody = api
        .call(
            "PUT",
            "user-limits/nobody/max-channels",
            Some(r#"{"value":3}"#),
        )
        .await;
    assert_eq!(nobody.error().1, json!(["no_such_user", "nobody"]));
    api.stop().await;
}

#[tokio::test]
async fn definitions_export_and_import_the_access_sections() {
    let api = Api::start().await;
    let defs = api.get("definitions").await.json;
    for key in [
        "rabbit_version",
        "users",
        "vhosts",
        "permissions",
        "topic_permissions",
        "parameters",
        "global_parameters",
        "policies",
        "queues",
        "exchanges",
        "bindings",
    ] {
        assert!(defs.get(key).is_some(), "definitions have {key}");
    }
    let import = json!({"users": [{"name": "d1", "password": "pw", "tags": "management"}],
                        "vhosts": [{"name": "dv"}],
                        "permissions": [{"user": "d1", "vhost": "dv", "configure": ".*", "write": ".*", "read": ".*"}]});
    let posted = api
        .call("POST", "definitions", Some(&import.to_string()))
        .await;
    assert_eq!(posted.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get("permissions/dv/d1").await.status, StatusCode::OK);
    // A bad entry changes nothing.
    let bad = json!({"users": [{"name": "d2", "password": "pw", "tags": ""}],
                     "permissions": [{"user": "d2", "vhost": "nope", "configure": "", "write": "", "read": ""}]});
    assert_eq!(
        api.call("POST", "definitions", Some(&bad.to_string()))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(api.get("users/d2").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.call("POST", "definitions", Some("{bad"))
            .await
            .error()
            .1,
        json!("failed_to_parse_json")
    );
    let per_vhost = api.get("definitions/dv").await.json;
    assert!(per_vhost.get("users").is_none() && per_vhost.get("queues").is_some());
    api.stop().await;
}

#[tokio::test]
async fn definitions_import_and_export_the_topology() {
    let api = Api::start().await;
    let doc = json!({
        "vhosts": [{"name": "tv"}],
        "exchanges": [{"name": "x", "vhost": "tv", "type": "topic", "durable": true,
                       "auto_delete": false, "internal": false, "arguments": {}}],
        "queues": [{"name": "q", "vhost": "tv", "durable": true, "auto_delete": false,
                    "arguments": {"x-message-ttl": 1000}}],
        "bindings": [{"source": "x", "vhost": "tv", "destination": "q", "destination_type": "queue",
                      "routing_key": "a.#", "arguments": {}}]});
    let posted = api
        .call("POST", "definitions", Some(&doc.to_string()))
        .await;
    assert_eq!(posted.status, StatusCode::NO_CONTENT);
    let out = api.get("definitions/tv").await.json;
    assert_eq!(
        out["queues"],
        json!([{"name": "q", "durable": true, "auto_delete": false,
                                      "arguments": {"x-message-ttl": 1000}}])
    );
    assert_eq!(out["exchanges"][0]["type"], "topic");
    assert_eq!(
        out["bindings"],
        json!([{"source": "x", "destination": "q", "destination_type": "queue",
                                        "routing_key": "a.#", "arguments": {}}])
    );
    let per_vhost =
        json!({"queues": [{"name": "q2", "durable": true, "auto_delete": false, "arguments": {}}]});
    let posted = api
        .call("POST", "definitions/tv", Some(&per_vhost.to_string()))
        .await;
    assert_eq!(posted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("definitions/tv").await.json["queues"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Checked before anything is applied: the user in front of the bad queue is not made.
    let bad = json!({"users": [{"name": "early", "password": "pw", "tags": ""}],
                     "queues": [{"name": "q3", "vhost": "nope", "durable": true, "auto_delete": false, "arguments": {}}]});
    let refused = api
        .call("POST", "definitions", Some(&bad.to_string()))
        .await;
    assert_eq!(refused.error().1, json!(["no_such_vhost", "nope"]));
    assert_eq!(api.get("users/early").await.status, StatusCode::NOT_FOUND);
    api.stop().await;
}

/// A file exported by RabbitMQ 3.10.8's `GET /api/definitions` (the interop node's users,
/// vhosts, permissions, topic permissions, vhost limits and topology) comes back out of
/// Warren equal, section by section, as sets of entries.
#[tokio::test]
async fn a_rabbitmq_export_imports_and_comes_back_equal() {
    let api = Api::start().await;
    let file = include_str!("rabbitmq-3.10.8-definitions.json");
    assert_eq!(
        api.call("POST", "definitions", Some(file)).await.status,
        StatusCode::NO_CONTENT
    );
    let theirs: serde_json::Value = serde_json::from_str(file).unwrap();
    let ours = api.get("definitions").await.json;
    let set = |v: &serde_json::Value| -> std::collections::BTreeSet<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e.to_string())
            .collect()
    };
    for section in [
        "users",
        "vhosts",
        "permissions",
        "topic_permissions",
        "parameters",
        "queues",
        "exchanges",
        "bindings",
        "policies",
    ] {
        assert_eq!(set(&ours[section]), set(&theirs[section]), "{section}");
    }
    api.stop().await;
}

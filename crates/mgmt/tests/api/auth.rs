//! HTTP Basic login and RabbitMQ's tag rules.

use crate::Api;
use hyper::StatusCode;
use serde_json::json;

#[tokio::test]
async fn missing_or_bad_credentials_are_401_with_the_challenge() {
    let api = Api::start().await;
    let none = api.call_as(None, "GET", "whoami", None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        none.headers["www-authenticate"],
        "Basic realm=\"RabbitMQ Management\""
    );
    let bad = api
        .call_as(Some(("guest", "nope")), "GET", "whoami", None)
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        bad.json,
        json!({"error": "not_authorized", "reason": "Login failed"})
    );
    let ok = api.get("whoami").await;
    assert_eq!(ok.json, json!({"name": "guest", "tags": ["administrator"]}));
    api.stop().await;
}

#[tokio::test]
async fn each_tag_reaches_what_rabbitmq_lets_it() {
    let api = Api::start().await;
    for (user, tags) in [
        ("plain", ""),
        ("mgmt", "management"),
        ("mon", "monitoring"),
        ("pol", "policymaker"),
    ] {
        let body = format!(r#"{{"password":"pw","tags":"{tags}"}}"#);
        assert_eq!(
            api.call("PUT", &format!("users/{user}"), Some(&body))
                .await
                .status,
            StatusCode::CREATED
        );
    }
    let as_user = |u: &'static str, path: &'static str| {
        let api = &api;
        async move { api.call_as(Some((u, "pw")), "GET", path, None).await }
    };
    let plain = as_user("plain", "whoami").await;
    assert_eq!(plain.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        plain.error(),
        ("not_authorised".into(), json!("Not management user"))
    );
    for u in ["mgmt", "mon", "pol"] {
        assert_eq!(as_user(u, "whoami").await.status, StatusCode::OK);
        assert_eq!(as_user(u, "overview").await.status, StatusCode::OK);
        let users = as_user(u, "users").await;
        assert_eq!(
            users.error(),
            ("not_authorised".into(), json!("Not administrator user"))
        );
    }
    assert_eq!(
        as_user("mgmt", "nodes").await.error().1,
        json!("Not monitor user")
    );
    assert_eq!(as_user("mon", "nodes").await.status, StatusCode::OK);
    // Vhosts a management user has no permissions in are not listed; monitors see all.
    assert_eq!(as_user("mgmt", "vhosts").await.json, json!([]));
    assert_eq!(
        as_user("mon", "vhosts")
            .await
            .json
            .as_array()
            .unwrap()
            .len(),
        1
    );
    api.stop().await;
}

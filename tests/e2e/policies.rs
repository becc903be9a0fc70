//! Policies over a restart: a policy and an operator policy set through the admin facade are
//! stored, come back with the broker and still act on the durable queue they match (and on
//! its recovered messages); a cleared one stays cleared; a deleted vhost takes its policies
//! with it; `load_definitions` sets the policies of its file.

use lapin::options::QueueDeclareOptions;
use lapin::BasicProperties;
use serde_json::json;
use warren_server::admin::{Admin, PolicyKind, PolicySpec};
use warren_testkit::{
    data_dir, declare_queue_with, eventually, open_channel, publish_pipelined, ready_count,
    select_confirms, start_broker_in,
};

fn spec(name: &str, definition: serde_json::Value) -> PolicySpec {
    PolicySpec {
        name: name.to_string(),
        pattern: json!("^pol\\."),
        apply_to: Some(json!("queues")),
        priority: Some(json!(1)),
        definition,
    }
}

fn names(admin: &Admin, kind: PolicyKind, vhost: &str) -> Vec<String> {
    let list = admin.policies(kind, Some(vhost)).unwrap();
    list.into_iter().map(|p| p.name).collect()
}

async fn fill(server: &warren_server::Server, queue: &str, n: usize) -> u32 {
    let (_conn, ch) = open_channel(server).await;
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    declare_queue_with(&ch, queue, durable).await;
    select_confirms(&ch).await;
    let bodies: Vec<Vec<u8>> = (0..n).map(|i| vec![b'0' + i as u8]).collect();
    let persistent = BasicProperties::default().with_delivery_mode(2);
    publish_pipelined(&ch, "", queue, &bodies, persistent).await;
    ready_count(&ch, queue).await
}

#[tokio::test]
async fn policies_survive_a_restart_and_keep_acting() {
    let (_tmp, dir) = data_dir();
    let server = start_broker_in(&dir).await;
    let admin = server.admin();
    let p = spec("limit", json!({"max-length": 4, "message-ttl": 600000}));
    assert!(admin.set_policy(PolicyKind::Policy, "/", &p).unwrap());
    let o = spec("cap", json!({"max-length": 2}));
    assert!(admin.set_policy(PolicyKind::Operator, "/", &o).unwrap());
    let gone = spec("gone", json!({"expires": 100000}));
    admin.set_policy(PolicyKind::Policy, "/", &gone).unwrap();
    assert!(admin.clear_policy(PolicyKind::Policy, "/", "gone").unwrap());
    assert_eq!(fill(&server, "pol.q", 3).await, 2);
    drop(admin);
    server.shutdown().await;

    let server = start_broker_in(&dir).await;
    let admin = server.admin();
    assert_eq!(names(&admin, PolicyKind::Policy, "/"), vec!["limit"]);
    assert_eq!(names(&admin, PolicyKind::Operator, "/"), vec!["cap"]);
    let q = admin.queue("/", "pol.q").unwrap();
    assert_eq!(
        (q.policy.as_deref(), q.operator_policy.as_deref()),
        (Some("limit"), Some("cap"))
    );
    assert_eq!(
        serde_json::Value::Object(q.effective_policy_definition),
        json!({"max-length": 2, "message-ttl": 600000})
    );
    // Still enforced: two more publishes leave two messages.
    assert_eq!(fill(&server, "pol.q", 2).await, 2);
    // Clearing the operator policy lets the policy's 4 apply.
    assert!(admin
        .clear_policy(PolicyKind::Operator, "/", "cap")
        .unwrap());
    assert_eq!(fill(&server, "pol.q", 3).await, 4);
    drop(admin);
    server.shutdown().await;
}

#[tokio::test]
async fn a_deleted_vhost_takes_its_policies() {
    let (_tmp, dir) = data_dir();
    let server = start_broker_in(&dir).await;
    let admin = server.admin();
    assert!(admin.put_vhost("pv", "", &[]));
    let p = spec("p", json!({"max-length": 1}));
    admin.set_policy(PolicyKind::Policy, "pv", &p).unwrap();
    admin.set_policy(PolicyKind::Operator, "pv", &p).unwrap();
    admin.delete_vhost("pv").unwrap();
    assert!(admin.put_vhost("pv", "", &[]));
    assert!(names(&admin, PolicyKind::Policy, "pv").is_empty());
    drop(admin);
    server.shutdown().await;

    let server = start_broker_in(&dir).await;
    let admin = server.admin();
    assert!(names(&admin, PolicyKind::Policy, "pv").is_empty());
    assert!(names(&admin, PolicyKind::Operator, "pv").is_empty());
    drop(admin);
    server.shutdown().await;
}

#[tokio::test]
async fn load_definitions_sets_policies_and_they_are_stored() {
    let (tmp, dir) = data_dir();
    let file = tmp.path().join("defs.json");
    std::fs::write(
        &file,
        r#"{"vhosts":[{"name":"/"}],
            "policies":[{"vhost":"/","name":"not-amq","pattern":"^(?!amq\\.).*",
                         "apply-to":"all","definition":{"max-length":1},"priority":0}]}"#,
    )
    .unwrap();
    let config = warren_server::Config {
        data_dir: dir.clone(),
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        load_definitions: Some(file),
        ..warren_server::Config::default()
    };
    let server = warren_server::Server::start(config).await.unwrap();
    assert_eq!(
        names(&server.admin(), PolicyKind::Policy, "/"),
        vec!["not-amq"]
    );
    server.shutdown().await;

    let server = start_broker_in(&dir).await;
    let admin = server.admin();
    assert_eq!(names(&admin, PolicyKind::Policy, "/"), vec!["not-amq"]);
    let x = admin.exchange("/", "amq.direct").unwrap();
    assert_eq!(x.policy, None, "the lookahead keeps amq.* out");
    // The built-in exchanges take a recovered policy too.
    let all = PolicySpec {
        name: "all-x".into(),
        pattern: json!("^amq\\.direct$"),
        apply_to: Some(json!("exchanges")),
        priority: None,
        definition: json!({"alternate-exchange": "ae"}),
    };
    admin.set_policy(PolicyKind::Policy, "/", &all).unwrap();
    drop(admin);
    server.shutdown().await;
    let server = start_broker_in(&dir).await;
    let admin = server.admin();
    let x = admin.exchange("/", "amq.direct").unwrap();
    assert_eq!(x.policy.as_deref(), Some("all-x"));
    drop(admin);
    server.shutdown().await;
}

#[tokio::test]
async fn a_shorter_expires_from_a_policy_deletes_an_idle_queue_at_once() {
    let (_tmp, dir) = data_dir();
    let server = start_broker_in(&dir).await;
    let (_conn, ch) = open_channel(&server).await;
    let mut args = lapin::types::FieldTable::default();
    args.insert(
        "x-expires".into(),
        lapin::types::AMQPValue::LongInt(600_000),
    );
    ch.queue_declare("pol.idle".into(), QueueDeclareOptions::default(), args)
        .await
        .unwrap();
    let admin = server.admin();
    // The smaller of the argument's ten minutes and the policy's 300 ms, counted from now.
    let p = spec("short", json!({"expires": 300}));
    admin.set_policy(PolicyKind::Policy, "/", &p).unwrap();
    eventually("the idle queue to expire", || async {
        admin.queue("/", "pol.idle").is_err()
    })
    .await;
    drop(admin);
    server.shutdown().await;
}

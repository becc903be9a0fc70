//! The access model's life cycle over real TCP: users, vhosts, permissions and limits made
//! through the admin facade survive a restart; the default user and vhost exist only after a
//! first boot (a deleted guest stays deleted); deleting a vhost deletes its queues and
//! persistent messages for good and closes its connections, deleting a user closes theirs;
//! connection.open refuses over-limit and unpermitted connections; refused logins behave as
//! RabbitMQ 3.10's. Codes and texts are RabbitMQ's, checked against 3.10.8.

use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::BasicProperties;
use warren_server::access::password::HashAlgorithm;
use warren_server::access::permissions::TopicPermission;
use warren_server::admin::{Admin, Credentials, UserLimits, VhostLimits};
use warren_server::config::PermissionPatterns;
use warren_server::{Config, Server};
use warren_testkit::{
    close_connection, confirm_channel, data_dir, declare_queue_with, eventually,
    passive_declare_queue, ready_count, reply_code, start_broker, start_broker_with, within, Login,
    RawClient,
};

const NOT_ALLOWED: u16 = 530;
const ACCESS_REFUSED: u16 = 403;
const CONNECTION_FORCED: u16 = 320;

fn everything() -> PermissionPatterns {
    PermissionPatterns::default()
}

fn plain(user: &str, pass: &str) -> Vec<u8> {
    format!("\0{user}\0{pass}").into_bytes()
}

/// A raw login with PLAIN as `user`/`pass` into `vhost`, announcing
/// authentication_failure_close; the client (open or not) and how it ended.
async fn login(server: &Server, user: &str, pass: &str, vhost: &str) -> (RawClient, Login) {
    let mut c = RawClient::connect(server).await;
    c.start().await;
    let outcome = c.login("PLAIN", &plain(user, pass), vhost, true).await;
    (c, outcome)
}

/// The close text of a refused login; panics if it was not refused with `code`.
async fn refused(server: &Server, user: &str, pass: &str, vhost: &str, code: u16) -> String {
    match login(server, user, pass, vhost).await.1 {
        Login::Closed(c) => {
            assert_eq!(c.reply_code, code, "{c:?}");
            c.reply_text.to_string()
        }
        other => panic!("expected connection.close {code}, got {other:?}"),
    }
}

async fn opened(server: &Server, user: &str, pass: &str, vhost: &str) -> RawClient {
    let (c, outcome) = login(server, user, pass, vhost).await;
    assert!(
        matches!(outcome, Login::Opened),
        "{user} into {vhost}: {outcome:?}"
    );
    c
}

/// A user with password "pw" and all permissions in `vhost`.
fn add_user(admin: &Admin, user: &str, vhost: &str) {
    admin
        .put_user(user, Credentials::Password("pw".into()), &[])
        .unwrap();
    admin.set_permissions(user, vhost, everything()).unwrap();
}

async fn wait_connections(server: &Server, n: usize) {
    let admin = server.admin();
    eventually("the broker to count the connections", || {
        let admin = admin.clone();
        async move { admin.connections().await.len() == n }
    })
    .await;
}

async fn lapin_as(server: &Server, user: &str, pass: &str, vhost: &str) -> lapin::Connection {
    let url = format!(
        "amqp://{user}:{pass}@{}/{}",
        server.local_addr(),
        vhost.replace('/', "%2f")
    );
    lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
        .await
        .expect("lapin connects")
}

#[tokio::test]
async fn users_vhosts_permissions_and_limits_survive_a_restart() {
    let (_tmp, dir) = data_dir();
    let server = warren_testkit::start_broker_in(&dir).await;
    let admin = server.admin();
    assert!(admin.put_vhost("a_v", "orders", &["eu".to_string()]));
    admin
        .put_user(
            "a_u",
            Credentials::Password("pw".into()),
            &["monitoring".into()],
        )
        .unwrap();
    // A hash made by RabbitMQ 3.10.8 for the password "guest".
    let hash = "LzHYt5ooj19gjUiMeb7682Y1t+a8h/C0ss44/j89plAo//CX".to_string();
    let credentials = Credentials::Hash {
        algorithm: HashAlgorithm::Sha256,
        hash: hash.clone(),
    };
    admin.put_user("a_h", credentials, &[]).unwrap();
    let patterns = PermissionPatterns {
        configure: "^a_".into(),
        write: ".*".into(),
        read: String::new(),
    };
    admin
        .set_permissions("a_u", "a_v", patterns.clone())
        .unwrap();
    admin.set_permissions("a_h", "a_v", everything()).unwrap();
    let topic = TopicPermission {
        exchange: "amq.topic".into(),
        write: "^{username}\\.".into(),
        read: ".*".into(),
    };
    admin
        .set_topic_permission("a_u", "a_v", topic.clone())
        .unwrap();
    let vhost_limits = VhostLimits {
        max_connections: Some(5),
        max_queues: Some(7),
    };
    admin.set_vhost_limits("a_v", vhost_limits).unwrap();
    let user_limits = UserLimits {
        max_connections: Some(4),
        max_channels: None,
    };
    admin.set_user_limits("a_u", user_limits).unwrap();
    drop(admin); // the store closes with the last holder of the broker
    server.shutdown().await;

    let server = warren_testkit::start_broker_in(&dir).await;
    let admin = server.admin();
    let v = admin.vhost("a_v").unwrap();
    assert_eq!(
        (v.description.as_str(), v.tags.clone()),
        ("orders", vec!["eu".into()])
    );
    assert_eq!(v.limits, vhost_limits);
    let u = admin.user("a_u").unwrap();
    assert_eq!(
        (u.tags, u.limits),
        (vec!["monitoring".to_string()], user_limits)
    );
    assert_eq!(admin.user("a_h").unwrap().password_hash, Some(hash));
    let perms: Vec<_> = admin
        .permissions()
        .into_iter()
        .filter(|p| p.vhost == "a_v")
        .map(|p| (p.user, p.configure, p.write, p.read))
        .collect();
    assert_eq!(
        perms,
        vec![
            ("a_h".into(), ".*".into(), ".*".into(), ".*".into()),
            (
                "a_u".into(),
                patterns.configure,
                patterns.write,
                patterns.read
            )
        ]
    );
    let topics = admin.topic_permissions();
    assert_eq!(topics.len(), 1);
    assert_eq!(
        (topics[0].exchange.as_str(), topics[0].write.as_str()),
        ("amq.topic", topic.write.as_str())
    );
    // And they work: both log in with their passwords after the restart.
    opened(&server, "a_u", "pw", "a_v").await;
    opened(&server, "a_h", "guest", "a_v").await;
    drop(admin);
    server.shutdown().await;
}

#[tokio::test]
async fn the_default_user_is_made_once_and_a_deleted_guest_stays_deleted() {
    let (_tmp, dir) = data_dir();
    let config = |user: &str| Config {
        data_dir: dir.clone(),
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        default_user: user.into(),
        default_user_tags: vec!["monitoring".into()],
        default_permissions: PermissionPatterns {
            configure: "^a_".into(),
            ..everything()
        },
        ..Config::default()
    };
    let server = Server::start(config("guest")).await.unwrap();
    let admin = server.admin();
    let guest = admin.user("guest").unwrap();
    assert_eq!(guest.tags, vec!["monitoring".to_string()]);
    let p = admin.permissions();
    assert_eq!(
        (
            p[0].user.as_str(),
            p[0].vhost.as_str(),
            p[0].configure.as_str()
        ),
        ("guest", "/", "^a_")
    );
    assert_eq!(
        admin.vhost("/").unwrap().description,
        "Default virtual host"
    );
    add_user(&admin, "a_keeper", "/");
    admin.delete_user("guest").unwrap();
    drop(admin);
    server.shutdown().await;

    // Another default user configured now: the database is not empty, so nobody is made.
    let server = Server::start(config("a_other")).await.unwrap();
    let admin = server.admin();
    assert!(
        admin.user("guest").is_err(),
        "a deleted guest stays deleted"
    );
    assert!(
        admin.user("a_other").is_err(),
        "a changed setting creates nobody"
    );
    assert_eq!(
        refused(&server, "guest", "guest", "/", ACCESS_REFUSED).await,
        "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details \
         see the broker logfile."
    );
    opened(&server, "a_keeper", "pw", "/").await;
    drop(admin);
    server.shutdown().await;
}

#[tokio::test]
async fn load_definitions_replaces_the_default_user_and_persists_what_it_imports() {
    let (tmp, dir) = data_dir();
    let file = tmp.path().join("defs.json");
    std::fs::write(
        &file,
        r#"{"users":[{"name":"a_def","password":"pw","tags":[],"limits":{"max-connections":1}}],
            "vhosts":[{"name":"a_dv","metadata":{"description":"imported","tags":[]}}],
            "permissions":[{"user":"a_def","vhost":"a_dv","configure":".*","write":".*","read":".*"}],
            "parameters":[{"component":"vhost-limits","name":"limits","vhost":"a_dv",
                           "value":{"max-queues":3}}]}"#,
    )
    .unwrap();
    let config = Config {
        data_dir: dir.clone(),
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        load_definitions: Some(file),
        ..Config::default()
    };
    let server = Server::start(config).await.unwrap();
    // As RabbitMQ: definitions to load mean no default user or vhost, even on a first boot.
    assert!(server.admin().user("guest").is_err());
    assert!(server.admin().vhost("/").is_err());
    server.shutdown().await;

    // Without the file now: what it imported was stored.
    let server = warren_testkit::start_broker_in(&dir).await;
    let admin = server.admin();
    assert_eq!(admin.user("a_def").unwrap().limits.max_connections, Some(1));
    let v = admin.vhost("a_dv").unwrap();
    assert_eq!(
        (v.description.as_str(), v.limits.max_queues),
        ("imported", Some(3))
    );
    opened(&server, "a_def", "pw", "a_dv").await;
    drop(admin);
    server.shutdown().await;
}

#[tokio::test]
async fn deleting_a_vhost_deletes_its_queues_and_messages_for_good_and_closes_its_connections() {
    let (_tmp, dir) = data_dir();
    let server = warren_testkit::start_broker_in(&dir).await;
    let admin = server.admin();
    admin.put_vhost("a_gone", "", &[]);
    add_user(&admin, "a_u", "a_gone");
    admin
        .set_permissions("guest", "a_gone", everything())
        .unwrap();
    // A durable queue with persistent messages in each vhost.
    for vhost in ["a_gone", "/"] {
        let conn = lapin_as(&server, "guest", "guest", vhost).await;
        let ch = confirm_channel(&conn).await;
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        declare_queue_with(&ch, "a_q", durable).await;
        for _ in 0..3 {
            ch.basic_publish(
                "".into(),
                "a_q".into(),
                BasicPublishOptions::default(),
                b"kept?",
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        }
        close_connection(&conn).await;
    }
    let mut in_gone = opened(&server, "a_u", "pw", "a_gone").await;
    let mut elsewhere = opened(&server, "guest", "guest", "/").await;
    wait_connections(&server, 2).await;

    admin.delete_vhost("a_gone").unwrap();
    assert_eq!(
        in_gone.expect_connection_close(CONNECTION_FORCED).await,
        "CONNECTION_FORCED - vhost 'a_gone' is deleted"
    );
    elsewhere.open_channel(1).await;
    assert!(admin.vhost("a_gone").is_err());
    assert!(admin.delete_vhost("a_gone").is_err(), "deleted once");
    assert_eq!(
        refused(&server, "a_u", "pw", "a_gone", NOT_ALLOWED).await,
        "NOT_ALLOWED - vhost a_gone not found"
    );
    drop((elsewhere, in_gone, admin));
    server.shutdown().await;

    let server = warren_testkit::start_broker_in(&dir).await;
    let admin = server.admin();
    assert!(admin.vhost("a_gone").is_err(), "the deletion was durable");
    assert!(admin.permissions().iter().all(|p| p.vhost != "a_gone"));
    // A vhost of the same name starts empty: nothing of the old one came back.
    admin.put_vhost("a_gone", "", &[]);
    admin
        .set_permissions("guest", "a_gone", everything())
        .unwrap();
    let conn = lapin_as(&server, "guest", "guest", "a_gone").await;
    let ch = conn.create_channel().await.unwrap();
    let err = passive_declare_queue(&ch, "a_q").await.unwrap_err();
    assert_eq!(reply_code(&err), Some(404));
    let conn = lapin_as(&server, "guest", "guest", "/").await;
    let ch = conn.create_channel().await.unwrap();
    assert_eq!(
        ready_count(&ch, "a_q").await,
        3,
        "the other vhost kept its messages"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn deleting_a_user_closes_its_connections_only() {
    let server = start_broker().await;
    let admin = server.admin();
    add_user(&admin, "a_leaving", "/");
    add_user(&admin, "a_staying", "/");
    let mut leaving = [
        opened(&server, "a_leaving", "pw", "/").await,
        opened(&server, "a_leaving", "pw", "/").await,
    ];
    let staying = lapin_as(&server, "a_staying", "pw", "/").await;
    wait_connections(&server, 3).await;
    admin.delete_user("a_leaving").unwrap();
    for c in &mut leaving {
        assert_eq!(
            c.expect_connection_close(CONNECTION_FORCED).await,
            "CONNECTION_FORCED - user 'a_leaving' is deleted"
        );
    }
    let ch = within("a channel", staying.create_channel()).await.unwrap();
    declare_queue_with(&ch, "a_still_here", QueueDeclareOptions::default()).await;
    assert!(admin.permissions().iter().all(|p| p.user != "a_leaving"));
    assert_eq!(
        refused(&server, "a_leaving", "pw", "/", ACCESS_REFUSED).await,
        "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details \
         see the broker logfile."
    );
    assert!(admin.delete_user("a_leaving").is_err());
}

#[tokio::test]
async fn connection_limits_refuse_at_open_with_rabbitmq_texts() {
    let server = start_broker().await;
    let admin = server.admin();
    admin.put_vhost("a_lim", "", &[]);
    add_user(&admin, "a_one", "a_lim");
    add_user(&admin, "a_two", "a_lim");
    admin.set_permissions("a_two", "/", everything()).unwrap();
    let two = |n| VhostLimits {
        max_connections: Some(n),
        max_queues: None,
    };
    admin.set_vhost_limits("a_lim", two(2)).unwrap();
    let _a = opened(&server, "a_one", "pw", "a_lim").await;
    let _b = opened(&server, "a_two", "pw", "a_lim").await;
    wait_connections(&server, 2).await;
    assert_eq!(
        refused(&server, "a_one", "pw", "a_lim", NOT_ALLOWED).await,
        "NOT_ALLOWED - access to vhost 'a_lim' refused for user 'a_one': connection limit (2) \
         is reached"
    );
    // Other vhosts are not counted against it.
    let _c = opened(&server, "a_two", "pw", "/").await;

    // A user's limit counts their connections in every vhost; others are unaffected.
    admin
        .set_vhost_limits("a_lim", VhostLimits::default())
        .unwrap();
    let limits = UserLimits {
        max_connections: Some(2),
        max_channels: None,
    };
    admin.set_user_limits("a_two", limits).unwrap();
    wait_connections(&server, 3).await;
    assert_eq!(
        refused(&server, "a_two", "pw", "a_lim", NOT_ALLOWED).await,
        "NOT_ALLOWED - connection refused for user 'a_two': user connection limit (2) is \
         reached"
    );
    let _d = opened(&server, "a_one", "pw", "a_lim").await;

    // 0 allows nothing.
    admin.set_vhost_limits("a_lim", two(0)).unwrap();
    assert_eq!(
        refused(&server, "guest", "guest", "a_lim", NOT_ALLOWED).await,
        "NOT_ALLOWED - access to vhost 'a_lim' refused for user 'guest': connection limit (0) \
         is reached"
    );
}

#[tokio::test]
async fn connection_open_needs_a_vhost_and_permissions_in_it() {
    let server = start_broker().await;
    let admin = server.admin();
    admin.put_vhost("a_other", "", &[]);
    add_user(&admin, "a_u", "a_other");
    assert_eq!(
        refused(&server, "a_u", "pw", "/", NOT_ALLOWED).await,
        "NOT_ALLOWED - access to vhost '/' refused for user 'a_u'"
    );
    assert_eq!(
        refused(&server, "a_u", "pw", "a_nowhere", NOT_ALLOWED).await,
        "NOT_ALLOWED - vhost a_nowhere not found"
    );
    // Permissions cleared: refused from the next open on.
    admin.clear_permissions("a_u", "a_other").unwrap();
    refused(&server, "a_u", "pw", "a_other", NOT_ALLOWED).await;
}

#[tokio::test]
async fn refused_logins_behave_as_rabbitmq() {
    let config = Config {
        auth_mechanisms: vec!["PLAIN".into()],
        ..Config::default()
    };
    let server = start_broker_with(config).await;
    let admin = server.admin();
    admin.put_user("a_nopw", Credentials::None, &[]).unwrap();
    admin.set_permissions("a_nopw", "/", everything()).unwrap();
    let text = "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For \
                details see the broker logfile.";
    assert_eq!(
        refused(&server, "guest", "nope", "/", ACCESS_REFUSED).await,
        text
    );
    // A user without a password cannot log in with one, nor with an empty one.
    assert_eq!(
        refused(&server, "a_nopw", "", "/", ACCESS_REFUSED).await,
        text
    );
    assert_eq!(
        refused(&server, "a_nopw", "x", "/", ACCESS_REFUSED).await,
        text
    );

    // Without authentication_failure_close the socket is just closed.
    let mut c = RawClient::connect(&server).await;
    c.start().await;
    let outcome = c.login("PLAIN", &plain("guest", "nope"), "/", false).await;
    assert!(matches!(outcome, Login::Dropped), "{outcome:?}");

    // Only the configured mechanisms are offered; another one is refused without a word, as a
    // malformed response is, capability or not.
    let mut c = RawClient::connect(&server).await;
    let start = c.start().await;
    assert_eq!(start.mechanisms.as_bytes(), b"PLAIN");
    let outcome = c.login("AMQPLAIN", b"", "/", true).await;
    assert!(matches!(outcome, Login::Dropped), "{outcome:?}");
    let mut c = RawClient::connect(&server).await;
    c.start().await;
    let outcome = c.login("PLAIN", b"guest", "/", true).await;
    assert!(matches!(outcome, Login::Dropped), "{outcome:?}");

    let default = start_broker().await;
    let mut c = RawClient::connect(&default).await;
    assert_eq!(c.start().await.mechanisms.as_bytes(), b"AMQPLAIN PLAIN");
    let outcome = c
        .login("AMQPLAIN", &amqplain("guest", "guest"), "/", true)
        .await;
    assert!(matches!(outcome, Login::Opened), "{outcome:?}");
    let mut c = RawClient::connect(&default).await;
    c.start().await;
    match c
        .login("AMQPLAIN", &amqplain("guest", "nope"), "/", true)
        .await
    {
        Login::Closed(close) => assert_eq!(
            close.reply_text.to_string(),
            "ACCESS_REFUSED - Login was refused using authentication mechanism AMQPLAIN. For \
             details see the broker logfile."
        ),
        other => panic!("expected a 403 close, got {other:?}"),
    }
}

/// An AMQPLAIN response: a field table's entries without its length prefix.
fn amqplain(user: &str, pass: &str) -> Vec<u8> {
    let mut t = warren_codec::FieldTable::new();
    for (k, v) in [("LOGIN", user), ("PASSWORD", pass)] {
        t.push(
            warren_codec::ShortStr::try_from(k).unwrap(),
            warren_codec::FieldValue::LongStr(v.into()),
        );
    }
    let mut out = bytes::BytesMut::new();
    t.encode(&mut out);
    out[4..].to_vec()
}

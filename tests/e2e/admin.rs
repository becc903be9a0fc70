//! The admin facade (`server.admin()`) against what real lapin clients see: topology declared
//! by one side is found by the other, messages published or taken by the facade are the ones
//! clients publish and consume, connections and channels are listed with their state, a closed
//! connection gets 320 with RabbitMQ's text, and the counters match a known workload.

use futures_lite::StreamExt;
use lapin::options::*;
use lapin::Connection;
use std::future::Future;
use warren_codec::{FieldTable as WireTable, FieldValue, ShortStr};
use warren_server::admin::{DestinationType, GetMode};
use warren_server::Server;
use warren_testkit::{
    amqp_error, close_connection, confirm_channel, connect, consume, declare_queue,
    exchange_exists, get_one, next, probe_exchange, probe_ready_count, publish, queue_exists,
    start_broker, within,
};

/// The connection id of the only connection the broker has.
async fn only_connection(server: &Server) -> u64 {
    let conns = server.admin().connections().await;
    assert_eq!(conns.len(), 1, "{conns:?}");
    conns[0].id
}

#[tokio::test]
async fn topology_declared_by_admin_is_what_clients_see() {
    let server = start_broker().await;
    let admin = server.admin();
    let conn = connect(&server).await;
    let mut args = WireTable::new();
    args.push(ShortStr::from_static("x-max-length"), FieldValue::I64(10));
    let q = admin
        .declare_queue("/", "adm.q", true, false, &args)
        .unwrap();
    assert!(q.durable && !q.auto_delete && !q.exclusive);
    assert_eq!(q.arguments, args);
    assert_eq!(probe_ready_count(&conn, "adm.q").await, 0);

    let x = admin
        .declare_exchange("/", "adm.x", "topic", true, false, false, &WireTable::new())
        .unwrap();
    assert_eq!(
        (x.kind.as_str(), x.durable, x.auto_delete),
        ("topic", true, false)
    );
    probe_exchange(&conn, "adm.x").await.unwrap();
    admin
        .bind(
            "/",
            "adm.x",
            "adm.q",
            DestinationType::Queue,
            "a.*",
            &WireTable::new(),
        )
        .unwrap();
    let ch = confirm_channel(&conn).await;
    publish(&ch, "adm.x", "a.b", b"via binding").await;
    assert_eq!(get_one(&ch, "adm.q", true).await.data, b"via binding");

    let bindings = admin.bindings("/").unwrap();
    assert!(bindings
        .iter()
        .any(|b| b.source.is_empty() && b.destination == "adm.q" && b.routing_key == "adm.q"));
    assert!(bindings.iter().any(|b| b.source == "adm.x"
        && b.destination == "adm.q"
        && b.destination_type == DestinationType::Queue
        && b.routing_key == "a.*"));
    let names: Vec<String> = admin
        .exchanges("/")
        .unwrap()
        .into_iter()
        .map(|x| x.name)
        .collect();
    assert!(names.contains(&"amq.topic".to_string()) && names.contains(&"adm.x".to_string()));

    // A client declares, the facade sees it; a different redeclare fails with the client's text.
    declare_queue(&ch, "client.q").await;
    let seen = admin.queue("/", "client.q").unwrap();
    assert!(!seen.durable);
    let err = admin
        .declare_queue("/", "client.q", true, false, &WireTable::new())
        .unwrap_err();
    assert_eq!(err.code as u16, 406);
    assert_eq!(
        err.text,
        "inequivalent arg 'durable' for queue 'client.q' in vhost '/': received 'true' but current is 'false'"
    );

    admin
        .unbind(
            "/",
            "adm.x",
            "adm.q",
            DestinationType::Queue,
            "a.*",
            &WireTable::new(),
        )
        .unwrap();
    publish(&ch, "adm.x", "a.b", b"unrouted").await;
    assert_eq!(probe_ready_count(&conn, "adm.q").await, 0);
    assert_eq!(admin.delete_queue("/", "adm.q", false, false).unwrap(), 0);
    assert!(!queue_exists(&conn, "adm.q").await);
    admin.delete_exchange("/", "adm.x", false).unwrap();
    assert!(!exchange_exists(&conn, "adm.x").await);
    let err = admin.queue("/", "adm.q").unwrap_err();
    assert_eq!(
        (err.code as u16, err.text.as_str()),
        (404, "no queue 'adm.q' in vhost '/'")
    );
    assert_eq!(
        admin
            .vhosts()
            .iter()
            .map(|v| v.name.as_str())
            .collect::<Vec<_>>(),
        ["/"]
    );
    assert_eq!(admin.vhost("nope").unwrap_err().code as u16, 404);
    close_connection(&conn).await;
}

#[tokio::test]
async fn messages_published_and_taken_by_admin_are_the_clients_messages() {
    let server = start_broker().await;
    let admin = server.admin();
    let conn = connect(&server).await;
    let ch = conn.create_channel().await.unwrap();
    declare_queue(&ch, "m.q").await;
    let mut consumer = consume(&ch, "m.q").await;
    let props = warren_codec::BasicProperties {
        content_type: Some(ShortStr::from_static("text/plain")),
        delivery_mode: Some(2),
        ..Default::default()
    };
    assert!(admin
        .publish("/", "", "m.q", &props, b"from admin")
        .unwrap());
    let d = next(&mut consumer).await;
    assert_eq!(d.data, b"from admin");
    assert_eq!(d.routing_key.as_str(), "m.q");
    assert_eq!(
        d.properties.content_type().as_ref().map(|s| s.as_str()),
        Some("text/plain")
    );
    assert_eq!(*d.properties.delivery_mode(), Some(2));
    d.ack(BasicAckOptions::default()).await.unwrap();
    ch.basic_cancel(consumer.tag(), BasicCancelOptions::default())
        .await
        .unwrap();
    assert!(!admin.publish("/", "", "nowhere", &props, b"x").unwrap());
    let err = admin
        .publish("/", "no.such", "k", &props, b"x")
        .unwrap_err();
    assert_eq!(
        (err.code as u16, err.text.as_str()),
        (404, "no exchange 'no.such' in vhost '/'")
    );

    let ch2 = confirm_channel(&conn).await;
    declare_queue(&ch2, "g.q").await;
    for body in [b"one", b"two", b"six"] {
        publish(&ch2, "", "g.q", body).await;
    }
    let got = admin.get("/", "g.q", 2, GetMode::Requeue).unwrap();
    let bodies: Vec<&[u8]> = got.iter().map(|m| m.body.as_slice()).collect();
    assert_eq!(bodies, [b"one", b"two"]);
    assert_eq!((got[0].message_count, got[0].redelivered), (2, false));
    assert_eq!(probe_ready_count(&conn, "g.q").await, 3);
    let first = get_one(&ch2, "g.q", true).await;
    assert_eq!(
        (first.data.as_slice(), first.delivery.redelivered),
        (&b"one"[..], true)
    );
    let taken = admin.get("/", "g.q", 1, GetMode::Ack).unwrap();
    assert_eq!(taken[0].body, b"two");
    assert_eq!(probe_ready_count(&conn, "g.q").await, 1);
    assert_eq!(admin.purge("/", "g.q").unwrap(), 1);
    assert_eq!(probe_ready_count(&conn, "g.q").await, 0);
    close_connection(&conn).await;
}

#[tokio::test]
async fn connections_channels_and_counters_follow_a_known_workload() {
    let server = start_broker().await;
    let admin = server.admin();
    let conn = connect(&server).await;
    let confirming = confirm_channel(&conn).await;
    let consuming = conn.create_channel().await.unwrap();
    consuming
        .basic_qos(5, BasicQosOptions::default())
        .await
        .unwrap();
    declare_queue(&consuming, "w.q").await;
    declare_queue(&consuming, "w.idle").await;
    for i in 0..7u8 {
        publish(&confirming, "", "w.q", &[i]).await;
    }
    publish(&confirming, "", "w.idle", b"rest").await;
    let mut consumer = consume(&consuming, "w.q").await;
    for _ in 0..5 {
        next(&mut consumer).await;
    }

    let conns = admin.connections().await;
    assert_eq!(conns.len(), 1);
    let c = &conns[0];
    assert_eq!(
        (c.user.as_str(), c.vhost.as_str(), c.channels),
        ("guest", "/", 2)
    );
    assert!(c.peer.ip().is_loopback());
    assert!(c.connected_at > 0);
    let channels = admin.channels(c.id).await.unwrap();
    assert_eq!(channels.len(), 2);
    let conf = channels
        .iter()
        .find(|ch| ch.number == confirming.id())
        .unwrap();
    assert!(conf.confirm && !conf.transactional);
    assert_eq!((conf.consumers, conf.unacked), (0, 0));
    let cons = channels
        .iter()
        .find(|ch| ch.number == consuming.id())
        .unwrap();
    assert_eq!((cons.consumers, cons.unacked, cons.prefetch), (1, 5, 5));
    assert!(!cons.confirm);

    let q = admin.queue("/", "w.q").unwrap();
    assert_eq!(
        (q.messages_ready, q.messages_unacknowledged, q.consumers),
        (2, 5, 1)
    );
    let o = admin.overview().await;
    assert_eq!(
        (o.connections, o.channels, o.queues, o.consumers),
        (1, 2, 2, 1)
    );
    assert_eq!((o.messages_ready, o.messages_unacknowledged), (3, 5));
    assert_eq!(o.exchanges, 6, "the default exchanges");
    assert_eq!(
        admin.channels(c.id + 100).await.unwrap_err().code as u16,
        404
    );
    close_connection(&conn).await;
}

/// The broker's connection.close as lapin reports it: (code, text). Listens from the call on,
/// so the close cannot slip by before the future is polled.
fn closed_with(conn: &Connection) -> impl Future<Output = (u16, String)> + 'static {
    // Boxed: lapin's listener type names the connection's borrow, though it holds none.
    let mut events: std::pin::Pin<Box<dyn futures_lite::Stream<Item = lapin::Event> + Send>> =
        Box::pin(conn.events_listener());
    let close = async move {
        loop {
            match events.next().await {
                Some(lapin::Event::Error(e)) => return amqp_error(&e),
                Some(_) => {}
                None => panic!("event stream ended without an error"),
            }
        }
    };
    async move { within("the connection's close", close).await }
}

#[tokio::test]
async fn closing_a_connection_sends_320_with_rabbitmqs_text_or_the_reason() {
    let server = start_broker().await;
    let admin = server.admin();
    let conn = connect(&server).await;
    let id = only_connection(&server).await;
    let waiting = closed_with(&conn);
    admin.close_connection(id, None).unwrap();
    assert_eq!(
        waiting.await,
        (
            320,
            "CONNECTION_FORCED - Closed via management plugin".to_string()
        )
    );

    let conn = connect(&server).await;
    warren_testkit::eventually("the closed connection gone", || {
        let admin = admin.clone();
        async move { admin.connections().await.len() == 1 }
    })
    .await;
    let id = only_connection(&server).await;
    let waiting = closed_with(&conn);
    admin.close_connection(id, Some("maintenance")).unwrap();
    assert_eq!(
        waiting.await,
        (320, "CONNECTION_FORCED - maintenance".to_string())
    );
    assert_eq!(
        admin.close_connection(9999, None).unwrap_err().code as u16,
        404
    );
}

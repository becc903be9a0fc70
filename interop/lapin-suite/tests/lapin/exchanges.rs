//! Publish and consume through the default exchange and each built-in exchange type
//! (the lapin counterpart of `interop/tests/test_exchanges.py`).

use lapin::options::*;
use lapin::types::{AMQPValue, DecimalValue, FieldArray, FieldTable};
use lapin::{BasicProperties, ExchangeKind};
use warren_testkit::{
    bind, close_connection, declare_exchange, delete_exchange, exclusive_queue, expect_bodies,
    field_table, get_one, long_str, on_each_broker, passive_declare_exchange, publish,
    publish_props, unbind, Broker,
};

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn default_exchange_routes_by_queue_name_and_keeps_properties() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        let queue = exclusive_queue(&ch, "default").await;

        let headers = field_table(&[
            ("trace", long_str("abc-123")),
            ("attempt", AMQPValue::LongInt(7)),
            ("big", AMQPValue::LongLongInt(1 << 40)),
            ("negative", AMQPValue::LongInt(-5)),
            ("flag", AMQPValue::Boolean(true)),
            ("nothing", AMQPValue::Void),
            (
                "price",
                AMQPValue::DecimalValue(DecimalValue {
                    scale: 2,
                    value: 1234,
                }),
            ),
            (
                "nested",
                AMQPValue::FieldTable(field_table(&[
                    ("region", long_str("eu")),
                    (
                        "ids",
                        AMQPValue::FieldArray(FieldArray::from(vec![
                            AMQPValue::LongInt(1),
                            AMQPValue::LongInt(2),
                            AMQPValue::LongInt(3),
                        ])),
                    ),
                ])),
            ),
            (
                "list",
                AMQPValue::FieldArray(FieldArray::from(vec![
                    long_str("a"),
                    AMQPValue::LongInt(2),
                    AMQPValue::Boolean(false),
                ])),
            ),
            (
                "raw",
                AMQPValue::ByteArray(b"\x00\xffbytes".as_slice().into()),
            ),
            ("at", AMQPValue::Timestamp(1_715_949_000)),
        ]);
        // All 13 basic properties (user_id must name the logged-in user on RabbitMQ).
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_content_encoding("utf-8".into())
            .with_headers(headers)
            .with_delivery_mode(2)
            .with_priority(3)
            .with_correlation_id("corr-1".into())
            .with_reply_to("replies".into())
            .with_expiration("60000".into())
            .with_message_id("msg-1".into())
            .with_timestamp(1_700_000_000)
            .with_type("order.placed".into())
            .with_user_id(broker.username().into())
            .with_app_id("interop-suite".into())
            .with_cluster_id("cluster-1".into());
        publish_props(&ch, "", &queue, br#"{"order": 1}"#, props.clone()).await;
        publish(&ch, "", &queue, b"bare").await;

        let got = get_one(&ch, &queue, true).await;
        assert_eq!(got.delivery.data, br#"{"order": 1}"#);
        assert_eq!(
            (
                got.delivery.exchange.as_str(),
                got.delivery.routing_key.as_str(),
                got.delivery.redelivered
            ),
            ("", queue.as_str(), false)
        );
        assert_eq!(got.message_count, 1, "messages left after this one");
        assert_eq!(got.delivery.properties, props);

        // Properties a publisher did not set come back unset.
        let bare = get_one(&ch, &queue, true).await;
        assert_eq!(bare.delivery.data, b"bare");
        assert_eq!(bare.message_count, 0);
        assert_eq!(bare.delivery.properties, BasicProperties::default());
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn direct_exchange_routes_on_exact_key_and_unbind_stops_it() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        let exchange = declare_exchange(&ch, "direct", ExchangeKind::Direct).await;
        let red = exclusive_queue(&ch, "red").await;
        let green = exclusive_queue(&ch, "green").await;
        bind(&ch, &red, &exchange, "red", FieldTable::default()).await;
        bind(&ch, &red, &exchange, "green", FieldTable::default()).await;
        bind(&ch, &green, &exchange, "green", FieldTable::default()).await;
        // Unroutable ones ("blue", "Red", "red.x") are dropped: confirmed, not queued.
        for key in ["red", "green", "blue", "Red", "red.x"] {
            publish(&ch, &exchange, key, key.as_bytes()).await;
        }
        publish(&ch, &exchange, "green", b"end").await;
        expect_bodies(&ch, &red, &[b"red", b"green", b"end"]).await;
        expect_bodies(&ch, &green, &[b"green", b"end"]).await;

        unbind(&ch, &red, &exchange, "green").await;
        publish(&ch, &exchange, "green", b"after unbind").await;
        publish(&ch, &exchange, "red", b"still bound").await;
        expect_bodies(&ch, &red, &[b"still bound"]).await;
        expect_bodies(&ch, &green, &[b"after unbind"]).await;

        delete_exchange(&ch, &exchange).await;
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn fanout_exchange_copies_to_every_bound_queue() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        let exchange = declare_exchange(&ch, "fanout", ExchangeKind::Fanout).await;
        let mut queues = Vec::new();
        for i in 0..3 {
            let q = exclusive_queue(&ch, &format!("fan{i}")).await;
            bind(
                &ch,
                &q,
                &exchange,
                &format!("ignored-{i}"),
                FieldTable::default(),
            )
            .await;
            queues.push(q);
        }
        let props = BasicProperties::default()
            .with_message_id("fan-1".into())
            .with_headers(field_table(&[("k", long_str("v"))]));
        publish_props(&ch, &exchange, "any.key", b"one", props.clone()).await;
        publish(&ch, &exchange, "", b"two").await;
        for q in &queues {
            let got = get_one(&ch, q, true).await;
            assert_eq!(got.delivery.data, b"one");
            assert_eq!(
                (
                    got.delivery.exchange.as_str(),
                    got.delivery.routing_key.as_str()
                ),
                (exchange.as_str(), "any.key")
            );
            assert_eq!(got.delivery.properties, props);
            expect_bodies(&ch, q, &[b"two"]).await;
        }
        delete_exchange(&ch, &exchange).await;
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn topic_exchange_wildcards() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        let exchange = declare_exchange(&ch, "topic", ExchangeKind::Topic).await;
        let orange = exclusive_queue(&ch, "orange").await;
        let rabbit = exclusive_queue(&ch, "rabbit").await;
        let all = exclusive_queue(&ch, "all").await;
        bind(&ch, &orange, &exchange, "*.orange.*", FieldTable::default()).await;
        bind(&ch, &rabbit, &exchange, "*.*.rabbit", FieldTable::default()).await;
        bind(&ch, &rabbit, &exchange, "lazy.#", FieldTable::default()).await;
        bind(&ch, &all, &exchange, "#", FieldTable::default()).await;
        let keys: [&[u8]; 10] = [
            b"quick.orange.rabbit",      // orange, rabbit
            b"lazy.orange.elephant",     // orange, rabbit
            b"quick.orange.fox",         // orange
            b"lazy.brown.fox",           // rabbit
            b"lazy.pink.rabbit",         // rabbit, once although two bindings match
            b"quick.brown.fox",          // none but '#'
            b"quick.orange.male.rabbit", // none but '#'
            b"lazy.orange.male.rabbit",  // rabbit
            b"lazy",                     // rabbit: '#' matches zero words
            b"orange",                   // none but '#'
        ];
        for key in keys {
            publish(&ch, &exchange, std::str::from_utf8(key).unwrap(), key).await;
        }
        publish(&ch, &exchange, "lazy.orange.end", b"end").await;
        expect_bodies(&ch, &orange, &[keys[0], keys[1], keys[2], b"end"]).await;
        expect_bodies(
            &ch,
            &rabbit,
            &[keys[0], keys[1], keys[3], keys[4], keys[7], keys[8], b"end"],
        )
        .await;
        let mut everything = keys.to_vec();
        everything.push(b"end");
        expect_bodies(&ch, &all, &everything).await;
        delete_exchange(&ch, &exchange).await;
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn headers_exchange_all_and_any() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        let exchange = declare_exchange(&ch, "headers", ExchangeKind::Headers).await;
        let q_all = exclusive_queue(&ch, "hall").await;
        let q_any = exclusive_queue(&ch, "hany").await;
        bind(
            &ch,
            &q_all,
            &exchange,
            "",
            field_table(&[
                ("x-match", long_str("all")),
                ("format", long_str("pdf")),
                ("type", long_str("report")),
            ]),
        )
        .await;
        bind(
            &ch,
            &q_any,
            &exchange,
            "",
            field_table(&[
                ("x-match", long_str("any")),
                ("format", long_str("pdf")),
                ("type", long_str("log")),
            ]),
        )
        .await;
        let cases: Vec<(&str, Option<FieldTable>)> = vec![
            (
                "both",
                Some(field_table(&[
                    ("format", long_str("pdf")),
                    ("type", long_str("report")),
                ])),
            ),
            (
                "pdf-log",
                Some(field_table(&[
                    ("format", long_str("pdf")),
                    ("type", long_str("log")),
                ])),
            ),
            (
                "zip-report",
                Some(field_table(&[
                    ("format", long_str("zip")),
                    ("type", long_str("report")),
                ])),
            ),
            (
                "pdf-only",
                Some(field_table(&[("format", long_str("pdf"))])),
            ),
            (
                "extra",
                Some(field_table(&[
                    ("format", long_str("pdf")),
                    ("type", long_str("report")),
                    ("n", AMQPValue::LongInt(1)),
                ])),
            ),
            ("no-headers", None),
        ];
        for (body, headers) in cases {
            let mut props = BasicProperties::default();
            if let Some(h) = headers {
                props = props.with_headers(h);
            }
            publish_props(&ch, &exchange, "rk", body.as_bytes(), props).await;
        }
        publish_props(
            &ch,
            &exchange,
            "",
            b"end",
            BasicProperties::default().with_headers(field_table(&[
                ("format", long_str("pdf")),
                ("type", long_str("report")),
            ])),
        )
        .await;
        expect_bodies(&ch, &q_all, &[b"both", b"extra", b"end"]).await;
        expect_bodies(
            &ch,
            &q_any,
            &[b"both", b"pdf-log", b"pdf-only", b"extra", b"end"],
        )
        .await;
        delete_exchange(&ch, &exchange).await;
        close_connection(&conn).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs WARREN_URL/RABBITMQ_URL: run via interop/run"]
async fn predeclared_amq_exchanges_exist_and_route() {
    on_each_broker(|broker: Broker| async move {
        let (conn, ch) = broker.confirm_channel().await;
        for (name, kind) in [
            ("amq.direct", ExchangeKind::Direct),
            ("amq.fanout", ExchangeKind::Fanout),
            ("amq.topic", ExchangeKind::Topic),
            ("amq.headers", ExchangeKind::Headers),
            ("amq.match", ExchangeKind::Headers),
        ] {
            passive_declare_exchange(&ch, name)
                .await
                .unwrap_or_else(|e| panic!("passive declare of {name}: {e}"));
            // An equivalent redeclare is fine.
            ch.exchange_declare(
                name.into(),
                kind.clone(),
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("equivalent redeclare of {name}: {e}"));
            let queue = exclusive_queue(&ch, "amq").await;
            let body = format!("via {name}");
            if kind == ExchangeKind::Headers {
                let args = field_table(&[("x-match", long_str("all")), ("k", long_str("v"))]);
                bind(&ch, &queue, name, "", args).await;
                let props =
                    BasicProperties::default().with_headers(field_table(&[("k", long_str("v"))]));
                publish_props(&ch, name, "", body.as_bytes(), props).await;
            } else {
                let key = if kind == ExchangeKind::Topic {
                    "orders.#"
                } else {
                    "orders"
                };
                bind(&ch, &queue, name, key, FieldTable::default()).await;
                publish(&ch, name, "orders", body.as_bytes()).await;
            }
            expect_bodies(&ch, &queue, &[body.as_bytes()]).await;
            ch.queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await
                .unwrap();
        }
        close_connection(&conn).await;
    })
    .await;
}

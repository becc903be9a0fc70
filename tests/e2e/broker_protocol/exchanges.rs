//! Exchange rules: passive declares, equivalence on redeclare (only `alternate-exchange` among
//! the arguments), auto-delete on the last source binding, and exchange-to-exchange unbinding.

use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{Channel, ExchangeKind};
use warren_testkit::{
    bind, bind_exchange, broker_with_channel, declare_queue, exchange_exists, field_table,
    long_str, passive_declare_exchange, probe_ready_count, publish, reply_code, unbind,
    unbind_exchange,
};

async fn declare_exchange(ch: &Channel, name: &str, kind: ExchangeKind, auto_delete: bool) {
    ch.exchange_declare(
        name.into(),
        kind,
        ExchangeDeclareOptions {
            auto_delete,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("exchange.declare");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_declare_passive_equivalence_and_auto_delete() {
    let (_server, conn, ch) = broker_with_channel().await;

    let err = passive_declare_exchange(&ch, "nowhere").await.unwrap_err();
    assert_eq!(reply_code(&err), Some(404), "{err}");
    assert!(
        err.to_string()
            .contains("no exchange 'nowhere' in vhost '/'"),
        "{err}"
    );

    let ch = conn.create_channel().await.unwrap();
    declare_exchange(&ch, "settled", ExchangeKind::Direct, false).await;
    let err = ch
        .exchange_declare(
            "settled".into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(reply_code(&err), Some(406), "{err}");
    assert!(
        err.to_string().contains(
            "inequivalent arg 'durable' for exchange 'settled' in vhost '/': received 'true' \
             but current is 'false'"
        ),
        "{err}"
    );
    // RabbitMQ compares only `alternate-exchange` among exchange arguments: another argument
    // that differs is an equivalent redeclare.
    let ch = conn.create_channel().await.unwrap();
    for note in ["first", "second"] {
        let args = field_table(&[("x-note", long_str(note))]);
        ch.exchange_declare(
            "noted".into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions::default(),
            args,
        )
        .await
        .expect("an unchecked argument does not make a redeclare inequivalent");
    }

    // Auto-delete: never bound, it stays; it goes when the last binding with it as *source*
    // goes, not before.
    declare_exchange(&ch, "ad.src", ExchangeKind::Direct, true).await;
    assert!(exchange_exists(&conn, "ad.src").await, "never bound: kept");
    declare_queue(&ch, "ad.q").await;
    for key in ["a", "b"] {
        bind(&ch, "ad.q", "ad.src", key, FieldTable::default()).await;
    }
    unbind(&ch, "ad.q", "ad.src", "a").await;
    assert!(exchange_exists(&conn, "ad.src").await, "one binding left");
    unbind(&ch, "ad.q", "ad.src", "b").await;
    assert!(!exchange_exists(&conn, "ad.src").await, "last binding gone");

    // As the destination of an exchange-to-exchange binding it is not "in use": unbinding
    // that keeps it. As the source, the exchange.unbind of its last binding deletes it.
    declare_exchange(&ch, "ad.dest", ExchangeKind::Fanout, true).await;
    bind_exchange(&ch, "ad.dest", "amq.fanout", "").await;
    unbind_exchange(&ch, "ad.dest", "amq.fanout", "").await;
    assert!(
        exchange_exists(&conn, "ad.dest").await,
        "was only a destination"
    );
    bind_exchange(&ch, "amq.fanout", "ad.dest", "").await;
    unbind_exchange(&ch, "amq.fanout", "ad.dest", "").await;
    assert!(
        !exchange_exists(&conn, "ad.dest").await,
        "its last source binding went"
    );

    // Deleting the bound queue removes the last binding too.
    declare_exchange(&ch, "ad.byqueue", ExchangeKind::Direct, true).await;
    declare_queue(&ch, "ad.doomed").await;
    bind(&ch, "ad.doomed", "ad.byqueue", "k", FieldTable::default()).await;
    ch.queue_delete("ad.doomed".into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    assert!(!exchange_exists(&conn, "ad.byqueue").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_unbind_stops_the_flow_between_exchanges() {
    let (_server, conn, ch) = broker_with_channel().await;
    declare_exchange(&ch, "upstream", ExchangeKind::Fanout, false).await;
    declare_exchange(&ch, "downstream", ExchangeKind::Direct, false).await;
    declare_queue(&ch, "sink").await;
    bind(&ch, "sink", "downstream", "k", FieldTable::default()).await;
    bind_exchange(&ch, "downstream", "upstream", "").await;
    publish(&ch, "upstream", "k", b"through").await;
    assert_eq!(
        probe_ready_count(&conn, "sink").await,
        1,
        "routed through e2e"
    );

    unbind_exchange(&ch, "downstream", "upstream", "").await;
    publish(&ch, "upstream", "k", b"stopped").await;
    assert_eq!(
        probe_ready_count(&conn, "sink").await,
        1,
        "the e2e binding is gone"
    );
    // Only that binding went: the destination still routes on its own.
    publish(&ch, "downstream", "k", b"direct").await;
    assert_eq!(probe_ready_count(&conn, "sink").await, 2);
    // Unbinding what is not bound is unbind-ok, as in RabbitMQ.
    unbind_exchange(&ch, "downstream", "upstream", "").await;
}

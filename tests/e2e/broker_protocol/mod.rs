//! Protocol corners first observed on a local RabbitMQ 3.10.8 with a raw-socket client (codes,
//! texts, method ids), then pinned here for Warren: exchange rules, queue and consumer rules
//! (ack and nack with `multiple`, consumer tags, `x-queue-mode`), the handshake (AMQPLAIN, the
//! advertised capabilities, tune-ok limits), and error replies (channel.flow, the 503/504 split,
//! hostile clients next to a healthy one). The helpers they share are here.
//!
//! lapin drives what a real client does; `RawClient` is used wherever the test needs the exact
//! close code, text and method ids (lapin reports a channel close only to a call already
//! waiting, and never shows the server properties).

mod error_replies;
mod exchanges;
mod handshake;
mod queues_and_consumers;

use warren_codec::frame::PROTOCOL_HEADER;
use warren_codec::generated::{ConnectionClose, ConnectionStartOk};
use warren_codec::{FieldValue, LongStr, Method, ShortStr};
use warren_testkit::RawClient;

fn assert_close(close: &ConnectionClose, code: u16, text: &str, ids: (u16, u16)) {
    assert_eq!(
        (
            close.reply_code,
            close.reply_text.to_string_lossy().as_ref(),
            (close.class_id, close.method_id)
        ),
        (code, text, ids)
    );
}

/// start-ok with PLAIN and the given client capabilities; returns the server's tune.
async fn start_ok(c: &mut RawClient, password: &str, failure_close: bool) -> Option<Method> {
    c.send_bytes(&PROTOCOL_HEADER).await;
    let (_, start) = c.next_method().await.expect("connection.start");
    assert!(matches!(start, Method::ConnectionStart(_)), "{start:?}");
    let mut caps = warren_codec::FieldTable::new();
    caps.push(
        ShortStr::from_static("authentication_failure_close"),
        FieldValue::Bool(failure_close),
    );
    let mut props = warren_codec::FieldTable::new();
    props.push(
        ShortStr::from_static("capabilities"),
        FieldValue::Table(caps),
    );
    c.send_method(
        0,
        Method::ConnectionStartOk(ConnectionStartOk {
            client_properties: props,
            mechanism: ShortStr::from_static("PLAIN"),
            response: LongStr::from(format!("\0guest\0{password}")),
            locale: ShortStr::from_static("en_US"),
        }),
    )
    .await;
    c.next_method().await.map(|(_, m)| m)
}

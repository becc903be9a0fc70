//! The byte formats of the definitions the broker keeps in the durable store: exchanges, queues
//! and bindings. Pure encoding and decoding, no I/O. (Messages' format is `message::stored`;
//! the access records' is `access::stored`, above this room.)
//!
//! The store (`warren-store`) keeps opaque bytes; these formats are the server's. Each one
//! starts with a version byte so a later release can read what an older one wrote.

use super::ExchangeMeta;
use super::QueueOptions;
use crate::message::stored::{bad, put_short, FormatError, Reader, FORMAT_V1};
use bytes::{BufMut, Bytes, BytesMut};
use warren_codec::FieldTable;
use warren_routing::{Binding, DestinationKind, ExchangeKind};

// ----- exchanges -----

const FLAG_AUTO_DELETE: u8 = 1;
const FLAG_INTERNAL: u8 = 2;
/// A delayed-message exchange (its type field holds its `x-delayed-type`).
const FLAG_DELAYED: u8 = 4;

/// `v1 ‖ type:short ‖ flags:u8 ‖ arguments:table`.
pub(super) fn encode_exchange(meta: &ExchangeMeta) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u8(FORMAT_V1);
    put_short(&mut out, meta.kind.as_str().as_bytes());
    let mut flags = 0;
    if meta.auto_delete {
        flags |= FLAG_AUTO_DELETE;
    }
    if meta.internal {
        flags |= FLAG_INTERNAL;
    }
    if meta.delayed {
        flags |= FLAG_DELAYED;
    }
    out.put_u8(flags);
    meta.arguments.encode(&mut out);
    out.freeze()
}

pub(crate) fn decode_exchange(bytes: &Bytes) -> Result<ExchangeMeta, FormatError> {
    let mut r = Reader::new(bytes, "exchange")?;
    let kind_name = r.string()?;
    let kind: ExchangeKind = kind_name
        .parse()
        .map_err(|_| bad("exchange", format!("unknown exchange type '{kind_name}'")))?;
    let flags = r.u8()?;
    let arguments = r.table()?;
    Ok(ExchangeMeta {
        kind,
        durable: true,
        auto_delete: flags & FLAG_AUTO_DELETE != 0,
        internal: flags & FLAG_INTERNAL != 0,
        arguments,
        delayed: flags & FLAG_DELAYED != 0,
    })
}

// ----- queues -----

/// `v1 ‖ flags:u8 ‖ arguments:table`. Only durable, non-exclusive queues are stored.
pub(super) fn encode_queue(options: &QueueOptions) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u8(FORMAT_V1);
    out.put_u8(if options.auto_delete {
        FLAG_AUTO_DELETE
    } else {
        0
    });
    options.arguments.encode(&mut out);
    out.freeze()
}

pub(crate) fn decode_queue(bytes: &Bytes) -> Result<QueueOptions, FormatError> {
    let mut r = Reader::new(bytes, "queue")?;
    let flags = r.u8()?;
    let arguments = r.table()?;
    Ok(QueueOptions {
        durable: true,
        exclusive_owner: None,
        auto_delete: flags & FLAG_AUTO_DELETE != 0,
        arguments,
    })
}

// ----- bindings -----

/// `v1 ‖ destination kind:u8 (0 queue, 1 exchange) ‖ source:short ‖ destination:short ‖
/// routing key:short ‖ arguments:table`. Also the binding's key in the store, so the same
/// binding always maps to the same key.
fn encode_binding(
    kind: DestinationKind,
    source: &str,
    destination: &str,
    routing_key: &str,
    arguments: &FieldTable,
) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u8(FORMAT_V1);
    out.put_u8(match kind {
        DestinationKind::Queue => 0,
        DestinationKind::Exchange => 1,
    });
    put_short(&mut out, source.as_bytes());
    put_short(&mut out, destination.as_bytes());
    put_short(&mut out, routing_key.as_bytes());
    arguments.encode(&mut out);
    out.freeze()
}

pub(super) fn encode_binding_of(b: &Binding) -> Bytes {
    encode_binding(
        b.destination_kind,
        &b.source,
        &b.destination,
        &b.routing_key,
        &b.arguments,
    )
}

pub(crate) fn decode_binding(bytes: &Bytes) -> Result<Binding, FormatError> {
    let mut r = Reader::new(bytes, "binding")?;
    let destination_kind = match r.u8()? {
        0 => DestinationKind::Queue,
        1 => DestinationKind::Exchange,
        other => return Err(bad("binding", format!("unknown destination kind {other}"))),
    };
    Ok(Binding {
        source: r.string()?,
        destination: r.string()?,
        destination_kind,
        routing_key: r.string()?,
        arguments: r.table()?,
        // Field order above is the encoding order; keep it that way.
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use warren_codec::{FieldValue, ShortStr};

    fn args() -> FieldTable {
        let mut t = FieldTable::new();
        t.insert(ShortStr::from_static("x-max-length"), FieldValue::I32(10));
        t.insert(
            ShortStr::from_static("x-dead-letter-exchange"),
            FieldValue::LongStr("dlx".into()),
        );
        t
    }

    #[test]
    fn foreign_definitions_are_errors() {
        assert!(decode_exchange(&Bytes::from_static(&[9, 0])).is_err());
        assert!(decode_queue(&Bytes::from_static(&[1, 0, 0, 0, 0, 9])).is_err());
    }

    #[test]
    fn definitions_round_trip() {
        let x = ExchangeMeta {
            kind: ExchangeKind::Topic,
            durable: true,
            auto_delete: true,
            internal: false,
            arguments: args(),
            delayed: true,
        };
        let back = decode_exchange(&encode_exchange(&x)).unwrap();
        assert_eq!(back.kind, x.kind);
        assert!(back.delayed);
        assert!(back.auto_delete && !back.internal);
        assert_eq!(back.arguments, x.arguments);

        let q = QueueOptions {
            durable: true,
            exclusive_owner: None,
            auto_delete: false,
            arguments: args(),
        };
        let back = decode_queue(&encode_queue(&q)).unwrap();
        assert!(back.durable && !back.auto_delete);
        assert_eq!(back.arguments, q.arguments);

        let b = Binding {
            source: "amq.topic".into(),
            destination: "payments".into(),
            destination_kind: DestinationKind::Queue,
            routing_key: "order.*".into(),
            arguments: args(),
        };
        let back = decode_binding(&encode_binding_of(&b)).unwrap();
        assert_eq!(back.source, b.source);
        assert_eq!(back.destination, b.destination);
        assert_eq!(back.destination_kind, b.destination_kind);
        assert_eq!(back.routing_key, b.routing_key);
        assert_eq!(back.arguments, b.arguments);
    }
}

//! The byte formats of what the broker keeps in the durable store: exchange, queue and binding
//! definitions and persistent messages. Pure encoding and decoding, no I/O.
//!
//! The store (`warren-store`) keeps opaque bytes; these formats are the server's. Each one
//! starts with a version byte so a later release can read what an older one wrote.

use super::ExchangeMeta;
use crate::message::{Message, Route};
use crate::queue::QueueOptions;
use bytes::{BufMut, Bytes, BytesMut};
use warren_codec::FieldTable;
use warren_routing::{Binding, DestinationKind, ExchangeKind};

const FORMAT_V1: u8 = 1;
/// Messages only: v1 plus the publish time, so TTL clocks survive a restart.
const FORMAT_V2: u8 = 2;

/// Why a stored record could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("unreadable stored {what}: {detail}")]
pub(crate) struct FormatError {
    what: &'static str,
    detail: String,
}

fn bad(what: &'static str, detail: impl Into<String>) -> FormatError {
    FormatError {
        what,
        detail: detail.into(),
    }
}

/// A cursor over a stored record.
struct Reader<'a> {
    base: &'a Bytes,
    at: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(base: &'a Bytes, what: &'static str) -> Result<Self, FormatError> {
        Self::new_versioned(base, what, &[FORMAT_V1]).map(|(r, _)| r)
    }

    /// A reader past the version byte, which must be one of `accepted`; and the version.
    fn new_versioned(
        base: &'a Bytes,
        what: &'static str,
        accepted: &[u8],
    ) -> Result<(Self, u8), FormatError> {
        let mut r = Reader { base, at: 0, what };
        let version = r.u8()?;
        if !accepted.contains(&version) {
            return Err(bad(what, format!("unknown format version {version}")));
        }
        Ok((r, version))
    }

    fn u64(&mut self) -> Result<u64, FormatError> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    }

    fn take(&mut self, n: usize) -> Result<Bytes, FormatError> {
        if self.base.len() - self.at < n {
            return Err(bad(self.what, "truncated"));
        }
        let out = self.base.slice(self.at..self.at + n);
        self.at += n;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, FormatError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn short(&mut self) -> Result<Bytes, FormatError> {
        let n = self.u8()? as usize;
        self.take(n)
    }

    fn string(&mut self) -> Result<String, FormatError> {
        let b = self.short()?;
        String::from_utf8(b.to_vec()).map_err(|_| bad(self.what, "name is not UTF-8"))
    }

    fn table(&mut self) -> Result<FieldTable, FormatError> {
        let n = self.u32()? as usize;
        self.at -= 4;
        let bytes = self.take(n + 4)?;
        FieldTable::decode_bytes(&bytes).map_err(|e| bad(self.what, e.to_string()))
    }

    fn rest(&mut self) -> Bytes {
        let out = self.base.slice(self.at..);
        self.at = self.base.len();
        out
    }
}

fn put_short(out: &mut BytesMut, s: &[u8]) {
    // Names come from short strings (at most 255 bytes), so the length fits a byte.
    let n = s.len().min(255);
    out.put_u8(n as u8);
    out.put_slice(&s[..n]);
}

// ----- messages -----

/// `v2 ‖ published at:u64 (ms since the epoch) ‖ exchange:short ‖ routing key:short ‖
/// properties:u32-prefixed ‖ body (the rest)`. (v1, still read, had no publish time.)
pub(crate) fn encode_message(m: &Message, published_at_ms: u64) -> Bytes {
    let mut out = BytesMut::with_capacity(
        1 + 8
            + 2
            + m.exchange().len()
            + m.routing_key().len()
            + 4
            + m.properties().len()
            + m.body_len(),
    );
    out.put_u8(FORMAT_V2);
    out.put_u64(published_at_ms);
    put_short(&mut out, m.exchange());
    put_short(&mut out, m.routing_key());
    out.put_u32(m.properties().len() as u32);
    out.put_slice(m.properties());
    out.put_slice(m.body());
    out.freeze()
}

/// The inverse of [`encode_message`] (the parts are copied into a new [`Message`]), and the
/// publish time (`None` for a v1 record, which has none).
/// `last_route`: the route of the previous message read, shared when this one has the same
/// (a page of one queue's messages mostly does); replaced when it differs.
pub(crate) fn decode_message_timed(
    bytes: &Bytes,
    last_route: &mut Option<Route>,
) -> Result<(Message, Option<u64>), FormatError> {
    let (mut r, version) = Reader::new_versioned(bytes, "message", &[FORMAT_V1, FORMAT_V2])?;
    let published_at = if version == FORMAT_V2 {
        Some(r.u64()?)
    } else {
        None
    };
    let exchange = r.short()?;
    let routing_key = r.short()?;
    let props_len = r.u32()? as usize;
    let properties = r.take(props_len)?;
    let body = r.rest();
    let route = match last_route {
        Some(route) if route.is(&exchange, &routing_key) => route.clone(),
        _ => last_route
            .insert(Route::new(&exchange, &routing_key))
            .clone(),
    };
    Ok((Message::new(route, &properties, &body, true), published_at))
}

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

pub(super) fn decode_exchange(bytes: &Bytes) -> Result<ExchangeMeta, FormatError> {
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

pub(super) fn decode_queue(bytes: &Bytes) -> Result<QueueOptions, FormatError> {
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

pub(super) fn decode_binding(bytes: &Bytes) -> Result<Binding, FormatError> {
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
    fn message_round_trips_and_shares_repeated_routes() {
        let m = Message::new(
            Route::new(b"orders", b"order.placed"),
            &[0x10, 0x00, 2],
            b"hello",
            true,
        );
        let bytes = encode_message(&m, 1_700_000_000_123);
        let mut last = None;
        let (back, at) = decode_message_timed(&bytes, &mut last).unwrap();
        assert_eq!(at, Some(1_700_000_000_123));
        assert_eq!(back.exchange(), m.exchange());
        assert_eq!(back.routing_key(), m.routing_key());
        assert_eq!(back.properties(), m.properties());
        assert_eq!(back.body(), m.body());
        assert!(back.persistent());
        let (again, _) = decode_message_timed(&bytes, &mut last).unwrap();
        assert!(Route::ptr_eq(back.route(), again.route()));
    }

    #[test]
    fn truncated_or_foreign_records_are_errors() {
        let m = Message::new(Route::new(b"x", b"k"), &[0, 0], b"", true);
        let bytes = encode_message(&m, 0);
        for n in 0..bytes.len() - 1 {
            assert!(
                decode_message_timed(&bytes.slice(..n), &mut None).is_err(),
                "prefix {n}"
            );
        }
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

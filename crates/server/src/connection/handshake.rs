//! The connection handshake: protocol header, connection.start / start-ok (SASL PLAIN and
//! AMQPLAIN, and EXTERNAL over TLS: `external`), tune / tune-ok, open / open-ok, all within the
//! handshake timeout.
//!
//! Until tune-ok, frames are capped at 4096 bytes (the spec's frame-min-size), so a client
//! cannot make us buffer a large frame before it has logged in.

use super::closing::{Closing, SILENT_CLOSE_DELAY};
use super::external;
use super::outbox::Outbox;
use super::transport::Reader;
use crate::access::User;
use crate::broker::Broker;
use crate::error::AmqpError;
use crate::tls::TlsPeer;
use crate::vhost::Vhost;
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tracing::{debug, warn};
use warren_codec::frame::{self, decode_protocol_header, FrameDecoder, PROTOCOL_HEADER};
use warren_codec::generated::{
    ConnectionOpenOk, ConnectionStart, ConnectionStartOk, ConnectionTune, ConnectionTuneOk,
    FRAME_MIN_SIZE,
};
use warren_codec::{
    FieldTable, FieldValue, Frame, LongStr, Method, ProtocolHeader, ReplyCode, ShortStr,
};

pub(super) struct Handshake {
    pub(super) reader: Reader,
    pub(super) read_buf: BytesMut,
    pub(super) vhost: Arc<Vhost>,
    /// Who logged in (tags and limits as at login).
    pub(super) user: Arc<User>,
    pub(super) frame_max: u32,
    pub(super) channel_max: u16,
    pub(super) heartbeat: u16,
    pub(super) cancel_notify: bool,
    /// The client advertised the `connection.blocked` capability.
    pub(super) blocked_notify: bool,
}

enum Failure {
    /// The peer left or the handshake timed out: just drop the socket.
    Gone,
    /// A refused login the client cannot be told about (it did not ask for
    /// authentication_failure_close): keep the socket for RabbitMQ's silent close delay.
    Refused,
    /// Send connection.close with this error, wait for close-ok, then drop the socket.
    Close(AmqpError),
}

impl From<AmqpError> for Failure {
    fn from(e: AmqpError) -> Self {
        Failure::Close(e)
    }
}

struct Io<'a> {
    reader: Reader,
    buf: BytesMut,
    decoder: FrameDecoder,
    writer: &'a Outbox,
}

impl<'a> Io<'a> {
    fn into_closing(self, timeout: Duration, trust_frames: bool) -> Closing<'a> {
        Closing {
            reader: self.reader,
            buf: self.buf,
            decoder: self.decoder,
            writer: self.writer,
            timeout,
            trust_frames,
        }
    }

    fn send(&self, method: Method) {
        let mut out = BytesMut::with_capacity(512);
        frame::encode_method(0, &method, &mut out);
        self.writer.send(out.freeze(), 0);
    }

    async fn fill(&mut self) -> Result<(), Failure> {
        // Small steps: handshake frames are a few hundred bytes, and a burst of clients all in
        // their handshake at once would otherwise each hold a 4 KiB buffer (RSS that stays).
        // A frame larger than this gets its full size reserved by the decoder.
        self.buf.reserve(HANDSHAKE_READ);
        match self.reader.read_buf(&mut self.buf).await {
            Ok(n) if n > 0 => Ok(()),
            _ => Err(Failure::Gone),
        }
    }

    /// The next method on channel 0; heartbeats are skipped, anything else is an error.
    async fn next_method(&mut self) -> Result<Method, Failure> {
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(Frame::Heartbeat)) => continue,
                Ok(Some(Frame::Method { channel: 0, method })) => return Ok(method),
                Ok(Some(_)) => {
                    return Err(Failure::Close(AmqpError::command_invalid(
                        "unexpected frame during the connection handshake",
                    )))
                }
                Ok(None) => self.fill().await?,
                Err(e) => return Err(Failure::Close(e.into())),
            }
        }
    }
}

fn server_properties() -> FieldTable {
    let s = |k: &'static str| ShortStr::from_static(k);
    let text = |v: &str| FieldValue::LongStr(LongStr::from(v));
    let mut caps = FieldTable::new();
    for cap in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "authentication_failure_close",
        "per_consumer_qos",
        "consumer_priorities",
        "direct_reply_to",
    ] {
        caps.push(s(cap), FieldValue::Bool(true));
    }
    let mut props = FieldTable::new();
    props.push(s("capabilities"), FieldValue::Table(caps));
    props.push(s("cluster_name"), text("warren"));
    props.push(s("copyright"), text("The Warren authors"));
    props.push(
        s("information"),
        text("Warren, an AMQP 0-9-1 broker in Rust"),
    );
    props.push(s("platform"), text("Rust"));
    props.push(s("product"), text("Warren"));
    props.push(s("version"), text(env!("CARGO_PKG_VERSION")));
    props
}

/// Read step while the handshake runs.
const HANDSHAKE_READ: usize = 512;

/// Runs the handshake. An error means the connection is finished: gone (`None`), or refused
/// and closing (the caller lets go of the broker before it waits for the client).
pub(super) async fn run<'a>(
    broker: &Arc<Broker>,
    reader: Reader,
    peer: SocketAddr,
    writer: &'a Outbox,
    tls: Option<&TlsPeer>,
) -> Result<Handshake, Option<Closing<'a>>> {
    let mut io = Io {
        reader,
        buf: BytesMut::new(),
        decoder: FrameDecoder::new(FRAME_MIN_SIZE),
        writer,
    };
    let timeout = broker.config.handshake_timeout;
    match tokio::time::timeout(timeout, negotiate(broker, &mut io, peer, tls)).await {
        Ok(Ok(n)) => Ok(Handshake {
            reader: io.reader,
            read_buf: io.buf,
            vhost: n.vhost,
            user: n.user,
            frame_max: n.frame_max,
            channel_max: n.channel_max,
            heartbeat: n.heartbeat,
            cancel_notify: n.cancel_notify,
            blocked_notify: n.blocked_notify,
        }),
        Ok(Err(Failure::Close(err))) => {
            warn!(%peer, error = %err, "closing connection during handshake");
            io.send(err.to_connection_close());
            // RabbitMQ waits for close-ok: its closing timeout once connection.open was
            // refused (an open connection's close), its silent close delay before that.
            let timeout = if (err.class_id, err.method_id) == (10, 40) {
                broker.config.closing_timeout
            } else {
                SILENT_CLOSE_DELAY
            };
            let trust_frames = !matches!(err.code, ReplyCode::FrameError | ReplyCode::SyntaxError);
            Err(Some(io.into_closing(timeout, trust_frames)))
        }
        Ok(Err(Failure::Refused)) => Err(Some(io.into_closing(SILENT_CLOSE_DELAY, false))),
        Ok(Err(Failure::Gone)) => Err(None),
        Err(_) => {
            warn!(%peer, "handshake timeout: closing connection");
            Err(None)
        }
    }
}

/// What the handshake settled.
struct Negotiated {
    vhost: Arc<Vhost>,
    user: Arc<User>,
    frame_max: u32,
    channel_max: u16,
    heartbeat: u16,
    cancel_notify: bool,
    blocked_notify: bool,
}

async fn negotiate(
    broker: &Arc<Broker>,
    io: &mut Io<'_>,
    peer: SocketAddr,
    tls: Option<&TlsPeer>,
) -> Result<Negotiated, Failure> {
    loop {
        match decode_protocol_header(&mut io.buf) {
            Some(ProtocolHeader::Amqp091) => break,
            Some(ProtocolHeader::Unsupported(seen)) => {
                debug!(%peer, ?seen, "unsupported protocol header");
                io.writer.send(Bytes::from_static(&PROTOCOL_HEADER), 0);
                return Err(Failure::Gone);
            }
            None => io.fill().await?,
        }
    }
    let config = &broker.config;
    io.send(Method::ConnectionStart(ConnectionStart {
        version_major: 0,
        version_minor: 9,
        server_properties: server_properties(),
        mechanisms: LongStr::from(external::mechanisms(config, tls.is_some())),
        locales: LongStr::from("en_US"),
    }));

    let start_ok = match io.next_method().await? {
        Method::ConnectionStartOk(m) => m,
        other => {
            return Err(AmqpError::command_invalid(format!(
                "expected 'connection.start_ok', got '{}'",
                other.name()
            ))
            .on(&other)
            .into())
        }
    };
    let caps = start_ok
        .client_properties
        .get("capabilities")
        .and_then(FieldValue::as_table);
    let cap = |name: &str| {
        caps.and_then(|c| c.get(name))
            .and_then(FieldValue::as_bool)
            .unwrap_or(false)
    };
    let failure_close = cap("authentication_failure_close");
    let user = authenticate(broker, &start_ok, peer, failure_close, tls)?;

    io.send(Method::ConnectionTune(ConnectionTune {
        channel_max: config.channel_max,
        frame_max: config.frame_max,
        heartbeat: config.heartbeat,
    }));
    let tune_ok = match io.next_method().await? {
        Method::ConnectionTuneOk(m) => m,
        other => {
            return Err(AmqpError::command_invalid(format!(
                "expected 'connection.tune_ok', got '{}'",
                other.name()
            ))
            .on(&other)
            .into())
        }
    };
    let (frame_max, channel_max) = validate_tune(config, &tune_ok)?;
    io.decoder.set_frame_max(frame_max);

    let open = match io.next_method().await? {
        Method::ConnectionOpen(m) => m,
        other => {
            return Err(AmqpError::command_invalid(format!(
                "expected 'connection.open', got '{}'",
                other.name()
            ))
            .on(&other)
            .into())
        }
    };
    let vhost_name = open.virtual_host.to_string_lossy();
    let vhost = broker.open_vhost(&user, &vhost_name)?;
    io.send(Method::ConnectionOpenOk(ConnectionOpenOk {
        known_hosts: ShortStr::EMPTY,
    }));
    Ok(Negotiated {
        vhost,
        user,
        frame_max,
        channel_max,
        heartbeat: tune_ok.heartbeat,
        cancel_notify: cap("consumer_cancel_notify"),
        blocked_notify: cap("connection.blocked"),
    })
}

/// Checks the client's tune-ok against our limits with RabbitMQ's rule and wording
/// (`rabbit_reader:validate_negotiated_integer_value`): a value under the minimum, over our
/// maximum, or 0 ("no limit") while we have a limit is refused with 530 NOT_ALLOWED naming
/// `connection.tune`. RabbitMQ means to send that close (a `handle_exception` clause for the
/// tuning state); 3.10.8 misses the clause and drops the socket after 3 s instead, and we
/// keep the close so the client learns why.
fn validate_tune(
    config: &crate::config::Config,
    t: &ConnectionTuneOk,
) -> Result<(u32, u16), AmqpError> {
    negotiated("frame_max", FRAME_MIN_SIZE, config.frame_max, t.frame_max)?;
    negotiated(
        "channel_max",
        1,
        u32::from(config.channel_max),
        u32::from(t.channel_max),
    )?;
    let frame_max = match t.frame_max {
        0 => config.frame_max,
        f => f,
    };
    let channel_max = match t.channel_max {
        0 => config.channel_max,
        c => c,
    };
    Ok((frame_max, channel_max))
}

/// One tune-ok value against our `ours` (0: no limit) and the protocol minimum.
fn negotiated(field: &str, min: u32, ours: u32, client: u32) -> Result<(), AmqpError> {
    let detail = if field == "channel_max" && client == 0 {
        " (no limit)"
    } else {
        ""
    };
    let refused = |relation: &str, bound: u32| {
        Err(AmqpError::not_allowed(format!(
            "negotiated {field} = {client}{detail} is {relation} allowed value ({bound})"
        ))
        .with_ids(10, 30))
    };
    if client != 0 && client < min {
        return refused("lower than the minimum", min);
    }
    if ours != 0 && (client == 0 || client > ours) {
        return refused("higher than the maximum", ours);
    }
    Ok(())
}

/// Parses the SASL response and checks the credentials and the loopback restriction.
fn authenticate(
    broker: &Broker,
    start_ok: &ConnectionStartOk,
    peer: SocketAddr,
    failure_close: bool,
    tls: Option<&TlsPeer>,
) -> Result<Arc<User>, Failure> {
    let mechanism = start_ok.mechanism.to_string_lossy();
    if !external::offered(&broker.config, tls.is_some(), &mechanism) {
        // RabbitMQ refuses a mechanism it does not offer with a command_invalid it cannot send
        // in this state: nothing is sent, the socket closes after its silent close delay.
        warn!(%peer, %mechanism, "authentication mechanism not offered");
        return Err(Failure::Refused);
    }
    let creds = match &*mechanism {
        "PLAIN" => parse_plain(start_ok.response.as_bytes()),
        "AMQPLAIN" => parse_amqplain(start_ok.response.bytes()),
        // EXTERNAL: the name comes from the certificate, below.
        _ => None,
    };
    let refused = || {
        if failure_close {
            Failure::Close(
                // RabbitMQ's text and ids (0, 0): it names no method for a refused login.
                AmqpError::access_refused(format!(
                    "Login was refused using authentication mechanism {mechanism}. For details \
                     see the broker logfile."
                )),
            )
        } else {
            Failure::Refused
        }
    };
    if mechanism == "EXTERNAL" {
        let user = external::login(broker, tls, peer).ok_or_else(refused)?;
        if loopback_refused(&broker.config, &user.name, peer) {
            warn!(%peer, user = %user.name, "user can only connect via localhost");
            return Err(refused());
        }
        return Ok(user);
    }
    let Some((name, pass)) = creds else {
        // A syntax error to RabbitMQ, whatever the client's capabilities: the silent close.
        warn!(%peer, %mechanism, "malformed SASL response");
        return Err(Failure::Refused);
    };
    let Some(user) = broker.authenticate(&name, &pass) else {
        warn!(%peer, user = %name, "authentication failed: invalid credentials");
        return Err(refused());
    };
    if loopback_refused(&broker.config, &name, peer) {
        warn!(%peer, user = %name, "user can only connect via localhost");
        return Err(refused());
    }
    Ok(user)
}

/// RabbitMQ's `loopback_users`: guest may only log in from the same host. The check is on
/// the peer's address (an IPv4 peer on a dual-stack socket shows up as `::ffff:a.b.c.d`).
fn loopback_refused(config: &crate::config::Config, user: &str, peer: SocketAddr) -> bool {
    config.loopback_users.iter().any(|u| u == user) && !peer.ip().to_canonical().is_loopback()
}

/// PLAIN: `[authzid] NUL authcid NUL passwd`.
fn parse_plain(response: &[u8]) -> Option<(String, String)> {
    let mut parts = response.split(|b| *b == 0);
    let _authzid = parts.next()?;
    let user = std::str::from_utf8(parts.next()?).ok()?;
    let pass = std::str::from_utf8(parts.next()?).ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((user.to_string(), pass.to_string()))
}

/// AMQPLAIN: a field table's entries (no length prefix) with LOGIN and PASSWORD.
fn parse_amqplain(response: &Bytes) -> Option<(String, String)> {
    let mut framed = BytesMut::with_capacity(response.len() + 4);
    framed.extend_from_slice(&(response.len() as u32).to_be_bytes());
    framed.extend_from_slice(response);
    let table = FieldTable::decode_bytes(&framed.freeze()).ok()?;
    let user = table.get("LOGIN")?.as_str()?.to_string();
    let pass = table.get("PASSWORD")?.as_str()?.to_string();
    Some((user, pass))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_responses() {
        assert_eq!(
            parse_plain(b"\0guest\0guest"),
            Some(("guest".into(), "guest".into()))
        );
        assert_eq!(parse_plain(b"guest"), None);
        assert_eq!(
            parse_plain(b"\0u\0"),
            Some(("u".into(), String::new())),
            "empty password parses; the broker refuses it"
        );
    }

    #[test]
    fn guest_only_from_loopback_peers() {
        let config = crate::config::Config::default();
        let peer = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(!loopback_refused(&config, "guest", peer("127.0.0.1:5000")));
        assert!(!loopback_refused(&config, "guest", peer("[::1]:5000")));
        assert!(!loopback_refused(
            &config,
            "guest",
            peer("[::ffff:127.0.0.1]:5000")
        ));
        assert!(loopback_refused(&config, "guest", peer("192.0.2.7:5000")));
        assert!(loopback_refused(
            &config,
            "guest",
            peer("[::ffff:192.0.2.7]:5000")
        ));
        assert!(loopback_refused(
            &config,
            "guest",
            peer("[2001:db8::1]:5000")
        ));
        assert!(!loopback_refused(&config, "alice", peer("192.0.2.7:5000")));
    }

    #[test]
    fn amqplain_response() {
        let mut t = FieldTable::new();
        t.push(
            ShortStr::from_static("LOGIN"),
            FieldValue::LongStr("guest".into()),
        );
        t.push(
            ShortStr::from_static("PASSWORD"),
            FieldValue::LongStr("pw".into()),
        );
        let mut buf = BytesMut::new();
        t.encode(&mut buf);
        let body = buf.freeze().slice(4..);
        assert_eq!(parse_amqplain(&body), Some(("guest".into(), "pw".into())));
    }
}

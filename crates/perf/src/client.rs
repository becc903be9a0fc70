//! A minimal AMQP 0-9-1 client on `warren-codec`: handshake, synchronous setup calls, and the
//! split read/write halves the producer and consumer hot loops drive directly.
//!
//! It does only what a load generator needs. Setup (`Conn::call`) is one method out, one reply
//! in, on one task. For the measured phase the connection is split: the writer appends whole
//! frames into one buffer and sends them with one `write_all`, the reader decodes frames in
//! place from one read buffer. There is no dispatcher, no per-message allocation and no
//! per-message future, which is what keeps its CPU per message small (docs/benchmarks.md).
//! Heartbeats are turned off (`heartbeat = 0` in tune-ok), as runs are short.

use crate::tls::{ReadHalf, WriteHalf};
use bytes::{Buf, BytesMut};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warren_codec::frame::{self, RawFrame, PROTOCOL_HEADER};
use warren_codec::generated::{
    BasicConsume, BasicQos, ChannelClose, ChannelOpen, ConfirmSelect, ConnectionClose,
    ConnectionCloseOk, ConnectionOpen, ConnectionStartOk, ConnectionTuneOk, ExchangeDeclare,
    ExchangeDelete, QueueBind, QueueDeclare, QueueDelete, FRAME_BODY, FRAME_HEADER, FRAME_METHOD,
};
use warren_codec::{FieldTable, FieldValue, Frame, FrameDecoder, LongStr, Method, ShortStr};

/// The largest frame we ask for; the broker may lower it in connection.tune.
const CLIENT_FRAME_MAX: u32 = 131_072;
/// How long one setup call may wait for its reply.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Read buffer growth step.
const READ_CHUNK: usize = 64 * 1024;

/// Client errors.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad frame from broker: {0}")]
    Decode(#[from] warren_codec::DecodeError),
    #[error("broker closed the connection: {code} {text}")]
    ConnectionClosed { code: u16, text: String },
    #[error("broker closed channel {channel}: {code} {text}")]
    ChannelClosed {
        channel: u16,
        code: u16,
        text: String,
    },
    #[error("connection closed by peer (EOF)")]
    Eof,
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("timed out: {0}")]
    Timeout(&'static str),
    #[error("bad URI: {0}")]
    Uri(String),
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// `amqp://user:pass@host:port/vhost` (or `amqps://`), the parts a load generator needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpUri {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub vhost: String,
    /// `amqps://`: TLS (see `crate::tls`).
    pub tls: bool,
}

impl std::str::FromStr for AmqpUri {
    type Err = ClientError;

    /// Parses `amqp[s]://[user[:pass]@]host[:port][/vhost]`. The vhost is percent-decoded
    /// (`%2f` is `/`); no path means `/`, as in RabbitMQ's clients.
    fn from_str(s: &str) -> Result<Self> {
        let (tls, rest) = match (s.strip_prefix("amqp://"), s.strip_prefix("amqps://")) {
            (Some(rest), _) => (false, rest),
            (_, Some(rest)) => (true, rest),
            _ => return Err(ClientError::Uri(format!("{s}: only amqp:// and amqps://"))),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.find(':') {
                Some(i) => (percent_decode(&u[..i])?, percent_decode(&u[i + 1..])?),
                None => (percent_decode(u)?, String::new()),
            },
            None => ("guest".to_string(), "guest".to_string()),
        };
        let (host, port) = match hostport.rfind(':') {
            Some(i) if !hostport[i..].contains(']') => {
                let port = hostport[i + 1..]
                    .parse::<u16>()
                    .map_err(|_| ClientError::Uri(format!("{s}: bad port")))?;
                (&hostport[..i], port)
            }
            _ => (hostport, if tls { 5671 } else { 5672 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(ClientError::Uri(format!("{s}: no host")));
        }
        let vhost = match path {
            None => "/".to_string(),
            Some(p) => percent_decode(p)?,
        };
        Ok(AmqpUri {
            host: host.to_string(),
            port,
            user,
            password,
            vhost,
            tls,
        })
    }
}

fn percent_decode(s: &str) -> Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| ClientError::Uri(format!("bad percent escape in {s}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ClientError::Uri(format!("{s} is not UTF-8")))
}

fn short(s: &str) -> ShortStr {
    ShortStr::new(s.as_bytes().to_vec()).unwrap_or_default()
}

/// Turns a connection.close or channel.close from the broker into an error.
fn close_error(channel: u16, m: &Method) -> Option<ClientError> {
    match m {
        Method::ConnectionClose(c) => Some(ClientError::ConnectionClosed {
            code: c.reply_code,
            text: c.reply_text.to_string_lossy().into_owned(),
        }),
        Method::ChannelClose(c) => Some(ClientError::ChannelClosed {
            channel,
            code: c.reply_code,
            text: c.reply_text.to_string_lossy().into_owned(),
        }),
        _ => None,
    }
}

/// The read side: a socket half, its buffer and the negotiated decoder.
pub struct ConnReader {
    half: ReadHalf,
    buf: BytesMut,
    decoder: FrameDecoder,
}

impl ConnReader {
    /// The next complete raw frame already in the buffer, without reading.
    pub fn next_buffered(&mut self) -> Result<Option<RawFrame>> {
        Ok(self.decoder.decode_raw(&mut self.buf)?)
    }

    /// Reads more bytes from the socket into the buffer (at least one, or an error).
    pub async fn fill(&mut self) -> Result<()> {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        let n = self.half.read_buf(&mut self.buf).await?;
        if n == 0 {
            return Err(ClientError::Eof);
        }
        Ok(())
    }

    /// The next frame, reading as needed.
    pub async fn next_frame(&mut self) -> Result<RawFrame> {
        loop {
            if let Some(f) = self.next_buffered()? {
                return Ok(f);
            }
            self.fill().await?;
        }
    }
}

/// The write side: a socket half and the buffer frames are appended to before a flush.
pub struct ConnWriter {
    half: WriteHalf,
    /// Frames waiting to be sent; append with the codec's encoders, then [`ConnWriter::flush`].
    pub buf: BytesMut,
    frame_max: u32,
}

impl ConnWriter {
    pub fn frame_max(&self) -> u32 {
        self.frame_max
    }

    /// Appends a method frame to the buffer.
    pub fn push_method(&mut self, channel: u16, m: &Method) {
        frame::encode_method(channel, m, &mut self.buf);
    }

    /// One `write` of a prefix of `data` (cancel-safe, unlike `write_all`); how many bytes
    /// went out.
    pub async fn write_some(&mut self, data: &[u8]) -> Result<usize> {
        let n = self.half.write(data).await?;
        if n == 0 {
            return Err(ClientError::Eof);
        }
        if self.half.buffers() {
            self.half.flush().await?;
        }
        Ok(n)
    }

    /// Writes out everything buffered.
    pub async fn flush(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.half.write_all(&self.buf).await?;
            self.buf.clear();
            if self.half.buffers() {
                self.half.flush().await?;
            }
        }
        Ok(())
    }
}

/// An open connection in setup mode.
pub struct Conn {
    r: ConnReader,
    w: ConnWriter,
}

impl Conn {
    /// Connects, authenticates with PLAIN, tunes (heartbeats off) and opens the vhost.
    pub async fn connect(uri: &AmqpUri, name: &str) -> Result<Conn> {
        let stream = tokio::time::timeout(
            CALL_TIMEOUT,
            TcpStream::connect((uri.host.as_str(), uri.port)),
        )
        .await
        .map_err(|_| ClientError::Timeout("TCP connect"))??;
        stream.set_nodelay(true)?;
        let (rh, wh) = crate::tls::split(stream, &uri.host, uri.tls).await?;
        let mut c = Conn {
            r: ConnReader {
                half: rh,
                buf: BytesMut::with_capacity(READ_CHUNK),
                decoder: FrameDecoder::default(),
            },
            w: ConnWriter {
                half: wh,
                buf: BytesMut::with_capacity(READ_CHUNK),
                frame_max: CLIENT_FRAME_MAX,
            },
        };
        c.w.buf.extend_from_slice(&PROTOCOL_HEADER);
        c.w.flush().await?;
        tokio::time::timeout(CALL_TIMEOUT, c.handshake(uri, name))
            .await
            .map_err(|_| ClientError::Timeout("connection handshake"))??;
        Ok(c)
    }

    async fn handshake(&mut self, uri: &AmqpUri, name: &str) -> Result<()> {
        match self.next_method(0).await? {
            Method::ConnectionStart(s) => {
                let mechs = s.mechanisms.to_string_lossy();
                if !mechs.split(' ').any(|m| m == "PLAIN") {
                    return Err(ClientError::Protocol(format!("no PLAIN in {mechs}")));
                }
            }
            other => return Err(unexpected("connection.start", &other)),
        }
        let mut caps = FieldTable::new();
        for cap in [
            "publisher_confirms",
            "basic.nack",
            "consumer_cancel_notify",
            "connection.blocked",
        ] {
            caps.push(short(cap), FieldValue::Bool(true));
        }
        let mut props = FieldTable::new();
        props.push(short("product"), FieldValue::LongStr("warren-perf".into()));
        props.push(
            short("connection_name"),
            FieldValue::LongStr(name.to_string().into()),
        );
        props.push(short("capabilities"), FieldValue::Table(caps));
        let response = format!("\0{}\0{}", uri.user, uri.password);
        self.send(
            0,
            &Method::ConnectionStartOk(ConnectionStartOk {
                client_properties: props,
                mechanism: short("PLAIN"),
                response: LongStr::from(response),
                locale: short("en_US"),
            }),
        )
        .await?;
        let tune = match self.next_method(0).await? {
            Method::ConnectionTune(t) => t,
            other => return Err(unexpected("connection.tune", &other)),
        };
        let frame_max = match tune.frame_max {
            0 => CLIENT_FRAME_MAX,
            n => n.min(CLIENT_FRAME_MAX),
        };
        let channel_max = match tune.channel_max {
            0 => 2047,
            n => n.min(2047),
        };
        self.send(
            0,
            &Method::ConnectionTuneOk(ConnectionTuneOk {
                channel_max,
                frame_max,
                heartbeat: 0,
            }),
        )
        .await?;
        self.r.decoder.set_frame_max(frame_max);
        self.w.frame_max = frame_max;
        self.send(
            0,
            &Method::ConnectionOpen(ConnectionOpen {
                virtual_host: short(&uri.vhost),
                ..Default::default()
            }),
        )
        .await?;
        match self.next_method(0).await? {
            Method::ConnectionOpenOk(_) => Ok(()),
            other => Err(unexpected("connection.open-ok", &other)),
        }
    }

    /// Sends one method frame now.
    pub async fn send(&mut self, channel: u16, m: &Method) -> Result<()> {
        self.w.push_method(channel, m);
        self.w.flush().await
    }

    /// The next method frame on `channel`, skipping heartbeats and content frames, and turning
    /// a close from the broker into an error (after answering it).
    async fn next_method(&mut self, channel: u16) -> Result<Method> {
        loop {
            let raw = self.r.next_frame().await?;
            if raw.kind != FRAME_METHOD {
                continue;
            }
            let ch = raw.channel;
            let Frame::Method { method, .. } = raw.decode()? else {
                continue;
            };
            if let Some(err) = close_error(ch, &method) {
                let reply = match method {
                    Method::ConnectionClose(_) => Method::ConnectionCloseOk(ConnectionCloseOk {}),
                    _ => Method::ChannelCloseOk(Default::default()),
                };
                let _ = self.send(ch, &reply).await;
                return Err(err);
            }
            if ch == channel {
                return Ok(method);
            }
        }
    }

    /// Sends `m` on `channel` and waits for the reply method on that channel.
    pub async fn call(&mut self, channel: u16, m: Method) -> Result<Method> {
        self.send(channel, &m).await?;
        tokio::time::timeout(CALL_TIMEOUT, self.next_method(channel))
            .await
            .map_err(|_| ClientError::Timeout("reply to a setup call"))?
    }

    pub async fn open_channel(&mut self, channel: u16) -> Result<()> {
        match self
            .call(channel, Method::ChannelOpen(ChannelOpen::default()))
            .await?
        {
            Method::ChannelOpenOk(_) => Ok(()),
            other => Err(unexpected("channel.open-ok", &other)),
        }
    }

    pub async fn declare_exchange(
        &mut self,
        ch: u16,
        name: &str,
        kind: &str,
        durable: bool,
    ) -> Result<()> {
        let m = Method::ExchangeDeclare(ExchangeDeclare {
            exchange: short(name),
            kind: short(kind),
            durable,
            ..Default::default()
        });
        expect(self.call(ch, m).await?, "exchange.declare-ok", |m| {
            matches!(m, Method::ExchangeDeclareOk(_))
        })
    }

    /// Declares a queue; returns its message count.
    pub async fn declare_queue(&mut self, ch: u16, name: &str, durable: bool) -> Result<u32> {
        self.declare_queue_with(ch, name, durable, FieldTable::new())
            .await
    }

    /// Declares a queue with arguments (`x-message-ttl`, `x-dead-letter-exchange`, ...);
    /// returns its message count.
    pub async fn declare_queue_with(
        &mut self,
        ch: u16,
        name: &str,
        durable: bool,
        arguments: FieldTable,
    ) -> Result<u32> {
        let m = Method::QueueDeclare(QueueDeclare {
            queue: short(name),
            durable,
            arguments,
            ..Default::default()
        });
        match self.call(ch, m).await? {
            Method::QueueDeclareOk(ok) => Ok(ok.message_count),
            other => Err(unexpected("queue.declare-ok", &other)),
        }
    }

    /// Declares `name` passively (it must exist); returns its message count.
    pub async fn passive_declare(&mut self, ch: u16, name: &str) -> Result<u32> {
        let m = Method::QueueDeclare(QueueDeclare {
            queue: short(name),
            passive: true,
            ..Default::default()
        });
        match self.call(ch, m).await? {
            Method::QueueDeclareOk(ok) => Ok(ok.message_count),
            other => Err(unexpected("queue.declare-ok", &other)),
        }
    }

    /// Declares a server-named, exclusive, auto-delete, non-durable queue (queue.declare with
    /// an empty name); returns the name the broker generated. The broker deletes it when this
    /// connection closes.
    pub async fn declare_exclusive_queue(&mut self, ch: u16) -> Result<String> {
        let m = Method::QueueDeclare(QueueDeclare {
            queue: short(""),
            exclusive: true,
            auto_delete: true,
            ..Default::default()
        });
        match self.call(ch, m).await? {
            Method::QueueDeclareOk(ok) if !ok.queue.as_bytes().is_empty() => {
                Ok(ok.queue.to_string_lossy().into_owned())
            }
            Method::QueueDeclareOk(_) => Err(ClientError::Protocol(
                "queue.declare-ok without a generated queue name".into(),
            )),
            other => Err(unexpected("queue.declare-ok", &other)),
        }
    }

    pub async fn bind_queue(
        &mut self,
        ch: u16,
        queue: &str,
        exchange: &str,
        key: &str,
    ) -> Result<()> {
        let m = Method::QueueBind(QueueBind {
            queue: short(queue),
            exchange: short(exchange),
            routing_key: short(key),
            ..Default::default()
        });
        expect(self.call(ch, m).await?, "queue.bind-ok", |m| {
            matches!(m, Method::QueueBindOk(_))
        })
    }

    /// Sends many queue.binds and then waits for all the replies (pipelined setup).
    pub async fn bind_many(&mut self, ch: u16, binds: &[(String, String, String)]) -> Result<()> {
        for chunk in binds.chunks(256) {
            for (queue, exchange, key) in chunk {
                let m = Method::QueueBind(QueueBind {
                    queue: short(queue),
                    exchange: short(exchange),
                    routing_key: short(key),
                    ..Default::default()
                });
                self.w.push_method(ch, &m);
            }
            self.w.flush().await?;
            for _ in chunk {
                let reply = tokio::time::timeout(CALL_TIMEOUT, self.next_method(ch))
                    .await
                    .map_err(|_| ClientError::Timeout("queue.bind-ok"))??;
                expect(reply, "queue.bind-ok", |m| {
                    matches!(m, Method::QueueBindOk(_))
                })?;
            }
        }
        Ok(())
    }

    pub async fn delete_queue(&mut self, ch: u16, name: &str) -> Result<()> {
        let m = Method::QueueDelete(QueueDelete {
            queue: short(name),
            ..Default::default()
        });
        expect(self.call(ch, m).await?, "queue.delete-ok", |m| {
            matches!(m, Method::QueueDeleteOk(_))
        })
    }

    pub async fn delete_exchange(&mut self, ch: u16, name: &str) -> Result<()> {
        let m = Method::ExchangeDelete(ExchangeDelete {
            exchange: short(name),
            ..Default::default()
        });
        expect(self.call(ch, m).await?, "exchange.delete-ok", |m| {
            matches!(m, Method::ExchangeDeleteOk(_))
        })
    }

    pub async fn qos(&mut self, ch: u16, prefetch: u16) -> Result<()> {
        let m = Method::BasicQos(BasicQos {
            prefetch_count: prefetch,
            ..Default::default()
        });
        expect(self.call(ch, m).await?, "basic.qos-ok", |m| {
            matches!(m, Method::BasicQosOk(_))
        })
    }

    pub async fn confirm_select(&mut self, ch: u16) -> Result<()> {
        let m = Method::ConfirmSelect(ConfirmSelect { nowait: false });
        expect(self.call(ch, m).await?, "confirm.select-ok", |m| {
            matches!(m, Method::ConfirmSelectOk(_))
        })
    }

    /// Starts a consumer. Deliveries may follow consume-ok at once: call this last and then
    /// [`Conn::split`] to read them.
    pub async fn consume(&mut self, ch: u16, queue: &str, tag: &str, no_ack: bool) -> Result<()> {
        let m = Method::BasicConsume(BasicConsume {
            queue: short(queue),
            consumer_tag: short(tag),
            no_ack,
            ..Default::default()
        });
        expect(self.call(ch, m).await?, "basic.consume-ok", |m| {
            matches!(m, Method::BasicConsumeOk(_))
        })
    }

    /// Closes the channel (answering nothing else), then the connection, each bounded in time.
    pub async fn close(mut self) -> Result<()> {
        self.send(
            0,
            &Method::ConnectionClose(ConnectionClose {
                reply_code: 200,
                reply_text: short("bye"),
                class_id: 0,
                method_id: 0,
            }),
        )
        .await?;
        let wait = async {
            loop {
                let raw = self.r.next_frame().await?;
                if raw.kind == FRAME_METHOD && raw.channel == 0 {
                    if let Frame::Method { method, .. } = raw.decode()? {
                        if matches!(
                            method,
                            Method::ConnectionCloseOk(_) | Method::ConnectionClose(_)
                        ) {
                            return Ok::<(), ClientError>(());
                        }
                    }
                }
            }
        };
        match tokio::time::timeout(Duration::from_secs(5), wait).await {
            Ok(Ok(())) | Ok(Err(ClientError::Eof)) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ClientError::Timeout("connection.close-ok")),
        }
    }

    /// Closes one channel.
    pub async fn close_channel(&mut self, ch: u16) -> Result<()> {
        let m = Method::ChannelClose(ChannelClose {
            reply_code: 200,
            reply_text: short("bye"),
            class_id: 0,
            method_id: 0,
        });
        expect(self.call(ch, m).await?, "channel.close-ok", |m| {
            matches!(m, Method::ChannelCloseOk(_))
        })
    }

    /// Splits into the hot-loop halves. Bytes already read stay in the reader's buffer.
    pub fn split(self) -> (ConnReader, ConnWriter) {
        (self.r, self.w)
    }

    /// Puts the halves back together (for a clean close after the measured phase).
    pub fn reunite(r: ConnReader, w: ConnWriter) -> Conn {
        Conn { r, w }
    }
}

fn unexpected(wanted: &str, got: &Method) -> ClientError {
    ClientError::Protocol(format!(
        "expected {wanted}, got class {} method {}",
        got.class_id(),
        got.method_id()
    ))
}

fn expect(m: Method, wanted: &str, ok: impl Fn(&Method) -> bool) -> Result<()> {
    if ok(&m) {
        Ok(())
    } else {
        Err(unexpected(wanted, &m))
    }
}

/// What a hot loop needs to know about one incoming frame, parsed without building a
/// [`Method`] for the frames that come once per message.
#[derive(Debug)]
pub enum Incoming {
    /// basic.deliver: its delivery tag.
    Deliver {
        delivery_tag: u64,
    },
    /// basic.ack from a confirm-mode channel.
    Ack {
        delivery_tag: u64,
        multiple: bool,
    },
    /// basic.nack from a confirm-mode channel.
    Nack {
        delivery_tag: u64,
        multiple: bool,
    },
    /// A content header: the body size.
    Header {
        body_size: u64,
    },
    /// A body frame (a view of the read buffer).
    Body {
        payload: bytes::Bytes,
    },
    /// Any other method, fully decoded.
    Other {
        channel: u16,
        method: Method,
    },
    Heartbeat,
}

/// Classifies a raw frame; basic.deliver, basic.ack/nack, headers and bodies are read straight
/// from the bytes, everything else goes through the full decoder.
pub fn classify(raw: RawFrame) -> Result<Incoming> {
    let p = &raw.payload;
    match raw.kind {
        FRAME_METHOD if p.len() >= 4 => {
            let class = u16::from_be_bytes([p[0], p[1]]);
            let method = u16::from_be_bytes([p[2], p[3]]);
            match (class, method) {
                // deliver: consumer-tag shortstr, delivery-tag u64, ...
                (60, 60) if p.len() > 4 && p.len() >= 5 + p[4] as usize + 8 => {
                    let at = 5 + p[4] as usize;
                    let mut b = &p[at..at + 8];
                    Ok(Incoming::Deliver {
                        delivery_tag: b.get_u64(),
                    })
                }
                // ack: delivery-tag u64, multiple bit
                (60, 80) if p.len() >= 13 => Ok(Incoming::Ack {
                    delivery_tag: (&p[4..12]).get_u64(),
                    multiple: p[12] & 1 != 0,
                }),
                // nack: delivery-tag u64, multiple and requeue bits
                (60, 120) if p.len() >= 13 => Ok(Incoming::Nack {
                    delivery_tag: (&p[4..12]).get_u64(),
                    multiple: p[12] & 1 != 0,
                }),
                _ => match raw.decode()? {
                    Frame::Method { channel, method } => Ok(Incoming::Other { channel, method }),
                    _ => Err(ClientError::Protocol(
                        "method frame decoded as another kind".into(),
                    )),
                },
            }
        }
        FRAME_HEADER if p.len() >= 12 => Ok(Incoming::Header {
            body_size: (&p[4..12]).get_u64(),
        }),
        FRAME_BODY => Ok(Incoming::Body {
            payload: raw.payload,
        }),
        _ => match raw.decode()? {
            Frame::Heartbeat => Ok(Incoming::Heartbeat),
            Frame::Method { channel, method } => Ok(Incoming::Other { channel, method }),
            _ => Err(ClientError::Protocol("short frame".into())),
        },
    }
}

/// Bit of the first property-flags word that says a `headers` table is present.
const HEADERS_FLAG: u16 = 1 << 13;

/// How many times the message of a content header (a header frame's payload) was rejected from
/// `queue`: the `count` of its `x-death` entry for (`queue`, "rejected"), 0 without one.
///
/// Messages without headers (every first delivery in the retry pipeline) are answered from the
/// flags word alone; the others have their properties decoded, as any client would to read
/// `x-death`.
pub fn rejected_count(header_payload: &bytes::Bytes, queue: &str) -> Result<u64> {
    // class (2), weight (2), body size (8), then the property flags and list.
    if header_payload.len() < 14 {
        return Err(ClientError::Protocol("short content header".into()));
    }
    let flags = u16::from_be_bytes([header_payload[12], header_payload[13]]);
    if flags & HEADERS_FLAG == 0 {
        return Ok(0);
    }
    let props = warren_codec::BasicProperties::from_raw(&header_payload.slice(12..))?;
    let Some(FieldValue::Array(deaths)) = props.headers.as_ref().and_then(|h| h.get("x-death"))
    else {
        return Ok(0);
    };
    let count = deaths
        .0
        .iter()
        .filter_map(FieldValue::as_table)
        .find(|d| {
            d.get("queue").and_then(FieldValue::as_str) == Some(queue)
                && d.get("reason").and_then(FieldValue::as_str) == Some("rejected")
        })
        .and_then(|d| d.get("count"))
        .and_then(FieldValue::as_i64)
        .unwrap_or(0);
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Turns an unexpected method seen in a hot loop into an error if it is a close (answering
/// nothing: the loop ends and the connection is dropped), else ignores it.
pub fn check_other(channel: u16, m: &Method) -> Result<()> {
    match close_error(channel, m) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use warren_codec::generated::{BasicAck, BasicDeliver};
    use warren_codec::{BasicProperties, ContentHeader};

    #[test]
    fn uri_defaults_and_parts() {
        let u: AmqpUri = "amqp://127.0.0.1".parse().unwrap();
        assert_eq!(
            u,
            AmqpUri {
                host: "127.0.0.1".into(),
                port: 5672,
                user: "guest".into(),
                password: "guest".into(),
                vhost: "/".into(),
                tls: false,
            }
        );
        let u: AmqpUri = "amqps://localhost".parse().unwrap();
        assert_eq!((u.port, u.tls), (5671, true));
        let u: AmqpUri = "amqp://bob:s%40cret@localhost:5673/%2f".parse().unwrap();
        assert_eq!((u.user.as_str(), u.password.as_str()), ("bob", "s@cret"));
        assert_eq!(
            (u.host.as_str(), u.port, u.vhost.as_str()),
            ("localhost", 5673, "/")
        );
        let u: AmqpUri = "amqp://[::1]:5000/v1".parse().unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.vhost.as_str()),
            ("::1", 5000, "v1")
        );
        assert!("http://x".parse::<AmqpUri>().is_err());
        assert!("amqp://h:notaport".parse::<AmqpUri>().is_err());
    }

    /// The payload of a content header frame carrying `props`.
    fn header_payload(props: BasicProperties) -> Bytes {
        let mut b = BytesMut::new();
        ContentHeader::new(16, props).encode_payload(&mut b);
        b.freeze()
    }

    fn death(queue: &str, reason: &str, count: i64) -> FieldValue {
        let mut t = FieldTable::new();
        t.push(short("count"), FieldValue::I64(count));
        t.push(short("reason"), FieldValue::LongStr(reason.into()));
        t.push(short("queue"), FieldValue::LongStr(queue.into()));
        t.push(short("exchange"), FieldValue::LongStr("".into()));
        t.push(
            short("routing-keys"),
            FieldValue::Array(warren_codec::FieldArray(vec![FieldValue::LongStr(
                queue.into(),
            )])),
        );
        t.push(short("time"), FieldValue::Timestamp(1_700_000_000));
        FieldValue::Table(t)
    }

    #[test]
    fn rejected_count_reads_x_death_for_the_work_queue() {
        // No headers at all (a first delivery): answered from the flags word.
        let plain = header_payload(BasicProperties {
            delivery_mode: Some(1),
            ..Default::default()
        });
        assert_eq!(rejected_count(&plain, "work").unwrap(), 0);
        // After two trips: most recent first, one entry per (queue, reason), as brokers write it.
        let mut headers = FieldTable::new();
        headers.push(
            short("x-death"),
            FieldValue::Array(warren_codec::FieldArray(vec![
                death("retry", "expired", 2),
                death("work", "rejected", 2),
            ])),
        );
        headers.push(
            short("x-first-death-queue"),
            FieldValue::LongStr("work".into()),
        );
        let retried = header_payload(BasicProperties {
            delivery_mode: Some(1),
            headers: Some(headers),
            ..Default::default()
        });
        assert_eq!(rejected_count(&retried, "work").unwrap(), 2);
        // Expiries from the retry queue are not rejections from it; other queues count nothing.
        assert_eq!(rejected_count(&retried, "retry").unwrap(), 0);
        assert_eq!(rejected_count(&retried, "other").unwrap(), 0);
        // Headers without x-death.
        let mut other = FieldTable::new();
        other.push(short("app"), FieldValue::Bool(true));
        let other = header_payload(BasicProperties {
            headers: Some(other),
            ..Default::default()
        });
        assert_eq!(rejected_count(&other, "work").unwrap(), 0);
        assert!(rejected_count(&Bytes::from_static(&[0, 60, 0]), "work").is_err());
    }

    fn raw_of(f: &[u8]) -> RawFrame {
        let mut b = BytesMut::from(f);
        FrameDecoder::new(0).decode_raw(&mut b).unwrap().unwrap()
    }

    #[test]
    fn classify_reads_hot_frames_like_the_decoder() {
        let mut buf = BytesMut::new();
        let deliver = Method::BasicDeliver(BasicDeliver {
            consumer_tag: short("ctag-1"),
            delivery_tag: 987_654_321_012,
            redelivered: true,
            exchange: short("x"),
            routing_key: short("rk"),
        });
        let header = ContentHeader::new(16, BasicProperties::default());
        frame::encode_content(3, &deliver, &header, &[1u8; 16], 0, &mut buf);
        let mut dec_buf = buf.clone();
        let dec = FrameDecoder::new(0);
        let f1 = dec.decode_raw(&mut dec_buf).unwrap().unwrap();
        match classify(f1).unwrap() {
            Incoming::Deliver { delivery_tag } => assert_eq!(delivery_tag, 987_654_321_012),
            other => panic!("{other:?}"),
        }
        let f2 = dec.decode_raw(&mut dec_buf).unwrap().unwrap();
        assert!(matches!(
            classify(f2).unwrap(),
            Incoming::Header { body_size: 16 }
        ));
        let f3 = dec.decode_raw(&mut dec_buf).unwrap().unwrap();
        match classify(f3).unwrap() {
            Incoming::Body { payload } => assert_eq!(payload, Bytes::from_static(&[1u8; 16])),
            other => panic!("{other:?}"),
        }

        let mut ack = BytesMut::new();
        frame::encode_method(
            1,
            &Method::BasicAck(BasicAck {
                delivery_tag: 42,
                multiple: true,
            }),
            &mut ack,
        );
        assert!(matches!(
            classify(raw_of(&ack)).unwrap(),
            Incoming::Ack {
                delivery_tag: 42,
                multiple: true
            }
        ));
    }
}

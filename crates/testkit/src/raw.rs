//! A raw-socket AMQP client built on our codec, for the hostile-input tests: it sends what no
//! well-behaved client library can send, and reads the broker's frames one by one. It runs over
//! TCP, or over any other byte stream (a TLS client stream: [`RawClient::over`]).

use crate::wait::within;
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use warren_codec::frame::{self, FrameDecoder, PROTOCOL_HEADER};
use warren_codec::generated::{
    BasicPublish, ConnectionClose, ConnectionOpen, ConnectionStart, ConnectionStartOk,
    ConnectionTuneOk,
};
use warren_codec::{BasicProperties, ContentHeader, FieldTable, Frame, LongStr, Method, ShortStr};
use warren_server::Server;

/// How a [`RawClient::login`] ended.
#[derive(Debug)]
pub enum Login {
    /// connection.open-ok: the connection is open.
    Opened,
    /// The broker refused with connection.close (answered with close-ok).
    Closed(ConnectionClose),
    /// The broker closed the socket without a word.
    Dropped,
}

/// A byte-level AMQP client for sending what real clients never send.
pub struct RawClient<S = TcpStream> {
    pub stream: S,
    buf: BytesMut,
    decoder: FrameDecoder,
}

impl RawClient {
    pub async fn connect(server: &Server) -> RawClient {
        let stream = TcpStream::connect(server.local_addr())
            .await
            .expect("tcp connect");
        RawClient::over(stream)
    }

    /// A connection past the [`handshake`](Self::handshake).
    pub async fn open(server: &Server) -> RawClient {
        let mut c = RawClient::connect(server).await;
        c.handshake().await;
        c
    }

    /// A connection past the handshake, with channel 1 open.
    pub async fn with_channel_1(server: &Server) -> RawClient {
        let mut c = RawClient::open(server).await;
        c.open_channel(1).await;
        c
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> RawClient<S> {
    /// A client over an established byte stream (no bytes sent yet).
    pub fn over(stream: S) -> RawClient<S> {
        RawClient {
            stream,
            buf: BytesMut::new(),
            decoder: FrameDecoder::new(0),
        }
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        // The broker may already have closed; a failed write shows up as the next read's EOF.
        let _ = self.stream.write_all(bytes).await;
    }

    pub async fn send_method(&mut self, channel: u16, method: Method) {
        let mut out = BytesMut::new();
        frame::encode_method(channel, &method, &mut out);
        self.send_bytes(&out).await;
    }

    /// A whole basic.publish (method, header with `props`, one body frame) to the default
    /// exchange with routing key `routing_key`.
    pub async fn publish(
        &mut self,
        channel: u16,
        routing_key: &'static str,
        props: BasicProperties,
        body: &[u8],
    ) {
        let publish = Method::BasicPublish(BasicPublish {
            routing_key: ShortStr::from_static(routing_key),
            ..Default::default()
        });
        let header = ContentHeader::new(body.len() as u64, props);
        let mut out = BytesMut::new();
        frame::encode_content(channel, &publish, &header, body, 0, &mut out);
        self.send_bytes(&out).await;
    }

    /// The next frame, or `None` at EOF.
    pub async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = self
                .decoder
                .decode(&mut self.buf)
                .expect("broker sends valid frames")
            {
                return Some(f);
            }
            let n = within(
                "a frame from the broker",
                self.stream.read_buf(&mut self.buf),
            )
            .await
            .unwrap_or(0);
            if n == 0 {
                return None;
            }
        }
    }

    /// The next method, skipping heartbeats; `None` at EOF.
    pub async fn next_method(&mut self) -> Option<(u16, Method)> {
        loop {
            match self.next_frame().await? {
                Frame::Method { channel, method } => return Some((channel, method)),
                Frame::Heartbeat => continue,
                other => panic!("expected a method frame, got {other:?}"),
            }
        }
    }

    /// Reads raw bytes until EOF (or 10 s).
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        let mut out = self.buf.to_vec();
        let _ = within("EOF", self.stream.read_to_end(&mut out)).await;
        out
    }

    /// Protocol header, start-ok (PLAIN guest/guest), tune-ok, open "/".
    pub async fn handshake(&mut self) {
        self.start().await;
        let login = self.login("PLAIN", b"\0guest\0guest", "/", false).await;
        assert!(matches!(login, Login::Opened), "got {login:?}");
    }

    /// Protocol header and start-ok with this SASL mechanism and response, nothing more;
    /// returns the mechanisms connection.start offered.
    pub async fn start_ok(&mut self, mechanism: &'static str, response: &str) -> String {
        self.start_ok_with(mechanism, response, FieldTable::new())
            .await
    }

    /// [`start_ok`](Self::start_ok) with these client properties.
    pub async fn start_ok_with(
        &mut self,
        mechanism: &'static str,
        response: &str,
        client_properties: FieldTable,
    ) -> String {
        let start = self.start().await;
        self.send_method(
            0,
            Method::ConnectionStartOk(ConnectionStartOk {
                client_properties,
                mechanism: ShortStr::from_static(mechanism),
                response: LongStr::from(response),
                locale: ShortStr::from_static("en_US"),
            }),
        )
        .await;
        start.mechanisms.to_string_lossy().into_owned()
    }

    /// The whole handshake (see [`handshake`](Self::handshake)) with this SASL mechanism.
    pub async fn handshake_as(&mut self, mechanism: &str, response: &str) {
        self.start().await;
        let login = self.login(mechanism, response.as_bytes(), "/", false).await;
        assert!(matches!(login, Login::Opened), "got {login:?}");
    }

    /// Sends the protocol header; the broker's connection.start.
    pub async fn start(&mut self) -> ConnectionStart {
        self.send_bytes(&PROTOCOL_HEADER).await;
        match self.next_method().await {
            Some((0, Method::ConnectionStart(start))) => start,
            other => panic!("expected connection.start, got {other:?}"),
        }
    }

    /// After [`start`](Self::start): start-ok with `mechanism` and `response` (announcing the
    /// `authentication_failure_close` capability if `failure_close`), then tune-ok and
    /// connection.open of `vhost` if the broker tunes.
    pub async fn login(
        &mut self,
        mechanism: &str,
        response: &[u8],
        vhost: &str,
        failure_close: bool,
    ) -> Login {
        let mut caps = FieldTable::new();
        caps.push(
            ShortStr::from_static("authentication_failure_close"),
            warren_codec::FieldValue::Bool(failure_close),
        );
        let mut props = FieldTable::new();
        props.push(
            ShortStr::from_static("capabilities"),
            warren_codec::FieldValue::Table(caps),
        );
        self.send_method(
            0,
            Method::ConnectionStartOk(ConnectionStartOk {
                client_properties: props,
                mechanism: ShortStr::try_from(mechanism).expect("short mechanism"),
                response: LongStr::from(response.to_vec()),
                locale: ShortStr::from_static("en_US"),
            }),
        )
        .await;
        let tune = match self.answer().await {
            Ok(Method::ConnectionTune(tune)) => tune,
            Ok(other) => panic!("expected connection.tune, got {other:?}"),
            Err(end) => return end,
        };
        self.send_method(
            0,
            Method::ConnectionTuneOk(ConnectionTuneOk {
                channel_max: tune.channel_max,
                frame_max: tune.frame_max,
                heartbeat: 0,
            }),
        )
        .await;
        self.send_method(
            0,
            Method::ConnectionOpen(ConnectionOpen {
                virtual_host: ShortStr::try_from(vhost).expect("short vhost name"),
                ..Default::default()
            }),
        )
        .await;
        match self.answer().await {
            Ok(Method::ConnectionOpenOk(_)) => Login::Opened,
            Ok(other) => panic!("expected connection.open-ok, got {other:?}"),
            Err(end) => end,
        }
    }

    /// The broker's next method on channel 0, or how the login ended instead.
    async fn answer(&mut self) -> Result<Method, Login> {
        match self.next_method().await {
            Some((0, Method::ConnectionClose(close))) => {
                self.send_method(0, Method::ConnectionCloseOk(Default::default()))
                    .await;
                Err(Login::Closed(close))
            }
            Some((_, m)) => Ok(m),
            None => Err(Login::Dropped),
        }
    }

    pub async fn open_channel(&mut self, channel: u16) {
        self.send_method(channel, Method::ChannelOpen(Default::default()))
            .await;
        let (ch, ok) = self.next_method().await.expect("channel.open-ok");
        assert_eq!(ch, channel);
        assert!(matches!(ok, Method::ChannelOpenOk(_)), "got {ok:?}");
    }

    /// The next connection.close, answered with close-ok; whatever comes before it is skipped.
    pub async fn connection_close(&mut self) -> ConnectionClose {
        loop {
            match self.next_method().await {
                Some((0, Method::ConnectionClose(close))) => {
                    self.send_method(0, Method::ConnectionCloseOk(Default::default()))
                        .await;
                    return close;
                }
                Some(_) => continue,
                None => panic!("connection dropped without connection.close"),
            }
        }
    }

    /// Expects connection.close with `code`; answers close-ok. Returns the reply text.
    pub async fn expect_connection_close(&mut self, code: u16) -> String {
        let c = self.connection_close().await;
        assert_eq!(c.reply_code, code, "reply text: {}", c.reply_text);
        c.reply_text.to_string()
    }

    /// Expects channel.close with `code` on `channel`. Returns the reply text.
    pub async fn expect_channel_close(&mut self, channel: u16, code: u16) -> String {
        loop {
            match self.next_method().await {
                Some((ch, Method::ChannelClose(c))) if ch == channel => {
                    assert_eq!(c.reply_code, code, "reply text: {}", c.reply_text);
                    self.send_method(channel, Method::ChannelCloseOk(Default::default()))
                        .await;
                    return c.reply_text.to_string();
                }
                Some((_, Method::ConnectionClose(c))) => {
                    panic!("expected channel.close {code}, got connection.close {c:?}")
                }
                Some(_) => continue,
                None => panic!("connection dropped, expected channel.close {code}"),
            }
        }
    }
}

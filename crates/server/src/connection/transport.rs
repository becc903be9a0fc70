//! The byte stream under a connection: plain TCP, or TLS over TCP (AMQPS).
//!
//! Plain TCP splits into tokio's owned halves, and the paths built on them stay as they were:
//! the outbox writes straight to the socket when nothing is queued, the main loop waits for
//! readiness before it holds a read buffer. A TLS stream is one rustls session both halves
//! use, behind a mutex each holds only for one poll. Its writes always go through the outbox's
//! writer task (a rustls write may stop half-way and need flushing later, which a direct
//! write cannot promise), and readiness also counts plaintext rustls has already decrypted and
//! buffered, which the socket's own readiness would not show.

use crate::tls::TlsPeer;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// An accepted client connection, its TLS handshake (if any) done.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// One TLS session shared by the connection's reading and writing sides.
#[derive(Clone)]
pub(super) struct SharedTls(Arc<Mutex<TlsStream<TcpStream>>>);

impl SharedTls {
    fn lock(&self) -> MutexGuard<'_, TlsStream<TcpStream>> {
        // A panic while polling cannot leave the session half-updated in a way we could fix.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes all of `chunk` and flushes it to the socket; `false` if the socket failed.
    pub(super) async fn write_all(&self, chunk: &[u8]) -> bool {
        let mut written = 0;
        poll_fn(|cx| {
            let mut tls = self.lock();
            while written < chunk.len() {
                match Pin::new(&mut *tls).poll_write(cx, &chunk[written..]) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(false),
                    Poll::Ready(Ok(n)) => written += n,
                    Poll::Pending => return Poll::Pending,
                }
            }
            Pin::new(&mut *tls).poll_flush(cx).map(|r| r.is_ok())
        })
        .await
    }

    /// Sends TLS close_notify and shuts the socket's write side.
    pub(super) async fn shutdown(&self) {
        let _ = poll_fn(|cx| Pin::new(&mut *self.lock()).poll_shutdown(cx)).await;
    }
}

/// The reading side.
pub(super) enum Reader {
    Tcp(OwnedReadHalf),
    Tls(SharedTls),
}

/// The writing side (owned by the outbox).
pub(super) enum Writer {
    Tcp(OwnedWriteHalf),
    Tls(SharedTls),
}

impl Stream {
    /// The broker's end of the socket (the management API names connections by both ends).
    pub(super) fn local_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Stream::Tcp(s) => s.local_addr().ok(),
            Stream::Tls(tls) => tls.get_ref().0.local_addr().ok(),
        }
    }

    /// What the TLS layer learned of the client: `None` on a plain connection.
    pub(super) fn tls_peer(&self) -> Option<TlsPeer> {
        match self {
            Stream::Tcp(_) => None,
            Stream::Tls(tls) => Some(TlsPeer {
                certificate: tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .map(|c| c.clone().into_owned()),
            }),
        }
    }

    pub(super) fn split(self) -> (Reader, Writer) {
        match self {
            Stream::Tcp(socket) => {
                let _ = socket.set_nodelay(true);
                let (r, w) = socket.into_split();
                (Reader::Tcp(r), Writer::Tcp(w))
            }
            Stream::Tls(tls) => {
                let shared = SharedTls(Arc::new(Mutex::new(*tls)));
                (Reader::Tls(shared.clone()), Writer::Tls(shared))
            }
        }
    }
}

impl Reader {
    /// Resolves when a read would find data (or EOF, or an error).
    pub(super) async fn readable(&self) -> io::Result<()> {
        match self {
            Reader::Tcp(r) => r.readable().await,
            Reader::Tls(tls) => {
                poll_fn(|cx| {
                    let tls = tls.lock();
                    let (socket, session) = tls.get_ref();
                    // rustls stops wanting socket input once it holds plaintext (or the peer's
                    // close_notify): that is readable whatever the socket says.
                    if !session.wants_read() {
                        return Poll::Ready(Ok(()));
                    }
                    socket.poll_read_ready(cx)
                })
                .await
            }
        }
    }
}

impl AsyncRead for Reader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Reader::Tcp(r) => Pin::new(r).poll_read(cx, buf),
            Reader::Tls(tls) => Pin::new(&mut *tls.lock()).poll_read(cx, buf),
        }
    }
}

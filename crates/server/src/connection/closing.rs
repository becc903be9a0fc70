//! The end of a connection, after the close handshake has started. Like RabbitMQ, the socket
//! stays open and what the client still sends is read and thrown away until the client
//! closes, sends close-ok, or a timeout passes. Closing the socket at once would turn the
//! client's remaining writes (publishes pipelined before its close, or written behind it)
//! into EPIPE / a reset, which loses our close-ok and leaves clients such as amqplib waiting
//! for a close callback that never comes.
//!
//! Nothing here holds the broker: a lingering socket keeps no queue, channel or store alive.

use super::outbox::Outbox;
use super::transport::Reader;
use bytes::BytesMut;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;
use warren_codec::frame::{self, FrameDecoder};
use warren_codec::generated::ConnectionCloseOk;
use warren_codec::{Frame, Method};

/// How long a refused login keeps the socket (RabbitMQ's silent close delay): a client cannot
/// retry passwords faster than this per connection.
pub(super) const SILENT_CLOSE_DELAY: Duration = Duration::from_secs(3);
/// Read step while discarding.
const DISCARD_READ: usize = 4096;

/// What is left of a connection once it is closing.
pub(super) struct Closing<'a> {
    pub(super) reader: Reader,
    pub(super) buf: BytesMut,
    pub(super) decoder: FrameDecoder,
    pub(super) writer: &'a Outbox,
    /// How long to wait for the client at most.
    pub(super) timeout: Duration,
    /// False after a framing error: the input is then only discarded, never decoded (the
    /// client learns of the close and closes, or the timeout ends it).
    pub(super) trust_frames: bool,
}

impl Closing<'_> {
    /// Reads until close-ok, EOF or the timeout. Every other frame is dropped, except that a
    /// connection.close (the client closing while we do) is answered with close-ok.
    pub(super) async fn finish(mut self) {
        let deadline = Instant::now() + self.timeout;
        let mut decoding = self.trust_frames;
        loop {
            if decoding {
                match self.next_close_ok() {
                    Ok(true) => return,
                    Ok(false) => {}
                    Err(()) => decoding = false,
                }
            }
            if !decoding {
                self.buf.clear();
            }
            self.buf.reserve(DISCARD_READ);
            let read = self.reader.read_buf(&mut self.buf);
            match tokio::time::timeout_at(deadline, read).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
        }
    }

    /// Consumes the complete frames in the buffer: `Ok(true)` at a close-ok, `Err` when the
    /// stream does not decode.
    fn next_close_ok(&mut self) -> Result<bool, ()> {
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(Frame::Method { channel: 0, method })) => match method {
                    Method::ConnectionCloseOk(_) => return Ok(true),
                    Method::ConnectionClose(_) => self.send_close_ok(),
                    _ => {}
                },
                Ok(Some(_)) => {}
                Ok(None) => return Ok(false),
                Err(_) => return Err(()),
            }
        }
    }

    fn send_close_ok(&self) {
        let mut out = BytesMut::with_capacity(16);
        frame::encode_method(
            0,
            &Method::ConnectionCloseOk(ConnectionCloseOk {}),
            &mut out,
        );
        self.writer.send(out.freeze(), 0);
    }
}

//! Frames in: decoding the read buffer, handing each frame to its handler, channel 0's
//! methods, and turning a handler's error into a channel or connection close.

use super::{Connection, Exit};
use crate::error::AmqpError;
use tracing::debug;
use warren_codec::{Frame, Method};

impl Connection {
    /// Decodes and handles every complete frame in the read buffer.
    pub(super) fn process_buffer(&mut self) -> Option<Exit> {
        loop {
            let frame = match self.decoder.decode(&mut self.read_buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return Some(Exit::Close(e.into())),
            };
            let header = matches!(frame, Frame::Header { .. });
            if let Some(exit) = self.handle_frame(frame) {
                return Some(exit);
            }
            // A publish under a resource alarm blocks the connection: as RabbitMQ, the
            // frames after its content header wait until the alarm clears.
            if header && self.flow.publish_received() {
                self.frames_held = !self.read_buf.is_empty();
                break;
            }
        }
        self.finish_confirms();
        None
    }

    fn handle_frame(&mut self, frame: Frame) -> Option<Exit> {
        match frame {
            Frame::Heartbeat => None,
            Frame::Method { channel: 0, method } => self.handle_connection_method(method),
            Frame::Method { channel, method } => {
                let ids = default_ids(&method);
                match self.handle_channel_method(channel, method) {
                    Ok(()) => None,
                    Err(e) => self.fail(channel, e.with_default_ids(ids)),
                }
            }
            Frame::Header { channel: 0, .. } | Frame::Body { channel: 0, .. } => Some(Exit::Close(
                AmqpError::unexpected_frame("expected method frame, got non method frame instead"),
            )),
            Frame::Header { channel, header } => match self.handle_header(channel, header) {
                Ok(()) => None,
                Err(e) => self.fail(channel, e),
            },
            Frame::Body { channel, payload } => match self.handle_body(channel, payload) {
                Ok(()) => None,
                Err(e) => self.fail(channel, e),
            },
        }
    }

    /// Turns a handler error into a channel close (soft) or a connection close (hard).
    pub(super) fn fail(&mut self, channel: u16, err: AmqpError) -> Option<Exit> {
        if err.is_hard() {
            return Some(Exit::Close(err));
        }
        debug!(connection = self.id, channel, error = %err, "channel error");
        self.send_method(channel, &err.to_channel_close());
        if let Some(mut ch) = self.channels.remove(&channel) {
            self.release_channel(&mut ch);
            ch.closing = true;
            self.channels.insert(channel, ch);
        }
        None
    }

    fn handle_connection_method(&mut self, method: Method) -> Option<Exit> {
        match method {
            // Close-ok is sent once the channels are gone (`connection::serve`).
            Method::ConnectionClose(_) => Some(Exit::Closed),
            Method::ConnectionUpdateSecret(_) => {
                self.send_method(
                    0,
                    &Method::ConnectionUpdateSecretOk(
                        warren_codec::generated::ConnectionUpdateSecretOk {},
                    ),
                );
                None
            }
            // Anything else on channel 0 of an open connection, close-ok included (our own
            // close waits for its close-ok in `close_with`, not here): RabbitMQ's
            // `handle_method0` fallback, a 504 connection error.
            other => Some(Exit::Close(
                AmqpError::channel_error("unexpected method in connection state running")
                    .on(&other),
            )),
        }
    }
}

/// The method an error names when its handler named none. A refused channel.open names none:
/// RabbitMQ refuses the channel (its user's `max-channels`) before running the method, and its
/// other refusals name the method themselves.
fn default_ids(method: &Method) -> (u16, u16) {
    match method {
        Method::ChannelOpen(_) => (0, 0),
        m => (m.class_id(), m.method_id()),
    }
}

impl AmqpError {
    /// Fills in the failing method's ids when the handler did not.
    pub(super) fn with_default_ids(self, (class_id, method_id): (u16, u16)) -> AmqpError {
        if self.class_id == 0 {
            self.with_ids(class_id, method_id)
        } else {
            self
        }
    }
}

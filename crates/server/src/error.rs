//! The one protocol error value handlers return, and how it becomes an AMQP close.
//!
//! Reply texts follow RabbitMQ's form (`NOT_FOUND - no queue 'q' in vhost '/'`) because some
//! clients and many operators match on them.

use std::fmt;
use warren_codec::generated::{ChannelClose, ConnectionClose};
use warren_codec::{DecodeError, Method, ReplyCode, ShortStr};

/// A protocol exception: soft ones close the channel, hard ones the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpError {
    pub code: ReplyCode,
    /// The explanation after the code name (`"no queue 'q' in vhost '/'"`).
    pub text: String,
    pub class_id: u16,
    pub method_id: u16,
}

impl AmqpError {
    pub fn new(code: ReplyCode, text: impl Into<String>) -> Self {
        AmqpError {
            code,
            text: text.into(),
            class_id: 0,
            method_id: 0,
        }
    }

    /// Names the method that failed (RabbitMQ reports it in the close frame).
    pub fn on(mut self, method: &Method) -> Self {
        if self.class_id == 0 {
            self.class_id = method.class_id();
            self.method_id = method.method_id();
        }
        self
    }

    pub fn with_ids(mut self, class_id: u16, method_id: u16) -> Self {
        self.class_id = class_id;
        self.method_id = method_id;
        self
    }

    pub fn not_found(text: impl Into<String>) -> Self {
        Self::new(ReplyCode::NotFound, text)
    }

    pub fn precondition_failed(text: impl Into<String>) -> Self {
        Self::new(ReplyCode::PreconditionFailed, text)
    }

    pub fn resource_locked(text: impl Into<String>) -> Self {
        Self::new(ReplyCode::ResourceLocked, text)
    }

    pub fn access_refused(text: impl Into<String>) -> Self {
        Self::new(ReplyCode::AccessRefused, text)
    }

    pub fn command_invalid(text: impl Into<String>) -> Self {
        Self::new(ReplyCode::CommandInvalid, text)
    }

    pub fn channel_error(text: impl Into<String>) -> Self {
        Self::new(ReplyCode::ChannelError, text)
    }

    pub fn unexpected_frame(text: impl Into<String>) -> Self {
        Self::new(ReplyCode::UnexpectedFrame, text)
    }

    pub fn not_allowed(text: impl Into<String>) -> Self {
        Self::new(ReplyCode::NotAllowed, text)
    }

    pub fn not_implemented(text: impl Into<String>) -> Self {
        Self::new(ReplyCode::NotImplemented, text)
    }

    pub fn frame_error(text: impl Into<String>) -> Self {
        Self::new(ReplyCode::FrameError, text)
    }

    pub fn internal(text: impl Into<String>) -> Self {
        Self::new(ReplyCode::InternalError, text)
    }

    /// Whether this closes the connection rather than one channel.
    pub fn is_hard(&self) -> bool {
        self.code.is_hard()
    }

    /// `CODE_NAME - text`, truncated to fit a shortstr.
    pub fn reply_text(&self) -> ShortStr {
        let mut s = format!("{} - {}", self.code.name(), self.text);
        if s.len() > 255 {
            let mut cut = 255;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
        }
        ShortStr::try_from(s).unwrap_or_default()
    }

    pub fn to_channel_close(&self) -> Method {
        Method::ChannelClose(ChannelClose {
            reply_code: self.code as u16,
            reply_text: self.reply_text(),
            class_id: self.class_id,
            method_id: self.method_id,
        })
    }

    pub fn to_connection_close(&self) -> Method {
        Method::ConnectionClose(ConnectionClose {
            reply_code: self.code as u16,
            reply_text: self.reply_text(),
            class_id: self.class_id,
            method_id: self.method_id,
        })
    }
}

impl fmt::Display for AmqpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} - {}", self.code.name(), self.text)
    }
}

impl std::error::Error for AmqpError {}

impl From<DecodeError> for AmqpError {
    fn from(e: DecodeError) -> Self {
        let (class_id, method_id) = match e {
            DecodeError::UnknownMethod {
                class_id,
                method_id,
            } => (class_id, method_id),
            _ => (0, 0),
        };
        AmqpError::new(e.reply_code(), e.to_string()).with_ids(class_id, method_id)
    }
}

/// Result of a protocol handler.
pub type AmqpResult<T> = Result<T, AmqpError>;

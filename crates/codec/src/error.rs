//! Decode errors, each carrying the AMQP reply code the server must close the connection with.
//!
//! Running out of bytes is never an error here: the streaming decoder answers `Ok(None)` and
//! waits. Everything in this enum is a protocol violation by the peer.

use crate::generated::ReplyCode;

/// A protocol violation found while decoding. `reply_code()` says how the server closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The declared frame payload is larger than the negotiated `frame_max`. Raised from the
    /// 7-byte frame header, before any payload is buffered.
    #[error("frame size {size} exceeds frame_max {max}")]
    FrameTooLarge { size: u64, max: u32 },

    /// The octet after the payload is not 0xCE.
    #[error("frame end octet was {found:#04x}, expected 0xce")]
    BadFrameEnd { found: u8 },

    /// A frame type other than method (1), header (2), body (3) or heartbeat (8).
    #[error("unknown frame type {0}")]
    UnknownFrameType(u8),

    /// A heartbeat frame on a channel other than 0, or with a payload.
    #[error("heartbeat frame on channel {channel} with {len} payload bytes")]
    BadHeartbeat { channel: u16, len: u32 },

    /// A (class, method) pair that AMQP 0-9-1 and RabbitMQ's extensions do not define.
    #[error("unknown method: class {class_id}, method {method_id}")]
    UnknownMethod { class_id: u16, method_id: u16 },

    /// A content header for a class that carries no content (only basic does).
    #[error("content header for class {0}, which has no content")]
    BadContentClass(u16),

    /// A field table or array value whose type letter is not one RabbitMQ accepts.
    #[error("unknown field value type {letter:?} ({0:#04x})", letter = char::from(*.0))]
    UnknownFieldType(u8),

    /// A field table or array nested deeper than [`crate::table::MAX_NESTING`].
    #[error("field table nested deeper than {0} levels")]
    TooDeep(usize),

    /// The payload ended before the structure it declares (truncated arguments, or a length
    /// prefix that runs past the end of the frame).
    #[error("malformed {what}: truncated or length runs past the frame")]
    Truncated { what: &'static str },

    /// Bytes left over after the last argument, or an impossible value.
    #[error("malformed {what}")]
    Malformed { what: &'static str },
}

impl DecodeError {
    /// The reply code of the `connection.close` the server sends for this error.
    ///
    /// These follow what RabbitMQ 3.10 answers (measured on a raw socket; docs/codec-errors.md
    /// has the table): framing problems and arguments it cannot decode (truncated, a length
    /// running past the frame, bytes left over) are 501 FRAME_ERROR; a heartbeat on a non-zero
    /// channel and a content header for a class other than the method's are 505
    /// UNEXPECTED_FRAME. Where RabbitMQ drops the socket without a close (unknown method, unknown
    /// field-table type letter) or accepts the input (nesting depth), we close with the spec's
    /// code: 540 NOT_IMPLEMENTED and 502 SYNTAX_ERROR.
    pub fn reply_code(&self) -> ReplyCode {
        match self {
            DecodeError::FrameTooLarge { .. }
            | DecodeError::BadFrameEnd { .. }
            | DecodeError::UnknownFrameType(_)
            | DecodeError::Truncated { .. }
            | DecodeError::Malformed { .. } => ReplyCode::FrameError,
            // RabbitMQ: a heartbeat with a payload is an unknown frame (501); an empty one on a
            // channel other than 0 is UNEXPECTED_FRAME.
            DecodeError::BadHeartbeat { len: 0, .. } => ReplyCode::UnexpectedFrame,
            DecodeError::BadHeartbeat { .. } => ReplyCode::FrameError,
            DecodeError::BadContentClass(_) => ReplyCode::UnexpectedFrame,
            DecodeError::UnknownMethod { .. } => ReplyCode::NotImplemented,
            DecodeError::UnknownFieldType(_) | DecodeError::TooDeep(_) => ReplyCode::SyntaxError,
        }
    }
}

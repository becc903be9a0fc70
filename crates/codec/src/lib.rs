//! warren-codec: AMQP 0-9-1 as RabbitMQ speaks it, decoded and encoded without copying bodies.
//!
//! Module map:
//! - [`frame`]: the protocol header, the 7-byte frame header, the streaming decoder and the
//!   encoders (including a whole publish/deliver in one append).
//! - [`generated`]: every method struct, the [`Method`] enum, [`ReplyCode`] and
//!   [`BasicProperties`], generated from the spec by `warren-codegen` (do not edit).
//! - [`properties`]: the content header and its property-flag words.
//! - [`table`]: field tables and arrays with RabbitMQ's type letters.
//! - [`strings`]: `shortstr` / `longstr` as zero-copy views.
//! - [`wire`]: the nom primitives the above are built from.
//! - [`serde_interop`]: conversions to and from `amqp_serde`'s value types.
//! - [`error`]: [`DecodeError`], each variant mapped to the reply code to close with.
//! - [`fuzzing`]: the fuzz target's body (`decode_stream`), shared with the regression tests.
//!
//! The crate has no runtime: no tokio, no I/O. It never panics on input.

pub mod error;
pub mod frame;
pub mod fuzzing;
pub mod generated;
pub mod properties;
pub mod serde_interop;
pub mod strings;
pub mod table;
pub mod wire;

pub use error::DecodeError;
pub use frame::{Frame, FrameDecoder, ProtocolHeader};
pub use generated::{BasicProperties, Method, ReplyCode};
pub use properties::ContentHeader;
pub use strings::{LongStr, ShortStr};
pub use table::{FieldArray, FieldTable, FieldValue};

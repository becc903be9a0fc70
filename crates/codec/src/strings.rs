//! AMQP short and long strings as zero-copy views into received frames.
//!
//! AMQP strings are length-prefixed octets. They are almost always UTF-8, but the protocol does
//! not promise it and RabbitMQ does not reject other bytes, so we keep the raw bytes (a slice of
//! the frame's `Bytes`, no copy) and let callers ask for `&str` when they need text.

use bytes::Bytes;
use std::fmt;

/// A `shortstr`: at most 255 octets.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShortStr(Bytes);

/// A `longstr`: at most `u32::MAX` octets (binary-safe; SASL responses, message ids...).
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LongStr(Bytes);

/// Returned when a string is too long for a `shortstr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("short string of {0} bytes exceeds 255")]
pub struct ShortStrTooLong(pub usize);

impl ShortStr {
    /// The empty short string.
    pub const EMPTY: ShortStr = ShortStr(Bytes::new());

    /// Wraps bytes, checking the 255-octet limit.
    pub fn new(bytes: impl Into<Bytes>) -> Result<Self, ShortStrTooLong> {
        let bytes = bytes.into();
        if bytes.len() > 255 {
            return Err(ShortStrTooLong(bytes.len()));
        }
        Ok(ShortStr(bytes))
    }

    /// A short string from a `'static` literal (checked at first use).
    ///
    /// # Panics
    /// If the literal is longer than 255 bytes, which is a programming error.
    pub fn from_static(s: &'static str) -> Self {
        assert!(s.len() <= 255, "static short string too long");
        ShortStr(Bytes::from_static(s.as_bytes()))
    }

    /// Internal constructor for the decoder, which has already checked the length.
    pub(crate) fn from_checked(bytes: Bytes) -> Self {
        debug_assert!(bytes.len() <= 255);
        ShortStr(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A copy in its own allocation. A decoded string is a view that keeps its whole received
    /// frame (and the read buffer it was cut from) alive; anything kept for long, like a
    /// consumer tag, should not pin that memory.
    pub fn detached(&self) -> ShortStr {
        ShortStr(Bytes::copy_from_slice(&self.0))
    }

    /// The underlying shared bytes (cheap clone).
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    /// The string as UTF-8, if it is.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The string as text, replacing invalid UTF-8 (for logs and reply texts).
    pub fn to_string_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl LongStr {
    pub const EMPTY: LongStr = LongStr(Bytes::new());

    pub fn new(bytes: impl Into<Bytes>) -> Self {
        LongStr(bytes.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    pub fn to_string_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<&str> for ShortStr {
    type Error = ShortStrTooLong;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        ShortStr::new(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl TryFrom<String> for ShortStr {
    type Error = ShortStrTooLong;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ShortStr::new(Bytes::from(s))
    }
}

impl From<&str> for LongStr {
    fn from(s: &str) -> Self {
        LongStr(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for LongStr {
    fn from(s: String) -> Self {
        LongStr(Bytes::from(s))
    }
}

impl From<Vec<u8>> for LongStr {
    fn from(v: Vec<u8>) -> Self {
        LongStr(Bytes::from(v))
    }
}

impl From<Bytes> for LongStr {
    fn from(b: Bytes) -> Self {
        LongStr(b)
    }
}

impl PartialEq<str> for ShortStr {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for ShortStr {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<str> for LongStr {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for LongStr {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Display for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl fmt::Debug for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.to_string_lossy(), f)
    }
}

impl fmt::Display for LongStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl fmt::Debug for LongStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(s) => fmt::Debug::fmt(s, f),
            None => write!(f, "b{:?}", self.0),
        }
    }
}

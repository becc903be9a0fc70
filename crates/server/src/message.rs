//! A published message as the broker holds it: shared by every queue it was routed to.
//!
//! The body and the raw property bytes are `Bytes` views of what the publisher sent; queues
//! and consumers share one `Arc<Message>` and never copy it. The decoded properties are not
//! kept: they are needed only while routing, and the raw bytes are what consumers receive.

use bytes::Bytes;
use warren_codec::ShortStr;

#[derive(Debug)]
pub struct Message {
    pub exchange: ShortStr,
    pub routing_key: ShortStr,
    /// Property flags and list exactly as published.
    pub properties: Bytes,
    pub body: Bytes,
    /// delivery-mode 2.
    pub persistent: bool,
}

impl Message {
    /// Body size in bytes (what length limits count).
    pub fn body_len(&self) -> usize {
        self.body.len()
    }
}

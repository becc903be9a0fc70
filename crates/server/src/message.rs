//! A published message as the broker holds it: shared by every queue it was routed to.
//!
//! The body and the raw property bytes are `Bytes` views of what the publisher sent; queues
//! and consumers share one `Arc<Message>` and never copy it.

use bytes::Bytes;
use warren_codec::{ContentHeader, ShortStr};

#[derive(Debug)]
pub struct Message {
    pub exchange: ShortStr,
    pub routing_key: ShortStr,
    pub header: ContentHeader,
    pub body: Bytes,
}

impl Message {
    /// delivery-mode 2.
    pub fn is_persistent(&self) -> bool {
        self.header.properties.delivery_mode == Some(2)
    }

    /// Body size in bytes (what length limits count).
    pub fn body_len(&self) -> usize {
        self.body.len()
    }
}

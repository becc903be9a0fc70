//! Durable metadata: what the broker writes to the store about exchanges, queues and bindings,
//! and how it reads it back. [`formats`] holds the byte formats (messages' too), [`recovery`]
//! rebuilds the broker from them at startup.

pub mod formats;
pub mod recovery;

//! Identifiers shared by the rooms of the server (queues, vhosts, the broker, connections).

/// Identifies a connection (for exclusive queues and consumers).
pub(crate) type ConnectionId = u64;

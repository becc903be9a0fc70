//! The plain data the admin facade returns: owned snapshots with the fields a RabbitMQ
//! management API user reads, detached from the broker's live state.

use std::net::SocketAddr;
use warren_codec::{BasicProperties, FieldTable};

/// Per-user limits (`rabbitmqctl set_user_limits`); `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserLimits {
    pub max_connections: Option<u64>,
    pub max_channels: Option<u64>,
}

/// Per-vhost limits (`rabbitmqctl set_vhost_limits`); `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VhostLimits {
    pub max_connections: Option<u64>,
    pub max_queues: Option<u64>,
}

/// A virtual host: its name, RabbitMQ's metadata and its limits.
#[derive(Debug, Clone, PartialEq)]
pub struct VhostInfo {
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub limits: VhostLimits,
}

/// A user, as RabbitMQ's definitions show one.
#[derive(Debug, Clone, PartialEq)]
pub struct UserInfo {
    pub name: String,
    pub tags: Vec<String>,
    /// The salted hash in RabbitMQ's base64 form; `None` for a user without a password.
    pub password_hash: Option<String>,
    /// `rabbit_password_hashing_sha256` and friends; `None` without a password.
    pub hashing_algorithm: Option<&'static str>,
    pub limits: UserLimits,
}

/// A user's permissions in a vhost (regular expressions).
#[derive(Debug, Clone, PartialEq)]
pub struct PermissionInfo {
    pub user: String,
    pub vhost: String,
    pub configure: String,
    pub write: String,
    pub read: String,
}

/// A user's topic permission on one exchange of a vhost.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicPermissionInfo {
    pub user: String,
    pub vhost: String,
    pub exchange: String,
    pub write: String,
    pub read: String,
}

/// A listening socket of the broker, as RabbitMQ's overview lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerInfo {
    /// `amqp` or `amqp/ssl`, RabbitMQ's names.
    pub protocol: &'static str,
    pub addr: SocketAddr,
}

/// A queue and its current counts.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueInfo {
    pub name: String,
    pub vhost: String,
    pub durable: bool,
    pub auto_delete: bool,
    pub exclusive: bool,
    pub arguments: FieldTable,
    pub messages_ready: u64,
    pub messages_unacknowledged: u64,
    pub consumers: u64,
    pub memory: QueueMemory,
    /// The policy and operator policy in force, and their merged definition.
    pub policy: Option<String>,
    pub operator_policy: Option<String>,
    pub effective_policy_definition: serde_json::Map<String, serde_json::Value>,
}

/// A queue's message bytes and what of them is in memory or paged out (the management API's
/// `message_bytes*`, `messages_ram`, `messages_paged_out`...).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueMemory {
    pub ready_bytes: u64,
    pub unacked_bytes: u64,
    /// Delivered, unacknowledged messages whose body is in memory, and their bytes (stored
    /// ones page out under memory pressure).
    pub unacked_ram: u64,
    pub unacked_bytes_ram: u64,
    /// Ready messages whose body is in memory, and their bytes.
    pub ready_ram: u64,
    pub ready_bytes_ram: u64,
    /// Ready messages whose body is only on disk, and their bytes as far as known (a
    /// recovered message's size is learnt when it is read back).
    pub paged_out: u64,
    pub bytes_paged_out: u64,
}

/// An exchange's definition.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeInfo {
    pub name: String,
    pub vhost: String,
    /// `direct`, `fanout`, `topic`, `headers` or `x-delayed-message`.
    pub kind: String,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
    /// The policy in force, if any.
    pub policy: Option<String>,
}

/// A policy or an operator policy, as the management API and definitions files show it.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyInfo {
    pub vhost: String,
    pub name: String,
    pub pattern: String,
    /// `all`, `queues` or `exchanges`.
    pub apply_to: &'static str,
    pub priority: serde_json::Number,
    pub definition: serde_json::Map<String, serde_json::Value>,
}

/// Whether a binding leads to a queue or an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationType {
    Queue,
    Exchange,
}

/// A binding; `source` "" is the default exchange's implicit binding of every queue.
#[derive(Debug, Clone, PartialEq)]
pub struct BindingInfo {
    pub vhost: String,
    pub source: String,
    pub destination: String,
    pub destination_type: DestinationType,
    pub routing_key: String,
    pub arguments: FieldTable,
}

/// A live client connection.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionInfo {
    pub id: u64,
    pub peer: SocketAddr,
    pub user: String,
    pub vhost: String,
    pub channels: usize,
    /// When it opened, in ms since the Unix epoch.
    pub connected_at: u64,
    /// The broker's end of the socket.
    pub local: Option<SocketAddr>,
    pub octets: Octets,
}

/// One open channel of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    pub number: u16,
    pub consumers: usize,
    /// Deliveries waiting for the client's ack.
    pub unacked: usize,
    /// basic.qos prefetch count for new consumers (0: unlimited).
    pub prefetch: u32,
    /// confirm.select was sent.
    pub confirm: bool,
    /// tx.select was sent.
    pub transactional: bool,
    /// The consumers on it: (consumer tag, queue name), by tag.
    pub consumer_tags: Vec<(String, String)>,
    /// What it published, had confirmed, delivered and had acked (its `message_stats`).
    pub counters: ChannelCounters,
}

/// One channel's message counters since it opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelCounters {
    pub publish: u64,
    pub confirm: u64,
    pub return_unroutable: u64,
    pub drop_unroutable: u64,
    pub deliver: u64,
    pub deliver_no_ack: u64,
    pub get: u64,
    pub get_no_ack: u64,
    pub get_empty: u64,
    pub redeliver: u64,
    pub ack: u64,
}

impl ChannelCounters {
    /// One delivery on this channel.
    pub fn delivered(&mut self, get: bool, no_ack: bool, redelivered: bool) {
        match (get, no_ack) {
            (false, false) => self.deliver += 1,
            (false, true) => self.deliver_no_ack += 1,
            (true, false) => self.get += 1,
            (true, true) => self.get_no_ack += 1,
        }
        self.redeliver += u64::from(redelivered);
    }
}

/// A connection's socket traffic since it opened: bytes and reads received, bytes and writes
/// sent (RabbitMQ's `recv_oct`, `recv_cnt`, `send_oct`, `send_cnt`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Octets {
    pub recv_oct: u64,
    pub recv_cnt: u64,
    pub send_oct: u64,
    pub send_cnt: u64,
}

/// What a connection task tells about itself when asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionSnapshot {
    pub channels: Vec<ChannelInfo>,
    pub octets: Octets,
}

/// An exchange's message counters since it was declared: messages published into it, and
/// copies it routed to queues (RabbitMQ's `publish_in`, `publish_out`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExchangeCounters {
    pub publish_in: u64,
    pub publish_out: u64,
}

/// Broker-wide counts at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overview {
    pub connections: u64,
    pub channels: u64,
    pub queues: u64,
    pub exchanges: u64,
    pub consumers: u64,
    pub messages_ready: u64,
    pub messages_unacknowledged: u64,
    /// Messages held by delayed-message exchanges until they are due.
    pub messages_delayed: u64,
    /// How often a connection found the broker in flow control (store backlog, or a resource
    /// alarm once it had published).
    pub flow_pauses: u64,
}

/// The resource alarms and what the last check measured (RabbitMQ's `memory` and `disk`
/// alarms, its `mem_used`/`mem_limit` and `disk_free`/`disk_free_limit`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlarmsInfo {
    /// The broker's resident memory is over the high watermark.
    pub memory_alarm: bool,
    /// The data dir's file system has less free space than the limit.
    pub disk_alarm: bool,
    /// The broker's resident set, in bytes.
    pub memory_used: u64,
    /// The memory high watermark, in bytes.
    pub memory_limit: u64,
    /// The machine's memory, or the cgroup's limit when lower: what relative thresholds are
    /// fractions of.
    pub total_memory: u64,
    /// Free bytes on the data dir's file system; `None` if it could not be measured.
    pub disk_free: Option<u64>,
    /// The free disk space limit, in bytes.
    pub disk_free_limit: u64,
}

/// What to do with a message taken by [`crate::Admin::get`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetMode {
    /// Take it off the queue (RabbitMQ's `ack_requeue_false`).
    Ack,
    /// Put it back at its place, marked redelivered (`ack_requeue_true`).
    Requeue,
}

/// A message taken by [`crate::Admin::get`].
#[derive(Debug, Clone, PartialEq)]
pub struct GotMessage {
    pub exchange: String,
    pub routing_key: String,
    pub redelivered: bool,
    pub properties: BasicProperties,
    pub body: Vec<u8>,
    /// Ready messages left behind it when it was taken.
    pub message_count: u32,
}

/// A queue's durable place, for tests that look into the store.
#[derive(Debug, Clone)]
pub struct StoredQueueInfo {
    pub store: std::sync::Arc<warren_store::Store>,
    pub id: warren_store::QueueId,
}

/// The broker-wide message and lifecycle counters since boot (RabbitMQ's global counters:
/// `rabbitmq_global_messages_*_total`, `rabbitmq_*_opened_total` and friends).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobalCounters {
    /// basic.publish received (routed or not).
    pub messages_received: u64,
    /// ... of which on confirm channels.
    pub messages_received_confirm: u64,
    /// Publishes that reached at least one queue.
    pub messages_routed: u64,
    /// Non-mandatory publishes that reached no queue.
    pub messages_unroutable_dropped: u64,
    /// Mandatory publishes returned with basic.return.
    pub messages_unroutable_returned: u64,
    /// Publishes acked to confirm-mode publishers.
    pub messages_confirmed: u64,
    pub messages_delivered_consume_auto_ack: u64,
    pub messages_delivered_consume_manual_ack: u64,
    pub messages_delivered_get_auto_ack: u64,
    pub messages_delivered_get_manual_ack: u64,
    /// basic.get answered with get-empty.
    pub messages_get_empty: u64,
    /// Deliveries (consume or get) with the redelivered flag.
    pub messages_redelivered: u64,
    /// Deliveries acked by clients (basic.ack, each message of a `multiple` ack).
    pub messages_acknowledged: u64,
    pub connections_opened: u64,
    pub connections_closed: u64,
    pub channels_opened: u64,
    pub channels_closed: u64,
    /// queue.declare (not passive) that succeeded, creating or not.
    pub queues_declared: u64,
    pub queues_created: u64,
    pub queues_deleted: u64,
    /// Channels that have published and are still open.
    pub publishers: u64,
}

impl GlobalCounters {
    /// Every delivery, however it was made.
    pub fn messages_delivered(&self) -> u64 {
        self.messages_delivered_consume_auto_ack
            + self.messages_delivered_consume_manual_ack
            + self.messages_delivered_get_auto_ack
            + self.messages_delivered_get_manual_ack
    }
}

/// One queue's counters since it was created (the management API's `message_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounters {
    /// Messages put into the queue.
    pub publish: u64,
    /// Deliveries to consumers that ack / with no-ack.
    pub deliver: u64,
    pub deliver_no_ack: u64,
    /// basic.get answers that want an ack / with no-ack; and get-empty answers.
    pub get: u64,
    pub get_no_ack: u64,
    pub get_empty: u64,
    /// Every delivery from it: the four above.
    pub deliver_get: u64,
    /// Deliveries from it acked by clients.
    pub ack: u64,
    /// Deliveries from it with the redelivered flag.
    pub redeliver: u64,
}

impl QueueCounters {
    /// Field by field sum.
    pub fn plus(&self, o: &QueueCounters) -> QueueCounters {
        QueueCounters {
            publish: self.publish + o.publish,
            deliver: self.deliver + o.deliver,
            deliver_no_ack: self.deliver_no_ack + o.deliver_no_ack,
            get: self.get + o.get,
            get_no_ack: self.get_no_ack + o.get_no_ack,
            get_empty: self.get_empty + o.get_empty,
            deliver_get: self.deliver_get + o.deliver_get,
            ack: self.ack + o.ack,
            redeliver: self.redeliver + o.redeliver,
        }
    }
}

/// One vhost's message counters since boot (or since it was created): what its channels
/// received, routed, confirmed, delivered and had acked. The broker-wide ones are their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageTotals {
    pub received: u64,
    pub received_confirm: u64,
    pub routed: u64,
    pub unroutable_dropped: u64,
    pub unroutable_returned: u64,
    pub confirmed: u64,
    pub consume_auto_ack: u64,
    pub consume_manual_ack: u64,
    pub get_auto_ack: u64,
    pub get_manual_ack: u64,
    pub get_empty: u64,
    pub redelivered: u64,
    pub acknowledged: u64,
}

impl MessageTotals {
    /// Field by field sum.
    pub fn plus(&self, o: &MessageTotals) -> MessageTotals {
        MessageTotals {
            received: self.received + o.received,
            received_confirm: self.received_confirm + o.received_confirm,
            routed: self.routed + o.routed,
            unroutable_dropped: self.unroutable_dropped + o.unroutable_dropped,
            unroutable_returned: self.unroutable_returned + o.unroutable_returned,
            confirmed: self.confirmed + o.confirmed,
            consume_auto_ack: self.consume_auto_ack + o.consume_auto_ack,
            consume_manual_ack: self.consume_manual_ack + o.consume_manual_ack,
            get_auto_ack: self.get_auto_ack + o.get_auto_ack,
            get_manual_ack: self.get_manual_ack + o.get_manual_ack,
            get_empty: self.get_empty + o.get_empty,
            redelivered: self.redelivered + o.redelivered,
            acknowledged: self.acknowledged + o.acknowledged,
        }
    }
}

/// Broker-wide counters and counts at one moment, without anything per queue: what an
/// aggregated metrics scrape reads, its cost independent of the number of queues' names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub counters: GlobalCounters,
    pub connections: u64,
    pub channels: u64,
    pub queues: u64,
    pub consumers: u64,
    pub messages_ready: u64,
    pub messages_unacknowledged: u64,
    /// The sum of the queues' counters.
    pub queue_totals: QueueCounters,
}

/// One queue's counts and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStatsInfo {
    pub vhost: String,
    pub name: String,
    pub messages_ready: u64,
    pub messages_unacknowledged: u64,
    pub consumers: u64,
    pub counters: QueueCounters,
}

/// One vhost's message counters and queue depths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VhostStatsInfo {
    pub name: String,
    pub counters: MessageTotals,
    pub messages_ready: u64,
    pub messages_unacknowledged: u64,
}

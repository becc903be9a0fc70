//! The store's commands (declare, bind, enqueue, ack, ...) and their byte encoding.
//!
//! Every change to the store is one of these commands, applied in one place
//! (`apply::StateMachine::apply`). The encoding is what a replicated log will carry later, so
//! it is hand-written, versioned and stable:
//!
//! ```text
//! log entry  = version:u8 (=1) ‖ count:u32 ‖ command*
//! command    = tag:u8 ‖ fields (tag order below; never renumber, only append)
//! str, bytes = len:u32 ‖ data      u32/u64 = big-endian      list = count:u32 ‖ item*
//! ```

use crate::error::StoreError;
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// A durable queue's id, chosen by the caller (see `Store::allocate_queue_id`).
pub type QueueId = u64;
/// A position in a queue; strictly increasing per queue.
pub type Seq = u64;
/// A stored message's id (see `Store::allocate_message_id`).
pub type MessageId = u64;

/// Version byte at the head of an encoded command list.
pub const COMMAND_ENCODING_VERSION: u8 = 1;

/// One state change. Names and vhosts are UTF-8 strings; definitions and message contents are
/// opaque bytes that the server encodes and the store never looks into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Creates or replaces a durable exchange's definition.
    DeclareExchange {
        vhost: String,
        name: String,
        def: Bytes,
    },
    /// Removes an exchange's definition (its bindings are removed by their own `Unbind`s).
    DeleteExchange {
        vhost: String,
        name: String,
    },
    /// Creates or replaces a durable queue's definition. Redeclaring with the same id keeps the
    /// queue's messages; a different id for the same name replaces the old queue entirely.
    DeclareQueue {
        vhost: String,
        name: String,
        queue: QueueId,
        def: Bytes,
    },
    /// Removes a queue's definition and every index entry, releasing their messages.
    DeleteQueue {
        queue: QueueId,
    },
    /// Stores a binding under a key the server chooses (unique per binding within the vhost).
    Bind {
        vhost: String,
        key: Bytes,
        def: Bytes,
    },
    /// Removes a binding.
    Unbind {
        vhost: String,
        key: Bytes,
    },
    /// Stores a message once and appends it to each target queue at the given sequence.
    /// Targets whose queue is not declared, or whose seq is not above the queue's last seq,
    /// are skipped (counted in `StoreStats::ignored`).
    Enqueue {
        message: MessageId,
        body: Bytes,
        targets: Vec<(QueueId, Seq)>,
    },
    /// Removes index entries; a message goes when its last entry does. Unknown seqs are
    /// skipped.
    Ack {
        queue: QueueId,
        seqs: Vec<Seq>,
    },
    /// Records how often an entry has been delivered (kept across restarts).
    SetDeliveryCount {
        queue: QueueId,
        seq: Seq,
        count: u32,
    },
    /// Removes every entry of the queue except the listed seqs (AMQP purge keeps messages
    /// that are delivered and not yet acked).
    Purge {
        queue: QueueId,
        keep: Vec<Seq>,
    },
    /// Creates or replaces a vhost's record (its metadata and limits).
    PutVhost {
        name: String,
        def: Bytes,
    },
    /// Removes a vhost and everything stored in it: its exchanges, queues (with their
    /// messages), bindings, permissions and topic permissions. The one command that cascades:
    /// one command, so nothing of a deleted vhost survives a crash half-way.
    DeleteVhost {
        name: String,
    },
    /// Creates or replaces a user (password hash, tags, limits).
    PutUser {
        name: String,
        def: Bytes,
    },
    /// Removes a user's record (its permissions go by their own `Clear*` commands).
    DeleteUser {
        name: String,
    },
    /// Creates or replaces a user's permissions in a vhost.
    SetPermissions {
        vhost: String,
        user: String,
        def: Bytes,
    },
    ClearPermissions {
        vhost: String,
        user: String,
    },
    /// Creates or replaces a user's topic permissions in a vhost (all exchanges at once).
    SetTopicPermissions {
        vhost: String,
        user: String,
        def: Bytes,
    },
    ClearTopicPermissions {
        vhost: String,
        user: String,
    },
    /// Creates or replaces a policy (`operator`: an operator policy) of a vhost.
    SetPolicy {
        vhost: String,
        name: String,
        operator: bool,
        def: Bytes,
    },
    ClearPolicy {
        vhost: String,
        name: String,
        operator: bool,
    },
}

// Tags: append only.
const T_DECLARE_EXCHANGE: u8 = 1;
const T_DELETE_EXCHANGE: u8 = 2;
const T_DECLARE_QUEUE: u8 = 3;
const T_DELETE_QUEUE: u8 = 4;
const T_BIND: u8 = 5;
const T_UNBIND: u8 = 6;
const T_ENQUEUE: u8 = 7;
const T_ACK: u8 = 8;
const T_SET_DELIVERY_COUNT: u8 = 9;
const T_PURGE: u8 = 10;
const T_PUT_VHOST: u8 = 11;
const T_DELETE_VHOST: u8 = 12;
const T_PUT_USER: u8 = 13;
const T_DELETE_USER: u8 = 14;
const T_SET_PERMISSIONS: u8 = 15;
const T_CLEAR_PERMISSIONS: u8 = 16;
const T_SET_TOPIC_PERMISSIONS: u8 = 17;
const T_CLEAR_TOPIC_PERMISSIONS: u8 = 18;
const T_SET_POLICY: u8 = 19;
const T_CLEAR_POLICY: u8 = 20;

impl Command {
    /// Bytes this command adds to a write, roughly (for batch caps and backpressure).
    pub fn approx_size(&self) -> usize {
        match self {
            Command::DeclareExchange { vhost, name, def } => vhost.len() + name.len() + def.len(),
            Command::DeclareQueue {
                vhost, name, def, ..
            } => vhost.len() + name.len() + def.len() + 8,
            Command::Bind { vhost, key, def } => vhost.len() + key.len() + def.len(),
            Command::Enqueue { body, targets, .. } => body.len() + 8 + targets.len() * 32,
            Command::Ack { seqs, .. } => seqs.len() * 16,
            Command::Purge { keep, .. } => 16 + keep.len() * 8,
            Command::PutVhost { name, def } | Command::PutUser { name, def } => {
                name.len() + def.len()
            }
            Command::SetPermissions { vhost, user, def }
            | Command::SetTopicPermissions { vhost, user, def } => {
                vhost.len() + user.len() + def.len()
            }
            Command::SetPolicy {
                vhost, name, def, ..
            } => vhost.len() + name.len() + def.len() + 1,
            _ => 32,
        }
    }

    /// Appends this command (without the version header) to `out`.
    pub fn encode_into(&self, out: &mut BytesMut) {
        match self {
            Command::DeclareExchange { vhost, name, def } => {
                out.put_u8(T_DECLARE_EXCHANGE);
                put_bytes(out, vhost.as_bytes());
                put_bytes(out, name.as_bytes());
                put_bytes(out, def);
            }
            Command::DeleteExchange { vhost, name } => {
                out.put_u8(T_DELETE_EXCHANGE);
                put_bytes(out, vhost.as_bytes());
                put_bytes(out, name.as_bytes());
            }
            Command::DeclareQueue {
                vhost,
                name,
                queue,
                def,
            } => {
                out.put_u8(T_DECLARE_QUEUE);
                put_bytes(out, vhost.as_bytes());
                put_bytes(out, name.as_bytes());
                out.put_u64(*queue);
                put_bytes(out, def);
            }
            Command::DeleteQueue { queue } => {
                out.put_u8(T_DELETE_QUEUE);
                out.put_u64(*queue);
            }
            Command::Bind { vhost, key, def } => {
                out.put_u8(T_BIND);
                put_bytes(out, vhost.as_bytes());
                put_bytes(out, key);
                put_bytes(out, def);
            }
            Command::Unbind { vhost, key } => {
                out.put_u8(T_UNBIND);
                put_bytes(out, vhost.as_bytes());
                put_bytes(out, key);
            }
            Command::Enqueue {
                message,
                body,
                targets,
            } => {
                out.put_u8(T_ENQUEUE);
                out.put_u64(*message);
                put_bytes(out, body);
                put_len(out, targets.len());
                for (q, s) in targets {
                    out.put_u64(*q);
                    out.put_u64(*s);
                }
            }
            Command::Ack { queue, seqs } => {
                out.put_u8(T_ACK);
                out.put_u64(*queue);
                put_seqs(out, seqs);
            }
            Command::SetDeliveryCount { queue, seq, count } => {
                out.put_u8(T_SET_DELIVERY_COUNT);
                out.put_u64(*queue);
                out.put_u64(*seq);
                out.put_u32(*count);
            }
            Command::Purge { queue, keep } => {
                out.put_u8(T_PURGE);
                out.put_u64(*queue);
                put_seqs(out, keep);
            }
            Command::PutVhost { name, def } => put_record(out, T_PUT_VHOST, &[name], Some(def)),
            Command::DeleteVhost { name } => put_record(out, T_DELETE_VHOST, &[name], None),
            Command::PutUser { name, def } => put_record(out, T_PUT_USER, &[name], Some(def)),
            Command::DeleteUser { name } => put_record(out, T_DELETE_USER, &[name], None),
            Command::SetPermissions { vhost, user, def } => {
                put_record(out, T_SET_PERMISSIONS, &[vhost, user], Some(def))
            }
            Command::ClearPermissions { vhost, user } => {
                put_record(out, T_CLEAR_PERMISSIONS, &[vhost, user], None)
            }
            Command::SetTopicPermissions { vhost, user, def } => {
                put_record(out, T_SET_TOPIC_PERMISSIONS, &[vhost, user], Some(def))
            }
            Command::ClearTopicPermissions { vhost, user } => {
                put_record(out, T_CLEAR_TOPIC_PERMISSIONS, &[vhost, user], None)
            }
            Command::SetPolicy {
                vhost,
                name,
                operator,
                def,
            } => {
                out.put_u8(T_SET_POLICY);
                out.put_u8(u8::from(*operator));
                put_bytes(out, vhost.as_bytes());
                put_bytes(out, name.as_bytes());
                put_bytes(out, def);
            }
            Command::ClearPolicy {
                vhost,
                name,
                operator,
            } => {
                out.put_u8(T_CLEAR_POLICY);
                out.put_u8(u8::from(*operator));
                put_bytes(out, vhost.as_bytes());
                put_bytes(out, name.as_bytes());
            }
        }
    }

    /// Reads one command (without the version header) from the front of `buf`. Byte fields are
    /// zero-copy slices of `buf`.
    pub fn decode_from(buf: &mut Bytes) -> Result<Command, StoreError> {
        let tag = get_u8(buf)?;
        let cmd = match tag {
            T_DECLARE_EXCHANGE => Command::DeclareExchange {
                vhost: get_str(buf)?,
                name: get_str(buf)?,
                def: get_bytes(buf)?,
            },
            T_DELETE_EXCHANGE => Command::DeleteExchange {
                vhost: get_str(buf)?,
                name: get_str(buf)?,
            },
            T_DECLARE_QUEUE => Command::DeclareQueue {
                vhost: get_str(buf)?,
                name: get_str(buf)?,
                queue: get_u64(buf)?,
                def: get_bytes(buf)?,
            },
            T_DELETE_QUEUE => Command::DeleteQueue {
                queue: get_u64(buf)?,
            },
            T_BIND => Command::Bind {
                vhost: get_str(buf)?,
                key: get_bytes(buf)?,
                def: get_bytes(buf)?,
            },
            T_UNBIND => Command::Unbind {
                vhost: get_str(buf)?,
                key: get_bytes(buf)?,
            },
            T_ENQUEUE => {
                let message = get_u64(buf)?;
                let body = get_bytes(buf)?;
                let n = get_len(buf, 16)?;
                let mut targets = Vec::with_capacity(n);
                for _ in 0..n {
                    targets.push((get_u64(buf)?, get_u64(buf)?));
                }
                Command::Enqueue {
                    message,
                    body,
                    targets,
                }
            }
            T_ACK => Command::Ack {
                queue: get_u64(buf)?,
                seqs: get_seqs(buf)?,
            },
            T_SET_DELIVERY_COUNT => Command::SetDeliveryCount {
                queue: get_u64(buf)?,
                seq: get_u64(buf)?,
                count: get_u32(buf)?,
            },
            T_PURGE => Command::Purge {
                queue: get_u64(buf)?,
                keep: get_seqs(buf)?,
            },
            T_PUT_VHOST => Command::PutVhost {
                name: get_str(buf)?,
                def: get_bytes(buf)?,
            },
            T_DELETE_VHOST => Command::DeleteVhost {
                name: get_str(buf)?,
            },
            T_PUT_USER => Command::PutUser {
                name: get_str(buf)?,
                def: get_bytes(buf)?,
            },
            T_DELETE_USER => Command::DeleteUser {
                name: get_str(buf)?,
            },
            T_SET_PERMISSIONS => Command::SetPermissions {
                vhost: get_str(buf)?,
                user: get_str(buf)?,
                def: get_bytes(buf)?,
            },
            T_CLEAR_PERMISSIONS => Command::ClearPermissions {
                vhost: get_str(buf)?,
                user: get_str(buf)?,
            },
            T_SET_TOPIC_PERMISSIONS => Command::SetTopicPermissions {
                vhost: get_str(buf)?,
                user: get_str(buf)?,
                def: get_bytes(buf)?,
            },
            T_CLEAR_TOPIC_PERMISSIONS => Command::ClearTopicPermissions {
                vhost: get_str(buf)?,
                user: get_str(buf)?,
            },
            T_SET_POLICY => Command::SetPolicy {
                operator: get_u8(buf)? != 0,
                vhost: get_str(buf)?,
                name: get_str(buf)?,
                def: get_bytes(buf)?,
            },
            T_CLEAR_POLICY => Command::ClearPolicy {
                operator: get_u8(buf)? != 0,
                vhost: get_str(buf)?,
                name: get_str(buf)?,
            },
            other => return Err(StoreError::Decode(format!("unknown command tag {other}"))),
        };
        Ok(cmd)
    }
}

/// Encodes a list of commands as one versioned log entry.
pub fn encode_commands(cmds: &[Command]) -> Bytes {
    let mut out =
        BytesMut::with_capacity(5 + cmds.iter().map(|c| c.approx_size() + 16).sum::<usize>());
    out.put_u8(COMMAND_ENCODING_VERSION);
    put_len(&mut out, cmds.len());
    for c in cmds {
        c.encode_into(&mut out);
    }
    out.freeze()
}

/// Decodes what `encode_commands` wrote. Rejects unknown versions and trailing bytes.
pub fn decode_commands(buf: &Bytes) -> Result<Vec<Command>, StoreError> {
    let mut buf = buf.clone();
    let version = get_u8(&mut buf)?;
    if version != COMMAND_ENCODING_VERSION {
        return Err(StoreError::Decode(format!(
            "command encoding version {version}, expected {COMMAND_ENCODING_VERSION}"
        )));
    }
    // Each command takes at least 5 bytes (tag + one length: a delete of a vhost or user with
    // an empty name), which bounds the preallocation.
    let n = get_len(&mut buf, 5)?;
    let mut cmds = Vec::with_capacity(n);
    for _ in 0..n {
        cmds.push(Command::decode_from(&mut buf)?);
    }
    if buf.has_remaining() {
        return Err(StoreError::Decode(format!(
            "{} trailing bytes after {n} commands",
            buf.remaining()
        )));
    }
    Ok(cmds)
}

fn put_len(out: &mut BytesMut, n: usize) {
    out.put_u32(u32::try_from(n).expect("store command field longer than 4 GiB"));
}

fn put_bytes(out: &mut BytesMut, b: &[u8]) {
    put_len(out, b.len());
    out.put_slice(b);
}

/// An access record command: its tag, its names, then its definition if it has one.
fn put_record(out: &mut BytesMut, tag: u8, names: &[&String], def: Option<&Bytes>) {
    out.put_u8(tag);
    for n in names {
        put_bytes(out, n.as_bytes());
    }
    if let Some(def) = def {
        put_bytes(out, def);
    }
}

fn put_seqs(out: &mut BytesMut, seqs: &[Seq]) {
    put_len(out, seqs.len());
    for s in seqs {
        out.put_u64(*s);
    }
}

fn short(what: &str) -> StoreError {
    StoreError::Decode(format!("truncated command: missing {what}"))
}

fn get_u8(buf: &mut Bytes) -> Result<u8, StoreError> {
    buf.try_get_u8().map_err(|_| short("u8"))
}

fn get_u32(buf: &mut Bytes) -> Result<u32, StoreError> {
    buf.try_get_u32().map_err(|_| short("u32"))
}

fn get_u64(buf: &mut Bytes) -> Result<u64, StoreError> {
    buf.try_get_u64().map_err(|_| short("u64"))
}

/// A count of items each at least `min_item` bytes long, checked against what is left.
fn get_len(buf: &mut Bytes, min_item: usize) -> Result<usize, StoreError> {
    let n = get_u32(buf)? as usize;
    if n.saturating_mul(min_item) > buf.remaining() {
        return Err(short("list items"));
    }
    Ok(n)
}

fn get_bytes(buf: &mut Bytes) -> Result<Bytes, StoreError> {
    let n = get_len(buf, 1)?;
    Ok(buf.split_to(n))
}

fn get_str(buf: &mut Bytes) -> Result<String, StoreError> {
    let b = get_bytes(buf)?;
    String::from_utf8(b.to_vec()).map_err(|_| StoreError::Decode("name is not UTF-8".into()))
}

fn get_seqs(buf: &mut Bytes) -> Result<Vec<Seq>, StoreError> {
    let n = get_len(buf, 8)?;
    (0..n).map(|_| get_u64(buf)).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name() -> impl Strategy<Value = String> {
        "[a-z/._\u{e9}\u{4e2d}-]{0,12}"
    }

    fn blob() -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from)
    }

    pub(crate) fn command() -> impl Strategy<Value = Command> {
        prop_oneof![
            (name(), name(), blob()).prop_map(|(vhost, name, def)| Command::DeclareExchange {
                vhost,
                name,
                def
            }),
            (name(), name()).prop_map(|(vhost, name)| Command::DeleteExchange { vhost, name }),
            (name(), name(), any::<u64>(), blob()).prop_map(|(vhost, name, queue, def)| {
                Command::DeclareQueue {
                    vhost,
                    name,
                    queue,
                    def,
                }
            }),
            any::<u64>().prop_map(|queue| Command::DeleteQueue { queue }),
            (name(), blob(), blob()).prop_map(|(vhost, key, def)| Command::Bind {
                vhost,
                key,
                def
            }),
            (name(), blob()).prop_map(|(vhost, key)| Command::Unbind { vhost, key }),
            (
                any::<u64>(),
                blob(),
                proptest::collection::vec((any::<u64>(), any::<u64>()), 0..4)
            )
                .prop_map(|(message, body, targets)| Command::Enqueue {
                    message,
                    body,
                    targets
                }),
            (any::<u64>(), proptest::collection::vec(any::<u64>(), 0..5))
                .prop_map(|(queue, seqs)| Command::Ack { queue, seqs }),
            (any::<u64>(), any::<u64>(), any::<u32>())
                .prop_map(|(queue, seq, count)| Command::SetDeliveryCount { queue, seq, count }),
            (any::<u64>(), proptest::collection::vec(any::<u64>(), 0..5))
                .prop_map(|(queue, keep)| Command::Purge { queue, keep }),
            access_command(),
        ]
    }

    fn access_command() -> impl Strategy<Value = Command> {
        prop_oneof![
            (name(), blob()).prop_map(|(name, def)| Command::PutVhost { name, def }),
            name().prop_map(|name| Command::DeleteVhost { name }),
            (name(), blob()).prop_map(|(name, def)| Command::PutUser { name, def }),
            name().prop_map(|name| Command::DeleteUser { name }),
            (name(), name(), blob()).prop_map(|(vhost, user, def)| Command::SetPermissions {
                vhost,
                user,
                def
            }),
            (name(), name()).prop_map(|(vhost, user)| Command::ClearPermissions { vhost, user }),
            (name(), name(), blob()).prop_map(|(vhost, user, def)| {
                Command::SetTopicPermissions { vhost, user, def }
            }),
            (name(), name())
                .prop_map(|(vhost, user)| Command::ClearTopicPermissions { vhost, user }),
            (name(), name(), any::<bool>(), blob()).prop_map(|(vhost, name, operator, def)| {
                Command::SetPolicy {
                    vhost,
                    name,
                    operator,
                    def,
                }
            }),
            (name(), name(), any::<bool>()).prop_map(|(vhost, name, operator)| {
                Command::ClearPolicy {
                    vhost,
                    name,
                    operator,
                }
            }),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(cmds in proptest::collection::vec(command(), 0..8)) {
            let bytes = encode_commands(&cmds);
            prop_assert_eq!(decode_commands(&bytes).unwrap(), cmds);
        }

        #[test]
        fn truncated_or_mutated_never_panics(
            cmds in proptest::collection::vec(command(), 1..4),
            cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
        ) {
            let bytes = encode_commands(&cmds);
            let cut = cut.index(bytes.len());
            prop_assert!(decode_commands(&bytes.slice(..cut)).is_err());
            let mut v = bytes.to_vec();
            let i = flip.index(v.len());
            v[i] ^= 0x5a;
            let _ = decode_commands(&Bytes::from(v));
        }
    }

    #[test]
    fn golden_encoding_is_stable() {
        let cmds = vec![
            Command::DeleteQueue { queue: 7 },
            Command::Ack {
                queue: 1,
                seqs: vec![2],
            },
        ];
        let hex: String = encode_commands(&cmds)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "01\
             00000002\
             04 0000000000000007\
             08 0000000000000001 00000001 0000000000000002"
                .replace(' ', "")
        );
    }

    #[test]
    fn rejects_unknown_version_tag_and_trailing_bytes() {
        let good = encode_commands(&[Command::DeleteQueue { queue: 1 }]);
        let mut v = good.to_vec();
        v[0] = 2;
        assert!(decode_commands(&Bytes::from(v)).is_err());
        let mut v = good.to_vec();
        v[5] = 99;
        assert!(decode_commands(&Bytes::from(v)).is_err());
        let mut v = good.to_vec();
        v.push(0);
        assert!(decode_commands(&Bytes::from(v)).is_err());
    }
}

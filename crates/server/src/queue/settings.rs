//! The settings a queue runs with that a policy can change while it runs: TTL, length
//! limits and overflow, `x-expires`, the consumer timeout and the dead-letter target. They
//! come from the declared arguments with the policies folded in (`policy::Applied`), and are
//! swapped whole when a policy is set or cleared. Numbers are relaxed atomics (the publish
//! path reads them without a lock, as it read the fields they replace); the dead-letter
//! target, read only when a message is dead-lettered, sits behind a read-write lock.

use super::limits::Overflow;
use super::{Queue, State};
use crate::dead_letter::DeadLetterTarget;
use crate::policy::Applied;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use warren_codec::{FieldTable, FieldValue};

/// "No value" in an atomic setting.
const UNSET: u64 = u64::MAX;

#[derive(Debug)]
pub(super) struct Settings {
    /// `x-message-ttl` in ms.
    message_ttl: AtomicU64,
    /// `x-max-length` / `x-max-length-bytes`: ready messages and their body bytes.
    max_length: AtomicU64,
    max_length_bytes: AtomicU64,
    /// `x-overflow`: what happens past a length limit.
    overflow: AtomicU8,
    /// `x-expires` in ms: the queue is deleted after being unused this long.
    expires: AtomicU64,
    /// `x-consumer-timeout` in ms.
    consumer_timeout: AtomicU64,
    /// `x-dead-letter-exchange` / `x-dead-letter-routing-key`.
    dead_letter: RwLock<Option<Arc<DeadLetterTarget>>>,
    /// The policies in force (for the management API; nothing on the message path reads it).
    applied: Mutex<Applied>,
}

fn load(a: &AtomicU64) -> Option<u64> {
    Some(a.load(Ordering::Relaxed)).filter(|&v| v != UNSET)
}

fn store(a: &AtomicU64, v: Option<u64>) {
    a.store(v.unwrap_or(UNSET), Ordering::Relaxed);
}

/// A limit from the (effective) arguments: validated at declare or by the policy as an
/// integer, not negative.
fn limit(args: &FieldTable, key: &str) -> Option<u64> {
    args.get(key)
        .and_then(FieldValue::as_i64)
        .map(|n| u64::try_from(n).unwrap_or(0))
}

fn overflow_of(args: &FieldTable) -> Overflow {
    match args.get("x-overflow") {
        Some(FieldValue::LongStr(s)) if s.as_bytes() == b"reject-publish" => {
            Overflow::RejectPublish
        }
        Some(FieldValue::LongStr(s)) if s.as_bytes() == b"reject-publish-dlx" => {
            Overflow::RejectPublishDlx
        }
        _ => Overflow::DropHead,
    }
}

impl Settings {
    pub(super) fn new(args: &FieldTable) -> Settings {
        let s = Settings {
            message_ttl: AtomicU64::new(UNSET),
            max_length: AtomicU64::new(UNSET),
            max_length_bytes: AtomicU64::new(UNSET),
            overflow: AtomicU8::new(Overflow::DropHead as u8),
            expires: AtomicU64::new(UNSET),
            consumer_timeout: AtomicU64::new(UNSET),
            dead_letter: RwLock::new(None),
            applied: Mutex::new(Applied::default()),
        };
        s.set(args);
        s
    }

    /// Takes every setting from `args` (declared arguments, policies folded in).
    fn set(&self, args: &FieldTable) {
        store(&self.message_ttl, limit(args, "x-message-ttl"));
        store(&self.max_length, limit(args, "x-max-length"));
        store(&self.max_length_bytes, limit(args, "x-max-length-bytes"));
        store(&self.expires, limit(args, "x-expires").filter(|&ms| ms > 0));
        store(&self.consumer_timeout, limit(args, "x-consumer-timeout"));
        self.overflow
            .store(overflow_of(args) as u8, Ordering::Relaxed);
        let target = DeadLetterTarget::from_arguments(args).map(Arc::new);
        *self.dead_letter.write().unwrap_or_else(|p| p.into_inner()) = target;
    }

    pub(super) fn message_ttl(&self) -> Option<u64> {
        load(&self.message_ttl)
    }

    pub(super) fn max_length(&self) -> Option<u64> {
        load(&self.max_length)
    }

    pub(super) fn max_length_bytes(&self) -> Option<u64> {
        load(&self.max_length_bytes)
    }

    pub(super) fn overflow(&self) -> Overflow {
        Overflow::from_u8(self.overflow.load(Ordering::Relaxed))
    }

    pub(super) fn expires(&self) -> Option<u64> {
        load(&self.expires)
    }

    pub(super) fn consumer_timeout(&self) -> Option<u64> {
        load(&self.consumer_timeout)
    }

    pub(super) fn dead_letter(&self) -> Option<Arc<DeadLetterTarget>> {
        self.dead_letter
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn has_dead_letter(&self) -> bool {
        self.dead_letter
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

impl Queue {
    /// The policies in force on this queue.
    pub(crate) fn applied_policy(&self) -> Applied {
        self.settings
            .applied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Takes the settings `applied` gives with the declared arguments, without acting on
    /// them yet (a queue being created or recovered); `false` if nothing changed.
    pub(crate) fn set_policy(&self, applied: Applied) -> bool {
        let mut current = self
            .settings
            .applied
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if *current == applied {
            return false;
        }
        self.settings
            .set(&applied.queue_arguments(&self.options.arguments));
        *current = applied;
        true
    }

    /// A policy set or cleared while the queue runs: new settings, then what they ask for at
    /// once, as RabbitMQ's queue does: a shorter length limit drops (or dead-letters) from
    /// the head, and the `x-expires` clock starts again. A new TTL applies to messages
    /// published from now on; those already in keep the expiry they were given.
    pub(crate) fn apply_policy(self: &Arc<Self>, applied: Applied) {
        if !self.set_policy(applied) {
            return;
        }
        self.touch();
        self.expiry_changed.notify_one();
        self.locked(|st: &mut State| {
            if st.deleted {
                return;
            }
            self.drop_head_over_limit(st);
            self.dispatch(st);
        });
    }
}

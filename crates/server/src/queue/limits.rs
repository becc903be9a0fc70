//! Length limits (`x-max-length`, `x-max-length-bytes`) and `x-overflow`: refusing a publish
//! (reject-publish, reject-publish-dlx) or trimming from the head (drop-head).

use super::{Queue, State};
use crate::dead_letter::Reason;
use crate::message::Message;

/// `x-overflow`: what a queue does when a publish would take it past a length limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Overflow {
    DropHead = 0,
    RejectPublish = 1,
    RejectPublishDlx = 2,
}

impl Overflow {
    pub(super) fn from_u8(v: u8) -> Overflow {
        match v {
            1 => Overflow::RejectPublish,
            2 => Overflow::RejectPublishDlx,
            _ => Overflow::DropHead,
        }
    }
}

impl Queue {
    /// With `x-overflow` reject-publish(-dlx): whether one more message would break a length
    /// limit (RabbitMQ counts ready messages only); a refused message goes to the dead-letter
    /// exchange under reject-publish-dlx.
    pub(super) fn refuses(&self, st: &mut State, message: &Message) -> bool {
        let overflow = self.settings.overflow();
        if overflow == Overflow::DropHead {
            return false;
        }
        let over = self
            .settings
            .max_length()
            .is_some_and(|max| st.ready_len() as u64 + 1 > max)
            || self
                .settings
                .max_length_bytes()
                .is_some_and(|max| st.ready_bytes + message.body_len() as u64 > max);
        if over && overflow == Overflow::RejectPublishDlx && self.settings.has_dead_letter() {
            st.dead.push((message.clone(), Reason::MaxLen));
        }
        over
    }

    /// With `x-overflow` drop-head (the default): drops (or dead-letters, reason `maxlen`)
    /// messages from the head until the queue is within its length limits.
    pub(super) fn drop_head_over_limit(&self, st: &mut State) {
        let (max_length, max_bytes) =
            (self.settings.max_length(), self.settings.max_length_bytes());
        if self.settings.overflow() != Overflow::DropHead
            || (max_length.is_none() && max_bytes.is_none())
        {
            return;
        }
        let over = |st: &State| {
            max_length.is_some_and(|max| st.ready_len() as u64 > max)
                || max_bytes.is_some_and(|max| st.ready_bytes > max)
        };
        while over(st) && self.remove_head(st, Reason::MaxLen) {}
    }

    /// Takes the head entry out for `reason` (expired, or over a length limit): off the store,
    /// and to the dead-letter exchange if the queue has one (reading its body back first if it
    /// was paged out). `false` if the queue is empty.
    pub(super) fn remove_head(&self, st: &mut State, reason: Reason) -> bool {
        let dead_letter = self.settings.has_dead_letter();
        loop {
            self.refill(st);
            if !dead_letter || st.ready.front().is_none_or(|e| e.body.is_resident()) {
                break;
            }
            self.page_in(st);
        }
        let Some(entry) = st.pop_ready() else {
            return false;
        };
        self.refill(st);
        self.forget_paged(st, &entry);
        if entry.stored() {
            if entry.body.is_resident() {
                st.resident = st.resident.saturating_sub(1);
                st.resident_bytes = st.resident_bytes.saturating_sub(entry.body_len());
            }
            self.submit_acks(vec![entry.seq]);
        }
        if let (true, Some(message)) = (dead_letter, entry.body.into_message()) {
            st.dead.push((message, reason));
        }
        true
    }
}

//! A confirm channel's publisher-confirm bookkeeping, with no I/O: publish sequence numbers,
//! what has been acked or nacked so far, and which basic.ack / basic.nack settles a range
//! once it is due. The connection (confirms.rs) decides *when* a range is due (its batch is
//! handled and any store write it waits on has resolved) and sends the frames this returns.

/// One basic.ack or basic.nack to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Settlement {
    pub(super) tag: u64,
    pub(super) multiple: bool,
    pub(super) ack: bool,
}

#[derive(Debug)]
pub(super) struct ConfirmTracker {
    /// Publish sequence number of the next confirmable publish (starts at 1).
    next_seq: u64,
    /// Highest publish sequence number already settled with the client.
    confirmed_upto: u64,
    /// Publishes above `confirmed_upto` already nacked on their own (refused by a queue).
    nacked: Vec<u64>,
}

impl Default for ConfirmTracker {
    fn default() -> Self {
        ConfirmTracker {
            next_seq: 1,
            confirmed_upto: 0,
            nacked: Vec::new(),
        }
    }
}

impl ConfirmTracker {
    /// Counts a confirmable publish; returns its sequence number.
    pub(super) fn publish(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq - 1
    }

    /// The last publish's sequence number if some publish is not settled yet.
    pub(super) fn unsettled_upto(&self) -> Option<u64> {
        let last = self.next_seq - 1;
        (last > self.confirmed_upto).then_some(last)
    }

    /// The last publish was refused by a queue: it is nacked now, on its own, as RabbitMQ
    /// does; later acks with `multiple` may span it (clients have settled it already).
    pub(super) fn refuse_last(&mut self) -> Settlement {
        let seq = self.next_seq - 1;
        self.nacked.push(seq);
        Settlement {
            tag: seq,
            multiple: false,
            ack: false,
        }
    }

    /// Settles publishes up to `upto` (acked if `ok`, nacked if the store failed): the frame
    /// to send, or `None` if nothing in that range is left to settle (already settled, not
    /// published yet, or only publishes nacked on their own).
    #[cfg(test)]
    pub(super) fn settle_upto(&mut self, upto: u64, ok: bool) -> Option<Settlement> {
        self.settle_counted(upto, ok).map(|(s, _)| s)
    }

    /// [`Self::settle_upto`], with how many publishes the frame settles (those nacked on
    /// their own left out): the broker's confirmed counter.
    pub(super) fn settle_counted(&mut self, upto: u64, ok: bool) -> Option<(Settlement, u64)> {
        if upto <= self.confirmed_upto || upto >= self.next_seq {
            return None;
        }
        let nacked_in_range = self
            .nacked
            .iter()
            .filter(|&&s| s > self.confirmed_upto && s <= upto)
            .count() as u64;
        self.nacked.retain(|&s| s > upto);
        let span = upto - self.confirmed_upto;
        self.confirmed_upto = upto;
        let settlement = Settlement {
            tag: upto,
            multiple: span > 1,
            ack: ok,
        };
        (nacked_in_range != span).then_some((settlement, span - nacked_in_range))
    }
}

#[cfg(test)]
#[path = "confirm_tracker_tests.rs"]
mod tests;

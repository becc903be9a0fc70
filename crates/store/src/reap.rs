//! Deleted queues leave the disk a chunk at a time.
//!
//! Deleting a queue releases every message only it held. Done in the deleting batch, that
//! batch grew with the queue: a queue of 49 million messages (7.5 million of them stored)
//! took the broker from 130 to 665 MiB resident and held the writer for seconds. Now the
//! definition goes at once, with the first [`REAP_CHUNK`] entries, and the rest go
//! [`REAP_CHUNK`] at a time in batches of their own, between the writer's other batches and
//! whenever it is idle (`writer.rs`). Each chunk is one atomic batch: its entries and their
//! messages go together, so a crash leaves the rest on disk as entries without a queue
//! definition, which recovery hands back to the reaper (`recovery.rs`). Queue ids are never
//! reused, so nothing new lands among them.

use crate::apply::{Cfs, StateMachine};
use crate::command::{QueueId, Seq};
use crate::error::StoreError;
use rocksdb::WriteBatch;

/// Entries a reaping batch removes: a few hundred KiB of batch.
pub(crate) const REAP_CHUNK: usize = 4096;

impl StateMachine {
    /// Whether deleted queues still have entries on disk.
    pub fn is_reaping(&self) -> bool {
        !self.reaping.is_empty()
    }

    /// Removes the next chunk of the first deleted queue still on disk into `wb`.
    pub fn reap_next(&mut self, c: &Cfs, wb: &mut WriteBatch) -> Result<(), StoreError> {
        match self.reaping.keys().next() {
            Some(&queue) => self.reap(c, wb, queue),
            None => Ok(()),
        }
    }

    /// Releases up to [`REAP_CHUNK`] of the deleted `queue`'s entries and range-deletes what
    /// they cover; once none are left, the queue is done.
    pub(crate) fn reap(
        &mut self,
        c: &Cfs,
        wb: &mut WriteBatch,
        queue: QueueId,
    ) -> Result<(), StoreError> {
        let Some(&from) = self.reaping.get(&queue) else {
            return Ok(());
        };
        let entries = self.live_entries(c, queue, from, REAP_CHUNK)?;
        let last = entries.last().map(|e| e.0);
        for (_, v) in entries.iter() {
            self.release(c, wb, *v);
        }
        match last {
            Some(last) if entries.len() == REAP_CHUNK && last < Seq::MAX => {
                self.clear_range(c, wb, queue, from, last);
                self.reaping.insert(queue, last + 1);
            }
            _ => {
                self.clear_range(c, wb, queue, from, Seq::MAX);
                self.reaping.remove(&queue);
            }
        }
        Ok(())
    }
}

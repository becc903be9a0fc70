//! Finding entries in the ready deque when its order is not seq order. A priority queue's deque
//! is one band per priority, highest first, and each band is in seq order (a new entry goes
//! after every entry of at least its priority, a requeued one back to its (priority, seq)
//! place). A plain queue is the one-band case. Paging and spilling walk it through these
//! helpers: by seq across bands, or in deque order from the head, and pages read from the
//! store are matched back to deque positions (docs/storage.md, "Priority queues page too").

use super::paging::PAGE_IN;
use super::{Entry, State};
use std::collections::VecDeque;
use std::ops::Range;

/// A paged-out entry's deque position with what was read back for it.
pub(super) type Loaded<T> = Vec<(usize, T)>;

/// `VecDeque::partition_point` within `range`.
pub(super) fn partition_in(
    ready: &VecDeque<Entry>,
    range: Range<usize>,
    pred: impl Fn(&Entry) -> bool,
) -> usize {
    let (mut lo, mut hi) = (range.start, range.end);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(&ready[mid]) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The deque range of the band that holds position `pos`, from `pos` on (in a plain queue,
/// where every entry has priority 0, `pos..len`); `None` past the end. Walking from one
/// band's end to the next visits every band once, without allocating.
pub(super) fn band_at(ready: &VecDeque<Entry>, pos: usize) -> Option<Range<usize>> {
    let priority = ready.get(pos)?.priority();
    // At least one entry on, whatever the order: a walk always ends.
    let end = ready
        .partition_point(|e| e.priority() >= priority)
        .max(pos + 1);
    Some(pos..end)
}

impl State {
    /// Where the ready entry `seq` (of this priority) sits in the deque, if it is there.
    pub(super) fn position_of(&self, seq: u64, priority: u8) -> Option<usize> {
        let lo = self.ready.partition_point(|e| e.priority() > priority);
        let hi = self.ready.partition_point(|e| e.priority() >= priority);
        let i = partition_in(&self.ready, lo..hi, |e| e.seq < seq);
        (i < hi && self.ready[i].seq == seq).then_some(i)
    }

    /// Reads the next page of entries without their body from the head on, stored ones
    /// (`stored`) or spilled ones, and pairs what was read with their deque positions. In seq
    /// order (a plain queue) that is the seq range from the head (`by_range`); otherwise the
    /// next such entries in deque order, read by their seqs (`by_seqs`).
    pub(super) fn read_next_page<T, E>(
        &self,
        in_seq_order: bool,
        stored: bool,
        seq_of: impl Fn(&T) -> u64,
        by_range: impl FnOnce() -> Result<Vec<T>, E>,
        by_seqs: impl FnOnce(&[u64]) -> Result<Vec<T>, E>,
    ) -> Result<Loaded<T>, E> {
        if in_seq_order {
            return by_range().map(|page| self.match_in_order(page, seq_of));
        }
        let (positions, seqs) = self.next_paged(stored, PAGE_IN);
        by_seqs(&seqs).map(|page| match_positions(&positions, &seqs, page, seq_of))
    }

    /// The deque positions and seqs of the first entries without their body from the head
    /// on, stored ones (`stored`) or spilled ones, at most `limit`, looking at most
    /// `2 * limit` places in: a priority queue's next page.
    fn next_paged(&self, stored: bool, limit: usize) -> (Vec<usize>, Vec<u64>) {
        let (mut positions, mut seqs) = (Vec::new(), Vec::new());
        for (i, e) in self.ready.iter().enumerate().take(2 * limit) {
            if positions.len() == limit {
                break;
            }
            if e.stored() == stored && !e.body.is_resident() {
                positions.push(i);
                seqs.push(e.seq);
            }
        }
        (positions, seqs)
    }

    /// Pairs a page read as a seq range (items in seq order) with the positions of the same
    /// seqs in a deque in seq order (a plain queue's).
    fn match_in_order<T>(&self, page: Vec<T>, seq_of: impl Fn(&T) -> u64) -> Loaded<T> {
        let mut i = 0;
        let mut out = Vec::with_capacity(page.len());
        for item in page {
            let seq = seq_of(&item);
            while i < self.ready.len() && self.ready[i].seq < seq {
                i += 1;
            }
            match self.ready.get(i) {
                Some(e) if e.seq == seq => out.push((i, item)),
                Some(_) => {}
                None => break,
            }
        }
        out
    }
}

/// Pairs a page read by seqs (in the order asked, missing ones left out) with the positions
/// those seqs were taken from (`State::next_paged`).
fn match_positions<T>(
    positions: &[usize],
    seqs: &[u64],
    page: Vec<T>,
    seq_of: impl Fn(&T) -> u64,
) -> Loaded<T> {
    let mut k = 0;
    let mut out = Vec::with_capacity(page.len());
    for item in page {
        let seq = seq_of(&item);
        while k < seqs.len() && seqs[k] != seq {
            k += 1;
        }
        let Some(&at) = positions.get(k) else {
            break;
        };
        out.push((at, item));
        k += 1;
    }
    out
}

/// The deque positions past `from` of the entries with seq at least `cursor`, in seq order
/// across every band: a walk that stops anywhere has looked at every such entry below the
/// last seq it saw, whichever band it is in.
pub(super) struct BySeq {
    /// Per band, the next position and the band's end.
    bands: Vec<Range<usize>>,
}

impl BySeq {
    pub(super) fn new(ready: &VecDeque<Entry>, from: usize, cursor: u64) -> BySeq {
        let mut bands = Vec::new();
        let mut pos = from;
        while let Some(band) = band_at(ready, pos) {
            pos = band.end;
            let start = partition_in(ready, band.clone(), |e| e.seq < cursor);
            if start < band.end {
                bands.push(start..band.end);
            }
        }
        BySeq { bands }
    }

    pub(super) fn next(&mut self, ready: &VecDeque<Entry>) -> Option<usize> {
        let band = self
            .bands
            .iter_mut()
            .filter(|b| b.start < b.end)
            .min_by_key(|b| ready[b.start].seq)?;
        let at = band.start;
        band.start += 1;
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Slot;

    /// A priority deque: (seq, priority) in band order.
    fn deque(entries: &[(u64, u8)]) -> VecDeque<Entry> {
        entries
            .iter()
            .map(|&(seq, p)| Entry::new(seq, Slot::paged(1), p, true, u64::MAX))
            .collect()
    }

    #[test]
    fn by_seq_walks_every_band_in_seq_order_from_the_cursor() {
        let ready = deque(&[
            (4, 9),
            (7, 9),
            (1, 5),
            (5, 5),
            (8, 5),
            (2, 0),
            (3, 0),
            (6, 0),
        ]);
        let mut walk = BySeq::new(&ready, 0, 0);
        let mut seqs = Vec::new();
        while let Some(i) = walk.next(&ready) {
            seqs.push(ready[i].seq);
        }
        assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6, 7, 8]);
        // Past two places, from seq 5 on.
        let mut walk = BySeq::new(&ready, 2, 5);
        let mut seqs = Vec::new();
        while let Some(i) = walk.next(&ready) {
            seqs.push(ready[i].seq);
        }
        assert_eq!(seqs, vec![5, 6, 8]);
    }

    #[test]
    fn a_seq_is_found_in_its_band_only() {
        let st = State {
            ready: deque(&[(4, 9), (7, 9), (1, 5), (5, 5), (2, 0), (6, 0)]),
            ..State::default()
        };
        assert_eq!(st.position_of(5, 5), Some(3));
        assert_eq!(st.position_of(6, 0), Some(5));
        assert_eq!(st.position_of(5, 0), None);
        assert_eq!(st.position_of(3, 9), None);
        let bands: Vec<_> = [1, 2, 4, 6].map(|pos| band_at(&st.ready, pos)).into();
        assert_eq!(bands, vec![Some(1..2), Some(2..4), Some(4..6), None]);
    }

    #[test]
    fn pages_match_back_to_positions() {
        // Asked 7, 9, 2 (at 0, 3, 5); 9 was not found.
        let got = match_positions(&[0, 3, 5], &[7, 9, 2], vec![7u64, 2], |s| *s);
        assert_eq!(got, vec![(0, 7), (5, 2)]);
        let st = State {
            ready: deque(&[(2, 0), (3, 0), (5, 0), (8, 0)]),
            ..State::default()
        };
        let got = st.match_in_order(vec![3u64, 4, 8, 9], |s| *s);
        assert_eq!(got, vec![(1, 3), (3, 8)]);
    }
}

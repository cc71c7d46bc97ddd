//! When flows drain, soonest first.
//!
//! Every re-solve moves the completion of each flow it re-rates. An ordered set pays a search
//! to remove the old entry and another to insert the new one; here the new entry is pushed on
//! a heap and the old one is left behind, recognised as stale by the network (the flow's
//! current completion differs) when it reaches the front. The order of entries is that of the
//! set it replaces: by time, then flow id.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::engine::SimTime;

#[derive(Debug, Clone, Default)]
pub(super) struct Completions {
    heap: BinaryHeap<Reverse<(SimTime, u32)>>,
}

impl Completions {
    pub(super) fn push(&mut self, t: SimTime, id: u32) {
        self.heap.push(Reverse((t, id)));
    }

    /// The soonest entry, current or stale.
    pub(super) fn first(&self) -> Option<(SimTime, u32)> {
        self.heap.peek().map(|e| e.0)
    }

    pub(super) fn pop_first(&mut self) {
        self.heap.pop();
    }

    /// Entries held, stale ones included.
    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Replaces every entry by `current`.
    pub(super) fn rebuild(&mut self, current: impl Iterator<Item = (SimTime, u32)>) {
        self.heap = current.map(Reverse).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_out_by_time_then_id() {
        let mut c = Completions::default();
        for (t, id) in [(3, 1), (1, 7), (1, 2), (2, 0)] {
            c.push(SimTime::from_secs(t), id);
        }
        let mut out = Vec::new();
        while let Some(e) = c.first() {
            out.push(e);
            c.pop_first();
        }
        let want: Vec<_> = [(1, 2), (1, 7), (2, 0), (3, 1)]
            .iter()
            .map(|&(t, id)| (SimTime::from_secs(t), id))
            .collect();
        assert_eq!(out, want);
    }
}

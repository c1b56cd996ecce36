//! Keyed deadlines for the poll loop: each key is armed at most once, the earliest is served first.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::vecmap::VecMap;

/// A min-heap of deadlines with one live deadline per key; re-arming a key
/// replaces its deadline, cancelling removes it (stale heap entries are skipped).
#[derive(Debug)]
pub struct Timers<K: Copy + Ord> {
    heap: BinaryHeap<Reverse<(Instant, u64, K)>>,
    live: VecMap<K, (Instant, u64)>,
    generation: u64,
}

impl<K: Copy + Ord> Default for Timers<K> {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            live: VecMap::new(),
            generation: 0,
        }
    }
}

impl<K: Copy + Ord> Timers<K> {
    /// Arms `key` for `at`, replacing any earlier deadline of the same key.
    pub fn set(&mut self, key: K, at: Instant) {
        self.generation += 1;
        self.live.insert(key, (at, self.generation));
        self.heap.push(Reverse((at, self.generation, key)));
    }

    /// Disarms `key`.
    pub fn cancel(&mut self, key: K) {
        self.live.remove(&key);
    }

    /// When `key` fires, if armed.
    pub fn deadline(&self, key: K) -> Option<Instant> {
        self.live.get(&key).map(|&(at, _)| at)
    }

    fn drop_stale(&mut self) {
        while let Some(Reverse((_, generation, key))) = self.heap.peek() {
            if self.live.get(key).is_some_and(|&(_, g)| g == *generation) {
                break;
            }
            self.heap.pop();
        }
    }

    /// The earliest armed deadline.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.drop_stale();
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Disarms and returns the next key due at `now`, if any.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        self.drop_stale();
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => {
                let Reverse((_, _, key)) = self.heap.pop()?;
                self.live.remove(&key);
                Some(key)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_first_with_rearm_and_cancel() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut timers = Timers::default();
        timers.set(1, t0 + s(30));
        timers.set(2, t0 + s(10));
        timers.set(3, t0 + s(20));
        timers.set(1, t0 + s(5)); // re-armed earlier
        timers.cancel(3);
        assert_eq!(timers.next_deadline(), Some(t0 + s(5)));
        assert_eq!(timers.pop_due(t0 + s(1)), None);
        assert_eq!(timers.pop_due(t0 + s(100)), Some(1));
        assert_eq!(timers.pop_due(t0 + s(100)), Some(2));
        assert_eq!(timers.pop_due(t0 + s(100)), None);
        assert_eq!(timers.next_deadline(), None);
        assert_eq!(timers.deadline(2), None);
    }
}

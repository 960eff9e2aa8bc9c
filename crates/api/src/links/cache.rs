//! The bounded cache of existence checks. Two generations: entries go into `young`; when it holds half the
//! capacity it becomes `old` (the previous `old` is dropped) and a hit in `old` moves back to `young`. So
//! at most `capacity` entries are held, recently used ones survive, and nothing is scanned on insert.
//! Hand-written because it is this small and needs a per-entry expiry (found, missing and failed results
//! live for different times), which the common LRU crates do not keep per entry.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use diamond_model::traceid::TraceId;

use super::Outcome;

pub(super) type Key = (String, TraceId);

#[derive(Debug, Clone, Copy)]
struct Entry {
    outcome: Outcome,
    expires: Instant,
}

#[derive(Debug)]
pub(super) struct Cache {
    young: HashMap<Key, Entry>,
    old: HashMap<Key, Entry>,
    half: usize,
}

impl Cache {
    pub(super) fn new(capacity: usize) -> Self {
        Cache {
            young: HashMap::new(),
            old: HashMap::new(),
            half: (capacity / 2).max(1),
        }
    }

    pub(super) fn get(&mut self, key: &Key, now: Instant) -> Option<Outcome> {
        if let Some(e) = self.young.get(key) {
            if e.expires > now {
                return Some(e.outcome);
            }
            self.young.remove(key);
            return None;
        }
        let e = self.old.remove(key)?;
        if e.expires <= now {
            return None;
        }
        self.put(key.clone(), e);
        Some(e.outcome)
    }

    pub(super) fn insert(&mut self, key: Key, outcome: Outcome, ttl: Duration, now: Instant) {
        self.old.remove(&key);
        self.put(
            key,
            Entry {
                outcome,
                expires: now + ttl,
            },
        );
    }

    fn put(&mut self, key: Key, e: Entry) {
        if self.young.len() >= self.half && !self.young.contains_key(&key) {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, e);
    }

    pub(super) fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    pub(super) fn clear(&mut self) {
        self.young.clear();
        self.old.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> Key {
        ("t".to_owned(), TraceId([i; 16]))
    }

    #[test]
    fn expiry_per_entry() {
        let mut c = Cache::new(100);
        let t0 = Instant::now();
        c.insert(key(1), Outcome::Found, Duration::from_secs(600), t0);
        c.insert(key(2), Outcome::Missing, Duration::from_secs(30), t0);
        assert_eq!(c.get(&key(1), t0 + Duration::from_secs(31)), Some(Outcome::Found));
        assert_eq!(c.get(&key(2), t0 + Duration::from_secs(29)), Some(Outcome::Missing));
        assert_eq!(c.get(&key(2), t0 + Duration::from_secs(31)), None);
        assert_eq!(c.get(&key(1), t0 + Duration::from_secs(601)), None);
        assert_eq!(c.get(&key(3), t0), None);
    }

    #[test]
    fn bounded_and_keeps_recently_used() {
        let mut c = Cache::new(10);
        let t0 = Instant::now();
        let ttl = Duration::from_secs(600);
        for i in 0..200u8 {
            c.insert(key(i), Outcome::Found, ttl, t0);
            // Key 0 is used all the time: it must survive every generation change.
            assert_eq!(c.get(&key(0), t0), Some(Outcome::Found), "after {i}");
            assert!(c.len() <= 10, "{} entries after {i}", c.len());
        }
        assert_eq!(c.get(&key(1), t0), None, "an old, unused entry was dropped");
        assert_eq!(c.get(&key(199), t0), Some(Outcome::Found));
        c.clear();
        assert_eq!(c.len(), 0);
    }
}

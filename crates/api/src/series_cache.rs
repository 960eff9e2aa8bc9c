//! The remote-write receiver's series cache: raw label bytes → the storage's series ref.
//!
//! A remote-write sender sends the same series in request after request, each time with the same label
//! bytes. Decoding those bytes into [`Labels`](diamond_model::Labels) and looking the label set up in the
//! head costs most of the ingest CPU, and none of it is needed once the series' ref is known: the appender
//! resolves a valid ref directly (Prometheus's scrape cache rests on the same idea). So the receiver keys
//! this cache by a hash of each series' raw label fields (see `diamond_wire::RawSeries::label_key`) and
//! appends with the cached ref as the hint.
//!
//! # Why a hash is a sound key
//! The key is the 128-bit XXH3 hash of the label fields' bytes, not the bytes themselves, so an entry costs
//! the same whatever the label set's size. Two different label sets share a key only if their hashes
//! collide: with n cached series that happens with probability about n²/2¹²⁹, below 10⁻²⁵ for the 4 million
//! entries the cache holds at most. XXH3 is not keyed, so a client could in principle craft colliding label
//! sets, but finding a 128-bit collision is itself out of reach (no practical attack on XXH3-128 is known),
//! and the worst outcome is samples written to another series of the same sender's tenant.
//!
//! # What a stale entry does
//! Nothing harmful. Refs are never reused for another label set (the head allocates them from a counter),
//! so a cached ref is either the right series or unknown to the appender (a series removed from the head).
//! The receiver appends cache hits with an empty label set, which an unknown ref makes the appender refuse
//! as invalid labels; the receiver then drops the entry, decodes the labels and appends again by labels.
//!
//! # Memory
//! An entry is a 16-byte key and an 8-byte ref in a hashbrown table (plus one control byte per bucket, at
//! most 7/8 of the buckets full and a power-of-two bucket count): 29 to 57 bytes, about 40 on average. The
//! cache is split in [`SHARDS`] shards, each behind its own mutex, and a shard that reaches its share of the
//! limit is cleared (its series are decoded once more on their next request and come back), so at the
//! default limit of 4 million entries it holds at most about 210 MB (64 tables of 2¹⁷ buckets of 25 bytes),
//! and a sender's working set far below the limit (100 000 series: about 4 MB) never sees a clear.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use diamond_model::storage::SeriesRef;
use parking_lot::Mutex;

/// Number of shards: enough that concurrent requests rarely wait for one another.
const SHARDS: usize = 64;

/// Default bound on the number of entries.
pub(crate) const DEFAULT_MAX_ENTRIES: usize = 4 << 20;

/// The 128-bit hash of a series' raw label bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeriesKey {
    hi: u64,
    lo: u64,
}

impl SeriesKey {
    /// The key of a series whose label fields are `label_bytes`.
    pub(crate) fn of(label_bytes: &[u8]) -> Self {
        let h = xxhash_rust::xxh3::xxh3_128(label_bytes);
        SeriesKey {
            hi: (h >> 64) as u64,
            lo: h as u64,
        }
    }

    fn shard(self) -> usize {
        // The high bits pick the shard; the table hashes with the low ones, so they are independent.
        (self.hi >> 58) as usize % SHARDS
    }
}

impl Hash for SeriesKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already a good hash: the table uses 64 of its bits as they are.
        state.write_u64(self.lo);
    }
}

/// A hasher that passes a [`SeriesKey`]'s bits through (hashing a hash again would only cost time).
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached if a key type other than `SeriesKey` were used; fold the bytes in anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type Shard = HashMap<SeriesKey, SeriesRef, BuildHasherDefault<PassThrough>>;

/// A bounded, sharded map from [`SeriesKey`] to the series ref the appender returned. See the module doc.
pub(crate) struct SeriesCache {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
}

impl std::fmt::Debug for SeriesCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeriesCache")
            .field("len", &self.len())
            .field("max", &(self.per_shard * SHARDS))
            .finish()
    }
}

impl SeriesCache {
    /// A cache of at most about `max_entries` entries (rounded up to a multiple of the shard count).
    pub(crate) fn new(max_entries: usize) -> Self {
        SeriesCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: max_entries.div_ceil(SHARDS).max(1),
        }
    }

    /// The cached ref of `key`.
    pub(crate) fn get(&self, key: SeriesKey) -> Option<SeriesRef> {
        self.shards[key.shard()].lock().get(&key).copied()
    }

    /// Remembers `sref` for `key`, clearing the shard first when it is full.
    pub(crate) fn insert(&self, key: SeriesKey, sref: SeriesRef) {
        let mut shard = self.shards[key.shard()].lock();
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            // Clearing keeps the table's allocation, so memory stays at its bound rather than churning.
            shard.clear();
        }
        shard.insert(key, sref);
    }

    /// Forgets `key` (its ref went stale).
    pub(crate) fn remove(&self, key: SeriesKey) {
        self.shards[key.shard()].lock().remove(&key);
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_insert_remove() {
        let c = SeriesCache::new(1000);
        let a = SeriesKey::of(b"\x0a\x0c\x0a\x08__name__\x12\x02up");
        let b = SeriesKey::of(b"\x0a\x0c\x0a\x08__name__\x12\x02uq");
        assert_ne!(a, b);
        assert_eq!(c.get(a), None);
        c.insert(a, 7);
        c.insert(b, 8);
        assert_eq!((c.get(a), c.get(b)), (Some(7), Some(8)));
        c.insert(a, 9);
        assert_eq!(c.get(a), Some(9));
        c.remove(a);
        assert_eq!((c.get(a), c.len()), (None, 1));
    }

    #[test]
    fn stays_bounded() {
        let c = SeriesCache::new(SHARDS * 4);
        for i in 0u64..10_000 {
            c.insert(SeriesKey::of(&i.to_le_bytes()), i + 1);
            assert!(c.len() <= SHARDS * 4);
        }
        // The newest entry always survives its insert.
        assert_eq!(c.get(SeriesKey::of(&9_999u64.to_le_bytes())), Some(10_000));
    }
}

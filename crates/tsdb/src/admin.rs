//! The admin operations of [`Db`]: deleting series data (tombstones).
//!
//! Semantics are Prometheus's `delete_series`: the samples of the matching series in `[mint, maxt]` are
//! hidden from every query at once and removed from the files later (when a block is cut from the head,
//! and by `clean_tombstones` for blocks). See `crate::tombstones` and docs/format/wal.md "Tombstones".

use diamond_model::{Matcher, Timestamp};

use crate::db::{Db, Error};
use crate::index::postings_for_matchers;
use crate::record::{self, RefTombstone};
use crate::wal;

impl Db {
    /// Deletes the samples with `mint <= t <= maxt` of every series matching all `matchers`, and returns
    /// how many series got a tombstone. An empty matcher list deletes nothing (as Prometheus, whose
    /// postings for no matchers are empty).
    ///
    /// The tombstones are logged to the WAL and fsynced before they apply, whatever the fsync policy: a
    /// deletion that was acknowledged does not come back after a crash or a power loss.
    pub fn delete(&self, mint: Timestamp, maxt: Timestamp, matchers: &[Matcher]) -> Result<u64, Error> {
        if matchers.is_empty() || mint > maxt {
            return Ok(0);
        }
        let inner = &self.inner;
        let head = &inner.head;
        // Under the WAL lock, like a commit: the head's order of samples and tombstones is the WAL's.
        let mut w = inner.wal.lock();
        if let Err(e) = inner.check_writable_locked(&w) {
            return Err(Error::Wal(wal::Error::Poisoned(e.to_string())));
        }
        let refs = {
            let p = head.postings.read();
            postings_for_matchers(&p, &head.symbols, matchers)
        };
        let mut stones = Vec::new();
        for r in &refs {
            let Some(s) = head.series(u64::from(r)) else {
                continue;
            };
            // Clamp to the series' samples, as Prometheus does: the tombstone then never reaches samples
            // appended later (appends are in order), so replay and the live head agree.
            let Some((first, last)) = s.state.lock().time_range() else {
                continue;
            };
            let (lo, hi) = (mint.max(first), maxt.min(last));
            if lo <= hi {
                stones.push(RefTombstone {
                    sref: u64::from(r),
                    mint: lo,
                    maxt: hi,
                });
            }
        }
        if stones.is_empty() {
            return Ok(0);
        }
        let mut buf = Vec::with_capacity(1 + stones.len() * 12);
        record::encode_tombstones(&stones, &mut buf);
        let logged = w.writer.log(&[buf]).and_then(|()| w.writer.sync());
        if let Err(e) = logged {
            drop(w);
            let _ = inner.poison(&e);
            return Err(Error::Wal(e));
        }
        for s in &stones {
            // Refs come from a u32 bitmap.
            head.tombstones.add(s.sref as u32, s.mint, s.maxt);
        }
        drop(w);
        tracing::info!(series = stones.len(), mint, maxt, "deleted series data (tombstones)");
        Ok(stones.len() as u64)
    }
}

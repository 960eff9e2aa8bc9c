//! Rebuilding the head from the WAL on open.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use diamond_exemplars::ExemplarStore;

use super::{Head, IdMap, MemSeries};
use crate::fs::Dir;
use crate::record::{self, Record};
use crate::wal::{self, ReplayOutcome};

/// What replay found, beyond the WAL layer's outcome.
#[derive(Debug, Default, Clone)]
pub(crate) struct ReplayStats {
    pub(crate) wal: ReplayOutcome,
    pub(crate) samples: u64,
    /// Samples, exemplars or metadata for refs with no series record.
    pub(crate) unknown_refs: u64,
    /// Records that passed the CRC but could not be decoded.
    pub(crate) bad_records: u64,
}

/// Replays every WAL record into `head` and `exemplars`, repairing a damaged tail (see docs/format/wal.md).
pub(crate) fn replay_wal(head: &Head, dir: &dyn Dir, exemplars: &dyn ExemplarStore) -> Result<ReplayStats, wal::Error> {
    let mut st = ReplayStats::default();
    // A series logged twice under different refs (possible after a crash between creating and logging a
    // series in older WALs, or two processes' histories) maps every ref to the first one.
    let mut remap: IdMap<u64, u32> = IdMap::default();
    let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
    let floor = head.min_valid_time.load(Ordering::Relaxed);
    // Refs are dense, so a vector indexed by ref finds a series without the head's stripe locks; replay
    // touches every sample's series, and that look-up dominated replay time.
    let mut by_ref: Vec<Option<Arc<MemSeries>>> = Vec::new();
    let lookup = |by_ref: &Vec<Option<Arc<MemSeries>>>, r: u64| -> Option<Arc<MemSeries>> {
        match usize::try_from(r).ok().and_then(|i| by_ref.get(i)) {
            Some(Some(s)) => Some(Arc::clone(s)),
            _ => head.series(r),
        }
    };
    let outcome = wal::replay(dir, |rec| match record::decode_or_series(rec) {
        Ok(None) => {
            let res = record::decode_series_with(rec, |sref, pairs| {
                let Ok(want) = u32::try_from(sref) else {
                    st.bad_records += 1;
                    return;
                };
                if pairs.is_empty() {
                    st.bad_records += 1;
                    return;
                }
                match head.get_or_create(pairs, Some(want)) {
                    Ok((series, _)) => {
                        series.logged.store(true, Ordering::Relaxed);
                        if series.sref != want {
                            remap.insert(sref, series.sref);
                        }
                        // Sparse refs (a damaged or foreign WAL) stay out of the vector, so it cannot explode.
                        let i = want as usize;
                        if i < 4 * (by_ref.len() + 4096) {
                            if by_ref.len() <= i {
                                by_ref.resize(i + 1, None);
                            }
                            by_ref[i] = Some(series);
                        }
                    }
                    Err(_) => st.bad_records += 1,
                }
            });
            if let Err(e) = res {
                st.bad_records += 1;
                tracing::warn!(error = %e, "skipping undecodable WAL series record");
            }
        }
        Ok(Some(Record::Series(_))) => {}
        Ok(Some(Record::Samples(samples))) => {
            for s in samples {
                let r = remap.get(&s.sref).map_or(s.sref, |&r| u64::from(r));
                let Some(series) = lookup(&by_ref, r) else {
                    st.unknown_refs += 1;
                    continue;
                };
                // Samples a block already holds (a crash between writing the block and checkpointing).
                if s.t < floor {
                    continue;
                }
                // Same rule as commit: a sample that lost a race with a concurrent commit is dropped again.
                if series.state.lock().append(s.t, s.v, head.chunk_range, &head.pages) {
                    st.samples += 1;
                    mint = mint.min(s.t);
                    maxt = maxt.max(s.t);
                }
            }
        }
        Ok(Some(Record::Exemplars(list))) => {
            for e in list {
                let r = remap.get(&e.sref).map_or(e.sref, |&r| u64::from(r));
                let Some(series) = head.series(r) else {
                    st.unknown_refs += 1;
                    continue;
                };
                let labels = head.labels_of(&series);
                // Errors (disabled store, duplicates) are expected here and only counted by the store.
                let _ = exemplars.append(r, &labels, &e.exemplar);
            }
        }
        Ok(Some(Record::Tombstones(list))) => {
            for t in list {
                let r = remap.get(&t.sref).map_or(t.sref, |&r| u64::from(r));
                match head.series(r) {
                    Some(series) => head.tombstones.add(series.sref, t.mint, t.maxt),
                    None => st.unknown_refs += 1,
                }
            }
        }
        Ok(Some(Record::Metadata(list))) => {
            let mut g = head.metadata.write();
            for m in list {
                g.insert(m.family, m.meta);
            }
        }
        Err(e) => {
            st.bad_records += 1;
            tracing::warn!(error = %e, "skipping undecodable WAL record");
        }
    })?;
    if mint <= maxt {
        head.update_time_range(mint, maxt);
    }
    head.counters.samples_appended.fetch_add(st.samples, Ordering::Relaxed);
    st.wal = outcome;
    Ok(st)
}

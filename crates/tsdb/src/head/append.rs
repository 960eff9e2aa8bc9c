//! The head's write transaction.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use diamond_model::storage::{AppendError, Appender, ExemplarError, SeriesRef};
use diamond_model::{Exemplar, Labels, Metadata, Timestamp};

use super::{Appendable, IdMap, MemSeries, check_after};
use crate::db::{DbInner, FsyncPolicy};
use crate::record::{self, FamilyMetadata, RefSample};

/// Samples per WAL samples record (keeps records well under a segment, and replay buffers small).
const SAMPLES_PER_RECORD: usize = 10_000;

struct Pending {
    series: Arc<MemSeries>,
    t: Timestamp,
    v: f64,
}

/// A transaction against the head: validates on `append`, logs to the WAL and applies on `commit`.
pub(crate) struct HeadAppender {
    db: Arc<DbInner>,
    min_valid_time: Timestamp,
    samples: Vec<Pending>,
    /// Newest pending sample per series, for order checks within the transaction.
    last: IdMap<u32, (Timestamp, f64)>,
    exemplars: Vec<(Arc<MemSeries>, Exemplar)>,
    metadata: Vec<(String, Metadata)>,
}

impl HeadAppender {
    pub(crate) fn new(db: Arc<DbInner>) -> HeadAppender {
        let min_valid_time = db.head.appendable_min_valid_time();
        HeadAppender {
            db,
            min_valid_time,
            samples: Vec::new(),
            last: IdMap::default(),
            exemplars: Vec::new(),
            metadata: Vec::new(),
        }
    }

    /// The series for `hint` (trusted, as Prometheus trusts its refs) or for `labels`, created if missing.
    fn resolve(&self, hint: SeriesRef, labels: &Labels) -> Result<Arc<MemSeries>, AppendError> {
        if hint != 0
            && let Some(s) = self.db.head.series(hint)
        {
            return Ok(s);
        }
        validate_labels(labels)?;
        self.db
            .head
            .get_or_create(labels, None)
            .map(|(s, _)| s)
            .map_err(AppendError::Storage)
    }

    fn lookup_existing(&self, sref: SeriesRef, labels: &Labels) -> Option<Arc<MemSeries>> {
        if sref != 0
            && let Some(s) = self.db.head.series(sref)
        {
            return Some(s);
        }
        self.db.head.series_by_labels(labels, super::hash_pairs(labels))
    }
}

/// Prometheus's label-set validity: non-empty, no empty names (values are never empty in [`Labels`]).
fn validate_labels(labels: &Labels) -> Result<(), AppendError> {
    if labels.is_empty() {
        return Err(AppendError::InvalidLabels("empty label set".into()));
    }
    if labels.iter().any(|l| l.name.is_empty()) {
        return Err(AppendError::InvalidLabels("empty label name".into()));
    }
    Ok(())
}

impl Appender for HeadAppender {
    fn append(&mut self, hint: SeriesRef, labels: &Labels, t: Timestamp, v: f64) -> Result<SeriesRef, AppendError> {
        self.db.check_writable()?;
        let c = &self.db.head.counters;
        if t < self.min_valid_time {
            c.out_of_bounds.fetch_add(1, Ordering::Relaxed);
            return Err(AppendError::OutOfBounds);
        }
        let series = self.resolve(hint, labels)?;
        let sref = series.sref;
        let verdict = match self.last.get(&sref) {
            Some(&last) => check_after(Some(last), t, v),
            None => series.state.lock().appendable(t, v),
        };
        match verdict {
            Appendable::Yes => {}
            Appendable::Duplicate => return Ok(u64::from(sref)),
            Appendable::DuplicateTimestamp => {
                c.duplicate_timestamp.fetch_add(1, Ordering::Relaxed);
                return Err(AppendError::DuplicateSampleForTimestamp);
            }
            Appendable::OutOfOrder => {
                let window = self.db.opts.out_of_order_time_window_ms;
                c.out_of_order.fetch_add(1, Ordering::Relaxed);
                if window > 0 && t < self.db.head.max_time.load(Ordering::Relaxed).saturating_sub(window) {
                    return Err(AppendError::TooOldSample);
                }
                return Err(AppendError::OutOfOrder);
            }
        }
        self.last.insert(sref, (t, v));
        self.samples.push(Pending { series, t, v });
        Ok(u64::from(sref))
    }

    fn append_exemplar(&mut self, sref: SeriesRef, labels: &Labels, e: &Exemplar) -> Result<(), AppendError> {
        self.append_exemplar_owned(sref, labels, e.clone())
    }

    fn append_exemplar_owned(&mut self, sref: SeriesRef, labels: &Labels, e: Exemplar) -> Result<(), AppendError> {
        self.db.check_writable()?;
        // Stateless checks now; the store's order and duplicate checks run at commit, in WAL order.
        // Not `ExemplarStore::stats()`: a store may compute it by walking every series.
        if self.db.exemplars_max.load(Ordering::Relaxed) == 0 {
            return Err(AppendError::Exemplar(ExemplarError::Disabled));
        }
        diamond_exemplars::validate(&e).map_err(AppendError::Exemplar)?;
        let series = self
            .lookup_existing(sref, labels)
            .ok_or(AppendError::Exemplar(ExemplarError::UnknownSeries))?;
        self.exemplars.push((series, e));
        Ok(())
    }

    fn update_metadata(&mut self, _sref: SeriesRef, labels: &Labels, m: &Metadata) -> Result<(), AppendError> {
        // Metadata is per family and needs no series: the family is the `__name__` the caller gives
        // (remote-write 1.0 sends it per family, often in requests without any series).
        self.db.check_writable()?;
        let Some(family) = labels.metric_name() else {
            return Err(AppendError::InvalidLabels(
                "metadata without a metric family name".into(),
            ));
        };
        if self.db.head.metadata.read().get(family) == Some(m) {
            return Ok(());
        }
        self.metadata.push((family.to_owned(), m.clone()));
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), AppendError> {
        let mut this = *self;
        if this.samples.is_empty() && this.exemplars.is_empty() && this.metadata.is_empty() {
            return Ok(());
        }
        let db = Arc::clone(&this.db);
        let head = &db.head;
        let mut wal = db.wal.lock();
        db.check_writable_locked(&wal)?;
        // A block was cut while this transaction was open: its samples below the new floor belong to the
        // block, which can no longer take them. Refuse (nothing is acknowledged) rather than lose them.
        let floor = head.min_valid_time.load(Ordering::Relaxed);
        if this.samples.iter().any(|p| p.t < floor) {
            head.counters.out_of_bounds.fetch_add(1, Ordering::Relaxed);
            return Err(AppendError::OutOfBounds);
        }
        // Series garbage-collected by head truncation since `append`: re-resolve them by labels (a new ref;
        // the old one is never reused), so the samples land in a live series.
        let mut fresh: IdMap<u32, Arc<MemSeries>> = IdMap::default();
        let series_iter = this
            .samples
            .iter_mut()
            .map(|p| &mut p.series)
            .chain(this.exemplars.iter_mut().map(|e| &mut e.0));
        for s in series_iter {
            if s.removed.load(Ordering::Acquire) {
                let live = match fresh.get(&s.sref) {
                    Some(l) => Arc::clone(l),
                    None => {
                        let labels = head.labels_of(s);
                        let (l, _) = head.get_or_create(&labels, None).map_err(AppendError::Storage)?;
                        fresh.insert(s.sref, Arc::clone(&l));
                        l
                    }
                };
                *s = live;
            }
        }

        let mut records: Vec<Vec<u8>> = Vec::new();
        // Series records for series not yet in the WAL. Checked under the WAL lock, so exactly one commit
        // logs each series, and always before any record that uses its ref.
        let mut new_series: Vec<&Arc<MemSeries>> = this
            .samples
            .iter()
            .map(|p| &p.series)
            .chain(this.exemplars.iter().map(|e| &e.0))
            .filter(|s| !s.logged.load(Ordering::Acquire))
            .collect();
        if !new_series.is_empty() {
            new_series.sort_unstable_by_key(|s| s.sref);
            new_series.dedup_by_key(|s| s.sref);
            let mut buf = vec![record::TYPE_SERIES];
            let syms = head.symbols.read();
            for s in &new_series {
                record::encode_series_pairs(
                    u64::from(s.sref),
                    s.pairs().map(|(n, v)| (syms.get(n), syms.get(v))),
                    &mut buf,
                );
            }
            records.push(buf);
        }
        let mut batch: Vec<RefSample> = Vec::with_capacity(this.samples.len().min(SAMPLES_PER_RECORD));
        for chunk in this.samples.chunks(SAMPLES_PER_RECORD) {
            batch.clear();
            batch.extend(chunk.iter().map(|p| RefSample {
                sref: u64::from(p.series.sref),
                t: p.t,
                v: p.v,
            }));
            let mut buf = Vec::with_capacity(17 + batch.len() * 12);
            record::encode_samples(&batch, &mut buf);
            records.push(buf);
        }
        // Exemplars go to the store now (under the WAL lock, so store order = WAL order) and only the
        // accepted ones are logged: duplicates re-exposed on every scrape must not grow the WAL.
        // One batch: the store takes its lock once per chunk, and builds a series' labels only for a series it
        // does not hold yet.
        let mut accepted: Vec<usize> = Vec::new();
        if !this.exemplars.is_empty() {
            let syms = head.symbols.read();
            let items: Vec<(SeriesRef, &Exemplar)> =
                this.exemplars.iter().map(|(s, e)| (u64::from(s.sref), e)).collect();
            let results = db
                .exemplars
                .append_batch(&items, &|i| super::labels_from_ids(&syms, &this.exemplars[i].0));
            for (i, r) in results.iter().enumerate() {
                if r.is_ok() {
                    // Counted here, once per stored exemplar: not per re-exposed duplicate, not per query.
                    db.trace_ids.observe(&this.exemplars[i].1.labels);
                    accepted.push(i);
                }
            }
        }
        if !accepted.is_empty() {
            let mut buf = Vec::with_capacity(17 + accepted.len() * 80);
            record::encode_exemplar_refs(
                accepted.iter().map(|&i| {
                    let (s, e) = &this.exemplars[i];
                    (u64::from(s.sref), e)
                }),
                &mut buf,
            );
            records.push(buf);
        }
        let mut meta_changes: Vec<(&String, &Metadata)> = Vec::new();
        let mut meta_records: Vec<FamilyMetadata> = Vec::new();
        {
            let current = head.metadata.read();
            for (family, m) in &this.metadata {
                if current.get(family) != Some(m) && !meta_changes.iter().any(|(f, mm)| *f == family && *mm == m) {
                    meta_changes.push((family, m));
                    meta_records.push(FamilyMetadata {
                        family: family.clone(),
                        meta: m.clone(),
                    });
                }
            }
        }
        if !meta_records.is_empty() {
            let mut buf = Vec::new();
            record::encode_metadata(&meta_records, &mut buf);
            records.push(buf);
        }

        wal.writer.log(&records).map_err(|e| db.poison(&e))?;
        for s in &new_series {
            s.logged.store(true, Ordering::Release);
        }
        if db.opts.wal_fsync == FsyncPolicy::Always {
            wal.writer.sync().map_err(|e| db.poison(&e))?;
        }

        // Durable as promised: now make it visible.
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        let mut appended = 0u64;
        for p in &this.samples {
            if p.series.state.lock().append(p.t, p.v, head.chunk_range, &head.pages) {
                appended += 1;
                mint = mint.min(p.t);
                maxt = maxt.max(p.t);
            }
        }
        if appended > 0 {
            head.update_time_range(mint, maxt);
        }
        let c = &head.counters;
        c.samples_appended.fetch_add(appended, Ordering::Relaxed);
        // A concurrent commit of the same series won the race; replay drops the same samples.
        c.commit_dropped
            .fetch_add(this.samples.len() as u64 - appended, Ordering::Relaxed);
        if !meta_changes.is_empty() {
            let mut g = head.metadata.write();
            for (f, m) in meta_changes {
                g.insert(f.clone(), m.clone());
            }
        }
        drop(wal);
        db.kick_compaction_if_due();
        Ok(())
    }

    fn rollback(self: Box<Self>) {}
}

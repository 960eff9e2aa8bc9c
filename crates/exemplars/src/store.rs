//! [`FairStore`]: the fair in-memory store of [`crate::fair`] behind the [`ExemplarStore`] seam, with a lock,
//! retention and (when opened on a directory) its files on disk: the head snapshot and the sealed segments
//! (docs/format/exemplars.md).

use std::sync::atomic::{AtomicI64, Ordering};

use diamond_model::storage::{ExemplarError, SeriesRef};
use diamond_model::{Exemplar, Labels, Matcher, Timestamp};
use parking_lot::RwLock;

use crate::fair::Mem;

const SNAPSHOT: &str = "head.snapshot";
/// Exemplars appended per taking of the write lock in [`ExemplarStore::append_batch`].
const BATCH_PER_LOCK: usize = 1024;
/// Windows that ended this long before the newest exemplar are sealed to disk at a flush.
pub const DEFAULT_SEAL_AGE_MS: i64 = 3_600_000;

/// A sealed segment on disk (its header; the exemplars are read when a query needs them).
#[derive(Debug, Clone)]
struct Segment {
    path: std::path::PathBuf,
    header: crate::snapshot::SegmentHeader,
    bytes: u64,
    /// File format version (2: has a series index, so a query reads only the series it matches).
    version: u8,
}

fn segment_name(seq: u64) -> String {
    format!("seg-{seq:016x}.dxs")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("seg-")?.strip_suffix(".dxs")?;
    (hex.len() == 16).then(|| u64::from_str_radix(hex, 16).ok())?
}
use crate::{ExemplarStats, ExemplarStore, SeriesExemplars, SeriesSummary, validate};

/// Diamond's default exemplar store: the retention policy of `docs/exemplars.md`.
///
/// ```
/// use diamond_exemplars::{ExemplarStore, FairStore};
/// use diamond_model::{Exemplar, Labels, Matcher};
/// let store = FairStore::new(1);
/// let a = Labels::from_pairs(&[("__name__", "a")]);
/// let b = Labels::from_pairs(&[("__name__", "b")]);
/// let e = |ts| Exemplar { labels: Labels::from_pairs(&[("trace_id", "abc")]), value: 1.0, ts, has_ts: true };
/// store.append(1, &a, &e(1000)).unwrap();
/// store.append(2, &b, &e(2000)).unwrap(); // over budget: one series loses its only exemplar
/// assert_eq!(store.stats().stored, 1);
/// ```
pub struct FairStore {
    pub(crate) mem: RwLock<Mem>,
    /// `<data>/exemplars/` when persistent (docs/format/exemplars.md).
    dir: Option<std::path::PathBuf>,
    /// Serialises flushes (the snapshot's tmp file).
    flushing: parking_lot::Mutex<()>,
    /// Retention in ms (0: none).
    retention_ms: AtomicI64,
    /// Seal age in ms (0: never seal).
    seal_age_ms: AtomicI64,
    /// Sealed segments, oldest first.
    segments: RwLock<Vec<Segment>>,
    /// Exemplars taken out of memory by a flush whose segment is being written (still answered by queries).
    pending: RwLock<Vec<(Labels, Vec<Exemplar>)>>,
    /// Per-series totals of the sealed segments, for [`ExemplarStore::series_summary`].
    disk_summary: parking_lot::Mutex<DiskSummary>,
}

/// Per-series totals (count, oldest, newest) of the sealed segments with these sequence numbers. Sealing
/// appends segments, so a summary is brought up to date by reading only the new ones; when retention
/// removes one, the totals are rebuilt from the remaining segments. One entry per series that has
/// exemplars on disk, so it is bounded as the store's series are, not by what the segments hold.
#[derive(Default)]
struct DiskSummary {
    seqs: Vec<u64>,
    series: std::collections::BTreeMap<Labels, (u64, Timestamp, Timestamp)>,
}

fn add_to_summary(
    into: &mut std::collections::BTreeMap<Labels, (u64, Timestamp, Timestamp)>,
    labels: &Labels,
    ex: &[Exemplar],
) {
    let (Some(first), Some(last)) = (ex.iter().map(|e| e.ts).min(), ex.iter().map(|e| e.ts).max()) else {
        return;
    };
    let e = into.entry(labels.clone()).or_insert((0, first, last));
    e.0 += ex.len() as u64;
    e.1 = e.1.min(first);
    e.2 = e.2.max(last);
}

impl FairStore {
    /// A memory-only store holding at most `max` exemplars (0 disables it), without retention.
    pub fn new(max: usize) -> FairStore {
        FairStore {
            mem: RwLock::new(Mem::new(max)),
            dir: None,
            flushing: parking_lot::Mutex::new(()),
            retention_ms: AtomicI64::new(0),
            seal_age_ms: AtomicI64::new(DEFAULT_SEAL_AGE_MS),
            segments: RwLock::new(Vec::new()),
            pending: RwLock::new(Vec::new()),
            disk_summary: parking_lot::Mutex::new(DiskSummary::default()),
        }
    }

    /// A store persisted in `dir` (docs/format/exemplars.md): lists the sealed segments (reading only their
    /// headers) and loads the head snapshot if there is one. A file that does not decode is renamed to
    /// `<name>.corrupt` and logged; the store then opens without it (the WAL replay restores what came after
    /// the last checkpoint).
    pub fn open(dir: &std::path::Path, max: usize, retention_ms: i64) -> std::io::Result<FairStore> {
        std::fs::create_dir_all(dir)?;
        let mut s = FairStore::new(max);
        s.set_retention_ms(retention_ms);
        s.dir = Some(dir.to_path_buf());
        let mut segments = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(seq) = name.to_str().and_then(parse_segment_name) else {
                continue;
            };
            let path = entry.path();
            let mut head = vec![0u8; crate::snapshot::SEGMENT_HEADER_LEN];
            let read = std::fs::File::open(&path).and_then(|mut f| {
                use std::io::Read;
                f.read_exact(&mut head)?;
                Ok(f.metadata()?.len())
            });
            match read.map(|bytes| (bytes, crate::snapshot::decode_segment_header(&head))) {
                Ok((bytes, Ok(header))) if header.seq == seq => segments.push(Segment {
                    path,
                    header,
                    bytes,
                    version: head[4],
                }),
                other => {
                    let why = match other {
                        Err(e) => e.to_string(),
                        Ok((_, Err(e))) => e.to_string(),
                        Ok(_) => "sequence number differs from the file name".to_owned(),
                    };
                    tracing::error!(path = %path.display(), error = %why, "exemplar segment unreadable; set aside");
                    let mut to = path.clone().into_os_string();
                    to.push(".corrupt");
                    std::fs::rename(&path, to)?;
                }
            }
        }
        segments.sort_by_key(|g| g.header.seq);
        let horizon = segments.iter().map(|g| g.header.sealed_before).max();
        let path = dir.join(SNAPSHOT);
        match std::fs::read(&path) {
            Ok(bytes) => match crate::snapshot::decode_with_seq(&bytes) {
                Ok((sealed_seq, series)) => {
                    // Segments sealed after this snapshot was written (a crash between the two writes): their
                    // exemplars are skipped here, so that nothing is held twice.
                    let mut sealed: std::collections::HashSet<(Labels, i64, u64, Labels)> = Default::default();
                    for g in segments.iter().filter(|g| g.header.seq > sealed_seq) {
                        for (labels, ex) in read_segment(g) {
                            for e in ex {
                                sealed.insert((labels.clone(), e.ts, e.value.to_bits(), e.labels));
                            }
                        }
                    }
                    let mut g = s.mem.write();
                    for (labels, ex) in series {
                        for e in ex {
                            if sealed.is_empty()
                                || !sealed.contains(&(labels.clone(), e.ts, e.value.to_bits(), e.labels.clone()))
                            {
                                let _ = g.append(None, &labels, &e, 0);
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "exemplar snapshot unreadable; set aside");
                    std::fs::rename(&path, dir.join(format!("{SNAPSHOT}.corrupt")))?;
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if let Some(h) = horizon {
            let mut g = s.mem.write();
            g.horizon = g.horizon.max(h);
        }
        *s.segments.get_mut() = segments;
        Ok(s)
    }

    /// Sets the seal age (ms; 0 never seals): at a flush, windows that ended this long before the newest
    /// exemplar move from memory to a sealed segment. Default one hour.
    pub fn set_seal_age_ms(&self, ms: i64) {
        self.seal_age_ms.store(ms.max(0), Ordering::Relaxed);
    }

    /// Sets the retention (ms; 0 keeps exemplars until the budget needs the room). Exemplars older than
    /// the newest exemplar seen minus the retention are dropped at the next flush and refused on append.
    pub fn set_retention_ms(&self, ms: i64) {
        self.retention_ms.store(ms.max(0), Ordering::Relaxed);
    }

    /// The retention in ms (0: none).
    pub fn retention_ms(&self) -> i64 {
        self.retention_ms.load(Ordering::Relaxed)
    }

    /// Estimated heap bytes held by the in-memory part.
    pub fn memory_bytes(&self) -> usize {
        self.mem.read().heap_bytes()
    }
}

impl ExemplarStore for FairStore {
    fn append(&self, sref: SeriesRef, series: &Labels, e: &Exemplar) -> Result<(), ExemplarError> {
        let mut g = self.mem.write();
        if g.max == 0 {
            return Err(ExemplarError::Disabled);
        }
        if let Err(err) = validate(e) {
            g.counters.label_length += 1;
            return Err(err);
        }
        g.append(Some(sref), series, e, self.retention_ms())
    }

    fn append_batch(
        &self,
        items: &[(SeriesRef, &Exemplar)],
        labels: &dyn Fn(usize) -> Labels,
    ) -> Vec<Result<(), ExemplarError>> {
        let retention_ms = self.retention_ms();
        let mut out = Vec::with_capacity(items.len());
        // The lock once per chunk, not per exemplar; chunks bound how long a query waits behind a write.
        for (c, chunk) in items.chunks(BATCH_PER_LOCK).enumerate() {
            let mut g = self.mem.write();
            for (j, &(sref, e)) in chunk.iter().enumerate() {
                out.push(if g.max == 0 {
                    Err(ExemplarError::Disabled)
                } else if let Err(err) = validate(e) {
                    g.counters.label_length += 1;
                    Err(err)
                } else {
                    g.append_with(Some(sref), || labels(c * BATCH_PER_LOCK + j), e, retention_ms)
                });
            }
        }
        out
    }

    fn select(&self, start: Timestamp, end: Timestamp, matcher_sets: &[Vec<Matcher>]) -> Vec<SeriesExemplars> {
        let mem = self.mem.read().select(start, end, matcher_sets);
        // `pending` and `segments` are read together (as the flush changes them together), so a sealing
        // flush is seen either before or after its segment was registered, never in between.
        let pending = self.pending.read();
        let segments: Vec<Segment> = self
            .segments
            .read()
            .iter()
            .filter(|g| g.header.min_ts <= end && g.header.max_ts >= start)
            .cloned()
            .collect();
        if segments.is_empty() && pending.is_empty() {
            return mem
                .into_iter()
                .map(|(series_labels, exemplars)| SeriesExemplars {
                    series_labels,
                    exemplars,
                })
                .collect();
        }
        let mut merged: std::collections::BTreeMap<Labels, Vec<Exemplar>> = mem.into_iter().collect();
        let mut add = |labels: &Labels, ex: &[Exemplar]| {
            if !matcher_sets
                .iter()
                .any(|ms| diamond_model::storage::matches_all(labels, ms))
            {
                return;
            }
            let lo = ex.partition_point(|e| e.ts < start);
            let hi = ex.partition_point(|e| e.ts <= end);
            if lo < hi {
                merged.entry(labels.clone()).or_default().extend_from_slice(&ex[lo..hi]);
            }
        };
        for (labels, ex) in pending.iter() {
            add(labels, ex);
        }
        drop(pending);
        for g in &segments {
            for (labels, ex) in read_segment_matching(g, start, end, matcher_sets) {
                add(&labels, &ex);
            }
        }
        merged
            .into_iter()
            .map(|(series_labels, mut exemplars)| {
                exemplars.sort_by_key(|e| e.ts);
                SeriesExemplars {
                    series_labels,
                    exemplars,
                }
            })
            .collect()
    }

    fn resize(&self, max: usize) {
        self.mem.write().resize(max);
    }

    fn stats(&self) -> ExemplarStats {
        let g = self.mem.read();
        let segs = self.segments.read();
        let c = g.counters;
        ExemplarStats {
            stored: g.total as u64,
            series: g.num_series() as u64,
            max: g.max as u64,
            appended_total: c.appended,
            out_of_order_total: 0,
            label_length_total: c.label_length,
            duplicate_total: c.duplicate,
            evicted_total: c.thinned + c.coarsened + c.evicted_series,
            oldest_ts: g.oldest().unwrap_or(0),
            too_old_total: c.too_old,
            thinned_total: c.thinned,
            coarsened_total: c.coarsened,
            evicted_series_total: c.evicted_series,
            expired_total: c.expired,
            memory_bytes: g.heap_bytes() as u64,
            disk_stored: segs.iter().map(|x| x.header.exemplars).sum(),
            disk_bytes: segs.iter().map(|x| x.bytes).sum(),
            disk_segments: segs.len() as u64,
        }
    }

    /// Memory, the segment being sealed and the sealed segments together, so "how far back" covers what
    /// `query_exemplars` can return, not only what is still in memory.
    fn series_summary(&self) -> Vec<SeriesSummary> {
        let mut totals: std::collections::BTreeMap<Labels, (u64, Timestamp, Timestamp)> = {
            let g = self.mem.read();
            g.live()
                .filter_map(|s| {
                    Some((
                        s.labels.clone(),
                        (s.ex.len() as u64, s.ex.first()?.ts(), s.ex.last()?.ts()),
                    ))
                })
                .collect()
        };
        // As in `select`: `pending` and `segments` together, so a sealing flush counts once.
        let segments: Vec<Segment> = {
            let pending = self.pending.read();
            for (labels, ex) in pending.iter() {
                add_to_summary(&mut totals, labels, ex);
            }
            self.segments.read().clone()
        };
        let seqs: Vec<u64> = segments.iter().map(|g| g.header.seq).collect();
        let mut disk = self.disk_summary.lock();
        if !seqs.starts_with(&disk.seqs) {
            *disk = DiskSummary::default();
        }
        for g in &segments[disk.seqs.len()..] {
            for (labels, ex) in read_segment(g) {
                add_to_summary(&mut disk.series, &labels, &ex);
            }
        }
        disk.seqs = seqs;
        for (labels, &(n, lo, hi)) in &disk.series {
            let e = totals.entry(labels.clone()).or_insert((0, lo, hi));
            e.0 += n;
            e.1 = e.1.min(lo);
            e.2 = e.2.max(hi);
        }
        drop(disk);
        totals
            .into_iter()
            .map(|(labels, (exemplars, oldest, newest))| SeriesSummary {
                labels,
                exemplars,
                oldest,
                newest,
            })
            .collect()
    }

    fn flush(&self) -> std::io::Result<bool> {
        let floor = {
            let g = self.mem.read();
            let r = self.retention_ms();
            (r > 0 && g.newest != i64::MIN).then(|| g.newest.saturating_sub(r))
        };
        if let Some(floor) = floor {
            self.mem.write().expire(floor);
        }
        let Some(dir) = &self.dir else {
            return Ok(false);
        };
        let _one = self.flushing.lock();
        // 1. Seal: windows that ended `seal_age` before the newest exemplar leave memory.
        let seal_age = self.seal_age_ms.load(Ordering::Relaxed);
        let mut sealed_seq = self.segments.read().last().map_or(0, |g| g.header.seq);
        {
            let mut g = self.mem.write();
            if seal_age > 0 && g.newest != i64::MIN {
                let cutoff =
                    g.newest.saturating_sub(seal_age).div_euclid(crate::fair::MINUTE_MS) * crate::fair::MINUTE_MS;
                let old_horizon = g.horizon;
                let taken = g.take_before(cutoff);
                if !taken.is_empty() {
                    *self.pending.write() = taken;
                    drop(g);
                    let seq = sealed_seq + 1;
                    let bytes = crate::snapshot::encode_segment(seq, cutoff, &self.pending.read());
                    let name = segment_name(seq);
                    match crate::snapshot::write_atomic(dir, &name, &bytes) {
                        Ok(()) => {
                            let header = crate::snapshot::decode_segment_header(&bytes)
                                .expect("a segment just encoded has a valid header");
                            let mut pending = self.pending.write();
                            self.segments.write().push(Segment {
                                path: dir.join(&name),
                                header,
                                bytes: bytes.len() as u64,
                                version: bytes[4],
                            });
                            pending.clear();
                            sealed_seq = seq;
                        }
                        Err(e) => {
                            // Back to memory: nothing taken is lost; the checkpoint keeps the WAL records.
                            let back = std::mem::take(&mut *self.pending.write());
                            let mut g = self.mem.write();
                            g.horizon = old_horizon;
                            for (labels, ex) in back {
                                for e in ex {
                                    let _ = g.append(None, &labels, &e, 0);
                                }
                            }
                            return Err(e);
                        }
                    }
                }
            }
        }
        // 2. The head snapshot of what memory holds now.
        let all = [vec![
            Matcher::new(diamond_model::MatchOp::Regex, "__name__", ".*").expect("`.*` is a valid regex"),
        ]];
        let series = self.mem.read().select(i64::MIN, i64::MAX, &all);
        crate::snapshot::write_atomic(dir, SNAPSHOT, &crate::snapshot::encode_with_seq(sealed_seq, &series))?;
        // 3. Retention of whole segments.
        if let Some(floor) = floor {
            let mut expired = 0;
            let mut segs = self.segments.write();
            let mut kept = Vec::with_capacity(segs.len());
            for g in segs.drain(..) {
                if g.header.max_ts < floor {
                    match std::fs::remove_file(&g.path) {
                        Ok(()) => expired += g.header.exemplars,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            tracing::warn!(path = %g.path.display(), error = %e, "removing an expired exemplar segment");
                            kept.push(g);
                        }
                    }
                } else {
                    kept.push(g);
                }
            }
            *segs = kept;
            drop(segs);
            // Lock order: `mem` before `segments` (as in `stats`), so only after `segs` is released.
            self.mem.write().counters.expired += expired;
        }
        Ok(true)
    }
}

/// The series of a segment that may match `matcher_sets` in `[start, end]`: for a version-2 segment only
/// the trailer, the index and the matching series' records are read (each record checked by its CRC);
/// a version-1 segment is read whole. An unreadable segment is logged and answers nothing.
fn read_segment_matching(
    g: &Segment,
    start: Timestamp,
    end: Timestamp,
    matcher_sets: &[Vec<Matcher>],
) -> crate::snapshot::SeriesList {
    use crate::snapshot::{SEGMENT_HEADER_LEN, SEGMENT_TRAILER_LEN};
    use std::os::unix::fs::FileExt;
    if g.version < 2 {
        return read_segment(g);
    }
    let read = || -> Result<crate::snapshot::SeriesList, String> {
        let f = std::fs::File::open(&g.path).map_err(|e| e.to_string())?;
        let trailer_at = g
            .bytes
            .checked_sub(SEGMENT_TRAILER_LEN as u64)
            .filter(|&t| t >= SEGMENT_HEADER_LEN as u64)
            .ok_or("segment shorter than its header and trailer")?;
        let mut trailer = [0u8; SEGMENT_TRAILER_LEN];
        f.read_exact_at(&mut trailer, trailer_at).map_err(|e| e.to_string())?;
        let (index_at, index_crc) = crate::snapshot::decode_segment_trailer(&trailer).map_err(|e| e.to_string())?;
        if index_at < SEGMENT_HEADER_LEN as u64 || index_at > trailer_at {
            return Err(format!("index offset {index_at} out of the file"));
        }
        let mut index = vec![0u8; (trailer_at - index_at) as usize];
        f.read_exact_at(&mut index, index_at).map_err(|e| e.to_string())?;
        let entries = crate::snapshot::decode_segment_index(&index, index_crc, g.header.series, index_at)
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let mut record = Vec::new();
        for e in entries {
            if e.min_ts > end
                || e.max_ts < start
                || !matcher_sets
                    .iter()
                    .any(|ms| diamond_model::storage::matches_all(&e.labels, ms))
            {
                continue;
            }
            record.resize(e.len as usize, 0);
            f.read_exact_at(&mut record, e.offset).map_err(|e| e.to_string())?;
            out.push(crate::snapshot::decode_segment_record(&record, &e).map_err(|e| e.to_string())?);
        }
        Ok(out)
    };
    read().unwrap_or_else(|e| {
        tracing::error!(path = %g.path.display(), error = %e, "exemplar segment unreadable; skipped");
        Vec::new()
    })
}

/// The exemplars of a segment; an unreadable one is logged and answers nothing.
fn read_segment(g: &Segment) -> crate::snapshot::SeriesList {
    match std::fs::read(&g.path)
        .map_err(|e| e.to_string())
        .and_then(|b| crate::snapshot::decode_segment(&b).map_err(|e| e.to_string()))
    {
        Ok((_, series)) => series,
        Err(e) => {
            tracing::error!(path = %g.path.display(), error = %e, "exemplar segment unreadable; skipped");
            Vec::new()
        }
    }
}

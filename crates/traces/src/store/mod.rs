//! The on-disk trace store: segments of span records, their indexes, retention, trace by ID and search.
//!
//! [`Store::open`] repairs and loads `<data>/traces/`; [`Store::ingest`] appends an OTLP export request
//! (one `write(2)`), [`Store::trace`] gathers every record of a trace, [`Store::search`] scans records
//! newest segment first. One `RwLock` guards the segment list: writers (ingest, seal, retention) take it
//! exclusively, readers share it and read files with positioned reads. Format: `docs/format/traces.md`.

#![allow(clippy::type_complexity)] // search candidates are local tuples; naming them would not help a reader

mod index;
mod segment;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diamond_model::traceid::{TraceId, TraceLookup};
use diamond_wire::proto::otlp::{ExportTraceServiceRequest, ResourceSpans, ScopeSpans, Span};
use parking_lot::{Mutex, RwLock};
use prost::Message;

use self::index::{Bloom, Names};
use self::segment::{Loc, RecordMeta, Scanner};
use crate::attrs;
use crate::search::{SearchQuery, SearchResult, TraceSummary};
use crate::{Error, Trace};

/// Store options, with documented defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// Spans whose segment ended longer ago than this are deleted (default 7 days).
    pub retention: Duration,
    /// Upper bound on the bytes of all segments; the oldest are deleted past it (default 1 GiB).
    pub max_bytes: u64,
    /// A segment is sealed when it reaches this size (default 16 MiB; clamped to at most `max_bytes / 4`).
    pub segment_bytes: u64,
    /// Upper bound on the bytes one search reads from disk (default 256 MiB).
    pub max_search_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            retention: Duration::from_secs(7 * 24 * 3600),
            max_bytes: 1 << 30,
            segment_bytes: 16 << 20,
            max_search_bytes: 256 << 20,
        }
    }
}

/// Why spans were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// The trace ID is not 16 bytes or is all zeros.
    InvalidTraceId,
    /// The span ID is not 8 bytes or is all zeros, or the parent span ID is neither empty nor 8 bytes.
    InvalidSpanId,
    /// The span ended before the retention window.
    TooOld,
    /// One trace's spans of one resource in one request encode to more than the record limit.
    TooLarge,
}

impl DropReason {
    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::InvalidTraceId => "invalid_trace_id",
            DropReason::InvalidSpanId => "invalid_span_id",
            DropReason::TooOld => "too_old",
            DropReason::TooLarge => "too_large",
        }
    }

    const ALL: [DropReason; 4] = [
        DropReason::InvalidTraceId,
        DropReason::InvalidSpanId,
        DropReason::TooOld,
        DropReason::TooLarge,
    ];
}

/// What [`Store::ingest`] did with a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Spans stored.
    pub accepted: u64,
    /// Spans refused, by reason.
    pub rejected: BTreeMap<DropReason, u64>,
}

impl IngestOutcome {
    /// Total refused spans.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// The partial-success message: the reasons and counts.
    pub fn message(&self) -> String {
        self.rejected
            .iter()
            .map(|(r, n)| format!("{n} spans refused: {}", r.as_str()))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
struct Counters {
    spans_received: AtomicU64,
    requests: AtomicU64,
    bytes_written: AtomicU64,
    repaired_bytes: AtomicU64,
    segments_deleted: AtomicU64,
    dropped: [AtomicU64; 4],
}

/// A point-in-time view of the store for metrics and status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Spans stored since start.
    pub spans_received: u64,
    /// Export requests ingested since start.
    pub requests: u64,
    /// Record bytes written since start.
    pub bytes_written: u64,
    /// Bytes cut off damaged segment tails at open.
    pub repaired_bytes: u64,
    /// Segments deleted by retention since start.
    pub segments_deleted: u64,
    /// Refused spans by reason since start.
    pub dropped: Vec<(DropReason, u64)>,
    /// Bytes of all segment and index files.
    pub stored_bytes: u64,
    /// Segments on disk, the active one included.
    pub segments: u64,
    /// Traces held, counted once per segment they have records in.
    pub traces: u64,
    /// Records held.
    pub records: u64,
    /// Bytes of in-memory index structures (active map, Bloom filters, names).
    pub memory_bytes: u64,
    /// Oldest span start held, Unix ns (0 when empty).
    pub oldest_ns: u64,
}

struct Sealed {
    seq: u32,
    spans: File,
    index: File,
    entries: u32,
    traces: u32,
    min_ns: u64,
    max_ns: u64,
    data_len: u64,
    index_len: u64,
    bloom: Bloom,
    names: Names,
}

struct Head {
    seq: u32,
    file: File,
    len: u64,
    map: HashMap<TraceId, Vec<Loc>>,
    records: Vec<(TraceId, Loc)>,
    names: Names,
    min_ns: u64,
    max_ns: u64,
}

impl Head {
    fn add(&mut self, id: TraceId, loc: Loc) {
        self.map.entry(id).or_default().push(loc);
        self.records.push((id, loc));
        self.min_ns = if self.records.len() == 1 {
            loc.start_ns
        } else {
            self.min_ns.min(loc.start_ns)
        };
        self.max_ns = self.max_ns.max(loc.end_ns);
    }

    fn memory(&self) -> usize {
        self.map.len() * (16 + 48) + self.records.len() * (16 + 32 + 32) + self.names.bytes()
    }
}

struct Inner {
    sealed: Vec<Sealed>,
    head: Head,
    last_sync: Instant,
    dirty: bool,
}

/// The embedded trace store under `<data>/traces/`.
pub struct Store {
    dir: PathBuf,
    opts: Options,
    inner: RwLock<Inner>,
    counters: Counters,
    /// Serialises retention with itself (it drops the write lock between deletions).
    retention_lock: Mutex<()>,
}

fn seg_path(dir: &Path, seq: u32) -> PathBuf {
    dir.join(format!("{seq:08}.spans"))
}

fn index_path(dir: &Path, seq: u32) -> PathBuf {
    dir.join(format!("{seq:08}.index"))
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

fn parse_seq(name: &str, ext: &str) -> Option<u32> {
    let stem = name.strip_suffix(ext)?;
    (stem.len() == 8 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

/// Wall-clock now in Unix ns.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn valid_id(id: &[u8], len: usize) -> bool {
    id.len() == len && id.iter().any(|&b| b != 0)
}

fn create_segment(dir: &Path, seq: u32) -> Result<File, Error> {
    let p = seg_path(dir, seq);
    let mut f = OpenOptions::new().create_new(true).read(true).append(true).open(&p)?;
    f.write_all(&segment::SEGMENT_HEADER)?;
    f.sync_all()?;
    sync_dir(dir)?;
    Ok(f)
}

/// Scans a segment that has no valid index: the valid records and the length of the valid prefix.
/// `Ok(None)` when the header is damaged.
fn scan_segment(path: &Path) -> Result<Option<(Vec<(TraceId, Loc)>, Names, u64, u64)>, Error> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let Some(mut sc) = Scanner::open(file, file_len)? else {
        return Ok(None);
    };
    let mut recs = Vec::new();
    let mut names = Names::default();
    while let Some(r) = sc.next_record(true) {
        if let Ok(rs) = ResourceSpans::decode(&r.body[..]) {
            add_names(&mut names, &rs);
        }
        recs.push((r.meta.trace_id, r.loc));
    }
    Ok(Some((recs, names, sc.good_len(), file_len)))
}

fn add_names(names: &mut Names, rs: &ResourceSpans) {
    let service = attrs::service_name(rs.resource.as_ref());
    if let Some(r) = &rs.resource {
        for kv in &r.attributes {
            let v = kv.value.as_ref().and_then(attrs::value_string);
            names.add_resource_tag(&kv.key, v.as_deref());
        }
    }
    for ss in &rs.scope_spans {
        for s in &ss.spans {
            names.add_operation(&service, &s.name);
            for kv in &s.attributes {
                let v = kv.value.as_ref().and_then(attrs::value_string);
                names.add_span_tag(&kv.key, v.as_deref());
            }
        }
    }
}

impl Store {
    /// Opens (creating) the store in `dir`, repairing damaged segment tails and rebuilding missing
    /// indexes. Fails only when the directory cannot be read or written.
    pub fn open(dir: impl Into<PathBuf>, mut opts: Options) -> Result<Store, Error> {
        let dir = dir.into();
        opts.segment_bytes = opts.segment_bytes.clamp(4096, (opts.max_bytes / 4).max(4096));
        fs::create_dir_all(&dir)?;
        let counters = Counters::default();
        let mut seqs = Vec::new();
        for e in fs::read_dir(&dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(e.path());
            } else if let Some(seq) = parse_seq(&name, ".spans") {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        // Orphan indexes (their .spans was deleted by retention before the crash).
        for e in fs::read_dir(&dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(seq) = parse_seq(&name, ".index")
                && seqs.binary_search(&seq).is_err()
            {
                let _ = fs::remove_file(e.path());
            }
        }
        let mut sealed = Vec::new();
        let mut head: Option<Head> = None;
        let last = seqs.last().copied();
        for &seq in &seqs {
            let sp = seg_path(&dir, seq);
            let ip = index_path(&dir, seq);
            let spans_len = fs::metadata(&sp)?.len();
            if let Ok(bytes) = fs::read(&ip)
                && let Some((h, ids, names)) = index::verify_index(&bytes)
                && h.data_len == spans_len
            {
                let traces = count_distinct(&ids);
                sealed.push(Sealed {
                    seq,
                    spans: File::open(&sp)?,
                    index: File::open(&ip)?,
                    entries: h.entries,
                    traces,
                    min_ns: h.min_ns,
                    max_ns: h.max_ns,
                    data_len: h.data_len,
                    index_len: bytes.len() as u64,
                    bloom: Bloom::new(ids.iter()),
                    names,
                });
                continue;
            }
            let _ = fs::remove_file(&ip);
            let Some((recs, names, good, file_len)) = scan_segment(&sp)? else {
                tracing::warn!(segment = %sp.display(), "trace segment header damaged; set aside as .corrupt");
                let mut to = sp.clone().into_os_string();
                to.push(".corrupt");
                fs::rename(&sp, &to)?;
                continue;
            };
            if good < file_len {
                tracing::warn!(segment = %sp.display(), cut = file_len - good, "trace segment tail damaged; truncated");
                counters.repaired_bytes.fetch_add(file_len - good, Ordering::Relaxed);
                let f = OpenOptions::new().write(true).open(&sp)?;
                f.set_len(good)?;
                f.sync_all()?;
            }
            let file = OpenOptions::new().read(true).append(true).open(&sp)?;
            let mut h = Head {
                seq,
                file,
                len: good,
                map: HashMap::new(),
                records: Vec::new(),
                names,
                min_ns: 0,
                max_ns: 0,
            };
            for (id, loc) in recs {
                h.add(id, loc);
            }
            if Some(seq) == last {
                head = Some(h);
            } else {
                sealed.push(seal_head(&dir, h)?);
            }
        }
        let head = match head {
            Some(h) => h,
            None => {
                let seq = seqs.last().map_or(1, |s| s + 1);
                Head {
                    seq,
                    file: create_segment(&dir, seq)?,
                    len: segment::SEGMENT_HEADER.len() as u64,
                    map: HashMap::new(),
                    records: Vec::new(),
                    names: Names::default(),
                    min_ns: 0,
                    max_ns: 0,
                }
            }
        };
        let store = Store {
            dir,
            opts,
            inner: RwLock::new(Inner {
                sealed,
                head,
                last_sync: Instant::now(),
                dirty: false,
            }),
            counters,
            retention_lock: Mutex::new(()),
        };
        store.enforce_retention(now_ns())?;
        Ok(store)
    }

    /// The options in force (after clamping).
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Stores the valid spans of `req`, grouped into one record per trace and resource, with one
    /// `write(2)`. Invalid or too-old spans are counted and reported, never fail the request; an I/O
    /// failure does (nothing of the request is then acknowledged).
    pub fn ingest(&self, req: &ExportTraceServiceRequest, now_ns: u64) -> Result<IngestOutcome, Error> {
        let oldest_ok = now_ns.saturating_sub(self.opts.retention.as_nanos() as u64);
        let mut out = IngestOutcome::default();
        let mut buf = Vec::new();
        let mut metas: Vec<(TraceId, RecordMeta, usize, usize)> = Vec::new();
        let mut names = Names::default();
        for rs in &req.resource_spans {
            // trace id -> scope index -> spans
            let mut by_trace: BTreeMap<TraceId, BTreeMap<usize, Vec<&Span>>> = BTreeMap::new();
            for (si, ss) in rs.scope_spans.iter().enumerate() {
                for s in &ss.spans {
                    let reason = if !valid_id(&s.trace_id, 16) {
                        Some(DropReason::InvalidTraceId)
                    } else if !valid_id(&s.span_id, 8) || !(s.parent_span_id.is_empty() || s.parent_span_id.len() == 8)
                    {
                        Some(DropReason::InvalidSpanId)
                    } else if s.end_time_unix_nano.max(s.start_time_unix_nano) < oldest_ok {
                        Some(DropReason::TooOld)
                    } else {
                        None
                    };
                    if let Some(r) = reason {
                        *out.rejected.entry(r).or_default() += 1;
                        continue;
                    }
                    let mut id = [0u8; 16];
                    id.copy_from_slice(&s.trace_id);
                    by_trace.entry(TraceId(id)).or_default().entry(si).or_default().push(s);
                }
            }
            for (id, scopes) in by_trace {
                let mut part = ResourceSpans {
                    resource: rs.resource.clone(),
                    scope_spans: Vec::with_capacity(scopes.len()),
                    schema_url: rs.schema_url.clone(),
                };
                let (mut start, mut end, mut count) = (u64::MAX, 0u64, 0u32);
                for (si, spans) in scopes {
                    let src = &rs.scope_spans[si];
                    for s in &spans {
                        start = start.min(s.start_time_unix_nano);
                        end = end.max(s.end_time_unix_nano.max(s.start_time_unix_nano));
                        count += 1;
                    }
                    part.scope_spans.push(ScopeSpans {
                        scope: src.scope.clone(),
                        spans: spans.into_iter().cloned().collect(),
                        schema_url: src.schema_url.clone(),
                    });
                }
                let body = part.encode_to_vec();
                if body.len() + segment::PAYLOAD_HEADER > segment::MAX_PAYLOAD {
                    *out.rejected.entry(DropReason::TooLarge).or_default() += u64::from(count);
                    continue;
                }
                add_names(&mut names, &part);
                let meta = RecordMeta {
                    trace_id: id,
                    start_ns: start,
                    end_ns: end,
                    span_count: count,
                };
                let at = buf.len();
                segment::encode_record(&mut buf, &meta, &body);
                metas.push((id, meta, at, buf.len() - at));
                out.accepted += u64::from(count);
            }
        }
        for (r, n) in &out.rejected {
            if let Some(i) = DropReason::ALL.iter().position(|x| x == r) {
                self.counters.dropped[i].fetch_add(*n, Ordering::Relaxed);
            }
        }
        if buf.is_empty() {
            return Ok(out);
        }
        let mut inner = self.inner.write();
        let base = inner.head.len;
        if let Err(e) = inner.head.file.write_all(&buf) {
            // A partial write leaves a torn tail; cut it so later records stay reachable.
            let _ = inner.head.file.set_len(base);
            return Err(e.into());
        }
        inner.head.len += buf.len() as u64;
        inner.dirty = true;
        for (id, meta, at, len) in metas {
            inner.head.add(
                id,
                Loc {
                    offset: base + at as u64,
                    len: len as u32,
                    start_ns: meta.start_ns,
                    end_ns: meta.end_ns,
                },
            );
        }
        inner.head.names.merge(&names);
        self.counters.spans_received.fetch_add(out.accepted, Ordering::Relaxed);
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes_written
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        let mut sealed = false;
        if inner.head.len >= self.opts.segment_bytes {
            self.seal_locked(&mut inner)?;
            sealed = true;
        } else if inner.last_sync.elapsed() >= Duration::from_secs(1) {
            inner.head.file.sync_data()?;
            inner.last_sync = Instant::now();
            inner.dirty = false;
        }
        drop(inner);
        if sealed {
            self.enforce_retention(now_ns)?;
        }
        Ok(out)
    }

    /// Seals the active segment (fsync, index) and starts the next one.
    fn seal_locked(&self, inner: &mut Inner) -> Result<(), Error> {
        let seq = inner.head.seq + 1;
        let file = create_segment(&self.dir, seq)?;
        let new_head = Head {
            seq,
            file,
            len: segment::SEGMENT_HEADER.len() as u64,
            map: HashMap::new(),
            records: Vec::new(),
            names: Names::default(),
            min_ns: 0,
            max_ns: 0,
        };
        let old = std::mem::replace(&mut inner.head, new_head);
        inner.sealed.push(seal_head(&self.dir, old)?);
        inner.last_sync = Instant::now();
        inner.dirty = false;
        Ok(())
    }

    /// Fsyncs the active segment if anything was written since the last fsync.
    pub fn sync(&self) -> Result<(), Error> {
        let mut inner = self.inner.write();
        if inner.dirty {
            inner.head.file.sync_data()?;
            inner.dirty = false;
        }
        inner.last_sync = Instant::now();
        Ok(())
    }

    /// Flushes and seals the active segment if it holds records (at shutdown).
    pub fn close(&self) -> Result<(), Error> {
        let mut inner = self.inner.write();
        if inner.head.records.is_empty() {
            inner.head.file.sync_data()?;
            return Ok(());
        }
        self.seal_locked(&mut inner)
    }

    /// Deletes sealed segments past the retention time, then the oldest while the store is over
    /// `max_bytes`. Returns how many were deleted.
    pub fn enforce_retention(&self, now_ns: u64) -> Result<usize, Error> {
        let _g = self.retention_lock.lock();
        let cutoff = now_ns.saturating_sub(self.opts.retention.as_nanos() as u64);
        let mut deleted = 0;
        loop {
            let mut inner = self.inner.write();
            let total: u64 = inner.sealed.iter().map(|s| s.data_len + s.index_len).sum::<u64>() + inner.head.len;
            let Some(first) = inner.sealed.first() else { break };
            if first.max_ns >= cutoff && total <= self.opts.max_bytes {
                break;
            }
            let s = inner.sealed.remove(0);
            drop(inner);
            fs::remove_file(seg_path(&self.dir, s.seq))?;
            fs::remove_file(index_path(&self.dir, s.seq))?;
            deleted += 1;
        }
        if deleted > 0 {
            sync_dir(&self.dir)?;
            self.counters
                .segments_deleted
                .fetch_add(deleted as u64, Ordering::Relaxed);
        }
        Ok(deleted)
    }

    /// Every record of the trace, oldest segment first, decoded; spans sent more than once appear once.
    /// `None` when the store holds none of it.
    pub fn trace(&self, id: &TraceId) -> Result<Option<Trace>, Error> {
        let inner = self.inner.read();
        let mut batches = Vec::new();
        for s in &inner.sealed {
            if !s.bloom.may_contain(id) {
                continue;
            }
            for loc in index::lookup(&s.index, s.entries, id)? {
                batches.push(decode_payload(&segment::read_record(&s.spans, &loc)?)?);
            }
        }
        if let Some(locs) = inner.head.map.get(id) {
            for loc in locs {
                batches.push(decode_payload(&segment::read_record(&inner.head.file, loc)?)?);
            }
        }
        drop(inner);
        if batches.is_empty() {
            return Ok(None);
        }
        Ok(Some(Trace::new(*id, dedupe(batches))))
    }

    /// Whether the store holds any record of the trace (Bloom filters, then the index on a hit).
    pub fn contains(&self, id: &TraceId) -> bool {
        let inner = self.inner.read();
        if inner.head.map.contains_key(id) {
            return true;
        }
        inner
            .sealed
            .iter()
            .any(|s| s.bloom.may_contain(id) && index::lookup(&s.index, s.entries, id).is_ok_and(|l| !l.is_empty()))
    }

    /// Services seen (sorted).
    pub fn services(&self) -> Vec<String> {
        let n = self.names();
        n.services.keys().cloned().collect()
    }

    /// Operations seen for a service (sorted).
    pub fn operations(&self, service: &str) -> Vec<String> {
        let n = self.names();
        n.services
            .get(service)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Tag keys by scope: `(resource keys, span keys)`, sorted.
    pub fn tag_names(&self) -> (Vec<String>, Vec<String>) {
        let n = self.names();
        (n.resource.keys().cloned().collect(), n.span.keys().cloned().collect())
    }

    /// Values seen for a tag key in either scope (sorted, capped per segment).
    pub fn tag_values(&self, key: &str) -> Vec<String> {
        let n = self.names();
        let mut out: std::collections::BTreeSet<String> = n.resource.get(key).cloned().unwrap_or_default();
        out.extend(n.span.get(key).cloned().unwrap_or_default());
        out.into_iter().collect()
    }

    fn names(&self) -> Names {
        let inner = self.inner.read();
        let mut n = Names::default();
        for s in inner.sealed.iter().rev() {
            n.merge(&s.names);
        }
        n.merge(&inner.head.names);
        n
    }

    /// Finds traces with a span matching `q`, newest first, up to `q.limit`. Reads at most
    /// `max_search_bytes` of records; `SearchResult::truncated` says when that stopped the scan.
    pub fn search(&self, q: &SearchQuery) -> Result<SearchResult, Error> {
        let (qs, qe) = (q.start_ns.unwrap_or(0), q.end_ns.unwrap_or(u64::MAX));
        let mut result = SearchResult::default();
        let mut seen: HashSet<TraceId> = HashSet::new();
        let mut budget = self.opts.max_search_bytes;
        // Segments newest first: the head (records in memory), then sealed by descending seq.
        let (head_recs, sealed): (Vec<(TraceId, Loc)>, Vec<(File, u64, u64, u64)>) = {
            let inner = self.inner.read();
            let head_recs = if inner.head.records.is_empty() || inner.head.max_ns < qs || inner.head.min_ns > qe {
                Vec::new()
            } else {
                inner.head.records.clone()
            };
            let sealed = inner
                .sealed
                .iter()
                .rev()
                .filter(|s| s.max_ns >= qs && s.min_ns <= qe)
                .filter_map(|s| s.spans.try_clone().ok().map(|f| (f, s.data_len, s.min_ns, s.max_ns)))
                .collect();
            (head_recs, sealed)
        };
        let head_file = self.inner.read().head.file.try_clone()?;
        let mut cands = Vec::new();
        for (id, loc) in head_recs.iter().rev() {
            if loc.end_ns < qs || loc.start_ns > qe || seen.contains(id) {
                continue;
            }
            if budget < u64::from(loc.len) {
                result.truncated = true;
                break;
            }
            budget -= u64::from(loc.len);
            result.inspected_bytes += u64::from(loc.len);
            let rs = decode_payload(&segment::read_record(&head_file, loc)?)?;
            if !q.batch_may_match(&rs) {
                continue;
            }
            let m = q.matching_spans(&rs);
            if !m.is_empty() {
                cands.push((*id, loc.start_ns, m));
            }
        }
        if self.take_candidates(q, cands, &mut seen, &mut result)? || result.truncated {
            return Ok(result);
        }
        for (file, data_len, _, _) in sealed {
            let Some(mut sc) = Scanner::open(file, data_len)? else {
                continue;
            };
            let mut cands: Vec<(TraceId, u64, Vec<(String, Span)>)> = Vec::new();
            while let Some(r) = sc.next_record(true) {
                if budget < u64::from(r.loc.len) {
                    result.truncated = true;
                    break;
                }
                budget -= u64::from(r.loc.len);
                result.inspected_bytes += u64::from(r.loc.len);
                if r.loc.end_ns < qs || r.loc.start_ns > qe {
                    continue;
                }
                let Ok(rs) = ResourceSpans::decode(&r.body[..]) else {
                    continue;
                };
                if !q.batch_may_match(&rs) {
                    continue;
                }
                let m = q.matching_spans(&rs);
                if !m.is_empty() {
                    cands.push((r.meta.trace_id, r.loc.start_ns, m));
                }
            }
            if self.take_candidates(q, cands, &mut seen, &mut result)? || result.truncated {
                break;
            }
        }
        Ok(result)
    }

    /// Adds the candidates of one segment to the result, newest first, each checked against the
    /// trace-level conditions on the whole trace. `true` when the limit is reached.
    fn take_candidates(
        &self,
        q: &SearchQuery,
        mut cands: Vec<(TraceId, u64, Vec<(String, Span)>)>,
        seen: &mut HashSet<TraceId>,
        result: &mut SearchResult,
    ) -> Result<bool, Error> {
        cands.sort_by_key(|c| std::cmp::Reverse(c.1));
        for (id, _, matched) in cands {
            if result.traces.len() >= q.limit {
                return Ok(true);
            }
            if !seen.insert(id) {
                continue;
            }
            let Some(trace) = self.trace(&id)? else { continue };
            let sum = TraceSummary::of(&trace, matched);
            if q.trace_matches(&sum, &trace) {
                result.traces.push((sum, trace));
            }
        }
        Ok(result.traces.len() >= q.limit)
    }

    /// Counters and gauges.
    pub fn stats(&self) -> Stats {
        let inner = self.inner.read();
        let c = &self.counters;
        let sealed_bytes: u64 = inner.sealed.iter().map(|s| s.data_len + s.index_len).sum();
        let memory = inner.head.memory()
            + inner
                .sealed
                .iter()
                .map(|s| s.bloom.bytes() + s.names.bytes() + 128)
                .sum::<usize>();
        let oldest = inner
            .sealed
            .first()
            .map(|s| s.min_ns)
            .or((!inner.head.records.is_empty()).then_some(inner.head.min_ns))
            .unwrap_or(0);
        Stats {
            spans_received: c.spans_received.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            bytes_written: c.bytes_written.load(Ordering::Relaxed),
            repaired_bytes: c.repaired_bytes.load(Ordering::Relaxed),
            segments_deleted: c.segments_deleted.load(Ordering::Relaxed),
            dropped: DropReason::ALL
                .iter()
                .zip(&c.dropped)
                .map(|(r, n)| (*r, n.load(Ordering::Relaxed)))
                .collect(),
            stored_bytes: sealed_bytes + inner.head.len,
            segments: inner.sealed.len() as u64 + 1,
            traces: inner.sealed.iter().map(|s| u64::from(s.traces)).sum::<u64>() + inner.head.map.len() as u64,
            records: inner.sealed.iter().map(|s| u64::from(s.entries)).sum::<u64>() + inner.head.records.len() as u64,
            memory_bytes: memory as u64,
            oldest_ns: oldest,
        }
    }
}

impl TraceLookup for Store {
    fn contains(&self, id: &TraceId) -> bool {
        Store::contains(self, id)
    }
}

fn count_distinct(sorted_ids: &[TraceId]) -> u32 {
    let mut n = 0u32;
    for (i, id) in sorted_ids.iter().enumerate() {
        if i == 0 || sorted_ids[i - 1] != *id {
            n += 1;
        }
    }
    n
}

/// Writes the index of a full head (temp + fsync + rename + directory fsync) and returns it sealed.
fn seal_head(dir: &Path, head: Head) -> Result<Sealed, Error> {
    head.file.sync_all()?;
    let entries = head.records.len() as u32;
    let bytes = index::encode_index(head.records, head.len, &head.names);
    let ip = index_path(dir, head.seq);
    let mut tmp = ip.clone().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, &ip)?;
    sync_dir(dir)?;
    let (h, ids, names) = index::verify_index(&bytes).ok_or(Error::Corrupted {
        offset: 0,
        reason: "index just written does not verify",
    })?;
    Ok(Sealed {
        seq: head.seq,
        spans: File::open(seg_path(dir, head.seq))?,
        index: File::open(&ip)?,
        entries,
        traces: count_distinct(&ids),
        min_ns: h.min_ns,
        max_ns: h.max_ns,
        data_len: head.len,
        index_len: bytes.len() as u64,
        bloom: Bloom::new(ids.iter()),
        names,
    })
}

fn decode_payload(payload: &[u8]) -> Result<ResourceSpans, Error> {
    let (_, body) = segment::split_payload(payload).ok_or(Error::Corrupted {
        offset: 0,
        reason: "record payload shorter than its header",
    })?;
    ResourceSpans::decode(body).map_err(|_| Error::Corrupted {
        offset: 0,
        reason: "record does not decode as ResourceSpans",
    })
}

/// Drops spans whose span ID was already seen (an exporter retrying a request), and batches left empty.
fn dedupe(batches: Vec<ResourceSpans>) -> Vec<ResourceSpans> {
    let mut seen = HashSet::new();
    batches
        .into_iter()
        .filter_map(|mut rs| {
            for ss in &mut rs.scope_spans {
                ss.spans.retain(|s| seen.insert(s.span_id.clone()));
            }
            rs.scope_spans.retain(|ss| !ss.spans.is_empty());
            (!rs.scope_spans.is_empty()).then_some(rs)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(trace: u8, spans: u8, now: u64) -> ExportTraceServiceRequest {
        let spans = (1..=spans)
            .map(|i| Span {
                trace_id: vec![trace; 16],
                span_id: vec![i; 8],
                name: format!("op{i}"),
                start_time_unix_nano: now,
                end_time_unix_nano: now + 1000,
                ..Span::default()
            })
            .collect();
        ExportTraceServiceRequest {
            resource_spans: vec![crate::attrs::batch(
                vec![crate::attrs::string_kv("service.name", "svc")],
                spans,
            )],
        }
    }

    #[test]
    fn survives_restart_seal_and_torn_tail() -> Result<(), Error> {
        let dir = tempfile::tempdir()?;
        let now = now_ns();
        let opts = Options {
            segment_bytes: 4096,
            ..Options::default()
        };
        {
            let s = Store::open(dir.path(), opts.clone())?;
            for t in 1..=40u8 {
                let out = s.ingest(&req(t, 3, now), now)?;
                assert_eq!(out.accepted, 3);
            }
            let bad = Span::default();
            let mut r = req(41, 0, now);
            r.resource_spans[0].scope_spans[0].spans.push(bad);
            assert_eq!(s.ingest(&r, now)?.rejected_total(), 1);
            s.sync()?;
            assert!(s.stats().segments > 1, "segments were sealed");
        }
        // A torn tail on the active segment is cut off; everything before it survives.
        let mut segs: Vec<_> = fs::read_dir(dir.path())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "spans"))
            .collect();
        segs.sort();
        if let Some(last) = segs.last() {
            let mut f = OpenOptions::new().append(true).open(last)?;
            f.write_all(&[9, 0, 0, 0, 1, 2])?;
        }
        let s = Store::open(dir.path(), opts)?;
        assert_eq!(s.stats().repaired_bytes, 6);
        for t in 1..=40u8 {
            let tr = s.trace(&TraceId([t; 16]))?.ok_or(Error::Corrupted {
                offset: 0,
                reason: "trace lost",
            })?;
            assert_eq!(tr.span_count(), 3, "trace {t}");
            assert!(s.contains(&TraceId([t; 16])));
        }
        assert!(!s.contains(&TraceId([200; 16])));
        assert_eq!(s.services(), vec!["svc".to_owned()]);
        Ok(())
    }

    #[test]
    fn retention_by_time_drops_old_segments_and_refuses_old_spans() -> Result<(), Error> {
        let dir = tempfile::tempdir()?;
        let now = now_ns();
        let day = 24 * 3600 * 1_000_000_000u64;
        let opts = Options {
            retention: Duration::from_secs(24 * 3600),
            segment_bytes: 4096,
            ..Options::default()
        };
        let s = Store::open(dir.path(), opts.clone())?;
        // Spans from 20 hours ago fill and seal segments; fresh ones follow.
        let old = now - day * 20 / 24;
        for t in 1..=30u8 {
            assert_eq!(s.ingest(&req(t, 3, old), now)?.accepted, 3);
        }
        for t in 31..=40u8 {
            assert_eq!(s.ingest(&req(t, 3, now), now)?.accepted, 3);
        }
        // Spans older than the retention are refused at ingest, counted by reason.
        let out = s.ingest(&req(99, 2, now - 2 * day), now)?;
        assert_eq!(out.accepted, 0);
        assert_eq!(out.rejected.get(&DropReason::TooOld), Some(&2));
        assert!(s.trace(&TraceId([99; 16]))?.is_none());
        let before = s.stats().segments;
        assert!(before > 2, "segments were sealed");
        // Nothing is old yet.
        assert_eq!(s.enforce_retention(now)?, 0);
        // Six hours later the old segments are past the day: deleted, with their files.
        let deleted = s.enforce_retention(now + day / 4)?;
        assert!(deleted > 0);
        assert!(s.trace(&TraceId([1; 16]))?.is_none(), "old trace is gone");
        assert!(!s.contains(&TraceId([1; 16])));
        assert_eq!(
            s.trace(&TraceId([40; 16]))?.map(|t| t.span_count()),
            Some(3),
            "fresh trace kept"
        );
        assert_eq!(s.stats().segments_deleted, deleted as u64);
        let files = fs::read_dir(dir.path())?.count() as u64;
        let st = s.stats();
        // One .spans per segment and one .index per sealed segment.
        assert_eq!(files, st.segments * 2 - 1);
        drop(s);
        // The deletion survives a restart.
        let s = Store::open(dir.path(), opts)?;
        assert!(s.trace(&TraceId([1; 16]))?.is_none());
        assert!(s.contains(&TraceId([40; 16])));
        Ok(())
    }

    #[test]
    fn retention_by_bytes_drops_oldest() -> Result<(), Error> {
        let dir = tempfile::tempdir()?;
        let now = now_ns();
        let s = Store::open(
            dir.path(),
            Options {
                max_bytes: 64 << 10,
                segment_bytes: 4096,
                ..Options::default()
            },
        )?;
        for t in 0..=255u8 {
            s.ingest(&req(t.max(1), 20, now), now)?;
        }
        assert!(s.stats().stored_bytes <= (64 << 10) + 8192);
        assert!(s.stats().segments_deleted > 0);
        Ok(())
    }
}

//! Appending one scrape's body to storage: the series cache, per-sample label handling (honor_labels,
//! `exported_*`, metric relabelling), limits, exemplars, metadata, staleness markers and the report series.
//! Synchronous and free of I/O, so it is tested directly against `MemStorage`.

use std::collections::HashSet;

use foldhash::HashMap;
use foldhash::HashMapExt;
use std::sync::Arc;

use diamond_config::ScrapeConfig;
use diamond_config::relabel;
use diamond_exposition::{Entry, ErrorKind, Format, Parser};
use diamond_model::storage::{AppendError, Appender, SeriesRef};
use diamond_model::{Labels, LabelsBuilder, METRIC_NAME, Metadata, MetricType, STALE_NAN, Timestamp};

use crate::ScrapeError;

/// What the cache remembers about one series text.
struct CacheEntry {
    /// `None` when metric relabelling dropped the series.
    series: Option<Series>,
    /// Scrape iteration that last saw it (entries not seen in a successful scrape are evicted).
    last_iter: u64,
}

#[derive(Clone)]
struct Series {
    sref: SeriesRef,
    labels: Arc<Labels>,
    hash: u64,
}

/// Per-target state carried from scrape to scrape: the raw series text → (ref, labels) cache, the series
/// of the previous successful scrape (for staleness) and the last metadata per family.
#[derive(Default)]
pub struct ScrapeCache {
    entries: HashMap<String, CacheEntry>,
    /// Series appended (without explicit timestamps) in the last successful scrape, by label hash.
    prev: HashMap<u64, Series>,
    metadata: HashMap<String, Metadata>,
    report_refs: HashMap<&'static str, SeriesRef>,
    iter: u64,
    /// Entries after the last successful scrape; bounds growth while scrapes keep failing.
    successful_len: usize,
}

impl ScrapeCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of series texts cached (kept or dropped).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The last metadata seen per metric family (what `/api/v1/targets/metadata` reports).
    pub fn metadata(&self) -> &HashMap<String, Metadata> {
        &self.metadata
    }
}

/// The per-target settings the append step needs.
pub struct AppendOptions<'a> {
    /// The job's configuration (honor_labels, honor_timestamps, limits, metric relabelling).
    pub config: &'a ScrapeConfig,
    /// The target's labels (non-`__`).
    pub target_labels: &'a Labels,
    /// Whether the request preferred OpenMetrics (for the exemplar-loss diagnostic).
    pub preferred_openmetrics: bool,
}

/// Counts and findings of one append.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AppendStats {
    /// Sample lines in the body (`scrape_samples_scraped`).
    pub scraped: u64,
    /// Samples left after metric relabelling (`scrape_samples_post_metric_relabeling`).
    pub post_relabel: u64,
    /// Series new to the cache (`scrape_series_added`).
    pub series_added: u64,
    /// Exemplars found.
    pub exemplars: usize,
    /// Diagnostics.
    pub warnings: Vec<String>,
}

/// The warning recorded when a target answered the classic format although OpenMetrics was preferred.
pub const CLASSIC_TEXT_WARNING: &str = "target answered text/plain; exemplars are only carried by OpenMetrics";

const FAMILY_SUFFIXES: [&str; 8] = [
    "_total", "_bucket", "_count", "_sum", "_created", "_info", "_gcount", "_gsum",
];

/// Prometheus's `mutateSampleLabels`: attach the target labels, keeping the exposed value under
/// `exported_<name>` on conflict unless `honor_labels`; then metric relabelling.
fn mutate_labels(lset: &Labels, target: &Labels, honor: bool, rc: &[relabel::RelabelConfig]) -> Option<Labels> {
    let mut lb = lset.builder();
    if honor {
        for l in target {
            if !lset.has(&l.name) {
                lb.set(&l.name, &l.value);
            }
        }
    } else {
        let mut conflicts: Vec<(String, String)> = Vec::new();
        for l in target {
            if let Some(v) = lset.get(&l.name) {
                conflicts.push((l.name.to_string(), v.to_owned()));
            }
            lb.set(&l.name, &l.value);
        }
        // Shorter names first, so `exported_job` is taken by `job` before `exported_job` needs
        // `exported_exported_job`.
        conflicts.sort_by_key(|(n, _)| n.len());
        for (name, value) in conflicts {
            let mut new_name = name;
            loop {
                new_name = format!("exported_{new_name}");
                if lb.get(&new_name).is_none() {
                    lb.set(&new_name, &value);
                    break;
                }
            }
        }
    }
    let res = lb.build();
    if rc.is_empty() {
        Some(res)
    } else {
        relabel::process(&res, rc)
    }
}

/// Label limits, checked on series new to the cache as Prometheus does; the messages are Prometheus's.
fn verify_limits(l: &Labels, cfg: &ScrapeConfig) -> Result<(), ScrapeError> {
    let name: String = l.metric_name().unwrap_or("").chars().take(50).collect();
    if cfg.label_limit > 0 && l.len() as u64 > cfg.label_limit {
        return Err(ScrapeError::LabelLimit(format!(
            "label_limit exceeded (metric: {name}, number of labels: {}, limit: {})",
            l.len(),
            cfg.label_limit
        )));
    }
    for x in l {
        let (nl, vl) = (x.name.chars().count() as u64, x.value.chars().count() as u64);
        if cfg.label_name_length_limit > 0 && nl > cfg.label_name_length_limit {
            let short: String = x.name.chars().take(50).collect();
            return Err(ScrapeError::LabelLimit(format!(
                "label_name_length_limit exceeded (metric: {name}, label name: {short}, length: {nl}, limit: {})",
                cfg.label_name_length_limit
            )));
        }
        if cfg.label_value_length_limit > 0 && vl > cfg.label_value_length_limit {
            let short: String = x.value.chars().take(50).collect();
            return Err(ScrapeError::LabelLimit(format!(
                "label_value_length_limit exceeded (metric: {name}, label value: {short}, length: {vl}, limit: {})",
                cfg.label_value_length_limit
            )));
        }
    }
    Ok(())
}

fn family_of<'m>(name: &str, meta: &'m HashMap<String, Metadata>) -> Option<(&'m str, &'m Metadata)> {
    if let Some((k, m)) = meta.get_key_value(name) {
        return Some((k.as_str(), m));
    }
    FAMILY_SUFFIXES
        .iter()
        .filter_map(|s| name.strip_suffix(s))
        .find_map(|f| meta.get_key_value(f))
        .map(|(k, m)| (k.as_str(), m))
}

/// Keeps `pending` in step with one family's metadata as its TYPE/HELP/UNIT lines arrive.
fn track_pending(pending: &mut HashSet<String>, family: &str, m: &Metadata, recorded: &HashMap<String, Metadata>) {
    if recorded.get(family) == Some(m) {
        pending.remove(family);
    } else if !pending.contains(family) {
        pending.insert(family.to_owned());
    }
}

/// Whether an append error only drops the sample (Prometheus counts these and goes on).
fn is_sample_error(e: &AppendError) -> bool {
    matches!(
        e,
        AppendError::OutOfOrder
            | AppendError::DuplicateSampleForTimestamp
            | AppendError::OutOfBounds
            | AppendError::TooOldSample
    )
}

/// Appends the samples of a successfully fetched body. On success, series of the previous scrape that are
/// missing get a staleness marker at `ts` and the cache moves to the next iteration. On error the caller
/// rolls the appender back and calls [`append_failure`]; the returned stats still count what was parsed.
pub fn append_body(
    app: &mut dyn Appender,
    cache: &mut ScrapeCache,
    body: &[u8],
    format: Format,
    ts: Timestamp,
    opts: &AppendOptions<'_>,
) -> Result<AppendStats, (AppendStats, ScrapeError)> {
    let mut touched = Vec::new();
    let res = append_samples(app, cache, body, format, ts, opts, &mut touched);
    if res.is_err() {
        // The caller rolls the transaction back, so refs handed out during it may name series the storage
        // never kept: forget them rather than pass them as hints later.
        for key in touched {
            if let Some(CacheEntry { series: Some(s), .. }) = cache.entries.get_mut(&key) {
                s.sref = 0;
            }
        }
    }
    res
}

fn append_samples(
    app: &mut dyn Appender,
    cache: &mut ScrapeCache,
    body: &[u8],
    format: Format,
    ts: Timestamp,
    opts: &AppendOptions<'_>,
    touched: &mut Vec<String>,
) -> Result<AppendStats, (AppendStats, ScrapeError)> {
    let cfg = opts.config;
    let mut st = AppendStats::default();
    let iter = cache.iter + 1;
    let mut cur: HashMap<u64, Series> = HashMap::with_capacity(cache.prev.len());
    let mut meta: HashMap<String, Metadata> = HashMap::new();
    // Families whose metadata in this scrape differs from the cache's and is not yet recorded.
    let mut pending: HashSet<String> = HashSet::new();
    let mut typed_exemplar_family = false;
    let mut sample_limit_hit = false;
    let mut p = Parser::new(body, format);
    let fail = |st: AppendStats, e: ScrapeError| Err((st, e));
    while let Some(item) = p.next() {
        let entry = match item {
            Ok(e) => e,
            Err(e) => {
                let err = match &e.kind {
                    ErrorKind::ExemplarInClassicText(_) => ScrapeError::ExemplarInClassicText { line: e.line },
                    _ => ScrapeError::Parse(e.to_string()),
                };
                return fail(st, err);
            }
        };
        let s = match entry {
            Entry::Type { family, metric_type } => {
                if matches!(
                    metric_type,
                    MetricType::Counter | MetricType::Histogram | MetricType::GaugeHistogram
                ) {
                    typed_exemplar_family = true;
                }
                let m = meta.entry(family.to_owned()).or_default();
                m.metric_type = metric_type;
                track_pending(&mut pending, family, m, &cache.metadata);
                continue;
            }
            Entry::Help { family, help } => {
                let m = meta.entry(family.to_owned()).or_default();
                m.help = help.into_owned();
                track_pending(&mut pending, family, m, &cache.metadata);
                continue;
            }
            Entry::Unit { family, unit } => {
                let m = meta.entry(family.to_owned()).or_default();
                m.unit = unit.to_owned();
                track_pending(&mut pending, family, m, &cache.metadata);
                continue;
            }
            Entry::Sample(s) => s,
        };
        st.scraped += 1;
        let explicit_ts = s.timestamp_ms().filter(|_| cfg.honor_timestamps);
        let t = explicit_ts.unwrap_or(ts);
        let key = s.series();
        let (series, is_new) = match cache.entries.get_mut(key) {
            Some(e) => {
                e.last_iter = iter;
                (e.series.clone(), false)
            }
            None => {
                let lset = s.labels();
                let mutated = mutate_labels(&lset, opts.target_labels, cfg.honor_labels, &cfg.metric_relabel_configs);
                let series = match mutated {
                    Some(l) if !l.is_empty() => {
                        if let Err(e) = verify_limits(&l, cfg) {
                            return fail(st, e);
                        }
                        if l.metric_name().is_none_or(str::is_empty) {
                            return fail(st, ScrapeError::Parse("missing metric name (__name__ label)".into()));
                        }
                        let hash = l.stable_hash();
                        Some(Series {
                            sref: 0,
                            labels: Arc::new(l),
                            hash,
                        })
                    }
                    _ => None,
                };
                cache.entries.insert(
                    key.to_owned(),
                    CacheEntry {
                        series: series.clone(),
                        last_iter: iter,
                    },
                );
                (series, true)
            }
        };
        let Some(mut series) = series else {
            // Dropped by metric relabelling.
            continue;
        };
        st.post_relabel += 1;
        if cfg.sample_limit > 0 && st.post_relabel > cfg.sample_limit {
            // Prometheus keeps counting to report the totals, but the scrape fails.
            sample_limit_hit = true;
            continue;
        }
        let sref = match app.append(series.sref, &series.labels, t, s.value()) {
            Ok(r) => r,
            Err(e) if is_sample_error(&e) => {
                tracing::debug!(series = %series.labels, error = %e, "sample dropped");
                continue;
            }
            Err(e) => return fail(st, ScrapeError::Storage(e)),
        };
        if sref != series.sref {
            series.sref = sref;
            if let Some(e) = cache.entries.get_mut(key) {
                e.series = Some(series.clone());
            }
            touched.push(key.to_owned());
        }
        if is_new {
            st.series_added += 1;
        }
        // Series with their own timestamps are not marked stale (Prometheus's default,
        // track_timestamps_staleness: false).
        if explicit_ts.is_none() {
            cur.insert(series.hash, series.clone());
        }
        if let Some(mut e) = s.exemplar() {
            st.exemplars += 1;
            if !e.has_ts {
                e.ts = t;
            }
            // Exemplar errors never fail a scrape.
            if let Err(err) = app.append_exemplar(sref, &series.labels, &e) {
                tracing::debug!(series = %series.labels, error = %err, "exemplar dropped");
            }
        }
        // Metadata is per family: recorded once, with the family's first stored sample, when it differs
        // from what the last successful scrape recorded. In steady state nothing is pending and this costs
        // nothing per sample.
        if !pending.is_empty() {
            let name = s.metric_name();
            if let Some((family, m)) = family_of(&name, &meta)
                && pending.remove(family)
                && let Err(err) = app.update_metadata(sref, &Labels::from_pairs(&[(METRIC_NAME, family)]), m)
            {
                tracing::debug!(family, error = %err, "metadata dropped");
            }
        }
        if !typed_exemplar_family && format == Format::PromText {
            let name = s.metric_name();
            typed_exemplar_family = name.ends_with("_total") || name.ends_with("_bucket");
        }
    }
    if sample_limit_hit {
        return fail(st, ScrapeError::SampleLimit);
    }
    if format == Format::PromText && opts.preferred_openmetrics && typed_exemplar_family {
        st.warnings.push(CLASSIC_TEXT_WARNING.to_owned());
    }
    // Staleness: series of the previous scrape not seen in this one.
    let mut stale_err = None;
    for (h, s) in &cache.prev {
        if !cur.contains_key(h)
            && let Err(e) = app.append(s.sref, &s.labels, ts, STALE_NAN)
            && !is_sample_error(&e)
        {
            stale_err = Some(e);
        }
    }
    if let Some(e) = stale_err {
        return fail(st, ScrapeError::Storage(e));
    }
    cache.prev = cur;
    cache.iter = iter;
    // Families seen this scrape; others keep their last metadata (a family may skip a scrape).
    for (k, m) in meta {
        cache.metadata.insert(k, m);
    }
    // Evict series texts not seen in this successful scrape: churn would otherwise grow the cache forever.
    cache.entries.retain(|_, e| e.last_iter == iter);
    cache.successful_len = cache.entries.len();
    Ok(st)
}

/// After a failed scrape (fetch or append error): staleness markers at `ts` for every series of the last
/// successful scrape, which is then forgotten so the markers are written once.
pub fn append_failure(app: &mut dyn Appender, cache: &mut ScrapeCache, ts: Timestamp) -> Result<(), AppendError> {
    let prev = std::mem::take(&mut cache.prev);
    for s in prev.values() {
        match app.append(s.sref, &s.labels, ts, STALE_NAN) {
            Ok(_) => {}
            Err(e) if is_sample_error(&e) => {}
            Err(e) => return Err(e),
        }
    }
    cache.iter += 1;
    // Failed scrapes do not evict (their series may come back), but a target failing with ever-new series
    // would grow the cache forever: past twice the last good size plus 1000, keep only what the latest
    // attempt saw (Prometheus's forced flush).
    if cache.entries.len() > cache.successful_len * 2 + 1000 {
        let iter = cache.iter;
        cache.entries.retain(|_, e| e.last_iter == iter);
    }
    Ok(())
}

/// The report series Prometheus writes for every scrape.
pub const REPORT_SERIES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

fn report_labels(name: &str, target: &Labels) -> Labels {
    let mut lb = LabelsBuilder::new();
    for l in target {
        lb.set(&l.name, &l.value);
    }
    lb.set(METRIC_NAME, name);
    lb.build()
}

/// Writes the report series at `ts`: `up` (1 or 0), the duration in seconds and the counts.
pub fn append_report(
    app: &mut dyn Appender,
    cache: &mut ScrapeCache,
    target: &Labels,
    ts: Timestamp,
    duration_secs: f64,
    stats: &AppendStats,
    up: bool,
) -> Result<(), AppendError> {
    let values = [
        if up { 1.0 } else { 0.0 },
        duration_secs,
        stats.scraped as f64,
        stats.post_relabel as f64,
        stats.series_added as f64,
    ];
    for (name, v) in REPORT_SERIES.into_iter().zip(values) {
        let hint = cache.report_refs.get(name).copied().unwrap_or(0);
        match app.append(hint, &report_labels(name, target), ts, v) {
            Ok(r) => {
                cache.report_refs.insert(name, r);
            }
            Err(e) if is_sample_error(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// When a target goes away: staleness markers for its series and its report series.
pub fn append_end_of_run(
    app: &mut dyn Appender,
    cache: &mut ScrapeCache,
    target: &Labels,
    ts: Timestamp,
) -> Result<(), AppendError> {
    append_failure(app, cache, ts)?;
    for name in REPORT_SERIES {
        let hint = cache.report_refs.get(name).copied().unwrap_or(0);
        match app.append(hint, &report_labels(name, target), ts, STALE_NAN) {
            Ok(_) => {}
            Err(e) if is_sample_error(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

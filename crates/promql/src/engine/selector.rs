//! Vector and range selectors: read each matching series once into a buffer, then answer every step from it.
//!
//! Vector selectors use the lookback delta: the newest sample in `(t - lookback, t]` unless it is a staleness
//! marker. Range selectors use the left-open window `(t - range, t]` of Prometheus 3 and drop staleness
//! markers.

use std::sync::Arc;

use diamond_model::storage::{Querier, Series};
use diamond_model::{Labels, Matcher, is_stale_nan};
use promql_parser::parser::{MatrixSelector, VectorSelector};

use super::Error;
use super::eval::{Evaluator, Matrix, PendingPoints, Points, RangeBuf, Sample, Val, dur_ms, offset_ms};

/// One loaded series: its labels and all its samples in the read range.
pub(crate) type Loaded = (Arc<Labels>, Points);

/// A series' labels and its decoded samples over the query's read range, shared with the series cache.
type Decoded = (Arc<Labels>, Arc<Vec<(i64, f64)>>);

/// Reads every series matching `vs` with samples in `[mint, maxt]`, each as one buffer.
///
/// Series come from the query's single querier over its whole read range; each is decoded once per query
/// (into `Evaluator::series_cache`) and every selector slices what it needs from that buffer.
pub(crate) fn load(
    ev: &mut Evaluator<'_>,
    vs: &VectorSelector,
    mint: i64,
    maxt: i64,
    keep_stale: bool,
) -> Result<Vec<Loaded>, Error> {
    let sets = crate::parser::selector_matcher_sets(vs).map_err(|e| Error::bad_data(e.to_string()))?;
    if mint > maxt {
        return Ok(Vec::new());
    }
    // The pre-computed read range covers every selector; should it not (a bug), read this selector on its
    // own rather than return partial data.
    let Some((lo, hi)) = open_querier(ev, mint, maxt)? else {
        return load_uncached(ev, &sets, mint, maxt, keep_stale);
    };
    let mut all = select_all(ev.querier.as_deref(), &sets)?;
    // Series another selector of this query already decoded come from the cache; the rest are decoded
    // here, in batches so that a cancelled or timed-out query stops between them.
    let mut found: Vec<Option<Decoded>> = all
        .iter()
        .map(|s| {
            ev.cache_series
                .then(|| ev.series_cache.get_key_value(&s.labels))
                .flatten()
                .map(|(l, b)| (Arc::clone(l), Arc::clone(b)))
        })
        .collect();
    let todo: Vec<usize> = (0..all.len()).filter(|&i| found[i].is_none()).collect();
    for batch in todo.chunks(DECODE_BATCH) {
        ev.check()?;
        let decoded = decode_batch(&all, batch, lo, hi);
        for (&i, buf) in batch.iter().zip(decoded) {
            ev.stats.series_loaded += 1;
            ev.stats.samples_loaded += buf.len();
            found[i] = Some((Arc::new(std::mem::take(&mut all[i].labels)), Arc::new(buf)));
        }
    }
    if all.len() >= PARALLEL_MIN && rayon::current_num_threads() > 1 {
        // Freeing many series' chunk snapshots was 4 % of an instant query over 10k series, on the query's
        // own thread; a pool thread does it while this one goes on.
        rayon::spawn(move || drop(all));
    } else {
        drop(all);
    }
    let mut out = Vec::with_capacity(found.len());
    for (labels, buf) in found.into_iter().flatten() {
        if ev.cache_series && !ev.series_cache.contains_key(&labels) {
            ev.series_cache.insert(Arc::clone(&labels), Arc::clone(&buf));
        }
        let a = buf.partition_point(|p| p.0 < mint);
        let b = buf.partition_point(|p| p.0 <= maxt).max(a);
        // Share the cached buffer unless staleness markers must be filtered out of it.
        let pts = if keep_stale || !buf[a..b].iter().any(|p| is_stale_nan(p.1)) {
            Points::Shared(buf, a..b)
        } else {
            Points::Owned(buf[a..b].iter().filter(|p| !is_stale_nan(p.1)).copied().collect())
        };
        out.push((labels, pts));
    }
    Ok(out)
}

/// Opens the query's one querier over its read range, if that range covers `[mint, maxt]`; the range.
fn open_querier(ev: &mut Evaluator<'_>, mint: i64, maxt: i64) -> Result<Option<(i64, i64)>, Error> {
    let (lo, hi) = match ev.read_range {
        Some((lo, hi)) if lo <= mint && maxt <= hi => (lo, hi),
        _ => return Ok(None),
    };
    if ev.querier.is_none() {
        ev.querier = Some(
            ev.q.querier(lo, hi)
                .map_err(|e| Error::exec(format!("error querying storage: {e}")))?,
        );
    }
    Ok(Some((lo, hi)))
}

/// Per step, a window's exclusive start and inclusive end (ms).
type Windows = Vec<(i64, i64)>;

/// A range selector's window at each step, `(start, end]`, and the span `[mint, maxt]` it reads (`None`
/// without steps).
fn range_windows(ev: &Evaluator<'_>, ms: &MatrixSelector, ts: &[i64]) -> (Windows, Option<(i64, i64)>) {
    let offset = offset_ms(&ms.vs.offset);
    let range = dur_ms(&ms.range);
    let ends: Vec<i64> = ts.iter().map(|&t| ev.effective_time(&ms.vs.at, offset, t)).collect();
    let windows: Vec<(i64, i64)> = ends.iter().map(|&e| (e.saturating_sub(range), e)).collect();
    let span = match (ends.iter().min(), ends.iter().max()) {
        (Some(&lo), Some(&hi)) => Some((lo.saturating_sub(range).saturating_add(1), hi)),
        _ => None,
    };
    (windows, span)
}

/// Series decoded between two cancellation checks.
pub(crate) const DECODE_BATCH: usize = 4096;

/// Below this many series a batch is decoded on the query's own thread: handing work to the pool costs
/// more than it saves.
const PARALLEL_MIN: usize = 512;

/// Decodes `all[i]` for each `i` in `batch` over `[lo, hi]`, in `batch`'s order.
///
/// Decoding chunks is most of the CPU of a selector over many series (42 % of an instant `sum by (rate)`
/// over 10k series after the head-read fixes of 2026-12-07), and series are independent, so a large batch
/// is split over rayon's pool (one thread per core). Prometheus evaluates a query on one goroutine;
/// this is one place where Diamond does better than match it. The order of the result does not depend on
/// the split.
fn decode_batch(all: &[Series], batch: &[usize], lo: i64, hi: i64) -> Vec<Vec<(i64, f64)>> {
    use rayon::prelude::*;
    // Series of one selector usually hold about as many samples as each other: the last one's count sizes
    // the next buffer, sparing most of the growth copies.
    let one = |hint: &mut usize, &i: &usize| {
        let buf = decode(&all[i], lo, hi, true, *hint);
        *hint = buf.len();
        buf
    };
    if batch.len() < PARALLEL_MIN || rayon::current_num_threads() < 2 {
        let mut hint = 0;
        return batch.iter().map(|i| one(&mut hint, i)).collect();
    }
    batch
        .par_iter()
        .with_min_len(PARALLEL_MIN / 2)
        .map_init(|| 0usize, one)
        .collect()
}

/// The series matching any of the matcher sets, without duplicates: in storage's order for one set, sorted by
/// labels for several.
fn select_all(querier: Option<&dyn Querier>, sets: &[Vec<Matcher>]) -> Result<Vec<Series>, Error> {
    let Some(querier) = querier else { return Ok(Vec::new()) };
    let mut all: Vec<Series> = Vec::new();
    for set in sets {
        // As Prometheus's engine: no order asked of storage (the head gives creation order); several sets
        // are sorted below to find the duplicates.
        let got = querier
            .select_unsorted(set)
            .map_err(|e| Error::exec(format!("error selecting series: {e}")))?;
        all.extend(got);
    }
    if sets.len() > 1 {
        all.sort_by(|a, b| a.labels.cmp(&b.labels));
        all.dedup_by(|a, b| a.labels == b.labels);
    }
    Ok(all)
}

/// Iterates one series' samples in `[mint, maxt]` into a buffer.
fn decode(s: &Series, mint: i64, maxt: i64, keep_stale: bool, capacity: usize) -> Vec<(i64, f64)> {
    decode_data(s.data.as_ref(), mint, maxt, keep_stale, capacity)
}

/// Decodes points left [`Points::Pending`] by [`matrix_lazy`], as [`load`] would have, staleness markers
/// dropped; `capacity` sizes the buffer.
pub(crate) fn decode_pending(p: &PendingPoints, capacity: usize) -> Vec<(i64, f64)> {
    decode_data(p.data.as_ref(), p.mint, p.maxt, false, capacity)
}

/// [`decode`] of a series' data.
fn decode_data(
    data: &dyn diamond_model::storage::SeriesData,
    mint: i64,
    maxt: i64,
    keep_stale: bool,
    capacity: usize,
) -> Vec<(i64, f64)> {
    let mut pts = Vec::with_capacity(capacity);
    data.iter(mint, maxt).fill(&mut pts);
    // Storage keeps to the range; should one not, its extra samples are dropped here.
    if pts.first().is_some_and(|p| p.0 < mint) || pts.last().is_some_and(|p| p.0 > maxt) {
        pts.retain(|p| p.0 >= mint && p.0 <= maxt);
    }
    if !keep_stale {
        pts.retain(|p| !is_stale_nan(p.1));
    }
    if pts.capacity() > 2 * pts.len() + 16 {
        // The hint overshot: do not hold on to the excess for the whole query.
        pts.shrink_to_fit();
    }
    pts
}

/// Reads a selector through its own querier (the fallback when it lies outside the query's read range).
pub(crate) fn load_uncached(
    ev: &mut Evaluator<'_>,
    sets: &[Vec<Matcher>],
    mint: i64,
    maxt: i64,
    keep_stale: bool,
) -> Result<Vec<Loaded>, Error> {
    let querier =
        ev.q.querier(mint, maxt)
            .map_err(|e| Error::exec(format!("error querying storage: {e}")))?;
    let all = select_all(Some(querier.as_ref()), sets)?;
    let mut out = Vec::with_capacity(all.len());
    for s in all {
        ev.check()?;
        let pts = decode(&s, mint, maxt, keep_stale, 0);
        ev.stats.series_loaded += 1;
        ev.stats.samples_loaded += pts.len();
        out.push((Arc::new(s.labels), Points::Owned(pts)));
    }
    Ok(out)
}

/// An instant vector selector at every step.
pub(crate) fn vector(ev: &mut Evaluator<'_>, vs: &VectorSelector, ts: &[i64]) -> Result<Val, Error> {
    let offset = offset_ms(&vs.offset);
    let lookback = ev.opts.lookback_delta_ms;
    let times: Vec<i64> = ts.iter().map(|&t| ev.effective_time(&vs.at, offset, t)).collect();
    let (Some(&lo), Some(&hi)) = (times.iter().min(), times.iter().max()) else {
        return Ok(Val::Vector(Vec::new()));
    };
    let series = load(ev, vs, lo.saturating_sub(lookback).saturating_add(1), hi, true)?;
    if let Some(order) = &mut ev.last_selector_order {
        order.clear();
        order.extend(series.iter().map(|(l, _)| Arc::as_ptr(l) as usize));
    }
    let mut steps = ev.step_vectors(ts.len(), series.len());
    let mut produced = 0usize;
    for (labels, pts) in &series {
        for (i, &t) in times.iter().enumerate() {
            if let Some(v) = value_at(pts, t, lookback) {
                steps[i].push(Sample {
                    labels: Arc::clone(labels),
                    v,
                    drop_name: false,
                });
                produced += 1;
            }
        }
    }
    ev.stats.queryable_samples += produced;
    Ok(Val::Vector(steps))
}

/// The value a vector selector sees at `t`: the newest sample in `(t - lookback, t]`, unless stale.
pub(crate) fn value_at(pts: &[(i64, f64)], t: i64, lookback: i64) -> Option<f64> {
    sample_at(pts, t, lookback).map(|s| s.1)
}

/// Like [`value_at`] but returns the sample with its timestamp.
pub(crate) fn sample_at(pts: &[(i64, f64)], t: i64, lookback: i64) -> Option<(i64, f64)> {
    let idx = pts.partition_point(|p| p.0 <= t);
    let &(st, v) = pts.get(idx.checked_sub(1)?)?;
    if st <= t.saturating_sub(lookback) || is_stale_nan(v) {
        return None;
    }
    Some((st, v))
}

/// A range selector whose series are selected but not decoded: the function over it decodes each series
/// when it reaches it and frees it once computed (`functions::over_windows`), so the selector's samples are
/// never all decoded at once (234 MB for 10k series over 6 h at 15 s). `None` when the series must be
/// read as [`matrix`] does: when selectors of the query share series (they are decoded once into the
/// series cache), or when the selector lies outside the query's read range.
pub(crate) fn matrix_lazy(ev: &mut Evaluator<'_>, ms: &MatrixSelector, ts: &[i64]) -> Result<Option<Val>, Error> {
    if ev.cache_series {
        return Ok(None);
    }
    let (windows, Some((mint, maxt))) = range_windows(ev, ms, ts) else {
        return Ok(None);
    };
    let sets = crate::parser::selector_matcher_sets(&ms.vs).map_err(|e| Error::bad_data(e.to_string()))?;
    if mint > maxt || open_querier(ev, mint, maxt)?.is_none() {
        return Ok(None);
    }
    let series = select_all(ev.querier.as_deref(), &sets)?
        .into_iter()
        .map(|s| RangeBuf {
            labels: Arc::new(s.labels),
            points: Points::Pending(PendingPoints {
                data: s.data,
                mint,
                maxt,
            }),
            drop_name: false,
        })
        .collect();
    Ok(Some(Val::Matrix(Matrix { series, windows })))
}

/// A range selector: buffers plus the window of each step.
pub(crate) fn matrix(ev: &mut Evaluator<'_>, ms: &MatrixSelector, ts: &[i64]) -> Result<Val, Error> {
    let (windows, Some((mint, maxt))) = range_windows(ev, ms, ts) else {
        return Ok(Val::Matrix(Matrix {
            series: Vec::new(),
            windows: Vec::new(),
        }));
    };
    let loaded = load(ev, &ms.vs, mint, maxt, false)?;
    let series = loaded
        .into_iter()
        .map(|(labels, points)| RangeBuf {
            labels,
            points,
            drop_name: false,
        })
        .collect();
    let m = Matrix { series, windows };
    if ev.opts.count_queryable_samples {
        ev.stats.queryable_samples += m.window_points();
    }
    Ok(Val::Matrix(m))
}

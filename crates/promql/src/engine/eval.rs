//! The core of evaluation: the step-wise value type [`Val`], the [`Evaluator`] that walks the AST, and the
//! final shaping of results (delayed `__name__` removal, duplicate-labelset checks, matrix assembly).
//!
//! Every node is evaluated at a whole list of timestamps at once (one for an instant query, one per step for
//! a range query, one per inner step inside a subquery). A vector node yields one `Vec<Sample>` per step; a
//! range node yields each series' buffered points once plus the window of every step, so functions over
//! ranges slice the buffer instead of re-reading storage.

use crate::parser::Anchor;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use diamond_model::storage::Queryable;
use diamond_model::{Labels, METRIC_NAME};
use promql_parser::parser::{AtModifier, Call, Expr, Offset, SubqueryExpr, VectorSelector};

use super::hash::AddrMap;
use super::{CancelToken, EngineOptions, Error, ErrorKind, QueryResult, QueryStats, RangeSeries, Value, VectorSample};

/// One element of an instant vector during evaluation.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    /// The series' labels, shared between steps.
    pub labels: Arc<Labels>,
    /// The value.
    pub v: f64,
    /// Whether `__name__` must be removed before the result leaves the engine (Prometheus 3's delayed name
    /// removal: functions and operators mark instead of deleting, so `label_replace` can still read it).
    pub drop_name: bool,
}

/// The points of a range buffer: owned, or a slice of a decoded series shared with the query's series
/// cache (so a selector does not copy what the cache already holds).
#[derive(Debug, Clone)]
pub(crate) enum Points {
    /// Points of their own.
    Owned(Vec<(i64, f64)>),
    /// `buf[range]` of a cached series.
    Shared(Arc<Vec<(i64, f64)>>, std::ops::Range<usize>),
    /// Not decoded yet: a range selector under a function that decodes each series when it reaches it
    /// (see [`crate::engine::selector::matrix_lazy`]). Reads as no points until then; only
    /// [`crate::functions::over_windows`] is given such points, and it decodes them first.
    Pending(PendingPoints),
}

/// A series' samples in `[mint, maxt]`, to be decoded (staleness markers dropped).
#[derive(Clone)]
pub(crate) struct PendingPoints {
    pub data: Arc<dyn diamond_model::storage::SeriesData>,
    pub mint: i64,
    pub maxt: i64,
}

impl std::fmt::Debug for PendingPoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingPoints")
            .field("mint", &self.mint)
            .field("maxt", &self.maxt)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for Points {
    type Target = [(i64, f64)];

    fn deref(&self) -> &[(i64, f64)] {
        match self {
            Points::Owned(v) => v,
            Points::Shared(b, r) => &b[r.clone()],
            Points::Pending(_) => {
                // Only `over_windows` is handed undecoded points, and it decodes them before reading
                // them; a read here is a bug that would see empty windows (caught by the debug-build tests).
                debug_assert!(false, "undecoded range-selector points read before decoding");
                &[]
            }
        }
    }
}

/// One series of a range vector: all its points in the query's reach, read once.
#[derive(Debug, Clone)]
pub(crate) struct RangeBuf {
    /// Labels.
    pub labels: Arc<Labels>,
    /// Points ascending by time, staleness markers removed.
    pub points: Points,
    /// See [`Sample::drop_name`].
    pub drop_name: bool,
}

/// A range vector at every step: buffers plus, per step, the window `(start, end]`.
#[derive(Debug, Clone)]
pub(crate) struct Matrix {
    /// The series.
    pub series: Vec<RangeBuf>,
    /// Per step, the exclusive start and inclusive end of the window (ms).
    pub windows: Vec<(i64, i64)>,
}

impl Matrix {
    /// The points of series `s` in the window of step `i`.
    pub(crate) fn window(&self, s: usize, i: usize) -> &[(i64, f64)] {
        let (lo, hi) = self.windows[i];
        let p: &[(i64, f64)] = &self.series[s].points;
        let a = p.partition_point(|x| x.0 <= lo);
        let b = p.partition_point(|x| x.0 <= hi);
        &p[a..b.max(a)]
    }
}

/// The windows of one series, step after step: two cursors advance while windows move forward (as they do
/// unless `@` pins them), instead of two binary searches per step; any other move falls back to searching.
pub(crate) struct WindowCursor<'m> {
    points: &'m [(i64, f64)],
    windows: &'m [(i64, i64)],
    a: usize,
    b: usize,
    prev: Option<(i64, i64)>,
}

impl<'m> WindowCursor<'m> {
    /// A cursor over the windows of one series' points.
    pub(crate) fn new(points: &'m [(i64, f64)], windows: &'m [(i64, i64)]) -> Self {
        WindowCursor {
            points,
            windows,
            a: 0,
            b: 0,
            prev: None,
        }
    }

    /// The points in the window of step `i`.
    pub(crate) fn window(&mut self, i: usize) -> &'m [(i64, f64)] {
        let (lo, hi) = self.windows[i];
        let p = self.points;
        match self.prev {
            Some((plo, phi)) if lo >= plo && hi >= phi => {
                while self.a < p.len() && p[self.a].0 <= lo {
                    self.a += 1;
                }
                self.b = self.b.max(self.a);
                while self.b < p.len() && p[self.b].0 <= hi {
                    self.b += 1;
                }
            }
            _ => {
                self.a = p.partition_point(|x| x.0 <= lo);
                self.b = p.partition_point(|x| x.0 <= hi).max(self.a);
            }
        }
        self.prev = Some((lo, hi));
        &p[self.a..self.b]
    }
}

impl Matrix {
    /// The number of points in all windows of all series (each point counted once per window it is in).
    pub(crate) fn window_points(&self) -> usize {
        let mut n = 0usize;
        for s in 0..self.series.len() {
            let mut c = self.cursor(s);
            for i in 0..self.windows.len() {
                n = n.saturating_add(c.window(i).len());
            }
        }
        n
    }

    /// A cursor over the windows of series `s`, for visiting steps in order.
    pub(crate) fn cursor(&self, s: usize) -> WindowCursor<'_> {
        WindowCursor {
            points: &self.series[s].points,
            windows: &self.windows,
            a: 0,
            b: 0,
            prev: None,
        }
    }
}

/// Functions whose value depends on the evaluation time even when their arguments do not (Prometheus's
/// `AtModifierUnsafeFunctions`).
const STEP_UNSAFE_FUNCTIONS: [&str; 11] = [
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
];

/// Whether `e` has the same value at every step, by Prometheus's rules (its `preprocessExprHelper`):
/// literals; selectors and subqueries pinned by `@`; operators, aggregations and step-safe functions
/// over such.
pub(crate) fn step_invariant(e: &Expr) -> bool {
    match e {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => true,
        Expr::VectorSelector(vs) => vs.at.is_some(),
        Expr::MatrixSelector(ms) => ms.vs.at.is_some(),
        Expr::Subquery(sq) => sq.at.is_some(),
        Expr::Paren(p) => step_invariant(&p.expr),
        Expr::Unary(u) => step_invariant(&u.expr),
        Expr::Binary(b) => step_invariant(&b.lhs) && step_invariant(&b.rhs),
        Expr::Aggregate(a) => step_invariant(&a.expr) && a.param.as_deref().is_none_or(step_invariant),
        Expr::Call(c) => !STEP_UNSAFE_FUNCTIONS.contains(&c.func.name) && c.args.args.iter().all(|a| step_invariant(a)),
        Expr::Extension(_) => false,
    }
}

/// Whether `e` is a vector selector, in parentheses or not.
fn is_vector_selector(e: Option<&Expr>) -> bool {
    let Some(mut e) = e else { return false };
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    matches!(e, Expr::VectorSelector(_))
}

/// What a function that decoded its range argument itself saw of it (see
/// [`Evaluator::note_lazy_windows`]).
#[derive(Default)]
pub(crate) struct WindowNotes {
    /// Series decoded, and their samples.
    pub series_loaded: usize,
    pub samples_loaded: usize,
    /// Points in all windows of all series (each counted once per window it is in).
    pub window_points: usize,
    /// The most points of any one series.
    pub bound: usize,
    /// Per series in input order: its labels' address, largest window and last window.
    pub series: Vec<(usize, usize, usize)>,
}

/// The windows of a function's range argument: a bound on any one window's size and, when worked out, per
/// series (in order) its labels' address, largest window and last window.
pub(crate) struct PendingWindows {
    bound: usize,
    series: Option<Vec<(usize, usize, usize)>>,
}

/// The most samples a function over a range holds at once in Prometheus's order: series by series, its
/// output so far plus the current window (the last window stays held until the next series starts).
/// `v` is the function's value; its samples are matched to their input series by label address, and any
/// that match none count from the start.
fn window_peak(series: &[(usize, usize, usize)], v: Produced<'_>, out: usize) -> usize {
    let mut idx: AddrMap<usize, usize> = AddrMap::default();
    for (i, s) in series.iter().enumerate() {
        idx.entry(s.0).or_insert(i);
    }
    let mut per = vec![0usize; series.len()];
    let mut unmatched = out;
    let mut count = |ptr: usize, n: usize| {
        if let Some(&i) = idx.get(&ptr) {
            per[i] += n;
            unmatched -= n;
        }
    };
    match v {
        Produced::Val(Val::Vector(steps)) => {
            for smp in steps.iter().flatten() {
                count(Arc::as_ptr(&smp.labels) as usize, 1);
            }
        }
        Produced::Val(_) => {}
        Produced::Series(all) => {
            for s in all {
                count(Arc::as_ptr(&s.labels) as usize, s.points.len());
            }
        }
        Produced::Counts(all) => {
            for &(ptr, n) in all {
                count(ptr, n);
            }
        }
    }
    let mut prefix = unmatched;
    let mut peak = prefix;
    for (i, &(_, max, last)) in series.iter().enumerate() {
        peak = peak.max(prefix + max).max(prefix + per[i] + last);
        prefix += per[i];
    }
    peak.max(out)
}

/// One series of an instant-vector value computed series by series: a range query's root function over a
/// range (see [`crate::functions::Shape::Series`]) hands its value to the result in this form, which is
/// the result's own, instead of step by step.
#[derive(Debug, Clone)]
pub(crate) struct SeriesOut {
    /// The input series' labels.
    pub labels: Arc<Labels>,
    /// See [`Sample::drop_name`].
    pub drop_name: bool,
    /// (step time, value), ascending.
    pub points: Vec<(i64, f64)>,
}

/// What a node produced, for [`Evaluator::account`].
#[derive(Clone, Copy)]
pub(crate) enum Produced<'a> {
    /// A value step by step.
    Val(&'a Val),
    /// An instant vector series by series.
    Series(&'a [SeriesOut]),
    /// An instant vector that was folded into its consumer as it was computed: per input series, its
    /// labels' address and how many values it had (see [`crate::functions::Fold`]).
    Counts(&'a [(usize, usize)]),
}

/// A node's value at every step.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    /// One number per step.
    Scalar(Vec<f64>),
    /// One vector per step.
    Vector(Vec<Vec<Sample>>),
    /// A range vector.
    Matrix(Matrix),
    /// A string (the same at every step).
    String(String),
}

/// Walks an expression; owns the per-query state (limits, annotations, counters).
pub(crate) struct Evaluator<'a> {
    pub q: &'a dyn Queryable,
    pub opts: &'a EngineOptions,
    /// Prometheus's `promql-delayed-name-removal`: keep `__name__` (marked) until the result leaves the
    /// engine, instead of removing it where a function or operator drops it.
    pub(crate) delayed_name_removal: bool,
    /// Query start (ms), for `@ start()`.
    pub start: i64,
    /// Query end (ms), for `@ end()`.
    pub end: i64,
    cancel: &'a CancelToken,
    deadline: Instant,
    /// Annotations (deduplicated by text) with where they belong in the query text.
    warnings: Vec<(String, Option<Anchor>)>,
    infos: Vec<(String, Option<Anchor>)>,
    pub stats: QueryStats,
    /// Samples held by the evaluation so far, counted as Prometheus counts them (see [`Evaluator::account`]).
    pub(crate) cur_samples: usize,
    /// The windows of the range argument of the function being evaluated, for [`Evaluator::account`].
    pending_windows: Option<PendingWindows>,
    /// The inputs of the node being evaluated at its last step, for [`Evaluator::account`].
    gathered: usize,
    /// The time range every selector of the query reads within (Prometheus's FindMinMaxTime), over which
    /// one querier is opened and each series decoded once.
    pub read_range: Option<(i64, i64)>,
    /// The query's querier, opened on first use over `read_range`.
    pub querier: Option<Box<dyn diamond_model::storage::Querier>>,
    /// Every series decoded so far, over the whole `read_range`, staleness markers included. Selectors
    /// that select the same series again slice this buffer instead of decoding its chunks again.
    pub series_cache: AddrMap<Arc<Labels>, Arc<Vec<(i64, f64)>>>,
    /// Set to `Some` by a subquery over a plain selector before it evaluates it; the selector then
    /// fills in the series it loaded, in storage order (their label Arcs' addresses), so the subquery
    /// keeps that order as Prometheus does. `None` otherwise, so other selectors record nothing.
    pub last_selector_order: Option<Vec<usize>>,
    /// Whether to fill `series_cache`: only worth it when the query has more than one selector (each
    /// selector is evaluated once, so a lone selector never reads a series twice).
    pub cache_series: bool,
}

/// Whether two selectors of `e` may select the same series, so that caching decoded series pays: there
/// are at least two, and not every one names a metric different from all the others' (a selector without
/// a fixed name may match anything). Walked without recursion.
fn selectors_may_share_series(e: &Expr) -> bool {
    let mut names: Vec<Option<String>> = Vec::new();
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        let vs = match e {
            Expr::VectorSelector(vs) => Some(vs),
            Expr::MatrixSelector(ms) => Some(&ms.vs),
            _ => None,
        };
        if let Some(vs) = vs {
            names.push(fixed_metric_name(vs));
            continue;
        }
        match e {
            Expr::VectorSelector(_) | Expr::MatrixSelector(_) => {}
            Expr::Aggregate(a) => {
                stack.push(&a.expr);
                if let Some(p) = &a.param {
                    stack.push(p);
                }
            }
            Expr::Unary(u) => stack.push(&u.expr),
            Expr::Binary(b) => {
                stack.push(&b.lhs);
                stack.push(&b.rhs);
            }
            Expr::Paren(p) => stack.push(&p.expr),
            Expr::Subquery(s) => stack.push(&s.expr),
            Expr::Call(c) => stack.extend(c.args.args.iter().map(|a| a.as_ref())),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }
    if names.len() < 2 || names.iter().any(Option::is_none) {
        return names.len() >= 2;
    }
    names.sort();
    names.windows(2).any(|w| w[0] == w[1])
}

/// The metric name every series a selector matches must have, when it fixes one (`name{...}` or
/// `{__name__="name"}`).
fn fixed_metric_name(vs: &VectorSelector) -> Option<String> {
    if let Some(n) = &vs.name {
        return Some(n.clone());
    }
    if !vs.matchers.or_matchers.is_empty() {
        return None;
    }
    vs.matchers
        .matchers
        .iter()
        .find(|m| m.name == "__name__" && matches!(m.op, promql_parser::label::MatchOp::Equal))
        .map(|m| m.value.clone())
}

/// Runs a parsed query; `instant` selects the result shape.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    q: &dyn Queryable,
    opts: &EngineOptions,
    expr: &Expr,
    start: i64,
    end: i64,
    step: i64,
    instant: bool,
    cancel: &CancelToken,
    began: Instant,
    text: &str,
) -> Result<QueryResult, Error> {
    let mut ts = Vec::new();
    if instant || step <= 0 {
        ts.push(start);
    } else {
        // Refuse before allocating a step list larger than the sample limit (the HTTP API separately
        // limits range queries to 11,000 steps, as Prometheus does).
        let n = (i128::from(end) - i128::from(start)) / i128::from(step) + 1;
        if n > opts.max_samples as i128 {
            return Err(Error::exec(
                "query processing would load too many samples into memory in query execution",
            ));
        }
        let mut t = start;
        while t <= end {
            ts.push(t);
            t = match t.checked_add(step) {
                Some(n) => n,
                None => break,
            };
        }
    }
    let mut ev = Evaluator {
        q,
        opts,
        start,
        end,
        cancel,
        deadline: began + opts.timeout,
        warnings: Vec::new(),
        infos: Vec::new(),
        stats: QueryStats::default(),
        cur_samples: 0,
        pending_windows: None,
        gathered: 0,
        delayed_name_removal: opts.enable_features.iter().any(|f| f == super::DELAYED_NAME_REMOVAL),
        read_range: read_range(expr, ts[0], ts[ts.len() - 1], start, end, opts.lookback_delta_ms),
        querier: None,
        series_cache: AddrMap::default(),
        last_selector_order: None,
        cache_series: selectors_may_share_series(expr),
    };
    // The root's pending name removals are left to the shaping below, which removes names once per result
    // series and refuses duplicate label sets just as `remove_names_now` would.
    let mut root = expr;
    while let Expr::Paren(p) = root {
        root = &p.expr;
    }
    let eval_began = Instant::now();
    ev.stats.prepare_time = eval_began.saturating_duration_since(began);
    // A range query whose root is a function over a range (`rate(x[5m])`, the usual graph) computes its
    // value series by series, which is the result's own shape: it is handed over as it is, not spread
    // over the steps and gathered back.
    let series_root = match root {
        Expr::Call(c) if !instant && crate::functions::computes_by_series(c) && !step_invariant(root) => Some(c),
        _ => None,
    };
    enum Root {
        Steps(Val),
        Series(Vec<SeriesOut>),
    }
    let val = match series_root {
        Some(c) => Root::Series(ev.eval_by_series(root, c, &ts)?),
        None => Root::Steps(ev.eval_node(root, &ts)?),
    };
    // The decoded series are no longer needed: free them before the result is shaped.
    ev.series_cache = AddrMap::default();
    ev.querier = None;
    let value = match val {
        Root::Series(by_series) => shape_series(by_series)?,
        Root::Steps(val) if instant => shape_instant(val, start, ev.delayed_name_removal)?,
        Root::Steps(val) => shape_range(val, &ts)?,
    };
    ev.stats.eval_time = eval_began.elapsed();
    Ok(QueryResult {
        value,
        warnings: crate::parser::position_annotations(text, ev.warnings),
        infos: crate::parser::position_annotations(text, ev.infos),
        stats: ev.stats,
    })
}

/// The range `[mint, maxt]` the selectors of `e` read when it is evaluated at times in `[lo, hi]` (queries
/// start `qs`, end `qe`), following offsets, `@`, ranges and subqueries; `None` without selectors.
fn read_range(e: &Expr, lo: i64, hi: i64, qs: i64, qe: i64, lookback: i64) -> Option<(i64, i64)> {
    let eff = |at: &Option<AtModifier>, off: i64, t: i64| -> i64 {
        let base = match at {
            None => t,
            Some(AtModifier::Start) => qs,
            Some(AtModifier::End) => qe,
            Some(AtModifier::At(st)) => system_time_ms(st),
        };
        base.saturating_sub(off)
    };
    let union = |a: Option<(i64, i64)>, b: Option<(i64, i64)>| match (a, b) {
        (Some(x), Some(y)) => Some((x.0.min(y.0), x.1.max(y.1))),
        (x, None) => x,
        (None, y) => y,
    };
    let rec = |e: &Expr| read_range(e, lo, hi, qs, qe, lookback);
    match e {
        Expr::VectorSelector(vs) => {
            let off = offset_ms(&vs.offset);
            let (a, b) = (eff(&vs.at, off, lo), eff(&vs.at, off, hi));
            Some((a.min(b).saturating_sub(lookback).saturating_add(1), a.max(b)))
        }
        Expr::MatrixSelector(ms) => {
            let off = offset_ms(&ms.vs.offset);
            let (a, b) = (eff(&ms.vs.at, off, lo), eff(&ms.vs.at, off, hi));
            Some((a.min(b).saturating_sub(dur_ms(&ms.range)).saturating_add(1), a.max(b)))
        }
        Expr::Subquery(sq) => {
            let off = offset_ms(&sq.offset);
            let (a, b) = (eff(&sq.at, off, lo), eff(&sq.at, off, hi));
            read_range(
                &sq.expr,
                a.min(b).saturating_sub(dur_ms(&sq.range)),
                a.max(b),
                qs,
                qe,
                lookback,
            )
        }
        Expr::Aggregate(a) => union(a.param.as_deref().and_then(rec), rec(&a.expr)),
        Expr::Unary(u) => rec(&u.expr),
        Expr::Binary(b) => union(rec(&b.lhs), rec(&b.rhs)),
        Expr::Paren(p) => rec(&p.expr),
        Expr::Call(c) => c.args.args.iter().fold(None, |acc, a| union(acc, rec(a))),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => None,
    }
}

/// Removes `__name__` where a sample is marked for it.
/// [`remove_names_now`] for a single step (instant queries): nothing is shared across steps, so the labels
/// are cleaned in place (copied only when shared) and duplicates are found by sorting label-set hashes,
/// comparing the label sets themselves only when two hashes are equal.
fn remove_names_one_step(step: &mut [Sample]) -> Result<(), Error> {
    if !step.iter().any(|s| s.drop_name) {
        return Ok(());
    }
    // Whether the sample's labels changed.
    let clean = |s: &mut Sample| {
        if !std::mem::take(&mut s.drop_name) || !has_name_labels(&s.labels) {
            return false;
        }
        let l = Arc::make_mut(&mut s.labels);
        let mut v = std::mem::take(l).into_vec();
        // Removing labels keeps the rest sorted and unique.
        v.retain(|x| !(x.name == METRIC_NAME || x.name == TYPE_LABEL || x.name == UNIT_LABEL));
        *l = Labels::from_sorted(v);
        true
    };
    let changed = if step.len() >= PARALLEL_STEP && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        step.par_iter_mut()
            .with_min_len(PARALLEL_STEP / 4)
            .map(clean)
            .reduce(|| false, |a, b| a || b)
    } else {
        // Every sample is cleaned: no short-circuit.
        let mut any = false;
        for s in step.iter_mut() {
            any |= clean(s);
        }
        any
    };
    // Without delayed name removal every node's vector has distinct label sets (selectors and
    // aggregations by construction, operators and functions by this check), so labels left as they were
    // cannot collide: the check is needed only when some name went. It was 2 % of an instant join.
    if changed && !unique_labelsets(step.len(), |i| &step[i].labels) {
        return Err(Error::exec(DUPLICATE_LABELSET));
    }
    Ok(())
}

/// From this many samples in one step, removing names and checking for duplicate label sets run on
/// rayon's pool. Both were serial work on the query's thread: about 8 % of an instant query over 10k
/// series, with the hashing of the final check on top.
const PARALLEL_STEP: usize = 2048;

/// Whether the `n` label sets `get(0..n)` are pairwise different: sorted hashes, then the labels of equal
/// hashes compared. The hashing runs on the pool for large sets.
fn unique_labelsets<'a>(n: usize, get: impl Fn(usize) -> &'a Labels + Sync) -> bool {
    use rayon::prelude::*;
    let hash = |i: usize| (super::hash::label_hash(get(i)), i as u32);
    let hashes: Vec<(u64, u32)> = if n >= PARALLEL_STEP && rayon::current_num_threads() > 1 {
        let mut v: Vec<(u64, u32)> = (0..n)
            .into_par_iter()
            .with_min_len(PARALLEL_STEP / 4)
            .map(hash)
            .collect();
        v.par_sort_unstable();
        v
    } else {
        let mut v: Vec<(u64, u32)> = (0..n).map(hash).collect();
        v.sort_unstable();
        v
    };
    for run in hashes.chunk_by(|a, b| a.0 == b.0) {
        for (k, a) in run.iter().enumerate() {
            if run[k + 1..].iter().any(|b| get(a.1 as usize) == get(b.1 as usize)) {
                return false;
            }
        }
    }
    true
}

pub(crate) fn cleaned(labels: &Arc<Labels>, drop_name: bool) -> Labels {
    if drop_name && has_name_labels(labels) {
        // The type and unit labels (Prometheus's type-and-unit-labels feature) describe the metric name
        // and go with it.
        labels.without(&[METRIC_NAME, TYPE_LABEL, UNIT_LABEL])
    } else {
        Labels::clone(labels)
    }
}

/// Like [`cleaned`], taking the labels: when nothing else holds them and the name stays, they are moved
/// rather than copied.
fn cleaned_owned(labels: Arc<Labels>, drop_name: bool) -> Labels {
    if drop_name && has_name_labels(&labels) {
        return match Arc::try_unwrap(labels) {
            // Removing labels keeps the rest sorted and unique.
            Ok(l) => {
                let mut v = l.into_vec();
                v.retain(|x| !(x.name == METRIC_NAME || x.name == TYPE_LABEL || x.name == UNIT_LABEL));
                Labels::from_sorted(v)
            }
            Err(shared) => shared.without(&[METRIC_NAME, TYPE_LABEL, UNIT_LABEL]),
        };
    }
    Arc::try_unwrap(labels).unwrap_or_else(|shared| Labels::clone(&shared))
}

/// Whether `l` has `__name__`, `__type__` or `__unit__`, in one pass.
pub(crate) fn has_name_labels(l: &Labels) -> bool {
    l.iter()
        .any(|x| x.name.starts_with("__") && (x.name == METRIC_NAME || x.name == TYPE_LABEL || x.name == UNIT_LABEL))
}

/// The metric type label of Prometheus's type-and-unit-labels feature.
pub(crate) const TYPE_LABEL: &str = "__type__";
/// The metric unit label of Prometheus's type-and-unit-labels feature.
pub(crate) const UNIT_LABEL: &str = "__unit__";

const DUPLICATE_LABELSET: &str = "vector cannot contain metrics with the same labelset";

/// `delayed`: names were kept to the end (delayed name removal), so the vector may hold equal label sets
/// even where no name goes now, and is checked whole.
fn shape_instant(val: Val, t: i64, delayed: bool) -> Result<Value, Error> {
    Ok(match val {
        Val::Scalar(v) => Value::Scalar {
            t,
            v: v.first().copied().unwrap_or(f64::NAN),
        },
        Val::String(s) => Value::String { t, s },
        Val::Vector(mut steps) => {
            let step = if steps.is_empty() {
                Vec::new()
            } else {
                steps.swap_remove(0)
            };
            // Without delayed name removal the vector's label sets are distinct (see
            // `remove_names_one_step`) unless a name goes here.
            let changed = delayed || step.iter().any(|s| s.drop_name && has_name_labels(&s.labels));
            let shape = |s: Sample| VectorSample {
                labels: cleaned_owned(s.labels, s.drop_name),
                t,
                v: s.v,
            };
            let out: Vec<VectorSample> = if step.len() >= PARALLEL_STEP && rayon::current_num_threads() > 1 {
                use rayon::prelude::*;
                step.into_par_iter()
                    .with_min_len(PARALLEL_STEP / 4)
                    .map(shape)
                    .collect()
            } else {
                step.into_iter().map(shape).collect()
            };
            if changed && !unique_labelsets(out.len(), |i| &out[i].labels) {
                return Err(Error::exec(DUPLICATE_LABELSET));
            }
            Value::Vector(out)
        }
        Val::Matrix(m) => {
            let mut out = Vec::new();
            for (i, s) in m.series.iter().enumerate() {
                let w = if m.windows.is_empty() { &[][..] } else { m.window(i, 0) };
                if !w.is_empty() {
                    out.push(RangeSeries {
                        labels: cleaned(&s.labels, s.drop_name),
                        samples: w.to_vec(),
                    });
                }
            }
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            if out.windows(2).any(|w| w[0].labels == w[1].labels) {
                return Err(Error::exec(DUPLICATE_LABELSET));
            }
            Value::Matrix(out)
        }
    })
}

/// A result series being assembled: shared labels, pending name removal, points.
type Pending = (Arc<Labels>, bool, Vec<(i64, f64)>);

fn shape_range(val: Val, ts: &[i64]) -> Result<Value, Error> {
    match val {
        Val::Scalar(v) => Ok(Value::Matrix(vec![RangeSeries {
            labels: Labels::empty(),
            samples: ts.iter().copied().zip(v).collect(),
        }])),
        Val::Vector(steps) => {
            // Group by the shared label sets first (cheap Arc hashing, no label copies per step), then
            // remove names once per series and merge series whose labels became equal.
            // Keyed by address: `series` keeps every keyed Arc alive, so an address is never reused.
            // Steps usually list the same series in the same order, so the previous step's key at the same
            // position is tried before the map.
            let mut index: AddrMap<(usize, bool), usize> = AddrMap::default();
            let mut hints: Vec<((usize, bool), usize)> = Vec::new();
            let mut series: Vec<Pending> = Vec::new();
            for (i, step) in steps.into_iter().enumerate() {
                for (pos, s) in step.into_iter().enumerate() {
                    let key = (Arc::as_ptr(&s.labels) as usize, s.drop_name);
                    let k = match hints.get(pos) {
                        Some(&(hk, k)) if hk == key => k,
                        _ => {
                            let k = *index.entry(key).or_insert_with(|| {
                                series.push((Arc::clone(&s.labels), s.drop_name, Vec::with_capacity(ts.len())));
                                series.len() - 1
                            });
                            if pos < hints.len() {
                                hints[pos] = (key, k);
                            } else {
                                hints.push((key, k));
                            }
                            k
                        }
                    };
                    series[k].2.push((ts[i], s.v));
                }
            }
            finish_range(series)
        }
        Val::Matrix(_) | Val::String(_) => Err(Error::bad_data(
            "invalid expression type for range query, must be Scalar or instant Vector",
        )),
    }
}

/// The result matrix of a range query from its series (labels, pending name removal, points): names
/// removed, series whose labels became equal merged (refused where they share a step), sorted by labels.
fn finish_range(series: Vec<Pending>) -> Result<Value, Error> {
    // Series whose labels became equal are concatenated, then sorted once (the flag) at the end.
    let mut merged: BTreeMap<Labels, (Vec<(i64, f64)>, bool)> = BTreeMap::new();
    for (labels, drop, pts) in series {
        let l = cleaned_owned(labels, drop);
        match merged.get_mut(&l) {
            None => {
                merged.insert(l, (pts, false));
            }
            Some(existing) => {
                existing.0.extend(pts);
                existing.1 = true;
            }
        }
    }
    let mut out = Vec::with_capacity(merged.len());
    for (labels, (mut samples, unsorted)) in merged {
        if unsorted {
            samples.sort_by_key(|p| p.0);
            if samples.windows(2).any(|w| w[0].0 == w[1].0) {
                return Err(Error::exec(DUPLICATE_LABELSET));
            }
        }
        out.push(RangeSeries { labels, samples });
    }
    Ok(Value::Matrix(out))
}

/// The result matrix of a range query whose root was computed series by series.
fn shape_series(outs: Vec<SeriesOut>) -> Result<Value, Error> {
    finish_range(outs.into_iter().map(|s| (s.labels, s.drop_name, s.points)).collect())
}

/// Milliseconds of a promql-parser duration, saturating.
pub(crate) fn dur_ms(d: &std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Signed offset in ms (positive looks back).
pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => dur_ms(d),
        Some(Offset::Neg(d)) => -dur_ms(d),
    }
}

/// A query's cancellation and deadline, checked from any thread.
#[derive(Clone, Copy)]
pub(crate) struct Checker<'a> {
    cancel: &'a CancelToken,
    deadline: Instant,
}

impl Checker<'_> {
    /// Fails with a timeout or cancellation error when either applies.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.cancel.is_canceled() {
            return Err(Error {
                kind: ErrorKind::Canceled,
                message: "query was canceled in expression evaluation".to_owned(),
            });
        }
        if Instant::now() > self.deadline {
            return Err(Error {
                kind: ErrorKind::Timeout,
                message: "query timed out in expression evaluation".to_owned(),
            });
        }
        Ok(())
    }
}

impl Evaluator<'_> {
    /// Fails with a timeout or cancellation error when either applies.
    pub(crate) fn check(&self) -> Result<(), Error> {
        self.checker().check()
    }

    /// The query's cancellation and deadline, for work handed to other threads.
    pub(crate) fn checker(&self) -> Checker<'_> {
        Checker {
            cancel: self.cancel,
            deadline: self.deadline,
        }
    }

    /// Accounts for `n` more samples held in memory; fails past `max_samples`.
    pub(crate) fn add_samples(&mut self, n: usize) -> Result<(), Error> {
        self.cur_samples = self.cur_samples.saturating_add(n);
        self.stats.peak_samples = self.stats.peak_samples.max(self.cur_samples);
        if self.cur_samples > self.opts.max_samples {
            return Err(Error::exec(
                "query processing would load too many samples into memory in query execution",
            ));
        }
        Ok(())
    }

    /// Empty per-step vectors for a node over `series` input series, each sized for all of them (the usual
    /// outcome of a selector or range function), so that no step's vector grows by copying; unsized when
    /// that would reserve more than the query's sample limit (sparse series over many steps).
    pub(crate) fn step_vectors(&self, steps: usize, series: usize) -> Vec<Vec<Sample>> {
        let cap = if steps.saturating_mul(series) <= self.opts.max_samples {
            series
        } else {
            0
        };
        (0..steps).map(|_| Vec::with_capacity(cap)).collect()
    }

    /// Records a `PromQL warning:` annotation (deduplicated) about the node `at` names.
    pub(crate) fn warn(&mut self, msg: String, at: Anchor) {
        let m = format!("PromQL warning: {msg}");
        if !self.warnings.iter().any(|(w, _)| *w == m) {
            self.warnings.push((m, Some(at)));
        }
    }

    /// Records a `PromQL info:` annotation (deduplicated) about the node `at` names.
    pub(crate) fn info(&mut self, msg: String, at: Anchor) {
        let m = format!("PromQL info: {msg}");
        if !self.infos.iter().any(|(w, _)| *w == m) {
            self.infos.push((m, Some(at)));
        }
    }

    /// The time a node with this `@` modifier and offset reads at, for evaluation time `t`.
    pub(crate) fn effective_time(&self, at: &Option<AtModifier>, offset: i64, t: i64) -> i64 {
        let base = match at {
            None => t,
            Some(AtModifier::Start) => self.start,
            Some(AtModifier::End) => self.end,
            Some(AtModifier::At(st)) => system_time_ms(st),
        };
        base.saturating_sub(offset)
    }

    /// Evaluates `e` at every timestamp of `ts`.
    pub(crate) fn eval(&mut self, e: &Expr, ts: &[i64]) -> Result<Val, Error> {
        let v = self.eval_node(e, ts)?;
        if !self.delayed_name_removal && matches!(e, Expr::Unary(_) | Expr::Binary(_) | Expr::Call(_)) {
            return remove_names_now(v);
        }
        Ok(v)
    }

    /// Evaluates one node and accounts for the samples its value holds.
    fn eval_node(&mut self, e: &Expr, ts: &[i64]) -> Result<Val, Error> {
        let before = self.cur_samples;
        if ts.len() > 1
            && matches!(
                e,
                Expr::Binary(_) | Expr::Aggregate(_) | Expr::Call(_) | Expr::Unary(_) | Expr::VectorSelector(_)
            )
            && step_invariant(e)
        {
            return self.eval_invariant(e, ts, before);
        }
        let v = self.eval_node_inner(e, ts)?;
        self.account(e, &v, before)?;
        Ok(v)
    }

    /// Evaluates `e`, the call `c` of a function that computes its value series by series (see
    /// [`crate::functions::computes_by_series`]), in that shape, accounting for it as [`Evaluator::eval_node`]
    /// does.
    fn eval_by_series(&mut self, e: &Expr, c: &Call, ts: &[i64]) -> Result<Vec<SeriesOut>, Error> {
        self.check()?;
        let before = self.cur_samples;
        let out = crate::functions::call_by_series(self, c, ts)?;
        self.account_produced(e, Produced::Series(&out), before)?;
        Ok(out)
    }

    /// A step-invariant node in a range (its value does not depend on the step: `@`-pinned selectors,
    /// literals, and what is built from them with step-safe functions) is evaluated at the first step and
    /// copied to the others, as Prometheus does. Its samples count as Prometheus counts them: the
    /// queryable ones once per step, the peak of the one evaluation or of the copies.
    fn eval_invariant(&mut self, e: &Expr, ts: &[i64], before: usize) -> Result<Val, Error> {
        let counted_before = self.stats.queryable_samples;
        let one = self.eval_node(e, &ts[..1])?;
        let per_step = self.stats.queryable_samples - counted_before;
        self.stats.queryable_samples = counted_before.saturating_add(per_step.saturating_mul(ts.len()));
        let v = match one {
            Val::Scalar(x) => Val::Scalar(vec![x.first().copied().unwrap_or(f64::NAN); ts.len()]),
            Val::Vector(mut steps) => {
                let step = steps.pop().unwrap_or_default();
                let out = step.len().saturating_mul(ts.len());
                // Checked before copying: the copies are what would pass the limit.
                self.cur_samples = before.saturating_add(out);
                self.add_samples(0)?;
                Val::Vector(vec![step; ts.len()])
            }
            other => other,
        };
        self.cur_samples = before.saturating_add(instant_samples(&v));
        self.add_samples(0)?;
        Ok(v)
    }

    fn eval_node_inner(&mut self, e: &Expr, ts: &[i64]) -> Result<Val, Error> {
        self.check()?;
        match e {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; ts.len()])),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, ts),
            Expr::Unary(u) => match self.eval(&u.expr, ts)? {
                Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
                Val::Vector(steps) => Ok(Val::Vector(
                    steps
                        .into_iter()
                        .map(|step| {
                            step.into_iter()
                                .map(|s| Sample {
                                    v: -s.v,
                                    drop_name: true,
                                    labels: s.labels,
                                })
                                .collect()
                        })
                        .collect(),
                )),
                _ => Err(Error::bad_data(
                    "unary expression only allowed on expressions of type scalar or instant vector",
                )),
            },
            Expr::Binary(b) => super::binary::eval_binary(self, b, ts),
            Expr::Aggregate(a) => super::aggregate::eval_aggregate(self, a, ts),
            Expr::Call(c) => crate::functions::call(self, c, ts),
            Expr::VectorSelector(vs) => super::selector::vector(self, vs, ts),
            Expr::MatrixSelector(ms) => super::selector::matrix(self, ms, ts),
            Expr::Subquery(sq) => self.subquery(sq, ts, false),
            Expr::Extension(_) => Err(Error {
                kind: ErrorKind::Internal,
                message: "unsupported extension expression".to_owned(),
            }),
        }
    }

    /// Evaluates `e`, the range argument of a function: as [`Evaluator::eval`], except that a subquery's
    /// samples are counted as Prometheus counts them there (the points of each step's window, not the
    /// inner evaluation's).
    ///
    /// `lazy`: the function decodes its range argument's series itself, batch by batch
    /// ([`crate::functions::over_windows`]), so a selector's series may be left undecoded; the function
    /// then notes the windows once it has seen them ([`Evaluator::note_lazy_windows`]).
    pub(crate) fn eval_range_arg(&mut self, e: &Expr, ts: &[i64], lazy: bool) -> Result<Val, Error> {
        let mut inner = e;
        while let Expr::Paren(p) = inner {
            inner = &p.expr;
        }
        match inner {
            Expr::Subquery(sq) => {
                self.check()?;
                // The subquery's result is held while the function runs, as in Prometheus.
                let before = self.cur_samples;
                let v = self.subquery(sq, ts, true)?;
                self.account(inner, &v, before)?;
                self.note_windows(&v, ts.len());
                Ok(v)
            }
            Expr::MatrixSelector(ms) => {
                if lazy && let Some(v) = super::selector::matrix_lazy(self, ms, ts)? {
                    // With no series there is nothing to decode, and the function has nothing to note.
                    if matches!(&v, Val::Matrix(m) if m.series.is_empty()) {
                        self.note_windows(&v, ts.len());
                    }
                    return Ok(v);
                }
                // Not held as a whole: Prometheus holds one window of one series at a time.
                let v = super::selector::matrix(self, ms, ts)?;
                self.note_windows(&v, ts.len());
                Ok(v)
            }
            _ => self.eval(e, ts),
        }
    }

    /// Records the inputs of an operator or function at its last step: Prometheus counts the input vectors
    /// gathered at a step (one sample for a scalar) on top of the outputs so far.
    pub(crate) fn note_gathered(&mut self, args: &[&Val]) {
        self.gathered = args
            .iter()
            .map(|v| match v {
                Val::Scalar(_) => 1,
                Val::Vector(steps) => steps.last().map_or(0, Vec::len),
                Val::Matrix(_) | Val::String(_) => 0,
            })
            .sum();
    }

    /// Records the windows of a function's range argument for [`Evaluator::account`]. The per-series
    /// details (a pass over every window) are worked out only when they can matter: when stats were asked
    /// for, or when the cheap bound could pass the sample limit.
    fn note_windows(&mut self, v: &Val, steps: usize) {
        let Val::Matrix(m) = v else { return };
        let bound = m.series.iter().map(|s| s.points.len()).max().unwrap_or(0);
        let series = self.windows_matter(steps, m.series.len(), bound).then(|| {
            (0..m.series.len())
                .map(|s| {
                    let mut c = m.cursor(s);
                    let mut max = 0;
                    let mut last = 0;
                    for i in 0..m.windows.len() {
                        last = c.window(i).len();
                        max = max.max(last);
                    }
                    (Arc::as_ptr(&m.series[s].labels) as usize, max, last)
                })
                .collect()
        });
        self.pending_windows = Some(PendingWindows { bound, series });
    }

    /// [`Evaluator::note_windows`] for a range argument whose series the function decoded itself: what
    /// the selector would have counted and the windows, as the function saw them.
    pub(crate) fn note_lazy_windows(&mut self, n: WindowNotes, steps: usize) {
        self.stats.series_loaded += n.series_loaded;
        self.stats.samples_loaded += n.samples_loaded;
        if self.opts.count_queryable_samples {
            self.stats.queryable_samples += n.window_points;
        }
        let series = self.windows_matter(steps, n.series.len(), n.bound).then_some(n.series);
        self.pending_windows = Some(PendingWindows { bound: n.bound, series });
    }

    /// Whether the per-series windows of a range argument can matter to the accounting: stats were asked
    /// for, or the cheap bound (`series` per step plus the largest series, `bound`) could pass the limit.
    fn windows_matter(&self, steps: usize, series: usize, bound: usize) -> bool {
        let worst = self
            .cur_samples
            .saturating_add(steps.saturating_mul(series))
            .saturating_add(bound);
        self.opts.count_queryable_samples || worst > self.opts.max_samples
    }

    /// Accounts for the value `v` of node `e`, evaluated from `before` samples held, the way Prometheus's
    /// evaluator counts (so that `--query.max-samples` refuses the queries Prometheus refuses, and
    /// `peakSamples` reads like its figure): a node's result is held from when it is produced until its
    /// parent is done; while a node is produced, its children's results are held too. A function over a
    /// range holds, besides its output so far, one window of one series at a time (series after series),
    /// not the whole range vector.
    fn account(&mut self, e: &Expr, v: &Val, before: usize) -> Result<(), Error> {
        self.account_produced(e, Produced::Val(v), before)
    }

    /// [`Evaluator::account`] for a value in either form.
    pub(crate) fn account_produced(&mut self, e: &Expr, p: Produced<'_>, before: usize) -> Result<(), Error> {
        let out = match p {
            Produced::Val(Val::Matrix(m)) if matches!(e, Expr::MatrixSelector(_)) => m.window_points(),
            Produced::Val(Val::Matrix(m)) => m.series.iter().map(|s| s.points.len()).sum(),
            Produced::Val(v) => instant_samples(v),
            Produced::Series(all) => all.iter().map(|s| s.points.len()).sum(),
            Produced::Counts(all) => all.iter().map(|c| c.1).sum(),
        };
        let gathered = std::mem::take(&mut self.gathered);
        let peak = match e {
            // Values passed on or regrouped, not copied.
            Expr::Paren(_) | Expr::Unary(_) | Expr::Subquery(_) => before.saturating_add(out),
            // Prometheus aggregates step by step into its output without counting that output on top of
            // its inputs (its topk and sum by peaks are their inputs').
            Expr::Aggregate(_) => self.cur_samples.max(before.saturating_add(out)),
            // `timestamp` over a selector reads the series itself, one step's vector at a time: its output
            // plus the last step's vector.
            Expr::Call(c)
                if c.func.name == "timestamp" && is_vector_selector(c.args.args.first().map(|b| b.as_ref())) =>
            {
                let last = match p {
                    Produced::Val(Val::Vector(steps)) => steps.last().map_or(0, Vec::len),
                    _ => 0,
                };
                before.saturating_add(out).saturating_add(last)
            }
            Expr::Call(_) => {
                let held = self.cur_samples;
                match self.pending_windows.take() {
                    None => held.saturating_add(out).saturating_add(gathered),
                    Some(PendingWindows { series: None, bound }) => held.saturating_add(out).saturating_add(bound),
                    Some(PendingWindows {
                        series: Some(series), ..
                    }) => held.saturating_add(window_peak(&series, p, out)),
                }
            }
            Expr::Binary(_) => self.cur_samples.saturating_add(out).saturating_add(gathered),
            _ => self.cur_samples.saturating_add(out),
        };
        self.cur_samples = peak;
        self.add_samples(0)?;
        self.cur_samples = before.saturating_add(out);
        self.add_samples(0)
    }

    /// Evaluates a subquery: the inner expression on its own step grid, gathered into range buffers.
    /// `as_arg`: it is a function's range argument (see [`Evaluator::eval_range_arg`]).
    fn subquery(&mut self, sq: &SubqueryExpr, ts: &[i64], as_arg: bool) -> Result<Val, Error> {
        let range = dur_ms(&sq.range);
        let offset = offset_ms(&sq.offset);
        // Prometheus's default for a subquery without a step is the global evaluation interval (1m).
        let step = sq.step.as_ref().map(dur_ms).filter(|s| *s > 0).unwrap_or(60_000);
        let ends: Vec<i64> = ts.iter().map(|&t| self.effective_time(&sq.at, offset, t)).collect();
        let windows: Vec<(i64, i64)> = ends.iter().map(|&e| (e.saturating_sub(range), e)).collect();
        let (Some(&min_end), Some(&max_end)) = (ends.iter().min(), ends.iter().max()) else {
            return Ok(Val::Matrix(Matrix {
                series: Vec::new(),
                windows,
            }));
        };
        let lo = min_end.saturating_sub(range);
        // The first step-aligned time strictly after the window start (windows are left-open). Integer
        // division truncates toward zero as in Go, so alignment of negative times matches Prometheus.
        let mut first = step * (lo / step);
        if first <= lo {
            first = first.saturating_add(step);
        }
        // Refuse before allocating when the inner grid alone exceeds the sample limit.
        let n_inner = if first > max_end {
            0
        } else {
            ((i128::from(max_end) - i128::from(first)) / i128::from(step) + 1) as u128
        };
        if n_inner > self.opts.max_samples as u128 {
            return Err(Error::exec(
                "query processing would load too many samples into memory in query execution",
            ));
        }
        let mut inner = Vec::with_capacity(n_inner as usize);
        let mut t = first;
        while t <= max_end {
            inner.push(t);
            t = match t.checked_add(step) {
                Some(n) => n,
                None => break,
            };
            if inner.len() > self.opts.max_samples {
                return Err(Error::exec(
                    "query processing would load too many samples into memory in query execution",
                ));
            }
        }
        // Prometheus counts the inner evaluation's samples in a child that it then drops.
        let counted_before = self.stats.queryable_samples;
        let mut inner_expr = &*sq.expr;
        while let Expr::Paren(p) = inner_expr {
            inner_expr = &p.expr;
        }
        self.last_selector_order = matches!(inner_expr, Expr::VectorSelector(_)).then(Vec::new);
        let val = self.eval(&sq.expr, &inner);
        let selector_order = self.last_selector_order.take();
        let val = val?;
        let inner_total = self.stats.queryable_samples - counted_before;
        self.stats.queryable_samples = counted_before;
        let series = match val {
            Val::Vector(steps) => {
                // Series are grouped by content (steps may hold equal label sets in distinct Arcs), found
                // by address first; `keep` holds every keyed Arc alive, so an address is never reused.
                let mut by_addr: AddrMap<(usize, bool), usize> = AddrMap::default();
                let mut by_content: AddrMap<(Arc<Labels>, bool), usize> = AddrMap::default();
                let mut keep: Vec<Arc<Labels>> = Vec::new();
                let mut series: Vec<Pending> = Vec::new();
                // Steps usually list the same series in the same order: the previous step's key at the same
                // position is tried before the maps.
                let mut hints: Vec<((usize, bool), usize)> = Vec::new();
                for (i, step) in steps.into_iter().enumerate() {
                    for (pos, s) in step.into_iter().enumerate() {
                        let key = (Arc::as_ptr(&s.labels) as usize, s.drop_name);
                        if let Some(&(hk, j)) = hints.get(pos)
                            && hk == key
                        {
                            series[j].2.push((inner[i], s.v));
                            continue;
                        }
                        let j = match by_addr.get(&key) {
                            Some(&j) => j,
                            None => {
                                let j = *by_content
                                    .entry((Arc::clone(&s.labels), s.drop_name))
                                    .or_insert_with(|| {
                                        series.push((Arc::clone(&s.labels), s.drop_name, Vec::new()));
                                        series.len() - 1
                                    });
                                by_addr.insert(key, j);
                                keep.push(Arc::clone(&s.labels));
                                j
                            }
                        };
                        if pos < hints.len() {
                            hints[pos] = (key, j);
                        } else {
                            hints.push((key, j));
                        }
                        series[j].2.push((inner[i], s.v));
                    }
                }
                let mut series: Vec<RangeBuf> = series
                    .into_iter()
                    .map(|(labels, drop_name, points)| RangeBuf {
                        labels,
                        points: Points::Owned(points),
                        drop_name,
                    })
                    .collect();
                match selector_order {
                    // Prometheus range-evaluates a selector series by series in the order storage
                    // returns them (postings order in the head), and that order reaches what
                    // consumes the subquery (`limitk` keeps the first series it meets).
                    Some(order) => {
                        let rank: AddrMap<usize, usize> = order.into_iter().enumerate().map(|(i, a)| (a, i)).collect();
                        series.sort_by_key(|s| {
                            rank.get(&(Arc::as_ptr(&s.labels) as usize))
                                .copied()
                                .unwrap_or(usize::MAX)
                        });
                    }
                    // Other inner expressions come out of a map in Prometheus, in no fixed order.
                    None => series.sort_by(|a, b| a.labels.cmp(&b.labels)),
                }
                series
            }
            Val::Scalar(v) => vec![RangeBuf {
                labels: Arc::new(Labels::empty()),
                points: Points::Owned(inner.iter().copied().zip(v).collect()),
                drop_name: false,
            }],
            _ => return Err(Error::bad_data("subquery is only allowed on instant vector")),
        };
        let m = Matrix { series, windows };
        self.stats.queryable_samples += if !as_arg {
            inner_total.saturating_mul(ts.len())
        } else if self.opts.count_queryable_samples {
            m.window_points()
        } else {
            0
        };
        Ok(Val::Matrix(m))
    }
}

/// Without delayed name removal, names marked for removal go at once, and a step whose vector then holds
/// the same label set twice is an error, as in Prometheus's default mode.
pub(crate) fn remove_names_now(v: Val) -> Result<Val, Error> {
    let Val::Vector(mut steps) = v else { return Ok(v) };
    if steps.len() == 1 {
        remove_names_one_step(&mut steps[0])?;
        return Ok(Val::Vector(steps));
    }
    // The steps of a series share one Arc, so each series' cleaned labels are computed once and interned:
    // equal cleaned label sets then share an Arc and a dense id, which makes the per-step duplicate check a
    // stamp in a vector. Keyed by address; the maps keep every keyed Arc alive, so addresses are not reused.
    // Input address -> (input, kept alive; its cleaned, interned labels and their id, or None when it has
    // no name to remove).
    type Cleaned = Option<(Arc<Labels>, usize)>;
    let mut cache: AddrMap<usize, (Arc<Labels>, Cleaned)> = AddrMap::default();
    // Cleaned label sets (interned) -> id.
    let mut interned: AddrMap<Arc<Labels>, usize> = AddrMap::default();
    // Samples left as they are, by address -> (kept alive, id: a cleaned set's id when equal to one).
    let mut others: AddrMap<usize, (Arc<Labels>, usize)> = AddrMap::default();
    // Samples left as they are that equal no cleaned set (yet), by address -> (kept alive, own id).
    let mut plain: AddrMap<usize, (Arc<Labels>, usize)> = AddrMap::default();
    let mut next_id = 0usize;
    // Per id, the last step (plus one) it was seen at.
    let mut stamp: Vec<usize> = Vec::new();
    // Per position, the previous step's (input address, outcome): steps usually repeat their order.
    let mut hints: Vec<(usize, Cleaned)> = Vec::new();
    let mut ids: Vec<usize> = Vec::new();
    for (si, step) in steps.iter_mut().enumerate() {
        let mut changed = false;
        ids.clear();
        for (pos, s) in step.iter_mut().enumerate() {
            if !s.drop_name {
                ids.push(usize::MAX);
                continue;
            }
            s.drop_name = false;
            let addr = Arc::as_ptr(&s.labels) as usize;
            let outcome = match hints.get(pos) {
                Some((a, c)) if *a == addr => c.clone(),
                _ => {
                    let c = match cache.get(&addr) {
                        Some((_, c)) => c.clone(),
                        None => {
                            let l = &s.labels;
                            let c = if has_name_labels(l) {
                                let c = cleaned(l, true);
                                Some(match interned.get_key_value(&c) {
                                    Some((k, &id)) => (Arc::clone(k), id),
                                    None => {
                                        let k = Arc::new(c);
                                        interned.insert(Arc::clone(&k), next_id);
                                        next_id += 1;
                                        (k, next_id - 1)
                                    }
                                })
                            } else {
                                None
                            };
                            cache.insert(addr, (Arc::clone(l), c.clone()));
                            c
                        }
                    };
                    if pos < hints.len() {
                        hints[pos] = (addr, c.clone());
                    } else {
                        hints.push((addr, c.clone()));
                    }
                    c
                }
            };
            match outcome {
                Some((new, id)) => {
                    s.labels = new;
                    ids.push(id);
                    changed = true;
                }
                None => ids.push(usize::MAX),
            }
        }
        if changed {
            for (s, &id) in step.iter().zip(&ids) {
                let id = if id != usize::MAX {
                    id
                } else {
                    // A sample left as it is may equal a cleaned set.
                    // (Only a match is cached: a cleaned set equal to it may be interned at a later step.)
                    let addr = Arc::as_ptr(&s.labels) as usize;
                    match others.get(&addr) {
                        Some((_, id)) => *id,
                        None => match interned.get(s.labels.as_ref()) {
                            Some(&id) => {
                                others.insert(addr, (Arc::clone(&s.labels), id));
                                id
                            }
                            None => {
                                let (_, id) = plain.entry(addr).or_insert_with(|| {
                                    next_id += 1;
                                    (Arc::clone(&s.labels), next_id - 1)
                                });
                                *id
                            }
                        },
                    }
                };
                if stamp.len() <= id {
                    stamp.resize(id + 1, 0);
                }
                if stamp[id] == si + 1 {
                    return Err(Error::exec(DUPLICATE_LABELSET));
                }
                stamp[id] = si + 1;
            }
        }
    }
    Ok(Val::Vector(steps))
}

/// Milliseconds since the epoch of a `SystemTime` (negative before 1970).
pub(crate) fn system_time_ms(st: &std::time::SystemTime) -> i64 {
    match st.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => dur_ms(&d),
        Err(e) => -dur_ms(&e.duration()),
    }
}

/// The samples an instant-typed value holds over all steps: one per step for a scalar, every sample of
/// every step for a vector; none for a string or a range vector (counted by their own rules).
fn instant_samples(v: &Val) -> usize {
    match v {
        Val::Scalar(x) => x.len(),
        Val::Vector(steps) => steps.iter().map(Vec::len).sum(),
        Val::Matrix(_) | Val::String(_) => 0,
    }
}

#[cfg(test)]
mod cache_tests {
    use super::selectors_may_share_series;

    fn shares(q: &str) -> bool {
        selectors_may_share_series(&crate::parser::parse(q).unwrap())
    }

    #[test]
    fn series_are_cached_only_when_selectors_may_overlap() {
        assert!(!shares("rate(a[5m])"));
        assert!(!shares("rate(a[5m]) * on (instance) group_left (version) b"));
        assert!(!shares(r#"a / {__name__="b", job="x"}"#));
        assert!(shares("a / a offset 1m"));
        assert!(shares(r#"a / {__name__=~"a|b"}"#));
        assert!(shares(r#"a / {job="x"}"#));
        assert!(shares("max_over_time(rate(a[1m])[5m:1m]) - rate(a[5m])"));
    }
}

#[cfg(test)]
mod accounting_tests {
    use super::{Produced, Sample, Val, window_peak};
    use diamond_model::Labels;
    use std::sync::Arc;

    fn series(name: &str) -> Arc<Labels> {
        Arc::new(Labels::from_pairs(&[("__name__", name)]))
    }

    fn sample(l: &Arc<Labels>) -> Sample {
        Sample {
            labels: Arc::clone(l),
            v: 1.0,
            drop_name: true,
        }
    }

    /// Worked by hand in Prometheus's order: series a (largest window 20, last 20, 1 output), then b
    /// (18, 18, 1), then c (11, 11, 1): a peaks at 20 + 1 = 21 once its output joins its held window; b at
    /// 1 + 18 + 1 = 20; c at 2 + 11 + 1 = 14. This is `count_over_time(x[5m])` in the stats test.
    #[test]
    fn window_peak_follows_series_order() {
        let (a, b, c) = (series("a"), series("b"), series("c"));
        let ptr = |l: &Arc<Labels>| Arc::as_ptr(l) as usize;
        let windows = vec![(ptr(&a), 20, 20), (ptr(&b), 18, 18), (ptr(&c), 11, 11)];
        let out = Val::Vector(vec![vec![sample(&a), sample(&b), sample(&c)]]);
        assert_eq!(window_peak(&windows, Produced::Val(&out), 3), 21);
        // Outputs that match no input series count from the start.
        let stranger = series("d");
        let out = Val::Vector(vec![vec![sample(&stranger), sample(&c)]]);
        assert_eq!(window_peak(&windows, Produced::Val(&out), 2), 21);
        // Several steps: a's 3 outputs are held while b's window of 18 is, and b's last window (5) is
        // held with its own 3 outputs: max(20, 3 + 18, 3 + 3 + 5) = 21.
        let windows = vec![(ptr(&a), 20, 2), (ptr(&b), 18, 5)];
        let out = Val::Vector((0..3).map(|_| vec![sample(&a), sample(&b)]).collect());
        assert_eq!(window_peak(&windows, Produced::Val(&out), 6), 21);
    }
}

//! Aggregation operators (`sum`, `avg`, `count`, `min`, `max`, `group`, `stddev`, `stdvar`, `quantile`,
//! `topk`, `bottomk`, `count_values`, `limitk`, `limit_ratio`), step by step, grouped by `by`/`without`.

use crate::parser::Anchor;
use std::collections::HashMap;
use std::sync::Arc;

use diamond_model::{Labels, METRIC_NAME, format_value_fixed, format_value_g};
use promql_parser::parser::{AggregateExpr, Call, Expr, LabelModifier};

use super::Error;
use super::eval::{Evaluator, Produced, RangeBuf, Sample, Val};
use super::hash::AddrMap;
use crate::functions::Fold;

/// Kahan–Neumaier compensated addition, as Prometheus sums: returns the new sum and compensation.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// The `quantile` of Prometheus: linear interpolation between the closest ranks; NaN sorts first.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Running state of one group.
#[derive(Default, Clone)]
struct Group {
    labels: Arc<Labels>,
    count: f64,
    value: f64,
    kahan: f64,
    mean: f64,
    incremental_mean: bool,
    values: Vec<f64>,
    members: Vec<Sample>,
    drop_name: bool,
}

fn grouping_labels(l: &Labels, modifier: &Option<LabelModifier>) -> Labels {
    match modifier {
        None => Labels::empty(),
        Some(LabelModifier::Include(ls)) => {
            let names: Vec<&str> = ls.labels.iter().map(String::as_str).collect();
            l.keep_only(&names)
        }
        Some(LabelModifier::Exclude(ls)) => {
            let mut names: Vec<&str> = ls.labels.iter().map(String::as_str).collect();
            names.push(METRIC_NAME);
            l.without(&names)
        }
    }
}

/// Whether `s` is a valid label name for `count_values`: Prometheus 3 accepts any non-empty UTF-8.
fn valid_label_name(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(crate::parser::is_bad_byte)
}

/// Evaluates an aggregation at every step.
pub(crate) fn eval_aggregate(ev: &mut Evaluator<'_>, a: &AggregateExpr, ts: &[i64]) -> Result<Val, Error> {
    let op = a.op.to_string();
    let param = match &a.param {
        Some(p) => Some(ev.eval(p, ts)?),
        None => None,
    };
    let scalar_param = |i: usize| -> f64 {
        match &param {
            Some(Val::Scalar(v)) => v.get(i).copied().unwrap_or(f64::NAN),
            _ => f64::NAN,
        }
    };
    let input = match fusable(a, &op, ts) {
        Some(c) => match fused(ev, a, c, &op, ts, &scalar_param)? {
            Fused::Done(out) => return Ok(Val::Vector(out)),
            Fused::Input(steps) => steps,
        },
        None => match ev.eval(&a.expr, ts)? {
            Val::Vector(v) => v,
            _ => return Err(Error::bad_data(format!("expected instant vector in aggregation {op}"))),
        },
    };
    let mut keys = KeyCache::new(&a.modifier, input.len() > 1);
    let mut out = Vec::with_capacity(ts.len());
    for (i, step) in input.into_iter().enumerate() {
        ev.check()?;
        let res = match op.as_str() {
            "topk" | "bottomk" | "limitk" => {
                let p = scalar_param(i);
                if step.is_empty() {
                    Vec::new()
                } else {
                    if !(p.is_finite() && p.abs() < 9.2e18) {
                        return Err(Error::exec(format!("Scalar value {} overflows int64", go_float(p))));
                    }
                    let k = p as i64;
                    if k < 1 {
                        Vec::new()
                    } else {
                        select_k(&op, step, usize::try_from(k).unwrap_or(usize::MAX), &mut keys)
                    }
                }
            }
            "limit_ratio" => {
                let mut r = scalar_param(i);
                if r.is_nan() {
                    return Err(Error::exec(format!("Ratio value {} is NaN", go_float(r))));
                }
                if !(-1.0..=1.0).contains(&r) {
                    let capped = r.clamp(-1.0, 1.0);
                    ev.warn(
                        format!(
                            "ratio value should be between -1 and 1, got {}, capping to {}",
                            go_float(r),
                            go_float(capped)
                        ),
                        Anchor::AggParam {
                            op: "limit_ratio",
                            number: Some(r),
                        },
                    );
                    r = capped;
                }
                step.into_iter()
                    .filter(|s| {
                        let off = super::hash::labels_hash(&s.labels) as f64 / u64::MAX as f64;
                        if r >= 0.0 { off < r } else { off >= 1.0 + r }
                    })
                    .collect()
            }
            "count_values" => {
                let Some(Val::String(label)) = &param else {
                    return Err(Error::bad_data("count_values requires a string parameter"));
                };
                if !valid_label_name(label) {
                    return Err(Error::exec(format!(
                        "invalid label name {}",
                        crate::parser::go_quote(label)
                    )));
                }
                count_values(step, label, &a.modifier)
            }
            _ => {
                let q = scalar_param(i);
                warn_quantile(ev, &op, q);
                simple(&op, step, &mut keys, q)?
            }
        };
        out.push(res);
    }
    Ok(Val::Vector(out))
}

/// Prometheus's warning for a `quantile` parameter outside [0, 1], given at every step it applies to.
fn warn_quantile(ev: &mut Evaluator<'_>, op: &str, q: f64) {
    if op == "quantile" && !(0.0..=1.0).contains(&q) {
        ev.warn(
            format!("quantile value should be between 0 and 1, got {}", go_float(q)),
            Anchor::AggParam {
                op: "quantile",
                number: Some(q),
            },
        );
    }
}

/// The aggregations [`fused`] can compute as their input arrives.
const FOLDABLE: [&str; 12] = [
    "sum", "avg", "count", "group", "min", "max", "stddev", "stdvar", "quantile", "topk", "bottomk", "limitk",
];

/// The aggregations that keep members ([`fold_k`]) rather than a value per group.
fn keeps_members(op: &str) -> bool {
    matches!(op, "topk" | "bottomk" | "limitk")
}

/// The call an aggregation of a range query can fold as it is computed: a function computed series by
/// series (`rate`, `*_over_time`, ...) directly under it, not step-invariant.
fn fusable<'e>(a: &'e AggregateExpr, op: &str, ts: &[i64]) -> Option<&'e Call> {
    match a.expr.as_ref() {
        Expr::Call(c)
            if ts.len() > 1
                && FOLDABLE.contains(&op)
                && crate::functions::computes_by_series(c)
                && !super::eval::step_invariant(&a.expr) =>
        {
            Some(c)
        }
        _ => None,
    }
}

/// What [`fused`] gives: the aggregation's value, or (when it could not fold) its input step by step.
enum Fused {
    Done(Vec<Vec<Sample>>),
    Input(Vec<Vec<Sample>>),
}

/// Evaluates the aggregation `a` of the call `c` (see [`fusable`]) folding the call's values into the
/// groups as they are computed, so that the call's value over all steps and series is never held: for
/// `sum by (job) (rate(x[5m]))` over 10k series and 6 h at 15 s, 14 M samples (346 MB) that the step-by-step
/// evaluation holds at once. Prometheus holds them (its range evaluation of the call finishes before the
/// aggregation starts); Diamond gives the same values, warnings, errors and sample counts, because each
/// step's samples reach each group in the order the step's vector would hold them, through the same
/// per-sample code ([`fold_simple`], [`fold_k`]), and the call is accounted for as if it had been held.
fn fused(
    ev: &mut Evaluator<'_>,
    a: &AggregateExpr,
    c: &Call,
    op: &str,
    ts: &[i64],
    scalar_param: &dyn Fn(usize) -> f64,
) -> Result<Fused, Error> {
    // As `Evaluator::eval_node` does for the call.
    ev.check()?;
    let before = ev.cur_samples;
    let ks: Option<Vec<Option<usize>>> = keeps_members(op).then(|| {
        (0..ts.len())
            .map(|i| {
                let p = scalar_param(i);
                (p.is_finite() && p.abs() < 9.2e18).then(|| usize::try_from(p as i64).unwrap_or(0))
            })
            .collect()
    });
    let mut fold = AggFold {
        op,
        modifier: &a.modifier,
        delayed: ev.delayed_name_removal,
        steps: ts.len(),
        max_samples: ev.opts.max_samples,
        ks,
        mode: FoldMode::Collect(Vec::new()),
        err: None,
    };
    let folded = crate::functions::call_folded(ev, c, ts, &mut fold)?;
    ev.account_produced(&a.expr, Produced::Counts(&folded.counts), before)?;
    if let Some(e) = fold.err {
        return Err(e);
    }
    let st = match fold.mode {
        FoldMode::Collect(steps) => {
            // As `Evaluator::eval` does with a call's value.
            let v = if ev.delayed_name_removal {
                Val::Vector(steps)
            } else {
                super::eval::remove_names_now(Val::Vector(steps))?
            };
            return match v {
                Val::Vector(steps) => Ok(Fused::Input(steps)),
                _ => Err(Error::bad_data(format!("expected instant vector in aggregation {op}"))),
            };
        }
        FoldMode::Stream(st) => st,
    };
    let mut out = Vec::with_capacity(ts.len());
    for (i, groups) in st.groups.into_iter().enumerate() {
        ev.check()?;
        if let Some(ks) = &fold.ks {
            if folded.nonempty[i] && ks[i].is_none() {
                return Err(Error::exec(format!(
                    "Scalar value {} overflows int64",
                    go_float(scalar_param(i))
                )));
            }
            let mut step = Vec::new();
            for mut g in groups {
                finish_k(op, &mut g.members);
                step.extend(g.members);
            }
            out.push(step);
        } else {
            let q = scalar_param(i);
            warn_quantile(ev, op, q);
            out.push(groups.into_iter().map(|g| finish_simple(op, g, q)).collect());
        }
    }
    Ok(Fused::Done(out))
}

/// The [`Fold`] of [`fused`].
struct AggFold<'m> {
    op: &'m str,
    modifier: &'m Option<LabelModifier>,
    /// Delayed name removal: names go at the end of the query, so samples keep theirs and the flag.
    delayed: bool,
    steps: usize,
    max_samples: usize,
    /// For `topk`/`bottomk`/`limitk`: per step, `k`, or `None` when the parameter is out of range.
    ks: Option<Vec<Option<usize>>>,
    mode: FoldMode,
    /// The first error met while folding, returned once the call is accounted for.
    err: Option<Error>,
}

enum FoldMode {
    /// The input kept step by step, for the evaluation without fold: chosen when names removed from the
    /// call's values would make two series equal (Prometheus's duplicate-label-set error must then be
    /// found step by step), or when there are so many groups that folding would hold more than the input.
    Collect(Vec<Vec<Sample>>),
    Stream(Stream),
}

/// The groups of every step, filled as the values arrive.
struct Stream {
    /// Per input series, the labels its values have when they reach the aggregation.
    labels: Vec<Arc<Labels>>,
    /// Per input series, its grouping key's id.
    key_of: Vec<u32>,
    /// Grouping keys by id.
    keys: Vec<Arc<Labels>>,
    /// Per step and key id (`step * keys + id`): the index of the key's group in that step, plus one.
    slots: Vec<u32>,
    /// Per step, its groups in the order their first samples arrived.
    groups: Vec<Vec<Group>>,
}

impl Fold for AggFold<'_> {
    fn begin(&mut self, series: &[RangeBuf], drop_name: &[bool]) {
        let mut changed = false;
        let labels: Vec<Arc<Labels>> = series
            .iter()
            .zip(drop_name)
            .map(|(s, &drop)| {
                if !self.delayed && drop && super::eval::has_name_labels(&s.labels) {
                    changed = true;
                    Arc::new(super::eval::cleaned(&s.labels, true))
                } else {
                    Arc::clone(&s.labels)
                }
            })
            .collect();
        let collect = |n: usize, steps: usize, max: usize| {
            let cap = if n.saturating_mul(steps) <= max { n } else { 0 };
            FoldMode::Collect((0..steps).map(|_| Vec::with_capacity(cap)).collect())
        };
        if changed {
            let mut seen = std::collections::HashSet::with_capacity(labels.len());
            if !labels.iter().all(|l| seen.insert(l.as_ref())) {
                self.mode = collect(series.len(), self.steps, self.max_samples);
                return;
            }
        }
        let mut interned: HashMap<Labels, u32> = HashMap::new();
        let mut keys = Vec::new();
        let key_of: Vec<u32> = labels
            .iter()
            .map(|l| {
                let k = grouping_labels(l, self.modifier);
                *interned.entry(k).or_insert_with_key(|k| {
                    keys.push(Arc::new(k.clone()));
                    (keys.len() - 1) as u32
                })
            })
            .collect();
        // A group costs several samples' worth: with about as many groups as series, folding would hold
        // more than the input does. A few groups cost nothing either way; folding them also puts the fold
        // under every small test of the corpus.
        let slots = keys.len().saturating_mul(self.steps);
        if (keys.len() > 64 && keys.len().saturating_mul(10) > series.len()) || slots > 4_000_000 {
            self.mode = collect(series.len(), self.steps, self.max_samples);
            return;
        }
        self.mode = FoldMode::Stream(Stream {
            labels,
            key_of,
            keys,
            slots: vec![0; slots],
            groups: (0..self.steps).map(|_| Vec::new()).collect(),
        });
    }

    fn push(&mut self, series: usize, step: usize, s: Sample) {
        let st = match &mut self.mode {
            FoldMode::Collect(steps) => {
                steps[step].push(s);
                return;
            }
            FoldMode::Stream(st) => st,
        };
        let k = match &self.ks {
            Some(ks) => match ks[step] {
                Some(k) if k >= 1 => Some(k),
                // Nothing is kept at this step (k < 1), or it is an error (found at the end).
                _ => return,
            },
            None => None,
        };
        let key = st.key_of[series] as usize;
        let slot = &mut st.slots[step * st.keys.len() + key];
        let groups = &mut st.groups[step];
        if *slot == 0 {
            groups.push(Group {
                labels: Arc::clone(&st.keys[key]),
                ..Group::default()
            });
            *slot = groups.len() as u32;
        }
        let g = &mut groups[*slot as usize - 1];
        let drop_name = self.delayed && s.drop_name;
        match k {
            Some(k) => fold_k(
                self.op,
                &mut g.members,
                k,
                Sample {
                    labels: Arc::clone(&st.labels[series]),
                    v: s.v,
                    drop_name,
                },
            ),
            None => {
                let s = Sample { drop_name, ..s };
                if let Err(e) = fold_simple(self.op, g, &s)
                    && self.err.is_none()
                {
                    self.err = Some(e);
                }
            }
        }
    }
}

/// Formats a float as Go's `%g`, which Prometheus uses in annotations.
pub(crate) fn go_float(v: f64) -> String {
    format_value_g(v)
}

/// Grouping keys per input series, computed once per aggregation rather than once per step: the steps of a
/// series share one `Arc<Labels>`, and keys are interned with dense ids, so a step finds its group through
/// a slot vector instead of hashing labels.
pub(crate) struct KeyCache<'m> {
    modifier: &'m Option<LabelModifier>,
    /// Input labels address -> (the input labels, kept alive so the address cannot be reused; key id).
    by_series: AddrMap<usize, (Arc<Labels>, usize)>,
    interned: AddrMap<Labels, usize>,
    /// Interned keys by id.
    keys: Vec<Arc<Labels>>,
    /// Per position in the step, the previous step's (input address, key id): steps repeat their order.
    hints: Vec<(usize, usize)>,
    /// Per key id: (the step it last got a group in, plus one; that group's index).
    slots: Vec<(usize, usize)>,
    step: usize,
    /// Whether more than one step follows: only then are keys remembered per input series.
    remember: bool,
}

impl<'m> KeyCache<'m> {
    fn new(modifier: &'m Option<LabelModifier>, remember: bool) -> Self {
        KeyCache {
            remember,
            modifier,
            by_series: AddrMap::default(),
            interned: AddrMap::default(),
            keys: Vec::new(),
            hints: Vec::new(),
            slots: Vec::new(),
            step: 0,
        }
    }

    /// Starts a new step: groups of earlier steps are forgotten.
    fn next_step(&mut self) {
        self.step += 1;
    }

    /// The key id of `l`, the sample at position `pos` of its step.
    fn key(&mut self, l: &Arc<Labels>, pos: usize) -> usize {
        if !self.remember {
            return self.intern(grouping_labels(l, self.modifier));
        }
        let addr = Arc::as_ptr(l) as usize;
        if let Some(&(a, id)) = self.hints.get(pos)
            && a == addr
        {
            return id;
        }
        let id = match self.by_series.get(&addr) {
            Some(&(_, id)) => id,
            None => {
                let id = self.intern(grouping_labels(l, self.modifier));
                self.by_series.insert(addr, (Arc::clone(l), id));
                id
            }
        };
        if pos < self.hints.len() {
            self.hints[pos] = (addr, id);
        } else {
            self.hints.push((addr, id));
        }
        id
    }

    /// The id of grouping key `key`, interning it.
    fn intern(&mut self, key: Labels) -> usize {
        match self.interned.get(&key) {
            Some(&id) => id,
            None => {
                self.keys.push(Arc::new(key.clone()));
                self.slots.push((0, 0));
                self.interned.insert(key, self.keys.len() - 1);
                self.keys.len() - 1
            }
        }
    }

    /// The index in `groups` of the group of key `id` at this step, creating it.
    fn group(&mut self, groups: &mut Vec<Group>, id: usize) -> usize {
        let (stamp, gi) = self.slots[id];
        if stamp == self.step {
            return gi;
        }
        groups.push(Group {
            labels: Arc::clone(&self.keys[id]),
            ..Group::default()
        });
        self.slots[id] = (self.step, groups.len() - 1);
        groups.len() - 1
    }
}

fn simple(op: &str, step: Vec<Sample>, keys: &mut KeyCache<'_>, q: f64) -> Result<Vec<Sample>, Error> {
    let mut groups: Vec<Group> = Vec::new();
    keys.next_step();
    for (pos, s) in step.into_iter().enumerate() {
        let id = keys.key(&s.labels, pos);
        let gi = keys.group(&mut groups, id);
        fold_simple(op, &mut groups[gi], &s)?;
    }
    Ok(groups.into_iter().map(|g| finish_simple(op, g, q)).collect())
}

/// Folds one sample into its group for the aggregations [`simple`] computes.
fn fold_simple(op: &str, g: &mut Group, s: &Sample) -> Result<(), Error> {
    let first = g.count == 0.0;
    if first {
        // A pending name removal travels with the group when `by (__name__)` keeps the name.
        g.drop_name = s.drop_name;
    }
    g.count += 1.0;
    let v = s.v;
    match op {
        "sum" => {
            (g.value, g.kahan) = kahan_inc(v, g.value, g.kahan);
        }
        "avg" => avg_inc(g, v, first),
        "count" | "group" => {}
        "min" => {
            if first || g.value > v || g.value.is_nan() {
                g.value = v;
            }
        }
        "max" => {
            if first || g.value < v || g.value.is_nan() {
                g.value = v;
            }
        }
        "stddev" | "stdvar" => {
            if first {
                // A lone NaN or infinity has no defined spread.
                g.mean = v;
                g.value = if v.is_nan() || v.is_infinite() { f64::NAN } else { 0.0 };
            } else {
                let delta = v - g.mean;
                g.mean += delta / g.count;
                g.value += delta * (v - g.mean);
            }
        }
        "quantile" => g.values.push(v),
        other => return Err(Error::bad_data(format!("unknown aggregation {other}"))),
    }
    Ok(())
}

/// A group's value once all its samples are folded in.
fn finish_simple(op: &str, mut g: Group, q: f64) -> Sample {
    let v = match op {
        "sum" => g.value + g.kahan,
        "avg" => {
            if g.incremental_mean {
                g.mean + g.kahan
            } else {
                (g.value + g.kahan) / g.count
            }
        }
        "count" => g.count,
        "group" => 1.0,
        "stdvar" => g.value / g.count,
        "stddev" => (g.value / g.count).sqrt(),
        "quantile" => quantile(q, &mut g.values),
        _ => g.value,
    };
    Sample {
        labels: g.labels,
        v,
        drop_name: g.drop_name,
    }
}

/// Prometheus's `avg`: a compensated sum, switching to an incremental mean only if the sum would overflow.
fn avg_inc(g: &mut Group, v: f64, first: bool) {
    if first {
        g.value = v;
        g.kahan = 0.0;
        return;
    }
    if !g.incremental_mean {
        let (nv, nc) = kahan_inc(v, g.value, g.kahan);
        if !nv.is_infinite() {
            g.value = nv;
            g.kahan = nc;
            return;
        }
        g.incremental_mean = true;
        g.mean = g.value / (g.count - 1.0);
        g.kahan /= g.count - 1.0;
    }
    if g.mean.is_infinite() {
        if v.is_infinite() && (g.mean > 0.0) == (v > 0.0) {
            return;
        }
        if !v.is_infinite() && !v.is_nan() {
            return;
        }
    }
    let current = g.mean + g.kahan;
    (g.mean, g.kahan) = kahan_inc(v / g.count - current / g.count, g.mean, g.kahan);
}

fn select_k(op: &str, step: Vec<Sample>, k: usize, keys: &mut KeyCache<'_>) -> Vec<Sample> {
    let mut groups: Vec<Group> = Vec::new();
    keys.next_step();
    for (pos, s) in step.into_iter().enumerate() {
        let id = keys.key(&s.labels, pos);
        let gi = keys.group(&mut groups, id);
        fold_k(op, &mut groups[gi].members, k, s);
    }
    let mut out = Vec::new();
    for mut g in groups {
        finish_k(op, &mut g.members);
        out.extend(g.members);
    }
    out
}

/// Folds one sample into a group's members for `topk`/`bottomk` (a heap, as Prometheus keeps) or
/// `limitk` (the first `k`).
fn fold_k(op: &str, h: &mut Vec<Sample>, k: usize, s: Sample) {
    let topk = op == "topk";
    let heap = topk || op == "bottomk";
    if !heap {
        // limitk: the first k.
        if h.len() < k {
            h.push(s);
        }
    } else if h.len() < k {
        h.push(s);
        let n = h.len();
        heap_up(h, n - 1, topk);
    } else if replaces(h[0].v, s.v, topk) {
        h[0] = s;
        if k > 1 && !heap_down(h, 0, topk) {
            heap_up(h, 0, topk);
        }
    }
}

/// Puts a group's `topk`/`bottomk` members in the order Prometheus gives them.
fn finish_k(op: &str, members: &mut [Sample]) {
    let topk = op == "topk";
    let heap = topk || op == "bottomk";
    if heap && members.len() > 1 {
        // Prometheus reverses the heap with Go's sort.Sort, which is an insertion sort up to 12
        // elements (reproduced exactly); beyond that its order of ties is pdqsort's, approximated here
        // by a stable sort.
        let before = |a: &Sample, b: &Sample| heap_less(b.v, a.v, topk);
        if members.len() <= 12 {
            for i in 1..members.len() {
                let mut j = i;
                while j > 0 && before(&members[j], &members[j - 1]) {
                    members.swap(j, j - 1);
                    j -= 1;
                }
            }
        } else {
            members.sort_by(|a, b| {
                if before(a, b) {
                    std::cmp::Ordering::Less
                } else if before(b, a) {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            });
        }
    }
}

/// The `Less` of Prometheus's `vectorByValueHeap` (topk) or `vectorByReverseValueHeap` (bottomk): NaN is
/// below everything, so it is the first to be replaced.
fn heap_less(a: f64, b: f64, topk: bool) -> bool {
    if a.is_nan() {
        return true;
    }
    if topk { a < b } else { a > b }
}

/// Whether a full heap's top `top` gives way to `v`, as in Prometheus's aggregationK.
fn replaces(top: f64, v: f64, topk: bool) -> bool {
    (if topk { top < v } else { top > v }) || (top.is_nan() && !v.is_nan())
}

/// Go's `container/heap` up, so that ties end up where Prometheus's heap puts them.
fn heap_up(h: &mut [Sample], mut j: usize, topk: bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !heap_less(h[j].v, h[i].v, topk) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

/// Go's `container/heap` down from `i0`; whether the element moved.
fn heap_down(h: &mut [Sample], i0: usize, topk: bool) -> bool {
    let n = h.len();
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        if j1 + 1 < n && heap_less(h[j1 + 1].v, h[j1].v, topk) {
            j = j1 + 1;
        }
        if !heap_less(h[j].v, h[i].v, topk) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    i > i0
}

fn count_values(step: Vec<Sample>, label: &str, modifier: &Option<LabelModifier>) -> Vec<Sample> {
    let mut order: Vec<Labels> = Vec::new();
    let mut counts: HashMap<Labels, f64> = HashMap::new();
    let without = matches!(modifier, Some(LabelModifier::Exclude(_)));
    for s in step {
        // Prometheus sets the value label on each input series before grouping, so `without`
        // naming that label removes it again and the values fold together; `by` always keeps it.
        let key = if without {
            let mut b = s.labels.builder();
            b.set(label, &format_value_fixed(s.v));
            grouping_labels(&b.build(), modifier)
        } else {
            let mut b = grouping_labels(&s.labels, modifier).builder();
            b.set(label, &format_value_fixed(s.v));
            b.build()
        };
        let c = counts.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            0.0
        });
        *c += 1.0;
    }
    order
        .into_iter()
        .map(|l| {
            let v = counts.get(&l).copied().unwrap_or(0.0);
            Sample {
                labels: Arc::new(l),
                v,
                drop_name: false,
            }
        })
        .collect()
}

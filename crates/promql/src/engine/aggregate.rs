//! Aggregation operators (`sum`, `avg`, `count`, `min`, `max`, `group`, `stddev`, `stdvar`, `quantile`,
//! `topk`, `bottomk`, `count_values`, `limitk`, `limit_ratio`), step by step, grouped by `by`/`without`.

use crate::parser::Anchor;
use std::collections::HashMap;
use std::sync::Arc;

use diamond_model::{Labels, METRIC_NAME, format_value_fixed, format_value_g};
use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::Error;
use super::eval::{Evaluator, Sample, Val};
use super::hash::AddrMap;

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
    let input = match ev.eval(&a.expr, ts)? {
        Val::Vector(v) => v,
        _ => return Err(Error::bad_data(format!("expected instant vector in aggregation {op}"))),
    };
    let scalar_param = |i: usize| -> f64 {
        match &param {
            Some(Val::Scalar(v)) => v.get(i).copied().unwrap_or(f64::NAN),
            _ => f64::NAN,
        }
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
                if op == "quantile" && !(0.0..=1.0).contains(&q) {
                    ev.warn(
                        format!("quantile value should be between 0 and 1, got {}", go_float(q)),
                        Anchor::AggParam {
                            op: "quantile",
                            number: Some(q),
                        },
                    );
                }
                simple(&op, step, &mut keys, q)?
            }
        };
        out.push(res);
    }
    Ok(Val::Vector(out))
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
        let g = &mut groups[gi];
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
    }
    Ok(groups
        .into_iter()
        .map(|mut g| {
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
        })
        .collect())
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
    let topk = op == "topk";
    let heap = topk || op == "bottomk";
    for (pos, s) in step.into_iter().enumerate() {
        let id = keys.key(&s.labels, pos);
        let gi = keys.group(&mut groups, id);
        let h = &mut groups[gi].members;
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
    let mut out = Vec::new();
    for mut g in groups {
        if heap && g.members.len() > 1 {
            // Prometheus reverses the heap with Go's sort.Sort, which is an insertion sort up to 12
            // elements (reproduced exactly); beyond that its order of ties is pdqsort's, approximated here
            // by a stable sort.
            let before = |a: &Sample, b: &Sample| heap_less(b.v, a.v, topk);
            if g.members.len() <= 12 {
                for i in 1..g.members.len() {
                    let mut j = i;
                    while j > 0 && before(&g.members[j], &g.members[j - 1]) {
                        g.members.swap(j, j - 1);
                        j -= 1;
                    }
                }
            } else {
                g.members.sort_by(|a, b| {
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
        out.extend(g.members);
    }
    out
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

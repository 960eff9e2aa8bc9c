//! Aggregation operators (`sum`, `avg`, `count`, `min`, `max`, `group`, `stddev`, `stdvar`, `quantile`,
//! `topk`, `bottomk`, `count_values`, `limitk`, `limit_ratio`), step by step, grouped by `by`/`without`.

use std::collections::HashMap;
use std::sync::Arc;

use diamond_model::{Labels, METRIC_NAME, format_value};
use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::Error;
use super::eval::{Evaluator, Sample, Val};

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
    let mut keys = KeyCache::new(&a.modifier);
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
                    ev.warn(format!(
                        "ratio value should be between -1 and 1, got {}, capping to {}",
                        go_float(r),
                        go_float(capped)
                    ));
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
                    ev.warn(format!("quantile value should be between 0 and 1, got {}", go_float(q)));
                }
                simple(&op, step, &mut keys, q)?
            }
        };
        out.push(res);
    }
    Ok(Val::Vector(out))
}

/// Formats a float as Go's `%g`-ish default formatting Prometheus uses in annotations.
pub(crate) fn go_float(v: f64) -> String {
    format_value(v)
}

/// Grouping keys per input series, computed once per aggregation rather than once per step: the steps of a
/// series share one `Arc<Labels>`, and keys are interned so groups can be found by pointer.
pub(crate) struct KeyCache<'m> {
    modifier: &'m Option<LabelModifier>,
    /// Input labels address -> (the input labels, kept alive so the address cannot be reused; the key).
    by_series: HashMap<usize, (Arc<Labels>, Arc<Labels>)>,
    interned: HashMap<Labels, Arc<Labels>>,
}

impl<'m> KeyCache<'m> {
    fn new(modifier: &'m Option<LabelModifier>) -> Self {
        KeyCache {
            modifier,
            by_series: HashMap::new(),
            interned: HashMap::new(),
        }
    }

    /// The interned grouping key of `l`.
    fn key(&mut self, l: &Arc<Labels>) -> Arc<Labels> {
        let addr = Arc::as_ptr(l) as usize;
        if let Some((_, k)) = self.by_series.get(&addr) {
            return Arc::clone(k);
        }
        let key = grouping_labels(l, self.modifier);
        let k = Arc::clone(self.interned.entry(key.clone()).or_insert_with(|| Arc::new(key)));
        self.by_series.insert(addr, (Arc::clone(l), Arc::clone(&k)));
        k
    }
}

fn group_index(groups: &mut Vec<Group>, index: &mut HashMap<usize, usize>, key: Arc<Labels>) -> usize {
    let addr = Arc::as_ptr(&key) as usize;
    if let Some(&i) = index.get(&addr) {
        return i;
    }
    groups.push(Group {
        labels: key,
        ..Group::default()
    });
    index.insert(addr, groups.len() - 1);
    groups.len() - 1
}

fn simple(op: &str, step: Vec<Sample>, keys: &mut KeyCache<'_>, q: f64) -> Result<Vec<Sample>, Error> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<usize, usize> = HashMap::new();
    for s in step {
        let key = keys.key(&s.labels);
        let gi = group_index(&mut groups, &mut index, key);
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
    let mut index: HashMap<usize, usize> = HashMap::new();
    for s in step {
        let key = keys.key(&s.labels);
        let gi = group_index(&mut groups, &mut index, key);
        groups[gi].members.push(s);
    }
    let mut out = Vec::new();
    for mut g in groups {
        match op {
            "topk" => {
                // Descending, NaN last; stable so earlier series win ties as in Prometheus's heap.
                g.members.sort_by(|a, b| cmp_nan_low(b.v, a.v));
            }
            "bottomk" => {
                g.members.sort_by(|a, b| cmp_nan_high(a.v, b.v));
            }
            _ => {}
        }
        g.members.truncate(k);
        out.extend(g.members);
    }
    out
}

/// Orders NaN below every number.
fn cmp_nan_low(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Less,
        (false, true) => Greater,
        _ => a.partial_cmp(&b).unwrap_or(Equal),
    }
}

/// Orders NaN above every number.
fn cmp_nan_high(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        _ => a.partial_cmp(&b).unwrap_or(Equal),
    }
}

fn count_values(step: Vec<Sample>, label: &str, modifier: &Option<LabelModifier>) -> Vec<Sample> {
    let mut order: Vec<Labels> = Vec::new();
    let mut counts: HashMap<Labels, f64> = HashMap::new();
    for s in step {
        let mut b = grouping_labels(&s.labels, modifier).builder();
        b.set(label, &format_value(s.v));
        let key = b.build();
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

//! `histogram_quantile` and `histogram_fraction` over classic (`le`-labelled) bucket series.

use crate::parser::Anchor;
use std::sync::Arc;

use diamond_model::{Labels, parse_value};

use super::{scalar_arg, vector_arg};
use crate::engine::Error;
use crate::engine::aggregate::go_float;
use crate::engine::eval::{Evaluator, Sample, Val};
use crate::engine::hash::AddrMap;

/// Differences between adjacent bucket counts smaller than this (relative) are float noise.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

#[derive(Clone, Copy)]
struct Bucket {
    upper: f64,
    count: f64,
}

/// What a bucket series contributes: its group key (without `le`) and bound, or the warning for its `le`.
type BucketOf = Result<(Arc<Labels>, f64), String>;

/// Dispatches histogram_quantile / histogram_fraction.
pub(crate) fn call(ev: &mut Evaluator<'_>, name: &str, mut vals: Vec<Val>, ts: &[i64]) -> Result<Val, Error> {
    let n_scalars = if name == "histogram_quantile" { 1 } else { 2 };
    // The buckets argument, where Prometheus places the bucket annotations.
    let buckets_arg = n_scalars;
    let params: Vec<Vec<f64>> = (0..n_scalars)
        .map(|i| scalar_arg(&vals, i).map(<[f64]>::to_vec))
        .collect::<Result<_, _>>()?;
    let input = vector_arg(std::mem::take(&mut vals), n_scalars)?;
    let mut out = Vec::with_capacity(ts.len());
    // Per input series (by the address of its shared labels, kept alive here so it cannot be reused): its
    // group key without `le`, interned so that a group has one `Arc` at every step, and its bound; or the
    // warning a malformed `le` gives. Computed once per series instead of once per series and step.
    let mut by_series: AddrMap<usize, (Arc<Labels>, BucketOf)> = AddrMap::default();
    let mut interned: AddrMap<Labels, Arc<Labels>> = AddrMap::default();
    for (i, step) in input.into_iter().enumerate() {
        ev.check()?;
        if name == "histogram_quantile" {
            let q = params[0][i];
            // Prometheus warns at every step, with or without buckets to read.
            if !(0.0..=1.0).contains(&q) {
                ev.warn(
                    format!("quantile value should be between 0 and 1, got {}", go_float(q)),
                    Anchor::CallArg {
                        func: name.to_owned(),
                        arg: 0,
                        metric: None,
                        number: Some(q),
                    },
                );
            }
        }
        // Group buckets by the series labels without `le`, keeping first-seen order.
        let mut order: Vec<Arc<Labels>> = Vec::new();
        let mut groups: AddrMap<usize, Vec<Bucket>> = AddrMap::default();
        for s in &step {
            let addr = Arc::as_ptr(&s.labels) as usize;
            let entry = by_series.entry(addr).or_insert_with(|| {
                let le = s.labels.get("le").unwrap_or("");
                let r = match parse_value(le) {
                    Some(upper) => {
                        let key = s.labels.without(&["le"]);
                        let k = Arc::clone(interned.entry(key.clone()).or_insert_with(|| Arc::new(key)));
                        Ok((k, upper))
                    }
                    None => Err(format!(
                        "bucket label \"le\" is missing or has a malformed value of {:?} for metric name {:?}",
                        le,
                        s.labels.metric_name().unwrap_or("")
                    )),
                };
                (Arc::clone(&s.labels), r)
            });
            let (key, upper) = match &entry.1 {
                Ok((k, u)) => (k, *u),
                Err(msg) => {
                    ev.warn(
                        msg.clone(),
                        Anchor::CallArg {
                            func: name.to_owned(),
                            arg: buckets_arg,
                            metric: s.labels.metric_name().map(str::to_owned),
                            number: None,
                        },
                    );
                    continue;
                }
            };
            groups
                .entry(Arc::as_ptr(key) as usize)
                .or_insert_with(|| {
                    order.push(Arc::clone(key));
                    Vec::new()
                })
                .push(Bucket { upper, count: s.v });
        }
        let mut res = Vec::with_capacity(order.len());
        for key in order {
            let Some(mut buckets) = groups.remove(&(Arc::as_ptr(&key) as usize)) else {
                continue;
            };
            let v = if name == "histogram_quantile" {
                let (v, forced) = bucket_quantile(params[0][i], &mut buckets);
                if forced {
                    ev.info(
                        format!(
                            "input to histogram_quantile needed to be fixed for monotonicity (see \
                             https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) \
                             for metric name {:?}",
                            key.metric_name().unwrap_or("")
                        ),
                        Anchor::CallArg {
                            func: name.to_owned(),
                            arg: buckets_arg,
                            metric: key.metric_name().map(str::to_owned),
                            number: None,
                        },
                    );
                }
                v
            } else {
                bucket_fraction(params[0][i], params[1][i], &mut buckets)
            };
            res.push(Sample {
                labels: key,
                v,
                drop_name: true,
            });
        }
        out.push(res);
    }
    Ok(Val::Vector(out))
}

fn sort_and_coalesce(buckets: &mut Vec<Bucket>) {
    buckets.sort_by(|a, b| a.upper.partial_cmp(&b.upper).unwrap_or(std::cmp::Ordering::Equal));
    let mut merged: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match merged.last_mut() {
            Some(l) if l.upper == b.upper => l.count += b.count,
            _ => merged.push(*b),
        }
    }
    *buckets = merged;
}

fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < eps * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

/// Forces counts to be non-decreasing; returns whether a real (not float-noise) decrease was fixed.
fn ensure_monotonic(buckets: &mut [Bucket]) -> bool {
    let mut forced = false;
    let Some(first) = buckets.first() else { return false };
    let mut prev = first.count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) {
            b.count = prev;
            continue;
        }
        if curr < prev {
            b.count = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    forced
}

/// The q-quantile from cumulative buckets, interpolating linearly inside the bucket.
fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    sort_and_coalesce(buckets);
    if buckets.last().is_none_or(|b| b.upper != f64::INFINITY) {
        return (f64::NAN, false);
    }
    let forced = ensure_monotonic(buckets);
    if buckets.len() < 2 {
        return (f64::NAN, false);
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return (f64::NAN, false);
    }
    let mut rank = q * observations;
    let n = buckets.len() - 1;
    let b = buckets[..n].partition_point(|x| x.count < rank);
    if b == n {
        return (buckets[n - 1].upper, forced);
    }
    if b == 0 && buckets[0].upper <= 0.0 {
        return (buckets[0].upper, forced);
    }
    let mut start = 0.0;
    let end = buckets[b].upper;
    let mut count = buckets[b].count;
    if b > 0 {
        start = buckets[b - 1].upper;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    (start + (end - start) * (rank / count), forced)
}

/// The fraction of observations between `lower` and `upper`, interpolating linearly inside buckets
/// (Prometheus 3.5's `BucketFraction` for classic buckets).
fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<Bucket>) -> f64 {
    sort_and_coalesce(buckets);
    if buckets.last().is_none_or(|b| b.upper != f64::INFINITY) {
        return f64::NAN;
    }
    // No monotonicity repair here: Prometheus 3.5 computes the fraction from the counts as they are.
    let count = buckets[buckets.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    for (i, b) in buckets.iter().enumerate() {
        // Unlike histogram_quantile, Prometheus 3.5 lets the first classic bucket start at -Inf, so a bound
        // inside it interpolates to NaN.
        let lower_bound = if i > 0 { buckets[i - 1].upper } else { f64::NEG_INFINITY };
        let upper_bound = b.upper;
        let interp = |v: f64| rank + (b.count - rank) * (v - lower_bound) / (upper_bound - lower_bound);
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interp(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interp(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = b.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

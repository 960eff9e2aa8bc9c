//! The rate family: `rate`, `increase`, `delta` (extrapolated to the window edges as Prometheus does),
//! `irate`, `idelta` (last two samples), `deriv` and `predict_linear` (least-squares regression).

use crate::parser::Anchor;

use super::{Out, Shape, over_windows, scalar_arg, take_matrix_arg};
use crate::engine::Error;
use crate::engine::aggregate::kahan_inc;
use crate::engine::eval::{Evaluator, Matrix, Val};

/// Dispatches one rate-family function; its value in `shape`.
pub(crate) fn call(
    ev: &mut Evaluator<'_>,
    name: &str,
    mut vals: Vec<Val>,
    ts: &[i64],
    shape: Shape<'_>,
) -> Result<Out, Error> {
    let func_name = name;
    let Matrix { series: all, windows } = take_matrix_arg(&mut vals, 0)?;
    let param = if name == "predict_linear" {
        Some(scalar_arg(&vals, 1)?)
    } else {
        None
    };
    #[derive(Clone, Copy, PartialEq)]
    enum F {
        Rate,
        Increase,
        Delta,
        Irate,
        Idelta,
        Deriv,
        PredictLinear,
    }
    let f = match name {
        "rate" => F::Rate,
        "increase" => F::Increase,
        "delta" => F::Delta,
        "irate" => F::Irate,
        "idelta" => F::Idelta,
        "deriv" => F::Deriv,
        _ => F::PredictLinear,
    };
    let value = |w: &[(i64, f64)], i: usize| -> Option<f64> {
        let (lo, hi) = windows[i];
        match f {
            F::Rate => extrapolated(w, lo, hi, true, true),
            F::Increase => extrapolated(w, lo, hi, true, false),
            F::Delta => extrapolated(w, lo, hi, false, false),
            F::Irate => instant_value(w, true),
            F::Idelta => instant_value(w, false),
            F::Deriv => {
                if w.len() < 2 {
                    None
                } else {
                    Some(linear_regression(w, w[0].0).0)
                }
            }
            F::PredictLinear => {
                let dur = param.and_then(|p| p.get(i)).copied().unwrap_or(f64::NAN);
                if w.len() < 2 {
                    None
                } else {
                    let (slope, intercept) = linear_regression(w, ts[i]);
                    Some(slope * dur + intercept)
                }
            }
        }
    };
    // Prometheus checks the name of every series a rate/increase reads, from a selector or a subquery.
    let counter_check = matches!(f, F::Rate | F::Increase);
    let mut not_counters: Vec<String> = Vec::new();
    let (out, notes) = over_windows(
        ev.checker(),
        all,
        &windows,
        ts,
        shape,
        |n| ev.step_vectors(ts.len(), n),
        |_| true,
        value,
        |series| counter_check && !series.drop_name && !counter_name(series.labels.metric_name().unwrap_or("")),
        |series| {
            let name = series.labels.metric_name().unwrap_or("");
            if !not_counters.iter().any(|n| n == name) {
                not_counters.push(name.to_owned());
            }
        },
    )?;
    if let Some(n) = notes {
        ev.note_lazy_windows(n, ts.len());
    }
    for name in not_counters {
        ev.info(
            format!("metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {name:?}"),
            Anchor::CallArg {
                func: func_name.to_owned(),
                arg: 0,
                metric: Some(name),
                number: None,
            },
        );
    }
    Ok(out)
}

/// Whether a rate/increase over a series of this name raises no not-a-counter notice: no name, or one
/// with a counter's suffix.
fn counter_name(name: &str) -> bool {
    name.is_empty()
        || ["_total", "_sum", "_count", "_bucket"]
            .iter()
            .any(|s| name.ends_with(s))
}

/// Prometheus's extrapolated rate over the window `(range_start, range_end]`.
fn extrapolated(w: &[(i64, f64)], range_start: i64, range_end: i64, is_counter: bool, is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let first = w[0];
    let last = w[w.len() - 1];
    let mut result = last.1 - first.1;
    if is_counter {
        let mut last_value = 0.0;
        for &(_, v) in w {
            if v < last_value {
                result += last_value;
            }
            last_value = v;
        }
    }
    // Differences are taken in f64: window bounds may be far outside the i64 range of real samples.
    let mut to_start = (first.0 as f64 - range_start as f64) / 1000.0;
    let mut to_end = (range_end as f64 - last.0 as f64) / 1000.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let avg_between = sampled / (w.len() - 1) as f64;
    let threshold = avg_between * 1.1;
    let mut extrapolate_to = sampled;
    if to_start >= threshold {
        to_start = avg_between / 2.0;
    }
    if is_counter && result > 0.0 && first.1 >= 0.0 {
        // A counter cannot go below zero: do not extrapolate past the point where it would reach zero.
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    extrapolate_to += to_start;
    if to_end >= threshold {
        to_end = avg_between / 2.0;
    }
    extrapolate_to += to_end;
    let mut factor = extrapolate_to / sampled;
    if is_rate {
        factor /= (range_end as f64 - range_start as f64) / 1000.0;
    }
    Some(result * factor)
}

/// `irate`/`idelta`: from the last two samples.
fn instant_value(w: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let last = w[w.len() - 1];
    let prev = w[w.len() - 2];
    let mut v = if is_rate && last.1 < prev.1 {
        last.1
    } else {
        last.1 - prev.1
    };
    let interval = last.0 - prev.0;
    if interval == 0 {
        return None;
    }
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

/// Least-squares slope (per second) and intercept at `intercept_time`, with compensated sums.
pub(crate) fn linear_regression(w: &[(i64, f64)], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut cx, mut sum_y, mut cy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut cxy, mut sum_x2, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = w[0].1;
    let mut const_y = true;
    for (i, &(t, v)) in w.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t as f64 - intercept_time as f64) / 1e3;
        (sum_x, cx) = kahan_inc(x, sum_x, cx);
        (sum_y, cy) = kahan_inc(v, sum_y, cy);
        (sum_xy, cxy) = kahan_inc(x * v, sum_xy, cxy);
        (sum_x2, cx2) = kahan_inc(x * x, sum_x2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += cx;
    sum_y += cy;
    sum_xy += cxy;
    sum_x2 += cx2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

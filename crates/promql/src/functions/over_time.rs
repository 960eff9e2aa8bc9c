//! Functions over a range window of each series: `*_over_time`, `changes`, `resets` and
//! `double_exponential_smoothing`.

use crate::parser::Anchor;

use super::{Out, Shape, over_windows, scalar_arg, take_matrix_arg};
use crate::engine::Error;
use crate::engine::aggregate::{go_float, kahan_inc, quantile};
use crate::engine::eval::{Evaluator, Matrix, Val};

/// A function of one window's points and the step index.
type WindowFn<'a> = dyn Fn(&[(i64, f64)], usize) -> Option<f64> + Sync + 'a;

/// Dispatches one range-window function.
pub(crate) fn call(
    ev: &mut Evaluator<'_>,
    name: &str,
    mut vals: Vec<Val>,
    ts: &[i64],
    shape: Shape<'_>,
) -> Result<Out, Error> {
    // quantile_over_time takes the scalar first; the others the range first.
    let at = usize::from(name == "quantile_over_time");
    let m = take_matrix_arg(&mut vals, at)?;
    let params: Vec<&[f64]> = match name {
        "quantile_over_time" => vec![scalar_arg(&vals, 0)?],
        "double_exponential_smoothing" | "holt_winters" => vec![scalar_arg(&vals, 1)?, scalar_arg(&vals, 2)?],
        _ => Vec::new(),
    };
    if matches!(name, "double_exponential_smoothing" | "holt_winters") {
        for (&sf, &tf) in params[0].iter().zip(params[1]) {
            if !(sf > 0.0 && sf < 1.0) {
                return Err(Error::exec(format!(
                    "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
                )));
            }
            if !(tf > 0.0 && tf < 1.0) {
                return Err(Error::exec(format!(
                    "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
                )));
            }
        }
    }
    let keep_name = matches!(name, "last_over_time" | "first_over_time");
    // The function is chosen once, not per series and step.
    #[allow(unused_variables)]
    let f: Box<WindowFn<'_>> = match name {
        "avg_over_time" => Box::new(|w: &[(i64, f64)], i: usize| Some(avg(w))),
        "sum_over_time" => Box::new(|w: &[(i64, f64)], i: usize| {
            let (s, c) = w.iter().fold((0.0, 0.0), |(s, c), p| kahan_inc(p.1, s, c));
            Some(s + c)
        }),
        "count_over_time" => Box::new(|w: &[(i64, f64)], i: usize| Some(w.len() as f64)),
        "min_over_time" => Box::new(|w: &[(i64, f64)], i: usize| {
            Some(
                w.iter()
                    .skip(1)
                    .fold(w[0].1, |m, p| if p.1 < m || m.is_nan() { p.1 } else { m }),
            )
        }),
        "max_over_time" => Box::new(|w: &[(i64, f64)], i: usize| {
            Some(
                w.iter()
                    .skip(1)
                    .fold(w[0].1, |m, p| if p.1 > m || m.is_nan() { p.1 } else { m }),
            )
        }),
        "last_over_time" => Box::new(|w: &[(i64, f64)], i: usize| Some(w[w.len() - 1].1)),
        "first_over_time" => Box::new(|w: &[(i64, f64)], i: usize| Some(w[0].1)),
        "ts_of_last_over_time" => Box::new(|w: &[(i64, f64)], i: usize| Some(w[w.len() - 1].0 as f64 / 1000.0)),
        "ts_of_first_over_time" => Box::new(|w: &[(i64, f64)], i: usize| Some(w[0].0 as f64 / 1000.0)),
        "ts_of_max_over_time" => Box::new(|w: &[(i64, f64)], i: usize| Some(ts_of_extreme(w, |a, b| a > b))),
        "ts_of_min_over_time" => Box::new(|w: &[(i64, f64)], i: usize| Some(ts_of_extreme(w, |a, b| a < b))),
        "present_over_time" => Box::new(|w: &[(i64, f64)], i: usize| Some(1.0)),
        "stdvar_over_time" => Box::new(|w: &[(i64, f64)], i: usize| Some(variance(w))),
        "stddev_over_time" => Box::new(|w: &[(i64, f64)], i: usize| Some(variance(w).sqrt())),
        "quantile_over_time" => Box::new(|w: &[(i64, f64)], i: usize| {
            let mut vs: Vec<f64> = w.iter().map(|p| p.1).collect();
            Some(quantile(params[0][i], &mut vs))
        }),
        "mad_over_time" => Box::new(|w: &[(i64, f64)], i: usize| {
            let mut vs: Vec<f64> = w.iter().map(|p| p.1).collect();
            let median = quantile(0.5, &mut vs);
            let mut dev: Vec<f64> = vs.iter().map(|v| (v - median).abs()).collect();
            Some(quantile(0.5, &mut dev))
        }),
        "changes" => Box::new(|w: &[(i64, f64)], i: usize| {
            let mut n = 0.0;
            for p in w.windows(2) {
                if p[1].1 != p[0].1 && !(p[1].1.is_nan() && p[0].1.is_nan()) {
                    n += 1.0;
                }
            }
            Some(n)
        }),
        "resets" => {
            Box::new(|w: &[(i64, f64)], i: usize| Some(w.windows(2).filter(|p| p[1].1 < p[0].1).count() as f64))
        }
        _ => Box::new(|w: &[(i64, f64)], i: usize| smoothing(w, params[0][i], params[1][i])),
    };
    let Matrix { series, windows } = m;
    let (out, notes) = over_windows(
        ev.checker(),
        series,
        &windows,
        ts,
        shape,
        |n| ev.step_vectors(ts.len(), n),
        |series| series.drop_name || !keep_name,
        f,
        |_| false,
        |_| {},
    )?;
    if let Some(n) = notes {
        ev.note_lazy_windows(n, ts.len());
    }
    if name == "quantile_over_time" {
        // Prometheus warns about the quantile only where some series has samples in its window.
        for (&q, any) in params[0].iter().zip(out.nonempty_steps(ts)) {
            if !(0.0..=1.0).contains(&q) && any {
                ev.warn(
                    format!("quantile value should be between 0 and 1, got {}", go_float(q)),
                    Anchor::CallArg {
                        func: "quantile_over_time".to_owned(),
                        arg: 0,
                        metric: None,
                        number: Some(q),
                    },
                );
            }
        }
    }
    Ok(out)
}

/// The timestamp (s) of the last sample holding the extreme value (NaN values are skipped unless all are).
fn ts_of_extreme(w: &[(i64, f64)], better: impl Fn(f64, f64) -> bool) -> f64 {
    let mut best = w[0];
    for &p in &w[1..] {
        if better(p.1, best.1) || best.1.is_nan() || (p.1 == best.1) {
            best = p;
        }
    }
    best.0 as f64 / 1000.0
}

/// Mean as Prometheus computes it: compensated sum, switching to an incremental mean on overflow.
fn avg(w: &[(i64, f64)]) -> f64 {
    let (mut sum, mut mean, mut count, mut c) = (0.0, 0.0, 0.0, 0.0);
    let mut incremental = false;
    for &(_, v) in w {
        count += 1.0;
        if !incremental {
            let (ns, nc) = kahan_inc(v, sum, c);
            if count == 1.0 || !ns.is_infinite() {
                sum = ns;
                c = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        let corrected = mean + c;
        (mean, c) = kahan_inc(v / count - corrected / count, mean, c);
    }
    if incremental { mean + c } else { (sum + c) / count }
}

/// Population variance with compensated running sums.
fn variance(w: &[(i64, f64)]) -> f64 {
    let (mut count, mut mean, mut cmean, mut aux, mut caux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(_, v) in w {
        count += 1.0;
        let delta = v - (mean + cmean);
        (mean, cmean) = kahan_inc(delta / count, mean, cmean);
        (aux, caux) = kahan_inc(delta * (v - (mean + cmean)), aux, caux);
    }
    (aux + caux) / count
}

/// Holt's double exponential smoothing; needs two points.
fn smoothing(w: &[(i64, f64)], sf: f64, tf: f64) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let mut s0 = 0.0;
    let mut s1 = w[0].1;
    let mut b = w[1].1 - w[0].1;
    for (i, &(_, v)) in w.iter().enumerate().skip(1) {
        let x = sf * v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}

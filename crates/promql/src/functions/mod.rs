//! PromQL functions, one file per family: [`rate`] (rate, increase, delta, irate, idelta, deriv,
//! predict_linear), [`over_time`] (`*_over_time`, changes, resets, double_exponential_smoothing),
//! [`histogram`] (classic-bucket histogram_quantile / histogram_fraction), [`math`] (element-wise maths and
//! trigonometry, clamp, round), [`label`] (label_replace, label_join, sort*), [`time`] (time(), date
//! functions, timestamp). [`call`] evaluates the arguments and dispatches by name.

pub(crate) mod histogram;
pub(crate) mod info;
pub(crate) mod label;
pub(crate) mod math;
pub(crate) mod over_time;
pub(crate) mod rate;
pub(crate) mod time;

use std::sync::Arc;

use diamond_model::{Labels, METRIC_NAME, MatchOp};
use promql_parser::parser::{Call, Expr};

use crate::engine::Error;
use crate::engine::eval::{Evaluator, Matrix, Sample, Val};

/// Evaluates a function call at every step.
pub(crate) fn call(ev: &mut Evaluator<'_>, c: &Call, ts: &[i64]) -> Result<Val, Error> {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
    if name == "timestamp" {
        return time::timestamp(ev, args.first().copied(), ts);
    }
    if name == "info" {
        // The second argument is a label selector, not a vector to evaluate.
        let Some(first) = args.first() else {
            return Err(Error::bad_data(
                "expected at least 1 argument(s) in call to \"info\", got 0",
            ));
        };
        let v = ev.eval(first, ts)?;
        return info::call(ev, &args, vector_arg(vec![v], 0)?, ts);
    }
    let mut vals = Vec::with_capacity(args.len());
    for a in &args {
        vals.push(ev.eval_range_arg(a, ts)?);
    }
    ev.note_gathered(&vals.iter().collect::<Vec<_>>());
    match name {
        "rate" | "increase" | "delta" | "irate" | "idelta" | "deriv" | "predict_linear" => {
            rate::call(ev, name, vals, ts)
        }
        "avg_over_time"
        | "sum_over_time"
        | "count_over_time"
        | "min_over_time"
        | "max_over_time"
        | "last_over_time"
        | "first_over_time"
        | "present_over_time"
        | "stddev_over_time"
        | "stdvar_over_time"
        | "quantile_over_time"
        | "mad_over_time"
        | "changes"
        | "resets"
        | "double_exponential_smoothing"
        | "holt_winters"
        | "ts_of_max_over_time"
        | "ts_of_min_over_time"
        | "ts_of_last_over_time"
        | "ts_of_first_over_time" => over_time::call(ev, name, vals, ts),
        "absent_over_time" => {
            let m = matrix_arg(&vals, 0)?;
            let out = (0..ts.len())
                .map(|i| {
                    let any = (0..m.series.len()).any(|s| !m.window(s, i).is_empty());
                    if any {
                        Vec::new()
                    } else {
                        vec![absent_sample(args.first().copied())]
                    }
                })
                .collect();
            Ok(Val::Vector(out))
        }
        "absent" => {
            let v = vector_arg(vals, 0)?;
            Ok(Val::Vector(
                v.into_iter()
                    .map(|step| {
                        if step.is_empty() {
                            vec![absent_sample(args.first().copied())]
                        } else {
                            Vec::new()
                        }
                    })
                    .collect(),
            ))
        }
        "histogram_quantile" | "histogram_fraction" => histogram::call(ev, name, vals, ts),
        // Native-histogram functions see no histograms among float series, so they return nothing.
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev" | "histogram_stdvar" => {
            Ok(Val::Vector(vec![Vec::new(); ts.len()]))
        }
        "label_replace" | "label_join" | "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => {
            label::call(ev, name, vals, ts)
        }
        "time" | "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute" | "month"
        | "year" => time::call(name, vals, ts),
        "vector" => {
            let s = scalar_arg(&vals, 0)?;
            Ok(Val::Vector(
                s.iter()
                    .map(|&v| {
                        vec![Sample {
                            labels: Arc::new(Labels::empty()),
                            v,
                            drop_name: false,
                        }]
                    })
                    .collect(),
            ))
        }
        "scalar" => {
            let v = vector_arg(vals, 0)?;
            Ok(Val::Scalar(
                v.into_iter()
                    .map(|step| if step.len() == 1 { step[0].v } else { f64::NAN })
                    .collect(),
            ))
        }
        "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; ts.len()])),
        _ => math::call(ev, name, vals, ts),
    }
}

/// The labels `absent`/`absent_over_time` give their output: the selector's `=` matchers, except names
/// matched more than once (Prometheus keeps that historic behaviour).
fn absent_sample(mut arg: Option<&Expr>) -> Sample {
    // Prometheus looks through parentheses for the selector.
    while let Some(Expr::Paren(p)) = arg {
        arg = Some(&p.expr);
    }
    let vs = match arg {
        Some(Expr::VectorSelector(vs)) => Some(vs),
        Some(Expr::MatrixSelector(ms)) => Some(&ms.vs),
        _ => None,
    };
    let mut b = Labels::empty().builder();
    if let Some(vs) = vs
        && let Ok(ms) = crate::parser::selector_matchers(vs)
    {
        // Measured against Prometheus 3.5: a name with a negative matcher (`!=`, `!~`) never reaches
        // the output, wherever that matcher stands (`{a!="x", a="y"}` gives `{}` just as
        // `{a="y", a!="x"}` does), while `=~` only removes the name if it follows the `=`. Processing
        // the negative matchers after all others gives exactly that.
        let (pos, neg): (Vec<_>, Vec<_>) = ms
            .into_iter()
            .partition(|m| !matches!(m.op, MatchOp::NotEqual | MatchOp::NotRegex));
        let mut has = std::collections::HashSet::new();
        for m in pos.into_iter().chain(neg) {
            if m.name == METRIC_NAME {
                continue;
            }
            if m.op == MatchOp::Equal && !has.contains(&m.name) {
                b.set(&m.name, &m.value);
                has.insert(m.name.clone());
            } else {
                b.del(&m.name);
            }
        }
    }
    Sample {
        labels: Arc::new(b.build()),
        v: 1.0,
        drop_name: false,
    }
}

/// Argument `i` as a range vector.
pub(crate) fn matrix_arg(vals: &[Val], i: usize) -> Result<&Matrix, Error> {
    match vals.get(i) {
        Some(Val::Matrix(m)) => Ok(m),
        _ => Err(Error::bad_data(format!("expected range vector as argument {}", i + 1))),
    }
}

/// Argument `i` as per-step scalars.
pub(crate) fn scalar_arg(vals: &[Val], i: usize) -> Result<&[f64], Error> {
    match vals.get(i) {
        Some(Val::Scalar(s)) => Ok(s),
        _ => Err(Error::bad_data(format!("expected scalar as argument {}", i + 1))),
    }
}

/// Argument `i` as a string.
pub(crate) fn string_arg(vals: &[Val], i: usize) -> Result<&str, Error> {
    match vals.get(i) {
        Some(Val::String(s)) => Ok(s),
        _ => Err(Error::bad_data(format!("expected string as argument {}", i + 1))),
    }
}

/// Takes argument `i` as per-step vectors.
pub(crate) fn vector_arg(mut vals: Vec<Val>, i: usize) -> Result<Vec<Vec<Sample>>, Error> {
    if i < vals.len()
        && let Val::Vector(v) = vals.swap_remove(i)
    {
        return Ok(v);
    }
    Err(Error::bad_data(format!(
        "expected instant vector as argument {}",
        i + 1
    )))
}

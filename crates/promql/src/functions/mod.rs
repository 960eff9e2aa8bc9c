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

use smallvec::SmallVec;

use diamond_model::{Labels, METRIC_NAME, MatchOp};
use promql_parser::parser::{Call, Expr};

use crate::engine::Error;
use crate::engine::eval::{
    Checker, Evaluator, Matrix, Points, RangeBuf, Sample, SeriesOut, Val, WindowCursor, WindowNotes,
};

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
    let vals = eval_args(ev, &args, ts, computes_by_series(c))?;
    match name {
        _ if RATE_FAMILY.contains(&name) => rate::call(ev, name, vals, ts, Shape::Steps)?.into_steps(),
        _ if OVER_TIME_FAMILY.contains(&name) => over_time::call(ev, name, vals, ts, Shape::Steps)?.into_steps(),
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

/// The rate family ([`rate`]), computed series by series.
const RATE_FAMILY: [&str; 7] = [
    "rate",
    "increase",
    "delta",
    "irate",
    "idelta",
    "deriv",
    "predict_linear",
];

/// The functions of each series' windows ([`over_time`]), computed series by series.
const OVER_TIME_FAMILY: [&str; 20] = [
    "avg_over_time",
    "sum_over_time",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "last_over_time",
    "first_over_time",
    "present_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "quantile_over_time",
    "mad_over_time",
    "changes",
    "resets",
    "double_exponential_smoothing",
    "holt_winters",
    "ts_of_max_over_time",
    "ts_of_min_over_time",
    "ts_of_last_over_time",
    "ts_of_first_over_time",
];

/// Evaluates a call's arguments (range arguments as such) and notes them as gathered. `lazy`: the call
/// reads its range argument through [`over_windows`], which decodes undecoded series itself.
fn eval_args(ev: &mut Evaluator<'_>, args: &[&Expr], ts: &[i64], lazy: bool) -> Result<Vec<Val>, Error> {
    let mut vals = Vec::with_capacity(args.len());
    for a in args {
        vals.push(ev.eval_range_arg(a, ts, lazy)?);
    }
    ev.note_gathered(&vals.iter().collect::<Vec<_>>());
    Ok(vals)
}

/// Whether `c` computes its value series by series, each series from its own windows, so that it can
/// hand the value over in that shape ([`call_by_series`]).
pub(crate) fn computes_by_series(c: &Call) -> bool {
    RATE_FAMILY.contains(&c.func.name) || OVER_TIME_FAMILY.contains(&c.func.name)
}

/// Evaluates a call for which [`computes_by_series`] holds, giving its value series by series.
pub(crate) fn call_by_series(ev: &mut Evaluator<'_>, c: &Call, ts: &[i64]) -> Result<Vec<SeriesOut>, Error> {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
    let vals = eval_args(ev, &args, ts, true)?;
    let out = if RATE_FAMILY.contains(&name) {
        rate::call(ev, name, vals, ts, Shape::Series)?
    } else {
        over_time::call(ev, name, vals, ts, Shape::Series)?
    };
    match out {
        Out::Series(s) => Ok(s),
        _ => Err(Error {
            kind: crate::engine::ErrorKind::Internal,
            message: format!("{name} gave its value in another shape than by series"),
        }),
    }
}

/// Evaluates a call for which [`computes_by_series`] holds, handing each value to `fold` as it is
/// computed instead of holding them all (an aggregation over the call, see
/// [`crate::engine::aggregate`]).
pub(crate) fn call_folded(ev: &mut Evaluator<'_>, c: &Call, ts: &[i64], fold: &mut dyn Fold) -> Result<Folded, Error> {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
    let vals = eval_args(ev, &args, ts, true)?;
    let out = if RATE_FAMILY.contains(&name) {
        rate::call(ev, name, vals, ts, Shape::Fold(fold))?
    } else {
        over_time::call(ev, name, vals, ts, Shape::Fold(fold))?
    };
    match out {
        Out::Folded(f) => Ok(f),
        _ => Err(Error {
            kind: crate::engine::ErrorKind::Internal,
            message: format!("{name} did not fold its value where it was asked to"),
        }),
    }
}

/// The shape a function computed series by series gives its value in.
pub(crate) enum Shape<'f> {
    /// One vector per step, as every node of the evaluator gives and takes.
    Steps,
    /// One [`SeriesOut`] per series that has values: for a range query's root only.
    Series,
    /// Each value handed to a [`Fold`] as soon as it is computed, none held.
    Fold(&'f mut dyn Fold),
}

/// What consumes a function's values one by one, in the order a step vector would hold them (series in
/// input order): an aggregation over the function, which then never holds the function's whole value.
pub(crate) trait Fold {
    /// Called once before any value: the input series and, per series, whether its values have their
    /// name removed.
    fn begin(&mut self, series: &[RangeBuf], drop_name: &[bool]);
    /// The value of input series `series` at step `step`; the series of one step arrive in input order.
    fn push(&mut self, series: usize, step: usize, s: Sample);
}

/// What a folded evaluation tells the evaluator about the value it did not hold.
pub(crate) struct Folded {
    /// Per input series that had values: its labels' address and how many values it had.
    pub counts: Vec<(usize, usize)>,
    /// Per step, whether any series had a value there.
    pub nonempty: Vec<bool>,
}

/// A value in the [`Shape`] asked for.
pub(crate) enum Out {
    /// See [`Shape::Steps`].
    Steps(Vec<Vec<Sample>>),
    /// See [`Shape::Series`].
    Series(Vec<SeriesOut>),
    /// See [`Shape::Fold`].
    Folded(Folded),
}

impl Out {
    /// The value step by step; asked for in [`Shape::Steps`], so it is in that shape.
    fn into_steps(self) -> Result<Val, Error> {
        match self {
            Out::Steps(steps) => Ok(Val::Vector(steps)),
            Out::Series(_) | Out::Folded(_) => Err(Error {
                kind: crate::engine::ErrorKind::Internal,
                message: "a function gave its value in another shape than by step".to_owned(),
            }),
        }
    }

    /// Per step `ts[i]`, whether any series has a value there.
    pub(crate) fn nonempty_steps(&self, ts: &[i64]) -> Vec<bool> {
        match self {
            Out::Steps(steps) => steps.iter().map(|s| !s.is_empty()).collect(),
            Out::Folded(f) => f.nonempty.clone(),
            Out::Series(all) => {
                let mut any = vec![false; ts.len()];
                for s in all {
                    let mut j = 0;
                    for &(t, _) in &s.points {
                        if let Some(k) = ts[j..].iter().position(|&x| x == t) {
                            j += k;
                            any[j] = true;
                        }
                    }
                }
                any
            }
        }
    }
}

/// Series below which [`over_windows`] works on the calling thread.
const PARALLEL_MIN: usize = 256;

/// Applies `f` (window points, step index) to the non-empty window of every step of every series, and
/// gives the values in `shape`, series in input order. The series are split into batches worked on in
/// parallel on rayon's pool (Prometheus computes them one by one on the query's goroutine); a batch's
/// per-series values are spread over the steps before the next batch starts, which bounds what is held
/// twice. The series are taken by value, and each series' points are freed by the thread that computed
/// its values. `flag` is asked, on the worker, of each series that gets at least one value; `flagged` is
/// then called, in order, for those it answered true (the rate family's not-a-counter notice: reading
/// every series' name on the calling thread was 5 % of an instant query over 10k series).
#[allow(clippy::too_many_arguments)] // each is one concern of the caller's; a struct would only rename them
pub(crate) fn over_windows<F>(
    check: Checker<'_>,
    series: Vec<RangeBuf>,
    windows: &[(i64, i64)],
    ts: &[i64],
    shape: Shape<'_>,
    step_capacity: impl FnOnce(usize) -> Vec<Vec<Sample>>,
    drop_name: impl Fn(&RangeBuf) -> bool,
    f: F,
    flag: impl Fn(&RangeBuf) -> bool + Sync,
    mut flagged: impl FnMut(&RangeBuf),
) -> Result<(Out, Option<WindowNotes>), Error>
where
    F: Fn(&[(i64, f64)], usize) -> Option<f64> + Sync,
{
    use rayon::prelude::*;
    // Series left undecoded by the selector are decoded here, each just before its windows are read and
    // freed right after (`hint`: the previous series' length, to size the buffer).
    let one = |hint: &mut usize, buf: &mut RangeBuf| -> SeriesValues {
        let mut note = SeriesNote::default();
        if let Points::Pending(p) = &buf.points {
            let pts = crate::engine::selector::decode_pending(p, *hint);
            *hint = pts.len();
            note.decoded = true;
            buf.points = Points::Owned(pts);
        }
        note.points = buf.points.len();
        let mut cursor = WindowCursor::new(&buf.points, windows);
        // One step's value stays inline: an instant query's workers then allocate nothing per series that
        // the query's thread must free (a free into another thread's glibc arena takes that arena's lock,
        // which the worker is holding as it allocates).
        let mut pts: SmallVec<[(i64, f64); 1]> =
            SmallVec::with_capacity(ts.len().min(buf.points.len().saturating_mul(4).max(16)));
        for (i, &t) in ts.iter().enumerate() {
            let w = cursor.window(i);
            if note.decoded {
                note.last = w.len();
                note.max = note.max.max(w.len());
                note.window_points = note.window_points.saturating_add(w.len());
            }
            if w.is_empty() {
                continue;
            }
            if let Some(v) = f(w, i) {
                pts.push((t, v));
            }
        }
        let flagged = !pts.is_empty() && flag(buf);
        buf.points = Points::Owned(Vec::new());
        (pts, flagged, note)
    };
    let lazy = series.iter().any(|s| matches!(s.points, Points::Pending(_)));
    let mut notes = WindowNotes::default();
    let total = series.len();
    let mut shape = shape;
    let mut steps = match shape {
        Shape::Steps => step_capacity(total),
        Shape::Series | Shape::Fold(_) => Vec::new(),
    };
    let mut by_series = Vec::with_capacity(if matches!(shape, Shape::Series) { total } else { 0 });
    let mut folded = Folded {
        counts: Vec::new(),
        nonempty: Vec::new(),
    };
    if let Shape::Fold(fold) = &mut shape {
        let drops: Vec<bool> = series.iter().map(&drop_name).collect();
        fold.begin(&series, &drops);
        folded.nonempty = vec![false; ts.len()];
    }
    // About four million points per batch at most, however many steps; a fold holds no values, so its
    // batches are smaller, to hold fewer at once.
    let points = if matches!(shape, Shape::Fold(_)) {
        1_000_000
    } else {
        4_000_000
    };
    let batch = (points / ts.len().max(1)).clamp(64, 8192);
    let parallel = total >= PARALLEL_MIN && rayon::current_num_threads() > 1;
    let mut rest = series.into_iter();
    let mut first = 0usize;
    loop {
        check.check()?;
        let mut bufs: Vec<RangeBuf> = rest.by_ref().take(batch).collect();
        if bufs.is_empty() {
            break;
        }
        let values: Vec<SeriesValues> = if parallel {
            bufs.par_iter_mut().map_init(|| 0usize, one).collect()
        } else {
            let mut hint = 0;
            bufs.iter_mut().map(|b| one(&mut hint, b)).collect()
        };
        let base = first;
        first += bufs.len();
        for (k, (buf, (mut pts, is_flagged, note))) in bufs.into_iter().zip(values).enumerate() {
            if lazy {
                notes
                    .series
                    .push((Arc::as_ptr(&buf.labels) as usize, note.max, note.last));
                notes.bound = notes.bound.max(note.points);
                notes.window_points = notes.window_points.saturating_add(note.window_points);
                if note.decoded {
                    notes.series_loaded += 1;
                    notes.samples_loaded += note.points;
                }
            }
            if pts.is_empty() {
                continue;
            }
            if is_flagged {
                flagged(&buf);
            }
            let drop = drop_name(&buf);
            match &mut shape {
                Shape::Fold(fold) => {
                    folded.counts.push((Arc::as_ptr(&buf.labels) as usize, pts.len()));
                    let mut j = 0;
                    for (t, v) in pts {
                        let Some(d) = ts[j..].iter().position(|&x| x == t) else {
                            continue;
                        };
                        j += d;
                        folded.nonempty[j] = true;
                        fold.push(
                            base + k,
                            j,
                            Sample {
                                labels: Arc::clone(&buf.labels),
                                v,
                                drop_name: drop,
                            },
                        );
                    }
                }
                Shape::Steps => {
                    let mut j = 0;
                    for (t, v) in pts {
                        // `ts` ascends and every point is at one of its times, found from the last one on.
                        let Some(k) = ts[j..].iter().position(|&x| x == t) else {
                            continue;
                        };
                        j += k;
                        steps[j].push(Sample {
                            labels: Arc::clone(&buf.labels),
                            v,
                            drop_name: drop,
                        });
                    }
                }
                Shape::Series => {
                    if pts.len() < pts.capacity() / 2 {
                        pts.shrink_to_fit();
                    }
                    by_series.push(SeriesOut {
                        labels: buf.labels,
                        drop_name: drop,
                        points: pts.into_vec(),
                    });
                }
            }
        }
    }
    let out = match shape {
        Shape::Steps => Out::Steps(steps),
        Shape::Series => Out::Series(by_series),
        Shape::Fold(_) => Out::Folded(folded),
    };
    Ok((out, lazy.then_some(notes)))
}

/// One series' values from [`over_windows`]'s worker: (step time, value), whether it is flagged, and
/// what was seen of its windows.
type SeriesValues = (SmallVec<[(i64, f64); 1]>, bool, SeriesNote);

/// What [`over_windows`] saw of one series' windows, for [`WindowNotes`].
#[derive(Default)]
struct SeriesNote {
    /// Whether it decoded the series itself.
    decoded: bool,
    points: usize,
    max: usize,
    last: usize,
    window_points: usize,
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

/// Takes argument `i`, a range vector, by value (leaving an empty scalar), so that its series' buffers can
/// be freed as soon as their values are computed.
pub(crate) fn take_matrix_arg(vals: &mut [Val], i: usize) -> Result<Matrix, Error> {
    matrix_arg(vals, i)?;
    match std::mem::replace(&mut vals[i], Val::Scalar(Vec::new())) {
        Val::Matrix(m) => Ok(m),
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

//! Time functions: `time()`, `timestamp()`, and the calendar functions (`hour`, `day_of_week`, ...), which
//! read each value as Unix seconds in UTC.

use std::sync::Arc;

use diamond_model::Labels;
use promql_parser::parser::Expr;

use super::vector_arg;
use crate::engine::Error;
use crate::engine::eval::{Evaluator, Sample, Val, offset_ms};

/// Dispatches `time()` and the calendar functions.
pub(crate) fn call(name: &str, vals: Vec<Val>, ts: &[i64]) -> Result<Val, Error> {
    if name == "time" {
        return Ok(Val::Scalar(ts.iter().map(|&t| t as f64 / 1000.0).collect()));
    }
    let input: Vec<Vec<Sample>> = if vals.is_empty() {
        ts.iter()
            .map(|&t| {
                vec![Sample {
                    labels: Arc::new(Labels::empty()),
                    v: t as f64 / 1000.0,
                    drop_name: false,
                }]
            })
            .collect()
    } else {
        vector_arg(vals, 0)?
    };
    let f: fn(&Civil) -> f64 = match name {
        "day_of_month" => |c| c.day as f64,
        "day_of_week" => |c| c.weekday as f64,
        "day_of_year" => |c| c.yday as f64,
        "days_in_month" => |c| days_in_month(c.year, c.month) as f64,
        "hour" => |c| c.hour as f64,
        "minute" => |c| c.minute as f64,
        "month" => |c| c.month as f64,
        _ => |c| c.year as f64,
    };
    Ok(Val::Vector(
        input
            .into_iter()
            .map(|step| {
                step.into_iter()
                    .map(|mut s| {
                        s.v = f(&civil(go_calendar_seconds(s.v)));
                        s.drop_name = true;
                        s
                    })
                    .collect()
            })
            .collect(),
    ))
}

/// `timestamp(v)`: the timestamp of each sample; for a plain selector the sample's own time, not the step.
pub(crate) fn timestamp(ev: &mut Evaluator<'_>, arg: Option<&Expr>, ts: &[i64]) -> Result<Val, Error> {
    let Some(arg) = arg else {
        return Err(Error::bad_data("timestamp() needs an argument"));
    };
    let mut inner = arg;
    while let Expr::Paren(p) = inner {
        inner = &p.expr;
    }
    if let Expr::VectorSelector(vs) = inner {
        let offset = offset_ms(&vs.offset);
        let lookback = ev.opts.lookback_delta_ms;
        let times: Vec<i64> = ts.iter().map(|&t| ev.effective_time(&vs.at, offset, t)).collect();
        let (Some(&lo), Some(&hi)) = (times.iter().min(), times.iter().max()) else {
            return Ok(Val::Vector(Vec::new()));
        };
        let series = crate::engine::selector_load(ev, vs, lo.saturating_sub(lookback).saturating_add(1), hi)?;
        let mut out = vec![Vec::new(); ts.len()];
        for (labels, pts) in &series {
            for (i, &t) in times.iter().enumerate() {
                if let Some((st, _)) = crate::engine::sample_at(pts, t, lookback) {
                    out[i].push(Sample {
                        labels: Arc::clone(labels),
                        v: st as f64 / 1000.0,
                        drop_name: true,
                    });
                }
            }
        }
        ev.stats.queryable_samples += out.iter().map(Vec::len).sum::<usize>();
        return Ok(Val::Vector(out));
    }
    let v = vector_arg(vec![ev.eval(arg, ts)?], 0)?;
    Ok(Val::Vector(
        v.into_iter()
            .enumerate()
            .map(|(i, step)| {
                step.into_iter()
                    .map(|mut s| {
                        s.v = ts[i] as f64 / 1000.0;
                        s.drop_name = true;
                        s
                    })
                    .collect()
            })
            .collect(),
    ))
}

/// The Unix second Go's `time.Unix(int64(v), 0)` ends up describing, as Prometheus computes date functions.
/// Go converts NaN and out-of-range floats to `i64::MIN` (amd64), and its calendar arithmetic then wraps
/// around; we reproduce both so that even such inputs give Prometheus's answer.
fn go_calendar_seconds(v: f64) -> i64 {
    const UNIX_TO_INTERNAL: i64 = 62_135_596_800;
    const INTERNAL_TO_ABSOLUTE: i64 = 9_223_371_966_579_724_800;
    let sec = if v.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v) {
        i64::MIN
    } else {
        v as i64
    };
    let abs = sec.wrapping_add(UNIX_TO_INTERNAL).wrapping_add(INTERNAL_TO_ABSOLUTE) as u64;
    let unix = i128::from(abs) - i128::from(UNIX_TO_INTERNAL) - i128::from(INTERNAL_TO_ABSOLUTE);
    i64::try_from(unix).unwrap_or(i64::MAX)
}

/// A UTC calendar date and time.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    weekday: u32,
    yday: u32,
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Converts Unix seconds to a UTC civil time (days-from-civil algorithm by H. Hinnant).
fn civil(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let cum = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let mut yday = cum[(month - 1) as usize] + day;
    if month > 2 && is_leap(year) {
        yday += 1;
    }
    Civil {
        year,
        month,
        day,
        hour: (rem / 3600) as u32,
        minute: ((rem % 3600) / 60) as u32,
        // 1970-01-01 was a Thursday (4).
        weekday: (days + 4).rem_euclid(7) as u32,
        yday,
    }
}

//! Element-wise maths: `abs`, `ceil`, `floor`, `exp`, `sqrt`, `ln`, `log2`, `log10`, `sgn`, trigonometry,
//! `deg`/`rad`, `round`, `clamp`, `clamp_min`, `clamp_max`. All drop the metric name.

use super::{scalar_arg, vector_arg};
use crate::engine::Error;
use crate::engine::eval::{Evaluator, Val};

/// The per-element function for a simple one-argument maths function.
fn simple(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sgn" => |v: f64| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        },
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v: f64| v * 180.0 / std::f64::consts::PI,
        "rad" => |v: f64| v * std::f64::consts::PI / 180.0,
        _ => return None,
    })
}

/// Dispatches one element-wise function.
pub(crate) fn call(_ev: &mut Evaluator<'_>, name: &str, vals: Vec<Val>, ts: &[i64]) -> Result<Val, Error> {
    if let Some(f) = simple(name) {
        return map(vals, |v, _| Some(f(v)));
    }
    match name {
        "round" => {
            let to_nearest: Vec<f64> = if vals.len() > 1 {
                scalar_arg(&vals, 1)?.to_vec()
            } else {
                vec![1.0; ts.len()]
            };
            map(vals, |v, i| {
                // Prometheus rounds half up by scaling with the inverse of to_nearest.
                let inv = 1.0 / to_nearest[i];
                Some((v * inv + 0.5).floor() / inv)
            })
        }
        "clamp" => {
            let (lo, hi) = (scalar_arg(&vals, 1)?.to_vec(), scalar_arg(&vals, 2)?.to_vec());
            map(vals, |v, i| {
                (lo[i] <= hi[i] || lo[i].is_nan() || hi[i].is_nan())
                    .then(|| v.max(lo[i]).min(hi[i]))
                    .map(|x| nan_clamp(v, lo[i], hi[i], x))
            })
        }
        "clamp_min" => {
            let lo = scalar_arg(&vals, 1)?.to_vec();
            map(vals, |v, i| {
                Some(if v.is_nan() || lo[i].is_nan() {
                    f64::NAN
                } else {
                    v.max(lo[i])
                })
            })
        }
        "clamp_max" => {
            let hi = scalar_arg(&vals, 1)?.to_vec();
            map(vals, |v, i| {
                Some(if v.is_nan() || hi[i].is_nan() {
                    f64::NAN
                } else {
                    v.min(hi[i])
                })
            })
        }
        other => Err(Error::bad_data(format!("unknown function {other:?}"))),
    }
}

/// Go's math.Max/Min propagate NaN, Rust's ignore it: restore Go's behaviour.
fn nan_clamp(v: f64, lo: f64, hi: f64, x: f64) -> f64 {
    if v.is_nan() || lo.is_nan() || hi.is_nan() {
        f64::NAN
    } else {
        x
    }
}

/// Applies `f` to every element of the first argument; `None` drops the element.
fn map(vals: Vec<Val>, f: impl Fn(f64, usize) -> Option<f64>) -> Result<Val, Error> {
    let v = vector_arg(vals, 0)?;
    Ok(Val::Vector(
        v.into_iter()
            .enumerate()
            .map(|(i, step)| {
                step.into_iter()
                    .filter_map(|mut s| {
                        s.v = f(s.v, i)?;
                        s.drop_name = true;
                        Some(s)
                    })
                    .collect()
            })
            .collect(),
    ))
}

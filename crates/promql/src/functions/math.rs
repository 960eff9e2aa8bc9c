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
        "exp" => go_exp,
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
        "sinh" => go_sinh,
        "cosh" => go_cosh,
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
            // A step whose bounds cross has no output; NaN bounds do not cross.
            map(vals, |v, i| {
                (hi[i] >= lo[i] || lo[i].is_nan() || hi[i].is_nan()).then(|| go_max(lo[i], go_min(hi[i], v)))
            })
        }
        "clamp_min" => {
            let lo = scalar_arg(&vals, 1)?.to_vec();
            map(vals, |v, i| Some(go_max(lo[i], v)))
        }
        "clamp_max" => {
            let hi = scalar_arg(&vals, 1)?.to_vec();
            map(vals, |v, i| Some(go_min(hi[i], v)))
        }
        other => Err(Error::bad_data(format!("unknown function {other:?}"))),
    }
}

/// Go's `math.Max`, which Prometheus's clamps use: an infinite operand wins over NaN (Rust's `f64::max`
/// instead ignores NaN), NaN otherwise propagates, and +0 is larger than -0.
fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        f64::INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() { y } else { x }
    } else if x > y {
        x
    } else {
        y
    }
}

/// Go's `math.Min`: the mirror of [`go_max`] (-Inf wins over NaN, -0 is smaller than +0).
fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() { x } else { y }
    } else if x < y {
        x
    } else {
        y
    }
}

/// Go's `math.Exp` as Prometheus runs on amd64: the assembly there rounds `x·log2(e)` to the nearest
/// integer exponent first, so every `x` from 1023.5·ln 2 ≈ 709.436 up overflows to +Inf, although `e^x`
/// is finite up to ≈ 709.78 (measured on the reference Prometheus 3.5: `exp(vector(709.4361393031039))`
/// is finite, `exp(vector(709.436139303104))` is `+Inf`). Elsewhere the result is libm's.
fn go_exp(x: f64) -> f64 {
    if x * std::f64::consts::LOG2_E >= 1023.5 {
        f64::INFINITY
    } else {
        x.exp()
    }
}

/// Go's `math.Sinh`, which takes `Exp(|x|)/2` above 21 and so inherits [`go_exp`]'s overflow.
fn go_sinh(x: f64) -> f64 {
    if x.abs() > 21.0 {
        (go_exp(x.abs()) * 0.5).copysign(x)
    } else {
        x.sinh()
    }
}

/// Go's `math.Cosh`: `Exp(|x|)/2` above 21, like [`go_sinh`].
fn go_cosh(x: f64) -> f64 {
    if x.abs() > 21.0 {
        go_exp(x.abs()) * 0.5
    } else {
        x.cosh()
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

#[cfg(test)]
mod tests {
    use super::{go_cosh, go_exp, go_max, go_min, go_sinh};

    /// The overflow edge of Go's amd64 `math.Exp`, as measured on the reference Prometheus.
    #[test]
    fn go_exp_overflows_where_go_does() {
        assert_eq!(go_exp(709.4361393031039), 709.4361393031039f64.exp());
        assert!(go_exp(709.4361393031039).is_finite());
        assert_eq!(go_exp(709.436139303104), f64::INFINITY);
        assert_eq!(go_exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(go_exp(f64::NEG_INFINITY), 0.0);
        assert!(go_exp(f64::NAN).is_nan());
        assert_eq!(go_exp(-745.13), 5e-324);
        assert_eq!(go_sinh(709.7), f64::INFINITY);
        assert_eq!(go_sinh(-709.7), f64::NEG_INFINITY);
        assert_eq!(go_cosh(-709.7), f64::INFINITY);
        assert_eq!(go_sinh(1.0), 1f64.sinh());
        assert!(go_sinh(-0.0).is_sign_negative());
    }

    /// The special cases of Go's math.Max and math.Min, which the clamp functions inherit from Prometheus.
    #[test]
    fn go_min_max_special_cases() {
        let (inf, nan) = (f64::INFINITY, f64::NAN);
        assert_eq!(go_max(nan, inf), inf);
        assert_eq!(go_max(-inf, inf), inf);
        assert!(go_max(nan, -inf).is_nan());
        assert!(go_max(0.9, nan).is_nan());
        assert_eq!(go_min(nan, -inf), -inf);
        assert!(go_min(nan, inf).is_nan());
        assert!(go_min(2.0, nan).is_nan());
        assert!(go_max(-0.0, 0.0).is_sign_positive());
        assert!(go_min(0.0, -0.0).is_sign_negative());
        assert_eq!(go_max(1.0, 2.0), 2.0);
        assert_eq!(go_min(1.0, 2.0), 1.0);
        // clamp(-Inf, 0.9, NaN) in Prometheus: Max(0.9, Min(NaN, -Inf)) = 0.9.
        assert_eq!(go_max(0.9, go_min(nan, -inf)), 0.9);
    }
}

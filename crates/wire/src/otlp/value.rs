//! Label values from OTLP values: attribute values as pdata's `AsString` writes them, floats as Go's
//! `FormatFloat(f, 'f', -1, 64)`, ids as lowercase hex.

use crate::proto::otlp::{self as pb, any_value};

/// A float as Go's `strconv.FormatFloat(f, 'f', -1, 64)` writes it (the `le` and `quantile` values).
pub(super) fn format_float(f: f64) -> String {
    if f == f64::INFINITY {
        "+Inf".to_owned()
    } else if f == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else if f.is_nan() {
        "NaN".to_owned()
    } else {
        // Rust's Display is the shortest round-trip digits without an exponent, like Go's 'f' with -1.
        format!("{f}")
    }
}

/// Lowercase hex.
pub(super) fn to_hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(char::from(DIGITS[usize::from(x >> 4)]));
        s.push(char::from(DIGITS[usize::from(x & 0xf)]));
    }
    s
}

/// An attribute value as a label value (pdata's `Value.AsString`): strings as is, bools and ints in
/// decimal, doubles in ECMAScript number form, bytes in standard base64, arrays and maps as JSON.
pub(super) fn value_string(v: Option<&pb::AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => es_number(*d),
        Some(any_value::Value::BytesValue(b)) => base64(b),
        Some(v @ (any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_))) => {
            let mut s = String::new();
            json(Some(v), &mut s);
            s
        }
    }
}

/// A double as Go's JSON encoder (and so pdata) writes it: no exponent between 1e-6 and 1e21, otherwise
/// `1e+21` / `1e-7` style. Non-finite values are not JSON; pdata writes an error text, mirrored here.
fn es_number(d: f64) -> String {
    if !d.is_finite() {
        let g = if d.is_nan() {
            "NaN"
        } else if d > 0.0 {
            "+Inf"
        } else {
            "-Inf"
        };
        return format!("json: unsupported value: {g}");
    }
    let abs = d.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{d:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        format!("{d}")
    }
}

fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// JSON for nested attribute values, as Go's `encoding/json` writes pdata's raw form: map keys sorted,
/// HTML characters escaped, bytes as base64 strings.
fn json(v: Option<&any_value::Value>, out: &mut String) {
    match v {
        None => out.push_str("null"),
        Some(any_value::Value::StringValue(s)) => json_string(s, out),
        Some(any_value::Value::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(any_value::Value::IntValue(i)) => out.push_str(&i.to_string()),
        Some(any_value::Value::DoubleValue(d)) => out.push_str(&es_number(*d)),
        Some(any_value::Value::BytesValue(b)) => json_string(&base64(b), out),
        Some(any_value::Value::ArrayValue(a)) => {
            out.push('[');
            for (i, x) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json(x.value.as_ref(), out);
            }
            out.push(']');
        }
        Some(any_value::Value::KvlistValue(kv)) => {
            let mut entries: Vec<&pb::KeyValue> = kv.values.iter().collect();
            entries.sort_by(|a, b| a.key.cmp(&b.key));
            // A repeated key keeps its last value, as a Go map would.
            entries.dedup_by(|later, earlier| {
                if later.key == earlier.key {
                    std::mem::swap(later, earlier);
                    true
                } else {
                    false
                }
            });
            out.push('{');
            for (i, e) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(&e.key, out);
                out.push(':');
                json(e.value.as_ref().and_then(|v| v.value.as_ref()), out);
            }
            out.push('}');
        }
    }
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_string_table() {
        use any_value::Value as V;
        let arr = V::ArrayValue(pb::ArrayValue {
            values: vec![
                pb::AnyValue {
                    value: Some(V::IntValue(1)),
                },
                pb::AnyValue {
                    value: Some(V::StringValue("a<b".into())),
                },
                pb::AnyValue { value: None },
            ],
        });
        let kv = |k: &str, v: V| pb::KeyValue {
            key: k.into(),
            value: Some(pb::AnyValue { value: Some(v) }),
        };
        let map = V::KvlistValue(pb::KeyValueList {
            values: vec![
                kv("z", V::BoolValue(true)),
                kv("a", V::DoubleValue(1.5)),
                kv("z", V::BoolValue(false)),
            ],
        });
        let cases: Vec<(Option<V>, &str)> = vec![
            (None, ""),
            (Some(V::StringValue("x y".into())), "x y"),
            (Some(V::BoolValue(true)), "true"),
            (Some(V::IntValue(-42)), "-42"),
            (Some(V::DoubleValue(1.5)), "1.5"),
            (Some(V::DoubleValue(100.0)), "100"),
            (Some(V::DoubleValue(1e21)), "1e+21"),
            (Some(V::DoubleValue(1.5e-7)), "1.5e-7"),
            (Some(V::DoubleValue(0.000001)), "0.000001"),
            (Some(V::BytesValue(b"hello".to_vec())), "aGVsbG8="),
            (Some(V::BytesValue(b"hi".to_vec())), "aGk="),
            (Some(V::BytesValue(vec![])), ""),
            (Some(arr), r#"[1,"a\u003cb",null]"#),
            (Some(map), r#"{"a":1.5,"z":false}"#),
        ];
        for (v, want) in cases {
            let any = pb::AnyValue { value: v.clone() };
            assert_eq!(value_string(Some(&any)), want, "{v:?}");
        }
    }

    #[test]
    fn format_float_like_go() {
        let cases = [
            (0.005, "0.005"),
            (1.0, "1"),
            (2.5, "2.5"),
            (1e-7, "0.0000001"),
            (1e21, "1000000000000000000000"),
            (f64::INFINITY, "+Inf"),
            (-0.5, "-0.5"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float(f), want);
        }
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(to_hex(&[0x4b, 0xf9, 0x00, 0xff]), "4bf900ff");
    }
}

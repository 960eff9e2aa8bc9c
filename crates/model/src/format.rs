//! Number formatting exactly as the Prometheus HTTP API writes it.

use std::fmt::Write as _;

/// Formats a sample value as Prometheus's API does (Go's `strconv.FormatFloat(v, 'f', -1, 64)`, with
/// `NaN`, `+Inf`, `-Inf`): the shortest decimal that round-trips, never an exponent.
pub fn format_value(v: f64) -> String {
    let mut s = String::new();
    write_value(&mut s, v);
    s
}

/// [`format_value`] appended to `buf` without an intermediate allocation (the API's encoders call this once
/// per sample, so it is on the query hot path).
pub fn write_value(buf: &mut String, v: f64) {
    if v.is_nan() {
        buf.push_str("NaN");
    } else if v == f64::INFINITY {
        buf.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        buf.push_str("-Inf");
    } else {
        // Rust's Display for f64 is also shortest-round-trip without exponent, so it matches Go's 'f', -1.
        let _ = write!(buf, "{v}");
    }
}

/// Formats a millisecond timestamp as Prometheus's API does: seconds, then `.` and three digits when the
/// millisecond part is non-zero (`1700000000.123`, `1.500`, `-0.001`).
pub fn format_timestamp(ms: i64) -> String {
    let mut s = String::new();
    write_timestamp(&mut s, ms);
    s
}

/// [`format_timestamp`] appended to `buf` without an intermediate allocation.
pub fn write_timestamp(buf: &mut String, ms: i64) {
    if ms < 0 {
        buf.push('-');
    }
    let t = ms.unsigned_abs();
    let (s, frac) = (t / 1000, t % 1000);
    let _ = write!(buf, "{s}");
    if frac != 0 {
        let _ = write!(buf, ".{frac:03}");
    }
}

/// Parses a float as Prometheus's text formats and API parameters do: Go's `ParseFloat` syntax plus the
/// `Inf`/`NaN` spellings (case-insensitive, optional sign), and hex floats are not accepted.
pub fn parse_value(s: &str) -> Option<f64> {
    let t = s.trim_start_matches(['+', '-']);
    let neg = s.starts_with('-');
    match t.to_ascii_lowercase().as_str() {
        "inf" | "infinity" if s.len() - t.len() <= 1 => {
            return Some(if neg { f64::NEG_INFINITY } else { f64::INFINITY });
        }
        "nan" if s.len() == t.len() => return Some(f64::NAN),
        _ => {}
    }
    // Rust accepts "inf"/"nan" spellings and a leading '+', like Go; digits with '_' are rejected by both.
    if s.is_empty() || s.contains(['_', 'x', 'X']) {
        return None;
    }
    s.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(1.5), "1.5");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(1e-7), "0.0000001");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(-0.0), "-0");
        assert_eq!(format_value(0.1 + 0.2), "0.30000000000000004");
    }

    #[test]
    fn timestamps() {
        assert_eq!(format_timestamp(1_700_000_000_123), "1700000000.123");
        assert_eq!(format_timestamp(1500), "1.500");
        assert_eq!(format_timestamp(1005), "1.005");
        assert_eq!(format_timestamp(-1), "-0.001");
        assert_eq!(format_timestamp(0), "0");
    }

    #[test]
    fn parse() {
        assert_eq!(parse_value("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_value("-inf"), Some(f64::NEG_INFINITY));
        assert!(parse_value("NaN").unwrap().is_nan());
        assert_eq!(parse_value("1e3"), Some(1000.0));
        assert_eq!(parse_value("0x10"), None);
        assert_eq!(parse_value(""), None);
        assert_eq!(parse_value("1_000"), None);
    }
}

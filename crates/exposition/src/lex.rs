//! Byte-level helpers shared by the parser and the validator: character classes, number parsing with Go's
//! `strconv.ParseFloat` rules, escape handling and the OpenMetrics float formatting of `le`/`quantile` values.

use std::borrow::Cow;

/// First character of a metric name: `[a-zA-Z_:]`.
pub(crate) fn is_metric_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

/// Later characters of a metric name: `[a-zA-Z0-9_:]`.
pub(crate) fn is_metric_char(b: u8) -> bool {
    is_metric_start(b) || b.is_ascii_digit()
}

/// First character of a label name: `[a-zA-Z_]`.
pub(crate) fn is_label_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

/// Later characters of a label name: `[a-zA-Z0-9_]`.
pub(crate) fn is_label_char(b: u8) -> bool {
    is_label_start(b) || b.is_ascii_digit()
}

/// Length of the run of `pred` bytes at the start of `b`.
pub(crate) fn run_len(b: &[u8], pred: impl Fn(u8) -> bool) -> usize {
    b.iter().position(|&c| !pred(c)).unwrap_or(b.len())
}

/// Length of a quoted string at the start of `b` (`b[0]` must be `"`), closing quote included; `None` if the
/// string is not closed on this line. A backslash escapes any one byte, as in Prometheus's lexers.
pub(crate) fn quoted_len(b: &[u8]) -> Option<usize> {
    let mut i = 1;
    loop {
        // Jump to the next quote or backslash; a backslash at the very end leaves the string open (`get` fails).
        i += memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
    }
}

/// The NaN Go's `strconv.ParseFloat` returns and Prometheus stores for `NaN` samples (`value.NormalNaN`), bit for
/// bit, so chunks written from parsed NaNs match Prometheus's. It is not the staleness marker.
pub(crate) const NORMAL_NAN: f64 = f64::from_bits(0x7ff8_0000_0000_0001);

/// Parses a float as Prometheus's text parsers do: Go's `strconv.ParseFloat` (decimal syntax, `Inf`/`Infinity`/`NaN`
/// in any case, sign allowed except on NaN), minus the hex and `_` forms that Prometheus rejects. An overflow to
/// infinity of a finite spelling (`1e400`) is an error, as Go reports `ErrRange`. Does not allocate.
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let first = *b.first()?;
    if let Some(v) = parse_simple_decimal(b) {
        return Some(v);
    }
    let signed = first == b'+' || first == b'-';
    let rest = if signed { &s[1..] } else { s };
    if rest.eq_ignore_ascii_case("inf") || rest.eq_ignore_ascii_case("infinity") {
        return Some(if first == b'-' {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if rest.eq_ignore_ascii_case("nan") {
        // Go accepts no sign on NaN.
        return if signed { None } else { Some(NORMAL_NAN) };
    }
    // Only decimal syntax is left. Rust's parser accepts exactly Go's decimal forms (`1`, `1.`, `.5`, `1e5`, `1E+5`,
    // leading zeros); anything with other characters (hex, `_`, letters) is rejected before it gets there.
    if !rest
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    if v.is_infinite() { None } else { Some(v) }
}

/// Fast path for the common spellings `[-]digits[.digits]` with at most 15 digits in all: the digits form an
/// integer below 2^53 and the scale is a power of ten below 10^22, both exact in an f64, so one division gives the
/// correctly rounded result (Clinger's fast path). `None` sends everything else to the full parser.
fn parse_simple_decimal(b: &[u8]) -> Option<f64> {
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut mantissa: u64 = 0;
    let mut n_digits = 0;
    let mut frac_digits: Option<usize> = None;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                n_digits += 1;
                if let Some(f) = frac_digits.as_mut() {
                    *f += 1;
                }
            }
            b'.' if frac_digits.is_none() => frac_digits = Some(0),
            _ => return None,
        }
    }
    if n_digits == 0 || n_digits > 15 {
        return None;
    }
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let v = mantissa as f64 / POW10[frac_digits.unwrap_or(0)];
    Some(if neg { -v } else { v })
}

/// Go's `int64(f)` for the float-seconds → ms conversion Prometheus does on OpenMetrics timestamps: truncation
/// toward zero; out of range gives `i64::MIN`, as on amd64 (Rust's `as` would saturate instead).
pub(crate) fn go_f64_to_i64(f: f64) -> i64 {
    // 2^63 as f64; the range check is written so NaN also fails it.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&f) {
        f as i64
    } else {
        i64::MIN
    }
}

/// Resolves the label-value escapes `\\`, `\"` and `\n` (Prometheus's `lvalReplacer`). Any other backslash is kept
/// with the byte after it, as Go's `strings.Replacer` does. Borrows when there is nothing to resolve.
pub(crate) fn unescape_lvalue(s: &str) -> Cow<'_, str> {
    unescape(s, true)
}

/// Resolves the classic-text HELP escapes `\\` and `\n` only (Prometheus's `helpReplacer`).
pub(crate) fn unescape_help_text(s: &str) -> Cow<'_, str> {
    unescape(s, false)
}

fn unescape(s: &str, quote: bool) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let mut peek = chars.clone();
        match peek.next() {
            Some('\\') => {
                out.push('\\');
                chars = peek;
            }
            Some('n') => {
                out.push('\n');
                chars = peek;
            }
            Some('"') if quote => {
                out.push('"');
                chars = peek;
            }
            // Unknown escape: keep the backslash; the next character is processed normally.
            _ => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// Formats a float the way OpenMetrics writes `le` and `quantile` values, which Prometheus 3 stores for classic
/// histograms and summaries whatever spelling the target used: `1.0`, `0.0`, `-1.0`, `+Inf`, `-Inf`, `NaN`, else
/// Go's `%g` with the shortest round-trip digits (exponent form `1e+06` from exponent 6 up and below -4), with `.0`
/// appended when the result has neither `.` nor an exponent.
pub(crate) fn format_om_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".to_owned() } else { "-Inf".to_owned() };
    }
    // Rust's `{:e}` is shortest round-trip digits in scientific form, e.g. "1.2345e3" or "-5e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let mut s = if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    } else {
        // Display is shortest round-trip without exponent, which is Go's %f part of %g in this range.
        format!("{f}")
    };
    if !s.contains(['.', 'e']) {
        s.push_str(".0");
    }
    s
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The decimal fast path agrees with the standard library's correctly rounded parser.
        #[test]
        fn simple_decimals_are_correctly_rounded(int in 0u64..1_000_000_000_000_000, frac_len in 0usize..16, neg: bool) {
            let digits = int.to_string();
            let split = digits.len().saturating_sub(frac_len);
            let text = if frac_len == 0 {
                digits.clone()
            } else {
                format!("{}.{}", &digits[..split], &digits[split..])
            };
            let text = if neg { format!("-{text}") } else { text };
            let want: f64 = text.parse().expect("valid decimal");
            prop_assert_eq!(parse_float(&text).map(f64::to_bits), Some(want.to_bits()), "{}", text);
        }
    }

    #[test]
    fn floats_follow_go_parse_float() {
        let cases: &[(&str, Option<f64>)] = &[
            ("1", Some(1.0)),
            ("0000000000000000000000000000000000000000001", Some(1.0)),
            ("-1.5e3", Some(-1500.0)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("+Inf", Some(f64::INFINITY)),
            ("-inf", Some(f64::NEG_INFINITY)),
            ("Infinity", Some(f64::INFINITY)),
            ("9223372036854775808", Some(9_223_372_036_854_775_808.0)),
            ("1e400", None),
            ("0x1p-3", None),
            ("0x10", None),
            ("1_000", None),
            ("", None),
            ("+", None),
            ("-NaN", None),
            ("1e", None),
            ("1.1.1", None),
            ("--1", None),
            ("0b1", None),
            ("1 ", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_float(s), *want, "{s:?}");
        }
        assert!(parse_float("NaN").is_some_and(f64::is_nan));
        // Negative zero keeps its sign on the fast path.
        assert!(parse_float("-0").is_some_and(|v| v == 0.0 && v.is_sign_negative()));
        assert!(parse_float("-0.0").is_some_and(|v| v.is_sign_negative()));
        assert!(parse_float("nan").is_some_and(f64::is_nan));
        assert_eq!(parse_float("NaN").map(f64::to_bits), Some(0x7ff8_0000_0000_0001));
        assert!(!diamond_model::is_stale_nan(NORMAL_NAN));
    }

    #[test]
    fn go_int_conversion() {
        assert_eq!(go_f64_to_i64(1.9), 1);
        assert_eq!(go_f64_to_i64(-1.9), -1);
        assert_eq!(go_f64_to_i64(1e30), i64::MIN);
        assert_eq!(go_f64_to_i64(f64::NAN), i64::MIN);
    }

    #[test]
    fn escapes() {
        let cases = [
            (r#"a"#, "a"),
            (r#"\\"#, "\\"),
            (r#"\n"#, "\n"),
            (r#"\""#, "\""),
            (r#"\z"#, "\\z"),
            (r#"\\n"#, "\\n"),
            (r#"\\\n"#, "\\\n"),
            (r#"a\"#, "a\\"),
        ];
        for (input, want) in cases {
            assert_eq!(unescape_lvalue(input), want, "{input:?}");
        }
        assert_eq!(unescape_help_text(r#"\" \n \\"#), "\\\" \n \\");
    }

    #[test]
    fn om_float_format_matches_go_g() {
        let cases = [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-1.0, "-1.0"),
            (0.5, "0.5"),
            (100000.0, "100000.0"),
            (1e6, "1e+06"),
            (1.5e6, "1.5e+06"),
            (123456789.0, "1.23456789e+08"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (2.5e-7, "2.5e-07"),
            (1e100, "1e+100"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (-0.25, "-0.25"),
        ];
        for (f, want) in cases {
            assert_eq!(format_om_float(f), want, "{f}");
        }
    }

    #[test]
    fn quoted_strings() {
        assert_eq!(quoted_len(br#""abc" x"#), Some(5));
        assert_eq!(quoted_len(br#""a\"c" x"#), Some(6));
        assert_eq!(quoted_len(br#""abc"#), None);
        assert_eq!(quoted_len(br#""ab\"#), None);
    }
}

//! Number formatting exactly as the Prometheus HTTP API writes it.

/// Formats a sample value as Prometheus's API does (its `jsonutil.MarshalFloat`: Go's
/// `strconv.FormatFloat` with the shortest digits that round-trip, in fixed notation, switching to an
/// exponent (`1e+21`, `1e-07`) when `|v| < 1e-6` or `|v| >= 1e21`; `NaN`, `+Inf`, `-Inf` spelt out).
/// Checked against the reference Prometheus 3.5, which prints `exp(vector(709))` as
/// `8.218407461554972e+307`.
pub fn format_value(v: f64) -> String {
    let mut s = String::new();
    write_value(&mut s, v);
    s
}

/// [`format_value`] appended to `buf` without an intermediate allocation (the API's encoders call this once
/// per sample, so it is on the query hot path).
///
/// Integers below 2^53 go through `itoa`; other finite values take `zmij`'s shortest round-trip digits (the
/// digits Go prints: ties between two shortest candidates go to the even one, where Rust's `Display` rounds
/// up). `zmij` prints `[1e-5, 1e16)` in fixed notation, which non-integers there use as they are; outside
/// that range its output is laid out again in Go's notation.
pub fn write_value(buf: &mut String, v: f64) {
    write_with(buf, v, Layout::Json);
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: shortest round-trip digits, never an exponent. This is
/// how PromQL's `count_values` spells a value as a label.
pub fn format_value_fixed(v: f64) -> String {
    let mut s = String::new();
    write_with(&mut s, v, Layout::Fixed);
    s
}

/// Go's `%g` (`strconv.FormatFloat(v, 'g', -1, 64)`): an exponent when the decimal exponent is below -4
/// or at least 6 (`1e+06`, `1e-05`), else fixed. PromQL's annotations print numbers this way.
pub fn format_value_g(v: f64) -> String {
    let mut s = String::new();
    write_with(&mut s, v, Layout::G);
    s
}

#[derive(Clone, Copy, PartialEq)]
enum Layout {
    Json,
    Fixed,
    G,
}

fn write_with(buf: &mut String, v: f64, layout: Layout) {
    if v.is_nan() {
        buf.push_str("NaN");
    } else if v == f64::INFINITY {
        buf.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        buf.push_str("-Inf");
    } else if v == 0.0 {
        buf.push_str(if v.is_sign_negative() { "-0" } else { "0" });
    } else if v.trunc() == v && v.abs() < 9_007_199_254_740_992.0 && (layout != Layout::G || v.abs() < 1e6) {
        // Exact: |v| < 2^53 is an integer that i64 holds.
        buf.push_str(itoa::Buffer::new().format(v as i64));
    } else {
        let mut b = zmij::Buffer::new();
        let s = b.format_finite(v);
        let a = v.abs();
        let exponent = match layout {
            Layout::Json => !(1e-6..1e21).contains(&a),
            Layout::Fixed => false,
            // Decided on the decimal exponent of the shortest digits, below.
            Layout::G => true,
        };
        if !exponent && (1e-5..9_007_199_254_740_992.0).contains(&a) {
            // A non-integer in zmij's fixed range: digits, a point and no trailing zero.
            buf.push_str(s);
        } else {
            let d = Decimal::parse(s);
            let e = d.point - 1;
            if exponent && (layout != Layout::G || !(-4..6).contains(&e)) {
                d.push_exp(buf);
            } else {
                d.push_fixed(buf);
            }
        }
    }
}

/// Significant digits of a finite non-zero value and where the decimal point goes among them:
/// the value is `0.DIGITS × 10^point`, without leading or trailing zeros.
struct Decimal {
    neg: bool,
    digits: [u8; 40],
    n: usize,
    point: i32,
}

impl Decimal {
    /// From `zmij`'s output (`[-]D[.D*][e[-]X]`).
    fn parse(s: &str) -> Decimal {
        let (neg, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (mantissa, exp) = match s.split_once('e') {
            Some((m, e)) => (m, e.trim_start_matches('+').parse::<i32>().unwrap_or(0)),
            None => (s, 0),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let mut all = [0u8; 40];
        let mut n = 0usize;
        for &d in int_part.as_bytes().iter().chain(frac_part.as_bytes()) {
            if n < all.len() {
                all[n] = d;
                n += 1;
            }
        }
        let mut point = int_part.len() as i32 + exp;
        let mut start = 0usize;
        while start + 1 < n && all[start] == b'0' {
            start += 1;
            point -= 1;
        }
        while n > start + 1 && all[n - 1] == b'0' {
            n -= 1;
        }
        let mut digits = [0u8; 40];
        digits[..n - start].copy_from_slice(&all[start..n]);
        Decimal {
            neg,
            digits,
            n: n - start,
            point,
        }
    }

    fn digits(&self) -> &str {
        // `digits` holds ASCII digits only.
        std::str::from_utf8(&self.digits[..self.n]).unwrap_or("0")
    }

    fn push_fixed(&self, buf: &mut String) {
        if self.neg {
            buf.push('-');
        }
        let d = self.digits();
        let point = self.point;
        if point <= 0 {
            buf.push_str("0.");
            for _ in 0..-point {
                buf.push('0');
            }
            buf.push_str(d);
        } else if point as usize >= d.len() {
            buf.push_str(d);
            for _ in 0..(point as usize - d.len()) {
                buf.push('0');
            }
        } else {
            buf.push_str(&d[..point as usize]);
            buf.push('.');
            buf.push_str(&d[point as usize..]);
        }
    }

    /// Go's `%e` with the shortest digits: `D[.DDD]e±XX`, at least two exponent digits.
    fn push_exp(&self, buf: &mut String) {
        if self.neg {
            buf.push('-');
        }
        let d = self.digits();
        buf.push_str(&d[..1]);
        if d.len() > 1 {
            buf.push('.');
            buf.push_str(&d[1..]);
        }
        let e = self.point - 1;
        buf.push('e');
        buf.push(if e < 0 { '-' } else { '+' });
        let e = e.unsigned_abs();
        if e < 10 {
            buf.push('0');
        }
        buf.push_str(itoa::Buffer::new().format(e));
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
    buf.push_str(itoa::Buffer::new().format(s));
    if frac != 0 {
        // frac < 1000: three digits.
        let f = frac as u32;
        buf.push('.');
        for d in [f / 100, f / 10 % 10, f % 10] {
            buf.push(char::from(b'0' + d as u8));
        }
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
        assert_eq!(format_value(1e21), "1e+21");
        assert_eq!(format_value(1e20), "100000000000000000000");
        assert_eq!(format_value(1e-6), "0.000001");
        assert_eq!(format_value(1e-7), "1e-07");
        assert_eq!(format_value(-1.5e-7), "-1.5e-07");
        assert_eq!(format_value(123456789012345678901234.0), "1.2345678901234569e+23");
        assert_eq!(format_value(8.218407461554972e307), "8.218407461554972e+307");
        assert_eq!(format_value(f64::from_bits(1)), "5e-324");
        assert_eq!(format_value_fixed(1e21), "1000000000000000000000");
        assert_eq!(format_value_fixed(1e-7), "0.0000001");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(-0.0), "-0");
        assert_eq!(format_value(0.1 + 0.2), "0.30000000000000004");
    }

    /// Values whose digits Go's `strconv.FormatFloat(v, 'f', -1, 64)` printed (Debian's go 1.19): ties between two
    /// shortest candidates go to the even digit in Go (and in zmij), not upward as in Rust's `Display`.
    #[test]
    fn values_as_go_prints_them() {
        for (bits, go) in [
            (4795813214282164288u64, "4143950384437.0312"),
            (
                0x0000_0000_0000_0001,
                "0.000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000005",
            ),
            (
                0x7fef_ffff_ffff_ffff,
                "179769313486231570000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            ),
            (1e16f64.to_bits(), "10000000000000000"),
            (1.5e-7f64.to_bits(), "0.00000015"),
            (123_456_789.125f64.to_bits(), "123456789.125"),
            ((-1234.5678f64).to_bits(), "-1234.5678"),
            (9_007_199_254_740_993.0f64.to_bits(), "9007199254740992"),
        ] {
            assert_eq!(format_value_fixed(f64::from_bits(bits)), go, "{bits}");
        }
    }

    /// Go's `%g`, as the reference Prometheus prints the quantile of its "quantile value should be
    /// between 0 and 1" warning.
    #[test]
    fn values_as_go_g() {
        for (v, go) in [
            (1e6, "1e+06"),
            (123_456.5, "123456.5"),
            (999_999.0, "999999"),
            (1_234_567.5, "1.2345675e+06"),
            (-1e-5, "-1e-05"),
            (-0.0001, "-0.0001"),
            (1e21, "1e+21"),
            (1.5, "1.5"),
            (-2.0, "-2"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(format_value_g(v), go, "{v}");
        }
    }

    /// Significant digits of a fixed-notation number.
    fn sig_digits(s: &str) -> usize {
        let d: String = s.chars().filter(char::is_ascii_digit).collect();
        let d = d.trim_start_matches('0');
        if s.contains('.') {
            d.len()
        } else {
            d.trim_end_matches('0').len()
        }
    }

    proptest::proptest! {
        /// Round-trips, never uses an exponent, and is as short as Rust's shortest `Display` (which differs
        /// from Go only in how it breaks ties between equally short candidates).
        #[test]
        fn fixed_values_round_trip_shortest(bits in proptest::num::u64::ANY) {
            let v = f64::from_bits(bits);
            if v.is_finite() {
                let s = format_value_fixed(v);
                proptest::prop_assert!(!s.contains(['e', 'E']), "{}", s);
                proptest::prop_assert_eq!(s.parse::<f64>().map(f64::to_bits), Ok(v.to_bits()));
                proptest::prop_assert_eq!(sig_digits(&s), sig_digits(&format!("{v}")));
            }
        }

        /// The API's layout: the fixed digits inside `[1e-6, 1e21)`, else the same digits with an exponent.
        #[test]
        fn api_values_round_trip(bits in proptest::num::u64::ANY) {
            let v = f64::from_bits(bits);
            if v.is_finite() && v != 0.0 {
                let s = format_value(v);
                proptest::prop_assert_eq!(s.parse::<f64>().map(f64::to_bits), Ok(v.to_bits()));
                let a = v.abs();
                if (1e-6..1e21).contains(&a) {
                    proptest::prop_assert_eq!(&s, &format_value_fixed(v));
                } else {
                    let (m, e) = s.split_once('e').expect("an exponent");
                    proptest::prop_assert!(e.starts_with(['+', '-']) && e.len() >= 3, "{}", s);
                    let m = m.trim_start_matches('-');
                    proptest::prop_assert!(m.len() == 1 || m.as_bytes()[1] == b'.', "{}", s);
                    proptest::prop_assert_eq!(sig_digits(m), sig_digits(&format_value_fixed(v)));
                }
            }
        }

        #[test]
        fn decimal_values_match_display(m in -10_000_000i64..10_000_000, e in -12i32..12) {
            let v = m as f64 * 10f64.powi(e);
            proptest::prop_assert_eq!(format_value_fixed(v), format!("{v}"));
        }

        #[test]
        fn timestamps_match_fmt(ms in proptest::num::i64::ANY) {
            let t = ms.unsigned_abs();
            let want = format!("{}{}{}", if ms < 0 { "-" } else { "" }, t / 1000,
                if t % 1000 != 0 { format!(".{:03}", t % 1000) } else { String::new() });
            proptest::prop_assert_eq!(format_timestamp(ms), want);
        }
    }

    /// Every line `bits<TAB>text` of the file `DIAMOND_GO_FLOATS` (written by Go's
    /// `strconv.FormatFloat(math.Float64frombits(bits), 'f', -1, 64)`) formats identically here. Run by hand:
    /// `DIAMOND_GO_FLOATS=/path cargo test -p diamond-model -- --ignored go_floats`.
    #[test]
    #[ignore = "needs a file of Go's outputs (DIAMOND_GO_FLOATS)"]
    fn go_floats() {
        let path = std::env::var("DIAMOND_GO_FLOATS").expect("DIAMOND_GO_FLOATS");
        let text = std::fs::read_to_string(path).expect("readable");
        let mut n = 0;
        for line in text.lines() {
            let (bits, go) = line.split_once('\t').expect("tab");
            let v = f64::from_bits(bits.parse().expect("bits"));
            assert_eq!(format_value_fixed(v), go, "{bits}");
            n += 1;
        }
        assert!(n > 0);
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

//! Durations in Prometheus's format (`1h30m`, `15s`, `1d`, `1w`, `1y`, `500ms`, `0`).

use std::time::Duration;

use crate::Error;

/// Units in the order they must appear, with their length in milliseconds. A year is 365 days and a week
/// 7 days, as in Prometheus (`model.ParseDuration`).
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses a Prometheus duration: integer amounts of `y w d h m s ms`, each at most once and in that order
/// (`1h30m`, `90s`, `1d`), or `0`. Fractions, signs, spaces and an empty string are errors.
pub fn parse_duration(s: &str) -> Result<Duration, Error> {
    let bad = || Error::Duration(format!("not a valid duration string: {s:?}"));
    if s.is_empty() {
        return Err(Error::Duration("empty duration string".into()));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut total: u64 = 0;
    // Index of the next unit allowed: units must be strictly decreasing.
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        // "ms" must be tried before "m", so look for the longest unit that matches here.
        let (idx, unit_len, mult) = UNITS
            .iter()
            .enumerate()
            .filter(|(_, (u, _))| rest.starts_with(u))
            .map(|(i, (u, m))| (i, u.len(), *m))
            .max_by_key(|&(_, l, _)| l)
            .ok_or_else(bad)?;
        if idx < next_unit {
            return Err(bad());
        }
        next_unit = idx + 1;
        rest = &rest[unit_len..];
        let add = n.checked_mul(mult).ok_or_else(bad)?;
        total = total.checked_add(add).ok_or_else(bad)?;
    }
    // Prometheus stores durations as int64 nanoseconds; anything larger overflows there.
    if u128::from(total) * 1_000_000 > i64::MAX as u128 {
        return Err(Error::Duration(format!("duration out of range: {s:?}")));
    }
    Ok(Duration::from_millis(total))
}

/// Formats as Prometheus does: `0s` for zero, otherwise the units from years down to milliseconds, where
/// years and weeks are used only when they divide the whole duration (so 90 days prints `90d`, not `12w6d`).
/// Sub-millisecond parts are dropped.
pub fn format_duration(d: Duration) -> String {
    let mut ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (i, (unit, mult)) in UNITS.iter().enumerate() {
        // Years and weeks only when exact: "often easier to read 90d than 12w6d".
        if i < 2 && ms % mult != 0 {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            out.push_str(&format!("{v}{unit}"));
            ms -= v * mult;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let ok: &[(&str, u64)] = &[
            ("0", 0),
            ("0s", 0),
            ("500ms", 500),
            ("15s", 15_000),
            ("1m", 60_000),
            ("1h30m", 5_400_000),
            ("1d", 86_400_000),
            ("1w", 604_800_000),
            ("1y", 31_536_000_000),
            (
                "1y2w3d4h5m6s7ms",
                31_536_000_000 + 2 * 604_800_000 + 3 * 86_400_000 + 4 * 3_600_000 + 5 * 60_000 + 6007,
            ),
            ("90m", 5_400_000),
        ];
        for (s, ms) in ok {
            assert_eq!(parse_duration(s).map(|d| d.as_millis() as u64).ok(), Some(*ms), "{s}");
        }
        for s in [
            "",
            "1",
            "1.5s",
            "-1s",
            "1m1h",
            "1s1s",
            "s",
            "1x",
            " 1s",
            "1S",
            "1ms1s",
            "99999999999999y",
        ] {
            assert!(parse_duration(s).is_err(), "{s:?} should be rejected");
        }
    }

    #[test]
    fn format_table() {
        let cases: &[(u64, &str)] = &[
            (0, "0s"),
            (500, "500ms"),
            (15_000, "15s"),
            (60_000, "1m"),
            (5_400_000, "1h30m"),
            (90 * 86_400_000, "90d"),
            (14 * 86_400_000, "2w"),
            (365 * 86_400_000, "1y"),
            (86_400_000 + 1, "1d1ms"),
        ];
        for (ms, s) in cases {
            assert_eq!(format_duration(Duration::from_millis(*ms)), *s);
            // Every formatted duration parses back to itself.
            assert_eq!(parse_duration(s).map(|d| d.as_millis() as u64).ok(), Some(*ms));
        }
    }
}

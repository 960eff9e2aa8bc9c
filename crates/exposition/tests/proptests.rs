//! Property tests: any input is handled without a panic, and any series written out in either format (with
//! escapes, quoted UTF-8 names, special values, timestamps and exemplars) parses back to what was written.

use std::collections::BTreeMap;

use diamond_exposition::{Entry, Format, Parser, count_samples, validate_openmetrics};
use diamond_model::{Labels, METRIC_NAME};
use proptest::prelude::*;

/// Drives every entry point over `input`, calling every accessor of every sample.
fn exercise(input: &[u8]) {
    for format in [Format::PromText, Format::OpenMetrics] {
        let mut p = Parser::new(input, format);
        let mut n = 0;
        while let Some(e) = p.next() {
            if let Ok(Entry::Sample(s)) = e {
                let _ = (
                    s.labels(),
                    s.metric_name(),
                    s.series(),
                    s.value(),
                    s.timestamp_ms(),
                    s.exemplar(),
                );
            }
            n += 1;
            assert!(n <= input.len() + 1, "more entries than bytes");
        }
        let _ = count_samples(input, format);
    }
    let _ = validate_openmetrics(input);
}

/// Bytes drawn mostly from the characters the grammars care about, so that generated inputs get deep.
fn grammar_bytes() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop::sample::select(vec![
        &b"a"[..],
        b"_total",
        b"_bucket",
        b"{",
        b"}",
        b"\"",
        b"=",
        b",",
        b" ",
        b"\t",
        b"\n",
        b"# ",
        b"# EOF\n",
        b"# TYPE a histogram\n",
        b"# HELP a x\n",
        b"# UNIT a_s s\n",
        b"# {",
        b"\\",
        b"\\n",
        b"le",
        b"quantile",
        b"1",
        b"-1.5e3",
        b"+Inf",
        b"NaN",
        b"0x1",
        b"\xff",
        b"\0",
        b"\r",
        b"\xc3\xa9",
        b".",
        b"9999999999999999999999",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..300)) {
        exercise(&input);
    }

    #[test]
    fn grammar_shaped_bytes_never_panic(input in grammar_bytes()) {
        exercise(&input);
    }
}

#[derive(Debug, Clone)]
struct Series {
    /// Legacy names are written bare; others are quoted inside the braces.
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
    /// Classic text: ms; OpenMetrics: half-seconds (exact in binary, so seconds * 1000 is exact too).
    ts: Option<u64>,
    exemplar: Option<(BTreeMap<String, String>, f64, Option<u64>)>,
}

fn legacy_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_:][a-zA-Z0-9_:]{0,10}"
}

fn label_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,8}".prop_filter("reserved", |n| n != METRIC_NAME)
}

fn label_value() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            any::<char>(),
            Just('"'),
            Just('\\'),
            Just('\n'),
            Just('n'),
            Just('#'),
            Just('}')
        ],
        0..8,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        (-1000i64..1000).prop_map(|v| v as f64),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::NAN),
    ]
}

fn series() -> impl Strategy<Value = Series> {
    (
        prop_oneof![3 => legacy_name(), 1 => label_value().prop_filter("non-empty", |s| !s.is_empty())],
        prop::collection::btree_map(label_name(), label_value(), 0..4),
        value(),
        prop::option::of(0u64..(1 << 40)),
        prop::option::of((
            prop::collection::btree_map(label_name(), label_value(), 0..3),
            value(),
            prop::option::of(0u64..(1 << 40)),
        )),
    )
        .prop_map(|(name, labels, value, ts, exemplar)| Series {
            name,
            labels,
            value,
            ts,
            exemplar,
        })
}

fn is_legacy(name: &str) -> bool {
    let mut b = name.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn write_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".to_owned() } else { "-Inf".to_owned() }
    } else {
        format!("{v:e}")
    }
}

fn write_labels(out: &mut String, name: Option<&str>, labels: &BTreeMap<String, String>) {
    out.push('{');
    let mut items: Vec<String> = name.map(|n| format!("\"{}\"", escape(n))).into_iter().collect();
    items.extend(labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))));
    out.push_str(&items.join(","));
    out.push('}');
}

fn write(series: &[Series], format: Format) -> String {
    let mut out = String::new();
    for s in series {
        if is_legacy(&s.name) {
            out.push_str(&s.name);
            if !s.labels.is_empty() {
                write_labels(&mut out, None, &s.labels);
            }
        } else {
            write_labels(&mut out, Some(&s.name), &s.labels);
        }
        out.push(' ');
        out.push_str(&write_value(s.value));
        match (s.ts, format) {
            (Some(t), Format::PromText) => out.push_str(&format!(" {t}")),
            (Some(t), Format::OpenMetrics) => out.push_str(&format!(" {}", t as f64 / 2.0)),
            (None, _) => {}
        }
        if let (Some((labels, v, ts)), Format::OpenMetrics) = (&s.exemplar, format) {
            out.push_str(" # ");
            write_labels(&mut out, None, labels);
            out.push(' ');
            out.push_str(&write_value(*v));
            if let Some(t) = ts {
                out.push_str(&format!(" {}", *t as f64 / 2.0));
            }
        }
        out.push('\n');
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

fn same_value(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

fn check_round_trip(series: &[Series], format: Format) -> Result<(), TestCaseError> {
    let text = write(series, format);
    let mut p = Parser::new(text.as_bytes(), format);
    for s in series {
        let entry = p.next();
        let Some(Ok(Entry::Sample(got))) = entry else {
            return Err(TestCaseError::fail(format!("{entry:?} for {s:?} in {text:?}")));
        };
        let mut pairs: Vec<(&str, &str)> = s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        pairs.push((METRIC_NAME, &s.name));
        prop_assert_eq!(got.labels(), Labels::from_pairs(&pairs));
        prop_assert_eq!(got.metric_name(), s.name.as_str());
        prop_assert!(same_value(got.value(), s.value), "{} vs {}", got.value(), s.value);
        let want_ts = s.ts.map(|t| match format {
            Format::PromText => t as i64,
            Format::OpenMetrics => t as i64 * 500,
        });
        prop_assert_eq!(got.timestamp_ms(), want_ts);
        match (&s.exemplar, format) {
            (Some((labels, v, ts)), Format::OpenMetrics) => {
                let e = got.exemplar().ok_or_else(|| TestCaseError::fail("exemplar missing"))?;
                // Exemplar label values keep their escapes, as in Prometheus.
                let pairs: Vec<(&str, String)> = labels.iter().map(|(k, v)| (k.as_str(), escape(v))).collect();
                prop_assert_eq!(e.labels, Labels::from_pairs(&pairs));
                prop_assert!(same_value(e.value, *v));
                prop_assert_eq!(e.has_ts, ts.is_some());
                prop_assert_eq!(e.ts, ts.map_or(0, |t| t as i64 * 500));
            }
            _ => prop_assert!(got.exemplar().is_none()),
        }
    }
    let end = p.next();
    prop_assert!(end.is_none(), "{:?}", end);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn classic_text_round_trips(series in prop::collection::vec(series(), 0..8)) {
        check_round_trip(&series, Format::PromText)?;
    }

    #[test]
    fn openmetrics_round_trips(series in prop::collection::vec(series(), 0..8)) {
        check_round_trip(&series, Format::OpenMetrics)?;
    }
}

//! Table-driven tests of the parser in both formats: each case is an input and the entries it must produce,
//! rendered as text (`ERR <kind> @line:column` for the error that ends a parse).

use diamond_model::format_value;

use super::*;

/// Renders every entry of `input`, and the error that ends the parse, if any.
fn render_all(input: &[u8], format: Format) -> Vec<String> {
    let mut p = Parser::new(input, format);
    let mut out = Vec::new();
    while let Some(e) = p.next() {
        out.push(match e {
            Ok(e) => render(&e),
            Err(e) => {
                let kind = format!("{:?}", e.kind);
                let name = kind.split(['(', ' ', '{']).next().unwrap_or("").to_owned();
                format!("ERR {name} @{}:{}", e.line, e.column)
            }
        });
    }
    // After the end or an error the parser stays finished.
    assert!(p.next().is_none());
    out
}

fn render(e: &Entry<'_>) -> String {
    match e {
        Entry::Type { family, metric_type } => format!("TYPE {family} {metric_type}"),
        Entry::Help { family, help } => format!("HELP {family} {help:?}"),
        Entry::Unit { family, unit } => format!("UNIT {family} {unit:?}"),
        Entry::Sample(s) => {
            let mut out = format!("{} {}", s.labels(), format_value(s.value()));
            if let Some(t) = s.timestamp_ms() {
                out.push_str(&format!(" @{t}"));
            }
            if let Some(e) = s.exemplar() {
                let ts = if e.has_ts {
                    e.ts.to_string()
                } else {
                    format!("none({})", e.ts)
                };
                out.push_str(&format!(" # {} {} {ts}", e.labels, format_value(e.value)));
            }
            out
        }
    }
}

fn run(format: Format, cases: &[(&str, &str, &[&str])]) {
    let mut failures = Vec::new();
    for (name, input, want) in cases {
        let got = render_all(input.as_bytes(), format);
        if got != *want {
            failures.push(format!(
                "{name}:\n  input: {input:?}\n  want:  {want:?}\n  got:   {got:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn classic_text() {
    run(
        Format::PromText,
        &[
            ("plain sample", "a 1\n", &[r#"{__name__="a"} 1"#]),
            ("no final newline", "a 1", &[r#"{__name__="a"} 1"#]),
            (
                "labels and timestamp",
                "a{b=\"c\",d=\"e\"} 1.5 1000\n",
                &[r#"{__name__="a", b="c", d="e"} 1.5 @1000"#],
            ),
            (
                "whitespace between every token",
                "  a { b = \"c\" , } \t 2 \t 3 \t\n",
                &[r#"{__name__="  a", b="c"} 2 @3"#],
            ),
            (
                "commas may be left out",
                "a{b=\"1\" c=\"2\"} 1\n",
                &[r#"{__name__="a", b="1", c="2"} 1"#],
            ),
            (
                "value right after the brace",
                "a{b=\"1\"}7\n",
                &[r#"{__name__="a", b="1"} 7"#],
            ),
            ("empty braces", "a{} 1\n", &[r#"{__name__="a"} 1"#]),
            (
                "empty label value is dropped",
                "a{b=\"\"} 1\n",
                &[r#"{__name__="a"} 1"#],
            ),
            (
                "label value escapes; unknown escapes are kept",
                r#"a{b="x\\y\"z\nw\q"} 1"#,
                &[r#"{__name__="a", b="x\\y\"z\nw\\q"} 1"#],
            ),
            (
                "special values",
                "a +Inf\nb -Inf\nc NaN\nd -0\ne 1e-3\nf .5\n",
                &[
                    r#"{__name__="a"} +Inf"#,
                    r#"{__name__="b"} -Inf"#,
                    r#"{__name__="c"} NaN"#,
                    r#"{__name__="d"} -0"#,
                    r#"{__name__="e"} 0.001"#,
                    r#"{__name__="f"} 0.5"#,
                ],
            ),
            (
                "metadata, untyped is unknown",
                "# HELP a some help\n# TYPE a untyped\na 1\n",
                &["HELP a \"some help\"", "TYPE a unknown", r#"{__name__="a"} 1"#],
            ),
            (
                "HELP escapes: only backslash and newline",
                "# HELP a x\\\\y\\nz\\\"\n",
                &["HELP a \"x\\\\y\\nz\\\\\\\"\""],
            ),
            ("HELP with empty text", "# HELP a \n", &["HELP a \"\""]),
            ("HELP without text", "# HELP a\n", &["HELP a \"\""]),
            ("TYPE without text", "# TYPE a\n", &["ERR InvalidMetricType @1:9"]),
            (
                "leading blanks belong to the name",
                "\t a{b=\"c\"} 1\n",
                &["{__name__=\"\t a\", b=\"c\"} 1"],
            ),
            ("HELP without a name", "# HELP  \n", &["ERR Unexpected @1:9"]),
            (
                "comments and blank lines are skipped",
                "# random comment\n#nospace\n# HELPX a b\n\n   \n\t\n# EOF\na 1\n",
                &[r#"{__name__="a"} 1"#],
            ),
            (
                "TYPE words of OpenMetrics are not classic",
                "# TYPE a unknown\n",
                &["ERR InvalidMetricType @1:10"],
            ),
            (
                "TYPE with trailing text",
                "# TYPE a gauge x\n",
                &["ERR InvalidMetricType @1:10"],
            ),
            (
                "quoted UTF-8 names",
                "{\"my.metric\", \"label.name\"=\"v\"} 1\n{\"label.name\"=\"v\",\"my.metric\"} 2\n",
                &[
                    r#"{__name__="my.metric", label.name="v"} 1"#,
                    r#"{__name__="my.metric", label.name="v"} 2"#,
                ],
            ),
            (
                "quoted name in metadata",
                "# TYPE \"my.metric\" counter\n",
                &["TYPE my.metric counter"],
            ),
            ("no metric name", "{a=\"b\"} 1\n", &["ERR MissingMetricName @1:1"]),
            (
                "empty quoted metric name",
                "{\"\"} 1\n",
                &["ERR MissingMetricName @1:1"],
            ),
            ("empty quoted label name", "a{\"\"=\"x\"} 1\n", &["ERR Unexpected @1:3"]),
            ("metric name twice", "a{\"b\"} 1\n", &["ERR DuplicateMetricName @1:3"]),
            (
                "duplicate label",
                "a{b=\"1\",b=\"2\"} 1\n",
                &["ERR DuplicateLabel @1:9"],
            ),
            (
                "__name__ as a label",
                "a{__name__=\"b\"} 1\n",
                &["ERR DuplicateLabel @1:3"],
            ),
            (
                "exemplar suffix",
                "a 1 # {t=\"x\"} 1\n",
                &["ERR ExemplarInClassicText @1:5"],
            ),
            (
                "exemplar suffix after timestamp",
                "a 1 2 #{t=\"x\"} 1\n",
                &["ERR ExemplarInClassicText @1:7"],
            ),
            (
                "trailing comment is not an exemplar",
                "a 1 # note\n",
                &["ERR Unexpected @1:5"],
            ),
            ("negative timestamp", "a 1 -5\n", &["ERR Unexpected @1:5"]),
            (
                "timestamp overflow",
                "a 1 99999999999999999999\n",
                &["ERR InvalidTimestamp @1:5"],
            ),
            ("float timestamp", "a 1 1.5\n", &["ERR Unexpected @1:6"]),
            ("value overflow", "a 1e400\n", &["ERR InvalidValue @1:3"]),
            ("hex value", "a 0x10\n", &["ERR InvalidValue @1:3"]),
            ("missing value", "a\n", &["ERR Unexpected @1:2"]),
            ("missing value after labels", "a{b=\"c\"} \n", &["ERR Unexpected @1:10"]),
            ("CRLF line ends are not stripped", "a 1\r\n", &["ERR InvalidValue @1:3"]),
            ("unterminated label value", "a{b=\"c} 1\n", &["ERR Unexpected @1:5"]),
            ("label value not quoted", "a{b=c} 1\n", &["ERR Unexpected @1:5"]),
            (
                "label name starting with a digit",
                "a{1=\"c\"} 1\n",
                &["ERR Unexpected @1:3"],
            ),
            (
                "NUL inside a label value",
                "a{b=\"\u{0}\"} 1\n",
                &["{__name__=\"a\", b=\"\u{0}\"} 1"],
            ),
            ("NUL where a name belongs", "\u{0}a 1\n", &["ERR Unexpected @1:1"]),
            (
                "stops at the first error",
                "a 1\nb x\nc 1\n",
                &[r#"{__name__="a"} 1"#, "ERR InvalidValue @2:3"],
            ),
            (
                "le is normalized after a histogram TYPE",
                "# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"1e6\"} 0\nh_bucket{le=\"+Inf\"} 0\n",
                &[
                    "TYPE h histogram",
                    r#"{__name__="h_bucket", le="1.0"} 0"#,
                    r#"{__name__="h_bucket", le="1e+06"} 0"#,
                    r#"{__name__="h_bucket", le="+Inf"} 0"#,
                ],
            ),
            (
                // Prometheus keeps the last TYPE for following untyped families too.
                "the last TYPE applies until the next TYPE",
                "# TYPE h histogram\nx{le=\"2\"} 0\n# TYPE g gauge\ny{le=\"2\"} 0\n",
                &[
                    "TYPE h histogram",
                    r#"{__name__="x", le="2.0"} 0"#,
                    "TYPE g gauge",
                    r#"{__name__="y", le="2"} 0"#,
                ],
            ),
            (
                "quantile is normalized after a summary TYPE",
                "# TYPE s summary\ns{quantile=\"0\"} 1\ns{quantile=\"0.99\",le=\"1\"} 1\n",
                &[
                    "TYPE s summary",
                    r#"{__name__="s", quantile="0.0"} 1"#,
                    r#"{__name__="s", le="1", quantile="0.99"} 1"#,
                ],
            ),
        ],
    );
}

#[test]
fn openmetrics() {
    run(
        Format::OpenMetrics,
        &[
            ("plain sample", "a 1\n# EOF\n", &[r#"{__name__="a"} 1"#]),
            ("EOF without newline", "a 1\n# EOF", &[r#"{__name__="a"} 1"#]),
            ("no EOF", "a 1\n", &[r#"{__name__="a"} 1"#, "ERR MissingEof @2:1"]),
            ("empty body", "", &["ERR MissingEof @1:1"]),
            ("sample on the last line", "a 1", &["ERR MissingEof @1:4"]),
            ("text after EOF", "# EOF\na 1\n", &["ERR DataAfterEof @1:6"]),
            ("blank line after EOF", "# EOF\n\n", &["ERR DataAfterEof @1:6"]),
            ("EOF with more on its line", "# EOFx\n", &["ERR DataAfterEof @1:6"]),
            (
                "float-second timestamps",
                "a 1 1.5\nb 1 -1.5\nc 1 1700000000.123\nd 1 0\n# EOF\n",
                &[
                    r#"{__name__="a"} 1 @1500"#,
                    r#"{__name__="b"} 1 @-1500"#,
                    r#"{__name__="c"} 1 @1700000000123"#,
                    r#"{__name__="d"} 1 @0"#,
                ],
            ),
            ("NaN timestamp", "a 1 NaN\n# EOF\n", &["ERR InvalidTimestamp @1:5"]),
            (
                "infinite timestamp",
                "a 1 +Inf\n# EOF\n",
                &["ERR InvalidTimestamp @1:5"],
            ),
            (
                "exemplars with and without timestamp",
                "a_total 1 # {trace_id=\"abc\"} 0.5\na_bucket{le=\"1\"} 2 # {trace_id=\"d\",span_id=\"e\"} 1 1.25\n# EOF\n",
                &[
                    r#"{__name__="a_total"} 1 # {trace_id="abc"} 0.5 none(0)"#,
                    r#"{__name__="a_bucket", le="1"} 2 # {span_id="e", trace_id="d"} 1 1250"#,
                ],
            ),
            (
                "exemplar after a timestamp, on a gauge line",
                "# TYPE g gauge\ng 1 10 # {} 7\n# EOF\n",
                &["TYPE g gauge", r#"{__name__="g"} 1 @10000 # {} 7 none(0)"#],
            ),
            (
                "exemplar label escapes are kept, quoted names unquoted",
                "a 1 # {\"trace.id\"=\"x\\\"y\"} 1\n# EOF\n",
                &[r#"{__name__="a"} 1 # {trace.id="x\\\"y"} 1 none(0)"#],
            ),
            (
                "exemplar longer than 128 characters is still returned",
                &format!("a 1 # {{t=\"{}\"}} 1\n# EOF\n", "x".repeat(200)),
                &[&format!(
                    r#"{{__name__="a"}} 1 # {{t="{}"}} 1 none(0)"#,
                    "x".repeat(200)
                )],
            ),
            (
                "exemplar without value",
                "a 1 # {t=\"x\"}\n# EOF\n",
                &["ERR Unexpected @1:14"],
            ),
            (
                "exemplar with NaN timestamp",
                "a 1 # {t=\"x\"} 1 NaN\n# EOF\n",
                &["ERR InvalidTimestamp @1:17"],
            ),
            (
                "exemplar labels are not checked for duplicates",
                "a 1 # {b=\"1\",b=\"2\",__name__=\"x\"} 1\n# EOF\n",
                &[r#"{__name__="a"} 1 # {__name__="x", b="2"} 1 none(0)"#],
            ),
            (
                "exemplar quoted name alone",
                "a 1 # {\"x\"} 1\n# EOF\n",
                &["ERR Unexpected @1:8"],
            ),
            (
                "two exemplars",
                "a 1 # {} 1 # {} 2\n# EOF\n",
                &["ERR InvalidTimestamp @1:12"],
            ),
            (
                "exemplar without the space",
                "a 1 #{} 1\n# EOF\n",
                &["ERR InvalidTimestamp @1:5"],
            ),
            (
                "metadata",
                "# TYPE a_seconds counter\n# UNIT a_seconds seconds\n# HELP a_seconds x\\\"y\\\\z\\n\n# EOF\n",
                &[
                    "TYPE a_seconds counter",
                    "UNIT a_seconds \"seconds\"",
                    "HELP a_seconds \"x\\\"y\\\\z\\n\"",
                ],
            ),
            ("empty unit", "# UNIT a \n# EOF\n", &["UNIT a \"\""]),
            (
                "unit not a suffix",
                "# UNIT a seconds\n# EOF\n",
                &["ERR UnitMismatch @1:10"],
            ),
            (
                "unit without underscore",
                "# UNIT aseconds seconds\n# EOF\n",
                &["ERR UnitMismatch @1:17"],
            ),
            (
                "untyped is not OpenMetrics",
                "# TYPE a untyped\n# EOF\n",
                &["ERR InvalidMetricType @1:10"],
            ),
            ("unknown is", "# TYPE a unknown\n# EOF\n", &["TYPE a unknown"]),
            (
                "comments are not allowed",
                "# random\n# EOF\n",
                &["ERR Unexpected @1:1"],
            ),
            (
                "blank lines are not allowed",
                "a 1\n\n# EOF\n",
                &[r#"{__name__="a"} 1"#, "ERR Unexpected @2:1"],
            ),
            ("two spaces", "a  1\n# EOF\n", &["ERR Unexpected @1:3"]),
            ("tab separator", "a\t1\n# EOF\n", &["ERR Unexpected @1:2"]),
            (
                "space before the brace",
                "a {b=\"c\"} 1\n# EOF\n",
                &["ERR InvalidValue @1:3"],
            ),
            (
                "spaces inside the braces",
                "a{b=\"c\", d=\"e\"} 1\n# EOF\n",
                &["ERR Unexpected @1:9"],
            ),
            ("trailing space", "a 1 \n# EOF\n", &["ERR Unexpected @1:5"]),
            (
                "trailing comma and quoted names as Prometheus accepts them",
                "a{b=\"c\",} 1\n{\"d.e\",\"f.g\"=\"h\"} 2\n# EOF\n",
                &[r#"{__name__="a", b="c"} 1"#, r#"{__name__="d.e", f.g="h"} 2"#],
            ),
            (
                "_created lines are samples",
                "# TYPE a counter\na_total 1\na_created 1700000000\n# EOF\n",
                &[
                    "TYPE a counter",
                    r#"{__name__="a_total"} 1"#,
                    r#"{__name__="a_created"} 1700000000"#,
                ],
            ),
            (
                "null byte in HELP",
                "# HELP a he\u{0}lp\n# EOF\n",
                &["HELP a \"he\\0lp\""],
            ),
            (
                "le is normalized only for histograms",
                "# TYPE h histogram\nh_bucket{le=\"10\"} 0\n# TYPE g gaugehistogram\ng_bucket{le=\"10\"} 0\n# EOF\n",
                &[
                    "TYPE h histogram",
                    r#"{__name__="h_bucket", le="10.0"} 0"#,
                    "TYPE g gaugehistogram",
                    r#"{__name__="g_bucket", le="10"} 0"#,
                ],
            ),
        ],
    );
}

#[test]
fn invalid_utf8() {
    let cases: [(&[u8], Format, &[&str]); 5] = [
        (b"# \0\n# x\xff\na 1\n", Format::PromText, &[r#"{__name__="a"} 1"#]),
        (b"a{b=\"\xff\"} 1\n", Format::PromText, &["ERR InvalidUtf8 @1:6"]),
        (b"# HELP a \xc3\n", Format::PromText, &["ERR InvalidUtf8 @1:10"]),
        (
            b"a{b=\"\xe2\x82\"} 1\n# EOF\n",
            Format::OpenMetrics,
            &["ERR InvalidUtf8 @1:6"],
        ),
        (b"\xef\xbb\xbfa 1\n", Format::PromText, &["ERR Unexpected @1:1"]),
    ];
    for (input, format, want) in cases {
        assert_eq!(render_all(input, format), want, "{input:?}");
    }
}

#[test]
fn sample_accessors() {
    let input = b"# TYPE \"my.metric\" counter\n{\"my.metric\",a=\"b\"} 3 # {trace_id=\"t\"} 2 4.5\nx{\"y\"=\"\\\\\"} 1\n# EOF\n";
    let mut p = Parser::new(input, Format::OpenMetrics);
    assert!(matches!(
        p.next(),
        Some(Ok(Entry::Type {
            family: "my.metric",
            ..
        }))
    ));
    let Some(Ok(Entry::Sample(s))) = p.next() else {
        panic!("expected a sample")
    };
    assert_eq!(p.entry_line(), 2);
    assert_eq!(s.series(), r#"{"my.metric",a="b"}"#);
    assert_eq!(s.metric_name(), "my.metric");
    assert!(s.has_exemplar_syntax());
    let e = s.exemplar().expect("has exemplar");
    assert_eq!((e.value, e.ts, e.has_ts), (2.0, 4500, true));
    let Some(Ok(Entry::Sample(s))) = p.next() else {
        panic!("expected a sample")
    };
    assert_eq!(s.series(), r#"x{"y"="\\"}"#);
    assert_eq!(s.labels().get("y"), Some("\\"));
    assert!(!s.has_exemplar_syntax());
    assert_eq!(s.exemplar(), None);
    assert!(p.next().is_none());
}

#[test]
fn error_display_has_position() {
    let mut p = Parser::new(b"a 1\nb{c=1} 2\n", Format::PromText);
    assert!(matches!(p.next(), Some(Ok(_))));
    let err = p.next().expect("an entry").expect_err("an error");
    assert_eq!(
        err.to_string(),
        r#"line 2, column 5: expected a quoted label value, got "1} 2""#
    );
    let classic = Parser::new(b"a 1 # {t=\"x\"} 1\n", Format::PromText).next();
    let err = classic.expect("an entry").expect_err("an error");
    assert!(matches!(err.kind, ErrorKind::ExemplarInClassicText(_)), "{err}");
}

#[test]
fn content_types() {
    let cases = [
        (
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Some(Format::OpenMetrics),
        ),
        ("application/openmetrics-text;version=0.0.1", Some(Format::OpenMetrics)),
        ("application/openmetrics-text", Some(Format::OpenMetrics)),
        ("application/openmetrics-text; version=2.0.0", None),
        ("text/plain; version=0.0.4; charset=utf-8", Some(Format::PromText)),
        (
            "text/plain; version=1.0.0; escaping=allow-utf-8",
            Some(Format::PromText),
        ),
        ("text/plain", Some(Format::PromText)),
        ("TEXT/PLAIN; charset=utf-8", Some(Format::PromText)),
        ("text/plain; version=0.0.5", None),
        (
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
            None,
        ),
        ("application/json", None),
        ("", None),
    ];
    for (ct, want) in cases {
        assert_eq!(Format::from_content_type(ct), want, "{ct:?}");
    }
}

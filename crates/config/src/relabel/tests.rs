//! Table tests per action. Expected outputs follow the Prometheus documentation's semantics; the hashmod and
//! template-expansion values were produced by the reference Prometheus 3.5.3 binary (target labels shown in
//! `/api/v1/targets` for the same rules), not by this code.

use super::*;

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

fn rule(yaml: &str) -> RelabelConfig {
    let raw: RawRelabelConfig = serde_yaml_ng::from_str(yaml).expect("test rule parses");
    raw.resolve().expect("test rule is valid")
}

struct Case {
    name: &'static str,
    rules: &'static [&'static str],
    input: &'static [(&'static str, &'static str)],
    want: Option<&'static [(&'static str, &'static str)]>,
}

const CASES: &[Case] = &[
    Case {
        name: "replace with default regex copies the source",
        rules: &["{source_labels: [a], target_label: b}"],
        input: &[("a", "foo")],
        want: Some(&[("a", "foo"), ("b", "foo")]),
    },
    Case {
        name: "replace with capture groups and separator",
        rules: &["{source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: c, replacement: 'ch${1}-${2}'}"],
        input: &[("a", "foo"), ("b", "bar")],
        want: Some(&[("a", "foo"), ("b", "bar"), ("c", "choo-ba")]),
    },
    Case {
        name: "replace without match leaves the set alone",
        rules: &["{source_labels: [a], regex: 'x(.*)', target_label: c}"],
        input: &[("a", "foo")],
        want: Some(&[("a", "foo")]),
    },
    Case {
        name: "regex is anchored at both ends",
        rules: &["{source_labels: [a], regex: 'o', target_label: c, replacement: hit}"],
        input: &[("a", "foo")],
        want: Some(&[("a", "foo")]),
    },
    Case {
        name: "dot matches newline",
        rules: &["{source_labels: [a], regex: 'x.y', target_label: c, replacement: hit}"],
        input: &[("a", "x\ny")],
        want: Some(&[("a", "x\ny"), ("c", "hit")]),
    },
    Case {
        name: "replace to empty deletes the target",
        rules: &["{source_labels: [a], regex: '.*', target_label: b, replacement: ''}"],
        input: &[("a", "foo"), ("b", "bar")],
        want: Some(&[("a", "foo")]),
    },
    Case {
        name: "constant label with no source",
        rules: &["{target_label: env, replacement: prod}"],
        input: &[("a", "foo")],
        want: Some(&[("a", "foo"), ("env", "prod")]),
    },
    Case {
        name: "missing source joins as empty",
        rules: &["{source_labels: [a, missing], regex: '(.*);', target_label: c, replacement: '$1'}"],
        input: &[("a", "foo")],
        want: Some(&[("a", "foo"), ("c", "foo")]),
    },
    Case {
        // Reference: Prometheus 3.5.3 gives {"9x": "127.0.0.1y_$"} for address 127.0.0.1:9.
        name: "go template expansion in target and replacement",
        rules: &[
            "{source_labels: [a], regex: '(.*?)[:.]([0-9]+)', target_label: '${2}x', replacement: '$1_$2_$name_${1}y_$$'}",
        ],
        input: &[("a", "127.0.0.1:9")],
        want: Some(&[("a", "127.0.0.1:9"), ("9x", "127.0.0.1y_$")]),
    },
    Case {
        name: "keep matching",
        rules: &["{source_labels: [a], regex: 'f.*', action: keep}"],
        input: &[("a", "foo")],
        want: Some(&[("a", "foo")]),
    },
    Case {
        name: "keep not matching drops",
        rules: &["{source_labels: [a], regex: 'b.*', action: keep}"],
        input: &[("a", "foo")],
        want: None,
    },
    Case {
        name: "keep with missing label (empty value) drops",
        rules: &["{source_labels: [x], regex: '.+', action: keep}"],
        input: &[("a", "foo")],
        want: None,
    },
    Case {
        name: "drop matching",
        rules: &["{source_labels: [a], regex: 'f.*', action: drop}"],
        input: &[("a", "foo")],
        want: None,
    },
    Case {
        name: "drop not matching keeps",
        rules: &["{source_labels: [a], regex: 'b.*', action: DROP}"],
        input: &[("a", "foo")],
        want: Some(&[("a", "foo")]),
    },
    Case {
        name: "keepequal equal keeps",
        rules: &["{source_labels: [a], target_label: b, action: keepequal}"],
        input: &[("a", "x"), ("b", "x")],
        want: Some(&[("a", "x"), ("b", "x")]),
    },
    Case {
        name: "keepequal different drops",
        rules: &["{source_labels: [a], target_label: b, action: keepequal}"],
        input: &[("a", "x"), ("b", "y")],
        want: None,
    },
    Case {
        name: "dropequal equal drops",
        rules: &["{source_labels: [a], target_label: b, action: dropequal}"],
        input: &[("a", "x"), ("b", "x")],
        want: None,
    },
    Case {
        name: "dropequal different keeps",
        rules: &["{source_labels: [a], target_label: b, action: dropequal}"],
        input: &[("a", "x"), ("b", "y")],
        want: Some(&[("a", "x"), ("b", "y")]),
    },
    Case {
        // Reference values from Prometheus 3.5.3.
        name: "hashmod foo",
        rules: &[
            "{source_labels: [a], target_label: h1000, modulus: 1000, action: hashmod}",
            "{source_labels: [a], target_label: h7, modulus: 7, action: hashmod}",
        ],
        input: &[("a", "foo")],
        want: Some(&[("a", "foo"), ("h1000", "696"), ("h7", "2")]),
    },
    Case {
        name: "hashmod address",
        rules: &[
            "{source_labels: [a], target_label: h1000, modulus: 1000, action: hashmod}",
            "{source_labels: [a], target_label: h7, modulus: 7, action: hashmod}",
        ],
        input: &[("a", "node-1:9100")],
        want: Some(&[("a", "node-1:9100"), ("h1000", "805"), ("h7", "0")]),
    },
    Case {
        name: "labelmap copies matching names",
        rules: &["{action: labelmap, regex: '__meta_(.+)'}"],
        input: &[("__meta_zone", "eu"), ("a", "1")],
        want: Some(&[("__meta_zone", "eu"), ("a", "1"), ("zone", "eu")]),
    },
    Case {
        name: "labelmap with replacement",
        rules: &["{action: labelmap, regex: 'k(.)', replacement: 'x_${1}'}"],
        input: &[("ka", "1"), ("kb", "2"), ("kcc", "3")],
        want: Some(&[("ka", "1"), ("kb", "2"), ("kcc", "3"), ("x_a", "1"), ("x_b", "2")]),
    },
    Case {
        name: "labeldrop",
        rules: &["{action: labeldrop, regex: 'tmp_.*'}"],
        input: &[("tmp_a", "1"), ("tmp_b", "2"), ("keep", "3")],
        want: Some(&[("keep", "3")]),
    },
    Case {
        name: "labelkeep",
        rules: &["{action: labelkeep, regex: '__name__|job'}"],
        input: &[("__name__", "up"), ("job", "j"), ("other", "x")],
        want: Some(&[("__name__", "up"), ("job", "j")]),
    },
    Case {
        name: "lowercase",
        rules: &["{action: lowercase, source_labels: [a, b], target_label: c}"],
        input: &[("a", "FoO"), ("b", "ÄB")],
        want: Some(&[("a", "FoO"), ("b", "ÄB"), ("c", "foo;äb")]),
    },
    Case {
        name: "uppercase",
        rules: &["{action: uppercase, source_labels: [a], target_label: a}"],
        input: &[("a", "foo")],
        want: Some(&[("a", "FOO")]),
    },
    Case {
        name: "rules apply in order and see earlier results",
        rules: &[
            "{source_labels: [a], target_label: b, replacement: 'x$1'}",
            "{source_labels: [b], regex: 'xfoo', action: drop}",
        ],
        input: &[("a", "foo")],
        want: None,
    },
];

#[test]
fn actions_table() {
    for c in CASES {
        let rules: Vec<RelabelConfig> = c.rules.iter().map(|r| rule(r)).collect();
        let got = process(&l(c.input), &rules);
        assert_eq!(got, c.want.map(l), "case: {}", c.name);
    }
}

#[test]
fn validation_table() {
    let cases: &[(&str, &str, &str)] = &[
        ("{action: ''}", "action", "relabel action cannot be empty"),
        (
            "{action: explode, target_label: x}",
            "action",
            "unknown relabel action \"explode\"",
        ),
        (
            "{action: replace}",
            "action",
            "relabel configuration for replace action requires 'target_label' value",
        ),
        (
            "{action: hashmod, target_label: x}",
            "modulus",
            "relabel configuration for hashmod requires non-zero modulus",
        ),
        (
            "{action: lowercase, target_label: x, replacement: y}",
            "replacement",
            "'replacement' can not be set for lowercase action",
        ),
        (
            "{action: keepequal, target_label: x, regex: 'a'}",
            "action",
            "keepequal action requires only 'source_labels' and `target_label`, and no other fields",
        ),
        (
            "{action: labeldrop, regex: a, source_labels: [x]}",
            "action",
            "labeldrop action requires only 'regex', and no other fields",
        ),
        (
            "{action: labelkeep, regex: a, target_label: x}",
            "action",
            "labelkeep action requires only 'regex', and no other fields",
        ),
        (
            "{action: labelmap, regex: a, replacement: ''}",
            "replacement",
            "\"\" is invalid 'replacement' for labelmap action",
        ),
        ("{target_label: x, regex: '('}", "regex", "invalid regex \"(\""),
    ];
    for (yaml, key, msg) in cases {
        let raw: RawRelabelConfig = serde_yaml_ng::from_str(yaml).expect("parses");
        let e = raw.resolve().expect_err(yaml);
        assert_eq!(e.key, *key, "{yaml}");
        assert!(e.message.starts_with(msg), "{yaml}: got {:?}", e.message);
    }
}

#[test]
fn valid_rules_table() {
    for yaml in [
        "{action: labeldrop, regex: a}",
        "{action: keepequal, source_labels: [a], target_label: b}",
        "{action: hashmod, source_labels: [a], target_label: b, modulus: 2}",
        "{action: Replace, target_label: '${1}'}",
    ] {
        let raw: RawRelabelConfig = serde_yaml_ng::from_str(yaml).expect("parses");
        assert!(raw.resolve().is_ok(), "{yaml}");
    }
}

#[test]
fn go_regex_semantics_table() {
    // (pattern, input, matches as in Go RE2, fully anchored)
    let cases: &[(&str, &str, bool)] = &[
        (r"\d+", "123", true),
        (r"\d+", "١٢٣", false), // Arabic-Indic digits: Unicode \d in Rust, not in Go
        (r"\D", "١", true),
        (r"\w+", "abc_1", true),
        (r"\w+", "é", false),
        (r"\s", "\u{a0}", false), // no-break space: not in Go's \s
        (r"\s", "\t", true),
        (r"[\d.]+", "1.2.3", true),
        (r"[^\d]+", "ab", true),
        (r"[^\d]+", "a1", false),
        (r"a\bb", "ab", false),
        (r".*\b.*", "a b", true),
        (r"[[:alpha:]]+", "abc", true),
        (r"[a[]+", "a[a", true), // `[` is a literal inside a Go class
        (r"[]a]+", "]a", true),
        (r"[a&&b]+", "a&b", true), // no intersection in Go
        (r"\\d", "\\d", true),     // an escaped backslash then a literal d
        (r"\pL+", "é", true),
        (r"(.+):\d+", "host:9100", true),
    ];
    for (pat, input, want) in cases {
        let re = Regex::new(pat).unwrap_or_else(|e| panic!("{pat}: {e}"));
        assert_eq!(
            re.is_match(input),
            *want,
            "{pat:?} on {input:?} (rewritten {:?})",
            go_syntax(pat)
        );
    }
}

//! Hostile and malformed inputs: truncations of every test file, huge numbers, invalid UTF-8, NUL bytes and
//! oversized lines never panic and give the documented results.

use std::path::Path;

use diamond_exposition::{Entry, ErrorKind, Format, Parser, count_samples, validate_openmetrics};

/// Parses `input` fully in `format`, calling every accessor; returns the samples' rendered labels and the error.
fn parse(input: &[u8], format: Format) -> (Vec<String>, Option<ErrorKind>) {
    let mut p = Parser::new(input, format);
    let mut out = Vec::new();
    while let Some(e) = p.next() {
        match e {
            Ok(Entry::Sample(s)) => {
                let _ = (s.series(), s.metric_name(), s.timestamp_ms(), s.exemplar());
                out.push(format!("{} {:?}", s.labels(), s.value()));
            }
            Ok(_) => {}
            Err(e) => return (out, Some(e.kind)),
        }
    }
    (out, None)
}

/// Tells whether an error kind is the expected one.
type IsKind = fn(&ErrorKind) -> bool;

/// An input, its format, and the samples it gives or the error it fails with.
type Case = (String, Format, Result<Vec<&'static str>, IsKind>);

fn test_files() -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    for dir in [
        "/work/shared/testdata/openmetrics-parsers",
        "/work/shared/testdata/exposition",
    ] {
        for entry in std::fs::read_dir(dir).expect("test data present").flatten() {
            let p = entry.path();
            let file = if p.is_dir() { p.join("metrics") } else { p };
            if file.extension().is_some_and(|e| e == "txt") || file.ends_with("metrics") {
                files.push(std::fs::read(&file).expect("readable"));
            }
        }
    }
    assert!(files.len() > 200);
    files
}

#[test]
fn every_truncation_of_every_test_file_is_handled() {
    let mut checked = 0;
    for file in test_files() {
        // Cut at every byte of the first 300, then at up to 20 line ends spread over the file (cutting at every one
        // would make this test quadratic in the big corpora).
        let ends: Vec<usize> = file
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i)
            .collect();
        let step = ends.len().div_ceil(20).max(1);
        let cuts = (0..file.len().min(300)).chain(ends.into_iter().step_by(step));
        for cut in cuts {
            let input = &file[..cut];
            for format in [Format::PromText, Format::OpenMetrics] {
                let (samples, err) = parse(input, format);
                match count_samples(input, format) {
                    Ok(n) => assert!(err.is_none() && n == samples.len()),
                    Err(e) => assert_eq!(Some(e.kind), err),
                }
            }
            let _ = validate_openmetrics(input);
            checked += 1;
        }
    }
    assert!(checked > 10_000, "{checked}");
}

#[test]
fn truncated_openmetrics_never_validates() {
    // Every strict prefix of a valid OpenMetrics body lacks the final "# EOF", except the one that only drops the
    // final newline.
    let body = std::fs::read(Path::new("/work/shared/testdata/openmetrics-parsers/roundtrip/metrics")).expect("file");
    assert_eq!(validate_openmetrics(&body), Ok(()));
    for cut in 0..body.len() - 1 {
        assert!(
            validate_openmetrics(&body[..cut]).is_err(),
            "prefix of {cut} bytes validated"
        );
    }
}

#[test]
fn huge_numbers() {
    let zeros = "0".repeat(400);
    let cases: Vec<Case> = vec![
        (
            "a 1e309\n".into(),
            Format::PromText,
            Err(|k| matches!(k, ErrorKind::InvalidValue(_))),
        ),
        (
            "a -1e309\n".into(),
            Format::PromText,
            Err(|k| matches!(k, ErrorKind::InvalidValue(_))),
        ),
        ("a 1e-400\n".into(), Format::PromText, Ok(vec![r#"{__name__="a"} 0.0"#])),
        (
            format!("a 1{zeros}\n"),
            Format::PromText,
            Err(|k| matches!(k, ErrorKind::InvalidValue(_))),
        ),
        (
            format!("a 0.{zeros}1\n"),
            Format::PromText,
            Ok(vec![r#"{__name__="a"} 0.0"#]),
        ),
        (
            format!("a {zeros}7\n"),
            Format::PromText,
            Ok(vec![r#"{__name__="a"} 7.0"#]),
        ),
        (
            "a 1.7976931348623157e308\n".into(),
            Format::PromText,
            Ok(vec![r#"{__name__="a"} 1.7976931348623157e308"#]),
        ),
        (
            "a 1 9223372036854775807\n".into(),
            Format::PromText,
            Ok(vec![r#"{__name__="a"} 1.0"#]),
        ),
        (
            "a 1 9223372036854775808\n".into(),
            Format::PromText,
            Err(|k| matches!(k, ErrorKind::InvalidTimestamp(_))),
        ),
        (
            format!("a 1 {zeros}5\n"),
            Format::PromText,
            Ok(vec![r#"{__name__="a"} 1.0"#]),
        ),
        (
            "a 1 1e300\n# EOF\n".into(),
            Format::OpenMetrics,
            Ok(vec![r#"{__name__="a"} 1.0"#]),
        ),
        (
            "a 1 # {} 1 1e300\n# EOF\n".into(),
            Format::OpenMetrics,
            Ok(vec![r#"{__name__="a"} 1.0"#]),
        ),
        (
            "a 1 1e400\n# EOF\n".into(),
            Format::OpenMetrics,
            Err(|k| matches!(k, ErrorKind::InvalidTimestamp(_))),
        ),
    ];
    for (input, format, want) in cases {
        let (samples, err) = parse(input.as_bytes(), format);
        match want {
            Ok(want) => assert_eq!(
                (samples, err),
                (want.iter().map(|s| s.to_string()).collect(), None),
                "{input:.60}"
            ),
            Err(is) => assert!(err.as_ref().is_some_and(is), "{input:.60}: {err:?}"),
        }
    }
    // Timestamps beyond the i64 range of milliseconds convert as Go's int64() does on amd64.
    let mut p = Parser::new(b"a 1 1e300 # {} 1 -1e300\n# EOF\n", Format::OpenMetrics);
    let Some(Ok(Entry::Sample(s))) = p.next() else {
        panic!("a sample")
    };
    assert_eq!(s.timestamp_ms(), Some(i64::MIN));
    assert_eq!(s.exemplar().map(|e| e.ts), Some(i64::MIN));
}

#[test]
fn invalid_utf8_and_nul_bytes() {
    let cases: &[(&[u8], Format, usize, Option<IsKind>)] = &[
        (
            b"a{b=\"\xc0\xaf\"} 1\n",
            Format::PromText,
            0,
            Some(|k| matches!(k, ErrorKind::InvalidUtf8)),
        ),
        (
            b"a{b=\"\xed\xa0\x80\"} 1\n",
            Format::PromText,
            0,
            Some(|k| matches!(k, ErrorKind::InvalidUtf8)),
        ),
        (
            b"{\"\xff\"} 1\n",
            Format::PromText,
            0,
            Some(|k| matches!(k, ErrorKind::InvalidUtf8)),
        ),
        (
            b"a 1 \xff\n",
            Format::PromText,
            0,
            Some(|k| matches!(k, ErrorKind::InvalidUtf8)),
        ),
        (
            b"# HELP a \xff\n# EOF\n",
            Format::OpenMetrics,
            0,
            Some(|k| matches!(k, ErrorKind::InvalidUtf8)),
        ),
        (
            b"a 1 # {t=\"\xff\"} 1\n# EOF\n",
            Format::OpenMetrics,
            0,
            Some(|k| matches!(k, ErrorKind::InvalidUtf8)),
        ),
        (b"# \xff comment\na 1\n", Format::PromText, 1, None),
        (b"a{b=\"\0\0\"} 1\n", Format::PromText, 1, None),
        (b"a{b=\"\0\"} 1\n# EOF\n", Format::OpenMetrics, 1, None),
        (
            b"a 1\0\n",
            Format::PromText,
            0,
            Some(|k| matches!(k, ErrorKind::InvalidValue(_))),
        ),
        (
            b"a\0 1\n",
            Format::PromText,
            0,
            Some(|k| matches!(k, ErrorKind::InvalidValue(_))),
        ),
        (
            b"\0",
            Format::PromText,
            0,
            Some(|k| matches!(k, ErrorKind::Unexpected { .. })),
        ),
        (
            b"\0",
            Format::OpenMetrics,
            0,
            Some(|k| matches!(k, ErrorKind::Unexpected { .. })),
        ),
        (
            b"a 1\n# EOF\n\0",
            Format::OpenMetrics,
            1,
            Some(|k| matches!(k, ErrorKind::DataAfterEof)),
        ),
    ];
    for (input, format, want_samples, want_err) in cases {
        let (samples, err) = parse(input, *format);
        assert_eq!(samples.len(), *want_samples, "{input:?}");
        match want_err {
            Some(is) => assert!(err.as_ref().is_some_and(is), "{input:?}: {err:?}"),
            None => assert_eq!(err, None, "{input:?}"),
        }
    }
}

#[test]
fn oversized_lines_and_label_sets() {
    // A 1 MiB label value.
    let big = format!("a{{b=\"{}\"}} 1\n", "x".repeat(1 << 20));
    let (samples, err) = parse(big.as_bytes(), Format::PromText);
    assert_eq!((samples.len(), err), (1, None));

    // 50k distinct labels parse; a duplicate at the end is found without quadratic work.
    let labels: Vec<String> = (0..50_000).map(|i| format!("l{i}=\"v\"")).collect();
    let line = format!("a{{{}}} 1\n", labels.join(","));
    let mut p = Parser::new(line.as_bytes(), Format::PromText);
    let Some(Ok(Entry::Sample(s))) = p.next() else {
        panic!("a sample")
    };
    assert_eq!(s.labels().len(), 50_001);
    let dup = format!("a{{{},l7=\"w\"}} 1\n", labels.join(","));
    let (_, err) = parse(dup.as_bytes(), Format::PromText);
    assert_eq!(err, Some(ErrorKind::DuplicateLabel("l7".into())));

    // Many lines.
    let many = "a 1\n".repeat(200_000);
    assert_eq!(count_samples(many.as_bytes(), Format::PromText), Ok(200_000));

    // An unterminated quote runs to the end of the line only.
    let (samples, err) = parse(b"a{b=\"x 1\nc 2\n", Format::PromText);
    assert!(samples.is_empty() && matches!(err, Some(ErrorKind::Unexpected { .. })));
}

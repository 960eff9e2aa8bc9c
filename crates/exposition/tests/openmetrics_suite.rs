//! Runs the OpenMetrics project's parser conformance suite (`/work/shared/testdata/openmetrics-parsers/`, one
//! folder per case with `metrics` and `test.json`) through `validate_openmetrics`, and checks that the Prometheus
//! exposition corpora parse to the number of samples counted independently of our parser.

use std::path::{Path, PathBuf};

use diamond_exposition::{Entry, Format, Parser, count_samples, validate_openmetrics};

const SUITE: &str = "/work/shared/testdata/openmetrics-parsers";
const CORPORA: &str = "/work/shared/testdata/exposition";

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(SUITE)
        .expect("the OpenMetrics suite is present")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("test.json").is_file())
        .collect();
    v.sort();
    v
}

fn should_parse(dir: &Path) -> bool {
    let json = std::fs::read_to_string(dir.join("test.json")).expect("test.json readable");
    let v: serde_json::Value = serde_json::from_str(&json).expect("test.json is JSON");
    assert_eq!(v["type"], "text", "{dir:?}: only text cases exist");
    v["shouldParse"].as_bool().expect("shouldParse is a bool")
}

#[test]
fn openmetrics_suite() {
    let cases = cases();
    assert!(cases.len() > 200, "suite has {} cases", cases.len());
    let mut failed = Vec::new();
    for dir in &cases {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let input = std::fs::read(dir.join("metrics")).expect("metrics readable");
        let want = should_parse(dir);
        let got = validate_openmetrics(&input);
        if got.is_ok() != want {
            failed.push(format!("{name} (want shouldParse={want}, got {got:?})"));
        }
    }
    println!(
        "openmetrics suite: {} passed, {} failed",
        cases.len() - failed.len(),
        failed.len()
    );
    for f in &failed {
        println!("  FAILED {f}");
    }
    assert!(failed.is_empty(), "{} of {} cases failed", failed.len(), cases.len());
}

/// Sample lines counted without our parser: `grep -v '^#' FILE | grep -cv '^[[:space:]]*$'` (every non-blank line
/// that is not a comment or metadata is one sample in these files), and exemplars with `grep -c ' # {' FILE`.
const CORPUS_COUNTS: &[(&str, Format, usize, usize)] = &[
    ("1histogram.om.txt", Format::OpenMetrics, 42, 0),
    ("alltypes.5mfs.om.txt", Format::OpenMetrics, 53, 6),
    ("alltypes.237mfs.prom.txt", Format::PromText, 1857, 0),
    ("alltypes.237mfs.nometa.prom.txt", Format::PromText, 1857, 0),
];

/// The same count computed naively in the test: non-blank lines that do not start with `#`.
fn naive_count(input: &[u8]) -> usize {
    input
        .split(|&b| b == b'\n')
        .filter(|l| l.iter().any(|b| !b.is_ascii_whitespace()) && !l.starts_with(b"#"))
        .count()
}

#[test]
fn corpora_parse_to_the_expected_number_of_samples() {
    for &(file, format, want, want_exemplars) in CORPUS_COUNTS {
        let input = std::fs::read(Path::new(CORPORA).join(file)).expect("corpus readable");
        assert_eq!(
            naive_count(&input),
            want,
            "{file}: naive count disagrees with the recorded one"
        );
        assert_eq!(count_samples(&input, format), Ok(want), "{file}");
        let mut p = Parser::new(&input, format);
        let mut exemplars = 0;
        while let Some(e) = p.next() {
            if let Entry::Sample(s) = e.expect("corpus parses") {
                let labels = s.labels();
                assert_eq!(
                    labels.metric_name(),
                    Some(s.metric_name().as_ref()),
                    "{file}: {}",
                    s.series()
                );
                if let Some(ex) = s.exemplar() {
                    assert!(ex.has_ts, "{file}: the corpus exemplars all carry timestamps");
                    exemplars += 1;
                }
            }
        }
        assert_eq!(exemplars, want_exemplars, "{file}: exemplars");
    }
}

#[test]
fn classic_corpus_with_and_without_metadata_has_the_same_samples() {
    let read = |f: &str| std::fs::read(Path::new(CORPORA).join(f)).expect("corpus readable");
    let (a, b) = (
        read("alltypes.237mfs.prom.txt"),
        read("alltypes.237mfs.nometa.prom.txt"),
    );
    let samples = |input: &[u8]| {
        let mut p = Parser::new(input, Format::PromText);
        let mut v = Vec::new();
        while let Some(e) = p.next() {
            if let Entry::Sample(s) = e.expect("corpus parses") {
                v.push((s.series().to_owned(), s.value().to_bits(), s.timestamp_ms()));
            }
        }
        v
    };
    assert_eq!(samples(&a), samples(&b));
}

#[test]
fn openmetrics_corpora_strict_verdicts() {
    let read = |f: &str| std::fs::read(Path::new(CORPORA).join(f)).expect("corpus readable");
    assert_eq!(validate_openmetrics(&read("1histogram.om.txt")), Ok(()));
    // rpc_durations_histogram_seconds has negative buckets and a (negative) _sum on line 33, which OpenMetrics 1.0
    // forbids: Prometheus scrapes it, the strict validator must not accept it.
    let err = validate_openmetrics(&read("alltypes.5mfs.om.txt")).expect_err("negative buckets with _sum");
    assert_eq!(err.line, 33, "{err}");
}

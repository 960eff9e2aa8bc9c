//! Runs Prometheus's own PromQL test scripts (`/work/shared/testdata/promqltest/*.test`, the `load`/`eval`
//! format of `promql/promqltest`) against our engine over `MemStorage`.
//!
//! Per file it reports passed, failed and not-applicable cases. Every case is run; a case that fails and
//! needs native histograms (an expected value written as a histogram `{{...}}`, or a query selecting a
//! series that holds native histogram samples, including the series `load_with_nhcb` would add) counts as
//! not applicable and is listed; every other failure is printed with file:line, expected and got.
//!
//! `tests/promqltest-known-failures.txt` lists (one `file:line` per line) the cases that fail today. The run
//! fails if a case fails that is not listed, or if a listed case passes (so the list only shrinks). Set
//! `PROMQLTEST_WRITE_KNOWN=1` to rewrite the list from the current failures.
//!
//! `PROMQLTEST_VERBOSE=1` also prints why each not-applicable case failed.
//!
//! The `promqltest_blocks` test target (this file again; or `PROMQLTEST_STORAGE=blocks`) runs every case
//! against a `diamond_tsdb::Db` instead, with each load's data split into three on-disk blocks plus the
//! head, so results must be the same when queries merge head and several blocks.
//!
//! This is a `harness = false` test so the per-file counts are printed on every run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use diamond_model::storage::memory::MemStorage;
use diamond_model::storage::{Queryable, matches_all};
use diamond_model::{Labels, STALE_NAN, format_value, parse_value};
use diamond_promql::{
    CancelToken, DELAYED_NAME_REMOVAL, EXPERIMENTAL_FUNCTIONS, Engine, EngineOptions, QueryResult, Value,
};

const TESTDATA: &str = "/work/shared/testdata/promqltest";

/// Runs the corpus (also the entry point of `promqltest_blocks.rs`).
pub fn main() {
    let known_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/promqltest-known-failures.txt");
    let known: BTreeSet<String> = std::fs::read_to_string(&known_path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let mut files: Vec<PathBuf> = std::fs::read_dir(TESTDATA)
        .expect("test data folder is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files found in {TESTDATA}");
    // Our own cases with expectations generated from the reference Prometheus (see tests/reference/gen.py).
    files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/reference.test"));

    let mut failures: Vec<(String, String)> = Vec::new();
    let mut not_applicable: Vec<String> = Vec::new();
    let mut counts: Vec<(String, usize, usize, usize)> = Vec::new();
    for f in &files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_owned();
        let text = std::fs::read_to_string(f).expect("test file is readable");
        // promtool reports scalar results as `{}` vectors; the reference file is lenient about that.
        let r = run_file(&name, &text, name == "reference.test");
        counts.push((name.clone(), r.passed, r.failed.len(), r.na.len()));
        failures.extend(r.failed);
        not_applicable.extend(r.na);
    }

    println!("\n=== failures ===");
    for (id, msg) in &failures {
        let mark = if known.contains(id) { "known" } else { "NEW" };
        println!("[{mark}] {id}: {msg}");
    }
    println!("\n=== not applicable (need native histograms) ===");
    println!("{}", not_applicable.join(" "));
    println!("\n=== per-file counts ===");
    println!("{:<28} {:>7} {:>7} {:>7}", "file", "passed", "failed", "n/a");
    let (mut tp, mut tf, mut tn) = (0, 0, 0);
    for (n, p, fl, na) in &counts {
        println!("{n:<28} {p:>7} {fl:>7} {na:>7}");
        tp += p;
        tf += fl;
        tn += na;
    }
    println!("{:<28} {tp:>7} {tf:>7} {tn:>7}", "TOTAL");

    let failed_ids: BTreeSet<String> = failures.iter().map(|(id, _)| id.clone()).collect();
    if std::env::var_os("PROMQLTEST_WRITE_KNOWN").is_some() {
        let mut s =
            String::from("# Cases of the Prometheus promqltest corpus that fail today (file:line). Only shrink.\n");
        for id in &failed_ids {
            let _ = writeln!(s, "{id}");
        }
        std::fs::write(&known_path, s).expect("known-failures list is writable");
        println!("\nrewrote {}", known_path.display());
        return;
    }
    let new: Vec<&String> = failed_ids.difference(&known).collect();
    let fixed: Vec<&String> = known.difference(&failed_ids).collect();
    let mut bad = false;
    if !new.is_empty() {
        println!(
            "\n{} case(s) fail that are not in the known-failures list: {new:?}",
            new.len()
        );
        bad = true;
    }
    if !fixed.is_empty() {
        println!(
            "\n{} listed case(s) now pass; remove them from the known-failures list: {fixed:?}",
            fixed.len()
        );
        bad = true;
    }
    if bad {
        std::process::exit(1);
    }
    println!("\npromqltest: ok ({tp} passed, {tf} known failures, {tn} not applicable)");
}

#[derive(Default)]
struct FileResult {
    passed: usize,
    failed: Vec<(String, String)>,
    na: Vec<String>,
}

enum Kind {
    Instant(i64),
    Range(i64, i64, i64),
}

#[derive(Debug, Clone)]
enum Expected {
    Scalar(f64),
    Str(String),
    Series(Labels, Vec<Option<f64>>),
}

struct Case {
    kind: Kind,
    expr: String,
    fail: bool,
    warn: bool,
    info: bool,
    no_warn: bool,
    no_info: bool,
    ordered: bool,
    fail_msg: Option<String>,
    fail_re: Option<String>,
    warn_msgs: Vec<String>,
    info_msgs: Vec<String>,
    expected: Vec<Expected>,
    has_histogram: bool,
}

fn run_file(file: &str, text: &str, reference: bool) -> FileResult {
    let lines: Vec<&str> = text.lines().collect();
    let mut res = FileResult::default();
    let mut db = MemStorage::new();
    let mut hist_series: Vec<Labels> = Vec::new();
    // The blocks-mode copy of `db`, rebuilt after every load.
    let mut on_disk: Option<(tempfile::TempDir, diamond_tsdb::Db)> = None;
    // Prometheus's test engine enables experimental functions and delayed name removal; the reference
    // file was produced by promtool, which runs with the server's defaults (neither).
    let features = if reference {
        Vec::new()
    } else {
        vec![EXPERIMENTAL_FUNCTIONS.to_owned(), DELAYED_NAME_REMOVAL.to_owned()]
    };
    let engine = Engine::new(EngineOptions {
        enable_features: features,
        ..EngineOptions::default()
    });
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let lineno = i + 1;
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let id = format!("{file}:{lineno}");
        if line == "clear" {
            on_disk = None;
            db = MemStorage::new();
            hist_series.clear();
            continue;
        }
        let (cmd, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let body = block(&lines, &mut i);
        match cmd {
            "load" | "load_with_nhcb" => {
                on_disk = None;
                if let Err(e) = load(&db, &mut hist_series, rest.trim(), &body, cmd == "load_with_nhcb") {
                    res.failed.push((id, format!("bad load block: {e}")));
                }
            }
            c if c.starts_with("eval") => {
                let case = match parse_case(c, rest.trim(), &body) {
                    Ok(c) => c,
                    Err(e) => {
                        res.failed.push((id, format!("cannot parse case: {e}")));
                        continue;
                    }
                };
                if blocks_mode() && on_disk.is_none() {
                    match to_blocks(&db) {
                        Ok(v) => on_disk = Some(v),
                        Err(e) => {
                            res.failed.push((id, format!("cannot write blocks: {e}")));
                            continue;
                        }
                    }
                }
                let q: &dyn Queryable = match &on_disk {
                    Some((_, d)) => d,
                    None => &db,
                };
                match run_case(&engine, q, &case, reference) {
                    Ok(()) => res.passed += 1,
                    // A failing case that involves native histograms is not applicable, not failed.
                    Err(e) if needs_native_histograms(&case, &hist_series) => {
                        if std::env::var_os("PROMQLTEST_VERBOSE").is_some() {
                            println!("[n/a] {id}: {}\n      {}", case.expr, e.replace('\n', "\n      "));
                        }
                        res.na.push(id);
                    }
                    Err(e) => res
                        .failed
                        .push((id, format!("{}\n      {}", case.expr, e.replace('\n', "\n      ")))),
                }
            }
            other => res.failed.push((id, format!("unknown command {other:?}"))),
        }
    }
    res
}

/// The indented (or at least non-blank) lines after a command, up to a blank line; comments skipped.
fn block<'a>(lines: &[&'a str], i: &mut usize) -> Vec<&'a str> {
    let mut out = Vec::new();
    while *i < lines.len() {
        let l = lines[*i].trim();
        if l.is_empty() {
            break;
        }
        // A new command at column 0 also ends a block.
        if !lines[*i].starts_with(char::is_whitespace)
            && (l.starts_with("eval") || l.starts_with("load") || l == "clear")
        {
            break;
        }
        *i += 1;
        if l.starts_with('#') {
            continue;
        }
        out.push(l);
    }
    out
}

fn needs_native_histograms(case: &Case, hist_series: &[Labels]) -> bool {
    if case.has_histogram {
        return true;
    }
    if hist_series.is_empty() {
        return false;
    }
    let Ok(expr) = diamond_promql::parse(&case.expr) else {
        return false;
    };
    diamond_promql::extract_selectors(&expr)
        .iter()
        .any(|set| hist_series.iter().any(|l| matches_all(l, set)))
}

fn load(db: &MemStorage, hist: &mut Vec<Labels>, interval: &str, body: &[&str], nhcb: bool) -> Result<(), String> {
    let step = parse_duration(interval).ok_or_else(|| format!("bad interval {interval:?}"))?;
    for l in body {
        let (labels, rest) = parse_series_desc(l)?;
        if rest.contains("{{") {
            // The float samples of a series that also holds native histograms are loaded; the histogram
            // samples are left out (they count as gaps), and the series is remembered as needing them.
            hist.push(labels.clone());
        }
        let vals = parse_values(rest)?;
        let samples: Vec<(i64, f64)> = vals
            .iter()
            .enumerate()
            .filter_map(|(k, v)| v.map(|v| (k as i64 * step, v)))
            .collect();
        if nhcb
            && let (Some(name), true) = (labels.metric_name(), labels.has("le"))
            && let Some(base) = name.strip_suffix("_bucket")
        {
            // load_with_nhcb also creates a native histogram series named after the classic family.
            let mut b = labels.without(&["le"]).builder();
            b.set("__name__", base);
            hist.push(b.build());
        }
        db.add(labels, &samples);
    }
    Ok(())
}

fn parse_case(cmd: &str, rest: &str, body: &[&str]) -> Result<Case, String> {
    let mut case = Case {
        kind: Kind::Instant(0),
        expr: String::new(),
        fail: cmd == "eval_fail",
        warn: cmd == "eval_warn",
        info: cmd == "eval_info",
        no_warn: false,
        no_info: false,
        ordered: cmd == "eval_ordered",
        fail_msg: None,
        fail_re: None,
        warn_msgs: Vec::new(),
        info_msgs: Vec::new(),
        expected: Vec::new(),
        has_histogram: false,
    };
    let words: Vec<&str> = rest.split_whitespace().collect();
    match words.first() {
        Some(&"instant") => {
            if words.get(1) != Some(&"at") {
                return Err("expected `instant at`".into());
            }
            let t = words.get(2).and_then(|w| parse_duration(w)).ok_or("bad time")?;
            case.kind = Kind::Instant(t);
            case.expr = after_words(rest, 3);
        }
        Some(&"range") => {
            let get = |k: usize| words.get(k).and_then(|w| parse_duration(w));
            let (Some(s), Some(e), Some(st)) = (get(2), get(4), get(6)) else {
                return Err("bad range header".into());
            };
            case.kind = Kind::Range(s, e, st);
            case.expr = after_words(rest, 7);
        }
        _ => return Err(format!("bad eval header {rest:?}")),
    }
    for l in body {
        if let Some(m) = l.strip_prefix("expected_fail_message") {
            case.fail_msg = Some(m.trim().to_owned());
        } else if let Some(m) = l.strip_prefix("expected_fail_regexp") {
            case.fail_re = Some(m.trim().to_owned());
        } else if let Some(m) = l.strip_prefix("expect ") {
            let m = m.trim();
            let (what, msg) = match m.split_once(" msg:") {
                Some((w, msg)) => (w.trim(), Some(msg.trim().to_owned())),
                None => (m, None),
            };
            match what {
                "warn" => {
                    case.warn = true;
                    case.warn_msgs.extend(msg);
                }
                "info" => {
                    case.info = true;
                    case.info_msgs.extend(msg);
                }
                "no_warn" => case.no_warn = true,
                "no_info" => case.no_info = true,
                "fail" => {
                    case.fail = true;
                    case.fail_msg = msg;
                }
                "ordered" => case.ordered = true,
                other => return Err(format!("unknown expect {other:?}")),
            }
        } else if l.contains("{{") {
            case.has_histogram = true;
        } else if l.starts_with('"') {
            case.expected.push(Expected::Str(unquote(l)?.0));
        } else if let Some(v) = parse_value(l) {
            case.expected.push(Expected::Scalar(v));
        } else {
            let (labels, rest) = parse_series_desc(l)?;
            case.expected.push(Expected::Series(labels, parse_values(rest)?));
        }
    }
    Ok(case)
}

/// The text after the first `n` whitespace-separated words.
fn after_words(s: &str, n: usize) -> String {
    let mut rest = s.trim_start();
    for _ in 0..n {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[end..].trim_start();
    }
    rest.to_owned()
}

fn run_case(engine: &Engine, db: &dyn Queryable, case: &Case, reference: bool) -> Result<(), String> {
    let cancel = CancelToken::new();
    let res = match case.kind {
        Kind::Instant(t) => engine.instant_query(db, &case.expr, t, &cancel),
        Kind::Range(s, e, st) => engine.range_query(db, &case.expr, s, e, st, &cancel),
    };
    let res = match res {
        Err(e) => {
            if !case.fail {
                return Err(format!("unexpected error: {}", e.message));
            }
            if let Some(m) = &case.fail_msg
                && &e.message != m
            {
                return Err(format!("expected error {m:?}, got {:?}", e.message));
            }
            if let Some(re) = &case.fail_re {
                let r = regex::Regex::new(re).map_err(|e| format!("bad expected_fail_regexp: {e}"))?;
                if !r.is_match(&e.message) {
                    return Err(format!("expected error matching {re:?}, got {:?}", e.message));
                }
            }
            return Ok(());
        }
        Ok(r) => r,
    };
    if case.fail {
        return Err(format!("expected an error, got {}", show_value(&res.value)));
    }
    check_annotations(case, &res)?;
    match (&case.kind, &res.value) {
        (Kind::Instant(_), Value::Scalar { v, .. }) if reference => match case.expected.as_slice() {
            [Expected::Series(l, e)] if l.is_empty() && e.len() == 1 && e[0].is_some_and(|e| almost_equal(e, *v)) => {
                Ok(())
            }
            _ => Err(format!("expected {:?}, got scalar {}", case.expected, format_value(*v))),
        },
        (Kind::Instant(t), Value::Vector(v)) => {
            let got: Vec<(Labels, f64)> = v.iter().map(|s| (s.labels.clone(), s.v)).collect();
            compare_instant(case, &got)?;
            same_as_range_query(engine, db, &case.expr, *t, &got)
        }
        (Kind::Instant(_), Value::Scalar { v, .. }) => match case.expected.as_slice() {
            [Expected::Scalar(e)] if almost_equal(*e, *v) => Ok(()),
            _ => Err(format!("expected {:?}, got scalar {}", case.expected, format_value(*v))),
        },
        (Kind::Instant(_), Value::String { s, .. }) => match case.expected.as_slice() {
            [Expected::Str(e)] if e == s => Ok(()),
            _ => Err(format!("expected {:?}, got string {s:?}", case.expected)),
        },
        (Kind::Range(s, _, st), Value::Matrix(m)) => compare_range(case, *s, *st, m),
        (_, v) => Err(format!("unexpected result type: {}", show_value(v))),
    }
}

/// Like Prometheus's test runner, an instant query must give the same result as a range query with a
/// single step at the same time.
fn same_as_range_query(
    engine: &Engine,
    db: &dyn Queryable,
    expr: &str,
    t: i64,
    got: &[(Labels, f64)],
) -> Result<(), String> {
    let r = engine
        .range_query(db, expr, t, t, 60_000, &CancelToken::new())
        .map_err(|e| format!("as a range query: unexpected error: {}", e.message))?;
    let Value::Matrix(m) = r.value else {
        return Err("as a range query: not a matrix".into());
    };
    let mut a: Vec<(Labels, f64)> = m
        .iter()
        .filter_map(|s| s.samples.first().map(|p| (s.labels.clone(), p.1)))
        .collect();
    let mut b = got.to_vec();
    a.sort_by(|x, y| x.0.cmp(&y.0));
    b.sort_by(|x, y| x.0.cmp(&y.0));
    let same = a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.0 == y.0 && almost_equal(x.1, y.1));
    if same {
        Ok(())
    } else {
        Err(format!("as a range query the result differs: {a:?}"))
    }
}

fn check_annotations(case: &Case, res: &QueryResult) -> Result<(), String> {
    if case.warn && res.warnings.is_empty() {
        return Err("expected warnings, got none".into());
    }
    if !case.warn && !res.warnings.is_empty() {
        return Err(format!("unexpected warnings: {:?}", res.warnings));
    }
    if case.info && res.infos.is_empty() {
        return Err("expected info annotations, got none".into());
    }
    if (!case.info || case.no_info) && !res.infos.is_empty() {
        return Err(format!("unexpected info annotations: {:?}", res.infos));
    }
    // Prometheus's promqltest compares `annotations.AsStrings("", …)`: with no query text there is no
    // ` (line:col)` suffix, which its HTTP API (and Diamond's engine) appends. Compare without it.
    let bare = |v: &[String]| -> Vec<String> { v.iter().map(|m| without_position(m).to_owned()).collect() };
    let (warnings, infos) = (bare(&res.warnings), bare(&res.infos));
    for m in &case.warn_msgs {
        if !warnings.contains(m) {
            return Err(format!("expected warning {m:?}, got {:?}", res.warnings));
        }
    }
    for m in &case.info_msgs {
        if !infos.contains(m) {
            return Err(format!("expected info {m:?}, got {:?}", res.infos));
        }
    }
    Ok(())
}

/// `msg` without a trailing ` (<line>:<col>)`.
fn without_position(msg: &str) -> &str {
    let Some(open) = msg.rfind(" (") else { return msg };
    let inner = &msg[open + 2..];
    let Some(inner) = inner.strip_suffix(')') else {
        return msg;
    };
    match inner.split_once(':') {
        Some((l, c))
            if !l.is_empty() && !c.is_empty() && (l.chars().chain(c.chars())).all(|ch| ch.is_ascii_digit()) =>
        {
            &msg[..open]
        }
        _ => msg,
    }
}

fn compare_instant(case: &Case, got: &[(Labels, f64)]) -> Result<(), String> {
    let mut exp: Vec<(Labels, f64)> = Vec::new();
    for e in &case.expected {
        match e {
            Expected::Series(l, v) if v.len() == 1 && v[0].is_some() => exp.push((l.clone(), v[0].unwrap_or_default())),
            other => return Err(format!("expected {other:?} but the query returned a vector")),
        }
    }
    let show = |v: &[(Labels, f64)]| {
        v.iter()
            .map(|(l, x)| format!("{l} {}", format_value(*x)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mismatch = || format!("expected [{}]\n got      [{}]", show(&exp), show(got));
    if exp.len() != got.len() {
        return Err(mismatch());
    }
    if case.ordered {
        for (e, g) in exp.iter().zip(got) {
            if e.0 != g.0 || !almost_equal(e.1, g.1) {
                return Err(format!("(ordered) {}", mismatch()));
            }
        }
        return Ok(());
    }
    let by_labels: HashMap<&Labels, f64> = exp.iter().map(|(l, v)| (l, *v)).collect();
    for (l, v) in got {
        match by_labels.get(l) {
            Some(e) if almost_equal(*e, *v) => {}
            _ => return Err(mismatch()),
        }
    }
    Ok(())
}

fn compare_range(case: &Case, start: i64, step: i64, got: &[diamond_promql::RangeSeries]) -> Result<(), String> {
    let mut exp: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for e in &case.expected {
        match e {
            Expected::Series(l, vals) => {
                let pts = vals
                    .iter()
                    .enumerate()
                    .filter_map(|(k, v)| v.map(|v| (start + k as i64 * step, v)))
                    .collect();
                exp.insert(l.clone(), pts);
            }
            other => return Err(format!("expected {other:?} but the query returned a matrix")),
        }
    }
    let show = |l: &Labels, p: &[(i64, f64)]| {
        format!(
            "{l} [{}]",
            p.iter()
                .map(|(t, v)| format!("{}@{}", format_value(*v), t / 1000))
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    let got_map: BTreeMap<&Labels, &Vec<(i64, f64)>> = got.iter().map(|s| (&s.labels, &s.samples)).collect();
    let mut errs = Vec::new();
    for (l, e) in &exp {
        match got_map.get(l) {
            None => errs.push(format!("missing series {}", show(l, e))),
            Some(g) => {
                let same = g.len() == e.len() && g.iter().zip(e).all(|(a, b)| a.0 == b.0 && almost_equal(a.1, b.1));
                if !same {
                    errs.push(format!("expected {}\n got      {}", show(l, e), show(l, g)));
                }
            }
        }
    }
    for s in got {
        if !exp.contains_key(&s.labels) {
            errs.push(format!("unexpected series {}", show(&s.labels, &s.samples)));
        }
    }
    if errs.is_empty() { Ok(()) } else { Err(errs.join("\n")) }
}

fn show_value(v: &Value) -> String {
    match v {
        Value::Scalar { v, .. } => format!("scalar {}", format_value(*v)),
        Value::String { s, .. } => format!("string {s:?}"),
        Value::Vector(v) => format!(
            "vector [{}]",
            v.iter()
                .map(|s| format!("{} {}", s.labels, format_value(s.v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Matrix(m) => format!("matrix of {} series", m.len()),
    }
}

/// promqltest's comparison: NaN equals NaN, otherwise relative error below 1e-6.
fn almost_equal(a: f64, b: f64) -> bool {
    const EPS: f64 = 0.000001;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < EPS * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < EPS
}

/// Prometheus durations (`1h30m`, `5m`, `10s`, `1ms`, `0`) in ms; a plain number is seconds.
fn parse_duration(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<f64>() {
        return Some((n * 1000.0).round() as i64);
    }
    let mut total: i64 = 0;
    let b = s.as_bytes();
    let mut i = 0;
    if b.is_empty() {
        return None;
    }
    while i < b.len() {
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n: i64 = s[st..i].parse().ok()?;
        let us = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = match &s[us..i] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total += n * unit;
    }
    Some(total)
}

/// Values in expanding notation: `1 2 _ stale 0+10x5 _x3 1x4 -2-1x3 Inf NaN`.
fn parse_values(s: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for tok in tokens(s) {
        let tok = tok.as_str();
        if tok.starts_with("{{") {
            // A native histogram (possibly `{{...}}+{{...}}xN`): not loadable here, counted as gaps.
            let n = match tok.rsplit_once("}}x") {
                Some((_, n)) => n.parse::<usize>().map_err(|_| format!("bad token {tok:?}"))? + 1,
                None => 1,
            };
            out.extend(std::iter::repeat_n(None, n));
        } else if tok == "_" {
            out.push(None);
        } else if let Some(n) = tok.strip_prefix("_x") {
            let n: usize = n.parse().map_err(|_| format!("bad token {tok:?}"))?;
            out.extend(std::iter::repeat_n(None, n));
        } else if tok == "stale" {
            out.push(Some(STALE_NAN));
        } else if let Some(v) = parse_value(tok) {
            out.push(Some(v));
        } else {
            let (left, times) = tok.rsplit_once('x').ok_or_else(|| format!("bad token {tok:?}"))?;
            let times: usize = times.parse().map_err(|_| format!("bad token {tok:?}"))?;
            let lb = left.as_bytes();
            let op = (1..lb.len())
                .rev()
                .find(|&k| (lb[k] == b'+' || lb[k] == b'-') && !matches!(lb[k - 1], b'e' | b'E'));
            let (a, d) = match op {
                Some(k) => {
                    let a = parse_value(&left[..k]).ok_or_else(|| format!("bad token {tok:?}"))?;
                    let d = parse_value(&left[k + 1..]).ok_or_else(|| format!("bad token {tok:?}"))?;
                    (a, if lb[k] == b'-' { -d } else { d })
                }
                None => (parse_value(left).ok_or_else(|| format!("bad token {tok:?}"))?, 0.0),
            };
            let mut cur = a;
            for _ in 0..=times {
                out.push(Some(cur));
                cur += d;
            }
        }
    }
    Ok(out)
}

/// Splits on whitespace, keeping `{{ ... }}` histogram literals (with any `+{{...}}xN` suffix) whole.
fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if c.is_whitespace() && depth == 0 {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Parses `name{a="b", "utf8.name"="c"}` (or just `name`, or `{...}`); returns the labels and the rest.
fn parse_series_desc(s: &str) -> Result<(Labels, &str), String> {
    let s = s.trim_start();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let name_end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(s.len());
    if name_end > 0 {
        pairs.push(("__name__".into(), s[..name_end].to_owned()));
    }
    let mut rest = &s[name_end..];
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            rest = rest.trim_start_matches([' ', ',', '\t']);
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let (lname, r) = if rest.starts_with('"') {
                let (n, r) = unquote(rest)?;
                (n, r)
            } else {
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .ok_or("unterminated labels")?;
                (rest[..end].to_owned(), &rest[end..])
            };
            let r = r.trim_start();
            if let Some(r) = r.strip_prefix('=') {
                let (v, r) = unquote(r.trim_start())?;
                pairs.push((lname, v));
                rest = r;
            } else {
                // A lone quoted string is the metric name.
                pairs.push(("__name__".into(), lname));
                rest = r;
            }
        }
    }
    Ok((Labels::from_pairs(&pairs), rest))
}

/// Unquotes a Go string literal at the start of `s` ("...", '...' or `...`); returns it and the rest.
fn unquote(s: &str) -> Result<(String, &str), String> {
    let q = s.chars().next().ok_or("expected a string")?;
    if q == '`' {
        let end = s[1..].find('`').ok_or("unterminated string")? + 1;
        return Ok((s[1..end].to_owned(), &s[end + 1..]));
    }
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    let mut i = 1;
    while i < b.len() {
        let c = b[i];
        if c == q as u8 {
            return Ok((String::from_utf8_lossy(&out).into_owned(), &s[i + 1..]));
        }
        if c == b'\\' && i + 1 < b.len() {
            i += 1;
            match b[i] {
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'\\' => out.push(b'\\'),
                b'"' => out.push(b'"'),
                b'\'' => out.push(b'\''),
                b'x' if i + 2 < b.len() => {
                    let v = u8::from_str_radix(&s[i + 1..i + 3], 16).map_err(|e| e.to_string())?;
                    out.push(v);
                    i += 2;
                }
                b'u' if i + 4 < b.len() => {
                    let v = u32::from_str_radix(&s[i + 1..i + 5], 16).map_err(|e| e.to_string())?;
                    let ch = char::from_u32(v).ok_or("bad \\u escape")?;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    i += 4;
                }
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
            i += 1;
            continue;
        }
        out.push(c);
        i += 1;
    }
    Err("unterminated string".into())
}

/// Whether cases run against head + blocks (the `promqltest_blocks` target or `PROMQLTEST_STORAGE=blocks`).
fn blocks_mode() -> bool {
    env!("CARGO_CRATE_NAME") == "promqltest_blocks" || std::env::var("PROMQLTEST_STORAGE").is_ok_and(|v| v == "blocks")
}

/// Copies `mem` into a new `Db`: samples before the last quarter of the time span go to three blocks
/// (split at the quarters, written with the block writer), the rest to the head through the appender;
/// series that span the cuts are then merged from up to four parts by every query.
fn to_blocks(mem: &MemStorage) -> Result<(tempfile::TempDir, diamond_tsdb::Db), String> {
    use diamond_tsdb::block::{BlockWriter, ChunkData};
    use diamond_tsdb::chunk::XorAppender;
    use std::sync::Arc;
    let q = mem.querier(i64::MIN, i64::MAX).map_err(|e| e.to_string())?;
    let all = q
        .select(&[
            diamond_model::Matcher::new(diamond_model::MatchOp::Regex, "__name__", ".*").map_err(|e| e.to_string())?,
        ])
        .map_err(|e| e.to_string())?;
    let mut series: Vec<(Labels, Vec<(i64, f64)>)> = Vec::new();
    for s in &all {
        let mut it = s.data.iter(i64::MIN, i64::MAX);
        let mut v = Vec::new();
        while let Some(p) = it.next() {
            v.push(p);
        }
        if !v.is_empty() {
            series.push((s.labels.clone(), v));
        }
    }
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mint = series.iter().map(|s| s.1[0].0).min().unwrap_or(0);
    let maxt = series.iter().map(|s| s.1[s.1.len() - 1].0).max().unwrap_or(0);
    let q4 = (maxt - mint) / 4;
    let cuts = [mint, mint + q4 + 1, mint + 2 * q4 + 1, mint + 3 * q4 + 1];
    let mut written = 0;
    {
        let root: Arc<dyn diamond_tsdb::fs::Dir> =
            Arc::new(diamond_tsdb::fs::DiskDir::open(dir.path()).map_err(|e| e.to_string())?);
        for w in cuts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let mut syms: Vec<String> = series
                .iter()
                .flat_map(|(l, _)| {
                    l.iter()
                        .flat_map(|x| [x.name.to_string(), x.value.to_string()])
                        .collect::<Vec<_>>()
                })
                .collect();
            syms.sort_unstable();
            syms.dedup();
            let mut bw = BlockWriter::new(Arc::clone(&root), a, b, syms).map_err(|e| e.to_string())?;
            for (l, v) in &series {
                let mut chunks: Vec<(i64, i64, Box<[u8]>)> = Vec::new();
                for part in v.iter().filter(|p| p.0 >= a && p.0 < b).collect::<Vec<_>>().chunks(120) {
                    let mut app = XorAppender::new();
                    for &&(t, x) in part {
                        app.append(t, x);
                    }
                    chunks.push((part[0].0, part[part.len() - 1].0, app.into_bytes()));
                }
                let cd: Vec<ChunkData<'_>> = chunks
                    .iter()
                    .map(|(a, z, d)| ChunkData {
                        min_time: *a,
                        max_time: *z,
                        data: d,
                    })
                    .collect();
                bw.add_series(l, &cd).map_err(|e| e.to_string())?;
            }
            if bw
                .finish(1, Vec::new(), Vec::new())
                .map_err(|e| e.to_string())?
                .is_some()
            {
                written += 1;
            }
        }
    }
    let opts = diamond_tsdb::Options {
        // The head takes the last quarter whatever its span; nothing is cut, compacted or expired.
        chunk_range_ms: i64::MAX / 4,
        compaction_interval: None,
        retention_ms: None,
        wal_fsync: diamond_tsdb::FsyncPolicy::Interval(std::time::Duration::from_secs(3600)),
        ..diamond_tsdb::Options::default()
    };
    let db = diamond_tsdb::Db::open(dir.path(), opts).map_err(|e| e.to_string())?;
    if db.blocks().len() != written {
        return Err(format!("{written} blocks written, {} opened", db.blocks().len()));
    }
    let mut app = db.appender();
    for (l, v) in &series {
        let mut r = 0;
        for &(t, x) in v.iter().filter(|p| p.0 >= cuts[3]) {
            r = app.append(r, l, t, x).map_err(|e| format!("{l}: {e}"))?;
        }
    }
    app.commit().map_err(|e| e.to_string())?;
    Ok((dir, db))
}

//! `diamond tsdb dump`, `analyze` and `list` against the reference `promtool` on the same data directory:
//! blocks written by `diamond tsdb create-blocks-from`, plus a head (WAL) written by Diamond's TSDB.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use diamond_model::Labels;

fn run(bin: &Path, args: &[&str]) -> (bool, String, String) {
    let o = Command::new(bin).args(args).output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn diamond(args: &[&str]) -> (bool, String, String) {
    run(Path::new(env!("CARGO_BIN_EXE_diamond")), args)
}

fn promtool() -> PathBuf {
    let p = crate::harness::reference_prometheus().with_file_name("promtool");
    assert!(p.exists(), "promtool missing next to the reference Prometheus");
    p
}

/// 5 h of samples from 1_700_003_000 s, every 60 s, in three 2 h blocks: values that exercise Go's `%g`
/// (exponents, infinities, NaN), label values that need quoting, and series that start or stop mid-way.
fn input() -> String {
    let start = 1_700_003_000i64;
    let mut s = String::from("# TYPE temp gauge\n");
    let odd = [
        "0.1", "-2.5", "1234567", "1e21", "1.5e-07", "+Inf", "-Inf", "NaN", "123456", "0.00001", "-0", "42",
    ];
    for (city, from, to) in [("Zürich", 0, 300), ("a\\\"b\\\\c\\nd", 0, 150), ("oslo", 100, 300)] {
        for i in from..to {
            let v = odd[(i as usize) % odd.len()];
            s.push_str(&format!("temp{{city=\"{city}\",unit=\"c\"}} {v} {}\n", start + i * 60));
        }
    }
    s.push_str("# TYPE req counter\n");
    for code in ["200", "404", "500"] {
        for inst in ["h0", "h1"] {
            for i in 0..300i64 {
                if inst == "h1" && i > 200 {
                    continue;
                }
                s.push_str(&format!(
                    "req_total{{code=\"{code}\",instance=\"{inst}\"}} {} {}\n",
                    i * 3 + code.len() as i64,
                    start + i * 60
                ));
            }
        }
    }
    s.push_str("# EOF\n");
    s
}

fn backfill(dir: &Path) -> PathBuf {
    let file = dir.join("in.om");
    std::fs::write(&file, input()).unwrap();
    let data = dir.join("data");
    let (ok, out, err) = diamond(&[
        "tsdb",
        "create-blocks-from",
        "openmetrics",
        file.to_str().unwrap(),
        data.to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    std::fs::create_dir_all(data.join("wal")).unwrap(); // promtool's read-only open wants one
    data
}

/// promtool's analyze output as (header lines, sections as sets of lines): the order of ties within a
/// section is not defined (Go map iteration), so sections compare as sets.
fn sections(out: &str) -> (Vec<String>, Vec<(String, BTreeSet<String>)>) {
    let mut parts = out.split("\n\n");
    let header = parts.next().unwrap_or("").lines().map(str::to_owned).collect();
    let rest = parts
        .map(|p| {
            let mut lines = p.lines();
            let title = lines.next().unwrap_or("").to_owned();
            (title, lines.map(str::to_owned).collect())
        })
        .collect();
    (header, rest)
}

#[test]
fn dump_analyze_and_list_agree_with_promtool() {
    let tmp = tempfile::tempdir().unwrap();
    let data = backfill(tmp.path());
    let d = data.to_str().unwrap();
    let pt = promtool();

    // dump: the same lines in the same order, for everything and for selectors with a time range.
    for args in [
        vec![],
        vec!["--match=temp", "--match={code=~\"4..|5..\",instance=\"h1\"}"],
        vec![
            "--min-time=1700006000000",
            "--max-time=1700012000000",
            "--match={__name__=~\"t.*\"}",
        ],
        vec!["--match=req_total{code!=\"200\"}", "--max-time=1700003600000"],
    ] {
        let mut a = vec!["tsdb", "dump"];
        a.extend(&args);
        a.push(d);
        let (ok, ours, err) = diamond(&a);
        assert!(ok, "{err}");
        let (ok, theirs, perr) = run(&pt, &a);
        assert!(ok, "{perr}");
        assert!(!theirs.is_empty(), "{args:?}");
        assert_eq!(ours, theirs, "dump {args:?}");
    }
    let (_, all, _) = diamond(&["tsdb", "dump", d]);
    assert_eq!(all.lines().count(), 300 + 150 + 200 + 3 * (300 + 201), "every sample");
    assert!(
        all.contains("{__name__=\"temp\", city=\"a\\\"b\\\\c\\nd\", unit=\"c\"} 1.234567e+06 "),
        "{all:.400}"
    );
    assert!(all.contains(" +Inf ") && all.contains(" NaN ") && all.contains(" 1e+21 "));

    // analyze: the newest block by default, a named one, and a selector.
    let (ok, blocks, err) = diamond(&["tsdb", "list", d]);
    assert!(ok, "{err}");
    let (ok, pblocks, perr) = run(&pt, &["tsdb", "list", d]);
    assert!(ok, "{perr}");
    assert_eq!(blocks, pblocks, "list");
    let first_block = blocks
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(blocks.lines().count(), 5, "a header and 4 aligned 2h blocks: {blocks}");
    for (ours, theirs) in [
        (vec!["--limit=1000", d], vec!["--limit=1000", d]),
        (
            vec!["--limit=1000", "--block", &first_block, d],
            vec!["--limit=1000", d, &first_block],
        ),
        (
            vec!["--limit=1000", "--match=req_total{instance=\"h1\"}", d, &first_block],
            vec!["--limit=1000", "--match=req_total{instance=\"h1\"}", d, &first_block],
        ),
        (vec!["--limit=2", d], vec!["--limit=2", d]),
    ] {
        let mut a = vec!["tsdb", "analyze"];
        a.extend(&ours);
        let (ok, o, err) = diamond(&a);
        assert!(ok, "{err}");
        let mut b = vec!["tsdb", "analyze"];
        b.extend(&theirs);
        let (ok, p, perr) = run(&pt, &b);
        assert!(ok, "{perr}");
        let (oh, os) = sections(&o);
        let (ph, ps) = sections(&p);
        assert_eq!(oh, ph, "analyze {ours:?} header");
        assert_eq!(os.len(), 6, "{o}");
        if ours[0] == "--limit=2" {
            // Ties at the cut may pick different entries; the counts shown must agree.
            let nums = |s: &[(String, BTreeSet<String>)]| -> Vec<(String, Vec<String>)> {
                s.iter()
                    .map(|(t, l)| {
                        let mut n: Vec<String> = l.iter().map(|x| x.split(' ').next().unwrap().to_owned()).collect();
                        n.sort();
                        (t.clone(), n)
                    })
                    .collect()
            };
            assert_eq!(nums(&os), nums(&ps), "analyze {ours:?}");
        } else {
            assert_eq!(os, ps, "analyze {ours:?}");
        }
    }
    // The churn is real: h1 stops after 200 minutes, oslo starts at 100.
    let (_, o, _) = diamond(&["tsdb", "analyze", "--limit=1000", d]);
    assert!(o.contains("Label pairs most involved in churning:\n"), "{o}");
}

/// The head (WAL) is dumped too, merged with the blocks; promtool reads the same directory alike.
#[test]
fn dump_includes_the_head_and_matches_promtool() {
    let tmp = tempfile::tempdir().unwrap();
    let data = backfill(tmp.path());
    let d = data.to_str().unwrap();
    let (_, blocks_only, _) = diamond(&["tsdb", "dump", d]);
    // Samples after the last block, in the WAL of Diamond's own TSDB (closed cleanly: no block cut).
    {
        let db = diamond_tsdb::Db::open(
            &data,
            diamond_tsdb::Options {
                compaction_interval: None,
                ..Default::default()
            },
        )
        .unwrap();
        let mut app = db.appender();
        let l = Labels::from_pairs(&[("__name__", "temp"), ("city", "oslo"), ("unit", "c")]);
        let n = Labels::from_pairs(&[("__name__", "new_metric"), ("x", "1")]);
        for i in 0..50i64 {
            let t = 1_700_030_000_000 + i * 15_000;
            app.append(0, &l, t, i as f64 * 0.5).unwrap();
            app.append(0, &n, t, 1e9 + i as f64).unwrap();
        }
        app.commit().unwrap();
        db.close().unwrap();
    }
    let before = std::fs::read_dir(data.join("wal")).unwrap().count();
    let (ok, ours, err) = diamond(&["tsdb", "dump", d]);
    assert!(ok, "{err}");
    assert_eq!(ours.lines().count(), blocks_only.lines().count() + 100);
    assert!(
        ours.contains("{__name__=\"new_metric\", x=\"1\"} 1.000000049e+09 1700030735000\n"),
        "{ours:.300}"
    );
    assert!(ours.contains("{__name__=\"temp\", city=\"oslo\", unit=\"c\"} 24.5 1700030735000\n"));
    // Read-only: the WAL directory is as it was (no new segment, no repair).
    assert_eq!(std::fs::read_dir(data.join("wal")).unwrap().count(), before);
    let (ok, theirs, perr) = run(&promtool(), &["tsdb", "dump", d]);
    assert!(ok, "{perr}");
    assert_eq!(ours, theirs);
    let (ok, ours, err) = diamond(&["tsdb", "dump", "--min-time=1700030100000", "--match=new_metric", d]);
    assert!(ok, "{err}");
    assert_eq!(ours.lines().count(), 43);
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    let at = at.min(b.len() - 1);
    b[at] ^= 0xff;
    std::fs::write(path, b).unwrap();
}

/// A damaged block is a clear error naming the file, never a panic.
#[test]
fn corrupt_blocks_are_reported_with_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = backfill(tmp.path());
    let d = data.to_str().unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 26)
        .collect();
    names.sort();

    // A chunk's bytes: found when read (dump), with block and file named.
    flip(&data.join(&names[0]).join("chunks/000001"), 40);
    let (ok, out, err) = diamond(&["tsdb", "dump", d]);
    assert!(!ok, "{out:.200}");
    assert!(err.contains(&format!("{}/chunks/000001", names[0])), "{err}");
    assert!(err.contains("checksum mismatch") && !err.contains("panicked"), "{err}");

    // The index: refused at open, by analyze and dump alike.
    let idx = data.join(&names[1]).join("index");
    let len = std::fs::metadata(&idx).unwrap().len() as usize;
    // In the TOC, checked at open.
    flip(&idx, len - 10);
    for cmd in ["dump", "analyze", "list"] {
        let (ok, _, err) = diamond(&["tsdb", cmd, d]);
        assert!(!ok, "{cmd}");
        assert!(
            err.contains(&data.join(&names[1]).display().to_string()),
            "{cmd}: {err}"
        );
        assert!(err.contains("corrupted") && !err.contains("panicked"), "{cmd}: {err}");
    }
    flip(&idx, len - 10);
    // meta.json that is not JSON.
    std::fs::write(data.join(&names[2]).join("meta.json"), "{not json").unwrap();
    let (ok, _, err) = diamond(&["tsdb", "analyze", "--block", &names[2], d]);
    assert!(!ok && err.contains("meta.json") && !err.contains("panicked"), "{err}");
    // A missing directory and an unknown block.
    let (ok, _, err) = diamond(&["tsdb", "dump", tmp.path().join("nope").to_str().unwrap()]);
    assert!(!ok && err.contains("nope: not a directory"), "{err}");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (ok, _, err) = diamond(&[
        "tsdb",
        "analyze",
        "--block=01M91CZTP2H9PNNCVD0YPXTFCX",
        empty.to_str().unwrap(),
    ]);
    assert!(
        !ok && err.contains("block 01M91CZTP2H9PNNCVD0YPXTFCX not found"),
        "{err}"
    );
    let (ok, _, err) = diamond(&["tsdb", "analyze", empty.to_str().unwrap()]);
    assert!(!ok && err.contains("no block found"), "{err}");
    let (ok, _, err) = diamond(&["tsdb", "dump", "--match=rate(x[5m])", d]);
    assert!(!ok && err.contains("not a series selector"), "{err}");
}

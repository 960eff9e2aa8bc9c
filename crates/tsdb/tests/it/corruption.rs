//! A damaged WAL tail: replay keeps every commit before the damage, repairs the segment, and appending
//! continues.

use std::path::Path;

use diamond_tsdb::{Db, Options};

fn opts() -> Options {
    Options {
        stripes: 16,
        ..Options::default()
    }
}

use crate::{dump, ls};

/// Writes `n` commits of 3 samples each; returns the WAL byte offset after each commit.
fn write_commits(dir: &Path, n: i64) -> Vec<u64> {
    let db = Db::open(dir, opts()).unwrap();
    let mut ends = Vec::new();
    for i in 0..n {
        let mut app = db.appender();
        for s in 0..3 {
            app.append(
                0,
                &ls(&[("__name__", "m"), ("s", &s.to_string())]),
                i * 1000,
                (i * 3 + s) as f64,
            )
            .unwrap();
        }
        app.commit().unwrap();
        ends.push(db.stats().wal_bytes);
    }
    db.close().unwrap();
    ends
}

/// How many whole commits the reopened Db holds (and that they are a prefix).
fn commits_present(dir: &Path, check_append: bool) -> usize {
    let db = Db::open(dir, opts()).unwrap();
    let got = dump(&db, 0, i64::MAX, &[]);
    let counts: Vec<usize> = got.iter().map(|s| s.1.len()).collect();
    let n = counts.first().copied().unwrap_or(0);
    assert!(counts.iter().all(|&c| c == n), "a commit is all or nothing: {counts:?}");
    for (_, samples) in &got {
        for (i, (t, _)) in samples.iter().enumerate() {
            assert_eq!(*t, i as i64 * 1000, "a prefix of the commits");
        }
    }
    if !check_append {
        return n;
    }
    // Appending after the repair works and survives another reopen.
    let mut app = db.appender();
    app.append(0, &ls(&[("__name__", "after")]), 1 << 40, 1.0).unwrap();
    app.commit().unwrap();
    drop(db);
    let db = Db::open(dir, opts()).unwrap();
    assert_eq!(
        dump(&db, 0, i64::MAX, &[diamond_model::Matcher::equal("__name__", "after")]).len(),
        1
    );
    n
}

#[test]
fn truncation_at_every_byte_of_the_last_page() {
    let tmp = tempfile::tempdir().unwrap();
    let ends = write_commits(tmp.path(), 400);
    let seg = tmp.path().join("wal/00000000");
    let full = std::fs::read(&seg).unwrap();
    assert_eq!(full.len() as u64, *ends.last().unwrap());
    let from = full.len().saturating_sub(32 * 1024);
    // Around every record end in the last page (where the answer changes), plus a stride through the rest.
    let mut cuts: Vec<usize> = (from..=full.len()).step_by(53).collect();
    for &e in ends.iter().filter(|&&e| e as usize >= from) {
        let e = e as usize;
        cuts.extend([e - 1, e, (e + 1).min(full.len())]);
    }
    for cut in cuts {
        let case = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(case.path().join("wal")).unwrap();
        std::fs::write(case.path().join("wal/00000000"), &full[..cut]).unwrap();
        let want = ends.iter().filter(|&&e| e <= cut as u64).count();
        assert_eq!(commits_present(case.path(), cut % 5 == 0), want, "cut at {cut}");
    }
}

#[test]
fn flipped_bytes_keep_the_commits_before_the_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let ends = write_commits(tmp.path(), 200);
    let full = std::fs::read(tmp.path().join("wal/00000000")).unwrap();
    for at in [0usize, 3, 100, full.len() / 2, full.len() - 5] {
        let case = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(case.path().join("wal")).unwrap();
        let mut d = full.clone();
        d[at] ^= 0x40;
        std::fs::write(case.path().join("wal/00000000"), &d).unwrap();
        // The commit containing byte `at` is lost with everything after it.
        let want = ends.iter().filter(|&&e| e <= at as u64).count();
        let got = commits_present(case.path(), true);
        assert_eq!(got, want, "flip at {at}");
        let db = Db::open(case.path(), opts()).unwrap();
        assert!(db.stats().replay_corruption.is_none(), "repaired on the first open");
    }
}

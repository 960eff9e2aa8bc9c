//! Durability against process crashes: a commit that returned `Ok` is in the WAL file, whether the `Db` is
//! dropped without `close` or the process is killed with SIGKILL mid-stream.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use diamond_tsdb::{Db, FsyncPolicy, Options};

use crate::{dump, ls};

#[test]
fn drop_without_close_keeps_committed() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = Options {
        // A long interval: nothing is fsynced by the time the Db is dropped.
        wal_fsync: FsyncPolicy::Interval(std::time::Duration::from_secs(3600)),
        ..Options::default()
    };
    {
        let db = Db::open(tmp.path(), opts.clone()).unwrap();
        for i in 0..50i64 {
            let mut app = db.appender();
            app.append(
                0,
                &ls(&[("__name__", "m"), ("s", &(i % 7).to_string())]),
                i * 1000,
                i as f64,
            )
            .unwrap();
            app.commit().unwrap();
        }
        let mut app = db.appender();
        app.append(0, &ls(&[("__name__", "uncommitted")]), 99_000, 1.0).unwrap();
        assert_eq!(db.stats().wal_fsyncs, 0);
        // Dropped without close or commit.
    }
    let db = Db::open(tmp.path(), opts).unwrap();
    let got = dump(&db, 0, i64::MAX, &[]);
    assert_eq!(got.len(), 7);
    assert_eq!(got.iter().map(|s| s.1.len()).sum::<usize>(), 50);
    assert!(db.stats().replay_corruption.is_none());
}

const CHILD_ENV: &str = "DIAMOND_TSDB_CRASH_DIR";

/// The writer process of `kill_9_keeps_every_acknowledged_commit`; does nothing unless run by it.
#[test]
#[ignore = "helper process for kill_9_keeps_every_acknowledged_commit"]
fn kill9_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let db = Db::open(std::path::Path::new(&dir), Options::default()).unwrap();
    let mut refs = [0u64; 20];
    for n in 0i64.. {
        let mut app = db.appender();
        for (s, r) in refs.iter_mut().enumerate() {
            *r = app
                .append(*r, &ls(&[("__name__", "m"), ("s", &s.to_string())]), n * 10, n as f64)
                .unwrap();
        }
        app.commit().unwrap();
        // Acknowledge only after commit returned, like a remote-write 2xx.
        println!("committed {n}");
    }
}

#[test]
fn kill_9_keeps_every_acknowledged_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash::kill9_child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = -1i64;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("committed ") {
            acked = n.parse().unwrap();
            if acked >= 300 {
                break;
            }
        }
    }
    // SIGKILL on Unix: no destructor, no close, no fsync.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(acked >= 300, "child did not get far enough: {acked}");
    let db = Db::open(tmp.path(), Options::default()).unwrap();
    let got = dump(&db, 0, i64::MAX, &[]);
    assert_eq!(got.len(), 20);
    for (labels, samples) in &got {
        // Every acknowledged commit is there; a commit in flight at the kill may or may not be.
        assert!(
            samples.len() as i64 > acked,
            "{labels}: {} samples, {acked} acknowledged",
            samples.len()
        );
        for (i, (t, v)) in samples.iter().enumerate() {
            assert_eq!((*t, f64::from_bits(*v)), (i as i64 * 10, i as f64));
        }
    }
    // Appending continues after the crash.
    let mut app = db.appender();
    app.append(0, &ls(&[("__name__", "m"), ("s", "0")]), 1 << 40, 1.0)
        .unwrap();
    app.commit().unwrap();
}

/// Racing commits on the same series: some samples lose the race at commit and are dropped (counted in
/// `commit_dropped`). Replay must rebuild exactly the live state, exemplars included, because commits apply
/// to the head in WAL order.
#[test]
fn replay_reproduces_the_live_state_after_racing_commits() {
    use std::sync::Arc;

    use diamond_model::{Exemplar, Matcher};

    let tmp = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(tmp.path(), Options::default()).unwrap());
    let threads: Vec<_> = (0..4u64)
        .map(|w| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ w;
                for step in 0..300i64 {
                    let mut app = db.appender();
                    for s in 0..8 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let l = ls(&[("__name__", "shared"), ("s", &s.to_string())]);
                        // Timestamps interleave across threads, so order checks race with other commits.
                        let t = step * 10 + (x % 7) as i64;
                        if let Ok(r) = app.append(0, &l, t, (x % 1000) as f64) {
                            let e = Exemplar {
                                labels: ls(&[("trace_id", &format!("{:x}", x % 4096))]),
                                value: (x % 10) as f64,
                                ts: t,
                                has_ts: x.is_multiple_of(2),
                            };
                            let _ = app.append_exemplar(r, &l, &e);
                        }
                    }
                    app.commit().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let live = dump(db.as_ref(), i64::MIN, i64::MAX, &[]);
    let sets = vec![vec![Matcher::equal("__name__", "shared")]];
    let live_ex = db.exemplars().select(i64::MIN, i64::MAX, &sets);
    let st = db.stats();
    assert!(st.samples_appended > 0);
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), Options::default()).unwrap();
    assert_eq!(dump(&db, i64::MIN, i64::MAX, &[]), live);
    assert_eq!(db.exemplars().select(i64::MIN, i64::MAX, &sets), live_ex);
    assert_eq!(db.stats().samples_appended, st.samples_appended);
}

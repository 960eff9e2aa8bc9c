//! Injected I/O failures: the WAL is poisoned and the Db refuses appends with `Storage`, never pretending a
//! commit succeeded.

use std::sync::Arc;
use std::time::Duration;

use diamond_model::storage::AppendError;
use diamond_tsdb::fs::{DiskDir, FaultyDir};
use diamond_tsdb::{Db, FsyncPolicy, Options};

use crate::{dump, ls};

fn open_faulty(path: &std::path::Path, policy: FsyncPolicy) -> (Db, Arc<diamond_tsdb::fs::Faults>) {
    let (dir, faults) = FaultyDir::new(DiskDir::open(&path.join("wal")).unwrap());
    let db = Db::open_with_dir(
        Arc::new(dir),
        Options {
            wal_fsync: policy,
            ..Options::default()
        },
    )
    .unwrap();
    (db, faults)
}

#[test]
fn failed_fsync_on_commit_refuses_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let (db, faults) = open_faulty(tmp.path(), FsyncPolicy::Always);
    let a = ls(&[("__name__", "m")]);
    let mut app = db.appender();
    app.append(0, &a, 1000, 1.0).unwrap();
    app.commit().unwrap();
    assert_eq!(db.stats().wal_fsyncs, 1);

    faults.fail_sync(true);
    let mut app = db.appender();
    app.append(0, &a, 2000, 2.0).unwrap();
    assert!(matches!(app.commit(), Err(AppendError::Storage(_))));
    assert_eq!(
        dump(&db, 0, 10_000, &[])[0].1.len(),
        1,
        "the failed commit is not visible"
    );

    // Even with the device healthy again, the poisoned WAL refuses: the kernel may have dropped the pages.
    faults.fail_sync(false);
    let mut app = db.appender();
    assert!(matches!(app.append(0, &a, 3000, 3.0), Err(AppendError::Storage(_))));
    assert!(db.stats().wal_poisoned.is_some());
    drop(app);
    drop(db);

    // Reopening replays what reached the file and accepts appends again.
    let (db, _) = open_faulty(tmp.path(), FsyncPolicy::Always);
    let got = dump(&db, 0, 10_000, &[]);
    assert!(!got[0].1.is_empty());
    let mut app = db.appender();
    app.append(0, &a, 4000, 4.0).unwrap();
    app.commit().unwrap();
}

#[test]
fn failed_background_fsync_refuses_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let (db, faults) = open_faulty(tmp.path(), FsyncPolicy::Interval(Duration::from_millis(5)));
    let a = ls(&[("__name__", "m")]);
    faults.fail_sync(true);
    let mut app = db.appender();
    app.append(0, &a, 1000, 1.0).unwrap();
    // Written with write(2): the commit itself succeeds; the background fsync will fail.
    app.commit().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut app = db.appender();
        match app.append(0, &a, 2000, 2.0) {
            Err(AppendError::Storage(msg)) => {
                assert!(msg.contains("fsync"), "{msg}");
                break;
            }
            Ok(_) => {
                assert!(std::time::Instant::now() < deadline, "syncer never failed");
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(db.close().is_err(), "close reports the failed fsync");
}

#[test]
fn failed_write_refuses_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let (db, faults) = open_faulty(tmp.path(), FsyncPolicy::Interval(Duration::from_secs(60)));
    let a = ls(&[("__name__", "m")]);
    faults.fail_write(true);
    let mut app = db.appender();
    app.append(0, &a, 1000, 1.0).unwrap();
    assert!(matches!(app.commit(), Err(AppendError::Storage(_))));
    assert!(dump(&db, 0, 10_000, &[]).is_empty());
    let mut app = db.appender();
    assert!(matches!(app.append(0, &a, 2000, 1.0), Err(AppendError::Storage(_))));
}

#[test]
fn closed_db_refuses_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), Options::default()).unwrap();
    db.close().unwrap();
    db.close().unwrap();
    let mut app = db.appender();
    assert!(matches!(
        app.append(0, &ls(&[("a", "b")]), 1, 1.0),
        Err(AppendError::Storage(_))
    ));
}

#[test]
fn sync_wal_on_demand_and_its_failure_poisons() {
    let tmp = tempfile::tempdir().unwrap();
    let (db, faults) = open_faulty(tmp.path(), FsyncPolicy::Interval(Duration::from_secs(3600)));
    let a = ls(&[("__name__", "m")]);
    let mut app = db.appender();
    app.append(0, &a, 1000, 1.0).unwrap();
    app.commit().unwrap();
    db.sync_wal().unwrap();
    assert_eq!(db.stats().wal_fsyncs, 1);
    let mut app = db.appender();
    app.append(0, &a, 2000, 1.0).unwrap();
    app.commit().unwrap();
    faults.fail_sync(true);
    assert!(db.sync_wal().is_err());
    let mut app = db.appender();
    assert!(matches!(app.append(0, &a, 3000, 1.0), Err(AppendError::Storage(_))));
}

//! Head cutting, WAL checkpoints, the merged querier, the planner, the compactor and retention.

use std::sync::Arc;
use std::time::Duration;

use diamond_model::storage::Queryable;
use diamond_model::storage::memory::MemStorage;
use diamond_model::{Labels, MatchOp, Matcher};
use diamond_tsdb::block::{BlockMeta, BlockWriter, ChunkData, Compaction};
use diamond_tsdb::chunk::XorAppender;
use diamond_tsdb::compact::{block_ranges, plan, retention_plan};
use diamond_tsdb::fs::{Dir, DiskDir};
use diamond_tsdb::{Db, Options};

use crate::{dump, ls};

fn opts(range: i64) -> Options {
    Options {
        chunk_range_ms: range,
        compaction_interval: None,
        retention_ms: None,
        max_block_duration_ms: range * 9,
        wal_segment_size: 64 * 1024,
        ..Options::default()
    }
}

fn series(i: usize) -> Labels {
    let job = format!("j{}", i % 3);
    let inst = format!("i{i}");
    ls(&[
        ("__name__", if i.is_multiple_of(2) { "up" } else { "load" }),
        ("instance", &inst),
        ("job", &job),
    ])
}

fn check_same(db: &dyn Queryable, model: &MemStorage, maxt: i64) {
    let ms: Vec<Vec<Matcher>> = vec![
        vec![],
        vec![Matcher::equal("__name__", "up")],
        vec![Matcher::new(MatchOp::Regex, "job", "j0|j2").unwrap()],
        vec![Matcher::new(MatchOp::NotEqual, "instance", "i3").unwrap()],
    ];
    for m in &ms {
        for (a, b) in [
            (0, maxt),
            (0, maxt / 3),
            (maxt / 3, maxt / 2),
            (maxt / 2, maxt),
            (maxt - 10, maxt),
        ] {
            assert_eq!(dump(db, a, b, m), dump(model, a, b, m), "{m:?} [{a}, {b}]");
        }
        let q = db.querier(0, maxt).unwrap();
        let mq = model.querier(0, maxt).unwrap();
        assert_eq!(q.label_names(m).unwrap(), mq.label_names(m).unwrap());
        assert_eq!(
            q.label_values("instance", m).unwrap(),
            mq.label_values("instance", m).unwrap()
        );
    }
}

/// Data spanning head and several blocks reads exactly as the all-in-memory model, before and after a
/// restart; series that stop receiving samples are garbage-collected; the WAL is checkpointed and stays
/// small; stale hints re-resolve to live series.
#[test]
fn cut_blocks_then_query_and_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let model = MemStorage::new();
    let range = 1000;
    let mut last_t = 0;
    let mut refs = [0u64; 8];
    {
        let db = Db::open(tmp.path(), opts(range)).unwrap();
        for step in 0..200i64 {
            let t = step * 50;
            let mut app = db.appender();
            let mut mapp = model.appender();
            // Series 6 and 7 stop after a while (garbage-collected once their chunks are in blocks).
            let n = if step < 60 { 8 } else { 6 };
            for (i, r) in refs.iter_mut().enumerate().take(n) {
                let v = (step * (i as i64 + 1)) as f64 / 4.0;
                *r = app.append(*r, &series(i), t, v).unwrap();
                mapp.append(0, &series(i), t, v).unwrap();
            }
            app.commit().unwrap();
            mapp.commit().unwrap();
            if step % 17 == 0 {
                db.compact().unwrap();
            }
            last_t = t;
        }
        db.compact().unwrap();
        let blocks = db.blocks();
        assert!(blocks.len() >= 3, "expected several blocks, got {}", blocks.len());
        assert!(
            db.stats().num_series == 6,
            "stopped series are collected: {}",
            db.stats().num_series
        );
        check_same(&db, &model, last_t);
        // A series that was collected comes back under a new ref, and old data and new data merge.
        let mut app = db.appender();
        let r = app.append(0, &series(7), last_t + 1, 42.0).unwrap();
        assert_ne!(r, refs[7], "refs are never reused");
        app.commit().unwrap();
        let mut mapp = model.appender();
        mapp.append(0, &series(7), last_t + 1, 42.0).unwrap();
        mapp.commit().unwrap();
        last_t += 1;
        check_same(&db, &model, last_t);
        let wal: Vec<String> = std::fs::read_dir(tmp.path().join("wal"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(wal.iter().any(|n| n.starts_with("checkpoint.")), "{wal:?}");
        assert!(wal.len() <= 6, "WAL truncated: {wal:?}");
        // Crash (no close) and reopen: blocks + checkpoint + segments give the same answers.
    }
    let db = Db::open(tmp.path(), opts(range)).unwrap();
    check_same(&db, &model, last_t);
    // Samples older than the newest block are refused as out of bounds.
    let mut app = db.appender();
    assert!(app.append(0, &series(0), 10, 1.0).is_err());
}

/// Background thread: with a short interval, blocks appear without calling `compact`.
#[test]
fn background_thread_cuts_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let mut o = opts(1000);
    o.compaction_interval = Some(Duration::from_millis(20));
    let db = Db::open(tmp.path(), o).unwrap();
    for step in 0..100i64 {
        let mut app = db.appender();
        app.append(0, &series(0), step * 100, step as f64).unwrap();
        app.commit().unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while db.blocks().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!db.blocks().is_empty(), "the background thread wrote no block in 10 s");
    db.close().unwrap();
}

fn meta(ulid: &str, min: i64, max: i64, level: u32) -> BlockMeta {
    BlockMeta {
        ulid: ulid.into(),
        min_time: min,
        max_time: max,
        stats: Default::default(),
        compaction: Compaction {
            level,
            sources: vec![ulid.into()],
            parents: vec![],
        },
        version: 1,
        diamond: None,
    }
}

#[test]
fn block_ranges_are_exponential_and_capped() {
    assert_eq!(block_ranges(2, 100), vec![2, 6, 18, 54]);
    let h2 = 2 * 3600 * 1000;
    let r = block_ranges(h2, 31 * 24 * 3600 * 1000);
    assert_eq!(r[..3], [h2, 3 * h2, 9 * h2]);
    assert!(r.iter().all(|&x| x <= 31 * 24 * 3600 * 1000));
}

#[test]
fn planner_levels_overlaps_and_newest_block() {
    let r = block_ranges(2, 200);
    // Three consecutive 2-blocks fill a 6-range, but the newest block is left out: nothing yet.
    let ms = vec![meta("a", 0, 2, 1), meta("b", 2, 4, 1), meta("c", 4, 6, 1)];
    assert!(plan(&ms, &r).is_empty());
    // A fourth block makes [0, 6) complete and before the newest.
    let mut ms4 = ms.clone();
    ms4.push(meta("d", 6, 8, 1));
    assert_eq!(plan(&ms4, &r), vec!["a", "b", "c"]);
    // An incomplete range qualifies only once it lies before the newest remaining block (Prometheus's
    // highTime): [0, 4) with the newest block left out is not yet before anything.
    let ms2 = vec![meta("a", 0, 2, 1), meta("b", 2, 4, 1), meta("d", 6, 8, 1)];
    assert!(plan(&ms2, &r).is_empty());
    let ms3 = vec![
        meta("a", 0, 2, 1),
        meta("b", 2, 4, 1),
        meta("e", 12, 14, 1),
        meta("f", 14, 16, 1),
    ];
    assert_eq!(plan(&ms3, &r), vec!["a", "b"]);
    // Overlaps come first, whatever else is pending.
    let mut ov = ms4.clone();
    ov.push(meta("x", 5, 7, 1));
    assert_eq!(plan(&ov, &r), vec!["c", "x", "d"]);
    // Next level: three 6-blocks fill an 18-range (plus a newer block).
    let l2 = vec![
        meta("p", 0, 6, 2),
        meta("q", 6, 12, 2),
        meta("s", 12, 18, 2),
        meta("t", 18, 20, 1),
    ];
    assert_eq!(plan(&l2, &r), vec!["p", "q", "s"]);
    // A block spanning a full range is never regrouped with itself.
    assert!(plan(&[meta("p", 0, 6, 2), meta("t", 6, 8, 1)], &r).is_empty());
}

#[test]
fn retention_by_time_and_size_oldest_first() {
    let ms = vec![
        (meta("a", 0, 10, 1), 100),
        (meta("b", 10, 20, 1), 100),
        (meta("c", 20, 30, 1), 100),
    ];
    assert_eq!(retention_plan(&ms, Some(15), None, 0), vec!["a"]);
    assert_eq!(retention_plan(&ms, Some(5), None, 0), vec!["a", "b"]);
    assert_eq!(retention_plan(&ms, None, Some(250), 0), vec!["a"]);
    assert_eq!(retention_plan(&ms, None, Some(250), 60), vec!["a", "b"]);
    assert!(retention_plan(&ms, None, None, 0).is_empty());
}

fn write(root: &Arc<dyn Dir>, min: i64, max: i64, series: &[(Labels, Vec<(i64, f64)>)]) {
    let syms: Vec<String> = series
        .iter()
        .flat_map(|(l, _)| {
            l.iter()
                .flat_map(|x| [x.name.to_string(), x.value.to_string()])
                .collect::<Vec<_>>()
        })
        .collect();
    let mut w = BlockWriter::new(Arc::clone(root), min, max, syms).unwrap();
    let mut sorted = series.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (l, s) in &sorted {
        let mut a = XorAppender::new();
        for &(t, v) in s {
            a.append(t, v);
        }
        w.add_series(
            l,
            &[ChunkData {
                min_time: s[0].0,
                max_time: s[s.len() - 1].0,
                data: a.bytes(),
            }],
        )
        .unwrap();
    }
    w.finish(1, vec![], vec![]).unwrap().unwrap();
}

/// Overlapping (backfilled) blocks are merged with duplicates removed, queries agree before and after,
/// and the sources are gone afterwards.
#[test]
fn overlapping_blocks_merge_and_dedupe() {
    let tmp = tempfile::tempdir().unwrap();
    let root: Arc<dyn Dir> = Arc::new(DiskDir::open(tmp.path()).unwrap());
    let a = ls(&[("__name__", "m"), ("k", "a")]);
    let b = ls(&[("__name__", "m"), ("k", "b")]);
    write(
        &root,
        0,
        1000,
        &[(a.clone(), (0..50).map(|i| (i * 10, i as f64)).collect())],
    );
    write(
        &root,
        0,
        1000,
        &[
            (a.clone(), (25..80).map(|i| (i * 10, i as f64)).collect()),
            (b.clone(), vec![(5, 1.0)]),
        ],
    );
    let model = MemStorage::new();
    model.add(a.clone(), &(0..80).map(|i| (i * 10, i as f64)).collect::<Vec<_>>());
    model.add(b.clone(), &[(5, 1.0)]);
    let db = Db::open(tmp.path(), opts(1000)).unwrap();
    assert_eq!(db.blocks().len(), 2);
    assert_eq!(dump(&db, 0, 2000, &[]), dump(&model, 0, 2000, &[]));
    db.compact().unwrap();
    let blocks = db.blocks();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    assert_eq!(blocks[0].compaction.level, 2);
    assert_eq!(blocks[0].stats.num_samples, 81);
    assert_eq!(dump(&db, 0, 2000, &[]), dump(&model, 0, 2000, &[]));
    drop(db);
    let dirs = root.list_dirs().unwrap();
    assert_eq!(
        dirs.iter()
            .filter(|d| !d.starts_with("wal") && d.as_str() != "exemplars")
            .count(),
        1,
        "{dirs:?}"
    );
    let db = Db::open(tmp.path(), opts(1000)).unwrap();
    assert_eq!(dump(&db, 0, 2000, &[]), dump(&model, 0, 2000, &[]));
}

/// Partial artifacts are removed at open; a corrupt block is set aside, never opened.
#[test]
fn open_removes_partial_and_sets_aside_corrupt_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let root: Arc<dyn Dir> = Arc::new(DiskDir::open(tmp.path()).unwrap());
    let a = ls(&[("__name__", "m")]);
    write(&root, 0, 1000, &[(a.clone(), vec![(1, 1.0)])]);
    write(&root, 1000, 2000, &[(a.clone(), vec![(1001, 2.0)])]);
    std::fs::create_dir_all(tmp.path().join("01JEBX5D6G6W3C3H2JJ5K3W2QX.tmp-for-creation/chunks")).unwrap();
    let mut dirs = root.list_dirs().unwrap();
    dirs.sort();
    let victim = dirs.iter().find(|d| d.len() == 26).unwrap().clone();
    let idx = tmp.path().join(&victim).join("index");
    let mut b = std::fs::read(&idx).unwrap();
    let n = b.len();
    b[n - 5] ^= 1;
    std::fs::write(&idx, b).unwrap();
    let db = Db::open(tmp.path(), opts(1000)).unwrap();
    assert_eq!(db.blocks().len(), 1);
    let names: Vec<String> = root.list_dirs().unwrap();
    assert!(names.contains(&format!("{victim}.corrupted")), "{names:?}");
    assert!(!names.iter().any(|n| n.ends_with(".tmp-for-creation")), "{names:?}");
}

/// Deleted data stays deleted once its range is cut into a block (the block is written without it), and
/// a deletion reaching data still in the head survives the checkpoint and a restart.
#[test]
fn tombstones_survive_block_cut_checkpoint_and_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let range = 1000;
    let model = MemStorage::new();
    let mut last_t = 0;
    {
        let db = Db::open(tmp.path(), opts(range)).unwrap();
        for step in 0..80i64 {
            let t = step * 50;
            let mut app = db.appender();
            let mut mapp = model.appender();
            for i in 0..4 {
                app.append(0, &series(i), t, step as f64).unwrap();
                // The model never gets the samples deleted below.
                let deleted = i == 1 && ((300..=700).contains(&t) || (3600..=3800).contains(&t));
                if !deleted {
                    mapp.append(0, &series(i), t, step as f64).unwrap();
                }
            }
            app.commit().unwrap();
            mapp.commit().unwrap();
            last_t = t;
        }
        // Delete [300, 700] (to be cut into the first block) and [3600, 3800] (stays in the head) of i1.
        let m = [Matcher::equal("instance", "i1")];
        assert_eq!(db.delete(300, 700, &m).unwrap(), 1);
        assert_eq!(db.delete(3600, 3800, &m).unwrap(), 1);
        check_same(&db, &model, last_t);
        db.compact().unwrap();
        assert!(!db.blocks().is_empty());
        check_same(&db, &model, last_t);
        let wal: Vec<String> = std::fs::read_dir(tmp.path().join("wal"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(wal.iter().any(|n| n.starts_with("checkpoint.")), "{wal:?}");
    }
    let db = Db::open(tmp.path(), opts(range)).unwrap();
    check_same(&db, &model, last_t);
}

/// The I/O seam under the block lifecycle: a failed fsync while a block is cut fails the round (counted),
/// opens no block and loses nothing (the head still answers); the WAL then refuses commits rather than
/// pretending; after a reopen with a healthy disk the same data is cut into blocks.
#[test]
fn failed_fsync_during_block_cut_loses_nothing() {
    use diamond_tsdb::FsyncPolicy;
    use diamond_tsdb::fs::{FaultyDir, MemDir};
    let mem = MemDir::new();
    let (faulty, faults) = FaultyDir::new(mem.clone());
    let root: Arc<dyn Dir> = Arc::new(faulty);
    let mut o = opts(1000);
    o.wal_fsync = FsyncPolicy::Always;
    let model = MemStorage::new();
    let mut last_t = 0;
    {
        let db = Db::open_with_root(Arc::clone(&root), o.clone()).unwrap();
        for step in 0..60i64 {
            let t = step * 50;
            let mut app = db.appender();
            let mut mapp = model.appender();
            for i in 0..4 {
                app.append(0, &series(i), t, step as f64).unwrap();
                mapp.append(0, &series(i), t, step as f64).unwrap();
            }
            app.commit().unwrap();
            mapp.commit().unwrap();
            last_t = t;
        }
        faults.fail_sync(true);
        assert!(db.compact().is_err(), "a block cut whose fsync fails must fail");
        assert!(db.blocks().is_empty(), "no block opened after a failed write");
        assert_eq!(db.stats().blocks.compactions_failed, 1);
        check_same(&db, &model, last_t);
        let mut app = db.appender();
        app.append(0, &series(0), last_t + 10, 1.0).unwrap();
        assert!(app.commit().is_err(), "a commit whose fsync fails is refused");
        let complete: Vec<String> = root
            .list_dirs()
            .unwrap()
            .into_iter()
            .filter(|d| d.len() == 26)
            .collect();
        assert!(complete.is_empty(), "{complete:?}");
    }
    faults.fail_sync(false);
    let db = Db::open_with_root(Arc::clone(&root), o).unwrap();
    check_same(&db, &model, last_t);
    db.compact().unwrap();
    assert!(!db.blocks().is_empty());
    check_same(&db, &model, last_t);
    let left: Vec<String> = root.list_dirs().unwrap();
    assert!(!left.iter().any(|d| d.contains(".tmp-")), "{left:?}");
}

/// `delete` reaches data already cut into blocks (their tombstones files), survives a restart, and a
/// compaction afterwards writes the merged block without the deleted samples.
#[test]
fn delete_reaches_blocks_and_compaction_drops_deleted_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let model = MemStorage::new();
    let mut last_t = 0;
    let m = [Matcher::equal("instance", "i2")];
    let deleted = |i: usize, t: i64| i == 2 && (200..=2600).contains(&t);
    {
        let db = Db::open(tmp.path(), opts(1000)).unwrap();
        for step in 0..120i64 {
            let t = step * 50;
            let mut app = db.appender();
            for i in 0..4 {
                app.append(0, &series(i), t, step as f64).unwrap();
            }
            app.commit().unwrap();
            last_t = t;
        }
        db.compact().unwrap();
        assert!(db.blocks().len() >= 2, "{:?}", db.blocks());
        assert!(db.delete(200, 2600, &m).unwrap() >= 1, "the blocks' series count");
    }
    let mut mapp = model.appender();
    for step in 0..120i64 {
        for i in 0..4 {
            if !deleted(i, step * 50) {
                mapp.append(0, &series(i), step * 50, step as f64).unwrap();
            }
        }
    }
    mapp.commit().unwrap();
    let db = Db::open(tmp.path(), opts(1000)).unwrap();
    check_same(&db, &model, last_t);
    // More data: more blocks are cut and the planner merges blocks that hold tombstones; the merged block
    // is written without the deleted samples.
    let mut app = db.appender();
    for step in 120..200i64 {
        app.append(0, &series(0), step * 50, 0.0).unwrap();
    }
    app.commit().unwrap();
    db.compact().unwrap();
    let mut mapp = model.appender();
    for step in 120..200i64 {
        mapp.append(0, &series(0), step * 50, 0.0).unwrap();
    }
    mapp.commit().unwrap();
    check_same(&db, &model, 199 * 50);
    assert!(db.blocks().iter().any(|b| b.compaction.level >= 2), "{:?}", db.blocks());
    drop(db);
    let db = Db::open(tmp.path(), opts(1000)).unwrap();
    check_same(&db, &model, 199 * 50);
}

/// (block name, tombstones empty) and (series, timestamp) of every stored sample.
type RawBlocks = (Vec<(String, bool)>, Vec<(Labels, i64)>);

/// Every sample stored in the blocks of `dir`, read straight from the chunk files (tombstones ignored),
/// with each block's tombstones-empty flag.
fn raw_block_samples(dir: &std::path::Path) -> RawBlocks {
    use diamond_tsdb::block::Block;
    use diamond_tsdb::chunk::XorIter;
    let root: Arc<dyn Dir> = Arc::new(DiskDir::open(dir).unwrap());
    let mut blocks = Vec::new();
    let mut samples = Vec::new();
    let mut names = root.list_dirs().unwrap();
    names.retain(|n| n != "wal" && n != "exemplars");
    names.sort();
    for name in names {
        let b = Block::open(&root, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
        blocks.push((name, b.tombstones().is_empty()));
        let mut metas = Vec::new();
        for id in b.series_ids().unwrap() {
            let l = b.series(id, &mut metas).unwrap();
            for c in &metas {
                for s in XorIter::new(b.chunk(c.chunk_ref).unwrap()) {
                    samples.push((l.clone(), s.unwrap().0));
                }
            }
        }
    }
    (blocks, samples)
}

/// `clean_tombstones` rewrites each block that has tombstones: the new block has none, the deleted
/// samples are gone from the chunk files, a block left empty is deleted, queries are unchanged, and all of
/// it holds after a restart. A crash between writing the new block and deleting the old one (both on
/// disk) is resolved on open: the old block, named as the new one's parent, is deleted.
#[test]
fn clean_tombstones_rewrites_blocks_durably() {
    let tmp = tempfile::tempdir().unwrap();
    let model = MemStorage::new();
    let m = [Matcher::equal("instance", "i2")];
    let all = [Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap()];
    // i2 loses [200, 2600]; every series loses [3000, 3999], the whole of one block.
    let deleted = |i: usize, t: i64| (i == 2 && (200..=2600).contains(&t)) || (3000..=3999).contains(&t);
    let db = Db::open(tmp.path(), opts(1000)).unwrap();
    let mut mapp = model.appender();
    for step in 0..120i64 {
        let t = step * 50;
        let mut app = db.appender();
        for i in 0..4 {
            app.append(0, &series(i), t, step as f64).unwrap();
            if !deleted(i, t) {
                mapp.append(0, &series(i), t, step as f64).unwrap();
            }
        }
        app.commit().unwrap();
    }
    mapp.commit().unwrap();
    db.compact().unwrap();
    let before: Vec<String> = db.blocks().iter().map(|b| b.ulid.clone()).collect();
    let ranges: Vec<(i64, i64)> = db.blocks().iter().map(|b| (b.min_time, b.max_time)).collect();
    // The planner merged the first three ranges: [0, 3000), [3000, 4000), [4000, 5000).
    assert_eq!(ranges, vec![(0, 3000), (3000, 4000), (4000, 5000)]);
    assert_eq!(db.delete(200, 2600, &m).unwrap(), 1);
    assert!(db.delete(3000, 3999, &all).unwrap() >= 4);
    check_same(&db, &model, 119 * 50);
    let (_, raw) = raw_block_samples(tmp.path());
    let is_deleted = |l: &Labels, t: i64| (0..4).any(|i| series(i) == *l && deleted(i, t));
    let raw_deleted = raw.iter().filter(|(l, t)| is_deleted(l, *t)).count();
    assert!(
        raw_deleted > 0,
        "the deleted samples are still in the chunk files before the clean"
    );

    let stats = db.clean_tombstones().unwrap();
    // [0, 3000) holds i2's deleted stretch; [3000, 4000) is emptied.
    assert_eq!(stats.blocks_rewritten, 2, "{:?}", db.blocks());
    let after: Vec<String> = db.blocks().iter().map(|b| b.ulid.clone()).collect();
    assert_eq!(after.len(), before.len() - 1, "the emptied block is gone: {after:?}");
    assert!(!db.blocks().iter().any(|b| b.min_time == 3000));
    check_same(&db, &model, 119 * 50);
    let (blocks, raw) = raw_block_samples(tmp.path());
    assert!(blocks.iter().all(|(_, clean)| *clean), "no tombstones left: {blocks:?}");
    assert_eq!(
        raw.iter().filter(|(l, t)| is_deleted(l, *t)).count(),
        0,
        "deleted samples gone from disk"
    );
    let on_disk: Vec<String> = blocks.iter().map(|b| b.0.clone()).collect();
    let mut want = after.clone();
    want.sort();
    assert_eq!(on_disk, want, "old block directories deleted");
    // Idempotent.
    assert_eq!(db.clean_tombstones().unwrap().blocks_rewritten, 0);
    db.close().unwrap();
    drop(db);

    let db = Db::open(tmp.path(), opts(1000)).unwrap();
    check_same(&db, &model, 119 * 50);
    let mut reopened: Vec<String> = db.blocks().iter().map(|b| b.ulid.clone()).collect();
    reopened.sort();
    assert_eq!(reopened, want);

    // A crash in the middle of a rewrite: the new block is durable, the old one not yet deleted.
    db.delete(0, 400, &[Matcher::equal("instance", "i1")]).unwrap();
    db.close().unwrap();
    drop(db);
    let root: Arc<dyn Dir> = Arc::new(DiskDir::open(tmp.path()).unwrap());
    let old_name = reopened
        .iter()
        .find(|n| {
            let b = diamond_tsdb::block::Block::open(&root, n).unwrap();
            !b.tombstones().is_empty()
        })
        .cloned()
        .expect("the block holding [0, 400]");
    let old = diamond_tsdb::block::Block::open(&root, &old_name).unwrap();
    let new = diamond_tsdb::block::rewrite_without_tombstones(&root, &old)
        .unwrap()
        .unwrap();
    drop(old);
    assert!(tmp.path().join(&old_name).is_dir() && tmp.path().join(&new.ulid).is_dir());
    let db = Db::open(tmp.path(), opts(1000)).unwrap();
    assert!(
        !tmp.path().join(&old_name).exists(),
        "the parent of the rewritten block is deleted on open"
    );
    assert!(db.blocks().iter().any(|b| b.ulid == new.ulid));
    assert_eq!(db.blocks().len(), want.len());
    // i1's [0, 400] is gone either way: from the new block's chunks.
    let got = dump(&db, 0, 400, &[Matcher::equal("instance", "i1")]);
    assert!(got.is_empty(), "{got:?}");
    let (blocks, raw) = raw_block_samples(tmp.path());
    assert!(blocks.iter().all(|(_, clean)| *clean), "{blocks:?}");
    assert!(!raw.iter().any(|(l, t)| *l == series(1) && *t <= 400));
}

/// A querier made before a head cut and read after it still sees every sample: the cut moved them into a
/// block the querier did not know of when it was made (regression: the block list was taken when the
/// querier was made, so whole block ranges vanished from queries racing a cut).
#[test]
fn querier_made_before_a_cut_sees_the_cut_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let range = 1000;
    let db = Db::open(tmp.path(), opts(range)).unwrap();
    let mut app = db.appender();
    for t in (0..5000).step_by(100) {
        app.append(0, &series(0), t, t as f64).unwrap();
    }
    app.commit().unwrap();
    let m = vec![Matcher::equal("instance", "i0")];
    let q = db.querier(0, 5000).unwrap();
    db.compact().unwrap();
    assert!(!db.blocks().is_empty(), "the head was cut");
    let got = q.select(&m).unwrap();
    assert_eq!(got.len(), 1);
    let mut it = got[0].data.iter(0, 5000);
    let mut ts = Vec::new();
    while let Some((t, _)) = it.next() {
        ts.push(t);
    }
    assert_eq!(ts, (0..5000).step_by(100).collect::<Vec<i64>>());
    assert_eq!(q.label_values("instance", &m).unwrap(), vec!["i0".to_owned()]);
}

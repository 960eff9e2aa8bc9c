//! `Db::delete` (tombstones) against a naive model: the samples that existed when a delete ran and fell in
//! its interval are gone from every query; everything else is as `MemStorage` has it. Also across
//! reopens (the WAL tombstones record is replayed) and in label queries.

use std::collections::HashSet;

use diamond_model::storage::memory::MemStorage;
use diamond_model::storage::{Appender, Queryable};
use diamond_model::{Labels, MatchOp, Matcher, Timestamp};
use diamond_tsdb::{Db, Options};
use proptest::prelude::*;

use crate::{dump, ls};

#[derive(Debug, Clone)]
enum Op {
    Append { series: usize, t: i64 },
    Commit,
    Delete { mint: i64, maxt: i64, m: usize },
    Query { mint: i64, maxt: i64, m: usize },
    Reopen { close: bool },
    Clean,
}

fn pool() -> Vec<Labels> {
    vec![
        ls(&[("__name__", "a"), ("job", "x")]),
        ls(&[("__name__", "a"), ("job", "y")]),
        ls(&[("__name__", "b"), ("job", "x")]),
        ls(&[("__name__", "c")]),
    ]
}

fn matchers(i: usize) -> Vec<Matcher> {
    let re = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
    match i {
        0 => vec![],
        1 => vec![Matcher::equal("__name__", "a")],
        2 => vec![Matcher::equal("job", "x")],
        3 => vec![Matcher::equal("job", "")],
        _ => vec![re(MatchOp::Regex, "__name__", ".+")],
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0usize..4, 0i64..60).prop_map(|(series, t)| Op::Append { series, t: t * 1000 }),
        4 => Just(Op::Commit),
        3 => (0i64..65, 0i64..20, 0usize..5).prop_map(|(a, len, m)| Op::Delete { mint: a * 1000, maxt: (a + len) * 1000, m }),
        3 => (0i64..65, 0i64..65, 0usize..5).prop_map(|(a, b, m)| Op::Query { mint: a.min(b) * 1000, maxt: a.max(b) * 1000, m }),
        1 => any::<bool>().prop_map(|close| Op::Reopen { close }),
        1 => Just(Op::Clean),
    ]
}

fn opts() -> Options {
    Options {
        wal_segment_size: 32 * 1024,
        stripes: 4,
        ..Options::default()
    }
}

type Dump = Vec<(Labels, Vec<(Timestamp, u64)>)>;

/// The model's answer: `MemStorage` minus the deleted samples, without series left empty.
fn model_dump(
    model: &MemStorage,
    deleted: &HashSet<(Labels, Timestamp)>,
    mint: i64,
    maxt: i64,
    ms: &[Matcher],
) -> Dump {
    dump(model, mint, maxt, ms)
        .into_iter()
        .map(|(l, v)| {
            let v: Vec<_> = v
                .into_iter()
                .filter(|(t, _)| !deleted.contains(&(l.clone(), *t)))
                .collect();
            (l, v)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn head_tombstones_match_model(ops in proptest::collection::vec(op(), 1..80)) {
        let tmp = tempfile::tempdir().unwrap();
        let pool = pool();
        let model = MemStorage::new();
        let mut deleted: HashSet<(Labels, Timestamp)> = HashSet::new();
        let mut db = Db::open(tmp.path(), opts()).unwrap();
        let mut app: Option<(Box<dyn Appender>, Box<dyn Appender>)> = None;
        for op in ops {
            match op {
                Op::Append { series, t } => {
                    let (a, m) = app.get_or_insert_with(|| (db.appender(), model.appender()));
                    let l = &pool[series];
                    // Order rules are unchanged by deletes (the head keeps the newest sample), as in
                    // Prometheus, so MemStorage still models them.
                    let got = a.append(0, l, t, t as f64).map(|_| ());
                    let want = m.append(0, l, t, t as f64).map(|_| ());
                    prop_assert_eq!(got, want);
                }
                Op::Commit => {
                    if let Some((a, m)) = app.take() {
                        a.commit().unwrap();
                        m.commit().unwrap();
                    }
                }
                Op::Delete { mint, maxt, m } => {
                    let ms = matchers(m);
                    let n = db.delete(mint, maxt, &ms).unwrap();
                    let mut want_series = 0;
                    if !ms.is_empty() {
                        for (l, v) in dump(&model, mint, maxt, &ms) {
                            for (t, _) in v {
                                deleted.insert((l.clone(), t));
                            }
                        }
                        // A tombstone is recorded for every matching series whose sample range overlaps
                        // the interval (clamped to it), even where no sample falls inside (as Prometheus).
                        for (_, v) in dump(&model, i64::MIN, i64::MAX, &ms) {
                            if v.first().is_some_and(|f| f.0 <= maxt) && v.last().is_some_and(|l| l.0 >= mint) {
                                want_series += 1;
                            }
                        }
                    }
                    prop_assert_eq!(n, want_series, "series given a tombstone");
                }
                Op::Query { mint, maxt, m } => {
                    let ms = matchers(m);
                    let want = model_dump(&model, &deleted, mint, maxt, &ms);
                    prop_assert_eq!(dump(&db, mint, maxt, &ms), want.clone());
                    let q = db.querier(mint, maxt).unwrap();
                    let mut names: Vec<String> = want.iter().flat_map(|(l, _)| l.iter().map(|x| x.name.to_string())).collect();
                    names.sort();
                    names.dedup();
                    prop_assert_eq!(q.label_names(&ms).unwrap(), names);
                    let mut jobs: Vec<String> = want.iter().filter_map(|(l, _)| l.get("job").map(str::to_owned)).collect();
                    jobs.sort();
                    jobs.dedup();
                    prop_assert_eq!(q.label_values("job", &ms).unwrap(), jobs);
                }
                Op::Clean => {
                    db.clean_tombstones().unwrap();
                }
                Op::Reopen { close } => {
                    app = None;
                    if close {
                        db.close().unwrap();
                    }
                    drop(db);
                    db = Db::open(tmp.path(), opts()).unwrap();
                }
            }
        }
        drop(app);
        prop_assert_eq!(dump(&db, i64::MIN, i64::MAX, &[]), model_dump(&model, &deleted, i64::MIN, i64::MAX, &[]));
    }
}

fn append_range(db: &Db, l: &Labels, ts: impl Iterator<Item = i64>) {
    let mut app = db.appender();
    let mut r = 0;
    for t in ts {
        r = app.append(r, l, t, t as f64).unwrap();
    }
    app.commit().unwrap();
}

#[test]
fn delete_survives_restart_and_later_samples_stay_visible() {
    let tmp = tempfile::tempdir().unwrap();
    let a = ls(&[("__name__", "a"), ("job", "x")]);
    let b = ls(&[("__name__", "b"), ("job", "x")]);
    {
        let db = Db::open(tmp.path(), opts()).unwrap();
        append_range(&db, &a, (0..300).map(|i| i * 1000));
        append_range(&db, &b, (0..300).map(|i| i * 1000));
        // Deletes the middle of a (crossing chunk boundaries: 120 samples per chunk), and nothing of b.
        assert_eq!(
            db.delete(100_000, 250_000, &[Matcher::equal("__name__", "a")]).unwrap(),
            1
        );
        // Open-ended delete: everything of a up to its newest sample so far (Prometheus's default end).
        append_range(&db, &a, (300..310).map(|i| i * 1000));
        assert_eq!(
            db.delete(305_000, i64::MAX, &[Matcher::equal("__name__", "a")])
                .unwrap(),
            1
        );
        // Samples appended after a delete are not covered by it, even with an open end.
        append_range(&db, &a, (310..320).map(|i| i * 1000));
        // Dropped without close: a crash. The deletes were fsynced.
    }
    let db = Db::open(tmp.path(), opts()).unwrap();
    let got = dump(&db, i64::MIN, i64::MAX, &[Matcher::equal("__name__", "a")]);
    let want: Vec<i64> = (0..100).chain(251..305).chain(310..320).map(|i| i * 1000).collect();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1.iter().map(|s| s.0).collect::<Vec<_>>(), want);
    assert_eq!(
        dump(&db, i64::MIN, i64::MAX, &[Matcher::equal("__name__", "b")])[0]
            .1
            .len(),
        300
    );
    // Seek through a deleted stretch lands after it.
    let q = db.querier(0, i64::MAX).unwrap();
    let s = q.select(&[Matcher::equal("__name__", "a")]).unwrap();
    let mut it = s[0].data.iter(0, i64::MAX);
    assert_eq!(it.seek(150_000), Some((251_000, 251_000.0)));
    // A fully deleted series disappears from select, label names and values.
    db.delete(i64::MIN, i64::MAX, &[Matcher::equal("__name__", "b")])
        .unwrap();
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    assert!(q.select(&[Matcher::equal("__name__", "b")]).unwrap().is_empty());
    assert_eq!(q.label_values("__name__", &[]).unwrap(), vec!["a".to_owned()]);
    // A querier over only the deleted part of a sees nothing either.
    let q = db.querier(120_000, 200_000).unwrap();
    assert!(q.select(&[]).unwrap().is_empty());
    assert!(q.label_names(&[]).unwrap().is_empty());
}

#[test]
fn delete_on_a_closed_db_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), opts()).unwrap();
    append_range(&db, &ls(&[("__name__", "a")]), 0..10);
    db.close().unwrap();
    let e = db.delete(0, 5, &[Matcher::equal("__name__", "a")]).unwrap_err();
    assert!(e.to_string().contains("write-ahead log"), "{e}");
    assert_eq!(dump(&db, 0, 100, &[])[0].1.len(), 10, "nothing deleted");
}

#[test]
fn clean_tombstones_drops_head_samples_and_keeps_the_view() {
    let tmp = tempfile::tempdir().unwrap();
    let a = ls(&[("__name__", "a")]);
    let db = Db::open(tmp.path(), opts()).unwrap();
    append_range(&db, &a, (0..1000).map(|i| i * 1000));
    let chunks_before = db.stats().chunks;
    db.delete(0, 599_000, &[Matcher::equal("__name__", "a")]).unwrap();
    db.delete(700_500, 720_500, &[Matcher::equal("__name__", "a")]).unwrap();
    db.delete(990_000, 995_000, &[Matcher::equal("__name__", "a")]).unwrap();
    let view = dump(&db, i64::MIN, i64::MAX, &[]);
    let stats = db.clean_tombstones().unwrap();
    // 600 + 20 deleted samples lie in closed chunks; the 6 in the open chunk (samples 960..999) stay
    // there, hidden.
    assert_eq!(stats.head_samples_removed, 620);
    assert_eq!(dump(&db, i64::MIN, i64::MAX, &[]), view);
    assert!(db.stats().chunks < chunks_before, "fully deleted chunks are gone");
    let q = db.querier(0, i64::MAX).unwrap();
    let s = q.select(&[]).unwrap();
    let mut it = s[0].data.iter(0, i64::MAX);
    assert_eq!(it.seek(700_000), Some((700_000, 700_000.0)));
    assert_eq!(it.next(), Some((721_000, 721_000.0)));
    // Idempotent, and the same after a restart (the WAL still has the samples and the tombstones).
    assert_eq!(db.clean_tombstones().unwrap().head_samples_removed, 0);
    db.close().unwrap();
    drop(db);
    let db = Db::open(tmp.path(), opts()).unwrap();
    assert_eq!(dump(&db, i64::MIN, i64::MAX, &[]), view);
    assert_eq!(view[0].1.len(), 1000 - 600 - 20 - 6);
}

#[test]
fn snapshot_links_blocks_and_writes_the_head_without_deleted_samples() {
    use diamond_model::storage::Querier;
    use diamond_tsdb::block::Block;
    use diamond_tsdb::fs::{Dir, DiskDir};
    use std::sync::Arc;

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let a = ls(&[("__name__", "a"), ("job", "x")]);
    let b = ls(&[("__name__", "b"), ("job", "y")]);
    let db = Db::open(&data, opts()).unwrap();
    append_range(&db, &a, (0..500).map(|i| i * 1000));
    append_range(&db, &b, (0..500).map(|i| i * 1000));
    db.delete(100_000, 199_000, &[Matcher::equal("__name__", "a")]).unwrap();
    let want = dump(&db, i64::MIN, i64::MAX, &[]);

    // A snapshot of only the head: one block with the head's view.
    let snap1 = tmp.path().join("snap1");
    db.snapshot(&snap1, true).unwrap();
    let root: Arc<dyn Dir> = Arc::new(DiskDir::open(&snap1).unwrap());
    let names = root.list_dirs().unwrap();
    assert_eq!(names.len(), 1, "{names:?}");
    let blk = Arc::new(Block::open(&root, &names[0]).unwrap());
    assert_eq!((blk.meta().min_time, blk.meta().max_time), (0, 499_001));
    assert_eq!(blk.meta().stats.num_samples, 900);
    let q = Block::querier(&blk, i64::MIN, i64::MAX);
    let got: Vec<_> = q
        .select(&[])
        .unwrap()
        .into_iter()
        .map(|s| {
            let mut it = s.data.iter(i64::MIN, i64::MAX);
            let mut v = Vec::new();
            while let Some((t, x)) = it.next() {
                v.push((t, x.to_bits()));
            }
            (s.labels, v)
        })
        .collect();
    assert_eq!(got, want);

    // A block in the data directory is hard-linked; skip_head leaves the head out.
    let blk_dir = data.join(&names[0]);
    copy_tree(&snap1.join(&names[0]), &blk_dir);
    let snap2 = tmp.path().join("snap2");
    db.snapshot(&snap2, false).unwrap();
    let root2: Arc<dyn Dir> = Arc::new(DiskDir::open(&snap2).unwrap());
    assert_eq!(root2.list_dirs().unwrap(), vec![names[0].clone()]);
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &std::path::Path| std::fs::metadata(p).unwrap().ino();
    assert_eq!(ino(&blk_dir.join("index")), ino(&snap2.join(&names[0]).join("index")));
    assert_eq!(
        ino(&blk_dir.join("chunks/000001")),
        ino(&snap2.join(&names[0]).join("chunks/000001"))
    );
    Block::open(&root2, &names[0]).unwrap();
    // An empty head adds no block.
    let tmp2 = tempfile::tempdir().unwrap();
    let empty = Db::open(tmp2.path(), opts()).unwrap();
    empty.snapshot(&tmp2.path().join("s"), true).unwrap();
    assert!(std::fs::read_dir(tmp2.path().join("s")).unwrap().next().is_none());
}

fn copy_tree(src: &std::path::Path, dst: &std::path::Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
}

mod blocks {
    //! Block tombstones: `Block::delete` writes the tombstones file, queries (select, label names and
    //! values) hide deleted samples at once and after reopening, and `rewrite_without_tombstones` writes
    //! a block with the same visible data and no tombstones; all against a naive model.

    use std::collections::BTreeMap;
    use std::sync::Arc;

    use diamond_model::storage::Querier;
    use diamond_model::{Labels, Matcher};
    use diamond_tsdb::block::{Block, BlockWriter, ChunkData, rewrite_without_tombstones};
    use diamond_tsdb::chunk::encode_chunks;
    use diamond_tsdb::fs::{Dir, DiskDir, FaultyDir, MemDir};
    use proptest::prelude::*;

    use super::matchers;
    use crate::ls;

    type Model = BTreeMap<Labels, Vec<(i64, f64)>>;

    fn pool() -> Vec<Labels> {
        super::pool()
    }

    fn write(root: &Arc<dyn Dir>, m: &Model, range: i64) -> String {
        let symbols: Vec<String> = m
            .keys()
            .flat_map(|l| {
                l.iter()
                    .flat_map(|x| [x.name.to_string(), x.value.to_string()])
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut w = BlockWriter::new(Arc::clone(root), 0, range, symbols).unwrap();
        for (l, s) in m {
            let enc = encode_chunks(s.iter().copied(), i64::MAX);
            let cd: Vec<ChunkData<'_>> = enc
                .iter()
                .map(|(a, b, d)| ChunkData {
                    min_time: *a,
                    max_time: *b,
                    data: d,
                })
                .collect();
            w.add_series(l, &cd).unwrap();
        }
        w.finish(1, Vec::new(), Vec::new()).unwrap().unwrap().ulid
    }

    fn dump(q: &dyn Querier, ms: &[Matcher]) -> Vec<(Labels, Vec<(i64, u64)>)> {
        q.select(ms)
            .unwrap()
            .into_iter()
            .map(|s| {
                let mut it = s.data.iter(i64::MIN, i64::MAX);
                let mut v = Vec::new();
                while let Some((t, x)) = it.next() {
                    v.push((t, x.to_bits()));
                }
                (s.labels, v)
            })
            .collect()
    }

    fn model_dump(m: &Model, ms: &[Matcher], mint: i64, maxt: i64) -> Vec<(Labels, Vec<(i64, u64)>)> {
        m.iter()
            .filter(|(l, _)| ms.iter().all(|x| x.matches(l.get(&x.name).unwrap_or(""))))
            .map(|(l, s)| {
                let v: Vec<(i64, u64)> = s
                    .iter()
                    .filter(|x| x.0 >= mint && x.0 <= maxt)
                    .map(|&(t, v)| (t, v.to_bits()))
                    .collect();
                (l.clone(), v)
            })
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }

    fn check(block: &Arc<Block>, model: &Model) -> Result<(), TestCaseError> {
        for m in 0..5 {
            let ms = matchers(m);
            let q = Block::querier(block, i64::MIN, i64::MAX);
            let want = model_dump(model, &ms, i64::MIN, i64::MAX);
            prop_assert_eq!(dump(&q, &ms), want.clone(), "matchers {}", m);
            let mut names: Vec<String> = want
                .iter()
                .flat_map(|(l, _)| l.iter().map(|x| x.name.to_string()))
                .collect();
            names.sort();
            names.dedup();
            prop_assert_eq!(q.label_names(&ms).unwrap(), names);
            let mut jobs: Vec<String> = want
                .iter()
                .filter_map(|(l, _)| l.get("job").map(str::to_owned))
                .collect();
            jobs.sort();
            jobs.dedup();
            prop_assert_eq!(q.label_values("job", &ms).unwrap(), jobs);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn block_tombstones_match_model(
            counts in proptest::collection::vec(1usize..400, 4),
            deletes in proptest::collection::vec((0i64..4000, 0i64..1500, 1usize..5), 0..6),
        ) {
            let root: Arc<dyn Dir> = Arc::new(MemDir::new());
            let mut model: Model = pool()
                .into_iter()
                .zip(&counts)
                .map(|(l, &n)| (l, (0..n as i64).map(|i| (i * 10, i as f64)).collect()))
                .collect();
            let name = write(&root, &model, 10_000);
            let orig = model.clone();
            let block = Arc::new(Block::open(&root, &name).unwrap());
            let before = Block::querier(&block, i64::MIN, i64::MAX);
            let before_view = dump(&before, &[]);
            for &(a, len, m) in &deletes {
                let ms = matchers(m);
                let n = block.delete(a, a + len, &ms).unwrap();
                let mut want = 0;
                // Intervals are clamped to the series' stored range, deleted or not.
                for (l, s) in &orig {
                    if !ms.iter().all(|x| x.matches(l.get(&x.name).unwrap_or(""))) {
                        continue;
                    }
                    if s.first().is_some_and(|f| f.0 <= a + len) && s.last().is_some_and(|x| x.0 >= a) {
                        want += 1;
                    }
                }
                for (l, s) in model.iter_mut() {
                    if ms.iter().all(|x| x.matches(l.get(&x.name).unwrap_or(""))) {
                        s.retain(|x| x.0 < a || x.0 > a + len);
                    }
                }
                prop_assert_eq!(n, want);
            }
            check(&block, &model)?;
            // A querier opened before the deletes keeps its view.
            prop_assert_eq!(dump(&before, &[]), before_view);
            // Persisted: a reopened block has the same view.
            let reopened = Arc::new(Block::open(&root, &name).unwrap());
            prop_assert_eq!(reopened.tombstones(), block.tombstones());
            check(&reopened, &model)?;
            // Rewritten: same view, no tombstones, only the visible samples stored.
            match rewrite_without_tombstones(&root, &block).unwrap() {
                None => prop_assert!(model.values().all(Vec::is_empty)),
                Some(meta) => {
                    let clean = Arc::new(Block::open(&root, &meta.ulid).unwrap());
                    prop_assert!(clean.tombstones().is_empty());
                    prop_assert_eq!(meta.stats.num_samples, model.values().map(|v| v.len() as u64).sum::<u64>());
                    prop_assert_eq!((meta.min_time, meta.max_time), (0, 10_000));
                    prop_assert_eq!(&meta.compaction.parents[0].ulid, &name);
                    check(&clean, &model)?;
                }
            }
        }
    }

    #[test]
    fn delete_on_disk_is_durable_and_a_failed_write_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let (faulty, faults) = FaultyDir::new(DiskDir::open(tmp.path()).unwrap());
        let root: Arc<dyn Dir> = Arc::new(faulty);
        let a = ls(&[("__name__", "a"), ("job", "x")]);
        let model: Model = [(a.clone(), (0..100).map(|i| (i * 10, 1.0)).collect())]
            .into_iter()
            .collect();
        let name = write(&root, &model, 10_000);
        let block = Block::open(&root, &name).unwrap();
        faults.fail_sync(true);
        assert!(block.delete(0, 500, &[Matcher::equal("job", "x")]).is_err());
        assert!(block.tombstones().is_empty(), "not applied when not durable");
        faults.fail_sync(false);
        assert_eq!(block.delete(0, 500, &[Matcher::equal("job", "x")]).unwrap(), 1);
        // Beyond the block or matching nothing: no change, no write.
        assert_eq!(block.delete(20_000, 30_000, &[Matcher::equal("job", "x")]).unwrap(), 0);
        assert_eq!(block.delete(0, 500, &[Matcher::equal("job", "nope")]).unwrap(), 0);
        assert_eq!(block.delete(0, 500, &[]).unwrap(), 0);
        let on_disk = std::fs::read(tmp.path().join(&name).join("tombstones")).unwrap();
        assert_eq!(on_disk, block.tombstones().encode());
        assert!(!tmp.path().join(&name).join("tombstones.tmp").exists());
        let id = block.series_ids().unwrap()[0];
        assert_eq!(block.tombstones().get(id), &[(0, 500)]);
    }
}

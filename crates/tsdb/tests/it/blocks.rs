//! Blocks: write/read round-trips against `MemStorage` (the naive model), corruption refused at open or
//! at read, and Prometheus compatibility (the reference `promtool tsdb dump` reads a Diamond block).

use std::sync::Arc;

use diamond_model::storage::memory::MemStorage;
use diamond_model::storage::{Querier, Queryable};
use diamond_model::{Labels, MatchOp, Matcher};
use diamond_tsdb::block::{Block, BlockWriter, ChunkData};
use diamond_tsdb::chunk::XorAppender;
use diamond_tsdb::fs::{Dir, DiskDir, FaultyDir, MemDir};
use proptest::prelude::*;

use crate::ls;

type SeriesSamples = Vec<(Labels, Vec<(i64, f64)>)>;

/// Writes `series` (any order) as one block of `[0, range)`, cutting chunks every 120 samples.
fn write_block(root: &Arc<dyn Dir>, series: &SeriesSamples, range: i64) -> Option<String> {
    let mut sorted = series.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let symbols: Vec<String> = sorted
        .iter()
        .flat_map(|(l, _)| {
            l.iter()
                .flat_map(|x| [x.name.to_string(), x.value.to_string()])
                .collect::<Vec<_>>()
        })
        .collect();
    let mut w = BlockWriter::new(Arc::clone(root), 0, range, symbols).unwrap();
    for (l, samples) in &sorted {
        let mut chunks: Vec<(i64, i64, Vec<u8>)> = Vec::new();
        for part in samples.chunks(120) {
            let mut a = XorAppender::new();
            for &(t, v) in part {
                a.append(t, v);
            }
            chunks.push((part[0].0, part[part.len() - 1].0, a.bytes().to_vec()));
        }
        let cd: Vec<ChunkData<'_>> = chunks
            .iter()
            .map(|(a, b, d)| ChunkData {
                min_time: *a,
                max_time: *b,
                data: d,
            })
            .collect();
        w.add_series(l, &cd).unwrap();
    }
    w.finish(1, Vec::new(), Vec::new()).unwrap().map(|m| m.ulid)
}

fn dump_q(q: &dyn Querier, mint: i64, maxt: i64, m: &[Matcher]) -> Vec<(Labels, Vec<(i64, u64)>)> {
    q.select(m)
        .unwrap()
        .into_iter()
        .map(|s| {
            let mut it = s.data.iter(mint, maxt);
            let mut v = Vec::new();
            while let Some((t, x)) = it.next() {
                v.push((t, x.to_bits()));
            }
            (s.labels, v)
        })
        .collect()
}

fn series_strategy() -> impl Strategy<Value = SeriesSamples> {
    let label = prop_oneof![Just("a"), Just("b"), Just("c")];
    let lset = proptest::collection::btree_map(
        prop_oneof![Just("__name__"), Just("job"), Just("le"), Just("zone")],
        label,
        1..4,
    );
    proptest::collection::btree_map(lset, (1usize..300, 1i64..50, any::<u8>()), 1..12).prop_map(|m| {
        m.into_iter()
            .map(|(l, (n, step, seed))| {
                let pairs: Vec<(&str, &str)> = l.iter().map(|(a, b)| (*a, *b)).collect();
                let samples = (0..n as i64)
                    .map(|i| (i * step * 7 + i64::from(seed), f64::from(seed) * (i % 7) as f64 - 3.5))
                    .collect();
                (Labels::from_pairs(&pairs), samples)
            })
            .collect()
    })
}

fn matchers_strategy() -> impl Strategy<Value = Vec<Matcher>> {
    let op = prop_oneof![
        Just(MatchOp::Equal),
        Just(MatchOp::NotEqual),
        Just(MatchOp::Regex),
        Just(MatchOp::NotRegex)
    ];
    let m = (
        op,
        prop_oneof![Just("__name__"), Just("job"), Just("le"), Just("nope")],
        prop_oneof![Just(""), Just("a"), Just("a|b"), Just(".+"), Just(".*"), Just("c")],
    )
        .prop_map(|(op, n, v)| Matcher::new(op, n, v).unwrap());
    proptest::collection::vec(m, 0..3)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A block written and reopened answers select, label_names and label_values exactly as the naive
    /// model holding the same samples, for any matchers and time range.
    #[test]
    fn round_trip_matches_model(series in series_strategy(),
                                queries in proptest::collection::vec((matchers_strategy(), 0i64..20_000, 0i64..20_000), 1..6),
                                on_disk in any::<bool>()) {
        let tmp = tempfile::tempdir().unwrap();
        let root: Arc<dyn Dir> = if on_disk { Arc::new(DiskDir::open(tmp.path()).unwrap()) } else { Arc::new(MemDir::new()) };
        let model = MemStorage::new();
        for (l, s) in &series {
            model.add(l.clone(), s);
        }
        let ulid = write_block(&root, &series, 1 << 40).unwrap();
        let block = Arc::new(Block::open(&root, &ulid).unwrap());
        let total: u64 = series.iter().map(|s| s.1.len() as u64).sum();
        prop_assert_eq!(block.meta().stats.num_samples, total);
        prop_assert_eq!(block.meta().stats.num_series, series.len() as u64);
        for (m, a, b) in queries {
            let (mint, maxt) = (a.min(b), a.max(b));
            let q = Block::querier(&block, mint, maxt);
            let mq = model.querier(mint, maxt).unwrap();
            prop_assert_eq!(dump_q(&q, mint, maxt, &m), dump_q(mq.as_ref(), mint, maxt, &m), "select {:?} [{}, {}]", m, mint, maxt);
            // Seek agrees with a filtered walk.
            for s in q.select(&m).unwrap() {
                let mid = (mint + maxt) / 2;
                let mut it = s.data.iter(mint, maxt);
                let got = it.seek(mid);
                let mut it2 = s.data.iter(mint, maxt);
                let mut want = None;
                while let Some(x) = it2.next() { if x.0 >= mid { want = Some(x); break; } }
                prop_assert_eq!(got.map(|x| (x.0, x.1.to_bits())), want.map(|x| (x.0, x.1.to_bits())));
                // The batch read equals the walk, from the start and after a seek.
                let walk = |it: &mut dyn diamond_model::storage::SampleIter| std::iter::from_fn(|| it.next()).map(|x| (x.0, x.1.to_bits())).collect::<Vec<_>>();
                let mut filled = Vec::new();
                s.data.iter(mint, maxt).fill(&mut filled);
                let filled: Vec<(i64, u64)> = filled.iter().map(|x| (x.0, x.1.to_bits())).collect();
                prop_assert_eq!(filled, walk(s.data.iter(mint, maxt).as_mut()));
                let mut it = s.data.iter(mint, maxt);
                let mut filled: Vec<(i64, f64)> = it.seek(mid).into_iter().collect();
                it.fill(&mut filled);
                let mut it2 = s.data.iter(mint, maxt);
                let mut rest: Vec<(i64, u64)> = it2.seek(mid).map(|x| (x.0, x.1.to_bits())).into_iter().collect();
                rest.extend(walk(it2.as_mut()));
                prop_assert_eq!(filled.iter().map(|x| (x.0, x.1.to_bits())).collect::<Vec<_>>(), rest);
            }
            if !m.is_empty() {
                prop_assert_eq!(q.label_names(&m).unwrap(), mq.label_names(&m).unwrap());
                prop_assert_eq!(q.label_values("job", &m).unwrap(), mq.label_values("job", &m).unwrap());
            }
        }
    }
}

#[test]
fn empty_block_is_not_written() {
    let root: Arc<dyn Dir> = Arc::new(MemDir::new());
    assert_eq!(write_block(&root, &Vec::new(), 1000), None);
    assert!(
        root.list_dirs().unwrap().is_empty(),
        "no temporary directory left behind"
    );
}

#[test]
fn writer_refuses_unsorted_series_and_chunks_outside_range() {
    let root: Arc<dyn Dir> = Arc::new(MemDir::new());
    let mut a = XorAppender::new();
    a.append(5, 1.0);
    let c = [ChunkData {
        min_time: 5,
        max_time: 5,
        data: a.bytes(),
    }];
    let syms = vec!["a".to_owned(), "b".to_owned(), "x".to_owned()];
    let mut w = BlockWriter::new(Arc::clone(&root), 0, 10, syms.clone()).unwrap();
    w.add_series(&ls(&[("x", "b")]), &c).unwrap();
    assert!(w.add_series(&ls(&[("x", "a")]), &c).is_err());
    drop(w);
    let mut w = BlockWriter::new(Arc::clone(&root), 6, 10, syms).unwrap();
    assert!(w.add_series(&ls(&[("x", "a")]), &c).is_err());
    drop(w);
    assert!(root.list_dirs().unwrap().is_empty(), "dropped writers clean up");
}

fn one_series_block(root: &Arc<dyn Dir>) -> String {
    let samples: Vec<(i64, f64)> = (0..500).map(|i| (i * 1000, i as f64)).collect();
    write_block(root, &vec![(ls(&[("__name__", "up"), ("job", "a")]), samples)], 1 << 40).unwrap()
}

/// Damage to any verified part keeps the block from opening; damage to a chunk fails the query.
#[test]
fn corruption_is_refused() {
    let root: Arc<dyn Dir> = Arc::new(MemDir::new());
    let ulid = one_series_block(&root);
    let d = root.subdir(&ulid).unwrap();
    let index = d.read("index").unwrap();
    let chunks = d.subdir("chunks").unwrap();
    let c1 = chunks.read("000001").unwrap();
    // Truncated chunk file: the size recorded in meta.json differs.
    chunks.create("000001").unwrap().write_all(&c1[..c1.len() - 1]).unwrap();
    assert!(Block::open(&root, &ulid).is_err());
    // A flipped byte inside a chunk: opens, but the query reports corruption rather than wrong data.
    let mut bad = c1.clone();
    bad[40] ^= 0xff;
    chunks.create("000001").unwrap().write_all(&bad).unwrap();
    let b = Arc::new(Block::open(&root, &ulid).unwrap());
    let q = Block::querier(&b, 0, i64::MAX);
    assert!(q.select(&[Matcher::equal("job", "a")]).is_err());
    chunks.create("000001").unwrap().write_all(&c1).unwrap();
    // A flipped byte in the TOC or the postings offset table.
    for at in [index.len() - 3, index.len() - 60] {
        let mut bad = index.clone();
        bad[at] ^= 0x55;
        d.create("index").unwrap().write_all(&bad).unwrap();
        assert!(Block::open(&root, &ulid).is_err(), "flipped index byte {at}");
    }
    d.create("index").unwrap().write_all(&index).unwrap();
    // meta.json that does not parse.
    let meta = d.read("meta.json").unwrap();
    d.create("meta.json")
        .unwrap()
        .write_all(&meta[..meta.len() / 2])
        .unwrap();
    assert!(Block::open(&root, &ulid).is_err());
    d.create("meta.json").unwrap().write_all(&meta).unwrap();
    assert!(Block::open(&root, &ulid).is_ok());
}

/// A full disk or failed fsync during block writing is an error and leaves no block behind.
#[test]
fn faults_during_block_write() {
    for space in [0u64, 10, 200, 400] {
        let (faulty, faults) = FaultyDir::new(MemDir::new());
        let root: Arc<dyn Dir> = Arc::new(faulty);
        faults.disk_space(Some(space));
        let samples: Vec<(i64, f64)> = (0..500).map(|i| (i * 1000, i as f64)).collect();
        let series = vec![(ls(&[("__name__", "up")]), samples)];
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write_block(&root, &series, 1 << 40)));
        assert!(r.is_err(), "write with {space} bytes of space must fail");
        faults.disk_space(None);
        let left: Vec<String> = root
            .list_dirs()
            .unwrap()
            .into_iter()
            .filter(|d| !d.ends_with(".tmp-for-creation"))
            .collect();
        assert!(left.is_empty(), "no complete block after a failed write: {left:?}");
    }
    let (faulty, faults) = FaultyDir::new(MemDir::new());
    let root: Arc<dyn Dir> = Arc::new(faulty);
    faults.fail_sync(true);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| one_series_block(&root)));
    assert!(r.is_err(), "a failed fsync fails the block");
}

/// The reference Prometheus's `promtool tsdb dump` reads a block written by Diamond and finds the same
/// samples. Skipped (with a message) when the reference is not installed, failed under
/// DIAMOND_REQUIRE_EXTERNAL=1.
#[test]
fn promtool_reads_diamond_block() {
    let Some(prom) = std::env::var_os("DIAMOND_REFERENCE_PROMETHEUS") else {
        assert!(
            std::env::var_os("DIAMOND_REQUIRE_EXTERNAL").is_none(),
            "reference Prometheus required"
        );
        eprintln!("skipped: DIAMOND_REFERENCE_PROMETHEUS not set");
        return;
    };
    let promtool = std::path::Path::new(&prom).with_file_name("promtool");
    let tmp = tempfile::tempdir().unwrap();
    let root: Arc<dyn Dir> = Arc::new(DiskDir::open(tmp.path()).unwrap());
    std::fs::create_dir(tmp.path().join("wal")).unwrap();
    let mut series: SeriesSamples = Vec::new();
    for j in 0..5 {
        let job = format!("j{j}");
        let samples: Vec<(i64, f64)> = (0..300)
            .map(|i| (1_700_000_000_000 + i * 15_000, (i * j) as f64 + 0.25))
            .collect();
        series.push((ls(&[("__name__", "up"), ("job", &job), ("zone", "eu")]), samples));
    }
    let mut w_series = series.clone();
    w_series.sort_by(|a, b| a.0.cmp(&b.0));
    let ulid = {
        // Prometheus-aligned range (2 h blocks would not cover 300×15 s from an arbitrary start; use 1 day).
        let symbols: Vec<String> = w_series
            .iter()
            .flat_map(|(l, _)| {
                l.iter()
                    .flat_map(|x| [x.name.to_string(), x.value.to_string()])
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut w = BlockWriter::new(Arc::clone(&root), 1_699_920_000_000, 1_700_006_400_000, symbols).unwrap();
        for (l, s) in &w_series {
            let mut parts = Vec::new();
            for p in s.chunks(120) {
                let mut a = XorAppender::new();
                for &(t, v) in p {
                    a.append(t, v);
                }
                parts.push((p[0].0, p[p.len() - 1].0, a.bytes().to_vec()));
            }
            let cd: Vec<ChunkData<'_>> = parts
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
    };
    let out = std::process::Command::new(&promtool)
        .args(["tsdb", "dump", "--min-time=0", "--max-time=9999999999999"])
        .arg(tmp.path())
        .output()
        .expect("running promtool");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "promtool failed on block {ulid}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Lines look like `{__name__="up", job="j1", zone="eu"} 0.25 1700000000000`.
    let mut got: Vec<(String, String, i64)> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let (labels, rest) = l.split_once("} ").unwrap();
            let mut p = rest.split_whitespace();
            let v = p.next().unwrap().to_owned();
            let t: i64 = p.next().unwrap().parse().unwrap();
            let job = labels
                .split("job=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_owned();
            (job, v, t)
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String, i64)> = series
        .iter()
        .flat_map(|(l, s)| {
            let job = l.get("job").unwrap().to_owned();
            s.iter()
                .map(move |&(t, v)| (job.clone(), format!("{v}"), t))
                .collect::<Vec<_>>()
        })
        .collect();
    want.sort();
    assert_eq!(got.len(), 1500, "promtool output: {}", &stdout[..stdout.len().min(500)]);
    assert_eq!(got, want);
}

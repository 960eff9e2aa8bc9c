//! The bodies of the cargo-fuzz targets (`fuzz/fuzz_targets/{wal_reader,chunk_decode}.rs`) run under
//! proptest, so they are compiled and exercised by `cargo test` without nightly or libFuzzer.

use std::sync::Arc;

use diamond_model::storage::Queryable;
use diamond_tsdb::chunk::{XorAppender, XorIter};
use diamond_tsdb::fs::MemDir;
use diamond_tsdb::wal::{SegmentReader, WalWriter};
use diamond_tsdb::{Db, FsyncPolicy, Options, record};
use proptest::prelude::*;

fn wal_reader_body(data: &[u8]) -> usize {
    let mut r = SegmentReader::new(data, 0);
    while let Ok(Some(rec)) = r.next_record() {
        let _ = record::decode(&rec);
    }
    let dir = MemDir::new();
    dir.put("00000000", data.to_vec());
    let opts = Options {
        wal_fsync: FsyncPolicy::Always,
        stripes: 4,
        max_exemplars: 16,
        ..Options::default()
    };
    let db = Db::open_with_dir(Arc::new(dir), opts).expect("a MemDir never fails I/O");
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let series = q.select(&[]).unwrap();
    for s in &series {
        let mut it = s.data.iter(i64::MIN, i64::MAX);
        while it.next().is_some() {}
    }
    let _ = q.label_names(&[]);
    let _ = db.stats();
    let _ = db.cardinality(10);
    series.len()
}

fn chunk_decode_body(data: &[u8]) {
    let mut it = XorIter::new(data);
    let mut got = Vec::new();
    while let Ok(Some(s)) = it.next_sample() {
        got.push(s);
    }
    let mut a = XorAppender::new();
    for &(t, v) in &got {
        a.append(t, v);
    }
    let again: Vec<(i64, u64)> = XorIter::new(a.bytes())
        .map(|s| s.map(|(t, v)| (t, v.to_bits())))
        .collect::<Result<_, _>>()
        .unwrap();
    let want: Vec<(i64, u64)> = got.iter().map(|&(t, v)| (t, v.to_bits())).collect();
    assert_eq!(again, want);
}

/// A valid segment with series and samples, as a seed that the mutations below damage.
fn valid_segment() -> Vec<u8> {
    let dir = MemDir::new();
    let mut w = WalWriter::create(Arc::new(dir.clone()), 0, 1 << 20).unwrap();
    let mut series = Vec::new();
    record::encode_series(
        &[record::RefSeries {
            sref: 1,
            labels: diamond_model::Labels::from_pairs(&[("__name__", "m")]),
        }],
        &mut series,
    );
    let mut samples = Vec::new();
    record::encode_samples(
        &[
            record::RefSample { sref: 1, t: 10, v: 1.0 },
            record::RefSample { sref: 1, t: 20, v: 2.0 },
        ],
        &mut samples,
    );
    w.log(&[series, samples]).unwrap();
    diamond_tsdb::fs::Dir::read(&dir, "00000000").unwrap()
}

#[test]
fn valid_seed_replays() {
    assert_eq!(wal_reader_body(&valid_segment()), 1);
}

proptest! {
    #[test]
    fn wal_reader_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        wal_reader_body(&data);
    }

    #[test]
    fn wal_reader_mutated_valid_segment(at in 0usize..200, byte in any::<u8>(), cut in 0usize..200) {
        let mut d = valid_segment();
        let i = at % d.len();
        d[i] = byte;
        d.truncate(d.len() - cut % d.len());
        wal_reader_body(&d);
    }

    #[test]
    fn chunk_decode_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        chunk_decode_body(&data);
    }
}

/// The body of `fuzz/fuzz_targets/backfill.rs`.
fn backfill_body(data: &[u8]) {
    use diamond_tsdb::backfill::{parse_openmetrics, write_blocks};
    use diamond_tsdb::block::Block;
    use diamond_tsdb::fs::Dir;
    let Ok(series) = parse_openmetrics(data) else { return };
    let root: Arc<dyn Dir> = Arc::new(MemDir::new());
    let metas = write_blocks(&root, &series, 7_200_000).expect("a MemDir never fails");
    let mut n = 0;
    for m in &metas {
        Block::open(&root, &m.ulid).expect("a written block opens");
        n += m.stats.num_samples;
    }
    assert_eq!(n as usize, series.num_samples());
}

proptest! {
    #[test]
    fn backfill_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        backfill_body(&b);
    }

    /// Mostly valid OpenMetrics, so the block-writing half runs too.
    #[test]
    fn backfill_of_near_valid_input(lines in proptest::collection::vec(
        (0usize..3, -5i64..40, proptest::option::of(-1_000_000i64..20_000_000), -3.0f64..3.0), 0..300)
    ) {
        let mut s = String::new();
        for (series, v, t, x) in lines {
            let name = ["a", "b_total", "c{le=\"1\"}"][series];
            match t {
                Some(t) => s.push_str(&format!("{name} {} {}\n", v as f64 + x, t as f64 / 1000.0)),
                None => s.push_str(&format!("{name} {v}\n")),
            }
        }
        s.push_str("# EOF\n");
        backfill_body(s.as_bytes());
    }
}

/// The block seed opens and reads: an empty overlay on each file changes nothing. Each matcher set of the
/// body sees 100 samples minus the tombstoned ones (series 1 up to 20 s: two samples) where it matches.
#[test]
fn block_seed_opens_and_reads() {
    for file in 0u8..4 {
        let got = diamond_tsdb::fuzzing::block_files(&[(file << 2) | 1, 0, 0]);
        assert!(got.is_some_and(|n| n > 0), "file {file}: {got:?}");
    }
    // A meta.json that is not JSON, and an index cut short, are refused.
    assert_eq!(diamond_tsdb::fuzzing::block_files(&[0, b'x']), None);
    assert_eq!(diamond_tsdb::fuzzing::block_files(&[(1 << 2) | 2, 10, 0]), None);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn block_files_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = diamond_tsdb::fuzzing::block_files(&data);
    }

    #[test]
    fn block_files_overlaid_never_panic(file in 0u8..4, mode in 1u8..3, at in any::<u16>(),
                                        patch in proptest::collection::vec(any::<u8>(), 0..8)) {
        let mut data = vec![(file << 2) | mode];
        data.extend_from_slice(&at.to_le_bytes());
        data.extend_from_slice(&patch);
        let _ = diamond_tsdb::fuzzing::block_files(&data);
    }
}

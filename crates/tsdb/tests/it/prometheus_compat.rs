//! Bit compatibility of the XOR chunk with Prometheus. The fixture `tests/fixtures/prometheus_xor_chunks.bin`
//! holds every chunk of the blocks that the reference `promtool` 3.5.3 built from
//! `prometheus_xor_chunks.om` (regular, jittered, large-jump and constant series) with
//! `promtool tsdb create-blocks-from openmetrics`, each as `u32 BE length` + chunk bytes.
//! We must decode each chunk to exactly the input samples, and re-encode them to the identical bytes.

use std::collections::BTreeMap;

use diamond_tsdb::chunk::{XorAppender, XorIter};

fn fixture_chunks() -> Vec<Vec<u8>> {
    let b = include_bytes!("../fixtures/prometheus_xor_chunks.bin");
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let n = u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
        out.push(b[i + 4..i + 4 + n].to_vec());
        i += 4 + n;
    }
    out
}

/// The input samples: (timestamp ms, value bits), sorted.
fn input_samples() -> Vec<(i64, u64)> {
    let text = include_str!("../fixtures/prometheus_xor_chunks.om");
    let mut by_series: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut parts = line.split(' ');
        let (series, v, ts) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let (secs, ms) = ts.split_once('.').unwrap();
        let t = secs.parse::<i64>().unwrap() * 1000 + ms.parse::<i64>().unwrap();
        by_series
            .entry(series.to_owned())
            .or_default()
            .push((t, v.parse::<f64>().unwrap().to_bits()));
    }
    let mut all: Vec<(i64, u64)> = by_series.into_values().flatten().collect();
    all.sort_unstable();
    all
}

#[test]
fn prometheus_chunks_decode_and_reencode_bit_exactly() {
    let chunks = fixture_chunks();
    assert_eq!(chunks.len(), 15);
    let mut decoded = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        let samples: Vec<(i64, f64)> = XorIter::new(c).collect::<Result<_, _>>().unwrap();
        assert!(samples.windows(2).all(|w| w[0].0 < w[1].0), "chunk {i} ascending");
        let mut a = XorAppender::new();
        for &(t, v) in &samples {
            a.append(t, v);
        }
        assert_eq!(a.bytes(), &c[..], "chunk {i} re-encodes to Prometheus's bytes");
        decoded.extend(samples.iter().map(|&(t, v)| (t, v.to_bits())));
    }
    decoded.sort_unstable();
    assert_eq!(decoded, input_samples());
}

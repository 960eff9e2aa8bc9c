//! `decode_remote_write_v1_raw` (the receiver's cached hot path) against `decode_remote_write_v1` (the
//! prost path): the same batch or the same error, on valid, hand-built, random and mutated requests.

use diamond_wire::*;
use proptest::collection::vec;
use proptest::prelude::*;

use crate::common::{assert_same, batch_v1};

/// Both paths agree on `raw`; returns whether it decoded.
fn same_result(raw: &[u8]) -> bool {
    let want = decode_remote_write_v1(raw);
    let got = decode_remote_write_v1_raw(raw);
    match (got, want) {
        (Ok(got), Ok(want)) => {
            let batch = got.to_batch();
            assert_same(&batch, &want);
            assert_eq!(batch.rejected, want.rejected);
            // Equal keys must mean equal labels: that is what makes the receiver's cache sound.
            let series: Vec<_> = got.series().collect();
            for a in &series {
                for b in &series {
                    if let (Some(ka), Some(kb)) = (a.label_key(), b.label_key())
                        && ka == kb
                    {
                        assert_eq!(a.labels(), b.labels());
                    }
                }
            }
            true
        }
        (Err(got), Err(want)) => {
            assert_eq!(got.to_string(), want.to_string());
            assert_eq!(got.http_status(), want.http_status());
            false
        }
        (got, want) => panic!("raw path {:?}, prost path {:?}", got.map(|r| r.to_batch()), want),
    }
}

// ---- A protobuf writer for requests prost's encoder would not produce (invalid labels, odd field order).

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_len(tag: u64, payload: &[u8], out: &mut Vec<u8>) {
    varint(tag << 3 | 2, out);
    varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// One field of a hand-built `TimeSeries`.
#[derive(Debug, Clone)]
enum SeriesField {
    Label(Vec<u8>, Vec<u8>),
    /// A label message with a repeated name and an unknown field inside.
    OddLabel(Vec<u8>, Vec<u8>),
    Sample(i64, f64),
    Exemplar(Vec<u8>, Vec<u8>, f64, i64),
    Unknown(u64),
    Histogram,
}

fn label_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => Just(b"__name__".to_vec()),
        4 => Just(b"job".to_vec()),
        2 => Just(b"a".to_vec()),
        1 => Just(Vec::new()),
        1 => Just(vec![0xff, b'x']),
        1 => Just("é".as_bytes().to_vec()),
    ]
}

fn field() -> impl Strategy<Value = SeriesField> {
    prop_oneof![
        6 => (label_bytes(), label_bytes()).prop_map(|(n, v)| SeriesField::Label(n, v)),
        1 => (label_bytes(), label_bytes()).prop_map(|(n, v)| SeriesField::OddLabel(n, v)),
        4 => (any::<i64>(), any::<f64>()).prop_map(|(t, v)| SeriesField::Sample(t, v)),
        1 => (label_bytes(), label_bytes(), any::<f64>(), prop_oneof![Just(0i64), any::<i64>()])
            .prop_map(|(n, v, x, t)| SeriesField::Exemplar(n, v, x, t)),
        1 => any::<u64>().prop_map(SeriesField::Unknown),
        1 => Just(SeriesField::Histogram),
    ]
}

fn encode_label(n: &[u8], v: &[u8]) -> Vec<u8> {
    let mut l = Vec::new();
    field_len(1, n, &mut l);
    field_len(2, v, &mut l);
    l
}

fn encode_series(fields: &[SeriesField]) -> Vec<u8> {
    let mut ts = Vec::new();
    for f in fields {
        match f {
            SeriesField::Label(n, v) => field_len(1, &encode_label(n, v), &mut ts),
            SeriesField::OddLabel(n, v) => {
                let mut l = Vec::new();
                field_len(1, b"first", &mut l);
                varint(7 << 3, &mut l);
                varint(42, &mut l);
                l.extend(encode_label(n, v));
                field_len(1, &l, &mut ts);
            }
            SeriesField::Sample(t, v) => {
                let mut s = Vec::new();
                varint(1 << 3 | 1, &mut s);
                s.extend_from_slice(&v.to_le_bytes());
                varint(2 << 3, &mut s);
                varint(*t as u64, &mut s);
                field_len(2, &s, &mut ts);
            }
            SeriesField::Exemplar(n, v, x, t) => {
                let mut e = Vec::new();
                field_len(1, &encode_label(n, v), &mut e);
                varint(2 << 3 | 1, &mut e);
                e.extend_from_slice(&x.to_le_bytes());
                varint(3 << 3, &mut e);
                varint(*t as u64, &mut e);
                field_len(3, &e, &mut ts);
            }
            SeriesField::Unknown(v) => {
                varint(9 << 3, &mut ts);
                varint(*v, &mut ts);
            }
            SeriesField::Histogram => {
                // sum = 1.5, schema = 0 (zigzag), an empty positive span.
                let mut h = Vec::new();
                varint(3 << 3 | 1, &mut h);
                h.extend_from_slice(&1.5f64.to_le_bytes());
                varint(4 << 3, &mut h);
                varint(0, &mut h);
                field_len(11, &[], &mut h);
                field_len(4, &h, &mut ts);
            }
        }
    }
    ts
}

fn hand_built() -> impl Strategy<Value = Vec<u8>> {
    (
        vec(vec(field(), 0..8), 0..6),
        vec((0u64..9, label_bytes(), label_bytes()), 0..2),
    )
        .prop_map(|(series, metadata)| {
            let mut req = Vec::new();
            for s in &series {
                field_len(1, &encode_series(s), &mut req);
            }
            for (t, name, help) in &metadata {
                let mut m = Vec::new();
                varint(1 << 3, &mut m);
                varint(*t, &mut m);
                field_len(2, name, &mut m);
                field_len(4, help, &mut m);
                field_len(3, &m, &mut req);
            }
            req
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn valid_requests(batch in batch_v1()) {
        let raw = encode_remote_write_v1(&batch);
        prop_assert!(same_result(&raw));
    }

    #[test]
    fn hand_built_requests(raw in hand_built()) {
        same_result(&raw);
    }

    #[test]
    fn random_bytes(raw in vec(any::<u8>(), 0..256)) {
        same_result(&raw);
    }

    /// Flipped, inserted and removed bytes reach every branch of both parsers.
    #[test]
    fn mutated_requests(
        raw in prop_oneof![batch_v1().prop_map(|b| encode_remote_write_v1(&b)), hand_built()],
        edits in vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let mut raw = raw;
        for (pos, byte, kind) in edits {
            if raw.is_empty() {
                raw.push(byte);
                continue;
            }
            let i = pos.index(raw.len());
            match kind {
                0 => raw[i] = byte,
                1 => raw.insert(i, byte),
                _ => {
                    raw.remove(i);
                }
            }
        }
        same_result(&raw);
    }
}

#[test]
fn captured_prometheus_requests_agree() {
    for file in ["prometheus-3.5.3-v1.snappy", "prometheus-3.5.3-v1-metadata.snappy"] {
        let path = format!("{}/testdata/{file}", env!("CARGO_MANIFEST_DIR"));
        let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let raw = decompress_snappy(&body, &Limits::default()).unwrap();
        assert!(same_result(&raw));
        let req = decode_remote_write_v1_raw(&raw).unwrap();
        assert!(
            req.series().all(|s| s.label_key().is_some()),
            "{file} took the fallback"
        );
    }
}

#[test]
fn interleaved_label_fields_make_one_key() {
    // Labels split by a sample: the key is the label fields only, so it equals the adjacent layout's.
    let adjacent = encode_series(&[
        SeriesField::Label(b"__name__".to_vec(), b"up".to_vec()),
        SeriesField::Label(b"job".to_vec(), b"a".to_vec()),
        SeriesField::Sample(1, 1.0),
    ]);
    let split = encode_series(&[
        SeriesField::Label(b"__name__".to_vec(), b"up".to_vec()),
        SeriesField::Sample(1, 1.0),
        SeriesField::Label(b"job".to_vec(), b"a".to_vec()),
    ]);
    let mut req = Vec::new();
    field_len(1, &adjacent, &mut req);
    field_len(1, &split, &mut req);
    assert!(same_result(&req));
    let r = decode_remote_write_v1_raw(&req).unwrap();
    let keys: Vec<_> = r.series().map(|s| s.label_key().unwrap().to_vec()).collect();
    assert_eq!(keys[0], keys[1]);
}

#[test]
fn histograms_take_the_prost_path() {
    let ts = encode_series(&[
        SeriesField::Label(b"__name__".to_vec(), b"h".to_vec()),
        SeriesField::Histogram,
    ]);
    let bad = encode_series(&[
        SeriesField::Label(b"job".to_vec(), b"a".to_vec()),
        SeriesField::Sample(1, 2.0),
    ]);
    let mut req = Vec::new();
    field_len(1, &bad, &mut req);
    field_len(1, &ts, &mut req);
    assert!(same_result(&req));
    let r = decode_remote_write_v1_raw(&req).unwrap();
    let s: Vec<_> = r.series().collect();
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].index(), s[1].index()), (0, 1));
    assert!(s[0].labels().is_err() && s[1].labels().is_ok());
    assert_eq!(s[1].histograms_dropped(), 1);
    assert!(s[1].label_key().is_none());
}

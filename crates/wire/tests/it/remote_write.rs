//! Remote write 1.0 and 2.0: round trips, hand-built wire bytes and bad input.

use diamond_model::{Labels, Metadata, MetricType, STALE_NAN_BITS, Sample};
use diamond_wire::*;
use proptest::prelude::*;

use crate::common::{assert_same, batch_v1, batch_v2};

proptest! {
    #[test]
    fn v1_round_trip(batch in batch_v1()) {
        let raw = encode_remote_write_v1(&batch);
        assert_same(&decode_remote_write_v1(&raw).unwrap(), &batch);
        // And through snappy, as a receiver sees it.
        let body = compress_snappy(&raw);
        assert_same(&decode_remote_write(&body, RemoteWriteVersion::V1, &Limits::default()).unwrap(), &batch);
    }

    #[test]
    fn v2_round_trip(batch in batch_v2()) {
        let raw = encode_remote_write_v2(&batch);
        assert_same(&decode_remote_write_v2(&raw).unwrap(), &batch);
        let body = compress_snappy(&raw);
        assert_same(&decode_remote_write(&body, RemoteWriteVersion::V2, &Limits::default()).unwrap(), &batch);
    }

    /// The wire order of label pairs does not matter: the receiver sorts.
    #[test]
    fn v1_unsorted_labels_are_sorted(batch in batch_v1()) {
        let mut req = <proto::v1::WriteRequest as prost::Message>::decode(encode_remote_write_v1(&batch).as_slice()).unwrap();
        for ts in &mut req.timeseries {
            ts.labels.reverse();
        }
        let raw = prost::Message::encode_to_vec(&req);
        assert_same(&decode_remote_write_v1(&raw).unwrap(), &batch);
    }
}

// ---- A minimal protobuf writer, so the field numbers are checked against the spec, not against our structs.

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

fn field_varint(tag: u64, v: u64, out: &mut Vec<u8>) {
    varint(tag << 3, out);
    varint(v, out);
}

fn field_double(tag: u64, v: f64, out: &mut Vec<u8>) {
    varint(tag << 3 | 1, out);
    out.extend_from_slice(&v.to_le_bytes());
}

fn pb_label(name: &str, value: &str) -> Vec<u8> {
    let mut l = Vec::new();
    field_len(1, name.as_bytes(), &mut l);
    field_len(2, value.as_bytes(), &mut l);
    l
}

fn packed(vals: &[u64]) -> Vec<u8> {
    let mut p = Vec::new();
    for v in vals {
        varint(*v, &mut p);
    }
    p
}

/// `prometheus.WriteRequest` with one series (labels out of order), one sample, two exemplars, one native
/// histogram and one metadata entry, built field by field from `prompb/types.proto`.
fn hand_built_v1() -> Vec<u8> {
    let mut ts = Vec::new();
    field_len(1, &pb_label("job", "api"), &mut ts);
    field_len(1, &pb_label("__name__", "http_requests_total"), &mut ts);
    let mut sample = Vec::new();
    field_double(1, 42.5, &mut sample);
    field_varint(2, 1_700_000_000_000, &mut sample);
    field_len(2, &sample, &mut ts);
    let mut ex = Vec::new();
    field_len(1, &pb_label("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"), &mut ex);
    field_double(2, 0.25, &mut ex);
    field_varint(3, 1_700_000_000_123, &mut ex);
    field_len(3, &ex, &mut ts);
    let mut ex0 = Vec::new(); // no timestamp field at all: timestamp 0
    field_len(1, &pb_label("trace_id", "00f067aa0ba902b7"), &mut ex0);
    field_double(2, 1.0, &mut ex0);
    field_len(3, &ex0, &mut ts);
    let mut hist = Vec::new();
    field_varint(1, 3, &mut hist); // count_int
    field_double(3, 6.0, &mut hist); // sum
    field_len(4, &hist, &mut ts);
    let mut req = Vec::new();
    field_len(1, &ts, &mut req);
    let mut md = Vec::new();
    field_varint(1, 1, &mut md); // COUNTER
    field_len(2, b"http_requests", &mut md);
    field_len(4, b"Requests served.", &mut md);
    field_len(5, b"requests", &mut md);
    field_len(3, &md, &mut req);
    req
}

#[test]
fn v1_hand_built_bytes() {
    let batch = decode_remote_write_v1(&hand_built_v1()).unwrap();
    assert_eq!(batch.series.len(), 1);
    let s = &batch.series[0];
    assert_eq!(s.labels.to_string(), r#"{__name__="http_requests_total", job="api"}"#);
    assert_eq!(
        s.samples,
        vec![Sample {
            t: 1_700_000_000_000,
            v: 42.5
        }]
    );
    assert_eq!(s.exemplars.len(), 2);
    assert_eq!(
        s.exemplars[0].labels.get("trace_id"),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(
        (s.exemplars[0].value, s.exemplars[0].ts, s.exemplars[0].has_ts),
        (0.25, 1_700_000_000_123, true)
    );
    // Prometheus's receiver: timestamp 0 → Ts 0, HasTs false (prompb `ToExemplar`).
    assert_eq!((s.exemplars[1].ts, s.exemplars[1].has_ts), (0, false));
    assert_eq!(s.histograms_dropped, 1);
    assert_eq!(s.metadata, None);
    assert_eq!(
        batch.metadata,
        vec![(
            "http_requests".to_string(),
            Metadata {
                metric_type: MetricType::Counter,
                help: "Requests served.".into(),
                unit: "requests".into()
            }
        )]
    );
}

/// `io.prometheus.write.v2.Request` built field by field from `write/v2/types.proto`.
fn hand_built_v2(symbols: &[&str], label_refs: &[u64], exemplar_refs: &[u64], help_ref: u64) -> Vec<u8> {
    let mut req = Vec::new();
    for s in symbols {
        field_len(4, s.as_bytes(), &mut req);
    }
    let mut ts = Vec::new();
    field_len(1, &packed(label_refs), &mut ts);
    let mut sample = Vec::new();
    field_double(1, f64::from_bits(STALE_NAN_BITS), &mut sample);
    field_varint(2, 5_000, &mut sample);
    field_len(2, &sample, &mut ts);
    let mut hist = Vec::new();
    field_double(2, 3.0, &mut hist); // count_float
    field_len(3, &hist, &mut ts);
    field_len(3, &hist, &mut ts);
    let mut ex = Vec::new();
    field_len(1, &packed(exemplar_refs), &mut ex);
    field_double(2, 7.0, &mut ex);
    field_varint(3, 4_999, &mut ex);
    field_len(4, &ex, &mut ts);
    let mut md = Vec::new();
    field_varint(1, 2, &mut md); // GAUGE
    field_varint(3, help_ref, &mut md);
    field_varint(4, 0, &mut md);
    field_len(5, &md, &mut ts);
    field_varint(6, 1_000, &mut ts); // created_timestamp
    field_len(5, &ts, &mut req);
    req
}

const V2_SYMBOLS: &[&str] = &[
    "",
    "__name__",
    "temp",
    "room",
    "kitchen",
    "trace_id",
    "abc",
    "Temperature.",
];

#[test]
fn v2_hand_built_bytes() {
    let raw = hand_built_v2(V2_SYMBOLS, &[3, 4, 1, 2], &[5, 6], 7);
    let batch = decode_remote_write_v2(&raw).unwrap();
    assert!(batch.metadata.is_empty());
    let s = &batch.series[0];
    assert_eq!(s.labels.to_string(), r#"{__name__="temp", room="kitchen"}"#);
    assert_eq!(s.samples.len(), 1);
    assert_eq!((s.samples[0].t, s.samples[0].v.to_bits()), (5_000, STALE_NAN_BITS));
    assert_eq!(s.histograms_dropped, 2);
    assert_eq!(s.exemplars[0].labels, Labels::from_pairs(&[("trace_id", "abc")]));
    assert_eq!(
        (s.exemplars[0].value, s.exemplars[0].ts, s.exemplars[0].has_ts),
        (7.0, 4_999, true)
    );
    assert_eq!(
        s.metadata,
        Some(Metadata {
            metric_type: MetricType::Gauge,
            help: "Temperature.".into(),
            unit: String::new()
        })
    );
}

/// A 1.0 body read as 2.0 is an empty request (2.0 reserves 1.0's field numbers), and a 2.0 body read as
/// 1.0 is one too: the spec designed them so a wrong Content-Type gives a deterministic empty result.
#[test]
fn versions_do_not_cross_decode() {
    assert_eq!(decode_remote_write_v2(&hand_built_v1()).unwrap(), WriteBatch::default());
    let v2 = hand_built_v2(V2_SYMBOLS, &[1, 2], &[], 0);
    assert_eq!(decode_remote_write_v1(&v2).unwrap(), WriteBatch::default());
}

#[test]
fn empty_bodies_are_empty_batches() {
    assert_eq!(decode_remote_write_v1(&[]).unwrap(), WriteBatch::default());
    assert_eq!(decode_remote_write_v2(&[]).unwrap(), WriteBatch::default());
    let body = compress_snappy(&[]);
    assert_eq!(
        decode_remote_write(&body, RemoteWriteVersion::V2, &Limits::default()).unwrap(),
        WriteBatch::default()
    );
}

#[derive(Debug, Clone, Copy)]
enum Want {
    BodyTooLarge,
    DecompressedTooLarge,
    Snappy,
    Protobuf,
}

fn matches_want(e: &Error, want: Want) -> bool {
    matches!(
        (e, want),
        (Error::BodyTooLarge { .. }, Want::BodyTooLarge)
            | (Error::DecompressedTooLarge { .. }, Want::DecompressedTooLarge)
            | (Error::Snappy(_), Want::Snappy)
            | (Error::Protobuf(_), Want::Protobuf)
    )
}

fn v1_series(labels: &[(&str, &str)]) -> Vec<u8> {
    let mut ts = Vec::new();
    for (n, v) in labels {
        field_len(1, &pb_label(n, v), &mut ts);
    }
    let mut req = Vec::new();
    field_len(1, &ts, &mut req);
    req
}

#[test]
fn bad_input_table() {
    let good_v1 = hand_built_v1();
    let good_v1_body = compress_snappy(&good_v1);
    let small = Limits {
        max_body_bytes: 64,
        max_decompressed_bytes: 1024,
    };
    // A 4 GiB claim (varint 1<<32) followed by a few bytes: refused from the header alone.
    let mut bomb = Vec::new();
    varint(1 << 32, &mut bomb);
    bomb.extend_from_slice(&[0; 16]);
    // Claims 100 bytes, under the limit, but the data stops after a literal tag.
    let mut short = Vec::new();
    varint(100, &mut short);
    short.extend_from_slice(&[0x0c, b'a']);
    // Exactly at the limit's boundary: claims limit+1.
    let mut over_by_one = Vec::new();
    varint(1025, &mut over_by_one);
    over_by_one.extend_from_slice(&[0; 8]);

    let snappy_cases: Vec<(&str, Vec<u8>, Limits, Want)> = vec![
        (
            "bomb header claiming 4 GiB",
            bomb,
            Limits::default(),
            Want::DecompressedTooLarge,
        ),
        (
            "header claims limit + 1",
            over_by_one,
            small,
            Want::DecompressedTooLarge,
        ),
        ("body over the body limit", vec![0; 65], small, Want::BodyTooLarge),
        ("empty body (no header)", vec![], Limits::default(), Want::Snappy),
        (
            "unterminated header varint",
            vec![0x80, 0x80],
            Limits::default(),
            Want::Snappy,
        ),
        (
            "plain protobuf, not snappy",
            good_v1.clone(),
            Limits::default(),
            Want::Snappy,
        ),
        ("truncated snappy data", short, Limits::default(), Want::Snappy),
        (
            "snappy truncated by one byte",
            good_v1_body[..good_v1_body.len() - 1].to_vec(),
            Limits::default(),
            Want::Snappy,
        ),
        (
            "framed-format stream identifier",
            b"\xff\x06\x00\x00sNaPpY".to_vec(),
            Limits::default(),
            Want::Snappy,
        ),
    ];
    for (name, body, limits, want) in snappy_cases {
        let got = decompress_snappy(&body, &limits);
        match got {
            Err(e) => assert!(matches_want(&e, want), "{name}: got {e:?}, want {want:?}"),
            Ok(v) => panic!("{name}: decoded {} bytes, want {want:?}", v.len()),
        }
    }

    type Decoder = fn(&[u8]) -> Result<WriteBatch, Error>;
    let v1d: Decoder = decode_remote_write_v1;
    let v2d: Decoder = decode_remote_write_v2;
    let good_v2 = hand_built_v2(V2_SYMBOLS, &[1, 2], &[], 0);
    let protobuf_cases: Vec<(&str, Decoder, Vec<u8>)> = vec![
        ("v1 truncated by one byte", v1d, good_v1[..good_v1.len() - 1].to_vec()),
        ("v1 truncated inside a label", v1d, good_v1[..12].to_vec()),
        ("v1 length past the end", v1d, vec![0x0a, 0x7f, 0x00]),
        ("v1 wrong wire type for timeseries", v1d, vec![0x08, 0x01]),
        ("v1 unterminated varint", v1d, vec![0x0a, 0xff, 0xff]),
        ("v1 field number 0", v1d, vec![0x02, 0x00]),
        ("v2 truncated", v2d, good_v2[..good_v2.len() - 2].to_vec()),
        ("v2 symbols with wrong wire type", v2d, vec![0x20, 0x01]),
        ("v2 packed refs cut mid-varint", v2d, vec![0x2a, 0x03, 0x0a, 0x01, 0x80]),
    ];
    for (name, decode, raw) in protobuf_cases {
        match decode(&raw) {
            Err(e) => {
                assert!(matches_want(&e, Want::Protobuf), "{name}: got {e:?}, want Protobuf");
                assert_eq!(e.http_status(), 400, "{name}");
            }
            Ok(b) => panic!("{name}: decoded {b:?}, want a protobuf error"),
        }
    }
}

fn v1_request(series: &[&[(&str, &str)]]) -> Vec<u8> {
    let req = proto::v1::WriteRequest {
        timeseries: series
            .iter()
            .map(|labels| proto::v1::TimeSeries {
                labels: labels
                    .iter()
                    .map(|(n, v)| proto::v1::Label {
                        name: (*n).into(),
                        value: (*v).into(),
                    })
                    .collect(),
                samples: vec![
                    proto::v1::Sample {
                        value: 1.0,
                        timestamp: 1
                    };
                    2
                ],
                exemplars: vec![proto::v1::Exemplar {
                    labels: vec![],
                    value: 1.0,
                    timestamp: 1,
                }],
                histograms: vec![proto::v1::Histogram::default()],
            })
            .collect(),
        metadata: vec![],
    };
    prost::Message::encode_to_vec(&req)
}

/// Invalid series are left out and reported, the rest is kept: what Prometheus 3.5.3 does (1.0 answers 204,
/// 2.0 writes the rest and answers 400). Each case: a valid series `ok`, then the invalid one.
#[test]
fn invalid_series_are_rejected_alone() {
    type V1Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let v1_cases: &[V1Case] = &[
        (
            "duplicate label names",
            &[("__name__", "bad"), ("a", "1"), ("a", "2")],
            r#"invalid labels for series, labels {__name__="bad", a="1", a="2"}, duplicated label a"#,
        ),
        (
            "duplicate label names, same value, unsorted",
            &[("a", "1"), ("__name__", "bad"), ("a", "1")],
            r#"invalid labels for series, labels {__name__="bad", a="1", a="1"}, duplicated label a"#,
        ),
        (
            "empty label name",
            &[("__name__", "bad"), ("", "x")],
            r#"invalid metric name or labels, got {="x", __name__="bad"}"#,
        ),
        (
            "no metric name",
            &[("job", "x")],
            r#"invalid metric name or labels, got {job="x"}"#,
        ),
        (
            "empty metric name",
            &[("__name__", ""), ("job", "x")],
            r#"invalid metric name or labels, got {__name__="", job="x"}"#,
        ),
        ("no labels at all", &[], "invalid metric name or labels, got {}"),
    ];
    for (name, bad, reason) in v1_cases {
        let batch = decode_remote_write_v1(&v1_request(&[&[("__name__", "ok")], bad])).unwrap();
        assert_eq!(batch.series.len(), 1, "{name}");
        assert_eq!(batch.series[0].labels.metric_name(), Some("ok"), "{name}");
        assert_eq!(
            batch.rejected,
            vec![Rejection {
                series_index: 1,
                reason: (*reason).into(),
                samples: 2,
                histograms: 1,
                exemplars: 1
            }],
            "{name}"
        );
        assert_eq!(batch.rejected_samples(), 3, "{name}");
        assert_eq!(batch.rejection_message().as_deref(), Some(*reason), "{name}");
        assert!(
            matches!(batch.check_strict(), Err(Error::InvalidLabels(r)) if r == *reason),
            "{name}"
        );
    }

    // 2.0: symbols 0 "", 1 __name__, 2 ok, 3 a, 4 1, 5 trace_id, 6 help
    let symbols: Vec<String> = ["", "__name__", "ok", "a", "1", "trace_id", "help"]
        .map(String::from)
        .to_vec();
    let series = |refs: &[u32], ex_refs: &[u32], help_ref: u32| proto::v2::TimeSeries {
        labels_refs: refs.to_vec(),
        samples: vec![proto::v2::Sample {
            value: 1.0,
            timestamp: 1,
        }],
        exemplars: vec![proto::v2::Exemplar {
            labels_refs: ex_refs.to_vec(),
            value: 2.0,
            timestamp: 2,
        }],
        metadata: Some(proto::v2::Metadata {
            r#type: 1,
            help_ref,
            unit_ref: 0,
        }),
        ..Default::default()
    };
    let ok = series(&[1, 2], &[5, 4], 6);
    type V2Case<'a> = (&'a str, proto::v2::TimeSeries, &'a str, usize);
    let v2_cases: Vec<V2Case> = vec![
        (
            "duplicate label names",
            series(&[1, 2, 3, 4, 3, 4], &[], 0),
            r#"invalid labels for series, labels {__name__="ok", a="1", a="1"}, duplicated label a"#,
            1,
        ),
        (
            "no metric name",
            series(&[3, 4], &[], 0),
            r#"invalid metric name or labels, got {a="1"}"#,
            1,
        ),
        (
            "empty label name",
            series(&[1, 2, 0, 4], &[], 0),
            r#"invalid metric name or labels, got {="1", __name__="ok"}"#,
            1,
        ),
        (
            "label ref out of range",
            series(&[1, 7], &[], 0),
            "parsing labels for series [1, 7]: reference 7 outside of symbols table (size 7)",
            1,
        ),
        (
            "label ref u32::MAX",
            series(&[u32::MAX, 2], &[], 0),
            "parsing labels for series [4294967295, 2]: reference 4294967295 outside of symbols table (size 7)",
            1,
        ),
        (
            "odd number of label refs",
            series(&[1, 2, 3], &[], 0),
            "parsing labels for series [1, 2, 3]: invalid labelRefs length 3",
            1,
        ),
        (
            "help ref out of range",
            series(&[1, 2], &[], 99),
            "parsing metadata for series [1, 2]: reference 99 outside of symbols table (size 7)",
            1,
        ),
        (
            "exemplar ref out of range: only the exemplar goes",
            series(&[1, 2], &[5, 70], 0),
            r#"parsing exemplar for series {__name__="ok"}: reference 70 outside of symbols table (size 7)"#,
            2,
        ),
        (
            "odd number of exemplar refs: only the exemplar goes",
            series(&[1, 2], &[5], 0),
            r#"parsing exemplar for series {__name__="ok"}: invalid labelRefs length 1"#,
            2,
        ),
    ];
    for (name, bad, reason, kept) in v2_cases {
        let exemplar_only = kept == 2;
        let req = proto::v2::Request {
            symbols: symbols.clone(),
            timeseries: vec![ok.clone(), bad],
        };
        let batch = decode_remote_write_v2(&prost::Message::encode_to_vec(&req)).unwrap();
        assert_eq!(batch.series.len(), kept, "{name}");
        assert_eq!(
            batch.series[0].exemplars[0].labels,
            Labels::from_pairs(&[("trace_id", "1")]),
            "{name}"
        );
        assert_eq!(
            batch.series[0].metadata.as_ref().map(|m| m.help.as_str()),
            Some("help"),
            "{name}"
        );
        let want = if exemplar_only {
            assert!(batch.series[1].exemplars.is_empty(), "{name}");
            assert_eq!(batch.series[1].samples.len(), 1, "{name}");
            Rejection {
                series_index: 1,
                reason: reason.into(),
                samples: 0,
                histograms: 0,
                exemplars: 1,
            }
        } else {
            Rejection {
                series_index: 1,
                reason: reason.into(),
                samples: 1,
                histograms: 0,
                exemplars: 1,
            }
        };
        assert_eq!(batch.rejected, vec![want], "{name}");
    }
}

/// The spec's "first symbol MUST be empty" is not enforced, as Prometheus 3.5.3 does not (observed 204).
#[test]
fn v2_first_symbol_need_not_be_empty() {
    let batch = decode_remote_write_v2(&hand_built_v2(&["x", "__name__", "up"], &[1, 2], &[], 0)).unwrap();
    assert_eq!(batch.series[0].labels.to_string(), r#"{__name__="up"}"#);
    // Help ref 0 is then "x", exactly as Prometheus would read it.
    assert_eq!(batch.series[0].metadata.as_ref().map(|m| m.help.as_str()), Some("x"));
    assert!(batch.rejected.is_empty());
}

/// A 2.0 request whose refs point into an empty table rejects the series (not the request).
#[test]
fn v2_refs_into_an_empty_table() {
    let batch = decode_remote_write_v2(&hand_built_v2(&[], &[0, 0], &[], 0)).unwrap();
    assert!(batch.series.is_empty());
    assert_eq!(batch.rejected.len(), 1);
}

/// Every prefix of a valid body decodes or fails cleanly; a prefix that cuts a field fails.
#[test]
fn every_truncation_is_handled() {
    for raw in [hand_built_v1(), hand_built_v2(V2_SYMBOLS, &[1, 2], &[5, 6], 7)] {
        for n in 0..raw.len() {
            let _ = decode_remote_write_v1(&raw[..n]);
            let _ = decode_remote_write_v2(&raw[..n]);
        }
    }
    // The body is one length-delimited field (the series), so every proper non-empty prefix cuts it.
    let one_series = v1_series(&[("__name__", "up")]);
    for n in 1..one_series.len() {
        assert!(
            matches!(decode_remote_write_v1(&one_series[..n]), Err(Error::Protobuf(_))),
            "prefix {n}"
        );
    }
}

#[test]
fn error_messages_name_the_problem() {
    let b = decode_remote_write_v1(&v1_series(&[("__name__", "up"), ("a", "1"), ("a", "2")])).unwrap();
    let e = b.check_strict().unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"invalid labels: invalid labels for series, labels {__name__="up", a="1", a="2"}, duplicated label a"#
    );
    assert_eq!(e.http_status(), 400);
    let mut bomb = Vec::new();
    varint(1 << 32, &mut bomb);
    let e = decompress_snappy(&bomb, &Limits::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "decompressed size of 4294967296 bytes exceeds the limit of 268435456 bytes"
    );
    assert_eq!(e.http_status(), 413);
}

#[test]
fn negative_zero_on_the_wire() {
    let mut ts = Vec::new();
    field_len(1, &pb_label("__name__", "up"), &mut ts);
    let mut sample = Vec::new();
    field_double(1, -0.0, &mut sample);
    field_len(2, &sample, &mut ts);
    let mut req = Vec::new();
    field_len(1, &ts, &mut req);
    let batch = decode_remote_write_v1(&req).unwrap();
    assert_eq!(batch.series[0].samples[0].v.to_bits(), (-0.0f64).to_bits());
}

/// Invalid UTF-8 in a label rejects that series only, as Prometheus 3.5.3 does (observed: the other series
/// of the request are written, answer 204). Prost would refuse the whole request, hence the byte decoding.
#[test]
fn invalid_utf8_rejects_only_its_series() {
    let series = |labels: &[(&[u8], &[u8])]| {
        let mut ts = Vec::new();
        for (n, v) in labels {
            let mut l = Vec::new();
            field_len(1, n, &mut l);
            field_len(2, v, &mut l);
            field_len(1, &l, &mut ts);
        }
        let mut sample = Vec::new();
        field_double(1, 1.0, &mut sample);
        field_len(2, &sample, &mut ts);
        ts
    };
    let mut req = Vec::new();
    field_len(1, &series(&[(b"__name__", b"bad"), (b"v", b"\xff\xfe")]), &mut req);
    field_len(1, &series(&[(b"__name__", b"bad2"), (b"n\xc3", b"x")]), &mut req);
    field_len(1, &series(&[(b"__name__", b"good")]), &mut req);
    // Metadata help with a bad byte is kept, with a replacement character.
    let mut md = Vec::new();
    field_len(2, b"good", &mut md);
    field_len(4, b"h\xffelp", &mut md);
    field_len(3, &md, &mut req);
    let b = decode_remote_write_v1(&req).unwrap();
    assert_eq!(b.series.len(), 1);
    assert_eq!(b.series[0].labels.to_string(), r#"{__name__="good"}"#);
    let reasons: Vec<&str> = b.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(
        reasons,
        vec![
            "invalid metric name or labels, got {__name__=\"bad\", v=\"\u{fffd}\u{fffd}\"}",
            "invalid metric name or labels, got {__name__=\"bad2\", n\u{fffd}=\"x\"}",
        ]
    );
    assert_eq!(b.metadata[0].1.help, "h\u{fffd}elp");

    // 2.0: a bad symbol rejects the series that uses it as a label; as help text it is replaced.
    let mut req = Vec::new();
    for sym in [&b""[..], b"__name__", b"ok", b"\xff", b"bad"] {
        field_len(4, sym, &mut req);
    }
    let ts = |refs: &[u64], help: u64| {
        let mut ts = Vec::new();
        field_len(1, &packed(refs), &mut ts);
        let mut md = Vec::new();
        field_varint(3, help, &mut md);
        field_len(5, &md, &mut ts);
        ts
    };
    field_len(5, &ts(&[1, 4, 4, 3], 0), &mut req);
    field_len(5, &ts(&[1, 2], 3), &mut req);
    let b = decode_remote_write_v2(&req).unwrap();
    assert_eq!(b.series.len(), 1);
    assert_eq!(b.series[0].metadata.as_ref().map(|m| m.help.as_str()), Some("\u{fffd}"));
    assert_eq!(b.rejected.len(), 1);
    assert_eq!(
        b.rejected[0].reason,
        "invalid metric name or labels, got {__name__=\"bad\", bad=\"\u{fffd}\"}"
    );
}

/// Rejection reasons quote the label set; a huge one is cut at 1 KiB so a hostile request cannot make the
/// 400 body (or the log line) megabytes long.
#[test]
fn rejection_reasons_are_bounded() {
    let labels: Vec<(String, String)> = (0..5000).map(|i| (format!("l{i:05}"), "v".repeat(10))).collect();
    let pairs: Vec<(&str, &str)> = labels.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let b = decode_remote_write_v1(&v1_request(&[&pairs])).unwrap();
    let reason = &b.rejected[0].reason;
    assert!(
        reason.starts_with("invalid metric name or labels, got {l00000=\"vvvvvvvvvv\""),
        "{reason}"
    );
    assert!(reason.ends_with('…'));
    assert_eq!(reason.len(), 1024 + '…'.len_utf8());
}

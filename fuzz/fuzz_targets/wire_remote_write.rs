//! Fuzzes the remote write receiver path of diamond-wire: snappy under limits, then the 1.0 and 2.0
//! decoders. Nothing may panic, and a decoded batch must survive encode → decode unchanged (the encoders
//! are the decoders' inverses; -0.0 is compared as +0.0 because proto3 elides it). The raw 1.0 decoder
//! (the receiver's cached path) must give exactly what the prost one gives: the same batch or the same error.
#![no_main]

use diamond_wire::{
    Limits, WriteBatch, decode_remote_write_v1, decode_remote_write_v1_raw, decode_remote_write_v2, decompress_snappy,
    encode_remote_write_v1, encode_remote_write_v2,
};
use libfuzzer_sys::fuzz_target;

/// Small limits so the fuzzer explores the limit checks rather than allocating.
const LIMITS: Limits = Limits { max_body_bytes: 1 << 20, max_decompressed_bytes: 4 << 20 };

fuzz_target!(|data: &[u8]| {
    // The first byte picks the entry point, so the fuzzer can reach protobuf decoding without first having to
    // produce valid snappy.
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            if let Ok(raw) = decompress_snappy(rest, &LIMITS) {
                assert!(raw.len() <= LIMITS.max_decompressed_bytes);
                check_v1(&raw);
                check_v2(&raw);
            }
        }
        1 => check_v1(rest),
        _ => check_v2(rest),
    }
});

fn check_v1(raw: &[u8]) {
    match (decode_remote_write_v1(raw), decode_remote_write_v1_raw(raw)) {
        (Ok(want), Ok(got)) => {
            let got = got.to_batch();
            assert_eq!(exact(&got), exact(&want), "raw 1.0 decoder");
            assert_eq!(got.rejected, want.rejected, "raw 1.0 decoder rejections");
        }
        (Err(want), Err(got)) => assert_eq!(got.to_string(), want.to_string(), "raw 1.0 decoder error"),
        (want, got) => panic!("raw 1.0 decoder: {:?} vs {want:?}", got.map(|r| r.to_batch())),
    }
    if let Ok(batch) = decode_remote_write_v1(raw) {
        let again = decode_remote_write_v1(&encode_remote_write_v1(&batch)).expect("re-encoded 1.0 batch decodes");
        assert_eq!(fingerprint(&again), fingerprint(&batch), "1.0 round trip");
    }
}

fn check_v2(raw: &[u8]) {
    if let Ok(batch) = decode_remote_write_v2(raw) {
        let again = decode_remote_write_v2(&encode_remote_write_v2(&batch)).expect("re-encoded 2.0 batch decodes");
        assert_eq!(fingerprint(&again), fingerprint(&batch), "2.0 round trip");
    }
}

/// The kept part of a batch with floats as bits (NaN payloads matter, -0.0 normalised); rejections are not
/// re-encoded, so they are left out.
fn fingerprint(b: &WriteBatch) -> String {
    let bits = |v: f64| if v == 0.0 { 0 } else { v.to_bits() };
    let mut s = String::new();
    for ts in &b.series {
        s.push_str(&format!("{}|{:?}|", ts.labels, ts.metadata));
        for x in &ts.samples {
            s.push_str(&format!("{}:{:x},", x.t, bits(x.v)));
        }
        for e in &ts.exemplars {
            s.push_str(&format!("{}:{:x}:{}:{}:{},", e.labels, bits(e.value), e.ts, e.has_ts, ts.labels));
        }
        s.push('\n');
    }
    s.push_str(&format!("{:?}", b.metadata));
    s
}

/// The whole batch with floats as exact bits.
fn exact(b: &WriteBatch) -> String {
    let mut s = String::new();
    for ts in &b.series {
        s.push_str(&format!("{}|{}|", ts.labels, ts.histograms_dropped));
        for x in &ts.samples {
            s.push_str(&format!("{}:{:x},", x.t, x.v.to_bits()));
        }
        for e in &ts.exemplars {
            s.push_str(&format!("{}:{:x}:{}:{},", e.labels, e.value.to_bits(), e.ts, e.has_ts));
        }
        s.push('\n');
    }
    s.push_str(&format!("{:?}", b.metadata));
    s
}

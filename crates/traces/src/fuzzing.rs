//! The bodies of the trace store's fuzz targets (`fuzz/fuzz_targets/traces_*.rs`), shared with the
//! proptests below that run them on stable: every parser of untrusted bytes here must never panic.
//!
//! - [`otlp_request`]: an OTLP/HTTP body as JSON and as protobuf, gzip-wrapped or not; whatever
//!   decodes is stored, read back by trace ID and rendered in Jaeger's and Tempo's shapes, and OTLP/JSON
//!   output decodes to the same spans.
//! - [`query`]: Jaeger and Tempo search parameters (logfmt tags, TraceQL, durations).
//! - [`segment`]: an arbitrary file as a trace segment: opening repairs or sets it aside, never panics.

use std::sync::OnceLock;

use crate::{Options, Store, Trace, jaeger, otlp_json, tempo};

fn scratch_store() -> &'static (tempfile::TempDir, Store) {
    static S: OnceLock<(tempfile::TempDir, Store)> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temp dir for the fuzz store");
        let store = Store::open(dir.path(), Options::default()).expect("opening an empty store");
        (dir, store)
    })
}

/// See the module docs.
pub fn otlp_request(data: &[u8]) {
    let _ = crate::http::decode_body("gzip", data, 1 << 20);
    for json in [true, false] {
        let Ok(req) = crate::http::decode_request(json, data) else {
            continue;
        };
        // OTLP/JSON out, then in again, gives the same message (NaN compares unequal: skip those).
        let enc = serde_json::json!({
            "resourceSpans": req.resource_spans.iter().map(otlp_json::encode_resource_spans).collect::<Vec<_>>()
        });
        let again = otlp_json::decode_request(enc.to_string().as_bytes());
        if !format!("{req:?}").contains("NaN") {
            assert_eq!(again.as_ref().ok(), Some(&req), "OTLP/JSON round trip of {enc}");
        }
        let (_, store) = scratch_store();
        if store.ingest(&req, crate::now_ns()).is_ok() {
            for rs in &req.resource_spans {
                for s in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                    if let Ok(id) = <[u8; 16]>::try_from(&s.trace_id[..]) {
                        let id = diamond_model::traceid::TraceId(id);
                        if let Ok(Some(t)) = store.trace(&id) {
                            render(&t);
                        }
                    }
                }
            }
        }
    }
}

fn render(t: &Trace) {
    let _ = jaeger::trace_json(t).to_string();
    let _ = tempo::trace_v2_json(t).to_string();
    let _ = tempo::trace_v1_proto(t);
}

/// See the module docs.
pub fn query(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let _ = crate::http::logfmt(&s);
    let mut q = crate::search::SearchQuery::default();
    let _ = crate::traceql::apply(&s, &mut q);
    let _ = crate::search::parse_duration(&s);
    let _ = diamond_model::traceid::TraceId::parse(&s);
}

/// See the module docs.
pub fn segment(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else { return };
    if std::fs::write(dir.path().join("00000001.spans"), data).is_err() {
        return;
    }
    // A second segment makes the first a non-last one, which open repairs and seals.
    let _ = std::fs::write(dir.path().join("00000002.spans"), b"DTRS\x01\x00\x00\x00");
    let store = Store::open(dir.path(), Options::default()).expect("open never fails on damaged data");
    let _ = store.stats();
    let _ = store.search(&crate::search::SearchQuery::default());
    let _ = store.services();
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    /// Found by `otlp_json_shaped_input_never_panics`: without serde_json's `float_roundtrip` a double
    /// attribute decoded one ulp off what was encoded.
    #[test]
    fn double_attribute_round_trips_exactly() {
        let body = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10",
            "spanId":"0102030405060708","attributes":[{"key":"d","value":{"doubleValue":-2.2611859503321934e-153}}]}]}]}]}"#;
        super::otlp_request(body.as_bytes());
        let req = crate::otlp_json::decode_request(body.as_bytes()).expect("decodes");
        let v = &req.resource_spans[0].scope_spans[0].spans[0].attributes[0].value;
        assert_eq!(
            v.as_ref().and_then(|v| v.value.clone()),
            Some(diamond_wire::proto::otlp::any_value::Value::DoubleValue(
                -2.2611859503321934e-153
            ))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn otlp_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            super::otlp_request(&data);
        }

        #[test]
        fn otlp_json_shaped_input_never_panics(
            tid in "[0-9a-f]{0,34}",
            name in "\\PC{0,12}",
            start in any::<u64>(),
            dur in any::<u32>(),
            dbl in any::<f64>(),
            int in any::<i64>(),
            kind in 0i32..8,
        ) {
            let body = serde_json::json!({"resourceSpans": [{
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": name}}]},
                "scopeSpans": [{"scope": {"name": name}, "spans": [{
                    "traceId": tid, "spanId": "0102030405060708", "name": name, "kind": kind,
                    "startTimeUnixNano": start.to_string(),
                    "endTimeUnixNano": start.saturating_add(u64::from(dur)).to_string(),
                    "attributes": [
                        {"key": "d", "value": {"doubleValue": dbl}},
                        {"key": "i", "value": {"intValue": int.to_string()}},
                        {"key": "a", "value": {"arrayValue": {"values": [{"boolValue": true}]}}}
                    ],
                    "status": {"code": kind % 3}
                }]}]
            }]});
            super::otlp_request(body.to_string().as_bytes());
        }

        #[test]
        fn queries_never_panic(s in "\\PC{0,64}") {
            super::query(s.as_bytes());
        }

        #[test]
        fn segment_files_never_panic(mut data in proptest::collection::vec(any::<u8>(), 0..600), header in any::<bool>()) {
            if header && data.len() >= 8 {
                data[..8].copy_from_slice(b"DTRS\x01\x00\x00\x00");
            }
            super::segment(&data);
        }
    }
}

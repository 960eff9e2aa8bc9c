//! Fuzzes the OTLP entry points of diamond-wire: metrics and traces decoding, and the translation of
//! decoded metrics into a write batch. Nothing may panic, and every translated series must have valid
//! labels (a metric name, no empty names or values).
#![no_main]

use diamond_wire::{decode_otlp_metrics, decode_otlp_traces, otlp_metrics_to_batch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_otlp_traces(data);
    if let Ok(req) = decode_otlp_metrics(data) {
        let batch = otlp_metrics_to_batch(&req);
        for s in &batch.series {
            assert!(s.labels.metric_name().is_some_and(|n| !n.is_empty()), "series without a name");
            assert!(s.labels.iter().all(|l| !l.name.is_empty() && !l.value.is_empty()), "invalid label");
        }
    }
});

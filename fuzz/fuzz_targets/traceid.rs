//! Arbitrary label values as trace and span IDs (`diamond_model::traceid`): never a panic, and whatever
//! parses is non-zero and re-parses from its normal form to itself. The same body runs on stable as the
//! proptests in `crates/model/src/traceid/tests.rs`.
#![no_main]

use diamond_model::Labels;
use diamond_model::traceid::{SpanId, TRACE_ID_LABEL_NAMES, TraceId, TraceIdStats, find_trace};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if let Ok(id) = TraceId::parse(&s) {
        assert!(!id.is_zero());
        assert_eq!(TraceId::parse(&id.to_hex()), Ok(id));
    }
    if let Ok(id) = SpanId::parse(&s) {
        assert_ne!(id.0, [0; 8]);
        assert_eq!(SpanId::parse(&id.to_hex()), Ok(id));
    }
    let l = Labels::from_pairs(&[("trace_id", &*s), ("traceID", &*s), ("span_id", &*s)]);
    let _ = find_trace(&l, &TRACE_ID_LABEL_NAMES);
    TraceIdStats::default().observe(&l);
});

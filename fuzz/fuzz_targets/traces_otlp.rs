//! The embedded trace store's untrusted input: see `diamond_traces::fuzzing::otlp_request` (the same body runs on
//! stable as the proptests in `crates/traces/src/fuzzing.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    diamond_traces::fuzzing::otlp_request(data);
});

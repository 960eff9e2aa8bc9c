//! Arbitrary bytes as an exemplar head snapshot (`docs/format/exemplars.md`): decoding never panics, and
//! whatever decodes re-encodes and decodes to the same series. The same body runs on stable as the proptests
//! in `crates/exemplars/tests/snapshot_props.rs`.
#![no_main]

use diamond_exemplars::snapshot::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(series) = decode(data) {
        assert_eq!(decode(&encode(&series)).ok(), Some(series));
    }
});

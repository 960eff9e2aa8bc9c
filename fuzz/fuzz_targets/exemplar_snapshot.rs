//! Arbitrary bytes as an exemplar head snapshot and as a sealed segment (`docs/format/exemplars.md`):
//! decoding never panics, and whatever decodes re-encodes and decodes to the same content. The same body runs on stable as the proptests
//! in `crates/exemplars/tests/snapshot_props.rs`.
#![no_main]

use diamond_exemplars::snapshot::{
    decode_segment, decode_segment_header, decode_with_seq, encode_segment, encode_with_seq,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((seq, series)) = decode_with_seq(data) {
        assert_eq!(decode_with_seq(&encode_with_seq(seq, &series)).ok(), Some((seq, series)));
    }
    let _ = decode_segment_header(data);
    if let Ok((h, series)) = decode_segment(data) {
        assert_eq!(decode_segment_header(data).ok(), Some(h));
        assert_eq!(decode_segment(&encode_segment(h.seq, h.sealed_before, &series)).ok(), Some((h, series)));
    }
});

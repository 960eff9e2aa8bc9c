//! Arbitrary bytes never panic any decoder; they decode or return an error.

use diamond_wire::*;
use proptest::prelude::*;

fn all_decoders(bytes: &[u8]) {
    let limits = Limits {
        max_body_bytes: 1 << 20,
        max_decompressed_bytes: 1 << 20,
    };
    let _ = decompress_snappy(bytes, &limits);
    let _ = decode_remote_write_v1(bytes);
    let _ = decode_remote_write_v2(bytes);
    let _ = decode_otlp_metrics(bytes);
    let _ = decode_otlp_traces(bytes);
    if let Ok(req) = decode_otlp_metrics(bytes) {
        let _ = otlp_metrics_to_batch(&req);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        all_decoders(&bytes);
    }

    /// Valid messages with one byte flipped reach deeper into the decoders than random bytes do.
    #[test]
    fn mutated_valid_messages(batch in crate::common::batch_v2(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        for mut raw in [encode_remote_write_v1(&batch), encode_remote_write_v2(&batch)] {
            if !raw.is_empty() {
                let i = pos.index(raw.len());
                raw[i] = byte;
            }
            all_decoders(&raw);
            all_decoders(&compress_snappy(&raw));
        }
    }
}

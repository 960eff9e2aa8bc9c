//! Samples, timestamps and the staleness marker.

/// Milliseconds since the Unix epoch, as everywhere in Prometheus.
pub type Timestamp = i64;

/// The bit pattern Prometheus writes as a staleness marker: a NaN that no computation produces.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker value.
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// Whether `v` is the staleness marker (bit-exact: an ordinary NaN is a value, not a marker).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One float sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Timestamp in ms.
    pub t: Timestamp,
    /// Value.
    pub v: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_is_a_specific_nan() {
        assert!(STALE_NAN.is_nan());
        assert!(is_stale_nan(STALE_NAN));
        assert!(!is_stale_nan(f64::NAN));
    }
}

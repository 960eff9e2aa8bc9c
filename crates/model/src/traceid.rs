//! Trace and span identifiers, the link between an exemplar and the trace that produced it.
//!
//! [`TraceId`] is the W3C / OTLP form: 16 raw bytes, written as 32 lowercase hex digits. Exemplar labels
//! keep exactly what was ingested (the Prometheus API returns them unchanged); this module is where an
//! ingested label value is recognised and normalised for linking, and [`TraceLookup`] is how the link
//! checker asks a trace store whether it holds a trace.
//!
//! ```
//! use diamond_model::traceid::TraceId;
//! let id = TraceId([0xab; 16]);
//! assert_eq!(id.to_hex(), "abababababababababababababababab");
//! ```

use std::fmt;

/// A 128-bit trace ID (W3C trace context, OTLP `trace_id`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub [u8; 16]);

/// A 64-bit span ID (W3C trace context, OTLP `span_id`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub [u8; 8]);

fn write_hex(f: &mut impl fmt::Write, bytes: &[u8]) -> fmt::Result {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        f.write_char(HEX[usize::from(b >> 4)] as char)?;
        f.write_char(HEX[usize::from(b & 0xf)] as char)?;
    }
    Ok(())
}

impl TraceId {
    /// 32 lowercase hex digits, the form Tempo and Jaeger look traces up by.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    /// Whether every byte is zero (an invalid ID in W3C trace context).
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl SpanId {
    /// 16 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// A store that can answer "do you hold this trace?" without returning it: the embedded trace store, or
/// a cached client of an external Tempo or Jaeger. Implementations must be cheap to call many times per
/// query (the link checker calls it once per exemplar shown).
pub trait TraceLookup: Send + Sync {
    /// Whether the trace is held.
    fn contains(&self, id: &TraceId) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_forms() {
        let mut b = [0u8; 16];
        b[15] = 0x0f;
        b[0] = 0xa0;
        assert_eq!(TraceId(b).to_hex(), "a000000000000000000000000000000f");
        assert_eq!(SpanId([1, 2, 3, 4, 5, 6, 7, 0xff]).to_hex(), "01020304050607ff");
        assert!(TraceId::default().is_zero());
        assert!(!TraceId(b).is_zero());
    }
}

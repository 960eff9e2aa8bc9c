//! Trace and span identifiers, the link between an exemplar and the trace that produced it.
//!
//! [`TraceId`] is the W3C / OTLP form: 16 raw bytes, written as 32 lowercase hex digits. Exemplar labels
//! keep exactly what was ingested (the Prometheus API returns them unchanged); this module is where an
//! ingested label value is recognised and normalised for linking ([`find_trace`], [`TraceId::parse`]),
//! where unparsable IDs are counted at ingest ([`TraceIdStats`]), and [`TraceLookup`] is how the link
//! checker asks a trace store whether it holds a trace.
//!
//! ```
//! use diamond_model::Labels;
//! use diamond_model::traceid::{TraceId, find_trace, TRACE_ID_LABEL_NAMES};
//! // Tempo's metrics-generator writes `traceID`; a 64-bit Jaeger ID is left-padded with zeros.
//! let id: TraceId = "0x00F067AA0BA902B7".parse().unwrap();
//! assert_eq!(id.to_hex(), "000000000000000000f067aa0ba902b7");
//! let l = Labels::from_pairs(&[("traceID", "4BF92F3577B34DA6A3CE929D0E0E4736")]);
//! let t = find_trace(&l, &TRACE_ID_LABEL_NAMES).unwrap();
//! assert_eq!(t.label, "traceID");
//! assert_eq!(t.trace_id.unwrap().to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! ```
//!
//! # Label names and precedence
//! [`TRACE_ID_LABEL_NAMES`] in order: `trace_id` (what Prometheus's OTLP translator and the client
//! libraries write), `traceID` (Tempo's metrics-generator, Grafana's docs), `traceId` (OTel Java/JS
//! attribute style), `traceid`, `TraceID`, `TraceId`, `trace.id` (Elastic ECS; a UTF-8 label name in
//! Prometheus 3). Span labels likewise ([`SPAN_ID_LABEL_NAMES`]). When several are present, the first in
//! that order whose value parses wins; when none parses, the first present is reported as unparsable. So a
//! good ID under a later name is never hidden by garbage under an earlier one.
//!
//! # Formats, and how ambiguity is decided
//! Surrounding ASCII whitespace is trimmed. Then, for a trace ID:
//! 1. `0x`/`0X` followed by 1–32 hex digits: hex (followed by anything else: rule 6, base64 may start so).
//! 2. A W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`): its trace ID (and span ID).
//! 3. A dashed UUID (`8-4-4-4-12` hex): its 16 bytes.
//! 4. Only hex digits, 1–32 of them, any case: hex, left-padded with zeros (64-bit IDs and IDs whose leading
//!    zeros were dropped, as Tempo and Jaeger pad them). **Hex wins over decimal and over unpadded
//!    base64**: W3C, OTLP's JSON, B3 and Jaeger's HTTP API all write hex, so a string of hex digits is read
//!    as hex. The one exception is the next rule.
//! 5. Only decimal digits, 17–20 or 33–39 of them: decimal (a Jaeger/B3-style 64-bit ID printed as an
//!    integer, or a 128-bit one). A 17–20 digit string read as hex would be a 128-bit ID with at least 12
//!    leading zero digits dropped (odds 16⁻¹², against about 95% of random 64-bit IDs printing as 19 or 20
//!    decimal digits); a 33–39 digit string cannot be hex at all. Up to 16 digits, and 21–32, hex wins.
//! 6. Base64 (standard or URL-safe alphabet, padded or not) of 16 bytes, or of 8 bytes (a 64-bit ID,
//!    left-padded): the protobuf-JSON mapping of OTLP's `bytes` fields.
//!
//! Span IDs take rules 1, 4 (up to 16 digits), 5 (17–20 digits) and 6 (8 bytes). The all-zero ID is
//! invalid in every form (W3C). Nothing longer than [`MAX_ID_INPUT_LEN`] bytes, nothing with a non-ASCII or
//! control character, and nothing else is accepted; [`IdError`] says why.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Labels;

/// A 128-bit trace ID (W3C trace context, OTLP `trace_id`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub [u8; 16]);

/// A 64-bit span ID (W3C trace context, OTLP `span_id`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub [u8; 8]);

/// Label names recognised as holding a trace ID, in precedence order (see the module docs).
pub const TRACE_ID_LABEL_NAMES: [&str; 7] = [
    "trace_id", "traceID", "traceId", "traceid", "TraceID", "TraceId", "trace.id",
];

/// Label names recognised as holding a span ID, in precedence order.
pub const SPAN_ID_LABEL_NAMES: [&str; 7] = ["span_id", "spanID", "spanId", "spanid", "SpanID", "SpanId", "span.id"];

/// Longest input (after trimming) considered; the longest format, a `traceparent`, is 55 bytes.
pub const MAX_ID_INPUT_LEN: usize = 64;

/// Why a label value is no trace or span ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Nothing but whitespace.
    #[error("empty value")]
    Empty,
    /// Longer than any known format.
    #[error("value is {len} bytes long; no ID format is longer than {MAX_ID_INPUT_LEN}")]
    TooLong {
        /// Length in bytes after trimming.
        len: usize,
    },
    /// A byte outside ASCII.
    #[error("non-ASCII character at byte {at}")]
    NonAscii {
        /// Byte offset in the trimmed value.
        at: usize,
    },
    /// An ASCII control character.
    #[error("control character 0x{byte:02x} at byte {at}")]
    Control {
        /// Byte offset in the trimmed value.
        at: usize,
        /// The byte.
        byte: u8,
    },
    /// Every byte zero: invalid in W3C trace context.
    #[error("all-zero ID (invalid in W3C trace context)")]
    Zero,
    /// A decimal number too large for the ID.
    #[error("decimal value does not fit in {bits} bits")]
    DecimalOverflow {
        /// 64 or 128.
        bits: u32,
    },
    /// Hex digits, but more than the ID holds.
    #[error("{digits} hex digits; a {bits}-bit ID has at most {}", bits / 4)]
    TooManyHexDigits {
        /// Digits given.
        digits: usize,
        /// 64 or 128.
        bits: u32,
    },
    /// None of the known formats.
    #[error("not a {bits}-bit ID in any known format (hex, 0x-hex, UUID, traceparent, base64, decimal)")]
    Unrecognised {
        /// 64 or 128.
        bits: u32,
    },
}

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

    /// Parses any format in the module docs and normalises it.
    pub fn parse(s: &str) -> Result<TraceId, IdError> {
        parse_trace(s).map(|(t, _)| t)
    }

    /// Whether the high 64 bits are zero (a 64-bit Jaeger/B3 ID, padded).
    pub fn is_64bit(&self) -> bool {
        self.0[..8] == [0; 8]
    }
}

impl SpanId {
    /// 16 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    /// Parses any span-ID format in the module docs.
    pub fn parse(s: &str) -> Result<SpanId, IdError> {
        let s = precheck(s)?;
        let b = parse_bytes::<8>(s, 64)?;
        let id = SpanId(b);
        if id.0 == [0; 8] { Err(IdError::Zero) } else { Ok(id) }
    }
}

impl FromStr for TraceId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        TraceId::parse(s)
    }
}

impl FromStr for SpanId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        SpanId::parse(s)
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

/// Trims, then refuses empty, overlong, non-ASCII and control characters.
fn precheck(s: &str) -> Result<&str, IdError> {
    let s = s.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\n' || c == '\r');
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_INPUT_LEN {
        return Err(IdError::TooLong { len: s.len() });
    }
    for (at, &byte) in s.as_bytes().iter().enumerate() {
        if !byte.is_ascii() {
            return Err(IdError::NonAscii { at });
        }
        if byte.is_ascii_control() {
            return Err(IdError::Control { at, byte });
        }
    }
    Ok(s)
}

/// Parses a trace ID, and the span ID when the value is a `traceparent`.
fn parse_trace(s: &str) -> Result<(TraceId, Option<SpanId>), IdError> {
    let s = precheck(s)?;
    let b = s.as_bytes();
    let (id, span) = if b.len() == 55 && b[2] == b'-' && b[35] == b'-' && b[52] == b'-' {
        // W3C traceparent: version-traceid-parentid-flags, every part hex.
        let parts = [&s[0..2], &s[3..35], &s[36..52], &s[53..55]];
        if !parts.iter().all(|p| p.bytes().all(|c| c.is_ascii_hexdigit())) {
            return Err(IdError::Unrecognised { bits: 128 });
        }
        let id = TraceId(hex_padded::<16>(parts[1]));
        let span = SpanId(hex_padded::<8>(parts[2]));
        (id, (span.0 != [0; 8]).then_some(span))
    } else if b.len() == 36 && b[8] == b'-' && b[13] == b'-' && b[18] == b'-' && b[23] == b'-' {
        let hex: String = s.split('-').collect();
        if hex.len() != 32 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(IdError::Unrecognised { bits: 128 });
        }
        (TraceId(hex_padded::<16>(&hex)), None)
    } else {
        (TraceId(parse_bytes::<16>(s, 128)?), None)
    };
    if id.is_zero() {
        Err(IdError::Zero)
    } else {
        Ok((id, span))
    }
}

/// Rules 1, 4, 5 and 6 of the module docs for an `N`-byte ID (`bits` = 8·N).
fn parse_bytes<const N: usize>(s: &str, bits: u32) -> Result<[u8; N], IdError> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if h.is_empty() || !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            // Base64 may begin with "0x"/"0X" (bytes d1 7x.. encode as "0X.."), so this is not yet a refusal.
            return base64_bytes::<N>(s).ok_or(IdError::Unrecognised { bits });
        }
        if h.len() > 2 * N {
            return Err(IdError::TooManyHexDigits { digits: h.len(), bits });
        }
        return Ok(hex_padded::<N>(h));
    }
    let all_dec = s.bytes().all(|c| c.is_ascii_digit());
    if all_dec {
        let decimal = match N {
            16 => (17..=20).contains(&s.len()) || (33..=39).contains(&s.len()),
            _ => (17..=20).contains(&s.len()),
        };
        if decimal {
            return decimal_bytes::<N>(s, bits);
        }
    }
    if s.bytes().all(|c| c.is_ascii_hexdigit()) {
        if s.len() <= 2 * N {
            return Ok(hex_padded::<N>(s));
        }
        if all_dec {
            return Err(IdError::DecimalOverflow { bits });
        }
        // Base64 of 8 or 16 bytes is at most 24 characters, so a longer run of hex digits is nothing else.
        return Err(IdError::TooManyHexDigits { digits: s.len(), bits });
    }
    base64_bytes::<N>(s).ok_or(IdError::Unrecognised { bits })
}

/// Hex digits (already checked, at most 2·N) left-padded with zeros into N bytes.
fn hex_padded<const N: usize>(h: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let digits = h.as_bytes();
    let skip = 2 * N - digits.len();
    for (i, &c) in digits.iter().enumerate() {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => c - b'A' + 10,
        };
        let pos = skip + i;
        out[pos / 2] |= if pos.is_multiple_of(2) { v << 4 } else { v };
    }
    out
}

fn decimal_bytes<const N: usize>(s: &str, bits: u32) -> Result<[u8; N], IdError> {
    let mut v: u128 = 0;
    for c in s.bytes() {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(c - b'0')))
            .ok_or(IdError::DecimalOverflow { bits })?;
    }
    if bits < 128 && v >> bits != 0 {
        return Err(IdError::DecimalOverflow { bits });
    }
    let be = v.to_be_bytes();
    let mut out = [0u8; N];
    out.copy_from_slice(&be[16 - N..]);
    Ok(out)
}

/// Base64 of exactly N bytes, or (for a 16-byte trace ID) of 8 bytes, left-padded.
fn base64_bytes<const N: usize>(s: &str) -> Option<[u8; N]> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    // Only the lengths that 8 or 16 bytes encode to; anything else is not worth decoding.
    if !matches!(s.len(), 11 | 12 | 22 | 24) {
        return None;
    }
    let padded = s.ends_with('=');
    let url = s.bytes().any(|c| c == b'-' || c == b'_');
    let engine = match (url, padded) {
        (false, true) => &STANDARD,
        (false, false) => &STANDARD_NO_PAD,
        (true, true) => &URL_SAFE,
        (true, false) => &URL_SAFE_NO_PAD,
    };
    let mut buf = [0u8; 18];
    let n = engine.decode_slice(s, &mut buf).ok()?;
    let mut out = [0u8; N];
    if n == N {
        out.copy_from_slice(&buf[..N]);
    } else if n == 8 && N == 16 {
        out[8..].copy_from_slice(&buf[..8]);
    } else {
        return None;
    }
    Some(out)
}

/// Where an exemplar's trace ID was found and what it parsed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLabel<'a> {
    /// The label name the ID was found under.
    pub label: &'a str,
    /// Its value exactly as ingested.
    pub raw: &'a str,
    /// The normalised ID, or why the value is none.
    pub trace_id: Result<TraceId, IdError>,
    /// The span ID, from a span label (first of [`SPAN_ID_LABEL_NAMES`] that parses) or a `traceparent`.
    pub span_id: Option<SpanId>,
}

/// Finds the trace label of an exemplar among `names` (in precedence order; see the module docs): the first
/// name present whose value parses, else the first name present, unparsable. `None` when no name is present.
pub fn find_trace<'a, S: AsRef<str>>(labels: &'a Labels, names: &[S]) -> Option<TraceLabel<'a>> {
    let mut first_bad: Option<TraceLabel<'a>> = None;
    for name in names {
        let Some(raw) = labels.get(name.as_ref()) else {
            continue;
        };
        let label = labels
            .iter()
            .find(|l| l.name == name.as_ref())
            .map_or("", |l| l.name.as_str());
        match parse_trace(raw) {
            Ok((id, tp_span)) => {
                return Some(TraceLabel {
                    label,
                    raw,
                    trace_id: Ok(id),
                    span_id: find_span(labels).or(tp_span),
                });
            }
            Err(e) => {
                if first_bad.is_none() {
                    first_bad = Some(TraceLabel {
                        label,
                        raw,
                        trace_id: Err(e),
                        span_id: find_span(labels),
                    });
                }
            }
        }
    }
    first_bad
}

/// The first span label of [`SPAN_ID_LABEL_NAMES`] whose value parses.
pub fn find_span(labels: &Labels) -> Option<SpanId> {
    SPAN_ID_LABEL_NAMES
        .iter()
        .filter_map(|n| labels.get(n))
        .find_map(|v| SpanId::parse(v).ok())
}

/// Counts of ingested exemplars whose trace label is there but unparsable, by label name. Kept by the
/// TSDB for every exemplar it stores and shown in `/metrics`; cheap on the hot path because the common
/// case (32 lowercase hex under `trace_id`) is recognised with one scan and no allocation.
#[derive(Debug, Default)]
pub struct TraceIdStats {
    unparsable: [AtomicU64; TRACE_ID_LABEL_NAMES.len()],
}

impl TraceIdStats {
    /// Looks at one stored exemplar's labels.
    pub fn observe(&self, labels: &Labels) {
        // Exemplar label sets are tiny, and a canonical ID needs no full parse: the common case is a few
        // string compares and one 32-byte scan, with no allocation.
        let Some(first) = TRACE_ID_LABEL_NAMES.iter().position(|n| labels.get(n).is_some()) else {
            return;
        };
        let ok = |v: &str| is_canonical_hex(v) || parse_trace(v).is_ok();
        // The precedence rule: a later name that parses makes the exemplar linkable.
        let linkable = TRACE_ID_LABEL_NAMES[first..]
            .iter()
            .filter_map(|n| labels.get(n))
            .any(ok);
        if !linkable {
            self.unparsable[first].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `(label name, count)` for every recognised name, in [`TRACE_ID_LABEL_NAMES`] order.
    pub fn unparsable(&self) -> Vec<(&'static str, u64)> {
        TRACE_ID_LABEL_NAMES
            .iter()
            .zip(&self.unparsable)
            .map(|(n, c)| (*n, c.load(Ordering::Relaxed)))
            .collect()
    }
}

fn is_canonical_hex(v: &str) -> bool {
    v.len() == 32 && v.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) && v.bytes().any(|c| c != b'0')
}

/// A store that can answer "do you hold this trace?" without returning it: the embedded trace store, or
/// a cached client of an external Tempo or Jaeger. Implementations must be cheap to call many times per
/// query (the link checker calls it once per exemplar shown).
pub trait TraceLookup: Send + Sync {
    /// Whether the trace is held.
    fn contains(&self, id: &TraceId) -> bool;
}

#[cfg(test)]
mod tests;

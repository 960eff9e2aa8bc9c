//! One exemplar in 40 bytes: timestamp and flags in one word, the value, and 24 bytes of labels.
//!
//! Labels are stored inline in one of three forms: the common `{trace_id, span_id}` pair of W3C-sized
//! lowercase hex IDs as 16 + 8 raw bytes (under any of the three usual name spellings), any other label set
//! whose [`crate::circular::pack`] encoding fits in 23 bytes (its length in the 24th), or an index into an overflow table of boxed
//! encodings for the rare longer sets.

use diamond_model::{Exemplar, Labels, Timestamp};

use crate::circular::{pack, unpack};

/// Label name pairs stored as a kind code (1..=3).
const STYLES: [(&str, &str); 3] = [("trace_id", "span_id"), ("traceID", "spanID"), ("traceId", "spanId")];

const KIND_INLINE: i64 = 0;
const KIND_OVERFLOW: i64 = 7;
const FLAG_BITS: i64 = 4;
/// Longest inline encoding: the last of the 24 bytes holds its length (a terminator byte would not do:
/// `pack` writes raw bytes of hex values, which may be any byte).
const INLINE_MAX: usize = 23;

/// A stored exemplar. `tsm` is `ts << 4 | kind << 1 | has_ts`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Packed {
    tsm: i64,
    pub(crate) value: f64,
    lab: [u8; 24],
}

/// Encodings that did not fit inline, addressed by index, with a free list.
#[derive(Default)]
pub(crate) struct Overflow {
    slots: Vec<Option<Box<[u8]>>>,
    free: Vec<u32>,
    /// Heap bytes held by the boxed encodings.
    pub(crate) bytes: usize,
}

impl Overflow {
    fn put(&mut self, b: Box<[u8]>) -> u32 {
        self.bytes += b.len();
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(b);
                i
            }
            None => {
                self.slots.push(Some(b));
                (self.slots.len() - 1) as u32
            }
        }
    }

    fn get(&self, i: u32) -> &[u8] {
        self.slots.get(i as usize).and_then(|s| s.as_deref()).unwrap_or(&[])
    }

    fn release(&mut self, i: u32) {
        if let Some(slot) = self.slots.get_mut(i as usize)
            && let Some(b) = slot.take()
        {
            self.bytes -= b.len();
            self.free.push(i);
        }
    }

    /// Heap bytes of the table itself plus the encodings.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Option<Box<[u8]>>>() + self.free.capacity() * 4 + self.bytes
    }
}

fn hex_into(v: &str, out: &mut [u8]) -> bool {
    let b = v.as_bytes();
    if b.len() != out.len() * 2 {
        return false;
    }
    for (i, pair) in b.chunks(2).enumerate() {
        let (Some(h), Some(l)) = (lower_hex(pair[0]), lower_hex(pair[1])) else {
            return false;
        };
        out[i] = (h << 4) | l;
    }
    true
}

fn lower_hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn push_hex(s: &mut String, b: &[u8]) {
    const D: &[u8; 16] = b"0123456789abcdef";
    for x in b {
        s.push(D[(x >> 4) as usize] as char);
        s.push(D[(x & 15) as usize] as char);
    }
}

impl Packed {
    pub(crate) fn new(e: &Exemplar, overflow: &mut Overflow) -> Packed {
        let mut lab = [0u8; 24];
        let mut kind = KIND_INLINE;
        let mut done = false;
        if e.labels.len() == 2 {
            for (k, (tn, sn)) in STYLES.iter().enumerate() {
                if let (Some(t), Some(s)) = (e.labels.get(tn), e.labels.get(sn)) {
                    let (tb, sb) = lab.split_at_mut(16);
                    if hex_into(t, tb) && hex_into(s, sb) {
                        kind = k as i64 + 1;
                        done = true;
                    }
                    break;
                }
            }
        }
        if !done {
            let enc = pack(&e.labels);
            if enc.len() <= INLINE_MAX {
                lab[..enc.len()].copy_from_slice(&enc);
                lab[INLINE_MAX] = enc.len() as u8;
            } else {
                kind = KIND_OVERFLOW;
                lab = [0u8; 24];
                lab[..4].copy_from_slice(&overflow.put(enc).to_le_bytes());
            }
        }
        Packed {
            tsm: (e.ts << FLAG_BITS) | (kind << 1) | i64::from(e.has_ts),
            value: e.value,
            lab,
        }
    }

    #[inline]
    pub(crate) fn ts(&self) -> Timestamp {
        self.tsm >> FLAG_BITS
    }

    #[inline]
    fn kind(&self) -> i64 {
        (self.tsm >> 1) & 7
    }

    pub(crate) fn has_ts(&self) -> bool {
        self.tsm & 1 == 1
    }

    pub(crate) fn labels(&self, overflow: &Overflow) -> Labels {
        match self.kind() {
            KIND_INLINE => {
                let n = usize::from(self.lab[INLINE_MAX]).min(INLINE_MAX);
                unpack(&self.lab[..n])
            }
            KIND_OVERFLOW => unpack(overflow.get(self.overflow_index())),
            k => {
                let (tn, sn) = STYLES[(k - 1) as usize];
                let mut t = String::with_capacity(32);
                push_hex(&mut t, &self.lab[..16]);
                let mut s = String::with_capacity(16);
                push_hex(&mut s, &self.lab[16..]);
                Labels::from_pairs(&[(tn, t), (sn, s)])
            }
        }
    }

    fn overflow_index(&self) -> u32 {
        u32::from_le_bytes([self.lab[0], self.lab[1], self.lab[2], self.lab[3]])
    }

    /// Frees the overflow slot, if any. Call exactly once when the exemplar leaves the store.
    pub(crate) fn release(&self, overflow: &mut Overflow) {
        if self.kind() == KIND_OVERFLOW {
            overflow.release(self.overflow_index());
        }
    }

    pub(crate) fn to_exemplar(self, overflow: &Overflow) -> Exemplar {
        Exemplar {
            labels: self.labels(overflow),
            value: self.value,
            ts: self.ts(),
            has_ts: self.has_ts(),
        }
    }

    /// Same labels, value (bitwise or `==`) and timestamp as `e`.
    pub(crate) fn identical(&self, e: &Exemplar, overflow: &Overflow) -> bool {
        self.ts() == e.ts
            && (self.value.to_bits() == e.value.to_bits() || self.value == e.value)
            && self.labels(overflow) == e.labels
    }

    /// Prometheus's `Exemplar.Equals` against `e`.
    pub(crate) fn same_as(&self, e: &Exemplar, overflow: &Overflow) -> bool {
        let value_eq = self.value.to_bits() == e.value.to_bits() || self.value == e.value;
        value_eq && ((!self.has_ts() && !e.has_ts) || self.ts() == e.ts) && self.labels(overflow) == e.labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forty_bytes() {
        assert_eq!(std::mem::size_of::<Packed>(), 40);
    }

    #[test]
    fn roundtrip_forms() {
        let mut o = Overflow::default();
        for (labels, kind) in [
            (
                Labels::from_pairs(&[
                    ("trace_id", "0af7651916cd43dd8448eb211c80319c"),
                    ("span_id", "b7ad6b7169203331"),
                ]),
                1,
            ),
            (
                Labels::from_pairs(&[
                    ("traceID", "0af7651916cd43dd8448eb211c80319c"),
                    ("spanID", "b7ad6b7169203331"),
                ]),
                2,
            ),
            (
                Labels::from_pairs(&[("trace_id", "0af7651916cd43dd8448eb211c80319c")]),
                0,
            ),
            (
                Labels::from_pairs(&[("trace_id", "0AF7651916CD43DD8448EB211C80319C"), ("span_id", "x")]),
                7,
            ),
            (Labels::empty(), 0),
            // Raw hex bytes 0xff inside an inline encoding (once mistaken for a terminator).
            (Labels::from_pairs(&[("trace_id", "ffff00ff")]), 0),
            (Labels::from_pairs(&[("a", "ff"), ("b", "x")]), 0),
        ] {
            let e = Exemplar {
                labels: labels.clone(),
                value: -1.5,
                ts: -1234567,
                has_ts: false,
            };
            let p = Packed::new(&e, &mut o);
            assert_eq!(p.kind(), kind, "{labels}");
            assert_eq!(p.to_exemplar(&o), e);
            p.release(&mut o);
        }
        assert_eq!(o.bytes, 0);
    }

    proptest::proptest! {
        #[test]
        fn roundtrip_any(pairs in proptest::collection::vec(("[a-zA-Z_]{1,12}", "[0-9a-f]{0,40}|\\PC{0,12}"), 0..4), ts in proptest::num::i64::ANY, has_ts: bool) {
            let mut o = Overflow::default();
            let mut labels = diamond_model::LabelsBuilder::new();
            for (n, v) in &pairs {
                labels.set(n, v);
            }
            let e = Exemplar { labels: labels.build(), value: 2.5, ts: ts >> 4, has_ts };
            let p = Packed::new(&e, &mut o);
            proptest::prop_assert_eq!(p.to_exemplar(&o), e);
        }
    }
}

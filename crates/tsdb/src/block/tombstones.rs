//! The tombstones file of a block (docs/format/tombstones.md): deleted time intervals per series.

use std::collections::BTreeMap;

use super::Error;
use super::enc::{Decbuf, put_uvarint, put_varint};

/// Magic number at the start of a tombstones file.
pub(crate) const MAGIC_TOMBSTONES: u32 = 0x0130_BA30;

/// Deleted intervals `[mint, maxt]` (inclusive) by series ID, merged and sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tombstones {
    by_series: BTreeMap<u32, Vec<(i64, i64)>>,
}

impl Tombstones {
    /// No deletions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing is deleted.
    pub fn is_empty(&self) -> bool {
        self.by_series.is_empty()
    }

    /// Marks `[mint, maxt]` of series `id` deleted, merging with overlapping or adjacent intervals.
    pub fn add(&mut self, id: u32, mint: i64, maxt: i64) {
        if mint > maxt {
            return;
        }
        let v = self.by_series.entry(id).or_default();
        v.push((mint, maxt));
        v.sort_unstable();
        let mut out: Vec<(i64, i64)> = Vec::with_capacity(v.len());
        for &(a, b) in v.iter() {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        *v = out;
    }

    /// The deleted intervals of series `id` (sorted, disjoint).
    pub fn get(&self, id: u32) -> &[(i64, i64)] {
        self.by_series.get(&id).map_or(&[], Vec::as_slice)
    }

    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = MAGIC_TOMBSTONES.to_be_bytes().to_vec();
        b.push(1);
        let mut body = Vec::new();
        for (&id, ivs) in &self.by_series {
            for &(a, z) in ivs {
                put_uvarint(&mut body, u64::from(id));
                put_varint(&mut body, a);
                put_varint(&mut body, z);
            }
        }
        let crc = crc32c::crc32c(&body);
        b.extend_from_slice(&body);
        b.extend_from_slice(&crc.to_be_bytes());
        b
    }

    /// Parses a tombstones file.
    pub fn decode(b: &[u8]) -> Result<Tombstones, Error> {
        let bad = |w: &str| Error::Corrupted(format!("tombstones: {w}"));
        let mut d = Decbuf::new(b);
        if d.be32() != Some(MAGIC_TOMBSTONES) {
            return Err(bad("bad magic"));
        }
        if d.byte() != Some(1) {
            return Err(bad("unsupported version"));
        }
        if d.len() < 4 {
            return Err(bad("truncated"));
        }
        let (body, crc) = d.b.split_at(d.len() - 4);
        if crc32c::crc32c(body) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err(bad("checksum mismatch"));
        }
        let mut t = Tombstones::new();
        let mut d = Decbuf::new(body);
        while d.len() > 0 {
            let id = d.uvarint32().ok_or_else(|| bad("bad entry"))?;
            let a = d.varint().ok_or_else(|| bad("bad entry"))?;
            let z = d.varint().ok_or_else(|| bad("bad entry"))?;
            t.add(id, a, z);
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_file_is_nine_bytes() {
        let b = Tombstones::new().encode();
        assert_eq!(b.len(), 9);
        assert_eq!(Tombstones::decode(&b).unwrap(), Tombstones::new());
    }

    proptest! {
        #[test]
        fn round_trip_and_merge(ivs in proptest::collection::vec((0u32..5, -50i64..50, 0i64..20), 0..20)) {
            let mut t = Tombstones::new();
            for &(id, a, len) in &ivs {
                t.add(id, a, a + len);
            }
            let back = Tombstones::decode(&t.encode()).unwrap();
            prop_assert_eq!(&back, &t);
            // Deleted points agree with the naive union.
            for id in 0..5u32 {
                for x in -60i64..80 {
                    let naive = ivs.iter().any(|&(i, a, len)| i == id && a <= x && x <= a + len);
                    let got = t.get(id).iter().any(|&(a, z)| a <= x && x <= z);
                    prop_assert_eq!(naive, got);
                }
            }
        }

        #[test]
        fn decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = Tombstones::decode(&b);
        }
    }
}

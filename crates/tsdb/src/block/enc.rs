//! Byte encoding helpers shared by the block files: Go-style varints and a bounds-checked decoder.

/// Appends `x` as a Go `uvarint`.
pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        buf.push((x as u8) | 0x80);
        x >>= 7;
    }
    buf.push(x as u8);
}

/// Appends `x` as a Go `varint` (zigzag).
pub(crate) fn put_varint(buf: &mut Vec<u8>, x: i64) {
    put_uvarint(buf, ((x << 1) ^ (x >> 63)) as u64);
}

/// Appends `s` as `uvarint len` + bytes.
pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// A cursor over bytes whose every read is bounds-checked (`None` when the data ends early or a varint
/// is malformed): the block files are untrusted input once they are on disk.
#[derive(Clone, Copy)]
pub(crate) struct Decbuf<'a> {
    pub(crate) b: &'a [u8],
}

impl<'a> Decbuf<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Decbuf { b }
    }

    pub(crate) fn len(&self) -> usize {
        self.b.len()
    }

    pub(crate) fn uvarint(&mut self) -> Option<u64> {
        let mut x = 0u64;
        for i in 0..10 {
            let &byte = self.b.get(i)?;
            if i == 9 && byte > 1 {
                return None;
            }
            x |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                self.b = &self.b[i + 1..];
                return Some(x);
            }
        }
        None
    }

    pub(crate) fn varint(&mut self) -> Option<i64> {
        let u = self.uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    pub(crate) fn uvarint32(&mut self) -> Option<u32> {
        u32::try_from(self.uvarint()?).ok()
    }

    pub(crate) fn be32(&mut self) -> Option<u32> {
        let (h, t) = self.b.split_first_chunk::<4>()?;
        self.b = t;
        Some(u32::from_be_bytes(*h))
    }

    pub(crate) fn be64(&mut self) -> Option<u64> {
        let (h, t) = self.b.split_first_chunk::<8>()?;
        self.b = t;
        Some(u64::from_be_bytes(*h))
    }

    pub(crate) fn byte(&mut self) -> Option<u8> {
        let (&h, t) = self.b.split_first()?;
        self.b = t;
        Some(h)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.b.len() {
            return None;
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Some(h)
    }

    /// `uvarint len` + bytes.
    pub(crate) fn str_bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.uvarint()?).ok()?;
        self.bytes(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(u in any::<u64>(), i in any::<i64>()) {
            let mut b = Vec::new();
            put_uvarint(&mut b, u);
            put_varint(&mut b, i);
            let mut d = Decbuf::new(&b);
            prop_assert_eq!(d.uvarint(), Some(u));
            prop_assert_eq!(d.varint(), Some(i));
            prop_assert_eq!(d.len(), 0);
        }

        /// Arbitrary bytes never panic the decoder.
        #[test]
        fn decoder_total(b in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut d = Decbuf::new(&b);
            while d.uvarint().is_some() {}
            let mut d = Decbuf::new(&b);
            let _ = (d.be32(), d.varint(), d.str_bytes(), d.be64(), d.byte());
        }
    }
}

//! A most-significant-bit-first bit stream (writer and reader), as Prometheus's `bstream`.

/// Appends bits to a byte vector, most significant bit first.
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    buf: Vec<u8>,
    /// Free bits in the last byte of `buf` (0 when the stream is byte aligned).
    free: u8,
}

impl BitWriter {
    /// A writer over `buf`, appending after its existing bytes (byte aligned).
    pub fn from_vec(buf: Vec<u8>) -> Self {
        BitWriter { buf, free: 0 }
    }

    /// The bytes written so far (the last byte zero-padded).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The number of bits written, the initial bytes included.
    pub fn bit_len(&self) -> usize {
        self.buf.len() * 8 - usize::from(self.free)
    }

    /// Mutable access to the bytes (for in-place header updates).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Consumes the writer into its bytes.
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }

    /// Writes one bit.
    #[inline]
    pub fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.buf.push(0);
            self.free = 8;
        }
        self.free -= 1;
        if bit && let Some(last) = self.buf.last_mut() {
            *last |= 1 << self.free;
        }
    }

    /// Writes the low `n` bits of `v` (`n <= 64`), most significant first.
    #[inline]
    pub fn write_bits(&mut self, v: u64, n: u8) {
        debug_assert!(n <= 64);
        if n == 0 {
            return;
        }
        let mut n = n;
        let v = if n == 64 { v } else { v & ((1u64 << n) - 1) };
        // Top up the partly used last byte first.
        if self.free > 0 {
            let take = n.min(self.free);
            let chunk = (v >> (n - take)) as u8;
            self.free -= take;
            if let Some(last) = self.buf.last_mut() {
                *last |= chunk << self.free;
            }
            n -= take;
            if n == 0 {
                return;
            }
        }
        // Then whole bytes, then a final partial byte; `n` bits of `v` remain, byte aligned.
        self.buf.reserve(8);
        while n >= 8 {
            n -= 8;
            self.buf.push((v >> n) as u8);
        }
        if n > 0 {
            self.buf.push((v << (8 - n)) as u8);
            self.free = 8 - n;
        }
    }

    /// Writes a byte (8 bits).
    #[inline]
    pub fn write_byte(&mut self, b: u8) {
        self.write_bits(u64::from(b), 8);
    }
}

/// Reads bits from a byte slice, most significant bit first. Reads past the end return `None`.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    buf: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        BitReader { buf, pos: 0 }
    }

    /// Reads one bit.
    #[inline]
    pub fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.buf.get(self.pos >> 3)?;
        let bit = (byte >> (7 - (self.pos & 7))) & 1;
        self.pos += 1;
        Some(bit == 1)
    }

    /// The 8 bytes starting at byte `at`, big-endian, zero-padded past the end.
    #[inline]
    fn peek64(&self, at: usize) -> u64 {
        let mut a = [0u8; 8];
        if let Some(src) = self.buf.get(at..at + 8) {
            a.copy_from_slice(src);
        } else {
            let rest = self.buf.get(at..).unwrap_or(&[]);
            a[..rest.len()].copy_from_slice(rest);
        }
        u64::from_be_bytes(a)
    }

    /// Reads `n` bits (`n <= 64`) into the low bits of the result.
    #[inline]
    pub fn read_bits(&mut self, n: u8) -> Option<u64> {
        debug_assert!(n <= 64);
        if n == 0 {
            return Some(0);
        }
        if self.pos + usize::from(n) > self.buf.len() * 8 {
            return None;
        }
        if n > 56 {
            return self.read_long(n);
        }
        let w = self.peek64(self.pos >> 3);
        let v = (w << (self.pos & 7)) >> (64 - n);
        self.pos += usize::from(n);
        Some(v)
    }

    /// A read of 57 to 64 bits: a 64-bit window shifted by up to 7 bits holds at least 57, so it is split
    /// in two. Out of line, so that [`Self::read_bits`] is not recursive and inlines into the decoders
    /// (the recursion kept it a call per value).
    #[inline(never)]
    fn read_long(&mut self, n: u8) -> Option<u64> {
        let hi = self.read_bits(32)?;
        let lo = self.read_bits(n - 32)?;
        Some((hi << (n - 32)) | lo)
    }

    /// The bits not read yet.
    #[inline]
    pub fn remaining(&self) -> usize {
        (self.buf.len() * 8).saturating_sub(self.pos)
    }

    /// At least the next 57 bits, most significant first, without reading them; bits past the end (and
    /// the low `pos % 8` bits of the word) are zero, so a caller checks [`Self::remaining`] before it
    /// [`Self::skip`]s what it used.
    #[inline]
    pub fn window(&self) -> u64 {
        self.peek64(self.pos >> 3) << (self.pos & 7)
    }

    /// The position in bits from the start of the buffer.
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// A reader over `buf` at bit `pos`; a position past the end reads as the end.
    pub fn at(buf: &'a [u8], pos: usize) -> Self {
        BitReader {
            buf,
            pos: pos.min(buf.len() * 8),
        }
    }

    /// Consumes `n` bits already looked at through [`Self::window`].
    #[inline]
    pub fn skip(&mut self, n: usize) {
        self.pos += n;
    }

    /// Reads a byte.
    #[inline]
    pub fn read_byte(&mut self) -> Option<u8> {
        self.read_bits(8).map(|b| b as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bits_round_trip(items in proptest::collection::vec((any::<u64>(), 1u8..=64), 0..50)) {
            let mut w = BitWriter::default();
            for &(v, n) in &items {
                w.write_bits(v, n);
            }
            let bytes = w.into_vec();
            let mut r = BitReader::new(&bytes);
            for &(v, n) in &items {
                let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
                prop_assert_eq!(r.read_bits(n), Some(v & mask));
            }
        }
    }

    #[test]
    fn msb_first() {
        let mut w = BitWriter::default();
        w.write_bit(true);
        w.write_bits(0b01, 2);
        assert_eq!(w.bytes(), &[0b1010_0000]);
        let mut r = BitReader::new(w.bytes());
        assert_eq!(r.read_bit(), Some(true));
        assert_eq!(r.read_bits(2), Some(1));
        assert_eq!(r.read_bits(5), Some(0));
        assert_eq!(r.read_bit(), None);
    }
}

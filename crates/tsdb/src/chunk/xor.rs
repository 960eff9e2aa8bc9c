//! Prometheus's XOR float chunk (Gorilla with millisecond buckets). Spec: `docs/format/chunks.md`.

use super::ChunkError;
use super::bstream::{BitReader, BitWriter};

/// Size of the sample-count header.
const HEADER: usize = 2;
/// "Leading zeros not set yet" (the first XOR must write its window).
const UNSET: u8 = 0xff;

/// Encodes samples into one XOR chunk. Timestamps must be appended in ascending order (the head checks).
#[derive(Debug, Clone)]
pub struct XorAppender {
    w: BitWriter,
    num: u16,
    t: i64,
    t_delta: u64,
    v: f64,
    leading: u8,
    trailing: u8,
}

impl Default for XorAppender {
    fn default() -> Self {
        Self::new()
    }
}

impl XorAppender {
    /// An empty chunk.
    pub fn new() -> Self {
        // 32 bytes hold ~20 regular samples; most head chunks grow to ~100–200 bytes at 120 samples.
        let mut buf = Vec::with_capacity(32);
        buf.extend_from_slice(&[0, 0]);
        XorAppender {
            w: BitWriter::from_vec(buf),
            num: 0,
            t: 0,
            t_delta: 0,
            v: 0.0,
            leading: UNSET,
            trailing: 0,
        }
    }

    /// Number of samples appended.
    pub fn num_samples(&self) -> u16 {
        self.num
    }

    /// The chunk bytes (header + bit stream), valid after every append.
    pub fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    /// Timestamp of the last sample (meaningless when empty).
    pub fn last_t(&self) -> i64 {
        self.t
    }

    /// Timestamp of the first sample (meaningless when empty). Decoded from the chunk's first bytes rather
    /// than stored, to keep the per-series open chunk small.
    pub fn first_t(&self) -> i64 {
        XorIter::new(self.w.bytes())
            .next_sample()
            .ok()
            .flatten()
            .map_or(self.t, |(t, _)| t)
    }

    /// Value of the last sample (meaningless when empty).
    pub fn last_v(&self) -> f64 {
        self.v
    }

    /// The state a decoder of these bytes has after the last sample, without decoding them; `None` before
    /// the second sample (see [`XorIter::checkpoint`], which it equals).
    pub fn checkpoint(&self) -> Option<XorCheckpoint> {
        if self.num < 2 {
            return None;
        }
        // Before the first new window the decoder's leading and trailing are still its initial zeros.
        let (leading, trailing) = if self.leading == UNSET {
            (0, 0)
        } else {
            (self.leading, self.trailing)
        };
        Some(XorCheckpoint {
            pos: u32::try_from(self.w.bit_len() - HEADER * 8).unwrap_or(u32::MAX),
            i: self.num,
            leading,
            trailing,
            t: self.t,
            t_delta: self.t_delta,
            v: self.v.to_bits(),
        })
    }

    /// The finished chunk bytes, shrunk to fit.
    pub fn into_bytes(self) -> Box<[u8]> {
        self.w.into_vec().into_boxed_slice()
    }

    /// Appends a sample. At most `u16::MAX` samples fit; the head cuts far earlier.
    pub fn append(&mut self, t: i64, v: f64) {
        match self.num {
            0 => {
                let mut buf = [0u8; 10];
                let n = put_uvarint(&mut buf, zigzag(t));
                for &b in &buf[..n] {
                    self.w.write_byte(b);
                }
                self.w.write_bits(v.to_bits(), 64);
            }
            1 => {
                let t_delta = t.wrapping_sub(self.t) as u64;
                let mut buf = [0u8; 10];
                let n = put_uvarint(&mut buf, t_delta);
                for &b in &buf[..n] {
                    self.w.write_byte(b);
                }
                self.write_value(v);
                self.t_delta = t_delta;
            }
            _ => {
                let t_delta = t.wrapping_sub(self.t) as u64;
                let dod = t_delta.wrapping_sub(self.t_delta) as i64;
                if dod == 0 {
                    self.w.write_bit(false);
                } else if bit_range(dod, 14) {
                    self.w.write_bits(0b10, 2);
                    self.w.write_bits(dod as u64, 14);
                } else if bit_range(dod, 17) {
                    self.w.write_bits(0b110, 3);
                    self.w.write_bits(dod as u64, 17);
                } else if bit_range(dod, 20) {
                    self.w.write_bits(0b1110, 4);
                    self.w.write_bits(dod as u64, 20);
                } else {
                    self.w.write_bits(0b1111, 4);
                    self.w.write_bits(dod as u64, 64);
                }
                self.write_value(v);
                self.t_delta = t_delta;
            }
        }
        self.t = t;
        self.v = v;
        self.num = self.num.wrapping_add(1);
        let n = self.num.to_be_bytes();
        self.w.bytes_mut()[..HEADER].copy_from_slice(&n);
    }

    fn write_value(&mut self, v: f64) {
        let delta = v.to_bits() ^ self.v.to_bits();
        if delta == 0 {
            self.w.write_bit(false);
            return;
        }
        self.w.write_bit(true);
        // Clamped so it fits the 5-bit field.
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != UNSET && leading >= self.leading && trailing >= self.trailing {
            self.w.write_bit(false);
            let sig = 64 - self.leading - self.trailing;
            self.w.write_bits(delta >> self.trailing, sig);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        self.w.write_bit(true);
        self.w.write_bits(u64::from(leading), 5);
        let sig = 64 - leading - trailing;
        // 64 significant bits do not fit 6 bits; they are written as 0 (0 never occurs: delta != 0).
        self.w.write_bits(u64::from(sig & 0x3f), 6);
        self.w.write_bits(delta >> trailing, sig);
    }
}

/// Whether `x` fits Prometheus's `nbits` bucket: `-(2^(n-1) - 1) <= x <= 2^(n-1)`.
fn bit_range(x: i64, nbits: u8) -> bool {
    let half = 1i64 << (nbits - 1);
    -(half - 1) <= x && x <= half
}

fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Writes Go's `PutUvarint` encoding of `x` into `buf`, returning the length.
pub(crate) fn put_uvarint(buf: &mut [u8; 10], mut x: u64) -> usize {
    let mut i = 0;
    while x >= 0x80 {
        buf[i] = (x as u8) | 0x80;
        x >>= 7;
        i += 1;
    }
    buf[i] = x as u8;
    i + 1
}

/// A decoder's state after some sample of a chunk, from which [`XorIter::resume`] goes on without
/// decoding the samples before. The head keeps one for the middle of each open chunk, so that a query
/// over the last minutes decodes about half of it (see `head::HeadChunk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XorCheckpoint {
    pos: u32,
    i: u16,
    leading: u8,
    trailing: u8,
    t: i64,
    t_delta: u64,
    v: u64,
}

impl XorCheckpoint {
    /// The timestamp of the sample it was taken after: resuming yields only later samples.
    pub fn t(&self) -> i64 {
        self.t
    }

    /// The number of samples decoded before it.
    pub fn samples(&self) -> u16 {
        self.i
    }
}

/// Decodes one XOR chunk lazily. Damaged input yields an error, never a panic.
#[derive(Debug, Clone)]
pub struct XorIter<'a> {
    r: BitReader<'a>,
    total: u16,
    i: u16,
    t: i64,
    t_delta: u64,
    v: u64,
    leading: u8,
    trailing: u8,
    failed: bool,
}

impl<'a> XorIter<'a> {
    /// An iterator over the chunk `bytes` (header included). A chunk shorter than its header reads as empty
    /// then fails.
    pub fn new(bytes: &'a [u8]) -> Self {
        let (total, body) = match bytes {
            [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
            _ => (u16::MAX, &[][..]),
        };
        XorIter {
            r: BitReader::new(body),
            total,
            i: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            leading: 0,
            trailing: 0,
            failed: false,
        }
    }

    /// The number of samples the header announces.
    pub fn num_samples(&self) -> u16 {
        self.total
    }

    /// The state after the samples decoded so far; `None` before the second sample (resuming then saves
    /// nothing) and after a failure.
    pub fn checkpoint(&self) -> Option<XorCheckpoint> {
        (self.i >= 2 && !self.failed).then(|| XorCheckpoint {
            pos: u32::try_from(self.r.position()).unwrap_or(u32::MAX),
            i: self.i,
            leading: self.leading,
            trailing: self.trailing,
            t: self.t,
            t_delta: self.t_delta,
            v: self.v,
        })
    }

    /// An iterator over `bytes` (the chunk the checkpoint was taken of, or a longer version of it: an open
    /// chunk only grows) that goes on after `cp`. A checkpoint that does not fit the bytes reads as an
    /// empty chunk, never a panic.
    pub fn resume(bytes: &'a [u8], cp: &XorCheckpoint) -> Self {
        let mut it = XorIter::new(bytes);
        let body = bytes.get(HEADER..).unwrap_or(&[]);
        it.r = BitReader::at(body, cp.pos as usize);
        it.i = cp.i;
        it.leading = cp.leading;
        it.trailing = cp.trailing;
        it.t = cp.t;
        it.t_delta = cp.t_delta;
        it.v = cp.v;
        if cp.i > it.total || cp.pos as usize > body.len() * 8 || cp.i < 2 {
            it.failed = true;
        }
        it
    }

    /// The next sample, `Ok(None)` at the end.
    pub fn next_sample(&mut self) -> Result<Option<(i64, f64)>, ChunkError> {
        if self.failed || self.i >= self.total {
            return Ok(None);
        }
        match self.decode() {
            Ok(s) => {
                self.i += 1;
                Ok(Some(s))
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// Appends the samples with `mint <= t <= maxt` to `out` until the chunk ends or a sample is past
    /// `maxt`; returns whether one was (the caller then needs no later chunk). The loop of a selector's
    /// decode: [`Self::next_sample`] inlined, no call per sample.
    pub fn decode_into(&mut self, mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>) -> Result<bool, ChunkError> {
        if self.failed {
            return Ok(false);
        }
        while self.i < self.total {
            match self.decode() {
                Ok((t, v)) => {
                    self.i += 1;
                    if t > maxt {
                        return Ok(true);
                    }
                    if t >= mint {
                        out.push((t, v));
                    }
                }
                Err(e) => {
                    self.failed = true;
                    return Err(e);
                }
            }
        }
        Ok(false)
    }

    #[inline(always)]
    fn decode(&mut self) -> Result<(i64, f64), ChunkError> {
        let sample = self.i;
        let trunc = ChunkError::Truncated { sample };
        match self.i {
            0 => {
                self.t = unzigzag(self.read_uvarint()?);
                self.v = self.r.read_bits(64).ok_or(trunc)?;
            }
            1 => {
                self.t_delta = self.read_uvarint()?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
            _ => {
                // The delta-of-delta's prefix (at most 4 bits) and a bucket of up to 20 bits fit in one
                // window: one bounds check instead of one per bit (this loop is most of a query's CPU).
                let w = self.r.window();
                let (prefix_len, size) = match w.leading_ones() {
                    0 => (1, 0u8),
                    1 => (2, 14),
                    2 => (3, 17),
                    3 => (4, 20),
                    _ => (4, 64),
                };
                let dod = match size {
                    0 => {
                        take(&mut self.r, prefix_len, sample)?;
                        0
                    }
                    64 => {
                        take(&mut self.r, prefix_len, sample)?;
                        self.r.read_bits(64).ok_or(trunc)? as i64
                    }
                    _ => {
                        take(&mut self.r, prefix_len + usize::from(size), sample)?;
                        let bits = (w << prefix_len) >> (64 - size);
                        if bits > 1u64 << (size - 1) {
                            (bits as i64) - (1i64 << size)
                        } else {
                            bits as i64
                        }
                    }
                };
                self.t_delta = self.t_delta.wrapping_add(dod as u64);
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
        }
        Ok((self.t, f64::from_bits(self.v)))
    }

    fn read_uvarint(&mut self) -> Result<u64, ChunkError> {
        let sample = self.i;
        let mut x: u64 = 0;
        let mut shift = 0u32;
        for k in 0..10 {
            let b = self.r.read_byte().ok_or(ChunkError::Truncated { sample })?;
            if b < 0x80 {
                if k == 9 && b > 1 {
                    return Err(ChunkError::BadVarint { sample });
                }
                return Ok(x | (u64::from(b) << shift));
            }
            x |= u64::from(b & 0x7f) << shift;
            shift += 7;
        }
        Err(ChunkError::BadVarint { sample })
    }

    #[inline(always)]
    fn read_value(&mut self) -> Result<(), ChunkError> {
        let sample = self.i;
        // Control bits and a new leading/significant header (13 bits at most) come from one window.
        let w = self.r.window();
        if w >> 63 == 0 {
            take(&mut self.r, 1, sample)?;
            return Ok(());
        }
        if (w >> 62) & 1 == 1 {
            take(&mut self.r, 13, sample)?;
            let leading = ((w >> 57) & 0x1f) as u8;
            let mut sig = ((w >> 51) & 0x3f) as u8;
            if sig == 0 {
                sig = 64;
            }
            // Damaged input can claim more than 64 bits; clamp so the window stays valid.
            self.leading = leading;
            self.trailing = 64u8.saturating_sub(leading.saturating_add(sig));
        } else {
            take(&mut self.r, 2, sample)?;
        }
        let sig = 64u8.saturating_sub(self.leading.saturating_add(self.trailing));
        let bits = self.r.read_bits(sig).ok_or(ChunkError::Truncated { sample })?;
        self.v ^= bits.checked_shl(u32::from(self.trailing)).unwrap_or(0);
        Ok(())
    }
}

/// Consumes `n` bits seen through the reader's window, or fails if the chunk ends first.
#[inline]
fn take(r: &mut BitReader<'_>, n: usize, sample: u16) -> Result<(), ChunkError> {
    if r.remaining() < n {
        return Err(ChunkError::Truncated { sample });
    }
    r.skip(n);
    Ok(())
}

/// One step of a batch read over a sequence of chunks (the head's and a block's iterators): decodes the
/// current chunk `cur` into `out` and clears it. Returns whether a sample past `maxt` ended the range. A
/// decode error ends the chunk, as in the iterators' `next`.
pub(crate) fn drain_chunk(
    cur: &mut Option<(XorIter<'_>, i64)>,
    mint: i64,
    maxt: i64,
    out: &mut Vec<(i64, f64)>,
) -> bool {
    let done = cur
        .as_mut()
        .is_some_and(|(it, _)| it.decode_into(mint, maxt, out).unwrap_or(false));
    *cur = None;
    done
}

impl Iterator for XorIter<'_> {
    type Item = Result<(i64, f64), ChunkError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_sample().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(b: &[u8]) -> Vec<(i64, u64)> {
        XorIter::new(b)
            .map(|s| s.map(|(t, v)| (t, v.to_bits())))
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Derived by hand from the spec; see docs/format/chunks.md "Worked example".
    #[test]
    fn hand_derived_vector() {
        let mut a = XorAppender::new();
        a.append(1000, 1.0);
        a.append(2000, 1.0);
        a.append(3000, 2.0);
        let want = [
            0x00, 0x03, 0xd0, 0x0f, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xe8, 0x07, 0x30, 0x97, 0xff, 0xc0,
        ];
        assert_eq!(a.bytes(), &want);
        assert_eq!(
            decode(&want),
            vec![(1000, 1f64.to_bits()), (2000, 1f64.to_bits()), (3000, 2f64.to_bits())]
        );
    }

    #[test]
    fn dod_buckets_edges() {
        // Exercise each bucket boundary, including the asymmetric +2^(n-1) edge.
        let dods = [
            0i64,
            1,
            -1,
            8192,
            -8191,
            8193,
            -8192,
            65536,
            -65535,
            65537,
            524288,
            -524287,
            524289,
            -524288,
            1 << 40,
            -(1 << 40),
        ];
        let mut a = XorAppender::new();
        let mut want = Vec::new();
        let (mut t, mut delta) = (1_600_000_000_000i64, 15_000i64);
        for (i, d) in std::iter::once(0).chain(dods).enumerate() {
            if i >= 2 {
                delta += d;
            }
            t += delta;
            let v = i as f64 * 1.5;
            a.append(t, v);
            want.push((t, v.to_bits()));
        }
        assert_eq!(decode(a.bytes()), want);
    }

    #[test]
    fn first_t_reads_the_first_sample() {
        let mut a = XorAppender::new();
        a.append(-5, 1.0);
        assert_eq!(a.first_t(), -5);
        a.append(7, 2.0);
        a.append(9, 3.0);
        assert_eq!((a.first_t(), a.last_t()), (-5, 9));
    }

    #[test]
    fn special_values() {
        let vals = [
            f64::NAN,
            diamond_model::STALE_NAN,
            f64::INFINITY,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            f64::MAX,
            1e-300,
        ];
        let mut a = XorAppender::new();
        for (i, v) in vals.iter().enumerate() {
            a.append(i as i64, *v);
        }
        let got = decode(a.bytes());
        assert_eq!(
            got.iter().map(|s| s.1).collect::<Vec<_>>(),
            vals.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn damaged_input_errors_without_panic() {
        let mut a = XorAppender::new();
        for i in 0..50 {
            a.append(i * 1000 + (i * i) % 7, (i as f64).sqrt());
        }
        let b = a.bytes().to_vec();
        for cut in 0..b.len() {
            let r: Result<Vec<_>, _> = XorIter::new(&b[..cut]).collect();
            assert!(r.is_err(), "cut at {cut} must fail");
        }
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x5a;
            let _ = XorIter::new(&c).count();
        }
    }

    /// A decoder that reads every field bit by bit, as the format spec describes it: the windowed decoder
    /// must agree with it on every input, damaged or not, including where and how it fails.
    fn reference_decode(bytes: &[u8]) -> Vec<Result<(i64, u64), ChunkError>> {
        use crate::chunk::bstream::BitReader;
        let Some((hdr, body)) = bytes.split_first_chunk::<2>() else {
            return vec![Err(ChunkError::Truncated { sample: 0 })];
        };
        let total = u16::from_be_bytes(*hdr);
        let mut r = BitReader::new(body);
        let mut out = Vec::new();
        let (mut t, mut delta, mut v, mut lead, mut trail) = (0i64, 0u64, 0u64, 0u8, 0u8);
        fn uvarint(r: &mut BitReader<'_>, sample: u16) -> Result<u64, ChunkError> {
            let (mut x, mut shift) = (0u64, 0u32);
            for k in 0..10 {
                let b = r.read_byte().ok_or(ChunkError::Truncated { sample })?;
                if b < 0x80 {
                    if k == 9 && b > 1 {
                        return Err(ChunkError::BadVarint { sample });
                    }
                    return Ok(x | (u64::from(b) << shift));
                }
                x |= u64::from(b & 0x7f) << shift;
                shift += 7;
            }
            Err(ChunkError::BadVarint { sample })
        }
        for i in 0..total {
            let tr = ChunkError::Truncated { sample: i };
            let step = (|| -> Result<(), ChunkError> {
                if i == 0 {
                    t = unzigzag(uvarint(&mut r, i)?);
                    v = r.read_bits(64).ok_or(tr.clone())?;
                    return Ok(());
                }
                if i == 1 {
                    delta = uvarint(&mut r, i)?;
                } else {
                    let mut ones = 0;
                    while ones < 4 && r.read_bit().ok_or(tr.clone())? {
                        ones += 1;
                    }
                    let size = [0u8, 14, 17, 20, 64][ones];
                    let bits = r.read_bits(size).ok_or(tr.clone())?;
                    let dod = if size == 0 || size == 64 || bits <= 1u64 << (size - 1) {
                        bits as i64
                    } else {
                        bits as i64 - (1i64 << size)
                    };
                    delta = delta.wrapping_add(dod as u64);
                }
                t = t.wrapping_add(delta as i64);
                if r.read_bit().ok_or(tr.clone())? {
                    if r.read_bit().ok_or(tr.clone())? {
                        lead = r.read_bits(5).ok_or(tr.clone())? as u8;
                        let sig = match r.read_bits(6).ok_or(tr.clone())? as u8 {
                            0 => 64,
                            n => n,
                        };
                        trail = 64u8.saturating_sub(lead.saturating_add(sig));
                    }
                    let sig = 64u8.saturating_sub(lead.saturating_add(trail));
                    v ^= r
                        .read_bits(sig)
                        .ok_or(tr.clone())?
                        .checked_shl(u32::from(trail))
                        .unwrap_or(0);
                }
                Ok(())
            })();
            match step {
                Ok(()) => out.push(Ok((t, v))),
                Err(e) => {
                    out.push(Err(e));
                    break;
                }
            }
        }
        out
    }

    fn windowed_decode(bytes: &[u8]) -> Vec<Result<(i64, u64), ChunkError>> {
        let mut it = XorIter::new(bytes);
        let mut out = Vec::new();
        loop {
            match it.next_sample() {
                Ok(Some((t, v))) => out.push(Ok((t, v.to_bits()))),
                Ok(None) => return out,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }

    proptest! {
        #[test]
        fn windowed_decoder_agrees_with_bitwise_reference(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(windowed_decode(&bytes), reference_decode(&bytes));
        }

        #[test]
        fn windowed_decoder_agrees_on_damaged_chunks(deltas in proptest::collection::vec(0i64..1 << 22, 1..150),
                                                    flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
                                                    cut in any::<usize>()) {
            let mut a = XorAppender::new();
            let mut t = 1_700_000_000_000i64;
            for (i, d) in deltas.iter().enumerate() {
                t += d;
                a.append(t, (i as f64 * 0.37).sin() * 1e3);
            }
            let mut b = a.bytes().to_vec();
            for (at, x) in flips {
                let n = b.len();
                b[at % n] ^= x;
            }
            let n = b.len();
            b.truncate(n - cut % (n / 4 + 1));
            prop_assert_eq!(windowed_decode(&b), reference_decode(&b));
        }

        #[test]
        fn round_trip(start in any::<i64>(), deltas in proptest::collection::vec(0i64..1 << 45, 0..300),
                      vals in proptest::collection::vec(any::<u64>(), 300)) {
            let mut a = XorAppender::new();
            let mut want = Vec::new();
            let mut t = start / 2;
            for (i, d) in deltas.iter().enumerate() {
                t = t.saturating_add(*d);
                // Mix repeated, close and random values.
                let v = match i % 3 { 0 => vals[i], 1 => want.last().map(|w: &(i64, u64)| w.1).unwrap_or(0), _ => vals[i] & !0xffff };
                a.append(t, f64::from_bits(v));
                want.push((t, v));
            }
            prop_assert_eq!(decode(a.bytes()), want);
        }

        /// A checkpoint taken after `k` samples of an open chunk, resumed on the chunk after more samples
        /// were appended, yields exactly the samples after the `k`-th; resumed on any damaged or cut
        /// version of the bytes it never panics.
        #[test]
        fn resuming_from_a_checkpoint_continues_exactly(deltas in proptest::collection::vec(0i64..1 << 40, 3..300),
                                                       vals in proptest::collection::vec(any::<u64>(), 300),
                                                       k in 2usize..300, cut in any::<usize>(), flip in any::<(usize, u8)>()) {
            let k = k.min(deltas.len());
            let mut a = XorAppender::new();
            let mut want = Vec::new();
            let mut t = 0i64;
            let mut cp = None;
            for (i, d) in deltas.iter().enumerate() {
                t = t.saturating_add(*d);
                let v = match i % 3 { 0 => vals[i], 1 => want.last().map(|w: &(i64, u64)| w.1).unwrap_or(0), _ => vals[i] & !0xffff };
                a.append(t, f64::from_bits(v));
                want.push((t, v));
                if i + 1 == k {
                    let mut it = XorIter::new(a.bytes());
                    while let Ok(Some(_)) = it.next_sample() {}
                    cp = it.checkpoint();
                }
            }
            let cp = cp.expect("a checkpoint after two samples or more");
            // The appender knows the same state without decoding.
            let mut short = XorAppender::new();
            for &(t, v) in &want[..k] {
                short.append(t, f64::from_bits(v));
            }
            prop_assert_eq!(short.checkpoint(), Some(cp));
            prop_assert_eq!(usize::from(cp.samples()), k);
            prop_assert_eq!(cp.t(), want[k - 1].0);
            let got: Vec<(i64, u64)> = XorIter::resume(a.bytes(), &cp)
                .map(|r| r.map(|(t, v)| (t, v.to_bits())))
                .collect::<Result<_, _>>()
                .unwrap();
            prop_assert_eq!(&got[..], &want[k..]);
            let mut b = a.bytes().to_vec();
            let n = b.len();
            b[flip.0 % n] ^= flip.1;
            b.truncate(n - cut % n);
            for r in XorIter::resume(&b, &cp) {
                if r.is_err() {
                    break;
                }
            }
        }
    }

    #[test]
    fn no_checkpoint_before_the_second_sample() {
        let mut a = XorAppender::new();
        a.append(1, 1.0);
        a.append(2, 2.0);
        let mut it = XorIter::new(a.bytes());
        assert!(it.checkpoint().is_none());
        it.next_sample().unwrap();
        assert!(it.checkpoint().is_none());
        it.next_sample().unwrap();
        assert_eq!(it.checkpoint().map(|c| c.t()), Some(2));
    }
}

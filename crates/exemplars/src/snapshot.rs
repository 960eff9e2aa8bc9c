//! The head snapshot and sealed segment files (`docs/format/exemplars.md`): encode, decode (for untrusted
//! bytes: never panics), and the atomic write (tmp, fsync, rename, directory fsync).

use std::io::Write;
use std::path::Path;

use diamond_model::{Exemplar, Label, Labels};

const MAGIC: &[u8; 4] = b"DXEX";
const VERSION: u8 = 2;
const SEGMENT_MAGIC: &[u8; 4] = b"DXSG";
/// Version 2 adds the series index and trailer (docs/format/exemplars.md); version 1 is still read.
const SEGMENT_VERSION: u8 = 2;
/// Bytes of a version-2 segment's trailer: index offset, index CRC, file CRC.
pub const SEGMENT_TRAILER_LEN: usize = 16;
/// Bytes of a segment's fixed header (through the series count).
pub const SEGMENT_HEADER_LEN: usize = 52;

/// Series with their exemplars in ascending time order, as the files hold them.
pub type SeriesList = Vec<(Labels, Vec<Exemplar>)>;

/// The fixed header of a sealed segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Sequence number.
    pub seq: u64,
    /// Every window in the segment ended at or before this (ms).
    pub sealed_before: i64,
    /// Oldest exemplar (ms).
    pub min_ts: i64,
    /// Newest exemplar (ms).
    pub max_ts: i64,
    /// Exemplars in the segment.
    pub exemplars: u64,
    /// Series records in the segment.
    pub series: u32,
}

/// Why a snapshot could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Shorter than a header and a checksum.
    #[error("snapshot truncated ({0} bytes)")]
    Truncated(usize),
    /// Wrong magic bytes.
    #[error("not an exemplar snapshot (bad magic)")]
    BadMagic,
    /// A version this build does not read.
    #[error("unsupported snapshot version {0}")]
    Version(u8),
    /// The checksum does not match.
    #[error("snapshot checksum mismatch")]
    Checksum,
    /// A length runs past the end, or bytes are left over.
    #[error("snapshot malformed at byte {0}")]
    Malformed(usize),
    /// A label is not UTF-8.
    #[error("snapshot label at byte {0} is not UTF-8")]
    Utf8(usize),
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Label names and values are bounded well below 64 KiB by the ingest paths; longer ones are cut at a
    // character boundary rather than corrupting the file.
    let mut n = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    out.extend_from_slice(&(n as u16).to_le_bytes());
    out.extend_from_slice(&s.as_bytes()[..n]);
}

fn put_labels(out: &mut Vec<u8>, l: &Labels) {
    let n = l.len().min(u16::MAX as usize);
    out.extend_from_slice(&(n as u16).to_le_bytes());
    for x in l.iter().take(n) {
        put_str(out, &x.name);
        put_str(out, &x.value);
    }
}

fn put_series(out: &mut Vec<u8>, series: &[(Labels, Vec<Exemplar>)]) {
    for (labels, ex) in series {
        put_labels(out, labels);
        out.extend_from_slice(&(ex.len() as u32).to_le_bytes());
        for e in ex {
            out.extend_from_slice(&e.ts.to_le_bytes());
            out.extend_from_slice(&e.value.to_bits().to_le_bytes());
            out.push(u8::from(e.has_ts));
            put_labels(out, &e.labels);
        }
    }
}

fn finish(mut out: Vec<u8>) -> Vec<u8> {
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Encodes a head snapshot (series: labels, exemplars in time order) with `sealed_seq` 0.
pub fn encode(series: &[(Labels, Vec<Exemplar>)]) -> Vec<u8> {
    encode_with_seq(0, series)
}

/// Encodes a head snapshot written after segment `sealed_seq` was sealed.
pub fn encode_with_seq(sealed_seq: u64, series: &[(Labels, Vec<Exemplar>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + series.len() * 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[VERSION, 0, 0, 0]);
    out.extend_from_slice(&sealed_seq.to_le_bytes());
    out.extend_from_slice(&(series.len() as u32).to_le_bytes());
    put_series(&mut out, series);
    finish(out)
}

/// Encodes a sealed segment (version 2: records, then the series index and the trailer); the header's time
/// range and counts are computed from `series`.
pub fn encode_segment(seq: u64, sealed_before: i64, series: &[(Labels, Vec<Exemplar>)]) -> Vec<u8> {
    let all = || series.iter().flat_map(|(_, ex)| ex.iter());
    let min_ts = all().map(|e| e.ts).min().unwrap_or(0);
    let max_ts = all().map(|e| e.ts).max().unwrap_or(0);
    let n = all().count() as u64;
    let mut out = Vec::with_capacity(SEGMENT_HEADER_LEN + SEGMENT_TRAILER_LEN + series.len() * 128);
    out.extend_from_slice(SEGMENT_MAGIC);
    out.extend_from_slice(&[SEGMENT_VERSION, 0, 0, 0]);
    for v in [seq as i64, sealed_before, min_ts, max_ts, n as i64] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(series.len() as u32).to_le_bytes());
    let mut spans = Vec::with_capacity(series.len());
    for one in series {
        let at = out.len();
        put_series(&mut out, std::slice::from_ref(one));
        spans.push((at, out.len() - at, crc32c::crc32c(&out[at..])));
    }
    let index_at = out.len();
    for ((labels, ex), (at, len, crc)) in series.iter().zip(spans) {
        put_labels(&mut out, labels);
        out.extend_from_slice(&(at as u64).to_le_bytes());
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&(ex.len() as u32).to_le_bytes());
        let (lo, hi) = ts_range(ex);
        out.extend_from_slice(&lo.to_le_bytes());
        out.extend_from_slice(&hi.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
    }
    let index_crc = crc32c::crc32c(&out[index_at..]);
    out.extend_from_slice(&(index_at as u64).to_le_bytes());
    out.extend_from_slice(&index_crc.to_le_bytes());
    finish(out)
}

/// Oldest and newest timestamp of `ex` (0, 0 when empty).
fn ts_range(ex: &[Exemplar]) -> (i64, i64) {
    let lo = ex.iter().map(|e| e.ts).min().unwrap_or(0);
    let hi = ex.iter().map(|e| e.ts).max().unwrap_or(0);
    (lo, hi)
}

/// One series of a version-2 segment's index: where its record is and what it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentIndexEntry {
    /// The series' labels (as in its record).
    pub labels: Labels,
    /// Byte offset of the series record in the file.
    pub offset: u64,
    /// Bytes of the record.
    pub len: u32,
    /// Exemplars in the record.
    pub count: u32,
    /// Oldest exemplar of the series in this segment (ms).
    pub min_ts: i64,
    /// Newest exemplar of the series in this segment (ms).
    pub max_ts: i64,
    /// CRC-32C of the record's bytes.
    pub crc: u32,
}

/// The index offset and index CRC from a version-2 segment's trailer (its last [`SEGMENT_TRAILER_LEN`]
/// bytes). Never panics.
pub fn decode_segment_trailer(b: &[u8]) -> Result<(u64, u32), SnapshotError> {
    if b.len() != SEGMENT_TRAILER_LEN {
        return Err(SnapshotError::Truncated(b.len()));
    }
    let mut r = Reader { b, i: 0 };
    Ok((r.u64()?, r.u32()?))
}

/// Decodes a version-2 segment's index (the bytes from the index offset to the trailer), checking `crc`
/// and that it holds exactly `series` entries whose records lie inside `[SEGMENT_HEADER_LEN, index_offset)`.
/// Never panics, whatever the bytes.
pub fn decode_segment_index(
    b: &[u8],
    crc: u32,
    series: u32,
    index_offset: u64,
) -> Result<Vec<SegmentIndexEntry>, SnapshotError> {
    if crc32c::crc32c(b) != crc {
        return Err(SnapshotError::Checksum);
    }
    let mut r = Reader { b, i: 0 };
    // An entry takes at least 38 bytes: bound the allocation by what the bytes can hold.
    let mut out = Vec::with_capacity((series as usize).min(b.len() / 38));
    for _ in 0..series {
        let at = r.i;
        let e = SegmentIndexEntry {
            labels: r.labels()?,
            offset: r.u64()?,
            len: r.u32()?,
            count: r.u32()?,
            min_ts: r.u64()? as i64,
            max_ts: r.u64()? as i64,
            crc: r.u32()?,
        };
        let end = e.offset.checked_add(u64::from(e.len));
        if e.offset < SEGMENT_HEADER_LEN as u64 || end.is_none_or(|end| end > index_offset) || e.min_ts > e.max_ts {
            return Err(SnapshotError::Malformed(at));
        }
        out.push(e);
    }
    if r.i != b.len() {
        return Err(SnapshotError::Malformed(r.i));
    }
    Ok(out)
}

/// Decodes one series record of a version-2 segment (the bytes its index entry names), checking the
/// entry's CRC, count and time range. Never panics, whatever the bytes.
pub fn decode_segment_record(b: &[u8], entry: &SegmentIndexEntry) -> Result<(Labels, Vec<Exemplar>), SnapshotError> {
    if crc32c::crc32c(b) != entry.crc {
        return Err(SnapshotError::Checksum);
    }
    let mut r = Reader { b, i: 0 };
    let mut one = r.series_records(1)?;
    let (labels, ex) = one.pop().ok_or(SnapshotError::Malformed(0))?;
    let (lo, hi) = ts_range(&ex);
    if labels != entry.labels || ex.len() != entry.count as usize || lo != entry.min_ts || hi != entry.max_ts {
        return Err(SnapshotError::Malformed(0));
    }
    Ok((labels, ex))
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        let end = self
            .i
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or(SnapshotError::Malformed(self.i))?;
        let s = &self.b[self.i..end];
        self.i = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, SnapshotError> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, SnapshotError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
    fn str(&mut self) -> Result<String, SnapshotError> {
        let at = self.i;
        let n = self.u16()? as usize;
        let s = self.take(n)?;
        std::str::from_utf8(s)
            .map(str::to_owned)
            .map_err(|_| SnapshotError::Utf8(at))
    }
    fn labels(&mut self) -> Result<Labels, SnapshotError> {
        let n = self.u16()? as usize;
        let mut v = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let name = self.str()?;
            let value = self.str()?;
            v.push(Label {
                name: name.into(),
                value: value.into(),
            });
        }
        Ok(Labels::from_unsorted(v))
    }
}

impl Reader<'_> {
    fn series_records(&mut self, n: usize) -> Result<SeriesList, SnapshotError> {
        let len = self.b.len();
        // Each series record takes at least 6 bytes: bound the allocation by what the bytes can hold.
        let mut out = Vec::with_capacity(n.min(len / 6));
        for _ in 0..n {
            let labels = self.labels()?;
            let k = self.u32()? as usize;
            let mut ex = Vec::with_capacity(k.min(len / 19));
            for _ in 0..k {
                let ts = self.u64()? as i64;
                let value = f64::from_bits(self.u64()?);
                let has_ts = match self.take(1)?[0] {
                    0 => false,
                    1 => true,
                    _ => return Err(SnapshotError::Malformed(self.i - 1)),
                };
                let labels = self.labels()?;
                ex.push(Exemplar {
                    labels,
                    value,
                    ts,
                    has_ts,
                });
            }
            out.push((labels, ex));
        }
        if self.i != len {
            return Err(SnapshotError::Malformed(self.i));
        }
        Ok(out)
    }
}

/// Checks length, magic, version range and CRC; returns the body (without the CRC).
fn checked<'a>(b: &'a [u8], magic: &[u8; 4], versions: &[u8], min_len: usize) -> Result<&'a [u8], SnapshotError> {
    if b.len() < min_len {
        return Err(SnapshotError::Truncated(b.len()));
    }
    if &b[..4] != magic {
        return Err(SnapshotError::BadMagic);
    }
    if !versions.contains(&b[4]) {
        return Err(SnapshotError::Version(b[4]));
    }
    let (body, crc) = b.split_at(b.len() - 4);
    if crc32c::crc32c(body) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err(SnapshotError::Checksum);
    }
    Ok(body)
}

/// Decodes a snapshot. Never panics, whatever the bytes.
pub fn decode(b: &[u8]) -> Result<SeriesList, SnapshotError> {
    decode_with_seq(b).map(|(_, s)| s)
}

/// Decodes a snapshot and its `sealed_seq` (0 for version 1). Never panics, whatever the bytes.
pub fn decode_with_seq(b: &[u8]) -> Result<(u64, SeriesList), SnapshotError> {
    let body = checked(b, MAGIC, &[1, 2], 16)?;
    let mut r = Reader { b: body, i: 8 };
    let seq = if b[4] >= 2 { r.u64()? } else { 0 };
    let n = r.u32()? as usize;
    Ok((seq, r.series_records(n)?))
}

/// Decodes the fixed header of a segment from its first [`SEGMENT_HEADER_LEN`] bytes (no CRC check: that
/// needs the whole file). Never panics.
pub fn decode_segment_header(b: &[u8]) -> Result<SegmentHeader, SnapshotError> {
    if b.len() < SEGMENT_HEADER_LEN {
        return Err(SnapshotError::Truncated(b.len()));
    }
    if &b[..4] != SEGMENT_MAGIC {
        return Err(SnapshotError::BadMagic);
    }
    if !(1..=SEGMENT_VERSION).contains(&b[4]) {
        return Err(SnapshotError::Version(b[4]));
    }
    let mut r = Reader {
        b: &b[..SEGMENT_HEADER_LEN],
        i: 8,
    };
    let h = SegmentHeader {
        seq: r.u64()?,
        sealed_before: r.u64()? as i64,
        min_ts: r.u64()? as i64,
        max_ts: r.u64()? as i64,
        exemplars: r.u64()?,
        series: r.u32()?,
    };
    Ok(h)
}

/// Decodes a whole segment (version 1 or 2): CRC, header, every record, and for version 2 the index,
/// which must describe the records exactly; the header's counts and time range must match the records.
/// Never panics, whatever the bytes.
pub fn decode_segment(b: &[u8]) -> Result<(SegmentHeader, SeriesList), SnapshotError> {
    let body = checked(b, SEGMENT_MAGIC, &[1, SEGMENT_VERSION], SEGMENT_HEADER_LEN + 4)?;
    let h = decode_segment_header(body)?;
    let (records, index) = if body[4] >= 2 {
        let t = body
            .len()
            .checked_sub(SEGMENT_TRAILER_LEN - 4)
            .ok_or(SnapshotError::Truncated(b.len()))?;
        let (index_offset, index_crc) = decode_segment_trailer(&b[t..])?;
        let at = usize::try_from(index_offset)
            .ok()
            .filter(|&o| o >= SEGMENT_HEADER_LEN && o <= t)
            .ok_or(SnapshotError::Malformed(t))?;
        let index = decode_segment_index(&body[at..t], index_crc, h.series, index_offset)?;
        (&body[..at], Some(index))
    } else {
        (body, None)
    };
    let mut r = Reader {
        b: records,
        i: SEGMENT_HEADER_LEN,
    };
    let series = r.series_records(h.series as usize)?;
    if let Some(index) = index {
        let mut at = SEGMENT_HEADER_LEN as u64;
        for (e, (labels, ex)) in index.iter().zip(&series) {
            let ok = e.offset == at
                && &e.labels == labels
                && e.count as usize == ex.len()
                && (e.min_ts, e.max_ts) == ts_range(ex);
            if !ok {
                return Err(SnapshotError::Malformed(e.offset as usize));
            }
            at += u64::from(e.len);
        }
        if at != records.len() as u64 {
            return Err(SnapshotError::Malformed(records.len()));
        }
    }
    let all = || series.iter().flat_map(|(_, ex)| ex.iter());
    let n = all().count() as u64;
    let (lo, hi) = (
        all().map(|e| e.ts).min().unwrap_or(0),
        all().map(|e| e.ts).max().unwrap_or(0),
    );
    if n != h.exemplars || lo != h.min_ts || hi != h.max_ts {
        return Err(SnapshotError::Malformed(8));
    }
    Ok((h, series))
}

/// Writes `bytes` as `dir/name` atomically: `name.tmp`, fsync, rename, directory fsync.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

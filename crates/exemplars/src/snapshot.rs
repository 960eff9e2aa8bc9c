//! The head snapshot file (`docs/format/exemplars.md`): encode, decode (for untrusted bytes: never
//! panics), and the atomic write (tmp, fsync, rename, directory fsync).

use std::io::Write;
use std::path::Path;

use diamond_model::{Exemplar, Label, Labels};

const MAGIC: &[u8; 4] = b"DXEX";
const VERSION: u8 = 1;

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

/// Encodes series (labels, exemplars in time order).
pub fn encode(series: &[(Labels, Vec<Exemplar>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + series.len() * 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[VERSION, 0, 0, 0]);
    out.extend_from_slice(&(series.len() as u32).to_le_bytes());
    for (labels, ex) in series {
        put_labels(&mut out, labels);
        out.extend_from_slice(&(ex.len() as u32).to_le_bytes());
        for e in ex {
            out.extend_from_slice(&e.ts.to_le_bytes());
            out.extend_from_slice(&e.value.to_bits().to_le_bytes());
            out.push(u8::from(e.has_ts));
            put_labels(&mut out, &e.labels);
        }
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
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
            v.push(Label { name, value });
        }
        Ok(Labels::from_unsorted(v))
    }
}

/// Decodes a snapshot. Never panics, whatever the bytes.
pub fn decode(b: &[u8]) -> Result<Vec<(Labels, Vec<Exemplar>)>, SnapshotError> {
    if b.len() < 16 {
        return Err(SnapshotError::Truncated(b.len()));
    }
    if &b[..4] != MAGIC {
        return Err(SnapshotError::BadMagic);
    }
    if b[4] != VERSION {
        return Err(SnapshotError::Version(b[4]));
    }
    let (body, crc) = b.split_at(b.len() - 4);
    if crc32c::crc32c(body) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err(SnapshotError::Checksum);
    }
    let mut r = Reader { b: body, i: 8 };
    let n = r.u32()? as usize;
    // Each series record takes at least 6 bytes: bound the allocation by what the bytes can hold.
    let mut out = Vec::with_capacity(n.min(body.len() / 6));
    for _ in 0..n {
        let labels = r.labels()?;
        let k = r.u32()? as usize;
        let mut ex = Vec::with_capacity(k.min(body.len() / 19));
        for _ in 0..k {
            let ts = r.u64()? as i64;
            let value = f64::from_bits(r.u64()?);
            let has_ts = match r.take(1)?[0] {
                0 => false,
                1 => true,
                _ => return Err(SnapshotError::Malformed(r.i - 1)),
            };
            let labels = r.labels()?;
            ex.push(Exemplar {
                labels,
                value,
                ts,
                has_ts,
            });
        }
        out.push((labels, ex));
    }
    if r.i != body.len() {
        return Err(SnapshotError::Malformed(r.i));
    }
    Ok(out)
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

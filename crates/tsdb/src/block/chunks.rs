//! Chunk segment files of a block (`chunks/000001`, …): docs/format/chunks.md "Chunk segment files".

use std::sync::Arc;

use super::Error;
use super::enc::{Decbuf, put_uvarint};
use crate::fs::{Dir, File, Mapped};

/// Magic number at the start of every chunk segment file.
pub(crate) const MAGIC_CHUNKS: u32 = 0x85BD_40DD;
/// Header: magic, version, 3 padding bytes.
pub(crate) const HEADER_SIZE: usize = 8;
/// Files are cut before they would pass this size.
pub(crate) const MAX_SEGMENT_SIZE: u64 = 512 << 20;
/// The XOR float encoding.
pub(crate) const ENC_XOR: u8 = 1;

/// The file name of segment `seq` (0-based): `000001` for 0.
pub(crate) fn segment_name(seq: u32) -> String {
    format!("{:06}", u64::from(seq) + 1)
}

/// Appends chunks to the segment files of one block being written.
pub(crate) struct ChunkWriter {
    dir: Arc<dyn Dir>,
    cur: Option<Box<dyn File>>,
    seq: u32,
    /// Bytes in the current file.
    pos: u64,
    /// Final sizes of the files written so far (including the current one once finished).
    pub(crate) sizes: Vec<u64>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    pub(crate) fn new(dir: Arc<dyn Dir>) -> Self {
        ChunkWriter {
            dir,
            cur: None,
            seq: 0,
            pos: 0,
            sizes: Vec::new(),
            buf: Vec::with_capacity(1 << 16),
        }
    }

    fn io(op: &str, e: std::io::Error) -> Error {
        Error::Io {
            op: format!("writing chunks: {op}"),
            source: e,
        }
    }

    /// Writes one XOR chunk and returns its reference.
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<u64, Error> {
        let need = 10 + 1 + data.len() as u64 + 4;
        if self.cur.is_some() && self.pos + need > MAX_SEGMENT_SIZE {
            self.finish_file()?;
        }
        if self.cur.is_none() {
            let name = segment_name(self.seq);
            let f = self.dir.create(&name).map_err(|e| Self::io(&name, e))?;
            self.cur = Some(f);
            let mut h = MAGIC_CHUNKS.to_be_bytes().to_vec();
            h.extend_from_slice(&[1, 0, 0, 0]);
            self.buf.extend_from_slice(&h);
            self.pos = HEADER_SIZE as u64;
        }
        let r = (u64::from(self.seq) << 32) | self.pos;
        let start = self.buf.len();
        put_uvarint(&mut self.buf, data.len() as u64);
        let crc_from = self.buf.len();
        self.buf.push(ENC_XOR);
        self.buf.extend_from_slice(data);
        let crc = crc32c::crc32c(&self.buf[crc_from..]);
        self.buf.extend_from_slice(&crc.to_be_bytes());
        self.pos += (self.buf.len() - start) as u64;
        if self.buf.len() >= 1 << 20 {
            self.flush()?;
        }
        Ok(r)
    }

    fn flush(&mut self) -> Result<(), Error> {
        if let Some(f) = &mut self.cur
            && !self.buf.is_empty()
        {
            f.write_all(&self.buf).map_err(|e| Self::io("write", e))?;
        }
        self.buf.clear();
        Ok(())
    }

    fn finish_file(&mut self) -> Result<(), Error> {
        self.flush()?;
        if let Some(mut f) = self.cur.take() {
            f.sync().map_err(|e| Self::io("fsync", e))?;
            self.sizes.push(self.pos);
            self.seq += 1;
        }
        Ok(())
    }

    /// Flushes and fsyncs the last file and the directory.
    pub(crate) fn finish(mut self) -> Result<Vec<u64>, Error> {
        self.finish_file()?;
        self.dir.sync_dir().map_err(|e| Self::io("fsync dir", e))?;
        Ok(self.sizes)
    }
}

/// Checks the header of a mapped segment file.
pub(crate) fn check_segment(name: &str, b: &[u8]) -> Result<(), String> {
    let mut d = Decbuf::new(b);
    match (d.be32(), d.byte()) {
        (Some(MAGIC_CHUNKS), Some(1)) => Ok(()),
        (Some(MAGIC_CHUNKS), v) => Err(format!("chunk file {name}: unsupported version {v:?}")),
        _ => Err(format!("chunk file {name}: bad magic")),
    }
}

/// The XOR data of the chunk at `r` in `files`, its CRC verified.
pub(crate) fn read_chunk(files: &[Mapped], r: u64) -> Result<&[u8], String> {
    let seq = (r >> 32) as usize;
    let off = (r & 0xffff_ffff) as usize;
    let f = files
        .get(seq)
        .ok_or_else(|| format!("chunk ref {r:#x}: no segment file {}", seq + 1))?;
    if off < HEADER_SIZE || off >= f.len() {
        return Err(format!("chunk ref {r:#x}: offset outside file"));
    }
    let mut d = Decbuf::new(&f[off..]);
    let bad = || format!("chunk ref {r:#x}: truncated");
    let len = usize::try_from(d.uvarint().ok_or_else(bad)?).map_err(|_| bad())?;
    let enc_and_data = d.bytes(len.checked_add(1).ok_or_else(bad)?).ok_or_else(bad)?;
    let crc = d.be32().ok_or_else(bad)?;
    if crc32c::crc32c(enc_and_data) != crc {
        return Err(format!("chunk ref {r:#x}: checksum mismatch"));
    }
    if enc_and_data[0] != ENC_XOR {
        return Err(format!("chunk ref {r:#x}: unsupported encoding {}", enc_and_data[0]));
    }
    Ok(&enc_and_data[1..])
}

/// The XOR data of the chunk at `r`, without checking the CRC (already checked by the querier).
pub(crate) fn read_chunk_unchecked(files: &[Mapped], r: u64) -> &[u8] {
    let seq = (r >> 32) as usize;
    let off = (r & 0xffff_ffff) as usize;
    let Some(f) = files.get(seq) else { return &[] };
    let Some(rest) = f.get(off..) else { return &[] };
    let mut d = Decbuf::new(rest);
    let Some(len) = d.uvarint().and_then(|l| usize::try_from(l).ok()) else {
        return &[];
    };
    match d.bytes(len.saturating_add(1)) {
        Some(b) => &b[1..],
        None => &[],
    }
}

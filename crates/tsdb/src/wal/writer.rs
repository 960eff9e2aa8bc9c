//! Appending records to segments.

use std::sync::Arc;

use super::{Error, FRAG_FIRST, FRAG_FULL, FRAG_LAST, FRAG_MIDDLE, HEADER_SIZE, PAGE_SIZE, segment_name};
use crate::fs::{Dir, File};

/// Appends records to the active segment; rotates segments; fsyncs on request. A failed write or fsync
/// poisons it (see docs/format/wal.md "Durability and fsync policy").
pub struct WalWriter {
    dir: Arc<dyn Dir>,
    file: Box<dyn File>,
    segment: u32,
    /// The active file's name, for errors.
    name: String,
    /// Bytes written to the active segment.
    seg_off: usize,
    seg_size: usize,
    buf: Vec<u8>,
    dirty: bool,
    poisoned: Option<String>,
    /// Segments created by this writer.
    pub segments_created: u64,
    /// Bytes written by this writer.
    pub bytes_written: u64,
    /// Fsyncs of segment files done by this writer.
    pub fsyncs: u64,
}

impl WalWriter {
    /// Starts segment `segment` (creating or truncating it) with segments of `seg_size` bytes (rounded up
    /// to whole pages, at least one page).
    pub fn create(dir: Arc<dyn Dir>, segment: u32, seg_size: usize) -> Result<WalWriter, Error> {
        let seg_size = seg_size.max(1).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let file = dir
            .create(&segment_name(segment))
            .map_err(|e| Error::io(format!("creating segment {segment}"), e))?;
        // The new entry must survive power loss before anything in it counts as durable.
        dir.sync_dir().map_err(|e| Error::io("syncing wal directory", e))?;
        Ok(WalWriter::fresh(
            dir,
            file,
            segment,
            format!("segment {segment}"),
            seg_size,
        ))
    }

    /// A writer at the start of the freshly created `file`.
    fn fresh(dir: Arc<dyn Dir>, file: Box<dyn File>, segment: u32, name: String, seg_size: usize) -> WalWriter {
        WalWriter {
            dir,
            file,
            segment,
            name,
            seg_off: 0,
            seg_size,
            buf: Vec::new(),
            dirty: false,
            poisoned: None,
            segments_created: 1,
            bytes_written: 0,
            fsyncs: 0,
        }
    }

    /// A writer of the page format onto the one file `name` (created or truncated), which it never
    /// rotates: a checkpoint being written, streamed rather than built in memory.
    pub(crate) fn create_single(dir: Arc<dyn Dir>, name: &str) -> Result<WalWriter, Error> {
        let file = dir.create(name).map_err(|e| Error::io(format!("creating {name}"), e))?;
        // Never full: `log` rotates only when a record does not fit.
        let seg_size = (usize::MAX / 4) / PAGE_SIZE * PAGE_SIZE;
        Ok(WalWriter::fresh(dir, file, 0, name.to_owned(), seg_size))
    }

    /// The active segment's index.
    pub fn segment(&self) -> u32 {
        self.segment
    }

    /// Whether an earlier failure stopped the writer, and why.
    pub fn poisoned(&self) -> Option<&str> {
        self.poisoned.as_deref()
    }

    /// Whether data was written since the last fsync.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Appends `records` with a single `write(2)` (two around a segment rotation). On return `Ok` the bytes
    /// are in the kernel; call [`WalWriter::sync`] for power-loss durability.
    pub fn log(&mut self, records: &[Vec<u8>]) -> Result<(), Error> {
        if let Some(p) = &self.poisoned {
            return Err(Error::Poisoned(p.clone()));
        }
        let r = self.log_inner(records);
        if let Err(e) = &r {
            self.poison(e);
        }
        r
    }

    fn log_inner(&mut self, records: &[Vec<u8>]) -> Result<(), Error> {
        self.buf.clear();
        for rec in records {
            let pos = self.seg_off + self.buf.len();
            if pos > 0 && rec.len() > self.capacity(pos) {
                self.flush()?;
                self.rotate()?;
            }
            self.encode(rec);
        }
        self.flush()
    }

    /// Data bytes that still fit in the active segment from position `pos`.
    fn capacity(&self, pos: usize) -> usize {
        let page_rem = PAGE_SIZE - pos % PAGE_SIZE;
        let here = page_rem.saturating_sub(HEADER_SIZE);
        let page_end = (pos / PAGE_SIZE + 1) * PAGE_SIZE;
        let rest_pages = self.seg_size.saturating_sub(page_end) / PAGE_SIZE;
        here + rest_pages * (PAGE_SIZE - HEADER_SIZE)
    }

    fn encode(&mut self, rec: &[u8]) {
        let mut data = rec;
        let mut first = true;
        loop {
            let pos = self.seg_off + self.buf.len();
            let page_rem = PAGE_SIZE - pos % PAGE_SIZE;
            if page_rem <= HEADER_SIZE {
                // No room for a header and one byte: zero-pad to the next page.
                self.buf.resize(self.buf.len() + page_rem, 0);
                continue;
            }
            let n = data.len().min(page_rem - HEADER_SIZE);
            let last = n == data.len();
            let typ = match (first, last) {
                (true, true) => FRAG_FULL,
                (true, false) => FRAG_FIRST,
                (false, false) => FRAG_MIDDLE,
                (false, true) => FRAG_LAST,
            };
            let (frag, rest) = data.split_at(n);
            self.buf.push(typ);
            // `n < PAGE_SIZE` always fits 16 bits.
            self.buf.extend_from_slice(&(n as u16).to_be_bytes());
            self.buf.extend_from_slice(&crc32c::crc32c(frag).to_be_bytes());
            self.buf.extend_from_slice(frag);
            data = rest;
            first = false;
            if last {
                return;
            }
        }
    }

    fn flush(&mut self) -> Result<(), Error> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let name = &self.name;
        self.file
            .write_all(&self.buf)
            .map_err(|e| Error::io(format!("writing {name}"), e))?;
        self.seg_off += self.buf.len();
        self.bytes_written += self.buf.len() as u64;
        self.buf.clear();
        self.dirty = true;
        Ok(())
    }

    /// Closes the active segment (fsynced) and starts the next one; returns the closed segment's index,
    /// the truncation point for a checkpoint. A failure poisons the writer.
    pub fn cut_segment(&mut self) -> Result<u32, Error> {
        if let Some(p) = &self.poisoned {
            return Err(Error::Poisoned(p.clone()));
        }
        let old = self.segment;
        if let Err(e) = self.rotate() {
            self.poison(&e);
            return Err(e);
        }
        Ok(old)
    }

    fn rotate(&mut self) -> Result<(), Error> {
        // A closed segment is never written again, so make it durable now.
        self.sync_inner()?;
        let next = self.segment + 1;
        self.file = self
            .dir
            .create(&segment_name(next))
            .map_err(|e| Error::io(format!("creating segment {next}"), e))?;
        self.dir.sync_dir().map_err(|e| Error::io("syncing wal directory", e))?;
        self.segment = next;
        self.name = format!("segment {next}");
        self.seg_off = 0;
        self.segments_created += 1;
        Ok(())
    }

    fn sync_inner(&mut self) -> Result<(), Error> {
        if !self.dirty {
            return Ok(());
        }
        let name = &self.name;
        self.file.sync().map_err(|e| Error::io(format!("fsyncing {name}"), e))?;
        self.dirty = false;
        self.fsyncs += 1;
        Ok(())
    }

    /// Fsyncs the active segment if anything was written since the last fsync.
    pub fn sync(&mut self) -> Result<(), Error> {
        if let Some(p) = &self.poisoned {
            return Err(Error::Poisoned(p.clone()));
        }
        let r = self.sync_inner();
        if let Err(e) = &r {
            self.poison(e);
        }
        r
    }

    /// Stops all further writes with `reason`.
    pub fn poison(&mut self, reason: &dyn std::error::Error) {
        if self.poisoned.is_none() {
            self.poisoned = Some(crate::error_chain(reason));
        }
    }
}

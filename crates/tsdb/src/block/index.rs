//! The block index (docs/format/index.md): [`IndexWriter`] streams series in label order and writes
//! postings and tables at the end; [`IndexReader`] reads a mapped index in place.

use std::collections::BTreeMap;

use diamond_model::{Label, Labels};
use roaring::RoaringBitmap;

use super::Error;
use super::enc::{Decbuf, put_str, put_uvarint, put_varint};
use crate::fs::{File, Mapped};

/// Magic number at the start of the index.
pub(crate) const MAGIC_INDEX: u32 = 0xBAAA_D700;
/// Index format version (Prometheus's v2).
pub(crate) const INDEX_VERSION: u8 = 2;
const TOC_LEN: usize = 6 * 8 + 4;

/// One chunk's entry in a series: `[min_time, max_time]` and its reference in the chunk files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    /// First sample's timestamp.
    pub min_time: i64,
    /// Last sample's timestamp.
    pub max_time: i64,
    /// `segment << 32 | offset` (docs/format/chunks.md).
    pub chunk_ref: u64,
}

fn io(op: &str, e: std::io::Error) -> Error {
    Error::Io {
        op: format!("writing index: {op}"),
        source: e,
    }
}

/// Writes an index file sequentially. Call [`IndexWriter::add_series`] in label order, then
/// [`IndexWriter::finish`].
pub(crate) struct IndexWriter {
    file: Box<dyn File>,
    buf: Vec<u8>,
    pos: u64,
    symbols: Vec<String>,
    symbols_ref: u64,
    series_ref: u64,
    last: Option<Labels>,
    /// (name ref, value ref) → series IDs, in ascending order of both (symbols are sorted).
    postings: BTreeMap<(u32, u32), Vec<u32>>,
    all: Vec<u32>,
}

impl IndexWriter {
    /// Starts an index with the given symbols (sorted, unique: every label name and value to be written).
    pub(crate) fn new(file: Box<dyn File>, mut symbols: Vec<String>) -> Result<Self, Error> {
        symbols.sort_unstable();
        symbols.dedup();
        let mut w = IndexWriter {
            file,
            buf: Vec::with_capacity(1 << 16),
            pos: 0,
            symbols,
            symbols_ref: 0,
            series_ref: 0,
            last: None,
            postings: BTreeMap::new(),
            all: Vec::new(),
        };
        w.put(&MAGIC_INDEX.to_be_bytes())?;
        w.put(&[INDEX_VERSION])?;
        w.symbols_ref = w.pos;
        let mut body = Vec::new();
        body.extend_from_slice(&(w.symbols.len() as u32).to_be_bytes());
        for s in &w.symbols {
            put_str(&mut body, s);
        }
        w.section(&body)?;
        Ok(w)
    }

    fn put(&mut self, b: &[u8]) -> Result<(), Error> {
        self.buf.extend_from_slice(b);
        self.pos += b.len() as u64;
        if self.buf.len() >= 1 << 20 {
            self.file.write_all(&self.buf).map_err(|e| io("write", e))?;
            self.buf.clear();
        }
        Ok(())
    }

    /// `len <4b> | body | CRC32 <4b>`.
    fn section(&mut self, body: &[u8]) -> Result<(), Error> {
        let len = u32::try_from(body.len()).map_err(|_| Error::TooLarge("index section over 4 GiB".into()))?;
        self.put(&len.to_be_bytes())?;
        self.put(body)?;
        self.put(&crc32c::crc32c(body).to_be_bytes())
    }

    fn align(&mut self, to: u64) -> Result<(), Error> {
        let pad = (to - self.pos % to) % to;
        if pad > 0 {
            self.put(&vec![0u8; pad as usize])?;
        }
        Ok(())
    }

    fn symbol(&self, s: &str) -> Result<u32, Error> {
        self.symbols
            .binary_search_by(|x| x.as_str().cmp(s))
            .map(|i| i as u32)
            .map_err(|_| Error::Invalid(format!("label string {s:?} missing from the symbol table")))
    }

    /// Adds a series with its chunks (ascending, non-overlapping); series must come in label order.
    pub(crate) fn add_series(&mut self, labels: &Labels, chunks: &[ChunkMeta]) -> Result<(), Error> {
        if let Some(l) = &self.last
            && l >= labels
        {
            return Err(Error::Invalid(format!("series {labels} out of order after {l}")));
        }
        if self.series_ref == 0 {
            self.align(16)?;
            self.series_ref = self.pos;
        }
        self.align(16)?;
        let id = u32::try_from(self.pos / 16).map_err(|_| Error::TooLarge("index over 64 GiB of series".into()))?;
        let mut body = Vec::with_capacity(16 + labels.len() * 4 + chunks.len() * 8);
        put_uvarint(&mut body, labels.len() as u64);
        for l in labels.iter() {
            let (n, v) = (self.symbol(&l.name)?, self.symbol(&l.value)?);
            put_uvarint(&mut body, u64::from(n));
            put_uvarint(&mut body, u64::from(v));
            self.postings.entry((n, v)).or_default().push(id);
        }
        self.all.push(id);
        put_uvarint(&mut body, chunks.len() as u64);
        let mut prev: Option<&ChunkMeta> = None;
        for c in chunks {
            match prev {
                None => {
                    put_varint(&mut body, c.min_time);
                    put_uvarint(&mut body, c.max_time.wrapping_sub(c.min_time) as u64);
                    put_uvarint(&mut body, c.chunk_ref);
                }
                Some(p) => {
                    if c.min_time <= p.max_time || c.max_time < c.min_time {
                        return Err(Error::Invalid(format!(
                            "series {labels}: chunks overlap or are unordered"
                        )));
                    }
                    put_uvarint(&mut body, (c.min_time - p.max_time) as u64);
                    put_uvarint(&mut body, (c.max_time - c.min_time) as u64);
                    put_varint(&mut body, c.chunk_ref.wrapping_sub(p.chunk_ref) as i64);
                }
            }
            prev = Some(c);
        }
        let mut head = Vec::with_capacity(10);
        put_uvarint(&mut head, body.len() as u64);
        self.put(&head)?;
        self.put(&body)?;
        self.put(&crc32c::crc32c(&body).to_be_bytes())?;
        self.last = Some(labels.clone());
        Ok(())
    }

    fn postings_list(&mut self, ids: &[u32]) -> Result<u64, Error> {
        self.align(4)?;
        let at = self.pos;
        let mut body = Vec::with_capacity(4 + ids.len() * 4);
        body.extend_from_slice(&(ids.len() as u32).to_be_bytes());
        for id in ids {
            body.extend_from_slice(&id.to_be_bytes());
        }
        self.section(&body)?;
        Ok(at)
    }

    /// Writes postings, tables and TOC; fsyncs the file. Returns the file size.
    pub(crate) fn finish(mut self) -> Result<u64, Error> {
        let postings_ref = if self.all.is_empty() { 0 } else { self.pos };
        let mut offsets: Vec<(u32, u32, u64)> = Vec::with_capacity(self.postings.len() + 1);
        let all = std::mem::take(&mut self.all);
        let all_at = self.postings_list(&all)?;
        let postings = std::mem::take(&mut self.postings);
        for ((n, v), ids) in &postings {
            let at = self.postings_list(ids)?;
            offsets.push((*n, *v, at));
        }
        self.align(4)?;
        let label_offsets_ref = self.pos;
        self.section(&0u32.to_be_bytes())?;
        let postings_offsets_ref = self.pos;
        let mut body = Vec::new();
        body.extend_from_slice(&(offsets.len() as u32 + 1).to_be_bytes());
        body.push(2);
        put_str(&mut body, "");
        put_str(&mut body, "");
        put_uvarint(&mut body, all_at);
        for (n, v, at) in offsets {
            body.push(2);
            put_str(&mut body, &self.symbols[n as usize]);
            put_str(&mut body, &self.symbols[v as usize]);
            put_uvarint(&mut body, at);
        }
        self.section(&body)?;
        let mut toc = Vec::with_capacity(TOC_LEN);
        for r in [
            self.symbols_ref,
            self.series_ref,
            0,
            label_offsets_ref,
            postings_ref.max(if all.is_empty() { 0 } else { all_at }),
            postings_offsets_ref,
        ] {
            toc.extend_from_slice(&r.to_be_bytes());
        }
        let crc = crc32c::crc32c(&toc);
        toc.extend_from_slice(&crc.to_be_bytes());
        self.put(&toc)?;
        let buf = std::mem::take(&mut self.buf);
        self.file.write_all(&buf).map_err(|e| io("write", e))?;
        self.file.sync().map_err(|e| io("fsync", e))?;
        Ok(self.pos)
    }
}

/// One entry of the postings offset table, pointing into the mapped file.
#[derive(Clone, Copy)]
struct PostingEntry {
    /// Offset of the value's `uvarint len` in the file.
    value_at: u32,
    /// Offset of the postings list.
    list_at: u64,
}

/// A label name's run of entries in the postings offset table.
struct NameEntry {
    name_at: u32,
    start: u32,
    end: u32,
}

/// Reads a mapped index in place. Holds 4 bytes per symbol and 16 per label pair in memory.
pub(crate) struct IndexReader {
    data: Mapped,
    symbols: Vec<u32>,
    names: Vec<NameEntry>,
    entries: Vec<PostingEntry>,
    all_at: Option<u64>,
}

fn corrupt(what: impl Into<String>) -> Error {
    Error::Corrupted(what.into())
}

/// Checks `len <4b> | body | CRC32` at `at` and returns the body.
fn section<'a>(data: &'a [u8], at: u64, what: &str) -> Result<&'a [u8], Error> {
    let at = usize::try_from(at).map_err(|_| corrupt(format!("{what}: offset")))?;
    let mut d = Decbuf::new(
        data.get(at..)
            .ok_or_else(|| corrupt(format!("{what}: offset outside file")))?,
    );
    let len = d.be32().ok_or_else(|| corrupt(format!("{what}: truncated")))? as usize;
    let body = d.bytes(len).ok_or_else(|| corrupt(format!("{what}: truncated")))?;
    let crc = d.be32().ok_or_else(|| corrupt(format!("{what}: truncated")))?;
    if crc32c::crc32c(body) != crc {
        return Err(corrupt(format!("{what}: checksum mismatch")));
    }
    Ok(body)
}

impl IndexReader {
    /// Opens a mapped index, verifying the header, the TOC and the tables read into memory.
    pub(crate) fn open(data: Mapped) -> Result<Self, Error> {
        let b: &[u8] = &data;
        let mut d = Decbuf::new(b);
        if d.be32() != Some(MAGIC_INDEX) {
            return Err(corrupt("index: bad magic"));
        }
        if d.byte() != Some(INDEX_VERSION) {
            return Err(corrupt("index: unsupported version"));
        }
        if b.len() < 5 + TOC_LEN {
            return Err(corrupt("index: too short for a TOC"));
        }
        let toc = &b[b.len() - TOC_LEN..];
        let (refs, crc) = toc.split_at(48);
        if crc32c::crc32c(refs) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err(corrupt("index: TOC checksum mismatch"));
        }
        let mut t = Decbuf::new(refs);
        let r: Vec<u64> = (0..6).filter_map(|_| t.be64()).collect();
        let (sym_ref, po_ref) = (r[0], r[5]);
        if r.iter().any(|&x| x >= (b.len() - TOC_LEN) as u64) {
            return Err(corrupt("index: TOC points outside the file"));
        }
        // Symbols: remember where each starts; check UTF-8 once so later reads need no check to succeed.
        let body = section(b, sym_ref, "index symbol table")?;
        let base = sym_ref as usize + 4;
        let mut d = Decbuf::new(body);
        let n = d.be32().ok_or_else(|| corrupt("index symbol table: truncated"))?;
        let mut symbols = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let at = base + (body.len() - d.len());
            let s = d.str_bytes().ok_or_else(|| corrupt("index symbol table: truncated"))?;
            std::str::from_utf8(s).map_err(|_| corrupt("index symbol table: invalid UTF-8"))?;
            symbols.push(u32::try_from(at).map_err(|_| Error::TooLarge("symbol table over 4 GiB".into()))?);
        }
        // Postings offset table.
        let body = section(b, po_ref, "index postings offset table")?;
        let base = po_ref as usize + 4;
        let mut d = Decbuf::new(body);
        let n = d.be32().ok_or_else(|| corrupt("postings offset table: truncated"))?;
        let mut names: Vec<NameEntry> = Vec::new();
        let mut entries: Vec<PostingEntry> = Vec::with_capacity(n as usize);
        let mut all_at = None;
        let mut prev: Option<(&[u8], &[u8])> = None;
        for _ in 0..n {
            let bad = || corrupt("postings offset table: truncated");
            if d.byte() != Some(2) {
                return Err(corrupt("postings offset table: entry is not a pair"));
            }
            let name_at = base + (body.len() - d.len());
            let name = d.str_bytes().ok_or_else(bad)?;
            let value_at = base + (body.len() - d.len());
            let value = d.str_bytes().ok_or_else(bad)?;
            let list_at = d.uvarint().ok_or_else(bad)?;
            if std::str::from_utf8(name).is_err() || std::str::from_utf8(value).is_err() {
                return Err(corrupt("postings offset table: invalid UTF-8"));
            }
            if prev.is_some_and(|p| p >= (name, value)) {
                return Err(corrupt("postings offset table: entries not sorted"));
            }
            prev = Some((name, value));
            if name.is_empty() {
                all_at = Some(list_at);
                continue;
            }
            let to32 = |x: usize| u32::try_from(x).map_err(|_| Error::TooLarge("index over 4 GiB".into()));
            let idx = to32(entries.len())?;
            entries.push(PostingEntry {
                value_at: to32(value_at)?,
                list_at,
            });
            match names.last_mut() {
                Some(ne) if str_at(b, ne.name_at as usize).as_bytes() == name => ne.end = idx + 1,
                _ => names.push(NameEntry {
                    name_at: to32(name_at)?,
                    start: idx,
                    end: idx + 1,
                }),
            }
        }
        Ok(IndexReader {
            data,
            symbols,
            names,
            entries,
            all_at,
        })
    }

    fn sym(&self, r: u32) -> Result<&str, Error> {
        let at = *self
            .symbols
            .get(r as usize)
            .ok_or_else(|| corrupt(format!("index: symbol ref {r} out of range")))?;
        Ok(str_at(&self.data, at as usize))
    }

    /// Sorted label names (other than the all-series entry).
    pub(crate) fn label_names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|n| str_at(&self.data, n.name_at as usize))
    }

    fn name_entry(&self, name: &str) -> Option<&NameEntry> {
        let i = self
            .names
            .binary_search_by(|n| str_at(&self.data, n.name_at as usize).cmp(name))
            .ok()?;
        Some(&self.names[i])
    }

    /// Whether any series has label `name`.
    pub(crate) fn has_name(&self, name: &str) -> bool {
        self.name_entry(name).is_some()
    }

    /// Sorted values of label `name` with their postings list offsets.
    pub(crate) fn values(&self, name: &str) -> impl Iterator<Item = (&str, u64)> {
        let range = self.name_entry(name).map_or(0..0, |n| n.start as usize..n.end as usize);
        self.entries[range]
            .iter()
            .map(|e| (str_at(&self.data, e.value_at as usize), e.list_at))
    }

    /// The postings list offset of `name=value`.
    pub(crate) fn lookup(&self, name: &str, value: &str) -> Option<u64> {
        let n = self.name_entry(name)?;
        let run = &self.entries[n.start as usize..n.end as usize];
        let i = run
            .binary_search_by(|e| str_at(&self.data, e.value_at as usize).cmp(value))
            .ok()?;
        Some(run[i].list_at)
    }

    /// The series IDs of the postings list at `at`.
    pub(crate) fn postings(&self, at: u64) -> Result<RoaringBitmap, Error> {
        let body = section(&self.data, at, "index postings list")?;
        let mut d = Decbuf::new(body);
        let n = d.be32().ok_or_else(|| corrupt("postings list: truncated"))?;
        if d.len() != n as usize * 4 {
            return Err(corrupt("postings list: length mismatch"));
        }
        let ids = (0..n).filter_map(|_| d.be32());
        RoaringBitmap::from_sorted_iter(ids).map_err(|_| corrupt("postings list: not sorted"))
    }

    /// Every series ID.
    pub(crate) fn all_postings(&self) -> Result<RoaringBitmap, Error> {
        match self.all_at {
            Some(at) => self.postings(at),
            None => Ok(RoaringBitmap::new()),
        }
    }

    /// The labels and chunk metas of series `id` (CRC checked).
    pub(crate) fn series(&self, id: u32, chunks: &mut Vec<ChunkMeta>) -> Result<Labels, Error> {
        let at = id as usize * 16;
        let bad = || corrupt(format!("index: series {id} truncated"));
        let mut d = Decbuf::new(self.data.get(at..).ok_or_else(bad)?);
        let len = usize::try_from(d.uvarint().ok_or_else(bad)?).map_err(|_| bad())?;
        let body = d.bytes(len).ok_or_else(bad)?;
        let crc = d.be32().ok_or_else(bad)?;
        if crc32c::crc32c(body) != crc {
            return Err(corrupt(format!("index: series {id} checksum mismatch")));
        }
        let mut d = Decbuf::new(body);
        let n = d.uvarint().ok_or_else(bad)?;
        let mut labels = Vec::with_capacity(n.min(64) as usize);
        for _ in 0..n {
            let (nr, vr) = (d.uvarint32().ok_or_else(bad)?, d.uvarint32().ok_or_else(bad)?);
            labels.push(Label {
                name: self.sym(nr)?.into(),
                value: self.sym(vr)?.into(),
            });
        }
        let k = d.uvarint().ok_or_else(bad)?;
        chunks.clear();
        let mut prev: Option<ChunkMeta> = None;
        for _ in 0..k {
            let c = match prev {
                None => {
                    let min_time = d.varint().ok_or_else(bad)?;
                    let max_time = min_time.wrapping_add(d.uvarint().ok_or_else(bad)? as i64);
                    let chunk_ref = d.uvarint().ok_or_else(bad)?;
                    ChunkMeta {
                        min_time,
                        max_time,
                        chunk_ref,
                    }
                }
                Some(p) => {
                    let min_time = p.max_time.wrapping_add(d.uvarint().ok_or_else(bad)? as i64);
                    let max_time = min_time.wrapping_add(d.uvarint().ok_or_else(bad)? as i64);
                    let chunk_ref = p.chunk_ref.wrapping_add(d.varint().ok_or_else(bad)? as u64);
                    ChunkMeta {
                        min_time,
                        max_time,
                        chunk_ref,
                    }
                }
            };
            chunks.push(c);
            prev = Some(c);
        }
        Ok(Labels::from_sorted(labels))
    }

    /// Every symbol, in order (for compaction's symbol table).
    pub(crate) fn symbols(&self) -> impl Iterator<Item = &str> {
        self.symbols.iter().map(|&at| str_at(&self.data, at as usize))
    }

    /// The index file's size in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.data.len() as u64
    }
}

/// The `uvarint len` + UTF-8 string at `at` (validated at open; "" if the map is somehow short).
fn str_at(b: &[u8], at: usize) -> &str {
    let Some(rest) = b.get(at..) else { return "" };
    let mut d = Decbuf::new(rest);
    d.str_bytes().and_then(|s| std::str::from_utf8(s).ok()).unwrap_or("")
}

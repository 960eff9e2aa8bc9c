//! [`Block`]: a block opened read-only, and [`BlockQuerier`], its `Querier`.

use std::sync::Arc;

use diamond_model::storage::{Querier, ReadError, SampleIter, Series, SeriesData};
use diamond_model::{Labels, MatchOp, Matcher, Timestamp};
use parking_lot::RwLock;
use roaring::RoaringBitmap;

use super::chunks::{check_segment, read_chunk, read_chunk_unchecked, segment_name};
use super::index::{ChunkMeta, IndexReader};
use super::tombstones::Tombstones;
use super::{BlockMeta, Error};
use crate::chunk::XorIter;
use crate::fs::{Dir, Mapped};

/// An open block. Share it as `Arc<Block>`; queriers keep it (and its maps) alive.
pub struct Block {
    meta: BlockMeta,
    index: IndexReader,
    chunks: Vec<Mapped>,
    /// Replaced as a whole by [`Block::delete`]; queriers keep the snapshot they started with.
    tombstones: RwLock<Arc<Tombstones>>,
    /// The block's directory (for rewriting `tombstones`).
    dir: Arc<dyn Dir>,
    size: u64,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// Reads and parses `<name>/meta.json`.
pub(crate) fn read_meta(root: &dyn Dir, name: &str) -> Result<BlockMeta, Error> {
    let d = root.subdir(name).map_err(|e| Error::io(format!("opening {name}"), e))?;
    let b = d
        .read("meta.json")
        .map_err(|e| Error::io(format!("reading {name}/meta.json"), e))?;
    let m: BlockMeta = serde_json::from_slice(&b).map_err(|e| Error::Corrupted(format!("{name}/meta.json: {e}")))?;
    if m.version != 1 {
        return Err(Error::Corrupted(format!(
            "{name}/meta.json: unsupported version {}",
            m.version
        )));
    }
    if m.ulid != name {
        return Err(Error::Corrupted(format!("{name}/meta.json names block {}", m.ulid)));
    }
    Ok(m)
}

impl Block {
    /// Opens block `name` in `root`, verifying `meta.json`, the file sizes it records, the chunk file
    /// headers, the index header, TOC and in-memory tables, and the tombstones checksum.
    pub fn open(root: &Arc<dyn Dir>, name: &str) -> Result<Block, Error> {
        let meta = read_meta(root.as_ref(), name)?;
        let d = root.subdir(name).map_err(|e| Error::io(format!("opening {name}"), e))?;
        let index_data = d
            .map("index")
            .map_err(|e| Error::io(format!("mapping {name}/index"), e))?;
        let cdir = d
            .subdir("chunks")
            .map_err(|e| Error::io(format!("opening {name}/chunks"), e))?;
        let mut names: Vec<String> = cdir
            .list()
            .map_err(|e| Error::io(format!("listing {name}/chunks"), e))?
            .into_iter()
            .filter(|n| n.len() == 6 && n.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        names.sort();
        let mut chunks = Vec::with_capacity(names.len());
        for (i, n) in names.iter().enumerate() {
            if *n != segment_name(i as u32) {
                return Err(Error::Corrupted(format!(
                    "{name}/chunks: missing file {}",
                    segment_name(i as u32)
                )));
            }
            let m = cdir
                .map(n)
                .map_err(|e| Error::io(format!("mapping {name}/chunks/{n}"), e))?;
            check_segment(n, &m).map_err(|e| Error::Corrupted(format!("{name}: {e}")))?;
            chunks.push(m);
        }
        if let Some(dm) = &meta.diamond {
            let got: Vec<u64> = chunks.iter().map(|m| m.len() as u64).collect();
            if got != dm.chunk_file_bytes {
                return Err(Error::Corrupted(format!(
                    "{name}: chunk file sizes {got:?}, meta.json says {:?}",
                    dm.chunk_file_bytes
                )));
            }
            if index_data.len() as u64 != dm.index_bytes {
                return Err(Error::Corrupted(format!(
                    "{name}: index is {} bytes, meta.json says {}",
                    index_data.len(),
                    dm.index_bytes
                )));
            }
        }
        let index = IndexReader::open(index_data).map_err(|e| match e {
            Error::Corrupted(m) => Error::Corrupted(format!("{name}: {m}")),
            e => e,
        })?;
        let tombstones = match d.read("tombstones") {
            Ok(b) => Tombstones::decode(&b)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Tombstones::new(),
            Err(e) => return Err(Error::io(format!("reading {name}/tombstones"), e)),
        };
        let size = index.len() + chunks.iter().map(|m| m.len() as u64).sum::<u64>();
        Ok(Block {
            meta,
            index,
            chunks,
            tombstones: RwLock::new(Arc::new(tombstones)),
            dir: d,
            size,
        })
    }

    /// `meta.json`.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// Bytes of the index and chunk files.
    pub fn size_bytes(&self) -> u64 {
        self.size
    }

    /// The block's tombstones (a snapshot: a later [`Block::delete`] does not change it).
    pub fn tombstones(&self) -> Arc<Tombstones> {
        Arc::clone(&self.tombstones.read())
    }

    /// Marks the samples with `mint <= t <= maxt` of the series matching all `matchers` deleted
    /// (docs/format/tombstones.md): each interval is clamped to the series' chunks, then the tombstones
    /// file is replaced (`tombstones.tmp`, fsync, rename, fsync of the block directory) before queries
    /// see the change. Returns how many series got an interval. No matchers delete nothing.
    pub fn delete(&self, mint: Timestamp, maxt: Timestamp, matchers: &[Matcher]) -> Result<u64, Error> {
        if matchers.is_empty() || mint > maxt || self.meta.min_time > maxt || self.meta.max_time <= mint {
            return Ok(0);
        }
        // Held across the file write: deletes on one block are serialised, readers keep their snapshot.
        let mut g = self.tombstones.write();
        let mut next = Tombstones::clone(&g);
        let mut metas = Vec::new();
        let mut n = 0u64;
        for id in &self.postings_for(matchers)? {
            self.index.series(id, &mut metas)?;
            let (Some(first), Some(last)) = (metas.first(), metas.last()) else {
                continue;
            };
            let (lo, hi) = (mint.max(first.min_time), maxt.min(last.max_time));
            if lo <= hi {
                next.add(id, lo, hi);
                n += 1;
            }
        }
        if n == 0 {
            return Ok(0);
        }
        write_tombstones(self.dir.as_ref(), &next)?;
        *g = Arc::new(next);
        Ok(n)
    }

    /// A querier over `[mint, maxt]`.
    pub fn querier(block: &Arc<Block>, mint: Timestamp, maxt: Timestamp) -> BlockQuerier {
        BlockQuerier {
            block: Arc::clone(block),
            tomb: block.tombstones(),
            mint,
            maxt,
        }
    }

    /// Every symbol of the index, sorted.
    pub fn symbols(&self) -> impl Iterator<Item = &str> {
        self.index.symbols()
    }

    /// Every series ID in label order.
    pub fn series_ids(&self) -> Result<Vec<u32>, Error> {
        Ok(self.index.all_postings()?.iter().collect())
    }

    /// The IDs of the series matching all of `matchers` (every series when empty), in label order;
    /// tombstones are not applied.
    pub fn series_matching(&self, matchers: &[Matcher]) -> Result<Vec<u32>, Error> {
        Ok(self.postings_for(matchers)?.iter().collect())
    }

    /// The labels and chunk metas of series `id` (as from [`Block::series_ids`]).
    pub fn series(&self, id: u32, chunks: &mut Vec<ChunkMeta>) -> Result<Labels, Error> {
        self.index.series(id, chunks)
    }

    /// The XOR bytes of a chunk, CRC verified.
    pub fn chunk(&self, chunk_ref: u64) -> Result<&[u8], Error> {
        read_chunk(&self.chunks, chunk_ref).map_err(|e| {
            let file = segment_name((chunk_ref >> 32) as u32);
            Error::Corrupted(format!("{}/chunks/{file}: {e}", self.meta.ulid))
        })
    }

    fn postings_for(&self, matchers: &[Matcher]) -> Result<RoaringBitmap, Error> {
        let ix = &self.index;
        let mut acc: Option<RoaringBitmap> = None;
        let mut subtract: Vec<RoaringBitmap> = Vec::new();
        for m in matchers {
            if m.matches_empty() {
                if !ix.has_name(&m.name) {
                    continue;
                }
                let bad = self.union_where(m, false)?;
                if !bad.is_empty() {
                    subtract.push(bad);
                }
            } else {
                let set = if m.op == MatchOp::Equal {
                    match ix.lookup(&m.name, &m.value) {
                        Some(at) => ix.postings(at)?,
                        None => RoaringBitmap::new(),
                    }
                } else {
                    self.union_where(m, true)?
                };
                acc = Some(match acc {
                    None => set,
                    Some(a) => a & set,
                });
            }
            if acc.as_ref().is_some_and(RoaringBitmap::is_empty) {
                return Ok(RoaringBitmap::new());
            }
        }
        let mut out = match acc {
            Some(a) => a,
            None => ix.all_postings()?,
        };
        for s in &subtract {
            out -= s;
        }
        Ok(out)
    }

    /// Union of the postings of every value of `m.name` for which `m.matches(value) == want`.
    fn union_where(&self, m: &Matcher, want: bool) -> Result<RoaringBitmap, Error> {
        let ix = &self.index;
        if !want && m.op == MatchOp::NotEqual {
            return match ix.lookup(&m.name, &m.value) {
                Some(at) => ix.postings(at),
                None => Ok(RoaringBitmap::new()),
            };
        }
        let mut out = RoaringBitmap::new();
        for (v, at) in ix.values(&m.name) {
            if m.matches(v) == want {
                out |= ix.postings(at)?;
            }
        }
        Ok(out)
    }
}

/// Replaces `dir/tombstones` with `t`, durably.
fn write_tombstones(dir: &dyn Dir, t: &Tombstones) -> Result<(), Error> {
    let mut f = dir
        .create("tombstones.tmp")
        .map_err(|e| Error::io("creating tombstones.tmp", e))?;
    f.write_all(&t.encode())
        .map_err(|e| Error::io("writing tombstones.tmp", e))?;
    f.sync().map_err(|e| Error::io("fsync tombstones.tmp", e))?;
    drop(f);
    dir.rename("tombstones.tmp", "tombstones")
        .map_err(|e| Error::io("renaming tombstones.tmp", e))?;
    // Without this the rename may be lost on power loss, and the delete with it.
    dir.sync_dir().map_err(|e| Error::io("fsync block directory", e))
}

/// Reads a [`Block`] over `[mint, maxt]`.
pub struct BlockQuerier {
    block: Arc<Block>,
    /// The tombstones when the querier was opened.
    tomb: Arc<Tombstones>,
    mint: Timestamp,
    maxt: Timestamp,
}

fn read_err(e: Error) -> ReadError {
    match e {
        Error::Corrupted(m) => ReadError::Corrupted(m),
        e => ReadError::Other(crate::error_chain(&e)),
    }
}

fn deleted(tomb: &[(i64, i64)], t: i64) -> bool {
    tomb.iter().any(|&(a, z)| a <= t && t <= z)
}

impl BlockQuerier {
    fn overlaps(&self) -> bool {
        self.block.meta.min_time <= self.maxt && self.block.meta.max_time > self.mint
    }

    /// The series matching `matchers` with a sample in range, as (id, labels, chunks in range).
    fn matching(&self, matchers: &[Matcher]) -> Result<Vec<(u32, Labels, Vec<ChunkMeta>)>, Error> {
        let mut out = Vec::new();
        if !self.overlaps() {
            return Ok(out);
        }
        let ids = self.block.postings_for(matchers)?;
        let mut metas = Vec::new();
        let (mint, maxt) = (self.mint, self.maxt);
        for id in &ids {
            let labels = self.block.index.series(id, &mut metas)?;
            let in_range: Vec<ChunkMeta> = metas
                .iter()
                .filter(|c| c.max_time >= mint && c.min_time <= maxt)
                .copied()
                .collect();
            if in_range.is_empty() {
                continue;
            }
            let tomb = self.tomb.get(id);
            let mut any = false;
            for c in &in_range {
                // Verify every chunk the query may read, so damage is an error rather than missing data.
                let data = self.block.chunk(c.chunk_ref)?;
                if any {
                    continue;
                }
                let bounds_in = (mint..=maxt).contains(&c.min_time) || (mint..=maxt).contains(&c.max_time);
                if bounds_in && tomb.is_empty() {
                    any = true;
                    continue;
                }
                for s in XorIter::new(data) {
                    let (t, _) = s.map_err(|e| Error::Corrupted(format!("{}: chunk: {e}", self.block.meta.ulid)))?;
                    if t >= mint && t <= maxt && !deleted(tomb, t) {
                        any = true;
                        break;
                    }
                }
            }
            if any {
                out.push((id, labels, in_range));
            }
        }
        Ok(out)
    }
}

impl Querier for BlockQuerier {
    fn select(&self, matchers: &[Matcher]) -> Result<Vec<Series>, ReadError> {
        let found = self.matching(matchers).map_err(read_err)?;
        Ok(found
            .into_iter()
            .map(|(id, labels, chunks)| Series {
                labels,
                data: Arc::new(BlockSeries {
                    block: Arc::clone(&self.block),
                    tomb: self.tomb.get(id).to_vec(),
                    chunks,
                    mint: self.mint,
                    maxt: self.maxt,
                }),
            })
            .collect())
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, ReadError> {
        if !self.overlaps() {
            return Ok(Vec::new());
        }
        // Without matchers the index answers, unless deletions may have emptied a series.
        if matchers.is_empty() && self.tomb.is_empty() {
            return Ok(self.block.index.label_names().map(str::to_owned).collect());
        }
        let mut names: Vec<String> = self
            .matching(matchers)
            .map_err(read_err)?
            .into_iter()
            .flat_map(|(_, l, _)| l.into_vec().into_iter().map(|x| x.name.into_string()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, ReadError> {
        if !self.overlaps() {
            return Ok(Vec::new());
        }
        if matchers.is_empty() && self.tomb.is_empty() {
            return Ok(self.block.index.values(name).map(|(v, _)| v.to_owned()).collect());
        }
        let mut vals: Vec<String> = self
            .matching(matchers)
            .map_err(read_err)?
            .into_iter()
            .filter_map(|(_, l, _)| l.get(name).map(str::to_owned))
            .collect();
        vals.sort();
        vals.dedup();
        Ok(vals)
    }
}

/// A selected series of a block: its chunks in range (CRC already verified).
struct BlockSeries {
    block: Arc<Block>,
    chunks: Vec<ChunkMeta>,
    tomb: Vec<(i64, i64)>,
    mint: Timestamp,
    maxt: Timestamp,
}

impl SeriesData for BlockSeries {
    fn iter(&self, mint: Timestamp, maxt: Timestamp) -> Box<dyn SampleIter + '_> {
        let (mint, maxt) = (mint.max(self.mint), maxt.min(self.maxt));
        Box::new(BlockIter {
            block: &self.block,
            chunks: &self.chunks,
            tomb: &self.tomb,
            next_chunk: 0,
            cur: None,
            mint,
            maxt,
            done: mint > maxt,
        })
    }
}

struct BlockIter<'a> {
    block: &'a Block,
    chunks: &'a [ChunkMeta],
    tomb: &'a [(i64, i64)],
    next_chunk: usize,
    cur: Option<(XorIter<'a>, Timestamp)>,
    mint: Timestamp,
    maxt: Timestamp,
    done: bool,
}

impl BlockIter<'_> {
    /// Moves to the next chunk overlapping the range; false when there is none.
    fn open_next(&mut self) -> bool {
        while !self.done {
            let Some(c) = self.chunks.get(self.next_chunk) else {
                self.done = true;
                return false;
            };
            self.next_chunk += 1;
            if c.max_time < self.mint {
                continue;
            }
            if c.min_time > self.maxt {
                self.done = true;
                return false;
            }
            let data = read_chunk_unchecked(&self.block.chunks, c.chunk_ref);
            self.cur = Some((XorIter::new(data), c.max_time));
            return true;
        }
        false
    }
}

impl SampleIter for BlockIter<'_> {
    fn next(&mut self) -> Option<(Timestamp, f64)> {
        while !self.done {
            if let Some((it, _)) = &mut self.cur {
                match it.next_sample() {
                    Ok(Some((t, v))) => {
                        if t < self.mint || deleted(self.tomb, t) {
                            continue;
                        }
                        if t > self.maxt {
                            self.done = true;
                            return None;
                        }
                        return Some((t, v));
                    }
                    // The querier decoded and CRC-checked the chunk already; an error cannot recur.
                    Ok(None) | Err(_) => self.cur = None,
                }
                continue;
            }
            if !self.open_next() {
                return None;
            }
        }
        None
    }

    fn fill(&mut self, out: &mut Vec<(Timestamp, f64)>) {
        if !self.tomb.is_empty() {
            // Deleted samples are rare: the sample-by-sample path drops them.
            while let Some(s) = self.next() {
                out.push(s);
            }
            return;
        }
        while !self.done {
            if self.cur.is_some() {
                self.done = crate::chunk::xor::drain_chunk(&mut self.cur, self.mint, self.maxt, out);
            } else if !self.open_next() {
                return;
            }
        }
    }

    fn seek(&mut self, target: Timestamp) -> Option<(Timestamp, f64)> {
        if target > self.mint {
            self.mint = target;
        }
        if self.cur.as_ref().is_some_and(|(_, max)| *max < self.mint) {
            self.cur = None;
        }
        if self.cur.is_none() {
            while self.chunks.get(self.next_chunk).is_some_and(|c| c.max_time < self.mint) {
                self.next_chunk += 1;
            }
        }
        self.next()
    }
}

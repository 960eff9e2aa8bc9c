//! [`BlockWriter`]: writes one block in a temporary directory and renames it into place
//! (docs/format/block-meta.md "Writing a block").

use std::sync::Arc;

use diamond_model::Labels;

use super::chunks::ChunkWriter;
use super::index::{ChunkMeta, IndexWriter};
use super::tombstones::Tombstones;
use super::{BlockDesc, BlockMeta, BlockStats, Compaction, DiamondMeta, Error, TMP_CREATION, new_ulid};
use crate::fs::Dir;

/// One chunk handed to the writer: its XOR bytes (docs/format/chunks.md) and sample time range.
#[derive(Debug, Clone, Copy)]
pub struct ChunkData<'a> {
    /// First sample's timestamp.
    pub min_time: i64,
    /// Last sample's timestamp.
    pub max_time: i64,
    /// The XOR chunk.
    pub data: &'a [u8],
}

/// Writes a block. Feed series with [`BlockWriter::add_series`] in label order; [`BlockWriter::finish`]
/// makes it durable under its final name. Dropped unfinished, it removes its temporary directory.
pub struct BlockWriter {
    root: Arc<dyn Dir>,
    ulid: String,
    tmp: String,
    dir: Arc<dyn Dir>,
    chunks: Option<ChunkWriter>,
    index: Option<IndexWriter>,
    min_time: i64,
    max_time: i64,
    stats: BlockStats,
    metas: Vec<ChunkMeta>,
    done: bool,
}

impl BlockWriter {
    /// Starts a block for `[min_time, max_time)` in `root` (the data directory). `symbols` must hold every
    /// label name and value of the series to come (duplicates and order do not matter).
    pub fn new(root: Arc<dyn Dir>, min_time: i64, max_time: i64, symbols: Vec<String>) -> Result<Self, Error> {
        let ulid = new_ulid();
        let tmp = format!("{ulid}{TMP_CREATION}");
        let dir = root.subdir(&tmp).map_err(|e| Error::io(format!("creating {tmp}"), e))?;
        let mk = || -> Result<(ChunkWriter, IndexWriter), Error> {
            let cdir = dir.subdir("chunks").map_err(|e| Error::io("creating chunks/", e))?;
            let f = dir.create("index").map_err(|e| Error::io("creating index", e))?;
            Ok((ChunkWriter::new(cdir), IndexWriter::new(f, symbols)?))
        };
        let (chunks, index) = match mk() {
            Ok(x) => x,
            Err(e) => {
                let _ = root.remove_dir_all(&tmp);
                return Err(e);
            }
        };
        Ok(BlockWriter {
            root,
            ulid,
            tmp,
            dir,
            chunks: Some(chunks),
            index: Some(index),
            min_time,
            max_time,
            stats: BlockStats::default(),
            metas: Vec::new(),
            done: false,
        })
    }

    /// The ULID the block will have.
    pub fn ulid(&self) -> &str {
        &self.ulid
    }

    /// Adds a series with its chunks (ascending, non-overlapping, inside the block's range). Series come in
    /// ascending label order; a series without chunks is skipped.
    pub fn add_series(&mut self, labels: &Labels, chunks: &[ChunkData<'_>]) -> Result<(), Error> {
        if chunks.is_empty() {
            return Ok(());
        }
        let (Some(cw), Some(iw)) = (self.chunks.as_mut(), self.index.as_mut()) else {
            return Err(Error::Invalid("writer already finished".into()));
        };
        self.metas.clear();
        for c in chunks {
            if c.min_time < self.min_time || c.max_time >= self.max_time || c.max_time < c.min_time {
                return Err(Error::Invalid(format!(
                    "series {labels}: chunk [{}, {}] outside block [{}, {})",
                    c.min_time, c.max_time, self.min_time, self.max_time
                )));
            }
            let r = cw.write(c.data)?;
            self.metas.push(ChunkMeta {
                min_time: c.min_time,
                max_time: c.max_time,
                chunk_ref: r,
            });
            self.stats.num_samples += u64::from(u16::from_be_bytes([
                c.data.first().copied().unwrap_or(0),
                c.data.get(1).copied().unwrap_or(0),
            ]));
        }
        iw.add_series(labels, &self.metas)?;
        self.stats.num_series += 1;
        self.stats.num_chunks += chunks.len() as u64;
        Ok(())
    }

    /// Series added so far.
    pub fn num_series(&self) -> u64 {
        self.stats.num_series
    }

    /// Finishes the block: index, tombstones, `meta.json`, fsyncs, rename, fsync of `root`. Returns `None`
    /// (and writes nothing) when no series was added. `sources` empty means "this block itself".
    pub fn finish(
        mut self,
        level: u32,
        sources: Vec<String>,
        parents: Vec<BlockDesc>,
    ) -> Result<Option<BlockMeta>, Error> {
        if self.stats.num_series == 0 {
            return Ok(None);
        }
        let (Some(cw), Some(iw)) = (self.chunks.take(), self.index.take()) else {
            return Err(Error::Invalid("writer already finished".into()));
        };
        let chunk_file_bytes = cw.finish()?;
        let index_bytes = iw.finish()?;
        let d = &self.dir;
        let write = |name: &str, data: &[u8]| -> Result<(), Error> {
            let mut f = d.create(name).map_err(|e| Error::io(format!("creating {name}"), e))?;
            f.write_all(data).map_err(|e| Error::io(format!("writing {name}"), e))?;
            f.sync().map_err(|e| Error::io(format!("fsync {name}"), e))
        };
        write("tombstones", &Tombstones::new().encode())?;
        let meta = BlockMeta {
            ulid: self.ulid.clone(),
            min_time: self.min_time,
            max_time: self.max_time,
            stats: self.stats.clone(),
            compaction: Compaction {
                level: level.max(1),
                sources: if sources.is_empty() {
                    vec![self.ulid.clone()]
                } else {
                    sources
                },
                parents,
            },
            version: 1,
            diamond: Some(DiamondMeta {
                index_bytes,
                chunk_file_bytes,
            }),
        };
        let json = serde_json::to_vec_pretty(&meta).map_err(|e| Error::Invalid(format!("encoding meta.json: {e}")))?;
        write("meta.json", &json)?;
        d.sync_dir().map_err(|e| Error::io("fsync block dir", e))?;
        // The rename publishes the block; fsync the parent so the new name survives power loss.
        self.root
            .rename(&self.tmp, &self.ulid)
            .map_err(|e| Error::io(format!("renaming {} into place", self.tmp), e))?;
        self.done = true;
        self.root.sync_dir().map_err(|e| Error::io("fsync data dir", e))?;
        Ok(Some(meta))
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        if !self.done {
            // Best effort: open removes leftovers too.
            let _ = self.root.remove_dir_all(&self.tmp);
        }
    }
}

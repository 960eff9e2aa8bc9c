//! Rewriting a block without its deleted samples (`clean_tombstones`).

use std::sync::Arc;

use super::{Block, BlockDesc, BlockMeta, BlockWriter, ChunkData, ChunkMeta, Error};
use crate::chunk::{XorIter, encode_chunks};
use crate::fs::Dir;

/// Writes a copy of `block` into `root` without the samples its tombstones delete, with an empty
/// tombstones file, and returns the new block's meta (`None` when nothing is left, so the caller just
/// deletes the old block). Chunks that no interval touches are copied as they are; touched chunks are
/// decoded and re-encoded without the deleted samples. The copy keeps the block's time range, level and
/// sources (it holds the same data minus deletions, so the compaction planner treats it alike) and names
/// the old block as its parent. The caller swaps the two: open the new block, publish it in place of
/// the old one, delete the old directory. A crash in between leaves both, which is safe: the old block
/// still has its tombstones, and overlapping blocks are merged with duplicates removed.
pub fn rewrite_without_tombstones(root: &Arc<dyn Dir>, block: &Block) -> Result<Option<BlockMeta>, Error> {
    let tomb = block.tombstones();
    let meta = block.meta();
    let mut w = BlockWriter::new(
        Arc::clone(root),
        meta.min_time,
        meta.max_time,
        block.symbols().map(str::to_owned).collect(),
    )?;
    let mut metas: Vec<ChunkMeta> = Vec::new();
    for id in block.series_ids()? {
        let labels = block.series(id, &mut metas)?;
        let deleted = tomb.get(id);
        let is_deleted = |t: i64| deleted.iter().any(|&(a, z)| a <= t && t <= z);
        let mut owned: Vec<(i64, i64, Box<[u8]>)> = Vec::new();
        // (index into `owned`, or the original chunk)
        let mut parts: Vec<Result<usize, ChunkMeta>> = Vec::with_capacity(metas.len());
        for c in &metas {
            let touched = deleted.iter().any(|&(a, z)| a <= c.max_time && z >= c.min_time);
            if !touched {
                parts.push(Err(*c));
                continue;
            }
            let data = block.chunk(c.chunk_ref)?;
            let mut kept = Vec::new();
            for s in XorIter::new(data) {
                let (t, v) = s.map_err(|e| Error::Corrupted(format!("{}: chunk: {e}", meta.ulid)))?;
                if !is_deleted(t) {
                    kept.push((t, v));
                }
            }
            for e in encode_chunks(kept, i64::MAX) {
                parts.push(Ok(owned.len()));
                owned.push(e);
            }
        }
        let mut cd: Vec<ChunkData<'_>> = Vec::with_capacity(parts.len());
        for p in &parts {
            cd.push(match p {
                Ok(i) => ChunkData {
                    min_time: owned[*i].0,
                    max_time: owned[*i].1,
                    data: &owned[*i].2,
                },
                Err(c) => ChunkData {
                    min_time: c.min_time,
                    max_time: c.max_time,
                    data: block.chunk(c.chunk_ref)?,
                },
            });
        }
        w.add_series(&labels, &cd)?;
    }
    let parent = BlockDesc {
        ulid: meta.ulid.clone(),
        min_time: meta.min_time,
        max_time: meta.max_time,
    };
    w.finish(meta.compaction.level, meta.compaction.sources.clone(), vec![parent])
}

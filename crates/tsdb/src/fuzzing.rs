//! Bodies of cargo-fuzz targets that need a valid artifact to damage, shared with the proptests that run
//! them on stable (`tests/it/fuzz_bodies.rs`): whatever the bytes, opening and reading must return
//! errors, never panic.
//!
//! - [`block_files`]: a valid two-series block in a [`MemDir`] with one of its files (`meta.json`,
//!   `index`, `chunks/000001`, `tombstones`) replaced by, or overlaid with, the input; the block is opened
//!   and, when it opens, read through every entry point the querier and the tools use.

use std::sync::{Arc, OnceLock};

use diamond_model::storage::Querier as _;
use diamond_model::{Labels, MatchOp, Matcher};

use crate::block::{Block, BlockWriter, ChunkData, Tombstones};
use crate::chunk::XorAppender;
use crate::fs::{Dir, MemDir};

/// A block's name and its files, by path relative to the block.
type BlockFiles = (String, Vec<(String, Vec<u8>)>);

/// The files of one valid block.
fn seed_block() -> &'static BlockFiles {
    static SEED: OnceLock<BlockFiles> = OnceLock::new();
    SEED.get_or_init(|| {
        let mem = MemDir::new();
        let root: Arc<dyn Dir> = Arc::new(mem.clone());
        let symbols = ["__name__", "up", "job", "a", "b", "instance", "h:1"]
            .map(String::from)
            .to_vec();
        let mut w = BlockWriter::new(Arc::clone(&root), 0, 7_200_000, symbols).expect("a MemDir block writer");
        for job in ["a", "b"] {
            let l = Labels::from_pairs(&[("__name__", "up"), ("instance", "h:1"), ("job", job)]);
            let mut c = XorAppender::new();
            for i in 0..50 {
                c.append(1_000 + i * 15_000, (i % 3) as f64);
            }
            w.add_series(
                &l,
                &[ChunkData {
                    min_time: 1_000,
                    max_time: 1_000 + 49 * 15_000,
                    data: c.bytes(),
                }],
            )
            .expect("adding a series");
        }
        let meta = w
            .finish(1, Vec::new(), Vec::new())
            .expect("finishing the seed block")
            .expect("the seed block has series");
        let mut t = Tombstones::new();
        t.add(1, 0, 20_000);
        let name = meta.ulid.clone();
        let mut files = Vec::new();
        let d = root.subdir(&name).expect("the block's directory");
        for f in ["meta.json", "index"] {
            files.push((f.to_owned(), d.read(f).expect("a block file")));
        }
        let cd = d.subdir("chunks").expect("the chunks directory");
        for f in cd.list().expect("listing chunks") {
            files.push((format!("chunks/{f}"), cd.read(&f).expect("a chunk file")));
        }
        files.push(("tombstones".to_owned(), t.encode()));
        (name, files)
    })
}

/// See the module docs. The first input byte picks the file and the mode: replace the file with the
/// rest of the input, or overlay the rest at an offset given by the next two bytes (so mutations keep
/// most of a valid file and reach the checks behind its header), or truncate it there. Returns the
/// number of samples read through the querier when the block opened.
pub fn block_files(data: &[u8]) -> Option<usize> {
    let (name, files) = seed_block();
    let (&sel, rest) = data.split_first().unwrap_or((&0, &[]));
    let target = usize::from(sel >> 2) % files.len();
    let mem = MemDir::new();
    for (i, (path, bytes)) in files.iter().enumerate() {
        let mut b = bytes.clone();
        if i == target {
            match sel & 3 {
                0 => b = rest.to_vec(),
                1 | 2 if rest.len() >= 2 => {
                    let at = usize::from(u16::from_le_bytes([rest[0], rest[1]])) % (b.len() + 1);
                    if sel & 3 == 1 {
                        for (k, &x) in rest[2..].iter().enumerate() {
                            match b.get_mut(at + k) {
                                Some(slot) => *slot = x,
                                None => b.push(x),
                            }
                        }
                    } else {
                        b.truncate(at);
                    }
                }
                _ => b.extend_from_slice(rest),
            }
        }
        mem.put(&format!("{name}/{path}"), b);
    }
    let root: Arc<dyn Dir> = Arc::new(mem);
    let block = Block::open(&root, name).ok()?;
    let block = Arc::new(block);
    let _ = block.symbols().count();
    let mut metas = Vec::new();
    if let Ok(ids) = block.series_ids() {
        for id in ids {
            if block.series(id, &mut metas).is_ok() {
                for m in &metas {
                    let _ = block.chunk(m.chunk_ref);
                }
            }
        }
    }
    let q = Block::querier(&block, i64::MIN, i64::MAX);
    let matchers = [
        Vec::new(),
        vec![Matcher::equal("job", "a")],
        Matcher::new(MatchOp::Regex, "__name__", "u.*")
            .map(|m| vec![m])
            .unwrap_or_default(),
        Matcher::new(MatchOp::NotEqual, "instance", "")
            .map(|m| vec![m])
            .unwrap_or_default(),
    ];
    let mut samples = 0;
    for ms in &matchers {
        if let Ok(series) = q.select(ms) {
            for s in series {
                let mut it = s.data.iter(i64::MIN, i64::MAX);
                while it.next().is_some() {
                    samples += 1;
                }
            }
        }
        let _ = q.label_names(ms);
        let _ = q.label_values("job", ms);
    }
    Some(samples)
}

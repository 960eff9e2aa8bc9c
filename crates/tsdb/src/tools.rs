//! Read-only access to a data directory for the `diamond tsdb analyze` and `diamond tsdb dump` tools
//! (Prometheus's `promtool tsdb analyze` / `dump`).
//!
//! [`DataDir::open`] opens every block of a data directory without changing anything on disk (no
//! partial-artifact removal, no setting aside, no WAL repair), and optionally replays the head from a
//! copy of `wal/` held in memory, so the tools can run next to a live server and on a damaged directory.
//! [`DataDir::querier`] merges blocks and head exactly as [`Db`]'s querier does. [`analyze`] computes
//! promtool's block analysis: churn, label pair counts, label cardinality.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use diamond_model::storage::{Querier, Queryable, ReadError};
use diamond_model::{Matcher, Timestamp};

use crate::block::{self, Block, BlockMeta};
use crate::fs::{Dir, DiskDir, MemDir};
use crate::querier::MergeQuerier;
use crate::{Db, FsyncPolicy, Options, wal};

/// Failures of the tools, each naming the file or directory involved.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// Reading a directory or file failed.
    #[error("reading {path}")]
    Io {
        /// What was read.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A block could not be opened or read (damaged, or not in the expected format).
    #[error("block {path}")]
    Block {
        /// The block directory.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: block::Error,
    },
    /// The WAL copy could not be replayed.
    #[error("replaying the WAL in {path}")]
    Wal {
        /// The `wal` directory.
        path: PathBuf,
        /// What failed.
        #[source]
        source: crate::Error,
    },
    /// The data directory holds no block.
    #[error("no block found in {0}")]
    NoBlock(PathBuf),
    /// `--block` names a block that is not there.
    #[error("block {id} not found in {path}")]
    BlockNotFound {
        /// The ULID asked for.
        id: String,
        /// The data directory.
        path: PathBuf,
    },
}

/// A data directory opened read-only: its blocks, and the head replayed from a copy of its WAL.
pub struct DataDir {
    path: PathBuf,
    blocks: Vec<Arc<Block>>,
    head: Option<Db>,
    wal_damage: Option<String>,
}

impl std::fmt::Debug for DataDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataDir")
            .field("path", &self.path)
            .field("blocks", &self.blocks.len())
            .field("head", &self.head.is_some())
            .finish_non_exhaustive()
    }
}

impl DataDir {
    /// Opens the blocks of `path` (every ULID-named directory; temporary, deleted and set-aside ones are
    /// skipped) and, when `with_head`, replays `path/wal` (if present) into an in-memory head. Nothing in
    /// `path` is written: the WAL's segments and checkpoint are copied into memory first (so memory use
    /// grows with the WAL's size, as the head does in the server), and any repair of a damaged tail
    /// happens in the copy ([`DataDir::wal_damage`] says what was found). A block that does not open is an
    /// error naming its directory.
    pub fn open(path: &Path, with_head: bool) -> Result<DataDir, ToolError> {
        let io = |p: &Path, e| ToolError::Io {
            path: p.to_path_buf(),
            source: e,
        };
        let root: Arc<dyn Dir> = Arc::new(DiskDir::open(path).map_err(|e| io(path, e))?);
        let mut names = root.list_dirs().map_err(|e| io(path, e))?;
        names.retain(|n| block::is_ulid(n));
        names.sort();
        let mut blocks = Vec::with_capacity(names.len());
        for n in &names {
            let b = Block::open(&root, n).map_err(|source| ToolError::Block {
                path: path.join(n),
                source,
            })?;
            blocks.push(Arc::new(b));
        }
        // Obsolete parents of a compacted or rewritten block (a crash left both) are not read twice.
        let parents: BTreeSet<String> = blocks
            .iter()
            .flat_map(|b| b.meta().compaction.parents.iter().map(|p| p.ulid.clone()))
            .collect();
        blocks.retain(|b| !parents.contains(&b.meta().ulid));
        blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
        let (head, wal_damage) = if with_head {
            let wal_path = path.join("wal");
            match copy_wal(&wal_path)? {
                Some(mem) => {
                    let floor = blocks.iter().map(|b| b.meta().max_time).max();
                    let db = Db::open_read_only_head(Arc::new(mem), floor, read_only_options()).map_err(|source| {
                        ToolError::Wal {
                            path: wal_path.clone(),
                            source,
                        }
                    })?;
                    let damage = db.stats().replay_corruption;
                    (Some(db), damage)
                }
                None => (None, None),
            }
        } else {
            (None, None)
        };
        Ok(DataDir {
            path: path.to_path_buf(),
            blocks,
            head,
            wal_damage,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The blocks, by time.
    pub fn blocks(&self) -> &[Arc<Block>] {
        &self.blocks
    }

    /// Damage found in the WAL copy (records after it were not replayed), if any.
    pub fn wal_damage(&self) -> Option<&str> {
        self.wal_damage.as_deref()
    }

    /// Series in the replayed head (0 without one).
    pub fn head_series(&self) -> u64 {
        self.head.as_ref().map_or(0, |h| h.stats().num_series)
    }

    /// Block `id`, or, when `None`, the most recently created one (the highest ULID, as promtool's
    /// `analyze` picks).
    pub fn block(&self, id: Option<&str>) -> Result<&Arc<Block>, ToolError> {
        match id {
            Some(id) => self
                .blocks
                .iter()
                .find(|b| b.meta().ulid == id)
                .ok_or_else(|| ToolError::BlockNotFound {
                    id: id.to_owned(),
                    path: self.path.clone(),
                }),
            None => self
                .blocks
                .iter()
                .max_by(|a, b| a.meta().ulid.cmp(&b.meta().ulid))
                .ok_or_else(|| ToolError::NoBlock(self.path.clone())),
        }
    }

    /// A querier over blocks and head for `[mint, maxt]`, merged as the server merges them (series by
    /// labels, samples by timestamp with duplicates removed, tombstones applied).
    pub fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, ReadError> {
        let mut parts: Vec<Box<dyn Querier>> = self
            .blocks
            .iter()
            .filter(|b| b.meta().min_time <= maxt && b.meta().max_time > mint)
            .map(|b| Box::new(Block::querier(b, mint, maxt)) as Box<dyn Querier>)
            .collect();
        if let Some(h) = &self.head {
            parts.push(h.querier(mint, maxt)?);
        }
        Ok(Box::new(MergeQuerier { parts }))
    }
}

fn read_only_options() -> Options {
    Options {
        max_exemplars: 0,
        exemplar_policy: diamond_exemplars::Policy::Circular,
        compaction_interval: None,
        // No syncer thread: nothing is ever written that matters.
        wal_fsync: FsyncPolicy::Always,
        ..Options::default()
    }
}

/// The segment and checkpoint files of `wal`, copied into memory; `None` when there is no `wal`.
fn copy_wal(wal: &Path) -> Result<Option<MemDir>, ToolError> {
    let io = |p: &Path, e| ToolError::Io {
        path: p.to_path_buf(),
        source: e,
    };
    if !wal.is_dir() {
        return Ok(None);
    }
    let disk = DiskDir::open(wal).map_err(|e| io(wal, e))?;
    let mem = MemDir::new();
    for name in disk.list().map_err(|e| io(wal, e))? {
        if wal::parse_segment_name(&name).is_some() || wal::parse_checkpoint_name(&name).is_some() {
            let data = disk.read(&name).map_err(|e| io(&wal.join(&name), e))?;
            mem.put(&name, data);
        }
    }
    Ok(Some(mem))
}

/// promtool's block analysis (`promtool tsdb analyze`). Every list is complete and sorted by its number,
/// highest first, then by key; a caller shows the first `--limit` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// The block's `meta.json`.
    pub meta: BlockMeta,
    /// Series matching the selector, when one was given.
    pub matched_series: Option<u64>,
    /// Distinct label names of the (matching) series.
    pub label_names: u64,
    /// Distinct label pairs.
    pub postings: u64,
    /// Label pairs summed over series.
    pub entries: u64,
    /// Per label pair: the block range its series do not cover, summed and divided by the range (how many
    /// series' worth of the pair came or went during the block).
    pub churn_pairs: Vec<(u64, String)>,
    /// The same per label name.
    pub churn_names: Vec<(u64, String)>,
    /// Per label pair: how many series have it.
    pub common_pairs: Vec<(u64, String)>,
    /// Per label name: the summed length of its distinct values.
    pub value_lengths: Vec<(u64, String)>,
    /// Per label name: how many distinct values it has.
    pub cardinality: Vec<(u64, String)>,
    /// Per metric name: how many series have it.
    pub metric_names: Vec<(u64, String)>,
}

fn sorted(m: BTreeMap<String, u64>) -> Vec<(u64, String)> {
    let mut v: Vec<(u64, String)> = m.into_iter().map(|(k, n)| (n, k)).collect();
    v.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    v
}

/// Analyses `block` (tombstones are not applied, as promtool reads the index): every series, or those
/// matching all of `matchers` when it is not empty.
pub fn analyze(block: &Block, matchers: &[Matcher]) -> Result<Analysis, block::Error> {
    let meta = block.meta().clone();
    let range = meta.max_time.saturating_sub(meta.min_time).max(0) as u64;
    let ids = block.series_matching(matchers)?;
    let mut uncovered_pairs: BTreeMap<String, u64> = BTreeMap::new();
    let mut uncovered_names: BTreeMap<String, u64> = BTreeMap::new();
    let mut pair_counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut entries = 0u64;
    let series = ids.len() as u64;
    let mut chunks = Vec::new();
    for id in ids {
        let labels = block.series(id, &mut chunks)?;
        let covered = match (chunks.first(), chunks.last()) {
            (Some(f), Some(l)) => l.max_time.saturating_sub(f.min_time).max(0) as u64,
            _ => 0,
        };
        let uncovered = range.saturating_sub(covered);
        for l in labels.iter() {
            let key = format!("{}={}", l.name, l.value);
            *uncovered_names.entry(l.name.to_string()).or_default() += uncovered;
            *uncovered_pairs.entry(key.clone()).or_default() += uncovered;
            *pair_counts.entry(key).or_default() += 1;
            values
                .entry(l.name.to_string())
                .or_default()
                .insert(l.value.to_string());
            entries += 1;
        }
    }
    let per_range = |m: BTreeMap<String, u64>| -> BTreeMap<String, u64> {
        m.into_iter()
            .map(|(k, v)| (k, v.checked_div(range).unwrap_or(0)))
            .collect()
    };
    let metric_names: BTreeMap<String, u64> = pair_counts
        .iter()
        .filter_map(|(k, n)| k.strip_prefix("__name__=").map(|m| (m.to_owned(), *n)))
        .collect();
    Ok(Analysis {
        matched_series: (!matchers.is_empty()).then_some(series),
        label_names: values.len() as u64,
        postings: pair_counts.len() as u64,
        entries,
        churn_pairs: sorted(per_range(uncovered_pairs)),
        churn_names: sorted(per_range(uncovered_names)),
        value_lengths: sorted(
            values
                .iter()
                .map(|(n, vs)| (n.clone(), vs.iter().map(|v| v.len() as u64).sum()))
                .collect(),
        ),
        cardinality: sorted(values.iter().map(|(n, vs)| (n.clone(), vs.len() as u64)).collect()),
        common_pairs: sorted(pair_counts),
        metric_names: sorted(metric_names),
        meta,
    })
}

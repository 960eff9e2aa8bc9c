//! The records of a WAL checkpoint (docs/format/wal.md "Checkpoints"): what replay needs of the segments
//! being dropped once a block holds everything before the head's new minimum time.

use diamond_model::Timestamp;

use super::Head;
use crate::fs::Dir;
use crate::record::{self, FamilyMetadata, Record, RefExemplar, RefSample, RefTombstone};
use crate::wal::{self, SegmentReader};

/// Records replacing the checkpoint (if any) and segments `..=upto`: a series record for every live
/// series, the current metadata, then the samples with `t >= mint` of live series found in those files,
/// and, when `exemplar_floor` is `Some(f)`, their exemplars with `ts >= f`; last, the head's tombstones of
/// live series ending at or after `mint`. Each record goes to `out` as soon as it is encoded (the
/// checkpoint writer streams them to its file), and the source files are read through `Dir::map`, so
/// memory holds about one record at a time, not the checkpoint.
pub(crate) fn checkpoint_records(
    head: &Head,
    dir: &dyn Dir,
    upto: u32,
    mint: Timestamp,
    exemplar_floor: Option<Timestamp>,
    out: &mut dyn FnMut(Vec<u8>) -> Result<(), wal::Error>,
) -> Result<(), wal::Error> {
    {
        let mut series = Vec::new();
        head.for_each_series(|s| series.push(std::sync::Arc::clone(s)));
        series.sort_unstable_by_key(|s| s.sref);
        // The symbol table's lock is held while one record of about a MiB is encoded, then released
        // while the record is written, so appends that add symbols wait at most that long.
        let mut rest = &series[..];
        while !rest.is_empty() {
            let mut buf = vec![record::TYPE_SERIES];
            let syms = head.symbols.read();
            while let Some((s, tail)) = rest.split_first() {
                record::encode_series_pairs(
                    u64::from(s.sref),
                    s.pairs().map(|(n, v)| (syms.get(n), syms.get(v))),
                    &mut buf,
                );
                rest = tail;
                if buf.len() > 1 << 20 {
                    break;
                }
            }
            drop(syms);
            out(buf)?;
        }
    }
    let meta: Vec<FamilyMetadata> = head
        .metadata
        .read()
        .iter()
        .map(|(f, m)| FamilyMetadata {
            family: f.clone(),
            meta: m.clone(),
        })
        .collect();
    if !meta.is_empty() {
        let mut b = Vec::new();
        record::encode_metadata(&meta, &mut b);
        out(b)?;
    }
    let names = dir.list().map_err(|e| wal::Error::io("listing wal", e))?;
    let mut files: Vec<(u32, String)> = names
        .iter()
        .filter_map(|n| wal::parse_checkpoint_name(n).map(|c| (c, n.clone())))
        .collect();
    files.sort();
    let mut segs: Vec<(u32, String)> = names
        .iter()
        .filter_map(|n| {
            wal::parse_segment_name(n)
                .filter(|&s| s <= upto)
                .map(|s| (s, n.clone()))
        })
        .collect();
    segs.sort();
    files.extend(segs);
    let live = |r: u64| head.series(r).is_some();
    for (idx, name) in files {
        let data = dir
            .map(&name)
            .map_err(|e| wal::Error::io(format!("reading {name}"), e))?;
        let mut rd = SegmentReader::new(&data, idx);
        // Damage here was already repaired (or reported) at open; stop at it as replay does.
        while let Ok(Some(rec)) = rd.next_record() {
            match record::decode_or_series(&rec) {
                Ok(Some(Record::Samples(v))) => {
                    let keep: Vec<RefSample> = v.into_iter().filter(|s| s.t >= mint && live(s.sref)).collect();
                    if !keep.is_empty() {
                        let mut b = Vec::new();
                        record::encode_samples(&keep, &mut b);
                        out(b)?;
                    }
                }
                Ok(Some(Record::Exemplars(v))) if exemplar_floor.is_some() => {
                    let floor = exemplar_floor.unwrap_or(Timestamp::MIN);
                    let keep: Vec<RefExemplar> = v
                        .into_iter()
                        .filter(|e| e.exemplar.ts >= floor && live(e.sref))
                        .collect();
                    if !keep.is_empty() {
                        let mut b = Vec::new();
                        record::encode_exemplars(&keep, &mut b);
                        out(b)?;
                    }
                }
                _ => {}
            }
        }
    }
    // Tombstones of live series still reaching the head (wal.md "Checkpoint rule"); replaying an interval
    // twice (it may also be in a later segment) is harmless.
    let stones: Vec<RefTombstone> = if head.tombstones.is_empty() {
        Vec::new()
    } else {
        head.tombstones
            .entries()
            .into_iter()
            .filter(|t| t.maxt >= mint && live(t.sref))
            .collect()
    };
    if !stones.is_empty() {
        let mut b = Vec::new();
        record::encode_tombstones(&stones, &mut b);
        out(b)?;
    }
    Ok(())
}

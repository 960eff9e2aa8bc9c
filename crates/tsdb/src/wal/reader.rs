//! Reading segments back, and repairing a damaged tail.

use std::borrow::Cow;

use super::{
    Error, FRAG_FIRST, FRAG_FULL, FRAG_LAST, FRAG_MIDDLE, FRAG_PADDING, HEADER_SIZE, PAGE_SIZE, list_segments,
    segment_name,
};
use crate::fs::Dir;

/// Decodes the records of one segment's bytes, in order, stopping at the first damage.
pub struct SegmentReader<'a> {
    data: &'a [u8],
    segment: u32,
    pos: usize,
    /// Fragments of a record in progress.
    partial: Vec<u8>,
    /// Where the record in progress started.
    record_start: usize,
    in_record: bool,
    failed: bool,
}

impl<'a> SegmentReader<'a> {
    /// A reader over `data`, the content of segment `segment` (the index is only used in errors).
    pub fn new(data: &'a [u8], segment: u32) -> Self {
        SegmentReader {
            data,
            segment,
            pos: 0,
            partial: Vec::new(),
            record_start: 0,
            in_record: false,
            failed: false,
        }
    }

    /// Offset just after the last record returned (where a repair would truncate on the next error).
    pub fn offset(&self) -> usize {
        if self.in_record { self.record_start } else { self.pos }
    }

    fn corrupt(&mut self, at: usize, reason: impl Into<String>) -> Error {
        self.failed = true;
        Error::Corrupted {
            segment: self.segment,
            offset: if self.in_record { self.record_start } else { at } as u64,
            reason: reason.into(),
        }
    }

    /// The next record; `Ok(None)` at a clean end of the segment.
    pub fn next_record(&mut self) -> Result<Option<Cow<'a, [u8]>>, Error> {
        if self.failed {
            return Ok(None);
        }
        loop {
            let pos = self.pos;
            if pos >= self.data.len() {
                if self.in_record {
                    return Err(self.corrupt(pos, "record unfinished at end of segment"));
                }
                return Ok(None);
            }
            let page_end = ((pos / PAGE_SIZE) + 1) * PAGE_SIZE;
            let page_rem = page_end - pos;
            if page_rem <= HEADER_SIZE {
                // The writer pads such a remainder with zeros.
                let end = page_end.min(self.data.len());
                if self.data[pos..end].iter().any(|&b| b != 0) {
                    return Err(self.corrupt(pos, "non-zero bytes in page padding"));
                }
                self.pos = end;
                continue;
            }
            let typ = self.data[pos];
            if typ == FRAG_PADDING {
                let end = page_end.min(self.data.len());
                if self.data[pos..end].iter().any(|&b| b != 0) {
                    return Err(self.corrupt(pos, "non-zero bytes in page padding"));
                }
                self.pos = end;
                continue;
            }
            if pos + HEADER_SIZE > self.data.len() {
                return Err(self.corrupt(pos, "fragment header truncated"));
            }
            let len = usize::from(u16::from_be_bytes([self.data[pos + 1], self.data[pos + 2]]));
            let crc = u32::from_be_bytes([
                self.data[pos + 3],
                self.data[pos + 4],
                self.data[pos + 5],
                self.data[pos + 6],
            ]);
            let start = pos + HEADER_SIZE;
            let end = start + len;
            if end > page_end {
                return Err(self.corrupt(pos, format!("fragment of {len} bytes crosses a page boundary")));
            }
            if end > self.data.len() {
                return Err(self.corrupt(pos, "fragment truncated"));
            }
            let frag = &self.data[start..end];
            if crc32c::crc32c(frag) != crc {
                return Err(self.corrupt(pos, "fragment checksum mismatch"));
            }
            match (typ, self.in_record) {
                (FRAG_FULL, false) => {
                    self.pos = end;
                    return Ok(Some(Cow::Borrowed(frag)));
                }
                (FRAG_FIRST, false) => {
                    self.partial.clear();
                    self.partial.extend_from_slice(frag);
                    self.record_start = pos;
                    self.in_record = true;
                    self.pos = end;
                }
                (FRAG_MIDDLE, true) => {
                    self.partial.extend_from_slice(frag);
                    self.pos = end;
                }
                (FRAG_LAST, true) => {
                    self.partial.extend_from_slice(frag);
                    self.pos = end;
                    self.in_record = false;
                    return Ok(Some(Cow::Owned(std::mem::take(&mut self.partial))));
                }
                (FRAG_FULL | FRAG_FIRST | FRAG_MIDDLE | FRAG_LAST, _) => {
                    return Err(self.corrupt(pos, format!("fragment type {typ} out of sequence")));
                }
                _ => return Err(self.corrupt(pos, format!("unknown fragment type {typ:#04x}"))),
            }
        }
    }
}

/// What [`replay`] found and repaired.
#[derive(Debug, Default, Clone)]
pub struct ReplayOutcome {
    /// Segment indexes read, in order.
    pub segments: Vec<u32>,
    /// Records delivered.
    pub records: u64,
    /// Bytes of segment files read.
    pub bytes: u64,
    /// The damage found (and repaired), if any.
    pub corruption: Option<String>,
    /// Bytes dropped by the repair (the damaged tail plus deleted segments).
    pub dropped_bytes: u64,
    /// Segments deleted by the repair.
    pub dropped_segments: Vec<u32>,
    /// The checkpoint replayed first, if any (its number: the last segment it replaces).
    pub checkpoint: Option<u32>,
}

impl ReplayOutcome {
    /// The index for the next segment a writer should create.
    pub fn next_segment(&self) -> u32 {
        let after_checkpoint = self.checkpoint.map_or(0, |c| c.saturating_add(1));
        self.segments.last().map_or(0, |s| s + 1).max(after_checkpoint)
    }
}

/// Reads every segment of `dir` in order, calling `f` with each record. At the first damage it truncates
/// the damaged segment where the damaged record starts, deletes every later segment, and returns normally
/// with the damage described in [`ReplayOutcome::corruption`]. I/O errors are returned.
pub fn replay(dir: &dyn Dir, mut f: impl FnMut(&[u8])) -> Result<ReplayOutcome, Error> {
    let mut out = ReplayOutcome::default();
    // The newest complete checkpoint replaces every segment up to its number (docs/format/wal.md
    // "Checkpoints"); leftovers of an interrupted checkpoint or truncation are removed here.
    let names = dir.list().map_err(|e| Error::io("listing wal", e))?;
    let newest = names.iter().filter_map(|n| super::parse_checkpoint_name(n)).max();
    for n in &names {
        let stale = n.ends_with(".tmp")
            || super::parse_checkpoint_name(n).is_some_and(|c| Some(c) != newest)
            || super::parse_segment_name(n).is_some_and(|s| newest.is_some_and(|c| s <= c));
        if stale {
            dir.remove(n).map_err(|e| Error::io(format!("removing stale {n}"), e))?;
        }
    }
    if let Some(c) = newest {
        let name = super::checkpoint_name(c);
        let data = dir.read(&name).map_err(|e| Error::io(format!("reading {name}"), e))?;
        out.bytes += data.len() as u64;
        out.checkpoint = Some(c);
        let mut r = SegmentReader::new(&data, c);
        loop {
            match r.next_record() {
                Ok(Some(rec)) => {
                    out.records += 1;
                    f(&rec);
                }
                Ok(None) => break,
                // A checkpoint is fsynced before it is renamed into place: damage is the disk's, not a torn
                // write. Keep what was readable and go on with the segments.
                Err(e) => {
                    tracing::error!(error = %e, "damaged WAL checkpoint; records after the damage are lost");
                    out.corruption = Some(e.to_string());
                    break;
                }
            }
        }
    }
    let segs = list_segments(dir)?;
    for (i, &seg) in segs.iter().enumerate() {
        let name = segment_name(seg);
        let data = dir
            .read(&name)
            .map_err(|e| Error::io(format!("reading segment {seg}"), e))?;
        out.segments.push(seg);
        out.bytes += data.len() as u64;
        let mut r = SegmentReader::new(&data, seg);
        let damage = loop {
            match r.next_record() {
                Ok(Some(rec)) => {
                    out.records += 1;
                    f(&rec);
                }
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        let Some(err) = damage else { continue };
        let Error::Corrupted { offset, .. } = &err else {
            return Err(err);
        };
        let offset = *offset;
        out.dropped_bytes += data.len() as u64 - offset;
        dir.truncate(&name, offset)
            .map_err(|e| Error::io(format!("truncating segment {seg}"), e))?;
        for &later in &segs[i + 1..] {
            let lname = segment_name(later);
            let len = dir.read(&lname).map(|d| d.len() as u64).unwrap_or(0);
            dir.remove(&lname)
                .map_err(|e| Error::io(format!("removing segment {later}"), e))?;
            out.dropped_bytes += len;
            out.dropped_segments.push(later);
        }
        // Truncation and deletions must be durable before new segments are written after them.
        dir.sync_dir().map_err(|e| Error::io("syncing wal directory", e))?;
        tracing::warn!(
            error = %err,
            dropped_bytes = out.dropped_bytes,
            dropped_segments = ?out.dropped_segments,
            "repaired damaged WAL tail; records after the damage were dropped"
        );
        out.corruption = Some(err.to_string());
        break;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::fs::DiskDir;
    use crate::wal::WalWriter;

    fn records_of(data: &[u8]) -> (Vec<Vec<u8>>, Option<Error>) {
        let mut r = SegmentReader::new(data, 0);
        let mut out = Vec::new();
        loop {
            match r.next_record() {
                Ok(Some(rec)) => out.push(rec.into_owned()),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    fn write_records(recs: &[Vec<u8>], batch: usize, seg_size: usize) -> (tempfile::TempDir, Arc<dyn Dir>) {
        let tmp = tempfile::tempdir().unwrap();
        let dir: Arc<dyn Dir> = Arc::new(DiskDir::open(tmp.path()).unwrap());
        let mut w = WalWriter::create(Arc::clone(&dir), 0, seg_size).unwrap();
        for chunk in recs.chunks(batch.max(1)) {
            w.log(chunk).unwrap();
        }
        (tmp, dir)
    }

    fn sample_records() -> Vec<Vec<u8>> {
        // Sizes chosen to produce full, first/middle/last fragments and page padding.
        [10usize, 40_000, 1, 32_760, 32_761, 32_754, 5, 70_000, 3]
            .iter()
            .enumerate()
            .map(|(i, &n)| (0..n).map(|j| (i * 31 + j * 7) as u8).collect())
            .collect()
    }

    #[test]
    fn round_trip_with_fragments_and_rotation() {
        let recs = sample_records();
        let (_tmp, dir) = write_records(&recs, 2, 3 * PAGE_SIZE);
        let mut got = Vec::new();
        let out = replay(dir.as_ref(), |r| got.push(r.to_vec())).unwrap();
        assert_eq!(got, recs);
        assert!(out.segments.len() > 1, "small segments must rotate: {:?}", out.segments);
        assert!(out.corruption.is_none());
    }

    /// Every truncation point keeps exactly the records that end before it.
    #[test]
    fn truncate_at_every_byte_of_tail() {
        let recs: Vec<Vec<u8>> = (0..40).map(|i| vec![i as u8; 900 + i * 37]).collect();
        let (_tmp, dir) = write_records(&recs, 3, 1 << 20);
        let data = dir.read("00000000").unwrap();
        let (all, err) = records_of(&data);
        assert!(err.is_none());
        assert_eq!(all, recs);
        // Record end offsets, to know what must survive each cut.
        let mut ends = Vec::new();
        let mut r = SegmentReader::new(&data, 0);
        while let Ok(Some(_)) = r.next_record() {
            ends.push(r.offset());
        }
        let from = data.len().saturating_sub(PAGE_SIZE + 100);
        for cut in from..data.len() {
            let (got, _err) = records_of(&data[..cut]);
            let want = ends.iter().filter(|&&e| e <= cut).count();
            assert_eq!(got.len(), want, "cut at {cut}");
            assert_eq!(&got[..], &recs[..want]);
        }
    }

    #[test]
    fn flipped_byte_keeps_prefix_and_repairs() {
        let recs: Vec<Vec<u8>> = (0..30).map(|i| vec![i as u8 + 1; 3000]).collect();
        for flip_at in [0usize, 7, 5_000, 40_000, 60_000, 89_000] {
            let (tmp, dir) = write_records(&recs, 1, 2 * PAGE_SIZE);
            // Concatenate to find which segment holds `flip_at`.
            let segs = list_segments(dir.as_ref()).unwrap();
            let mut acc = 0usize;
            let mut flipped_seg = None;
            for &s in &segs {
                let mut d = dir.read(&segment_name(s)).unwrap();
                if flip_at < acc + d.len() {
                    d[flip_at - acc] ^= 0xff;
                    std::fs::write(tmp.path().join(segment_name(s)), &d).unwrap();
                    flipped_seg = Some(s);
                    break;
                }
                acc += d.len();
            }
            let flipped_seg = flipped_seg.unwrap();
            let mut got = Vec::new();
            let out = replay(dir.as_ref(), |r| got.push(r.to_vec())).unwrap();
            assert!(out.corruption.is_some(), "flip at {flip_at}");
            assert_eq!(&got[..], &recs[..got.len()], "a prefix survives");
            assert!(got.len() < recs.len());
            // After repair, a second replay is clean and returns the same prefix.
            let mut again = Vec::new();
            let out2 = replay(dir.as_ref(), |r| again.push(r.to_vec())).unwrap();
            assert!(out2.corruption.is_none());
            assert_eq!(again, got);
            assert_eq!(out2.segments.last().copied(), Some(flipped_seg));
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = records_of(&data);
        }

        #[test]
        fn records_round_trip(recs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..5000), 1..20),
                              batch in 1usize..5) {
            let (_tmp, dir) = write_records(&recs, batch, PAGE_SIZE);
            let mut got = Vec::new();
            replay(dir.as_ref(), |r| got.push(r.to_vec())).unwrap();
            prop_assert_eq!(got, recs);
        }
    }
}

//! Segment files (`NNNNNNNN.spans`): the header, the record codec, and the scan that repairs a torn tail.
//! Format: `docs/format/traces.md` § "Segment file".

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;

use diamond_model::traceid::TraceId;

use crate::Error;

/// `"DTRS"`, version 1, 3 reserved zero bytes.
pub(crate) const SEGMENT_HEADER: [u8; 8] = *b"DTRS\x01\x00\x00\x00";
/// Largest record payload accepted on write and on read.
pub(crate) const MAX_PAYLOAD: usize = 64 << 20;
/// Fixed part of a payload: trace id, start, end, span count.
pub(crate) const PAYLOAD_HEADER: usize = 16 + 8 + 8 + 4;

/// Where a record is in its segment, with what search and retention need without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loc {
    /// Offset of the record's `len` field.
    pub(crate) offset: u64,
    /// Length of the whole record (8 + payload).
    pub(crate) len: u32,
    /// Smallest span start in the record, Unix ns.
    pub(crate) start_ns: u64,
    /// Largest span end in the record, Unix ns.
    pub(crate) end_ns: u64,
}

/// A decoded record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordMeta {
    pub(crate) trace_id: TraceId,
    pub(crate) start_ns: u64,
    pub(crate) end_ns: u64,
    pub(crate) span_count: u32,
}

/// Appends one record (header + payload) to `out`.
pub(crate) fn encode_record(out: &mut Vec<u8>, meta: &RecordMeta, resource_spans: &[u8]) {
    let payload_len = PAYLOAD_HEADER + resource_spans.len();
    let start = out.len();
    out.extend_from_slice(&(payload_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&meta.trace_id.0);
    out.extend_from_slice(&meta.start_ns.to_le_bytes());
    out.extend_from_slice(&meta.end_ns.to_le_bytes());
    out.extend_from_slice(&meta.span_count.to_le_bytes());
    out.extend_from_slice(resource_spans);
    let crc = crc32c::crc32c(&out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

/// Splits a verified payload into its header and the `ResourceSpans` bytes.
pub(crate) fn split_payload(payload: &[u8]) -> Option<(RecordMeta, &[u8])> {
    if payload.len() < PAYLOAD_HEADER {
        return None;
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&payload[..16]);
    Some((
        RecordMeta {
            trace_id: TraceId(id),
            start_ns: u64_at(payload, 16),
            end_ns: u64_at(payload, 24),
            span_count: u32_at(payload, 32),
        },
        &payload[PAYLOAD_HEADER..],
    ))
}

/// Reads the record at `loc` with one positioned read and verifies it.
pub(crate) fn read_record(file: &File, loc: &Loc) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0u8; loc.len as usize];
    file.read_exact_at(&mut buf, loc.offset)?;
    check_record(&buf).ok_or(Error::Corrupted {
        offset: loc.offset,
        reason: "record does not match its index entry",
    })?;
    buf.drain(..8);
    Ok(buf)
}

/// Verifies a whole record's length and CRC; `Some(payload_len)` when good.
fn check_record(rec: &[u8]) -> Option<usize> {
    if rec.len() < 8 {
        return None;
    }
    let len = u32_at(rec, 0) as usize;
    if !(PAYLOAD_HEADER..=MAX_PAYLOAD).contains(&len) || rec.len() != 8 + len {
        return None;
    }
    (crc32c::crc32c(&rec[8..]) == u32_at(rec, 4)).then_some(len)
}

/// One record met by [`Scanner`].
pub(crate) struct Scanned {
    pub(crate) loc: Loc,
    pub(crate) meta: RecordMeta,
    /// The `ResourceSpans` bytes (empty when the scanner was asked for headers only).
    pub(crate) body: Vec<u8>,
}

/// Reads a segment's records in order from just after the header, stopping at the first bad one.
/// `good_len()` is then the length of the valid prefix, to which a repair truncates the file.
pub(crate) struct Scanner {
    r: BufReader<std::io::Take<File>>,
    pos: u64,
    stopped: bool,
}

impl Scanner {
    /// Checks the header and positions the scanner at the first record. `limit` bounds what is read
    /// (the sealed length for a sealed segment). `Ok(None)` when the header is missing or wrong.
    pub(crate) fn open(file: File, limit: u64) -> Result<Option<Scanner>, Error> {
        let mut r = BufReader::with_capacity(256 << 10, file.take(limit));
        let mut h = [0u8; 8];
        if r.read_exact(&mut h).is_err() || h != SEGMENT_HEADER {
            return Ok(None);
        }
        Ok(Some(Scanner {
            r,
            pos: 8,
            stopped: false,
        }))
    }

    /// Length of the valid prefix read so far.
    pub(crate) fn good_len(&self) -> u64 {
        self.pos
    }

    /// The next good record; `None` at the end or at the first bad record.
    pub(crate) fn next_record(&mut self, with_body: bool) -> Option<Scanned> {
        if self.stopped {
            return None;
        }
        let mut head = [0u8; 8];
        if self.r.read_exact(&mut head).is_err() {
            self.stopped = true;
            return None;
        }
        let len = u32_at(&head, 0) as usize;
        if !(PAYLOAD_HEADER..=MAX_PAYLOAD).contains(&len) {
            self.stopped = true;
            return None;
        }
        let mut payload = vec![0u8; len];
        if self.r.read_exact(&mut payload).is_err() || crc32c::crc32c(&payload) != u32_at(&head, 4) {
            self.stopped = true;
            return None;
        }
        let (meta, _) = split_payload(&payload)?;
        let loc = Loc {
            offset: self.pos,
            len: (8 + len) as u32,
            start_ns: meta.start_ns,
            end_ns: meta.end_ns,
        };
        self.pos += 8 + len as u64;
        let body = if with_body {
            payload.drain(..PAYLOAD_HEADER);
            payload
        } else {
            Vec::new()
        };
        Some(Scanned { loc, meta, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip_and_corruption() -> Result<(), Error> {
        let meta = RecordMeta {
            trace_id: TraceId([7; 16]),
            start_ns: 10,
            end_ns: 20,
            span_count: 3,
        };
        let mut buf = Vec::new();
        encode_record(&mut buf, &meta, b"hello");
        let len = check_record(&buf).ok_or(Error::Corrupted {
            offset: 0,
            reason: "test",
        })?;
        assert_eq!(len, PAYLOAD_HEADER + 5);
        let (m, body) = split_payload(&buf[8..]).ok_or(Error::Corrupted {
            offset: 0,
            reason: "test",
        })?;
        assert_eq!(m, meta);
        assert_eq!(body, b"hello");
        let mut bad = buf.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(check_record(&bad).is_none());
        assert!(check_record(&buf[..buf.len() - 1]).is_none());
        Ok(())
    }
}

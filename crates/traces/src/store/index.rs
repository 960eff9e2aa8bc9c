//! Index files (`NNNNNNNN.index`) of sealed segments, the Bloom filter kept in memory per segment, and
//! the capped catalogue of services, operations and tags (`names`). Format: `docs/format/traces.md`
//! § "Index file".

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::os::unix::fs::FileExt;

use diamond_model::traceid::TraceId;
use serde_json::{Map, Value};

use super::segment::Loc;
use crate::Error;

/// `"DTRI"`, version 1, 3 reserved zero bytes.
const INDEX_MAGIC: [u8; 8] = *b"DTRI\x01\x00\x00\x00";
pub(crate) const INDEX_HEADER: u64 = 40;
pub(crate) const ENTRY: u64 = 44;

/// What the index header says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IndexHeader {
    pub(crate) entries: u32,
    pub(crate) min_ns: u64,
    pub(crate) max_ns: u64,
    pub(crate) data_len: u64,
}

/// Encodes a whole index file; `entries` need not be sorted.
pub(crate) fn encode_index(mut entries: Vec<(TraceId, Loc)>, data_len: u64, names: &Names) -> Vec<u8> {
    entries.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.offset.cmp(&b.1.offset)));
    let min_ns = entries.iter().map(|e| e.1.start_ns).min().unwrap_or(0);
    let max_ns = entries.iter().map(|e| e.1.end_ns).max().unwrap_or(0);
    let names = names.to_json().to_string();
    let mut out = Vec::with_capacity(INDEX_HEADER as usize + entries.len() * ENTRY as usize + names.len() + 8);
    out.extend_from_slice(&INDEX_MAGIC);
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    out.extend_from_slice(&min_ns.to_le_bytes());
    out.extend_from_slice(&max_ns.to_le_bytes());
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // pad the header to 40 bytes
    for (id, loc) in &entries {
        out.extend_from_slice(&id.0);
        out.extend_from_slice(&loc.offset.to_le_bytes());
        out.extend_from_slice(&loc.len.to_le_bytes());
        out.extend_from_slice(&loc.start_ns.to_le_bytes());
        out.extend_from_slice(&loc.end_ns.to_le_bytes());
    }
    out.extend_from_slice(&(names.len() as u32).to_le_bytes());
    out.extend_from_slice(names.as_bytes());
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn le32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn decode_entry(b: &[u8]) -> (TraceId, Loc) {
    let mut id = [0u8; 16];
    id.copy_from_slice(&b[..16]);
    (
        TraceId(id),
        Loc {
            offset: le64(&b[16..]),
            len: le32(&b[24..]),
            start_ns: le64(&b[28..]),
            end_ns: le64(&b[36..]),
        },
    )
}

/// Verifies a whole index file (CRC, sizes) and returns its header, the trace IDs (for the Bloom filter,
/// in entry order) and the names. `None` when the file is damaged.
pub(crate) fn verify_index(bytes: &[u8]) -> Option<(IndexHeader, Vec<TraceId>, Names)> {
    if bytes.len() < INDEX_HEADER as usize + 8 || bytes[..8] != INDEX_MAGIC {
        return None;
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32c::crc32c(body) != le32(crc) {
        return None;
    }
    let h = IndexHeader {
        entries: le32(&bytes[8..]),
        min_ns: le64(&bytes[12..]),
        max_ns: le64(&bytes[20..]),
        data_len: le64(&bytes[28..]),
    };
    let names_at = INDEX_HEADER as usize + h.entries as usize * ENTRY as usize;
    if body.len() < names_at + 4 {
        return None;
    }
    let names_len = le32(&body[names_at..]) as usize;
    if body.len() != names_at + 4 + names_len {
        return None;
    }
    let ids = (0..h.entries as usize)
        .map(|i| {
            let at = INDEX_HEADER as usize + i * ENTRY as usize;
            decode_entry(&body[at..at + ENTRY as usize]).0
        })
        .collect();
    let names = serde_json::from_slice::<Value>(&body[names_at + 4..])
        .ok()
        .map(|v| Names::from_json(&v))?;
    Some((h, ids, names))
}

/// All records of `id` in an index file, by binary search with positioned reads.
pub(crate) fn lookup(file: &File, entries: u32, id: &TraceId) -> Result<Vec<Loc>, Error> {
    let read_id = |i: u32| -> Result<[u8; 16], Error> {
        let mut b = [0u8; 16];
        file.read_exact_at(&mut b, INDEX_HEADER + u64::from(i) * ENTRY)?;
        Ok(b)
    };
    let (mut lo, mut hi) = (0u32, entries);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if read_id(mid)? < id.0 {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let mut out = Vec::new();
    let mut i = lo;
    while i < entries {
        let mut b = [0u8; ENTRY as usize];
        file.read_exact_at(&mut b, INDEX_HEADER + u64::from(i) * ENTRY)?;
        let (eid, loc) = decode_entry(&b);
        if eid != *id {
            break;
        }
        out.push(loc);
        i += 1;
    }
    Ok(out)
}

/// A Bloom filter of trace IDs: 10 bits per ID and 7 probes (about 1% false positives).
#[derive(Debug, Clone)]
pub(crate) struct Bloom {
    bits: Vec<u64>,
}

impl Bloom {
    pub(crate) fn new<'a>(ids: impl ExactSizeIterator<Item = &'a TraceId>) -> Bloom {
        let m = (ids.len() * 10).max(64).div_ceil(64);
        let mut b = Bloom { bits: vec![0; m] };
        for id in ids {
            b.insert(id);
        }
        b
    }

    fn probes(&self, id: &TraceId) -> impl Iterator<Item = usize> + use<> {
        let h = xxhash_rust::xxh3::xxh3_128(&id.0);
        let (h1, h2) = (h as u64, ((h >> 64) as u64) | 1);
        let m = (self.bits.len() * 64) as u64;
        (0..7u64).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % m) as usize)
    }

    fn insert(&mut self, id: &TraceId) {
        for p in self.probes(id).collect::<Vec<_>>() {
            self.bits[p / 64] |= 1 << (p % 64);
        }
    }

    pub(crate) fn may_contain(&self, id: &TraceId) -> bool {
        self.probes(id).all(|p| self.bits[p / 64] & (1 << (p % 64)) != 0)
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bits.len() * 8
    }
}

const MAX_SERVICES: usize = 1000;
const MAX_OPERATIONS: usize = 1000;
const MAX_KEYS: usize = 500;
const MAX_VALUES: usize = 100;
const MAX_VALUE_LEN: usize = 256;

/// The capped catalogue of a segment: services and their operations, tag keys and values per scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Names {
    pub(crate) services: BTreeMap<String, BTreeSet<String>>,
    pub(crate) resource: BTreeMap<String, BTreeSet<String>>,
    pub(crate) span: BTreeMap<String, BTreeSet<String>>,
}

fn add_capped(set: &mut BTreeSet<String>, v: &str, cap: usize) {
    if set.len() < cap && v.len() <= MAX_VALUE_LEN && !set.contains(v) {
        set.insert(v.to_owned());
    }
}

fn add_kv(map: &mut BTreeMap<String, BTreeSet<String>>, k: &str, v: Option<&str>) {
    if k.len() > MAX_VALUE_LEN {
        return;
    }
    if !map.contains_key(k) {
        if map.len() >= MAX_KEYS {
            return;
        }
        map.insert(k.to_owned(), BTreeSet::new());
    }
    if let (Some(set), Some(v)) = (map.get_mut(k), v) {
        add_capped(set, v, MAX_VALUES);
    }
}

impl Names {
    pub(crate) fn add_operation(&mut self, service: &str, op: &str) {
        if !self.services.contains_key(service) {
            if self.services.len() >= MAX_SERVICES || service.len() > MAX_VALUE_LEN {
                return;
            }
            self.services.insert(service.to_owned(), BTreeSet::new());
        }
        if let Some(ops) = self.services.get_mut(service) {
            add_capped(ops, op, MAX_OPERATIONS);
        }
    }

    pub(crate) fn add_resource_tag(&mut self, k: &str, v: Option<&str>) {
        add_kv(&mut self.resource, k, v);
    }

    pub(crate) fn add_span_tag(&mut self, k: &str, v: Option<&str>) {
        add_kv(&mut self.span, k, v);
    }

    /// Adds everything of `other`, within the caps.
    pub(crate) fn merge(&mut self, other: &Names) {
        for (s, ops) in &other.services {
            for op in ops {
                self.add_operation(s, op);
            }
            if ops.is_empty() {
                self.add_operation(s, "");
                if let Some(o) = self.services.get_mut(s) {
                    o.remove("");
                }
            }
        }
        for (k, vs) in &other.resource {
            add_kv(&mut self.resource, k, None);
            for v in vs {
                add_kv(&mut self.resource, k, Some(v));
            }
        }
        for (k, vs) in &other.span {
            add_kv(&mut self.span, k, None);
            for v in vs {
                add_kv(&mut self.span, k, Some(v));
            }
        }
    }

    fn map_json(m: &BTreeMap<String, BTreeSet<String>>) -> Value {
        Value::Object(
            m.iter()
                .map(|(k, vs)| (k.clone(), Value::Array(vs.iter().cloned().map(Value::String).collect())))
                .collect::<Map<_, _>>(),
        )
    }

    fn map_from(v: Option<&Value>) -> BTreeMap<String, BTreeSet<String>> {
        let mut out = BTreeMap::new();
        if let Some(Value::Object(o)) = v {
            for (k, vs) in o {
                let set = vs
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                out.insert(k.clone(), set);
            }
        }
        out
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("services".into(), Self::map_json(&self.services));
        o.insert("resource".into(), Self::map_json(&self.resource));
        o.insert("span".into(), Self::map_json(&self.span));
        Value::Object(o)
    }

    pub(crate) fn from_json(v: &Value) -> Names {
        Names {
            services: Self::map_from(v.get("services")),
            resource: Self::map_from(v.get("resource")),
            span: Self::map_from(v.get("span")),
        }
    }

    /// Rough bytes held, for the memory gauge.
    pub(crate) fn bytes(&self) -> usize {
        let m = |m: &BTreeMap<String, BTreeSet<String>>| {
            m.iter()
                .map(|(k, v)| k.len() + 48 + v.iter().map(|s| s.len() + 32).sum::<usize>())
                .sum::<usize>()
        };
        m(&self.services) + m(&self.resource) + m(&self.span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_round_trip_and_lookup() -> Result<(), Error> {
        let dir = tempfile::tempdir()?;
        let ids: Vec<TraceId> = (0u8..50).map(|i| TraceId([i.wrapping_mul(37); 16])).collect();
        let entries: Vec<(TraceId, Loc)> = ids
            .iter()
            .enumerate()
            .flat_map(|(i, id)| {
                (0..(i % 3 + 1)).map(move |j| {
                    (
                        *id,
                        Loc {
                            offset: (i * 10 + j) as u64,
                            len: 9,
                            start_ns: i as u64,
                            end_ns: i as u64 + 5,
                        },
                    )
                })
            })
            .collect();
        let mut names = Names::default();
        names.add_operation("svc", "op");
        names.add_span_tag("http.method", Some("GET"));
        let bytes = encode_index(entries.clone(), 1234, &names);
        let (h, got_ids, got_names) = verify_index(&bytes).ok_or(Error::Corrupted {
            offset: 0,
            reason: "test",
        })?;
        assert_eq!(h.entries as usize, entries.len());
        assert_eq!(h.data_len, 1234);
        assert_eq!((h.min_ns, h.max_ns), (0, 54));
        assert_eq!(got_names, names);
        let p = dir.path().join("x.index");
        std::fs::write(&p, &bytes)?;
        let f = File::open(&p)?;
        for (i, id) in ids.iter().enumerate() {
            let locs = lookup(&f, h.entries, id)?;
            assert_eq!(locs.len(), i % 3 + 1, "id {i}");
            assert!(locs.windows(2).all(|w| w[0].offset < w[1].offset));
        }
        assert!(lookup(&f, h.entries, &TraceId([255; 16]))?.is_empty() || ids.contains(&TraceId([255; 16])));
        let bloom = Bloom::new(got_ids.iter());
        assert!(ids.iter().all(|id| bloom.may_contain(id)));
        let mut bad = bytes.clone();
        bad[50] ^= 1;
        assert!(verify_index(&bad).is_none());
        assert!(verify_index(&bytes[..bytes.len() - 1]).is_none());
        Ok(())
    }

    #[test]
    fn bloom_false_positive_rate_is_low() {
        let ids: Vec<TraceId> = (0u32..10_000)
            .map(|i| {
                let mut b = [0u8; 16];
                b[12..].copy_from_slice(&i.to_be_bytes());
                TraceId(b)
            })
            .collect();
        let bloom = Bloom::new(ids.iter());
        let fp = (10_000u32..20_000)
            .filter(|i| {
                let mut b = [0u8; 16];
                b[12..].copy_from_slice(&i.to_be_bytes());
                bloom.may_contain(&TraceId(b))
            })
            .count();
        assert!(fp < 300, "{fp} false positives of 10000");
    }
}

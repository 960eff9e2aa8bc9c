//! WAL record contents: series, samples, tombstones, exemplars and metadata. Spec: `docs/format/wal.md` "Records".
//!
//! Pure codecs over byte vectors; [`crate::wal`] stores the bytes. Decoding untrusted bytes returns
//! [`RecordError`], never panics.
//!
//! ```
//! use diamond_tsdb::record::{self, Record, RefSample};
//! let mut buf = Vec::new();
//! record::encode_samples(&[RefSample { sref: 7, t: 1000, v: 1.5 }], &mut buf);
//! assert_eq!(record::decode(&buf).unwrap(), Record::Samples(vec![RefSample { sref: 7, t: 1000, v: 1.5 }]));
//! ```

use diamond_model::{Exemplar, Label, Labels, Metadata, MetricType};

/// Record type bytes (Prometheus's numbering).
pub const TYPE_SERIES: u8 = 1;
/// Samples record type.
pub const TYPE_SAMPLES: u8 = 2;
/// Tombstones record type.
pub const TYPE_TOMBSTONES: u8 = 3;
/// Exemplars record type.
pub const TYPE_EXEMPLARS: u8 = 4;
/// Metadata record type.
pub const TYPE_METADATA: u8 = 6;

/// A series declaration: its ref and labels.
#[derive(Debug, Clone, PartialEq)]
pub struct RefSeries {
    /// Series ref.
    pub sref: u64,
    /// Labels.
    pub labels: Labels,
}

/// One sample of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    /// Series ref.
    pub sref: u64,
    /// Timestamp (ms).
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// A deleted interval `[mint, maxt]` (inclusive) of a series (spec: wal.md "Tombstones (type 3)").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefTombstone {
    /// Series ref.
    pub sref: u64,
    /// First deleted timestamp.
    pub mint: i64,
    /// Last deleted timestamp.
    pub maxt: i64,
}

/// One exemplar of a series.
#[derive(Debug, Clone, PartialEq)]
pub struct RefExemplar {
    /// Series ref.
    pub sref: u64,
    /// The exemplar.
    pub exemplar: Exemplar,
}

/// Metadata of a metric family (spec: wal.md "Metadata (type 6)").
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyMetadata {
    /// The family name (`http_requests`, not `http_requests_total`).
    pub family: String,
    /// The metadata.
    pub meta: Metadata,
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Type 1.
    Series(Vec<RefSeries>),
    /// Type 2.
    Samples(Vec<RefSample>),
    /// Type 3.
    Tombstones(Vec<RefTombstone>),
    /// Type 4.
    Exemplars(Vec<RefExemplar>),
    /// Type 6.
    Metadata(Vec<FamilyMetadata>),
}

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The record ends early.
    #[error("record truncated")]
    Truncated,
    /// Empty record or unknown type byte.
    #[error("unknown record type {0}")]
    UnknownType(u8),
    /// A string is not UTF-8.
    #[error("label or text is not valid UTF-8")]
    InvalidUtf8,
    /// A varint overflows 64 bits.
    #[error("varint overflows")]
    BadVarint,
    /// A field holds a value the format does not allow.
    #[error("invalid {0}")]
    Invalid(&'static str),
}

// ---- encoding ----

fn put_uvarint(buf: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        buf.push((x as u8) | 0x80);
        x >>= 7;
    }
    buf.push(x as u8);
}

fn put_varint(buf: &mut Vec<u8>, x: i64) {
    put_uvarint(buf, ((x << 1) ^ (x >> 63)) as u64);
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

fn put_labels(buf: &mut Vec<u8>, labels: &Labels) {
    put_uvarint(buf, labels.len() as u64);
    for l in labels {
        put_str(buf, &l.name);
        put_str(buf, &l.value);
    }
}

/// Appends a series record to `buf`.
pub fn encode_series(series: &[RefSeries], buf: &mut Vec<u8>) {
    buf.push(TYPE_SERIES);
    for s in series {
        buf.extend_from_slice(&s.sref.to_be_bytes());
        put_labels(buf, &s.labels);
    }
}

/// Appends a series record for one series given as label pairs (avoids building a [`Labels`]).
pub fn encode_series_pairs<'a>(sref: u64, pairs: impl ExactSizeIterator<Item = (&'a str, &'a str)>, buf: &mut Vec<u8>) {
    buf.extend_from_slice(&sref.to_be_bytes());
    put_uvarint(buf, pairs.len() as u64);
    for (n, v) in pairs {
        put_str(buf, n);
        put_str(buf, v);
    }
}

/// Appends a samples record to `buf`.
pub fn encode_samples(samples: &[RefSample], buf: &mut Vec<u8>) {
    buf.push(TYPE_SAMPLES);
    let Some(first) = samples.first() else { return };
    buf.extend_from_slice(&first.sref.to_be_bytes());
    buf.extend_from_slice(&first.t.to_be_bytes());
    for s in samples {
        put_varint(buf, s.sref.wrapping_sub(first.sref) as i64);
        put_varint(buf, s.t.wrapping_sub(first.t));
        buf.extend_from_slice(&s.v.to_bits().to_be_bytes());
    }
}

/// Appends a tombstones record to `buf`.
pub fn encode_tombstones(stones: &[RefTombstone], buf: &mut Vec<u8>) {
    buf.push(TYPE_TOMBSTONES);
    for s in stones {
        buf.extend_from_slice(&s.sref.to_be_bytes());
        put_varint(buf, s.mint);
        put_varint(buf, s.maxt);
    }
}

/// Appends an exemplars record to `buf`.
pub fn encode_exemplars(exemplars: &[RefExemplar], buf: &mut Vec<u8>) {
    encode_exemplar_refs(exemplars.iter().map(|e| (e.sref, &e.exemplar)), buf);
}

/// Appends an exemplars record of `(series ref, exemplar)` pairs to `buf` (the same bytes as
/// [`encode_exemplars`], without owning the exemplars).
pub fn encode_exemplar_refs<'a>(exemplars: impl IntoIterator<Item = (u64, &'a Exemplar)>, buf: &mut Vec<u8>) {
    buf.push(TYPE_EXEMPLARS);
    let mut it = exemplars.into_iter().peekable();
    let Some(&(first_ref, first)) = it.peek() else { return };
    let first_ts = first.ts;
    buf.extend_from_slice(&first_ref.to_be_bytes());
    buf.extend_from_slice(&first_ts.to_be_bytes());
    for (sref, e) in it {
        put_varint(buf, sref.wrapping_sub(first_ref) as i64);
        put_varint(buf, e.ts.wrapping_sub(first_ts));
        buf.extend_from_slice(&e.value.to_bits().to_be_bytes());
        put_labels(buf, &e.labels);
        buf.push(u8::from(e.has_ts));
    }
}

/// Appends a metadata record to `buf`.
pub fn encode_metadata(meta: &[FamilyMetadata], buf: &mut Vec<u8>) {
    buf.push(TYPE_METADATA);
    for m in meta {
        put_str(buf, &m.family);
        buf.push(type_code(m.meta.metric_type));
        put_str(buf, &m.meta.unit);
        put_str(buf, &m.meta.help);
    }
}

fn type_code(t: MetricType) -> u8 {
    match t {
        MetricType::Unknown => 0,
        MetricType::Counter => 1,
        MetricType::Gauge => 2,
        MetricType::Histogram => 3,
        MetricType::GaugeHistogram => 4,
        MetricType::Summary => 5,
        MetricType::Info => 6,
        MetricType::StateSet => 7,
    }
}

fn type_from_code(c: u8) -> Result<MetricType, RecordError> {
    Ok(match c {
        0 => MetricType::Unknown,
        1 => MetricType::Counter,
        2 => MetricType::Gauge,
        3 => MetricType::Histogram,
        4 => MetricType::GaugeHistogram,
        5 => MetricType::Summary,
        6 => MetricType::Info,
        7 => MetricType::StateSet,
        _ => return Err(RecordError::Invalid("metric type")),
    })
}

// ---- decoding ----

struct Dec<'a> {
    b: &'a [u8],
}

impl<'a> Dec<'a> {
    fn is_empty(&self) -> bool {
        self.b.is_empty()
    }

    fn byte(&mut self) -> Result<u8, RecordError> {
        let (&x, rest) = self.b.split_first().ok_or(RecordError::Truncated)?;
        self.b = rest;
        Ok(x)
    }

    fn be64(&mut self) -> Result<u64, RecordError> {
        if self.b.len() < 8 {
            return Err(RecordError::Truncated);
        }
        let (h, rest) = self.b.split_at(8);
        self.b = rest;
        let mut a = [0u8; 8];
        a.copy_from_slice(h);
        Ok(u64::from_be_bytes(a))
    }

    fn uvarint(&mut self) -> Result<u64, RecordError> {
        let mut x: u64 = 0;
        for k in 0..10 {
            let b = self.byte()?;
            if b < 0x80 {
                if k == 9 && b > 1 {
                    return Err(RecordError::BadVarint);
                }
                return Ok(x | (u64::from(b) << (7 * k)));
            }
            x |= u64::from(b & 0x7f) << (7 * k);
        }
        Err(RecordError::BadVarint)
    }

    fn varint(&mut self) -> Result<i64, RecordError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    fn bytes(&mut self, n: u64) -> Result<&'a [u8], RecordError> {
        let n = usize::try_from(n).map_err(|_| RecordError::Truncated)?;
        if self.b.len() < n {
            return Err(RecordError::Truncated);
        }
        let (h, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(h)
    }

    fn str(&mut self) -> Result<&'a str, RecordError> {
        let n = self.uvarint()?;
        std::str::from_utf8(self.bytes(n)?).map_err(|_| RecordError::InvalidUtf8)
    }

    fn labels(&mut self) -> Result<Labels, RecordError> {
        let n = self.uvarint()?;
        // Each pair takes at least 2 bytes; refuse counts the record cannot hold before allocating.
        if n > self.b.len() as u64 / 2 {
            return Err(RecordError::Truncated);
        }
        let mut v = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let name = self.str()?;
            let value = self.str()?;
            v.push(Label {
                name: name.into(),
                value: value.into(),
            });
        }
        let sorted = v.windows(2).all(|w| w[0].name < w[1].name);
        if !sorted || v.iter().any(|l| l.name.is_empty() || l.value.is_empty()) {
            return Err(RecordError::Invalid("label set"));
        }
        Ok(Labels::from_sorted(v))
    }
}

/// Decodes a series record without allocating labels: calls `f(ref, pairs)` for each series, with the
/// label pairs borrowed from `rec`. Validates what [`decode`] validates. Replay uses it because a series
/// record's labels are only hashed, compared and interned.
pub fn decode_series_with(rec: &[u8], mut f: impl FnMut(u64, &[(&str, &str)])) -> Result<(), RecordError> {
    let (&typ, body) = rec.split_first().ok_or(RecordError::UnknownType(0))?;
    if typ != TYPE_SERIES {
        return Err(RecordError::UnknownType(typ));
    }
    let mut d = Dec { b: body };
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    while !d.is_empty() {
        let sref = d.be64()?;
        let n = d.uvarint()?;
        if n > d.b.len() as u64 / 2 {
            return Err(RecordError::Truncated);
        }
        pairs.clear();
        for _ in 0..n {
            let name = d.str()?;
            let value = d.str()?;
            pairs.push((name, value));
        }
        let sorted = pairs.windows(2).all(|w| w[0].0 < w[1].0);
        if !sorted || pairs.iter().any(|(n, v)| n.is_empty() || v.is_empty()) {
            return Err(RecordError::Invalid("label set"));
        }
        f(sref, &pairs);
    }
    Ok(())
}

/// Decodes one record, except series records, for which it returns `Ok(None)` (decode those with
/// [`decode_series_with`]).
pub fn decode_or_series(rec: &[u8]) -> Result<Option<Record>, RecordError> {
    if rec.first() == Some(&TYPE_SERIES) {
        return Ok(None);
    }
    decode(rec).map(Some)
}

/// Decodes one record.
pub fn decode(rec: &[u8]) -> Result<Record, RecordError> {
    let (&typ, body) = rec.split_first().ok_or(RecordError::UnknownType(0))?;
    let mut d = Dec { b: body };
    match typ {
        TYPE_SERIES => {
            let mut out = Vec::new();
            while !d.is_empty() {
                let sref = d.be64()?;
                let labels = d.labels()?;
                out.push(RefSeries { sref, labels });
            }
            Ok(Record::Series(out))
        }
        TYPE_SAMPLES => {
            let mut out = Vec::new();
            if d.is_empty() {
                return Ok(Record::Samples(out));
            }
            let r0 = d.be64()?;
            let t0 = d.be64()? as i64;
            while !d.is_empty() {
                let dr = d.varint()?;
                let dt = d.varint()?;
                let v = f64::from_bits(d.be64()?);
                out.push(RefSample {
                    sref: r0.wrapping_add(dr as u64),
                    t: t0.wrapping_add(dt),
                    v,
                });
            }
            Ok(Record::Samples(out))
        }
        TYPE_TOMBSTONES => {
            let mut out = Vec::new();
            while !d.is_empty() {
                let sref = d.be64()?;
                let mint = d.varint()?;
                let maxt = d.varint()?;
                if mint > maxt {
                    return Err(RecordError::Invalid("tombstone interval (mint > maxt)"));
                }
                out.push(RefTombstone { sref, mint, maxt });
            }
            Ok(Record::Tombstones(out))
        }
        TYPE_EXEMPLARS => {
            let mut out = Vec::new();
            if d.is_empty() {
                return Ok(Record::Exemplars(out));
            }
            let r0 = d.be64()?;
            let t0 = d.be64()? as i64;
            while !d.is_empty() {
                let dr = d.varint()?;
                let dt = d.varint()?;
                let value = f64::from_bits(d.be64()?);
                let labels = d.labels()?;
                let flags = d.byte()?;
                if flags > 1 {
                    return Err(RecordError::Invalid("exemplar flags"));
                }
                out.push(RefExemplar {
                    sref: r0.wrapping_add(dr as u64),
                    exemplar: Exemplar {
                        labels,
                        value,
                        ts: t0.wrapping_add(dt),
                        has_ts: flags == 1,
                    },
                });
            }
            Ok(Record::Exemplars(out))
        }
        TYPE_METADATA => {
            let mut out = Vec::new();
            while !d.is_empty() {
                let family = d.str()?.to_owned();
                let metric_type = type_from_code(d.byte()?)?;
                let unit = d.str()?.to_owned();
                let help = d.str()?.to_owned();
                out.push(FamilyMetadata {
                    family,
                    meta: Metadata {
                        metric_type,
                        help,
                        unit,
                    },
                });
            }
            Ok(Record::Metadata(out))
        }
        other => Err(RecordError::UnknownType(other)),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn labels_strategy() -> impl Strategy<Value = Labels> {
        proptest::collection::btree_map("[a-z_]{1,8}", "\\PC{1,12}", 0..6).prop_map(|m| {
            Labels::from_sorted(
                m.into_iter()
                    .map(|(name, value)| Label {
                        name: name.into(),
                        value: value.into(),
                    })
                    .collect(),
            )
        })
    }

    fn mtype() -> impl Strategy<Value = MetricType> {
        (0u8..8).prop_map(|c| type_from_code(c).unwrap())
    }

    proptest! {
        #[test]
        fn series_round_trip(v in proptest::collection::vec((any::<u64>(), labels_strategy()), 0..10)) {
            let series: Vec<RefSeries> = v.into_iter().map(|(sref, labels)| RefSeries { sref, labels }).collect();
            let mut buf = Vec::new();
            encode_series(&series, &mut buf);
            prop_assert_eq!(decode(&buf).unwrap(), Record::Series(series));
        }

        #[test]
        fn samples_round_trip(v in proptest::collection::vec((any::<u64>(), any::<i64>(), any::<u64>()), 0..50)) {
            let samples: Vec<RefSample> =
                v.into_iter().map(|(sref, t, bits)| RefSample { sref, t, v: f64::from_bits(bits) }).collect();
            let mut buf = Vec::new();
            encode_samples(&samples, &mut buf);
            let Record::Samples(got) = decode(&buf).unwrap() else { panic!("wrong type") };
            prop_assert_eq!(got.len(), samples.len());
            for (g, s) in got.iter().zip(&samples) {
                prop_assert_eq!((g.sref, g.t, g.v.to_bits()), (s.sref, s.t, s.v.to_bits()));
            }
        }

        #[test]
        fn exemplars_round_trip(v in proptest::collection::vec((any::<u64>(), any::<i64>(), -1e9f64..1e9, labels_strategy(), any::<bool>()), 0..10)) {
            let ex: Vec<RefExemplar> = v.into_iter().map(|(sref, ts, value, labels, has_ts)| RefExemplar {
                sref, exemplar: Exemplar { labels, value, ts, has_ts } }).collect();
            let mut buf = Vec::new();
            encode_exemplars(&ex, &mut buf);
            prop_assert_eq!(decode(&buf).unwrap(), Record::Exemplars(ex));
        }

        #[test]
        fn metadata_round_trip(v in proptest::collection::vec(("\\PC{0,20}", mtype(), "\\PC{0,10}", "\\PC{0,40}"), 0..10)) {
            let meta: Vec<FamilyMetadata> = v.into_iter().map(|(family, metric_type, unit, help)| FamilyMetadata {
                family, meta: Metadata { metric_type, help, unit } }).collect();
            let mut buf = Vec::new();
            encode_metadata(&meta, &mut buf);
            prop_assert_eq!(decode(&buf).unwrap(), Record::Metadata(meta));
        }

        #[test]
        fn tombstones_round_trip(v in proptest::collection::vec((any::<u64>(), any::<i64>(), any::<i64>()), 0..20)) {
            let stones: Vec<RefTombstone> = v
                .into_iter()
                .map(|(sref, a, b)| RefTombstone { sref, mint: a.min(b), maxt: a.max(b) })
                .collect();
            let mut buf = Vec::new();
            encode_tombstones(&stones, &mut buf);
            prop_assert_eq!(decode(&buf).unwrap(), Record::Tombstones(stones));
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(&b);
        }

        #[test]
        fn truncation_is_an_error(v in proptest::collection::vec((any::<u64>(), labels_strategy()), 1..5), cut in 0usize..1000) {
            let series: Vec<RefSeries> = v.into_iter().map(|(sref, labels)| RefSeries { sref, labels }).collect();
            let mut buf = Vec::new();
            encode_series(&series, &mut buf);
            let cut = 1 + cut % (buf.len() - 1).max(1);
            if cut < buf.len() {
                // A cut at a record boundary decodes to fewer series; anywhere else it must fail.
                match decode(&buf[..cut]) {
                    Ok(Record::Series(got)) => prop_assert!(got.len() < series.len()),
                    Ok(_) => prop_assert!(false, "wrong type"),
                    Err(_) => {}
                }
            }
        }
    }

    proptest! {
        #[test]
        fn series_borrowed_decoding_agrees(v in proptest::collection::vec((any::<u64>(), labels_strategy()), 0..10)) {
            let series: Vec<RefSeries> = v.into_iter().map(|(sref, labels)| RefSeries { sref, labels }).collect();
            let mut buf = Vec::new();
            encode_series(&series, &mut buf);
            let mut got = Vec::new();
            decode_series_with(&buf, |sref, pairs| {
                got.push(RefSeries { sref, labels: Labels::from_pairs(pairs) });
            }).unwrap();
            prop_assert_eq!(got, series);
        }
    }

    #[test]
    fn samples_layout_matches_spec() {
        let mut buf = Vec::new();
        encode_samples(
            &[
                RefSample { sref: 1, t: 10, v: 0.0 },
                RefSample { sref: 2, t: 9, v: 1.0 },
            ],
            &mut buf,
        );
        let mut want = vec![2u8];
        want.extend_from_slice(&1u64.to_be_bytes());
        want.extend_from_slice(&10i64.to_be_bytes());
        want.extend_from_slice(&[0, 0]);
        want.extend_from_slice(&0u64.to_be_bytes());
        want.extend_from_slice(&[2, 1]); // zigzag(+1) = 2, zigzag(-1) = 1
        want.extend_from_slice(&1f64.to_bits().to_be_bytes());
        assert_eq!(buf, want);
    }

    #[test]
    fn tombstones_layout_matches_spec() {
        let mut buf = Vec::new();
        encode_tombstones(
            &[RefTombstone {
                sref: 5,
                mint: -1,
                maxt: 2,
            }],
            &mut buf,
        );
        let mut want = vec![3u8];
        want.extend_from_slice(&5u64.to_be_bytes());
        want.extend_from_slice(&[1, 4]); // zigzag(-1) = 1, zigzag(2) = 4
        assert_eq!(buf, want);
        let mut bad = vec![3u8];
        bad.extend_from_slice(&5u64.to_be_bytes());
        bad.extend_from_slice(&[4, 1]); // mint 2 > maxt -1
        assert!(decode(&bad).is_err());
    }
}

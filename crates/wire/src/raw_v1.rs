//! Remote write 1.0 decoded without building [`Labels`]: the receiver's hot path.
//!
//! A steady-state remote-write sender sends the same series over and over, so a receiver that remembers
//! which series a label set resolved to (keyed by the label set's raw bytes) needs the decoded labels only
//! for series it has not seen. [`decode_remote_write_v1_raw`] therefore parses the protobuf by hand into
//! borrowed slices: per series the raw bytes of its label fields ([`RawSeries::label_key`]), its samples and
//! exemplars; the labels are decoded and validated only when [`RawSeries::labels`] is called.
//!
//! The result is exactly [`crate::decode_remote_write_v1`]'s (checked by a property test on random and
//! mutated requests): the same budget check runs first, labels are validated by the same code, and the
//! hand-written parser is *stricter* than prost, never looser: anything it does not handle itself (a
//! malformed field, a group, a native histogram) makes it give up and run the prost decoder, whose result
//! or error is then returned unchanged. So prost alone decides every error and every unusual request.

use std::borrow::Cow;
use std::ops::Range;

use diamond_model::{Exemplar, Label, Labels, Metadata, Sample};

use crate::batch::{bounded, exemplar_labels, metric_type_from_wire, series_labels_from_bytes};
use crate::{Error, Rejection, TimeSeries, WriteBatch, budget};

/// A remote write 1.0 request whose series labels are still raw bytes; see the module doc.
#[derive(Debug)]
pub struct RawWriteRequest<'a> {
    entries: Vec<Entry<'a>>,
    /// Label (name, value) bytes of every series, in request order; an entry's `pairs` is its range.
    pairs: Vec<(&'a [u8], &'a [u8])>,
    /// Samples of every series, in request order; an entry's `samples` is its range.
    samples: Vec<Sample>,
    metadata: Vec<(String, Metadata)>,
}

#[derive(Debug)]
struct Entry<'a> {
    /// Position in the request's `timeseries` list.
    index: usize,
    labels: Labelling<'a>,
    samples: Range<usize>,
    exemplars: Vec<Exemplar>,
    histograms: usize,
}

#[derive(Debug)]
enum Labelling<'a> {
    /// Parsed by hand: the label fields' bytes (the cache key) and the range of the pairs.
    Raw { key: Cow<'a, [u8]>, pairs: Range<usize> },
    /// Decoded by prost (the fallback): a valid label set...
    Decoded(Labels),
    /// ...or the rejection of an invalid one (whose samples were not kept).
    Rejected(Rejection),
}

/// One series of a [`RawWriteRequest`].
#[derive(Debug, Clone, Copy)]
pub struct RawSeries<'r, 'a> {
    req: &'r RawWriteRequest<'a>,
    entry: &'r Entry<'a>,
}

impl<'r, 'a> RawSeries<'r, 'a> {
    /// The series' position in the request's `timeseries` list.
    pub fn index(&self) -> usize {
        self.entry.index
    }

    /// The raw bytes of the series' label fields (each field's key, length and `Label` message, in wire
    /// order). Equal keys mean equal label fields, hence the same [`RawSeries::labels`] result. `None` when
    /// the request went through the prost fallback (see the module doc): there is no key then.
    pub fn label_key(&self) -> Option<&'r [u8]> {
        match &self.entry.labels {
            Labelling::Raw { key, .. } => Some(key),
            Labelling::Decoded(_) | Labelling::Rejected(_) => None,
        }
    }

    /// The series' labels, validated exactly as [`crate::decode_remote_write_v1`] does; the error is the
    /// reason that function records in its [`Rejection`].
    pub fn labels(&self) -> Result<Labels, String> {
        match &self.entry.labels {
            Labelling::Raw { pairs, .. } => series_labels_from_bytes(
                self.req.pairs[pairs.clone()]
                    .iter()
                    .map(|(n, v)| (n.to_vec(), v.to_vec())),
            )
            .map_err(bounded),
            Labelling::Decoded(l) => Ok(l.clone()),
            Labelling::Rejected(r) => Err(r.reason.clone()),
        }
    }

    /// Float samples in request order. Empty for a series the prost fallback rejected.
    pub fn samples(&self) -> &'r [Sample] {
        &self.req.samples[self.entry.samples.clone()]
    }

    /// Exemplars in request order, decoded as [`crate::decode_remote_write_v1`] decodes them.
    pub fn exemplars(&self) -> &'r [Exemplar] {
        &self.entry.exemplars
    }

    /// Native histogram samples of the series (decoded to validate them, then dropped).
    pub fn histograms_dropped(&self) -> usize {
        self.entry.histograms
    }

    /// The rejection [`crate::decode_remote_write_v1`] records for this series when its labels are
    /// invalid.
    fn rejection(&self, reason: String) -> Rejection {
        match &self.entry.labels {
            Labelling::Rejected(r) => r.clone(),
            _ => Rejection {
                series_index: self.entry.index,
                reason,
                samples: self.entry.samples.len(),
                histograms: self.entry.histograms,
                exemplars: self.entry.exemplars.len(),
            },
        }
    }
}

impl<'a> RawWriteRequest<'a> {
    /// The series in request order, including those whose labels are invalid.
    pub fn series(&self) -> impl ExactSizeIterator<Item = RawSeries<'_, 'a>> {
        self.entries.iter().map(move |entry| RawSeries { req: self, entry })
    }

    /// Moves every series' exemplars out of the request, one vector per series in [`Self::series`] order;
    /// afterwards [`RawSeries::exemplars`] is empty (the receiver hands the exemplars to the appender
    /// without copying them).
    pub fn take_exemplars(&mut self) -> Vec<Vec<Exemplar>> {
        self.entries
            .iter_mut()
            .map(|e| std::mem::take(&mut e.exemplars))
            .collect()
    }

    /// Metric family metadata `(family name, metadata)`, as in [`WriteBatch::metadata`].
    pub fn metadata(&self) -> &[(String, Metadata)] {
        &self.metadata
    }

    /// The request as [`crate::decode_remote_write_v1`] returns it (decodes every label set).
    pub fn to_batch(&self) -> WriteBatch {
        let mut batch = WriteBatch {
            series: Vec::with_capacity(self.entries.len()),
            metadata: self.metadata.clone(),
            rejected: Vec::new(),
        };
        for s in self.series() {
            match s.labels() {
                Ok(labels) => batch.series.push(TimeSeries {
                    labels,
                    samples: s.samples().to_vec(),
                    exemplars: s.exemplars().to_vec(),
                    histograms_dropped: s.histograms_dropped(),
                    metadata: None,
                }),
                Err(reason) => batch.rejected.push(s.rejection(reason)),
            }
        }
        batch
    }

    /// The prost decoder's batch in this shape (keyless series).
    fn from_batch(batch: WriteBatch) -> Self {
        let mut out = RawWriteRequest {
            entries: Vec::with_capacity(batch.series.len() + batch.rejected.len()),
            pairs: Vec::new(),
            samples: Vec::new(),
            metadata: batch.metadata,
        };
        // Valid series fill the indexes the rejections leave free, in order.
        let mut rejected = batch.rejected.into_iter().peekable();
        let mut index = 0;
        for ts in batch.series {
            while let Some(r) = rejected.next_if(|r| r.series_index == index) {
                out.push_rejected(r);
                index += 1;
            }
            let start = out.samples.len();
            out.samples.extend_from_slice(&ts.samples);
            out.entries.push(Entry {
                index,
                labels: Labelling::Decoded(ts.labels),
                samples: start..out.samples.len(),
                exemplars: ts.exemplars,
                histograms: ts.histograms_dropped,
            });
            index += 1;
        }
        for r in rejected {
            out.push_rejected(r);
        }
        out
    }

    fn push_rejected(&mut self, r: Rejection) {
        let n = self.samples.len();
        self.entries.push(Entry {
            index: r.series_index,
            exemplars: Vec::new(),
            histograms: r.histograms,
            samples: n..n,
            labels: Labelling::Rejected(r),
        });
    }
}

/// Decodes a (decompressed) remote write 1.0 body like [`crate::decode_remote_write_v1`], with the same
/// errors and the same series, but leaves each series' labels as raw bytes until asked (see the module
/// doc). This is what a receiver with a series cache calls.
pub fn decode_remote_write_v1_raw(raw: &[u8]) -> Result<RawWriteRequest<'_>, Error> {
    budget::check_v1(raw)?;
    match parse_request(raw) {
        Some(req) => Ok(req),
        // Something the hand-written parser does not handle: prost decides, and its answer is final.
        None => crate::decode_remote_write_v1(raw).map(RawWriteRequest::from_batch),
    }
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// A protobuf reader over one message. Every method returns `None` where prost would fail (or where this
/// path prefers to let prost decide), never a value prost would not produce.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// A base-128 varint of at most 10 bytes whose 10th byte is 0 or 1 (prost's rule).
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return (i < 9 || b <= 1).then_some(v);
            }
        }
        None
    }

    /// A field key as (tag, wire type); `None` for keys prost refuses and for groups (left to prost).
    fn key(&mut self) -> Option<(u32, u8)> {
        let k = self.varint()?;
        let k = u32::try_from(k).ok()?;
        let wt = (k & 7) as u8;
        let tag = k >> 3;
        (tag >= 1 && matches!(wt, VARINT | FIXED64 | LEN | FIXED32)).then_some((tag, wt))
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint()?).ok()?;
        self.take(n)
    }

    fn fixed64(&mut self) -> Option<u64> {
        let s = self.take(8)?;
        Some(u64::from_le_bytes(s.try_into().ok()?))
    }

    /// Skips an unknown field of wire type `wt` (never a group: [`Reader::key`] refuses those).
    fn skip(&mut self, wt: u8) -> Option<()> {
        match wt {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.bytes().map(drop),
            FIXED32 => self.take(4).map(drop),
            _ => None,
        }
    }
}

/// `prometheus.WriteRequest`; `None` hands the request to prost.
fn parse_request(raw: &[u8]) -> Option<RawWriteRequest<'_>> {
    let mut out = RawWriteRequest {
        entries: Vec::new(),
        pairs: Vec::new(),
        samples: Vec::new(),
        metadata: Vec::new(),
    };
    let mut r = Reader::new(raw);
    while !r.done() {
        match r.key()? {
            (1, LEN) => {
                let msg = r.bytes()?;
                let index = out.entries.len();
                let entry = parse_series(msg, index, &mut out.pairs, &mut out.samples)?;
                out.entries.push(entry);
            }
            (3, LEN) => out.metadata.push(parse_metadata(r.bytes()?)?),
            (1 | 3, _) => return None,
            (_, wt) => r.skip(wt)?,
        }
    }
    Some(out)
}

/// `prometheus.TimeSeries`, its pairs and samples appended to the request's shared vectors.
fn parse_series<'a>(
    msg: &'a [u8],
    index: usize,
    pairs: &mut Vec<(&'a [u8], &'a [u8])>,
    samples: &mut Vec<Sample>,
) -> Option<Entry<'a>> {
    let first_pair = pairs.len();
    let first_sample = samples.len();
    // The key is the label fields' bytes: one borrowed span while they are adjacent (as every sender
    // writes them), a copy of all of them if another field comes between.
    let mut span: Option<Range<usize>> = None;
    let mut owned: Option<Vec<u8>> = None;
    let mut exemplars = Vec::new();
    let mut r = Reader::new(msg);
    while !r.done() {
        let start = r.pos;
        match r.key()? {
            (1, LEN) => {
                pairs.push(parse_label(r.bytes()?)?);
                let end = r.pos;
                match (&mut owned, &mut span) {
                    (Some(o), _) => o.extend_from_slice(&msg[start..end]),
                    (None, None) => span = Some(start..end),
                    (None, Some(s)) if s.end == start => s.end = end,
                    (None, Some(s)) => {
                        let mut o = msg[s.clone()].to_vec();
                        o.extend_from_slice(&msg[start..end]);
                        owned = Some(o);
                    }
                }
            }
            (2, LEN) => samples.push(parse_sample(r.bytes()?)?),
            (3, LEN) => exemplars.push(parse_exemplar(r.bytes()?)?),
            // Native histograms (not ingested; prost validates them) and wrong wire types: prost decides.
            (1..=4, _) => return None,
            (_, wt) => r.skip(wt)?,
        }
    }
    let key = match (owned, span) {
        (Some(o), _) => Cow::Owned(o),
        (None, Some(s)) => Cow::Borrowed(&msg[s]),
        (None, None) => Cow::Borrowed(&[][..]),
    };
    Some(Entry {
        index,
        labels: Labelling::Raw {
            key,
            pairs: first_pair..pairs.len(),
        },
        samples: first_sample..samples.len(),
        exemplars,
        histograms: 0,
    })
}

/// `prometheus.Label` as (name, value) bytes; a repeated field keeps its last value, as prost does.
fn parse_label(msg: &[u8]) -> Option<(&[u8], &[u8])> {
    let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
    let mut r = Reader::new(msg);
    while !r.done() {
        match r.key()? {
            (1, LEN) => name = r.bytes()?,
            (2, LEN) => value = r.bytes()?,
            (1 | 2, _) => return None,
            (_, wt) => r.skip(wt)?,
        }
    }
    Some((name, value))
}

/// `prometheus.Sample`.
fn parse_sample(msg: &[u8]) -> Option<Sample> {
    let mut s = Sample { t: 0, v: 0.0 };
    let mut r = Reader::new(msg);
    while !r.done() {
        match r.key()? {
            (1, FIXED64) => s.v = f64::from_bits(r.fixed64()?),
            // int64 is the varint's bits reinterpreted, as prost decodes it.
            (2, VARINT) => s.t = r.varint()? as i64,
            (1 | 2, _) => return None,
            (_, wt) => r.skip(wt)?,
        }
    }
    Some(s)
}

/// `prometheus.Exemplar`, converted as [`crate::decode_remote_write_v1`] converts it.
fn parse_exemplar(msg: &[u8]) -> Option<Exemplar> {
    let mut labels = Vec::new();
    let mut value = 0.0;
    let mut ts = 0i64;
    let mut r = Reader::new(msg);
    while !r.done() {
        match r.key()? {
            (1, LEN) => {
                let (n, v) = parse_label(r.bytes()?)?;
                labels.push(Label {
                    name: lossy(n).into(),
                    value: lossy(v).into(),
                });
            }
            (2, FIXED64) => value = f64::from_bits(r.fixed64()?),
            (3, VARINT) => ts = r.varint()? as i64,
            (1..=3, _) => return None,
            (_, wt) => r.skip(wt)?,
        }
    }
    Some(Exemplar {
        labels: exemplar_labels(labels),
        value,
        ts,
        has_ts: ts != 0,
    })
}

/// `prometheus.MetricMetadata`, converted as [`crate::decode_remote_write_v1`] converts it.
fn parse_metadata(msg: &[u8]) -> Option<(String, Metadata)> {
    let mut t = 0i32;
    let (mut name, mut help, mut unit): (&[u8], &[u8], &[u8]) = (&[], &[], &[]);
    let mut r = Reader::new(msg);
    while !r.done() {
        match r.key()? {
            // int32 is the varint's low 32 bits, as prost decodes it.
            (1, VARINT) => t = r.varint()? as i32,
            (2, LEN) => name = r.bytes()?,
            (4, LEN) => help = r.bytes()?,
            (5, LEN) => unit = r.bytes()?,
            (1 | 2 | 4 | 5, _) => return None,
            (_, wt) => r.skip(wt)?,
        }
    }
    Some((
        lossy(name),
        Metadata {
            metric_type: metric_type_from_wire(t),
            help: lossy(help),
            unit: lossy(unit),
        },
    ))
}

/// [`crate::lenient::lossy`] for borrowed bytes.
fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_follows_prost() {
        for (bytes, want) in [
            (&[0x00][..], Some(0)),
            (&[0x96, 0x01][..], Some(150)),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01][..],
                Some(u64::MAX),
            ),
            (&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02][..], None),
            (&[0x80][..], None),
            (&[][..], None),
        ] {
            assert_eq!(Reader::new(bytes).varint(), want, "{bytes:x?}");
        }
    }

    #[test]
    fn groups_and_bad_keys_go_to_prost() {
        // Tag 0, a group start, a group end, wire types 6 and 7.
        for k in [0x02u8, 0x0b, 0x0c, 0x0e, 0x0f] {
            assert_eq!(Reader::new(&[k]).key(), None, "{k:#x}");
        }
    }
}

//! Remote write 2.0: `io.prometheus.write.v2.Request` ⇄ [`WriteBatch`].

use std::collections::HashMap;

use diamond_model::{Exemplar, Label, Labels, Metadata, MetricType, Sample};
use prost::Message;

use crate::batch::{
    BytePair, bounded, exemplar_labels, metric_type_from_wire, metric_type_to_wire, series_labels_from_bytes,
};
use crate::proto::v2 as pb;
use crate::{Error, Rejection, TimeSeries, WriteBatch};
use crate::{budget, lenient};

/// Decodes a (decompressed) remote write 2.0 body into model types, resolving every reference into the
/// symbol table.
///
/// Per-series problems (invalid labels, an odd number of label references, a label, help or unit reference
/// past the table) leave the series out and record it in [`WriteBatch::rejected`]; an exemplar with bad
/// references is left out alone (its series is kept) and recorded too. A 2.0 receiver writes the rest and
/// answers 400 (see [`WriteBatch`]). Only a body that is not a valid `Request`, or that would decode into
/// more memory than the budget of [`crate::decode_remote_write_v1`], is an [`Error`].
///
/// `created_timestamp` is decoded but not carried into the batch: Diamond does not ingest created
/// timestamps (Prometheus uses them only with its `created-timestamp-zero-ingestion` feature).
///
/// The spec says the first symbol MUST be `""`; Prometheus 3.5.3 does not check it (observed: such a
/// request is written and answered 204), and neither does this function, since the empty symbol only
/// matters as the default help/unit reference.
pub fn decode_remote_write_v2(raw: &[u8]) -> Result<WriteBatch, Error> {
    budget::check_v2(raw)?;
    // Symbols are decoded as bytes so that an invalid UTF-8 symbol only rejects the series using it.
    let req = lenient::Request::decode(raw)?;
    let symbols = &req.symbols;
    let mut series = Vec::with_capacity(req.timeseries.len());
    let mut rejected = Vec::new();
    for (index, ts) in req.timeseries.into_iter().enumerate() {
        let reject = |reason: String| Rejection {
            series_index: index,
            reason: bounded(reason),
            samples: ts.samples.len(),
            histograms: ts.histograms.len(),
            exemplars: ts.exemplars.len(),
        };
        let labels = match resolve_pairs(&ts.labels_refs, symbols) {
            Ok(pairs) => match series_labels_from_bytes(pairs.into_iter()) {
                Ok(l) => l,
                Err(reason) => {
                    rejected.push(reject(reason));
                    continue;
                }
            },
            Err(e) => {
                rejected.push(reject(format!("parsing labels for series {:?}: {e}", ts.labels_refs)));
                continue;
            }
        };
        let metadata = match resolve_metadata(ts.metadata, symbols) {
            Ok(m) => m,
            Err(e) => {
                rejected.push(reject(format!("parsing metadata for series {:?}: {e}", ts.labels_refs)));
                continue;
            }
        };
        let samples = ts
            .samples
            .iter()
            .map(|s| Sample {
                t: s.timestamp,
                v: s.value,
            })
            .collect();
        let mut exemplars = Vec::with_capacity(ts.exemplars.len());
        for e in &ts.exemplars {
            match resolve_pairs(&e.labels_refs, symbols) {
                Ok(pairs) => exemplars.push(Exemplar {
                    labels: exemplar_labels(
                        pairs
                            .into_iter()
                            .map(|(n, v)| Label {
                                name: lenient::lossy(n).into(),
                                value: lenient::lossy(v).into(),
                            })
                            .collect(),
                    ),
                    value: e.value,
                    ts: e.timestamp,
                    has_ts: e.timestamp != 0,
                }),
                Err(err) => rejected.push(Rejection {
                    series_index: index,
                    reason: bounded(format!("parsing exemplar for series {labels}: {err}")),
                    samples: 0,
                    histograms: 0,
                    exemplars: 1,
                }),
            }
        }
        series.push(TimeSeries {
            labels,
            samples,
            exemplars,
            histograms_dropped: ts.histograms.len(),
            metadata,
        });
    }
    Ok(WriteBatch {
        series,
        metadata: Vec::new(),
        rejected,
    })
}

/// Resolves a series' metadata; `None` when it says nothing (unspecified type, empty help and unit).
fn resolve_metadata(m: Option<pb::Metadata>, symbols: &[Vec<u8>]) -> Result<Option<Metadata>, String> {
    let Some(m) = m else {
        return Ok(None);
    };
    let md = Metadata {
        metric_type: metric_type_from_wire(m.r#type),
        help: lenient::lossy(symbol(symbols, m.help_ref)?.to_vec()),
        unit: lenient::lossy(symbol(symbols, m.unit_ref)?.to_vec()),
    };
    Ok((md != Metadata::default()).then_some(md))
}

/// Encodes a batch as a remote write 2.0 protobuf body (uncompressed; see [`crate::compress_snappy`]),
/// building the symbol table (first symbol `""`, then strings in first-use order).
///
/// An exemplar with `has_ts == false` is written with timestamp 0.
/// A value of -0.0 is written as absent (proto3 elides defaults) and so decodes as +0.0. [`WriteBatch::metadata`] (1.0's
/// per-family metadata) has no 2.0 representation: the sender must put it on each series instead; it is
/// not written. A `Some` metadata equal to the default (unknown, no help, no unit) is indistinguishable from
/// none on the wire and decodes as `None`.
pub fn encode_remote_write_v2(batch: &WriteBatch) -> Vec<u8> {
    let mut table = SymbolTable::default();
    table.intern("");
    let timeseries = batch
        .series
        .iter()
        .map(|s| pb::TimeSeries {
            labels_refs: table.refs(&s.labels),
            samples: s
                .samples
                .iter()
                .map(|x| pb::Sample {
                    value: x.v,
                    timestamp: x.t,
                })
                .collect(),
            histograms: Vec::new(),
            exemplars: s
                .exemplars
                .iter()
                .map(|e| pb::Exemplar {
                    labels_refs: table.refs(&e.labels),
                    value: e.value,
                    timestamp: if e.has_ts { e.ts } else { 0 },
                })
                .collect(),
            metadata: s
                .metadata
                .as_ref()
                .filter(|m| m.metric_type != MetricType::Unknown || !m.help.is_empty() || !m.unit.is_empty())
                .map(|m| pb::Metadata {
                    r#type: metric_type_to_wire(m.metric_type),
                    help_ref: table.intern(&m.help),
                    unit_ref: table.intern(&m.unit),
                }),
            created_timestamp: 0,
        })
        .collect();
    pb::Request {
        symbols: table.strings,
        timeseries,
    }
    .encode_to_vec()
}

/// Resolves (name, value) reference pairs into byte pairs; the error is in Prometheus's words.
fn resolve_pairs(refs: &[u32], symbols: &[Vec<u8>]) -> Result<Vec<BytePair>, String> {
    if !refs.len().is_multiple_of(2) {
        return Err(format!("invalid labelRefs length {}", refs.len()));
    }
    refs.chunks_exact(2)
        .map(|p| Ok((symbol(symbols, p[0])?.to_vec(), symbol(symbols, p[1])?.to_vec())))
        .collect()
}

fn symbol(symbols: &[Vec<u8>], r: u32) -> Result<&[u8], String> {
    symbols
        .get(r as usize)
        .map(Vec::as_slice)
        .ok_or_else(|| format!("reference {r} outside of symbols table (size {})", symbols.len()))
}

/// Interns strings for the encoder.
#[derive(Default)]
struct SymbolTable {
    strings: Vec<String>,
    index: HashMap<String, u32>,
}

impl SymbolTable {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        // More than u32::MAX distinct strings cannot be encoded in 2.0; such a batch would be far beyond any
        // body limit, so this is a caller bug.
        let i = u32::try_from(self.strings.len()).expect("remote write 2.0 symbol table exceeds u32::MAX entries");
        self.strings.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }

    fn refs(&mut self, labels: &Labels) -> Vec<u32> {
        let mut v = Vec::with_capacity(labels.len() * 2);
        for l in labels {
            v.push(self.intern(&l.name));
            v.push(self.intern(&l.value));
        }
        v
    }
}

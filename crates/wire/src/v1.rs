//! Remote write 1.0: `prometheus.WriteRequest` ⇄ [`WriteBatch`].

use diamond_model::{Exemplar, Label, Labels, Metadata, Sample};
use prost::Message;

use crate::batch::{bounded, exemplar_labels, metric_type_from_wire, metric_type_to_wire, series_labels_from_bytes};
use crate::proto::v1 as pb;
use crate::{Error, Rejection, TimeSeries, WriteBatch};
use crate::{budget, lenient};

/// Decodes a (decompressed) remote write 1.0 body into model types.
///
/// Series labels are sorted and validated as Prometheus does (invalid UTF-8 included); an invalid series is
/// left out and recorded in [`WriteBatch::rejected`] (a 1.0 receiver still answers 204, see
/// [`WriteBatch`]). Exemplar timestamps of 0 become `has_ts == false`; exemplar labels, help and unit text
/// that are not UTF-8 are kept with U+FFFD replacements. Native histograms are decoded (so malformed ones fail the request, as in
/// Prometheus) and counted in [`TimeSeries::histograms_dropped`]. Only a body that is not a valid
/// `WriteRequest` is an [`Error`], and so is a body that would decode into more than 1 GiB
/// ([`Error::DecodedTooLarge`], estimated in one pass before decoding: protobuf turns a 2-byte empty
/// message into a struct of up to about 240 bytes, so a flood of them would otherwise take tens of
/// gigabytes; a real 2000-series request decodes to under 2 MB).
pub fn decode_remote_write_v1(raw: &[u8]) -> Result<WriteBatch, Error> {
    budget::check_v1(raw)?;
    // Strings are decoded as bytes so that one invalid UTF-8 label rejects its series, not the request.
    let req = lenient::WriteRequest::decode(raw)?;
    let mut series = Vec::with_capacity(req.timeseries.len());
    let mut rejected = Vec::new();
    for (index, ts) in req.timeseries.into_iter().enumerate() {
        let labels = match series_labels_from_bytes(ts.labels.into_iter().map(|l| (l.name, l.value))) {
            Ok(l) => l,
            Err(reason) => {
                rejected.push(Rejection {
                    series_index: index,
                    reason: bounded(reason),
                    samples: ts.samples.len(),
                    histograms: ts.histograms.len(),
                    exemplars: ts.exemplars.len(),
                });
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
        let exemplars = ts
            .exemplars
            .into_iter()
            .map(|e| Exemplar {
                labels: exemplar_labels(
                    e.labels
                        .into_iter()
                        .map(|l| Label {
                            name: lenient::lossy(l.name).into(),
                            value: lenient::lossy(l.value).into(),
                        })
                        .collect(),
                ),
                value: e.value,
                ts: e.timestamp,
                has_ts: e.timestamp != 0,
            })
            .collect();
        series.push(TimeSeries {
            labels,
            samples,
            exemplars,
            histograms_dropped: ts.histograms.len(),
            metadata: None,
        });
    }
    let metadata = req
        .metadata
        .into_iter()
        .map(|m| {
            let md = Metadata {
                metric_type: metric_type_from_wire(m.r#type),
                help: lenient::lossy(m.help),
                unit: lenient::lossy(m.unit),
            };
            (lenient::lossy(m.metric_family_name), md)
        })
        .collect();
    Ok(WriteBatch {
        series,
        metadata,
        rejected,
    })
}

/// Encodes a batch as a remote write 1.0 protobuf body (uncompressed; see [`crate::compress_snappy`]).
///
/// An exemplar with `has_ts == false` is written with timestamp 0 (the wire's "no timestamp").
/// A value of -0.0 is written as absent (proto3 elides defaults) and so decodes as +0.0.
/// [`TimeSeries::histograms_dropped`] and [`TimeSeries::metadata`] have no 1.0 representation and are not
/// written; per-family metadata goes in [`WriteBatch::metadata`].
pub fn encode_remote_write_v1(batch: &WriteBatch) -> Vec<u8> {
    let req = pb::WriteRequest {
        timeseries: batch
            .series
            .iter()
            .map(|s| pb::TimeSeries {
                labels: labels_to_pb(&s.labels),
                samples: s
                    .samples
                    .iter()
                    .map(|x| pb::Sample {
                        value: x.v,
                        timestamp: x.t,
                    })
                    .collect(),
                exemplars: s
                    .exemplars
                    .iter()
                    .map(|e| pb::Exemplar {
                        labels: labels_to_pb(&e.labels),
                        value: e.value,
                        timestamp: if e.has_ts { e.ts } else { 0 },
                    })
                    .collect(),
                histograms: Vec::new(),
            })
            .collect(),
        metadata: batch
            .metadata
            .iter()
            .map(|(name, m)| pb::MetricMetadata {
                r#type: metric_type_to_wire(m.metric_type),
                metric_family_name: name.clone(),
                help: m.help.clone(),
                unit: m.unit.clone(),
            })
            .collect(),
    };
    req.encode_to_vec()
}

fn labels_to_pb(l: &Labels) -> Vec<pb::Label> {
    l.iter()
        .map(|l| pb::Label {
            name: l.name.to_string(),
            value: l.value.to_string(),
        })
        .collect()
}

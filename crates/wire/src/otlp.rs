//! OTLP (protobuf over HTTP): decoding, and translation of metrics into a [`WriteBatch`].

use prost::Message;

use crate::Error;
use crate::proto::otlp as pb;

/// Decodes an OTLP/HTTP protobuf metrics body (`ExportMetricsServiceRequest`), already decompressed.
pub fn decode_otlp_metrics(raw: &[u8]) -> Result<pb::ExportMetricsServiceRequest, Error> {
    Ok(pb::ExportMetricsServiceRequest::decode(raw)?)
}

/// Decodes an OTLP/HTTP protobuf traces body (`ExportTraceServiceRequest`), already decompressed.
pub fn decode_otlp_traces(raw: &[u8]) -> Result<pb::ExportTraceServiceRequest, Error> {
    Ok(pb::ExportTraceServiceRequest::decode(raw)?)
}

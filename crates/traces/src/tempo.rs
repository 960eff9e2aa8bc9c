//! Tempo's query-API shapes: trace by ID (v1 protobuf `tempopb.Trace`, v2 `TraceByIDResponse` in protobuf
//! or OTLP/JSON), search results and tag lists. `tempopb.Trace` is `repeated ResourceSpans batches = 1`,
//! the same wire shape as OTLP's `ExportTraceServiceRequest`, so the v1 protobuf answer is that message.

use diamond_wire::proto::otlp::{ExportTraceServiceRequest, ResourceSpans};
use prost::Message;
use serde_json::{Value, json};

use crate::Trace;
use crate::search::TraceSummary;

/// `tempopb.Trace` in protobuf (Tempo v1 `/api/traces/<id>` with `Accept: application/protobuf`).
pub fn trace_v1_proto(trace: &Trace) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: trace.batches.clone(),
    }
    .encode_to_vec()
}

/// `tempopb.TraceByIDResponse { Trace trace = 1; … }` in protobuf (v2 with `Accept: application/protobuf`).
pub fn trace_v2_proto(trace: &Trace) -> Vec<u8> {
    #[derive(Clone, PartialEq, prost::Message)]
    struct TraceByIdResponse {
        #[prost(message, optional, tag = "1")]
        trace: Option<ExportTraceServiceRequest>,
    }
    TraceByIdResponse {
        trace: Some(ExportTraceServiceRequest {
            resource_spans: trace.batches.clone(),
        }),
    }
    .encode_to_vec()
}

fn batches_json(b: &[ResourceSpans]) -> Vec<Value> {
    b.iter().map(crate::otlp_json::encode_resource_spans).collect()
}

/// Tempo v2's JSON trace by ID: `{"trace":{"resourceSpans":[…]}}`.
pub fn trace_v2_json(trace: &Trace) -> Value {
    json!({"trace": {"resourceSpans": batches_json(&trace.batches)}})
}

/// Tempo v1's JSON trace by ID: `{"batches":[…]}`.
pub fn trace_v1_json(trace: &Trace) -> Value {
    json!({"batches": batches_json(&trace.batches)})
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// One search hit in Tempo's `/api/search` shape.
pub fn search_hit(sum: &TraceSummary) -> Value {
    let spans: Vec<Value> = sum
        .matched
        .iter()
        .take(3)
        .map(|(_, s)| {
            json!({
                "spanID": hex(&s.span_id),
                "name": s.name,
                "startTimeUnixNano": s.start_time_unix_nano.to_string(),
                "durationNanos": s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano).to_string(),
                "attributes": crate::otlp_json::encode_attrs(&s.attributes),
            })
        })
        .collect();
    json!({
        "traceID": sum.trace_id.to_hex(),
        "rootServiceName": sum.root_service,
        "rootTraceName": sum.root_name,
        "startTimeUnixNano": sum.start_ns.to_string(),
        "durationMs": sum.duration_ns / 1_000_000,
        "spanSet": {"spans": spans, "matched": sum.matched.len()},
        "spanSets": [{"spans": spans, "matched": sum.matched.len()}],
    })
}

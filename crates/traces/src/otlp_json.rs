//! OTLP/JSON for traces, both ways: the protobuf JSON mapping with OTLP's exceptions (trace and span IDs
//! are hex, not base64; enums are integers; field names in lowerCamelCase, the original snake_case names
//! accepted on input; 64-bit integers as strings, numbers accepted on input; unknown fields ignored).
//! Hand-written over `serde_json::Value` because the `prost` messages carry no serde derives and the ID
//! rule differs from the generic protobuf JSON mapping anyway.

use base64::Engine as _;
use diamond_wire::proto::otlp::{
    AnyValue, ArrayValue, ExportTraceServiceRequest, InstrumentationScope, KeyValue, KeyValueList, Resource,
    ResourceSpans, ScopeSpans, Span, Status, any_value, span,
};
use serde_json::{Map, Value, json};

/// Why an OTLP/JSON body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid OTLP/JSON: {0}")]
pub struct JsonError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, JsonError> {
    Err(JsonError(msg.into()))
}

/// The field under its camelCase or snake_case name.
fn field<'a>(o: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    o.get(camel).or_else(|| o.get(snake)).filter(|v| !v.is_null())
}

fn obj<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, JsonError> {
    v.as_object()
        .ok_or_else(|| JsonError(format!("{what} is not an object")))
}

fn arr<'a>(o: &'a Map<String, Value>, camel: &str, snake: &str) -> Result<&'a [Value], JsonError> {
    match field(o, camel, snake) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => err(format!("{camel} is not an array")),
    }
}

fn string(o: &Map<String, Value>, camel: &str, snake: &str) -> Result<String, JsonError> {
    match field(o, camel, snake) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => err(format!("{camel} is not a string")),
    }
}

fn u64_field(o: &Map<String, Value>, camel: &str, snake: &str) -> Result<u64, JsonError> {
    match field(o, camel, snake) {
        None => Ok(0),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| JsonError(format!("{camel}: {s:?} is not an integer"))),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| JsonError(format!("{camel}: {n} is not an unsigned integer"))),
        Some(_) => err(format!("{camel} is not an integer")),
    }
}

fn u32_field(o: &Map<String, Value>, camel: &str, snake: &str) -> Result<u32, JsonError> {
    u32::try_from(u64_field(o, camel, snake)?).map_err(|_| JsonError(format!("{camel} out of range")))
}

fn enum_field(o: &Map<String, Value>, camel: &str, snake: &str, names: &[&str]) -> Result<i32, JsonError> {
    match field(o, camel, snake) {
        None => Ok(0),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| JsonError(format!("{camel}: {n} is not an enum value"))),
        Some(Value::String(s)) => names
            .iter()
            .position(|n| n == s)
            .map(|i| i as i32)
            .ok_or_else(|| JsonError(format!("{camel}: unknown value {s:?}"))),
        Some(_) => err(format!("{camel} is not an enum value")),
    }
}

/// A hex ID field; empty when absent. The length is left to the store to judge (it reports bad IDs).
fn id_field(o: &Map<String, Value>, camel: &str, snake: &str) -> Result<Vec<u8>, JsonError> {
    let s = string(o, camel, snake)?;
    if s.len() % 2 != 0 {
        return err(format!("{camel}: {s:?} is not hex"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| JsonError(format!("{camel}: {s:?} is not hex")))
}

fn any_value(v: &Value, depth: usize) -> Result<AnyValue, JsonError> {
    if depth > 32 {
        return err("attribute values nested too deeply");
    }
    let o = obj(v, "value")?;
    let value = if let Some(s) = field(o, "stringValue", "string_value") {
        Some(any_value::Value::StringValue(
            s.as_str()
                .ok_or_else(|| JsonError("stringValue is not a string".into()))?
                .to_owned(),
        ))
    } else if let Some(b) = field(o, "boolValue", "bool_value") {
        Some(any_value::Value::BoolValue(
            b.as_bool().ok_or_else(|| JsonError("boolValue is not a bool".into()))?,
        ))
    } else if let Some(i) = field(o, "intValue", "int_value") {
        let n = match i {
            Value::String(s) => s.parse::<i64>().ok(),
            Value::Number(n) => n.as_i64(),
            _ => None,
        };
        Some(any_value::Value::IntValue(
            n.ok_or_else(|| JsonError("intValue is not an integer".into()))?,
        ))
    } else if let Some(d) = field(o, "doubleValue", "double_value") {
        let n = match d {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => match s.as_str() {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                s => s.parse().ok(),
            },
            _ => None,
        };
        Some(any_value::Value::DoubleValue(
            n.ok_or_else(|| JsonError("doubleValue is not a number".into()))?,
        ))
    } else if let Some(a) = field(o, "arrayValue", "array_value") {
        let values = arr(obj(a, "arrayValue")?, "values", "values")?
            .iter()
            .map(|x| any_value(x, depth + 1))
            .collect::<Result<_, _>>()?;
        Some(any_value::Value::ArrayValue(ArrayValue { values }))
    } else if let Some(kv) = field(o, "kvlistValue", "kvlist_value") {
        let values = key_values(arr(obj(kv, "kvlistValue")?, "values", "values")?, depth + 1)?;
        Some(any_value::Value::KvlistValue(KeyValueList { values }))
    } else if let Some(b) = field(o, "bytesValue", "bytes_value") {
        let s = b
            .as_str()
            .ok_or_else(|| JsonError("bytesValue is not a string".into()))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(s))
            .map_err(|_| JsonError("bytesValue is not base64".into()))?;
        Some(any_value::Value::BytesValue(bytes))
    } else {
        None
    };
    Ok(AnyValue { value })
}

fn key_values(a: &[Value], depth: usize) -> Result<Vec<KeyValue>, JsonError> {
    a.iter()
        .map(|kv| {
            let o = obj(kv, "attribute")?;
            Ok(KeyValue {
                key: string(o, "key", "key")?,
                value: field(o, "value", "value").map(|v| any_value(v, depth)).transpose()?,
            })
        })
        .collect()
}

fn attributes(o: &Map<String, Value>) -> Result<Vec<KeyValue>, JsonError> {
    key_values(arr(o, "attributes", "attributes")?, 0)
}

const KINDS: [&str; 6] = [
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];
const STATUS_CODES: [&str; 3] = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];

fn decode_span(v: &Value) -> Result<Span, JsonError> {
    let o = obj(v, "span")?;
    let events = arr(o, "events", "events")?
        .iter()
        .map(|e| {
            let e = obj(e, "event")?;
            Ok(span::Event {
                time_unix_nano: u64_field(e, "timeUnixNano", "time_unix_nano")?,
                name: string(e, "name", "name")?,
                attributes: attributes(e)?,
                dropped_attributes_count: u32_field(e, "droppedAttributesCount", "dropped_attributes_count")?,
            })
        })
        .collect::<Result<_, JsonError>>()?;
    let links = arr(o, "links", "links")?
        .iter()
        .map(|l| {
            let l = obj(l, "link")?;
            Ok(span::Link {
                trace_id: id_field(l, "traceId", "trace_id")?,
                span_id: id_field(l, "spanId", "span_id")?,
                trace_state: string(l, "traceState", "trace_state")?,
                attributes: attributes(l)?,
                dropped_attributes_count: u32_field(l, "droppedAttributesCount", "dropped_attributes_count")?,
                flags: u32_field(l, "flags", "flags")?,
            })
        })
        .collect::<Result<_, JsonError>>()?;
    let status = field(o, "status", "status")
        .map(|s| {
            let s = obj(s, "status")?;
            Ok::<_, JsonError>(Status {
                message: string(s, "message", "message")?,
                code: enum_field(s, "code", "code", &STATUS_CODES)?,
            })
        })
        .transpose()?;
    Ok(Span {
        trace_id: id_field(o, "traceId", "trace_id")?,
        span_id: id_field(o, "spanId", "span_id")?,
        trace_state: string(o, "traceState", "trace_state")?,
        parent_span_id: id_field(o, "parentSpanId", "parent_span_id")?,
        flags: u32_field(o, "flags", "flags")?,
        name: string(o, "name", "name")?,
        kind: enum_field(o, "kind", "kind", &KINDS)?,
        start_time_unix_nano: u64_field(o, "startTimeUnixNano", "start_time_unix_nano")?,
        end_time_unix_nano: u64_field(o, "endTimeUnixNano", "end_time_unix_nano")?,
        attributes: attributes(o)?,
        dropped_attributes_count: u32_field(o, "droppedAttributesCount", "dropped_attributes_count")?,
        events,
        dropped_events_count: u32_field(o, "droppedEventsCount", "dropped_events_count")?,
        links,
        dropped_links_count: u32_field(o, "droppedLinksCount", "dropped_links_count")?,
        status,
    })
}

fn decode_resource_spans(v: &Value) -> Result<ResourceSpans, JsonError> {
    let o = obj(v, "resourceSpans entry")?;
    let resource = field(o, "resource", "resource")
        .map(|r| {
            let r = obj(r, "resource")?;
            Ok::<_, JsonError>(Resource {
                attributes: attributes(r)?,
                dropped_attributes_count: u32_field(r, "droppedAttributesCount", "dropped_attributes_count")?,
            })
        })
        .transpose()?;
    let scope_spans = arr(o, "scopeSpans", "scope_spans")?
        .iter()
        .map(|ss| {
            let ss = obj(ss, "scopeSpans entry")?;
            let scope = field(ss, "scope", "scope")
                .map(|s| {
                    let s = obj(s, "scope")?;
                    Ok::<_, JsonError>(InstrumentationScope {
                        name: string(s, "name", "name")?,
                        version: string(s, "version", "version")?,
                        attributes: attributes(s)?,
                        dropped_attributes_count: u32_field(s, "droppedAttributesCount", "dropped_attributes_count")?,
                    })
                })
                .transpose()?;
            Ok(ScopeSpans {
                scope,
                spans: arr(ss, "spans", "spans")?
                    .iter()
                    .map(decode_span)
                    .collect::<Result<_, _>>()?,
                schema_url: string(ss, "schemaUrl", "schema_url")?,
            })
        })
        .collect::<Result<_, JsonError>>()?;
    Ok(ResourceSpans {
        resource,
        scope_spans,
        schema_url: string(o, "schemaUrl", "schema_url")?,
    })
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` body.
pub fn decode_request(body: &[u8]) -> Result<ExportTraceServiceRequest, JsonError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| JsonError(e.to_string()))?;
    let o = obj(&v, "request")?;
    Ok(ExportTraceServiceRequest {
        resource_spans: arr(o, "resourceSpans", "resource_spans")?
            .iter()
            .map(decode_resource_spans)
            .collect::<Result<_, _>>()?,
    })
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    b.iter().fold(String::with_capacity(b.len() * 2), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// An attribute value in OTLP/JSON.
pub fn encode_any_value(v: &AnyValue) -> Value {
    match &v.value {
        None => json!({}),
        Some(any_value::Value::StringValue(s)) => json!({"stringValue": s}),
        Some(any_value::Value::BoolValue(b)) => json!({"boolValue": b}),
        Some(any_value::Value::IntValue(i)) => json!({"intValue": i.to_string()}),
        Some(any_value::Value::DoubleValue(d)) => {
            if d.is_finite() {
                json!({"doubleValue": d})
            } else if d.is_nan() {
                json!({"doubleValue": "NaN"})
            } else if *d > 0.0 {
                json!({"doubleValue": "Infinity"})
            } else {
                json!({"doubleValue": "-Infinity"})
            }
        }
        Some(any_value::Value::ArrayValue(a)) => {
            json!({"arrayValue": {"values": a.values.iter().map(encode_any_value).collect::<Vec<_>>()}})
        }
        Some(any_value::Value::KvlistValue(kv)) => json!({"kvlistValue": {"values": encode_attrs(&kv.values)}}),
        Some(any_value::Value::BytesValue(b)) => {
            json!({"bytesValue": base64::engine::general_purpose::STANDARD.encode(b)})
        }
    }
}

/// Attributes in OTLP/JSON.
pub fn encode_attrs(kvs: &[KeyValue]) -> Vec<Value> {
    kvs.iter()
        .map(|kv| json!({"key": kv.key, "value": kv.value.as_ref().map(encode_any_value).unwrap_or_else(|| json!({}))}))
        .collect()
}

fn encode_span(s: &Span) -> Value {
    let mut o = Map::new();
    o.insert("traceId".into(), hex(&s.trace_id).into());
    o.insert("spanId".into(), hex(&s.span_id).into());
    if !s.trace_state.is_empty() {
        o.insert("traceState".into(), s.trace_state.clone().into());
    }
    if !s.parent_span_id.is_empty() {
        o.insert("parentSpanId".into(), hex(&s.parent_span_id).into());
    }
    if s.flags != 0 {
        o.insert("flags".into(), s.flags.into());
    }
    o.insert("name".into(), s.name.clone().into());
    o.insert("kind".into(), s.kind.into());
    o.insert("startTimeUnixNano".into(), s.start_time_unix_nano.to_string().into());
    o.insert("endTimeUnixNano".into(), s.end_time_unix_nano.to_string().into());
    o.insert("attributes".into(), encode_attrs(&s.attributes).into());
    if s.dropped_attributes_count != 0 {
        o.insert("droppedAttributesCount".into(), s.dropped_attributes_count.into());
    }
    if !s.events.is_empty() {
        let ev: Vec<Value> = s
            .events
            .iter()
            .map(|e| {
                let mut v = json!({"timeUnixNano": e.time_unix_nano.to_string(), "name": e.name,
                       "attributes": encode_attrs(&e.attributes)});
                if e.dropped_attributes_count != 0 {
                    v["droppedAttributesCount"] = e.dropped_attributes_count.into();
                }
                v
            })
            .collect();
        o.insert("events".into(), ev.into());
    }
    if !s.links.is_empty() {
        let links: Vec<Value> = s
            .links
            .iter()
            .map(|l| {
                let mut v = json!({"traceId": hex(&l.trace_id), "spanId": hex(&l.span_id),
                       "attributes": encode_attrs(&l.attributes)});
                if !l.trace_state.is_empty() {
                    v["traceState"] = l.trace_state.clone().into();
                }
                if l.flags != 0 {
                    v["flags"] = l.flags.into();
                }
                if l.dropped_attributes_count != 0 {
                    v["droppedAttributesCount"] = l.dropped_attributes_count.into();
                }
                v
            })
            .collect();
        o.insert("links".into(), links.into());
    }
    if s.dropped_events_count != 0 {
        o.insert("droppedEventsCount".into(), s.dropped_events_count.into());
    }
    if s.dropped_links_count != 0 {
        o.insert("droppedLinksCount".into(), s.dropped_links_count.into());
    }
    // OTLP/JSON readers (Tempo's included) take an absent status as unset; keep absent and empty apart
    // so that a span read back is the span that was sent.
    if let Some(st) = &s.status {
        let mut so = Map::new();
        if st.code != 0 {
            so.insert("code".into(), st.code.into());
        }
        if !st.message.is_empty() {
            so.insert("message".into(), st.message.clone().into());
        }
        o.insert("status".into(), Value::Object(so));
    }
    Value::Object(o)
}

/// One `ResourceSpans` in OTLP/JSON.
pub fn encode_resource_spans(rs: &ResourceSpans) -> Value {
    let scope_spans: Vec<Value> = rs
        .scope_spans
        .iter()
        .map(|ss| {
            let mut o = Map::new();
            if let Some(sc) = &ss.scope {
                let mut so = Map::new();
                so.insert("name".into(), sc.name.clone().into());
                if !sc.version.is_empty() {
                    so.insert("version".into(), sc.version.clone().into());
                }
                if !sc.attributes.is_empty() {
                    so.insert("attributes".into(), encode_attrs(&sc.attributes).into());
                }
                if sc.dropped_attributes_count != 0 {
                    so.insert("droppedAttributesCount".into(), sc.dropped_attributes_count.into());
                }
                o.insert("scope".into(), Value::Object(so));
            }
            o.insert(
                "spans".into(),
                ss.spans.iter().map(encode_span).collect::<Vec<_>>().into(),
            );
            if !ss.schema_url.is_empty() {
                o.insert("schemaUrl".into(), ss.schema_url.clone().into());
            }
            Value::Object(o)
        })
        .collect();
    let mut o = Map::new();
    if let Some(r) = &rs.resource {
        let mut ro = Map::new();
        ro.insert("attributes".into(), encode_attrs(&r.attributes).into());
        if r.dropped_attributes_count != 0 {
            ro.insert("droppedAttributesCount".into(), r.dropped_attributes_count.into());
        }
        o.insert("resource".into(), Value::Object(ro));
    }
    o.insert("scopeSpans".into(), scope_spans.into());
    if !rs.schema_url.is_empty() {
        o.insert("schemaUrl".into(), rs.schema_url.clone().into());
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_spec_example_and_round_trips() -> Result<(), JsonError> {
        // The shape of opentelemetry-proto's examples/trace.json.
        let body = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}}]},
          "scopeSpans":[{"scope":{"name":"my.library","version":"1.0.0"},
          "spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","parentSpanId":"EEE19B7EC3C1B173",
          "name":"I'm a server span","startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,"kind":2,
          "attributes":[{"key":"my.span.attr","value":{"intValue":"7"}},{"key":"d","value":{"doubleValue":1.5}}],
          "status":{"code":"STATUS_CODE_ERROR","message":"boom"}, "unknownField": 1}]}]}]}"#;
        let req = decode_request(body)?;
        let s = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(hex(&s.trace_id), "5b8efff798038103d269b633813fc60c");
        assert_eq!(s.span_id.len(), 8);
        assert_eq!(s.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(s.end_time_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(s.kind, 2);
        assert_eq!(s.status.as_ref().map(|x| x.code), Some(2));
        assert_eq!(
            s.attributes[0].value.as_ref().and_then(|v| v.value.clone()),
            Some(any_value::Value::IntValue(7))
        );
        // Encode and decode again: the same message.
        let enc = json!({"resourceSpans": req.resource_spans.iter().map(encode_resource_spans).collect::<Vec<_>>()});
        let again = decode_request(enc.to_string().as_bytes())?;
        assert_eq!(again, req);
        Ok(())
    }

    #[test]
    fn refuses_bad_input() {
        for body in [
            &b"not json"[..],
            br#"[]"#,
            br#"{"resourceSpans":{}}"#,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"-1"}]}]}]}"#,
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"NOPE"}]}]}]}"#,
        ] {
            assert!(decode_request(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }
}

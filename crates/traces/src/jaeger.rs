//! Jaeger's query-API JSON shapes (`/api/traces/<id>`, `/api/traces?…`, `/api/services`): the internal
//! JSON model of Jaeger's v1 HTTP API (`model/json`), which Grafana's Jaeger data source and Diamond's UI
//! read. OTLP spans are mapped as Jaeger's own OTLP translator does: span kind, status and scope become
//! tags (`span.kind`, `otel.status_code`, `error`, `otel.scope.name`), events become logs, the parent
//! becomes a `CHILD_OF` reference and links `FOLLOWS_FROM`; times are µs.

use std::collections::HashMap;

use diamond_wire::proto::otlp::{AnyValue, KeyValue, any_value, status::StatusCode};
use serde_json::{Value, json};

use crate::Trace;

fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

fn tag(key: &str, v: Option<&AnyValue>) -> Value {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::BoolValue(b)) => json!({"key": key, "type": "bool", "value": b}),
        Some(any_value::Value::IntValue(i)) => json!({"key": key, "type": "int64", "value": i}),
        Some(any_value::Value::DoubleValue(d)) if d.is_finite() => {
            json!({"key": key, "type": "float64", "value": d})
        }
        Some(any_value::Value::StringValue(s)) => json!({"key": key, "type": "string", "value": s}),
        Some(any_value::Value::BytesValue(b)) => json!({"key": key, "type": "binary", "value": hex(b)}),
        Some(other) => {
            let enc = crate::otlp_json::encode_any_value(&AnyValue {
                value: Some(other.clone()),
            });
            json!({"key": key, "type": "string", "value": enc.to_string()})
        }
        None => json!({"key": key, "type": "string", "value": ""}),
    }
}

fn tags(kvs: &[KeyValue]) -> Vec<Value> {
    kvs.iter().map(|kv| tag(&kv.key, kv.value.as_ref())).collect()
}

fn str_tag(key: &str, v: &str) -> Value {
    json!({"key": key, "type": "string", "value": v})
}

const KIND: [&str; 6] = ["", "internal", "server", "client", "producer", "consumer"];

/// One trace in Jaeger's JSON model: `{"traceID","spans":[…],"processes":{…},"warnings":null}`.
pub fn trace_json(trace: &Trace) -> Value {
    let tid = trace.id.to_hex();
    let mut processes = serde_json::Map::new();
    let mut process_ids: HashMap<String, String> = HashMap::new();
    let mut spans = Vec::new();
    for rs in &trace.batches {
        let service = crate::attrs::service_name(rs.resource.as_ref());
        let res_attrs: Vec<KeyValue> = rs
            .resource
            .as_ref()
            .map(|r| {
                r.attributes
                    .iter()
                    .filter(|kv| kv.key != "service.name")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let process = json!({"serviceName": service, "tags": tags(&res_attrs)});
        let key = process.to_string();
        let pid = match process_ids.get(&key) {
            Some(p) => p.clone(),
            None => {
                let p = format!("p{}", process_ids.len() + 1);
                process_ids.insert(key, p.clone());
                processes.insert(p.clone(), process);
                p
            }
        };
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                let mut refs = Vec::new();
                if !s.parent_span_id.is_empty() {
                    refs.push(json!({"refType": "CHILD_OF", "traceID": tid, "spanID": hex(&s.parent_span_id)}));
                }
                for l in &s.links {
                    refs.push(
                        json!({"refType": "FOLLOWS_FROM", "traceID": hex(&l.trace_id), "spanID": hex(&l.span_id)}),
                    );
                }
                let mut t = tags(&s.attributes);
                if let Some(sc) = &ss.scope
                    && !sc.name.is_empty()
                {
                    t.push(str_tag("otel.scope.name", &sc.name));
                    if !sc.version.is_empty() {
                        t.push(str_tag("otel.scope.version", &sc.version));
                    }
                }
                if let Some(k) = KIND.get(s.kind as usize).filter(|k| !k.is_empty()) {
                    t.push(str_tag("span.kind", k));
                }
                if let Some(st) = &s.status {
                    if st.code == StatusCode::Error as i32 {
                        t.push(str_tag("otel.status_code", "ERROR"));
                        t.push(json!({"key": "error", "type": "bool", "value": true}));
                    } else if st.code == StatusCode::Ok as i32 {
                        t.push(str_tag("otel.status_code", "OK"));
                    }
                    if !st.message.is_empty() {
                        t.push(str_tag("otel.status_description", &st.message));
                    }
                }
                let logs: Vec<Value> = s
                    .events
                    .iter()
                    .map(|e| {
                        let mut fields = vec![str_tag("event", &e.name)];
                        fields.extend(tags(&e.attributes));
                        json!({"timestamp": e.time_unix_nano / 1000, "fields": fields})
                    })
                    .collect();
                let end = s.end_time_unix_nano.max(s.start_time_unix_nano);
                spans.push(json!({
                    "traceID": tid,
                    "spanID": hex(&s.span_id),
                    "operationName": s.name,
                    "references": refs,
                    "flags": s.flags & 0xff,
                    "startTime": s.start_time_unix_nano / 1000,
                    "duration": (end - s.start_time_unix_nano) / 1000,
                    "tags": t,
                    "logs": logs,
                    "processID": pid,
                    "warnings": null,
                }));
            }
        }
    }
    spans.sort_by_key(|s| s["startTime"].as_u64().unwrap_or(0));
    json!({"traceID": tid, "spans": spans, "processes": processes, "warnings": null})
}

/// Jaeger's response envelope around `data`.
pub fn envelope(data: Value, total: usize) -> Value {
    json!({"data": data, "total": total, "limit": 0, "offset": 0, "errors": null})
}

/// Jaeger's error envelope.
pub fn error(code: u16, msg: &str) -> Value {
    json!({"data": null, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": code, "msg": msg}]})
}

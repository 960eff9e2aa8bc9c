//! The embedded trace store through the real binary (issue 6): the real OpenTelemetry Python SDK exports
//! spans (protobuf with gzip through its own OTLP/HTTP exporter, and OTLP/JSON built from its encoder);
//! trace by ID in Jaeger's and Tempo's shapes returns them with their spans, parents, attributes and
//! status; they survive a restart. And Diamond out of the box: with no config it traces its own requests
//! and its self-scrape stores `diamond_http_request_duration_seconds` exemplars whose traces are found.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use prost::Message as _;
use serde_json::Value;

use crate::harness::{Diamond, client, enc, get_json, get_raw, python, wait_until};

fn export(d: &Diamond, mode: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/otel_traces.py");
    let py = python();
    let ok = Command::new(&py)
        .args(["-c", "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        crate::harness::missing("Python with opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http");
    }
    let out = Command::new(py)
        .arg(script)
        .arg(d.url("/v1/traces"))
        .arg(mode)
        .output()
        .expect("running the OTel SDK script");
    assert!(
        out.status.success(),
        "otel_traces.py {mode}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script prints JSON")
}

fn tag<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .map(|t| &t["value"])
}

/// Checks Jaeger's shape of the SDK's trace: 3 spans, parents, attributes, status, event, service.
fn check_jaeger(d: &Diamond, sent: &Value) {
    let tid = sent["trace_id"].as_str().expect("trace_id");
    let (status, v) = get_raw(&d.url(&format!("/api/traces/{tid}")));
    assert_eq!(status, 200, "{v}");
    let t = &v["data"][0];
    assert_eq!(t["traceID"], tid);
    let spans = t["spans"].as_array().expect("spans");
    assert_eq!(spans.len(), 3, "{t}");
    let by_name = |n: &str| {
        spans
            .iter()
            .find(|s| s["operationName"] == n)
            .unwrap_or_else(|| panic!("no span {n} in {t}"))
    };
    for name in ["GET /checkout", "charge card", "render"] {
        let s = by_name(name);
        assert_eq!(s["spanID"], sent["spans"][name]["span_id"], "{name}");
        match sent["spans"][name]["parent"].as_str() {
            None => assert_eq!(s["references"], Value::Array(vec![]), "{name} is the root"),
            Some(p) => {
                assert_eq!(s["references"][0]["refType"], "CHILD_OF", "{name}");
                assert_eq!(s["references"][0]["spanID"], p, "{name}");
            }
        }
        let pid = s["processID"].as_str().expect("processID");
        assert_eq!(t["processes"][pid]["serviceName"], sent["service"]);
    }
    let root = by_name("GET /checkout");
    assert_eq!(tag(root, "span.kind"), Some(&Value::from("server")));
    assert_eq!(tag(root, "http.response.status_code"), Some(&Value::from(500)));
    assert_eq!(tag(root, "error"), Some(&Value::from(true)));
    let charge = by_name("charge card");
    assert_eq!(tag(charge, "span.kind"), Some(&Value::from("client")));
    assert_eq!(tag(charge, "payment.amount"), Some(&Value::from(12.5)));
    assert_eq!(tag(charge, "payment.retry"), Some(&Value::from(true)));
    assert_eq!(tag(charge, "otel.status_code"), Some(&Value::from("ERROR")));
    assert_eq!(
        tag(charge, "otel.status_description"),
        Some(&Value::from("card declined"))
    );
    assert_eq!(tag(charge, "otel.scope.name"), Some(&Value::from("diamond-it")));
    assert_eq!(charge["logs"][0]["fields"][0]["value"], "declined");
    let render = by_name("render");
    assert_eq!(tag(render, "template"), Some(&Value::from("error.html")));
    assert_eq!(tag(render, "error"), None, "an unset status is no error");
    // Durations and times are µs, the child inside its parent.
    let (rs, rd) = (
        root["startTime"].as_u64().expect("µs"),
        root["duration"].as_u64().expect("µs"),
    );
    let cs = charge["startTime"].as_u64().expect("µs");
    assert!(cs >= rs && cs <= rs + rd, "child starts within its parent");
}

/// Checks Tempo's shapes: v2 JSON, and protobuf by `Accept` on the shared v1 path.
fn check_tempo(d: &Diamond, sent: &Value) {
    let tid = sent["trace_id"].as_str().expect("trace_id");
    let resp = client()
        .get(d.url(&format!("/api/v2/traces/{tid}")))
        .send()
        .expect("GET v2");
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().expect("json");
    let rs = &v["trace"]["resourceSpans"][0];
    let svc = rs["resource"]["attributes"]
        .as_array()
        .and_then(|a| a.iter().find(|kv| kv["key"] == "service.name"))
        .map(|kv| kv["value"]["stringValue"].clone());
    assert_eq!(svc, Some(sent["service"].clone()));
    let spans: Vec<&Value> = v["trace"]["resourceSpans"]
        .as_array()
        .expect("resourceSpans")
        .iter()
        .flat_map(|rs| rs["scopeSpans"].as_array().into_iter().flatten())
        .flat_map(|ss| ss["spans"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(spans.len(), 3);
    for s in &spans {
        assert_eq!(s["traceId"], tid);
        let name = s["name"].as_str().expect("name");
        assert_eq!(s["spanId"], sent["spans"][name]["span_id"]);
        if let Some(p) = sent["spans"][name]["parent"].as_str() {
            assert_eq!(s["parentSpanId"], p);
        }
        if name == "charge card" {
            assert_eq!(s["status"]["code"], 2);
            assert_eq!(s["status"]["message"], "card declined");
            assert_eq!(s["kind"], 3);
        }
    }
    // Grafana's Tempo data source asks with Accept: application/protobuf.
    let resp = client()
        .get(d.url(&format!("/api/traces/{tid}")))
        .header("Accept", "application/protobuf")
        .send()
        .expect("GET v1 protobuf");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "application/protobuf");
    let body = resp.bytes().expect("body");
    let t = diamond_wire::proto::otlp::ExportTraceServiceRequest::decode(&body[..]).expect("tempopb.Trace");
    let names: std::collections::BTreeSet<String> = t
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["GET /checkout", "charge card", "render"]
    );
}

#[test]
fn otel_python_sdk_traces_found_in_jaeger_and_tempo_shapes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut d = Diamond::start(dir.path(), &["--web.self-tracing=false"]);
    let proto = export(&d, "proto");
    let json = export(&d, "json");
    assert_ne!(proto["trace_id"], json["trace_id"]);
    for sent in [&proto, &json] {
        check_jaeger(&d, sent);
        check_tempo(&d, sent);
    }
    // Jaeger search and services, as Grafana's Jaeger data source calls them.
    let (st, v) = get_raw(&d.url("/api/services"));
    assert_eq!(st, 200);
    assert_eq!(v["data"], serde_json::json!(["otel-python-json", "otel-python-proto"]));
    let (_, v) = get_raw(&d.url("/api/services/otel-python-proto/operations"));
    assert_eq!(v["data"], serde_json::json!(["GET /checkout", "charge card", "render"]));
    let (st, v) = get_raw(&d.url(&format!(
        "/api/traces?service=otel-python-proto&operation={}&limit=5",
        enc("charge card")
    )));
    assert_eq!(st, 200);
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["data"][0]["traceID"], proto["trace_id"]);
    // Tempo search, tags and TraceQL.
    let (st, v) = get_raw(&d.url(&format!(
        "/api/search?q={}",
        enc("{ resource.service.name = \"otel-python-json\" && status = error && name = \"charge card\" }")
    )));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["traces"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["traces"][0]["traceID"], json["trace_id"]);
    assert_eq!(v["traces"][0]["rootTraceName"], "GET /checkout");
    // Unknown traces: 404 in each shape.
    let (st, v) = get_raw(&d.url("/api/traces/4bf92f3577b34da6a3ce929d0e0e4736"));
    assert_eq!(st, 404);
    assert_eq!(v["errors"][0]["code"], 404);
    let (st, _) = get_raw(&d.url("/api/v2/traces/4bf92f3577b34da6a3ce929d0e0e4736"));
    assert_eq!(st, 404);
    // Acknowledged spans survive a restart.
    d.terminate();
    let d = Diamond::start(dir.path(), &["--web.self-tracing=false"]);
    check_jaeger(&d, &proto);
    check_jaeger(&d, &json);
}

#[test]
fn out_of_the_box_diamond_traces_itself_and_its_exemplars_open_those_traces() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No config: the embedded default scrapes Diamond itself every 15 s.
    let d = Diamond::start(dir.path(), &[]);
    let q = enc("diamond_http_request_duration_seconds_bucket");
    let mut exemplars = Vec::new();
    // Requests before the self-scrape, so it has observations (and exemplars) to store; bounded: the
    // first scrape comes within one 15 s interval, the second within another.
    let found = wait_until(Duration::from_secs(45), || {
        let _ = get_raw(&d.url("/api/v1/query?query=up"));
        let _ = get_raw(&d.url("/api/v1/label/__name__/values"));
        let now = crate::harness::now_ms() as f64 / 1000.0;
        let data = get_json(&d.url(&format!(
            "/api/v1/query_exemplars?query={q}&start={}&end={}",
            now - 600.0,
            now + 60.0
        )));
        exemplars = data.as_array().cloned().unwrap_or_default();
        !exemplars.is_empty()
    });
    assert!(
        found,
        "no exemplars for diamond_http_request_duration_seconds after 45 s"
    );
    let mut checked = 0;
    for series in &exemplars {
        let handler = series["seriesLabels"]["handler"]
            .as_str()
            .expect("handler label")
            .to_owned();
        assert_eq!(series["seriesLabels"]["job"], "diamond");
        for e in series["exemplars"].as_array().expect("exemplars") {
            let tid = e["labels"]["trace_id"].as_str().expect("trace_id label");
            let sid = e["labels"]["span_id"].as_str().expect("span_id label");
            assert_eq!(tid.len(), 32);
            let mut t = Value::Null;
            let ok = wait_until(Duration::from_secs(5), || {
                let (st, v) = get_raw(&d.url(&format!("/api/traces/{tid}")));
                t = v;
                st == 200
            });
            assert!(ok, "exemplar trace {tid} of {handler} not found: {t}");
            let span = t["data"][0]["spans"]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["spanID"] == sid))
                .unwrap_or_else(|| panic!("span {sid} not in {t}"));
            assert!(
                span["operationName"].as_str().is_some_and(|n| n.ends_with(&handler)),
                "{span} for {handler}"
            );
            assert_eq!(tag(span, "http.route"), Some(&Value::from(handler.as_str())));
            let pid = span["processID"].as_str().expect("pid");
            assert_eq!(t["data"][0]["processes"][pid]["serviceName"], "diamond");
            checked += 1;
        }
    }
    assert!(checked > 0);
    // The link checker says "found" for them.
    let now = crate::harness::now_ms() as f64 / 1000.0;
    let links = get_json(&d.url(&format!(
        "/api/diamond/v1/exemplars/links?query={q}&start={}&end={}",
        now - 600.0,
        now + 60.0
    )));
    let statuses: Vec<String> = links
        .as_array()
        .expect("series")
        .iter()
        .flat_map(|s| s["exemplars"].as_array().cloned().unwrap_or_default())
        .map(|e| e["trace"]["status"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(!statuses.is_empty());
    assert!(statuses.iter().all(|s| s == "found"), "{statuses:?}");
    // Own spans land in the store's service list.
    let (_, v) = get_raw(&d.url("/api/services"));
    assert!(
        v["data"]
            .as_array()
            .is_some_and(|a| a.contains(&Value::from("diamond"))),
        "{v}"
    );
}

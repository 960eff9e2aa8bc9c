//! The HTTP surface through `oneshot` against a real store in a temp dir.

use super::*;
use axum::http::Request;
use diamond_wire::proto::otlp::{ExportTraceServiceRequest, Span, Status};
use tower::ServiceExt as _;

use crate::attrs::string_kv as kv;

fn span(trace: u8, id: u8, parent: Option<u8>, name: &str, start: u64, dur: u64) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        name: name.into(),
        kind: 2,
        start_time_unix_nano: start,
        end_time_unix_nano: start + dur,
        attributes: vec![kv("http.route", "/x")],
        ..Span::default()
    }
}

fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![crate::attrs::batch(vec![kv("service.name", service)], spans)],
    }
}

struct T {
    _dir: tempfile::TempDir,
    app: Router,
}

fn setup(opts: HttpOptions) -> T {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(dir.path(), crate::Options::default()).expect("open"));
    T {
        app: router(store, opts),
        _dir: dir,
    }
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    (status, headers, body.to_vec())
}

fn post(path: &str, ct: &str, enc: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut b = Request::post(path).header("content-type", ct);
    if let Some(e) = enc {
        b = b.header("content-encoding", e);
    }
    b.body(Body::from(body)).expect("request")
}

fn get_req(path: &str, accept: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path);
    if let Some(a) = accept {
        b = b.header("accept", a);
    }
    b.body(Body::empty()).expect("request")
}

fn json_of(b: &[u8]) -> Value {
    serde_json::from_slice(b).expect("json body")
}

fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).expect("gzip");
    e.finish().expect("gzip")
}

#[tokio::test]
async fn protobuf_ingest_then_trace_in_jaeger_and_tempo_shapes() {
    let t = setup(HttpOptions::default());
    let now = now_ns();
    let mut child = span(7, 2, Some(1), "db", now + 1_000, 5_000);
    child.status = Some(Status {
        message: "boom".into(),
        code: 2,
    });
    let req = request("shop", vec![span(7, 1, None, "GET /x", now, 10_000), child]);
    let (st, h, body) = call(
        &t.app,
        post("/v1/traces", "application/x-protobuf", None, req.encode_to_vec()),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "application/x-protobuf");
    assert_eq!(
        ExportResponse::decode(&body[..]).expect("response"),
        ExportResponse::default()
    );

    // Jaeger: any ID format finds it (uppercase here).
    let id = "07070707070707070707070707070707";
    let (st, _, body) = call(&t.app, get_req(&format!("/api/traces/{}", id.to_uppercase()), None)).await;
    assert_eq!(st, StatusCode::OK);
    let v = json_of(&body);
    let tr = &v["data"][0];
    assert_eq!(tr["traceID"], id);
    let spans = tr["spans"].as_array().expect("spans");
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0]["operationName"], "GET /x");
    assert_eq!(spans[1]["operationName"], "db");
    assert_eq!(spans[1]["references"][0]["refType"], "CHILD_OF");
    assert_eq!(spans[1]["references"][0]["spanID"], "0101010101010101");
    assert_eq!(spans[1]["duration"], 5);
    let tags = spans[1]["tags"].as_array().expect("tags");
    assert!(
        tags.iter().any(|t| t["key"] == "error" && t["value"] == true),
        "{tags:?}"
    );
    assert!(tags.iter().any(|t| t["key"] == "http.route" && t["value"] == "/x"));
    let pid = spans[0]["processID"].as_str().expect("pid");
    assert_eq!(tr["processes"][pid]["serviceName"], "shop");

    // Tempo v1 protobuf on the same path, chosen by Accept.
    let (st, h, body) = call(
        &t.app,
        get_req(&format!("/api/traces/{id}"), Some("application/protobuf")),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "application/protobuf");
    let got = ExportTraceServiceRequest::decode(&body[..]).expect("tempopb.Trace");
    assert_eq!(got.resource_spans[0].scope_spans[0].spans.len(), 2);
    // Tempo v2 JSON and protobuf.
    let (st, _, body) = call(&t.app, get_req(&format!("/api/v2/traces/{id}"), None)).await;
    assert_eq!(st, StatusCode::OK);
    let v = json_of(&body);
    let spans = &v["trace"]["resourceSpans"][0]["scopeSpans"][0]["spans"];
    assert_eq!(spans.as_array().map(Vec::len), Some(2));
    assert_eq!(spans[1]["parentSpanId"], "0101010101010101");
    assert_eq!(spans[1]["status"]["code"], 2);
    let (st, _, body) = call(
        &t.app,
        get_req(&format!("/api/v2/traces/{id}"), Some("application/protobuf")),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(!body.is_empty());
    let (st, _, body) = call(&t.app, get_req(&format!("/api/traces/{id}?format=tempo"), None)).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(json_of(&body)["batches"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn json_gzip_ingest_and_partial_success() {
    let t = setup(HttpOptions::default());
    let now = now_ns();
    let body = format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"js"}}}}]}},
        "scopeSpans":[{{"spans":[
          {{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"root",
            "startTimeUnixNano":"{now}","endTimeUnixNano":"{}","kind":2}},
          {{"traceId":"00000000000000000000000000000000","spanId":"b7ad6b7169203332","name":"bad",
            "startTimeUnixNano":"{now}","endTimeUnixNano":"{}"}}]}}]}}]}}"#,
        now + 10,
        now + 10
    );
    let (st, h, resp) = call(
        &t.app,
        post("/v1/traces", "application/json", Some("gzip"), gzip(body.as_bytes())),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&resp));
    assert_eq!(h[header::CONTENT_TYPE], "application/json");
    let v = json_of(&resp);
    assert_eq!(v["partialSuccess"]["rejectedSpans"], "1");
    assert!(
        v["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap_or("")
            .contains("invalid_trace_id")
    );
    let (st, _, b) = call(&t.app, get_req("/api/traces/0af7651916cd43dd8448eb211c80319c", None)).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(json_of(&b)["data"][0]["spans"][0]["operationName"], "root");
    // The Prometheus-namespaced path ingests too.
    let (st, _, resp) = call(
        &t.app,
        post(
            "/api/v1/otlp/v1/traces",
            "application/json; charset=utf-8",
            None,
            body.into_bytes(),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&resp));
}

#[tokio::test]
async fn bad_requests_answer_in_otlp_shapes() {
    let t = setup(HttpOptions {
        max_body_bytes: 1024,
        max_decompressed_bytes: 4096,
        ..HttpOptions::default()
    });
    // Protobuf garbage: 400 with a google.rpc.Status.
    let (st, h, b) = call(
        &t.app,
        post("/v1/traces", "application/x-protobuf", None, vec![0xff, 0xff, 0xff]),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(h[header::CONTENT_TYPE], "application/x-protobuf");
    let s = RpcStatus::decode(&b[..]).expect("status");
    assert_eq!(s.code, INVALID_ARGUMENT);
    assert!(!s.message.is_empty());
    // JSON garbage: 400 with the JSON Status.
    let (st, _, b) = call(
        &t.app,
        post(
            "/v1/traces",
            "application/json",
            None,
            b"{\"resourceSpans\":3}".to_vec(),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(json_of(&b)["code"], INVALID_ARGUMENT);
    // Wrong media type and encoding: 415.
    let (st, _, _) = call(&t.app, post("/v1/traces", "text/plain", None, b"x".to_vec())).await;
    assert_eq!(st, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (st, _, _) = call(
        &t.app,
        post("/v1/traces", "application/json", Some("br"), b"{}".to_vec()),
    )
    .await;
    assert_eq!(st, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Over the body limit, and a gzip bomb over the decompressed limit: 413.
    let (st, _, _) = call(&t.app, post("/v1/traces", "application/json", None, vec![b' '; 2048])).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    let (st, _, _) = call(
        &t.app,
        post("/v1/traces", "application/json", Some("gzip"), gzip(&[b' '; 100_000])),
    )
    .await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    // Broken gzip: 400.
    let (st, _, _) = call(
        &t.app,
        post("/v1/traces", "application/json", Some("gzip"), b"nope".to_vec()),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // GET is not an ingest method.
    let (st, _, _) = call(&t.app, get_req("/v1/traces", None)).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn unknown_and_invalid_trace_ids() {
    let t = setup(HttpOptions::default());
    let (st, _, b) = call(&t.app, get_req("/api/traces/abc123", None)).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let v = json_of(&b);
    assert_eq!(v["data"], Value::Null);
    assert_eq!(v["errors"][0]["code"], 404);
    let (st, _, _) = call(&t.app, get_req("/api/traces/abc123", Some("application/protobuf"))).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _, _) = call(&t.app, get_req("/api/v2/traces/abc123", None)).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _, b) = call(&t.app, get_req("/api/traces/not-a-trace-id!", None)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(json_of(&b)["errors"][0]["code"], 400);
    let (st, _, _) = call(&t.app, get_req("/api/v2/traces/zzzz", None)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn jaeger_and_tempo_search() {
    let t = setup(HttpOptions::default());
    let now = now_ns();
    let mut slow = span(2, 1, None, "GET /slow", now, 2_000_000_000);
    slow.status = Some(Status {
        message: String::new(),
        code: 2,
    });
    for req in [
        request("api", vec![span(1, 1, None, "GET /fast", now, 1_000_000)]),
        request("api", vec![slow]),
        request("worker", vec![span(3, 1, None, "job", now, 5_000)]),
    ] {
        let (st, _, _) = call(
            &t.app,
            post("/v1/traces", "application/x-protobuf", None, req.encode_to_vec()),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
    }
    let (_, _, b) = call(&t.app, get_req("/api/services", None)).await;
    assert_eq!(json_of(&b)["data"], json!(["api", "worker"]));
    let (_, _, b) = call(&t.app, get_req("/api/services/api/operations", None)).await;
    assert_eq!(json_of(&b)["data"], json!(["GET /fast", "GET /slow"]));
    let (_, _, b) = call(&t.app, get_req("/api/operations?service=worker", None)).await;
    assert_eq!(json_of(&b)["data"][0]["name"], "job");

    let start_us = now / 1000 - 1_000_000;
    let end_us = now / 1000 + 10_000_000;
    let (st, _, b) = call(
        &t.app,
        get_req(
            &format!("/api/traces?service=api&minDuration=1s&start={start_us}&end={end_us}&limit=20"),
            None,
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let v = json_of(&b);
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["data"][0]["spans"][0]["operationName"], "GET /slow");
    let (_, _, b) = call(&t.app, get_req("/api/traces?service=api&operation=GET%20%2Ffast", None)).await;
    assert_eq!(json_of(&b)["data"][0]["spans"][0]["operationName"], "GET /fast");
    let (_, _, b) = call(
        &t.app,
        get_req("/api/traces?service=api&tags=%7B%22error%22%3A%22true%22%7D", None),
    )
    .await;
    assert_eq!(json_of(&b)["data"].as_array().map(Vec::len), Some(1));
    let (st, _, b) = call(&t.app, get_req("/api/traces?operation=x", None)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(json_of(&b)["errors"][0]["code"], 400);
    let (st, _, _) = call(&t.app, get_req("/api/traces?service=api&minDuration=fast", None)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // Tempo: tags, TraceQL, durations on the whole trace.
    let (st, _, b) = call(&t.app, get_req("/api/search?tags=service.name%3Dworker", None)).await;
    assert_eq!(st, StatusCode::OK);
    let v = json_of(&b);
    assert_eq!(v["traces"][0]["rootServiceName"], "worker");
    assert_eq!(v["traces"][0]["traceID"], "03030303030303030303030303030303");
    // As in Tempo, legacy tags compare well-known keys as substrings and other attributes exactly.
    let (_, _, b) = call(&t.app, get_req("/api/search?tags=service.name%3Dwork", None)).await;
    assert_eq!(
        json_of(&b)["traces"].as_array().map(Vec::len),
        Some(1),
        "{}",
        json_of(&b)
    );
    let (_, _, b) = call(
        &t.app,
        get_req("/api/search?tags=name%3D%2Fs%20service.name%3Dap", None),
    )
    .await;
    let v = json_of(&b);
    assert_eq!(v["traces"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["traces"][0]["rootTraceName"], "GET /slow");
    let (_, _, b) = call(&t.app, get_req("/api/search?tags=http.route%3D%2Fx", None)).await;
    assert_eq!(json_of(&b)["traces"].as_array().map(Vec::len), Some(3));
    let (_, _, b) = call(&t.app, get_req("/api/search?tags=http.route%3D%2F", None)).await;
    assert_eq!(json_of(&b)["traces"].as_array().map(Vec::len), Some(0));
    let q = "%7Bresource.service.name%3D%22api%22%20%26%26%20status%3Derror%7D";
    let (_, _, b) = call(&t.app, get_req(&format!("/api/search?q={q}"), None)).await;
    let v = json_of(&b);
    assert_eq!(v["traces"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["traces"][0]["rootTraceName"], "GET /slow");
    assert_eq!(v["traces"][0]["durationMs"], 2000);
    let (_, _, b) = call(&t.app, get_req("/api/search?minDuration=500ms", None)).await;
    assert_eq!(json_of(&b)["traces"].as_array().map(Vec::len), Some(1));
    let (st, _, _) = call(&t.app, get_req("/api/search?q=%7B.a%20!%3D%201%7D", None)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (_, _, b) = call(&t.app, get_req("/api/search/tag/service.name/values", None)).await;
    assert_eq!(json_of(&b)["tagValues"], json!(["api", "worker"]));
    let (_, _, b) = call(&t.app, get_req("/api/v2/search/tags?scope=span", None)).await;
    assert_eq!(json_of(&b)["scopes"][0]["tags"], json!(["http.route"]));
    let (st, _, _) = call(&t.app, get_req("/api/echo", None)).await;
    assert_eq!(st, StatusCode::OK);
}

#[test]
fn logfmt_tags() {
    assert_eq!(
        logfmt(r#"service.name=api http.url="a b" x=\"#).expect("parses"),
        vec![
            ("service.name".to_owned(), "api".to_owned()),
            ("http.url".to_owned(), "a b".to_owned()),
            ("x".to_owned(), "\\".to_owned())
        ]
    );
    assert!(logfmt("novalue").is_err());
    assert!(logfmt("a=\"open").is_err());
}

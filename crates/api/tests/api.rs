//! The HTTP surface through `tower::ServiceExt::oneshot` against an in-memory backend: shapes, parameters
//! and status codes of each endpoint, with no sockets.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use diamond_api::{ApiOptions, ApiState, Backend};
use diamond_exemplars::SeriesExemplars;
use diamond_model::storage::memory::MemStorage;
use diamond_model::storage::{Appender, Queryable};
use diamond_model::{Exemplar, Labels, Matcher, Metadata, MetricType, Timestamp};
use serde_json::{Value, json};
use tower::ServiceExt;

struct TestBackend {
    store: MemStorage,
    /// Admin calls received, as text.
    admin_calls: parking_lot::Mutex<Vec<String>>,
}

impl Backend for TestBackend {
    fn queryable(&self) -> &dyn Queryable {
        &self.store
    }
    fn appender(&self) -> Box<dyn Appender> {
        self.store.appender()
    }
    fn exemplars(&self, start: Timestamp, end: Timestamp, sets: &[Vec<Matcher>]) -> Vec<SeriesExemplars> {
        self.store
            .exemplars(start, end, sets)
            .into_iter()
            .map(|(series_labels, exemplars)| SeriesExemplars {
                series_labels,
                exemplars,
            })
            .collect()
    }
    fn metadata(&self) -> Vec<(String, Metadata)> {
        self.store.metadata().into_iter().collect()
    }
    fn tsdb_status(&self, _limit: usize) -> Value {
        json!({"headStats": {"numSeries": self.store.num_series()}})
    }
    fn targets(&self) -> Value {
        json!({"activeTargets": [], "droppedTargets": [], "droppedTargetCounts": {}})
    }
    fn reload(&self) -> Result<(), String> {
        Err("no config file".into())
    }
    fn config_yaml(&self) -> String {
        "global: {}\n".into()
    }
    fn flags(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("storage.tsdb.path".to_owned(), "data".to_owned())])
    }
    fn runtime_info(&self) -> Value {
        json!({})
    }
    fn self_metrics(&self, _om: bool) -> String {
        String::new()
    }
    fn ready(&self) -> bool {
        true
    }
    fn delete_series(&self, start: Timestamp, end: Timestamp, ms: &[Matcher]) -> Result<(), String> {
        let ms: Vec<String> = ms.iter().map(|m| m.to_string()).collect();
        self.admin_calls
            .lock()
            .push(format!("delete {start} {end} {}", ms.join(",")));
        Ok(())
    }
    fn clean_tombstones(&self) -> Result<(), String> {
        self.admin_calls.lock().push("clean".into());
        Ok(())
    }
    fn snapshot(&self, name: &str, skip_head: bool) -> Result<(), String> {
        self.admin_calls
            .lock()
            .push(format!("snapshot {} {skip_head}", name.len()));
        Err("disk full".into())
    }
}

fn app() -> (axum::Router, MemStorage) {
    let store = MemStorage::new();
    let up = Labels::from_pairs(&[("__name__", "up"), ("job", "a"), ("instance", "x:1")]);
    let up2 = Labels::from_pairs(&[("__name__", "up"), ("job", "b"), ("instance", "y:1")]);
    let req = Labels::from_pairs(&[("__name__", "req_total"), ("job", "a"), ("path", "<script>")]);
    let mut a = store.appender();
    for t in (0..=600_000).step_by(15_000) {
        a.append(0, &up, t, 1.0).unwrap();
        a.append(0, &up2, t, 0.0).unwrap();
        a.append(0, &req, t, t as f64 / 1000.0).unwrap();
    }
    a.append_exemplar(
        0,
        &req,
        &Exemplar {
            labels: Labels::from_pairs(&[("trace_id", "abc")]),
            value: 1.5,
            ts: 30_123,
            has_ts: true,
        },
    )
    .unwrap();
    a.append_exemplar(
        0,
        &req,
        &Exemplar {
            labels: Labels::from_pairs(&[("trace_id", "def")]),
            value: 2.5,
            ts: 200_000,
            has_ts: true,
        },
    )
    .unwrap();
    a.update_metadata(
        0,
        &req,
        &Metadata {
            metric_type: MetricType::Counter,
            help: "Requests.".into(),
            unit: String::new(),
        },
    )
    .unwrap();
    a.commit().unwrap();
    let backend = Arc::new(TestBackend {
        store: store.clone(),
        admin_calls: parking_lot::Mutex::new(Vec::new()),
    });
    let engine = diamond_promql::Engine::new(diamond_promql::EngineOptions::default());
    let state = Arc::new(ApiState::new(backend, engine, ApiOptions::default(), 4));
    (diamond_api::router(state), store)
}

fn admin_app(enabled: bool) -> (axum::Router, Arc<TestBackend>) {
    let backend = Arc::new(TestBackend {
        store: MemStorage::new(),
        admin_calls: parking_lot::Mutex::new(Vec::new()),
    });
    let engine = diamond_promql::Engine::new(diamond_promql::EngineOptions::default());
    let opts = ApiOptions {
        enable_admin_api: enabled,
        ..ApiOptions::default()
    };
    let state = Arc::new(ApiState::new(Arc::clone(&backend) as Arc<dyn Backend>, engine, opts, 4));
    (diamond_api::router(state), backend)
}

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, String) {
    call(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post_form(app: &axum::Router, uri: &str, form: &str) -> (StatusCode, String) {
    let req = Request::post(uri)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap();
    call(app, req).await
}

#[tokio::test]
async fn exemplars_exact_shape() {
    let (app, _) = app();
    let (s, body) = get(
        &app,
        "/api/v1/query_exemplars?query=rate(req_total%5B5m%5D)&start=0&end=100",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        body,
        r#"{"status":"success","data":[{"seriesLabels":{"__name__":"req_total","job":"a","path":"\u003cscript\u003e"},"exemplars":[{"labels":{"trace_id":"abc"},"value":"1.5","timestamp":30.123}]}]}"#
    );
    // POST form gives the same answer.
    let (s, body2) = post_form(&app, "/api/v1/query_exemplars", "query=req_total&start=0&end=100").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, body2);
    // No selector: 204 and no body. No match: an empty list.
    let (s, body) = get(&app, "/api/v1/query_exemplars?query=1").await;
    assert_eq!((s, body.as_str()), (StatusCode::NO_CONTENT, ""));
    let (s, body) = get(&app, "/api/v1/query_exemplars?query=nothing").await;
    assert_eq!(
        (s, body.as_str()),
        (StatusCode::OK, r#"{"status":"success","data":[]}"#)
    );
    // Out of the time range: empty.
    let (_, body) = get(&app, "/api/v1/query_exemplars?query=req_total&start=31&end=100").await;
    assert_eq!(body, r#"{"status":"success","data":[]}"#);
}

#[tokio::test]
async fn exemplars_limit() {
    let (app, _) = app();
    let (_, all) = get(&app, "/api/v1/query_exemplars?query=req_total&start=0&end=1000").await;
    assert!(
        all.contains(r#""trace_id":"abc""#) && all.contains(r#""trace_id":"def""#),
        "{all}"
    );
    assert!(!all.contains("warnings"));
    let (_, same) = get(&app, "/api/v1/query_exemplars?query=req_total&start=0&end=1000&limit=2").await;
    assert_eq!(same, all);
    let (s, one) = get(&app, "/api/v1/query_exemplars?query=req_total&start=0&end=1000&limit=1").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        one,
        r#"{"status":"success","data":[{"seriesLabels":{"__name__":"req_total","job":"a","path":"\u003cscript\u003e"},"exemplars":[{"labels":{"trace_id":"abc"},"value":"1.5","timestamp":30.123}]}],"warnings":["results truncated due to limit: 1 of 2 exemplars"]}"#
    );
    let (s, body) = get(&app, "/api/v1/query_exemplars?query=req_total&limit=-1").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn errors_have_prometheus_shape() {
    let (app, _) = app();
    for (uri, status, etype) in [
        ("/api/v1/query_exemplars?query=up&start=5&end=1", 400, "bad_data"),
        ("/api/v1/query_exemplars?query=sum(", 400, "bad_data"),
        ("/api/v1/series", 400, "bad_data"),
        ("/api/v1/query?query=up&time=x", 400, "bad_data"),
        ("/api/v1/query_range?query=up&start=0&end=10&step=0", 400, "bad_data"),
        ("/api/v1/query?query=rate(up)", 400, "bad_data"),
        ("/api/v1/labels?limit=-1", 400, "bad_data"),
    ] {
        let (s, body) = get(&app, uri).await;
        assert_eq!(s.as_u16(), status, "{uri}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "error", "{uri}");
        assert_eq!(v["errorType"], etype, "{uri}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{uri}");
    }
    let (_, body) = get(&app, "/api/v1/series").await;
    assert_eq!(
        body,
        r#"{"status":"error","errorType":"bad_data","error":"no match[] parameter provided"}"#
    );
}

#[tokio::test]
async fn series_labels_and_values() {
    let (app, _) = app();
    let (_, body) = get(&app, "/api/v1/series?match[]=up&match[]=%7Bjob%3D%22a%22%7D").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    let (_, body) = get(&app, "/api/v1/labels").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":["__name__","instance","job","path"]}"#
    );
    let (_, body) = get(&app, "/api/v1/labels?match[]=up").await;
    assert_eq!(body, r#"{"status":"success","data":["__name__","instance","job"]}"#);
    let (_, body) = get(&app, "/api/v1/label/job/values").await;
    assert_eq!(body, r#"{"status":"success","data":["a","b"]}"#);
    let (_, body) = get(&app, "/api/v1/label/job/values?limit=1").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":["a"],"warnings":["results truncated due to limit"]}"#
    );
    let (_, body) = get(&app, "/api/v1/label/nope/values").await;
    assert_eq!(body, r#"{"status":"success","data":[]}"#);
    let (_, body) = post_form(&app, "/api/v1/labels", "match[]=req_total").await;
    assert_eq!(body, r#"{"status":"success","data":["__name__","job","path"]}"#);
}

#[tokio::test]
async fn queries_encode_as_prometheus() {
    let (app, _) = app();
    let (_, body) = get(&app, "/api/v1/query?query=up%7Bjob%3D%22a%22%7D&time=600").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","instance":"x:1","job":"a"},"value":[600,"1"]}]}}"#
    );
    let (_, body) = get(&app, "/api/v1/query?query=1%2F0&time=1.5").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"scalar","result":[1.500,"+Inf"]}}"#
    );
    let (_, body) = post_form(
        &app,
        "/api/v1/query_range",
        "query=up%7Bjob%3D%22b%22%7D&start=0&end=30&step=15",
    )
    .await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"up","instance":"y:1","job":"b"},"values":[[0,"0"],[15,"0"],[30,"0"]]}]}}"#
    );
}

#[tokio::test]
async fn metadata_and_status() {
    let (app, _) = app();
    let (_, body) = get(&app, "/api/v1/metadata").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"req_total":[{"type":"counter","unit":"","help":"Requests."}]}}"#
    );
    let (_, body) = get(&app, "/api/v1/metadata?metric=nope").await;
    assert_eq!(body, r#"{"status":"success","data":{}}"#);
    let (s, body) = get(&app, "/api/v1/status/buildinfo").await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v["data"]["version"].as_str().unwrap().starts_with('3'));
    let (s, _) = get(&app, "/-/healthy").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = get(&app, "/-/ready").await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = call(&app, Request::post("/-/reload").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let (_, body) = get(&app, "/api/v1/status/flags").await;
    assert_eq!(body, r#"{"status":"success","data":{"storage.tsdb.path":"data"}}"#);
}

/// Methods a route does not serve, answered as the reference Prometheus 3.5 answers them (checked against
/// the binary): `GET /-/reload` has its own text and no `Allow` header; anything else is Go's 405 with
/// an `Allow` header and `Method Not Allowed`.
#[tokio::test]
async fn wrong_methods_answer_405_as_prometheus() {
    let (app, _) = app();
    let resp = app
        .clone()
        .oneshot(Request::get("/-/reload").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(resp.headers().get("allow").is_none());
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    assert_eq!(&body[..], b"Only POST or PUT requests allowed");

    for (method, uri, allowed) in [
        ("POST", "/-/healthy", vec!["GET", "HEAD"]),
        ("DELETE", "/-/reload", vec!["GET", "POST", "PUT"]),
        ("GET", "/api/v1/admin/tsdb/snapshot", vec!["POST", "PUT"]),
        ("PUT", "/api/v1/query", vec!["GET", "POST"]),
    ] {
        let req = Request::builder().method(method).uri(uri).body(Body::empty()).unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        let allow = resp.headers()["allow"].to_str().unwrap().to_owned();
        for m in allowed {
            assert!(allow.contains(m), "{method} {uri}: Allow {allow:?} lacks {m}");
        }
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        assert_eq!(&body[..], b"Method Not Allowed\n", "{method} {uri}");
    }
}

#[tokio::test]
async fn remote_write_receiver() {
    use diamond_model::Sample;
    use diamond_wire::{TimeSeries, WriteBatch};
    let (app, store) = app();
    let body = |t: i64| {
        let series = vec![TimeSeries {
            labels: Labels::from_pairs(&[("__name__", "rw"), ("k", "v")]),
            samples: vec![Sample { t, v: 7.0 }],
            exemplars: vec![Exemplar {
                labels: Labels::from_pairs(&[("trace_id", "ff")]),
                value: 7.0,
                ts: t,
                has_ts: true,
            }],
            histograms_dropped: 0,
            metadata: None,
        }];
        diamond_wire::compress_snappy(&diamond_wire::encode_remote_write_v1(&WriteBatch {
            series,
            metadata: vec![],
            rejected: Vec::new(),
        }))
    };
    let req = |ct: &str, b: Vec<u8>| {
        Request::post("/api/v1/write")
            .header("Content-Type", ct)
            .header("Content-Encoding", "snappy")
            .body(Body::from(b))
            .unwrap()
    };
    let (s, _) = call(&app, req("application/x-protobuf", body(1_000_000))).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(&app, req("application/x-protobuf", body(999_000))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "out of order is bad data");
    let (s, _) = call(&app, req("application/json", body(2_000_000))).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, _) = call(&app, req("application/x-protobuf", b"junk".to_vec())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let q = store.querier(0, 10_000_000).unwrap();
    let got = q.select(&[Matcher::equal("__name__", "rw")]).unwrap();
    assert_eq!(got.len(), 1);
    let ex = store.exemplars(0, i64::MAX, &[vec![Matcher::equal("__name__", "rw")]]);
    assert_eq!(ex.len(), 1);
}

#[tokio::test]
async fn otlp_metrics_receiver() {
    use diamond_wire::proto::otlp as pb;
    use prost::Message;
    let (app, store) = app();
    let kv = |k: &str, v: &str| pb::KeyValue {
        key: k.into(),
        value: Some(pb::AnyValue {
            value: Some(pb::any_value::Value::StringValue(v.into())),
        }),
    };
    let point = pb::NumberDataPoint {
        attributes: vec![kv("route", "/a")],
        time_unix_nano: 1_700_000_000_000_000_000,
        value: Some(pb::number_data_point::Value::AsDouble(3.0)),
        exemplars: vec![pb::Exemplar {
            time_unix_nano: 1_700_000_000_000_000_000,
            value: Some(pb::exemplar::Value::AsDouble(3.0)),
            trace_id: (1u8..=16).collect(),
            span_id: (1u8..=8).collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let req = pb::ExportMetricsServiceRequest {
        resource_metrics: vec![pb::ResourceMetrics {
            resource: Some(pb::Resource {
                attributes: vec![kv("service.name", "shop")],
                ..Default::default()
            }),
            scope_metrics: vec![pb::ScopeMetrics {
                metrics: vec![pb::Metric {
                    name: "orders".into(),
                    data: Some(pb::metric::Data::Sum(pb::Sum {
                        data_points: vec![point],
                        aggregation_temporality: pb::AggregationTemporality::Cumulative as i32,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let body = req.encode_to_vec();
    let (s, _) = call(
        &app,
        Request::post("/api/v1/otlp/v1/metrics")
            .header("Content-Type", "application/x-protobuf")
            .body(Body::from(body))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let ex = store.exemplars(0, i64::MAX, &[vec![Matcher::equal("job", "shop")]]);
    assert_eq!(ex.len(), 1, "{ex:?}");
    assert_eq!(ex[0].0.get("route"), Some("/a"));
    assert_eq!(
        ex[0].1[0].labels.get("trace_id"),
        Some("0102030405060708090a0b0c0d0e0f10")
    );
    assert_eq!(ex[0].1[0].labels.get("span_id"), Some("0102030405060708"));
    let (s, _) = call(
        &app,
        Request::post("/api/v1/otlp/v1/metrics")
            .header("Content-Type", "application/json")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

/// `/api/diamond/v1/exemplars/links` (docs/api/diamond.md): the same exemplars as `query_exemplars`, each
/// with its trace; the same errors for bad parameters.
#[tokio::test]
async fn exemplar_links_shape_and_errors() {
    let (app, store) = app();
    let req = Labels::from_pairs(&[("__name__", "req_total"), ("job", "a"), ("path", "<script>")]);
    let mut a = store.appender();
    for (i, labels) in [
        vec![
            ("traceID", "4BF92F3577B34DA6A3CE929D0E0E4736"),
            ("spanId", "00f067aa0ba902b7"),
        ],
        vec![("trace_id", "<img src=x onerror=alert(1)>")],
        vec![("user", "javascript:alert(1)")],
    ]
    .into_iter()
    .enumerate()
    {
        a.append_exemplar(
            0,
            &req,
            &Exemplar {
                labels: Labels::from_pairs(&labels),
                value: 2.0,
                ts: 40_000 + i as i64 * 1000,
                has_ts: true,
            },
        )
        .unwrap();
    }
    a.commit().unwrap();
    let (s, body) = get(&app, "/api/diamond/v1/exemplars/links?query=req_total&start=0&end=100").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let ex = &v["data"][0]["exemplars"];
    assert_eq!(v["data"][0]["seriesLabels"]["path"], "<script>");
    // Labels exactly as ingested; the trace normalised beside them.
    assert_eq!(
        ex[0],
        json!({"labels":{"trace_id":"abc"},"value":"1.5","timestamp":30.123,
               "trace":{"label":"trace_id","raw":"abc","traceId":"00000000000000000000000000000abc","spanId":null,
                        "status":"unknown","error":null,
                        "links":[{"name":"diamond","url":"/trace/00000000000000000000000000000abc","internal":true,"status":"unknown"}]}})
    );
    assert_eq!(ex[1]["labels"]["traceID"], "4BF92F3577B34DA6A3CE929D0E0E4736");
    assert_eq!(ex[1]["trace"]["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(ex[1]["trace"]["spanId"], "00f067aa0ba902b7");
    assert_eq!(ex[1]["trace"]["label"], "traceID");
    assert_eq!(ex[2]["trace"]["status"], "unparsable");
    assert_eq!(ex[2]["trace"]["raw"], "<img src=x onerror=alert(1)>");
    assert!(
        ex[2]["trace"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("not a 128-bit ID"))
    );
    assert_eq!(ex[2]["trace"]["links"], json!([]));
    assert_eq!(ex[3]["trace"]["status"], "none");
    assert_eq!(ex[3]["trace"]["label"], Value::Null);
    // Hostile values are escaped as Go's encoder does, never raw.
    assert!(!body.contains('<'), "{body}");
    // POST gives the same answer; limit truncates with a warning.
    let (_, body2) = post_form(
        &app,
        "/api/diamond/v1/exemplars/links",
        "query=req_total&start=0&end=100",
    )
    .await;
    assert_eq!(body, body2);
    let (_, body) = get(
        &app,
        "/api/diamond/v1/exemplars/links?query=req_total&start=0&end=100&limit=2",
    )
    .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"][0]["exemplars"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["warnings"][0], "results truncated due to limit: 2 of 4 exemplars");
    // No selector: an empty list (query_exemplars answers 204; this endpoint always has a body).
    let (s, body) = get(&app, "/api/diamond/v1/exemplars/links?query=1").await;
    assert_eq!(
        (s, body.as_str()),
        (StatusCode::OK, r#"{"status":"success","data":[]}"#)
    );
    // Errors: byte-identical to query_exemplars' for the shared parameters.
    for q in [
        "query=up&start=5&end=1",
        "query=sum(",
        "query=up&start=x",
        "query=up&end=yesterday",
    ] {
        let (s1, b1) = get(&app, &format!("/api/v1/query_exemplars?{q}")).await;
        let (s2, b2) = get(&app, &format!("/api/diamond/v1/exemplars/links?{q}")).await;
        assert_eq!((s1, &b1), (s2, &b2), "{q}");
        assert_eq!(s1, StatusCode::BAD_REQUEST, "{q}");
    }
    for q in ["query=up&limit=-1", "query=up&limit=x"] {
        let (s, body) = get(&app, &format!("/api/diamond/v1/exemplars/links?{q}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}");
        assert!(body.contains(r#""errorType":"bad_data""#), "{body}");
    }
}

/// `/api/diamond/v1/exemplars/links/open`: Grafana's raw `${__value.raw}` in, a link to the normalised ID out.
#[tokio::test]
async fn exemplar_link_open_redirects_to_the_normalised_id() {
    let (app, _) = app();
    let loc = |uri: &'static str| {
        let app = app.clone();
        async move {
            let resp = app
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = resp.status();
            let loc = resp.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
            (status, loc)
        }
    };
    assert_eq!(
        loc("/api/diamond/v1/exemplars/links/open?trace_id=4BF92F35-77B3-4DA6-A3CE-929D0E0E4736").await,
        (
            StatusCode::FOUND,
            Some("/trace/4bf92f3577b34da6a3ce929d0e0e4736".to_owned())
        )
    );
    assert_eq!(
        loc("/api/diamond/v1/exemplars/links/open?destination=diamond&trace_id=APBnqgupArc%3D").await,
        (
            StatusCode::FOUND,
            Some("/trace/000000000000000000f067aa0ba902b7".to_owned())
        )
    );
    let (s, _) = loc("/api/diamond/v1/exemplars/links/open?trace_id=%3Cscript%3E").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = loc("/api/diamond/v1/exemplars/links/open?trace_id=abc&destination=nope").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

/// Status codes and bodies as the reference Prometheus 3.5 answers them (recorded by hand with curl;
/// the server's differential test compares against the live binary).
#[tokio::test]
async fn admin_api_disabled_enabled_and_bad_parameters() {
    let (off, b) = admin_app(false);
    for path in ["delete_series?match[]=up", "clean_tombstones", "snapshot"] {
        for method in ["POST", "PUT"] {
            let req = Request::builder()
                .method(method)
                .uri(format!("/api/v1/admin/tsdb/{path}"))
                .body(Body::empty())
                .unwrap();
            let (st, body) = call(&off, req).await;
            assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR, "{method} {path}");
            assert_eq!(
                body,
                r#"{"status":"error","errorType":"unavailable","error":"admin APIs disabled"}"#
            );
        }
        let (st, _) = get(&off, &format!("/api/v1/admin/tsdb/{path}")).await;
        assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    }
    assert!(b.admin_calls.lock().is_empty());

    let (on, b) = admin_app(true);
    let cases: &[(&str, u16, &str)] = &[
        (
            "delete_series",
            400,
            r#"{"status":"error","errorType":"bad_data","error":"no match[] parameter provided"}"#,
        ),
        (
            "delete_series?match[]=up&start=abc",
            400,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"start\": invalid time value for 'start': cannot parse \"abc\" to a valid timestamp"}"#,
        ),
        (
            "delete_series?match[]=%7B",
            400,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"match[]\": 1:2: parse error: unexpected end of input inside braces"}"#,
        ),
        ("delete_series?match[]=up&start=10&end=5", 204, ""),
        (
            "delete_series?match[]=up&match[]=%7Bjob%3D%22a%22%7D&start=1.5",
            204,
            "",
        ),
        ("clean_tombstones", 204, ""),
        (
            "snapshot?skip_head=maybe",
            400,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"skip_head\": unable to parse boolean: strconv.ParseBool: parsing \"maybe\": invalid syntax"}"#,
        ),
        (
            "snapshot?skip_head=1",
            500,
            r#"{"status":"error","errorType":"internal","error":"disk full"}"#,
        ),
    ];
    for &(path, status, want) in cases {
        let (st, body) = post_form(&on, &format!("/api/v1/admin/tsdb/{path}"), "").await;
        assert_eq!(st.as_u16(), status, "{path}: {body}");
        assert_eq!(body, want, "{path}");
    }
    let calls = b.admin_calls.lock().clone();
    assert_eq!(
        calls,
        vec![
            "delete 10000 5000 __name__=\"up\"".to_owned(),
            "delete 1500 9223309901257974999 __name__=\"up\"".to_owned(),
            "delete 1500 9223309901257974999 job=\"a\"".to_owned(),
            "clean".to_owned(),
            format!("snapshot {} true", "20261204T171048Z-67fb6815ae8eaad9".len()),
        ]
    );
}

/// A range result large enough to be streamed in parts arrives whole: valid JSON, every series and
/// point in order.
#[tokio::test]
async fn large_range_result_is_sent_whole_in_parts() {
    let (app, store) = app();
    let mut a = store.appender();
    for i in 0..40u32 {
        let l = Labels::from_pairs(&[("__name__", "big"), ("i", &format!("{i:02}"))]);
        for t in (0..=600_000).step_by(15_000) {
            a.append(0, &l, t, f64::from(i) + t as f64 / 1e6).unwrap();
        }
    }
    a.commit().unwrap();
    let req = Request::get("/api/v1/query_range?query=big&start=0&end=600&step=0.1")
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 40);
    for (i, s) in result.iter().enumerate() {
        assert_eq!(s["metric"]["i"], format!("{i:02}"));
        let values = s["values"].as_array().unwrap();
        assert_eq!(values.len(), 6001);
        // At 15.05 s the lookback finds the sample at 15 s.
        assert_eq!(values[150][0], json!(15));
        assert_eq!(values[150][1], json!(format!("{}", i as f64 + 0.015)));
    }
}

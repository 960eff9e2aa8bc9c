//! `query_exemplars` versus `/api/diamond/v1/exemplars/links` for a dashboard-sized query: 50 series with
//! 40 exemplars each (2,000), over the router with `oneshot` (no sockets for the API itself) against the
//! in-memory storage. Link checks go to a real HTTP server on 127.0.0.1 answering Jaeger's
//! `GET /api/traces/<id>` shape (no Jaeger binary runs here), and to an embedded `TraceLookup` over a set.
//!
//! Run: `cargo bench -p diamond-api --bench exemplar_links`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use diamond_api::links::TraceLinks;
use diamond_api::{ApiOptions, ApiState, Backend};
use diamond_exemplars::SeriesExemplars;
use diamond_model::storage::memory::MemStorage;
use diamond_model::storage::{Appender, Queryable};
use diamond_model::traceid::{TraceId, TraceLookup};
use diamond_model::{Exemplar, Labels, Matcher, Metadata, Timestamp};
use serde_json::{Value, json};
use tower::ServiceExt;

const SERIES: usize = 50;
const PER_SERIES: usize = 40;

struct Bench {
    store: MemStorage,
    links: Arc<TraceLinks>,
}

impl Backend for Bench {
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
        Vec::new()
    }
    fn tsdb_status(&self, _limit: usize) -> Value {
        json!({})
    }
    fn targets(&self) -> Value {
        json!({})
    }
    fn reload(&self) -> Result<(), String> {
        Ok(())
    }
    fn config_yaml(&self) -> String {
        String::new()
    }
    fn flags(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
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
    fn trace_links(&self) -> Option<Arc<TraceLinks>> {
        Some(Arc::clone(&self.links))
    }
}

struct Set(HashSet<TraceId>);
impl TraceLookup for Set {
    fn contains(&self, id: &TraceId) -> bool {
        self.0.contains(id)
    }
}

/// Trace IDs in the formats seen in the wild: mostly canonical, some uppercase, 64-bit, UUID and base64.
fn trace_label(i: usize) -> (&'static str, String) {
    let hex = format!(
        "{:032x}",
        (i as u128 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    );
    match i % 10 {
        0 => ("traceID", hex.to_uppercase()),
        1 => ("trace_id", hex[16..].to_owned()),
        2 => (
            "trace_id",
            format!(
                "{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            ),
        ),
        _ => ("trace_id", hex),
    }
}

async fn fake_jaeger() -> String {
    use axum::extract::Path;
    use axum::http::StatusCode;
    let app = axum::Router::new().route(
        "/api/traces/{id}",
        axum::routing::get(|Path(id): Path<String>| async move {
            // Half the traces exist.
            if u8::from_str_radix(&id[31..], 16).unwrap_or(0) % 2 == 0 {
                (
                    StatusCode::OK,
                    format!(r#"{{"data":[{{"traceID":"{id}","spans":[]}}]}}"#),
                )
            } else {
                (
                    StatusCode::NOT_FOUND,
                    r#"{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}"#.to_owned(),
                )
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    format!("http://{addr}")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = MemStorage::new();
    let mut a = store.appender();
    let mut ids = HashSet::new();
    for s in 0..SERIES {
        let l = Labels::from_pairs(&[
            ("__name__", "http_request_duration_seconds_bucket"),
            ("job", "api"),
            ("le", &format!("{}", s % 10)),
            ("instance", &format!("host-{}:9090", s / 10)),
        ]);
        for e in 0..PER_SERIES {
            let t = (e as i64) * 15_000;
            let r = a.append(0, &l, t, e as f64).unwrap();
            let (name, value) = trace_label(s * PER_SERIES + e);
            if e % 3 == 0 {
                ids.insert(TraceId::parse(&value).unwrap());
            }
            a.append_exemplar(
                r,
                &l,
                &Exemplar {
                    labels: Labels::from_pairs(&[(name, value.as_str()), ("span_id", "00f067aa0ba902b7")]),
                    value: 0.1 * e as f64,
                    ts: t,
                    has_ts: true,
                },
            )
            .unwrap();
        }
    }
    a.commit().unwrap();
    let links = Arc::new(TraceLinks::new());
    let backend = Arc::new(Bench {
        store,
        links: Arc::clone(&links),
    });
    let engine = diamond_promql::Engine::new(diamond_promql::EngineOptions::default());
    let app = diamond_api::router(Arc::new(ApiState::new(backend, engine, ApiOptions::default(), 8)));
    let q = "query=rate(http_request_duration_seconds_bucket%7Bjob%3D%22api%22%7D%5B5m%5D)&start=0&end=1000";
    let call = |path: &str| {
        let app = app.clone();
        let uri = format!("{path}?{q}");
        async move {
            let resp = app
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
            assert!(body.len() > 1000);
            body.len()
        }
    };
    let jaeger = rt.block_on(fake_jaeger());
    let dest = |name: &str| {
        diamond_config::parse(
            &format!("trace_destinations:\n  - name: {name}\n    kind: jaeger\n    url: {jaeger}/trace/{{trace_id}}\n"),
            "bench.yml",
        )
        .unwrap()
        .trace_destinations
    };

    let mut g = c.benchmark_group("dashboard query, 50 series, 2000 exemplars");
    g.sample_size(20);
    g.bench_function("query_exemplars (baseline)", |b| {
        b.iter(|| rt.block_on(call("/api/v1/query_exemplars")))
    });
    g.bench_function(
        "links, no destinations, no embedded store (parse + link + encode)",
        |b| b.iter(|| rt.block_on(call("/api/diamond/v1/exemplars/links"))),
    );
    links.set_embedded(Some(Arc::new(Set(ids))));
    g.bench_function("links, embedded store lookups", |b| {
        b.iter(|| rt.block_on(call("/api/diamond/v1/exemplars/links")))
    });
    links.configure(&dest("jaeger"));
    let _ = rt.block_on(call("/api/diamond/v1/exemplars/links"));
    g.bench_function("links, embedded + Jaeger, warm cache (a dashboard refresh)", |b| {
        b.iter(|| rt.block_on(call("/api/diamond/v1/exemplars/links")))
    });
    g.sample_size(10);
    let mut flip = false;
    g.bench_function(
        "links, embedded + Jaeger, cold cache (2000 HTTP checks, 16 in flight)",
        |b| {
            b.iter(|| {
                // A different destination set clears the cache, so every iteration asks Jaeger again.
                flip = !flip;
                links.configure(&dest(if flip { "jaeger-a" } else { "jaeger-b" }));
                rt.block_on(call("/api/diamond/v1/exemplars/links"))
            })
        },
    );
    g.finish();
    let m = links.metrics();
    eprintln!("link checks made: {:?}", m.checks);
}

criterion_group!(benches, bench);
criterion_main!(benches);

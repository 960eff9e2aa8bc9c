//! The embedded trace store on a real file system (a temp dir): ingest of OTLP export requests, trace by
//! ID (in the active segment and in sealed ones), search by service + tag + duration, and bytes per span
//! on disk (printed once, not timed).
//!
//! `cargo bench -p diamond-traces --bench store` (figures in BENCHMARKS.md).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use diamond_model::traceid::TraceId;
use diamond_traces::search::SearchQuery;
use diamond_traces::{Options, Store};
use diamond_wire::proto::otlp::{ExportTraceServiceRequest, Span, Status};

/// Spans per trace and traces per export request: a typical SDK batch of small request traces.
const SPANS: usize = 8;
const TRACES_PER_REQUEST: usize = 64;
const BASE_NS: u64 = 1_700_000_000_000_000_000;

use diamond_traces::attrs::string_kv as kv;

fn trace_id(n: u64) -> [u8; 16] {
    // Spread like random IDs (the store's index and Bloom filters see realistic keys).
    let a = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let b = n.rotate_left(17).wrapping_mul(0xBF58_476D_1CE4_E5B9) | 1;
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&a.to_be_bytes());
    id[8..].copy_from_slice(&b.to_be_bytes());
    id
}

/// Request `r`: traces `r*64 .. r*64+64`, each a server span with seven children, HTTP-like attributes,
/// one trace in eight an error.
fn request(r: u64, now_ns: u64) -> ExportTraceServiceRequest {
    let mut spans = Vec::with_capacity(SPANS * TRACES_PER_REQUEST);
    for t in 0..TRACES_PER_REQUEST as u64 {
        let n = r * TRACES_PER_REQUEST as u64 + t;
        let tid = trace_id(n).to_vec();
        let start = now_ns - 60_000_000_000 + (n % 1000) * 1_000_000;
        let total = 2_000_000 + (n % 97) * 1_000_000;
        for s in 0..SPANS as u64 {
            let root = s == 0;
            spans.push(Span {
                trace_id: tid.clone(),
                span_id: (n * 16 + s + 1).to_be_bytes().to_vec(),
                parent_span_id: if root {
                    Vec::new()
                } else {
                    (n * 16 + 1).to_be_bytes().to_vec()
                },
                name: if root {
                    "GET /api/orders".into()
                } else {
                    format!("db.query {s}")
                },
                kind: if root { 2 } else { 3 },
                start_time_unix_nano: start + s * 100_000,
                end_time_unix_nano: start + if root { total } else { s * 100_000 + total / 10 },
                attributes: vec![
                    kv("http.route", "/api/orders"),
                    kv("http.request.method", "GET"),
                    kv("db.system", "postgresql"),
                    kv("customer", &format!("c{}", n % 50)),
                ],
                status: Some(Status {
                    code: if root && n.is_multiple_of(8) { 2 } else { 0 },
                    message: String::new(),
                }),
                ..Span::default()
            });
        }
    }
    ExportTraceServiceRequest {
        resource_spans: vec![diamond_traces::attrs::batch(
            vec![kv("service.name", "checkout"), kv("host.name", "node-7")],
            spans,
        )],
    }
}

/// A store holding `requests` requests (sealing 4 MiB segments, so most traces sit in sealed ones).
fn filled(dir: &std::path::Path, requests: u64) -> Store {
    let opts = Options {
        segment_bytes: 4 << 20,
        ..Options::default()
    };
    let store = Store::open(dir, opts).expect("open");
    let now = diamond_traces::now_ns().max(BASE_NS);
    for r in 0..requests {
        store.ingest(&request(r, now), now).expect("ingest");
    }
    store
}

fn benches(c: &mut Criterion) {
    let now = diamond_traces::now_ns().max(BASE_NS);
    let mut g = c.benchmark_group("trace_store");
    g.throughput(Throughput::Elements((SPANS * TRACES_PER_REQUEST) as u64));
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), Options::default()).expect("open");
        let mut r = 0u64;
        g.bench_function("ingest 512-span request", |b| {
            b.iter_batched(
                || {
                    r += 1;
                    request(r, now)
                },
                |req| black_box(store.ingest(&req, now).expect("ingest")),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();

    // 2,000 requests = 128,000 traces, 1,024,000 spans.
    let requests = 2_000u64;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = filled(dir.path(), requests);
    let st = store.stats();
    let spans = requests * (SPANS * TRACES_PER_REQUEST) as u64;
    eprintln!(
        "trace store: {spans} spans, {} traces, {} segments, {} bytes on disk = {:.1} bytes per span",
        requests * TRACES_PER_REQUEST as u64,
        st.segments,
        st.stored_bytes,
        st.stored_bytes as f64 / spans as f64
    );
    let mut g = c.benchmark_group("trace_store_read");
    let total = requests * TRACES_PER_REQUEST as u64;
    let mut i = 0u64;
    g.bench_function("trace by ID (128k traces, sealed and active segments)", |b| {
        b.iter(|| {
            i = (i + 7919) % total;
            let t = store.trace(&TraceId(trace_id(i))).expect("read");
            assert!(t.is_some());
            black_box(t)
        })
    });
    g.bench_function("trace by ID, absent", |b| {
        b.iter(|| {
            i += 1;
            black_box(store.trace(&TraceId(trace_id(u64::MAX - i))).expect("read"))
        })
    });
    for (what, q) in [
        (
            "service + error + minDuration",
            SearchQuery {
                service: Some("checkout".into()),
                tags: vec![("error".into(), "true".into())],
                min_span_ns: Some(50_000_000),
                limit: 20,
                ..SearchQuery::default()
            },
        ),
        (
            "tag matching nothing",
            SearchQuery {
                tags: vec![("customer".into(), "nobody".into())],
                limit: 20,
                ..SearchQuery::default()
            },
        ),
    ] {
        let r = store.search(&q).expect("search");
        eprintln!(
            "search {what}: {} traces, {} bytes inspected, truncated {}",
            r.traces.len(),
            r.inspected_bytes,
            r.truncated
        );
    }
    g.sample_size(20);
    g.bench_function("search service + error + minDuration, limit 20", |b| {
        b.iter(|| {
            let q = SearchQuery {
                service: Some("checkout".into()),
                tags: vec![("error".into(), "true".into())],
                min_span_ns: Some(50_000_000),
                limit: 20,
                ..SearchQuery::default()
            };
            black_box(store.search(&q).expect("search"))
        })
    });
    g.bench_function("search tag matching nothing (scans all 196 MB)", |b| {
        b.iter(|| {
            let q = SearchQuery {
                tags: vec![("customer".into(), "nobody".into())],
                limit: 20,
                ..SearchQuery::default()
            };
            black_box(store.search(&q).expect("search"))
        })
    });
    g.finish();
}

criterion_group!(traces, benches);
criterion_main!(traces);

//! OTLP decoding and translation into a `WriteBatch`.
//!
//! The translation expectations come from reading Prometheus's OTLP translator (see the `otlp` module docs);
//! they could not be checked on the reference binary, whose Debian build has the OTLP endpoint disabled.

use diamond_model::{Labels, Metadata, MetricType, STALE_NAN_BITS};
use diamond_wire::proto::otlp::{self as pb, any_value::Value as V, metric::Data};
use diamond_wire::*;
use prost::Message;

const T0_NS: u64 = 1_764_000_000_000_000_000; // 2025-11-24T16:00:00Z
const T0_MS: i64 = 1_764_000_000_000;
const TRACE_ID: [u8; 16] = [
    0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36,
];
const SPAN_ID: [u8; 8] = [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7];

fn kv(k: &str, v: V) -> pb::KeyValue {
    pb::KeyValue {
        key: k.into(),
        value: Some(pb::AnyValue { value: Some(v) }),
    }
}

fn s(k: &str, v: &str) -> pb::KeyValue {
    kv(k, V::StringValue(v.into()))
}

fn exemplar(value: f64, attrs: Vec<pb::KeyValue>) -> pb::Exemplar {
    pb::Exemplar {
        filtered_attributes: attrs,
        time_unix_nano: T0_NS + 1_500_000,
        value: Some(pb::exemplar::Value::AsDouble(value)),
        span_id: SPAN_ID.to_vec(),
        trace_id: TRACE_ID.to_vec(),
    }
}

fn number(t_ns: u64, v: f64, attrs: Vec<pb::KeyValue>, exemplars: Vec<pb::Exemplar>) -> pb::NumberDataPoint {
    pb::NumberDataPoint {
        attributes: attrs,
        time_unix_nano: t_ns,
        value: Some(pb::number_data_point::Value::AsDouble(v)),
        exemplars,
        ..Default::default()
    }
}

fn metric(name: &str, unit: &str, data: Data) -> pb::Metric {
    pb::Metric {
        name: name.into(),
        description: format!("{name} help"),
        unit: unit.into(),
        data: Some(data),
        ..Default::default()
    }
}

fn request(resource: Vec<pb::KeyValue>, metrics: Vec<pb::Metric>) -> pb::ExportMetricsServiceRequest {
    pb::ExportMetricsServiceRequest {
        resource_metrics: vec![pb::ResourceMetrics {
            resource: Some(pb::Resource {
                attributes: resource,
                dropped_attributes_count: 0,
            }),
            scope_metrics: vec![pb::ScopeMetrics {
                scope: Some(pb::InstrumentationScope {
                    name: "lib".into(),
                    version: "1.0".into(),
                    ..Default::default()
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn service() -> Vec<pb::KeyValue> {
    vec![
        s("service.name", "checkout"),
        s("service.namespace", "shop"),
        s("service.instance.id", "pod-1"),
    ]
}

/// The series of a batch as `(labels, [(t, v)])`, for compact assertions.
fn series(b: &WriteBatch) -> Vec<(String, Vec<(i64, f64)>)> {
    b.series
        .iter()
        .map(|s| (s.labels.to_string(), s.samples.iter().map(|x| (x.t, x.v)).collect()))
        .collect()
}

fn find<'a>(b: &'a WriteBatch, labels: &str) -> &'a TimeSeries {
    b.series
        .iter()
        .find(|s| s.labels.to_string() == labels)
        .unwrap_or_else(|| panic!("no series {labels} in {:#?}", series(b)))
}

#[test]
fn counter_gauge_and_exemplar() {
    let counter = metric(
        "http.server.request.time",
        "s",
        Data::Sum(pb::Sum {
            data_points: vec![number(
                T0_NS,
                12.5,
                vec![s("http.method", "GET"), kv("http.status_code", V::IntValue(200))],
                vec![exemplar(0.25, vec![s("user", "u1")])],
            )],
            aggregation_temporality: pb::AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        }),
    );
    let gauge = metric(
        "cpu.utilization",
        "1",
        Data::Gauge(pb::Gauge {
            data_points: vec![pb::NumberDataPoint {
                time_unix_nano: T0_NS,
                value: Some(pb::number_data_point::Value::AsInt(3)),
                ..Default::default()
            }],
        }),
    );
    let b = otlp_metrics_to_batch(&request(service(), vec![counter, gauge]));
    assert!(b.rejected.is_empty(), "{:?}", b.rejected);
    assert_eq!(
        series(&b),
        vec![
            (
                r#"{__name__="http_server_request_time_seconds_total", http_method="GET", http_status_code="200", instance="pod-1", job="shop/checkout"}"#.to_string(),
                vec![(T0_MS, 12.5)]
            ),
            (r#"{__name__="cpu_utilization_ratio", instance="pod-1", job="shop/checkout"}"#.to_string(), vec![(T0_MS, 3.0)]),
        ]
    );
    let e = &b.series[0].exemplars;
    assert_eq!(e.len(), 1);
    assert_eq!(
        e[0].labels,
        Labels::from_pairs(&[
            ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
            ("span_id", "00f067aa0ba902b7"),
            ("user", "u1")
        ])
    );
    assert_eq!((e[0].value, e[0].ts, e[0].has_ts), (0.25, T0_MS + 1, true));
    assert_eq!(
        b.metadata,
        vec![
            (
                "http_server_request_time_seconds_total".to_string(),
                Metadata {
                    metric_type: MetricType::Counter,
                    help: "http.server.request.time help".into(),
                    unit: "seconds".into()
                }
            ),
            (
                "cpu_utilization_ratio".to_string(),
                Metadata {
                    metric_type: MetricType::Gauge,
                    help: "cpu.utilization help".into(),
                    unit: String::new()
                }
            ),
        ]
    );
}

#[test]
fn histogram_buckets_and_exemplar_placement() {
    let h = metric(
        "rpc.duration",
        "ms",
        Data::Histogram(pb::Histogram {
            data_points: vec![pb::HistogramDataPoint {
                attributes: vec![s("rpc", "get")],
                time_unix_nano: T0_NS,
                count: 6,
                sum: Some(7.5),
                bucket_counts: vec![1, 2, 3],
                explicit_bounds: vec![0.1, 1.0],
                exemplars: vec![
                    exemplar(0.05, vec![]),
                    exemplar(0.1, vec![]), // on the bound: le is inclusive
                    exemplar(0.5, vec![]),
                    exemplar(5.0, vec![]),
                    exemplar(f64::NAN, vec![]), // never ≤ a bound: dropped
                ],
                ..Default::default()
            }],
            aggregation_temporality: pb::AggregationTemporality::Cumulative as i32,
        }),
    );
    let b = otlp_metrics_to_batch(&request(vec![s("service.name", "api")], vec![h]));
    let base = r#"job="api", rpc="get""#;
    assert_eq!(
        series(&b),
        vec![
            (
                format!(r#"{{__name__="rpc_duration_milliseconds_sum", {base}}}"#),
                vec![(T0_MS, 7.5)]
            ),
            (
                format!(r#"{{__name__="rpc_duration_milliseconds_count", {base}}}"#),
                vec![(T0_MS, 6.0)]
            ),
            (
                format!(r#"{{__name__="rpc_duration_milliseconds_bucket", {base}, le="0.1"}}"#),
                vec![(T0_MS, 1.0)]
            ),
            (
                format!(r#"{{__name__="rpc_duration_milliseconds_bucket", {base}, le="1"}}"#),
                vec![(T0_MS, 3.0)]
            ),
            (
                format!(r#"{{__name__="rpc_duration_milliseconds_bucket", {base}, le="+Inf"}}"#),
                vec![(T0_MS, 6.0)]
            ),
        ]
        .into_iter()
        .map(|(l, v)| (sort_rendered(&l), v))
        .collect::<Vec<_>>()
    );
    let values = |le: &str| -> Vec<f64> {
        let l = sort_rendered(&format!(
            r#"{{__name__="rpc_duration_milliseconds_bucket", {base}, le="{le}"}}"#
        ));
        find(&b, &l).exemplars.iter().map(|e| e.value).collect()
    };
    assert_eq!(values("0.1"), vec![0.05, 0.1]);
    assert_eq!(values("1"), vec![0.5]);
    assert_eq!(values("+Inf"), vec![5.0]);
    assert_eq!(b.exemplar_count(), 4);
    // No target_info: the resource has nothing but service.name.
    assert!(b.series.iter().all(|s| s.labels.metric_name() != Some("target_info")));
}

/// Renders a `{a="1", ...}` string the way `Labels` sorts it (label order in the expectations above is
/// written for readability).
fn sort_rendered(s: &str) -> String {
    let inner = s.trim_start_matches('{').trim_end_matches('}');
    let pairs: Vec<(String, String)> = inner
        .split(", ")
        .map(|p| {
            let (n, v) = p.split_once('=').expect("name=value");
            (n.to_string(), v.trim_matches('"').to_string())
        })
        .collect();
    Labels::from_pairs(&pairs).to_string()
}

#[test]
fn summary_and_staleness() {
    let summary = metric(
        "latency",
        "",
        Data::Summary(pb::Summary {
            data_points: vec![pb::SummaryDataPoint {
                time_unix_nano: T0_NS,
                count: 10,
                sum: 2.0,
                quantile_values: vec![
                    pb::summary_data_point::ValueAtQuantile {
                        quantile: 0.5,
                        value: 0.1,
                    },
                    pb::summary_data_point::ValueAtQuantile {
                        quantile: 0.99,
                        value: 0.9,
                    },
                ],
                ..Default::default()
            }],
        }),
    );
    let mut stale = number(T0_NS, 5.0, vec![], vec![]);
    stale.flags = pb::DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK;
    let gauge = metric(
        "queue",
        "",
        Data::Gauge(pb::Gauge {
            data_points: vec![stale],
        }),
    );
    let b = otlp_metrics_to_batch(&request(vec![s("service.instance.id", "i1")], vec![summary, gauge]));
    let got = series(&b);
    let names: Vec<&str> = got.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        names,
        vec![
            r#"{__name__="latency_sum", instance="i1"}"#,
            r#"{__name__="latency_count", instance="i1"}"#,
            r#"{__name__="latency", instance="i1", quantile="0.5"}"#,
            r#"{__name__="latency", instance="i1", quantile="0.99"}"#,
            r#"{__name__="queue", instance="i1"}"#,
        ]
    );
    assert_eq!(got[3].1, vec![(T0_MS, 0.9)]);
    assert_eq!(b.series[4].samples[0].v.to_bits(), STALE_NAN_BITS);
}

#[test]
fn target_info_spans_the_resource_points() {
    let points = vec![
        number(T0_NS, 1.0, vec![], vec![]),
        number(T0_NS + 360_000_000_000, 2.0, vec![], vec![]),
    ];
    let g = metric("g", "", Data::Gauge(pb::Gauge { data_points: points }));
    let mut attrs = service();
    attrs.push(s("host.name", "node-7"));
    attrs.push(kv("k8s.pod.uid", V::StringValue("abc".into())));
    let b = otlp_metrics_to_batch(&request(attrs, vec![g]));
    let ti = find(
        &b,
        r#"{__name__="target_info", host_name="node-7", instance="pod-1", job="shop/checkout", k8s_pod_uid="abc"}"#,
    );
    let ts: Vec<i64> = ti.samples.iter().map(|s| s.t - T0_MS).collect();
    // Every 2.5 minutes from the earliest point, then the latest (6 minutes later).
    assert_eq!(ts, vec![0, 150_000, 300_000, 360_000]);
    assert!(ti.samples.iter().all(|s| s.v == 1.0));

    // Without job or instance there is no target_info, even with other attributes.
    let g = metric(
        "g",
        "",
        Data::Gauge(pb::Gauge {
            data_points: vec![number(T0_NS, 1.0, vec![], vec![])],
        }),
    );
    let b = otlp_metrics_to_batch(&request(vec![s("host.name", "n")], vec![g]));
    assert_eq!(series(&b).len(), 1);
}

#[test]
fn attribute_names_collide_and_join() {
    let g = metric(
        "g",
        "",
        Data::Gauge(pb::Gauge {
            data_points: vec![number(
                T0_NS,
                1.0,
                vec![
                    s("a.b", "dot"),
                    s("a-b", "dash"),
                    s("1st", "x"),
                    s("_x", "y"),
                    s("le", "kept on a gauge"),
                ],
                vec![],
            )],
        }),
    );
    let b = otlp_metrics_to_batch(&request(vec![], vec![g]));
    // "a-b" sorts before "a.b", so its value comes first.
    assert_eq!(
        b.series[0].labels.to_string(),
        r#"{__name__="g", a_b="dash;dot", key_1st="x", key_x="y", le="kept on a gauge"}"#
    );
}

#[test]
fn exemplar_attributes_all_or_nothing_within_128_runes() {
    // trace_id (8) + 32 hex + span_id (7) + 16 hex = 63 runes before attributes.
    let fits = vec![s("a", &"x".repeat(64))]; // 63 + 65 = 128: kept
    let too_long = vec![s("a", "1"), s("b", &"x".repeat(63))]; // 63 + 2 + 64 = 129: both dropped
    let g = metric(
        "g",
        "",
        Data::Gauge(pb::Gauge {
            data_points: vec![number(
                T0_NS,
                1.0,
                vec![],
                vec![exemplar(1.0, fits), exemplar(2.0, too_long)],
            )],
        }),
    );
    let b = otlp_metrics_to_batch(&request(vec![], vec![g]));
    let ex = &b.series[0].exemplars;
    assert_eq!(ex[0].labels.len(), 3);
    assert_eq!(ex[0].labels.rune_count(), 128);
    assert_eq!(
        ex[1].labels.len(),
        2,
        "attributes dropped, ids kept: {:?}",
        ex[1].labels
    );
}

#[test]
fn empty_and_zero_ids_are_omitted() {
    let mut e = exemplar(1.0, vec![]);
    e.trace_id = vec![0; 16];
    e.span_id = vec![];
    e.time_unix_nano = 0;
    e.value = Some(pb::exemplar::Value::AsInt(7));
    let g = metric(
        "g",
        "",
        Data::Gauge(pb::Gauge {
            data_points: vec![number(T0_NS, 1.0, vec![], vec![e])],
        }),
    );
    let b = otlp_metrics_to_batch(&request(vec![], vec![g]));
    let ex = &b.series[0].exemplars[0];
    assert!(ex.labels.is_empty());
    assert_eq!((ex.value, ex.ts, ex.has_ts), (7.0, 0, false));
}

#[test]
fn unsupported_metrics_are_rejected_not_fatal() {
    let delta = metric(
        "d",
        "",
        Data::Sum(pb::Sum {
            data_points: vec![number(T0_NS, 1.0, vec![], vec![])],
            aggregation_temporality: pb::AggregationTemporality::Delta as i32,
            is_monotonic: true,
        }),
    );
    let expo = metric(
        "e",
        "",
        Data::ExponentialHistogram(pb::ExponentialHistogram {
            data_points: vec![pb::ExponentialHistogramDataPoint::default(); 2],
            aggregation_temporality: pb::AggregationTemporality::Cumulative as i32,
        }),
    );
    let empty = metric("empty", "", Data::Gauge(pb::Gauge::default()));
    let nodata = pb::Metric {
        name: "nodata".into(),
        ..Default::default()
    };
    let ok = metric(
        "ok",
        "",
        Data::Gauge(pb::Gauge {
            data_points: vec![number(T0_NS, 1.0, vec![], vec![])],
        }),
    );
    let b = otlp_metrics_to_batch(&request(vec![], vec![delta, expo, empty, nodata, ok]));
    assert_eq!(series(&b), vec![(r#"{__name__="ok"}"#.to_string(), vec![(T0_MS, 1.0)])]);
    let reasons: Vec<(usize, &str, usize)> = b
        .rejected
        .iter()
        .map(|r| (r.series_index, r.reason.as_str(), r.histograms))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (0, r#"invalid temporality and type combination for metric "d""#, 0),
            (
                1,
                r#"exponential histogram "e" dropped: native histograms are not supported"#,
                2
            ),
            (2, "empty data points. empty is dropped", 0),
            (3, r#"unsupported metric type for metric "nodata""#, 0),
        ]
    );
}

#[test]
fn decode_checks_id_lengths() {
    let g = metric(
        "g",
        "",
        Data::Gauge(pb::Gauge {
            data_points: vec![number(T0_NS, 1.0, vec![], vec![exemplar(1.0, vec![])])],
        }),
    );
    let good = request(vec![], vec![g]);
    assert_eq!(decode_otlp_metrics(&good.encode_to_vec()).unwrap(), good);
    let mut bad = good.clone();
    if let Some(Data::Gauge(g)) = &mut bad.resource_metrics[0].scope_metrics[0].metrics[0].data {
        g.data_points[0].exemplars[0].trace_id = vec![1; 15];
    }
    let e = decode_otlp_metrics(&bad.encode_to_vec()).unwrap_err();
    assert!(matches!(e, Error::InvalidOtlp(_)), "{e:?}");
    assert_eq!(e.to_string(), "invalid otlp: trace_id of 15 bytes, want 16");
    let raw = good.encode_to_vec();
    assert!(matches!(
        decode_otlp_metrics(&raw[..raw.len() - 1]),
        Err(Error::Protobuf(_))
    ));
}

/// The exemplar's fields built byte by byte from `metrics.proto`: time is fixed64 (2), as_double (3),
/// span_id (4), trace_id (5), filtered_attributes (7).
#[test]
fn exemplar_wire_layout() {
    let mut ex = vec![0x11]; // field 2, wire type 1 (fixed64)
    ex.extend_from_slice(&T0_NS.to_le_bytes());
    ex.push(0x19); // field 3, fixed64 double
    ex.extend_from_slice(&2.5f64.to_le_bytes());
    ex.extend_from_slice(&[0x22, 8]);
    ex.extend_from_slice(&SPAN_ID);
    ex.extend_from_slice(&[0x2a, 16]);
    ex.extend_from_slice(&TRACE_ID);
    let attr = s("k", "v").encode_to_vec();
    ex.push(0x3a);
    ex.push(attr.len() as u8);
    ex.extend_from_slice(&attr);
    let got = pb::Exemplar::decode(ex.as_slice()).unwrap();
    assert_eq!(got, {
        let mut e = exemplar(2.5, vec![s("k", "v")]);
        e.time_unix_nano = T0_NS;
        e
    });
}

#[test]
fn traces_round_trip_and_id_checks() {
    let span = pb::Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: SPAN_ID.to_vec(),
        parent_span_id: vec![],
        name: "GET /cart".into(),
        kind: pb::span::SpanKind::Server as i32,
        start_time_unix_nano: T0_NS,
        end_time_unix_nano: T0_NS + 5_000_000,
        attributes: vec![s("http.route", "/cart"), kv("retry", V::BoolValue(false))],
        events: vec![pb::span::Event {
            time_unix_nano: T0_NS + 1,
            name: "exception".into(),
            ..Default::default()
        }],
        links: vec![pb::span::Link {
            trace_id: TRACE_ID.to_vec(),
            span_id: SPAN_ID.to_vec(),
            flags: 1,
            ..Default::default()
        }],
        status: Some(pb::Status {
            message: "boom".into(),
            code: pb::status::StatusCode::Error as i32,
        }),
        flags: 0x101,
        ..Default::default()
    };
    let req = pb::ExportTraceServiceRequest {
        resource_spans: vec![pb::ResourceSpans {
            resource: Some(pb::Resource {
                attributes: service(),
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![pb::ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    };
    assert_eq!(decode_otlp_traces(&req.encode_to_vec()).unwrap(), req);
    let mut bad = req.clone();
    bad.resource_spans[0].scope_spans[0].spans[0].links[0].span_id = vec![1, 2, 3];
    assert!(matches!(
        decode_otlp_traces(&bad.encode_to_vec()),
        Err(Error::InvalidOtlp(_))
    ));
    let mut bad = req;
    bad.resource_spans[0].scope_spans[0].spans[0].trace_id = vec![];
    // An empty trace id is "no id" for pdata and is not refused at decode time.
    assert!(decode_otlp_traces(&bad.encode_to_vec()).is_ok());
}

#[test]
fn target_info_is_capped_for_absurd_time_ranges() {
    let points = vec![number(0, 1.0, vec![], vec![]), number(u64::MAX, 2.0, vec![], vec![])];
    let g = metric("g", "", Data::Gauge(pb::Gauge { data_points: points }));
    let mut attrs = service();
    attrs.push(s("host.name", "n"));
    let b = otlp_metrics_to_batch(&request(attrs, vec![g]));
    let ti = b
        .series
        .iter()
        .find(|s| s.labels.metric_name() == Some("target_info"))
        .expect("target_info");
    assert_eq!(ti.samples.len(), 1001);
    assert_eq!(ti.samples.last().map(|s| s.t), Some((u64::MAX / 1_000_000) as i64));
}

mod structured {
    //! Structured random OTLP requests through decode and translation: no panic, and every translated
    //! series has valid labels.
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn attrs() -> impl Strategy<Value = Vec<pb::KeyValue>> {
        vec(("\\PC{0,6}", "\\PC{0,6}").prop_map(|(k, v)| s(&k, &v)), 0..4)
    }

    fn ex() -> impl Strategy<Value = pb::Exemplar> {
        (any::<f64>(), vec(any::<u8>(), 0..17), vec(any::<u8>(), 0..9), attrs()).prop_map(|(v, t, sp, a)| {
            pb::Exemplar {
                filtered_attributes: a,
                time_unix_nano: T0_NS,
                value: Some(pb::exemplar::Value::AsDouble(v)),
                span_id: sp,
                trace_id: t,
            }
        })
    }

    fn np() -> impl Strategy<Value = pb::NumberDataPoint> {
        (any::<u64>(), any::<f64>(), attrs(), vec(ex(), 0..3), any::<u32>()).prop_map(|(t, v, a, e, flags)| {
            pb::NumberDataPoint {
                flags,
                ..number(t, v, a, e)
            }
        })
    }

    fn hp() -> impl Strategy<Value = pb::HistogramDataPoint> {
        (
            any::<u64>(),
            attrs(),
            vec(any::<u64>(), 0..5),
            vec(any::<f64>(), 0..5),
            vec(ex(), 0..3),
            any::<Option<f64>>(),
        )
            .prop_map(|(t, a, counts, bounds, e, sum)| pb::HistogramDataPoint {
                attributes: a,
                time_unix_nano: t,
                count: counts.iter().fold(0u64, |x, y| x.wrapping_add(*y)),
                sum,
                bucket_counts: counts,
                explicit_bounds: bounds,
                exemplars: e,
                ..Default::default()
            })
    }

    fn data() -> impl Strategy<Value = Data> {
        prop_oneof![
            vec(np(), 0..3).prop_map(|p| Data::Gauge(pb::Gauge { data_points: p })),
            (vec(np(), 0..3), 0..4i32, any::<bool>()).prop_map(|(p, t, m)| Data::Sum(pb::Sum {
                data_points: p,
                aggregation_temporality: t,
                is_monotonic: m
            })),
            (vec(hp(), 0..3), 0..4i32).prop_map(|(p, t)| Data::Histogram(pb::Histogram {
                data_points: p,
                aggregation_temporality: t
            })),
        ]
    }

    proptest! {
        #[test]
        fn translate_never_panics(
            name in "\\PC{0,12}",
            unit in "\\PC{0,5}",
            d in data(),
            resource in attrs(),
        ) {
            let req = request(resource, vec![metric(&name, &unit, d)]);
            if let Ok(decoded) = decode_otlp_metrics(&req.encode_to_vec()) {
                let b = otlp_metrics_to_batch(&decoded);
                for s in &b.series {
                    prop_assert!(s.labels.metric_name().is_some_and(|n| !n.is_empty()));
                    prop_assert!(s.labels.iter().all(|l| !l.name.is_empty() && !l.value.is_empty()));
                }
            }
        }
    }
}

/// Translation copies job/instance into every point: a 1 MiB `service.name` on 2000 points would build
/// 2 GB of labels. The translation stops at its 1 GiB budget and reports the dropped points.
#[test]
fn translation_budget_bounds_label_copies() {
    let points: Vec<pb::NumberDataPoint> = (0..2000).map(|i| number(T0_NS + i, 1.0, vec![], vec![])).collect();
    let g = metric("g", "", Data::Gauge(pb::Gauge { data_points: points }));
    let b = otlp_metrics_to_batch(&request(vec![s("service.name", &"j".repeat(1 << 20))], vec![g]));
    let kept = b.sample_count();
    assert!((900..1100).contains(&kept), "kept {kept}");
    let dropped: usize = b.rejected.iter().map(|r| r.samples).sum();
    assert_eq!(kept + dropped, 2000);
    assert!(
        b.rejected[0]
            .reason
            .starts_with("translated request exceeds 1073741824 bytes"),
        "{:?}",
        b.rejected[0]
    );
    assert!(b.rejected.len() <= 1001);
}

/// Rejections are listed up to 1000; the rest are summed into one more entry.
#[test]
fn rejections_are_capped() {
    let delta = |i: usize| {
        metric(
            &format!("d{i}"),
            "",
            Data::Sum(pb::Sum {
                data_points: vec![number(T0_NS, 1.0, vec![], vec![])],
                aggregation_temporality: pb::AggregationTemporality::Delta as i32,
                is_monotonic: true,
            }),
        )
    };
    let expo = metric(
        "e",
        "",
        Data::ExponentialHistogram(pb::ExponentialHistogram {
            data_points: vec![pb::ExponentialHistogramDataPoint::default(); 3],
            aggregation_temporality: pb::AggregationTemporality::Cumulative as i32,
        }),
    );
    let mut metrics: Vec<pb::Metric> = (0..1500).map(delta).collect();
    metrics.push(expo);
    let b = otlp_metrics_to_batch(&request(vec![], metrics));
    assert_eq!(b.rejected.len(), 1001);
    let last = &b.rejected[1000];
    assert_eq!(last.reason, "more than 1000 rejections; the rest are counted here");
    assert_eq!((last.series_index, last.histograms), (1000, 3));
}

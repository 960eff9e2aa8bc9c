//! The append step against `MemStorage`, one behaviour per test, cases from Prometheus's documented
//! semantics (scrape/scrape.go behaviour described in the Prometheus docs and exemplar-facts §1, §3).

use super::*;
use diamond_config::parse;
use diamond_model::storage::Queryable;
use diamond_model::storage::memory::MemStorage;
use diamond_model::{MatchOp, Matcher, is_stale_nan};

fn job(extra: &str) -> ScrapeConfig {
    let yaml = format!("scrape_configs:\n  - job_name: j\n{extra}");
    parse(&yaml, "t.yml").expect("valid").scrape_configs.remove(0)
}

fn target() -> Labels {
    Labels::from_pairs(&[("instance", "h:1"), ("job", "j")])
}

/// All samples of all series: labels text → samples.
fn dump(s: &MemStorage) -> Vec<(String, Vec<(i64, f64)>)> {
    let q = s.querier(i64::MIN, i64::MAX).expect("querier");
    let m = Matcher::new(MatchOp::Regex, "__name__", ".+").expect("matcher");
    q.select(&[m])
        .expect("select")
        .into_iter()
        .map(|se| {
            let mut it = se.data.iter(i64::MIN, i64::MAX);
            let mut v = Vec::new();
            while let Some(x) = it.next() {
                v.push(x);
            }
            (se.labels.to_string(), v)
        })
        .collect()
}

fn samples_of(s: &MemStorage, labels: &str) -> Vec<(i64, f64)> {
    dump(s)
        .into_iter()
        .find(|(l, _)| l == labels)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

struct Run<'a> {
    cfg: &'a ScrapeConfig,
    store: &'a MemStorage,
    cache: ScrapeCache,
}

impl Run<'_> {
    fn scrape(&mut self, body: &str, format: Format, ts: i64) -> Result<AppendStats, (AppendStats, ScrapeError)> {
        let tl = target();
        let opts = AppendOptions {
            config: self.cfg,
            target_labels: &tl,
            preferred_openmetrics: true,
        };
        let mut app = self.store.appender();
        let r = append_body(app.as_mut(), &mut self.cache, body.as_bytes(), format, ts, &opts);
        match &r {
            Ok(_) => app.commit().expect("commit"),
            Err(_) => {
                app.rollback();
                let mut app = self.store.appender();
                append_failure(app.as_mut(), &mut self.cache, ts).expect("stale");
                app.commit().expect("commit");
            }
        }
        r
    }
}

fn run<'a>(cfg: &'a ScrapeConfig, store: &'a MemStorage) -> Run<'a> {
    Run {
        cfg,
        store,
        cache: ScrapeCache::new(),
    }
}

const OM: &str = "# TYPE http_requests counter
# HELP http_requests Requests.
http_requests_total{code=\"200\"} 10 # {trace_id=\"abc\"} 1
http_requests_total{code=\"500\"} 2 # {trace_id=\"def\"} 1 1700000000.5
# EOF
";

#[test]
fn samples_get_target_labels_exemplars_and_metadata() {
    let cfg = job("");
    let store = MemStorage::new();
    let mut r = run(&cfg, &store);
    let st = r.scrape(OM, Format::OpenMetrics, 5_000).expect("scrape ok");
    assert_eq!(
        (st.scraped, st.post_relabel, st.series_added, st.exemplars),
        (2, 2, 2, 2)
    );
    assert!(st.warnings.is_empty());
    assert_eq!(
        samples_of(
            &store,
            r#"{__name__="http_requests_total", code="200", instance="h:1", job="j"}"#
        ),
        vec![(5_000, 10.0)]
    );
    let ex = store.exemplars(
        0,
        i64::MAX,
        &[vec![Matcher::new(MatchOp::Equal, "code", "200").expect("m")]],
    );
    assert_eq!(ex.len(), 1);
    // No exemplar timestamp: the scrape time, has_ts false.
    assert_eq!((ex[0].1[0].ts, ex[0].1[0].has_ts), (5_000, false));
    let ex = store.exemplars(
        0,
        i64::MAX,
        &[vec![Matcher::new(MatchOp::Equal, "code", "500").expect("m")]],
    );
    assert_eq!((ex[0].1[0].ts, ex[0].1[0].has_ts), (1_700_000_000_500, true));
    let meta = store.metadata();
    let m = meta.values().next().expect("metadata recorded");
    assert_eq!((m.metric_type, m.help.as_str()), (MetricType::Counter, "Requests."));
}

#[test]
fn steady_state_uses_the_cache() {
    let cfg = job("");
    let store = MemStorage::new();
    let mut r = run(&cfg, &store);
    r.scrape(OM, Format::OpenMetrics, 1_000).expect("first");
    let st = r.scrape(OM, Format::OpenMetrics, 2_000).expect("second");
    assert_eq!((st.scraped, st.series_added), (2, 0));
    assert_eq!(r.cache.len(), 2);
}

#[test]
fn label_conflicts_table() {
    // (honor_labels, exposed line, expected series)
    let cases = [
        (
            false,
            "m{job=\"x\"} 1\n",
            r#"{__name__="m", exported_job="x", instance="h:1", job="j"}"#,
        ),
        (true, "m{job=\"x\"} 1\n", r#"{__name__="m", instance="h:1", job="x"}"#),
        (
            false,
            "m{job=\"x\",exported_job=\"y\"} 1\n",
            // The exposed `exported_job` stays; the conflicting `job` moves one prefix further.
            r#"{__name__="m", exported_exported_job="x", exported_job="y", instance="h:1", job="j"}"#,
        ),
        (
            false,
            "m{other=\"x\"} 1\n",
            r#"{__name__="m", instance="h:1", job="j", other="x"}"#,
        ),
        (true, "m 1\n", r#"{__name__="m", instance="h:1", job="j"}"#),
    ];
    for (honor, body, want) in cases {
        let cfg = job(&format!("    honor_labels: {honor}\n"));
        let store = MemStorage::new();
        run(&cfg, &store)
            .scrape(body, Format::PromText, 1_000)
            .expect("scrape ok");
        let names: Vec<String> = dump(&store)
            .into_iter()
            .map(|(l, _)| l)
            .filter(|l| l.contains("\"m\""))
            .collect();
        assert_eq!(names, vec![want.to_owned()], "honor={honor} body={body}");
    }
}

#[test]
fn metric_relabel_drop() {
    let cfg = job("    metric_relabel_configs:\n      - {source_labels: [__name__], regex: 'go_.*', action: drop}\n");
    let store = MemStorage::new();
    let st = run(&cfg, &store)
        .scrape("go_x 1\ngo_y 2\nkeep 3\n", Format::PromText, 1_000)
        .expect("ok");
    assert_eq!((st.scraped, st.post_relabel), (3, 1));
    let names: Vec<String> = dump(&store).into_iter().map(|(l, _)| l).collect();
    assert_eq!(names, vec![r#"{__name__="keep", instance="h:1", job="j"}"#.to_owned()]);
}

#[test]
fn limits_fail_the_scrape() {
    let cases: [(&str, &str, &str); 4] = [
        ("    sample_limit: 2\n", "a 1\nb 1\nc 1\n", "sample limit exceeded"),
        (
            "    label_limit: 3\n",
            "a{x=\"1\"} 1\n",
            "label_limit exceeded (metric: a, number of labels: 4, limit: 3)",
        ),
        (
            "    label_name_length_limit: 5\n",
            "a{longname=\"1\"} 1\n",
            "label_name_length_limit exceeded (metric: a, label name: __name__, length: 8, limit: 5)",
        ),
        (
            "    label_value_length_limit: 3\n",
            "a{x=\"1234\"} 1\n",
            "label_value_length_limit exceeded (metric: a, label value: 1234, length: 4, limit: 3)",
        ),
    ];
    for (extra, body, msg) in cases {
        let cfg = job(extra);
        let store = MemStorage::new();
        let (_, e) = run(&cfg, &store).scrape(body, Format::PromText, 1_000).expect_err(msg);
        assert_eq!(e.to_string(), msg);
        assert_eq!(store.num_series(), 0, "nothing kept from a failed scrape: {msg}");
    }
    // Within the limit the same body passes.
    let cfg = job("    sample_limit: 3\n");
    let store = MemStorage::new();
    let st = run(&cfg, &store)
        .scrape("a 1\nb 1\nc 1\n", Format::PromText, 1_000)
        .expect("at the limit");
    assert_eq!(st.post_relabel, 3);
}

#[test]
fn sample_limit_counts_after_relabelling() {
    let cfg = job(
        "    sample_limit: 1\n    metric_relabel_configs:\n      - {source_labels: [__name__], regex: 'b', action: drop}\n",
    );
    let store = MemStorage::new();
    let (st, e) = run(&cfg, &store)
        .scrape("a 1\nb 1\nc 1\n", Format::PromText, 1_000)
        .expect_err("limit");
    assert_eq!(e, ScrapeError::SampleLimit);
    assert_eq!((st.scraped, st.post_relabel), (3, 2));
}

#[test]
fn staleness_on_disappearance_and_failure() {
    let cfg = job("");
    let store = MemStorage::new();
    let mut r = run(&cfg, &store);
    r.scrape("a 1\nb 2\n", Format::PromText, 1_000).expect("first");
    r.scrape("a 1\n", Format::PromText, 2_000).expect("second");
    let b = samples_of(&store, r#"{__name__="b", instance="h:1", job="j"}"#);
    assert_eq!(b.len(), 2);
    assert_eq!(b[0], (1_000, 2.0));
    assert!(b[1].0 == 2_000 && is_stale_nan(b[1].1), "{b:?}");
    // A failing scrape marks everything of the last good scrape stale, once.
    r.scrape("a 1\nbad line here\n", Format::PromText, 3_000)
        .expect_err("parse error");
    r.scrape("bad line\n", Format::PromText, 4_000)
        .expect_err("parse error");
    let a = samples_of(&store, r#"{__name__="a", instance="h:1", job="j"}"#);
    assert_eq!(a.len(), 3, "{a:?}");
    assert!(a[2].0 == 3_000 && is_stale_nan(a[2].1), "{a:?}");
    // b was already stale; not marked again.
    assert_eq!(
        samples_of(&store, r#"{__name__="b", instance="h:1", job="j"}"#).len(),
        2
    );
    // Coming back works: a fresh sample after the marker.
    r.scrape("a 5\n", Format::PromText, 5_000).expect("recovered");
    assert_eq!(
        samples_of(&store, r#"{__name__="a", instance="h:1", job="j"}"#).last(),
        Some(&(5_000, 5.0))
    );
}

#[test]
fn timestamps_table() {
    // (honor_timestamps, stored timestamp of `m 1 1234`)
    for (honor, want) in [(true, 1_234), (false, 9_000)] {
        let cfg = job(&format!("    honor_timestamps: {honor}\n"));
        let store = MemStorage::new();
        let mut r = run(&cfg, &store);
        r.scrape("m 1 1234\n", Format::PromText, 9_000).expect("ok");
        r.scrape("", Format::PromText, 10_000).expect("empty body");
        let s = samples_of(&store, r#"{__name__="m", instance="h:1", job="j"}"#);
        assert_eq!(s[0], (want, 1.0), "honor={honor}");
        // A series with its own timestamp is not marked stale; one using the scrape time is.
        assert_eq!(s.len(), if honor { 1 } else { 2 }, "honor={honor}: {s:?}");
    }
}

#[test]
fn classic_text_exemplar_fails_with_explanation() {
    let cfg = job("");
    let store = MemStorage::new();
    let body = "# TYPE c counter\nc_total 1 # {trace_id=\"a\"} 1\n";
    let (_, e) = run(&cfg, &store)
        .scrape(body, Format::PromText, 1_000)
        .expect_err("classic exemplar");
    assert_eq!(e, ScrapeError::ExemplarInClassicText { line: 2 });
    assert!(e.to_string().contains("exemplars need OpenMetrics"), "{e}");
}

#[test]
fn classic_text_warning_table() {
    // (body, format, warned)
    let cases = [
        ("# TYPE c counter\nc_total 1\n", Format::PromText, true),
        (
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n",
            Format::PromText,
            true,
        ),
        ("c_total 1\n", Format::PromText, true),
        ("# TYPE g gauge\ng 1\n", Format::PromText, false),
        ("# TYPE c counter\nc_total 1\n# EOF\n", Format::OpenMetrics, false),
    ];
    for (body, f, warned) in cases {
        let cfg = job("");
        let store = MemStorage::new();
        let st = run(&cfg, &store).scrape(body, f, 1_000).expect("ok");
        assert_eq!(st.warnings == vec![CLASSIC_TEXT_WARNING.to_owned()], warned, "{body}");
    }
}

#[test]
fn report_series() {
    let store = MemStorage::new();
    let mut cache = ScrapeCache::new();
    let mut app = store.appender();
    let stats = AppendStats {
        scraped: 3,
        post_relabel: 2,
        series_added: 1,
        ..Default::default()
    };
    append_report(app.as_mut(), &mut cache, &target(), 7_000, 0.25, &stats, true).expect("report");
    app.commit().expect("commit");
    let want = [
        ("up", 1.0),
        ("scrape_duration_seconds", 0.25),
        ("scrape_samples_scraped", 3.0),
        ("scrape_samples_post_metric_relabeling", 2.0),
        ("scrape_series_added", 1.0),
    ];
    for (name, v) in want {
        let l = format!(r#"{{__name__="{name}", instance="h:1", job="j"}}"#);
        assert_eq!(samples_of(&store, &l), vec![(7_000, v)], "{name}");
    }
    let mut app = store.appender();
    append_end_of_run(app.as_mut(), &mut cache, &target(), 8_000).expect("end");
    app.commit().expect("commit");
    let up = samples_of(&store, r#"{__name__="up", instance="h:1", job="j"}"#);
    assert!(up.len() == 2 && is_stale_nan(up[1].1), "{up:?}");
}

/// Records the hints it receives and hands out refs it "forgets" on rollback, like a storage whose series
/// creation is transactional.
struct HintRecorder {
    hints: Arc<std::sync::Mutex<Vec<SeriesRef>>>,
    next: SeriesRef,
}

impl Appender for HintRecorder {
    fn append(&mut self, hint: SeriesRef, _l: &Labels, _t: Timestamp, _v: f64) -> Result<SeriesRef, AppendError> {
        self.hints.lock().unwrap_or_else(|e| e.into_inner()).push(hint);
        self.next += 1;
        Ok(if hint != 0 { hint } else { self.next })
    }
    fn append_exemplar(&mut self, _: SeriesRef, _: &Labels, _: &diamond_model::Exemplar) -> Result<(), AppendError> {
        Ok(())
    }
    fn update_metadata(&mut self, _: SeriesRef, _: &Labels, _: &Metadata) -> Result<(), AppendError> {
        Ok(())
    }
    fn commit(self: Box<Self>) -> Result<(), AppendError> {
        Ok(())
    }
    fn rollback(self: Box<Self>) {}
}

#[test]
fn refs_from_a_failed_scrape_are_not_reused() {
    let cfg = job("    sample_limit: 1\n");
    let tl = target();
    let opts = AppendOptions {
        config: &cfg,
        target_labels: &tl,
        preferred_openmetrics: false,
    };
    let hints = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut cache = ScrapeCache::new();
    let mut app: Box<dyn Appender> = Box::new(HintRecorder {
        hints: Arc::clone(&hints),
        next: 100,
    });
    append_body(app.as_mut(), &mut cache, b"a 1\nb 1\n", Format::PromText, 1_000, &opts).expect_err("over the limit");
    app.rollback();
    let mut app: Box<dyn Appender> = Box::new(HintRecorder {
        hints: Arc::clone(&hints),
        next: 200,
    });
    append_body(app.as_mut(), &mut cache, b"a 1\n", Format::PromText, 2_000, &opts).expect("within the limit");
    let second = *hints
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .last()
        .expect("appended");
    assert_eq!(
        second, 0,
        "the ref of the rolled-back append must not be used as a hint"
    );
    // Refs from a committed scrape are reused.
    let mut app: Box<dyn Appender> = Box::new(HintRecorder {
        hints: Arc::clone(&hints),
        next: 300,
    });
    append_body(app.as_mut(), &mut cache, b"a 1\n", Format::PromText, 3_000, &opts).expect("ok");
    let third = *hints
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .last()
        .expect("appended");
    assert_eq!(third, 201);
}

#[test]
fn cache_is_bounded_while_scrapes_fail() {
    // Each failing scrape exposes 600 new series, then fails on the sample limit.
    let cfg = job("    sample_limit: 1\n");
    let store = MemStorage::new();
    let mut r = run(&cfg, &store);
    let mut max_len = 0;
    for round in 0..6 {
        let body: String = (0..600)
            .map(|i| format!("m{{round=\"{round}\",i=\"{i}\"}} 1\n"))
            .collect();
        r.scrape(&body, Format::PromText, 1_000 + round)
            .expect_err("over the limit");
        max_len = max_len.max(r.cache.len());
    }
    // Without the flush the cache would hold 3600 entries; it never exceeds 2*0+1000 plus one round.
    assert!(max_len <= 1_600, "cache grew to {max_len}");
    assert!(r.cache.len() <= 1_000, "after the last flush: {}", r.cache.len());
}

/// Records update_metadata calls: (labels, metadata).
struct MetaRecorder(Arc<std::sync::Mutex<Vec<(String, Metadata)>>>);

impl Appender for MetaRecorder {
    fn append(&mut self, hint: SeriesRef, _l: &Labels, _t: Timestamp, _v: f64) -> Result<SeriesRef, AppendError> {
        Ok(hint.max(1))
    }
    fn append_exemplar(&mut self, _: SeriesRef, _: &Labels, _: &diamond_model::Exemplar) -> Result<(), AppendError> {
        Ok(())
    }
    fn update_metadata(&mut self, _: SeriesRef, l: &Labels, m: &Metadata) -> Result<(), AppendError> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((l.to_string(), m.clone()));
        Ok(())
    }
    fn commit(self: Box<Self>) -> Result<(), AppendError> {
        Ok(())
    }
    fn rollback(self: Box<Self>) {}
}

#[test]
fn metadata_recorded_per_family_when_changed() {
    let cfg = job("");
    let tl = target();
    let opts = AppendOptions {
        config: &cfg,
        target_labels: &tl,
        preferred_openmetrics: false,
    };
    let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut cache = ScrapeCache::new();
    let v1 = "# HELP h Latency.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 1\n# TYPE g gauge\ng 1\n";
    let v2 = v1.replace("Latency.", "Latency in seconds.");
    // (body, families recorded by this scrape)
    let steps: [(&str, &[&str]); 3] = [
        (v1, &[r#"{__name__="h"}"#, r#"{__name__="g"}"#]),
        (v1, &[]),
        (&v2, &[r#"{__name__="h"}"#]),
    ];
    for (i, (body, want)) in steps.into_iter().enumerate() {
        calls.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let mut app = MetaRecorder(Arc::clone(&calls));
        append_body(
            &mut app,
            &mut cache,
            body.as_bytes(),
            Format::PromText,
            1_000 * (i as i64 + 1),
            &opts,
        )
        .expect("scrape ok");
        let got: Vec<String> = calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|c| c.0.clone())
            .collect();
        assert_eq!(got, *want, "step {i}");
    }
    let last = calls.lock().unwrap_or_else(|e| e.into_inner())[0].1.clone();
    assert_eq!(
        (last.metric_type, last.help.as_str()),
        (MetricType::Histogram, "Latency in seconds.")
    );
}

//! `diamond grafana-datasource`: Grafana provisioning YAML for a Prometheus data source pointed at Diamond,
//! with `jsonData.exemplarTraceIdDestinations` that match the exemplar label names Diamond links.
//!
//! Grafana adds a data link only when an exemplar field is named *exactly* like an entry's `name`, and it
//! substitutes the raw label value. So there is one entry per label name per destination (the config's
//! `trace_destinations` and the embedded store), and each external `url` goes through Diamond's
//! `/api/diamond/v1/exemplars/links/open`, which normalises the ID before redirecting: an uppercase,
//! base64, UUID or 64-bit ID still opens the right trace. With `--tempo-datasource-uid` the entries link
//! to a Tempo data source of Grafana's instead (internal links, raw value as the query), and with
//! `--embedded-datasource jaeger|tempo` a second data source pointed at Diamond's embedded trace store is
//! provisioned and linked internally. In provisioning files Grafana expands `$VAR` and `${VAR}`, so the
//! placeholder is written `$${__value.raw}`.

use std::process::ExitCode;

use anyhow::Context;
use diamond_model::traceid::TRACE_ID_LABEL_NAMES;
use serde_yaml_ng::{Mapping, Value};

use crate::cli::GrafanaArgs;

/// The data source UID of the embedded trace store when `--embedded-datasource` is given.
pub(crate) const EMBEDDED_UID: &str = "diamond-traces";

pub(crate) fn run(args: GrafanaArgs) -> anyhow::Result<ExitCode> {
    let destinations = match &args.config_file {
        Some(p) => {
            diamond_config::load_file(p)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .trace_destinations
        }
        None => Vec::new(),
    };
    let url = match &args.url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => default_url(&args.listen_address),
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        anyhow::bail!("--url {url:?} must be an http:// or https:// URL");
    }
    let yaml = provisioning(&args, &url, &destinations).context("rendering the provisioning YAML")?;
    print!("{yaml}");
    Ok(ExitCode::SUCCESS)
}

/// `http://<listen address>`, with an unspecified host (`0.0.0.0`, `[::]`, empty) replaced by `localhost`.
fn default_url(listen: &str) -> String {
    let (host, port) = listen.rsplit_once(':').unwrap_or((listen, "9090"));
    let host = match host {
        "" | "0.0.0.0" | "[::]" | "::" => "localhost",
        h => h,
    };
    format!("http://{host}:{port}")
}

fn map(pairs: &[(&str, Value)]) -> Value {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        m.insert(Value::String((*k).to_owned()), v.clone());
    }
    Value::Mapping(m)
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

pub(crate) fn provisioning(
    args: &GrafanaArgs,
    url: &str,
    destinations: &[diamond_config::TraceDestination],
) -> anyhow::Result<String> {
    let mut entries: Vec<Value> = Vec::new();
    let open =
        |dest: &str| format!("{url}/api/diamond/v1/exemplars/links/open?destination={dest}&trace_id=$${{__value.raw}}");
    // Embedded store first: every name Diamond recognises, then any extra names the config adds.
    let mut all_names: Vec<String> = TRACE_ID_LABEL_NAMES.iter().map(|n| (*n).to_owned()).collect();
    for n in destinations.iter().flat_map(|d| d.label_names.iter()) {
        if !all_names.contains(n) {
            all_names.push(n.clone());
        }
    }
    for n in &all_names {
        if args.embedded_datasource.is_some() {
            entries.push(map(&[
                ("name", s(n)),
                ("datasourceUid", s(EMBEDDED_UID)),
                ("urlDisplayLabel", s("Trace in Grafana (Diamond's trace store)")),
            ]));
        }
        entries.push(map(&[
            ("name", s(n)),
            ("url", s(&open(diamond_config::EMBEDDED_DESTINATION))),
            ("urlDisplayLabel", s("Trace in Diamond")),
        ]));
        if let Some(uid) = &args.tempo_datasource_uid {
            entries.push(map(&[
                ("name", s(n)),
                ("datasourceUid", s(uid)),
                ("urlDisplayLabel", s("Trace in Tempo")),
            ]));
        }
    }
    for d in destinations {
        for n in &d.label_names {
            entries.push(map(&[
                ("name", s(n)),
                ("url", s(&open(&d.name))),
                ("urlDisplayLabel", s(&format!("Trace in {}", d.name))),
            ]));
        }
    }
    let mut datasources = vec![map(&[
        ("name", s(&args.name)),
        ("uid", s(&args.uid)),
        ("type", s("prometheus")),
        ("access", s("proxy")),
        ("url", s(url)),
        ("isDefault", Value::Bool(args.default)),
        (
            "jsonData",
            map(&[
                ("httpMethod", s("POST")),
                ("prometheusType", s("Prometheus")),
                // Diamond's buildinfo reports the Prometheus API level it implements.
                ("prometheusVersion", s("3.5.0")),
                ("exemplarTraceIdDestinations", Value::Sequence(entries)),
            ]),
        ),
    ])];
    if let Some(kind) = &args.embedded_datasource {
        datasources.push(map(&[
            ("name", s(&format!("{} traces", args.name))),
            ("uid", s(EMBEDDED_UID)),
            ("type", s(kind.as_str())),
            ("access", s("proxy")),
            ("url", s(url)),
        ]));
    }
    let root = map(&[
        ("apiVersion", Value::Number(1.into())),
        ("datasources", Value::Sequence(datasources)),
    ]);
    let body = serde_yaml_ng::to_string(&root)?;
    Ok(format!(
        "# Grafana data source provisioning for Diamond, by `diamond grafana-datasource`.\n\
         # Put it in Grafana's provisioning/datasources/ directory. `$$` is Grafana's escape for a literal `$`.\n{body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{EmbeddedKind, GrafanaArgs};

    fn args() -> GrafanaArgs {
        GrafanaArgs {
            config_file: None,
            url: None,
            listen_address: "0.0.0.0:9090".into(),
            name: "Diamond".into(),
            uid: "diamond".into(),
            default: false,
            tempo_datasource_uid: None,
            embedded_datasource: None,
        }
    }

    #[test]
    fn default_url_from_listen_address() {
        assert_eq!(default_url("0.0.0.0:9090"), "http://localhost:9090");
        assert_eq!(default_url(":9090"), "http://localhost:9090");
        assert_eq!(default_url("127.0.0.1:19090"), "http://127.0.0.1:19090");
        assert_eq!(default_url("[::]:9090"), "http://localhost:9090");
    }

    #[test]
    fn destinations_and_flags_become_entries_grafana_reads() {
        let cfg = diamond_config::parse(
            "trace_destinations:\n  - name: jaeger\n    kind: jaeger\n    url: http://jaeger:16686/trace/{trace_id}\n    label_names: [trace_id, my_trace]\n",
            "t.yml",
        )
        .unwrap();
        let mut a = args();
        a.tempo_datasource_uid = Some("tempo".into());
        a.embedded_datasource = Some(EmbeddedKind::Jaeger);
        let out = provisioning(&a, "http://diamond:9090", &cfg.trace_destinations).unwrap();
        let v: Value = serde_yaml_ng::from_str(&out).unwrap();
        assert_eq!(v["apiVersion"], Value::Number(1.into()));
        let ds = &v["datasources"][0];
        assert_eq!(ds["type"], s("prometheus"));
        assert_eq!(ds["url"], s("http://diamond:9090"));
        let e = ds["jsonData"]["exemplarTraceIdDestinations"].as_sequence().unwrap();
        // Per recognised name (7) plus the config's extra name: embedded internal, embedded url, tempo; then
        // jaeger's two names.
        assert_eq!(e.len(), 8 * 3 + 2);
        for x in e {
            assert!(x["name"].as_str().is_some_and(|n| !n.is_empty()));
            assert!(x["urlDisplayLabel"].as_str().is_some());
            assert!(x["url"].is_string() != x["datasourceUid"].is_string(), "{x:?}");
        }
        let names: Vec<&str> = e.iter().filter_map(|x| x["name"].as_str()).collect();
        for n in TRACE_ID_LABEL_NAMES.iter().chain(&["my_trace"]) {
            assert!(names.contains(n), "{n}");
        }
        let jaeger: Vec<&Value> = e
            .iter()
            .filter(|x| x["urlDisplayLabel"] == s("Trace in jaeger"))
            .collect();
        assert_eq!(jaeger.len(), 2);
        assert_eq!(
            jaeger[0]["url"],
            s("http://diamond:9090/api/diamond/v1/exemplars/links/open?destination=jaeger&trace_id=$${__value.raw}")
        );
        assert!(e.iter().any(|x| x["datasourceUid"] == s("tempo")));
        assert!(e.iter().any(|x| x["datasourceUid"] == s(EMBEDDED_UID)));
        let traces = &v["datasources"][1];
        assert_eq!(traces["type"], s("jaeger"));
        assert_eq!(traces["uid"], s(EMBEDDED_UID));
        assert_eq!(traces["url"], s("http://diamond:9090"));
    }
}

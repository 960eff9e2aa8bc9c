//! `trace_destinations:`, a Diamond extension of `prometheus.yml` (issue 6): where an exemplar's trace can
//! be opened, and where Diamond may ask whether it exists.
//!
//! ```yaml
//! trace_destinations:
//!   - name: jaeger
//!     kind: jaeger                      # tempo | jaeger | url (default url: a link, never checked)
//!     url: http://jaeger:16686/trace/{trace_id}
//!     label_names: [trace_id]           # default: every name in diamond_model::traceid::TRACE_ID_LABEL_NAMES
//!   - name: tempo
//!     kind: tempo
//!     url: http://grafana:3000/explore?left={"queries":[{"query":"${__value.raw}"}]}
//!     api_url: http://tempo:3200        # required for tempo; default for jaeger: the origin of `url`
//!     tempo_api: v2                     # v2 (/api/v2/traces/<id>, Tempo 2.5+) or v1 (/api/traces/<id>)
//!     timeout: 2s                       # per existence check; default 2s
//! ```
//!
//! Placeholders in `url`: `{trace_id}` and Grafana's `${__value.raw}` (the normalised 32-hex trace ID),
//! `{span_id}` (the 16-hex span ID, or empty). Each is percent-encoded as a URL component. The embedded
//! trace store is always an implicit destination named `diamond`, so that name is reserved.

use std::time::Duration;

use serde::Deserialize;

use crate::locate::Seg;
use crate::{Error, Resolver, path};

/// One `trace_destinations` entry as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTraceDestination {
    name: Option<String>,
    kind: Option<String>,
    url: Option<String>,
    api_url: Option<String>,
    tempo_api: Option<String>,
    label_names: Option<Vec<String>>,
    timeout: Option<String>,
}

/// How Diamond asks a destination whether it holds a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceDestinationKind {
    /// Grafana Tempo: `GET <api_url>/api/v2/traces/<id>` (`v2`, Tempo 2.5+) or `/api/traces/<id>`.
    Tempo {
        /// Whether to use the v2 API.
        v2: bool,
    },
    /// Jaeger's query service: `GET <api_url>/api/traces/<id>`.
    Jaeger,
    /// Any URL: a link only, never checked.
    Url,
}

impl TraceDestinationKind {
    /// `tempo`, `jaeger` or `url`.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceDestinationKind::Tempo { .. } => "tempo",
            TraceDestinationKind::Jaeger => "jaeger",
            TraceDestinationKind::Url => "url",
        }
    }
}

/// A resolved trace destination.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceDestination {
    /// Unique name, shown next to the link (also the `destination` label of the check metrics).
    pub name: String,
    /// How existence is checked.
    pub kind: TraceDestinationKind,
    /// The link template (see the module docs).
    pub url: String,
    /// Base URL of the trace-by-ID API, for `tempo` and `jaeger`.
    pub api_url: Option<String>,
    /// Exemplar labels that hold this destination's trace IDs, in precedence order.
    pub label_names: Vec<String>,
    /// Timeout of one existence check.
    pub timeout: Duration,
}

/// Default timeout of one existence check.
pub const DEFAULT_TRACE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The name of the implicit destination, the embedded trace store.
pub const EMBEDDED_DESTINATION: &str = "diamond";

const TRACE_PLACEHOLDERS: [&str; 2] = ["{trace_id}", "${__value.raw}"];

impl TraceDestination {
    /// The link for a trace (32 hex) and optional span (16 hex), each percent-encoded into the template.
    pub fn link(&self, trace_id: &str, span_id: Option<&str>) -> String {
        render(&self.url, trace_id, span_id)
    }

    /// Where an existence check for `trace_id` goes, for `tempo` and `jaeger`.
    pub fn check_url(&self, trace_id: &str) -> Option<String> {
        let base = self.api_url.as_deref()?.trim_end_matches('/');
        let id = encode(trace_id);
        match self.kind {
            TraceDestinationKind::Tempo { v2: true } => Some(format!("{base}/api/v2/traces/{id}")),
            TraceDestinationKind::Tempo { v2: false } | TraceDestinationKind::Jaeger => {
                Some(format!("{base}/api/traces/{id}"))
            }
            TraceDestinationKind::Url => None,
        }
    }
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Substitutes the placeholders of a link template.
pub fn render(template: &str, trace_id: &str, span_id: Option<&str>) -> String {
    let t = encode(trace_id);
    let s = span_id.map(encode).unwrap_or_default();
    template
        .replace("${__value.raw}", &t)
        .replace("{trace_id}", &t)
        .replace("{span_id}", &s)
}

/// `scheme://host[:port]` of an http(s) URL.
fn origin(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"))?;
    let scheme_len = url.len() - rest.len();
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    (end > 0).then(|| &url[..scheme_len + end])
}

fn is_http_url(u: &str) -> bool {
    origin(u).is_some()
}

impl Resolver<'_> {
    pub(crate) fn trace_destinations(
        &self,
        raw: Option<Vec<RawTraceDestination>>,
    ) -> Result<Vec<TraceDestination>, Error> {
        let mut out: Vec<TraceDestination> = Vec::new();
        for (i, d) in raw.unwrap_or_default().into_iter().enumerate() {
            let at = ["trace_destinations".into(), Seg::Idx(i)];
            let key = |k: &str| path(&at, &[k.into()]);
            let name = d.name.unwrap_or_default();
            if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric() || b"_-.".contains(&c)) {
                let at = if name.is_empty() { at.to_vec() } else { key("name") };
                return Err(self.err(
                    &at,
                    format!("trace destination name {name:?} must be non-empty letters, digits, '_', '-' or '.'"),
                ));
            }
            if name == EMBEDDED_DESTINATION {
                return Err(self.err(
                    &key("name"),
                    "trace destination name \"diamond\" is reserved for the embedded trace store",
                ));
            }
            if out.iter().any(|o| o.name == name) {
                return Err(self.err(
                    &key("name"),
                    format!("found multiple trace destinations named {name:?}"),
                ));
            }
            let kind = match d.kind.as_deref().unwrap_or("url") {
                "tempo" => TraceDestinationKind::Tempo {
                    v2: match d.tempo_api.as_deref().unwrap_or("v2") {
                        "v2" => true,
                        "v1" => false,
                        other => {
                            return Err(self.err(
                                &key("tempo_api"),
                                format!("unknown tempo_api {other:?}: expected v1 or v2"),
                            ));
                        }
                    },
                },
                "jaeger" => TraceDestinationKind::Jaeger,
                "url" => TraceDestinationKind::Url,
                other => {
                    return Err(self.err(
                        &key("kind"),
                        format!("unknown trace destination kind {other:?}: expected tempo, jaeger or url"),
                    ));
                }
            };
            if d.tempo_api.is_some() && !matches!(kind, TraceDestinationKind::Tempo { .. }) {
                return Err(self.err(&key("tempo_api"), "tempo_api applies to kind tempo only"));
            }
            let Some(url) = d.url.filter(|u| !u.is_empty()) else {
                return Err(self.err(&at, format!("trace destination {name:?} needs a url")));
            };
            let is_path = url.starts_with('/') && !url.starts_with("//");
            if !(is_http_url(&url) || is_path) || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(self.err(
                    &key("url"),
                    format!(
                        "url {url:?} must be an http:// or https:// URL, or a path starting with '/', without spaces"
                    ),
                ));
            }
            if !TRACE_PLACEHOLDERS.iter().any(|p| url.contains(p)) {
                return Err(self.err(
                    &key("url"),
                    format!("url {url:?} has no {{trace_id}} or ${{__value.raw}} placeholder"),
                ));
            }
            let api_url = match (&kind, d.api_url) {
                (TraceDestinationKind::Url, Some(_)) => {
                    return Err(self.err(
                        &key("api_url"),
                        "api_url applies to kinds tempo and jaeger (kind url is never checked)",
                    ));
                }
                (TraceDestinationKind::Url, None) => None,
                (_, Some(a)) => {
                    if !is_http_url(&a) || a.contains(['?', '#']) {
                        return Err(self.err(
                            &key("api_url"),
                            format!("api_url {a:?} must be an http:// or https:// base URL"),
                        ));
                    }
                    Some(a)
                }
                (TraceDestinationKind::Jaeger, None) => match origin(&url) {
                    // Jaeger's UI and API share one address, so the link's origin is the API's.
                    Some(o) => Some(o.to_owned()),
                    None => {
                        return Err(self.err(
                            &at,
                            format!("trace destination {name:?} of kind jaeger needs api_url when url is a path"),
                        ));
                    }
                },
                (TraceDestinationKind::Tempo { .. }, None) => {
                    // Tempo has no UI of its own: the link usually points at Grafana, not at Tempo.
                    return Err(self.err(
                        &at,
                        format!(
                            "trace destination {name:?} of kind tempo needs api_url (Tempo's HTTP address, e.g. http://tempo:3200)"
                        ),
                    ));
                }
            };
            let label_names = match d.label_names {
                None => diamond_model::traceid::TRACE_ID_LABEL_NAMES
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect(),
                Some(v) => {
                    if v.is_empty() || v.iter().any(|n| n.is_empty()) {
                        return Err(self.err(
                            &key("label_names"),
                            "label_names must list at least one non-empty label name",
                        ));
                    }
                    v
                }
            };
            let timeout = self
                .duration(&key("timeout"), &d.timeout)?
                .unwrap_or(DEFAULT_TRACE_CHECK_TIMEOUT);
            if timeout.is_zero() {
                return Err(self.err(&key("timeout"), "timeout must be greater than zero"));
            }
            out.push(TraceDestination {
                name,
                kind,
                url,
                api_url,
                label_names,
                timeout,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dests(yaml: &str) -> Result<Vec<TraceDestination>, String> {
        crate::parse(yaml, "t.yml")
            .map(|c| c.trace_destinations)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn resolves_every_kind() {
        let d = dests(
            "trace_destinations:
  - name: jaeger
    kind: jaeger
    url: http://jaeger:16686/trace/{trace_id}
    label_names: [trace_id]
  - name: tempo
    kind: tempo
    url: 'http://grafana:3000/explore?q=${__value.raw}&span={span_id}'
    api_url: http://tempo:3200/
    timeout: 500ms
  - name: tempo-old
    kind: tempo
    tempo_api: v1
    url: http://g/{trace_id}
    api_url: http://tempo:3200
  - name: logs
    url: /logs?trace={trace_id}
",
        )
        .unwrap();
        assert_eq!(d.len(), 4);
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(d[0].kind, TraceDestinationKind::Jaeger);
        assert_eq!(d[0].api_url.as_deref(), Some("http://jaeger:16686"));
        assert_eq!(d[0].label_names, vec!["trace_id"]);
        assert_eq!(d[0].link(id, None), format!("http://jaeger:16686/trace/{id}"));
        assert_eq!(
            d[0].check_url(id).unwrap(),
            format!("http://jaeger:16686/api/traces/{id}")
        );
        assert_eq!(d[0].timeout, DEFAULT_TRACE_CHECK_TIMEOUT);
        assert_eq!(d[1].kind, TraceDestinationKind::Tempo { v2: true });
        assert_eq!(
            d[1].check_url(id).unwrap(),
            format!("http://tempo:3200/api/v2/traces/{id}")
        );
        assert_eq!(
            d[1].link(id, Some("00f067aa0ba902b7")),
            format!("http://grafana:3000/explore?q={id}&span=00f067aa0ba902b7")
        );
        assert_eq!(d[1].link(id, None), format!("http://grafana:3000/explore?q={id}&span="));
        assert_eq!(d[1].timeout, Duration::from_millis(500));
        assert_eq!(
            d[1].label_names.len(),
            diamond_model::traceid::TRACE_ID_LABEL_NAMES.len()
        );
        assert_eq!(
            d[2].check_url(id).unwrap(),
            format!("http://tempo:3200/api/traces/{id}")
        );
        assert_eq!(d[3].kind, TraceDestinationKind::Url);
        assert_eq!(d[3].check_url(id), None);
        assert_eq!(d[3].link(id, None), format!("/logs?trace={id}"));
    }

    #[test]
    fn placeholders_are_percent_encoded() {
        // Normalised IDs are hex and need no encoding; anything else is encoded, never spliced raw.
        assert_eq!(render("http://x/{trace_id}", "a/b?c", None), "http://x/a%2Fb%3Fc");
        assert_eq!(
            render("http://x/${__value.raw}/{span_id}", "ab", Some("c d")),
            "http://x/ab/c%20d"
        );
    }

    #[test]
    fn errors_are_located() {
        let cases = [
            (
                "trace_destinations:\n  - url: http://x/{trace_id}\n",
                "t.yml:2:5: trace destination name \"\"",
            ),
            (
                "trace_destinations:\n  - name: diamond\n    url: http://x/{trace_id}\n",
                "t.yml:2:5: trace destination name \"diamond\" is reserved",
            ),
            (
                "trace_destinations:\n  - name: a\n    url: http://x/{trace_id}\n  - name: a\n    url: http://y/{trace_id}\n",
                "t.yml:4:5: found multiple trace destinations named \"a\"",
            ),
            (
                "trace_destinations:\n  - name: a\n    kind: zipkin\n    url: http://x/{trace_id}\n",
                "t.yml:3:5: unknown trace destination kind \"zipkin\"",
            ),
            (
                "trace_destinations:\n  - name: a\n",
                "t.yml:2:5: trace destination \"a\" needs a url",
            ),
            (
                "trace_destinations:\n  - name: a\n    url: javascript:alert('{trace_id}')\n",
                "t.yml:3:5: url \"javascript:alert('{trace_id}')\" must be an http:// or https:// URL",
            ),
            (
                "trace_destinations:\n  - name: a\n    url: //evil/{trace_id}\n",
                "t.yml:3:5: url \"//evil/{trace_id}\" must be",
            ),
            (
                "trace_destinations:\n  - name: a\n    url: http://x/trace\n",
                "t.yml:3:5: url \"http://x/trace\" has no {trace_id} or ${__value.raw} placeholder",
            ),
            (
                "trace_destinations:\n  - name: a\n    kind: tempo\n    url: http://g/{trace_id}\n",
                "t.yml:2:5: trace destination \"a\" of kind tempo needs api_url",
            ),
            (
                "trace_destinations:\n  - name: a\n    kind: tempo\n    tempo_api: v3\n    url: http://g/{trace_id}\n    api_url: http://t\n",
                "t.yml:4:5: unknown tempo_api \"v3\"",
            ),
            (
                "trace_destinations:\n  - name: a\n    url: http://g/{trace_id}\n    api_url: http://t\n",
                "t.yml:4:5: api_url applies to kinds tempo and jaeger",
            ),
            (
                "trace_destinations:\n  - name: a\n    kind: jaeger\n    url: http://g/{trace_id}\n    api_url: ftp://t\n",
                "t.yml:5:5: api_url \"ftp://t\" must be",
            ),
            (
                "trace_destinations:\n  - name: a\n    kind: jaeger\n    url: /trace/{trace_id}\n",
                "t.yml:2:5: trace destination \"a\" of kind jaeger needs api_url when url is a path",
            ),
            (
                "trace_destinations:\n  - name: a\n    url: http://g/{trace_id}\n    label_names: []\n",
                "t.yml:4:5: label_names must list at least one",
            ),
            (
                "trace_destinations:\n  - name: a\n    url: http://g/{trace_id}\n    timeout: 0s\n",
                "t.yml:4:5: timeout must be greater than zero",
            ),
            (
                "trace_destinations:\n  - name: a\n    url: http://g/{trace_id}\n    timeout: soon\n",
                "t.yml:4:5: ",
            ),
            (
                "trace_destinations:\n  - name: a\n    url: http://g/{trace_id}\n    colour: red\n",
                "t.yml:4:5: unknown field `colour`",
            ),
        ];
        for (yaml, want) in cases {
            let got = dests(yaml).expect_err(yaml);
            assert!(got.starts_with(want), "{yaml}\n got: {got}\nwant: {want}");
        }
    }

    #[test]
    fn rendered_config_round_trips() {
        let yaml = "trace_destinations:\n  - name: t\n    kind: tempo\n    url: 'http://g/${__value.raw}'\n    api_url: http://tempo:3200\n";
        let cfg = crate::parse(yaml, "t.yml").unwrap();
        let again = crate::parse(&crate::to_yaml(&cfg), "out.yml").unwrap();
        assert_eq!(again.trace_destinations, cfg.trace_destinations);
    }

    #[test]
    fn absent_means_none() {
        assert_eq!(dests("global: {}\n").unwrap(), vec![]);
        assert_eq!(dests("trace_destinations: []\n").unwrap(), vec![]);
    }
}

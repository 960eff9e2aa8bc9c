//! Trace links for exemplars (issue 6): which label holds an exemplar's trace ID, what it normalises to,
//! where it links (the embedded store's `/trace/<id>` and every configured `trace_destinations` entry), and
//! whether the trace exists there.
//!
//! [`TraceLinks`] is one long-lived object per server: the server hands it the destinations from the
//! config (again on reload, [`TraceLinks::configure`]) and, when the embedded trace store runs, its
//! [`TraceLookup`] ([`TraceLinks::set_embedded`]). [`TraceLinks::resolve`] answers a batch of exemplars:
//! IDs are parsed once per exemplar, each distinct `(destination, trace)` pair is checked at most once, from
//! a bounded cache when it can be (found: [`FOUND_TTL`], missing: [`MISSING_TTL`], failures:
//! [`ERROR_TTL`]), with at most [`MAX_CONCURRENT_CHECKS`] outbound requests at a time and an overall
//! deadline (the longest destination timeout), after which the rest is `unknown`. The endpoint is in
//! [`handler`]; its JSON shape is `docs/api/diamond.md`.
//!
//! External checks ask `GET <api_url>/api/traces/<id>` (Jaeger; Tempo v1) or `/api/v2/traces/<id>`
//! (Tempo 2.5+) with `Accept: application/json`: any 2xx is found, 404 is missing, anything else (or a
//! timeout) is a failure, which makes the status `unknown`, never `missing`.
//!
//! ```
//! use diamond_api::links::{Status, TraceLinks};
//! use diamond_model::Labels;
//! let links = TraceLinks::new();
//! let l = Labels::from_pairs(&[("traceID", "0x00F067AA0BA902B7")]);
//! let found = links.parse(&l);
//! assert_eq!(found.trace_id.unwrap().to_hex(), "000000000000000000f067aa0ba902b7");
//! assert_eq!(found.status, Status::Unknown); // nothing asked yet
//! ```

mod cache;
pub(crate) mod handler;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diamond_config::{EMBEDDED_DESTINATION, TraceDestination, TraceDestinationKind};
use diamond_model::Labels;
use diamond_model::traceid::{IdError, SpanId, TRACE_ID_LABEL_NAMES, TraceId, TraceLookup, find_trace};
use parking_lot::{Mutex, RwLock};

use cache::Cache;

/// How long a found trace is remembered.
pub const FOUND_TTL: Duration = Duration::from_secs(600);
/// How long a missing trace is remembered (short: a trace may still be arriving at its store).
pub const MISSING_TTL: Duration = Duration::from_secs(30);
/// How long a failed check (error, timeout) is remembered, so a down backend is not asked on every query.
pub const ERROR_TTL: Duration = Duration::from_secs(10);
/// Most cached `(destination, trace)` results.
pub const CACHE_CAPACITY: usize = 100_000;
/// Most external checks in flight at once, over all requests.
pub const MAX_CONCURRENT_CHECKS: usize = 16;

/// An exemplar's link status (`docs/api/diamond.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A store that was asked holds the trace.
    Found,
    /// Every store asked answered that it does not.
    Missing,
    /// No store could be asked in time, or none is configured.
    Unknown,
    /// A trace label is there, but its value is no trace ID.
    Unparsable,
    /// No trace label.
    None,
}

impl Status {
    /// The JSON string.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Found => "found",
            Status::Missing => "missing",
            Status::Unknown => "unknown",
            Status::Unparsable => "unparsable",
            Status::None => "none",
        }
    }
}

/// The answer of one existence check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The store holds the trace.
    Found,
    /// The store answered that it does not.
    Missing,
    /// The store answered something else, or could not be reached.
    Error,
    /// No answer within the timeout.
    Timeout,
}

impl Outcome {
    /// The `result` label of `diamond_trace_link_checks_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Found => "found",
            Outcome::Missing => "missing",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
        }
    }

    fn ttl(self) -> Duration {
        match self {
            Outcome::Found => FOUND_TTL,
            Outcome::Missing => MISSING_TTL,
            Outcome::Error | Outcome::Timeout => ERROR_TTL,
        }
    }
}

/// One link of an exemplar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Destination name (`diamond` for the embedded store).
    pub name: String,
    /// The URL (an http(s) URL, or a path on this server).
    pub url: String,
    /// Whether it opens in Diamond's own UI.
    pub internal: bool,
    /// `found`, `missing`, `unknown`, or `unchecked` (a `url` destination, never asked).
    pub status: &'static str,
}

/// The trace part of one exemplar's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExemplarTrace {
    /// The label the ID was found under.
    pub label: Option<String>,
    /// Its value as ingested.
    pub raw: Option<String>,
    /// The normalised trace ID.
    pub trace_id: Option<TraceId>,
    /// The normalised span ID.
    pub span_id: Option<SpanId>,
    /// Link status.
    pub status: Status,
    /// Why the ID did not parse.
    pub error: Option<IdError>,
    /// Links (empty unless `trace_id` is set).
    pub links: Vec<Link>,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkMetrics {
    /// `(destination, result, count)` of checks actually made (embedded lookups and HTTP requests).
    pub checks: Vec<(String, &'static str, u64)>,
    /// `(destination, count)` of answers served from the cache.
    pub cache_hits: Vec<(String, u64)>,
    /// Entries in the cache now.
    pub cache_entries: usize,
}

struct Config {
    destinations: Vec<Arc<TraceDestination>>,
    /// Where to look for the trace label: every destination's names in file order, then the defaults.
    search_names: Vec<String>,
}

/// See the module docs.
pub struct TraceLinks {
    config: RwLock<Arc<Config>>,
    embedded: RwLock<Option<Arc<dyn TraceLookup>>>,
    cache: Mutex<Cache>,
    client: reqwest::Client,
    slots: Arc<tokio::sync::Semaphore>,
    checks: Mutex<HashMap<(String, &'static str), u64>>,
    hits: Mutex<HashMap<String, u64>>,
}

impl Default for TraceLinks {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for TraceLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceLinks")
            .field("destinations", &self.config.read().destinations)
            .finish_non_exhaustive()
    }
}

impl TraceLinks {
    /// No destinations but the embedded one, and no embedded lookup yet.
    pub fn new() -> Self {
        // reqwest is built without a default TLS provider and panics without one: make sure ring is
        // installed (a no-op when the binary already did, as `diamond` does at start).
        let _ = rustls::crypto::ring::default_provider().install_default();
        TraceLinks {
            config: RwLock::new(Arc::new(Config::from(&[][..]))),
            embedded: RwLock::new(None),
            cache: Mutex::new(Cache::new(CACHE_CAPACITY)),
            client: reqwest::Client::builder()
                .user_agent(concat!("diamond/", env!("CARGO_PKG_VERSION"), " trace-link-check"))
                .build()
                .unwrap_or_default(),
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_CHECKS)),
            checks: Mutex::new(HashMap::new()),
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Applies the configured destinations (at start and on reload). Cached results are dropped when the
    /// destinations change, since an address may have changed.
    pub fn configure(&self, destinations: &[TraceDestination]) {
        let new = Config::from(destinations);
        let mut g = self.config.write();
        if g.destinations.iter().map(|d| &**d).ne(destinations.iter()) {
            self.cache.lock().clear();
        }
        *g = Arc::new(new);
    }

    /// Sets the embedded trace store's lookup (`None`: not running).
    pub fn set_embedded(&self, lookup: Option<Arc<dyn TraceLookup>>) {
        *self.embedded.write() = lookup;
    }

    /// The configured destinations.
    pub fn destinations(&self) -> Vec<Arc<TraceDestination>> {
        self.config.read().destinations.clone()
    }

    /// Parses one exemplar's labels, without checking anything: `status` is `unknown` for a parsed ID.
    pub fn parse(&self, labels: &Labels) -> ExemplarTrace {
        let cfg = Arc::clone(&self.config.read());
        parse_with(&cfg, labels)
    }

    /// Resolves a batch of exemplars (labels in, answers out, same order): parse, link, check.
    pub async fn resolve(&self, exemplars: &[&Labels]) -> Vec<ExemplarTrace> {
        let cfg = Arc::clone(&self.config.read());
        let mut out: Vec<ExemplarTrace> = exemplars.iter().map(|l| parse_with(&cfg, l)).collect();
        let ids: Vec<TraceId> = {
            let mut v: Vec<TraceId> = out.iter().filter_map(|t| t.trace_id).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        if ids.is_empty() {
            return out;
        }
        let embedded = self.embedded_outcomes(&ids).await;
        let external = self.external_outcomes(&cfg, &out).await;
        for t in &mut out {
            let Some(id) = t.trace_id else { continue };
            let mut asked = 0;
            let mut missing = 0;
            let mut found = false;
            for link in &mut t.links {
                let outcome = if link.internal {
                    // Not running: not asked, so it neither makes the trace missing nor unknown.
                    let Some(m) = embedded.as_ref() else { continue };
                    m.get(&id).copied()
                } else if link.status == "unchecked" {
                    continue;
                } else {
                    external.get(&(link.name.clone(), id)).copied()
                };
                asked += 1;
                link.status = match outcome {
                    Some(Outcome::Found) => {
                        found = true;
                        "found"
                    }
                    Some(Outcome::Missing) => {
                        missing += 1;
                        "missing"
                    }
                    _ => "unknown",
                };
            }
            t.status = if found {
                Status::Found
            } else if asked > 0 && missing == asked {
                Status::Missing
            } else {
                Status::Unknown
            };
        }
        out
    }

    async fn embedded_outcomes(&self, ids: &[TraceId]) -> Option<HashMap<TraceId, Outcome>> {
        let lookup = self.embedded.read().clone()?;
        let ids = ids.to_vec();
        // A lookup may touch the store's files: keep it off the async workers.
        let answers = tokio::task::spawn_blocking(move || {
            ids.into_iter()
                .map(|id| {
                    let o = if lookup.contains(&id) {
                        Outcome::Found
                    } else {
                        Outcome::Missing
                    };
                    (id, o)
                })
                .collect::<HashMap<_, _>>()
        })
        .await
        .ok()?;
        {
            let mut c = self.checks.lock();
            for o in answers.values() {
                *c.entry((EMBEDDED_DESTINATION.to_owned(), o.as_str())).or_default() += 1;
            }
        }
        Some(answers)
    }

    async fn external_outcomes(&self, cfg: &Config, traces: &[ExemplarTrace]) -> HashMap<(String, TraceId), Outcome> {
        let mut want: Vec<(Arc<TraceDestination>, TraceId)> = Vec::new();
        let mut done: HashMap<(String, TraceId), Outcome> = HashMap::new();
        let mut seen: HashSet<(String, TraceId)> = HashSet::new();
        let now = Instant::now();
        {
            let mut cache = self.cache.lock();
            let mut hits = self.hits.lock();
            for t in traces {
                let Some(id) = t.trace_id else { continue };
                for link in t.links.iter().filter(|l| !l.internal && l.status != "unchecked") {
                    let key = (link.name.clone(), id);
                    if !seen.insert(key.clone()) {
                        continue;
                    }
                    if let Some(o) = cache.get(&key, now) {
                        *hits.entry(link.name.clone()).or_default() += 1;
                        done.insert(key, o);
                    } else if let Some(d) = cfg.destinations.iter().find(|d| d.name == link.name) {
                        want.push((Arc::clone(d), id));
                    }
                }
            }
        }
        if want.is_empty() {
            return done;
        }
        let deadline = want.iter().map(|(d, _)| d.timeout).max().unwrap_or_default();
        let mut set = tokio::task::JoinSet::new();
        for (d, id) in want {
            let client = self.client.clone();
            let slots = Arc::clone(&self.slots);
            set.spawn(async move {
                let outcome = match slots.acquire_owned().await {
                    Ok(_permit) => check(&client, &d, &id).await,
                    Err(_) => Outcome::Error,
                };
                (d.name.clone(), id, outcome)
            });
        }
        // Checks still queued or running at the deadline are dropped (the JoinSet aborts them): their
        // exemplars are `unknown`, and the answer stays fast however many traces a dashboard shows.
        // Results that arrived before it are kept.
        let until = tokio::time::Instant::now() + deadline + Duration::from_millis(100);
        let mut got = Vec::new();
        loop {
            match tokio::time::timeout_at(until, set.join_next()).await {
                Ok(Some(Ok(r))) => got.push(r),
                Ok(Some(Err(_))) => {}
                Ok(None) | Err(_) => break,
            }
        }
        let now = Instant::now();
        let mut cache = self.cache.lock();
        let mut checks = self.checks.lock();
        for (name, id, outcome) in got {
            *checks.entry((name.clone(), outcome.as_str())).or_default() += 1;
            cache.insert((name.clone(), id), outcome, outcome.ttl(), now);
            done.insert((name, id), outcome);
        }
        done
    }

    /// Counters for `/metrics`, sorted by destination and result.
    pub fn metrics(&self) -> LinkMetrics {
        let mut checks: Vec<(String, &'static str, u64)> = self
            .checks
            .lock()
            .iter()
            .map(|((d, r), n)| (d.clone(), *r, *n))
            .collect();
        checks.sort();
        let mut cache_hits: Vec<(String, u64)> = self.hits.lock().iter().map(|(d, n)| (d.clone(), *n)).collect();
        cache_hits.sort();
        LinkMetrics {
            checks,
            cache_hits,
            cache_entries: self.cache.lock().len(),
        }
    }
}

/// One existence check against a Tempo or Jaeger.
async fn check(client: &reqwest::Client, d: &TraceDestination, id: &TraceId) -> Outcome {
    let Some(url) = d.check_url(&id.to_hex()) else {
        return Outcome::Error;
    };
    let req = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(d.timeout);
    match req.send().await {
        Ok(r) if r.status().is_success() => Outcome::Found,
        Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => Outcome::Missing,
        Ok(r) => {
            tracing::debug!(destination = %d.name, status = %r.status(), "trace link check failed");
            Outcome::Error
        }
        Err(e) if e.is_timeout() => Outcome::Timeout,
        Err(e) => {
            tracing::debug!(destination = %d.name, error = %e, "trace link check failed");
            Outcome::Error
        }
    }
}

impl From<&[TraceDestination]> for Config {
    fn from(d: &[TraceDestination]) -> Self {
        let mut search_names: Vec<String> = Vec::new();
        for n in d
            .iter()
            .flat_map(|d| d.label_names.iter().map(String::as_str))
            .chain(TRACE_ID_LABEL_NAMES)
        {
            if !search_names.iter().any(|s| s == n) {
                search_names.push(n.to_owned());
            }
        }
        Config {
            destinations: d.iter().cloned().map(Arc::new).collect(),
            search_names,
        }
    }
}

fn parse_with(cfg: &Config, labels: &Labels) -> ExemplarTrace {
    let Some(t) = find_trace(labels, &cfg.search_names) else {
        return ExemplarTrace {
            label: None,
            raw: None,
            trace_id: None,
            span_id: None,
            status: Status::None,
            error: None,
            links: Vec::new(),
        };
    };
    match t.trace_id {
        Err(e) => ExemplarTrace {
            label: Some(t.label.to_owned()),
            raw: Some(t.raw.to_owned()),
            trace_id: None,
            span_id: t.span_id,
            status: Status::Unparsable,
            error: Some(e),
            links: Vec::new(),
        },
        Ok(id) => {
            let hex = id.to_hex();
            let span = t.span_id.map(|s| s.to_hex());
            let mut links = vec![Link {
                name: EMBEDDED_DESTINATION.to_owned(),
                url: format!("/trace/{hex}"),
                internal: true,
                status: "unknown",
            }];
            for d in cfg
                .destinations
                .iter()
                .filter(|d| d.label_names.iter().any(|n| n == t.label))
            {
                links.push(Link {
                    name: d.name.clone(),
                    url: d.link(&hex, span.as_deref()),
                    internal: false,
                    status: if d.kind == TraceDestinationKind::Url {
                        "unchecked"
                    } else {
                        "unknown"
                    },
                });
            }
            ExemplarTrace {
                label: Some(t.label.to_owned()),
                raw: Some(t.raw.to_owned()),
                trace_id: Some(id),
                span_id: t.span_id,
                status: Status::Unknown,
                error: None,
                links,
            }
        }
    }
}

#[cfg(test)]
mod tests;

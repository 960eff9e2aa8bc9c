//! One target's loop: wait for its phase, scrape every interval, append, report, and on removal write
//! staleness markers when the next scrape would have happened.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diamond_config::{ScrapeConfig, ScrapeProtocol};
use diamond_exposition::Format;
use diamond_model::Labels;
use tokio_util::sync::CancellationToken;

use crate::ScrapeError;
use crate::append::{self, AppendOptions, AppendStats, ScrapeCache};
use crate::http;
use crate::manager::Appendable;
use crate::target::{Health, ScrapeState, Target};

/// Locks a mutex, recovering from a poisoned lock: the guarded data is plain state that stays usable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Everything a loop needs; shared pieces are behind `Arc` so the manager can read the state and hand the
/// cache to a replacement loop on reload.
pub(crate) struct LoopParams {
    pub target: Target,
    pub config: Arc<ScrapeConfig>,
    pub client: reqwest::Client,
    pub appendable: Appendable,
    pub state: Arc<Mutex<ScrapeState>>,
    pub cache: Arc<Mutex<ScrapeCache>>,
    /// Cancelled to stop this loop.
    pub cancel: CancellationToken,
    /// Cancelled when the whole manager stops: no staleness markers then, as Prometheus on shutdown.
    pub shutdown: CancellationToken,
    /// Cleared when a replacement loop takes over the cache (reload), so the series are not marked stale.
    pub end_staleness: Arc<AtomicBool>,
    pub seed: u64,
}

fn now_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Runs until cancelled.
pub(crate) async fn run(p: LoopParams) {
    let interval = p.target.interval;
    let offset = p.target.offset(SystemTime::now(), p.seed);
    tokio::select! {
        _ = p.cancel.cancelled() => return,
        _ = tokio::time::sleep(offset) => {}
    }
    let mut ticker = tokio::time::interval(interval);
    // A scrape that overran its slot does not cause a burst of catch-up scrapes.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let accept = http::accept_header(&p.config.scrape_protocols);
    let mut scraped_once = false;
    let mut aligned: Option<SystemTime> = None;
    loop {
        tokio::select! {
            biased;
            _ = p.cancel.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let now = SystemTime::now();
        let start = align(now, &mut aligned, interval);
        tokio::select! {
            biased;
            _ = p.cancel.cancelled() => break,
            _ = scrape_once(&p, &accept, start) => { scraped_once = true; }
        }
    }
    if !scraped_once || p.shutdown.is_cancelled() || !p.end_staleness.load(Ordering::SeqCst) {
        return;
    }
    // As Prometheus: the markers carry the time the next scrape would have had; they are written one more
    // interval (plus 10%) later, so that if the target was re-created meanwhile its fresh samples win and the
    // markers are refused as out of order.
    let stale_at = tokio::select! {
        _ = p.shutdown.cancelled() => return,
        _ = ticker.tick() => SystemTime::now(),
    };
    tokio::select! {
        _ = p.shutdown.cancelled() => return,
        _ = ticker.tick() => {}
    }
    tokio::select! {
        _ = p.shutdown.cancelled() => return,
        _ = tokio::time::sleep(interval / 10) => {}
    }
    if !p.end_staleness.load(Ordering::SeqCst) {
        return;
    }
    let (appendable, cache, labels) = (Arc::clone(&p.appendable), Arc::clone(&p.cache), p.target.labels());
    let res = tokio::task::spawn_blocking(move || {
        let mut app = appendable();
        let mut cache = lock(&cache);
        match append::append_end_of_run(app.as_mut(), &mut cache, &labels, now_ms(stale_at)) {
            Ok(()) => app.commit(),
            Err(e) => {
                app.rollback();
                Err(e)
            }
        }
    })
    .await;
    match res {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(url = %p.target.url, error = %e, "writing end-of-run staleness markers failed"),
        Err(e) => tracing::warn!(url = %p.target.url, error = %e, "end-of-run staleness task failed"),
    }
}

/// Prometheus's scrape-timestamp alignment: a scrape starting within a small tolerance (2ms, at most 1% of
/// the interval) of its ideal slot is stamped with the slot, so timestamps are exactly one interval apart
/// and the TSDB's delta-of-delta encoding stores them in a bit or two.
fn align(now: SystemTime, aligned: &mut Option<SystemTime>, interval: Duration) -> SystemTime {
    let tolerance = (interval / 100).min(Duration::from_millis(2));
    let Some(mut slot) = *aligned else {
        *aligned = Some(now);
        return now;
    };
    // Skipped ticks (an overrun) move the slot forward by whole intervals; bounded by the elapsed time.
    while now.duration_since(slot).is_ok_and(|d| d >= interval) && !interval.is_zero() {
        slot += interval;
    }
    *aligned = Some(slot);
    match now.duration_since(slot) {
        Ok(d) if d <= tolerance => slot,
        // Earlier than the slot (clock stepped back) or beyond tolerance: the real time.
        _ => now,
    }
}

/// The parser for a configured protocol; none for protobuf, which Diamond does not parse.
fn protocol_format(p: ScrapeProtocol) -> Option<Format> {
    match p {
        ScrapeProtocol::PrometheusText0_0_4 | ScrapeProtocol::PrometheusText1_0_0 => Some(Format::PromText),
        ScrapeProtocol::OpenMetricsText0_0_1 | ScrapeProtocol::OpenMetricsText1_0_0 => Some(Format::OpenMetrics),
        ScrapeProtocol::PrometheusProto => None,
    }
}

/// The outcome of the storage side of one scrape.
struct Outcome {
    stats: AppendStats,
    error: Option<ScrapeError>,
}

async fn scrape_once(p: &LoopParams, accept: &str, start_wall: SystemTime) {
    let start = Instant::now();
    let ts = now_ms(start_wall);
    let fetched = http::fetch(&p.client, &p.config, &p.target.url, accept, p.target.timeout).await;
    let duration = start.elapsed();
    let content_type = fetched.as_ref().map(|f| f.content_type.clone()).unwrap_or_default();
    // A blank or unsupported Content-Type falls back to `fallback_scrape_protocol` when configured.
    let format = Format::from_content_type(&content_type)
        .or_else(|| p.config.fallback_scrape_protocol.and_then(protocol_format));

    let appendable = Arc::clone(&p.appendable);
    let cache = Arc::clone(&p.cache);
    let config = Arc::clone(&p.config);
    let labels = p.target.labels();
    // Appends and the commit do storage I/O (WAL writes, fsync): keep them off the async workers.
    let joined = tokio::task::spawn_blocking(move || {
        process(appendable, &cache, &config, &labels, fetched, format, ts, duration)
    })
    .await;
    let outcome = joined.unwrap_or_else(|e| Outcome {
        stats: AppendStats::default(),
        error: Some(ScrapeError::Storage(diamond_model::storage::AppendError::Storage(
            format!("append task failed: {e}"),
        ))),
    });
    let mut st = lock(&p.state);
    st.last_scrape = Some(start_wall);
    st.last_scrape_duration = duration;
    st.content_type = content_type;
    st.openmetrics = format == Some(Format::OpenMetrics);
    st.exemplars = outcome.stats.exemplars;
    st.warnings = outcome.stats.warnings;
    match outcome.error {
        None => {
            st.health = Health::Up;
            st.last_error.clear();
        }
        Some(e) => {
            tracing::debug!(url = %p.target.url, error = %e, "scrape failed");
            st.health = Health::Down;
            st.last_error = e.to_string();
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn process(
    appendable: Appendable,
    cache: &Mutex<ScrapeCache>,
    config: &ScrapeConfig,
    target_labels: &Labels,
    fetched: Result<http::Fetched, ScrapeError>,
    format: Option<Format>,
    ts: i64,
    duration: Duration,
) -> Outcome {
    let mut cache = lock(cache);
    let mut app = appendable();
    let opts = AppendOptions {
        config,
        target_labels,
        preferred_openmetrics: http::prefers_openmetrics(&config.scrape_protocols),
    };
    let (stats, mut error) = match (fetched, format) {
        (Err(e), _) => (AppendStats::default(), Some(e)),
        (Ok(f), None) if f.content_type.trim().is_empty() => {
            (AppendStats::default(), Some(ScrapeError::BlankContentType))
        }
        (Ok(f), None) => (
            AppendStats::default(),
            Some(ScrapeError::UnsupportedContentType(f.content_type)),
        ),
        (Ok(f), Some(fmt)) => match append::append_body(app.as_mut(), &mut cache, &f.body, fmt, ts, &opts) {
            Ok(st) => (st, None),
            Err((st, e)) => {
                // Nothing of a failed scrape is kept, as Prometheus rolls back its appender.
                app.rollback();
                app = appendable();
                (st, Some(e))
            }
        },
    };
    if error.is_some()
        && let Err(e) = append::append_failure(app.as_mut(), &mut cache, ts)
    {
        tracing::warn!(error = %e, "writing staleness markers failed");
    }
    if let Err(e) = append::append_report(
        app.as_mut(),
        &mut cache,
        target_labels,
        ts,
        duration.as_secs_f64(),
        &stats,
        error.is_none(),
    ) {
        tracing::warn!(error = %e, "writing report series failed");
    }
    if let Err(e) = app.commit() {
        tracing::warn!(error = %e, "scrape commit failed");
        if error.is_none() {
            error = Some(ScrapeError::Storage(e));
        }
    }
    Outcome { stats, error }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_table() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
        let iv = Duration::from_secs(15);
        let ms = Duration::from_millis;
        // (offset of the actual start from t0, expected stamp offset from t0)
        let steps = [
            (ms(0), ms(0)),           // first scrape: its own time
            (ms(15_001), ms(15_000)), // 1ms late: snapped
            (ms(30_002), ms(30_000)), // 2ms late: snapped (tolerance inclusive)
            (ms(45_003), ms(45_003)), // 3ms late: real time
            (ms(75_001), ms(75_000)), // a skipped tick: the slot moves two intervals
        ];
        let mut aligned = None;
        for (at, want) in steps {
            assert_eq!(align(t0 + at, &mut aligned, iv), t0 + want, "{at:?}");
        }
        // Short intervals clamp the tolerance to 1%: 100ms → 1ms.
        let mut aligned = None;
        let small = Duration::from_millis(100);
        align(t0, &mut aligned, small);
        assert_eq!(align(t0 + ms(102), &mut aligned, small), t0 + ms(102));
    }
}

//! The scrape manager: one pool per job, target-set diffs on config reload and file_sd refresh.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use diamond_config::{Config, ScrapeConfig, TargetGroup, file_sd};
use diamond_model::storage::Appender;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::append::ScrapeCache;
use crate::scrape_loop::{self, LoopParams, lock};
use crate::target::{self, DroppedTarget, Populated, ScrapeState, Target, TargetStatus};
use crate::{Error, http};

/// Metadata of one metric family as one target exposes it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetMetadata {
    /// The target's labels.
    pub target: diamond_model::Labels,
    /// Metric family name.
    pub metric: String,
    /// Type, help and unit.
    pub metadata: diamond_model::Metadata,
}

/// Opens a storage transaction; called once per scrape.
pub type Appendable = Arc<dyn Fn() -> Box<dyn Appender> + Send + Sync>;

/// Runs the scrape pools of the current configuration.
#[derive(Clone)]
pub struct ScrapeManager {
    inner: Arc<Inner>,
}

struct Inner {
    appendable: Appendable,
    shutdown: CancellationToken,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    pools: BTreeMap<String, Pool>,
    /// Loops that were stopped and may still be writing end-of-run staleness markers.
    draining: Vec<JoinHandle<()>>,
    stopped: bool,
}

struct Pool {
    config: Arc<ScrapeConfig>,
    client: reqwest::Client,
    /// Last good groups of each file_sd file, by file_sd entry then path.
    file_groups: Vec<BTreeMap<PathBuf, Vec<TargetGroup>>>,
    loops: HashMap<u64, LoopHandle>,
    dropped: Vec<DroppedTarget>,
    sd_cancel: CancellationToken,
    /// Changes when the pool is rebuilt, so a refresher of an older pool generation does nothing.
    generation: u64,
}

struct LoopHandle {
    target: Target,
    state: Arc<Mutex<ScrapeState>>,
    cache: Arc<Mutex<ScrapeCache>>,
    cancel: CancellationToken,
    end_staleness: Arc<AtomicBool>,
    join: JoinHandle<()>,
}

impl LoopHandle {
    /// Stops the loop; with `stale`, it writes staleness markers for its series before ending.
    fn stop(self, stale: bool, draining: &mut Vec<JoinHandle<()>>) {
        self.end_staleness.store(stale, Ordering::SeqCst);
        self.cancel.cancel();
        draining.retain(|h| !h.is_finished());
        draining.push(self.join);
    }
}

/// Whether series cached under `old` keep the same labels under `new` (Prometheus's `reusableCache`): then a
/// reloaded target keeps its cache, and with it its staleness tracking.
fn reusable_cache(old: &ScrapeConfig, new: &ScrapeConfig) -> bool {
    old.metric_relabel_configs == new.metric_relabel_configs
        && old.honor_labels == new.honor_labels
        && old.honor_timestamps == new.honor_timestamps
        && old.label_limit == new.label_limit
        && old.label_name_length_limit == new.label_name_length_limit
        && old.label_value_length_limit == new.label_value_length_limit
}

/// What a restarted loop takes over from the one it replaces: the cache (when reusable) and the status.
type Carried = (Option<Arc<Mutex<ScrapeCache>>>, Option<Arc<Mutex<ScrapeState>>>);

/// The settings of a job without its target sources.
fn without_discovery(c: &ScrapeConfig) -> ScrapeConfig {
    ScrapeConfig {
        static_configs: Vec::new(),
        file_sd_configs: Vec::new(),
        ..c.clone()
    }
}

/// Deterministic per-process seed for scrape offsets; fixed so a target keeps its phase across restarts.
const OFFSET_SEED: u64 = 0x6469_616d_6f6e_6421;

impl ScrapeManager {
    /// A manager writing through `appendable` (one transaction per scrape).
    pub fn new(appendable: Appendable) -> ScrapeManager {
        ScrapeManager {
            inner: Arc::new(Inner {
                appendable,
                shutdown: CancellationToken::new(),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Applies a configuration: pools of removed jobs stop (their series get staleness markers), new jobs
    /// start, changed jobs restart their loops (keeping caches where the labels cannot change), and unchanged
    /// jobs keep running untouched. Must be called from within a Tokio runtime.
    pub fn apply_config(&self, cfg: &Config) -> Result<(), Error> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::NoRuntime);
        }
        // Build clients first so a bad TLS file leaves the running configuration untouched.
        let mut clients = HashMap::new();
        for sc in &cfg.scrape_configs {
            let c = http::client(sc)?;
            clients.insert(sc.job_name.clone(), c);
        }
        let mut guard = lock(&self.inner.state);
        let st = &mut *guard;
        if st.stopped {
            return Err(Error::Stopped);
        }
        let names: Vec<String> = st.pools.keys().cloned().collect();
        for name in names {
            if !cfg.scrape_configs.iter().any(|c| c.job_name == name)
                && let Some(pool) = st.pools.remove(&name)
            {
                pool.sd_cancel.cancel();
                for (_, h) in pool.loops {
                    h.stop(true, &mut st.draining);
                }
            }
        }
        for sc in &cfg.scrape_configs {
            let client = clients.remove(&sc.job_name).ok_or(Error::NoRuntime)?;
            let Some(mut p) = st.pools.remove(&sc.job_name) else {
                let mut pool = self.new_pool(sc, client, 0);
                let groups = self.all_groups(&mut pool);
                self.sync(&mut pool, &groups, &mut HashMap::new(), &mut st.draining);
                self.start_file_sd(&sc.job_name, &pool);
                st.pools.insert(sc.job_name.clone(), pool);
                continue;
            };
            if *p.config == *sc {
                st.pools.insert(sc.job_name.clone(), p);
                continue;
            }
            if without_discovery(&p.config) == without_discovery(sc) {
                // Only the target sources changed: keep the pool and its loops, re-sync the targets.
                p.sd_cancel.cancel();
                p.sd_cancel = self.inner.shutdown.child_token();
                p.generation += 1;
                p.config = Arc::new(sc.clone());
                p.file_groups = vec![BTreeMap::new(); sc.file_sd_configs.len()];
                let groups = self.all_groups(&mut p);
                self.sync(&mut p, &groups, &mut HashMap::new(), &mut st.draining);
                self.start_file_sd(&sc.job_name, &p);
                st.pools.insert(sc.job_name.clone(), p);
                continue;
            }
            // Scrape settings changed: every loop restarts with them. A target that stays keeps its status
            // and, when the series labels cannot change, its cache (so staleness tracking continues);
            // otherwise the old loop marks its series stale.
            p.sd_cancel.cancel();
            let reusable = reusable_cache(&p.config, sc);
            let mut pool = self.new_pool(sc, client, p.generation + 1);
            let groups = self.all_groups(&mut pool);
            let (want, dropped) = desired(&pool.config, &groups);
            let mut carried = HashMap::new();
            for (h, l) in p.loops {
                // A target that goes away must mark its series stale even when caches are reusable.
                let stays = want.contains_key(&h);
                let reuse = reusable && stays;
                carried.insert(
                    h,
                    (reuse.then(|| Arc::clone(&l.cache)), stays.then(|| Arc::clone(&l.state))),
                );
                l.stop(!reuse, &mut st.draining);
            }
            self.apply_targets(&mut pool, want, dropped, &mut carried, &mut st.draining);
            self.start_file_sd(&sc.job_name, &pool);
            st.pools.insert(sc.job_name.clone(), pool);
        }
        Ok(())
    }

    fn new_pool(&self, sc: &ScrapeConfig, client: reqwest::Client, generation: u64) -> Pool {
        Pool {
            config: Arc::new(sc.clone()),
            client,
            file_groups: vec![BTreeMap::new(); sc.file_sd_configs.len()],
            loops: HashMap::new(),
            dropped: Vec::new(),
            sd_cancel: self.inner.shutdown.child_token(),
            generation,
        }
    }

    /// Static groups plus the current file_sd groups (files re-read now).
    fn all_groups(&self, pool: &mut Pool) -> Vec<TargetGroup> {
        refresh_files(&pool.config, &mut pool.file_groups);
        current_groups(pool)
    }

    /// Makes the pool's loops match `groups`.
    fn sync(
        &self,
        pool: &mut Pool,
        groups: &[TargetGroup],
        carried: &mut HashMap<u64, Carried>,
        draining: &mut Vec<JoinHandle<()>>,
    ) {
        let (want, dropped) = desired(&pool.config, groups);
        self.apply_targets(pool, want, dropped, carried, draining);
    }

    /// Stops loops of targets not in `want` (with staleness markers) and starts loops for new ones, with
    /// whatever `carried` holds for them.
    fn apply_targets(
        &self,
        pool: &mut Pool,
        want: BTreeMap<u64, Target>,
        dropped: Vec<DroppedTarget>,
        carried: &mut HashMap<u64, Carried>,
        draining: &mut Vec<JoinHandle<()>>,
    ) {
        pool.dropped = dropped;
        let running: Vec<u64> = pool.loops.keys().copied().collect();
        for h in running {
            if !want.contains_key(&h)
                && let Some(l) = pool.loops.remove(&h)
            {
                l.stop(true, draining);
            }
        }
        for (h, t) in want {
            if let Some(l) = pool.loops.get_mut(&h) {
                // Same labels and URL: keep the loop; only the pre-relabelling labels may differ.
                l.target.discovered_labels = t.discovered_labels;
                continue;
            }
            let (cache, state) = carried.remove(&h).unwrap_or_default();
            let handle = self.start_loop(pool, t, cache.unwrap_or_default(), state.unwrap_or_default());
            pool.loops.insert(h, handle);
        }
    }

    fn start_loop(
        &self,
        pool: &Pool,
        t: Target,
        cache: Arc<Mutex<ScrapeCache>>,
        state: Arc<Mutex<ScrapeState>>,
    ) -> LoopHandle {
        let cancel = self.inner.shutdown.child_token();
        let end_staleness = Arc::new(AtomicBool::new(true));
        let params = LoopParams {
            target: t.clone(),
            config: Arc::clone(&pool.config),
            client: pool.client.clone(),
            appendable: Arc::clone(&self.inner.appendable),
            state: Arc::clone(&state),
            cache: Arc::clone(&cache),
            cancel: cancel.clone(),
            shutdown: self.inner.shutdown.clone(),
            end_staleness: Arc::clone(&end_staleness),
            seed: OFFSET_SEED,
        };
        let join = tokio::spawn(scrape_loop::run(params));
        LoopHandle {
            target: t,
            state,
            cache,
            cancel,
            end_staleness,
            join,
        }
    }

    /// Re-reads the pool's target files every `refresh_interval` and re-syncs when the groups changed.
    fn start_file_sd(&self, job: &str, pool: &Pool) {
        let Some(every) = pool.config.file_sd_configs.iter().map(|f| f.refresh_interval).min() else {
            return;
        };
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let cancel = pool.sd_cancel.clone();
        let (job, generation) = (job.to_owned(), pool.generation);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(every.max(Duration::from_millis(10))) => {}
                }
                let Some(inner) = weak.upgrade() else { return };
                let mgr = ScrapeManager { inner };
                // Read the files without holding the manager's lock (file I/O, off the async workers).
                let snapshot = {
                    let st = lock(&mgr.inner.state);
                    st.pools
                        .get(&job)
                        .filter(|p| p.generation == generation)
                        .map(|p| (Arc::clone(&p.config), p.file_groups.clone()))
                };
                let Some((config, before)) = snapshot else { return };
                let mut fresh = before.clone();
                let read = tokio::task::spawn_blocking(move || {
                    refresh_files(&config, &mut fresh);
                    fresh
                })
                .await;
                let Ok(fresh) = read else { continue };
                if fresh == before {
                    continue;
                }
                let mut guard = lock(&mgr.inner.state);
                let st = &mut *guard;
                let Some(pool) = st.pools.get_mut(&job).filter(|p| p.generation == generation) else {
                    return;
                };
                pool.file_groups = fresh;
                let groups = current_groups(pool);
                mgr.sync(pool, &groups, &mut HashMap::new(), &mut st.draining);
            }
        });
    }

    /// The targets being scraped, sorted by pool then labels.
    pub fn active_targets(&self) -> Vec<TargetStatus> {
        let st = lock(&self.inner.state);
        let mut out = Vec::new();
        for (name, pool) in &st.pools {
            let mut v: Vec<TargetStatus> = pool
                .loops
                .values()
                .map(|l| TargetStatus {
                    discovered_labels: l.target.discovered_labels.clone(),
                    labels: l.target.labels(),
                    scrape_pool: name.clone(),
                    scrape_url: l.target.url.clone(),
                    global_url: l.target.url.clone(),
                    scrape_interval: l.target.interval,
                    scrape_timeout: l.target.timeout,
                    state: lock(&l.state).clone(),
                })
                .collect();
            v.sort_by(|a, b| a.labels.cmp(&b.labels));
            out.extend(v);
        }
        out
    }

    /// Metadata per active target and metric family, as the targets last exposed it (Prometheus serves
    /// `/api/v1/targets/metadata` and `/api/v1/metadata` from the same per-target caches). Sorted by target
    /// labels, then family.
    pub fn metadata(&self) -> Vec<TargetMetadata> {
        let st = lock(&self.inner.state);
        let mut out = Vec::new();
        for pool in st.pools.values() {
            for l in pool.loops.values() {
                let target = l.target.labels();
                let cache = lock(&l.cache);
                for (metric, m) in cache.metadata() {
                    out.push(TargetMetadata {
                        target: target.clone(),
                        metric: metric.clone(),
                        metadata: m.clone(),
                    });
                }
            }
        }
        out.sort_by(|a, b| (&a.target, &a.metric).cmp(&(&b.target, &b.metric)));
        out
    }

    /// The targets relabelling dropped, by pool.
    pub fn dropped_targets(&self) -> Vec<DroppedTarget> {
        let st = lock(&self.inner.state);
        st.pools.values().flat_map(|p| p.dropped.iter().cloned()).collect()
    }

    /// Stops every loop and refresher, without staleness markers (as Prometheus on shutdown), and waits up to
    /// five seconds for the tasks to end. Later `apply_config` calls fail with [`Error::Stopped`].
    pub async fn stop(&self) {
        self.inner.shutdown.cancel();
        let handles: Vec<JoinHandle<()>> = {
            let mut st = lock(&self.inner.state);
            st.stopped = true;
            let mut hs: Vec<JoinHandle<()>> = std::mem::take(&mut st.draining);
            for (_, p) in std::mem::take(&mut st.pools) {
                hs.extend(p.loops.into_values().map(|l| l.join));
            }
            hs
        };
        let all = async {
            for h in handles {
                let _ = h.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(5), all).await.is_err() {
            tracing::warn!("scrape loops did not stop within 5s");
        }
    }
}

/// The targets `groups` yield under `config` (by identity hash) and those relabelling drops.
fn desired(config: &ScrapeConfig, groups: &[TargetGroup]) -> (BTreeMap<u64, Target>, Vec<DroppedTarget>) {
    let mut want: BTreeMap<u64, Target> = BTreeMap::new();
    let mut dropped = Vec::new();
    for g in groups {
        for addr in &g.targets {
            match target::populate(config, addr, g) {
                Ok(Populated::Target(t)) => {
                    want.entry(t.hash()).or_insert(t);
                }
                Ok(Populated::Dropped(l)) => dropped.push(DroppedTarget {
                    discovered_labels: l,
                    scrape_pool: config.job_name.clone(),
                }),
                Err(e) => tracing::warn!(job = %config.job_name, target = %addr, error = %e, "creating target failed"),
            }
        }
    }
    (want, dropped)
}

/// Static groups plus the file_sd groups last read.
fn current_groups(pool: &Pool) -> Vec<TargetGroup> {
    let mut groups = pool.config.static_configs.clone();
    for per_file in &pool.file_groups {
        for g in per_file.values() {
            groups.extend(g.iter().cloned());
        }
    }
    groups
}

/// Re-reads the target files; a file that fails to load keeps its last good groups (as Prometheus).
fn refresh_files(cfg: &ScrapeConfig, file_groups: &mut [BTreeMap<PathBuf, Vec<TargetGroup>>]) {
    for (sd, per_file) in cfg.file_sd_configs.iter().zip(file_groups.iter_mut()) {
        let paths = file_sd::expand(&sd.files);
        per_file.retain(|p, _| paths.contains(p));
        for p in paths {
            match file_sd::load(&p) {
                Ok(g) => {
                    per_file.insert(p, g);
                }
                Err(e) => tracing::warn!(job = %cfg.job_name, error = %e, "reading target file failed"),
            }
        }
    }
}

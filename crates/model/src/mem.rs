//! The process's use of glibc's allocator: fixed trim/mmap thresholds, four arenas per core, and handing
//! freed heap pages back to the kernel after a compaction round and when queries pause.
//!
//! A round frees much at once (the head's cut chunks and series, a block's index being built, the
//! WAL checkpoint's buffers), but glibc's allocator returns memory to the kernel only from the top of
//! each arena; freed pages among live allocations (the head's growing chunks interleave with every
//! request's buffers) stay resident. `malloc_trim(0)` releases every whole free page of every arena.
//! Measured on a day of 20k node series (BENCHMARKS.md, issue 4): anonymous RSS at the end 160 → 106 MB.

/// Releases free heap pages to the kernel (glibc on Linux; a no-op elsewhere).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_free_memory() {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: malloc_trim takes no pointers and is thread-safe (it locks each arena in turn); it only
    // gives free pages back, so no live allocation is affected.
    unsafe {
        malloc_trim(0);
    }
}

/// Releases free heap pages to the kernel (glibc on Linux; a no-op elsewhere).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}

/// Fixes glibc's trim and mmap thresholds (16 MiB and 32 MiB) instead of its adaptive defaults, and
/// caps its arenas at four per core.
///
/// Each query runs on its own thread, and its buffers (series lists, decoded samples, step vectors: a few
/// MiB for an instant query over 10k series) live in that thread's arena. With the defaults, freeing them
/// shrinks the arena back to the kernel at once (the adaptive trim threshold starts at 128 KiB), so the
/// next query faults every page in again: `perf` put 18 % of an instant `sum by (rate)` over 10k series in
/// the kernel, and these thresholds made it 25.1 → 21.5 ms with the same resident size after a 1 h range
/// query (56 MB either way; BENCHMARKS.md, run of 2026-12-07). Up to 16 MiB of free memory per arena stay
/// resident while queries run; [`trim_when_idle`] returns all of it once they pause, and
/// [`release_free_memory`] after each compaction.
///
/// It also caps glibc's arenas at four per core (at least eight; `MALLOC_ARENA_MAX` in the environment
/// still wins), against glibc's eight per core. A thread keeps the arena it first used: remote-write
/// requests, queries and compaction run on tokio's blocking pool and rayon's workers, and the free memory
/// of one arena serves no other.
/// - One per core was tried first (05077e2): after a simulated day of 20k node series by remote write it
///   held 58 MB anonymous against 77 MB with glibc's default, with the same 47 MB live (BENCHMARKS.md, run
///   of 2026-12-07 (node RSS)). But every query's threads then queued on two arena locks: an instant `sum by
///   (rate)` over 10k freshly written series took 37 ms with two arenas, 27 with four, 22 with eight and 21
///   with sixteen (BENCHMARKS.md, "Fourth run of 2026-12-07").
/// - With eight, the same day ends at 84 MiB resident against 91 with two (run-to-run noise; Prometheus
///   220–238 MiB): the chunk pages (`ChunkPages` in the TSDB) had already removed most of what the cap
///   saved, so the cap now costs the queries nothing measurable and still bounds the arenas on large
///   machines.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn tune_allocator() {
    unsafe extern "C" {
        fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
    }
    const M_TRIM_THRESHOLD: std::ffi::c_int = -1;
    const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
    const M_ARENA_MAX: std::ffi::c_int = -8;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let arenas = cores.saturating_mul(4).clamp(8, 256) as std::ffi::c_int;
    let arenas_from_env = std::env::var_os("MALLOC_ARENA_MAX").is_some();
    // SAFETY: mallopt only changes allocator parameters; it takes no pointers and locks the allocator
    // itself. A rejected value (returns 0) leaves glibc's defaults, which are also correct.
    unsafe {
        mallopt(M_TRIM_THRESHOLD, 16 << 20);
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        if !arenas_from_env {
            mallopt(M_ARENA_MAX, arenas);
        }
    }
}

/// Fixes the allocator's thresholds (glibc on Linux; a no-op elsewhere).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune_allocator() {}

/// Asks for free heap pages to be returned to the kernel once no query has finished for a second.
///
/// Called at the end of every query. Large queries leave free memory in several arenas (the query's
/// thread, rayon's workers): measured after a 6 h `sum by (rate)` over 10k series, 250 MB resident against
/// 64 MB at start, whether or not the thresholds above are fixed. Trimming right away would undo what the
/// fixed thresholds buy (the next query faults the pages in again), so a background thread waits until
/// queries pause for [`IDLE`]. Under a steady query load it does not trim at all: memory stays at
/// what the load needs.
pub fn trim_when_idle() {
    use std::sync::atomic::Ordering;
    LAST_QUERY_MS.store(uptime_ms(), Ordering::Relaxed);
    PENDING.store(true, Ordering::Release);
    TRIMMER.call_once(|| {
        // A failure to start the thread only costs the trim.
        let _ = std::thread::Builder::new()
            .name("diamond-mem-trim".into())
            .spawn(trim_loop);
    });
}

/// How long queries must pause before free memory is trimmed.
pub const IDLE: std::time::Duration = std::time::Duration::from_secs(1);

static PENDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static LAST_QUERY_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static TRIMMER: std::sync::Once = std::sync::Once::new();

fn uptime_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_millis() as u64
}

fn trim_loop() {
    use std::sync::atomic::Ordering;
    let idle = IDLE.as_millis() as u64;
    loop {
        std::thread::sleep(IDLE / 4);
        if !PENDING.load(Ordering::Acquire) {
            continue;
        }
        if uptime_ms().saturating_sub(LAST_QUERY_MS.load(Ordering::Relaxed)) < idle {
            continue;
        }
        PENDING.store(false, Ordering::Release);
        release_free_memory();
        TRIMS.fetch_add(1, Ordering::Relaxed);
    }
}

static TRIMS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many idle trims have run (for tests and the self-metrics).
pub fn idle_trims() -> u64 {
    TRIMS.load(std::sync::atomic::Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_queries_pause_and_not_before() {
        let before = idle_trims();
        trim_when_idle();
        std::thread::sleep(IDLE / 2);
        assert_eq!(idle_trims(), before, "no trim while queries may still follow");
        let deadline = std::time::Instant::now() + IDLE * 10;
        while idle_trims() == before && std::time::Instant::now() < deadline {
            std::thread::sleep(IDLE / 10);
        }
        assert_eq!(idle_trims(), before + 1, "one trim after the pause");
        std::thread::sleep(IDLE * 2);
        assert_eq!(idle_trims(), before + 1, "nothing pending, nothing trimmed");
    }
}

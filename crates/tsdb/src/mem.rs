//! The process's use of glibc's allocator: fixed trim/mmap thresholds, and handing freed heap pages back
//! to the kernel after a compaction round.
//!
//! A round frees much at once (the head's cut chunks and series, a block's index being built, the
//! WAL checkpoint's buffers), but glibc's allocator returns memory to the kernel only from the top of
//! each arena; freed pages among live allocations (the head's growing chunks interleave with every
//! request's buffers) stay resident. `malloc_trim(0)` releases every whole free page of every arena.
//! Measured on a day of 20k node series (BENCHMARKS.md, issue 4): anonymous RSS at the end 160 → 106 MB.

/// Releases free heap pages to the kernel (glibc on Linux; a no-op elsewhere).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub(crate) fn release_free_memory() {
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
pub(crate) fn release_free_memory() {}

/// Fixes glibc's trim and mmap thresholds (16 MiB and 32 MiB) instead of its adaptive defaults.
///
/// Each query runs on its own thread, and its buffers (series lists, decoded samples, step vectors: a few
/// MiB for an instant query over 10k series) live in that thread's arena. With the defaults, freeing them
/// shrinks the arena back to the kernel at once (the adaptive trim threshold starts at 128 KiB), so the
/// next query faults every page in again: `perf` put 18 % of an instant `sum by (rate)` over 10k series in
/// the kernel, and these thresholds made it 25.1 → 21.5 ms with the same resident size after a 1 h range
/// query (56 MB either way; BENCHMARKS.md, run of 2026-12-07). Up to 16 MiB of free memory per arena stay
/// resident between queries; [`release_free_memory`] still returns all of it after each compaction.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn tune_allocator() {
    unsafe extern "C" {
        fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
    }
    const M_TRIM_THRESHOLD: std::ffi::c_int = -1;
    const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
    // SAFETY: mallopt only changes two allocator parameters; it takes no pointers and locks the
    // allocator itself. A rejected value (returns 0) leaves glibc's defaults, which are also correct.
    unsafe {
        mallopt(M_TRIM_THRESHOLD, 16 << 20);
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
    }
}

/// Fixes the allocator's thresholds (glibc on Linux; a no-op elsewhere).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune_allocator() {}

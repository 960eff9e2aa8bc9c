//! Handing freed heap pages back to the kernel after a compaction round.
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

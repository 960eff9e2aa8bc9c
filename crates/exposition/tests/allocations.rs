//! The parser's promise to the scrape loop: `next()` and the borrowing accessors do not allocate per sample
//! (label sets are built only by `labels()`/`exemplar()`). Checked with a counting global allocator.
// A global allocator needs `unsafe impl`; it only forwards to the system allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use diamond_exposition::{Entry, Format, Parser};

#[path = "../benches/common.rs"]
mod common;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the `GlobalAlloc` contract; the counter is
// a `const`-initialized thread-local `Cell`, whose access never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// Parses `input` touching every borrowing accessor; returns (samples, allocations made while parsing).
fn parse_counting(input: &[u8], format: Format) -> (usize, usize) {
    let before = allocations();
    let mut p = Parser::new(input, format);
    let mut samples = 0;
    let mut checksum = 0usize;
    while let Some(e) = p.next() {
        if let Entry::Sample(s) = e.expect("input parses") {
            samples += 1;
            let t = s.timestamp_ms().unwrap_or(0) as usize;
            checksum = checksum
                .wrapping_add(s.series().len())
                .wrapping_add(s.value() as usize)
                .wrapping_add(usize::from(s.has_exemplar_syntax()))
                .wrapping_add(t);
        }
    }
    assert!(checksum > 0);
    (samples, allocations() - before)
}

#[test]
fn next_does_not_allocate_per_sample() {
    let body = common::generated_openmetrics(1_000);
    let (samples, allocs) = parse_counting(&body, Format::OpenMetrics);
    assert_eq!(samples, 10_000);
    // The only allocations are the label-name scratch vector growing to its size, once.
    assert!(allocs <= 4, "{allocs} allocations for {samples} samples");

    let corpus = std::fs::read("/work/shared/testdata/exposition/alltypes.237mfs.prom.txt").expect("corpus");
    let (samples, allocs) = parse_counting(&corpus, Format::PromText);
    assert_eq!(samples, 1857);
    assert!(allocs <= 4, "{allocs} allocations for {samples} samples");

    // Building the label sets does allocate: the counter works.
    let before = allocations();
    let mut p = Parser::new(&corpus, Format::PromText);
    while let Some(Ok(e)) = p.next() {
        if let Entry::Sample(s) = e {
            assert!(!s.labels().is_empty());
        }
    }
    assert!(allocations() - before > 1857);
}

//! Arbitrary bytes as, or over, one file of a valid block (`meta.json`, `index`, a chunk file,
//! `tombstones`): opening must refuse what does not verify, and reading what opens must never panic.
//! The body is `diamond_tsdb::fuzzing::block_files`, also run by `crates/tsdb/tests/it/fuzz_bodies.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = diamond_tsdb::fuzzing::block_files(data);
});

//! Fuzzes the backfill path (`diamond tsdb create-blocks-from openmetrics`): arbitrary bytes are parsed;
//! what parses is written as blocks in memory, which must open and hold exactly the parsed samples.
#![no_main]

use std::sync::Arc;

use diamond_tsdb::backfill::{parse_openmetrics, write_blocks};
use diamond_tsdb::block::Block;
use diamond_tsdb::fs::{Dir, MemDir};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(series) = parse_openmetrics(data) else { return };
    let root: Arc<dyn Dir> = Arc::new(MemDir::new());
    let metas = write_blocks(&root, &series, 7_200_000).expect("a MemDir never fails");
    let mut n = 0;
    for m in &metas {
        Block::open(&root, &m.ulid).expect("a written block opens");
        n += m.stats.num_samples;
    }
    assert_eq!(n as usize, series.num_samples());
});

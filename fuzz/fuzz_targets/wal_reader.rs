//! Arbitrary bytes as a WAL segment file: the page/fragment reader and the record decoder must return
//! errors, never panic; and a `Db` opened over that segment must replay (repairing) without panicking,
//! and answer queries.
#![no_main]

use std::sync::Arc;

use diamond_model::storage::Queryable;
use diamond_tsdb::fs::MemDir;
use diamond_tsdb::wal::SegmentReader;
use diamond_tsdb::{Db, FsyncPolicy, Options, record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = SegmentReader::new(data, 0);
    while let Ok(Some(rec)) = r.next_record() {
        let _ = record::decode(&rec);
    }

    let dir = MemDir::new();
    dir.put("00000000", data.to_vec());
    let opts = Options {
        wal_fsync: FsyncPolicy::Always,
        stripes: 4,
        max_exemplars: 16,
        ..Options::default()
    };
    let Ok(db) = Db::open_with_dir(Arc::new(dir), opts) else { return };
    if let Ok(q) = db.querier(i64::MIN, i64::MAX) {
        if let Ok(series) = q.select(&[]) {
            for s in series {
                let mut it = s.data.iter(i64::MIN, i64::MAX);
                while it.next().is_some() {}
            }
        }
        let _ = q.label_names(&[]);
    }
    let _ = db.stats();
    let _ = db.cardinality(10);
});

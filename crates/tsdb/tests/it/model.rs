//! The whole `Db` against `MemStorage`, the obviously-correct model: random appends (with out-of-order and
//! duplicate samples), commits, rollbacks, queries, and reopens (with and without `close`).

use diamond_model::storage::memory::MemStorage;
use diamond_model::storage::{Appender, Queryable};
use diamond_model::{Labels, MatchOp, Matcher};
use diamond_tsdb::{Db, Options};
use proptest::prelude::*;

use crate::{dump, ls};

#[derive(Debug, Clone)]
enum Op {
    Append { series: usize, t: i64, v: u8 },
    Commit,
    Rollback,
    Query { mint: i64, maxt: i64, m: usize },
    Reopen { close: bool },
}

fn pool() -> Vec<Labels> {
    vec![
        ls(&[("__name__", "a"), ("job", "x")]),
        ls(&[("__name__", "a"), ("job", "y")]),
        ls(&[("__name__", "b"), ("job", "x"), ("le", "1")]),
        ls(&[("__name__", "b")]),
        ls(&[("__name__", "c"), ("z", "q")]),
        ls(&[]),
    ]
}

fn matchers(i: usize) -> Vec<Matcher> {
    let re = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
    match i {
        0 => vec![],
        1 => vec![Matcher::equal("__name__", "a")],
        2 => vec![Matcher::equal("job", "x")],
        3 => vec![Matcher::equal("job", "")],
        4 => vec![re(MatchOp::Regex, "__name__", "a|b"), re(MatchOp::NotEqual, "job", "y")],
        _ => vec![re(MatchOp::NotRegex, "__name__", "b.*")],
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0usize..6, 0i64..40, 0u8..3).prop_map(|(series, t, v)| Op::Append { series, t: t * 1000, v }),
        3 => Just(Op::Commit),
        1 => Just(Op::Rollback),
        2 => (0i64..45, 0i64..45, 0usize..6).prop_map(|(a, b, m)| Op::Query { mint: a.min(b) * 1000, maxt: a.max(b) * 1000, m }),
        1 => any::<bool>().prop_map(|close| Op::Reopen { close }),
    ]
}

fn value(v: u8) -> f64 {
    match v {
        0 => 1.0,
        1 => f64::NAN,
        _ => 2.5,
    }
}

fn opts() -> Options {
    Options {
        wal_segment_size: 32 * 1024,
        stripes: 4,
        ..Options::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn db_matches_mem_storage(ops in proptest::collection::vec(op(), 1..80)) {
        let tmp = tempfile::tempdir().unwrap();
        let pool = pool();
        let model = MemStorage::new();
        let mut db = Db::open(tmp.path(), opts()).unwrap();
        let mut app: Option<(Box<dyn Appender>, Box<dyn Appender>)> = None;
        for op in ops {
            match op {
                Op::Append { series, t, v } => {
                    let (a, m) = app.get_or_insert_with(|| (db.appender(), model.appender()));
                    let l = &pool[series];
                    let got = a.append(0, l, t, value(v)).map(|_| ());
                    let want = m.append(0, l, t, value(v)).map(|_| ());
                    prop_assert_eq!(got, want, "append {} t={} v={}", l, t, v);
                }
                Op::Commit => {
                    if let Some((a, m)) = app.take() {
                        a.commit().unwrap();
                        m.commit().unwrap();
                    }
                }
                Op::Rollback => {
                    if let Some((a, m)) = app.take() {
                        a.rollback();
                        m.rollback();
                    }
                }
                Op::Query { mint, maxt, m } => {
                    let ms = matchers(m);
                    prop_assert_eq!(dump(&db, mint, maxt, &ms), dump(&model, mint, maxt, &ms));
                    let (q, mq) = (db.querier(mint, maxt).unwrap(), model.querier(mint, maxt).unwrap());
                    prop_assert_eq!(q.label_names(&ms).unwrap(), mq.label_names(&ms).unwrap());
                    prop_assert_eq!(q.label_values("job", &ms).unwrap(), mq.label_values("job", &ms).unwrap());
                }
                Op::Reopen { close } => {
                    app = None;
                    if close {
                        db.close().unwrap();
                    }
                    drop(db);
                    db = Db::open(tmp.path(), opts()).unwrap();
                }
            }
        }
        drop(app);
        prop_assert_eq!(dump(&db, i64::MIN, i64::MAX, &[]), dump(&model, i64::MIN, i64::MAX, &[]));
        prop_assert_eq!(db.stats().num_series >= model.num_series() as u64, true);
    }
}

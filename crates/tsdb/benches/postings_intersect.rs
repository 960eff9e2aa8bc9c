//! Postings look-ups over 100 000 series: equality intersections, a set regex (`a|b|c`), a scanned regex,
//! and a negative matcher, compared with a naive scan of every series' labels as the baseline.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use diamond_model::storage::matches_all;
use diamond_model::{Labels, MatchOp, Matcher};
use diamond_tsdb::index::{MemPostings, Symbols, postings_for_matchers};

fn bench(c: &mut Criterion) {
    let syms = Symbols::new();
    let mut p = MemPostings::new();
    let mut all = Vec::new();
    for i in 0..100_000u32 {
        let l = Labels::from_pairs(&[
            ("__name__", format!("metric_{}", i % 200).as_str()),
            ("instance", format!("host-{}", i / 200).as_str()),
            ("job", ["node", "api", "db", "cache"][i as usize % 4]),
            ("mode", ["user", "system", "idle"][i as usize % 3]),
        ]);
        let pairs: Vec<(u32, u32)> = l
            .iter()
            .map(|x| (syms.intern(&x.name), syms.intern(&x.value)))
            .collect();
        p.add(i, &pairs);
        all.push(l);
    }
    let re = |op, n: &str, v: &str| Matcher::new(op, n, v).expect("valid regex");
    let cases = [
        (
            "job=node, mode=idle",
            vec![Matcher::equal("job", "node"), Matcher::equal("mode", "idle")],
        ),
        (
            "__name__=metric_7, job=~api|db|cache",
            vec![
                Matcher::equal("__name__", "metric_7"),
                re(MatchOp::Regex, "job", "api|db|cache"),
            ],
        ),
        (
            "instance=~host-1.*, mode!=idle",
            vec![
                re(MatchOp::Regex, "instance", "host-1.*"),
                re(MatchOp::NotEqual, "mode", "idle"),
            ],
        ),
    ];
    let mut g = c.benchmark_group("postings_intersect");
    for (name, ms) in &cases {
        g.bench_function(format!("postings for {name} over 100k series"), |b| {
            b.iter(|| black_box(postings_for_matchers(&p, &syms, ms).len()))
        });
    }
    g.bench_function("baseline: naive scan for job=node, mode=idle over 100k series", |b| {
        b.iter(|| black_box(all.iter().filter(|l| matches_all(l, &cases[0].1)).count()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

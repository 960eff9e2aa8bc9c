//! Arbitrary bytes as an XOR chunk: decoding must end (sample count is bounded by the 16-bit header) with
//! samples or an error, never a panic. Re-encoding what decoded must decode to the same samples.
#![no_main]

use diamond_tsdb::chunk::{XorAppender, XorIter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut it = XorIter::new(data);
    let mut got = Vec::new();
    while let Ok(Some(s)) = it.next_sample() {
        got.push(s);
    }
    // Damaged input may decode to non-increasing timestamps; the codec itself does not care.
    let mut a = XorAppender::new();
    for &(t, v) in &got {
        a.append(t, v);
    }
    let again: Vec<(i64, u64)> = XorIter::new(a.bytes())
        .map(|s| s.map(|(t, v)| (t, v.to_bits())))
        .collect::<Result<_, _>>()
        .expect("our own encoding decodes");
    let want: Vec<(i64, u64)> = got.iter().map(|&(t, v)| (t, v.to_bits())).collect();
    assert_eq!(again, want);
});

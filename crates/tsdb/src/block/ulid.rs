//! ULIDs for block directory names: 48 bits of milliseconds since the epoch, then 80 random bits, in
//! Crockford's base32 (26 characters), so names sort by creation time.
//!
//! Hand-written (25 lines) rather than the `ulid` crate, which would bring `rand` into the storage engine
//! for one call; randomness comes from the standard library's per-process random hash keys, mixed with a
//! counter, which is plenty for names that only have to be unique within one data directory.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new ULID for the current time.
pub(crate) fn new_ulid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u64(ms);
    let r1 = h.finish();
    h.write_u64(r1);
    let r2 = h.finish();
    // 128 bits: 48 time | 80 random.
    let v: u128 = (u128::from(ms & 0xffff_ffff_ffff) << 80) | (u128::from(r1) << 16) | u128::from(r2 & 0xffff);
    let mut out = [0u8; 26];
    for (i, c) in out.iter_mut().enumerate() {
        let shift = 5 * (25 - i);
        *c = ALPHABET[((v >> shift) & 31) as usize];
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `s` looks like a ULID (26 Crockford base32 characters).
pub(crate) fn is_ulid(s: &str) -> bool {
    s.len() == 26 && s.bytes().all(|b| ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_are_valid_unique_and_time_ordered() {
        let a = new_ulid();
        let b = new_ulid();
        assert!(is_ulid(&a) && is_ulid(&b), "{a} {b}");
        assert_ne!(a, b);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let c = new_ulid();
        assert!(c[..10] > a[..10], "{a} < {c} in the time part");
        assert!(!is_ulid("01JEBX5D6G6W3C3H2JJ5K3W2Q"));
        assert!(!is_ulid("01JEBX5D6G6W3C3H2JJ5K3W2QU"), "U is not in the alphabet");
    }
}

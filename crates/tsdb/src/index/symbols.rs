//! Interned label strings: each distinct name or value is stored once and referred to by a `u32`.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard};

/// A thread-safe string interner. Ids are dense and never reused (strings are not freed before head
/// truncation, a later issue).
#[derive(Default)]
pub struct Symbols {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Arc<str>, u32>,
    strings: Vec<Arc<str>>,
    bytes: usize,
}

/// A read guard for resolving many ids at once without re-locking.
pub struct SymbolsRead<'a>(RwLockReadGuard<'a, Inner>);

impl SymbolsRead<'_> {
    /// The string of `id` (empty for an unknown id, which the head never hands out).
    pub fn get(&self, id: u32) -> &str {
        self.0.strings.get(id as usize).map_or("", |s| s)
    }

    /// The id of `s`, if interned.
    pub fn lookup(&self, s: &str) -> Option<u32> {
        self.0.map.get(s).copied()
    }
}

impl Symbols {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `s`, interning it if new.
    pub fn intern(&self, s: &str) -> u32 {
        if let Some(&id) = self.inner.read().map.get(s) {
            return id;
        }
        let mut g = self.inner.write();
        if let Some(&id) = g.map.get(s) {
            return id;
        }
        let id = u32::try_from(g.strings.len()).expect("fewer than 2^32 distinct label strings in one head");
        let a: Arc<str> = Arc::from(s);
        g.bytes += s.len();
        g.strings.push(Arc::clone(&a));
        g.map.insert(a, id);
        id
    }

    /// The id of `s`, if interned.
    pub fn lookup(&self, s: &str) -> Option<u32> {
        self.inner.read().map.get(s).copied()
    }

    /// Locks the table for reading.
    pub fn read(&self) -> SymbolsRead<'_> {
        SymbolsRead(self.inner.read())
    }

    /// Number of distinct strings.
    pub fn len(&self) -> usize {
        self.inner.read().strings.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total bytes of the interned strings.
    pub fn bytes(&self) -> usize {
        self.inner.read().bytes
    }
}

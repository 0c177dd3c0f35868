//! `std`'s hash maps and sets with foldhash instead of SipHash: the detectors look their
//! tables up for every event, and SipHash cost more than the lookups themselves. Seeded per
//! process, as `std`'s are, so no input can choose its collisions in advance; iteration order
//! is arbitrary either way, and nothing here depends on it.

pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// The entry of `key`, made with `make` when it is new and the map holds fewer than `max`
/// entries; `None` (nothing made) when the map is full and `key` is not in it: the caller counts
/// what it could not remember.
pub fn bounded_entry<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, max: usize, make: impl FnOnce() -> V) -> Option<&mut V> {
    let full = map.len() >= max;
    match map.entry(key) {
        std::collections::hash_map::Entry::Occupied(entry) => Some(entry.into_mut()),
        std::collections::hash_map::Entry::Vacant(_) if full => None,
        std::collections::hash_map::Entry::Vacant(entry) => Some(entry.insert(make())),
    }
}

/// What was worked out per key (a 64-bit hash such as [`crate::stats::key_hash`]), at most
/// `MAX` entries: full, it starts over, and nothing is lost but the work of doing it again.
#[derive(Debug)]
pub struct Memo<V, const MAX: usize> {
    map: HashMap<u64, V>,
}

impl<V, const MAX: usize> Default for Memo<V, MAX> {
    fn default() -> Self {
        Memo { map: HashMap::default() }
    }
}

impl<V, const MAX: usize> Memo<V, MAX> {
    /// The value of `key`, made with `make` when it is not remembered.
    pub fn get_or_insert_with(&mut self, key: u64, make: impl FnOnce() -> V) -> &V {
        if self.map.len() >= MAX && !self.map.contains_key(&key) {
            self.map.clear();
        }
        self.map.entry(key).or_insert_with(make)
    }
}

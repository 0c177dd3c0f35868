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

/// A set of 64-bit hashes that holds its first two in place: most sets a detector keeps per
/// window or series stay that small, and a one-element `HashSet` costs an allocation of 64
/// bytes besides its 40 in place (this takes 24).
#[derive(Debug)]
pub enum HashSet64 {
    /// Up to two hashes: how many, and them.
    Inline(u8, [u64; 2]),
    Heap(Box<HashSet<u64>>),
}

impl Default for HashSet64 {
    fn default() -> Self {
        HashSet64::Inline(0, [0; 2])
    }
}

impl HashSet64 {
    pub fn len(&self) -> usize {
        match self {
            HashSet64::Inline(len, _) => usize::from(*len),
            HashSet64::Heap(set) => set.len(),
        }
    }

    pub fn contains(&self, value: u64) -> bool {
        match self {
            HashSet64::Inline(len, held) => held[..usize::from(*len)].contains(&value),
            HashSet64::Heap(set) => set.contains(&value),
        }
    }

    /// Adds `value`; whether it was new.
    pub fn insert(&mut self, value: u64) -> bool {
        match self {
            HashSet64::Heap(set) => set.insert(value),
            HashSet64::Inline(len, held) => {
                let n = usize::from(*len);
                if held[..n].contains(&value) {
                    return false;
                }
                if n < held.len() {
                    held[n] = value;
                    *len += 1;
                } else {
                    let mut set: HashSet<u64> = held.iter().copied().collect();
                    set.insert(value);
                    *self = HashSet64::Heap(Box::new(set));
                }
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_set_counts_like_a_hash_set() {
        assert_eq!(std::mem::size_of::<HashSet64>(), 24);
        let mut small = HashSet64::default();
        let mut std_set = std::collections::HashSet::new();
        assert_eq!(small.len(), 0);
        // Repeats before, at and after the move from inline to the heap.
        for v in [7u64, 7, 9, 7, 9, 11, 7, 12, 11, 0, 0, u64::MAX] {
            assert_eq!(small.insert(v), std_set.insert(v), "{v}");
            assert_eq!(small.len(), std_set.len());
            for probe in [0u64, 7, 9, 11, 12, 13, u64::MAX] {
                assert_eq!(small.contains(probe), std_set.contains(&probe), "{probe}");
            }
        }
    }
}

//! `std`'s hash maps and sets with foldhash instead of SipHash: the detectors look their
//! tables up for every event, and SipHash cost more than the lookups themselves. Seeded per
//! process, as `std`'s are, so no input can choose its collisions in advance; iteration order
//! is arbitrary either way, and nothing here depends on it.

pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

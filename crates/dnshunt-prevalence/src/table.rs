//! One kind's table: exact entries up to a cap, the overflow sketch beyond it.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

use dnshunt_core::Timestamp;
use foldhash::fast::RandomState;

use crate::idset::IdSet;
use crate::sketch::Sketch;
use crate::Seen;

/// HyperLogLog precision of host sets (1 KiB, 3.3 % standard error; far less below ~2,500).
pub(crate) const HOST_PRECISION: u8 = 10;
/// HyperLogLog precision of process sets (256 bytes, 6.5 %): many more keys have many processes.
pub(crate) const PROCESS_PRECISION: u8 = 8;

/// What one fact does to a key.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Update {
    /// An event of the input: its host id, process id and time (ms).
    Observe { host: Option<u32>, process: Option<u32>, time: i64 },
    /// A row of the state store: a host (none for fleet-wide rows) and the first time.
    Baseline { host: Option<u32>, first: i64 },
    /// Counts from a cluster aggregation, max-merged.
    Aggregate { hosts: u64, processes: u64, events: u64 },
}

/// The sizes the tables keep to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub max_keys: usize,
    pub exact_hosts: usize,
    pub exact_processes: usize,
    pub sketch_width: usize,
    pub sketch_bloom_bits: usize,
}

/// Counts from a cluster aggregation (rare: only with `--es`, so boxed).
#[derive(Clone, Copy, Debug, Default)]
struct Aggregate {
    hosts: u64,
    processes: u64,
    events: u64,
}

/// Everything known about one key exactly. 72 bytes without its heap parts.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    hosts: IdSet,
    processes: IdSet,
    events: u64,
    /// Earliest and latest event time in the input (`i64::MAX` / `i64::MIN`: none).
    first: i64,
    last: i64,
    /// Earliest first-seen time of the baseline (`i64::MAX`: none).
    before: i64,
    aggregate: Option<Box<Aggregate>>,
}

impl Default for Entry {
    fn default() -> Self {
        Entry {
            hosts: IdSet::default(),
            processes: IdSet::default(),
            events: 0,
            first: i64::MAX,
            last: i64::MIN,
            before: i64::MAX,
            aggregate: None,
        }
    }
}

impl Entry {
    #[inline]
    pub(crate) fn apply(&mut self, update: &Update, limits: &Limits) {
        match *update {
            Update::Observe { host, process, time } => {
                self.events += 1;
                self.first = self.first.min(time);
                self.last = self.last.max(time);
                if let Some(h) = host {
                    self.hosts.insert(h, limits.exact_hosts, HOST_PRECISION);
                }
                if let Some(p) = process {
                    self.processes.insert(p, limits.exact_processes, PROCESS_PRECISION);
                }
            }
            Update::Baseline { host, first } => {
                self.before = self.before.min(first);
                if let Some(h) = host {
                    self.hosts.insert(h, limits.exact_hosts, HOST_PRECISION);
                }
            }
            Update::Aggregate { hosts, processes, events } => {
                let a = self.aggregate.get_or_insert_with(Default::default);
                a.hosts = a.hosts.max(hosts);
                a.processes = a.processes.max(processes);
                a.events = a.events.max(events);
            }
        }
    }

    /// What the entry says; `max_hosts` (the hosts interned) bounds an estimated host count.
    pub(crate) fn seen(&self, max_hosts: u64) -> Seen {
        let (hosts, hosts_exact) = self.hosts.count();
        let hosts = if hosts_exact { hosts } else { hosts.min(max_hosts) };
        let (processes, processes_exact) = self.processes.count();
        let a = self.aggregate.as_deref().copied().unwrap_or_default();
        Seen {
            hosts: hosts.max(a.hosts),
            processes: processes.max(a.processes),
            events: self.events.max(a.events),
            first: time(self.first, i64::MAX),
            last: time(self.last, i64::MIN),
            exact: hosts_exact && processes_exact,
            hosts_exact,
            sketched: false,
            first_seen_before: time(self.before, i64::MAX),
        }
    }

    fn heap_bytes(&self) -> usize {
        self.hosts.heap_bytes() + self.processes.heap_bytes() + self.aggregate.as_ref().map_or(0, |_| std::mem::size_of::<Aggregate>())
    }
}

pub(crate) fn time(ms: i64, none: i64) -> Option<Timestamp> {
    (ms != none).then_some(Timestamp(ms))
}

/// The slots of a hash map of `capacity`: its capacity is 7/8 of its slots (a power of two),
/// each with a control byte.
pub(crate) fn slots(capacity: usize) -> usize {
    if capacity == 0 {
        0
    } else if capacity < 8 {
        capacity + 1
    } else {
        (capacity * 8 / 7).next_power_of_two()
    }
}

/// A key type whose heap size can be accounted for.
pub(crate) trait KeyBytes {
    fn heap_bytes(&self) -> usize;
}

impl KeyBytes for Box<str> {
    fn heap_bytes(&self) -> usize {
        self.len()
    }
}

impl KeyBytes for std::net::IpAddr {
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl KeyBytes for [u64; 2] {
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// Exact entries keyed by `K`, then the sketch.
#[derive(Debug)]
pub(crate) struct Table<K> {
    map: HashMap<K, Entry, RandomState>,
    sketch: Option<Box<Sketch>>,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Table {
            map: HashMap::with_hasher(RandomState::default()),
            sketch: None,
        }
    }
}

impl<K: Hash + Eq + KeyBytes> Table<K> {
    /// Applies `update` to the key `q`: its exact entry when it has one or the table has room
    /// (`make` builds the stored key; only then is anything allocated), else the sketch under
    /// `stable`'s hash.
    #[inline]
    pub(crate) fn apply<Q>(&mut self, q: &Q, make: impl FnOnce() -> K, stable: impl FnOnce() -> u64, update: &Update, limits: &Limits)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(entry) = self.map.get_mut(q) {
            entry.apply(update, limits);
            return;
        }
        if self.map.len() < limits.max_keys {
            let mut entry = Entry::default();
            entry.apply(update, limits);
            self.map.insert(make(), entry);
            return;
        }
        self.sketch
            .get_or_insert_with(|| Box::new(Sketch::new(limits.sketch_width, limits.sketch_bloom_bits)))
            .apply(stable(), update);
    }

    /// What is known of `q`: its exact entry, else the sketch's upper bounds. `max_hosts` (the
    /// hosts interned) bounds estimates of the input's hosts, `fleet` the sketch's.
    pub(crate) fn seen<Q>(&self, q: &Q, stable: impl FnOnce() -> u64, max_hosts: u64, fleet: u64) -> Option<Seen>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(entry) = self.map.get(q) {
            return Some(entry.seen(max_hosts));
        }
        let e = self.sketch.as_ref()?.estimate(stable())?;
        // A key seen in the input was seen by a host, even if the Bloom filter dropped the pair;
        // and no key has more hosts than the fleet.
        let hosts = if e.events > 0 { e.hosts.max(1) } else { e.hosts };
        let hosts = if fleet > 0 { hosts.min(fleet) } else { hosts };
        Some(Seen {
            hosts,
            processes: e.processes,
            events: e.events,
            first: time(e.first, i64::MAX),
            last: time(e.last, i64::MIN),
            exact: false,
            hosts_exact: false,
            sketched: true,
            first_seen_before: time(e.before, i64::MAX),
        })
    }

    /// Keys with an exact entry.
    pub(crate) fn exact_keys(&self) -> usize {
        self.map.len()
    }

    /// Whether keys went to the sketch.
    pub(crate) fn overflowed(&self) -> bool {
        self.sketch.is_some()
    }

    /// Bytes held: the table's slots (at its capacity), keys' and entries' heap parts, and the
    /// sketch. An estimate: it leaves out the allocator's own overhead.
    pub(crate) fn bytes(&self) -> usize {
        let slots = slots(self.map.capacity()) * (std::mem::size_of::<(K, Entry)>() + 1);
        let heap: usize = self.map.iter().map(|(k, e)| k.heap_bytes() + e.heap_bytes()).sum();
        slots + heap + self.sketch.as_ref().map_or(0, |s| s.bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_is_compact() {
        assert_eq!(std::mem::size_of::<Entry>(), 72);
    }
}

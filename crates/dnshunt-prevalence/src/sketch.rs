//! The overflow sketch of one kind: what answers for keys that arrive once the exact table is
//! full.
//!
//! A count-min sketch of `DEPTH` rows by `width` cells, each cell holding host, process and
//! event counters and the earliest and latest times, updated conservatively (a key's counters
//! are raised only as far as its own new estimate), and a Bloom filter that remembers which
//! keys and which (key, host) and (key, process) pairs were already counted, so a host is
//! counted once per key however many events it sends.
//!
//! Every estimate is an upper bound of the truth (a cell holds at least the count of each key
//! hashed to it, and a key's estimate is its smallest cell), except where the Bloom filter
//! answers "seen" for a pair that is new: that pair is not counted. With `m` bits and `n`
//! pairs the filter's false-positive rate is about `(1 − e^(−7n/m))^7`, 1 % at `n = m / 9.6`.
//! Times are bounds the other way round: the first time is never later, and the last time
//! never earlier, than the truth. So the sketch never makes a key look rarer or newer than it
//! is, except through those Bloom misses.
//!
//! Hashes use fixed seeds: the same input gives the same estimates in every run.

use std::hash::{BuildHasher, Hash};

use foldhash::fast::FixedState;

use crate::idset::mix64;
use crate::table::Update;

/// Rows of the count-min sketch: the bound holds with probability `1 − e^(−DEPTH)` (98 %).
pub(crate) const DEPTH: usize = 4;
/// Hashes per Bloom filter entry (optimal near 9.6 bits per entry for 1 % false positives).
const BLOOM_HASHES: u32 = 7;

const TAG_KEY: u64 = 0x6b65_7900_0000_0001;
const TAG_HOST: u64 = 0x686f_7374_0000_0002;
const TAG_PROCESS: u64 = 0x7072_6f63_0000_0003;

/// The fixed-seed hash every sketch uses for a key.
pub(crate) fn stable_hash<Q: Hash + ?Sized>(key: &Q) -> u64 {
    FixedState::with_seed(0x646e_7368_756e_7470).hash_one(key)
}

#[derive(Clone, Copy, Debug)]
struct Cell {
    hosts: u32,
    processes: u32,
    events: u32,
    first: i64,
    last: i64,
    before: i64,
}

impl Default for Cell {
    fn default() -> Self {
        Cell {
            hosts: 0,
            processes: 0,
            events: 0,
            first: i64::MAX,
            last: i64::MIN,
            before: i64::MAX,
        }
    }
}

/// What the sketch says about one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Estimate {
    pub hosts: u64,
    pub processes: u64,
    pub events: u64,
    pub first: i64,
    pub last: i64,
    pub before: i64,
}

#[derive(Debug)]
pub(crate) struct Sketch {
    width_mask: usize,
    cells: Box<[Cell]>,
    bloom: Box<[u64]>,
    bloom_mask: u64,
}

impl Sketch {
    /// `width` and `bloom_bits` are rounded up to powers of two (at least 64).
    pub(crate) fn new(width: usize, bloom_bits: usize) -> Sketch {
        let width = width.max(64).next_power_of_two();
        let bloom_bits = bloom_bits.max(64).next_power_of_two();
        Sketch {
            width_mask: width - 1,
            cells: vec![Cell::default(); DEPTH * width].into_boxed_slice(),
            bloom: vec![0u64; bloom_bits / 64].into_boxed_slice(),
            bloom_mask: bloom_bits as u64 - 1,
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Sketch>() + std::mem::size_of_val(&*self.cells) + std::mem::size_of_val(&*self.bloom)
    }

    /// The cell indices of `key` in each row (double hashing).
    #[inline]
    fn cells_of(&self, key: u64) -> [usize; DEPTH] {
        let h1 = key as usize;
        let h2 = (mix64(key) | 1) as usize;
        std::array::from_fn(|row| row * (self.width_mask + 1) + (h1.wrapping_add(row.wrapping_mul(h2)) & self.width_mask))
    }

    /// Sets the Bloom filter's bits of `item`; true when at least one was unset (certainly new).
    fn bloom_insert(&mut self, item: u64) -> bool {
        let h1 = mix64(item);
        let h2 = mix64(h1 ^ 0x9e37_79b9_7f4a_7c15) | 1;
        let mut new = false;
        for i in 0..BLOOM_HASHES as u64 {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) & self.bloom_mask;
            let (word, mask) = ((bit >> 6) as usize, 1u64 << (bit & 63));
            new |= self.bloom[word] & mask == 0;
            self.bloom[word] |= mask;
        }
        new
    }

    fn bloom_contains(&self, item: u64) -> bool {
        let h1 = mix64(item);
        let h2 = mix64(h1 ^ 0x9e37_79b9_7f4a_7c15) | 1;
        (0..BLOOM_HASHES as u64).all(|i| {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) & self.bloom_mask;
            self.bloom[(bit >> 6) as usize] & (1u64 << (bit & 63)) != 0
        })
    }

    /// Raises one counter of `key` conservatively to `target(current estimate)`.
    fn raise(&mut self, cells: &[usize; DEPTH], counter: fn(&mut Cell) -> &mut u32, target: impl Fn(u32) -> u32) {
        let estimate = cells.iter().map(|&i| *counter(&mut self.cells[i])).min().unwrap_or(0);
        let new = target(estimate);
        for &i in cells {
            let c = counter(&mut self.cells[i]);
            *c = (*c).max(new);
        }
    }

    pub(crate) fn apply(&mut self, key: u64, update: &Update) {
        let cells = self.cells_of(key);
        self.bloom_insert(key ^ TAG_KEY);
        match *update {
            Update::Observe { host, process, time } => {
                self.raise(&cells, |c| &mut c.events, |e| e.saturating_add(1));
                for &i in &cells {
                    let c = &mut self.cells[i];
                    c.first = c.first.min(time);
                    c.last = c.last.max(time);
                }
                if let Some(h) = host {
                    if self.bloom_insert(mix64(key ^ TAG_HOST) ^ h as u64) {
                        self.raise(&cells, |c| &mut c.hosts, |n| n.saturating_add(1));
                    }
                }
                if let Some(p) = process {
                    if self.bloom_insert(mix64(key ^ TAG_PROCESS) ^ p as u64) {
                        self.raise(&cells, |c| &mut c.processes, |n| n.saturating_add(1));
                    }
                }
            }
            Update::Baseline { host, first } => {
                for &i in &cells {
                    let c = &mut self.cells[i];
                    c.before = c.before.min(first);
                }
                if let Some(h) = host {
                    if self.bloom_insert(mix64(key ^ TAG_HOST) ^ h as u64) {
                        self.raise(&cells, |c| &mut c.hosts, |n| n.saturating_add(1));
                    }
                }
            }
            Update::Aggregate { hosts, processes, events } => {
                let clamp = |v: u64| v.min(u32::MAX as u64) as u32;
                self.raise(&cells, |c| &mut c.hosts, |n| n.max(clamp(hosts)));
                self.raise(&cells, |c| &mut c.processes, |n| n.max(clamp(processes)));
                self.raise(&cells, |c| &mut c.events, |n| n.max(clamp(events)));
            }
        }
    }

    /// The estimate for `key`, or `None` when the key was never added (up to the Bloom
    /// filter's false positives).
    pub(crate) fn estimate(&self, key: u64) -> Option<Estimate> {
        if !self.bloom_contains(key ^ TAG_KEY) {
            return None;
        }
        let cells = self.cells_of(key).map(|i| self.cells[i]);
        Some(Estimate {
            hosts: cells.iter().map(|c| c.hosts).min().unwrap_or(0) as u64,
            processes: cells.iter().map(|c| c.processes).min().unwrap_or(0) as u64,
            events: cells.iter().map(|c| c.events).min().unwrap_or(0) as u64,
            // The tightest of the bounds: the latest "earliest" and the earliest "latest".
            first: cells.iter().map(|c| c.first).max().unwrap_or(i64::MAX),
            last: cells.iter().map(|c| c.last).min().unwrap_or(i64::MIN),
            before: cells.iter().map(|c| c.before).max().unwrap_or(i64::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observe(s: &mut Sketch, key: u64, host: u32, process: u32, time: i64) {
        s.apply(
            key,
            &Update::Observe {
                host: Some(host),
                process: Some(process),
                time,
            },
        );
    }

    #[test]
    fn cells_are_40_bytes() {
        assert_eq!(std::mem::size_of::<Cell>(), 40);
    }

    #[test]
    fn counts_distinct_pairs_and_bounds_times() {
        let mut s = Sketch::new(1024, 1 << 16);
        let k = stable_hash("example.com");
        for (host, time) in [(1, 50), (1, 10), (2, 30), (1, 70)] {
            observe(&mut s, k, host, host * 10, time);
        }
        let e = s.estimate(k).unwrap();
        assert_eq!((e.hosts, e.processes, e.events, e.first, e.last), (2, 2, 4, 10, 70));
        assert_eq!(s.estimate(stable_hash("never.example")), None);
    }

    #[test]
    fn a_crowded_sketch_over_estimates() {
        // 64 cells a row for 5,000 keys: heavy collisions, yet no key is ever under-counted in
        // events (no Bloom filter involved) and hosts only by Bloom misses.
        let mut s = Sketch::new(64, 1 << 20);
        let mut truth = Vec::new();
        for key in 0..5_000u64 {
            let hosts = (key % 5) as u32 + 1;
            for h in 0..hosts {
                observe(&mut s, stable_hash(&key), h, h, key as i64);
            }
            truth.push((key, hosts as u64));
        }
        let mut under = 0;
        for (key, hosts) in truth {
            let e = s.estimate(stable_hash(&key)).unwrap();
            assert!(e.events >= hosts);
            assert!(e.first <= key as i64 && e.last >= key as i64);
            under += (e.hosts < hosts) as u32;
        }
        assert!(under < 50, "{under} keys under-counted");
    }
}

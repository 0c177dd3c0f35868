//! The streaming summary behind the report: fed every event once, it keeps bounded state.
//!
//! - Time series (all queries, NXDOMAIN, record-type mix, per host, per process) are arrays of
//!   [`MAX_BUCKETS`] counters whose width grows with the data's span ([`crate::timeline`]).
//! - Hosts and processes are tracked in a space-saving table of `top_series` slots: a key
//!   seen more than `1/top_series` of the time always keeps its slot (and its series).
//! - Registered domains are counted exactly (count, first and last seen, distinct hosts up to
//!   [`MAX_HOSTS_PER_DOMAIN`], NXDOMAIN answers) until `max_domains` are distinct; then the
//!   rarest tenth is dropped at a time (batched space-saving), later counts are lower bounds with
//!   a known error, and the report says the long tail is approximate.
//! - For the interval histograms of beacon findings, the first timestamps (whole seconds) of
//!   each (host, program, registered domain or address) series are sampled, within a fixed
//!   budget, because the detector's evidence holds only the first and last sighting.
//!
//! Nothing is stored per event, and no string is allocated for an event whose keys were seen
//! before: keys are 64-bit hashes of the borrowed names.

use std::collections::{HashMap, HashSet};

use dnshunt_core::{image_file_name, Answer, Event, EventKind};

use crate::timeline::{new_row, remap, Layout, Placed, Row, Timeline, MAX_BUCKETS};

/// Distinct hosts remembered per domain; more show as "16+".
pub const MAX_HOSTS_PER_DOMAIN: usize = 16;

/// The record-type classes of the mix chart, by the most telling answer of a query.
pub const RTYPE_CLASSES: [&str; 6] = ["A", "AAAA", "CNAME only", "TXT", "other type", "no answer"];

/// Limits of the summary's memory.
#[derive(Clone, Debug)]
pub struct SummaryConfig {
    /// Hosts and processes tracked with a time series each (space-saving slots). Default 64.
    pub top_series: usize,
    /// Distinct registered domains counted exactly before the tail becomes approximate.
    /// Default 100,000 (about 10 MB).
    pub max_domains: usize,
    /// Distinct hosts counted exactly. Default 1,000,000.
    pub max_hosts: usize,
    /// Timestamp series sampled for beacon interval histograms. Default 100,000.
    pub max_series: usize,
    /// Timestamps kept per series. Default 2,000 (33 hours of a 60 s beacon).
    pub max_timestamps_per_series: usize,
    /// Timestamps kept in all. Default 2,000,000 (16 MB).
    pub max_timestamps: usize,
}

impl Default for SummaryConfig {
    fn default() -> Self {
        SummaryConfig {
            top_series: 64,
            max_domains: 100_000,
            max_hosts: 1_000_000,
            max_series: 100_000,
            max_timestamps_per_series: 2_000,
            max_timestamps: 2_000_000,
        }
    }
}

/// Counts by event type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventCounts {
    pub dns_query: u64,
    pub process_create: u64,
    pub network_connect: u64,
    pub process_terminate: u64,
    pub nxdomain: u64,
    /// DNS exchanges and connections seen on the network.
    pub wire_dns: u64,
    pub wire_flow: u64,
}

/// One tracked key of a space-saving table.
#[derive(Debug)]
pub struct Slot {
    key: u64,
    pub name: String,
    /// Lower bound of the key's count; the true count is at most `count + error`.
    pub count: u64,
    pub error: u64,
    pub row: Row,
}

/// A space-saving table of keys with a time series each.
#[derive(Debug)]
pub struct Tracked {
    cap: usize,
    pub slots: Vec<Slot>,
    index: HashMap<u64, usize>,
}

impl Tracked {
    fn new(cap: usize) -> Tracked {
        Tracked {
            cap: cap.max(1),
            slots: Vec::new(),
            index: HashMap::new(),
        }
    }

    fn hit(&mut self, key: u64, name: impl FnOnce() -> String, bucket: usize) {
        self.add(key, name, bucket, 1);
    }

    /// Adds `n` (events, or bytes) to a key's count and to its bucket.
    fn add(&mut self, key: u64, name: impl FnOnce() -> String, bucket: usize, n: u32) {
        let slot = match self.index.get(&key) {
            Some(&i) => &mut self.slots[i],
            None if self.slots.len() < self.cap => {
                self.index.insert(key, self.slots.len());
                self.slots.push(Slot {
                    key,
                    name: name(),
                    count: 0,
                    error: 0,
                    row: new_row(),
                });
                self.slots.last_mut().expect("just pushed")
            }
            None => {
                // Space-saving: the new key takes over the smallest slot and inherits its
                // count as its possible error.
                let (i, _) = self.slots.iter().enumerate().min_by_key(|(_, s)| s.count).expect("cap ≥ 1");
                let slot = &mut self.slots[i];
                self.index.remove(&slot.key);
                self.index.insert(key, i);
                slot.key = key;
                slot.name = name();
                slot.error = slot.count;
                slot.row.fill(0);
                slot
            }
        };
        slot.count += u64::from(n);
        slot.row[bucket] = slot.row[bucket].saturating_add(n);
    }

    /// The slots, largest first.
    pub fn top(&self) -> Vec<&Slot> {
        let mut v: Vec<&Slot> = self.slots.iter().collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        v
    }

    fn remap(&mut self, old: Layout, new: Layout) {
        for slot in &mut self.slots {
            remap(&mut slot.row, old, new);
        }
    }
}

/// Stack counts of one registered domain.
#[derive(Clone, Debug)]
pub struct DomainStat {
    pub name: Box<str>,
    /// Queries counted (a lower bound when `error > 0`).
    pub count: u64,
    /// How many queries may have been missed (the tail was trimmed before this domain came back).
    pub error: u64,
    pub nxdomain: u64,
    pub first_ms: i64,
    pub last_ms: i64,
    hosts: Vec<u32>,
    hosts_more: bool,
}

impl DomainStat {
    /// Distinct hosts, and whether there were more than could be remembered.
    pub fn hosts(&self) -> (usize, bool) {
        (self.hosts.len(), self.hosts_more)
    }
}

/// Registered domains with exact counts up to a cap of distinct keys.
#[derive(Debug)]
pub struct DomainTable {
    cap: usize,
    map: HashMap<u64, DomainStat>,
    /// Domains dropped from the tail, and the largest count dropped.
    pub trimmed: u64,
    pub trimmed_max_count: u64,
}

impl DomainTable {
    fn new(cap: usize) -> DomainTable {
        DomainTable {
            cap: cap.max(10),
            map: HashMap::new(),
            trimmed: 0,
            trimmed_max_count: 0,
        }
    }

    fn hit(&mut self, name: &str, host: u32, t_ms: i64, nxdomain: bool) {
        let key = hash_parts(&[name.as_bytes()]);
        if !self.map.contains_key(&key) && self.map.len() >= self.cap {
            self.trim();
        }
        let error = self.trimmed_max_count;
        let stat = self.map.entry(key).or_insert_with(|| DomainStat {
            name: name.into(),
            count: 0,
            error,
            nxdomain: 0,
            first_ms: t_ms,
            last_ms: t_ms,
            hosts: Vec::new(),
            hosts_more: false,
        });
        stat.count += 1;
        stat.nxdomain += u64::from(nxdomain);
        stat.first_ms = stat.first_ms.min(t_ms);
        stat.last_ms = stat.last_ms.max(t_ms);
        if !stat.hosts.contains(&host) {
            if stat.hosts.len() < MAX_HOSTS_PER_DOMAIN {
                stat.hosts.push(host);
            } else {
                stat.hosts_more = true;
            }
        }
    }

    /// Drops the rarest tenth of the table (batched space-saving).
    fn trim(&mut self) {
        let mut counts: Vec<(u64, u64)> = self.map.iter().map(|(k, s)| (s.count, *k)).collect();
        let n = (self.cap / 10).max(1);
        counts.select_nth_unstable(n - 1);
        for &(count, key) in &counts[..n] {
            self.map.remove(&key);
            self.trimmed += 1;
            self.trimmed_max_count = self.trimmed_max_count.max(count);
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The `n` most queried domains.
    pub fn top(&self, n: usize) -> Vec<&DomainStat> {
        let mut v: Vec<&DomainStat> = self.map.values().collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        v.truncate(n);
        v
    }

    /// The `n` rarest domains: fewest hosts, then fewest queries.
    pub fn rarest(&self, n: usize) -> Vec<&DomainStat> {
        let mut v: Vec<&DomainStat> = self.map.values().collect();
        v.sort_by(|a, b| (a.hosts.len(), a.count, a.first_ms, &a.name).cmp(&(b.hosts.len(), b.count, b.first_ms, &b.name)));
        v.truncate(n);
        v
    }
}

/// The bounded summary of every event of a run.
#[derive(Debug)]
pub struct Summary {
    config: SummaryConfig,
    timeline: Timeline,
    /// DNS queries per bucket.
    pub total: Row,
    /// NXDOMAIN answers per bucket.
    pub nxdomain: Row,
    /// Queries per record-type class ([`RTYPE_CLASSES`]) per bucket.
    pub rtypes: Vec<Row>,
    pub hosts: Tracked,
    pub processes: Tracked,
    /// Bytes of DNS seen on the wire (questions and responses) per bucket, in all and per
    /// domain (the registered domain, or the last two labels under an unknown suffix).
    pub wire_total: Row,
    pub wire_bytes: Tracked,
    pub domains: DomainTable,
    pub counts: EventCounts,
    host_keys: HashSet<u64>,
    /// Hosts not counted because `max_hosts` was reached.
    pub hosts_over_cap: bool,
    series: HashMap<u64, Vec<i64>>,
    stored_timestamps: usize,
    /// First and last time of any event (ms).
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
}

impl Default for Summary {
    fn default() -> Self {
        Summary::new(SummaryConfig::default())
    }
}

impl Summary {
    pub fn new(config: SummaryConfig) -> Summary {
        Summary {
            timeline: Timeline::default(),
            total: new_row(),
            nxdomain: new_row(),
            rtypes: RTYPE_CLASSES.iter().map(|_| new_row()).collect(),
            hosts: Tracked::new(config.top_series),
            processes: Tracked::new(config.top_series),
            wire_total: new_row(),
            wire_bytes: Tracked::new(config.top_series),
            domains: DomainTable::new(config.max_domains),
            counts: EventCounts::default(),
            host_keys: HashSet::new(),
            hosts_over_cap: false,
            series: HashMap::new(),
            stored_timestamps: 0,
            first_ms: None,
            last_ms: None,
            config,
        }
    }

    /// The bucket layout of the time series (none before the first DNS query).
    pub fn layout(&self) -> Option<Layout> {
        self.timeline.layout()
    }

    /// Distinct hosts seen (exact up to `max_hosts`).
    pub fn distinct_hosts(&self) -> usize {
        self.host_keys.len()
    }

    /// Takes one event into account.
    pub fn observe(&mut self, event: &Event) {
        let t = event.time.millis();
        self.first_ms = Some(self.first_ms.map_or(t, |f| f.min(t)));
        self.last_ms = Some(self.last_ms.map_or(t, |l| l.max(t)));
        let host = event.host.as_deref().unwrap_or("");
        // One host whether named short or in full, as every count of dnshunt keys it.
        let host_key = hash_parts(&[dnshunt_core::host_key(host).as_bytes()]);
        if self.host_keys.len() < self.config.max_hosts {
            self.host_keys.insert(host_key);
        } else if !self.host_keys.contains(&host_key) {
            self.hosts_over_cap = true;
        }
        let image = event.process().image.as_deref().unwrap_or("");
        match &event.kind {
            EventKind::DnsQuery(q) => {
                self.counts.dns_query += 1;
                let nx = q.status.is_nxdomain();
                self.counts.nxdomain += u64::from(nx);
                let bucket = self.place(t);
                bump(&mut self.total, bucket);
                if nx {
                    bump(&mut self.nxdomain, bucket);
                }
                bump(&mut self.rtypes[rtype_class(&q.answers)], bucket);
                self.hosts.hit(host_key, || if host.is_empty() { "(no host)".to_owned() } else { host.to_owned() }, bucket);
                let image_name = file_name(image);
                let image_key = hash_lower(image_name);
                self.processes
                    .hit(image_key, || if image.is_empty() { "(unknown)".to_owned() } else { image_file_name(image) }, bucket);
                // Single-label names (`wpad`, `localhost`) are no domain.
                if let Some(domain) = q.query.domain_key() {
                    self.domains.hit(domain, host_key as u32, t, nx);
                    self.sample(hash_series(host, image_key, b'd', domain), t);
                }
            }
            EventKind::NetworkConnect(n) => {
                self.counts.network_connect += 1;
                if let (Some(ip), false) = (n.destination_ip, n.initiated == Some(false)) {
                    let ip = ip.to_string();
                    self.sample(hash_series(host, hash_lower(file_name(image)), b'a', &ip), t);
                }
            }
            EventKind::ProcessCreate(_) => self.counts.process_create += 1,
            EventKind::ProcessTerminate(_) => self.counts.process_terminate += 1,
            EventKind::WireDns(w) => {
                self.counts.wire_dns += 1;
                // What the sensor measured, else what the name and the records' data carry.
                let bytes = match (w.query_bytes, w.response_bytes) {
                    (None, None) => w
                        .records
                        .iter()
                        .fold(w.lookup.query.as_str().len() as u32, |sum, r| sum.saturating_add(r.size.unwrap_or(r.data.len() as u32))),
                    (q, r) => q.unwrap_or(0).saturating_add(r.unwrap_or(0)),
                };
                let bucket = self.place(t);
                self.wire_total[bucket] = self.wire_total[bucket].saturating_add(bytes);
                if let Some(domain) = w.lookup.query.base_domain() {
                    self.wire_bytes.add(hash_parts(&[domain.as_bytes()]), || domain.to_owned(), bucket, bytes);
                }
            }
            EventKind::WireFlow(_) => self.counts.wire_flow += 1,
        }
    }

    fn place(&mut self, t: i64) -> usize {
        match self.timeline.place(t) {
            Placed::Index(i) => i,
            Placed::Remapped { old, index } => {
                let new = self.timeline.layout().expect("placed");
                remap(&mut self.total, old, new);
                remap(&mut self.nxdomain, old, new);
                for row in &mut self.rtypes {
                    remap(row, old, new);
                }
                self.hosts.remap(old, new);
                self.processes.remap(old, new);
                remap(&mut self.wire_total, old, new);
                self.wire_bytes.remap(old, new);
                index
            }
        }
    }

    fn sample(&mut self, key: u64, t_ms: i64) {
        if self.stored_timestamps >= self.config.max_timestamps {
            return;
        }
        let second = t_ms.div_euclid(1000);
        let n_series = self.series.len();
        let seconds = match self.series.get_mut(&key) {
            Some(s) => s,
            None if n_series < self.config.max_series => self.series.entry(key).or_default(),
            None => return,
        };
        if seconds.len() < self.config.max_timestamps_per_series && seconds.last() != Some(&second) {
            seconds.push(second);
            self.stored_timestamps += 1;
        }
    }

    /// The sampled timestamps (whole seconds, sorted, distinct) of the series a beacon finding
    /// names: its host, its program and its target (`d` + registered domain or `a` + address).
    pub fn series_seconds(&self, host: &str, image: &str, kind: u8, target: &str) -> Option<Vec<i64>> {
        let key = hash_series(host, hash_lower(file_name(image)), kind, target);
        let mut v = self.series.get(&key)?.clone();
        v.sort_unstable();
        v.dedup();
        Some(v)
    }
}

fn bump(row: &mut [u32; MAX_BUCKETS], i: usize) {
    row[i] = row[i].saturating_add(1);
}

/// The class in [`RTYPE_CLASSES`] of a query's answers.
pub fn rtype_class(answers: &[Answer]) -> usize {
    let mut class = 5;
    for a in answers {
        let c = match a.rtype.0 {
            1 => 0,
            28 => 1,
            5 => 2,
            16 => 3,
            _ => 4,
        };
        // TXT and other types say more than an address; an address more than a CNAME.
        let rank = |c: usize| [2, 1, 0, 4, 3, -1][c];
        if rank(c) > rank(class) {
            class = c;
        }
    }
    class
}

fn file_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

/// FNV-1a of the parts, each followed by a separator.
fn hash_parts(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.iter().chain(std::iter::once(&0xff)) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// FNV-1a of an ASCII-lower-cased name, without allocating.
fn hash_lower(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= b.to_ascii_lowercase() as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn hash_series(host: &str, image_key: u64, kind: u8, target: &str) -> u64 {
    hash_parts(&[host.as_bytes(), &image_key.to_le_bytes(), &[kind], target.as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_table_trims_the_rarest_tenth_and_keeps_heavy_hitters() {
        let mut table = DomainTable::new(100);
        for i in 0..1000u64 {
            table.hit("heavy.example", 1, i as i64, false);
            table.hit(&format!("rare{i}.example"), 2, i as i64, false);
        }
        assert!(table.len() <= 100);
        assert!(table.trimmed > 0);
        let top = table.top(1);
        assert_eq!(&*top[0].name, "heavy.example");
        assert_eq!(top[0].count, 1000, "a heavy hitter is never trimmed, so its count is exact");
        assert_eq!(top[0].hosts(), (1, false));
    }

    #[test]
    fn space_saving_keeps_frequent_keys() {
        let mut tracked = Tracked::new(4);
        for i in 0..10_000u64 {
            tracked.hit(1, || "a".into(), 0);
            if i % 2 == 0 {
                tracked.hit(2, || "b".into(), 1);
            }
            tracked.hit(100 + i, || format!("noise{i}"), 2);
        }
        let top = tracked.top();
        assert_eq!((top[0].name.as_str(), top[0].count, top[0].row[0]), ("a", 10_000, 10_000));
        assert_eq!((top[1].name.as_str(), top[1].count), ("b", 5_000));
    }

    #[test]
    fn record_type_class_prefers_the_telling_answer() {
        let a = |t: u16| Answer {
            rtype: dnshunt_core::RecordType(t),
            data: dnshunt_core::AnswerData::Empty,
        };
        assert_eq!(rtype_class(&[]), 5);
        assert_eq!(rtype_class(&[a(5), a(1)]), 0);
        assert_eq!(rtype_class(&[a(5)]), 2);
        assert_eq!(rtype_class(&[a(16)]), 3);
        assert_eq!(rtype_class(&[a(28), a(15)]), 4);
    }
}

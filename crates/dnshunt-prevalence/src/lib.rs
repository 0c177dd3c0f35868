//! Prevalence and rarity: for every registered domain, address, image and command line, how
//! many hosts and processes saw it, how often, and since when — so that what most of the fleet
//! does can be damped and what one host does once can be raised, by every detector alike.
//!
//! # What is counted
//!
//! [`Prevalence::observe`] takes each event once, in any order:
//!
//! - EID 22 (DnsQuery): the registered domain of the query (eTLD+1 by the Public Suffix List;
//!   the whole name when it has none, as internal names under `.local` do; single labels such
//!   as `wpad` and address literals are skipped), the registered domains of CNAME targets in the
//!   answers (a lookup of `www.youtube.com` answered through `youtube-ui.l.google.com` also
//!   counts `google.com`), and every address in the answers (`::ffff:`-mapped IPv4 as IPv4).
//!   Each at most once per event.
//! - EID 3 (NetworkConnect): the destination address.
//! - EID 1 (ProcessCreate): the command line.
//! - Every event: the image of its process.
//!
//! Per key: the distinct hosts, the distinct processes (host and `ProcessGuid`; the process id
//! when there is no GUID), the number of events, and the first and last event time. Hosts are
//! interned once under [`host_key`] (`WS-ACCT-07.corp.example.com` and `ws-acct-07` are one
//! host); images compare under [`image_key`] (case-insensitive, `\\?\` removed) and command lines
//! under [`command_line_key`] (case-insensitive, whitespace collapsed).
//!
//! Two more sources widen the picture: [`Prevalence::add_baseline`] takes the rows of the state
//! store of earlier runs (their hosts join the key's hosts, their first-seen time becomes
//! [`Seen::first_seen_before`]), and [`Prevalence::add_aggregate`] /
//! [`Prevalence::add_fleet_hosts`] take counts a cluster computed with aggregations (`--es`),
//! max-merged with what the input shows.
//!
//! # Memory
//!
//! Per kind, at most [`PrevalenceConfig::max_exact_keys`] keys have an exact entry: 72 bytes
//! plus the key (a domain or image path as a boxed string, an address inline, a command line as
//! a 128-bit fingerprint — command lines can be kilobytes long and are never listed, only looked
//! up) in a hash table, about 100–200 bytes a key in all. The first three hosts and processes of
//! a key are stored inline; up to [`PrevalenceConfig::exact_hosts_per_key`] hosts and
//! [`PrevalenceConfig::exact_processes_per_key`] processes in a list; beyond that in a
//! HyperLogLog (1 KiB for hosts, 256 bytes for processes). New keys that arrive once a kind's
//! table is full go to that kind's overflow sketch, allocated then: a count-min sketch of
//! 4 × [`PrevalenceConfig::sketch_width`] cells of 40 bytes and a Bloom filter of
//! [`PrevalenceConfig::sketch_bloom_bits`] bits (28 MiB with the defaults). Memory is therefore
//! bounded by the configuration and the number of distinct hosts, whatever the input's size:
//! with the defaults about 4 × (460,000 keys × ~200 bytes + 28 MiB) ≈ 480 MB at most, plus
//! 0.3–1.3 KiB for each key seen by more than 16 processes or 64 hosts (those are few: the
//! fleet's everyday domains, addresses and programs), and far less for the inputs most hunts
//! read. [`Prevalence::memory_bytes`] tells.
//!
//! # Error
//!
//! [`Seen::exact`] is true when every count is exact. Otherwise:
//!
//! - a HyperLogLog's host or process count has a standard error of `1.04 / sqrt(m)` (3.3 % for
//!   hosts, 6.5 % for processes), much less below `2.5 m` distinct ids, where linear counting
//!   is used;
//! - a sketched key ([`Seen::sketched`]) has upper bounds: its hosts, processes and events are
//!   never fewer than the truth (with probability `1 − e^−4` the excess is at most
//!   `e / width` of the total over the kind's overflow keys, and updating conservatively makes
//!   it far smaller for the many rare keys), its first time is never later and its last time
//!   never earlier than the truth — except that a Bloom filter false positive (about 1 % at
//!   the design load) can leave one new (key, host) or (key, process) pair uncounted. So a
//!   sketch can make a key look more common, almost never rarer; accordingly
//!   [`Prevalence::assess`] lets a sketched key be raised as rare but never damped as common.
//!
//! Below the cap every result is independent of the order of the events. Once a kind's table
//! is full, which keys have exact entries depends on which arrived first (the fleet's everyday
//! keys, seen early and often, almost always do).
//!
//! # The policy
//!
//! [`Prevalence::assess`] turns what is known of a key into a score factor: damped (from
//! [`PrevalenceConfig::common_factor`] at [`PrevalenceConfig::common_share`] of the fleet's hosts
//! down to [`PrevalenceConfig::fleet_wide_factor`] at all of them) when most of the fleet has it,
//! raised ([`PrevalenceConfig::rare_factor`]) when one host has it a few times, neutral when the
//! fleet is too small to tell or the key is unknown. [`Prevalence::assess_finding`] combines a
//! finding's keys; its rule is documented there.
//!
//! Architecture invariant: this crate does no I/O and reads no clock; baselines and
//! aggregations reach it as values.

#![forbid(unsafe_code)]

mod apply;
mod assess;
mod config;
mod idset;
mod keys;
mod sketch;
mod table;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::net::IpAddr;

use dnshunt_core::{Answer, Event, EventKind, ProcessRef, RecordType, Timestamp};
use foldhash::fast::RandomState;
use serde::{Deserialize, Serialize};

pub use apply::{finding_keys, NOT_DAMPED};
pub use assess::{Assessment, FindingKeys};
pub use config::PrevalenceConfig;
pub use keys::{command_line_key, domain_key, host_key, image_key};

use keys::{address_key, answer_domain, canonical_ip, command_line_key_into, file_name, image_key_into, query_domain};
use sketch::stable_hash;
use table::{Limits, Table, Update};

/// The host column of the state store's fleet-wide rows.
pub const FLEET_HOST: &str = "*";

/// Raw host spellings remembered with their id (beyond, `host_key` is computed per event).
const RAW_HOST_CACHE: usize = 1 << 16;
/// Answers compared with each other to count a domain or address once per event.
const ANSWERS_DEDUPLICATED: usize = 16;

/// What a value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A registered domain (eTLD+1), or a whole name without a public suffix.
    Domain,
    /// An IPv4 or IPv6 address.
    Address,
    /// A process image path.
    Image,
    /// A process command line.
    CommandLine,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Domain, Kind::Address, Kind::Image, Kind::CommandLine];

    /// The serialised name (`command_line`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Domain => "domain",
            Kind::Address => "address",
            Kind::Image => "image",
            Kind::CommandLine => "command_line",
        }
    }

    /// The name in a sentence (`command line`).
    pub fn label(self) -> &'static str {
        match self {
            Kind::CommandLine => "command line",
            other => other.as_str(),
        }
    }

    /// The kind of a state store row (`domain`; `process`, whose values are image file names),
    /// or one of [`Kind::as_str`]'s names.
    pub fn from_state_kind(kind: &str) -> Option<Kind> {
        match kind {
            "domain" => Some(Kind::Domain),
            "process" | "image" => Some(Kind::Image),
            "address" => Some(Kind::Address),
            "command_line" => Some(Kind::CommandLine),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is known about one key; goes into a finding's `details.prevalence`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Seen {
    /// Distinct hosts: of the input and the baseline, or the cluster's count when larger.
    pub hosts: u64,
    /// Distinct processes of the input, or the cluster's count when larger.
    pub processes: u64,
    /// Events of the input, or the cluster's count when larger.
    pub events: u64,
    /// The first event time in the input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<Timestamp>,
    /// The last event time in the input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<Timestamp>,
    /// True when every count is exact (no HyperLogLog or sketch estimate).
    pub exact: bool,
    /// True when the host count is exact (a key can have exact hosts and estimated processes).
    pub hosts_exact: bool,
    /// True when the key is beyond the exact-key cap: every count is an upper bound from the
    /// overflow sketch (see the crate documentation).
    pub sketched: bool,
    /// The earliest first-seen time the baseline (earlier runs) has for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen_before: Option<Timestamp>,
}

/// Prevalence of domains, addresses, images and command lines. See the crate documentation.
#[derive(Debug)]
pub struct Prevalence {
    config: PrevalenceConfig,
    limits: Limits,
    /// Host key → host id (see `host_id`).
    hosts: HashMap<Box<str>, u32, RandomState>,
    /// Raw host spelling → host id (`None`: no host), so `host_key` runs once per spelling.
    raw_hosts: HashMap<Box<str>, Option<u32>, RandomState>,
    /// The fleet's size as a cluster counted it.
    fleet_floor: u64,
    domains: Table<Box<str>>,
    addresses: Table<IpAddr>,
    images: Table<Box<str>>,
    command_lines: Table<[u64; 2]>,
    /// The state store remembers programs by file name: file name → earliest first-seen time.
    image_names: HashMap<Box<str>, i64, RandomState>,
    /// Seeds of command lines' 128-bit fingerprints (random per instance: nobody can aim a
    /// command line at a common one's fingerprint).
    fingerprint: [foldhash::quality::RandomState; 2],
    has_baseline: bool,
    scratch: String,
}

impl Default for Prevalence {
    fn default() -> Self {
        Prevalence::new(PrevalenceConfig::default())
    }
}

impl Prevalence {
    /// An empty count; out-of-range settings are brought into range (see
    /// [`PrevalenceConfig::validate`]).
    pub fn new(config: PrevalenceConfig) -> Prevalence {
        let config = config.sanitised();
        let limits = Limits {
            max_keys: config.max_exact_keys,
            exact_hosts: config.exact_hosts_per_key,
            exact_processes: config.exact_processes_per_key,
            sketch_width: config.sketch_width,
            sketch_bloom_bits: config.sketch_bloom_bits,
        };
        Prevalence {
            config,
            limits,
            hosts: HashMap::default(),
            raw_hosts: HashMap::default(),
            fleet_floor: 0,
            domains: Table::default(),
            addresses: Table::default(),
            images: Table::default(),
            command_lines: Table::default(),
            image_names: HashMap::default(),
            fingerprint: Default::default(),
            has_baseline: false,
            scratch: String::new(),
        }
    }

    /// The settings in use (after bringing them into range).
    pub fn config(&self) -> &PrevalenceConfig {
        &self.config
    }

    /// Counts what one event shows (see the crate documentation). Allocates nothing when its
    /// keys and host are already known.
    /// What the network saw is not counted: its hosts are addresses, not the fleet's endpoints.
    pub fn observe(&mut self, event: &Event) {
        if !event.kind.is_sysmon() {
            return;
        }
        let host = event.host.as_deref().and_then(|h| self.host_id(h));
        let update = Update::Observe {
            host,
            process: process_id(host, event.process()),
            time: event.time.0,
        };
        let limits = &self.limits;
        match &event.kind {
            EventKind::DnsQuery(q) => {
                let query = query_domain(&q.query);
                if let Some(d) = query {
                    self.domains.apply(d, || Box::from(d), || stable_hash(d), &update, limits);
                }
                // CNAME chains often name one domain twice (`a.l.google.com`, `b.l.google.com`).
                let mut counted: [&str; ANSWERS_DEDUPLICATED] = [""; ANSWERS_DEDUPLICATED];
                let mut n_counted = 0;
                // CNAME targets only: a PTR, NS, MX or SRV answer names something the host did
                // not necessarily go on to contact.
                for name in q.answers.iter().filter(|a| a.rtype == RecordType::CNAME).filter_map(Answer::name) {
                    let Some(d) = answer_domain(name) else { continue };
                    if Some(d.as_ref()) == query || counted[..n_counted].contains(&d.as_ref()) {
                        continue;
                    }
                    self.domains.apply(d.as_ref(), || Box::from(d.as_ref()), || stable_hash(d.as_ref()), &update, limits);
                    if let Cow::Borrowed(d) = d {
                        if n_counted < ANSWERS_DEDUPLICATED {
                            counted[n_counted] = d;
                            n_counted += 1;
                        }
                    }
                }
                for (i, ip) in q.addresses().enumerate() {
                    let ip = canonical_ip(ip);
                    if i > 0 && i < ANSWERS_DEDUPLICATED && q.addresses().take(i).any(|other| canonical_ip(other) == ip) {
                        continue;
                    }
                    self.addresses.apply(&ip, || ip, || stable_hash(&ip), &update, limits);
                }
            }
            EventKind::NetworkConnect(n) => {
                if let Some(ip) = n.destination_ip.map(canonical_ip) {
                    self.addresses.apply(&ip, || ip, || stable_hash(&ip), &update, limits);
                }
            }
            EventKind::ProcessCreate(p) => {
                if let Some(line) = p.command_line.as_deref() {
                    command_line_key_into(line, &mut self.scratch);
                    let key = self.scratch.as_str();
                    if !key.is_empty() && key != "-" {
                        let fp = fingerprint(&self.fingerprint, key);
                        self.command_lines.apply(&fp, || fp, || stable_hash(key), &update, limits);
                    }
                }
            }
            EventKind::ProcessTerminate(_) | EventKind::WireDns(_) | EventKind::WireFlow(_) => {}
        }
        if let Some(image) = event.process().image.as_deref() {
            image_key_into(image, &mut self.scratch);
            let key = self.scratch.as_str();
            if !key.is_empty() && key != "-" {
                self.images.apply(key, || Box::from(key), || stable_hash(key), &update, limits);
            }
        }
    }

    /// Adds a row of the state store: `value` of `kind` was seen on `host` (or, for
    /// [`FLEET_HOST`], somewhere in the fleet) from `first_seen` on. The host joins the key's
    /// hosts (and the fleet); `first_seen` becomes [`Seen::first_seen_before`] when earliest.
    /// `last_seen` is not kept: the store's retention already forgets what was not seen lately.
    ///
    /// The store remembers programs by file name (`process` rows, [`Kind::from_state_kind`]):
    /// an image value without a path applies to every image path with that file name, but only
    /// for the first-seen time, never for the host count — a copy of `powershell.exe` in a user's
    /// temporary folder shares its name with the fleet's, and must not be damped by it.
    pub fn add_baseline(&mut self, kind: Kind, host: &str, value: &str, first_seen: Timestamp, last_seen: Timestamp) {
        let _ = last_seen;
        let host = if host.trim() == FLEET_HOST { None } else { self.host_id(host) };
        let update = Update::Baseline { host, first: first_seen.0 };
        let limits = &self.limits;
        let applied = match kind {
            Kind::Domain => match domain_key(value) {
                Some(d) => {
                    self.domains.apply(d.as_str(), || Box::from(d.as_str()), || stable_hash(d.as_str()), &update, limits);
                    true
                }
                None => false,
            },
            Kind::Address => match address_key(value) {
                Some(ip) => {
                    self.addresses.apply(&ip, || ip, || stable_hash(&ip), &update, limits);
                    true
                }
                None => false,
            },
            Kind::Image => {
                let key = image_key(value);
                if key.is_empty() {
                    false
                } else if key.contains('\\') {
                    self.images.apply(key.as_str(), || Box::from(key.as_str()), || stable_hash(key.as_str()), &update, limits);
                    true
                } else if let Some(before) = self.image_names.get_mut(key.as_str()) {
                    *before = (*before).min(first_seen.0);
                    true
                } else if self.image_names.len() < limits.max_keys {
                    self.image_names.insert(key.into_boxed_str(), first_seen.0);
                    true
                } else {
                    false
                }
            }
            Kind::CommandLine => {
                let key = command_line_key(value);
                if !key.is_empty() {
                    let fp = fingerprint(&self.fingerprint, &key);
                    self.command_lines.apply(&fp, || fp, || stable_hash(key.as_str()), &update, limits);
                }
                !key.is_empty()
            }
        };
        self.has_baseline |= applied;
    }

    /// Adds counts a cluster aggregation found for `value` (`--es`): each is max-merged with what
    /// the input and the baseline show, because the cluster's documents include the input's.
    pub fn add_aggregate(&mut self, kind: Kind, value: &str, hosts: u64, processes: u64, events: u64) {
        let update = Update::Aggregate { hosts, processes, events };
        let limits = &self.limits;
        match kind {
            Kind::Domain => {
                if let Some(d) = domain_key(value) {
                    self.domains.apply(d.as_str(), || Box::from(d.as_str()), || stable_hash(d.as_str()), &update, limits);
                }
            }
            Kind::Address => {
                if let Some(ip) = address_key(value) {
                    self.addresses.apply(&ip, || ip, || stable_hash(&ip), &update, limits);
                }
            }
            Kind::Image => {
                let key = image_key(value);
                if !key.is_empty() {
                    self.images.apply(key.as_str(), || Box::from(key.as_str()), || stable_hash(key.as_str()), &update, limits);
                }
            }
            Kind::CommandLine => {
                let key = command_line_key(value);
                if !key.is_empty() {
                    let fp = fingerprint(&self.fingerprint, &key);
                    self.command_lines.apply(&fp, || fp, || stable_hash(key.as_str()), &update, limits);
                }
            }
        }
    }

    /// Sets the fleet's size from elsewhere (a cluster's distinct count of hosts); the larger of
    /// this and the hosts seen is the fleet.
    pub fn add_fleet_hosts(&mut self, hosts: u64) {
        self.fleet_floor = self.fleet_floor.max(hosts);
    }

    /// The fleet's size: distinct hosts of the input and the baseline, or the cluster's count
    /// when larger.
    pub fn fleet_hosts(&self) -> u64 {
        (self.hosts.len() as u64).max(self.fleet_floor)
    }

    /// Whether any baseline row was added (so a key without [`Seen::first_seen_before`] is new
    /// since the earlier runs).
    pub fn has_baseline(&self) -> bool {
        self.has_baseline
    }

    /// What is known about `value` of `kind`, normalised as it is counted (a domain may be any
    /// name under it: `www.example.com` finds `example.com`). `None` when nothing is.
    pub fn get(&self, kind: Kind, value: &str) -> Option<Seen> {
        match kind {
            Kind::Domain => {
                let d = domain_key(value)?;
                self.domains.seen(d.as_str(), || stable_hash(d.as_str()), self.hosts.len() as u64, self.fleet_hosts())
            }
            Kind::Address => self.get_address(address_key(value)?),
            Kind::Image => {
                let key = image_key(value);
                let mut seen = self.images.seen(key.as_str(), || stable_hash(key.as_str()), self.hosts.len() as u64, self.fleet_hosts())?;
                if let Some(&before) = self.image_names.get(file_name(&key)) {
                    let before = Timestamp(before);
                    seen.first_seen_before = Some(seen.first_seen_before.map_or(before, |b| b.min(before)));
                }
                Some(seen)
            }
            Kind::CommandLine => {
                let key = command_line_key(value);
                let fp = fingerprint(&self.fingerprint, &key);
                self.command_lines.seen(&fp, || stable_hash(key.as_str()), self.hosts.len() as u64, self.fleet_hosts())
            }
        }
    }

    /// What is known about an address.
    pub fn get_address(&self, ip: IpAddr) -> Option<Seen> {
        let ip = canonical_ip(ip);
        self.addresses.seen(&ip, || stable_hash(&ip), self.hosts.len() as u64, self.fleet_hosts())
    }

    /// Keys of `kind` with an exact entry (at most [`PrevalenceConfig::max_exact_keys`]).
    pub fn exact_keys(&self, kind: Kind) -> usize {
        match kind {
            Kind::Domain => self.domains.exact_keys(),
            Kind::Address => self.addresses.exact_keys(),
            Kind::Image => self.images.exact_keys(),
            Kind::CommandLine => self.command_lines.exact_keys(),
        }
    }

    /// Whether keys of `kind` went to the overflow sketch.
    pub fn overflowed(&self, kind: Kind) -> bool {
        match kind {
            Kind::Domain => self.domains.overflowed(),
            Kind::Address => self.addresses.overflowed(),
            Kind::Image => self.images.overflowed(),
            Kind::CommandLine => self.command_lines.overflowed(),
        }
    }

    /// An estimate of the bytes held (tables, keys, host and process sets, sketches), without
    /// the allocator's own overhead.
    pub fn memory_bytes(&self) -> usize {
        self.domains.bytes()
            + self.addresses.bytes()
            + self.images.bytes()
            + self.command_lines.bytes()
            + string_map_bytes(&self.hosts)
            + string_map_bytes(&self.raw_hosts)
            + string_map_bytes(&self.image_names)
    }

    /// The id of a host: a 32-bit hash of its [`host_key`] (not an arrival number, so that
    /// counts do not depend on the order hosts appear in), interned so the fleet is counted
    /// exactly; `None` for an empty key. Two hosts share an id with probability `n² / 2^33`
    /// (1 % at 13,000 hosts), which makes one key's count one host short.
    fn host_id(&mut self, raw: &str) -> Option<u32> {
        if let Some(&id) = self.raw_hosts.get(raw) {
            return id;
        }
        let key = host_key(raw);
        let id = if key.is_empty() {
            None
        } else {
            let id = fold32(stable_hash(key.as_str()));
            Some(*self.hosts.entry(key.into_boxed_str()).or_insert(id))
        };
        if self.raw_hosts.len() < RAW_HOST_CACHE {
            self.raw_hosts.insert(raw.into(), id);
        }
        id
    }
}

/// A process's id for distinct counts: a hash of the host and its `ProcessGuid` (or, without
/// one, its process id), folded to 32 bits (collisions among one key's processes are
/// negligible: 16 processes collide with probability 3 × 10^-8).
fn process_id(host: Option<u32>, process: &ProcessRef) -> Option<u32> {
    let host = host.unwrap_or(u32::MAX);
    let h = match (process.guid, process.pid) {
        (Some(guid), _) => stable_hash(&(host, guid.0)),
        (None, Some(pid)) => stable_hash(&(host, u8::MAX, pid)),
        (None, None) => return None,
    };
    Some(fold32(h))
}

fn fold32(h: u64) -> u32 {
    (h ^ (h >> 32)) as u32
}

/// Bytes of a map keyed by boxed strings: its slots and its keys' text.
fn string_map_bytes<V>(map: &HashMap<Box<str>, V, RandomState>) -> usize {
    table::slots(map.capacity()) * (std::mem::size_of::<(Box<str>, V)>() + 1) + map.keys().map(|k| k.len()).sum::<usize>()
}

/// A command line key's 128-bit fingerprint.
fn fingerprint(seeds: &[foldhash::quality::RandomState; 2], key: &str) -> [u64; 2] {
    [seeds[0].hash_one(key), seeds[1].hash_one(key)]
}

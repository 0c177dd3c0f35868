//! # lookup_without_connection
//!
//! **What:** a program that otherwise connects to what it resolves (at least
//! `min_connected_domains` domains whose answers it connected to) but, within one window of
//! `window_minutes` (default 60), resolves at least `min_unconnected_domains` (default 20)
//! distinct registered domains successfully and never connects to any of their addresses.
//! Reported per (host, program, window) as **low**, with examples.
//!
//! "Never" means anywhere in the data: connections are remembered per (host, program) for the
//! whole run, so a connection that arrives before or after its lookup (events come in any
//! order) still counts.
//!
//! Memory: per window at most 512 domains with 8 addresses each, at most `max_domains` domains
//! over all windows (about 240 bytes each) and `max_keys` windows; windows that ended well
//! before their host's latest event and resolved fewer than `min_unconnected_domains` domains
//! are dropped as the input is read (they can never be reported), so memory follows the busy
//! windows, not the length of the input. Past a bound, lookups are not remembered (and the run
//! says how many).
//!
//! **Why:** probing and reconnaissance (resolving a list of hosts to see which exist), DGA
//! malware walking generated domains that happen to resolve, and C2 that talks over DNS only
//! all resolve names they never use for a connection, unlike ordinary programs.
//!
//! **ATT&CK:** T1568.002 (Domain Generation Algorithms), T1590.002 (Gather Victim Network
//! Information: DNS), T1071.004 (DNS as C2).
//!
//! **False positives:** Sysmon configurations that log EID 3 for few programs (then nothing
//! connects and this detector stays quiet: it needs connected domains first), browsers'
//! DNS prefetching (many names resolved speculatively: browsers are in `ignored_processes`
//! by default), mail and security scanners resolving links and reputation names.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use dnshunt_core::{BoundReached, Detector, Event, EventKind, Finding, FindingSink, Severity, Timestamp};
use serde::Deserialize;

use crate::fast::{HashMap, HashSet};
use crate::stats::{domain_of, host, image_into, is_local_only, keep_earliest_timed, key_hash, to_keep};

/// Settings of the `lookup_without_connection` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LookupWithoutConnectionConfig {
    /// Window length in minutes. Default 60.
    pub window_minutes: i64,
    /// Distinct registered domains resolved and never connected to, per window. Default 20.
    pub min_unconnected_domains: usize,
    /// Domains a program must have connected to, to count as one that connects. Default 3.
    pub min_connected_domains: usize,
    /// Programs never reported (lower-case image names). Default: browsers (they prefetch),
    /// `svchost.exe` and `dns.exe`.
    pub ignored_processes: Vec<String>,
    /// (host, program, window) summaries kept. Default 100 000.
    pub max_keys: usize,
    /// Domains remembered over all windows, about 240 bytes each. Default 1 000 000.
    pub max_domains: usize,
    /// Connected (host, program, address) triples remembered, about 60 bytes each. Default
    /// 1 000 000.
    pub max_connected: usize,
}

impl Default for LookupWithoutConnectionConfig {
    fn default() -> Self {
        LookupWithoutConnectionConfig {
            window_minutes: 60,
            min_unconnected_domains: 20,
            min_connected_domains: 3,
            ignored_processes: [
                "chrome.exe",
                "msedge.exe",
                "firefox.exe",
                "brave.exe",
                "opera.exe",
                "iexplore.exe",
                "svchost.exe",
                "dns.exe",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
            max_keys: 100_000,
            max_domains: 1_000_000,
            max_connected: 1_000_000,
        }
    }
}

/// Addresses kept per domain and domains kept per window.
const MAX_ADDRESSES: usize = 8;
const MAX_DOMAINS: usize = 512;

#[derive(Debug, Default)]
struct Window {
    /// The window's start (minute) and its host's [`key_hash`]; the host and program are named
    /// from `first` at the end.
    start: i64,
    host_hash: u64,
    /// The [`key_hash`] of its program (host, image), which the connections are kept by.
    program: u64,
    /// By the domain's [`key_hash`]: the domain and its addresses.
    /// Both boxed to their length: a window holds hundreds of domains, most with an address or
    /// two that do not change from lookup to lookup.
    domains: HashMap<u64, (Box<str>, Box<[IpAddr]>)>,
    first: Option<Arc<Event>>,
    /// `first`'s time.
    first_time: Timestamp,
    last_time: Timestamp,
}

pub struct LookupWithoutConnection {
    config: LookupWithoutConnectionConfig,
    /// By the [`key_hash`] of (host, image, window start): a lookup compares no strings.
    windows: HashMap<u64, Window>,
    /// The latest minute seen per host (by the host's [`key_hash`]), and new windows since the
    /// last sweep.
    host_minute: HashMap<u64, i64>,
    created_since_sweep: usize,
    /// Addresses each program connected to, by the [`key_hash`] of (host, image).
    connected: HashMap<u64, HashSet<IpAddr>>,
    /// The image and the addresses of the event at hand (reused, not allocated per event).
    image_buf: String,
    addrs_buf: Vec<IpAddr>,
    n_connected: usize,
    /// Domains in all windows.
    n_domains: usize,
    /// Lookups not remembered: past `max_keys`, past `max_domains`; connections past
    /// `max_connected`.
    over_keys: u64,
    over_domains: u64,
    over_connected: u64,
}

impl LookupWithoutConnection {
    pub const NAME: &'static str = "lookup_without_connection";

    pub fn new(mut config: LookupWithoutConnectionConfig) -> LookupWithoutConnection {
        config.ignored_processes.iter_mut().for_each(|s| *s = s.to_lowercase());
        config.window_minutes = config.window_minutes.max(1);
        LookupWithoutConnection {
            config,
            windows: HashMap::default(),
            host_minute: HashMap::default(),
            created_since_sweep: 0,
            connected: HashMap::default(),
            image_buf: String::new(),
            addrs_buf: Vec::new(),
            n_connected: 0,
            n_domains: 0,
            over_keys: 0,
            over_domains: 0,
            over_connected: 0,
        }
    }
}

impl LookupWithoutConnection {
    /// Drops finished windows (well behind their host's latest event) that resolved too few
    /// domains to ever be reported: whatever connections arrive later, they cannot fire.
    fn sweep(&mut self) {
        let w = self.config.window_minutes;
        let min = self.config.min_unconnected_domains;
        let host_minute = &self.host_minute;
        let n_domains = &mut self.n_domains;
        self.windows.retain(|_, win| {
            let keep = win.domains.len() >= min || host_minute.get(&win.host_hash).is_none_or(|&latest| win.start + 3 * w >= latest);
            if !keep {
                *n_domains -= win.domains.len();
            }
            keep
        });
    }
}

impl LookupWithoutConnection {
    /// Looks at an event; `shared` is the engine's shared copy of it.
    fn observe_with(&mut self, event: &Event, shared: Option<&Arc<Event>>) {
        let mut img = std::mem::take(&mut self.image_buf);
        image_into(event, &mut img);
        if !self.config.ignored_processes.contains(&img) {
            match &event.kind {
                EventKind::DnsQuery(q) => {
                    let mut addrs = std::mem::take(&mut self.addrs_buf);
                    addrs.clear();
                    addrs.extend(q.addresses().filter(|ip| !is_local_only(*ip)).take(MAX_ADDRESSES));
                    if !addrs.is_empty() && q.status.is_success() {
                        self.lookup(event, shared, q, &img, &addrs);
                    }
                    self.addrs_buf = addrs;
                }
                EventKind::NetworkConnect(n) => self.connection(event, n, &img),
                _ => {}
            }
        }
        self.image_buf = img;
    }

    /// A successful lookup of `img` with `addrs` (not local-only).
    fn lookup(&mut self, event: &Event, shared: Option<&Arc<Event>>, q: &dnshunt_core::DnsQuery, img: &str, addrs: &[IpAddr]) {
        let w = self.config.window_minutes;
        let start = event.time.0.div_euclid(60_000).div_euclid(w) * w;
        let h = host(event);
        let host_hash = key_hash(h);
        let minute = event.time.0.div_euclid(60_000);
        let latest = self.host_minute.entry(host_hash).or_insert(minute);
        *latest = (*latest).max(minute);
        let key = key_hash((h, img, start));
        if !self.windows.contains_key(&key) {
            self.created_since_sweep += 1;
            if self.created_since_sweep >= 4096 {
                self.created_since_sweep = 0;
                self.sweep();
            }
            if self.windows.len() >= self.config.max_keys {
                self.over_keys += 1;
                return;
            }
            self.windows.insert(
                key,
                Window {
                    start,
                    host_hash,
                    program: key_hash((h, img)),
                    ..Window::default()
                },
            );
        }
        let window = self.windows.get_mut(&key).expect("the window was just found or made");
        let domain = domain_of(&q.query);
        let domain_hash = key_hash(domain);
        let known = if window.domains.contains_key(&domain_hash) {
            window.domains.get_mut(&domain_hash).map(|(_, addrs)| addrs)
        } else if window.domains.len() >= MAX_DOMAINS {
            None
        } else if self.n_domains >= self.config.max_domains {
            self.over_domains += 1;
            None
        } else {
            self.n_domains += 1;
            Some(&mut window.domains.entry(domain_hash).or_insert_with(|| (domain.into(), Box::default())).1)
        };
        if let Some(known) = known {
            if known.len() < MAX_ADDRESSES && addrs.iter().any(|ip| !known.contains(ip)) {
                let mut all = Vec::with_capacity((known.len() + addrs.len()).min(MAX_ADDRESSES));
                all.extend_from_slice(known);
                for &ip in addrs {
                    if all.len() < MAX_ADDRESSES && !all.contains(&ip) {
                        all.push(ip);
                    }
                }
                *known = all.into_boxed_slice();
            }
        }
        keep_earliest_timed(&mut window.first, &mut window.first_time, event, || to_keep(event, shared));
        window.last_time = window.last_time.max(event.time);
    }

    /// A connection of `img`.
    fn connection(&mut self, event: &Event, n: &dnshunt_core::NetworkConnect, img: &str) {
        let Some(ip) = n.destination_ip else { return };
        if n.initiated == Some(false) {
            return;
        }
        if self.n_connected >= self.config.max_connected {
            self.over_connected += 1;
            return;
        }
        if self.connected.entry(key_hash((host(event), img))).or_default().insert(ip) {
            self.n_connected += 1;
        }
    }
}

impl Detector for LookupWithoutConnection {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn observe(&mut self, event: &Event, _out: &mut Vec<Finding>) {
        self.observe_with(event, None);
    }

    fn observe_shared(&mut self, event: &Arc<Event>, _out: &mut Vec<Finding>) {
        self.observe_with(event, Some(event));
    }

    fn finish(&mut self, out: &mut dyn FindingSink) {
        // Each window with the hash of its program (host, image).
        let windows: Vec<(u64, Window)> = self.windows.drain().filter(|(_, w)| w.first.is_some()).map(|(_, w)| (w.program, w)).collect();
        // Domains each program connected to, over all windows.
        let mut connected_domains: HashMap<u64, BTreeSet<String>> = HashMap::default();
        for (program, w) in &windows {
            let Some(ips) = self.connected.get(program) else { continue };
            for (domain, addrs) in w.domains.values() {
                if addrs.iter().any(|ip| ips.contains(ip)) {
                    connected_domains.entry(*program).or_default().insert(domain.to_string());
                }
            }
        }
        // Only a window with enough domains can be reported: only those are named and sorted.
        let mut windows: Vec<((String, String, i64), u64, Window)> = windows
            .into_iter()
            .filter(|(_, w)| w.domains.len() >= self.config.min_unconnected_domains)
            .filter_map(|(program, w)| {
                let first = w.first.as_deref()?;
                let mut img = String::new();
                image_into(first, &mut img);
                Some(((host(first).to_owned(), img, w.start), program, w))
            })
            .collect();
        windows.sort_by(|a, b| a.0.cmp(&b.0));
        for ((_, img, start), program, w) in windows {
            let n_connected = connected_domains.get(&program).map_or(0, BTreeSet::len);
            if n_connected < self.config.min_connected_domains {
                continue;
            }
            let empty = HashSet::default();
            let ips = self.connected.get(&program).unwrap_or(&empty);
            let mut unconnected: Vec<&str> = w
                .domains
                .values()
                .filter(|(_, addrs)| !addrs.iter().any(|ip| ips.contains(ip)))
                .map(|(d, _)| &**d)
                .collect();
            if unconnected.len() < self.config.min_unconnected_domains {
                continue;
            }
            unconnected.sort();
            let Some(first) = w.first else { continue };
            let shown = if img.is_empty() { "an unknown process" } else { &img };
            let examples: Vec<&str> = unconnected.iter().take(5).copied().collect();
            let explanation = format!(
                "{shown} resolved {} domains in {} minutes and never connected to any of their addresses (e.g. {}), although it connects to what it resolves otherwise ({n_connected} domains): probing, DGA walking or DNS-only C2",
                unconnected.len(),
                self.config.window_minutes,
                examples.join(", ")
            );
            let start_ms = start * 60_000;
            let mut f = Finding::from_event(Self::NAME, Severity::Low, 35, &first, &[&img, &start_ms.to_string()], explanation)
                .with_attack(&["T1568.002", "T1590.002", "T1071.004"])
                .with_detail("unconnected_domains", unconnected.len())
                .with_detail("connected_domains", n_connected)
                .with_detail("examples", examples)
                .with_detail("window_start", Timestamp(start_ms).to_string());
            f.count = unconnected.len() as u64;
            f.time_last = w.last_time.max(f.time);
            out.push(f);
        }
        self.connected.clear();
    }

    fn bounds_reached(&self) -> Vec<BoundReached> {
        BoundReached::all([
            BoundReached::of(Self::NAME, "max_keys", self.config.max_keys, self.over_keys),
            BoundReached::of(Self::NAME, "max_domains", self.config.max_domains, self.over_domains),
            BoundReached::of(Self::NAME, "max_connected", self.config.max_connected, self.over_connected),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{run, short_image, Proc, Rng, T0};

    fn connects(p: &Proc, n: i64) -> Vec<Event> {
        (0..n)
            .flat_map(|i| {
                let ip = format!("198.18.{}.1", 10 + i);
                [
                    p.dns(T0 + i * 1000, &format!("api.example-saas{i}.com"), &format!("::ffff:{ip};"), 0),
                    p.net(T0 + i * 1000 + 30, "tcp", &ip, 443),
                ]
            })
            .collect()
    }

    #[track_caller]
    fn check(events: &[Event], expected: &[&str]) {
        let mut events = events.to_vec();
        Rng::new(1).shuffle(&mut events);
        let findings = run(&mut LookupWithoutConnection::new(LookupWithoutConnectionConfig::default()), &events);
        let got: Vec<String> = findings.iter().map(|f| short_image(f).to_owned()).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn probing_many_domains_without_connecting_is_found() {
        let p = Proc::new("H", "C:\\Users\\u\\AppData\\Local\\Temp\\probe.exe", 1);
        let mut events = connects(&p, 3);
        events.extend((0..25).map(|i| p.dns(T0 + 60_000 + i * 500, &format!("host{i}.target-{i}.com"), &format!("::ffff:198.51.100.{i};"), 0)));
        check(&events, &["probe.exe"]);
    }

    #[test]
    fn few_unused_lookups_or_programs_that_never_connect_are_quiet() {
        let p = Proc::new("H", "C:\\x\\app.exe", 1);
        let mut events = connects(&p, 5);
        events.extend((0..5).map(|i| p.dns(T0 + 60_000 + i * 500, &format!("host{i}.target-{i}.com"), &format!("::ffff:198.51.100.{i};"), 0)));
        // A program with no connections at all (e.g. EID 3 not logged for it).
        let q = Proc::new("H", "C:\\x\\quiet.exe", 2);
        events.extend((0..40).map(|i| q.dns(T0 + i * 500, &format!("n{i}.site-{i}.com"), &format!("::ffff:198.51.100.{i};"), 0)));
        check(&events, &[]);
    }
}

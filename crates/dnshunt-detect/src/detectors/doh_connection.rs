//! # doh_connection
//!
//! **What:** DNS over HTTPS seen from the endpoint: (1) a lookup (EID 22) of a known DoH
//! endpoint (`mozilla.cloudflare-dns.com`, `dns.google`, ...) followed by HTTPS connections
//! (EID 3, port 443) to the addresses it resolved to, by the same program on the same host;
//! (2) port-443 connections to well-known DoH resolver addresses (`1.1.1.1`, `8.8.8.8`,
//! `9.9.9.9`, ...) with no lookup at all. The built-in lists of endpoints and addresses are
//! extended with `extra_hosts` and `extra_addresses`.
//!
//! Severity: a browser (or the Windows DNS client) using DoH is a **low** policy finding: its
//! lookups leave the sanctioned resolvers and vanish from EID 22, as the seed's Firefox showed.
//! Any other program doing DoH after a lookup of the endpoint is **high**; any other program
//! connecting to a DoH address without a lookup is **medium** (a DoH client with a hard-coded
//! address, or ordinary HTTPS to a host that shares the address).
//!
//! Matching is per (host, image) rather than per process instance: lookups and connections of
//! one program are joined even across restarts, and the state does not grow with the number of
//! processes. Events may arrive in any order: everything is judged at the end.
//!
//! **Why:** DoH hides the names a program resolves inside HTTPS, so neither the resolver's logs
//! nor Sysmon EID 22 show them; implants use it for C2 and to resolve C2 names unseen (e.g.
//! Godlua, PsiXBot, DoHC2).
//!
//! **ATT&CK:** T1071.001 (Web Protocols) with T1572 (Protocol Tunneling) and T1568 (Dynamic
//! Resolution).
//!
//! **False positives:** browsers with DoH enabled (low by default), security agents that use
//! DoH by design, ordinary HTTPS to a service sharing an address with a DoH resolver
//! (`8.8.8.8:443` also serves a web page). Add such programs to `allowed_processes`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use dnshunt_core::{BoundReached, Detector, Event, EventKind, Finding, FindingSink, Severity};
use serde::Deserialize;

use crate::fast::{HashMap, HashSet};
use crate::stats::{host, image, keep_earliest};

/// DoH endpoints (a name or any name below it), compiled in.
pub(crate) const DOH_HOSTS: &[&str] = &[
    "dns.google",
    "cloudflare-dns.com",
    "one.one.one.one",
    "dns.quad9.net",
    "dns9.quad9.net",
    "dns10.quad9.net",
    "dns11.quad9.net",
    "doh.opendns.com",
    "doh.familyshield.opendns.com",
    "dns.adguard.com",
    "dns.adguard-dns.com",
    "dns-unfiltered.adguard.com",
    "doh.cleanbrowsing.org",
    "dns.nextdns.io",
    "doh.dns.sb",
    "dns.alidns.com",
    "doh.pub",
    "doh.360.cn",
    "dns.twnic.tw",
    "doh.mullvad.net",
    "dns.mullvad.net",
    "dns0.eu",
    "ordns.he.net",
    "doh.libredns.gr",
    "dns.controld.com",
    "freedns.controld.com",
    "doh.xfinity.com",
    "dns.switch.ch",
    "odvr.nic.cz",
    "doh.applied-privacy.net",
    "private.canadianshield.cira.ca",
    "protected.canadianshield.cira.ca",
    "family.canadianshield.cira.ca",
];

/// Well-known public DoH resolver addresses, compiled in.
pub(crate) const DOH_ADDRESSES: &[&str] = &[
    // Cloudflare
    "1.1.1.1",
    "1.0.0.1",
    "1.1.1.2",
    "1.0.0.2",
    "1.1.1.3",
    "1.0.0.3",
    "2606:4700:4700::1111",
    "2606:4700:4700::1001",
    "2606:4700:4700::1112",
    "2606:4700:4700::1002",
    "2606:4700:4700::1113",
    "2606:4700:4700::1003",
    // Google
    "8.8.8.8",
    "8.8.4.4",
    "2001:4860:4860::8888",
    "2001:4860:4860::8844",
    // Quad9
    "9.9.9.9",
    "149.112.112.112",
    "9.9.9.10",
    "149.112.112.10",
    "9.9.9.11",
    "149.112.112.11",
    "2620:fe::fe",
    "2620:fe::9",
    "2620:fe::10",
    "2620:fe::fe:10",
    "2620:fe::11",
    // OpenDNS
    "208.67.222.222",
    "208.67.220.220",
    "146.112.41.2",
    "2620:119:35::35",
    "2620:119:53::53",
    // AdGuard
    "94.140.14.14",
    "94.140.15.15",
    "94.140.14.140",
    "94.140.14.141",
    "2a10:50c0::ad1:ff",
    "2a10:50c0::ad2:ff",
    // CleanBrowsing
    "185.228.168.168",
    "185.228.169.168",
    "185.228.168.9",
    "185.228.169.9",
    // NextDNS, ControlD, DNS.SB, AliDNS, Mullvad, Hurricane Electric
    "45.90.28.0",
    "45.90.30.0",
    "76.76.2.0",
    "76.76.10.0",
    "185.222.222.222",
    "45.11.45.11",
    "223.5.5.5",
    "223.6.6.6",
    "194.242.2.2",
    "74.82.42.42",
];

/// Settings of the `doh_connection` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DohConnectionConfig {
    /// More DoH endpoint names (each also matches the names below it).
    pub extra_hosts: Vec<String>,
    /// More DoH resolver addresses.
    pub extra_addresses: Vec<IpAddr>,
    /// Programs whose DoH is a policy matter, reported as low (lower-case image names).
    /// Default: common browsers and `svchost.exe` (the Windows DNS client can use DoH).
    pub browsers: Vec<String>,
    /// Programs never reported (lower-case image names). Default: none.
    pub allowed_processes: Vec<String>,
    /// Destination ports of DoH. Default: 443.
    pub ports: Vec<u16>,
    /// Most (host, program, address) connection summaries and (host, program, name) lookups
    /// remembered; more are dropped.
    pub max_keys: usize,
}

impl Default for DohConnectionConfig {
    fn default() -> Self {
        DohConnectionConfig {
            extra_hosts: Vec::new(),
            extra_addresses: Vec::new(),
            browsers: ["firefox.exe", "chrome.exe", "msedge.exe", "brave.exe", "opera.exe", "vivaldi.exe", "svchost.exe"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            allowed_processes: Vec::new(),
            ports: vec![443],
            max_keys: 200_000,
        }
    }
}

#[derive(Debug, Default)]
struct Lookup {
    addresses: BTreeSet<IpAddr>,
    count: u64,
    first: Option<Event>,
}

#[derive(Debug, Default)]
struct Conn {
    count: u64,
    first: Option<Event>,
    last_time: dnshunt_core::Timestamp,
}

/// (host, program image, DoH endpoint name).
type ProgramName = (String, String, String);

/// Max addresses remembered per DoH lookup key.
const MAX_ADDRESSES: usize = 64;

pub struct DohConnection {
    config: DohConnectionConfig,
    hosts: HashSet<String>,
    addresses: HashSet<IpAddr>,
    /// (host, image) → DoH name → what it resolved to.
    lookups: HashMap<(String, String), BTreeMap<String, Lookup>>,
    /// (host, image, address) → connections to it.
    conns: HashMap<(String, String, IpAddr), Conn>,
    dropped: u64,
}

impl DohConnection {
    pub const NAME: &'static str = "doh_connection";

    pub fn new(mut config: DohConnectionConfig) -> DohConnection {
        let hosts = DOH_HOSTS
            .iter()
            .map(|s| (*s).to_owned())
            .chain(config.extra_hosts.iter().map(|h| h.trim().trim_end_matches('.').to_lowercase()))
            .collect();
        let addresses = DOH_ADDRESSES.iter().filter_map(|s| s.parse().ok()).chain(config.extra_addresses.iter().copied()).collect();
        for list in [&mut config.browsers, &mut config.allowed_processes] {
            list.iter_mut().for_each(|s| *s = s.to_lowercase());
        }
        DohConnection {
            config,
            hosts,
            addresses,
            lookups: HashMap::default(),
            conns: HashMap::default(),
            dropped: 0,
        }
    }

    fn is_doh_name(&self, name: &dnshunt_core::DnsName) -> bool {
        name.self_and_parents().any(|n| self.hosts.contains(n))
    }
}

impl Detector for DohConnection {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn bounds_reached(&self) -> Vec<BoundReached> {
        BoundReached::all([BoundReached::of(Self::NAME, "max_keys", self.config.max_keys, self.dropped)])
    }

    fn observe(&mut self, event: &Event, _out: &mut Vec<Finding>) {
        match &event.kind {
            EventKind::DnsQuery(q) => {
                if !self.is_doh_name(&q.query) {
                    return;
                }
                let key = (host(event).to_owned(), image(event));
                let Some(lookups) = crate::fast::bounded_entry(&mut self.lookups, key, self.config.max_keys, BTreeMap::new) else {
                    self.dropped += 1;
                    return;
                };
                let lookup = lookups.entry(q.query.as_str().to_owned()).or_default();
                lookup.count += 1;
                for ip in q.addresses() {
                    if lookup.addresses.len() < MAX_ADDRESSES {
                        lookup.addresses.insert(ip);
                    }
                }
                keep_earliest(&mut lookup.first, event);
            }
            EventKind::NetworkConnect(n) => {
                let (Some(ip), Some(port)) = (n.destination_ip, n.destination_port) else { return };
                if !self.config.ports.contains(&port) || n.initiated == Some(false) {
                    return;
                }
                let key = (host(event).to_owned(), image(event), ip);
                if !self.conns.contains_key(&key) && self.conns.len() >= self.config.max_keys {
                    self.dropped += 1;
                    return;
                }
                let conn = self.conns.entry(key).or_default();
                conn.count += 1;
                keep_earliest(&mut conn.first, event);
                conn.last_time = conn.last_time.max(event.time);
            }
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut dyn FindingSink) {
        let mut conns: Vec<(&(String, String, IpAddr), &Conn)> = self.conns.iter().collect();
        conns.sort_by(|a, b| a.0.cmp(b.0));
        // (host, image, DoH name) → connections to its addresses.
        let mut after_lookup: BTreeMap<ProgramName, Vec<(IpAddr, &Conn)>> = BTreeMap::new();
        for ((h, img, ip), conn) in conns {
            if self.config.allowed_processes.contains(img) {
                continue;
            }
            let via = self
                .lookups
                .get(&(h.clone(), img.clone()))
                .and_then(|names| names.iter().find(|(_, l)| l.addresses.contains(ip)).map(|(n, _)| n.clone()));
            if let Some(name) = via {
                after_lookup.entry((h.clone(), img.clone(), name)).or_default().push((*ip, conn));
                continue;
            }
            if !self.addresses.contains(ip) {
                continue;
            }
            let Some(first) = &conn.first else { continue };
            let browser = self.config.browsers.contains(img);
            let (severity, score) = if browser { (Severity::Low, 30) } else { (Severity::Medium, 60) };
            let shown = if img.is_empty() { "an unknown process" } else { img };
            let explanation = format!(
                "{shown} made {} to {ip}, a well-known DNS-over-HTTPS resolver, without looking any name up: DNS over HTTPS to a hard-coded address bypasses the sanctioned resolvers and EID 22",
                crate::stats::counted(conn.count, "HTTPS connection", "HTTPS connections")
            );
            let mut f = Finding::from_event(Self::NAME, severity, score, first, &[img, "address", &ip.to_string()], explanation)
                .with_attack(&["T1071.001", "T1572"])
                .with_detail("kind", "doh_address_without_lookup")
                .with_detail("address", ip.to_string())
                .with_detail("browser", browser);
            f.count = conn.count;
            f.time_last = conn.last_time.max(f.time);
            out.push(f);
        }
        for ((h, img, name), hits) in after_lookup {
            let Some(lookup) = self.lookups.get(&(h.clone(), img.clone())).and_then(|n| n.get(&name)) else {
                continue;
            };
            let Some(first_lookup) = &lookup.first else { continue };
            let browser = self.config.browsers.contains(&img);
            let (severity, score) = if browser { (Severity::Low, 30) } else { (Severity::High, 80) };
            let n_conns: u64 = hits.iter().map(|(_, c)| c.count).sum();
            let addrs: Vec<String> = hits.iter().map(|(ip, _)| ip.to_string()).collect();
            let shown = if img.is_empty() { "an unknown process" } else { &img };
            let who = if browser {
                format!("{shown} uses DNS over HTTPS")
            } else {
                format!("{shown}, which is not a browser, uses DNS over HTTPS")
            };
            let explanation = format!(
                "{who}: it looked up the DoH endpoint {name} and then made {} to {} {}; its lookups go to that resolver, not the sanctioned ones, and no longer appear as EID 22",
                crate::stats::counted(n_conns, "HTTPS connection", "HTTPS connections"),
                if addrs.len() == 1 { "its address" } else { "its addresses" },
                addrs.join(", ")
            );
            let mut f = Finding::from_event(Self::NAME, severity, score, first_lookup, &[&img, "lookup", &name], explanation)
                .with_attack(&["T1071.001", "T1572", "T1568"])
                .with_detail("kind", "doh_after_lookup")
                .with_detail("doh_endpoint", name.clone())
                .with_detail("addresses", addrs)
                .with_detail("browser", browser);
            f.count = lookup.count + n_conns;
            let mut evidence: Vec<Event> = hits.iter().filter_map(|(_, c)| c.first.clone()).collect();
            evidence.sort_by_key(|e| e.time);
            evidence.truncate(4);
            f.time_last = hits.iter().map(|(_, c)| c.last_time).max().unwrap_or(f.time).max(f.time);
            f.time = hits.iter().filter_map(|(_, c)| c.first.as_ref().map(|e| e.time)).min().unwrap_or(f.time).min(f.time);
            f.evidence.extend(evidence);
            out.push(f);
        }
        self.conns.clear();
        self.lookups.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{run, short_image, Proc, Rng, T0};

    #[track_caller]
    fn check(events: &[Event], expected: &[(&str, &str, Severity)]) {
        let mut events = events.to_vec();
        for seed in 1..4 {
            Rng::new(seed).shuffle(&mut events);
            let findings = run(&mut DohConnection::new(DohConnectionConfig::default()), &events);
            let mut got: Vec<(String, String, Severity)> = findings
                .iter()
                .map(|f| (short_image(f).to_lowercase(), f.details["kind"].as_str().unwrap_or("").to_owned(), f.severity))
                .collect();
            got.sort();
            let want: Vec<(String, String, Severity)> = expected.iter().map(|(i, k, s)| ((*i).to_owned(), (*k).to_owned(), *s)).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn seed_firefox_doh_is_found_as_policy() {
        // The seed: one EID 22 for the DoH server, then TCP 443 to its address.
        let firefox = Proc::new("WIN10-LAB.example.local", "C:\\Program Files\\Mozilla Firefox\\firefox.exe", 6528);
        let events = vec![
            firefox.dns(T0, "mozilla.cloudflare-dns.com", "::ffff:104.16.248.249;::ffff:104.16.249.249;", 0),
            firefox.net(T0 + 1862, "tcp", "104.16.248.249", 443),
        ];
        check(&events, &[("firefox.exe", "doh_after_lookup", Severity::Low)]);
        let f = &run(&mut DohConnection::new(DohConnectionConfig::default()), &events)[0];
        assert_eq!(f.details["doh_endpoint"], "mozilla.cloudflare-dns.com");
        assert_eq!(f.count, 2);
        assert_eq!(f.evidence.len(), 2);
    }

    #[test]
    fn implant_doh_after_lookup_and_hard_coded_address() {
        let rundll = Proc::new("WS-ACCT-07", "C:\\Windows\\System32\\rundll32.exe", 10032);
        let tool = Proc::new("WS-ACCT-07", "C:\\Users\\k.sato\\Downloads\\tool.exe", 11208);
        let events = vec![
            rundll.dns(T0, "dns.google", "::ffff:8.8.8.8;::ffff:8.8.4.4;2001:4860:4860::8888;", 0),
            rundll.net(T0 + 247, "tcp", "8.8.8.8", 443),
            tool.net(T0 + 500, "tcp", "1.1.1.1", 443),
            tool.net(T0 + 900, "tcp", "1.1.1.1", 443),
        ];
        check(
            &events,
            &[
                ("rundll32.exe", "doh_after_lookup", Severity::High),
                ("tool.exe", "doh_address_without_lookup", Severity::Medium),
            ],
        );
    }

    #[test]
    fn ordinary_https_and_unused_lookups_are_quiet() {
        let chrome = Proc::new("H", "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", 1);
        let app = Proc::new("H", "C:\\Program Files\\App\\app.exe", 2);
        let events = vec![
            // A site behind Cloudflare shares addresses with nothing in the DoH list.
            chrome.dns(T0, "www.example-shop.com", "::ffff:104.16.248.249;", 0),
            chrome.net(T0 + 100, "tcp", "104.16.248.249", 443),
            // A DoH endpoint looked up but never connected to.
            app.dns(T0, "dns.google", "::ffff:8.8.8.8;", 0),
            // Plain DNS to 8.8.8.8 is resolver_bypass's business, not DoH.
            app.net(T0 + 50, "udp", "8.8.8.8", 53),
            // Another program connecting to the address another program resolved.
            Proc::new("H", "C:\\x\\other.exe", 3).net(T0 + 60, "tcp", "104.16.249.249", 443),
        ];
        check(&events, &[]);
    }
}

//! # resolver_bypass
//!
//! **What:** network connections (EID 3) to port 53 or 853 (DNS, DNS over TLS; UDP or TCP) from
//! any process other than the system's DNS client, ranked by where they go:
//! - to **one of this fleet's resolvers** (learned from the data, or `resolvers` in the config):
//!   **info**, a program with its own resolver (Electron and Chromium apps such as chat clients
//!   and editors; `lsass.exe` and `dfsrs.exe` on domain controllers registering their records);
//! - to a **well-known public resolver** (`public_resolvers`: Google, Cloudflare, Quad9,
//!   OpenDNS, AdGuard, ...): **medium**, its lookups escape the fleet's resolvers;
//! - to **anything else** (an unknown public or private server): **high**.
//!
//! When the process made no lookup through the Windows DNS client at all, the finding says
//! **DNS traffic without DNS events**: its queries are invisible to Sysmon EID 22 (the seed's
//! `nslookup` and `dnscat2` cases). Such a program running from a user-writable folder
//! (Downloads, Desktop, a Temp folder, `Users\Public`, the root of `ProgramData`) is one step
//! more severe: high to a public resolver, medium even to one of the fleet's resolvers (a DNS
//! tunnel through the corporate resolver looks like this). DNS admin tools (`dns_tools`:
//! `nslookup.exe`, ...) are one step less severe: info to a resolver, low to a public one,
//! medium elsewhere (low when no resolver is known at all). The DNS client itself
//! (`dns_client_images`) is flagged only when `resolvers` are configured and it talks to a
//! server outside them (**medium**: the endpoint's resolver settings may have been changed).
//!
//! **Resolvers learned from the data**, judged at the end so the order of events does not
//! matter:
//! - every server the DNS client (`svchost.exe`: EID 3 names only the image; an EID 1 with
//!   `-s Dnscache` confirms the DNS Client service) sends port 53/853 to, for its host and for
//!   the whole fleet;
//! - a non-public address that at least `learn_min_programs` distinct programs, or at least
//!   `learn_min_hosts` hosts, send DNS to (public addresses are learned only from the DNS
//!   client, so a tool deployed on many hosts does not make `8.8.8.8` a resolver);
//! - loopback (`::1`, `127.0.0.1`) and the host's own address on a host that runs a DNS server
//!   (`dns_server_images`) or is a domain controller (`dc_images`, or `lsass.exe` accepting
//!   Kerberos or LDAP connections). Loopback and own addresses count for their host only.
//!
//! The explanation says which of these made the server a resolver.
//!
//! **Why:** tools with their own DNS stack (DNS tunnels such as dnscat2 and iodine, implants
//! with a hard-coded resolver, DNS-based C2) bypass the resolvers that log and filter, and the
//! endpoint's DNS log never shows their queries. Connections to port 53 are then the only trace.
//!
//! **ATT&CK:** T1071.004 (Application Layer Protocol: DNS), T1572 (Protocol Tunneling),
//! T1568 (Dynamic Resolution) for DNS over TLS.
//!
//! **False positives:** admin tools (`nslookup`, `Resolve-DnsName -Server`) pointed at another
//! server, VPN clients and browsers with their own public resolver, local DNS proxies on hosts
//! whose DNS client does not use them, resolvers that only one program on one host talks to
//! (name them in `resolvers`). DNS servers (`dns.exe`) talk to other servers by design and are
//! never flagged; add other servers and forwarders to `dns_server_images`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use dnshunt_core::{BoundReached, Detector, Event, EventKind, Finding, FindingSink, Guid, Severity};
use serde::Deserialize;

use crate::fast::{HashMap, HashSet};
use crate::stats::{host, image_into, is_public, keep_earliest, keep_latest, user_writable_folder, Network, PairCounts, StrPair};

/// Settings of the `resolver_bypass` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ResolverBypassConfig {
    /// This fleet's resolvers: addresses or CIDR networks (`10.0.0.53`, `10.20.0.0/24`,
    /// `fd00:53::/64`), in addition to those learned from the data. DNS to them is info; the
    /// DNS client talking to any other server is medium. Entries that are neither an address nor
    /// a network are ignored. Default: none.
    pub resolvers: Vec<String>,
    /// Well-known public resolvers (addresses or networks): a program's own DNS to one of them
    /// is medium. Default: Google, Cloudflare, Quad9, OpenDNS, AdGuard, CleanBrowsing, Level3,
    /// Verisign, Comodo, Yandex, DNS.SB, AliDNS, NextDNS, ControlD, Mullvad, Hurricane Electric.
    pub public_resolvers: Vec<String>,
    /// Image names of the system DNS client (lower case). Default: `svchost.exe`.
    pub dns_client_images: Vec<String>,
    /// Image names of DNS servers and forwarders, never flagged; a host running one is its own
    /// resolver. Default: `dns.exe`.
    pub dns_server_images: Vec<String>,
    /// Image names that run only on domain controllers: a host running one resolves through
    /// itself. Default: `dfsrs.exe`, `ntfrs.exe`, `ismserv.exe`,
    /// `microsoft.activedirectory.webservices.exe`.
    pub dc_images: Vec<String>,
    /// Admin tools that speak DNS themselves; one step less severe.
    /// Default: `nslookup.exe`, `dig.exe`, `kdig.exe`, `drill.exe`, `host.exe`.
    pub dns_tools: Vec<String>,
    /// Destination ports that carry DNS. Default: 53 and 853 (DNS over TLS).
    pub ports: Vec<u16>,
    /// A non-public address that at least this many distinct programs send DNS to is a
    /// resolver of the fleet. Default 3.
    pub learn_min_programs: usize,
    /// A non-public address that at least this many hosts send DNS to is a resolver of the
    /// fleet. Default 2.
    pub learn_min_hosts: usize,
    /// Most (host, process, server) combinations remembered; more are counted and dropped.
    pub max_keys: usize,
}

impl Default for ResolverBypassConfig {
    fn default() -> Self {
        ResolverBypassConfig {
            resolvers: Vec::new(),
            public_resolvers: PUBLIC_RESOLVERS.iter().map(|s| (*s).to_owned()).collect(),
            dns_client_images: vec!["svchost.exe".into()],
            dns_server_images: vec!["dns.exe".into()],
            dc_images: ["dfsrs.exe", "ntfrs.exe", "ismserv.exe", "microsoft.activedirectory.webservices.exe"]
                .map(str::to_owned)
                .to_vec(),
            dns_tools: ["nslookup.exe", "dig.exe", "kdig.exe", "drill.exe", "host.exe"].map(str::to_owned).to_vec(),
            ports: vec![53, 853],
            learn_min_programs: 3,
            learn_min_hosts: 2,
            max_keys: 100_000,
        }
    }
}

/// Well-known public resolvers (plain DNS and DNS over TLS), the default `public_resolvers`.
const PUBLIC_RESOLVERS: &[&str] = &[
    // Google
    "8.8.8.8",
    "8.8.4.4",
    "2001:4860:4860::8888",
    "2001:4860:4860::8844",
    // Cloudflare
    "1.1.1.1",
    "1.0.0.1",
    "1.1.1.2",
    "1.0.0.2",
    "1.1.1.3",
    "1.0.0.3",
    "2606:4700:4700::/48",
    // Quad9
    "9.9.9.9",
    "9.9.9.10",
    "9.9.9.11",
    "149.112.112.112",
    "149.112.112.10",
    "149.112.112.11",
    "2620:fe::/48",
    // OpenDNS
    "208.67.222.222",
    "208.67.220.220",
    "208.67.222.123",
    "208.67.220.123",
    "2620:119:35::35",
    "2620:119:53::53",
    // AdGuard
    "94.140.14.14",
    "94.140.15.15",
    "94.140.14.15",
    "94.140.15.16",
    "94.140.14.140",
    "94.140.14.141",
    "2a10:50c0::/32",
    // CleanBrowsing
    "185.228.168.0/24",
    "185.228.169.0/24",
    // Level3 / Lumen, Verisign, Comodo, Yandex, DNS.WATCH, Neustar/UltraDNS
    "4.2.2.1",
    "4.2.2.2",
    "4.2.2.3",
    "4.2.2.4",
    "4.2.2.5",
    "4.2.2.6",
    "64.6.64.6",
    "64.6.65.6",
    "8.26.56.26",
    "8.20.247.20",
    "77.88.8.8",
    "77.88.8.1",
    "84.200.69.80",
    "84.200.70.40",
    "156.154.70.1",
    "156.154.71.1",
    // NextDNS, ControlD, DNS.SB, AliDNS, Mullvad, Hurricane Electric
    "45.90.28.0/24",
    "45.90.30.0/24",
    "76.76.2.0/24",
    "76.76.10.0/24",
    "185.222.222.222",
    "45.11.45.11",
    "223.5.5.5",
    "223.6.6.6",
    "194.242.2.0/24",
    "74.82.42.42",
];

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Key {
    host: String,
    image: String,
    ip: IpAddr,
    port: u16,
    protocol: String,
}

#[derive(Debug, Default)]
struct Summary {
    count: u64,
    first: Option<Event>,
    last: Option<Event>,
    /// The server is the host's own address (source and destination are the same).
    to_self: bool,
    /// Processes of the DNS client that made these connections (a few), to tell Dnscache.
    guids: BTreeSet<Guid>,
}

/// Where a DNS server stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Standing {
    /// One of this fleet's resolvers; why.
    Resolver(String),
    /// A well-known public resolver, not one of the fleet's.
    Public,
    /// Neither.
    Other,
}

/// What the data says about resolvers, built in `finish`.
#[derive(Debug, Default)]
struct Learned<'a> {
    /// (host, server) pairs of the DNS client, loopback and own addresses included.
    client_on_host: HashSet<(&'a str, IpAddr)>,
    /// Servers of the DNS client (not loopback, not own addresses) → hosts whose client uses them.
    client_hosts: BTreeMap<IpAddr, BTreeSet<&'a str>>,
    /// Servers a DNS client process started with `-s Dnscache` sent to.
    dnscache: HashSet<IpAddr>,
    /// Non-public servers (not loopback, not own addresses) → programs sending DNS to them.
    programs: HashMap<IpAddr, BTreeSet<&'a str>>,
    /// Non-public servers (not loopback, not own addresses) → hosts sending DNS to them.
    hosts: HashMap<IpAddr, BTreeSet<&'a str>>,
}

pub struct ResolverBypass {
    config: ResolverBypassConfig,
    configured: Vec<Network>,
    public: Vec<Network>,
    conns: HashMap<Key, Summary>,
    /// Lookups (EID 22) per (host, image).
    lookups: PairCounts,
    /// The image of the event at hand (reused, not allocated per event).
    image_buf: String,
    /// Hosts that run a DNS server or are domain controllers.
    servers: HashSet<String>,
    /// DNS client processes started with `-s Dnscache` (EID 1), by host.
    dnscache: HashSet<(String, Guid)>,
    dropped: u64,
}

/// Ports a domain controller's `lsass.exe` accepts connections on (Kerberos, LDAP, GC).
const DC_PORTS: &[u16] = &[88, 389, 464, 636, 3268, 3269];

impl ResolverBypass {
    pub const NAME: &'static str = "resolver_bypass";

    pub fn new(mut config: ResolverBypassConfig) -> ResolverBypass {
        for list in [&mut config.dns_client_images, &mut config.dns_server_images, &mut config.dc_images, &mut config.dns_tools] {
            list.iter_mut().for_each(|s| *s = s.to_lowercase());
        }
        ResolverBypass {
            configured: Network::parse_list(&config.resolvers),
            public: Network::parse_list(&config.public_resolvers),
            config,
            conns: HashMap::default(),
            lookups: PairCounts::default(),
            image_buf: String::new(),
            servers: HashSet::default(),
            dnscache: HashSet::default(),
            dropped: 0,
        }
    }

    fn mark_server(&mut self, host: &str) {
        if !self.servers.contains(host) {
            self.servers.insert(host.to_owned());
        }
    }

    fn learn(&self) -> Learned<'_> {
        let mut learned = Learned::default();
        for (key, summary) in &self.conns {
            let local = key.ip.is_loopback() || summary.to_self;
            if self.config.dns_client_images.contains(&key.image) {
                learned.client_on_host.insert((&key.host, key.ip));
                if summary.guids.iter().any(|g| self.dnscache.contains(&(key.host.clone(), *g))) {
                    learned.dnscache.insert(key.ip);
                }
                if !local {
                    learned.client_hosts.entry(key.ip).or_default().insert(&key.host);
                }
            }
            if !local && !is_public(key.ip) {
                learned.programs.entry(key.ip).or_default().insert(&key.image);
                learned.hosts.entry(key.ip).or_default().insert(&key.host);
            }
        }
        learned
    }

    /// Where `ip` stands for `host`.
    fn standing(&self, learned: &Learned<'_>, host: &str, ip: IpAddr, to_self: bool) -> Standing {
        let dnscache = if learned.dnscache.contains(&ip) {
            " (the DNS Client service, svchost.exe -s Dnscache)"
        } else {
            ""
        };
        if let Some(net) = self.configured.iter().find(|n| n.contains(ip)) {
            return Standing::Resolver(format!("a configured resolver ({net})"));
        }
        if (ip.is_loopback() || to_self) && self.servers.contains(host) {
            let which = if to_self { "the host's own address" } else { "loopback" };
            return Standing::Resolver(format!("{which} on a host that runs a DNS server or is a domain controller, so its own resolver"));
        }
        if learned.client_on_host.contains(&(host, ip)) {
            return Standing::Resolver(format!("a resolver this host's DNS client{dnscache} uses"));
        }
        if let Some(hosts) = learned.client_hosts.get(&ip) {
            return Standing::Resolver(format!(
                "a resolver the DNS client{dnscache} of {} uses",
                crate::stats::counted(hosts.len() as u64, "host", "hosts")
            ));
        }
        if !ip.is_loopback() && !to_self && !is_public(ip) {
            let programs = learned.programs.get(&ip).map_or(0, BTreeSet::len);
            if programs >= self.config.learn_min_programs.max(1) {
                return Standing::Resolver(format!("a resolver of this fleet: {programs} programs send DNS to it"));
            }
            let hosts = learned.hosts.get(&ip).map_or(0, BTreeSet::len);
            if hosts >= self.config.learn_min_hosts.max(1) {
                return Standing::Resolver(format!("a resolver of this fleet: {hosts} hosts send DNS to it"));
            }
        }
        if self.public.iter().any(|n| n.contains(ip)) {
            return Standing::Public;
        }
        Standing::Other
    }

    /// The resolvers known for `host`, as shown in a finding (at most 16).
    fn known_resolvers(&self, learned: &Learned<'_>, host: &str) -> Vec<String> {
        let mut known: BTreeSet<String> = self.configured.iter().map(Network::to_string).collect();
        known.extend(learned.client_on_host.iter().filter(|(h, _)| *h == host).map(|(_, ip)| ip.to_string()));
        known.extend(learned.client_hosts.keys().map(IpAddr::to_string));
        known.into_iter().take(16).collect()
    }

    fn judge(&self, learned: &Learned<'_>, key: &Key, summary: &Summary) -> Option<Finding> {
        let first = summary.first.as_ref()?;
        let is_client = self.config.dns_client_images.contains(&key.image);
        let tool = self.config.dns_tools.contains(&key.image);
        let configured = !self.configured.is_empty();
        let standing = self.standing(learned, &key.host, key.ip, summary.to_self);
        let known = self.known_resolvers(learned, &key.host);
        let public = is_public(key.ip);
        let no_lookups = self.lookups.get(StrPair(&key.host, &key.image)) == 0;
        let folder = first.process().image.as_deref().and_then(user_writable_folder);
        let shown = if key.image.is_empty() { "an unknown process".to_owned() } else { key.image.clone() };
        let what = if key.port == 853 { "DNS over TLS" } else { "DNS" };
        let server = format!("{}:{}/{}", key.ip, key.port, key.protocol);
        let ip = key.ip;
        let (severity, score, explanation) = if is_client {
            let outside = configured && !self.configured.iter().any(|n| n.contains(ip)) && !ip.is_loopback() && !summary.to_self;
            if !outside {
                return None;
            }
            (
                Severity::Medium,
                60,
                format!("the DNS client ({shown}) sent {what} to {server}, which is not a configured resolver; the endpoint's resolver settings may have been changed"),
            )
        } else {
            let lead = if no_lookups {
                format!("DNS traffic without DNS events: {shown} sent {what} directly to {server} and made no lookup through the Windows DNS client, so none of its queries appear as EID 22")
            } else {
                format!("{shown} sent {what} directly to {server}, bypassing the system DNS client")
            };
            // A program from a user-writable folder that never uses the DNS client: the shape of
            // a DNS tunnel or an implant with its own resolver.
            let dropped_tool = match folder {
                Some(folder) if no_lookups => Some(folder),
                _ => None,
            };
            let (severity, score, verdict) = match (&standing, tool) {
                (Standing::Resolver(why), true) => (Severity::Info, 10, format!("{ip} is {why}; {shown} is a DNS admin tool")),
                (Standing::Public, true) => (Severity::Low, 35, format!("{ip} is a well-known public resolver; {shown} is a DNS admin tool")),
                (Standing::Other, true) if known.is_empty() => (
                    Severity::Low,
                    35,
                    format!("no resolver of this fleet is known (none configured or seen in the data); {shown} is a DNS admin tool"),
                ),
                (Standing::Other, true) => (
                    Severity::Medium,
                    55,
                    format!("{ip} is neither one of this fleet's resolvers nor a well-known public one; {shown} is a DNS admin tool, pointed at another server"),
                ),
                (Standing::Resolver(why), false) => match dropped_tool {
                    Some(folder) => (
                        Severity::Medium,
                        60,
                        format!("{ip} is {why}, but a program from {folder} that never resolves through Windows is how a DNS tunnel through the fleet's resolver looks"),
                    ),
                    None => (Severity::Info, 10, format!("{ip} is {why}: a program with its own resolver (Electron and Chromium apps, lsass.exe on a domain controller), not a bypass")),
                },
                (Standing::Public, false) => match dropped_tool {
                    Some(folder) => (
                        Severity::High,
                        85,
                        format!("{ip} is a well-known public resolver, not one of this fleet's; high because a program from {folder} that never resolves through Windows is how DNS tunnels and implants with a hard-coded resolver look"),
                    ),
                    None => (
                        Severity::Medium,
                        60,
                        format!("{ip} is a well-known public resolver, not one of this fleet's: the program's lookups escape the resolvers that log and filter"),
                    ),
                },
                (Standing::Other, false) => {
                    let score = 75 + if no_lookups { 5 } else { 0 } + if public { 5 } else { 0 };
                    let why = if known.is_empty() {
                        format!("no resolver of this fleet is known (none configured or seen in the data) and {ip} is not a well-known public resolver")
                    } else {
                        format!("{ip} is neither one of this fleet's resolvers nor a well-known public one")
                    };
                    (Severity::High, score, why)
                }
            };
            (severity, score, format!("{lead}; {verdict}"))
        };
        let (destination, sanctioned) = match &standing {
            Standing::Resolver(_) => ("resolver", true),
            Standing::Public => ("public_resolver", false),
            Standing::Other => ("other", false),
        };
        let source = match (configured, known.len() > self.configured.len()) {
            (true, true) => "config+learned",
            (true, false) => "config",
            (false, true) => "learned",
            (false, false) => "none",
        };
        let attack: &[&str] = if key.port == 853 { &["T1071.004", "T1572", "T1568"] } else { &["T1071.004", "T1572"] };
        let mut f = Finding::from_event(Self::NAME, severity, score, first, &[&key.image, &server], explanation)
            .with_attack(attack)
            .with_detail("server", ip.to_string())
            .with_detail("port", key.port)
            .with_detail("protocol", key.protocol.clone())
            .with_detail("destination", destination)
            .with_detail("sanctioned", sanctioned)
            .with_detail("resolvers", known)
            .with_detail("resolvers_source", source)
            .with_detail("dns_traffic_without_dns_events", !is_client && no_lookups)
            .with_detail("dns_tool", tool)
            .with_detail("user_writable_folder", folder);
        if let Standing::Resolver(why) = &standing {
            f = f.with_detail("resolver_evidence", why.clone());
        }
        f.count = summary.count;
        if let Some(last) = &summary.last {
            f.time_last = last.time;
            if last.origin != first.origin {
                f.evidence.push(last.clone());
            }
        }
        Some(f)
    }
}

impl ResolverBypass {
    /// Looks at an event whose image file name (lower case) is `image`.
    fn observe_with(&mut self, event: &Event, image: &str) {
        let listed = |list: &[String]| list.iter().any(|i| i == image);
        if listed(&self.config.dns_server_images) || listed(&self.config.dc_images) {
            self.mark_server(host(event));
        }
        match &event.kind {
            EventKind::DnsQuery(_) => {
                if !self.lookups.add(StrPair(host(event), image), self.config.max_keys) {
                    self.dropped += 1;
                }
            }
            EventKind::ProcessCreate(p) => {
                let dnscache = p.command_line.as_deref().is_some_and(|c| c.to_ascii_lowercase().contains("dnscache"));
                if dnscache && listed(&self.config.dns_client_images) && self.dnscache.len() < self.config.max_keys {
                    if let Some(guid) = p.process.guid {
                        self.dnscache.insert((host(event).to_owned(), guid));
                    }
                }
            }
            EventKind::NetworkConnect(n) => {
                if n.initiated == Some(false) {
                    // A domain controller's lsass accepts Kerberos and LDAP (Sysmon puts the local
                    // port on either side for inbound connections).
                    let dc_port = [n.source_port, n.destination_port].iter().flatten().any(|p| DC_PORTS.contains(p));
                    if image == "lsass.exe" && dc_port {
                        self.mark_server(host(event));
                    }
                    return;
                }
                let (Some(ip), Some(port)) = (n.destination_ip, n.destination_port) else { return };
                if !self.config.ports.contains(&port) || listed(&self.config.dns_server_images) {
                    return;
                }
                let is_client = listed(&self.config.dns_client_images);
                let key = Key {
                    host: host(event).to_owned(),
                    image: image.to_owned(),
                    ip,
                    port,
                    protocol: n.protocol.clone().unwrap_or_else(|| "udp".into()),
                };
                if !self.conns.contains_key(&key) && self.conns.len() >= self.config.max_keys {
                    self.dropped += 1;
                    return;
                }
                let summary = self.conns.entry(key).or_default();
                summary.count += 1;
                summary.to_self |= n.source_ip.is_some_and(|s| s.to_canonical() == ip.to_canonical());
                if is_client && summary.guids.len() < 4 {
                    if let Some(guid) = n.process.guid {
                        summary.guids.insert(guid);
                    }
                }
                keep_earliest(&mut summary.first, event);
                keep_latest(&mut summary.last, event);
            }
            EventKind::ProcessTerminate(_) | EventKind::WireDns(_) | EventKind::WireFlow(_) => {}
        }
    }
}

impl Detector for ResolverBypass {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn bounds_reached(&self) -> Vec<BoundReached> {
        BoundReached::all([BoundReached::of(Self::NAME, "max_keys", self.config.max_keys, self.dropped)])
    }

    fn observe(&mut self, event: &Event, _out: &mut Vec<Finding>) {
        let mut buf = std::mem::take(&mut self.image_buf);
        image_into(event, &mut buf);
        self.observe_with(event, &buf);
        self.image_buf = buf;
    }

    fn finish(&mut self, out: &mut dyn FindingSink) {
        let learned = self.learn();
        let mut keys: Vec<&Key> = self.conns.keys().collect();
        keys.sort();
        for key in keys {
            if let Some(f) = self.judge(&learned, key, &self.conns[key]) {
                out.push(f);
            }
        }
        self.conns.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{run, short_image, Proc, Rng, T0};

    #[track_caller]
    fn check(config: ResolverBypassConfig, events: &[Event], expected: &[(&str, &str, Severity, bool)]) {
        let mut events = events.to_vec();
        for seed in 1..4 {
            Rng::new(seed).shuffle(&mut events);
            let findings = run(&mut ResolverBypass::new(config.clone()), &events);
            let got: Vec<(String, String, Severity, bool)> = findings
                .iter()
                .map(|f| {
                    (
                        short_image(f).to_lowercase(),
                        f.details["server"].as_str().unwrap_or("").to_owned(),
                        f.severity,
                        f.details["dns_traffic_without_dns_events"].as_bool().unwrap_or(false),
                    )
                })
                .collect();
            let want: Vec<(String, String, Severity, bool)> = expected.iter().map(|(i, s, sev, no)| ((*i).to_owned(), (*s).to_owned(), *sev, *no)).collect();
            assert_eq!(got, want);
        }
    }

    /// The finding about `server`'s traffic from `image`.
    #[track_caller]
    fn finding(events: &[Event], config: ResolverBypassConfig, image: &str, server: &str) -> Finding {
        let findings = run(&mut ResolverBypass::new(config), events);
        findings
            .into_iter()
            .find(|f| short_image(f).eq_ignore_ascii_case(image) && f.details["server"] == server)
            .unwrap_or_else(|| panic!("no finding for {image} → {server}"))
    }

    /// An EID 3 whose source is `source` (the host's own address).
    fn net_from(p: &Proc, ms: i64, source: &str, ip: &str, port: u16) -> Event {
        let mut e = p.net(ms, "udp", ip, port);
        if let EventKind::NetworkConnect(n) = &mut e.kind {
            n.source_ip = source.parse().ok();
        }
        e
    }

    fn inbound(p: &Proc, ms: i64, port: u16) -> Event {
        let mut e = p.net(ms, "tcp", "10.0.0.20", port);
        if let EventKind::NetworkConnect(n) = &mut e.kind {
            n.initiated = Some(false);
        }
        e
    }

    fn seed_host() -> &'static str {
        "WIN10-LAB.example.local"
    }

    #[test]
    fn seed_nslookup_and_dnscat2_are_dns_traffic_without_dns_events() {
        let nslookup = Proc::new(seed_host(), "C:\\Windows\\System32\\nslookup.exe", 7864);
        let dnscat2 = Proc::new(seed_host(), "C:\\Users\\analyst\\Desktop\\dnscat2\\dnscat2.exe", 3688);
        let powershell = Proc::new(seed_host(), "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", 6484);
        let events = vec![
            nslookup.net(T0, "udp", "192.168.1.10", 53),
            powershell.dns(T0 + 1000, "hoge.example.com", "::ffff:192.168.1.55;", 0),
            dnscat2.net(T0 + 2000, "udp", "192.168.1.55", 53),
        ];
        // No resolver is known: the admin tool is low, dnscat2 to an unknown server high.
        check(
            ResolverBypassConfig::default(),
            &events,
            &[("dnscat2.exe", "192.168.1.55", Severity::High, true), ("nslookup.exe", "192.168.1.10", Severity::Low, true)],
        );
        let f = finding(&events, ResolverBypassConfig::default(), "dnscat2.exe", "192.168.1.55");
        assert!(f.explanation.starts_with("DNS traffic without DNS events: dnscat2.exe"), "{}", f.explanation);
        assert!(f.explanation.contains("no resolver of this fleet is known"), "{}", f.explanation);
        assert_eq!((f.score, f.details["destination"].as_str()), (80, Some("other")));
    }

    #[test]
    fn learned_resolvers_decide_between_resolver_public_and_other() {
        let host = "WS-ACCT-07";
        let dnscache = Proc::new(host, "C:\\Windows\\System32\\svchost.exe", 1);
        let nslookup = Proc::new(host, "C:\\Windows\\System32\\nslookup.exe", 2);
        let tool = Proc::new(host, "C:\\Users\\k.sato\\Downloads\\tool.exe", 3);
        let chrome = Proc::new(host, "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", 4);
        let events = vec![
            dnscache.create(T0 - 1000, "C:\\Windows\\system32\\svchost.exe -k NetworkService -p -s Dnscache", None),
            dnscache.net(T0, "udp", "10.20.0.53", 53),
            dnscache.net(T0 + 10, "udp", "10.20.0.53", 53),
            nslookup.net(T0 + 20, "udp", "10.20.0.53", 53),
            nslookup.net(T0 + 30, "udp", "9.9.9.9", 53),
            nslookup.net(T0 + 35, "udp", "10.99.0.1", 53),
            tool.net(T0 + 40, "udp", "8.8.8.8", 53),
            tool.net(T0 + 50, "udp", "8.8.8.8", 53),
            chrome.dns(T0 + 60, "www.example.com", "::ffff:93.184.216.34;", 0),
            chrome.net(T0 + 70, "tcp", "1.1.1.1", 853),
        ];
        check(
            ResolverBypassConfig::default(),
            &events,
            &[
                ("chrome.exe", "1.1.1.1", Severity::Medium, false),
                ("nslookup.exe", "9.9.9.9", Severity::Low, true),
                ("nslookup.exe", "10.20.0.53", Severity::Info, true),
                ("nslookup.exe", "10.99.0.1", Severity::Medium, true),
                ("tool.exe", "8.8.8.8", Severity::High, true),
            ],
        );
        // The example incident's tool.exe: a public resolver, but from Downloads and without
        // a single lookup through Windows.
        let tool_finding = finding(&events, ResolverBypassConfig::default(), "tool.exe", "8.8.8.8");
        assert_eq!((tool_finding.count, tool_finding.score), (2, 85));
        assert!(
            tool_finding.explanation.contains("well-known public resolver") && tool_finding.explanation.contains("a program from Downloads that never resolves through Windows"),
            "{}",
            tool_finding.explanation
        );
        let ns = finding(&events, ResolverBypassConfig::default(), "nslookup.exe", "10.20.0.53");
        assert!(
            ns.details["resolver_evidence"].as_str().unwrap().contains("svchost.exe -s Dnscache"),
            "{}",
            ns.details["resolver_evidence"]
        );
    }

    #[test]
    fn apps_with_their_own_resolver_are_ranked_by_destination() {
        // Electron apps send UDP 53 themselves; the LAN resolver is the one the DNS client of
        // another host uses.
        let code = Proc::new("DEV-01", "C:\\Users\\u\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe", 1);
        let slack = Proc::new("DEV-01", "C:\\Users\\u\\AppData\\Local\\slack\\app-4.36.140\\slack.exe", 2);
        let teams = Proc::new("DEV-01", "C:\\Users\\u\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe", 3);
        let svchost = Proc::new("DEV-02", "C:\\Windows\\System32\\svchost.exe", 4);
        let tool = Proc::new("DEV-01", "C:\\Tools\\tool.exe", 5);
        let mut events = vec![
            svchost.net(T0, "udp", "10.0.0.53", 53),
            code.net(T0 + 10, "udp", "10.0.0.53", 53),
            slack.net(T0 + 20, "udp", "10.0.0.53", 53),
            teams.net(T0 + 30, "udp", "10.0.0.53", 53),
            code.net(T0 + 40, "udp", "8.8.8.8", 53),
            tool.net(T0 + 50, "udp", "203.0.113.9", 53),
        ];
        events.extend((0..3).map(|i| code.dns(T0 + 60 + i, "update.code.visualstudio.com", "::ffff:13.107.246.40;", 0)));
        check(
            ResolverBypassConfig::default(),
            &events,
            &[
                ("code.exe", "8.8.8.8", Severity::Medium, false),
                ("code.exe", "10.0.0.53", Severity::Info, false),
                ("slack.exe", "10.0.0.53", Severity::Info, true),
                ("teams.exe", "10.0.0.53", Severity::Info, true),
                ("tool.exe", "203.0.113.9", Severity::High, true),
            ],
        );
        let info = finding(&events, ResolverBypassConfig::default(), "slack.exe", "10.0.0.53");
        assert!(
            info.explanation.contains("a resolver the DNS client of 1 host uses") && info.explanation.contains("its own resolver"),
            "{}",
            info.explanation
        );
        let public = finding(&events, ResolverBypassConfig::default(), "code.exe", "8.8.8.8");
        assert!(public.explanation.contains("well-known public resolver"), "{}", public.explanation);
        let other = finding(&events, ResolverBypassConfig::default(), "tool.exe", "203.0.113.9");
        assert!(
            other.explanation.contains("neither one of this fleet's resolvers nor a well-known public one"),
            "{}",
            other.explanation
        );

        // A configured resolver (a network) is info too; without the DNS client's traffic the
        // same server would be unknown.
        let configured = ResolverBypassConfig {
            resolvers: vec!["203.0.113.0/28".into(), "not an address".into()],
            ..Default::default()
        };
        let only_tool = [tool.net(T0, "udp", "203.0.113.9", 53)];
        check(configured.clone(), &only_tool, &[("tool.exe", "203.0.113.9", Severity::Info, true)]);
        assert!(finding(&only_tool, configured, "tool.exe", "203.0.113.9")
            .explanation
            .contains("a configured resolver (203.0.113.0/28)"));
        check(ResolverBypassConfig::default(), &only_tool, &[("tool.exe", "203.0.113.9", Severity::High, true)]);
    }

    #[test]
    fn resolvers_learned_from_many_programs_or_hosts() {
        // No DNS client traffic in the data (many Sysmon configs drop svchost's EID 3).
        let apps: Vec<Proc> = ["a.exe", "b.exe", "c.exe"]
            .iter()
            .enumerate()
            .map(|(i, n)| Proc::new("H1", &format!("C:\\Program Files\\X\\{n}"), i as u32))
            .collect();
        let events: Vec<Event> = apps.iter().enumerate().map(|(i, p)| p.net(T0 + i as i64, "udp", "172.16.0.53", 53)).collect();
        check(
            ResolverBypassConfig::default(),
            &events,
            &[
                ("a.exe", "172.16.0.53", Severity::Info, true),
                ("b.exe", "172.16.0.53", Severity::Info, true),
                ("c.exe", "172.16.0.53", Severity::Info, true),
            ],
        );
        // Two programs are not enough; two hosts are, for a private address.
        check(
            ResolverBypassConfig::default(),
            &events[..2],
            &[("a.exe", "172.16.0.53", Severity::High, true), ("b.exe", "172.16.0.53", Severity::High, true)],
        );
        let other_host = Proc::new("H2", "C:\\Program Files\\X\\a.exe", 9);
        let two_hosts = vec![events[0].clone(), other_host.net(T0, "udp", "172.16.0.53", 53)];
        check(
            ResolverBypassConfig::default(),
            &two_hosts,
            &[("a.exe", "172.16.0.53", Severity::Info, true), ("a.exe", "172.16.0.53", Severity::Info, true)],
        );
        // A public address is learned only from the DNS client: three programs on two hosts
        // sending DNS to an unknown public server are high.
        let public: Vec<Event> = apps
            .iter()
            .map(|p| p.net(T0, "udp", "45.33.32.156", 53))
            .chain([other_host.net(T0, "udp", "45.33.32.156", 53)])
            .collect();
        let findings = run(&mut ResolverBypass::new(ResolverBypassConfig::default()), &public);
        assert_eq!(findings.len(), 4);
        assert!(findings.iter().all(|f| f.severity == Severity::High), "{findings:#?}");
    }

    #[test]
    fn domain_controllers_resolve_through_themselves() {
        // lsass.exe and dfsrs.exe on a DC register records with the DNS server on loopback and
        // on the DC's own address; the DNS server's presence makes those the host's resolver.
        let dc = "DC01.corp.example";
        let lsass = Proc::new(dc, "C:\\Windows\\System32\\lsass.exe", 1);
        let dfsrs = Proc::new(dc, "C:\\Windows\\System32\\dfsrs.exe", 2);
        let dns = Proc::new(dc, "C:\\Windows\\System32\\dns.exe", 3);
        let events = vec![
            dns.net(T0, "udp", "192.203.230.10", 53),
            lsass.net(T0 + 10, "udp", "::1", 53),
            net_from(&lsass, T0 + 20, "192.168.1.4", "192.168.1.4", 53),
            dfsrs.net(T0 + 30, "udp", "127.0.0.1", 53),
        ];
        check(
            ResolverBypassConfig::default(),
            &events,
            &[
                ("dfsrs.exe", "127.0.0.1", Severity::Info, true),
                ("lsass.exe", "192.168.1.4", Severity::Info, true),
                ("lsass.exe", "::1", Severity::Info, true),
            ],
        );
        let f = finding(&events, ResolverBypassConfig::default(), "lsass.exe", "::1");
        assert!(
            f.explanation.contains("loopback on a host that runs a DNS server or is a domain controller"),
            "{}",
            f.explanation
        );
        // Without dns.exe in the data, lsass accepting Kerberos tells the DC.
        let kerberos = vec![inbound(&lsass, T0, 88), lsass.net(T0 + 10, "udp", "::1", 53)];
        check(ResolverBypassConfig::default(), &kerberos, &[("lsass.exe", "::1", Severity::Info, true)]);
        // On a workstation loopback is nobody's resolver unless its DNS client uses it.
        let ws = Proc::new("WS01", "C:\\Users\\u\\AppData\\Local\\Temp\\x.exe", 4);
        check(
            ResolverBypassConfig::default(),
            &[ws.net(T0, "udp", "127.0.0.1", 53)],
            &[("x.exe", "127.0.0.1", Severity::High, true)],
        );
        let proxy = Proc::new("WS01", "C:\\Windows\\System32\\svchost.exe", 5);
        let local_proxy = [
            proxy.net(T0, "udp", "127.0.0.1", 53),
            Proc::new("WS01", "C:\\x\\app.exe", 6).net(T0, "udp", "127.0.0.1", 53),
        ];
        check(ResolverBypassConfig::default(), &local_proxy, &[("app.exe", "127.0.0.1", Severity::Info, true)]);
        // Loopback does not travel: another host's app sending to ::1 is not helped by the DC.
        let other = [events[0].clone(), events[1].clone(), Proc::new("WS02", "C:\\x\\app.exe", 7).net(T0, "udp", "::1", 53)];
        check(
            ResolverBypassConfig::default(),
            &other,
            &[("lsass.exe", "::1", Severity::Info, true), ("app.exe", "::1", Severity::High, true)],
        );
    }

    #[test]
    fn a_dropped_tool_tunnelling_through_the_fleet_resolver_is_medium() {
        let svchost = Proc::new("H", "C:\\Windows\\System32\\svchost.exe", 1);
        let dropped = Proc::new("H", "C:\\Users\\Public\\dnscat.exe", 2);
        let events = vec![svchost.net(T0, "udp", "10.0.0.53", 53), dropped.net(T0 + 10, "udp", "10.0.0.53", 53)];
        check(ResolverBypassConfig::default(), &events, &[("dnscat.exe", "10.0.0.53", Severity::Medium, true)]);
        let f = finding(&events, ResolverBypassConfig::default(), "dnscat.exe", "10.0.0.53");
        assert!(
            f.explanation.contains("a program from Users\\Public that never resolves through Windows"),
            "{}",
            f.explanation
        );
        // Once it resolves through Windows as well, it is an app with its own resolver.
        let mut resolving = events.clone();
        resolving.push(dropped.dns(T0 + 20, "example.org", "::ffff:93.184.216.34;", 0));
        check(ResolverBypassConfig::default(), &resolving, &[("dnscat.exe", "10.0.0.53", Severity::Info, false)]);
    }

    #[test]
    fn dns_client_dns_server_and_inbound_are_quiet_unless_resolvers_are_configured() {
        let host = "DC01";
        let dnscache = Proc::new(host, "C:\\Windows\\System32\\svchost.exe", 1);
        let dns_server = Proc::new(host, "C:\\Windows\\System32\\dns.exe", 2);
        let mut inbound = Proc::new(host, "C:\\Windows\\System32\\other.exe", 3).net(T0, "udp", "10.0.0.5", 53);
        if let EventKind::NetworkConnect(n) = &mut inbound.kind {
            n.initiated = Some(false);
        }
        let events = vec![
            dnscache.net(T0, "udp", "192.168.1.4", 53),
            dnscache.net(T0, "udp", "::1", 53),
            dns_server.net(T0, "udp", "198.41.0.4", 53),
            inbound,
            Proc::new(host, "C:\\x\\browser.exe", 4).net(T0, "tcp", "192.168.1.4", 443),
        ];
        check(ResolverBypassConfig::default(), &events, &[]);
        let configured = ResolverBypassConfig {
            resolvers: vec!["10.1.1.1".into()],
            ..Default::default()
        };
        check(configured, &events, &[("svchost.exe", "192.168.1.4", Severity::Medium, false)]);
    }
}

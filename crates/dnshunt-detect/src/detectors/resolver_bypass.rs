//! # resolver_bypass
//!
//! **What:** network connections (EID 3) to port 53 or 853 (DNS, DNS over TLS; UDP or TCP) from
//! any process other than the system's DNS client, and connections by the DNS client itself to
//! servers that are not the sanctioned resolvers. The finding names the tool and the server.
//! When the process made no lookup through the Windows DNS client at all, the finding says
//! **DNS traffic without DNS events**: its queries are invisible to Sysmon EID 22 (the seed's
//! `nslookup` and `dnscat2` cases).
//!
//! The sanctioned resolvers are `resolvers` from the config; when none are given they are
//! learned from the data: the servers that the DNS client (`svchost.exe`, the Dnscache service,
//! as Sysmon shows it) connects to on port 53/853 on the same host, or on any host when a host
//! has no such connections in the data.
//!
//! Severity: a DNS admin tool (`nslookup.exe`, ...) talking to a sanctioned or unknown
//! resolver is **low**; the same tool talking to an unsanctioned or public server is
//! **medium**; any other program speaking DNS itself is **high** (score +5 when it also made
//! no lookups through Windows, +5 when the server is public and not sanctioned); the DNS client
//! talking to a server outside the configured `resolvers` is **medium**.
//!
//! **Why:** tools with their own DNS stack (DNS tunnels such as dnscat2 and iodine, implants
//! with a hard-coded resolver, DNS-based C2) bypass the resolvers that log and filter, and the
//! endpoint's DNS log never shows their queries. Connections to port 53 are then the only trace.
//!
//! **ATT&CK:** T1071.004 (Application Layer Protocol: DNS), T1572 (Protocol Tunneling),
//! T1568 (Dynamic Resolution) for DNS over TLS.
//!
//! **False positives:** admin tools (`nslookup`, `Resolve-DnsName -Server`), VPN clients and
//! browsers with their own resolver, local DNS proxies, DNS servers (`dns.exe` is expected
//! to talk to other servers and is never flagged). Add their images to `dns_client_images` or
//! `dns_server_images`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use dnshunt_core::{Detector, Event, EventKind, Finding, Severity};
use serde::Deserialize;

use crate::stats::{host, image, is_public, keep_earliest, keep_latest};

/// Settings of the `resolver_bypass` detector.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ResolverBypassConfig {
    /// Sanctioned resolver addresses. Empty (the default): learned from the DNS client's own
    /// connections in the data.
    pub resolvers: Vec<IpAddr>,
    /// Image names of the system DNS client (lower case). Default: `svchost.exe`.
    pub dns_client_images: Vec<String>,
    /// Image names of DNS servers and forwarders, never flagged. Default: `dns.exe`.
    pub dns_server_images: Vec<String>,
    /// Admin tools that speak DNS themselves; flagged at a lower severity.
    /// Default: `nslookup.exe`, `dig.exe`, `kdig.exe`, `drill.exe`, `host.exe`.
    pub dns_tools: Vec<String>,
    /// Destination ports that carry DNS. Default: 53 and 853 (DNS over TLS).
    pub ports: Vec<u16>,
    /// Most (host, process, server) combinations remembered; more are counted and dropped.
    pub max_keys: usize,
}

impl Default for ResolverBypassConfig {
    fn default() -> Self {
        ResolverBypassConfig {
            resolvers: Vec::new(),
            dns_client_images: vec!["svchost.exe".into()],
            dns_server_images: vec!["dns.exe".into()],
            dns_tools: ["nslookup.exe", "dig.exe", "kdig.exe", "drill.exe", "host.exe"].iter().map(|s| (*s).to_owned()).collect(),
            ports: vec![53, 853],
            max_keys: 100_000,
        }
    }
}

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
}

pub struct ResolverBypass {
    config: ResolverBypassConfig,
    conns: HashMap<Key, Summary>,
    /// Servers each host's DNS client talks to.
    learned: BTreeMap<String, BTreeSet<IpAddr>>,
    /// Lookups (EID 22) per (host, image).
    lookups: HashMap<(String, String), u64>,
    dropped: u64,
}

impl ResolverBypass {
    pub const NAME: &'static str = "resolver_bypass";

    pub fn new(mut config: ResolverBypassConfig) -> ResolverBypass {
        for list in [&mut config.dns_client_images, &mut config.dns_server_images, &mut config.dns_tools] {
            list.iter_mut().for_each(|s| *s = s.to_lowercase());
        }
        ResolverBypass {
            config,
            conns: HashMap::new(),
            learned: BTreeMap::new(),
            lookups: HashMap::new(),
            dropped: 0,
        }
    }

    fn judge(&self, key: &Key, summary: &Summary, all_learned: &BTreeSet<IpAddr>) -> Option<Finding> {
        let first = summary.first.as_ref()?;
        let is_client = self.config.dns_client_images.contains(&key.image);
        let tool = self.config.dns_tools.contains(&key.image);
        let configured = !self.config.resolvers.is_empty();
        let sanctioned: BTreeSet<IpAddr> = if configured {
            self.config.resolvers.iter().copied().collect()
        } else {
            match self.learned.get(&key.host) {
                Some(set) if !set.is_empty() => set.clone(),
                _ => all_learned.clone(),
            }
        };
        let known = !sanctioned.is_empty();
        let is_sanctioned = sanctioned.contains(&key.ip) || (key.ip.is_loopback() && sanctioned.iter().any(IpAddr::is_loopback));
        let public = is_public(key.ip);
        let no_lookups = self.lookups.get(&(key.host.clone(), key.image.clone())).copied().unwrap_or(0) == 0;
        let shown = if key.image.is_empty() { "an unknown process".to_owned() } else { key.image.clone() };
        let what = if key.port == 853 { "DNS over TLS" } else { "DNS" };
        let server = format!("{}:{}/{}", key.ip, key.port, key.protocol);
        let sanction_text = match (known, is_sanctioned, configured) {
            (_, true, _) => "a sanctioned resolver",
            (true, false, true) => "not a configured resolver",
            (true, false, false) => "not a resolver this host's DNS client uses",
            (false, _, _) if public => "a public server",
            (false, _, _) => "a server of unknown standing (no resolver is configured or seen in the data)",
        };
        let (severity, mut score, explanation) = if is_client {
            if !configured || is_sanctioned || key.ip.is_loopback() {
                return None;
            }
            (
                Severity::Medium,
                60,
                format!("the DNS client ({shown}) sent {what} to {server}, {sanction_text}; the endpoint's resolver settings may have been changed"),
            )
        } else {
            let (severity, score) = if tool {
                if !is_sanctioned && (known || public) {
                    (Severity::Medium, 55)
                } else {
                    (Severity::Low, 35)
                }
            } else {
                (Severity::High, 75)
            };
            let lead = if no_lookups {
                format!("DNS traffic without DNS events: {shown} sent {what} directly to {server} ({sanction_text}) and made no lookup through the Windows DNS client, so none of its queries appear as EID 22")
            } else {
                format!("{shown} sent {what} directly to {server} ({sanction_text}), bypassing the system DNS client")
            };
            (severity, score, lead)
        };
        if severity == Severity::High {
            score += if no_lookups { 5 } else { 0 } + if public && !is_sanctioned { 5 } else { 0 };
        }
        let attack: &[&str] = if key.port == 853 { &["T1071.004", "T1572", "T1568"] } else { &["T1071.004", "T1572"] };
        let mut f = Finding::from_event(Self::NAME, severity, score, first, &[&key.image, &server], explanation)
            .with_attack(attack)
            .with_detail("server", key.ip.to_string())
            .with_detail("port", key.port)
            .with_detail("protocol", key.protocol.clone())
            .with_detail("sanctioned", is_sanctioned)
            .with_detail("resolvers", sanctioned.iter().map(|ip| ip.to_string()).collect::<Vec<_>>())
            .with_detail("resolvers_source", if configured { "config" } else { "learned" })
            .with_detail("dns_traffic_without_dns_events", !is_client && no_lookups)
            .with_detail("dns_tool", tool);
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

impl Detector for ResolverBypass {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn observe(&mut self, event: &Event, _out: &mut Vec<Finding>) {
        match &event.kind {
            EventKind::DnsQuery(_) => {
                let key = (host(event).to_owned(), image(event));
                if let Some(n) = self.lookups.get_mut(&key) {
                    *n += 1;
                } else if self.lookups.len() < self.config.max_keys {
                    self.lookups.insert(key, 1);
                }
            }
            EventKind::NetworkConnect(n) => {
                let (Some(ip), Some(port)) = (n.destination_ip, n.destination_port) else { return };
                if !self.config.ports.contains(&port) || n.initiated == Some(false) {
                    return;
                }
                let image = image(event);
                if self.config.dns_server_images.contains(&image) {
                    return;
                }
                if self.config.dns_client_images.contains(&image) {
                    self.learned.entry(host(event).to_owned()).or_default().insert(ip);
                }
                let key = Key {
                    host: host(event).to_owned(),
                    image,
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
                keep_earliest(&mut summary.first, event);
                keep_latest(&mut summary.last, event);
            }
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<Finding>) {
        let all_learned: BTreeSet<IpAddr> = self.learned.values().flatten().copied().collect();
        let mut keys: Vec<&Key> = self.conns.keys().collect();
        keys.sort();
        for key in keys {
            if let Some(f) = self.judge(key, &self.conns[key], &all_learned) {
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
        check(
            ResolverBypassConfig::default(),
            &events,
            &[("dnscat2.exe", "192.168.1.55", Severity::High, true), ("nslookup.exe", "192.168.1.10", Severity::Low, true)],
        );
        let findings = run(&mut ResolverBypass::new(ResolverBypassConfig::default()), &events);
        assert!(
            findings[0].explanation.starts_with("DNS traffic without DNS events: dnscat2.exe"),
            "{}",
            findings[0].explanation
        );
        assert_eq!(findings[0].score, 80);
    }

    #[test]
    fn learned_resolvers_decide_between_sanctioned_and_not() {
        let host = "WS-ACCT-07";
        let dnscache = Proc::new(host, "C:\\Windows\\System32\\svchost.exe", 1);
        let nslookup = Proc::new(host, "C:\\Windows\\System32\\nslookup.exe", 2);
        let tool = Proc::new(host, "C:\\Users\\k.sato\\Downloads\\tool.exe", 3);
        let chrome = Proc::new(host, "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", 4);
        let events = vec![
            dnscache.net(T0, "udp", "10.20.0.53", 53),
            dnscache.net(T0 + 10, "udp", "10.20.0.53", 53),
            nslookup.net(T0 + 20, "udp", "10.20.0.53", 53),
            nslookup.net(T0 + 30, "udp", "9.9.9.9", 53),
            tool.net(T0 + 40, "udp", "8.8.8.8", 53),
            tool.net(T0 + 50, "udp", "8.8.8.8", 53),
            chrome.dns(T0 + 60, "www.example.com", "::ffff:93.184.216.34;", 0),
            chrome.net(T0 + 70, "tcp", "1.1.1.1", 853),
        ];
        check(
            ResolverBypassConfig::default(),
            &events,
            &[
                ("chrome.exe", "1.1.1.1", Severity::High, false),
                ("nslookup.exe", "9.9.9.9", Severity::Medium, true),
                ("nslookup.exe", "10.20.0.53", Severity::Low, true),
                ("tool.exe", "8.8.8.8", Severity::High, true),
            ],
        );
        let findings = run(&mut ResolverBypass::new(ResolverBypassConfig::default()), &events);
        let tool_finding = findings.iter().find(|f| f.details["server"] == "8.8.8.8").unwrap();
        assert_eq!((tool_finding.count, tool_finding.score), (2, 85));
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
            resolvers: vec!["10.1.1.1".parse().unwrap()],
            ..Default::default()
        };
        check(configured, &events, &[("svchost.exe", "192.168.1.4", Severity::Medium, false)]);
    }
}

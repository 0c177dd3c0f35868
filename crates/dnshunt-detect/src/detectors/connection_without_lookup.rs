//! # connection_without_lookup
//!
//! **What:** connections (EID 3) straight to an address that no lookup (EID 22) on that host
//! ever returned, by a program that normally resolves names (at least `min_lookups` lookups on
//! that host). Public destinations are **medium**; private ones (other than link-local,
//! multicast and broadcast traffic) are **low** and can be turned off with
//! `include_private = false`. Non-web ports add 10 to the score.
//!
//! Two kinds of connection are judged whatever the program's lookups: from **shells and script
//! hosts** (`shells`: PowerShell, cmd, mshta, rundll32, regsvr32, wscript, ...), which have no
//! business holding a connection to a bare address, one step more severe on a non-web port
//! (private → medium, public → high); and to **well-known C2 ports** (`c2_ports`: 4444,
//! Metasploit's default, and 1337/31337), at least medium, high when public.
//!
//! The set of resolved addresses is per host and shared by all its programs (the DNS cache is
//! shared, so a program may connect to an address another one looked up). Everything is judged
//! at the end, so the order of events does not matter.
//!
//! **Why:** a browser or an Office program that normally names its servers, but downloads from
//! `http://10.0.5.13/` or connects to a bare address, is often following a link an attacker
//! planted (payload download by address, as in the Security-Datasets LSASS campaigns), or is
//! hosting injected code that talks to a hard-coded C2 address.
//!
//! **ATT&CK:** T1071 (Application Layer Protocol), T1105 (Ingress Tool Transfer) for web
//! ports, T1095 (Non-Application Layer Protocol) for other ports; T1059 (Command and Scripting
//! Interpreter) added for shells and script hosts.
//!
//! **False positives:** peer-to-peer updates (Delivery Optimization, in `svchost.exe`, ignored
//! by default), addresses typed by users or configured in software (proxies, NTP, license
//! servers), connections whose lookup happened before the data starts, and Sysmon configs that
//! drop EID 22 of some programs; admin scripts that talk to servers by address; services that
//! really listen on 4444 (some Java and agent ports). Ignore programs in `ignored_processes`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use dnshunt_core::{Detector, Event, EventKind, Finding, Severity};
use serde::Deserialize;

use crate::stats::{host, image, is_local_only, is_public, keep_earliest};

/// Settings of the `connection_without_lookup` detector.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionWithoutLookupConfig {
    /// Lookups a program must have made on the host to count as one that resolves names. Default 5.
    pub min_lookups: u64,
    /// Also report private destinations (low). Default true.
    pub include_private: bool,
    /// Programs never reported (lower-case image names). Default: `svchost.exe`, `dns.exe`,
    /// `system` (services and the kernel connect by address by design).
    pub ignored_processes: Vec<String>,
    /// Destination ports never reported. Default 53 and 853 (`resolver_bypass` covers them).
    pub ignored_ports: Vec<u16>,
    /// Shells and script hosts (lower-case image names), judged even when they resolve nothing.
    pub shells: Vec<String>,
    /// Ports of well-known C2 defaults, judged for every program. Default 4444, 1337, 31337.
    pub c2_ports: Vec<u16>,
    /// Resolved addresses remembered in all. Default 1 000 000.
    pub max_addresses: usize,
    /// (host, program, address) connection summaries remembered. Default 200 000.
    pub max_keys: usize,
}

impl Default for ConnectionWithoutLookupConfig {
    fn default() -> Self {
        ConnectionWithoutLookupConfig {
            min_lookups: 5,
            include_private: true,
            ignored_processes: vec!["svchost.exe".into(), "dns.exe".into(), "system".into()],
            ignored_ports: vec![53, 853],
            shells: [
                "powershell.exe",
                "pwsh.exe",
                "powershell_ise.exe",
                "cmd.exe",
                "mshta.exe",
                "rundll32.exe",
                "regsvr32.exe",
                "wscript.exe",
                "cscript.exe",
                "msbuild.exe",
                "installutil.exe",
                "regasm.exe",
                "regsvcs.exe",
                "certutil.exe",
                "bitsadmin.exe",
            ]
            .map(str::to_owned)
            .to_vec(),
            c2_ports: vec![4444, 1337, 31337],
            max_addresses: 1_000_000,
            max_keys: 200_000,
        }
    }
}

#[derive(Debug, Default)]
struct Conn {
    count: u64,
    ports: BTreeSet<u16>,
    first: Option<Event>,
    last_time: dnshunt_core::Timestamp,
}

pub struct ConnectionWithoutLookup {
    config: ConnectionWithoutLookupConfig,
    resolved: HashMap<String, HashSet<IpAddr>>,
    n_resolved: usize,
    lookups: HashMap<(String, String), u64>,
    conns: HashMap<(String, String, IpAddr), Conn>,
}

impl ConnectionWithoutLookup {
    pub const NAME: &'static str = "connection_without_lookup";

    pub fn new(mut config: ConnectionWithoutLookupConfig) -> ConnectionWithoutLookup {
        config.ignored_processes.iter_mut().for_each(|s| *s = s.to_lowercase());
        config.shells.iter_mut().for_each(|s| *s = s.to_lowercase());
        ConnectionWithoutLookup {
            config,
            resolved: HashMap::new(),
            n_resolved: 0,
            lookups: HashMap::new(),
            conns: HashMap::new(),
        }
    }
}

impl Detector for ConnectionWithoutLookup {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn observe(&mut self, event: &Event, _out: &mut Vec<Finding>) {
        match &event.kind {
            EventKind::DnsQuery(q) => {
                let h = host(event).to_owned();
                if self.lookups.len() < self.config.max_keys {
                    *self.lookups.entry((h.clone(), image(event))).or_default() += 1;
                }
                let set = self.resolved.entry(h).or_default();
                for ip in q.addresses() {
                    if self.n_resolved < self.config.max_addresses && set.insert(ip) {
                        self.n_resolved += 1;
                    }
                }
            }
            EventKind::NetworkConnect(n) => {
                let (Some(ip), Some(port)) = (n.destination_ip, n.destination_port) else { return };
                if n.initiated == Some(false) || is_local_only(ip) || self.config.ignored_ports.contains(&port) {
                    return;
                }
                if !self.config.include_private && !is_public(ip) {
                    return;
                }
                let img = image(event);
                if self.config.ignored_processes.contains(&img) {
                    return;
                }
                let key = (host(event).to_owned(), img, ip);
                if !self.conns.contains_key(&key) && self.conns.len() >= self.config.max_keys {
                    return;
                }
                let conn = self.conns.entry(key).or_default();
                conn.count += 1;
                if conn.ports.len() < 8 {
                    conn.ports.insert(port);
                }
                keep_earliest(&mut conn.first, event);
                conn.last_time = conn.last_time.max(event.time);
            }
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<Finding>) {
        let mut keys: Vec<&(String, String, IpAddr)> = self.conns.keys().collect();
        keys.sort();
        for key in keys {
            let (h, img, ip) = key;
            let conn = &self.conns[key];
            let n_lookups = self.lookups.get(&(h.clone(), img.clone())).copied().unwrap_or(0);
            let shell = self.config.shells.contains(img);
            let c2_port = conn.ports.iter().copied().find(|p| self.config.c2_ports.contains(p));
            if (n_lookups < self.config.min_lookups && !shell && c2_port.is_none()) || self.resolved.get(h).is_some_and(|s| s.contains(ip)) {
                continue;
            }
            let Some(first) = &conn.first else { continue };
            let public = is_public(*ip);
            let web = conn.ports.iter().all(|p| matches!(p, 80 | 443 | 8080 | 8443));
            let (mut severity, mut score) = if public { (Severity::Medium, 55) } else { (Severity::Low, 30) };
            if !web {
                score += 10;
            }
            if shell && !web {
                (severity, score) = if public { (Severity::High, 80) } else { (Severity::Medium, 60) };
            }
            if c2_port.is_some() {
                (severity, score) = if public {
                    (Severity::High, 85)
                } else {
                    (severity.max(Severity::Medium), score.max(65))
                };
            }
            let ports: Vec<String> = conn.ports.iter().map(u16::to_string).collect();
            let whose = if n_lookups >= self.config.min_lookups {
                format!("although it resolves names otherwise ({n_lookups} lookups)")
            } else if shell {
                "from a shell or script host, which has no business holding a connection to a bare address (reverse shells and download cradles do)".to_owned()
            } else {
                format!("from a program that resolved {n_lookups} name(s)")
            };
            let port_note = match c2_port {
                Some(4444) => "; port 4444 is Metasploit's default for its payloads".to_owned(),
                Some(p) => format!("; port {p} is a well-known C2 default"),
                None => String::new(),
            };
            let explanation = format!(
                "{img} connected {} time(s) to {} address {ip} (port {}) that no lookup on this host returned, {whose}: a direct-to-address connection, as in payload downloads by address or hard-coded C2{port_note}",
                conn.count,
                if public { "the public" } else { "the private" },
                ports.join(", ")
            );
            let mut attack: Vec<&str> = if web { vec!["T1071", "T1105"] } else { vec!["T1071", "T1095"] };
            if shell {
                attack.push("T1059");
            }
            let mut f = Finding::from_event(Self::NAME, severity, score, first, &[img, &ip.to_string()], explanation)
                .with_attack(&attack)
                .with_detail("address", ip.to_string())
                .with_detail("ports", conn.ports.iter().copied().collect::<Vec<u16>>())
                .with_detail("public", public)
                .with_detail("program_lookups", n_lookups);
            f.count = conn.count;
            f.time_last = conn.last_time.max(f.time);
            out.push(f);
        }
        self.conns.clear();
        self.resolved.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{run, short_image, Proc, Rng, T0};

    #[track_caller]
    fn check(config: ConnectionWithoutLookupConfig, events: &[Event], expected: &[(&str, &str, Severity)]) {
        let mut events = events.to_vec();
        for seed in 1..3 {
            Rng::new(seed).shuffle(&mut events);
            let findings = run(&mut ConnectionWithoutLookup::new(config.clone()), &events);
            let got: Vec<(String, String, Severity)> = findings
                .iter()
                .map(|f| (short_image(f).to_owned(), f.details["address"].as_str().unwrap_or("").to_owned(), f.severity))
                .collect();
            let want: Vec<(String, String, Severity)> = expected.iter().map(|(i, a, s)| ((*i).to_owned(), (*a).to_owned(), *s)).collect();
            assert_eq!(got, want);
        }
    }

    fn browsing(p: &Proc) -> Vec<Event> {
        (0..6)
            .flat_map(|i| {
                let ip = format!("93.184.216.{}", 30 + i);
                [
                    p.dns(T0 + i * 1000, &format!("site{i}.example.com"), &format!("::ffff:{ip};"), 0),
                    p.net(T0 + i * 1000 + 50, "tcp", &ip, 443),
                ]
            })
            .collect()
    }

    #[test]
    fn browser_downloading_by_address_is_found() {
        let edge = Proc::new("MKT01", "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe", 1);
        let mut events = browsing(&edge);
        events.push(edge.net(T0 + 10_000, "tcp", "10.0.5.14", 80));
        events.push(edge.net(T0 + 10_500, "tcp", "10.0.5.14", 80));
        events.push(edge.net(T0 + 20_000, "tcp", "45.33.32.156", 443));
        check(
            ConnectionWithoutLookupConfig::default(),
            &events,
            &[("msedge.exe", "10.0.5.14", Severity::Low), ("msedge.exe", "45.33.32.156", Severity::Medium)],
        );
        let public_only = ConnectionWithoutLookupConfig {
            include_private: false,
            ..Default::default()
        };
        check(public_only, &events, &[("msedge.exe", "45.33.32.156", Severity::Medium)]);
    }

    #[test]
    fn resolved_addresses_and_programs_that_never_resolve_are_quiet() {
        let edge = Proc::new("H", "C:\\x\\msedge.exe", 1);
        let other = Proc::new("H", "C:\\x\\updater.exe", 2);
        let payload = Proc::new("H", "C:\\Users\\u\\Downloads\\winx64_payload.exe", 3);
        let svchost = Proc::new("H", "C:\\Windows\\System32\\svchost.exe", 4);
        let mut events = browsing(&edge);
        // The address was resolved by another program on the same host.
        events.push(other.dns(T0, "cdn.example.net", "::ffff:151.101.1.1;", 0));
        events.push(edge.net(T0 + 5000, "tcp", "151.101.1.1", 443));
        // A program that never resolves names, on an ordinary port, is not this detector's
        // business.
        events.push(payload.net(T0 + 6000, "tcp", "10.0.5.13", 8443));
        // Multicast, DNS and services are ignored.
        events.push(edge.net(T0 + 7000, "udp", "239.255.255.250", 1900));
        events.push(edge.net(T0 + 7000, "udp", "10.0.0.53", 53));
        events.extend(browsing(&svchost));
        events.push(svchost.net(T0 + 8000, "tcp", "13.107.4.50", 80));
        check(ConnectionWithoutLookupConfig::default(), &events, &[]);
    }

    #[test]
    fn reverse_shells_and_c2_ports_are_found_without_lookups() {
        // A forensics-exercise shape: an exploited mail server and 32-bit PowerShell connect
        // back to the attacker's box on 4444 and 5555; neither ever resolves a name.
        let mercury = Proc::new("DESKTOP", "C:\\MERCURY\\mercury.exe", 1);
        let ps = Proc::new("DESKTOP", "C:\\Windows\\SysWOW64\\WindowsPowerShell\\v1.0\\powershell.exe", 2);
        let cmd = Proc::new("DESKTOP", "C:\\Windows\\System32\\cmd.exe", 3);
        let events = vec![
            mercury.net(T0, "tcp", "192.168.47.145", 25),
            mercury.net(T0 + 1000, "tcp", "192.168.47.132", 4444),
            ps.net(T0 + 2000, "tcp", "192.168.47.132", 5555),
            cmd.net(T0 + 3000, "tcp", "45.33.32.156", 8081),
        ];
        check(
            ConnectionWithoutLookupConfig::default(),
            &events,
            &[
                ("cmd.exe", "45.33.32.156", Severity::High),
                ("mercury.exe", "192.168.47.132", Severity::Medium),
                ("powershell.exe", "192.168.47.132", Severity::Medium),
            ],
        );
        let findings = run(&mut ConnectionWithoutLookup::new(ConnectionWithoutLookupConfig::default()), &events);
        let mercury_finding = findings.iter().find(|f| f.details["address"] == "192.168.47.132" && f.details["ports"][0] == 4444).unwrap();
        assert!(mercury_finding.explanation.contains("Metasploit's default"), "{}", mercury_finding.explanation);
        let ps_finding = findings.iter().find(|f| f.details["ports"][0] == 5555).unwrap();
        assert!(ps_finding.attack.contains(&"T1059".to_owned()));
        assert!(ps_finding.explanation.contains("shell or script host"), "{}", ps_finding.explanation);

        // Not fired: a shell to a web port on a private address stays low; a shell whose
        // address was resolved on the host, and the lists emptied, are quiet.
        let quiet = ConnectionWithoutLookupConfig {
            shells: Vec::new(),
            c2_ports: Vec::new(),
            ..Default::default()
        };
        check(quiet, &events, &[]);
        let web = vec![ps.net(T0, "tcp", "10.1.1.1", 443)];
        check(ConnectionWithoutLookupConfig::default(), &web, &[("powershell.exe", "10.1.1.1", Severity::Low)]);
        let resolved = vec![ps.dns(T0, "files.example.org", "::ffff:198.51.100.9;", 0), ps.net(T0 + 100, "tcp", "198.51.100.9", 4444)];
        check(ConnectionWithoutLookupConfig::default(), &resolved, &[]);
    }
}

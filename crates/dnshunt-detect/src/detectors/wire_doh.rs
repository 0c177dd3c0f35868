//! # wire_doh
//!
//! **What:** encrypted DNS seen on the wire: connections to port 853 (DNS over TLS) and TLS
//! connections whose server name (SNI) is a well-known DNS-over-HTTPS endpoint, or to a
//! well-known DoH resolver address on port 443. Joined to a process by attribution, a browser
//! doing it is information and any other program medium; without a process, the client's
//! address is named (low).
//!
//! **Why:** DoH and DoT hide the names asked from the resolver's logs, from Sysmon's EID 22
//! and from the sensor's DNS logs; implants use them to resolve and to talk to their C2 unseen.
//! The connection itself is still visible on the wire.
//!
//! **ATT&CK:** T1071.004 (Application Layer Protocol: DNS), T1572 (Protocol Tunneling), T1573
//! (Encrypted Channel).
//!
//! Only servers at public addresses count: encrypted DNS to the fleet's own resolvers is
//! sanctioned, and a connection from the Internet to an exposed host's port 853 is a scan.
//!
//! **False positives:** browsers and operating systems with encrypted DNS switched on (info),
//! ordinary HTTPS to a service that shares an address with a DoH resolver (`8.8.8.8:443`).

use std::collections::HashSet;
use std::net::IpAddr;

use dnshunt_core::{Detector, Event, Finding, Severity};
use serde::Deserialize;

use crate::detectors::doh_connection::{DOH_ADDRESSES, DOH_HOSTS};
use crate::detectors::guid_key;
use crate::stats::image;

/// Settings of the `wire_doh` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WireDohConfig {
    /// More DoH host names (each with its subdomains) and addresses.
    pub extra_hosts: Vec<String>,
    pub extra_addresses: Vec<String>,
    /// Image names (lower case) of browsers, whose encrypted DNS is information only.
    pub browsers: Vec<String>,
}

impl Default for WireDohConfig {
    fn default() -> Self {
        WireDohConfig {
            extra_hosts: Vec::new(),
            extra_addresses: Vec::new(),
            // The same browsers `doh_lookup` knows.
            browsers: crate::detectors::doh_lookup::DohLookupConfig::default().browsers,
        }
    }
}

pub struct WireDoh {
    config: WireDohConfig,
    hosts: Vec<String>,
    addresses: HashSet<IpAddr>,
}

impl WireDoh {
    pub const NAME: &'static str = "wire_doh";

    pub fn new(config: WireDohConfig) -> WireDoh {
        let hosts = DOH_HOSTS
            .iter()
            .map(|s| (*s).to_owned())
            .chain(config.extra_hosts.iter().map(|h| h.to_ascii_lowercase()))
            .collect();
        let addresses = DOH_ADDRESSES
            .iter()
            .copied()
            .chain(config.extra_addresses.iter().map(String::as_str))
            .filter_map(dnshunt_core::parse_ip)
            .collect();
        WireDoh { config, hosts, addresses }
    }

    fn is_doh_host(&self, sni: &str) -> bool {
        self.hosts.iter().any(|h| dnshunt_core::in_zone(sni, h))
    }
}

impl Detector for WireDoh {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn sees_wire(&self) -> bool {
        true
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<Finding>) {
        let Some(f) = event.wire_flow() else { return };
        // Encrypted DNS to the fleet's own servers is sanctioned, and a connection from the
        // Internet to an exposed host's port 853 is a scan, not its DNS.
        if !crate::stats::is_public(f.server.ip) {
            return;
        }
        let port = f.server.port;
        let sni = f.server_name.as_deref().filter(|s| self.is_doh_host(s));
        let what = if port == 853 {
            "DNS over TLS (port 853)".to_owned()
        } else if let Some(sni) = sni {
            format!("DNS over HTTPS (TLS to {sni})")
        } else if port == 443 && self.addresses.contains(&f.server.ip) {
            "HTTPS to a public DoH resolver's address".to_owned()
        } else {
            return;
        };
        let img = image(event);
        let (severity, score, who) = if img.is_empty() {
            (Severity::Low, 30, format!("{} (on the wire)", f.client.ip))
        } else if self.config.browsers.contains(&img) {
            (Severity::Info, 10, img.clone())
        } else {
            (Severity::Medium, 60, img.clone())
        };
        let explanation = format!("{who} used {what} at {}: the names it resolves there are hidden from DNS logs and Sysmon", f.server);
        out.push(
            Finding::from_event(Self::NAME, severity, score, event, &[&guid_key(event), &f.server.ip.to_string()], explanation)
                .with_attack(&["T1071.004", "T1572", "T1573"])
                .with_detail("server", f.server.to_string())
                .with_detail("server_name", f.server_name.clone()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::tests::{attributed, wire_flow};

    fn run(event: Event) -> Vec<Finding> {
        let mut d = WireDoh::new(WireDohConfig::default());
        let mut out = Vec::new();
        d.observe(&event, &mut out);
        out
    }

    #[test]
    fn fires_on_dot_doh_names_and_addresses() {
        let f = run(wire_flow("93.184.216.34", 853, None));
        assert_eq!((f.len(), f[0].severity), (1, Severity::Low));
        assert!(f[0].explanation.starts_with("10.0.0.5 (on the wire) used DNS over TLS"), "{}", f[0].explanation);
        let f = run(attributed(
            wire_flow("93.184.216.34", 443, Some("mozilla.cloudflare-dns.com")),
            r"C:\ProgramData\x\agent.exe",
        ));
        assert_eq!(f[0].severity, Severity::Medium);
        assert!(f[0].explanation.contains("TLS to mozilla.cloudflare-dns.com"));
        let f = run(attributed(wire_flow("1.1.1.1", 443, None), r"C:\Program Files\Mozilla Firefox\firefox.exe"));
        assert_eq!(f[0].severity, Severity::Info);
    }

    #[test]
    fn quiet_on_ordinary_tls() {
        assert!(run(wire_flow("93.184.216.34", 443, Some("www.example.com"))).is_empty());
        assert!(run(wire_flow("93.184.216.34", 53, None)).is_empty());
        // An Internet scanner reaching an exposed host's port 853; a company's own DoT server.
        let mut scan = wire_flow("192.168.1.129", 853, None);
        if let dnshunt_core::EventKind::WireFlow(f) = &mut scan.kind {
            f.client = dnshunt_core::Endpoint {
                ip: "193.46.255.92".parse().unwrap(),
                port: 40000,
            };
        }
        assert!(run(scan).is_empty());
        assert!(run(wire_flow("10.0.0.53", 853, None)).is_empty());
        // `notdns.google` is not below `dns.google`.
        assert!(run(wire_flow("93.184.216.34", 443, Some("notdns.google"))).is_empty());
    }
}

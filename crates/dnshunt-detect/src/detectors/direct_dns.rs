//! # direct_dns
//!
//! **What:** DNS questions a program sent itself, seen on the wire and joined by attribution to
//! the process whose socket sent them (its Sysmon EID 3 to the resolver), when that process is
//! not the Windows DNS client service. The finding names the questions: one per process and
//! domain, with the names and the resolver.
//!
//! **Why:** the seed's hardest lesson: `nslookup`, dnscat2 and implants with their own resolver
//! talk to a DNS server directly, so Sysmon writes no EID 22 — only an EID 3 to port 53. From
//! Sysmon alone one can say only "DNS traffic without DNS events"; with the wire, what the
//! program asked is known.
//!
//! **ATT&CK:** T1071.004 (Application Layer Protocol: DNS); T1572 (Protocol Tunneling) for
//! tunnel tools.
//!
//! **False positives:** DNS servers and domain controllers (`dns.exe`, `lsass.exe`), browsers
//! with a built-in resolver, and administrators running `nslookup`: `client_images` are never
//! flagged, `low_images` are low.

use dnshunt_core::{Detector, Event, Finding, Severity};
use serde::Deserialize;

use crate::detectors::{guid_key, score_of};
use crate::stats::image;

/// Settings of the `direct_dns` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DirectDnsConfig {
    /// Image names (lower case) that send DNS for everyone: the DNS client service, DNS servers.
    pub client_images: Vec<String>,
    /// Image names (lower case) whose own DNS is low: browsers' built-in resolvers, admin tools.
    pub low_images: Vec<String>,
    /// Severity for every other program.
    pub severity: Severity,
}

impl Default for DirectDnsConfig {
    fn default() -> Self {
        let list = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
        DirectDnsConfig {
            client_images: list(&["svchost.exe", "dns.exe", "lsass.exe", "dnscache.exe"]),
            low_images: list(&["chrome.exe", "msedge.exe", "firefox.exe", "brave.exe", "nslookup.exe", "resolve-dnsname.exe"]),
            severity: Severity::Medium,
        }
    }
}

pub struct DirectDns {
    config: DirectDnsConfig,
}

impl DirectDns {
    pub const NAME: &'static str = "direct_dns";

    pub fn new(config: DirectDnsConfig) -> DirectDns {
        DirectDns { config }
    }
}

impl Detector for DirectDns {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn sees_wire(&self) -> bool {
        true
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<Finding>) {
        let Some(w) = event.wire_dns() else { return };
        // Only what attribution joined to a process, and only unicast DNS to a server's port 53:
        // multicast DNS and LLMNR (5353, 5355) are sent by programs themselves by design.
        if w.lookup.process.image.is_none() || w.server.is_none_or(|s| s.port != 53 || s.ip.is_multicast()) {
            return;
        }
        let img = image(event);
        if self.config.client_images.contains(&img) {
            return;
        }
        let severity = if self.config.low_images.contains(&img) { Severity::Low } else { self.config.severity };
        let score = score_of(severity);
        let name = w.lookup.query.as_str();
        let domain = w.lookup.query.base_domain().unwrap_or(name);
        let server = w.server.map(|s| s.to_string()).unwrap_or_else(|| "?".to_owned());
        let qtype = w.qtype.map(|t| t.to_string()).unwrap_or_default();
        let explanation = format!("{img} sent its own DNS question ({qtype} {name}) to {server}, not through the DNS client service, so Sysmon logged no DnsQuery for it");
        out.push(
            Finding::from_event(Self::NAME, severity, score, event, &[&guid_key(event), domain], explanation)
                .with_attack(&["T1071.004"])
                .with_detail("resolver", server)
                .with_detail("domain", domain),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::tests::{attributed, wire};

    fn run(event: Event) -> Vec<Finding> {
        let mut d = DirectDns::new(DirectDnsConfig::default());
        let mut out = Vec::new();
        d.observe(&event, &mut out);
        out
    }

    #[test]
    fn fires_on_a_program_sending_dns_itself() {
        let f = run(attributed(wire("c2.evil.example", 16, &[]), r"C:\Users\u\Downloads\dnscat2.exe"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Medium);
        assert_eq!(f[0].process.image.as_deref(), Some(r"C:\Users\u\Downloads\dnscat2.exe"));
        assert!(
            f[0].explanation.contains("dnscat2.exe sent its own DNS question (TXT c2.evil.example) to 10.0.0.53:53"),
            "{}",
            f[0].explanation
        );
        assert_eq!(f[0].query_name.as_deref(), Some("c2.evil.example"));
        let f = run(attributed(wire("example.org", 1, &[]), r"C:\Windows\System32\nslookup.exe"));
        assert_eq!(f[0].severity, Severity::Low);
    }

    #[test]
    fn quiet_on_the_dns_client_and_unjoined_exchanges() {
        assert!(run(attributed(wire("example.org", 1, &[]), r"C:\Windows\System32\svchost.exe")).is_empty());
        assert!(run(wire("example.org", 1, &[])).is_empty());
        // A browser's multicast DNS.
        let mut mdns = attributed(wire("printer.local", 1, &[]), r"C:\Program Files\Edge\msedge.exe");
        if let dnshunt_core::EventKind::WireDns(w) = &mut mdns.kind {
            w.server = Some(dnshunt_core::Endpoint {
                ip: "224.0.0.251".parse().unwrap(),
                port: 5353,
            });
        }
        assert!(run(mdns).is_empty());
        assert!(run(crate::detectors::tests::dns("example.org", "-")).is_empty());
    }
}

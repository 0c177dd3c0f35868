//! # blocklist
//!
//! **What:** a lookup whose name (or a parent domain of it), any CNAME target in its answers, or
//! any resolved address is on a user-supplied blocklist; and network connections (EID 3) to a
//! blocklisted address.
//!
//! **Why:** known attacker infrastructure (C2 servers, malware hosting, phishing) is the most
//! direct evidence there is. Matching CNAME targets and answers catches names that are
//! innocent-looking aliases of listed infrastructure; matching the connection catches tools
//! that skip DNS.
//!
//! **ATT&CK:** T1071 (Application Layer Protocol), T1568 (Dynamic Resolution) when the match was
//! through an answer.
//!
//! **False positives:** stale list entries (parked or re-registered domains, shared hosting and
//! CDN addresses that once served malware). Prefer domain entries over shared-hosting IPs, and
//! keep lists dated.

use dnshunt_core::{Detector, Event, EventKind, Finding, Severity};
use serde::Deserialize;

use crate::detectors::{guid_key, who};
use crate::indicators::IndicatorSet;

/// Settings of the `blocklist` detector (the lists themselves are given by path on the command
/// line or in the config and loaded by the binary).
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BlocklistConfig {
    /// Severity of a match on the query name or a CNAME target.
    pub name_severity: Severity,
    /// Severity of a match on a resolved or connected address (shared hosting makes these weaker).
    pub address_severity: Severity,
    /// Also match EID 3 destination addresses.
    pub match_connections: bool,
}

impl Default for BlocklistConfig {
    fn default() -> Self {
        BlocklistConfig {
            name_severity: Severity::High,
            address_severity: Severity::Medium,
            match_connections: true,
        }
    }
}

pub struct Blocklist {
    config: BlocklistConfig,
    set: IndicatorSet,
}

impl Blocklist {
    pub const NAME: &'static str = "blocklist";

    pub fn new(config: BlocklistConfig, set: IndicatorSet) -> Blocklist {
        Blocklist { config, set }
    }

    fn score(severity: Severity) -> u8 {
        match severity {
            Severity::Critical => 95,
            Severity::High => 85,
            Severity::Medium => 65,
            Severity::Low => 40,
            Severity::Info => 15,
        }
    }
}

impl Detector for Blocklist {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    /// Names and answers seen on the wire are matched like Sysmon's.
    fn sees_wire(&self) -> bool {
        true
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<Finding>) {
        if self.set.is_empty() {
            return;
        }
        let guid = guid_key(event);
        match (&event.kind, event.lookup()) {
            (_, Some(q)) => {
                let qname = q.query.as_str();
                if let Some(hit) = self.set.match_domain(qname) {
                    let sev = self.config.name_severity;
                    let tag = hit.tag.map(|t| format!(" ({t})")).unwrap_or_default();
                    let explanation = format!("{} looked up {qname}, which is on blocklist {} as {}{tag}", who(event), hit.list, hit.indicator);
                    out.push(
                        Finding::from_event(Self::NAME, sev, Self::score(sev), event, &[&guid, "name", &hit.indicator], explanation)
                            .with_attack(&["T1071"])
                            .with_detail("matched", "query_name")
                            .with_detail("indicator", hit.indicator.clone())
                            .with_detail("list", hit.list)
                            .with_detail("tag", hit.tag),
                    );
                }
                for target in q.answer_names() {
                    if let Some(hit) = self.set.match_domain(target) {
                        let sev = self.config.name_severity;
                        let explanation = format!(
                            "{} looked up {qname}, an alias (CNAME) of {target}, which is on blocklist {} as {}",
                            who(event),
                            hit.list,
                            hit.indicator
                        );
                        out.push(
                            Finding::from_event(Self::NAME, sev, Self::score(sev), event, &[&guid, "cname", &hit.indicator], explanation)
                                .with_attack(&["T1071", "T1568"])
                                .with_detail("matched", "cname")
                                .with_detail("cname", target)
                                .with_detail("indicator", hit.indicator.clone())
                                .with_detail("list", hit.list)
                                .with_detail("tag", hit.tag),
                        );
                    }
                }
                for ip in q.addresses() {
                    if let Some(hit) = self.set.match_ip(ip) {
                        let sev = self.config.address_severity;
                        let explanation = format!("{} looked up {qname}, which resolved to {ip}, on blocklist {} as {}", who(event), hit.list, hit.indicator);
                        out.push(
                            Finding::from_event(Self::NAME, sev, Self::score(sev), event, &[&guid, "answer", &hit.indicator, qname], explanation)
                                .with_attack(&["T1071", "T1568"])
                                .with_detail("matched", "answer")
                                .with_detail("address", ip.to_string())
                                .with_detail("indicator", hit.indicator.clone())
                                .with_detail("list", hit.list)
                                .with_detail("tag", hit.tag),
                        );
                    }
                }
            }
            (EventKind::NetworkConnect(n), _) if self.config.match_connections => {
                let Some(ip) = n.destination_ip else { return };
                if let Some(hit) = self.set.match_ip(ip) {
                    let sev = self.config.address_severity;
                    let port = n.destination_port.map(|p| format!(" port {p}")).unwrap_or_default();
                    let explanation = format!("{} connected to {ip}{port}, which is on blocklist {} as {}", who(event), hit.list, hit.indicator);
                    out.push(
                        Finding::from_event(Self::NAME, sev, Self::score(sev), event, &[&guid, "connection", &hit.indicator], explanation)
                            .with_attack(&["T1071"])
                            .with_detail("matched", "connection")
                            .with_detail("address", ip.to_string())
                            .with_detail("indicator", hit.indicator.clone())
                            .with_detail("list", hit.list)
                            .with_detail("tag", hit.tag),
                    );
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::tests::{dns, net};

    #[track_caller]
    fn check(list: &str, event: Event, expected: &[&str]) {
        let mut set = IndicatorSet::new();
        set.add_list("list.txt", list);
        let mut d = Blocklist::new(BlocklistConfig::default(), set);
        let mut out = Vec::new();
        d.observe(&event, &mut out);
        let got: Vec<String> = out
            .iter()
            .map(|f| format!("{} {}", f.details["matched"].as_str().unwrap(), f.details["indicator"].as_str().unwrap()))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn fires_on_name_parent_cname_and_answer() {
        check("evil.example\n", dns("c2.evil.example", "::ffff:192.0.2.1;"), &["query_name evil.example"]);
        check(
            "cdn-evil.example\n",
            dns("innocent.example", "type:  5 edge.cdn-evil.example;::ffff:192.0.2.1;"),
            &["cname cdn-evil.example"],
        );
        check("192.0.2.0/24\n", dns("innocent.example", "::ffff:192.0.2.1;"), &["answer 192.0.2.0/24"]);
        check("192.0.2.1\n", net("192.0.2.1", 443), &["connection 192.0.2.1"]);
    }

    #[test]
    fn does_not_fire_on_lookalikes_or_clean_events() {
        check("evil.example\n", dns("notevil.example", "::ffff:192.0.2.1;"), &[]);
        check("evil.example\n", dns("evil.example.com", "-"), &[]);
        check("192.0.2.1\n", dns("innocent.example", "::ffff:192.0.2.2;"), &[]);
        check("", dns("evil.example", "-"), &[]);
    }
}

/// Every entry of the maltrail malware lists in the shared test data fires when it appears in an
/// event: as the query name, as a resolved address and as a connection's destination.
#[cfg(test)]
mod maltrail {
    use super::*;
    use crate::detectors::tests::{dns, net};

    fn shared(path: &str) -> Option<String> {
        let full = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/threat-intel/maltrail/").to_owned() + path;
        match std::fs::read_to_string(&full) {
            Ok(text) => Some(text),
            Err(_) if std::env::var_os("CI").is_some() => panic!("{full} is missing (CI requires the shared data)"),
            Err(_) => {
                eprintln!("skipped: {full} missing");
                None
            }
        }
    }

    #[test]
    fn every_maltrail_domain_and_ip_fires() {
        let (Some(domains), Some(ips)) = (shared("malware_domains_cap200.tsv"), shared("malware_ips_cap200.tsv")) else {
            return;
        };
        let mut set = IndicatorSet::new();
        let d = set.add_list("malware_domains_cap200.tsv", &domains);
        let i = set.add_list("malware_ips_cap200.tsv", &ips);
        assert_eq!(d.rejected + i.rejected, 0, "rejected lines: {:?} {:?}", d.rejected_examples, i.rejected_examples);
        let mut detector = Blocklist::new(BlocklistConfig::default(), set);
        let mut out = Vec::new();
        let mut n_domains = 0;
        for line in domains.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            let (domain, family) = line.split_once('\t').unwrap();
            out.clear();
            detector.observe(&dns(domain, "-"), &mut out);
            let f = out.first().unwrap_or_else(|| panic!("{domain} did not fire"));
            // A listed parent (or the name itself) matched, with its list and family tag.
            assert_eq!(f.details["list"], "malware_domains_cap200.tsv");
            assert!(f.details["tag"].is_string(), "{domain} ({family}): no tag");
            n_domains += 1;
        }
        let mut n_ips = 0;
        for line in ips.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            let (ip, family) = line.split_once('\t').unwrap();
            for event in [dns("resolves.example", &format!("{ip};")), net(ip, 443)] {
                out.clear();
                detector.observe(&event, &mut out);
                let f = out.first().unwrap_or_else(|| panic!("{ip} did not fire"));
                let tags = f.details["tag"].as_str().unwrap_or_default();
                // Tags are capped at five per indicator (sinkholes are listed by dozens of families).
                assert!(tags.split(", ").any(|t| t == family) || tags.split(", ").count() == 5, "{ip}: {tags} lacks {family}");
            }
            n_ips += 1;
        }
        assert_eq!((n_domains, n_ips), (82_670, 27_929));
    }
}

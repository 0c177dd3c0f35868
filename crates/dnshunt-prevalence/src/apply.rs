//! Prevalence applied to findings: what most of the fleet does is damped, what one host does
//! a few times is raised, and the finding says so.

use std::net::IpAddr;

use dnshunt_core::{Finding, Severity};

use crate::{FindingKeys, Kind, Prevalence};

/// Detectors whose findings are not damped by prevalence: a user's own list of bad
/// infrastructure stays as loud on the whole fleet as on one host (a worm is fleet-wide too).
pub const NOT_DAMPED: [&str; 2] = ["blocklist", "sigma"];

/// The keys of a finding: its registered domain (or name), the address it is about, its
/// program and command line.
pub fn finding_keys(f: &Finding) -> (Option<&str>, Option<IpAddr>) {
    let domain = f.registered_domain.as_deref().or(f.query_name.as_deref());
    let address = f
        .details
        .get("address")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse::<IpAddr>().ok())
        .or_else(|| f.evidence.iter().find_map(|e| e.network().and_then(|n| n.destination_ip)));
    (domain, address)
}

impl Prevalence {
    /// Damps or raises every finding by the prevalence of what it is about
    /// ([`Prevalence::assess_finding`]): the score is multiplied by the factor, the severity
    /// follows the score's band (down as far as the band, up by one step at most), and
    /// `details.prevalence` and the explanation say why. Returns (damped, raised).
    pub fn apply_to_findings(&self, findings: &mut [Finding]) -> (u64, u64) {
        let (mut damped, mut raised) = (0, 0);
        for f in findings.iter_mut() {
            let (domain, address) = finding_keys(f);
            let keys = FindingKeys {
                domain,
                address,
                image: f.process.image.as_deref(),
                command_line: f.process.command_line.as_deref(),
            };
            let a = self.assess_finding(&keys);
            let Some(reason) = a.reason.clone() else { continue };
            if a.is_damped() && NOT_DAMPED.contains(&f.detector.as_str()) {
                continue;
            }
            // Rarity alone never makes a finding critical: that takes corroboration.
            let score = if a.is_raised() { a.apply(f.score).min(94).max(f.score) } else { a.apply(f.score) };
            let band = Severity::for_score(score);
            if a.is_damped() {
                f.severity = f.severity.min(band);
                damped += 1;
            } else if a.is_raised() {
                let one_up = Severity::ALL.get(f.severity as usize + 1).copied().unwrap_or(f.severity);
                f.severity = f.severity.max(band.min(one_up));
                raised += 1;
            } else {
                continue;
            }
            f.score = score;
            f.explanation.push_str("; ");
            f.explanation.push_str(&reason);
            if let Ok(v) = serde_json::to_value(&a) {
                f.details.insert("prevalence".into(), v);
            }
        }
        (damped, raised)
    }

    /// Whether a domain or address is rare enough in the fleet that two incidents sharing it
    /// belong together: unknown, a fleet too small to tell, or seen on at most two hosts or a
    /// tenth of the fleet.
    pub fn is_rare_indicator(&self, indicator: &str) -> bool {
        let seen = match indicator.parse::<IpAddr>() {
            Ok(ip) => self.get_address(ip),
            Err(_) => self.get(Kind::Domain, indicator),
        };
        let Some(seen) = seen else { return true };
        let fleet = self.fleet_hosts();
        fleet < self.config().min_fleet_hosts || seen.hosts <= (fleet / 10).max(2)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use dnshunt_core::*;

    use crate::{Prevalence, PrevalenceConfig};

    const T0: i64 = 1_710_230_400_000;

    fn lookup(host: &str, image: &str, name: &str, minute: i64) -> Event {
        Event {
            time: Timestamp(T0 + minute * 60_000),
            host: Some(host.into()),
            record_id: None,
            rule_name: None,
            origin: Origin::line(&Arc::from("t"), 1),
            kind: EventKind::DnsQuery(DnsQuery {
                process: ProcessRef {
                    guid: Some(Guid(minute as u128 + 1)),
                    pid: Some(1),
                    image: Some(image.into()),
                    user: None,
                },
                query: DnsName::new(name),
                status: QueryStatus(0),
                answers: Vec::new(),
                results_raw: "-".into(),
            }),
        }
    }

    fn fleet(n_hosts: usize, common: &str, rare: &str) -> Prevalence {
        let mut p = Prevalence::new(PrevalenceConfig::default());
        for h in 0..n_hosts {
            p.observe(&lookup(&format!("WS{h}"), r"C:\Program Files\Chat\chat.exe", common, h as i64));
        }
        p.observe(&lookup("WS0", r"C:\Users\u\AppData\Local\Temp\x.exe", rare, 99));
        p
    }

    fn finding(detector: &str, event: &Event, score: u8) -> Finding {
        Finding::from_event(detector, Severity::for_score(score), score, event, &[], format!("{detector} fired"))
    }

    #[test]
    fn fleet_common_is_damped_and_one_host_once_is_raised() {
        let p = fleet(20, "chat.example.com", "qx7-update.net");
        let mut findings = vec![
            finding("beacon", &lookup("WS3", r"C:\Program Files\Chat\chat.exe", "chat.example.com", 3), 85),
            finding("encoded_name", &lookup("WS0", r"C:\Users\u\AppData\Local\Temp\x.exe", "qx7-update.net", 99), 60),
        ];
        assert_eq!(p.apply_to_findings(&mut findings), (1, 1));
        assert!(findings[0].score < 85 && findings[0].severity < Severity::High, "{:?}", findings[0]);
        assert!(findings[0].explanation.contains("seen on 20 of 20 hosts"), "{}", findings[0].explanation);
        assert!(findings[0].details.contains_key("prevalence"));
        assert!(findings[1].score > 60, "{}", findings[1].score);
        assert!(findings[1].severity <= Severity::High, "one step at most");
    }

    #[test]
    fn blocklist_hits_are_not_damped_and_small_fleets_are_neutral() {
        let p = fleet(20, "chat.example.com", "qx7-update.net");
        let mut findings = vec![finding("blocklist", &lookup("WS3", "chat.exe", "chat.example.com", 3), 85)];
        p.apply_to_findings(&mut findings);
        assert_eq!((findings[0].score, findings[0].severity), (85, Severity::High));
        let small = fleet(2, "chat.example.com", "qx7-update.net");
        let mut findings = vec![finding("beacon", &lookup("WS1", "chat.exe", "chat.example.com", 1), 85)];
        assert_eq!(small.apply_to_findings(&mut findings), (0, 0));
        assert_eq!(findings[0].score, 85);
    }

    #[test]
    fn rare_indicators_join_common_ones_do_not() {
        let p = fleet(20, "chat.example.com", "qx7-update.net");
        assert!(p.is_rare_indicator("qx7-update.net"));
        assert!(p.is_rare_indicator("never-seen.example"));
        assert!(!p.is_rare_indicator("chat.example.com"));
        let small = fleet(2, "chat.example.com", "qx7-update.net");
        assert!(small.is_rare_indicator("chat.example.com"), "a fleet of two cannot tell");
    }
}

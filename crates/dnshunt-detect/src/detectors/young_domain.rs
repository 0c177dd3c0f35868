//! # young_domain
//!
//! **What:** look-ups of names whose registrable domain was registered less than `max_age_days`
//! (default 30) before the look-up, by the dates in newly-registered-domain feeds (`--nrd`) or
//! RDAP (`--rdap`). The severity rises with each further signal: the domain is in no loaded
//! popularity list (`--rank`), most look-ups of it fail (NXDOMAIN), or the asking process is not
//! a browser. Without NRD feeds or RDAP it has nothing to go on and finds nothing.
//!
//! **Why:** phishing and C2 domains are registered days before use and burnt soon after; a
//! domain a few days old that a script resolves is rarely business.
//!
//! **ATT&CK:** T1583.001 (Acquire Infrastructure: Domains), T1071.004 (Application Layer
//! Protocol: DNS), T1566 (Phishing) for browsers.
//!
//! **False positives:** new marketing and SaaS domains, new domains of partners. NRD feeds list
//! every new registration, most of them harmless: the extra signals separate them.

use std::sync::Arc;

use dnshunt_core::{Detector, Event, Finding, FindingSink, QueryStatus, Severity};
use dnshunt_enrich::age::{AgeTable, DomainAge};
use dnshunt_enrich::rank::RankTable;
use serde::Deserialize;

use crate::detectors::geo::BROWSERS;
use crate::detectors::who;
use crate::fast::HashMap;

/// Settings of the `young_domain` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct YoungDomainConfig {
    /// A registrable domain younger than this many days at the time of the look-up is young.
    pub max_age_days: u32,
    /// NRD feeds lag a day or two behind registration: a look-up up to this many days before
    /// the feed's date counts as age 0.
    pub feed_lag_days: u32,
    /// The domain is NXDOMAIN-heavy when at least this share of its look-ups failed ...
    pub nxdomain_share: f64,
    /// ... out of at least this many look-ups.
    pub nxdomain_min_queries: u64,
    /// Image names (lower case) counted as browsers.
    pub browsers: Vec<String>,
    /// Distinct (host, domain, process) kept at most; more are dropped (and memory stays flat).
    pub max_tracked: usize,
}

impl Default for YoungDomainConfig {
    fn default() -> Self {
        YoungDomainConfig {
            max_age_days: 30,
            feed_lag_days: 2,
            nxdomain_share: 0.5,
            nxdomain_min_queries: 3,
            browsers: BROWSERS.iter().map(|b| (*b).to_owned()).collect(),
            max_tracked: 100_000,
        }
    }
}

/// What was seen of one young domain from one process on one host.
struct Sighting {
    first: Event,
    count: u64,
    last: dnshunt_core::Timestamp,
    age: DomainAge,
    age_days: i64,
    browser: bool,
}

pub struct YoungDomain {
    config: YoungDomainConfig,
    ages: Arc<AgeTable>,
    rank: Option<Arc<RankTable>>,
    sightings: HashMap<(Option<std::sync::Arc<str>>, String, String), Sighting>,
    /// Per young domain: (look-ups, failed look-ups).
    outcomes: HashMap<String, (u64, u64)>,
}

impl YoungDomain {
    pub const NAME: &'static str = "young_domain";

    pub fn new(mut config: YoungDomainConfig, ages: Arc<AgeTable>, rank: Option<Arc<RankTable>>) -> YoungDomain {
        for b in &mut config.browsers {
            *b = b.to_lowercase();
        }
        YoungDomain {
            config,
            ages,
            rank,
            sightings: HashMap::default(),
            outcomes: HashMap::default(),
        }
    }
}

impl Detector for YoungDomain {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn observe(&mut self, event: &Event, _out: &mut Vec<Finding>) {
        let Some(q) = event.dns() else { return };
        let Some(domain) = q.query.registered_domain() else { return };
        let Some(age) = self.ages.get(domain) else { return };
        let mut age_days = age.age_days(event.time);
        if age_days < 0 && age_days >= -(self.config.feed_lag_days as i64) {
            age_days = 0;
        }
        if age_days < 0 || age_days >= self.config.max_age_days as i64 {
            return;
        }
        let outcome = self.outcomes.entry(domain.to_owned()).or_default();
        outcome.0 += 1;
        if q.status == QueryStatus::NAME_ERROR {
            outcome.1 += 1;
        }
        let image = who(event);
        let key = (event.host.clone(), domain.to_owned(), image.clone());
        if let Some(s) = self.sightings.get_mut(&key) {
            s.count += 1;
            s.last = s.last.max(event.time);
            // The earliest look-up speaks for the sighting, whatever order files are read in.
            if (event.time, &event.origin.file, event.origin.line) < (s.first.time, &s.first.origin.file, s.first.origin.line) {
                s.first = event.clone();
                s.age_days = age_days;
            }
            return;
        }
        if self.sightings.len() >= self.config.max_tracked {
            return;
        }
        let browser = self.config.browsers.contains(&image);
        self.sightings.insert(
            key,
            Sighting {
                first: event.clone(),
                count: 1,
                last: event.time,
                age,
                age_days,
                browser,
            },
        );
    }

    fn finish(&mut self, out: &mut dyn FindingSink) {
        for ((_, domain, image), s) in self.sightings.drain() {
            let mut signals: Vec<&'static str> = Vec::new();
            let rank = self.rank.as_ref().map(|t| t.rank(&domain));
            if rank == Some(None) {
                signals.push("never_ranked");
            }
            let (n_queries, n_failed) = self.outcomes.get(&domain).copied().unwrap_or_default();
            if n_queries >= self.config.nxdomain_min_queries && n_failed as f64 >= self.config.nxdomain_share * n_queries as f64 {
                signals.push("nxdomain_heavy");
            }
            if !s.browser {
                signals.push("non_browser");
            }
            let severity = match signals.len() {
                0 => Severity::Low,
                1 => Severity::Medium,
                _ => Severity::High,
            };
            let freshness = (self.config.max_age_days as i64 - s.age_days).max(0) * 10 / self.config.max_age_days.max(1) as i64;
            let score = (35 + 15 * signals.len() as i64 + freshness).min(95) as u8;
            let also = if signals.is_empty() {
                String::new()
            } else {
                format!("; also {}", signals.join(", ").replace('_', " "))
            };
            let explanation = format!(
                "{image} looked up {}, whose domain {domain} was registered {} day(s) before ({} {}){also}.",
                s.first.dns().map_or(domain.as_str(), |q| q.query.as_str()),
                s.age_days,
                s.age.source.as_str(),
                s.age.registered.to_string().get(..10).unwrap_or_default(),
            );
            let attack: &[&str] = if s.browser { &["T1583.001", "T1566"] } else { &["T1583.001", "T1071.004"] };
            let mut finding = Finding::from_event(Self::NAME, severity, score, &s.first, &[&domain, &image], explanation)
                .with_attack(attack)
                .with_detail("age_days", s.age_days)
                .with_detail("registered", s.age.registered.to_string())
                .with_detail("age_source", s.age.source.as_str())
                .with_detail("signals", signals.clone())
                .with_detail("domain_queries", n_queries)
                .with_detail("domain_nxdomain", n_failed);
            if let Some(rank) = rank {
                finding = finding.with_detail("rank", rank);
            }
            finding.count = s.count;
            finding.time_last = s.last;
            out.push(finding);
        }
        self.outcomes.clear();
    }
}

#[cfg(test)]
mod tests {
    use dnshunt_core::Timestamp;
    use dnshunt_enrich::age::AgeSource;

    use super::*;
    use crate::testkit::{Proc, T0};

    const DAY: i64 = 86_400_000;

    fn ages(entries: &[(&str, i64)]) -> Arc<AgeTable> {
        let table = AgeTable::new();
        for (domain, days_before_t0) in entries {
            table.insert(
                domain,
                DomainAge {
                    registered: Timestamp(T0 - days_before_t0 * DAY),
                    source: AgeSource::Nrd,
                },
            );
        }
        Arc::new(table)
    }

    #[track_caller]
    fn check(detector: &mut YoungDomain, events: &[Event], expected: &[(&str, Severity)]) -> Vec<Finding> {
        let mut out = Vec::new();
        for e in events {
            detector.observe(e, &mut out);
        }
        detector.finish(&mut out);
        out.sort_by(|a, b| a.registered_domain.cmp(&b.registered_domain));
        let got: Vec<(&str, Severity)> = out.iter().map(|f| (f.registered_domain.as_deref().unwrap(), f.severity)).collect();
        assert_eq!(got, expected);
        out
    }

    #[test]
    fn young_domain_fires_and_old_one_does_not() {
        let ps = Proc::new("H", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", 1);
        let mut d = YoungDomain::new(YoungDomainConfig::default(), ages(&[("fresh-login.com", 3), ("old.example", 400)]), None);
        let events = [
            ps.dns(T0, "a.fresh-login.com", "::ffff:1.2.3.4;", 0),
            ps.dns(T0 + 1000, "b.fresh-login.com", "::ffff:1.2.3.4;", 0),
            ps.dns(T0, "www.old.example", "::ffff:1.2.3.5;", 0),
            ps.dns(T0, "unknown.example", "::ffff:1.2.3.6;", 0),
        ];
        let out = check(&mut d, &events, &[("fresh-login.com", Severity::Medium)]);
        let f = &out[0];
        assert_eq!(f.count, 2);
        assert_eq!(f.details["age_days"], 3);
        assert_eq!(f.details["age_source"], "nrd");
        assert_eq!(f.details["signals"], serde_json::json!(["non_browser"]));
        assert!(f.explanation.contains("registered 3 day(s) before"), "{}", f.explanation);
    }

    #[test]
    fn age_is_taken_at_the_time_of_the_event() {
        let ps = Proc::new("H", "C:\\Windows\\System32\\rundll32.exe", 1);
        let table = ages(&[("fresh-login.com", 3)]);
        // 40 days after registration: old by then. 5 days before the feed date: not yet
        // registered. 1 day before: within the feed's lag.
        let mut d = YoungDomain::new(YoungDomainConfig::default(), table.clone(), None);
        check(
            &mut d,
            &[ps.dns(T0 + 37 * DAY, "fresh-login.com", "", 0), ps.dns(T0 - 8 * DAY, "fresh-login.com", "", 0)],
            &[],
        );
        let mut d = YoungDomain::new(YoungDomainConfig::default(), table, None);
        let out = check(&mut d, &[ps.dns(T0 - 4 * DAY, "fresh-login.com", "", 0)], &[("fresh-login.com", Severity::Medium)]);
        assert_eq!(out[0].details["age_days"], 0);
    }

    #[test]
    fn severity_rises_with_never_ranked_and_nxdomain_and_falls_for_browsers() {
        let chrome = Proc::new("H", "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", 1);
        let ps = Proc::new("H", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", 2);
        let table = ages(&[("fresh-login.com", 3), ("new-saas.com", 10)]);
        let mut rank = RankTable::new();
        rank.add_csv("1,new-saas.com\n");
        let rank = Some(Arc::new(rank));
        // A browser on a ranked young domain: low.
        let mut d = YoungDomain::new(YoungDomainConfig::default(), table.clone(), rank.clone());
        let out = check(&mut d, &[chrome.dns(T0, "app.new-saas.com", "::ffff:1.2.3.4;", 0)], &[("new-saas.com", Severity::Low)]);
        assert_eq!(out[0].details["rank"], 1);
        // PowerShell on a never-ranked young domain whose look-ups mostly fail: high.
        let mut d = YoungDomain::new(YoungDomainConfig::default(), table, rank);
        let events = [
            ps.dns(T0, "x1.fresh-login.com", "", 9003),
            ps.dns(T0 + 1, "x2.fresh-login.com", "", 9003),
            ps.dns(T0 + 2, "x3.fresh-login.com", "::ffff:1.2.3.4;", 0),
        ];
        let out = check(&mut d, &events, &[("fresh-login.com", Severity::High)]);
        assert_eq!(out[0].details["signals"], serde_json::json!(["never_ranked", "nxdomain_heavy", "non_browser"]));
        assert_eq!(out[0].details["domain_nxdomain"], 2);
    }
}

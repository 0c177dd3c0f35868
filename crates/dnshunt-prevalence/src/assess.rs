//! The policy: a score factor from what is known of a key, and of a finding's keys together.

use std::net::IpAddr;

use dnshunt_core::{Event, EventKind, Timestamp};
use serde::Serialize;

use crate::{Kind, Prevalence, Seen};

/// What prevalence says about a key or a finding: multiply the finding's 0–100 score by
/// `factor` ([`Assessment::apply`]) and show `reason` to the analyst.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assessment {
    /// Below 1: damped (the fleet does it); above 1: raised (one host does it, rarely); 1: neutral.
    pub factor: f64,
    /// One short phrase for the analyst when the factor is not 1 (`seen on 41 of 50 hosts`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The key that decided (for a finding, one of its keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// What is known of that key; `None` when it is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<Seen>,
}

impl Assessment {
    /// Factor 1, nothing known.
    pub fn neutral() -> Assessment {
        Assessment {
            factor: 1.0,
            reason: None,
            kind: None,
            seen: None,
        }
    }

    pub fn is_damped(&self) -> bool {
        self.factor < 1.0
    }

    pub fn is_raised(&self) -> bool {
        self.factor > 1.0
    }

    /// A 0–100 score multiplied by the factor, rounded, kept within 0–100.
    pub fn apply(&self, score: u8) -> u8 {
        (score as f64 * self.factor).round().clamp(0.0, 100.0) as u8
    }
}

/// The keys of a finding that prevalence can judge; any may be missing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FindingKeys<'a> {
    /// A query name or registered domain (`www.example.com` is judged as `example.com`).
    pub domain: Option<&'a str>,
    pub address: Option<IpAddr>,
    pub image: Option<&'a str>,
    pub command_line: Option<&'a str>,
}

impl<'a> FindingKeys<'a> {
    /// The keys an event names: its query, its destination address, its process's image and
    /// (EID 1) its command line. A lookup's answer addresses are left out: the name decides.
    pub fn of_event(event: &'a Event) -> FindingKeys<'a> {
        let mut keys = FindingKeys {
            image: event.process().image.as_deref(),
            ..FindingKeys::default()
        };
        match &event.kind {
            EventKind::DnsQuery(q) => keys.domain = Some(q.query.as_str()),
            EventKind::NetworkConnect(n) => keys.address = n.destination_ip,
            EventKind::ProcessCreate(p) => keys.command_line = p.command_line.as_deref(),
            EventKind::WireDns(w) => keys.domain = Some(w.lookup.query.as_str()),
            EventKind::WireFlow(f) => keys.address = Some(f.server.ip),
            EventKind::ProcessTerminate(_) => {}
        }
        keys
    }
}

impl Prevalence {
    /// The policy for one key:
    ///
    /// - **neutral** (factor 1, no reason) when the key is unknown or the fleet has fewer than
    ///   `min_fleet_hosts` hosts;
    /// - **damped** when at least `common_min_hosts` hosts and `common_share` of the fleet have
    ///   it: `common_factor` at that share, moving linearly to `fleet_wide_factor` when every
    ///   host has it (`seen on 41 of 50 hosts`). Not for sketched keys, whose counts are upper
    ///   bounds that collisions may have inflated;
    /// - **raised** by `rare_factor` when 1 to `rare_max_hosts` hosts had it at most
    ///   `rare_max_events` times in the input (`seen on 1 of 50 hosts, twice, first on
    ///   2024-05-01`; `never before` instead of `first on` when a baseline was loaded and does not
    ///   know it, `known since` when it does).
    ///
    /// Counts shown with `~` are estimates, with `at most` upper bounds from the sketch.
    pub fn assess(&self, kind: Kind, value: &str) -> Assessment {
        self.judge(kind, self.get(kind, value))
    }

    /// [`Prevalence::assess`] for an address.
    pub fn assess_address(&self, ip: IpAddr) -> Assessment {
        self.judge(Kind::Address, self.get_address(ip))
    }

    /// The policy for a finding's keys together. Keys that are missing or unknown are left out;
    /// of the rest:
    ///
    /// 1. **Damping** is decided by what the finding is about: its domain when known, else its
    ///    address, else its command line — never its image alone. A rare domain is not damped
    ///    because it sits on a shared CDN address, is resolved by an everyday program, or comes
    ///    with a common command line: that is how command and control hides.
    /// 2. **Raising** needs every known key to be rare: one host doing a rare thing with a
    ///    program the whole fleet runs is less telling than one host doing it with a program
    ///    only it has. The factor is `rare_factor` once, not compounded.
    /// 3. Otherwise **neutral**.
    ///
    /// The reason names the deciding key (`domain seen on 41 of 50 hosts`).
    pub fn assess_finding(&self, keys: &FindingKeys<'_>) -> Assessment {
        let judged: Vec<Assessment> = [
            keys.domain.map(|d| self.assess(Kind::Domain, d)),
            keys.address.map(|ip| self.assess_address(ip)),
            keys.image.map(|i| self.assess(Kind::Image, i)),
            keys.command_line.map(|c| self.assess(Kind::CommandLine, c)),
        ]
        .into_iter()
        .flatten()
        .filter(|a| a.seen.is_some())
        .collect();
        let Some(first) = judged.first() else {
            return Assessment::neutral();
        };
        let labelled = |a: &Assessment| Assessment {
            reason: a.reason.as_ref().zip(a.kind).map(|(r, k)| format!("{} {r}", k.label())),
            ..a.clone()
        };
        if let Some(target) = judged.iter().find(|a| a.kind != Some(Kind::Image)) {
            if target.is_damped() {
                return labelled(target);
            }
        }
        if judged.iter().all(Assessment::is_raised) {
            return labelled(first);
        }
        Assessment {
            factor: 1.0,
            reason: None,
            ..first.clone()
        }
    }

    fn judge(&self, kind: Kind, seen: Option<Seen>) -> Assessment {
        let Some(seen) = seen else {
            return Assessment::neutral();
        };
        let c = &self.config;
        let fleet = self.fleet_hosts().max(seen.hosts);
        let mut a = Assessment {
            factor: 1.0,
            reason: None,
            kind: Some(kind),
            seen: None,
        };
        if fleet >= c.min_fleet_hosts.max(1) {
            let hosts = seen.hosts;
            let share = hosts as f64 / fleet as f64;
            let about = if seen.sketched {
                "at most "
            } else if !seen.hosts_exact {
                "~"
            } else {
                ""
            };
            if !seen.sketched && hosts >= c.common_min_hosts && share >= c.common_share {
                let towards_all = if c.common_share < 1.0 {
                    ((share - c.common_share) / (1.0 - c.common_share)).clamp(0.0, 1.0)
                } else {
                    1.0
                };
                a.factor = c.common_factor + (c.fleet_wide_factor - c.common_factor) * towards_all;
                a.reason = Some(format!("seen on {about}{hosts} of {fleet} hosts"));
            } else if (1..=c.rare_max_hosts).contains(&hosts) && (1..=c.rare_max_events).contains(&seen.events) {
                a.factor = c.rare_factor;
                let times = match seen.events {
                    1 => "once".to_owned(),
                    2 => "twice".to_owned(),
                    n => format!("{n} times"),
                };
                let since = match (seen.first_seen_before, seen.first) {
                    (Some(before), _) => format!(", known since {}", date(before)),
                    (None, Some(first)) if self.has_baseline() => format!(", never before {}", date(first)),
                    (None, Some(first)) => format!(", first on {}", date(first)),
                    (None, None) => String::new(),
                };
                a.reason = Some(format!("seen on {about}{hosts} of {fleet} hosts, {times}{since}"));
            }
        }
        a.seen = Some(seen);
        a
    }
}

/// `2024-05-01`.
fn date(t: Timestamp) -> String {
    let mut text = t.to_string();
    text.truncate(10);
    text
}

//! # first_seen
//!
//! **What:** registered domains and programs (image names) that are new: new to a host, and new
//! to the whole fleet, compared with what earlier runs saw (the state store, `--state`). The
//! first run over a fleet only learns and reports nothing; each later run reports what is new
//! since. A domain resolved by a single host of the run is called out as rare.
//!
//! Severity: a program never seen on any host before is **medium**; a domain never resolved by
//! any host before is **low** (+5 when only one host of the run resolved it); something new to
//! one host but known elsewhere in the fleet is **info**.
//!
//! Without a state store (no `--state`, or `--no-state`) the detector stays idle and keeps no
//! state at all.
//!
//! **Why:** attacker infrastructure is young and rare: a fresh C2 domain or a dropped tool shows
//! up as something no host had seen before, while the fleet's everyday domains and programs are
//! known after the first day. (RITA's "first seen" and "prevalence" modifiers use the same
//! idea.)
//!
//! **ATT&CK:** T1583.001 (Acquire Infrastructure: Domains) for new domains, T1204 (User
//! Execution) / T1105 (Ingress Tool Transfer) for new programs.
//!
//! **False positives:** software updates (new versions keep their image name, so they are not
//! new), new websites users visit (low), new employees' machines (everything is new to a new
//! host: info only, unless the fleet has never seen it either).

use std::collections::{BTreeMap, BTreeSet};

use dnshunt_core::{BoundReached, Detector, Event, EventKind, Finding, FindingSink, Severity};
use serde::Deserialize;

use crate::fast::{HashMap, HashSet};
use crate::stats::{host, image, keep_earliest};

/// The host column of fleet-wide entries.
pub const FLEET: &str = "*";

/// Settings of the `first_seen` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FirstSeenConfig {
    /// Report new registered domains. Default true.
    pub domains: bool,
    /// Report new programs. Default true.
    pub processes: bool,
    /// Also report things new to one host but known in the fleet (info). Default true.
    pub new_to_host: bool,
    /// (kind, host, value) entries remembered in a run. Default 1 000 000.
    pub max_keys: usize,
}

impl Default for FirstSeenConfig {
    fn default() -> Self {
        FirstSeenConfig {
            domains: true,
            processes: true,
            new_to_host: true,
            max_keys: 1_000_000,
        }
    }
}

/// What earlier runs saw: (kind, host or `*`, value).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FirstSeenBaseline {
    entries: HashSet<(String, String, String)>,
}

impl FirstSeenBaseline {
    pub fn insert(&mut self, kind: &str, host: &str, value: &str) {
        self.entries.insert((kind.to_owned(), host.to_owned(), value.to_owned()));
    }

    pub fn contains(&self, kind: &str, host: &str, value: &str) -> bool {
        // Allocation-free lookups would need a borrowed key type; the baseline is consulted
        // once per distinct key at the end of a run, so this is cheap enough.
        self.entries.contains(&(kind.to_owned(), host.to_owned(), value.to_owned()))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The (kind, value) facts an event contributes: its registered domain (lookups with a public
/// suffix only) and its program.
pub fn observations(event: &Event) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(2);
    if let EventKind::DnsQuery(q) = &event.kind {
        if let Some(domain) = q.query.registered_domain() {
            out.push(("domain", domain.to_owned()));
        }
    }
    let img = image(event);
    if !img.is_empty() {
        out.push(("process", img));
    }
    out
}

#[derive(Debug, Default)]
struct Seen {
    count: u64,
    first: Option<Event>,
}

pub struct FirstSeen {
    config: FirstSeenConfig,
    baseline: Option<FirstSeenBaseline>,
    seen: HashMap<(&'static str, String, String), Seen>,
    /// Observations past `max_keys`.
    over_keys: u64,
}

impl FirstSeen {
    pub const NAME: &'static str = "first_seen";

    /// `baseline` is what the state store holds; `None` (no store) or an empty one (the first
    /// run) makes the detector learn only.
    pub fn new(config: FirstSeenConfig, baseline: Option<FirstSeenBaseline>) -> FirstSeen {
        let baseline = baseline.filter(|b| !b.is_empty());
        FirstSeen {
            config,
            baseline,
            seen: HashMap::default(),
            over_keys: 0,
        }
    }
}

impl Detector for FirstSeen {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn bounds_reached(&self) -> Vec<BoundReached> {
        BoundReached::all([BoundReached::of(Self::NAME, "max_keys", self.config.max_keys, self.over_keys)])
    }

    fn observe(&mut self, event: &Event, _out: &mut Vec<Finding>) {
        if self.baseline.is_none() {
            return;
        }
        for (kind, value) in observations(event) {
            if (kind == "domain" && !self.config.domains) || (kind == "process" && !self.config.processes) {
                continue;
            }
            let key = (kind, host(event).to_owned(), value);
            let Some(s) = crate::fast::bounded_entry(&mut self.seen, key, self.config.max_keys, Seen::default) else {
                self.over_keys += 1;
                continue;
            };
            s.count += 1;
            keep_earliest(&mut s.first, event);
        }
    }

    fn finish(&mut self, out: &mut dyn FindingSink) {
        let Some(baseline) = &self.baseline else { return };
        let mut hosts_per_value: BTreeMap<(&'static str, &str), BTreeSet<&str>> = BTreeMap::new();
        for (kind, h, value) in self.seen.keys() {
            hosts_per_value.entry((kind, value.as_str())).or_default().insert(h.as_str());
        }
        let mut keys: Vec<&(&'static str, String, String)> = self.seen.keys().collect();
        keys.sort();
        for key in keys {
            let (kind, h, value) = key;
            if baseline.contains(kind, h, value) {
                continue;
            }
            let new_to_fleet = !baseline.contains(kind, FLEET, value);
            if !new_to_fleet && !self.config.new_to_host {
                continue;
            }
            let s = &self.seen[key];
            let Some(first) = &s.first else { continue };
            let hosts = hosts_per_value.get(&(*kind, value.as_str())).map_or(1, BTreeSet::len);
            let (severity, score) = match (*kind, new_to_fleet) {
                ("process", true) => (Severity::Medium, 55),
                ("domain", true) => (Severity::Low, if hosts == 1 { 40 } else { 35 }),
                _ => (Severity::Info, 15),
            };
            let what = if *kind == "domain" { "domain" } else { "program" };
            let scope = if new_to_fleet {
                "never seen on any host in earlier runs".to_owned()
            } else {
                format!("new to {h}, though other hosts have seen it")
            };
            let rare = if hosts == 1 { "; only this host has it in this run" } else { "" };
            let verb = if *kind == "domain" { "resolved" } else { "ran" };
            let explanation = format!("{what} {value} first {verb} at {}: {scope}{rare}", first.time);
            let mut f = Finding::from_event(Self::NAME, severity, score, first, &[kind, value], explanation)
                .with_attack(if *kind == "domain" { &["T1583.001"] } else { &["T1204", "T1105"] })
                .with_detail("kind", *kind)
                .with_detail("value", value.clone())
                .with_detail("new_to_fleet", new_to_fleet)
                .with_detail("hosts_in_run", hosts);
            if *kind == "domain" {
                f.registered_domain = Some(value.clone());
            }
            f.count = s.count;
            out.push(f);
        }
        self.seen.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{run, Proc, T0};

    fn baseline_of(events: &[Event]) -> FirstSeenBaseline {
        let mut b = FirstSeenBaseline::default();
        for e in events {
            for (kind, value) in observations(e) {
                b.insert(kind, host(e), &value);
                b.insert(kind, FLEET, &value);
            }
        }
        b
    }

    #[track_caller]
    fn check(baseline: Option<FirstSeenBaseline>, events: &[Event], expected: &[(&str, &str, Severity)]) {
        let findings = run(&mut FirstSeen::new(FirstSeenConfig::default(), baseline), events);
        let got: Vec<(String, String, Severity)> = findings
            .iter()
            .map(|f| (f.details["kind"].as_str().unwrap().to_owned(), f.details["value"].as_str().unwrap().to_owned(), f.severity))
            .collect();
        let want: Vec<(String, String, Severity)> = expected.iter().map(|(k, v, s)| ((*k).to_owned(), (*v).to_owned(), *s)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn first_run_learns_second_run_reports_only_what_is_new() {
        let edge = Proc::new("WS1", "C:\\x\\msedge.exe", 1);
        let edge2 = Proc::new("WS2", "C:\\x\\msedge.exe", 2);
        let day1 = vec![
            edge.dns(T0, "www.example.com", "-", 0),
            edge2.dns(T0, "www.example.org", "-", 0),
            edge.dns(T0, "wpad", "-", 9003),
        ];
        // Run 1: no baseline, nothing reported.
        check(None, &day1, &[]);
        check(Some(FirstSeenBaseline::default()), &day1, &[]);
        let baseline = baseline_of(&day1);
        // Run 2: the same data again is not new.
        check(Some(baseline.clone()), &day1, &[]);
        // Run 2 with new things: a new domain, a new program, and a domain new only to WS2.
        let payload = Proc::new("WS2", "C:\\Users\\u\\Downloads\\winx64_payload.exe", 3);
        let mut day2 = day1.clone();
        day2.push(edge.dns(T0 + 86_400_000, "login.fresh-c2.net", "-", 0));
        day2.push(payload.net(T0 + 86_400_000, "tcp", "10.0.5.13", 4433));
        day2.push(edge2.dns(T0 + 86_400_000, "img.example.com", "-", 0));
        day2.push(edge.dns(T0 + 86_400_000, "www.example.com", "-", 0));
        check(
            Some(baseline),
            &day2,
            &[
                ("domain", "fresh-c2.net", Severity::Low),
                ("domain", "example.com", Severity::Info),
                ("process", "winx64_payload.exe", Severity::Medium),
            ],
        );
    }
}

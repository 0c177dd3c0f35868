//! The engine: runs every detector over every event, merges repeated findings, and attaches
//! process context from ProcessCreate events once all input has been seen (so the result does
//! not depend on the order files were read in).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::fast::HashMap;
use dnshunt_core::{Detector, Event, Finding, Severity};

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Evidence events kept per finding (the earliest ones).
    pub max_evidence: usize,
    /// Findings below this severity are dropped.
    pub min_severity: Severity,
    /// How per-name findings are folded per process and registered domain.
    pub aggregate: crate::aggregate::AggregateConfig,
    /// Whether `related_lookup` runs (it lives in the engine, not in the registry).
    pub related_lookup: bool,
    /// Processes (EID 1) the process tree keeps for the join.
    pub max_processes: usize,
    /// Findings held: past it new info findings are counted, not kept; past twice it new low
    /// ones too. Medium and higher are always kept.
    pub max_findings: usize,
    /// Time every detector and engine step (`hunt --profile`): two clock reads per detector
    /// and event, a few percent of the run.
    pub profile: bool,
    /// How wire events are joined to Sysmon's processes.
    pub attribution: dnshunt_attribution::AttributionConfig,
    /// Threads the detectors are spread over in [`Engine::observe_batch`] (1: the calling
    /// thread alone). The findings are the same whatever the number.
    pub threads: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_evidence: 5,
            min_severity: Severity::Info,
            aggregate: crate::aggregate::AggregateConfig::default(),
            related_lookup: true,
            attribution: dnshunt_attribution::AttributionConfig::default(),
            max_processes: crate::process_tree::DEFAULT_MAX_PROCESSES,
            max_findings: 100_000,
            profile: false,
            threads: 1,
        }
    }
}

/// Counts for the run summary.
#[derive(Clone, Debug, Default)]
pub struct EngineReport {
    /// Findings per detector (after merging), and the events behind them.
    pub findings_per_detector: BTreeMap<String, (u64, u64)>,
    /// Findings below `min_severity`.
    pub below_min_severity: u64,
    /// Findings suppressed by the allowlist per detector, and the events behind them.
    pub suppressed_per_detector: BTreeMap<String, (u64, u64)>,
    /// Bounds on the detectors' state the input reached (see `docs/reliability.md`).
    pub bounds_reached: Vec<dnshunt_core::BoundReached>,
    /// Per-name findings counted into their folded finding rather than held in full (past
    /// `[aggregate] max_findings_per_process` or `max_findings`).
    pub tallied_findings: u64,
    /// Info and low findings not kept past `max_findings`, per detector (findings, events).
    pub not_kept_per_detector: BTreeMap<String, (u64, u64)>,
    /// `max_findings`, for the summary.
    pub max_findings: usize,
    /// With `EngineConfig::profile`: time per detector (its `observe` calls and its `finish`)
    /// and per engine step, in the order they ran.
    pub profile: Vec<(String, std::time::Duration)>,
    /// What the join of wire events to Sysmon's processes did.
    pub attribution: dnshunt_attribution::AttributionReport,
}

impl EngineReport {
    /// Drops the findings below `min` (after incidents were built from all of them) and counts
    /// the rest per detector again.
    pub fn apply_min_severity(&mut self, findings: &mut Vec<Finding>, min: Severity) {
        let before = findings.len();
        findings.retain(|f| f.severity >= min);
        self.below_min_severity += (before - findings.len()) as u64;
        self.findings_per_detector.values_mut().for_each(|v| *v = (0, 0));
        for f in findings.iter() {
            let entry = self.findings_per_detector.entry(f.detector.clone()).or_default();
            entry.0 += 1;
            entry.1 += f.count;
        }
    }
}

pub struct Engine {
    config: EngineConfig,
    detectors: Vec<Box<dyn Detector>>,
    /// Per detector: whether it is shown wire events ([`Detector::sees_wire`]).
    sees_wire: Vec<bool>,
    /// Wire events wait here for the end of input, to be joined to Sysmon's processes.
    attribution: dnshunt_attribution::Attribution,
    attribution_report: dnshunt_attribution::AttributionReport,
    findings: HashMap<String, Finding>,
    process_tree: crate::process_tree::ProcessTree,
    scratch: Vec<Finding>,
    allowlist: crate::allowlist::Allowlist,
    related: crate::detectors::related_lookup::RelatedLookups,
    /// Events without a ProcessGuid, held until their EID 1 can have been read.
    deferred: Vec<Event>,
    /// Per-name findings past the bounds of what is held in full (see [`crate::aggregate`]).
    tallies: crate::aggregate::Tallies,
    /// Tallied findings the allowlist allowed, per detector (findings, events).
    suppressed_tallied: BTreeMap<String, (u64, u64)>,
    /// Info and low findings past `max_findings`, per detector (findings, events).
    not_kept: BTreeMap<String, (u64, u64)>,
    /// With `EngineConfig::profile`: time per detector, then [`STEPS`].
    timing: Option<Vec<std::time::Duration>>,
    /// Which detectors run on which thread in [`Engine::observe_batch`].
    lanes: crate::lanes::Lanes,
}

/// The engine's own steps, as `--profile` names them (after the detectors).
const STEPS: [&str; 4] = [
    "engine: process join",
    "engine: related_lookup",
    "engine: merging findings",
    "engine: folding, context, sorting",
];

/// The engine as a [`dnshunt_core::FindingSink`] for the detectors' `finish`.
struct Absorb<'a>(&'a mut Engine);

impl dnshunt_core::FindingSink for Absorb<'_> {
    fn push(&mut self, finding: Finding) {
        self.0.absorb_one(finding);
    }
}

/// Events without a ProcessGuid held for the join (a few in a thousand in real recordings).
const MAX_DEFERRED: usize = 100_000;

impl Engine {
    pub fn new(config: EngineConfig, mut detectors: Vec<Box<dyn Detector>>) -> Engine {
        let detectors_len = detectors.len();
        for d in &mut detectors {
            d.set_max_evidence(config.max_evidence);
        }
        let timing = config.profile.then(|| vec![std::time::Duration::ZERO; detectors.len() + STEPS.len()]);
        Engine {
            sees_wire: detectors.iter().map(|d| d.sees_wire()).collect(),
            attribution: dnshunt_attribution::Attribution::new(config.attribution.clone()),
            attribution_report: dnshunt_attribution::AttributionReport::default(),
            detectors,
            findings: HashMap::default(),
            process_tree: crate::process_tree::ProcessTree::new(config.max_processes),
            scratch: Vec::new(),
            allowlist: crate::allowlist::Allowlist::default(),
            related: crate::detectors::related_lookup::RelatedLookups::default(),
            deferred: Vec::new(),
            tallies: crate::aggregate::Tallies::new(&config.aggregate),
            suppressed_tallied: BTreeMap::new(),
            not_kept: BTreeMap::new(),
            timing,
            lanes: crate::lanes::Lanes::new(detectors_len, config.threads),
            config,
        }
    }

    /// Suppresses the findings the allowlist allows (they are counted in the report).
    pub fn with_allowlist(mut self, allowlist: crate::allowlist::Allowlist) -> Engine {
        self.allowlist = allowlist;
        self
    }

    pub fn detector_names(&self) -> Vec<&'static str> {
        self.detectors.iter().map(|d| d.name()).collect()
    }

    pub fn observe(&mut self, event: &Event) {
        if self.before_detect(event) {
            self.detect(event, None);
        }
    }

    /// [`Engine::observe`] of an event the detectors may keep without copying it
    /// ([`Detector::observe_shared`]).
    pub fn observe_shared(&mut self, event: &Arc<Event>) {
        if self.before_detect(event) {
            self.detect(event, Some(event));
        }
    }

    /// [`Engine::observe_shared`] for each event of a batch in turn, with the detectors spread
    /// over [`EngineConfig::threads`] threads: each detector sees the events in order, and the
    /// engine's own steps and the findings are taken event by event as one thread takes them,
    /// so the result is the same. Batches with what the network saw (held for attribution, and
    /// shown to the detectors as they come when it is off) run on this thread.
    pub fn observe_batch(&mut self, events: &[Arc<Event>]) {
        let parallel = self.lanes.count() > 1 && self.timing.is_none() && events.len() >= crate::lanes::MIN_BATCH && events.iter().all(|e| e.kind.is_sysmon());
        if !parallel {
            for event in events {
                self.observe_shared(event);
            }
            return;
        }
        // The steps that do not depend on findings, in order: which events the detectors see.
        let mut seen: Vec<&Arc<Event>> = Vec::with_capacity(events.len());
        let mut seen_at: Vec<usize> = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            self.attribution.observe_sysmon(event);
            if self.defer(event) {
                continue;
            }
            seen.push(event);
            seen_at.push(i);
        }
        let findings = if seen.is_empty() {
            Vec::new()
        } else {
            self.lanes.run(&mut self.detectors, &mut self.related, &seen)
        };
        // Then event by event: the process join, then the event's findings.
        let mut findings = findings.into_iter().peekable();
        for (i, event) in events.iter().enumerate() {
            self.process_tree.observe(event);
            while let Some((_, finding)) = findings.next_if(|(k, _)| seen_at[*k as usize] == i) {
                self.absorb_one(finding);
            }
        }
    }

    /// The engine's own steps for an event before the detectors see it (attribution, the
    /// process join, holding back what waits for the end of input); whether they see it now.
    fn before_detect(&mut self, event: &Event) -> bool {
        if !event.kind.is_sysmon() {
            // What the network saw waits for the end of input, to be joined to the process
            // that sent it; then it goes to the detectors that judge it.
            if self.sees_wire.iter().any(|&s| s) {
                if let Some(unheld) = self.attribution.hold(event.clone()) {
                    self.detect_wire(&unheld);
                }
            }
            return false;
        }
        self.attribution.observe_sysmon(event);
        // The process join (EID 1 by host and ProcessGuid, with parents) for findings' context.
        let started = self.timing.is_some().then(std::time::Instant::now);
        self.process_tree.observe(event);
        self.add_time(self.detectors.len(), started);
        !self.defer(event)
    }

    /// A lookup or connection without a ProcessGuid (Sysmon writes zeros for short-lived
    /// processes) waits until all input is read: then it is joined by host and pid to its EID 1
    /// (which may come later, from another reader) and the detectors see it with its program,
    /// whatever the read order. Only past `MAX_DEFERRED` is one seen as it came. Whether it
    /// waits.
    fn defer(&mut self, event: &Event) -> bool {
        let unknown = crate::process_tree::is_unknown(event.process().guid) && event.process().pid.is_some() && !matches!(event.kind, dnshunt_core::EventKind::ProcessCreate(_));
        if unknown && self.deferred.len() < MAX_DEFERRED {
            self.deferred.push(event.clone());
            return true;
        }
        false
    }

    /// Shows an event to every detector (`shared`: the same event, for them to keep).
    fn detect(&mut self, event: &Event, shared: Option<&Arc<Event>>) {
        let n = self.detectors.len();
        let observe = |detector: &mut Box<dyn Detector>, out: &mut Vec<Finding>| match shared {
            Some(shared) => detector.observe_shared(shared, out),
            None => detector.observe(event, out),
        };
        match self.timing.as_mut() {
            None => {
                for detector in &mut self.detectors {
                    observe(detector, &mut self.scratch);
                }
                self.related.observe(event, shared);
                self.absorb();
            }
            Some(timing) => {
                let mut last = std::time::Instant::now();
                for (i, detector) in self.detectors.iter_mut().enumerate() {
                    observe(detector, &mut self.scratch);
                    let now = std::time::Instant::now();
                    timing[i] += now - last;
                    last = now;
                }
                self.related.observe(event, shared);
                self.add_time(n + 1, Some(last));
                let started = std::time::Instant::now();
                self.absorb();
                self.add_time(n + 2, Some(started));
            }
        }
    }

    fn detect_wire(&mut self, event: &Event) {
        for (i, detector) in self.detectors.iter_mut().enumerate() {
            if !self.sees_wire[i] {
                continue;
            }
            let started = self.timing.is_some().then(std::time::Instant::now);
            detector.observe(event, &mut self.scratch);
            if let (Some(timing), Some(started)) = (self.timing.as_mut(), started) {
                timing[i] += started.elapsed();
            }
        }
        self.absorb();
    }

    /// Adds the time since `started` to slot `i` of the profile.
    fn add_time(&mut self, i: usize, started: Option<std::time::Instant>) {
        if let (Some(timing), Some(started)) = (self.timing.as_mut(), started) {
            timing[i] += started.elapsed();
        }
    }

    fn absorb(&mut self) {
        let mut scratch = std::mem::take(&mut self.scratch);
        for finding in scratch.drain(..) {
            self.absorb_one(finding);
        }
        self.scratch = scratch;
    }

    /// Takes in one finding: merged into the one with its id, held, tallied (see
    /// `crate::aggregate`), or counted and not kept (info and low past `max_findings`).
    fn absorb_one(&mut self, mut finding: Finding) {
        if let Some(existing) = self.findings.get_mut(&finding.id) {
            existing.merge(finding, self.config.max_evidence);
            return;
        }
        let held = self.findings.len();
        let max = self.config.max_findings;
        if (held >= max && finding.severity == Severity::Info) || (held >= max.saturating_mul(2) && finding.severity <= Severity::Low) {
            let entry = self.not_kept.entry(finding.detector.clone()).or_default();
            entry.0 += 1;
            entry.1 += finding.count;
            return;
        }
        if self.tallies.hold(&finding) {
            self.findings.insert(finding.id.clone(), finding);
            return;
        }
        // Past the bounds: tallied, after the allowlist with the process context known so far.
        self.process_tree.fill_finding(&mut finding);
        if self.allowlist.allows_finding(&finding) {
            let entry = self.suppressed_tallied.entry(finding.detector.clone()).or_default();
            entry.0 += 1;
            entry.1 += finding.count;
            return;
        }
        self.tallies.tally(&finding);
    }

    /// Ends the run: lets detectors judge over time, adds process context, sorts by time.
    pub fn finish(self) -> (Vec<Finding>, EngineReport) {
        self.finish_with(&|_| true)
    }

    /// [`Engine::finish`], with `is_rare` deciding which domains are rare enough in the fleet
    /// that a finding about one implicates the other lookups of it (`related_lookup`).
    pub fn finish_with(mut self, is_rare: &dyn Fn(&str) -> bool) -> (Vec<Finding>, EngineReport) {
        let (wire, attribution) = std::mem::take(&mut self.attribution).finish();
        self.attribution_report = attribution;
        for event in &wire {
            self.detect_wire(event);
        }
        drop(wire);
        for event in std::mem::take(&mut self.deferred) {
            match self.process_tree.repair(&event) {
                Some(joined) => self.detect(&joined, None),
                None => self.detect(&event, None),
            }
        }
        // Each finding a detector gives at the end is taken in as it comes: a detector with
        // a hundred thousand to give never has them all in memory at once.
        let mut detectors = std::mem::take(&mut self.detectors);
        for (i, detector) in detectors.iter_mut().enumerate() {
            let started = self.timing.is_some().then(std::time::Instant::now);
            detector.finish(&mut Absorb(&mut self));
            self.add_time(i, started);
        }
        self.detectors = detectors;
        let folding = self.timing.is_some().then(std::time::Instant::now);
        let mut report = EngineReport {
            suppressed_per_detector: std::mem::take(&mut self.suppressed_tallied),
            bounds_reached: self.detectors.iter().flat_map(|d| d.bounds_reached()).collect(),
            tallied_findings: self.tallies.tallied,
            not_kept_per_detector: std::mem::take(&mut self.not_kept),
            max_findings: self.config.max_findings,
            attribution: std::mem::take(&mut self.attribution_report),
            ..Default::default()
        };
        let mut kept: Vec<Finding> = Vec::with_capacity(self.findings.len());
        for (_, mut f) in self.findings.drain() {
            self.process_tree.fill_finding(&mut f);
            if self.allowlist.allows_finding(&f) {
                let entry = report.suppressed_per_detector.entry(f.detector.clone()).or_default();
                entry.0 += 1;
                entry.1 += f.count;
                continue;
            }
            kept.push(f);
        }
        // Per-name findings become one per process and registered domain (or per process).
        let tallies = std::mem::replace(&mut self.tallies, crate::aggregate::Tallies::new(&self.config.aggregate));
        let mut kept = crate::aggregate::aggregate_with(kept, tallies, &self.config.aggregate, self.config.max_evidence);
        // Other lookups of a domain those findings implicate (the operator's ping of the C2).
        let related = if self.config.related_lookup {
            self.related.findings(&kept, is_rare)
        } else {
            Vec::new()
        };
        for mut f in related {
            self.process_tree.fill_finding(&mut f);
            if !self.allowlist.allows_finding(&f) {
                kept.push(f);
            }
        }
        let mut findings: Vec<Finding> = Vec::with_capacity(kept.len());
        for mut f in kept {
            if f.severity < self.config.min_severity {
                report.below_min_severity += 1;
                continue;
            }
            self.process_tree.annotate(&mut f);
            let entry = report.findings_per_detector.entry(f.detector.clone()).or_default();
            entry.0 += 1;
            entry.1 += f.count;
            findings.push(f);
        }
        findings.sort_by(|a, b| (a.time, &a.detector, &a.id).cmp(&(b.time, &b.detector, &b.id)));
        let n = self.detectors.len();
        self.add_time(n + 3, folding);
        if let Some(timing) = &self.timing {
            let names = self.detectors.iter().map(|d| d.name().to_owned()).chain(STEPS.iter().map(|s| (*s).to_owned()));
            report.profile = names.zip(timing.iter().copied()).collect();
        }
        // The detectors' state can be millions of small allocations (a threat-intel list of a
        // million entries takes 0.2-0.4 s to free): free it off the caller's path. A program
        // that exits right after does not wait for it.
        // Should no thread be available, the failed spawn drops them here instead.
        let detectors = std::mem::take(&mut self.detectors);
        let _ = std::thread::Builder::new().name("dnshunt-free".into()).spawn(move || drop(detectors));
        (findings, report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::record_type::{RecordTypeConfig, RecordTypes};
    use crate::detectors::tests::dns;

    #[test]
    fn repeated_findings_merge_and_keep_the_earliest_evidence() {
        let mut engine = Engine::new(
            EngineConfig {
                max_evidence: 2,
                ..Default::default()
            },
            vec![Box::new(RecordTypes::new(RecordTypeConfig::default()))],
        );
        let mut events: Vec<Event> = (0..5).map(|_| dns("a.t.example.net", "type:16 ")).collect();
        for (i, e) in events.iter_mut().enumerate() {
            e.time.0 += (5 - i as i64) * 1000;
            e.origin.line = Some(i as u64 + 1);
        }
        for e in &events {
            engine.observe(e);
        }
        let (findings, report) = engine.finish();
        assert_eq!(findings.len(), 1);
        let f = &findings[0];
        assert_eq!(f.count, 5);
        assert_eq!(f.evidence.len(), 2);
        assert_eq!(f.evidence[0].origin.line, Some(5), "earliest by time first");
        assert_eq!(f.time_last.0 - f.time.0, 4000);
        assert_eq!(report.findings_per_detector["record_type"], (1, 5));
    }

    /// Gives `n` findings of `severity` at the end, each about its own address.
    struct AtTheEnd(usize, Severity);

    impl Detector for AtTheEnd {
        fn name(&self) -> &'static str {
            "at_the_end"
        }

        fn observe(&mut self, _event: &Event, _out: &mut Vec<Finding>) {}

        fn finish(&mut self, out: &mut dyn dnshunt_core::FindingSink) {
            let e = dns("a.example.net", "-");
            for i in 0..self.0 {
                out.push(Finding::from_event(
                    "at_the_end",
                    self.1,
                    10,
                    &e,
                    &[&i.to_string(), self.1.as_str()],
                    format!("finding {i}"),
                ));
            }
        }
    }

    #[test]
    fn past_max_findings_info_and_low_findings_are_counted_not_kept() {
        let run = |detectors: Vec<Box<dyn Detector>>| {
            let engine = Engine::new(
                EngineConfig {
                    max_findings: 10,
                    ..Default::default()
                },
                detectors,
            );
            engine.finish()
        };
        let (findings, report) = run(vec![Box::new(AtTheEnd(25, Severity::Info))]);
        assert_eq!(findings.len(), 10);
        assert_eq!(report.not_kept_per_detector["at_the_end"], (15, 15));
        // Low findings fill up to twice the bound; medium and higher are always kept.
        let (findings, report) = run(vec![Box::new(AtTheEnd(25, Severity::Low)), Box::new(AtTheEnd(30, Severity::Medium))]);
        assert_eq!(findings.iter().filter(|f| f.severity == Severity::Low).count(), 20);
        assert_eq!(findings.iter().filter(|f| f.severity == Severity::Medium).count(), 30);
        assert_eq!(report.not_kept_per_detector["at_the_end"], (5, 5));
        let (findings, report) = run(vec![Box::new(AtTheEnd(10, Severity::Info))]);
        assert_eq!(findings.len(), 10);
        assert!(report.not_kept_per_detector.is_empty());
    }

    #[test]
    fn bounds_reached_are_reported_and_unreached_ones_are_not() {
        use crate::detectors::lookup_without_connection::{LookupWithoutConnection, LookupWithoutConnectionConfig};
        use crate::testkit::{Proc, T0};
        let p = Proc::new("WS1", "C:\\x\\app.exe", 1);
        let events: Vec<Event> = (0..50)
            .map(|i| p.dns(T0 + i * 1000, &format!("n{i}.site-{i}.com"), &format!("::ffff:198.51.100.{i};"), 0))
            .collect();
        let run = |max_domains: usize| {
            let config = LookupWithoutConnectionConfig {
                max_domains,
                ..Default::default()
            };
            let mut engine = Engine::new(EngineConfig::default(), vec![Box::new(LookupWithoutConnection::new(config))]);
            for e in &events {
                engine.observe(e);
            }
            engine.finish().1.bounds_reached
        };
        assert_eq!(run(1_000), vec![]);
        assert_eq!(
            run(20),
            vec![dnshunt_core::BoundReached {
                detector: "lookup_without_connection",
                setting: "max_domains",
                limit: 20,
                events: 30
            }]
        );
    }

    #[test]
    fn lookups_without_a_guid_give_the_same_findings_whatever_the_order() {
        use crate::testkit::{Proc, T0};
        let nslookup = Proc::new("WS1", "C:\\Windows\\System32\\nslookup.exe", 7);
        let mut unnamed = nslookup.clone();
        unnamed.guid = dnshunt_core::Guid(0);
        unnamed.image = "<unknown process>".into();
        let create = nslookup.create(T0 + 300, "nslookup -type=txt x.t.example.net", None);
        let lookup = unnamed.dns(T0, "x.t.example.net", "type:16 ", 0);
        let run = |events: &[&Event]| {
            let mut engine = Engine::new(EngineConfig::default(), vec![Box::new(RecordTypes::new(RecordTypeConfig::default()))]);
            for e in events {
                engine.observe(e);
            }
            engine.finish().0
        };
        let a = run(&[&lookup, &create]);
        let b = run(&[&create, &lookup]);
        assert_eq!(a.len(), 1);
        assert_eq!(a, b, "the same finding, id included, in both orders");
        assert_eq!(a[0].process.guid, Some(nslookup.guid));
        assert!(a[0].explanation.starts_with("nslookup.exe got a TXT answer"), "{}", a[0].explanation);
    }

    #[test]
    fn min_severity_drops_and_counts() {
        let mut engine = Engine::new(
            EngineConfig {
                min_severity: Severity::Medium,
                ..Default::default()
            },
            vec![Box::new(RecordTypes::new(RecordTypeConfig::default()))],
        );
        engine.observe(&dns("a.example.net", "type:16 "));
        let (findings, report) = engine.finish();
        assert!(findings.is_empty());
        assert_eq!(report.below_min_severity, 1);
    }
}

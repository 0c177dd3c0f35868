//! The engine: runs every detector over every event, merges repeated findings, and attaches
//! process context from ProcessCreate events once all input has been seen (so the result does
//! not depend on the order files were read in).

use std::collections::{BTreeMap, HashMap};

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
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_evidence: 5,
            min_severity: Severity::Info,
            aggregate: crate::aggregate::AggregateConfig::default(),
            related_lookup: true,
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
    findings: HashMap<String, Finding>,
    process_tree: crate::process_tree::ProcessTree,
    scratch: Vec<Finding>,
    allowlist: crate::allowlist::Allowlist,
    related: crate::detectors::related_lookup::RelatedLookups,
    /// Events without a ProcessGuid, held until their EID 1 can have been read.
    deferred: Vec<Event>,
}

/// Events without a ProcessGuid held for the join (a few in a thousand in real recordings).
const MAX_DEFERRED: usize = 100_000;

impl Engine {
    pub fn new(config: EngineConfig, detectors: Vec<Box<dyn Detector>>) -> Engine {
        Engine {
            config,
            detectors,
            findings: HashMap::new(),
            process_tree: crate::process_tree::ProcessTree::default(),
            scratch: Vec::new(),
            allowlist: crate::allowlist::Allowlist::default(),
            related: crate::detectors::related_lookup::RelatedLookups::default(),
            deferred: Vec::new(),
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
        // The process join (EID 1 by host and ProcessGuid, with parents) for findings' context.
        self.process_tree.observe(event);
        // A lookup or connection without a ProcessGuid (Sysmon writes zeros for short-lived
        // processes) waits until all input is read: then it is joined by host and pid to its
        // EID 1 (which may come later, from another reader) and the detectors see it with its
        // program, whatever the read order. Only past `MAX_DEFERRED` is one seen as it came.
        let unknown = crate::process_tree::is_unknown(event.process().guid) && event.process().pid.is_some() && !matches!(event.kind, dnshunt_core::EventKind::ProcessCreate(_));
        if unknown && self.deferred.len() < MAX_DEFERRED {
            self.deferred.push(event.clone());
            return;
        }
        self.detect(event);
    }

    fn detect(&mut self, event: &Event) {
        for detector in &mut self.detectors {
            detector.observe(event, &mut self.scratch);
        }
        self.related.observe(event);
        self.absorb();
    }

    fn absorb(&mut self) {
        for finding in self.scratch.drain(..) {
            match self.findings.get_mut(&finding.id) {
                Some(existing) => existing.merge(finding, self.config.max_evidence),
                None => {
                    self.findings.insert(finding.id.clone(), finding);
                }
            }
        }
    }

    /// Ends the run: lets detectors judge over time, adds process context, sorts by time.
    pub fn finish(self) -> (Vec<Finding>, EngineReport) {
        self.finish_with(&|_| true)
    }

    /// [`Engine::finish`], with `is_rare` deciding which domains are rare enough in the fleet
    /// that a finding about one implicates the other lookups of it (`related_lookup`).
    pub fn finish_with(mut self, is_rare: &dyn Fn(&str) -> bool) -> (Vec<Finding>, EngineReport) {
        for event in std::mem::take(&mut self.deferred) {
            match self.process_tree.repair(&event) {
                Some(joined) => self.detect(&joined),
                None => self.detect(&event),
            }
        }
        for i in 0..self.detectors.len() {
            self.detectors[i].finish(&mut self.scratch);
            self.absorb();
        }
        let mut report = EngineReport::default();
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
        let mut kept = crate::aggregate::aggregate(kept, &self.config.aggregate, self.config.max_evidence);
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

//! Findings that repeat: the same finding (same id) given again for every event of a process
//! or a series, folded in place instead of built and merged each time.
//!
//! A detector that judges every lookup of a process (`process_context`: an encoded PowerShell
//! looks up a hundred names) would otherwise build a whole finding per lookup (an explanation,
//! a copy of the event, ids and details) only for the engine to merge it into the first one.
//! [`Repeats`] keeps the first finding of each key and folds later events into it with
//! [`Finding::merge_later_event`], which gives what [`Finding::merge`] of the full finding
//! would, and copies an event only when it is among the evidence kept (an event as early as
//! the finding is made whole and merged: it may describe the finding instead). The findings go
//! to the engine when the detector finishes (so they count towards the engine's
//! `max_findings` only then). Bounded: past `max_held` keys a finding is built and given at
//! once, as without the table.

use std::hash::Hash;

use dnshunt_core::{Event, Finding, FindingSink, Severity};

/// Keys held at most, by default.
pub const MAX_HELD: usize = 100_000;

/// The findings of one detector, by a key of the detector's choosing that determines the
/// finding's id.
#[derive(Debug)]
pub struct Repeats<K> {
    held: crate::fast::HashMap<K, Finding>,
    max_held: usize,
    max_evidence: usize,
}

impl<K> Default for Repeats<K> {
    fn default() -> Repeats<K> {
        Repeats {
            held: crate::fast::HashMap::default(),
            max_held: MAX_HELD,
            max_evidence: 5,
        }
    }
}

impl<K: Hash + Eq + Ord + Clone> Repeats<K> {
    /// A table of at most `max_held` findings keeping `max_evidence` events each (use the
    /// engine's, [`dnshunt_core::Detector::set_max_evidence`]).
    pub fn new(max_held: usize, max_evidence: usize) -> Repeats<K> {
        Repeats {
            held: crate::fast::HashMap::default(),
            max_held,
            max_evidence: max_evidence.max(1),
        }
    }

    pub fn set_max_evidence(&mut self, max_evidence: usize) {
        self.max_evidence = max_evidence.max(1);
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// One more event for the finding of `key`. `explain` gives the event's explanation and
    /// `build` makes the whole finding from it, called only when the event may describe the
    /// finding: the first time, for an event as early as the finding, and every time when the
    /// table is full (the finding then goes to `out` at once).
    pub fn add(
        &mut self,
        key: &K,
        event: &Event,
        (severity, score): (Severity, u8),
        explain: impl FnOnce() -> String,
        build: impl FnOnce(String) -> Finding,
        out: &mut Vec<Finding>,
    ) {
        if let Some(f) = self.held.get_mut(key) {
            if event.time > f.time {
                f.merge_later_event(event, severity, score, self.max_evidence);
            } else {
                // An earlier (or as early) sighting may describe the finding instead.
                f.merge(build(explain()), self.max_evidence);
            }
            return;
        }
        let finding = build(explain());
        if self.held.len() < self.max_held {
            self.held.insert(key.clone(), finding);
        } else {
            out.push(finding);
        }
    }

    /// Gives every held finding, in key order (so the engine takes them in the same order
    /// whatever the input's).
    pub fn drain(&mut self, out: &mut dyn FindingSink) {
        let mut held: Vec<(K, Finding)> = self.held.drain().collect();
        held.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, f) in held {
            out.push(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Proc, Rng, T0};

    fn finding(event: &Event, severity: Severity, explanation: String) -> Finding {
        Finding::from_event("t", severity, 50, event, &["k"], explanation).with_detail("d", 1)
    }

    /// Folding events one by one gives what building and merging a finding per event gives,
    /// in any order, for any number of evidence events kept.
    #[test]
    fn folding_equals_merging_whole_findings() {
        let p = Proc::new("H", "C:\\x\\tool.exe", 1);
        let mut rng = Rng::new(7);
        for max_evidence in [1, 3, 5, 40] {
            let mut first: Option<Finding> = None;
            for round in 0..20 {
                let mut events: Vec<Event> = (0..30)
                    .map(|i| {
                        // Some at the same time, a few repeated (the same record read twice).
                        let t = T0 + (i / 3) * 1000;
                        let mut e = p.dns(t, &format!("n{}.example.com", i % 7), "", 0);
                        e.origin.line = Some(i as u64 % 25);
                        e
                    })
                    .collect();
                events.extend(events.clone().into_iter().take(4));
                rng.shuffle(&mut events);
                let severity = |e: &Event| {
                    if e.dns().is_some_and(|q| q.query.as_str().starts_with("n3")) {
                        Severity::High
                    } else {
                        Severity::Low
                    }
                };
                let explain = |e: &Event| format!("looked up {}", e.dns().map(|q| q.query.as_str()).unwrap_or(""));

                let mut merged: Option<Finding> = None;
                for e in &events {
                    let f = finding(e, severity(e), explain(e));
                    match &mut merged {
                        None => merged = Some(f),
                        Some(m) => m.merge(f, max_evidence),
                    }
                }
                let merged = merged.unwrap();

                let mut repeats = Repeats::new(10, max_evidence);
                let mut out = Vec::new();
                for e in &events {
                    repeats.add(&1u8, e, (severity(e), 50), || explain(e), |x| finding(e, severity(e), x), &mut out);
                }
                assert!(out.is_empty());
                repeats.drain(&mut out);
                let folded = out.pop().unwrap();
                assert_eq!(folded, merged, "max_evidence {max_evidence}, round {round}");
                // Whatever the order, the same finding.
                match &first {
                    None => first = Some(folded),
                    Some(f) => assert_eq!(&folded, f, "max_evidence {max_evidence}, round {round}"),
                }
            }
        }
    }

    #[test]
    fn past_max_held_findings_go_out_at_once() {
        let p = Proc::new("H", "C:\\x\\tool.exe", 1);
        let mut repeats = Repeats::new(1, 5);
        let mut out = Vec::new();
        for (i, key) in [1u8, 2, 1, 2].iter().enumerate() {
            let e = p.dns(T0 + i as i64 * 1000, "a.example.com", "", 0);
            repeats.add(key, &e, (Severity::Low, 10), || "x".into(), |x| finding(&e, Severity::Low, x), &mut out);
        }
        assert_eq!(out.len(), 2, "key 2 is not held");
        let mut held = Vec::new();
        repeats.drain(&mut held);
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].count, 2);
    }
}

//! The detectors spread over threads, batch by batch.
//!
//! Detectors are independent of one another, so a batch of events can be shown to one group of
//! detectors on one thread while another group sees it on another. Each detector still sees
//! every event in order; its findings are tagged with the event and the detector and taken in
//! sorted by both, which is the order one thread showing each event to every detector in turn
//! would give them in, so the result does not depend on the number of threads or on which
//! detector ran where. Groups are balanced by the time each detector took so far (the longest
//! first onto the least loaded thread), measured again as the input goes on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dnshunt_core::{Detector, Event, Finding};

use crate::detectors::related_lookup::RelatedLookups;

/// Batches smaller than this are run on the calling thread (a thread's start costs more).
pub const MIN_BATCH: usize = 64;

/// Batches between two rebalancings, after the first few.
const REBALANCE_EVERY: u64 = 32;

#[derive(Debug)]
pub struct Lanes {
    /// Threads to use.
    threads: usize,
    /// The thread (lane) of each detector.
    lane_of: Vec<usize>,
    /// Time each detector took so far (the last slot: `related_lookup`'s bookkeeping).
    cost: Vec<Duration>,
    batches: u64,
}

impl Lanes {
    pub fn new(detectors: usize, threads: usize) -> Lanes {
        let threads = threads.clamp(1, detectors.max(1));
        Lanes {
            threads,
            lane_of: (0..detectors).map(|i| i % threads).collect(),
            cost: vec![Duration::ZERO; detectors + 1],
            batches: 0,
        }
    }

    pub fn count(&self) -> usize {
        self.threads
    }

    /// Shows `events` to every detector (and to `related`), spread over the threads, and gives
    /// their findings, each with the index of its event, in the order one thread would have.
    pub fn run(&mut self, detectors: &mut [Box<dyn Detector>], related: &mut RelatedLookups, events: &[&Arc<Event>]) -> Vec<(u32, Finding)> {
        let mut groups: Vec<Group<'_>> = (0..self.threads).map(|_| Vec::new()).collect();
        for (i, d) in detectors.iter_mut().enumerate() {
            groups[self.lane_of[i]].push((i, d));
        }
        let related_lane = self.lane_of.get(self.cost.len() - 1).copied().unwrap_or(0);
        let mut related = Some(related);
        let mut jobs: Vec<(Group<'_>, Option<&mut RelatedLookups>)> = Vec::new();
        for (lane, group) in groups.into_iter().enumerate() {
            jobs.push((group, if lane == related_lane { related.take() } else { None }));
        }
        let related_slot = self.cost.len() - 1;
        let results: Vec<LaneOutput> = std::thread::scope(|scope| {
            let mut jobs = jobs.into_iter();
            let first = jobs.next();
            let handles: Vec<_> = jobs.map(|(group, related)| scope.spawn(move || run_lane(group, related, related_slot, events))).collect();
            let mut results = Vec::with_capacity(self.threads);
            if let Some((group, related)) = first {
                results.push(run_lane(group, related, related_slot, events));
            }
            for h in handles {
                match h.join() {
                    Ok(r) => results.push(r),
                    // A detector that panicked on another thread panics here, as it would have
                    // on this one.
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            results
        });
        let mut tagged: Vec<(u32, usize, Finding)> = Vec::new();
        for r in results {
            for (slot, t) in r.times {
                self.cost[slot] += t;
            }
            tagged.extend(r.findings);
        }
        // Stable: a detector's findings for one event stay in the order it gave them.
        tagged.sort_by_key(|(event, detector, _)| (*event, *detector));
        self.batches += 1;
        if self.batches == 4 || self.batches % REBALANCE_EVERY == 0 {
            self.rebalance();
        }
        tagged.into_iter().map(|(event, _, f)| (event, f)).collect()
    }

    /// The costliest detector first onto the least loaded thread.
    fn rebalance(&mut self) {
        let mut order: Vec<usize> = (0..self.cost.len()).collect();
        order.sort_by(|&a, &b| self.cost[b].cmp(&self.cost[a]).then(a.cmp(&b)));
        let mut load = vec![Duration::ZERO; self.threads];
        let mut lane_of = vec![0; self.cost.len()];
        for i in order {
            let lane = (0..self.threads).min_by_key(|&l| (load[l], l)).unwrap_or(0);
            load[lane] += self.cost[i];
            lane_of[i] = lane;
        }
        self.lane_of = lane_of;
    }
}

/// The detectors one thread runs, each with its index in the engine's list.
type Group<'a> = Vec<(usize, &'a mut Box<dyn Detector>)>;

/// What one thread gave: its findings tagged with (event, detector), and each detector's time.
struct LaneOutput {
    findings: Vec<(u32, usize, Finding)>,
    times: Vec<(usize, Duration)>,
}

fn run_lane(group: Group<'_>, related: Option<&mut RelatedLookups>, related_slot: usize, events: &[&Arc<Event>]) -> LaneOutput {
    let mut out = LaneOutput {
        findings: Vec::new(),
        times: Vec::with_capacity(group.len() + 1),
    };
    let mut scratch = Vec::new();
    // Detector by detector: each one's tables stay in the cache for the whole batch.
    for (index, detector) in group {
        let started = Instant::now();
        for (e, event) in events.iter().enumerate() {
            detector.observe_shared(event, &mut scratch);
            out.findings.extend(scratch.drain(..).map(|f| (e as u32, index, f)));
        }
        out.times.push((index, started.elapsed()));
    }
    if let Some(related) = related {
        let started = Instant::now();
        for event in events {
            related.observe(event, Some(event));
        }
        out.times.push((related_slot, started.elapsed()));
    }
    out
}

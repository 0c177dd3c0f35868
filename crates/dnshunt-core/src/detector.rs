//! The detector interface.

use std::sync::Arc;

use crate::{Event, Finding};

/// A detector sees every event once, in no guaranteed order, and emits findings.
///
/// Detectors are pure with respect to the outside world: no I/O, no clock, no failure. Whatever
/// they need (lists, thresholds) is handed to them at construction. State across events is
/// allowed but must be bounded, and a detector that reached a bound says so
/// ([`Detector::bounds_reached`]).
pub trait Detector: Send {
    /// The detector's name: its file name, config key and the findings' `detector` field.
    fn name(&self) -> &'static str;

    /// Looks at one event.
    fn observe(&mut self, event: &Event, out: &mut Vec<Finding>);

    /// [`Detector::observe`] with the event shared: a detector that keeps events (as evidence
    /// for findings it gives at the end) keeps this `Arc`, a reference count, instead of a copy,
    /// so detectors keeping the same event share it. What it finds must be what `observe`
    /// finds. The engine calls this one when it reads batches.
    fn observe_shared(&mut self, event: &Arc<Event>, out: &mut Vec<Finding>) {
        self.observe(event, out);
    }

    /// Called once after the last event, for detectors that judge over time. Findings pushed
    /// to `out` may be taken in one at a time (the engine does), so a detector with many
    /// findings to give does not hold them all at once.
    fn finish(&mut self, _out: &mut dyn FindingSink) {}

    /// The bounds on its state this detector reached in the run, each with how many events it
    /// could not (fully) remember because of it. Empty when none was reached.
    fn bounds_reached(&self) -> Vec<BoundReached> {
        Vec::new()
    }

    /// How many evidence events the engine keeps per finding, told once before the first
    /// event, for detectors that fold repeated findings themselves.
    fn set_max_evidence(&mut self, _max_evidence: usize) {}

    /// Whether the detector looks at what the network saw (`EventKind::WireDns`,
    /// `EventKind::WireFlow`). Most judge Sysmon's events only and are never shown them.
    fn sees_wire(&self) -> bool {
        false
    }
}

/// Where findings go: a `Vec<Finding>`, or the engine taking each in as it comes.
pub trait FindingSink {
    fn push(&mut self, finding: Finding);
}

impl FindingSink for Vec<Finding> {
    fn push(&mut self, finding: Finding) {
        Vec::push(self, finding);
    }
}

/// A bound on a detector's state that the input reached: from then on some events were not
/// (fully) remembered, so the detector may have missed what they would have shown.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BoundReached {
    /// The detector.
    pub detector: &'static str,
    /// The setting that sets the bound (`max_series`), or a fixed limit's name.
    pub setting: &'static str,
    /// The bound's value.
    pub limit: u64,
    /// Events not (fully) remembered because of it.
    pub events: u64,
}

impl BoundReached {
    /// A bound that was reached (`events > 0`), for [`Detector::bounds_reached`].
    pub fn of(detector: &'static str, setting: &'static str, limit: usize, events: u64) -> Option<BoundReached> {
        (events > 0).then_some(BoundReached {
            detector,
            setting,
            limit: limit as u64,
            events,
        })
    }

    /// The bounds of `bounds` ([`BoundReached::of`] each) that were reached.
    pub fn all<const N: usize>(bounds: [Option<BoundReached>; N]) -> Vec<BoundReached> {
        bounds.into_iter().flatten().collect()
    }
}

//! The detector interface.

use crate::{Event, Finding};

/// A detector sees every event once, in no guaranteed order, and emits findings.
///
/// Detectors are pure with respect to the outside world: no I/O, no clock, no failure. Whatever
/// they need (lists, thresholds) is handed to them at construction. State across events is
/// allowed but must be bounded.
pub trait Detector: Send {
    /// The detector's name: its file name, config key and the findings' `detector` field.
    fn name(&self) -> &'static str;

    /// Looks at one event.
    fn observe(&mut self, event: &Event, out: &mut Vec<Finding>);

    /// Called once after the last event, for detectors that judge over time.
    fn finish(&mut self, _out: &mut Vec<Finding>) {}
}

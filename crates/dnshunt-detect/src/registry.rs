//! Every detector's settings in one place, and the one function that builds the detectors.
//!
//! `DetectorsConfig` is the `[detectors]` table of the config file: one sub-table per detector,
//! named like the detector's file. Adding a detector means a field here and a line in
//! [`build`].

use dnshunt_core::Detector;
use serde::Deserialize;

use crate::detectors::blocklist::{Blocklist, BlocklistConfig};
use crate::detectors::record_type::{RecordTypeConfig, RecordTypes};
use crate::indicators::IndicatorSet;

/// Settings of all detectors (`[detectors]` in the config file).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorsConfig {
    pub blocklist: BlocklistConfig,
    pub record_type: RecordTypeConfig,
}

/// Data that detectors need and that the binary loads from files.
#[derive(Debug, Default)]
pub struct DetectorInputs {
    /// User blocklists (`--blocklist`).
    pub blocklist: IndicatorSet,
}

/// Builds the detectors in the order they run.
pub fn build(config: &DetectorsConfig, inputs: DetectorInputs) -> Vec<Box<dyn Detector>> {
    let mut detectors: Vec<Box<dyn Detector>> = Vec::new();
    if !inputs.blocklist.is_empty() {
        detectors.push(Box::new(Blocklist::new(config.blocklist.clone(), inputs.blocklist)));
    }
    detectors.push(Box::new(RecordTypes::new(config.record_type.clone())));
    detectors
}

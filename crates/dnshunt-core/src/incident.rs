//! The incident contract: what belongs together, ranked by how well it is corroborated.
//!
//! An incident groups the findings of one process tree on one host within a time window, and
//! the incidents of several hosts that share a rare indicator. `dnshunt-incident` builds them;
//! every sink writes them in this one shape.

use serde::Serialize;

use crate::{Finding, Severity, Timestamp};

/// One incident.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Incident {
    /// Stable hash of the host(s) and the process the tree is anchored at.
    pub id: String,
    /// 0–100; rises with independent kinds of evidence, detectors and hosts, not with the
    /// number of findings.
    pub risk: u8,
    pub severity: Severity,
    /// One line: where, which process tree, and what was found.
    pub headline: String,
    /// Why the risk is what it is (the kinds of evidence that corroborate each other).
    pub risk_reasons: Vec<String>,
    pub time: Timestamp,
    pub time_last: Timestamp,
    pub hosts: Vec<String>,
    /// The process the tree is anchored at: the highest ancestor below the session or service
    /// root (explorer.exe, services.exe, svchost.exe, ...), or the process itself.
    pub root: IncidentProcess,
    /// The programs involved (file names), in order of their first finding.
    pub processes: Vec<String>,
    pub detectors: Vec<String>,
    /// The independent kinds of evidence: `intel`, `dns`, `behaviour`, `process`, `connection`,
    /// `signature`.
    pub evidence_kinds: Vec<String>,
    /// MITRE ATT&CK technique ids of all its findings.
    pub attack: Vec<String>,
    /// Domains and addresses its findings are about.
    pub indicators: Vec<String>,
    /// Findings by severity: info, low, medium, high, critical.
    pub findings_by_severity: [u64; 5],
    /// The findings in time order.
    pub timeline: Vec<TimelineEntry>,
}

/// The anchor process of an incident.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IncidentProcess {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_line: Option<String>,
}

/// One finding of an incident's timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimelineEntry {
    pub time: Timestamp,
    pub time_last: Timestamp,
    pub finding_id: String,
    pub detector: String,
    pub severity: Severity,
    pub score: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    pub explanation: String,
}

impl TimelineEntry {
    /// The timeline entry of a finding.
    pub fn of(f: &Finding) -> TimelineEntry {
        TimelineEntry {
            time: f.time,
            time_last: f.time_last,
            finding_id: f.id.clone(),
            detector: f.detector.clone(),
            severity: f.severity,
            score: f.score,
            host: f.host.clone(),
            process: f.process.image.as_deref().map(|i| crate::file_name_of(i).to_owned()),
            explanation: f.explanation.clone(),
        }
    }
}

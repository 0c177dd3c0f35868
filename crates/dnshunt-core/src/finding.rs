//! The finding contract: the one JSON shape every detector produces and every sink writes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Event, Guid, Timestamp};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [Severity::Info, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    /// The band a 0–100 score stands for, the one every score in dnshunt follows: critical
    /// from 95, high from 75, medium from 50, low from 25, info below.
    pub fn for_score(score: u8) -> Severity {
        match score {
            95.. => Severity::Critical,
            75.. => Severity::High,
            50.. => Severity::Medium,
            25.. => Severity::Low,
            _ => Severity::Info,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Severity, String> {
        Severity::ALL
            .into_iter()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown severity {s:?} (expected info, low, medium, high or critical)"))
    }
}

/// The process a finding is about, with as much context as the data holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct ProcessContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guid: Option<Guid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_line: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_command_line: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// One finding. Equal `id`s mean the same thing was found again: sinks merge or upsert on it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// Stable hash of the detector, the host and the detector's key fields.
    pub id: String,
    pub detector: String,
    pub severity: Severity,
    /// 0–100.
    pub score: u8,
    /// First and last time it was seen.
    pub time: Timestamp,
    pub time_last: Timestamp,
    /// How many events matched (evidence keeps only the first few).
    pub count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub process: ProcessContext,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_name_unicode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_domain: Option<String>,
    /// MITRE ATT&CK technique ids (`T1071.004`).
    pub attack: Vec<String>,
    /// One human sentence: what was found and why it matters.
    pub explanation: String,
    /// The matching events, earliest first, each with its origin.
    pub evidence: Vec<Event>,
    /// Detector-specific facts (the matched list entry, the record type, ...).
    pub details: serde_json::Map<String, serde_json::Value>,
    /// The incident this finding belongs to (set when incidents are built after a run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
}

impl Finding {
    /// Starts a finding from the event that triggered it. `key` names what makes two findings
    /// the same (with the detector and the host): e.g. the matched indicator and the process.
    pub fn from_event(detector: &str, severity: Severity, score: u8, event: &Event, key: &[&str], explanation: String) -> Finding {
        let process = event.process();
        // On the wire, names under suffixes the Public Suffix List does not know (lab and
        // internal zones a tunnel uses: `pirate.sea`) are grouped by their last two labels.
        let wire = !event.kind.is_sysmon();
        let (query_name, query_name_unicode, registered_domain) = match event.lookup() {
            Some(q) => (
                Some(q.query.as_str().to_owned()),
                q.query.unicode().map(str::to_owned),
                q.query.registered_domain().or_else(|| if wire { q.query.base_domain() } else { None }).map(str::to_owned),
            ),
            None => (None, None, None),
        };
        Finding {
            id: format!("{:016x}", Finding::id_hash(detector, event.host.as_deref().unwrap_or(""), key)),
            detector: detector.to_owned(),
            severity,
            score: score.min(100),
            time: event.time,
            time_last: event.time,
            count: 1,
            host: event.host.as_deref().map(str::to_owned),
            process: ProcessContext {
                guid: process.guid,
                pid: process.pid,
                image: process.image.as_deref().map(str::to_owned),
                user: process.user.as_deref().map(str::to_owned),
                ..ProcessContext::default()
            },
            query_name,
            query_name_unicode,
            registered_domain,
            attack: Vec::new(),
            explanation,
            evidence: vec![event.clone()],
            details: serde_json::Map::new(),
            incident_id: None,
        }
    }

    /// What a finding's id is made of ([`Finding::from_event`]'s, in hex): the detector, the
    /// host and the detector's key fields.
    pub fn id_hash(detector: &str, host: &str, key: &[&str]) -> u64 {
        let mut hasher = StableHasher::new();
        hasher.write(detector);
        hasher.write(host);
        for part in key {
            hasher.write(part);
        }
        hasher.finish()
    }

    pub fn with_attack(mut self, ids: &[&str]) -> Finding {
        self.attack = ids.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub fn with_detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Finding {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// Folds a later sighting of the same finding into this one, keeping at most
    /// `max_evidence` events: the earliest, so the result does not depend on input order.
    pub fn merge(&mut self, mut other: Finding, max_evidence: usize) {
        debug_assert_eq!(self.id, other.id);
        // The earliest sighting's description stands (its wording, name and details), so a
        // finding does not flicker with the order files were read in. The process stays the
        // first one's: the process join annotates it at its own earliest lookup.
        if other.sighting() < self.sighting() {
            self.explanation = std::mem::take(&mut other.explanation);
            self.query_name = other.query_name.take();
            self.query_name_unicode = other.query_name_unicode.take();
            self.registered_domain = other.registered_domain.take();
            self.details = std::mem::take(&mut other.details);
            self.attack = std::mem::take(&mut other.attack);
        }
        self.merge_counts(other, max_evidence);
    }

    /// [`Finding::merge`] of everything but the description: counts, times, severity, score
    /// and evidence (for folding findings whose strongest part describes the whole).
    pub fn merge_counts(&mut self, other: Finding, max_evidence: usize) {
        self.count += other.count;
        self.time = self.time.min(other.time);
        self.time_last = self.time_last.max(other.time_last);
        if other.severity > self.severity {
            self.severity = other.severity;
        }
        self.score = self.score.max(other.score);
        self.evidence.extend(other.evidence);
        self.evidence.sort_by(|a, b| evidence_order(a).cmp(&evidence_order(b)));
        self.evidence.dedup_by(|a, b| a.origin == b.origin);
        self.evidence.truncate(max_evidence.max(1));
    }

    /// What orders two sightings of a finding: the earlier first, then by wording, name and
    /// where the first evidence was read, so one of any two stands whatever the read order.
    fn sighting(&self) -> (Timestamp, &str, Option<&str>, Option<EvidenceOrder<'_>>) {
        (self.time, &self.explanation, self.query_name.as_deref(), self.evidence.first().map(evidence_order))
    }

    /// [`Finding::merge`] of the finding one more `event`, later than this finding's first
    /// sighting, would make, without making it (such an event changes only the counts, times,
    /// severity and evidence): the event is copied only when it is among the `max_evidence`
    /// earliest. For detectors that see the same finding again and again (a process's every
    /// lookup); an event at or before `self.time` needs the whole finding and `merge`.
    pub fn merge_later_event(&mut self, event: &Event, severity: Severity, score: u8, max_evidence: usize) {
        debug_assert!(event.time > self.time);
        self.count += 1;
        self.time_last = self.time_last.max(event.time);
        self.severity = self.severity.max(severity);
        self.score = self.score.max(score.min(100));
        let key = evidence_order(event);
        // After the evidence of the same order, as a stable sort of the two would put it.
        let at = self.evidence.partition_point(|e| evidence_order(e) <= key);
        let max = max_evidence.max(1);
        // `merge` drops an event equal in origin to the one before it in that order.
        let duplicate = at > 0 && self.evidence[at - 1].origin == event.origin;
        if at < max && !duplicate {
            self.evidence.insert(at, event.clone());
            self.evidence.truncate(max);
        }
    }
}

/// Where an event stands in the order evidence is kept in ([`evidence_order`]).
pub type EvidenceOrder<'a> = (Timestamp, &'a str, Option<u64>, Option<u64>);

/// The order evidence is kept in: by time, then by where it was read.
pub fn evidence_order(e: &Event) -> EvidenceOrder<'_> {
    (e.time, &e.origin.file, e.origin.line, e.origin.record)
}

/// FNV-1a, 64 bit: stable across Rust versions and platforms (unlike `DefaultHasher`).
#[derive(Debug)]
pub struct StableHasher(u64);

impl StableHasher {
    pub fn new() -> StableHasher {
        StableHasher(0xcbf2_9ce4_8422_2325)
    }

    /// Adds a string and a separator, so ("ab","c") and ("a","bc") differ.
    pub fn write(&mut self, part: &str) {
        let mut h = self.0;
        for &b in part.as_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = (h ^ 0xff).wrapping_mul(0x0100_0000_01b3);
    }

    /// The hash; [`StableHasher::finish_hex`] is the finding id made of it.
    pub fn finish(&self) -> u64 {
        self.0
    }

    pub fn finish_hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

impl Default for StableHasher {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_ids_are_stable() {
        let mut h = StableHasher::new();
        h.write("blocklist");
        h.write("evil.example");
        // Pinned: a change here would re-key every stored finding.
        assert_eq!(h.finish_hex(), "765665d9447c94ca");
        let mut a = StableHasher::new();
        a.write("ab");
        a.write("c");
        let mut b = StableHasher::new();
        b.write("a");
        b.write("bc");
        assert_ne!(a.finish_hex(), b.finish_hex());
    }

    #[test]
    fn severity_parses_and_orders() {
        assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
        assert!(Severity::Critical > Severity::Info);
        assert!("urgent".parse::<Severity>().is_err());
    }
}

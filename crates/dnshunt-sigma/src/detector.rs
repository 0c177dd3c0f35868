//! `sigma`: runs Sigma rules and reports each match as a finding.
//!
//! What it flags is whatever the loaded rules describe; the finding carries the rule's title,
//! id, file, level (as the severity) and its ATT&CK tags (`attack.t1059.001` → `T1059.001`).
//! A detection rule's finding is keyed by the rule and the process, so repeated matches of one
//! process merge; a correlation's finding is keyed by the rule and its group-by values.
//!
//! Correlation rules (`event_count`, `value_count`, `temporal`, ... as `rsigma-eval` supports
//! them) are windowed on the events' own times. Inputs are read in parallel and not sorted, so a
//! window spanning files read out of order can miss what a time-sorted stream would catch.

use dnshunt_core::{Detector, Event, Finding, Severity};
use rsigma_eval::result::ResultBody;
use rsigma_eval::EvaluationResult;
use rsigma_parser::Level;

use crate::fields::{category, process_key, SysmonView};
use crate::load::RuleSet;

/// The detector. Built from a [`RuleSet`]; never fails.
#[derive(Debug)]
pub struct SigmaDetector {
    rules: RuleSet,
}

impl SigmaDetector {
    pub fn new(rules: RuleSet) -> SigmaDetector {
        SigmaDetector { rules }
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The raw matches of one event (the rules' results, not yet findings).
    pub fn evaluate(&mut self, event: &Event) -> Vec<EvaluationResult> {
        let Some(engine) = category(event).and_then(|c| self.rules.engines.get(c)) else {
            return Vec::new();
        };
        let view = SysmonView::new(event);
        let detections = engine.evaluate(&view);
        match self.rules.correlation.as_mut() {
            Some(correlation) => correlation.process_with_detections(&view, detections, event.time.millis().div_euclid(1000)),
            None => detections,
        }
    }

    fn finding(&self, event: &Event, result: &EvaluationResult) -> Finding {
        let header = &result.header;
        let meta = self.rules.meta_of(header.rule_id.as_deref(), &header.rule_title);
        let rule_key = header.rule_id.clone().unwrap_or_else(|| header.rule_title.clone());
        let (severity, score) = level_severity(header.level.as_ref());
        let attack: Vec<String> = header.tags.iter().filter_map(|t| attack_id(t)).collect();
        let attack_refs: Vec<&str> = attack.iter().map(String::as_str).collect();
        let (key_extra, explanation, extra) = match &result.body {
            ResultBody::Detection(d) => {
                let fields: Vec<String> = d.matched_fields.iter().map(|m| format!("{}={}", m.field, shorten(&m.value))).collect();
                let explanation = if fields.is_empty() {
                    format!("Sigma rule \"{}\" matched", header.rule_title)
                } else {
                    format!("Sigma rule \"{}\" matched ({})", header.rule_title, fields.join(", "))
                };
                (process_key(event.process()), explanation, serde_json::json!(d.matched_selections))
            }
            ResultBody::Correlation(c) => {
                let group: Vec<String> = c.group_key.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let explanation = format!(
                    "Sigma correlation \"{}\" fired: {:?} reached {} within {} s{}",
                    header.rule_title,
                    c.correlation_type,
                    c.aggregated_value,
                    c.timespan_secs,
                    if group.is_empty() { String::new() } else { format!(" for {}", group.join(", ")) }
                );
                (group.join(","), explanation, serde_json::json!(group))
            }
        };
        let mut finding = Finding::from_event("sigma", severity, score, event, &[&rule_key, &key_extra], explanation)
            .with_attack(&attack_refs)
            .with_detail("rule_id", header.rule_id.clone().unwrap_or_default())
            .with_detail("rule_title", header.rule_title.clone())
            .with_detail("rule_level", header.level.as_ref().map(|l| l.as_str()).unwrap_or("medium"))
            .with_detail("rule_tags", header.tags.clone());
        if let Some(meta) = meta {
            finding = finding.with_detail("rule_path", meta.path.clone());
        }
        match &result.body {
            ResultBody::Detection(_) => finding.with_detail("matched_selections", extra),
            ResultBody::Correlation(_) => finding.with_detail("group", extra),
        }
    }
}

impl Detector for SigmaDetector {
    fn name(&self) -> &'static str {
        "sigma"
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<Finding>) {
        let results = self.evaluate(event);
        for result in &results {
            out.push(self.finding(event, result));
        }
    }
}

/// A matched value for the one-line explanation: text as it is, at most 120 characters.
fn shorten(value: &serde_json::Value) -> String {
    const MAX: usize = 120;
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > MAX {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// A Sigma level as a severity and a score.
pub fn level_severity(level: Option<&Level>) -> (Severity, u8) {
    match level {
        Some(Level::Informational) => (Severity::Info, 10),
        Some(Level::Low) => (Severity::Low, 30),
        Some(Level::Medium) | None => (Severity::Medium, 50),
        Some(Level::High) => (Severity::High, 75),
        Some(Level::Critical) => (Severity::Critical, 95),
    }
}

/// `attack.t1059.001` → `T1059.001`; other tags (`attack.execution`, `cve.2021-1675`) → `None`.
pub fn attack_id(tag: &str) -> Option<String> {
    let rest = tag.strip_prefix("attack.")?;
    let bytes = rest.as_bytes();
    if bytes.len() >= 5 && (bytes[0] == b't' || bytes[0] == b'T') && bytes[1..5].iter().all(u8::is_ascii_digit) {
        Some(rest.to_ascii_uppercase())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attack_tags_become_technique_ids() {
        assert_eq!(attack_id("attack.t1059.001").as_deref(), Some("T1059.001"));
        assert_eq!(attack_id("attack.t1071").as_deref(), Some("T1071"));
        assert_eq!(attack_id("attack.execution"), None);
        assert_eq!(attack_id("attack.g0007"), None);
        assert_eq!(attack_id("cve.2021-1675"), None);
    }

    #[test]
    fn levels_map_to_severities() {
        assert_eq!(level_severity(Some(&Level::Informational)).0, Severity::Info);
        assert_eq!(level_severity(Some(&Level::Low)).0, Severity::Low);
        assert_eq!(level_severity(None).0, Severity::Medium);
        assert_eq!(level_severity(Some(&Level::High)).0, Severity::High);
        assert_eq!(level_severity(Some(&Level::Critical)).0, Severity::Critical);
    }
}

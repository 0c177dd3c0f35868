//! Findings into Elasticsearch or OpenSearch, as ECS alert documents that Kibana and
//! OpenSearch Dashboards can show.
//!
//! [`template`] is the index template (`PUT _index_template/<name>`): ECS names where ECS has
//! one (`@timestamp`, `event.kind: alert`, numeric `event.severity`, `rule.name`,
//! `threat.technique.id`, `host.name`, `process.*`, `user.name`, `dns.question.*`, `message`
//! = the explanation) plus `dnshunt.*`. The detector-specific `dnshunt.details`, the evidence
//! events and the merge bookkeeping are `object` with `enabled: false`: stored in `_source`,
//! not indexed. Elasticsearch's `flattened` and OpenSearch's `flat_object` would make them
//! searchable, but neither exists on the other product; the facts worth searching are promoted
//! to ECS fields already.
//!
//! Documents are written with `_bulk`, `_id` = the finding id, so a re-run never duplicates.
//! A run that read everything (no checkpoint to continue from) writes its complete view of
//! each finding. A run that continues a checkpoint saw only new events: its findings are
//! merged into the stored ones (counts added, first/last time widened, severity and score
//! maximised, the earliest evidence kept). The merge is idempotent per increment: each document
//! remembers the increment (`dnshunt.window`) that last changed it and the finding as it was
//! before (`dnshunt.prior`), so retrying an increment that failed half-way (findings written,
//! checkpoint not advanced) recomputes the same result instead of counting twice. Concurrent
//! writers are caught by optimistic concurrency (`if_seq_no`) and the merge is redone.

use dnshunt_core::{image_file_name, Finding, Incident, Severity};
use dnshunt_elastic::bulk::{BulkDoc, WriteOp};
use dnshunt_elastic::{encode_path_segment, Client, EsError, Method};
use serde_json::{json, Map, Value};

/// ECS `event.severity` for each severity (the numbers of Elastic's detection rules).
pub fn severity_number(s: Severity) -> u64 {
    match s {
        Severity::Info => 1,
        Severity::Low => 21,
        Severity::Medium => 47,
        Severity::High => 73,
        Severity::Critical => 99,
    }
}

fn keyword() -> Value {
    json!({ "type": "keyword", "ignore_above": 1024 })
}

fn long_keyword() -> Value {
    json!({ "type": "keyword", "ignore_above": 8191 })
}

fn disabled() -> Value {
    json!({ "type": "object", "enabled": false })
}

/// The mappings of the findings index.
pub fn mappings() -> Value {
    json!({
        "dynamic": false,
        "_meta": { "managed_by": "dnshunt", "mapping_version": 2 },
        "properties": {
            "@timestamp": { "type": "date" },
            "message": { "type": "text" },
            "event": { "properties": {
                "kind": keyword(), "module": keyword(), "dataset": keyword(),
                "severity": { "type": "long" }, "risk_score": { "type": "float" },
                "start": { "type": "date" }, "end": { "type": "date" }
            }},
            "rule": { "properties": { "name": keyword(), "id": keyword(), "ruleset": keyword() } },
            "threat": { "properties": { "framework": keyword(), "technique": { "properties": { "id": keyword() } } } },
            "host": { "properties": { "name": keyword() } },
            "process": { "properties": {
                "entity_id": keyword(), "pid": { "type": "long" }, "executable": keyword(), "name": keyword(),
                "command_line": long_keyword(),
                "parent": { "properties": { "executable": keyword(), "command_line": long_keyword() } }
            }},
            "user": { "properties": { "name": keyword() } },
            "dns": { "properties": { "question": { "properties": { "name": keyword(), "registered_domain": keyword() } } } },
            "dnshunt": { "properties": {
                "id": keyword(), "detector": keyword(), "severity": keyword(), "score": { "type": "long" },
                "time_last": { "type": "date" }, "count": { "type": "long" }, "query_name_unicode": keyword(),
                "window": keyword(), "kind": keyword(), "incident_id": keyword(),
                "evidence": disabled(), "details": disabled(), "prior": disabled(), "incident": disabled()
            }}
        }
    })
}

/// The index template for a findings index named `name` (also `name-*`).
pub fn template(name: &str) -> Value {
    json!({
        "index_patterns": [name, format!("{name}-*")],
        "priority": 200,
        "_meta": { "managed_by": "dnshunt" },
        "template": { "mappings": mappings() }
    })
}

/// One finding as an ECS document. `window` names the increment of a run that continues a
/// checkpoint (`None` for a run that read everything).
pub fn document(f: &Finding, window: Option<&str>) -> Value {
    let mut process = Map::new();
    if let Some(guid) = &f.process.guid {
        process.insert("entity_id".into(), json!(guid.to_string()));
    }
    if let Some(pid) = f.process.pid {
        process.insert("pid".into(), json!(pid));
    }
    if let Some(image) = &f.process.image {
        process.insert("executable".into(), json!(image));
        process.insert("name".into(), json!(image_file_name(image)));
    }
    if let Some(cmd) = &f.process.command_line {
        process.insert("command_line".into(), json!(cmd));
    }
    let mut parent = Map::new();
    if let Some(p) = &f.process.parent_image {
        parent.insert("executable".into(), json!(p));
    }
    if let Some(p) = &f.process.parent_command_line {
        parent.insert("command_line".into(), json!(p));
    }
    if !parent.is_empty() {
        process.insert("parent".into(), Value::Object(parent));
    }
    let mut doc = json!({
        "@timestamp": f.time.to_string(),
        "message": f.explanation,
        "event": {
            "kind": "alert",
            "module": "dnshunt",
            "dataset": "dnshunt.finding",
            "severity": severity_number(f.severity),
            "risk_score": f.score,
            "start": f.time.to_string(),
            "end": f.time_last.to_string(),
        },
        "rule": { "name": f.detector, "id": f.detector, "ruleset": "dnshunt" },
        "dnshunt": {
            "id": f.id,
            "detector": f.detector,
            "severity": f.severity.as_str(),
            "score": f.score,
            "time_last": f.time_last.to_string(),
            "count": f.count,
            "evidence": serde_json::to_value(&f.evidence).unwrap_or(Value::Null),
            "details": Value::Object(f.details.clone()),
            "window": window,
            "prior": Value::Null,
        }
    });
    if !f.attack.is_empty() {
        doc["threat"] = json!({ "framework": "MITRE ATT&CK", "technique": { "id": f.attack } });
    }
    if let Some(host) = &f.host {
        doc["host"] = json!({ "name": host });
    }
    if !process.is_empty() {
        doc["process"] = Value::Object(process);
    }
    if let Some(user) = &f.process.user {
        doc["user"] = json!({ "name": user });
    }
    if f.query_name.is_some() || f.registered_domain.is_some() {
        let mut q = Map::new();
        if let Some(n) = &f.query_name {
            q.insert("name".into(), json!(n));
        }
        if let Some(r) = &f.registered_domain {
            q.insert("registered_domain".into(), json!(r));
        }
        doc["dns"] = json!({ "question": q });
    }
    if let Some(u) = &f.query_name_unicode {
        doc["dnshunt"]["query_name_unicode"] = json!(u);
    }
    doc["dnshunt"]["kind"] = json!("finding");
    if let Some(id) = &f.incident_id {
        doc["dnshunt"]["incident_id"] = json!(id);
    }
    doc
}

/// The document id of an incident in the findings index (apart from finding ids).
pub fn incident_doc_id(incident: &Incident) -> String {
    format!("incident-{}", incident.id)
}

/// One incident as an ECS alert document in the findings index: `dnshunt.kind` is `incident`,
/// `event.risk_score` its risk, `message` its headline; its findings carry the same
/// `dnshunt.incident_id`.
pub fn incident_document(i: &Incident) -> Value {
    let mut doc = json!({
        "@timestamp": i.time.to_string(),
        "message": i.headline,
        "event": {
            "kind": "alert",
            "module": "dnshunt",
            "dataset": "dnshunt.incident",
            "severity": severity_number(i.severity),
            "risk_score": i.risk,
            "start": i.time.to_string(),
            "end": i.time_last.to_string(),
        },
        "rule": { "name": "incident", "id": "incident", "ruleset": "dnshunt" },
        "dnshunt": {
            "id": i.id,
            "kind": "incident",
            "incident_id": i.id,
            "severity": i.severity.as_str(),
            "score": i.risk,
            "time_last": i.time_last.to_string(),
            "count": i.timeline.len(),
            "incident": serde_json::to_value(i).unwrap_or(Value::Null),
        }
    });
    if !i.attack.is_empty() {
        doc["threat"] = json!({ "framework": "MITRE ATT&CK", "technique": { "id": i.attack } });
    }
    if let Some(host) = i.hosts.first() {
        doc["host"] = json!({ "name": host });
    }
    let mut process = Map::new();
    if let Some(guid) = &i.root.guid {
        process.insert("entity_id".into(), json!(guid));
    }
    if let Some(image) = &i.root.image {
        process.insert("executable".into(), json!(image));
        process.insert("name".into(), json!(image_file_name(image)));
    }
    if let Some(cmd) = &i.root.command_line {
        process.insert("command_line".into(), json!(cmd));
    }
    if !process.is_empty() {
        doc["process"] = Value::Object(process);
    }
    doc
}

/// The finding as it stood before an increment: what a merge adds to.
fn snapshot(stored: &Value) -> Value {
    json!({
        "count": stored.pointer("/dnshunt/count").cloned().unwrap_or(json!(0)),
        "time": stored.get("@timestamp").cloned().unwrap_or(Value::Null),
        "time_last": stored.pointer("/dnshunt/time_last").cloned().unwrap_or(Value::Null),
        "severity": stored.pointer("/event/severity").cloned().unwrap_or(json!(0)),
        "severity_name": stored.pointer("/dnshunt/severity").cloned().unwrap_or(Value::Null),
        "score": stored.pointer("/dnshunt/score").cloned().unwrap_or(json!(0)),
        "evidence": stored.pointer("/dnshunt/evidence").cloned().unwrap_or(Value::Null),
        "message": stored.get("message").cloned().unwrap_or(Value::Null),
    })
}

/// Merges a new increment's document into the stored one (see the module doc).
pub fn merge(stored: &Value, new: Value, window: &str) -> Value {
    let same_increment = stored.pointer("/dnshunt/window").and_then(Value::as_str) == Some(window);
    let prior = if same_increment {
        stored.pointer("/dnshunt/prior").cloned().unwrap_or(Value::Null)
    } else {
        snapshot(stored)
    };
    if prior.is_null() {
        return new;
    }
    let mut doc = new;
    let count = prior["count"].as_u64().unwrap_or(0) + doc["dnshunt"]["count"].as_u64().unwrap_or(0);
    doc["dnshunt"]["count"] = json!(count);
    let (prior_time, new_time) = (prior["time"].as_str().unwrap_or(""), doc["@timestamp"].as_str().unwrap_or("").to_owned());
    // Times are all `YYYY-MM-DDTHH:MM:SS.mmmZ`: text order is time order.
    if !prior_time.is_empty() && prior_time <= new_time.as_str() {
        doc["@timestamp"] = json!(prior_time);
        doc["event"]["start"] = json!(prior_time);
        doc["dnshunt"]["evidence"] = prior["evidence"].clone();
        doc["message"] = prior["message"].clone();
    }
    if let Some(prior_last) = prior["time_last"].as_str() {
        if doc["dnshunt"]["time_last"].as_str().is_none_or(|t| prior_last > t) {
            doc["dnshunt"]["time_last"] = json!(prior_last);
            doc["event"]["end"] = json!(prior_last);
        }
    }
    if prior["severity"].as_u64().unwrap_or(0) > doc["event"]["severity"].as_u64().unwrap_or(0) {
        doc["event"]["severity"] = prior["severity"].clone();
        doc["dnshunt"]["severity"] = prior["severity_name"].clone();
    }
    if prior["score"].as_u64().unwrap_or(0) > doc["dnshunt"]["score"].as_u64().unwrap_or(0) {
        doc["dnshunt"]["score"] = prior["score"].clone();
        doc["event"]["risk_score"] = prior["score"].clone();
    }
    doc["dnshunt"]["prior"] = prior;
    doc
}

/// What writing the findings did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EsWriteReport {
    /// Documents written (new plus updated).
    pub written: usize,
    pub created: usize,
    /// Findings merged into a stored finding of an earlier increment or run.
    pub merged: usize,
    /// Documents rejected with 429 and sent again.
    pub retried: usize,
    /// Version conflicts (another writer) resolved by merging again.
    pub conflicts_resolved: usize,
}

/// Writes findings to one index.
#[derive(Debug)]
pub struct EsFindingsSink<'c> {
    client: &'c Client,
    index: String,
}

/// Rounds of re-reading and re-merging after version conflicts.
const CONFLICT_ROUNDS: usize = 5;

impl<'c> EsFindingsSink<'c> {
    pub fn new(client: &'c Client, index: impl Into<String>) -> EsFindingsSink<'c> {
        EsFindingsSink { client, index: index.into() }
    }

    /// Installs the index template; when the index exists already, adds the mapping to it.
    pub fn install_template(&self) -> Result<(), EsError> {
        let path = format!("/_index_template/{}", encode_path_segment(&self.index));
        self.client
            .json(Method::PUT, &path, Some(&template(&self.index)), "installing the findings index template")?;
        let what = "checking the findings index";
        let exists = self.client.request(Method::HEAD, &format!("/{}", encode_path_segment(&self.index)), None, what)?;
        if exists.is_success() {
            let path = format!("/{}/_mapping", encode_path_segment(&self.index));
            self.client
                .json(Method::PUT, &path, Some(&mappings()), "adding the findings mapping to the existing index")?;
        }
        Ok(())
    }

    /// Writes the incidents of a run (each replaces the document of the same id: an incident is
    /// recomputed from its findings on every run).
    pub fn write_incidents(&self, incidents: &[Incident]) -> Result<EsWriteReport, EsError> {
        let mut report = EsWriteReport::default();
        if incidents.is_empty() {
            return Ok(report);
        }
        let bulk: Vec<BulkDoc> = incidents
            .iter()
            .map(|i| BulkDoc {
                id: incident_doc_id(i),
                op: WriteOp::Index,
                source: serde_json::to_vec(&incident_document(i)).expect("JSON"),
            })
            .collect();
        let outcome = self.client.bulk(&self.index, &bulk, true)?;
        report.written = outcome.written;
        report.created = outcome.created;
        report.retried = outcome.retried;
        Ok(report)
    }

    /// Writes (or merges, see the module doc) the findings. `window` identifies the increment
    /// when the run continued a checkpoint.
    pub fn write(&self, findings: &[Finding], window: Option<&str>) -> Result<EsWriteReport, EsError> {
        let mut report = EsWriteReport::default();
        let docs: Vec<(String, Value)> = findings.iter().map(|f| (f.id.clone(), document(f, window))).collect();
        let Some(window) = window else {
            let bulk: Vec<BulkDoc> = docs
                .into_iter()
                .map(|(id, doc)| BulkDoc {
                    id,
                    op: WriteOp::Index,
                    source: serde_json::to_vec(&doc).expect("JSON"),
                })
                .collect();
            let outcome = self.client.bulk(&self.index, &bulk, true)?;
            report.written = outcome.written;
            report.created = outcome.created;
            report.retried = outcome.retried;
            return Ok(report);
        };
        let mut pending: Vec<(String, Value)> = docs;
        for round in 0..CONFLICT_ROUNDS {
            let ids: Vec<String> = pending.iter().map(|(id, _)| id.clone()).collect();
            let stored = self.client.mget(&self.index, &ids)?;
            let mut bulk = Vec::with_capacity(pending.len());
            for ((id, doc), old) in pending.iter().zip(stored) {
                let (op, doc) = match old {
                    None => (WriteOp::Create, doc.clone()),
                    Some(old) => {
                        let merged = merge(&old.source, doc.clone(), window);
                        if !merged["dnshunt"]["prior"].is_null() {
                            report.merged += 1;
                        }
                        (
                            WriteOp::IndexIfUnchanged {
                                seq_no: old.seq_no,
                                primary_term: old.primary_term,
                            },
                            merged,
                        )
                    }
                };
                bulk.push(BulkDoc {
                    id: id.clone(),
                    op,
                    source: serde_json::to_vec(&doc).expect("JSON"),
                });
            }
            let outcome = self.client.bulk(&self.index, &bulk, true)?;
            report.written += outcome.written;
            report.created += outcome.created;
            report.retried += outcome.retried;
            if outcome.conflicts.is_empty() {
                return Ok(report);
            }
            if round + 1 == CONFLICT_ROUNDS {
                return Err(EsError::Bulk {
                    url: self.client.url().to_owned(),
                    what: format!("writing to {}", self.index),
                    failed: outcome.conflicts.len(),
                    total: findings.len(),
                    examples: format!("version conflicts persisted (another writer?): {}", outcome.conflicts.join(", ")),
                });
            }
            report.conflicts_resolved += outcome.conflicts.len();
            pending.retain(|(id, _)| outcome.conflicts.contains(id));
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnshunt_core::{ProcessContext, Timestamp};

    fn finding(count: u64, time: i64, time_last: i64, severity: Severity) -> Finding {
        Finding {
            id: "f1".into(),
            detector: "beacon".into(),
            severity,
            score: 50,
            time: Timestamp(time),
            time_last: Timestamp(time_last),
            count,
            host: Some("PC1".into()),
            process: ProcessContext {
                image: Some(r"C:\Windows\System32\rundll32.exe".into()),
                pid: Some(42),
                ..ProcessContext::default()
            },
            query_name: Some("a.evil.example".into()),
            query_name_unicode: None,
            registered_domain: Some("evil.example".into()),
            attack: vec!["T1071.004".into()],
            explanation: format!("seen {count} times"),
            evidence: Vec::new(),
            details: Map::new(),
            incident_id: None,
        }
    }

    #[test]
    fn incidents_are_documents_of_their_own_and_findings_name_them() {
        let mut f = finding(3, 1_000, 2_000, Severity::High);
        f.incident_id = Some("abc".into());
        let doc = document(&f, None);
        assert_eq!((doc["dnshunt"]["kind"].as_str(), doc["dnshunt"]["incident_id"].as_str()), (Some("finding"), Some("abc")));
        let incident = Incident {
            id: "abc".into(),
            risk: 97,
            severity: Severity::Critical,
            headline: "PC1: winword.exe → rundll32.exe: beaconing to evil.example".into(),
            risk_reasons: vec!["behaviour evidence: beacon 90".into()],
            time: f.time,
            time_last: f.time_last,
            hosts: vec!["PC1".into()],
            root: dnshunt_core::IncidentProcess {
                image: Some(r"C:\Program Files\Office\WINWORD.EXE".into()),
                ..Default::default()
            },
            processes: vec!["rundll32.exe".into()],
            detectors: vec!["beacon".into()],
            evidence_kinds: vec!["behaviour".into()],
            attack: vec!["T1071.004".into()],
            indicators: vec!["evil.example".into()],
            findings_by_severity: [0, 0, 0, 1, 0],
            timeline: Vec::new(),
        };
        let doc = incident_document(&incident);
        assert_eq!(incident_doc_id(&incident), "incident-abc");
        assert_eq!(doc["event"]["dataset"], "dnshunt.incident");
        assert_eq!(doc["event"]["risk_score"], 97);
        assert_eq!(doc["message"], incident.headline);
        assert_eq!(doc["dnshunt"]["kind"], "incident");
        assert_eq!(doc["process"]["name"], "winword.exe");
        assert_eq!(doc["dnshunt"]["incident"]["headline"], incident.headline);
    }

    #[test]
    fn documents_use_ecs_names() {
        let doc = document(&finding(3, 1_000, 2_000, Severity::High), None);
        assert_eq!(doc["event"]["kind"], "alert");
        assert_eq!(doc["event"]["severity"], 73);
        assert_eq!(doc["rule"]["name"], "beacon");
        assert_eq!(doc["threat"]["technique"]["id"], json!(["T1071.004"]));
        assert_eq!(doc["host"]["name"], "PC1");
        assert_eq!(doc["process"]["executable"], r"C:\Windows\System32\rundll32.exe");
        assert_eq!(doc["process"]["name"], "rundll32.exe");
        assert_eq!(doc["process"]["pid"], 42);
        assert_eq!(doc["dns"]["question"]["registered_domain"], "evil.example");
        assert_eq!(doc["message"], "seen 3 times");
        assert_eq!(doc["dnshunt"]["count"], 3);
        assert_eq!(doc["@timestamp"], "1970-01-01T00:00:01.000Z");
        // Every field of the document is in the mapping.
        let props = mappings();
        for path in [
            "/properties/event/properties/severity",
            "/properties/dnshunt/properties/details",
            "/properties/dns/properties/question/properties/name",
        ] {
            assert!(props.pointer(path).is_some(), "{path}");
        }
    }

    #[test]
    fn increments_add_and_retries_of_an_increment_do_not_count_twice() {
        // Run 1 read everything: its document is the complete view.
        let stored1 = document(&finding(10, 1_000, 5_000, Severity::Medium), None);
        // Run 2 continues checkpoint generation 1 and saw 3 new events.
        let run2 = document(&finding(3, 6_000, 8_000, Severity::High), Some("k:1"));
        let stored2 = merge(&stored1, run2.clone(), "k:1");
        assert_eq!(stored2["dnshunt"]["count"], 13);
        assert_eq!(stored2["@timestamp"], "1970-01-01T00:00:01.000Z");
        assert_eq!(stored2["dnshunt"]["time_last"], "1970-01-01T00:00:08.000Z");
        assert_eq!(stored2["event"]["severity"], 73);
        assert_eq!(stored2["message"], "seen 10 times", "the earliest sighting's explanation stays");
        // Run 2 failed after writing (checkpoint not advanced) and runs again: same increment,
        // same result — not 16.
        let again = merge(&stored2, run2, "k:1");
        assert_eq!(again, stored2);
        // Run 3 continues generation 2.
        let run3 = document(&finding(1, 9_000, 9_000, Severity::Low), Some("k:2"));
        let stored3 = merge(&stored2, run3, "k:2");
        assert_eq!(stored3["dnshunt"]["count"], 14);
        assert_eq!(stored3["event"]["severity"], 73);
        // A finding first seen in an increment, then that increment retried: replaced, not added.
        let new_in_run = document(&finding(2, 6_000, 7_000, Severity::Low), Some("k:5"));
        let retried = merge(&new_in_run, new_in_run.clone(), "k:5");
        assert_eq!(retried["dnshunt"]["count"], 2);
    }
}

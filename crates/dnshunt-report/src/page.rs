//! The findings as the page's script reads them: only what the table and its expanded rows
//! show, with what many findings share written once.
//!
//! A finding as the JSON sink writes it carries whole events as evidence and its process
//! context and parent chain in full; thousands of findings of one busy process repeat the same
//! command lines thousands of times. Here:
//! - process contexts and process chains go into two tables (`processes`, `chains`) and a
//!   finding points into them (`p`, `c`);
//! - each evidence event becomes one line of text (`what`) with its time, type and origin, at
//!   most [`MAX_PAGE_EVIDENCE`] of them per finding (the finding's `count` says how many there
//!   were; the JSON sink keeps the events themselves);
//! - details stay as they are, less the chain that went into the table.

use std::collections::HashMap;
use std::fmt::Write as _;

use dnshunt_core::{AnswerData, Event, EventKind, Finding, ProcessContext, Severity, Timestamp};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// Evidence events per finding in the page.
pub const MAX_PAGE_EVIDENCE: usize = 5;
/// Text of one evidence line is cut to this many characters (command lines can be 32 KiB).
const MAX_WHAT: usize = 600;

/// All findings, ready to serialise.
#[derive(Serialize)]
pub(crate) struct PageData<'a> {
    processes: Vec<&'a ProcessContext>,
    chains: Vec<&'a serde_json::Value>,
    findings: Vec<PageFinding<'a>>,
}

#[derive(Serialize)]
struct PageFinding<'a> {
    id: &'a str,
    detector: &'a str,
    severity: Severity,
    score: u8,
    time: Timestamp,
    time_last: Timestamp,
    count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    /// Index into `processes`.
    p: usize,
    /// Index into `chains`.
    #[serde(skip_serializing_if = "Option::is_none")]
    c: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query_name_unicode: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registered_domain: Option<&'a str>,
    attack: &'a [String],
    explanation: &'a str,
    evidence: Vec<PageEvent>,
    details: DetailsWithoutChain<'a>,
}

#[derive(Serialize)]
struct PageEvent {
    time: Timestamp,
    event_type: &'static str,
    what: String,
    origin: String,
}

/// A finding's details, less `process_chain` (which is in the chains table).
struct DetailsWithoutChain<'a>(&'a serde_json::Map<String, serde_json::Value>);

impl Serialize for DetailsWithoutChain<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (k, v) in self.0 {
            if k != "process_chain" {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

/// Builds the page data of `findings`.
pub(crate) fn page_data(findings: &[Finding]) -> PageData<'_> {
    let mut process_ids: HashMap<&ProcessContext, usize> = HashMap::new();
    // Chains are JSON values (no `Hash`): keyed by their text, equal JSON, equal entry.
    let mut chain_ids: HashMap<String, usize> = HashMap::new();
    let mut processes = Vec::new();
    let mut chains = Vec::new();
    let mut page = Vec::with_capacity(findings.len());
    for f in findings {
        let p = *process_ids.entry(&f.process).or_insert_with(|| {
            processes.push(&f.process);
            processes.len() - 1
        });
        let c = f.details.get("process_chain").map(|chain| {
            let key = serde_json::to_string(chain).unwrap_or_default();
            *chain_ids.entry(key).or_insert_with(|| {
                chains.push(chain);
                chains.len() - 1
            })
        });
        page.push(PageFinding {
            id: &f.id,
            detector: &f.detector,
            severity: f.severity,
            score: f.score,
            time: f.time,
            time_last: f.time_last,
            count: f.count,
            host: f.host.as_deref(),
            p,
            c,
            query_name: f.query_name.as_deref(),
            query_name_unicode: f.query_name_unicode.as_deref(),
            registered_domain: f.registered_domain.as_deref(),
            attack: &f.attack,
            explanation: &f.explanation,
            evidence: f.evidence.iter().take(MAX_PAGE_EVIDENCE).map(page_event).collect(),
            details: DetailsWithoutChain(&f.details),
        });
    }
    PageData {
        processes,
        chains,
        findings: page,
    }
}

fn page_event(e: &Event) -> PageEvent {
    let (event_type, mut what) = match &e.kind {
        EventKind::DnsQuery(q) => {
            let mut s = format!("DNS {} → {}", q.query.as_str(), q.status);
            if !q.answers.is_empty() {
                s.push_str(" [");
                for (i, a) in q.answers.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    let _ = match &a.data {
                        AnswerData::Ip(ip) => write!(s, "{} {ip}", a.rtype),
                        AnswerData::Name(n) => write!(s, "{} {n}", a.rtype),
                        AnswerData::Empty => write!(s, "{}", a.rtype),
                    };
                }
                s.push(']');
            } else if !q.results_raw.is_empty() {
                let _ = write!(s, " [{}]", q.results_raw);
            }
            ("dns_query", s)
        }
        EventKind::NetworkConnect(n) => {
            let target = match (&n.destination_ip, &n.destination_hostname) {
                (Some(ip), _) => ip.to_string(),
                (None, Some(h)) => h.clone(),
                (None, None) => "?".to_owned(),
            };
            let port = n.destination_port.map(|p| p.to_string()).unwrap_or_else(|| "?".to_owned());
            ("network_connect", format!("connect {} {target}:{port}", n.protocol.as_deref().unwrap_or("")))
        }
        EventKind::ProcessCreate(p) => (
            "process_create",
            format!("start {}", p.command_line.as_deref().or(p.process.image.as_deref()).unwrap_or("?")),
        ),
        EventKind::ProcessTerminate(p) => ("process_terminate", format!("end {}", p.process.image.as_deref().unwrap_or("?"))),
        EventKind::WireDns(w) => ("wire_dns", w.summary()),
        EventKind::WireFlow(f) => ("wire_flow", f.summary()),
    };
    if what.chars().count() > MAX_WHAT {
        let cut = what.char_indices().nth(MAX_WHAT).map_or(what.len(), |(i, _)| i);
        what.truncate(cut);
        what.push('…');
    }
    PageEvent {
        time: e.time,
        event_type,
        what,
        // The index of a search hit is not part of `Origin`'s text (its `file` names the pattern).
        origin: match e.origin.index() {
            Some(index) => format!("{} ({index})", e.origin),
            None => e.origin.to_string(),
        },
    }
}

//! The normalised event model: Sysmon EID 1, 3, 5 and 22, and what the network saw (`wire.rs`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use crate::{Answer, DnsName, Guid, QueryStatus, Timestamp, WireDns, WireFlow};

/// Where an event came from, precisely enough for an analyst to find it again.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The file (`archive.zip!inner.json` inside archives, `-` for stdin, `es://index` for a cluster).
    pub file: Arc<str>,
    /// 1-based line number in a text file.
    pub line: Option<u64>,
    /// Record number: the EVTX `EventRecordID`, or the n-th event of an XML document.
    pub record: Option<u64>,
    /// Elasticsearch index and document id, when the event came from a search hit. Boxed:
    /// most events come from files, and every event carries an `Origin`.
    pub hit: Option<Box<SearchHit>>,
}

/// The Elasticsearch index and document id of a search hit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SearchHit {
    pub index: Option<String>,
    pub id: Option<String>,
}

impl Origin {
    pub fn line(file: &Arc<str>, line: u64) -> Origin {
        Origin {
            file: file.clone(),
            line: Some(line),
            record: None,
            hit: None,
        }
    }

    pub fn record(file: &Arc<str>, record: u64) -> Origin {
        Origin {
            file: file.clone(),
            line: None,
            record: Some(record),
            hit: None,
        }
    }

    /// The Elasticsearch index of a search hit.
    pub fn index(&self) -> Option<&str> {
        self.hit.as_ref()?.index.as_deref()
    }

    /// The Elasticsearch document id of a search hit.
    pub fn id(&self) -> Option<&str> {
        self.hit.as_ref()?.id.as_deref()
    }

    /// The search hit's parts, made when first needed.
    pub fn hit_mut(&mut self) -> &mut SearchHit {
        self.hit.get_or_insert_with(Box::default)
    }
}

/// `file`, then `line`, `record`, `index` and `id` when present (the search hit's parts at the
/// top level, as if they were the origin's own).
impl Serialize for Origin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let (index, id) = (self.index(), self.id());
        let fields = 1 + [self.line.is_some(), self.record.is_some(), index.is_some(), id.is_some()].iter().filter(|&&b| b).count();
        let mut st = s.serialize_struct("Origin", fields)?;
        st.serialize_field("file", &*self.file)?;
        if let Some(line) = self.line {
            st.serialize_field("line", &line)?;
        }
        if let Some(record) = self.record {
            st.serialize_field("record", &record)?;
        }
        if let Some(index) = index {
            st.serialize_field("index", index)?;
        }
        if let Some(id) = id {
            st.serialize_field("id", id)?;
        }
        st.end()
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(record) = self.record {
            write!(f, " record {record}")?;
        }
        if let Some(id) = self.id() {
            write!(f, " _id {id}")?;
        }
        Ok(())
    }
}

/// The process an event belongs to, as the event itself names it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProcessRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guid: Option<Guid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Arc<str>>,
}

impl ProcessRef {
    /// The file name of the image (`powershell.exe`), lower case.
    pub fn image_name(&self) -> Option<String> {
        self.image.as_deref().map(image_file_name)
    }
}

/// The file-name part of a Windows path, lower case (`C:\Windows\System32\PING.EXE` → `ping.exe`).
pub fn image_file_name(path: &str) -> String {
    file_name_of(path).to_lowercase()
}

/// The file-name part of a Windows path as written (`C:\Windows\explorer.exe` → `explorer.exe`).
pub fn file_name_of(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

/// What Sysmon writes as the image of a process it could not name (short-lived ones).
pub const UNKNOWN_PROCESS: &str = "<unknown process>";

/// A host's key: lower case, the first label of a fully qualified name
/// (`WS-ACCT-07.corp.example.com` → `ws-acct-07`), an IP address kept whole (in its canonical
/// form, `::ffff:`-mapped IPv4 as IPv4); surrounding whitespace and trailing dots trimmed.
/// Empty when nothing is left. The one notion of "the same host" for prevalence and incidents.
///
/// Sysmon's `Computer` is usually the FQDN, while shippers' `host.name` and analysts often use
/// the short name; the first label is what both have in common.
pub fn host_key(host: &str) -> String {
    let trimmed = host.trim().trim_end_matches('.').trim_end();
    if trimmed.is_empty() {
        return String::new();
    }
    if let Some(ip) = crate::parse_ip(trimmed) {
        return ip.to_string();
    }
    let first = trimmed.split('.').next().unwrap_or(trimmed);
    if first.is_ascii() {
        first.to_ascii_lowercase()
    } else {
        first.to_lowercase()
    }
}

/// One Sysmon event, typed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// When it happened: Sysmon's `UtcTime` (never the ingestion `@timestamp`).
    pub time: Timestamp,
    /// The endpoint (`Computer`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<Arc<str>>,
    /// The EVTX `EventRecordID` / Winlogbeat `record_number`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    pub origin: Origin,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The four event types dnshunt models.
// The lookup is the common event and the one detectors keep copies of, so it sets the size:
// the larger process start and connection are boxed (an event is moved in batches and kept
// as evidence; 280 bytes instead of 672, with the search hit boxed in `Origin`, the host, image
// and user shared, and `Guid` aligned to 8).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event_type", rename_all = "snake_case")]
pub enum EventKind {
    /// EID 22.
    DnsQuery(DnsQuery),
    /// EID 1.
    ProcessCreate(Box<ProcessCreate>),
    /// EID 3.
    NetworkConnect(Box<NetworkConnect>),
    /// EID 5.
    ProcessTerminate(ProcessTerminate),
    /// A DNS exchange seen on the network (pcap, Zeek, Suricata).
    WireDns(Box<WireDns>),
    /// A connection seen on the network (Zeek `conn.log`, Suricata `flow` and `tls`).
    WireFlow(Box<WireFlow>),
}

impl EventKind {
    /// The Sysmon event id; 0 for what the network saw.
    pub fn event_id(&self) -> u32 {
        match self {
            EventKind::DnsQuery(_) => 22,
            EventKind::ProcessCreate(_) => 1,
            EventKind::NetworkConnect(_) => 3,
            EventKind::ProcessTerminate(_) => 5,
            EventKind::WireDns(_) | EventKind::WireFlow(_) => 0,
        }
    }

    /// Sysmon's events, not the network's.
    pub fn is_sysmon(&self) -> bool {
        !matches!(self, EventKind::WireDns(_) | EventKind::WireFlow(_))
    }
}

impl Event {
    /// The process the event names; empty for wire events that attribution did not join.
    pub fn process(&self) -> &ProcessRef {
        match &self.kind {
            EventKind::DnsQuery(e) => &e.process,
            EventKind::ProcessCreate(e) => &e.process,
            EventKind::NetworkConnect(e) => &e.process,
            EventKind::ProcessTerminate(e) => &e.process,
            EventKind::WireDns(e) => &e.lookup.process,
            EventKind::WireFlow(e) => &e.process,
        }
    }

    /// The process the event names, to fill in (the process join, attribution).
    pub fn process_mut(&mut self) -> &mut ProcessRef {
        match &mut self.kind {
            EventKind::DnsQuery(e) => &mut e.process,
            EventKind::ProcessCreate(e) => &mut e.process,
            EventKind::NetworkConnect(e) => &mut e.process,
            EventKind::ProcessTerminate(e) => &mut e.process,
            EventKind::WireDns(e) => &mut e.lookup.process,
            EventKind::WireFlow(e) => &mut e.process,
        }
    }

    /// Sysmon's EID 22.
    pub fn dns(&self) -> Option<&DnsQuery> {
        match &self.kind {
            EventKind::DnsQuery(e) => Some(e),
            _ => None,
        }
    }

    /// A lookup from either side: Sysmon's EID 22 or a DNS exchange seen on the wire. What the
    /// name detectors judge.
    pub fn lookup(&self) -> Option<&DnsQuery> {
        match &self.kind {
            EventKind::DnsQuery(e) => Some(e),
            EventKind::WireDns(e) => Some(&e.lookup),
            _ => None,
        }
    }

    /// A DNS exchange seen on the wire.
    pub fn wire_dns(&self) -> Option<&WireDns> {
        match &self.kind {
            EventKind::WireDns(e) => Some(e),
            _ => None,
        }
    }

    /// A connection seen on the wire.
    pub fn wire_flow(&self) -> Option<&WireFlow> {
        match &self.kind {
            EventKind::WireFlow(e) => Some(e),
            _ => None,
        }
    }

    pub fn network(&self) -> Option<&NetworkConnect> {
        match &self.kind {
            EventKind::NetworkConnect(e) => Some(e),
            _ => None,
        }
    }
}

/// Sysmon EID 22, DnsQuery.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DnsQuery {
    pub process: ProcessRef,
    pub query: DnsName,
    pub status: QueryStatus,
    pub answers: Vec<Answer>,
    /// `QueryResults` as logged (the string form; arrays joined with `;`).
    pub results_raw: String,
}

impl DnsQuery {
    /// A lookup of `query` with its status only: no process, no answers (what the network
    /// shows before attribution and answers fill them in).
    pub fn new(query: DnsName, status: QueryStatus) -> DnsQuery {
        DnsQuery {
            process: ProcessRef::default(),
            query,
            status,
            answers: Vec::new(),
            results_raw: String::new(),
        }
    }

    /// Every address in the answers.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.answers.iter().filter_map(Answer::ip)
    }

    /// Every name in the answers (CNAME chain targets and the like).
    pub fn answer_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.answers.iter().filter_map(Answer::name)
    }
}

/// Sysmon EID 1, ProcessCreate.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProcessCreate {
    pub process: ProcessRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_line: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_file_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logon_guid: Option<Guid>,
    /// Hexadecimal as Sysmon writes it (`0x18d3ba`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logon_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal_session_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrity_level: Option<String>,
    /// Algorithm (upper case: `MD5`, `SHA1`, `SHA256`, `IMPHASH`) → hex value.
    pub hashes: BTreeMap<String, String>,
    pub parent: ProcessRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_command_line: Option<String>,
}

/// Sysmon EID 3, NetworkConnect.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NetworkConnect {
    pub process: ProcessRef,
    /// `tcp` or `udp`, lower case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initiated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_is_ipv6: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_port_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_is_ipv6: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_port_name: Option<String>,
}

/// Sysmon EID 5, ProcessTerminate.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProcessTerminate {
    pub process: ProcessRef,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Detectors keep events as evidence, tens of thousands of them on a busy day: a field that
    /// makes every event larger should be a choice, not an accident.
    #[test]
    fn an_event_stays_small() {
        assert!(std::mem::size_of::<Event>() <= 280, "{}", std::mem::size_of::<Event>());
        assert!(std::mem::size_of::<Origin>() <= 56);
    }
}

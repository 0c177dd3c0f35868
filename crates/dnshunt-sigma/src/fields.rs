//! The field mapping: a typed [`Event`] seen through Sysmon's field names, as Sigma rules for
//! Sysmon are written.
//!
//! Every input shape (EVTX, Winlogbeat 6, ECS, flat JSON, XML) has already been normalised into
//! one [`Event`], so a rule matches the same way whatever the shape was. Values are rendered as
//! Sysmon renders them: `QueryStatus` `0`, `Initiated` `true`, `Hashes`
//! `IMPHASH=...,MD5=...,SHA256=...`, GUIDs in braces and upper case, `UtcTime`
//! `2019-06-25 14:09:41.467`. The names come from the one table in `dnshunt_core::raw`.

use std::borrow::Cow;
use std::net::IpAddr;

use dnshunt_core::{Answer, AnswerData, Event, EventKind, Field, Guid, ProcessRef, Timestamp};
use rsigma_eval::EventValue;
use serde_json::Value;

/// The Sigma logsource category of an event, or `None` for events no supported rule reads.
pub fn category(event: &Event) -> Option<&'static str> {
    match event.kind {
        EventKind::DnsQuery(_) => Some("dns_query"),
        EventKind::ProcessCreate(_) => Some("process_creation"),
        EventKind::NetworkConnect(_) => Some("network_connection"),
        EventKind::ProcessTerminate(_) | EventKind::WireDns(_) | EventKind::WireFlow(_) => None,
    }
}

/// Fields that are not Sysmon event-data fields but that Sysmon rules use: the hash parts some
/// older rules name on their own, and the System fields of the event.
const EXTRA_FIELDS: [&str; 8] = ["EventID", "Computer", "Channel", "Provider_Name", "Imphash", "md5", "sha1", "sha256"];

/// An [`Event`] as Sigma sees it.
#[derive(Clone, Copy, Debug)]
pub struct SysmonView<'a> {
    event: &'a Event,
}

impl<'a> SysmonView<'a> {
    pub fn new(event: &'a Event) -> SysmonView<'a> {
        SysmonView { event }
    }

    /// The value of a Sysmon field, rendered as Sysmon renders it; `None` when the event type
    /// has no such field or the input did not carry it.
    pub fn field(&self, field: Field) -> Option<EventValue<'a>> {
        let event = self.event;
        let process = event.process();
        match field {
            Field::RuleName => event.rule_name.as_deref().map(text),
            Field::UtcTime => Some(owned(utc_time(event.time))),
            Field::ProcessGuid => process.guid.map(guid),
            Field::ProcessId => process.pid.map(|pid| EventValue::Int(i64::from(pid))),
            Field::Image => process.image.as_deref().map(text),
            Field::User => process.user.as_deref().map(text),
            Field::Message => None,
            _ => match &event.kind {
                EventKind::DnsQuery(q) => match field {
                    Field::QueryName => Some(text(q.query.as_str())),
                    Field::QueryStatus => Some(owned(q.status.0.to_string())),
                    Field::QueryResults if !q.results_raw.is_empty() => Some(text(&q.results_raw)),
                    // Shapes that carry the answers only as structured values (ECS `dns.answers`)
                    // are rendered back into Sysmon's string form.
                    Field::QueryResults if !q.answers.is_empty() => Some(owned(query_results(&q.answers))),
                    Field::QueryResults => Some(text("-")),
                    _ => None,
                },
                EventKind::ProcessCreate(p) => match field {
                    Field::FileVersion => p.file_version.as_deref().map(text),
                    Field::Description => p.description.as_deref().map(text),
                    Field::Product => p.product.as_deref().map(text),
                    Field::Company => p.company.as_deref().map(text),
                    Field::OriginalFileName => p.original_file_name.as_deref().map(text),
                    Field::CommandLine => p.command_line.as_deref().map(text),
                    Field::CurrentDirectory => p.current_directory.as_deref().map(text),
                    Field::LogonGuid => p.logon_guid.map(guid),
                    Field::LogonId => p.logon_id.as_deref().map(text),
                    Field::TerminalSessionId => p.terminal_session_id.map(|id| EventValue::Int(i64::from(id))),
                    Field::IntegrityLevel => p.integrity_level.as_deref().map(text),
                    Field::Hashes if !p.hashes.is_empty() => {
                        let joined: Vec<String> = p.hashes.iter().map(|(alg, value)| format!("{alg}={value}")).collect();
                        Some(owned(joined.join(",")))
                    }
                    Field::ParentProcessGuid => p.parent.guid.map(guid),
                    Field::ParentProcessId => p.parent.pid.map(|pid| EventValue::Int(i64::from(pid))),
                    Field::ParentImage => p.parent.image.as_deref().map(text),
                    Field::ParentCommandLine => p.parent_command_line.as_deref().map(text),
                    Field::ParentUser => p.parent.user.as_deref().map(text),
                    _ => None,
                },
                EventKind::NetworkConnect(n) => match field {
                    Field::Protocol => n.protocol.as_deref().map(text),
                    Field::Initiated => n.initiated.map(boolean),
                    Field::SourceIsIpv6 => n.source_is_ipv6.map(boolean),
                    Field::SourceIp => n.source_ip.map(|ip| owned(ip.to_string())),
                    Field::SourceHostname => n.source_hostname.as_deref().map(text),
                    Field::SourcePort => n.source_port.map(|port| EventValue::Int(i64::from(port))),
                    Field::SourcePortName => n.source_port_name.as_deref().map(text),
                    Field::DestinationIsIpv6 => n.destination_is_ipv6.map(boolean),
                    Field::DestinationIp => n.destination_ip.map(|ip| owned(ip.to_string())),
                    Field::DestinationHostname => n.destination_hostname.as_deref().map(text),
                    Field::DestinationPort => n.destination_port.map(|port| EventValue::Int(i64::from(port))),
                    Field::DestinationPortName => n.destination_port_name.as_deref().map(text),
                    _ => None,
                },
                EventKind::ProcessTerminate(_) | EventKind::WireDns(_) | EventKind::WireFlow(_) => None,
            },
        }
    }

    fn extra(&self, name: &str) -> Option<EventValue<'a>> {
        let event = self.event;
        match name {
            "EventID" => Some(EventValue::Int(i64::from(event.kind.event_id()))),
            "Computer" => event.host.as_deref().map(text),
            "Channel" => Some(text("Microsoft-Windows-Sysmon/Operational")),
            "Provider_Name" => Some(text("Microsoft-Windows-Sysmon")),
            _ => {
                let EventKind::ProcessCreate(p) = &event.kind else { return None };
                let algorithm = match name {
                    "Imphash" => "IMPHASH",
                    "md5" => "MD5",
                    "sha1" => "SHA1",
                    "sha256" => "SHA256",
                    _ => return None,
                };
                p.hashes.get(algorithm).map(|v| text(v))
            }
        }
    }

    /// Every field the event has, with its value.
    fn present(&self) -> impl Iterator<Item = (&'static str, EventValue<'a>)> + '_ {
        let fields = Field::ALL.into_iter().filter_map(|f| self.field(f).map(|v| (f.name(), v)));
        let extras = EXTRA_FIELDS.into_iter().filter_map(|name| self.extra(name).map(|v| (name, v)));
        fields.chain(extras)
    }
}

fn text(s: &str) -> EventValue<'_> {
    EventValue::Str(Cow::Borrowed(s))
}

fn owned<'a>(s: String) -> EventValue<'a> {
    EventValue::Str(Cow::Owned(s))
}

fn boolean<'a>(b: bool) -> EventValue<'a> {
    // Sysmon writes booleans as the words `true` and `false`; rules compare them as text.
    text(if b { "true" } else { "false" })
}

fn guid<'a>(g: Guid) -> EventValue<'a> {
    owned(g.to_string().to_uppercase())
}

/// `QueryResults` as Sysmon writes it: `type:  5 name;::ffff:1.2.3.4;`.
fn query_results(answers: &[Answer]) -> String {
    let mut out = String::new();
    for answer in answers {
        match &answer.data {
            AnswerData::Ip(IpAddr::V4(ip)) => out.push_str(&format!("::ffff:{ip};")),
            AnswerData::Ip(ip) => out.push_str(&format!("{ip};")),
            AnswerData::Name(name) => out.push_str(&format!("type:  {} {name};", answer.rtype.0)),
            AnswerData::Empty => out.push_str(&format!("type:  {} ;", answer.rtype.0)),
        }
    }
    out
}

/// `UtcTime` as Sysmon writes it: `2019-06-25 14:09:41.467`.
fn utc_time(time: Timestamp) -> String {
    let rfc3339 = time.to_string();
    rfc3339.trim_end_matches('Z').replacen('T', " ", 1)
}

impl rsigma_eval::Event for SysmonView<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        match Field::from_name(path) {
            Some(field) => self.field(field),
            None => self.extra(path),
        }
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.present().any(|(_, v)| v.as_str().is_some_and(|s| pred(&s)))
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        self.present().filter_map(|(_, v)| v.as_str().map(|s| Cow::Owned(s.into_owned()))).collect()
    }

    fn to_json(&self) -> Value {
        Value::Object(self.present().map(|(name, v)| (name.to_owned(), v.to_json())).collect())
    }
}

/// The process GUID as a finding key part (empty when unknown).
pub(crate) fn process_key(process: &ProcessRef) -> String {
    process.guid.map(|g| g.to_string()).unwrap_or_default()
}

//! From [`RawRecord`] to [`Event`]: typing, fallbacks between input shapes, validation.
//!
//! Pure and total: every input gives an outcome. A record that cannot become an event is a
//! [`BadRecord`] with a reason; a field that could not be typed is dropped with a warning, and the
//! event is kept.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::answer::{parse_entry, parse_ip, parse_query_results};
use crate::event::*;
use crate::raw::{Field, RawRecord, RawValue};
use crate::{shared, Answer, AnswerData, DnsName, Guid, QueryStatus, RecordType, Timestamp};

/// The channel Sysmon writes to.
pub const SYSMON_CHANNEL: &str = "Microsoft-Windows-Sysmon/Operational";
/// Sysmon's event provider.
pub const SYSMON_PROVIDER: &str = "Microsoft-Windows-Sysmon";

/// Longest `QueryName` accepted: 253 octets in presentation form, with room for a trailing dot
/// and `\.`-escaped odd bytes; anything longer is not a name a resolver could have been asked.
const MAX_QUERY_NAME: usize = 1024;

/// What a record turned out to be.
#[derive(Debug)]
pub enum Outcome {
    /// One of the modelled events.
    Event(Box<Event>),
    /// A Sysmon event of another id (counted per id and skipped).
    OtherSysmon(u32),
    /// An event from another channel or provider (counted and skipped).
    NotSysmon,
}

/// A record that could not be turned into an event, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRecord {
    pub reason: String,
}

impl BadRecord {
    pub fn new(reason: impl Into<String>) -> BadRecord {
        BadRecord { reason: reason.into() }
    }
}

/// Normalises one record. `warnings` receives field-level problems (the event is still kept).
pub fn normalize(mut raw: RawRecord<'_>, origin: Origin, warnings: &mut Vec<String>) -> Result<Outcome, BadRecord> {
    for (field, shape) in raw.field_errors.drain(..) {
        warnings.push(format!("field {field} has an unexpected {shape}; ignored"));
    }
    if !is_sysmon(&raw) {
        return Ok(Outcome::NotSysmon);
    }
    let Some(event_id) = raw.event_id else {
        return Err(BadRecord::new(if raw.is_empty() {
            "no Sysmon event in this record"
        } else {
            "record has Sysmon fields but no event id"
        }));
    };
    if !matches!(event_id, 1 | 3 | 5 | 22) {
        return Ok(Outcome::OtherSysmon(event_id));
    }
    let time = match raw.take(Field::UtcTime) {
        Some(v) => {
            let text = v.as_text();
            match Timestamp::parse(&text) {
                Some(t) => t,
                None => return Err(BadRecord::new(format!("UtcTime {:?} is not a time", truncate(&text, 40)))),
            }
        }
        None => match raw.system_time.as_deref().and_then(Timestamp::parse) {
            Some(t) => {
                warnings.push("no UtcTime; used System/TimeCreated".to_owned());
                t
            }
            // Winlogbeat's Sysmon ingest pipeline sets `@timestamp` from `UtcTime` and removes
            // `UtcTime`; only there is `@timestamp` the event time (elsewhere it is ingestion).
            None => match raw
                .ecs
                .timestamp
                .as_deref()
                .filter(|_| raw.ecs.module.as_deref() == Some("sysmon"))
                .and_then(Timestamp::parse)
            {
                Some(t) => t,
                None => return Err(BadRecord::new("no UtcTime")),
            },
        },
    };

    let mut f = Fields { raw: &mut raw, warnings };
    let process = f.process_ref();
    let rule_name = f.text(Field::RuleName);
    let kind = match event_id {
        22 => EventKind::DnsQuery(f.dns_query(process)?),
        1 => EventKind::ProcessCreate(Box::new(f.process_create(process))),
        3 => EventKind::NetworkConnect(Box::new(f.network_connect(process))),
        _ => EventKind::ProcessTerminate(ProcessTerminate { process }),
    };
    let host = raw.computer.take().or(raw.host_fallback.take()).map(|h| shared(&h));
    Ok(Outcome::Event(Box::new(Event {
        time,
        host,
        record_id: raw.record_id,
        rule_name,
        origin,
        kind,
    })))
}

fn is_sysmon(raw: &RawRecord<'_>) -> bool {
    let channel_ok = raw.channel.as_deref().is_none_or(|c| c.eq_ignore_ascii_case(SYSMON_CHANNEL));
    let provider_ok = raw.provider.as_deref().is_none_or(|p| p.eq_ignore_ascii_case(SYSMON_PROVIDER));
    channel_ok && provider_ok
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A field's text trimmed, or `None` when it holds nothing: empty, blank, or Sysmon's `-`
/// placeholder. The rule for absent text, numbers and GUIDs (booleans say the same in their
/// own match).
fn present(text: &str) -> Option<&str> {
    let trimmed = text.trim();
    (!trimmed.is_empty() && trimmed != "-").then_some(trimmed)
}

struct Fields<'r, 'a, 'w> {
    raw: &'r mut RawRecord<'a>,
    warnings: &'w mut Vec<String>,
}

impl Fields<'_, '_, '_> {
    /// Text of a field that repeats from event to event (image, user), as [`shared`] text;
    /// absent as [`present`] says.
    fn shared_text(&mut self, field: Field) -> Option<Arc<str>> {
        let value = self.raw.take(field)?;
        present(&value.as_text()).map(shared)
    }

    /// Text of a field, trimmed; absent as [`present`] says.
    fn text(&mut self, field: Field) -> Option<String> {
        let text = match self.raw.take(field)? {
            RawValue::Str(s) => s.into_owned(),
            other => other.as_text().into_owned(),
        };
        // The text itself when trimming leaves it whole (the common case: no copy).
        if present(&text)?.len() == text.len() {
            Some(text)
        } else {
            present(&text).map(str::to_owned)
        }
    }

    fn number<T: TryFrom<i64> + std::str::FromStr>(&mut self, field: Field) -> Option<T> {
        let value = self.raw.take(field)?;
        let parsed = match &value {
            RawValue::Int(i) => T::try_from(*i).ok(),
            RawValue::Str(s) => {
                let s = present(s)?;
                match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                    Some(hex) => i64::from_str_radix(hex, 16).ok().and_then(|i| T::try_from(i).ok()),
                    None => s.parse().ok(),
                }
            }
            _ => None,
        };
        if parsed.is_none() {
            self.warnings
                .push(format!("field {} value {:?} is not a valid number; ignored", field.name(), truncate(&value.as_text(), 40)));
        }
        parsed
    }

    /// A GUID field, read from the borrowed text (absent as [`present`] says).
    fn guid(&mut self, field: Field) -> Option<Guid> {
        let value = self.raw.take(field)?;
        let text = value.as_text();
        let text = present(&text)?;
        let guid = Guid::parse(text);
        if guid.is_none() {
            self.warnings.push(format!("field {} value {:?} is not a GUID; ignored", field.name(), truncate(text, 60)));
        }
        guid
    }

    fn boolean(&mut self, field: Field) -> Option<bool> {
        match self.raw.take(field)? {
            RawValue::Bool(b) => Some(b),
            RawValue::Int(i) => Some(i != 0),
            other => match other.as_text().trim().to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                "" | "-" => None,
                bad => {
                    self.warnings.push(format!("field {} value {bad:?} is not a boolean; ignored", field.name()));
                    None
                }
            },
        }
    }

    fn ip(&mut self, field: Field) -> Option<IpAddr> {
        let text = self.text(field)?;
        let ip = parse_ip(&text);
        if ip.is_none() {
            self.warnings
                .push(format!("field {} value {:?} is not an IP address; ignored", field.name(), truncate(&text, 60)));
        }
        ip
    }

    fn process_ref(&mut self) -> ProcessRef {
        let guid = self.guid(Field::ProcessGuid);
        let mut pid = self.number::<u32>(Field::ProcessId);
        if pid.is_none() {
            // NXLog puts its own PID in `ProcessID`; the event's `ProcessId` survives only in the
            // rendered message.
            if let Some(message) = self.raw.get(Field::Message) {
                pid = message_value(&message.as_text(), "ProcessId").and_then(|v| v.parse().ok());
            }
        }
        // Some exports carry Sysmon's `<unknown process>` HTML-escaped.
        let image = self
            .shared_text(Field::Image)
            .map(|i| if &*i == "&lt;unknown process&gt;" { shared(crate::UNKNOWN_PROCESS) } else { i });
        let mut user = self.shared_text(Field::User);
        // `user.*` is the process's user only in documents of Winlogbeat's Sysmon pipeline;
        // Winlogbeat 6 puts the account the event was logged under (SYSTEM) there.
        if user.is_none() && self.raw.ecs.module.as_deref() == Some("sysmon") {
            user = match (self.raw.ecs.user_domain.as_deref(), self.raw.ecs.user_name.as_deref()) {
                (Some(domain), Some(name)) => Some(shared(&format!("{domain}\\{name}"))),
                (None, Some(name)) => Some(shared(name)),
                _ => None,
            };
        }
        ProcessRef { guid, pid, image, user }
    }

    fn dns_query(&mut self, process: ProcessRef) -> Result<DnsQuery, BadRecord> {
        let Some(name) = self.text(Field::QueryName) else {
            return Err(BadRecord::new("DnsQuery (EID 22) without QueryName"));
        };
        if name.len() > MAX_QUERY_NAME {
            return Err(BadRecord::new(format!("QueryName of {} bytes is not a DNS name (at most 253 octets)", name.len())));
        }
        let ecs_status = self.raw.ecs.dns_status.as_deref().and_then(QueryStatus::from_name);
        let status = match self.number::<u32>(Field::QueryStatus).map(QueryStatus).or(ecs_status) {
            Some(status) => status,
            None => {
                self.warnings.push("DnsQuery without a valid QueryStatus; taken as 0".to_owned());
                QueryStatus::SUCCESS
            }
        };
        let mut answers = Vec::new();
        let mut bad_entries = 0;
        let results_raw = match self.raw.take(Field::QueryResults) {
            Some(RawValue::List(items)) => {
                for item in &items {
                    if !parse_entry(item, &mut answers) {
                        bad_entries += 1;
                    }
                }
                items.join(";")
            }
            Some(other) => {
                let text = other.as_text().into_owned();
                bad_entries = parse_query_results(&text, &mut answers);
                text
            }
            None => {
                answers.reserve_exact(self.raw.ecs.answers.len());
                for (rtype, data) in &self.raw.ecs.answers {
                    if !ecs_answer(rtype, data, &mut answers) {
                        bad_entries += 1;
                    }
                }
                String::new()
            }
        };
        if bad_entries > 0 {
            self.warnings
                .push(format!("QueryResults: {bad_entries} entries not understood in {:?}", truncate(&results_raw, 80)));
        }
        // Events outlive reading as evidence: no spare room in them.
        answers.shrink_to_fit();
        Ok(DnsQuery {
            process,
            query: DnsName::new(&name),
            status,
            answers,
            results_raw,
        })
    }

    fn process_create(&mut self, process: ProcessRef) -> ProcessCreate {
        let hashes = match self.raw.take(Field::Hashes) {
            Some(RawValue::List(items)) => parse_hashes(items.iter().map(|s| s.as_ref())),
            Some(other) => parse_hashes(other.as_text().split(',')),
            None => self.raw.ecs.hashes.iter().map(|(algo, v)| ((*algo).to_owned(), v.to_ascii_uppercase())).collect(),
        };
        let parent = ProcessRef {
            guid: self.guid(Field::ParentProcessGuid),
            pid: self.number(Field::ParentProcessId),
            image: self.shared_text(Field::ParentImage),
            user: self.shared_text(Field::ParentUser),
        };
        ProcessCreate {
            process,
            command_line: self.text(Field::CommandLine),
            current_directory: self.text(Field::CurrentDirectory),
            original_file_name: self.text(Field::OriginalFileName),
            file_version: self.text(Field::FileVersion),
            description: self.text(Field::Description),
            product: self.text(Field::Product),
            company: self.text(Field::Company),
            logon_guid: self.guid(Field::LogonGuid),
            logon_id: self.text(Field::LogonId),
            terminal_session_id: self.number(Field::TerminalSessionId),
            integrity_level: self.text(Field::IntegrityLevel),
            hashes,
            parent,
            parent_command_line: self.text(Field::ParentCommandLine),
        }
    }

    fn network_connect(&mut self, process: ProcessRef) -> NetworkConnect {
        NetworkConnect {
            process,
            protocol: self.text(Field::Protocol).map(|p| p.to_ascii_lowercase()),
            initiated: self.boolean(Field::Initiated),
            source_is_ipv6: self.boolean(Field::SourceIsIpv6),
            source_ip: self.ip(Field::SourceIp),
            source_hostname: self.text(Field::SourceHostname),
            source_port: self.number(Field::SourcePort),
            source_port_name: self.text(Field::SourcePortName),
            destination_is_ipv6: self.boolean(Field::DestinationIsIpv6),
            destination_ip: self.ip(Field::DestinationIp),
            destination_hostname: self.text(Field::DestinationHostname),
            destination_port: self.number(Field::DestinationPort),
            destination_port_name: self.text(Field::DestinationPortName),
        }
    }
}

/// `SHA1=…,MD5=…` or `["MD5=…", "SHA256=…"]` into algorithm → value.
fn parse_hashes<'s>(items: impl Iterator<Item = &'s str>) -> BTreeMap<String, String> {
    items
        .filter_map(|item| {
            let (algo, value) = item.trim().split_once('=')?;
            let (algo, value) = (algo.trim(), value.trim());
            (!algo.is_empty() && !value.is_empty()).then(|| (algo.to_ascii_uppercase(), value.to_owned()))
        })
        .collect()
}

/// Finds `Key: value` on its own line of a rendered Sysmon message.
fn message_value<'m>(message: &'m str, key: &str) -> Option<&'m str> {
    message.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix(key)?.strip_prefix(':')?;
        Some(rest.trim())
    })
}

/// One ECS `dns.answers[]` entry (`{"type": "CNAME", "data": "..."}`).
fn ecs_answer(rtype: &str, data: &str, out: &mut Vec<Answer>) -> bool {
    let Some(rtype) = RecordType::from_name(rtype) else {
        return false;
    };
    let data = data.trim();
    let data = match parse_ip(data) {
        Some(ip) => AnswerData::Ip(ip),
        None if data.is_empty() => AnswerData::Empty,
        None => AnswerData::Name(data.strip_suffix('.').unwrap_or(data).to_ascii_lowercase()),
    };
    out.push(Answer { rtype, data });
    true
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn origin() -> Origin {
        Origin::line(&Arc::from("test.ndjson"), 1)
    }

    fn record(event_id: u32, fields: &[(Field, RawValue<'static>)]) -> RawRecord<'static> {
        let mut raw = RawRecord::default();
        raw.event_id = Some(event_id);
        for (f, v) in fields {
            raw.set(*f, v.clone());
        }
        raw
    }

    fn s(v: &'static str) -> RawValue<'static> {
        RawValue::Str(Cow::Borrowed(v))
    }

    fn event(raw: RawRecord<'static>) -> (Event, Vec<String>) {
        let mut warnings = Vec::new();
        match normalize(raw, origin(), &mut warnings) {
            Ok(Outcome::Event(e)) => (*e, warnings),
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[test]
    fn seed_ping_dns_query_from_array_form() {
        let raw = record(
            22,
            &[
                (Field::UtcTime, s("2019-06-25T14:09:41.467Z")),
                (Field::ProcessGuid, s("{22052e76-2b25-5d12-0000-001064a64200}")),
                (Field::ProcessId, s("4876")),
                (Field::Image, s("C:\\Windows\\System32\\PING.EXE")),
                (Field::QueryName, s("www.youtube.com")),
                (Field::QueryStatus, RawValue::Int(0)),
                (Field::QueryResults, RawValue::List(vec!["type:5 youtube-ui.l.google.com".into(), "172.217.31.174".into()])),
            ],
        );
        let (e, warnings) = event(raw);
        assert!(warnings.is_empty(), "{warnings:?}");
        let dns = e.dns().unwrap();
        assert_eq!(e.time.to_string(), "2019-06-25T14:09:41.467Z");
        assert_eq!(dns.query.registered_domain(), Some("youtube.com"));
        assert_eq!(dns.answer_names().collect::<Vec<_>>(), ["youtube-ui.l.google.com"]);
        assert_eq!(dns.addresses().map(|a| a.to_string()).collect::<Vec<_>>(), ["172.217.31.174"]);
        assert_eq!(dns.process.pid, Some(4876));
        assert_eq!(dns.process.image_name().as_deref(), Some("ping.exe"));
    }

    #[test]
    fn an_html_escaped_unknown_process_is_sysmons_unknown_process() {
        let raw = record(
            22,
            &[
                (Field::UtcTime, s("2020-09-21 23:02:46.123")),
                (Field::ProcessGuid, s("{00000000-0000-0000-0000-000000000000}")),
                (Field::ProcessId, s("5128")),
                (Field::Image, s("&lt;unknown process&gt;")),
                (Field::QueryName, s("mordordc.theshire.local")),
                (Field::QueryStatus, s("0")),
            ],
        );
        let (e, _) = event(raw);
        assert_eq!(e.process().image.as_deref(), Some(crate::UNKNOWN_PROCESS));
        assert_eq!(e.process().guid, Some(crate::Guid(0)));
    }

    #[test]
    fn nxlog_process_id_comes_from_the_message() {
        let raw = record(
            3,
            &[
                (Field::UtcTime, s("2019-12-05 01:49:28.817")),
                (Field::Message, s("Network connection detected:\r\nRuleName: \r\nProcessId: 4\r\nImage: System")),
            ],
        );
        let (e, _) = event(raw);
        assert_eq!(e.process().pid, Some(4));
    }

    #[test]
    fn other_channels_and_event_ids_are_skipped_not_bad() {
        let mut warnings = Vec::new();
        let mut security = record(4624, &[]);
        security.channel = Some("Security".into());
        assert!(matches!(normalize(security, origin(), &mut warnings), Ok(Outcome::NotSysmon)));
        let image_load = record(7, &[(Field::UtcTime, s("2019-06-25 14:09:41.467"))]);
        assert!(matches!(normalize(image_load, origin(), &mut warnings), Ok(Outcome::OtherSysmon(7))));
    }

    #[test]
    fn bad_records_say_why() {
        let mut warnings = Vec::new();
        let no_time = record(22, &[(Field::QueryName, s("a.example.com"))]);
        assert_eq!(normalize(no_time, origin(), &mut warnings).unwrap_err().reason, "no UtcTime");
        let no_name = record(22, &[(Field::UtcTime, s("2019-06-25 14:09:41.467"))]);
        assert!(normalize(no_name, origin(), &mut warnings).unwrap_err().reason.contains("QueryName"));
        let garbage_time = record(22, &[(Field::UtcTime, s("yesterday"))]);
        assert!(normalize(garbage_time, origin(), &mut warnings).unwrap_err().reason.contains("yesterday"));
    }

    #[test]
    fn wrong_types_become_warnings() {
        let raw = record(
            3,
            &[
                (Field::UtcTime, s("2019-06-25 14:09:41.467")),
                (Field::ProcessId, s("not-a-pid")),
                (Field::DestinationIp, s("999.1.1.1")),
                (Field::DestinationPort, RawValue::Int(53)),
                (Field::Initiated, s("true")),
                (Field::Protocol, s("UDP")),
            ],
        );
        let (e, warnings) = event(raw);
        let net = e.network().unwrap();
        assert_eq!(net.destination_port, Some(53));
        assert_eq!(net.destination_ip, None);
        assert_eq!(net.initiated, Some(true));
        assert_eq!(net.protocol.as_deref(), Some("udp"));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }

    #[test]
    fn hashes_in_both_forms() {
        let raw = record(
            1,
            &[
                (Field::UtcTime, s("2019-06-25 14:09:41.467")),
                (Field::Hashes, s("SHA1=AA,MD5=BB,SHA256=CC,IMPHASH=DD")),
                (Field::LogonId, s("0x18d3ba")),
                (Field::TerminalSessionId, s("1")),
            ],
        );
        let (e, _) = event(raw);
        let EventKind::ProcessCreate(pc) = e.kind else { panic!() };
        assert_eq!(pc.hashes.get("IMPHASH").map(String::as_str), Some("DD"));
        assert_eq!(pc.hashes.len(), 4);
        assert_eq!(pc.logon_id.as_deref(), Some("0x18d3ba"));
        assert_eq!(pc.terminal_session_id, Some(1));
    }

    #[test]
    fn ecs_answers_fill_in_when_query_results_is_missing() {
        let mut raw = record(22, &[(Field::QueryName, s("www.youtube.com"))]);
        raw.ecs.timestamp = Some("2019-06-25T14:09:41.467Z".into());
        raw.ecs.module = Some("sysmon".into());
        raw.ecs.dns_status = Some("DNS_ERROR_RCODE_NAME_ERROR".into());
        raw.ecs.answers = vec![("CNAME".into(), "youtube-ui.l.google.com".into()), ("A".into(), "172.217.24.142".into())];
        let (e, _) = event(raw);
        let dns = e.dns().unwrap();
        assert_eq!(dns.query.as_str(), "www.youtube.com");
        assert_eq!(dns.answers.len(), 2);
        assert_eq!(dns.status, QueryStatus(9003));
        assert_eq!(e.time.to_string(), "2019-06-25T14:09:41.467Z");
    }

    #[test]
    fn ingestion_timestamp_is_never_the_event_time() {
        // Not a Sysmon-pipeline document: `@timestamp` is ingestion time and must not be used.
        let mut raw = record(22, &[(Field::QueryName, s("www.youtube.com"))]);
        raw.ecs.timestamp = Some("2019-06-25T17:09:41.467Z".into());
        let mut warnings = Vec::new();
        assert_eq!(normalize(raw, origin(), &mut warnings).unwrap_err().reason, "no UtcTime");
    }
}

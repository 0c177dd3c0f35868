//! The reader-neutral record: what every reader extracts before normalisation.
//!
//! Each reader (EVTX, every JSON shape, XML) fills a [`RawRecord`] borrowing from its input where
//! it can; [`crate::normalize()`] turns it into a typed [`crate::Event`]. The Sysmon field names
//! appear only here, in [`Field`]'s table.

use std::borrow::Cow;

/// A Sysmon event-data field of the four event types dnshunt models (plus the rendered message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Field {
    RuleName,
    UtcTime,
    ProcessGuid,
    ProcessId,
    Image,
    User,
    FileVersion,
    Description,
    Product,
    Company,
    OriginalFileName,
    CommandLine,
    CurrentDirectory,
    LogonGuid,
    LogonId,
    TerminalSessionId,
    IntegrityLevel,
    Hashes,
    ParentProcessGuid,
    ParentProcessId,
    ParentImage,
    ParentCommandLine,
    ParentUser,
    Protocol,
    Initiated,
    SourceIsIpv6,
    SourceIp,
    SourceHostname,
    SourcePort,
    SourcePortName,
    DestinationIsIpv6,
    DestinationIp,
    DestinationHostname,
    DestinationPort,
    DestinationPortName,
    QueryName,
    QueryStatus,
    QueryResults,
    /// The rendered event text (`Message` / `message`); NXLog keeps the real `ProcessId` only here.
    Message,
}

impl Field {
    pub const COUNT: usize = Field::Message as usize + 1;

    /// Every field, in declaration order.
    pub const ALL: [Field; Field::COUNT] = [
        Field::RuleName,
        Field::UtcTime,
        Field::ProcessGuid,
        Field::ProcessId,
        Field::Image,
        Field::User,
        Field::FileVersion,
        Field::Description,
        Field::Product,
        Field::Company,
        Field::OriginalFileName,
        Field::CommandLine,
        Field::CurrentDirectory,
        Field::LogonGuid,
        Field::LogonId,
        Field::TerminalSessionId,
        Field::IntegrityLevel,
        Field::Hashes,
        Field::ParentProcessGuid,
        Field::ParentProcessId,
        Field::ParentImage,
        Field::ParentCommandLine,
        Field::ParentUser,
        Field::Protocol,
        Field::Initiated,
        Field::SourceIsIpv6,
        Field::SourceIp,
        Field::SourceHostname,
        Field::SourcePort,
        Field::SourcePortName,
        Field::DestinationIsIpv6,
        Field::DestinationIp,
        Field::DestinationHostname,
        Field::DestinationPort,
        Field::DestinationPortName,
        Field::QueryName,
        Field::QueryStatus,
        Field::QueryResults,
        Field::Message,
    ];

    /// The Sysmon schema name of the field.
    pub fn name(self) -> &'static str {
        match self {
            Field::RuleName => "RuleName",
            Field::UtcTime => "UtcTime",
            Field::ProcessGuid => "ProcessGuid",
            Field::ProcessId => "ProcessId",
            Field::Image => "Image",
            Field::User => "User",
            Field::FileVersion => "FileVersion",
            Field::Description => "Description",
            Field::Product => "Product",
            Field::Company => "Company",
            Field::OriginalFileName => "OriginalFileName",
            Field::CommandLine => "CommandLine",
            Field::CurrentDirectory => "CurrentDirectory",
            Field::LogonGuid => "LogonGuid",
            Field::LogonId => "LogonId",
            Field::TerminalSessionId => "TerminalSessionId",
            Field::IntegrityLevel => "IntegrityLevel",
            Field::Hashes => "Hashes",
            Field::ParentProcessGuid => "ParentProcessGuid",
            Field::ParentProcessId => "ParentProcessId",
            Field::ParentImage => "ParentImage",
            Field::ParentCommandLine => "ParentCommandLine",
            Field::ParentUser => "ParentUser",
            Field::Protocol => "Protocol",
            Field::Initiated => "Initiated",
            Field::SourceIsIpv6 => "SourceIsIpv6",
            Field::SourceIp => "SourceIp",
            Field::SourceHostname => "SourceHostname",
            Field::SourcePort => "SourcePort",
            Field::SourcePortName => "SourcePortName",
            Field::DestinationIsIpv6 => "DestinationIsIpv6",
            Field::DestinationIp => "DestinationIp",
            Field::DestinationHostname => "DestinationHostname",
            Field::DestinationPort => "DestinationPort",
            Field::DestinationPortName => "DestinationPortName",
            Field::QueryName => "QueryName",
            Field::QueryStatus => "QueryStatus",
            Field::QueryResults => "QueryResults",
            Field::Message => "Message",
        }
    }

    /// Looks up a Sysmon field by its schema name (case-sensitive, as Sysmon writes it).
    /// `message` (Winlogbeat's rendered text) maps to [`Field::Message`].
    pub fn from_name(name: &str) -> Option<Field> {
        // The match compiles to a length switch plus a few comparisons: cheap on the hot path.
        Some(match name {
            "RuleName" => Field::RuleName,
            "UtcTime" => Field::UtcTime,
            "ProcessGuid" => Field::ProcessGuid,
            "ProcessId" => Field::ProcessId,
            "Image" => Field::Image,
            "User" => Field::User,
            "FileVersion" => Field::FileVersion,
            "Description" => Field::Description,
            "Product" => Field::Product,
            "Company" => Field::Company,
            "OriginalFileName" => Field::OriginalFileName,
            "CommandLine" => Field::CommandLine,
            "CurrentDirectory" => Field::CurrentDirectory,
            "LogonGuid" => Field::LogonGuid,
            "LogonId" => Field::LogonId,
            "TerminalSessionId" => Field::TerminalSessionId,
            "IntegrityLevel" => Field::IntegrityLevel,
            "Hashes" => Field::Hashes,
            "ParentProcessGuid" => Field::ParentProcessGuid,
            "ParentProcessId" => Field::ParentProcessId,
            "ParentImage" => Field::ParentImage,
            "ParentCommandLine" => Field::ParentCommandLine,
            "ParentUser" => Field::ParentUser,
            "Protocol" => Field::Protocol,
            "Initiated" => Field::Initiated,
            "SourceIsIpv6" => Field::SourceIsIpv6,
            "SourceIp" => Field::SourceIp,
            "SourceHostname" => Field::SourceHostname,
            "SourcePort" => Field::SourcePort,
            "SourcePortName" => Field::SourcePortName,
            "DestinationIsIpv6" => Field::DestinationIsIpv6,
            "DestinationIp" => Field::DestinationIp,
            "DestinationHostname" => Field::DestinationHostname,
            "DestinationPort" => Field::DestinationPort,
            "DestinationPortName" => Field::DestinationPortName,
            "QueryName" => Field::QueryName,
            "QueryStatus" => Field::QueryStatus,
            "QueryResults" => Field::QueryResults,
            "Message" | "message" => Field::Message,
            _ => return None,
        })
    }
}

/// A field value as found in the input, before typing.
#[derive(Clone, Debug, PartialEq)]
pub enum RawValue<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Bool(bool),
    /// Winlogbeat 6 writes `QueryResults` and `Hashes` as arrays.
    List(Vec<Cow<'a, str>>),
}

impl RawValue<'_> {
    /// The value as text, for fields that are text in Sysmon's schema.
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            RawValue::Str(s) => Cow::Borrowed(s),
            RawValue::Int(i) => Cow::Owned(i.to_string()),
            RawValue::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            RawValue::List(items) => Cow::Owned(items.join(";")),
        }
    }
}

/// ECS values that have no single Sysmon field: Winlogbeat's Sysmon ingest pipeline moves
/// `QueryName`, `QueryResults`, `QueryStatus`, `UtcTime`, `User` and `Hashes` into these.
/// (ECS fields that do map one to one, such as `process.executable` → `Image`, are routed
/// straight to their [`Field`] by the readers.)
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EcsFallback<'a> {
    /// `dns.answers[]` as (type, data) pairs; `data` is empty for TXT.
    pub answers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub has_answers: bool,
    /// `sysmon.dns.status`: the status by name (`DNS_ERROR_RCODE_NAME_ERROR`).
    pub dns_status: Option<Cow<'a, str>>,
    /// `process.hash.*` as (algorithm, value).
    pub hashes: Vec<(&'static str, Cow<'a, str>)>,
    pub user_name: Option<Cow<'a, str>>,
    pub user_domain: Option<Cow<'a, str>>,
    /// `@timestamp`, used only for documents of the Sysmon ingest pipeline (`event.module:
    /// sysmon`), which sets it from `UtcTime` and then removes `UtcTime`.
    pub timestamp: Option<Cow<'a, str>>,
    pub module: Option<Cow<'a, str>>,
    /// What Filebeat's and Elastic Agent's Zeek and Suricata documents carry beyond Sysmon's
    /// fields (read by `dnshunt-wire`'s ECS mapping): `event.dataset`, `event.duration` (ns),
    /// `dns.type` (`query`/`answer`), `dns.question.type`, `dns.response_code`, `dns.id`,
    /// `source.bytes`, `destination.bytes`, `tls.client.server_name`.
    pub dataset: Option<Cow<'a, str>>,
    pub duration_ns: Option<u64>,
    pub dns_type: Option<Cow<'a, str>>,
    pub dns_question_type: Option<Cow<'a, str>>,
    pub dns_response_code: Option<Cow<'a, str>>,
    pub dns_id: Option<u64>,
    pub source_bytes: Option<u64>,
    pub destination_bytes: Option<u64>,
    pub tls_server_name: Option<Cow<'a, str>>,
    /// `suricata.eve.event_type` (`dns`, `flow`, `tls`, `alert` ...).
    pub suricata_event_type: Option<Cow<'a, str>>,
}

/// One input record, reader-neutral.
#[derive(Clone, Debug, PartialEq)]
pub struct RawRecord<'a> {
    pub event_id: Option<u32>,
    pub channel: Option<Cow<'a, str>>,
    pub provider: Option<Cow<'a, str>>,
    /// The endpoint that logged the event (`Computer`, `computer_name`, `winlog.computer_name`,
    /// `Hostname`).
    pub computer: Option<Cow<'a, str>>,
    /// Where `computer` is missing: the shipper's host (`host.name`, `host`).
    pub host_fallback: Option<Cow<'a, str>>,
    pub record_id: Option<u64>,
    /// `System/TimeCreated/@SystemTime`: used only when `UtcTime` is missing.
    pub system_time: Option<Cow<'a, str>>,
    /// Elasticsearch `_index` and `_id`, when the record came from a search hit.
    pub es_index: Option<Cow<'a, str>>,
    pub es_id: Option<Cow<'a, str>>,
    pub ecs: EcsFallback<'a>,
    values: [Option<RawValue<'a>>; Field::COUNT],
    /// Fields that had a shape no Sysmon field can have (an object for `Image`, ...).
    pub field_errors: Vec<(&'static str, &'static str)>,
}

impl Default for RawRecord<'_> {
    fn default() -> Self {
        RawRecord {
            event_id: None,
            channel: None,
            provider: None,
            computer: None,
            host_fallback: None,
            record_id: None,
            system_time: None,
            es_index: None,
            es_id: None,
            ecs: EcsFallback::default(),
            values: std::array::from_fn(|_| None),
            field_errors: Vec::new(),
        }
    }
}

impl<'a> RawRecord<'a> {
    pub fn get(&self, field: Field) -> Option<&RawValue<'a>> {
        self.values[field as usize].as_ref()
    }

    pub fn take(&mut self, field: Field) -> Option<RawValue<'a>> {
        self.values[field as usize].take()
    }

    /// Sets a field unless an earlier source already set it (the first value wins).
    pub fn set(&mut self, field: Field, value: RawValue<'a>) {
        let slot = &mut self.values[field as usize];
        if slot.is_none() {
            *slot = Some(value);
        }
    }

    /// True when nothing at all was recognised (no event id and no Sysmon field).
    pub fn is_empty(&self) -> bool {
        self.event_id.is_none() && self.values.iter().all(Option::is_none)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_table_round_trips() {
        for (i, f) in Field::ALL.iter().enumerate() {
            assert_eq!(*f as usize, i);
            assert_eq!(Field::from_name(f.name()), Some(*f));
        }
        assert_eq!(Field::from_name("ProcessID"), None, "NXLog's ProcessID is not the event's");
    }
}

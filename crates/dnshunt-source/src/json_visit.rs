//! One zero-copy serde visitor for every JSON shape of Sysmon events.
//!
//! Winlogbeat 6 (`event_data.*`), Winlogbeat 7/8 ECS (`winlog.event_data.*` plus `dns.*`,
//! `process.*`), flat Logstash/OTRF/NXLog lines, Elasticsearch hits (`_source`) and whole search
//! responses (`hits.hits[]`), the `evtx` crate's rendering (`Event.System`, `Event.EventData`),
//! and Microsoft Sentinel's `WindowsEvent` rows (`EventData` as a JSON string) all route their keys through one table (`route`) into a [`RawRecord`]. Keys are matched while
//! they are still borrowed from the input; values that need no unescaping stay borrowed. Unknown
//! subtrees are skipped without being built. Flattened dotted keys (`winlog.event_data.Image`) are
//! routed segment by segment.

use std::borrow::Cow;
use std::fmt;

use dnshunt_core::{Field, RawRecord, RawValue};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Where in a document the visitor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ctx {
    Top,
    EventData,
    Winlog,
    Host,
    Dns,
    DnsQuestion,
    Process,
    ProcessParent,
    ProcessPe,
    ProcessHash,
    Source,
    Destination,
    Network,
    User,
    Sysmon,
    SysmonDns,
    EcsEvent,
    EvtxEvent,
    System,
    Provider,
    ProviderAttrs,
    TimeCreated,
    TimeAttrs,
    Hits,
    Tls,
    TlsClient,
    Suricata,
    SuricataEve,
}

/// What to do with a key's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Descend(Ctx),
    Field(Field),
    EventId,
    Channel,
    Provider,
    Computer,
    HostFallback,
    HostValue,
    RecordId,
    SystemTime,
    EsIndex,
    EsId,
    EcsAnswers,
    EcsHash(&'static str),
    EcsUserName,
    EcsUserDomain,
    EcsDnsStatus,
    EcsTimestamp,
    EcsModule,
    EcsDirection,
    EcsNetworkType,
    EcsDataset,
    EcsDuration,
    EcsDnsType,
    EcsDnsQuestionType,
    EcsDnsResponseCode,
    EcsDnsId,
    EcsSourceBytes,
    EcsDestinationBytes,
    EcsTlsServerName,
    EcsSuricataEventType,
    HitsArray,
    Ignore,
}

/// The routing table: the only place that knows the JSON shapes.
fn route(ctx: Ctx, key: &str) -> Action {
    use dnshunt_core::Field as F;
    use Action::*;
    match ctx {
        Ctx::Top => match key {
            "EventID" | "event_id" => EventId,
            "Channel" | "log_name" => Channel,
            "SourceName" | "source_name" | "ProviderName" => Provider,
            "Hostname" | "computer_name" | "Computer" => Computer,
            "RecordNumber" | "record_number" | "EventRecordID" => RecordId,
            "event_data" | "EventData" => Descend(Ctx::EventData),
            "winlog" => Descend(Ctx::Winlog),
            "host" => HostValue,
            "dns" => Descend(Ctx::Dns),
            "process" => Descend(Ctx::Process),
            "source" => Descend(Ctx::Source),
            "destination" => Descend(Ctx::Destination),
            "network" => Descend(Ctx::Network),
            "user" => Descend(Ctx::User),
            "sysmon" => Descend(Ctx::Sysmon),
            "@timestamp" => EcsTimestamp,
            "event" => Descend(Ctx::EcsEvent),
            "tls" => Descend(Ctx::Tls),
            "suricata" => Descend(Ctx::Suricata),
            "Event" => Descend(Ctx::EvtxEvent),
            "_source" => Descend(Ctx::Top),
            "_id" => EsId,
            "_index" => EsIndex,
            "hits" => Descend(Ctx::Hits),
            _ => dnshunt_core::Field::from_name(key).map_or(Ignore, Action::Field),
        },
        Ctx::EventData => dnshunt_core::Field::from_name(key).map_or(Ignore, Action::Field),
        Ctx::Winlog => match key {
            "event_data" => Descend(Ctx::EventData),
            "event_id" => EventId,
            "channel" => Channel,
            "computer_name" => Computer,
            "record_id" => RecordId,
            "provider_name" => Provider,
            _ => Ignore,
        },
        Ctx::Host => match key {
            "name" | "hostname" => HostFallback,
            _ => Ignore,
        },
        Ctx::Dns => match key {
            "question" => Descend(Ctx::DnsQuestion),
            "answers" => EcsAnswers,
            "type" => EcsDnsType,
            "response_code" => EcsDnsResponseCode,
            "id" => EcsDnsId,
            _ => Ignore,
        },
        Ctx::DnsQuestion => match key {
            "name" => Field(F::QueryName),
            "type" => EcsDnsQuestionType,
            _ => Ignore,
        },
        Ctx::Tls => match key {
            "client" => Descend(Ctx::TlsClient),
            _ => Ignore,
        },
        Ctx::TlsClient => match key {
            "server_name" => EcsTlsServerName,
            _ => Ignore,
        },
        Ctx::Suricata => match key {
            "eve" => Descend(Ctx::SuricataEve),
            _ => Ignore,
        },
        Ctx::SuricataEve => match key {
            "event_type" => EcsSuricataEventType,
            _ => Ignore,
        },
        Ctx::Process => match key {
            "entity_id" => Field(F::ProcessGuid),
            "pid" => Field(F::ProcessId),
            "executable" => Field(F::Image),
            "command_line" => Field(F::CommandLine),
            "working_directory" => Field(F::CurrentDirectory),
            "parent" => Descend(Ctx::ProcessParent),
            "pe" => Descend(Ctx::ProcessPe),
            "hash" => Descend(Ctx::ProcessHash),
            _ => Ignore,
        },
        Ctx::ProcessParent => match key {
            "entity_id" => Field(F::ParentProcessGuid),
            "pid" => Field(F::ParentProcessId),
            "executable" => Field(F::ParentImage),
            "command_line" => Field(F::ParentCommandLine),
            _ => Ignore,
        },
        Ctx::ProcessPe => match key {
            "original_file_name" => Field(F::OriginalFileName),
            "company" => Field(F::Company),
            "description" => Field(F::Description),
            "file_version" => Field(F::FileVersion),
            "product" => Field(F::Product),
            _ => Ignore,
        },
        Ctx::ProcessHash => match key {
            "md5" => EcsHash("MD5"),
            "sha1" => EcsHash("SHA1"),
            "sha256" => EcsHash("SHA256"),
            "imphash" => EcsHash("IMPHASH"),
            _ => Ignore,
        },
        Ctx::Source => match key {
            "ip" => Field(F::SourceIp),
            "port" => Field(F::SourcePort),
            "domain" => Field(F::SourceHostname),
            "bytes" => EcsSourceBytes,
            _ => Ignore,
        },
        Ctx::Destination => match key {
            "ip" => Field(F::DestinationIp),
            "port" => Field(F::DestinationPort),
            "domain" => Field(F::DestinationHostname),
            "bytes" => EcsDestinationBytes,
            _ => Ignore,
        },
        Ctx::Network => match key {
            "transport" => Field(F::Protocol),
            "direction" => EcsDirection,
            "type" => EcsNetworkType,
            _ => Ignore,
        },
        Ctx::User => match key {
            "name" => EcsUserName,
            "domain" => EcsUserDomain,
            _ => Ignore,
        },
        Ctx::Sysmon => match key {
            "dns" => Descend(Ctx::SysmonDns),
            _ => Ignore,
        },
        Ctx::SysmonDns => match key {
            "status" => EcsDnsStatus,
            _ => Ignore,
        },
        Ctx::EcsEvent => match key {
            "code" => EventId,
            "provider" => Provider,
            "module" => EcsModule,
            "dataset" => EcsDataset,
            "duration" => EcsDuration,
            _ => Ignore,
        },
        Ctx::EvtxEvent => match key {
            "System" => Descend(Ctx::System),
            "EventData" => Descend(Ctx::EventData),
            _ => Ignore,
        },
        Ctx::System => match key {
            "EventID" => EventId,
            "Channel" => Channel,
            "Computer" => Computer,
            "EventRecordID" => RecordId,
            "Provider" => Descend(Ctx::Provider),
            "TimeCreated" => Descend(Ctx::TimeCreated),
            _ => Ignore,
        },
        Ctx::Provider => match key {
            "#attributes" => Descend(Ctx::ProviderAttrs),
            _ => Ignore,
        },
        Ctx::ProviderAttrs => match key {
            "Name" => Provider,
            _ => Ignore,
        },
        Ctx::TimeCreated => match key {
            "#attributes" => Descend(Ctx::TimeAttrs),
            _ => Ignore,
        },
        Ctx::TimeAttrs => match key {
            "SystemTime" => SystemTime,
            _ => Ignore,
        },
        Ctx::Hits => match key {
            "hits" => HitsArray,
            _ => Ignore,
        },
    }
}

/// Routes a key, following dots through nested contexts when the whole key is not known.
fn route_key(ctx: Ctx, key: &str) -> Action {
    let direct = route(ctx, key);
    // A byte loop: keys are short, and a vector search's set-up costs more than it saves.
    if direct != Action::Ignore || !key.bytes().any(|b| b == b'.') {
        return direct;
    }
    let mut ctx = ctx;
    let mut segments = key.split('.').peekable();
    while let Some(segment) = segments.next() {
        let action = route(ctx, segment);
        if segments.peek().is_none() {
            return action;
        }
        match action {
            Action::Descend(next) => ctx = next,
            // `host.name` flattened: `host` is a value action at the top.
            Action::HostValue => ctx = Ctx::Host,
            _ => return Action::Ignore,
        }
    }
    Action::Ignore
}

/// Parses one JSON document (an object, or an array of objects) into records.
///
/// A search response yields one record per hit. Every object that is not a response yields one
/// record, even when nothing in it was recognised (the caller counts those as bad).
///
/// UTF-8 text is read by `json_fast`, which skips what the visitor does not ask for
/// without decoding it; anything it does not take (not UTF-8, odd or broken JSON) is read by
/// `serde_json`, whose result and error stand.
pub fn parse_document<'de>(bytes: &'de [u8], out: &mut Vec<RawRecord<'de>>) -> Result<(), serde_json::Error> {
    let before = out.len();
    if let Ok(text) = std::str::from_utf8(bytes) {
        if crate::json_fast::parse(text, DocSeed { out: &mut *out }).is_ok() {
            return Ok(());
        }
        out.truncate(before);
    }
    parse_document_slow(bytes, out)
}

/// Reads `bytes` both ways, [`parse_document`] and [`parse_document_slow`], and panics when
/// they differ in the records they give or in whether and how they fail (`what` names the
/// input in the message). For the tests and the `json_document` fuzz target.
#[doc(hidden)]
pub fn assert_both_paths_agree(bytes: &[u8], what: &str) {
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    let fast_result = parse_document(bytes, &mut fast).map_err(|e| e.to_string());
    let slow_result = parse_document_slow(bytes, &mut slow).map_err(|e| e.to_string());
    assert_eq!(fast_result, slow_result, "the two JSON paths disagree on whether this is JSON: {what}");
    assert_eq!(fast, slow, "the two JSON paths read different records: {what}");
}

/// [`parse_document`] by `serde_json` alone: the reference the fast path is tested against.
#[doc(hidden)]
pub fn parse_document_slow<'de>(bytes: &'de [u8], out: &mut Vec<RawRecord<'de>>) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    DocSeed { out }.deserialize(&mut de)?;
    de.end()
}

/// The seed for a top-level value, used by the streaming document reader too.
pub struct DocSeed<'o, 'de> {
    pub out: &'o mut Vec<RawRecord<'de>>,
}

impl<'de> DeserializeSeed<'de> for DocSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DocSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object (an event or a search response) or an array of them")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let mut rec = RawRecord::default();
        let before = self.out.len();
        let mut saw_hits = false;
        MapSeed {
            ctx: Ctx::Top,
            rec: &mut rec,
            out: self.out,
            saw_hits: &mut saw_hits,
        }
        .visit_map(map)?;
        if !saw_hits {
            self.out.insert(before, rec);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(DocSeed { out: &mut *self.out })?.is_some() {}
        Ok(())
    }
}

struct MapSeed<'r, 'de> {
    ctx: Ctx,
    rec: &'r mut RawRecord<'de>,
    out: &'r mut Vec<RawRecord<'de>>,
    saw_hits: &'r mut bool,
}

impl<'de> DeserializeSeed<'de> for MapSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MapSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(action) = map.next_key_seed(KeyWith(|key: &str| route_key(self.ctx, key)))? {
            let rec = &mut *self.rec;
            match action {
                Action::Ignore => {
                    map.next_value::<IgnoredAny>()?;
                }
                Action::Descend(ctx) => map.next_value_seed(MapSeed {
                    ctx,
                    rec,
                    out: &mut *self.out,
                    saw_hits: &mut *self.saw_hits,
                })?,
                Action::Field(field) => match map.next_value_seed(ValueSeed)? {
                    Val::Value(v) => rec.set(field, v),
                    Val::Null => {}
                    Val::Invalid(shape) => rec.field_errors.push((field.name(), shape)),
                },
                Action::EventId => {
                    if let Some(id) = map.next_value_seed(NumberSeed)? {
                        if rec.event_id.is_none() {
                            rec.event_id = u32::try_from(id).ok();
                        }
                    }
                }
                Action::RecordId => {
                    if let Some(id) = map.next_value_seed(NumberSeed)? {
                        rec.record_id.get_or_insert(id);
                    }
                }
                Action::Channel => set_str(&mut rec.channel, map.next_value_seed(StrSeed)?),
                Action::Provider => set_str(&mut rec.provider, map.next_value_seed(StrSeed)?),
                Action::Computer => set_str(&mut rec.computer, map.next_value_seed(StrSeed)?),
                Action::HostFallback => set_str(&mut rec.host_fallback, map.next_value_seed(StrSeed)?),
                Action::SystemTime => set_str(&mut rec.system_time, map.next_value_seed(StrSeed)?),
                Action::EsIndex => set_str(&mut rec.es_index, map.next_value_seed(StrSeed)?),
                Action::EsId => set_str(&mut rec.es_id, map.next_value_seed(StrSeed)?),
                Action::EcsDnsStatus => set_str(&mut rec.ecs.dns_status, map.next_value_seed(StrSeed)?),
                Action::EcsTimestamp => set_str(&mut rec.ecs.timestamp, map.next_value_seed(StrSeed)?),
                Action::EcsModule => set_str(&mut rec.ecs.module, map.next_value_seed(StrSeed)?),
                Action::EcsDataset => set_str(&mut rec.ecs.dataset, map.next_value_seed(StrSeed)?),
                Action::EcsDnsType => set_str(&mut rec.ecs.dns_type, map.next_value_seed(StrSeed)?),
                Action::EcsDnsQuestionType => set_str(&mut rec.ecs.dns_question_type, map.next_value_seed(StrSeed)?),
                Action::EcsDnsResponseCode => set_str(&mut rec.ecs.dns_response_code, map.next_value_seed(StrSeed)?),
                Action::EcsTlsServerName => set_str(&mut rec.ecs.tls_server_name, map.next_value_seed(StrSeed)?),
                Action::EcsSuricataEventType => set_str(&mut rec.ecs.suricata_event_type, map.next_value_seed(StrSeed)?),
                Action::EcsDuration => rec.ecs.duration_ns = rec.ecs.duration_ns.or(map.next_value_seed(NumberSeed)?),
                Action::EcsDnsId => rec.ecs.dns_id = rec.ecs.dns_id.or(map.next_value_seed(NumberSeed)?),
                Action::EcsSourceBytes => rec.ecs.source_bytes = rec.ecs.source_bytes.or(map.next_value_seed(NumberSeed)?),
                Action::EcsDestinationBytes => rec.ecs.destination_bytes = rec.ecs.destination_bytes.or(map.next_value_seed(NumberSeed)?),
                Action::EcsUserName => set_str(&mut rec.ecs.user_name, map.next_value_seed(StrSeed)?),
                Action::EcsUserDomain => set_str(&mut rec.ecs.user_domain, map.next_value_seed(StrSeed)?),
                // ECS spells Sysmon's `Initiated` and `*IsIpv6` as `network.direction` / `.type`.
                Action::EcsDirection => {
                    if let Some(direction) = map.next_value_seed(StrSeed)? {
                        match direction.as_ref() {
                            "egress" | "outbound" => rec.set(dnshunt_core::Field::Initiated, RawValue::Bool(true)),
                            "ingress" | "inbound" => rec.set(dnshunt_core::Field::Initiated, RawValue::Bool(false)),
                            _ => {}
                        }
                    }
                }
                Action::EcsNetworkType => {
                    if let Some(kind) = map.next_value_seed(StrSeed)? {
                        let v6 = RawValue::Bool(kind.as_ref() == "ipv6");
                        rec.set(dnshunt_core::Field::SourceIsIpv6, v6.clone());
                        rec.set(dnshunt_core::Field::DestinationIsIpv6, v6);
                    }
                }
                Action::EcsHash(algo) => {
                    if let Some(v) = map.next_value_seed(StrSeed)? {
                        rec.ecs.hashes.push((algo, v));
                    }
                }
                Action::EcsAnswers => {
                    let answers = map.next_value_seed(AnswersSeed)?;
                    rec.ecs.has_answers = true;
                    rec.ecs.answers.extend(answers);
                }
                Action::HostValue => map.next_value_seed(HostSeed { rec })?,
                Action::HitsArray => {
                    *self.saw_hits = true;
                    map.next_value_seed(HitsSeed { out: &mut *self.out })?;
                }
            }
        }
        Ok(())
    }

    // A value of another shape where an object was expected is skipped, not fatal. One string
    // is read: Microsoft Sentinel's `WindowsEvent` table (Azure Monitor Agent) stores Sysmon's
    // fields as a JSON object inside the string `EventData`.
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<(), E> {
        if self.ctx == Ctx::EventData && text.trim_start().starts_with('{') {
            event_data_text(text, self.rec);
        }
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

/// The fields of an `EventData` object written as a JSON string (Sentinel's `WindowsEvent`),
/// routed like an `EventData` object; the values are owned, as the text was unescaped. Text that
/// is not such an object is a field error of `EventData`, not a lost record.
fn event_data_text(text: &str, rec: &mut RawRecord<'_>) {
    let Ok(map) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) else {
        rec.field_errors.push(("EventData", "a string that is not a JSON object"));
        return;
    };
    for (key, value) in map {
        let Action::Field(field) = route(Ctx::EventData, &key) else { continue };
        let raw = match value {
            serde_json::Value::String(s) => RawValue::Str(Cow::Owned(s)),
            serde_json::Value::Bool(b) => RawValue::Bool(b),
            serde_json::Value::Number(n) => n.as_i64().map_or_else(|| RawValue::Str(Cow::Owned(n.to_string())), RawValue::Int),
            serde_json::Value::Null => continue,
            serde_json::Value::Array(items) => RawValue::List(
                items
                    .into_iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => Cow::Owned(s),
                        other => Cow::Owned(other.to_string()),
                    })
                    .collect(),
            ),
            serde_json::Value::Object(_) => {
                rec.field_errors.push((field.name(), "object"));
                continue;
            }
        };
        rec.set(field, raw);
    }
}

fn set_str<'de>(slot: &mut Option<Cow<'de, str>>, value: Option<Cow<'de, str>>) {
    if slot.is_none() {
        *slot = value;
    }
}

/// A key read without being kept (no string is made for it), turned into what `F` makes of
/// it: where it routes its value, or its place among a few names.
struct KeyWith<F>(F);

impl<'de, T, F: FnOnce(&str) -> T> DeserializeSeed<'de> for KeyWith<F> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, T, F: FnOnce(&str) -> T> Visitor<'de> for KeyWith<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<T, E> {
        Ok((self.0)(key))
    }
}

/// `key`'s index among `names`, `None` for any other key.
fn key_in(names: &'static [&'static str]) -> KeyWith<impl FnOnce(&str) -> Option<usize>> {
    KeyWith(move |key: &str| names.iter().position(|name| *name == key))
}

/// A field value: what Sysmon fields may hold in any of the shapes.
enum Val<'de> {
    Value(RawValue<'de>),
    Null,
    Invalid(&'static str),
}

struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Val<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Val<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Val<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, number, boolean or array of strings")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Val<'de>, E> {
        Ok(Val::Value(RawValue::Str(Cow::Borrowed(v))))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Val<'de>, E> {
        Ok(Val::Value(RawValue::Str(Cow::Owned(v.to_owned()))))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Val<'de>, E> {
        Ok(Val::Value(RawValue::Str(Cow::Owned(v))))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Val<'de>, E> {
        Ok(Val::Value(RawValue::Int(v)))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Val<'de>, E> {
        Ok(Val::Value(match i64::try_from(v) {
            Ok(i) => RawValue::Int(i),
            Err(_) => RawValue::Str(Cow::Owned(v.to_string())),
        }))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Val<'de>, E> {
        Ok(Val::Value(RawValue::Str(Cow::Owned(v.to_string()))))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Val<'de>, E> {
        Ok(Val::Value(RawValue::Bool(v)))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Val<'de>, E> {
        Ok(Val::Null)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Val<'de>, E> {
        Ok(Val::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val<'de>, A::Error> {
        let mut items = Vec::new();
        let mut invalid = false;
        while let Some(item) = seq.next_element_seed(ValueSeed)? {
            match item {
                Val::Value(RawValue::Str(s)) => items.push(s),
                Val::Value(RawValue::Int(i)) => items.push(Cow::Owned(i.to_string())),
                Val::Value(RawValue::Bool(b)) => items.push(Cow::Owned(b.to_string())),
                Val::Null => {}
                Val::Value(RawValue::List(_)) | Val::Invalid(_) => invalid = true,
            }
        }
        Ok(if invalid {
            Val::Invalid("nested array or object")
        } else {
            Val::Value(RawValue::List(items))
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Val::Invalid("object"))
    }
}

/// Text values of metadata (channel, computer ...): strings, or numbers written as strings.
struct StrSeed;

impl<'de> DeserializeSeed<'de> for StrSeed {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match ValueSeed.deserialize(d)? {
            Val::Value(RawValue::Str(s)) => Ok(Some(s)),
            Val::Value(RawValue::Int(i)) => Ok(Some(Cow::Owned(i.to_string()))),
            _ => Ok(None),
        }
    }
}

/// Event ids and record numbers: a number, a numeric string, or the evtx crate's
/// `{"#attributes": {...}, "#text": 22}` form.
struct NumberSeed;

impl<'de> DeserializeSeed<'de> for NumberSeed {
    type Value = Option<u64>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<u64>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NumberSeed {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Option<u64>, E> {
        Ok(Some(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Option<u64>, E> {
        Ok(u64::try_from(v).ok())
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Option<u64>, E> {
        Ok(None)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Option<u64>, E> {
        Ok(v.trim().parse().ok())
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Option<u64>, E> {
        Ok(None)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Option<u64>, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<u64>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<u64>, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key_seed(key_in(&["#text"]))? {
            if key == Some(0) {
                found = map.next_value_seed(NumberSeed)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// `host`: a string (NXLog's collector) or an object (`{"name": ...}`).
struct HostSeed<'r, 'de> {
    rec: &'r mut RawRecord<'de>,
}

impl<'de> DeserializeSeed<'de> for HostSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HostSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a host name or object")
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<(), E> {
        set_str(&mut self.rec.host_fallback, Some(Cow::Borrowed(v)));
        Ok(())
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        set_str(&mut self.rec.host_fallback, Some(Cow::Owned(v.to_owned())));
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let mut out = Vec::new();
        let mut saw_hits = false;
        MapSeed {
            ctx: Ctx::Host,
            rec: self.rec,
            out: &mut out,
            saw_hits: &mut saw_hits,
        }
        .visit_map(map)
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

/// `dns.answers`: `[{"type": "CNAME", "data": "...", "name": "...", ...}]`.
struct AnswersSeed;

type AnswerPairs<'de> = Vec<(Cow<'de, str>, Cow<'de, str>)>;

impl<'de> DeserializeSeed<'de> for AnswersSeed {
    type Value = AnswerPairs<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AnswersSeed {
    type Value = AnswerPairs<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of answers")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(answer) = seq.next_element_seed(AnswerSeed)? {
            out.extend(answer);
        }
        Ok(out)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ok(AnswerSeed.visit_map(map)?.into_iter().collect())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
}

struct AnswerSeed;

impl<'de> DeserializeSeed<'de> for AnswerSeed {
    type Value = Option<(Cow<'de, str>, Cow<'de, str>)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AnswerSeed {
    type Value = Option<(Cow<'de, str>, Cow<'de, str>)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an answer object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut rtype, mut data) = (None, None);
        while let Some(key) = map.next_key_seed(key_in(&["type", "data"]))? {
            match key {
                Some(0) => rtype = map.next_value_seed(StrSeed)?,
                Some(1) => data = map.next_value_seed(StrSeed)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        // TXT and NULL answers carry a type and no data.
        Ok(rtype.map(|t| (t, data.unwrap_or(Cow::Borrowed("")))))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// `hits.hits`: every element is one record.
struct HitsSeed<'o, 'de> {
    out: &'o mut Vec<RawRecord<'de>>,
}

impl<'de> DeserializeSeed<'de> for HitsSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HitsSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of search hits")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(DocSeed { out: &mut *self.out })?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// `bytes` with every raw control character (U+0000 to U+001F) inside a JSON string written as
/// `\u00XX`, and how many there were; `None` when there are none. Outside strings such bytes are
/// whitespace or an error either way, and are left alone.
pub(crate) fn escape_controls_in_strings(bytes: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut out: Option<Vec<u8>> = None;
    let mut n = 0;
    let (mut in_string, mut escaped) = (false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            } else if b < 0x20 {
                let o = out.get_or_insert_with(|| bytes[..i].to_vec());
                o.extend_from_slice(format!("\\u{b:04x}").as_bytes());
                n += 1;
                continue;
            }
        } else if b == b'"' {
            in_string = true;
        }
        if let Some(o) = out.as_mut() {
            o.push(b);
        }
    }
    out.map(|o| (o, n))
}

#[cfg(test)]
mod tests {
    use super::escape_controls_in_strings;

    #[test]
    fn control_characters_are_escaped_inside_strings_only() {
        let text = b"{\"a\": \"x\ty\", \"b\": \"q\\\"\r\", \"c\": 1}\t\n";
        let (escaped, n) = escape_controls_in_strings(text).unwrap();
        assert_eq!(n, 2);
        assert_eq!(std::str::from_utf8(&escaped).unwrap(), "{\"a\": \"x\\u0009y\", \"b\": \"q\\\"\\u000d\", \"c\": 1}\t\n");
        let v: serde_json::Value = serde_json::from_slice(&escaped).unwrap();
        assert_eq!(v["a"], "x\ty");
        assert_eq!(v["b"], "q\"\r");
        assert_eq!(escape_controls_in_strings(b"{\"a\": \"plain\\n\"}\n"), None);
    }
}

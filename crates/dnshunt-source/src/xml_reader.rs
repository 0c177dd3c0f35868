//! Sysmon XML: `wevtutil qe /f:xml` (events back to back, no root), `Get-WinEvent | % ToXml`
//! wrapped in `<Events>`, or a single `<Event>`.
//!
//! The text is cut at `<Event ...>` … `</Event>` first and each event is parsed on its own, so one
//! malformed event is one bad record and the events after it are still read.

use std::borrow::Cow;

use crossbeam_channel::Sender;
use dnshunt_core::{Field, Origin, RawRecord, RawValue};
use memchr::memmem;
use quick_xml::events::Event as XmlEvent;
use quick_xml::Reader;

use crate::read::ReadOptions;
use crate::work::{BatchBuilder, FileCtx, Message};

pub fn read(file: &FileCtx, bytes: &[u8], options: &ReadOptions, out: &Sender<Message>) -> bool {
    let mut batch = BatchBuilder::new(file, options);
    batch.add_bytes(bytes.len() as u64);
    let text = match std::str::from_utf8(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)) {
        Ok(t) => t,
        Err(e) => {
            // UTF-16 is what `wevtutil` writes when redirected in some consoles: say so.
            let hint = if bytes.starts_with(b"\xff\xfe") || bytes.starts_with(b"\xfe\xff") {
                " (UTF-16: convert to UTF-8 first)"
            } else {
                ""
            };
            batch.bad(Origin::line(&file.name, 1), format!("XML is not UTF-8{hint}: {e}"));
            return batch.flush(out);
        }
    };
    let mut ordinal = 0u64;
    let mut line = 1u64;
    let mut pos = 0usize;
    let open = memmem::Finder::new("<Event");
    let close = memmem::Finder::new("</Event>");
    while let Some(found) = open.find(&text.as_bytes()[pos..]) {
        let start = pos + found;
        let after = text.as_bytes().get(start + 6).copied();
        if !matches!(after, Some(b' ' | b'>' | b'\t' | b'\r' | b'\n' | b'/')) {
            // `<Events>`, `<EventData>`, `<EventID>` ...
            line += memchr::memchr_iter(b'\n', &text.as_bytes()[pos..start + 6]).count() as u64;
            pos = start + 6;
            continue;
        }
        line += memchr::memchr_iter(b'\n', &text.as_bytes()[pos..start]).count() as u64;
        ordinal += 1;
        let end = match close.find(&text.as_bytes()[start..]) {
            Some(i) => start + i + "</Event>".len(),
            None => {
                let origin = Origin {
                    record: Some(ordinal),
                    ..Origin::line(&file.name, line)
                };
                batch.bad(origin, "XML event without </Event>; the rest of the file is skipped".to_owned());
                break;
            }
        };
        // An `<Event` opening inside this span means the previous one never closed.
        let segment = match open.find(&text.as_bytes()[start + 6..end]).filter(|i| {
            let at = start + 6 + i + 6;
            matches!(text.as_bytes().get(at), Some(b' ' | b'>' | b'\t' | b'\r' | b'\n'))
        }) {
            Some(i) => &text[start..start + 6 + i],
            None => &text[start..end],
        };
        let origin = Origin {
            record: Some(ordinal),
            ..Origin::line(&file.name, line)
        };
        match parse_event(segment) {
            Ok(raw) => batch.record(raw, origin),
            Err(e) => batch.bad(origin, format!("malformed XML event: {e}")),
        }
        if !batch.maybe_flush(out) {
            return false;
        }
        line += memchr::memchr_iter(b'\n', segment.as_bytes()).count() as u64;
        pos = start + segment.len();
    }
    batch.flush(out)
}

/// Where in the event the parser is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    None,
    EventId,
    Channel,
    Computer,
    RecordId,
    Data(Option<Field>),
}

fn parse_event(segment: &str) -> Result<RawRecord<'static>, String> {
    let mut reader = Reader::from_str(segment);
    reader.config_mut().trim_text(false);
    let mut raw = RawRecord::default();
    let mut slot = Slot::None;
    let mut text = String::new();
    let mut in_event_data = false;
    let mut depth = 0usize;
    loop {
        match reader.read_event().map_err(|e| format!("{e} at byte {}", reader.error_position()))? {
            XmlEvent::Start(e) => {
                depth += 1;
                text.clear();
                let name = e.local_name();
                slot = match name.as_ref() {
                    "EventID" => Slot::EventId,
                    "Channel" => Slot::Channel,
                    "Computer" => Slot::Computer,
                    "EventRecordID" => Slot::RecordId,
                    "EventData" | "UserData" => {
                        in_event_data = true;
                        Slot::None
                    }
                    "Data" if in_event_data => Slot::Data(data_field(&e)?),
                    _ => {
                        attributes(&e, &mut raw)?;
                        Slot::None
                    }
                };
            }
            XmlEvent::Empty(e) => {
                if e.local_name().as_ref() == "Data" && in_event_data {
                    if let Some(field) = data_field(&e)? {
                        raw.set(field, RawValue::Str(Cow::Borrowed("")));
                    }
                } else {
                    attributes(&e, &mut raw)?;
                }
            }
            XmlEvent::Text(t) => text.push_str(&t.xml10_content()),
            XmlEvent::CData(t) => text.push_str(&t.xml10_content()),
            XmlEvent::GeneralRef(r) => match r.resolve_char_ref().map_err(|e| e.to_string())? {
                Some(c) => text.push(c),
                None => match quick_xml::escape::resolve_predefined_entity(&r) {
                    Some(s) => text.push_str(s),
                    None => return Err(format!("unknown entity &{};", &*r)),
                },
            },
            XmlEvent::End(e) => {
                depth = depth.saturating_sub(1);
                let value = std::mem::take(&mut text);
                match slot {
                    Slot::EventId => raw.event_id = value.trim().parse().ok(),
                    Slot::Channel => raw.channel = Some(Cow::Owned(value)),
                    Slot::Computer => raw.computer = Some(Cow::Owned(value)),
                    Slot::RecordId => raw.record_id = value.trim().parse().ok(),
                    Slot::Data(Some(field)) => raw.set(field, RawValue::Str(Cow::Owned(value))),
                    Slot::Data(None) | Slot::None => {}
                }
                if matches!(e.local_name().as_ref(), "EventData" | "UserData") {
                    in_event_data = false;
                }
                slot = Slot::None;
            }
            XmlEvent::Eof => break,
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unclosed element".to_owned());
    }
    Ok(raw)
}

/// `<Data Name="QueryName">`: the Sysmon field it holds.
fn data_field(e: &quick_xml::events::BytesStart<'_>) -> Result<Option<Field>, String> {
    for attr in e.attributes() {
        let attr = attr.map_err(|e| e.to_string())?;
        if attr.key.as_ref() == "Name" {
            let value = attr.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| e.to_string())?;
            return Ok(Field::from_name(&value));
        }
    }
    Ok(None)
}

/// `<Provider Name=…>` and `<TimeCreated SystemTime=…>`.
fn attributes(e: &quick_xml::events::BytesStart<'_>, raw: &mut RawRecord<'static>) -> Result<(), String> {
    let wanted: &str = match e.local_name().as_ref() {
        "Provider" => "Name",
        "TimeCreated" => "SystemTime",
        _ => return Ok(()),
    };
    for attr in e.attributes() {
        let attr = attr.map_err(|e| e.to_string())?;
        if attr.key.as_ref() == wanted {
            let value = attr.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| e.to_string())?.into_owned();
            if wanted == "Name" {
                raw.provider = Some(Cow::Owned(value));
            } else {
                raw.system_time = Some(Cow::Owned(value));
            }
        }
    }
    Ok(())
}

//! Sysmon XML: `wevtutil qe /f:xml` (events back to back, no root), `Get-WinEvent | % ToXml`
//! wrapped in `<Events>`, or a single `<Event>`.
//!
//! The reading thread cuts the text at `<Event ...>` … `</Event>` as it streams by ([`Cutter`]),
//! holding at most one event (up to [`crate::Limits::max_record`] bytes) and one read block; each
//! event is parsed on its own by a parser thread, so one malformed event is one bad record and the
//! events after it are still read. Text that is not UTF-8 (a cp1252 `é`) is decoded with U+FFFD
//! for the bad bytes, one counted warning per event, instead of losing the event.

use std::borrow::Cow;
use std::io::{self, Read};

use crossbeam_channel::Sender;
use dnshunt_core::{Field, Origin, RawRecord, RawValue};
use memchr::memmem;
use quick_xml::events::Event as XmlEvent;
use quick_xml::Reader;

use crate::read::ReadOptions;
use crate::work::{invalid_utf8_message, BatchBuilder, DocJob, DocPiece, Message};

/// Parses the events of one job.
pub fn read(job: &DocJob, options: &ReadOptions, out: &Sender<Message>) -> bool {
    let file = &job.file;
    let mut batch = BatchBuilder::new(file, options);
    batch.add_bytes(job.input_bytes);
    for piece in &job.pieces {
        match piece {
            DocPiece::Record { range, line, ordinal } => {
                let bytes = &job.bytes[range.clone()];
                let origin = Origin {
                    record: *ordinal,
                    ..Origin::line(&file.name, *line)
                };
                let text = match std::str::from_utf8(bytes) {
                    Ok(text) => Cow::Borrowed(text),
                    Err(_) => {
                        let invalid: usize = bytes.utf8_chunks().map(|c| c.invalid().len()).sum();
                        batch.warn(origin.clone(), invalid_utf8_message(invalid));
                        String::from_utf8_lossy(bytes)
                    }
                };
                match parse_event(&text) {
                    Ok(raw) => batch.record(raw, origin),
                    Err(e) => batch.bad(origin, format!("malformed XML event: {e}")),
                }
            }
            DocPiece::Lost { line, record, count, message } => {
                let origin = Origin {
                    record: *record,
                    ..Origin::line(&file.name, *line)
                };
                batch.lost(origin, message.clone(), *count);
            }
        }
        if !batch.maybe_flush(out) {
            return false;
        }
    }
    batch.flush(out)
}

/// What the cutter hands on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Cut<'a> {
    /// One `<Event` … `</Event>` (or up to the next `<Event`, when it never closed).
    Event { bytes: &'a [u8], line: u64, ordinal: u64 },
    /// An event lost before parsing (too large, or cut short by the end of the input).
    Lost { line: u64, ordinal: u64, message: String },
}

const OPEN: &[u8] = b"<Event";
const CLOSE: &[u8] = b"</Event>";
const READ_SIZE: usize = 1 << 20;

/// Cuts a stream of XML into events.
pub(crate) struct Cutter<R> {
    reader: R,
    buf: Vec<u8>,
    /// The line of `buf[counted]`.
    line: u64,
    counted: usize,
    eof: bool,
    read_error: Option<io::Error>,
    max_record: usize,
    ordinal: u64,
}

/// `<Event` followed by what may follow an element name (not `<Events>`, `<EventData>` ...).
fn opens_event(buf: &[u8], at: usize, self_closing: bool) -> Option<bool> {
    let next = *buf.get(at + OPEN.len())?;
    Some(matches!(next, b' ' | b'>' | b'\t' | b'\r' | b'\n') || (self_closing && next == b'/'))
}

impl<R: Read> Cutter<R> {
    pub(crate) fn new(head: Vec<u8>, reader: R, max_record: usize) -> Self {
        Cutter {
            reader,
            buf: head,
            line: 1,
            counted: 0,
            eof: false,
            read_error: None,
            max_record,
            ordinal: 0,
        }
    }

    pub(crate) fn set_read_error(&mut self, e: io::Error) {
        self.eof = true;
        self.read_error = Some(e);
    }

    /// The error that ended reading early, if any, and the line it came after.
    pub(crate) fn take_read_error(&mut self) -> Option<(io::Error, u64)> {
        let line = self.line + memchr::memchr_iter(b'\n', &self.buf[self.counted..]).count() as u64;
        self.read_error.take().map(|e| (e, line))
    }

    /// The line of `buf[at]` (`at` at or after what was counted).
    fn line_at(&mut self, at: usize) -> u64 {
        self.line += memchr::memchr_iter(b'\n', &self.buf[self.counted..at]).count() as u64;
        self.counted = at;
        self.line
    }

    fn drop_before(&mut self, at: usize) {
        self.line_at(at);
        self.buf.drain(..at);
        self.counted = 0;
    }

    fn refill(&mut self) -> bool {
        if self.eof {
            return false;
        }
        loop {
            match (&mut self.reader).take(READ_SIZE as u64).read_to_end(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return false;
                }
                Ok(_) => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.eof = true;
                    self.read_error = Some(e);
                    return false;
                }
            }
        }
    }

    /// The next `<Event` opening at or after `from`, or `None` (with `from` moved to where the
    /// search may resume) when the buffer holds none.
    fn find_open(&self, from: &mut usize) -> Option<usize> {
        let finder = memmem::Finder::new(OPEN);
        loop {
            let Some(i) = finder.find(&self.buf[*from..]) else {
                // What may be the start of `<Event` or `</Event>` is looked at again.
                *from = self.buf.len().saturating_sub(CLOSE.len() - 1).max(*from);
                return None;
            };
            let at = *from + i;
            match opens_event(&self.buf, at, true) {
                Some(true) => return Some(at),
                Some(false) => *from = at + 1,
                None if self.eof => {
                    *from = self.buf.len();
                    return None;
                }
                None => {
                    *from = at;
                    return None;
                }
            }
        }
    }

    /// Runs to the end of the input, handing each cut to `emit` (false: stop).
    pub(crate) fn run(&mut self, emit: &mut dyn FnMut(Cut<'_>) -> bool) {
        while !self.eof && self.buf.iter().all(u8::is_ascii_whitespace) {
            self.refill();
        }
        if self.buf.starts_with(b"\xff\xfe") || self.buf.starts_with(b"\xfe\xff") {
            // UTF-16 is what `wevtutil` writes when redirected in some consoles: say so.
            emit(Cut::Lost {
                line: 1,
                ordinal: 0,
                message: "XML is not UTF-8 (UTF-16: convert to UTF-8 first); nothing of this input was read".to_owned(),
            });
            return;
        }
        let first = self.buf.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|&b| b != b'<') {
            let message = "not XML: the input does not start with `<` (text before the first event is skipped)".to_owned();
            if !emit(Cut::Lost { line: 1, ordinal: 0, message }) {
                return;
            }
        }
        let close = memmem::Finder::new(CLOSE);
        let mut search = 0usize;
        // The end of an oversized event skipped before its end was seen is not a damaged one.
        let mut skipping_oversized = false;
        loop {
            let gap = search;
            let found = self.find_open(&mut search);
            // `</Event>` between events: an event whose opening tag is damaged.
            let gap_end = found.unwrap_or(search);
            for at in close.find_iter(&self.buf[gap..gap_end]).map(|i| gap + i).collect::<Vec<_>>() {
                if std::mem::take(&mut skipping_oversized) {
                    continue;
                }
                let line = self.line_at(at);
                let message = "</Event> without its <Event> (the opening tag is damaged): the event is lost".to_owned();
                if !emit(Cut::Lost { line, ordinal: 0, message }) {
                    return;
                }
            }
            let Some(mut start) = found else {
                let keep = search.min(self.buf.len());
                self.drop_before(keep);
                search = 0;
                if !self.refill() {
                    return;
                }
                continue;
            };
            skipping_oversized = false;
            self.ordinal += 1;
            let ordinal = self.ordinal;
            let line = self.line_at(start);
            // Its end: `</Event>`, or the next `<Event` opening first (this one never closed).
            let mut scan = start + OPEN.len();
            let end = loop {
                let close_at = close.find(&self.buf[scan..]).map(|i| scan + i);
                let limit = close_at.unwrap_or(self.buf.len());
                let mut from = scan;
                let next_open = loop {
                    let Some(i) = memmem::find(&self.buf[from..limit], OPEN) else { break None };
                    let at = from + i;
                    match opens_event(&self.buf, at, false) {
                        Some(true) => break Some(at),
                        Some(false) => from = at + 1,
                        None => break None,
                    }
                };
                if let Some(at) = next_open {
                    break Some(at);
                }
                if let Some(at) = close_at {
                    break Some(at + CLOSE.len());
                }
                if self.buf.len() - start > self.max_record {
                    break None;
                }
                // Neither yet: read on, keeping the event.
                scan = self.buf.len().saturating_sub(CLOSE.len()).max(start + OPEN.len()) - start;
                self.drop_before(start);
                start = 0;
                if !self.refill() {
                    let message = match self.read_error {
                        Some(_) => "XML event cut short: the input stopped being readable inside it",
                        None => "XML event without </Event>: the input ends inside it (truncated)",
                    };
                    emit(Cut::Lost {
                        line,
                        ordinal,
                        message: message.to_owned(),
                    });
                    return;
                }
            };
            match end.filter(|end| end - start <= self.max_record) {
                Some(end) => {
                    if !emit(Cut::Event {
                        bytes: &self.buf[start..end],
                        line,
                        ordinal,
                    }) {
                        return;
                    }
                    search = end;
                }
                None => {
                    let message = format!("XML event larger than {} bytes (the limit for one record); skipped", self.max_record);
                    if !emit(Cut::Lost { line, ordinal, message }) {
                        return;
                    }
                    // Go on at the next event, dropping this one as the search passes it.
                    match end {
                        Some(end) => search = end,
                        None => {
                            search = start + OPEN.len();
                            skipping_oversized = true;
                        }
                    }
                }
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// (line, ordinal, text) of the events and (line, message) of the losses.
    type Cuts = (Vec<(u64, u64, String)>, Vec<(u64, String)>);

    fn cut_with(text: &[u8], max_record: usize, one_byte: bool) -> Cuts {
        let mut events = Vec::new();
        let mut lost = Vec::new();
        let mut emit = |cut: Cut<'_>| {
            match cut {
                Cut::Event { bytes, line, ordinal } => events.push((line, ordinal, String::from_utf8_lossy(bytes).into_owned())),
                Cut::Lost { line, message, .. } => lost.push((line, message)),
            }
            true
        };
        if one_byte {
            Cutter::new(Vec::new(), OneByte(text), max_record).run(&mut emit);
        } else {
            Cutter::new(Vec::new(), text, max_record).run(&mut emit);
        }
        (events, lost)
    }

    fn cut(text: &str) -> Cuts {
        let whole = cut_with(text.as_bytes(), 1 << 20, false);
        assert_eq!(whole, cut_with(text.as_bytes(), 1 << 20, true), "byte by byte");
        whole
    }

    struct OneByte<'a>(&'a [u8]);

    impl Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    #[test]
    fn events_are_cut_with_lines_and_ordinals() {
        let (events, lost) = cut("<?xml version=\"1.0\"?>\r\n<Events>\r\n<Event xmlns='x'><EventData><Data Name='a'>1</Data></EventData></Event>\r\n<Event>\r\n<EventID>2</EventID></Event>\r\n</Events>\r\n");
        assert!(lost.is_empty(), "{lost:?}");
        assert_eq!(events.iter().map(|e| (e.0, e.1)).collect::<Vec<_>>(), [(3, 1), (4, 2)]);
        assert!(events[1].2.starts_with("<Event>") && events[1].2.ends_with("</Event>"));
    }

    #[test]
    fn an_unclosed_event_ends_at_the_next_one() {
        let (events, lost) = cut("<Event><a>1</a>\n<Event><a>2</a></Event>\n");
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].2, "<Event><a>1</a>\n");
        assert!(lost.is_empty());
    }

    #[test]
    fn a_truncated_last_event_is_lost_and_counted() {
        let (events, lost) = cut("<Event><a>1</a></Event>\n<Event><a>2</a></Ev");
        assert_eq!(events.len(), 1);
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].0, 2);
        assert!(lost[0].1.contains("truncated"), "{}", lost[0].1);
    }

    #[test]
    fn a_damaged_opening_tag_is_counted() {
        let (events, lost) = cut("<Event><a>1</a></Event>\n<Evxnt><a>2</a></Event>\n<Event><a>3</a></Event>\n");
        assert_eq!(events.len(), 2);
        assert_eq!(lost.len(), 1, "{lost:?}");
        assert_eq!(lost[0].0, 2);
    }

    #[test]
    fn an_oversized_event_is_skipped_and_the_next_is_read() {
        let big = format!("<Event><a>{}</a></Event>", "x".repeat(5000));
        let text = format!("<Event><a>1</a></Event>\n{big}\n<Event><a>3</a></Event>\n");
        let (events, lost) = cut_with(text.as_bytes(), 1000, true);
        assert_eq!(events.iter().map(|e| e.1).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(lost.len(), 1);
        assert!(lost[0].1.contains("larger than 1000 bytes"));
    }

    #[test]
    fn text_that_is_not_xml_and_utf16_are_said() {
        let (events, lost) = cut("garbage\n<Event><a>1</a></Event>");
        assert_eq!(events.len(), 1);
        assert_eq!(lost.len(), 1);
        let (events, lost) = cut_with(b"\xff\xfe<\0E\0", 1 << 20, false);
        assert!(events.is_empty());
        assert!(lost[0].1.contains("UTF-16"));
    }

    #[test]
    fn parse_event_reads_a_sysmon_event() {
        let raw = parse_event("<Event><System><EventID>22</EventID><Computer>h</Computer></System><EventData><Data Name='QueryName'>a.example</Data></EventData></Event>").unwrap();
        assert_eq!(raw.event_id, Some(22));
        assert!(parse_event("<Event><System></Sys></Event>").is_err());
    }
}

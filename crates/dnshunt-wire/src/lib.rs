//! dnshunt's readers of what the network saw: packet captures (pcap, pcapng), Zeek's
//! `dns.log` and `conn.log` (TSV with `#fields` headers, or JSON), and Suricata's EVE JSON
//! (`dns` in its v1, v2 and v3 forms, `flow`, `tls`).
//!
//! Every reader turns its input into the same events (`EventKind::WireDns` for a DNS exchange,
//! `EventKind::WireFlow` for a connection) and hands them, with the records it could not read,
//! to a [`WireOut`]. Nothing here is fatal: a damaged packet or line is counted and reported
//! with its packet or line number, and reading goes on. No I/O beyond the reader it is given.

pub mod dns;
pub mod ecs;
pub mod eve;
mod exchange;
pub mod pcap;
pub mod zeek;

use dnshunt_core::{Event, Origin};

pub use exchange::{exchange_event, Exchange};

/// Where a reader's output goes.
pub trait WireOut {
    /// One event; false when nobody listens any more (reading stops).
    fn event(&mut self, event: Event) -> bool;
    /// A record that could not be read (`count` of them lost to one defect).
    fn bad(&mut self, origin: Origin, reason: String, count: u64);
    /// A record read and kept with a repair or a doubt.
    fn warn(&mut self, origin: Origin, message: String);
    /// A record that is neither a DNS exchange nor a connection (other packets, other logs).
    fn other(&mut self, count: u64);
    /// The record counts of the input, once at its end.
    fn counts(&mut self, counts: &WireCounts);
}

/// What a wire input held, counted independently of what became events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WireCounts {
    /// Packets of a capture, or records (lines) of a log, read well (damaged ones are bad
    /// records, counted apart).
    pub records: u64,
    /// DNS messages that were questions and answers (captures), or DNS records of a log.
    pub dns_queries: u64,
    pub dns_responses: u64,
    /// DNS messages carried over TCP (length-framed, reassembled).
    pub dns_over_tcp: u64,
}

/// Longest line of a log read whole; longer ones are counted as bad and skipped.
pub(crate) const MAX_LINE: usize = 1 << 20;

/// The lines of a log, one at a time, without their end of line, with their origin; empty
/// lines are passed over, over-long lines (and a read error, which ends the log) are reported
/// to the output as bad records with their line number.
pub(crate) struct Lines<R> {
    reader: R,
    file: std::sync::Arc<str>,
    line: Vec<u8>,
    line_no: u64,
}

impl<R: std::io::BufRead> Lines<R> {
    pub(crate) fn new(reader: R, file: &std::sync::Arc<str>) -> Lines<R> {
        Lines {
            reader,
            file: file.clone(),
            line: Vec::new(),
            line_no: 0,
        }
    }

    /// The next non-empty line and where it is; `None` at the end.
    pub(crate) fn next(&mut self, out: &mut dyn WireOut) -> Option<(&[u8], Origin)> {
        loop {
            self.line.clear();
            match read_line_bounded(&mut self.reader, &mut self.line, MAX_LINE) {
                Ok(None) => return None,
                Ok(Some(false)) => self.line_no += 1,
                Ok(Some(true)) => {
                    self.line_no += 1;
                    out.bad(Origin::line(&self.file, self.line_no), format!("line longer than {MAX_LINE} bytes; skipped"), 1);
                    continue;
                }
                Err(e) => {
                    out.bad(Origin::line(&self.file, self.line_no + 1), format!("read error: {e}; the rest of the log is lost"), 1);
                    return None;
                }
            }
            let line = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.is_empty() {
                let len = line.len();
                return Some((&self.line[..len], Origin::line(&self.file, self.line_no)));
            }
        }
    }
}

/// A line of line-delimited JSON as an object; anything else is a bad record.
pub(crate) fn json_object(line: &[u8], origin: &Origin, out: &mut dyn WireOut) -> Option<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_slice::<serde_json::Value>(line.trim_ascii()) {
        Ok(serde_json::Value::Object(m)) => Some(m),
        Ok(_) => {
            out.bad(origin.clone(), "a JSON value that is not an object".to_owned(), 1);
            None
        }
        Err(e) => {
            out.bad(origin.clone(), format!("not JSON: {e}"), 1);
            None
        }
    }
}

/// Reads one line (with its newline, if any) into `buf`, keeping at most `max` bytes of it:
/// `Ok(None)` at the end of input, `Ok(Some(true))` when the line was longer (the rest of it is
/// read past, never held), `Ok(Some(false))` otherwise.
pub(crate) fn read_line_bounded<R: std::io::BufRead>(reader: &mut R, buf: &mut Vec<u8>, max: usize) -> std::io::Result<Option<bool>> {
    let mut any = false;
    let mut too_long = false;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(any.then_some(too_long));
        }
        any = true;
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = max.saturating_sub(buf.len());
        if take > room {
            too_long = true;
        }
        buf.extend_from_slice(&chunk[..take.min(room)]);
        reader.consume(take);
        if done {
            return Ok(Some(too_long));
        }
    }
}

/// The kinds of wire input, as recognised from their first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireFormat {
    /// pcap (either byte order, micro- or nanosecond) or pcapng.
    Capture,
    /// Zeek TSV log (`#separator` header).
    ZeekTsv,
    /// Line-delimited JSON of Zeek (`id.orig_h`, `uid`).
    ZeekJson,
    /// Suricata EVE JSON (`event_type`, `src_ip`).
    Eve,
}

impl WireFormat {
    pub fn name(self) -> &'static str {
        match self {
            WireFormat::Capture => "pcap",
            WireFormat::ZeekTsv => "zeek",
            WireFormat::ZeekJson => "zeek json",
            WireFormat::Eve => "suricata eve",
        }
    }
}

/// Recognises a wire input from its first bytes: capture magic numbers, a Zeek TSV header, or
/// a first JSON line with Zeek's or Suricata's keys. `None` for anything else (Sysmon JSON
/// included).
pub fn sniff(head: &[u8]) -> Option<WireFormat> {
    const PCAP_MAGICS: [[u8; 4]; 5] = [
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
        [0x0a, 0x0d, 0x0d, 0x0a],
    ];
    if head.len() >= 4 && PCAP_MAGICS.iter().any(|m| head.starts_with(m)) {
        return Some(WireFormat::Capture);
    }
    let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    // Some writers put whitespace before the first header line.
    if text.trim_ascii_start().starts_with(b"#separator") {
        return Some(WireFormat::ZeekTsv);
    }
    let start = text.iter().position(|b| !b.is_ascii_whitespace())?;
    if text[start] != b'{' {
        return None;
    }
    let line = &text[start..];
    let line = &line[..memchr::memchr(b'\n', line).unwrap_or(line.len())];
    let has = |key: &[u8]| memchr::memmem::find(line, key).is_some();
    if has(b"\"event_type\"") && (has(b"\"src_ip\"") || has(b"\"flow_id\"")) {
        return Some(WireFormat::Eve);
    }
    if has(b"\"id.orig_h\"") || (has(b"\"uid\"") && has(b"\"id.resp_p\"")) || has(b"\"id\":{\"orig_h\"") {
        return Some(WireFormat::ZeekJson);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_read_past_not_held() {
        let mut input = vec![b'a'; 100];
        input.extend_from_slice(b"\nok\nlast");
        let mut r = std::io::BufReader::with_capacity(16, &input[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line_bounded(&mut r, &mut buf, 10).unwrap(), Some(true));
        assert_eq!(buf.len(), 10);
        buf.clear();
        assert_eq!(read_line_bounded(&mut r, &mut buf, 10).unwrap(), Some(false));
        assert_eq!(buf, b"ok\n");
        buf.clear();
        assert_eq!(read_line_bounded(&mut r, &mut buf, 10).unwrap(), Some(false));
        assert_eq!(buf, b"last");
        buf.clear();
        assert_eq!(read_line_bounded(&mut r, &mut buf, 10).unwrap(), None);
    }

    #[test]
    fn recognises_each_format_and_nothing_else() {
        assert_eq!(sniff(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]), Some(WireFormat::Capture));
        assert_eq!(sniff(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0]), Some(WireFormat::Capture));
        assert_eq!(sniff(b"#separator \\x09\n#set_separator\t,\n"), Some(WireFormat::ZeekTsv));
        assert_eq!(sniff(b"\t#separator \\x09\n"), Some(WireFormat::ZeekTsv));
        assert_eq!(sniff(b"{\"ts\":1.5,\"uid\":\"C1\",\"id.orig_h\":\"10.0.0.1\"}\n"), Some(WireFormat::ZeekJson));
        assert_eq!(
            sniff(b"{\"timestamp\":\"2022-05-08T11:22:03+0300\",\"flow_id\":1,\"event_type\":\"dns\",\"src_ip\":\"1.2.3.4\"}"),
            Some(WireFormat::Eve)
        );
        // Sysmon in Winlogbeat's JSON is not wire data, even with an `event` object.
        assert_eq!(sniff(b"{\"@timestamp\":\"x\",\"event\":{\"code\":\"22\"},\"winlog\":{}}"), None);
        assert_eq!(sniff(b"<Events>"), None);
        assert_eq!(sniff(b""), None);
    }
}

//! DNS messages (RFC 1035 §4) decoded leniently: what a tunnel puts on the wire is kept.
//!
//! Strict parsers refuse exactly what matters here: iodine's raw bytes in labels, NULL and
//! private-use record types, names longer than 255 bytes, records cut by truncation. This
//! decoder keeps every question and record as far as it parses: label bytes are kept as they
//! are (escaped for display as Zeek does), compression pointers are followed (at most
//! [`MAX_POINTERS`], never forward loops), and a record that runs past the end ends the section
//! with the records before it kept and the message marked `truncated_records`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use dnshunt_core::wire::escape_bytes;

/// Bytes of a binary record's data shown (escaped) in its text.
pub const MAX_BINARY_SHOWN: usize = 64;

/// Answer records decoded per message, at most (the rest are not read).
pub const MAX_ANSWERS: u16 = 256;

/// Compression pointers followed in one name before it is cut.
pub const MAX_POINTERS: usize = 32;

/// The fixed header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    /// A response (QR set).
    pub response: bool,
    pub opcode: u8,
    pub aa: bool,
    pub tc: bool,
    pub rd: bool,
    pub ra: bool,
    pub rcode: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

/// A question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// The name as text: labels joined by dots, bytes outside printable ASCII (and dots or
    /// backslashes inside a label) escaped as `\xNN`.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

/// A resource record of the answer section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    /// The record data's length on the wire.
    pub size: u32,
    /// The data as text (see [`rdata_text`]).
    pub data: String,
    /// The address of an A or AAAA record.
    pub ip: Option<IpAddr>,
}

/// A decoded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    /// Records announced by the header that could not be read (the message ended early or
    /// a record was damaged).
    pub truncated_records: bool,
}

/// Why a message could not be decoded at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than the 12-byte header.
    Short(usize),
    /// The first question could not be read.
    BadQuestion,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Short(n) => write!(f, "DNS message of {n} bytes is shorter than its 12-byte header"),
            DecodeError::BadQuestion => f.write_str("DNS message whose question cannot be read"),
        }
    }
}

/// Reads the header only (for pairing and counting without decoding the rest).
pub fn header(msg: &[u8]) -> Option<Header> {
    if msg.len() < 12 {
        return None;
    }
    let be = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
    let flags = be(2);
    Some(Header {
        id: be(0),
        response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0xf) as u8,
        aa: flags & 0x0400 != 0,
        tc: flags & 0x0200 != 0,
        rd: flags & 0x0100 != 0,
        ra: flags & 0x0080 != 0,
        rcode: flags & 0xf,
        qdcount: be(4),
        ancount: be(6),
        nscount: be(8),
        arcount: be(10),
    })
}

/// Decodes a message: the header, the first question (the others are stepped over), and the
/// answer section as far as it reads, at most [`MAX_ANSWERS`] records; the authority and
/// additional sections are not decoded. A message that ends early is marked
/// `truncated_records`.
pub fn decode(msg: &[u8]) -> Result<Message, DecodeError> {
    let header = header(msg).ok_or(DecodeError::Short(msg.len()))?;
    let mut pos = 12;
    let mut truncated = false;
    // The first question is what an exchange is about; the others (rare, and a way to make
    // one packet expand into thousands of names) are stepped over without being kept.
    let mut questions = Vec::with_capacity(1);
    for i in 0..header.qdcount {
        let next = if i == 0 {
            let mut name = String::new();
            let Some(next) = read_name(msg, pos, &mut name) else {
                truncated = true;
                break;
            };
            if let Some(fixed) = msg.get(next..next + 4) {
                questions.push(Question {
                    name,
                    qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
                    qclass: u16::from_be_bytes([fixed[2], fixed[3]]),
                });
            }
            next
        } else {
            match skip_name(msg, pos) {
                Some(next) => next,
                None => {
                    truncated = true;
                    break;
                }
            }
        };
        if msg.len() < next + 4 {
            truncated = true;
            break;
        }
        pos = next + 4;
    }
    if questions.is_empty() && header.qdcount > 0 {
        return Err(DecodeError::BadQuestion);
    }
    let mut answers = Vec::with_capacity(usize::from(header.ancount.min(16)));
    if !truncated {
        for _ in 0..header.ancount.min(MAX_ANSWERS) {
            match read_record(msg, pos) {
                Some((record, next)) => {
                    answers.push(record);
                    pos = next;
                }
                None => {
                    truncated = true;
                    break;
                }
            }
        }
    }
    Ok(Message {
        header,
        questions,
        answers,
        truncated_records: truncated,
    })
}

fn read_record(msg: &[u8], pos: usize) -> Option<(Record, usize)> {
    let mut name = String::new();
    let next = read_name(msg, pos, &mut name)?;
    let fixed = msg.get(next..next + 10)?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let class = u16::from_be_bytes([fixed[2], fixed[3]]);
    let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let start = next + 10;
    let rdata = msg.get(start..start + len)?;
    let (data, ip) = rdata_text(msg, start, rdata, rtype);
    Some((
        Record {
            name,
            rtype,
            class,
            ttl,
            size: len as u32,
            data,
            ip,
        },
        start + len,
    ))
}

/// A record's data as text: addresses for A/AAAA, names for CNAME/NS/PTR/DNAME, preference and
/// name for MX, target for SRV, the character-strings of TXT joined by a space, and for every
/// other type (NULL, private types, ...) the first [`MAX_BINARY_SHOWN`] bytes escaped. At most
/// [`dnshunt_core::WireAnswer::MAX_TEXT`] bytes of text are kept.
pub fn rdata_text(msg: &[u8], start: usize, rdata: &[u8], rtype: u16) -> (String, Option<IpAddr>) {
    let mut out = String::new();
    let mut ip = None;
    match (rtype, rdata.len()) {
        (1, 4) => {
            let a = Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]);
            ip = Some(IpAddr::V4(a));
            out = a.to_string();
        }
        (28, 16) => {
            let mut b = [0u8; 16];
            b.copy_from_slice(rdata);
            let a = Ipv6Addr::from(b);
            ip = Some(a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4));
            out = a.to_string();
        }
        (2 | 5 | 12 | 39, _) => {
            if read_name(msg, start, &mut out).is_none() {
                out.clear();
                escape_bytes(rdata, &mut out);
            }
        }
        (15, 3..) => {
            let pref = u16::from_be_bytes([rdata[0], rdata[1]]);
            out = format!("{pref} ");
            if read_name(msg, start + 2, &mut out).is_none() {
                out.clear();
                escape_bytes(rdata, &mut out);
            }
        }
        (33, 7..) => {
            if read_name(msg, start + 6, &mut out).is_none() {
                out.clear();
                escape_bytes(rdata, &mut out);
            }
        }
        (16, _) => {
            let mut rest = rdata;
            while let Some((&n, tail)) = rest.split_first() {
                let n = usize::from(n).min(tail.len());
                if !out.is_empty() {
                    out.push(' ');
                }
                escape_bytes(&tail[..n], &mut out);
                rest = &tail[n..];
                if out.len() > dnshunt_core::WireAnswer::MAX_TEXT {
                    break;
                }
            }
        }
        // Binary records (NULL, private types): the first bytes show what they are; the size is
        // kept whole.
        _ => escape_bytes(&rdata[..rdata.len().min(MAX_BINARY_SHOWN)], &mut out),
    }
    dnshunt_core::WireAnswer::cut_text(&mut out);
    (out, ip)
}

/// Steps over a name without reading its text: the position after it, or `None` when it runs
/// past the end.
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *msg.get(pos)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Some(pos + 1),
            0x00 => pos += 1 + usize::from(len),
            0xc0 => {
                msg.get(pos + 1)?;
                return Some(pos + 2);
            }
            _ => return None,
        }
    }
}

/// Reads a (possibly compressed) name at `pos` into `out`; returns the position after it in
/// the message (after the first pointer when compressed). `None` when it runs past the end or
/// loops. Raw label bytes are escaped; an empty name (the root) is written as nothing.
pub fn read_name(msg: &[u8], mut pos: usize, out: &mut String) -> Option<usize> {
    let mut after = None;
    let mut pointers = 0;
    let start_len = out.len();
    let mut first = true;
    loop {
        let len = *msg.get(pos)?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    return Some(after.unwrap_or(pos + 1));
                }
                let label = msg.get(pos + 1..pos + 1 + usize::from(len))?;
                if !first || out.len() > start_len {
                    out.push('.');
                }
                first = false;
                for &b in label {
                    match b {
                        b'A'..=b'Z' => out.push(b.to_ascii_lowercase() as char),
                        b'.' => out.push_str("\\x2e"),
                        0x21..=0x7e => out.push(b as char),
                        _ => escape_bytes(&[b], out),
                    }
                }
                pos += 1 + usize::from(len);
                // A name of more than 4 KiB of text is cut: nothing legitimate comes close.
                if out.len() - start_len > 4096 {
                    return None;
                }
            }
            0xc0 => {
                let low = *msg.get(pos + 1)?;
                let target = (usize::from(len & 0x3f) << 8) | usize::from(low);
                if after.is_none() {
                    after = Some(pos + 2);
                }
                pointers += 1;
                // A pointer must point backwards; loops are cut by the count.
                if target >= pos || pointers > MAX_POINTERS {
                    return None;
                }
                pos = target;
            }
            // 0x40 and 0x80 are extended label types (RFC 6891 obsoleted them): unreadable.
            _ => return None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A message built by hand: header, questions, and answers as (name bytes, type, rdata).
    pub(crate) fn build(id: u16, flags: u16, qname: &[u8], qtype: u16, answers: &[(&[u8], u16, &[u8])]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&id.to_be_bytes());
        m.extend_from_slice(&flags.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(&(answers.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]);
        m.extend_from_slice(qname);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        for (name, rtype, rdata) in answers {
            m.extend_from_slice(name);
            m.extend_from_slice(&rtype.to_be_bytes());
            m.extend_from_slice(&1u16.to_be_bytes());
            m.extend_from_slice(&300u32.to_be_bytes());
            m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            m.extend_from_slice(rdata);
        }
        m
    }

    /// `a.example.org` in wire form.
    const QNAME: &[u8] = b"\x01a\x07example\x03org\x00";

    #[test]
    fn decodes_a_response_with_compression() {
        // Answers name the question by a pointer to offset 12.
        let m = build(0x1234, 0x8180, QNAME, 1, &[(b"\xc0\x0c", 5, b"\x03cdn\xc0\x0e"), (b"\xc0\x0c", 1, &[93, 184, 216, 34])]);
        let d = decode(&m).unwrap();
        assert_eq!(d.header.id, 0x1234);
        assert!(d.header.response && d.header.rd && d.header.ra && !d.header.aa);
        assert_eq!(d.questions[0].name, "a.example.org");
        assert_eq!(d.answers.len(), 2);
        assert_eq!(d.answers[0].data, "cdn.example.org");
        assert_eq!(d.answers[1].data, "93.184.216.34");
        assert_eq!(d.answers[1].ip, Some("93.184.216.34".parse().unwrap()));
        assert_eq!(d.answers[1].ttl, 300);
        assert!(!d.truncated_records);
    }

    #[test]
    fn keeps_raw_label_bytes_and_odd_types() {
        // iodine-style: raw bytes in a label, NULL answer with binary data.
        let qname = b"\x05a\x00\xffb.\x06pirate\x03sea\x00";
        let m = build(7, 0x8400, qname, 10, &[(b"\xc0\x0c", 10, b"\x00\x01\xfe")]);
        let d = decode(&m).unwrap();
        assert_eq!(d.questions[0].name, "a\\x00\\xffb\\x2e.pirate.sea");
        assert_eq!(d.answers[0].rtype, 10);
        assert_eq!(d.answers[0].size, 3);
        assert_eq!(d.answers[0].data, "\\x00\\x01\\xfe");
        // A private-use type (65399) is kept too.
        let m = build(8, 0x8400, QNAME, 65399, &[(b"\xc0\x0c", 65399, b"abc")]);
        assert_eq!(decode(&m).unwrap().answers[0].data, "abc");
    }

    #[test]
    fn txt_strings_are_joined() {
        let m = build(1, 0x8180, QNAME, 16, &[(b"\xc0\x0c", 16, b"\x03abc\x02de")]);
        assert_eq!(decode(&m).unwrap().answers[0].data, "abc de");
    }

    #[test]
    fn a_cut_record_keeps_the_ones_before() {
        let mut m = build(1, 0x8180, QNAME, 1, &[(b"\xc0\x0c", 1, &[1, 2, 3, 4]), (b"\xc0\x0c", 1, &[5, 6, 7, 8])]);
        m.truncate(m.len() - 2);
        let d = decode(&m).unwrap();
        assert_eq!(d.answers.len(), 1);
        assert!(d.truncated_records);
    }

    #[test]
    fn loops_and_forward_pointers_end_the_name() {
        // The question's name is a pointer to itself.
        let m = build(1, 0x0100, b"\xc0\x0c", 1, &[]);
        assert_eq!(decode(&m), Err(DecodeError::BadQuestion));
        assert_eq!(decode(&[0; 5]), Err(DecodeError::Short(5)));
        // A query without questions decodes (empty).
        let mut empty = build(1, 0x0100, QNAME, 1, &[]);
        empty[5] = 0;
        assert!(decode(&empty).unwrap().questions.is_empty());
    }
}

//! DNS and connections seen on the network: packet captures, Zeek's `dns.log` and `conn.log`,
//! Suricata's EVE `dns`, `flow` and `tls` records.
//!
//! A wire event has no process of its own: the sensor saw addresses and ports. Its `lookup`
//! (the name asked for, a status and the answers in the same form as Sysmon's EID 22) lets
//! the name detectors judge it like any other lookup; the rest is what only the wire has: the
//! question's type and class, the response code and flags, the answers' TTLs, sizes and
//! contents, the bytes of the question and the answer, the transport and the 5-tuple.

use std::net::IpAddr;

use serde::Serialize;

use crate::{DnsQuery, ProcessRef, QueryStatus, RecordType};

/// Where a wire record came from: the kind of sensor that wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensor {
    /// A pcap or pcapng capture decoded by dnshunt.
    Pcap,
    Zeek,
    Suricata,
}

/// The transport of a DNS exchange or a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    Udp,
    Tcp,
    #[default]
    Other,
}

impl Transport {
    /// From a protocol name as Zeek, Suricata or Sysmon write it (`udp`, `TCP`).
    pub fn from_name(name: &str) -> Transport {
        if name.eq_ignore_ascii_case("udp") {
            Transport::Udp
        } else if name.eq_ignore_ascii_case("tcp") {
            Transport::Tcp
        } else {
            Transport::Other
        }
    }
}

/// An address and a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// One resource record of a response, as far as it could be decoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WireAnswer {
    /// The owner name, lower case, without the trailing dot.
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: RecordType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    /// The record data's length in bytes on the wire (`None` when the sensor did not say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// The data in text: an address, a name, TXT strings joined by a space, or other bytes
    /// escaped as Zeek writes them (`\x00`); at most [`WireAnswer::MAX_TEXT`] bytes kept.
    pub data: String,
}

impl WireAnswer {
    /// How much of a record's text is kept (the size is kept whole).
    pub const MAX_TEXT: usize = 1024;

    /// Cuts a record's text to at most [`WireAnswer::MAX_TEXT`] bytes, at a character boundary.
    pub fn cut_text(text: &mut String) {
        if text.len() > Self::MAX_TEXT {
            let mut cut = Self::MAX_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
    }

    /// Whether the record is of a type whose data a tunnel fills: CNAME, NULL, MX, TXT, SPF
    /// and the private-use types.
    pub fn carries_payload(&self) -> bool {
        matches!(self.rtype.0, 5 | 10 | 15 | 16 | 99) || self.rtype.0 >= 65280
    }
}

/// The header flags of a DNS response (or of the query when no response was seen).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DnsFlags {
    /// Authoritative answer.
    pub aa: bool,
    /// Truncated.
    pub tc: bool,
    /// Recursion desired.
    pub rd: bool,
    /// Recursion available.
    pub ra: bool,
}

/// A DNS exchange seen on the wire: a question and, when it was seen, its response.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WireDns {
    /// The lookup in Sysmon's terms: the process (empty until attribution names it), the name,
    /// a status derived from the response code, and the answers.
    #[serde(flatten)]
    pub lookup: DnsQuery,
    pub sensor: Sensor,
    pub transport: Transport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qtype: Option<RecordType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qclass: Option<u16>,
    /// The response code; `None` when no response was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcode: Option<u16>,
    pub flags: DnsFlags,
    /// Every record of the answer section, with TTLs, sizes and contents.
    pub records: Vec<WireAnswer>,
    /// Bytes of the DNS message of the question and of the response (without UDP/TCP headers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_bytes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_bytes: Option<u32>,
    /// Milliseconds from the question to the response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<u32>,
    /// The sensor's id of the exchange's connection (Zeek `uid`, Suricata `flow_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// A connection seen on the wire (Zeek `conn.log`, Suricata `flow`, `tls`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WireFlow {
    /// The process that made the connection, when attribution joined it to a Sysmon EID 3;
    /// empty otherwise.
    pub process: ProcessRef,
    pub sensor: Sensor,
    pub transport: Transport,
    pub client: Endpoint,
    pub server: Endpoint,
    /// Zeek's `service` / Suricata's `app_proto` (`dns`, `ssl`, `tls`, `http` ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The TLS server name (SNI), when the sensor logged one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}:{}", self.port),
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

impl WireDns {
    /// An exchange with its lookup, sensor and transport only; the rest as the sensor tells it.
    pub fn new(lookup: DnsQuery, sensor: Sensor, transport: Transport) -> WireDns {
        WireDns {
            lookup,
            sensor,
            transport,
            client: None,
            server: None,
            transaction_id: None,
            qtype: None,
            qclass: None,
            rcode: None,
            flags: DnsFlags::default(),
            records: Vec::new(),
            query_bytes: None,
            response_bytes: None,
            rtt_ms: None,
            uid: None,
        }
    }

    /// One line for an analyst: `DNS TXT a.example.org 10.0.0.5:5353 → 4.2.2.4:53 NXDOMAIN,
    /// 0 answers, 46/102 bytes`.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut s = String::from("DNS ");
        if let Some(t) = self.qtype {
            let _ = write!(s, "{t} ");
        }
        s.push_str(self.lookup.query.as_str());
        if let (Some(c), Some(srv)) = (self.client, self.server) {
            let _ = write!(s, " {c} → {srv}");
        }
        match self.rcode {
            Some(r) => {
                let _ = write!(s, " {}, {} answers", rcode_name(r), self.records.len());
            }
            None => s.push_str(" (no response seen)"),
        }
        if self.query_bytes.is_some() || self.response_bytes.is_some() {
            let show = |b: Option<u32>| b.map_or_else(|| "?".to_owned(), |b| b.to_string());
            let _ = write!(s, ", {}/{} bytes", show(self.query_bytes), show(self.response_bytes));
        }
        s
    }
}

impl WireFlow {
    /// A connection with its ends only; the rest as the sensor tells it.
    pub fn new(sensor: Sensor, transport: Transport, client: Endpoint, server: Endpoint) -> WireFlow {
        WireFlow {
            process: ProcessRef::default(),
            sensor,
            transport,
            client,
            server,
            service: None,
            server_name: None,
            duration_ms: None,
            client_bytes: None,
            server_bytes: None,
            uid: None,
        }
    }

    /// One line for an analyst: `tcp 10.0.0.5:50123 → 8.8.8.8:443 (ssl, SNI dns.google)`.
    pub fn summary(&self) -> String {
        let transport = match self.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Other => "ip",
        };
        let mut s = format!("{transport} {} → {}", self.client, self.server);
        match (&self.service, &self.server_name) {
            (Some(svc), Some(sni)) => s.push_str(&format!(" ({svc}, SNI {sni})")),
            (None, Some(sni)) => s.push_str(&format!(" (SNI {sni})")),
            (Some(svc), None) => s.push_str(&format!(" ({svc})")),
            (None, None) => {}
        }
        s
    }
}

/// The Win32 status Sysmon would have logged for a response code: NOERROR with answers is
/// success, NOERROR without is NODATA (9501), NXDOMAIN 9003, SERVFAIL 9002, REFUSED 9005, and
/// the others 9000 + rcode as `winerror.h` numbers them. No response seen is a timeout (1460).
pub fn status_of_rcode(rcode: Option<u16>, answers: usize) -> QueryStatus {
    match rcode {
        None => QueryStatus(1460),
        Some(0) if answers == 0 => QueryStatus::NO_RECORDS,
        Some(0) => QueryStatus::SUCCESS,
        Some(code) => QueryStatus(9000 + u32::from(code)),
    }
}

/// The mnemonic of a response code (`NXDOMAIN`), or its number.
pub fn rcode_name(rcode: u16) -> std::borrow::Cow<'static, str> {
    const NAMES: [&str; 11] = [
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
    ];
    match NAMES.get(usize::from(rcode)) {
        Some(n) => (*n).into(),
        None => rcode.to_string().into(),
    }
}

/// A response code from its mnemonic (`NXDOMAIN` → 3) or number.
pub fn rcode_from_name(name: &str) -> Option<u16> {
    let name = name.trim();
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    (0u16..11).find(|&c| rcode_name(c).eq_ignore_ascii_case(name))
}

/// Escapes bytes as Zeek does: printable ASCII as is, everything else `\xNN` (and `\` as `\x5c`).
pub fn escape_bytes(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            out.push(b as char);
        } else {
            out.push('\\');
            out.push('x');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_rcode_and_answers() {
        assert_eq!(status_of_rcode(Some(0), 2), QueryStatus::SUCCESS);
        assert_eq!(status_of_rcode(Some(0), 0), QueryStatus::NO_RECORDS);
        assert!(status_of_rcode(Some(3), 0).is_nxdomain());
        assert_eq!(status_of_rcode(Some(2), 0).name(), Some("DNS_ERROR_RCODE_SERVER_FAILURE"));
        assert_eq!(status_of_rcode(Some(5), 0).name(), Some("DNS_ERROR_RCODE_REFUSED"));
        assert_eq!(status_of_rcode(None, 0).name(), Some("ERROR_TIMEOUT"));
    }

    #[test]
    fn rcode_names_round_trip() {
        for c in 0..11 {
            assert_eq!(rcode_from_name(&rcode_name(c)), Some(c));
        }
        assert_eq!(rcode_from_name("nxdomain"), Some(3));
        assert_eq!(rcode_name(23), "23");
        assert_eq!(rcode_from_name("BOGUS"), None);
    }

    #[test]
    fn escapes_like_zeek() {
        let mut s = String::new();
        escape_bytes(b"a\x00b\\\xff", &mut s);
        assert_eq!(s, "a\\x00b\\x5c\\xff");
    }
}

//! `QueryResults`: the answers Sysmon logged for a lookup.
//!
//! Sysmon writes one string: `type:  5 youtube-ui.l.google.com;::ffff:172.217.24.142;` — entries
//! separated by `;`, a `type:` prefix (one or two spaces, then the decimal record type) for
//! non-address records, IPv4 addresses `::ffff:`-mapped, and `-` when there is nothing. Winlogbeat
//! 6 split the same text into an array (`["type:5 youtube-ui.l.google.com", "172.217.31.174"]`).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use serde::{Serialize, Serializer};

/// A DNS record type code with its mnemonic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordType(pub u16);

impl RecordType {
    pub const A: RecordType = RecordType(1);
    pub const NS: RecordType = RecordType(2);
    pub const CNAME: RecordType = RecordType(5);
    pub const SOA: RecordType = RecordType(6);
    pub const NULL: RecordType = RecordType(10);
    pub const PTR: RecordType = RecordType(12);
    pub const MX: RecordType = RecordType(15);
    pub const TXT: RecordType = RecordType(16);
    pub const AAAA: RecordType = RecordType(28);
    pub const SRV: RecordType = RecordType(33);
    pub const ANY: RecordType = RecordType(255);

    /// The IANA mnemonic, or `None` for codes without one.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "A",
            2 => "NS",
            3 => "MD",
            4 => "MF",
            5 => "CNAME",
            6 => "SOA",
            7 => "MB",
            8 => "MG",
            9 => "MR",
            10 => "NULL",
            11 => "WKS",
            12 => "PTR",
            13 => "HINFO",
            14 => "MINFO",
            15 => "MX",
            16 => "TXT",
            17 => "RP",
            18 => "AFSDB",
            19 => "X25",
            20 => "ISDN",
            21 => "RT",
            24 => "SIG",
            25 => "KEY",
            28 => "AAAA",
            29 => "LOC",
            33 => "SRV",
            35 => "NAPTR",
            36 => "KX",
            37 => "CERT",
            39 => "DNAME",
            41 => "OPT",
            42 => "APL",
            43 => "DS",
            44 => "SSHFP",
            45 => "IPSECKEY",
            46 => "RRSIG",
            47 => "NSEC",
            48 => "DNSKEY",
            49 => "DHCID",
            50 => "NSEC3",
            51 => "NSEC3PARAM",
            52 => "TLSA",
            53 => "SMIMEA",
            55 => "HIP",
            59 => "CDS",
            60 => "CDNSKEY",
            61 => "OPENPGPKEY",
            62 => "CSYNC",
            63 => "ZONEMD",
            64 => "SVCB",
            65 => "HTTPS",
            99 => "SPF",
            108 => "EUI48",
            109 => "EUI64",
            249 => "TKEY",
            250 => "TSIG",
            251 => "IXFR",
            252 => "AXFR",
            253 => "MAILB",
            254 => "MAILA",
            255 => "ANY",
            256 => "URI",
            257 => "CAA",
            _ => return None,
        })
    }

    /// Looks a mnemonic up (`"TXT"` → 16), case-insensitively; also accepts `TYPE16` and `16`.
    ///
    /// A table built once, not a scan of the 65,536 codes per call: ECS documents name every
    /// answer's type, and a scan per unknown name made a file of such answers take 100 µs per
    /// answer (found by fuzzing).
    pub fn from_name(name: &str) -> Option<RecordType> {
        use std::collections::HashMap;
        use std::sync::OnceLock;
        static BY_NAME: OnceLock<HashMap<&'static str, u16, foldhash::fast::FixedState>> = OnceLock::new();
        // Upper-cased on the stack: every mnemonic and `TYPE65535` fit in 16 bytes.
        let name = name.trim();
        let mut buf = [0u8; 16];
        let owned;
        let upper: &str = match buf.get_mut(..name.len()) {
            Some(bytes) => {
                bytes.copy_from_slice(name.as_bytes());
                bytes.make_ascii_uppercase();
                std::str::from_utf8(bytes).expect("changing ASCII case keeps UTF-8")
            }
            None => {
                owned = name.to_ascii_uppercase();
                &owned
            }
        };
        if let Ok(code) = upper.trim_start_matches("TYPE").parse::<u16>() {
            return Some(RecordType(code));
        }
        let table = BY_NAME.get_or_init(|| {
            let mut table = HashMap::with_hasher(foldhash::fast::FixedState::default());
            for code in 0..=u16::MAX {
                if let Some(name) = RecordType(code).name() {
                    // The lowest code of a name wins, as the scan found it first.
                    table.entry(name).or_insert(code);
                }
            }
            table
        });
        table.get(upper).map(|&code| RecordType(code))
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "TYPE{}", self.0),
        }
    }
}

impl Serialize for RecordType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What one answer entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum AnswerData {
    /// An address (A or AAAA); `::ffff:`-mapped IPv4 is stored as IPv4.
    Ip(IpAddr),
    /// A name (CNAME, PTR, NS, MX, SRV target ...), lower case, no trailing dot.
    Name(String),
    /// Nothing: Sysmon logs only the type of TXT, NULL and similar records (`type:16 `).
    #[serde(serialize_with = "serialize_none")]
    Empty,
}

fn serialize_none<S: Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_none()
}

/// One typed answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Answer {
    #[serde(rename = "type")]
    pub rtype: RecordType,
    pub data: AnswerData,
}

impl Answer {
    pub fn ip(&self) -> Option<IpAddr> {
        match self.data {
            AnswerData::Ip(ip) => Some(ip),
            _ => None,
        }
    }

    pub fn name(&self) -> Option<&str> {
        match &self.data {
            AnswerData::Name(n) => Some(n),
            _ => None,
        }
    }
}

/// Parses the Sysmon string form. Returns the answers and the number of entries that could not
/// be understood (kept out of the answers, reported by the caller).
pub fn parse_query_results(text: &str, out: &mut Vec<Answer>) -> usize {
    let mut bad = 0;
    for entry in text.split(';') {
        if !parse_entry(entry, out) {
            bad += 1;
        }
    }
    bad
}

/// Parses one entry of either form (`type:  5 name`, `::ffff:1.2.3.4`, `1.2.3.4`, `-`, ``).
/// Returns false when the entry is not empty and not understood.
pub fn parse_entry(entry: &str, out: &mut Vec<Answer>) -> bool {
    let entry = entry.trim();
    if entry.is_empty() || entry == "-" {
        return true;
    }
    if let Some(rest) = entry.strip_prefix("type:") {
        let rest = rest.trim_start();
        let code_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let Ok(code) = rest[..code_len].parse::<u16>() else {
            return false;
        };
        let value = rest[code_len..].trim();
        let rtype = RecordType(code);
        let data = if value.is_empty() {
            AnswerData::Empty
        } else if let Some(ip) = parse_ip(value).filter(|_| matches!(rtype, RecordType::A | RecordType::AAAA)) {
            AnswerData::Ip(ip)
        } else {
            let value = value.strip_suffix('.').unwrap_or(value);
            AnswerData::Name(value.to_ascii_lowercase())
        };
        out.push(Answer { rtype, data });
        return true;
    }
    match parse_ip(entry) {
        Some(ip) => {
            let rtype = if ip.is_ipv4() { RecordType::A } else { RecordType::AAAA };
            out.push(Answer { rtype, data: AnswerData::Ip(ip) });
            true
        }
        None => false,
    }
}

/// Parses an address, turning `::ffff:a.b.c.d` into IPv4 and dropping an IPv6 zone (`%12`).
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let text = text.split_once('%').map_or(text, |(addr, _zone)| addr);
    let ip: IpAddr = text.parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => canonical_v6(v6),
        v4 => v4,
    })
}

fn canonical_v6(v6: Ipv6Addr) -> IpAddr {
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<String>, usize) {
        let mut out = Vec::new();
        let bad = parse_query_results(text, &mut out);
        let shown = out
            .iter()
            .map(|a| match &a.data {
                AnswerData::Ip(ip) => format!("{} {ip}", a.rtype),
                AnswerData::Name(n) => format!("{} {n}", a.rtype),
                AnswerData::Empty => format!("{}", a.rtype),
            })
            .collect();
        (shown, bad)
    }

    #[track_caller]
    fn check(text: &str, expected: &[&str]) {
        let (shown, bad) = parse(text);
        assert_eq!(shown, expected);
        assert_eq!(bad, 0);
    }

    #[test]
    fn sysmon_string_form() {
        check(
            "type:  5 youtube-ui.l.google.com;::ffff:172.217.24.142;::ffff:216.58.197.206;",
            &["CNAME youtube-ui.l.google.com", "A 172.217.24.142", "A 216.58.197.206"],
        );
        check(
            "type:5 github.map.fastly.net;::ffff:151.101.248.133;",
            &["CNAME github.map.fastly.net", "A 151.101.248.133"],
        );
        check("fe80::1c2d:3e4f:5a6b:7c8d;192.168.47.145;", &["AAAA fe80::1c2d:3e4f:5a6b:7c8d", "A 192.168.47.145"]);
        check("-", &[]);
        check("", &[]);
    }

    #[test]
    fn txt_lookup_has_only_the_type() {
        check("type:16 ", &["TXT"]);
        check("type:  10 ", &["NULL"]);
    }

    #[test]
    fn ipv6_zone_and_other_types() {
        check("fe80::1%12;", &["AAAA fe80::1"]);
        check("type:  12 host.example.com.;", &["PTR host.example.com"]);
        check("type:  33 dc01.corp.local;", &["SRV dc01.corp.local"]);
    }

    #[test]
    fn garbage_entries_are_counted() {
        let (shown, bad) = parse("::ffff:1.2.3.4;not-an-address;type:x foo;");
        assert_eq!(shown, ["A 1.2.3.4"]);
        assert_eq!(bad, 2);
    }

    #[test]
    fn record_type_names() {
        assert_eq!(RecordType(16).to_string(), "TXT");
        assert_eq!(RecordType(10).to_string(), "NULL");
        assert_eq!(RecordType(255).to_string(), "ANY");
        assert_eq!(RecordType(4242).to_string(), "TYPE4242");
        assert_eq!(RecordType::from_name("txt"), Some(RecordType::TXT));
        assert_eq!(RecordType::from_name("TYPE65"), Some(RecordType(65)));
    }

    #[test]
    fn every_record_type_name_is_found_and_unknown_names_are_none() {
        for code in 0..=u16::MAX {
            if let Some(name) = RecordType(code).name() {
                assert_eq!(RecordType::from_name(name).and_then(RecordType::name), Some(name));
                assert_eq!(RecordType::from_name(&name.to_ascii_lowercase()).and_then(RecordType::name), Some(name));
            }
        }
        assert_eq!(RecordType::from_name("ZZZ"), None);
        assert_eq!(RecordType::from_name(""), None);
    }
}

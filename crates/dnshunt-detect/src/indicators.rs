//! Indicator lists: domains (matching subdomains too), addresses and networks.
//!
//! Parsing is pure (the caller reads the file) and accepts the shapes lists come in: one entry a
//! line, hosts-file lines (`0.0.0.0 evil.example`), `entry<TAB>tag` and `entry,tag` (a family or
//! source column), `#` comments, and URLs (reduced to their host).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

/// Where an entry came from, for explanations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The list's name (usually its file name).
    pub list: u32,
    /// A tag from the line (malware family, source), when the list has one.
    pub tag: Option<Box<str>>,
}

/// A match: which indicator, from which list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit<'l> {
    /// The list entry that matched (`evil.example`, `203.0.113.0/24`).
    pub indicator: String,
    pub list: &'l str,
    pub tag: Option<&'l str>,
}

/// What a parse skipped, for the user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParseReport {
    pub domains: usize,
    pub addresses: usize,
    pub networks: usize,
    /// Lines that were not an indicator, with their line numbers (first few).
    pub rejected: usize,
    pub rejected_examples: Vec<(usize, String)>,
}

/// A set of indicator lists.
#[derive(Clone, Debug, Default)]
pub struct IndicatorSet {
    lists: Vec<String>,
    domains: HashMap<Box<str>, Entry>,
    addresses: HashMap<IpAddr, Entry>,
    /// Networks by prefix length: the address is masked once per distinct length.
    networks: HashMap<(bool, u8), HashMap<IpAddr, Entry>>,
    prefix_lengths: BTreeSet<(bool, u8)>,
}

impl IndicatorSet {
    pub fn new() -> IndicatorSet {
        IndicatorSet::default()
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty() && self.addresses.is_empty() && self.networks.is_empty()
    }

    pub fn len(&self) -> usize {
        self.domains.len() + self.addresses.len() + self.networks.values().map(HashMap::len).sum::<usize>()
    }

    /// Adds a list from its text.
    pub fn add_list(&mut self, name: &str, text: &str) -> ParseReport {
        let list = self.lists.len() as u32;
        self.lists.push(name.to_owned());
        let mut report = ParseReport::default();
        for (line_no, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut tokens = line.split(['\t', ',', ' ']).map(str::trim).filter(|t| !t.is_empty());
            let Some(mut first) = tokens.next() else { continue };
            let mut second = tokens.next();
            // hosts-file: `0.0.0.0 evil.example`
            if matches!(first, "0.0.0.0" | "127.0.0.1" | "::" | "::1") {
                if let Some(host) = second {
                    first = host;
                    second = tokens.next();
                }
            }
            let entry = Entry { list, tag: second.map(Box::from) };
            match classify(first) {
                Some(Indicator::Domain(d)) => {
                    add(self.domains.entry(d.into()), entry);
                    report.domains += 1;
                }
                Some(Indicator::Address(ip)) => {
                    add(self.addresses.entry(ip), entry);
                    report.addresses += 1;
                }
                Some(Indicator::Network(ip, len)) => {
                    let key = (ip.is_ipv6(), len);
                    self.prefix_lengths.insert(key);
                    add(self.networks.entry(key).or_default().entry(mask(ip, len)), entry);
                    report.networks += 1;
                }
                None => {
                    report.rejected += 1;
                    if report.rejected_examples.len() < 5 {
                        report.rejected_examples.push((line_no + 1, line.chars().take(80).collect()));
                    }
                }
            }
        }
        report
    }

    fn hit<'s>(&'s self, indicator: String, entry: &'s Entry) -> Hit<'s> {
        Hit {
            indicator,
            list: &self.lists[entry.list as usize],
            tag: entry.tag.as_deref(),
        }
    }

    /// The name or its nearest listed parent domain.
    pub fn match_domain(&self, name: &str) -> Option<Hit<'_>> {
        if self.domains.is_empty() {
            return None;
        }
        let name = name.strip_suffix('.').unwrap_or(name);
        let mut candidate = name;
        loop {
            if let Some(entry) = self.domains.get(candidate) {
                return Some(self.hit(candidate.to_owned(), entry));
            }
            match candidate.find('.') {
                Some(i) => candidate = &candidate[i + 1..],
                None => return None,
            }
        }
    }

    /// The address itself, or the most specific listed network holding it.
    pub fn match_ip(&self, ip: IpAddr) -> Option<Hit<'_>> {
        if let Some(entry) = self.addresses.get(&ip) {
            return Some(self.hit(ip.to_string(), entry));
        }
        for &(v6, len) in self.prefix_lengths.iter().rev() {
            if v6 != ip.is_ipv6() {
                continue;
            }
            let net = mask(ip, len);
            if let Some(entry) = self.networks.get(&(v6, len)).and_then(|m| m.get(&net)) {
                return Some(self.hit(format!("{net}/{len}"), entry));
            }
        }
        None
    }
}

/// Adds an entry; an indicator listed again (another family, another list) keeps its first
/// list and gathers the tags (`adwind, agenttesla`), a few at most.
fn add<K>(slot: std::collections::hash_map::Entry<'_, K, Entry>, entry: Entry) {
    const MAX_TAGS: usize = 5;
    match slot {
        std::collections::hash_map::Entry::Vacant(v) => {
            v.insert(entry);
        }
        std::collections::hash_map::Entry::Occupied(mut o) => {
            let existing = o.get_mut();
            if let Some(new) = entry.tag {
                match &existing.tag {
                    None => existing.tag = Some(new),
                    Some(old) if !old.split(", ").any(|t| t == &*new) && old.split(", ").count() < MAX_TAGS => {
                        existing.tag = Some(format!("{old}, {new}").into());
                    }
                    Some(_) => {}
                }
            }
        }
    }
}

enum Indicator {
    Domain(String),
    Address(IpAddr),
    Network(IpAddr, u8),
}

fn classify(token: &str) -> Option<Indicator> {
    if let Some((addr, len)) = token.split_once('/') {
        if let (Some(ip), Ok(len)) = (dnshunt_core::parse_ip(addr), len.parse::<u8>()) {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            // A mapped IPv6 prefix (::ffff:1.2.3.0/120) becomes its IPv4 network.
            let len = if ip.is_ipv4() && addr.contains(':') { len.checked_sub(96)? } else { len };
            return (len <= max).then_some(if len == max { Indicator::Address(ip) } else { Indicator::Network(ip, len) });
        }
    }
    if let Some(ip) = dnshunt_core::parse_ip(token) {
        return Some(Indicator::Address(ip));
    }
    // URLs: keep the host.
    let host = token.split_once("://").map_or(token, |(_, rest)| rest);
    let host = host.split(['/', '?']).next().unwrap_or(host);
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_start_matches("*.").trim_start_matches('.').trim_end_matches('.').to_ascii_lowercase();
    if let Some(ip) = dnshunt_core::parse_ip(&host) {
        return Some(Indicator::Address(ip));
    }
    let valid = host.contains('.')
        && host.len() <= 253
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    valid.then_some(Indicator::Domain(host))
}

fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len as u32) };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if len == 0 { 0 } else { u128::MAX << (128 - len as u32) };
            IpAddr::V6((bits & m).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> IndicatorSet {
        let mut s = IndicatorSet::new();
        s.add_list("test.txt", text);
        s
    }

    #[test]
    fn domains_match_themselves_and_subdomains_only() {
        let s = set("evil.example\n# comment\nbad.test.com  # trailing comment\n");
        assert_eq!(s.match_domain("evil.example").unwrap().indicator, "evil.example");
        assert_eq!(s.match_domain("a.b.evil.example").unwrap().indicator, "evil.example");
        assert!(s.match_domain("notevil.example").is_none());
        assert!(s.match_domain("test.com").is_none());
        assert_eq!(s.match_domain("x.bad.test.com").unwrap().list, "test.txt");
    }

    #[test]
    fn shapes_of_lists() {
        let s = set("0.0.0.0 hosts.example\nfamily.example\tEmotet\ncsv.example,qakbot\nhttp://url.example:8080/path?x=1\n*.wild.example\nnot a domain!\n");
        assert!(s.match_domain("hosts.example").is_some());
        assert_eq!(s.match_domain("family.example").unwrap().tag, Some("Emotet"));
        assert_eq!(s.match_domain("csv.example").unwrap().tag, Some("qakbot"));
        assert!(s.match_domain("url.example").is_some());
        assert!(s.match_domain("a.wild.example").is_some());
    }

    #[test]
    fn addresses_and_networks() {
        let s = set("203.0.113.7\n198.51.100.0/24\n2001:db8::/32\n10.0.0.0/8\n10.1.0.0/16 inner\n");
        assert_eq!(s.match_ip("203.0.113.7".parse().unwrap()).unwrap().indicator, "203.0.113.7");
        assert!(s.match_ip("203.0.113.8".parse().unwrap()).is_none());
        assert_eq!(s.match_ip("198.51.100.99".parse().unwrap()).unwrap().indicator, "198.51.100.0/24");
        assert_eq!(s.match_ip("2001:db8:1::5".parse().unwrap()).unwrap().indicator, "2001:db8::/32");
        let inner = s.match_ip("10.1.2.3".parse().unwrap()).unwrap();
        assert_eq!((inner.indicator.as_str(), inner.tag), ("10.1.0.0/16", Some("inner")), "most specific network wins");
        assert!(s.match_ip("192.0.2.1".parse().unwrap()).is_none());
    }

    #[test]
    fn rejects_are_reported_with_line_numbers() {
        let mut s = IndicatorSet::new();
        let report = s.add_list("l", "good.example\nbad entry!\n");
        assert_eq!(report.domains, 1);
        assert_eq!(report.rejected, 1);
        assert_eq!(report.rejected_examples[0].0, 2);
    }
}

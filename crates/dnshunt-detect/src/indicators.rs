//! Indicator lists: domains (matching subdomains too), addresses and networks.
//!
//! Parsing is pure (the caller reads the file) and accepts the shapes lists come in: one entry a
//! line, hosts-file lines (`0.0.0.0 evil.example`), `entry<TAB>tag` and `entry,tag` (a family or
//! source column), `#` comments, and URLs (reduced to their host).

use crate::fast::HashMap;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

/// Where an entry came from, for explanations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The list's name (usually its file name).
    pub list: u32,
    /// A tag from the line (malware family, source), when the list has one. Tags repeat
    /// (thousands of entries of one family) and are shared.
    pub tag: Option<Arc<str>>,
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

/// Domain maps: a key's shard is picked by the top bits of a fixed hash, so a list is parsed
/// and inserted by several threads at once, each owning some shards.
const SHARDS: usize = 16;
/// Lists smaller than this are read on one thread.
const PARALLEL_FROM_BYTES: usize = 1 << 20;

fn shard_of(domain: &str) -> usize {
    use std::hash::BuildHasher;
    // Any fixed seed: the shard only spreads keys, the maps themselves are seeded per process.
    (foldhash::fast::FixedState::with_seed(0x9e37_79b9_7f4a_7c15).hash_one(domain) >> 60) as usize % SHARDS
}

/// A set of indicator lists.
#[derive(Clone, Debug)]
pub struct IndicatorSet {
    lists: Vec<String>,
    domains: Vec<DomainMap>,
    addresses: HashMap<IpAddr, Entry>,
    /// Networks by prefix length: the address is masked once per distinct length.
    networks: HashMap<(bool, u8), HashMap<IpAddr, Entry>>,
    prefix_lengths: BTreeSet<(bool, u8)>,
}

impl Default for IndicatorSet {
    fn default() -> Self {
        IndicatorSet {
            lists: Vec::new(),
            domains: (0..SHARDS).map(|_| HashMap::default()).collect(),
            addresses: HashMap::default(),
            networks: HashMap::default(),
            prefix_lengths: BTreeSet::new(),
        }
    }
}

/// Domains of one part of a list bound for one shard, in line order.
type ShardPart = Vec<(Box<str>, Entry)>;
/// Lists run to millions of entries: no per-entry allocation beyond the key.
type DomainMap = HashMap<Box<str>, Entry>;

/// What one thread made of its part of a list, in line order.
#[derive(Default)]
struct Parsed {
    /// Per shard.
    domains: Vec<ShardPart>,
    addresses: Vec<(IpAddr, Entry)>,
    networks: Vec<(IpAddr, u8, Entry)>,
    report: ParseReport,
}

impl IndicatorSet {
    pub fn new() -> IndicatorSet {
        IndicatorSet::default()
    }

    pub fn is_empty(&self) -> bool {
        self.domains.iter().all(HashMap::is_empty) && self.addresses.is_empty() && self.networks.is_empty()
    }

    pub fn len(&self) -> usize {
        self.domains.iter().map(HashMap::len).sum::<usize>() + self.addresses.len() + self.networks.values().map(HashMap::len).sum::<usize>()
    }

    /// Adds a list from its text. Large lists are parsed and inserted on all cores; the result
    /// is the same as reading the lines in order (an indicator listed twice keeps its first
    /// entry and gathers the tags).
    pub fn add_list(&mut self, name: &str, text: &str) -> ParseReport {
        let list = self.lists.len() as u32;
        self.lists.push(name.to_owned());
        let threads = if text.len() < PARALLEL_FROM_BYTES {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
        };
        let parts = split_at_lines(text, threads);
        let parsed: Vec<Parsed> = if parts.len() == 1 {
            vec![parse_part(list, parts[0].0, parts[0].1)]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = parts.iter().map(|&(part, first_line)| scope.spawn(move || parse_part(list, part, first_line))).collect();
                handles.into_iter().map(|h| h.join().expect("parsing a list part does not panic")).collect()
            })
        };
        // Each shard takes its entries from every part, in order.
        let mut per_shard: Vec<Vec<ShardPart>> = (0..SHARDS).map(|_| Vec::with_capacity(parsed.len())).collect();
        let mut report = ParseReport::default();
        let (mut addresses, mut networks) = (Vec::new(), Vec::new());
        for mut part in parsed {
            for (shard, entries) in part.domains.drain(..).enumerate() {
                per_shard[shard].push(entries);
            }
            addresses.push(part.addresses);
            networks.push(part.networks);
            report.domains += part.report.domains;
            report.addresses += part.report.addresses;
            report.networks += part.report.networks;
            report.rejected += part.report.rejected;
            for example in part.report.rejected_examples {
                if report.rejected_examples.len() < 5 {
                    report.rejected_examples.push(example);
                }
            }
        }
        let fill = |map: &mut DomainMap, parts: Vec<ShardPart>| {
            map.reserve(parts.iter().map(Vec::len).sum());
            for (key, entry) in parts.into_iter().flatten() {
                add(map.entry(key), entry);
            }
        };
        if threads == 1 {
            for (map, parts) in self.domains.iter_mut().zip(per_shard) {
                fill(map, parts);
            }
        } else {
            let mut work: Vec<Vec<(&mut DomainMap, Vec<ShardPart>)>> = (0..threads).map(|_| Vec::new()).collect();
            for (i, pair) in self.domains.iter_mut().zip(per_shard).enumerate() {
                work[i % threads].push(pair);
            }
            std::thread::scope(|scope| {
                for shards in work {
                    scope.spawn(move || {
                        for (map, parts) in shards {
                            fill(map, parts);
                        }
                    });
                }
            });
        }
        for (ip, entry) in addresses.into_iter().flatten() {
            add(self.addresses.entry(ip), entry);
        }
        for (ip, len, entry) in networks.into_iter().flatten() {
            let key = (ip.is_ipv6(), len);
            self.prefix_lengths.insert(key);
            add(self.networks.entry(key).or_default().entry(mask(ip, len)), entry);
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
        if self.domains.iter().all(HashMap::is_empty) {
            return None;
        }
        let name = name.strip_suffix('.').unwrap_or(name);
        let mut candidate = name;
        loop {
            if let Some(entry) = self.domains[shard_of(candidate)].get(candidate) {
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

/// Cuts `text` into about `n` parts at line ends, each with the number of lines before it.
fn split_at_lines(text: &str, n: usize) -> Vec<(&str, usize)> {
    let mut parts = Vec::with_capacity(n);
    let (mut rest, mut lines_before) = (text, 0);
    let target = text.len() / n.max(1) + 1;
    while parts.len() + 1 < n && rest.len() > target {
        let cut = rest[target..].find('\n').map_or(rest.len(), |i| target + i + 1);
        let (part, tail) = rest.split_at(cut);
        parts.push((part, lines_before));
        lines_before += part.bytes().filter(|&b| b == b'\n').count();
        rest = tail;
    }
    parts.push((rest, lines_before));
    parts
}

/// Reads the lines of one part of a list.
fn parse_part(list: u32, text: &str, first_line: usize) -> Parsed {
    let mut out = Parsed {
        domains: (0..SHARDS).map(|_| Vec::new()).collect(),
        ..Parsed::default()
    };
    let expected = text.bytes().filter(|&b| b == b'\n').count() / SHARDS + 1;
    for v in &mut out.domains {
        v.reserve(expected);
    }
    // Tags repeat (one family over thousands of lines): one shared string each.
    let mut tags: HashMap<&str, Arc<str>> = HashMap::default();
    let mut last_tag: Option<(&str, Arc<str>)> = None;
    for (i, line) in text.lines().enumerate() {
        let line = match line.find('#') {
            Some(i) => &line[..i],
            None => line,
        }
        .trim();
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
        let tag = second.map(|t| match &last_tag {
            Some((text, arc)) if *text == t => arc.clone(),
            _ => {
                let arc = tags.entry(t).or_insert_with(|| Arc::from(t)).clone();
                last_tag = Some((t, arc.clone()));
                arc
            }
        });
        let entry = Entry { list, tag };
        match classify(first) {
            Some(Indicator::Domain(d)) => {
                out.domains[shard_of(&d)].push((Box::from(&*d), entry));
                out.report.domains += 1;
            }
            Some(Indicator::Address(ip)) => {
                out.addresses.push((ip, entry));
                out.report.addresses += 1;
            }
            Some(Indicator::Network(ip, len)) => {
                out.networks.push((ip, len, entry));
                out.report.networks += 1;
            }
            None => {
                out.report.rejected += 1;
                if out.report.rejected_examples.len() < 5 {
                    out.report.rejected_examples.push((first_line + i + 1, line.chars().take(80).collect()));
                }
            }
        }
    }
    out
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
                        existing.tag = Some(Arc::from(format!("{old}, {new}")));
                    }
                    Some(_) => {}
                }
            }
        }
    }
}

enum Indicator<'t> {
    Domain(Cow<'t, str>),
    Address(IpAddr),
    Network(IpAddr, u8),
}

/// Whether `token` may be an address: IPv6 always has a `:`, IPv4 is digits and dots.
fn could_be_ip(token: &str) -> bool {
    token.contains(':') || token.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

fn classify(token: &str) -> Option<Indicator<'_>> {
    if let Some((addr, len)) = token.split_once('/') {
        if let (Some(ip), Ok(len)) = (could_be_ip(addr).then(|| dnshunt_core::parse_ip(addr)).flatten(), len.parse::<u8>()) {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            // A mapped IPv6 prefix (::ffff:1.2.3.0/120) becomes its IPv4 network.
            let len = if ip.is_ipv4() && addr.contains(':') { len.checked_sub(96)? } else { len };
            return (len <= max).then_some(if len == max { Indicator::Address(ip) } else { Indicator::Network(ip, len) });
        }
    }
    if could_be_ip(token) {
        if let Some(ip) = dnshunt_core::parse_ip(token) {
            return Some(Indicator::Address(ip));
        }
    }
    // URLs: keep the host.
    let host = token.split_once("://").map_or(token, |(_, rest)| rest);
    let host = host.split(['/', '?']).next().unwrap_or(host);
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_start_matches("*.").trim_start_matches('.').trim_end_matches('.');
    if could_be_ip(host) {
        if let Some(ip) = dnshunt_core::parse_ip(host) {
            return Some(Indicator::Address(ip));
        }
    }
    let valid = host.contains('.')
        && host.len() <= 253
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    if !valid {
        return None;
    }
    Some(Indicator::Domain(if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }))
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
    fn large_lists_read_in_parallel_mean_the_same_as_line_by_line() {
        // Over the parallel threshold: parts are cut at line ends, duplicates across parts keep
        // the first entry and gather tags in line order, rejects keep their line numbers.
        let mut text = String::from("dup.example\tfirst\n");
        for i in 0..120_000 {
            text.push_str(&format!("d{i}.example\tfam{}\n", i % 7));
        }
        text.push_str("not a domain!\n203.0.113.0/24,net\n2001:db8::1\ndup.example\tlast\n");
        assert!(text.len() > PARALLEL_FROM_BYTES);
        let parts = split_at_lines(&text, 4);
        assert_eq!(parts.len(), 4);
        assert_eq!(parts.iter().map(|p| p.0).collect::<String>(), text, "the parts cover the text");
        assert!(parts.iter().all(|p| p.0.ends_with('\n')));
        assert_eq!(parts[1].1, parts[0].0.lines().count());

        let mut s = IndicatorSet::new();
        let report = s.add_list("big.txt", &text);
        assert_eq!((report.domains, report.addresses, report.networks, report.rejected), (120_002, 1, 1, 1));
        assert_eq!(report.rejected_examples, [(120_002, "not a domain!".to_owned())]);
        assert_eq!(s.len(), 120_001 + 2);
        let dup = s.match_domain("www.dup.example").unwrap();
        assert_eq!((dup.list, dup.tag), ("big.txt", Some("first, last")));
        assert_eq!(s.match_domain("d119999.example").unwrap().tag, Some("fam5"), "119999 % 7 = 5");
        assert!(s.match_domain("d120000.example").is_none());
        assert_eq!(s.match_ip("203.0.113.9".parse().unwrap()).unwrap().tag, Some("net"));
        assert!(s.match_ip("2001:db8::1".parse().unwrap()).is_some());
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

//! Small, allocation-light helpers shared by the behavioural detectors: robust statistics
//! (median, quartiles, median absolute deviation), character entropy, address classes and the
//! keys detectors group events by.
//!
//! The quartile and MAD definitions follow the ones RITA uses (the Go `montanaflynn/stats`
//! package): quartiles are Tukey's hinges (the medians of the lower and upper halves, the middle
//! value excluded when the count is odd) and the MAD is the plain median of absolute deviations,
//! without the 1.4826 normal-consistency factor. Where a detector wants a robust z-score it
//! applies that factor itself.

use std::net::IpAddr;

use dnshunt_core::Event;

/// The median of sorted values (0 for none).
pub fn median_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Tukey's hinges of sorted values: (Q1, Q2, Q3).
pub fn quartiles_sorted(sorted: &[f64]) -> (f64, f64, f64) {
    let n = sorted.len();
    let (c1, c2) = if n % 2 == 0 { (n / 2, n / 2) } else { ((n - 1) / 2, (n - 1) / 2 + 1) };
    (median_sorted(&sorted[..c1]), median_sorted(sorted), median_sorted(&sorted[c2.min(n)..]))
}

/// The median absolute deviation from the median, of sorted values.
pub fn mad_sorted(sorted: &[f64]) -> f64 {
    let m = median_sorted(sorted);
    let mut dev: Vec<f64> = sorted.iter().map(|x| (x - m).abs()).collect();
    dev.sort_by(f64::total_cmp);
    median_sorted(&dev)
}

/// Median and MAD of a histogram of small integers (`hist[v]` = how often `v` was seen).
pub fn median_mad_histogram(hist: &[u32]) -> Option<(f64, f64)> {
    let total: u64 = hist.iter().map(|&c| c as u64).sum();
    if total == 0 {
        return None;
    }
    let median = histogram_median(hist.iter().enumerate().map(|(v, &c)| (v as f64, c as u64)), total);
    let mut dev: Vec<(f64, u64)> = hist
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > 0)
        .map(|(v, &c)| ((v as f64 - median).abs(), c as u64))
        .collect();
    dev.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mad = histogram_median(dev.into_iter(), total);
    Some((median, mad))
}

/// The median of (value, count) pairs given in ascending value order.
fn histogram_median(pairs: impl Iterator<Item = (f64, u64)>, total: u64) -> f64 {
    // The lower and upper middle ranks (0-based); equal when the total is odd.
    let (lo, hi) = ((total - 1) / 2, total / 2);
    let (mut lo_v, mut hi_v) = (None, None);
    let mut seen = 0u64;
    for (v, c) in pairs {
        if c == 0 {
            continue;
        }
        let next = seen + c;
        if lo_v.is_none() && lo < next {
            lo_v = Some(v);
        }
        if hi < next {
            hi_v = Some(v);
            break;
        }
        seen = next;
    }
    match (lo_v, hi_v) {
        (Some(a), Some(b)) => (a + b) / 2.0,
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => 0.0,
    }
}

/// A robust z-score: how many (normal-consistent) MADs `x` lies above the median. A MAD of zero
/// is replaced by `floor` so a constant history does not turn every deviation into infinity.
pub fn robust_z(x: f64, median: f64, mad: f64, floor: f64) -> f64 {
    let scale = (1.4826 * mad).max(floor);
    if scale <= 0.0 {
        return 0.0;
    }
    (x - median) / scale
}

/// Shannon entropy in bits per character.
pub fn entropy_bits_per_char(s: &str) -> f64 {
    entropy_bits_skipping(s, None).0
}

/// [`entropy_bits_per_char`] of `s` without the bytes `skip` (a name's dots), and the length
/// of what is left, without making it.
pub fn entropy_bits_skipping(s: &str, skip: impl Into<Option<u8>>) -> (f64, usize) {
    let skip = skip.into();
    let mut counts = [0u32; 256];
    let mut n = 0u32;
    for b in s.bytes() {
        if Some(b) != skip {
            counts[b as usize] += 1;
            n += 1;
        }
    }
    if n == 0 {
        return (0.0, 0);
    }
    let len = n as usize;
    let n = n as f64;
    (counts.iter().filter(|&&c| c > 0).map(|&c| c as f64 / n).map(|p| -p * p.log2()).sum(), len)
}

/// True for addresses on the public Internet: not private, loopback, link-local, multicast,
/// broadcast, unspecified, shared (CGNAT), benchmarking or documentation space.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80 || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

/// True for loopback, link-local, multicast, broadcast and unspecified addresses: traffic that
/// never leaves the machine's own link and is never the target of a name lookup.
pub fn is_local_only(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_link_local() || v4.is_multicast() || v4.is_broadcast() || v4.is_unspecified() || v4.octets()[3] == 255,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_local_only(IpAddr::V4(v4));
            }
            v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// A `(String, String)` key borrowed from the event: hashed as the tuple is (field by field),
/// so a `hashbrown` map keyed by the tuple finds the entry without allocating.
#[derive(Clone, Copy, Debug, Hash)]
pub struct StrPair<'a>(pub &'a str, pub &'a str);

impl StrPair<'_> {
    /// The owned key.
    pub fn to_key(self) -> (String, String) {
        (self.0.to_owned(), self.1.to_owned())
    }
}

/// Counts per (host, image) or any other pair of names, found by a borrowed [`StrPair`]: a key
/// is allocated once, when it is first counted.
#[derive(Debug, Default)]
pub struct PairCounts(hashbrown::HashMap<(String, String), u64, foldhash::fast::RandomState>);

impl PairCounts {
    /// Counts one for `key`; false (nothing counted) when `key` is new and `max` keys are held.
    pub fn add(&mut self, key: StrPair<'_>, max: usize) -> bool {
        if let Some(n) = self.0.get_mut(&key) {
            *n += 1;
        } else if self.0.len() < max {
            self.0.insert(key.to_key(), 1);
        } else {
            return false;
        }
        true
    }

    pub fn get(&self, key: StrPair<'_>) -> u64 {
        self.0.get(&key).copied().unwrap_or(0)
    }
}

impl hashbrown::Equivalent<(String, String)> for StrPair<'_> {
    fn equivalent(&self, key: &(String, String)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

/// Names a pure check of the name alone found nothing in, remembered so that a name asked for
/// again (a fleet asks for the same names all day) is not judged again. At most
/// [`QuietNames::MAX`] names, kept as their [`key_hash`] (no string is kept or compared); full,
/// it starts over. For detectors that judge by `&self`.
#[derive(Debug, Default)]
pub struct QuietNames(std::cell::RefCell<crate::fast::HashSet<u64>>);

impl QuietNames {
    pub const MAX: usize = 1 << 14;

    fn key(name: &dnshunt_core::DnsName) -> u64 {
        key_hash((name.as_str(), name.unicode().unwrap_or("")))
    }

    pub fn contains(&self, name: &dnshunt_core::DnsName) -> bool {
        self.0.borrow().contains(&Self::key(name))
    }

    pub fn insert(&self, name: &dnshunt_core::DnsName) {
        let mut names = self.0.borrow_mut();
        if names.len() >= Self::MAX {
            names.clear();
        }
        names.insert(Self::key(name));
    }
}

/// The event's host, or `""`.
pub fn host(event: &Event) -> &str {
    event.host.as_deref().unwrap_or("")
}

/// A hash of [`dnshunt_core::host_key`] of `host`, made without allocating for names (the
/// usual case): two spellings of one host (`WS-07`, `ws-07.corp.example.com`) hash alike.
pub fn host_key_hash(host: &str) -> u64 {
    use std::hash::BuildHasher;
    let hasher = foldhash::fast::FixedState::with_seed(0x686f_7374);
    let trimmed = host.trim().trim_end_matches('.').trim_end();
    let first = trimmed.split('.').next().unwrap_or(trimmed);
    // Only what could be an address (hex digits, dots, colons, then a zone) is parsed as one.
    let addr = trimmed.split_once('%').map_or(trimmed, |(a, _)| a);
    let maybe_ip = !addr.is_empty() && addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':');
    let mut buf = [0u8; 64];
    if first.is_ascii() && first.len() <= buf.len() && !(maybe_ip && dnshunt_core::parse_ip(trimmed).is_some()) {
        for (slot, b) in buf.iter_mut().zip(first.bytes()) {
            *slot = b.to_ascii_lowercase();
        }
        hasher.hash_one(&buf[..first.len()])
    } else {
        hasher.hash_one(dnshunt_core::host_key(host).as_bytes())
    }
}

/// The lower-case image file name of the event's process, or `""` when unknown.
pub fn image(event: &Event) -> String {
    event.process().image_name().unwrap_or_default()
}

/// [`image`] written into `out` (cleared first), for hot paths that reuse one buffer.
pub fn image_into(event: &Event, out: &mut String) {
    out.clear();
    if let Some(path) = event.process().image.as_deref() {
        let name = dnshunt_core::file_name_of(path);
        if name.bytes().all(|b| !b.is_ascii_uppercase() && b.is_ascii()) {
            out.push_str(name);
        } else if name.is_ascii() {
            out.extend(name.bytes().map(|b| b.to_ascii_lowercase() as char));
        } else {
            // `str::to_lowercase`, as `image` does (a final sigma is not `char::to_lowercase`'s).
            out.push_str(&name.to_lowercase());
        }
    }
}

/// The registrable domain of a query, or the whole name when it has none (single labels,
/// internal suffixes such as `.local`).
pub fn domain_of(name: &dnshunt_core::DnsName) -> &str {
    name.registered_domain().unwrap_or(name.as_str())
}

/// The 64-bit hash a table finds an entry by, so that a lookup compares no strings (the names
/// are kept once per entry, or made from its earliest event at the end of the run). Seeded at
/// random once per process: two keys that collide, about one chance in 10^8 at a million
/// entries, are counted as one, and an input cannot choose such a pair in advance.
pub fn key_hash<K: std::hash::Hash>(key: K) -> u64 {
    use std::hash::BuildHasher;
    static STATE: std::sync::LazyLock<foldhash::quality::RandomState> = std::sync::LazyLock::new(Default::default);
    STATE.hash_one(key)
}

/// A stable 64-bit hash of a string (FNV-1a), for compact distinct counts.
pub fn hash64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in s.as_bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Whether `event` comes before `than`: by time, then by where it was read (so the choice does
/// not depend on read order).
pub fn is_earlier(event: &Event, than: &Event) -> bool {
    if event.time != than.time {
        return event.time < than.time;
    }
    // Events of one file share its name: compare the lines without comparing the names.
    if std::sync::Arc::ptr_eq(&event.origin.file, &than.origin.file) {
        return (event.origin.line, event.origin.record) < (than.origin.line, than.origin.record);
    }
    dnshunt_core::evidence_order(event) < dnshunt_core::evidence_order(than)
}

/// Keeps the earliest of two events (by time, then origin), so a summary does not depend on the
/// order events arrived in.
pub fn keep_earliest(slot: &mut Option<Event>, event: &Event) {
    let replace = match slot {
        None => true,
        Some(e) => is_earlier(event, e),
    };
    if replace {
        *slot = Some(event.clone());
    }
}

/// An event to keep: the engine's shared one when there is one, else a copy.
pub fn to_keep(event: &Event, shared: Option<&std::sync::Arc<Event>>) -> std::sync::Arc<Event> {
    shared.cloned().unwrap_or_else(|| std::sync::Arc::new(event.clone()))
}

/// Keeps the earliest event in a slot whose kept event's time is also held inline (`earliest`,
/// kept up to date here): a later event is decided without reading the kept one, which in a large
/// table is a cache miss. `keep` gives the event to keep (usually [`to_keep`]).
pub fn keep_earliest_timed(slot: &mut Option<std::sync::Arc<Event>>, earliest: &mut dnshunt_core::Timestamp, event: &Event, keep: impl FnOnce() -> std::sync::Arc<Event>) {
    let replace = match slot {
        None => true,
        Some(_) if event.time > *earliest => false,
        Some(e) => is_earlier(event, e),
    };
    if replace {
        *slot = Some(keep());
        *earliest = event.time;
    }
}

/// Keeps the latest of two events (by time, then origin).
pub fn keep_latest(slot: &mut Option<Event>, event: &Event) {
    let replace = match slot {
        None => true,
        Some(e) => (event.time, &event.origin.file, event.origin.line, event.origin.record) > (e.time, &e.origin.file, e.origin.line, e.origin.record),
    };
    if replace {
        *slot = Some(event.clone());
    }
}

/// Score 0–100 for a severity, shared by the behavioural detectors.
pub fn score_for(severity: dnshunt_core::Severity) -> u8 {
    use dnshunt_core::Severity;
    match severity {
        Severity::Critical => 95,
        Severity::High => 80,
        Severity::Medium => 60,
        Severity::Low => 35,
        Severity::Info => 10,
    }
}

/// Score 0–100 for a severity, shared by the detectors that judge one event by pattern
/// (`special_name`, `process_context`): a notch below [`score_for`] for medium and low.
pub fn pattern_score(severity: dnshunt_core::Severity) -> u8 {
    use dnshunt_core::Severity;
    match severity {
        Severity::Critical => 95,
        Severity::High => 80,
        Severity::Medium => 55,
        Severity::Low => 30,
        Severity::Info => 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_key_hash_is_host_key_hashed_however_spelled() {
        let same = [
            ("WS-07", "ws-07.corp.example.com."),
            (" ws-07 ", "WS-07.Corp"),
            ("10.0.0.1", "::ffff:10.0.0.1"),
            ("fe80::1%eth0", "FE80::1"),
            ("ÉCOLE-1.example", "école-1"),
            ("deadbeef", "DEADBEEF.corp"),
            // A Kelvin sign lower-cases to an ASCII k: the two ways of hashing meet.
            ("\u{212A}ws-1", "kws-1"),
        ];
        for (a, b) in same {
            assert_eq!(dnshunt_core::host_key(a), dnshunt_core::host_key(b), "{a} / {b}");
            assert_eq!(host_key_hash(a), host_key_hash(b), "{a} / {b}");
        }
        for (a, b) in [("ws-07", "ws-08"), ("10.0.0.1", "10.0.0.2"), ("", "a")] {
            assert_ne!(host_key_hash(a), host_key_hash(b), "{a} / {b}");
        }
    }

    #[test]
    fn quartiles_follow_tukeys_hinges() {
        assert_eq!(quartiles_sorted(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]), (2.0, 4.0, 6.0));
        assert_eq!(quartiles_sorted(&[1.0, 2.0, 3.0, 4.0]), (1.5, 2.5, 3.5));
        assert_eq!(quartiles_sorted(&[1.0, 11.0, 142.0]), (1.0, 11.0, 142.0));
        assert_eq!(mad_sorted(&[1.0, 2.0, 3.0, 4.0, 100.0]), 1.0);
    }

    #[test]
    fn histogram_median_and_mad_match_the_plain_ones() {
        let values = [3u32, 5, 5, 7, 9, 9, 9, 30];
        let mut hist = vec![0u32; 40];
        for v in values {
            hist[v as usize] += 1;
        }
        let sorted: Vec<f64> = values.iter().map(|&v| v as f64).collect();
        assert_eq!(median_mad_histogram(&hist), Some((median_sorted(&sorted), mad_sorted(&sorted))));
        assert_eq!(median_mad_histogram(&[0, 0]), None);
    }

    #[test]
    fn address_classes() {
        for ip in ["8.8.8.8", "104.16.248.249", "2606:4700:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["10.0.5.13", "192.168.1.4", "127.0.0.1", "203.0.113.47", "fe80::1", "::1", "100.64.0.1", "224.0.0.251"] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        assert!(is_local_only("239.255.255.250".parse().unwrap()));
        assert!(!is_local_only("10.0.5.13".parse().unwrap()));
    }

    #[test]
    fn entropy() {
        assert_eq!(entropy_bits_per_char("aaaa"), 0.0);
        assert!((entropy_bits_per_char("abcd") - 2.0).abs() < 1e-9);
    }
}

/// An address or a CIDR network from a detector's config list (`10.0.0.53`, `10.20.0.0/16`,
/// `2620:fe::/48`). IPv4-mapped IPv6 addresses (`::ffff:10.0.0.53`) match their IPv4 form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// `address` or `address/prefix`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Network> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.trim().parse::<IpAddr>().ok()?, Some(p.trim().parse::<u8>().ok()?)),
            None => (text.parse::<IpAddr>().ok()?, None),
        };
        let (addr, prefix) = match (addr, addr.to_canonical()) {
            (IpAddr::V6(_), v4 @ IpAddr::V4(_)) => (v4, prefix.map(|p| p.saturating_sub(96))),
            _ => (addr, prefix),
        };
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        (prefix <= bits).then_some(Network { addr, prefix })
    }

    /// Every entry of a config list that parses; the others are skipped.
    pub fn parse_list(list: &[String]) -> Vec<Network> {
        list.iter().filter_map(|s| Network::parse(s)).collect()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, bits) = match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => (u32::from(n) as u128, u32::from(a) as u128, 32),
            (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n), u128::from(a), 128),
            _ => return false,
        };
        let host_bits = bits - self.prefix as u32;
        host_bits >= bits || (net >> host_bits) == (ip >> host_bits)
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bits = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == bits {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// The user-writable folder a program's image lies in, named as an analyst would: a Temp
/// folder, Downloads, Desktop, `Users\Public`, `$Recycle.Bin`, `PerfLogs`, or the root of
/// `ProgramData` (vendors install to its subfolders; droppers write to its root). `None`
/// elsewhere, including per-user installs in `AppData`.
/// `n` with its noun, singular or plural (`1 time`, `3 times`): explanations are read by people.
pub fn counted(n: impl Into<u64>, singular: &str, plural: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// Folders anyone can write to and droppers favour: (lower-case path part, how to name it).
pub const TEMP_LIKE_FOLDERS: &[(&str, &str)] = &[
    ("\\appdata\\local\\temp\\", "AppData\\Local\\Temp"),
    ("\\windows\\temp\\", "Windows\\Temp"),
    ("\\downloads\\", "Downloads"),
    ("\\desktop\\", "Desktop"),
    ("\\users\\public\\", "Users\\Public"),
    ("\\$recycle.bin\\", "$Recycle.Bin"),
    ("\\perflogs\\", "PerfLogs"),
];

pub fn user_writable_folder(image_path: &str) -> Option<&'static str> {
    let path = image_path.replace('/', "\\").to_lowercase();
    if let Some((_, name)) = TEMP_LIKE_FOLDERS.iter().find(|(p, _)| path.contains(p)) {
        return Some(name);
    }
    let i = path.find("\\programdata\\")?;
    (!path[i + "\\programdata\\".len()..].contains('\\')).then_some("the ProgramData root")
}

#[cfg(test)]
mod network_tests {
    use super::*;

    #[test]
    fn networks_parse_and_match() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let net = Network::parse(" 10.20.0.0/16 ").unwrap();
        assert!(net.contains(ip("10.20.255.1")) && net.contains(ip("::ffff:10.20.0.53")) && !net.contains(ip("10.21.0.1")));
        assert!(Network::parse("10.0.0.53").unwrap().contains(ip("10.0.0.53")));
        assert!(!Network::parse("10.0.0.53").unwrap().contains(ip("10.0.0.54")));
        assert!(Network::parse("2603:1000::/24").unwrap().contains(ip("2603:1061:14:29::6")));
        assert!(!Network::parse("2603:1000::/24").unwrap().contains(ip("2604:1061::1")));
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(!Network::parse("0.0.0.0/0").unwrap().contains(ip("::1")));
        assert!(Network::parse("::ffff:192.168.0.0/112").unwrap().contains(ip("192.168.4.4")));
        for bad in ["", "resolver", "10.0.0.0/33", "10.0.0.0/x", "::/129"] {
            assert_eq!(Network::parse(bad), None, "{bad}");
        }
        assert_eq!(Network::parse_list(&["1.1.1.1".into(), "no".into()]).len(), 1);
        assert_eq!(Network::parse("10.1.0.0/16").unwrap().to_string(), "10.1.0.0/16");
        assert_eq!(Network::parse("10.1.0.9").unwrap().to_string(), "10.1.0.9");
    }

    #[test]
    fn user_writable_folders() {
        assert_eq!(user_writable_folder("C:\\Users\\u\\Downloads\\tool.exe"), Some("Downloads"));
        assert_eq!(user_writable_folder("C:\\Users\\u\\AppData\\Local\\Temp\\x\\setup.exe"), Some("AppData\\Local\\Temp"));
        assert_eq!(user_writable_folder("C:\\ProgramData\\a.exe"), Some("the ProgramData root"));
        assert_eq!(user_writable_folder("C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18\\MsMpEng.exe"), None);
        assert_eq!(user_writable_folder("C:\\Users\\u\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe"), None);
        assert_eq!(user_writable_folder("C:\\Windows\\System32\\svchost.exe"), None);
    }
}

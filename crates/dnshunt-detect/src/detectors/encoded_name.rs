//! # encoded_name
//!
//! **What:** names that carry data rather than name a host: labels in hex, base32 or base64
//! (base128 for raw bytes), long labels (≥ 40 characters) and long names (≥ 100), many labels,
//! high per-label entropy, and the habits of the common DNS tunnels — dnscat2 (a `dnscat.`
//! prefix, data in several hex labels) and iodine (encoded payload right under a very short
//! tunnel label such as `.t.`). Each of these is a signal worth points; the severity grows with
//! how many agree (`details.signals`, `details.points`). Names under CDN, cloud and security
//! vendor domains (`data/infrastructure_domains.txt`), where hash-like subdomains are normal,
//! are capped at low.
//!
//! **Why:** DNS tunnels (dnscat2, iodine, Cobalt Strike's DNS beacon) and exfiltration tools
//! encode their data into the query name, one chunk per lookup, because DNS leaves networks
//! that block everything else.
//!
//! **ATT&CK:** T1071.004 (Application Layer Protocol: DNS), T1048.003 (Exfiltration Over
//! Unencrypted Non-C2 Protocol).
//!
//! **False positives:** reputation look-ups of security products (hashes as names, e.g.
//! `*.sophosxl.net`), anti-spam DNSBL queries, and some telemetry with hashed host names. Not
//! judged at all: service names (`_ldap._tcp.dc._msdcs.*`, DNS-SD), reverse look-ups
//! (`in-addr.arpa`, `ip6.arpa`) and the `ignore_domains` list (Microsoft's
//! `*.footprintdns.com` hex probes by default).

use std::sync::OnceLock;

use dnshunt_core::{Detector, DnsName, Event, Finding, Severity};
use dnshunt_enrich::features::{char_counts, shannon_entropy};
use serde::Deserialize;

use crate::detectors::{guid_key, who};
use crate::fast::HashSet;
use crate::stats::domain_of;

const INFRASTRUCTURE: &str = include_str!("../../data/infrastructure_domains.txt");

/// Whether the name is under a CDN, cloud or vendor domain of `data/infrastructure_domains.txt`.
pub fn is_infrastructure(name: &DnsName) -> bool {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let set = SET.get_or_init(|| INFRASTRUCTURE.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect());
    name.self_and_parents().any(|parent| set.contains(parent))
}

/// Settings of the `encoded_name` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EncodedNameConfig {
    /// A label must be at least this long to count as hex, base32 or base64.
    pub min_encoded_length: usize,
    /// A label at least this long is a signal (DNS allows 63).
    pub long_label: usize,
    /// A name at least this long is a signal (DNS allows 253).
    pub long_name: usize,
    /// A name with at least this many labels is a signal.
    pub many_labels: usize,
    /// A label with at least this Shannon entropy (bits per character) is a signal ...
    pub min_entropy: f64,
    /// ... when it is at least this long (short labels cannot reach a high entropy).
    pub entropy_min_length: usize,
    /// Points for a low finding; fewer points, no finding.
    pub low_points: u32,
    /// Points for a medium finding.
    pub medium_points: u32,
    /// Points for a high finding.
    pub high_points: u32,
    /// Highest severity for names under CDN, cloud and security-vendor domains.
    pub infrastructure_max_severity: Severity,
    /// Domains (with their subdomains) that are never judged.
    pub ignore_domains: Vec<String>,
}

impl Default for EncodedNameConfig {
    fn default() -> Self {
        EncodedNameConfig {
            min_encoded_length: 16,
            long_label: 40,
            long_name: 100,
            many_labels: 8,
            min_entropy: 3.8,
            entropy_min_length: 20,
            low_points: 2,
            medium_points: 4,
            high_points: 6,
            infrastructure_max_severity: Severity::Low,
            ignore_domains: vec!["footprintdns.com".into(), "in-addr.arpa".into(), "ip6.arpa".into()],
        }
    }
}

/// One thing about a name that tunnels do and ordinary names do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    Hex,
    Base32,
    Base64,
    Base128,
    LongLabel,
    LongName,
    ManyLabels,
    HighEntropy,
    Dnscat2,
    Iodine,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Hex => "hex",
            Signal::Base32 => "base32",
            Signal::Base64 => "base64",
            Signal::Base128 => "base128",
            Signal::LongLabel => "long_label",
            Signal::LongName => "long_name",
            Signal::ManyLabels => "many_labels",
            Signal::HighEntropy => "high_entropy",
            Signal::Dnscat2 => "dnscat2",
            Signal::Iodine => "iodine",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Signal::Hex => "hex-encoded labels",
            Signal::Base32 => "base32-encoded labels",
            Signal::Base64 => "base64-like labels",
            Signal::Base128 => "raw 8-bit (base128) labels",
            Signal::LongLabel => "a very long label",
            Signal::LongName => "a very long name",
            Signal::ManyLabels => "many labels",
            Signal::HighEntropy => "random-looking (high-entropy) labels",
            Signal::Dnscat2 => "dnscat2's naming",
            Signal::Iodine => "an iodine-style short tunnel label under the payload",
        }
    }

    fn points(self) -> u32 {
        match self {
            Signal::Hex | Signal::Base32 | Signal::Base64 | Signal::Base128 | Signal::LongLabel | Signal::Dnscat2 | Signal::Iodine => 2,
            Signal::LongName | Signal::ManyLabels | Signal::HighEntropy => 1,
        }
    }
}

/// What `encoded_name` sees in one name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Analysis {
    /// Signals, each once, in a fixed order.
    pub signals: Vec<Signal>,
    pub points: u32,
    /// Longest label of the whole name.
    pub longest_label: usize,
    /// Highest entropy of a judged label (bits per character).
    pub max_label_entropy: f64,
    /// The first encoded label, if any.
    pub payload: Option<String>,
    /// Why the name was not judged, if it was not.
    pub skipped: Option<&'static str>,
    /// Under a CDN, cloud or security-vendor domain.
    pub infrastructure: bool,
}

/// The detector.
pub struct EncodedName {
    config: EncodedNameConfig,
    /// Popularity ranks (`--rank`): popular registrable domains are damped, unranked raised.
    rank: Option<std::sync::Arc<dnshunt_enrich::rank::RankTable>>,
    /// Names that carry nothing encoded.
    quiet: crate::stats::QuietNames,
}

impl EncodedName {
    pub const NAME: &'static str = "encoded_name";

    pub fn new(mut config: EncodedNameConfig) -> EncodedName {
        for d in &mut config.ignore_domains {
            *d = d.trim_matches('.').to_ascii_lowercase();
        }
        EncodedName {
            config,
            rank: None,
            quiet: Default::default(),
        }
    }

    /// Uses popularity ranks ([`dnshunt_enrich::rank::damp`]).
    pub fn with_rank(mut self, rank: Option<std::sync::Arc<dnshunt_enrich::rank::RankTable>>) -> EncodedName {
        self.rank = rank;
        self
    }

    fn encoding(&self, label: &str) -> Option<Signal> {
        if label.len() < self.config.min_encoded_length {
            return None;
        }
        if !label.is_ascii() {
            return Some(Signal::Base128);
        }
        if label.starts_with("xn--") {
            return None;
        }
        let c = char_counts(label);
        let letters = c.vowels + c.consonants;
        if c.other == 0 && c.hyphens == 0 && label.bytes().all(|b| b.is_ascii_hexdigit()) {
            return (c.digits > 0 && letters > 0).then_some(Signal::Hex);
        }
        if c.digits == 0 || letters == 0 {
            return None;
        }
        // Encoded data scatters digits among the letters and has few vowels; words with a
        // number (`immobilienscout24`, `socialbookmarking2013`) do neither.
        let random = c.letter_digit_switches >= 3 || (c.vowels * 5 < letters && shannon_entropy(label) >= 3.5);
        if !random {
            return None;
        }
        // Base32 (RFC 4648 `a-z2-7`, iodine's `a-z0-5`) has no 8 or 9; base64 keeps every digit
        // and, in DNS, `-` or `_` for `+` and `/`.
        let base32_digits = label.bytes().filter(u8::is_ascii_digit).all(|b| b <= b'7');
        if c.other == 0 && c.hyphens == 0 && base32_digits && c.digits >= 2 {
            return Some(Signal::Base32);
        }
        let base64_chars = label.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'/' | b'='));
        (base64_chars && c.hyphens + c.other <= 2).then_some(Signal::Base64)
    }

    /// Judges one name.
    pub fn analyze(&self, name: &DnsName) -> Analysis {
        let mut a = Analysis::default();
        let ascii = name.as_str();
        a.longest_label = name.labels().map(str::len).max().unwrap_or(0);
        if name.labels().any(|l| l.starts_with('_')) {
            a.skipped = Some("service name");
            return a;
        }
        if name.self_and_parents().any(|p| self.config.ignore_domains.iter().any(|d| d == p)) {
            a.skipped = Some("ignored domain");
            return a;
        }
        a.infrastructure = is_infrastructure(name);
        // The labels an encoder controls: everything left of the public suffix, or the whole
        // name when the Public Suffix List does not know its end (`dnscat.<hex>` sent straight
        // to a tunnel server, internal names).
        let judged = match name.public_suffix() {
            Some(suffix) if ascii.len() > suffix.len() => &ascii[..ascii.len() - suffix.len() - 1],
            _ => ascii,
        };
        let labels: Vec<&str> = judged.split('.').filter(|l| !l.is_empty()).collect();
        let mut signals = Vec::new();
        let mut hex_labels = 0;
        let mut first_encoded = None;
        for (i, label) in labels.iter().enumerate() {
            if let Some(sig) = self.encoding(label) {
                signals.push(sig);
                hex_labels += usize::from(sig == Signal::Hex);
                first_encoded.get_or_insert(i);
            }
            if label.len() >= self.config.entropy_min_length {
                let e = shannon_entropy(label);
                a.max_label_entropy = a.max_label_entropy.max(e);
                if e >= self.config.min_entropy {
                    signals.push(Signal::HighEntropy);
                }
            }
        }
        if a.longest_label >= self.config.long_label {
            signals.push(Signal::LongLabel);
        }
        if ascii.len() >= self.config.long_name {
            signals.push(Signal::LongName);
        }
        if name.labels().count() >= self.config.many_labels {
            signals.push(Signal::ManyLabels);
        }
        if labels.first() == Some(&"dnscat") || hex_labels >= 2 {
            signals.push(Signal::Dnscat2);
        }
        if let Some(first) = first_encoded {
            // iodine: `<payload>.t.tunnel.example`; the labels between the payload and the
            // registrable label are all tiny.
            let last_encoded = (first..labels.len()).take_while(|&i| self.encoding(labels[i]).is_some()).last().unwrap_or(first);
            let end = labels.len().saturating_sub(1);
            let between = &labels[(last_encoded + 1).min(end)..end];
            if !between.is_empty() && between.iter().all(|l| l.len() <= 3) {
                signals.push(Signal::Iodine);
            }
            a.payload = Some(labels[first].chars().take(63).collect());
        }
        signals.sort();
        signals.dedup();
        a.points = signals.iter().map(|s| s.points()).sum();
        if labels.first() == Some(&"dnscat") {
            a.points += 1;
        }
        a.signals = signals;
        a
    }

    /// The severity of a finding for this analysis, if it makes one.
    pub fn severity(&self, a: &Analysis) -> Option<Severity> {
        let sev = if a.points >= self.config.high_points {
            Severity::High
        } else if a.points >= self.config.medium_points {
            Severity::Medium
        } else if a.points >= self.config.low_points {
            Severity::Low
        } else {
            return None;
        };
        Some(if a.infrastructure { sev.min(self.config.infrastructure_max_severity) } else { sev })
    }

    /// Judges one event (the detector keeps no state).
    pub fn judge(&self, event: &Event) -> Option<Finding> {
        let q = event.lookup()?;
        if self.quiet.contains(&q.query) {
            return None;
        }
        let a = self.analyze(&q.query);
        let Some(severity) = self.severity(&a) else {
            self.quiet.insert(&q.query);
            return None;
        };
        let score = (20 + a.points * 10).min(95) as u8;
        let rank = self.rank.as_ref().map(|t| t.rank_of(&q.query));
        let (severity, score) = dnshunt_enrich::rank::damp(severity, score, rank);
        let what = a.signals.iter().map(|s| s.describe()).collect::<Vec<_>>().join(", ");
        let vendor = if a.infrastructure {
            " (under a CDN, cloud or vendor domain, where such names are common)"
        } else {
            ""
        };
        let explanation = format!(
            "{} looked up {} with {what}{vendor}; DNS tunnels and exfiltration carry data in names like this",
            who(event),
            q.query
        );
        let guid = guid_key(event);
        let domain = domain_of(&q.query);
        let signals: Vec<&str> = a.signals.iter().map(|s| s.as_str()).collect();
        let mut f = Finding::from_event(Self::NAME, severity, score, event, &[&guid, domain], explanation)
            .with_attack(&["T1071.004", "T1048.003"])
            .with_detail("signals", signals)
            .with_detail("points", a.points)
            .with_detail("longest_label", a.longest_label)
            .with_detail("max_label_entropy", (a.max_label_entropy * 100.0).round() / 100.0)
            .with_detail("infrastructure", a.infrastructure);
        if let Some(p) = a.payload {
            f = f.with_detail("payload_label", p);
        }
        if let Some(rank) = rank {
            f = f.with_detail("rank", rank);
        }
        Some(f)
    }
}

impl Detector for EncodedName {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    /// Names seen on the wire are judged like Sysmon's.
    fn sees_wire(&self) -> bool {
        true
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<Finding>) {
        out.extend(self.judge(event));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::tests::dns;

    #[track_caller]
    fn check(name: &str, expected: Option<(Severity, &[&str])>) {
        let d = EncodedName::new(EncodedNameConfig::default());
        let got = d.judge(&dns(name, "-"));
        let got = got.as_ref().map(|f| {
            let signals: Vec<&str> = f.details["signals"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
            (f.severity, signals)
        });
        assert_eq!(got.as_ref().map(|(s, v)| (*s, v.as_slice())), expected, "{name}");
    }

    #[test]
    fn incident_base32_exfil_fires_high() {
        check(
            "nbxxg5b5k5js2qkdinkc2mbxhn2xgzlshvvs443borxtwzdpnu.0.t.exfil-sync.net",
            Some((Severity::High, &["base32", "long_label", "high_entropy", "iodine"])),
        );
        // The last, shorter chunk of the same transfer.
        check(
            "ojscyy3iojxw2zjmnvzwkzdhmu5q.4.t.exfil-sync.net",
            Some((Severity::Medium, &["base32", "high_entropy", "iodine"])),
        );
    }

    #[test]
    fn dnscat2_names_fire() {
        check("dnscat.8f1a0e3b2c4d5e6f7a8b9c0d1e2f3a4b", Some((Severity::High, &["hex", "high_entropy", "dnscat2"])));
        // Data split into hex labels under the tunnel domain.
        check(
            "3f5a0e9b01c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e.8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c.tunnel.example.com",
            Some((Severity::High, &["hex", "long_label", "long_name", "high_entropy", "dnscat2"])),
        );
        check(
            "0a1b2c3d4e5f60718293a4b5.c6d7e8f90a1b2c3d4e5f.tunnel.example.com",
            Some((Severity::Medium, &["hex", "high_entropy", "dnscat2"])),
        );
    }

    #[test]
    fn base64_and_base128_labels() {
        check("adf81kzq9x0v7mpqlw3nb8.cdn-sync.example.net", Some((Severity::Low, &["base64", "high_entropy"])));
        check("aGVsbG8gd29ybGQgZnJvbSB0aGUgdHVubmVs.x.example.net", Some((Severity::Medium, &["base64", "iodine"])));
    }

    #[test]
    fn ordinary_and_exempt_names_do_not_fire() {
        for name in [
            "www.youtube.com",
            "youtube-ui.l.google.com",
            "0543759ca9f47ed7899690b9f1753798.nrb.footprintdns.com",
            "_ldap._tcp.default-first-site-name._sites.dc._msdcs.theshire.local",
            "_kerberos._tcp.dc._msdcs.corp.example",
            "b._dns-sd._udp.0.1.168.192.in-addr.arpa",
            "25.247.63.23.in-addr.arpa",
            "statics-marketingsites-eus-ms-com.akamaized.net",
            "static-spartan-eus-s-msn-com.akamaized.net",
            "dw8wjz3q0i4gj.cloudfront.net",
            "md-xgq5px1vx0km.blob.core.windows.net",
            "wd-prod-cp-us-west-1-fe.westus.cloudapp.azure.com",
            "xn--wgv71a119e.jp",
            "api.update-cdn-sync.com",
            "wpad",
            "",
        ] {
            check(name, None);
        }
    }

    #[test]
    fn vendor_hash_names_are_capped_at_low() {
        check("0f3a9c2e7b1d4f8a6c5e3b2a1d0f9e8c.sophosxl.net", Some((Severity::Low, &["hex", "high_entropy"])));
        check(
            "a4f0c3e2b1d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3.avqs.mcafee.com",
            Some((Severity::Low, &["hex", "long_label", "high_entropy"])),
        );
        // Windows TPM key attestation: the EK hash as a label under Microsoft's zone.
        check(
            "7d8a2c4b9e3f1a6b5c0d2e4f6a8b0c1d7d8a2c4b9e3f1a6b5c0d2e4f6a8b0c1d.microsoftaik.azure.net",
            Some((Severity::Low, &["hex", "long_label", "high_entropy"])),
        );
    }

    #[test]
    fn thresholds_are_configurable() {
        let d = EncodedName::new(EncodedNameConfig {
            ignore_domains: vec!["Exfil-Sync.net.".into()],
            ..Default::default()
        });
        assert!(d.judge(&dns("nbxxg5b5k5js2qkdinkc2mbxhn2xgzlshvvs443borxtwzdpnu.0.t.exfil-sync.net", "-")).is_none());
        let d = EncodedName::new(EncodedNameConfig {
            many_labels: 4,
            long_name: 20,
            ..Default::default()
        });
        let a = d.analyze(&DnsName::new("a.b.c.d.really-long-name.example"));
        assert_eq!(a.signals, [Signal::LongName, Signal::ManyLabels]);
        assert_eq!(d.severity(&a), Some(Severity::Low));
    }

    /// Popular registrable domains are names, not data.
    #[test]
    fn few_findings_on_popular_domains() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/benign/alexa_100k_2013.csv");
        let Ok(text) = std::fs::read_to_string(path) else {
            assert!(std::env::var_os("CI").is_none(), "shared data missing: {path}");
            eprintln!("skipped: {path} missing");
            return;
        };
        let d = EncodedName::new(EncodedNameConfig::default());
        let mut n = 0usize;
        let mut hits = Vec::new();
        for domain in text.lines().filter_map(|l| l.rsplit(',').next()) {
            n += 1;
            let a = d.analyze(&DnsName::new(domain));
            if let Some(sev) = d.severity(&a) {
                hits.push(format!("{domain} {sev} {:?}", a.signals));
            }
        }
        eprintln!("encoded_name: {} of {n} popular domains fire: {:?}", hits.len(), &hits[..hits.len().min(30)]);
        assert!(n > 90_000, "{n}");
        assert!(hits.len() * 1000 <= n, "{} of {n}: {:?}", hits.len(), &hits[..hits.len().min(50)]);
    }

    /// Random names over an alphabet of dots, hyphens, digits, letters and multi-byte
    /// characters: every single-query detector must take them without panicking.
    #[test]
    fn random_names_never_panic() {
        use crate::detectors::doh_lookup::{DohLookup, DohLookupConfig};
        use crate::detectors::lookalike::{Lookalike, LookalikeConfig};
        use crate::detectors::special_name::{SpecialName, SpecialNameConfig};
        const ALPHABET: &[&str] = &[
            ".", ".", "-", "_", "0", "7", "9", "a", "e", "f", "p", "y", "z", "xn--", "com", "ру", "日", "é", "\u{0}", " ",
        ];
        let encoded = EncodedName::new(EncodedNameConfig::default());
        let lookalike = Lookalike::new(LookalikeConfig {
            protected: vec!["corp.example".into()],
            ..Default::default()
        });
        let special = SpecialName::new(SpecialNameConfig::default());
        let doh = DohLookup::new(DohLookupConfig::default(), Vec::new());
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..5_000 {
            let len = (next() % 40) as usize;
            let name: String = (0..len).map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize]).collect();
            let event = dns(&name, "-");
            let _ = (encoded.judge(&event), lookalike.judge(&event), special.judge(&event), doh.judge(&event));
        }
    }

    #[test]
    fn odd_names_do_not_panic() {
        let d = EncodedName::new(EncodedNameConfig::default());
        for name in [".", "..", "-", "a..b", "日本語", &"x".repeat(400), "\u{0}\u{1}", "ÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿ.example.com"] {
            let _ = d.judge(&dns(name, "-"));
        }
    }
}

//! Query names: lower case, no trailing dot, Punycode and Unicode forms, registrable domain.

use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// A normalised DNS name as the endpoint asked for it.
///
/// `ascii` is the wire form (Punycode labels stay `xn--`), lower case, without a trailing dot.
/// `unicode` is kept only when it differs (an IDN). The registrable domain (eTLD+1 by the Public
/// Suffix List) is stored as an offset into `ascii`, so it costs no allocation.
// Boxed strings and offsets with a sentinel: 40 bytes instead of 64, in every event.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DnsName {
    ascii: Box<str>,
    unicode: Option<Box<str>>,
    /// Offsets into `ascii`, or [`NONE`].
    registered_start: u32,
    suffix_start: u32,
}

/// No offset.
const NONE: u32 = u32::MAX;

fn offset(start: u32) -> Option<usize> {
    (start != NONE).then_some(start as usize)
}

impl DnsName {
    /// Normalises a name as Sysmon logged it. Never fails: odd names (single labels such as
    /// `wpad`, names with spaces) are kept as they are, lower-cased, with no registrable domain.
    pub fn new(raw: &str) -> DnsName {
        let trimmed = raw.trim();
        let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
        let ascii = if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
            trimmed.to_ascii_lowercase()
        } else {
            trimmed.to_owned()
        };
        Self::from_lowercase(ascii)
    }

    fn from_lowercase(mut ascii: String) -> DnsName {
        // A name logged in Unicode (rare, but some pipelines decode it) is turned into its
        // Punycode form so every detector sees one spelling.
        let mut unicode = None;
        if !ascii.is_ascii() {
            let (decoded_back, _) = idna::domain_to_unicode(&ascii);
            if let Ok(encoded) = idna::domain_to_ascii(&ascii) {
                unicode = Some(decoded_back);
                ascii = encoded;
            }
        } else if ascii.contains("xn--") {
            let (decoded, result) = idna::domain_to_unicode(&ascii);
            if result.is_ok() && decoded != ascii {
                unicode = Some(decoded);
            }
        }
        let (registered_start, suffix_start) = match psl::suffix(ascii.as_bytes()) {
            // Offsets past `u32` (a name of 4 GiB) are not kept: no such name is a domain.
            Some(suffix) if suffix.is_known() && suffix.as_bytes().len() < ascii.len() && ascii.len() < NONE as usize => {
                let s_start = ascii.len() - suffix.as_bytes().len();
                let reg = psl::domain(ascii.as_bytes()).map_or(NONE, |d| (ascii.len() - d.as_bytes().len()) as u32);
                (reg, s_start as u32)
            }
            _ => (NONE, NONE),
        };
        DnsName {
            ascii: ascii.into_boxed_str(),
            unicode: unicode.map(String::into_boxed_str),
            registered_start,
            suffix_start,
        }
    }

    /// The normalised wire form (`xn--wgv71a119e.jp`).
    pub fn as_str(&self) -> &str {
        &self.ascii
    }

    /// The decoded Unicode form, when the name is an IDN (`日本語.jp`).
    pub fn unicode(&self) -> Option<&str> {
        self.unicode.as_deref()
    }

    /// The registrable domain (eTLD+1), e.g. `google.com` for `youtube-ui.l.google.com`.
    pub fn registered_domain(&self) -> Option<&str> {
        offset(self.registered_start).map(|i| &self.ascii[i..])
    }

    /// The name's domain as every count of dnshunt keys it (stats, prevalence, the report,
    /// `sysmon-config`): the registered domain (eTLD+1), else the whole name when it has a dot
    /// and is not an address (internal names such as `dc01.corp.local` have no public suffix);
    /// `None` for single labels (`wpad`, `localhost`), addresses and empty names, which name no
    /// domain.
    pub fn domain_key(&self) -> Option<&str> {
        if let Some(domain) = self.registered_domain() {
            return Some(domain);
        }
        let name = self.as_str();
        (name.contains('.') && name.parse::<std::net::IpAddr>().is_err()).then_some(name)
    }

    /// The domain a name lives under as a DNS tunnel or a sensor sees it: the registered
    /// domain, or for names under a suffix the Public Suffix List does not know (lab and
    /// internal zones: `pirate.sea`, `example.attack`) the last two labels. `None` for single
    /// labels and names under special-use suffixes (`home.arpa`, the reverse zones, `local`).
    pub fn base_domain(&self) -> Option<&str> {
        const LOCAL: [&str; 5] = ["home.arpa", "in-addr.arpa", "ip6.arpa", "local", "localhost"];
        let full = self.as_str();
        if LOCAL.iter().any(|zone| in_zone(full, zone)) {
            return None;
        }
        if let Some(d) = self.registered_domain() {
            return Some(d);
        }
        let mut dots = full.rmatch_indices('.');
        dots.next()?;
        match dots.next() {
            Some((i, _)) => Some(&full[i + 1..]),
            None => Some(full),
        }
    }

    /// The public suffix (`com`, `co.jp`), when the name ends in a known one.
    pub fn public_suffix(&self) -> Option<&str> {
        offset(self.suffix_start).map(|i| &self.ascii[i..])
    }

    /// The part left of the registrable domain (`youtube-ui.l` of `youtube-ui.l.google.com`).
    pub fn subdomain(&self) -> Option<&str> {
        let start = offset(self.registered_start)?;
        (start > 1).then(|| &self.ascii[..start - 1])
    }

    /// Labels from left to right.
    pub fn labels(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.ascii.split('.')
    }

    /// This name and every parent domain, longest first (`a.b.com`, `b.com`, `com`).
    pub fn self_and_parents(&self) -> impl Iterator<Item = &str> {
        let s: &str = &self.ascii;
        std::iter::once(s).chain(s.match_indices('.').map(move |(i, _)| &s[i + 1..]))
    }
}

/// Whether `name` is `zone` or a name under it (`a.b.example.com` in `example.com`; not
/// `badexample.com`). Both lower case, without a trailing dot.
pub fn in_zone(name: &str, zone: &str) -> bool {
    name.strip_suffix(zone).is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.ascii)
    }
}

impl Serialize for DnsName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("DnsName", 3)?;
        st.serialize_field("name", &self.ascii)?;
        st.serialize_field("unicode", &self.unicode)?;
        st.serialize_field("registered_domain", &self.registered_domain())?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_domains_cover_unknown_suffixes_but_not_local_ones() {
        let base = |n: &str| DnsName::new(n).base_domain().map(str::to_owned);
        assert_eq!(base("a.b.google.co.jp").as_deref(), Some("google.co.jp"));
        assert_eq!(base("0aef.dnscat.pirate.sea").as_deref(), Some("pirate.sea"));
        assert_eq!(base("example.attack").as_deref(), Some("example.attack"));
        for none in ["wpad", "kdbuyqn.home.arpa", "4.3.2.1.in-addr.arpa", "printer.local", ""] {
            assert_eq!(base(none), None, "{none}");
        }
    }

    #[test]
    fn normalises_case_and_trailing_dot() {
        let n = DnsName::new("WWW.YouTube.com.");
        assert_eq!(n.as_str(), "www.youtube.com");
        assert_eq!(n.registered_domain(), Some("youtube.com"));
        assert_eq!(n.public_suffix(), Some("com"));
        assert_eq!(n.subdomain(), Some("www"));
        assert_eq!(n.unicode(), None);
    }

    #[test]
    fn seed_idn_keeps_both_forms() {
        let n = DnsName::new("xn--wgv71a119e.jp");
        assert_eq!(n.as_str(), "xn--wgv71a119e.jp");
        assert_eq!(n.unicode(), Some("日本語.jp"));
        assert_eq!(n.registered_domain(), Some("xn--wgv71a119e.jp"));
        let u = DnsName::new("日本語.JP");
        assert_eq!(u.as_str(), "xn--wgv71a119e.jp");
        assert_eq!(u.unicode(), Some("日本語.jp"));
    }

    #[test]
    fn multi_label_suffixes_and_single_labels() {
        assert_eq!(DnsName::new("www.amazon.co.jp").registered_domain(), Some("amazon.co.jp"));
        assert_eq!(DnsName::new("wpad").registered_domain(), None);
        assert_eq!(DnsName::new("co.jp").registered_domain(), None);
        assert_eq!(DnsName::new("dc01.pandalab.local").registered_domain(), None);
        let name = DnsName::new("a.b.example.com");
        let parents: Vec<_> = name.self_and_parents().collect();
        assert_eq!(parents, ["a.b.example.com", "b.example.com", "example.com", "com"]);
    }

    #[test]
    fn domain_keys_are_registered_domains_else_multi_label_names() {
        let key = |n: &str| DnsName::new(n).domain_key().map(str::to_owned);
        assert_eq!(key("WWW.Example.COM."), Some("example.com".into()));
        assert_eq!(key("dc01.corp.local"), Some("dc01.corp.local".into()));
        for none in ["wpad", "localhost", "MKT01", "10.1.2.3", "", "::1"] {
            assert_eq!(key(none), None, "{none}");
        }
    }

    #[test]
    fn broken_punycode_is_kept_verbatim() {
        let n = DnsName::new("xn--zz.example.com");
        assert_eq!(n.as_str(), "xn--zz.example.com");
    }
}

//! The registrable label of a name: the one label its owner chose, left of the public suffix.
//!
//! DGAs generate the label that is registered (`qvtrokzlmwhe` of `qvtrokzlmwhe.com`), so that
//! is the label worth scoring. Machine-made labels *under* a registered domain (CDN objects,
//! cloud endpoints such as `3a7f9c.cloudfront.net` or `e1234.dscb.akamaiedge.net`) are chosen by
//! the service, not by an attacker, and look random by design; scoring them would flag half of
//! all traffic. So the suffix used here is the ICANN part of the Public Suffix List: the private
//! entries (`cloudfront.net`, `s3.amazonaws.com`, `blogspot.com`) count as ordinary registered
//! domains, and `3a7f9c.cloudfront.net` yields `cloudfront`.
//!
//! Two exceptions follow how DGAs are deployed:
//! - dynamic-DNS zones ([`DYNAMIC_DNS_SUFFIXES`]), where anyone can claim a label with no
//!   registrar (`exampleqzx.ddns.net` yields `exampleqzx`);
//! - alternative roots outside the ICANN root that malware uses because they cannot be seized
//!   ([`ALTERNATIVE_ROOTS`], e.g. EmerDNS `.bazar`).
//!
//! Names with no known suffix at all (`wpad`, `dc01.corp.local`) have no registrable label.

use dnshunt_core::DnsName;

/// Private PSL suffixes of free dynamic-DNS services, under which the next label is chosen by
/// the user (and so by a DGA) rather than by the service.
pub const DYNAMIC_DNS_SUFFIXES: &[&str] = &[
    "ddns.net",
    "hopto.org",
    "zapto.org",
    "sytes.net",
    "servebeer.com",
    "serveftp.com",
    "no-ip.biz",
    "no-ip.info",
    "no-ip.org",
    "no-ip.net",
    "no-ip.co.uk",
    "noip.me",
    "myftp.biz",
    "myftp.org",
    "redirectme.net",
    "duckdns.org",
    "dyndns.org",
    "dyndns.info",
    "dynu.net",
    "freedns.org",
    "mooo.com",
    "chickenkiller.com",
    "afraid.org",
];

/// Top-level domains of alternative roots (EmerDNS, Namecoin, OpenNIC) seen in malware.
pub const ALTERNATIVE_ROOTS: &[&str] = &["bazar", "bit", "coin", "emc", "lib"];

/// A registrable label and the suffix it was registered under, both slices of the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegistrableLabel<'a> {
    /// `google` of `www.google.co.jp`.
    pub label: &'a str,
    /// `co.jp` of `www.google.co.jp`.
    pub suffix: &'a str,
}

/// Special-use suffixes whose names are local by definition, never registered (RFC 6761,
/// RFC 8375): a resolver appends the home network's `home.arpa` to a single-label name (so
/// Chromium's random intranet-redirect probes reach the wire as `kdbuyqn.home.arpa`).
pub const LOCAL_SUFFIXES: &[&str] = &["home.arpa", "in-addr.arpa", "ip6.arpa"];

/// The registrable label of a normalised name (see the module documentation). `None` for
/// names under [`LOCAL_SUFFIXES`].
pub fn registrable_label(name: &DnsName) -> Option<RegistrableLabel<'_>> {
    if let Some(suffix) = name.public_suffix() {
        if LOCAL_SUFFIXES.contains(&suffix) {
            return None;
        }
    }
    // Fast path: a one-label public suffix (`com`, `jp`) is always an ICANN entry (private
    // entries sit under one), so the offsets the name already holds are the answer.
    if let (Some(registered), Some(suffix)) = (name.registered_domain(), name.public_suffix()) {
        if !suffix.contains('.') {
            let label = registered.get(..registered.len().saturating_sub(suffix.len() + 1))?;
            return (!label.is_empty()).then_some(RegistrableLabel { label, suffix });
        }
    }
    registrable_label_str(name.as_str())
}

/// [`registrable_label`] for a string that is already lower case without a trailing dot.
pub fn registrable_label_str(name: &str) -> Option<RegistrableLabel<'_>> {
    if LOCAL_SUFFIXES.iter().any(|zone| dnshunt_core::in_zone(name, zone)) {
        return None;
    }
    let suffix_len = match psl::suffix(name.as_bytes()) {
        Some(s) if s.is_known() => icann_or_dynamic_suffix_len(name, s.as_bytes().len(), s.typ()),
        _ => {
            let last = name.rsplit('.').next()?;
            ALTERNATIVE_ROOTS.contains(&last).then_some(last.len())?
        }
    };
    // `suffix_len` is a length of a suffix of `name` made of whole labels, so the slices below
    // fall on `.` boundaries.
    let rest_len = name.len().checked_sub(suffix_len + 1)?;
    if name.as_bytes().get(rest_len) != Some(&b'.') {
        return None;
    }
    let rest = &name[..rest_len];
    let label = rest.rsplit('.').next().unwrap_or(rest);
    if label.is_empty() {
        return None;
    }
    Some(RegistrableLabel {
        label,
        suffix: &name[rest_len + 1..],
    })
}

/// Walks a private suffix up to the ICANN suffix under it, unless it is a dynamic-DNS zone.
fn icann_or_dynamic_suffix_len(name: &str, mut len: usize, mut typ: Option<psl::Type>) -> usize {
    while typ == Some(psl::Type::Private) {
        let suffix = &name[name.len() - len..];
        // The zone itself (`ddns.net`) is an ordinary domain; names under it are the users'.
        if len < name.len() && DYNAMIC_DNS_SUFFIXES.contains(&suffix) {
            break;
        }
        let Some(dot) = suffix.find('.') else { break };
        let parent = &suffix[dot + 1..];
        match psl::suffix(parent.as_bytes()) {
            Some(s) if s.is_known() && s.as_bytes().len() <= parent.len() => {
                len = s.as_bytes().len();
                typ = s.typ();
            }
            _ => {
                len = parent.rsplit('.').next().map_or(parent.len(), str::len);
                break;
            }
        }
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(name: &str, expected: Option<(&str, &str)>) {
        let n = DnsName::new(name);
        let got = registrable_label(&n).map(|r| (r.label, r.suffix));
        assert_eq!(got, expected, "{name}");
        // The fast path and the string path agree.
        let slow = registrable_label_str(n.as_str()).map(|r| (r.label, r.suffix));
        assert_eq!(slow, expected, "{name} (from the string)");
    }

    #[test]
    fn icann_suffixes() {
        check("www.google.co.jp", Some(("google", "co.jp")));
        check("google.com", Some(("google", "com")));
        check("youtube-ui.l.google.com", Some(("google", "com")));
        check("xn--wgv71a119e.jp", Some(("xn--wgv71a119e", "jp")));
        check("static-ecst.licdn.com", Some(("licdn", "com")));
    }

    #[test]
    fn private_suffixes_are_ordinary_domains() {
        check("3a7f9c.cloudfront.net", Some(("cloudfront", "net")));
        check("abc.s3.amazonaws.com", Some(("amazonaws", "com")));
        check("myblog.blogspot.com", Some(("blogspot", "com")));
        check("x.github.io", Some(("github", "io")));
        check("e1234.dscb.akamaiedge.net", Some(("akamaiedge", "net")));
    }

    #[test]
    fn dynamic_dns_and_alternative_roots() {
        check("qzxwvkj.ddns.net", Some(("qzxwvkj", "ddns.net")));
        check("a.b.duckdns.org", Some(("b", "duckdns.org")));
        check("abcdefgh.bazar", Some(("abcdefgh", "bazar")));
        check("www.abcdefgh.bazar", Some(("abcdefgh", "bazar")));
    }

    #[test]
    fn no_registrable_label() {
        check("wpad", None);
        check("dc01.corp.local", None);
        check("com", None);
        check("co.jp", None);
        check("bazar", None);
        check("", None);
        check(".", None);
        check("ddns.net", Some(("ddns", "net")));
        // Special-use: a probe with the home network's suffix, reverse lookups.
        check("kdbuyqn.home.arpa", None);
        check("4.1.168.192.in-addr.arpa", None);
        check("home.arpa", None);
        check("myhome.arpa.example.com", Some(("example", "com")));
    }
}

//! # doh_lookup
//!
//! **What:** look-ups of well-known DNS-over-HTTPS endpoints (`mozilla.cloudflare-dns.com`,
//! `dns.google`, `dns.quad9.net`, ...: the built-in `data/doh_endpoints.txt`, plus
//! `endpoints` from the config and lists given with `--doh-list FILE`). A name matches when it
//! equals an endpoint or is a subdomain of one. By a process that is not a browser the finding
//! is medium; by a browser it is information (browsers ship DoH, as the seed's Firefox did).
//!
//! **Why:** once a program speaks DoH its look-ups leave no EID 22 and bypass the sanctioned
//! resolvers, their logging and their filtering; the one look-up it still makes through
//! Windows is the DoH server's own name. Implants and tunnelling tools use DoH to hide C2
//! look-ups inside HTTPS.
//!
//! **ATT&CK:** T1572 (Protocol Tunneling), T1071.001 (Application Layer Protocol: Web
//! Protocols).
//!
//! **False positives:** privacy tools, VPN clients and some developer tools that use DoH by
//! design; browsers not in `browsers` (add them). Allow them with the allowlist.

use std::collections::HashSet;

use dnshunt_core::{Detector, DnsName, Event, Finding, Severity};
use serde::Deserialize;

use crate::detectors::{guid_key, who};

const BUILTIN_ENDPOINTS: &str = include_str!("../../data/doh_endpoints.txt");

/// Settings of the `doh_lookup` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DohLookupConfig {
    /// More DoH host names (each with its subdomains), in addition to the built-in list.
    pub endpoints: Vec<String>,
    /// Use the built-in list of public DoH endpoints.
    pub builtin_endpoints: bool,
    /// Image names (lower case) of browsers, whose DoH is information only.
    pub browsers: Vec<String>,
    /// Severity of a DoH endpoint look-up by any other process.
    pub non_browser_severity: Severity,
    /// Severity of a DoH endpoint look-up by a browser.
    pub browser_severity: Severity,
}

impl Default for DohLookupConfig {
    fn default() -> Self {
        let browsers = [
            "firefox.exe",
            "chrome.exe",
            "msedge.exe",
            "msedgewebview2.exe",
            "brave.exe",
            "opera.exe",
            "opera_gx.exe",
            "vivaldi.exe",
            "browser.exe",
            "waterfox.exe",
            "librewolf.exe",
            "chromium.exe",
            "thunderbird.exe",
        ];
        DohLookupConfig {
            endpoints: Vec::new(),
            builtin_endpoints: true,
            browsers: browsers.iter().map(|s| (*s).to_owned()).collect(),
            non_browser_severity: Severity::Medium,
            browser_severity: Severity::Info,
        }
    }
}

/// Host names from a DoH list: one a line; `#` comments, URLs (`https://dns.example/dns-query`),
/// `host:port` and `IP # host` lines are understood; entries that are addresses are skipped.
pub fn parse_endpoint_list(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        // `IP # hostnames` lines name their hosts after the `#`; elsewhere `#` starts a comment.
        let (head, comment) = line.split_once('#').unwrap_or((line, ""));
        let head = head.trim();
        let candidates: Vec<&str> = if head.parse::<std::net::IpAddr>().is_ok() {
            comment.split([',', ' ', '\t']).collect()
        } else {
            head.split_whitespace().take(1).collect()
        };
        for entry in candidates {
            let entry = entry.trim();
            let entry = entry.split_once("://").map_or(entry, |(_, rest)| rest);
            let host = entry.split(['/', '?']).next().unwrap_or("");
            let host = host.rsplit_once(':').filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit())).map_or(host, |(h, _)| h);
            let host = host.trim_matches('.').to_ascii_lowercase();
            if host.contains('.') && host.parse::<std::net::IpAddr>().is_err() && !host.contains(['[', ']', ' ']) {
                out.push(host);
            }
        }
    }
    out
}

/// The detector.
pub struct DohLookup {
    config: DohLookupConfig,
    endpoints: HashSet<String>,
}

impl DohLookup {
    pub const NAME: &'static str = "doh_lookup";

    /// `extra` are host names from `--doh-list` files.
    pub fn new(config: DohLookupConfig, extra: Vec<String>) -> DohLookup {
        let mut endpoints = HashSet::new();
        if config.builtin_endpoints {
            endpoints.extend(parse_endpoint_list(BUILTIN_ENDPOINTS));
        }
        endpoints.extend(config.endpoints.iter().map(|e| e.trim_matches('.').to_ascii_lowercase()));
        endpoints.extend(extra);
        let mut config = config;
        for b in &mut config.browsers {
            *b = b.to_lowercase();
        }
        DohLookup { config, endpoints }
    }

    /// The endpoint `name` is or is under, if any.
    pub fn endpoint<'a>(&self, name: &'a DnsName) -> Option<&'a str> {
        name.self_and_parents().find(|p| p.contains('.') && self.endpoints.contains(*p))
    }

    pub fn endpoint_count(&self) -> usize {
        self.endpoints.len()
    }

    /// Judges one event (the detector keeps no state).
    pub fn judge(&self, event: &Event) -> Option<Finding> {
        let q = event.dns()?;
        let endpoint = self.endpoint(&q.query)?;
        let image = who(event);
        let browser = self.config.browsers.contains(&image);
        let (severity, score, explanation) = if browser {
            (
                self.config.browser_severity,
                10,
                format!(
                    "{image} looked up {}, a DNS-over-HTTPS server: the browser resolves names over HTTPS from here on, out of sight of EID 22",
                    q.query
                ),
            )
        } else {
            (
                self.config.non_browser_severity,
                60,
                format!(
                    "{image}, which is not a browser, looked up {}, a DNS-over-HTTPS server: its later look-ups bypass the sanctioned resolvers and Sysmon",
                    q.query
                ),
            )
        };
        let guid = guid_key(event);
        Some(
            Finding::from_event(Self::NAME, severity, score, event, &[&guid, endpoint], explanation)
                .with_attack(&["T1572", "T1071.001"])
                .with_detail("endpoint", endpoint)
                .with_detail("browser", browser),
        )
    }
}

impl Detector for DohLookup {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<Finding>) {
        out.extend(self.judge(event));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::tests::dns;
    use dnshunt_core::EventKind;

    fn by(image: &str, name: &str) -> Event {
        let mut e = dns(name, "-");
        if let EventKind::DnsQuery(q) = &mut e.kind {
            q.process.image = Some(image.into());
        }
        e
    }

    #[track_caller]
    fn check(d: &DohLookup, event: Event, expected: Option<(&str, Severity)>) {
        let got = d.judge(&event);
        let got = got.as_ref().map(|f| (f.details["endpoint"].as_str().unwrap(), f.severity));
        assert_eq!(got, expected);
    }

    #[test]
    fn seed_firefox_doh_is_info() {
        let d = DohLookup::new(DohLookupConfig::default(), Vec::new());
        check(
            &d,
            by("C:\\Program Files\\Mozilla Firefox\\firefox.exe", "mozilla.cloudflare-dns.com"),
            Some(("mozilla.cloudflare-dns.com", Severity::Info)),
        );
    }

    #[test]
    fn non_browsers_are_medium() {
        let d = DohLookup::new(DohLookupConfig::default(), Vec::new());
        // The example incident's implant.
        check(&d, by("C:\\Windows\\System32\\rundll32.exe", "dns.google"), Some(("dns.google", Severity::Medium)));
        check(&d, dns("dns.quad9.net", "-"), Some(("dns.quad9.net", Severity::Medium)));
        check(&d, dns("abc123.dns.nextdns.io", "-"), Some(("dns.nextdns.io", Severity::Medium)));
        let f = d.judge(&dns("dns.google", "-")).unwrap();
        assert_eq!(f.attack, ["T1572", "T1071.001"]);
    }

    #[test]
    fn ordinary_names_do_not_fire() {
        let d = DohLookup::new(DohLookupConfig::default(), Vec::new());
        for name in ["www.google.com", "google", "cloudflare.com", "quad9.net", "dns.example.com", "wpad", "", "com"] {
            check(&d, dns(name, "-"), None);
        }
    }

    #[test]
    fn user_lists_extend_the_built_in_one() {
        let list = parse_endpoint_list("# my resolvers\nhttps://doh.corp-resolver.example/dns-query\n192.0.2.53   # doh2.corp-resolver.example, doh3.corp-resolver.example\n192.0.2.54\nplain.example.net:443\n");
        assert_eq!(
            list,
            ["doh.corp-resolver.example", "doh2.corp-resolver.example", "doh3.corp-resolver.example", "plain.example.net"]
        );
        let d = DohLookup::new(
            DohLookupConfig {
                endpoints: vec!["Resolver.Example.ORG.".into()],
                builtin_endpoints: false,
                ..Default::default()
            },
            list,
        );
        check(&d, dns("doh2.corp-resolver.example", "-"), Some(("doh2.corp-resolver.example", Severity::Medium)));
        check(&d, dns("resolver.example.org", "-"), Some(("resolver.example.org", Severity::Medium)));
        check(&d, dns("dns.google", "-"), None);
    }

    #[test]
    fn built_in_list_is_complete_enough() {
        let d = DohLookup::new(DohLookupConfig::default(), Vec::new());
        assert!(d.endpoint_count() >= 40, "{}", d.endpoint_count());
        // The well-known resolvers named in the public DoH lists.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/doh-resolvers/dibdot/doh-domains.txt");
        let Ok(text) = std::fs::read_to_string(path) else {
            assert!(std::env::var_os("CI").is_none(), "shared data missing: {path}");
            eprintln!("skipped: {path} missing");
            return;
        };
        let public: HashSet<String> = parse_endpoint_list(&text).into_iter().collect();
        assert!(public.len() > 1000, "{}", public.len());
        for name in ["dns.google", "cloudflare-dns.com", "dns.quad9.net", "doh.opendns.com", "dns.adguard-dns.com"] {
            assert!(public.contains(name), "{name} is not in the public list: the built-in list may be stale");
            check(&d, dns(name, "-"), Some((name, Severity::Medium)));
        }
        // Given as a user list, every entry of the public list fires.
        let all = DohLookup::new(DohLookupConfig::default(), public.iter().cloned().collect());
        let missed: Vec<&String> = public.iter().filter(|h| all.judge(&dns(h, "-")).is_none()).collect();
        assert!(missed.is_empty(), "{missed:?}");
    }
}

//! # geo
//!
//! **What:** resolved addresses (EID 22 answers) and connection destinations (EID 3) in
//! countries or autonomous systems the organisation lists as unexpected (`deny_countries`, or
//! everything outside `allow_countries`; `deny_asns`), and addresses a GeoIP2 Anonymous-IP
//! database marks as a Tor exit, VPN, public or residential proxy or hosting provider, looked
//! up by a process that is not a browser. Needs MaxMind-format databases (`--geoip DIR`);
//! without them it does not run.
//!
//! **Why:** C2 servers sit where the attacker rents them: bulletproof hosters, cheap VPS in
//! countries the business never deals with, behind anonymisers. A script or an unknown binary
//! that resolves a Tor exit or a VPN endpoint is hiding where it talks to.
//!
//! **ATT&CK:** T1090 (Proxy; T1090.003 Multi-hop Proxy for Tor), T1071 (Application Layer
//! Protocol) for unexpected countries and networks.
//!
//! **False positives:** CDNs and clouds answer from many countries (keep `deny_countries`
//! short, or `allow_countries` broad); corporate VPN clients (add them to `browsers`, which
//! really means "programs allowed to talk to anonymisers"); GeoIP data is approximate.

use std::cell::OnceCell;
use std::net::IpAddr;
use std::sync::Arc;

use dnshunt_core::{Detector, Event, EventKind, Finding, Severity};
use dnshunt_enrich::geo::{GeoInfo, GeoLookup};
use serde::Deserialize;

use crate::detectors::who;
use crate::stats::domain_of;

/// Settings of the `geo` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GeoConfig {
    /// ISO country codes (`KP`, `IR`) whose addresses are flagged.
    pub deny_countries: Vec<String>,
    /// When not empty, addresses in any other country are flagged.
    pub allow_countries: Vec<String>,
    /// Autonomous system numbers whose addresses are flagged.
    pub deny_asns: Vec<u32>,
    /// Severity of a denied (or not allowed) country or ASN.
    pub country_severity: Severity,
    /// Severity for a Tor exit node.
    pub tor_severity: Severity,
    /// Severity for a VPN, public or residential proxy.
    pub anonymizer_severity: Severity,
    /// Severity for a hosting provider (`info` keeps them visible but quiet; clouds host much
    /// that is legitimate). `null` is not allowed: set `flag_hosting = false` to drop them.
    pub hosting_severity: Severity,
    /// Report hosting-provider addresses at all.
    pub flag_hosting: bool,
    /// Image names (lower case) that may talk to anonymisers: browsers, and whatever else the
    /// organisation allows.
    pub browsers: Vec<String>,
}

impl Default for GeoConfig {
    fn default() -> Self {
        GeoConfig {
            deny_countries: Vec::new(),
            allow_countries: Vec::new(),
            deny_asns: Vec::new(),
            country_severity: Severity::Medium,
            tor_severity: Severity::High,
            anonymizer_severity: Severity::Medium,
            hosting_severity: Severity::Info,
            flag_hosting: true,
            browsers: BROWSERS.iter().map(|b| (*b).to_owned()).collect(),
        }
    }
}

/// Browser image names.
pub const BROWSERS: &[&str] = &[
    "chrome.exe",
    "msedge.exe",
    "firefox.exe",
    "iexplore.exe",
    "opera.exe",
    "brave.exe",
    "vivaldi.exe",
    "microsoftedge.exe",
    "microsoftedgecp.exe",
    "safari.exe",
    "waterfox.exe",
    "palemoon.exe",
];

pub struct Geo {
    config: GeoConfig,
    geo: Arc<GeoLookup>,
}

impl Geo {
    pub const NAME: &'static str = "geo";

    pub fn new(mut config: GeoConfig, geo: Arc<GeoLookup>) -> Geo {
        for list in [&mut config.deny_countries, &mut config.allow_countries] {
            for c in list.iter_mut() {
                *c = c.trim().to_ascii_uppercase();
            }
        }
        for b in &mut config.browsers {
            *b = b.to_lowercase();
        }
        Geo { config, geo }
    }

    /// Why an address is unexpected, if it is: (rule, severity, score, explanation part).
    fn judge(&self, info: &GeoInfo, browser: bool) -> Option<(&'static str, Severity, u8, String)> {
        let c = &self.config;
        if let Some(country) = &info.country {
            if c.deny_countries.iter().any(|d| d == country) {
                return Some(("deny_country", c.country_severity, 60, format!("in {country}, a denied country")));
            }
            if !c.allow_countries.is_empty() && !c.allow_countries.iter().any(|a| a == country) {
                return Some(("not_allowed_country", c.country_severity, 55, format!("in {country}, outside the allowed countries")));
            }
        }
        if let Some(asn) = info.asn.filter(|a| c.deny_asns.contains(a)) {
            let org = info.as_org.as_deref().map(|o| format!(" ({o})")).unwrap_or_default();
            return Some(("deny_asn", c.country_severity, 60, format!("in AS{asn}{org}, a denied network")));
        }
        if browser {
            return None;
        }
        if info.tor_exit {
            return Some(("tor_exit", c.tor_severity, 75, "a Tor exit node".to_owned()));
        }
        if info.anonymous_vpn || info.public_proxy || info.residential_proxy {
            let what = if info.anonymous_vpn {
                "an anonymous VPN"
            } else if info.public_proxy {
                "a public proxy"
            } else {
                "a residential proxy"
            };
            return Some(("anonymizer", c.anonymizer_severity, 55, what.to_owned()));
        }
        if info.hosting && c.flag_hosting {
            return Some(("hosting", c.hosting_severity, 20, "at a hosting provider".to_owned()));
        }
        None
    }
}

fn attack_for(rule: &str) -> &'static [&'static str] {
    match rule {
        "tor_exit" => &["T1090.003"],
        "anonymizer" | "hosting" => &["T1090"],
        _ => &["T1071"],
    }
}

impl Detector for Geo {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<Finding>) {
        // The image name is worked out once, and only for events with a public address.
        let process = OnceCell::new();
        let check = |ip: IpAddr, out: &mut Vec<Finding>| {
            if !is_global(ip) {
                return;
            }
            let info = self.geo.lookup(ip);
            let (image, browser) = process.get_or_init(|| {
                let image = who(event);
                let browser = self.config.browsers.contains(&image);
                (image, browser)
            });
            let Some((rule, severity, score, why)) = self.judge(&info, *browser) else {
                return;
            };
            let (subject, key) = match &event.kind {
                EventKind::DnsQuery(q) => (format!("resolved {} to {ip}", q.query), domain_of(&q.query).to_owned()),
                _ => (format!("connected to {ip}"), ip.to_string()),
            };
            let where_key = info.country.clone().or(info.asn.map(|a| format!("AS{a}"))).unwrap_or_default();
            let explanation = format!("{image} {subject}, {why}.");
            let finding = Finding::from_event(Self::NAME, severity, score, event, &[rule, &key, &where_key, image], explanation)
                .with_attack(attack_for(rule))
                .with_detail("rule", rule)
                .with_detail("geo", info.to_json(ip));
            out.push(finding);
        };
        match &event.kind {
            EventKind::DnsQuery(q) => {
                // One finding per rule and query is enough; the first matching answer speaks.
                let before = out.len();
                for ip in q.addresses() {
                    check(ip, out);
                    if out.len() > before {
                        break;
                    }
                }
            }
            EventKind::NetworkConnect(n) => {
                if let Some(ip) = n.destination_ip {
                    check(ip, out);
                }
            }
            _ => {}
        }
    }
}

/// Public addresses only: private, loopback, link-local and documentation ranges have no
/// geography.
fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_private() || v4.is_loopback() || v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast()),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use dnshunt_enrich::geo::{DbBytes, GeoDb};

    use super::*;
    use crate::detectors::tests::{dns, net};

    /// The MaxMind test databases, or `None` (skipped) when the shared data is missing.
    fn lookup() -> Option<Arc<GeoLookup>> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/geoip");
        let mut dbs = Vec::new();
        for file in ["GeoLite2-City-Test.mmdb", "GeoLite2-ASN-Test.mmdb", "GeoIP2-Anonymous-IP-Test.mmdb"] {
            let path = format!("{dir}/{file}");
            match std::fs::read(&path) {
                Ok(b) => dbs.push(GeoDb::new(file, DbBytes::Owned(b), true).unwrap()),
                Err(e) => {
                    assert!(std::env::var_os("CI").is_none(), "{path} missing under CI: {e}");
                    eprintln!("skipped: {path} missing ({e})");
                    return None;
                }
            }
        }
        Some(Arc::new(GeoLookup::new(dbs, 1000)))
    }

    #[track_caller]
    fn check(config: GeoConfig, event: Event, expected: Option<(&str, Severity)>) -> Option<Finding> {
        let geo = lookup()?;
        let mut d = Geo::new(config, geo);
        let mut out = Vec::new();
        d.observe(&event, &mut out);
        assert!(out.len() <= 1, "{out:?}");
        let got = out.first().map(|f| (f.details["rule"].as_str().unwrap().to_owned(), f.severity));
        assert_eq!(got.as_ref().map(|(r, s)| (r.as_str(), *s)), expected);
        out.pop()
    }

    #[test]
    fn denied_country_of_a_resolved_address() {
        // 2.125.160.216/29 is Boxford, GB in GeoLite2-City-Test.json.
        let config = GeoConfig {
            deny_countries: vec!["gb".into()],
            ..Default::default()
        };
        let Some(f) = check(
            config.clone(),
            dns("c2.example.net", "::ffff:10.0.0.1;::ffff:2.125.160.217;"),
            Some(("deny_country", Severity::Medium)),
        ) else {
            return;
        };
        assert_eq!(f.details["geo"]["country"], "GB");
        assert_eq!(f.details["geo"]["city"], "Boxford");
        assert_eq!(f.details["geo"]["ip"], "2.125.160.217");
        assert!(f.explanation.contains("GB"), "{}", f.explanation);
        // Elsewhere nothing fires; private addresses are never judged.
        check(config.clone(), dns("ok.example.net", "::ffff:1.128.0.1;"), None);
        check(config, dns("lan.example.net", "::ffff:192.168.1.1;"), None);
    }

    #[test]
    fn allow_list_and_denied_asn_on_connections() {
        let allow = GeoConfig {
            allow_countries: vec!["US".into(), "DE".into()],
            ..Default::default()
        };
        check(allow, net("2.125.160.217", 443), Some(("not_allowed_country", Severity::Medium)));
        let asn = GeoConfig {
            deny_asns: vec![1221],
            ..Default::default()
        };
        // 1.128.0.0/11 is AS1221 Telstra in GeoLite2-ASN-Test.json.
        if let Some(f) = check(asn, net("1.130.5.5", 443), Some(("deny_asn", Severity::Medium))) {
            assert_eq!(f.details["geo"]["asn"], 1221);
            assert_eq!(f.details["geo"]["as_org"], "Telstra Pty Ltd");
            assert!(f.explanation.contains("AS1221 (Telstra Pty Ltd)"));
        }
    }

    #[test]
    fn anonymisers_for_non_browsers_only() {
        // 65.0.0.0/13 is a Tor exit range and 1.2.0.0/16 an anonymous VPN in the Anonymous-IP
        // test data; the test process is powershell.exe.
        if let Some(f) = check(GeoConfig::default(), dns("hidden.example", "::ffff:65.0.0.1;"), Some(("tor_exit", Severity::High))) {
            assert_eq!(f.attack, ["T1090.003"]);
            assert_eq!(f.details["geo"]["tor_exit"], true);
        }
        check(GeoConfig::default(), net("1.2.3.4", 443), Some(("anonymizer", Severity::Medium)));
        check(GeoConfig::default(), net("71.160.223.9", 443), Some(("hosting", Severity::Info)));
        let quiet_hosting = GeoConfig {
            flag_hosting: false,
            ..Default::default()
        };
        check(quiet_hosting, net("71.160.223.9", 443), None);
        // The same lookup from a browser is fine.
        let mut browser = net("65.0.0.1", 443);
        if let EventKind::NetworkConnect(n) = &mut browser.kind {
            n.process.image = Some("C:\\Program Files\\Mozilla Firefox\\firefox.exe".into());
        }
        check(GeoConfig::default(), browser, None);
    }
}

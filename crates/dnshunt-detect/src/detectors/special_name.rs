//! # special_name
//!
//! **What:** lookups of names that the public DNS does not serve or that belong to anonymity
//! networks:
//! - `.onion` (RFC 7686), `.exit` (Tor exit notation), `.i2p`, `.loki`, and `.bit` (Namecoin,
//!   used by malware for takedown-resistant C2);
//! - Tor project names (`torproject.org`, its bridge and update servers) and tor2web gateways
//!   (`onion.to`, `onion.ws`, `tor2web.org`, ...), which reach onion services over plain HTTPS;
//! - special-use names that no program should send to a resolver (RFC 6761/2606/9476):
//!   `.invalid`, `.test`, `.example`, `.alt`, and subdomains of `.localhost`.
//!
//! `.local` (multicast DNS, and many Active Directory domains), `.internal`, `home.arpa` and
//! plain `localhost` are normal and never fire.
//!
//! **Why:** an onion name in the Windows resolver means Tor-aware software that leaks its
//! look-ups — often ransomware or a loader looking for its C2 — and tor2web gateways are how
//! malware reaches onion C2 without a Tor client. Tor project look-ups mean a Tor client is
//! being fetched or run, which policy usually forbids. Special-use names are typical of
//! misconfigured or test tooling left on a host.
//!
//! **ATT&CK:** T1090.003 (Proxy: Multi-hop Proxy); T1071 and T1568 for `.bit`; T1497.001
//! (Sandbox Evasion: System Checks) for special-use names, which malware resolves to find out
//! whether a sandbox answers every name.
//!
//! **False positives:** researchers and privacy-minded users with Tor Browser (the
//! `torproject.org` findings are medium for that reason), and test suites resolving `.test` or
//! `.invalid` names (low).

use dnshunt_core::{Detector, DnsName, Event, Finding, Severity};
use serde::Deserialize;

use crate::detectors::{guid_key, who};
use crate::stats::pattern_score;

/// Settings of the `special_name` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SpecialNameConfig {
    /// Severity of `.onion`, `.exit` and tor2web gateway look-ups.
    pub onion_severity: Severity,
    /// Severity of other anonymity or alternative-root networks (`.i2p`, `.loki`, `.bit`).
    pub overlay_severity: Severity,
    /// Severity of Tor project names (downloads, bridges, updates of a Tor client).
    pub tor_project_severity: Severity,
    /// Severity of special-use names sent to a resolver (`.invalid`, `.test`, `.example`, ...).
    pub special_use_severity: Severity,
    /// More tor2web-style gateway domains (their subdomains are onion names).
    pub extra_gateways: Vec<String>,
}

impl Default for SpecialNameConfig {
    fn default() -> Self {
        SpecialNameConfig {
            onion_severity: Severity::High,
            overlay_severity: Severity::Medium,
            tor_project_severity: Severity::Medium,
            special_use_severity: Severity::Low,
            extra_gateways: Vec::new(),
        }
    }
}

/// What kind of special name a name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `.onion` or `.exit`.
    Onion,
    /// A tor2web gateway (`<id>.onion.to`).
    Tor2web,
    /// `.i2p`, `.loki`, `.bit`, ...
    Overlay,
    /// `torproject.org` and its servers.
    TorProject,
    /// RFC 6761 / 2606 / 9476 names that should never reach a resolver.
    SpecialUse,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Onion => "onion",
            Kind::Tor2web => "tor2web",
            Kind::Overlay => "overlay_network",
            Kind::TorProject => "tor_project",
            Kind::SpecialUse => "special_use",
        }
    }
}

/// Top-level names of anonymity and alternative-root networks, with what they are.
const OVERLAY_TLDS: &[(&str, Kind, &str)] = &[
    ("onion", Kind::Onion, "a Tor onion service (RFC 7686)"),
    ("exit", Kind::Onion, "Tor's exit-node notation"),
    ("i2p", Kind::Overlay, "an I2P eepsite"),
    ("loki", Kind::Overlay, "a Lokinet (Oxen) service"),
    ("bit", Kind::Overlay, "a Namecoin name, used by malware for C2 that registrars cannot take down"),
    ("zkey", Kind::Overlay, "a GNU Name System zone"),
];

/// Special-use names (RFC 6761, RFC 2606, RFC 9476) that no program should send to a resolver.
const SPECIAL_USE_TLDS: &[(&str, &str)] = &[
    ("invalid", "the reserved invalid name (RFC 6761)"),
    ("test", "a reserved testing name (RFC 6761)"),
    ("example", "a reserved documentation name (RFC 2606)"),
    ("alt", "a name reserved for non-DNS systems (RFC 9476)"),
    ("localhost", "a subdomain of localhost (RFC 6761), which never leaves the host"),
];

/// Public gateways that serve onion services over the ordinary web.
const TOR2WEB_GATEWAYS: &[&str] = &[
    "onion.to",
    "onion.ws",
    "onion.ly",
    "onion.pet",
    "onion.sh",
    "onion.link",
    "onion.cab",
    "onion.city",
    "onion.direct",
    "onion.top",
    "onion.plus",
    "onion.dog",
    "onion.rip",
    "onion.nz",
    "onion.casa",
    "onion.gold",
    "onion.si",
    "onion.re",
    "onion.in.net",
    "onion.lu",
    "tor2web.org",
    "tor2web.io",
    "tor2web.fi",
    "tor2web.com",
    "torlink.co",
    "darknet.to",
];

/// Tor project domains.
const TOR_PROJECT: &[&str] = &["torproject.org", "torproject.net", "tor.eff.org", "torbrowser.io"];

/// A special name's kind and a short description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecialMatch {
    pub kind: Kind,
    pub what: String,
    /// The matched suffix (`onion`, `onion.to`, `torproject.org`).
    pub matched: String,
}

/// The detector.
pub struct SpecialName {
    config: SpecialNameConfig,
    gateways: Vec<String>,
}

impl SpecialName {
    pub const NAME: &'static str = "special_name";

    pub fn new(config: SpecialNameConfig) -> SpecialName {
        let mut gateways: Vec<String> = TOR2WEB_GATEWAYS.iter().map(|s| (*s).to_owned()).collect();
        gateways.extend(config.extra_gateways.iter().map(|g| g.trim_matches('.').to_ascii_lowercase()));
        SpecialName { config, gateways }
    }

    /// Classifies one name.
    pub fn classify(&self, name: &DnsName) -> Option<SpecialMatch> {
        let s = name.as_str();
        let tld = s.rsplit('.').next().unwrap_or(s);
        let has_parent = s.len() > tld.len();
        if has_parent {
            if let Some((t, kind, what)) = OVERLAY_TLDS.iter().find(|(t, _, _)| *t == tld) {
                return Some(SpecialMatch {
                    kind: *kind,
                    what: (*what).to_owned(),
                    matched: (*t).to_owned(),
                });
            }
        }
        for parent in name.self_and_parents() {
            if parent.len() < s.len() && self.gateways.iter().any(|g| g == parent) {
                return Some(SpecialMatch {
                    kind: Kind::Tor2web,
                    what: format!("a tor2web gateway ({parent}) that serves onion services over the ordinary web"),
                    matched: parent.to_owned(),
                });
            }
            if TOR_PROJECT.contains(&parent) {
                return Some(SpecialMatch {
                    kind: Kind::TorProject,
                    what: "a Tor project server (Tor Browser downloads, bridges or updates)".to_owned(),
                    matched: parent.to_owned(),
                });
            }
        }
        // A bare `localhost` is answered by the host itself and is harmless; `x.localhost` is not
        // supposed to reach a resolver either, but `.test`, `.invalid` and friends are what
        // matter. Single-label `test` or `example` are ordinary short names.
        if has_parent {
            if let Some((t, what)) = SPECIAL_USE_TLDS.iter().find(|(t, _)| *t == tld) {
                return Some(SpecialMatch {
                    kind: Kind::SpecialUse,
                    what: (*what).to_owned(),
                    matched: (*t).to_owned(),
                });
            }
        }
        None
    }

    fn severity(&self, kind: Kind) -> Severity {
        match kind {
            Kind::Onion | Kind::Tor2web => self.config.onion_severity,
            Kind::Overlay => self.config.overlay_severity,
            Kind::TorProject => self.config.tor_project_severity,
            Kind::SpecialUse => self.config.special_use_severity,
        }
    }

    /// Judges one event (the detector keeps no state).
    pub fn judge(&self, event: &Event) -> Option<Finding> {
        let q = event.dns()?;
        let m = self.classify(&q.query)?;
        let severity = self.severity(m.kind);
        let score = pattern_score(severity);
        let attack: &[&str] = match (m.kind, m.matched.as_str()) {
            // Resolving a name that cannot exist is how malware tests for a sandbox or sinkhole
            // that answers everything.
            (Kind::SpecialUse, _) => &["T1497.001"],
            (Kind::Overlay, "bit") => &["T1071", "T1568"],
            _ => &["T1090.003"],
        };
        let explanation = format!("{} looked up {}, {}", who(event), q.query, m.what);
        let guid = guid_key(event);
        let key = match m.kind {
            // One finding per onion service / gateway host, per process.
            Kind::Onion | Kind::Tor2web | Kind::Overlay => q.query.as_str(),
            _ => m.matched.as_str(),
        };
        Some(
            Finding::from_event(Self::NAME, severity, score, event, &[&guid, key], explanation)
                .with_attack(attack)
                .with_detail("kind", m.kind.as_str())
                .with_detail("matched", m.matched),
        )
    }
}

impl Detector for SpecialName {
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

    #[track_caller]
    fn check(name: &str, expected: Option<(&str, Severity)>) {
        let d = SpecialName::new(SpecialNameConfig::default());
        let got = d.judge(&dns(name, "-"));
        let got = got.as_ref().map(|f| (f.details["kind"].as_str().unwrap(), f.severity));
        assert_eq!(got, expected, "{name}");
    }

    #[test]
    fn anonymity_networks_fire() {
        check("duskgytldkxiuqc6.onion", Some(("onion", Severity::High)));
        check("www.duskgytldkxiuqc6.onion", Some(("onion", Severity::High)));
        check("exitnode.1234abcd.exit", Some(("onion", Severity::High)));
        check("duskgytldkxiuqc6.onion.to", Some(("tor2web", Severity::High)));
        check("duskgytldkxiuqc6.tor2web.org", Some(("tor2web", Severity::High)));
        check("forum.i2p", Some(("overlay_network", Severity::Medium)));
        check("c2server.bit", Some(("overlay_network", Severity::Medium)));
        check("bridges.torproject.org", Some(("tor_project", Severity::Medium)));
        check("dist.torproject.org", Some(("tor_project", Severity::Medium)));
        check("torproject.org", Some(("tor_project", Severity::Medium)));
    }

    #[test]
    fn special_use_names_are_low() {
        check("printer.test", Some(("special_use", Severity::Low)));
        check("foo.invalid", Some(("special_use", Severity::Low)));
        check("app.localhost", Some(("special_use", Severity::Low)));
        check("host.example", Some(("special_use", Severity::Low)));
        let f = SpecialName::new(SpecialNameConfig::default()).judge(&dns("printer.test", "-")).unwrap();
        assert_eq!(f.attack, ["T1497.001"]);
    }

    #[test]
    fn ordinary_names_do_not_fire() {
        for name in [
            "localhost",
            "wpad",
            "test",
            "onion",
            "dc01.theshire.local",
            "theshire.local",
            "printer.home.arpa",
            "db.corp.internal",
            "www.example.com",
            "onion.com",
            "onion.to",
            "www.onionsite.com",
            "nottorproject.org",
            "www.bit.ly",
            "xn--wgv71a119e.jp",
            "",
        ] {
            check(name, None);
        }
    }

    #[test]
    fn extra_gateways_from_config() {
        let d = SpecialName::new(SpecialNameConfig {
            extra_gateways: vec![".Onion.Example.NET".into()],
            ..Default::default()
        });
        assert!(d.judge(&dns("abc.onion.example.net", "-")).is_some());
        assert!(d.judge(&dns("onion.example.net", "-")).is_none());
    }
}

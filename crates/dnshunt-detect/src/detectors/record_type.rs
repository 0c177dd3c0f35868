//! # record_type
//!
//! **What:** lookups answered with a record type that Windows endpoints seldom ask for: TXT,
//! NULL, ANY, zone transfers (AXFR/IXFR), HINFO, KEY. Sysmon logs only the answer's type for
//! these (`type:16 `), not its content — which is still enough.
//!
//! **Why:** DNS tunnels and stagers carry data in TXT and NULL records (dnscat2, iodine,
//! PowerShell download cradles with `Resolve-DnsName -Type TXT`); ANY and zone transfers are
//! reconnaissance.
//!
//! **ATT&CK:** T1071.004 (Application Layer Protocol: DNS), T1590.002 (Gather Victim Network
//! Information: DNS) for ANY/AXFR/IXFR.
//!
//! **False positives:** mail software checking SPF/DKIM (TXT), some VPN and licensing clients,
//! domain controllers. Allow their processes in `allowed_processes`.

use std::collections::BTreeMap;

use dnshunt_core::{Detector, Event, Finding, RecordType, Severity};
use serde::Deserialize;

use crate::detectors::{guid_key, who};
use crate::stats::domain_of;

/// Settings of the `record_type` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RecordTypeConfig {
    /// Record types to flag (mnemonics, e.g. `TXT`), each with the severity of its findings.
    pub types: BTreeMap<String, Severity>,
    /// Process image names (lower case, e.g. `outlook.exe`) that may ask for these types.
    pub allowed_processes: Vec<String>,
}

impl Default for RecordTypeConfig {
    fn default() -> Self {
        let types = [
            ("TXT", Severity::Low),
            ("NULL", Severity::Medium),
            ("ANY", Severity::Medium),
            ("AXFR", Severity::Medium),
            ("IXFR", Severity::Medium),
            ("HINFO", Severity::Low),
            ("KEY", Severity::Low),
        ];
        RecordTypeConfig {
            types: types.iter().map(|(t, s)| ((*t).to_owned(), *s)).collect(),
            allowed_processes: Vec::new(),
        }
    }
}

pub struct RecordTypes {
    /// (type, severity), resolved from the mnemonics once.
    types: Vec<(RecordType, Severity)>,
    allowed: Vec<String>,
}

impl RecordTypes {
    pub const NAME: &'static str = "record_type";

    pub fn new(config: RecordTypeConfig) -> RecordTypes {
        let types = config.types.iter().filter_map(|(name, sev)| RecordType::from_name(name).map(|t| (t, *sev))).collect();
        let allowed = config.allowed_processes.iter().map(|p| p.to_lowercase()).collect();
        RecordTypes { types, allowed }
    }
}

impl Detector for RecordTypes {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<Finding>) {
        let Some(q) = event.dns() else { return };
        let Some((rtype, severity)) = q.answers.iter().find_map(|a| self.types.iter().find(|(t, _)| *t == a.rtype)).copied() else {
            return;
        };
        let image = who(event);
        if self.allowed.contains(&image) {
            return;
        }
        let domain = domain_of(&q.query);
        let guid = guid_key(event);
        let recon = matches!(rtype.0, 255 | 251 | 252);
        let (attack, why) = if recon {
            (
                ["T1590.002"].as_slice(),
                "a query for everything a name holds is reconnaissance, not normal client behaviour",
            )
        } else {
            (["T1071.004"].as_slice(), "endpoints rarely need them, and DNS tunnels and stagers carry data in them")
        };
        let explanation = format!("{image} got a {rtype} answer for {}; {why}", q.query);
        let score = match severity {
            Severity::Critical => 90,
            Severity::High => 75,
            Severity::Medium => 50,
            Severity::Low => 30,
            Severity::Info => 10,
        };
        out.push(
            Finding::from_event(Self::NAME, severity, score, event, &[&guid, &rtype.to_string(), domain], explanation)
                .with_attack(attack)
                .with_detail("record_type", rtype.to_string())
                .with_detail("record_type_code", rtype.0),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::tests::dns;

    #[track_caller]
    fn check(config: RecordTypeConfig, event: Event, expected: Option<(&str, Severity)>) {
        let mut d = RecordTypes::new(config);
        let mut out = Vec::new();
        d.observe(&event, &mut out);
        let got = out.first().map(|f| (f.details["record_type"].as_str().unwrap().to_owned(), f.severity));
        assert_eq!(got.as_ref().map(|(t, s)| (t.as_str(), *s)), expected);
        assert!(out.len() <= 1);
    }

    #[test]
    fn seed_txt_lookup_fires() {
        // The seed's `Resolve-DnsName -Type TXT`: only the type is logged.
        check(RecordTypeConfig::default(), dns("hoge.example.com", "type:16 "), Some(("TXT", Severity::Low)));
        check(RecordTypeConfig::default(), dns("t.example.net", "type:  10 ;"), Some(("NULL", Severity::Medium)));
    }

    #[test]
    fn ordinary_answers_do_not_fire() {
        check(
            RecordTypeConfig::default(),
            dns("www.youtube.com", "type:  5 youtube-ui.l.google.com;::ffff:172.217.24.142;"),
            None,
        );
        check(RecordTypeConfig::default(), dns("foo.example.com", "-"), None);
        check(RecordTypeConfig::default(), dns("dc.corp.example", "type:  33 dc01.corp.example;"), None);
    }

    #[test]
    fn allowed_processes_are_quiet() {
        let config = RecordTypeConfig {
            allowed_processes: vec!["PowerShell.exe".into()],
            ..Default::default()
        };
        check(config, dns("hoge.example.com", "type:16 "), None);
    }
}

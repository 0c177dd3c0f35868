//! # dga
//!
//! **What:** lookups of a name whose registrable label (`qvtrokzlmwhe` of
//! `www.qvtrokzlmwhe.com`, the label left of the public suffix) looks machine-generated, by the
//! DGA model shipped with dnshunt: character trigram likelihoods under popular domains and under
//! DGA output, common 4-grams, entropy, vowel/consonant/digit structure, length and public
//! suffix, combined by boosted trees trained on 30 DGA families and calibrated so that a score
//! of 0.8 is reached by about 1 in 10,000 popular domains. NXDOMAIN answers raise the score a
//! little: a DGA walks through names most of which were never registered.
//!
//! **Why:** malware that generates its rendezvous domains from the date or a seed (Conficker,
//! Necurs, Qakbot, Zloader ...) cannot be stopped by blocking one name; the names themselves
//! give it away. Only the registrable label is scored, so the random-looking names services
//! make *under* their own domains (`3a7f9c.cloudfront.net`, `e1234.dscb.akamaiedge.net`,
//! hex labels under `footprintdns.com`) do not count, nor do single-label and internal names
//! (`wpad`, `dc01.corp.local`) and IDNs (`xn--...`), whose Punycode letters say nothing about how
//! the name was chosen. Under dynamic-DNS zones (`*.ddns.net`, `*.duckdns.org`), where anyone
//! claims a label, the label under the zone is scored.
//!
//! **ATT&CK:** T1568.002 (Dynamic Resolution: Domain Generation Algorithms).
//!
//! **False positives:** real domains with random-looking or abbreviated names (ad-tracking
//! and affiliate domains are often consonant strings), some CDN customer domains, and short
//! labels of consonant acronyms. Word-list DGAs (gozi, nymaim2, suppobox) look like ordinary words and are *not*
//! found by this detector. Raise `threshold` or use the allowlist for known names.

use dnshunt_core::{Detector, Event, Finding, QueryStatus, Severity};
use dnshunt_enrich::dga::{is_idn, DgaModel};
use dnshunt_enrich::label::registrable_label;
use serde::Deserialize;

use crate::detectors::{guid_key, who};
use crate::stats::{domain_of, key_hash};

/// Settings of the `dga` detector. Scores are in `[0, 1]`; a score of `s` is reached by about
/// `10^(-5·s)` of popular domains (0.6 ≈ 1 in 1,000; 0.8 ≈ 1 in 10,000).
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DgaConfig {
    /// Report a lookup when its registrable label scores at least this, after the NXDOMAIN
    /// bonus (default 0.8: about 1 in 10,000 popular domains scores as high).
    pub threshold: f64,
    /// From this score on, a finding is of medium severity, below it low (default 0.9).
    pub medium_at: f64,
    /// From this score on, a finding is of high severity (default 0.97).
    pub high_at: f64,
    /// Added to the score of a lookup that failed with NXDOMAIN, status 9003 (default 0.05).
    pub nxdomain_bonus: f64,
}

impl Default for DgaConfig {
    fn default() -> Self {
        DgaConfig {
            threshold: 0.8,
            medium_at: 0.9,
            high_at: 0.97,
            nxdomain_bonus: 0.05,
        }
    }
}

pub struct Dga {
    config: DgaConfig,
    model: &'static DgaModel,
    /// Popularity ranks (`--rank`): popular registrable domains are damped, unranked raised.
    rank: Option<std::sync::Arc<dnshunt_enrich::rank::RankTable>>,
    /// The model's score per (label, suffix) already worked out: a fleet asks for the same
    /// names again and again. At most [`MEMO`] entries; full, it starts over.
    /// Scores by the [`key_hash`] of (label, suffix).
    memo: std::cell::RefCell<crate::fast::HashMap<u64, f64>>,
}

/// Scores remembered at most.
const MEMO: usize = 1 << 14;

impl Dga {
    pub const NAME: &'static str = "dga";

    /// A detector with the model compiled into dnshunt.
    pub fn new(config: DgaConfig) -> Dga {
        Dga {
            config,
            model: DgaModel::builtin(),
            rank: None,
            memo: Default::default(),
        }
    }

    /// Uses popularity ranks ([`dnshunt_enrich::rank::damp`]).
    pub fn with_rank(mut self, rank: Option<std::sync::Arc<dnshunt_enrich::rank::RankTable>>) -> Dga {
        self.rank = rank;
        self
    }

    /// The model's score of a registrable label, remembered.
    fn score(&self, label: &str, suffix: &str) -> f64 {
        let key = key_hash((label, suffix));
        let mut memo = self.memo.borrow_mut();
        if let Some(&score) = memo.get(&key) {
            return score;
        }
        let score = self.model.score_label(label, suffix);
        if memo.len() >= MEMO {
            memo.clear();
        }
        memo.insert(key, score);
        score
    }

    /// Judges one event (the detector keeps no state but a memo of scores).
    pub fn judge(&self, event: &Event) -> Option<Finding> {
        let q = event.lookup()?;
        let r = registrable_label(&q.query)?;
        if is_idn(r.label) {
            return None;
        }
        let nxdomain = q.status == QueryStatus::NAME_ERROR;
        let bonus = if nxdomain { self.config.nxdomain_bonus } else { 0.0 };
        // Cheap check first: explanations allocate, scores do not.
        let model_score = self.score(r.label, r.suffix);
        let score = (model_score + bonus).min(1.0);
        if score < self.config.threshold {
            return None;
        }
        let verdict = self.model.explain(r.label, r.suffix);
        let severity = if score >= self.config.high_at {
            Severity::High
        } else if score >= self.config.medium_at {
            Severity::Medium
        } else {
            Severity::Low
        };
        let rank = self.rank.as_ref().map(|t| t.rank_of(&q.query));
        let (severity, finding_score) = dnshunt_enrich::rank::damp(severity, (score * 100.0).round() as u8, rank);
        let reasons: Vec<String> = verdict.reasons.iter().map(ToString::to_string).collect();
        let why = if reasons.is_empty() { String::new() } else { format!(": {}", reasons.join(", ")) };
        let failed = if nxdomain {
            "; the name does not exist (NXDOMAIN), as most of a DGA's guesses do not"
        } else {
            ""
        };
        let explanation = format!(
            "{} looked up {}, whose registrable label '{}' looks machine-generated (DGA score {:.2}{why}){failed}",
            who(event),
            q.query,
            r.label,
            model_score
        );
        let guid = guid_key(event);
        let domain = domain_of(&q.query);
        let mut f = Finding::from_event(Self::NAME, severity, finding_score, event, &[&guid, domain], explanation)
            .with_attack(&["T1568.002"])
            .with_detail("dga_label", r.label)
            .with_detail("dga_score", (model_score * 1000.0).round() / 1000.0)
            .with_detail("dga_reasons", reasons)
            .with_detail("nxdomain", nxdomain);
        if let Some(rank) = rank {
            f = f.with_detail("rank", rank);
        }
        Some(f)
    }
}

impl Detector for Dga {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    /// Names seen on the wire are judged like Sysmon's.
    fn sees_wire(&self) -> bool {
        true
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<Finding>) {
        if let Some(f) = self.judge(event) {
            out.push(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::tests::dns;

    /// The severity of the finding on a lookup of `name` (with `results` as Sysmon logs them),
    /// or `None` when the detector stays quiet.
    #[track_caller]
    fn check(name: &str, results: &str, expected: Option<Severity>) {
        let d = Dga::new(DgaConfig::default());
        let got = d.judge(&dns(name, results));
        assert_eq!(
            got.as_ref().map(|f| f.severity),
            expected,
            "{name}: {:?}",
            got.as_ref()
                .map(|f| &f.explanation)
                .or(Some(&format!("score {:?}", DgaModel::builtin().score_name(&dnshunt_core::DnsName::new(name)))))
        );
    }

    #[test]
    fn the_builtin_model_loads() {
        let model = DgaModel::builtin();
        assert_ne!(model, &DgaModel::null());
    }

    #[test]
    fn generated_looking_names_fire() {
        // Made-up names in the styles of character DGAs: random letters, letters and digits,
        // long consonant-heavy labels.
        for name in [
            "xkqvbzhtrwplmnfd.com",
            "www.qzxvkjwmtrplbnhd.net",
            "pq7x2kz9w4vbn1mt8r.info",
            "jvhxqpwzkrtlmbnsfgd.biz",
            "mkxqwzvtbnplrhgdkjs.ru",
            "zt9qk3xw7vj2mb6pr4n.org",
        ] {
            let d = Dga::new(DgaConfig::default());
            let f = d.judge(&dns(name, "-")).unwrap_or_else(|| panic!("{name} did not fire"));
            assert!(f.severity >= Severity::Medium, "{name}: {:?}", f.severity);
            assert_eq!(f.attack, ["T1568.002"]);
            assert!(f.explanation.contains("looks machine-generated"), "{}", f.explanation);
        }
    }

    #[test]
    fn explanation_names_label_score_and_reasons() {
        let d = Dga::new(DgaConfig::default());
        let f = d.judge(&dns("www.xkqvbzhtrwplmnfd.com", "-")).unwrap();
        assert!(f.explanation.contains("'xkqvbzhtrwplmnfd'"), "{}", f.explanation);
        assert!(f.explanation.contains("DGA score"), "{}", f.explanation);
        assert_eq!(f.details["dga_label"], "xkqvbzhtrwplmnfd");
        assert!(!f.details["dga_reasons"].as_array().unwrap().is_empty(), "{}", f.explanation);
    }

    #[test]
    fn nxdomain_raises_the_score() {
        let mut nx = dns("pq7x2kz9w4vbn1mt8r.info", "-");
        if let dnshunt_core::EventKind::DnsQuery(q) = &mut nx.kind {
            q.status = QueryStatus::NAME_ERROR;
        }
        let d = Dga::new(DgaConfig::default());
        let plain = d.judge(&dns("pq7x2kz9w4vbn1mt8r.info", "-")).unwrap();
        let failed = d.judge(&nx).unwrap();
        assert!(failed.score >= plain.score);
        assert!(failed.explanation.contains("NXDOMAIN"));
        assert_eq!(failed.details["nxdomain"], true);
        // A label just under the threshold is pushed over it by NXDOMAIN.
        let strict = Dga::new(DgaConfig {
            threshold: 0.999,
            nxdomain_bonus: 1.0,
            ..DgaConfig::default()
        });
        assert!(strict.judge(&nx).is_some());
    }

    #[test]
    fn popular_and_seed_names_do_not_fire() {
        for name in [
            "www.youtube.com",
            "youtube-ui.l.google.com",
            "xn--wgv71a119e.jp",
            "static-ecst.licdn.com",
            "mozilla.cloudflare-dns.com",
            "www.microsoft.com",
            "login.microsoftonline.com",
            "settings-win.data.microsoft.com",
            "www.amazon.co.jp",
            "github.com",
            "stackoverflow.com",
            "wikipedia.org",
        ] {
            check(name, "-", None);
        }
    }

    #[test]
    fn service_made_subdomains_do_not_fire() {
        for name in [
            "3a7f9c0e1b2d4f6a.cloudfront.net",
            "d1x2y3z4q5w6e7.cloudfront.net",
            "4c5d6e7f8a9b0c1d2e3f.footprintdns.com",
            "a1b2c3d4e5f6a7b8c9d0-e1f2.footprintdns.com",
            "e1234.dscb.akamaiedge.net",
            "qxkzvbhtrw.blob.core.windows.net",
            "xkqvbzhtrwplmnfd.s3.amazonaws.com",
        ] {
            check(name, "-", None);
        }
    }

    #[test]
    fn internal_and_single_label_names_do_not_fire() {
        for name in ["wpad", "dc01.corp.local", "xkqvbzhtrwplmnfd", "xkqvbzhtrwplmnfd.corp.local", "isatap.lab.internal", ""] {
            check(name, "-", None);
        }
    }

    #[test]
    fn dynamic_dns_labels_are_scored() {
        let d = Dga::new(DgaConfig::default());
        let f = d.judge(&dns("xkqvbzhtrwplmnfd.ddns.net", "-")).expect("fires under ddns.net");
        assert_eq!(f.details["dga_label"], "xkqvbzhtrwplmnfd");
    }

    #[test]
    fn popularity_damps_ranked_and_raises_unranked_names() {
        let mut table = dnshunt_enrich::rank::RankTable::new();
        table.add_csv("500,xkqvbzhtrwplmnfd.com\n2,example.com\n");
        let ranked = Some(std::sync::Arc::new(table));
        let plain = Dga::new(DgaConfig::default());
        let with_rank = Dga::new(DgaConfig::default()).with_rank(ranked);

        // A popular name that looks generated: still reported, but low and with a lower score.
        let before = plain.judge(&dns("xkqvbzhtrwplmnfd.com", "-")).expect("fires without ranks");
        let after = with_rank.judge(&dns("www.xkqvbzhtrwplmnfd.com", "-")).expect("still reported");
        assert!(before.severity >= Severity::Medium);
        assert_eq!(after.severity, Severity::Low);
        assert!(after.score < before.score, "{} !< {}", after.score, before.score);
        assert_eq!(after.details["rank"], 500);

        // A never-ranked one rises (capped at 100) and says so.
        let unranked = with_rank.judge(&dns("jvhxqpwzkrtlmbnsfgd.biz", "-")).expect("fires");
        let base = plain.judge(&dns("jvhxqpwzkrtlmbnsfgd.biz", "-")).unwrap();
        assert!(unranked.score >= base.score && unranked.score <= 100);
        assert!(unranked.details["rank"].is_null());
    }

    #[test]
    fn other_events_do_not_fire() {
        let d = Dga::new(DgaConfig::default());
        assert!(d.judge(&crate::detectors::tests::net("203.0.113.7", 443)).is_none());
    }
}

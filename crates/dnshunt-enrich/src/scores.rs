//! [`NameScores`]: everything the name alone says, computed once per name, for the `score`
//! command and for anyone who wants the DGA verdict with its reasons.

use dnshunt_core::DnsName;
use serde::Serialize;

use crate::dga::{is_idn, DgaModel};
use crate::features::{hex_like, shannon_entropy};
use crate::label::registrable_label;

/// Per-name scores. Built with [`NameScores::new`] (the built-in DGA model) or
/// [`NameScores::with_model`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NameScores {
    /// The normalised name (lower case, Punycode).
    pub name: String,
    /// The Unicode form of an IDN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unicode: Option<String>,
    /// eTLD+1 by the full Public Suffix List (`x.blogspot.com` for `a.x.blogspot.com`).
    pub registered_domain: Option<String>,
    /// The label the DGA model scores: left of the ICANN suffix, or of a dynamic-DNS zone
    /// (`blogspot` for `a.x.blogspot.com`, `abc` for `abc.ddns.net`). See [`crate::label`].
    pub label: Option<String>,
    /// The suffix under that label (`com`, `co.jp`, `ddns.net`).
    pub suffix: Option<String>,
    /// Shannon entropy of the whole name, bits per character.
    pub name_entropy: f64,
    /// Shannon entropy of the label, bits per character.
    pub label_entropy: Option<f64>,
    /// Length of the label in bytes.
    pub label_length: Option<usize>,
    /// Whether the label looks like hexadecimal ([`hex_like`]).
    pub label_hex_like: bool,
    /// DGA score of the label in `[0, 1]` (0.8 ≈ 1 in 10,000 popular domains score as high);
    /// `None` without a label or for an IDN label.
    pub dga_score: Option<f64>,
    /// The strongest reasons for the DGA score, as phrases ("no vowels").
    pub dga_reasons: Vec<String>,
}

impl NameScores {
    /// Scores a name with the built-in DGA model.
    pub fn new(name: &DnsName) -> NameScores {
        NameScores::with_model(name, DgaModel::builtin())
    }

    /// Scores a name with a given DGA model.
    pub fn with_model(name: &DnsName, model: &DgaModel) -> NameScores {
        let r = registrable_label(name);
        let verdict = r.filter(|r| !is_idn(r.label)).map(|r| model.explain(r.label, r.suffix));
        NameScores {
            name: name.as_str().to_owned(),
            unicode: name.unicode().map(str::to_owned),
            registered_domain: name.registered_domain().map(str::to_owned),
            label: r.map(|r| r.label.to_owned()),
            suffix: r.map(|r| r.suffix.to_owned()),
            name_entropy: shannon_entropy(name.as_str()),
            label_entropy: r.map(|r| shannon_entropy(r.label)),
            label_length: r.map(|r| r.label.len()),
            label_hex_like: r.is_some_and(|r| hex_like(r.label)),
            dga_score: verdict.as_ref().map(|v| v.score),
            dga_reasons: verdict.map(|v| v.reasons.iter().map(ToString::to_string).collect()).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_of_a_popular_name() {
        let s = NameScores::new(&DnsName::new("www.google.co.jp"));
        assert_eq!(s.label.as_deref(), Some("google"));
        assert_eq!(s.suffix.as_deref(), Some("co.jp"));
        assert_eq!(s.registered_domain.as_deref(), Some("google.co.jp"));
        assert_eq!(s.label_length, Some(6));
        assert!(s.dga_score.unwrap() < 0.5, "{s:?}");
        assert!(!s.label_hex_like);
    }

    #[test]
    fn idn_and_internal_names_have_no_dga_score() {
        let s = NameScores::new(&DnsName::new("xn--wgv71a119e.jp"));
        assert_eq!(s.unicode.as_deref(), Some("日本語.jp"));
        assert_eq!(s.label.as_deref(), Some("xn--wgv71a119e"));
        assert_eq!(s.dga_score, None);
        let s = NameScores::new(&DnsName::new("dc01.corp.local"));
        assert_eq!((s.label, s.dga_score), (None, None));
        assert!(s.name_entropy > 0.0);
    }

    #[test]
    fn generated_label_scores_high_with_reasons() {
        let s = NameScores::new(&DnsName::new("xkqvbzhtrwplmnfd.com"));
        assert!(s.dga_score.unwrap() >= 0.8, "{s:?}");
        assert!(!s.dga_reasons.is_empty());
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["label"], "xkqvbzhtrwplmnfd");
        assert!(json.get("unicode").is_none());
    }
}

//! Popularity: top-sites rank lists (Tranco, Cisco Umbrella, Majestic Million, Alexa) and the
//! factor name-based detectors multiply their scores by.
//!
//! A popular registrable domain is rarely an attacker's own (it may be abused, but then the
//! name-based signals are not the reason to look); a name whose registrable domain appears in
//! no list is more suspicious. The project ships no list: the user gives one by path, the binary
//! reads it and hands the text to [`RankTable::add_csv`].

use std::collections::HashMap;

use dnshunt_core::{DnsName, Severity};

/// Registrable domain (or host name, for lists such as Umbrella's) → best rank seen.
#[derive(Clone, Debug, Default)]
pub struct RankTable {
    ranks: HashMap<Box<str>, u32>,
}

/// What reading one list gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RankParse {
    /// Entries read.
    pub entries: usize,
    /// Lines that are neither an entry nor a header or comment.
    pub rejected: usize,
    /// The first rejected lines: (line number, text).
    pub rejected_examples: Vec<(u64, String)>,
}

impl RankTable {
    pub fn new() -> RankTable {
        RankTable::default()
    }

    pub fn len(&self) -> usize {
        self.ranks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranks.is_empty()
    }

    /// Adds a list: `rank,domain` lines (Tranco, Umbrella, Alexa), or a CSV with a header naming
    /// the columns (Majestic: `GlobalRank,TldRank,Domain,...`), or one domain a line (the line
    /// number is the rank). A domain in several lists keeps its best rank.
    pub fn add_csv(&mut self, text: &str) -> RankParse {
        let mut parse = RankParse::default();
        // Column positions: (rank, domain); `None` rank means "line number".
        let mut columns: Option<(Option<usize>, usize)> = None;
        let mut n_entries_in_file = 0u32;
        for (idx, raw_line) in text.lines().enumerate() {
            let line = raw_line.trim().trim_start_matches('\u{feff}');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split([',', '\t', ';']).map(|f| f.trim().trim_matches('"')).collect();
            let cols = match columns {
                Some(c) => c,
                None => {
                    let header = fields.iter().all(|f| f.parse::<u64>().is_err()) && !looks_like_domain(fields[0]);
                    if header {
                        let find = |names: &[&str]| fields.iter().position(|f| names.iter().any(|n| f.eq_ignore_ascii_case(n)));
                        match find(&["domain", "site", "host", "name"]) {
                            Some(d) => columns = Some((find(&["globalrank", "rank", "position"]), d)),
                            None => reject(&mut parse, idx, line),
                        }
                        continue;
                    }
                    let c = if fields.len() >= 2 && fields[0].parse::<u64>().is_ok() {
                        (Some(0), 1)
                    } else {
                        (None, 0)
                    };
                    columns = Some(c);
                    c
                }
            };
            let rank = match cols.0 {
                Some(r) => fields.get(r).and_then(|f| f.parse::<u32>().ok()),
                None => Some(n_entries_in_file + 1),
            };
            let domain = fields.get(cols.1).map(|d| d.trim_end_matches('.').to_ascii_lowercase());
            match (rank, domain) {
                (Some(rank), Some(domain)) if rank > 0 && looks_like_domain(&domain) => {
                    n_entries_in_file += 1;
                    parse.entries += 1;
                    let slot = self.ranks.entry(domain.into_boxed_str()).or_insert(rank);
                    *slot = (*slot).min(rank);
                }
                _ => reject(&mut parse, idx, line),
            }
        }
        parse
    }

    /// The rank of exactly this domain or host name.
    pub fn rank(&self, domain: &str) -> Option<u32> {
        self.ranks.get(domain).copied()
    }

    /// The rank of a name: its registrable domain's, else the best rank of the name or one of
    /// its parents (lists of host names such as Umbrella's hold names with no registrable domain
    /// in the Public Suffix List sense, e.g. under private suffixes).
    pub fn rank_of(&self, name: &DnsName) -> Option<u32> {
        if let Some(rank) = name.registered_domain().and_then(|d| self.rank(d)) {
            return Some(rank);
        }
        name.self_and_parents().filter(|p| p.contains('.')).filter_map(|p| self.rank(p)).min()
    }

    /// [`popularity_factor`] of a name's rank.
    pub fn factor(&self, name: &DnsName) -> f64 {
        popularity_factor(self.rank_of(name))
    }
}

fn reject(parse: &mut RankParse, idx: usize, line: &str) {
    count_rejected(&mut parse.rejected, &mut parse.rejected_examples, idx, line);
}

/// Counts a rejected line of a list or feed, keeping the first three (line number, text) as
/// examples.
pub(crate) fn count_rejected(rejected: &mut usize, examples: &mut Vec<(u64, String)>, idx: usize, line: &str) {
    *rejected += 1;
    if examples.len() < 3 {
        examples.push((idx as u64 + 1, line.chars().take(120).collect()));
    }
}

fn looks_like_domain(s: &str) -> bool {
    s.contains('.') && !s.contains(char::is_whitespace) && s.parse::<f64>().is_err()
}

/// How much a name-based detector should trust its own score given the popularity of the
/// name's registrable domain: multiply the score by this.
///
/// `None` means the name is in no loaded list (never ranked): 1.25, raising the score. A rank
/// damps it, logarithmically: rank 1 → 0.2, 1 000 → 0.6, 1 000 000 → 1.0. Call this only when a
/// list was loaded (without one, nothing is known and the factor is 1).
pub fn popularity_factor(rank: Option<u32>) -> f64 {
    match rank {
        None => 1.25,
        Some(r) => (0.2 + 0.8 * (r.max(1) as f64).log10() / 6.0).clamp(0.2, 1.0),
    }
}

/// Applies a popularity factor to a 0–100 score.
pub fn scale_score(score: u8, factor: f64) -> u8 {
    (score as f64 * factor).round().clamp(0.0, 100.0) as u8
}

/// Registrable domains ranked at or above this are popular: a name-based finding on one is at
/// most of low severity.
pub const POPULAR_RANK: u32 = 10_000;

/// What a name-based detector does with a rank: `rank` is `None` without a loaded list (nothing
/// changes), `Some(None)` for a never-ranked name (the score rises), `Some(Some(r))` for a
/// ranked one (the score falls, and a popular domain's severity is capped at low).
pub fn damp(severity: Severity, score: u8, rank: Option<Option<u32>>) -> (Severity, u8) {
    let Some(rank) = rank else {
        return (severity, score);
    };
    let score = scale_score(score, popularity_factor(rank));
    let severity = match rank {
        Some(r) if r <= POPULAR_RANK => severity.min(Severity::Low),
        _ => severity,
    };
    (severity, score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, expected: &[(&str, Option<u32>)], rejected: usize) {
        let mut table = RankTable::new();
        let parse = table.add_csv(text);
        for (name, rank) in expected {
            assert_eq!(table.rank_of(&DnsName::new(name)), *rank, "{name}");
        }
        assert_eq!(parse.rejected, rejected, "{parse:?}");
    }

    #[test]
    fn tranco_umbrella_and_alexa_shapes() {
        check(
            "1,google.com\r\n2,facebook.com\n3,amazon.co.jp\n",
            &[("www.google.com", Some(1)), ("www.amazon.co.jp", Some(3)), ("evil.example", None)],
            0,
        );
        // Umbrella lists host names.
        check(
            "1,www.google.com\n2,login.live.com\n",
            &[("login.live.com", Some(2)), ("a.login.live.com", Some(2)), ("live.com", None)],
            0,
        );
        // The registrable domain's rank wins over a host name's.
        check("5,google.com\n1,www.google.com\n", &[("www.google.com", Some(5))], 0);
    }

    #[test]
    fn majestic_header_and_columns() {
        let majestic = "GlobalRank,TldRank,Domain,TLD,RefSubNets,RefIPs,IDN_Domain,IDN_TLD,PrevGlobalRank,PrevTldRank,PrevRefSubNets,PrevRefIPs\n\
1,1,google.com,com,484320,2292305,google.com,com,1,1,484152,2296541\n\
2,2,facebook.com,com,475346,2234665,facebook.com,com,2,2,475108,2237837\n";
        check(majestic, &[("maps.google.com", Some(1)), ("facebook.com", Some(2))], 0);
    }

    #[test]
    fn plain_domain_lists_and_junk() {
        check("# top sites\ngoogle.com\nexample.org\n", &[("example.org", Some(2))], 0);
        check("1,google.com\nnot a line\n0,zero.com\n2,example.org\n", &[("example.org", Some(2)), ("zero.com", None)], 2);
    }

    #[test]
    fn factor_damps_popular_and_raises_never_ranked() {
        assert_eq!(popularity_factor(Some(1)), 0.2);
        assert!((popularity_factor(Some(1000)) - 0.6).abs() < 1e-9);
        assert_eq!(popularity_factor(Some(10_000_000)), 1.0);
        assert!(popularity_factor(None) > 1.0);
        assert!(popularity_factor(Some(10)) < popularity_factor(Some(50_000)));
        assert_eq!(scale_score(80, 0.2), 16);
        assert_eq!(scale_score(90, 1.25), 100);
    }

    #[test]
    fn damp_caps_popular_and_raises_unranked() {
        assert_eq!(damp(Severity::High, 80, None), (Severity::High, 80));
        // Rank 50: factor 0.2 + 0.8 · log10(50) / 6 ≈ 0.43.
        assert_eq!(damp(Severity::High, 80, Some(Some(50))), (Severity::Low, 34));
        assert_eq!(damp(Severity::Medium, 60, Some(None)), (Severity::Medium, 75));
        assert_eq!(damp(Severity::Medium, 60, Some(Some(900_000))), (Severity::Medium, 60));
    }

    #[test]
    fn shared_alexa_list_loads() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/benign/alexa_100k_2013.csv");
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                assert!(std::env::var_os("CI").is_none(), "{path} missing under CI: {e}");
                eprintln!("skipped: {path} missing ({e})");
                return;
            }
        };
        let mut table = RankTable::new();
        let parse = table.add_csv(&text);
        assert_eq!(parse.entries, 100_000);
        assert_eq!(parse.rejected, 0);
        assert_eq!(table.rank_of(&DnsName::new("www.facebook.com")), Some(1));
        assert_eq!(table.rank_of(&DnsName::new("www.amazon.co.jp")).map(|r| r < 1000), Some(true));
        assert_eq!(table.rank_of(&DnsName::new("xjwqkdhzpq.biz")), None);
    }
}

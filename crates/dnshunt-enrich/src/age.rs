//! Domain age: when a registrable domain was registered, from newly-registered-domain (NRD)
//! feeds and from RDAP answers.
//!
//! NRD feeds come in a few daily shapes, all read by [`AgeTable::add_nrd`]: one domain a line
//! with the date in the file name (`nrd-2024-03-11.txt`, `domains_20240311.txt`), or a date on
//! every line (`domain,date`, `date domain`, `date,domain`, tab-separated, with or without a
//! header). The binary reads the files and RDAP answers; this module only keeps the dates.
//! The table is shared (`Arc`) between the binary, which adds RDAP answers while a hunt runs,
//! and the `young_domain` detector, which reads them.

use std::collections::HashMap;
use std::sync::RwLock;

use dnshunt_core::{DnsName, Timestamp};
use serde::Serialize;

use crate::rank::count_rejected;

/// Where a registration date came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgeSource {
    /// A newly-registered-domain feed: the domain was new on that day.
    Nrd,
    /// An RDAP `registration` event.
    Rdap,
}

impl AgeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AgeSource::Nrd => "nrd",
            AgeSource::Rdap => "rdap",
        }
    }
}

/// When a domain was registered, and who says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DomainAge {
    pub registered: Timestamp,
    pub source: AgeSource,
}

impl DomainAge {
    /// Whole days from registration to `at` (negative when `at` is before the registration).
    pub fn age_days(&self, at: Timestamp) -> i64 {
        (at.0 - self.registered.0).div_euclid(86_400_000)
    }
}

/// What reading one NRD feed gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NrdParse {
    /// Domains read.
    pub domains: usize,
    /// The date taken from the file name, if it has one.
    pub file_date: Option<Timestamp>,
    /// Lines with no domain, or with no date when the file name has none.
    pub rejected: usize,
    /// The first rejected lines: (line number, text).
    pub rejected_examples: Vec<(u64, String)>,
}

/// Registrable domain → registration date.
#[derive(Debug, Default)]
pub struct AgeTable {
    known: RwLock<HashMap<String, DomainAge>>,
}

impl AgeTable {
    pub fn new() -> AgeTable {
        AgeTable::default()
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, DomainAge>> {
        self.known.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a registration date. An NRD date never replaces an RDAP one (RDAP is the
    /// registry's own word); among dates of one source the latest stands, since a domain that
    /// was dropped and registered again is as new as its latest registration.
    pub fn insert(&self, domain: &str, age: DomainAge) {
        let key = registrable(domain);
        let mut known = self.known.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        match known.get_mut(&key) {
            Some(old) if old.source == AgeSource::Rdap && age.source == AgeSource::Nrd => {}
            Some(old) if old.source == age.source && old.registered >= age.registered => {}
            Some(old) => *old = age,
            None => {
                known.insert(key, age);
            }
        }
    }

    /// The registration date of a registrable domain, if known.
    pub fn get(&self, domain: &str) -> Option<DomainAge> {
        self.read().get(domain).copied()
    }

    /// The registration date of a name's registrable domain, if known.
    pub fn age_of(&self, name: &DnsName) -> Option<DomainAge> {
        self.get(name.registered_domain()?)
    }

    /// Reads one NRD feed. `file_name` is searched for a date (`2024-03-11`, `2024_03_11`,
    /// `20240311`) used for lines that carry none.
    pub fn add_nrd(&self, file_name: &str, text: &str) -> NrdParse {
        let file_date = date_in(file_name);
        let mut parse = NrdParse { file_date, ..NrdParse::default() };
        for (idx, raw_line) in text.lines().enumerate() {
            let line = raw_line.trim().trim_start_matches('\u{feff}');
            if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
                continue;
            }
            let mut domain = None;
            let mut date = None;
            for field in line.split([',', '\t', ';', ' ']).map(|f| f.trim().trim_matches('"')).filter(|f| !f.is_empty()) {
                if date.is_none() {
                    if let Some(d) = parse_date(field) {
                        date = Some(d);
                        continue;
                    }
                }
                if domain.is_none() && field.contains('.') && field.parse::<f64>().is_err() {
                    domain = Some(field);
                }
            }
            let header = idx == 0 && domain.is_none();
            match (domain, date.or(file_date)) {
                (Some(domain), Some(date)) => {
                    parse.domains += 1;
                    self.insert(
                        domain,
                        DomainAge {
                            registered: date,
                            source: AgeSource::Nrd,
                        },
                    );
                }
                _ if header => {}
                _ => count_rejected(&mut parse.rejected, &mut parse.rejected_examples, idx, line),
            }
        }
        parse
    }
}

/// The registrable domain of a feed entry (feeds list registrable domains, but some list host
/// names), lower case.
fn registrable(domain: &str) -> String {
    let name = DnsName::new(domain);
    name.registered_domain().unwrap_or(name.as_str()).to_owned()
}

/// A date as NRD feeds write it: `2024-03-11`, `2024-03-11T10:00:00Z`, `2024/03/11`, `20240311`.
pub fn parse_date(field: &str) -> Option<Timestamp> {
    let b = field.as_bytes();
    if b.len() == 8 && b.iter().all(u8::is_ascii_digit) {
        let s = format!("{}-{}-{}", &field[0..4], &field[4..6], &field[6..8]);
        return Timestamp::parse(&s).filter(|t| plausible(*t));
    }
    // `2024/03/12` and `2024_03_12`: the separators are ASCII, and the digits must be too, so a
    // feed line such as `2024_03_1é` is no date rather than a slice through a character.
    if b.len() >= 10 && (b[4] == b'/' || b[4] == b'_') && b[7] == b[4] && [0, 1, 2, 3, 5, 6, 8, 9].iter().all(|&i| b[i].is_ascii_digit()) {
        let s = format!("{}-{}-{}{}", &field[0..4], &field[5..7], &field[8..10], field.get(10..)?);
        return Timestamp::parse(&s).filter(|t| plausible(*t));
    }
    Timestamp::parse(field).filter(|t| plausible(*t))
}

/// Years 1985 (the first .com) to 2199: an eight-digit number outside is not a date.
fn plausible(t: Timestamp) -> bool {
    (473_385_600_000..7_258_118_400_000).contains(&t.0)
}

/// The first date in a file name.
fn date_in(file_name: &str) -> Option<Timestamp> {
    let b = file_name.as_bytes();
    (0..b.len()).find_map(|start| {
        if start > 0 && b[start - 1].is_ascii_digit() {
            return None;
        }
        [10, 8].into_iter().find_map(|len| {
            let end = start + len;
            if end > b.len() || (end < b.len() && b[end].is_ascii_digit()) {
                return None;
            }
            parse_date(file_name.get(start..end)?)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[track_caller]
    fn check(file_name: &str, text: &str, expected: &[(&str, Option<&str>)], rejected: usize) {
        let table = AgeTable::new();
        let parse = table.add_nrd(file_name, text);
        for (domain, date) in expected {
            assert_eq!(table.get(domain).map(|a| a.registered), date.map(day), "{domain}");
        }
        assert_eq!(parse.rejected, rejected, "{parse:?}");
    }

    #[test]
    fn one_domain_a_line_dated_by_the_file_name() {
        check(
            "nrd-2024-03-11.txt",
            "evil-login.com\nfresh.co.uk\n\n# comment\n",
            &[("evil-login.com", Some("2024-03-11")), ("fresh.co.uk", Some("2024-03-11"))],
            0,
        );
        check("/feeds/domain-names_20240311.txt", "a.example\n", &[("a.example", Some("2024-03-11"))], 0);
        check("nrd_2024_03_11.csv", "www.host-name.com\n", &[("host-name.com", Some("2024-03-11"))], 0);
        // No date anywhere: every line is rejected, nothing is guessed.
        check("nrd.txt", "evil-login.com\n", &[("evil-login.com", None)], 1);
    }

    #[test]
    fn dates_with_characters_beyond_ascii_are_no_dates_and_no_panic() {
        // Regression: byte slicing through `é` panicked (a third-party feed line).
        for field in ["2024_03_1é", "2024/03/é1", "2024_é3_12", "é024_03_12", "2024_03_12é", "2024/03/12\u{2028}"] {
            let _ = parse_date(field);
        }
        assert_eq!(parse_date("2024_03_1é"), None);
        assert_eq!(parse_date("2024_03_12").map(|t| t.to_string()), Some("2024-03-12T00:00:00.000Z".to_owned()));
        check("feed.csv", "bad.com,2024_03_1é\ngood.com,2024_03_12\n", &[("good.com", Some("2024-03-12"))], 1);
    }

    #[test]
    fn a_date_on_every_line() {
        check(
            "feed.csv",
            "domain,create_date\nevil-login.com,2024-03-09\nb.example,2024-03-10T00:00:00Z\n",
            &[("evil-login.com", Some("2024-03-09")), ("b.example", Some("2024-03-10"))],
            0,
        );
        check(
            "feed.txt",
            "2024-03-08 first.example\n2024/03/07\tsecond.example\n",
            &[("first.example", Some("2024-03-08")), ("second.example", Some("2024-03-07"))],
            0,
        );
        // A line date beats the file's; a line without a domain is rejected.
        check("nrd-2024-03-11.txt", "x.example,2024-03-01\n2024-03-02\n", &[("x.example", Some("2024-03-01"))], 1);
    }

    #[test]
    fn rdap_dates_outrank_feed_dates_and_re_registrations_count() {
        let table = AgeTable::new();
        let nrd = |d| DomainAge {
            registered: day(d),
            source: AgeSource::Nrd,
        };
        table.insert("a.example", nrd("2024-03-01"));
        table.insert("a.example", nrd("2024-03-05"));
        assert_eq!(table.get("a.example"), Some(nrd("2024-03-05")));
        let rdap = DomainAge {
            registered: day("2020-01-01"),
            source: AgeSource::Rdap,
        };
        table.insert("a.example", rdap);
        table.insert("a.example", nrd("2024-03-09"));
        assert_eq!(table.get("a.example"), Some(rdap));
        assert_eq!(rdap.age_days(day("2020-01-31")), 30);
        assert_eq!(rdap.age_days(Timestamp(day("2020-01-01").0 - 1)), -1);
    }
}

//! The allowlist (the seed's whitelist): known-benign domains, processes, and process + domain
//! pairs whose findings are suppressed. It is the `[allowlist]` table of the config file:
//!
//! ```toml
//! [allowlist]
//! domains = ["footprintdns.com", "corp.example"]          # with their subdomains
//! processes = ["MsMpEng.exe", 'C:\Tools\agent.exe']       # image name or full path
//! pairs = [{ process = "teams.exe", domain = "teams.microsoft.com" }]
//! ```
//!
//! Matching is case-insensitive. A domain entry matches a finding's query name and every name
//! under it; a process entry without a `\` or `/` matches the image's file name, one with a
//! path separator the full image path (an entry ending in `\` matches everything under that
//! folder). Findings without a query name (connections) can only be allowed by process.
//! Suppressed findings are counted per detector in the engine's report.

use crate::fast::HashSet;
use dnshunt_core::{image_file_name, Finding};
use serde::Deserialize;

/// A process + domain pair of the allowlist.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AllowPair {
    /// Image file name (`teams.exe`) or full path.
    pub process: String,
    /// Domain, with its subdomains.
    pub domain: String,
}

/// The `[allowlist]` table of the config file.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AllowlistConfig {
    /// Domains whose look-ups (and their subdomains') never produce findings.
    pub domains: Vec<String>,
    /// Processes whose findings are suppressed: an image file name or a full path.
    pub processes: Vec<String>,
    /// A process and a domain that are only allowed together.
    pub pairs: Vec<AllowPair>,
}

/// One process entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum ProcessEntry {
    /// The image's file name, lower case.
    Name(String),
    /// The full image path, lower case, backslashes.
    Path(String),
    /// A folder prefix, lower case, ending in a backslash.
    Folder(String),
}

impl ProcessEntry {
    fn parse(s: &str) -> Option<ProcessEntry> {
        let s = s.trim().to_lowercase().replace('/', "\\");
        if s.is_empty() {
            return None;
        }
        Some(if s.ends_with('\\') {
            ProcessEntry::Folder(s)
        } else if s.contains('\\') {
            ProcessEntry::Path(s)
        } else {
            ProcessEntry::Name(s)
        })
    }

    fn matches(&self, image_lower: &str, name_lower: &str) -> bool {
        match self {
            ProcessEntry::Name(n) => n == name_lower,
            ProcessEntry::Path(p) => p == image_lower,
            ProcessEntry::Folder(f) => image_lower.starts_with(f.as_str()),
        }
    }
}

fn normalise_domain(d: &str) -> String {
    d.trim().trim_matches('.').to_lowercase()
}

/// The compiled allowlist.
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    domains: HashSet<String>,
    processes: Vec<ProcessEntry>,
    pairs: Vec<(ProcessEntry, String)>,
}

impl Allowlist {
    pub fn new(config: &AllowlistConfig) -> Allowlist {
        Allowlist {
            domains: config.domains.iter().map(|d| normalise_domain(d)).filter(|d| !d.is_empty()).collect(),
            processes: config.processes.iter().filter_map(|p| ProcessEntry::parse(p)).collect(),
            pairs: config
                .pairs
                .iter()
                .filter_map(|p| Some((ProcessEntry::parse(&p.process)?, normalise_domain(&p.domain))))
                .filter(|(_, d)| !d.is_empty())
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty() && self.processes.is_empty() && self.pairs.is_empty()
    }

    /// Whether a look-up of `name` by the process with image `image` is allowed.
    pub fn allows(&self, image: Option<&str>, name: Option<&str>) -> bool {
        let name = name.map(|n| n.trim_end_matches('.').to_lowercase());
        let under = |domain: &str| {
            name.as_deref()
                .is_some_and(|n| n == domain || (n.len() > domain.len() && n.ends_with(domain) && n.as_bytes()[n.len() - domain.len() - 1] == b'.'))
        };
        if self.domains.iter().any(|d| under(d)) {
            return true;
        }
        let Some(image) = image else { return false };
        let image_lower = image.to_lowercase().replace('/', "\\");
        let name_lower = image_file_name(image);
        if self.processes.iter().any(|p| p.matches(&image_lower, &name_lower)) {
            return true;
        }
        self.pairs.iter().any(|(p, d)| p.matches(&image_lower, &name_lower) && under(d))
    }

    /// Whether the finding is suppressed.
    pub fn allows_finding(&self, finding: &Finding) -> bool {
        !self.is_empty() && self.allows(finding.process.image.as_deref(), finding.query_name.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(toml_like: (&[&str], &[&str], &[(&str, &str)])) -> Allowlist {
        Allowlist::new(&AllowlistConfig {
            domains: toml_like.0.iter().map(|s| (*s).to_owned()).collect(),
            processes: toml_like.1.iter().map(|s| (*s).to_owned()).collect(),
            pairs: toml_like
                .2
                .iter()
                .map(|(p, d)| AllowPair {
                    process: (*p).to_owned(),
                    domain: (*d).to_owned(),
                })
                .collect(),
        })
    }

    #[track_caller]
    fn check(allow: &Allowlist, image: Option<&str>, name: Option<&str>, expected: bool) {
        assert_eq!(allow.allows(image, name), expected, "{image:?} {name:?}");
    }

    const TEAMS: &str = "C:\\Users\\k.sato\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe";

    #[test]
    fn domains_with_subdomains() {
        let a = list((&["FootprintDNS.com."], &[], &[]));
        check(&a, None, Some("0543759ca9f47ed7899690b9f1753798.nrb.footprintdns.com"), true);
        check(&a, Some(TEAMS), Some("footprintdns.com"), true);
        check(&a, Some(TEAMS), Some("notfootprintdns.com"), false);
        check(&a, Some(TEAMS), Some("footprintdns.com.evil.example"), false);
        check(&a, Some(TEAMS), None, false);
    }

    #[test]
    fn processes_by_name_path_or_folder() {
        let a = list((&[], &["teams.exe"], &[]));
        check(&a, Some(TEAMS), Some("anything.example"), true);
        check(&a, Some("C:\\Windows\\System32\\rundll32.exe"), Some("anything.example"), false);
        let a = list((&[], &["c:/users/k.sato/appdata/local/microsoft/teams/current/teams.exe"], &[]));
        check(&a, Some(TEAMS), None, true);
        check(&a, Some("C:\\Temp\\Teams.exe"), None, false);
        let a = list((&[], &["C:\\Users\\k.sato\\AppData\\Local\\Microsoft\\"], &[]));
        check(&a, Some(TEAMS), None, true);
        check(&a, Some("C:\\Users\\k.sato\\AppData\\Local\\Temp\\x.exe"), None, false);
        check(&a, None, Some("x.example"), false);
    }

    #[test]
    fn pairs_need_both() {
        let a = list((&[], &[], &[("Teams.exe", "teams.microsoft.com")]));
        check(&a, Some(TEAMS), Some("teams.microsoft.com"), true);
        check(&a, Some(TEAMS), Some("eu.teams.microsoft.com"), true);
        check(&a, Some(TEAMS), Some("login.microsoftonline.com"), false);
        check(&a, Some("C:\\Windows\\System32\\rundll32.exe"), Some("teams.microsoft.com"), false);
    }

    #[test]
    fn engine_suppresses_and_counts() {
        use crate::detectors::special_name::{SpecialName, SpecialNameConfig};
        use crate::detectors::tests::dns;
        use crate::{Engine, EngineConfig};
        let run = |allow: Allowlist| {
            let mut engine = Engine::new(EngineConfig::default(), vec![Box::new(SpecialName::new(SpecialNameConfig::default()))]).with_allowlist(allow);
            for name in ["a.onion", "a.onion", "printer.test"] {
                engine.observe(&dns(name, "-"));
            }
            let (findings, report) = engine.finish();
            let names: Vec<String> = findings.iter().filter_map(|f| f.query_name.clone()).collect();
            (names, report.suppressed_per_detector.get("special_name").copied())
        };
        assert_eq!(run(Allowlist::default()), (vec!["a.onion".to_owned(), "printer.test".to_owned()], None));
        assert_eq!(run(list((&["test"], &[], &[]))), (vec!["a.onion".to_owned()], Some((1, 1))));
        assert_eq!(run(list((&[], &["powershell.exe"], &[]))), (vec![], Some((2, 3))));
        assert_eq!(run(list((&[], &[], &[("powershell.exe", "onion")]))), (vec!["printer.test".to_owned()], Some((1, 2))));
    }

    #[test]
    fn empty_list_allows_nothing() {
        let a = Allowlist::new(&AllowlistConfig::default());
        assert!(a.is_empty());
        check(&a, Some(TEAMS), Some("x.example"), false);
        let a = list((&["", "."], &[" "], &[("", "x.example")]));
        assert!(a.is_empty());
    }
}

//! The config file (TOML). Everything has a default: no config file is needed.

use std::path::Path;

use anyhow::{Context, Result};
use dnshunt_detect::registry::DetectorsConfig;
use serde::Deserialize;

/// The whole config file.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[detectors.<name>]`: per-detector settings.
    pub detectors: DetectorsConfig,
    /// `[enrich]`: GeoIP databases, NRD feeds, rank lists, RDAP.
    pub enrich: crate::enrich::EnrichConfig,
    /// `[allowlist]`: domains, processes and pairs whose findings are suppressed.
    pub allowlist: dnshunt_detect::allowlist::AllowlistConfig,
    /// `[state]`: the state store across runs (`first_seen`).
    pub state: crate::state::StateConfig,
    /// `[aggregate]`: how per-name findings fold into one per process and registered domain.
    pub aggregate: dnshunt_detect::aggregate::AggregateConfig,
    /// `[incidents]`: how findings group into incidents.
    pub incidents: dnshunt_incident::IncidentConfig,
    /// `[prevalence]`: how many hosts make something fleet-common (damped) or rare (raised).
    pub prevalence: dnshunt_prevalence::PrevalenceConfig,
    /// `[resolvers]`: this fleet's sanctioned DNS servers, in addition to those learned from
    /// the data (`resolver_bypass` reports DNS to them as info).
    pub resolvers: ResolversConfig,
    /// `[memory]`: the memory budget of `hunt`.
    pub memory: MemoryConfig,
    /// `[attribution]`: joining what the network saw to Sysmon's processes.
    pub attribution: dnshunt_attribution::AttributionConfig,
}

/// `[memory]`: `budget_mb = 1024`, and the bounds of the engine's own tables.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    /// What `hunt` may hold, in MiB (`--memory-budget` overrides it). The bounds of the
    /// detectors' tables (45 % of it), of prevalence (12 %), of the findings held (10 %), of
    /// the per-name findings held for aggregation (8 %), of the process join (7 %) and of the
    /// state store's entries (5 %) are lowered so that, all full, they fit; the rest is left
    /// for reading, incidents and the report. Bounds set lower stay; 0 turns the budget off (the bounds as set). Reaching a
    /// bound is reported at the end of the run. Default 1024.
    pub budget_mb: u64,
    /// Findings held (about 8 KB each with their evidence): past it, new info findings are
    /// counted and not kept, and past twice it new low ones too; medium and higher are always
    /// kept (each detector's own bounds limit those). Default 100,000.
    pub max_findings: usize,
    /// Processes (EID 1) the process join keeps, about 400 bytes each. Default 2,000,000.
    pub max_processes: usize,
    /// Entries (kind, host, value) a run with a state store (`--state`) holds, about 200 bytes
    /// each, before it sets them aside in the store's temporary table on disk (merged into the
    /// store at the end, in one transaction). Default 1,000,000.
    pub max_state_entries: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            budget_mb: 1024,
            max_findings: 100_000,
            max_processes: dnshunt_detect::process_tree::DEFAULT_MAX_PROCESSES,
            max_state_entries: 1_000_000,
        }
    }
}

/// A bound lowered by the memory budget, for the summary.
pub use dnshunt_detect::registry::Fitted;

impl Config {
    /// Lowers the bounds to fit `[memory] budget_mb` (see [`MemoryConfig`]) and returns what
    /// it lowered.
    pub fn fit_memory(&mut self) -> Vec<Fitted> {
        let Some(bytes) = self.budget_bytes() else { return Vec::new() };
        let shares = dnshunt_detect::registry::MemoryShares::of(bytes);
        let mut out = self.detectors.fit_memory(shares.detectors);
        out.extend(self.aggregate.fit_memory(shares.aggregate));
        out.extend(self.prevalence.fit_memory(shares.prevalence).into_iter().map(|(setting, configured, fitted)| Fitted {
            setting: setting.to_owned(),
            configured,
            fitted,
        }));
        dnshunt_detect::registry::fit_engine_bounds(
            &mut out,
            &shares,
            &mut self.memory.max_findings,
            &mut self.memory.max_processes,
            &mut self.memory.max_state_entries,
        );
        out
    }

    fn budget_bytes(&self) -> Option<u64> {
        (self.memory.budget_mb > 0).then(|| self.memory.budget_mb.saturating_mul(1 << 20))
    }
}

/// `[resolvers]`: `addresses = ["10.0.0.53", "fd00:53::/64"]`.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ResolversConfig {
    /// Addresses or networks (CIDR) of the sanctioned resolvers.
    pub addresses: Vec<String>,
}

/// Loads the config file, or the defaults when none is given.
pub fn load(path: Option<&Path>) -> Result<Config> {
    let Some(path) = path else {
        return Ok(Config::default());
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
    parse(&text).with_context(|| format!("in config {}", path.display()))
}

pub fn parse(text: &str) -> Result<Config> {
    let mut config: Config = toml::from_str(text)?;
    // `[resolvers]` and `[detectors.resolver_bypass] resolvers` are one list; a typo in either
    // is an error now rather than a resolver silently not known later.
    let listed = std::mem::take(&mut config.resolvers.addresses);
    // The wire's resolver check takes the addresses (networks are for Sysmon's EID 3).
    config.detectors.wire_resolver.resolvers.extend(listed.iter().filter(|a| !a.contains('/')).cloned());
    config.detectors.resolver_bypass.resolvers.extend(listed);
    let unknown = config.detectors.unknown_disabled();
    if !unknown.is_empty() {
        anyhow::bail!(
            "[detectors] disabled: {} is no detector (the detectors: {})",
            unknown.join(", "),
            dnshunt_detect::registry::DETECTOR_NAMES.join(", ")
        );
    }
    for entry in &config.detectors.resolver_bypass.resolvers {
        if dnshunt_detect::stats::Network::parse(entry).is_none() {
            anyhow::bail!("[resolvers]: {entry:?} is neither an address nor a network (10.0.0.53, fd00:53::/64)");
        }
    }
    Ok(config)
}

// The generator of `dnshunt.example.toml` runs as a test (see `tests` below).

/// Where each table's settings are documented: `(table, source file, struct)`; a detector's
/// table is documented by its own file's `...Config` struct.
#[cfg(test)]
const DOCUMENTED: &[(&str, &str, &str)] = &[
    ("detectors", "crates/dnshunt-detect/src/registry.rs", "DetectorsConfig"),
    ("enrich", "crates/dnshunt/src/enrich.rs", "EnrichConfig"),
    ("allowlist", "crates/dnshunt-detect/src/allowlist.rs", "AllowlistConfig"),
    ("state", "crates/dnshunt/src/state.rs", "StateConfig"),
    ("aggregate", "crates/dnshunt-detect/src/aggregate.rs", "AggregateConfig"),
    ("incidents", "crates/dnshunt-incident/src/lib.rs", "IncidentConfig"),
    ("prevalence", "crates/dnshunt-prevalence/src/config.rs", "PrevalenceConfig"),
    ("resolvers", "crates/dnshunt/src/config.rs", "ResolversConfig"),
    ("memory", "crates/dnshunt/src/config.rs", "MemoryConfig"),
    ("attribution", "crates/dnshunt-attribution/src/lib.rs", "AttributionConfig"),
];

/// `dnshunt.example.toml`: every setting with its default, each with the doc comment of the
/// field it sets. `read` gives the text of a source file (path relative to the workspace
/// root); the defaults come from [`Config::default`], so the file cannot drift from the code.
/// Settings without a default (unset options) are listed commented out.
#[cfg(test)]
fn example_toml(read: &dyn Fn(&str) -> String) -> String {
    use std::fmt::Write as _;
    let defaults = toml::to_string_pretty(&Config::default()).expect("the config serialises");
    let top = dnshunt_detect::docs::struct_fields(&read("crates/dnshunt/src/config.rs"), Some("Config"));
    let fields_of = |table: &str| -> Vec<(String, String, String)> {
        if let Some(detector) = table.strip_prefix("detectors.") {
            if detector.contains('.') {
                // A table inside a detector's (a map such as `record_type.types`).
                return Vec::new();
            }
            return dnshunt_detect::docs::struct_fields(&read(&format!("crates/dnshunt-detect/src/detectors/{detector}.rs")), None);
        }
        DOCUMENTED
            .iter()
            .find(|(t, _, _)| *t == table)
            .map(|(_, file, name)| dnshunt_detect::docs::struct_fields(&read(file), Some(name)))
            .unwrap_or_default()
    };
    let comment = |out: &mut String, indent: &str, text: &str| {
        let mut line = String::new();
        for word in text.split_whitespace() {
            if !line.is_empty() && line.len() + word.len() + indent.len() + 3 > 96 {
                let _ = writeln!(out, "{indent}# {line}");
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            let _ = writeln!(out, "{indent}# {line}");
        }
    };
    let mut out = String::from(
        "# dnshunt configuration: every setting with its default.\n\
         #\n\
         # Generated from the code (`DNSHUNT_BLESS=1 cargo test -p dnshunt --bin dnshunt example_toml`);\n\
         # a test fails when it is out of date. Copy what you change into your own file and pass it\n\
         # with `dnshunt hunt --config FILE`: settings left out keep their defaults, and unknown\n\
         # keys are errors. Detectors are described in docs/detectors.md.\n",
    );
    // Tables in order, with the keys each has in the defaults.
    let mut fields: Vec<(String, String, String)> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let flush_unset = |out: &mut String, fields: &[(String, String, String)], seen: &[String]| {
        for (field, ty, doc) in fields {
            // Unset options (serialised as nothing).
            if ty.starts_with("Option<") && !seen.contains(field) {
                out.push('\n');
                comment(out, "", doc);
                let _ = writeln!(out, "# {field} = ...  (not set by default)");
            }
        }
    };
    for line in defaults.lines().filter(|l| !l.is_empty()) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            flush_unset(&mut out, &fields, &seen);
            let table = name;
            fields = fields_of(table);
            seen.clear();
            out.push('\n');
            let doc = match table.split_once('.') {
                None => top.iter().find(|(f, _, _)| *f == table).map(|(_, _, d)| d.clone()),
                Some(("detectors", detector)) if !detector.contains('.') => Some(format!("The {detector} detector (docs/detectors.md#{detector}).")),
                Some((parent, key)) => {
                    let (parent_table, key) = match key.rsplit_once('.') {
                        Some((mid, last)) => (format!("{parent}.{mid}"), last),
                        None => (parent.to_owned(), key),
                    };
                    fields_of(&parent_table).into_iter().find(|(f, _, _)| f == key).map(|(_, _, d)| d)
                }
            };
            if let Some(doc) = doc.filter(|d| !d.is_empty()) {
                comment(&mut out, "", &doc);
            }
            let _ = writeln!(out, "{line}");
            continue;
        }
        if let Some((key, _)) = line.split_once(" = ").filter(|_| !line.starts_with(' ') && !line.starts_with(']')) {
            let key = key.trim().trim_matches('"');
            seen.push(key.to_owned());
            if let Some((_, _, doc)) = fields.iter().find(|(f, _, _)| f == key).filter(|(_, _, d)| !d.is_empty()) {
                comment(&mut out, "", doc);
            }
        }
        let _ = writeln!(out, "{line}");
    }
    flush_unset(&mut out, &fields, &seen);
    out
}

#[cfg(test)]
mod tests {
    use dnshunt_core::Severity;

    use super::*;

    #[test]
    fn resolvers_table_feeds_resolver_bypass_and_typos_are_errors() {
        let c = parse("[resolvers]\naddresses = [\"10.0.0.53\", \"fd00:53::/64\"]\n[detectors.resolver_bypass]\nresolvers = [\"10.9.0.0/16\"]\n").unwrap();
        assert_eq!(c.detectors.resolver_bypass.resolvers, ["10.9.0.0/16", "10.0.0.53", "fd00:53::/64"]);
        let err = parse("[resolvers]\naddresses = [\"dns.corp\"]\n").unwrap_err();
        assert!(format!("{err:#}").contains("dns.corp"), "{err:#}");
    }

    #[test]
    fn detectors_can_be_switched_off_by_name() {
        let c = parse("[detectors]\ndisabled = [\"outlier\", \"related_lookup\"]\n").unwrap();
        assert!(!c.detectors.enabled("outlier") && !c.detectors.enabled("related_lookup") && c.detectors.enabled("dga"));
        let err = parse("[detectors]\ndisabled = [\"outliers\"]\n").unwrap_err();
        assert!(format!("{err:#}").contains("outliers is no detector"), "{err:#}");
    }

    #[test]
    fn empty_config_is_the_default() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn detector_settings_and_typos() {
        let c = parse("[detectors.record_type]\nallowed_processes = [\"outlook.exe\"]\n[detectors.record_type.types]\nTXT = \"medium\"\n").unwrap();
        assert_eq!(c.detectors.record_type.allowed_processes, ["outlook.exe"]);
        assert_eq!(c.detectors.record_type.types["TXT"], Severity::Medium);
        let err = parse("[detectors.record_typo]\n").unwrap_err();
        assert!(format!("{err:#}").contains("record_typo"), "{err:#}");
        let c = parse("[allowlist]\ndomains = [\"corp.example\"]\npairs = [{process = \"teams.exe\", domain = \"teams.microsoft.com\"}]\n[detectors.lookalike]\nprotected = [\"corp.example\"]\n").unwrap();
        assert_eq!(c.allowlist.domains, ["corp.example"]);
        assert_eq!(c.allowlist.pairs[0].process, "teams.exe");
        assert_eq!(c.detectors.lookalike.protected, ["corp.example"]);
        let err = parse("[allowlist]\ndomain = []\n").unwrap_err();
        assert!(format!("{err:#}").contains("domain"), "{err:#}");
    }

    /// The committed `dnshunt.example.toml` is what the code generates, and it loads back to the
    /// defaults. `DNSHUNT_BLESS=1` rewrites it.
    #[test]
    fn example_toml_is_current_and_loads_as_the_defaults() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let read = |rel: &str| std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let generated = example_toml(&read);
        let path = root.join("dnshunt.example.toml");
        if std::env::var_os("DNSHUNT_BLESS").is_some() {
            std::fs::write(&path, &generated).expect("write dnshunt.example.toml");
        }
        assert_eq!(parse(&generated).expect("the example parses"), parse("").expect("empty config"));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "dnshunt.example.toml is stale: DNSHUNT_BLESS=1 cargo test -p dnshunt --bin dnshunt example_toml"
        );
        // Every documented top-level table and every detector with settings is in it.
        for (table, _, _) in DOCUMENTED {
            assert!(generated.contains(&format!("[{table}]")), "{table}");
        }
        for name in dnshunt_detect::registry::DETECTOR_NAMES {
            let file = root.join(format!("crates/dnshunt-detect/src/detectors/{name}.rs"));
            let has_settings = std::fs::read_to_string(file).is_ok_and(|t| !dnshunt_detect::docs::struct_fields(&t, None).is_empty());
            assert_eq!(generated.contains(&format!("[detectors.{name}]")), has_settings, "{name}");
        }
    }
}

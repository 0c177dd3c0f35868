//! The config file (TOML). Everything has a default: no config file is needed.

use std::path::Path;

use anyhow::{Context, Result};
use dnshunt_detect::registry::DetectorsConfig;
use serde::Deserialize;

/// The whole config file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
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
}

/// `[resolvers]`: `addresses = ["10.0.0.53", "fd00:53::/64"]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
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
}

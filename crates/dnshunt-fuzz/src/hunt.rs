//! What `dnshunt hunt` does with events once they are read, rebuilt from the libraries (the
//! binary's `run::Analysis` is not reachable from a library): detectors from the registry,
//! the engine with allowlist and aggregation, prevalence, then incidents. The config file's
//! library parts are parsed and checked as the binary's `config::parse` does.

use std::sync::OnceLock;

use dnshunt_core::{Detector, Event, Origin, Outcome, Severity};
use dnshunt_detect::aggregate::AggregateConfig;
use dnshunt_detect::allowlist::{Allowlist, AllowlistConfig};
use dnshunt_detect::registry::{self, DetectorInputs, DetectorsConfig};
use dnshunt_detect::{Engine, EngineConfig};
use dnshunt_incident::IncidentConfig;
use dnshunt_prevalence::{Prevalence, PrevalenceConfig};
use serde::Deserialize;

/// The binary's `Config` (`crates/dnshunt/src/config.rs`) as far as libraries define it: the
/// same tables and the same `deny_unknown_fields`. `[enrich]` and `[state]` are the binary's
/// own types and are read here as any table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    detectors: DetectorsConfig,
    enrich: toml::Table,
    allowlist: AllowlistConfig,
    state: toml::Table,
    aggregate: AggregateConfig,
    incidents: IncidentConfig,
    prevalence: PrevalenceConfig,
    resolvers: Resolvers,
    memory: Memory,
}

/// `[memory]`, as in the binary (its defaults there; here 0, no budget, unless set).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Memory {
    budget_mb: u64,
    max_findings: usize,
    max_processes: usize,
    /// Read (the binary bounds its state store's entries with it); no state store here.
    max_state_entries: usize,
}

impl Default for Memory {
    fn default() -> Self {
        let engine = EngineConfig::default();
        Memory {
            budget_mb: 0,
            max_findings: engine.max_findings,
            max_processes: engine.max_processes,
            max_state_entries: 1_000_000,
        }
    }
}

impl Config {
    /// The binary's `Config::fit_memory`: every bound lowered to its share of the budget.
    fn fit_memory(&mut self) {
        if self.memory.budget_mb == 0 {
            return;
        }
        let shares = registry::MemoryShares::of(self.memory.budget_mb.saturating_mul(1 << 20));
        let mut fitted = self.detectors.fit_memory(shares.detectors);
        fitted.extend(self.aggregate.fit_memory(shares.aggregate));
        let _ = self.prevalence.fit_memory(shares.prevalence);
        registry::fit_engine_bounds(
            &mut fitted,
            &shares,
            &mut self.memory.max_findings,
            &mut self.memory.max_processes,
            &mut self.memory.max_state_entries,
        );
    }
}

/// `[resolvers]`, as in the binary.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Resolvers {
    addresses: Vec<String>,
}

/// `toml::from_str` and the checks of the binary's `config::parse`; `None` where the binary
/// stops with an error.
///
/// One difference: where the text does not set `[detectors.lookalike] builtin_brands`, it is
/// false here (see [`hunt_default`] for why); every other value is the text's or the default.
pub(crate) fn parse_config(text: &str) -> Option<Config> {
    let mut table: toml::Table = toml::from_str(text).ok()?;
    let detectors = table.entry("detectors").or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let Some(lookalike) = detectors
        .as_table_mut()
        .map(|d| d.entry("lookalike").or_insert_with(|| toml::Value::Table(toml::Table::new())))
    {
        if let Some(lookalike) = lookalike.as_table_mut() {
            lookalike.entry("builtin_brands").or_insert(toml::Value::Boolean(false));
        }
    }
    let mut config: Config = Config::deserialize(toml::Value::Table(table)).ok()?;
    let _ = (config.enrich.len(), config.state.len());
    let listed = std::mem::take(&mut config.resolvers.addresses);
    config.detectors.resolver_bypass.resolvers.extend(listed);
    if !config.detectors.unknown_disabled().is_empty() {
        return None;
    }
    if config
        .detectors
        .resolver_bypass
        .resolvers
        .iter()
        .any(|r| dnshunt_detect::stats::Network::parse(r).is_none())
    {
        return None;
    }
    config.fit_memory();
    Some(config)
}

/// Events of the fixtures (one incident in Sysmon's own JSON rendering: process creations,
/// DNS queries, connections), read once.
pub(crate) fn fixture_events() -> &'static [Event] {
    static EVENTS: OnceLock<Vec<Event>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let text = include_bytes!("../../../fixtures/seed/evtx_json.ndjson");
        let file: std::sync::Arc<str> = std::sync::Arc::from("evtx_json.ndjson");
        let mut events = Vec::new();
        let mut warnings = Vec::new();
        for (n, line) in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).enumerate() {
            let mut records = Vec::new();
            dnshunt_source::json_visit::parse_document(line, &mut records).expect("the fixture is JSON");
            for raw in records {
                if let Ok(Outcome::Event(event)) = dnshunt_core::normalize(raw, Origin::line(&file, n as u64 + 1), &mut warnings) {
                    events.push(*event);
                }
            }
        }
        events
    })
}

/// A hunt over `events` with the default config and no lists or databases, except that
/// `lookalike` protects a handful of brands instead of its built-in thousands: building that
/// index is most of the cost of a hunt over a few events (the product builds it once per run),
/// and the detector's code is the same for five brands as for five thousand.
pub(crate) fn hunt_default(events: &[Event]) {
    if !events.is_empty() {
        hunt(events, light_config(), DetectorInputs::default(), Vec::new());
    }
}

/// The default config with `lookalike` protecting a handful of brands (see [`hunt_default`]).
pub(crate) fn light_config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let mut config = Config::default();
        config.detectors.lookalike.builtin_brands = false;
        config.detectors.lookalike.protected = ["example.com", "microsoft.com", "paypal.com", "youtube.com", "xn--80ak6aa92e.com"]
            .map(String::from)
            .to_vec();
        config
    })
}

/// A hunt as the binary's `run::Analysis` does it: every detector the config enables (and
/// `extra` ones, such as `sigma`), the engine with allowlist and aggregation, prevalence
/// counted in the same pass, findings damped or raised, then incidents.
pub(crate) fn hunt(events: &[Event], config: &Config, inputs: DetectorInputs, extra: Vec<Box<dyn Detector>>) {
    let mut detectors = registry::build(&config.detectors, inputs);
    detectors.extend(extra);
    let mut engine = Engine::new(
        EngineConfig {
            max_evidence: 5,
            min_severity: Severity::Info,
            aggregate: config.aggregate.clone(),
            related_lookup: config.detectors.enabled("related_lookup"),
            max_findings: config.memory.max_findings,
            max_processes: config.memory.max_processes,
            ..Default::default()
        },
        detectors,
    )
    .with_allowlist(Allowlist::new(&config.allowlist));
    let mut prevalence = Prevalence::new(config.prevalence.clone());
    for event in events {
        engine.observe(event);
        prevalence.observe(event);
    }
    let (mut findings, _report) = engine.finish_with(&|domain: &str| prevalence.is_rare_indicator(domain));
    let _ = prevalence.apply_to_findings(&mut findings);
    let incidents = dnshunt_incident::build(&mut findings, &config.incidents, &|indicator: &str| prevalence.is_rare_indicator(indicator));
    let _ = serde_json::to_string(&findings);
    let _ = serde_json::to_string(&incidents);
}

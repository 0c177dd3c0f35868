//! Every detector's settings in one place, and the one function that builds the detectors.
//!
//! `DetectorsConfig` is the `[detectors]` table of the config file: one sub-table per detector,
//! named like the detector's file. Adding a detector means a field here and a line in
//! [`build`].

use dnshunt_core::Detector;
use serde::Deserialize;

use crate::detectors::beacon::{Beacon, BeaconConfig};
use crate::detectors::blocklist::{Blocklist, BlocklistConfig};
use crate::detectors::connection_without_lookup::{ConnectionWithoutLookup, ConnectionWithoutLookupConfig};
use crate::detectors::dga::{Dga, DgaConfig};
use crate::detectors::direct_dns::{DirectDns, DirectDnsConfig};
use crate::detectors::doh_connection::{DohConnection, DohConnectionConfig};
use crate::detectors::doh_lookup::{DohLookup, DohLookupConfig};
use crate::detectors::encoded_name::{EncodedName, EncodedNameConfig};
use crate::detectors::first_seen::{FirstSeen, FirstSeenBaseline, FirstSeenConfig};
use crate::detectors::geo::{Geo, GeoConfig};
use crate::detectors::kerberos_client::{KerberosClient, KerberosClientConfig};
use crate::detectors::lookalike::{Lookalike, LookalikeConfig};
use crate::detectors::lookup_without_connection::{LookupWithoutConnection, LookupWithoutConnectionConfig};
use crate::detectors::nxdomain_storm::{NxdomainStorm, NxdomainStormConfig};
use crate::detectors::outlier::{Outlier, OutlierConfig};
use crate::detectors::process_context::{ProcessContext, ProcessContextConfig};
use crate::detectors::record_type::{RecordTypeConfig, RecordTypes};
use crate::detectors::resolver_bypass::{ResolverBypass, ResolverBypassConfig};
use crate::detectors::special_name::{SpecialName, SpecialNameConfig};
use crate::detectors::tunnel_tool::{TunnelTool, TunnelToolConfig};
use crate::detectors::tunnel_volume::{TunnelVolume, TunnelVolumeConfig};
use crate::detectors::wire_answer::{WireAnswerConfig, WireAnswerDetector};
use crate::detectors::wire_doh::{WireDoh, WireDohConfig};
use crate::detectors::wire_resolver::{WireResolver, WireResolverConfig};
use crate::detectors::wire_tunnel::{WireTunnel, WireTunnelConfig};
use crate::detectors::young_domain::{YoungDomain, YoungDomainConfig};
use crate::indicators::IndicatorSet;

/// Settings of all detectors (`[detectors]` in the config file).
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorsConfig {
    pub blocklist: BlocklistConfig,
    pub record_type: RecordTypeConfig,
    pub resolver_bypass: ResolverBypassConfig,
    pub doh_connection: DohConnectionConfig,
    pub beacon: BeaconConfig,
    pub nxdomain_storm: NxdomainStormConfig,
    pub tunnel_volume: TunnelVolumeConfig,
    pub connection_without_lookup: ConnectionWithoutLookupConfig,
    pub lookup_without_connection: LookupWithoutConnectionConfig,
    pub first_seen: FirstSeenConfig,
    pub outlier: OutlierConfig,
    pub lookalike: LookalikeConfig,
    pub encoded_name: EncodedNameConfig,
    pub dga: DgaConfig,
    pub special_name: SpecialNameConfig,
    pub doh_lookup: DohLookupConfig,
    pub process_context: ProcessContextConfig,
    pub geo: GeoConfig,
    pub young_domain: YoungDomainConfig,
    pub kerberos_client: KerberosClientConfig,
    pub tunnel_tool: TunnelToolConfig,
    pub wire_tunnel: WireTunnelConfig,
    pub wire_answer: WireAnswerConfig,
    pub wire_doh: WireDohConfig,
    pub wire_resolver: WireResolverConfig,
    pub direct_dns: DirectDnsConfig,
    /// Detectors switched off, by name (`disabled = ["outlier", "first_seen"]`).
    pub disabled: Vec<String>,
}

/// Every detector's name, as `[detectors.<name>]`, `disabled` and findings spell it.
pub const DETECTOR_NAMES: [&str; 27] = [
    "beacon",
    "blocklist",
    "connection_without_lookup",
    "dga",
    "direct_dns",
    "doh_connection",
    "doh_lookup",
    "encoded_name",
    "first_seen",
    "geo",
    "kerberos_client",
    "lookalike",
    "lookup_without_connection",
    "nxdomain_storm",
    "outlier",
    "process_context",
    "record_type",
    "related_lookup",
    "resolver_bypass",
    "special_name",
    "tunnel_tool",
    "tunnel_volume",
    "wire_answer",
    "wire_doh",
    "wire_resolver",
    "wire_tunnel",
    "young_domain",
];

/// A table bound lowered to fit a memory budget: `[detectors.<detector>] <setting>` from what
/// the config says to what the budget allows.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Fitted {
    pub setting: String,
    pub configured: usize,
    pub fitted: usize,
}

/// Lowers `value` to what `share` of `bytes` allows at `bytes_each` an entry (never below 1,000:
/// a detector must still work on a small budget), and records it when it changed.
pub fn fit(out: &mut Vec<Fitted>, setting: &str, value: &mut usize, bytes: u64, share: f64, bytes_each: u64) {
    let allowed = ((bytes as f64 * share) / bytes_each as f64) as usize;
    let allowed = allowed.max(1_000);
    if allowed < *value {
        out.push(Fitted {
            setting: setting.to_owned(),
            configured: *value,
            fitted: allowed,
        });
        *value = allowed;
    }
}

/// How a memory budget is shared (`[memory] budget_mb`): bytes for the detectors' tables, the
/// per-name findings held for aggregation, prevalence, the findings held, the process join and
/// the state store's entries. The rest (13 %) is left for reading, incidents and the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryShares {
    pub detectors: u64,
    pub aggregate: u64,
    pub prevalence: u64,
    pub findings: u64,
    pub processes: u64,
    pub state: u64,
}

/// Lowers the bounds outside the detectors (`[memory]` in the binary's config) to what their
/// shares hold: findings held (about 8 KB each with their evidence), processes of the process
/// join (about 400 bytes each), a state store's entries held by a run (about 200 bytes each).
pub fn fit_engine_bounds(out: &mut Vec<Fitted>, shares: &MemoryShares, max_findings: &mut usize, max_processes: &mut usize, max_state_entries: &mut usize) {
    fit(out, "memory.max_findings", max_findings, shares.findings, 1.0, 8_000);
    fit(out, "memory.max_processes", max_processes, shares.processes, 1.0, 400);
    fit(out, "memory.max_state_entries", max_state_entries, shares.state, 1.0, 200);
}

impl MemoryShares {
    pub fn of(bytes: u64) -> MemoryShares {
        let share = |percent: u64| bytes / 100 * percent;
        MemoryShares {
            detectors: share(45),
            aggregate: share(8),
            prevalence: share(12),
            findings: share(10),
            processes: share(7),
            state: share(5),
        }
    }
}

impl DetectorsConfig {
    /// Lowers the bounds of the detectors' tables so that all of them full take at most
    /// `bytes` (bounds already lower stay). Each table gets a fixed share of `bytes` and is
    /// costed at about what one entry takes, measured at 10 million distinct names
    /// (`scripts/bench-names.sh`); the shares follow what the tables hold: beacon series,
    /// outlier and first-seen keys keep an event each (about a kilobyte), address and minute
    /// sets tens of bytes an entry.
    pub fn fit_memory(&mut self, bytes: u64) -> Vec<Fitted> {
        let mut out = Vec::new();
        let f = &mut out;
        fit(f, "beacon.max_series", &mut self.beacon.max_series, bytes, 0.11, 1_200);
        fit(f, "beacon.max_timestamps", &mut self.beacon.max_timestamps, bytes, 0.05, 16);
        fit(f, "outlier.max_keys", &mut self.outlier.max_keys, bytes, 0.10, 1_100);
        fit(
            f,
            "lookup_without_connection.max_domains",
            &mut self.lookup_without_connection.max_domains,
            bytes,
            0.12,
            240,
        );
        fit(f, "lookup_without_connection.max_keys", &mut self.lookup_without_connection.max_keys, bytes, 0.04, 1_200);
        fit(
            f,
            "lookup_without_connection.max_connected",
            &mut self.lookup_without_connection.max_connected,
            bytes,
            0.03,
            64,
        );
        fit(
            f,
            "connection_without_lookup.max_addresses",
            &mut self.connection_without_lookup.max_addresses,
            bytes,
            0.07,
            100,
        );
        fit(f, "connection_without_lookup.max_minutes", &mut self.connection_without_lookup.max_minutes, bytes, 0.03, 24);
        fit(f, "connection_without_lookup.max_keys", &mut self.connection_without_lookup.max_keys, bytes, 0.06, 800);
        fit(
            f,
            "connection_without_lookup.max_processes",
            &mut self.connection_without_lookup.max_processes,
            bytes,
            0.02,
            40,
        );
        fit(f, "nxdomain_storm.max_keys", &mut self.nxdomain_storm.max_keys, bytes, 0.04, 1_200);
        fit(f, "first_seen.max_keys", &mut self.first_seen.max_keys, bytes, 0.05, 1_100);
        fit(f, "doh_connection.max_keys", &mut self.doh_connection.max_keys, bytes, 0.04, 1_100);
        fit(f, "resolver_bypass.max_keys", &mut self.resolver_bypass.max_keys, bytes, 0.04, 1_100);
        fit(f, "tunnel_volume.max_windows", &mut self.tunnel_volume.max_windows, bytes, 0.12, 1_200);
        // A busy process followed for bursts: its exact distinct count, a lookup for its
        // context, a few odd names' hashes and listed names.
        fit(f, "dga.max_processes", &mut self.dga.max_processes, bytes, 0.03, 3_000);
        fit(f, "process_context.max_processes", &mut self.process_context.max_processes, bytes, 0.03, 1_000);
        fit(
            f,
            "process_context.max_pending_processes",
            &mut self.process_context.max_pending_processes,
            bytes,
            0.02,
            5_000,
        );
        out
    }

    /// Whether a detector runs.
    pub fn enabled(&self, name: &str) -> bool {
        !self.disabled.iter().any(|d| d == name)
    }

    /// Names in `disabled` that are no detector (a typo must not leave a detector running).
    pub fn unknown_disabled(&self) -> Vec<&str> {
        self.disabled.iter().map(String::as_str).filter(|d| !DETECTOR_NAMES.contains(d)).collect()
    }
}

/// Data that detectors need and that the binary loads from files.
#[derive(Debug, Default)]
pub struct DetectorInputs {
    /// User blocklists (`--blocklist`).
    pub blocklist: IndicatorSet,
    /// What earlier runs saw, from the state store (`--state`); `None` without a store.
    pub first_seen: Option<FirstSeenBaseline>,
    /// Extra DNS-over-HTTPS host names (`--doh-list`).
    pub doh_endpoints: Vec<String>,
    /// GeoIP/ASN/anonymiser databases (`--geoip`), shared with the binary's enrichment of
    /// findings and events; `None` without databases (the `geo` detector does not run).
    pub geo: Option<std::sync::Arc<dnshunt_enrich::geo::GeoLookup>>,
    /// Registration dates from NRD feeds and RDAP (`--nrd`, `--rdap`); `None` without them
    /// (the `young_domain` detector does not run).
    pub ages: Option<std::sync::Arc<dnshunt_enrich::age::AgeTable>>,
    /// Popularity ranks (`--rank`); name-based detectors damp popular and raise never-ranked
    /// registrable domains with [`dnshunt_enrich::rank::popularity_factor`].
    pub rank: Option<std::sync::Arc<dnshunt_enrich::rank::RankTable>>,
}

/// Builds the detectors in the order they run.
pub fn build(config: &DetectorsConfig, inputs: DetectorInputs) -> Vec<Box<dyn Detector>> {
    let mut detectors: Vec<Box<dyn Detector>> = Vec::new();
    if !inputs.blocklist.is_empty() {
        detectors.push(Box::new(Blocklist::new(config.blocklist.clone(), inputs.blocklist)));
    }
    detectors.push(Box::new(RecordTypes::new(config.record_type.clone())));
    detectors.push(Box::new(ResolverBypass::new(config.resolver_bypass.clone())));
    detectors.push(Box::new(DohConnection::new(config.doh_connection.clone())));
    detectors.push(Box::new(Beacon::new(config.beacon.clone()).with_rank(inputs.rank.clone())));
    detectors.push(Box::new(NxdomainStorm::new(config.nxdomain_storm.clone())));
    detectors.push(Box::new(TunnelVolume::new(config.tunnel_volume.clone())));
    detectors.push(Box::new(ConnectionWithoutLookup::new(config.connection_without_lookup.clone())));
    detectors.push(Box::new(LookupWithoutConnection::new(config.lookup_without_connection.clone())));
    detectors.push(Box::new(FirstSeen::new(config.first_seen.clone(), inputs.first_seen)));
    detectors.push(Box::new(Outlier::new(config.outlier.clone())));
    detectors.push(Box::new(Lookalike::new(config.lookalike.clone()).with_rank(inputs.rank.clone())));
    detectors.push(Box::new(EncodedName::new(config.encoded_name.clone()).with_rank(inputs.rank.clone())));
    detectors.push(Box::new(Dga::new(config.dga.clone()).with_rank(inputs.rank.clone())));
    detectors.push(Box::new(SpecialName::new(config.special_name.clone())));
    detectors.push(Box::new(DohLookup::new(config.doh_lookup.clone(), inputs.doh_endpoints)));
    detectors.push(Box::new(ProcessContext::new(config.process_context.clone())));
    detectors.push(Box::new(KerberosClient::new(config.kerberos_client.clone())));
    detectors.push(Box::new(TunnelTool::new(config.tunnel_tool.clone())));
    detectors.push(Box::new(WireTunnel::new(config.wire_tunnel.clone())));
    detectors.push(Box::new(WireAnswerDetector::new(config.wire_answer.clone())));
    detectors.push(Box::new(WireDoh::new(config.wire_doh.clone())));
    detectors.push(Box::new(WireResolver::new(config.wire_resolver.clone())));
    detectors.push(Box::new(DirectDns::new(config.direct_dns.clone())));
    if let Some(geo) = inputs.geo {
        detectors.push(Box::new(Geo::new(config.geo.clone(), geo)));
    }
    if let Some(ages) = inputs.ages {
        detectors.push(Box::new(YoungDomain::new(config.young_domain.clone(), ages, inputs.rank.clone())));
    }
    detectors.retain(|d| config.enabled(d.name()));
    detectors
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_memory_budget_lowers_the_bounds_in_proportion_and_keeps_lower_ones() {
        let mut config = DetectorsConfig::default();
        config.outlier.max_keys = 500;
        let small = config.clone().fit_memory(64 << 20);
        let large = config.clone().fit_memory(64 << 30);
        assert!(large.is_empty(), "a large budget keeps the defaults: {large:?}");
        let fitted = |name: &str| small.iter().find(|f| f.setting == name).map(|f| f.fitted);
        // 64 MiB: beacon's series get 11 % of it at about 1,200 bytes each.
        assert_eq!(fitted("beacon.max_series"), Some((64 << 20) * 11 / 100 / 1_200));
        assert!(fitted("lookup_without_connection.max_domains").unwrap() < 1_000_000);
        // Set lower than the budget allows: kept.
        assert_eq!(fitted("outlier.max_keys"), None);
        let mut fit = config.clone();
        fit.fit_memory(64 << 20);
        assert_eq!(fit.outlier.max_keys, 500);
        assert_eq!(fit.beacon.max_series, fitted("beacon.max_series").unwrap());
        // Never below 1,000: a detector still works on a tiny budget.
        let mut tiny = DetectorsConfig::default();
        tiny.fit_memory(1);
        assert_eq!(tiny.beacon.max_series, 1_000);
    }

    use super::*;

    #[test]
    fn every_detector_is_named_and_can_be_switched_off() {
        let all = build(&DetectorsConfig::default(), DetectorInputs::default());
        for d in &all {
            assert!(DETECTOR_NAMES.contains(&d.name()), "{} is missing from DETECTOR_NAMES", d.name());
        }
        let config = DetectorsConfig {
            disabled: vec!["outlier".into(), "first_seen".into()],
            ..Default::default()
        };
        let some: Vec<&str> = build(&config, DetectorInputs::default()).iter().map(|d| d.name()).collect();
        assert_eq!(some.len(), all.len() - 2);
        assert!(!some.contains(&"outlier") && !some.contains(&"first_seen"));
        let typo = DetectorsConfig {
            disabled: vec!["outliers".into()],
            ..Default::default()
        };
        assert_eq!(typo.unknown_disabled(), ["outliers"]);
    }
}

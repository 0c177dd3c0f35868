//! `[prevalence]`: how much is counted exactly, and the policy that damps what the fleet does
//! and raises what one host does.

use serde::{Deserialize, Serialize};

/// Settings of prevalence counting and of [`crate::Prevalence::assess`].
///
/// Out-of-range values are brought into range when a [`crate::Prevalence`] is built;
/// [`PrevalenceConfig::validate`] says which, for a config loader to report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PrevalenceConfig {
    /// Keys counted exactly per kind (domains, addresses, images, command lines each); later
    /// new keys go to the overflow sketch. Default 458,752: seven eighths of 2^19, the most a
    /// hash table of 2^19 slots holds before it doubles, so a full table wastes no slots.
    pub max_exact_keys: usize,
    /// Distinct hosts counted exactly per key; beyond, a HyperLogLog estimate (1 KiB, about
    /// 1–3 % error in the hundreds). Default 64, at least 3.
    pub exact_hosts_per_key: usize,
    /// Distinct processes counted exactly per key; beyond, a HyperLogLog estimate (256 bytes,
    /// 6.5 % standard error). Default 16, at least 3.
    pub exact_processes_per_key: usize,
    /// Cells per row of a kind's overflow sketch (4 rows of 40-byte cells), rounded up to a
    /// power of two. Default 131,072 (20 MiB), allocated only when a kind overflows.
    pub sketch_width: usize,
    /// Bits of a kind's overflow Bloom filter (which keys and key-host and key-process pairs were
    /// counted), rounded up to a power of two. Default 2^26 (8 MiB): about 1 % false positives
    /// at 7 million pairs.
    pub sketch_bloom_bits: usize,
    /// Hosts the fleet must have before anything is damped or raised: with fewer, every
    /// assessment is neutral. Default 3.
    pub min_fleet_hosts: u64,
    /// Share of the fleet's hosts from which a key is fleet-common and damped. Default 0.5.
    pub common_share: f64,
    /// Hosts a key needs, whatever its share, to be fleet-common. Default 3.
    pub common_min_hosts: u64,
    /// Score factor of a key at exactly `common_share` of the hosts. Default 0.5.
    pub common_factor: f64,
    /// Score factor of a key every host has; between `common_share` and all hosts the factor
    /// moves linearly from `common_factor` to this. Default 0.2.
    pub fleet_wide_factor: f64,
    /// A key seen on at most this many hosts and at most `rare_max_events` times is rare, and
    /// raised. Default 1, at least 1.
    pub rare_max_hosts: u64,
    /// See `rare_max_hosts`. Default 3.
    pub rare_max_events: u64,
    /// Score factor of a rare key. Default 1.15.
    pub rare_factor: f64,
}

impl Default for PrevalenceConfig {
    fn default() -> Self {
        PrevalenceConfig {
            max_exact_keys: 458_752,
            exact_hosts_per_key: 64,
            exact_processes_per_key: 16,
            sketch_width: 131_072,
            sketch_bloom_bits: 1 << 26,
            min_fleet_hosts: 3,
            common_share: 0.5,
            common_min_hosts: 3,
            common_factor: 0.5,
            fleet_wide_factor: 0.2,
            rare_max_hosts: 1,
            rare_max_events: 3,
            rare_factor: 1.15,
        }
    }
}

impl PrevalenceConfig {
    /// Lowers the exact keys and the overflow sketches so that the four kinds' tables, full,
    /// take at most `bytes` (about 200 bytes an exact key; a quarter of `bytes` for the
    /// sketches, which are allocated only when a kind overflows). Returns `(setting,
    /// configured, fitted)` for each value lowered.
    pub fn fit_memory(&mut self, bytes: u64) -> Vec<(&'static str, usize, usize)> {
        let mut out = Vec::new();
        let per_kind = bytes / 4;
        let keys = ((per_kind * 3 / 4) / 200).max(1_000) as usize;
        if keys < self.max_exact_keys {
            out.push(("prevalence.max_exact_keys", self.max_exact_keys, keys));
            self.max_exact_keys = keys;
        }
        // A sketch of 4 × width cells of 40 bytes and a Bloom filter, 60 : 40.
        let sketch = per_kind / 4;
        let width = prev_power_of_two((sketch * 6 / 10 / 160) as usize).max(1_024);
        if width < self.sketch_width {
            out.push(("prevalence.sketch_width", self.sketch_width, width));
            self.sketch_width = width;
        }
        let bits = prev_power_of_two((sketch * 4 / 10 * 8) as usize).max(1 << 16);
        if bits < self.sketch_bloom_bits {
            out.push(("prevalence.sketch_bloom_bits", self.sketch_bloom_bits, bits));
            self.sketch_bloom_bits = bits;
        }
        out
    }

    /// Every setting that is out of range, with the range; empty when all are fine.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, what: &str| {
            if !ok {
                problems.push(what.to_owned());
            }
        };
        check(self.exact_hosts_per_key >= 3, "exact_hosts_per_key must be at least 3");
        check(self.exact_processes_per_key >= 3, "exact_processes_per_key must be at least 3");
        check(self.sketch_width >= 64, "sketch_width must be at least 64");
        check(self.sketch_bloom_bits >= 64, "sketch_bloom_bits must be at least 64");
        check(
            self.sketch_width <= 1 << 30 && self.sketch_bloom_bits <= 1 << 40,
            "sketch_width must be at most 2^30 and sketch_bloom_bits at most 2^40",
        );
        check(self.common_share > 0.0 && self.common_share <= 1.0, "common_share must be in (0, 1]");
        check(self.common_factor > 0.0 && self.common_factor <= 1.0, "common_factor must be in (0, 1]");
        check(
            self.fleet_wide_factor > 0.0 && self.fleet_wide_factor <= self.common_factor.min(1.0),
            "fleet_wide_factor must be in (0, common_factor]",
        );
        check(self.rare_max_hosts >= 1, "rare_max_hosts must be at least 1");
        check(self.rare_factor >= 1.0 && self.rare_factor <= 2.0, "rare_factor must be in [1, 2]");
        problems
    }

    /// The same settings brought into range (NaN counts as out of range).
    pub(crate) fn sanitised(&self) -> PrevalenceConfig {
        let unit = |v: f64, default: f64| if v > 0.0 && v <= 1.0 { v } else { default };
        let common_factor = unit(self.common_factor, 0.5);
        let fleet_wide_factor = unit(self.fleet_wide_factor, common_factor.min(0.2)).min(common_factor);
        PrevalenceConfig {
            max_exact_keys: self.max_exact_keys,
            exact_hosts_per_key: self.exact_hosts_per_key.max(3),
            exact_processes_per_key: self.exact_processes_per_key.max(3),
            sketch_width: self.sketch_width.clamp(64, 1 << 24),
            sketch_bloom_bits: self.sketch_bloom_bits.clamp(64, 1 << 34),
            min_fleet_hosts: self.min_fleet_hosts,
            common_share: unit(self.common_share, 0.5),
            common_min_hosts: self.common_min_hosts,
            common_factor,
            fleet_wide_factor,
            rare_max_hosts: self.rare_max_hosts.max(1),
            rare_max_events: self.rare_max_events,
            rare_factor: if (1.0..=2.0).contains(&self.rare_factor) { self.rare_factor } else { 1.15 },
        }
    }
}

/// The largest power of two at most `n` (1 for 0).
fn prev_power_of_two(n: usize) -> usize {
    if n <= 1 {
        1
    } else {
        1 << (usize::BITS - 1 - n.leading_zeros())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_unknown_fields_are_refused() {
        assert!(PrevalenceConfig::default().validate().is_empty());
        assert_eq!(PrevalenceConfig::default().sanitised(), PrevalenceConfig::default());
        let parsed: PrevalenceConfig = serde_json::from_str(r#"{"max_exact_keys": 10, "rare_factor": 1.3}"#).unwrap();
        assert_eq!(parsed.max_exact_keys, 10);
        assert_eq!(parsed.rare_factor, 1.3);
        assert_eq!(parsed.common_share, 0.5);
        assert!(serde_json::from_str::<PrevalenceConfig>(r#"{"max_keys": 10}"#).is_err());
    }

    #[test]
    fn out_of_range_values_are_reported_and_clamped() {
        let bad = PrevalenceConfig {
            common_share: 1.5,
            fleet_wide_factor: 0.9,
            rare_factor: f64::NAN,
            exact_hosts_per_key: 0,
            ..PrevalenceConfig::default()
        };
        assert_eq!(bad.validate().len(), 4, "{:?}", bad.validate());
        let fixed = bad.sanitised();
        assert!(fixed.validate().is_empty(), "{:?}", fixed.validate());
        assert_eq!(fixed.common_share, 0.5);
        assert_eq!(fixed.fleet_wide_factor, 0.5);
        assert_eq!(fixed.rare_factor, 1.15);
        assert_eq!(fixed.exact_hosts_per_key, 3);
    }
}

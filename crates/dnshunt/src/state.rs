//! The state store across runs (`--state`, `--no-state`, `[state]` in the config): opens the
//! SQLite file, hands its contents to the `first_seen` detector as a baseline, collects what this
//! run sees, and records it when the hunt is over.
//!
//! The store is opt-in: a hunt over the same evidence must give the same findings however often
//! it runs, so remembering is asked for with `--state default` (the default location) or
//! `--state PATH`, or with `[state] enabled = true` / `path = "..."` in the config file;
//! `--no-state` overrides both. The default location is `$XDG_DATA_HOME/dnshunt/state.sqlite`,
//! else `~/.local/share/dnshunt/state.sqlite` (`%LOCALAPPDATA%\dnshunt\state.sqlite` on Windows).

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use dnshunt_core::Event;
use dnshunt_detect::detectors::first_seen::{observations, FirstSeenBaseline, FLEET};
use dnshunt_state::{Entry, RecordReport, StateStore};
use serde::Deserialize;

/// `[state]` in the config file.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// Keep a state store at the default location (or `path`). Default false.
    pub enabled: bool,
    /// Where the store is; setting it enables the store.
    pub path: Option<PathBuf>,
    /// Entries not seen for this many days (event time) are forgotten. Default 90.
    pub retention_days: u32,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            enabled: false,
            path: None,
            retention_days: 90,
        }
    }
}

/// Where the store is for this run, if anywhere: `--no-state` wins, then `--state PATH` (the
/// word `default` for the default location, or the config's `path`), then the config file.
pub fn resolve_path(flag: Option<&PathBuf>, no_state: bool, config: &StateConfig) -> Result<Option<PathBuf>> {
    if no_state {
        return Ok(None);
    }
    let wanted = match flag {
        Some(p) if p.as_os_str() != "default" => return Ok(Some(p.clone())),
        Some(_) => true,
        None => config.enabled || config.path.is_some(),
    };
    if !wanted {
        return Ok(None);
    }
    if let Some(p) = &config.path {
        return Ok(Some(p.clone()));
    }
    dnshunt_state::default_path()
        .map(Some)
        .context("no default location for the state store (neither XDG_DATA_HOME, HOME nor LOCALAPPDATA is set); give --state PATH")
}

/// An open store, its baseline, and what this run has seen so far.
#[derive(Debug)]
pub struct StateRun {
    store: StateStore,
    retention_days: u32,
    /// (kind, host, value) → (first, last) event time.
    seen: HashMap<(&'static str, String, String), (i64, i64)>,
    /// Entries held before they are set aside in the store's temporary table (`[memory]
    /// max_state_entries`).
    max_seen: usize,
    /// Entries set aside so far.
    pub spilled: u64,
}

impl StateRun {
    /// Opens the store and reads the baseline for `first_seen`.
    /// The store's entries come back too, for prevalence ("since when", hosts of earlier runs).
    pub fn open(path: &std::path::Path, config: &StateConfig, max_seen: usize) -> Result<(StateRun, FirstSeenBaseline, Vec<dnshunt_state::Entry>)> {
        let store = StateStore::open(path)?;
        let mut baseline = FirstSeenBaseline::default();
        let entries = store.load()?;
        for e in &entries {
            baseline.insert(&e.kind, &e.host, &e.value);
        }
        Ok((
            StateRun {
                store,
                retention_days: config.retention_days,
                seen: HashMap::new(),
                max_seen: max_seen.max(1),
                spilled: 0,
            },
            baseline,
            entries,
        ))
    }

    pub fn path(&self) -> &std::path::Path {
        self.store.path()
    }

    /// Notes what an event shows (its domain and its program, per host and fleet-wide).
    pub fn observe(&mut self, event: &Event) {
        let host = event.host.as_deref().unwrap_or("");
        let t = event.time.0;
        for (kind, value) in observations(event) {
            for h in [host, FLEET] {
                match self.seen.get_mut(&(kind, h.to_owned(), value.clone())) {
                    Some((first, last)) => {
                        *first = (*first).min(t);
                        *last = (*last).max(t);
                    }
                    None => {
                        self.seen.insert((kind, h.to_owned(), value.clone()), (t, t));
                    }
                }
            }
        }
    }

    /// Sets what was seen so far aside in the store's temporary table when `max_seen` entries
    /// are held (nothing reaches the store before [`StateRun::save`]).
    pub fn spill_if_full(&mut self) -> Result<()> {
        if self.seen.len() < self.max_seen {
            return Ok(());
        }
        let entries = Self::entries(std::mem::take(&mut self.seen));
        self.spilled += entries.len() as u64;
        Ok(self.store.spill(&entries)?)
    }

    fn entries(seen: HashMap<(&'static str, String, String), (i64, i64)>) -> Vec<Entry> {
        seen.into_iter()
            .map(|((kind, host, value), (first, last))| Entry {
                kind: kind.to_owned(),
                host,
                value,
                first_seen: first,
                last_seen: last,
            })
            .collect()
    }

    /// Writes what this run saw (with what was set aside) and applies the retention rule.
    pub fn save(self) -> Result<RecordReport> {
        let mut entries = Self::entries(self.seen);
        entries.sort();
        let mut store = self.store;
        let retention = (self.retention_days > 0).then(|| self.retention_days as i64 * 86_400_000);
        Ok(store.record(&entries, retention)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_state_wins_then_flag_then_config() {
        let cfg = StateConfig::default();
        assert_eq!(resolve_path(None, false, &cfg).unwrap(), None);
        let p = PathBuf::from("/tmp/x.sqlite");
        assert_eq!(resolve_path(Some(&p), false, &cfg).unwrap(), Some(p.clone()));
        assert_eq!(resolve_path(Some(&p), true, &cfg).unwrap(), None);
        let cfg_path = StateConfig {
            path: Some(PathBuf::from("/tmp/y.sqlite")),
            ..Default::default()
        };
        assert_eq!(resolve_path(None, false, &cfg_path).unwrap(), Some(PathBuf::from("/tmp/y.sqlite")));
        assert_eq!(
            resolve_path(Some(&PathBuf::from("default")), false, &cfg_path).unwrap(),
            Some(PathBuf::from("/tmp/y.sqlite"))
        );
    }
}

//! # nxdomain_storm
//!
//! **What:** bursts of failed lookups (NXDOMAIN: `QueryStatus` 9003 / 9714) from one program on
//! a host, and from a host as a whole, against its own baseline; and their periodicity.
//!
//! Lookups are counted per minute per (host, program) and per host. DNS exchanges seen on the
//! wire count too: per client address (the host of an exchange attribution could not join) or
//! per process when it could. A **storm** is a window of
//! `window_minutes` (default 5) holding at least `min_nxdomain` NXDOMAIN answers (default 10)
//! and, when the program has at least `min_baseline_minutes` (10) other active minutes to
//! compare with, at least `baseline_factor` (10) times its usual NXDOMAIN count for such a window
//! (the median per active minute outside any candidate window, times the window length; a
//! median, so a few earlier storms do not raise the bar). Overlapping windows merge into one
//! storm. Three or more storms of one program whose start times are regular (RITA's timestamp
//! score ≥ 0.8, see `beacon`) are reported as periodic.
//!
//! Severity: **medium**; **high** when at least 100 NXDOMAIN answers make up 80 % or more of the
//! window's lookups over at least 20 distinct names, or when the storms are periodic; **low**
//! when fewer than 3 distinct names fail (one name failing over and over is more often a
//! misconfiguration than a DGA). A host-level storm is reported only when no single program's
//! storm explains it.
//!
//! **Why:** malware with a domain generation algorithm walks through hundreds of generated names
//! until one resolves; most do not exist. Conficker, Necurs, Qakbot and many others do this on a
//! timer, so the storms recur.
//!
//! **ATT&CK:** T1568.002 (Dynamic Resolution: Domain Generation Algorithms).
//!
//! Single-label names (`wpad`, the random intranet-redirect probes of Chromium browsers,
//! search-suffix expansion) are not counted unless `count_single_label` is set: they fail by
//! design, and generated domains always carry a public suffix.
//!
//! **False positives:** misconfigured software retrying a dead name, security products probing
//! random names, spam filters doing RBL lookups (the common DNS blocklists are in
//! `ignore_domains`), browsers prefetching mistyped names.
//!
//! Memory: one small bucket per active minute per key (at most `max_minutes_per_key`, the
//! oldest dropped first), and the earliest NXDOMAIN event per minute as evidence, up to
//! `max_evidence_events` in all.

use std::collections::{BTreeMap, BTreeSet};

use dnshunt_core::{BoundReached, Detector, Event, Finding, FindingSink, Severity};
use serde::Deserialize;

use crate::detectors::beacon::Beacon;
use crate::fast::HashMap;
use crate::stats::{hash64, host, image_into, key_hash, median_mad_histogram, score_for, StrPair};

/// Settings of the `nxdomain_storm` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NxdomainStormConfig {
    /// Window length in minutes. Default 5.
    pub window_minutes: i64,
    /// Fewest NXDOMAIN answers in a window for a storm. Default 10.
    pub min_nxdomain: u64,
    /// How many times the usual NXDOMAIN count a window must hold. Default 10.
    pub baseline_factor: f64,
    /// Active minutes outside storms needed before the baseline is used. Default 10.
    pub min_baseline_minutes: usize,
    /// Count failures of single-label names (`wpad`, browsers' random intranet probes). Default
    /// false: they fail by design, and generated domains always have a suffix.
    pub count_single_label: bool,
    /// Programs never reported (lower-case image names).
    pub allowed_processes: Vec<String>,
    /// Domains whose failures are not counted: DNS blocklists answer NXDOMAIN for every
    /// address they do not list, so a mail filter's lookups fail by the hundred.
    pub ignore_domains: Vec<String>,
    /// Minutes of detail kept behind each host's latest event, in minutes. Default 1440 (a
    /// day): older minutes are judged for storms and folded into the baseline histogram.
    pub horizon_minutes: i64,
    /// Minute buckets kept per key. Default 20 000 (two weeks of continuous activity).
    pub max_minutes_per_key: usize,
    /// Keys ((host, program) and host) kept. Default 100 000.
    pub max_keys: usize,
    /// Evidence events kept in all. Default 50 000.
    pub max_evidence_events: usize,
}

impl Default for NxdomainStormConfig {
    fn default() -> Self {
        NxdomainStormConfig {
            window_minutes: 5,
            min_nxdomain: 10,
            baseline_factor: 10.0,
            min_baseline_minutes: 10,
            count_single_label: false,
            allowed_processes: Vec::new(),
            ignore_domains: crate::detectors::DNS_BLOCKLISTS.iter().map(|s| (*s).to_owned()).collect(),
            horizon_minutes: 1440,
            max_minutes_per_key: 20_000,
            max_keys: 100_000,
            max_evidence_events: 50_000,
        }
    }
}

/// Distinct name hashes kept per minute (enough to tell one failing name from many).
const NAMES_PER_MINUTE: usize = 16;

#[derive(Debug, Default)]
struct Minute {
    nx: u32,
    total: u32,
    names: Vec<u32>,
    first_nx: Option<Box<Event>>,
}

/// Classes of the baseline histogram of NXDOMAIN answers per active minute (the last one holds
/// everything above).
const HIST: usize = 64;

/// Storms judged before the end, kept for the periodicity verdict.
const MAX_PENDING: usize = 64;

#[derive(Debug, Default)]
struct KeyState {
    /// (host, image), kept once; the table finds the state by their [`key_hash`].
    key: (String, String),
    /// Recent active minutes in detail.
    minutes: BTreeMap<i64, Minute>,
    /// Older active minutes, folded: how many had 0, 1, 2, ... NXDOMAIN answers.
    folded: Vec<u32>,
    /// Storms found among folded minutes.
    pending: Vec<Storm>,
}

/// Host-level series use this image.
const ANY: &str = "*";

#[derive(Debug)]
struct Storm {
    start: i64,
    end: i64,
    nx: u64,
    total: u64,
    distinct: usize,
    evidence: Vec<Event>,
}

pub struct NxdomainStorm {
    config: NxdomainStormConfig,
    /// By the [`key_hash`] of (host, image): a lookup compares no strings.
    keys: HashMap<u64, KeyState>,
    /// The image of the event at hand (reused, not allocated per event).
    image_buf: String,
    evidence_events: usize,
    /// Events not counted: past `max_keys`, older than a full key's minutes.
    over_keys: u64,
    over_minutes: u64,
    /// The latest minute of each host, by the host's [`key_hash`].
    host_minute: HashMap<u64, i64>,
    created_since_sweep: usize,
    /// Spans of process-level storms already reported, per host (at most `MAX_PENDING` * 16),
    /// so host-level storms they explain stay quiet.
    explained: HashMap<String, Vec<(i64, i64)>>,
}

/// New minute buckets between two sweeps of old minutes.
const SWEEP_EVERY: usize = 8192;

impl NxdomainStorm {
    pub const NAME: &'static str = "nxdomain_storm";

    pub fn new(mut config: NxdomainStormConfig) -> NxdomainStorm {
        config.allowed_processes.iter_mut().for_each(|s| *s = s.to_lowercase());
        config.window_minutes = config.window_minutes.max(1);
        NxdomainStorm {
            config,
            keys: HashMap::default(),
            image_buf: String::new(),
            evidence_events: 0,
            over_keys: 0,
            over_minutes: 0,
            host_minute: HashMap::default(),
            created_since_sweep: 0,
            explained: HashMap::default(),
        }
    }

    /// Reports storms of one key now, noting process-level spans and skipping host-level storms
    /// that a reported process-level storm explains.
    fn report_now(&mut self, key: &(String, String), storms: Vec<Storm>, out: &mut dyn FindingSink) {
        let storms: Vec<Storm> = if key.1 == ANY {
            let spans = self.explained.get(&key.0);
            storms
                .into_iter()
                .filter(|s| !spans.is_some_and(|v| v.iter().any(|&(a, b)| a < s.end && s.start < b)))
                .collect()
        } else {
            let spans = self.explained.entry(key.0.clone()).or_default();
            if spans.len() < MAX_PENDING * 16 {
                spans.extend(storms.iter().map(|s| (s.start, s.end)));
            }
            storms
        };
        if !storms.is_empty() {
            self.report(key, storms, out);
        }
    }

    /// Judges and folds the minutes that fell behind the horizon of their host.
    fn sweep(&mut self, out: &mut dyn FindingSink) {
        let horizon = self.config.horizon_minutes.max(self.config.window_minutes * 2);
        let mut keys: Vec<((String, String), u64)> = self.keys.iter().map(|(&hash, state)| (state.key.clone(), hash)).collect();
        // Process-level keys first, so their spans are known when host-level ones are judged.
        keys.sort_by(|(a, _), (b, _)| ((a.1 == ANY), a).cmp(&((b.1 == ANY), b)));
        for (key, hash) in keys {
            let Some(&latest) = self.host_minute.get(&key_hash(key.0.as_str())) else { continue };
            let cutoff = latest - horizon;
            let Some(mut state) = self.keys.remove(&hash) else { continue };
            if state.minutes.keys().next().is_some_and(|&m| m < cutoff) {
                let storms = self.storms(&state, Some(cutoff));
                let in_storm = |m: i64| storms.iter().any(|s| s.start <= m && m < s.end);
                let old: Vec<i64> = state.minutes.range(..cutoff).map(|(&m, _)| m).collect();
                if state.folded.is_empty() {
                    state.folded = vec![0; HIST];
                }
                for m in old {
                    if let Some(b) = state.minutes.remove(&m) {
                        self.evidence_events -= b.first_nx.is_some() as usize;
                        if !in_storm(m) {
                            state.folded[(b.nx as usize).min(HIST - 1)] += 1;
                        }
                    }
                }
                state.pending.extend(storms);
                if state.pending.len() > MAX_PENDING {
                    let overflow: Vec<Storm> = state.pending.drain(..state.pending.len() - MAX_PENDING).collect();
                    self.report_now(&key, overflow, out);
                }
            }
            self.keys.insert(hash, state);
        }
    }

    fn add(&mut self, key: StrPair<'_>, event: &Event, nx: bool, name_hash: u32) {
        let make = || KeyState {
            key: key.to_key(),
            ..KeyState::default()
        };
        let Some(state) = crate::fast::bounded_entry(&mut self.keys, key_hash((key.0, key.1)), self.config.max_keys, make) else {
            self.over_keys += 1;
            return;
        };
        let minute_idx = event.time.0.div_euclid(60_000);
        let latest = self.host_minute.entry(key_hash(key.0)).or_insert(minute_idx);
        *latest = (*latest).max(minute_idx);
        if !state.minutes.contains_key(&minute_idx) {
            self.created_since_sweep += 1;
        }
        if !state.minutes.contains_key(&minute_idx) && state.minutes.len() >= self.config.max_minutes_per_key {
            // Drop the oldest minute (or this one, when it is older still).
            let oldest = *state.minutes.keys().next().unwrap_or(&minute_idx);
            if minute_idx < oldest {
                self.over_minutes += 1;
                return;
            }
            if let Some(m) = state.minutes.remove(&oldest) {
                self.evidence_events -= m.first_nx.is_some() as usize;
            }
        }
        let minute = state.minutes.entry(minute_idx).or_default();
        minute.total = minute.total.saturating_add(1);
        if nx {
            minute.nx = minute.nx.saturating_add(1);
            if minute.names.len() < NAMES_PER_MINUTE && !minute.names.contains(&name_hash) {
                minute.names.push(name_hash);
            }
            let had = minute.first_nx.is_some();
            if had || self.evidence_events < self.config.max_evidence_events {
                if minute
                    .first_nx
                    .as_ref()
                    .is_none_or(|e| (event.time, &event.origin.file, event.origin.line) < (e.time, &e.origin.file, e.origin.line))
                {
                    minute.first_nx = Some(Box::new(event.clone()));
                }
                if !had {
                    self.evidence_events += 1;
                }
            }
        }
    }

    /// Storms among the detailed minutes (only those before `upto`, when given).
    fn storms(&self, state: &KeyState, upto: Option<i64>) -> Vec<Storm> {
        let w = self.config.window_minutes;
        let upto = upto.unwrap_or(i64::MAX);
        let minutes: BTreeMap<i64, &Minute> = state.minutes.range(..upto).map(|(&m, b)| (m, b)).collect();
        let minutes = &minutes;
        // Candidate windows by the absolute threshold.
        let mut candidates: Vec<(i64, u64)> = Vec::new();
        for (&m, bucket) in minutes {
            if bucket.nx == 0 {
                continue;
            }
            let nx: u64 = minutes.range(m..m + w).map(|(_, b)| b.nx as u64).sum();
            if nx >= self.config.min_nxdomain {
                candidates.push((m, nx));
            }
        }
        if candidates.is_empty() {
            return Vec::new();
        }
        let in_candidate: BTreeSet<i64> = candidates.iter().flat_map(|&(m, _)| m..m + w).collect();
        // The baseline: folded minutes and detailed minutes outside candidate windows.
        let mut hist = if state.folded.is_empty() { vec![0u32; HIST] } else { state.folded.clone() };
        for (m, b) in state.minutes.iter() {
            if b.total > 0 && !in_candidate.contains(m) {
                hist[(b.nx as usize).min(HIST - 1)] += 1;
            }
        }
        let n_baseline: u64 = hist.iter().map(|&c| c as u64).sum();
        let usual = match median_mad_histogram(&hist) {
            Some((median, _)) if n_baseline >= self.config.min_baseline_minutes as u64 => median * w as f64,
            _ => 0.0,
        };
        let confirmed: Vec<i64> = candidates
            .iter()
            .filter(|&&(_, nx)| nx as f64 >= self.config.baseline_factor * usual)
            .map(|&(m, _)| m)
            .collect();
        // Merge overlapping windows into storms.
        let mut storms: Vec<Storm> = Vec::new();
        let mut spans: Vec<(i64, i64)> = Vec::new();
        for m in confirmed {
            match spans.last_mut() {
                Some((_, end)) if m <= *end => *end = (*end).max(m + w),
                _ => spans.push((m, m + w)),
            }
        }
        for (start, end) in spans {
            // Trim to the minutes that actually failed.
            let active: Vec<i64> = minutes.range(start..end).filter(|(_, b)| b.nx > 0).map(|(&m, _)| m).collect();
            let (start, end) = match (active.first(), active.last()) {
                (Some(&a), Some(&b)) => (a, b + 1),
                _ => (start, end),
            };
            let mut storm = Storm {
                start,
                end,
                nx: 0,
                total: 0,
                distinct: 0,
                evidence: Vec::new(),
            };
            let mut names: BTreeSet<u32> = BTreeSet::new();
            for (_, b) in minutes.range(start..end) {
                storm.nx += b.nx as u64;
                storm.total += b.total as u64;
                names.extend(b.names.iter().copied());
                if let Some(e) = &b.first_nx {
                    if storm.evidence.len() < 3 {
                        storm.evidence.push((**e).clone());
                    }
                }
            }
            storm.distinct = names.len();
            storms.push(storm);
        }
        storms
    }
}

impl Detector for NxdomainStorm {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn bounds_reached(&self) -> Vec<BoundReached> {
        BoundReached::all([
            BoundReached::of(Self::NAME, "max_keys", self.config.max_keys, self.over_keys),
            BoundReached::of(Self::NAME, "max_minutes_per_key", self.config.max_minutes_per_key, self.over_minutes),
        ])
    }

    /// NXDOMAIN bursts of a client seen on the wire count too (per client address, or per
    /// process when attribution joined them).
    fn sees_wire(&self) -> bool {
        true
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<Finding>) {
        let Some(q) = event.lookup() else { return };
        if self.created_since_sweep >= SWEEP_EVERY {
            self.created_since_sweep = 0;
            self.sweep(out);
        }
        let mut img = std::mem::take(&mut self.image_buf);
        image_into(event, &mut img);
        if self.config.allowed_processes.contains(&img) {
            self.image_buf = img;
            return;
        }
        // Single-label names (`wpad`, Chromium's random intranet-redirect probes, search-suffix
        // expansion) fail by design; generated domains always carry a suffix.
        let listed = q.query.registered_domain().is_some_and(|d| self.config.ignore_domains.iter().any(|i| i == d));
        let nx = q.status.is_nxdomain() && !listed && (self.config.count_single_label || q.query.as_str().contains('.'));
        let name_hash = hash64(q.query.as_str()) as u32;
        let h = host(event);
        self.add(StrPair(h, &img), event, nx, name_hash);
        self.add(StrPair(h, ANY), event, nx, name_hash);
        self.image_buf = img;
    }

    fn finish(&mut self, out: &mut dyn FindingSink) {
        let mut states: Vec<((String, String), KeyState)> = self.keys.drain().map(|(_, mut state)| (std::mem::take(&mut state.key), state)).collect();
        states.sort_by(|a, b| a.0.cmp(&b.0));
        // Process-level storm spans per host, to suppress host-level storms they explain.
        let mut explained: HashMap<String, Vec<(i64, i64)>> = std::mem::take(&mut self.explained);
        let mut host_level: Vec<(&(String, String), Vec<Storm>)> = Vec::new();
        for (key, state) in &mut states {
            let mut storms = std::mem::take(&mut state.pending);
            storms.extend(self.storms(state, None));
            if storms.is_empty() {
                continue;
            }
            if key.1 == ANY {
                host_level.push((key, storms));
                continue;
            }
            explained.entry(key.0.clone()).or_default().extend(storms.iter().map(|s| (s.start, s.end)));
            self.report(key, storms, out);
        }
        for (key, storms) in host_level {
            let spans = explained.get(&key.0);
            let unexplained: Vec<Storm> = storms
                .into_iter()
                .filter(|s| !spans.is_some_and(|v| v.iter().any(|&(a, b)| a < s.end && s.start < b)))
                .collect();
            if !unexplained.is_empty() {
                self.report(key, unexplained, out);
            }
        }
        self.keys.clear();
        self.evidence_events = 0;
    }
}

impl NxdomainStorm {
    fn report(&self, key: &(String, String), storms: Vec<Storm>, out: &mut dyn FindingSink) {
        let starts: Vec<i64> = storms.iter().map(|s| s.start * 60).collect();
        let periodic_score = if storms.len() >= 3 { Beacon::timestamp_score_of(&starts) } else { None };
        let periodic = periodic_score.is_some_and(|s| s >= 0.8);
        let n_storms = storms.len();
        for storm in storms {
            let Some(first) = storm.evidence.first() else { continue };
            let ratio = storm.nx as f64 / storm.total.max(1) as f64;
            let severity = if storm.distinct < 3 {
                Severity::Low
            } else if (storm.nx >= 100 && ratio >= 0.8 && storm.distinct >= 20) || periodic {
                Severity::High
            } else {
                Severity::Medium
            };
            let score = score_for(severity);
            let who = if key.1 == ANY {
                format!("host {} (no single program explains it)", key.0)
            } else if key.1.is_empty() {
                "an unknown process".to_owned()
            } else {
                key.1.clone()
            };
            let minutes = storm.end - storm.start;
            let mut explanation = format!(
                "{who} got {} NXDOMAIN answers in {} ({:.0} % of its {} lookups, at least {} distinct names)",
                storm.nx,
                crate::stats::counted(minutes.max(0) as u64, "minute", "minutes"),
                ratio * 100.0,
                storm.total,
                storm.distinct
            );
            if storm.distinct < 3 {
                explanation.push_str(": the same name failing again and again, more likely a misconfiguration than a domain generation algorithm");
            } else {
                explanation.push_str(": the pattern of malware walking a list of generated domains");
            }
            if periodic {
                explanation.push_str(&format!("; one of {n_storms} storms at regular intervals"));
            }
            let start_key = (storm.start * 60_000).to_string();
            let mut f = Finding::from_event(Self::NAME, severity, score, first, &[&key.1, &start_key], explanation)
                .with_attack(&["T1568.002"])
                .with_detail("nxdomain", storm.nx)
                .with_detail("lookups", storm.total)
                .with_detail("nxdomain_ratio", (ratio * 1000.0).round() / 1000.0)
                .with_detail("distinct_names_at_least", storm.distinct)
                .with_detail("window_minutes", minutes)
                .with_detail("scope", if key.1 == ANY { "host" } else { "process" })
                .with_detail("storms", n_storms)
                .with_detail("periodic", periodic);
            if let Some(s) = periodic_score {
                f = f.with_detail("periodicity_score", s);
            }
            if key.1 == ANY {
                f.process = Default::default();
            }
            f.count = storm.nx;
            f.time = dnshunt_core::Timestamp(storm.start * 60_000).max(first.time);
            f.time_last = dnshunt_core::Timestamp(storm.end * 60_000 - 1);
            f.evidence = storm.evidence;
            out.push(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{run, Proc, Rng, T0};

    fn nx_burst(p: &Proc, rng: &mut Rng, start_ms: i64, n: usize, span_ms: i64) -> Vec<Event> {
        (0..n)
            .map(|i| {
                let name = format!("{}.{}", rng.hex(12), ["com", "net", "top", "xyz"][i % 4]);
                p.dns(start_ms + (i as i64 * span_ms) / n as i64, &name, "", 9003)
            })
            .collect()
    }

    /// Ordinary background: lookups every few minutes, an occasional failure.
    fn background(p: &Proc, rng: &mut Rng, hours: i64) -> Vec<Event> {
        let mut events = Vec::new();
        let mut t = 0;
        while t < hours * 3_600_000 {
            let status = if rng.unit() < 0.05 { 9003 } else { 0 };
            events.push(p.dns(T0 + t, "www.example.com", "::ffff:93.184.216.34;", status));
            t += (rng.range(30.0, 300.0) * 1000.0) as i64;
        }
        events
    }

    #[track_caller]
    fn check(events: &[Event], expected: &[(&str, Severity)]) -> Vec<Finding> {
        let mut events = events.to_vec();
        Rng::new(5).shuffle(&mut events);
        let findings = run(&mut NxdomainStorm::new(NxdomainStormConfig::default()), &events);
        let got: Vec<(String, Severity)> = findings
            .iter()
            .map(|f| (f.process.image.clone().unwrap_or("*".into()).rsplit('\\').next().unwrap_or("").to_owned(), f.severity))
            .collect();
        let want: Vec<(String, Severity)> = expected.iter().map(|(i, s)| ((*i).to_owned(), *s)).collect();
        assert_eq!(got, want, "{:#?}", findings.iter().map(|f| &f.explanation).collect::<Vec<_>>());
        findings
    }

    #[test]
    fn three_hundred_nxdomain_in_five_minutes_is_a_storm() {
        let mut rng = Rng::new(1);
        let ps = Proc::new("WS-ACCT-07", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", 9544);
        let mut events = background(&ps, &mut rng, 4);
        events.extend(nx_burst(&ps, &mut rng, T0 + 2 * 3_600_000, 300, 5 * 60_000));
        let findings = check(&events, &[("powershell.exe", Severity::High)]);
        assert!(findings[0].count >= 300, "{}", findings[0].count);
        assert_eq!(findings[0].details["scope"], "process");
    }

    #[test]
    fn a_handful_of_failures_is_not_a_storm() {
        let mut rng = Rng::new(2);
        let ps = Proc::new("H", "C:\\x\\app.exe", 1);
        let mut events = background(&ps, &mut rng, 4);
        events.extend(nx_burst(&ps, &mut rng, T0 + 3_600_000, 5, 15_000));
        check(&events, &[]);
    }

    #[test]
    fn one_name_failing_repeatedly_is_low() {
        let p = Proc::new("H", "C:\\x\\agent.exe", 1);
        let events: Vec<Event> = (0..60).map(|i| p.dns(T0 + i * 2000, "update.internal-gone.example", "", 9003)).collect();
        check(&events, &[("agent.exe", Severity::Low)]);
    }

    #[test]
    fn long_inputs_fold_old_minutes_and_still_find_old_storms() {
        let mut rng = Rng::new(4);
        let p = Proc::new("H", "C:\\x\\svc.exe", 1);
        let day = 86_400_000;
        // Twenty days of a lookup every two minutes, storms on day 1 and day 15.
        let mut events: Vec<Event> = (0..20 * 720).map(|i| p.dns(T0 + i * 120_000, "www.example.com", "::ffff:93.184.216.34;", 0)).collect();
        events.extend(nx_burst(&p, &mut rng, T0 + day + 3_600_000, 50, 120_000));
        events.extend(nx_burst(&p, &mut rng, T0 + 15 * day + 3_600_000, 50, 120_000));
        let mut d = NxdomainStorm::new(NxdomainStormConfig::default());
        let mut out = Vec::new();
        let mut peak = 0;
        events.sort_by_key(|e| e.time);
        for e in &events {
            d.observe(e, &mut out);
            peak = peak.max(d.keys.values().map(|k| k.minutes.len()).max().unwrap_or(0));
        }
        d.finish(&mut out);
        // Detail is kept for about a day plus the minutes created between two sweeps.
        assert!(peak < 1440 + SWEEP_EVERY, "{peak}");
        let days: Vec<i64> = out.iter().map(|f| (f.time.0 - T0) / day).collect();
        assert_eq!(days, [1, 15], "{:#?}", out.iter().map(|f| &f.explanation).collect::<Vec<_>>());
    }

    #[test]
    fn many_storms_over_weeks_are_all_reported_once_and_never_at_host_level() {
        let mut rng = Rng::new(6);
        let p = Proc::new("H", "C:\\x\\dga.exe", 1);
        let mut events: Vec<Event> = (0..20 * 720).map(|i| p.dns(T0 + i * 120_000, "www.example.com", "::ffff:93.184.216.34;", 0)).collect();
        for k in 0..80 {
            events.extend(nx_burst(&p, &mut rng, T0 + k * 6 * 3_600_000 + 1_800_000, 20, 60_000));
        }
        events.sort_by_key(|e| e.time);
        let findings = run(&mut NxdomainStorm::new(NxdomainStormConfig::default()), &events);
        assert_eq!(findings.len(), 80);
        assert!(findings.iter().all(|f| f.details["scope"] == "process"));
    }

    #[test]
    fn storms_every_hour_are_periodic_and_the_host_is_not_reported_twice() {
        let mut rng = Rng::new(3);
        let dga = Proc::new("H", "C:\\ProgramData\\upd\\upd.exe", 1);
        let mut events = Vec::new();
        for hour in 0..4 {
            let start = T0 + hour * 3_600_000 + (rng.range(0.0, 60.0) * 1000.0) as i64;
            events.extend(nx_burst(&dga, &mut rng, start, 40, 120_000));
        }
        let findings = check(
            &events,
            &[
                ("upd.exe", Severity::High),
                ("upd.exe", Severity::High),
                ("upd.exe", Severity::High),
                ("upd.exe", Severity::High),
            ],
        );
        assert!(findings.iter().all(|f| f.details["periodic"] == true));
    }
}

//! Aggregation: one finding per process and registered domain, not one per name.
//!
//! Per-name detectors (`dga`, `encoded_name`, `lookalike`, `outlier` on names, `record_type`,
//! `young_domain`, and `blocklist` on names, CNAMEs and answers) judge every lookup alone. A DGA
//! walk or a DNS tunnel is hundreds of names from one process, and an analyst wants to read it
//! once. After all input is read the engine folds them in two steps:
//!
//! 1. the findings of one detector, host and process under one registered domain become one
//!    finding with the count, first and last time, and up to `max_examples` example names;
//! 2. when one process gave one detector findings under `many_domains` or more registered
//!    domains, those become one finding for the process and detector, with example domains.
//!
//! A `dga` group is scored as a burst: a lone random-looking name is weak evidence (popular
//! names can look random), many of them from one process, mostly NXDOMAIN and in a short
//! time, is the signal of a domain generation algorithm. The score combines the names' scores
//! (a noisy-or in which each name counts `dga_name_weight`), the NXDOMAIN share and the rate,
//! so ten names at 0.9 outrank one name at 1.0.
//!
//! Ids are stable (the detector, host, process and domain, or the detector, host and process),
//! so a re-run or an incremental cluster run writes the same ids.
//!
//! Memory: the engine holds per-name findings in full (a few KB each, with their evidence) only
//! up to `max_findings_per_process` per detector, host and process, and `max_findings` in all
//! ([`Tallies`]). Beyond that a new name is tallied: its lookups, NXDOMAIN answers, score and
//! times still count in the folded finding (`tallied_findings` in its details), it is just not
//! an example. The first names seen are the ones kept, so a flood of names cannot hide the
//! process behind it, and one of tens of millions of random names costs tens of bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::BuildHasher;

use crate::fast::{HashMap, HashSet};
use dnshunt_core::{Finding, Severity, StableHasher, Timestamp};
use serde::Deserialize;

/// Settings of the aggregation step (`[aggregate]` in the config file).
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AggregateConfig {
    /// Example names (and domains) kept in an aggregated finding's `details` (default 5).
    pub max_examples: usize,
    /// A process with findings of one detector under this many registered domains or more gets
    /// one finding for all of them (default 3).
    pub many_domains: usize,
    /// How much one random-looking name counts in a `dga` burst score, 0–1 (default 0.45: one
    /// name alone is at most low, two NXDOMAIN names at 0.9 are medium, ten are high).
    pub dga_name_weight: f64,
    /// Highest score of a `dga` burst (default 90: corroboration makes an incident critical,
    /// not one detector).
    pub dga_max_score: u8,
    /// Per-name findings held in full per detector, host and process (default 200); the names
    /// beyond are tallied (counted in the folded finding, not listed as examples).
    pub max_findings_per_process: usize,
    /// Per-name findings held in full in all (default 100,000, a few hundred MB at most); past
    /// it each detector, host and process keeps its first finding and tallies the rest.
    pub max_findings: usize,
}

impl Default for AggregateConfig {
    fn default() -> Self {
        AggregateConfig {
            max_examples: 5,
            many_domains: 3,
            dga_name_weight: 0.45,
            dga_max_score: 90,
            max_findings_per_process: 200,
            max_findings: 100_000,
        }
    }
}

impl AggregateConfig {
    /// Lowers `max_findings` to what `bytes` holds (a held per-name finding with its evidence
    /// takes about 6.5 KB, measured on a DGA-like flood).
    pub fn fit_memory(&mut self, bytes: u64) -> Vec<crate::registry::Fitted> {
        let mut out = Vec::new();
        crate::registry::fit(&mut out, "aggregate.max_findings", &mut self.max_findings, bytes, 1.0, 6_500);
        out
    }
}

/// The detectors whose findings are about one name each.
pub const PER_NAME_DETECTORS: [&str; 7] = ["dga", "encoded_name", "lookalike", "outlier", "record_type", "young_domain", "blocklist"];

/// Whether a finding is about one name (and so may be folded with others).
pub fn is_per_name(f: &Finding) -> bool {
    if !PER_NAME_DETECTORS.contains(&f.detector.as_str()) || f.query_name.is_none() {
        return false;
    }
    match f.detector.as_str() {
        // Volume outliers are about a process or a domain already.
        "outlier" => matches!(f.details.get("measure").and_then(|v| v.as_str()), Some("name_length" | "answer_count")),
        // A blocklisted connection is about an address, not a name.
        "blocklist" => f.details.get("matched").and_then(|v| v.as_str()) != Some("connection"),
        _ => true,
    }
}

/// The process a finding is about, as a grouping key: its GUID, else its image and pid.
fn process_key(f: &Finding) -> String {
    crate::detectors::process_key(f.process.guid, f.process.pid, f.process.image.as_deref())
}

fn domain_key(f: &Finding) -> String {
    f.registered_domain.clone().or_else(|| f.query_name.clone()).unwrap_or_default()
}

fn is_nxdomain(f: &Finding) -> bool {
    if let Some(v) = f.details.get("nxdomain").and_then(|v| v.as_bool()) {
        return v;
    }
    f.evidence.iter().find_map(|e| e.dns()).is_some_and(|q| q.status.is_nxdomain())
}

/// A group of per-name findings: detector, host and process.
type GroupKey = (String, String, String);

fn group_key(f: &Finding) -> GroupKey {
    (f.detector.clone(), f.host.clone().unwrap_or_default(), process_key(f))
}

/// The per-name findings the engine did not hold in full, summed per group (see the module
/// doc): what [`aggregate_with`] adds to the folded findings.
#[derive(Debug)]
pub struct Tallies {
    max_per_group: usize,
    max_held: usize,
    dga_name_weight: f64,
    held: usize,
    groups: HashMap<GroupKey, Group>,
    /// Ids already tallied, so a name looked up again is not a new name (at most
    /// [`MAX_TALLIED_IDS`]; past it a repeat counts as a name again).
    ids: HashSet<u64>,
    hasher: std::collections::hash_map::RandomState,
    /// Findings tallied instead of held (distinct ids, as far as `ids` tells).
    pub tallied: u64,
}

/// Ids of tallied findings remembered (16 to 32 bytes each).
pub const MAX_TALLIED_IDS: usize = 2_000_000;

/// Distinct domains of tallied findings counted per group (past it the count is a lower bound).
const MAX_TALLIED_DOMAINS: usize = 1_000_000;

#[derive(Debug, Default)]
struct Group {
    held: usize,
    held_domains: HashSet<String>,
    /// Tallies of findings under a domain that has held findings.
    per_domain: HashMap<String, Tally>,
    /// Tallies of findings under other domains, and how many distinct such domains.
    others: Tally,
    other_domains: HashSet<u64>,
}

/// The sums of tallied findings that a fold needs.
#[derive(Clone, Copy, Debug)]
struct Tally {
    findings: u64,
    events: u64,
    nxdomain: u64,
    /// The product of (1 - weight × score) of `dga` findings (see [`fold`]).
    dga_miss: f64,
    /// What the `dga` findings among them say of their process's burst.
    burst: Burst,
    first: Timestamp,
    last: Timestamp,
    max_score: u8,
    max_severity: Severity,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            findings: 0,
            events: 0,
            nxdomain: 0,
            dga_miss: 1.0,
            burst: Burst::default(),
            first: Timestamp(i64::MAX),
            last: Timestamp(i64::MIN),
            max_score: 0,
            max_severity: Severity::Info,
        }
    }
}

impl Tally {
    fn add(&mut self, f: &Finding, new_name: bool, dga_name_weight: f64) {
        self.events += f.count;
        self.first = self.first.min(f.time);
        self.last = self.last.max(f.time_last);
        if new_name {
            self.findings += 1;
            self.nxdomain += u64::from(is_nxdomain(f));
            if f.detector == "dga" {
                self.dga_miss *= 1.0 - dga_name_weight * (f.score as f64 / 100.0);
            }
        }
        if f.detector == "dga" {
            // The same on every finding of a burst: kept whether or not the name is new.
            self.burst.absorb(&Burst::of(f));
        }
        self.max_score = self.max_score.max(f.score);
        self.max_severity = self.max_severity.max(f.severity);
    }

    fn absorb(&mut self, other: &Tally) {
        self.findings += other.findings;
        self.events += other.events;
        self.nxdomain += other.nxdomain;
        self.dga_miss *= other.dga_miss;
        self.burst.absorb(&other.burst);
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
        self.max_score = self.max_score.max(other.max_score);
        self.max_severity = self.max_severity.max(other.max_severity);
    }

    fn is_empty(&self) -> bool {
        self.events == 0 && self.findings == 0
    }
}

impl Tallies {
    pub fn new(config: &AggregateConfig) -> Tallies {
        Tallies {
            max_per_group: config.max_findings_per_process.max(1),
            max_held: config.max_findings,
            dga_name_weight: config.dga_name_weight,
            held: 0,
            groups: HashMap::default(),
            ids: HashSet::default(),
            hasher: Default::default(),
            tallied: 0,
        }
    }

    /// Whether the engine may hold `f`, a finding whose id it does not hold yet: findings
    /// that are not per-name always, per-name ones within the bounds (a slot is taken). When
    /// not, the engine passes it to [`Tallies::tally`] (or drops it as allowlisted).
    pub fn hold(&mut self, f: &Finding) -> bool {
        if !is_per_name(f) {
            return true;
        }
        let room = if self.held < self.max_held { self.max_per_group } else { 1 };
        let group = self.groups.entry(group_key(f)).or_default();
        if group.held >= room {
            return false;
        }
        group.held += 1;
        self.held += 1;
        group.held_domains.insert(domain_key(f));
        true
    }

    /// Counts a per-name finding [`Tallies::hold`] did not let the engine hold.
    pub fn tally(&mut self, f: &Finding) {
        let id = self.hasher.hash_one(&f.id);
        let new_name = if self.ids.contains(&id) {
            false
        } else {
            if self.ids.len() < MAX_TALLIED_IDS {
                self.ids.insert(id);
            }
            self.tallied += 1;
            true
        };
        let domain = domain_key(f);
        let group = self.groups.entry(group_key(f)).or_default();
        if group.held_domains.contains(&domain) {
            group.per_domain.entry(domain).or_default().add(f, new_name, self.dga_name_weight);
        } else {
            if group.other_domains.len() < MAX_TALLIED_DOMAINS {
                group.other_domains.insert(self.hasher.hash_one(&domain));
            }
            group.others.add(f, new_name, self.dga_name_weight);
        }
    }
}

/// Folds per-name findings; other findings pass through unchanged. The result is sorted like
/// the input order is not: callers sort.
pub fn aggregate(findings: Vec<Finding>, config: &AggregateConfig, max_evidence: usize) -> Vec<Finding> {
    aggregate_with(findings, Tallies::new(config), config, max_evidence)
}

/// [`aggregate`], with the findings the engine tallied instead of holding.
pub fn aggregate_with(findings: Vec<Finding>, mut tallies: Tallies, config: &AggregateConfig, max_evidence: usize) -> Vec<Finding> {
    let mut out = Vec::with_capacity(findings.len());
    // (detector, host, process) → registered domain → findings.
    let mut groups: BTreeMap<(String, String, String), BTreeMap<String, Vec<Finding>>> = BTreeMap::new();
    for f in findings {
        if is_per_name(&f) {
            let key = (f.detector.clone(), f.host.clone().unwrap_or_default(), process_key(&f));
            groups.entry(key).or_default().entry(domain_key(&f)).or_default().push(f);
        } else {
            out.push(f);
        }
    }
    for ((detector, host, process), by_domain) in groups {
        let mut tally = tallies.groups.remove(&(detector.clone(), host.clone(), process.clone())).unwrap_or_default();
        // A DGA's names are each under a domain of their own: every two of them are a burst.
        let threshold = if detector == "dga" { 2 } else { config.many_domains.max(2) };
        // Tallied names under domains not held make the group many-domained in any case (the
        // group was past its bound already).
        let many = by_domain.len() + tally.other_domains.len() >= threshold || !tally.others.is_empty();
        if many {
            let mut sum = tally.others;
            tally.per_domain.values().for_each(|t| sum.absorb(t));
            let parts: Vec<Finding> = by_domain.into_values().flatten().collect();
            let key = ["process", process.as_str()];
            out.push(fold(parts, &sum, tally.other_domains.len(), &detector, &host, &key, config, max_evidence));
        } else {
            for (domain, parts) in by_domain {
                let sum = tally.per_domain.remove(&domain).unwrap_or_default();
                if parts.len() == 1 && detector != "dga" && sum.is_empty() {
                    out.extend(parts);
                    continue;
                }
                let key = ["domain", process.as_str(), domain.as_str()];
                out.push(fold(parts, &sum, 0, &detector, &host, &key, config, max_evidence));
            }
        }
    }
    out
}

/// One finding from several of one detector, host and process, and the tally of those not
/// held (`extra_domains`: distinct domains among them that no held finding has).
#[allow(clippy::too_many_arguments)]
fn fold(mut parts: Vec<Finding>, tally: &Tally, extra_domains: usize, detector: &str, host: &str, key: &[&str], config: &AggregateConfig, max_evidence: usize) -> Finding {
    // The strongest finding (earliest on a tie) speaks for the group.
    parts.sort_by(|a, b| b.score.cmp(&a.score).then(a.time.cmp(&b.time)).then(a.id.cmp(&b.id)));
    let n_findings = parts.len() + tally.findings as usize;
    let mut names: BTreeSet<(dnshunt_core::Timestamp, String)> = BTreeSet::new();
    let mut domains: BTreeSet<String> = BTreeSet::new();
    let mut n_nxdomain = tally.nxdomain as usize;
    let mut scores = Vec::with_capacity(parts.len());
    let mut burst = tally.burst;
    for f in &parts {
        burst.absorb(&Burst::of(f));
        if let Some(q) = &f.query_name {
            names.insert((f.time, q.clone()));
        }
        domains.insert(domain_key(f));
        n_nxdomain += usize::from(is_nxdomain(f));
        scores.push(f.score);
    }
    // Distinct names in time order (a set for the test: a DGA walk can be tens of thousands).
    let mut distinct_names: Vec<String> = Vec::new();
    let mut seen_names: BTreeSet<String> = BTreeSet::new();
    for (_, name) in names {
        if seen_names.insert(name.clone()) {
            distinct_names.push(name);
        }
    }
    // Findings about the same name are about the same lookups (a blocklist hit on the name and
    // on its answer): count those once, names apart.
    let count: u64 = {
        let mut count_per_name: BTreeMap<&str, u64> = BTreeMap::new();
        for f in &parts {
            let c = count_per_name.entry(f.query_name.as_deref().unwrap_or("")).or_default();
            *c = (*c).max(f.count);
        }
        count_per_name.values().sum::<u64>() + tally.events
    };
    // What each folded finding matched, so nothing a detector said is lost (a blocklist hit on
    // the answer under the hit on the name); at most 4 × `max_examples` entries.
    let matches: Vec<serde_json::Value> = parts
        .iter()
        .take(config.max_examples.max(1) * 4)
        .map(|f| {
            let mut m = serde_json::Map::new();
            if let Some(q) = &f.query_name {
                m.insert("query_name".into(), q.clone().into());
            }
            for key in ["matched", "indicator", "address", "cname", "list", "record_type", "class", "measure"] {
                if let Some(v) = f.details.get(key) {
                    m.insert(key.into(), v.clone());
                }
            }
            m.insert("count".into(), f.count.into());
            m.insert("score".into(), f.score.into());
            serde_json::Value::Object(m)
        })
        .collect();
    // A DGA burst's examples are its most generated-looking names (the parts are in order of
    // score), not the first ones: a burst counts moderately odd names too.
    let mut by_score: Vec<String> = Vec::new();
    if detector == "dga" {
        for q in parts.iter().filter_map(|f| f.query_name.as_ref()) {
            if by_score.len() < config.max_examples && !by_score.contains(q) {
                by_score.push(q.clone());
            }
        }
    }
    let mut iter = parts.into_iter();
    let mut base = iter.next().expect("a group has at least one finding");
    for other in iter {
        // The strongest finding's description leads, whatever the times.
        let mut other = other;
        other.id.clone_from(&base.id);
        base.merge_counts(other, max_evidence);
    }
    let mut hasher = StableHasher::new();
    hasher.write(detector);
    hasher.write(host);
    for part in key {
        hasher.write(part);
    }
    base.id = hasher.finish_hex();
    // A burst counted the lookups of names it did not list too.
    base.count = count.max(burst.lookups);
    if !tally.is_empty() {
        base.time = base.time.min(tally.first);
        base.time_last = base.time_last.max(tally.last);
        base.score = base.score.max(tally.max_score);
        base.severity = base.severity.max(tally.max_severity);
        base.details.insert("tallied_findings".into(), tally.findings.into());
    }
    // A burst counts names the detector did not report one by one.
    let n_names = (distinct_names.len() + tally.findings as usize).max(burst.names as usize);
    let n_domains = (domains.len() + extra_domains).max(burst.names as usize);
    let examples: Vec<String> = if by_score.is_empty() {
        distinct_names.iter().take(config.max_examples).cloned().collect()
    } else {
        by_score
    };
    base.details.insert("aggregated_findings".into(), n_findings.into());
    base.details.insert("matches".into(), matches.into());
    base.details.insert("distinct_names".into(), n_names.into());
    base.details.insert("example_names".into(), examples.clone().into());
    if n_domains > 1 {
        base.details.insert("distinct_domains".into(), n_domains.into());
        base.details
            .insert("example_domains".into(), domains.iter().take(config.max_examples).cloned().collect::<Vec<_>>().into());
        // Every domain (up to 200), so incidents sharing any of them can be joined.
        base.details.insert("domains".into(), domains.iter().take(200).cloned().collect::<Vec<_>>().into());
        // A finding about many domains is not about the first one alone.
        base.registered_domain = None;
    }
    // A burst speaks for all the names it counted, listed or not.
    let nx_share = if burst.names > 0 {
        burst.nxdomain as f64 / burst.names as f64
    } else {
        n_nxdomain as f64 / n_findings.max(1) as f64
    };
    // A burst spans all the lookups it counted, listed or not.
    if burst.first <= burst.last {
        base.time = base.time.min(burst.first);
        base.time_last = base.time_last.max(burst.last);
    }
    let minutes = ((base.time_last.0 - base.time.0) as f64 / 60_000.0).max(1.0);
    if detector == "dga" {
        let miss = (1.0 - dga_names_score(scores.iter().map(|&s| f64::from(s) / 100.0), config.dga_name_weight)) * tally.dga_miss;
        let rate = n_names as f64 / minutes;
        let rate_factor = if n_names < 3 || rate >= 0.5 { 1.0 } else { 0.85 };
        let strength = (1.0 - miss) * (0.7 + 0.3 * nx_share) * rate_factor;
        let score = ((strength * 100.0).round() as u8).min(config.dga_max_score);
        base.score = score;
        base.severity = Severity::for_score(score);
        base.details.insert("nxdomain_share".into(), ((nx_share * 100.0).round() / 100.0).into());
        base.details.insert("names_per_minute".into(), ((rate * 10.0).round() / 10.0).into());
        let odds = if burst.evidence > 0.0 {
            base.details.insert("burst_evidence".into(), ((burst.evidence * 10.0).round() / 10.0).into());
            format!(" (popular names would look this odd together less than once in 10^{:.0})", burst.evidence.floor().min(20.0))
        } else {
            String::new()
        };
        if n_names > 1 {
            let who = base.process.image.as_deref().map(dnshunt_core::image_file_name).unwrap_or_else(|| "unknown process".into());
            let what = if burst.names > 0 {
                // A burst counts names that are only somewhat odd, each of which a popular
                // name could be.
                "names that look more or less machine-generated"
            } else {
                "names that look machine-generated"
            };
            base.explanation = format!(
                "{who} looked up {n_names} {what} under {n_domains} domain{} within {} ({:.0} % NXDOMAIN){odds}, e.g. {}: the walk of a domain generation algorithm",
                plural(n_domains),
                span_words(minutes),
                nx_share * 100.0,
                examples.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            );
        }
    } else if n_names > 1 {
        let more = if n_domains > 1 {
            format!(
                "; {n_names} names under {n_domains} domains in all, e.g. {}",
                examples.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            )
        } else {
            format!("; {n_names} names under {} in all", domains.iter().next().map(String::as_str).unwrap_or("this domain"))
        };
        base.explanation.push_str(&more);
    }
    base
}

/// The names' part of a DGA burst's score, in `[0, 1]`: a noisy-or of the names' scores (each
/// in `[0, 1]`, counting `name_weight`), so ten names at 0.9 outrank one at 1.0. The folded
/// finding's score is this, scaled by the NXDOMAIN share and the rate (`eval dga` uses it alone
/// to rank bursts).
pub fn dga_names_score(scores: impl IntoIterator<Item = f64>, name_weight: f64) -> f64 {
    1.0 - scores.into_iter().map(|s| 1.0 - name_weight * s).product::<f64>()
}

/// What `dga` findings say of their process's burst (see the `dga` detector's `finish`): the
/// same on every listed name, nothing on a name reported on its own.
#[derive(Clone, Copy, Debug)]
struct Burst {
    /// The burst's evidence (0: no burst).
    evidence: f64,
    /// The names it counted, how many of them failed with NXDOMAIN, and their lookups.
    names: u64,
    nxdomain: u64,
    lookups: u64,
    /// The first and last of those lookups (`first > last`: none).
    first: Timestamp,
    last: Timestamp,
}

impl Default for Burst {
    fn default() -> Self {
        Burst {
            evidence: 0.0,
            names: 0,
            nxdomain: 0,
            lookups: 0,
            first: Timestamp(i64::MAX),
            last: Timestamp(i64::MIN),
        }
    }
}

impl Burst {
    /// The burst facts in a finding's details.
    fn of(f: &Finding) -> Burst {
        let get = |key: &str| f.details.get(key).and_then(serde_json::Value::as_u64).unwrap_or(0);
        let time = |key: &str| f.details.get(key).and_then(serde_json::Value::as_i64).map(Timestamp);
        let (first, last) = match (time("burst_first"), time("burst_last")) {
            (Some(first), Some(last)) => (first, last),
            _ => (Timestamp(i64::MAX), Timestamp(i64::MIN)),
        };
        Burst {
            evidence: f.details.get("burst_evidence").and_then(serde_json::Value::as_f64).unwrap_or(0.0),
            names: get("burst_names"),
            nxdomain: get("burst_nxdomain"),
            lookups: get("burst_lookups"),
            first,
            last,
        }
    }

    /// The larger of two accounts of one burst (the names' NXDOMAIN count goes with their count).
    fn absorb(&mut self, other: &Burst) {
        self.evidence = self.evidence.max(other.evidence);
        if other.names > self.names {
            (self.names, self.nxdomain) = (other.names, other.nxdomain);
        }
        self.lookups = self.lookups.max(other.lookups);
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn span_words(minutes: f64) -> String {
    if minutes < 2.0 {
        "a minute".into()
    } else if minutes < 120.0 {
        format!("{minutes:.0} minutes")
    } else {
        format!("{:.1} hours", minutes / 60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Proc, T0};

    fn finding(p: &Proc, detector: &str, ms: i64, name: &str, score: u8, status: u32) -> Finding {
        let e = p.dns(T0 + ms, name, "-", status);
        let domain = e.dns().unwrap().query.registered_domain().unwrap_or(name).to_owned();
        Finding::from_event(
            detector,
            Severity::for_score(score),
            score,
            &e,
            &[&p.guid.to_string(), &domain],
            format!("{detector} {name}"),
        )
    }

    #[track_caller]
    fn check(findings: Vec<Finding>, expected: &[(&str, usize, Severity)]) -> Vec<Finding> {
        let mut out = aggregate(findings, &AggregateConfig::default(), 5);
        out.sort_by(|a, b| (&a.detector, a.time).cmp(&(&b.detector, b.time)));
        let got: Vec<(&str, usize, Severity)> = out
            .iter()
            .map(|f| {
                (
                    f.detector.as_str(),
                    f.details.get("distinct_names").and_then(|v| v.as_u64()).unwrap_or(1) as usize,
                    f.severity,
                )
            })
            .collect();
        assert_eq!(got, expected);
        out
    }

    /// What the engine does: hold what `Tallies` lets it, tally the rest, then fold.
    fn bounded(findings: Vec<Finding>, config: &AggregateConfig) -> Vec<Finding> {
        let mut tallies = Tallies::new(config);
        let mut held: BTreeMap<String, Finding> = BTreeMap::new();
        for f in findings {
            if let Some(existing) = held.get_mut(&f.id) {
                existing.merge(f, 5);
            } else if tallies.hold(&f) {
                held.insert(f.id.clone(), f);
            } else {
                tallies.tally(&f);
            }
        }
        let mut out = aggregate_with(held.into_values().collect(), tallies, config, 5);
        out.sort_by(|a, b| (&a.detector, a.time).cmp(&(&b.detector, b.time)));
        out
    }

    #[test]
    fn names_past_the_bounds_are_tallied_into_the_same_folded_finding() {
        let ps = Proc::new("WS1", "powershell.exe", 1);
        // A DGA walk of 40 names (two looked up twice, one of them past the bound), and a tunnel of
        // 30 names under one domain, each from its own process.
        let mut findings: Vec<Finding> = (0..40)
            .map(|i| finding(&ps, "dga", i * 1500, &format!("q{i}x7kz9wpl{i}.com"), 60 + i as u8 % 30, 9003 * (i as u32 % 2)))
            .collect();
        findings.push(finding(&ps, "dga", 70_000, "q3x7kz9wpl3.com", 70, 0));
        findings.push(finding(&ps, "dga", 80_000, "q20x7kz9wpl20.com", 70, 0));
        let tunnel = Proc::new("WS1", "dnscat.exe", 2);
        findings.extend((0..30).map(|i| finding(&tunnel, "encoded_name", i * 100, &format!("nbxxg5b5k{i}q.t.exfil-sync.net"), 80, 0)));
        let all = bounded(findings.clone(), &AggregateConfig::default());
        let tight = AggregateConfig {
            max_findings_per_process: 4,
            ..Default::default()
        };
        let few = bounded(findings.clone(), &tight);
        assert_eq!(all.len(), 2);
        assert_eq!(few.len(), 2);
        for (a, b) in all.iter().zip(&few) {
            // The same finding: id, counts, times, score; only the examples may differ.
            assert_eq!(
                (&a.id, a.count, a.time, a.time_last, a.score, a.severity),
                (&b.id, b.count, b.time, b.time_last, b.score, b.severity),
                "{}",
                a.detector
            );
            for key in ["distinct_names", "aggregated_findings", "nxdomain_share"] {
                assert_eq!(a.details.get(key), b.details.get(key), "{} {key}", a.detector);
            }
            assert!(a.details.get("tallied_findings").is_none());
        }
        // The tunnel's names are one finding (one process, one domain): nothing to tally.
        assert_eq!(few[0].details["tallied_findings"], 36);
        assert!(few[1].details.get("tallied_findings").is_none());
        assert_eq!(few[0].details["distinct_names"], 40);
        assert_eq!(few[0].details["distinct_domains"], 40);
        assert_eq!(few[1].registered_domain.as_deref(), Some("exfil-sync.net"));
        // Past `max_findings` in all, each group still holds its first finding.
        let one = AggregateConfig {
            max_findings_per_process: 4,
            max_findings: 1,
            ..Default::default()
        };
        let out = bounded(findings, &one);
        assert_eq!(out.len(), 2);
        assert_eq!(out.iter().map(|f| f.count).collect::<Vec<_>>(), all.iter().map(|f| f.count).collect::<Vec<_>>());
    }

    #[test]
    fn names_of_one_domain_become_one_finding() {
        let ps = Proc::new("WS1", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", 1);
        let findings: Vec<Finding> = (0..5)
            .map(|i| finding(&ps, "encoded_name", i * 1000, &format!("nbxxg5b5k{i}q.{i}.t.exfil-sync.net"), 90, 0))
            .collect();
        let out = check(findings, &[("encoded_name", 5, Severity::High)]);
        assert_eq!(out[0].count, 5);
        assert_eq!(out[0].time_last.0 - out[0].time.0, 4000);
        assert!(out[0].explanation.ends_with("5 names under exfil-sync.net in all"), "{}", out[0].explanation);
        assert_eq!(out[0].details["example_names"].as_array().unwrap().len(), 5);
        assert_eq!(out[0].registered_domain.as_deref(), Some("exfil-sync.net"));
    }

    #[test]
    fn other_processes_hosts_and_detectors_stay_apart() {
        let a = Proc::new("WS1", "a.exe", 1);
        let b = Proc::new("WS1", "b.exe", 2);
        let c = Proc::new("WS2", "a.exe", 1);
        let findings = vec![
            finding(&a, "encoded_name", 0, "x1.t.example.net", 60, 0),
            finding(&b, "encoded_name", 0, "x2.t.example.net", 60, 0),
            finding(&c, "encoded_name", 0, "x3.t.example.net", 60, 0),
            finding(&a, "record_type", 0, "x1.t.example.net", 60, 0),
        ];
        check(
            findings,
            &[
                ("encoded_name", 1, Severity::Medium),
                ("encoded_name", 1, Severity::Medium),
                ("encoded_name", 1, Severity::Medium),
                ("record_type", 1, Severity::Medium),
            ],
        );
        // Findings that are not about one name pass through untouched.
        let beacon = finding(&a, "beacon", 0, "x.example.net", 90, 0);
        let out = aggregate(vec![beacon.clone()], &AggregateConfig::default(), 5);
        assert_eq!(out, vec![beacon]);
    }

    #[test]
    fn a_dga_burst_is_one_finding_that_outranks_a_lone_name() {
        let ps = Proc::new("WS1", "powershell.exe", 1);
        let burst: Vec<Finding> = (0..10).map(|i| finding(&ps, "dga", i * 1500, &format!("q{i}x7kz9wpl{i}.com"), 90, 9003)).collect();
        let lone = Proc::new("WS1", "chrome.exe", 2);
        let mut findings = burst;
        findings.push(finding(&lone, "dga", 0, "kq9zx7wplm.com", 100, 0));
        let out = aggregate(findings, &AggregateConfig::default(), 5);
        assert_eq!(out.len(), 2);
        let burst = out.iter().find(|f| f.process.image.as_deref() == Some("powershell.exe")).unwrap();
        let lone = out.iter().find(|f| f.process.image.as_deref() == Some("chrome.exe")).unwrap();
        assert!(burst.score > lone.score, "burst {} vs lone {}", burst.score, lone.score);
        assert_eq!(burst.severity, Severity::High);
        assert!(lone.severity <= Severity::Low, "{:?}", lone.severity);
        assert_eq!(burst.details["distinct_domains"], 10);
        assert_eq!(burst.details["nxdomain_share"], 1.0);
        assert!(burst.explanation.starts_with("powershell.exe looked up 10 names"), "{}", burst.explanation);
        assert!(burst.registered_domain.is_none());
    }

    #[test]
    fn dga_burst_score_grows_with_count_and_nxdomain_share() {
        let ps = Proc::new("WS1", "powershell.exe", 1);
        let score = |n: i64, status: u32| {
            let f: Vec<Finding> = (0..n).map(|i| finding(&ps, "dga", i * 1000, &format!("zq{i}wkx8plm.net"), 90, status)).collect();
            aggregate(f, &AggregateConfig::default(), 5)[0].score
        };
        assert!(score(2, 9003) < score(5, 9003));
        assert!(score(5, 9003) <= score(20, 9003));
        assert!(score(5, 0) < score(5, 9003));
        assert!(score(2, 9003) >= 50, "two NXDOMAIN names at 0.9 are medium: {}", score(2, 9003));
    }

    #[test]
    fn ids_are_stable_and_independent_of_order() {
        let ps = Proc::new("WS1", "powershell.exe", 1);
        let findings: Vec<Finding> = (0..6).map(|i| finding(&ps, "dga", i * 1000, &format!("zq{i}wkx8plm.net"), 80 + i as u8, 9003)).collect();
        let mut reversed = findings.clone();
        reversed.reverse();
        let a = aggregate(findings, &AggregateConfig::default(), 5);
        let b = aggregate(reversed, &AggregateConfig::default(), 5);
        assert_eq!(a, b);
    }
}

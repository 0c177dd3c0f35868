//! # outlier
//!
//! **What:** lookups and programs that stand out from their own history, measured with robust
//! statistics (median and median absolute deviation, MAD; robust z = (x − median) /
//! (1.4826 · MAD), with a floor on the MAD so a constant history does not make every change
//! infinite):
//!
//! - **name length** per (host, program): a query name at least `name_length_z` (default 6)
//!   robust z above the program's usual length and at least 50 characters long: **low**;
//!   100 characters or more: **medium**. Needs 20 lookups of history; MAD floor 2 characters.
//! - **answer count** per (host, program): an answer with at least `answer_count_z` (6) robust
//!   z more records than usual and at least 20 records: **low** (large payloads, fast flux).
//!   MAD floor 1 record.
//! - **query volume** per (host, program) per hour: an hour with at least `volume_z` (6) robust
//!   z more lookups than the program's usual hour and at least 100 lookups, given 6 or more
//!   active hours of history: **low**. MAD floor 1 lookup.
//! - **query volume** per (host, registered domain): a domain looked up at least `volume_z`
//!   robust z more often than the host's other domains (on a log2 scale, MAD floor 0.5) and at
//!   least 500 times: **info**, a pointer for the analyst.
//!
//! Medians and MADs of lengths and answer counts are exact and cheap: they come from per-key
//! histograms (names are at most 255 characters). Only the few most extreme events per key are
//! kept as evidence.
//!
//! **Why:** tunnels and exfiltration make long names and many lookups; DNS-based payload
//! delivery and fast-flux hosting make large answers; a program that suddenly resolves far more
//! than it ever did has changed behaviour. Median and MAD are not dragged along by the very
//! outliers they are meant to find, as a mean and standard deviation would be.
//!
//! **ATT&CK:** T1071.004 (DNS), T1048.003 (Exfiltration over DNS), T1568.001 (Fast Flux DNS).
//!
//! Service-discovery names (first label starting with `_`, e.g. the domain controller
//! locator's SRV lookups) are not judged for length.
//!
//! **False positives:** programs with legitimately long names (CDN and cloud-storage hosts,
//! anti-virus reputation lookups), software updates that resolve many names at once, popular
//! domains (info only).

use crate::fast::HashMap;
use std::collections::BTreeMap;
use std::sync::Arc;

use dnshunt_core::{BoundReached, Detector, Event, EventKind, Finding, FindingSink, Severity};
use serde::Deserialize;

use crate::stats::{domain_of, host, image_into, key_hash, median_mad_histogram, median_sorted, robust_z, to_keep, StrPair as Pair};

/// Settings of the `outlier` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OutlierConfig {
    /// Robust z for name length. Default 6.
    pub name_length_z: f64,
    /// Shortest name reported. Default 50.
    pub min_name_length: usize,
    /// Robust z for answer count. Default 6.
    pub answer_count_z: f64,
    /// Fewest answers reported. Default 20.
    pub min_answer_count: usize,
    /// Robust z for query volume. Default 6.
    pub volume_z: f64,
    /// Fewest lookups in an hour for a program's volume outlier. Default 100.
    pub min_hourly_volume: u64,
    /// Fewest lookups of a domain for a domain volume outlier. Default 500.
    pub min_domain_volume: u64,
    /// Lookups of history a program needs before its lengths and answers are judged. Default 20.
    pub min_history: u64,
    /// (host, program) and (host, domain) keys kept. Default 200 000.
    pub max_keys: usize,
    /// Hours of volume history kept per program (the oldest dropped). Default 2160 (90 days).
    pub max_hours: usize,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            name_length_z: 6.0,
            min_name_length: 50,
            answer_count_z: 6.0,
            min_answer_count: 20,
            volume_z: 6.0,
            min_hourly_volume: 100,
            min_domain_volume: 500,
            min_history: 20,
            max_keys: 200_000,
            max_hours: 2160,
        }
    }
}

/// Most extreme events kept per key and measure.
const TOP: usize = 3;

#[derive(Debug)]
struct Program {
    lengths: Vec<u32>,
    answers: Vec<u32>,
    lookups: u64,
    longest: Vec<(usize, Arc<Event>)>,
    most_answers: Vec<(usize, Arc<Event>)>,
    /// Lookups per hour; an event is kept only for hours busy enough to be reported.
    hours: BTreeMap<i64, (u64, Option<Arc<Event>>)>,
}

impl Default for Program {
    fn default() -> Self {
        Program {
            lengths: vec![0; 256],
            answers: vec![0; 65],
            lookups: 0,
            longest: Vec::new(),
            most_answers: Vec::new(),
            hours: BTreeMap::new(),
        }
    }
}

/// Keeps the `TOP` largest (value, event) pairs, ties broken by the earlier event.
fn keep_top(top: &mut Vec<(usize, Arc<Event>)>, value: usize, event: &Event, shared: Option<&Arc<Event>>) {
    if top.len() == TOP && top.iter().all(|(v, e)| (*v, std::cmp::Reverse(e.time)) > (value, std::cmp::Reverse(event.time))) {
        return;
    }
    top.push((value, to_keep(event, shared)));
    top.sort_by(|a, b| (b.0, a.1.time).cmp(&(a.0, b.1.time)));
    top.truncate(TOP);
}

#[derive(Debug, Default)]
struct Domain {
    count: u64,
    first_time: dnshunt_core::Timestamp,
    /// The earliest lookup, the finding's evidence: a reference to the event the engine shares
    /// with every detector (a copy only when a detector is shown events one by one).
    first: Option<Arc<Event>>,
}

pub struct Outlier {
    config: OutlierConfig,
    /// By the [`key_hash`] of (host, image), each with its names.
    programs: HashMap<u64, ((String, String), Program)>,
    /// By the hash of (host, domain) ([`key_hash`]); the names come from the earliest lookup.
    domains: HashMap<u64, Domain>,
    /// The image of the event at hand (reused, not allocated per event).
    image_buf: String,
    /// Lookups not counted: past `max_keys` (programs or domains), hours past `max_hours`.
    over_keys: u64,
    over_hours: u64,
}

impl Outlier {
    pub const NAME: &'static str = "outlier";

    pub fn new(config: OutlierConfig) -> Outlier {
        Outlier {
            config,
            programs: HashMap::default(),
            domains: HashMap::default(),
            image_buf: String::new(),
            over_keys: 0,
            over_hours: 0,
        }
    }
}

impl Outlier {
    /// Looks at an event; `shared` is the engine's shared copy of it.
    fn observe_with(&mut self, event: &Event, shared: Option<&Arc<Event>>) {
        let EventKind::DnsQuery(q) = &event.kind else { return };
        let mut img = std::mem::take(&mut self.image_buf);
        image_into(event, &mut img);
        let key = key_hash((host(event), img.as_str()));
        let make = || (Pair(host(event), &img).to_key(), Program::default());
        if let Some((_, p)) = crate::fast::bounded_entry(&mut self.programs, key, self.config.max_keys, make) {
            // Service-discovery names (`_ldap._tcp.dc._msdcs.corp.example`) are long by design.
            let len = if q.query.as_str().starts_with('_') { 0 } else { q.query.as_str().len() };
            let n_answers = q.answers.len();
            p.lengths[len.min(255)] += 1;
            p.answers[n_answers.min(64)] += 1;
            p.lookups += 1;
            keep_top(&mut p.longest, len, event, shared);
            keep_top(&mut p.most_answers, n_answers, event, shared);
            let hour = event.time.0.div_euclid(3_600_000);
            // At the cap the oldest hour makes room for a newer one; an older one is not kept.
            let mut keep = true;
            if !p.hours.contains_key(&hour) && p.hours.len() >= self.config.max_hours {
                self.over_hours += 1;
                keep = p.hours.keys().next().is_some_and(|&h| h < hour);
                if keep {
                    p.hours.pop_first();
                }
            }
            if keep {
                let slot = p.hours.entry(hour).or_insert((0, None));
                slot.0 += 1;
                // Only an hour that can be reported keeps an event (the earliest seen once it is
                // busy: which one may vary with arrival order; the finding's key and count do not).
                if slot.0 >= self.config.min_hourly_volume && slot.1.as_ref().is_none_or(|e| event.time < e.time) {
                    slot.1 = Some(to_keep(event, shared));
                }
            }
        } else {
            self.over_keys += 1;
        }
        self.image_buf = img;
        let key = key_hash((host(event), domain_of(&q.query)));
        let Some(d) = crate::fast::bounded_entry(&mut self.domains, key, self.config.max_keys, Domain::default) else {
            self.over_keys += 1;
            return;
        };
        d.count += 1;
        crate::stats::keep_earliest_timed(&mut d.first, &mut d.first_time, event, || to_keep(event, shared));
    }
}

impl Detector for Outlier {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn bounds_reached(&self) -> Vec<BoundReached> {
        BoundReached::all([
            BoundReached::of(Self::NAME, "max_keys", self.config.max_keys, self.over_keys),
            BoundReached::of(Self::NAME, "max_hours", self.config.max_hours, self.over_hours),
        ])
    }

    fn observe(&mut self, event: &Event, _out: &mut Vec<Finding>) {
        self.observe_with(event, None);
    }

    fn observe_shared(&mut self, event: &Arc<Event>, _out: &mut Vec<Finding>) {
        self.observe_with(event, Some(event));
    }

    fn finish(&mut self, out: &mut dyn FindingSink) {
        let c = self.config.clone();
        let mut programs: Vec<((String, String), Program)> = self.programs.drain().map(|(_, program)| program).collect();
        programs.sort_by(|a, b| a.0.cmp(&b.0));
        for ((_h, img), p) in programs {
            let shown = if img.is_empty() { "an unknown process".to_owned() } else { img.clone() };
            if p.lookups >= c.min_history {
                if let Some((median, mad)) = median_mad_histogram(&p.lengths) {
                    for (len, e) in &p.longest {
                        let z = robust_z(*len as f64, median, mad, 2.0 * 1.4826);
                        if z >= c.name_length_z && *len >= c.min_name_length {
                            let (severity, score) = if *len >= 100 { (Severity::Medium, 50) } else { (Severity::Low, 30) };
                            let name = e.dns().map(|q| q.query.as_str().to_owned()).unwrap_or_default();
                            let explanation = format!(
                                "{shown} looked up a {len}-character name ({name}), {z:.0} robust deviations above its usual {median:.0} characters: data may be encoded in it"
                            );
                            out.push(
                                Finding::from_event(Self::NAME, severity, score, e, &["name_length", &img, &name], explanation)
                                    .with_attack(&["T1071.004", "T1048.003"])
                                    .with_detail("measure", "name_length")
                                    .with_detail("value", *len)
                                    .with_detail("median", median)
                                    .with_detail("mad", mad)
                                    .with_detail("robust_z", (z * 10.0).round() / 10.0),
                            );
                        }
                    }
                }
                if let Some((median, mad)) = median_mad_histogram(&p.answers) {
                    for (n, e) in &p.most_answers {
                        let z = robust_z(*n as f64, median, mad, 1.4826);
                        if z >= c.answer_count_z && *n >= c.min_answer_count {
                            let name = e.dns().map(|q| q.query.as_str().to_owned()).unwrap_or_default();
                            let explanation = format!(
                                "{shown} got {n} answer records for {name}, {z:.0} robust deviations above its usual {median:.0}: a large DNS payload or fast-flux hosting"
                            );
                            out.push(
                                Finding::from_event(Self::NAME, Severity::Low, 30, e, &["answer_count", &img, &name], explanation)
                                    .with_attack(&["T1071.004", "T1568.001"])
                                    .with_detail("measure", "answer_count")
                                    .with_detail("value", *n)
                                    .with_detail("median", median)
                                    .with_detail("mad", mad)
                                    .with_detail("robust_z", (z * 10.0).round() / 10.0),
                            );
                        }
                    }
                }
            }
            if p.hours.len() >= 6 {
                let mut volumes: Vec<f64> = p.hours.values().map(|(n, _)| *n as f64).collect();
                volumes.sort_by(f64::total_cmp);
                let median = median_sorted(&volumes);
                let mut dev: Vec<f64> = volumes.iter().map(|v| (v - median).abs()).collect();
                dev.sort_by(f64::total_cmp);
                let mad = median_sorted(&dev);
                for (hour, (n, e)) in &p.hours {
                    let z = robust_z(*n as f64, median, mad, 1.4826);
                    let Some(e) = e else { continue };
                    if z >= c.volume_z && *n >= c.min_hourly_volume {
                        let explanation = format!("{shown} made {n} lookups in one hour, {z:.0} robust deviations above its usual {median:.0} an hour");
                        let mut f = Finding::from_event(Self::NAME, Severity::Low, 30, e, &["process_volume", &img, &hour.to_string()], explanation)
                            .with_attack(&["T1071.004"])
                            .with_detail("measure", "process_hourly_volume")
                            .with_detail("value", *n)
                            .with_detail("median", median)
                            .with_detail("mad", mad)
                            .with_detail("robust_z", (z * 10.0).round() / 10.0);
                        f.count = *n;
                        f.registered_domain = None;
                        f.query_name = None;
                        f.query_name_unicode = None;
                        out.push(f);
                    }
                }
            }
        }
        // Domain volume per host, on a log scale.
        let mut per_host: BTreeMap<String, Vec<(String, Domain)>> = BTreeMap::new();
        for (_, v) in self.domains.drain() {
            let Some(first) = &v.first else { continue };
            let domain = first.dns().map_or("", |q| domain_of(&q.query)).to_owned();
            per_host.entry(host(first).to_owned()).or_default().push((domain, v));
        }
        for (_h, mut domains) in per_host {
            if domains.len() < 10 {
                continue;
            }
            domains.sort_by(|a, b| a.0.cmp(&b.0));
            let mut logs: Vec<f64> = domains.iter().map(|(_, d)| (d.count as f64).log2()).collect();
            logs.sort_by(f64::total_cmp);
            let median = median_sorted(&logs);
            let mut dev: Vec<f64> = logs.iter().map(|v| (v - median).abs()).collect();
            dev.sort_by(f64::total_cmp);
            let mad = median_sorted(&dev);
            for (domain, d) in &domains {
                let z = robust_z((d.count as f64).log2(), median, mad, 0.5 * 1.4826);
                let Some(e) = &d.first else { continue };
                if z >= c.volume_z && d.count >= c.min_domain_volume {
                    let explanation = format!("{domain} was looked up {} times on this host, far more than its other domains (median {:.0}): the busiest names hide beacons and tunnels, or are noise to allow-list", d.count, median.exp2());
                    let mut f = Finding::from_event(Self::NAME, Severity::Info, 10, e, &["domain_volume", domain], explanation)
                        .with_attack(&["T1071.004"])
                        .with_detail("measure", "domain_volume")
                        .with_detail("value", d.count)
                        .with_detail("robust_z", (z * 10.0).round() / 10.0);
                    f.registered_domain = Some(domain.clone());
                    f.count = d.count;
                    f.time = d.first_time;
                    out.push(f);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{run, Proc, Rng, T0};

    fn ordinary(p: &Proc, rng: &mut Rng, n: i64, every_ms: i64) -> Vec<Event> {
        let names = [
            "www.example.com",
            "mail.example-corp.com",
            "login.example-sso.net",
            "api.weather-example.org",
            "cdn.example-static.net",
        ];
        (0..n)
            .map(|i| {
                let name = names[(rng.next_u64() % names.len() as u64) as usize];
                p.dns(T0 + i * every_ms, name, "type:  5 edge.example-cdn.net;::ffff:93.184.216.34;::ffff:93.184.216.35;", 0)
            })
            .collect()
    }

    #[track_caller]
    fn check(events: &[Event], expected: &[(&str, Severity)]) {
        let mut events = events.to_vec();
        Rng::new(2).shuffle(&mut events);
        let findings = run(&mut Outlier::new(OutlierConfig::default()), &events);
        let mut got: Vec<(String, Severity)> = findings.iter().map(|f| (f.details["measure"].as_str().unwrap_or("").to_owned(), f.severity)).collect();
        got.sort();
        let want: Vec<(String, Severity)> = expected.iter().map(|(m, s)| ((*m).to_owned(), *s)).collect();
        assert_eq!(got, want, "{:#?}", findings.iter().map(|f| &f.explanation).collect::<Vec<_>>());
    }

    #[test]
    fn long_names_big_answers_and_volume_spikes_stand_out() {
        let mut rng = Rng::new(1);
        let p = Proc::new("H", "C:\\x\\app.exe", 1);
        let mut events = ordinary(&p, &mut rng, 200, 180_000);
        let long = format!("{}.{}.x.example-exfil.com", rng.hex(60), rng.hex(50));
        events.push(p.dns(T0 + 1000, &long, "-", 0));
        let many: String = (0..30).map(|i| format!("::ffff:198.51.100.{i};")).collect();
        events.push(p.dns(T0 + 2000, "flux.example-bad.net", &many, 0));
        // One hour with 400 lookups against about 20 an hour.
        events.extend((0..400).map(|i| p.dns(T0 + 5 * 3_600_000 + i * 5000, "www.example.com", "::ffff:93.184.216.34;", 0)));
        check(
            &events,
            &[("answer_count", Severity::Low), ("name_length", Severity::Medium), ("process_hourly_volume", Severity::Low)],
        );
    }

    #[test]
    fn ordinary_history_has_no_outliers() {
        let mut rng = Rng::new(3);
        let p = Proc::new("H", "C:\\x\\app.exe", 1);
        let events = ordinary(&p, &mut rng, 500, 60_000);
        check(&events, &[]);
        // A short history is not judged at all.
        let q = Proc::new("H", "C:\\x\\new.exe", 2);
        check(&[q.dns(T0, &format!("{}.example.com", rng.hex(120)), "-", 0)], &[]);
    }
}

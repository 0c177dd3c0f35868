//! # beacon
//!
//! **What:** a program that contacts the same place at regular intervals: lookups (EID 22) per
//! (host, program image, registered domain) and connections (EID 3) per (host, program image,
//! destination address), scored for regularity the way RITA v5 scores beacons
//! (`activecm/rita`, `analysis/beacons.go`, default weights and thresholds from
//! `config/config.go`):
//!
//! - **timestamp score** = mean of the Bowley-skew score and the MADM score of the intervals
//!   between distinct timestamps (whole seconds, zero intervals dropped; at least 3 left):
//!   skew = (Q1 + Q3 − 2·Q2) / (Q3 − Q1) with Tukey's hinges, taken as 0 when Q3 − Q1 < 10 s or
//!   the median equals a quartile; skew score = 1 − |skew|. MADM score = (median − MAD) / median
//!   (1 when the median is under 1 s), floored at 0.
//! - **histogram score**: the timestamps are put in 24 equal bins spanning the reference period;
//!   score = max(1 − coefficient of variation of the bin counts (0 when CV > 1), bimodal fit),
//!   where the bimodal fit (only with at least 11 non-empty bins) is the share of non-empty bins
//!   whose heights fall in the two most common height classes (class width 5 % of the tallest
//!   bin), one outlier bin forgiven.
//! - **duration score** (only with at least 6 non-empty bins) = max(coverage, consistency):
//!   coverage = (last − first) / (reference period), consistency = longest run of consecutive
//!   non-empty bins (wrapping around) / 12.
//! - **score** = the weighted mean of the three (RITA weighs timestamps, data sizes, duration
//!   and histogram 0.25 each; Sysmon events carry no data sizes, so that quarter is shared
//!   equally: ⅓ each by default).
//!
//! The reference period is RITA's "dataset" made per host: from the host's first event within
//! 12 h before the series' first timestamp to its last event within 12 h after the series' last,
//! so captures of the same host weeks apart do not dilute each other.
//!
//! A finding needs at least `min_events` distinct timestamps over at least `min_span_minutes`
//! (default 30; RITA scores a day of data, and a burst of polling over two minutes is not a
//! beacon), a timestamp score of at least
//! `min_timestamp_score` (a busy but random series can have flat histograms; regular intervals
//! are what make a beacon) and a score of at least 0.70. Severity bands on the score:
//! **low** 0.70–0.80, **medium** 0.80–0.90, **high** ≥ 0.90 (RITA's bands are 0.50/0.75/0.90
//! with data sizes helping; without them the floor is raised). Jitter of ±30 % keeps the MADM
//! score near 0.85 and the skew near 0; a few missed callbacks (gaps) move neither median.
//!
//! **Why:** implants call home on a timer (Cobalt Strike, Sliver, Meterpreter's HTTP
//! transports); with jitter the timer still shows as a narrow, symmetric distribution of
//! intervals over a long period.
//!
//! **ATT&CK:** T1071 (Application Layer Protocol), T1071.004 for lookups, T1573 / T1008
//! context; beaconing itself is T1029-like scheduled transfer behaviour.
//!
//! **False positives:** updaters, telemetry, time sync, mail and chat clients polling, health
//! checks of agents: regular by design. Allow them by domain or program (`allowed_domains`,
//! `allowed_processes`).
//!
//! Memory: per series at most `max_timestamps_per_series` timestamps (later ones are counted,
//! not stored), at most `max_series` series and `max_timestamps` timestamps in all; per host
//! the first and last second of each active hour, for the reference period.

use std::collections::{BTreeMap, HashMap};

use dnshunt_core::{Detector, Event, EventKind, Finding, Severity};
use serde::Deserialize;

use crate::stats::{domain_of, host, image, is_local_only, keep_earliest, mad_sorted, median_sorted, quartiles_sorted};

/// Settings of the `beacon` detector.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BeaconConfig {
    /// Fewest distinct timestamps (whole seconds) a series needs. RITA's minimum is 4; DNS
    /// caches and retries make very short series noisy, so the default is 6.
    pub min_events: usize,
    /// Shortest span (first to last timestamp) of a series, in minutes. Default 30: a program
    /// polling every few seconds for a minute or two is busy, not beaconing.
    pub min_span_minutes: i64,
    /// Lowest timestamp (interval regularity) score for a finding. Default 0.65.
    pub min_timestamp_score: f64,
    /// Lowest overall score for a finding. Default 0.70 (low); 0.80 is medium, 0.90 high.
    pub min_score: f64,
    /// Weight of the timestamp score (the weights are normalised to sum to 1). Default ⅓.
    pub timestamp_weight: f64,
    /// Weight of the duration score. Default ⅓.
    pub duration_weight: f64,
    /// Weight of the histogram score. Default ⅓.
    pub histogram_weight: f64,
    /// RITA `duration_min_hours_seen`: non-empty bins needed for a duration score. Default 6.
    pub duration_min_bins: usize,
    /// RITA `duration_consistency_ideal_hours_seen`. Default 12.
    pub duration_ideal_bins: usize,
    /// RITA `histogram_mode_sensitivity`. Default 0.05.
    pub histogram_mode_sensitivity: f64,
    /// RITA `histogram_bimodal_outlier_removal`. Default 1.
    pub histogram_bimodal_outlier_removal: usize,
    /// RITA `histogram_bimodal_min_hours_seen`. Default 11.
    pub histogram_bimodal_min_bins: usize,
    /// Also score connections per destination address (EID 3). Default true.
    pub connections: bool,
    /// Registered domains never scored (lower case).
    pub allowed_domains: Vec<String>,
    /// Programs never scored (lower-case image names).
    pub allowed_processes: Vec<String>,
    /// Timestamps kept per series. Default 5000 (a 60 s beacon for 3½ days).
    pub max_timestamps_per_series: usize,
    /// Series kept. Default 200 000.
    pub max_series: usize,
    /// Timestamps kept in all. Default 5 000 000 (40 MB).
    pub max_timestamps: usize,
}

impl Default for BeaconConfig {
    fn default() -> Self {
        BeaconConfig {
            min_events: 6,
            min_span_minutes: 30,
            min_timestamp_score: 0.65,
            min_score: 0.70,
            timestamp_weight: 1.0 / 3.0,
            duration_weight: 1.0 / 3.0,
            histogram_weight: 1.0 / 3.0,
            duration_min_bins: 6,
            duration_ideal_bins: 12,
            histogram_mode_sensitivity: 0.05,
            histogram_bimodal_outlier_removal: 1,
            histogram_bimodal_min_bins: 11,
            connections: true,
            allowed_domains: Vec::new(),
            allowed_processes: Vec::new(),
            max_timestamps_per_series: 5000,
            max_series: 200_000,
            max_timestamps: 5_000_000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct SeriesKey {
    host: String,
    image: String,
    /// `d:` + registered domain, or `a:` + address.
    target: String,
}

#[derive(Debug, Default)]
struct Series {
    seconds: Vec<i64>,
    count: u64,
    first: Option<Event>,
    last_time: dnshunt_core::Timestamp,
}

/// The parts of a beacon score, for the finding's details.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BeaconScore {
    pub score: f64,
    pub timestamp: f64,
    pub duration: f64,
    pub histogram: f64,
    pub skew: f64,
    pub madm: f64,
    pub median_interval: f64,
    pub intervals: usize,
}

pub struct Beacon {
    config: BeaconConfig,
    series: HashMap<SeriesKey, Series>,
    /// Per host, the hours (since the epoch) with any event, each with its first and last
    /// second: the reference period at one-second precision for 24 entries a day.
    host_hours: HashMap<String, BTreeMap<i64, (i64, i64)>>,
    stored: usize,
    dropped: u64,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn ceil3(x: f64) -> f64 {
    (x * 1000.0).ceil() / 1000.0
}

impl Beacon {
    pub const NAME: &'static str = "beacon";

    pub fn new(mut config: BeaconConfig) -> Beacon {
        for list in [&mut config.allowed_domains, &mut config.allowed_processes] {
            list.iter_mut().for_each(|s| *s = s.to_lowercase());
        }
        Beacon {
            config,
            series: HashMap::new(),
            host_hours: HashMap::new(),
            stored: 0,
            dropped: 0,
        }
    }

    fn add(&mut self, key: SeriesKey, event: &Event) {
        if !self.series.contains_key(&key) && self.series.len() >= self.config.max_series {
            self.dropped += 1;
            return;
        }
        let series = self.series.entry(key).or_default();
        series.count += 1;
        if series.seconds.len() < self.config.max_timestamps_per_series && self.stored < self.config.max_timestamps {
            series.seconds.push(event.time.0.div_euclid(1000));
            self.stored += 1;
        } else {
            self.dropped += 1;
        }
        keep_earliest(&mut series.first, event);
        series.last_time = series.last_time.max(event.time);
    }

    /// RITA's timestamp score of sorted distinct timestamps (seconds): (score, skew, MADM score,
    /// median interval, intervals).
    fn timestamp_score(seconds: &[i64]) -> Option<(f64, f64, f64, f64, usize)> {
        let mut intervals: Vec<f64> = seconds.windows(2).map(|w| (w[1] - w[0]) as f64).filter(|&d| d > 0.0).collect();
        if intervals.len() < 3 {
            return None;
        }
        intervals.sort_by(f64::total_cmp);
        let (q1, q2, q3) = quartiles_sorted(&intervals);
        let den = q3 - q1;
        let skew = if den >= 10.0 && q2 != q1 && q2 != q3 { (q1 + q3 - 2.0 * q2) / den } else { 0.0 };
        let skew_score = 1.0 - skew.abs();
        let median = median_sorted(&intervals);
        let mad = mad_sorted(&intervals);
        let mut mad_score = if median >= 1.0 { (median - mad) / median } else { 1.0 };
        if mad_score < 0.0 || mad_score.is_nan() {
            mad_score = 0.0;
        }
        Some((round3((skew_score + mad_score) / 2.0), skew, mad_score, median, intervals.len()))
    }

    /// RITA's timestamp score of sorted timestamps (seconds), for other detectors' periodicity.
    pub fn timestamp_score_of(seconds: &[i64]) -> Option<f64> {
        Self::timestamp_score(seconds).map(|s| s.0)
    }

    /// RITA's histogram and duration scores over `[ref_min, ref_max]` with 24 bins.
    fn histogram_and_duration(&self, seconds: &[i64], ref_min: i64, ref_max: i64) -> Option<(f64, f64)> {
        if ref_max <= ref_min || seconds.is_empty() {
            return None;
        }
        const BINS: usize = 24;
        let step = (ref_max - ref_min) as f64 / BINS as f64;
        let mut hist = [0u64; BINS];
        for &t in seconds {
            let i = (((t - ref_min) as f64 / step).floor().max(0.0) as usize).min(BINS - 1);
            hist[i] += 1;
        }
        let total_bars = hist.iter().filter(|&&c| c > 0).count();
        let largest = hist.iter().copied().max().unwrap_or(0);
        // Longest run of non-empty bins, wrapping around.
        let mut longest = 0usize;
        let mut run = 0usize;
        for i in 0..BINS * 2 {
            if hist[i % BINS] > 0 {
                run += 1;
            } else {
                longest = longest.max(run);
                run = 0;
            }
        }
        longest = longest.max(run).min(BINS);
        // Coefficient of variation score.
        let total: u64 = hist.iter().sum();
        let mean = total as f64 / BINS as f64;
        let sd = (hist.iter().map(|&c| (c as f64 - mean).powi(2)).sum::<f64>() / BINS as f64).sqrt();
        let cv = if mean > 0.0 { sd / mean } else { f64::INFINITY };
        let cv_score = if cv > 1.0 { 0.0 } else { round3(1.0 - cv).min(1.0) };
        // Bimodal fit.
        let bin_size = (largest as f64 * self.config.histogram_mode_sensitivity).ceil().max(1.0);
        let mut freq: BTreeMap<u64, u64> = BTreeMap::new();
        for &c in hist.iter().filter(|&&c| c > 0) {
            *freq.entry(((c as f64 / bin_size).floor() * bin_size) as u64).or_default() += 1;
        }
        let bimodal = if total_bars >= self.config.histogram_bimodal_min_bins.max(3) {
            let mut counts: Vec<u64> = freq.values().copied().collect();
            counts.sort_unstable_by(|a, b| b.cmp(a));
            let top2 = counts.iter().take(2).sum::<u64>() as f64;
            let adjusted = (total_bars.saturating_sub(self.config.histogram_bimodal_outlier_removal)).max(1) as f64;
            round3(top2 / adjusted).min(1.0)
        } else {
            0.0
        };
        let hist_score = cv_score.max(bimodal);
        let duration = if total_bars >= self.config.duration_min_bins.max(1) {
            let first = *seconds.first()?;
            let last = *seconds.last()?;
            let coverage = ceil3((last - first) as f64 / (ref_max - ref_min) as f64).min(1.0);
            let consistency = ceil3(longest as f64 / self.config.duration_ideal_bins.max(1) as f64).min(1.0);
            coverage.max(consistency)
        } else {
            0.0
        };
        Some((hist_score, duration))
    }

    /// The reference period of a host around `[first, last]` (seconds).
    fn reference(&self, host: &str, first: i64, last: i64) -> (i64, i64) {
        let Some(hours) = self.host_hours.get(host) else { return (first, last) };
        let first_hour = first.div_euclid(3600);
        let last_hour = last.div_euclid(3600);
        let lo = hours.range(first_hour - 12..=first_hour).next().map_or(first, |(_, &(lo, _))| lo);
        let hi = hours.range(last_hour..=last_hour + 12).next_back().map_or(last, |(_, &(_, hi))| hi);
        (lo.min(first), hi.max(last))
    }

    /// Scores one series of sorted, distinct timestamps (seconds).
    pub fn score(&self, host: &str, seconds: &[i64]) -> Option<BeaconScore> {
        let (timestamp, skew, madm, median_interval, intervals) = Self::timestamp_score(seconds)?;
        let (ref_min, ref_max) = self.reference(host, *seconds.first()?, *seconds.last()?);
        let (histogram, duration) = self.histogram_and_duration(seconds, ref_min, ref_max)?;
        let c = &self.config;
        let weights = c.timestamp_weight + c.duration_weight + c.histogram_weight;
        if weights <= 0.0 {
            return None;
        }
        let score = round3((timestamp * c.timestamp_weight + duration * c.duration_weight + histogram * c.histogram_weight) / weights);
        Some(BeaconScore {
            score,
            timestamp,
            duration,
            histogram,
            skew,
            madm,
            median_interval,
            intervals,
        })
    }
}

impl Detector for Beacon {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn observe(&mut self, event: &Event, _out: &mut Vec<Finding>) {
        let h = host(event).to_owned();
        let second = event.time.0.div_euclid(1000);
        let hours = match self.host_hours.get_mut(&h) {
            Some(hours) => hours,
            None => self.host_hours.entry(h.clone()).or_default(),
        };
        let span = hours.entry(second.div_euclid(3600)).or_insert((second, second));
        span.0 = span.0.min(second);
        span.1 = span.1.max(second);
        let img = image(event);
        if self.config.allowed_processes.contains(&img) {
            return;
        }
        match &event.kind {
            EventKind::DnsQuery(q) => {
                let domain = domain_of(&q.query);
                if domain.is_empty() || self.config.allowed_domains.iter().any(|d| d == domain) {
                    return;
                }
                let key = SeriesKey {
                    host: h,
                    image: img,
                    target: format!("d:{domain}"),
                };
                self.add(key, event);
            }
            EventKind::NetworkConnect(n) if self.config.connections => {
                let Some(ip) = n.destination_ip else { return };
                if n.initiated == Some(false) || is_local_only(ip) {
                    return;
                }
                let key = SeriesKey {
                    host: h,
                    image: img,
                    target: format!("a:{ip}"),
                };
                self.add(key, event);
            }
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<Finding>) {
        let mut series: Vec<(SeriesKey, Series)> = self.series.drain().collect();
        series.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, mut s) in series {
            s.seconds.sort_unstable();
            s.seconds.dedup();
            if s.seconds.len() < self.config.min_events.max(4) {
                continue;
            }
            if let (Some(a), Some(b)) = (s.seconds.first(), s.seconds.last()) {
                if b - a < self.config.min_span_minutes * 60 {
                    continue;
                }
            }
            let Some(score) = self.score(&key.host, &s.seconds) else { continue };
            if score.timestamp < self.config.min_timestamp_score || score.score < self.config.min_score.max(0.0) {
                continue;
            }
            let Some(first) = s.first else { continue };
            let last_time = s.last_time.max(first.time);
            let severity = if score.score >= 0.90 {
                Severity::High
            } else if score.score >= 0.80 {
                Severity::Medium
            } else {
                Severity::Low
            };
            let (kind, target) = key.target.split_at(2);
            let shown = if key.image.is_empty() { "an unknown process" } else { &key.image };
            let what = if kind == "d:" {
                format!("looked up {target}")
            } else {
                format!("connected to {target}")
            };
            let explanation = format!(
                "{shown} {what} {} times at regular intervals (median {:.0} s) from {} to {}: beacon score {:.2} (timestamps {:.2}, duration {:.2}, histogram {:.2}), the pattern of an implant calling home",
                s.count, score.median_interval, first.time, last_time, score.score, score.timestamp, score.duration, score.histogram
            );
            let attack: &[&str] = if kind == "d:" { &["T1071.004", "T1071"] } else { &["T1071"] };
            let mut f = Finding::from_event(Self::NAME, severity, (score.score * 100.0).round() as u8, &first, &[&key.image, &key.target], explanation)
                .with_attack(attack)
                .with_detail("target", target)
                .with_detail("target_kind", if kind == "d:" { "domain" } else { "address" })
                .with_detail("beacon_score", score.score)
                .with_detail("timestamp_score", score.timestamp)
                .with_detail("duration_score", score.duration)
                .with_detail("histogram_score", score.histogram)
                .with_detail("bowley_skew", round3(score.skew))
                .with_detail("madm_score", round3(score.madm))
                .with_detail("median_interval_s", score.median_interval)
                .with_detail("distinct_timestamps", s.seconds.len());
            f.count = s.count;
            f.time_last = last_time;
            out.push(f);
        }
        self.host_hours.clear();
        self.stored = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{run, Proc, Rng, T0};

    fn beacon_events(p: &Proc, rng: &mut Rng, every_s: f64, jitter: f64, hours: f64, name: &str) -> Vec<Event> {
        let mut events = Vec::new();
        let mut t = 0.0;
        while t < hours * 3600.0 {
            events.push(p.dns(T0 + (t * 1000.0) as i64, name, "::ffff:203.0.113.47;", 0));
            t += every_s * rng.range(1.0 - jitter, 1.0 + jitter);
        }
        events
    }

    /// A browser: bursts of lookups while pages load, idle gaps of seconds to half an hour.
    fn browser_events(p: &Proc, rng: &mut Rng, hours: f64) -> Vec<Event> {
        let names = ["www.google.com", "fonts.gstatic.com", "www.example-news.com", "cdn.example-news.com"];
        let mut events = Vec::new();
        let mut t = 0.0;
        while t < hours * 3600.0 {
            let burst = 1 + (rng.next_u64() % 6) as usize;
            for i in 0..burst {
                let name = names[(rng.next_u64() % names.len() as u64) as usize];
                events.push(p.dns(T0 + ((t + i as f64 * rng.range(0.1, 3.0)) * 1000.0) as i64, name, "::ffff:93.184.216.34;", 0));
            }
            let idle = if rng.unit() < 0.3 { rng.range(600.0, 1800.0) } else { rng.range(5.0, 240.0) };
            t += idle;
        }
        events
    }

    #[track_caller]
    fn check(events: &[Event], expected: &[(&str, Severity)]) -> Vec<Finding> {
        let mut events = events.to_vec();
        Rng::new(7).shuffle(&mut events);
        let findings = run(&mut Beacon::new(BeaconConfig::default()), &events);
        let got: Vec<(String, Severity)> = findings.iter().map(|f| (f.details["target"].as_str().unwrap_or("").to_owned(), f.severity)).collect();
        let want: Vec<(String, Severity)> = expected.iter().map(|(t, s)| ((*t).to_owned(), *s)).collect();
        assert_eq!(got, want, "{:#?}", findings.iter().map(|f| &f.explanation).collect::<Vec<_>>());
        findings
    }

    #[test]
    fn sixty_seconds_plus_minus_twenty_percent_for_six_hours_is_a_beacon() {
        let implant = Proc::new("WS-ACCT-07", "C:\\Windows\\System32\\rundll32.exe", 1);
        let mut rng = Rng::new(42);
        let events = beacon_events(&implant, &mut rng, 60.0, 0.2, 6.0, "api.update-cdn-sync.com");
        let findings = check(&events, &[("update-cdn-sync.com", Severity::High)]);
        let f = &findings[0];
        assert!(f.details["timestamp_score"].as_f64().unwrap() > 0.85, "{:?}", f.details);
        assert_eq!(f.count as usize, events.len());
        assert_eq!(f.evidence.len(), 1);
        assert!(f.time_last > f.time);
    }

    #[test]
    fn thirty_percent_jitter_and_gaps_still_beacon() {
        let implant = Proc::new("H", "C:\\Users\\u\\AppData\\Local\\Temp\\svc.exe", 1);
        let mut rng = Rng::new(3);
        let mut events = beacon_events(&implant, &mut rng, 300.0, 0.3, 12.0, "c2.example-bad.net");
        // Two long outages and some missed callbacks.
        events.retain(|e| {
            let m = (e.time.0 - T0) / 60_000;
            !(120..180).contains(&m) && !(400..430).contains(&m)
        });
        let mut rng2 = Rng::new(9);
        events.retain(|_| rng2.unit() > 0.1);
        // The outages flatten the histogram score; the intervals still carry it to medium.
        let findings = check(&events, &[("example-bad.net", Severity::Medium)]);
        assert!(findings[0].details["timestamp_score"].as_f64().unwrap() > 0.8);
    }

    #[test]
    fn connection_beacons_are_scored_per_address() {
        let implant = Proc::new("H", "C:\\x\\implant.exe", 1);
        let mut rng = Rng::new(5);
        let mut events = Vec::new();
        let mut t = 0.0;
        while t < 6.0 * 3600.0 {
            events.push(implant.net(T0 + (t * 1000.0) as i64, "tcp", "198.51.100.23", 443));
            t += 120.0 * rng.range(0.85, 1.15);
        }
        check(&events, &[("198.51.100.23", Severity::High)]);
    }

    #[test]
    fn browser_traffic_and_short_series_are_not_beacons() {
        let chrome = Proc::new("H", "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", 1);
        let mut rng = Rng::new(11);
        let mut events = browser_events(&chrome, &mut rng, 6.0);
        // A Meterpreter-like session: four connections in three minutes.
        let payload = Proc::new("H", "C:\\Users\\u\\Downloads\\winx64_payload.exe", 2);
        for ms in [0, 10_631, 11_581, 153_991] {
            events.push(payload.net(T0 + ms, "tcp", "10.0.5.13", 8080));
        }
        check(&events, &[]);
    }

    #[test]
    fn rita_timestamp_score_examples() {
        // Perfectly regular: skew 0, MAD 0.
        let regular: Vec<i64> = (0..20).map(|i| i * 60).collect();
        assert_eq!(Beacon::timestamp_score(&regular).map(|s| s.0), Some(1.0));
        // Intervals 11, 1, 142 (the Metasploit session above): irregular.
        let (score, ..) = Beacon::timestamp_score(&[0, 11, 12, 154]).unwrap();
        assert!(score < 0.2, "{score}");
        assert_eq!(Beacon::timestamp_score(&[0, 60, 120]), None);
    }
}

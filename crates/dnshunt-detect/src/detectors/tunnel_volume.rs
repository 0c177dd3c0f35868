//! # tunnel_volume
//!
//! **What:** the volume signature of DNS tunnels and exfiltration, per time window:
//!
//! - **unique subdomains** per (host, registered domain) in a window of `window_minutes`
//!   (default 60; two grids offset by half a window, so a burst is never cut in two; overlapping
//!   findings are merged). Bands follow RITA v5's C2-over-DNS thresholds (`config/config.go`
//!   `C2ScoreThresholds`): 100 → **low**, 500 → **medium**, 800 → **high**, 1000 → **high**
//!   with a higher score.
//! - **information content** of those names: the sum over unique subdomains of length ×
//!   Shannon entropy per character (bits). Names that look encoded (mean subdomain length ≥ 20
//!   and ≥ 3.5 bits per character) carrying at least `min_information_bytes` (default 2048) per
//!   window are at least **medium**, whatever their count; ordinary names (mean length < 12 or
//!   < 3 bits per character) are demoted one band, so a CDN's many short names stay **info**.
//! - **numbered chunks**: a numeric label next to a long label (≥ 20 characters) under one
//!   domain, with at least `min_chunks` (default 4) distinct, mostly consecutive numbers in a
//!   window (`<data>.0.t.example`, `<data>.1.t.example`, ...): **medium**.
//! - **TXT/NULL rate** per (host, program) and window: at least `min_txt_null` (default 20)
//!   TXT or NULL answers making up at least half of its lookups: **medium**.
//!
//! **Why:** a tunnel has to put its data into query names (upstream) and answers (downstream,
//! mostly TXT and NULL): many unique, long, high-entropy names under one domain, often numbered
//! so the server can reassemble them. RITA scores the unique-subdomain count; the information
//! content and chunk numbers catch slow or small exfiltration below its bands.
//!
//! **ATT&CK:** T1071.004 (Application Layer Protocol: DNS), T1048.003 (Exfiltration Over
//! Unencrypted Non-C2 Protocol), T1572 (Protocol Tunneling).
//!
//! **False positives:** CDNs and cloud services with per-object names (`*.akamaiedge.net`,
//! `*.cloudfront.net`), anti-virus and reputation lookups that encode hashes in names
//! (`*.avts.mcafee.com`, Sophos XDR, Spamhaus/SURBL RBL queries), DNS-based service
//! discovery. Allow such domains in `allowed_domains`.
//!
//! Memory: per window at most `max_unique_per_window` subdomain hashes (enough to pass the top
//! band), 256 chunk numbers and one evidence event. Once a quarter of `max_windows` windows are
//! held, windows that ended more than two windows before their host's latest event are judged
//! and dropped as the input is read (so memory follows the number of hosts and domains active
//! at once, not the length of the input); at most `max_windows` windows are kept, the oldest
//! judged and dropped first when the cap is reached.
//! Events that arrive later than that for a dropped window start a new, partial one: its
//! finding has the same id and is merged with the first by the engine (counts add up; unique
//! subdomains are not re-counted across the two).

use std::collections::{BTreeMap, BTreeSet};

use dnshunt_core::{Detector, Event, EventKind, Finding, FindingSink, RecordType, Severity, Timestamp};
use serde::Deserialize;

use crate::fast::HashMap;
use crate::stats::{entropy_bits_skipping, hash64, host, image, image_into, key_hash};

/// Settings of the `tunnel_volume` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TunnelVolumeConfig {
    /// Window length in minutes. Default 60.
    pub window_minutes: i64,
    /// Unique-subdomain bands (RITA: 100, 500, 800, 1000): low, medium, high, high+.
    pub bands: [usize; 4],
    /// Information (bytes) of encoded-looking names per window that makes a medium finding.
    pub min_information_bytes: f64,
    /// Distinct chunk numbers for a numbered-chunk finding. Default 4.
    pub min_chunks: usize,
    /// TXT/NULL answers per program and window for a rate finding. Default 20.
    pub min_txt_null: u64,
    /// Registered domains never reported (lower case).
    pub allowed_domains: Vec<String>,
    /// Subdomain hashes kept per window. Default 1024.
    pub max_unique_per_window: usize,
    /// Windows kept at once. Default 200 000.
    pub max_windows: usize,
}

impl Default for TunnelVolumeConfig {
    fn default() -> Self {
        TunnelVolumeConfig {
            window_minutes: 60,
            bands: [100, 500, 800, 1000],
            min_information_bytes: 2048.0,
            min_chunks: 4,
            min_txt_null: 20,
            allowed_domains: Vec::new(),
            max_unique_per_window: 1024,
            max_windows: 200_000,
        }
    }
}

/// A window: the host and the subject by their hashes (the names themselves are the first
/// event's, made again only for a window that gives a finding), so finding a window neither
/// allocates nor compares strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct WindowKey {
    host: u64,
    /// The registered domain's hash, or the program image's for the TXT/NULL rate (`txt`).
    subject: u64,
    /// The start (minute) times four, plus 2 for the TXT/NULL rate and the grid (0 or 1): 24
    /// bytes a key instead of 32, in a table of hundreds of thousands.
    slot: i64,
}

impl WindowKey {
    fn new(host: u64, subject: u64, txt: bool, grid: u8, start_min: i64) -> WindowKey {
        debug_assert!(grid < 2, "two grids");
        WindowKey {
            host,
            subject,
            slot: start_min * 4 + i64::from(txt) * 2 + i64::from(grid & 1),
        }
    }

    fn start_min(self) -> i64 {
        self.slot >> 2
    }

    fn txt(self) -> bool {
        self.slot & 2 != 0
    }

    fn grid(self) -> u8 {
        (self.slot & 1) as u8
    }
}

/// A judged window's key with its names, for the report (ordered by them, so the report does
/// not depend on hashes or input order).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct NamedKey {
    host: String,
    /// Registered domain, or `txt:` + program image for the TXT/NULL rate.
    subject: String,
    grid: u8,
    start_min: i64,
}

#[derive(Debug, Default)]
struct Window {
    /// Subdomain hashes (already hashes: foldhash's few multiplies, not SipHash); the first
    /// two held in place, as most windows have no more.
    uniques: crate::fast::HashSet64,
    overflow: bool,
    queries: u64,
    info_bits: f64,
    sub_len_sum: u64,
    entropy_sum: f64,
    /// Numbered chunks: the numbers, per parent name below the domain (boxed: few windows
    /// have any, and a window takes 8 bytes in place for them instead of 24).
    #[allow(clippy::box_collection)]
    chunks: Option<Box<BTreeMap<String, BTreeSet<u32>>>>,
    txt_null: u64,
    /// The earliest event, shared by the windows it is the first of (up to four: two grids,
    /// domain and program).
    first: Option<std::sync::Arc<Event>>,
    /// `first`'s time.
    first_time: Timestamp,
    last_time: Timestamp,
}

/// What a judged window reports.
#[derive(Debug)]
struct Verdict {
    key: NamedKey,
    severity: Severity,
    score: u8,
    kind: &'static str,
    explanation: String,
    details: Vec<(&'static str, serde_json::Value)>,
    count: u64,
    first: std::sync::Arc<Event>,
    last_time: Timestamp,
}

pub struct TunnelVolume {
    config: TunnelVolumeConfig,
    windows: HashMap<WindowKey, Window>,
    /// The image of the event at hand (reused, not allocated per event).
    program: String,
    /// The latest minute seen per host (by its hash): windows well behind it are judged and
    /// dropped.
    host_minute: HashMap<u64, i64>,
    created_since_sweep: usize,
}

/// New windows between two sweeps of finished windows.
const SWEEP_EVERY: usize = 4096;

impl TunnelVolume {
    pub const NAME: &'static str = "tunnel_volume";

    pub fn new(mut config: TunnelVolumeConfig) -> TunnelVolume {
        config.window_minutes = config.window_minutes.max(2);
        config.allowed_domains.iter_mut().for_each(|s| *s = s.to_lowercase());
        TunnelVolume {
            config,
            windows: HashMap::default(),
            program: String::new(),
            host_minute: HashMap::default(),
            created_since_sweep: 0,
        }
    }

    /// Looks at an event; `shared` is the engine's shared copy of it, kept as a window's first.
    fn observe_with(&mut self, event: &Event, shared: Option<&std::sync::Arc<Event>>, out: &mut Vec<Finding>) {
        let EventKind::DnsQuery(q) = &event.kind else { return };
        let minute = event.time.0.div_euclid(60_000);
        let h = key_hash(host(event));
        let latest = self.host_minute.entry(h).or_insert(minute);
        *latest = (*latest).max(minute);
        let starts = self.window_starts(minute);
        // One copy of the event (or the engine's) for every window it is the first of.
        let mut shared: Option<std::sync::Arc<Event>> = shared.cloned();
        // TXT/NULL rate per program.
        let txt = q.answers.iter().any(|a| a.rtype == RecordType::TXT || a.rtype == RecordType::NULL);
        let mut program = std::mem::take(&mut self.program);
        image_into(event, &mut program);
        let program_hash = key_hash(&program);
        self.program = program;
        for (grid, start) in starts {
            let key = WindowKey::new(h, program_hash, true, grid, start);
            self.count_in(key, event, &mut shared, out).txt_null += txt as u64;
        }
        let (Some(domain), Some(sub)) = (q.query.registered_domain(), q.query.subdomain()) else {
            return;
        };
        if self.config.allowed_domains.iter().any(|d| d == domain) {
            return;
        }
        let sub_hash = hash64(sub);
        // Only a name with a long label can carry numbered chunks.
        let chunk = if sub.len() >= 20 && sub.split('.').any(|l| l.len() >= 20) {
            let labels: Vec<&str> = sub.split('.').collect();
            chunk_number(&labels, domain)
        } else {
            None
        };
        let domain_hash = key_hash(domain);
        let max_unique = self.config.max_unique_per_window;
        let mut entropy: Option<(f64, usize)> = None;
        for (grid, start) in starts {
            let key = WindowKey::new(h, domain_hash, false, grid, start);
            let w = self.count_in(key, event, &mut shared, out);
            if w.uniques.len() < max_unique {
                if w.uniques.insert(sub_hash) {
                    // The subdomain without its dots, measured once for both grids' windows.
                    let (bits, len) = *entropy.get_or_insert_with(|| entropy_bits_skipping(sub, b'.'));
                    w.sub_len_sum += len as u64;
                    w.entropy_sum += bits;
                    w.info_bits += bits * len as f64;
                }
            } else if !w.uniques.contains(sub_hash) {
                w.overflow = true;
            }
            if let Some((n, parent)) = &chunk {
                let set = w.chunks.get_or_insert_default().entry(parent.clone()).or_default();
                if set.len() < 256 {
                    set.insert(*n);
                }
            }
        }
    }

    fn window_starts(&self, minute: i64) -> [(u8, i64); 2] {
        let w = self.config.window_minutes;
        let half = w / 2;
        [(0, minute.div_euclid(w) * w), (1, (minute - half).div_euclid(w) * w + half)]
    }

    /// Counts `event` in the window of `key` (made when new) and returns the window. `shared`
    /// holds the engine's `Arc` of the event, or the one copy made for the first window that
    /// keeps it as its earliest.
    fn count_in(&mut self, key: WindowKey, event: &Event, shared: &mut Option<std::sync::Arc<Event>>, out: &mut dyn FindingSink) -> &mut Window {
        let w = self.window(key, out);
        w.queries += 1;
        crate::stats::keep_earliest_timed(&mut w.first, &mut w.first_time, event, || {
            shared.get_or_insert_with(|| std::sync::Arc::new(event.clone())).clone()
        });
        w.last_time = w.last_time.max(event.time);
        w
    }

    fn window(&mut self, key: WindowKey, out: &mut dyn FindingSink) -> &mut Window {
        if !self.windows.contains_key(&key) {
            self.created_since_sweep += 1;
            // Every window is looked at once per sweep: sweeping after as many new windows as
            // there are (at least `SWEEP_EVERY`) keeps that to about one look per new window.
            // Only a table a quarter full is swept: which windows a sweep finds finished
            // depends on the order events arrive in (parser threads, files read side by side),
            // so smaller inputs are judged whole, the same whatever the order.
            if self.created_since_sweep >= SWEEP_EVERY.max(self.windows.len()) && self.windows.len() >= self.config.max_windows / 4 {
                self.created_since_sweep = 0;
                self.sweep(out);
            }
            if self.windows.len() >= self.config.max_windows {
                self.evict(out);
            }
            self.windows.insert(key, Window::default());
        }
        self.windows.get_mut(&key).expect("the window was just found or made")
    }

    /// Judges and drops windows that ended more than two windows before the latest event of
    /// their host: their events are in (unless some arrive very late, which then start a new,
    /// partial window with the same finding id, merged by the engine).
    fn sweep(&mut self, out: &mut dyn FindingSink) {
        let w = self.config.window_minutes;
        let host_minute = &self.host_minute;
        let done: Vec<WindowKey> = self
            .windows
            .keys()
            .filter(|k| host_minute.get(&k.host).is_some_and(|&latest| k.start_min() + 3 * w < latest))
            .copied()
            .collect();
        self.take_and_judge(done, out);
    }

    /// Judges and drops the older half of the windows (memory cap reached).
    fn evict(&mut self, out: &mut dyn FindingSink) {
        let mut starts: Vec<i64> = self.windows.keys().map(|k| k.start_min()).collect();
        if starts.is_empty() {
            return;
        }
        let mid = starts.len() / 2;
        let (_, &mut median, _) = starts.select_nth_unstable(mid);
        // At least one window goes, even when every window starts at the median.
        let mut victims: Vec<WindowKey> = self.windows.keys().filter(|k| k.start_min() < median).copied().collect();
        if victims.is_empty() {
            victims = self.windows.keys().filter(|k| k.start_min() <= median).copied().collect();
        }
        self.take_and_judge(victims, out);
    }

    /// Takes these windows out of the table and judges them (`report` orders the verdicts,
    /// not the table).
    fn take_and_judge(&mut self, keys: Vec<WindowKey>, out: &mut dyn FindingSink) {
        if keys.is_empty() {
            return;
        }
        let mut verdicts = Vec::new();
        for key in keys {
            if let Some(win) = self.windows.remove(&key) {
                verdicts.extend(self.judge(key, win));
            }
        }
        self.report(verdicts, out);
    }

    fn judge(&self, key: WindowKey, w: Window) -> Vec<Verdict> {
        let Some(first) = w.first else { return Vec::new() };
        let last_time = w.last_time;
        let mut verdicts = Vec::new();
        // The window's names are its first event's.
        let named = |subject: String| NamedKey {
            host: host(&first).to_owned(),
            subject,
            grid: key.grid(),
            start_min: key.start_min(),
        };
        if key.txt() {
            let rate = w.txt_null as f64 / w.queries.max(1) as f64;
            if w.txt_null >= self.config.min_txt_null && rate >= 0.5 {
                let program = image(&first);
                let shown = if program.is_empty() { "an unknown process" } else { &program };
                verdicts.push(Verdict {
                    explanation: format!(
                        "{shown} got {} TXT/NULL answers in {} minutes ({:.0} % of its lookups): tunnels and stagers carry their downstream data in these records",
                        w.txt_null,
                        self.config.window_minutes,
                        rate * 100.0
                    ),
                    severity: Severity::Medium,
                    score: 60,
                    kind: "txt_null_rate",
                    details: vec![("txt_null_answers", w.txt_null.into()), ("lookups", w.queries.into())],
                    count: w.txt_null,
                    key: named(format!("txt:{program}")),
                    first,
                    last_time,
                });
            }
            return verdicts;
        }
        let unique = w.uniques.len();
        let Some(domain) = first.dns().and_then(|q| q.query.registered_domain()) else {
            return verdicts;
        };
        // Made only for a window that gives a verdict (most give none).
        let key = || named(domain.to_owned());
        if unique > 0 {
            let mean_len = w.sub_len_sum as f64 / unique as f64;
            let mean_entropy = w.entropy_sum / unique as f64;
            let info_bytes = w.info_bits / 8.0;
            let encoded = mean_len >= 20.0 && mean_entropy >= 3.5;
            let ordinary = mean_len < 12.0 || mean_entropy < 3.0;
            let [b0, b1, b2, b3] = self.config.bands;
            let mut band = if unique >= b3 {
                4
            } else if unique >= b2 {
                3
            } else if unique >= b1 {
                2
            } else if unique >= b0 {
                1
            } else {
                0
            };
            if ordinary && band > 0 {
                band -= 1;
                if band == 0 {
                    band = -1; // info
                }
            }
            if encoded && info_bytes >= self.config.min_information_bytes && band < 2 {
                band = 2;
            }
            let (severity, score) = match band {
                4 => (Severity::High, 90),
                3 => (Severity::High, 80),
                2 => (Severity::Medium, 60),
                1 => (Severity::Low, 40),
                -1 => (Severity::Info, 15),
                _ => (Severity::Info, 0),
            };
            if score > 0 {
                let more = if w.overflow { "or more " } else { "" };
                verdicts.push(Verdict {
                    explanation: format!(
                        "{unique} {more}unique subdomains of {domain} were looked up in {} minutes (mean length {mean_len:.0}, {mean_entropy:.1} bits per character, about {info_bytes:.0} bytes of information){}",
                        self.config.window_minutes,
                        if encoded { ": data encoded into names, the signature of a DNS tunnel or exfiltration" } else { "" }
                    ),
                    severity,
                    score,
                    kind: "unique_subdomains",
                    details: vec![
                        ("unique_subdomains", unique.into()),
                        ("unique_capped", w.overflow.into()),
                        ("mean_subdomain_length", ((mean_len * 10.0).round() / 10.0).into()),
                        ("mean_entropy_bits_per_char", ((mean_entropy * 100.0).round() / 100.0).into()),
                        ("information_bytes", info_bytes.round().into()),
                        ("lookups", w.queries.into()),
                    ],
                    count: w.queries,
                    key: key(),
                    first: first.clone(),
                    last_time,
                });
            }
        }
        for (parent, numbers) in w.chunks.iter().flat_map(|chunks| chunks.iter()) {
            let n = numbers.len();
            let (Some(&lo), Some(&hi)) = (numbers.first(), numbers.last()) else { continue };
            if n >= self.config.min_chunks.max(2) && ((hi - lo) as usize + 1) <= 2 * n {
                let k = named(format!("{domain}|chunks|{parent}"));
                verdicts.push(Verdict {
                    explanation: format!(
                        "names under {parent} carry long labels numbered {lo}..{hi} ({n} chunks) in {} minutes: data split into numbered pieces, as DNS exfiltration tools do",
                        self.config.window_minutes
                    ),
                    severity: Severity::Medium,
                    score: 65,
                    kind: "numbered_chunks",
                    details: vec![
                        ("chunks", n.into()),
                        ("first_chunk", lo.into()),
                        ("last_chunk", hi.into()),
                        ("parent", parent.clone().into()),
                    ],
                    count: n as u64,
                    key: k,
                    first: first.clone(),
                    last_time,
                });
            }
        }
        verdicts
    }

    /// Merges verdicts of overlapping windows (two grids) and turns them into findings.
    fn report(&self, mut verdicts: Vec<Verdict>, out: &mut dyn FindingSink) {
        // Strongest first, so the window that holds most of a burst speaks for it.
        verdicts.sort_by(|a, b| (b.score, b.count, &a.key).cmp(&(a.score, a.count, &b.key)));
        let w = self.config.window_minutes;
        let mut taken: Vec<(String, String, &'static str, i64)> = Vec::new();
        for v in verdicts {
            if taken
                .iter()
                .any(|(h, s, k, start)| *h == v.key.host && *s == v.key.subject && *k == v.kind && (start - v.key.start_min).abs() < w)
            {
                continue;
            }
            taken.push((v.key.host.clone(), v.key.subject.clone(), v.kind, v.key.start_min));
            let subject = v.key.subject.split('|').next().unwrap_or("").to_owned();
            let start = (v.key.start_min * 60_000).to_string();
            let mut f = Finding::from_event(Self::NAME, v.severity, v.score, &v.first, &[v.kind, &subject, &start], v.explanation)
                .with_attack(&["T1071.004", "T1048.003", "T1572"])
                .with_detail("kind", v.kind)
                .with_detail("window_start", Timestamp(v.key.start_min * 60_000).to_string())
                .with_detail("window_minutes", w);
            if !subject.starts_with("txt:") {
                f = f.with_detail("domain", subject.clone());
                f.registered_domain = Some(subject);
            }
            for (k, val) in v.details {
                f.details.insert(k.to_owned(), val);
            }
            f.count = v.count;
            f.time_last = v.last_time.max(f.time);
            out.push(f);
        }
    }
}

/// The numeric label next to a long label, and the name after it (`<data>.17.t.example.com` →
/// (17, `t.example.com`)).
fn chunk_number(sub_labels: &[&str], domain: &str) -> Option<(u32, String)> {
    for (i, label) in sub_labels.iter().enumerate() {
        if label.is_empty() || label.len() > 6 || !label.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let next_to_long = [i.checked_sub(1), Some(i + 1)]
            .into_iter()
            .flatten()
            .filter_map(|j| sub_labels.get(j))
            .any(|l| l.len() >= 20);
        if next_to_long {
            let n: u32 = label.parse().ok()?;
            let rest: Vec<&str> = sub_labels[i + 1..].iter().copied().filter(|l| l.len() < 20).collect();
            let parent = if rest.is_empty() { domain.to_owned() } else { format!("{}.{domain}", rest.join(".")) };
            return Some((n, parent));
        }
    }
    None
}

impl Detector for TunnelVolume {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<Finding>) {
        self.observe_with(event, None, out);
    }

    fn observe_shared(&mut self, event: &std::sync::Arc<Event>, out: &mut Vec<Finding>) {
        self.observe_with(event, Some(event), out);
    }

    fn finish(&mut self, out: &mut dyn FindingSink) {
        // `report` orders the verdicts.
        let windows: Vec<(WindowKey, Window)> = self.windows.drain().collect();
        let mut verdicts = Vec::new();
        for (key, w) in windows {
            verdicts.extend(self.judge(key, w));
        }
        self.report(verdicts, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{run, Proc, Rng, T0};

    #[track_caller]
    fn check(config: TunnelVolumeConfig, events: &[Event], expected: &[(&str, Severity)]) -> Vec<Finding> {
        let mut events = events.to_vec();
        Rng::new(3).shuffle(&mut events);
        let findings = run(&mut TunnelVolume::new(config), &events);
        let mut got: Vec<(String, Severity)> = findings
            .iter()
            .filter(|f| f.severity > Severity::Info)
            .map(|f| (f.details["kind"].as_str().unwrap_or("").to_owned(), f.severity))
            .collect();
        got.sort();
        let want: Vec<(String, Severity)> = expected.iter().map(|(k, s)| ((*k).to_owned(), *s)).collect();
        assert_eq!(got, want, "{:#?}", findings.iter().map(|f| &f.explanation).collect::<Vec<_>>());
        findings
    }

    #[test]
    fn five_hundred_hex_subdomains_in_ten_minutes_is_a_tunnel() {
        let mut rng = Rng::new(1);
        let tool = Proc::new("H", "C:\\Users\\u\\Downloads\\tool.exe", 1);
        // Starting at minute 55: the burst straddles an hour boundary of one grid.
        let events: Vec<Event> = (0..500)
            .map(|i| tool.dns(T0 + 55 * 60_000 + i * 1200, &format!("{}.t.tunnel-example.net", rng.hex(32)), "", 0))
            .collect();
        let findings = check(TunnelVolumeConfig::default(), &events, &[("unique_subdomains", Severity::Medium)]);
        assert_eq!(findings[0].details["unique_subdomains"], 500);
        assert_eq!(findings[0].registered_domain.as_deref(), Some("tunnel-example.net"));
        // More of the same reaches the top band.
        let events: Vec<Event> = (0..1100)
            .map(|i| tool.dns(T0 + i * 1000, &format!("{}.t.tunnel-example.net", rng.hex(40)), "", 0))
            .collect();
        let findings = check(TunnelVolumeConfig::default(), &events, &[("unique_subdomains", Severity::High)]);
        assert_eq!(findings[0].score, 90);
    }

    #[test]
    fn a_cdns_busy_ordinary_names_are_not_a_tunnel() {
        let mut rng = Rng::new(2);
        let browser = Proc::new("H", "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", 1);
        let names = ["www", "img", "static", "api", "video", "fonts", "a248.e", "edge-1", "edge-2", "login", "cdn", "assets"];
        let mut events = Vec::new();
        for i in 0..3000 {
            let name = format!("{}.example-cdn.com", names[(rng.next_u64() % names.len() as u64) as usize]);
            events.push(browser.dns(T0 + i * 200, &name, "::ffff:93.184.216.34;", 0));
        }
        // Even 150 distinct ordinary names (thumbnails, regions) stay below low.
        for i in 0..150 {
            events.push(browser.dns(T0 + i * 1000, &format!("img{i}.example-cdn.com"), "::ffff:93.184.216.34;", 0));
        }
        check(TunnelVolumeConfig::default(), &events, &[]);
    }

    #[test]
    fn a_window_key_gives_back_its_parts() {
        for start in [-1_000_000, -61, -1, 0, 1, 59, 29_000_000, i64::from(i32::MAX) * 60] {
            for (txt, grid) in [(false, 0), (false, 1), (true, 0), (true, 1)] {
                let key = WindowKey::new(7, 9, txt, grid, start);
                assert_eq!((key.start_min(), key.txt(), key.grid()), (start, txt, grid), "{start} {txt} {grid}");
            }
        }
        assert_eq!(std::mem::size_of::<WindowKey>(), 24);
    }

    #[test]
    fn incident_numbered_exfiltration_chunks() {
        let mut rng = Rng::new(4);
        let ps = Proc::new("WS-ACCT-07", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", 9544);
        let alphabet = b"abcdefghijklmnopqrstuvwxyz234567";
        let events: Vec<Event> = (0..5)
            .map(|i| {
                let label: String = (0..50).map(|_| alphabet[(rng.next_u64() % 32) as usize] as char).collect();
                ps.dns(T0 + i * 4000, &format!("{label}.{i}.t.exfil-sync.net"), "type:  16 ", 0)
            })
            .collect();
        let findings = check(TunnelVolumeConfig::default(), &events, &[("numbered_chunks", Severity::Medium)]);
        assert_eq!(findings[0].details["parent"], "t.exfil-sync.net");
        // Ordinary numbered hosts (no long labels next to the numbers) are not chunks.
        let web = Proc::new("H", "C:\\x\\app.exe", 2);
        let events: Vec<Event> = (0..10)
            .map(|i| web.dns(T0 + i * 1000, &format!("node.{i}.example-cluster.com"), "::ffff:93.184.216.34;", 0))
            .collect();
        check(TunnelVolumeConfig::default(), &events, &[]);
    }

    #[test]
    fn txt_null_rate_per_program() {
        let p = Proc::new("H", "C:\\x\\stager.exe", 1);
        let events: Vec<Event> = (0..30).map(|i| p.dns(T0 + i * 10_000, &format!("s{i}.stage.example.org"), "type:  16 ", 0)).collect();
        check(TunnelVolumeConfig::default(), &events, &[("txt_null_rate", Severity::Medium)]);
        let few: Vec<Event> = events.into_iter().take(5).collect();
        check(TunnelVolumeConfig::default(), &few, &[]);
    }

    #[test]
    fn memory_cap_judges_evicted_windows() {
        let mut rng = Rng::new(5);
        let tool = Proc::new("H", "C:\\x\\tool.exe", 1);
        let config = TunnelVolumeConfig {
            max_windows: 8,
            ..Default::default()
        };
        let mut events: Vec<Event> = (0..600).map(|i| tool.dns(T0 + i * 500, &format!("{}.t.tunnel-example.net", rng.hex(32)), "", 0)).collect();
        // Many other domains later force evictions.
        events.extend((0..50).map(|i| tool.dns(T0 + 10 * 3_600_000 + i * 3_600_000, &format!("www.site{i}.example"), "", 0)));
        let findings = run(&mut TunnelVolume::new(config), &events);
        assert!(findings.iter().any(|f| f.details["kind"] == "unique_subdomains" && f.severity == Severity::Medium));
    }
}

//! Enrichment from data outside the events, all opt-in: GeoIP/ASN/anonymiser databases
//! (`--geoip DIR`), newly-registered-domain feeds (`--nrd FILE`), popularity rank lists
//! (`--rank FILE`) and RDAP registration dates (`--rdap`, network, budgeted, cached in the state
//! store). Also `[enrich]` in the config file.
//!
//! This module opens the files and talks to the network; what it loads is handed to the
//! detectors as values (`DetectorInputs`), and it adds the facts to findings' `details` and to
//! `dnshunt events` lines (`enrichment`).

use std::collections::HashSet;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Args;
use dnshunt_core::{DnsName, Event, EventKind, Finding, Timestamp};
use dnshunt_enrich::age::{AgeSource, AgeTable, DomainAge};
use dnshunt_enrich::geo::{DbBytes, GeoDb, GeoLookup, GeoStats, DEFAULT_CACHE_SIZE};
use dnshunt_enrich::rank::RankTable;
use dnshunt_enrich::rdap;
use dnshunt_state::rdap_cache::RdapAnswer;
use dnshunt_state::StateStore;
use serde::{Deserialize, Serialize};

/// The enrichment flags, shared by `hunt`, `events` and `score`.
#[derive(Clone, Debug, Default, Args)]
pub struct EnrichArgs {
    /// A folder of MaxMind DB files (GeoLite2/GeoIP2 City, Country, ASN, ISP, Anonymous-IP
    /// `.mmdb`), or one such file: country, city, ASN and anonymiser flags of every resolved and
    /// connected address.
    #[arg(long, value_name = "DIR")]
    pub geoip: Option<PathBuf>,

    /// A newly-registered-domain feed: one domain a line with the date in the file name
    /// (`nrd-2024-03-11.txt`), or `domain,date` / `date domain` lines. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub nrd: Vec<PathBuf>,

    /// A popularity list (`rank,domain` CSV as Tranco, Umbrella, Alexa publish it; Majestic's
    /// CSV with its header). Repeatable; the best rank counts.
    #[arg(long, value_name = "FILE")]
    pub rank: Vec<PathBuf>,

    /// Ask RDAP for the registration date of registrable domains not in the NRD feeds (network;
    /// answers are cached in the state store). Off by default.
    #[arg(long)]
    pub rdap: bool,

    /// At most this many RDAP requests per run (default 100).
    #[arg(long, value_name = "N")]
    pub rdap_budget: Option<u32>,
}

/// `[enrich]` in the config file. Flags add to (lists) or override (single values) it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichConfig {
    /// Folder (or file) of MaxMind DB files.
    pub geoip: Option<PathBuf>,
    /// Check every node and record of each database when it is opened (refuses corrupt files
    /// up front; takes about a second on a full City database).
    pub geoip_verify: bool,
    /// Addresses kept in the lookup cache.
    pub geoip_cache: usize,
    /// NRD feeds.
    pub nrd: Vec<PathBuf>,
    /// Popularity lists.
    pub rank: Vec<PathBuf>,
    /// RDAP look-ups on.
    pub rdap: bool,
    /// RDAP server: `{domain}` is replaced by the registrable domain.
    pub rdap_url: String,
    /// RDAP requests per run at most.
    pub rdap_budget: u32,
    /// Timeout of one RDAP request, seconds.
    pub rdap_timeout_secs: u64,
    /// Longest `Retry-After` (seconds) to wait for after a 429; longer stops RDAP for the run.
    pub rdap_max_wait_secs: u64,
    /// Domains ranked at or above this in a loaded popularity list are not asked about (they
    /// are old); 0 asks about every domain.
    pub rdap_skip_rank: u32,
    /// Days a cached registration date stays valid.
    pub rdap_cache_days: u32,
    /// Days a cached "not found" or "no date" answer stays valid.
    pub rdap_missing_cache_days: u32,
    /// Where the RDAP cache is (an SQLite state store); default: the run's state store, else
    /// the default state location.
    pub rdap_cache: Option<PathBuf>,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        EnrichConfig {
            geoip: None,
            geoip_verify: true,
            geoip_cache: DEFAULT_CACHE_SIZE,
            nrd: Vec::new(),
            rank: Vec::new(),
            rdap: false,
            rdap_url: rdap::DEFAULT_URL_TEMPLATE.to_owned(),
            rdap_budget: 100,
            rdap_timeout_secs: 10,
            rdap_max_wait_secs: 10,
            rdap_skip_rank: 100_000,
            rdap_cache_days: 30,
            rdap_missing_cache_days: 1,
            rdap_cache: None,
        }
    }
}

/// What a run loaded, and the RDAP client when asked for.
#[derive(Debug, Default)]
pub struct Enrichment {
    pub geo: Option<Arc<GeoLookup>>,
    pub ages: Option<Arc<AgeTable>>,
    pub rank: Option<Arc<RankTable>>,
    rdap: Option<RdapClient>,
}

fn file_label(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Opens every MaxMind DB file in `path` (a folder, or one file).
pub fn open_geoip(path: &Path, verify: bool, cache_size: usize, quiet: bool) -> Result<GeoLookup> {
    let meta = std::fs::metadata(path).with_context(|| format!("GeoIP databases {}", path.display()))?;
    let files: Vec<PathBuf> = if meta.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading GeoIP folder {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("mmdb")))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    let mut dbs = Vec::new();
    let mut problems = Vec::new();
    for file in &files {
        let opened = std::fs::File::open(file).and_then(|f| {
            // SAFETY: the map is read-only and lives as long as the reader; MaxMind databases
            // are replaced by renaming a new file into place (geoipupdate does so), which leaves
            // a mapped old file intact. A file truncated in place while a hunt runs could fault;
            // that is the documented price of mapping instead of reading gigabytes into memory.
            #[allow(unsafe_code)]
            unsafe {
                maxminddb::Mmap::map(&f)
            }
        });
        let result = match opened {
            Ok(map) => GeoDb::new(&file_label(file), DbBytes::Mapped(map), verify).map_err(anyhow::Error::from),
            Err(e) => Err(anyhow::Error::from(e).context(format!("opening {}", file.display()))),
        };
        match result {
            Ok(db) => {
                if !quiet {
                    eprintln!("dnshunt: GeoIP {}: {} ({:?})", file.display(), db.database_type(), db.kind());
                }
                dbs.push(db);
            }
            // The library errors say what they wrap in their own message.
            Err(e) => problems.push(e.to_string()),
        }
    }
    if dbs.is_empty() {
        if files.is_empty() {
            bail!("no .mmdb files in GeoIP folder {}", path.display());
        }
        bail!("no usable GeoIP database in {}: {}", path.display(), problems.join("; "));
    }
    // Some databases open: the broken ones are warned about, not fatal.
    for p in &problems {
        eprintln!("dnshunt: warning: GeoIP database skipped: {p}");
    }
    Ok(GeoLookup::new(dbs, cache_size))
}

impl Enrichment {
    /// Loads what the flags and the config ask for. `state_path` is the run's state store, if
    /// any (the RDAP cache lives there).
    pub fn load(args: &EnrichArgs, config: &EnrichConfig, state_path: Option<&Path>, quiet: bool) -> Result<Enrichment> {
        let mut e = Enrichment::default();
        if let Some(dir) = args.geoip.as_ref().or(config.geoip.as_ref()) {
            e.geo = Some(Arc::new(open_geoip(dir, config.geoip_verify, config.geoip_cache.max(2), quiet)?));
        }
        let rank_files: Vec<&PathBuf> = config.rank.iter().chain(&args.rank).collect();
        if !rank_files.is_empty() {
            let mut table = RankTable::new();
            for path in rank_files {
                let text = std::fs::read(path).with_context(|| format!("reading rank list {}", path.display()))?;
                let parse = table.add_csv(&String::from_utf8_lossy(&text));
                if !quiet {
                    eprintln!("dnshunt: rank list {}: {} entries", path.display(), parse.entries);
                    report_rejected(path, parse.rejected, &parse.rejected_examples);
                }
                if parse.entries == 0 {
                    bail!("rank list {} has no `rank,domain` lines", path.display());
                }
            }
            e.rank = Some(Arc::new(table));
        }
        let nrd_files: Vec<&PathBuf> = config.nrd.iter().chain(&args.nrd).collect();
        let rdap_on = args.rdap || config.rdap;
        if !nrd_files.is_empty() || rdap_on {
            let table = AgeTable::new();
            for path in nrd_files {
                let text = std::fs::read(path).with_context(|| format!("reading NRD feed {}", path.display()))?;
                let parse = table.add_nrd(&file_label(path), &String::from_utf8_lossy(&text));
                if !quiet {
                    eprintln!("dnshunt: NRD feed {}: {} domains", path.display(), parse.domains);
                    report_rejected(path, parse.rejected, &parse.rejected_examples);
                }
                if parse.domains == 0 && parse.rejected > 0 && parse.file_date.is_none() {
                    bail!(
                        "NRD feed {}: no dates (put the date in the file name, e.g. nrd-2024-03-11.txt, or on each line)",
                        path.display()
                    );
                }
            }
            e.ages = Some(Arc::new(table));
        }
        if rdap_on {
            let cache_path = match config.rdap_cache.clone().or_else(|| state_path.map(Path::to_owned)) {
                Some(p) => Some(p),
                None => dnshunt_state::default_path(),
            };
            let cache = match &cache_path {
                Some(p) => match StateStore::open(p) {
                    Ok(store) => Some(store),
                    Err(err) => {
                        eprintln!("dnshunt: warning: RDAP answers are not cached: {err}");
                        None
                    }
                },
                None => None,
            };
            let mut rdap_config = config.clone();
            if let Some(n) = args.rdap_budget {
                rdap_config.rdap_budget = n;
            }
            e.rdap = Some(RdapClient::new(&rdap_config, cache, e.ages.clone().expect("ages exist with rdap"), e.rank.clone()));
        }
        Ok(e)
    }

    pub fn is_empty(&self) -> bool {
        self.geo.is_none() && self.ages.is_none() && self.rank.is_none()
    }

    /// Called for every event before the detectors see it: asks RDAP about a domain whose age is
    /// unknown (within the budget), so `young_domain` sees the answer.
    pub fn before_event(&mut self, event: &Event) {
        if let (Some(client), Some(q)) = (self.rdap.as_mut(), event.dns()) {
            if let Some(domain) = q.query.registered_domain() {
                client.consider(domain);
            }
        }
    }

    /// The enrichment of a name: rank and age (at `at`).
    fn name_facts(&self, name: &DnsName, at: Option<Timestamp>, map: &mut serde_json::Map<String, serde_json::Value>) {
        if let Some(rank) = &self.rank {
            map.insert("rank".to_owned(), rank.rank_of(name).into());
        }
        if let Some(age) = self.ages.as_ref().and_then(|a| a.age_of(name)) {
            map.insert("registered".to_owned(), age.registered.to_string().into());
            map.insert("age_source".to_owned(), age.source.as_str().into());
            if let Some(at) = at {
                map.insert("age_days".to_owned(), age.age_days(at).into());
            }
        }
    }

    fn geo_facts(&self, ips: impl Iterator<Item = IpAddr>) -> Option<serde_json::Value> {
        let geo = self.geo.as_ref()?;
        let list: Vec<serde_json::Value> = ips
            .filter_map(|ip| {
                let info = geo.lookup(ip);
                (!info.is_empty()).then(|| info.to_json(ip))
            })
            .collect();
        (!list.is_empty()).then_some(serde_json::Value::Array(list))
    }

    /// What the data says about an event: rank and age of its name, geo of its addresses.
    pub fn event_facts(&self, event: &Event) -> serde_json::Map<String, serde_json::Value> {
        let mut map = serde_json::Map::new();
        match &event.kind {
            EventKind::DnsQuery(q) => {
                self.name_facts(&q.query, Some(event.time), &mut map);
                if let Some(geo) = self.geo_facts(q.addresses()) {
                    map.insert("geo".to_owned(), geo);
                }
            }
            EventKind::NetworkConnect(n) => {
                if let Some(geo) = self.geo_facts(n.destination_ip.into_iter()) {
                    map.insert("geo".to_owned(), geo);
                }
            }
            _ => {}
        }
        map
    }

    /// Adds rank, age and geo of the finding's name and first evidence event to its `details`
    /// (keys a detector set itself stay).
    pub fn annotate(&self, findings: &mut [Finding]) {
        if self.is_empty() {
            return;
        }
        for f in findings {
            let facts = match f.evidence.first() {
                Some(event) => self.event_facts(event),
                None => serde_json::Map::new(),
            };
            for (k, v) in facts {
                f.details.entry(k).or_insert(v);
            }
        }
    }

    /// Writes one event as a JSON line with an `enrichment` object (when there is any).
    pub fn write_event<W: Write>(&self, out: &mut W, event: &Event) -> std::io::Result<()> {
        let facts = self.event_facts(event);
        if facts.is_empty() {
            return dnshunt_sink::write_event(out, event);
        }
        let mut line = serde_json::to_vec(event)?;
        if line.last() == Some(&b'}') {
            line.pop();
            line.extend_from_slice(b",\"enrichment\":");
            serde_json::to_writer(&mut line, &facts)?;
            line.push(b'}');
        }
        line.push(b'\n');
        out.write_all(&line)
    }

    /// Facts about a bare name or address, for `dnshunt score`.
    pub fn score_facts(&self, raw: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
        if self.is_empty() {
            return None;
        }
        let mut map = serde_json::Map::new();
        match raw.trim().parse::<IpAddr>() {
            Ok(ip) => {
                if let Some(geo) = self.geo_facts(std::iter::once(ip)) {
                    map.insert("geo".to_owned(), geo);
                }
            }
            Err(_) => self.name_facts(&DnsName::new(raw), None, &mut map),
        }
        Some(map)
    }

    /// Counts for the run summary (stderr).
    pub fn report(&self) -> EnrichReport {
        EnrichReport {
            geo: self.geo.as_ref().map(|g| g.stats()),
            rdap: self.rdap.as_ref().map(|r| r.stats.clone()),
        }
    }
}

fn report_rejected(path: &Path, rejected: usize, examples: &[(u64, String)]) {
    if rejected > 0 {
        eprintln!("dnshunt: {}: {rejected} lines not understood, e.g.:", path.display());
        for (line, text) in examples {
            eprintln!("    line {line}: {text}");
        }
    }
}

/// What enrichment did in a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EnrichReport {
    pub geo: Option<GeoStats>,
    pub rdap: Option<RdapStats>,
}

impl EnrichReport {
    pub fn print(&self) {
        if let Some(g) = &self.geo {
            eprintln!("dnshunt: GeoIP: {} lookups, {} from the cache, {} unreadable records", g.lookups, g.cache_hits, g.errors);
            if let Some(e) = &g.first_error {
                eprintln!("    first: {e}");
            }
        }
        if let Some(r) = &self.rdap {
            eprintln!(
                "dnshunt: RDAP: {} requests ({} dated, {} not found, {} without a date, {} failed, {} rate-limited), {} from the cache, {} over budget",
                r.requests, r.found, r.not_found, r.no_date, r.errors, r.rate_limited, r.cached, r.over_budget
            );
            if let Some(e) = &r.first_error {
                eprintln!("    first problem: {e}");
            }
        }
    }
}

/// RDAP counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RdapStats {
    pub requests: u64,
    pub found: u64,
    pub not_found: u64,
    pub no_date: u64,
    pub errors: u64,
    pub rate_limited: u64,
    pub cached: u64,
    pub over_budget: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// Why RDAP stopped before the end of the run, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// Network failures in a row after which RDAP is given up for the run (the server is down or
/// unreachable; waiting out a timeout per domain would stall the hunt).
const MAX_FAILURES_IN_A_ROW: u32 = 3;

/// The RDAP client: asks about each registrable domain at most once per run, within the budget.
pub struct RdapClient {
    agent: ureq::Agent,
    template: String,
    budget: u32,
    max_wait: Duration,
    skip_rank: u32,
    found_ttl_ms: i64,
    missing_ttl_ms: i64,
    cache: Option<StateStore>,
    ages: Arc<AgeTable>,
    rank: Option<Arc<RankTable>>,
    asked: HashSet<String>,
    failures_in_a_row: u32,
    pub stats: RdapStats,
}

impl std::fmt::Debug for RdapClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdapClient")
            .field("template", &self.template)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// One reply, reduced to what matters.
enum Reply {
    Answer(RdapAnswer),
    RateLimited(Option<u64>),
    Failed(String),
}

impl RdapClient {
    pub fn new(config: &EnrichConfig, cache: Option<StateStore>, ages: Arc<AgeTable>, rank: Option<Arc<RankTable>>) -> RdapClient {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(config.rdap_timeout_secs.max(1))))
            .user_agent(concat!("dnshunt/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        RdapClient {
            agent,
            template: config.rdap_url.clone(),
            budget: config.rdap_budget,
            max_wait: Duration::from_secs(config.rdap_max_wait_secs),
            skip_rank: config.rdap_skip_rank,
            found_ttl_ms: config.rdap_cache_days as i64 * 86_400_000,
            missing_ttl_ms: config.rdap_missing_cache_days as i64 * 86_400_000,
            cache,
            ages,
            rank,
            asked: HashSet::new(),
            failures_in_a_row: 0,
            stats: RdapStats::default(),
        }
    }

    /// Looks `domain` up unless its age is known, it was asked about, it is popular, or the
    /// budget is spent.
    pub fn consider(&mut self, domain: &str) {
        if self.stats.stopped.is_some() || self.ages.get(domain).is_some() || self.asked.contains(domain) {
            return;
        }
        if self.skip_rank > 0 && self.rank.as_ref().and_then(|r| r.rank(domain)).is_some_and(|r| r <= self.skip_rank) {
            return;
        }
        self.asked.insert(domain.to_owned());
        let now = now_ms();
        if let Some(cache) = &self.cache {
            match cache.rdap_get(domain, now, self.found_ttl_ms, self.missing_ttl_ms) {
                Ok(Some(answer)) => {
                    self.stats.cached += 1;
                    self.learn(domain, answer);
                    return;
                }
                Ok(None) => {}
                Err(e) => {
                    self.stats.first_error.get_or_insert_with(|| format!("cache: {e}"));
                }
            }
        }
        if self.stats.requests >= self.budget as u64 {
            self.stats.over_budget += 1;
            return;
        }
        let url = rdap::lookup_url(&self.template, domain);
        let mut reply = self.fetch(&url);
        if let Reply::RateLimited(after) = reply {
            self.stats.rate_limited += 1;
            match after.map(Duration::from_secs) {
                Some(wait) if wait <= self.max_wait && self.stats.requests < self.budget as u64 => {
                    std::thread::sleep(wait);
                    reply = self.fetch(&url);
                }
                _ => {}
            }
        }
        match reply {
            Reply::Answer(answer) => {
                self.failures_in_a_row = 0;
                match answer {
                    RdapAnswer::Registered(_) => self.stats.found += 1,
                    RdapAnswer::NotFound => self.stats.not_found += 1,
                    RdapAnswer::NoDate => self.stats.no_date += 1,
                }
                if let Some(cache) = &self.cache {
                    if let Err(e) = cache.rdap_put(domain, answer, now) {
                        self.stats.first_error.get_or_insert_with(|| format!("cache: {e}"));
                    }
                }
                self.learn(domain, answer);
            }
            Reply::RateLimited(after) => {
                self.stats.rate_limited += 1;
                let why = format!("rate-limited by the RDAP server (Retry-After: {})", after.map_or("none".to_owned(), |s| format!("{s} s")));
                self.stats.first_error.get_or_insert_with(|| format!("{domain}: {why}"));
                self.stats.stopped = Some(why);
            }
            Reply::Failed(e) => {
                self.stats.errors += 1;
                self.failures_in_a_row += 1;
                self.stats.first_error.get_or_insert_with(|| format!("{domain}: {e}"));
                if self.failures_in_a_row >= MAX_FAILURES_IN_A_ROW {
                    self.stats.stopped = Some(format!("{MAX_FAILURES_IN_A_ROW} failures in a row"));
                }
            }
        }
    }

    fn learn(&self, domain: &str, answer: RdapAnswer) {
        if let RdapAnswer::Registered(ms) = answer {
            self.ages.insert(
                domain,
                DomainAge {
                    registered: Timestamp(ms),
                    source: AgeSource::Rdap,
                },
            );
        }
    }

    fn fetch(&mut self, url: &str) -> Reply {
        self.stats.requests += 1;
        let started = Instant::now();
        let response = self.agent.get(url).header("Accept", "application/rdap+json, application/json").call();
        let mut response = match response {
            Ok(r) => r,
            Err(e) => return Reply::Failed(format!("{url}: {e} after {:.1} s", started.elapsed().as_secs_f64())),
        };
        let status = response.status().as_u16();
        match status {
            200 => {}
            404 => return Reply::Answer(RdapAnswer::NotFound),
            429 => {
                let after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
                return Reply::RateLimited(after);
            }
            _ => return Reply::Failed(format!("{url}: HTTP {status}")),
        }
        let body = match response.body_mut().with_config().limit(1 << 20).read_to_vec() {
            Ok(b) => b,
            Err(e) => return Reply::Failed(format!("{url}: reading the answer: {e}")),
        };
        match rdap::registration_date(&body) {
            Ok(Some(t)) => Reply::Answer(RdapAnswer::Registered(t.0)),
            Ok(None) => Reply::Answer(RdapAnswer::NoDate),
            Err(e) => Reply::Failed(format!("{url}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A loopback RDAP server answering each request with the next of `replies` (status,
    /// extra headers, body), then closing. Returns its URL template and a request counter.
    fn rdap_server(replies: Vec<(u16, &'static str, String)>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for (status, headers, body) in replies {
                let Ok((stream, _)) = listener.accept() else { return };
                stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                seen.fetch_add(1, Ordering::SeqCst);
                let reason = match status {
                    200 => "OK",
                    404 => "Not Found",
                    429 => "Too Many Requests",
                    _ => "Error",
                };
                let mut stream = reader.into_inner();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: application/rdap+json\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
                    body.len()
                );
                let _ = stream.flush();
                let mut rest = [0u8; 64];
                let _ = stream.read(&mut rest);
            }
        });
        (format!("http://127.0.0.1:{port}/domain/{{domain}}"), count)
    }

    fn registration(date: &str) -> String {
        format!(
            r#"{{"objectClassName":"domain","ldhName":"X.COM","events":[{{"eventAction":"registration","eventDate":"{date}"}},{{"eventAction":"expiration","eventDate":"2030-01-01T00:00:00Z"}}],"rdapConformance":["rdap_level_0"]}}"#
        )
    }

    fn client(url: &str, budget: u32, cache: Option<StateStore>) -> (RdapClient, Arc<AgeTable>) {
        let ages = Arc::new(AgeTable::new());
        let config = EnrichConfig {
            rdap: true,
            rdap_url: url.to_owned(),
            rdap_budget: budget,
            rdap_timeout_secs: 2,
            rdap_max_wait_secs: 1,
            ..EnrichConfig::default()
        };
        (RdapClient::new(&config, cache, ages.clone(), None), ages)
    }

    #[test]
    fn rdap_dates_404_and_cache() {
        let (url, count) = rdap_server(vec![
            (200, "", registration("2024-03-10T12:00:00Z")),
            (404, "", String::new()),
            (200, "", r#"{"objectClassName":"domain","events":[]}"#.to_owned()),
        ]);
        let dir = std::env::temp_dir().join(format!("dnshunt-rdap-{}", std::process::id()));
        let path = dir.join("state.sqlite");
        let _ = std::fs::remove_file(&path);
        let (mut c, ages) = client(&url, 10, Some(StateStore::open(&path).unwrap()));
        c.consider("fresh-login.com");
        c.consider("fresh-login.com");
        c.consider("missing.example");
        c.consider("nodate.example");
        assert_eq!(
            ages.get("fresh-login.com").map(|a| (a.registered, a.source)),
            Some((Timestamp::parse("2024-03-10T12:00:00Z").unwrap(), AgeSource::Rdap))
        );
        assert_eq!(ages.get("missing.example"), None);
        assert_eq!((c.stats.requests, c.stats.found, c.stats.not_found, c.stats.no_date), (3, 1, 1, 1));
        assert_eq!(count.load(Ordering::SeqCst), 3);
        // A second run answers from the cache without the network.
        let (mut c2, ages2) = client("http://127.0.0.1:9/{domain}", 10, Some(StateStore::open(&path).unwrap()));
        c2.consider("fresh-login.com");
        c2.consider("missing.example");
        assert_eq!(c2.stats.requests, 0);
        assert_eq!(c2.stats.cached, 2);
        assert!(ages2.get("fresh-login.com").is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rate_limits_are_waited_out_or_stop_rdap() {
        let (url, _) = rdap_server(vec![
            (429, "Retry-After: 1\r\n", String::new()),
            (200, "", registration("2024-03-01T00:00:00Z")),
            (429, "Retry-After: 3600\r\n", String::new()),
        ]);
        let (mut c, ages) = client(&url, 10, None);
        c.consider("a.example");
        assert!(ages.get("a.example").is_some(), "{:?}", c.stats);
        assert_eq!(c.stats.rate_limited, 1);
        let started = Instant::now();
        c.consider("b.example");
        assert!(started.elapsed() < Duration::from_secs(3), "a long Retry-After is not waited for");
        assert!(c.stats.stopped.as_deref().unwrap().contains("3600"), "{:?}", c.stats);
        c.consider("c.example");
        assert_eq!(c.stats.requests, 3, "no requests after being told to stop");
    }

    #[test]
    fn network_errors_and_budget() {
        // A port nobody listens on: refused at once.
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let (mut c, _) = client(&format!("http://127.0.0.1:{port}/{{domain}}"), 10, None);
        for d in ["a.example", "b.example", "c.example", "d.example"] {
            c.consider(d);
        }
        assert_eq!(c.stats.errors, 3);
        assert!(c.stats.stopped.is_some());
        assert!(c.stats.first_error.as_deref().unwrap().starts_with("a.example: http://127.0.0.1:"), "{:?}", c.stats);
        // Garbage answers are errors, and the budget caps requests.
        let (url, _) = rdap_server(vec![(200, "", "<html>".to_owned()), (500, "", String::new())]);
        let (mut c, _) = client(&url, 2, None);
        for d in ["a.example", "b.example", "c.example"] {
            c.consider(d);
        }
        assert_eq!((c.stats.requests, c.stats.errors, c.stats.over_budget), (2, 2, 1));
    }

    #[test]
    fn geoip_folder_with_broken_files_and_missing_folder() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/geoip");
        if !Path::new(dir).exists() {
            assert!(std::env::var_os("CI").is_none(), "{dir} missing under CI");
            eprintln!("skipped: {dir} missing");
            return;
        }
        // The folder holds good and deliberately broken databases: the good ones are used.
        let geo = open_geoip(Path::new(dir), true, 100, true).unwrap();
        assert_eq!(geo.databases().len(), 4);
        assert_eq!(geo.lookup("81.2.69.160".parse().unwrap()).country.as_deref(), Some("GB"));
        // A broken file alone is a clear error naming it.
        let broken = format!("{dir}/MaxMind-DB-test-broken-search-tree-24.mmdb");
        let err = format!("{:#}", open_geoip(Path::new(&broken), true, 100, true).unwrap_err());
        assert!(err.contains("MaxMind-DB-test-broken-search-tree-24.mmdb"), "{err}");
        let err = format!("{:#}", open_geoip(Path::new("/nonexistent/geoip"), true, 100, true).unwrap_err());
        assert!(err.contains("/nonexistent/geoip"), "{err}");
    }

    #[test]
    fn events_and_findings_carry_the_facts() {
        let ages = AgeTable::new();
        ages.add_nrd("nrd-2019-06-20.txt", "example.com\n");
        let mut rank = RankTable::new();
        rank.add_csv("7,example.com\n");
        let e = Enrichment {
            ages: Some(Arc::new(ages)),
            rank: Some(Arc::new(rank)),
            ..Enrichment::default()
        };
        let event = dnshunt_core::Event {
            time: Timestamp::parse("2019-06-25 14:09:41.467").unwrap(),
            host: None,
            record_id: None,
            rule_name: None,
            origin: dnshunt_core::Origin::line(&Arc::from("t"), 1),
            kind: EventKind::DnsQuery(dnshunt_core::DnsQuery {
                process: Default::default(),
                query: DnsName::new("www.example.com"),
                status: dnshunt_core::QueryStatus::SUCCESS,
                answers: Vec::new(),
                results_raw: String::new(),
            }),
        };
        let mut out = Vec::new();
        e.write_event(&mut out, &event).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["enrichment"]["rank"], 7);
        assert_eq!(v["enrichment"]["age_days"], 5);
        assert_eq!(v["query"]["name"], "www.example.com");
        let mut findings = vec![Finding::from_event("x", dnshunt_core::Severity::Low, 1, &event, &[], String::new())];
        e.annotate(&mut findings);
        assert_eq!(findings[0].details["rank"], 7);
        assert_eq!(findings[0].details["age_source"], "nrd");
        assert_eq!(e.score_facts("example.com").unwrap()["rank"], 7);
    }
}

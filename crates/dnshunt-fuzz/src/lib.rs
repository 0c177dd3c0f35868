//! Fuzz targets: one function per parser of text a user or a feed hands dnshunt, each driving
//! the product's own code the way the product does, so that any input that makes one of them
//! panic, hang or exhaust memory is a bug in dnshunt (or in a dependency it trusts).
//!
//! The functions are plain stable Rust. `fuzz/` (cargo-fuzz, nightly) wraps each in a
//! one-line `fuzz_target!`; `tests/regressions.rs` replays the committed inputs of
//! `fuzz/regressions/<target>/` through them under an ordinary `cargo test`, so CI checks every
//! crash ever found without nightly. [`seeds`] builds the seed inputs the fixtures cannot give
//! (EVTX files, MaxMind databases, Sigma rules, config files, feed lists).
//!
//! Every function ignores errors: bad input is data. What must not happen is a panic, an
//! endless loop or unbounded memory. [`TARGETS`] lists them all, with what each covers.
//!
//! Not covered: the SQLite state store (`--state`), whose file format is SQLite's; and the
//! `[enrich]`/`[state]` tables of the config file, whose types live in the binary (see
//! [`config_toml`]).

mod hunt;
mod read;
pub mod seeds;

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use dnshunt_core::{DnsName, Field, Guid, Origin, QueryStatus, RawRecord, RawValue, RecordType, Timestamp};
use dnshunt_detect::indicators::IndicatorSet;
use dnshunt_detect::registry::DetectorInputs;
use dnshunt_enrich::age::AgeTable;
use dnshunt_enrich::geo::{DbBytes, GeoDb, GeoLookup};
use dnshunt_enrich::rank::RankTable;
use dnshunt_source::InputFormat;

/// A fuzz target: bytes in, nothing out, never a panic.
pub type Target = fn(&[u8]);

/// Every target by name (the name of its `fuzz/fuzz_targets/<name>.rs` and of its
/// `fuzz/regressions/<name>/` folder).
pub const TARGETS: &[(&str, Target)] = &[
    ("source_auto", source_auto),
    ("json", json),
    ("xml", xml),
    ("evtx", evtx),
    ("normalize", normalize),
    ("query_results", query_results),
    ("dns_name", dns_name),
    ("timestamp", timestamp),
    ("config_toml", config_toml),
    ("sigma", sigma),
    ("geoip", geoip),
    ("blocklist", blocklist),
    ("nrd", nrd),
    ("rank", rank),
    ("rdap", rdap),
    ("es_answer", es_answer),
    ("json_document", json_document),
    ("sysmon_config", sysmon_config),
    ("pcap", pcap),
    ("dns_message", dns_message),
    ("zeek", zeek),
    ("eve", eve),
];

/// Collects what a wire reader gives, keeping at most a few thousand events.
#[derive(Default)]
struct WireEvents(Vec<dnshunt_core::Event>);

impl dnshunt_wire::WireOut for WireEvents {
    fn event(&mut self, event: dnshunt_core::Event) -> bool {
        if self.0.len() < 4096 {
            self.0.push(event);
        }
        true
    }
    fn bad(&mut self, _: Origin, _: String, _: u64) {}
    fn warn(&mut self, _: Origin, _: String) {}
    fn other(&mut self, _: u64) {}
    fn counts(&mut self, _: &dnshunt_wire::WireCounts) {}
}

/// A packet capture (pcap or pcapng; every link layer, IPv4/IPv6, UDP and reassembled TCP
/// DNS, pairing) through `dnshunt_wire::pcap::read`; the exchanges and connections then go
/// through detection (wire detectors and attribution included), prevalence and incidents.
pub fn pcap(data: &[u8]) {
    let mut out = WireEvents::default();
    dnshunt_wire::pcap::read(std::io::BufReader::new(data), &Arc::from("fuzz.pcap"), &mut out);
    hunt::hunt_default(&out.0);
}

/// One DNS message through the lenient decoder (names, compression, every record type).
pub fn dns_message(data: &[u8]) {
    if let Ok(m) = dnshunt_wire::dns::decode(data) {
        std::hint::black_box(m);
    }
}

/// A Zeek log, read both as TSV (`#fields` headers) and as JSON lines, then hunted.
pub fn zeek(data: &[u8]) {
    let file: Arc<str> = Arc::from("fuzz.log");
    let mut out = WireEvents::default();
    dnshunt_wire::zeek::read_tsv(std::io::BufReader::new(data), &file, &mut out);
    dnshunt_wire::zeek::read_json(std::io::BufReader::new(data), &file, &mut out);
    hunt::hunt_default(&out.0);
}

/// Suricata EVE JSON (`dns` v1/v2/v3 pairing, `flow`, `tls`), then hunted.
pub fn eve(data: &[u8]) {
    let mut out = WireEvents::default();
    dnshunt_wire::eve::read(std::io::BufReader::new(data), &Arc::from("eve.json"), &mut out);
    hunt::hunt_default(&out.0);
}

/// The events the product reads from a file holding `data` in `format` (what the reading
/// targets fuzz), for tests of the seeds.
pub fn read_events(data: &[u8], format: InputFormat) -> Vec<dnshunt_core::Event> {
    read::read_file(data, format)
}

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// A file as the user names it on the command line, format detected from its content (EVTX,
/// JSON lines or documents, XML, and `.gz`/`.zip` containers of them), through
/// `dnshunt_source::spawn`: sniffing, cutting NDJSON into blocks, the parser threads,
/// normalisation. The events then go through detection, prevalence and incidents.
pub fn source_auto(data: &[u8]) {
    let events = read::read_file(data, InputFormat::Auto);
    hunt::hunt_default(&events);
}

/// A file read with `--input-format json`: every JSON shape (Winlogbeat 6/8, ECS, flat
/// OTRF/NXLog, `_source` hits, `_search` responses, Sentinel rows, `evtx_dump` output), one
/// object per line or whole documents, through the same path as [`source_auto`].
pub fn json(data: &[u8]) {
    let events = read::read_file(data, InputFormat::Json);
    hunt::hunt_default(&events);
}

/// A file read with `--input-format xml`: Sysmon XML (`wevtutil`, `Get-WinEvent ToXml`).
pub fn xml(data: &[u8]) {
    let events = read::read_file(data, InputFormat::Xml);
    hunt::hunt_default(&events);
}

/// A file read with `--input-format evtx`: the `evtx` crate renders records to JSON, which the
/// JSON visitor routes and normalisation types.
pub fn evtx(data: &[u8]) {
    let events = read::read_file(data, InputFormat::Evtx);
    hunt::hunt_default(&events);
}

/// Normalisation of reader-neutral records, without a reader's syntax in the way: the input
/// is lines of `key=value` (see [`raw_records`]) that fill [`RawRecord`]s, which
/// `dnshunt_core::normalize` types into events; the events then go through every detector,
/// prevalence and incidents, as in `hunt`.
pub fn normalize(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let file: Arc<str> = Arc::from("fuzz");
    let mut events = Vec::new();
    let mut warnings = Vec::new();
    for (i, raw) in raw_records(&text).into_iter().enumerate() {
        if let Ok(dnshunt_core::Outcome::Event(event)) = dnshunt_core::normalize(raw, Origin::record(&file, i as u64 + 1), &mut warnings) {
            events.push(*event);
        }
    }
    hunt::hunt_default(&events);
}

/// Reads the `normalize` target's format: records separated by `--` lines, each line
/// `key=value`. Keys: `EventID`, `Channel`, `Provider`, `Computer`, `Host`, `RecordID`,
/// `SystemTime`, `_index`, `_id`; `ecs.answer` (`TYPE DATA`), `ecs.status`, `ecs.user.name`,
/// `ecs.user.domain`, `ecs.timestamp`, `ecs.module`, `ecs.hash` (`ALGORITHM VALUE`); or a
/// Sysmon field name, as text (`Image=...`), integer (`ProcessId#=...`), boolean
/// (`Initiated?=...`) or list (`QueryResults[]=a|b`). Other lines are ignored.
pub fn raw_records(text: &str) -> Vec<RawRecord<'_>> {
    let mut records = vec![RawRecord::default()];
    for line in text.lines() {
        if line == "--" {
            records.push(RawRecord::default());
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        let raw = records.last_mut().expect("one record at least");
        let text = || Some(Cow::Borrowed(value));
        match key {
            "EventID" => raw.event_id = value.trim().parse().ok(),
            "Channel" => raw.channel = text(),
            "Provider" => raw.provider = text(),
            "Computer" => raw.computer = text(),
            "Host" => raw.host_fallback = text(),
            "RecordID" => raw.record_id = value.trim().parse().ok(),
            "SystemTime" => raw.system_time = text(),
            "_index" => raw.es_index = text(),
            "_id" => raw.es_id = text(),
            "ecs.answer" => {
                let (kind, data) = value.split_once(' ').unwrap_or((value, ""));
                raw.ecs.answers.push((Cow::Borrowed(kind), Cow::Borrowed(data)));
                raw.ecs.has_answers = true;
            }
            "ecs.status" => raw.ecs.dns_status = text(),
            "ecs.user.name" => raw.ecs.user_name = text(),
            "ecs.user.domain" => raw.ecs.user_domain = text(),
            "ecs.timestamp" => raw.ecs.timestamp = text(),
            "ecs.module" => raw.ecs.module = text(),
            "ecs.hash" => {
                let (algorithm, hash) = value.split_once(' ').unwrap_or((value, ""));
                let algorithm = match algorithm {
                    "md5" => "md5",
                    "sha1" => "sha1",
                    "sha256" => "sha256",
                    _ => "imphash",
                };
                raw.ecs.hashes.push((algorithm, Cow::Borrowed(hash)));
            }
            _ => {
                let (name, kind) = match key.char_indices().last() {
                    Some((at, c @ ('#' | '?'))) => (&key[..at], c),
                    _ => match key.strip_suffix("[]") {
                        Some(name) => (name, '['),
                        None => (key, ' '),
                    },
                };
                let Some(field) = Field::from_name(name) else { continue };
                let value = match kind {
                    '#' => match value.trim().parse() {
                        Ok(i) => RawValue::Int(i),
                        Err(_) => continue,
                    },
                    '?' => RawValue::Bool(value.trim() == "true"),
                    '[' => RawValue::List(value.split('|').map(Cow::Borrowed).collect()),
                    _ => RawValue::Str(Cow::Borrowed(value)),
                };
                raw.set(field, value);
            }
        }
    }
    records
}

/// `QueryResults` in Sysmon's string form (`type:  5 name;::ffff:1.2.3.4;`), each answer's
/// address and name, and the answer entries one by one.
pub fn query_results(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut answers = Vec::new();
    dnshunt_core::parse_query_results(&text, &mut answers);
    for answer in &answers {
        let _ = (answer.ip(), answer.name(), answer.rtype.name(), answer.rtype.to_string());
    }
    let _ = serde_json::to_string(&answers);
}

/// DNS names, one per line: normalisation (case, trailing dot, Punycode and Unicode forms),
/// the registrable domain by the Public Suffix List, labels and parents, and everything the
/// enrichment says of a name (entropy, the DGA model's label, score and reasons).
pub fn dns_name(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        let name = DnsName::new(line);
        let _ = (name.as_str(), name.unicode(), name.registered_domain(), name.public_suffix(), name.subdomain());
        let _ = name.labels().rev().count() + name.self_and_parents().count();
        let _ = name.to_string();
        let scores = dnshunt_enrich::scores::NameScores::new(&name);
        let _ = serde_json::to_string(&scores);
    }
}

/// The small parsers of field values, one value per line: times (`UtcTime`, `SystemTime`,
/// `@timestamp`, `--since`), NRD feed dates, GUIDs, `QueryStatus` and record type names, IP
/// addresses, Sysmon field names.
pub fn timestamp(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        if let Some(t) = Timestamp::parse(line) {
            let _ = (t.to_string(), t.millis());
        }
        if let Some(t) = dnshunt_enrich::age::parse_date(line) {
            let _ = t.to_string();
        }
        if let Some(g) = Guid::parse(line) {
            let _ = (g.to_string(), g.is_nil());
        }
        if let Some(s) = QueryStatus::from_name(line) {
            let _ = (s.name(), s.to_string(), s.is_failure());
        }
        if let Ok(code) = line.trim().parse::<u32>() {
            let s = QueryStatus(code);
            let _ = (s.name(), s.to_string());
        }
        if let Some(r) = RecordType::from_name(line) {
            let _ = r.to_string();
        }
        let _ = dnshunt_core::parse_ip(line);
        let _ = Field::from_name(line);
    }
}

/// The config file (`--config`): TOML into the library parts of the binary's `Config`, the
/// checks its `config::parse` makes, then a hunt over the fixture events with detectors,
/// allowlist, aggregation, prevalence and incidents as configured. The `[enrich]` and
/// `[state]` tables are types of the binary, which no library can reach: they are taken as
/// any table, so their field types are not fuzzed. `lookalike`'s built-in brands are off
/// unless the text switches them on (building their index would be most of each run).
pub fn config_toml(data: &[u8]) {
    // The binary reads the file with `read_to_string`: text that is not UTF-8 stops there.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Some(config) = hunt::parse_config(text) else { return };
    hunt::hunt(hunt::fixture_events(), &config, DetectorInputs::default(), Vec::new());
}

/// Sigma rules (`--sigma`): one YAML file through the loader (parse, logsource, compile,
/// duplicate ids, correlations), then the `sigma` detector over the fixture events.
pub fn sigma(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (rules, report) = dnshunt_sigma::load_texts(&[("fuzz.yml".to_owned(), text.to_owned())]);
    let _ = report.skipped_by_kind();
    let _ = serde_json::to_string(&report);
    if rules.is_empty() {
        return;
    }
    let _ = rules.loaded_rules().count();
    let detector = dnshunt_sigma::SigmaDetector::new(rules);
    hunt::hunt(hunt::fixture_events(), hunt::light_config(), DetectorInputs::default(), vec![Box::new(detector)]);
}

/// A MaxMind DB file (`--geoip`): opened with and without the full check, as `geoip_verify`
/// chooses, then looked up the way the `geo` detector and the enrichment of findings do.
///
/// `GeoDb::new` and the lookups catch panics of the `maxminddb` reader and report them as a
/// broken database; libFuzzer's panic hook would abort first, so panics raised inside
/// `maxminddb` are let through to those `catch_unwind`s (set `DNSHUNT_FUZZ_STRICT_GEO=1` to
/// see them as crashes). A panic anywhere else is a crash.
pub fn geoip(data: &[u8]) {
    read::tolerate_maxminddb_panics();
    const PROBES: [&str; 8] = [
        "1.1.1.1",
        "81.2.69.160",
        "2.125.160.218",
        "1.128.0.1",
        "10.0.0.1",
        "::1",
        "2001:4860:4860::8888",
        "::ffff:81.2.69.160",
    ];
    for verify in [false, true] {
        let Ok(db) = GeoDb::new("fuzz.mmdb", DbBytes::Owned(data.to_vec()), verify) else {
            continue;
        };
        let _ = (db.name(), db.kind(), db.database_type());
        let lookup = GeoLookup::new(vec![db], 4);
        for probe in PROBES {
            let ip: IpAddr = probe.parse().expect("static address");
            let info = lookup.lookup(ip);
            let _ = (info.flags(), info.to_json(ip), info.is_empty());
        }
        let _ = lookup.stats();
    }
}

/// A blocklist (`--blocklist`): domains, addresses and networks with comments and tags, read
/// as the binary reads it (lossy UTF-8), then matched against the list's own first entries and
/// fixed probes; and the same text as a DoH endpoint list (`--doh-list`).
pub fn blocklist(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut set = IndicatorSet::new();
    let report = set.add_list("fuzz.txt", &text);
    let _ = (report.domains, set.len(), set.is_empty());
    for probe in text.lines().take(16).chain(["example.com", "a.b.evil.example", "10.1.2.3", "2001:db8::1"]) {
        let probe = probe.trim();
        if let Some(hit) = set.match_domain(probe) {
            let _ = format!("{hit:?}");
        }
        if let Ok(ip) = probe.parse::<IpAddr>() {
            let _ = set.match_ip(ip);
        }
    }
    let _ = dnshunt_detect::detectors::doh_lookup::parse_endpoint_list(&text);
}

/// An NRD feed (`--nrd`): the first line is the file name (dates are taken from it), the rest
/// the feed, read as the binary reads it (lossy UTF-8); then ages of the listed domains.
pub fn nrd(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (file_name, feed) = text.split_once('\n').unwrap_or((&text, ""));
    let table = AgeTable::new();
    let _ = table.add_nrd(file_name, feed);
    // Event times are what `Timestamp::parse` gives: years 0000 to 9999.
    let times = [
        Timestamp(0),
        Timestamp::parse("0000-01-01").expect("a date"),
        Timestamp::parse("9999-12-31 23:59:59.999").expect("a date"),
    ];
    for line in feed.lines().take(16).chain(["example.com"]) {
        if let Some(age) = table.age_of(&DnsName::new(line.split([',', '\t', ' ']).next().unwrap_or(""))) {
            let _ = (times.map(|t| age.age_days(t)), age.source.as_str());
        }
    }
}

/// A popularity list (`--rank`, `rank,domain` CSV as Tranco and Umbrella publish it), read as
/// the binary reads it (lossy UTF-8); then ranks, factors and the damping of scores.
pub fn rank(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut table = RankTable::new();
    let _ = table.add_csv(&text);
    for line in text.lines().take(16).chain(["example.com"]) {
        let name = DnsName::new(line.rsplit(',').next().unwrap_or(""));
        let rank = table.rank_of(&name);
        let factor = table.factor(&name);
        let _ = dnshunt_enrich::rank::scale_score(90, factor);
        let _ = dnshunt_enrich::rank::damp(dnshunt_core::Severity::High, 80, Some(rank));
        let _ = dnshunt_enrich::rank::popularity_factor(rank);
    }
}

/// An RDAP answer (`--rdap`): the registration date of a domain.
pub fn rdap(data: &[u8]) {
    let _ = dnshunt_enrich::rdap::registration_date(data);
}

/// One JSON document (a line of NDJSON, a search answer) read both ways: the fast path of the
/// JSON visitor must give exactly what `serde_json` gives, the same records or the same error.
pub fn json_document(data: &[u8]) {
    dnshunt_source::json_visit::assert_both_paths_agree(data, "the fuzz input");
}

/// What an Elasticsearch or OpenSearch cluster answers: a search page's paging facts and its
/// hits through the JSON visitor and normalisation (as the cluster reader does), an error
/// body, the `GET /` product detection; and the same text as a cluster URL (`--es`).
pub fn es_answer(data: &[u8]) {
    let _ = dnshunt_elastic::search::page_meta(data);
    let mut records = Vec::new();
    if dnshunt_source::json_visit::parse_document(data, &mut records).is_ok() {
        let file: Arc<str> = Arc::from("fuzz");
        let mut warnings = Vec::new();
        for raw in records {
            let _ = dnshunt_core::normalize(raw, Origin::record(&file, 1), &mut warnings);
        }
    }
    let _ = dnshunt_elastic::error_of(data);
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = dnshunt_elastic::ClusterInfo::from_root(&value, None);
        let _ = dnshunt_elastic::ClusterInfo::from_root(&value, Some("Elasticsearch"));
    }
    let text = String::from_utf8_lossy(data);
    let _ = dnshunt_elastic::split_url(&text);
    let _ = dnshunt_elastic::redact_url(&text);
    let _ = dnshunt_elastic::encode_path_segment(&text);
}

/// An existing Sysmon config (`sysmon-config --merge PATH`): new DnsQuery exclusions merged
/// into it, and its exclusions read back and matched as Sysmon would.
pub fn sysmon_config(data: &[u8]) {
    use dnshunt_sink::sysmon_config::{dns_exclusions, merge, Exclusion};
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(conditions) = dns_exclusions(text) {
        for c in &conditions {
            let _ = (c.matches("www.example.com"), c.matches(""), c.matches(&c.value));
        }
    }
    let new = [Exclusion {
        domain: "example.com".to_owned(),
        queries: 10,
        hosts: 2,
        share: 0.5,
    }];
    if let Ok(merged) = merge(text, &new) {
        let _ = dns_exclusions(&merged);
    }
}

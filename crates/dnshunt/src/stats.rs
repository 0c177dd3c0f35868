//! `dnshunt stats`: fleet-wide stack counts — for every registered domain, how many hosts
//! resolved it and how often (rarity: a domain one host of thousands asked for is worth a
//! look), and the same for the programs that made DNS queries.
//!
//! With `--es` the cluster does the fan-in: composite aggregations over (domain, host) and
//! (program, host), paged by `after_key`, reduce every DNS event to its distinct pairs, and
//! only those travel. The fields come from [`dnshunt_source::elastic`]'s per-shape lists,
//! checked with `_field_caps` (a field, or its `.keyword` sub-field in dynamic mappings; indices
//! of one pattern that map them differently are aggregated group by group):
//! ECS `dns.question.registered_domain` is used as it is; documents without it (other shapes,
//! or names the pipeline left without a registered domain) are aggregated on their query name
//! (`dns.question.name`, `winlog.event_data.QueryName`, `event_data.QueryName`, `QueryName`),
//! which is reduced to its registered domain here, with the Public Suffix List the readers use.
//! Each document is counted once: the shapes are tried in order and each excludes documents
//! an earlier one counted. Documents whose fields are not aggregatable (text without a keyword
//! sub-field) are not counted, and the output says which fields those were. `--since/--until`
//! filter `@timestamp` in the cluster (exactly, no widening).
//!
//! With files, the same numbers are computed locally from the normalised events.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use comfy_table::{presets, ContentArrangement, Table};
use dnshunt_core::DnsName;
use dnshunt_detect::stats::counted;
use dnshunt_elastic::aggs::{CompositeSource, FieldCap};
use dnshunt_source::elastic::{DOMAIN_FIELDS, HOST_FIELDS, PROCESS_FIELDS, REGISTERED_DOMAIN_FIELDS, TIMESTAMP_FIELD};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::cli::InputArgs;

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Rows per table (0: all).
    #[arg(long, default_value_t = 25)]
    pub top: usize,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = StatsFormat::Table)]
    pub format: StatsFormat,

    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Distinct values kept per table: a memory bound (about 130 bytes a value). The queries of
    /// values beyond it are counted and reported as not listed.
    #[arg(long, default_value_t = crate::stack::DEFAULT_MAX_VALUES, value_name = "N")]
    pub max_values: usize,

    /// What the run may hold, in MiB: `--max-values` is lowered to what 80 % of it holds at
    /// about 650 bytes a value over all tables (measured at 10 million distinct names); 0 for
    /// `--max-values` as given
    #[arg(long, default_value_t = 1024, value_name = "MB")]
    pub memory_budget: u64,

    /// List the least common values first (fewest hosts, then fewest queries) instead of the
    /// most common.
    #[arg(long)]
    pub rare: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StatsFormat {
    Table,
    Json,
    /// With files: `dimension,value,count,hosts,first_seen,last_seen`.
    Csv,
}

/// Hosts as 32-bit ids: a value's host set costs 4 bytes a host, not a string.
#[derive(Debug, Default)]
pub(crate) struct HostIds {
    ids: HashMap<Box<str>, u32>,
}

impl HostIds {
    pub(crate) fn id(&mut self, host: &str) -> u32 {
        if let Some(id) = self.ids.get(host) {
            return *id;
        }
        let id = self.ids.len() as u32;
        self.ids.insert(host.into(), id);
        id
    }

    /// Distinct hosts, the empty name (no host) left out.
    pub(crate) fn len(&self) -> usize {
        self.ids.len() - usize::from(self.ids.contains_key(""))
    }
}

/// Hosts (sorted ids) and events of one value.
#[derive(Debug, Default)]
struct Tally {
    events: u64,
    hosts: Vec<u32>,
}

#[derive(Debug)]
struct Stacks {
    domains: BTreeMap<Box<str>, Tally>,
    processes: BTreeMap<Box<str>, Tally>,
    hosts: HostIds,
    max_values: usize,
    /// Queries of values not kept because `max_values` were already.
    not_listed: u64,
}

impl Stacks {
    fn new(max_values: usize) -> Stacks {
        Stacks {
            domains: BTreeMap::new(),
            processes: BTreeMap::new(),
            hosts: HostIds::default(),
            max_values: max_values.max(1),
            not_listed: 0,
        }
    }

    /// Distinct hosts that made DNS queries.
    fn dns_hosts(&self) -> usize {
        self.hosts.len()
    }

    fn add_domain(&mut self, value: &str, host: &str, events: u64) {
        let host = self.hosts.id(host);
        Self::add(&mut self.domains, value, host, events, self.max_values, &mut self.not_listed);
    }

    fn add_process(&mut self, value: &str, host: &str, events: u64) {
        let host = self.hosts.id(host);
        Self::add(&mut self.processes, value, host, events, self.max_values, &mut self.not_listed);
    }

    fn add(map: &mut BTreeMap<Box<str>, Tally>, value: &str, host: u32, events: u64, max: usize, not_listed: &mut u64) {
        if !map.contains_key(value) && map.len() >= max {
            *not_listed += events;
            return;
        }
        let tally = match map.get_mut(value) {
            Some(t) => t,
            None => map.entry(value.into()).or_default(),
        };
        tally.events += events;
        if let Err(at) = tally.hosts.binary_search(&host) {
            tally.hosts.insert(at, host);
        }
    }
}

#[derive(Debug, Serialize)]
struct Row {
    value: String,
    hosts: usize,
    events: u64,
}

/// Most common first (most hosts, then most events), or with `rare` rarest first (fewest
/// hosts, then fewest events); ties by name, so the output is stable.
fn rows(map: &BTreeMap<Box<str>, Tally>, top: usize, rare: bool) -> Vec<Row> {
    let mut rows: Vec<Row> = map
        .iter()
        .map(|(v, t)| Row {
            value: v.to_string(),
            hosts: t.hosts.len(),
            events: t.events,
        })
        .collect();
    if rare {
        rows.sort_by(|a, b| (a.hosts, a.events, &a.value).cmp(&(b.hosts, b.events, &b.value)));
    } else {
        rows.sort_by(|a, b| (b.hosts, b.events).cmp(&(a.hosts, a.events)).then_with(|| a.value.cmp(&b.value)));
    }
    if top > 0 {
        rows.truncate(top);
    }
    rows
}

/// `--max-values`, lowered to what `budget_mb` holds (see `StatsArgs::memory_budget`).
fn fit_max_values(max_values: usize, budget_mb: u64) -> usize {
    if budget_mb == 0 {
        return max_values;
    }
    let allowed = (budget_mb.saturating_mul(1 << 20) / 10 * 8 / 650) as usize;
    max_values.min(allowed.max(1_000))
}

pub fn run(args: StatsArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let max_values = fit_max_values(args.max_values, args.memory_budget);
    let mut stacks = Stacks::new(max_values);
    let mut source = Map::new();
    // With files, also the per-dimension stacks (counts, first/last seen); see `stack.rs`.
    let mut stack = args.input.es.es.is_none().then(|| crate::stack::StackCounter::new(max_values));
    let mut single_label = 0u64;
    // DNS seen on the wire, per domain (captures, Zeek, Suricata).
    let mut wire = dnshunt_report::wire::WireDomains::new(max_values);
    // Hosts of every event, as the report and `hunt`'s prevalence count them.
    let mut all_hosts: BTreeSet<String> = BTreeSet::new();
    match args.input.es.es.clone() {
        Some(url) => pushdown(&url, &args.input, &mut stacks, &mut source)?,
        None => {
            let (report, _, _) = crate::run::read_all(&args.input, None, |event| {
                if let Some(stack) = stack.as_mut() {
                    stack.observe(event);
                }
                wire.observe(event);
                if let Some(host) = event.host.as_deref() {
                    let key = dnshunt_core::host_key(host);
                    if !key.is_empty() && !all_hosts.contains(&key) {
                        all_hosts.insert(key);
                    }
                }
                if let Some(q) = event.dns() {
                    // One notion of host, domain and image with `hunt`'s prevalence, the report
                    // and `sysmon-config`: single-label names (`wpad`) are not domains.
                    let host = dnshunt_core::host_key(event.host.as_deref().unwrap_or(""));
                    match q.query.domain_key() {
                        Some(domain) => stacks.add_domain(domain, &host, 1),
                        None => single_label += 1,
                    }
                    if let Some(image) = &q.process.image {
                        stacks.add_process(&dnshunt_prevalence::image_key(image), &host, 1);
                    }
                }
                Ok(())
            })?;
            source.insert("mode".into(), json!("local"));
            source.insert("dns_events".into(), json!(report.totals.dns_query));
            source.insert("dns_events_without_domain".into(), json!(single_label));
            source.insert("hosts".into(), json!(all_hosts.len()));
            source.insert("wire_dns_exchanges".into(), json!(wire.exchanges));
        }
    }
    let elapsed = started.elapsed();
    source.insert("elapsed_seconds".into(), json!(elapsed.as_secs_f64()));
    let domains = rows(&stacks.domains, args.top, args.rare);
    let processes = rows(&stacks.processes, args.top, args.rare);
    let mut out = crate::run::open_output(args.output.as_deref())?;
    match args.format {
        StatsFormat::Json => {
            let mut doc = json!({
                "source": source,
                "distinct_domains": stacks.domains.len(),
                "distinct_dns_hosts": stacks.dns_hosts(),
                "not_listed_queries": stacks.not_listed,
                "max_values": stacks.max_values,
                "distinct_processes": stacks.processes.len(),
                "domains": domains,
                "processes": processes,
            });
            if let Some(stack) = &stack {
                doc["stacks"] = stack.to_json(args.top, args.rare);
            }
            if !wire.is_empty() {
                doc["wire_domains"] = json!({"distinct": wire.len(), "not_listed_exchanges": wire.not_listed, "rows": wire.rows(args.top)});
            }
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        StatsFormat::Csv if !wire.is_empty() && stack.as_ref().is_none_or(|s| s.dns_events == 0) => {
            let mut w = csv::Writer::from_writer(&mut out);
            w.write_record([
                "domain",
                "exchanges",
                "clients",
                "distinct_names",
                "question_bytes",
                "response_bytes",
                "payload_bytes",
                "nxdomain",
                "first_seen",
                "last_seen",
            ])?;
            for r in wire.rows(args.top) {
                w.write_record(wire_cells(r, true))?;
            }
            w.flush()?;
        }
        StatsFormat::Csv => match &stack {
            Some(stack) => stack.write_csv(&mut out, args.top, args.rare)?,
            None => {
                let mut w = csv::Writer::from_writer(&mut out);
                w.write_record(["dimension", "value", "count", "hosts", "first_seen", "last_seen"])?;
                for (dimension, rows) in [("registered_domain", &domains), ("image", &processes)] {
                    for r in rows.iter() {
                        w.write_record([dimension, &r.value, &r.events.to_string(), &r.hosts.to_string(), "", ""])?;
                    }
                }
                w.flush()?;
            }
        },
        StatsFormat::Table if !wire.is_empty() && stack.as_ref().is_none_or(|s| s.dns_events == 0) => {}
        StatsFormat::Table => match &stack {
            Some(stack) => stack.write_tables(&mut out, args.top, args.rare)?,
            None => {
                for (title, rows) in [("registered domain", &domains), ("process image", &processes)] {
                    let mut table = Table::new();
                    table.load_style(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
                    table.set_header([title, "hosts", "DNS queries"]);
                    for r in rows.iter() {
                        table.add_row(vec![r.value.clone(), r.hosts.to_string(), r.events.to_string()]);
                    }
                    writeln!(out, "{table}")?;
                }
            }
        },
    }
    // What the network saw, after Sysmon's tables (alone when the input is wire only).
    if matches!(args.format, StatsFormat::Table) && !wire.is_empty() {
        writeln!(out, "{}", wire_table(&wire, args.top))?;
    }
    out.flush()?;
    if !args.input.quiet {
        let how = source.get("mode").and_then(Value::as_str).unwrap_or("");
        eprintln!(
            "dnshunt: stats ({how}) in {:.2} s: {}, {}, {}{}",
            elapsed.as_secs_f64(),
            counted(stacks.domains.len() as u64, "domain", "domains"),
            counted(stacks.processes.len() as u64, "process image", "process images"),
            counted(stacks.dns_hosts() as u64, "host", "hosts"),
            if all_hosts.is_empty() {
                " with DNS queries".to_owned()
            } else {
                format!(" with DNS queries ({} in all)", all_hosts.len())
            },
        );
        let in_stacks = stack.as_ref().map_or(0, |s| crate::stack::DIMENSIONS.iter().map(|d| s.not_listed(*d)).max().unwrap_or(0));
        let not_listed = stacks.not_listed.max(in_stacks);
        if not_listed > 0 {
            eprintln!(
                "dnshunt: stats: a table has more than {} distinct values: the queries of further values ({}) are counted but not listed ({})",
                max_values,
                dnshunt_report::group(not_listed),
                if max_values < args.max_values {
                    format!(
                        "lowered from --max-values {} by --memory-budget {} MiB; raise the budget",
                        args.max_values, args.memory_budget
                    )
                } else {
                    "--max-values raises the bound, at about 130 bytes a value".to_owned()
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One wire domain's row as text cells (with its first and last times for CSV).
fn wire_cells(r: dnshunt_report::wire::WireDomainRow, times: bool) -> Vec<String> {
    let mut cells = vec![
        r.domain,
        r.exchanges.to_string(),
        r.clients.to_string(),
        r.distinct_names.to_string(),
        r.question_bytes.to_string(),
        r.response_bytes.to_string(),
        r.payload_bytes.to_string(),
        r.nxdomain.to_string(),
    ];
    if times {
        cells.push(r.first_seen.unwrap_or_default());
        cells.push(r.last_seen.unwrap_or_default());
    }
    cells
}

/// The wire DNS table: per domain, exchanges, clients, names, bytes and failures.
fn wire_table(wire: &dnshunt_report::wire::WireDomains, top: usize) -> Table {
    let mut table = Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header([
        format!("domain on the wire ({} distinct)", wire.len()),
        "exchanges".to_owned(),
        "clients".to_owned(),
        "names".to_owned(),
        "question bytes".to_owned(),
        "response bytes".to_owned(),
        "payload bytes".to_owned(),
        "NXDOMAIN".to_owned(),
    ]);
    for r in wire.rows(top) {
        table.add_row(wire_cells(r, false));
    }
    table
}

/// Sysmon EID 22 in every shape's event-id field.
fn is_dns_query_event() -> Value {
    json!({ "bool": { "should": [
        { "term": { "event.code": "22" } },
        { "term": { "winlog.event_id": "22" } },
        { "term": { "event_id": "22" } },
        { "term": { "EventID": "22" } }
    ], "minimum_should_match": 1 } })
}

fn exists(field: &str) -> Value {
    json!({ "exists": { "field": field } })
}

/// Indices per aggregation request when a pattern's indices map fields differently.
const INDICES_PER_REQUEST: usize = 50;

/// Fleet-wide counts for prevalence, pushed down to the cluster: per registered domain and per
/// program, the hosts and events over the whole index pattern (not only the window a hunt
/// reads), and the number of distinct hosts.
pub(crate) struct ClusterCounts {
    pub domains: Vec<(String, u64, u64)>,
    pub processes: Vec<(String, u64, u64)>,
    pub hosts: u64,
}

pub(crate) fn cluster_counts(url: &str, input: &InputArgs) -> Result<ClusterCounts> {
    let mut stacks = Stacks::new(usize::MAX);
    let mut source = Map::new();
    aggregate(url, input, false, &mut stacks, &mut source)?;
    let convert = |map: &BTreeMap<Box<str>, Tally>| -> Vec<(String, u64, u64)> { map.iter().map(|(v, t)| (v.to_string(), t.hosts.len() as u64, t.events)).collect() };
    Ok(ClusterCounts {
        domains: convert(&stacks.domains),
        processes: convert(&stacks.processes),
        hosts: stacks.dns_hosts() as u64,
    })
}

fn pushdown(url: &str, input: &InputArgs, stacks: &mut Stacks, source: &mut Map<String, Value>) -> Result<()> {
    aggregate(url, input, true, stacks, source)
}

/// The composite aggregations of `stats --es`; `window` limits them to `--since`/`--until`.
fn aggregate(url: &str, input: &InputArgs, window: bool, stacks: &mut Stacks, source: &mut Map<String, Value>) -> Result<()> {
    if !input.paths.is_empty() {
        anyhow::bail!("give either files or --es, not both");
    }
    let client = crate::es::connect(url, &input.es)?;
    crate::es::check_pattern(&client, &input.es)?;
    let index = input.es.index.as_str();
    let user_query = crate::es::parse_query(input.es.es_query.as_deref())?;
    let all: Vec<&str> = DOMAIN_FIELDS.iter().chain(HOST_FIELDS).chain(PROCESS_FIELDS).copied().collect();
    let groups = client
        .field_plan(index, &all)
        .with_context(|| format!("reading the fields of {index} at {}", client.url()))?;
    let mut base = vec![is_dns_query_event()];
    if let Some(q) = user_query {
        base.push(q);
    }
    if window && (input.since.is_some() || input.until.is_some()) {
        let mut range = Map::new();
        if let Some(s) = input.since {
            range.insert("gte".into(), json!(s.0));
        }
        if let Some(u) = input.until {
            range.insert("lt".into(), json!(u.0));
        }
        range.insert("format".into(), json!("epoch_millis"));
        base.push(json!({ "range": { TIMESTAMP_FIELD: range } }));
    }
    let page = input.es.page_size.clamp(1, 10_000);
    let (mut pages, mut buckets, mut documents, mut without_domain) = (0u64, 0u64, 0u64, 0u64);
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut unusable: BTreeSet<String> = BTreeSet::new();
    let single = groups.len() == 1;
    for group in &groups {
        let agg = |f: &str| group.fields.get(f).and_then(|c| c.name()).map(str::to_owned);
        unusable.extend(group.fields.iter().filter(|(_, c)| **c == FieldCap::NotAggregatable).map(|(f, _)| f.clone()));
        let hosts: Vec<CompositeSource> = HOST_FIELDS
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                agg(f).map(|field| CompositeSource {
                    name: format!("h{i}"),
                    field,
                    missing_bucket: true,
                })
            })
            .collect();
        let host_of = |keys: &Map<String, Value>| -> String { dnshunt_core::host_key(hosts.iter().find_map(|h| keys.get(&h.name).and_then(Value::as_str)).unwrap_or("")) };
        let targets: Vec<String> = if single {
            vec![index.to_owned()]
        } else {
            group.indices.chunks(INDICES_PER_REQUEST).map(|c| c.join(",")).collect()
        };
        for target in &targets {
            // Each role's fields in order; a document counts for the first field it has.
            for (role, fields) in [("domain", DOMAIN_FIELDS), ("process", PROCESS_FIELDS)] {
                let mut earlier: Vec<&str> = Vec::new();
                for (i, field) in fields.iter().enumerate() {
                    let Some(agg_field) = agg(field) else { continue };
                    let mut filter = base.clone();
                    filter.push(exists(field));
                    if role == "process" {
                        filter.push(json!({ "bool": { "should": DOMAIN_FIELDS.iter().map(|f| exists(f)).collect::<Vec<_>>(), "minimum_should_match": 1 } }));
                    }
                    let must_not: Vec<Value> = earlier.iter().map(|f| exists(f)).collect();
                    let query = json!({ "bool": { "filter": filter, "must_not": must_not } });
                    let mut sources = vec![CompositeSource {
                        name: "v".into(),
                        field: agg_field.clone(),
                        missing_bucket: false,
                    }];
                    sources.extend(hosts.iter().cloned());
                    let reduce_name = role == "domain" && i >= REGISTERED_DOMAIN_FIELDS;
                    let stats = client
                        .composite_each(target, &query, &sources, page, |keys, count| {
                            let Some(value) = keys.get("v").and_then(Value::as_str) else { return };
                            let host = host_of(keys);
                            if role == "domain" {
                                documents += count;
                                let name = reduce_name.then(|| DnsName::new(value));
                                // The same keys as with files: single-label names are no domain.
                                match name.as_ref().map_or(Some(value), DnsName::domain_key) {
                                    Some(domain) => stacks.add_domain(domain, &host, count),
                                    None => without_domain += count,
                                }
                            } else {
                                stacks.add_process(&dnshunt_prevalence::image_key(value), &host, count);
                            }
                        })
                        .with_context(|| format!("aggregating {agg_field} of {index} at {}", client.url()))?;
                    pages += stats.pages;
                    buckets += stats.buckets;
                    used.insert(agg_field);
                    earlier.push(field);
                }
            }
        }
    }
    source.insert("mode".into(), json!("pushdown"));
    source.insert("cluster".into(), json!(client.info().map(|i| i.to_string())));
    source.insert("index".into(), json!(index));
    source.insert("index_groups".into(), json!(groups.len()));
    source.insert("dns_events".into(), json!(documents));
    source.insert("dns_events_without_domain".into(), json!(without_domain));
    source.insert("pages".into(), json!(pages));
    source.insert("buckets".into(), json!(buckets));
    source.insert("fields".into(), json!(used));
    source.insert("unaggregatable_fields".into(), json!(unusable));
    if !unusable.is_empty() && !input.quiet {
        eprintln!(
            "dnshunt: stats: {} in {index} cannot be aggregated (text without a keyword sub-field); documents that have only these are not counted",
            unusable.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_common_first_or_rarest_first() {
        let mut stacks = Stacks::new(10);
        stacks.add_domain("common.example", "a", 5);
        stacks.add_domain("common.example", "b", 5);
        stacks.add_domain("rare.example", "a", 9);
        stacks.add_domain("rarer.example", "a", 1);
        let m = &stacks.domains;
        let r = rows(m, 0, true);
        assert_eq!(r.iter().map(|r| r.value.as_str()).collect::<Vec<_>>(), ["rarer.example", "rare.example", "common.example"]);
        assert_eq!((r[2].hosts, r[2].events), (2, 10));
        assert_eq!(rows(m, 1, true).len(), 1);
        let r = rows(m, 0, false);
        assert_eq!(r.iter().map(|r| r.value.as_str()).collect::<Vec<_>>(), ["common.example", "rare.example", "rarer.example"]);
        assert_eq!(stacks.dns_hosts(), 2);
    }

    #[test]
    fn values_beyond_the_bound_are_counted_not_listed() {
        let mut stacks = Stacks::new(2);
        stacks.add_domain("a.example", "h", 1);
        stacks.add_domain("b.example", "h", 1);
        stacks.add_domain("c.example", "h", 4);
        stacks.add_domain("a.example", "h2", 1);
        assert_eq!(stacks.domains.len(), 2);
        assert_eq!(stacks.not_listed, 4);
        assert_eq!(stacks.domains.get("a.example").map(|t| (t.events, t.hosts.len())), Some((2, 2)));
    }
}

//! Stack counting over files: for each domain (registered domain, else the multi-label name), query name, process image, host,
//! answer record type and query status, how many DNS queries (EID 22) and when first and last
//! seen; for domains also how many distinct hosts. The long-tail view: `dnshunt stats PATH...`
//! prints the most common values, `--rare` the least common.
//!
//! Memory is bounded: at most `max_values` distinct values per dimension are kept (default
//! [`DEFAULT_MAX_VALUES`]; the queries of further values are counted as "not listed"), hosts are
//! interned as 32-bit ids, and nothing grows with the number of events.

use std::collections::HashMap;

use dnshunt_core::{Event, RecordType, Timestamp};
use serde::Serialize;

/// Distinct values kept per dimension unless `stats --max-values` says otherwise (about 130
/// bytes each): `stats` took 652 MB at 10 million distinct names (`scripts/bench-names.sh`),
/// where the query-name and domain tables, and the fleet view's domain table, are full.
pub const DEFAULT_MAX_VALUES: usize = 1_000_000;

/// One counted value.
#[derive(Clone, Debug)]
struct Count {
    events: u64,
    first: Timestamp,
    last: Timestamp,
    /// Distinct hosts (interned ids, sorted), kept only for the dimensions that report them.
    hosts: Option<Vec<u32>>,
}

impl Count {
    fn hosts(&self) -> Option<usize> {
        self.hosts.as_ref().map(Vec::len)
    }
}

/// The dimensions counted, in the order they are printed.
pub const DIMENSIONS: [Dimension; 6] = [
    Dimension::RegisteredDomain,
    Dimension::QueryName,
    Dimension::Image,
    Dimension::Host,
    Dimension::RecordType,
    Dimension::Status,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dimension {
    RegisteredDomain,
    QueryName,
    Image,
    Host,
    RecordType,
    Status,
}

impl Dimension {
    pub fn key(self) -> &'static str {
        match self {
            Dimension::RegisteredDomain => "registered_domain",
            Dimension::QueryName => "query_name",
            Dimension::Image => "image",
            Dimension::Host => "host",
            Dimension::RecordType => "record_type",
            Dimension::Status => "status",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Dimension::RegisteredDomain => "registered domain",
            Dimension::QueryName => "query name",
            Dimension::Image => "process image",
            Dimension::Host => "host",
            Dimension::RecordType => "answer record type",
            Dimension::Status => "query status",
        }
    }

    fn tracks_hosts(self) -> bool {
        matches!(self, Dimension::RegisteredDomain | Dimension::QueryName | Dimension::Image)
    }
}

/// One row of output.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StackRow {
    pub value: String,
    pub count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts: Option<usize>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
}

/// Counts per dimension.
#[derive(Debug)]
pub struct StackCounter {
    tables: HashMap<Dimension, HashMap<Box<str>, Count>>,
    /// Per dimension, queries of values not kept because `max_values` were already.
    not_listed: HashMap<Dimension, u64>,
    hosts: crate::stats::HostIds,
    max_values: usize,
    pub dns_events: u64,
}

impl StackCounter {
    pub fn new(max_values: usize) -> StackCounter {
        StackCounter {
            tables: HashMap::new(),
            not_listed: HashMap::new(),
            hosts: crate::stats::HostIds::default(),
            max_values: max_values.max(1),
            dns_events: 0,
        }
    }

    fn add(&mut self, dim: Dimension, value: &str, host: u32, time: Timestamp) {
        let table = self.tables.entry(dim).or_default();
        if !table.contains_key(value) && table.len() >= self.max_values {
            *self.not_listed.entry(dim).or_default() += 1;
            return;
        }
        let count = match table.get_mut(value) {
            Some(c) => c,
            None => table.entry(value.into()).or_insert(Count {
                events: 0,
                first: time,
                last: time,
                hosts: dim.tracks_hosts().then(Vec::new),
            }),
        };
        count.events += 1;
        count.first = count.first.min(time);
        count.last = count.last.max(time);
        if let Some(hosts) = count.hosts.as_mut() {
            if let Err(at) = hosts.binary_search(&host) {
                hosts.insert(at, host);
            }
        }
    }

    /// Queries of values beyond `max_values` in a dimension (not listed, but counted).
    pub fn not_listed(&self, dim: Dimension) -> u64 {
        self.not_listed.get(&dim).copied().unwrap_or(0)
    }

    /// Counts one event (only DNS queries count).
    pub fn observe(&mut self, event: &Event) {
        let Some(q) = event.dns() else { return };
        self.dns_events += 1;
        // The keys `hunt`'s prevalence, the report and `sysmon-config` count under: one host
        // whether named short or in full, images case-insensitive, and no domain for
        // single-label names (`wpad`, `localhost`).
        let host_key = dnshunt_core::host_key(event.host.as_deref().unwrap_or(""));
        let host_name = if host_key.is_empty() { "-" } else { host_key.as_str() };
        let host = self.hosts.id(host_name);
        let time = event.time;
        if let Some(domain) = q.query.domain_key() {
            self.add(Dimension::RegisteredDomain, domain, host, time);
        }
        self.add(Dimension::QueryName, q.query.as_str(), host, time);
        let image = q.process.image.as_deref().map(dnshunt_prevalence::image_key);
        self.add(Dimension::Image, image.as_deref().unwrap_or("-"), host, time);
        self.add(Dimension::Host, host_name, host, time);
        // Each distinct type once; named only after de-duplicating the codes.
        let mut types: Vec<RecordType> = q.answers.iter().map(|a| a.rtype).collect();
        types.sort_unstable();
        types.dedup();
        if types.is_empty() {
            self.add(Dimension::RecordType, "(no answers)", host, time);
        }
        for t in types {
            self.add(Dimension::RecordType, &t.to_string(), host, time);
        }
        let status = match q.status.name() {
            Some(name) => format!("{} {name}", q.status.0),
            None => q.status.0.to_string(),
        };
        self.add(Dimension::Status, &status, host, time);
    }

    /// Distinct values of a dimension.
    pub fn distinct(&self, dim: Dimension) -> usize {
        self.tables.get(&dim).map_or(0, HashMap::len)
    }

    /// The rows of one dimension: most common first, or least common first with `rare`; at
    /// most `top` (0: all). Ties are broken by value so the output is stable.
    pub fn rows(&self, dim: Dimension, top: usize, rare: bool) -> Vec<StackRow> {
        let Some(table) = self.tables.get(&dim) else { return Vec::new() };
        // Sorted and cut before the rows are built: only the kept values are formatted.
        let mut counts: Vec<(&Box<str>, &Count)> = table.iter().collect();
        if rare {
            counts.sort_by(|(av, a), (bv, b)| (a.events, a.hosts(), av).cmp(&(b.events, b.hosts(), bv)));
        } else {
            counts.sort_by(|(av, a), (bv, b)| b.events.cmp(&a.events).then_with(|| b.hosts().cmp(&a.hosts())).then_with(|| av.cmp(bv)));
        }
        if top > 0 {
            counts.truncate(top);
        }
        counts
            .into_iter()
            .map(|(value, c)| StackRow {
                value: value.to_string(),
                count: c.events,
                hosts: c.hosts(),
                first_seen: Some(c.first.to_string()),
                last_seen: Some(c.last.to_string()),
            })
            .collect()
    }

    /// Every dimension as JSON: `{ "registered_domain": { "distinct": n, "rows": [...] }, ... }`.
    pub fn to_json(&self, top: usize, rare: bool) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for dim in DIMENSIONS {
            map.insert(
                dim.key().to_owned(),
                serde_json::json!({
                    "distinct": self.distinct(dim),
                    "not_listed_queries": self.not_listed(dim),
                    "rows": self.rows(dim, top, rare),
                }),
            );
        }
        serde_json::Value::Object(map)
    }

    /// Every dimension as CSV rows: `dimension,value,count,hosts,first_seen,last_seen`.
    pub fn write_csv(&self, out: &mut dyn std::io::Write, top: usize, rare: bool) -> std::io::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(["dimension", "value", "count", "hosts", "first_seen", "last_seen"])?;
        for dim in DIMENSIONS {
            for r in self.rows(dim, top, rare) {
                w.write_record([
                    dim.key(),
                    &r.value,
                    &r.count.to_string(),
                    &r.hosts.map(|h| h.to_string()).unwrap_or_default(),
                    r.first_seen.as_deref().unwrap_or(""),
                    r.last_seen.as_deref().unwrap_or(""),
                ])?;
            }
        }
        w.flush()
    }

    /// Every dimension as terminal tables.
    pub fn write_tables(&self, out: &mut dyn std::io::Write, top: usize, rare: bool) -> std::io::Result<()> {
        use comfy_table::{presets, ContentArrangement, Table};
        for dim in DIMENSIONS {
            let rows = self.rows(dim, top, rare);
            let mut table = Table::new();
            table.load_style(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
            let with_hosts = dim.tracks_hosts();
            let distinct = match self.not_listed(dim) {
                0 => format!("{} distinct", self.distinct(dim)),
                n => format!("{}+ distinct; {n} queries of further values not listed", self.distinct(dim)),
            };
            let mut header = vec![format!("{} ({distinct})", dim.title()), "DNS queries".to_owned()];
            if with_hosts {
                header.push("hosts".to_owned());
            }
            header.extend(["first seen".to_owned(), "last seen".to_owned()]);
            table.set_header(header);
            for r in rows {
                let mut row = vec![r.value, r.count.to_string()];
                if with_hosts {
                    row.push(r.hosts.unwrap_or(0).to_string());
                }
                row.push(r.first_seen.unwrap_or_default());
                row.push(r.last_seen.unwrap_or_default());
                table.add_row(row);
            }
            writeln!(out, "{table}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use dnshunt_core::{DnsName, DnsQuery, EventKind, Origin, ProcessRef, QueryStatus};
    use std::sync::Arc;

    /// A DNS query event (also used by the `sysmon_config_cmd` tests).
    pub(crate) fn query(name: &str, host: &str, image: &str, ms: i64, status: u32) -> Event {
        let file: Arc<str> = Arc::from("t");
        Event {
            time: Timestamp(ms),
            host: Some(host.into()),
            record_id: None,
            rule_name: None,
            origin: Origin::line(&file, 1),
            kind: EventKind::DnsQuery(DnsQuery {
                process: ProcessRef {
                    image: Some(image.into()),
                    ..ProcessRef::default()
                },
                query: DnsName::new(name),
                status: QueryStatus(status),
                answers: Vec::new(),
                results_raw: String::new(),
            }),
        }
    }

    #[test]
    fn counts_first_last_and_hosts_per_domain() {
        let mut c = StackCounter::new(DEFAULT_MAX_VALUES);
        c.observe(&query("a.example.com", "h1", "C:\\x.exe", 3_000, 0));
        c.observe(&query("b.example.com", "h2", "C:\\x.exe", 1_000, 0));
        c.observe(&query("b.example.com", "h2", "C:\\y.exe", 2_000, 0));
        c.observe(&query("rare.example.org", "h1", "C:\\x.exe", 5_000, 9003));
        let rows = c.rows(Dimension::RegisteredDomain, 0, false);
        assert_eq!(rows[0].value, "example.com");
        assert_eq!((rows[0].count, rows[0].hosts), (3, Some(2)));
        assert_eq!(rows[0].first_seen.as_deref(), Some("1970-01-01T00:00:01.000Z"));
        assert_eq!(rows[0].last_seen.as_deref(), Some("1970-01-01T00:00:03.000Z"));
        let rare = c.rows(Dimension::RegisteredDomain, 1, true);
        assert_eq!(rare.len(), 1);
        assert_eq!(rare[0].value, "example.org");
        assert_eq!(c.distinct(Dimension::QueryName), 3);
        let status = c.rows(Dimension::Status, 0, false);
        assert!(status[0].value.starts_with('0'), "{}", status[0].value);
        assert_eq!(status[1].count, 1);
        let mut csv = Vec::new();
        c.write_csv(&mut csv, 0, false).unwrap();
        let text = String::from_utf8(csv).unwrap();
        assert!(text.starts_with("dimension,value,count,hosts,first_seen,last_seen\n"));
        assert!(text.contains("registered_domain,example.com,3,2,"));
    }

    #[test]
    fn values_beyond_the_bound_are_counted_not_listed() {
        let mut c = StackCounter::new(2);
        for (i, name) in ["a.example.com", "b.example.net", "c.example.org", "a.example.com"].iter().enumerate() {
            c.observe(&query(name, "h1", "C:\\x.exe", i as i64 * 1000, 0));
        }
        assert_eq!(c.distinct(Dimension::QueryName), 2);
        assert_eq!(c.not_listed(Dimension::QueryName), 1, "c.example.org came third");
        let rows = c.rows(Dimension::QueryName, 0, false);
        assert_eq!((rows[0].value.as_str(), rows[0].count), ("a.example.com", 2), "kept values go on counting");
        assert_eq!(c.not_listed(Dimension::Host), 0);
        let json = c.to_json(0, false);
        assert_eq!(json["query_name"]["not_listed_queries"], 1);
    }
}

//! Reading Sysmon events straight from an Elasticsearch or OpenSearch index pattern.
//!
//! A point in time (Elasticsearch `/_pit`, OpenSearch `/_search/point_in_time`) freezes the
//! pattern's indices; `--slices N` threads each page through one slice of it with
//! `search_after` on a unique, stable sort (`_shard_doc`, or `_doc` then `_id` on OpenSearch
//! before 3.3). Where the cluster has no point in time (older versions, or the API refused),
//! the same slices are read with sliced scroll. Every page is one search answer that goes
//! through the same document visitor as files ([`crate::json_visit::parse_document`]), so
//! every document shape the file readers handle (Winlogbeat 6, ECS, flat, ...) is understood;
//! each hit's origin is the index pattern plus the hit's `_index` and `_id`.
//!
//! Only the fields the visitor reads are asked for (`_source` filtering, [`SOURCE_INCLUDES`]).
//! `--since/--until` become a range on `@timestamp`, widened by [`TIME_SLACK_MS`] on both
//! sides because `@timestamp` is often the ingestion time; the exact filter on the event time
//! (`UtcTime`) is applied to each event as for files. A resume point (the incremental
//! checkpoint: the newest `@timestamp` of the last run and the documents at exactly that
//! time) becomes `@timestamp >= newest` minus those documents. Documents without
//! `@timestamp` cannot be placed in time: they match every run and are counted.
//!
//! A failure of any slice (after the client's retries) stops all slices and fails the read:
//! a partial read is never reported as complete.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_channel::{bounded, Receiver, Sender};
use dnshunt_core::{Origin, Timestamp};
use dnshunt_elastic::search::{page_meta, PageMeta, PitOpen};
use dnshunt_elastic::{Client, EsError};
use serde_json::{json, Value};

use crate::json_visit;
use crate::read::ReadOptions;
use crate::work::{BatchBuilder, FileCtx, Message};

/// The `_source` fields the document visitor reads, for every shape: top-level objects of the
/// ECS and Winlogbeat shapes (small, and new routes inside them keep working), Winlogbeat 6
/// `event_data`, the `evtx` crate's `Event`, and the flat shape's top-level Sysmon fields.
/// Left out on purpose: ECS/Winlogbeat `message` (the rendered text repeats the fields; only
/// NXLog's `Message` is needed, for `ProcessId`), `agent`, `ecs`, `log`, `related`, `file`.
pub const SOURCE_INCLUDES: &[&str] = &[
    "@timestamp",
    "winlog",
    "event",
    // Zeek's and Suricata's documents (Filebeat, Elastic Agent): the TLS server name and
    // Suricata's event type.
    "tls",
    "suricata",
    "host",
    "dns",
    "process",
    "source",
    "destination",
    "network",
    "user",
    "sysmon",
    "event_data",
    "EventData",
    "Event",
    "EventID",
    "event_id",
    "Channel",
    "log_name",
    "SourceName",
    "source_name",
    "ProviderName",
    "Hostname",
    "computer_name",
    "Computer",
    "RecordNumber",
    "record_number",
    "EventRecordID",
    // Flat shapes: every Sysmon field at the top level.
    "RuleName",
    "UtcTime",
    "ProcessGuid",
    "ProcessId",
    "Image",
    "User",
    "FileVersion",
    "Description",
    "Product",
    "Company",
    "OriginalFileName",
    "CommandLine",
    "CurrentDirectory",
    "LogonGuid",
    "LogonId",
    "TerminalSessionId",
    "IntegrityLevel",
    "Hashes",
    "ParentProcessGuid",
    "ParentProcessId",
    "ParentImage",
    "ParentCommandLine",
    "ParentUser",
    "Protocol",
    "Initiated",
    "SourceIsIpv6",
    "SourceIp",
    "SourceHostname",
    "SourcePort",
    "SourcePortName",
    "DestinationIsIpv6",
    "DestinationIp",
    "DestinationHostname",
    "DestinationPort",
    "DestinationPortName",
    "QueryName",
    "QueryStatus",
    "QueryResults",
    "Message",
];

/// Fields that hold a DNS query's registered domain or name, best first, per shape: ECS
/// (`dns.question.registered_domain`, set by Winlogbeat's pipeline), then the query name of
/// ECS, Winlogbeat 7/8 without the pipeline, Winlogbeat 6, and flat shapes.
pub const DOMAIN_FIELDS: &[&str] = &[
    "dns.question.registered_domain",
    "dns.question.name",
    "winlog.event_data.QueryName",
    "event_data.QueryName",
    "QueryName",
];

/// How many of [`DOMAIN_FIELDS`] are registered domains already (the rest are query names,
/// reduced to their registered domain by the reader).
pub const REGISTERED_DOMAIN_FIELDS: usize = 1;

/// Fields that name the endpoint, in the order the readers prefer them (the event's
/// `Computer` over the shipper's `host.name`).
pub const HOST_FIELDS: &[&str] = &["winlog.computer_name", "computer_name", "Hostname", "Computer", "host.name"];

/// Fields that hold the querying process's image path.
pub const PROCESS_FIELDS: &[&str] = &["process.executable", "winlog.event_data.Image", "event_data.Image", "Image"];

/// The time field of the range filter and of the checkpoint.
pub const TIMESTAMP_FIELD: &str = "@timestamp";

/// `--since/--until` are widened by this much on `@timestamp` (ingestion lag and clock skew);
/// the exact filter on the event time is applied locally.
pub const TIME_SLACK_MS: i64 = 86_400_000;

/// Where the last run stopped: the newest `@timestamp` (ms) it read and the documents
/// (`_index`, `_id`) at exactly that time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resume {
    pub newest_ms: i64,
    pub ids: Vec<(String, String)>,
}

/// What to read.
#[derive(Clone, Debug)]
pub struct EsReadConfig {
    /// Index pattern (`winlogbeat-*`, a data stream, an alias, a comma-separated list).
    pub index: String,
    /// Parallel slices (threads), at least 1.
    pub slices: usize,
    /// Hits per page.
    pub page_size: usize,
    /// How long the cluster keeps the point in time or scroll between two pages (`5m`).
    pub keep_alive: String,
    /// A query DSL clause added to the filter (`{"term": {"host.name": "pc1"}}`).
    pub query: Option<Value>,
    /// Continue after a checkpoint.
    pub resume: Option<Resume>,
    /// Use sliced scroll even where point in time exists.
    pub force_scroll: bool,
    /// Ask for the whole `_source` instead of [`SOURCE_INCLUDES`]: more bytes, but the cluster
    /// skips re-serialising every document (measured: 2 to 3 times less cluster CPU per hit).
    pub full_source: bool,
}

impl EsReadConfig {
    pub fn new(index: impl Into<String>) -> EsReadConfig {
        EsReadConfig {
            index: index.into(),
            slices: 1,
            page_size: 1000,
            keep_alive: "5m".to_owned(),
            query: None,
            resume: None,
            force_scroll: false,
            full_source: false,
        }
    }
}

/// How the read went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EsReadOutcome {
    /// `point in time` or `scroll (...why...)`.
    pub method: String,
    /// Documents read (hits, whatever they held).
    pub documents: u64,
    pub pages: u64,
    pub bytes: u64,
    /// The newest `@timestamp` read, and the documents at exactly that time.
    pub newest_ms: Option<i64>,
    pub ids_at_newest: Vec<(String, String)>,
    /// Documents without `@timestamp` (they match every incremental run).
    pub without_timestamp: u64,
    /// False when the pipeline stopped listening before everything was read.
    pub complete: bool,
}

impl EsReadOutcome {
    fn absorb(&mut self, other: SliceOutcome) {
        self.documents += other.documents;
        self.pages += other.pages;
        self.bytes += other.bytes;
        self.without_timestamp += other.without_timestamp;
        self.complete &= other.complete;
        match (self.newest_ms, other.newest_ms) {
            (_, None) => {}
            (None, Some(t)) => {
                self.newest_ms = Some(t);
                self.ids_at_newest = other.ids_at_newest;
            }
            (Some(a), Some(b)) if b > a => {
                self.newest_ms = Some(b);
                self.ids_at_newest = other.ids_at_newest;
            }
            (Some(a), Some(b)) if b == a => self.ids_at_newest.extend(other.ids_at_newest),
            _ => {}
        }
    }
}

#[derive(Debug, Default)]
struct SliceOutcome {
    documents: u64,
    pages: u64,
    bytes: u64,
    newest_ms: Option<i64>,
    ids_at_newest: Vec<(String, String)>,
    without_timestamp: u64,
    complete: bool,
}

/// Starts reading in background threads: messages arrive on the receiver like those of file
/// readers (one "file" per slice); the handle returns how the read went, or why it failed.
pub fn spawn(client: Arc<Client>, config: EsReadConfig, options: ReadOptions) -> (Receiver<Message>, JoinHandle<Result<EsReadOutcome, EsError>>) {
    let slices = config.slices.max(1);
    let (tx, rx) = bounded::<Message>(slices * 4);
    let handle = thread::spawn(move || read(&client, &config, &options, slices, tx));
    (rx, handle)
}

/// How many documents a read of `config` will go through (`_count` with the same query), for a
/// progress display; `None` when the cluster does not say.
pub fn count(client: &Client, config: &EsReadConfig, options: &ReadOptions) -> Option<u64> {
    let query = build_query(config.resume.as_ref(), config.query.as_ref(), options.since, options.until);
    let path = format!("/{}/_count", dnshunt_elastic::encode_path_segment(&config.index));
    let body = client
        .json(dnshunt_elastic::Method::POST, &path, Some(&json!({ "query": query })), "counting the documents to read")
        .ok()?;
    body.get("count").and_then(Value::as_u64)
}

fn read(client: &Arc<Client>, config: &EsReadConfig, options: &ReadOptions, slices: usize, out: Sender<Message>) -> Result<EsReadOutcome, EsError> {
    let (pit, method) = if config.force_scroll {
        (None, "scroll (asked for)".to_owned())
    } else {
        match client.open_pit(&config.index, &config.keep_alive)? {
            PitOpen::Opened(id) => (Some(id), "point in time".to_owned()),
            PitOpen::Unsupported(why) => (None, format!("scroll (no point in time: {why})")),
        }
    };
    let query = build_query(config.resume.as_ref(), config.query.as_ref(), options.since, options.until);
    let mut base = json!({
        "size": config.page_size.clamp(1, 10_000),
        "_source": { "includes": SOURCE_INCLUDES },
        "docvalue_fields": [{ "field": TIMESTAMP_FIELD, "format": "epoch_millis" }],
        "query": query,
    });
    if config.full_source {
        base["_source"] = json!(true);
    }
    if pit.is_some() {
        base["sort"] = client.pit_sort();
        // Counting every match costs time the pager does not need (scroll insists on it).
        base["track_total_hits"] = json!(false);
    } else {
        base["sort"] = json!(["_doc"]);
    }
    let base = Arc::new(base);
    let skip: Arc<HashSet<(String, String)>> = Arc::new(config.resume.iter().flat_map(|r| r.ids.iter().cloned()).collect());
    let abort = Arc::new(AtomicBool::new(false));
    let file_name: Arc<str> = Arc::from(format!("es://{}", config.index));
    let distribution = client.info().map_or("cluster".to_owned(), |i| i.distribution.to_string().to_lowercase());
    let format = if pit.is_some() {
        format!("{distribution} pit")
    } else {
        format!("{distribution} scroll")
    };

    let mut workers = Vec::new();
    for slice in 0..slices {
        let name = if slices > 1 {
            format!("{file_name} slice {}/{slices}", slice + 1)
        } else {
            file_name.to_string()
        };
        let _ = out.send(Message::FileStart {
            id: slice as u32,
            name: name.clone(),
            format: format.clone(),
        });
        let ctx = SliceCtx {
            client: client.clone(),
            index: config.index.clone(),
            keep_alive: config.keep_alive.clone(),
            page_size: config.page_size.clamp(1, 10_000),
            base: base.clone(),
            skip: skip.clone(),
            abort: abort.clone(),
            origin_file: file_name.clone(),
            file: FileCtx {
                id: slice as u32,
                name: Arc::from(name),
            },
            slice,
            slices,
            pit: pit.clone(),
            options: options.clone(),
            out: out.clone(),
        };
        workers.push(thread::spawn(move || {
            let result = ctx.run();
            if result.is_err() {
                ctx.abort.store(true, Ordering::SeqCst);
            }
            result
        }));
    }
    drop(out);
    let mut outcome = EsReadOutcome {
        method,
        complete: true,
        ..EsReadOutcome::default()
    };
    let mut first_error: Option<EsError> = None;
    // Elasticsearch may hand out a new point-in-time id with each page: close the newest.
    let mut last_pit_ids: Vec<String> = Vec::new();
    for worker in workers {
        match worker.join() {
            Ok(Ok((slice_outcome, last_pit))) => {
                if let Some(id) = last_pit.filter(|id| !last_pit_ids.contains(id)) {
                    last_pit_ids.push(id);
                }
                outcome.absorb(slice_outcome);
            }
            Ok(Err(EsError::Cancelled)) => {}
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(_) => {
                first_error.get_or_insert(EsError::Protocol {
                    url: client.url().to_owned(),
                    what: "reading".to_owned(),
                    detail: "a slice reader panicked".to_owned(),
                });
            }
        }
    }
    if last_pit_ids.is_empty() {
        last_pit_ids.extend(pit.iter().cloned());
    }
    // Free the point in time now rather than at its keep-alive (best effort: after a failure
    // the cluster may be gone).
    for id in &last_pit_ids {
        let _ = client.close_pit(id);
    }
    match first_error {
        Some(e) => Err(e),
        None => {
            outcome.ids_at_newest.sort();
            outcome.ids_at_newest.dedup();
            Ok(outcome)
        }
    }
}

/// The query: the user's clause, the time range (or the resume point) on `@timestamp` with
/// documents without `@timestamp` let through, and the resume point's documents left out.
pub fn build_query(resume: Option<&Resume>, user: Option<&Value>, since: Option<Timestamp>, until: Option<Timestamp>) -> Value {
    let mut filter = Vec::new();
    let lower = [since.map(|s| s.0.saturating_sub(TIME_SLACK_MS)), resume.map(|r| r.newest_ms)].into_iter().flatten().max();
    let upper = until.map(|u| u.0.saturating_add(TIME_SLACK_MS));
    if lower.is_some() || upper.is_some() {
        let mut range = serde_json::Map::new();
        if let Some(l) = lower {
            range.insert("gte".to_owned(), json!(l));
        }
        if let Some(u) = upper {
            range.insert("lt".to_owned(), json!(u));
        }
        range.insert("format".to_owned(), json!("epoch_millis"));
        filter.push(json!({ "bool": {
            "should": [
                { "range": { TIMESTAMP_FIELD: range } },
                { "bool": { "must_not": { "exists": { "field": TIMESTAMP_FIELD } } } }
            ],
            "minimum_should_match": 1
        }}));
    }
    if let Some(q) = user {
        filter.push(q.clone());
    }
    let mut must_not = Vec::new();
    if let Some(r) = resume {
        let mut per_index: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (index, id) in &r.ids {
            per_index.entry(index).or_default().push(id);
        }
        for (index, ids) in per_index {
            must_not.push(json!({ "bool": { "filter": [ { "term": { "_index": index } }, { "ids": { "values": ids } } ] } }));
        }
    }
    if filter.is_empty() && must_not.is_empty() {
        return json!({ "match_all": {} });
    }
    json!({ "bool": { "filter": filter, "must_not": must_not } })
}

struct SliceCtx {
    client: Arc<Client>,
    index: String,
    keep_alive: String,
    page_size: usize,
    base: Arc<Value>,
    skip: Arc<HashSet<(String, String)>>,
    abort: Arc<AtomicBool>,
    origin_file: Arc<str>,
    file: FileCtx,
    slice: usize,
    slices: usize,
    pit: Option<String>,
    options: ReadOptions,
    out: Sender<Message>,
}

impl SliceCtx {
    fn what(&self) -> String {
        if self.slices > 1 {
            format!("reading {} (slice {}/{})", self.index, self.slice + 1, self.slices)
        } else {
            format!("reading {}", self.index)
        }
    }

    /// Pages through the slice; returns the outcome and the last point-in-time id seen.
    ///
    /// A fetcher thread asks for the next page while this thread normalises the current one
    /// (one page ahead): the cluster and the parser work at the same time.
    fn run(&self) -> Result<(SliceOutcome, Option<String>), EsError> {
        let mut outcome = SliceOutcome {
            complete: true,
            ..SliceOutcome::default()
        };
        let what = self.what();
        let (tx, rx) = bounded::<Result<Vec<u8>, EsError>>(1);
        thread::scope(|scope| {
            let fetcher = scope.spawn(|| self.fetch(tx));
            let mut result = Ok(());
            for page in &rx {
                let step = page.and_then(|bytes| {
                    let meta = self.checked_meta(&bytes, &what)?;
                    self.page(&bytes, &meta, &mut outcome, &what)
                });
                match step {
                    Ok(true) => {}
                    Ok(false) => {
                        outcome.complete = false;
                        break;
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            // Stops the fetcher if it is still going (its next send fails).
            drop(rx);
            let last_pit = fetcher.join().unwrap_or(None);
            result.map(|()| (outcome, last_pit))
        })
    }

    /// Fetches the slice's pages in order and hands them over; returns the newest
    /// point-in-time id. Stops at the last page, at the first error (sent on), when the
    /// receiver is gone, or when another slice failed.
    fn fetch(&self, tx: Sender<Result<Vec<u8>, EsError>>) -> Option<String> {
        let mut body = (*self.base).clone();
        if self.slices > 1 {
            body["slice"] = json!({ "id": self.slice, "max": self.slices });
        }
        let what = self.what();
        match &self.pit {
            Some(pit) => {
                let mut pit_id = pit.clone();
                loop {
                    if self.abort.load(Ordering::SeqCst) {
                        let _ = tx.send(Err(EsError::Cancelled));
                        break;
                    }
                    body["pit"] = json!({ "id": pit_id, "keep_alive": self.keep_alive });
                    let bytes = match self.client.search_raw("/_search", &body, &what) {
                        Ok(b) => b,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            break;
                        }
                    };
                    let next = match self.checked_meta(&bytes, &what) {
                        Ok(meta) => {
                            if let Some(id) = &meta.pit_id {
                                pit_id.clone_from(id);
                            }
                            match meta.hits.last() {
                                None => break,
                                Some(last) => match &last.sort {
                                    Some(sort) => Ok((meta.hits.len() == self.page_size).then(|| sort.clone())),
                                    None => Err(self.client.protocol(&what, "hits carry no `sort` values to continue from")),
                                },
                            }
                        }
                        Err(e) => Err(e),
                    };
                    match next {
                        Ok(after) => {
                            if tx.send(Ok(bytes)).is_err() {
                                break;
                            }
                            match after {
                                // A short page is the last one.
                                None => break,
                                Some(after) => body["search_after"] = Value::Array(after),
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            break;
                        }
                    }
                }
                Some(pit_id)
            }
            None => {
                let mut scroll_id: Option<String> = None;
                let mut next = self.client.scroll_start(&self.index, &self.keep_alive, &body);
                loop {
                    let bytes = match next {
                        Ok(b) => b,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            break;
                        }
                    };
                    let (empty, id) = match page_meta(&bytes) {
                        Ok(meta) => (meta.hits.is_empty(), meta.scroll_id),
                        Err(d) => {
                            let _ = tx.send(Err(self.client.protocol(&what, d)));
                            break;
                        }
                    };
                    if id.is_some() {
                        scroll_id = id;
                    }
                    if empty || tx.send(Ok(bytes)).is_err() {
                        break;
                    }
                    if self.abort.load(Ordering::SeqCst) {
                        let _ = tx.send(Err(EsError::Cancelled));
                        break;
                    }
                    next = match scroll_id.as_deref() {
                        Some(id) => self.client.scroll_next(id, &self.keep_alive),
                        None => Err(self.client.protocol(&what, "scroll answer has no `_scroll_id`")),
                    };
                }
                if let Some(id) = scroll_id {
                    let _ = self.client.clear_scroll(&[id]);
                }
                None
            }
        }
    }

    fn checked_meta<'b>(&self, bytes: &'b [u8], what: &str) -> Result<PageMeta<'b>, EsError> {
        let meta = page_meta(bytes).map_err(|d| self.client.protocol(what, d))?;
        if meta.failed_shards > 0 {
            return Err(self.client.protocol(
                what,
                format!(
                    "{} shard(s) failed, so documents would be missing: {}",
                    meta.failed_shards,
                    meta.shard_failure.as_deref().unwrap_or("no reason given")
                ),
            ));
        }
        if meta.timed_out {
            return Err(self.client.protocol(what, "the search timed out on the cluster, so documents would be missing"));
        }
        Ok(meta)
    }

    /// Normalises one page's hits and sends them; false when the pipeline stopped listening.
    fn page(&self, bytes: &[u8], meta: &PageMeta<'_>, outcome: &mut SliceOutcome, what: &str) -> Result<bool, EsError> {
        let mut records = Vec::with_capacity(meta.hits.len());
        json_visit::parse_document(bytes, &mut records).map_err(|e| self.client.protocol(what, format!("search answer: {e}")))?;
        if records.len() != meta.hits.len() {
            return Err(self
                .client
                .protocol(what, format!("{} hits but {} records in a search answer", meta.hits.len(), records.len())));
        }
        let mut batch = BatchBuilder::new(&self.file, &self.options);
        batch.add_bytes(bytes.len() as u64);
        outcome.pages += 1;
        outcome.bytes += bytes.len() as u64;
        let origin = Origin {
            file: self.origin_file.clone(),
            line: None,
            record: None,
            hit: None,
        };
        for (raw, hit) in records.into_iter().zip(&meta.hits) {
            if !self.skip.is_empty() && self.skip.contains(&(hit.index.to_string(), hit.id.to_string())) {
                continue;
            }
            outcome.documents += 1;
            match hit.timestamp_ms {
                Some(t) if outcome.newest_ms.is_none_or(|n| t > n) => {
                    outcome.newest_ms = Some(t);
                    outcome.ids_at_newest.clear();
                    outcome.ids_at_newest.push((hit.index.to_string(), hit.id.to_string()));
                }
                Some(t) if outcome.newest_ms == Some(t) => outcome.ids_at_newest.push((hit.index.to_string(), hit.id.to_string())),
                Some(_) => {}
                None => outcome.without_timestamp += 1,
            }
            batch.record(raw, origin.clone());
        }
        Ok(batch.flush(&self.out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnshunt_core::{normalize, Outcome};

    /// Keeps only the parts of a document that `_source` filtering with `includes` keeps.
    fn filter_source(value: &Value, path: &str, includes: &[&str]) -> Option<Value> {
        let keep_all = includes.iter().any(|inc| path == *inc || path.starts_with(&format!("{inc}.")));
        if keep_all {
            return Some(value.clone());
        }
        match value {
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (k, v) in map {
                    let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                    let deeper = includes.iter().any(|inc| inc.starts_with(&format!("{p}.")) || *inc == p);
                    if deeper {
                        if let Some(kept) = filter_source(v, &p, includes) {
                            out.insert(k.clone(), kept);
                        }
                    }
                }
                (!out.is_empty()).then_some(Value::Object(out))
            }
            _ => None,
        }
    }

    fn events_of(line: &[u8]) -> Vec<String> {
        let mut records = Vec::new();
        json_visit::parse_document(line, &mut records).unwrap();
        let file: Arc<str> = Arc::from("x");
        records
            .into_iter()
            .map(|raw| match normalize(raw, Origin::line(&file, 1), &mut Vec::new()) {
                Ok(Outcome::Event(e)) => serde_json::to_string(&e).unwrap(),
                Ok(other) => format!("{other:?}"),
                Err(bad) => format!("bad: {}", bad.reason),
            })
            .collect()
    }

    /// `_source` filtering must not change a single event of any seed shape: the include list
    /// and the routing table of `json_visit` agree.
    #[test]
    fn source_filtering_keeps_every_field_the_readers_use() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/seed");
        let mut checked = 0;
        for name in [
            "ecs.ndjson",
            "winlogbeat6.ndjson",
            "winlogbeat8_raw.ndjson",
            "flat.ndjson",
            "nxlog.ndjson",
            "evtx_json.ndjson",
        ] {
            let text = std::fs::read_to_string(format!("{dir}/{name}")).unwrap();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let doc: Value = serde_json::from_str(line).unwrap();
                let filtered = filter_source(&doc, "", SOURCE_INCLUDES).unwrap_or(json!({}));
                let full = events_of(line.as_bytes());
                let cut = events_of(filtered.to_string().as_bytes());
                assert_eq!(full, cut, "{name}: filtering changed the event of {line}");
                checked += 1;
            }
        }
        assert_eq!(checked, 6 * 14);
    }

    #[test]
    fn query_combines_range_resume_and_user_clause() {
        assert_eq!(build_query(None, None, None, None), json!({ "match_all": {} }));
        let resume = Resume {
            newest_ms: 1_000_000_000_000,
            ids: vec![("a".into(), "1".into()), ("b".into(), "2".into()), ("a".into(), "3".into())],
        };
        let user = json!({ "term": { "host.name": "pc1" } });
        let q = build_query(Some(&resume), Some(&user), Some(Timestamp(900_000_000_000)), Some(Timestamp(2_000_000_000_000)));
        let range = &q["bool"]["filter"][0]["bool"]["should"][0]["range"]["@timestamp"];
        // The resume point is later than --since minus the slack: it wins.
        assert_eq!(range["gte"], json!(1_000_000_000_000i64));
        assert_eq!(range["lt"], json!(2_000_000_000_000i64 + TIME_SLACK_MS));
        assert_eq!(q["bool"]["filter"][1], user);
        assert_eq!(q["bool"]["must_not"][0]["bool"]["filter"][1]["ids"]["values"], json!(["1", "3"]));
        assert_eq!(q["bool"]["must_not"][1]["bool"]["filter"][0]["term"]["_index"], json!("b"));
    }

    #[test]
    fn outcomes_of_slices_merge_on_the_newest_time() {
        let mut total = EsReadOutcome {
            complete: true,
            ..EsReadOutcome::default()
        };
        let slice = |t: i64, id: &str| SliceOutcome {
            documents: 2,
            newest_ms: Some(t),
            ids_at_newest: vec![("i".into(), id.into())],
            complete: true,
            ..SliceOutcome::default()
        };
        total.absorb(slice(5, "a"));
        total.absorb(slice(7, "b"));
        total.absorb(slice(7, "c"));
        total.absorb(slice(6, "d"));
        assert_eq!(total.documents, 8);
        assert_eq!(total.newest_ms, Some(7));
        assert_eq!(total.ids_at_newest, vec![("i".into(), "b".into()), ("i".into(), "c".into())]);
    }
}

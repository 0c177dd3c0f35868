//! Hunting straight from a real OpenSearch node, and writing findings back to it.
//!
//! The node comes from `scripts/test.sh` (`testnode/opensearch/`), which exports its URL as
//! `DNSHUNT_TEST_OPENSEARCH`. Without it these tests print "skipped" and pass, unless `CI` is
//! set. Every test uses indices of its own (tests run in parallel) and deletes them; nothing
//! but 127.0.0.1 is contacted.
//!
//! What is proven: the seed fixtures in three shapes (ECS, Winlogbeat 6, flat) and the
//! Security-Datasets files in their original shapes give the same findings and counts read from
//! the cluster (point in time with slices and small pages, and sliced scroll) as read from the
//! files; findings are indexed once after two runs; the checkpoint makes a second run read
//! nothing new, loses nothing at the boundary, and a retried increment does not count twice;
//! pushed-down stack counts equal the local ones; credentials never show; a cluster failing
//! mid-run fails the run without advancing the checkpoint; and a node stopped mid-run and
//! restarted loses nothing and duplicates nothing.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{fixture, run_with, shared_data_or_skip, Counts, Run, TempDir};
use dnshunt_elastic::testkit::{CannedServer, Rule};
use dnshunt_elastic::{Client, ClientConfig, Method};
use serde_json::{json, Value};

const SKIPPED: &str = "skipped: no test node (set DNSHUNT_TEST_OPENSEARCH or run scripts/test.sh)";

/// The test node's URL, or `None` (after saying so) when there is none; on CI a missing node
/// is a failure.
fn node(test: &str) -> Option<String> {
    match std::env::var("DNSHUNT_TEST_OPENSEARCH").ok().filter(|v| !v.trim().is_empty()) {
        Some(url) => {
            let url = url.trim().trim_end_matches('/').to_owned();
            assert!(
                url.starts_with("http://127.0.0.1:") || url.starts_with("http://localhost:"),
                "{test}: the test node must be on 127.0.0.1, not {url}"
            );
            Some(url)
        }
        None if std::env::var_os("CI").is_some() => panic!("{test}: DNSHUNT_TEST_OPENSEARCH is not set (CI is set, so this is a failure)"),
        None => {
            println!("{SKIPPED}");
            None
        }
    }
}

fn client(url: &str) -> Client {
    let mut config = ClientConfig::new(url);
    config.timeout = Duration::from_secs(120);
    Client::connect(&config).expect("the test node answers")
}

/// A unique lower-case name for this test process.
fn unique(label: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("dnshunt-it-{}-{}-{label}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// How a test index maps documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mapping {
    /// Values kept as shipped: every string, number and boolean a keyword (so documents of one
    /// file whose fields change type from line to line all load), `@timestamp` a date; two
    /// shards, so paging must break ties across shards.
    Raw,
    /// Whatever OpenSearch's dynamic mapping makes of it (text with `.keyword` sub-fields).
    Dynamic,
}

/// A test index (or several, by prefix), deleted when dropped.
struct Indices {
    client: Client,
    names: Vec<String>,
}

impl Indices {
    fn new(url: &str) -> Indices {
        Indices {
            client: client(url),
            names: Vec::new(),
        }
    }

    fn create(&mut self, name: &str, mapping: Mapping) {
        let body = match mapping {
            Mapping::Raw => json!({
                "settings": { "number_of_shards": 2, "number_of_replicas": 0, "index.mapping.total_fields.limit": 10000 },
                "mappings": {
                    "date_detection": false,
                    "dynamic_templates": [
                        { "strings": { "match_mapping_type": "string", "mapping": { "type": "keyword", "ignore_above": 4096 } } },
                        { "longs": { "match_mapping_type": "long", "mapping": { "type": "keyword" } } },
                        { "doubles": { "match_mapping_type": "double", "mapping": { "type": "keyword" } } },
                        { "booleans": { "match_mapping_type": "boolean", "mapping": { "type": "keyword" } } }
                    ],
                    "properties": { "@timestamp": { "type": "date" } }
                }
            }),
            Mapping::Dynamic => json!({ "settings": { "number_of_shards": 1, "number_of_replicas": 0 } }),
        };
        self.client
            .json(Method::PUT, &format!("/{name}"), Some(&body), "creating a test index")
            .expect("create index");
        self.names.push(name.to_owned());
    }

    /// Bulk-loads JSON lines as they are (ids chosen by the cluster, as Winlogbeat does).
    fn load_lines(&self, name: &str, lines: &[&str]) {
        for chunk in lines.chunks(2000) {
            let mut body = String::new();
            for line in chunk {
                body.push_str("{\"index\":{}}\n");
                body.push_str(line.trim());
                body.push('\n');
            }
            let reply = self
                .client
                .request(
                    Method::POST,
                    &format!("/{name}/_bulk?refresh=true"),
                    Some((body.as_bytes(), "application/x-ndjson")),
                    "loading",
                )
                .expect("bulk load");
            let answer: Value = serde_json::from_slice(&reply.body).expect("bulk answer");
            if answer["errors"] == json!(true) {
                let first = answer["items"].as_array().unwrap().iter().find(|i| i["index"]["error"].is_object()).cloned();
                panic!("loading {name}: documents were rejected, e.g. {first:?}");
            }
        }
    }

    fn load_file(&self, name: &str, path: &Path) -> usize {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        self.load_lines(name, &lines);
        lines.len()
    }

    fn count(&self, name: &str) -> u64 {
        let _ = self.client.request(Method::POST, &format!("/{name}/_refresh"), None, "refresh");
        let answer = self.client.json(Method::GET, &format!("/{name}/_count"), None, "count").expect("count");
        answer["count"].as_u64().unwrap()
    }

    /// Documents of one `dnshunt.kind` (`finding` or `incident`) in a findings index.
    fn count_kind(&self, name: &str, kind: &str) -> u64 {
        let _ = self.client.request(Method::POST, &format!("/{name}/_refresh"), None, "refresh");
        let body = json!({ "query": { "term": { "dnshunt.kind": kind } } });
        let answer = self.client.json(Method::POST, &format!("/{name}/_count"), Some(&body), "count").expect("count");
        answer["count"].as_u64().unwrap()
    }

    /// Registers an index created by someone else (the findings sink) for deletion.
    fn adopt(&mut self, name: &str) {
        self.names.push(name.to_owned());
    }
}

impl Drop for Indices {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = self.client.request(Method::DELETE, &format!("/{name}"), None, "cleanup");
            let _ = self.client.request(Method::DELETE, &format!("/_index_template/{name}"), None, "cleanup");
        }
    }
}

fn os<'a>(args: &[&'a str]) -> Vec<&'a OsStr> {
    args.iter().map(|a| OsStr::new(*a)).collect()
}

/// `dnshunt hunt ARGS --format jsonl -q --summary-json …`
fn hunt(args: &[&str]) -> Run {
    let mut all = vec!["hunt", "--format", "jsonl", "-q", "--no-progress"];
    all.extend_from_slice(args);
    run_with(&os(&all), true, None)
}

/// (id, detector, count) of every finding, sorted.
fn findings(run: &Run) -> Vec<(String, String, u64)> {
    let mut out: Vec<(String, String, u64)> = run
        .json_lines()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_owned(),
                f["detector"].as_str().unwrap().to_owned(),
                f["count"].as_u64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[track_caller]
fn assert_same_findings(files: &Run, cluster: &Run, what: &str) {
    files.assert_exit(0);
    cluster.assert_exit(0);
    let (a, b) = (findings(files), findings(cluster));
    assert!(!a.is_empty(), "{what}: the files give findings");
    assert_eq!(a, b, "{what}: findings from the files vs from the cluster");
    let (ta, tb) = (files.read().totals, cluster.read().totals);
    assert_eq!(ta, tb, "{what}: event counts from the files vs from the cluster");
}

#[test]
fn seed_shapes_read_from_the_cluster_give_the_same_findings_as_the_files() {
    let Some(url) = node("seed_shapes_read_from_the_cluster_give_the_same_findings_as_the_files") else {
        return;
    };
    let mut indices = Indices::new(&url);
    for shape in ["ecs", "winlogbeat6", "flat"] {
        let index = unique(&format!("seed-{shape}"));
        indices.create(&index, Mapping::Raw);
        let file = fixture(&format!("seed/{shape}.ndjson"));
        assert_eq!(indices.load_file(&index, &file), 14);
        let from_files = hunt(&[file.to_str().unwrap()]);
        assert_eq!(from_files.read().totals, Counts::seed());
        let variants: [&[&str]; 4] = [
            &[],
            &["--slices", "3", "--page-size", "2"],
            &["--es-scroll", "--slices", "2", "--page-size", "3"],
            &["--es-full-source", "--page-size", "4"],
        ];
        for extra in variants {
            let mut args = vec!["--es", &url, "--index", &index, "--no-checkpoint"];
            args.extend_from_slice(extra);
            let from_cluster = hunt(&args);
            assert_same_findings(&from_files, &from_cluster, &format!("{shape} {extra:?}"));
            // Every piece of evidence points at its index and document.
            for f in from_cluster.json_lines() {
                for ev in f["evidence"].as_array().unwrap() {
                    assert_eq!(ev["origin"]["file"], json!(format!("es://{index}")), "{ev}");
                    assert_eq!(ev["origin"]["index"], json!(index), "{ev}");
                    assert!(ev["origin"]["id"].as_str().is_some_and(|id| !id.is_empty()), "{ev}");
                }
            }
            let files_listed = from_cluster.read().files.len();
            let slices = extra.iter().position(|a| *a == "--slices").map_or(1, |i| extra[i + 1].parse().unwrap());
            assert_eq!(files_listed, slices, "one summary entry per slice");
        }
        // `events` reads the same events.
        let mut args = os(&["events", "--format", "jsonl", "-q", "--es", &url, "--index", &index]);
        args.extend(os(&["--slices", "2"]));
        let events = run_with(&args, true, None);
        events.assert_exit(0);
        assert_eq!(events.json_lines().len(), 13);
        assert_eq!(events.read().totals, Counts::seed());
    }
}

/// Zeek and Suricata documents as Filebeat ships them: read from the cluster, they give the
/// same wire events and findings as from a file.
#[test]
fn zeek_and_suricata_documents_read_from_the_cluster_give_the_same_findings_as_a_file() {
    let Some(url) = node("zeek_and_suricata_documents_read_from_the_cluster_give_the_same_findings_as_a_file") else {
        return;
    };
    let mut indices = Indices::new(&url);
    let index = unique("filebeat-wire");
    indices.create(&index, Mapping::Dynamic);
    let lines = common::filebeat_wire_lines();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    indices.load_lines(&index, &refs);
    let dir = common::TempDir::new("filebeat-wire-es");
    let file = dir.write("filebeat.ndjson", (lines.join("\n") + "\n").as_bytes());
    let from_file = hunt(&[file.to_str().unwrap()]);
    let from_cluster = hunt(&["--es", &url, "--index", &index, "--no-checkpoint"]);
    assert_same_findings(&from_file, &from_cluster, "filebeat zeek/suricata");
    assert_eq!(from_cluster.read().totals.wire_dns, 41);
    assert!(findings(&from_cluster).iter().any(|(_, d, _)| d == "wire_tunnel"));
}

/// Every `.jsonl` file of the Security-Datasets extracts, per sub-folder.
fn security_dataset_files(data: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut out: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for sub in ["atomic", "lsass_campaigns", "winlogbeat6_shape"] {
        let dir = data.join("security-datasets").join(sub);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "jsonl")).collect();
        files.sort();
        if !files.is_empty() {
            out.insert(sub.replace('_', "-"), files);
        }
    }
    out
}

#[test]
fn security_datasets_read_from_the_cluster_give_the_same_findings_as_the_files() {
    let test = "security_datasets_read_from_the_cluster_give_the_same_findings_as_the_files";
    let Some(url) = node(test) else { return };
    let Some(data) = shared_data_or_skip(test) else { return };
    let groups = security_dataset_files(&data);
    assert!(!groups.is_empty(), "no Security-Datasets files under {}", data.display());
    let mut indices = Indices::new(&url);
    let prefix = unique("sd");
    let mut all_files: Vec<String> = Vec::new();
    let mut docs = 0;
    for (group, files) in &groups {
        let index = format!("{prefix}-{group}");
        indices.create(&index, Mapping::Raw);
        for f in files {
            docs += indices.load_file(&index, f);
            all_files.push(f.to_str().unwrap().to_owned());
        }
    }
    let mut file_args: Vec<&str> = all_files.iter().map(String::as_str).collect();
    let from_files = hunt(&file_args);
    let pattern = format!("{prefix}-*");
    let from_cluster = hunt(&["--es", &url, "--index", &pattern, "--no-checkpoint", "--slices", "2", "--page-size", "500"]);
    assert_same_findings(&from_files, &from_cluster, "Security-Datasets");
    assert_eq!(from_cluster.read().totals.events() as usize, docs, "every document is an EID 1/3/22 event");
    // The same with a time window: the exact UtcTime filter is applied to events from the
    // cluster too.
    file_args.extend(["--since", "2020-10-22", "--until", "2020-10-23"]);
    let window_files = hunt(&file_args);
    let window_cluster = hunt(&["--es", &url, "--index", &pattern, "--no-checkpoint", "--since", "2020-10-22", "--until", "2020-10-23"]);
    assert_eq!(window_files.read().totals.events(), window_cluster.read().totals.events());
    assert_eq!(findings(&window_files), findings(&window_cluster));
}

#[test]
fn findings_are_indexed_once_after_two_runs_as_ecs_documents() {
    let Some(url) = node("findings_are_indexed_once_after_two_runs_as_ecs_documents") else {
        return;
    };
    let mut indices = Indices::new(&url);
    let index = unique("once-src");
    let out = unique("once-findings");
    indices.create(&index, Mapping::Raw);
    indices.adopt(&out);
    indices.load_file(&index, &common::example("incident/workstation.ndjson"));
    let blocklist = common::example("incident/blocklist.txt");
    let args = [
        "--es",
        &url,
        "--index",
        &index,
        "--no-checkpoint",
        "--output-es",
        &url,
        "--findings-index",
        &out,
        "--blocklist",
        blocklist.to_str().unwrap(),
    ];
    let first = hunt(&args);
    first.assert_exit(0);
    let n = findings(&first).len() as u64;
    assert!(n >= 10, "the example incident gives findings: {n}");
    assert_eq!(indices.count_kind(&out, "finding"), n);
    // The incidents are there too, and every finding names one of them.
    let n_incidents = indices.count_kind(&out, "incident");
    assert!((1..=3).contains(&n_incidents), "{n_incidents}");
    assert_eq!(indices.count(&out), n + n_incidents);
    let second = hunt(&args);
    second.assert_exit(0);
    assert_eq!(findings(&first), findings(&second));
    assert_eq!(indices.count_kind(&out, "finding"), n, "a re-run overwrites, never duplicates");
    assert_eq!(indices.count_kind(&out, "incident"), n_incidents, "incidents are replaced, never duplicated");

    // The documents are ECS alerts, with the template's mapping.
    let some = &first.json_lines()[0];
    let id = some["id"].as_str().unwrap();
    let doc = indices.client.json(Method::GET, &format!("/{out}/_doc/{id}"), None, "get").unwrap();
    let src = &doc["_source"];
    assert_eq!(src["event"]["kind"], "alert");
    assert!(src["event"]["severity"].is_u64());
    assert_eq!(src["rule"]["name"], some["detector"]);
    assert_eq!(src["dnshunt"]["id"], json!(id));
    assert_eq!(src["dnshunt"]["count"], some["count"]);
    assert_eq!(src["message"], some["explanation"]);
    let mapping = indices.client.json(Method::GET, &format!("/{out}/_mapping"), None, "mapping").unwrap();
    let props = &mapping[&out]["mappings"]["properties"];
    assert_eq!(props["event"]["properties"]["severity"]["type"], "long");
    assert_eq!(props["dns"]["properties"]["question"]["properties"]["registered_domain"]["type"], "keyword");
    assert_eq!(props["dnshunt"]["properties"]["details"]["enabled"], json!(false));
    // Kibana-style query on ECS fields.
    let hits = indices
        .client
        .json(
            Method::POST,
            &format!("/{out}/_count"),
            Some(&json!({ "query": { "term": { "event.kind": "alert" } } })),
            "count",
        )
        .unwrap();
    assert_eq!(hits["count"].as_u64(), Some(n + n_incidents), "findings and incidents are alerts");
    // Every finding document names an incident document of the same index.
    let docs = indices
        .client
        .json(Method::POST, &format!("/{out}/_search"), Some(&json!({ "size": 1000 })), "search")
        .unwrap();
    let hits = docs["hits"]["hits"].as_array().unwrap();
    let incident_ids: Vec<&str> = hits
        .iter()
        .filter(|h| h["_source"]["dnshunt"]["kind"] == "incident")
        .map(|h| h["_source"]["dnshunt"]["id"].as_str().unwrap())
        .collect();
    for h in hits.iter().filter(|h| h["_source"]["dnshunt"]["kind"] == "finding") {
        let id = h["_source"]["dnshunt"]["incident_id"].as_str().expect("a finding names its incident");
        assert!(incident_ids.contains(&id), "{id} is not an incident of {incident_ids:?}");
    }
}

/// Every record looked at (events, other ids, other channels, bad, filtered out).
fn records(c: &Counts) -> u64 {
    c.events() + c.other_sysmon.values().sum::<u64>() + c.not_sysmon + c.bad_records + c.filtered_out
}

/// The JSON lines of a fixture file.
fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect()
}

#[test]
fn the_checkpoint_makes_the_next_run_read_only_what_is_new() {
    let Some(url) = node("the_checkpoint_makes_the_next_run_read_only_what_is_new") else {
        return;
    };
    let mut indices = Indices::new(&url);
    let index = unique("ckpt-src");
    let out = unique("ckpt-findings");
    indices.create(&index, Mapping::Raw);
    indices.adopt(&out);
    let scratch = TempDir::new("checkpoint");
    let store = scratch.join("state.sqlite");
    let store_arg = store.to_str().unwrap();
    let lines = lines_of(&common::example("incident/workstation.ndjson"));
    // The example is in time order; the first run sees the first 90 events.
    let (first_part, second_part) = lines.split_at(90);
    indices.load_lines(&index, &first_part.iter().map(String::as_str).collect::<Vec<_>>());
    let args = [
        "--es",
        &url,
        "--index",
        &index,
        "--checkpoint",
        store_arg,
        "--output-es",
        &url,
        "--findings-index",
        &out,
        "--slices",
        "2",
        "--page-size",
        "7",
    ];
    let run1 = hunt(&args);
    run1.assert_exit(0);
    assert_eq!(records(&run1.read().totals), 90);

    // Nothing new: nothing read.
    let run2 = hunt(&args);
    run2.assert_exit(0);
    assert_eq!(records(&run2.read().totals), 0, "a second run reads nothing new");
    assert!(findings(&run2).is_empty());

    // New events, and one more event at exactly the newest @timestamp already read (the
    // boundary): all of them, and only them, are read next.
    let newest_line = first_part
        .iter()
        .max_by_key(|l| serde_json::from_str::<Value>(l).unwrap()["@timestamp"].as_str().unwrap().to_owned())
        .unwrap();
    let mut more: Vec<&str> = second_part.iter().map(String::as_str).collect();
    more.push(newest_line);
    indices.load_lines(&index, &more);
    let before_run3 = scratch.join("state-before-run3.sqlite");
    std::fs::copy(&store, &before_run3).unwrap();
    let run3 = hunt(&args);
    run3.assert_exit(0);
    assert_eq!(records(&run3.read().totals), more.len() as u64, "only the new documents, the boundary one included");
    // --summary-json says where the events came from and which checkpoint the run continued.
    let cluster = &run3.summary.as_ref().expect("summary written")["cluster"];
    assert_eq!(cluster["index"], index.as_str());
    assert_eq!(cluster["product"], "OpenSearch");
    assert_eq!(cluster["slices"], 2);
    assert_eq!(cluster["documents"], more.len() as u64);
    assert_eq!(cluster["checkpoint"]["used"], true);
    assert!(cluster["checkpoint"]["continued_after"].is_string(), "{cluster}");
    assert!(cluster["method"].as_str().unwrap().contains("point in time"), "{cluster}");
    assert!(run1.summary.as_ref().unwrap()["cluster"]["checkpoint"]["continued_after"].is_null());

    // The findings index holds each finding once, with the counts of both increments added.
    let c1: BTreeMap<String, u64> = findings(&run1).into_iter().map(|(id, _, n)| (id, n)).collect();
    let c3: BTreeMap<String, u64> = findings(&run3).into_iter().map(|(id, _, n)| (id, n)).collect();
    let mut all_ids: Vec<&String> = c1.keys().chain(c3.keys()).collect();
    all_ids.sort();
    all_ids.dedup();
    assert_eq!(indices.count_kind(&out, "finding"), all_ids.len() as u64, "no duplicates");
    let stored_counts = |indices: &Indices| -> BTreeMap<String, u64> {
        let answer = indices
            .client
            .json(
                Method::POST,
                &format!("/{out}/_search"),
                Some(&json!({ "size": 1000, "_source": ["dnshunt.id", "dnshunt.count"], "query": { "term": { "dnshunt.kind": "finding" } } })),
                "search",
            )
            .unwrap();
        answer["hits"]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["_source"]["dnshunt"]["id"].as_str().unwrap().to_owned(),
                    h["_source"]["dnshunt"]["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let after_run3 = stored_counts(&indices);
    for id in &all_ids {
        let want = c1.get(*id).copied().unwrap_or(0) + c3.get(*id).copied().unwrap_or(0);
        assert_eq!(after_run3[*id], want, "finding {id}: run 1 counted {:?}, run 3 {:?}", c1.get(*id), c3.get(*id));
    }

    // Run 3 again from the same checkpoint (as after a run that wrote its findings but failed
    // before advancing the checkpoint): the same documents are read, and nothing counts twice.
    std::fs::copy(&before_run3, &store).unwrap();
    let retry = hunt(&args);
    retry.assert_exit(0);
    assert_eq!(records(&retry.read().totals), more.len() as u64);
    assert_eq!(stored_counts(&indices), after_run3, "a retried increment does not count twice");

    // --from-start reads everything again and replaces the findings with the complete view.
    let mut full_args = args.to_vec();
    full_args.push("--from-start");
    let full = hunt(&full_args);
    full.assert_exit(0);
    assert_eq!(records(&full.read().totals), lines.len() as u64 + 1);
    let full_counts: BTreeMap<String, u64> = findings(&full).into_iter().map(|(id, _, n)| (id, n)).collect();
    let stored = stored_counts(&indices);
    for (id, n) in &full_counts {
        assert_eq!(stored[id], *n, "finding {id} after --from-start");
    }
    // ...and saves a checkpoint again: the next run reads nothing.
    let after = hunt(&args);
    assert_eq!(records(&after.read().totals), 0);
    // --no-checkpoint reads everything and leaves the checkpoint alone.
    let everything = hunt(&["--es", &url, "--index", &index, "--no-checkpoint"]);
    assert_eq!(records(&everything.read().totals), lines.len() as u64 + 1);
    assert_eq!(records(&hunt(&args).read().totals), 0);
}

/// (value, hosts, events) rows of one `stats` table.
type StatsRows = Vec<(String, u64, u64)>;

/// `stats` as JSON: the domain and process tables.
fn stats_rows(run: &Run) -> (StatsRows, StatsRows) {
    run.assert_exit(0);
    let doc: Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout_text()));
    let rows = |key: &str| {
        doc[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["value"].as_str().unwrap().to_owned(), r["hosts"].as_u64().unwrap(), r["events"].as_u64().unwrap()))
            .collect::<Vec<_>>()
    };
    (rows("domains"), rows("processes"))
}

#[test]
fn pushed_down_stack_counts_equal_the_local_ones() {
    let Some(url) = node("pushed_down_stack_counts_equal_the_local_ones") else { return };
    let mut indices = Indices::new(&url);
    let prefix = unique("stats");
    let mut files = Vec::new();
    for (shape, mapping) in [("ecs", Mapping::Raw), ("winlogbeat6", Mapping::Raw), ("flat", Mapping::Raw), ("ecs", Mapping::Dynamic)] {
        let index = format!("{prefix}-{shape}-{}", if mapping == Mapping::Raw { "raw" } else { "dyn" });
        indices.create(&index, mapping);
        let file = fixture(&format!("seed/{shape}.ndjson"));
        indices.load_file(&index, &file);
        files.push(file.to_str().unwrap().to_owned());
    }
    let example = common::example("incident/workstation.ndjson");
    let index = format!("{prefix}-example-raw");
    indices.create(&index, Mapping::Raw);
    indices.load_file(&index, &example);
    files.push(example.to_str().unwrap().to_owned());

    let mut local_args = vec!["stats", "--format", "json", "--top", "0", "-q"];
    local_args.extend(files.iter().map(String::as_str));
    let local = stats_rows(&run_with(&os(&local_args), false, None));
    let pattern = format!("{prefix}-*");
    let pushed = run_with(
        &os(&["stats", "--format", "json", "--top", "0", "-q", "--es", &url, "--index", &pattern, "--page-size", "3"]),
        false,
        None,
    );
    let pushed_doc: Value = serde_json::from_slice(&pushed.stdout).unwrap();
    assert_eq!(pushed_doc["source"]["mode"], "pushdown");
    assert!(
        pushed_doc["source"]["pages"].as_u64().unwrap() > 2,
        "composite pages were followed by after_key: {}",
        pushed_doc["source"]
    );
    let pushed = stats_rows(&pushed);
    assert!(!local.0.is_empty() && !local.1.is_empty());
    assert_eq!(local, pushed, "stack counts computed locally vs by the cluster");
    // The most common domain comes first (most hosts, then most queries); `--rare` turns it.
    assert!(local.0.windows(2).all(|w| (w[0].1, w[0].2) >= (w[1].1, w[1].2)), "{:?}", local.0);
    let mut rare_args = local_args.clone();
    rare_args.push("--rare");
    let rare = stats_rows(&run_with(&os(&rare_args), false, None));
    assert!(rare.0.windows(2).all(|w| (w[0].1, w[0].2) <= (w[1].1, w[1].2)), "{:?}", rare.0);
}

/// Runs the binary with extra environment variables.
fn run_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dnshunt"));
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn connection_refused_is_a_clear_error_without_credentials() {
    let port = free_port();
    let secret = "Pa55-w0rd-never-shown";
    let url = format!("http://analyst:{secret}@127.0.0.1:{port}");
    let (code, stdout, stderr) = run_env(&["hunt", "--es", &url, "--index", "x", "--es-retries", "2", "--no-checkpoint"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert!(stderr.contains(&format!("http://127.0.0.1:{port}")), "{stderr}");
    assert!(!stderr.contains(secret) && !stdout.contains(secret) && !stderr.contains("analyst:"), "{stderr}");
    // From the environment and the API-key option: never shown either.
    let api_key = "c2VjcmV0LWFwaS1rZXktdmFsdWU=";
    let (code, _, stderr) = run_env(
        &["stats", "--es", &format!("http://127.0.0.1:{port}"), "--es-user", "analyst", "--es-retries", "1"],
        &[("DNSHUNT_ES_PASSWORD", secret)],
    );
    assert_eq!(code, 1);
    assert!(!stderr.contains(secret), "{stderr}");
    let (code, _, stderr) = run_env(&["events", "--es", &format!("http://127.0.0.1:{port}"), "--es-api-key", api_key, "--es-retries", "1"], &[]);
    assert_eq!(code, 1);
    assert!(!stderr.contains(api_key) && !stderr.contains("secret-api-key"), "{stderr}");
}

#[test]
fn credentials_never_appear_in_output_summary_findings_or_checkpoint() {
    let Some(url) = node("credentials_never_appear_in_output_summary_findings_or_checkpoint") else {
        return;
    };
    let mut indices = Indices::new(&url);
    let index = unique("creds-src");
    let out = unique("creds-findings");
    indices.create(&index, Mapping::Raw);
    indices.adopt(&out);
    indices.load_file(&index, &fixture("seed/ecs.ndjson"));
    // The test node has no security plugin: it ignores the credentials, so the whole run works
    // and every place it writes to can be searched for them.
    let secret = "S3cr3t-in-the-URL";
    let with_creds = url.replace("http://", &format!("http://hunter:{secret}@"));
    let scratch = TempDir::new("creds");
    let store = scratch.join("ckpt.sqlite");
    let run = hunt(&[
        "--es",
        &with_creds,
        "--index",
        &index,
        "--checkpoint",
        store.to_str().unwrap(),
        "--output-es",
        &with_creds,
        "--findings-index",
        &out,
    ]);
    run.assert_exit(0);
    let verbose = run_env(
        &["hunt", "--es", &with_creds, "--index", &index, "--no-checkpoint", "--format", "jsonl"],
        &[("DNSHUNT_ES_PASSWORD", "env-secret-value")],
    );
    assert_eq!(verbose.0, 0, "{}", verbose.2);
    for (what, text) in [
        ("stdout", run.stdout_text()),
        ("stderr", run.stderr.clone()),
        ("summary", run.summary().to_string()),
        ("stderr of a run with a summary on stderr", verbose.2.clone()),
        ("stdout of that run", verbose.1.clone()),
        ("checkpoint store", String::from_utf8_lossy(&std::fs::read(&store).unwrap()).into_owned()),
    ] {
        assert!(!text.contains(secret) && !text.contains("hunter:"), "{what} shows the credentials:\n{text}");
        assert!(!text.contains("env-secret-value"), "{what} shows the password");
    }
    let docs = indices
        .client
        .json(Method::POST, &format!("/{out}/_search"), Some(&json!({ "size": 100 })), "search")
        .unwrap();
    assert!(!docs.to_string().contains(secret), "the findings index shows the credentials");
    assert!(verbose.2.contains(&url), "the summary names the cluster without credentials: {}", verbose.2);
}

/// An Elasticsearch 8 cluster (replayed) that serves one page and then fails: the run fails,
/// prints why, writes no findings and leaves the checkpoint where it was.
#[test]
fn a_cluster_failing_mid_run_fails_the_run_and_keeps_the_checkpoint() {
    let docs: Vec<Value> = lines_of(&fixture("seed/ecs.ndjson")).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let hits: Vec<Value> = docs[..2]
        .iter()
        .enumerate()
        .map(|(i, d)| json!({ "_index": "wlb", "_id": format!("d{i}"), "_source": d, "fields": { "@timestamp": ["1561471781401"] }, "sort": [i] }))
        .collect();
    let page = json!({ "pit_id": "P", "timed_out": false, "_shards": { "total": 1, "successful": 1, "failed": 0 }, "hits": { "hits": hits } });
    let server = CannedServer::start(vec![
        Rule::new("GET", "/", 200, r#"{"version":{"number":"8.15.1"},"tagline":"You Know, for Search"}"#).header("X-Elastic-Product", "Elasticsearch"),
        Rule::new("POST", "/wlb/_pit", 200, r#"{"id":"P"}"#),
        Rule::new("POST", "/_search", 200, &page.to_string()).times(1),
        Rule::new(
            "POST",
            "/_search",
            503,
            r#"{"error":{"type":"search_phase_execution_exception","reason":"all shards failed"},"status":503}"#,
        ),
        Rule::new("DELETE", "/_pit", 200, r#"{"succeeded":true}"#),
    ]);
    let scratch = TempDir::new("midrun");
    let store = scratch.join("ckpt.sqlite");
    let findings_file = scratch.join("findings.jsonl");
    let (code, _, stderr) = run_env(
        &[
            "hunt",
            "--es",
            &server.url,
            "--index",
            "wlb",
            "--page-size",
            "2",
            "--es-retries",
            "3",
            "--checkpoint",
            store.to_str().unwrap(),
            "-o",
            findings_file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("HTTP 503") && stderr.contains("after 3 tries") && stderr.contains("all shards failed"),
        "{stderr}"
    );
    let searches = server.requests().iter().filter(|r| r.path == "/_search").count();
    assert_eq!(searches, 4, "one page, then three tries of the next");
    assert!(
        !findings_file.exists() || std::fs::read(&findings_file).unwrap().is_empty(),
        "no findings of a partial read"
    );
    let key = dnshunt_state::checkpoint::CheckpointKey {
        cluster: server.url.clone(),
        index_pattern: "wlb".into(),
        query: String::new(),
    };
    let saved = dnshunt_state::StateStore::open(&store).unwrap().checkpoint(&key).unwrap();
    assert_eq!(saved, None, "the checkpoint did not advance");
}

/// A second node of its own (the shared one serves the other tests), stopped in the middle of
/// a hunt and restarted with its data.
struct OwnNode {
    env: Vec<(String, String)>,
    url: String,
    /// The node's home and data; removed (after the node stops) when dropped.
    _dir: TempDir,
}

impl OwnNode {
    fn script(name: &str) -> PathBuf {
        common::repo_root().join("testnode/opensearch").join(name)
    }

    fn start(env: &[(String, String)]) -> String {
        let out = Command::new(Self::script("start.sh"))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stderr(Stdio::inherit())
            .output()
            .expect("run testnode/opensearch/start.sh");
        assert!(out.status.success(), "the second test node did not start");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn new() -> OwnNode {
        let dir = TempDir::new("own-node");
        let (http, transport) = (free_port(), free_port());
        let env = vec![
            ("OPENSEARCH_PORT".to_owned(), http.to_string()),
            ("OPENSEARCH_TRANSPORT_PORT".to_owned(), transport.to_string()),
            ("OPENSEARCH_NODE_DIR".to_owned(), dir.path().to_str().unwrap().to_owned()),
            ("OPENSEARCH_HEAP".to_owned(), "512m".to_owned()),
        ];
        let url = Self::start(&env);
        OwnNode { env, url, _dir: dir }
    }

    fn stop(&self) -> bool {
        Command::new(Self::script("stop.sh"))
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .status()
            .is_ok_and(|s| s.success())
    }

    fn restart_keeping_data(&mut self) {
        let mut env = self.env.clone();
        env.push(("KEEP_DATA".to_owned(), "1".to_owned()));
        self.url = Self::start(&env);
    }
}

impl Drop for OwnNode {
    fn drop(&mut self) {
        // Stopped before the data directory (`_dir`, dropped after this) is removed.
        self.stop();
    }
}

#[test]
fn a_node_stopped_mid_run_loses_nothing_after_its_restart() {
    let Some(url) = node("a_node_stopped_mid_run_loses_nothing_after_its_restart") else {
        return;
    };
    if std::env::var_os("DNSHUNT_SKIP_NODE_RESTART_TEST").is_some() {
        println!("skipped: DNSHUNT_SKIP_NODE_RESTART_TEST is set");
        return;
    }
    let started = Instant::now();
    let mut own = OwnNode::new();
    let mut sink_indices = Indices::new(&url);
    let out = unique("restart-findings");
    sink_indices.adopt(&out);
    let index = unique("restart-src");
    let copies = 60;
    let lines = lines_of(&common::example("incident/workstation.ndjson"));
    let scratch = TempDir::new("restart");
    let all: Vec<&str> = (0..copies).flat_map(|_| lines.iter().map(String::as_str)).collect();
    std::fs::write(scratch.join("all.ndjson"), all.join("\n")).unwrap();
    {
        let mut own_indices = Indices::new(&own.url);
        own_indices.create(&index, Mapping::Raw);
        own_indices.load_lines(&index, &all);
        // The data must survive the restart: keep the index.
        own_indices.names.clear();
    }
    let expected = hunt(&[scratch.join("all.ndjson").to_str().unwrap()]);
    expected.assert_exit(0);
    let store = scratch.join("ckpt.sqlite");
    let store_arg = store.to_str().unwrap().to_owned();
    let own_url = own.url.clone();
    let args: Vec<String> = [
        "hunt",
        "--format",
        "jsonl",
        "-q",
        "--es",
        &own_url,
        "--index",
        &index,
        "--page-size",
        "3",
        "--es-retries",
        "2",
        "--es-timeout",
        "10",
        "--checkpoint",
        &store_arg,
        "--output-es",
        &url,
        "--findings-index",
        &out,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let child = Command::new(env!("CARGO_BIN_EXE_dnshunt"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Small pages make the read take a while: let it read some, then stop the node under it.
    std::thread::sleep(Duration::from_secs(2));
    assert!(own.stop(), "stop.sh failed");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "the run fails when its node goes away; stderr:\n{stderr}");
    assert!(stderr.contains("cannot reach") || stderr.contains("reading"), "{stderr}");
    assert!(output.stdout.is_empty(), "no findings from a partial read");
    let key = dnshunt_state::checkpoint::CheckpointKey {
        cluster: own_url.clone(),
        index_pattern: index.clone(),
        query: String::new(),
    };
    assert_eq!(dnshunt_state::StateStore::open(&store).unwrap().checkpoint(&key).unwrap(), None, "no checkpoint advance");
    assert_eq!(sink_indices.count_or_zero(&out), 0, "no findings written");

    own.restart_keeping_data();
    assert_eq!(own.url, own_url);
    // The page size is not part of the checkpoint's key: read the rest in bigger pages.
    let mut args = args;
    let at = args.iter().position(|a| a == "--page-size").unwrap();
    args[at + 1] = "1000".to_owned();
    let again = Command::new(env!("CARGO_BIN_EXE_dnshunt")).args(&args).output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let again_findings: Vec<(String, String, u64)> = {
        let mut v: Vec<(String, String, u64)> = String::from_utf8_lossy(&again.stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|f| {
                (
                    f["id"].as_str().unwrap().to_owned(),
                    f["detector"].as_str().unwrap().to_owned(),
                    f["count"].as_u64().unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(again_findings, findings(&expected), "after the restart: every event read once");
    assert_eq!(sink_indices.count_kind(&out, "finding"), again_findings.len() as u64, "each finding indexed once");
    let next = Command::new(env!("CARGO_BIN_EXE_dnshunt")).args(&args).output().unwrap();
    assert!(next.status.success());
    assert!(next.stdout.is_empty(), "the checkpoint advanced: nothing new");
    assert_eq!(sink_indices.count_kind(&out, "finding"), again_findings.len() as u64);
    println!("node restart test took {:.0} s", started.elapsed().as_secs_f64());
}

impl Indices {
    fn count_or_zero(&self, name: &str) -> u64 {
        match self.client.json(Method::GET, &format!("/{name}/_count"), None, "count") {
            Ok(v) => v["count"].as_u64().unwrap_or(0),
            Err(_) => 0,
        }
    }
}

/// An index pattern that matches nothing is an error, as a missing input file is, unless
/// `--allow-empty`; a concrete index that does not exist is an error whatever the flag.
#[test]
fn a_pattern_matching_no_index_is_an_error_unless_allow_empty() {
    let Some(url) = node("a_pattern_matching_no_index_is_an_error_unless_allow_empty") else {
        return;
    };
    let pattern = format!("{}-*", unique("nothing"));
    for args in [&["hunt", "--no-checkpoint"][..], &["events"], &["stats"]] {
        let command = args[0];
        let mut all = args.to_vec();
        all.extend(["--es", &url, "--index", &pattern, "-q"]);
        let (code, _, stderr) = run_env(&all, &[]);
        assert_eq!(code, 1, "{command}: {stderr}");
        assert!(stderr.contains("matches no open index") && stderr.contains(&pattern), "{command}: {stderr}");
    }
    let (code, stdout, stderr) = run_env(&["hunt", "--es", &url, "--index", &pattern, "--allow-empty", "--no-checkpoint", "--format", "jsonl"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let concrete = unique("missing");
    let (code, _, stderr) = run_env(&["events", "--es", &url, "--index", &concrete, "--allow-empty", "-q"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("index_not_found") || stderr.contains("no such index"), "{stderr}");
}

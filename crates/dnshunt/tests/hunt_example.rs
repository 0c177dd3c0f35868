//! `dnshunt hunt` on the shipped example incident: the finding contract, the blocklist and
//! record-type findings its README promises, stable ids, filters, output formats, and a reader
//! that stops early (`| head -1`).

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{example, hunt, Run, TempDir};
use serde_json::Value;

const HOST: &str = "WS-ACCT-07.corp.example.com";
const SEVERITIES: [&str; 5] = ["info", "low", "medium", "high", "critical"];

fn incident() -> PathBuf {
    example("incident")
}

fn blocklist() -> String {
    example("incident/blocklist.txt").to_string_lossy().into_owned()
}

/// `hunt examples/incident --blocklist examples/incident/blocklist.txt EXTRA...`
fn hunt_incident(extra: &[&str]) -> Run {
    let list = blocklist();
    let mut args = vec!["--blocklist", list.as_str()];
    args.extend_from_slice(extra);
    let run = hunt(&[incident()], &args);
    run.assert_exit(0);
    run
}

fn findings(extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["--format", "jsonl"];
    args.extend_from_slice(extra);
    hunt_incident(&args).json_lines()
}

fn ids(findings: &[Value]) -> Vec<String> {
    findings.iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect()
}

fn is_time(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.len() == 24 && s.starts_with("2024-03-12T") && s.ends_with('Z'))
}

#[track_caller]
fn one<'f>(findings: &'f [Value], what: &str, pred: impl Fn(&Value) -> bool) -> &'f Value {
    let found: Vec<&Value> = findings.iter().filter(|f| pred(f)).collect();
    assert_eq!(found.len(), 1, "{what}: expected one finding, got {}:\n{found:#?}", found.len());
    found[0]
}

#[test]
fn every_finding_carries_the_finding_contract() {
    let run = hunt_incident(&["--format", "jsonl"]);
    let findings = run.json_lines();
    assert!(!findings.is_empty());
    let lines: Vec<String> = std::fs::read_to_string(example("incident/workstation.ndjson"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    for f in &findings {
        let id = f["id"].as_str().expect("id");
        assert!(id.len() >= 8 && id.chars().all(|c| c.is_ascii_hexdigit()), "id {id:?}");
        let detector = f["detector"].as_str().expect("detector");
        assert!(
            !detector.is_empty() && detector.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "detector {detector:?}"
        );
        assert!(SEVERITIES.contains(&f["severity"].as_str().unwrap()), "{}", f["severity"]);
        assert!(f["score"].as_u64().is_some_and(|s| s <= 100), "score {}", f["score"]);
        assert!(is_time(&f["time"]) && is_time(&f["time_last"]), "{} {}", f["time"], f["time_last"]);
        assert!(f["time"].as_str() <= f["time_last"].as_str());
        assert_eq!(f["host"], HOST);
        let p = &f["process"];
        assert!(p["guid"].as_str().is_some_and(|g| g.starts_with('{') && g.ends_with('}')), "{p}");
        assert!(p["pid"].is_u64(), "{p}");
        for key in ["image", "command_line", "parent_image", "user"] {
            assert!(p[key].as_str().is_some_and(|s| !s.is_empty()), "process.{key} in {p}");
        }
        assert_eq!(p["user"], r"CORP\k.sato");
        // A finding about lookups names one of them.
        let evidence = f["evidence"].as_array().expect("evidence");
        let lookups: Vec<&Value> = evidence.iter().filter(|e| e["event_type"] == "dns_query").collect();
        if !lookups.is_empty() {
            let name = f["query_name"].as_str().unwrap_or_else(|| panic!("{detector}: query_name missing"));
            let lookup = lookups
                .iter()
                .find(|e| e["query"]["name"] == name)
                .unwrap_or_else(|| panic!("{detector}: {name} is not in the evidence"));
            if let Some(domain) = f.get("registered_domain") {
                assert_eq!(domain, &lookup["query"]["registered_domain"], "{detector}");
            }
        }
        if f["detector"] == "blocklist" && f["details"]["matched"] != "connection" {
            assert!(f["query_name"].is_string() && f["registered_domain"].is_string(), "{f}");
        }
        if let Some(unicode) = f.get("query_name_unicode") {
            assert!(unicode.is_string() || unicode.is_null());
        }
        let attack = f["attack"].as_array().expect("attack");
        assert!(!attack.is_empty() && attack.iter().all(|t| t.as_str().is_some_and(|t| t.starts_with('T'))), "{attack:?}");
        let explanation = f["explanation"].as_str().unwrap();
        assert!(explanation.len() > 20, "{explanation}");
        assert!(f["details"].is_object());
        assert!(!evidence.is_empty() && evidence.len() <= 5, "at most --max-evidence (5) events");
        assert!(f["count"].as_u64().unwrap() >= evidence.len() as u64);
        for e in evidence {
            let origin = &e["origin"];
            assert!(origin["file"].as_str().unwrap().ends_with("workstation.ndjson"), "{origin}");
            // The origin line holds exactly that event.
            let line = origin["line"].as_u64().expect("origin.line") as usize;
            let source: Value = serde_json::from_str(&lines[line - 1]).unwrap();
            assert_eq!(source["winlog"]["record_id"].as_str().unwrap(), e["record_id"].as_u64().unwrap().to_string(), "line {line}");
            assert_eq!(source["@timestamp"], e["time"], "line {line}");
        }
        assert_eq!(evidence[0]["time"], f["time"], "evidence is earliest first");
    }
    let summary = run.summary();
    let detectors: BTreeSet<&str> = findings.iter().map(|f| f["detector"].as_str().unwrap()).collect();
    assert!(detectors.contains("blocklist") && detectors.contains("record_type"), "{detectors:?}");
    for detector in detectors {
        let n = findings.iter().filter(|f| f["detector"] == detector).count();
        assert_eq!(summary["findings_per_detector"][detector]["findings"], n, "{detector}");
    }
    let read = run.read();
    assert_eq!(
        (
            read.totals.dns_query,
            read.totals.process_create,
            read.totals.network_connect,
            read.totals.process_terminate
        ),
        (118, 10, 7, 2)
    );
    assert_eq!(read.totals.bad_records, 0);
    // blocklist.txt and README.md sit in the walked directory: ignored, not errors.
    assert_eq!(read.ignored_files.len(), 2, "{:?}", read.ignored_files);
    assert_eq!(read.file_errors, 0);
}

#[test]
fn blocklist_hits_what_the_readme_promises() {
    let findings = findings(&[]);
    let blocklist: Vec<Value> = findings.iter().filter(|f| f["detector"] == "blocklist").cloned().collect();

    // The C2 domain by suffix, on all 69 beacon lookups of rundll32.
    let c2 = one(&blocklist, "C2 domain", |f| {
        f["details"]["matched"] == "query_name" && f["details"]["indicator"] == "update-cdn-sync.com"
    });
    assert_eq!(c2["query_name"], "api.update-cdn-sync.com");
    assert_eq!(c2["count"], 69);
    assert_eq!(c2["process"]["pid"], 10032);
    assert_eq!(c2["process"]["guid"], "{7c1e4a2b-212e-65f0-d00a-000000000c00}");
    assert_eq!(c2["time"], "2024-03-12T09:32:35.208Z");
    assert_eq!(c2["time_last"], "2024-03-12T10:39:36.276Z");

    // The staging CDN only through the CNAME of static.docview-static.net.
    let cname = one(&blocklist, "CNAME-only match", |f| f["details"]["indicator"] == "cdn-sync-node.net");
    assert_eq!(cname["details"]["matched"], "cname");
    assert_eq!(cname["details"]["cname"], "e7.cdn-sync-node.net");
    assert_eq!(cname["query_name"], "static.docview-static.net");
    assert_eq!(cname["process"]["pid"], 9544);
    assert!(cname["explanation"].as_str().unwrap().contains("e7.cdn-sync-node.net"));

    // The C2 address: as an answer (folded into the finding of its name, one per process and
    // registered domain) and as the destination of the 3 EID 3 connections.
    let answer: Vec<&Value> = c2["details"]["matches"].as_array().unwrap().iter().filter(|m| m["matched"] == "answer").collect();
    assert_eq!(answer.len(), 1, "{c2:#}");
    assert_eq!(
        (answer[0]["indicator"].as_str(), answer[0]["query_name"].as_str(), answer[0]["count"].as_u64()),
        (Some("203.0.113.47"), Some("api.update-cdn-sync.com"), Some(69))
    );
    let connection = one(&blocklist, "C2 IP connection", |f| {
        f["details"]["indicator"] == "203.0.113.47" && f["details"]["matched"] == "connection"
    });
    assert_eq!(connection["count"], 3);
    assert!(connection["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["event_type"] == "network_connect" && e["destination_ip"] == "203.0.113.47"));

    // The staging network (CIDR): the answer 198.51.100.23 (folded into the finding of
    // static.docview-static.net) and its one connection.
    let cidr: Vec<&Value> = blocklist
        .iter()
        .flat_map(|f| std::iter::once(&f["details"]).chain(f["details"]["matches"].as_array().into_iter().flatten()))
        .filter(|d| d["indicator"] == "198.51.100.0/25")
        .collect();
    let matched: BTreeSet<&str> = cidr.iter().map(|d| d["matched"].as_str().unwrap()).collect();
    assert_eq!(matched, BTreeSet::from(["answer", "connection"]));
    assert!(cidr.iter().all(|d| d["address"] == "198.51.100.23"));

    // The exfiltration zone: the 5 TXT lookups.
    let exfil = one(&blocklist, "exfil zone", |f| f["details"]["indicator"] == "exfil-sync.net");
    assert_eq!(exfil["count"], 5);
    assert!(exfil["query_name"].as_str().unwrap().ends_with(".t.exfil-sync.net"));

    // Listed but absent from the log: no hit. And nothing benign is on the list.
    assert!(!findings.iter().any(|f| f.to_string().contains("login-verify-portal.net")));
    for f in &blocklist {
        let hay = f.to_string();
        assert!(
            ["update-cdn-sync.com", "cdn-sync-node.net", "exfil-sync.net", "203.0.113.47", "198.51.100.0/25"]
                .iter()
                .any(|i| hay.contains(i)),
            "unexpected blocklist finding {f}"
        );
    }
}

#[test]
fn record_type_flags_the_txt_lookups() {
    let findings = findings(&[]);
    let txt = one(&findings, "record_type", |f| f["detector"] == "record_type");
    assert_eq!(txt["details"]["record_type"], "TXT");
    assert_eq!(txt["details"]["record_type_code"], 16);
    assert_eq!(txt["count"], 5);
    assert_eq!(txt["process"]["pid"], 9544);
    assert!(txt["query_name"].as_str().unwrap().ends_with(".t.exfil-sync.net"));
    assert!(txt["attack"].as_array().unwrap().iter().any(|t| t == "T1071.004"));
    for e in txt["evidence"].as_array().unwrap() {
        assert_eq!(e["answers"], serde_json::json!([{"type": "TXT", "data": null}]));
    }
}

#[test]
fn ids_are_stable_across_runs_and_thread_counts() {
    let first = hunt_incident(&["--format", "jsonl", "-q"]);
    let again = hunt_incident(&["--format", "jsonl", "-q"]);
    let one_thread = hunt_incident(&["--format", "jsonl", "-q", "--threads", "1"]);
    let three_threads = hunt_incident(&["--format", "jsonl", "-q", "--threads", "3"]);
    let base = ids(&first.json_lines());
    let unique: BTreeSet<&String> = base.iter().collect();
    assert_eq!(unique.len(), base.len(), "ids are unique within a run");
    for other in [&again, &one_thread, &three_threads] {
        assert_eq!(ids(&other.json_lines()), base, "{}", other.cmdline);
        assert_eq!(other.stdout, first.stdout, "{}: the whole output is the same", other.cmdline);
    }
    // A narrower time window finds the same things under the same ids.
    let window = findings(&["--since", "2024-03-12T09:35:00Z", "--until", "2024-03-12T09:45:00Z"]);
    for id in ids(&window) {
        assert!(base.contains(&id), "{id} is not an id of the full run");
    }
}

#[test]
fn min_severity_drops_lower_findings() {
    let all = findings(&[]);
    let run = hunt_incident(&["--format", "jsonl", "--min-severity", "high"]);
    let high = run.json_lines();
    assert!(!high.is_empty());
    assert!(high.iter().all(|f| f["severity"] == "high" || f["severity"] == "critical"));
    let want: Vec<String> = ids(&all.iter().filter(|f| f["severity"] == "high" || f["severity"] == "critical").cloned().collect::<Vec<_>>());
    assert_eq!(ids(&high), want);
    assert!(!high.iter().any(|f| f["detector"] == "record_type"), "the low TXT finding is dropped");
    assert_eq!(run.summary()["findings_below_min_severity"], all.len() - high.len());
    // `critical` leaves nothing here; an unknown severity is a usage error.
    assert!(findings(&["--min-severity", "critical"]).is_empty());
    let list = blocklist();
    let bad = hunt(&[incident()], &["--blocklist", list.as_str(), "--min-severity", "severe"]);
    assert_eq!(bad.code(), 2, "{}", bad.stderr);
}

#[test]
fn since_and_until_filter_events_by_utc_time() {
    let run = hunt_incident(&["--format", "jsonl", "--since", "2024-03-12T09:35:00Z", "--until", "2024-03-12T09:45:00Z"]);
    let found = run.json_lines();
    assert!(!found.is_empty());
    for f in &found {
        for e in f["evidence"].as_array().unwrap() {
            let t = e["time"].as_str().unwrap();
            assert!(("2024-03-12T09:35:00.000Z".."2024-03-12T09:45:00.000Z").contains(&t), "{t}");
        }
    }
    let beacon = one(&found, "beacon in window", |f| {
        f["detector"] == "blocklist" && f["details"]["matched"] == "query_name" && f["query_name"] == "api.update-cdn-sync.com"
    });
    assert_eq!(beacon["count"], 10, "the beacons of 09:35–09:45");
    assert!(!found.iter().any(|f| f["details"]["indicator"] == "cdn-sync-node.net"), "09:31 is before --since");
    let read = run.read();
    assert_eq!(read.totals.filtered_out, 137 - read.totals.events());
    assert_eq!((read.totals.dns_query, read.totals.process_terminate), (15, 1));

    // Dates alone work too; an empty window finds nothing.
    assert!(findings(&["--since", "2024-03-13"]).is_empty());
    assert_eq!(findings(&["--until", "2024-03-13"]).len(), findings(&[]).len());
}

#[test]
fn csv_and_json_formats_parse_and_agree_with_jsonl() {
    let jsonl = findings(&[]);

    let json_run = hunt_incident(&["--format", "json"]);
    let array: Value = serde_json::from_slice(&json_run.stdout).expect("--format json is one JSON document");
    assert_eq!(array.as_array().expect("an array"), &jsonl);

    let csv_run = hunt_incident(&["--format", "csv"]);
    let mut reader = csv::Reader::from_reader(csv_run.stdout.as_slice());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    for column in [
        "id",
        "time",
        "time_last",
        "severity",
        "score",
        "detector",
        "host",
        "query_name",
        "registered_domain",
        "explanation",
    ] {
        assert!(header.iter().any(|h| h == column), "csv column {column} in {header:?}");
    }
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a well-formed csv row")).collect();
    assert_eq!(rows.len(), jsonl.len());
    for (row, f) in rows.iter().zip(&jsonl) {
        assert_eq!(row.len(), header.len());
        assert_eq!(&row[col("id")], f["id"].as_str().unwrap());
        assert_eq!(&row[col("severity")], f["severity"].as_str().unwrap());
        assert_eq!(row[col("score")].parse::<u64>().unwrap(), f["score"].as_u64().unwrap());
        assert_eq!(&row[col("explanation")], f["explanation"].as_str().unwrap());
        assert_eq!(&row[col("query_name")], f["query_name"].as_str().unwrap_or(""));
    }
}

#[test]
fn output_file_holds_what_stdout_would() {
    let dir = TempDir::new("output");
    let out = dir.join("findings.jsonl");
    let run = hunt_incident(&["--format", "jsonl", "--output", out.to_str().unwrap()]);
    assert!(run.stdout.is_empty(), "nothing on stdout with --output");
    let written = std::fs::read(&out).unwrap();
    assert_eq!(written, hunt_incident(&["--format", "jsonl"]).stdout);
}

/// Runs dnshunt with stdout piped to a reader that takes one line and closes the pipe; returns
/// (that line, exit code, stderr).
fn first_line_then_close(args: &[&str]) -> (String, Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dnshunt"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dnshunt");
    let mut line = String::new();
    {
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        reader.read_line(&mut line).unwrap();
        // Dropping the reader closes the pipe, like `head -1` exiting.
    }
    let output = child.wait_with_output().unwrap();
    (line, output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_reader_that_stops_early_ends_the_run_quietly() {
    // Enough output that dnshunt is still writing when the pipe closes.
    let dir = TempDir::new("head");
    let text = std::fs::read(example("incident/workstation.ndjson")).unwrap();
    for i in 0..3 {
        dir.write(&format!("copy{i}.ndjson"), &text);
    }
    let path = dir.path().to_string_lossy().into_owned();
    let list = blocklist();
    for args in [
        vec!["events", path.as_str(), "--format", "jsonl"],
        vec!["hunt", path.as_str(), "--blocklist", list.as_str(), "--format", "jsonl", "--max-evidence", "1000"],
        vec!["hunt", path.as_str(), "--blocklist", list.as_str(), "--format", "json", "--max-evidence", "1000"],
    ] {
        let (line, code, stderr) = first_line_then_close(&args);
        assert!(!line.is_empty(), "{args:?}: a first line");
        assert_eq!(code, Some(0), "{args:?}: exit code; stderr:\n{stderr}");
        for bad in ["error", "Broken pipe", "panicked"] {
            assert!(!stderr.contains(bad), "{args:?}: stderr mentions {bad:?}:\n{stderr}");
        }
    }
}

#[test]
fn profile_times_every_detector_and_leaves_the_findings_alone() {
    let plain = hunt_incident(&["--format", "jsonl", "-q"]);
    let profiled = hunt_incident(&["--format", "jsonl", "-q", "--profile"]);
    assert_eq!(profiled.stdout, plain.stdout, "profiling changes no finding");
    // Printed even with -q, one line a slot after the header.
    assert!(
        profiled.stderr.contains("profile: ") && profiled.stderr.contains(" on the main thread after parsing, for 137 events"),
        "{}",
        profiled.stderr
    );
    let slots = profiled.summary()["profile"]["slots"].as_array().expect("a profile section").clone();
    let names: BTreeSet<&str> = slots.iter().map(|s| s["name"].as_str().unwrap()).collect();
    for name in [
        "dga",
        "beacon",
        "blocklist",
        "tunnel_volume",
        "prevalence",
        "enrichment",
        "engine: process join",
        "engine: merging findings",
    ] {
        assert!(names.contains(name), "no {name} in {names:?}");
        assert!(profiled.stderr.contains(&format!("\n  {name} ")), "no {name} line in {}", profiled.stderr);
    }
    let seconds: Vec<f64> = slots.iter().map(|s| s["seconds"].as_f64().unwrap()).collect();
    assert!(seconds.windows(2).all(|w| w[0] >= w[1]), "largest first: {seconds:?}");
    assert!(seconds.iter().all(|s| *s >= 0.0));
    assert!(plain.summary().get("profile").is_none());
}

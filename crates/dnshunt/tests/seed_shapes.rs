//! The 14 seed events, written in eleven layouts (`fixtures/seed/`), must read into the same
//! normalised events: the counts, and every field each layout carries.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{at, events, hunt, seed_files, Counts};
use serde_json::{json, Value};

/// The seed files named in `fixtures/README.md`, with the container format the reader reports.
const SEED_FILES: [(&str, &str); 12] = [
    ("ecs.ndjson", "json-lines"),
    ("es_hits.ndjson", "json-lines"),
    ("es_response.json", "json"),
    ("evtx_json.ndjson", "json-lines"),
    ("evtx_json_pretty.json", "json"),
    ("flat.ndjson", "json-lines"),
    ("get_winevent.xml", "xml"),
    ("nxlog.ndjson", "json-lines"),
    ("sentinel_windowsevent.ndjson", "json-lines"),
    ("wevtutil.xml", "xml"),
    ("winlogbeat6.ndjson", "json-lines"),
    ("winlogbeat8_raw.ndjson", "json-lines"),
];

/// Layouts produced by the Winlogbeat `sysmon` ingest pipeline, which drops the EID 3 flags
/// (`Initiated`, `SourceIsIpv6`, ...) and keeps neither `QueryResults` nor the record text.
const ECS_PIPELINE: [&str; 2] = ["ecs.ndjson", "es_response.json"];

/// Shapes without a record number: the flat OTRF export drops it, and Sentinel's `WindowsEvent`
/// table has only an `EventOriginId` GUID.
const NO_RECORD_NUMBER: [&str; 2] = ["flat.ndjson", "sentinel_windowsevent.ndjson"];

const PING_GUID: &str = "{22052e76-2b25-5d12-0000-001064a64200}";
const PING_IMAGE: &str = r"C:\Windows\System32\PING.EXE";
const POWERSHELL_IMAGE: &str = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";
const ANALYST: &str = r"WIN10-LAB\analyst";

/// Sysmon record numbers of the 13 modelled events (the EID 7 record 41208 is skipped).
const RECORDS: [u64; 13] = [41207, 41211, 41215, 41870, 43018, 47731, 47802, 47815, 48190, 52544, 53307, 53422, 53431];

fn file_name(path: &Path) -> String {
    path.file_name().expect("file name").to_string_lossy().into_owned()
}

/// The events of every seed file, keyed by file name.
fn all_shapes() -> BTreeMap<String, Vec<Value>> {
    seed_files()
        .into_iter()
        .map(|path| {
            let run = events(&[&path], &[]);
            run.assert_exit(0);
            (file_name(&path), run.json_lines())
        })
        .collect()
}

/// Asserts every leaf of `expected` is in `actual` with the same value; arrays compare whole.
#[track_caller]
fn assert_contains(actual: &Value, expected: &Value, context: &str) {
    match expected {
        Value::Object(fields) => {
            for (key, want) in fields {
                assert_contains(&actual[key.as_str()], want, &format!("{context}.{key}"));
            }
        }
        want => assert_eq!(actual, want, "{context}"),
    }
}

fn a(data: &str) -> Value {
    json!({"type": "A", "data": data})
}

fn cname(data: &str) -> Value {
    json!({"type": "CNAME", "data": data})
}

/// What every layout must give for the 13 modelled seed events, in file order.
fn expected_events() -> Vec<Value> {
    let success = json!({"code": 0, "name": "SUCCESS"});
    let mut ping_answers = vec![cname("youtube-ui.l.google.com")];
    for ip in [
        "172.217.31.174",
        "172.217.161.46",
        "216.58.197.206",
        "216.58.197.238",
        "172.217.26.14",
        "216.58.197.142",
        "172.217.31.142",
        "172.217.25.206",
        "172.217.27.78",
        "172.217.26.46",
    ] {
        ping_answers.push(a(ip));
    }
    let ps = json!({"guid": "{22052e76-6f9d-5d13-0000-0010d31f0c00}", "pid": 6484, "image": POWERSHELL_IMAGE});
    let firefox = json!({"guid": "{22052e76-c60d-5d14-0000-001037fe4000}", "pid": 6528, "image": r"C:\Program Files\Mozilla Firefox\firefox.exe"});
    vec![
        json!({
            "event_type": "process_create", "time": "2019-06-25T14:09:41.401Z", "host": "WIN10-LAB.example.local",
            "process": {"guid": PING_GUID, "pid": 4876, "image": PING_IMAGE, "user": ANALYST},
            "command_line": "ping.exe  www.youtube.com", "original_file_name": "ping.exe",
            "current_directory": r"C:\Program Files\Mozilla Firefox\", "integrity_level": "Medium",
            "logon_guid": "{22052e76-2017-5d12-0000-0020bad31800}", "logon_id": "0x18d3ba", "terminal_session_id": 1,
            "hashes": {"MD5": "56633150D77AE242D07727B0564430BB", "SHA256": "741AD992403C78A8A7DBD97C74FDA06594A247E9E2FA05A40BB6945403A90056"},
            "parent": {"guid": "{22052e76-229c-5d12-0000-0010467c2800}", "pid": 3620, "image": r"C:\Windows\System32\cmd.exe"},
            "description": "TCP/IP Ping Command", "company": "Microsoft Corporation",
        }),
        json!({
            "event_type": "dns_query", "time": "2019-06-25T14:09:41.467Z", "host": "WIN10-LAB.example.local",
            "process": {"guid": PING_GUID, "pid": 4876, "image": PING_IMAGE},
            "query": {"name": "www.youtube.com", "unicode": null, "registered_domain": "youtube.com"},
            "status": success, "answers": ping_answers,
        }),
        json!({"event_type": "process_terminate", "time": "2019-06-25T14:09:44.536Z", "process": {"guid": PING_GUID, "pid": 4876, "image": PING_IMAGE}}),
        json!({
            "event_type": "network_connect", "time": "2019-06-25T14:57:40.674Z",
            "process": {"guid": "{22052e76-3664-5d12-0000-00106a0a6300}", "pid": 7864, "image": r"C:\Windows\System32\nslookup.exe", "user": ANALYST},
            "protocol": "udp", "source_ip": "192.168.0.134", "source_port": 53320, "source_hostname": "WIN10-LAB.localdomain",
            "destination_ip": "192.168.1.10", "destination_port": 53, "destination_hostname": "dmz.example.com",
        }),
        json!({
            "event_type": "dns_query", "time": "2019-06-25T16:21:44.138Z",
            "process": {"guid": "{22052e76-2725-5d12-0000-0010ee583200}", "pid": 3940, "image": POWERSHELL_IMAGE},
            "query": {"name": "hoge.example.com", "unicode": null, "registered_domain": "example.com"},
            "status": success, "answers": [{"type": "TXT", "data": null}],
        }),
        json!({
            "event_type": "process_create", "time": "2019-06-26T13:14:05.757Z",
            "process": {"guid": ps["guid"], "pid": 6484, "image": POWERSHELL_IMAGE, "user": ANALYST},
            "original_file_name": "PowerShell.EXE", "integrity_level": "High", "logon_id": "0x463a1",
            "parent": {"guid": "{22052e76-6f6c-5d13-0000-0010d6250800}", "pid": 6848, "image": r"C:\Windows\System32\RuntimeBroker.exe"},
            "parent_command_line": r"C:\Windows\System32\RuntimeBroker.exe -Embedding",
            "hashes": {"MD5": "7353F60B1739074EB17C5F4DDDEFE239", "SHA256": "DE96A6E69944335375DC1AC238336066889D9FFC7D73628EF4FE1B1B160AB32C"},
        }),
        json!({
            "event_type": "dns_query", "time": "2019-06-26T13:15:14.799Z", "process": ps,
            "query": {"name": "www.youtube.com", "registered_domain": "youtube.com"}, "status": success,
            "answers": [cname("youtube-ui.l.google.com")],
        }),
        json!({
            "event_type": "dns_query", "time": "2019-06-26T13:15:36.534Z", "process": ps,
            "query": {"name": "hoge.example.com"}, "status": success, "answers": [a("192.168.1.55")],
        }),
        json!({
            "event_type": "dns_query", "time": "2019-06-26T13:40:33.263Z", "process": ps,
            "query": {"name": "foo.example.com", "registered_domain": "example.com"},
            "status": {"code": 9003, "name": "DNS_ERROR_RCODE_NAME_ERROR"}, "answers": [],
        }),
        json!({
            "event_type": "network_connect", "time": "2019-06-27T12:58:51.258Z",
            "process": {"guid": "{22052e76-bd85-5d14-0000-00104c522d00}", "pid": 3688, "image": r"C:\Users\analyst\Desktop\dnscat2\dnscat2.exe", "user": ANALYST},
            "protocol": "udp", "source_ip": "192.168.0.134", "source_port": 49224,
            "destination_ip": "192.168.1.55", "destination_port": 53, "destination_hostname": "hoge.example.com",
        }),
        json!({
            "event_type": "dns_query", "time": "2019-06-27T13:29:04.822Z",
            "process": {"guid": "{22052e76-c49a-5d14-0000-00103e393e00}", "pid": 1076, "image": r"C:\Program Files (x86)\Google\Chrome\Application\chrome.exe"},
            "query": {"name": "xn--wgv71a119e.jp", "unicode": "日本語.jp", "registered_domain": "xn--wgv71a119e.jp"},
            "status": success, "answers": [a("117.104.133.183")],
        }),
        json!({
            "event_type": "dns_query", "time": "2019-06-27T13:35:17.753Z", "process": firefox,
            "query": {"name": "mozilla.cloudflare-dns.com", "unicode": null, "registered_domain": "cloudflare-dns.com"},
            "status": success, "answers": [a("104.16.248.249"), a("104.16.249.249")],
        }),
        json!({
            "event_type": "network_connect", "time": "2019-06-27T13:35:19.615Z", "process": firefox,
            "protocol": "tcp", "source_ip": "192.168.0.134", "source_port": 49901,
            "destination_ip": "104.16.248.249", "destination_port": 443, "destination_hostname": null,
        }),
    ]
}

#[test]
fn the_seed_directory_holds_the_documented_files() {
    let names: Vec<String> = seed_files().iter().map(|p| file_name(p)).collect();
    let documented: Vec<String> = SEED_FILES.iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(names, documented, "fixtures/seed/ and fixtures/README.md disagree");
}

#[test]
fn every_seed_file_gives_the_documented_counts() {
    for (name, format) in SEED_FILES {
        let path = common::fixture(&format!("seed/{name}"));
        let run = events(&[&path], &[]);
        run.assert_exit(0);
        let read = run.read();
        assert_eq!(read.totals, Counts::seed(), "{name}: totals");
        assert_eq!(read.files.len(), 1, "{name}: one file");
        let file = &read.files[0];
        assert_eq!(file.counts, Counts::seed(), "{name}: per-file counts");
        assert_eq!(file.format, format, "{name}: recognised format");
        assert_eq!(file.error, None, "{name}: file error");
        assert_eq!(file.bytes, std::fs::metadata(&path).unwrap().len(), "{name}: bytes read");
        assert_eq!(read.file_errors, 0, "{name}");
        assert!(read.examples.is_empty(), "{name}: problems reported: {:?}", read.examples);
        // The EID 7 ImageLoad is counted and skipped, never printed.
        let lines = run.json_lines();
        assert_eq!(lines.len(), 13, "{name}: events printed");
        assert!(lines.iter().all(|e| e["event_type"] != "image_load"), "{name}");
    }
}

#[test]
fn every_seed_shape_gives_the_documented_fields() {
    let expected = expected_events();
    for (name, events) in all_shapes() {
        assert_eq!(events.len(), expected.len(), "{name}");
        for (i, (event, want)) in events.iter().zip(&expected).enumerate() {
            assert_contains(event, want, &format!("{name} event {} (record {})", i + 1, RECORDS[i]));
        }
    }
}

#[test]
fn non_pipeline_shapes_carry_the_network_connect_flags() {
    // (event index, DestinationPortName as Sysmon wrote it)
    let port_names = [(3, Some("domain")), (9, Some("domain")), (12, Some("https"))];
    for (name, events) in all_shapes() {
        if ECS_PIPELINE.contains(&name.as_str()) {
            continue;
        }
        for (i, port_name) in port_names {
            let e = &events[i];
            assert_eq!(e["initiated"], json!(true), "{name} event {}", i + 1);
            assert_eq!(e["source_is_ipv6"], json!(false), "{name} event {}", i + 1);
            assert_eq!(e["destination_is_ipv6"], json!(false), "{name} event {}", i + 1);
            assert_eq!(e["destination_port_name"].as_str(), port_name, "{name} event {}", i + 1);
        }
    }
}

#[test]
fn record_numbers_are_kept_where_the_shape_has_them() {
    for (name, events) in all_shapes() {
        let got: Vec<&Value> = events.iter().map(|e| &e["record_id"]).collect();
        if NO_RECORD_NUMBER.contains(&name.as_str()) {
            assert!(got.iter().all(|r| r.is_null()), "{name} has no record numbers to report: {got:?}");
        } else {
            let want: Vec<Value> = RECORDS.iter().map(|r| json!(r)).collect();
            assert_eq!(got, want.iter().collect::<Vec<_>>(), "{name}");
        }
    }
}

/// Flattens a JSON value into `path → leaf` pairs.
fn leaves(value: &Value, prefix: &str, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                leaves(v, &path, out);
            }
        }
        leaf => {
            out.insert(prefix.to_owned(), leaf.clone());
        }
    }
}

#[test]
fn seed_shapes_agree_on_every_field_they_carry() {
    // Fields that legitimately differ: where the event came from, and the raw QueryResults text
    // (an array, a string with `::ffff:` addresses, or absent).
    let differs = |path: &str| path.starts_with("origin.") || path == "results_raw";
    let shapes = all_shapes();
    for i in 0..13 {
        let mut seen: BTreeMap<String, (Value, String)> = BTreeMap::new();
        for (name, events) in &shapes {
            let mut fields = BTreeMap::new();
            leaves(&events[i], "", &mut fields);
            for (path, value) in fields {
                if differs(&path) || value.is_null() {
                    continue;
                }
                match seen.get(&path) {
                    Some((first, first_shape)) => {
                        assert_eq!(&value, first, "event {} field {path}: {name} disagrees with {first_shape}", i + 1)
                    }
                    None => {
                        seen.insert(path, (value, name.clone()));
                    }
                }
            }
        }
    }
}

#[test]
fn process_guids_are_normalised_and_join_in_every_shape() {
    for (name, events) in all_shapes() {
        for e in &events {
            for key in ["process.guid", "parent.guid", "logon_guid"] {
                let Some(guid) = at(e, key).as_str() else { continue };
                let ok =
                    guid.len() == 38 && guid.starts_with('{') && guid.ends_with('}') && guid[1..37].chars().all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c));
                assert!(ok, "{name}: {key} {guid:?} is not a lower-case GUID with braces");
            }
        }
        // ping: EID 1, its EID 22 and its EID 5 share one GUID, whatever the layout wrote.
        let ping: Vec<&Value> = events.iter().filter(|e| e["process"]["pid"] == 4876).collect();
        assert_eq!(ping.len(), 3, "{name}: ping has EID 1, 22 and 5");
        let kinds: Vec<&str> = ping.iter().map(|e| e["event_type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["process_create", "dns_query", "process_terminate"], "{name}");
        assert!(ping.iter().all(|e| e["process"]["guid"] == PING_GUID), "{name}: ping GUIDs differ");
        // The PowerShell lookups join their EID 1 the same way.
        let create = events
            .iter()
            .find(|e| e["event_type"] == "process_create" && e["process"]["pid"] == 6484)
            .expect("EID 1 of powershell");
        let lookups = events
            .iter()
            .filter(|e| e["event_type"] == "dns_query" && e["process"]["guid"] == create["process"]["guid"])
            .count();
        assert_eq!(lookups, 3, "{name}: powershell lookups joined by GUID");
    }
}

#[test]
fn event_time_is_utctime_never_the_ingestion_time() {
    // Every layout except the ECS pipeline has an ingestion or write time that differs from
    // UtcTime; the times must be exactly the UtcTimes (millisecond precision), in order.
    let want: Vec<Value> = expected_events().iter().map(|e| e["time"].clone()).collect();
    for (name, events) in all_shapes() {
        let got: Vec<Value> = events.iter().map(|e| e["time"].clone()).collect();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn nxlog_pid_comes_from_the_event_not_the_sysmon_service() {
    let run = events(&[common::fixture("seed/nxlog.ndjson")], &[]);
    run.assert_exit(0);
    let pids: Vec<u64> = run.json_lines().iter().map(|e| e["process"]["pid"].as_u64().expect("pid")).collect();
    assert_eq!(pids, [4876, 4876, 4876, 7864, 3940, 6484, 6484, 6484, 6484, 3688, 1076, 6528, 6528]);
    assert!(!pids.contains(&2644), "2644 is the Sysmon service, not the process");
}

#[test]
fn the_record_type_detector_sees_the_txt_lookup_in_every_shape() {
    for path in seed_files() {
        let name = file_name(&path);
        let run = hunt(&[&path], &["--format", "jsonl"]);
        run.assert_exit(0);
        let findings = run.json_lines();
        let txt: Vec<&Value> = findings.iter().filter(|f| f["detector"] == "record_type").collect();
        assert_eq!(txt.len(), 1, "{name}: {findings:?}");
        assert_eq!(txt[0]["query_name"], "hoge.example.com", "{name}");
        assert_eq!(txt[0]["details"]["record_type"], "TXT", "{name}");
        assert_eq!(txt[0]["process"]["pid"], 3940, "{name}");
        assert_eq!(txt[0]["time"], "2019-06-25T16:21:44.138Z", "{name}");
    }
}

/// The 1-based line numbers at which each record of `text` starts.
fn lines_of(text: &str) -> Vec<&str> {
    text.split('\n').map(|l| l.trim_end_matches('\r')).collect()
}

/// Checks that each event's `origin.line` is the line where its record starts: the line opens a
/// record (`{` or `<Event `), lines grow from event to event, and the record's text holds the
/// event's UtcTime.
fn check_origin_lines(path: &Path, events: &[Value]) -> Result<(), String> {
    let name = file_name(path);
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.trim_start_matches('\u{feff}');
    let lines = lines_of(text);
    let starts: Vec<usize> = events
        .iter()
        .map(|e| e["origin"]["line"].as_u64().map(|l| l as usize).ok_or_else(|| format!("{name}: no origin.line in {e}")))
        .collect::<Result<_, _>>()?;
    for (i, e) in events.iter().enumerate() {
        let line = starts[i];
        let opening = lines.get(line - 1).ok_or_else(|| format!("{name}: line {line} is past the end"))?.trim_start();
        // A record opens the line, or (a hit in a pretty-printed response: `"hits" : [ {`,
        // `}, {`) ends it.
        if !(opening.starts_with('{') || opening.trim_end().ends_with('{') || opening.starts_with("<Event ") || opening.starts_with("<Event>")) {
            return Err(format!("{name}: event {} points at line {line}, which does not open a record: {:.60}", i + 1, opening));
        }
        if i > 0 && line <= starts[i - 1] {
            return Err(format!("{name}: event {} has line {line}, not after the previous event's {}", i + 1, starts[i - 1]));
        }
        let end = starts.get(i + 1).copied().unwrap_or(lines.len() + 1);
        let record = lines[line - 1..end - 1].join("\n");
        // `2019-06-25T14:09:41.467Z` → `14:09:41.467`, the way every layout writes UtcTime.
        let clock = &e["time"].as_str().unwrap()[11..23];
        if !record.contains(clock) {
            return Err(format!("{name}: event {} (line {line}) does not hold its time {clock}", i + 1));
        }
    }
    Ok(())
}

fn seed(name: &str) -> PathBuf {
    common::fixture(&format!("seed/{name}"))
}

#[test]
fn origin_lines_point_at_the_record() {
    for (name, _) in SEED_FILES {
        if ["get_winevent.xml", "es_response.json"].contains(&name) {
            continue; // see the two tests below
        }
        let run = events(&[seed(name)], &[]);
        run.assert_exit(0);
        let events = run.json_lines();
        assert!(
            events.iter().all(|e| e["origin"]["file"].as_str().is_some_and(|f| f.ends_with(name))),
            "{name}: origin.file"
        );
        check_origin_lines(&seed(name), &events).unwrap();
    }
}

#[test]
fn origin_lines_point_at_the_record_in_get_winevent_xml() {
    let run = events(&[seed("get_winevent.xml")], &[]);
    run.assert_exit(0);
    check_origin_lines(&seed("get_winevent.xml"), &run.json_lines()).unwrap();
}

#[test]
fn origin_lines_point_at_the_hit_in_an_es_response() {
    let run = events(&[seed("es_response.json")], &[]);
    run.assert_exit(0);
    let events = run.json_lines();
    // Index and `_id` are there in any case.
    assert!(events.iter().all(|e| e["origin"]["id"].is_string() && e["origin"]["index"].is_string()));
    check_origin_lines(&seed("es_response.json"), &events).unwrap();
}

#[test]
fn dns_query_user_is_never_the_account_sysmon_runs_as() {
    // Sysmon 10.1 writes no `User` in EID 22 or EID 5; Winlogbeat 6's top-level `user` is the
    // event's security user id (S-1-5-18, the Sysmon service), not the user of the process.
    for (name, events) in all_shapes() {
        for e in events.iter().filter(|e| e["event_type"] != "process_create" && e["event_type"] != "network_connect") {
            let user = &e["process"]["user"];
            assert!(
                user.is_null() || user == ANALYST,
                "{name}: {} of pid {} has user {user}",
                e["event_type"],
                e["process"]["pid"]
            );
        }
    }
}

//! Incidents on the shipped example: the story reads as at most three incidents with the
//! implant's beacon on top, every finding names its incident, and the table shows incidents
//! one line each unless `--findings` is given.

mod common;

use common::{example, hunt, Run};
use serde_json::Value;

fn hunt_example(extra: &[&str]) -> Run {
    let list = example("incident/blocklist.txt").to_string_lossy().into_owned();
    let mut args = vec!["--blocklist", list.as_str()];
    args.extend_from_slice(extra);
    let run = hunt(&[example("incident")], &args);
    run.assert_exit(0);
    run
}

#[test]
fn the_example_is_three_incidents_with_the_beacon_on_top() {
    let incidents = hunt_example(&["--incidents", "--format", "jsonl"]).json_lines();
    assert!(incidents.len() <= 3, "{:#?}", incidents.iter().map(|i| &i["headline"]).collect::<Vec<_>>());
    let top = &incidents[0];
    let detectors: Vec<&str> = top["detectors"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    assert!(detectors.contains(&"beacon"), "{top:#}");
    assert!(top["headline"].as_str().unwrap().contains("beaconing to update-cdn-sync.com"), "{}", top["headline"]);
    assert_eq!(top["severity"], "critical");
    assert!(incidents.windows(2).all(|w| w[0]["risk"].as_u64() >= w[1]["risk"].as_u64()), "ranked by risk");
    // The whole chain of the lure: Outlook → Word → PowerShell → rundll32 is one incident.
    assert!(top["root"]["image"].as_str().unwrap().ends_with("OUTLOOK.EXE"), "{}", top["root"]);
    let processes: Vec<&str> = top["processes"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    assert_eq!(processes, ["powershell.exe", "rundll32.exe"]);
    for kind in ["behaviour", "connection", "dns", "intel", "process"] {
        assert!(top["evidence_kinds"].as_array().unwrap().iter().any(|k| k == kind), "{kind}: {top:#}");
    }
    // The homograph in Chrome and tool.exe's own DNS are incidents of their own.
    let rest: Vec<&str> = incidents[1..].iter().map(|i| i["headline"].as_str().unwrap()).collect();
    assert!(rest.iter().any(|h| h.contains("chrome.exe") && h.contains("look-alike")), "{rest:?}");
    assert!(rest.iter().any(|h| h.contains("tool.exe")), "{rest:?}");
    // The timeline is in time order and holds every finding of the incident.
    let times: Vec<&str> = top["timeline"].as_array().unwrap().iter().map(|t| t["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn every_finding_carries_its_incident_id() {
    let incidents = hunt_example(&["--incidents", "--format", "jsonl"]).json_lines();
    let findings = hunt_example(&["--format", "jsonl"]).json_lines();
    let in_timelines: usize = incidents.iter().map(|i| i["timeline"].as_array().unwrap().len()).sum();
    assert_eq!(in_timelines, findings.len());
    for f in &findings {
        let id = f["incident_id"].as_str().unwrap_or_else(|| panic!("no incident_id: {f:#}"));
        let incident = incidents.iter().find(|i| i["id"] == id).expect("the incident exists");
        assert!(incident["timeline"].as_array().unwrap().iter().any(|t| t["finding_id"] == f["id"]));
    }
    // Ids are stable across runs.
    let again = hunt_example(&["--incidents", "--format", "jsonl"]).json_lines();
    let ids = |v: &[Value]| v.iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(ids(&incidents), ids(&again));
}

#[test]
fn one_dga_walk_is_one_finding_not_fourteen() {
    let findings = hunt_example(&["--format", "jsonl"]).json_lines();
    let dga: Vec<&Value> = findings.iter().filter(|f| f["detector"] == "dga").collect();
    assert_eq!(dga.len(), 1, "{dga:#?}");
    assert_eq!(dga[0]["details"]["distinct_names"], 14);
    assert_eq!(dga[0]["count"], 14);
    assert_eq!(dga[0]["details"]["nxdomain_share"], 1.0);
    // The exfiltration names: one finding per detector, not one per name.
    for detector in ["encoded_name", "outlier", "record_type", "tunnel_volume"] {
        let n = findings.iter().filter(|f| f["detector"] == detector && f.to_string().contains("exfil-sync.net")).count();
        assert_eq!(n, 1, "{detector}");
    }
}

#[test]
fn the_table_shows_incidents_one_line_each_and_findings_on_request() {
    let table = hunt_example(&["--format", "table"]).stdout_text();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("severity risk"), "{table}");
    assert_eq!(lines.len(), 4, "a header and three incidents:\n{table}");
    assert!(lines[1].starts_with("critical"), "{table}");
    let flat = hunt_example(&["--format", "table", "--findings"]).stdout_text();
    assert!(flat.contains("detector"), "{flat}");
    assert!(flat.lines().count() > 20, "{flat}");
}

/// One flat (OTRF/Logstash-shaped) Sysmon EID 22 line.
fn lookup_line(host: &str, guid: &str, image: &str, time: &str, name: &str) -> String {
    serde_json::json!({
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "EventID": 22,
        "Hostname": host,
        "UtcTime": time,
        "ProcessGuid": guid,
        "ProcessId": 4242,
        "Image": image,
        "QueryName": name,
        "QueryStatus": "0",
        "QueryResults": "type:  16",
    })
    .to_string()
}

#[test]
fn what_the_fleet_does_is_damped_and_one_host_once_is_raised() {
    let dir = common::TempDir::new("prevalence");
    let mut lines = Vec::new();
    // Eight hosts: the vendor agent on every one asks for TXT records of its own domain.
    for h in 0..8 {
        let host = format!("WS-{h:02}.corp.example");
        let guid = format!("{{7c1e4a2b-0000-65f0-0000-0000000000{h:02}}}");
        lines.push(lookup_line(
            &host,
            &guid,
            r"C:\Program Files\Vendor\agent.exe",
            "2024-03-12 09:00:00.000",
            "cfg.vendor-sync.com",
        ));
    }
    // One host's PowerShell asks for TXT records of a domain nobody else touches.
    lines.push(lookup_line(
        "WS-03.corp.example",
        "{7c1e4a2b-0000-65f0-0000-0000000000ff}",
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        "2024-03-12 09:05:00.000",
        "x.stage-sync.net",
    ));
    let file = dir.write("fleet.jsonl", (lines.join("\n") + "\n").as_bytes());
    let run = hunt(&[file], &["--format", "jsonl"]);
    run.assert_exit(0);
    let findings = run.json_lines();
    let txt = |domain: &str| -> Vec<&Value> { findings.iter().filter(|f| f["detector"] == "record_type" && f["registered_domain"] == domain).collect() };
    let common = txt("vendor-sync.com");
    assert_eq!(common.len(), 8, "{findings:#?}");
    for f in &common {
        assert_eq!(f["severity"], "info", "{f:#}");
        assert!(f["explanation"].as_str().unwrap().contains("seen on 8 of 8 hosts"), "{}", f["explanation"]);
        assert!(f["details"]["prevalence"]["factor"].as_f64().unwrap() < 1.0);
    }
    let rare = txt("stage-sync.net");
    assert_eq!(rare.len(), 1);
    assert!(rare[0]["details"]["prevalence"]["factor"].as_f64().unwrap() > 1.0, "{:#}", rare[0]);
    assert!(rare[0]["score"].as_u64() > common[0]["score"].as_u64());
}

#[test]
fn explain_prints_one_incident_with_its_evidence() {
    let incidents = hunt_example(&["--incidents", "--format", "jsonl"]).json_lines();
    let top = incidents[0]["id"].as_str().unwrap();
    // By a prefix of the incident's id, and by the id of one of its findings: the same view.
    let by_prefix = hunt_example(&["--explain", &top[..8], "-q"]).stdout_text();
    let finding = incidents[0]["timeline"][0]["finding_id"].as_str().unwrap();
    let by_finding = hunt_example(&["--explain", finding, "-q"]).stdout_text();
    assert_eq!(by_prefix, by_finding);
    assert!(by_prefix.starts_with(&format!("incident {top}  critical")), "{by_prefix}");
    assert!(by_prefix.contains("timeline (18 findings):"), "{by_prefix}");
    assert!(
        by_prefix.contains("process tree: userinit.exe → explorer.exe → OUTLOOK.EXE → WINWORD.EXE → powershell.exe"),
        "{by_prefix}"
    );
    assert!(
        by_prefix.contains("evidence: examples/incident/workstation.ndjson:30") || by_prefix.contains("workstation.ndjson:30"),
        "{by_prefix}"
    );
    // An id that names nothing is an error, not an empty page.
    let list = example("incident/blocklist.txt").to_string_lossy().into_owned();
    let none = hunt(&[example("incident")], &["--blocklist", list.as_str(), "--explain", "zzzz", "-q"]);
    none.assert_exit(1);
    assert!(none.stderr.contains("no incident or finding has this id"), "{}", none.stderr);
}

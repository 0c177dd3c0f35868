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

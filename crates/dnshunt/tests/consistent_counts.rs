//! One notion of host, image and domain in every command: `stats`, `sysmon-config`, the HTML
//! report and `hunt`'s prevalence count the same hosts (a host named short and in full is one)
//! and the same domains (single-label names such as `wpad` and `localhost` are none) on the
//! same input.

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::{run_with, shared_data_or_skip, TempDir};
use serde_json::Value;

fn dnshunt(args: &[&str], summary: bool) -> common::Run {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    let run = run_with(&args, summary, None);
    run.assert_exit(0);
    run
}

/// The number in the report card whose caption is `caption`.
fn card(html: &str, caption: &str) -> u64 {
    let needle = format!("</b><small>{caption}</small>");
    let end = html.find(&needle).unwrap_or_else(|| panic!("no `{caption}` card"));
    let start = html[..end].rfind("<b>").expect("card value") + 3;
    html[start..end].replace(',', "").trim_end_matches('+').parse().expect("card number")
}

fn check(input: &Path) {
    let input = input.to_str().expect("UTF-8 path");
    let scratch = TempDir::new("consistent");

    let stats = dnshunt(&["stats", input, "--format", "json", "--top", "0"], false);
    let stats: Value = serde_json::from_slice(&stats.stdout).expect("stats JSON");
    let domains = stats["distinct_domains"].as_u64().unwrap();
    let hosts = stats["source"]["hosts"].as_u64().unwrap();
    let names: Vec<&str> = stats["domains"].as_array().unwrap().iter().map(|r| r["value"].as_str().unwrap()).collect();
    assert_eq!(names.len() as u64, domains);
    for single in ["wpad", "localhost"] {
        assert!(!names.contains(&single), "{single} is no domain: {names:?}");
    }
    assert!(names.iter().all(|n| n.contains('.')), "{names:?}");

    let config = dnshunt(&["sysmon-config", input], false);
    let line = config.stderr.lines().find(|l| l.contains("DNS query events,")).expect("sysmon-config summary line");
    let config_domains: u64 = line
        .split("events, ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("domain count");
    assert_eq!(config_domains, domains, "sysmon-config: {line}");

    let report = scratch.join("r.html");
    let hunt = dnshunt(&["hunt", input, "--format", "jsonl", "--report", report.to_str().unwrap()], true);
    let html = std::fs::read_to_string(&report).expect("report written");
    assert_eq!(card(&html, "domains"), domains, "report domains");
    assert_eq!(card(&html, "hosts"), hosts, "report hosts");
    let fleet = hunt.summary()["prevalence"]["fleet_hosts"].as_u64().unwrap();
    assert_eq!(fleet, hosts, "hunt's prevalence hosts");
}

/// Security-Datasets name one host both short and in full and look up `wpad` and `localhost`.
#[test]
fn stats_sysmon_config_report_and_prevalence_agree_on_security_datasets() {
    let Some(data) = shared_data_or_skip("stats_sysmon_config_report_and_prevalence_agree_on_security_datasets") else {
        return;
    };
    check(&data.join("security-datasets"));
}

#[test]
fn stats_sysmon_config_report_and_prevalence_agree_on_the_example() {
    check(&common::example("incident"));
}

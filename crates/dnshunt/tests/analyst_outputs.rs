//! The analyst outputs through the binary: `hunt --sigma` (findings and the rule report in the
//! summary), `stats` over files (tables, JSON, CSV, `--rare`) and `sysmon-config` (XML alone
//! and merged into an existing config).

mod common;

use std::ffi::OsStr;

use common::{example, hunt, run_with, TempDir};

const RULES: &str = r#"
title: Rundll32 resolving names
id: 6a1c4b2e-0000-4000-8000-00000000aa01
logsource:
    product: windows
    category: dns_query
detection:
    selection:
        Image|endswith: '\rundll32.exe'
    condition: selection
level: high
tags:
    - attack.defense-evasion
    - attack.t1218.011
---
title: Not for us
id: 6a1c4b2e-0000-4000-8000-00000000aa02
logsource:
    product: linux
    category: process_creation
detection:
    selection:
        Image: /bin/sh
    condition: selection
"#;

fn os(args: &[&str]) -> Vec<&'static OsStr> {
    args.iter().map(|a| OsStr::new(Box::leak(a.to_string().into_boxed_str()))).collect()
}

#[test]
fn hunt_with_sigma_rules_reports_matches_and_skipped_rules() {
    let dir = TempDir::new("sigma");
    let rules = dir.write("rules/ours.yml", RULES.as_bytes());
    let rules = rules.to_str().unwrap();
    let run = hunt(&[example("incident")], &["--sigma", rules, "--format", "jsonl"]);
    run.assert_exit(0);
    let sigma: Vec<_> = run.json_lines().into_iter().filter(|f| f["detector"] == "sigma").collect();
    assert_eq!(sigma.len(), 1, "one finding per rule and process (merged)");
    let f = &sigma[0];
    assert_eq!(f["severity"], "high");
    assert_eq!(f["attack"][0], "T1218.011");
    assert_eq!(f["details"]["rule_title"], "Rundll32 resolving names");
    assert!(f["count"].as_u64().unwrap() > 10, "{f}");
    assert!(run.stderr.contains("1 rules loaded"), "{}", run.stderr);
    let report = &run.summary()["sigma"];
    assert_eq!(report["loaded"], 1);
    assert_eq!(report["skipped"][0]["title"], "Not for us");
    assert!(report["skipped"][0]["reason"].as_str().unwrap().starts_with("unsupported logsource"));
}

#[test]
fn stats_over_files_as_json_and_csv() {
    let path = example("incident");
    let path = path.to_str().unwrap();
    let run = run_with(&os(&["stats", path, "--format", "json", "--top", "0", "-q"]), false, None);
    run.assert_exit(0);
    let doc: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let stacks = &doc["stacks"];
    for key in ["registered_domain", "query_name", "image", "host", "record_type", "status"] {
        assert!(stacks[key]["rows"].as_array().is_some_and(|r| !r.is_empty()), "{key}");
    }
    let domains = stacks["registered_domain"]["rows"].as_array().unwrap();
    assert!(domains.windows(2).all(|w| w[0]["count"].as_u64() >= w[1]["count"].as_u64()), "most common first");
    let total: u64 = stacks["host"]["rows"].as_array().unwrap().iter().map(|r| r["count"].as_u64().unwrap()).sum();
    assert_eq!(total, doc["source"]["dns_events"].as_u64().unwrap());
    assert!(domains[0]["first_seen"].as_str().unwrap() <= domains[0]["last_seen"].as_str().unwrap());

    let rare = run_with(&os(&["stats", path, "--format", "csv", "--rare", "--top", "2", "-q"]), false, None);
    rare.assert_exit(0);
    let text = rare.stdout_text();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("dimension,value,count,hosts,first_seen,last_seen"));
    let first_domain = lines.next().unwrap();
    assert!(first_domain.starts_with("registered_domain,") && first_domain.contains(",1,1,"), "{first_domain}");
}

#[test]
fn sysmon_config_alone_and_merged() {
    let path = example("incident");
    let path = path.to_str().unwrap();
    let args = ["sysmon-config", path, "--min-hosts", "1", "--min-queries", "3", "--min-share", "1%"];
    let run = run_with(&os(&args), false, None);
    run.assert_exit(0);
    let xml = run.stdout_text();
    assert!(xml.contains("<QueryName condition=\"end with\">.microsoft.com</QueryName>"), "{xml}");
    // The beaconing C2 domain of the example has findings: never excluded.
    assert!(!xml.contains("update-cdn-sync.com"), "{xml}");
    assert!(run.stderr.contains("expected reduction of EID 22 volume"), "{}", run.stderr);

    let dir = TempDir::new("sysmon");
    let existing = "<Sysmon schemaversion=\"4.50\">\n  <EventFiltering>\n    <RuleGroup name=\"\" groupRelation=\"or\">\n      <ProcessCreate onmatch=\"exclude\"/>\n    </RuleGroup>\n  </EventFiltering>\n</Sysmon>\n";
    let file = dir.write("sysmon.xml", existing.as_bytes());
    let mut merge_args = args.to_vec();
    merge_args.extend(["--merge", file.to_str().unwrap(), "-q"]);
    let merged = run_with(&os(&merge_args), false, None);
    merged.assert_exit(0);
    let text = merged.stdout_text();
    let at = existing.find("  </EventFiltering>").unwrap();
    assert!(text.starts_with(&existing[..at]) && text.ends_with(&existing[at..]), "{text}");
    assert!(text.contains("<DnsQuery onmatch=\"exclude\">") && text.contains(".microsoft.com"), "{text}");
}

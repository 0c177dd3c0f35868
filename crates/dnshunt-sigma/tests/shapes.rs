//! Our own small Sigma rules, written against Sysmon field names, match the seed events the same
//! way in every input shape (EVTX JSON, Winlogbeat 6, ECS, flat, NXLog, ES hits, XML), stay in
//! their category, and turn into findings; rules that cannot be used are listed with a reason.

use std::collections::BTreeMap;
use std::path::Path;

use dnshunt_core::{Detector, Event, Severity};
use dnshunt_sigma::{load_texts, SigmaDetector};
use dnshunt_source::{Input, Message, ReadOptions};

const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/seed");

const RULES: &str = r#"
title: Ping of youtube
id: 00000000-0000-4000-8000-000000000001
status: test
logsource:
    product: windows
    category: dns_query
detection:
    selection:
        QueryName|endswith: '.youtube.com'
        Image|endswith: '\PING.EXE'
        QueryStatus: '0'
        QueryResults|contains: 'youtube-ui.l.google.com'
    condition: selection
level: low
tags:
    - attack.command-and-control
    - attack.t1071.004
---
title: Failed lookup
id: 00000000-0000-4000-8000-000000000002
logsource:
    product: windows
    category: dns_query
detection:
    selection:
        QueryStatus: '9003'
    condition: selection
level: informational
---
title: Ping started from cmd
id: 00000000-0000-4000-8000-000000000003
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        OriginalFileName: 'ping.exe'
        ParentImage|endswith: '\cmd.exe'
        CommandLine|contains: 'youtube'
    condition: selection
level: medium
---
title: Powershell process
id: 00000000-0000-4000-8000-000000000004
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        Image|endswith: '\powershell.exe'
    condition: selection
level: high
---
title: Direct DNS by a tool on the desktop
id: 00000000-0000-4000-8000-000000000005
logsource:
    product: windows
    category: network_connection
detection:
    selection:
        DestinationPort: 53
        Initiated: 'true'
        Protocol: udp
        Image|contains: '\Desktop\'
    condition: selection
level: critical
---
title: Any DNS query
id: 00000000-0000-4000-8000-000000000006
name: any_dns_query
logsource:
    product: windows
    category: dns_query
detection:
    selection:
        QueryName|exists: true
    condition: selection
level: informational
"#;

const CORRELATION: &str = r#"
title: Three lookups by one program within an hour
id: 00000000-0000-4000-8000-000000000007
correlation:
    type: event_count
    rules:
        - any_dns_query
    group-by:
        - Image
    timespan: 1h
    condition:
        gte: 3
level: high
"#;

const UNUSABLE: &str = r#"
title: Linux rule
id: 00000000-0000-4000-8000-000000000010
logsource:
    product: linux
    category: process_creation
detection:
    selection:
        Image: /bin/sh
    condition: selection
---
title: Bad modifier
id: 00000000-0000-4000-8000-000000000011
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        Image|nosuchmodifier: x
    condition: selection
---
title: Undefined selection
id: 00000000-0000-4000-8000-000000000012
logsource:
    product: windows
    category: dns_query
detection:
    selection:
        QueryName: x
    condition: selection and other
"#;

fn read_events(path: &Path) -> Vec<Event> {
    let (rx, handle) = dnshunt_source::spawn(vec![Input::from_arg(&path.display().to_string())], ReadOptions::default());
    let mut events = Vec::new();
    for msg in rx {
        if let Message::Batch { events: batch, .. } = msg {
            events.extend(batch);
        }
    }
    handle.join().expect("reader thread");
    events.sort_by_key(|e| e.time);
    events
}

fn detector() -> SigmaDetector {
    let texts = vec![
        ("ours.yml".to_owned(), RULES.to_owned()),
        ("corr.yml".to_owned(), CORRELATION.to_owned()),
        ("bad.yml".to_owned(), UNUSABLE.to_owned()),
    ];
    let (rules, report) = load_texts(&texts);
    assert_eq!(report.loaded, 6, "{:?}", report.skipped);
    assert_eq!(report.correlations_loaded, 1, "{:?}", report.skipped);
    assert_eq!(report.skipped.len(), 3, "{:?}", report.skipped);
    let reasons: Vec<&str> = report.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert!(reasons.iter().any(|r| r.starts_with("unsupported logsource: product linux")), "{reasons:?}");
    assert!(report.skipped.iter().all(|s| s.path == "bad.yml" && !s.reason.is_empty()), "{:?}", report.skipped);
    SigmaDetector::new(rules)
}

#[test]
fn our_rules_match_every_shape_alike() {
    let mut shapes = 0;
    for entry in std::fs::read_dir(SEED).expect("seed fixtures") {
        let path = entry.expect("entry").path();
        let events = read_events(&path);
        assert_eq!(events.len(), 13, "{}", path.display());
        let mut det = detector();
        let mut titles: BTreeMap<String, usize> = BTreeMap::new();
        let mut findings = Vec::new();
        for event in &events {
            det.observe(event, &mut findings);
        }
        for f in &findings {
            *titles.entry(f.details["rule_title"].as_str().unwrap().to_owned()).or_default() += 1;
        }
        let count = |t: &str| titles.get(t).copied().unwrap_or(0);
        let shown = path.display();
        assert_eq!(count("Ping of youtube"), 1, "{shown}: {titles:?}");
        assert_eq!(count("Failed lookup"), 1, "{shown}: {titles:?}");
        assert_eq!(count("Ping started from cmd"), 1, "{shown}: {titles:?}");
        // A process_creation rule sees process creations only, not the DNS queries of powershell.
        assert_eq!(count("Powershell process"), 1, "{shown}: {titles:?}");
        assert_eq!(count("Direct DNS by a tool on the desktop"), 1, "{shown}: {titles:?}");
        assert_eq!(count("Any DNS query"), 7, "{shown}: {titles:?}");
        assert!(count("Three lookups by one program within an hour") >= 1, "{shown}: {titles:?}");

        let ping = findings.iter().find(|f| f.details["rule_title"] == "Ping of youtube").unwrap();
        assert_eq!(ping.detector, "sigma");
        assert_eq!(ping.severity, Severity::Low);
        assert_eq!(ping.attack, ["T1071.004"]);
        assert_eq!(ping.details["rule_id"], "00000000-0000-4000-8000-000000000001");
        assert_eq!(ping.details["rule_path"], "ours.yml");
        assert!(ping.explanation.contains("Ping of youtube"), "{}", ping.explanation);
        let failed = findings.iter().find(|f| f.details["rule_title"] == "Failed lookup").unwrap();
        assert_eq!(failed.severity, Severity::Info);
        shapes += 1;
    }
    assert_eq!(shapes, 12, "every seed shape");
}

use std::sync::Arc;

use dnshunt_core::*;
use serde_json::json;

use super::*;

const T0: i64 = 1_710_230_400_000;
const MIN: i64 = 60_000;

/// A process with the chain of its parents (nearest first), as the engine annotates findings.
#[derive(Clone)]
struct P {
    host: &'static str,
    guid: u128,
    image: &'static str,
    parents: Vec<(u128, &'static str)>,
}

fn p(host: &'static str, guid: u128, image: &'static str, parents: &[(u128, &'static str)]) -> P {
    P {
        host,
        guid,
        image,
        parents: parents.to_vec(),
    }
}

fn event(proc_: &P, minute: i64, kind: impl FnOnce(ProcessRef) -> EventKind) -> Event {
    let pref = ProcessRef {
        guid: Some(Guid(proc_.guid)),
        pid: Some(proc_.guid as u32),
        image: Some(proc_.image.into()),
        user: None,
    };
    Event {
        time: Timestamp(T0 + minute * MIN),
        host: Some(proc_.host.into()),
        record_id: None,
        rule_name: None,
        origin: Origin::line(&Arc::from("t.ndjson"), minute as u64 + 1),
        kind: kind(pref),
    }
}

fn dns_finding(proc_: &P, minute: i64, detector: &str, name: &str, score: u8) -> Finding {
    let e = event(proc_, minute, |process| {
        EventKind::DnsQuery(DnsQuery {
            process,
            query: DnsName::new(name),
            status: QueryStatus(0),
            answers: Vec::new(),
            results_raw: "-".into(),
        })
    });
    with_chain(
        Finding::from_event(detector, Severity::for_score(score), score, &e, &[name], format!("{detector} on {name}")),
        proc_,
    )
}

fn net_finding(proc_: &P, minute: i64, detector: &str, ip: &str, port: u16, score: u8) -> Finding {
    let e = event(proc_, minute, |process| {
        EventKind::NetworkConnect(Box::new(NetworkConnect {
            process,
            protocol: Some("tcp".into()),
            destination_ip: parse_ip(ip),
            destination_port: Some(port),
            ..Default::default()
        }))
    });
    with_chain(
        Finding::from_event(detector, Severity::for_score(score), score, &e, &[ip], format!("{detector} to {ip}")),
        proc_,
    )
}

fn with_chain(mut f: Finding, proc_: &P) -> Finding {
    if !proc_.parents.is_empty() {
        let chain: Vec<serde_json::Value> = proc_.parents.iter().map(|(g, image)| json!({"guid": Guid(*g).to_string(), "image": image})).collect();
        f.details.insert("process_chain".into(), chain.into());
    }
    f
}

fn never_rare(_: &str) -> bool {
    false
}

fn always_rare(_: &str) -> bool {
    true
}

#[track_caller]
fn check(findings: &mut [Finding], rare: &dyn Fn(&str) -> bool, expected: &[(usize, Severity)]) -> Vec<Incident> {
    let incidents = build(findings, &IncidentConfig::default(), rare);
    let got: Vec<(usize, Severity)> = incidents.iter().map(|i| (i.timeline.len(), i.severity)).collect();
    assert_eq!(got, expected, "{:#?}", incidents.iter().map(|i| &i.headline).collect::<Vec<_>>());
    for f in findings.iter() {
        let id = f.incident_id.as_deref().expect("every finding has an incident");
        assert!(incidents.iter().any(|i| i.id == id && i.timeline.iter().any(|t| t.finding_id == f.id)));
    }
    incidents
}

const EXPLORER: (u128, &str) = (1, r"C:\Windows\explorer.exe");
const USERINIT: (u128, &str) = (0, r"C:\Windows\System32\userinit.exe");

/// The shipped example's story: Outlook → Word → PowerShell → rundll32, plus Chrome and a tool.
fn example() -> Vec<Finding> {
    let outlook = (2, r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE");
    let word = (3, r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE");
    let ps = p(
        "WS-ACCT-07.corp.example.com",
        4,
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        &[word, outlook, EXPLORER, USERINIT],
    );
    let rundll = p(
        "WS-ACCT-07.corp.example.com",
        5,
        r"C:\Windows\System32\rundll32.exe",
        &[(4, ps.image), word, outlook, EXPLORER, USERINIT],
    );
    let chrome = p(
        "WS-ACCT-07.corp.example.com",
        6,
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        &[EXPLORER, USERINIT],
    );
    let tool = p("WS-ACCT-07.corp.example.com", 7, r"C:\Users\k.sato\Downloads\tool.exe", &[EXPLORER, USERINIT]);
    vec![
        dns_finding(&ps, 0, "process_context", "static.docview-static.net", 80),
        dns_finding(&ps, 0, "blocklist", "static.docview-static.net", 85),
        dns_finding(&rundll, 1, "beacon", "api.update-cdn-sync.com", 99),
        dns_finding(&rundll, 1, "blocklist", "api.update-cdn-sync.com", 85),
        net_finding(&rundll, 1, "blocklist", "203.0.113.47", 443, 65),
        dns_finding(&ps, 9, "encoded_name", "x.0.t.exfil-sync.net", 90),
        dns_finding(&ps, 9, "tunnel_volume", "x.0.t.exfil-sync.net", 65),
        dns_finding(&ps, 9, "record_type", "x.0.t.exfil-sync.net", 30),
        dns_finding(&chrome, 31, "lookalike", "xn--pypal-4ve.com", 85),
        dns_finding(&ps, 41, "dga", "kskr6mxycqm29.com", 90),
        dns_finding(&ps, 41, "nxdomain_storm", "kskr6mxycqm29.com", 60),
        net_finding(&tool, 53, "resolver_bypass", "8.8.8.8", 53, 85),
        dns_finding(&rundll, 59, "doh_lookup", "dns.google", 60),
        net_finding(&rundll, 59, "doh_connection", "8.8.8.8", 443, 80),
    ]
}

#[test]
fn the_example_reads_as_three_incidents_with_the_implant_on_top() {
    let mut findings = example();
    let incidents = check(&mut findings, &never_rare, &[(12, Severity::Critical), (1, Severity::High), (1, Severity::High)]);
    let top = &incidents[0];
    assert!(top.risk >= 95, "{}", top.risk);
    assert_eq!(top.root.image.as_deref().map(image_file_name).as_deref(), Some("outlook.exe"));
    assert!(
        top.headline
            .starts_with("WS-ACCT-07: OUTLOOK.EXE → powershell.exe, rundll32.exe: beaconing to update-cdn-sync.com"),
        "{}",
        top.headline
    );
    assert_eq!(top.evidence_kinds, ["behaviour", "connection", "dns", "intel", "process"]);
    assert!(top.timeline.windows(2).all(|w| w[0].time <= w[1].time));
    // The two single-finding incidents cannot be critical without corroboration.
    assert!(incidents[1..].iter().all(|i| i.risk <= 90));
    let tool = incidents.iter().find(|i| i.processes == ["tool.exe"]).unwrap();
    assert!(tool.headline.contains("DNS sent past the resolver"), "{}", tool.headline);
}

#[test]
fn ids_are_stable_whatever_the_order() {
    let mut a = example();
    let mut b = example();
    b.reverse();
    let ia = build(&mut a, &IncidentConfig::default(), &never_rare);
    let ib = build(&mut b, &IncidentConfig::default(), &never_rare);
    let ids = |v: &[Incident]| v.iter().map(|i| (i.id.clone(), i.risk, i.timeline.len())).collect::<Vec<_>>();
    assert_eq!(ids(&ia), ids(&ib));
}

#[test]
fn risk_rises_with_kinds_of_evidence_not_with_counts() {
    let ps = p("H1", 10, "powershell.exe", &[EXPLORER]);
    // Twenty findings of one detector: one kind of evidence.
    let mut many: Vec<Finding> = (0..20).map(|i| dns_finding(&ps, i, "encoded_name", &format!("a{i}.example{i}.net"), 70)).collect();
    let many = check(&mut many, &never_rare, &[(20, Severity::Medium)]);
    // Three findings of three kinds.
    let mut corroborated = vec![
        dns_finding(&ps, 0, "encoded_name", "a.example.net", 70),
        dns_finding(&ps, 1, "process_context", "a.example.net", 70),
        net_finding(&ps, 2, "connection_without_lookup", "203.0.113.5", 443, 70),
    ];
    let corroborated = check(&mut corroborated, &never_rare, &[(3, Severity::High)]);
    assert!(corroborated[0].risk > many[0].risk + 10, "{} vs {}", corroborated[0].risk, many[0].risk);
    assert_eq!(many[0].risk, 70, "one kind of evidence is worth its best finding");
}

#[test]
fn info_findings_do_not_corroborate() {
    let code = p("H1", 11, r"C:\Users\u\AppData\Local\Programs\Microsoft VS Code\Code.exe", &[EXPLORER]);
    let mut findings = vec![
        net_finding(&code, 0, "resolver_bypass", "10.0.0.53", 53, 10),
        dns_finding(&code, 1, "special_name", "wpad.corp", 10),
    ];
    let incidents = check(&mut findings, &never_rare, &[(2, Severity::Info)]);
    assert!(incidents[0].risk < 25);
}

#[test]
fn programs_started_from_explorer_are_separate_and_children_join_their_parent() {
    let cmd = p("H1", 20, "cmd.exe", &[EXPLORER]);
    let child = p("H1", 21, "certutil.exe", &[(20, "cmd.exe"), EXPLORER]);
    let other = p("H1", 22, "notepad++.exe", &[EXPLORER]);
    let mut findings = vec![
        dns_finding(&cmd, 0, "process_context", "a.example", 60),
        dns_finding(&child, 1, "process_context", "b.example", 60),
        dns_finding(&other, 2, "process_context", "c.example", 60),
    ];
    let incidents = check(&mut findings, &never_rare, &[(2, Severity::Medium), (1, Severity::Medium)]);
    assert_eq!(incidents[0].processes, ["cmd.exe", "certutil.exe"]);
}

#[test]
fn a_service_root_itself_anchors_its_own_findings() {
    let svc1 = p("DC01", 30, r"C:\Windows\System32\svchost.exe", &[(2, r"C:\Windows\System32\services.exe")]);
    let svc2 = p("DC01", 31, r"C:\Windows\System32\svchost.exe", &[(2, r"C:\Windows\System32\services.exe")]);
    let mut findings = vec![
        net_finding(&svc1, 0, "connection_without_lookup", "20.1.2.3", 443, 35),
        net_finding(&svc2, 0, "connection_without_lookup", "20.1.2.4", 443, 35),
    ];
    check(&mut findings, &never_rare, &[(1, Severity::Low), (1, Severity::Low)]);
}

#[test]
fn hosts_sharing_a_rare_indicator_become_one_incident() {
    let a = p("WS1.corp.example", 40, "rundll32.exe", &[(41, "winword.exe"), EXPLORER]);
    let b = p("ws2", 50, "rundll32.exe", &[(51, "excel.exe"), EXPLORER]);
    let c = p("WS3", 60, "chrome.exe", &[EXPLORER]);
    let make = || {
        vec![
            dns_finding(&a, 0, "beacon", "c2.evil-cdn.net", 85),
            dns_finding(&b, 5, "beacon", "c2.evil-cdn.net", 85),
            dns_finding(&c, 5, "lookalike", "paypa1.com", 85),
        ]
    };
    let mut findings = make();
    let joined = check(&mut findings, &always_rare, &[(2, Severity::High), (1, Severity::High)]);
    assert!(joined[0].risk > joined[1].risk, "a second host corroborates: {} vs {}", joined[0].risk, joined[1].risk);
    assert_eq!(joined[0].hosts, ["WS1.corp.example", "ws2"]);
    assert!(joined[0].risk_reasons.iter().any(|r| r == "on 2 hosts"));
    assert!(joined[0].headline.starts_with("WS1 and 1 more host: "), "{}", joined[0].headline);
    // A domain the fleet sees everywhere does not join.
    let mut findings = make();
    check(&mut findings, &never_rare, &[(1, Severity::High), (1, Severity::High), (1, Severity::High)]);
}

#[test]
fn findings_far_apart_in_time_split_a_long_lived_tree() {
    let svc = p("H1", 70, r"C:\Program Files\Agent\agent.exe", &[(2, r"C:\Windows\System32\services.exe")]);
    let mut findings = vec![
        dns_finding(&svc, 0, "dga", "qwzkx.com", 60),
        dns_finding(&svc, 60, "dga", "zkqxw.com", 60),
        dns_finding(&svc, 3 * 24 * 60, "dga", "xkqzw.com", 60),
    ];
    let incidents = check(&mut findings, &never_rare, &[(2, Severity::Medium), (1, Severity::Medium)]);
    assert_ne!(incidents[0].id, incidents[1].id);
}

#[test]
fn short_and_qualified_host_names_are_one_host() {
    assert_eq!(host_key("WS-ACCT-07.corp.example.com"), "ws-acct-07");
    assert_eq!(host_key("ws-acct-07"), "ws-acct-07");
    assert_eq!(host_key("10.1.2.3"), "10.1.2.3");
    let a = p("WS1.corp.example", 80, "x.exe", &[EXPLORER]);
    let b = p("ws1", 80, "x.exe", &[EXPLORER]);
    let mut findings = vec![dns_finding(&a, 0, "dga", "qwzkx.com", 60), dns_finding(&b, 1, "process_context", "qwzkx.com", 60)];
    let incidents = check(&mut findings, &never_rare, &[(2, Severity::Medium)]);
    assert_eq!(incidents[0].hosts, ["WS1.corp.example"]);
}

#[test]
fn a_related_lookup_joins_but_does_not_corroborate() {
    let ps = p("H1", 90, "powershell.exe", &[EXPLORER]);
    let ping = p("H1", 91, "PING.EXE", &[(90, "powershell.exe"), EXPLORER]);
    let mut alone = vec![dns_finding(&ps, 0, "process_context", "evil-c2.net", 80)];
    let alone = check(&mut alone, &never_rare, &[(1, Severity::High)]);
    let mut with_ping = vec![
        dns_finding(&ps, 0, "process_context", "evil-c2.net", 80),
        dns_finding(&ping, 1, "related_lookup", "evil-c2.net", 60),
    ];
    let joined = check(&mut with_ping, &never_rare, &[(2, Severity::High)]);
    assert_eq!(joined[0].risk, alone[0].risk, "the operator's ping is the same observation");
}

#[test]
fn ancestors_known_only_by_name_do_not_merge_trees() {
    // Two processes whose parent cmd.exe has no EID 1 (no GUID in the chain): two incidents.
    let a = p("H1", 100, "certutil.exe", &[(0, "cmd.exe")]);
    let b = p("H1", 101, "bitsadmin.exe", &[(0, "cmd.exe")]);
    let strip = |mut f: Finding| {
        if let Some(chain) = f.details.get_mut("process_chain").and_then(|v| v.as_array_mut()) {
            for link in chain {
                link.as_object_mut().unwrap().remove("guid");
            }
        }
        f
    };
    let mut findings = vec![
        strip(dns_finding(&a, 0, "process_context", "a.example", 60)),
        strip(dns_finding(&b, 1, "process_context", "b.example", 60)),
    ];
    check(&mut findings, &never_rare, &[(1, Severity::Medium), (1, Severity::Medium)]);
}

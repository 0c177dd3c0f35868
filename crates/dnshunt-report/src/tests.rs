use std::sync::Arc;

use dnshunt_core::{DnsName, DnsQuery, Event, EventKind, Finding, Origin, ProcessRef, QueryStatus, Severity, Timestamp};

use super::*;

const BASE: i64 = 1_710_233_352_000; // 2024-03-12T08:49:12Z

fn query(t_ms: i64, host: &str, image: &str, name: &str, status: u32) -> Event {
    let file: Arc<str> = Arc::from("fixture.ndjson");
    Event {
        time: Timestamp(t_ms),
        host: Some(host.into()),
        record_id: None,
        rule_name: None,
        origin: Origin::line(&file, (t_ms - BASE) as u64 / 1000 + 1),
        kind: EventKind::DnsQuery(DnsQuery {
            process: ProcessRef {
                image: Some(image.into()),
                ..ProcessRef::default()
            },
            query: DnsName::new(name),
            status: QueryStatus(status),
            answers: Vec::new(),
            results_raw: String::new(),
        }),
    }
}

fn render_to_string(summary: &Summary, findings: &[Finding]) -> String {
    let mut out = Vec::new();
    render(
        &mut out,
        summary,
        findings,
        &ReportMeta {
            inputs: vec!["<b>evidence</b>".into()],
            generated: None,
        },
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

const HOSTILE: [&str; 3] = [
    "<script>alert(1)</script>.evil",
    "\"><img src=x onerror=alert(2)>.evil",
    "x\u{2028}</script><script>alert(3)</script>",
];

#[test]
fn attacker_controlled_names_never_become_markup() {
    let mut summary = Summary::default();
    let mut findings = Vec::new();
    for (k, name) in HOSTILE.iter().enumerate() {
        let e = query(BASE + k as i64 * 1000, name, &format!("C:\\x\\{name}.exe"), name, 9003);
        summary.observe(&e);
        findings.push(
            Finding::from_event("beacon", Severity::High, 90, &e, &[name], format!("explained {name}"))
                .with_attack(&["T1071.004"])
                .with_detail("target", *name),
        );
    }
    let html = render_to_string(&summary, &findings);
    assert!(!html.contains("<img"), "an <img> tag made it into the page");
    assert_eq!(html.matches("<script").count(), 3, "only the hook, the data and the report script");
    assert_eq!(html.matches("</script>").count(), 3);
    assert!(!html.contains("<b>evidence"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;.evil"), "names are shown, escaped");
    // The JSON blob still says exactly what the finding says.
    let start = html.find("id=\"findings-data\">").unwrap() + "id=\"findings-data\">".len();
    let end = start + html[start..].find("</script>").unwrap();
    assert!(!html[start..end].contains('\u{2028}'), "a JavaScript line separator in the data");
    let parsed: serde_json::Value = serde_json::from_str(&html[start..end]).unwrap();
    for (k, name) in HOSTILE.iter().enumerate() {
        assert_eq!(parsed["findings"][k]["query_name"].as_str(), Some(DnsName::new(name).as_str()));
    }
}

#[test]
fn page_is_offline_and_its_scripts_are_pinned_by_hash() {
    let mut summary = Summary::default();
    summary.observe(&query(BASE, "ws1", "C:\\a.exe", "example.com", 0));
    let html = render_to_string(&summary, &[]);
    for needle in ["src=", "href=", "url(", "@import", "http://", "https://"] {
        let hits: Vec<&str> = html.match_indices(needle).map(|(i, _)| &html[i.saturating_sub(30)..(i + 40).min(html.len())]).collect();
        // The only URL is the SVG namespace, which is a name, not a request.
        let hits: Vec<&&str> = hits.iter().filter(|h| !h.contains("xmlns=\"http://www.w3.org/2000/svg\"")).collect();
        assert!(hits.is_empty(), "{needle}: {hits:?}");
    }
    let csp = format!("'sha256-{}'", csp_hash(REPORT_JS));
    assert!(html.contains(&csp));
    assert!(html.contains(&format!("<script>{REPORT_JS}</script>")), "the hashed text is the script's exact text");
}

#[test]
fn charts_summarise_volume_hosts_and_nxdomain() {
    let mut summary = Summary::default();
    for i in 0..7200i64 {
        summary.observe(&query(
            BASE + i * 1000,
            if i % 3 == 0 { "ws2" } else { "ws1" },
            "C:\\Windows\\System32\\svchost.exe",
            "example.com",
            0,
        ));
    }
    for i in 0..100i64 {
        summary.observe(&query(BASE + 3_600_000 + i * 100, "ws1", "C:\\Users\\a\\evil.exe", &format!("q{i}.dga-like.net"), 9003));
    }
    assert_eq!(summary.counts.dns_query, 7300);
    assert_eq!(summary.counts.nxdomain, 100);
    let layout = summary.layout().unwrap();
    assert_eq!(layout.width_ms, 60_000, "two hours in 240 buckets: one minute each");
    assert_eq!(summary.total.iter().map(|&v| v as u64).sum::<u64>(), 7300);
    let hosts = summary.hosts.top();
    assert_eq!((hosts[0].name.as_str(), hosts[0].count), ("ws1", 4900));
    let top = summary.domains.top(2);
    assert_eq!((&*top[0].name, top[0].count, top[0].hosts()), ("example.com", 7200, (2, false)));
    assert_eq!((&*top[1].name, top[1].nxdomain), ("dga-like.net", 100));
    let html = render_to_string(&summary, &[]);
    assert!(html.matches("<svg class=\"chart\"").count() >= 4);
    assert!(html.contains("evil.exe"));
}

#[test]
fn beacon_histogram_uses_the_sampled_series() {
    let mut summary = Summary::default();
    let mut first = None;
    for i in 0..60i64 {
        let jitter = [0, 3, -2, 5, -4][i as usize % 5] * 1000;
        let e = query(BASE + i * 60_000 + jitter, "ws1", "C:\\Users\\a\\implant.exe", "cdn.c2-example.com", 0);
        summary.observe(&e);
        first.get_or_insert(e);
    }
    let f = Finding::from_event("beacon", Severity::High, 95, &first.unwrap(), &["c2"], "beacon".into())
        .with_detail("target", "c2-example.com")
        .with_detail("target_kind", "domain")
        .with_detail("median_interval_s", 60.0);
    let (intervals, source) = beacon_intervals(&summary, &f);
    assert_eq!(intervals.len(), 59, "{source}");
    assert!(intervals.iter().all(|&v| (50.0..=70.0).contains(&v)));
    let html = render_to_string(&summary, &[f]);
    assert!(html.contains("Beacon intervals"));
}

#[test]
fn incidents_are_listed_first_and_escaped() {
    let mut summary = Summary::default();
    let mut findings = Vec::new();
    for (k, name) in HOSTILE.iter().enumerate() {
        let e = query(BASE + k as i64 * 1000, "WS1", r"C:\x\powershell.exe", name, 9003);
        summary.observe(&e);
        findings.push(Finding::from_event("dga", Severity::High, 90, &e, &[name], format!("explained {name}")));
    }
    let incidents = dnshunt_core::Incident {
        id: "inc1".into(),
        risk: 88,
        severity: Severity::High,
        headline: format!("WS1: powershell.exe: {}", HOSTILE[0]),
        risk_reasons: vec![format!("dns evidence: {}", HOSTILE[1])],
        time: findings[0].time,
        time_last: findings[2].time,
        hosts: vec!["WS1".into()],
        root: dnshunt_core::IncidentProcess::default(),
        processes: vec!["powershell.exe".into()],
        detectors: vec!["dga".into()],
        evidence_kinds: vec!["dns".into()],
        attack: vec!["T1568.002".into()],
        indicators: Vec::new(),
        findings_by_severity: [0, 0, 0, 3, 0],
        timeline: findings.iter().map(dnshunt_core::TimelineEntry::of).collect(),
    };
    let mut out = Vec::new();
    render_with_incidents(&mut out, &summary, &findings, std::slice::from_ref(&incidents), &ReportMeta::default()).unwrap();
    let html = String::from_utf8(out).unwrap();
    let at = html.find("id=\"incidents-section\"").expect("an incidents section");
    assert!(at < html.find("id=\"findings-section\"").unwrap(), "incidents come before the findings");
    assert!(html.contains("id=\"incident-inc1\""));
    let section = &html[at..html.find("id=\"findings-section\"").unwrap()];
    for hostile in HOSTILE {
        assert!(!section.contains(hostile), "{hostile} appears unescaped");
    }
    assert!(section.contains("&lt;script&gt;alert(1)&lt;/script&gt;.evil"));
    assert_eq!(section.matches("<tr><td>").count(), 3, "the timeline's three findings");
}

#[test]
fn csp_hash_is_base64_of_sha256() {
    // As `openssl dgst -sha256 -binary | base64` gives them.
    assert_eq!(csp_hash(""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    assert_eq!(csp_hash("abc"), "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
}

/// A DNS exchange seen on the wire, with the sizes a capture measures.
fn exchange(t_ms: i64, name: &str, query_bytes: u32, response_bytes: u32) -> Event {
    use dnshunt_core::{Endpoint, Sensor, Transport, WireDns};
    let mut event = query(t_ms, "10.0.0.5", "", name, 0);
    let EventKind::DnsQuery(lookup) = event.kind else { unreachable!() };
    event.kind = EventKind::WireDns(Box::new(WireDns {
        client: Some(Endpoint {
            ip: "10.0.0.5".parse().unwrap(),
            port: 5000,
        }),
        server: Some(Endpoint {
            ip: "10.0.0.53".parse().unwrap(),
            port: 53,
        }),
        transaction_id: Some(1),
        rcode: Some(0),
        query_bytes: Some(query_bytes),
        response_bytes: Some(response_bytes),
        ..WireDns::new(lookup, Sensor::Pcap, Transport::Udp)
    }));
    event
}

#[test]
fn wire_bytes_are_charted_per_domain() {
    let mut s = Summary::default();
    for i in 0..60 {
        s.observe(&exchange(BASE + i * 1000, &format!("{i:040x}.t.pirate.sea"), 90, 400));
        s.observe(&exchange(BASE + i * 1000, "www.example.com", 40, 60));
    }
    assert_eq!(s.counts.wire_dns, 120);
    let top = s.wire_bytes.top();
    assert_eq!((top[0].name.as_str(), top[0].count), ("pirate.sea", 60 * 490));
    assert_eq!((top[1].name.as_str(), top[1].count), ("example.com", 60 * 100));
    assert_eq!(s.wire_total.iter().map(|&v| u64::from(v)).sum::<u64>(), 60 * 590);
    let html = render_to_string(&s, &[]);
    assert!(html.contains("DNS bytes on the wire by domain"));
    assert!(html.contains("pirate.sea (29,400)"), "the legend gives each domain's bytes");
    assert!(html.contains("DNS exchanges on the wire"));
    // Without wire events there is no such chart.
    let mut sysmon = Summary::default();
    sysmon.observe(&query(BASE, "ws1", r"C:\x.exe", "example.com", 0));
    assert!(!render_to_string(&sysmon, &[]).contains("DNS bytes on the wire"));
}

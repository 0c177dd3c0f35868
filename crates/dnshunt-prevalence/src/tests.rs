use std::net::IpAddr;
use std::sync::Arc;

use dnshunt_core::{parse_query_results, DnsName, DnsQuery, Event, EventKind, Guid, NetworkConnect, Origin, ProcessCreate, ProcessRef, QueryStatus, Timestamp};

use super::*;

const DAY: i64 = 86_400_000;
/// 2024-05-01T00:00:00Z.
const T0: i64 = 1_714_521_600_000;

fn process(guid: u128, image: &str) -> ProcessRef {
    ProcessRef {
        guid: Some(Guid(guid)),
        pid: Some(4242),
        image: Some(image.into()),
        user: None,
    }
}

fn event(host: &str, ms: i64, kind: EventKind) -> Event {
    Event {
        time: Timestamp(ms),
        host: Some(host.into()),
        record_id: None,
        rule_name: None,
        origin: Origin::line(&Arc::from("test.json"), 1),
        kind,
    }
}

fn dns(host: &str, ms: i64, guid: u128, image: &str, query: &str, results: &str) -> Event {
    let mut answers = Vec::new();
    parse_query_results(results, &mut answers);
    event(
        host,
        ms,
        EventKind::DnsQuery(DnsQuery {
            process: process(guid, image),
            query: DnsName::new(query),
            status: QueryStatus::SUCCESS,
            answers,
            results_raw: results.to_owned(),
        }),
    )
}

fn connect(host: &str, ms: i64, guid: u128, image: &str, destination: &str) -> Event {
    event(
        host,
        ms,
        EventKind::NetworkConnect(Box::new(NetworkConnect {
            process: process(guid, image),
            destination_ip: Some(destination.parse().unwrap()),
            ..NetworkConnect::default()
        })),
    )
}

fn create(host: &str, ms: i64, guid: u128, image: &str, command_line: &str) -> Event {
    event(
        host,
        ms,
        EventKind::ProcessCreate(Box::new(ProcessCreate {
            process: process(guid, image),
            command_line: Some(command_line.to_owned()),
            ..ProcessCreate::default()
        })),
    )
}

const CHROME: &str = r"C:\Program Files\Google\Chrome\Application\chrome.exe";

fn counts(seen: &Seen) -> (u64, u64, u64) {
    (seen.hosts, seen.processes, seen.events)
}

fn prevalence_of(events: &[Event]) -> Prevalence {
    let mut p = Prevalence::default();
    events.iter().for_each(|e| p.observe(e));
    p
}

#[test]
fn lookups_count_domains_cname_targets_and_addresses_exactly() {
    let p = prevalence_of(&[
        dns(
            "WS-ACCT-07.corp.example.com",
            T0 + 5_000,
            1,
            CHROME,
            "www.YouTube.com",
            "type:  5 youtube-ui.l.google.com;::ffff:172.217.24.142;::ffff:172.217.24.142;",
        ),
        dns("ws-acct-07", T0, 1, CHROME, "m.youtube.com", "::ffff:172.217.24.142;"),
        dns(
            "ws-acct-08.corp.example.com",
            T0 + 9_000,
            2,
            CHROME,
            "youtube.com",
            "type:  5 a.l.google.com;type:  5 b.l.google.com;2a00:1450::1;",
        ),
        dns("ws-acct-08", T0 + 1, 3, CHROME, "wpad", "-"),
        dns("ws-acct-08", T0 + 2, 3, CHROME, "5.0.0.10.in-addr.arpa", "type:  12 fileserver.corp.local;"),
    ]);
    // Short and fully qualified host names are one host; two processes on it and one elsewhere.
    let youtube = p.get(Kind::Domain, "youtube.com").unwrap();
    assert_eq!(counts(&youtube), (2, 2, 3));
    assert_eq!(youtube.first, Some(Timestamp(T0)));
    assert_eq!(youtube.last, Some(Timestamp(T0 + 9_000)));
    assert!(youtube.exact && !youtube.sketched);
    assert_eq!(youtube.first_seen_before, None);
    // Any name under the domain finds it.
    assert_eq!(p.get(Kind::Domain, "WWW.YOUTUBE.COM."), Some(youtube));
    // CNAME targets count once per lookup however many names of the domain the chain has.
    assert_eq!(counts(&p.get(Kind::Domain, "google.com").unwrap()), (2, 2, 2));
    // `::ffff:`-mapped addresses are IPv4; an address twice in one answer counts once.
    let addr = p.get(Kind::Address, "172.217.24.142").unwrap();
    assert_eq!(counts(&addr), (1, 1, 2));
    assert_eq!(p.get(Kind::Address, "::ffff:172.217.24.142"), Some(addr));
    assert_eq!(counts(&p.get_address("2a00:1450::1".parse().unwrap()).unwrap()), (1, 1, 1));
    // Single labels are skipped; the image counts every event of its process.
    assert_eq!(p.get(Kind::Domain, "wpad"), None);
    assert_eq!(p.get(Kind::Domain, "fileserver.corp.local"), None, "PTR targets are not counted");
    assert_eq!(counts(&p.get(Kind::Image, CHROME).unwrap()), (2, 3, 5));
    assert_eq!(p.fleet_hosts(), 2);
    assert_eq!(p.get(Kind::Domain, "never.example.org"), None);
}

#[test]
fn images_command_lines_and_connections() {
    let ps = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";
    let p = prevalence_of(&[
        create("h1", T0, 10, ps, "powershell.exe  -NoP -W Hidden"),
        create("H2.corp.example.com", T0 + 1, 11, &format!(r"\\?\{}", ps.to_uppercase()), "PowerShell.exe -nop\t-w hidden "),
        create("h3", T0 + 2, 12, r"C:\Users\bob\AppData\Local\Temp\powershell.exe", "powershell.exe -enc AAAA"),
        connect("h1", T0 + 3, 10, ps, "::ffff:10.0.0.5"),
        connect("h2", T0 + 4, 11, ps, "10.0.0.5"),
    ]);
    let image = p.get(Kind::Image, &ps.to_uppercase()).unwrap();
    assert_eq!(counts(&image), (2, 2, 4));
    assert_eq!(p.get(Kind::Image, &format!(r"\??\{ps}")), Some(image));
    assert_eq!(counts(&p.get(Kind::Image, r"c:/users/BOB/appdata/local/temp/powershell.exe").unwrap()), (1, 1, 1));
    assert_eq!(counts(&p.get(Kind::CommandLine, "POWERSHELL.EXE -NOP -W HIDDEN").unwrap()), (2, 2, 2));
    assert_eq!(counts(&p.get(Kind::CommandLine, "powershell.exe -enc AAAA").unwrap()), (1, 1, 1));
    assert_eq!(p.get(Kind::CommandLine, "powershell.exe -enc BBBB"), None);
    assert_eq!(counts(&p.get(Kind::Address, "10.0.0.5").unwrap()), (2, 2, 2));
    assert_eq!(p.fleet_hosts(), 3);
}

#[test]
fn events_without_host_or_process_still_count() {
    let mut e = dns("x", T0, 1, CHROME, "example.com", "-");
    e.host = None;
    if let EventKind::DnsQuery(q) = &mut e.kind {
        q.process = ProcessRef::default();
    }
    let p = prevalence_of(&[e]);
    assert_eq!(counts(&p.get(Kind::Domain, "example.com").unwrap()), (0, 0, 1));
    assert_eq!(p.fleet_hosts(), 0);
    assert_eq!(p.assess(Kind::Domain, "example.com").factor, 1.0);
}

/// Events of a fleet: `n_hosts` hosts; every host resolves `common.example`; host 0 alone resolves
/// `rare.example` once; hosts 0..n_some resolve `some.example`; many processes per host.
fn fleet(n_hosts: usize, n_some: usize) -> Vec<Event> {
    let mut events = Vec::new();
    for h in 0..n_hosts {
        let host = format!("WS-{h:03}.corp.example.com");
        for proc in 0..3u128 {
            let guid = (h as u128) << 32 | proc;
            events.push(dns(
                &host,
                T0 + (h as i64) * 1000 + proc as i64,
                guid,
                CHROME,
                "www.common-site.com",
                "::ffff:93.184.216.34;",
            ));
        }
        if h < n_some {
            events.push(dns(&host, T0 + DAY, (h as u128) << 32, CHROME, "some-site.com", "-"));
        }
    }
    events.push(dns(
        "ws-000",
        T0 + 2 * DAY,
        99,
        r"C:\Users\bob\Downloads\invoice.exe",
        "x1.rare-c2.net",
        "::ffff:203.0.113.9;",
    ));
    events.push(dns(
        "ws-000",
        T0 + 2 * DAY + 5,
        99,
        r"C:\Users\bob\Downloads\invoice.exe",
        "x2.rare-c2.net",
        "::ffff:203.0.113.9;",
    ));
    events
}

#[test]
fn assess_damps_what_the_fleet_does_and_raises_what_one_host_does() {
    let p = prevalence_of(&fleet(50, 25));
    assert_eq!(p.fleet_hosts(), 50);

    let all = p.assess(Kind::Domain, "common-site.com");
    assert!((all.factor - 0.2).abs() < 1e-9, "{all:?}");
    assert_eq!(all.reason.as_deref(), Some("seen on 50 of 50 hosts"));
    assert_eq!(all.kind, Some(Kind::Domain));
    // 150 processes: beyond the exact limit, so estimated; the 50 hosts are exact.
    let seen = all.seen.as_ref().unwrap();
    assert_eq!((seen.hosts, seen.events), (50, 150));
    assert!((135..=165).contains(&seen.processes), "{seen:?}");
    assert!(!seen.exact && seen.hosts_exact);

    let half = p.assess(Kind::Domain, "some-site.com");
    assert!((half.factor - 0.5).abs() < 1e-9, "{half:?}");
    assert_eq!(half.reason.as_deref(), Some("seen on 25 of 50 hosts"));
    assert_eq!(half.apply(80), 40);

    let rare = p.assess(Kind::Domain, "rare-c2.net");
    assert_eq!(rare.factor, 1.15);
    assert_eq!(rare.reason.as_deref(), Some("seen on 1 of 50 hosts, twice, first on 2024-05-03"));
    assert_eq!(rare.apply(80), 92);
    assert_eq!(rare.apply(95), 100);

    // Damping grows smoothly between half and all of the fleet.
    let p40 = prevalence_of(&fleet(50, 40));
    let f40 = p40.assess(Kind::Domain, "some-site.com").factor;
    assert!((f40 - (0.5 - 0.3 * 0.6)).abs() < 1e-9, "{f40}");

    // Neither common nor rare, and unknown: neutral, no reason.
    let few = prevalence_of(&fleet(50, 10)).assess(Kind::Domain, "some-site.com");
    assert_eq!((few.factor, few.reason.as_deref()), (1.0, None));
    assert!(few.seen.is_some());
    assert_eq!(p.assess(Kind::Domain, "unknown.example.org"), Assessment::neutral());
}

#[test]
fn a_small_fleet_is_neutral() {
    let p = prevalence_of(&fleet(2, 2));
    for (kind, value) in [(Kind::Domain, "common-site.com"), (Kind::Domain, "rare-c2.net"), (Kind::Image, CHROME)] {
        let a = p.assess(kind, value);
        assert_eq!((a.factor, a.reason.as_deref()), (1.0, None), "{value}");
        assert!(a.seen.is_some());
    }
    // A fleet size from the cluster makes the same input judgeable.
    let mut p = p;
    p.add_fleet_hosts(40);
    assert_eq!(p.fleet_hosts(), 40);
    assert_eq!(p.assess(Kind::Domain, "rare-c2.net").factor, 1.15);
    assert_eq!(p.assess(Kind::Domain, "common-site.com").factor, 1.0);
}

#[test]
fn assess_finding_lets_the_target_damp_and_raises_only_when_all_is_rare() {
    let mut events = fleet(20, 0);
    // A rare domain on the fleet's common CDN address, resolved by the fleet's browser.
    events.push(dns("ws-003", T0 + 3 * DAY, 3 << 32, CHROME, "evil-fronted.net", "::ffff:93.184.216.34;"));
    let p = prevalence_of(&events);

    let fronted = p.assess_finding(&FindingKeys {
        domain: Some("evil-fronted.net"),
        address: Some("93.184.216.34".parse().unwrap()),
        image: Some(CHROME),
        command_line: None,
    });
    // Not damped by the address (the domain decides), not raised (chrome.exe is everywhere).
    assert_eq!((fronted.factor, fronted.reason.as_deref()), (1.0, None));
    assert_eq!(fronted.kind, Some(Kind::Domain));

    // A common domain damps even when a rare program asks for it.
    let common = p.assess_finding(&FindingKeys {
        domain: Some("www.common-site.com"),
        image: Some(r"C:\Users\bob\Downloads\invoice.exe"),
        ..FindingKeys::default()
    });
    assert!(common.is_damped());
    assert_eq!(common.reason.as_deref(), Some("domain seen on 20 of 20 hosts"));

    // Without a domain the address decides; an image alone never damps.
    let by_address = p.assess_finding(&FindingKeys {
        address: Some("93.184.216.34".parse().unwrap()),
        image: Some(CHROME),
        ..FindingKeys::default()
    });
    assert_eq!(by_address.reason.as_deref(), Some("address seen on 20 of 20 hosts"));
    let image_only = p.assess_finding(&FindingKeys {
        image: Some(CHROME),
        ..FindingKeys::default()
    });
    assert_eq!(image_only.factor, 1.0);

    // Everything known is rare: raised once; unknown keys are left out.
    let all_rare = p.assess_finding(&FindingKeys {
        domain: Some("x1.rare-c2.net"),
        address: Some("203.0.113.9".parse().unwrap()),
        image: Some(r"C:\Users\bob\Downloads\invoice.exe"),
        command_line: Some("never seen"),
    });
    assert_eq!(all_rare.factor, 1.15);
    assert_eq!(all_rare.reason.as_deref(), Some("domain seen on 1 of 20 hosts, twice, first on 2024-05-03"));

    assert_eq!(p.assess_finding(&FindingKeys::default()), Assessment::neutral());
    let keys = FindingKeys::of_event(&events[events.len() - 1]);
    assert_eq!(keys.domain, Some("evil-fronted.net"));
    assert_eq!(keys.image, Some(CHROME));
}

#[test]
fn baselines_add_hosts_and_the_first_time() {
    let mut p = prevalence_of(&[dns("ws-001", T0, 1, CHROME, "www.example.com", "-"), dns("ws-002", T0 + 10, 2, CHROME, "example.com", "-")]);
    let earlier = Timestamp(T0 - 30 * DAY);
    // State store rows: hosts as Sysmon spelled them, fleet-wide rows, programs by file name.
    p.add_baseline(Kind::Domain, "WS-001.corp.example.com", "example.com", earlier, Timestamp(T0 - DAY));
    p.add_baseline(Kind::Domain, "ws-009.corp.example.com", "example.com", Timestamp(T0 - 20 * DAY), Timestamp(T0 - DAY));
    p.add_baseline(Kind::Domain, FLEET_HOST, "example.com", Timestamp(T0 - 40 * DAY), Timestamp(T0 - DAY));
    p.add_baseline(Kind::Domain, "ws-010", "only-before.example", earlier, earlier);
    let kind = Kind::from_state_kind("process").unwrap();
    p.add_baseline(kind, "ws-050", "chrome.exe", Timestamp(T0 - 50 * DAY), earlier);
    assert!(p.has_baseline());

    let seen = p.get(Kind::Domain, "example.com").unwrap();
    assert_eq!(counts(&seen), (3, 2, 2));
    assert_eq!(seen.first, Some(Timestamp(T0)));
    assert_eq!(seen.first_seen_before, Some(Timestamp(T0 - 40 * DAY)));
    assert_eq!(counts(&p.get(Kind::Domain, "only-before.example").unwrap()), (1, 0, 0));
    // The file-name row gives the image its first time, but not its host.
    let chrome = p.get(Kind::Image, CHROME).unwrap();
    assert_eq!(counts(&chrome), (2, 2, 2));
    assert_eq!(chrome.first_seen_before, Some(Timestamp(T0 - 50 * DAY)));
    // Baseline hosts are part of the fleet: ws-001, ws-002, ws-009, ws-010, ws-050.
    assert_eq!(p.fleet_hosts(), 5);

    // A rare key the baseline does not know is new since earlier runs; one it knows is not.
    let mut events = fleet(10, 0);
    events.push(dns("ws-001", T0 + 5, 7, CHROME, "old-rare.example", "-"));
    let mut p = prevalence_of(&events);
    p.add_baseline(Kind::Domain, "ws-001", "old-rare.example", earlier, earlier);
    assert_eq!(
        p.assess(Kind::Domain, "rare-c2.net").reason.as_deref(),
        Some("seen on 1 of 10 hosts, twice, never before 2024-05-03")
    );
    assert_eq!(
        p.assess(Kind::Domain, "old-rare.example").reason.as_deref(),
        Some("seen on 1 of 10 hosts, once, known since 2024-04-01")
    );
    assert_eq!(Kind::from_state_kind("domain"), Some(Kind::Domain));
    assert_eq!(Kind::from_state_kind("nonsense"), None);
}

#[test]
fn aggregates_are_max_merged() {
    let mut p = prevalence_of(&[dns("ws-001", T0, 1, CHROME, "example.com", "-"), dns("ws-002", T0, 2, CHROME, "example.com", "-")]);
    p.add_aggregate(Kind::Domain, "www.example.com", 40, 1, 900);
    p.add_aggregate(Kind::Domain, "example.com", 30, 1, 1000);
    p.add_aggregate(Kind::Image, &CHROME.to_uppercase(), 1, 1, 1);
    p.add_aggregate(Kind::Address, "::ffff:10.1.1.1", 3, 3, 3);
    p.add_fleet_hosts(80);
    let seen = p.get(Kind::Domain, "example.com").unwrap();
    assert_eq!(counts(&seen), (40, 2, 1000));
    assert_eq!(counts(&p.get(Kind::Image, CHROME).unwrap()), (2, 2, 2));
    assert_eq!(counts(&p.get(Kind::Address, "10.1.1.1").unwrap()), (3, 3, 3));
    assert_eq!(p.assess(Kind::Domain, "example.com").reason.as_deref(), Some("seen on 40 of 80 hosts"));
}

/// A deterministic shuffle (xorshift), so the test needs no crate.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

#[test]
fn results_do_not_depend_on_event_order() {
    // 120 hosts, so host sets become HyperLogLogs too.
    let mut events = fleet(120, 70);
    events.push(create("ws-005", T0 + 7, 5 << 32, CHROME, "chrome.exe --type=renderer"));
    events.push(connect("ws-006", T0 + 8, 6 << 32, CHROME, "93.184.216.34"));
    let queries: Vec<(Kind, &str)> = vec![
        (Kind::Domain, "common-site.com"),
        (Kind::Domain, "some-site.com"),
        (Kind::Domain, "rare-c2.net"),
        (Kind::Address, "93.184.216.34"),
        (Kind::Address, "203.0.113.9"),
        (Kind::Image, CHROME),
        (Kind::CommandLine, "chrome.exe --type=renderer"),
    ];
    let reference = prevalence_of(&events);
    let expected: Vec<_> = queries.iter().map(|(k, v)| (reference.get(*k, v), reference.assess(*k, v))).collect();
    assert!(!expected[0].0.as_ref().unwrap().exact);
    for seed in 1..4 {
        shuffle(&mut events, seed * 0x9e37_79b9);
        let p = prevalence_of(&events);
        let got: Vec<_> = queries.iter().map(|(k, v)| (p.get(*k, v), p.assess(*k, v))).collect();
        assert_eq!(got, expected, "seed {seed}");
    }
}

fn capped(max_exact_keys: usize) -> Prevalence {
    Prevalence::new(PrevalenceConfig {
        max_exact_keys,
        sketch_width: 64,
        sketch_bloom_bits: 1 << 16,
        ..PrevalenceConfig::default()
    })
}

#[test]
fn beyond_the_cap_the_sketch_answers_with_upper_bounds() {
    let mut p = capped(5);
    p.limits.sketch_bloom_bits = 1 << 20;
    let mut truth = Vec::new();
    for d in 0..2_000u32 {
        let name = format!("www.d{d}.com");
        let n_hosts = d % 4 + 1;
        for h in 0..n_hosts {
            p.observe(&dns(&format!("ws-{h}"), T0 + d as i64, (h as u128) << 32 | d as u128, CHROME, &name, "-"));
        }
        truth.push((name, n_hosts as u64));
    }
    assert_eq!(p.exact_keys(Kind::Domain), 5);
    assert!(p.overflowed(Kind::Domain));
    let mut under = 0;
    for (d, (name, n_hosts)) in truth.iter().enumerate() {
        let seen = p.get(Kind::Domain, name).unwrap();
        if d < 5 {
            assert!(seen.exact && !seen.sketched);
            assert_eq!(seen.hosts, *n_hosts);
            continue;
        }
        assert!(seen.sketched && !seen.exact);
        assert!(seen.events >= *n_hosts, "{name}: {seen:?}");
        assert!(seen.first.unwrap() <= Timestamp(T0 + d as i64));
        assert!(seen.last.unwrap() >= Timestamp(T0 + d as i64));
        under += (seen.hosts < *n_hosts) as u32;
    }
    // Only Bloom filter false positives under-count.
    assert!(under <= 10, "{under} of 2,000 keys under-counted");
}

#[test]
fn sketched_keys_are_never_damped_and_never_panic() {
    let mut p = capped(1);
    // The one exact key takes the fleet's everyday domain; later keys are sketched.
    for h in 0..10 {
        p.observe(&dns(&format!("ws-{h}"), T0, h, CHROME, "first.example", "-"));
    }
    for h in 0..10 {
        p.observe(&dns(&format!("ws-{h}"), T0, h, CHROME, "common.example", "-"));
    }
    p.observe(&dns("ws-0", T0, 0, CHROME, "lonely.example", "-"));
    let common = p.assess(Kind::Domain, "common.example");
    assert!(common.seen.as_ref().unwrap().sketched);
    assert_eq!(common.factor, 1.0);
    // A sketch that says "rare" is right (its counts are upper bounds).
    let lonely = p.assess(Kind::Domain, "lonely.example");
    assert_eq!(lonely.factor, 1.15, "{lonely:?}");
    assert!(lonely.reason.as_deref().unwrap().starts_with("seen on at most 1 of 10 hosts"), "{lonely:?}");

    // Every kind, every update, a degenerate sketch: nothing panics.
    let mut p = Prevalence::new(PrevalenceConfig {
        max_exact_keys: 0,
        sketch_width: 0,
        sketch_bloom_bits: 0,
        ..PrevalenceConfig::default()
    });
    for i in 0..500u32 {
        let host = format!("h{}", i % 7);
        p.observe(&dns(
            &host,
            T0 + i as i64,
            i as u128,
            &format!(r"C:\x{i}.exe"),
            &format!("n{i}.example.org"),
            "type:  5 cdn.example.net;::ffff:10.0.0.1;",
        ));
        p.observe(&create(&host, T0, i as u128, CHROME, &format!("chrome.exe {i}")));
        p.observe(&connect(&host, T0, i as u128, CHROME, "10.9.9.9"));
        p.add_baseline(Kind::CommandLine, &host, &format!("x {i}"), Timestamp(T0), Timestamp(T0));
        p.add_aggregate(Kind::Address, "10.9.9.9", u64::MAX, u64::MAX, u64::MAX);
    }
    for kind in Kind::ALL {
        assert_eq!(p.exact_keys(kind), 0);
    }
    assert!(p.get(Kind::Domain, "n3.example.org").unwrap().sketched);
    assert!(p.get(Kind::CommandLine, "chrome.exe 3").is_some());
    // Saturated at the counters' width; no key has more hosts than the fleet.
    let saturated = p.get(Kind::Address, "10.9.9.9").unwrap();
    assert_eq!((saturated.hosts, saturated.events), (7, u32::MAX as u64));
    let _ = p.assess(Kind::Image, r"c:\x3.exe");
}

#[test]
fn memory_stays_bounded_by_the_cap() {
    let mut p = Prevalence::new(PrevalenceConfig {
        max_exact_keys: 10_000,
        sketch_width: 4_096,
        sketch_bloom_bits: 1 << 20,
        ..PrevalenceConfig::default()
    });
    let mut e = dns("ws-001", T0, 1, CHROME, "seed.example", "-");
    for i in 0..200_000u32 {
        // One event rewritten in place: the test measures the counter, not event building.
        if let EventKind::DnsQuery(q) = &mut e.kind {
            q.query = DnsName::new(&format!("www.d{i}.com"));
            q.process.guid = Some(Guid(i as u128 % 5000));
        }
        e.host = Some(format!("ws-{:03}", i % 300).into());
        p.observe(&e);
    }
    assert_eq!(p.exact_keys(Kind::Domain), 10_000);
    assert_eq!(p.exact_keys(Kind::Image), 1);
    assert_eq!(p.fleet_hosts(), 300);
    let bytes = p.memory_bytes();
    // 10,000 exact domains (at most ~200 bytes each), the sketch (4 × 4,096 × 40 + 128 KiB).
    assert!(bytes < 10_000 * 200 + 4 * 4_096 * 40 + (1 << 17) + 100_000, "{bytes} bytes");
    assert!(p.get(Kind::Domain, "d199999.com").unwrap().sketched);
}

#[test]
fn seen_serialises_for_finding_details() {
    let p = prevalence_of(&[dns("ws-001", T0, 1, CHROME, "example.com", "-")]);
    let seen = p.get(Kind::Domain, "example.com").unwrap();
    let json = serde_json::to_value(&seen).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "hosts": 1, "processes": 1, "events": 1,
            "first": "2024-05-01T00:00:00.000Z", "last": "2024-05-01T00:00:00.000Z",
            "exact": true, "hosts_exact": true, "sketched": false
        })
    );
    assert_eq!(serde_json::to_value(Kind::CommandLine).unwrap(), "command_line");
    assert_eq!(serde_json::from_str::<Kind>("\"address\"").unwrap(), Kind::Address);
    let a = serde_json::to_value(p.assess(Kind::Domain, "example.com")).unwrap();
    assert_eq!(a["factor"], 1.0);
    assert!(a.get("reason").is_none());
    let _: IpAddr = "10.0.0.1".parse().unwrap();
}

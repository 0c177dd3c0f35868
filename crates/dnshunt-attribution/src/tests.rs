use std::sync::Arc;

use dnshunt_core::{DnsName, DnsQuery, Guid, NetworkConnect, Origin, QueryStatus, Sensor, WireDns, WireFlow};

use super::*;

const T0: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;

fn ep(ip: &str, port: u16) -> Endpoint {
    Endpoint { ip: ip.parse().unwrap(), port }
}

fn process(image: &str, guid: u8) -> ProcessRef {
    ProcessRef {
        guid: Some(Guid(u128::from(guid) + 1)),
        pid: Some(1000 + u32::from(guid)),
        image: Some(image.into()),
        user: None,
    }
}

fn connect(ms: i64, proto: &str, client: Endpoint, server: Endpoint, p: ProcessRef) -> Event {
    Event {
        time: Timestamp(ms),
        host: Some("WS1.corp.example".into()),
        record_id: None,
        rule_name: None,
        origin: Origin::line(&Arc::from("sysmon.json"), 1),
        kind: EventKind::NetworkConnect(Box::new(NetworkConnect {
            process: p,
            protocol: Some(proto.to_owned()),
            initiated: Some(true),
            source_ip: Some(client.ip),
            source_port: Some(client.port),
            destination_ip: Some(server.ip),
            destination_port: Some(server.port),
            ..NetworkConnect::default()
        })),
    }
}

fn wire_flow(ms: i64, file: &str, client: Endpoint, server: Endpoint) -> Event {
    Event {
        time: Timestamp(ms),
        host: Some(client.ip.to_string().into()),
        record_id: None,
        rule_name: None,
        origin: Origin::line(&Arc::from(file), 7),
        kind: EventKind::WireFlow(Box::new(WireFlow::new(Sensor::Zeek, Transport::Tcp, client, server))),
    }
}

fn wire_dns(ms: i64, file: &str, client: Endpoint, server: Endpoint, name: &str) -> Event {
    Event {
        time: Timestamp(ms),
        host: Some(client.ip.to_string().into()),
        record_id: None,
        rule_name: None,
        origin: Origin::line(&Arc::from(file), 9),
        kind: EventKind::WireDns(Box::new(WireDns {
            client: Some(client),
            server: Some(server),
            rcode: Some(0),
            ..WireDns::new(DnsQuery::new(DnsName::new(name), QueryStatus::SUCCESS), Sensor::Zeek, Transport::Udp)
        })),
    }
}

/// A sensor whose clock is 19 hours ahead: the offset is found from the connections, and the
/// DNS exchange of `nslookup` (its own UDP socket to the resolver) is joined to its process.
#[test]
fn finds_the_offset_and_joins_across_it() {
    let mut a = Attribution::new(AttributionConfig::default());
    let browser = process(r"C:\Program Files\Edge\msedge.exe", 1);
    let nslookup = process(r"C:\Windows\System32\nslookup.exe", 2);
    let skew = 19 * HOUR + 1234;
    let mut wire = Vec::new();
    for i in 0..5 {
        let client = ep("10.0.0.5", 50_000 + i);
        let server = ep("203.0.113.7", 443);
        a.observe_sysmon(&connect(T0 + i64::from(i) * 60_000, "tcp", client, server, browser.clone()));
        // Sensor times wobble by a second around the skew.
        wire.push(wire_flow(T0 + i64::from(i) * 60_000 + skew + i64::from(i % 2) * 1000, "zeek/conn.log", client, server));
    }
    let dns_client = ep("10.0.0.5", 61_000);
    let resolver = ep("8.8.8.8", 53);
    a.observe_sysmon(&connect(T0 + 10 * 60_000, "udp", dns_client, resolver, nslookup.clone()));
    wire.push(wire_dns(T0 + 10 * 60_000 + skew + 500, "zeek/dns.log", dns_client, resolver, "tunnel.example.org"));
    // Nothing in Sysmon for this one.
    wire.push(wire_dns(T0, "zeek/dns.log", ep("10.0.0.9", 5555), resolver, "other.example"));
    for e in wire {
        assert!(a.hold(e).is_none());
    }
    let (events, report) = a.finish();
    assert_eq!(report.offsets.len(), 1, "{report:#?}");
    let o = &report.offsets[0];
    assert_eq!((o.sensor.as_str(), o.host.as_str(), o.matches), ("zeek", "WS1.corp.example", 6));
    assert!((o.offset_seconds - (skew as f64 / 1000.0)).abs() <= 1.0, "{o:?}");
    assert_eq!((report.flows_joined, report.dns_joined, report.dns_unjoined), (5, 1, 1));
    let dns = events.iter().find(|e| e.lookup().is_some_and(|q| q.query.as_str() == "tunnel.example.org")).unwrap();
    assert_eq!(dns.host.as_deref(), Some("WS1.corp.example"));
    assert_eq!(dns.process(), &nslookup);
    // The unjoined one keeps its address as its host and no process.
    let other = events.iter().find(|e| e.lookup().is_some_and(|q| q.query.as_str() == "other.example")).unwrap();
    assert_eq!(other.host.as_deref(), Some("10.0.0.9"));
    assert_eq!(other.process(), &ProcessRef::default());
}

/// A reused 5-tuple: each wire event takes the EID 3 nearest in corrected time, and one far
/// from every EID 3 of its 5-tuple is not joined.
#[test]
fn a_reused_tuple_joins_by_time_within_the_tolerance() {
    let mut a = Attribution::new(AttributionConfig {
        tolerance_seconds: 60,
        ..AttributionConfig::default()
    });
    let (client, server) = (ep("10.0.0.5", 49_999), ep("198.51.100.1", 80));
    let first = process(r"C:\a.exe", 1);
    let second = process(r"C:\b.exe", 2);
    a.observe_sysmon(&connect(T0, "tcp", client, server, first.clone()));
    a.observe_sysmon(&connect(T0 + HOUR, "tcp", client, server, second.clone()));
    a.hold(wire_flow(T0 + 10_000, "s/conn.log", client, server));
    a.hold(wire_flow(T0 + HOUR + 10_000, "s/conn.log", client, server));
    a.hold(wire_flow(T0 + 3 * HOUR, "s/conn.log", client, server));
    let (events, report) = a.finish();
    assert_eq!(events[0].process(), &first);
    assert_eq!(events[1].process(), &second);
    assert_eq!(events[2].process(), &ProcessRef::default());
    assert_eq!((report.flows_joined, report.flows_unjoined, report.outside_tolerance), (2, 1, 1));
}

#[test]
fn bounds_and_the_switch_are_kept() {
    let mut a = Attribution::new(AttributionConfig {
        max_held: 1,
        max_connections: 1,
        ..AttributionConfig::default()
    });
    let (c, s) = (ep("10.0.0.5", 1), ep("10.0.0.6", 2));
    a.observe_sysmon(&connect(T0, "tcp", c, s, process("x.exe", 1)));
    a.observe_sysmon(&connect(T0, "tcp", s, c, process("y.exe", 2)));
    assert!(a.hold(wire_flow(T0, "s/conn.log", c, s)).is_none());
    assert!(a.hold(wire_flow(T0, "s/conn.log", c, s)).is_some());
    let (events, report) = a.finish();
    assert_eq!(events.len(), 1);
    assert_eq!((report.not_held, report.connections_not_indexed, report.flows_joined), (1, 1, 1));
    let mut off = Attribution::new(AttributionConfig {
        enabled: false,
        ..AttributionConfig::default()
    });
    assert!(off.hold(wire_flow(T0, "s/conn.log", c, s)).is_some());
}

#[test]
fn sensors_are_folders_or_archives() {
    assert_eq!(sensor_of("logs/zeek/dns.log"), "logs/zeek");
    assert_eq!(sensor_of("case.zip!dns.log"), "case.zip");
    assert_eq!(sensor_of(r"C:\zeek\conn.log"), r"C:\zeek");
    assert_eq!(sensor_of("dns.log"), ".");
}

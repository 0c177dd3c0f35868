//! The generated seeds are worth fuzzing from: the EVTX file and the MaxMind databases built
//! in `dnshunt_fuzz::seeds` are read by the product as real ones are.

use dnshunt_enrich::geo::{DbBytes, GeoDb, GeoLookup};
use dnshunt_source::InputFormat;

fn seed(target: &str, name: &str) -> Vec<u8> {
    dnshunt_fuzz::seeds::all()
        .into_iter()
        .find(|s| s.target == target && s.name == name)
        .unwrap_or_else(|| panic!("no seed {target}/{name}"))
        .bytes
}

#[test]
fn evtx_seed_holds_the_fixture_events_in_both_record_forms() {
    let events = dnshunt_fuzz::read_events(&seed("evtx", "fixture_events.evtx"), InputFormat::Evtx);
    let json = dnshunt_fuzz::read_events(include_bytes!("../../../fixtures/seed/evtx_json.ndjson"), InputFormat::Json);
    // 14 records, one of them an EID 7 that dnshunt does not model.
    assert_eq!(events.len(), 13, "every record, direct elements and template instances alike");
    let times = |events: &[dnshunt_core::Event]| events.iter().map(|e| e.time).collect::<Vec<_>>();
    assert_eq!(times(&events), times(&json));
}

#[test]
fn containers_are_opened() {
    // The fixture's first lines are an EID 1 (an event), an EID 7 (not modelled) and an EID 22.
    assert_eq!(dnshunt_fuzz::read_events(&seed("source_auto", "three_lines.ndjson.gz"), InputFormat::Auto).len(), 2);
    assert_eq!(dnshunt_fuzz::read_events(&seed("source_auto", "json_and_xml.zip"), InputFormat::Auto).len(), 2);
}

#[test]
fn mmdb_seeds_open_verified_and_answer() {
    let mut dbs = Vec::new();
    for i in 0..4 {
        let bytes = seed("geoip", &format!("db{i}.mmdb"));
        dbs.push(GeoDb::new(&format!("db{i}"), DbBytes::Owned(bytes), true).unwrap_or_else(|e| panic!("db{i}: {e}")));
    }
    let geo = GeoLookup::new(dbs, 16);
    let london = geo.lookup("81.2.69.160".parse().unwrap());
    assert_eq!((london.country.as_deref(), london.city.as_deref()), (Some("GB"), Some("London")));
    assert!(london.tor_exit && london.hosting);
    assert_eq!(geo.lookup("1.128.0.1".parse().unwrap()).asn, Some(1221));
    assert_eq!(geo.lookup("2001:4860::1".parse().unwrap()).country.as_deref(), Some("US"));
    assert_eq!(geo.stats().errors, 0);
}

/// The wire seeds hold what they are meant to: the capture a UDP question with its answer, a
/// connection start and a TCP question in two segments; the logs their exchanges.
#[test]
fn wire_seeds_read_as_intended() {
    let events = dnshunt_fuzz::read_events(&seed("pcap", "dns_udp_tcp.pcap"), InputFormat::Auto);
    let dns: Vec<_> = events.iter().filter_map(|e| e.wire_dns()).collect();
    assert_eq!(dns.len(), 2, "{events:#?}");
    assert_eq!(dns[0].records[0].data, "hello");
    assert!(dns.iter().any(|w| w.transport == dnshunt_core::Transport::Tcp));
    assert_eq!(events.iter().filter(|e| e.wire_flow().is_some()).count(), 1);
    let zeek = dnshunt_fuzz::read_events(&seed("zeek", "dns.log"), InputFormat::Auto);
    assert_eq!(zeek.iter().filter(|e| e.wire_dns().is_some_and(|w| w.rcode == Some(3))).count(), 1);
    assert_eq!(zeek.len(), 2);
    let eve = dnshunt_fuzz::read_events(&seed("eve", "eve.json"), InputFormat::Auto);
    assert_eq!(
        (
            eve.iter().filter(|e| e.wire_dns().is_some()).count(),
            eve.iter().filter(|e| e.wire_flow().is_some()).count()
        ),
        (3, 2)
    );
    for m in dnshunt_fuzz::seeds::all().into_iter().filter(|s| s.target == "dns_message") {
        assert!(dnshunt_wire::dns::decode(&m.bytes).is_ok(), "{}", m.name);
    }
}

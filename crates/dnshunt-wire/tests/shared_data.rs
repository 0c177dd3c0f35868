//! The readers on the shared network data, against the counts its SOURCE.md gives (made there
//! with an independent parser, dpkt for captures and a Python reader for logs).

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dnshunt_core::{Event, Origin};
use dnshunt_wire::{WireCounts, WireOut};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shared network data beside the repository, or `None` (the test is skipped) when it is
/// missing; on CI (`CI` set) missing data is a failure.
fn network_data(test: &str) -> Option<PathBuf> {
    let dir = repo().join("../shared/data/network");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(std::env::var_os("CI").is_none(), "{test}: shared test data missing at {} (CI is set)", dir.display());
    println!("skipped: {test}: shared test data missing at {}", dir.display());
    None
}

#[derive(Default)]
struct Collect {
    events: Vec<Event>,
    bad: u64,
    warnings: u64,
    other: u64,
    counts: WireCounts,
    examples: Vec<String>,
}

impl WireOut for Collect {
    fn event(&mut self, event: Event) -> bool {
        self.events.push(event);
        true
    }
    fn bad(&mut self, origin: Origin, reason: String, count: u64) {
        self.bad += count;
        self.examples.push(format!("{origin}: {reason}"));
    }
    fn warn(&mut self, origin: Origin, message: String) {
        self.warnings += 1;
        self.examples.push(format!("{origin}: {message}"));
    }
    fn other(&mut self, count: u64) {
        self.other += count;
    }
    fn counts(&mut self, counts: &WireCounts) {
        self.counts = counts.clone();
    }
}

/// Registered domains of the exchanges' names, with counts.
fn domains(events: &[Event]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for w in events.iter().filter_map(Event::wire_dns) {
        let q = &w.lookup.query;
        *m.entry(q.registered_domain().unwrap_or(q.as_str()).to_owned()).or_default() += 1;
    }
    m
}

fn log(path: &Path, format: dnshunt_wire::WireFormat) -> Collect {
    let mut out = Collect::default();
    let file: Arc<str> = path.display().to_string().into();
    let r = BufReader::new(std::fs::File::open(path).unwrap());
    match format {
        dnshunt_wire::WireFormat::ZeekTsv => dnshunt_wire::zeek::read_tsv(r, &file, &mut out),
        dnshunt_wire::WireFormat::ZeekJson => dnshunt_wire::zeek::read_json(r, &file, &mut out),
        dnshunt_wire::WireFormat::Eve => dnshunt_wire::eve::read(r, &file, &mut out),
        dnshunt_wire::WireFormat::Capture => dnshunt_wire::pcap::read(r, &file, &mut out),
    }
    out
}

/// Counts of one input: records (packets or log lines), DNS questions and responses, the
/// exchanges and connections read from them, other records, and the registered domain most
/// asked for (`None` to skip).
struct Expect {
    file: &'static str,
    records: u64,
    queries: u64,
    responses: u64,
    exchanges: usize,
    flows: usize,
    other: u64,
    top_domain: Option<(&'static str, usize)>,
}

/// The counts SOURCE.md gives for each file (packets, DNS messages by QR bit, EVE event types,
/// Zeek records and rcodes), with what follows from them for exchanges: every question is one
/// exchange, and every response pairs with its question here (none arrived without one). The
/// connections of captures (TCP packets with SYN and not ACK) were counted with
/// `scripts/count-pcap.py`, a reader written apart from ours, which also gives SOURCE.md's
/// packet and DNS message counts.
const EXPECTED: &[Expect] = &[
    // "382 IP pkts; DNS msgs 382 (q 220 / r 162); reg. domains 1 (top: skullseclabs.org ×220)".
    Expect {
        file: "tunnels/bsidessf2017-dnscap/dnscap.pcap",
        records: 382,
        queries: 220,
        responses: 162,
        exchanges: 220,
        flows: 0,
        other: 0,
        top_domain: Some(("skullseclabs.org", 220)),
    },
    // "434 IP pkts; DNS msgs 434 (q 222 / r 212)": the capture also holds 4 packets that are not
    // IP (ARP), 438 in all.
    Expect {
        file: "tunnels/elastic-examples-iodine/dns-tunnel-iodine.pcap",
        records: 438,
        queries: 222,
        responses: 212,
        exchanges: 222,
        flows: 0,
        other: 4,
        top_domain: None,
    },
    Expect {
        file: "doh/korving-doh-tunnel/doh_tunnel_c2/177c88133b0fa9350ce7158fe21d07ec/dnsoverhttps/dns.pcap",
        records: 2517,
        queries: 127,
        responses: 123,
        exchanges: 127,
        flows: 157,
        other: 2110,
        top_domain: None,
    },
    Expect {
        file: "doh/korving-doh-tunnel/doh_tunnel_c2/68c58a06f47716371dd3a039dabe84f9/dnsoverhttps/dns.pcap",
        records: 3564,
        queries: 198,
        responses: 198,
        exchanges: 198,
        flows: 227,
        other: 2941,
        top_domain: None,
    },
    // PRIVATE record type 65399: a strict parser (simple-dns) refuses all 82 messages.
    Expect {
        file: "doh/korving-doh-tunnel/doh_tunnel_file_transfer/23a0a5a8e47264591dde38c5eeacda0f/dnsoverhttps/dns.pcap",
        records: 615,
        queries: 41,
        responses: 41,
        exchanges: 41,
        flows: 42,
        other: 491,
        top_domain: None,
    },
    // "1084 IP pkts; DNS msgs 495 (q 247 / r 248); top: spamhaus.org ×185": one response more
    // than questions (a duplicate answer), so 248 exchanges.
    Expect {
        file: "c2/slips-test-cc/test-cc-capture-2.pcap",
        records: 1084,
        queries: 247,
        responses: 248,
        exchanges: 248,
        flows: 22,
        other: 567,
        top_domain: Some(("spamhaus.org", 185)),
    },
    // "992 records; rcodes {NOERROR 517, '-' 343, NXDOMAIN 129, SERVFAIL 3}; qtypes '-' 12": the
    // 12 records without a question name nothing and are other records.
    Expect {
        file: "dga/stratosphere-005-simda-zeek/dns.log",
        records: 992,
        queries: 980,
        responses: 649,
        exchanges: 980,
        flows: 0,
        other: 12,
        top_domain: None,
    },
    Expect {
        file: "dga/stratosphere-005-simda-zeek/conn.log",
        records: 992,
        queries: 0,
        responses: 0,
        exchanges: 0,
        flows: 992,
        other: 0,
        top_domain: None,
    },
    Expect {
        file: "dga/stratosphere-005-simda-zeek/http.log",
        records: 992,
        queries: 0,
        responses: 0,
        exchanges: 0,
        flows: 0,
        other: 992,
        top_domain: None,
    },
    // "24181 records; rcodes {'-': 24127, NOERROR 53, NXDOMAIN 1}", with the two label columns.
    Expect {
        file: "zeek-eve/stratosphere-009-kovter-zeek/data/dns.log.labeled",
        records: 24181,
        queries: 24176,
        responses: 54,
        exchanges: 24176,
        flows: 0,
        other: 5,
        top_domain: Some(("jepntwjomiaq.su", 3275)),
    },
    // Zeek JSON: "239 records; rcodes {NOERROR 182, '-' 49, NXDOMAIN 8}".
    Expect {
        file: "zeek-eve/slips/test9-mixed-zeek-dir/dns.log",
        records: 239,
        queries: 239,
        responses: 190,
        exchanges: 239,
        flows: 0,
        other: 0,
        top_domain: None,
    },
    Expect {
        file: "zeek-eve/slips/test9-mixed-zeek-dir/conn.log",
        records: 576,
        queries: 0,
        responses: 0,
        exchanges: 0,
        flows: 576,
        other: 0,
        top_domain: None,
    },
    Expect {
        file: "zeek-eve/slips/test10-mixed-zeek-dir/dns.log",
        records: 93,
        queries: 85,
        responses: 54,
        exchanges: 85,
        flows: 0,
        other: 8,
        top_domain: None,
    },
    // SOURCE.md says 142 records: its count took the first header line, which starts with a
    // tab (`\t#separator`), for a record; the file has 141 data lines.
    Expect {
        file: "zeek-eve/slips/test10-mixed-zeek-dir/conn.log",
        records: 141,
        queries: 0,
        responses: 0,
        exchanges: 0,
        flows: 141,
        other: 0,
        top_domain: None,
    },
    // EVE: "5000 events {alert 745, dns 680, flow 3512, tls 1, http 56, fileinfo 3, anomaly 3};
    // dns query/answer 340/340".
    Expect {
        file: "zeek-eve/slips/test6-malicious.suricata.json",
        records: 5000,
        queries: 340,
        responses: 340,
        exchanges: 340,
        flows: 3513,
        other: 807,
        top_domain: Some(("myedimax.com", 302)),
    },
    // "688 events {dns 250, http 63, tls 27, fileinfo 63, flow 284, stats 1}; query/answer 127/123".
    Expect {
        file: "doh/korving-doh-tunnel/doh_tunnel_c2/177c88133b0fa9350ce7158fe21d07ec/dnsoverhttps/suricata/eve.json",
        records: 688,
        queries: 127,
        responses: 123,
        exchanges: 127,
        flows: 311,
        other: 127,
        top_domain: None,
    },
    Expect {
        file: "doh/korving-doh-tunnel/doh_tunnel_c2/68c58a06f47716371dd3a039dabe84f9/dnsoverhttps/suricata/eve.json",
        records: 1263,
        queries: 198,
        responses: 198,
        exchanges: 198,
        flows: 443,
        other: 424,
        top_domain: None,
    },
    Expect {
        file: "doh/korving-doh-tunnel/doh_tunnel_file_transfer/23a0a5a8e47264591dde38c5eeacda0f/dnsoverhttps/suricata/eve.json",
        records: 166,
        queries: 41,
        responses: 41,
        exchanges: 41,
        flows: 83,
        other: 1,
        top_domain: None,
    },
];

#[test]
fn every_network_file_reads_to_the_independent_counts() {
    let Some(dir) = network_data("every_network_file_reads_to_the_independent_counts") else {
        return;
    };
    for e in EXPECTED {
        let path = dir.join(e.file);
        let head = std::fs::read(&path).unwrap();
        let format = dnshunt_wire::sniff(&head[..head.len().min(4096)]).unwrap_or_else(|| panic!("{}: not recognised", e.file));
        let c = log(&path, format);
        let exchanges = c.events.iter().filter(|ev| ev.wire_dns().is_some()).count();
        let flows = c.events.iter().filter(|ev| ev.wire_flow().is_some()).count();
        let got = (c.counts.records, c.counts.dns_queries, c.counts.dns_responses, exchanges, flows, c.other);
        assert_eq!(
            got,
            (e.records, e.queries, e.responses, e.exchanges, e.flows, e.other),
            "{}: records, questions, responses, exchanges, flows, other",
            e.file
        );
        assert_eq!((c.bad, c.warnings), (0, 0), "{}: {:?}", e.file, c.examples);
        if let Some((domain, n)) = e.top_domain {
            let top = domains(&c.events).into_iter().max_by_key(|x| x.1).unwrap();
            assert_eq!(top, (domain.to_owned(), n), "{}", e.file);
        }
    }
}

#[test]
fn tunnel_payloads_are_kept() {
    let Some(dir) = network_data("tunnel_payloads_are_kept") else { return };
    // iodine: NULL answers with binary data, raw bytes in the labels of 73 questions.
    let c = log(&dir.join("tunnels/elastic-examples-iodine/dns-tunnel-iodine.pcap"), dnshunt_wire::WireFormat::Capture);
    let null_answers: Vec<_> = c.events.iter().filter_map(|e| e.wire_dns()).flat_map(|w| &w.records).filter(|r| r.rtype.0 == 10).collect();
    assert_eq!(null_answers.len(), 212);
    let null_bytes: u64 = null_answers.iter().map(|r| u64::from(r.size.unwrap())).sum();
    assert_eq!(null_bytes, 20_743, "the NULL records' data, byte for byte");
    // 73 messages have them (an independent count): the questions and their responses.
    let raw: Vec<_> = c.events.iter().filter_map(|e| e.wire_dns()).filter(|w| w.lookup.query.as_str().contains("\\x")).collect();
    let raw_answered = raw.iter().filter(|w| w.rcode.is_some()).count();
    assert_eq!(raw.len() + raw_answered, 73);
    assert!(c.events.iter().all(|e| e.wire_dns().unwrap().lookup.query.as_str().ends_with(".pirate.sea")));
    // The DoH tunnel's file transfer: private type 65399 in question and answer.
    let c = log(
        &dir.join("doh/korving-doh-tunnel/doh_tunnel_file_transfer/23a0a5a8e47264591dde38c5eeacda0f/dnsoverhttps/dns.pcap"),
        dnshunt_wire::WireFormat::Capture,
    );
    let private: u64 = c
        .events
        .iter()
        .filter_map(|e| e.wire_dns())
        .flat_map(|w| &w.records)
        .filter(|r| r.rtype.0 == 65399)
        .map(|r| u64::from(r.size.unwrap()))
        .sum();
    assert_eq!(private, 4_904);
    assert!(c.events.iter().filter_map(|e| e.wire_dns()).all(|w| w.qtype.unwrap().0 == 65399));
    // dnscat2: every question answered within the capture has its round trip and sizes.
    let c = log(&dir.join("tunnels/bsidessf2017-dnscap/dnscap.pcap"), dnshunt_wire::WireFormat::Capture);
    let answered: Vec<_> = c.events.iter().filter_map(|e| e.wire_dns()).filter(|w| w.rcode.is_some()).collect();
    assert_eq!(answered.len(), 162);
    assert!(answered.iter().all(|w| w.rtt_ms.is_some() && w.query_bytes.is_some() && w.response_bytes.is_some()));
    let client = answered[0].client.unwrap();
    assert_eq!(client.ip.to_string(), "192.168.43.91");
    assert_eq!(answered[0].server.unwrap().port, 53);
}

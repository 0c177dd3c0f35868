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

fn capture(path: &Path) -> Collect {
    let mut out = Collect::default();
    let file: Arc<str> = path.display().to_string().into();
    dnshunt_wire::pcap::read(BufReader::new(std::fs::File::open(path).unwrap()), &file, &mut out);
    out
}

/// Registered domains of the exchanges' names, with counts.
fn domains(events: &[Event]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in events {
        let q = &e.wire_dns().unwrap().lookup.query;
        *m.entry(q.registered_domain().unwrap_or(q.as_str()).to_owned()).or_default() += 1;
    }
    m
}

#[test]
fn captures_explore() {
    let Some(dir) = network_data("captures_explore") else { return };
    for f in [
        "tunnels/bsidessf2017-dnscap/dnscap.pcap",
        "tunnels/elastic-examples-iodine/dns-tunnel-iodine.pcap",
        "doh/korving-doh-tunnel/doh_tunnel_c2/177c88133b0fa9350ce7158fe21d07ec/dnsoverhttps/dns.pcap",
        "doh/korving-doh-tunnel/doh_tunnel_c2/68c58a06f47716371dd3a039dabe84f9/dnsoverhttps/dns.pcap",
        "doh/korving-doh-tunnel/doh_tunnel_file_transfer/23a0a5a8e47264591dde38c5eeacda0f/dnsoverhttps/dns.pcap",
        "c2/slips-test-cc/test-cc-capture-2.pcap",
    ] {
        let c = capture(&dir.join(f));
        let answered = c.events.iter().filter(|e| e.wire_dns().unwrap().rcode.is_some()).count();
        println!(
            "{f}: {:?} events {} answered {answered} bad {} warn {} other {} top {:?} ex {:?}",
            c.counts,
            c.events.len(),
            c.bad,
            c.warnings,
            c.other,
            domains(&c.events).into_iter().max_by_key(|x| x.1),
            c.examples.iter().take(3).collect::<Vec<_>>()
        );
    }
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

#[test]
fn logs_explore() {
    let Some(dir) = network_data("logs_explore") else { return };
    for f in [
        "dga/stratosphere-005-simda-zeek/dns.log",
        "dga/stratosphere-005-simda-zeek/conn.log",
        "dga/stratosphere-005-simda-zeek/http.log",
        "zeek-eve/stratosphere-009-kovter-zeek/data/dns.log.labeled",
        "zeek-eve/slips/test9-mixed-zeek-dir/dns.log",
        "zeek-eve/slips/test9-mixed-zeek-dir/conn.log",
        "zeek-eve/slips/test10-mixed-zeek-dir/dns.log",
        "zeek-eve/slips/test10-mixed-zeek-dir/conn.log",
        "zeek-eve/slips/test6-malicious.suricata.json",
        "doh/korving-doh-tunnel/doh_tunnel_c2/177c88133b0fa9350ce7158fe21d07ec/dnsoverhttps/suricata/eve.json",
        "doh/korving-doh-tunnel/doh_tunnel_c2/68c58a06f47716371dd3a039dabe84f9/dnsoverhttps/suricata/eve.json",
        "doh/korving-doh-tunnel/doh_tunnel_file_transfer/23a0a5a8e47264591dde38c5eeacda0f/dnsoverhttps/suricata/eve.json",
    ] {
        let path = dir.join(f);
        let head = std::fs::read(&path).unwrap();
        let format = dnshunt_wire::sniff(&head[..head.len().min(4096)]).unwrap_or_else(|| panic!("{f} not recognised"));
        let c = log(&path, format);
        let dns = c.events.iter().filter(|e| e.wire_dns().is_some()).count();
        let nx = c.events.iter().filter(|e| e.wire_dns().is_some_and(|w| w.rcode == Some(3))).count();
        println!(
            "{f}: {format:?} {:?} dns {dns} nx {nx} flows {} bad {} warn {} other {} ex {:?}",
            c.counts,
            c.events.len() - dns,
            c.bad,
            c.warnings,
            c.other,
            c.examples.iter().take(3).collect::<Vec<_>>()
        );
    }
}

//! Throughput of `Prevalence::observe` and bytes per key. Not a test: run it with
//! `cargo test --release -p dnshunt-prevalence --test bench -- --ignored --nocapture`.

use std::sync::Arc;
use std::time::Instant;

use dnshunt_core::{parse_query_results, DnsName, DnsQuery, Event, EventKind, Guid, NetworkConnect, Origin, ProcessCreate, ProcessRef, QueryStatus, Timestamp};
use dnshunt_prevalence::{Kind, Prevalence, PrevalenceConfig};

const T0: i64 = 1_714_521_600_000;

/// A small deterministic generator (xorshift64*), so the bench needs no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Roughly Zipf-distributed in 0..n: a few values very often, most rarely.
    fn skewed(&mut self, n: u64) -> u64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64).powf(u) - 1.0) as u64 % n
    }
}

const IMAGES: [&str; 6] = [
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Windows\System32\svchost.exe",
    r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
    r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
    r"\\?\C:\Windows\System32\backgroundTaskHost.exe",
    r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
];

/// A fleet's events: 500 hosts, 50,000 domains (skewed), lookups with a CNAME and two
/// addresses (80 %), process creations (10 %) and connections (10 %).
fn events(n: usize, seed: u64) -> Vec<Event> {
    let mut rng = Rng(seed);
    let file: Arc<str> = Arc::from("bench.json");
    (0..n)
        .map(|i| {
            let host = rng.next() % 500;
            let image = IMAGES[rng.skewed(IMAGES.len() as u64) as usize];
            let process = ProcessRef {
                guid: Some(Guid((host as u128) << 64 | rng.skewed(200) as u128)),
                pid: Some(1000),
                image: Some(image.into()),
                user: None,
            };
            let kind = match rng.next() % 10 {
                0 => EventKind::ProcessCreate(Box::new(ProcessCreate {
                    process,
                    command_line: Some(format!("\"{image}\" --type=renderer --id={}", rng.skewed(5_000))),
                    ..ProcessCreate::default()
                })),
                1 => EventKind::NetworkConnect(Box::new(NetworkConnect {
                    process,
                    destination_ip: Some(std::net::IpAddr::from((rng.skewed(100_000) as u32 + 0x0a00_0000).to_be_bytes())),
                    ..NetworkConnect::default()
                })),
                _ => {
                    let d = rng.skewed(50_000);
                    let results = format!(
                        "type:  5 edge{}.cdn{}.net;::ffff:10.{}.{}.1;::ffff:10.{}.{}.2;",
                        d % 97,
                        d % 13,
                        d % 250,
                        d / 250 % 250,
                        d % 250,
                        d / 250 % 250
                    );
                    let mut answers = Vec::new();
                    parse_query_results(&results, &mut answers);
                    EventKind::DnsQuery(DnsQuery {
                        process,
                        query: DnsName::new(&format!("www.site{d}.com")),
                        status: QueryStatus::SUCCESS,
                        answers,
                        results_raw: results,
                    })
                }
            };
            Event {
                time: Timestamp(T0 + i as i64 * 10),
                host: Some(format!("WS-{host:04}.corp.example.com").into()),
                record_id: None,
                rule_name: None,
                origin: Origin::line(&file, i as u64 + 1),
                kind,
            }
        })
        .collect()
}

/// Resident memory of this process, in bytes (Linux; 0 elsewhere).
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<usize>().ok()))
        .map_or(0, |pages| pages * 4096)
}

/// CPU time of this thread in nanoseconds (Linux; wall time elsewhere): other builds on a
/// shared machine then slow the measurement less.
fn cpu_ns(wall: Instant) -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or_else(|| wall.elapsed().as_nanos() as u64)
}

#[test]
#[ignore = "a benchmark: run with --release -- --ignored --nocapture observe_throughput"]
fn observe_throughput() {
    let origin = Instant::now();
    // A pool whose keys stay in cache, and one ten times larger.
    for n in [20_000, 200_000] {
        let pool = events(n, 0x9e37_79b9_7f4a_7c15);
        let mut p = Prevalence::default();
        // First pass: most keys new. Later passes: every key known (the steady state of a hunt).
        for pass in 0..4 {
            let (wall, cpu) = (Instant::now(), cpu_ns(origin));
            pool.iter().for_each(|e| p.observe(e));
            let cpu = (cpu_ns(origin) - cpu) as f64;
            println!(
                "{n} events, pass {pass}: {:.0} ns/event CPU ({:.2} M events/s), {:.0} ns/event wall",
                cpu / n as f64,
                n as f64 / cpu * 1e3,
                wall.elapsed().as_nanos() as f64 / n as f64
            );
        }
        let keys: usize = Kind::ALL.iter().map(|&k| p.exact_keys(k)).sum();
        println!(
            "keys: {} domains, {} addresses, {} images, {} command lines; {} hosts; {:.0} bytes/key by accounting",
            p.exact_keys(Kind::Domain),
            p.exact_keys(Kind::Address),
            p.exact_keys(Kind::Image),
            p.exact_keys(Kind::CommandLine),
            p.fleet_hosts(),
            p.memory_bytes() as f64 / keys as f64
        );
        println!("svchost: {:?}", p.assess(Kind::Image, IMAGES[1]).reason);
    }
}

/// Run alone (`bytes_per_key` as the filter), so memory freed by other work does not hide growth.
#[test]
#[ignore = "a benchmark: run with --release -- --ignored --nocapture bytes_per_key"]
fn bytes_per_key() {
    // One million distinct registered domains, one lookup each.
    for cap in [458_752usize, 1_000_000] {
        let mut p = Prevalence::new(PrevalenceConfig {
            max_exact_keys: cap,
            ..PrevalenceConfig::default()
        });
        let mut e = (1..).map(|seed| events(1, seed).remove(0)).find(|e| e.dns().is_some()).unwrap();
        let before = rss();
        let start = Instant::now();
        for i in 0..1_000_000u32 {
            if let EventKind::DnsQuery(q) = &mut e.kind {
                q.query = DnsName::new(&format!("www.d{i}.com"));
                q.answers.clear();
            }
            e.host = Some(format!("ws-{:04}", i % 500).into());
            p.observe(&e);
        }
        let secs = start.elapsed().as_secs_f64();
        let grown = rss().saturating_sub(before);
        let exact = p.exact_keys(Kind::Domain);
        println!(
            "cap {cap}: 1M new domains in {secs:.2} s (incl. building names); {exact} exact, overflow {}; RSS +{:.1} MB ({:.0} bytes/exact key incl. sketch); accounting {:.1} MB",
            p.overflowed(Kind::Domain),
            grown as f64 / 1e6,
            grown as f64 / exact as f64,
            p.memory_bytes() as f64 / 1e6
        );
    }
}

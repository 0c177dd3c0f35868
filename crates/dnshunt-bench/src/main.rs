//! `dnshunt-bench`: input generation and baselines for the ingest benchmark
//! (`scripts/bench-ingest.sh` drives it; see the README's Benchmarks section).
//!
//! - `gen SRC OUT MB`: writes `OUT` by repeating the JSON lines of `SRC` until it holds `MB`
//!   megabytes, renaming the host of each copy (`…-r<n>`, 50 hosts in turn).
//! - `gen-dns SRC OUT MB`: a DNS-heavy file: nine EID 22 lines of SRC (their query names replaced
//!   by 20,000 made-up names drawn with a Zipf distribution) for every other line, 50 hosts.
//! - `json FILE [threads]`: a bare `serde_json::Value` parse of every line; prints lines/s, MB/s.
//! - `sonic FILE [threads]`: the same with `sonic_rs::Value` (a SIMD parser).
//! - `names N OUT`: N DNS queries (flat Sysmon JSON lines), every one for a distinct name under
//!   one of N/4 distinct domains, from 50 hosts and 20 programs, one a second, with a connection
//!   to a distinct address every 10th query and a process start every 50th: the worst case
//!   for tables keyed by name, address or process (the memory benchmark
//!   `scripts/bench-names.sh`).
//! - `intel N OUT`: an indicator list of N entries (80 % domains with a family tag, 15 %
//!   addresses, 5 % networks), deterministic, for the list-loading benchmark.
//! - `pcap-rep SRC OUT COPIES`: a legacy pcap of SRC's packets COPIES times over, each copy
//!   later in time than the one before (so questions pair within their copy).
//! - `pcap FILE`: on one thread, a bare `pcap-parser` walk of FILE counting packets, then
//!   dnshunt's reader (link to DNS decoding, pairing, events); prints packets/s and the ratio.
//! - `evtx FILE COPIES [threads]`: the `evtx` crate's JSON rendering of FILE, COPIES times, and
//!   the same plus a bare `serde_json::Value` parse of every rendered record.

use std::io::{BufWriter, Write};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use rayon::prelude::*;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("gen") if args.len() == 4 => gen(&args[1], &args[2], args[3].parse()?),
        Some("gen-dns") if args.len() == 4 => gen_dns(&args[1], &args[2], args[3].parse()?),
        Some("json") if args.len() >= 2 => json(&args[1], args.get(2).map_or(Ok(1), |t| t.parse())?, Parser::SerdeJson),
        Some("sonic") if args.len() >= 2 => json(&args[1], args.get(2).map_or(Ok(1), |t| t.parse())?, Parser::SonicRs),
        Some("intel") if args.len() == 3 => intel(args[1].parse()?, &args[2]),
        Some("names") if args.len() == 3 => names(args[1].parse()?, &args[2]),
        Some("pcap-rep") if args.len() == 4 => pcap_rep(&args[1], &args[2], args[3].parse()?),
        Some("pcap") if args.len() == 2 => pcap(&args[1]),
        Some("evtx") if args.len() >= 3 => evtx(&args[1], args[2].parse()?, args.get(3).map_or(Ok(1), |t| t.parse())?),
        _ => {
            bail!("usage: dnshunt-bench gen SRC OUT MB | gen-dns SRC OUT MB | json FILE [threads] | sonic FILE [threads] | evtx FILE COPIES [threads] | intel N OUT | names N OUT | pcap-rep SRC OUT COPIES | pcap FILE")
        }
    }
}

/// Hosts in generated files: fixed, so that state that grows with hosts does not grow with size.
const HOSTS: u64 = 50;

fn gen(src: &str, out: &str, megabytes: u64) -> Result<()> {
    let text = std::fs::read_to_string(src).with_context(|| format!("reading {src}"))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let host = find_host(&lines).context("no winlog.computer_name in the source lines")?;
    let target = megabytes * 1_000_000;
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out).with_context(|| format!("creating {out}"))?);
    let mut written = 0u64;
    let mut copy = 0u64;
    while written < target {
        let renamed = format!("{host}-r{}", copy % HOSTS);
        for line in &lines {
            let line = line.replace(&host, &renamed);
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
            written += line.len() as u64 + 1;
        }
        copy += 1;
    }
    w.flush()?;
    eprintln!("wrote {out}: {:.0} MB, {} copies of {} lines", written as f64 / 1e6, copy, lines.len());
    Ok(())
}

/// DNS-heavy: nine lookups for every other event. Each lookup is one of SRC's EID 22 lines
/// (in turn) with its query name replaced by one of 20,000 made-up names drawn with a Zipf
/// distribution (a few names very often, most rarely, as on a real fleet), on one of 50 hosts.
fn gen_dns(src: &str, out: &str, megabytes: u64) -> Result<()> {
    let text = std::fs::read_to_string(src).with_context(|| format!("reading {src}"))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let host = find_host(&lines).context("no winlog.computer_name in the source lines")?;
    // The short name too (`host.name`), which is what names the host when it is there.
    let short = host.split('.').next().unwrap_or(&host).to_lowercase();
    let mut lookups: Vec<(&str, String)> = Vec::new();
    let mut others: Vec<&str> = Vec::new();
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line).with_context(|| format!("a line of {src} is not JSON"))?;
        match (
            v.pointer("/winlog/event_id").and_then(|v| v.as_str()),
            v.pointer("/dns/question/name").and_then(|v| v.as_str()),
        ) {
            (Some("22"), Some(name)) => lookups.push((line, name.to_owned())),
            _ => others.push(line),
        }
    }
    if lookups.is_empty() {
        bail!("{src} has no EID 22 lines with dns.question.name");
    }
    let names = made_up_names(20_000);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let target = megabytes * 1_000_000;
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out).with_context(|| format!("creating {out}"))?);
    let (mut written, mut n_lookups, mut n_others) = (0u64, 0u64, 0u64);
    let mut i = 0u64;
    while written < target {
        let copy = (i / 10) % HOSTS;
        // `WS-ACCT-07-r3.corp.example.com`: a host of its own, also by its short name.
        let renamed = match host.split_once('.') {
            Some((first, rest)) => format!("{first}-r{copy}.{rest}"),
            None => format!("{host}-r{copy}"),
        };
        let rename = |line: &str| line.replace(&host, &renamed).replace(&format!("\"{short}\""), &format!("\"{short}-r{copy}\""));
        let line = if i % 10 == 9 {
            n_others += 1;
            rename(others[(n_others as usize) % others.len().max(1)])
        } else {
            let (template, old) = &lookups[(n_lookups as usize) % lookups.len()];
            n_lookups += 1;
            // Zipf(1) over the names: rank = N^u - 1 for u uniform in [0, 1).
            let u = (next() >> 11) as f64 / (1u64 << 53) as f64;
            let rank = ((names.len() as f64).powf(u) as usize).saturating_sub(1).min(names.len() - 1);
            rename(
                &template
                    .replace(&format!("\"{old}\""), &format!("\"{}\"", names[rank]))
                    .replace(&format!("QueryName: {old}\\n"), &format!("QueryName: {}\\n", names[rank])),
            )
        };
        if others.is_empty() && i % 10 == 9 {
            i += 1;
            continue;
        }
        w.write_all(line.as_bytes())?;
        w.write_all(b"\n")?;
        written += line.len() as u64 + 1;
        i += 1;
    }
    w.flush()?;
    eprintln!("wrote {out}: {:.0} MB, {n_lookups} lookups and {n_others} other events", written as f64 / 1e6);
    Ok(())
}

/// `n` plausible, distinct DNS names: a service label, a made-up brand and a suffix.
fn made_up_names(n: usize) -> Vec<String> {
    const LABELS: [&str; 12] = ["www", "api", "cdn", "login", "static", "img", "mail", "update", "telemetry", "edge", "assets", "auth"];
    const SYLLABLES: [&str; 24] = [
        "con", "tos", "fab", "ri", "kam", "nor", "thw", "ind", "lit", "ware", "data", "net", "cor", "vel", "sys", "lab", "tec", "mar", "ko", "zen", "pro", "link", "hub", "cast",
    ];
    const SUFFIXES: [&str; 6] = ["com", "net", "org", "io", "co.uk", "de"];
    let mut names = Vec::with_capacity(n);
    'out: for a in SYLLABLES {
        for b in SYLLABLES {
            for suffix in SUFFIXES {
                for label in LABELS {
                    if names.len() == n {
                        break 'out;
                    }
                    names.push(format!("{label}.{a}{b}.{suffix}"));
                }
            }
        }
    }
    names
}

fn names(n: u64, out: &str) -> Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out).with_context(|| format!("creating {out}"))?);
    // 2024-03-01 00:00:00 UTC, then one query a second.
    let start = 1_709_251_200i64;
    for i in 0..n {
        let t = start + i as i64;
        let (days, rem) = (t.div_euclid(86_400), t.rem_euclid(86_400));
        // Days since 1970 → civil date (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        let host = i % HOSTS;
        let program = i % 20;
        let time = format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.000", rem / 3600, rem % 3600 / 60, rem % 60);
        writeln!(
            w,
            r#"{{"SourceName":"Microsoft-Windows-Sysmon","Channel":"Microsoft-Windows-Sysmon/Operational","Hostname":"ws{host:02}.corp.example","EventID":22,"UtcTime":"{time}","ProcessGuid":"{{5d1{program:05x}-2b25-5d12-0000-0010{host:08x}}}","ProcessId":"{}","QueryName":"n{i:x}.d{:x}.net","QueryStatus":"0","QueryResults":"::ffff:10.{}.{}.{};","Image":"C:\\Program Files\\App{program}\\app{program}.exe"}}"#,
            1000 + program,
            i / 4,
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255,
        )?;
        // Every 10th query, a connection to a distinct public address no lookup returned (for
        // the tables keyed by address); every 50th, a process of its own (the process join).
        if i % 10 == 0 {
            let a = i / 10;
            writeln!(
                w,
                r#"{{"SourceName":"Microsoft-Windows-Sysmon","Channel":"Microsoft-Windows-Sysmon/Operational","Hostname":"ws{host:02}.corp.example","EventID":3,"UtcTime":"{time}","ProcessGuid":"{{5d1{program:05x}-2b25-5d12-0000-0010{host:08x}}}","ProcessId":"{}","Image":"C:\\Program Files\\App{program}\\app{program}.exe","Protocol":"tcp","Initiated":"true","SourceIp":"10.1.{}.{}","SourcePort":"{}","DestinationIp":"{}.{}.{}.{}","DestinationPort":"443"}}"#,
                1000 + program,
                host / 256,
                host % 256,
                49152 + a % 16384,
                45 + (a >> 24) % 100,
                (a >> 16) & 255,
                (a >> 8) & 255,
                a & 255,
            )?;
        }
        if i % 50 == 0 {
            writeln!(
                w,
                r#"{{"SourceName":"Microsoft-Windows-Sysmon","Channel":"Microsoft-Windows-Sysmon/Operational","Hostname":"ws{host:02}.corp.example","EventID":1,"UtcTime":"{time}","ProcessGuid":"{{6e2{:05x}-2b25-5d12-0000-0010{host:08x}}}","ProcessId":"{}","Image":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd.exe /c job {i}","ParentProcessGuid":"{{5d1{program:05x}-2b25-5d12-0000-0010{host:08x}}}","ParentProcessId":"{}","ParentImage":"C:\\Program Files\\App{program}\\app{program}.exe","User":"CORP\\user{host}"}}"#,
                (i / 50) & 0xfffff,
                2000 + (i / 50) % 60000,
                1000 + program,
            )?;
        }
    }
    w.flush()?;
    eprintln!(
        "wrote {out}: {n} DNS queries with distinct names, {} connections, {} process starts",
        n.div_ceil(10),
        n.div_ceil(50)
    );
    Ok(())
}

fn find_host(lines: &[&str]) -> Option<String> {
    let first: serde_json::Value = serde_json::from_str(lines.first()?).ok()?;
    first.pointer("/winlog/computer_name")?.as_str().map(str::to_owned)
}

/// The parser of a bare parse: `serde_json::Value` or `sonic_rs::Value` (a DOM of the whole
/// document, as cheap as each crate makes one).
#[derive(Clone, Copy, Debug)]
enum Parser {
    SerdeJson,
    SonicRs,
}

fn json(path: &str, threads: usize, parser: Parser) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build()?;
    let started = Instant::now();
    // Cut at line ends into 4 MiB blocks, as dnshunt's reader does, and parse every line into a
    // `serde_json::Value`: the cheapest complete parse of the same bytes.
    let mut blocks = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let end = (start + (4 << 20)).min(bytes.len());
        let end = memchr::memrchr(b'\n', &bytes[start..end]).map_or(end, |i| start + i + 1);
        let end = if end == start { bytes.len() } else { end };
        blocks.push(&bytes[start..end]);
        start = end;
    }
    let (lines, bad) = pool.install(|| {
        blocks
            .par_iter()
            .map(|block| {
                let (mut n, mut bad) = (0u64, 0u64);
                let mut start = 0;
                let ends = memchr::memchr_iter(b'\n', block).chain(std::iter::once(block.len()));
                for line in ends.map(|end| std::mem::replace(&mut start, end + 1)..end).map(|r| &block[r]).filter(|l| !l.is_empty()) {
                    let ok = match parser {
                        Parser::SerdeJson => serde_json::from_slice::<serde_json::Value>(line).map(|v| std::hint::black_box(v).is_object()).is_ok(),
                        Parser::SonicRs => sonic_rs::from_slice::<sonic_rs::Value>(line)
                            .map(|v| sonic_rs::JsonValueTrait::is_object(std::hint::black_box(&v)))
                            .is_ok(),
                    };
                    if ok {
                        n += 1;
                    } else {
                        bad += 1;
                    }
                }
                (n, bad)
            })
            .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    let secs = started.elapsed().as_secs_f64();
    println!(
        "baseline {}, {threads} thread(s): {lines} lines ({bad} bad) in {secs:.3} s = {:.0} lines/s, {:.1} MB/s",
        match parser {
            Parser::SerdeJson => "serde_json::Value",
            Parser::SonicRs => "sonic_rs::Value",
        },
        lines as f64 / secs,
        bytes.len() as f64 / 1e6 / secs
    );
    Ok(())
}

fn evtx(path: &str, copies: usize, threads: usize) -> Result<()> {
    for parse in [false, true] {
        let started = Instant::now();
        let mut records = 0u64;
        for _ in 0..copies {
            let mut parser = evtx::EvtxParser::from_path(path)?.with_configuration(evtx::ParserSettings::new().num_threads(threads).indent(false));
            for r in parser.records_json_bytes().flatten() {
                if parse {
                    std::hint::black_box(serde_json::from_slice::<serde_json::Value>(&r.data).ok());
                } else {
                    std::hint::black_box(&r.data);
                }
                records += 1;
            }
        }
        let secs = started.elapsed().as_secs_f64();
        let what = if parse { "rendering + serde_json::Value parse" } else { "rendering only" };
        println!(
            "baseline evtx crate {what}, {threads} thread(s): {records} records in {secs:.3} s = {:.0} records/s",
            records as f64 / secs
        );
    }
    Ok(())
}

fn intel(n: u64, out: &str) -> Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out).with_context(|| format!("creating {out}"))?);
    // xorshift: deterministic and dependency-free.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    const TLDS: [&str; 8] = ["com", "net", "org", "info", "xyz", "top", "ru", "co.uk"];
    for i in 0..n {
        let r = next();
        match i % 20 {
            0..=15 => {
                let label: String = (0..8 + r % 12).map(|k| (b'a' + ((r >> (k * 3)) % 26) as u8) as char).collect();
                writeln!(w, "{label}{i}.{}\tfamily{}", TLDS[(r % 8) as usize], r % 2000)?;
            }
            16..=18 => writeln!(w, "{}.{}.{}.{}", r >> 24 & 255, r >> 16 & 255, r >> 8 & 255, r & 255)?,
            _ => writeln!(w, "{}.{}.{}.0/24", r >> 24 & 255, r >> 16 & 255, r >> 8 & 255)?,
        }
    }
    w.flush()?;
    Ok(())
}

/// A legacy pcap of SRC's packets COPIES times over, each copy shifted past the one before.
fn pcap_rep(src: &str, out: &str, copies: u64) -> Result<()> {
    let data = std::fs::read(src).with_context(|| format!("reading {src}"))?;
    if data.len() < 24 || data[..4] != [0xd4, 0xc3, 0xb2, 0xa1] {
        bail!("{src}: a little-endian microsecond pcap is needed");
    }
    let mut records = Vec::new();
    let mut pos = 24;
    let (mut first, mut last) = (u32::MAX, 0u32);
    while pos + 16 <= data.len() {
        let caplen = u32::from_le_bytes(data[pos + 8..pos + 12].try_into()?) as usize;
        let secs = u32::from_le_bytes(data[pos..pos + 4].try_into()?);
        first = first.min(secs);
        last = last.max(secs);
        records.push(&data[pos..(pos + 16 + caplen).min(data.len())]);
        pos += 16 + caplen;
    }
    let span = last.saturating_sub(first) + 60;
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out).with_context(|| format!("creating {out}"))?);
    w.write_all(&data[..24])?;
    for copy in 0..copies {
        for r in &records {
            let secs = u32::from_le_bytes(r[..4].try_into()?).wrapping_add(span.wrapping_mul(copy as u32));
            w.write_all(&secs.to_le_bytes())?;
            w.write_all(&r[4..])?;
        }
    }
    w.flush()?;
    eprintln!("wrote {out}: {} packets ({} copies of {})", copies * records.len() as u64, copies, records.len());
    Ok(())
}

/// Counts what dnshunt's capture reader gives, keeping nothing.
#[derive(Default)]
struct Count {
    events: u64,
    bad: u64,
    counts: dnshunt_wire::WireCounts,
}

impl dnshunt_wire::WireOut for Count {
    fn event(&mut self, event: dnshunt_core::Event) -> bool {
        std::hint::black_box(&event);
        self.events += 1;
        true
    }
    fn bad(&mut self, _: dnshunt_core::Origin, _: String, count: u64) {
        self.bad += count;
    }
    fn warn(&mut self, _: dnshunt_core::Origin, _: String) {}
    fn other(&mut self, _: u64) {}
    fn counts(&mut self, counts: &dnshunt_wire::WireCounts) {
        self.counts = counts.clone();
    }
}

/// One thread: a bare pcap-parser walk, then dnshunt's reader, of the same bytes (in memory).
fn pcap(file: &str) -> Result<()> {
    use pcap_parser::traits::PcapReaderIterator;
    let data = std::fs::read(file).with_context(|| format!("reading {file}"))?;
    let started = Instant::now();
    let mut walked = 0u64;
    let mut reader = pcap_parser::LegacyPcapReader::new(1 << 16, &data[..]).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                if let pcap_parser::PcapBlockOwned::Legacy(b) = block {
                    std::hint::black_box(b.data);
                    walked += 1;
                }
                reader.consume(offset);
            }
            Err(pcap_parser::PcapError::Eof) => break,
            Err(pcap_parser::PcapError::Incomplete(_)) => reader.refill().map_err(|e| anyhow::anyhow!("{e:?}"))?,
            Err(e) => bail!("{e:?}"),
        }
    }
    let walk_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut count = Count::default();
    dnshunt_wire::pcap::read(std::io::BufReader::new(&data[..]), &std::sync::Arc::from(file), &mut count);
    let read_s = started.elapsed().as_secs_f64();
    println!("bare pcap-parser walk : {walked} packets in {walk_s:.3} s = {:.0} packets/s", walked as f64 / walk_s);
    println!(
        "dnshunt capture reader: {} packets in {read_s:.3} s = {:.0} packets/s ({} DNS questions, {} responses, {} events, {} bad)",
        count.counts.records,
        count.counts.records as f64 / read_s,
        count.counts.dns_queries,
        count.counts.dns_responses,
        count.events,
        count.bad
    );
    println!("ratio reader / bare walk: {:.2}", walk_s / read_s);
    Ok(())
}

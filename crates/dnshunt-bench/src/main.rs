//! `dnshunt-bench`: input generation and baselines for the ingest benchmark
//! (`scripts/bench-ingest.sh` drives it; see the README's Benchmarks section).
//!
//! - `gen SRC OUT MB`: writes `OUT` by repeating the JSON lines of `SRC` until it holds `MB`
//!   megabytes, renaming the host of each copy (`…-r<n>`, 50 hosts in turn).
//! - `json FILE [threads]`: a bare `serde_json::Value` parse of every line; prints lines/s, MB/s.
//! - `names N OUT`: N DNS queries (flat Sysmon JSON lines), every one for a distinct name under
//!   one of N/4 distinct domains, from 50 hosts and 20 programs, one a second, with a connection
//!   to a distinct address every 10th query and a process start every 50th: the worst case
//!   for tables keyed by name, address or process (the memory benchmark
//!   `scripts/bench-names.sh`).
//! - `intel N OUT`: an indicator list of N entries (80 % domains with a family tag, 15 %
//!   addresses, 5 % networks), deterministic, for the list-loading benchmark.
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
        Some("json") if args.len() >= 2 => json(&args[1], args.get(2).map_or(Ok(1), |t| t.parse())?),
        Some("intel") if args.len() == 3 => intel(args[1].parse()?, &args[2]),
        Some("names") if args.len() == 3 => names(args[1].parse()?, &args[2]),
        Some("evtx") if args.len() >= 3 => evtx(&args[1], args[2].parse()?, args.get(3).map_or(Ok(1), |t| t.parse())?),
        _ => bail!("usage: dnshunt-bench gen SRC OUT MB | json FILE [threads] | evtx FILE COPIES [threads] | intel N OUT | names N OUT"),
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

fn json(path: &str, threads: usize) -> Result<()> {
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
                for line in block.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    match serde_json::from_slice::<serde_json::Value>(line) {
                        Ok(v) => {
                            std::hint::black_box(&v);
                            n += 1;
                        }
                        Err(_) => bad += 1,
                    }
                }
                (n, bad)
            })
            .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    let secs = started.elapsed().as_secs_f64();
    println!(
        "baseline serde_json::Value, {threads} thread(s): {lines} lines ({bad} bad) in {secs:.3} s = {:.0} lines/s, {:.1} MB/s",
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

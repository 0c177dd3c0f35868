//! `dnshunt eval findings`: precision on real recordings.
//!
//! Every file under the given paths is one recording, hunted on its own through the same
//! `Analysis` as `hunt` (detectors, aggregation, prevalence, incidents) with the config file and
//! blocklists given; enrichment (GeoIP, rank lists, domain age), a state store and Sigma rules
//! are not used, so the figures measure the built-in detectors. Per file and in total it prints the
//! events, incidents and findings by severity, medium-or-higher findings and incidents per
//! 10,000 events, and the headline of every medium-or-higher incident, so each can be judged.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use dnshunt_core::Severity;
use dnshunt_detect::indicators::IndicatorSet;
use dnshunt_detect::registry::{self, DetectorInputs};
use dnshunt_source::{Input, Message, ReadOptions};
use serde::Serialize;

#[derive(Debug, Args)]
pub struct EvalFindingsArgs {
    /// Recordings: files, or directories walked for `.evtx`, `.json`, `.jsonl`, `.ndjson`,
    /// `.xml`, `.gz` and `.zip` files. Each file is hunted on its own.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// A TOML config file, as for `hunt`.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// A blocklist, as for `hunt`. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub blocklist: Vec<PathBuf>,

    /// `table` (default) or `json` (one object with every file and the totals).
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,

    /// Parser threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// What one recording gave.
#[derive(Debug, Default, Serialize)]
struct FileResult {
    file: String,
    events: u64,
    bad_records: u64,
    /// Per severity: info, low, medium, high, critical.
    incidents: [u64; 5],
    findings: [u64; 5],
    medium_plus_incidents_per_10k: f64,
    medium_plus_findings_per_10k: f64,
    /// `severity risk headline` of every medium-or-higher incident.
    headlines: Vec<String>,
}

fn medium_plus(counts: &[u64; 5]) -> u64 {
    counts[Severity::Medium as usize..].iter().sum()
}

fn per_10k(n: u64, events: u64) -> f64 {
    if events == 0 {
        0.0
    } else {
        (n as f64 * 10_000.0 / events as f64 * 10.0).round() / 10.0
    }
}

/// Every recording under `paths`, sorted. Directories are walked following links, with loops
/// detected (a loop is an error, not a hang).
fn recordings(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    const EXTENSIONS: [&str; 7] = ["evtx", "json", "jsonl", "ndjson", "xml", "gz", "zip"];
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        if !meta.is_dir() {
            out.push(path.clone());
            continue;
        }
        for entry in walkdir::WalkDir::new(path).follow_links(true) {
            let entry = entry.with_context(|| format!("walking {}", path.display()))?;
            let p = entry.path();
            if entry.file_type().is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            {
                out.push(p.to_owned());
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn hunt_one(path: &Path, args: &EvalFindingsArgs, config: &crate::config::Config, blocklist: &IndicatorSet) -> Result<FileResult> {
    // The lists are parsed once for all recordings; each hunt gets its own copy.
    let inputs = DetectorInputs {
        blocklist: blocklist.clone(),
        ..DetectorInputs::default()
    };
    let detectors = registry::build(&config.detectors, inputs);
    let mut analysis = crate::run::Analysis::new(config, detectors, 5, false, 1);
    let options = ReadOptions {
        threads: args.threads,
        ..ReadOptions::default()
    };
    let (rx, handle) = dnshunt_source::spawn(vec![Input::from_arg(&path.display().to_string())], options);
    let mut result = FileResult {
        file: path.display().to_string(),
        ..FileResult::default()
    };
    for msg in rx {
        match msg {
            Message::Batch { events, counts, .. } => {
                for event in &events {
                    analysis.observe(event);
                }
                result.events += counts.events();
                result.bad_records += counts.bad_records;
            }
            Message::Skipped { .. } => result.bad_records += 1,
            Message::FileError { error, .. } => bail!("reading {}: {error}", path.display()),
            Message::FileStart { .. } | Message::Ignored { .. } => {}
        }
    }
    if handle.join().is_err() {
        bail!("reading {}: a reader thread failed (panicked), so events may be missing", path.display());
    }
    let (findings, incidents, _, _) = analysis.finish(config, |_| {});
    for f in &findings {
        result.findings[f.severity as usize] += 1;
    }
    for i in &incidents {
        result.incidents[i.severity as usize] += 1;
        if i.severity >= Severity::Medium {
            result.headlines.push(format!("{} {} {}", i.severity, i.risk, i.headline));
        }
    }
    result.medium_plus_incidents_per_10k = per_10k(medium_plus(&result.incidents), result.events);
    result.medium_plus_findings_per_10k = per_10k(medium_plus(&result.findings), result.events);
    Ok(result)
}

pub fn run(args: EvalFindingsArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let mut config = crate::config::load(args.config.as_deref())?;
    // Each recording is hunted as `hunt` would, within `[memory] budget_mb`.
    config.fit_memory();
    let blocklist = crate::run::load_blocklists(&args.blocklist, true)?;
    let files = recordings(&args.paths)?;
    if files.is_empty() {
        bail!("no recordings (.evtx, .json, .jsonl, .ndjson, .xml, .gz, .zip) under the given paths");
    }
    let mut results = Vec::with_capacity(files.len());
    for path in &files {
        results.push(hunt_one(path, &args, &config, &blocklist)?);
    }
    let mut total = FileResult {
        file: format!("total ({} recordings)", results.len()),
        ..FileResult::default()
    };
    for r in &results {
        total.events += r.events;
        total.bad_records += r.bad_records;
        for s in 0..5 {
            total.incidents[s] += r.incidents[s];
            total.findings[s] += r.findings[s];
        }
    }
    total.medium_plus_incidents_per_10k = per_10k(medium_plus(&total.incidents), total.events);
    total.medium_plus_findings_per_10k = per_10k(medium_plus(&total.findings), total.events);

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.format == "json" {
        serde_json::to_writer_pretty(&mut out, &serde_json::json!({"files": results, "total": total}))?;
        use std::io::Write;
        writeln!(out)?;
    } else {
        print_table(&mut out, &args.paths, &results, &total)?;
    }
    eprintln!("dnshunt: {} recordings evaluated in {:.1} s", results.len(), started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

fn print_table(out: &mut impl std::io::Write, roots: &[PathBuf], results: &[FileResult], total: &FileResult) -> std::io::Result<()> {
    let short = |file: &str| -> String {
        for root in roots {
            let root = root.display().to_string();
            if let Some(rest) = file
                .strip_prefix(&root)
                .filter(|r| r.is_empty() || r.starts_with(['/', '\\']) || root.ends_with(['/', '\\']))
            {
                let rest = rest.trim_start_matches(['/', '\\']);
                let base = root.trim_end_matches(['/', '\\']).rsplit(['/', '\\']).next().unwrap_or("");
                return if rest.is_empty() { base.to_owned() } else { format!("{base}/{rest}") };
            }
        }
        file.to_owned()
    };
    let counts = |c: &[u64; 5]| format!("{}/{}/{}/{}/{}", c[4], c[3], c[2], c[1], c[0]);
    writeln!(
        out,
        "| recording | events | incidents c/h/m/l/i | findings c/h/m/l/i | medium+ incidents /10k | medium+ findings /10k |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|")?;
    for r in results.iter().chain(std::iter::once(total)) {
        writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {:.1} |",
            short(&r.file),
            r.events,
            counts(&r.incidents),
            counts(&r.findings),
            r.medium_plus_incidents_per_10k,
            r.medium_plus_findings_per_10k
        )?;
    }
    writeln!(out)?;
    writeln!(out, "Medium-or-higher incidents:")?;
    for r in results {
        for h in &r.headlines {
            writeln!(out, "- {}: {h}", short(&r.file))?;
        }
    }
    Ok(())
}

//! Running a command: the pipeline from readers to sinks.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use dnshunt_detect::indicators::IndicatorSet;
use dnshunt_detect::registry::{self, DetectorInputs};
use dnshunt_detect::{Engine, EngineConfig};
use dnshunt_sink::FindingFormat;
use dnshunt_source::{Input, InputFormat, Message, ReadOptions, ReadReport};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{Cli, Command, EventsArgs, FindingFormatArg, HuntArgs, InputArgs, InputFormatArg};
use crate::summary;

/// Exit status when `--strict` is given and input could not be read.
const EXIT_STRICT: u8 = 3;

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Hunt(args) => hunt(args),
        Command::Events(args) => events(args),
    }
}

fn read_options(input: &InputArgs) -> ReadOptions {
    ReadOptions {
        format: match input.input_format {
            InputFormatArg::Auto => InputFormat::Auto,
            InputFormatArg::Evtx => InputFormat::Evtx,
            InputFormatArg::Json => InputFormat::Json,
            InputFormatArg::Xml => InputFormat::Xml,
        },
        threads: input.threads,
        since: input.since,
        until: input.until,
        ..ReadOptions::default()
    }
}

fn open_output(path: Option<&std::path::Path>) -> Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::new(File::create(p).with_context(|| format!("creating {}", p.display()))?)),
        None => Box::new(BufWriter::with_capacity(1 << 16, io::stdout().lock())),
    })
}

/// Reads every input, handing each event to `on_event`; returns what reading saw.
fn read_all(input: &InputArgs, mut on_event: impl FnMut(&dnshunt_core::Event) -> Result<()>) -> Result<(ReadReport, Duration)> {
    let started = Instant::now();
    let inputs: Vec<Input> = input.paths.iter().map(|p| Input::from_arg(p)).collect();
    let (rx, handle) = dnshunt_source::spawn(inputs, read_options(input));
    let progress = progress_bar(input);
    let mut report = ReadReport::default();
    let mut bytes = 0u64;
    for msg in rx {
        match msg {
            Message::FileStart { id, name, format } => {
                let file = report.file_mut(id);
                file.name = name;
                file.format = format;
            }
            Message::Batch {
                id,
                events,
                counts,
                problems,
                bytes: n,
            } => {
                for event in &events {
                    on_event(event)?;
                }
                report.totals.add(&counts);
                let file = report.file_mut(id);
                file.counts.add(&counts);
                file.bytes += n;
                bytes += n;
                report.add_problems(problems);
                if let Some(pb) = &progress {
                    pb.set_message(format!("{} events, {:.1} MB, {} files", report.totals.events(), bytes as f64 / 1e6, report.files.len()));
                }
            }
            Message::Skipped { id, problem } => {
                report.totals.bad_records += 1;
                report.file_mut(id).counts.bad_records += 1;
                report.add_problems(vec![problem]);
            }
            Message::Ignored { name } => report.ignored_files.push(name),
            Message::FileError { id, error, problem } => {
                report.file_mut(id).error = Some(error);
                report.add_problems(vec![problem]);
            }
        }
    }
    let _ = handle.join();
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    Ok((report, started.elapsed()))
}

fn progress_bar(input: &InputArgs) -> Option<ProgressBar> {
    if input.quiet || input.no_progress || !io::stderr().is_terminal() {
        return None;
    }
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    pb.set_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("static template"));
    pb.enable_steady_tick(Duration::from_millis(120));
    Some(pb)
}

fn load_blocklists(args: &HuntArgs, quiet: bool) -> Result<IndicatorSet> {
    let mut set = IndicatorSet::new();
    for path in &args.blocklist {
        let text = std::fs::read(path).with_context(|| format!("reading blocklist {}", path.display()))?;
        let text = String::from_utf8_lossy(&text);
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let parsed = set.add_list(&name, &text);
        if !quiet {
            eprintln!(
                "dnshunt: blocklist {}: {} domains, {} addresses, {} networks",
                path.display(),
                parsed.domains,
                parsed.addresses,
                parsed.networks
            );
            if parsed.rejected > 0 {
                eprintln!(
                    "dnshunt: blocklist {}: {} lines are not a domain, address or network, e.g.:",
                    path.display(),
                    parsed.rejected
                );
                for (line, text) in &parsed.rejected_examples {
                    eprintln!("    line {line}: {text}");
                }
            }
        }
    }
    Ok(set)
}

fn hunt(args: HuntArgs) -> Result<ExitCode> {
    let quiet = args.input.quiet;
    let config = crate::config::load(args.config.as_deref())?;
    let inputs = DetectorInputs {
        blocklist: load_blocklists(&args, quiet)?,
    };
    let detectors = registry::build(&config.detectors, inputs);
    let mut engine = Engine::new(
        EngineConfig {
            max_evidence: args.max_evidence.max(1),
            min_severity: args.min_severity,
        },
        detectors,
    );
    let detector_names = engine.detector_names();

    let (report, elapsed) = read_all(&args.input, |event| {
        engine.observe(event);
        Ok(())
    })?;
    let (findings, engine_report) = engine.finish();

    let stdout_tty = args.output.is_none() && io::stdout().is_terminal();
    let format = match args.format {
        Some(FindingFormatArg::Table) => FindingFormat::Table,
        Some(FindingFormatArg::Jsonl) => FindingFormat::Jsonl,
        Some(FindingFormatArg::Json) => FindingFormat::Json,
        Some(FindingFormatArg::Csv) => FindingFormat::Csv,
        None if stdout_tty => FindingFormat::Table,
        None => FindingFormat::Jsonl,
    };
    let mut out = open_output(args.output.as_deref())?;
    dnshunt_sink::write_findings(&mut out, format, &findings, None).context("writing findings")?;
    out.flush().context("writing findings")?;
    drop(out);

    if !quiet {
        summary::print(&report, elapsed, Some((&detector_names, &findings, &engine_report)));
    }
    if let Some(path) = &args.input.summary_json {
        summary::write_json(path, &report, elapsed, Some(&engine_report))?;
    }
    Ok(exit_code(&args.input, &report))
}

fn events(args: EventsArgs) -> Result<ExitCode> {
    let mut out = open_output(args.output.as_deref())?;
    let (report, elapsed) = read_all(&args.input, |event| dnshunt_sink::write_event(&mut out, event).context("writing events"))?;
    out.flush().context("writing events")?;
    drop(out);
    if !args.input.quiet {
        summary::print(&report, elapsed, None);
    }
    if let Some(path) = &args.input.summary_json {
        summary::write_json(path, &report, elapsed, None)?;
    }
    Ok(exit_code(&args.input, &report))
}

fn exit_code(input: &InputArgs, report: &ReadReport) -> ExitCode {
    if input.strict && report.has_problems() {
        ExitCode::from(EXIT_STRICT)
    } else {
        ExitCode::SUCCESS
    }
}

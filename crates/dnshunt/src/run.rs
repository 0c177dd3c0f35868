//! Running a command: the pipeline from readers to sinks.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use dnshunt_detect::indicators::IndicatorSet;
use dnshunt_detect::registry::{self, DetectorInputs};
use dnshunt_detect::stats::counted;
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
        Command::Hunt(args) => hunt(*args),
        Command::Events(args) => events(args),
        Command::Train(args) => crate::train::run(args),
        Command::Eval(args) => crate::eval::run(args),
        Command::Score(args) => crate::score::run(args),
        Command::Stats(args) => crate::stats::run(args),
        Command::SysmonConfig(args) => crate::sysmon_config_cmd::run(*args),
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

/// A buffered writer to `path`, or to stdout.
pub(crate) fn open_output(path: Option<&std::path::Path>) -> Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::new(File::create(p).with_context(|| format!("creating {}", p.display()))?)),
        None => Box::new(BufWriter::with_capacity(1 << 16, io::stdout().lock())),
    })
}

/// Reads every input (files, or the cluster index pattern of `es`), handing each event to
/// `on_event`; returns what reading saw, how long it took, and the events' time span.
pub(crate) fn read_all(
    input: &InputArgs,
    es: Option<&crate::es::EsInput>,
    mut on_event: impl FnMut(&dnshunt_core::Event) -> Result<()>,
) -> Result<(ReadReport, Duration, summary::Span)> {
    read_batches(input, es, |events| events.iter().try_for_each(|e| on_event(e)))
}

/// [`read_all`], handing the events over a batch at a time, each shared (`Arc`), so whatever
/// keeps one (the detectors' evidence) keeps it without a copy.
pub(crate) fn read_batches(
    input: &InputArgs,
    es: Option<&crate::es::EsInput>,
    mut on_batch: impl FnMut(&[Arc<dnshunt_core::Event>]) -> Result<()>,
) -> Result<(ReadReport, Duration, summary::Span)> {
    let started = Instant::now();
    let paths = checked_paths(input)?;
    let inputs: Vec<Input> = paths.iter().map(|p| Input::from_arg(p)).collect();
    let (rx, handle) = match es {
        Some(es) => es.spawn(read_options(input)),
        None => dnshunt_source::spawn(inputs, read_options(input)),
    };
    // Files are measured before reading, a cluster counts its documents.
    let mut progress = progress_bar(input, || match es {
        Some(es) => es.count(&read_options(input)).map(Total::Records),
        None => known_size(&paths).map(Total::Bytes),
    });
    let mut report = ReadReport::default();
    let mut bytes = 0u64;
    let mut span = summary::Span::default();
    for msg in rx {
        match msg {
            Message::FileStart { id, name, format } => {
                if let Some(p) = progress.as_mut() {
                    p.start(id, &name);
                }
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
                    span.observe(event.time);
                }
                let events: Vec<Arc<dnshunt_core::Event>> = events.into_iter().map(Arc::new).collect();
                on_batch(&events)?;
                report.totals.add(&counts);
                let file = report.file_mut(id);
                file.counts.add(&counts);
                file.bytes += n;
                bytes += n;
                report.add_problems(problems);
                if let Some(p) = progress.as_mut() {
                    let files = counted(report.files.len() as u64, "file", "files");
                    p.advance(
                        id,
                        n,
                        counts.records(),
                        &format!("{} events, {:.1} MB, {files}", dnshunt_report::group(report.totals.events()), bytes as f64 / 1e6),
                    );
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
    if handle.join().is_err() {
        anyhow::bail!("a reader thread failed (panicked), so events may be missing; no findings were written");
    }
    if let Some(es) = es {
        es.finish()?;
    }
    if let Some(p) = progress {
        p.bar.finish_and_clear();
    }
    Ok((report, started.elapsed(), span))
}

/// The input paths, checked before reading starts: one that does not exist or cannot be opened
/// is an error (a script must never take "0 findings" for a clean machine) unless
/// `--skip-unreadable` is given. An empty `--since`/`--until` window is an error too.
pub(crate) fn checked_paths(input: &InputArgs) -> Result<Vec<String>> {
    if let (Some(since), Some(until)) = (input.since, input.until) {
        if since >= until {
            anyhow::bail!("--since {since} is not before --until {until}: no event could match");
        }
    }
    let mut ok = Vec::with_capacity(input.paths.len());
    for arg in &input.paths {
        if arg == "-" {
            ok.push(arg.clone());
            continue;
        }
        let path = std::path::Path::new(arg);
        let readable = match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => std::fs::read_dir(path).map(|_| ()),
            // Not opened here: opening a FIFO blocks until something writes to it. The reader
            // refuses FIFOs, sockets and devices with a counted problem and goes on.
            Ok(meta) if !meta.is_file() => Ok(()),
            Ok(_) => File::open(path).map(|_| ()),
            Err(e) => Err(e),
        };
        match readable {
            // With --skip-unreadable the reader reports it as a file error (counted, listed in
            // the summary, exit 3 with --strict) and goes on.
            Err(e) if !input.skip_unreadable => anyhow::bail!("input {arg}: {e} (--skip-unreadable goes on without it)"),
            _ => ok.push(arg.clone()),
        }
    }
    Ok(ok)
}

/// What a run's progress is measured in, when its total is known.
enum Total {
    /// Bytes of plain files.
    Bytes(u64),
    /// Documents of a cluster.
    Records(u64),
}

/// The progress line on a terminal: percent and time left when the total is known (plain files
/// of known size, a cluster's document count), a spinner otherwise (stdin, `.gz`/`.zip`).
struct Progress {
    bar: ProgressBar,
    /// Bytes of each file being read: what it reports, never more than its size on disk (an
    /// EVTX file reports its size when it starts).
    files: std::collections::HashMap<u32, (u64, u64)>,
    total: Option<Total>,
}

impl Progress {
    fn start(&mut self, id: u32, name: &str) {
        if matches!(self.total, Some(Total::Bytes(_))) {
            let size = std::fs::metadata(name).map_or(0, |m| m.len());
            self.files.insert(id, (0, size));
        }
    }

    fn advance(&mut self, id: u32, bytes: u64, records: u64, message: &str) {
        match self.total {
            Some(Total::Bytes(_)) => {
                if let Some((done, size)) = self.files.get_mut(&id) {
                    let before = *done;
                    *done = (*done + bytes).min(*size);
                    self.bar.inc(*done - before);
                }
            }
            Some(Total::Records(_)) => self.bar.inc(records),
            None => {}
        }
        self.bar.set_message(message.to_owned());
    }
}

/// The total size of `paths` when it is known: regular files and directories walked, none of
/// them compressed; `None` for stdin, archives or anything else.
fn known_size(paths: &[String]) -> Option<u64> {
    fn walk(path: &std::path::Path, depth: usize, total: &mut u64) -> bool {
        let Ok(meta) = std::fs::metadata(path) else { return false };
        if meta.is_dir() {
            if depth > 32 {
                return false;
            }
            let Ok(entries) = std::fs::read_dir(path) else { return false };
            return entries.flatten().all(|e| walk(&e.path(), depth + 1, total));
        }
        let name = path.to_string_lossy().to_ascii_lowercase();
        if !meta.is_file() || name.ends_with(".gz") || name.ends_with(".zip") {
            return false;
        }
        *total += meta.len();
        true
    }
    let mut total = 0;
    let all = !paths.is_empty() && paths.iter().all(|p| p != "-" && walk(std::path::Path::new(p), 0, &mut total));
    (all && total > 0).then_some(total)
}

/// The progress display, only on a terminal; `total` is asked for only then.
fn progress_bar(input: &InputArgs, total: impl FnOnce() -> Option<Total>) -> Option<Progress> {
    if input.quiet || input.no_progress || !io::stderr().is_terminal() {
        return None;
    }
    let total = total();
    let (len, template) = match total {
        Some(Total::Bytes(n)) => (Some(n), "{spinner} {percent:>3}% {bytes}/{total_bytes}, {eta} left: {msg}"),
        Some(Total::Records(n)) => (Some(n), "{spinner} {percent:>3}% {human_pos}/{human_len} documents, {eta} left: {msg}"),
        None => (None, "{spinner} {elapsed} {msg}"),
    };
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    bar.set_style(ProgressStyle::with_template(template).expect("static template"));
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(Progress {
        bar,
        files: std::collections::HashMap::new(),
        total,
    })
}

pub(crate) fn load_blocklists(paths: &[std::path::PathBuf], quiet: bool) -> Result<IndicatorSet> {
    let mut set = IndicatorSet::new();
    for path in paths {
        let text = std::fs::read(path).with_context(|| format!("reading blocklist {}", path.display()))?;
        let text = String::from_utf8_lossy(&text);
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let started = Instant::now();
        let parsed = set.add_list(&name, &text);
        if !quiet {
            // How long loading took only when it is worth knowing (large feeds).
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "dnshunt: blocklist {}: {}, {}, {}{}",
                path.display(),
                counted(parsed.domains as u64, "domain", "domains"),
                counted(parsed.addresses as u64, "address", "addresses"),
                counted(parsed.networks as u64, "network", "networks"),
                if secs >= 0.1 { format!(", loaded in {secs:.1} s") } else { String::new() }
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

fn load_doh_lists(args: &HuntArgs) -> Result<Vec<String>> {
    let mut hosts = Vec::new();
    for path in &args.doh_list {
        let text = std::fs::read(path).with_context(|| format!("reading DoH list {}", path.display()))?;
        hosts.extend(dnshunt_detect::detectors::doh_lookup::parse_endpoint_list(&String::from_utf8_lossy(&text)));
    }
    Ok(hosts)
}

/// What `hunt` (and `eval findings`) do with every event: the detection engine, then
/// aggregation and incidents once all input is read. One place, so both give the same result.
pub(crate) struct Analysis {
    engine: Engine,
    prevalence: dnshunt_prevalence::Prevalence,
}

impl Analysis {
    /// `threads`: for the detectors, 0 for one per core.
    pub(crate) fn new(config: &crate::config::Config, detectors: Vec<Box<dyn dnshunt_core::Detector>>, max_evidence: usize, profile: bool, threads: usize) -> Analysis {
        let engine = Engine::new(
            EngineConfig {
                max_evidence: max_evidence.max(1),
                // Incidents are built from every finding; the severity filter applies afterwards.
                min_severity: dnshunt_core::Severity::Info,
                aggregate: config.aggregate.clone(),
                related_lookup: config.detectors.enabled("related_lookup"),
                max_processes: config.memory.max_processes,
                max_findings: config.memory.max_findings,
                profile,
                attribution: config.attribution.clone(),
                threads: match threads {
                    0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                    n => n,
                },
            },
            detectors,
        )
        .with_allowlist(dnshunt_detect::allowlist::Allowlist::new(&config.allowlist));
        Analysis {
            engine,
            prevalence: dnshunt_prevalence::Prevalence::new(config.prevalence.clone()),
        }
    }

    /// Fleet-wide counts pushed down to the cluster (`hunt --es`), merged with what the input
    /// shows, so an incremental run still knows what the whole fleet does.
    pub(crate) fn add_cluster_counts(&mut self, counts: &crate::stats::ClusterCounts) {
        use dnshunt_prevalence::Kind;
        for (domain, hosts, events) in &counts.domains {
            self.prevalence.add_aggregate(Kind::Domain, domain, *hosts, 0, *events);
        }
        for (image, hosts, events) in &counts.processes {
            self.prevalence.add_aggregate(Kind::Image, image, *hosts, 0, *events);
        }
        self.prevalence.add_fleet_hosts(counts.hosts);
    }

    /// What earlier runs saw, from the state store: first sightings and hosts for prevalence.
    pub(crate) fn add_baseline(&mut self, entries: &[dnshunt_state::Entry]) {
        for e in entries {
            if let Some(kind) = dnshunt_prevalence::Kind::from_state_kind(&e.kind) {
                self.prevalence
                    .add_baseline(kind, &e.host, &e.value, dnshunt_core::Timestamp(e.first_seen), dnshunt_core::Timestamp(e.last_seen));
            }
        }
    }

    pub(crate) fn detector_names(&self) -> Vec<&'static str> {
        self.engine.detector_names()
    }

    pub(crate) fn observe(&mut self, event: &dnshunt_core::Event) {
        self.engine.observe(event);
        self.prevalence.observe(event);
    }

    /// [`Analysis::observe`] for a batch, the detectors spread over the cores.
    pub(crate) fn observe_batch(&mut self, events: &[Arc<dnshunt_core::Event>]) {
        self.engine.observe_batch(events);
        for event in events {
            self.prevalence.observe(event);
        }
    }

    /// [`Analysis::observe`], timing the engine and prevalence apart.
    pub(crate) fn observe_profiled(&mut self, event: &Arc<dnshunt_core::Event>, profile: &mut crate::profile::Profile) {
        let started = Instant::now();
        self.engine.observe_shared(event);
        profile.add(ENGINE_SLOT, started);
        let started = Instant::now();
        self.prevalence.observe(event);
        profile.add("prevalence", started);
    }

    /// Ends the run: findings (with `annotate` applied before incidents are built), incidents
    /// ranked by risk, and the engine's counts.
    pub(crate) fn finish(
        self,
        config: &crate::config::Config,
        annotate: impl FnOnce(&mut Vec<dnshunt_core::Finding>),
    ) -> (Vec<dnshunt_core::Finding>, Vec<dnshunt_core::Incident>, dnshunt_detect::EngineReport, PrevalenceSummary) {
        let prevalence = &self.prevalence;
        let (mut findings, report) = self.engine.finish_with(&|domain: &str| prevalence.is_rare_indicator(domain));
        annotate(&mut findings);
        // What most of the fleet does is damped, what one host does once is raised.
        let (damped, raised) = self.prevalence.apply_to_findings(&mut findings);
        let summary = PrevalenceSummary {
            fleet_hosts: self.prevalence.fleet_hosts(),
            findings_damped: damped,
            findings_raised: raised,
        };
        let incidents = dnshunt_incident::build(&mut findings, &config.incidents, &|indicator: &str| prevalence.is_rare_indicator(indicator));
        (findings, incidents, report, summary)
    }
}

/// The profile slot of the engine's own time (split into detectors and steps at the end; what
/// remains is the end of the run outside the engine).
const ENGINE_SLOT: &str = "end of run: prevalence applied, incidents";

/// Runs `f`, adding its time to `name` when profiling.
fn timed<T>(profile: &mut Option<crate::profile::Profile>, name: &str, f: impl FnOnce() -> T) -> T {
    match profile {
        None => f(),
        Some(p) => {
            let started = Instant::now();
            let out = f();
            p.add(name, started);
            out
        }
    }
}

/// What prevalence did in a run (for the summary).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub(crate) struct PrevalenceSummary {
    pub fleet_hosts: u64,
    pub findings_damped: u64,
    pub findings_raised: u64,
}

fn hunt(args: HuntArgs) -> Result<ExitCode> {
    let quiet = args.input.quiet;
    let mut config = crate::config::load(args.config.as_deref())?;
    if let Some(mb) = args.memory_budget {
        config.memory.budget_mb = mb;
    }
    let fitted = config.fit_memory();
    let state_path = crate::state::resolve_path(args.state.as_ref(), args.no_state, &config.state)?;
    let (mut state_run, first_seen_baseline, state_entries) = match &state_path {
        Some(path) => {
            let (state_run, baseline, entries) =
                crate::state::StateRun::open(path, &config.state, config.memory.max_state_entries).with_context(|| format!("opening state store {}", path.display()))?;
            (Some(state_run), Some(baseline), entries)
        }
        None => (None, None, Vec::new()),
    };
    let mut enrichment = crate::enrich::Enrichment::load(&args.enrich, &config.enrich, state_path.as_deref(), quiet)?;
    let inputs = DetectorInputs {
        geo: enrichment.geo.clone(),
        ages: enrichment.ages.clone(),
        rank: enrichment.rank.clone(),
        blocklist: load_blocklists(&args.blocklist, quiet)?,
        doh_endpoints: load_doh_lists(&args)?,
        first_seen: first_seen_baseline,
    };
    let mut detectors = registry::build(&config.detectors, inputs);
    let sigma_report = (!args.sigma.is_empty()).then(|| {
        let (rules, report) = crate::sigma_cmd::load_rules(&args.sigma, quiet);
        detectors.push(Box::new(dnshunt_sigma::SigmaDetector::new(rules)));
        report
    });
    let mut analysis = Analysis::new(&config, detectors, args.max_evidence, args.profile, args.input.threads);
    let mut profile = args.profile.then(crate::profile::Profile::default);
    analysis.add_baseline(&state_entries);
    drop(state_entries);
    let detector_names = analysis.detector_names();

    let es_checkpoint = crate::es::CheckpointChoice::for_hunt(&args.es_out, args.no_state, state_path.as_deref())?;
    let es_input = crate::es::EsInput::open(&args.input, es_checkpoint)?;
    if let (Some(url), true) = (&args.input.es.es, es_input.is_some() && !args.no_es_prevalence) {
        let started = Instant::now();
        let counts = crate::stats::cluster_counts(url, &args.input).context("aggregating fleet-wide prevalence in the cluster")?;
        analysis.add_cluster_counts(&counts);
        if !quiet {
            eprintln!(
                "dnshunt: prevalence from the cluster: {} domains and {} programs on {} hosts, in {:.2} s",
                counts.domains.len(),
                counts.processes.len(),
                counts.hosts,
                started.elapsed().as_secs_f64()
            );
        }
    }
    // Outputs are checked before reading starts: an unwritable path fails now, not after an hour.
    let mut out = open_output(args.output.as_deref())?;
    if let Some(path) = &args.report {
        File::create(path).with_context(|| format!("creating report {}", path.display()))?;
    }
    let mut report_summary = args.report.as_ref().map(|_| dnshunt_report::Summary::default());
    let (report, elapsed, span) = read_batches(&args.input, es_input.as_ref(), |events| {
        timed(&mut profile, "enrichment", || events.iter().for_each(|e| enrichment.before_event(e)));
        match profile.as_mut() {
            None => analysis.observe_batch(events),
            Some(p) => events.iter().for_each(|e| analysis.observe_profiled(e, p)),
        }
        for event in events {
            if let Some(s) = report_summary.as_mut() {
                timed(&mut profile, "report", || s.observe(event));
            }
            if let Some(state_run) = state_run.as_mut() {
                timed(&mut profile, "state store", || state_run.observe(event));
                state_run.spill_if_full().context("setting the run's state entries aside")?;
            }
        }
        Ok(())
    })?;
    let (mut findings, mut incidents, mut engine_report, prevalence) = timed(&mut profile, ENGINE_SLOT, || analysis.finish(&config, |findings| enrichment.annotate(findings)));
    if let Some(p) = profile.as_mut() {
        p.split(ENGINE_SLOT, &engine_report.profile);
    }
    let stdout_tty = args.output.is_none() && io::stdout().is_terminal();
    let format = match args.format {
        Some(FindingFormatArg::Table) => FindingFormat::Table,
        Some(FindingFormatArg::Jsonl) => FindingFormat::Jsonl,
        Some(FindingFormatArg::Json) => FindingFormat::Json,
        Some(FindingFormatArg::Csv) => FindingFormat::Csv,
        None if stdout_tty => FindingFormat::Table,
        None => FindingFormat::Jsonl,
    };
    // `--min-severity` filters every output; without it, only the table leaves informational
    // findings and incidents out (the report, the index and JSON keep them).
    let min_severity = args.min_severity.unwrap_or(dnshunt_core::Severity::Info);
    engine_report.apply_min_severity(&mut findings, min_severity);
    incidents.retain(|i| i.severity >= min_severity);
    let table_min = match (args.min_severity, format) {
        (None, FindingFormat::Table) => dnshunt_core::Severity::Low,
        _ => min_severity,
    };
    if let (Some(path), Some(s)) = (&args.report, &report_summary) {
        crate::report::write(path, s, &findings, &incidents, &args.input)?;
    }
    let mut state_set_aside = 0;
    if let Some(state_run) = state_run.take() {
        let path = state_run.path().to_owned();
        state_set_aside = state_run.spilled;
        let saved = state_run.save().with_context(|| format!("writing state store {}", path.display()))?;
        if !quiet {
            let aside = if state_set_aside > 0 {
                format!(" ({state_set_aside} set aside on disk during the run, past [memory] max_state_entries)")
            } else {
                String::new()
            };
            eprintln!(
                "dnshunt: state {}: {} new, {} updated, {} forgotten, {} entries{aside}",
                path.display(),
                saved.added,
                saved.updated,
                saved.pruned,
                saved.total
            );
        }
    }

    let show_incidents = args.incidents || (format == FindingFormat::Table && !args.findings);
    let style = dnshunt_sink::TableStyle {
        width: crate::ui::table_width(stdout_tty),
        color: format == FindingFormat::Table && args.output.is_none() && crate::ui::paint_stdout().enabled(),
    };
    // A table for a terminal is built first, then paged when it is taller than the screen.
    let paged = format == FindingFormat::Table && stdout_tty && args.explain.is_none();
    let mut table = Vec::new();
    let mut out: &mut dyn Write = if paged { &mut table } else { &mut *out };
    let shown_incidents: Vec<&dnshunt_core::Incident> = incidents.iter().filter(|i| i.severity >= table_min).collect();
    let incidents_hidden = incidents.len() - shown_incidents.len();
    if let Some(wanted) = &args.explain {
        let wanted = wanted.trim().to_ascii_lowercase();
        let by_finding = findings.iter().find(|f| f.id == wanted).and_then(|f| f.incident_id.clone());
        let matching: Vec<&dnshunt_core::Incident> = incidents
            .iter()
            .filter(|i| i.id.starts_with(&wanted) || by_finding.as_deref() == Some(i.id.as_str()))
            .collect();
        match matching.as_slice() {
            [one] => dnshunt_sink::write_incident_detail(&mut out, one, &findings).context("writing the incident")?,
            [] => anyhow::bail!("--explain {wanted}: no incident or finding has this id (at --min-severity {min_severity})"),
            many => anyhow::bail!("--explain {wanted}: {} incidents start with it; give more of the id", many.len()),
        }
    } else if show_incidents {
        dnshunt_sink::write_incidents(&mut out, format, &shown_incidents, style).context("writing incidents")?;
    } else {
        let shown: Vec<&dnshunt_core::Finding> = findings.iter().filter(|f| f.severity >= table_min).collect();
        dnshunt_sink::write_findings(&mut out, format, &shown, style).context("writing findings")?;
    }
    out.flush().context("writing findings")?;
    if paged {
        crate::ui::page(&table, args.no_pager).context("writing findings")?;
    }
    // Findings go to the cluster, and only then does the checkpoint advance.
    crate::es::after_findings(&args.es_out, &args.input.es, es_input.as_ref(), &findings, &incidents, quiet)?;

    if !quiet {
        let hunt = summary::HuntSummary {
            detectors: &detector_names,
            findings: &findings,
            engine: &engine_report,
            incidents: &incidents,
            incidents_hidden,
            table_min,
            prevalence: Some(prevalence),
            budget_mb: config.memory.budget_mb,
            fitted: &fitted,
        };
        summary::print(&report, elapsed, span, Some(&hunt));
        enrichment.report().print();
    }
    // Asked for, so printed even with `--quiet`.
    if let Some(p) = &profile {
        eprint!("{}", p.render(elapsed, report.totals.events()));
    }
    if let Some(path) = &args.input.summary_json {
        let mut sections = Vec::new();
        if let Some(p) = &profile {
            sections.push(("profile", p.to_json(elapsed)));
        }
        let mut per_severity = serde_json::Map::new();
        for sev in dnshunt_core::Severity::ALL {
            per_severity.insert(sev.as_str().into(), incidents.iter().filter(|i| i.severity == sev).count().into());
        }
        sections.push(("incidents", serde_json::json!({ "total": incidents.len(), "per_severity": per_severity })));
        sections.push(("prevalence", serde_json::to_value(prevalence)?));
        sections.push(("attribution", serde_json::to_value(&engine_report.attribution)?));
        sections.push((
            "memory",
            serde_json::json!({
                "budget_mb": config.memory.budget_mb,
                "lowered": fitted,
                "bounds_reached": engine_report.bounds_reached,
                "tallied_findings": engine_report.tallied_findings,
                "state_entries_set_aside": state_set_aside,
                "max_findings": engine_report.max_findings,
                "findings_not_kept": engine_report.not_kept_per_detector.iter().map(|(d, (n, events))| (d.clone(), serde_json::json!({"findings": n, "events": events}))).collect::<serde_json::Map<_, _>>(),
            }),
        ));
        if let Some(sigma_report) = &sigma_report {
            sections.push(("sigma", serde_json::to_value(sigma_report)?));
        }
        sections.extend(es_input.as_ref().map(|es| ("cluster", es.summary_json())));
        summary::write_json(path, &report, elapsed, Some(&engine_report), sections)?;
    }
    Ok(exit_code(&args.input, &report))
}

fn events(args: EventsArgs) -> Result<ExitCode> {
    let mut out = open_output(args.output.as_deref())?;
    let es_input = crate::es::EsInput::open(&args.input, crate::es::CheckpointChoice::Off)?;
    let mut enrichment = crate::enrich::Enrichment::load(&args.enrich, &crate::enrich::EnrichConfig::default(), None, args.input.quiet)?;
    let (report, elapsed, span) = read_all(&args.input, es_input.as_ref(), |event| {
        if enrichment.is_empty() {
            return dnshunt_sink::write_event(&mut out, event).context("writing events");
        }
        enrichment.before_event(event);
        enrichment.write_event(&mut out, event).context("writing events")
    })?;
    out.flush().context("writing events")?;
    drop(out);
    if !args.input.quiet {
        summary::print(&report, elapsed, span, None);
        enrichment.report().print();
    }
    if let Some(path) = &args.input.summary_json {
        let sections = es_input.as_ref().map(|es| ("cluster", es.summary_json())).into_iter().collect();
        summary::write_json(path, &report, elapsed, None, sections)?;
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

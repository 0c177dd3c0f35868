//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use dnshunt_core::{Severity, Timestamp};

#[derive(Debug, Parser)]
#[command(name = "dnshunt", version, about = "Find attackers in the DNS logs of Windows endpoints (Sysmon EID 22, joined with EID 1 and 3).", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Colour in tables and the summary: `auto` colours a terminal unless `NO_COLOR` is set.
    #[arg(long, global = true, value_enum, default_value_t = ColorArg::Auto, value_name = "WHEN")]
    pub color: ColorArg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

impl From<ColorArg> for dnshunt_sink::ColorChoice {
    fn from(c: ColorArg) -> Self {
        match c {
            ColorArg::Auto => dnshunt_sink::ColorChoice::Auto,
            ColorArg::Always => dnshunt_sink::ColorChoice::Always,
            ColorArg::Never => dnshunt_sink::ColorChoice::Never,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read events, run the detectors, print incidents (or findings).
    Hunt(Box<HuntArgs>),
    /// Print the normalised events (for debugging and pipes).
    ///
    /// Events are written as they are parsed: each file's events in file order within a block
    /// of about 1 MiB, but with several parser threads the blocks of a file, and files read side
    /// by side, may come in a different order from run to run. `--threads 1` keeps every
    /// file's events in file order.
    Events(EventsArgs),
    /// Train a model from labelled data (`train dga`).
    Train(crate::train::TrainArgs),
    /// Evaluate a model (`eval dga`: leave-one-family-out).
    Eval(crate::eval::EvalArgs),
    /// Print every per-name score and match as one JSON line per name (`-` reads stdin).
    Score(crate::score::ScoreArgs),
    /// Fleet-wide stack counts: per domain, query name, program, host, answer type and status,
    /// how many DNS queries and hosts (most common first, `--rare` least common first); with
    /// `--es` the cluster computes them.
    Stats(crate::stats::StatsArgs),
    /// Propose a Sysmon `<DnsQuery onmatch="exclude">` rule group for high-volume benign
    /// domains seen in the events (never one with findings, a rare one, or one only unusual
    /// programs resolve), with the expected reduction; optionally merged into a config file.
    SysmonConfig(Box<crate::sysmon_config_cmd::SysmonConfigArgs>),
}

/// Where events come from and which of them to keep.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Files or directories (walked recursively); `.gz` and `.zip` are opened; `-` is stdin.
    #[arg(required_unless_present = "es", value_name = "PATH")]
    pub paths: Vec<String>,

    /// Elasticsearch/OpenSearch input (`--es URL --index PATTERN`) and connection options.
    #[command(flatten)]
    pub es: crate::es::EsArgs,

    /// Force an input format instead of recognising it from each file's content.
    #[arg(long, value_enum, default_value_t = InputFormatArg::Auto)]
    pub input_format: InputFormatArg,

    /// Keep only events at or after this time (UTC; `2024-03-12` or `2024-03-12T10:00:00Z`).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<Timestamp>,

    /// Keep only events before this time (UTC).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<Timestamp>,

    /// Threads for parsing, and for the detectors in `hunt` (default: one per core each; the
    /// findings are the same whatever the number)
    #[arg(long, default_value_t = 0)]
    pub threads: usize,

    /// Exit with status 3 when any record or file could not be read.
    #[arg(long)]
    pub strict: bool,

    /// No summary and no progress on stderr.
    #[arg(short, long)]
    pub quiet: bool,

    /// No progress display, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,

    /// Also write the run summary (counts per event type and file, problems, findings per
    /// detector) as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,

    /// Go on when an input path does not exist or cannot be read (it is reported and skipped);
    /// without it such a path is an error (exit status 1) before anything is read.
    #[arg(long)]
    pub skip_unreadable: bool,
}

#[derive(Debug, Args)]
pub struct HuntArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Time each detector and step on the main thread and print where the time went (largest
    /// first, with its share and its cost per event) after the summary
    #[arg(long)]
    pub profile: bool,

    /// What the run may hold, in MiB (default 1024, or `[memory] budget_mb`): the detectors'
    /// tables, prevalence and held findings are bounded to fit; 0 for the bounds as configured
    #[arg(long, value_name = "MB")]
    pub memory_budget: Option<u64>,

    /// Output format (default: a table on a terminal, JSON lines otherwise).
    #[arg(short, long, value_enum)]
    pub format: Option<FindingFormatArg>,

    /// Write the result to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Never page a long table on a terminal (the pager is `DNSHUNT_PAGER`, `PAGER` or `less`).
    #[arg(long)]
    pub no_pager: bool,

    /// Write the flat list of findings (each with its `incident_id`) instead of incidents.
    /// This is the default for `--format jsonl|json|csv`; the table shows incidents unless
    /// this is given.
    #[arg(long, conflicts_with = "incidents")]
    pub findings: bool,

    /// Write incidents (findings grouped per process tree and shared indicator, ranked by
    /// risk, each with its timeline) in any format. This is the default for the table.
    #[arg(long)]
    pub incidents: bool,

    /// Print one incident in detail (its reasons, root process, and every finding with its
    /// explanation, process tree and evidence): the incident's id, a prefix of it, or the id of
    /// one of its findings.
    #[arg(long, value_name = "ID", conflicts_with_all = ["findings", "incidents"])]
    pub explain: Option<String>,

    /// With `--es`: do not push fleet-wide prevalence aggregations (hosts per registered domain
    /// and per program over the whole index pattern) down to the cluster; prevalence then comes
    /// from the documents read only.
    #[arg(long, help_heading = "Elasticsearch / OpenSearch")]
    pub no_es_prevalence: bool,

    /// Drop findings and incidents below this severity from every output. Without it the table
    /// leaves informational ones out (the summary counts them) and every other output keeps them.
    #[arg(long, value_parser = parse_severity)]
    pub min_severity: Option<Severity>,

    /// A blocklist of domains, IPs and CIDRs (one a line; hosts-file and `entry<TAB>tag` lines
    /// too). Repeatable.
    #[arg(long, value_name = "FILE")]
    pub blocklist: Vec<PathBuf>,

    /// More DNS-over-HTTPS server host names for the `doh_lookup` detector (one a line; URLs and
    /// `IP # host` lines are understood). Repeatable.
    #[arg(long, value_name = "FILE")]
    pub doh_list: Vec<PathBuf>,

    /// Sigma rules to run over the events: a `.yml` file or a directory of them (Windows
    /// `dns_query`, `network_connection` and `process_creation` rules, and correlations).
    /// Repeatable. Rules that cannot be used are listed with the reason.
    #[arg(long, value_name = "PATH")]
    pub sigma: Vec<PathBuf>,

    /// A TOML config file (detector settings; see `dnshunt.example.toml`).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Evidence events kept per finding.
    #[arg(long, default_value_t = 5)]
    pub max_evidence: usize,

    /// GeoIP databases, NRD feeds, rank lists, RDAP.
    #[command(flatten, next_help_heading = "Enrichment")]
    pub enrich: crate::enrich::EnrichArgs,

    /// Keep a state store (SQLite) across runs and report what is new since earlier runs
    /// (`first_seen`). `default` means `$XDG_DATA_HOME/dnshunt/state.sqlite` (else
    /// `~/.local/share/dnshunt/state.sqlite`). The first run only learns.
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,

    /// No state store, even if the config file asks for one.
    #[arg(long, conflicts_with = "state")]
    pub no_state: bool,

    /// Also write an HTML report (one offline file: charts, stack counts, the findings table).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Checkpoint and findings index (`--output-es`).
    #[command(flatten)]
    pub es_out: crate::es::EsHuntArgs,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = EventFormatArg::Jsonl)]
    pub format: EventFormatArg,

    /// Write events to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// GeoIP databases, NRD feeds, rank lists, RDAP: their facts are added to each event as
    /// `enrichment`.
    #[command(flatten, next_help_heading = "Enrichment")]
    pub enrich: crate::enrich::EnrichArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum InputFormatArg {
    Auto,
    Evtx,
    Json,
    Xml,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FindingFormatArg {
    Table,
    Jsonl,
    Json,
    Csv,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EventFormatArg {
    Jsonl,
}

fn parse_time(s: &str) -> Result<Timestamp, String> {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    parse_time_at(s, now_ms)
}

/// A time as analysts type it: `2024-03-12`, `2024-03-12 10:00`, `2024-03-12T10:00:30`, with
/// an optional fraction and zone (`Z`, `+09:00`; UTC without one), or relative to `now_ms`:
/// `-24h`, `-7d`, `-30m`, `-90s`.
pub(crate) fn parse_time_at(s: &str, now_ms: i64) -> Result<Timestamp, String> {
    let t = s.trim();
    let hint = "use 2024-03-12, 2024-03-12 10:00, 2024-03-12T10:00:00Z or -24h";
    if let Some(rel) = t.strip_prefix('-').filter(|r| r.len() >= 2 && r.as_bytes()[0].is_ascii_digit()) {
        let (num, unit) = rel.split_at(rel.len() - 1);
        let n: i64 = num.parse().map_err(|_| format!("{s:?} is not a time; {hint}"))?;
        let unit_ms = match unit {
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            _ => return Err(format!("{s:?}: the unit of a relative time is s, m, h, d or w")),
        };
        return Ok(Timestamp(now_ms - n.saturating_mul(unit_ms)));
    }
    // `YYYY-MM-DD HH:MM` (no seconds): add them, keeping a zone that follows.
    let b = t.as_bytes();
    let with_seconds;
    let text = match (t.get(..16), t.get(16..)) {
        (Some(head), Some(tail)) if matches!(b[10], b' ' | b'T' | b't') && b[13] == b':' && !tail.starts_with(':') => {
            with_seconds = format!("{head}:00{tail}");
            with_seconds.as_str()
        }
        _ => t,
    };
    Timestamp::parse(text).ok_or_else(|| format!("{s:?} is not a time; {hint}"))
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_710_237_600_000; // 2024-03-12T10:00:00Z

    #[track_caller]
    fn check(text: &str, expected: Option<&str>) {
        let got = parse_time_at(text, NOW).ok().map(|t| t.to_string());
        assert_eq!(got.as_deref(), expected, "{text:?}");
    }

    #[test]
    fn times_are_read_as_analysts_type_them() {
        check("2024-03-12", Some("2024-03-12T00:00:00.000Z"));
        check("2024-03-12 10:00", Some("2024-03-12T10:00:00.000Z"));
        check("2024-03-12T10:00", Some("2024-03-12T10:00:00.000Z"));
        check("2024-03-12T10:00Z", Some("2024-03-12T10:00:00.000Z"));
        check("2024-03-12 10:00+09:00", Some("2024-03-12T01:00:00.000Z"));
        check("2024-03-12 10:00:30", Some("2024-03-12T10:00:30.000Z"));
        check("2024-03-12T10:00:30.250Z", Some("2024-03-12T10:00:30.250Z"));
        check("-24h", Some("2024-03-11T10:00:00.000Z"));
        check("-7d", Some("2024-03-05T10:00:00.000Z"));
        check("-30m", Some("2024-03-12T09:30:00.000Z"));
        for bad in [
            "yesterday",
            "2024-13-01",
            "2024-03-12 25:00",
            "-24x",
            "-h",
            "2024-03-12 10",
            "202é-03-12 10:00",
            "2024-03-12 1é:00",
        ] {
            check(bad, None);
        }
    }
}

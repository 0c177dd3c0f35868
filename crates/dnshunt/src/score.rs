//! `dnshunt score`: every per-name score and match of the single-query detectors, one JSON line
//! per name — for analysts checking a name, and for evaluation runs over large name lists.
//!
//! The detectors are built once from the config (protected domains, thresholds, DoH lists) and
//! asked about each name directly, without events, so the output is exactly what `hunt` would
//! judge for a look-up of that name.

use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use dnshunt_core::DnsName;
use dnshunt_detect::detectors::doh_lookup::{parse_endpoint_list, DohLookup};
use dnshunt_detect::detectors::encoded_name::EncodedName;
use dnshunt_detect::detectors::lookalike::LookalikeIndex;
use dnshunt_detect::detectors::special_name::SpecialName;
use dnshunt_enrich::dga::DgaModel;
use dnshunt_enrich::features::shannon_entropy;
use dnshunt_enrich::label::registrable_label;
use serde::Serialize;

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Names to score; `-` (or none) reads names from stdin, one a line.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,

    /// A TOML config file (protected domains, thresholds; as for `hunt`).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// More DNS-over-HTTPS server host names (as for `hunt`). Repeatable.
    #[arg(long, value_name = "FILE")]
    pub doh_list: Vec<PathBuf>,

    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Rank lists, NRD feeds and GeoIP databases (an address given as NAME gets its geo).
    #[command(flatten, next_help_heading = "Enrichment")]
    pub enrich: crate::enrich::EnrichArgs,
}

/// Everything dnshunt knows about one name, as one JSON line.
#[derive(Debug, Serialize)]
struct NameScore<'a> {
    name: &'a str,
    unicode: Option<&'a str>,
    registered_domain: Option<&'a str>,
    public_suffix: Option<&'a str>,
    labels: usize,
    longest_label: usize,
    /// Shannon entropy (bits per character) of the registrable label.
    entropy: f64,
    /// Highest Shannon entropy of any label left of the public suffix.
    max_label_entropy: f64,
    /// Calibrated DGA score of the registrable label in [0, 1] (`null` for IDNs and names
    /// without a registrable label).
    dga: Option<f64>,
    /// The name is a protected name or under one.
    protected: bool,
    lookalike: Option<Lookalike>,
    encoding: Encoding,
    special: Option<Special>,
    doh_endpoint: Option<&'a str>,
    /// Under a CDN, cloud or security-vendor domain.
    infrastructure: bool,
}

#[derive(Debug, Serialize)]
struct Lookalike {
    class: &'static str,
    brand: String,
    protected: String,
    own_domain: bool,
    mixed_script: bool,
}

#[derive(Debug, Serialize)]
struct Encoding {
    signals: Vec<&'static str>,
    points: u32,
    /// The `encoded_name` finding's severity for a look-up of this name, if it makes one.
    severity: Option<dnshunt_core::Severity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct Special {
    kind: &'static str,
    matched: String,
}

struct Scorer {
    lookalike: LookalikeIndex,
    encoded: EncodedName,
    special: SpecialName,
    doh: DohLookup,
    dga: &'static DgaModel,
    enrichment: crate::enrich::Enrichment,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Scorer {
    /// Appends the JSON line of `raw` to `out`.
    fn write(&self, raw: &str, out: &mut Vec<u8>) -> io::Result<()> {
        let name = DnsName::new(raw);
        let a = self.encoded.analyze(&name);
        let ascii = name.as_str();
        let left = match name.public_suffix() {
            Some(s) if ascii.len() > s.len() => &ascii[..ascii.len() - s.len() - 1],
            _ => ascii,
        };
        let reg_label = registrable_label(&name).map(|r| r.label);
        let score = NameScore {
            name: ascii,
            unicode: name.unicode(),
            registered_domain: name.registered_domain(),
            public_suffix: name.public_suffix(),
            labels: if ascii.is_empty() { 0 } else { name.labels().count() },
            longest_label: a.longest_label,
            entropy: round2(reg_label.map_or(0.0, shannon_entropy)),
            max_label_entropy: round2(left.split('.').map(shannon_entropy).fold(0.0, f64::max)),
            dga: self.dga.score_name(&name).map(|s| (s * 10_000.0).round() / 10_000.0),
            protected: self.lookalike.is_protected(&name),
            lookalike: self.lookalike.check(&name).map(|m| Lookalike {
                class: m.class.as_str(),
                brand: m.brand,
                protected: m.protected,
                own_domain: m.own,
                mixed_script: m.mixed_script,
            }),
            encoding: Encoding {
                signals: a.signals.iter().map(|s| s.as_str()).collect(),
                points: a.points,
                severity: self.encoded.severity(&a),
                payload_label: a.payload,
                skipped: a.skipped,
            },
            special: self.special.classify(&name).map(|m| Special {
                kind: m.kind.as_str(),
                matched: m.matched,
            }),
            doh_endpoint: self.doh.endpoint(&name),
            infrastructure: a.infrastructure,
        };
        serde_json::to_writer(&mut *out, &score)?;
        // Rank, age and geo, when the data is given, as more keys of the same object.
        if let Some(facts) = self.enrichment.score_facts(raw).filter(|f| !f.is_empty()) {
            if out.last() == Some(&b'}') {
                out.pop();
                out.push(b',');
                let object = serde_json::to_vec(&facts)?;
                out.extend_from_slice(&object[1..]);
            }
        }
        out.push(b'\n');
        Ok(())
    }
}

pub fn run(args: ScoreArgs) -> Result<ExitCode> {
    let config = crate::config::load(args.config.as_deref())?;
    let mut doh_hosts = Vec::new();
    for path in &args.doh_list {
        let text = std::fs::read(path).with_context(|| format!("reading DoH list {}", path.display()))?;
        doh_hosts.extend(parse_endpoint_list(&String::from_utf8_lossy(&text)));
    }
    let d = &config.detectors;
    let scorer = Scorer {
        lookalike: LookalikeIndex::new(&d.lookalike),
        encoded: EncodedName::new(d.encoded_name.clone()),
        special: SpecialName::new(d.special_name.clone()),
        doh: DohLookup::new(d.doh_lookup.clone(), doh_hosts),
        dga: DgaModel::builtin(),
        enrichment: crate::enrich::Enrichment::load(&args.enrich, &config.enrich, None, true)?,
    };
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(BufWriter::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)),
        None => Box::new(BufWriter::with_capacity(1 << 16, io::stdout().lock())),
    };
    // Lines are built in one buffer and written in large pieces: many small writes through
    // the writer cost more than scoring.
    let mut buf = Vec::with_capacity(1 << 17);
    let from_stdin = args.names.is_empty() || args.names.iter().any(|n| n == "-");
    for name in args.names.iter().filter(|n| *n != "-") {
        scorer.write(name, &mut buf).context("writing scores")?;
    }
    if from_stdin {
        use std::io::IsTerminal;
        // Waiting silently on a terminal looks like a hang: say what is expected.
        if io::stdin().is_terminal() {
            eprintln!("dnshunt score: reading names from the terminal, one a line; end with Ctrl-D (or give names as arguments)");
        }
        let mut input = BufReader::with_capacity(1 << 16, io::stdin().lock());
        let mut line = Vec::new();
        loop {
            line.clear();
            if input.read_until(b'\n', &mut line).context("reading names from stdin")? == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&line);
            let name = text.trim();
            if !name.is_empty() {
                scorer.write(name, &mut buf).context("writing scores")?;
            }
            if buf.len() >= 1 << 16 {
                out.write_all(&buf).context("writing scores")?;
                buf.clear();
            }
        }
    }
    out.write_all(&buf).context("writing scores")?;
    out.flush().context("writing scores")?;
    Ok(ExitCode::SUCCESS)
}

//! `dnshunt sysmon-config`: turns what the logs show into a Sysmon `<DnsQuery onmatch="exclude">`
//! rule group for high-volume benign registrable domains, and prints how much EID 22 volume it
//! would remove (per domain and in total).
//!
//! A domain is proposed only when it is at least `--min-share` of all DNS query events, and it
//! is never proposed when
//! - any detector (and any `--sigma` rule) reported a finding on it, at any severity;
//! - it is rare: resolved by fewer than `--min-hosts` hosts or fewer than `--min-queries` times;
//! - it is only resolved by unusual programs (LOLBins, images in user-writable folders): at
//!   least one ordinary program must resolve it;
//! - it has no registrable domain (single-label names, bare suffixes).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use dnshunt_core::{image_file_name, DnsName, Event, Finding, Severity};
use dnshunt_detect::registry::{self, DetectorInputs};
use dnshunt_detect::stats::counted;
use dnshunt_detect::{Engine, EngineConfig};
use dnshunt_sink::sysmon_config::{self, Exclusion};

use crate::cli::InputArgs;

#[derive(Debug, Args)]
pub struct SysmonConfigArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Merge the exclusions into this existing Sysmon config (everything else is kept as it is).
    #[arg(long, value_name = "FILE")]
    pub merge: Option<PathBuf>,

    /// Smallest share of all DNS query events a domain must have to be excluded (`0.5%` or
    /// `0.005`).
    #[arg(long, value_parser = parse_share, default_value = "0.5%")]
    pub min_share: f64,

    /// A domain resolved by fewer hosts is rare and kept.
    #[arg(long, default_value_t = 3)]
    pub min_hosts: usize,

    /// A domain resolved fewer times is rare and kept.
    #[arg(long, default_value_t = 50)]
    pub min_queries: u64,

    /// A TOML config file (detector settings, as for `hunt`).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Sigma rules whose matches also veto a domain (as `hunt --sigma`). Repeatable.
    #[arg(long, value_name = "PATH")]
    pub sigma: Vec<PathBuf>,

    /// Write the config to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

fn parse_share(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let value = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|e| format!("{text:?}: {e}"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{text:?}: a share is between 0 and 100%"))
    }
}

/// Programs attackers run that also resolve names: their look-ups alone never justify hiding a
/// domain.
const UNUSUAL_IMAGES: &[&str] = &[
    "powershell.exe",
    "pwsh.exe",
    "powershell_ise.exe",
    "cmd.exe",
    "rundll32.exe",
    "regsvr32.exe",
    "mshta.exe",
    "wscript.exe",
    "cscript.exe",
    "certutil.exe",
    "bitsadmin.exe",
    "msiexec.exe",
    "installutil.exe",
    "regasm.exe",
    "regsvcs.exe",
    "msbuild.exe",
    "wmic.exe",
    "hh.exe",
    "curl.exe",
    "finger.exe",
    "msdt.exe",
    "cmstp.exe",
    "odbcconf.exe",
    "forfiles.exe",
];

/// Folders any user can write to (lower case, as path fragments).
const USER_WRITABLE: &[&str] = &[
    "\\appdata\\local\\temp\\",
    "\\windows\\temp\\",
    "\\users\\public\\",
    "\\downloads\\",
    "\\desktop\\",
    "\\$recycle.bin\\",
    "\\perflogs\\",
];

/// True for a LOLBin or an image in a user-writable folder.
pub fn unusual_image(image: &str) -> bool {
    let lower = image.to_lowercase();
    UNUSUAL_IMAGES.contains(&image_file_name(image).as_str()) || USER_WRITABLE.iter().any(|p| lower.contains(p))
}

#[derive(Debug, Default)]
struct DomainTally {
    queries: u64,
    hosts: BTreeSet<String>,
    ordinary_queries: u64,
    /// A few of the unusual programs, for the report.
    unusual_images: BTreeSet<String>,
}

/// DNS query counts per registrable domain. Memory: distinct domains and domain/host pairs.
#[derive(Debug, Default)]
pub struct Collector {
    domains: HashMap<String, DomainTally>,
    total: u64,
    without_domain: u64,
}

impl Collector {
    pub fn observe(&mut self, event: &Event) {
        let Some(q) = event.dns() else { return };
        self.total += 1;
        let Some(domain) = q.query.domain_key() else {
            self.without_domain += 1;
            return;
        };
        let tally = match self.domains.get_mut(domain) {
            Some(t) => t,
            None => self.domains.entry(domain.to_owned()).or_default(),
        };
        tally.queries += 1;
        let host = dnshunt_core::host_key(event.host.as_deref().unwrap_or(""));
        if !tally.hosts.contains(&host) {
            tally.hosts.insert(host);
        }
        match q.process.image.as_deref() {
            Some(image) if unusual_image(image) => {
                if tally.unusual_images.len() < 3 {
                    tally.unusual_images.insert(image_file_name(image));
                }
            }
            // A look-up without a known image is judged ordinary: Sysmon always logs the image,
            // and only lossy shippers drop it.
            _ => tally.ordinary_queries += 1,
        }
    }
}

/// The registrable domains findings are about, with the detectors that found them.
pub fn vetoes(findings: &[Finding]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in findings {
        let name = f.query_name.as_deref().map(DnsName::new);
        let domains = f
            .registered_domain
            .as_deref()
            .into_iter()
            .chain(name.as_ref().and_then(DnsName::domain_key))
            .chain(f.evidence.iter().filter_map(|e| e.dns()?.query.domain_key()));
        for d in domains {
            out.entry(d.to_owned()).or_default().insert(f.detector.clone());
        }
    }
    out
}

/// The thresholds of a run.
#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    pub min_share: f64,
    pub min_hosts: usize,
    pub min_queries: u64,
}

/// What was decided for one high-volume domain.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub domain: String,
    pub queries: u64,
    pub hosts: usize,
    pub share: f64,
    /// `None`: excluded; otherwise why it is kept.
    pub kept_because: Option<String>,
}

/// Decides for every domain with at least `min_share` of the DNS events, most voluminous first.
pub fn decide(collector: &Collector, vetoes: &BTreeMap<String, BTreeSet<String>>, t: Thresholds) -> Vec<Decision> {
    let total = collector.total.max(1) as f64;
    let mut out: Vec<Decision> = collector
        .domains
        .iter()
        .filter_map(|(domain, tally)| {
            let share = tally.queries as f64 / total;
            if share < t.min_share {
                return None;
            }
            let kept_because = if let Some(detectors) = vetoes.get(domain) {
                Some(format!("findings ({})", detectors.iter().cloned().collect::<Vec<_>>().join(", ")))
            } else if tally.hosts.len() < t.min_hosts {
                Some(format!("rare: {} (< {})", counted(tally.hosts.len() as u64, "host", "hosts"), t.min_hosts))
            } else if tally.queries < t.min_queries {
                Some(format!("rare: {} queries (< {})", tally.queries, t.min_queries))
            } else if tally.ordinary_queries == 0 {
                Some(format!(
                    "only unusual programs resolve it ({})",
                    tally.unusual_images.iter().cloned().collect::<Vec<_>>().join(", ")
                ))
            } else {
                None
            };
            Some(Decision {
                domain: domain.clone(),
                queries: tally.queries,
                hosts: tally.hosts.len(),
                share,
                kept_because,
            })
        })
        .collect();
    out.sort_by(|a, b| b.queries.cmp(&a.queries).then_with(|| a.domain.cmp(&b.domain)));
    out
}

/// The domains decided for exclusion.
pub fn exclusions(decisions: &[Decision]) -> Vec<Exclusion> {
    decisions
        .iter()
        .filter(|d| d.kept_because.is_none())
        .map(|d| Exclusion {
            domain: d.domain.clone(),
            queries: d.queries,
            hosts: d.hosts,
            share: d.share,
        })
        .collect()
}

pub fn run(args: SysmonConfigArgs) -> Result<ExitCode> {
    let mut config = crate::config::load(args.config.as_deref())?;
    // The detectors run as in `hunt`, within `[memory] budget_mb`.
    config.fit_memory();
    let mut detectors = registry::build(&config.detectors, DetectorInputs::default());
    if !args.sigma.is_empty() {
        let (rules, _) = crate::sigma_cmd::load_rules(&args.sigma, args.input.quiet);
        detectors.push(Box::new(dnshunt_sigma::SigmaDetector::new(rules)));
    }
    let mut engine = Engine::new(
        EngineConfig {
            max_evidence: 1,
            min_severity: Severity::Info,
            aggregate: config.aggregate.clone(),
            max_processes: config.memory.max_processes,
            max_findings: config.memory.max_findings,
            attribution: config.attribution.clone(),
            ..Default::default()
        },
        detectors,
    )
    .with_allowlist(dnshunt_detect::allowlist::Allowlist::new(&config.allowlist));
    let mut collector = Collector::default();
    let (report, elapsed, span) = crate::run::read_all(&args.input, None, |event| {
        engine.observe(event);
        collector.observe(event);
        Ok(())
    })?;
    let (findings, _) = engine.finish();
    let vetoes = vetoes(&findings);
    let thresholds = Thresholds {
        min_share: args.min_share,
        min_hosts: args.min_hosts,
        min_queries: args.min_queries,
    };
    let decisions = decide(&collector, &vetoes, thresholds);
    let excluded = exclusions(&decisions);
    let xml = match &args.merge {
        Some(path) => {
            let existing = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            sysmon_config::merge(&existing, &excluded).with_context(|| format!("merging into {}", path.display()))?
        }
        None => sysmon_config::config(&excluded),
    };
    let mut out = crate::run::open_output(args.output.as_deref())?;
    out.write_all(xml.as_bytes()).context("writing the config")?;
    out.flush().context("writing the config")?;
    if !args.input.quiet {
        let total = collector.total;
        let removed: u64 = excluded.iter().map(|e| e.queries).sum();
        eprintln!(
            "dnshunt: sysmon-config: {} DNS query events, {} domains ({} lookups of single-label names or addresses) in {:.2} s; {} findings",
            total,
            collector.domains.len(),
            collector.without_domain,
            elapsed.as_secs_f64(),
            findings.len()
        );
        eprintln!("dnshunt: domains with at least {:.2}% of the DNS events:", args.min_share * 100.0);
        for d in &decisions {
            match &d.kept_because {
                None => eprintln!(
                    "  exclude {:<40} {:>10} queries {:>6.2}%  {}",
                    d.domain,
                    d.queries,
                    d.share * 100.0,
                    counted(d.hosts as u64, "host", "hosts")
                ),
                Some(why) => eprintln!(
                    "  keep    {:<40} {:>10} queries {:>6.2}%  {}: {why}",
                    d.domain,
                    d.queries,
                    d.share * 100.0,
                    counted(d.hosts as u64, "host", "hosts")
                ),
            }
        }
        eprintln!(
            "dnshunt: expected reduction of EID 22 volume: {} of {} events ({:.1}%), {} domains excluded",
            removed,
            total,
            if total > 0 { removed as f64 * 100.0 / total as f64 } else { 0.0 },
            excluded.len()
        );
        if report.has_problems() {
            crate::summary::print(&report, elapsed, span, None);
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, host: &str, image: &str) -> Event {
        crate::stack::tests::query(name, host, image, 0, 0)
    }

    const EDGE: &str = "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe";

    /// A fleet: a busy benign domain, a busy domain with a finding, one only PowerShell
    /// resolves, one busy on one host only, and a look-alike of the benign one.
    fn fleet() -> Vec<Event> {
        let mut events = Vec::new();
        for i in 0..100 {
            let host = format!("h{}", i % 5);
            events.push(query(&format!("n{}.windowsupdate.com", i % 7), &host, EDGE));
            events.push(query("telemetry.bad-cdn.net", &host, EDGE));
            events.push(query("api.scripted.org", &host, "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"));
            events.push(query("office.com", "h0", EDGE));
        }
        events.push(query("badwindowsupdate.com", "h1", EDGE));
        events.push(query("x.rare.example", "h1", EDGE));
        events
    }

    fn plan(events: &[Event]) -> Vec<Decision> {
        let mut c = Collector::default();
        for e in events {
            c.observe(e);
        }
        let bad = events.iter().find(|e| e.dns().is_some_and(|q| q.query.as_str() == "telemetry.bad-cdn.net")).unwrap();
        let finding = Finding::from_event("beacon", Severity::Medium, 50, bad, &["x"], "periodic".to_owned());
        let thresholds = Thresholds {
            min_share: 0.005,
            min_hosts: 3,
            min_queries: 50,
        };
        decide(&c, &vetoes(&[finding]), thresholds)
    }

    #[test]
    fn vetoes_keep_domains_with_findings_rare_ones_and_unusual_only() {
        let decisions = plan(&fleet());
        let verdict = |d: &str| decisions.iter().find(|x| x.domain == d).map(|x| x.kept_because.clone());
        assert_eq!(verdict("windowsupdate.com"), Some(None));
        assert!(verdict("bad-cdn.net").unwrap().unwrap().starts_with("findings (beacon)"));
        assert!(verdict("scripted.org").unwrap().unwrap().starts_with("only unusual programs"));
        assert!(verdict("office.com").unwrap().unwrap().starts_with("rare: 1 host "));
        // Below the share threshold: not even considered.
        assert_eq!(verdict("rare.example"), None);
        assert!(unusual_image("C:\\Users\\bob\\Downloads\\setup.exe"));
        assert!(!unusual_image(EDGE));
    }

    #[test]
    fn reading_the_logs_through_the_config_drops_exactly_the_excluded_names() {
        let events = fleet();
        let decisions = plan(&events);
        let excluded = exclusions(&decisions);
        let xml = sysmon_config::config(&excluded);
        check_structure(&xml);
        let conditions = sysmon_config::dns_exclusions(&xml).unwrap();
        let excluded_domains: BTreeSet<&str> = excluded.iter().map(|e| e.domain.as_str()).collect();
        let mut dropped = 0;
        for e in &events {
            let q = e.dns().unwrap();
            let by_config = conditions.iter().any(|c| c.matches(q.query.as_str()));
            let expected = q.query.registered_domain().is_some_and(|d| excluded_domains.contains(d));
            assert_eq!(by_config, expected, "{}", q.query);
            dropped += u64::from(by_config);
        }
        assert_eq!(dropped, excluded.iter().map(|e| e.queries).sum::<u64>());
        assert!(dropped >= 100);
    }

    /// The shipped example through the real detectors: names with findings stay, and the
    /// config drops exactly the names under the excluded domains.
    #[test]
    fn example_incident_through_the_detectors() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/incident/workstation.ndjson");
        let (rx, handle) = dnshunt_source::spawn(vec![dnshunt_source::Input::from_arg(path)], dnshunt_source::ReadOptions::default());
        let mut events = Vec::new();
        for msg in rx {
            if let dnshunt_source::Message::Batch { events: batch, .. } = msg {
                events.extend(batch);
            }
        }
        handle.join().unwrap();
        let mut engine = Engine::new(EngineConfig::default(), registry::build(&Default::default(), DetectorInputs::default()));
        let mut collector = Collector::default();
        for e in &events {
            engine.observe(e);
            collector.observe(e);
        }
        let (findings, _) = engine.finish();
        let vetoes = vetoes(&findings);
        assert!(vetoes.contains_key("update-cdn-sync.com"), "{vetoes:?}");
        let t = Thresholds {
            min_share: 0.01,
            min_hosts: 1,
            min_queries: 3,
        };
        let decisions = decide(&collector, &vetoes, t);
        let excluded = exclusions(&decisions);
        assert!(!excluded.is_empty());
        assert!(excluded.iter().all(|e| !vetoes.contains_key(&e.domain)));
        let xml = sysmon_config::config(&excluded);
        check_structure(&xml);
        let conditions = sysmon_config::dns_exclusions(&xml).unwrap();
        let names: BTreeSet<&str> = excluded.iter().map(|e| e.domain.as_str()).collect();
        for e in events.iter().filter_map(Event::dns) {
            let by_config = conditions.iter().any(|c| c.matches(e.query.as_str()));
            assert_eq!(by_config, e.query.registered_domain().is_some_and(|d| names.contains(d)), "{}", e.query);
        }
    }

    /// The output is well-formed XML with the Sysmon schema's elements where they belong.
    fn check_structure(xml: &str) {
        use quick_xml::events::Event as X;
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut path: Vec<String> = Vec::new();
        let mut seen = BTreeSet::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                X::Start(e) => {
                    let name = e.local_name().as_ref().to_owned();
                    path.push(name);
                    seen.insert(path.join("/"));
                    let attrs: Vec<String> = e.attributes().map(|a| a.unwrap().key.as_ref().to_owned()).collect();
                    match path.last().unwrap().as_str() {
                        "Sysmon" => assert_eq!(attrs, ["schemaversion"]),
                        "RuleGroup" => assert_eq!(attrs, ["name", "groupRelation"]),
                        "DnsQuery" => assert_eq!(attrs, ["onmatch"]),
                        "QueryName" => assert_eq!(attrs, ["condition"]),
                        "EventFiltering" => assert!(attrs.is_empty()),
                        other => panic!("unexpected element {other}"),
                    }
                }
                X::End(_) => {
                    path.pop();
                }
                X::Eof => break,
                _ => {}
            }
        }
        assert!(seen.contains("Sysmon/EventFiltering/RuleGroup/DnsQuery/QueryName"), "{seen:?}");
    }

    #[test]
    fn shares_parse_as_percent_or_fraction() {
        assert_eq!(parse_share("0.5%").unwrap(), 0.005);
        assert_eq!(parse_share("0.02").unwrap(), 0.02);
        assert!(parse_share("150%").is_err());
    }
}

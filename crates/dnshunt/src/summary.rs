//! The run summary on stderr: what was read, what was skipped and why, what was found.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use std::time::Duration;

use dnshunt_core::Finding;
use dnshunt_detect::EngineReport;
use dnshunt_source::{ProblemKind, ReadReport};

/// At most this many files are listed one by one.
const MAX_FILES_LISTED: usize = 25;

pub fn print(report: &ReadReport, elapsed: Duration, hunt: Option<(&[&str], &[Finding], &EngineReport)>) {
    eprint!("{}", render(report, elapsed, hunt));
}

/// The summary as JSON: `{"read": ReadReport, "elapsed_seconds": f64, "findings_per_detector": {name: {"findings": n, "events": n}}, ...}`,
/// plus `sections` (`sigma`, `cluster`) when the run has them.
pub fn write_json(path: &Path, report: &ReadReport, elapsed: Duration, engine: Option<&EngineReport>, sections: Vec<(&str, serde_json::Value)>) -> Result<()> {
    let per_detector = |counts: &BTreeMap<String, (u64, u64)>| -> serde_json::Map<String, serde_json::Value> {
        counts
            .iter()
            .map(|(d, (n, events))| (d.clone(), serde_json::json!({"findings": n, "events": events})))
            .collect()
    };
    let mut doc = serde_json::json!({
        "read": report,
        "elapsed_seconds": elapsed.as_secs_f64(),
        "findings_per_detector": engine.map(|e| per_detector(&e.findings_per_detector)).unwrap_or_default(),
        "findings_below_min_severity": engine.map_or(0, |e| e.below_min_severity),
        "findings_suppressed_by_allowlist": engine.map(|e| per_detector(&e.suppressed_per_detector)).unwrap_or_default(),
    });
    if let Some(map) = doc.as_object_mut() {
        for (key, value) in sections {
            map.insert(key.to_owned(), value);
        }
    }
    let text = serde_json::to_string_pretty(&doc)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

pub fn render(report: &ReadReport, elapsed: Duration, hunt: Option<(&[&str], &[Finding], &EngineReport)>) -> String {
    let t = &report.totals;
    let secs = elapsed.as_secs_f64().max(1e-6);
    let bytes: u64 = report.files.iter().map(|f| f.bytes).sum();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "dnshunt: read {}, {:.1} MB, in {:.2} s: {} events (DnsQuery {} · ProcessCreate {} · NetworkConnect {} · ProcessTerminate {}), {} records/s",
        dnshunt_detect::stats::counted(report.files.len() as u64, "file", "files"),
        bytes as f64 / 1e6,
        secs,
        dnshunt_report::group(t.events()),
        dnshunt_report::group(t.dns_query),
        dnshunt_report::group(t.process_create),
        dnshunt_report::group(t.network_connect),
        dnshunt_report::group(t.process_terminate),
        dnshunt_report::group((t.records() as f64 / secs) as u64),
    );
    if !report.ignored_files.is_empty() {
        let shown = report.ignored_files.iter().take(3).map(String::as_str).collect::<Vec<_>>().join(", ");
        let more = report.ignored_files.len().saturating_sub(3);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        let _ = writeln!(
            s,
            "  ignored {} in directories that are not event data: {shown}{more}",
            dnshunt_detect::stats::counted(report.ignored_files.len() as u64, "file", "files")
        );
    }
    let other: u64 = t.other_sysmon.values().sum();
    if other + t.not_sysmon + t.filtered_out > 0 {
        let ids = t
            .other_sysmon
            .iter()
            .map(|(id, n)| format!("EID {id}: {}", dnshunt_report::group(*n)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            s,
            "  skipped: {} other Sysmon events{}, {} events of other channels, {} outside --since/--until",
            dnshunt_report::group(other),
            if ids.is_empty() { String::new() } else { format!(" ({ids})") },
            dnshunt_report::group(t.not_sysmon),
            dnshunt_report::group(t.filtered_out)
        );
    }
    if t.bad_records + t.warnings + report.file_errors > 0 {
        let _ = writeln!(
            s,
            "  problems: {} bad records (skipped), {} field warnings (event kept), {} unreadable files",
            dnshunt_report::group(t.bad_records),
            dnshunt_report::group(t.warnings),
            report.file_errors
        );
        for kind in [ProblemKind::File, ProblemKind::BadRecord, ProblemKind::Warning] {
            for p in report.examples.iter().filter(|p| p.kind == kind) {
                let label = match kind {
                    ProblemKind::File => "unreadable",
                    ProblemKind::BadRecord => "bad record",
                    ProblemKind::Warning => "warning",
                };
                let _ = writeln!(s, "    {label}: {}: {}", p.origin, p.message);
            }
        }
    }
    if report.files.len() > 1 {
        let _ = writeln!(s, "  per file: events (dns/process/network/terminate) · other · bad");
        for f in report.files.iter().take(MAX_FILES_LISTED) {
            let c = &f.counts;
            let other: u64 = c.other_sysmon.values().sum::<u64>() + c.not_sysmon;
            match &f.error {
                Some(e) => {
                    let _ = writeln!(s, "    {} [{}]: unreadable: {e}", f.name, f.format);
                }
                None => {
                    let _ = writeln!(
                        s,
                        "    {} [{}]: {} ({}/{}/{}/{}) · {} · {}",
                        f.name,
                        f.format,
                        dnshunt_report::group(c.events()),
                        c.dns_query,
                        c.process_create,
                        c.network_connect,
                        c.process_terminate,
                        dnshunt_report::group(other),
                        c.bad_records
                    );
                }
            }
        }
        if report.files.len() > MAX_FILES_LISTED {
            let _ = writeln!(s, "    … and {} more files", report.files.len() - MAX_FILES_LISTED);
        }
    }
    if let Some((detectors, findings, engine)) = hunt {
        // Per severity, then the detectors that found something (the others are counted).
        let per_severity: Vec<String> = dnshunt_core::Severity::ALL
            .iter()
            .rev()
            .filter_map(|sev| {
                let n = findings.iter().filter(|f| f.severity == *sev).count();
                (n > 0).then(|| format!("{n} {sev}"))
            })
            .collect();
        let mut quiet = 0;
        let per: Vec<String> = detectors
            .iter()
            .filter_map(|d| {
                let (n, events) = engine.findings_per_detector.get(*d).copied().unwrap_or((0, 0));
                if n == 0 {
                    quiet += 1;
                    return None;
                }
                Some(format!("{d} {n} ({})", dnshunt_detect::stats::counted(events, "event", "events")))
            })
            .collect();
        let severities = if per_severity.is_empty() {
            String::new()
        } else {
            format!(": {}", per_severity.join(" · "))
        };
        let _ = writeln!(s, "  findings: {}{severities}", findings.len());
        if !per.is_empty() {
            let _ = writeln!(s, "    by detector: {}; {quiet} other detectors found nothing", per.join(" · "));
        }
        if engine.below_min_severity > 0 {
            let _ = writeln!(s, "  {} findings below --min-severity not shown", engine.below_min_severity);
        }
        let suppressed: u64 = engine.suppressed_per_detector.values().map(|(n, _)| n).sum();
        if suppressed > 0 {
            let per = engine.suppressed_per_detector.iter().map(|(d, (n, _))| format!("{d} {n}")).collect::<Vec<_>>().join(" · ");
            let _ = writeln!(s, "  {suppressed} findings suppressed by the allowlist ({per})");
        }
    }
    s
}

/// One line: incidents by severity, and how many were below `--min-severity`.
pub fn print_incidents(incidents: &[dnshunt_core::Incident], hidden: usize, min: dnshunt_core::Severity) {
    let mut per = [0usize; 5];
    for i in incidents {
        per[i.severity as usize] += 1;
    }
    let parts: Vec<String> = dnshunt_core::Severity::ALL
        .iter()
        .rev()
        .filter(|s| per[**s as usize] > 0)
        .map(|s| format!("{} {s}", per[*s as usize]))
        .collect();
    let noun = if incidents.len() == 1 { "incident" } else { "incidents" };
    let hidden = if hidden > 0 {
        format!(" ({hidden} below {min} not shown; --min-severity info shows them)")
    } else {
        String::new()
    };
    if parts.is_empty() {
        eprintln!("  {} {noun}{hidden}", incidents.len());
    } else {
        eprintln!("  {} {noun}: {}{hidden}", incidents.len(), parts.join(" · "));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_separators() {
        assert_eq!(dnshunt_report::group(0), "0");
        assert_eq!(dnshunt_report::group(999), "999");
        assert_eq!(dnshunt_report::group(1000), "1,000");
        assert_eq!(dnshunt_report::group(1234567), "1,234,567");
    }
}

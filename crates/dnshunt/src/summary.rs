//! The run summary on stderr: what was read, what was skipped and why, what was found.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use std::time::Duration;

use dnshunt_core::{Finding, Incident, Severity, Timestamp};
use dnshunt_detect::stats::counted;
use dnshunt_detect::EngineReport;
use dnshunt_report::group;
use dnshunt_sink::Paint;
use dnshunt_source::{ProblemKind, ReadReport};

/// At most this many files are listed one by one.
const MAX_FILES_LISTED: usize = 25;

pub fn print(report: &ReadReport, elapsed: Duration, span: Span, hunt: Option<&HuntSummary>) {
    let look = Look {
        paint: crate::ui::paint_stderr(),
        width: crate::ui::stderr_width(),
    };
    eprint!("{}", render(report, elapsed, span, hunt, look));
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

/// What a `hunt` adds to the summary.
pub struct HuntSummary<'a> {
    pub detectors: &'a [&'a str],
    pub findings: &'a [Finding],
    pub engine: &'a EngineReport,
    pub incidents: &'a [Incident],
    /// Incidents below `table_min` that the table left out.
    pub incidents_hidden: usize,
    pub table_min: Severity,
    pub prevalence: Option<crate::run::PrevalenceSummary>,
    /// `[memory] budget_mb`, and the bounds it lowered.
    pub budget_mb: u64,
    pub fitted: &'a [crate::config::Fitted],
}

/// The first and last event time of a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Span {
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
}

impl Span {
    pub fn observe(&mut self, t: Timestamp) {
        self.first = Some(self.first.map_or(t, |f| f.min(t)));
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
    }
}

/// Rows of a top list shown in the summary.
const TOP: usize = 5;
/// The width of the summary's labels.
const LABEL: usize = 11;

/// How the summary is laid out: colours, and the width to wrap at (a terminal's).
#[derive(Clone, Copy, Debug)]
pub struct Look {
    pub paint: Paint,
    pub width: Option<usize>,
}

/// One labelled line: the label in bold, padded so every value starts in the same column; a
/// value wider than the terminal wraps at spaces onto lines indented to that column.
fn line(s: &mut String, look: Look, label: &str, value: &str) {
    let _ = write!(s, "  {}{} ", look.paint.bold(label), " ".repeat(LABEL.saturating_sub(label.chars().count())));
    let indent = LABEL + 3;
    let Some(width) = look.width.filter(|w| *w > indent + 20) else {
        let _ = writeln!(s, "{value}");
        return;
    };
    // Lists (`a 5 · b 3`) break between items, other text between words.
    let sep = if value.contains(" · ") { " · " } else { " " };
    let mut column = indent;
    for (i, word) in value.split(sep).enumerate() {
        let n = dnshunt_sink::term::visible_width(word);
        let sep_n = sep.chars().count();
        if i > 0 && column + sep_n + n > width {
            let _ = write!(s, "{}\n{:indent$}", sep.trim_end(), "");
            column = indent;
        } else if i > 0 {
            s.push_str(sep);
            column += sep_n;
        }
        s.push_str(word);
        column += n;
    }
    s.push('\n');
}

/// `2024-03-12 08:51:20 – 10:39:36 UTC (1 h 48 min)`; the second date is left out when it is
/// the first's.
pub fn span_text(first: Timestamp, last: Timestamp) -> String {
    let (a, b) = (first.to_string(), last.to_string());
    let a = a.get(..19).unwrap_or(&a).replace('T', " ");
    let b = b.get(..19).unwrap_or(&b).replace('T', " ");
    let end = if a.get(..10) == b.get(..10) { b.get(11..).unwrap_or(&b) } else { &b };
    format!("{a} – {end} UTC ({})", duration_text((last.0 - first.0).max(0) as u64 / 1000))
}

/// A duration as people say it: `42 s`, `1 h 48 min`, `3 d 4 h`, `2 y 17 d`.
pub fn duration_text(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match secs {
        0..60 => format!("{secs} s"),
        60..3_600 => format!("{m} min"),
        3_600..86_400 => format!("{} h {m} min", secs / 3_600),
        _ if d < 365 => format!("{d} d {h} h"),
        _ => format!("{} y {} d", d / 365, d % 365),
    }
}

/// `a 5 · b 3 · c 1`: the most frequent first (ties by name), at most `TOP`, then `+N more`.
fn top(counts: BTreeMap<String, usize>) -> String {
    let total = counts.len();
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut text = v.iter().take(TOP).map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(" · ");
    if total > TOP {
        let _ = write!(text, " · +{} more", total - TOP);
    }
    text
}

/// `3: 1 critical · 2 high`, coloured per severity.
fn per_severity(paint: Paint, severities: impl Iterator<Item = Severity>) -> String {
    let mut per = [0usize; 5];
    let mut total = 0;
    for s in severities {
        per[s as usize] += 1;
        total += 1;
    }
    let parts: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .filter(|s| per[**s as usize] > 0)
        .map(|s| paint.severity(*s, &format!("{} {s}", per[*s as usize])))
        .collect();
    if parts.is_empty() {
        total.to_string()
    } else {
        format!("{total}: {}", parts.join(" · "))
    }
}

pub fn render(report: &ReadReport, elapsed: Duration, span: Span, hunt: Option<&HuntSummary>, look: Look) -> String {
    let paint = look.paint;
    let t = &report.totals;
    let secs = elapsed.as_secs_f64().max(1e-6);
    let bytes: u64 = report.files.iter().map(|f| f.bytes).sum();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} read {}, {:.1} MB, in {:.2} s: {} events, {} records/s",
        paint.bold("dnshunt:"),
        counted(report.files.len() as u64, "file", "files"),
        bytes as f64 / 1e6,
        secs,
        group(t.events()),
        group((t.records() as f64 / secs) as u64),
    );
    line(
        &mut s,
        look,
        "events",
        &format!(
            "DnsQuery {} · ProcessCreate {} · NetworkConnect {} · ProcessTerminate {}",
            group(t.dns_query),
            group(t.process_create),
            group(t.network_connect),
            group(t.process_terminate)
        ),
    );
    if t.wire_records > 0 {
        line(
            &mut s,
            look,
            "wire",
            &format!(
                "{} packets and log records · DNS exchanges {} (questions {}, responses {}) · connections {} · other {}",
                group(t.wire_records),
                group(t.wire_dns),
                group(t.wire_queries),
                group(t.wire_responses),
                group(t.wire_flow),
                group(t.wire_other)
            ),
        );
    }
    if let (Some(first), Some(last)) = (span.first, span.last) {
        line(&mut s, look, "time span", &span_text(first, last));
    }
    if !report.ignored_files.is_empty() {
        let shown = report.ignored_files.iter().take(3).map(String::as_str).collect::<Vec<_>>().join(", ");
        let more = report.ignored_files.len().saturating_sub(3);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        line(
            &mut s,
            look,
            "ignored",
            &format!("{} that are not event data: {shown}{more}", counted(report.ignored_files.len() as u64, "file", "files")),
        );
    }
    let other: u64 = t.other_sysmon.values().sum();
    if other + t.not_sysmon + t.filtered_out > 0 {
        let ids = t.other_sysmon.iter().map(|(id, n)| format!("EID {id}: {}", group(*n))).collect::<Vec<_>>().join(", ");
        let mut parts = Vec::new();
        if other > 0 {
            parts.push(format!("{} other Sysmon events ({ids})", group(other)));
        }
        if t.not_sysmon > 0 {
            parts.push(format!("{} events of other channels", group(t.not_sysmon)));
        }
        if t.filtered_out > 0 {
            parts.push(format!("{} outside --since/--until", group(t.filtered_out)));
        }
        line(&mut s, look, "skipped", &parts.join(", "));
    }
    if t.bad_records + t.warnings + report.file_errors > 0 {
        let text = format!(
            "{} (skipped), {} (event kept), {}",
            counted(t.bad_records, "bad record", "bad records"),
            counted(t.warnings, "field warning", "field warnings"),
            counted(report.file_errors, "unreadable file", "unreadable files")
        );
        line(&mut s, look, "problems", &paint.severity(Severity::Medium, &text));
        for kind in [ProblemKind::File, ProblemKind::BadRecord, ProblemKind::Warning] {
            for p in report.examples.iter().filter(|p| p.kind == kind) {
                let label = match kind {
                    ProblemKind::File => "unreadable",
                    ProblemKind::BadRecord => "bad record",
                    ProblemKind::Warning => "warning",
                };
                line(&mut s, look, "", &format!("{label}: {}: {}", p.origin, p.message));
            }
        }
    }
    if report.files.len() > 1 {
        line(&mut s, look, "per file", &paint.dim("events (dns/process/network/terminate) · other · bad"));
        for f in report.files.iter().take(MAX_FILES_LISTED) {
            let c = &f.counts;
            let other: u64 = c.other_sysmon.values().sum::<u64>() + c.not_sysmon;
            let text = match &f.error {
                Some(e) => format!("{} [{}]: unreadable: {e}", f.name, f.format),
                None if c.wire_records > 0 => format!(
                    "{} [{}]: {} wire events ({} DNS exchanges, {} connections) of {} records · {} other · {}",
                    f.name,
                    f.format,
                    group(c.events()),
                    group(c.wire_dns),
                    group(c.wire_flow),
                    group(c.wire_records),
                    group(c.wire_other),
                    c.bad_records
                ),
                None => format!(
                    "{} [{}]: {} ({}/{}/{}/{}) · {} · {}",
                    f.name,
                    f.format,
                    group(c.events()),
                    c.dns_query,
                    c.process_create,
                    c.network_connect,
                    c.process_terminate,
                    group(other),
                    c.bad_records
                ),
            };
            line(&mut s, look, "", &text);
        }
        if report.files.len() > MAX_FILES_LISTED {
            line(&mut s, look, "", &format!("… and {} more files", report.files.len() - MAX_FILES_LISTED));
        }
    }
    if let Some(h) = hunt {
        hunt_lines(&mut s, h, look);
        bound_lines(&mut s, h, look);
    }
    s
}

/// What the join of wire events to Sysmon's processes did, and the clock offsets it found.
fn attribution_lines(s: &mut String, a: &dnshunt_attribution::AttributionReport, look: Look) {
    if a.is_empty() {
        return;
    }
    let mut text = format!(
        "wire ↔ Sysmon: {} of {} DNS exchanges and {} of {} connections joined to a process",
        group(a.dns_joined),
        group(a.dns_joined + a.dns_unjoined),
        group(a.flows_joined),
        group(a.flows_joined + a.flows_unjoined)
    );
    if a.outside_tolerance > 0 {
        let _ = write!(text, ", {} matched a 5-tuple too far in time", group(a.outside_tolerance));
    }
    if a.not_held > 0 {
        let _ = write!(text, ", {} not held for the join (past [attribution] max_held)", group(a.not_held));
    }
    line(s, look, "attribution", &text);
    for o in &a.offsets {
        let text = format!(
            "clock offset {}{:.1} s: {} against {} ({} matches)",
            if o.offset_seconds >= 0.0 { "+" } else { "" },
            o.offset_seconds,
            o.sensor,
            o.host,
            o.matches
        );
        line(s, look, "", &text);
    }
}

/// ` (lowered from N by the M MiB memory budget)` when the budget lowered `setting`.
fn lowered(h: &HuntSummary, setting: &str) -> String {
    h.fitted
        .iter()
        .find(|f| f.setting == setting)
        .map(|f| format!(" (lowered from {} by the {} MiB memory budget)", dnshunt_report::group(f.configured as u64), h.budget_mb))
        .unwrap_or_default()
}

/// The bounds on the detectors' state the input reached, and the findings tallied rather than
/// held: where a large input may have hidden something.
fn bound_lines(s: &mut String, h: &HuntSummary, look: Look) {
    for b in &h.engine.bounds_reached {
        let setting = format!("{}.{}", b.detector, b.setting);
        let lowered = lowered(h, &setting);
        line(
            s,
            look,
            "bound",
            &format!(
                "{setting} = {} reached{lowered}: {} events not fully remembered",
                dnshunt_report::group(b.limit),
                dnshunt_report::group(b.events),
            ),
        );
    }
    let not_kept: u64 = h.engine.not_kept_per_detector.values().map(|(n, _)| n).sum();
    if not_kept > 0 {
        let per = h
            .engine
            .not_kept_per_detector
            .iter()
            .map(|(d, (n, _))| format!("{d} {}", dnshunt_report::group(*n)))
            .collect::<Vec<_>>()
            .join(" · ");
        let lowered = lowered(h, "memory.max_findings");
        line(
            s,
            look,
            "bound",
            &format!(
                "memory.max_findings = {} reached{lowered}: {} info and low findings counted, not kept ({per})",
                dnshunt_report::group(h.engine.max_findings as u64),
                dnshunt_report::group(not_kept)
            ),
        );
    }
    if h.engine.tallied_findings > 0 {
        line(
            s,
            look,
            "tallied",
            &format!(
                "{} per-name findings counted in their process's finding but not listed as examples (past [aggregate] max_findings_per_process or max_findings)",
                dnshunt_report::group(h.engine.tallied_findings)
            ),
        );
    }
}

/// Incidents, findings per severity, the detectors that found something, and the hosts,
/// processes and domains most findings are about.
fn hunt_lines(s: &mut String, h: &HuntSummary, look: Look) {
    let paint = look.paint;
    attribution_lines(s, &h.engine.attribution, look);
    let mut incidents = per_severity(paint, h.incidents.iter().map(|i| i.severity));
    if h.incidents_hidden > 0 {
        let _ = write!(incidents, " ({} below {} not shown; --min-severity info shows them)", h.incidents_hidden, h.table_min);
    }
    line(s, look, "incidents", &incidents);
    let mut findings = per_severity(paint, h.findings.iter().map(|f| f.severity));
    if h.engine.below_min_severity > 0 {
        let _ = write!(findings, " ({} below --min-severity not shown)", h.engine.below_min_severity);
    }
    line(s, look, "findings", &findings);
    if h.findings.is_empty() {
        return;
    }
    let found: BTreeMap<String, usize> = h
        .detectors
        .iter()
        .filter_map(|d| {
            let n = h.findings.iter().filter(|f| f.detector == *d).count();
            (n > 0).then(|| ((*d).to_owned(), n))
        })
        .collect();
    let quiet = h.detectors.len() - found.len();
    let mut detectors = top(found);
    if quiet > 0 {
        let _ = write!(detectors, " {}", paint.dim(&format!("({quiet} found nothing)")));
    }
    line(s, look, "detectors", &detectors);
    let mut hosts = BTreeMap::new();
    let mut processes = BTreeMap::new();
    let mut domains = BTreeMap::new();
    for f in h.findings {
        if let Some(host) = &f.host {
            *hosts.entry(host.clone()).or_insert(0) += 1;
        }
        if let Some(image) = &f.process.image {
            *processes.entry(dnshunt_core::image_file_name(image)).or_insert(0) += 1;
        }
        if let Some(domain) = &f.registered_domain {
            *domains.entry(domain.clone()).or_insert(0) += 1;
        }
    }
    for (label, counts) in [("hosts", hosts), ("processes", processes), ("domains", domains)] {
        if !counts.is_empty() {
            line(s, look, label, &top(counts));
        }
    }
    let suppressed: u64 = h.engine.suppressed_per_detector.values().map(|(n, _)| n).sum();
    if suppressed > 0 {
        let per = h
            .engine
            .suppressed_per_detector
            .iter()
            .map(|(d, (n, _))| format!("{d} {n}"))
            .collect::<Vec<_>>()
            .join(" · ");
        line(
            s,
            look,
            "allowlist",
            &format!("{} suppressed by the allowlist ({per})", counted(suppressed, "finding", "findings")),
        );
    }
    if let Some(p) = h.prevalence.filter(|p| p.findings_damped + p.findings_raised > 0) {
        line(
            s,
            look,
            "prevalence",
            &format!(
                "over {}: {} damped as fleet-common, {} raised as rare",
                counted(p.fleet_hosts, "host", "hosts"),
                p.findings_damped,
                p.findings_raised
            ),
        );
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

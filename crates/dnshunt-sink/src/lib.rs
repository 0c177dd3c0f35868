//! dnshunt's sinks. Architecture invariant: only this crate knows output formats.

pub mod elastic;
pub mod sysmon_config;
pub mod term;

use std::io::{self, Write};

use dnshunt_core::{file_name_of, Event, Finding, Incident};

pub use term::{ColorChoice, Paint, TableStyle};

/// How findings are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindingFormat {
    /// A table for people (terminal width aware).
    Table,
    /// One JSON object a line: the finding contract.
    Jsonl,
    /// One JSON array.
    Json,
    /// One row a finding, nested fields flattened.
    Csv,
}

/// Writes findings in the chosen format.
pub fn write_findings<W: Write>(out: &mut W, format: FindingFormat, findings: &[&Finding], style: TableStyle) -> io::Result<()> {
    match format {
        FindingFormat::Jsonl | FindingFormat::Json => write_json(out, format, findings),
        FindingFormat::Csv => write_csv(out, findings),
        FindingFormat::Table => write_table(out, findings, style),
    }
}

/// JSON lines (one object a line) or one pretty-printed array, for findings and incidents alike.
fn write_json<W: Write, T: serde::Serialize>(out: &mut W, format: FindingFormat, items: &[&T]) -> io::Result<()> {
    if format == FindingFormat::Json {
        serde_json::to_writer_pretty(&mut *out, items)?;
        return out.write_all(b"\n");
    }
    for item in items {
        serde_json::to_writer(&mut *out, item)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes incidents in the chosen format: the table has one line per incident (severity, risk,
/// first time, findings, headline), cut to the width with an ellipsis rather than wrapped; the
/// machine formats write the incident contract whole (with its timeline).
pub fn write_incidents<W: Write>(out: &mut W, format: FindingFormat, incidents: &[&Incident], style: TableStyle) -> io::Result<()> {
    match format {
        FindingFormat::Jsonl | FindingFormat::Json => write_json(out, format, incidents),
        FindingFormat::Csv => write_incidents_csv(out, incidents),
        FindingFormat::Table => write_incident_lines(out, incidents, style),
    }
}

/// The detail view of one incident for people (`hunt --explain ID`): what it is, why its risk is
/// what it is, the root process, and every finding of its timeline with its explanation, process
/// tree and the evidence it rests on (file and line or record).
pub fn write_incident_detail<W: Write>(out: &mut W, incident: &Incident, findings: &[Finding]) -> io::Result<()> {
    writeln!(out, "incident {}  {}  risk {}", incident.id, incident.severity, incident.risk)?;
    writeln!(out, "{}", incident.headline)?;
    writeln!(out, "time:        {} → {}", incident.time, incident.time_last)?;
    writeln!(out, "hosts:       {}", incident.hosts.join(", "))?;
    if let Some(image) = &incident.root.image {
        writeln!(out, "root:        {image}")?;
    }
    if let Some(cmd) = &incident.root.command_line {
        writeln!(out, "             {cmd}")?;
    }
    writeln!(out, "why:         {}", incident.risk_reasons.join("; "))?;
    if !incident.attack.is_empty() {
        writeln!(out, "ATT&CK:      {}", incident.attack.join(", "))?;
    }
    if !incident.indicators.is_empty() {
        writeln!(out, "indicators:  {}", incident.indicators.join(", "))?;
    }
    writeln!(out, "timeline ({} findings):", incident.timeline.len())?;
    for entry in &incident.timeline {
        let f = findings.iter().find(|f| f.id == entry.finding_id);
        writeln!(
            out,
            "  {}  {:<8} {:>3}  {:<26} {}",
            entry.time.to_string().replace('T', " ").trim_end_matches('Z'),
            entry.severity.as_str(),
            entry.score,
            entry.detector,
            entry.process.as_deref().unwrap_or("")
        )?;
        writeln!(out, "      {}", entry.explanation)?;
        if let Some(f) = f {
            if let Some(tree) = f.details.get("process_tree").and_then(|v| v.as_str()) {
                writeln!(out, "      process tree: {tree}")?;
            }
            if let Some(cmd) = &f.process.command_line {
                writeln!(out, "      command line: {cmd}")?;
            }
            let origins: Vec<String> = f.evidence.iter().map(|e| e.origin.to_string()).collect();
            if !origins.is_empty() {
                let more = if f.count > f.evidence.len() as u64 {
                    format!(" (first {} of {})", f.evidence.len(), f.count)
                } else {
                    String::new()
                };
                writeln!(out, "      evidence{more}: {}", origins.join(", "))?;
            }
            writeln!(out, "      finding {}", f.id)?;
        }
    }
    Ok(())
}

/// A time as the tables show it: `2024-03-12 09:31` (UTC, to the minute).
fn table_time(t: dnshunt_core::Timestamp) -> String {
    let text = t.to_string();
    text.get(..16).unwrap_or(&text).replace('T', " ")
}

/// A host as the tables show it: the first label of a name (`WS-ACCT-07`), an address whole.
fn short_host(host: &str) -> &str {
    if dnshunt_core::parse_ip(host).is_some() {
        return host;
    }
    host.split('.').next().unwrap_or(host)
}

fn write_incident_lines<W: Write>(out: &mut W, incidents: &[&Incident], style: TableStyle) -> io::Result<()> {
    if incidents.is_empty() {
        return writeln!(out, "No incidents.");
    }
    let paint = Paint::new(style.color);
    // severity(8) risk(4) time(16) findings(8) + gaps.
    let fixed = 8 + 1 + 4 + 2 + 16 + 2 + 8 + 2;
    let headline_width = style.width.map(|w| (w as usize).saturating_sub(fixed).max(20));
    let header = format!("{:<8} {:>4}  {:<16}  {:>8}  incident", "severity", "risk", "first (UTC)", "findings");
    writeln!(out, "{}", paint.bold(&header))?;
    for i in incidents {
        let headline = match headline_width {
            Some(w) => term::cut(&i.headline, w),
            None => i.headline.clone(),
        };
        writeln!(
            out,
            "{} {:>4}  {:<16}  {:>8}  {headline}",
            paint.severity(i.severity, &format!("{:<8}", i.severity.as_str())),
            i.risk,
            table_time(i.time),
            i.timeline.len()
        )?;
    }
    Ok(())
}

/// One line per finding, most severe first (then by score and time), a blank line between
/// severities. Below 120 columns the host and detector columns give way to the explanation.
fn write_table<W: Write>(out: &mut W, findings: &[&Finding], style: TableStyle) -> io::Result<()> {
    if findings.is_empty() {
        return writeln!(out, "No findings.");
    }
    let paint = Paint::new(style.color);
    let wide = style.width.is_none_or(|w| w >= 120);
    let (process_w, host_w, detector_w) = if wide { (20, 15, 18) } else { (14, 0, 0) };
    let mut sorted: Vec<&Finding> = findings.to_vec();
    sorted.sort_by(|a, b| b.severity.cmp(&a.severity).then(b.score.cmp(&a.score)).then(a.time.cmp(&b.time)));
    let mut header = format!("{:<8} {:>5}  {:<16}  ", "severity", "score", "time (UTC)");
    if wide {
        header.push_str(&format!("{:<host_w$}  ", "host"));
    }
    header.push_str(&format!("{:<process_w$}  ", "process"));
    if wide {
        header.push_str(&format!("{:<detector_w$}  ", "detector"));
    }
    let fixed = header.chars().count();
    header.push_str("what");
    writeln!(out, "{}", paint.bold(&header))?;
    let what_w = style.width.map(|w| (w as usize).saturating_sub(fixed).max(20));
    let mut previous = None;
    for f in sorted {
        if previous.is_some_and(|p| p != f.severity) {
            writeln!(out)?;
        }
        previous = Some(f.severity);
        let mut line = format!(
            "{} {:>5}  {:<16}  ",
            paint.severity(f.severity, &format!("{:<8}", f.severity.as_str())),
            f.score,
            table_time(f.time)
        );
        if wide {
            line.push_str(&term::fit(f.host.as_deref().map(short_host).unwrap_or(""), host_w));
            line.push_str("  ");
        }
        let process = f.process.image.as_deref().map(file_name_of).unwrap_or("");
        line.push_str(&term::fit(process, process_w));
        line.push_str("  ");
        if wide {
            line.push_str(&term::fit(&f.detector, detector_w));
            line.push_str("  ");
        }
        let count = if f.count > 1 { format!(" (×{})", f.count) } else { String::new() };
        // "rundll32.exe looked up …" says the process twice next to its column.
        let explanation = match f.explanation.strip_prefix(process) {
            Some(rest) if !process.is_empty() && rest.starts_with([' ', ',']) => rest.trim_start_matches([',', ' ']),
            _ => &f.explanation,
        };
        let what = format!("{explanation}{count}");
        match what_w {
            Some(w) => line.push_str(&term::cut(&what, w)),
            None => line.push_str(&what),
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn write_incidents_csv<W: Write>(out: &mut W, incidents: &[&Incident]) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "id",
        "time",
        "time_last",
        "severity",
        "risk",
        "headline",
        "hosts",
        "root_image",
        "processes",
        "detectors",
        "evidence_kinds",
        "attack",
        "indicators",
        "findings",
        "finding_ids",
    ])?;
    for i in incidents {
        w.write_record([
            i.id.as_str(),
            &i.time.to_string(),
            &i.time_last.to_string(),
            i.severity.as_str(),
            &i.risk.to_string(),
            &i.headline,
            &i.hosts.join(" "),
            i.root.image.as_deref().unwrap_or(""),
            &i.processes.join(" "),
            &i.detectors.join(" "),
            &i.evidence_kinds.join(" "),
            &i.attack.join(" "),
            &i.indicators.join(" "),
            &i.timeline.len().to_string(),
            &i.timeline.iter().map(|t| t.finding_id.as_str()).collect::<Vec<_>>().join(" "),
        ])?;
    }
    w.flush()
}

/// Writes one event as a JSON line.
pub fn write_event<W: Write>(out: &mut W, event: &Event) -> io::Result<()> {
    serde_json::to_writer(&mut *out, event)?;
    out.write_all(b"\n")
}

fn write_csv<W: Write>(out: &mut W, findings: &[&Finding]) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "id",
        "time",
        "time_last",
        "count",
        "severity",
        "score",
        "detector",
        "host",
        "process_image",
        "process_pid",
        "process_guid",
        "process_command_line",
        "parent_image",
        "user",
        "query_name",
        "query_name_unicode",
        "registered_domain",
        "attack",
        "explanation",
        "evidence",
        "details",
        "incident_id",
    ])?;
    for f in findings {
        let evidence = f.evidence.iter().map(|e| e.origin.to_string()).collect::<Vec<_>>().join(" | ");
        w.write_record([
            f.id.as_str(),
            &f.time.to_string(),
            &f.time_last.to_string(),
            &f.count.to_string(),
            f.severity.as_str(),
            &f.score.to_string(),
            &f.detector,
            f.host.as_deref().unwrap_or(""),
            f.process.image.as_deref().unwrap_or(""),
            &f.process.pid.map(|p| p.to_string()).unwrap_or_default(),
            &f.process.guid.map(|g| g.to_string()).unwrap_or_default(),
            f.process.command_line.as_deref().unwrap_or(""),
            f.process.parent_image.as_deref().unwrap_or(""),
            f.process.user.as_deref().unwrap_or(""),
            f.query_name.as_deref().unwrap_or(""),
            f.query_name_unicode.as_deref().unwrap_or(""),
            f.registered_domain.as_deref().unwrap_or(""),
            &f.attack.join(" "),
            &f.explanation,
            &evidence,
            &serde_json::Value::Object(f.details.clone()).to_string(),
            f.incident_id.as_deref().unwrap_or(""),
        ])?;
    }
    w.flush()
}

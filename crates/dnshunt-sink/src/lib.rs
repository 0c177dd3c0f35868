//! dnshunt's sinks. Architecture invariant: only this crate knows output formats.

pub mod elastic;
pub mod sysmon_config;

use std::io::{self, Write};

use comfy_table::{presets, Cell, Color, ContentArrangement, Table};
use dnshunt_core::{image_file_name, Event, Finding, Incident, Severity};

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
pub fn write_findings<W: Write>(out: &mut W, format: FindingFormat, findings: &[&Finding], width: Option<u16>) -> io::Result<()> {
    match format {
        FindingFormat::Jsonl | FindingFormat::Json => write_json(out, format, findings),
        FindingFormat::Csv => write_csv(out, findings),
        FindingFormat::Table => write_table(out, findings, width),
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
/// first time, findings, headline), cut to `width` with an ellipsis rather than wrapped; the
/// machine formats write the incident contract whole (with its timeline).
pub fn write_incidents<W: Write>(out: &mut W, format: FindingFormat, incidents: &[&Incident], width: Option<u16>) -> io::Result<()> {
    match format {
        FindingFormat::Jsonl | FindingFormat::Json => write_json(out, format, incidents),
        FindingFormat::Csv => write_incidents_csv(out, incidents),
        FindingFormat::Table => write_incident_lines(out, incidents, width),
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

/// The text of a one-line cell cut to `max` characters, with an ellipsis when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

fn write_incident_lines<W: Write>(out: &mut W, incidents: &[&Incident], width: Option<u16>) -> io::Result<()> {
    if incidents.is_empty() {
        return writeln!(out, "No incidents.");
    }
    // severity(8) risk(4) time(16) findings(8) + gaps.
    let fixed = 8 + 1 + 4 + 2 + 16 + 2 + 8 + 2;
    let headline_width = width.map(|w| (w as usize).saturating_sub(fixed).max(20));
    writeln!(out, "{:<8} {:>4}  {:<16}  {:>8}  incident", "severity", "risk", "first (UTC)", "findings")?;
    for i in incidents {
        let time = i.time.to_string();
        let headline = match headline_width {
            Some(w) => cut(&i.headline, w),
            None => i.headline.clone(),
        };
        writeln!(
            out,
            "{:<8} {:>4}  {:<16}  {:>8}  {headline}",
            i.severity.as_str(),
            i.risk,
            time.get(..16).unwrap_or(&time).replace('T', " "),
            i.timeline.len()
        )?;
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

fn severity_color(s: Severity) -> Color {
    match s {
        Severity::Critical => Color::Magenta,
        Severity::High => Color::Red,
        Severity::Medium => Color::Yellow,
        Severity::Low => Color::Cyan,
        Severity::Info => Color::Grey,
    }
}

fn write_table<W: Write>(out: &mut W, findings: &[&Finding], width: Option<u16>) -> io::Result<()> {
    if findings.is_empty() {
        return writeln!(out, "No findings.");
    }
    let mut table = Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(w) = width {
        table.set_width(w);
    }
    table.set_header(["time (UTC)", "severity", "score", "detector", "host", "process", "what"]);
    for f in findings {
        let time = f.time.to_string();
        let process = f.process.image.as_deref().map(image_file_name).unwrap_or_default();
        let count = if f.count > 1 { format!(" (×{})", f.count) } else { String::new() };
        table.add_row(vec![
            Cell::new(time[..19].replace('T', " ")),
            Cell::new(f.severity).fg(severity_color(f.severity)),
            Cell::new(f.score),
            Cell::new(&f.detector),
            Cell::new(f.host.as_deref().unwrap_or("")),
            Cell::new(process),
            Cell::new(format!("{}{count}", f.explanation)),
        ]);
    }
    writeln!(out, "{table}")
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

//! The HTML report of a hunt: one offline file with SVG charts drawn here and the findings
//! table in a few lines of inline JavaScript.
//!
//! [`Summary`] is fed every event while the input is read and keeps bounded state (see
//! [`summary`]); [`render`] writes the page from it and the findings.
//!
//! The page makes no request of any kind: CSS and JavaScript are inline, there are no fonts,
//! images or links to load, and a Content-Security-Policy of `default-src 'none'` with the
//! SHA-256 hashes of the two inline scripts makes the browser refuse anything else (including
//! any markup an attacker managed to smuggle in, which is escaped anyway). Names in logs are
//! attacker-controlled: text goes into HTML and SVG through one escaping function, the findings
//! go into a `<script type="application/json">` with `<`, `>`, `&` and the JavaScript line
//! separators escaped, and the script only ever sets `textContent`.

mod page;
pub mod summary;
pub mod svg;
pub mod timeline;
pub mod wire;

use std::fmt::Write as _;
use std::io::{self, Write};

use dnshunt_core::{Finding, Severity, Timestamp};

pub use page::MAX_PAGE_EVIDENCE;
pub use summary::{Summary, SummaryConfig};
use svg::{esc, Series, OTHER, PALETTE};
use timeline::MAX_BUCKETS;

const CSS: &str = include_str!("report.css");
const HOOK_JS: &str = include_str!("hook.js");
const REPORT_JS: &str = include_str!("report.js");

/// Hosts and processes drawn as their own series; the rest is "other".
const TOP_SERIES: usize = 8;
/// Rows of the top and rarest domain tables.
const TOP_DOMAINS: usize = 15;
/// Beacon findings with an interval histogram.
const MAX_BEACON_CHARTS: usize = 24;
/// Bins of an interval histogram (the last is open-ended).
const HISTOGRAM_BINS: usize = 40;

/// What the report says about the run besides the summary.
#[derive(Clone, Debug, Default)]
pub struct ReportMeta {
    /// The inputs as given on the command line.
    pub inputs: Vec<String>,
    /// When the report was made, as text (left out when `None`, e.g. in tests).
    pub generated: Option<String>,
}

/// Writes the report.
pub fn render(out: &mut impl Write, summary: &Summary, findings: &[Finding], meta: &ReportMeta) -> io::Result<()> {
    render_with_incidents(out, summary, findings, &[], meta)
}

/// Most incidents listed in the page (the highest risks); the rest are counted.
pub const MAX_INCIDENTS_SHOWN: usize = 200;

/// Most findings listed in one incident's timeline in the page.
const MAX_TIMELINE_SHOWN: usize = 50;

/// [`render`] with the run's incidents (ranked by risk) listed first, each with its timeline.
pub fn render_with_incidents(out: &mut impl Write, summary: &Summary, findings: &[Finding], incidents: &[dnshunt_core::Incident], meta: &ReportMeta) -> io::Result<()> {
    let mut body = String::with_capacity(256 * 1024);
    header(&mut body, summary, findings, meta);
    body.push_str("<main>");
    cards(&mut body, summary, findings);
    if !incidents.is_empty() {
        incidents_section(&mut body, incidents);
    }
    charts(&mut body, summary, findings);
    domains(&mut body, summary);
    beacons(&mut body, summary, findings);
    findings_section(&mut body, findings);
    body.push_str("</main>");

    let hook_hash = csp_hash(HOOK_JS);
    let main_hash = csp_hash(REPORT_JS);
    let css_hash = csp_hash(CSS);
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'sha256-{hook_hash}' 'sha256-{main_hash}'; style-src 'sha256-{css_hash}'; img-src data:; base-uri 'none'; form-action 'none'\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"referrer\" content=\"no-referrer\">\
<title>dnshunt report</title><style>{CSS}</style><script>{HOOK_JS}</script></head>\n<body>"
    )?;
    out.write_all(body.as_bytes())?;
    out.write_all(b"\n<script type=\"application/json\" id=\"findings-data\">")?;
    write_json_for_script(out, &page::page_data(findings))?;
    write!(
        out,
        "</script>\n<div id=\"report-status\" hidden></div><pre id=\"report-errors\" hidden></pre>\n<script>{REPORT_JS}</script>\n</body></html>\n"
    )?;
    Ok(())
}

/// Serialises the findings so the text cannot end the `<script>` element or be read as markup:
/// `<`, `>` and `&` become `\u003c` and friends (valid JSON, the same string once parsed).
fn write_json_for_script(out: &mut impl Write, data: &impl serde::Serialize) -> io::Result<()> {
    struct Escaping<'a, W: Write>(&'a mut W);
    impl<W: Write> Write for Escaping<'_, W> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut start = 0;
            let mut i = 0;
            while i < buf.len() {
                let escaped: Option<&[u8]> = match buf[i] {
                    b'<' => Some(b"\\u003c"),
                    b'>' => Some(b"\\u003e"),
                    b'&' => Some(b"\\u0026"),
                    // U+2028 and U+2029 (E2 80 A8/A9), line terminators to old JavaScript.
                    0xE2 if buf.get(i + 1) == Some(&0x80) && matches!(buf.get(i + 2), Some(0xA8 | 0xA9)) => Some(if buf[i + 2] == 0xA8 { b"\\u2028" } else { b"\\u2029" }),
                    _ => None,
                };
                if let Some(e) = escaped {
                    self.0.write_all(&buf[start..i])?;
                    self.0.write_all(e)?;
                    i += if e.len() == 6 && buf[i] == 0xE2 { 3 } else { 1 };
                    start = i;
                } else {
                    i += 1;
                }
            }
            self.0.write_all(&buf[start..])?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            self.0.flush()
        }
    }
    // serde_json writes UTF-8 in pieces that never split a character, so a U+2028 arrives whole.
    let mut w = io::BufWriter::new(Escaping(out));
    serde_json::to_writer(&mut w, data).map_err(io::Error::other)?;
    w.flush()
}

fn header(out: &mut String, summary: &Summary, findings: &[Finding], meta: &ReportMeta) {
    out.push_str("<header><h1>dnshunt report");
    if let (Some(a), Some(b)) = (summary.first_ms, summary.last_ms) {
        let _ = write!(out, "<span>{} → {} UTC</span>", esc(&svg::fmt_time(a, false)), esc(&svg::fmt_time(b, false)));
    }
    out.push_str("</h1><div class=\"sub\">");
    if !meta.inputs.is_empty() {
        let shown: Vec<String> = meta.inputs.iter().take(6).map(|s| esc(s)).collect();
        let _ = write!(
            out,
            "Input: {}{}",
            shown.join(", "),
            if meta.inputs.len() > 6 {
                format!(" and {} more", meta.inputs.len() - 6)
            } else {
                String::new()
            }
        );
    }
    if let Some(g) = &meta.generated {
        let _ = write!(out, " · generated {}", esc(g));
    }
    let _ = write!(out, " · {} findings</div></header>", findings.len());
}

fn card(out: &mut String, value: impl std::fmt::Display, label: &str) {
    let _ = write!(out, "<div class=\"card\"><b>{value}</b><small>{label}</small></div>");
}

fn cards(out: &mut String, summary: &Summary, findings: &[Finding]) {
    let c = &summary.counts;
    out.push_str("<section class=\"cards\">");
    card(out, group(c.dns_query), "DNS queries (EID 22)");
    card(out, group(c.process_create + c.network_connect + c.process_terminate), "process and network events");
    if c.wire_dns + c.wire_flow > 0 {
        card(out, group(c.wire_dns), "DNS exchanges on the wire");
        card(out, group(c.wire_flow), "connections on the wire");
    }
    card(
        out,
        format!("{}{}", group(summary.distinct_hosts() as u64), if summary.hosts_over_cap { "+" } else { "" }),
        "hosts",
    );
    card(out, group(summary.domains.len() as u64 + summary.domains.trimmed), "domains");
    let share = if c.dns_query > 0 { c.nxdomain as f64 * 100.0 / c.dns_query as f64 } else { 0.0 };
    card(out, format!("{share:.1}%"), "NXDOMAIN");
    for sev in Severity::ALL.iter().rev() {
        let n = findings.iter().filter(|f| f.severity == *sev).count();
        if n > 0 || *sev >= Severity::High {
            card(out, format!("<span class=\"sev sev-{sev}\">{}</span>", group(n as u64)), &format!("{sev} findings"));
        }
    }
    out.push_str("</section>");
}

/// `n` with its digits grouped by thousands (`1,004,895`).
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn legend(out: &mut String, series: &[Series]) {
    out.push_str("<div class=\"legend\">");
    for s in series {
        let total: f64 = s.values.iter().sum();
        let _ = write!(
            out,
            "<span title=\"{}\">{}{} ({})</span>",
            esc(&s.label),
            svg::swatch(s.color),
            esc(&s.label),
            group(total as u64)
        );
    }
    out.push_str("</div>");
}

/// Series of the top keys of a tracked table, plus "other" (all queries minus the top).
fn top_series<'a>(tracked: &'a summary::Tracked, total: &[u32; MAX_BUCKETS]) -> Vec<Series<'a>> {
    let top = tracked.top();
    let mut series: Vec<Series> = top
        .iter()
        .take(TOP_SERIES)
        .enumerate()
        .map(|(k, slot)| Series {
            label: slot.name.clone(),
            color: PALETTE[k % PALETTE.len()],
            values: slot.row.iter().map(|&v| v as f64).collect(),
        })
        .collect();
    let mut other: Vec<f64> = total.iter().map(|&v| v as f64).collect();
    for s in &series {
        for (o, v) in other.iter_mut().zip(&s.values) {
            *o = (*o - v).max(0.0);
        }
    }
    if other.iter().any(|&v| v > 0.0) {
        series.push(Series {
            label: format!("other ({} more)", top.len().saturating_sub(TOP_SERIES)).replace("(0 more)", "(untracked)"),
            color: OTHER,
            values: other,
        });
    }
    series
}

fn marks(summary: &Summary, findings: &[Finding]) -> svg::Marks {
    let mut per_bucket: Vec<Option<(Severity, usize)>> = vec![None; MAX_BUCKETS];
    if let Some(layout) = summary.layout() {
        for f in findings {
            let i = (f.time.millis() - layout.start_ms).div_euclid(layout.width_ms);
            if let Some(slot) = usize::try_from(i).ok().and_then(|i| per_bucket.get_mut(i)) {
                *slot = Some(match *slot {
                    Some((s, n)) => (s.max(f.severity), n + 1),
                    None => (f.severity, 1),
                });
            }
        }
    }
    svg::Marks { per_bucket }
}

/// Bytes of DNS on the wire per domain over time (captures, Zeek, Suricata).
fn wire_chart(out: &mut String, summary: &Summary, findings: &[Finding]) {
    let (Some(layout), Some(range)) = (summary.layout(), svg::used_range([&summary.wire_total[..]])) else {
        return;
    };
    let marks = marks(summary, findings);
    let frame = svg::Frame { width: 1000.0, layout, range };
    let series = top_series(&summary.wire_bytes, &summary.wire_total);
    out.push_str("<section><h2>DNS bytes on the wire by domain</h2>");
    out.push_str(&svg::stacked(frame, &series, Some(&marks), "bytes", false, "DNS bytes on the wire by domain"));
    legend(out, &series);
    let _ = write!(
        out,
        "<p class=\"note\">Bytes of questions and responses per {} (as the capture measured them; for logs without sizes, the name and the answers' data). A tunnel is a domain whose bytes stand out.</p></section>",
        describe_width(layout.width_ms)
    );
}

fn charts(out: &mut String, summary: &Summary, findings: &[Finding]) {
    wire_chart(out, summary, findings);
    let (Some(layout), Some(range)) = (summary.layout(), svg::used_range([&summary.total[..]])) else {
        out.push_str("<section><h2>Query volume</h2><p class=\"note\">No DNS queries in the input.</p></section>");
        return;
    };
    let marks = marks(summary, findings);
    let wide = svg::Frame { width: 1000.0, layout, range };
    let half = svg::Frame { width: 520.0, ..wide };
    let width = describe_width(layout.width_ms);
    let note = format!("<p class=\"note\">One bar per {width}. Triangles under the axis mark findings (colour: worst severity in the bar; hover for counts).</p>");
    for (title, tracked, what) in [
        ("Query volume by host", &summary.hosts, "hosts"),
        ("Query volume by process", &summary.processes, "processes"),
    ] {
        let series = top_series(tracked, &summary.total);
        let _ = write!(out, "<section><h2>{title}</h2>");
        out.push_str(&svg::stacked(wide, &series, Some(&marks), "queries", false, title));
        legend(out, &series);
        let _ = write!(out, "{note}");
        if tracked.slots.iter().any(|s| s.error > 0) {
            let _ = write!(
                out,
                "<p class=\"note\">More {what} than tracked slots: the series of rarely seen {what} are approximate (space-saving counts).</p>"
            );
        }
        out.push_str("</section>");
    }
    out.push_str("<div class=\"two\">");
    let share: Vec<Option<f64>> = summary
        .total
        .iter()
        .zip(summary.nxdomain.iter())
        .map(|(&t, &nx)| if t > 0 { Some(nx as f64 / t as f64) } else { None })
        .collect();
    out.push_str("<section><h2>NXDOMAIN share</h2>");
    out.push_str(&svg::share_line(half, &share, "#e15759", "NXDOMAIN share of DNS queries"));
    let _ = write!(out, "<p class=\"note\">Share of queries answered NXDOMAIN (9003) per {width}.</p></section>");
    let colors = ["#4e79a7", "#76b7b2", "#59a14f", "#e15759", "#b07aa1", "#bab0ac"];
    let mix: Vec<Series> = summary
        .rtypes
        .iter()
        .zip(summary::RTYPE_CLASSES)
        .zip(colors)
        .map(|((row, label), color)| Series {
            label: label.to_owned(),
            color,
            values: row.iter().zip(summary.total.iter()).map(|(&v, &t)| if t > 0 { v as f64 / t as f64 } else { 0.0 }).collect(),
        })
        .collect();
    out.push_str("<section><h2>Record types in answers</h2>");
    out.push_str(&svg::stacked(half, &mix, None, "", true, "Record-type mix of answers"));
    out.push_str("<div class=\"legend\">");
    for (s, row) in mix.iter().zip(&summary.rtypes) {
        let n: u64 = row.iter().map(|&v| v as u64).sum();
        let _ = write!(out, "<span>{}{} ({})</span>", svg::swatch(s.color), esc(&s.label), group(n));
    }
    out.push_str("</div><p class=\"note\">Sysmon logs the answers, not the question's type: each query is classed by its most telling answer.</p></section></div>");
}

fn describe_width(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        s if s % 86_400 == 0 => plural(s / 86_400, "day"),
        s if s % 3600 == 0 => plural(s / 3600, "hour"),
        s if s % 60 == 0 => plural(s / 60, "minute"),
        s => plural(s, "second"),
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        unit.to_owned()
    } else {
        format!("{n} {unit}s")
    }
}

fn domains(out: &mut String, summary: &Summary) {
    let table = &summary.domains;
    out.push_str("<div class=\"two\">");
    let top = table.top(TOP_DOMAINS);
    let max = top.first().map_or(1, |d| d.count.max(1));
    for (title, rows, bars) in [("Most queried domains", top, true), ("Rarest domains", table.rarest(TOP_DOMAINS), false)] {
        let _ = write!(
            out,
            "<section><h2>{title}</h2><table><thead><tr><th>Domain</th><th class=\"num\">Queries</th><th class=\"num\">Hosts</th><th class=\"num\">NXDOMAIN</th><th>First seen</th><th>Last seen</th></tr></thead><tbody>"
        );
        for d in &rows {
            let (hosts, more) = d.hosts();
            let bar = if bars {
                format!("<svg class=\"bar-svg\" width=\"100%\" height=\"4\" viewBox=\"0 0 100 4\" preserveAspectRatio=\"none\" aria-hidden=\"true\"><rect width=\"{:.1}\" height=\"4\" rx=\"1\" fill=\"#4e79a7\" fill-opacity=\"0.7\"/></svg>", d.count as f64 * 100.0 / max as f64)
            } else {
                String::new()
            };
            let _ = write!(
                out,
                "<tr><td class=\"name\">{}{bar}</td><td class=\"num\">{}{}</td><td class=\"num\">{hosts}{}</td><td class=\"num\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td></tr>",
                esc(&d.name),
                if d.error > 0 { "≥ " } else { "" },
                group(d.count),
                if more { "+" } else { "" },
                group(d.nxdomain),
                esc(&svg::fmt_short(d.first_ms)),
                esc(&svg::fmt_short(d.last_ms)),
            );
        }
        out.push_str("</tbody></table>");
        if table.trimmed > 0 {
            let _ = write!(
                out,
                "<p class=\"note\">More than {} distinct domains: {} of the rarest were dropped while counting (each seen at most {} times by then), so the long tail is approximate.</p>",
                group(table.len() as u64),
                group(table.trimmed),
                group(table.trimmed_max_count)
            );
        } else {
            out.push_str("<p class=\"note\">Exact stack counts: rarest = fewest hosts, then fewest queries.</p>");
        }
        out.push_str("</section>");
    }
    out.push_str("</div>");
}

/// The intervals (whole seconds) behind a beacon finding: the detector's own list when its
/// details carry one, else the summary's sample of the series, else the evidence times.
fn beacon_intervals(summary: &Summary, f: &Finding) -> (Vec<f64>, &'static str) {
    for key in ["intervals_s", "intervals"] {
        if let Some(list) = f.details.get(key).and_then(|v| v.as_array()) {
            let v: Vec<f64> = list.iter().filter_map(|x| x.as_f64()).collect();
            if !v.is_empty() {
                return (v, "from the detector");
            }
        }
    }
    let kind = match f.details.get("target_kind").and_then(|v| v.as_str()) {
        Some("address") => b'a',
        _ => b'd',
    };
    let target = f.details.get("target").and_then(|v| v.as_str()).or(f.registered_domain.as_deref()).unwrap_or_default();
    let seconds = summary
        .series_seconds(f.host.as_deref().unwrap_or(""), f.process.image.as_deref().unwrap_or(""), kind, target)
        .filter(|s| s.len() >= 3)
        .unwrap_or_else(|| {
            let mut s: Vec<i64> = f.evidence.iter().map(|e| e.time.millis().div_euclid(1000)).collect();
            s.sort_unstable();
            s.dedup();
            s
        });
    (seconds.windows(2).map(|w| (w[1] - w[0]) as f64).collect(), "from the lookups seen")
}

fn beacons(out: &mut String, summary: &Summary, findings: &[Finding]) {
    let mut list: Vec<&Finding> = findings.iter().filter(|f| f.detector == "beacon").collect();
    if list.is_empty() {
        return;
    }
    list.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.time.cmp(&b.time)));
    let _ = write!(out, "<section id=\"beacons-section\"><h2>Beacon intervals</h2><div class=\"beacons\">");
    for f in list.iter().take(MAX_BEACON_CHARTS) {
        let (intervals, source) = beacon_intervals(summary, f);
        let target = f.details.get("target").and_then(|v| v.as_str()).or(f.query_name.as_deref()).unwrap_or("?").to_owned();
        let image = f.process.image.as_deref().map(dnshunt_core::image_file_name).unwrap_or_else(|| "unknown process".into());
        let _ = write!(
            out,
            "<div class=\"beacon\"><h3>{} → {}</h3><p>{} · score {} · {} {}</p>",
            esc(&image),
            esc(&target),
            esc(f.host.as_deref().unwrap_or("")),
            f.score,
            intervals.len(),
            if intervals.len() == 1 { "interval" } else { "intervals" }
        );
        if intervals.is_empty() {
            out.push_str("<p>No intervals available.</p></div>");
            continue;
        }
        let mut sorted = intervals.clone();
        sorted.sort_by(f64::total_cmp);
        let median = f.details.get("median_interval_s").and_then(|v| v.as_f64()).unwrap_or(sorted[sorted.len() / 2]);
        // Twice the median shows the jitter around it; longer gaps (missed callbacks) pile up in the last bin.
        let hi = (median * 2.0).max(sorted[0] + 1.0).max(2.0);
        let mut bins = vec![0u32; HISTOGRAM_BINS];
        let width = hi / (HISTOGRAM_BINS - 1) as f64;
        for v in &intervals {
            let i = ((v / width) as usize).min(HISTOGRAM_BINS - 1);
            bins[i] += 1;
        }
        out.push_str(&svg::histogram(&bins, hi, Some(median), &format!("Intervals of {target}")));
        let _ = write!(out, "<p>median {median:.0} s (dashed) · {source}</p></div>");
    }
    out.push_str("</div>");
    if list.len() > MAX_BEACON_CHARTS {
        let _ = write!(out, "<p class=\"note\">The {MAX_BEACON_CHARTS} highest-scoring of {} beacon findings.</p>", list.len());
    }
    out.push_str("</section>");
}

/// The incidents as static, escaped HTML: one row each (severity, risk, first time, findings,
/// headline) that opens to the risk's reasons and the timeline of its findings.
fn incidents_section(out: &mut String, incidents: &[dnshunt_core::Incident]) {
    let _ = write!(out, "<section id=\"incidents-section\"><h2>Incidents</h2><p class=\"note\">{} incidents, highest risk first: the findings of one process tree (and of hosts sharing a rare indicator) together. Open one for why its risk is what it is and its timeline.</p>", group(incidents.len() as u64));
    for i in incidents.iter().take(MAX_INCIDENTS_SHOWN) {
        let _ = write!(
            out,
            "<details class=\"incident\" id=\"incident-{}\"><summary><span class=\"sev sev-{}\">{}</span> <b>{}</b> {} · {} findings · {}</summary>",
            esc(&i.id),
            i.severity,
            i.severity,
            i.risk,
            esc(&svg::fmt_time(i.time.millis(), false)),
            i.timeline.len(),
            esc(&i.headline)
        );
        let _ = write!(out, "<p class=\"note\">{}", esc(&i.risk_reasons.join("; ")));
        if !i.attack.is_empty() {
            let _ = write!(out, " · ATT&amp;CK {}", esc(&i.attack.join(", ")));
        }
        let _ = write!(out, " · id <code>{}</code></p><table><thead><tr><th>Time (UTC)</th><th>Severity</th><th class=\"num\">Score</th><th>Detector</th><th>Process</th><th>What</th></tr></thead><tbody>", esc(&i.id));
        for t in i.timeline.iter().take(MAX_TIMELINE_SHOWN) {
            let _ = write!(
                out,
                "<tr><td>{}</td><td><span class=\"sev sev-{}\">{}</span></td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&svg::fmt_time(t.time.millis(), false)),
                t.severity,
                t.severity,
                t.score,
                esc(&t.detector),
                esc(t.process.as_deref().unwrap_or("")),
                esc(&t.explanation)
            );
        }
        if i.timeline.len() > MAX_TIMELINE_SHOWN {
            let _ = write!(out, "<tr><td colspan=\"6\">… and {} more findings</td></tr>", i.timeline.len() - MAX_TIMELINE_SHOWN);
        }
        out.push_str("</tbody></table></details>");
    }
    if incidents.len() > MAX_INCIDENTS_SHOWN {
        let _ = write!(
            out,
            "<p class=\"note\">… and {} more incidents of lower risk (see <code>hunt --incidents --format jsonl</code>).</p>",
            group((incidents.len() - MAX_INCIDENTS_SHOWN) as u64)
        );
    }
    out.push_str("</section>");
}

fn findings_section(out: &mut String, findings: &[Finding]) {
    let _ = write!(
        out,
        "<section id=\"findings-section\"><h2>Findings</h2><div class=\"controls\">\
<input id=\"f-text\" type=\"search\" placeholder=\"Filter: name, host, process, detector, ATT&amp;CK id …\" aria-label=\"Filter findings\">\
<select id=\"f-severity\" aria-label=\"Minimum severity\"><option value=\"\">any severity</option>{}</select>\
<select id=\"f-detector\" aria-label=\"Detector\"><option value=\"\">any detector</option></select>\
<button id=\"f-prev\" type=\"button\">‹ Prev</button><button id=\"f-next\" type=\"button\">Next ›</button><span id=\"f-info\" class=\"note\"></span></div>\
<table id=\"findings\"><thead><tr><th data-key=\"severity\">Severity</th><th data-key=\"score\" class=\"num\">Score</th><th data-key=\"time\">First seen (UTC)</th>\
<th data-key=\"detector\">Detector</th><th data-key=\"host\">Host</th><th data-key=\"process\">Process</th><th data-key=\"query\">Query / target</th><th data-key=\"count\" class=\"num\">Count</th></tr></thead>\
<tbody></tbody></table><p class=\"note\">{} findings. Click a row for its explanation, ATT&amp;CK ids, process chain and evidence; click a header to sort. The filter is kept in the address (<code>#filter=…&amp;severity=high&amp;detector=beacon</code>).</p></section>",
        Severity::ALL.iter().rev().map(|s| format!("<option value=\"{s}\">{s} and above</option>")).collect::<String>(),
        group(findings.len() as u64)
    );
}

/// Time of the report for [`ReportMeta::generated`].
pub fn now_text(now_ms: i64) -> String {
    format!("{} UTC", svg::fmt_time(Timestamp(now_ms).millis(), false))
}

#[cfg(test)]
mod tests;

/// The Content-Security-Policy hash of an inline script or style: base64 of its SHA-256.
fn csp_hash(text: &str) -> String {
    use base64::Engine as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

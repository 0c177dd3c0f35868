//! Charts as inline SVG, written as text. Every label goes through [`esc`].

use std::fmt::Write;

use dnshunt_core::{Severity, Timestamp};

use crate::timeline::Layout;

pub const PALETTE: [&str; 9] = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"];
pub const OTHER: &str = "#bab0ac";

pub fn severity_color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#b42318",
        Severity::High => "#e0611b",
        Severity::Medium => "#c99a06",
        Severity::Low => "#3b6fb6",
        Severity::Info => "#8b949e",
    }
}

/// Escapes text for HTML and XML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML; show them as the replacement character.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `03-12 08:49:05`, for tables.
pub fn fmt_short(ms: i64) -> String {
    let s = Timestamp(ms).to_string();
    format!("{} {}", &s[5..10], &s[11..19])
}

/// `2024-03-12 08:49` (or with seconds when the buckets are shorter than a minute).
pub fn fmt_time(ms: i64, seconds: bool) -> String {
    let s = Timestamp(ms).to_string();
    let s = s.replace('T', " ");
    if seconds {
        s[..19].to_owned()
    } else {
        s[..16].to_owned()
    }
}

/// A series to stack: its label, colour and one value per bucket.
pub struct Series<'a> {
    pub label: String,
    pub color: &'a str,
    pub values: Vec<f64>,
}

/// Finding marks on the time axis: per bucket, the worst severity and how many findings.
pub struct Marks {
    pub per_bucket: Vec<Option<(Severity, usize)>>,
}

const LEFT: f64 = 52.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;

/// "Nice" upper bound and step for an axis from 0 to `max`.
fn nice_axis(max: f64, ticks: usize) -> (f64, f64) {
    if max <= 0.0 {
        return (1.0, 1.0);
    }
    let raw = max / ticks as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

fn fmt_num(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The time axis of buckets `first..=last` of `layout`.
struct TimeAxis {
    layout: Layout,
    first: usize,
    n: usize,
    plot_w: f64,
}

impl TimeAxis {
    fn new(frame: Frame) -> TimeAxis {
        TimeAxis {
            layout: frame.layout,
            first: frame.range.0,
            n: frame.range.1 - frame.range.0 + 1,
            plot_w: frame.width - LEFT - RIGHT,
        }
    }

    fn x(&self, i: usize) -> f64 {
        LEFT + (i - self.first) as f64 * self.plot_w / self.n as f64
    }

    fn bar_w(&self) -> f64 {
        self.plot_w / self.n as f64
    }

    fn ticks(&self, out: &mut String, y: f64) {
        let n_ticks = ((self.plot_w / 150.0) as usize).clamp(2, 7).min(self.n);
        let seconds = self.layout.width_ms < 60_000;
        // Buckets of a day or more: dates only (with the year, so a span of years reads right).
        let dates = self.layout.width_ms >= 86_400_000;
        let span_ms = self.n as i64 * self.layout.width_ms;
        let mut last_day = String::new();
        for k in 0..n_ticks {
            let i = self.first + k * self.n / n_ticks.max(1);
            let t = self.layout.bucket_start(i);
            let label = fmt_time(t, seconds);
            let (day, clock) = label.split_at(10);
            let shown = if dates {
                day.to_owned()
            } else if day == last_day || (k == 0 && span_ms < 86_400_000) {
                // The date only when it changes; within one day the page header has it.
                clock.trim().to_owned()
            } else {
                label.clone()
            };
            last_day = day.to_owned();
            let x = self.x(i);
            let _ = write!(out, r#"<line class="axis" x1="{x:.1}" x2="{x:.1}" y1="{y:.1}" y2="{:.1}"/>"#, y + 4.0);
            let _ = write!(
                out,
                r#"<text x="{x:.1}" y="{:.1}" text-anchor="{}">{}</text>"#,
                y + 16.0,
                if k == 0 { "start" } else { "middle" },
                esc(&shown)
            );
        }
    }

    fn span_label(&self, i: usize) -> String {
        let seconds = self.layout.width_ms < 60_000;
        let a = self.layout.bucket_start(i);
        format!("{} – {}", fmt_time(a, seconds), fmt_time(a + self.layout.width_ms, seconds))
    }
}

/// The opening `<svg>` tag of a `w` × `h` chart, labelled for screen readers.
fn svg_open(w: f64, h: f64, label: &str) -> String {
    format!(
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        esc(label)
    )
}

/// The used bucket range `first..=last` (where any of `rows` is non-zero).
pub fn used_range<'a>(rows: impl IntoIterator<Item = &'a [u32]>) -> Option<(usize, usize)> {
    let mut range: Option<(usize, usize)> = None;
    for row in rows {
        for (i, &v) in row.iter().enumerate() {
            if v > 0 {
                range = Some(range.map_or((i, i), |(a, b)| (a.min(i), b.max(i))));
            }
        }
    }
    range
}

fn y_grid(out: &mut String, w: f64, plot_h: f64, top: f64, step: f64, percent: bool) {
    let mut v = 0.0;
    while v <= top + step * 0.01 {
        let y = TOP + plot_h - v / top * plot_h;
        let _ = write!(out, r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/>"#, w - RIGHT);
        let label = if percent { format!("{}%", fmt_num(v * 100.0)) } else { fmt_num(v) };
        let _ = write!(out, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"#, LEFT - 6.0, y + 4.0);
        v += step;
    }
}

/// Where a time chart draws: its width (SVG units), the bucket layout and the buckets shown.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    pub width: f64,
    pub layout: Layout,
    pub range: (usize, usize),
}

/// Stacked bars per bucket, with finding marks under the axis.
pub fn stacked(frame: Frame, series: &[Series], marks: Option<&Marks>, unit: &str, percent: bool, label: &str) -> String {
    let Frame { width: w, range, .. } = frame;
    let plot_h = 170.0;
    let marks_h = if marks.is_some() { 16.0 } else { 0.0 };
    let h = TOP + plot_h + marks_h + 24.0;
    let axis = TimeAxis::new(frame);
    let mut out = svg_open(w, h, label);
    let max = (range.0..=range.1).map(|i| series.iter().map(|s| s.values[i]).sum::<f64>()).fold(0.0, f64::max);
    let (top, step) = if percent { (1.0, 0.25) } else { nice_axis(max, 4) };
    y_grid(&mut out, w, plot_h, top, step, percent);
    let bw = axis.bar_w();
    let gap = if bw > 4.0 { 1.0 } else { 0.0 };
    for i in range.0..=range.1 {
        let total: f64 = series.iter().map(|s| s.values[i]).sum();
        if total <= 0.0 {
            continue;
        }
        let x = axis.x(i);
        let mut y = TOP + plot_h;
        let _ = write!(out, "<g><title>{}", esc(&axis.span_label(i)));
        for s in series.iter().filter(|s| s.values[i] > 0.0) {
            let v = s.values[i];
            if percent {
                let _ = write!(out, "\n{}: {:.1}%", esc(&s.label), v * 100.0);
            } else {
                let _ = write!(out, "\n{}: {} {unit}", esc(&s.label), fmt_num(v));
            }
        }
        out.push_str("</title>");
        for s in series.iter().filter(|s| s.values[i] > 0.0) {
            let hh = s.values[i] / top * plot_h;
            y -= hh;
            let _ = write!(
                out,
                r#"<rect x="{x:.2}" y="{y:.2}" width="{:.2}" height="{hh:.2}" fill="{}"/>"#,
                (bw - gap).max(0.5),
                s.color
            );
        }
        out.push_str("</g>");
    }
    let base = TOP + plot_h;
    let _ = write!(out, r#"<line class="axis" x1="{LEFT}" x2="{:.1}" y1="{base}" y2="{base}"/>"#, w - RIGHT);
    if let Some(marks) = marks {
        for i in range.0..=range.1 {
            if let Some(Some((sev, n))) = marks.per_bucket.get(i) {
                let cx = axis.x(i) + bw / 2.0;
                let y0 = base + 3.0;
                let _ = write!(
                    out,
                    r#"<path d="M{cx:.1} {y0:.1} l5 9 h-10 z" fill="{}"><title>{} – {n} finding{}, worst {sev}</title></path>"#,
                    severity_color(*sev),
                    esc(&axis.span_label(i)),
                    if *n == 1 { "" } else { "s" }
                );
            }
        }
    }
    axis.ticks(&mut out, base + marks_h);
    out.push_str("</svg>");
    out
}

/// A line (with a light area) of a share per bucket, 0–100 %.
pub fn share_line(frame: Frame, values: &[Option<f64>], color: &str, label: &str) -> String {
    let Frame { width: w, range, .. } = frame;
    let plot_h = 170.0;
    let h = TOP + plot_h + 24.0;
    let axis = TimeAxis::new(frame);
    let mut out = svg_open(w, h, label);
    let max = values.iter().flatten().fold(0.0f64, |a, b| a.max(*b));
    let (top, step) = if max > 0.5 { (1.0, 0.25) } else { nice_axis(max.max(0.01), 4) };
    y_grid(&mut out, w, plot_h, top, step, true);
    let bw = axis.bar_w();
    let mut points = Vec::new();
    for (i, v) in values.iter().enumerate().take(range.1 + 1).skip(range.0) {
        if let Some(v) = v {
            points.push((axis.x(i) + bw / 2.0, TOP + plot_h - v / top * plot_h, i, *v));
        }
    }
    let base = TOP + plot_h;
    // Buckets without queries have no share: the line stops there (a gap stays a gap, never a
    // slope across empty months), and a lone bucket is a dot.
    for run in points.chunk_by(|a, b| b.2 == a.2 + 1) {
        let (first, last) = (run[0], run[run.len() - 1]);
        if run.len() == 1 {
            let _ = write!(out, r#"<circle cx="{:.1}" cy="{:.1}" r="2.2" fill="{color}"/>"#, first.0, first.1);
            continue;
        }
        let mut d = format!("M{:.1} {base:.1}", first.0);
        for p in run {
            let _ = write!(d, " L{:.1} {:.1}", p.0, p.1);
        }
        let _ = write!(d, " L{:.1} {base:.1} Z", last.0);
        let _ = write!(out, r#"<path d="{d}" fill="{color}" fill-opacity="0.18"/>"#);
        let mut line = String::new();
        for (k, p) in run.iter().enumerate() {
            let _ = write!(line, "{}{:.1} {:.1}", if k == 0 { "M" } else { " L" }, p.0, p.1);
        }
        let _ = write!(out, r#"<path d="{line}" fill="none" stroke="{color}" stroke-width="1.6"/>"#);
    }
    for p in &points {
        let _ = write!(
            out,
            r#"<rect x="{:.1}" y="{TOP}" width="{:.2}" height="{plot_h}" fill="transparent"><title>{}: {:.1}%</title></rect>"#,
            p.0 - bw / 2.0,
            bw,
            esc(&axis.span_label(p.2)),
            p.3 * 100.0
        );
    }
    let _ = write!(out, r#"<line class="axis" x1="{LEFT}" x2="{:.1}" y1="{base}" y2="{base}"/>"#, w - RIGHT);
    axis.ticks(&mut out, base);
    out.push_str("</svg>");
    out
}

/// A histogram of intervals (seconds): `bins` equal bins from 0 to `hi`, the last one open.
pub fn histogram(bins: &[u32], hi: f64, median: Option<f64>, label: &str) -> String {
    let (w, plot_h, left, top_pad) = (320.0, 90.0, 34.0, 6.0);
    let h = top_pad + plot_h + 20.0;
    let plot_w = w - left - 8.0;
    let mut out = svg_open(w, h, label);
    let max = bins.iter().copied().max().unwrap_or(0) as f64;
    let (top, _) = nice_axis(max, 2);
    let n = bins.len().max(1);
    let bw = plot_w / n as f64;
    let width = hi / (n - 1).max(1) as f64;
    for (i, &c) in bins.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let hh = c as f64 / top * plot_h;
        let x = left + i as f64 * bw;
        let range = if i + 1 == n {
            format!("≥ {:.0} s", hi)
        } else {
            format!("{:.0}–{:.0} s", i as f64 * width, (i + 1) as f64 * width)
        };
        let _ = write!(
            out,
            r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{hh:.1}" fill="{}"><title>{range}: {c}</title></rect>"#,
            top_pad + plot_h - hh,
            (bw - 1.0).max(0.5),
            if i + 1 == n { OTHER } else { PALETTE[0] }
        );
    }
    let base = top_pad + plot_h;
    let _ = write!(out, r#"<line class="axis" x1="{left}" x2="{:.1}" y1="{base}" y2="{base}"/>"#, left + plot_w);
    let _ = write!(out, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#, left - 4.0, top_pad + 9.0, fmt_num(top));
    let _ = write!(out, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">0</text>"#, left - 4.0, base);
    if let Some(m) = median {
        if m <= hi {
            let x = left + (m / width) * bw;
            let _ = write!(out, r#"<line class="median" x1="{x:.1}" x2="{x:.1}" y1="{top_pad}" y2="{base}"/>"#);
        }
    }
    for k in 0..=4 {
        let v = hi * k as f64 / 4.0;
        let x = left + (v / width) * bw;
        let _ = write!(out, r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{} s</text>"#, base + 14.0, fmt_num(v.round()));
    }
    out.push_str("</svg>");
    out
}

/// A small colour square for legends.
pub fn swatch(color: &str) -> String {
    format!(r#"<svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" rx="2" fill="{color}"/></svg>"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(esc(r#"<script>alert(1)</script>.evil"#), "&lt;script&gt;alert(1)&lt;/script&gt;.evil");
        assert_eq!(esc(r#""><img src=x onerror='a'>"#), "&quot;&gt;&lt;img src=x onerror=&#39;a&#39;&gt;");
    }

    fn frame(width_ms: i64, n: usize) -> Frame {
        Frame {
            width: 900.0,
            layout: Layout {
                start_ms: 1_704_067_200_000, // 2024-01-01
                width_ms,
            },
            range: (0, n - 1),
        }
    }

    #[test]
    fn share_line_breaks_at_gaps() {
        // Two weeks with queries, months without, one lone day, then a run again.
        let mut values = vec![None; 40];
        for v in values.iter_mut().take(14) {
            *v = Some(0.1);
        }
        values[25] = Some(0.5);
        for v in values.iter_mut().skip(30) {
            *v = Some(0.2);
        }
        let svg = share_line(frame(86_400_000, 40), &values, "#000", "NXDOMAIN share");
        assert_eq!(svg.matches(r##"fill="none" stroke="#000""##).count(), 2, "two runs, two lines: {svg}");
        assert_eq!(svg.matches("<circle").count(), 1, "the lone day is a dot");
        assert_eq!(svg.matches("<title>").count(), 25, "every bucket with a share has its tooltip");
    }

    #[test]
    fn long_spans_label_dates_with_the_year() {
        // 240 buckets of 8 days: four years.
        let svg = share_line(frame(8 * 86_400_000, 240), &[Some(0.1); 240], "#000", "x");
        let labels: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .filter_map(|t| t.split('>').nth(1)?.split('<').next())
            .filter(|l| l.starts_with("20"))
            .collect();
        assert!(labels.len() >= 2, "{labels:?}");
        assert!(labels.iter().all(|l| l.len() == 10 && l.as_bytes()[4] == b'-'), "dates with the year: {labels:?}");
        assert!(labels.iter().any(|l| l.starts_with("2026") || l.starts_with("2025")), "{labels:?}");
        // Within one day the first tick is a clock time.
        let svg = share_line(frame(60_000, 120), &[Some(0.1); 120], "#000", "x");
        assert!(svg.contains(">00:00<"), "{svg}");
    }

    #[test]
    fn nice_axes() {
        assert_eq!(nice_axis(37.0, 4), (40.0, 10.0));
        assert_eq!(nice_axis(1.0, 4), (1.0, 0.25));
    }
}

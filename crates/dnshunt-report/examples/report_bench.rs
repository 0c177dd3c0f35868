//! Cost of the report next to the hunt, on the same events in one process:
//! `cargo run --release -p dnshunt-report --example report_bench [COPIES]`.
//!
//! The example incident's events are replicated COPIES times (default 7,335: 1,004,895 events)
//! over 50 hosts, each copy two hours later, the way `dnshunt-bench gen` does; every event goes
//! to the detection engine and to the report's summary, each timed on its own, then the
//! findings are finished and the report is rendered. Reading and parsing are left out: they are
//! the same for both.

use std::path::Path;
use std::time::{Duration, Instant};

use dnshunt_core::{Event, Severity, Timestamp};
use dnshunt_detect::registry::{self, DetectorInputs, DetectorsConfig};
use dnshunt_detect::{Engine, EngineConfig};
use dnshunt_report::{render, ReportMeta, Summary};
use dnshunt_source::{Input, Message, ReadOptions};

fn main() {
    let copies: u64 = std::env::args().nth(1).map_or(7335, |s| s.parse().expect("COPIES is a number"));
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/incident/workstation.ndjson");
    let (rx, handle) = dnshunt_source::spawn(vec![Input::from_arg(example.to_str().unwrap())], ReadOptions::default());
    let mut base: Vec<Event> = Vec::new();
    for msg in rx {
        if let Message::Batch { events, .. } = msg {
            base.extend(events);
        }
    }
    handle.join().unwrap();
    let mut engine = Engine::new(
        EngineConfig {
            max_evidence: 5,
            min_severity: Severity::Info,
            ..Default::default()
        },
        registry::build(&DetectorsConfig::default(), DetectorInputs::default()),
    );
    let mut summary = Summary::default();
    let (mut t_engine, mut t_summary) = (Duration::ZERO, Duration::ZERO);
    let mut n = 0u64;
    let mut batch = base.clone();
    for copy in 0..copies {
        let host = format!("WS-{:02}.corp.example.com", copy % 50);
        let shift = (copy / 50) as i64 * 2 * 3_600_000;
        for (e, b) in batch.iter_mut().zip(&base) {
            e.time = Timestamp(b.time.millis() + shift);
            e.host = Some(host.as_str().into());
        }
        let t = Instant::now();
        for e in &batch {
            engine.observe(e);
        }
        t_engine += t.elapsed();
        let t = Instant::now();
        for e in &batch {
            summary.observe(e);
        }
        t_summary += t.elapsed();
        n += batch.len() as u64;
    }
    let t = Instant::now();
    let (findings, _) = engine.finish();
    t_engine += t.elapsed();
    let t = Instant::now();
    let mut html = Vec::new();
    render(&mut html, &summary, &findings, &ReportMeta::default()).unwrap();
    let t_render = t.elapsed();
    let report = t_summary + t_render;
    println!("events: {n}, findings: {}, report: {:.1} MB", findings.len(), html.len() as f64 / 1e6);
    println!("detection engine (observe + finish): {:.2} s", t_engine.as_secs_f64());
    println!("report summary (observe): {:.2} s, render: {:.2} s", t_summary.as_secs_f64(), t_render.as_secs_f64());
    println!("report / detection: {:.3}", report.as_secs_f64() / t_engine.as_secs_f64());
}

//! `hunt --report FILE`: the HTML report, written once the findings are final.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use dnshunt_core::Finding;
use dnshunt_report::{ReportMeta, Summary};

use crate::cli::InputArgs;

pub fn write(path: &Path, summary: &Summary, findings: &[Finding], incidents: &[dnshunt_core::Incident], input: &InputArgs) -> Result<()> {
    let started = Instant::now();
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let meta = ReportMeta {
        inputs: input.paths.clone(),
        generated: Some(dnshunt_report::now_text(now_ms)),
    };
    let file = File::create(path).with_context(|| format!("creating report {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    dnshunt_report::render_with_incidents(&mut out, summary, findings, incidents, &meta)
        .and_then(|()| out.flush())
        .with_context(|| format!("writing report {}", path.display()))?;
    if !input.quiet {
        eprintln!("dnshunt: report {} written in {:.2} s", path.display(), started.elapsed().as_secs_f64());
    }
    Ok(())
}

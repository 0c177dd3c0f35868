//! `--sigma`: loading Sigma rules for `hunt` (and `sysmon-config`), the summary of what was
//! loaded and skipped on stderr (the same goes into `--summary-json` as `sigma`).

use std::path::PathBuf;

use dnshunt_sigma::{LoadReport, RuleSet};

/// Skipped rules listed one by one on stderr; the rest are counted (all are in `--summary-json`).
const SHOWN_SKIPPED: usize = 20;

/// Loads the rules under `paths` and prints what was loaded and what was skipped, and why.
pub fn load_rules(paths: &[PathBuf], quiet: bool) -> (RuleSet, LoadReport) {
    let (rules, report) = dnshunt_sigma::load(paths);
    if !quiet {
        let per_category: Vec<String> = report.loaded_by_category.iter().map(|(c, n)| format!("{n} {c}")).collect();
        eprintln!(
            "dnshunt: sigma: {} rules loaded ({}), {} correlations, {} filters from {} files; {} skipped",
            report.loaded,
            per_category.join(", "),
            report.correlations_loaded,
            report.filters_loaded,
            report.files,
            report.skipped.len()
        );
        if !report.skipped.is_empty() {
            let kinds: Vec<String> = report.skipped_by_kind().into_iter().map(|(k, n)| format!("{n} {k}")).collect();
            eprintln!("dnshunt: sigma: skipped: {}", kinds.join(", "));
            for s in report.skipped.iter().take(SHOWN_SKIPPED) {
                let what = s.title.as_deref().map(|t| format!(" \"{t}\"")).unwrap_or_default();
                eprintln!("  {}{what}: {}", s.path, s.reason);
            }
            if report.skipped.len() > SHOWN_SKIPPED {
                eprintln!("  ... and {} more (all in --summary-json)", report.skipped.len() - SHOWN_SKIPPED);
            }
        }
    }
    (rules, report)
}

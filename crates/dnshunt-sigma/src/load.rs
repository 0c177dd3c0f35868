//! Loading Sigma rules: files and directories of `.yml`, every rule either loaded or listed with
//! the reason it was not.
//!
//! This is the one place that reads rule files; what it returns (a [`RuleSet`] and a
//! [`LoadReport`]) is handed to the detector as values.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rsigma_eval::{CorrelationConfig, CorrelationEngine, Engine};
use rsigma_parser::{CorrelationRule, FilterRule, Level, SigmaCollection, SigmaRule};
use serde::Serialize;

/// The logsource categories whose events dnshunt models (product `windows`).
pub const CATEGORIES: [&str; 3] = ["dns_query", "network_connection", "process_creation"];

/// What is known about a loaded rule beyond what the engine reports on a match.
#[derive(Clone, Debug, Serialize)]
pub struct RuleMeta {
    pub id: Option<String>,
    pub title: String,
    pub path: String,
    /// `dns_query`, `network_connection`, `process_creation`, or `correlation`.
    pub category: String,
    pub level: Option<String>,
}

/// A rule (or a whole file) that is not used, and why.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub reason: String,
}

/// What loading saw.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadReport {
    pub files: usize,
    /// Detection rules loaded, per category.
    pub loaded: usize,
    pub loaded_by_category: std::collections::BTreeMap<String, usize>,
    pub correlations_loaded: usize,
    pub filters_loaded: usize,
    pub skipped: Vec<Skipped>,
}

impl LoadReport {
    /// Skipped counts per reason kind (the reason up to its first `:`), for a short summary.
    pub fn skipped_by_kind(&self) -> Vec<(String, usize)> {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for s in &self.skipped {
            let kind = s.reason.split(':').next().unwrap_or(&s.reason).to_owned();
            *counts.entry(kind).or_default() += 1;
        }
        let mut out: Vec<(String, usize)> = counts.into_iter().collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }
}

/// Loaded, compiled rules ready for [`crate::SigmaDetector`].
pub struct RuleSet {
    /// Detection, one engine per category: an event is evaluated only against the rules of its
    /// own category, and the per-engine candidate index stays small (most events are DNS
    /// queries, and few rules are).
    pub(crate) engines: HashMap<&'static str, Engine>,
    /// Correlation state, only when correlation rules were loaded; it is fed the detections.
    pub(crate) correlation: Option<CorrelationEngine>,
    /// By rule id (or title for rules without one).
    pub(crate) meta: HashMap<String, RuleMeta>,
    pub(crate) n_rules: usize,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet").field("rules", &self.n_rules).finish()
    }
}

impl RuleSet {
    /// Number of detection and correlation rules loaded.
    pub fn len(&self) -> usize {
        self.n_rules
    }

    pub fn is_empty(&self) -> bool {
        self.n_rules == 0
    }

    /// The loaded rules (detection and correlation), in no particular order.
    pub fn loaded_rules(&self) -> impl Iterator<Item = &RuleMeta> {
        self.meta.values()
    }

    pub(crate) fn meta_of(&self, id: Option<&str>, title: &str) -> Option<&RuleMeta> {
        self.meta.get(id.unwrap_or(title))
    }
}

/// Every `.yml`/`.yaml` file under the given files and directories, sorted, so the result does
/// not depend on directory order. Paths that cannot be read are reported as skipped.
fn rule_files(paths: &[PathBuf], skipped: &mut Vec<Skipped>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_file() {
            files.push(path.clone());
            continue;
        }
        if !path.is_dir() {
            skipped.push(file_problem(path, "unreadable: no such file or directory".to_owned()));
            continue;
        }
        for entry in walkdir::WalkDir::new(path).follow_links(true) {
            match entry {
                Ok(e) if e.file_type().is_file() => {
                    let is_yaml = e
                        .path()
                        .extension()
                        .and_then(|x| x.to_str())
                        .is_some_and(|x| x.eq_ignore_ascii_case("yml") || x.eq_ignore_ascii_case("yaml"));
                    if is_yaml {
                        files.push(e.into_path());
                    }
                }
                Ok(_) => {}
                Err(err) => skipped.push(file_problem(err.path().unwrap_or(path), format!("unreadable: {err}"))),
            }
        }
    }
    files.sort();
    files.dedup();
    files
}

fn file_problem(path: &Path, reason: String) -> Skipped {
    Skipped {
        path: path.display().to_string(),
        id: None,
        title: None,
        reason,
    }
}

/// Why a rule's logsource is not one dnshunt reads, or `None` when it is.
fn unsupported_logsource(rule: &SigmaRule) -> Option<String> {
    let ls = &rule.logsource;
    let product_ok = ls.product.as_deref().is_some_and(|p| p.eq_ignore_ascii_case("windows"));
    let category_ok = ls.category.as_deref().is_some_and(|c| CATEGORIES.iter().any(|k| c.eq_ignore_ascii_case(k)));
    if product_ok && category_ok && ls.service.is_none() {
        return None;
    }
    let mut parts = Vec::new();
    for (key, value) in [("product", &ls.product), ("category", &ls.category), ("service", &ls.service)] {
        if let Some(v) = value {
            parts.push(format!("{key} {v}"));
        }
    }
    Some(format!(
        "unsupported logsource: {} (dnshunt reads product windows, category dns_query, network_connection or process_creation)",
        if parts.is_empty() { "none".to_owned() } else { parts.join(", ") }
    ))
}

/// Loads every rule under `paths`. Never fails: whatever cannot be used is in the report.
pub fn load(paths: &[PathBuf]) -> (RuleSet, LoadReport) {
    let mut skipped = Vec::new();
    let files = rule_files(paths, &mut skipped);
    let mut texts = Vec::with_capacity(files.len());
    for file in &files {
        match std::fs::read_to_string(file) {
            Ok(t) => texts.push((file.display().to_string(), t)),
            Err(err) => skipped.push(file_problem(file, format!("unreadable: {err}"))),
        }
    }
    let (rules, mut report) = load_texts(&texts);
    report.files = files.len();
    skipped.append(&mut report.skipped);
    report.skipped = skipped;
    (rules, report)
}

/// Loads rules from (name, YAML text) pairs: what [`load`] does once the files are read.
pub fn load_texts(texts: &[(String, String)]) -> (RuleSet, LoadReport) {
    let mut report = LoadReport {
        files: texts.len(),
        ..LoadReport::default()
    };
    let mut rules: Vec<(SigmaRule, RuleMeta)> = Vec::new();
    let mut correlations: Vec<(CorrelationRule, String)> = Vec::new();
    let mut filters: Vec<(FilterRule, String)> = Vec::new();
    for (shown, text) in texts {
        let file = Path::new(shown);
        let collection = match rsigma_parser::parse_sigma_yaml(text) {
            Ok(c) => c,
            Err(err) => {
                report.skipped.push(file_problem(file, format!("parse error: {err}")));
                continue;
            }
        };
        for err in &collection.errors {
            report.skipped.push(file_problem(file, format!("parse error: {err}")));
        }
        let SigmaCollection {
            rules: file_rules,
            correlations: file_correlations,
            filters: file_filters,
            ..
        } = collection;
        for rule in file_rules {
            let skip = |reason: String| Skipped {
                path: shown.clone(),
                id: rule.id.clone(),
                title: Some(rule.title.clone()),
                reason,
            };
            if let Some(reason) = unsupported_logsource(&rule) {
                report.skipped.push(skip(reason));
                continue;
            }
            if let Err(err) = rsigma_eval::compile_rule(&rule) {
                report.skipped.push(skip(format!("compile error: {err}")));
                continue;
            }
            let meta = RuleMeta {
                id: rule.id.clone(),
                title: rule.title.clone(),
                path: shown.clone(),
                category: rule.logsource.category.clone().unwrap_or_default().to_ascii_lowercase(),
                level: rule.level.as_ref().map(|l| level_name(l).to_owned()),
            };
            rules.push((rule, meta));
        }
        correlations.extend(file_correlations.into_iter().map(|c| (c, shown.clone())));
        filters.extend(file_filters.into_iter().map(|f| (f, shown.clone())));
    }

    let mut engine = CorrelationEngine::new(CorrelationConfig::default());
    let mut meta: HashMap<String, RuleMeta> = HashMap::new();
    let mut known_refs: Vec<String> = Vec::new();
    let mut loaded = SigmaCollection::new();
    for (rule, rule_meta) in rules {
        let key = rule.id.clone().unwrap_or_else(|| rule.title.clone());
        if let Some(first) = meta.get(&key) {
            report.skipped.push(Skipped {
                path: rule_meta.path.clone(),
                id: rule.id.clone(),
                title: Some(rule.title.clone()),
                reason: format!("duplicate: the same rule id was loaded from {}", first.path),
            });
            continue;
        }
        known_refs.extend(rule.id.iter().cloned());
        known_refs.extend(rule.name.iter().cloned());
        *report.loaded_by_category.entry(rule_meta.category.clone()).or_default() += 1;
        meta.insert(key, rule_meta);
        loaded.rules.push(rule);
    }
    report.loaded = loaded.rules.len();
    let mut engines: HashMap<&'static str, Engine> = HashMap::new();
    for category in CATEGORIES {
        let mut part = SigmaCollection::new();
        part.rules = loaded
            .rules
            .iter()
            .filter(|r| r.logsource.category.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(category)))
            .cloned()
            .collect();
        let mut cat_engine = Engine::new();
        // Compiled one by one above: cannot fail; the correlation engine below reports if it does.
        let _ = cat_engine.add_collection(&part);
        engines.insert(category, cat_engine);
    }
    // The rules were compiled one by one above, so adding them cannot fail; if it did, nothing
    // would match, and that is reported rather than hidden.
    if let Err(err) = engine.add_collection(&loaded) {
        for rule in &loaded.rules {
            report.skipped.push(Skipped {
                path: meta.get(rule.id.as_deref().unwrap_or(&rule.title)).map(|m| m.path.clone()).unwrap_or_default(),
                id: rule.id.clone(),
                title: Some(rule.title.clone()),
                reason: format!("compile error: {err}"),
            });
        }
        report.loaded = 0;
        report.loaded_by_category.clear();
        meta.clear();
    }

    for (filter, path) in filters {
        let one = SigmaCollection {
            filters: vec![filter.clone()],
            ..SigmaCollection::new()
        };
        let mut result = engine.add_collection(&one);
        for cat_engine in engines.values_mut() {
            if result.is_ok() {
                result = cat_engine.apply_filter(&filter);
            }
        }
        match result {
            Ok(()) => report.filters_loaded += 1,
            Err(err) => report.skipped.push(Skipped {
                path,
                id: filter.id.clone(),
                title: Some(filter.title.clone()),
                reason: format!("filter error: {err}"),
            }),
        }
    }

    // Correlations may refer to each other: add them in rounds until no more resolve.
    let mut pending = correlations;
    loop {
        let before = pending.len();
        let mut still = Vec::new();
        for (corr, path) in pending {
            if let Some(missing) = corr.rules.iter().find(|r| !known_refs.contains(r)).cloned() {
                still.push((corr, path, format!("correlation error: refers to rule {missing}, which is not loaded")));
                continue;
            }
            match engine.add_correlation(&corr) {
                Ok(()) => {
                    known_refs.extend(corr.id.iter().cloned());
                    known_refs.extend(corr.name.iter().cloned());
                    report.correlations_loaded += 1;
                    meta.insert(
                        corr.id.clone().unwrap_or_else(|| corr.title.clone()),
                        RuleMeta {
                            id: corr.id.clone(),
                            title: corr.title.clone(),
                            path,
                            category: "correlation".to_owned(),
                            level: corr.level.as_ref().map(|l| level_name(l).to_owned()),
                        },
                    );
                }
                Err(err) => report.skipped.push(Skipped {
                    path,
                    id: corr.id.clone(),
                    title: Some(corr.title.clone()),
                    reason: format!("correlation error: {err}"),
                }),
            }
        }
        if still.len() == before || still.is_empty() {
            for (corr, path, reason) in still {
                report.skipped.push(Skipped {
                    path,
                    id: corr.id.clone(),
                    title: Some(corr.title.clone()),
                    reason,
                });
            }
            break;
        }
        pending = still.into_iter().map(|(c, p, _)| (c, p)).collect();
    }

    let n_rules = report.loaded + report.correlations_loaded;
    let correlation = (report.correlations_loaded > 0).then_some(engine);
    (
        RuleSet {
            engines,
            correlation,
            meta,
            n_rules,
        },
        report,
    )
}

pub(crate) fn level_name(level: &Level) -> &'static str {
    level.as_str()
}

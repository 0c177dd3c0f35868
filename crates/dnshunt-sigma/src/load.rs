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

/// The largest rule file read. Sigma rules are a few kilobytes (SigmaHQ's largest are tens); a
/// larger file is skipped with "rule file larger than 1 MiB" before it is parsed. Compiling a
/// rule's value lists takes time that grows faster than their length (a 1 MiB list takes about
/// 1.5 s, 2 MiB about 5 s), which this bounds too.
pub const MAX_RULE_FILE_BYTES: u64 = 1 << 20;

/// The deepest nesting of YAML flow collections (`[...]`, `{...}`) in a rule file. The YAML
/// parser's time grows with the square of this depth (a rule nested 100,000 deep took 20-29 s to
/// be refused); rules nest a few levels. Deeper files are skipped with "nested more than 64 deep"
/// by a linear scan before parsing. (Block nesting by indentation is refused by the YAML parser
/// itself beyond 128 levels, in linear time.)
pub const MAX_RULE_NESTING: usize = 64;

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
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() => {
                files.push(path.clone());
                continue;
            }
            Ok(meta) if meta.is_dir() => {}
            // A FIFO would block the loader until something writes to it.
            Ok(_) => {
                skipped.push(file_problem(path, NOT_REGULAR.to_owned()));
                continue;
            }
            Err(err) => {
                skipped.push(file_problem(path, format!("unreadable: {err}")));
                continue;
            }
        }
        for entry in walkdir::WalkDir::new(path).follow_links(true) {
            match entry {
                Ok(e) if e.file_type().is_dir() => {}
                Ok(e) if !e.file_type().is_file() => {
                    if has_yaml_extension(e.path()) {
                        skipped.push(file_problem(e.path(), NOT_REGULAR.to_owned()));
                    }
                }
                Ok(e) => {
                    if has_yaml_extension(e.path()) {
                        files.push(e.into_path());
                    }
                }
                Err(err) => skipped.push(file_problem(err.path().unwrap_or(path), format!("unreadable: {err}"))),
            }
        }
    }
    files.sort();
    files.dedup();
    files
}

/// Why a FIFO, socket or device is not read as a rule file.
const NOT_REGULAR: &str = "unreadable: not a regular file (a FIFO, socket or device could block or never end)";

fn has_yaml_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|x| x.to_str())
        .is_some_and(|x| x.eq_ignore_ascii_case("yml") || x.eq_ignore_ascii_case("yaml"))
}

/// Reads a rule file, refusing one that is not a regular file or is larger than
/// [`MAX_RULE_FILE_BYTES`] before reading it.
fn read_rule_file(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let too_large = |len: u64| format!("rule file larger than {} MiB ({len} bytes): not parsed", MAX_RULE_FILE_BYTES >> 20);
    let mut file = std::fs::File::open(path).map_err(|err| format!("unreadable: {err}"))?;
    let meta = file.metadata().map_err(|err| format!("unreadable: {err}"))?;
    if !meta.is_file() {
        return Err(NOT_REGULAR.to_owned());
    }
    if meta.len() > MAX_RULE_FILE_BYTES {
        return Err(too_large(meta.len()));
    }
    // The file may have grown since: read no more than the limit allows.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    (&mut file)
        .take(MAX_RULE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| format!("unreadable: {err}"))?;
    if bytes.len() as u64 > MAX_RULE_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|err| format!("unreadable: not UTF-8 text ({err})"))
}

/// Why a rule text is not parsed at all: too large, or nested too deeply (see the limits).
fn refuse_before_parsing(text: &str) -> Option<String> {
    if text.len() as u64 > MAX_RULE_FILE_BYTES {
        return Some(format!("rule file larger than {} MiB ({} bytes): not parsed", MAX_RULE_FILE_BYTES >> 20, text.len()));
    }
    if flow_depth_exceeds(text, MAX_RULE_NESTING) {
        return Some(format!(
            "parse error: YAML nested more than {MAX_RULE_NESTING} deep ([ ] or {{ }} inside each other): not parsed"
        ));
    }
    None
}

/// Whether the YAML flow collections (`[...]`, `{...}`) of `text` nest deeper than `limit`,
/// found in one pass without parsing: quoted scalars, comments and block scalars (`|`, `>`) are
/// skipped, and in block context a bracket counts only where a value starts (inside a plain
/// scalar such as `a[1]` it is text).
fn flow_depth_exceeds(text: &str, limit: usize) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    // In block context: at the start of a value (where `[` or `{` opens a flow collection).
    let mut value_start = true;
    // In a block scalar: the indentation of the line that opened it.
    let mut block_scalar: Option<usize> = None;
    let mut line_start = true;
    while i < bytes.len() {
        if line_start && depth == 0 {
            line_start = false;
            let indent = bytes[i..].iter().take_while(|&&b| b == b' ').count();
            let rest = &bytes[i + indent..];
            let blank = rest.first().is_none_or(|&b| b == b'\n' || b == b'\r');
            if let Some(parent) = block_scalar {
                if blank || indent > parent {
                    i = (skip_line(bytes, i) + 1).min(bytes.len());
                    line_start = true;
                    continue;
                }
                block_scalar = None;
            }
            i += indent;
            value_start = true;
            continue;
        }
        let b = bytes[i];
        if b == b'\n' {
            i += 1;
            line_start = true;
            continue;
        }
        if depth > 0 {
            line_start = false;
            match b {
                b'[' | b'{' => {
                    depth += 1;
                    if depth > limit {
                        return true;
                    }
                }
                b']' | b'}' => {
                    depth -= 1;
                    value_start = false;
                }
                b'\'' | b'"' => {
                    i = skip_quoted(bytes, i);
                    continue;
                }
                b'#' if i > 0 && bytes[i - 1].is_ascii_whitespace() => {
                    i = skip_line(bytes, i);
                    continue;
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        // Block context.
        match b {
            b' ' | b'\t' | b'\r' => i += 1,
            b'#' if value_start || i == 0 || bytes[i - 1].is_ascii_whitespace() => i = skip_line(bytes, i),
            b'[' | b'{' if value_start => {
                depth = 1;
                if depth > limit {
                    return true;
                }
                i += 1;
            }
            b'\'' | b'"' if value_start => {
                i = skip_quoted(bytes, i);
                value_start = false;
            }
            b'|' | b'>' if value_start => {
                let line_begin = bytes[..i].iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1);
                let indent = bytes[line_begin..].iter().take_while(|&&c| c == b' ').count();
                block_scalar = Some(indent);
                i = skip_line(bytes, i);
            }
            // Sequence entries and explicit keys: a value starts after them.
            b'-' | b'?' if value_start && bytes.get(i + 1).is_none_or(|c| c.is_ascii_whitespace()) => i += 1,
            // Anchors and tags come before a value.
            b'&' | b'!' if value_start => {
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
            }
            b':' if bytes.get(i + 1).is_none_or(|c| c.is_ascii_whitespace()) => {
                value_start = true;
                i += 1;
            }
            _ => {
                value_start = false;
                i += 1;
            }
        }
    }
    false
}

/// The index after the end of the line holding `i` (its newline stays to be seen).
fn skip_line(bytes: &[u8], i: usize) -> usize {
    bytes[i..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| i + p)
}

/// The index after the quoted scalar opening at `i` (`'...'` with `''`, `"..."` with `\`).
fn skip_quoted(bytes: &[u8], i: usize) -> usize {
    let quote = bytes[i];
    let mut j = i + 1;
    while j < bytes.len() {
        let c = bytes[j];
        if quote == b'"' && c == b'\\' {
            j += 2;
            continue;
        }
        if c == quote {
            if quote == b'\'' && bytes.get(j + 1) == Some(&b'\'') {
                j += 2;
                continue;
            }
            return j + 1;
        }
        j += 1;
    }
    bytes.len()
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
        match read_rule_file(file) {
            Ok(t) => texts.push((file.display().to_string(), t)),
            Err(reason) => skipped.push(file_problem(file, reason)),
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
        if let Some(reason) = refuse_before_parsing(text) {
            report.skipped.push(file_problem(file, reason));
            continue;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    const RULE: &str = "title: Suspicious lookup
id: 0d8d4a3e-1111-4a4a-9c9c-000000000001
logsource:
  product: windows
  category: dns_query
detection:
  selection:
    QueryName|endswith:
      - '.example.org'
      - \"[weird]{name}\"
    Image|contains: a[1]{2}   # a comment with [ and {
  filter: {Image: [a, b, {c: [d]}]}
  condition: selection and not filter
description: |
  Text with [ brackets { that never close
  and more [[[[
level: high
";

    #[test]
    fn flow_depth_is_measured_without_parsing() {
        assert!(!flow_depth_exceeds(RULE, 4));
        assert!(flow_depth_exceeds(RULE, 3), "filter nests four deep");
        let deep = format!("a: {}1{}\n", "[".repeat(65), "]".repeat(65));
        assert!(flow_depth_exceeds(&deep, MAX_RULE_NESTING));
        let ok = format!("a: {}1{}\n", "[".repeat(64), "]".repeat(64));
        assert!(!flow_depth_exceeds(&ok, MAX_RULE_NESTING));
        // Multi-line flow collections, quoted scalars across lines, `''` in single quotes.
        assert!(!flow_depth_exceeds("a: [1,\n  2, '[[''[',\n  \"[\\\"[\"]\nb: c\n", 1));
        // The sample rule loads.
        let (rules, report) = load_texts(&[("rule.yml".to_owned(), RULE.to_owned())]);
        assert_eq!(rules.len(), 1, "{:?}", report.skipped);
    }

    #[test]
    fn a_rule_nested_100000_deep_is_refused_in_milliseconds() {
        for deep in [
            format!(
                "title: t\ndetection:\n  sel:\n    QueryName: {}1{}\n  condition: sel\n",
                "[".repeat(100_000),
                "]".repeat(100_000)
            ),
            format!("title: t\ndetection:\n  sel: {}1{}\n", "{a: ".repeat(100_000), "}".repeat(100_000)),
        ] {
            let started = Instant::now();
            let (rules, report) = load_texts(&[("deep.yml".to_owned(), deep)]);
            let took = started.elapsed();
            println!("refused in {took:?}");
            assert!(rules.is_empty());
            assert_eq!(report.skipped.len(), 1);
            assert!(report.skipped[0].reason.contains("nested more than 64 deep"), "{}", report.skipped[0].reason);
            // Milliseconds in a release build; generous for debug builds on a busy machine.
            assert!(took < Duration::from_millis(500), "took {took:?}");
        }
    }

    #[test]
    fn a_rule_file_over_the_size_limit_is_refused() {
        let mut big = RULE.to_owned();
        while (big.len() as u64) <= MAX_RULE_FILE_BYTES {
            big.push_str("# padding padding padding padding padding padding padding padding\n");
        }
        let started = Instant::now();
        let (rules, report) = load_texts(&[("big.yml".to_owned(), big.clone())]);
        assert!(rules.is_empty());
        assert!(report.skipped[0].reason.starts_with("rule file larger than 1 MiB"), "{}", report.skipped[0].reason);
        assert!(started.elapsed() < Duration::from_millis(500));

        // From disk: refused from its size, before it is read.
        let dir = std::env::temp_dir().join(format!("dnshunt-sigma-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("big.yml"), &big).unwrap();
        std::fs::write(dir.join("ok.yml"), RULE).unwrap();
        let (rules, report) = load(std::slice::from_ref(&dir));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(rules.len(), 1);
        assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
        assert!(report.skipped[0].path.ends_with("big.yml"));
        assert!(report.skipped[0].reason.starts_with("rule file larger than 1 MiB"));
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_not_waited_on() {
        let dir = std::env::temp_dir().join(format!("dnshunt-sigma-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("rule.yml");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            println!("skipped: mkfifo is not available");
            return;
        }
        std::fs::write(dir.join("ok.yml"), RULE).unwrap();
        // Named directly, and found in a directory: both refused at once.
        for paths in [vec![fifo.clone(), dir.join("ok.yml")], vec![dir.clone()]] {
            let started = Instant::now();
            let (rules, report) = load(&paths);
            assert!(started.elapsed() < Duration::from_secs(2));
            assert_eq!(rules.len(), 1);
            assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
            assert!(report.skipped[0].reason.contains("not a regular file"), "{}", report.skipped[0].reason);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

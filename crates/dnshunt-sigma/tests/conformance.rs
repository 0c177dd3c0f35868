//! Sigma conformance against the SigmaHQ rules and regression data in the shared data folder:
//! every rule file is loaded or listed with a reason, every regression case matches its rule on
//! its `.evtx` and on its `.json`, and the same rules do not match unrelated events (our seed
//! fixtures). The rules are compiled once for all cases.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dnshunt_core::Event;
use dnshunt_sigma::SigmaDetector;
use dnshunt_source::{Input, Message, ReadOptions};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");
const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/seed");

fn data_dir() -> Option<PathBuf> {
    let dir = Path::new(DATA).join("sigma");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(std::env::var_os("CI").is_none(), "{} missing", dir.display());
    println!("skipped: {} missing", dir.display());
    None
}

/// Every event of one input, with the number of bad records.
fn read_events(path: &Path) -> (Vec<Event>, u64) {
    let (rx, handle) = dnshunt_source::spawn(vec![Input::from_arg(&path.display().to_string())], ReadOptions::default());
    let mut events = Vec::new();
    let mut bad = 0;
    for msg in rx {
        match msg {
            Message::Batch { events: batch, counts, .. } => {
                events.extend(batch);
                bad += counts.bad_records;
            }
            Message::Skipped { .. } | Message::FileError { .. } => bad += 1,
            _ => {}
        }
    }
    handle.join().expect("reader thread");
    (events, bad)
}

fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_with_extension(&path, ext));
        } else if path.extension().is_some_and(|x| x == ext) {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The rule id a regression case tests: the first `id:` under `rule_metadata:` in its info.yml.
fn case_rule_id(info: &Path) -> String {
    let text = std::fs::read_to_string(info).expect("info.yml");
    let mut in_meta = false;
    for line in text.lines() {
        if line.starts_with("rule_metadata:") {
            in_meta = true;
        } else if in_meta {
            if let Some(id) = line.trim_start().trim_start_matches("- ").strip_prefix("id:") {
                return id.trim().trim_matches(['\'', '"']).to_owned();
            }
        }
    }
    panic!("no rule id in {}", info.display());
}

fn matched_ids(detector: &mut SigmaDetector, events: &[Event]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for event in events {
        for result in detector.evaluate(event) {
            ids.insert(result.header.rule_id.clone().unwrap_or(result.header.rule_title.clone()));
        }
    }
    ids
}

#[test]
fn sigmahq_rules_and_regression_cases() {
    let Some(dir) = data_dir() else { return };
    let rule_dirs: Vec<PathBuf> = ["rules", "rules-emerging-threats", "rules-threat-hunting"].iter().map(|d| dir.join(d)).collect();
    let (rules, report) = dnshunt_sigma::load(&rule_dirs);
    let all_files: Vec<PathBuf> = rule_dirs.iter().flat_map(|d| files_with_extension(d, "yml")).collect();
    assert_eq!(report.files, all_files.len());

    // Every file is accounted for: it holds a loaded rule or is listed with a reason.
    let loaded_paths: BTreeSet<&str> = rules.loaded_rules().map(|m| m.path.as_str()).collect();
    let skipped_paths: BTreeSet<&str> = report.skipped.iter().map(|s| s.path.as_str()).collect();
    for file in &all_files {
        let shown = file.display().to_string();
        assert!(
            loaded_paths.contains(shown.as_str()) || skipped_paths.contains(shown.as_str()),
            "{shown} neither loaded nor listed"
        );
    }
    for s in &report.skipped {
        assert!(!s.reason.is_empty());
    }
    println!(
        "sigma: {} files, {} rules loaded {:?}, {} correlations, {} skipped {:?}",
        report.files,
        report.loaded,
        report.loaded_by_category,
        report.correlations_loaded,
        report.skipped.len(),
        report.skipped_by_kind()
    );
    for s in report.skipped.iter().filter(|s| !s.reason.starts_with("unsupported logsource")) {
        println!("  skipped {}: {}", s.path, s.reason);
    }

    let mut detector = SigmaDetector::new(rules);
    let cases = files_with_extension(&dir.join("regression_data"), "yml");
    let cases: Vec<PathBuf> = cases.into_iter().filter(|p| p.file_name().is_some_and(|n| n == "info.yml")).collect();
    assert_eq!(cases.len(), 136, "regression cases");
    let mut failures = Vec::new();
    let mut case_rule_ids = BTreeSet::new();
    let (mut evtx_ok, mut json_ok) = (0, 0);
    let mut matched_per_case: Vec<(String, BTreeSet<String>)> = Vec::new();
    for info in &cases {
        let id = case_rule_id(info);
        case_rule_ids.insert(id.clone());
        let case_dir = info.parent().expect("case folder");
        for ext in ["evtx", "json"] {
            let inputs = files_with_extension(case_dir, ext);
            assert!(!inputs.is_empty(), "{} has no .{ext}", case_dir.display());
            let mut events = Vec::new();
            for input in &inputs {
                let (mut e, bad) = read_events(input);
                assert_eq!(bad, 0, "{} has bad records", input.display());
                events.append(&mut e);
            }
            let matched = matched_ids(&mut detector, &events);
            if ext == "evtx" {
                matched_per_case.push((id.clone(), matched.clone()));
            }
            if matched.contains(&id) {
                if ext == "evtx" {
                    evtx_ok += 1;
                } else {
                    json_ok += 1;
                }
            } else {
                failures.push(format!("{} ({ext}, {} events): rule {id} did not match", case_dir.display(), events.len()));
            }
        }
    }
    println!("regression: {evtx_ok}/{} matched on .evtx, {json_ok}/{} on .json", cases.len(), cases.len());
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));

    // Negative across cases: a case's rule rarely matches the events of the other cases (some
    // rules overlap legitimately, e.g. two rules for the same tool).
    let mut cross = 0;
    for (i, (id, _)) in matched_per_case.iter().enumerate() {
        cross += matched_per_case
            .iter()
            .enumerate()
            .filter(|(j, (other_id, m))| *j != i && other_id != id && m.contains(id))
            .count();
    }
    let pairs = matched_per_case.len() * (matched_per_case.len() - 1);
    println!("cross-matches: {cross} of {pairs} (rule, other case) pairs");
    assert!(cross * 50 < pairs, "{cross} cross-matches of {pairs}");

    // Negative: the rules of the regression cases do not match our seed fixtures (ping, nslookup,
    // Resolve-DnsName, a browser), which are ordinary activity.
    let (seed_events, _) = read_events(Path::new(SEED));
    assert!(seed_events.len() >= 10, "seed fixtures");
    let seed_hits = matched_ids(&mut detector, &seed_events);
    let wrong: Vec<&String> = seed_hits.intersection(&case_rule_ids).collect();
    assert!(wrong.is_empty(), "regression rules matched seed events: {wrong:?}");
}

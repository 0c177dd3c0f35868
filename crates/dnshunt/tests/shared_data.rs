//! Real third-party data beside the repository (`../shared/data`): every event file listed in a
//! `SOURCE.md` must give exactly the EID 1/3/22 (and 5, and other Sysmon) counts written there,
//! with no bad record; the Sigma regression cases must give the same events as EVTX and as the
//! `evtx` crate's JSON.
//!
//! Without the data the tests print "skipped" and pass, unless `CI` is set.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{events, shared_data_or_skip, Counts, ReadSummary};

/// Sysmon event id → count, parsed from `{1: 31, 3: 112, 22: 31}` or `{1:3, 5:2}`.
type IdCounts = BTreeMap<u32, u64>;

fn parse_counts(text: &str) -> IdCounts {
    // Python's dict notation (`{'1': 12, '3': 65}`) too.
    let text = text.replace('\'', "");
    let inner = text.trim().trim_start_matches('{').trim_end_matches('}');
    inner
        .split(',')
        .filter(|item| !item.trim().is_empty())
        .map(|item| {
            let (id, n) = item.split_once(':').unwrap_or_else(|| panic!("not `id: count`: {item:?} in {text:?}"));
            (id.trim().parse().unwrap(), n.trim().parse().unwrap())
        })
        .collect()
}

/// The cells of the rows of the Markdown tables in `text` (header and separator rows excluded).
fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("| file"))
        .map(|l| l.trim().trim_matches('|').split('|').map(|c| c.trim().to_owned()).collect())
        .collect()
}

/// What a SOURCE.md says one file must give.
#[derive(Debug)]
struct Expected {
    path: PathBuf,
    /// Counts for the modelled ids (1, 3, 5, 22) and, when `all_ids`, every other Sysmon id.
    counts: IdCounts,
    /// True when `counts` lists every Sysmon event id of the file (so `other_sysmon` is exact).
    all_ids: bool,
}

/// Compares a file's (or archive's) counts with what SOURCE.md says.
fn check(expected: &Expected, got: &Counts, source: &str) -> Result<(), String> {
    let want = |id| expected.counts.get(&id).copied().unwrap_or(0);
    let name = expected.path.file_name().unwrap().to_string_lossy();
    let pairs = [
        ("EID 1", got.process_create, want(1)),
        ("EID 3", got.network_connect, want(3)),
        ("EID 22", got.dns_query, want(22)),
        ("EID 5", got.process_terminate, want(5)),
        ("bad records", got.bad_records, 0),
        ("field warnings", got.warnings, 0),
    ];
    for (what, got_n, want_n) in pairs {
        if got_n != want_n {
            return Err(format!("{source}: {name}: {what}: read {got_n}, SOURCE.md says {want_n}"));
        }
    }
    if expected.all_ids {
        let others: BTreeMap<String, u64> = expected
            .counts
            .iter()
            .filter(|(id, _)| ![1, 3, 5, 22].contains(*id))
            .map(|(id, n)| (id.to_string(), *n))
            .collect();
        if got.other_sysmon != others {
            return Err(format!("{source}: {name}: other Sysmon ids: read {:?}, SOURCE.md says {others:?}", got.other_sysmon));
        }
    } else if !got.other_sysmon.is_empty() || got.not_sysmon != 0 {
        return Err(format!(
            "{source}: {name}: holds only EID 1/3/22 but read {:?} and {} non-Sysmon",
            got.other_sysmon, got.not_sysmon
        ));
    }
    Ok(())
}

/// The counts of `path` in a run's summary: the file itself, or all members of an archive.
fn counts_of(read: &ReadSummary, path: &Path) -> Counts {
    let name = path.to_string_lossy();
    let member_prefix = format!("{name}!");
    let files: Vec<_> = read.files.iter().filter(|f| f.name == name || f.name.starts_with(&member_prefix)).collect();
    assert!(!files.is_empty(), "{name} not in the summary: {:?}", read.files.iter().map(|f| &f.name).collect::<Vec<_>>());
    for f in &files {
        assert_eq!(f.error, None, "{}: unreadable", f.name);
    }
    let mut sum = Counts::default();
    for f in files {
        let c = &f.counts;
        sum.dns_query += c.dns_query;
        sum.process_create += c.process_create;
        sum.network_connect += c.network_connect;
        sum.process_terminate += c.process_terminate;
        for (id, n) in &c.other_sysmon {
            *sum.other_sysmon.entry(id.clone()).or_default() += n;
        }
        sum.not_sysmon += c.not_sysmon;
        sum.bad_records += c.bad_records;
        sum.warnings += c.warnings;
        sum.filtered_out += c.filtered_out;
    }
    sum
}

/// Reads `expected` files in one run and checks each; returns every mismatch.
fn read_and_check(source: &str, expected: &[Expected]) -> (Vec<String>, ReadSummary) {
    let paths: Vec<&PathBuf> = expected.iter().map(|e| &e.path).collect();
    let run = events(&paths, &["-q"]);
    run.assert_exit(0);
    let read = run.read();
    let mut errors = Vec::new();
    if read.file_errors != 0 {
        errors.push(format!("{source}: file errors: {:?}", read.examples));
    }
    for e in expected {
        if let Err(msg) = check(e, &counts_of(&read, &e.path), source) {
            errors.push(msg);
        }
    }
    // The events printed are the events counted.
    assert_eq!(run.json_lines().len() as u64, read.totals.events(), "{source}");
    (errors, read)
}

/// What the rows of a `| file | source | original | kept |` table say: each file gives exactly
/// the `kept` counts (EID 1/3/5/22 of the file here).
fn expected_kept(dir: &Path, rows: &[Vec<String>]) -> Vec<Expected> {
    rows.iter()
        .map(|row| {
            assert_eq!(row.len(), 4, "{row:?}");
            Expected {
                path: dir.join(&row[0]),
                counts: parse_counts(&row[3]),
                all_ids: false,
            }
        })
        .collect()
}

/// Files of `dir` (recursively) with one of `extensions`.
fn event_files(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if extensions.iter().any(|ext| path.to_string_lossy().ends_with(ext)) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn security_datasets_counts_match_source_md() {
    let Some(data) = shared_data_or_skip("security_datasets_counts_match_source_md") else {
        return;
    };
    let dir = data.join("security-datasets");
    let source = std::fs::read_to_string(dir.join("SOURCE.md")).unwrap();
    let rows = table_rows(&source);
    assert_eq!(rows.len(), 17, "rows of the security-datasets table");
    let mut expected = expected_kept(&dir, &rows);
    // The untouched original archives: the ORIGINAL column counts every Sysmon id in them.
    for archive in event_files(&dir.join("original"), &[".zip"]) {
        let zip_name = archive.file_name().unwrap().to_string_lossy().into_owned();
        let row = rows
            .iter()
            .find(|r| r[1].contains(&format!("/{zip_name}`")))
            .unwrap_or_else(|| panic!("original/{zip_name} has no row in SOURCE.md"));
        expected.push(Expected {
            path: archive,
            counts: parse_counts(&row[2]),
            all_ids: true,
        });
    }
    assert_eq!(expected.len(), 18);
    // Every event file on disk is listed.
    let listed: Vec<&PathBuf> = expected.iter().map(|e| &e.path).collect();
    for file in event_files(&dir, &[".jsonl", ".json", ".zip", ".gz"]) {
        assert!(listed.contains(&&file), "{} is not in SOURCE.md", file.display());
    }
    let (errors, read) = read_and_check("security-datasets", &expected);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    // Totals from SOURCE.md: 1795 EID 22 kept (plus the 205 of the original archive).
    assert_eq!(read.totals.dns_query, 1795 + 205);
    // The original archive holds every channel: the others are counted as not Sysmon.
    let original = expected.iter().find(|e| e.all_ids).unwrap();
    assert!(counts_of(&read, &original.path).not_sysmon > 0);
}

/// The 70 further OTRF recordings: one of them (Log4Shell) is Microsoft Sentinel's
/// `WindowsEvent` shape, whose `EventData` is a JSON object written as a string.
#[test]
fn security_datasets_more_counts_match_source_md() {
    let Some(data) = shared_data_or_skip("security_datasets_more_counts_match_source_md") else {
        return;
    };
    let dir = data.join("security-datasets-more");
    let source = std::fs::read_to_string(dir.join("SOURCE.md")).unwrap();
    let rows = table_rows(&source);
    assert_eq!(rows.len(), 70, "rows of the security-datasets-more table");
    let expected = expected_kept(&dir, &rows);
    let listed: Vec<&PathBuf> = expected.iter().map(|e| &e.path).collect();
    for file in event_files(&dir, &[".jsonl", ".json", ".zip", ".gz"]) {
        assert!(listed.contains(&&file), "{} is not in SOURCE.md", file.display());
    }
    let (errors, _) = read_and_check("security-datasets-more", &expected);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn evtx_attack_samples_counts_match_source_md() {
    let Some(data) = shared_data_or_skip("evtx_attack_samples_counts_match_source_md") else {
        return;
    };
    let dir = data.join("evtx-attack-samples");
    let source = std::fs::read_to_string(dir.join("SOURCE.md")).unwrap();
    let rows = table_rows(&source);
    assert_eq!(rows.len(), 4, "rows of the evtx-attack-samples table");
    let expected: Vec<Expected> = rows
        .iter()
        .map(|row| Expected {
            path: dir.join(&row[0]),
            counts: parse_counts(&row[2]),
            all_ids: true,
        })
        .collect();
    let (errors, read) = read_and_check("evtx-attack-samples", &expected);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert!(read.files.iter().all(|f| f.format == "evtx"), "{:?}", read.files);
    assert_eq!(event_files(&dir, &[".evtx"]).len(), 4, "every EVTX here is listed");
}

/// The single-file SOURCE.md layout: `- File: \`dir/name.evtx\`` (or the one EVTX in the folder)
/// and `- Sysmon counts: {...}`.
fn single_file_source(dir: &Path) -> Expected {
    let source = std::fs::read_to_string(dir.join("SOURCE.md")).unwrap();
    let counts = source
        .lines()
        .find_map(|l| l.split_once("Sysmon counts:").map(|(_, rest)| rest.split('}').next().unwrap().to_owned()))
        .expect("a `Sysmon counts:` line");
    let named = source
        .lines()
        .find_map(|l| l.strip_prefix("- File: `"))
        .map(|rest| rest.split('`').next().unwrap().rsplit('/').next().unwrap().to_owned());
    let path = match named {
        Some(name) => dir.join(name),
        None => {
            let files = event_files(dir, &[".evtx"]);
            assert_eq!(files.len(), 1, "{}", dir.display());
            files[0].clone()
        }
    };
    assert!(path.is_file(), "{} named in SOURCE.md is missing", path.display());
    Expected {
        path,
        counts: parse_counts(&counts),
        all_ids: true,
    }
}

#[test]
fn evtx_to_mitre_attack_counts_match_source_md() {
    let Some(data) = shared_data_or_skip("evtx_to_mitre_attack_counts_match_source_md") else {
        return;
    };
    let expected = single_file_source(&data.join("evtx-to-mitre-attack"));
    // A comma and spaces in the name: one file, not split.
    assert!(expected.path.to_string_lossy().contains("ID11,13,17,18-PSexec as system execution.evtx"));
    let (errors, read) = read_and_check("evtx-to-mitre-attack", std::slice::from_ref(&expected));
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert_eq!(read.files.len(), 1);
}

#[test]
fn roeya103_counts_match_source_md() {
    let Some(data) = shared_data_or_skip("roeya103_counts_match_source_md") else { return };
    let expected = single_file_source(&data.join("roeya103-forensics-exercise"));
    let (errors, _) = read_and_check("roeya103-forensics-exercise", std::slice::from_ref(&expected));
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn roeya103_dns_queries_are_parsed() {
    let Some(data) = shared_data_or_skip("roeya103_dns_queries_are_parsed") else { return };
    let run = events(&[data.join("roeya103-forensics-exercise/sysmon.evtx")], &["-q"]);
    run.assert_exit(0);
    let dns: Vec<serde_json::Value> = run.json_lines().into_iter().filter(|e| e["event_type"] == "dns_query").collect();
    assert_eq!(dns.len(), 13);
    // SOURCE.md: www.wftpserver.com from WFTPServer.exe, a CNAME then `::ffff:` addresses.
    let wing = dns.iter().find(|e| e["query"]["name"] == "www.wftpserver.com").expect("www.wftpserver.com");
    assert!(wing["process"]["image"].as_str().unwrap().ends_with(r"\WFTPServer.exe"), "{wing}");
    assert_eq!(wing["answers"][0], serde_json::json!({"type": "CNAME", "data": "wftpserver.b-cdn.net"}));
    assert!(
        wing["answers"].as_array().unwrap().iter().any(|a| a["data"] == "169.150.247.36"),
        "::ffff: mapped IPv4 becomes IPv4"
    );
    // Failures keep their Win32 status codes.
    let codes: Vec<u64> = dns.iter().map(|e| e["status"]["code"].as_u64().unwrap()).collect();
    assert!(codes.contains(&1460) && codes.contains(&9501), "{codes:?}");
    for e in &dns {
        let guid = e["process"]["guid"].as_str().unwrap();
        assert!(guid.starts_with('{') && guid == guid.to_ascii_lowercase(), "{guid}");
    }
}

#[test]
fn sigma_regression_cases_agree_between_evtx_and_json() {
    let Some(data) = shared_data_or_skip("sigma_regression_cases_agree_between_evtx_and_json") else {
        return;
    };
    let dir = data.join("sigma/regression_data");
    let json_files: Vec<PathBuf> = event_files(&dir, &[".json"]);
    assert_eq!(json_files.len(), 136, "regression cases (SOURCE.md says 136)");
    let mut paths = Vec::new();
    for json in &json_files {
        let evtx = json.with_extension("evtx");
        assert!(evtx.is_file(), "{} has no .evtx beside it", json.display());
        paths.push(json.clone());
        paths.push(evtx);
    }
    let run = events(&paths, &["-q"]);
    run.assert_exit(0);
    let read = run.read();
    assert_eq!(read.file_errors, 0, "{:?}", read.examples);
    assert_eq!(read.totals.bad_records, 0, "{:?}", read.examples);
    assert_eq!(read.totals.warnings, 0, "{:?}", read.examples);
    let mut errors = Vec::new();
    for json in &json_files {
        let from_json = counts_of(&read, json);
        let from_evtx = counts_of(&read, &json.with_extension("evtx"));
        let case = json.strip_prefix(&dir).unwrap().display().to_string();
        if from_json != from_evtx {
            errors.push(format!("{case}: json {from_json:?} != evtx {from_evtx:?}"));
        }
        let is_process_case = case.contains("proc_creation_");
        if is_process_case && from_evtx.process_create == 0 {
            errors.push(format!("{case}: no EID 1 read"));
        }
        if from_evtx.events() == 0 {
            errors.push(format!("{case}: no event read"));
        }
        assert_eq!(read.files.iter().find(|f| f.name == json.to_string_lossy()).unwrap().format, "json", "{case}");
    }
    assert!(errors.is_empty(), "{} cases differ:\n{}", errors.len(), errors.join("\n"));
}

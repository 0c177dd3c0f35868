//! The single-query detectors end to end: `dnshunt score`, their findings on the example
//! incident, the allowlist and `--doh-list`, and the medium-or-higher budget on the real (mostly
//! benign) Security-Datasets lab recordings.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;

use common::{example, hunt, run_with, shared_data_or_skip, TempDir};
use serde_json::Value;

const MINE: [&str; 5] = ["lookalike", "encoded_name", "special_name", "doh_lookup", "process_context"];

fn score(args: &[&str], stdin: Option<&[u8]>) -> Vec<Value> {
    let mut all: Vec<&OsStr> = vec![OsStr::new("score")];
    all.extend(args.iter().map(OsStr::new));
    let run = run_with(&all, false, stdin);
    run.assert_exit(0);
    run.json_lines()
}

#[test]
fn score_prints_every_per_name_match() {
    let lines = score(&["xn--pypal-4ve.com", "xn--wgv71a119e.jp", "dns.google", "abc.onion"], None);
    assert_eq!(lines.len(), 4);
    let homograph = &lines[0];
    assert_eq!(homograph["unicode"], "pаypal.com");
    assert_eq!(homograph["registered_domain"], "xn--pypal-4ve.com");
    assert_eq!(homograph["lookalike"]["class"], "homograph");
    assert_eq!(homograph["lookalike"]["brand"], "paypal");
    assert_eq!(lines[1]["unicode"], "日本語.jp");
    assert!(lines[1]["lookalike"].is_null(), "the seed's Chrome IDN is not a homograph");
    assert_eq!(lines[2]["doh_endpoint"], "dns.google");
    assert_eq!(lines[3]["special"]["kind"], "onion");
    for line in &lines {
        for key in [
            "name",
            "labels",
            "longest_label",
            "entropy",
            "max_label_entropy",
            "dga",
            "protected",
            "encoding",
            "infrastructure",
        ] {
            assert!(line.get(key).is_some(), "{key} missing in {line}");
        }
    }
}

#[test]
fn score_reads_stdin_and_uses_the_config() {
    let dir = TempDir::new("score-config");
    let config = dir.write("dnshunt.toml", b"[detectors.lookalike]\nprotected = [\"corp-example.com\"]\n");
    let config = config.to_string_lossy().into_owned();
    let input = b"corp-exampel.com\n\nnbxxg5b5k5js2qkdinkc2mbxhn2xgzlshvvs443borxtwzdpnu.0.t.exfil-sync.net\n  www.corp-example.com  \n";
    let lines = score(&["--config", &config, "-"], Some(input));
    let names: Vec<&str> = lines.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "corp-exampel.com",
            "nbxxg5b5k5js2qkdinkc2mbxhn2xgzlshvvs443borxtwzdpnu.0.t.exfil-sync.net",
            "www.corp-example.com"
        ]
    );
    assert_eq!(lines[0]["lookalike"]["class"], "transposition");
    assert_eq!(lines[0]["lookalike"]["own_domain"], true);
    assert_eq!(lines[1]["encoding"]["severity"], "high");
    assert_eq!(lines[1]["longest_label"], 50);
    assert_eq!(lines[2]["protected"], true);
    assert!(lines[2]["lookalike"].is_null());
}

fn incident_findings(extra: &[&str]) -> (Vec<Value>, common::Run) {
    let mut args = vec!["--format", "jsonl"];
    args.extend_from_slice(extra);
    let run = hunt(&[example("incident")], &args);
    run.assert_exit(0);
    (run.json_lines(), run)
}

fn summarise(findings: &[Value]) -> BTreeSet<String> {
    findings
        .iter()
        .filter(|f| MINE.contains(&f["detector"].as_str().unwrap()))
        .map(|f| {
            let d = &f["details"];
            let what = d
                .get("class")
                .or_else(|| d.get("reason"))
                .or_else(|| d.get("endpoint"))
                .and_then(Value::as_str)
                .unwrap_or("");
            format!(
                "{} {} {} {}",
                f["detector"].as_str().unwrap(),
                f["severity"].as_str().unwrap(),
                f["query_name"].as_str().unwrap_or(""),
                what
            )
        })
        .collect()
}

#[test]
fn incident_findings_of_the_single_query_detectors() {
    let (findings, _) = incident_findings(&[]);
    let got = summarise(&findings);
    let expected: BTreeSet<String> = [
        "lookalike high xn--pypal-4ve.com homograph",
        "encoded_name high nbxxg5b5k5js2qkdinkc2mbxhn2xgzlshvvs443borxtwzdpnu.0.t.exfil-sync.net ",
        "encoded_name low q53p2ln37g4xhfqxg.com ",
        "doh_lookup medium dns.google dns.google",
        "process_context high static.docview-static.net encoded_powershell",
        "process_context high api.update-cdn-sync.com lolbin_payload",
        "process_context medium api.update-cdn-sync.com lolbin",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(got, expected);
    let exfil = findings.iter().find(|f| f["detector"] == "encoded_name" && f["severity"] == "high").unwrap();
    assert_eq!(exfil["count"], 5, "one finding for the five chunks");
    assert_eq!(exfil["attack"], serde_json::json!(["T1071.004", "T1048.003"]));
}

#[test]
fn allowlist_and_doh_list_from_files() {
    let dir = TempDir::new("allowlist");
    let config = dir.write(
        "dnshunt.toml",
        b"[allowlist]\ndomains = [\"exfil-sync.net\"]\nprocesses = [\"chrome.exe\"]\npairs = [{ process = \"RUNDLL32.EXE\", domain = \"dns.google\" }]\n",
    );
    let doh = dir.write("doh.txt", b"# our own resolver\nhttps://api.update-cdn-sync.com/dns-query\n");
    let (findings, run) = incident_findings(&["--config", &config.to_string_lossy(), "--doh-list", &doh.to_string_lossy()]);
    let got = summarise(&findings);
    assert!(
        !got.iter()
            .any(|f| f.contains("xn--pypal-4ve.com") || f.contains("exfil-sync.net") || f.contains("dns.google")),
        "{got:#?}"
    );
    assert!(got.contains("doh_lookup medium api.update-cdn-sync.com api.update-cdn-sync.com"), "{got:#?}");
    assert!(got.contains("encoded_name low q53p2ln37g4xhfqxg.com "), "not allowed: {got:#?}");
    let suppressed = &run.summary()["findings_suppressed_by_allowlist"];
    assert_eq!(suppressed["lookalike"]["findings"], 1, "{suppressed}");
    assert_eq!(suppressed["encoded_name"]["events"], 5, "{suppressed}");
    assert_eq!(suppressed["doh_lookup"]["findings"], 1, "{suppressed}");
    assert!(run.stderr.contains("suppressed by the allowlist"), "{}", run.stderr);
}

/// Security-Datasets are real lab recordings: attack simulations over ordinary Windows noise.
/// Every medium-or-higher finding of the single-query detectors there must be one of the
/// simulated attacks' own processes (Empire and Covenant PowerShell launchers, PurpleSharp and
/// Metasploit payloads run from Downloads or Temp), never the background.
#[test]
fn security_datasets_medium_or_higher_are_the_simulated_attacks() {
    let Some(data) = shared_data_or_skip("security_datasets_medium_or_higher_are_the_simulated_attacks") else {
        return;
    };
    let run = hunt(&[data.join("security-datasets")], &["--format", "jsonl", "--min-severity", "medium"]);
    run.assert_exit(0);
    let mut got = Vec::new();
    for f in run.json_lines().iter().filter(|f| MINE.contains(&f["detector"].as_str().unwrap())) {
        let image = f["process"]["image"].as_str().unwrap_or("").to_lowercase();
        let reason = f["details"]["reason"].as_str().unwrap_or("");
        let attack_process = match reason {
            "encoded_powershell" | "download_cradle" => image.ends_with("\\powershell.exe"),
            "user_writable_path" => image.ends_with("\\purplesharp.exe") || image.ends_with("\\winx64_payload.exe"),
            _ => false,
        };
        assert!(f["detector"] == "process_context" && attack_process, "unexpected: {f:#}");
        got.push(format!("{reason} {image}"));
    }
    println!("security-datasets: {} medium-or-higher single-query findings: {got:#?}", got.len());
    assert!(got.len() >= 4, "the simulated attacks are found: {got:#?}");
}

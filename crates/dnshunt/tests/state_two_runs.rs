//! The state store across two runs of the binary: run 1 learns (no `first_seen` findings), run 2
//! over the old and new evidence reports only what is new, and `--no-state` leaves the store
//! alone. The evidence is generated here.

use std::path::{Path, PathBuf};
use std::process::Command;

fn line(host: &str, time: &str, guid: &str, image: &str, name: &str) -> String {
    format!(
        r#"{{"EventID":22,"Channel":"Microsoft-Windows-Sysmon/Operational","Hostname":"{host}","UtcTime":"{time}","ProcessGuid":"{{{guid}}}","ProcessId":"10","Image":"{image}","QueryName":"{name}","QueryStatus":"0","QueryResults":"::ffff:93.184.216.34;"}}"#
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dnshunt-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `hunt` and returns the `first_seen` findings as (kind, value, severity).
fn first_seen(args: &[&str], inputs: &[&Path]) -> Vec<(String, String, String)> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dnshunt"));
    cmd.arg("hunt").arg("-q").arg("-f").arg("jsonl").args(args);
    for p in inputs {
        cmd.arg(p);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut got: Vec<(String, String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|f| f["detector"] == "first_seen")
        .map(|f| {
            (
                f["details"]["kind"].as_str().unwrap_or("").to_owned(),
                f["details"]["value"].as_str().unwrap_or("").to_owned(),
                f["severity"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    got.sort();
    got
}

#[test]
fn run_one_learns_run_two_reports_only_what_is_new() {
    let dir = temp_dir("state");
    let guid_a = "7c1e4a2b-0001-65f0-0000-000000000c00";
    let guid_b = "7c1e4a2b-0002-65f0-0000-000000000c00";
    let day1 = dir.join("day1.ndjson");
    std::fs::write(
        &day1,
        [
            line("WS1", "2024-03-12 08:00:00.000", guid_a, "C:\\\\x\\\\msedge.exe", "www.example.com"),
            line("WS2", "2024-03-12 08:05:00.000", guid_b, "C:\\\\x\\\\msedge.exe", "www.example.org"),
        ]
        .join("\n"),
    )
    .unwrap();
    let day2 = dir.join("day2.ndjson");
    std::fs::write(
        &day2,
        [
            line("WS1", "2024-03-13 09:00:00.000", guid_a, "C:\\\\x\\\\msedge.exe", "www.example.com"),
            line("WS1", "2024-03-13 09:01:00.000", guid_a, "C:\\\\x\\\\msedge.exe", "login.fresh-c2.net"),
            line(
                "WS2",
                "2024-03-13 09:02:00.000",
                "7c1e4a2b-0003-65f0-0000-000000000c00",
                "C:\\\\Users\\\\u\\\\Downloads\\\\tool.exe",
                "www.example.org",
            ),
        ]
        .join("\n"),
    )
    .unwrap();
    let store = dir.join("nested").join("state.sqlite");
    let store_arg = store.to_str().unwrap();

    // Without a store nothing is remembered or reported.
    assert!(first_seen(&[], &[&day1]).is_empty());
    // Run 1 learns.
    assert!(first_seen(&["--state", store_arg], &[&day1]).is_empty());
    assert!(store.exists());
    // The same evidence again is not new.
    assert!(first_seen(&["--state", store_arg], &[&day1]).is_empty());
    // --no-state neither reads nor writes the store.
    assert!(first_seen(&["--no-state"], &[&day1, &day2]).is_empty());
    // Run 2 over old and new evidence reports only the new domain and the new program.
    let expected = vec![
        ("domain".to_owned(), "fresh-c2.net".to_owned(), "low".to_owned()),
        ("process".to_owned(), "tool.exe".to_owned(), "medium".to_owned()),
    ];
    assert_eq!(first_seen(&["--state", store_arg], &[&day1, &day2]), expected);
    // Run 3: now known.
    assert!(first_seen(&["--state", store_arg], &[&day1, &day2]).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

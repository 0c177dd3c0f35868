//! `--memory-budget`: the bounds it lowers, the bounds an input reaches and how the run says
//! so (summary and `--summary-json`), and that a DGA-like flood is still one finding per
//! process with every name counted. Peak memory itself is measured by
//! `scripts/bench-names.sh`, not here (timings and RSS are noisy on shared machines).

mod common;

use std::ffi::OsStr;
use std::fmt::Write as _;

use common::{run_with, TempDir};

/// `n` lookups, each of a distinct random-looking `.com` name, NXDOMAIN, from one process, one
/// every 100 ms: the shape of a DGA walk, and of a flood meant to exhaust a detector's tables.
fn flood(n: usize) -> String {
    let mut out = String::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..n {
        let mut label = String::new();
        for _ in 0..14 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            label.push((b'a' + (x % 26) as u8) as char);
        }
        let ms = i * 100;
        let _ = writeln!(
            out,
            r#"{{"EventID":22,"Hostname":"ws1.corp.example","UtcTime":"2024-03-01 10:{:02}:{:02}.{:03}","ProcessGuid":"{{5d100000-2b25-5d12-0000-001000000001}}","ProcessId":"4242","QueryName":"{label}.com","QueryStatus":"9003","QueryResults":"-","Image":"C:\\Users\\u\\AppData\\Local\\Temp\\upd.exe"}}"#,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        );
    }
    out
}

fn hunt(input: &std::path::Path, extra: &[&str]) -> common::Run {
    let mut args: Vec<&OsStr> = vec![OsStr::new("hunt"), input.as_os_str(), OsStr::new("--no-state"), OsStr::new("--format"), OsStr::new("jsonl")];
    args.extend(extra.iter().map(OsStr::new));
    let run = run_with(&args, true, None);
    run.assert_exit(0);
    run
}

#[test]
fn a_small_budget_lowers_bounds_and_the_run_says_which_were_reached() {
    let dir = TempDir::new("budget");
    let input = dir.write("flood.ndjson", flood(3_000).as_bytes());

    // Every finding held in full, no budget.
    let config = dir.write("roomy.toml", b"[aggregate]\nmax_findings_per_process = 100000\n");
    let roomy = hunt(&input, &["--memory-budget", "0", "--config", config.to_str().unwrap()]);
    let tight = hunt(&input, &["--memory-budget", "1"]);
    let memory = |run: &common::Run| run.summary()["memory"].clone();

    // No budget, room for every finding: nothing lowered, reached or tallied.
    let m = memory(&roomy);
    assert_eq!(m["budget_mb"], 0);
    assert_eq!(m["lowered"].as_array().unwrap().len(), 0);
    assert_eq!(m["bounds_reached"].as_array().unwrap().len(), 0, "{m}");
    assert_eq!(m["tallied_findings"], 0);
    assert!(!roomy.stderr.contains("bound "), "{}", roomy.stderr);

    // 1 MiB: every bound at its floor of 1,000, and the flood of 3,000 names reaches some.
    let m = memory(&tight);
    let lowered = m["lowered"].as_array().unwrap();
    assert!(lowered.iter().any(|l| l["setting"] == "beacon.max_series" && l["fitted"] == 1_000), "{m}");
    assert!(lowered.iter().any(|l| l["setting"] == "aggregate.max_findings" && l["fitted"] == 1_000), "{m}");
    let reached = m["bounds_reached"].as_array().unwrap();
    let beacon = reached
        .iter()
        .find(|b| b["detector"] == "beacon" && b["setting"] == "max_series")
        .unwrap_or_else(|| panic!("{m}"));
    assert_eq!(beacon["limit"], 1_000);
    assert_eq!(beacon["events"], 2_000, "3,000 one-name series, 1,000 kept");
    assert!(
        tight
            .stderr
            .contains("beacon.max_series = 1,000 reached (lowered from 200,000 by the 1 MiB memory budget): 2,000 events not fully remembered"),
        "{}",
        tight.stderr
    );

    // The DGA walk is one finding either way, with every name and lookup counted: past the
    // held findings the names are tallied, not lost.
    let dga = |run: &common::Run| -> serde_json::Value {
        let found: Vec<serde_json::Value> = run.json_lines().into_iter().filter(|f| f["detector"] == "dga").collect();
        assert_eq!(found.len(), 1, "{found:?}");
        found[0].clone()
    };
    let (a, b) = (dga(&roomy), dga(&tight));
    assert_eq!(a["count"], b["count"]);
    assert_eq!(a["details"]["distinct_names"], b["details"]["distinct_names"]);
    assert_eq!(a["score"], b["score"]);
    assert!(a["details"]["distinct_names"].as_u64().unwrap() > 1_000, "{a}");
    assert!(b["details"]["tallied_findings"].as_u64().unwrap() > 0, "{b}");
    assert!(m["tallied_findings"].as_u64().unwrap() > 0);
}

#[test]
fn a_state_store_run_sets_entries_aside_and_records_the_same() {
    let dir = TempDir::new("budget-state");
    let input = dir.write("flood.ndjson", flood(3_000).as_bytes());
    let small = dir.write("small.toml", b"[memory]\nmax_state_entries = 1000\n");
    let stores: Vec<Vec<dnshunt_state::Entry>> = [None, Some(&small)]
        .iter()
        .enumerate()
        .map(|(i, config)| {
            let state = dir.join(&format!("state-{i}.sqlite"));
            let mut args = vec!["--state", state.to_str().unwrap()];
            if let Some(config) = config {
                args.extend(["--config", config.to_str().unwrap()]);
            }
            let mut argv: Vec<&OsStr> = vec![OsStr::new("hunt"), input.as_os_str(), OsStr::new("--format"), OsStr::new("jsonl")];
            argv.extend(args.iter().map(OsStr::new));
            let run = run_with(&argv, true, None);
            run.assert_exit(0);
            let aside = run.summary()["memory"]["state_entries_set_aside"].as_u64().unwrap();
            assert_eq!(aside > 0, config.is_some(), "set aside: {aside}");
            dnshunt_state::StateStore::open(&state).unwrap().load().unwrap()
        })
        .collect();
    // 3,000 domains on one host and fleet-wide, and the program: far past 1,000 entries held.
    assert!(stores[0].len() > 6_000, "{}", stores[0].len());
    assert_eq!(stores[0], stores[1], "set aside or not, the store holds the same");
}

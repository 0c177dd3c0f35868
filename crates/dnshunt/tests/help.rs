//! `--help` says what the program does: every command has help, the files it points at exist,
//! and the order `stats` promises is the order it prints.

mod common;

use std::ffi::OsStr;

use common::{example, repo_root, run_with};

fn help(args: &[&str]) -> String {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    let run = run_with(&args, false, None);
    run.assert_exit(0);
    run.stdout_text()
}

#[test]
fn every_command_has_help_and_the_files_it_names_exist() {
    let top = help(&["--help"]);
    for command in ["hunt", "events", "train", "eval", "score", "stats", "sysmon-config"] {
        assert!(top.contains(command), "{command} in:\n{top}");
        let text = help(&[command, "--help"]);
        assert!(text.contains("Usage: dnshunt"), "{command}:\n{text}");
    }
    let hunt = help(&["hunt", "--help"]);
    for flag in ["--color", "--no-pager", "--explain", "--findings", "--incidents", "--skip-unreadable"] {
        assert!(hunt.contains(flag), "{flag}");
    }
    // Every `*.toml` or `docs/*` file the help names is in the repository.
    for word in hunt.split(|c: char| c.is_whitespace() || "`()'\",;".contains(c)) {
        if word.ends_with(".toml") && !word.contains("FILE") || word.starts_with("docs/") {
            let word = word.trim_end_matches('.');
            assert!(repo_root().join(word).exists(), "hunt --help names {word}, which does not exist");
        }
    }
    assert!(hunt.contains("dnshunt.example.toml"));
}

#[test]
fn stats_prints_most_common_first_as_its_help_says_and_rare_the_other_way() {
    let text = help(&["stats", "--help"]);
    assert!(text.contains("most common first"), "{text}");
    assert!(!text.contains("rarest first"), "{text}");
    let example = example("incident");
    let counts = |extra: &[&str]| -> Vec<u64> {
        let mut args = vec!["stats", example.to_str().unwrap(), "--format", "json", "-q"];
        args.extend_from_slice(extra);
        let doc: serde_json::Value = serde_json::from_str(&help(&args)).expect("stats JSON");
        doc["stacks"]["registered_domain"]["rows"]
            .as_array()
            .expect("domain stack")
            .iter()
            .map(|r| r["count"].as_u64().unwrap())
            .collect()
    };
    let common = counts(&[]);
    assert!(common.len() > 3 && common.windows(2).all(|w| w[0] >= w[1]), "{common:?}");
    let rare = counts(&["--rare"]);
    assert!(rare.windows(2).all(|w| w[0] <= w[1]), "{rare:?}");
}

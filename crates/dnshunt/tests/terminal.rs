//! The table and summary people read: one line per incident or finding at 80, 120 and 200
//! columns (cut with an ellipsis, never wrapped), most severe first, colour only when asked for
//! or on a terminal without `NO_COLOR`, and a short aligned summary with the top hosts,
//! processes and domains.

mod common;

use std::process::Command;

use common::example;
use dnshunt_sink::term::{strip_colour as strip, visible_width};

/// `dnshunt hunt` on the shipped example with `env` set, stdout and stderr captured (a pipe, so
/// the program sees no terminal).
fn run(extra: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dnshunt"));
    cmd.arg("hunt")
        .arg(example("incident"))
        .arg("--blocklist")
        .arg(example("incident/blocklist.txt"))
        .args(extra)
        .env_remove("COLUMNS")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("dnshunt runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    (String::from_utf8(out.stdout).expect("UTF-8 table"), stderr)
}

fn severity_rank(line: &str) -> Option<u8> {
    ["info", "low", "medium", "high", "critical"]
        .iter()
        .position(|s| line.split_whitespace().next() == Some(*s))
        .map(|p| p as u8)
}

#[test]
fn findings_table_is_one_line_each_within_the_width() {
    let (jsonl, _) = run(&["--findings", "--format", "jsonl", "--min-severity", "low"], &[]);
    let findings = jsonl.lines().count();
    assert!(findings >= 10, "the example has findings: {findings}");
    for columns in [80usize, 120, 200] {
        let (table, _) = run(&["--findings", "--format", "table"], &[("COLUMNS", &columns.to_string())]);
        let lines: Vec<&str> = table.lines().collect();
        for line in &lines {
            assert!(visible_width(line) <= columns, "{columns} columns: {} wide: {line}", visible_width(line));
        }
        // Header, one line per finding, a blank line between severities: nothing wrapped.
        let rows: Vec<&str> = lines.iter().copied().filter(|l| severity_rank(l).is_some()).collect();
        assert_eq!(rows.len(), findings, "{columns} columns:\n{table}");
        assert!(lines[0].starts_with("severity"), "{}", lines[0]);
        assert_eq!(lines.len(), 1 + rows.len() + lines.iter().filter(|l| l.is_empty()).count());
        // Most severe first, then by score.
        let ranks: Vec<(u8, u32)> = rows
            .iter()
            .map(|l| (severity_rank(l).unwrap(), l.split_whitespace().nth(1).unwrap().parse().unwrap()))
            .collect();
        assert!(ranks.windows(2).all(|w| w[0] >= w[1]), "{columns} columns, not sorted:\n{table}");
        assert!(table.contains('…'), "{columns} columns: long explanations are cut with an ellipsis");
        // Wide tables name the host and the detector; narrow ones give the space to the text.
        assert_eq!(lines[0].contains("detector"), columns >= 120, "{}", lines[0]);
    }
}

#[test]
fn incident_table_fits_and_pipes_without_columns_write_whole_lines() {
    let (table, _) = run(&["--format", "table"], &[("COLUMNS", "80")]);
    assert!(table.lines().all(|l| visible_width(l) <= 80), "{table}");
    assert_eq!(table.lines().filter(|l| severity_rank(l).is_some()).count(), 3, "{table}");
    // In a pipe without COLUMNS nothing is cut: scripts get the whole headline.
    let (whole, _) = run(&["--format", "table"], &[]);
    assert!(!whole.contains('…'), "{whole}");
    assert!(whole.lines().any(|l| l.contains("beaconing to update-cdn-sync.com") && visible_width(l) > 80), "{whole}");
}

#[test]
fn colour_follows_the_flag_and_no_color() {
    let esc = '\u{1b}';
    // A pipe: no colour by default, with `--color always` colour on stdout and stderr.
    let (plain, plain_err) = run(&["--format", "table"], &[]);
    assert!(!plain.contains(esc) && !plain_err.contains(esc));
    let (coloured, coloured_err) = run(&["--format", "table", "--color", "always"], &[("NO_COLOR", "1")]);
    assert!(coloured.contains(esc), "--color always colours even with NO_COLOR");
    assert!(coloured_err.contains(esc), "and the summary too");
    // The text is the same once the colour is taken out.
    let stripped: Vec<usize> = coloured.lines().map(visible_width).collect();
    let widths: Vec<usize> = plain.lines().map(|l| l.chars().count()).collect();
    assert_eq!(stripped, widths);
    let (never, never_err) = run(&["--format", "table", "--color", "never"], &[]);
    assert!(!never.contains(esc) && !never_err.contains(esc));
    // JSON is never coloured.
    let (json, _) = run(&["--format", "jsonl", "--color", "always"], &[]);
    assert!(!json.contains(esc));
}

#[test]
fn summary_is_short_aligned_and_names_the_top_hosts_processes_and_domains() {
    let (_, stderr) = run(&["--format", "jsonl"], &[]);
    let line = |label: &str| -> String {
        stderr
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{label} ")))
            .unwrap_or_else(|| panic!("no `{label}` line:\n{stderr}"))
            .to_owned()
    };
    let incidents = line("incidents");
    assert!(incidents.contains("3: 1 critical · 2 high"), "{incidents}");
    assert!(line("findings").contains("high"), "{stderr}");
    assert!(line("hosts").contains("WS-ACCT-07.corp.example.com"), "{stderr}");
    let processes = line("processes");
    assert!(processes.contains("powershell.exe") && processes.contains("rundll32.exe"), "{processes}");
    let domains = line("domains");
    assert!(domains.contains("exfil-sync.net") && domains.contains("update-cdn-sync.com"), "{domains}");
    assert!(line("time span").contains("2024-03-12 08:49:12 – 10:50:27 UTC (2 h 1 min)"), "{stderr}");
    // Detectors with findings only, most findings first; the quiet ones are one count.
    let detectors = line("detectors");
    assert!(detectors.contains("blocklist 5"), "{detectors}");
    assert!(detectors.contains("found nothing)"), "{detectors}");
    assert!(!detectors.contains(" 0"), "{detectors}");
    // Every value starts in the same column.
    let columns: Vec<usize> = ["events", "incidents", "findings", "detectors", "hosts", "processes", "domains"]
        .iter()
        .map(|label| {
            let l = line(label);
            let after = l.trim_start().strip_prefix(label).unwrap();
            l.len() - after.trim_start().len()
        })
        .collect();
    assert!(columns.windows(2).all(|w| w[0] == w[1]), "{columns:?}\n{stderr}");
    assert!(stderr.lines().count() <= 14, "short:\n{stderr}");
    // "1 address", not "1 addresses".
    assert!(stderr.contains("4 domains, 1 address, 1 network"), "{stderr}");
}

/// What a real terminal shows (tmux at `cols` columns, `capture-pane -e` keeps the colours):
/// stdout and stderr of `hunt` on the example, with `env` set.
fn in_tmux(cols: u16, env: &str) -> Option<String> {
    let have_tmux = Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
    if !have_tmux {
        assert!(std::env::var_os("CI").is_none(), "tmux is needed for the terminal test (CI is set)");
        println!("skipped: tmux not found");
        return None;
    }
    let socket = format!("dnshunt-test-{}-{cols}-{}", std::process::id(), env.len());
    let tmux = |args: &[&str]| Command::new("tmux").arg("-L").arg(&socket).args(args).output().expect("tmux runs");
    let bin = env!("CARGO_BIN_EXE_dnshunt");
    let example = example("incident");
    let script = format!(
        "cd '{}' && env -u COLUMNS {env} '{bin}' hunt . --blocklist blocklist.txt; echo \"[exit $?]\"; sleep 30",
        example.display()
    );
    let (c, r) = (cols.to_string(), "60".to_owned());
    let started = tmux(&["-f", "/dev/null", "new-session", "-d", "-x", &c, "-y", &r, &script]);
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    let mut screen = String::new();
    for _ in 0..200 {
        screen = String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-e"]).stdout).into_owned();
        if screen.contains("[exit ") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    tmux(&["kill-server"]);
    assert!(screen.contains("[exit 0]"), "{screen}");
    Some(screen)
}

#[test]
fn a_real_terminal_gets_colour_and_one_line_per_incident() {
    for cols in [80u16, 160] {
        let Some(screen) = in_tmux(cols, "") else { return };
        assert!(screen.contains('\u{1b}'), "{cols} columns: colour on a terminal:\n{screen}");
        let rows: Vec<&str> = screen.lines().filter(|l| severity_rank(&strip(l)).is_some()).collect();
        assert_eq!(rows.len(), 3, "{cols} columns, one line per incident (nothing wrapped):\n{screen}");
        assert!(rows.iter().all(|l| visible_width(l) <= cols as usize), "{screen}");
        let Some(plain) = in_tmux(cols, "NO_COLOR=1") else { return };
        assert!(!plain.contains('\u{1b}'), "{cols} columns: NO_COLOR:\n{plain}");
    }
}

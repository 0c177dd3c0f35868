//! A FIFO, socket or device named on the command line is refused with a counted problem and the
//! inputs after it are read: checking the paths must not open it (opening a FIFO blocks until
//! something writes to it).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{fixture, Counts, TempDir};

#[cfg(unix)]
#[test]
fn a_fifo_on_the_command_line_never_blocks_the_inputs_after_it() {
    let dir = TempDir::new("fifo");
    let fifo = dir.join("live.json");
    if !Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
        println!("skipped: mkfifo is not available");
        return;
    }
    let summary = dir.join("summary.json");
    let seed = fixture("seed/flat.ndjson");
    for strict in [false, true] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dnshunt"));
        cmd.arg("events")
            .arg(&fifo)
            .arg("/dev/zero")
            .arg(&seed)
            .args(["--format", "jsonl", "-q", "--summary-json"])
            .arg(&summary);
        if strict {
            cmd.arg("--strict");
        }
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("dnshunt blocked on the FIFO");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(if strict { 3 } else { 0 }), "strict: {strict}");
        let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
        let read: common::ReadSummary = serde_json::from_value(value["read"].clone()).unwrap();
        assert_eq!(read.totals, Counts::seed(), "the input after the FIFO is read");
        assert_eq!(read.file_errors, 2);
        assert!(read.file("live.json").error.as_deref().unwrap().contains("FIFO"));
        assert!(read.file("/dev/zero").error.as_deref().unwrap().contains("character device"));
    }
}

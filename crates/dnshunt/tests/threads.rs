//! The detectors run spread over threads (`--threads`): the findings and incidents are the same
//! whatever the number of threads, on the example incident, on the shared recordings, and on
//! network captures and logs joined to Sysmon.

mod common;

use common::{example, hunt, shared_data_or_skip};

fn same_output(paths: &[std::path::PathBuf]) {
    for extra in [&["--findings"][..], &[][..]] {
        let mut outputs = Vec::new();
        for threads in ["1", "2", "3"] {
            let mut args = vec!["--format", "jsonl", "-q", "--threads", threads];
            args.extend_from_slice(extra);
            let run = hunt(paths, &args);
            run.assert_exit(0);
            assert!(!run.stdout.is_empty(), "{}: no output", run.cmdline);
            outputs.push((threads, run.stdout_text()));
        }
        for (threads, out) in &outputs[1..] {
            assert!(out == &outputs[0].1, "--threads {threads} {extra:?} differs from --threads 1");
        }
    }
}

#[test]
fn example_incident_is_found_alike_on_any_number_of_threads() {
    same_output(&[example("incident/workstation.ndjson")]);
}

#[test]
fn shared_recordings_are_judged_alike_on_any_number_of_threads() {
    let Some(data) = shared_data_or_skip("shared_recordings_are_judged_alike_on_any_number_of_threads") else {
        return;
    };
    same_output(&[data.join("security-datasets"), data.join("security-datasets-more"), data.join("evtx-attack-samples")]);
}

#[test]
fn wire_evidence_joined_to_sysmon_is_judged_alike_on_any_number_of_threads() {
    let Some(data) = shared_data_or_skip("wire_evidence_joined_to_sysmon_is_judged_alike_on_any_number_of_threads") else {
        return;
    };
    same_output(&[data.join("network/otrf-lsass"), data.join("network/tunnels")]);
}

//! Replays the committed fuzz regression corpus (`fuzz/regressions/<target>/*`) and the
//! generated seeds through the target functions under an ordinary `cargo test`, so every
//! crash fuzzing ever found stays fixed without nightly or cargo-fuzz.
//!
//! Every target must have a non-empty folder, and every folder must name a target: the
//! replay cannot silently do nothing. `fuzz/regressions-pending/` (crashes found in crates
//! whose fix is pending) is deliberately not read.

use std::path::{Path, PathBuf};

fn regressions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable folder").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// One test per target would need a macro per name; one test that names the failing file is
/// as useful, and the panic message says which input of which target failed.
#[test]
fn every_target_replays_its_regression_inputs() {
    let root = regressions_dir();
    for (name, target) in dnshunt_fuzz::TARGETS {
        let dir = root.join(name);
        assert!(dir.is_dir(), "{} is missing: every target needs regression inputs", dir.display());
        let files = files_in(&dir);
        assert!(!files.is_empty(), "{} is empty: every target needs regression inputs", dir.display());
        for file in files {
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            eprintln!("replaying {}", file.display());
            target(&data);
        }
    }
}

#[test]
fn every_regression_folder_names_a_target() {
    for entry in std::fs::read_dir(regressions_dir()).expect("fuzz/regressions exists") {
        let path = entry.expect("a readable folder").path();
        if !path.is_dir() {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        assert!(dnshunt_fuzz::target(&name).is_some(), "{} names no target in dnshunt_fuzz::TARGETS", path.display());
    }
}

#[test]
fn generated_seeds_replay_and_name_targets() {
    for seed in dnshunt_fuzz::seeds::all() {
        let target = dnshunt_fuzz::target(seed.target).unwrap_or_else(|| panic!("seed {} names no target {}", seed.name, seed.target));
        target(&seed.bytes);
    }
}

//! The fast JSON path reads every line of the project's own fixtures and example exactly as
//! `serde_json` does: the same records, or the same error.

use std::path::{Path, PathBuf};

use dnshunt_source::json_visit::assert_both_paths_agree;

fn json_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["fixtures/seed", "fixtures/bad", "examples/incident"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}")) {
            let path = entry.expect("a readable folder").path();
            if matches!(path.extension().and_then(|e| e.to_str()), Some("json" | "ndjson")) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn fixtures_read_the_same_by_both_paths() {
    let files = json_files();
    assert!(files.len() >= 10, "fixtures missing: {files:?}");
    let mut lines = 0;
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if file.extension().is_some_and(|e| e == "json") {
            assert_both_paths_agree(&bytes, &file.display().to_string());
        }
        for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
            assert_both_paths_agree(line.trim_ascii(), &format!("{}:{}", file.display(), n + 1));
            lines += 1;
        }
    }
    assert!(lines > 1000, "only {lines} lines");
}

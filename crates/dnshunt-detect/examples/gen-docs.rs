//! Rewrites `docs/detectors.md` from the detectors' sources:
//! `cargo run -p dnshunt-detect --example gen-docs`.

use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut paths = Vec::new();
    for krate in std::fs::read_dir(root.join("crates"))?.flatten() {
        walk(&krate.path().join("src"), &mut paths);
    }
    let mut files = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)?;
        let rel = path.strip_prefix(&root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
        files.push((rel, text));
    }
    let doc = dnshunt_detect::docs::render(&files);
    let out = root.join(dnshunt_detect::docs::DOC_PATH);
    std::fs::create_dir_all(out.parent().unwrap_or(&root))?;
    std::fs::write(&out, doc)?;
    println!("wrote {}", out.display());
    Ok(())
}

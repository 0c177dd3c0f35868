//! `docs/detectors.md`, rendered from the detectors' own source: the `//!` header of each
//! detector file (what it flags, why, ATT&CK, false positives) and the documented fields of its
//! `...Config` struct (the `[detectors.<name>]` settings).
//!
//! Pure: the caller hands in the files. `cargo run -p dnshunt-detect --example gen-docs`
//! rewrites the document; a test fails when the checked-in one is stale.

/// The document's path relative to the workspace root.
pub const DOC_PATH: &str = "docs/detectors.md";

/// Whether a source file is a detector: it implements `Detector` and opens with a `//! # name`
/// header.
pub fn is_detector_source(text: &str) -> bool {
    text.starts_with("//! # ") && (text.contains("impl Detector for") || text.contains("\n//! **Runs in the engine**"))
}

/// One detector's documentation, taken from its source file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct DetectorDoc {
    name: String,
    path: String,
    header: Vec<String>,
    settings: Vec<(String, String, String)>,
}

fn parse(path: &str, text: &str) -> Option<DetectorDoc> {
    let mut lines = text
        .lines()
        .map_while(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end().to_owned());
    let name = lines.next()?.strip_prefix("# ")?.trim().to_owned();
    let mut header: Vec<String> = lines.collect();
    while header.first().is_some_and(|l| l.is_empty()) {
        header.remove(0);
    }
    while header.last().is_some_and(|l| l.is_empty()) {
        header.pop();
    }
    Some(DetectorDoc {
        name,
        path: path.to_owned(),
        header,
        settings: settings(text),
    })
}

/// `(field, type, doc)` of the first `pub struct ...Config` in the file.
fn settings(text: &str) -> Vec<(String, String, String)> {
    struct_fields(text, None)
}

/// `(field, type, doc)` of the public fields of `pub struct NAME` in a source file, or of its
/// first `pub struct ...Config` when `name` is `None`; a field's doc is its `///` lines joined.
pub fn struct_fields(text: &str, name: Option<&str>) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut in_config = false;
    let mut doc: Vec<String> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if !in_config {
            in_config = match name {
                Some(name) => t == format!("pub struct {name} {{"),
                None => t.starts_with("pub struct ") && t.ends_with("Config {"),
            };
            continue;
        }
        if t == "}" {
            break;
        }
        if let Some(d) = t.strip_prefix("///") {
            doc.push(d.trim().to_owned());
        } else if let Some(field) = t.strip_prefix("pub ") {
            if let Some((name, ty)) = field.split_once(':') {
                let ty = ty.trim().trim_end_matches(',').to_owned();
                out.push((name.trim().to_owned(), ty, doc.join(" ")));
            }
            doc.clear();
        } else if !t.starts_with("#[") {
            doc.clear();
        }
    }
    out
}

/// Renders the document from `(path relative to the workspace root, file text)` pairs; files
/// that are not detectors are ignored. The result does not depend on the order of `files`.
pub fn render(files: &[(String, String)]) -> String {
    let mut docs: Vec<DetectorDoc> = files.iter().filter(|(_, t)| is_detector_source(t)).filter_map(|(p, t)| parse(p, t)).collect();
    docs.sort_by(|a, b| a.name.cmp(&b.name));
    let mut s = String::new();
    s.push_str("# Detectors\n\n");
    s.push_str("<!-- Generated from the detectors' `//!` headers and `...Config` structs by\n     `cargo run -p dnshunt-detect --example gen-docs`. Do not edit by hand. -->\n\n");
    s.push_str("Each detector is one source file. Its name is the config key (`[detectors.<name>]` in the\nconfig file) and the `detector` field of its findings.\n\n");
    s.push_str("| detector | source |\n|---|---|\n");
    for d in &docs {
        s.push_str(&format!("| [{}](#{}) | `{}` |\n", d.name, d.name, d.path));
    }
    for d in &docs {
        s.push_str(&format!("\n## {}\n\n", d.name));
        for line in &d.header {
            if line.starts_with('#') {
                s.push('#');
            }
            s.push_str(line);
            s.push('\n');
        }
        if !d.settings.is_empty() {
            s.push_str(&format!("\n**Settings** (`[detectors.{}]`):\n\n| key | type | meaning |\n|---|---|---|\n", d.name));
            for (field, ty, doc) in &d.settings {
                s.push_str(&format!("| `{field}` | `{}` | {} |\n", ty.replace('|', "\\|"), doc.replace('|', "\\|")));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    const SAMPLE: &str = "//! # sample\n//!\n//! **What:** a thing.\n//!\n//! **ATT&CK:** T0000.\n\nuse x;\n\n/// Settings.\n#[derive(Clone)]\npub struct SampleConfig {\n    /// How many.\n    /// Really.\n    pub count: usize,\n    #[serde(default)]\n    pub names: Vec<String>,\n}\n\nimpl Detector for Sample {}\n";

    #[test]
    fn renders_header_and_settings() {
        let files = vec![
            ("crates/x/src/sample.rs".to_owned(), SAMPLE.to_owned()),
            ("crates/x/src/other.rs".to_owned(), "//! Not a detector.\n".to_owned()),
        ];
        let doc = render(&files);
        assert!(doc.contains("| [sample](#sample) | `crates/x/src/sample.rs` |\n"), "{doc}");
        assert!(doc.contains("\n## sample\n\n**What:** a thing.\n\n**ATT&CK:** T0000.\n"), "{doc}");
        assert!(doc.contains("| `count` | `usize` | How many. Really. |\n| `names` | `Vec<String>` |  |\n"), "{doc}");
        assert!(!doc.contains("other.rs"));
    }

    /// Every `crates/*/src/**/*.rs` file, relative to the workspace root.
    fn workspace_sources(root: &Path) -> Vec<(String, String)> {
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
        let mut paths = Vec::new();
        for krate in std::fs::read_dir(root.join("crates")).into_iter().flatten().flatten() {
            walk(&krate.path().join("src"), &mut paths);
        }
        paths.sort();
        paths
            .into_iter()
            .filter_map(|p| {
                let text = std::fs::read_to_string(&p).ok()?;
                let rel = p.strip_prefix(root).ok()?.to_string_lossy().replace('\\', "/");
                Some((rel, text))
            })
            .collect()
    }

    /// `docs/detectors.md` must match the sources; `UPDATE_DOCS=1` rewrites it.
    #[test]
    fn detector_docs_are_current() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let rendered = render(&workspace_sources(&root));
        let path = root.join(DOC_PATH);
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, &rendered).unwrap();
            return;
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == rendered,
            "{DOC_PATH} is stale: run `cargo run -p dnshunt-detect --example gen-docs` (or `UPDATE_DOCS=1 cargo test -p dnshunt-detect docs`)"
        );
    }
}

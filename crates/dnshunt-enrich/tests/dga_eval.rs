//! Leave-one-family-out evaluation of the DGA model on the shared data set (popular domains and
//! 30 DGA families), with a floor on the character-based families' detection rate.

use std::path::Path;
use std::time::Instant;

use dnshunt_enrich::train::{evaluate_group, Corpus, TrainConfig};
use dnshunt_enrich::trees::ForestConfig;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");

/// Families whose DGA joins words from a list.
const WORDLIST: &[&str] = &["gozi", "nymaim2"];

fn names(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.rsplit(',').next().unwrap_or(l).trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Character-based families' pooled detection rates at FPR 1e-3 and 1e-4 must stay above these.
/// Measured with this test's protocol (below): 80.0% and 61.3%.
const FLOOR_TPR: [f64; 2] = [0.77, 0.57];

/// A cheaper protocol than `dnshunt eval dga` so that it runs in seconds: families are held out
/// in six groups (each family is scored by models that saw none of its group, which is
/// stricter than leaving one out), two benign folds, smaller forests on fewer examples.
#[test]
fn leave_family_out_detection_floor() {
    let benign_path = Path::new(DATA).join("benign/alexa_100k_2013.csv");
    let dga_dir = Path::new(DATA).join("dga");
    if !benign_path.exists() || !dga_dir.exists() {
        assert!(std::env::var_os("CI").is_none(), "shared DGA data missing in CI: {}", dga_dir.display());
        eprintln!("skipped: {} missing", dga_dir.display());
        return;
    }
    let started = Instant::now();
    let mut files: Vec<_> = std::fs::read_dir(&dga_dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let dga: Vec<(String, Vec<String>)> = files.iter().map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), names(p))).collect();
    let benign = names(&benign_path);
    let config = TrainConfig {
        folds: 2,
        max_per_class: 8_000,
        forest: Some(ForestConfig {
            trees: 40,
            ..ForestConfig::default()
        }),
        ..TrainConfig::default()
    };
    let corpus = Corpus::new(benign.iter().map(String::as_str), &dga, config.folds);
    let (n_benign, per_family) = corpus.sizes();
    assert!(n_benign > 95_000 && per_family.len() == 30, "{n_benign} benign, {} families", per_family.len());
    const GROUPS: usize = 6;
    let mut results = Vec::new();
    for g in 0..GROUPS {
        let group: Vec<usize> = (0..corpus.families().len()).filter(|f| f % GROUPS == g).collect();
        results.extend(evaluate_group(&corpus, &group, &config));
    }
    let (mut names_char, mut hits_char) = (0usize, [0usize; 2]);
    for r in &results {
        eprintln!("{:<18} {:>6} {:>6.1}% {:>6.1}%", r.family, r.names, 100.0 * r.tpr(0), 100.0 * r.tpr(1));
        assert!(r.benign_false_positives[0] <= r.benign_names / 1000, "{}: {:?}", r.family, r.benign_false_positives);
        if !WORDLIST.contains(&r.family.as_str()) {
            names_char += r.names;
            hits_char[0] += r.detected[0];
            hits_char[1] += r.detected[1];
        }
    }
    let tpr = |i: usize| hits_char[i] as f64 / names_char as f64;
    eprintln!(
        "character-based: {:.1}% at FPR 1e-3, {:.1}% at FPR 1e-4 ({:.1}s)",
        100.0 * tpr(0),
        100.0 * tpr(1),
        started.elapsed().as_secs_f64()
    );
    for (i, fpr) in ["1e-3", "1e-4"].iter().enumerate() {
        assert!(tpr(i) > FLOOR_TPR[i], "character-based TPR at FPR {fpr} fell to {:.3} (floor {})", tpr(i), FLOOR_TPR[i]);
    }
}

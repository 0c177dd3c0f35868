//! `dnshunt train dga` and `dnshunt eval dga` on a small generated data set: the commands read
//! the file shapes they document, write a model the library loads, and print the table.

use std::path::PathBuf;
use std::process::Command;

use dnshunt_enrich::dga::DgaModel;

/// A fresh scratch folder for this test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dnshunt-dga-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("dga")).unwrap();
    dir
}

/// Word-like labels from syllables, and random-letter labels from a fixed generator.
fn write_data(dir: &std::path::Path) {
    let syllables = [
        "an", "ber", "co", "del", "en", "far", "go", "hil", "in", "jo", "ka", "lo", "mar", "ne", "or", "pa", "ro", "sun", "ta", "ver",
    ];
    let mut benign = String::new();
    let mut rank = 0;
    for a in syllables {
        for b in syllables {
            for tld in ["com", "net"] {
                rank += 1;
                benign.push_str(&format!("{rank},{a}{b}{}.{tld}\n", syllables[rank % syllables.len()]));
            }
        }
    }
    std::fs::write(dir.join("benign.csv"), benign).unwrap();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (family, alphabet, tld) in [("letters", "bcdfghjklmnpqrstvwxz", "biz"), ("mixed", "abcdefghijklmnopqrstuvwxyz0123456789", "info")] {
        let alphabet: Vec<char> = alphabet.chars().collect();
        let names: String = (0..150)
            .map(|_| {
                let len = 10 + (next() % 8) as usize;
                let label: String = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
                format!("{label}.{tld}\n")
            })
            .collect();
        std::fs::write(dir.join("dga").join(format!("{family}.txt")), names).unwrap();
    }
}

#[test]
fn train_writes_a_loadable_model_and_eval_prints_the_table() {
    let dir = scratch("train");
    write_data(&dir);
    let out = dir.join("dga.bin");
    let train = Command::new(env!("CARGO_BIN_EXE_dnshunt"))
        .args(["train", "dga", "--benign"])
        .arg(dir.join("benign.csv"))
        .arg("--dga")
        .arg(dir.join("dga"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(train.status.success(), "{}", String::from_utf8_lossy(&train.stderr));
    let stderr = String::from_utf8_lossy(&train.stderr);
    assert!(stderr.contains("800 benign names, 300 DGA names in 2 families"), "{stderr}");
    let model = DgaModel::from_bytes(&std::fs::read(&out).unwrap()).unwrap();
    assert!(model.score_label("qzxvbnmkltrw", "biz") > model.score_label("sunberco", "com"));

    let eval = Command::new(env!("CARGO_BIN_EXE_dnshunt"))
        .args([
            "eval",
            "dga",
            "--threads",
            "1",
            "--folds",
            "2",
            "--trees",
            "10",
            "--depth",
            "3",
            "--benign-weight",
            "2",
            "--wordlist-families",
            "mixed",
            "--benign",
        ])
        .arg(dir.join("benign.csv"))
        .arg("--dga")
        .arg(dir.join("dga"))
        .arg("--lookups")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/seed/ecs.ndjson"))
        .output()
        .unwrap();
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    assert!(String::from_utf8_lossy(&eval.stderr).contains("distinct registrable labels in the lookups of 1"));
    let table = String::from_utf8_lossy(&eval.stdout);
    for needle in [
        "TPR@1e-3",
        "TPR@1e-4",
        "letters            character",
        "mixed              wordlist",
        "overall character-based",
        "overall wordlist",
        "names/s of CPU time",
        "group detection: bursts of k names",
        "k=10",
        "mean character-based",
        "measured false bursts",
        "bursts of k names of real lookups (",
    ] {
        assert!(table.contains(needle), "{needle:?} missing in\n{table}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_inputs_are_errors() {
    let dir = scratch("missing");
    let out = Command::new(env!("CARGO_BIN_EXE_dnshunt"))
        .args(["train", "dga", "--benign"])
        .arg(dir.join("nope.csv"))
        .arg("--dga")
        .arg(dir.join("dga"))
        .arg("--out")
        .arg(dir.join("x.bin"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.csv"));
    std::fs::write(dir.join("benign.csv"), "1,example.com\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dnshunt"))
        .args(["eval", "dga", "--benign"])
        .arg(dir.join("benign.csv"))
        .arg("--dga")
        .arg(dir.join("dga"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no <family>.txt files"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

//! Writes the generated seed inputs ([`dnshunt_fuzz::seeds`]) into a corpus folder, one
//! sub-folder per target: `dnshunt-fuzz-seeds fuzz/corpus`. Used by `scripts/fuzz.sh`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: dnshunt-fuzz-seeds CORPUS_DIR");
        return ExitCode::from(2);
    };
    let mut written = 0;
    for seed in dnshunt_fuzz::seeds::all() {
        let dir = out.join(seed.target);
        let path = dir.join(&seed.name);
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &seed.bytes)) {
            eprintln!("dnshunt-fuzz-seeds: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        written += 1;
    }
    eprintln!("dnshunt-fuzz-seeds: {written} seeds written under {}", out.display());
    ExitCode::SUCCESS
}

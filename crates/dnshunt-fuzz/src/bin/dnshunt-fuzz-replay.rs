//! Runs one fuzz target over files on stable Rust, printing each file's time: the way to
//! reproduce and time a crash or a slow input without nightly or libFuzzer.
//! `dnshunt-fuzz-replay TARGET FILE|DIR...`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(name), paths) = (args.next(), args.map(PathBuf::from).collect::<Vec<_>>()) else {
        eprintln!("usage: dnshunt-fuzz-replay TARGET FILE|DIR...");
        return ExitCode::from(2);
    };
    let Some(target) = dnshunt_fuzz::target(&name) else {
        let names: Vec<&str> = dnshunt_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
        eprintln!("dnshunt-fuzz-replay: no target {name} (targets: {})", names.join(", "));
        return ExitCode::from(2);
    };
    let mut files = Vec::new();
    for path in paths {
        match std::fs::read_dir(&path) {
            Ok(entries) => files.extend(entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file())),
            Err(_) => files.push(path),
        }
    }
    files.sort();
    for file in files {
        let data = match std::fs::read(&file) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("dnshunt-fuzz-replay: {}: {e}", file.display());
                return ExitCode::FAILURE;
            }
        };
        let started = Instant::now();
        target(&data);
        println!("{:>10.3} ms {:>8} bytes  {}", started.elapsed().as_secs_f64() * 1000.0, data.len(), file.display());
    }
    ExitCode::SUCCESS
}

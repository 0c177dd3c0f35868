//! The `dnshunt` binary: wires sources → normalize → detect → sinks, and owns everything that
//! talks to the user (arguments, files, progress, the summary, exit codes).

mod cli;
mod config;
mod enrich;
mod es;
mod eval;
mod eval_findings;
mod profile;
mod report;
mod run;
mod score;
mod sigma_cmd;
mod stack;
mod state;
mod stats;
mod summary;
mod sysmon_config_cmd;
mod train;
mod ui;

use std::io;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    ui::set_color(cli.color.into());
    match run::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`dnshunt ... | head`) is how the reader says "enough": not an error.
            if err.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)) {
                return ExitCode::SUCCESS;
            }
            eprintln!("dnshunt: error: {err:#}");
            ExitCode::from(1)
        }
    }
}

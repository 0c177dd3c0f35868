//! `dnshunt train dga`: fits the DGA model's weights from a list of popular domains and a
//! folder of DGA output, and writes them where the build compiles them in from
//! (`models/dga.bin`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use dnshunt_enrich::train::{train, Corpus, TrainConfig};
use dnshunt_enrich::trees::ForestConfig;

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(subcommand)]
    pub model: TrainModel,
}

#[derive(Debug, Subcommand)]
pub enum TrainModel {
    /// Train the DGA model.
    Dga(TrainDgaArgs),
}

/// The training data of the DGA model (shared by `train dga` and `eval dga`).
#[derive(Debug, Args)]
pub struct DgaDataArgs {
    /// Popular (benign) domains: one a line, or `rank,domain` CSV lines.
    #[arg(long, value_name = "FILE")]
    pub benign: PathBuf,

    /// A folder of DGA output: one `<family>.txt` per family, one domain a line.
    #[arg(long, value_name = "DIR")]
    pub dga: PathBuf,

    /// Folds over the benign names (calibration and false-positive measurement).
    #[arg(long, default_value_t = 5)]
    pub folds: usize,

    /// Boosted trees of the model (0: the linear model alone).
    #[arg(long, default_value_t = ForestConfig::default().trees, help_heading = "Model")]
    pub trees: usize,

    /// Depth of each tree.
    #[arg(long, default_value_t = ForestConfig::default().depth, help_heading = "Model")]
    pub depth: usize,

    /// At most this many names per class fit the model (the language models use every name).
    #[arg(long, default_value_t = TrainConfig::default().max_per_class, help_heading = "Model")]
    pub max_per_class: usize,

    /// Weight of the popular class against the DGA class (above 1 trades true positives for
    /// fewer false positives).
    #[arg(long, default_value_t = TrainConfig::default().benign_weight, help_heading = "Model")]
    pub benign_weight: f64,
}

impl DgaDataArgs {
    /// The training settings these options give.
    pub fn train_config(&self) -> TrainConfig {
        TrainConfig {
            folds: self.folds,
            max_per_class: self.max_per_class,
            benign_weight: self.benign_weight,
            forest: (self.trees > 0).then(|| ForestConfig {
                trees: self.trees,
                depth: self.depth,
                ..ForestConfig::default()
            }),
            ..TrainConfig::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct TrainDgaArgs {
    #[command(flatten)]
    pub data: DgaDataArgs,

    /// Where to write the weights (the build compiles in `models/dga.bin`).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

pub fn run(args: TrainArgs) -> Result<ExitCode> {
    match args.model {
        TrainModel::Dga(args) => train_dga(args),
    }
}

/// Reads the benign list and the DGA folder.
/// DGA families: (family name, its domains).
pub type Families = Vec<(String, Vec<String>)>;

pub fn load(data: &DgaDataArgs) -> Result<(Vec<String>, Families)> {
    let benign = read_names(&data.benign)?;
    if benign.is_empty() {
        bail!("no names in {}", data.benign.display());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&data.dga)
        .with_context(|| format!("reading folder {}", data.dga.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let mut dga = Vec::new();
    for path in files {
        let family = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let names = read_names(&path)?;
        if !names.is_empty() {
            dga.push((family, names));
        }
    }
    if dga.is_empty() {
        bail!("no <family>.txt files with names in {}", data.dga.display());
    }
    Ok((benign, dga))
}

/// One name a line; of `rank,domain` lines the last field; blank and `#` lines skipped.
fn read_names(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.rsplit(',').next().unwrap_or(l).trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

/// Prepares the corpus and says what was skipped.
pub fn corpus(data: &DgaDataArgs) -> Result<Corpus> {
    let (benign, dga) = load(data)?;
    let corpus = Corpus::new(benign.iter().map(String::as_str), &dga, data.folds);
    let (n_benign, per_family) = corpus.sizes();
    eprintln!(
        "{n_benign} benign names, {} DGA names in {} families ({} benign and {} DGA names skipped: no registrable label or IDN)",
        per_family.iter().sum::<usize>(),
        per_family.len(),
        corpus.skipped_benign,
        corpus.skipped_dga
    );
    Ok(corpus)
}

fn train_dga(args: TrainDgaArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let corpus = corpus(&args.data)?;
    let trained = train(&corpus, &args.data.train_config());
    let bytes = trained.model.to_bytes();
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    let cal = trained.model.calibration();
    let at = |score: f64| cal.raw_for_score(score).map_or("-".to_owned(), |r| format!("{r:.3}"));
    eprintln!(
        "wrote {} ({} bytes) in {:.1}s; raw log-odds at score 0.6 (FPR 1e-3): {}, 0.8 (FPR 1e-4): {}",
        args.out.display(),
        bytes.len(),
        started.elapsed().as_secs_f64(),
        at(0.6),
        at(0.8)
    );
    Ok(ExitCode::SUCCESS)
}

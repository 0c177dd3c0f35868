//! `dnshunt eval dga`: leave-one-family-out evaluation of the DGA model, and its scoring speed.
//!
//! For every family, models are fitted without that family and without one fold of the benign
//! names, for each fold in turn; the held-out benign names set the thresholds for each
//! false-positive rate, and the family's names (scored by the same models) give the true-positive
//! rate. No name is ever scored by a model that saw it.

use std::hint::black_box;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use dnshunt_core::DnsName;
use dnshunt_detect::detectors::dga::DgaConfig;
use dnshunt_enrich::dga::DgaModel;
use dnshunt_enrich::label::registrable_label;
use dnshunt_enrich::train::{evaluate_family_with, Corpus, FamilyEval, TrainConfig, EVAL_FPRS};

use crate::train::{load, DgaDataArgs};

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub model: EvalModel,
}

#[derive(Debug, Subcommand)]
pub enum EvalModel {
    /// Leave-one-family-out evaluation of the DGA model.
    Dga(EvalDgaArgs),
    /// Precision on real recordings: each file hunted on its own; incidents and findings by
    /// severity, medium-or-higher per 10,000 events, and every medium-or-higher headline.
    Findings(crate::eval_findings::EvalFindingsArgs),
}

#[derive(Debug, Args)]
pub struct EvalDgaArgs {
    #[command(flatten)]
    pub data: DgaDataArgs,

    /// Families whose DGA joins words from a list; reported apart from the character-based ones.
    #[arg(long, value_delimiter = ',', default_value = "gozi,nymaim2")]
    pub wordlist_families: Vec<String>,

    /// Evaluate only these families (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,

    /// List this many benign names that score above the 1e-4 threshold.
    #[arg(long, default_value_t = 20)]
    pub show_false_positives: usize,

    /// Threads (families are evaluated in parallel; default: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,

    /// Event data (anything `hunt` reads: Sysmon, captures, Zeek, Suricata) whose lookups make
    /// a second set of benign bursts for the group evaluation: names real endpoints asked for.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub lookups: Vec<std::path::PathBuf>,

    #[command(flatten)]
    pub burst: BurstArgs,
}

/// The group detector's settings (`[detectors.dga]` `burst_*`), to try others.
#[derive(Debug, Args)]
pub struct BurstArgs {
    /// Names count in a burst from this score on.
    #[arg(long, default_value_t = DgaConfig::default().burst_min_score)]
    pub burst_min_score: f64,
    /// A name counts in a burst at most as a name of this score.
    #[arg(long, default_value_t = DgaConfig::default().burst_cap_score)]
    pub burst_cap_score: f64,
    /// The evidence (-log10 of the chance for popular names) from which a burst is reported.
    #[arg(long, default_value_t = DgaConfig::default().burst_evidence)]
    pub burst_evidence: f64,
}

pub fn run(args: EvalArgs) -> Result<ExitCode> {
    match args.model {
        EvalModel::Dga(args) => eval_dga(args),
        EvalModel::Findings(args) => crate::eval_findings::run(args),
    }
}

fn eval_dga(args: EvalDgaArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let (benign, dga) = load(&args.data)?;
    let corpus = Corpus::new(benign.iter().map(String::as_str), &dga, args.data.folds);
    let families: Vec<usize> = (0..corpus.families().len())
        .filter(|&f| args.only.is_empty() || args.only.contains(&corpus.families()[f]))
        .collect();
    if families.is_empty() {
        bail!("no family matches --only");
    }
    let config = args.data.train_config();
    let threads = if args.threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        args.threads
    };
    let lookups = lookup_labels(&args.lookups)?;
    let results = evaluate_parallel(&corpus, &families, &config, threads, &lookups);
    let (n_benign, _) = corpus.sizes();
    println!(
        "DGA model, leave-one-family-out: {n_benign} benign names in {} folds (each scored by models that never saw it), {} families",
        corpus.folds(),
        families.len()
    );
    println!("TPR = share of a family's names above the threshold that gives the FPR on held-out benign names (raw log-odds");
    println!("thresholds: the benign scores of that family's models); AUC = chance a family name outscores a held-out benign name\n");
    println!(
        "{:<18} {:<10} {:>7} {:>12} {:>12} {:>8} {:>10} {:>10}",
        "family", "kind", "names", "TPR@1e-3", "TPR@1e-4", "AUC", "thr@1e-3", "thr@1e-4"
    );
    let is_wordlist = |r: &FamilyEval| args.wordlist_families.contains(&r.family);
    for kind in [false, true] {
        for r in results.iter().filter(|r| is_wordlist(r) == kind) {
            println!(
                "{:<18} {:<10} {:>7} {:>11.1}% {:>11.1}% {:>8.4} {:>10.3} {:>10.3}",
                r.family,
                if kind { "wordlist" } else { "character" },
                r.names,
                100.0 * r.tpr(0),
                100.0 * r.tpr(1),
                r.auc,
                r.thresholds[0],
                r.thresholds[1]
            );
        }
    }
    println!();
    for (label, kind) in [("character-based", false), ("wordlist", true)] {
        let group: Vec<&FamilyEval> = results.iter().filter(|r| is_wordlist(r) == kind).collect();
        if group.is_empty() {
            continue;
        }
        let names: usize = group.iter().map(|r| r.names).sum();
        let pooled = |i: usize| 100.0 * group.iter().map(|r| r.detected[i]).sum::<usize>() as f64 / names.max(1) as f64;
        let mean = |i: usize| 100.0 * group.iter().map(|r| r.tpr(i)).sum::<f64>() / group.len() as f64;
        let at90 = group.iter().filter(|r| r.tpr(1) >= 0.9).count();
        let auc = group.iter().map(|r| r.auc).sum::<f64>() / group.len() as f64;
        println!(
            "{:<29} {:>7} {:>11.1}% {:>11.1}%   (mean over {} families: {:.1}% / {:.1}%, AUC {:.4}; {} of them ≥ 90% at 1e-4)",
            format!("overall {label}"),
            names,
            pooled(0),
            pooled(1),
            group.len(),
            mean(0),
            mean(1),
            auc,
            at90
        );
    }
    let fps: Vec<String> = (0..EVAL_FPRS.len())
        .map(|i| {
            let fp: usize = results.iter().map(|r| r.benign_false_positives[i]).sum();
            let n: usize = results.iter().map(|r| r.benign_names).sum();
            format!("{:.1e} at {:.0e}", fp as f64 / n.max(1) as f64, EVAL_FPRS[i])
        })
        .collect();
    println!("measured benign FPR (all families' held-out benign scores): {}", fps.join(", "));
    // Benign names that most often score above the 1e-4 threshold: the false positives.
    let mut fp_counts: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    for r in &results {
        for &i in &r.top_benign {
            *fp_counts.entry(i).or_default() += 1;
        }
    }
    let mut fp_counts: Vec<(u32, usize)> = fp_counts.into_iter().collect();
    fp_counts.sort_by(|a, b| b.1.cmp(&a.1).then(corpus.name(a.0).cmp(corpus.name(b.0))));
    let listed: Vec<String> = fp_counts
        .iter()
        .take(args.show_false_positives)
        .map(|&(i, n)| format!("{} ({n})", corpus.name(i)))
        .collect();
    if !listed.is_empty() {
        println!(
            "benign names above the 1e-4 threshold (in how many of the {} evaluations): {}",
            results.len(),
            listed.join(", ")
        );
    }
    group_detection(&results, &is_wordlist, "held-out popular names", |r| &r.benign_scores, &args.burst);
    if !lookups.is_empty() {
        let what = format!("names of real lookups ({} distinct registrable labels)", lookups.len());
        group_detection(&results, &is_wordlist, &what, |r| &r.extra_scores, &args.burst);
    }
    println!("evaluation took {:.1}s on {threads} threads", started.elapsed().as_secs_f64());
    println!();
    throughput(&benign, &dga);
    Ok(ExitCode::SUCCESS)
}

/// Evaluates families on `threads` threads, results in family order.
/// Burst sizes of the group evaluation, and the benign bursts drawn per family and size.
const BURST_SIZES: [usize; 3] = [5, 10, 20];
const BENIGN_BURSTS: usize = 100_000;

/// One family's group detection, per burst size.
struct GroupRow {
    wordlist: bool,
    /// Detected at 1e-4 false bursts.
    at_rate: [Option<f64>; 3],
    /// Detected at the detector's cut.
    at_cut: [Option<f64>; 3],
}

/// The group detector (a process asking for many names: the `dga` detector's burst evidence,
/// [`dnshunt_enrich::burst`]) on bursts of 5, 10 and 20 names of each family, against bursts of
/// held-out popular names, at one false burst in 10,000, and at the detector's own evidence cut.
/// Scores are calibrated as the detector's are. The evidence uses the names alone (neither
/// NXDOMAIN answers nor timing), so that is all either side is judged on.
fn group_detection(results: &[FamilyEval], is_wordlist: &dyn Fn(&FamilyEval) -> bool, benign_what: &str, benign_of: fn(&FamilyEval) -> &[f32], burst: &BurstArgs) {
    let show = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", v * 100.0));
    let model = dnshunt_enrich::burst::BurstModel::new(burst.burst_min_score, burst.burst_cap_score);
    let sum = |scores: &[f32]| model.sum(scores.iter().map(|&s| f64::from(s)));
    // Evidence grows with the sum for bursts of one size: the detector's cut as a sum.
    let detector_cut: Vec<f64> = BURST_SIZES.iter().map(|&k| model.sum_for(burst.burst_evidence, k as u64)).collect();
    println!();
    println!(
        "group detection: bursts of k names of a family against {BENIGN_BURSTS} bursts of k {benign_what}, at 1e-4 false bursts \
         (names count from score {:.2}, at most as {:.2}; names alone, no NXDOMAIN or timing)",
        burst.burst_min_score, burst.burst_cap_score
    );
    println!("{:<18} {:<10} {:>9} {:>9} {:>9}", "family", "kind", "k=5", "k=10", "k=20");
    let mut rows: Vec<GroupRow> = Vec::new();
    let mut low_at_cut: Vec<String> = Vec::new();
    let mut false_bursts = [0usize; 3];
    let mut detector_false = [0usize; 3];
    for r in results {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ r.family.len() as u64);
        let mut family = r.family_scores.clone();
        rng.shuffle(&mut family);
        let mut rates = [None; 3];
        let mut at_cut = [None; 3];
        for (i, &k) in BURST_SIZES.iter().enumerate() {
            let pool = benign_of(r);
            if family.len() < k || pool.len() < k {
                continue;
            }
            let mut benign: Vec<f64> = (0..BENIGN_BURSTS)
                .map(|_| {
                    let pick: Vec<f32> = (0..k).map(|_| pool[rng.below(pool.len())]).collect();
                    sum(&pick)
                })
                .collect();
            benign.sort_by(|a, b| b.total_cmp(a));
            let allowed = BENIGN_BURSTS / 10_000;
            let cut = benign[allowed];
            false_bursts[i] += benign.iter().filter(|&&b| b > cut).count();
            detector_false[i] += benign.iter().filter(|&&b| b >= detector_cut[i]).count();
            let bursts: Vec<f64> = family.chunks_exact(k).map(sum).collect();
            let share = |cut: &dyn Fn(f64) -> bool| bursts.iter().filter(|&&b| cut(b)).count() as f64 / bursts.len() as f64;
            rates[i] = Some(share(&|b| b > cut));
            at_cut[i] = Some(share(&|b| b >= detector_cut[i]));
        }
        println!(
            "{:<18} {:<10} {:>9} {:>9} {:>9}",
            r.family,
            if is_wordlist(r) { "wordlist" } else { "character" },
            show(rates[0]),
            show(rates[1]),
            show(rates[2])
        );
        if !is_wordlist(r) && at_cut[1].is_some_and(|v| v < 0.99) {
            low_at_cut.push(format!("{} {}", r.family, show(at_cut[1])));
        }
        rows.push(GroupRow {
            wordlist: is_wordlist(r),
            at_rate: rates,
            at_cut,
        });
    }
    let n = (results.len() * BENIGN_BURSTS).max(1) as f64;
    for (label, kind) in [("character-based", false), ("wordlist", true)] {
        let group: Vec<&GroupRow> = rows.iter().filter(|r| r.wordlist == kind).collect();
        if group.is_empty() {
            continue;
        }
        // The mean of each burst size's rate over the families that have one.
        let means = |pick: fn(&GroupRow) -> &[Option<f64>; 3]| {
            let mean = |i: usize| {
                let v: Vec<f64> = group.iter().filter_map(|r| pick(r)[i]).collect();
                (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
            };
            format!("{:>9} {:>9} {:>9}", show(mean(0)), show(mean(1)), show(mean(2)))
        };
        let all99 = group.iter().filter(|r| r.at_rate[1].is_some_and(|v| v >= 0.99)).count();
        println!(
            "{:<29} {}   (mean over {} families; {} of them ≥ 99% at k=10)",
            format!("mean {label}"),
            means(|r| &r.at_rate),
            group.len(),
            all99
        );
        println!(
            "{:<29} {}   (at the detector's cut, evidence ≥ {})",
            "  detector's cut",
            means(|r| &r.at_cut),
            burst.burst_evidence
        );
    }
    let rates = |counts: [usize; 3]| {
        BURST_SIZES
            .iter()
            .zip(counts)
            .map(|(k, f)| format!("{:.1e} at k={k}", f as f64 / n))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !low_at_cut.is_empty() {
        println!("character families under 99% at k=10 at the detector's cut: {}", low_at_cut.join(", "));
    }
    println!("measured false bursts: {}", rates(false_bursts));
    println!("false bursts at the detector's cut: {}", rates(detector_false));
}

/// The registrable labels (with their suffixes) of every lookup in `paths`, Sysmon's and the
/// wire's, distinct; internationalised labels are left out as the DGA detector leaves them.
fn lookup_labels(paths: &[std::path::PathBuf]) -> Result<Vec<(String, String)>> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let inputs = paths.iter().map(|p| dnshunt_source::Input::Path(p.clone())).collect();
    let (rx, handle) = dnshunt_source::spawn(inputs, dnshunt_source::ReadOptions::default());
    let mut labels = std::collections::BTreeSet::new();
    for msg in rx {
        if let dnshunt_source::Message::Batch { events, .. } = msg {
            for event in &events {
                let Some(q) = event.lookup() else { continue };
                if let Some(r) = dnshunt_enrich::label::registrable_label(&q.query) {
                    if !r.label.starts_with("xn--") {
                        labels.insert((r.label.to_owned(), r.suffix.to_owned()));
                    }
                }
            }
        }
    }
    handle.join().map_err(|_| anyhow::anyhow!("reading the lookups failed"))?;
    eprintln!("{} distinct registrable labels in the lookups of {}", labels.len(), paths.len());
    Ok(labels.into_iter().collect())
}

/// A small deterministic generator, so the group evaluation gives the same numbers every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

fn evaluate_parallel(corpus: &Corpus, families: &[usize], config: &TrainConfig, threads: usize, extra: &[(String, String)]) -> Vec<FamilyEval> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, FamilyEval)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, families.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&family) = families.get(i) else { break };
                let t = Instant::now();
                let r = evaluate_family_with(corpus, family, config, extra);
                eprintln!("  {:<18} {:>5.1}s", r.family, t.elapsed().as_secs_f64());
                results.lock().unwrap_or_else(|e| e.into_inner()).push((i, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Scoring speed of the built-in model on one core, over the evaluation's names. Reported per
/// second of wall time and per second this thread spent on a CPU (Linux `schedstat`; the same
/// number when nothing else competes for the core).
fn throughput(benign: &[String], dga: &[(String, Vec<String>)]) {
    let model = DgaModel::builtin();
    let names: Vec<DnsName> = benign.iter().chain(dga.iter().flat_map(|(_, n)| n)).map(|n| DnsName::new(n)).collect();
    let labels: Vec<(&str, &str)> = names.iter().filter_map(|n| registrable_label(n).map(|r| (r.label, r.suffix))).collect();
    let time = |f: &mut dyn FnMut() -> usize| {
        let (started, cpu) = (Instant::now(), thread_cpu_ns());
        let mut n = 0;
        while started.elapsed() < Duration::from_secs(2) {
            n += f();
        }
        let wall = n as f64 / started.elapsed().as_secs_f64();
        let on_cpu = match (cpu, thread_cpu_ns()) {
            (Some(a), Some(b)) if b > a => n as f64 / ((b - a) as f64 / 1e9),
            _ => wall,
        };
        (wall, on_cpu)
    };
    let per_label = time(&mut || {
        for (label, suffix) in &labels {
            black_box(model.score_label(black_box(label), black_box(suffix)));
        }
        labels.len()
    });
    let per_name = time(&mut || {
        for name in &names {
            black_box(model.score_name(black_box(name)));
        }
        names.len()
    });
    println!("scoring speed, one thread ({} names):", names.len());
    for (what, (wall, on_cpu)) in [("label and suffix given", per_label), ("parsed name (registrable label + score)", per_name)] {
        println!("  {what:<40} {wall:>10.0} names/s wall, {on_cpu:>10.0} names/s of CPU time");
    }
}

/// Nanoseconds the current thread has run on a CPU, where Linux tells.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

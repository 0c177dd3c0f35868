//! Training the DGA model from lists of popular (benign) domains and of DGA output, and the
//! leave-one-family-out evaluation that uses the same code. Pure computation: the binary reads
//! the files and hands the names over.
//!
//! How a model is fitted ([`fit`]):
//! 1. Trigram counts of the benign and of the DGA labels give two language models
//!    ([`crate::ngram`]); counts of public suffixes give the suffix prior.
//! 2. A logistic regression learns how much each feature counts. Its training labels get their
//!    language-model features from models fitted on the *other half* of the training data
//!    (two-fold stacking): a label scored by a model that has seen it looks more typical than
//!    any new label will, and the regression would learn to trust that too much.
//! 3. The shipped model's language models and prior use all the training data.
//!
//! The score is calibrated ([`Calibration`]) on benign labels held out of training by
//! `folds`-fold cross-validation: folds are drawn by a hash of the label, so `google.de` and
//! `google.fr` fall in the same fold and one never vouches for the other.
// Newton steps over small dense matrices read clearer with indices; `!(x > y)` is meant to
// treat NaN as failing the test.
#![allow(clippy::needless_range_loop, clippy::neg_cmp_op_on_partial_ord)]

use std::collections::HashMap;

use dnshunt_core::DnsName;

use crate::dga::{
    f32_exact, fourgram_features, lm_features, quantize_table, shape_features, Calibration, DgaModel, Features, Linear, RawModel, SuffixPrior, F_LEN, F_SUFFIX, MAX_LABEL,
    N_FEATURES,
};
use crate::label::registrable_label;
use crate::ngram::{for_each_fourgram, for_each_trigram, FourgramSet, TrigramCounts, FOURGRAMS};
use crate::trees::{fit_forest, ForestConfig};

/// Settings of training.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Folds over the benign names, for calibration and for measuring false positives.
    pub folds: usize,
    /// L2 penalty of the logistic regression, on standardised features.
    pub l2: f64,
    /// At most this many names per class fit the regression (evenly spaced through the lists);
    /// the language models always use every name.
    pub max_per_class: usize,
    /// Newton iterations of the regression at most.
    pub max_iterations: usize,
    /// Boosted trees; `None` scores with the linear model alone.
    pub forest: Option<ForestConfig>,
    /// Weight of the benign class against the DGA class (1: equal).
    pub benign_weight: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            folds: 5,
            l2: 1.0,
            max_per_class: 20_000,
            max_iterations: 25,
            forest: Some(ForestConfig::default()),
            benign_weight: 1.0,
        }
    }
}

/// One prepared name: its label's shape features and trigrams, where it came from.
#[derive(Clone, Debug)]
struct Item {
    /// `None` for benign names.
    family: Option<u16>,
    /// Benign: `0..2·folds` (fold = bucket / 2, half = bucket % 2). DGA: half in bit 0, the
    /// evaluation part in the rest.
    bucket: u32,
    suffix: u32,
    trigrams: (u32, u32),
    fourgrams: (u32, u32),
    shape: Features,
    /// Index into [`Corpus::labels`].
    label: u32,
}

impl Item {
    fn half(&self) -> usize {
        (self.bucket % 2) as usize
    }
}

/// Names prepared for training and evaluation: labels extracted once, counts per subset.
#[derive(Debug)]
pub struct Corpus {
    folds: usize,
    families: Vec<String>,
    items: Vec<Item>,
    trigrams: Vec<u32>,
    /// `(start, index)` of each 4-gram, see [`for_each_fourgram`].
    fourgrams: Vec<(u8, u32)>,
    suffixes: Vec<String>,
    /// `label.suffix` of each item, for reports.
    labels: Vec<String>,
    /// Per benign bucket: the distinct 4-grams of each name, one after the other.
    benign_fourgrams: Vec<Vec<u32>>,
    /// Per benign bucket.
    benign_counts: Vec<TrigramCounts>,
    benign_suffixes: Vec<Vec<u32>>,
    /// Per family and half.
    dga_counts: Vec<[TrigramCounts; 2]>,
    dga_suffixes: Vec<[Vec<u32>; 2]>,
    /// Names without a scorable registrable label (no known suffix, IDN), per input.
    pub skipped_benign: usize,
    pub skipped_dga: usize,
}

/// Which data a model is fitted without.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HoldOut<'a> {
    /// A fold of the benign names.
    pub fold: Option<usize>,
    /// DGA families (indices into [`Corpus::families`]).
    pub families: &'a [usize],
}

fn label_hash(label: &str) -> u64 {
    // FNV-1a then a finaliser, so that buckets do not follow the label's last byte.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in label.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

impl Corpus {
    /// Prepares benign names and DGA names (grouped by family). Names are as they would be
    /// logged (`www.example.co.uk`, `abc.ddns.net`); their registrable labels are what is
    /// learnt, exactly as the detector will score them.
    pub fn new<'a>(benign: impl IntoIterator<Item = &'a str>, dga: &[(String, Vec<String>)], folds: usize) -> Corpus {
        let folds = folds.max(2);
        let mut c = Corpus {
            folds,
            families: dga.iter().map(|(f, _)| f.clone()).collect(),
            items: Vec::new(),
            trigrams: Vec::new(),
            fourgrams: Vec::new(),
            benign_fourgrams: vec![Vec::new(); 2 * folds],
            suffixes: Vec::new(),
            labels: Vec::new(),
            benign_counts: vec![TrigramCounts::default(); 2 * folds],
            benign_suffixes: vec![Vec::new(); 2 * folds],
            dga_counts: vec![[TrigramCounts::default(), TrigramCounts::default()]; dga.len()],
            dga_suffixes: vec![[Vec::new(), Vec::new()]; dga.len()],
            skipped_benign: 0,
            skipped_dga: 0,
        };
        let mut suffix_ids: HashMap<String, u32> = HashMap::new();
        for name in benign {
            if !c.push(name, None, &mut suffix_ids) {
                c.skipped_benign += 1;
            }
        }
        for (family, (_, names)) in dga.iter().enumerate() {
            for name in names {
                if !c.push(name, Some(family as u16), &mut suffix_ids) {
                    c.skipped_dga += 1;
                }
            }
        }
        c
    }

    fn push(&mut self, raw: &str, family: Option<u16>, suffix_ids: &mut HashMap<String, u32>) -> bool {
        let name = DnsName::new(raw);
        let Some(r) = registrable_label(&name) else { return false };
        if crate::dga::is_idn(r.label) {
            return false;
        }
        let label = &r.label[..r.label.len().min(MAX_LABEL)];
        let next_id = self.suffixes.len() as u32;
        let suffix = *suffix_ids.entry(r.suffix.to_owned()).or_insert(next_id);
        if suffix == next_id {
            self.suffixes.push(r.suffix.to_owned());
            for v in &mut self.benign_suffixes {
                v.push(0);
            }
            for [a, b] in &mut self.dga_suffixes {
                a.push(0);
                b.push(0);
            }
        }
        let hash = label_hash(label);
        let bucket = match family {
            None => (hash % (2 * self.folds as u64)) as u32,
            Some(_) => ((hash >> 1) % self.folds as u64 * 2 + (hash & 1)) as u32,
        };
        let start = self.trigrams.len() as u32;
        for_each_trigram(label.as_bytes(), |i| self.trigrams.push(i as u32));
        let start4 = self.fourgrams.len() as u32;
        for_each_fourgram(label.as_bytes(), |at, i| self.fourgrams.push((at as u8, i as u32)));
        let mut shape = [0.0; N_FEATURES];
        shape_features(label.as_bytes(), &mut shape);
        match family {
            None => {
                let mut distinct: Vec<u32> = self.fourgrams[start4 as usize..].iter().map(|&(_, i)| i).collect();
                distinct.sort_unstable();
                distinct.dedup();
                self.benign_fourgrams[bucket as usize].extend(distinct);
                self.benign_counts[bucket as usize].add_label(label);
                self.benign_suffixes[bucket as usize][suffix as usize] += 1;
            }
            Some(f) => {
                let half = (bucket % 2) as usize;
                self.dga_counts[f as usize][half].add_label(label);
                self.dga_suffixes[f as usize][half][suffix as usize] += 1;
            }
        }
        self.items.push(Item {
            family,
            bucket,
            suffix,
            trigrams: (start, self.trigrams.len() as u32),
            fourgrams: (start4, self.fourgrams.len() as u32),
            shape,
            label: self.labels.len() as u32,
        });
        self.labels.push(format!("{label}.{}", r.suffix));
        true
    }

    /// The DGA families, in input order.
    pub fn families(&self) -> &[String] {
        &self.families
    }

    pub fn folds(&self) -> usize {
        self.folds
    }

    /// Number of benign names and of names per family that were prepared.
    pub fn sizes(&self) -> (usize, Vec<usize>) {
        let mut per_family = vec![0; self.families.len()];
        let mut benign = 0;
        for item in &self.items {
            match item.family {
                None => benign += 1,
                Some(f) => per_family[f as usize] += 1,
            }
        }
        (benign, per_family)
    }

    fn is_training(&self, item: &Item, hold: HoldOut) -> bool {
        match item.family {
            None => hold.fold != Some(item.bucket as usize / 2),
            Some(f) => !hold.families.contains(&(f as usize)),
        }
    }

    /// The features of an item under a raw model (the same values as [`RawModel::features`]).
    fn features(&self, item: &Item, model: &RawModel) -> Features {
        self.features_with(item, |i| model.lookup(i), &model.common, &model.suffix)
    }

    fn features_with(&self, item: &Item, lookup: impl Fn(usize) -> (f32, f32), common: &FourgramSet, prior: &SuffixPrior) -> Features {
        let mut x = item.shape;
        let tri = &self.trigrams[item.trigrams.0 as usize..item.trigrams.1 as usize];
        lm_features(tri.iter().map(|&i| i as usize), lookup, &mut x);
        let four = &self.fourgrams[item.fourgrams.0 as usize..item.fourgrams.1 as usize];
        fourgram_features(x[F_LEN] as usize, four.iter().map(|&(at, i)| (at as usize, i as usize)), common, &mut x);
        x[F_SUFFIX] = prior.get(&self.suffixes[item.suffix as usize]);
        x
    }

    /// The raw scores of the benign names of one fold, with the names' indices.
    fn benign_raw_of_fold(&self, model: &RawModel, fold: usize) -> Vec<(f64, u32)> {
        self.items
            .iter()
            .filter(|i| i.family.is_none() && i.bucket as usize / 2 == fold)
            .map(|i| (model.raw_of(&self.features(i, model)), i.label))
            .collect()
    }

    /// `label.suffix` of a prepared name.
    pub fn name(&self, index: u32) -> &str {
        self.labels.get(index as usize).map_or("", String::as_str)
    }

    /// The raw scores of one family's names of one evaluation part.
    fn family_raw_of_part(&self, model: &RawModel, family: usize, part: usize) -> Vec<f64> {
        self.items
            .iter()
            .filter(|i| i.family == Some(family as u16) && i.bucket as usize / 2 == part)
            .map(|i| model.raw_of(&self.features(i, model)))
            .collect()
    }
}

/// The trained tables of a raw model.
struct Tables {
    benign: Vec<f32>,
    dga: Vec<f32>,
    common: FourgramSet,
    prior: SuffixPrior,
}

/// A 4-gram is common when this many popular names have it.
const COMMON_FOURGRAM_NAMES: u8 = 2;

/// Language models, common 4-grams and suffix prior from the counts of the training data (one
/// half of it, or all of it).
fn tables(corpus: &Corpus, hold: HoldOut, half: Option<usize>) -> Tables {
    let mut names_with = vec![0u8; FOURGRAMS];
    let mut benign = TrigramCounts::default();
    let mut dga = TrigramCounts::default();
    let n_suffixes = corpus.suffixes.len();
    let mut cb = vec![0u64; n_suffixes];
    let mut cd = vec![0u64; n_suffixes];
    for (bucket, counts) in corpus.benign_counts.iter().enumerate() {
        if hold.fold == Some(bucket / 2) || half.is_some_and(|h| bucket % 2 != h) {
            continue;
        }
        benign.add(counts);
        for &i in &corpus.benign_fourgrams[bucket] {
            names_with[i as usize] = names_with[i as usize].saturating_add(1);
        }
        for (c, &n) in cb.iter_mut().zip(&corpus.benign_suffixes[bucket]) {
            *c += u64::from(n);
        }
    }
    for (family, halves) in corpus.dga_counts.iter().enumerate() {
        if hold.families.contains(&family) {
            continue;
        }
        for (h, counts) in halves.iter().enumerate() {
            if half.is_some_and(|want| want != h) {
                continue;
            }
            dga.add(counts);
            for (c, &n) in cd.iter_mut().zip(&corpus.dga_suffixes[family][h]) {
                *c += u64::from(n);
            }
        }
    }
    let mut tb = benign.log_prob_table();
    let mut td = dga.log_prob_table();
    quantize_table(&mut tb);
    quantize_table(&mut td);
    let mut common = FourgramSet::default();
    for (i, &n) in names_with.iter().enumerate() {
        if n >= COMMON_FOURGRAM_NAMES {
            common.insert(i);
        }
    }
    Tables {
        benign: tb,
        dga: td,
        common,
        prior: suffix_prior(&corpus.suffixes, &cb, &cd),
    }
}

/// Smoothed log-odds of DGA output per suffix, clamped to ±6.
fn suffix_prior(suffixes: &[String], benign: &[u64], dga: &[u64]) -> SuffixPrior {
    let seen = benign.iter().zip(dga).filter(|(b, d)| **b + **d > 0).count() as f64;
    let nb = benign.iter().sum::<u64>() as f64;
    let nd = dga.iter().sum::<u64>() as f64;
    let prior = |b: u64, d: u64| f32_exact((((d as f64 + 1.0) / (nd + seen)).ln() - ((b as f64 + 1.0) / (nb + seen)).ln()).clamp(-6.0, 6.0));
    let known = suffixes
        .iter()
        .zip(benign.iter().zip(dga))
        .filter(|(_, (b, d))| **b + **d > 0)
        .map(|(s, (&b, &d))| (Box::from(s.as_str()), prior(b, d)))
        .collect();
    SuffixPrior { known, unknown: prior(0, 0) }
}

/// Fits a raw model on everything but `hold`.
pub fn fit(corpus: &Corpus, hold: HoldOut, config: &TrainConfig) -> RawModel {
    let full = tables(corpus, hold, None);
    let halves = [tables(corpus, hold, Some(0)), tables(corpus, hold, Some(1))];

    // The regression's examples: evenly spaced through each class.
    let benign: Vec<&Item> = corpus.items.iter().filter(|i| i.family.is_none() && corpus.is_training(i, hold)).collect();
    let dga: Vec<&Item> = corpus.items.iter().filter(|i| i.family.is_some() && corpus.is_training(i, hold)).collect();
    let benign = spaced(&benign, config.max_per_class);
    let dga = spaced(&dga, config.max_per_class);
    // Each family weighs the same, and the two classes weigh the same.
    let mut per_family: HashMap<u16, usize> = HashMap::new();
    for item in &dga {
        *per_family.entry(item.family.unwrap_or(0)).or_default() += 1;
    }
    let n_families = per_family.len().max(1) as f64;
    let mut x: Vec<Features> = Vec::with_capacity(benign.len() + dga.len());
    let mut y: Vec<f64> = Vec::with_capacity(x.capacity());
    let mut w: Vec<f64> = Vec::with_capacity(x.capacity());
    for (items, label) in [(&benign, 0.0), (&dga, 1.0)] {
        for item in items.iter() {
            // Features from the models of the other half (stacking, see the module docs).
            let t = &halves[1 - item.half()];
            x.push(corpus.features_with(item, |i| (t.benign[i], t.dga[i]), &t.common, &t.prior));
            y.push(label);
            w.push(if label == 0.0 {
                config.benign_weight
            } else {
                benign.len() as f64 / n_families / per_family[&item.family.unwrap_or(0)] as f64
            });
        }
    }
    let linear = logistic_regression(&x, &y, &w, config);
    let forest = config.forest.as_ref().map(|c| fit_forest(&x, &y, &w, c)).unwrap_or_default();
    RawModel::new(&full.benign, &full.dga, full.common, full.prior, linear, forest)
}

/// At most `max` items, evenly spaced.
fn spaced<'a>(items: &[&'a Item], max: usize) -> Vec<&'a Item> {
    if items.len() <= max || max == 0 {
        return items.to_vec();
    }
    (0..max).map(|k| items[k * items.len() / max]).collect()
}

/// Weighted L2-regularised logistic regression by Newton's method, on standardised features.
fn logistic_regression(x: &[Features], y: &[f64], w: &[f64], config: &TrainConfig) -> Linear {
    const D: usize = N_FEATURES + 1;
    let total_w: f64 = w.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let mut mean = [0.0; N_FEATURES];
    let mut scale = [0.0; N_FEATURES];
    for (xi, wi) in x.iter().zip(w) {
        for j in 0..N_FEATURES {
            mean[j] += wi * xi[j];
        }
    }
    mean.iter_mut().for_each(|m| *m /= total_w);
    for (xi, wi) in x.iter().zip(w) {
        for j in 0..N_FEATURES {
            scale[j] += wi * (xi[j] - mean[j]).powi(2);
        }
    }
    for s in &mut scale {
        *s = (*s / total_w).sqrt();
        if !(*s > 1e-9) {
            *s = 1.0;
        }
    }
    let mean = mean.map(f32_exact);
    let scale = scale.map(f32_exact);
    let z: Vec<[f64; D]> = x
        .iter()
        .map(|xi| {
            let mut zi = [1.0; D];
            for j in 0..N_FEATURES {
                zi[j] = (xi[j] - mean[j]) / scale[j];
            }
            zi
        })
        .collect();
    // Weights are normalised to sum to the number of examples, so `l2` means the same whatever
    // the class balance.
    let norm = x.len() as f64 / total_w;
    let mut beta = [0.0; D];
    for _ in 0..config.max_iterations {
        let mut grad = [0.0; D];
        let mut hess = [[0.0; D]; D];
        for ((zi, &yi), &wi) in z.iter().zip(y).zip(w) {
            let t: f64 = zi.iter().zip(&beta).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-t).exp());
            let wi = wi * norm;
            let g = wi * (p - yi);
            let h = wi * (p * (1.0 - p)).max(1e-12);
            for a in 0..D {
                grad[a] += g * zi[a];
                let hz = h * zi[a];
                for b in 0..=a {
                    hess[a][b] += hz * zi[b];
                }
            }
        }
        for a in 0..N_FEATURES {
            grad[a] += config.l2 * beta[a];
            hess[a][a] += config.l2;
        }
        for a in 0..D {
            for b in 0..a {
                hess[b][a] = hess[a][b];
            }
        }
        let Some(step) = solve(hess, grad) else { break };
        let mut change = 0.0f64;
        for a in 0..D {
            beta[a] -= step[a];
            change = change.max(step[a].abs());
        }
        if change < 1e-7 {
            break;
        }
    }
    let mut weight = [0.0; N_FEATURES];
    weight.copy_from_slice(&beta[..N_FEATURES]);
    Linear {
        mean,
        scale,
        weight: weight.map(f32_exact),
        bias: f32_exact(beta[N_FEATURES]),
    }
}

/// Solves `a·x = b` for a symmetric positive-definite `a` (Cholesky).
fn solve<const D: usize>(mut a: [[f64; D]; D], b: [f64; D]) -> Option<[f64; D]> {
    for j in 0..D {
        let mut d = a[j][j];
        for k in 0..j {
            d -= a[j][k] * a[j][k];
        }
        if !(d > 0.0) {
            return None;
        }
        let d = d.sqrt();
        a[j][j] = d;
        for i in j + 1..D {
            let mut s = a[i][j];
            for k in 0..j {
                s -= a[i][k] * a[j][k];
            }
            a[i][j] = s / d;
        }
    }
    let mut y = [0.0; D];
    for i in 0..D {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i][k] * y[k];
        }
        y[i] = s / a[i][i];
    }
    let mut x = [0.0; D];
    for i in (0..D).rev() {
        let mut s = y[i];
        for k in i + 1..D {
            s -= a[k][i] * x[k];
        }
        x[i] = s / a[i][i];
    }
    Some(x)
}

/// A trained model and the held-out benign raw scores it was calibrated on.
#[derive(Debug)]
pub struct Trained {
    pub model: DgaModel,
    /// Raw scores of every benign name by a model that did not see it.
    pub benign_held_out: Vec<f64>,
}

/// Trains the model to ship: calibration by cross-validation over the benign names, then a
/// fit on everything.
pub fn train(corpus: &Corpus, config: &TrainConfig) -> Trained {
    let mut held_out = Vec::new();
    for fold in 0..corpus.folds {
        let m = fit(corpus, HoldOut { fold: Some(fold), families: &[] }, config);
        held_out.extend(corpus.benign_raw_of_fold(&m, fold).into_iter().map(|(r, _)| r));
    }
    let calibration = Calibration::from_benign(held_out.clone());
    let raw = fit(corpus, HoldOut::default(), config);
    Trained {
        model: DgaModel::new(raw, calibration),
        benign_held_out: held_out,
    }
}

/// False-positive rates the evaluation reports true-positive rates at.
pub const EVAL_FPRS: [f64; 2] = [1e-3, 1e-4];

/// Leave-one-family-out result of one family.
#[derive(Clone, Debug, PartialEq)]
pub struct FamilyEval {
    pub family: String,
    pub names: usize,
    /// Names detected at each of [`EVAL_FPRS`].
    pub detected: [usize; 2],
    /// The raw thresholds that gave those false-positive rates on held-out benign names.
    pub thresholds: [f64; 2],
    /// The area under the ROC curve: the chance that a name of the family outscores a
    /// held-out benign name (ties count half).
    pub auc: f64,
    /// Benign names scored (each by a model that saw neither it nor this family).
    pub benign_names: usize,
    /// Benign names above each threshold.
    pub benign_false_positives: [usize; 2],
    /// The benign names above the threshold of the lowest false-positive rate (indices for
    /// [`Corpus::name`]), highest first.
    pub top_benign: Vec<u32>,
    /// The family's names and the held-out benign names as the detector scores them, in
    /// `[0, 1]`: each fold's raw scores through a calibration made from that fold's held-out
    /// benign scores, as `train` makes the shipped model's (for evaluating bursts of names).
    pub family_scores: Vec<f32>,
    pub benign_scores: Vec<f32>,
    /// Extra names (registrable label and suffix, e.g. from real lookups) as each fold's model
    /// and calibration score them: one score per name and fold.
    pub extra_scores: Vec<f32>,
}

impl FamilyEval {
    pub fn tpr(&self, i: usize) -> f64 {
        if self.names == 0 {
            0.0
        } else {
            self.detected[i] as f64 / self.names as f64
        }
    }
}

/// Evaluates one family never seen in training: for each benign fold, a model fitted without
/// the family and without that fold scores the fold's benign names and a share of the family's
/// names. Thresholds for each false-positive rate come from the pooled held-out benign scores.
pub fn evaluate_family(corpus: &Corpus, family: usize, config: &TrainConfig) -> FamilyEval {
    evaluate_family_with(corpus, family, config, &[])
}

/// [`evaluate_family`], also scoring `extra` names (registrable label, suffix) with each fold's
/// model ([`FamilyEval::extra_scores`]).
pub fn evaluate_family_with(corpus: &Corpus, family: usize, config: &TrainConfig, extra: &[(String, String)]) -> FamilyEval {
    evaluate_group_with(corpus, &[family], config, extra).pop().unwrap_or_else(|| empty_eval(corpus, family))
}

/// Like [`evaluate_family`] for several families held out of training together (cheaper than
/// one at a time, and stricter: the model sees fewer families).
pub fn evaluate_group(corpus: &Corpus, families: &[usize], config: &TrainConfig) -> Vec<FamilyEval> {
    evaluate_group_with(corpus, families, config, &[])
}

/// [`evaluate_group`], also scoring `extra` names with each fold's model.
pub fn evaluate_group_with(corpus: &Corpus, families: &[usize], config: &TrainConfig, extra: &[(String, String)]) -> Vec<FamilyEval> {
    let mut extra_scores = Vec::new();
    let mut benign = Vec::new();
    let mut dga = vec![Vec::new(); families.len()];
    let mut benign_scores = Vec::new();
    let mut dga_scores = vec![Vec::new(); families.len()];
    for fold in 0..corpus.folds {
        let m = fit(corpus, HoldOut { fold: Some(fold), families }, config);
        let held_out = corpus.benign_raw_of_fold(&m, fold);
        let calibration = crate::dga::Calibration::from_benign(held_out.iter().map(|&(r, _)| r).collect());
        benign_scores.extend(held_out.iter().map(|&(r, _)| calibration.score(r) as f32));
        extra_scores.extend(extra.iter().map(|(label, suffix)| calibration.score(m.raw(label, suffix)) as f32));
        benign.extend(held_out);
        for ((scores, calibrated), &family) in dga.iter_mut().zip(dga_scores.iter_mut()).zip(families) {
            let raw = corpus.family_raw_of_part(&m, family, fold);
            calibrated.extend(raw.iter().map(|&r| calibration.score(r) as f32));
            scores.extend(raw);
        }
    }
    benign.sort_by(|a, b| b.0.total_cmp(&a.0));
    families
        .iter()
        .zip(dga)
        .zip(dga_scores)
        .map(|((&family, scores), calibrated)| FamilyEval {
            family_scores: calibrated,
            benign_scores: benign_scores.clone(),
            extra_scores: extra_scores.clone(),
            ..judge(corpus, family, &benign, &scores)
        })
        .collect()
}

fn empty_eval(corpus: &Corpus, family: usize) -> FamilyEval {
    judge(corpus, family, &[], &[])
}

/// True- and false-positive counts of a family's held-out scores against held-out benign
/// scores (sorted, highest first).
fn judge(corpus: &Corpus, family: usize, benign: &[(f64, u32)], dga: &[f64]) -> FamilyEval {
    let mut thresholds = [f64::INFINITY; 2];
    let mut detected = [0; 2];
    let mut fps = [0; 2];
    for (i, fpr) in EVAL_FPRS.iter().enumerate() {
        // The threshold is the score that `fpr` of the benign names exceed (strictly).
        let allowed = (fpr * benign.len() as f64).floor() as usize;
        if let Some(&(t, _)) = benign.get(allowed) {
            thresholds[i] = t;
        }
        detected[i] = dga.iter().filter(|&&s| s > thresholds[i]).count();
        fps[i] = benign.iter().filter(|&&(s, _)| s > thresholds[i]).count();
    }
    // `benign` is sorted highest first: the names below a score are those after its last tie.
    let below = |x: f64| benign.len() - benign.partition_point(|&(b, _)| b >= x);
    let ties = |x: f64| benign.partition_point(|&(b, _)| b >= x) - benign.partition_point(|&(b, _)| b > x);
    let auc = if dga.is_empty() || benign.is_empty() {
        0.0
    } else {
        dga.iter().map(|&x| below(x) as f64 + 0.5 * ties(x) as f64).sum::<f64>() / (dga.len() as f64 * benign.len() as f64)
    };
    FamilyEval {
        family: corpus.families.get(family).cloned().unwrap_or_default(),
        names: dga.len(),
        detected,
        thresholds,
        auc,
        benign_names: benign.len(),
        benign_false_positives: fps,
        top_benign: benign.iter().take(fps[EVAL_FPRS.len() - 1]).map(|&(_, i)| i).collect(),
        family_scores: Vec::new(),
        benign_scores: Vec::new(),
        extra_scores: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solve_small_system() {
        let a = [[4.0, 1.0], [1.0, 3.0]];
        let x = solve(a, [1.0, 2.0]).unwrap();
        assert!((4.0 * x[0] + x[1] - 1.0).abs() < 1e-12);
        assert!((x[0] + 3.0 * x[1] - 2.0).abs() < 1e-12);
        assert!(solve([[0.0, 0.0], [0.0, 1.0]], [1.0, 1.0]).is_none());
    }

    fn toy_corpus() -> Corpus {
        let benign: Vec<String> = [
            "google",
            "facebook",
            "youtube",
            "wikipedia",
            "amazon",
            "twitter",
            "linkedin",
            "instagram",
            "netflix",
            "microsoft",
            "apple",
            "yahoo",
            "reddit",
            "github",
            "stackoverflow",
            "mozilla",
            "dropbox",
            "paypal",
            "ebay",
            "walmart",
            "bbc",
            "cnn",
            "nytimes",
            "guardian",
            "spotify",
            "adobe",
            "wordpress",
            "tumblr",
            "pinterest",
            "imdb",
        ]
        .iter()
        .flat_map(|l| [format!("{l}.com"), format!("www.{l}.co.uk"), format!("{l}.de")])
        .collect();
        let random_a: Vec<String> = [
            "qxkzjwvtpl",
            "zzkqxjvbnm",
            "pqwxzkjhgf",
            "vbnxzqkjlw",
            "kjhqzxwvtr",
            "xqzjkvwpmn",
            "wvzqxkjhtp",
            "jqxzkvbwpl",
        ]
        .iter()
        .map(|l| format!("{l}.biz"))
        .collect();
        let random_b: Vec<String> = ["q1x8z3k9j2", "7z2k9x4q1w", "k8q2z7x1v3", "x9z1q8k2j7", "z3x7k1q9w2", "j2k8x3z9q1"]
            .iter()
            .map(|l| format!("{l}.info"))
            .collect();
        Corpus::new(benign.iter().map(String::as_str), &[("alpha".into(), random_a), ("beta".into(), random_b)], 2)
    }

    #[test]
    fn prepared_features_equal_scoring_features() {
        let corpus = toy_corpus();
        let model = fit(&corpus, HoldOut::default(), &TrainConfig::default());
        for item in &corpus.items {
            let tri = &corpus.trigrams[item.trigrams.0 as usize..item.trigrams.1 as usize];
            assert!(!tri.is_empty());
        }
        let item = corpus.items.iter().find(|i| i.family == Some(1)).unwrap();
        let from_corpus = corpus.features(item, &model);
        // The first name of family beta.
        let from_model = model.features("q1x8z3k9j2", "info");
        assert_eq!(from_corpus, from_model);
    }

    #[test]
    fn toy_model_separates_random_from_words() {
        let corpus = toy_corpus();
        assert_eq!(corpus.sizes(), (90, vec![8, 6]));
        assert_eq!(corpus.skipped_benign + corpus.skipped_dga, 0);
        let trained = train(&corpus, &TrainConfig::default());
        let m = &trained.model;
        let word = m.raw_model().raw("google", "com");
        let random = m.raw_model().raw("zqxjkwvbpt", "biz");
        assert!(random > word, "{random} <= {word}");
        let bytes = m.to_bytes();
        let back = DgaModel::from_bytes(&bytes).unwrap();
        assert_eq!(&back, m);
        assert_eq!(back.score_label("zqxjkwvbpt", "biz"), m.score_label("zqxjkwvbpt", "biz"));
    }

    #[test]
    fn leave_one_family_out_runs() {
        let corpus = toy_corpus();
        let e = evaluate_family(&corpus, 0, &TrainConfig::default());
        assert_eq!(e.family, "alpha");
        assert_eq!(e.names, 8);
        assert_eq!(e.benign_names, 90);
        assert!(e.benign_false_positives[0] <= 1);
        assert!(e.auc > 0.9, "random letters outscore words: {}", e.auc);
    }

    #[test]
    fn auc_counts_names_below_and_ties_half() {
        let corpus = toy_corpus();
        // Benign sorted highest first, as `judge` gets them.
        let benign = [(3.0, 0), (2.0, 1), (1.0, 2)];
        let e = judge(&corpus, 0, &benign, &[2.0, 4.0]);
        // 2.0: one below, one tie (1.5 of 3); 4.0: all three below.
        assert!((e.auc - 4.5 / 6.0).abs() < 1e-12, "{}", e.auc);
        assert_eq!(judge(&corpus, 0, &benign, &[]).auc, 0.0);
    }
}

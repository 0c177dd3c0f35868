//! The DGA model: how likely a registrable label was made by a domain generation algorithm.
//!
//! The model is a logistic regression over features of the label (see [`FEATURE_NAMES`]):
//! the mean log-likelihood of its characters under a trigram model of popular domains and under
//! one of DGA output, their likelihood ratio, the least likely trigram, the share of rare
//! trigrams, length, entropy, vowel, digit and hyphen structure, consonant runs, hex shape, and a
//! prior of the public suffix. Its raw output is mapped to a score in `[0, 1]` that reads as a
//! false-positive rate on popular domains not used in training: a score of `s` means that about
//! `10^(-5·s)` of them score as high (0.6 ≈ 1 in 1,000, 0.8 ≈ 1 in 10,000, 1.0 = above all
//! of them).
//!
//! The weights are trained by `dnshunt train dga` (see [`crate::train`]) and compiled in from
//! `models/dga.bin`. Scoring allocates nothing and takes well under a microsecond per name.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use dnshunt_core::DnsName;

use crate::label::registrable_label;
use crate::ngram::{fourgrams, trigrams, FourgramSet, TRIGRAMS};
use crate::trees::{FlatForest, Forest};

/// The weights shipped with dnshunt.
static BUILTIN: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/dga.bin"));

/// Number of features of a label.
pub const N_FEATURES: usize = 20;

/// Names of the features, in the order of the feature vector.
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    "lp_benign_mean",
    "lp_dga_mean",
    "llr_sum",
    "lp_benign_min",
    "rare_trigram_share",
    "length",
    "inverse_length",
    "entropy",
    "vowel_share",
    "digit_share",
    "hyphens",
    "consonant_run",
    "letter_digit_switches",
    "suffix_prior",
    "hex_like",
    "distinct_share",
    "common_fourgram_share",
    "common_fourgram_cover",
    "lp_benign_sum",
    "repeat_run",
];

pub(crate) const F_LP_BENIGN: usize = 0;
pub(crate) const F_LP_DGA: usize = 1;
pub(crate) const F_LLR: usize = 2;
pub(crate) const F_LP_MIN: usize = 3;
pub(crate) const F_RARE: usize = 4;
pub(crate) const F_LEN: usize = 5;
pub(crate) const F_INV_LEN: usize = 6;
pub(crate) const F_ENTROPY: usize = 7;
pub(crate) const F_VOWELS: usize = 8;
pub(crate) const F_DIGITS: usize = 9;
pub(crate) const F_HYPHENS: usize = 10;
pub(crate) const F_CONS_RUN: usize = 11;
pub(crate) const F_SWITCHES: usize = 12;
pub(crate) const F_SUFFIX: usize = 13;
pub(crate) const F_HEX: usize = 14;
pub(crate) const F_DISTINCT: usize = 15;
pub(crate) const F_COMMON4: usize = 16;
pub(crate) const F_COVER4: usize = 17;
pub(crate) const F_LP_SUM: usize = 18;
pub(crate) const F_REPEAT: usize = 19;

/// A trigram whose probability under the popular-domain model is below this (natural log) is
/// "rare": about 1 in 250.
const RARE_LOG_PROB: f32 = -5.5;
/// Labels longer than this are scored on their first `MAX_LABEL` bytes (DNS allows 63).
pub(crate) const MAX_LABEL: usize = 63;
/// Resolution of the stored log-probabilities (1/1024 nat).
const QUANTUM: f32 = 1024.0;

/// The features of one label.
pub type Features = [f64; N_FEATURES];

/// `c·log2(c)` for the counts a label of at most [`MAX_LABEL`] bytes can have.
fn clog_table() -> &'static [f64; MAX_LABEL + 2] {
    static TABLE: OnceLock<[f64; MAX_LABEL + 2]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0.0; MAX_LABEL + 2];
        for (c, v) in t.iter_mut().enumerate().skip(1) {
            *v = c as f64 * (c as f64).log2();
        }
        t
    })
}

/// Fills the features that depend on the label alone (not on trained tables).
pub(crate) fn shape_features(label: &[u8], out: &mut Features) {
    let label = &label[..label.len().min(MAX_LABEL)];
    let n = label.len();
    let mut counts = [0u8; 256];
    let clog = clog_table();
    let (mut sum_clog, mut distinct) = (0.0, 0usize);
    let (mut vowels, mut letters, mut digits, mut hyphens) = (0usize, 0usize, 0usize, 0usize);
    let (mut run, mut max_run, mut switches) = (0usize, 0usize, 0usize);
    let (mut same, mut max_same, mut prev) = (0usize, 0usize, None);
    let (mut hex_digits, mut hex_letters, mut hex_ok) = (0usize, 0usize, true);
    // 0 = neither, 1 = letter, 2 = digit
    let mut prev_kind = 0u8;
    for &raw in label {
        let b = raw.to_ascii_lowercase();
        let c = counts[b as usize];
        counts[b as usize] = c + 1;
        // Σ c·log2(c) kept up to date as counts grow: no pass over the 256 counts at the end.
        sum_clog += clog[c as usize + 1] - clog[c as usize];
        distinct += usize::from(c == 0);
        same = if prev == Some(b) { same + 1 } else { 1 };
        max_same = max_same.max(same);
        prev = Some(b);
        let kind = match b {
            b'a'..=b'z' => {
                letters += 1;
                if matches!(b, b'a' | b'e' | b'i' | b'o' | b'u') {
                    vowels += 1;
                    run = 0;
                } else {
                    run += 1;
                    max_run = max_run.max(run);
                }
                if b <= b'f' {
                    hex_letters += 1;
                } else {
                    hex_ok = false;
                }
                1
            }
            b'0'..=b'9' => {
                digits += 1;
                hex_digits += 1;
                run = 0;
                2
            }
            _ => {
                if b == b'-' {
                    hyphens += 1;
                } else {
                    hex_ok = false;
                }
                run = 0;
                0
            }
        };
        if kind != 0 {
            if prev_kind != 0 && kind != prev_kind {
                switches += 1;
            }
            prev_kind = kind;
        }
    }
    let nf = n.max(1) as f64;
    out[F_LEN] = n as f64;
    out[F_INV_LEN] = 1.0 / nf;
    out[F_ENTROPY] = if n == 0 { 0.0 } else { clog[n] / nf - sum_clog / nf };
    out[F_VOWELS] = if letters == 0 { 0.0 } else { vowels as f64 / letters as f64 };
    out[F_DIGITS] = digits as f64 / nf;
    out[F_HYPHENS] = hyphens.min(4) as f64;
    out[F_CONS_RUN] = max_run.min(12) as f64;
    out[F_SWITCHES] = switches.min(12) as f64;
    out[F_HEX] = f64::from(u8::from(hex_ok && hex_digits + hex_letters >= 8 && hex_digits > 0 && hex_letters > 0));
    out[F_DISTINCT] = distinct as f64 / nf;
    out[F_REPEAT] = max_same.min(8) as f64;
}

/// Fills the features that come from the common 4-grams of popular domains, given the label's
/// length and its 4-grams (`(start, index)`, see [`crate::ngram::fourgrams`]).
#[inline]
pub(crate) fn fourgram_features(len: usize, fourgrams: impl Iterator<Item = (usize, usize)>, common: &FourgramSet, out: &mut Features) {
    let (mut total, mut hits, mut covered) = (0u32, 0u32, 0u128);
    for (start, index) in fourgrams {
        total += 1;
        if common.contains(index) {
            hits += 1;
            covered |= 0b1111u128 << start.min(124);
        }
    }
    if total == 0 {
        // Too short to have any: no evidence either way.
        out[F_COMMON4] = 1.0;
        out[F_COVER4] = 1.0;
        return;
    }
    // Bits 1..=len are the label's characters in `^label$`.
    let label_bits = if len >= 127 { !0u128 << 1 } else { ((1u128 << len) - 1) << 1 };
    out[F_COMMON4] = f64::from(hits) / f64::from(total);
    out[F_COVER4] = f64::from((covered & label_bits).count_ones()) / len.max(1) as f64;
}

/// Fills the features that come from the two trigram tables, given the trigram indices.
#[inline]
pub(crate) fn lm_features(trigrams: impl Iterator<Item = usize>, lookup: impl Fn(usize) -> (f32, f32), out: &mut Features) {
    let (mut sum_b, mut sum_d, mut min_b, mut rare, mut n) = (0f64, 0f64, 0f32, 0u32, 0u32);
    for i in trigrams {
        let (b, d) = lookup(i);
        sum_b += f64::from(b);
        sum_d += f64::from(d);
        min_b = min_b.min(b);
        rare += u32::from(b < RARE_LOG_PROB);
        n += 1;
    }
    let nf = f64::from(n.max(1));
    out[F_LP_BENIGN] = sum_b / nf;
    out[F_LP_DGA] = sum_d / nf;
    out[F_LLR] = (sum_d - sum_b).clamp(-40.0, 40.0);
    out[F_LP_MIN] = f64::from(min_b);
    out[F_RARE] = f64::from(rare) / nf;
    out[F_LP_SUM] = sum_b.max(-400.0);
}

/// Rounds a log-probability to the stored resolution, so a model scores the same before and
/// after a round trip through its file.
pub(crate) fn quantize_table(table: &mut [f32]) {
    for v in table {
        *v = (*v * QUANTUM).round().clamp(f32::from(i16::MIN), f32::from(i16::MAX)) / QUANTUM;
    }
}

/// Rounds a weight to `f32`, the stored precision.
pub(crate) fn f32_exact(v: f64) -> f64 {
    f64::from(v as f32)
}

/// FNV-1a: suffixes are short, and SipHash would cost more than the rest of a lookup.
#[derive(Clone, Copy, Debug)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The suffix prior: log-odds that a name under this public suffix is DGA output, from the
/// training data (smoothed).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SuffixPrior {
    pub(crate) known: HashMap<Box<str>, f64, BuildHasherDefault<Fnv>>,
    pub(crate) unknown: f64,
}

impl SuffixPrior {
    #[inline]
    pub fn get(&self, suffix: &str) -> f64 {
        self.known.get(suffix).copied().unwrap_or(self.unknown)
    }
}

/// A standardised linear model: `raw = bias + Σ weight·(x − mean)/scale`.
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    pub mean: Features,
    pub scale: Features,
    pub weight: Features,
    pub bias: f64,
}

impl Linear {
    /// Each feature's contribution to the raw score, relative to the average training label.
    pub fn contributions(&self, x: &Features) -> Features {
        std::array::from_fn(|i| self.weight[i] * (x[i] - self.mean[i]) / self.scale[i])
    }
}

/// The trained parts that make a raw score: tables, suffix prior and linear weights.
#[derive(Clone, Debug, PartialEq)]
pub struct RawModel {
    /// Per trigram, `ln P(symbol | two before)` of popular domains and of DGA output in units of
    /// 1/1024 nat, side by side so that one lookup touches one cache line.
    pub(crate) lp: Vec<[i16; 2]>,
    /// 4-grams (of `^label$`) found in at least two popular domains.
    pub(crate) common: FourgramSet,
    pub(crate) suffix: SuffixPrior,
    /// The linear model: the score when there is no forest, and the reasons in explanations.
    pub(crate) linear: Linear,
    /// Boosted trees over the same features; when present, they make the score.
    pub(crate) forest: Forest,
    /// The forest laid out for scoring.
    flat: FlatForest,
    /// `weight/scale`, and the bias with the means folded in: one multiply-add per feature.
    folded: Features,
    folded_bias: f64,
}

impl RawModel {
    /// A model from its parts; the tables must hold [`TRIGRAMS`] log-probabilities each
    /// (quantised, see `quantize_table`; missing entries count as impossible).
    pub(crate) fn new(benign: &[f32], dga: &[f32], common: FourgramSet, suffix: SuffixPrior, linear: Linear, forest: Forest) -> RawModel {
        let q = |v: Option<&f32>| v.map_or(i16::MIN, |&v| (v * QUANTUM).round().clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16);
        let lp = (0..TRIGRAMS).map(|i| [q(benign.get(i)), q(dga.get(i))]).collect();
        let flat = FlatForest::new(&forest);
        let folded = std::array::from_fn(|i| linear.weight[i] / linear.scale[i]);
        let folded_bias = linear.bias - (0..N_FEATURES).map(|i| linear.weight[i] * linear.mean[i] / linear.scale[i]).sum::<f64>();
        RawModel {
            lp,
            common,
            suffix,
            linear,
            forest,
            flat,
            folded,
            folded_bias,
        }
    }

    /// The two log-probabilities of a trigram, in nats.
    #[inline]
    pub(crate) fn lookup(&self, index: usize) -> (f32, f32) {
        let [b, d] = self.lp.get(index).copied().unwrap_or([i16::MIN; 2]);
        (f32::from(b) / QUANTUM, f32::from(d) / QUANTUM)
    }

    /// The features of a label registered under `suffix`.
    pub fn features(&self, label: &str, suffix: &str) -> Features {
        let mut x = [0.0; N_FEATURES];
        let bytes = &label.as_bytes()[..label.len().min(MAX_LABEL)];
        shape_features(bytes, &mut x);
        lm_features(trigrams(bytes), |i| self.lookup(i), &mut x);
        fourgram_features(bytes.len(), fourgrams(bytes), &self.common, &mut x);
        x[F_SUFFIX] = self.suffix.get(suffix);
        x
    }

    /// The raw (log-odds) score of a feature vector.
    #[inline]
    pub fn raw_of(&self, x: &Features) -> f64 {
        if !self.forest.trees.is_empty() {
            return self.flat.raw(x);
        }
        self.folded_bias + x.iter().zip(&self.folded).map(|(a, w)| a * w).sum::<f64>()
    }

    /// The raw (log-odds) score of a label.
    pub fn raw(&self, label: &str, suffix: &str) -> f64 {
        self.raw_of(&self.features(label, suffix))
    }
}

/// Maps raw scores to `[0, 1]` by the false-positive rate on held-out popular domains.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Calibration {
    /// `(raw, score)`, both increasing.
    pub(crate) knots: Vec<(f64, f64)>,
}

impl Calibration {
    /// Number of steps per decade of false-positive rate.
    pub const STEPS_PER_DECADE: usize = 4;
    /// Decades covered: scores run from FPR 1 (0.0) to FPR 1e-5 (1.0).
    pub const DECADES: usize = 5;

    /// Builds the knots from held-out benign raw scores.
    pub fn from_benign(mut raw: Vec<f64>) -> Calibration {
        raw.retain(|r| r.is_finite());
        raw.sort_by(|a, b| b.total_cmp(a));
        if raw.is_empty() {
            return Calibration::default();
        }
        let steps = Self::STEPS_PER_DECADE * Self::DECADES;
        let mut knots: Vec<(f64, f64)> = Vec::new();
        for i in 0..=steps {
            let fpr = 10f64.powf(-(i as f64) / Self::STEPS_PER_DECADE as f64);
            // The raw score that `fpr` of the benign names exceed.
            let idx = ((fpr * raw.len() as f64).floor() as usize).min(raw.len() - 1);
            let r = f32_exact(raw[idx]);
            let s = f32_exact(i as f64 / steps as f64);
            match knots.last() {
                Some(&(last, _)) if r <= last => {
                    // Ties: keep the higher score at the same raw value.
                    if let Some(k) = knots.last_mut() {
                        k.1 = s;
                    }
                }
                _ => knots.push((r, s)),
            }
        }
        Calibration { knots }
    }

    /// The score of a raw value.
    pub fn score(&self, raw: f64) -> f64 {
        let k = &self.knots;
        let Some(&(first_raw, first_score)) = k.first() else {
            return 0.0;
        };
        if raw.is_nan() || raw < first_raw {
            return 0.0;
        }
        // The first knot at or above `raw`.
        let i = k.partition_point(|&(r, _)| r < raw);
        if i == 0 {
            return first_score;
        }
        if i >= k.len() {
            return k[k.len() - 1].1;
        }
        let (r0, s0) = k[i - 1];
        let (r1, s1) = k[i];
        s0 + (s1 - s0) * (raw - r0) / (r1 - r0)
    }

    /// The smallest raw value with at least this score (for thresholds).
    pub fn raw_for_score(&self, score: f64) -> Option<f64> {
        let k = &self.knots;
        let i = k.partition_point(|&(_, s)| s < score);
        if i == 0 {
            return k.first().map(|&(r, _)| r);
        }
        let (r1, s1) = *k.get(i)?;
        let (r0, s0) = k[i - 1];
        Some(r0 + (r1 - r0) * (score - s0) / (s1 - s0))
    }
}

/// Why a label scored high, for explanations. Ordered by contribution when listed.
#[derive(Clone, Debug, PartialEq)]
pub enum Reason {
    /// Letter sequences that popular domains seldom have.
    UnlikelySequences,
    /// High character entropy (bits per character).
    Entropy(f64),
    /// Letters but no vowel.
    NoVowels,
    /// Few vowels among the letters.
    FewVowels { vowels: usize, letters: usize },
    /// A long run of consonants.
    ConsonantRun(usize),
    /// Digits mixed into letters.
    DigitsMixedIn,
    /// Looks like hexadecimal.
    HexLike,
    /// An unusually long label.
    Long(usize),
    /// A public suffix that DGA output uses much more than popular domains do.
    Suffix(String),
    /// Many distinct characters for the length.
    ManyDistinct,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::UnlikelySequences => f.write_str("unlikely letter sequences"),
            Reason::Entropy(e) => write!(f, "{e:.1} bits/char entropy"),
            Reason::NoVowels => f.write_str("no vowels"),
            Reason::FewVowels { vowels, letters } => write!(f, "few vowels ({vowels} of {letters} letters)"),
            Reason::ConsonantRun(n) => write!(f, "{n} consonants in a row"),
            Reason::DigitsMixedIn => f.write_str("digits mixed with letters"),
            Reason::HexLike => f.write_str("hex-like"),
            Reason::Long(n) => write!(f, "long label ({n} chars)"),
            Reason::Suffix(s) => write!(f, ".{s} is common among DGA domains"),
            Reason::ManyDistinct => f.write_str("many distinct characters"),
        }
    }
}

/// The verdict on one label: calibrated score, raw log-odds and the strongest reasons.
#[derive(Clone, Debug, PartialEq)]
pub struct DgaVerdict {
    pub score: f64,
    pub raw: f64,
    /// Up to three reasons, strongest first; empty when nothing pushes the score up.
    pub reasons: Vec<Reason>,
}

/// A trained DGA model: raw model and calibration.
#[derive(Clone, Debug, PartialEq)]
pub struct DgaModel {
    pub(crate) raw: RawModel,
    pub(crate) calibration: Calibration,
}

impl DgaModel {
    pub(crate) fn new(raw: RawModel, calibration: Calibration) -> DgaModel {
        DgaModel { raw, calibration }
    }

    /// The model compiled into dnshunt (`models/dga.bin`). Should those bytes ever fail to
    /// parse, every label scores 0 rather than the program stopping; a test guards the file.
    pub fn builtin() -> &'static DgaModel {
        static MODEL: OnceLock<DgaModel> = OnceLock::new();
        MODEL.get_or_init(|| DgaModel::from_bytes(BUILTIN).unwrap_or_else(|_| DgaModel::null()))
    }

    /// Parses weights in the format of [`crate::model_file`].
    pub fn from_bytes(bytes: &[u8]) -> Result<DgaModel, crate::model_file::ModelError> {
        crate::model_file::from_bytes(bytes)
    }

    /// Serialises the weights (the content of `models/dga.bin`).
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::model_file::to_bytes(self)
    }

    /// A model that scores every label 0.
    pub fn null() -> DgaModel {
        let linear = Linear {
            mean: [0.0; N_FEATURES],
            scale: [1.0; N_FEATURES],
            weight: [0.0; N_FEATURES],
            bias: 0.0,
        };
        DgaModel::new(
            RawModel::new(
                &[0.0; TRIGRAMS],
                &[0.0; TRIGRAMS],
                FourgramSet::default(),
                SuffixPrior::default(),
                linear,
                Forest::default(),
            ),
            Calibration::default(),
        )
    }

    /// The raw model (features and log-odds).
    pub fn raw_model(&self) -> &RawModel {
        &self.raw
    }

    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    /// The calibrated score of a label registered under `suffix`, in `[0, 1]`.
    #[inline]
    pub fn score_label(&self, label: &str, suffix: &str) -> f64 {
        self.calibration.score(self.raw.raw(label, suffix))
    }

    /// The score of a name's registrable label; `None` when the name has none (single labels,
    /// internal names) or when it is an IDN (`xn--`), whose Punycode letters say nothing about
    /// how the name was made.
    pub fn score_name(&self, name: &DnsName) -> Option<f64> {
        let r = registrable_label(name)?;
        if is_idn(r.label) {
            return None;
        }
        Some(self.score_label(r.label, r.suffix))
    }

    /// Score and reasons for a label (allocates; meant for findings, not for every name).
    pub fn explain(&self, label: &str, suffix: &str) -> DgaVerdict {
        let x = self.raw.features(label, suffix);
        let raw = self.raw.raw_of(&x);
        let c = self.raw.linear.contributions(&x);
        let n = label.len().min(MAX_LABEL);
        let letters = label.bytes().take(n).filter(u8::is_ascii_alphabetic).count();
        let vowels = (x[F_VOWELS] * letters as f64).round() as usize;
        let mut candidates: Vec<(f64, Reason)> = Vec::new();
        let sequences = c[F_LP_BENIGN] + c[F_LP_DGA] + c[F_LLR] + c[F_LP_MIN] + c[F_RARE] + c[F_LP_SUM] + c[F_COMMON4] + c[F_COVER4];
        candidates.push((sequences, Reason::UnlikelySequences));
        candidates.push((c[F_ENTROPY], Reason::Entropy(x[F_ENTROPY])));
        let vowel_reason = if letters > 0 && vowels == 0 {
            Reason::NoVowels
        } else {
            Reason::FewVowels { vowels, letters }
        };
        // Few vowels is a reason only when there are few (not when many vowels push it down).
        if x[F_VOWELS] < 0.3 && letters > 0 {
            candidates.push((c[F_VOWELS], vowel_reason));
        }
        candidates.push((c[F_CONS_RUN], Reason::ConsonantRun(x[F_CONS_RUN] as usize)));
        if x[F_DIGITS] > 0.0 {
            candidates.push((c[F_DIGITS] + c[F_SWITCHES], Reason::DigitsMixedIn));
        }
        if x[F_HEX] > 0.0 {
            candidates.push((c[F_HEX], Reason::HexLike));
        }
        candidates.push((c[F_LEN] + c[F_INV_LEN], Reason::Long(n)));
        // Only suffixes several times more common among DGA output than among popular domains
        // (`.net` and `.org` are common among both).
        if x[F_SUFFIX] >= 1.5 {
            candidates.push((c[F_SUFFIX], Reason::Suffix(suffix.to_owned())));
        }
        candidates.push((c[F_DISTINCT], Reason::ManyDistinct));
        // Only reasons that push the score up by a noticeable amount, strongest first.
        candidates.retain(|(v, r)| *v > 0.25 && !matches!(r, Reason::Long(n) if *n < 16) && !matches!(r, Reason::ConsonantRun(k) if *k < 4));
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
        let reasons = candidates.into_iter().take(3).map(|(_, r)| r).collect();
        DgaVerdict {
            score: self.calibration.score(raw),
            raw,
            reasons,
        }
    }
}

/// Whether a label is Punycode (an IDN).
pub fn is_idn(label: &str) -> bool {
    label.len() >= 4 && label.as_bytes()[..4].eq_ignore_ascii_case(b"xn--")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_features_of_a_label() {
        let mut x = [0.0; N_FEATURES];
        shape_features(b"a1b2-cdeg", &mut x);
        assert_eq!(x[F_LEN], 9.0);
        assert_eq!(x[F_HYPHENS], 1.0);
        assert_eq!(x[F_SWITCHES], 4.0, "a→1→b→2→(-)c");
        assert!((x[F_DIGITS] - 2.0 / 9.0).abs() < 1e-12);
        assert!((x[F_VOWELS] - 2.0 / 6.0).abs() < 1e-12);
        assert_eq!(x[F_HEX], 0.0, "g is not a hex digit");
        shape_features(b"3a7f9c0e11", &mut x);
        assert_eq!(x[F_HEX], 1.0);
        shape_features(b"abcd", &mut x);
        assert!((x[F_ENTROPY] - 2.0).abs() < 1e-12);
        assert_eq!(x[F_CONS_RUN], 3.0);
        shape_features(b"", &mut x);
        assert_eq!(x[F_ENTROPY], 0.0);
    }

    #[test]
    fn entropy_matches_the_feature_function() {
        for label in ["google", "qvtrokzlmwhe", "x", "aaaaaaaa", "3a7f9c0e11", "amber-tractor"] {
            let mut x = [0.0; N_FEATURES];
            shape_features(label.as_bytes(), &mut x);
            assert!((x[F_ENTROPY] - crate::features::shannon_entropy(label)).abs() < 1e-9, "{label}");
        }
    }

    #[test]
    fn calibration_is_monotone_and_bounded() {
        let raw: Vec<f64> = (0..100_000).map(|i| f64::from(i) / 1000.0).collect();
        let cal = Calibration::from_benign(raw);
        let mut last = -1.0;
        for i in -10..120 {
            let s = cal.score(f64::from(i));
            assert!((0.0..=1.0).contains(&s));
            assert!(s >= last);
            last = s;
        }
        assert_eq!(cal.score(-5.0), 0.0);
        assert_eq!(cal.score(1e9), 1.0);
        assert_eq!(cal.score(f64::NAN), 0.0);
        // FPR 1e-4 of 100,000 values 0..100 is the value exceeded by 10 of them.
        let r = cal.raw_for_score(0.8).unwrap();
        assert!((r - 99.99).abs() < 0.01, "{r}");
        assert!((cal.score(r) - 0.8).abs() < 1e-6);
        assert_eq!(Calibration::default().score(3.0), 0.0);
    }

    #[test]
    fn null_model_scores_zero() {
        assert_eq!(DgaModel::null().score_label("qvtrokzlmwhe", "com"), 0.0);
    }
}

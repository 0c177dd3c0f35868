//! The file format of the DGA weights (`models/dga.bin`): compact little-endian binary.
//!
//! ```text
//! magic       12 bytes  "DNSHUNT-DGA1"
//! alphabet    u32       39 (symbols of the trigram tables)
//! features    u32       16
//! benign      i16 × 39³ ln P(symbol | two before) × 1024, popular domains
//! dga         i16 × 39³ the same for DGA output
//! common      u64 × ⌈39⁴/64⌉ bit set of the 4-grams of `^label$` found in two or more popular domains
//! suffixes    f32 prior of unlisted suffixes, u32 count, then per suffix: u8 length, bytes, f32 prior
//! linear      f32 × features means, scales, weights; f32 bias
//! forest      f32 base, u32 trees, then per tree: u8 depth, depth × (u8 feature, f32 threshold), 2^depth × f32 leaf
//! calibration u32 count, then per knot: f32 raw, f32 score
//! checksum    u64       FNV-1a of everything before it
//! ```

use std::collections::HashMap;

use crate::dga::{Calibration, DgaModel, Linear, RawModel, SuffixPrior, N_FEATURES};
use crate::ngram::{FourgramSet, ALPHABET, TRIGRAMS};
use crate::trees::{Forest, Tree, MAX_DEPTH};

const MAGIC: &[u8; 12] = b"DNSHUNT-DGA1";
const QUANTUM: f32 = 1024.0;

/// Why DGA weights could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelError {
    /// The file does not start with the magic bytes of this format and version.
    #[error("not a dnshunt DGA model (bad magic)")]
    BadMagic,
    /// The file ends before the field at this offset.
    #[error("model file truncated at byte {offset}")]
    Truncated { offset: usize },
    /// The file was made for another alphabet or feature set.
    #[error("model has {found} {what}, this build expects {expected}")]
    Mismatch { what: &'static str, expected: usize, found: usize },
    /// A value is not a finite number, or knots are not increasing.
    #[error("model value {what} is invalid")]
    BadValue { what: &'static str },
    /// The checksum does not match the content.
    #[error("model checksum mismatch")]
    Checksum,
    /// Bytes after the checksum.
    #[error("{extra} unexpected bytes after the model")]
    TrailingBytes { extra: usize },
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Serialises a model.
pub fn to_bytes(model: &DgaModel) -> Vec<u8> {
    let raw = model.raw_model();
    let mut out = Vec::with_capacity(12 + 8 + 4 * TRIGRAMS + 4096);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(ALPHABET as u32).to_le_bytes());
    out.extend_from_slice(&(N_FEATURES as u32).to_le_bytes());
    for side in 0..2 {
        for pair in &raw.lp {
            out.extend_from_slice(&pair[side].to_le_bytes());
        }
    }
    for w in &raw.common.0 {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(&(raw.suffix.unknown as f32).to_le_bytes());
    let mut suffixes: Vec<(&str, f64)> = raw.suffix.known.iter().filter(|(s, _)| s.len() <= 255).map(|(s, &v)| (&**s, v)).collect();
    suffixes.sort_by(|a, b| a.0.cmp(b.0));
    out.extend_from_slice(&(suffixes.len() as u32).to_le_bytes());
    for (s, v) in suffixes {
        out.push(s.len() as u8);
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(&(v as f32).to_le_bytes());
    }
    let l = &raw.linear;
    for v in l.mean.iter().chain(&l.scale).chain(&l.weight).chain(std::iter::once(&l.bias)) {
        out.extend_from_slice(&(*v as f32).to_le_bytes());
    }
    out.extend_from_slice(&(raw.forest.base as f32).to_le_bytes());
    out.extend_from_slice(&(raw.forest.trees.len() as u32).to_le_bytes());
    for tree in &raw.forest.trees {
        out.push(tree.splits.len() as u8);
        for &(f, t) in &tree.splits {
            out.push(f);
            out.extend_from_slice(&(t as f32).to_le_bytes());
        }
        for &v in &tree.leaves {
            out.extend_from_slice(&(v as f32).to_le_bytes());
        }
    }
    let knots = &model.calibration().knots;
    out.extend_from_slice(&(knots.len() as u32).to_le_bytes());
    for &(r, s) in knots {
        out.extend_from_slice(&(r as f32).to_le_bytes());
        out.extend_from_slice(&(s as f32).to_le_bytes());
    }
    let sum = fnv1a(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ModelError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(ModelError::Truncated { offset: self.pos })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, ModelError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f32(&mut self, what: &'static str) -> Result<f64, ModelError> {
        let b = self.take(4)?;
        let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if v.is_finite() {
            Ok(f64::from(v))
        } else {
            Err(ModelError::BadValue { what })
        }
    }

    fn table(&mut self) -> Result<Vec<f32>, ModelError> {
        let b = self.take(2 * TRIGRAMS)?;
        Ok(b.chunks_exact(2).map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / QUANTUM).collect())
    }

    fn features(&mut self, what: &'static str) -> Result<[f64; N_FEATURES], ModelError> {
        let mut out = [0.0; N_FEATURES];
        for v in &mut out {
            *v = self.f32(what)?;
        }
        Ok(out)
    }
}

/// Parses a model; never panics, whatever the bytes.
pub fn from_bytes(bytes: &[u8]) -> Result<DgaModel, ModelError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(ModelError::BadMagic);
    }
    let mut r = Reader { bytes, pos: MAGIC.len() };
    let alphabet = r.u32()? as usize;
    if alphabet != ALPHABET {
        return Err(ModelError::Mismatch {
            what: "symbols",
            expected: ALPHABET,
            found: alphabet,
        });
    }
    let features = r.u32()? as usize;
    if features != N_FEATURES {
        return Err(ModelError::Mismatch {
            what: "features",
            expected: N_FEATURES,
            found: features,
        });
    }
    let benign = r.table()?;
    let dga = r.table()?;
    let mut common = FourgramSet::default();
    for w in common.0.iter_mut() {
        let b = r.take(8)?;
        *w = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    }
    let unknown = r.f32("suffix prior")?;
    let n_suffixes = r.u32()? as usize;
    let mut known = HashMap::with_capacity_and_hasher(n_suffixes.min(100_000), Default::default());
    for _ in 0..n_suffixes {
        let len = r.take(1)?[0] as usize;
        let s = std::str::from_utf8(r.take(len)?).map_err(|_| ModelError::BadValue { what: "suffix" })?;
        let v = r.f32("suffix prior")?;
        known.insert(Box::from(s), v);
    }
    let mean = r.features("mean")?;
    let scale = r.features("scale")?;
    if scale.iter().any(|&s| s <= 0.0) {
        return Err(ModelError::BadValue { what: "scale" });
    }
    let weight = r.features("weight")?;
    let bias = r.f32("bias")?;
    let base = r.f32("forest base")?;
    let n_trees = r.u32()? as usize;
    let mut trees = Vec::with_capacity(n_trees.min(10_000));
    for _ in 0..n_trees {
        let depth = r.take(1)?[0] as usize;
        if depth > MAX_DEPTH {
            return Err(ModelError::BadValue { what: "tree depth" });
        }
        let mut splits = Vec::with_capacity(depth);
        for _ in 0..depth {
            let f = r.take(1)?[0];
            if f as usize >= N_FEATURES {
                return Err(ModelError::BadValue { what: "tree feature" });
            }
            splits.push((f, r.f32("tree threshold")?));
        }
        let mut leaves = Vec::with_capacity(1 << depth);
        for _ in 0..1usize << depth {
            leaves.push(r.f32("tree leaf")?);
        }
        trees.push(Tree { splits, leaves });
    }
    let forest = Forest { base, trees };
    let n_knots = r.u32()? as usize;
    let mut knots = Vec::with_capacity(n_knots.min(1000));
    for _ in 0..n_knots {
        let raw = r.f32("knot")?;
        let score = r.f32("knot")?;
        if knots.last().is_some_and(|&(r0, s0)| raw <= r0 || score < s0) || !(0.0..=1.0).contains(&score) {
            return Err(ModelError::BadValue { what: "calibration knots" });
        }
        knots.push((raw, score));
    }
    let body_len = r.pos;
    let stored = r.take(8)?;
    let stored = u64::from_le_bytes([stored[0], stored[1], stored[2], stored[3], stored[4], stored[5], stored[6], stored[7]]);
    if stored != fnv1a(&bytes[..body_len]) {
        return Err(ModelError::Checksum);
    }
    if r.pos != bytes.len() {
        return Err(ModelError::TrailingBytes { extra: bytes.len() - r.pos });
    }
    let linear = Linear { mean, scale, weight, bias };
    Ok(DgaModel::new(
        RawModel::new(&benign, &dga, common, SuffixPrior { known, unknown }, linear, forest),
        Calibration { knots },
    ))
}

//! Gradient-boosted oblivious decision trees for binary classification.
//!
//! An oblivious tree asks the same question (feature > threshold) of every node on a level, so
//! a tree of depth `d` is `d` comparisons whose outcomes form the index of one of `2^d` leaves:
//! no branches to mispredict, fast enough to score a million names a second, and a strong
//! regulariser (each split must help every branch at once), which matters when the model has
//! to recognise DGA families it has never seen.

use crate::dga::{f32_exact, Features, N_FEATURES};

/// The deepest tree the format allows.
pub const MAX_DEPTH: usize = 8;

/// One oblivious tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Tree {
    /// `(feature, threshold)` per level, root first.
    pub(crate) splits: Vec<(u8, f64)>,
    /// `2^depth` leaf values; the leaf index has the root's answer in its highest bit.
    pub(crate) leaves: Vec<f64>,
}

impl Tree {
    #[inline]
    fn leaf(&self, x: &Features) -> usize {
        let mut i = 0;
        for &(f, t) in &self.splits {
            i = (i << 1) | usize::from(x[f as usize] > t);
        }
        i
    }

    #[inline]
    pub fn value(&self, x: &Features) -> f64 {
        self.leaves[self.leaf(x)]
    }
}

/// A boosted forest: `raw = base + Σ tree values` (log-odds).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Forest {
    pub(crate) base: f64,
    pub(crate) trees: Vec<Tree>,
}

impl Forest {
    #[inline]
    pub fn raw(&self, x: &Features) -> f64 {
        self.base + self.trees.iter().map(|t| t.value(x)).sum::<f64>()
    }

    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }
}

/// A forest laid out for scoring: every tree padded to the same depth, its splits and leaves in
/// three flat arrays.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct FlatForest {
    base: f64,
    depth: usize,
    /// `trees × depth` features and thresholds.
    features: Vec<u8>,
    thresholds: Vec<f64>,
    /// `trees × 2^depth` leaf values.
    leaves: Vec<f64>,
}

impl FlatForest {
    pub(crate) fn new(forest: &Forest) -> FlatForest {
        let depth = forest.trees.iter().map(|t| t.splits.len()).max().unwrap_or(0);
        let mut flat = FlatForest {
            base: forest.base,
            depth,
            ..FlatForest::default()
        };
        for tree in &forest.trees {
            let pad = depth - tree.splits.len();
            for &(f, t) in &tree.splits {
                // Parsed models hold only valid features; this keeps indexing in bounds anyway.
                flat.features.push(f.min(N_FEATURES as u8 - 1));
                flat.thresholds.push(t);
            }
            // A padding level never splits (nothing exceeds +inf): its bit is always 0.
            for _ in 0..pad {
                flat.features.push(0);
                flat.thresholds.push(f64::INFINITY);
            }
            for &v in &tree.leaves {
                flat.leaves.push(v);
                for _ in 1..1usize << pad {
                    flat.leaves.push(v);
                }
            }
        }
        flat
    }

    #[inline]
    pub(crate) fn raw(&self, x: &Features) -> f64 {
        let mut sum = self.base;
        if self.depth == 0 {
            return sum + self.leaves.iter().sum::<f64>();
        }
        let depth = self.depth;
        let n_leaves = 1usize << depth;
        let trees = self
            .features
            .chunks_exact(depth)
            .zip(self.thresholds.chunks_exact(depth))
            .zip(self.leaves.chunks_exact(n_leaves));
        for ((features, thresholds), leaves) in trees {
            let mut i = 0;
            for (&f, &t) in features.iter().zip(thresholds) {
                i = (i << 1) | usize::from(x[f as usize] > t);
            }
            sum += leaves[i];
        }
        sum
    }
}

/// Settings of boosting.
#[derive(Clone, Debug, PartialEq)]
pub struct ForestConfig {
    pub trees: usize,
    pub depth: usize,
    pub learning_rate: f64,
    /// L2 penalty on leaf values.
    pub l2: f64,
    /// Candidate thresholds per feature (quantiles of the training values), at most 255.
    pub bins: usize,
}

impl Default for ForestConfig {
    fn default() -> Self {
        ForestConfig {
            trees: 40,
            depth: 5,
            learning_rate: 0.1,
            l2: 1.0,
            bins: 64,
        }
    }
}

/// Fits a forest to weighted examples with labels 0/1 (logistic loss).
pub fn fit_forest(x: &[Features], y: &[f64], w: &[f64], config: &ForestConfig) -> Forest {
    let n = x.len();
    let depth = config.depth.clamp(1, MAX_DEPTH);
    let total_w: f64 = w.iter().sum();
    if n == 0 || total_w <= 0.0 {
        return Forest::default();
    }
    // Weights are normalised to sum to the number of examples, so `l2` means the same whatever
    // the class balance.
    let norm = n as f64 / total_w;
    let w: Vec<f64> = w.iter().map(|v| v * norm).collect();
    let positive: f64 = y.iter().zip(&w).map(|(y, w)| y * w).sum::<f64>() / n as f64;
    let base = f32_exact((positive.clamp(1e-6, 1.0 - 1e-6) / (1.0 - positive.clamp(1e-6, 1.0 - 1e-6))).ln());

    // Candidate thresholds per feature and every example's bin: bin(v) = number of thresholds
    // below v, so "bin > b" is exactly "v > threshold[b]".
    let thresholds: Vec<Vec<f64>> = (0..N_FEATURES).map(|f| candidate_thresholds(x.iter().map(|xi| xi[f]), config.bins)).collect();
    let bins: Vec<[u8; N_FEATURES]> = x.iter().map(|xi| std::array::from_fn(|f| thresholds[f].partition_point(|&t| t < xi[f]) as u8)).collect();
    let max_bins = thresholds.iter().map(Vec::len).max().unwrap_or(0) + 1;

    let mut raw = vec![base; n];
    let mut trees = Vec::with_capacity(config.trees);
    let mut g = vec![0.0; n];
    let mut h = vec![0.0; n];
    let mut node = vec![0usize; n];
    for _ in 0..config.trees {
        for i in 0..n {
            let p = 1.0 / (1.0 + (-raw[i]).exp());
            g[i] = w[i] * (p - y[i]);
            h[i] = w[i] * (p * (1.0 - p)).max(1e-9);
        }
        node.iter_mut().for_each(|v| *v = 0);
        let mut splits = Vec::with_capacity(depth);
        for level in 0..depth {
            let nodes = 1 << level;
            // hist[(node · F + feature) · bins + bin] = (Σg, Σh)
            let mut hist = vec![(0.0f64, 0.0f64); nodes * N_FEATURES * max_bins];
            for i in 0..n {
                let base_idx = node[i] * N_FEATURES * max_bins;
                for (f, &b) in bins[i].iter().enumerate() {
                    let cell = &mut hist[base_idx + f * max_bins + b as usize];
                    cell.0 += g[i];
                    cell.1 += h[i];
                }
            }
            let mut best: Option<(f64, usize, usize)> = None;
            for (f, feature_thresholds) in thresholds.iter().enumerate() {
                let n_thr = feature_thresholds.len();
                if n_thr == 0 {
                    continue;
                }
                // gain[b] summed over nodes, for the split "bin > b".
                let mut gain = vec![0.0; n_thr];
                for nd in 0..nodes {
                    let cells = &hist[(nd * N_FEATURES + f) * max_bins..(nd * N_FEATURES + f + 1) * max_bins];
                    let (gt, ht) = cells.iter().fold((0.0, 0.0), |a, c| (a.0 + c.0, a.1 + c.1));
                    let parent = gt * gt / (ht + config.l2);
                    let (mut gl, mut hl) = (0.0, 0.0);
                    for (b, gain_b) in gain.iter_mut().enumerate() {
                        gl += cells[b].0;
                        hl += cells[b].1;
                        let (gr, hr) = (gt - gl, ht - hl);
                        *gain_b += gl * gl / (hl + config.l2) + gr * gr / (hr + config.l2) - parent;
                    }
                }
                for (b, &v) in gain.iter().enumerate() {
                    if best.is_none_or(|(bv, _, _)| v > bv) {
                        best = Some((v, f, b));
                    }
                }
            }
            let Some((_, f, b)) = best else { break };
            splits.push((f as u8, thresholds[f][b]));
            for i in 0..n {
                node[i] = (node[i] << 1) | usize::from(bins[i][f] as usize > b);
            }
        }
        let leaves_n = 1 << splits.len();
        let mut gs = vec![0.0; leaves_n];
        let mut hs = vec![0.0; leaves_n];
        for i in 0..n {
            gs[node[i]] += g[i];
            hs[node[i]] += h[i];
        }
        let leaves: Vec<f64> = gs.iter().zip(&hs).map(|(g, h)| f32_exact(-config.learning_rate * g / (h + config.l2))).collect();
        let tree = Tree { splits, leaves };
        for i in 0..n {
            raw[i] += tree.leaves[node[i]];
        }
        trees.push(tree);
    }
    Forest { base, trees }
}

/// Up to `bins` thresholds between distinct quantiles of the values (as `f32`, the stored
/// precision), increasing.
fn candidate_thresholds(values: impl Iterator<Item = f64>, bins: usize) -> Vec<f64> {
    let mut v: Vec<f64> = values.filter(|v| v.is_finite()).map(f32_exact).collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    let bins = bins.clamp(1, 255);
    let mut out: Vec<f64> = Vec::new();
    if v.len() <= 1 {
        return out;
    }
    let candidates = (v.len() - 1).min(bins);
    for k in 1..=candidates {
        let i = (k * (v.len() - 1)) / (candidates + 1).max(1);
        let i = i.min(v.len() - 2);
        let t = f32_exact((v[i] + v[i + 1]) / 2.0);
        if out.last().is_none_or(|&last| t > last) && t < v[v.len() - 1] {
            out.push(t);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_threshold_and_an_interaction() {
        // Positive when feature 0 > 0.5 and feature 1 < 0.3 (something a linear model cannot do).
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..40 {
            for j in 0..40 {
                let mut xi = [0.0; N_FEATURES];
                xi[0] = f64::from(i) / 40.0;
                xi[1] = f64::from(j) / 40.0;
                x.push(xi);
                y.push(f64::from(u8::from(xi[0] > 0.5 && xi[1] < 0.3)));
            }
        }
        let w = vec![1.0; x.len()];
        let forest = fit_forest(
            &x,
            &y,
            &w,
            &ForestConfig {
                trees: 50,
                depth: 2,
                learning_rate: 0.3,
                ..ForestConfig::default()
            },
        );
        let wrong = x.iter().zip(&y).filter(|(xi, &yi)| (forest.raw(xi) > 0.0) != (yi > 0.5)).count();
        assert!(wrong < x.len() / 50, "{wrong} wrong");
        // The flat layout scores the same, also with trees of different depths.
        let mut mixed = forest.clone();
        mixed.trees.push(Tree {
            splits: vec![(1, 0.5)],
            leaves: vec![-0.25, 0.5],
        });
        mixed.trees.push(Tree {
            splits: Vec::new(),
            leaves: vec![0.125],
        });
        let flat = FlatForest::new(&mixed);
        for xi in &x {
            assert!((flat.raw(xi) - mixed.raw(xi)).abs() < 1e-12);
        }
    }

    #[test]
    fn thresholds_split_distinct_values() {
        assert_eq!(candidate_thresholds([1.0, 1.0, 2.0].into_iter(), 10), vec![1.5]);
        assert!(candidate_thresholds([3.0, 3.0].into_iter(), 10).is_empty());
        let t = candidate_thresholds((0..1000).map(f64::from), 16);
        assert_eq!(t.len(), 16);
        assert!(t.windows(2).all(|p| p[0] < p[1]));
        assert!(fit_forest(&[], &[], &[], &ForestConfig::default()).trees.is_empty());
    }
}

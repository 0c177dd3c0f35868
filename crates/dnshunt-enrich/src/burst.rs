//! How surprising a set of names is: the evidence that one process's lookups are a DGA walk.
//!
//! A DGA score `s` is calibrated so that about `10^(-5·s)` of popular names reach it
//! ([`crate::dga`]); so `u = 5·ln(10)·s` is the surprise of a name, in nats, and for names
//! chosen by people `u` is (close to) exponentially distributed with mean 1. A process that
//! asked for `n` distinct names is summarised by the sum of their surprises, each counted from
//! `min_score` on (names below count nothing: most names are ordinary, and their exact score
//! says nothing) and capped at `cap_score` (one extremely random name is no more than one
//! clearly random name: ten names at 0.9 outweigh one at 1.0).
//!
//! The evidence is `-log10` of a Chernoff bound on the chance that `n` popular names reach that
//! sum: `P(S ≥ x) ≤ min_θ M(θ)^n·e^(−θx)`, with `M` the moment generating function of one
//! name's contribution, known in closed form. It grows with the names' scores and with their
//! count, and falls with the number of distinct names the process asked for in all, so a
//! browser that visits thousands of sites does not look like a DGA because a few of them look
//! random. The bound is an upper bound on the chance, so the evidence understates; names are
//! not independent draws in practice (one site's names look alike), which is why the detector's
//! cut is far above what independence would need.

use std::f64::consts::LN_10;

/// Nats of surprise per unit of DGA score (a score of `s` is reached by `10^(-5·s)` of popular
/// names).
pub const NATS_PER_SCORE: f64 = 5.0 * LN_10;

/// The null model of a process's names: which scores count and how much at most.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BurstModel {
    /// Surprise (nats) from which a name counts.
    lo: f64,
    /// Surprise (nats) a name counts at most.
    hi: f64,
}

impl BurstModel {
    /// Names scoring below `min_score` count nothing, names above `cap_score` count as
    /// `cap_score`. Both are clamped to `[0, 1]` (NaN to 0) and taken in increasing order.
    pub fn new(min_score: f64, cap_score: f64) -> BurstModel {
        let clamp = |v: f64| if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) * NATS_PER_SCORE };
        let (a, b) = (clamp(min_score), clamp(cap_score));
        let (lo, hi) = (a.min(b), a.max(b));
        BurstModel { lo, hi: hi.max(lo + 1e-6) }
    }

    /// The score from which a name counts.
    pub fn min_score(&self) -> f64 {
        self.lo / NATS_PER_SCORE
    }

    /// What a name with DGA score `score` adds to the sum (nats).
    #[inline]
    pub fn contribution(&self, score: f64) -> f64 {
        let u = score * NATS_PER_SCORE;
        // NaN counts nothing.
        if u >= self.lo {
            u.min(self.hi)
        } else {
            0.0
        }
    }

    /// The sum of the contributions of `scores`.
    pub fn sum(&self, scores: impl IntoIterator<Item = f64>) -> f64 {
        scores.into_iter().map(|s| self.contribution(s)).sum()
    }

    /// `ln M(θ)`: the log of the moment generating function of one popular name's
    /// contribution. With `λ = θ − 1`: `M = (1 − e^(−lo)) + ∫_lo^hi e^(λu) du + e^(λ·hi)`.
    fn ln_mgf(&self, theta: f64) -> f64 {
        let (lo, hi) = (self.lo, self.hi);
        let lambda = theta - 1.0;
        // Names under `lo` contribute 0, so e^(θ·0) = 1 with their probability.
        let below = (-(-lo).exp_m1()).max(f64::MIN_POSITIVE).ln();
        // ∫_lo^hi e^(λu) du = e^(λ·lo)·w·(e^d − 1)/d with w = hi − lo, d = λ·w.
        let w = hi - lo;
        let d = lambda * w;
        let ln_ratio = if d.abs() < 1e-9 {
            0.0
        } else if d > 30.0 {
            d - d.ln() + (-(-d).exp()).ln_1p()
        } else {
            (d.exp_m1() / d).ln()
        };
        let between = lambda * lo + w.ln() + ln_ratio;
        let cap = lambda * hi;
        log_sum_exp(&[below, between, cap])
    }

    /// Evidence (`-log10` of the bound on the chance) that `names` popular names sum to `sum`
    /// or more; 0 when the sum is no more than such names give on average.
    pub fn evidence(&self, sum: f64, names: u64) -> f64 {
        if names == 0 || sum.is_nan() || sum <= 0.0 {
            return 0.0;
        }
        let n = names as f64;
        let bound = |theta: f64| n * self.ln_mgf(theta) - theta * sum;
        // The exponent is convex in θ; golden-section search over θ in [0, 40] (past 40 the
        // capped names' term decides alone and the bound barely moves).
        let (mut a, mut b) = (0.0f64, 40.0f64);
        let g = 0.5 * (5f64.sqrt() - 1.0);
        let mut c = b - g * (b - a);
        let mut d = a + g * (b - a);
        let (mut fc, mut fd) = (bound(c), bound(d));
        for _ in 0..80 {
            if fc < fd {
                b = d;
                d = c;
                fd = fc;
                c = b - g * (b - a);
                fc = bound(c);
            } else {
                a = c;
                c = d;
                fc = fd;
                d = a + g * (b - a);
                fd = bound(d);
            }
            if b - a < 1e-7 {
                break;
            }
        }
        let best = fc.min(fd).min(bound(0.0)).min(bound(40.0));
        (-best / LN_10).max(0.0)
    }

    /// The least sum whose evidence over `names` names reaches `evidence` (for ranking bursts
    /// of one size by their sums; evidence grows with the sum).
    pub fn sum_for(&self, evidence: f64, names: u64) -> f64 {
        let (mut lo, mut hi) = (0.0, names as f64 * self.hi);
        if self.evidence(hi, names) < evidence {
            return f64::INFINITY;
        }
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if self.evidence(mid, names) >= evidence {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }
}

fn log_sum_exp(v: &[f64]) -> f64 {
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> BurstModel {
        BurstModel::new(0.3, 0.8)
    }

    #[test]
    fn the_generating_function_is_one_at_zero_and_matches_a_sum() {
        let m = model();
        assert!(m.ln_mgf(0.0).abs() < 1e-9, "{}", m.ln_mgf(0.0));
        // E[e^(θc)] by summing over a fine grid of the exponential distribution.
        for theta in [0.3, 1.0, 1.0 + 1e-12, 2.5] {
            let steps = 2_000_000;
            let top = 40.0;
            let mut e = 0.0;
            for i in 0..steps {
                let u = (i as f64 + 0.5) * top / steps as f64;
                let c = if u < m.lo { 0.0 } else { u.min(m.hi) };
                e += (theta * c).exp() * (-u).exp() * top / steps as f64;
            }
            let got = m.ln_mgf(theta).exp();
            assert!((got - e).abs() / e < 1e-3, "θ={theta}: {got} vs {e}");
        }
    }

    #[test]
    fn contributions_count_from_min_and_stop_at_cap() {
        let m = model();
        assert_eq!(m.contribution(0.29), 0.0);
        assert!((m.contribution(0.5) - 0.5 * NATS_PER_SCORE).abs() < 1e-12);
        assert_eq!(m.contribution(1.0), m.contribution(0.8));
        assert_eq!(m.contribution(f64::NAN), 0.0);
        assert_eq!(BurstModel::new(0.8, 0.3), m, "settings in either order");
        assert!(BurstModel::new(f64::NAN, 0.8).min_score() == 0.0);
    }

    #[test]
    fn the_bound_holds_against_simulated_popular_names() {
        // Names whose surprise is exponential, as calibrated popular names' are: the share of
        // bursts reaching the sum for evidence e must stay below 10^-e.
        let m = model();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        for k in [5u64, 10, 20] {
            let cut = m.sum_for(2.0, k);
            let trials = 200_000;
            let mut hits = 0;
            for _ in 0..trials {
                let sum: f64 = (0..k).map(|_| m.contribution(-uniform().ln() / NATS_PER_SCORE)).sum();
                hits += usize::from(sum >= cut);
            }
            let share = hits as f64 / trials as f64;
            assert!(share <= 1e-2, "k={k}: {share}");
            assert!(share > 1e-5, "the bound is not absurdly loose: k={k}: {share}");
        }
    }

    #[test]
    fn many_moderate_names_outweigh_one_extreme_name() {
        let m = model();
        let one = m.evidence(m.sum([1.0]), 1);
        let ten = m.evidence(m.sum([0.9; 10]), 10);
        assert!(ten > one, "{ten} vs {one}");
        // The same names among many ordinary ones are less surprising.
        let diluted = m.evidence(m.sum([0.9; 10]), 2_000);
        assert!(diluted < ten, "{diluted} vs {ten}");
        // Ordinary names give no evidence.
        assert_eq!(m.evidence(m.sum([0.1; 10]), 10), 0.0);
        assert_eq!(m.evidence(0.0, 0), 0.0);
    }

    #[test]
    fn evidence_grows_with_the_sum() {
        let m = model();
        let mut last = 0.0;
        for i in 1..60 {
            let e = m.evidence(i as f64 * 2.0, 10);
            assert!(e >= last - 1e-9, "{i}: {e} < {last}");
            last = e;
        }
        let s = m.sum_for(6.0, 10);
        assert!((m.evidence(s, 10) - 6.0).abs() < 1e-3);
    }
}

//! Character trigram language models over labels, with Witten-Bell interpolation.
//!
//! A label is read as symbols (`a`–`z`, `0`–`9`, `-`, one symbol for anything else) between
//! boundary marks: `^^label$`. Each symbol and the final boundary is predicted from the two
//! before it, so a label of `n` characters makes `n + 1` predictions. Counts are plain trigram
//! counts, which add and subtract, so models for any subset of the training data (the folds of
//! an evaluation) come from summing per-subset counts; the bigram and unigram counts of the
//! interpolation are sums of trigram counts.

/// Symbols: boundary, 26 letters, 10 digits, hyphen, other.
pub const ALPHABET: usize = 39;
/// Number of trigram cells (`ALPHABET³`).
pub const TRIGRAMS: usize = ALPHABET * ALPHABET * ALPHABET;
/// The boundary symbol (start and end of a label).
pub const BOUNDARY: u8 = 0;
/// The symbol of bytes that are not ASCII letters, digits or `-`.
pub const OTHER: u8 = 38;

/// Symbol of every byte (letters case-folded).
pub static SYMBOL: [u8; 256] = {
    let mut table = [OTHER; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = match c {
            b'a'..=b'z' => c - b'a' + 1,
            b'A'..=b'Z' => c - b'A' + 1,
            b'0'..=b'9' => c - b'0' + 27,
            b'-' => 37,
            _ => OTHER,
        };
        b += 1;
    }
    table
};

/// Index of the trigram `(x, y, z)` in a table.
#[inline]
pub fn trigram_index(x: u8, y: u8, z: u8) -> usize {
    (x as usize * ALPHABET + y as usize) * ALPHABET + z as usize
}

/// Calls `f` with the trigram index of each of the `len + 1` predictions of `label`.
#[inline]
pub fn for_each_trigram(label: &[u8], f: impl FnMut(usize)) {
    trigrams(label).for_each(f);
}

/// The trigram index of each of the `len + 1` predictions of `label`.
#[inline]
pub fn trigrams(label: &[u8]) -> Trigrams<'_> {
    Trigrams { label, pos: 0, context: 0 }
}

/// Iterator of [`trigrams`].
#[derive(Clone, Debug)]
pub struct Trigrams<'a> {
    label: &'a [u8],
    pos: usize,
    /// `x·A + y` of the two symbols before `pos`.
    context: usize,
}

impl Iterator for Trigrams<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        let z = match self.label.get(self.pos) {
            Some(&b) => SYMBOL[b as usize] as usize,
            None if self.pos == self.label.len() => BOUNDARY as usize,
            None => return None,
        };
        self.pos += 1;
        let index = self.context * ALPHABET + z;
        self.context = index % (ALPHABET * ALPHABET);
        Some(index)
    }
}

/// Trigram counts of a set of labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrigramCounts(Vec<u32>);

impl Default for TrigramCounts {
    fn default() -> Self {
        TrigramCounts(vec![0; TRIGRAMS])
    }
}

impl TrigramCounts {
    pub fn add_label(&mut self, label: &str) {
        for_each_trigram(label.as_bytes(), |i| self.0[i] = self.0[i].saturating_add(1));
    }

    /// Adds another set's counts.
    pub fn add(&mut self, other: &TrigramCounts) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a = a.saturating_add(*b);
        }
    }

    pub fn total(&self) -> u64 {
        self.0.iter().map(|&c| u64::from(c)).sum()
    }

    /// The natural-log probability table of the interpolated model, one entry per trigram.
    pub fn log_prob_table(&self) -> Vec<f32> {
        const A: usize = ALPHABET;
        let c3 = &self.0;
        // Bigram counts (y, z) = Σx c3(x, y, z); unigram counts z = Σy c2(y, z).
        let mut c2 = vec![0u64; A * A];
        for x in 0..A {
            for yz in 0..A * A {
                c2[yz] += u64::from(c3[x * A * A + yz]);
            }
        }
        let mut c1 = vec![0u64; A];
        for y in 0..A {
            for z in 0..A {
                c1[z] += c2[y * A + z];
            }
        }
        let n: u64 = c1.iter().sum();
        let p1: Vec<f64> = c1.iter().map(|&c| (c as f64 + 1.0) / (n as f64 + A as f64)).collect();
        let mut p2 = vec![0f64; A * A];
        for y in 0..A {
            let row = &c2[y * A..(y + 1) * A];
            let total: u64 = row.iter().sum();
            let types = row.iter().filter(|&&c| c > 0).count() as f64;
            for z in 0..A {
                p2[y * A + z] = if total == 0 { p1[z] } else { (row[z] as f64 + types * p1[z]) / (total as f64 + types) };
            }
        }
        let mut table = vec![0f32; TRIGRAMS];
        for xy in 0..A * A {
            let y = xy % A;
            let row = &c3[xy * A..(xy + 1) * A];
            let total: u64 = row.iter().map(|&c| u64::from(c)).sum();
            let types = row.iter().filter(|&&c| c > 0).count() as f64;
            for z in 0..A {
                let lower = p2[y * A + z];
                let p = if total == 0 {
                    lower
                } else {
                    (f64::from(row[z]) + types * lower) / (total as f64 + types)
                };
                table[xy * A + z] = p.ln() as f32;
            }
        }
        table
    }
}

/// Number of 4-gram cells (`ALPHABET⁴`).
pub const FOURGRAMS: usize = TRIGRAMS * ALPHABET;

/// Calls `f(start, index)` for each 4-gram of `^label$` (one boundary mark on each side):
/// `start` is the position of its first symbol in that padded string (the label's first
/// character is at 1). Labels of fewer than 2 characters have none.
#[inline]
pub fn for_each_fourgram(label: &[u8], mut f: impl FnMut(usize, usize)) {
    fourgrams(label).for_each(|(start, index)| f(start, index));
}

/// The `(start, index)` of each 4-gram of `^label$`, see [`for_each_fourgram`].
#[inline]
pub fn fourgrams(label: &[u8]) -> Fourgrams<'_> {
    let first = |i: usize| label.get(i).map_or(BOUNDARY as usize, |&b| SYMBOL[b as usize] as usize);
    Fourgrams {
        label,
        start: 0,
        // `^`, then the first two characters.
        context: (BOUNDARY as usize * ALPHABET + first(0)) * ALPHABET + first(1),
    }
}

/// Iterator of [`fourgrams`].
#[derive(Clone, Debug)]
pub struct Fourgrams<'a> {
    label: &'a [u8],
    start: usize,
    /// The three symbols from `start`.
    context: usize,
}

impl Iterator for Fourgrams<'_> {
    type Item = (usize, usize);

    #[inline]
    fn next(&mut self) -> Option<(usize, usize)> {
        // The 4-gram at `start` ends at padded position start + 3, label byte start + 2.
        if self.label.len() < 2 || self.start + 1 >= self.label.len() {
            return None;
        }
        let last = self.label.get(self.start + 2).map_or(BOUNDARY as usize, |&b| SYMBOL[b as usize] as usize);
        let index = self.context * ALPHABET + last;
        self.context = index % TRIGRAMS;
        let start = self.start;
        self.start += 1;
        Some((start, index))
    }
}

/// A set of 4-grams (one bit each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FourgramSet(pub(crate) Vec<u64>);

impl Default for FourgramSet {
    fn default() -> Self {
        FourgramSet(vec![0; FOURGRAMS.div_ceil(64)])
    }
}

impl FourgramSet {
    #[inline]
    pub fn contains(&self, index: usize) -> bool {
        self.0.get(index / 64).is_some_and(|w| w >> (index % 64) & 1 == 1)
    }

    pub fn insert(&mut self, index: usize) {
        if let Some(w) = self.0.get_mut(index / 64) {
            *w |= 1 << (index % 64);
        }
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols() {
        assert_eq!(SYMBOL[b'a' as usize], 1);
        assert_eq!(SYMBOL[b'Z' as usize], 26);
        assert_eq!(SYMBOL[b'0' as usize], 27);
        assert_eq!(SYMBOL[b'-' as usize], 37);
        assert_eq!(SYMBOL[b'_' as usize], OTHER);
        assert_eq!(SYMBOL[0xe6], OTHER);
    }

    #[test]
    fn fourgrams_of_padded_labels() {
        let mut seen = Vec::new();
        for_each_fourgram(b"abc", |start, index| seen.push((start, index)));
        let idx = |s: [u8; 4]| ((s[0] as usize * ALPHABET + s[1] as usize) * ALPHABET + s[2] as usize) * ALPHABET + s[3] as usize;
        assert_eq!(seen, [(0, idx([0, 1, 2, 3])), (1, idx([1, 2, 3, 0]))]);
        let mut n = 0;
        for_each_fourgram(b"a", |_, _| n += 1);
        for_each_fourgram(b"", |_, _| n += 1);
        assert_eq!(n, 0);
        let mut set = FourgramSet::default();
        set.insert(idx([0, 1, 2, 3]));
        set.insert(FOURGRAMS - 1);
        assert!(set.contains(idx([0, 1, 2, 3])) && set.contains(FOURGRAMS - 1) && !set.contains(5));
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn counts_and_probabilities() {
        let mut counts = TrigramCounts::default();
        for label in ["google", "goo", "gogo"] {
            counts.add_label(label);
        }
        assert_eq!(counts.total(), 7 + 4 + 5);
        let table = counts.log_prob_table();
        // Every context's distribution sums to one.
        for xy in [trigram_index(BOUNDARY, BOUNDARY, 0) / ALPHABET, trigram_index(BOUNDARY, 7, 0) / ALPHABET, 5 * ALPHABET + 9] {
            let sum: f64 = table[xy * ALPHABET..(xy + 1) * ALPHABET].iter().map(|&lp| f64::from(lp).exp()).sum();
            assert!((sum - 1.0).abs() < 1e-4, "{sum}");
        }
        let seen = table[trigram_index(BOUNDARY, BOUNDARY, SYMBOL[b'g' as usize])];
        let unseen = table[trigram_index(BOUNDARY, BOUNDARY, SYMBOL[b'q' as usize])];
        assert!(seen > unseen);
        let mut twice = counts.clone();
        twice.add(&counts);
        assert_eq!(twice.total(), 2 * counts.total());
    }
}

//! Small pure features of a DNS label or name: entropy and character structure.
//!
//! Every function takes any `&str` (upper case, digits, hyphens, non-ASCII) and never panics.
//! Letters are compared case-insensitively; "vowel" means one of `a e i o u` (`y` counts as a
//! consonant, as in most DGA literature), "consonant" any other ASCII letter.

/// Shannon entropy of the characters of `s` in bits per character (0 for the empty string).
///
/// ASCII letters are folded to lower case first, so `Google` and `google` score alike.
pub fn shannon_entropy(s: &str) -> f64 {
    let mut ascii = [0u32; 128];
    let mut other: Vec<(char, u32)> = Vec::new();
    let mut n = 0u32;
    for c in s.chars() {
        n += 1;
        if c.is_ascii() {
            ascii[c.to_ascii_lowercase() as usize] += 1;
        } else if let Some(slot) = other.iter_mut().find(|(k, _)| *k == c) {
            slot.1 += 1;
        } else {
            other.push((c, 1));
        }
    }
    if n == 0 {
        return 0.0;
    }
    let total = f64::from(n);
    ascii
        .iter()
        .copied()
        .chain(other.iter().map(|&(_, k)| k))
        .filter(|&k| k > 0)
        .map(|k| {
            let p = f64::from(k) / total;
            -p * p.log2()
        })
        .sum()
}

/// Whether the ASCII byte is a vowel (`a e i o u`, either case).
pub fn is_vowel(b: u8) -> bool {
    matches!(b.to_ascii_lowercase(), b'a' | b'e' | b'i' | b'o' | b'u')
}

/// Whether the ASCII byte is a consonant (an ASCII letter that is not a vowel; `y` included).
pub fn is_consonant(b: u8) -> bool {
    b.is_ascii_alphabetic() && !is_vowel(b)
}

/// Counts of character classes of a label, in one pass over its bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CharCounts {
    /// Bytes in the string (not characters).
    pub len: usize,
    /// `a e i o u`.
    pub vowels: usize,
    /// ASCII letters that are not vowels.
    pub consonants: usize,
    /// `0`–`9`.
    pub digits: usize,
    /// `-`.
    pub hyphens: usize,
    /// `.`.
    pub dots: usize,
    /// Bytes of non-ASCII characters and ASCII other than letters, digits, `-` and `.`.
    pub other: usize,
    /// Longest run of consecutive consonants.
    pub max_consonant_run: usize,
    /// Longest run of consecutive vowels.
    pub max_vowel_run: usize,
    /// Longest run of consecutive digits.
    pub max_digit_run: usize,
    /// Changes between letter and digit along the string (`a1b2` has 3).
    pub letter_digit_switches: usize,
}

/// Counts the character classes of `s`.
pub fn char_counts(s: &str) -> CharCounts {
    let mut c = CharCounts {
        len: s.len(),
        ..CharCounts::default()
    };
    let (mut cons_run, mut vow_run, mut dig_run) = (0usize, 0usize, 0usize);
    // 0 = neither, 1 = letter, 2 = digit
    let mut prev_kind = 0u8;
    for &b in s.as_bytes() {
        let kind = if b.is_ascii_alphabetic() {
            1
        } else if b.is_ascii_digit() {
            2
        } else {
            0
        };
        if kind != 0 && prev_kind != 0 && kind != prev_kind {
            c.letter_digit_switches += 1;
        }
        if kind != 0 {
            prev_kind = kind;
        }
        if is_vowel(b) {
            c.vowels += 1;
            vow_run += 1;
            cons_run = 0;
            dig_run = 0;
        } else if is_consonant(b) {
            c.consonants += 1;
            cons_run += 1;
            vow_run = 0;
            dig_run = 0;
        } else {
            cons_run = 0;
            vow_run = 0;
            match b {
                b'0'..=b'9' => {
                    c.digits += 1;
                    dig_run += 1;
                }
                b'-' => {
                    c.hyphens += 1;
                    dig_run = 0;
                }
                b'.' => {
                    c.dots += 1;
                    dig_run = 0;
                }
                _ => {
                    c.other += 1;
                    dig_run = 0;
                }
            }
        }
        c.max_consonant_run = c.max_consonant_run.max(cons_run);
        c.max_vowel_run = c.max_vowel_run.max(vow_run);
        c.max_digit_run = c.max_digit_run.max(dig_run);
    }
    c
}

/// Number of vowels (`a e i o u`, either case).
pub fn vowel_count(s: &str) -> usize {
    s.bytes().filter(|&b| is_vowel(b)).count()
}

/// Number of ASCII consonants (`y` included).
pub fn consonant_count(s: &str) -> usize {
    s.bytes().filter(|&b| is_consonant(b)).count()
}

/// Number of ASCII digits.
pub fn digit_count(s: &str) -> usize {
    s.bytes().filter(u8::is_ascii_digit).count()
}

/// Number of hyphens.
pub fn hyphen_count(s: &str) -> usize {
    s.bytes().filter(|&b| b == b'-').count()
}

/// Longest run of consecutive consonants (`strength` → 4: `ngth`).
pub fn longest_consonant_run(s: &str) -> usize {
    char_counts(s).max_consonant_run
}

/// Digits divided by bytes (0 for the empty string).
pub fn digit_ratio(s: &str) -> f64 {
    ratio(digit_count(s), s.len())
}

/// Vowels divided by ASCII letters (0 when there are no letters).
pub fn vowel_ratio(s: &str) -> f64 {
    let c = char_counts(s);
    ratio(c.vowels, c.vowels + c.consonants)
}

/// Distinct characters divided by characters (0 for the empty string).
pub fn unique_char_ratio(s: &str) -> f64 {
    let mut seen = [false; 128];
    let mut distinct_other: Vec<char> = Vec::new();
    let (mut n, mut distinct) = (0usize, 0usize);
    for c in s.chars() {
        n += 1;
        if c.is_ascii() {
            let i = c.to_ascii_lowercase() as usize;
            if !seen[i] {
                seen[i] = true;
                distinct += 1;
            }
        } else if !distinct_other.contains(&c) {
            distinct_other.push(c);
            distinct += 1;
        }
    }
    ratio(distinct, n)
}

/// Whether `s` is non-empty and made only of hexadecimal digits (`0-9 a-f`, either case).
pub fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `s` looks like a hexadecimal token (a hash, GUID part or encoded data) rather than a
/// word that happens to use the letters a–f: at least 8 hex digits (hyphens allowed, as in
/// GUIDs) with at least one digit and one letter among them. `deadbeef`, `facade` and `12345678`
/// are not hex-like; `3a7f9c0e` and `0f8fad5b-d9cb` are.
pub fn hex_like(s: &str) -> bool {
    let (mut hex, mut digits, mut letters) = (0usize, 0usize, 0usize);
    for b in s.bytes() {
        match b {
            b'0'..=b'9' => digits += 1,
            b'a'..=b'f' | b'A'..=b'F' => letters += 1,
            b'-' => continue,
            _ => return false,
        }
        hex += 1;
    }
    hex >= 8 && digits > 0 && letters > 0
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
    }

    #[test]
    fn entropy() {
        close(shannon_entropy(""), 0.0);
        close(shannon_entropy("aaaa"), 0.0);
        close(shannon_entropy("ab"), 1.0);
        close(shannon_entropy("abcd"), 2.0);
        close(shannon_entropy("AbCd"), shannon_entropy("abcd"));
        close(shannon_entropy("日本語語"), 1.5);
    }

    #[test]
    fn counts() {
        let c = char_counts("strength-42x");
        assert_eq!((c.len, c.vowels, c.consonants, c.digits, c.hyphens), (12, 1, 8, 2, 1));
        assert_eq!(c.max_consonant_run, 4);
        assert_eq!(c.max_digit_run, 2);
        assert_eq!(c.letter_digit_switches, 2);
        assert_eq!(longest_consonant_run("rhythm"), 6);
        assert_eq!(vowel_count("Google"), 3);
        assert_eq!(consonant_count("Google"), 3);
        assert_eq!(digit_count("a1b22"), 3);
        assert_eq!(hyphen_count("a-b-c"), 2);
        close(digit_ratio("ab12"), 0.5);
        close(digit_ratio(""), 0.0);
        close(vowel_ratio("1234"), 0.0);
        close(vowel_ratio("abab"), 0.5);
        close(unique_char_ratio("aabb"), 0.5);
    }

    #[test]
    fn hex() {
        assert!(is_hex("deadBEEF"));
        assert!(!is_hex(""));
        assert!(!is_hex("xyz"));
        assert!(hex_like("3a7f9c0e"));
        assert!(hex_like("0f8fad5b-d9cb"));
        assert!(!hex_like("deadbeef"));
        assert!(!hex_like("12345678"));
        assert!(!hex_like("3a7f9c"));
        assert!(!hex_like("3a7f9c0g"));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in ["", "-", ".", "\u{0}", "ÿ", "日本語.jp", "xn--wgv71a119e"] {
            let _ = (shannon_entropy(s), char_counts(s), digit_ratio(s), vowel_ratio(s), unique_char_ratio(s), hex_like(s));
        }
    }
}

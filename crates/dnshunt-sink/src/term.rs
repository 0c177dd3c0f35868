//! Text for people on a terminal: one line per row cut to the width with an ellipsis (never
//! wrapped), and colour only when it was asked for or the output is a terminal that wants it.

use console::Style;
use dnshunt_core::Severity;

/// Whether to colour: `--color auto|always|never`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// Colour when the stream is a terminal, `NO_COLOR` is unset or empty and `TERM` is not
    /// `dumb`.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Decides for one stream. `env` looks up an environment variable (`std::env::var` in the
    /// program; a map in tests).
    pub fn enabled(self, is_terminal: bool, env: impl Fn(&str) -> Option<String>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                // https://no-color.org: present and not empty turns colour off.
                let no_color = env("NO_COLOR").is_some_and(|v| !v.is_empty());
                let dumb = env("TERM").is_some_and(|t| t == "dumb");
                is_terminal && !no_color && !dumb
            }
        }
    }
}

/// How a table is laid out for people.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStyle {
    /// Cut every line to this many columns; `None` writes whole lines.
    pub width: Option<u16>,
    /// ANSI colours (severity, headings).
    pub color: bool,
}

/// Colours text when enabled; otherwise gives it back unchanged.
#[derive(Clone, Copy, Debug)]
pub struct Paint {
    enabled: bool,
}

impl Paint {
    pub fn new(enabled: bool) -> Paint {
        Paint { enabled }
    }

    pub fn enabled(self) -> bool {
        self.enabled
    }

    fn apply(self, style: Style, text: &str) -> String {
        if self.enabled {
            style.force_styling(true).apply_to(text).to_string()
        } else {
            text.to_owned()
        }
    }

    /// A severity's colour: critical bold magenta, high red, medium yellow, low cyan, info dim.
    pub fn severity(self, severity: Severity, text: &str) -> String {
        let style = match severity {
            Severity::Critical => Style::new().magenta().bold(),
            Severity::High => Style::new().red().bold(),
            Severity::Medium => Style::new().yellow(),
            Severity::Low => Style::new().cyan(),
            Severity::Info => Style::new().dim(),
        };
        self.apply(style, text)
    }

    pub fn bold(self, text: &str) -> String {
        self.apply(Style::new().bold(), text)
    }

    pub fn dim(self, text: &str) -> String {
        self.apply(Style::new().dim(), text)
    }
}

/// `text` in at most `max` characters, with an ellipsis when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// `text` cut to `max` characters and padded with spaces to exactly `max`.
pub fn fit(text: &str, max: usize) -> String {
    let mut s = cut(text, max);
    let n = s.chars().count();
    s.extend(std::iter::repeat_n(' ', max.saturating_sub(n)));
    s
}

/// A line with its ANSI colour sequences (`ESC [ … final-byte`) taken out.
pub fn strip_colour(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) && c != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The number of characters a line shows, colour sequences left out (for alignment and tests).
pub fn visible_width(line: &str) -> usize {
    strip_colour(line).chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn auto_colours_only_terminals_without_no_color() {
        assert!(ColorChoice::Auto.enabled(true, env(&[])));
        assert!(!ColorChoice::Auto.enabled(false, env(&[])));
        assert!(!ColorChoice::Auto.enabled(true, env(&[("NO_COLOR", "1")])));
        // An empty NO_COLOR does not count (no-color.org).
        assert!(ColorChoice::Auto.enabled(true, env(&[("NO_COLOR", "")])));
        assert!(!ColorChoice::Auto.enabled(true, env(&[("TERM", "dumb")])));
        assert!(ColorChoice::Always.enabled(false, env(&[("NO_COLOR", "1")])));
        assert!(!ColorChoice::Never.enabled(true, env(&[])));
    }

    #[test]
    fn paint_is_plain_when_off_and_invisible_in_width_when_on() {
        let off = Paint::new(false).severity(Severity::High, "high");
        assert_eq!(off, "high");
        let on = Paint::new(true).severity(Severity::High, "high");
        assert_ne!(on, "high");
        assert!(on.contains("\u{1b}["));
        assert_eq!(visible_width(&on), 4);
    }

    #[test]
    fn cut_and_fit_count_characters_not_bytes() {
        assert_eq!(cut("pаypal.com", 20), "pаypal.com");
        assert_eq!(cut("abcdefghij", 5), "abcd…");
        assert_eq!(fit("日本語", 5), "日本語  ");
        assert_eq!(fit("abcdefghij", 4), "abc…");
    }
}

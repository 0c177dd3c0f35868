//! The terminal: colour (`--color`, `NO_COLOR`), width, and the pager for long tables.

use std::io::{self, IsTerminal, Write};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use dnshunt_sink::{ColorChoice, Paint};

static COLOR: OnceLock<ColorChoice> = OnceLock::new();

/// Set once from `--color`, before anything is printed.
pub fn set_color(choice: ColorChoice) {
    let _ = COLOR.set(choice);
}

fn choice() -> ColorChoice {
    COLOR.get().copied().unwrap_or_default()
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Colour for what goes to stdout (tables).
pub fn paint_stdout() -> Paint {
    Paint::new(choice().enabled(io::stdout().is_terminal(), env))
}

/// Colour for what goes to stderr (the summary).
pub fn paint_stderr() -> Paint {
    Paint::new(choice().enabled(io::stderr().is_terminal(), env))
}

/// The terminal's width: `COLUMNS` when set, else what the terminal says, else 120.
pub fn terminal_width() -> u16 {
    env("COLUMNS")
        .and_then(|c| c.trim().parse().ok())
        .or_else(|| console::Term::stdout().size_checked().map(|(_, cols)| cols))
        .filter(|&w| w >= 40)
        .unwrap_or(120)
}

/// The width of stderr when it is a terminal (the summary wraps to it).
pub fn stderr_width() -> Option<usize> {
    io::stderr()
        .is_terminal()
        .then(|| console::Term::stderr().size_checked().map(|(_, cols)| cols as usize))
        .flatten()
}

/// The width a table is cut to: the terminal's on a terminal, `COLUMNS` in a pipe when it is
/// set, else none (whole lines, for files and scripts).
pub fn table_width(stdout_is_terminal: bool) -> Option<u16> {
    if stdout_is_terminal {
        return Some(terminal_width());
    }
    env("COLUMNS").and_then(|c| c.trim().parse().ok()).filter(|&w| w >= 40)
}

/// The pager command: `DNSHUNT_PAGER`, else `PAGER`, else `less`; empty or `cat` means none.
fn pager_command() -> Option<String> {
    let cmd = env("DNSHUNT_PAGER").or_else(|| env("PAGER")).unwrap_or_else(|| "less".to_owned());
    let cmd = cmd.trim().to_owned();
    (!cmd.is_empty() && cmd != "cat").then_some(cmd)
}

/// Writes `text` to stdout; through the pager (as `git` does) when stdout is a terminal, paging is
/// not switched off, and the text is taller than the terminal. `less` gets `LESS=FRX` unless
/// `LESS` is set: quit when it fits, keep colours, leave the text on screen.
pub fn page(text: &[u8], no_pager: bool) -> io::Result<()> {
    let stdout = io::stdout();
    let rows = console::Term::stdout().size_checked().map(|(rows, _)| rows as usize);
    let lines = text.iter().filter(|&&b| b == b'\n').count();
    let wanted = !no_pager && stdout.is_terminal() && rows.is_some_and(|rows| lines + 2 > rows);
    if let Some(cmd) = pager_command().filter(|_| wanted) {
        let mut command = Command::new("sh");
        command.arg("-c").arg(&cmd).stdin(Stdio::piped());
        if env("LESS").is_none() {
            command.env("LESS", "FRX");
        }
        if let Ok(mut child) = command.spawn() {
            if let Some(mut stdin) = child.stdin.take() {
                // The reader quitting the pager early closes the pipe: not an error.
                match stdin.write_all(text) {
                    Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(e),
                    _ => {}
                }
            }
            child.wait()?;
            return Ok(());
        }
    }
    let mut out = stdout.lock();
    out.write_all(text)?;
    out.flush()
}

//! Whole JSON documents read as a stream: arrays of events, Elasticsearch `_search` responses,
//! and objects one after another (`evtx_dump -o json`), cut into one record at a time without
//! holding the document in memory.
//!
//! A light scanner follows the structure (strings, brackets, lines) and cuts out each object at
//! record level: a top-level object, an element of a (nested) top-level array, or a hit of a
//! response's `hits.hits` (the rest of a response is skipped). Each record is checked to be JSON
//! before it is handed on, so damage costs only the damaged record: after a record that is cut
//! short, unbalanced, has a string running past its line, or is not JSON, the scanner looks for
//! the next object that opens a record the way the others did (the same first key, or the same
//! column at the start of a line) and goes on there. The records in between are counted as lost.
//!
//! Memory is the current record (at most [`crate::Limits::max_record`] bytes) plus one read
//! block, whatever the document's size.

use std::io::{self, Read};

/// Bytes read from the input at a time.
const READ_SIZE: usize = 1 << 20;
/// How far past a candidate `{` its first key is looked for.
const KEY_LOOKAHEAD: usize = 512;
/// First keys longer than this are not used to recognise records.
const MAX_KEY: usize = 128;

/// What the splitter hands on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// A complete JSON object: one record (or, rarely, an object holding several).
    Record {
        bytes: &'a [u8],
        line: u64,
        /// Its position (1-based) in the array or `hits.hits` it belongs to.
        ordinal: Option<u64>,
    },
    /// Records lost to damage, counted, with where the damage starts and why.
    Lost { line: u64, count: u64, message: String },
}

/// A record level: the top of the document, an array, or a response's `hits.hits`.
#[derive(Debug, Default)]
struct Level {
    hits: bool,
    /// The first key of the last good record here: how records at this level open.
    first_key: Option<Vec<u8>>,
    ordinal: u64,
    top: bool,
}

/// How to recognise the next record after damage.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Criterion {
    /// An object whose first key is this.
    Key(Vec<u8>),
    /// An object opening a line at this column.
    Column(usize),
    /// Any object with a key.
    AnyObject,
}

#[derive(Debug)]
struct Damage {
    /// Where the damaged record started.
    line: u64,
    reason: String,
    /// Records known lost so far.
    lost: u64,
    criterion: Criterion,
}

#[derive(Debug)]
struct Unit {
    start: usize,
    line: u64,
    col: usize,
    first_on_line: bool,
    stack: Vec<u8>,
    in_string: bool,
    /// Whether the next string of the innermost object (at depth 1 or 2) is a key.
    expect_key: bool,
    key_start: Option<usize>,
    first_key: Option<Vec<u8>>,
    /// The last key at depth 1 / 2 was `hits`.
    hits_key: [bool; 3],
    /// The object at depth 2 is the value of `hits` at depth 1.
    in_hits_object: bool,
    /// Set when this unit was found while looking for a record after damage.
    after_damage: Option<Damage>,
}

#[derive(Debug)]
enum Mode {
    Between,
    InUnit(Unit),
    /// Skipping the rest of a response after its `hits.hits`, `depth` containers deep.
    SkipTail {
        depth: usize,
        in_string: bool,
    },
    /// Looking for the next record after damage, from `from`.
    Resync {
        from: usize,
        line: u64,
        damage: Damage,
        searched: usize,
    },
    Done,
}

pub(crate) struct Splitter<R> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    /// Absolute offset of `buf[0]` in the input.
    offset: u64,
    line: u64,
    col: usize,
    /// Only whitespace so far on the current line.
    line_blank: bool,
    eof: bool,
    read_error: Option<io::Error>,
    levels: Vec<Level>,
    mode: Mode,
    max_record: usize,
    ended_in_tail: bool,
}

impl<R: Read> Splitter<R> {
    /// `head`: bytes already read from the start of the input.
    pub(crate) fn new(head: Vec<u8>, reader: R, max_record: usize) -> Self {
        let mut buf = head;
        let bom = buf.starts_with(b"\xef\xbb\xbf");
        if bom {
            buf.drain(..3);
        }
        Splitter {
            reader,
            buf,
            pos: 0,
            offset: if bom { 3 } else { 0 },
            line: 1,
            col: 0,
            line_blank: true,
            eof: false,
            read_error: None,
            levels: vec![Level { top: true, ..Level::default() }],
            mode: Mode::Between,
            max_record,
            ended_in_tail: false,
        }
    }

    /// Marks the input as ended by an error seen before the splitter got it.
    pub(crate) fn set_read_error(&mut self, e: io::Error) {
        self.eof = true;
        self.read_error = Some(e);
    }

    /// The error that ended reading early, if any, and the line it came after.
    pub(crate) fn take_read_error(&mut self) -> Option<(io::Error, u64)> {
        self.read_error.take().map(|e| (e, self.line))
    }

    /// After the end: whether the document ended inside an array or a response (a sign that
    /// it was cut short, even when no record was), with the line it ended on.
    pub(crate) fn ended_open(&self) -> Option<u64> {
        (self.levels.len() > 1 || self.ended_in_tail).then_some(self.line)
    }

    /// Runs to the end of the input, handing each piece to `emit` (which returns false to stop).
    pub(crate) fn run(&mut self, emit: &mut dyn FnMut(Piece<'_>) -> bool) {
        while !matches!(self.mode, Mode::Done) {
            if !self.step(emit) {
                return;
            }
        }
    }

    /// Drops consumed bytes before `keep` (an index into `buf`), returning the shift to apply to
    /// indices held elsewhere.
    fn compact(&mut self, keep: usize) -> usize {
        if keep == 0 {
            return 0;
        }
        self.buf.drain(..keep);
        self.offset += keep as u64;
        self.pos = self.pos.saturating_sub(keep);
        keep
    }

    /// Reads more input; false at the end (or after a read error).
    fn refill(&mut self) -> bool {
        if self.eof {
            return false;
        }
        let start = self.buf.len();
        self.buf.reserve(READ_SIZE);
        loop {
            match (&mut self.reader).take(READ_SIZE as u64).read_to_end(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return false;
                }
                Ok(_) => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if self.buf.len() > start {
                        return true;
                    }
                }
                Err(e) => {
                    self.eof = true;
                    self.read_error = Some(e);
                    return self.buf.len() > start;
                }
            }
        }
    }

    fn level(&mut self) -> &mut Level {
        self.levels.last_mut().expect("the top level is never popped")
    }

    /// One step of the current mode; false when `emit` asked to stop.
    fn step(&mut self, emit: &mut dyn FnMut(Piece<'_>) -> bool) -> bool {
        match std::mem::replace(&mut self.mode, Mode::Done) {
            Mode::Done => true,
            Mode::Between => self.between(),
            Mode::InUnit(unit) => self.in_unit(unit, emit),
            Mode::SkipTail { depth, in_string } => {
                self.skip_tail(depth, in_string);
                true
            }
            Mode::Resync { from, line, damage, searched } => self.resync(from, line, damage, searched, emit),
        }
    }

    fn between(&mut self) -> bool {
        loop {
            if self.pos >= self.buf.len() {
                let keep = self.pos;
                self.compact(keep);
                if !self.refill() {
                    self.mode = Mode::Done;
                    return true;
                }
                continue;
            }
            let b = self.buf[self.pos];
            match b {
                b'\n' => {
                    self.line += 1;
                    self.col = 0;
                    self.line_blank = true;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' => {
                    self.col += 1;
                    self.pos += 1;
                }
                // Separators are not checked: missing or doubled commas cost nothing.
                b',' => {
                    self.col += 1;
                    self.line_blank = false;
                    self.pos += 1;
                }
                b'[' => {
                    self.levels.push(Level::default());
                    self.col += 1;
                    self.line_blank = false;
                    self.pos += 1;
                }
                // A closer with no array open is what is left of a damaged record's end (that
                // damage was counted): not a record.
                b']' | b'}' => {
                    self.col += 1;
                    self.line_blank = false;
                    self.pos += 1;
                    if b == b']' && self.levels.len() > 1 {
                        let level = self.levels.pop().expect("checked");
                        if level.hits {
                            self.mode = Mode::SkipTail { depth: 2, in_string: false };
                            return true;
                        }
                    }
                }
                b'{' => {
                    let unit = Unit {
                        start: self.pos,
                        line: self.line,
                        col: self.col,
                        first_on_line: self.line_blank,
                        stack: vec![b'{'],
                        in_string: false,
                        expect_key: true,
                        key_start: None,
                        first_key: None,
                        hits_key: [false; 3],
                        in_hits_object: false,
                        after_damage: None,
                    };
                    self.pos += 1;
                    self.col += 1;
                    self.line_blank = false;
                    self.mode = Mode::InUnit(unit);
                    return true;
                }
                b'R' if self.levels.len() == 1 && self.line_blank => {
                    // `evtx_dump`'s `Record 41207` lines between records.
                    if self.buf.len() - self.pos < 7 && !self.eof {
                        let keep = self.pos;
                        self.compact(keep);
                        self.refill();
                        continue;
                    }
                    if self.buf[self.pos..].starts_with(b"Record ") {
                        self.skip_line();
                    } else {
                        return self.damaged_between();
                    }
                }
                _ => return self.damaged_between(),
            }
        }
    }

    /// Skips to the end of the current line (the newline stays).
    fn skip_line(&mut self) {
        loop {
            match memchr::memchr(b'\n', &self.buf[self.pos..]) {
                Some(i) => {
                    self.pos += i;
                    return;
                }
                None => {
                    self.pos = self.buf.len();
                    let keep = self.pos;
                    self.compact(keep);
                    if !self.refill() {
                        return;
                    }
                }
            }
        }
    }

    /// Text between records that is not a record.
    fn damaged_between(&mut self) -> bool {
        let shown = String::from_utf8_lossy(&self.buf[self.pos..(self.pos + 40).min(self.buf.len())]).into_owned();
        let shown = shown.lines().next().unwrap_or_default().to_owned();
        let criterion = match &self.level().first_key {
            Some(key) => Criterion::Key(key.clone()),
            None => Criterion::AnyObject,
        };
        self.mode = Mode::Resync {
            from: self.pos,
            line: self.line,
            damage: Damage {
                line: self.line,
                reason: format!("text that is not a JSON object where a record should start ({shown:?})"),
                lost: 1,
                criterion,
            },
            searched: 0,
        };
        true
    }

    fn in_unit(&mut self, mut u: Unit, emit: &mut dyn FnMut(Piece<'_>) -> bool) -> bool {
        loop {
            if self.pos >= self.buf.len() {
                if self.pos - u.start > self.max_record {
                    let reason = format!("record larger than {} bytes (the limit for one record)", self.max_record);
                    return self.damaged_unit(u, reason);
                }
                let shift = self.compact(u.start);
                u.start -= shift;
                if let Some(k) = u.key_start.as_mut() {
                    *k -= shift;
                }
                if !self.refill() {
                    let reason = match &self.read_error {
                        Some(_) => "the input stopped being readable inside this record".to_owned(),
                        None => "the input ends inside this record (truncated)".to_owned(),
                    };
                    return self.damaged_unit(u, reason);
                }
                continue;
            }
            if u.in_string {
                match memchr::memchr3(b'"', b'\\', b'\n', &self.buf[self.pos..]) {
                    None => self.pos = self.buf.len(),
                    Some(i) => {
                        let at = self.pos + i;
                        match self.buf[at] {
                            b'"' => {
                                u.in_string = false;
                                self.pos = at + 1;
                                if let Some(k) = u.key_start.take() {
                                    let depth = u.stack.len();
                                    let key = &self.buf[k..at];
                                    u.hits_key[depth] = key == b"hits";
                                    if depth == 1 && u.first_key.is_none() && key.len() <= MAX_KEY {
                                        u.first_key = Some(key.to_vec());
                                    }
                                }
                            }
                            b'\\' => {
                                if at + 1 < self.buf.len() {
                                    self.pos = at + 2;
                                } else {
                                    // See the escaped byte after the next read.
                                    self.pos = at;
                                    if self.buf.len() - u.start > self.max_record {
                                        let reason = format!("record larger than {} bytes (the limit for one record)", self.max_record);
                                        return self.damaged_unit(u, reason);
                                    }
                                    let shift = self.compact(u.start);
                                    u.start -= shift;
                                    if let Some(k) = u.key_start.as_mut() {
                                        *k -= shift;
                                    }
                                    if !self.refill() {
                                        self.pos = self.buf.len();
                                    }
                                }
                            }
                            _ => {
                                self.pos = at;
                                let reason = "a string runs past the end of its line (a quote is missing or extra)".to_owned();
                                return self.damaged_unit(u, reason);
                            }
                        }
                    }
                }
                continue;
            }
            let b = self.buf[self.pos];
            self.pos += 1;
            match b {
                b'"' => {
                    u.in_string = true;
                    if u.expect_key && u.stack.len() <= 2 {
                        u.key_start = Some(self.pos);
                        u.expect_key = false;
                    }
                }
                b'{' | b'[' => {
                    let depth = u.stack.len();
                    if b == b'[' && depth == 2 && u.in_hits_object && u.hits_key[2] {
                        // A search response: its hits are the records.
                        return self.enter_hits(u, emit);
                    }
                    if b == b'{' && depth == 1 {
                        u.in_hits_object = u.hits_key[1];
                    }
                    u.stack.push(b);
                    u.expect_key = b == b'{' && u.stack.len() <= 2;
                }
                b'}' | b']' => {
                    let open = if b == b'}' { b'{' } else { b'[' };
                    if u.stack.pop() != Some(open) {
                        self.pos -= 1;
                        let reason = format!("`{}` closes what it did not open", b as char);
                        return self.damaged_unit(u, reason);
                    }
                    if u.stack.is_empty() {
                        return self.unit_done(u, emit);
                    }
                    if u.stack.len() == 1 {
                        u.in_hits_object = false;
                    }
                    u.expect_key = false;
                }
                b',' => u.expect_key = u.stack.last() == Some(&b'{') && u.stack.len() <= 2,
                b'\n' => self.line += 1,
                _ => {}
            }
        }
    }

    /// The record's closing brace was just passed.
    fn unit_done(&mut self, mut u: Unit, emit: &mut dyn FnMut(Piece<'_>) -> bool) -> bool {
        let end = self.pos;
        if end - u.start > self.max_record {
            let reason = format!("record larger than {} bytes (the limit for one record)", self.max_record);
            return self.damaged_unit(u, reason);
        }
        let valid = |bytes: &[u8]| serde_json::from_slice::<serde::de::IgnoredAny>(bytes);
        // Raw control characters inside strings are repaired (and warned of) where the record
        // is parsed; here they are no damage.
        let checked = valid(&self.buf[u.start..end]).or_else(|e| match crate::json_visit::escape_controls_in_strings(&self.buf[u.start..end]) {
            Some((escaped, _)) => valid(&escaped).map_err(|_| e),
            None => Err(e),
        });
        if let Err(e) = checked {
            // The line of the error, inside the record.
            let at = u.line + e.line().saturating_sub(1) as u64;
            let reason = if at == u.line {
                format!("invalid JSON: {e}")
            } else {
                format!("invalid JSON at line {at}: {e}")
            };
            return self.damaged_unit(u, reason);
        }
        self.line_blank = false;
        if let Some(damage) = u.after_damage.take() {
            if !emit(lost_piece(damage, Some(u.line))) {
                return false;
            }
        }
        let level = self.levels.last_mut().expect("the top level is never popped");
        if u.first_key.is_some() {
            level.first_key.clone_from(&u.first_key);
        }
        let ordinal = if level.top {
            None
        } else {
            level.ordinal += 1;
            Some(level.ordinal)
        };
        let keep_going = emit(Piece::Record {
            bytes: &self.buf[u.start..end],
            line: u.line,
            ordinal,
        });
        // The column after the record is not known exactly (it may span lines); only whether
        // a line starts before the next record matters, and a newline resets it.
        self.mode = Mode::Between;
        keep_going
    }

    /// A response's `hits.hits` opens: its elements are the records, the rest is skipped.
    fn enter_hits(&mut self, mut u: Unit, emit: &mut dyn FnMut(Piece<'_>) -> bool) -> bool {
        if let Some(damage) = u.after_damage.take() {
            if !emit(lost_piece(damage, Some(u.line))) {
                return false;
            }
        }
        self.levels.push(Level { hits: true, ..Level::default() });
        self.line_blank = false;
        self.mode = Mode::Between;
        true
    }

    fn damaged_unit(&mut self, u: Unit, reason: String) -> bool {
        let damage = match u.after_damage {
            // Still looking for a record after earlier damage: a candidate that opened like a
            // record was one.
            Some(mut damage) => {
                if matches!(damage.criterion, Criterion::Key(_) | Criterion::Column(_)) {
                    damage.lost += 1;
                }
                damage
            }
            None => {
                let criterion = match (&self.level().first_key, &u.first_key) {
                    (Some(key), _) | (None, Some(key)) => Criterion::Key(key.clone()),
                    (None, None) if u.first_on_line => Criterion::Column(u.col),
                    (None, None) => Criterion::AnyObject,
                };
                Damage {
                    line: u.line,
                    reason,
                    lost: 1,
                    criterion,
                }
            }
        };
        self.mode = Mode::Resync {
            from: u.start + 1,
            line: u.line,
            damage,
            searched: 0,
        };
        true
    }

    fn resync(&mut self, mut from: usize, mut line: u64, mut damage: Damage, mut searched: usize, emit: &mut dyn FnMut(Piece<'_>) -> bool) -> bool {
        loop {
            // After a record's worth of text without a match, any object will do.
            if searched > self.max_record && damage.criterion != Criterion::AnyObject {
                damage.criterion = Criterion::AnyObject;
            }
            let found = memchr::memchr(b'{', &self.buf[from..]);
            let Some(i) = found else {
                line += memchr::memchr_iter(b'\n', &self.buf[from..]).count() as u64;
                searched += self.buf.len() - from;
                from = self.buf.len();
                let keep = line_start(&self.buf, from);
                let shift = self.compact(keep);
                from -= shift;
                if !self.refill() {
                    self.line = line;
                    self.mode = Mode::Done;
                    return emit(lost_piece(damage, None));
                }
                continue;
            };
            let cand = from + i;
            line += memchr::memchr_iter(b'\n', &self.buf[from..cand]).count() as u64;
            searched += cand - from;
            from = cand;
            if self.buf.len() - cand < KEY_LOOKAHEAD && !self.eof {
                let keep = line_start(&self.buf, cand);
                let shift = self.compact(keep);
                from -= shift;
                self.refill();
                continue;
            }
            let (col, first_on_line) = column_of(&self.buf, cand, self.offset);
            let matches = match &damage.criterion {
                Criterion::Key(key) => first_key_at(&self.buf, cand).is_some_and(|k| k == key.as_slice()),
                Criterion::Column(c) => first_on_line && col == *c,
                Criterion::AnyObject => first_key_at(&self.buf, cand).is_some(),
            };
            if !matches {
                from = cand + 1;
                continue;
            }
            self.pos = cand + 1;
            self.line = line;
            self.col = col.saturating_add(1);
            self.line_blank = false;
            self.mode = Mode::InUnit(Unit {
                start: cand,
                line,
                col,
                first_on_line,
                stack: vec![b'{'],
                in_string: false,
                expect_key: true,
                key_start: None,
                first_key: None,
                hits_key: [false; 3],
                in_hits_object: false,
                after_damage: Some(damage),
            });
            let _ = emit;
            return true;
        }
    }

    fn skip_tail(&mut self, mut depth: usize, mut in_string: bool) {
        loop {
            if self.pos >= self.buf.len() {
                let keep = self.pos;
                self.compact(keep);
                if !self.refill() {
                    self.ended_in_tail = true;
                    self.mode = Mode::Done;
                    return;
                }
            }
            if in_string {
                match memchr::memchr2(b'"', b'\\', &self.buf[self.pos..]) {
                    None => self.pos = self.buf.len(),
                    Some(i) => {
                        let at = self.pos + i;
                        if self.buf[at] == b'"' {
                            in_string = false;
                            self.pos = at + 1;
                        } else {
                            self.pos = (at + 2).min(self.buf.len());
                        }
                    }
                }
                continue;
            }
            let b = self.buf[self.pos];
            self.pos += 1;
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.line_blank = false;
                        self.mode = Mode::Between;
                        return;
                    }
                }
                b'\n' => self.line += 1,
                _ => {}
            }
        }
    }
}

fn lost_piece(damage: Damage, resumed_at: Option<u64>) -> Piece<'static> {
    let records = if damage.lost == 1 { "1 record".to_owned() } else { format!("{} records", damage.lost) };
    let message = match resumed_at {
        Some(line) => format!("{}; {records} lost, reading resumed at the next complete record (line {line})", damage.reason),
        None => format!("{}; {records} lost, no complete record after it", damage.reason),
    };
    Piece::Lost {
        line: damage.line,
        count: damage.lost,
        message,
    }
}

/// Where the line holding `at` starts, if it is near (to keep for column checks), else `at`.
fn line_start(buf: &[u8], at: usize) -> usize {
    let from = at.saturating_sub(4096);
    memchr::memrchr(b'\n', &buf[from..at]).map_or(at, |i| from + i + 1)
}

/// The column of `buf[at]` and whether only whitespace precedes it on its line.
fn column_of(buf: &[u8], at: usize, offset: u64) -> (usize, bool) {
    let start = match memchr::memrchr(b'\n', &buf[..at]) {
        Some(i) => i + 1,
        // The buffer starts the input: the first line.
        None if offset <= 3 => 0,
        None => return (0, false),
    };
    (at - start, buf[start..at].iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')))
}

/// The first key of the object opening at `buf[at]` (`{`), if it has one within reach.
fn first_key_at(buf: &[u8], at: usize) -> Option<&[u8]> {
    let end = (at + KEY_LOOKAHEAD).min(buf.len());
    let rest = &buf[at + 1..end];
    let ws = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
    let rest = rest[ws..].strip_prefix(b"\"")?;
    let close = memchr::memchr2(b'"', b'\\', rest)?;
    (rest[close] == b'"' && close <= MAX_KEY).then(|| &rest[..close])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What splitting `text` gives: (line, ordinal, record text) and (line, count, message).
    #[derive(Debug, Default)]
    struct Split {
        records: Vec<(u64, Option<u64>, String)>,
        lost: Vec<(u64, u64, String)>,
    }

    fn split_with(text: &[u8], max_record: usize, head: usize) -> Split {
        let head = text[..head.min(text.len())].to_vec();
        let rest = &text[head.len()..];
        let mut splitter = Splitter::new(head, rest, max_record);
        let mut out = Split::default();
        splitter.run(&mut |piece| {
            match piece {
                Piece::Record { bytes, line, ordinal } => out.records.push((line, ordinal, String::from_utf8_lossy(bytes).into_owned())),
                Piece::Lost { line, count, message } => out.lost.push((line, count, message)),
            }
            true
        });
        out
    }

    fn split(text: &str) -> Split {
        let whole = split_with(text.as_bytes(), 1 << 20, 0);
        // Reading in small pieces gives the same result.
        let tiny = {
            let mut splitter = Splitter::new(Vec::new(), OneByte(text.as_bytes()), 1 << 20);
            let mut out = Split::default();
            splitter.run(&mut |piece| {
                match piece {
                    Piece::Record { bytes, line, ordinal } => out.records.push((line, ordinal, String::from_utf8_lossy(bytes).into_owned())),
                    Piece::Lost { line, count, message } => out.lost.push((line, count, message)),
                }
                true
            });
            out
        };
        assert_eq!(whole.records, tiny.records, "byte by byte");
        assert_eq!(
            whole.lost.iter().map(|l| (l.0, l.1)).collect::<Vec<_>>(),
            tiny.lost.iter().map(|l| (l.0, l.1)).collect::<Vec<_>>()
        );
        whole
    }

    /// A reader giving one byte at a time.
    struct OneByte<'a>(&'a [u8]);

    impl Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    fn lines(s: &Split) -> Vec<u64> {
        s.records.iter().map(|r| r.0).collect()
    }

    #[test]
    fn concatenated_objects_and_record_lines() {
        let s = split("Record 1\n{\n  \"Event\": {\"a\": 1}\n}\nRecord 2\n{\n  \"Event\": {\"a\": \"}{\"}\n}\n");
        assert_eq!(lines(&s), [2, 6]);
        assert_eq!(s.records[1].1, None);
        assert!(s.lost.is_empty(), "{:?}", s.lost);
    }

    #[test]
    fn array_elements_are_records_with_ordinals() {
        let s = split("[\n  {\"a\": [1, {\"b\": 2}]},\n  {\"a\": \"x\\\"]\"}\n]\n");
        assert_eq!(lines(&s), [2, 3]);
        assert_eq!(s.records.iter().map(|r| r.1).collect::<Vec<_>>(), [Some(1), Some(2)]);
        assert!(s.lost.is_empty());
        let nested = split("[[{\"a\":1}],[{\"a\":2},{\"a\":3}]]");
        assert_eq!(nested.records.len(), 3);
    }

    #[test]
    fn hits_of_a_search_response_are_records() {
        let text = "{\n  \"took\" : 7,\n  \"hits\" : {\n    \"total\" : {\"value\": 2},\n    \"hits\" : [ {\n      \"_index\" : \"i\", \"_id\" : \"1\"\n    }, {\n      \"_index\" : \"i\", \"_id\" : \"2\"\n    } ]\n  },\n  \"aggregations\": {\"x\": [{\"a\": 1}]}\n}\n{\"hits\": {\"hits\": [{\"_index\": \"j\"}]}}";
        let s = split(text);
        assert_eq!(lines(&s), [5, 7, 13]);
        assert_eq!(s.records.iter().map(|r| r.1).collect::<Vec<_>>(), [Some(1), Some(2), Some(1)]);
        assert!(s.records[0].2.starts_with("{\n      \"_index\""));
        assert!(s.lost.is_empty(), "{:?}", s.lost);
        // `hits` that is not an array of hits: the object is one record.
        let s = split("{\"hits\": 3, \"a\": {\"hits\": [1]}}");
        assert_eq!(s.records.len(), 1);
    }

    #[test]
    fn a_truncated_array_keeps_every_complete_record() {
        let mut text = String::from("[\n");
        for i in 0..100 {
            text.push_str(&format!(
                "  {{\n    \"EventID\": 22,\n    \"QueryName\": \"n{i}.example.org\",\n    \"nested\": {{\"a\": [1, 2]}}\n  }},\n"
            ));
        }
        // In the middle of a record (at a record's end, nothing is lost but the array is open).
        let cut = &text[..text.len() * 95 / 100 - 20];
        let complete = cut.matches("\n  },").count();
        assert!(complete > 90);
        let s = split(cut);
        assert_eq!(s.records.len(), complete, "{:?}", s.lost);
        assert_eq!(s.lost.len(), 1);
        assert_eq!(s.lost[0].1, 1);
        assert!(s.lost[0].2.contains("truncated"), "{}", s.lost[0].2);
        assert_eq!(s.lost[0].0, 2 + complete as u64 * 5);

        // Cut at a record's end: nothing lost, but the document is seen to end open.
        let at_end = &text[..text.rfind("  },\n").unwrap() + 5];
        let mut splitter = Splitter::new(Vec::new(), at_end.as_bytes(), 1 << 20);
        let mut n = 0;
        splitter.run(&mut |_| {
            n += 1;
            true
        });
        assert_eq!(n, 100);
        assert_eq!(splitter.ended_open(), Some(2 + 100 * 5));
        let closed = format!("{text}]\n");
        let mut whole = Splitter::new(Vec::new(), closed.as_bytes(), 1 << 20);
        whole.run(&mut |_| true);
        assert_eq!(whole.ended_open(), None);
    }

    #[test]
    fn a_stray_quote_costs_one_record_pretty_or_compact() {
        let record = |i: usize| format!("{{\"EventID\": 22, \"QueryName\": \"n{i}.example.org\", \"Answers\": [{{\"type\": \"A\"}}]}}");
        let mut records: Vec<String> = (0..10).map(record).collect();
        records[3] = records[3].replacen("\"n3", "n3", 1);
        let pretty = format!("[\n{}\n]\n", records.iter().map(|r| format!("  {r}")).collect::<Vec<_>>().join(",\n"));
        let compact = format!("[{}]", records.join(","));
        for text in [pretty, compact] {
            let s = split(&text);
            assert_eq!(s.records.len(), 9, "{text}\n{:?}", s.lost);
            assert_eq!(s.lost.iter().map(|l| l.1).sum::<u64>(), 1, "{:?}", s.lost);
            assert!(s.records.iter().all(|r| !r.2.contains("n3.example")));
        }
    }

    #[test]
    fn a_missing_brace_or_garbage_costs_one_record() {
        let mut records: Vec<String> = (0..6).map(|i| format!("{{\"Event\": {{\"System\": {{\"EventID\": {i}}}}}}}")).collect();
        records[2] = records[2].replacen("}}}", "}}", 1);
        records[4] = records[4].replacen("EventID", "Even\u{0}tID\"", 1);
        let text = records.join("\n");
        let s = split(&text);
        assert_eq!(s.records.len(), 4, "{:?}", s);
        assert_eq!(s.lost.iter().map(|l| l.1).sum::<u64>(), 2, "{:?}", s.lost);
        assert_eq!(s.lost.iter().map(|l| l.0).collect::<Vec<_>>(), [3, 5]);
    }

    #[test]
    fn an_oversized_record_is_skipped_and_reading_goes_on() {
        let big = "a".repeat(5000);
        let text = format!("[{{\"k\": 1}}, {{\"k\": \"{big}\"}}, {{\"k\": 3}}]");
        let s = split_with(text.as_bytes(), 1000, 0);
        assert_eq!(s.records.iter().map(|r| r.2.as_str()).collect::<Vec<_>>(), ["{\"k\": 1}", "{\"k\": 3}"]);
        assert_eq!(s.lost.len(), 1);
        assert!(s.lost[0].2.contains("larger than 1000 bytes"), "{}", s.lost[0].2);
    }

    #[test]
    fn garbage_between_records_is_one_lost_record() {
        let s = split("exported by tool v2\n{\"a\": 1}\n{\"a\": 2}\n");
        assert_eq!(lines(&s), [2, 3]);
        assert_eq!(s.lost.len(), 1);
        assert_eq!((s.lost[0].0, s.lost[0].1), (1, 1));
    }

    #[test]
    fn invalid_utf8_is_not_damage_here() {
        let s = split_with(b"[{\"a\": \"caf\xe9\"}, {\"a\": 2}]", 1 << 20, 0);
        assert_eq!(s.records.len(), 2);
        assert!(s.lost.is_empty());
    }

    #[test]
    fn an_endless_document_stays_bounded() {
        // `{"a":"` and then a gigabyte of `a`: skipped as one oversized record, never held.
        let endless = io::repeat(b'a').take(64 << 20);
        let mut splitter = Splitter::new(b"{\"a\":\"".to_vec(), endless, 1 << 20);
        let mut lost = 0;
        let mut peak = 0;
        splitter.run(&mut |piece| {
            if let Piece::Lost { count, .. } = piece {
                lost += count;
            }
            true
        });
        peak = peak.max(splitter.buf.capacity());
        assert_eq!(lost, 1);
        assert!(peak < 8 << 20, "{peak}");
    }
}

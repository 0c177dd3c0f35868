//! Workers: parse a job's bytes, normalise the records, and send batches of events.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use dnshunt_core::{normalize, Event, Origin, Outcome, RawRecord};

use crate::json_visit;
use crate::read::ReadOptions;
use crate::report::{Counts, Problem, ProblemKind};
use crate::stream::Seekable;

/// A file being read: its number in the run and its display name.
#[derive(Clone, Debug)]
pub struct FileCtx {
    pub id: u32,
    pub name: Arc<str>,
}

/// One record cut out of a document (JSON or XML) by the reading thread, or records lost there.
#[derive(Debug)]
pub enum DocPiece {
    /// The record at `range` of the job's bytes.
    Record { range: Range<usize>, line: u64, ordinal: Option<u64> },
    /// Records lost to damage (or to a limit), counted.
    Lost { line: u64, record: Option<u64>, count: u64, message: String },
}

/// Records of a document, cut out by the reading thread: their bytes back to back, and where
/// each is. `input_bytes` is how much of the input they stand for (with what lies between).
pub struct DocJob {
    pub file: FileCtx,
    pub bytes: Vec<u8>,
    pub pieces: Vec<DocPiece>,
    pub input_bytes: u64,
}

impl DocJob {
    pub fn new(file: &FileCtx) -> Self {
        DocJob {
            file: file.clone(),
            bytes: Vec::new(),
            pieces: Vec::new(),
            input_bytes: 0,
        }
    }

    pub fn push_record(&mut self, bytes: &[u8], line: u64, ordinal: Option<u64>) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        self.pieces.push(DocPiece::Record {
            range: start..self.bytes.len(),
            line,
            ordinal,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty() && self.input_bytes == 0
    }
}

/// Work for a parser thread.
pub enum Job {
    JsonLines {
        file: FileCtx,
        first_line: u64,
        bytes: Vec<u8>,
    },
    /// Records of a whole JSON document (array, search response, objects one after another).
    JsonRecords(DocJob),
    EvtxFile {
        file: FileCtx,
        path: PathBuf,
        bytes: u64,
    },
    /// EVTX read from a container or standard input, held in memory or in a temporary file.
    EvtxStream {
        file: FileCtx,
        data: Seekable,
    },
    /// `<Event>` elements of an XML document.
    Xml(DocJob),
}

/// What the readers tell the pipeline.
#[derive(Debug)]
pub enum Message {
    /// A file (or archive member) is about to be read.
    FileStart { id: u32, name: String, format: String },
    /// A batch of events from one file, with the counts and problems of the records behind it.
    Batch {
        id: u32,
        events: Vec<Event>,
        counts: Counts,
        problems: Vec<Problem>,
        bytes: u64,
    },
    /// A record skipped before parsing (an over-long line).
    Skipped { id: u32, problem: Problem },
    /// A file found in a directory walk that is not event data (by content and name).
    Ignored { name: String },
    /// The file could not be read (or stopped being readable).
    FileError { id: u32, error: String, problem: Problem },
}

/// Problems kept per batch: enough for the report's examples, bounded for memory.
const PROBLEMS_PER_BATCH: usize = 16;
/// Events per batch for readers that are not block-based.
const EVENTS_PER_BATCH: usize = 2048;

pub fn run(jobs: Receiver<Job>, out: Sender<Message>, options: &ReadOptions, threads: usize) {
    for job in jobs {
        let ok = match job {
            Job::JsonLines { file, first_line, bytes } => json_lines(&file, first_line, &bytes, options, &out),
            Job::JsonRecords(job) => json_records(&job, options, &out),
            Job::EvtxFile { file, path, bytes } => crate::evtx_reader::read_path(&file, &path, bytes, options, threads, &out),
            Job::EvtxStream { file, data } => crate::evtx_reader::read_stream(&file, data, options, threads, &out),
            Job::Xml(job) => crate::xml_reader::read(&job, options, &out),
        };
        if !ok {
            // The receiver is gone (the pipeline stopped early, e.g. `| head`): stop quietly.
            return;
        }
    }
}

/// Collects the outcome of records into a batch.
pub struct BatchBuilder<'o> {
    file: FileCtx,
    events: Vec<Event>,
    counts: Counts,
    problems: Vec<Problem>,
    warnings: Vec<String>,
    bytes: u64,
    options: &'o ReadOptions,
}

impl<'o> BatchBuilder<'o> {
    pub fn new(file: &FileCtx, options: &'o ReadOptions) -> Self {
        BatchBuilder {
            file: file.clone(),
            events: Vec::new(),
            counts: Counts::default(),
            problems: Vec::new(),
            warnings: Vec::new(),
            bytes: 0,
            options,
        }
    }

    pub fn add_bytes(&mut self, n: u64) {
        self.bytes += n;
    }

    /// Normalises a record and files the outcome.
    pub fn record(&mut self, mut raw: RawRecord<'_>, mut origin: Origin) {
        if let Some(index) = raw.es_index.take() {
            origin.hit_mut().index = Some(index.into_owned());
        }
        if let Some(id) = raw.es_id.take() {
            origin.hit_mut().id = Some(id.into_owned());
        }
        // Zeek's and Suricata's documents as Filebeat and Elastic Agent ship them.
        if dnshunt_wire::ecs::is_wire(&raw) {
            match dnshunt_wire::ecs::wire_event(&raw, origin.clone()) {
                dnshunt_wire::ecs::EcsWire::Event(event) => {
                    self.counts.wire_records += 1;
                    self.event(*event);
                }
                dnshunt_wire::ecs::EcsWire::Other => {
                    self.counts.wire_records += 1;
                    self.counts.wire_other += 1;
                }
                dnshunt_wire::ecs::EcsWire::Bad(reason) => self.bad(origin, reason),
            }
            return;
        }
        let problem_origin = origin.clone();
        match normalize(raw, origin, &mut self.warnings) {
            Ok(Outcome::Event(event)) => {
                let keep = self.options.since.is_none_or(|s| event.time >= s) && self.options.until.is_none_or(|u| event.time < u);
                if keep {
                    self.counts.count_event(&event);
                    self.events.push(*event);
                } else {
                    self.counts.filtered_out += 1;
                }
            }
            Ok(Outcome::OtherSysmon(id)) => *self.counts.other_sysmon.entry(id).or_default() += 1,
            Ok(Outcome::NotSysmon) => self.counts.not_sysmon += 1,
            Err(bad) => self.bad(problem_origin.clone(), bad.reason),
        }
        for warning in self.warnings.drain(..) {
            self.counts.warnings += 1;
            if self.problems.len() < PROBLEMS_PER_BATCH {
                self.problems.push(Problem {
                    kind: ProblemKind::Warning,
                    origin: problem_origin.clone(),
                    message: warning,
                });
            }
        }
    }

    /// Files an event a reader built itself (what the network saw).
    pub fn event(&mut self, event: Event) {
        let keep = self.options.since.is_none_or(|s| event.time >= s) && self.options.until.is_none_or(|u| event.time < u);
        if keep {
            self.counts.count_event(&event);
            self.events.push(event);
        } else {
            self.counts.filtered_out += 1;
        }
    }

    /// Counts records of a wire input that are neither DNS exchanges nor connections.
    pub fn wire_other(&mut self, n: u64) {
        self.counts.wire_other += n;
    }

    /// Takes in the record counts of a wire input.
    pub fn wire_counts(&mut self, c: &dnshunt_wire::WireCounts) {
        self.counts.wire_records += c.records;
        self.counts.wire_queries += c.dns_queries;
        self.counts.wire_responses += c.dns_responses;
    }

    /// Counts a record that could not be read at all.
    pub fn bad(&mut self, origin: Origin, reason: String) {
        self.lost(origin, reason, 1);
    }

    /// Counts `count` records lost to one defect, with one example.
    pub fn lost(&mut self, origin: Origin, reason: String, count: u64) {
        self.counts.bad_records += count;
        if self.problems.len() < PROBLEMS_PER_BATCH {
            self.problems.push(Problem {
                kind: ProblemKind::BadRecord,
                origin,
                message: reason,
            });
        }
    }

    /// Counts a warning about a record that is kept (text that had to be repaired).
    pub fn warn(&mut self, origin: Origin, message: String) {
        self.counts.warnings += 1;
        if self.problems.len() < PROBLEMS_PER_BATCH {
            self.problems.push(Problem {
                kind: ProblemKind::Warning,
                origin,
                message,
            });
        }
    }

    /// Sends what has been collected; false when the pipeline has stopped listening.
    pub fn flush(&mut self, out: &Sender<Message>) -> bool {
        let msg = Message::Batch {
            id: self.file.id,
            events: std::mem::take(&mut self.events),
            counts: std::mem::take(&mut self.counts),
            problems: std::mem::take(&mut self.problems),
            bytes: std::mem::take(&mut self.bytes),
        };
        out.send(msg).is_ok()
    }

    /// Flushes when the batch is full.
    pub fn maybe_flush(&mut self, out: &Sender<Message>) -> bool {
        if self.events.len() >= EVENTS_PER_BATCH {
            self.flush(out)
        } else {
            true
        }
    }
}

fn json_lines(file: &FileCtx, first_line: u64, bytes: &[u8], options: &ReadOptions, out: &Sender<Message>) -> bool {
    let mut batch = BatchBuilder::new(file, options);
    batch.add_bytes(bytes.len() as u64);
    let mut records = Vec::new();
    for (line_no, line) in (first_line..).zip(lines(bytes)) {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        records.clear();
        let origin = Origin::line(&file.name, line_no);
        match json_visit::parse_document(line, &mut records) {
            Ok(()) => add_records(&mut batch, &mut records, &origin),
            Err(e) => {
                records.clear();
                if !parse_repaired(line, &mut batch, &origin) {
                    batch.bad(origin, describe_json_error(&e, line));
                }
            }
        }
    }
    batch.flush(out)
}

/// The lines of `bytes` (without their `\n`), found with `memchr`; like `split` on `\n`,
/// a final empty line after a trailing `\n` included.
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(bytes);
    std::iter::from_fn(move || {
        let text = rest?;
        match memchr::memchr(b'\n', text) {
            Some(i) => {
                rest = Some(&text[i + 1..]);
                Some(&text[..i])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// Files the records of one JSON value, numbered when there are several.
fn add_records<'a>(batch: &mut BatchBuilder<'_>, records: &mut Vec<RawRecord<'a>>, origin: &Origin) {
    let many = records.len() > 1;
    for (i, raw) in records.drain(..).enumerate() {
        let mut origin = origin.clone();
        if many {
            origin.record = Some(i as u64 + 1);
        }
        batch.record(raw, origin);
    }
}

/// A JSON record that did not parse may be text that is not UTF-8 (a cp1252 `é` in a path), or
/// hold raw control characters inside its strings (a tab or a carriage return in a command line
/// that an exporter did not escape): decoded with U+FFFD for the bad bytes and with those
/// characters escaped, it is kept with a counted warning rather than lost. False when neither is
/// it (the caller counts the record as bad).
fn parse_repaired(bytes: &[u8], batch: &mut BatchBuilder<'_>, origin: &Origin) -> bool {
    let invalid: usize = bytes.utf8_chunks().map(|c| c.invalid().len()).sum();
    let text = String::from_utf8_lossy(bytes);
    let escaped = json_visit::escape_controls_in_strings(text.as_bytes());
    if invalid == 0 && escaped.is_none() {
        return false;
    }
    let (repaired, controls) = match &escaped {
        Some((escaped, n)) => (escaped.as_slice(), *n),
        None => (text.as_bytes(), 0),
    };
    let mut records = Vec::new();
    if json_visit::parse_document(repaired, &mut records).is_err() {
        return false;
    }
    if invalid > 0 {
        batch.warn(origin.clone(), invalid_utf8_message(invalid));
    }
    if controls > 0 {
        let what = if controls == 1 {
            "1 raw control character".to_owned()
        } else {
            format!("{controls} raw control characters")
        };
        batch.warn(
            origin.clone(),
            format!("{what} inside strings (JSON requires them escaped) read as if escaped (the record is kept)"),
        );
    }
    add_records(batch, &mut records, origin);
    true
}

/// The warning for text that was not UTF-8.
pub(crate) fn invalid_utf8_message(invalid_bytes: usize) -> String {
    let bytes = if invalid_bytes == 1 { "1 byte".to_owned() } else { format!("{invalid_bytes} bytes") };
    format!("not UTF-8: {bytes} replaced by U+FFFD (the record is kept; the text may have been written in another code page)")
}

/// Records of a JSON document, cut out by the reading thread (see `json_doc`).
fn json_records(job: &DocJob, options: &ReadOptions, out: &Sender<Message>) -> bool {
    let file = &job.file;
    let mut batch = BatchBuilder::new(file, options);
    batch.add_bytes(job.input_bytes);
    let mut records = Vec::new();
    for piece in &job.pieces {
        match piece {
            DocPiece::Record { range, line, ordinal } => {
                let text = &job.bytes[range.clone()];
                let mut origin = Origin::line(&file.name, *line);
                origin.record = *ordinal;
                records.clear();
                match json_visit::parse_document(text, &mut records) {
                    // An object holding several records (hits nested where the reading thread
                    // does not look for them) numbers them.
                    Ok(()) => add_records(&mut batch, &mut records, &origin),
                    Err(e) => {
                        records.clear();
                        if !parse_repaired(text, &mut batch, &origin) {
                            origin.line = Some(line + e.line().saturating_sub(1) as u64);
                            batch.bad(origin, describe_json_error(&e, text));
                        }
                    }
                }
            }
            DocPiece::Lost { line, record, count, message } => {
                let mut origin = Origin::line(&file.name, *line);
                origin.record = *record;
                batch.lost(origin, message.clone(), *count);
            }
        }
        if !batch.maybe_flush(out) {
            return false;
        }
    }
    batch.flush(out)
}

/// A short, useful description of why a line is not JSON.
fn describe_json_error(e: &serde_json::Error, line: &[u8]) -> String {
    if std::str::from_utf8(line).is_err() && e.is_syntax() {
        return format!("not UTF-8 text or not JSON ({e})");
    }
    match e.classify() {
        serde_json::error::Category::Eof => format!("truncated JSON ({} bytes): {e}", line.len()),
        _ => format!("invalid JSON: {e}"),
    }
}

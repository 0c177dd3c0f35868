//! Workers: parse a job's bytes, normalise the records, and send batches of events.

use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use dnshunt_core::{normalize, Event, Origin, Outcome, RawRecord};

use crate::json_visit;
use crate::read::ReadOptions;
use crate::report::{Counts, Problem, ProblemKind};

/// A file being read: its number in the run and its display name.
#[derive(Clone, Debug)]
pub struct FileCtx {
    pub id: u32,
    pub name: Arc<str>,
}

/// Work for a parser thread.
pub enum Job {
    JsonLines { file: FileCtx, first_line: u64, bytes: Vec<u8> },
    JsonDocument { file: FileCtx, bytes: Vec<u8> },
    EvtxFile { file: FileCtx, path: PathBuf, bytes: u64 },
    EvtxBytes { file: FileCtx, bytes: Vec<u8> },
    Xml { file: FileCtx, bytes: Vec<u8> },
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
            Job::JsonDocument { file, bytes } => json_document(&file, &bytes, options, &out),
            Job::EvtxFile { file, path, bytes } => crate::evtx_reader::read_path(&file, &path, bytes, options, threads, &out),
            Job::EvtxBytes { file, bytes } => crate::evtx_reader::read_bytes(&file, bytes, options, threads, &out),
            Job::Xml { file, bytes } => crate::xml_reader::read(&file, &bytes, options, &out),
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
            origin.index = Some(index.into_owned());
        }
        if let Some(id) = raw.es_id.take() {
            origin.id = Some(id.into_owned());
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

    /// Counts a record that could not be read at all.
    pub fn bad(&mut self, origin: Origin, reason: String) {
        self.counts.bad_records += 1;
        if self.problems.len() < PROBLEMS_PER_BATCH {
            self.problems.push(Problem {
                kind: ProblemKind::BadRecord,
                origin,
                message: reason,
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
    for (line_no, line) in (first_line..).zip(bytes.split(|&b| b == b'\n')) {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        records.clear();
        match json_visit::parse_document(line, &mut records) {
            Ok(()) => {
                let many = records.len() > 1;
                for (i, raw) in records.drain(..).enumerate() {
                    let mut origin = Origin::line(&file.name, line_no);
                    if many {
                        origin.record = Some(i as u64 + 1);
                    }
                    batch.record(raw, origin);
                }
            }
            Err(e) => batch.bad(Origin::line(&file.name, line_no), describe_json_error(&e, line)),
        }
    }
    batch.flush(out)
}

/// Whole JSON documents, possibly several in a row, possibly separated by `evtx_dump`'s
/// `Record N` lines.
fn json_document(file: &FileCtx, bytes: &[u8], options: &ReadOptions, out: &Sender<Message>) -> bool {
    let mut batch = BatchBuilder::new(file, options);
    batch.add_bytes(bytes.len() as u64);
    let mut offset = 0;
    let mut records = Vec::new();
    let mut doc_no = 0u64;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        let skip_ws = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if skip_ws == rest.len() {
            break;
        }
        let start = offset + skip_ws;
        let line_no = 1 + memchr::memchr_iter(b'\n', &bytes[..start]).count() as u64;
        let tail = &bytes[start..];
        if tail.starts_with(b"Record ") {
            // evtx_dump's separator line.
            offset = start + memchr::memchr(b'\n', tail).map_or(tail.len(), |i| i + 1);
            continue;
        }
        let mut de = serde_json::Deserializer::from_slice(tail).into_iter::<serde::de::IgnoredAny>();
        let consumed = match de.next() {
            Some(Ok(_)) => de.byte_offset(),
            Some(Err(e)) => {
                batch.bad(
                    Origin::line(&file.name, line_no + e.line().saturating_sub(1) as u64),
                    format!("invalid JSON: {e}; the rest of the file is skipped"),
                );
                break;
            }
            None => break,
        };
        doc_no += 1;
        records.clear();
        match json_visit::parse_document(&tail[..consumed], &mut records) {
            Ok(()) => {
                let many = records.len() > 1;
                // Hits of a whole search response: point at the line where each hit opens.
                let mut cursor = 0;
                for (i, raw) in records.drain(..).enumerate() {
                    let mut hit_line = line_no;
                    if let Some(id) = raw.es_id.as_deref().filter(|_| many) {
                        let needle = format!("\"{id}\"");
                        if let Some(at) = memchr::memmem::find(&tail[cursor..consumed], needle.as_bytes()) {
                            // The hit opens at the last `{` before its `_id` (`_index` and `_id`
                            // lead every hit Elasticsearch and OpenSearch write).
                            let id_at = cursor + at;
                            let open = memchr::memrchr(b'{', &tail[cursor..id_at]).map_or(id_at, |i| cursor + i);
                            hit_line = line_no + memchr::memchr_iter(b'\n', &tail[..open]).count() as u64;
                            cursor = id_at + needle.len();
                        }
                    }
                    let mut origin = Origin::line(&file.name, hit_line);
                    if many {
                        origin.record = Some(i as u64 + 1);
                    }
                    batch.record(raw, origin);
                    if !batch.maybe_flush(out) {
                        return false;
                    }
                }
            }
            Err(e) => batch.bad(Origin::line(&file.name, line_no), format!("document {doc_no}: {e}")),
        }
        offset = start + consumed;
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

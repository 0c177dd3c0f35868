//! EVTX through the `evtx` crate: chunks are rendered to JSON in parallel by the crate, and the
//! JSON goes through the same visitor as every other JSON shape.

use std::io::{Read, Seek};
use std::path::Path;

use crossbeam_channel::Sender;
use dnshunt_core::Origin;
use evtx::{EvtxParser, ParserSettings};

use crate::json_visit;
use crate::read::ReadOptions;
use crate::report::{Problem, ProblemKind};
use crate::work::{BatchBuilder, FileCtx, Message};

/// The EVTX file header block and chunk sizes (fixed by the format).
const EVTX_HEADER_BLOCK: u64 = 4096;
const EVTX_CHUNK: u64 = 65536;

pub fn read_path(file: &FileCtx, path: &Path, bytes: u64, options: &ReadOptions, threads: usize, out: &Sender<Message>) -> bool {
    match EvtxParser::from_path(path) {
        Ok(parser) => read(file, parser, bytes, options, threads, out),
        Err(e) => file_error(file, format!("not a readable EVTX file: {e}"), out),
    }
}

pub fn read_bytes(file: &FileCtx, bytes: Vec<u8>, options: &ReadOptions, threads: usize, out: &Sender<Message>) -> bool {
    let len = bytes.len() as u64;
    match EvtxParser::from_buffer(bytes) {
        Ok(parser) => read(file, parser, len, options, threads, out),
        Err(e) => file_error(file, format!("not a readable EVTX file: {e}"), out),
    }
}

fn file_error(file: &FileCtx, error: String, out: &Sender<Message>) -> bool {
    let problem = Problem {
        kind: ProblemKind::File,
        origin: Origin {
            file: file.name.clone(),
            line: None,
            record: None,
            index: None,
            id: None,
        },
        message: error.clone(),
    };
    out.send(Message::FileError { id: file.id, error, problem }).is_ok()
}

fn read<T: Read + Seek>(file: &FileCtx, parser: EvtxParser<T>, bytes: u64, options: &ReadOptions, threads: usize, out: &Sender<Message>) -> bool {
    let settings = ParserSettings::new().num_threads(threads).indent(false).separate_json_attributes(false);
    let mut parser = parser.with_configuration(settings);
    let mut batch = BatchBuilder::new(file, options);
    batch.add_bytes(bytes);
    // A file cut short (a copy that stopped, a carved file) loses whole chunks without the
    // parser noticing: compare what the header declares with what the file holds.
    let declared = u64::from(parser.header().chunk_count);
    let body = bytes.saturating_sub(EVTX_HEADER_BLOCK);
    let (whole, partial) = (body / EVTX_CHUNK, body % EVTX_CHUNK != 0);
    if bytes > 0 && whole < declared {
        let part = if partial { " and part of another" } else { "" };
        batch.bad(
            Origin::record(&file.name, 0),
            format!("EVTX file is truncated: the header declares {declared} chunks of 64 KiB, the file holds {whole}{part}; records in the missing part are lost"),
        );
    }
    for (ordinal, result) in (1u64..).zip(parser.records_json_bytes()) {
        match result {
            Ok(record) => {
                let mut records = Vec::with_capacity(1);
                let origin = Origin::record(&file.name, record.event_record_id);
                match json_visit::parse_document(&record.data, &mut records) {
                    Ok(()) => {
                        for raw in records.drain(..) {
                            batch.record(raw, origin.clone());
                        }
                    }
                    Err(e) => batch.bad(origin, format!("record rendered to invalid JSON: {e}")),
                }
            }
            Err(e) => {
                // The crate's errors name the chunk and offset; the ordinal says how far we got.
                batch.bad(Origin::record(&file.name, ordinal), format!("corrupt EVTX data: {e}"));
            }
        }
        if !batch.maybe_flush(out) {
            return false;
        }
    }
    batch.flush(out)
}

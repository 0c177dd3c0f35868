//! EVTX through the `evtx` crate: chunks are rendered to JSON in parallel by the crate, and the
//! JSON goes through the same visitor as every other JSON shape.
//!
//! Damage is counted in records, not in errors: every chunk header names the first and last
//! record it holds, so a damaged chunk costs exactly the records of that chunk that were not read
//! (the crate may skip several records after one damaged record header, or the whole chunk). A
//! chunk whose header is damaged too says nothing of its records: that is said as "an unknown
//! number" and counted as the errors seen.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crossbeam_channel::Sender;
use dnshunt_core::Origin;
use evtx::err::EvtxError;
use evtx::{EvtxParser, ParserSettings};

use crate::json_visit;
use crate::read::ReadOptions;
use crate::report::{Problem, ProblemKind};
use crate::stream::Seekable;
use crate::work::{BatchBuilder, FileCtx, Message};

/// The EVTX file header block and chunk sizes (fixed by the format).
const EVTX_HEADER_BLOCK: u64 = 4096;
const EVTX_CHUNK: u64 = 65536;
/// More records than fit in a chunk (each takes at least 28 bytes of its 65,024): a header that
/// claims more is damaged.
const MAX_RECORDS_PER_CHUNK: u64 = 65536 / 28;

pub fn read_path(file: &FileCtx, path: &Path, bytes: u64, options: &ReadOptions, threads: usize, out: &Sender<Message>) -> bool {
    let heads = std::fs::File::open(path).map(|mut f| chunk_ranges(&mut f, bytes)).unwrap_or_default();
    match EvtxParser::from_path(path) {
        Ok(parser) => read(file, parser, bytes, &heads, options, threads, out),
        Err(e) => file_error(file, format!("not a readable EVTX file: {e}"), out),
    }
}

/// EVTX from a container or standard input, in memory or in a temporary file.
pub fn read_stream(file: &FileCtx, data: Seekable, options: &ReadOptions, threads: usize, out: &Sender<Message>) -> bool {
    let len = data.len();
    let mut reader = match data.into_reader() {
        Ok(r) => r,
        Err(e) => return file_error(file, format!("cannot read the temporary copy: {e}"), out),
    };
    let heads = chunk_ranges(&mut reader, len);
    if let Err(e) = reader.rewind() {
        return file_error(file, format!("cannot read the temporary copy: {e}"), out);
    }
    match EvtxParser::from_read_seek(reader) {
        Ok(parser) => read(file, parser, len, &heads, options, threads, out),
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
            hit: None,
        },
        message: error.clone(),
    };
    out.send(Message::FileError { id: file.id, error, problem }).is_ok()
}

/// The record ids (first, last) each chunk's header names, by chunk number; `None` for an empty
/// chunk or one whose header is unreadable. The last entry may be a chunk cut short. Also, per
/// chunk, whether its header is blank (all zero: a chunk never written).
fn chunk_ranges<R: Read + Seek>(reader: &mut R, len: u64) -> (Vec<Option<(u64, u64)>>, Vec<bool>) {
    let body = len.saturating_sub(EVTX_HEADER_BLOCK);
    let chunks = body.div_ceil(EVTX_CHUNK);
    let mut ranges = Vec::with_capacity(chunks as usize);
    let mut blank = Vec::with_capacity(chunks as usize);
    let mut header = Vec::with_capacity(128);
    for n in 0..chunks {
        let at = EVTX_HEADER_BLOCK + n * EVTX_CHUNK;
        header.clear();
        let read = reader.seek(SeekFrom::Start(at)).and_then(|_| (&mut *reader).take(128).read_to_end(&mut header));
        let head: Option<&[u8; 40]> = header.get(..40).and_then(|h| h.try_into().ok());
        ranges.push(head.filter(|_| read.is_ok()).and_then(range_of));
        blank.push(read.is_ok() && header.len() >= 40 && header.iter().all(|&b| b == 0));
    }
    (ranges, blank)
}

/// (first, last) record id of a chunk header, when it is one and is plausible.
fn range_of(header: &[u8; 40]) -> Option<(u64, u64)> {
    if !header.starts_with(b"ElfChnk\0") {
        return None;
    }
    let word = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().expect("8 bytes"));
    let (first, last) = (word(24), word(32));
    (first <= last && last - first < MAX_RECORDS_PER_CHUNK).then_some((first, last))
}

/// What was read of one chunk that had errors.
#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
}

type ChunkHeads = (Vec<Option<(u64, u64)>>, Vec<bool>);

fn read<T: Read + Seek>(file: &FileCtx, parser: EvtxParser<T>, bytes: u64, heads: &ChunkHeads, options: &ReadOptions, threads: usize, out: &Sender<Message>) -> bool {
    let (ranges, blank) = (&heads.0[..], &heads.1[..]);
    let settings = ParserSettings::new().num_threads(threads).indent(false).separate_json_attributes(false);
    let mut parser = parser.with_configuration(settings);
    let mut batch = BatchBuilder::new(file, options);
    batch.add_bytes(bytes);
    report_truncation(file, &parser, bytes, ranges, &mut batch);

    let by_range: HashMap<(u64, u64), usize> = ranges.iter().enumerate().filter_map(|(n, r)| r.map(|r| (r, n))).collect();
    let chunk_of_record = |id: u64| ranges.iter().position(|r| r.is_some_and(|(a, b)| (a..=b).contains(&id)));
    // Records read per chunk, and the chunks that had errors.
    let mut ok_per_chunk: HashMap<usize, u64> = HashMap::new();
    let mut damaged: BTreeMap<usize, Tally> = BTreeMap::new();
    let mut unattributed: Vec<String> = Vec::new();
    let mut current: Option<usize> = None;
    let mut last_good_id: u64 = 0;

    let records = parser.serialized_records(|record| {
        record.map(|r| {
            let range = (r.chunk.header.first_event_record_id, r.chunk.header.last_event_record_id);
            let id = r.event_record_id;
            (range, id, r.into_json_bytes().map(|s| s.data).map_err(|e| e.to_string()))
        })
    });
    for result in records {
        match result {
            Ok((range, id, rendered)) => {
                let chunk = by_range.get(&range).copied();
                if chunk.is_some() {
                    current = chunk;
                }
                let origin = Origin::record(&file.name, id);
                match rendered {
                    Ok(data) => {
                        if let Some(n) = chunk {
                            *ok_per_chunk.entry(n).or_default() += 1;
                        }
                        last_good_id = id;
                        let mut records = Vec::with_capacity(1);
                        match json_visit::parse_document(&data, &mut records) {
                            Ok(()) => {
                                for raw in records.drain(..) {
                                    batch.record(raw, origin.clone());
                                }
                            }
                            Err(e) => batch.bad(origin, format!("record rendered to invalid JSON: {e}")),
                        }
                    }
                    Err(e) => match chunk {
                        Some(n) => note(&mut damaged, n, format!("record {id} cannot be rendered: {e}")),
                        None => batch.bad(origin, format!("corrupt EVTX record: {e}")),
                    },
                }
            }
            Err(e) => {
                let chunk = match &e {
                    EvtxError::FailedToParseChunk { chunk_id, .. } => Some(*chunk_id as usize),
                    EvtxError::FailedToReadRecordAt { chunk: Some(n), .. } => Some(*n as usize),
                    EvtxError::FailedToParseRecord { record_id, .. } => chunk_of_record(*record_id).or(current),
                    _ => current,
                };
                let message = describe(&e);
                match chunk {
                    Some(n) => {
                        current = Some(n);
                        note(&mut damaged, n, message);
                    }
                    None => unattributed.push(message),
                }
            }
        }
        if !batch.maybe_flush(out) {
            return false;
        }
    }

    for (n, mut tally) in damaged {
        tally.ok = ok_per_chunk.get(&n).copied().unwrap_or(0);
        let offset = EVTX_HEADER_BLOCK + n as u64 * EVTX_CHUNK;
        let error = tally.first_error.unwrap_or_default();
        match ranges.get(n).copied().flatten() {
            Some((first, last)) => {
                let held = last - first + 1;
                let lost = held.saturating_sub(tally.ok).max(tally.errors);
                batch.lost(
                    Origin::record(&file.name, first),
                    format!("EVTX chunk {n} (file offset {offset:#x}) is damaged ({error}): {lost} of the {held} records it holds (record ids {first}-{last}) are lost"),
                    lost,
                );
            }
            None => match between_neighbours(ranges, n) {
                // The chunks before and after it name the record ids that are missing.
                Some((first, last)) => {
                    let lost = (last - first + 1).saturating_sub(tally.ok).max(tally.errors);
                    batch.lost(
                        Origin::record(&file.name, first),
                        format!(
                            "EVTX chunk {n} (file offset {offset:#x}) is damaged ({error}) and so is its header: {lost} records are lost (record ids {first}-{last}, the ids between the chunks before and after it)"
                        ),
                        lost,
                    );
                }
                // A chunk never written (blank header) with damage in it held no records.
                None if blank.get(n).copied().unwrap_or(false) => {}
                None => batch.lost(
                    Origin::record(&file.name, last_good_id + 1),
                    format!(
                        "EVTX chunk {n} (file offset {offset:#x}) is damaged ({error}) and so is its header: an unknown number of records are lost (counted as the {} errors seen)",
                        tally.errors
                    ),
                    tally.errors,
                ),
            },
        }
    }
    for message in unattributed {
        batch.bad(Origin::record(&file.name, last_good_id + 1), format!("corrupt EVTX data: {message}"));
    }
    batch.flush(out)
}

/// The record ids a chunk with an unreadable header held, from its neighbours: the ids after
/// the last of the chunk before it and before the first of the chunk after it (when both are
/// known and leave a plausible gap; a log that wrapped around may not).
fn between_neighbours(ranges: &[Option<(u64, u64)>], n: usize) -> Option<(u64, u64)> {
    let (_, before) = ranges.get(n.checked_sub(1)?).copied().flatten()?;
    let (after, _) = ranges.get(n + 1).copied().flatten()?;
    (after > before + 1 && after - before - 1 <= MAX_RECORDS_PER_CHUNK).then(|| (before + 1, after - 1))
}

fn note(damaged: &mut BTreeMap<usize, Tally>, chunk: usize, message: String) {
    let tally = damaged.entry(chunk).or_default();
    tally.errors += 1;
    tally.first_error.get_or_insert(message);
}

/// The error with its causes (the crate's top-level messages say little on their own).
fn describe(e: &EvtxError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A file cut short (a copy that stopped, a carved file) loses whole chunks without the parser
/// noticing: compare what the header declares with what the file holds. The records of a chunk
/// cut in the middle are counted from its header; chunks missing altogether hold an unknown
/// number.
fn report_truncation<T: Read + Seek>(file: &FileCtx, parser: &EvtxParser<T>, bytes: u64, ranges: &[Option<(u64, u64)>], batch: &mut BatchBuilder<'_>) {
    let declared = u64::from(parser.header().chunk_count);
    let body = bytes.saturating_sub(EVTX_HEADER_BLOCK);
    let (whole, partial) = (body / EVTX_CHUNK, body % EVTX_CHUNK != 0);
    if bytes == 0 || whole >= declared {
        return;
    }
    let cut = if partial { ranges.get(whole as usize).copied().flatten() } else { None };
    let missing = declared - whole - u64::from(cut.is_some());
    let part = if partial { " and part of another" } else { "" };
    let head = format!("EVTX file is truncated: the header declares {declared} chunks of 64 KiB, the file holds {whole}{part}");
    match cut {
        Some((first, last)) => {
            let held = last - first + 1;
            let more = if missing > 0 {
                format!(", and an unknown number more in the {missing} chunks missing altogether")
            } else {
                String::new()
            };
            batch.lost(
                Origin::record(&file.name, first),
                format!("{head}; the {held} records of the cut chunk (record ids {first}-{last}) are lost{more}"),
                held,
            );
        }
        None => batch.bad(
            Origin::record(&file.name, 0),
            format!("{head}; an unknown number of records in the missing part are lost (counted as 1)"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(first: u64, last: u64) -> [u8; 40] {
        let mut h = [0u8; 40];
        h[..8].copy_from_slice(b"ElfChnk\0");
        h[24..32].copy_from_slice(&first.to_le_bytes());
        h[32..40].copy_from_slice(&last.to_le_bytes());
        h
    }

    #[test]
    fn chunk_headers_give_their_record_range_when_plausible() {
        assert_eq!(range_of(&header(100, 199)), Some((100, 199)));
        assert_eq!(range_of(&header(200, 100)), None, "reversed");
        assert_eq!(range_of(&header(1, 1 << 40)), None, "more records than fit");
        let mut bad_magic = header(1, 2);
        bad_magic[0] = b'X';
        assert_eq!(range_of(&bad_magic), None);
    }

    #[test]
    fn chunk_ranges_cover_every_chunk_and_the_cut_one() {
        let mut file = vec![0u8; (EVTX_HEADER_BLOCK + 2 * EVTX_CHUNK + 100) as usize];
        let at = |n: u64| (EVTX_HEADER_BLOCK + n * EVTX_CHUNK) as usize;
        file[at(0)..at(0) + 40].copy_from_slice(&header(1, 50));
        file[at(2)..at(2) + 40].copy_from_slice(&header(101, 140));
        let (ranges, blank) = chunk_ranges(&mut std::io::Cursor::new(&file), file.len() as u64);
        assert_eq!(ranges, [Some((1, 50)), None, Some((101, 140))]);
        assert_eq!(blank, [false, true, false]);
        assert_eq!(between_neighbours(&ranges, 1), Some((51, 100)));
        assert_eq!(between_neighbours(&ranges, 0), None);
        assert_eq!(between_neighbours(&[Some((500, 600)), None, Some((1, 50))], 1), None, "wrapped around");
    }
}

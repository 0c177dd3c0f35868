//! Bad input is never fatal and never silent: every file of `fixtures/bad/` gives the good and
//! bad counts and the line numbers `fixtures/README.md` documents; truncated archives, binary
//! garbage and corrupt EVTX are counted, never a panic; `--strict` turns problems into exit 3.

mod common;

use std::io::Write;
use std::path::PathBuf;

use common::{events, fixture, shared_data_or_skip, Counts, Rng, Run, TempDir};

fn bad(name: &str) -> PathBuf {
    fixture(&format!("bad/{name}"))
}

fn names(run: &Run) -> Vec<String> {
    run.json_lines().iter().map(|e| e["query"]["name"].as_str().unwrap_or("<none>").to_owned()).collect()
}

fn event_lines(run: &Run) -> Vec<u64> {
    run.json_lines().iter().map(|e| e["origin"]["line"].as_u64().expect("origin.line")).collect()
}

fn dns(n: u64, bad_records: u64) -> Counts {
    Counts {
        dns_query: n,
        bad_records,
        ..Counts::default()
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn truncated_and_garbage_lines_are_counted_and_reading_goes_on() {
    let run = events(&[bad("truncated_and_garbage.ndjson")], &[]);
    run.assert_exit(0);
    let read = run.read();
    assert_eq!(read.totals, dns(5, 4));
    assert_eq!(read.example_lines("bad_record"), [2, 4, 7, 9], "line 5 is empty: skipped, not counted");
    assert!(read.examples.iter().all(|p| p.file().ends_with("truncated_and_garbage.ndjson")));
    assert!(read.examples.iter().all(|p| !p.message.is_empty()));
    assert_eq!(
        names(&run),
        ["good1.example.org", "good2.example.org", "good3.example.org", "good4.example.org", "good5.example.org"]
    );
    assert_eq!(event_lines(&run), [1, 3, 6, 8, 10]);
    // The stderr summary names the problems too.
    assert!(run.stderr.contains("4 bad records"), "{}", run.stderr);
}

#[test]
fn wrong_field_types_are_read_by_meaning() {
    let run = events(&[bad("wrong_types.ndjson")], &[]);
    run.assert_exit(0);
    let by_line = |line: u64| {
        run.json_lines()
            .into_iter()
            .find(|e| e["origin"]["line"] == line)
            .unwrap_or_else(|| panic!("no event from line {line}"))
    };
    // Line 1: ProcessId and QueryStatus as numbers; line 2: the same as strings.
    for line in [1, 2] {
        let e = by_line(line);
        assert_eq!(e["process"]["pid"], 7312, "line {line}");
        assert_eq!(e["status"]["code"], 0, "line {line}");
        assert_eq!(e["status"]["name"], "SUCCESS", "line {line}");
    }
    // Line 3: EventID the string "22", QueryStatus the number 9003.
    let e = by_line(3);
    assert_eq!(e["event_type"], "dns_query");
    assert_eq!(e["status"], serde_json::json!({"code": 9003, "name": "DNS_ERROR_RCODE_NAME_ERROR"}));
    assert_eq!(e["answers"], serde_json::json!([]), "QueryResults `-` is no answer");
    // Line 5: Image is an object: the event is kept, the image is unknown.
    let e = by_line(5);
    assert_eq!(e["query"]["name"], "types5.example.org");
    assert!(e["process"]["image"].is_null(), "{e}");
    assert_eq!(e["process"]["pid"], 7312);
}

#[test]
fn wrong_types_counts_as_documented() {
    let run = events(&[bad("wrong_types.ndjson")], &[]);
    run.assert_exit(0);
    let read = run.read();
    assert_eq!((read.totals.dns_query, read.totals.bad_records), (4, 1), "{:?}", read.examples);
    assert_eq!(event_lines(&run), [1, 2, 3, 5]);
    let bad = read.examples.iter().find(|p| p.kind == "bad_record").expect("a bad-record example");
    assert_eq!(bad.origin["line"], 4);
    assert!(bad.message.contains("QueryName"), "{}", bad.message);
}

#[test]
fn a_huge_line_hides_nothing_after_it() {
    let run = events(&[bad("huge_line.ndjson")], &[]);
    run.assert_exit(0);
    let names = names(&run);
    assert!(names.contains(&"before-huge.example.org".to_owned()), "{:?}", &names);
    assert!(names.contains(&"after-huge.example.org".to_owned()), "line 3 is read");
    let lines = event_lines(&run);
    assert_eq!(lines.first(), Some(&1));
    assert_eq!(lines.last(), Some(&3), "line numbers stay right after the huge line");
}

#[test]
fn a_huge_line_counts_as_documented() {
    let run = events(&[bad("huge_line.ndjson")], &[]);
    run.assert_exit(0);
    let read = run.read();
    assert_eq!(read.totals, dns(2, 1));
    assert_eq!(read.example_lines("bad_record"), [2]);
    assert_eq!(names(&run), ["before-huge.example.org", "after-huge.example.org"]);
}

#[test]
fn broken_xml_resynchronises_at_the_next_event() {
    let run = events(&[bad("broken.xml")], &[]);
    run.assert_exit(0);
    let read = run.read();
    assert_eq!(read.totals, dns(2, 1));
    assert_eq!(read.example_lines("bad_record"), [2]);
    assert_eq!(names(&run), ["www.youtube.com", "hoge.example.com"]);
    assert_eq!(event_lines(&run), [1, 3]);
    let records: Vec<u64> = run.json_lines().iter().map(|e| e["record_id"].as_u64().unwrap()).collect();
    assert_eq!(records, [41211, 47815]);
}

#[test]
fn events_of_other_channels_are_skipped_not_bad() {
    let run = events(&[bad("not_sysmon.ndjson")], &[]);
    run.assert_exit(0);
    let read = run.read();
    assert_eq!(
        read.totals,
        Counts {
            not_sysmon: 3,
            ..Counts::default()
        },
        "the decoy QueryName must not make a logon a DNS query"
    );
    assert!(read.examples.is_empty());
    assert!(run.json_lines().is_empty());
}

#[test]
fn strict_exits_3_on_bad_records_and_0_without() {
    for name in ["truncated_and_garbage.ndjson", "broken.xml"] {
        let run = events(&[bad(name)], &["--strict"]);
        run.assert_exit(3);
        // Even a failing strict run prints what it could read.
        assert!(!run.json_lines().is_empty(), "{name}");
        assert!(run.read().totals.bad_records > 0);
    }
    for path in [fixture("seed/flat.ndjson"), bad("not_sysmon.ndjson")] {
        events(&[&path], &["--strict"]).assert_exit(0);
    }
    // Without --strict the same bad input succeeds.
    events(&[bad("truncated_and_garbage.ndjson")], &[]).assert_exit(0);
    // And hunt follows the same rule.
    let run = common::hunt(&[bad("truncated_and_garbage.ndjson")], &["--strict", "--format", "jsonl"]);
    run.assert_exit(3);
}

/// Seed lines repeated until the text is at least `min_len` bytes, each copy's times shifted so
/// the lines are not identical.
fn big_ndjson(min_len: usize) -> Vec<u8> {
    let seed = std::fs::read_to_string(fixture("seed/flat.ndjson")).unwrap();
    let mut out = String::new();
    let mut copies = 0u64;
    while out.len() < min_len {
        out.push_str(&seed.replace("2019-06-2", &format!("2019-0{}-2", 1 + copies % 6)));
        copies += 1;
    }
    out.into_bytes()
}

#[test]
fn a_small_truncated_gzip_is_reported_not_fatal() {
    let dir = TempDir::new("truncgz-small");
    let packed = gzip(&std::fs::read(fixture("seed/ecs.ndjson")).unwrap());
    let path = dir.write("cut.ndjson.gz", &packed[..packed.len() / 2]);
    let run = events(&[&path, &fixture("seed/flat.ndjson")], &[]);
    run.assert_exit(0);
    let read = run.read();
    assert!(read.file_errors + read.totals.bad_records > 0, "{read:?}");
    assert!(read.examples.iter().any(|p| p.file().ends_with("cut.ndjson.gz")));
    assert_eq!(read.file("flat.ndjson").counts, Counts::seed(), "the next file is read");
    events(&[&path], &["--strict", "-q"]).assert_exit(3);
}

/// The number of complete lines a decompressor gets out of a truncated gzip stream.
fn complete_lines_before_the_cut(truncated: &[u8]) -> u64 {
    use std::io::Read;
    let mut decoder = flate2::read::GzDecoder::new(truncated);
    let mut text = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match decoder.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
        }
    }
    text.iter().filter(|&&b| b == b'\n').count() as u64
}

#[test]
fn a_truncated_gzip_keeps_what_came_before_the_cut() {
    let dir = TempDir::new("truncgz");
    let seed = std::fs::read(fixture("seed/ecs.ndjson")).unwrap();
    for (name, text, cut_in_the_middle) in [("mid.ndjson.gz", big_ndjson(2 << 20), true), ("no-trailer.ndjson.gz", seed, false)] {
        let packed = gzip(&text);
        // `no-trailer` lacks only the CRC32 and length: every compressed byte is there.
        let cut = if cut_in_the_middle { packed.len() / 2 } else { packed.len() - 8 };
        let truncated = &packed[..cut];
        let path = dir.write(name, truncated);
        let run = events(&[&path], &[]);
        run.assert_exit(0);
        let read = run.read();
        let records = read.totals.events() + read.totals.other_sysmon.values().sum::<u64>() + read.totals.bad_records;
        let available = complete_lines_before_the_cut(truncated);
        assert!(available > 0);
        assert!(
            records >= available,
            "{name}: {available} complete lines were decompressed, {records} records read: {read:?}"
        );
        assert!(read.file_errors + read.totals.bad_records > 0, "{name}: the truncation is reported");
    }
}

#[test]
fn binary_garbage_never_panics() {
    let dir = TempDir::new("garbage");
    let mut rng = Rng::new(0x5eed_0d45);
    let mut paths = Vec::new();
    for name in ["garbage.json", "garbage.evtx", "garbage.xml", "garbage.ndjson.gz", "garbage.zip", "garbage.bin"] {
        let mut bytes = rng.bytes(3 << 20);
        // Give the archive names the magic bytes so the archive readers meet the garbage.
        if name.ends_with(".gz") {
            bytes[..3].copy_from_slice(&[0x1f, 0x8b, 0x08]);
        } else if name.ends_with(".zip") {
            bytes[..4].copy_from_slice(b"PK\x03\x04");
        }
        paths.push(dir.write(name, &bytes));
    }
    // Garbage after a good line: the JSON-lines reader must count line after line of it.
    let mut mixed = std::fs::read(fixture("seed/flat.ndjson")).unwrap().split(|&b| b == b'\n').next().unwrap().to_vec();
    mixed.push(b'\n');
    mixed.extend(rng.bytes(1 << 20));
    paths.push(dir.write("mixed.ndjson", &mixed));

    for path in &paths {
        let run = events(&[path], &[]);
        run.assert_exit(0);
        let read = run.read();
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(read.file_errors + read.totals.bad_records > 0, "{name}: garbage must be reported: {read:?}");
        assert!(!read.examples.is_empty(), "{name}: an example problem names it");
        if name == "mixed.ndjson" {
            assert_eq!(read.totals.process_create, 1, "the good first line is kept");
            assert!(read.totals.bad_records > 100, "each garbage line counts: {}", read.totals.bad_records);
            assert!(read.examples.iter().filter(|p| p.kind == "bad_record").count() <= 10, "only the first examples are kept");
        } else {
            assert_eq!(read.totals.events(), 0, "{name}");
        }
    }
    // All at once, through a directory walk, with one strict run.
    events(&[dir.path()], &["--strict", "-q"]).assert_exit(3);
}

#[test]
fn a_corrupt_evtx_is_counted_never_a_panic() {
    let dir = TempDir::new("evtx");
    let mut rng = Rng::new(22);
    let mut header_and_garbage = b"ElfFile\0".to_vec();
    header_and_garbage.extend(rng.bytes(300_000));
    // A file header followed by chunk headers and garbage records.
    let mut chunks = b"ElfFile\0".to_vec();
    chunks.extend(rng.bytes(4096 - 8));
    for _ in 0..3 {
        chunks.extend_from_slice(b"ElfChnk\0");
        chunks.extend(rng.bytes(65536 - 8));
    }
    let empty_header = b"ElfFile\0".to_vec();
    for (name, bytes) in [("garbage.evtx", header_and_garbage), ("chunks.evtx", chunks), ("header-only.evtx", empty_header)] {
        let path = dir.write(name, &bytes);
        let run = events(&[&path], &[]);
        run.assert_exit(0);
        let read = run.read();
        assert_eq!(read.totals.events(), 0, "{name}");
        assert!(read.file_errors + read.totals.bad_records > 0, "{name}: must be reported: {read:?}");
        // Also as hunt, which feeds the detectors.
        common::hunt(&[&path], &["--format", "jsonl"]).assert_exit(0);
    }
}

/// A real EVTX from the shared data, damaged at test time (never copied into the repository).
fn real_evtx(test: &str) -> Option<Vec<u8>> {
    let data = shared_data_or_skip(test)?;
    Some(std::fs::read(data.join("evtx-attack-samples/PanacheSysmon_vs_AtomicRedTeam01.evtx")).expect("shared EVTX file"))
}

const EVTX_HEADER: usize = 4096;
const EVTX_CHUNK: usize = 65536;

#[test]
fn a_damaged_chunk_of_a_real_evtx_costs_only_that_chunk() {
    let Some(original) = real_evtx("a_damaged_chunk_of_a_real_evtx_costs_only_that_chunk") else {
        return;
    };
    let dir = TempDir::new("evtx-real");
    let mut damaged = original.clone();
    let mut rng = Rng::new(3);
    // Overwrite records in the middle of chunk 2 (the chunk header stays intact).
    let at = EVTX_HEADER + 2 * EVTX_CHUNK + 512;
    damaged[at..at + 2000].copy_from_slice(&rng.bytes(2000));
    let path = dir.write("damaged.evtx", &damaged);
    let run = events(&[&path], &[]);
    run.assert_exit(0);
    let read = run.read();
    assert!(read.totals.bad_records > 0, "{read:?}");
    let bad = read.examples.iter().find(|p| p.kind == "bad_record").expect("an example");
    assert!(bad.origin["record"].is_u64(), "EVTX problems carry a record number: {:?}", bad.origin);
    // Most of the file is still read (511 EID 1 in the whole file).
    assert!(read.totals.process_create > 400, "{read:?}");
    events(&[&path], &["--strict", "-q"]).assert_exit(3);
}

#[test]
fn a_truncated_real_evtx_is_reported() {
    let Some(original) = real_evtx("a_truncated_real_evtx_is_reported") else { return };
    let dir = TempDir::new("evtx-cut");
    let path = dir.write("cut.evtx", &original[..EVTX_HEADER + 2 * EVTX_CHUNK + 30_000]);
    let run = events(&[&path], &[]);
    run.assert_exit(0);
    let read = run.read();
    assert!(read.totals.process_create > 0, "the whole chunks are read");
    assert!(read.file_errors + read.totals.bad_records > 0, "the cut is reported: {read:?}");
}

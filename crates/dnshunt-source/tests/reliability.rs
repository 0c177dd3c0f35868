//! Damage costs only the damaged part, memory stays bounded, nothing blocks (issue #16).
//!
//! Damaged inputs are made here from the hand-written seed fixtures (and, for EVTX, from the
//! shared data, which is never copied into the repository): every test reads them through the
//! library as the binary does and checks both the good and the lost counts.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dnshunt_core::Event;
use dnshunt_source::{Counts, Input, InputFormat, Limits, Message, Problem, ProblemKind, ReadOptions};

// ---------------------------------------------------------------------------------------------
// Helpers

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn seed(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("fixtures/seed").join(name)).expect("seed fixture")
}

/// The shared third-party data beside the repository, or `None` (the test is skipped) when it
/// is missing; on CI (`CI` set) missing data is a failure.
fn shared_data(test: &str) -> Option<PathBuf> {
    let dir = repo().join("../shared/data");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(std::env::var_os("CI").is_none(), "{test}: shared test data missing at {} (CI is set)", dir.display());
    println!("skipped: {test}: shared test data missing at {}", dir.display());
    None
}

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("dnshunt-rel-{}-{label}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Scratch(path)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one read gave: totals, per-file counts and errors, every problem, every event.
#[derive(Debug, Default)]
struct Outcome {
    totals: Counts,
    files: BTreeMap<u32, (String, Counts, Option<String>)>,
    problems: Vec<Problem>,
    events: Vec<Event>,
}

impl Outcome {
    fn file(&self, suffix: &str) -> &(String, Counts, Option<String>) {
        let found: Vec<_> = self.files.values().filter(|f| f.0.ends_with(suffix)).collect();
        assert_eq!(found.len(), 1, "one file *{suffix} in {:?}", self.files);
        found[0]
    }

    fn file_errors(&self) -> Vec<&Problem> {
        self.problems.iter().filter(|p| p.kind == ProblemKind::File).collect()
    }

    fn bad(&self) -> Vec<&Problem> {
        self.problems.iter().filter(|p| p.kind == ProblemKind::BadRecord).collect()
    }

    /// Every record looked at (events, other Sysmon, not Sysmon, bad).
    fn records(&self) -> u64 {
        self.totals.records()
    }
}

fn read_with(inputs: Vec<Input>, options: ReadOptions) -> Outcome {
    // Reading must never block: a test that would hang fails instead.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (rx, handle) = dnshunt_source::spawn(inputs, options);
        let mut out = Outcome::default();
        for msg in rx {
            match msg {
                Message::FileStart { id, name, .. } => {
                    out.files.insert(id, (name, Counts::default(), None));
                }
                Message::Batch { id, events, counts, problems, .. } => {
                    out.totals.add(&counts);
                    out.files.entry(id).or_default().1.add(&counts);
                    out.problems.extend(problems);
                    out.events.extend(events);
                }
                Message::Skipped { id, problem } => {
                    out.totals.bad_records += 1;
                    out.files.entry(id).or_default().1.bad_records += 1;
                    out.problems.push(problem);
                }
                Message::Ignored { .. } => {}
                Message::FileError { id, error, problem } => {
                    out.files.entry(id).or_default().2 = Some(error);
                    out.problems.push(problem);
                }
            }
        }
        handle.join().expect("no reader thread panicked");
        let _ = done_tx.send(out);
    });
    done_rx.recv_timeout(Duration::from_secs(120)).expect("reading finished (it must never block)")
}

fn read(paths: &[&Path]) -> Outcome {
    read_opts(paths, ReadOptions::default())
}

fn read_opts(paths: &[&Path], options: ReadOptions) -> Outcome {
    read_with(paths.iter().map(|p| Input::Path(p.to_path_buf())).collect(), options)
}

fn seed_counts() -> Counts {
    let mut c = Counts {
        dns_query: 7,
        process_create: 2,
        network_connect: 3,
        process_terminate: 1,
        ..Counts::default()
    };
    c.other_sysmon.insert(7, 1);
    c
}

fn times(counts: &Counts, n: u64) -> Counts {
    let mut c = counts.clone();
    c.dns_query *= n;
    c.process_create *= n;
    c.network_connect *= n;
    c.process_terminate *= n;
    for v in c.other_sysmon.values_mut() {
        *v *= n;
    }
    c
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in members {
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        writer.start_file(*name, options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// The seed events as one pretty JSON array, `copies` times over (times shifted per copy).
fn json_array(copies: usize) -> Vec<u8> {
    let text = String::from_utf8(seed("flat.ndjson")).unwrap();
    let mut items = Vec::new();
    for copy in 0..copies {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let pretty = serde_json::to_string_pretty(&value).unwrap().replace("2019-06-2", &format!("2019-0{}-2", 1 + copy % 6));
            items.push(pretty.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n"));
        }
    }
    format!("[\n{}\n]\n", items.join(",\n")).into_bytes()
}

// ---------------------------------------------------------------------------------------------
// 2. Damage costs only the damaged part

#[test]
fn a_json_array_truncated_at_95_percent_keeps_every_complete_event() {
    let dir = Scratch::new("array");
    let whole = json_array(64);
    let cut = &whole[..whole.len() * 95 / 100];
    // The events wholly before the cut: the elements closed by `  },` / the last `  }`.
    let complete = String::from_utf8_lossy(cut).matches("\n  },").count() as u64;
    assert!(complete > 800, "{complete}");
    let path = dir.write("cut.json", cut);
    let out = read(&[&path]);
    assert_eq!(out.records(), complete + 1, "every complete event is read, the cut one is one bad record");
    assert_eq!(out.totals.bad_records, 1);
    assert!(out.bad()[0].message.contains("truncated"), "{}", out.bad()[0].message);
    // The document does not close: said as a file problem (records after the cut are missing).
    assert_eq!(out.file_errors().len(), 1);
    assert!(out.file_errors()[0].message.contains("cut short"));

    // Whole, the same array gives everything and says nothing.
    let path = dir.write("whole.json", &whole);
    let out = read(&[&path]);
    assert_eq!(out.totals, times(&seed_counts(), 64));
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    // Each event points at its own line (where its element opens) and element.
    let text = String::from_utf8(whole).unwrap();
    let opening: Vec<u64> = text.lines().enumerate().filter(|(_, l)| *l == "  {").map(|(i, _)| i as u64 + 1).collect();
    let first_event = out.events.iter().find(|e| e.origin.record == Some(1)).unwrap();
    assert_eq!(first_event.origin.line, Some(opening[0]));
    let mut lines: Vec<u64> = out.events.iter().map(|e| e.origin.line.unwrap()).collect();
    lines.sort_unstable();
    lines.dedup();
    assert_eq!(lines.len(), out.events.len(), "each event has its own line");
    assert!(lines.iter().all(|l| opening.binary_search(l).is_ok()), "each line opens an element");
}

#[test]
fn a_stray_quote_in_one_element_costs_that_element_only() {
    let dir = Scratch::new("quote");
    let whole = String::from_utf8(json_array(4)).unwrap();
    // Remove the opening quote of one value in the 20th element.
    let at = whole.match_indices("\"QueryName\": \"").nth(10).unwrap().0 + "\"QueryName\": ".len();
    let mut damaged = whole.clone();
    damaged.remove(at);
    let path = dir.write("quote.json", damaged.as_bytes());
    let out = read(&[&path]);
    assert_eq!(out.totals.bad_records, 1, "{:?}", out.bad());
    assert_eq!(out.records(), 4 * 14, "the other 55 records are read");
    assert!(out.file_errors().is_empty());
}

#[test]
fn a_search_response_with_an_invalid_byte_loses_nothing() {
    let dir = Scratch::new("es");
    let response = seed("es_response.json");
    // A cp1252 byte inside the first hit's executable: decoded with U+FFFD, one warning.
    let text = String::from_utf8(response.clone()).unwrap();
    let at = text.find("\"executable\" : \"").unwrap() + "\"executable\" : \"".len() + 1;
    let mut invalid = response.clone();
    invalid.insert(at, 0xe9);
    let path = dir.write("invalid_byte.json", &invalid);
    let out = read(&[&path]);
    assert_eq!(out.totals.warnings, 1);
    let mut want = seed_counts();
    want.warnings = 1;
    assert_eq!(out.totals, want);
    let warning = out.problems.iter().find(|p| p.kind == ProblemKind::Warning).unwrap();
    assert!(warning.message.contains("not UTF-8"), "{}", warning.message);
    assert!(warning.origin.line.is_some());
    assert!(out.events.iter().any(|e| format!("{:?}", e.kind).contains('\u{fffd}')));

    // A byte that breaks the structure (a brace gone) costs its hit only.
    let hit = text.match_indices("\"_index\" :").nth(5).unwrap().0;
    let open = text[..hit].rfind('{').unwrap();
    let mut broken = response.clone();
    broken[open] = b' ';
    let path = dir.write("broken_hit.json", &broken);
    let out = read(&[&path]);
    assert_eq!(out.totals.bad_records, 1, "{:?}", out.problems);
    assert_eq!(out.records(), 14, "13 hits read, one lost: {:?}", out.totals);
}

#[test]
fn a_cp1252_byte_in_sysmon_xml_costs_a_warning_not_the_file() {
    let dir = Scratch::new("xml");
    for name in ["wevtutil.xml", "get_winevent.xml"] {
        let mut bytes = seed(name);
        let at = memchr_find(&bytes, b"analyst").expect("a user name") + 2;
        bytes[at] = 0xe9; // `é` in Windows-1252
        let path = dir.write(name, &bytes);
        let out = read(&[&path]);
        let mut want = seed_counts();
        want.warnings = out.totals.warnings;
        assert!(want.warnings >= 1, "{name}");
        assert_eq!(out.totals, want, "{name}: every event is read");
        assert!(out.problems.iter().all(|p| p.kind == ProblemKind::Warning), "{name}: {:?}", out.problems);
    }
    // The same byte in a JSON line.
    let mut lines = seed("winlogbeat6.ndjson");
    let at = memchr_find(&lines, b"powershell").unwrap() + 1;
    lines[at] = 0xe9;
    let path = dir.write("cp1252.ndjson", &lines);
    let out = read(&[&path]);
    let mut want = seed_counts();
    want.warnings = 1;
    assert_eq!(out.totals, want);
}

#[test]
fn raw_control_characters_in_json_strings_cost_a_warning_not_the_record() {
    let dir = Scratch::new("controls");
    // A tab and a carriage return written raw inside a string (JSON wants them escaped), in a
    // JSON line and in a pretty document; and the same line with one escaped properly.
    let mut lines = seed("winlogbeat6.ndjson");
    let at = memchr_find(&lines, b"powershell").unwrap() + 1;
    lines.splice(at..at, [b'\t', b'\r']);
    let path = dir.write("controls.ndjson", &lines);
    let out = read(&[&path]);
    let mut want = seed_counts();
    want.warnings = 1;
    assert_eq!(out.totals, want, "{:?}", out.problems);
    let warning = out.problems.iter().find(|p| p.kind == ProblemKind::Warning).unwrap();
    assert!(warning.message.starts_with("2 raw control characters inside strings"), "{}", warning.message);
    assert!(warning.origin.line.is_some());
    assert!(
        out.events.iter().any(|e| format!("{:?}", e.kind).contains("p\\t\\rowershell")),
        "the characters are kept, as text"
    );

    let mut doc = seed("es_response.json");
    let at = memchr_find(&doc, b"\"executable\" : \"").unwrap() + 17;
    doc.insert(at, 0x01);
    let path = dir.write("controls.json", &doc);
    let out = read(&[&path]);
    let mut want = seed_counts();
    want.warnings = 1;
    assert_eq!(out.totals, want, "{:?}", out.problems);

    // Outside a string a control character is an error either way: still one bad record.
    let mut outside = seed("winlogbeat6.ndjson");
    let at = memchr_find(&outside, b"{").unwrap() + 1;
    outside.insert(at, 0x01);
    let path = dir.write("outside.ndjson", &outside);
    let out = read(&[&path]);
    assert_eq!(out.totals.bad_records, 1, "{:?}", out.problems);
    assert_eq!(out.totals.warnings, 0);
}

#[test]
fn broken_xml_costs_only_the_broken_events() {
    let dir = Scratch::new("xmlcut");
    let bytes = seed("wevtutil.xml");
    // Cut in the middle of the last event, and an opening tag damaged in the third.
    let mut damaged = bytes[..bytes.len() - 200].to_vec();
    let third = damaged.windows(7).enumerate().filter(|(_, w)| *w == b"<Event ").nth(2).unwrap().0;
    damaged[third + 3] = b'x';
    let path = dir.write("damaged.xml", &damaged);
    let out = read(&[&path]);
    assert_eq!(out.totals.bad_records, 2, "{:?}", out.bad());
    assert_eq!(out.records(), 14);
    let messages: Vec<&str> = out.bad().iter().map(|p| p.message.as_str()).collect();
    assert!(messages.iter().any(|m| m.contains("truncated")), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("opening tag is damaged")), "{messages:?}");
}

#[test]
fn an_oversized_document_element_is_skipped_and_the_rest_read() {
    let dir = Scratch::new("oversized");
    let whole = String::from_utf8(json_array(2)).unwrap();
    let huge = format!("  {{\"EventID\": 22, \"QueryName\": \"{}\"}},\n", "a".repeat(3 << 20));
    let text = whole.replacen("[\n", &format!("[\n{huge}"), 1);
    let path = dir.write("oversized.json", text.as_bytes());
    let options = ReadOptions {
        limits: Limits {
            max_record: 1 << 20,
            ..Limits::default()
        },
        ..ReadOptions::default()
    };
    let out = read_opts(&[&path], options);
    assert_eq!(out.totals.bad_records, 1);
    assert!(out.bad()[0].message.contains("larger than 1048576 bytes"), "{}", out.bad()[0].message);
    assert_eq!(out.records(), 2 * 14 + 1);
}

// ---------------------------------------------------------------------------------------------
// 3. Bounded memory: decompression bombs, nesting, streams needing random access

fn small_ratio() -> ReadOptions {
    ReadOptions {
        limits: Limits {
            ratio_floor: 4 << 20,
            ..Limits::default()
        },
        ..ReadOptions::default()
    }
}

/// `head` then `n` bytes of `fill`, gzip-compressed as it is made (never held whole).
fn gzip_bomb(head: &[u8], fill: u8, n: usize) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(head).unwrap();
    let block = vec![fill; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(block.len());
        encoder.write_all(&block[..k]).unwrap();
        left -= k;
    }
    encoder.finish().unwrap()
}

#[test]
fn a_gzip_bomb_is_refused_with_its_name_and_the_next_input_is_read() {
    let dir = Scratch::new("bomb");
    // A JSON document that never ends, 64 MiB of it from 64 KiB.
    let bomb = dir.write("bomb.json.gz", &gzip_bomb(b"[{\"EventID\": 22, \"QueryName\": \"", b'a', 64 << 20));
    let next = dir.write("flat.ndjson", &seed("flat.ndjson"));
    let out = read_opts(&[&bomb, &next], small_ratio());
    let (_, _, error) = out.file("bomb.json.gz");
    let error = error.as_deref().expect("the bomb is a file problem");
    assert!(error.contains("decompression bomb refused"), "{error}");
    assert!(error.contains("100 times"), "{error}");
    assert_eq!(out.file("flat.ndjson").1, seed_counts(), "the next input is read");
    assert!(out.file_errors().iter().any(|p| p.origin.file.ends_with("bomb.json.gz")));

    // The same as EVTX and as XML (the formats that were held whole).
    for (name, head) in [("bomb.evtx.gz", &b"ElfFile\0"[..]), ("bomb.xml.gz", &b"<Events><Event><x>"[..])] {
        let path = dir.write(name, &gzip_bomb(head, 0, 64 << 20));
        let out = read_opts(&[&path], small_ratio());
        let problems: Vec<&str> = out.file_errors().iter().map(|p| p.message.as_str()).collect();
        assert!(problems.iter().any(|m| m.contains("decompression bomb refused")), "{name}: {problems:?}");
    }
}

#[test]
fn a_zip_bomb_is_refused_and_the_members_before_it_are_read() {
    let dir = Scratch::new("zipbomb");
    let spaces = vec![b' '; 32 << 20];
    let mut big = b"[".to_vec();
    big.extend_from_slice(&spaces);
    let flat = seed("flat.ndjson");
    let archive = dir.write("export.zip", &zip(&[("flat.ndjson", &flat), ("bomb.json", &big), ("after.ndjson", &flat)]));
    let next = dir.write("next.ndjson", &flat);
    let out = read_opts(&[&archive, &next], small_ratio());
    assert_eq!(out.file("export.zip!flat.ndjson").1, seed_counts());
    // The members of one archive share one budget: once the bomb has spent it, the members
    // after it are refused too (an archive of many overlapping members is a bomb as a whole).
    for member in ["export.zip!bomb.json", "export.zip!after.ndjson"] {
        let (_, _, error) = out.file(member);
        assert!(error.as_deref().is_some_and(|e| e.contains("decompression bomb refused")), "{member}: {error:?}");
    }
    assert_eq!(out.file("next.ndjson").1, seed_counts(), "the next input is read");
}

#[test]
fn containers_nested_too_deep_are_refused() {
    let dir = Scratch::new("nested");
    let mut bytes = seed("flat.ndjson");
    for _ in 0..4 {
        bytes = gzip(&bytes);
    }
    let four = dir.write("four.json.gz", &bytes);
    let five = dir.write("five.json.gz", &gzip(&bytes));
    let out = read(&[&four, &five]);
    assert_eq!(out.file("four.json.gz").1, seed_counts());
    let (_, counts, error) = out.file("five.json.gz");
    assert_eq!(counts.events(), 0);
    assert!(error.as_deref().unwrap().contains("nested more than 4 deep"));
}

#[test]
fn input_format_keeps_gz_and_zip_handling() {
    let dir = Scratch::new("forced");
    let cases: [(&str, InputFormat, &str, Vec<u8>); 4] = [
        ("flat.json.gz", InputFormat::Json, "flat.ndjson", gzip(&seed("flat.ndjson"))),
        ("pretty.dat.gz", InputFormat::Json, "evtx_json_pretty.json", gzip(&seed("evtx_json_pretty.json"))),
        ("events.zip", InputFormat::Xml, "wevtutil.xml", zip(&[("events.dat", &seed("wevtutil.xml"))])),
        ("events.zip", InputFormat::Json, "es_response.json", zip(&[("r.dat", &seed("es_response.json"))])),
    ];
    for (name, format, _, bytes) in cases {
        let path = dir.write(name, &bytes);
        let out = read_opts(&[&path], ReadOptions { format, ..ReadOptions::default() });
        assert_eq!(out.totals, seed_counts(), "{name} under {format:?}");
        assert!(out.problems.is_empty(), "{name}: {:?}", out.problems);
    }
}

// ---------------------------------------------------------------------------------------------
// 2 and 3 for EVTX (shared data: damaged or packed at test time, never copied into the repo)

const EVTX_HEADER: usize = 4096;
const EVTX_CHUNK: usize = 65536;

fn real_evtx(test: &str) -> Option<Vec<u8>> {
    let data = shared_data(test)?;
    Some(std::fs::read(data.join("evtx-attack-samples/PanacheSysmon_vs_AtomicRedTeam01.evtx")).expect("shared EVTX"))
}

/// A small deterministic generator for damage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn evtx_damage_is_counted_in_records_exactly() {
    let Some(original) = real_evtx("evtx_damage_is_counted_in_records_exactly") else {
        return;
    };
    let dir = Scratch::new("evtx-exact");
    let path = dir.write("original.evtx", &original);
    let clean = read(&[&path]);
    assert_eq!(clean.totals.bad_records, 0);
    let total = clean.records();
    assert_eq!(total, 565);

    let mut rng = Rng(0x5eed);
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    // Records in the middle of chunk 2 overwritten (the chunk header intact): the issue's case.
    let mut mid = original.clone();
    let at = EVTX_HEADER + 2 * EVTX_CHUNK + 512;
    for b in &mut mid[at..at + 2000] {
        *b = rng.next() as u8;
    }
    cases.push(("records of chunk 2".into(), mid));
    // A chunk header destroyed: its records are the ids between its neighbours.
    let mut header = original.clone();
    let at = EVTX_HEADER + 3 * EVTX_CHUNK;
    for b in &mut header[at..at + 600] {
        *b = rng.next() as u8;
    }
    cases.push(("header of chunk 3".into(), header));
    // Scattered damage of every size.
    for i in 0..12 {
        let mut bytes = original.clone();
        let len = [1usize, 8, 200, 3000][i % 4];
        let at = EVTX_HEADER + (rng.next() as usize % (original.len() - EVTX_HEADER - len));
        for b in &mut bytes[at..at + len] {
            *b = rng.next() as u8;
        }
        cases.push((format!("{len} bytes at {at:#x}"), bytes));
    }
    for (what, bytes) in cases {
        let path = dir.write("damaged.evtx", &bytes);
        let out = read(&[&path]);
        assert_eq!(out.records(), total, "{what}: read + lost = every record of the file ({:?}; {:?})", out.totals, out.bad());
        for p in out.bad() {
            assert!(p.origin.record.is_some(), "{what}: {p:?}");
        }
    }
}

#[test]
fn evtx_from_a_stream_is_spilled_to_disk_not_held_in_memory() {
    let Some(original) = real_evtx("evtx_from_a_stream_is_spilled_to_disk_not_held_in_memory") else {
        return;
    };
    let dir = Scratch::new("evtx-spill");
    let gz = dir.write("log.evtx.gz", &gzip(&original));
    let plain = dir.write("log.evtx", &original);
    let expected = read(&[&plain]).totals;
    // Held in memory up to 64 KiB only: the rest goes to a temporary file.
    let spill = ReadOptions {
        limits: Limits {
            in_memory: 64 << 10,
            ..Limits::default()
        },
        ..ReadOptions::default()
    };
    let out = read_opts(&[&gz], spill.clone());
    assert_eq!(out.totals, expected);
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    // `--input-format evtx` names what is inside the .gz: it is still opened.
    let out = read_opts(
        &[&gz],
        ReadOptions {
            format: InputFormat::Evtx,
            ..spill.clone()
        },
    );
    assert_eq!(out.totals, expected);
    // A zip member the same way, under --input-format evtx.
    let archive = dir.write("triage.zip", &zip(&[("Sysmon.evtx", &original)]));
    let out = read_opts(
        &[&archive],
        ReadOptions {
            format: InputFormat::Evtx,
            ..spill
        },
    );
    assert_eq!(out.totals, expected);

    // With at most 300 KiB on disk, the first chunks are read and the cut is said.
    let cut = ReadOptions {
        limits: Limits {
            in_memory: 64 << 10,
            max_spill: 300 << 10,
            ..Limits::default()
        },
        ..ReadOptions::default()
    };
    let out = read_opts(&[&gz], cut);
    assert!(out.totals.events() > 0 && out.totals.events() < expected.events(), "{:?}", out.totals);
    let errors: Vec<&str> = out.file_errors().iter().map(|p| p.message.as_str()).collect();
    assert!(errors.iter().any(|m| m.contains("most dnshunt copies to a temporary file")), "{errors:?}");
}

// ---------------------------------------------------------------------------------------------
// 4. Nothing blocks

#[cfg(unix)]
fn mkfifo(path: &Path) -> bool {
    std::process::Command::new("mkfifo").arg(path).status().is_ok_and(|s| s.success())
}

#[cfg(unix)]
#[test]
fn fifos_and_devices_are_refused_and_the_next_inputs_read() {
    let dir = Scratch::new("fifo");
    let fifo = dir.0.join("pipe.json");
    if !mkfifo(&fifo) {
        println!("skipped: mkfifo is not available");
        return;
    }
    let flat = dir.write("flat.ndjson", &seed("flat.ndjson"));
    let out = read(&[&fifo, Path::new("/dev/null"), Path::new("/dev/zero"), &flat]);
    assert_eq!(out.file("flat.ndjson").1, seed_counts(), "the input after them is read");
    for (name, kind) in [("pipe.json", "FIFO"), ("/dev/null", "character device"), ("/dev/zero", "character device")] {
        let (_, _, error) = out.file(name);
        let error = error.as_deref().unwrap();
        assert!(error.contains(kind) && error.contains("not a regular file"), "{name}: {error}");
        assert!(error.contains("standard input"), "{error}");
    }

    // Found while walking a directory: refused the same way, the files beside it read.
    let walked = read(&[&dir.0]);
    assert_eq!(walked.totals, seed_counts());
    let (_, _, error) = walked.file("pipe.json");
    assert!(error.as_deref().unwrap().contains("FIFO"));
}

fn memchr_find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A Suricata EVE log is told from its first line, as far as 1 MiB of it: a line whose EVE keys
/// come after a long field is still EVE, in a plain file as in a `.gz`.
#[test]
fn an_eve_log_with_a_long_first_line_is_told_apart_plain_or_gzipped() {
    let pad = "x".repeat(200_000);
    let query = format!(
        r#"{{"timestamp":"2024-03-12T10:00:00.000000+0000","pad":"{pad}","flow_id":1,"event_type":"dns","src_ip":"10.0.0.5","src_port":53000,"dest_ip":"10.0.0.1","dest_port":53,"proto":"UDP","dns":{{"type":"query","id":7,"rrname":"example.com","rrtype":"A","tx_id":0}}}}"#
    );
    let answer = r#"{"timestamp":"2024-03-12T10:00:00.010000+0000","flow_id":1,"event_type":"dns","src_ip":"10.0.0.1","src_port":53,"dest_ip":"10.0.0.5","dest_port":53000,"proto":"UDP","dns":{"version":2,"type":"answer","id":7,"rcode":"NOERROR","rrname":"example.com","rrtype":"A","answers":[{"rrname":"example.com","rrtype":"A","ttl":60,"rdata":"93.184.216.34"}]}}"#;
    let text = format!("{query}\n{answer}\n");
    let dir = Scratch::new("eve-long");
    let plain = dir.write("eve.json", text.as_bytes());
    let zipped = dir.write("eve.json.gz", &gzip(text.as_bytes()));
    for path in [&plain, &zipped] {
        let out = read(&[path.as_path()]);
        let wire = out.events.iter().filter(|e| e.wire_dns().is_some()).count();
        assert!(wire >= 1, "{}: {wire} wire events, bad {:?}", path.display(), out.bad());
        assert!(out.bad().is_empty(), "{}: {:?}", path.display(), out.bad());
    }
}

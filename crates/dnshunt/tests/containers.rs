//! The same seed events read through every container and input path: `.gz`, `.zip`, stdin,
//! directory walks, `--input-format`, and awkward file names.

mod common;

use std::ffi::OsStr;
use std::io::Write;

use common::{events, fixture, run_with, Counts, TempDir};

fn seed_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("seed/{name}"))).expect("seed fixture")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Builds a zip archive of `(member name, bytes)`.
fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in members {
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        writer.start_file(*name, options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn times(events: &[serde_json::Value]) -> Vec<String> {
    events.iter().map(|e| e["time"].as_str().unwrap().to_owned()).collect()
}

/// The events of the plain seed file, for comparison.
fn plain(name: &str) -> Vec<serde_json::Value> {
    let run = events(&[fixture(&format!("seed/{name}"))], &[]);
    run.assert_exit(0);
    run.json_lines()
}

#[test]
fn gzip_files_read_like_the_plain_file() {
    let dir = TempDir::new("gz");
    for name in ["ecs.ndjson", "wevtutil.xml", "evtx_json_pretty.json"] {
        let path = dir.write(&format!("{name}.gz"), &gzip(&seed_bytes(name)));
        let run = events(&[&path], &[]);
        run.assert_exit(0);
        let read = run.read();
        assert_eq!(read.totals, Counts::seed(), "{name}.gz");
        let file = read.file(&format!("{name}.gz"));
        assert_eq!(file.error, None);
        let got = run.json_lines();
        let want = plain(name);
        assert_eq!(times(&got), times(&want), "{name}.gz");
        // Origins keep the name the user gave and the line numbers of the decompressed text.
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g["origin"]["file"].as_str().unwrap(), path.to_str().unwrap());
            assert_eq!(g["origin"]["line"], w["origin"]["line"], "{name}.gz");
            assert_eq!(g["query"], w["query"], "{name}.gz");
            assert_eq!(g["answers"], w["answers"], "{name}.gz");
        }
    }
}

#[test]
fn zip_members_are_each_read_and_named() {
    let dir = TempDir::new("zip");
    let flat = seed_bytes("flat.ndjson");
    let xml = seed_bytes("get_winevent.xml");
    let nested_gz = gzip(&seed_bytes("nxlog.ndjson"));
    let archive = dir.write(
        "export.zip",
        &zip(&[("logs/flat.ndjson", &flat), ("get_winevent.xml", &xml), ("more/nxlog.ndjson.gz", &nested_gz)]),
    );
    let run = events(&[&archive], &[]);
    run.assert_exit(0);
    let read = run.read();
    let mut want = Counts::seed();
    want.dns_query *= 3;
    want.process_create *= 3;
    want.network_connect *= 3;
    want.process_terminate *= 3;
    want.other_sysmon.insert("7".to_owned(), 3);
    assert_eq!(read.totals, want);
    assert_eq!(read.files.len(), 3, "{:?}", read.files);
    for member in ["export.zip!logs/flat.ndjson", "export.zip!get_winevent.xml", "export.zip!more/nxlog.ndjson.gz"] {
        let file = read.file(member);
        assert_eq!(file.counts, Counts::seed(), "{member}");
        assert_eq!(file.error, None, "{member}");
    }
    assert_eq!(read.file("get_winevent.xml").format, "xml");
    // Evidence from an archive says which member it came from.
    let events = run.json_lines();
    assert_eq!(events.len(), 39);
    let from_flat = events
        .iter()
        .filter(|e| e["origin"]["file"].as_str().unwrap().ends_with("export.zip!logs/flat.ndjson"))
        .count();
    assert_eq!(from_flat, 13);
    let first_flat = events.iter().find(|e| e["origin"]["file"].as_str().unwrap().ends_with("!logs/flat.ndjson")).unwrap();
    assert_eq!(first_flat["origin"]["line"], 1);
}

#[test]
fn stdin_is_read_when_the_path_is_a_dash() {
    for name in ["nxlog.ndjson", "wevtutil.xml", "es_response.json"] {
        let bytes = seed_bytes(name);
        let args = ["events", "-", "--format", "jsonl"].map(OsStr::new);
        let run = run_with(&args, true, Some(&bytes));
        run.assert_exit(0);
        let read = run.read();
        assert_eq!(read.totals, Counts::seed(), "stdin {name}");
        assert_eq!(read.files[0].name, "-");
        let got = run.json_lines();
        assert_eq!(times(&got), times(&plain(name)), "stdin {name}");
        assert!(got.iter().all(|e| e["origin"]["file"] == "-"));
    }
}

#[test]
fn gzip_on_stdin_is_recognised() {
    let bytes = gzip(&seed_bytes("winlogbeat8_raw.ndjson"));
    let run = run_with(&["events", "-", "--format", "jsonl"].map(OsStr::new), true, Some(&bytes));
    run.assert_exit(0);
    assert_eq!(run.read().totals, Counts::seed());
}

#[test]
fn directories_are_walked_recursively_and_notes_are_ignored() {
    let dir = TempDir::new("walk");
    dir.write("host1/sysmon/flat.ndjson", &seed_bytes("flat.ndjson"));
    dir.write("host1/sysmon/deeper/still/ecs.ndjson.gz", &gzip(&seed_bytes("ecs.ndjson")));
    dir.write("host2/wevtutil.xml", &seed_bytes("wevtutil.xml"));
    dir.write("host2/archive.zip", &zip(&[("evtx_json.ndjson", &seed_bytes("evtx_json.ndjson"))]));
    dir.write("README", b"Collected from two hosts on 2019-06-27.\n");
    dir.write("host1/notes.txt", b"chain of custody: ok\n");
    dir.write("host2/hashes.sha256", b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  wevtutil.xml\n");

    let run = events(&[dir.path()], &["--strict"]);
    // Notes in a walked directory are no problem, so even --strict succeeds.
    run.assert_exit(0);
    let read = run.read();
    let mut want = Counts::seed();
    want.dns_query *= 4;
    want.process_create *= 4;
    want.network_connect *= 4;
    want.process_terminate *= 4;
    want.other_sysmon.insert("7".to_owned(), 4);
    assert_eq!(read.totals, want);
    assert_eq!(read.file_errors, 0);
    assert!(read.examples.is_empty(), "{:?}", read.examples);
    for name in ["flat.ndjson", "ecs.ndjson.gz", "wevtutil.xml", "archive.zip!evtx_json.ndjson"] {
        assert_eq!(read.file(name).counts, Counts::seed(), "{name}");
    }
    let mut ignored: Vec<String> = read
        .ignored_files
        .iter()
        .map(|f| std::path::Path::new(f).file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    ignored.sort();
    assert_eq!(ignored, ["README", "hashes.sha256", "notes.txt"]);
    assert!(!read.files.iter().any(|f| f.name.ends_with("README") || f.name.ends_with("notes.txt")));
    assert_eq!(run.json_lines().len(), 52);
}

#[test]
fn an_explicitly_named_unknown_file_is_a_file_error_not_a_crash() {
    let dir = TempDir::new("unknown");
    let notes = dir.write("README", b"These are my notes, not events.\n");
    let seed = fixture("seed/flat.ndjson");
    let run = events(&[notes.as_os_str(), seed.as_os_str()], &[]);
    run.assert_exit(0);
    let read = run.read();
    assert_eq!(read.file_errors, 1);
    let bad = read.file("README");
    assert!(bad.error.is_some(), "{bad:?}");
    assert_eq!(bad.counts, Counts::default());
    // The next input is still read.
    assert_eq!(read.file("flat.ndjson").counts, Counts::seed());
    assert_eq!(read.totals, Counts::seed());
    let problem = read.examples.iter().find(|p| p.kind == "file").expect("a file problem");
    assert!(problem.file().ends_with("README"));
    assert!(run.stderr.contains("README"), "the summary names the file: {}", run.stderr);

    // --strict makes it a failure.
    let strict = events(&[notes.as_os_str(), seed.as_os_str()], &["--strict", "-q"]);
    strict.assert_exit(3);
}

#[test]
fn a_missing_path_is_an_error_unless_skipped() {
    let dir = TempDir::new("missing");
    let missing = dir.join("no-such-file.ndjson");
    let seed = fixture("seed/ecs.ndjson");
    let paths = [missing.as_os_str(), seed.as_os_str()];
    // A script must not take "0 findings" for a clean machine: exit 1, naming the path,
    // before anything is read.
    for command in [events(&paths, &[]), common::hunt(&paths, &["--format", "jsonl"])] {
        command.assert_exit(1);
        assert!(command.stderr.contains("no-such-file.ndjson"), "{}", command.stderr);
        assert!(command.stdout_text().is_empty());
    }
    // --skip-unreadable: a file error, counted and reported, and the rest is read.
    let run = events(&paths, &["--skip-unreadable"]);
    run.assert_exit(0);
    let read = run.read();
    assert_eq!(read.file_errors, 1);
    assert!(read.file("no-such-file.ndjson").error.is_some());
    assert_eq!(read.totals, Counts::seed());
    events(&paths, &["--skip-unreadable", "--strict"]).assert_exit(3);
}

#[test]
fn an_empty_time_window_and_unwritable_outputs_fail_before_reading() {
    let seed = fixture("seed/ecs.ndjson");
    let run = events(&[&seed], &["--since", "2024-03-13", "--until", "2024-03-12"]);
    run.assert_exit(1);
    assert!(run.stderr.contains("is not before --until"), "{}", run.stderr);
    let dir = TempDir::new("unwritable");
    let nowhere = dir.join("no-such-dir/out.jsonl");
    let run = common::hunt(&[&seed], &["-o", nowhere.to_str().unwrap(), "-q"]);
    run.assert_exit(1);
    assert!(run.stderr.contains("no-such-dir"), "{}", run.stderr);
    let run = common::hunt(&[&seed], &["--report", dir.join("no-such-dir/r.html").to_str().unwrap(), "-q", "--format", "jsonl"]);
    run.assert_exit(1);
    assert!(run.stderr.contains("creating report"), "{}", run.stderr);
    // Times as analysts type them.
    let run = events(&[&seed], &["--since", "2019-06-25 14:09", "--until", "2019-06-25T14:10"]);
    run.assert_exit(0);
    assert!(run.read().totals.events() > 0);
}

#[test]
fn input_format_overrides_recognition() {
    let dir = TempDir::new("override");
    // A collector banner before the JSON lines: not recognisable from content or name.
    let mut bytes = b"exported by collector v2.1 on WIN10-LAB\n".to_vec();
    bytes.extend(seed_bytes("flat.ndjson"));
    let export = dir.write("export.dat", &bytes);

    let auto = events(&[&export], &[]);
    auto.assert_exit(0);
    let read = auto.read();
    assert_eq!(read.file_errors, 1, "not recognised without --input-format");
    assert_eq!(read.totals.events(), 0);

    let forced = events(&[&export], &["--input-format", "json"]);
    forced.assert_exit(0);
    let read = forced.read();
    assert_eq!(read.file_errors, 0);
    let mut want = Counts::seed();
    want.bad_records = 1;
    assert_eq!(read.totals, want, "the banner is one bad line, the rest is read");
    assert_eq!(read.example_lines("bad_record"), [1]);
    // Line numbers count the banner.
    assert_eq!(forced.json_lines()[0]["origin"]["line"], 2);

    // An XML file with a JSON name, forced to XML.
    let xml = dir.write("wevtutil-export.json", &seed_bytes("wevtutil.xml"));
    let run = events(&[&xml], &["--input-format", "xml"]);
    run.assert_exit(0);
    assert_eq!(run.read().totals, Counts::seed());
    assert_eq!(run.read().files[0].format, "xml");

    // The format names what is inside: a .gz or .zip is still opened (regression: forcing
    // `xml` on `w.xml.gz` read 0 events).
    let gz = dir.write("export.xml.gz", &gzip(&seed_bytes("wevtutil.xml")));
    let run = events(&[&gz], &["--input-format", "xml"]);
    run.assert_exit(0);
    assert_eq!(run.read().totals, Counts::seed(), "gzip under --input-format xml");
    let banner_gz = dir.write("export.dat.gz", &gzip(&bytes));
    let run = events(&[&banner_gz], &["--input-format", "json"]);
    run.assert_exit(0);
    assert_eq!(run.read().totals, want, "gzip under --input-format json");

    // Forcing the wrong format costs records, never the run.
    let wrong = events(&[fixture("seed/flat.ndjson")], &["--input-format", "evtx"]);
    wrong.assert_exit(0);
    let read = wrong.read();
    assert_eq!(read.totals.events(), 0);
    assert!(read.file_errors + read.totals.bad_records > 0, "{read:?}");
}

#[test]
fn file_names_with_commas_and_spaces() {
    let dir = TempDir::new("names");
    let name = "ID11,13,17,18-PSexec as system execution, copy (2).ndjson";
    let path = dir.write(name, &seed_bytes("ecs.ndjson"));
    let run = events(&[&path], &[]);
    run.assert_exit(0);
    let read = run.read();
    assert_eq!(read.totals, Counts::seed());
    assert_eq!(read.files.len(), 1, "one file, not split at the comma");
    assert!(read.files[0].name.ends_with(name));
    assert!(run.json_lines().iter().all(|e| e["origin"]["file"].as_str().unwrap().ends_with(name)));

    // The same inside a directory walk and inside a zip.
    let archive = dir.write("a b, c.zip", &zip(&[("x, y z.xml", &seed_bytes("get_winevent.xml"))]));
    let run = events(&[dir.path()], &[]);
    run.assert_exit(0);
    let read = run.read();
    assert_eq!(read.file(name).counts, Counts::seed());
    assert_eq!(read.file("a b, c.zip!x, y z.xml").counts, Counts::seed());
    assert!(archive.exists());
}

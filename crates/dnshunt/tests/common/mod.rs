//! Helpers shared by the integration tests: run the real `dnshunt` binary, read what it printed
//! and the `--summary-json` file it wrote, and make scratch directories.
//!
//! Every test file includes this module with `mod common;` and uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;
use serde_json::Value;

/// The workspace root (where `fixtures/` and `examples/` live).
pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// A file or directory under `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    repo_root().join("fixtures").join(rel)
}

/// A file or directory under `examples/`.
pub fn example(rel: &str) -> PathBuf {
    repo_root().join("examples").join(rel)
}

/// Every file of `fixtures/seed/`, sorted by name.
pub fn seed_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture("seed"))
        .expect("fixtures/seed is readable")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Where the shared third-party test data lives (beside the repository).
pub fn shared_data() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data"))
}

/// Returns the shared data directory, or `None` (after printing why) when it is missing and the
/// test should be skipped. On CI (`CI` set) missing data is a failure.
pub fn shared_data_or_skip(test: &str) -> Option<PathBuf> {
    let dir = shared_data();
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: shared test data missing at {} (CI is set, so this is a failure)", dir.display());
    }
    println!("skipped: {test}: shared test data missing at {}", dir.display());
    None
}

/// A scratch directory removed when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("dnshunt-it-{}-{label}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create scratch directory");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }

    /// Writes `bytes` to `rel` (creating parent directories) and returns the full path.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent directory");
        }
        std::fs::write(&path, bytes).expect("write scratch file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
    /// The `--summary-json` document, when the run was asked to write one.
    pub summary: Option<Value>,
    /// The command line, for failure messages.
    pub cmdline: String,
}

impl Run {
    /// The exit code (panics when the process died from a signal).
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("`{}` was killed by a signal; stderr:\n{}", self.cmdline, self.stderr))
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8(self.stdout.clone()).unwrap_or_else(|e| panic!("`{}`: stdout is not UTF-8: {e}", self.cmdline))
    }

    /// Stdout parsed as JSON lines.
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout_text()
            .lines()
            .enumerate()
            .map(|(i, line)| serde_json::from_str(line).unwrap_or_else(|e| panic!("`{}`: stdout line {} is not JSON ({e}): {line}", self.cmdline, i + 1)))
            .collect()
    }

    pub fn summary(&self) -> &Value {
        self.summary.as_ref().unwrap_or_else(|| panic!("`{}` wrote no summary", self.cmdline))
    }

    /// `read` of the summary, typed.
    pub fn read(&self) -> ReadSummary {
        serde_json::from_value(self.summary()["read"].clone()).unwrap_or_else(|e| panic!("`{}`: unexpected summary shape: {e}\n{}", self.cmdline, self.summary()))
    }

    /// Asserts the run ended normally: no panic, no crash, the expected exit code.
    #[track_caller]
    pub fn assert_exit(&self, code: i32) -> &Self {
        assert!(!self.stderr.contains("panicked"), "`{}` panicked:\n{}", self.cmdline, self.stderr);
        assert_eq!(self.code(), code, "`{}` exit code; stderr:\n{}", self.cmdline, self.stderr);
        self
    }
}

/// Counts of one file or of the whole run, as in the summary JSON.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Counts {
    pub dns_query: u64,
    pub process_create: u64,
    pub network_connect: u64,
    pub process_terminate: u64,
    pub other_sysmon: BTreeMap<String, u64>,
    pub not_sysmon: u64,
    pub bad_records: u64,
    pub warnings: u64,
    pub filtered_out: u64,
    /// What the network saw (captures, Zeek, Suricata).
    #[serde(default)]
    pub wire_dns: u64,
    #[serde(default)]
    pub wire_flow: u64,
    #[serde(default)]
    pub wire_other: u64,
    #[serde(default)]
    pub wire_records: u64,
}

/// Zeek and Suricata documents as Filebeat's modules ship them (ECS), made up: a dnscat2-style
/// tunnel under `tunnel.example` from 10.1.0.5 (Zeek `dns`, 40 TXT exchanges with hex names),
/// its connections (Zeek `connection`), a Suricata question and its answer, a TLS connection to
/// dns.google, and a Zeek `http` document; one JSON line each.
pub fn filebeat_wire_lines() -> Vec<String> {
    let mut lines = Vec::new();
    for i in 0..40u32 {
        let t = format!("2024-03-12T08:{:02}:{:02}.{:03}Z", 10 + i / 60, i % 60, i * 7 % 1000);
        lines.push(
            serde_json::json!({
                "@timestamp": t,
                "event": {"module": "zeek", "dataset": "zeek.dns", "kind": "event"},
                "source": {"ip": "10.1.0.5", "port": 40000 + i},
                "destination": {"ip": "10.1.0.53", "port": 53},
                "network": {"transport": "udp", "protocol": "dns"},
                "dns": {
                    "id": i,
                    "type": "answer",
                    "question": {"name": format!("{:040x}.tunnel.example", u128::from(i) * 0x9e37_79b9_7f4a_7c15_u128), "type": "TXT", "class": "IN"},
                    "response_code": "NOERROR",
                    "answers": [{"name": "x.tunnel.example", "type": "TXT", "data": format!("{:032x}", u128::from(i) * 0xdead_beef_u128)}],
                    "header_flags": ["RD", "RA"]
                },
                "zeek": {"session_id": format!("C{i}"), "dns": {"rtt": 0.01}}
            })
            .to_string(),
        );
        lines.push(
            serde_json::json!({
                "@timestamp": t,
                "event": {"module": "zeek", "dataset": "zeek.connection", "duration": 1_000_000},
                "source": {"ip": "10.1.0.5", "port": 40000 + i, "bytes": 120},
                "destination": {"ip": "10.1.0.53", "port": 53, "bytes": 200},
                "network": {"transport": "udp"}
            })
            .to_string(),
        );
    }
    let suricata = |dns_type: &str| {
        serde_json::json!({
            "@timestamp": "2024-03-12T09:00:00.000Z",
            "event": {"module": "suricata", "dataset": "suricata.eve", "kind": "event"},
            "source": {"ip": "10.1.0.6", "port": 51000},
            "destination": {"ip": "10.1.0.53", "port": 53},
            "network": {"transport": "udp"},
            "dns": {"type": dns_type, "id": 7, "question": {"name": "www.example.com", "type": "A"}, "response_code": "NOERROR",
                    "answers": [{"name": "www.example.com", "type": "A", "data": "93.184.216.34"}]},
            "suricata": {"eve": {"event_type": "dns", "flow_id": 1}}
        })
        .to_string()
    };
    lines.push(suricata("query"));
    lines.push(suricata("answer"));
    lines.push(
        serde_json::json!({
            "@timestamp": "2024-03-12T09:01:00.000Z",
            "event": {"module": "suricata", "dataset": "suricata.eve"},
            "source": {"ip": "10.1.0.7", "port": 52000},
            "destination": {"ip": "8.8.8.8", "port": 443},
            "network": {"transport": "tcp"},
            "tls": {"client": {"server_name": "dns.google"}},
            "suricata": {"eve": {"event_type": "tls", "flow_id": 2}}
        })
        .to_string(),
    );
    lines.push(
        serde_json::json!({
            "@timestamp": "2024-03-12T09:02:00.000Z",
            "event": {"module": "zeek", "dataset": "zeek.http"},
            "source": {"ip": "10.1.0.7", "port": 52001},
            "destination": {"ip": "93.184.216.34", "port": 80},
            "url": {"path": "/"}
        })
        .to_string(),
    );
    lines
}

impl Counts {
    /// The counts every seed file must give: 22:7, 1:2, 3:3, 5:1, one EID 7, nothing bad.
    pub fn seed() -> Counts {
        Counts {
            dns_query: 7,
            process_create: 2,
            network_connect: 3,
            process_terminate: 1,
            other_sysmon: BTreeMap::from([("7".to_owned(), 1)]),
            ..Counts::default()
        }
    }

    /// Events of the four modelled types.
    pub fn events(&self) -> u64 {
        self.dns_query + self.process_create + self.network_connect + self.process_terminate
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct FileSummary {
    pub name: String,
    pub format: String,
    pub bytes: u64,
    pub counts: Counts,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Problem {
    pub kind: String,
    pub origin: Value,
    pub message: String,
}

impl Problem {
    pub fn line(&self) -> Option<u64> {
        self.origin["line"].as_u64()
    }

    pub fn file(&self) -> &str {
        self.origin["file"].as_str().unwrap_or_default()
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct ReadSummary {
    pub totals: Counts,
    pub files: Vec<FileSummary>,
    pub examples: Vec<Problem>,
    pub file_errors: u64,
    pub ignored_files: Vec<String>,
}

impl ReadSummary {
    /// The one file whose name ends with `suffix`.
    #[track_caller]
    pub fn file(&self, suffix: &str) -> &FileSummary {
        let found: Vec<&FileSummary> = self.files.iter().filter(|f| f.name.ends_with(suffix)).collect();
        assert_eq!(
            found.len(),
            1,
            "expected one file named *{suffix} in the summary, got {:?}",
            self.files.iter().map(|f| &f.name).collect::<Vec<_>>()
        );
        found[0]
    }

    /// Line numbers of the examples of `kind` (`bad_record`, `warning`, `file`).
    pub fn example_lines(&self, kind: &str) -> Vec<u64> {
        self.examples.iter().filter(|p| p.kind == kind).filter_map(Problem::line).collect()
    }
}

/// Runs `dnshunt ARGS...` with `--summary-json` appended when `summary` is true; `stdin` is fed
/// to the process when given.
pub fn run_with(args: &[&OsStr], summary: bool, stdin: Option<&[u8]>) -> Run {
    let scratch = TempDir::new("summary");
    let summary_path = scratch.join("summary.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dnshunt"));
    cmd.args(args);
    if summary {
        cmd.arg("--summary-json").arg(&summary_path);
    }
    let cmdline = format!("dnshunt {}", args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" "));
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start `{cmdline}`: {e}"));
    let feeder = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            // The reader may stop early; a closed pipe is not the test's concern here.
            let _ = pipe.write_all(&bytes);
        })
    });
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("`{cmdline}` did not finish: {e}"));
    if let Some(feeder) = feeder {
        feeder.join().expect("stdin feeder");
    }
    let summary = if summary && summary_path.exists() {
        let text = std::fs::read_to_string(&summary_path).expect("read summary");
        Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("`{cmdline}`: summary is not JSON ({e}):\n{text}")))
    } else {
        None
    };
    Run {
        status: output.status,
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        summary,
        cmdline,
    }
}

/// `dnshunt events PATHS... --format jsonl --summary-json FILE EXTRA...`
pub fn events<P: AsRef<OsStr>>(paths: &[P], extra: &[&str]) -> Run {
    let mut args: Vec<&OsStr> = vec![OsStr::new("events")];
    args.extend(paths.iter().map(AsRef::as_ref));
    args.extend(["--format", "jsonl"].map(OsStr::new));
    args.extend(extra.iter().map(OsStr::new));
    run_with(&args, true, None)
}

/// `dnshunt hunt PATHS... --summary-json FILE EXTRA...`
pub fn hunt<P: AsRef<OsStr>>(paths: &[P], extra: &[&str]) -> Run {
    let mut args: Vec<&OsStr> = vec![OsStr::new("hunt")];
    args.extend(paths.iter().map(AsRef::as_ref));
    args.extend(extra.iter().map(OsStr::new));
    run_with(&args, true, None)
}

/// The value at a dotted path (`process.guid`), or `Null`.
pub fn at<'v>(value: &'v Value, path: &str) -> &'v Value {
    path.split('.').fold(value, |v, key| &v[key])
}

/// A small deterministic pseudo-random generator (xorshift64*), so generated inputs are the same
/// on every run.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(n);
        out
    }
}

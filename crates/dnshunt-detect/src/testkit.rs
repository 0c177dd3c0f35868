//! Timeline builders for the behavioural detectors' tests: events are made in code, with the
//! host, process, time and answers each test needs, never copied from real logs.

use std::sync::Arc;

use dnshunt_core::*;

use crate::stats::hash64;

/// 2024-03-12T08:00:00Z, the start of every generated timeline.
pub const T0: i64 = 1_710_230_400_000;

/// A process on a host, for building its events.
#[derive(Clone, Debug)]
pub struct Proc {
    pub host: String,
    pub guid: Guid,
    pub pid: u32,
    pub image: String,
}

impl Proc {
    /// A process named by its image path; the GUID is derived from host, image and `n`.
    pub fn new(host: &str, image: &str, n: u32) -> Proc {
        let h = hash64(&format!("{host}|{image}|{n}"));
        Proc {
            host: host.to_owned(),
            guid: Guid(((h as u128) << 64) | n as u128),
            pid: 1000 + n,
            image: image.to_owned(),
        }
    }

    fn pref(&self) -> ProcessRef {
        ProcessRef {
            guid: Some(self.guid),
            pid: Some(self.pid),
            image: Some(self.image.as_str().into()),
            user: Some("CORP\\user".into()),
        }
    }

    fn event(&self, ms: i64, kind: EventKind) -> Event {
        Event {
            time: Timestamp(ms),
            host: Some(self.host.as_str().into()),
            record_id: None,
            rule_name: None,
            origin: Origin::line(&Arc::from("timeline.ndjson"), (ms - T0).unsigned_abs()),
            kind,
        }
    }

    /// EID 22 at `ms` with `QueryResults` in Sysmon's string form and a status code.
    pub fn dns(&self, ms: i64, name: &str, results: &str, status: u32) -> Event {
        let mut answers = Vec::new();
        parse_query_results(results, &mut answers);
        self.event(
            ms,
            EventKind::DnsQuery(DnsQuery {
                process: self.pref(),
                query: DnsName::new(name),
                status: QueryStatus(status),
                answers,
                results_raw: results.into(),
            }),
        )
    }

    /// EID 3 at `ms` to `ip:port` over `proto`.
    pub fn net(&self, ms: i64, proto: &str, ip: &str, port: u16) -> Event {
        self.event(
            ms,
            EventKind::NetworkConnect(Box::new(NetworkConnect {
                process: self.pref(),
                protocol: Some(proto.into()),
                initiated: Some(true),
                destination_ip: parse_ip(ip),
                destination_port: Some(port),
                ..Default::default()
            })),
        )
    }

    /// EID 1 at `ms`, started by `parent`.
    pub fn create(&self, ms: i64, command_line: &str, parent: Option<&Proc>) -> Event {
        self.event(
            ms,
            EventKind::ProcessCreate(Box::new(ProcessCreate {
                process: self.pref(),
                command_line: Some(command_line.into()),
                parent: parent.map(Proc::pref).unwrap_or_default(),
                parent_command_line: parent.map(|p| p.image.clone()),
                ..Default::default()
            })),
        )
    }
}

/// The file name of a finding's image as written (`powershell.exe`), or `""`.
pub fn short_image(f: &Finding) -> &str {
    f.process.image.as_deref().unwrap_or("").rsplit('\\').next().unwrap_or("")
}

/// A small deterministic generator (xorshift64*), so timelines are random-looking but fixed.
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

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// `n` lower-case hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from_digit((self.next_u64() % 16) as u32, 16).unwrap_or('0')).collect()
    }

    /// Shuffles in place (Fisher–Yates): detectors must not depend on arrival order.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// Runs a detector over events and returns its findings (observe, then finish).
pub fn run(detector: &mut dyn Detector, events: &[Event]) -> Vec<Finding> {
    let mut out = Vec::new();
    for e in events {
        detector.observe(e, &mut out);
    }
    detector.finish(&mut out);
    out
}

impl Proc {
    /// EID 5 at `ms`.
    pub fn terminate(&self, ms: i64) -> Event {
        self.event(ms, EventKind::ProcessTerminate(ProcessTerminate { process: self.pref() }))
    }

    /// The same process as Sysmon names one it does not know: same host and pid, the all-zero
    /// `ProcessGuid` and `Image: <unknown process>`.
    pub fn unnamed(&self) -> Proc {
        Proc {
            guid: Guid(0),
            image: "<unknown process>".into(),
            ..self.clone()
        }
    }
}

/// Events from flat JSON lines as the Security Datasets (OTRF) ship them (`EventID`,
/// `Hostname`, Sysmon's field names at the top level), normalised as the readers would.
/// Lines that are not Sysmon EID 1, 3, 5 or 22 are skipped.
pub fn flat_sysmon(ndjson: &str) -> Vec<Event> {
    use std::borrow::Cow;
    let file: Arc<str> = Arc::from("flat.ndjson");
    let mut out = Vec::new();
    for (n, line) in ndjson.lines().enumerate() {
        let Ok(serde_json::Value::Object(doc)) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let mut raw = RawRecord::default();
        for (key, value) in &doc {
            let value = match value {
                serde_json::Value::String(s) => RawValue::Str(Cow::Owned(s.clone())),
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(i) => RawValue::Int(i),
                    None => continue,
                },
                serde_json::Value::Bool(b) => RawValue::Bool(*b),
                _ => continue,
            };
            match key.as_str() {
                "EventID" => raw.event_id = value.as_text().parse().ok(),
                "Hostname" | "Computer" => raw.computer = Some(Cow::Owned(value.as_text().into_owned())),
                "Channel" => raw.channel = Some(Cow::Owned(value.as_text().into_owned())),
                _ => {
                    if let Some(field) = Field::from_name(key) {
                        raw.set(field, value);
                    }
                }
            }
        }
        if let Ok(Outcome::Event(e)) = normalize(raw, Origin::line(&file, n as u64 + 1), &mut Vec::new()) {
            out.push(*e);
        }
    }
    out
}

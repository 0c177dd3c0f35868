//! Attribution: which process on which endpoint sent what the network saw.
//!
//! A DNS exchange or a connection seen by a sensor (a capture, Zeek, Suricata) is joined to the
//! Sysmon EID 3 (NetworkConnect) of the same 5-tuple — transport, client address and port,
//! server address and port — and so to its process. The clocks of a sensor and an endpoint
//! disagree, often by hours (a sensor in another time zone written as UTC, an endpoint's clock
//! set wrong), so the join goes in two steps once all input is read:
//!
//! 1. **Offset.** For each sensor (the folder or archive its logs came from) and Sysmon host,
//!    every wire event whose 5-tuple Sysmon also logged gives a candidate offset (wire time −
//!    Sysmon time). The offset is the median of the densest window (`tolerance_seconds` wide)
//!    of them, so a 5-tuple reused hours later does not pull it, reported with how many
//!    matches back it.
//! 2. **Join.** Each wire event takes the EID 3 of its 5-tuple whose corrected time is nearest,
//!    within `tolerance_seconds`. It then carries that host and process, and findings about it
//!    name the process.
//!
//! Wire events wait here until all input is read (at most `max_held`; past it they go on
//! unjoined and are counted), and the EID 3 index holds at most `max_connections` 5-tuples.
//! No I/O.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use dnshunt_core::{Endpoint, Event, EventKind, ProcessRef, Timestamp, Transport};
use serde::{Deserialize, Serialize};

/// `[attribution]` in the config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttributionConfig {
    /// Join wire events to Sysmon's processes.
    pub enabled: bool,
    /// How far apart (after correcting the sensor's offset) a wire event and its EID 3 may be.
    pub tolerance_seconds: u64,
    /// Sysmon 5-tuples indexed, at most.
    pub max_connections: usize,
    /// Wire events held until the end of the input, at most.
    pub max_held: usize,
}

impl Default for AttributionConfig {
    fn default() -> Self {
        AttributionConfig {
            enabled: true,
            tolerance_seconds: 300,
            max_connections: 1_000_000,
            max_held: 100_000,
        }
    }
}

/// EID 3 kept per 5-tuple.
const MAX_PER_TUPLE: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Tuple {
    transport: Transport,
    client: Endpoint,
    server: Endpoint,
}

#[derive(Clone, Debug)]
struct Connection {
    time: Timestamp,
    host: Arc<str>,
    process: ProcessRef,
}

/// The offset of one sensor against one Sysmon host.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SensorOffset {
    /// The sensor: the folder or archive its logs came from.
    pub sensor: String,
    /// The Sysmon host (`Computer`).
    pub host: String,
    /// Wire time minus Sysmon time, in seconds (the median over the matches).
    pub offset_seconds: f64,
    /// 5-tuple matches behind it.
    pub matches: u64,
}

/// What attribution did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AttributionReport {
    pub dns_joined: u64,
    pub dns_unjoined: u64,
    pub flows_joined: u64,
    pub flows_unjoined: u64,
    /// 5-tuples Sysmon logged that matched, but too far in time after correcting the offset.
    pub outside_tolerance: u64,
    /// Wire events not held (past `max_held`) and so never joined.
    pub not_held: u64,
    /// Sysmon EID 3 not indexed (past `max_connections`, or past 64 of one 5-tuple).
    pub connections_not_indexed: u64,
    pub offsets: Vec<SensorOffset>,
}

impl AttributionReport {
    /// Whether there was anything to join.
    pub fn is_empty(&self) -> bool {
        self.dns_joined + self.dns_unjoined + self.flows_joined + self.flows_unjoined + self.not_held == 0
    }
}

/// The join, fed with every event and finished once.
#[derive(Debug, Default)]
pub struct Attribution {
    config: AttributionConfig,
    index: HashMap<Tuple, Vec<Connection>>,
    indexed: usize,
    held: Vec<Event>,
    report: AttributionReport,
    hosts: HashMap<String, Arc<str>>,
}

/// The sensor of a wire event: the archive it is in (`logs.zip!dns.log` → `logs.zip`), else
/// the folder of its file (Zeek writes `dns.log` and `conn.log` side by side, with one clock).
pub fn sensor_of(file: &str) -> &str {
    if let Some((archive, _)) = file.rsplit_once('!') {
        return archive;
    }
    match file.rfind(['/', '\\']) {
        Some(i) => &file[..i],
        None => ".",
    }
}

/// The 5-tuple of a wire event.
fn wire_tuple(event: &Event) -> Option<Tuple> {
    match &event.kind {
        EventKind::WireDns(w) => Some(Tuple {
            transport: w.transport,
            client: w.client?,
            server: w.server?,
        }),
        EventKind::WireFlow(f) => Some(Tuple {
            transport: f.transport,
            client: f.client,
            server: f.server,
        }),
        _ => None,
    }
}

impl Attribution {
    pub fn new(config: AttributionConfig) -> Attribution {
        Attribution { config, ..Attribution::default() }
    }

    /// Looks at a Sysmon event: an EID 3 with both ends and ports is indexed by its 5-tuple
    /// (the initiating side is the client).
    pub fn observe_sysmon(&mut self, event: &Event) {
        let EventKind::NetworkConnect(n) = &event.kind else { return };
        let (Some(sip), Some(sport), Some(dip), Some(dport)) = (n.source_ip, n.source_port, n.destination_ip, n.destination_port) else {
            return;
        };
        let transport = n.protocol.as_deref().map_or(Transport::Other, Transport::from_name);
        let (local, remote) = (Endpoint { ip: sip, port: sport }, Endpoint { ip: dip, port: dport });
        let (client, server) = if n.initiated == Some(false) { (remote, local) } else { (local, remote) };
        if self.indexed >= self.config.max_connections {
            self.report.connections_not_indexed += 1;
            return;
        }
        let host = event.host.as_deref().unwrap_or("");
        let host = match self.hosts.get(host) {
            Some(h) => h.clone(),
            None => {
                let h: Arc<str> = Arc::from(host);
                self.hosts.insert(host.to_owned(), h.clone());
                h
            }
        };
        let same = self.index.entry(Tuple { transport, client, server }).or_default();
        // A 5-tuple reused over and over (a broadcast, a fixed source port) is judged on its
        // first uses; more would only cost time.
        if same.len() >= MAX_PER_TUPLE {
            self.report.connections_not_indexed += 1;
            return;
        }
        self.indexed += 1;
        same.push(Connection {
            time: event.time,
            host,
            process: n.process.clone(),
        });
    }

    /// Takes a wire event to join at the end; gives it back when no more can be held (it is then
    /// judged unjoined).
    pub fn hold(&mut self, event: Event) -> Option<Event> {
        if !self.config.enabled {
            return Some(event);
        }
        if self.held.len() >= self.config.max_held {
            self.report.not_held += 1;
            return Some(event);
        }
        self.held.push(event);
        None
    }

    /// Estimates the offsets, joins what can be joined, and gives back every held event (joined
    /// ones with the Sysmon host and process), in the order they were held.
    pub fn finish(mut self) -> (Vec<Event>, AttributionReport) {
        // 1. Offsets per sensor and host, from every 5-tuple match.
        let mut deltas: BTreeMap<(String, Arc<str>), Vec<i64>> = BTreeMap::new();
        for event in &self.held {
            let Some(tuple) = wire_tuple(event) else { continue };
            let Some(conns) = self.index.get(&tuple) else { continue };
            let sensor = sensor_of(&event.origin.file);
            for c in conns {
                deltas.entry((sensor.to_owned(), c.host.clone())).or_default().push(event.time.0.saturating_sub(c.time.0));
            }
        }
        let tolerance = i64::try_from(self.config.tolerance_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        let mut offsets: HashMap<(String, Arc<str>), i64> = HashMap::new();
        for ((sensor, host), mut d) in deltas {
            d.sort_unstable();
            let (offset, matches) = densest_median(&d, tolerance);
            self.report.offsets.push(SensorOffset {
                sensor: sensor.clone(),
                host: host.to_string(),
                offset_seconds: offset as f64 / 1000.0,
                matches,
            });
            offsets.insert((sensor, host), offset);
        }
        // 2. The join, within the tolerance after correcting.
        let mut held = std::mem::take(&mut self.held);
        for event in &mut held {
            let is_dns = matches!(event.kind, EventKind::WireDns(_));
            let joined = wire_tuple(event).and_then(|tuple| {
                let conns = self.index.get(&tuple)?;
                let sensor = sensor_of(&event.origin.file).to_owned();
                let best = conns
                    .iter()
                    .filter_map(|c| {
                        let offset = offsets.get(&(sensor.clone(), c.host.clone())).copied().unwrap_or(0);
                        let gap = event.time.0.saturating_sub(offset).saturating_sub(c.time.0).saturating_abs();
                        Some((gap, c)).filter(|_| gap <= tolerance)
                    })
                    .min_by_key(|(gap, _)| *gap);
                if best.is_none() {
                    self.report.outside_tolerance += 1;
                }
                best.map(|(_, c)| c.clone())
            });
            match (joined, is_dns) {
                (Some(c), dns) => {
                    event.host = Some(c.host.clone());
                    *event.process_mut() = c.process;
                    if dns {
                        self.report.dns_joined += 1;
                    } else {
                        self.report.flows_joined += 1;
                    }
                }
                (None, true) => self.report.dns_unjoined += 1,
                (None, false) => self.report.flows_unjoined += 1,
            }
        }
        (held, self.report)
    }
}

/// The median of the densest window of `tolerance` among sorted deltas, with how many fall in
/// it: a 5-tuple reused hours apart gives deltas hours off, which must not pull the offset.
fn densest_median(sorted: &[i64], tolerance: i64) -> (i64, u64) {
    let (mut best, mut lo) = ((0, 0), 0);
    for hi in 0..sorted.len() {
        while sorted[hi].saturating_sub(sorted[lo]) > tolerance {
            lo += 1;
        }
        if hi + 1 - lo > best.1 - best.0 {
            best = (lo, hi + 1);
        }
    }
    let w = &sorted[best.0..best.1];
    let median = if w.len() % 2 == 1 {
        w[w.len() / 2]
    } else {
        ((i128::from(w[w.len() / 2 - 1]) + i128::from(w[w.len() / 2])) / 2) as i64
    };
    (median, w.len() as u64)
}

#[cfg(test)]
mod tests;

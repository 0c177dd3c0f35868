//! Suricata EVE JSON: `dns` records in their three forms, `flow` and `tls`.
//!
//! - v1 (Suricata ≤ 4, and `version: 1`): one `query` record per question and one `answer`
//!   record per resource record of a response (an NXDOMAIN response is one record with no
//!   data). Consecutive answer records of one response are joined.
//! - v2 (Suricata 5–7): one `answer` record per response with an `answers` array.
//! - v3 (Suricata 8): `request` and `response` records with `queries` and `answers` arrays.
//!
//! A question and its response are paired by flow id and transaction id into one exchange; a
//! question without a response in the file becomes an exchange without one (at the end of the
//! file, in file order), a response without its question an exchange of its own. Other event
//! types (alerts, http, stats ...) are counted as other records.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::BufRead;
use std::sync::Arc;

use dnshunt_core::wire::rcode_from_name;
use dnshunt_core::{parse_ip, DnsFlags, Endpoint, Origin, ProcessRef, RecordType, Sensor, Timestamp, Transport, WireAnswer, WireFlow};
use serde_json::{Map, Value};

use crate::exchange::flow_event;
use crate::exchange::{exchange_event, orient, Exchange};
use crate::{WireCounts, WireOut};

/// Questions waiting for their response, at most; past it the oldest half is given up.
pub const MAX_PENDING: usize = 65_536;

struct Pending {
    exchange: Exchange,
    origin: Origin,
    line: u64,
}

/// Reads an EVE JSON stream.
pub fn read<R: BufRead>(reader: R, file: &Arc<str>, out: &mut dyn WireOut) {
    let mut state = State {
        pending: BTreeMap::new(),
        n_pending: 0,
        orphans: HashMap::new(),
        current: None,
        counts: WireCounts::default(),
        stopped: false,
    };
    let mut lines = crate::Lines::new(reader, file);
    while let Some((line, origin)) = lines.next(out) {
        if line.trim_ascii().is_empty() {
            continue;
        }
        let Some(record) = crate::json_object(line, &origin, out) else { continue };
        let line_no = origin.line.unwrap_or(0);
        state.record(&record, origin, line_no, out);
        if state.stopped {
            return;
        }
    }
    state.flush_current(out);
    let mut rest: Vec<Pending> = std::mem::take(&mut state.pending)
        .into_values()
        .flatten()
        .chain(state.orphans.drain().map(|(_, p)| p))
        .collect();
    rest.sort_unstable_by_key(|p| p.line);
    for p in rest {
        if !out.event(exchange_event(p.exchange, Sensor::Suricata, p.origin)) {
            return;
        }
    }
    out.counts(&state.counts);
}

/// Flow id, transaction id and question type: A and AAAA questions often share an id.
type Key = (u64, u16, u16);

struct State {
    pending: BTreeMap<Key, VecDeque<Pending>>,
    /// Questions in `pending`.
    n_pending: usize,
    /// Responses read before their question (EVE is not always written in time order).
    orphans: HashMap<Key, Pending>,
    /// A v1 response being joined from its answer records: key, exchange, origin.
    current: Option<(Key, Exchange, Origin, u64)>,
    counts: WireCounts,
    stopped: bool,
}

fn text<'a>(r: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    r.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn uint(r: &Map<String, Value>, key: &str) -> Option<u64> {
    match r.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn rtype(name: &str) -> RecordType {
    RecordType::from_name(name).unwrap_or(RecordType(0))
}

impl State {
    fn record(&mut self, r: &Map<String, Value>, origin: Origin, line: u64, out: &mut dyn WireOut) {
        // Records read well are counted; damaged ones are bad records only.
        let kind = text(r, "event_type").unwrap_or("");
        if !matches!(kind, "dns" | "flow" | "tls") {
            self.counts.records += 1;
            out.other(1);
            return;
        }
        let Some(time) = text(r, "timestamp").and_then(Timestamp::parse) else {
            out.bad(origin, "EVE record without a readable timestamp".to_owned(), 1);
            return;
        };
        let endpoints = (|| {
            let src = Endpoint {
                ip: parse_ip(text(r, "src_ip")?)?,
                port: uint(r, "src_port").unwrap_or(0) as u16,
            };
            let dst = Endpoint {
                ip: parse_ip(text(r, "dest_ip")?)?,
                port: uint(r, "dest_port").unwrap_or(0) as u16,
            };
            Some((src, dst))
        })();
        let Some((src, dst)) = endpoints else {
            out.bad(origin, "EVE record without readable src_ip/dest_ip".to_owned(), 1);
            return;
        };
        self.counts.records += 1;
        let transport = text(r, "proto").map_or(Transport::Other, Transport::from_name);
        let flow_id = uint(r, "flow_id");
        match kind {
            "dns" => {
                let Some(Value::Object(dns)) = r.get("dns") else {
                    out.bad(origin, "EVE dns record without a dns object".to_owned(), 1);
                    return;
                };
                let (client, server) = orient(src, dst);
                self.dns(dns, time, client, server, transport, flow_id.unwrap_or(0), origin, line, out);
            }
            _ => {
                let flow = r.get("flow").and_then(Value::as_object);
                let tls = r.get("tls").and_then(Value::as_object);
                let start = flow.and_then(|f| text(f, "start")).and_then(Timestamp::parse);
                let end = flow.and_then(|f| text(f, "end")).and_then(Timestamp::parse);
                let w = WireFlow {
                    process: ProcessRef::default(),
                    sensor: Sensor::Suricata,
                    transport,
                    client: src,
                    server: dst,
                    service: if kind == "tls" {
                        Some("tls".to_owned())
                    } else {
                        text(r, "app_proto").map(str::to_owned)
                    },
                    server_name: tls.and_then(|t| text(t, "sni")).map(|s| s.to_ascii_lowercase()),
                    duration_ms: start.zip(end).map(|(s, e)| e.0.saturating_sub(s.0).max(0) as u64),
                    client_bytes: flow.and_then(|f| uint(f, "bytes_toserver")),
                    server_bytes: flow.and_then(|f| uint(f, "bytes_toclient")),
                    uid: flow_id.map(|f| f.to_string()),
                };
                self.emit_event(flow_event(start.unwrap_or(time), origin, w), out);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn dns(
        &mut self,
        dns: &Map<String, Value>,
        time: Timestamp,
        client: Endpoint,
        server: Endpoint,
        transport: Transport,
        flow_id: u64,
        origin: Origin,
        line: u64,
        out: &mut dyn WireOut,
    ) {
        let id = uint(dns, "id").unwrap_or(0) as u16;
        let first_query = dns.get("queries").and_then(Value::as_array).and_then(|q| q.first()).and_then(Value::as_object);
        let qname = text(dns, "rrname").or_else(|| first_query.and_then(|q| text(q, "rrname")));
        let qtype = text(dns, "rrtype").or_else(|| first_query.and_then(|q| text(q, "rrtype")));
        let is_query = matches!(text(dns, "type"), Some("query" | "request"));
        let version = uint(dns, "version").unwrap_or(1);
        // In v1 an answer record's type is the record's, not the question's: its key has none,
        // and its question is found by flow and transaction id alone.
        let v1_answer = version == 1 && !is_query;
        let key_type = if v1_answer { 0 } else { qtype.map_or(0, |t| rtype(t).0) };
        let key = (flow_id, id, key_type);
        if self.current.as_ref().is_some_and(|(k, _, _, _)| *k != key || is_query) {
            self.flush_current(out);
        }
        // What a question or, without one, its response tells of the exchange.
        let asked = || Exchange {
            time,
            name: qname.unwrap_or("").to_owned(),
            qtype: qtype.map(|t| rtype(t).0),
            transport,
            client: Some(client),
            server: Some(server),
            transaction_id: Some(id),
            uid: Some(flow_id.to_string()),
            ..Exchange::default()
        };
        if is_query {
            self.counts.dns_queries += 1;
            let mut x = asked();
            x.flags.rd = dns.get("rd").and_then(Value::as_bool).unwrap_or(false);
            // Its response was read first: the pair is complete.
            if let Some(o) = self.orphans.remove(&key) {
                let mut r = o.exchange;
                r.rtt_ms = u32::try_from(r.time.0.saturating_sub(time.0)).ok();
                r.time = time;
                r.flags.rd |= x.flags.rd;
                self.emit(r, origin, out);
                return;
            }
            // Retransmissions (same flow, id and type) wait in order, answered in order.
            self.pending.entry(key).or_default().push_back(Pending { exchange: x, origin, line });
            self.n_pending += 1;
            if self.n_pending > MAX_PENDING {
                // Bounded: the older half is given up as unanswered, in file order.
                let mut all: Vec<Pending> = std::mem::take(&mut self.pending).into_values().flatten().collect();
                all.sort_unstable_by_key(|p| p.line);
                let keep = all.split_off(all.len() / 2);
                self.n_pending = keep.len();
                for p in keep {
                    let k = (
                        p.exchange.uid.as_deref().and_then(|u| u.parse().ok()).unwrap_or(0),
                        p.exchange.transaction_id.unwrap_or(0),
                        p.exchange.qtype.unwrap_or(0),
                    );
                    self.pending.entry(k).or_default().push_back(p);
                }
                for p in all {
                    self.emit(p.exchange, p.origin, out);
                }
            }
            return;
        }
        // A response (or, in v1, one record of it).
        let joining_v1 = version == 1 && self.current.as_ref().is_some_and(|(k, _, _, _)| *k == key);
        if !joining_v1 {
            self.counts.dns_responses += 1;
            // A v1 answer names the record, not the question: of the questions of its flow and
            // id, the one asking for its name, else the earliest.
            let found = if v1_answer {
                let candidates = self.pending.range((flow_id, id, 0)..=(flow_id, id, u16::MAX));
                let owner = qname.map(str::to_ascii_lowercase);
                let named = candidates
                    .clone()
                    .find(|(_, q)| q.front().is_some_and(|p| Some(p.exchange.name.to_ascii_lowercase()) == owner))
                    .map(|(k, _)| *k);
                named.or_else(|| candidates.min_by_key(|(_, q)| q.front().map_or(u64::MAX, |p| p.line)).map(|(k, _)| *k))
            } else {
                Some(key)
            };
            let question = found.and_then(|k| {
                let queue = self.pending.get_mut(&k)?;
                let q = queue.pop_front();
                if queue.is_empty() {
                    self.pending.remove(&k);
                }
                q
            });
            self.n_pending -= usize::from(question.is_some());
            let (mut x, origin, paired) = match question {
                Some(p) => {
                    let mut x = p.exchange;
                    x.rtt_ms = u32::try_from(time.0.saturating_sub(x.time.0)).ok();
                    (x, p.origin, u64::MAX)
                }
                None => (asked(), origin, line),
            };
            x.rcode = text(dns, "rcode").and_then(rcode_from_name).or(Some(0));
            let flag = |k: &str| dns.get(k).and_then(Value::as_bool).unwrap_or(false);
            x.flags = DnsFlags {
                aa: flag("aa"),
                tc: flag("tc"),
                rd: flag("rd"),
                ra: flag("ra"),
            };
            self.current = Some((key, x, origin, paired));
        }
        let Some((_, x, _, _)) = self.current.as_mut() else { return };
        if version == 1 {
            // The record itself is the answer (when it has data).
            if let (Some(t), Some(name)) = (qtype, text(dns, "rrname")) {
                if dns.contains_key("rdata") || dns.contains_key("ttl") {
                    push_answer(x, name, t, dns);
                }
            }
        } else if let Some(answers) = dns.get("answers").and_then(Value::as_array) {
            for a in answers.iter().filter_map(Value::as_object) {
                let name = text(a, "rrname").unwrap_or("");
                let t = text(a, "rrtype").unwrap_or("");
                push_answer(x, name, t, a);
            }
        }
        if version != 1 {
            self.flush_current(out);
        }
    }

    /// Ends the response being read: emitted when its question was read, else held until its
    /// question comes (or the file ends).
    fn flush_current(&mut self, out: &mut dyn WireOut) {
        let Some((key, x, origin, line)) = self.current.take() else { return };
        if line == u64::MAX {
            self.emit(x, origin, out);
            return;
        }
        if self.orphans.len() >= MAX_PENDING {
            // Bounded: past it, a response waits for nothing.
            self.emit(x, origin, out);
            return;
        }
        let new = Pending { exchange: x, origin, line };
        if let Some(earlier) = self.orphans.insert(key, new) {
            self.emit(earlier.exchange, earlier.origin, out);
        }
    }

    fn emit(&mut self, x: Exchange, origin: Origin, out: &mut dyn WireOut) {
        self.emit_event(exchange_event(x, Sensor::Suricata, origin), out);
    }

    fn emit_event(&mut self, event: dnshunt_core::Event, out: &mut dyn WireOut) {
        if !out.event(event) {
            self.stopped = true;
        }
    }
}

fn push_answer(x: &mut Exchange, name: &str, t: &str, a: &Map<String, Value>) {
    let rt = rtype(t);
    // Control characters (binary TXT data) escaped as the capture reader writes them.
    let data = match a.get("rdata") {
        Some(Value::String(s)) if s.chars().any(char::is_control) => {
            let mut out = String::with_capacity(s.len() + 16);
            for c in s.chars() {
                if c.is_control() && (c as u32) < 0x100 {
                    dnshunt_core::wire::escape_bytes(&[c as u8], &mut out);
                } else {
                    out.push(c);
                }
            }
            out
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    if matches!(rt, RecordType::A | RecordType::AAAA) {
        if let Some(ip) = parse_ip(&data) {
            x.addresses.push((rt, ip));
        }
    }
    let mut data = data;
    WireAnswer::cut_text(&mut data);
    x.answers.push(WireAnswer {
        name: name.to_ascii_lowercase(),
        rtype: rt,
        ttl: uint(a, "ttl").map(|t| t as u32),
        size: None,
        data,
    });
}

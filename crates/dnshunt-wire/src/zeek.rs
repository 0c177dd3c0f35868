//! Zeek logs: `dns.log` (one record per exchange) and `conn.log` (one per connection), in TSV
//! with `#separator`/`#fields` headers (also with extra columns, such as the `label` columns of
//! labelled datasets, and several header blocks in one file) or line-delimited JSON (flat
//! `id.orig_h` keys or a nested `id` object; `ts` as epoch seconds or ISO 8601). Other logs
//! (`http.log`, `ssl.log` ...) are counted as other records and skipped.

use std::io::BufRead;
use std::sync::Arc;

use dnshunt_core::{parse_ip, DnsFlags, Endpoint, Origin, ProcessRef, RecordType, Sensor, Timestamp, Transport, WireAnswer, WireFlow};
use serde_json::{Map, Value};

use crate::exchange::{exchange_event, flow_event, from_epoch_seconds, Exchange};
use crate::{WireCounts, WireOut};

/// Reads a Zeek TSV log.
pub fn read_tsv<R: BufRead>(reader: R, file: &Arc<str>, out: &mut dyn WireOut) {
    let mut counts = WireCounts::default();
    let mut header = TsvHeader::default();
    let mut lines = crate::Lines::new(reader, file);
    while let Some((line, origin)) = lines.next(out) {
        let text = String::from_utf8_lossy(line);
        if let Some(directive) = text.trim_start().strip_prefix('#') {
            header.directive(directive);
            continue;
        }
        if header.fields.is_empty() {
            out.bad(origin, "Zeek log line before any #fields header".to_owned(), 1);
            continue;
        }
        let values: Vec<&str> = text.split(header.separator.as_str()).collect();
        if values.len() < header.fields.len() {
            out.bad(origin, format!("{} columns where the #fields header names {}", values.len(), header.fields.len()), 1);
            continue;
        }
        let mut record = Map::new();
        for (i, (field, value)) in header.fields.iter().zip(&values).enumerate() {
            if *value == header.unset {
                continue;
            }
            let v = if *value == header.empty {
                Value::String(String::new())
            } else if header.types.get(i).is_some_and(|t| t.starts_with("vector") || t.starts_with("set")) {
                Value::Array(value.split(header.set_separator.as_str()).map(|s| Value::String(unescape(s))).collect())
            } else {
                Value::String(unescape(value))
            };
            record.insert(field.clone(), v);
        }
        let kind = header.kind();
        if !interpret(&record, kind, &origin, &mut counts, out) {
            return;
        }
    }
    out.counts(&counts);
}

/// Reads Zeek's line-delimited JSON (`dns.log`, `conn.log`, or several logs in one stream with
/// `_path`).
pub fn read_json<R: BufRead>(reader: R, file: &Arc<str>, out: &mut dyn WireOut) {
    let mut counts = WireCounts::default();
    let mut lines = crate::Lines::new(reader, file);
    while let Some((line, origin)) = lines.next(out) {
        if line.trim_ascii().is_empty() {
            continue;
        }
        let Some(mut record) = crate::json_object(line, &origin, out) else { continue };
        // `{"id": {"orig_h": ...}}` as some writers nest it.
        if let Some(Value::Object(id)) = record.remove("id") {
            for (k, v) in id {
                record.insert(format!("id.{k}"), v);
            }
        }
        let kind = match record.get("_path").and_then(Value::as_str) {
            Some("dns") => LogKind::Dns,
            Some("conn") => LogKind::Conn,
            Some(_) => LogKind::Other,
            None if record.contains_key("query") || record.contains_key("trans_id") => LogKind::Dns,
            None if record.contains_key("conn_state") || record.contains_key("orig_bytes") || record.contains_key("history") => LogKind::Conn,
            None => LogKind::Other,
        };
        if !interpret(&record, kind, &origin, &mut counts, out) {
            return;
        }
    }
    out.counts(&counts);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LogKind {
    Dns,
    Conn,
    Other,
}

struct TsvHeader {
    separator: String,
    set_separator: String,
    empty: String,
    unset: String,
    path: String,
    fields: Vec<String>,
    types: Vec<String>,
}

impl Default for TsvHeader {
    fn default() -> Self {
        TsvHeader {
            separator: "\t".to_owned(),
            set_separator: ",".to_owned(),
            empty: "(empty)".to_owned(),
            unset: "-".to_owned(),
            path: String::new(),
            fields: Vec::new(),
            types: Vec::new(),
        }
    }
}

impl TsvHeader {
    fn directive(&mut self, d: &str) {
        // `#separator \x09` is written with a space; the others with the separator itself.
        if let Some(sep) = d.strip_prefix("separator ") {
            self.separator = unescape(sep.trim());
            return;
        }
        let (name, value) = d.split_once(self.separator.as_str()).unwrap_or((d, ""));
        match name {
            "set_separator" => self.set_separator = unescape(value),
            "empty_field" => self.empty = value.to_owned(),
            "unset_field" => self.unset = value.to_owned(),
            "path" => self.path = value.to_owned(),
            "fields" => self.fields = value.split(self.separator.as_str()).map(str::to_owned).collect(),
            "types" => self.types = value.split(self.separator.as_str()).map(str::to_owned).collect(),
            _ => {}
        }
    }

    fn kind(&self) -> LogKind {
        match self.path.as_str() {
            "dns" => LogKind::Dns,
            "conn" => LogKind::Conn,
            "" if self.fields.iter().any(|f| f == "query") => LogKind::Dns,
            "" if self.fields.iter().any(|f| f == "conn_state") => LogKind::Conn,
            _ => LogKind::Other,
        }
    }
}

/// Zeek's `\xNN` escapes back to bytes (as text: bytes that are not UTF-8 stay escaped).
fn unescape(s: &str) -> String {
    if !s.contains("\\x") {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            if let Some(v) = b.get(i + 2..i + 4).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(text) => text,
        Err(_) => s.to_owned(),
    }
}

fn text<'a>(r: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    r.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn number(r: &Map<String, Value>, key: &str) -> Option<f64> {
    match r.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn boolean(r: &Map<String, Value>, key: &str) -> bool {
    match r.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "T" || s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn strings(r: &Map<String, Value>, key: &str) -> Vec<String> {
    match r.get(key) {
        Some(Value::Array(a)) => a.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn time(r: &Map<String, Value>) -> Option<Timestamp> {
    match r.get("ts")? {
        Value::String(s) => Timestamp::parse(s).or_else(|| s.parse::<f64>().ok().and_then(from_epoch_seconds)),
        Value::Number(n) => n.as_f64().and_then(from_epoch_seconds),
        _ => None,
    }
}

fn endpoint(r: &Map<String, Value>, host: &str, port: &str) -> Option<Endpoint> {
    Some(Endpoint {
        ip: parse_ip(text(r, host)?)?,
        port: number(r, port).map_or(0, |p| p as u16),
    })
}

/// One record of a known log into an event; false when nobody listens any more.
fn interpret(r: &Map<String, Value>, kind: LogKind, origin: &Origin, counts: &mut WireCounts, out: &mut dyn WireOut) -> bool {
    // Records read well are counted; damaged ones are bad records only.
    if kind == LogKind::Other {
        counts.records += 1;
        out.other(1);
        return true;
    }
    let Some(time) = time(r) else {
        out.bad(origin.clone(), "Zeek record without a readable ts".to_owned(), 1);
        return true;
    };
    let (Some(client), Some(server)) = (endpoint(r, "id.orig_h", "id.orig_p"), endpoint(r, "id.resp_h", "id.resp_p")) else {
        out.bad(origin.clone(), "Zeek record without readable id.orig_h/id.resp_h addresses".to_owned(), 1);
        return true;
    };
    counts.records += 1;
    let transport = text(r, "proto").map_or(Transport::Other, Transport::from_name);
    let uid = text(r, "uid").map(str::to_owned);
    let event = match kind {
        LogKind::Dns => {
            let Some(name) = text(r, "query") else {
                // A response with an empty question (a DC's SERVFAIL) names nothing to judge.
                counts.dns_responses += u64::from(r.contains_key("rcode"));
                out.other(1);
                return true;
            };
            counts.dns_queries += 1;
            let rcode = number(r, "rcode").map(|c| c as u16);
            counts.dns_responses += u64::from(rcode.is_some());
            let qtype = number(r, "qtype").map(|t| t as u16);
            let answers = strings(r, "answers");
            let ttls = strings(r, "TTLs");
            let mut x = Exchange {
                time,
                name: name.to_owned(),
                qtype,
                qclass: number(r, "qclass").map(|c| c as u16),
                rcode,
                flags: DnsFlags {
                    aa: boolean(r, "AA"),
                    tc: boolean(r, "TC"),
                    rd: boolean(r, "RD"),
                    ra: boolean(r, "RA"),
                },
                transport,
                client: Some(client),
                server: Some(server),
                transaction_id: number(r, "trans_id").map(|t| t as u16),
                rtt_ms: number(r, "rtt").map(|s| (s * 1000.0).round() as u32),
                uid,
                ..Exchange::default()
            };
            for (i, a) in answers.into_iter().enumerate() {
                let ttl = ttls.get(i).and_then(|t| t.parse::<f64>().ok()).map(|t| t as u32);
                let (rtype, data) = if let Some(ip) = parse_ip(&a) {
                    let t = if ip.is_ipv4() { RecordType::A } else { RecordType::AAAA };
                    x.addresses.push((t, ip));
                    (t, a)
                } else if let Some(txt) = a.strip_prefix("TXT ") {
                    // `TXT <length> <text>`.
                    let body = txt.split_once(' ').map_or(txt, |(_, t)| t);
                    (RecordType::TXT, body.to_owned())
                } else {
                    let t = match qtype {
                        Some(t @ (2 | 12 | 15 | 33)) => RecordType(t),
                        _ => RecordType::CNAME,
                    };
                    (t, a)
                };
                x.answers.push(WireAnswer {
                    name: name.to_ascii_lowercase(),
                    rtype,
                    ttl,
                    size: None,
                    data,
                });
            }
            exchange_event(x, Sensor::Zeek, origin.clone())
        }
        LogKind::Conn | LogKind::Other => flow_event(
            time,
            origin.clone(),
            WireFlow {
                process: ProcessRef::default(),
                sensor: Sensor::Zeek,
                transport,
                client,
                server,
                service: text(r, "service").map(str::to_owned),
                server_name: None,
                duration_ms: number(r, "duration").map(|d| (d * 1000.0).round() as u64),
                client_bytes: number(r, "orig_bytes").map(|b| b as u64),
                server_bytes: number(r, "resp_bytes").map(|b| b as u64),
                uid,
            },
        ),
    };
    out.event(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_zeek_bytes() {
        assert_eq!(unescape("\\x09"), "\t");
        assert_eq!(unescape("a\\x2eb"), "a.b");
        // Bytes that are not UTF-8 stay escaped.
        assert_eq!(unescape("a\\xffb"), "a\\xffb");
        assert_eq!(unescape("plain"), "plain");
    }
}

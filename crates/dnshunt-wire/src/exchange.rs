//! One DNS exchange, from any sensor, into the event model.

use std::net::IpAddr;

use dnshunt_core::wire::status_of_rcode;
use dnshunt_core::{Answer, AnswerData, DnsFlags, DnsName, DnsQuery, Endpoint, Event, EventKind, Origin, RecordType, Sensor, Timestamp, Transport, WireAnswer, WireDns, WireFlow};

/// What a reader knows of one exchange.
#[derive(Clone, Debug, Default)]
pub struct Exchange {
    /// When the question was asked (or, without a question, when the response came).
    pub time: Timestamp,
    pub name: String,
    pub qtype: Option<u16>,
    pub qclass: Option<u16>,
    pub rcode: Option<u16>,
    pub flags: DnsFlags,
    pub answers: Vec<WireAnswer>,
    /// Addresses of the A and AAAA answers (kept apart so they need not be parsed back).
    pub addresses: Vec<(RecordType, IpAddr)>,
    pub transport: Transport,
    pub client: Option<Endpoint>,
    pub server: Option<Endpoint>,
    pub transaction_id: Option<u16>,
    pub query_bytes: Option<u32>,
    pub response_bytes: Option<u32>,
    pub rtt_ms: Option<u32>,
    pub uid: Option<String>,
}

/// The event of an exchange: the host is the client's address (what the sensor knows of the
/// endpoint), the lookup carries the name, a status derived from the response code, and the
/// answers in Sysmon's form (addresses, and names for CNAME, PTR, NS, MX, SRV, DNAME).
pub fn exchange_event(x: Exchange, sensor: Sensor, origin: Origin) -> Event {
    let mut answers = Vec::with_capacity(x.answers.len());
    let mut ips = x.addresses.iter();
    for a in &x.answers {
        let data = match a.rtype.0 {
            1 | 28 => match ips.next() {
                Some(&(_, ip)) => AnswerData::Ip(ip),
                None => AnswerData::Empty,
            },
            2 | 5 | 12 | 39 => AnswerData::Name(a.data.trim_end_matches('.').to_ascii_lowercase()),
            15 | 33 => match a.data.rsplit(' ').next() {
                Some(n) if !n.is_empty() => AnswerData::Name(n.trim_end_matches('.').to_ascii_lowercase()),
                _ => AnswerData::Empty,
            },
            _ => AnswerData::Empty,
        };
        answers.push(Answer { rtype: a.rtype, data });
    }
    let status = status_of_rcode(x.rcode, x.answers.len());
    let host = x.client.map(|c| dnshunt_core::shared(&c.ip.to_string()));
    Event {
        time: x.time,
        host,
        record_id: None,
        rule_name: None,
        origin,
        kind: EventKind::WireDns(Box::new(WireDns {
            lookup: DnsQuery {
                answers,
                ..DnsQuery::new(DnsName::new(&x.name), status)
            },
            sensor,
            transport: x.transport,
            client: x.client,
            server: x.server,
            transaction_id: x.transaction_id,
            qtype: x.qtype.map(RecordType),
            qclass: x.qclass,
            rcode: x.rcode,
            flags: x.flags,
            records: x.answers,
            query_bytes: x.query_bytes,
            response_bytes: x.response_bytes,
            rtt_ms: x.rtt_ms,
            uid: x.uid,
        })),
    }
}

/// The event of a connection: the host is the client's address.
pub(crate) fn flow_event(time: Timestamp, origin: Origin, flow: WireFlow) -> Event {
    Event {
        time,
        host: Some(dnshunt_core::shared(&flow.client.ip.to_string())),
        record_id: None,
        rule_name: None,
        origin,
        kind: EventKind::WireFlow(Box::new(flow)),
    }
}

/// Seconds since the epoch (Zeek's `ts`, a pcap's packet time) as a timestamp.
pub(crate) fn from_epoch_seconds(secs: f64) -> Option<Timestamp> {
    if !secs.is_finite() || secs.abs() > 1e11 {
        return None;
    }
    Some(Timestamp((secs * 1000.0).floor() as i64))
}

/// Ensures a client/server orientation: the DNS server is the side on port 53 (or 5353, 5355,
/// 853), the client the other.
pub(crate) fn orient(a: Endpoint, b: Endpoint) -> (Endpoint, Endpoint) {
    let server_port = |p: u16| matches!(p, 53 | 5353 | 5355 | 853);
    if server_port(a.port) && !server_port(b.port) {
        (b, a)
    } else {
        (a, b)
    }
}

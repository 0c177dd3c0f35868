//! Zeek and Suricata documents in ECS, as Filebeat's modules and Elastic Agent's integrations
//! ship them to Elasticsearch (`event.module: zeek|suricata`): `dns.*`, `source.*`,
//! `destination.*`, `network.transport`, `tls.client.server_name`, `@timestamp`. The document
//! visitor of `dnshunt-source` reads them into a [`RawRecord`] like every other shape; this
//! turns one into a wire event.
//!
//! - Zeek `dns` (`event.dataset: zeek.dns`): one exchange per document.
//! - Suricata `dns` (`suricata.eve`): the answer documents (`dns.type: answer`, which carry the
//!   question) are exchanges; the question documents are counted as other records, so an
//!   exchange is not counted twice (a question never answered is not seen).
//! - Zeek `connection` and `ssl`, and Suricata `flow`/`tls` (by `suricata.eve.event_type`):
//!   connections, with the TLS server name.

use dnshunt_core::wire::rcode_from_name;
use dnshunt_core::{parse_ip, Endpoint, Event, Field, Origin, RawRecord, RecordType, Sensor, Timestamp, Transport, WireAnswer, WireFlow};

use crate::exchange::{exchange_event, flow_event, orient, Exchange};

/// What one ECS document is.
#[derive(Debug)]
pub enum EcsWire {
    Event(Box<Event>),
    /// A document of the module that is neither an exchange nor a connection.
    Other,
    /// A document that should be one and cannot be read.
    Bad(String),
}

/// Whether a record is a Zeek or Suricata document (by `event.module`, or `event.dataset`).
pub fn is_wire(raw: &RawRecord<'_>) -> bool {
    let module = raw.ecs.module.as_deref().or_else(|| raw.ecs.dataset.as_deref().and_then(|d| d.split('.').next()));
    matches!(module, Some("zeek" | "suricata"))
}

fn text<'r>(raw: &'r RawRecord<'_>, field: Field) -> Option<std::borrow::Cow<'r, str>> {
    raw.get(field).map(|v| v.as_text())
}

/// The wire event of a Zeek or Suricata document.
pub fn wire_event(raw: &RawRecord<'_>, origin: Origin) -> EcsWire {
    let sensor = if raw.ecs.module.as_deref() == Some("suricata") || raw.ecs.dataset.as_deref().is_some_and(|d| d.starts_with("suricata")) {
        Sensor::Suricata
    } else {
        Sensor::Zeek
    };
    let Some(time) = raw.ecs.timestamp.as_deref().and_then(Timestamp::parse) else {
        return EcsWire::Bad("Zeek/Suricata document without a readable @timestamp".to_owned());
    };
    let endpoint = |ip: Field, port: Field| {
        Some(Endpoint {
            ip: parse_ip(&text(raw, ip)?)?,
            port: text(raw, port).and_then(|p| p.trim().parse().ok()).unwrap_or(0),
        })
    };
    let (Some(src), Some(dst)) = (endpoint(Field::SourceIp, Field::SourcePort), endpoint(Field::DestinationIp, Field::DestinationPort)) else {
        return match raw.ecs.dataset.as_deref() {
            Some("zeek.dns" | "zeek.connection") => EcsWire::Bad("Zeek document without readable source.ip/destination.ip".to_owned()),
            _ => EcsWire::Other,
        };
    };
    let transport = text(raw, Field::Protocol).map_or(Transport::Other, |p| Transport::from_name(&p));
    if let Some(name) = text(raw, Field::QueryName) {
        // Suricata's question documents: their answer documents carry the question.
        if sensor == Sensor::Suricata && raw.ecs.dns_type.as_deref() == Some("query") {
            return EcsWire::Other;
        }
        let (client, server) = orient(src, dst);
        let mut x = Exchange {
            time,
            name: name.into_owned(),
            qtype: raw.ecs.dns_question_type.as_deref().and_then(RecordType::from_name).map(|t| t.0),
            rcode: raw.ecs.dns_response_code.as_deref().and_then(rcode_from_name),
            transport,
            client: Some(client),
            server: Some(server),
            transaction_id: raw.ecs.dns_id.and_then(|i| u16::try_from(i).ok()),
            ..Exchange::default()
        };
        for (rtype, data) in &raw.ecs.answers {
            let rtype = RecordType::from_name(rtype).unwrap_or(RecordType(0));
            if matches!(rtype, RecordType::A | RecordType::AAAA) {
                if let Some(ip) = parse_ip(data) {
                    x.addresses.push((rtype, ip));
                }
            }
            x.answers.push(WireAnswer {
                name: x.name.to_ascii_lowercase(),
                rtype,
                ttl: None,
                size: None,
                data: data.to_string(),
            });
        }
        return EcsWire::Event(Box::new(exchange_event(x, sensor, origin)));
    }
    // Zeek's connection and TLS logs; Suricata's flow and tls events (its alerts, http, files
    // ... share the dataset `suricata.eve`).
    let is_flow = match sensor {
        Sensor::Suricata => matches!(raw.ecs.suricata_event_type.as_deref(), Some("flow" | "tls")),
        _ => matches!(raw.ecs.dataset.as_deref(), Some("zeek.connection" | "zeek.ssl")),
    } || raw.ecs.tls_server_name.is_some();
    if !is_flow {
        return EcsWire::Other;
    }
    let mut flow = WireFlow::new(sensor, transport, src, dst);
    flow.server_name = raw.ecs.tls_server_name.as_deref().map(str::to_ascii_lowercase);
    flow.service = flow.server_name.as_ref().map(|_| "tls".to_owned());
    flow.duration_ms = raw.ecs.duration_ns.map(|ns| ns / 1_000_000);
    flow.client_bytes = raw.ecs.source_bytes;
    flow.server_bytes = raw.ecs.destination_bytes;
    EcsWire::Event(Box::new(flow_event(time, origin, flow)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dnshunt_core::RawValue;
    use std::borrow::Cow;
    use std::sync::Arc;

    fn base(module: &'static str, dataset: &'static str) -> RawRecord<'static> {
        let mut r = RawRecord::default();
        r.ecs.module = Some(Cow::Borrowed(module));
        r.ecs.dataset = Some(Cow::Borrowed(dataset));
        r.ecs.timestamp = Some(Cow::Borrowed("2024-03-12T08:49:20.611Z"));
        r.set(Field::SourceIp, RawValue::Str(Cow::Borrowed("10.0.0.5")));
        r.set(Field::SourcePort, RawValue::Int(50_000));
        r.set(Field::DestinationIp, RawValue::Str(Cow::Borrowed("10.0.0.53")));
        r.set(Field::DestinationPort, RawValue::Int(53));
        r.set(Field::Protocol, RawValue::Str(Cow::Borrowed("udp")));
        r
    }

    fn origin() -> Origin {
        Origin::line(&Arc::from("es://zeek"), 1)
    }

    #[test]
    fn a_zeek_dns_document_is_an_exchange() {
        let mut r = base("zeek", "zeek.dns");
        r.set(Field::QueryName, RawValue::Str(Cow::Borrowed("a.example.org")));
        r.ecs.dns_question_type = Some(Cow::Borrowed("A"));
        r.ecs.dns_response_code = Some(Cow::Borrowed("NXDOMAIN"));
        r.ecs.dns_id = Some(4660);
        assert!(is_wire(&r));
        let EcsWire::Event(e) = wire_event(&r, origin()) else { panic!() };
        let w = e.wire_dns().unwrap();
        assert_eq!(
            (w.lookup.query.as_str(), w.rcode, w.transaction_id, w.sensor),
            ("a.example.org", Some(3), Some(4660), Sensor::Zeek)
        );
        assert!(w.lookup.status.is_nxdomain());
        assert_eq!(e.host.as_deref(), Some("10.0.0.5"));
        assert_eq!(w.server.unwrap().port, 53);
    }

    #[test]
    fn suricata_answers_count_and_questions_do_not() {
        let mut q = base("suricata", "suricata.eve");
        q.set(Field::QueryName, RawValue::Str(Cow::Borrowed("t.evil.example")));
        q.ecs.dns_type = Some(Cow::Borrowed("query"));
        assert!(matches!(wire_event(&q, origin()), EcsWire::Other));
        let mut a = q.clone();
        a.ecs.dns_type = Some(Cow::Borrowed("answer"));
        a.ecs.dns_response_code = Some(Cow::Borrowed("NOERROR"));
        a.ecs.answers = vec![(Cow::Borrowed("TXT"), Cow::Borrowed("aGVsbG8=")), (Cow::Borrowed("A"), Cow::Borrowed("192.0.2.7"))];
        let EcsWire::Event(e) = wire_event(&a, origin()) else { panic!() };
        let w = e.wire_dns().unwrap();
        assert_eq!((w.sensor, w.records.len(), w.records[0].data.as_str()), (Sensor::Suricata, 2, "aGVsbG8="));
        assert_eq!(w.lookup.addresses().next(), Some("192.0.2.7".parse().unwrap()));
    }

    #[test]
    fn connections_carry_bytes_and_server_names() {
        let mut c = base("zeek", "zeek.connection");
        c.ecs.source_bytes = Some(100);
        c.ecs.destination_bytes = Some(2000);
        c.ecs.duration_ns = Some(1_500_000_000);
        let EcsWire::Event(e) = wire_event(&c, origin()) else { panic!() };
        let f = e.wire_flow().unwrap();
        assert_eq!((f.client_bytes, f.server_bytes, f.duration_ms), (Some(100), Some(2000), Some(1500)));
        // A Suricata alert is not a connection; its flow is.
        let mut alert = base("suricata", "suricata.eve");
        alert.ecs.suricata_event_type = Some(Cow::Borrowed("alert"));
        assert!(matches!(wire_event(&alert, origin()), EcsWire::Other));
        alert.ecs.suricata_event_type = Some(Cow::Borrowed("flow"));
        assert!(matches!(wire_event(&alert, origin()), EcsWire::Event(_)));
        let mut t = base("suricata", "suricata.eve");
        t.ecs.tls_server_name = Some(Cow::Borrowed("Dns.Google"));
        let EcsWire::Event(e) = wire_event(&t, origin()) else { panic!() };
        assert_eq!(e.wire_flow().unwrap().server_name.as_deref(), Some("dns.google"));
        // A Zeek document of another log (http) without a question is other.
        assert!(matches!(wire_event(&base("zeek", "zeek.http"), origin()), EcsWire::Other));
        // A Sysmon document is not wire.
        let mut s = RawRecord::default();
        s.ecs.module = Some(Cow::Borrowed("sysmon"));
        assert!(!is_wire(&s));
    }
}

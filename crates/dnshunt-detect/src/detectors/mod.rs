//! One detector per file. Each file starts with a `//!` header (what it flags, why attackers
//! cause it, the ATT&CK technique, false positives) from which `docs/detectors.md` is generated.

pub mod beacon;
pub mod blocklist;
pub mod connection_without_lookup;
pub mod dga;
pub mod direct_dns;
pub mod doh_connection;
pub mod doh_lookup;
pub mod encoded_name;
pub mod first_seen;
pub mod geo;
pub mod kerberos_client;
pub mod lookalike;
pub mod lookup_without_connection;
pub mod nxdomain_storm;
pub mod outlier;
pub mod process_context;
pub mod record_type;
pub mod related_lookup;
pub mod resolver_bypass;
pub mod special_name;
pub mod tunnel_tool;
pub mod tunnel_volume;
pub mod wire_answer;
pub mod wire_doh;
pub mod wire_resolver;
pub mod wire_tunnel;
pub mod young_domain;

use dnshunt_core::Event;

/// The short image name of the event's process, or `unknown process`.
pub(crate) fn who(event: &Event) -> String {
    match event.process().image_name() {
        Some(image) => image,
        // What the network saw, not joined to a process: the client's address.
        None if !event.kind.is_sysmon() => format!("{} (on the wire)", event.host.as_deref().unwrap_or("an unknown client")),
        None => "unknown process".to_owned(),
    }
}

/// The event's `ProcessGuid` as a finding key; when it is missing or all zeros (short-lived
/// processes), the pid and image, so two such processes do not share findings.
pub(crate) fn guid_key(event: &Event) -> String {
    let p = event.process();
    process_key(p.guid, p.pid, p.image.as_deref())
}

/// The one key of "this process" for findings, aggregation and `related_lookup`: the GUID, or
/// the pid and image when the GUID is missing or all zeros.
pub(crate) fn process_key(guid: Option<dnshunt_core::Guid>, pid: Option<u32>, image: Option<&str>) -> String {
    match guid {
        Some(g) if !g.is_nil() => g.to_string(),
        _ => format!("pid:{}|{}", pid.unwrap_or(0), image.unwrap_or("").to_lowercase()),
    }
}

/// Whether `key` ([`guid_key`]) is the key of `event`'s process, without making the key when
/// the process has a GUID (the text of a GUID is what [`process_key`] writes for it).
pub(crate) fn process_key_is(key: &str, event: &Event) -> bool {
    match event.process().guid {
        Some(guid) if !guid.is_nil() => key == guid.text(&mut [0; 38]),
        _ => key == guid_key(event),
    }
}

/// A finding's score for its severity, where a detector has no finer measure.
pub(crate) fn score_of(severity: dnshunt_core::Severity) -> u8 {
    use dnshunt_core::Severity;
    match severity {
        Severity::Critical => 95,
        Severity::High => 85,
        Severity::Medium => 55,
        Severity::Low => 30,
        Severity::Info => 10,
    }
}

/// DNS blocklists (DNSBLs): mail filters look addresses up under them, and every address not
/// listed fails (NXDOMAIN), hundreds a day, under long reversed-address names.
pub(crate) const DNS_BLOCKLISTS: &[&str] = &[
    "spamhaus.org",
    "spamcop.net",
    "sorbs.net",
    "barracudacentral.org",
    "surbl.org",
    "uribl.com",
    "mailspike.net",
    "abuseat.org",
];

/// Minimal events for detector tests.
#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use dnshunt_core::*;

    fn base(kind: EventKind) -> Event {
        Event {
            time: Timestamp::parse("2019-06-25 14:09:41.467").unwrap(),
            host: Some("WIN10-LAB".into()),
            record_id: None,
            rule_name: None,
            origin: Origin::line(&Arc::from("test.ndjson"), 1),
            kind,
        }
    }

    fn process() -> ProcessRef {
        ProcessRef {
            guid: Guid::parse("{22052e76-6f9d-5d13-0000-0010d31f0c00}"),
            pid: Some(6484),
            image: Some("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe".into()),
            user: None,
        }
    }

    /// An EID 22 with `QueryResults` in Sysmon's string form.
    pub fn dns(name: &str, results: &str) -> Event {
        let mut answers = Vec::new();
        parse_query_results(results, &mut answers);
        base(EventKind::DnsQuery(DnsQuery {
            process: process(),
            query: DnsName::new(name),
            status: QueryStatus::SUCCESS,
            answers,
            results_raw: results.into(),
        }))
    }

    /// A DNS exchange seen on the wire from 10.0.0.5 to the resolver 10.0.0.53, answered with
    /// `records` (type, data, size).
    pub fn wire(name: &str, qtype: u16, records: &[(u16, &str, u32)]) -> Event {
        let answers: Vec<WireAnswer> = records
            .iter()
            .map(|(t, data, size)| WireAnswer {
                name: name.to_owned(),
                rtype: RecordType(*t),
                ttl: Some(0),
                size: Some(*size),
                data: (*data).to_owned(),
            })
            .collect();
        let client = Endpoint {
            ip: "10.0.0.5".parse().unwrap(),
            port: 50_000,
        };
        Event {
            host: Some("10.0.0.5".into()),
            ..base(EventKind::WireDns(Box::new(WireDns {
                client: Some(client),
                server: Some(Endpoint {
                    ip: "10.0.0.53".parse().unwrap(),
                    port: 53,
                }),
                transaction_id: Some(1),
                qtype: Some(RecordType(qtype)),
                qclass: Some(1),
                rcode: Some(0),
                records: answers,
                query_bytes: Some(name.len() as u32 + 18),
                response_bytes: Some(name.len() as u32 + 18 + records.iter().map(|r| r.2 + 12).sum::<u32>()),
                rtt_ms: Some(1),
                ..WireDns::new(DnsQuery::new(DnsName::new(name), QueryStatus::SUCCESS), Sensor::Pcap, Transport::Udp)
            })))
        }
    }

    /// A connection seen on the wire from 10.0.0.5 to `ip:port`, with a TLS server name.
    pub fn wire_flow(ip: &str, port: u16, sni: Option<&str>) -> Event {
        let mut flow = WireFlow::new(
            Sensor::Zeek,
            Transport::Tcp,
            Endpoint {
                ip: "10.0.0.5".parse().unwrap(),
                port: 50_001,
            },
            Endpoint { ip: ip.parse().unwrap(), port },
        );
        flow.server_name = sni.map(str::to_owned);
        Event {
            host: Some("10.0.0.5".into()),
            ..base(EventKind::WireFlow(Box::new(flow)))
        }
    }

    /// `event` as attribution leaves it: joined to the process `image` on WIN10-LAB.
    pub fn attributed(mut event: Event, image: &str) -> Event {
        let p = ProcessRef {
            image: Some(image.into()),
            ..process()
        };
        *event.process_mut() = p;
        event.host = Some("WIN10-LAB".into());
        event
    }

    /// An EID 3 to `ip:port`.
    pub fn net(ip: &str, port: u16) -> Event {
        base(EventKind::NetworkConnect(Box::new(NetworkConnect {
            process: process(),
            protocol: Some("tcp".into()),
            destination_ip: ip.parse().ok(),
            destination_port: Some(port),
            ..Default::default()
        })))
    }
}

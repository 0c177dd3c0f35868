//! One detector per file. Each file starts with a `//!` header (what it flags, why attackers
//! cause it, the ATT&CK technique, false positives) from which `docs/detectors.md` is generated.

pub mod beacon;
pub mod blocklist;
pub mod connection_without_lookup;
pub mod dga;
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
pub mod tunnel_volume;
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

    /// An EID 3 to `ip:port`.
    pub fn net(ip: &str, port: u16) -> Event {
        base(EventKind::NetworkConnect(NetworkConnect {
            process: process(),
            protocol: Some("tcp".into()),
            destination_ip: ip.parse().ok(),
            destination_port: Some(port),
            ..Default::default()
        }))
    }
}

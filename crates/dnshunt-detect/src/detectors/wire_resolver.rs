//! # wire_resolver
//!
//! **What:** DNS on the wire sent to a public server that is not one of the network's
//! resolvers. Resolvers are learned from the traffic itself — a server answering DNS for at
//! least `min_clients` distinct clients — and listed in `resolvers` (also `[resolvers]`); a
//! client (or, joined by attribution, a process) that sends its questions to another server at
//! a public address is reported with the count and examples. Without any learned or listed
//! resolver nothing is judged.
//!
//! **Why:** malware and tunnels that bring their own resolver (hard-coded `8.8.8.8`, a C2
//! server answering DNS itself) bypass the sanctioned resolvers, their logging and their
//! filtering. From Sysmon alone this is an EID 3 to port 53 (`resolver_bypass`); on the wire
//! the questions themselves are known.
//!
//! **ATT&CK:** T1071.004 (Application Layer Protocol: DNS), T1568 (Dynamic Resolution).
//!
//! **False positives:** devices with their own DNS settings (appliances, developer machines,
//! VPN clients), and resolvers this network uses that served too few clients to be learned: list
//! them in `resolvers`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use dnshunt_core::{BoundReached, Detector, Event, Finding, FindingSink, Severity, Timestamp};
use serde::Deserialize;

use crate::detectors::{guid_key, who};
use crate::fast::{HashMap, HashSet};
use crate::stats::is_public;

/// Settings of the `wire_resolver` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WireResolverConfig {
    /// Distinct clients a server must answer to be learned as one of the network's resolvers.
    pub min_clients: usize,
    /// The network's resolvers (addresses), in addition to those learned.
    pub resolvers: Vec<String>,
    /// Questions to a server that is not a resolver before a client is reported.
    pub min_questions: u64,
    /// (client or process, server) pairs followed, and servers counted, at most each.
    pub max_pairs: usize,
}

impl Default for WireResolverConfig {
    fn default() -> Self {
        WireResolverConfig {
            min_clients: 3,
            resolvers: Vec::new(),
            min_questions: 3,
            max_pairs: 100_000,
        }
    }
}

struct Pair {
    first: Event,
    questions: u64,
    last: Timestamp,
    names: Vec<String>,
}

pub struct WireResolver {
    config: WireResolverConfig,
    listed: HashSet<IpAddr>,
    /// Per server on port 53: its distinct clients (up to `min_clients`).
    clients: HashMap<IpAddr, HashSet<IpAddr>>,
    pairs: BTreeMap<(std::sync::Arc<str>, String, IpAddr), Pair>,
    dropped: u64,
}

impl WireResolver {
    pub const NAME: &'static str = "wire_resolver";

    pub fn new(config: WireResolverConfig) -> WireResolver {
        let listed = config.resolvers.iter().filter_map(|r| dnshunt_core::parse_ip(r)).collect();
        WireResolver {
            config,
            listed,
            clients: HashMap::default(),
            pairs: BTreeMap::new(),
            dropped: 0,
        }
    }
}

impl Detector for WireResolver {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn sees_wire(&self) -> bool {
        true
    }

    fn observe(&mut self, event: &Event, _out: &mut Vec<Finding>) {
        let Some(w) = event.wire_dns() else { return };
        let (Some(client), Some(server)) = (w.client, w.server) else { return };
        if server.port != 53 || server.ip.is_multicast() {
            return;
        }
        if !self.clients.contains_key(&server.ip) && self.clients.len() >= self.config.max_pairs {
            self.dropped += 1;
        } else {
            let seen = self.clients.entry(server.ip).or_default();
            if seen.len() < self.config.min_clients {
                seen.insert(client.ip);
            }
        }
        if !is_public(server.ip) {
            return;
        }
        let key = (event.host.clone().unwrap_or_default(), guid_key(event), server.ip);
        let full = self.pairs.len() >= self.config.max_pairs;
        let pair = match self.pairs.get_mut(&key) {
            Some(p) => p,
            None if full => {
                self.dropped += 1;
                return;
            }
            None => self.pairs.entry(key).or_insert_with(|| Pair {
                first: event.clone(),
                questions: 0,
                last: event.time,
                names: Vec::new(),
            }),
        };
        if crate::stats::is_earlier(event, &pair.first) {
            pair.first = event.clone();
        }
        pair.questions += 1;
        pair.last = pair.last.max(event.time);
        let name = w.lookup.query.as_str();
        if pair.names.len() < 3 && !pair.names.iter().any(|n| n == name) {
            pair.names.push(name.to_owned());
        }
    }

    fn finish(&mut self, out: &mut dyn FindingSink) {
        let learned: Vec<IpAddr> = self.clients.iter().filter(|(_, c)| c.len() >= self.config.min_clients).map(|(s, _)| *s).collect();
        let mut resolvers: Vec<IpAddr> = learned.iter().chain(&self.listed).copied().collect();
        resolvers.sort_unstable();
        resolvers.dedup();
        if resolvers.is_empty() {
            return;
        }
        let shown: Vec<String> = resolvers.iter().take(3).map(IpAddr::to_string).collect();
        for ((_, guid, server), p) in std::mem::take(&mut self.pairs) {
            if resolvers.contains(&server) || p.questions < self.config.min_questions {
                continue;
            }
            let attributed = p.first.process().image.is_some();
            let (severity, score) = if attributed { (Severity::Medium, 60) } else { (Severity::Low, 35) };
            let explanation = format!(
                "{} sent {} DNS questions to {server}, which is not one of this network's resolvers ({}{}), e.g. {}",
                who(&p.first),
                p.questions,
                shown.join(", "),
                if resolvers.len() > 3 { ", …" } else { "" },
                p.names.join(", ")
            );
            let mut f = Finding::from_event(Self::NAME, severity, score, &p.first, &[&guid, &server.to_string()], explanation)
                .with_attack(&["T1071.004", "T1568"])
                .with_detail("server", server.to_string())
                .with_detail("questions", p.questions)
                .with_detail("resolvers", shown.clone())
                .with_detail("example_names", p.names.clone());
            f.count = p.questions;
            f.time_last = p.last;
            out.push(f);
        }
    }

    fn bounds_reached(&self) -> Vec<BoundReached> {
        BoundReached::all([BoundReached::of(Self::NAME, "max_pairs", self.config.max_pairs, self.dropped)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::tests::{attributed, wire};
    use dnshunt_core::{Endpoint, EventKind};

    /// An exchange of `client` with `server` port 53.
    fn ex(name: &str, client: &str, server: &str) -> Event {
        let mut e = wire(name, 1, &[]);
        if let EventKind::WireDns(w) = &mut e.kind {
            w.client = Some(Endpoint {
                ip: client.parse().unwrap(),
                port: 50_000,
            });
            w.server = Some(Endpoint {
                ip: server.parse().unwrap(),
                port: 53,
            });
        }
        e.host = Some(client.into());
        e
    }

    fn run(config: WireResolverConfig, events: &[Event]) -> Vec<Finding> {
        crate::testkit::run(&mut WireResolver::new(config), events)
    }

    /// Four clients use the resolver 10.0.0.53; one also asks 8.8.8.8 directly.
    fn network() -> Vec<Event> {
        let mut events: Vec<Event> = (1..=4).map(|i| ex("www.example.com", &format!("10.0.0.{i}"), "10.0.0.53")).collect();
        events.extend((0..5).map(|i| ex(&format!("x{i}.evil.example"), "10.0.0.4", "8.8.8.8")));
        events
    }

    #[test]
    fn fires_on_a_public_server_beside_the_learned_resolver() {
        let f = run(WireResolverConfig::default(), &network());
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].severity, f[0].count), (Severity::Low, 5));
        assert!(
            f[0].explanation
                .starts_with("10.0.0.4 (on the wire) sent 5 DNS questions to 8.8.8.8, which is not one of this network's resolvers (10.0.0.53)"),
            "{}",
            f[0].explanation
        );
        // Joined to a process: medium, and named.
        let joined: Vec<Event> = network()
            .into_iter()
            .map(|e| {
                if e.lookup().unwrap().query.as_str().ends_with("evil.example") {
                    attributed(e, r"C:\Temp\implant.exe")
                } else {
                    e
                }
            })
            .collect();
        let f = run(WireResolverConfig::default(), &joined);
        assert_eq!(f[0].severity, Severity::Medium);
        assert!(f[0].explanation.starts_with("implant.exe sent 5"));
    }

    #[test]
    fn quiet_without_resolvers_or_on_listed_ones() {
        // One client, two servers: nothing is learned, nothing judged.
        let lone: Vec<Event> = (0..5)
            .map(|_| ex("a.example.com", "10.0.0.4", "8.8.8.8"))
            .chain((0..5).map(|_| ex("b.example.com", "10.0.0.4", "10.0.0.53")))
            .collect();
        assert!(run(WireResolverConfig::default(), &lone).is_empty());
        // 8.8.8.8 listed as the network's.
        let config = WireResolverConfig {
            resolvers: vec!["8.8.8.8".into()],
            ..WireResolverConfig::default()
        };
        assert!(run(config, &network()).is_empty());
        // Fewer questions than `min_questions`.
        let config = WireResolverConfig {
            min_questions: 10,
            ..WireResolverConfig::default()
        };
        assert!(run(config, &network()).is_empty());
    }
}

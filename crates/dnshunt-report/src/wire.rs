//! Per-domain statistics of DNS seen on the wire (`dnshunt stats`): exchanges, clients, bytes
//! of questions and responses, answer payload, failures and distinct names, with a bound on the
//! domains kept.

use std::collections::{HashMap, HashSet};

use dnshunt_core::{Event, Timestamp};
use serde::Serialize;

/// Distinct names and clients counted per domain (past them the counts are lower bounds).
const MAX_DISTINCT: usize = 10_000;

#[derive(Debug, Default)]
struct Domain {
    exchanges: u64,
    question_bytes: u64,
    response_bytes: u64,
    payload_bytes: u64,
    nxdomain: u64,
    names: HashSet<u64>,
    clients: HashSet<u64>,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WireDomainRow {
    pub domain: String,
    pub exchanges: u64,
    pub clients: usize,
    pub distinct_names: usize,
    pub question_bytes: u64,
    pub response_bytes: u64,
    /// Bytes of TXT, NULL, CNAME, MX and private-use record data in the answers.
    pub payload_bytes: u64,
    pub nxdomain: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
}

/// The table, fed with every event.
#[derive(Debug)]
pub struct WireDomains {
    domains: HashMap<Box<str>, Domain>,
    max_domains: usize,
    /// Exchanges under domains not kept because `max_domains` were already.
    pub not_listed: u64,
    pub exchanges: u64,
}

impl WireDomains {
    pub fn new(max_domains: usize) -> WireDomains {
        WireDomains {
            domains: HashMap::new(),
            max_domains: max_domains.max(1),
            not_listed: 0,
            exchanges: 0,
        }
    }

    pub fn observe(&mut self, event: &Event) {
        let Some(w) = event.wire_dns() else { return };
        self.exchanges += 1;
        let Some(domain) = w.lookup.query.base_domain() else { return };
        if !self.domains.contains_key(domain) && self.domains.len() >= self.max_domains {
            self.not_listed += 1;
            return;
        }
        let d = self.domains.entry(domain.into()).or_default();
        d.exchanges += 1;
        d.question_bytes += u64::from(w.query_bytes.unwrap_or(0));
        d.response_bytes += u64::from(w.response_bytes.unwrap_or(0));
        d.payload_bytes += w
            .records
            .iter()
            .filter(|r| r.carries_payload())
            .map(|r| u64::from(r.size.unwrap_or(r.data.len() as u32)))
            .sum::<u64>();
        d.nxdomain += u64::from(w.rcode == Some(3));
        if d.names.len() < MAX_DISTINCT {
            d.names.insert(hash(w.lookup.query.as_str()));
        }
        if d.clients.len() < MAX_DISTINCT {
            d.clients.insert(hash(event.host.as_deref().unwrap_or("")));
        }
        d.first = Some(d.first.map_or(event.time, |f| f.min(event.time)));
        d.last = Some(d.last.map_or(event.time, |l| l.max(event.time)));
    }

    /// Domains kept.
    pub fn len(&self) -> usize {
        self.domains.len()
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// The rows, most bytes (questions and responses, or payload when the sensor gave no sizes)
    /// first; at most `top` (0: all).
    pub fn rows(&self, top: usize) -> Vec<WireDomainRow> {
        let mut rows: Vec<WireDomainRow> = self
            .domains
            .iter()
            .map(|(name, d)| WireDomainRow {
                domain: name.to_string(),
                exchanges: d.exchanges,
                clients: d.clients.len(),
                distinct_names: d.names.len(),
                question_bytes: d.question_bytes,
                response_bytes: d.response_bytes,
                payload_bytes: d.payload_bytes,
                nxdomain: d.nxdomain,
                first_seen: d.first.map(|t| t.to_string()),
                last_seen: d.last.map(|t| t.to_string()),
            })
            .collect();
        let weight = |r: &WireDomainRow| (r.question_bytes + r.response_bytes).max(r.payload_bytes);
        rows.sort_by(|a, b| weight(b).cmp(&weight(a)).then_with(|| b.exchanges.cmp(&a.exchanges)).then_with(|| a.domain.cmp(&b.domain)));
        if top > 0 {
            rows.truncate(top);
        }
        rows
    }
}

fn hash(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

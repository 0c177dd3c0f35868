//! # wire_tunnel
//!
//! **What:** a client (or, when attribution joined it, a process) that carries data through DNS
//! under one domain, measured on the wire: many distinct names under the domain, long
//! subdomains (bytes sent per question), and answer payload (the bytes of TXT, NULL, CNAME, MX
//! and private-use records it got back). Judged per client (or process) and domain once all
//! input is read; the finding also gives the answers' entropy and the questions per minute.
//!
//! **Why:** a DNS tunnel must put its upstream data in the names it asks for and its downstream
//! data in the answers. Sysmon's EID 22 shows names but never the answers' content or sizes;
//! the wire shows both. Volume and shape together separate a tunnel from a busy but ordinary
//! domain: a CDN has many names but short ones and address answers.
//!
//! **ATT&CK:** T1071.004 (Application Layer Protocol: DNS), T1572 (Protocol Tunneling),
//! T1048.003 (Exfiltration Over Unencrypted Non-C2 Protocol).
//!
//! **False positives:** services that use DNS as an API with long hashed names — anti-virus
//! reputation and DNS blocklist lookups — are in `ignore_domains` by default; add your own.
//! Mail servers checking DKIM keys get long TXT answers but under few names.

use std::collections::{HashMap, HashSet};

use dnshunt_core::{BoundReached, Detector, Event, Finding, FindingSink, Severity, Timestamp};
use serde::Deserialize;

use crate::detectors::{guid_key, who};
use crate::stats::hash64;

/// Settings of the `wire_tunnel` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WireTunnelConfig {
    /// Distinct names under one domain from one client (or process) before it is judged.
    pub min_distinct_names: usize,
    /// Mean bytes of the subdomain part of the names (left of the domain) that make the names
    /// carry data.
    pub min_mean_subdomain: f64,
    /// Answer payload bytes (TXT, NULL, CNAME, MX, private-use records) that make the answers
    /// carry data, whatever the names look like.
    pub min_answer_bytes: u64,
    /// Distinct names or answer bytes past which a tunnel is high rather than medium.
    pub high_distinct_names: usize,
    pub high_answer_bytes: u64,
    /// Registered domains never judged (services that use DNS as an API).
    pub ignore_domains: Vec<String>,
    /// (client or process, domain) pairs followed, at most.
    pub max_keys: usize,
}

impl Default for WireTunnelConfig {
    fn default() -> Self {
        WireTunnelConfig {
            min_distinct_names: 20,
            min_mean_subdomain: 20.0,
            min_answer_bytes: 2048,
            high_distinct_names: 100,
            high_answer_bytes: 16_384,
            ignore_domains: crate::detectors::DNS_BLOCKLISTS
                .iter()
                .chain(&["senderbase.org", "sophosxl.net", "mcafee.com", "e5.sk", "trendmicro.com", "cymru.com"])
                .map(|s| (*s).to_owned())
                .collect(),
            max_keys: 100_000,
        }
    }
}

/// Distinct names remembered per key (enough to judge; the count goes on past it).
const MAX_NAMES_PER_KEY: usize = 4096;

struct Summary {
    first: Event,
    last_time: Timestamp,
    exchanges: u64,
    names: HashSet<u32>,
    distinct_over: bool,
    subdomain_bytes: u64,
    longest_subdomain: usize,
    answer_bytes: u64,
    /// Sum of the Shannon entropy (bits per character) of the answers' payload text, and how
    /// many answers it is over.
    answer_entropy: f64,
    entropy_answers: u64,
    nxdomain: u64,
}

pub struct WireTunnel {
    config: WireTunnelConfig,
    keys: HashMap<(std::sync::Arc<str>, String, String), Summary>,
    dropped: u64,
}

impl WireTunnel {
    pub const NAME: &'static str = "wire_tunnel";

    pub fn new(config: WireTunnelConfig) -> WireTunnel {
        WireTunnel {
            config,
            keys: HashMap::new(),
            dropped: 0,
        }
    }
}

impl Detector for WireTunnel {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn sees_wire(&self) -> bool {
        true
    }

    fn observe(&mut self, event: &Event, _out: &mut Vec<Finding>) {
        let Some(w) = event.wire_dns() else { return };
        let name = w.lookup.query.as_str();
        let Some(domain) = w.lookup.query.base_domain() else { return };
        if self.config.ignore_domains.iter().any(|d| dnshunt_core::in_zone(domain, d)) {
            return;
        }
        let sub_len = name.len().saturating_sub(domain.len() + 1);
        let answer_bytes: u64 = w
            .records
            .iter()
            .filter(|r| r.carries_payload())
            .map(|r| u64::from(r.size.unwrap_or(r.data.len() as u32)))
            .sum();
        let key = (event.host.clone().unwrap_or_default(), guid_key(event), domain.to_owned());
        let full = self.keys.len() >= self.config.max_keys;
        let s = match self.keys.get_mut(&key) {
            Some(s) => s,
            None if full => {
                self.dropped += 1;
                return;
            }
            None => self.keys.entry(key).or_insert_with(|| Summary {
                first: event.clone(),
                last_time: event.time,
                exchanges: 0,
                names: HashSet::new(),
                distinct_over: false,
                subdomain_bytes: 0,
                longest_subdomain: 0,
                answer_bytes: 0,
                answer_entropy: 0.0,
                entropy_answers: 0,
                nxdomain: 0,
            }),
        };
        if crate::stats::is_earlier(event, &s.first) {
            s.first = event.clone();
        }
        s.last_time = s.last_time.max(event.time);
        s.exchanges += 1;
        if s.names.len() < MAX_NAMES_PER_KEY {
            if s.names.insert(hash64(name) as u32) {
                s.subdomain_bytes += sub_len as u64;
            }
        } else if !s.names.contains(&(hash64(name) as u32)) {
            s.distinct_over = true;
        }
        s.longest_subdomain = s.longest_subdomain.max(sub_len);
        s.answer_bytes += answer_bytes;
        for r in w.records.iter().filter(|r| r.carries_payload() && r.data.len() >= 8) {
            s.answer_entropy += crate::stats::entropy_bits_per_char(&r.data);
            s.entropy_answers += 1;
        }
        s.nxdomain += u64::from(w.rcode == Some(3));
    }

    fn finish(&mut self, out: &mut dyn FindingSink) {
        let mut keys: Vec<_> = self.keys.drain().collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        for ((_, guid, domain), s) in keys {
            let distinct = s.names.len();
            if distinct < self.config.min_distinct_names {
                continue;
            }
            let mean = s.subdomain_bytes as f64 / distinct as f64;
            let names_carry = mean >= self.config.min_mean_subdomain;
            let answers_carry = s.answer_bytes >= self.config.min_answer_bytes;
            if !names_carry && !answers_carry {
                continue;
            }
            let high = distinct >= self.config.high_distinct_names || s.answer_bytes >= self.config.high_answer_bytes;
            let severity = if high && (names_carry || answers_carry) { Severity::High } else { Severity::Medium };
            let score = (50.0 + (distinct as f64).log10() * 12.0 + (mean / 4.0).min(15.0) + ((s.answer_bytes as f64 + 1.0).log10() * 3.0)).min(99.0) as u8;
            let more = if s.distinct_over { "+" } else { "" };
            // Questions per minute over the span the domain was asked for.
            let minutes = ((s.last_time.0.saturating_sub(s.first.time.0)) as f64 / 60_000.0).max(1.0);
            let rate = s.exchanges as f64 / minutes;
            let entropy = (s.entropy_answers > 0).then(|| s.answer_entropy / s.entropy_answers as f64);
            let mut why = Vec::new();
            if names_carry {
                why.push(format!("names carry {mean:.0} bytes each on average (longest {})", s.longest_subdomain));
            }
            if answers_carry {
                let entropy = entropy.map(|e| format!(" (entropy {e:.1} bits a character)")).unwrap_or_default();
                why.push(format!("answers carried {} bytes of TXT/NULL/CNAME/MX/private data{entropy}", s.answer_bytes));
            }
            why.push(format!("{rate:.0} questions a minute"));
            let explanation = format!(
                "{} sent {} DNS questions for {distinct}{more} distinct names under {domain}: {}; a DNS tunnel moves data this way",
                who(&s.first),
                s.exchanges,
                why.join(", ")
            );
            let mut f = Finding::from_event(Self::NAME, severity, score, &s.first, &[&guid, &domain], explanation)
                .with_attack(&["T1071.004", "T1572", "T1048.003"])
                .with_detail("tunnel_domain", domain.clone())
                .with_detail("distinct_names", distinct)
                .with_detail("exchanges", s.exchanges)
                .with_detail("mean_subdomain_bytes", (mean * 10.0).round() / 10.0)
                .with_detail("longest_subdomain", s.longest_subdomain)
                .with_detail("answer_payload_bytes", s.answer_bytes)
                .with_detail("answer_entropy", entropy.map(|e| (e * 100.0).round() / 100.0))
                .with_detail("questions_per_minute", (rate * 10.0).round() / 10.0)
                .with_detail("nxdomain", s.nxdomain);
            f.count = s.exchanges;
            f.time_last = s.last_time;
            out.push(f);
        }
    }

    fn bounds_reached(&self) -> Vec<BoundReached> {
        BoundReached::all([BoundReached::of(Self::NAME, "max_keys", self.config.max_keys, self.dropped)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::tests::{attributed, wire};

    fn run(events: &[Event]) -> Vec<Finding> {
        crate::testkit::run(&mut WireTunnel::new(WireTunnelConfig::default()), events)
    }

    #[test]
    fn fires_on_long_names_and_on_answer_payload() {
        // Upstream in the names: 150 names of 40 hex digits.
        let names: Vec<Event> = (0..150).map(|i| wire(&format!("{i:040x}.t.evil.example"), 16, &[(16, "ok", 3)])).collect();
        let f = run(&names);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::High);
        assert_eq!(f[0].details["tunnel_domain"], "evil.example");
        assert_eq!(f[0].details["distinct_names"], 150);
        assert_eq!(f[0].count, 150);
        assert!(f[0].explanation.contains("10.0.0.5 (on the wire) sent 150 DNS questions"), "{}", f[0].explanation);
        // Downstream in the answers: short names, 25 NULL answers of 200 bytes.
        let answers: Vec<Event> = (0..25).map(|i| wire(&format!("q{i}.pirate.sea"), 10, &[(10, "\\x00", 200)])).collect();
        let f = run(&answers);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Medium);
        assert_eq!(f[0].details["answer_payload_bytes"], 5000);
        // Joined to a process, the finding names it.
        let joined: Vec<Event> = answers.into_iter().map(|e| attributed(e, r"C:\Users\x\AppData\Local\Temp\t.exe")).collect();
        assert!(run(&joined)[0].explanation.starts_with("t.exe sent 25 DNS questions"));
    }

    #[test]
    fn quiet_on_busy_ordinary_domains_and_dns_apis() {
        // A CDN: many names, short, answered with addresses.
        let cdn: Vec<Event> = (0..300).map(|i| wire(&format!("img{i}.cdn.example.com"), 1, &[(1, "192.0.2.1", 4)])).collect();
        assert!(run(&cdn).is_empty());
        // DNSBL lookups of reversed addresses.
        let dnsbl: Vec<Event> = (0..300).map(|i| wire(&format!("{}.{}.168.192.zen.spamhaus.org", i % 250, i / 250), 1, &[])).collect();
        assert!(run(&dnsbl).is_empty());
        // Long names, but few of them (a DKIM key, a service record).
        let few: Vec<Event> = (0..5)
            .map(|i| {
                wire(
                    &format!("selector{i}-0123456789abcdef0123._domainkey.example.org"),
                    16,
                    &[(16, "v=DKIM1; k=rsa; p=MIIB", 400)],
                )
            })
            .collect();
        assert!(run(&few).is_empty());
        // Sysmon's lookups are not this detector's.
        let sysmon: Vec<Event> = (0..50).map(|i| crate::detectors::tests::dns(&format!("{i:040x}.evil.example"), "-")).collect();
        assert!(run(&sysmon).is_empty());
    }
}

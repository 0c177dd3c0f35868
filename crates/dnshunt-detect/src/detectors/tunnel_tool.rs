//! # tunnel_tool
//!
//! **What:** DNS exchanges seen on the wire that carry the naming habits of known DNS tunnel
//! tools, read from the question and the answer together:
//! - **iodine:** its handshake answers (`VACK`/`VNAK`/`VFUL` to a version check, the
//!   `server-client-mtu-netmask` login answer, `BADCODEC` and codec names to its codec probes),
//!   raw bytes in labels, and NULL or private-use (65399) questions;
//! - **dnscat2:** questions whose subdomain is all hexadecimal (16 or more digits) asked as TXT,
//!   MX or CNAME and answered in hexadecimal, or under the `dnscat.` prefix;
//! - **dns2tcp:** a label starting with `=` (`=auth`, `=connect`) before the tunnel domain;
//! - **DNSExfiltrator:** an `init.` first label and a `base64`/`base32` label;
//! - **OzymanDNS:** an `id-<n>` label before `up` or `down`.
//!
//! **Why:** these tools are how DNS tunnels are built in practice, and each leaves a mark no
//! ordinary lookup has. Sysmon's EID 22 never shows them: the tools send their questions
//! themselves, and the answers' content is only on the wire.
//!
//! **ATT&CK:** T1071.004 (Application Layer Protocol: DNS), T1572 (Protocol Tunneling),
//! T1048.003 (Exfiltration Over Unencrypted Non-C2 Protocol) for DNSExfiltrator.
//!
//! **False positives:** few: the marks are specific. Hex-only subdomains also come from
//! hash-based lookup services (anti-virus reputation, DNSBLs), but those ask for A records and
//! are answered with addresses, which this detector does not count as dnscat2.

use dnshunt_core::{Detector, Event, Finding, Severity, WireDns};
use serde::Deserialize;

use crate::detectors::{guid_key, score_of, who};

/// Settings of the `tunnel_tool` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TunnelToolConfig {
    /// Severity of a tool's mark.
    pub severity: Severity,
    /// Hexadecimal digits a subdomain needs to count as dnscat2's.
    pub min_hex_digits: usize,
}

impl Default for TunnelToolConfig {
    fn default() -> Self {
        TunnelToolConfig {
            severity: Severity::High,
            min_hex_digits: 16,
        }
    }
}

pub struct TunnelTool {
    config: TunnelToolConfig,
}

/// A tool's mark on one exchange.
struct Mark {
    tool: &'static str,
    what: String,
    attack: &'static [&'static str],
}

impl TunnelTool {
    pub const NAME: &'static str = "tunnel_tool";

    pub fn new(config: TunnelToolConfig) -> TunnelTool {
        TunnelTool { config }
    }

    fn mark(&self, w: &WireDns) -> Option<Mark> {
        let name = w.lookup.query.as_str();
        let domain = w.lookup.query.base_domain()?;
        let sub = name.strip_suffix(domain).and_then(|s| s.strip_suffix('.')).unwrap_or("");
        let first = name.split('.').next().unwrap_or("");
        let labels: Vec<&str> = sub.split('.').filter(|l| !l.is_empty()).collect();
        let answers = || w.records.iter().map(|r| r.data.as_str());
        let qtype = w.qtype.map_or(0, |t| t.0);
        const TUNNEL: &[&str] = &["T1071.004", "T1572"];
        // iodine: its handshake and probes are answered in plain words.
        if let Some(a) = answers()
            .find(|a| ["VACK", "VNAK", "VFUL"].iter().any(|v| a.starts_with(v)))
            .filter(|_| first.starts_with('v'))
        {
            return Some(Mark {
                tool: "iodine",
                what: format!("a version handshake answered {}", a.get(..4).unwrap_or(a)),
                attack: TUNNEL,
            });
        }
        if let Some(a) = answers().find(|a| is_iodine_login(a)) {
            return Some(Mark {
                tool: "iodine",
                what: format!("a login answered with the tunnel's addresses and MTU ({a})"),
                attack: TUNNEL,
            });
        }
        if let Some(a) = answers().find(|a| matches!(*a, "BADCODEC" | "Base32" | "Base64" | "Base64u" | "Base128" | "Raw")) {
            return Some(Mark {
                tool: "iodine",
                what: format!("a codec probe answered {a}"),
                attack: TUNNEL,
            });
        }
        if (qtype == 10 || qtype == 65399) && sub.contains("\\x") {
            return Some(Mark {
                tool: "iodine",
                what: format!("raw bytes in the labels of a {} question", w.qtype.map(|t| t.to_string()).unwrap_or_default()),
                attack: TUNNEL,
            });
        }
        // dns2tcp: `=auth`, `=connect` and the like.
        if let Some(l) = labels.iter().find(|l| l.len() > 1 && l.starts_with('=') && l[1..].bytes().all(|b| b.is_ascii_lowercase())) {
            return Some(Mark {
                tool: "dns2tcp",
                what: format!("its `{l}` label"),
                attack: TUNNEL,
            });
        }
        // DNSExfiltrator: `init.<encoded file name|chunks>.base64.<domain>`.
        if first == "init" && labels.iter().any(|l| matches!(*l, "base64" | "base32")) {
            return Some(Mark {
                tool: "DNSExfiltrator",
                what: "its `init.` transfer start".to_owned(),
                attack: &["T1048.003", "T1071.004"],
            });
        }
        // OzymanDNS: `<data>-<seq>-<id>.id-<id>.up.<domain>` / `....down.<domain>`.
        if labels
            .windows(2)
            .any(|p| p[0].strip_prefix("id-").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) && matches!(p[1], "up" | "down"))
        {
            return Some(Mark {
                tool: "OzymanDNS",
                what: "its `id-<n>.up`/`down` labels".to_owned(),
                attack: TUNNEL,
            });
        }
        // dnscat2: hex packets in the name and in TXT/MX/CNAME answers, or its own prefix.
        if first == "dnscat" && labels.len() > 1 {
            return Some(Mark {
                tool: "dnscat2",
                what: "its `dnscat.` prefix".to_owned(),
                attack: TUNNEL,
            });
        }
        let hex: usize = labels.iter().map(|l| l.len()).sum();
        if hex >= self.config.min_hex_digits && labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_hexdigit())) && matches!(qtype, 5 | 15 | 16) {
            let hex_answer = answers().any(|a| {
                let a = a.rsplit(' ').next().unwrap_or(a);
                let head = a.split('.').next().unwrap_or("");
                head.len() >= 16 && head.bytes().all(|b| b.is_ascii_hexdigit())
            });
            if hex_answer || w.records.is_empty() {
                return Some(Mark {
                    tool: "dnscat2",
                    what: format!("{hex} hexadecimal digits in the name{}", if hex_answer { " and a hexadecimal answer" } else { "" }),
                    attack: TUNNEL,
                });
            }
        }
        None
    }
}

/// iodine's login answer: `<server ip>-<client ip>-<mtu>-<netmask bits>`.
fn is_iodine_login(a: &str) -> bool {
    let parts: Vec<&str> = a.split('-').collect();
    parts.len() == 4
        && parts[0].parse::<std::net::Ipv4Addr>().is_ok()
        && parts[1].parse::<std::net::Ipv4Addr>().is_ok()
        && parts[2].parse::<u16>().is_ok()
        && parts[3].parse::<u8>().is_ok_and(|n| n <= 32)
}

impl Detector for TunnelTool {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn sees_wire(&self) -> bool {
        true
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<Finding>) {
        let Some(w) = event.wire_dns() else { return };
        let Some(mark) = self.mark(w) else { return };
        let domain = w.lookup.query.base_domain().unwrap_or("");
        let severity = self.config.severity;
        let score = score_of(severity);
        let explanation = format!(
            "{} ran a {} DNS tunnel through {domain}: {} ({})",
            who(event),
            mark.tool,
            mark.what,
            w.lookup.query.as_str().chars().take(80).collect::<String>()
        );
        out.push(
            Finding::from_event(Self::NAME, severity, score, event, &[&guid_key(event), mark.tool, domain], explanation)
                .with_attack(mark.attack)
                .with_detail("tool", mark.tool)
                .with_detail("tunnel_domain", domain)
                .with_detail("mark", mark.what),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::tests::wire;

    fn marks(event: Event) -> Option<(String, String)> {
        let mut d = TunnelTool::new(TunnelToolConfig::default());
        let mut out = Vec::new();
        d.observe(&event, &mut out);
        out.first()
            .map(|f| (f.details["tool"].as_str().unwrap().to_owned(), f.details["tunnel_domain"].as_str().unwrap().to_owned()))
    }

    fn hit(tool: &str, domain: &str) -> Option<(String, String)> {
        Some((tool.to_owned(), domain.to_owned()))
    }

    #[test]
    fn fires_on_each_tool() {
        assert_eq!(marks(wire("vaaaakardli.pirate.sea", 10, &[(10, "VACKD\\x03\\xc5", 9)])), hit("iodine", "pirate.sea"));
        assert_eq!(
            marks(wire("laegpumiplhh.pirate.sea", 10, &[(10, "10.20.30.1-10.20.30.3-1130-24", 29)])),
            hit("iodine", "pirate.sea")
        );
        assert_eq!(marks(wire("ytbfmb.example.attack", 65399, &[(65399, "BADCODEC", 8)])), hit("iodine", "example.attack"));
        assert_eq!(marks(wire("zi1baa\\xd0\\xd1.pirate.sea", 10, &[])), hit("iodine", "pirate.sea"));
        assert_eq!(
            marks(wire("aaaaaplbqa.=auth.example.attack", 16, &[(16, "AM84AAPlbAEV", 34)])),
            hit("dns2tcp", "example.attack")
        );
        assert_eq!(
            marks(wire(
                "958700a621c3620001636f6e736f6c65.skullseclabs.org",
                15,
                &[(15, "10 634f00a621010a0000.skullseclabs.org", 23)]
            )),
            hit("dnscat2", "skullseclabs.org")
        );
        assert_eq!(
            marks(wire("7cd501a621c362010a.skullseclabs.org", 16, &[(16, "96b201a621010ac362", 19)])),
            hit("dnscat2", "skullseclabs.org")
        );
        assert_eq!(marks(wire("dnscat.4a6f.evil.example", 16, &[])), hit("dnscat2", "evil.example"));
        assert_eq!(marks(wire("init.mzxw6ytboi.base32.exfil.example.com", 1, &[])), hit("DNSExfiltrator", "example.com"));
        assert_eq!(marks(wire("nbswy3dp-0-7.id-7.up.tunnel.example.net", 16, &[])), hit("OzymanDNS", "example.net"));
    }

    #[test]
    fn quiet_on_ordinary_and_hash_lookups() {
        // A reputation service's hash lookup: hex, but an A question answered with an address.
        assert_eq!(marks(wire("3f2a9c0d1e4b5a6f7081.avqs.example-av.com", 1, &[(1, "127.0.0.2", 4)])), None);
        // Ordinary TXT and MX lookups.
        assert_eq!(marks(wire("_dmarc.example.com", 16, &[(16, "v=DMARC1; p=none", 16)])), None);
        assert_eq!(marks(wire("example.com", 15, &[(15, "10 mail.example.com", 20)])), None);
        // `v` names answered with an address, a dash-separated answer that is not a login.
        assert_eq!(marks(wire("video.example.com", 1, &[(1, "192.0.2.1", 4)])), None);
        assert_eq!(marks(wire("a.example.com", 16, &[(16, "1-2-3-4", 7)])), None);
        // Chromium's probes under the home network's suffix.
        assert_eq!(marks(wire("abcdef0123456789ab.home.arpa", 16, &[])), None);
    }
}

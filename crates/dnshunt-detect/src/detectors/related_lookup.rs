//! # related_lookup
//!
//! **What:** a lookup of a domain that another finding implicates, by a program an operator
//! types or an implant starts: a shell, a script host, a network tool that is a Windows binary
//! (`ping.exe`, `nslookup.exe`, `curl.exe`, `certutil.exe`, ...), a program from a
//! user-writable folder, or a short-lived process Sysmon could not name (`<unknown process>`).
//! When, after all input is read, a medium-or-higher finding of a per-name or behavioural
//! detector (or a download cradle found by `process_context`) is about a public registered
//! domain that is rare in the fleet, every other such process that resolved it gets a finding,
//! and joins the incident through the shared indicator.
//!
//! **Why:** an intrusion is rarely one lookup. The operator pings the C2 domain to check it
//! resolves, an interactive PowerShell resolves it again, the stager downloads from it. Only
//! the stager's command line gives it away; the other lookups are the same intrusion and would
//! otherwise go unreported.
//!
//! **ATT&CK:** T1071.004 (Application Layer Protocol: DNS), with the implicating finding's ids.
//!
//! **False positives:** an administrator checking a domain that a finding implicated (which is
//! worth knowing). Domains the fleet resolves widely never implicate (prevalence decides).
//!
//! **Runs in the engine** after every other detector, since it needs their findings; it has
//! no settings of its own.
//!
//! Memory: at most `MAX_PER_DOMAIN` lookups per registered domain (the earliest) and
//! `MAX_LOOKUPS` in all are kept, only of the programs above; past the overall cap, which
//! domains are kept depends on read order.

use std::sync::Arc;

use dnshunt_core::{evidence_order, image_file_name, Event, Finding, Guid, Severity, UNKNOWN_PROCESS};

use crate::detectors::{guid_key, process_key, who};
use crate::fast::{HashMap, HashSet};
use crate::stats::to_keep;

/// Lookups kept per registered domain (one per process).
const MAX_PER_DOMAIN: usize = 8;
/// Lookups kept in all.
const MAX_LOOKUPS: usize = 50_000;

/// Programs people and implants type or start to touch a name, as file names.
const TOOLS: [&str; 24] = [
    "ping.exe",
    "nslookup.exe",
    "tracert.exe",
    "pathping.exe",
    "curl.exe",
    "wget.exe",
    "certutil.exe",
    "bitsadmin.exe",
    "powershell.exe",
    "pwsh.exe",
    "powershell_ise.exe",
    "cmd.exe",
    "wscript.exe",
    "cscript.exe",
    "mshta.exe",
    "rundll32.exe",
    "regsvr32.exe",
    "msiexec.exe",
    "ftp.exe",
    "tftp.exe",
    "telnet.exe",
    "net.exe",
    "finger.exe",
    "python.exe",
];

/// Detectors whose medium-or-higher findings implicate their domain.
const IMPLICATING: [&str; 10] = [
    "blocklist",
    "beacon",
    "dga",
    "encoded_name",
    "tunnel_volume",
    "lookalike",
    "young_domain",
    "process_context",
    "doh_lookup",
    "nxdomain_storm",
];

/// Whether the lookups of `event`'s process are watched; the verdict on an image path is
/// remembered in `images` (a fleet runs few distinct images; at most 4,096, then started over).
fn is_watched(event: &Event, images: &mut crate::fast::Memo<bool, 4096>) -> bool {
    let p = event.process();
    if p.guid.is_none_or(Guid::is_nil) {
        return true;
    }
    let Some(image) = p.image.as_deref() else { return true };
    if image == UNKNOWN_PROCESS {
        return true;
    }
    *images.get_or_insert_with(crate::stats::key_hash(image), || {
        TOOLS.contains(&image_file_name(image).as_str()) || crate::stats::user_writable_folder(image).is_some()
    })
}

/// The lookups that may be pulled into an incident, and the step that does it.
#[derive(Debug, Default)]
pub struct RelatedLookups {
    /// Registered domain → (host, process key, first lookup).
    by_domain: HashMap<String, Vec<(String, String, Arc<Event>)>>,
    kept: usize,
    /// Image paths judged by [`is_watched`].
    images: crate::fast::Memo<bool, 4096>,
}

impl RelatedLookups {
    pub const NAME: &'static str = "related_lookup";

    /// Keeps the first lookup of each watched process per registered domain (`shared`, the
    /// engine's shared copy of `event`, when it has one).
    pub fn observe(&mut self, event: &Event, shared: Option<&Arc<Event>>) {
        let Some(q) = event.dns() else { return };
        let Some(domain) = q.query.registered_domain() else { return };
        if !is_watched(event, &mut self.images) {
            return;
        }
        let host = event.host.as_deref().unwrap_or("");
        if let Some(list) = self.by_domain.get_mut(domain) {
            if let Some(slot) = list.iter_mut().find(|(h, k, _)| h == host && crate::detectors::process_key_is(k, event)) {
                if event.time < slot.2.time {
                    slot.2 = to_keep(event, shared);
                }
                return;
            }
            if list.len() >= MAX_PER_DOMAIN {
                // Full: keep the earliest lookups, so the choice does not depend on read order.
                if let Some(latest) = list.iter_mut().max_by(|a, b| evidence_order(&a.2).cmp(&evidence_order(&b.2))) {
                    if evidence_order(event) < evidence_order(&latest.2) {
                        *latest = (host.to_owned(), guid_key(event), to_keep(event, shared));
                    }
                }
                return;
            }
            if self.kept >= MAX_LOOKUPS {
                return;
            }
            list.push((host.to_owned(), guid_key(event), to_keep(event, shared)));
        } else {
            if self.kept >= MAX_LOOKUPS {
                return;
            }
            self.by_domain.insert(domain.to_owned(), vec![(host.to_owned(), guid_key(event), to_keep(event, shared))]);
        }
        self.kept += 1;
    }

    /// Findings for the watched lookups of domains that `findings` implicate and `is_rare`
    /// accepts, by processes that have no finding on that domain yet.
    pub fn findings(&self, findings: &[Finding], is_rare: &dyn Fn(&str) -> bool) -> Vec<Finding> {
        // Domain → the strongest implicating finding.
        let mut implicated: HashMap<&str, &Finding> = HashMap::default();
        for f in findings {
            if f.severity < Severity::Medium || !IMPLICATING.contains(&f.detector.as_str()) {
                continue;
            }
            // A process's start says nothing about the names it looks up, except a download
            // cradle's: that name is where the payload comes from.
            if f.detector == "process_context" && !f.details.contains_key("cradle") {
                continue;
            }
            let Some(domain) = f.registered_domain.as_deref() else { continue };
            if !self.by_domain.contains_key(domain) || !is_rare(domain) {
                continue;
            }
            // The strongest, then earliest, then smallest id: the same whatever the order.
            let slot = implicated.entry(domain).or_insert(f);
            let rank = |g: &Finding| (g.score, std::cmp::Reverse(g.time), std::cmp::Reverse(g.id.clone()));
            if rank(f) > rank(slot) {
                *slot = f;
            }
        }
        // (domain, host, process) of every finding, once: those processes need no other.
        let covered: HashSet<(&str, &str, String)> = findings
            .iter()
            .filter_map(|f| {
                let domain = f.registered_domain.as_deref()?;
                let key = process_key(f.process.guid, f.process.pid, f.process.image.as_deref());
                Some((domain, f.host.as_deref().unwrap_or(""), key))
            })
            .collect();
        let mut out = Vec::new();
        let mut domains: Vec<&&str> = implicated.keys().collect();
        domains.sort();
        for domain in domains {
            let cause = implicated[*domain];
            for (host, key, event) in &self.by_domain[*domain] {
                if covered.contains(&(*domain, host.as_str(), key.clone())) {
                    continue;
                }
                let who = who(event);
                let cause_who = cause
                    .process
                    .image
                    .as_deref()
                    .map(dnshunt_core::image_file_name)
                    .unwrap_or_else(|| "another process".into());
                let same_host = cause.host.as_deref().unwrap_or("") == host;
                let explanation = format!(
                    "{who} also looked up {}, the domain of {cause_who}'s {} finding{}: the same intrusion touching it from another program",
                    event.dns().map(|q| q.query.as_str()).unwrap_or(domain),
                    cause.detector,
                    if same_host {
                        String::new()
                    } else {
                        format!(" on {}", cause.host.as_deref().unwrap_or("another host"))
                    }
                );
                let score = cause.score.min(60);
                let mut attack = vec!["T1071.004"];
                attack.extend(cause.attack.iter().map(String::as_str));
                attack.sort();
                attack.dedup();
                let f = Finding::from_event(Self::NAME, Severity::for_score(score), score, event, &[key.as_str(), domain], explanation)
                    .with_attack(&attack)
                    .with_detail("implicated_by", cause.id.clone())
                    .with_detail("implicated_by_detector", cause.detector.clone());
                out.push(f);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Proc, T0};

    fn cradle_finding(ps: &Proc, name: &str) -> Finding {
        Finding::from_event("process_context", Severity::High, 80, &ps.dns(T0, name, "-", 0), &[], "download cradle".into()).with_detail("cradle", "downloadstring")
    }

    #[track_caller]
    fn check(events: &[Event], findings: &[Finding], rare: bool, expected: &[&str]) {
        let mut related = RelatedLookups::default();
        for e in events {
            related.observe(e, None);
        }
        let out = related.findings(findings, &|_| rare);
        let got: Vec<String> = out.iter().map(|f| f.process.image.clone().unwrap_or_default()).collect();
        assert_eq!(got, expected);
        for f in &out {
            assert_eq!(f.severity, Severity::Medium);
            assert!(f.explanation.contains("also looked up"), "{}", f.explanation);
        }
    }

    #[test]
    fn ping_and_an_interactive_shell_join_the_cradle() {
        let cradle = Proc::new("WS1", "powershell.exe", 1);
        let ping = Proc::new("WS1", "C:\\Windows\\System32\\PING.EXE", 2);
        let shell = Proc::new("WS1", "powershell.exe", 3);
        let chrome = Proc::new("WS1", "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", 4);
        let events = vec![
            ping.dns(T0 - 60_000, "evil-c2.net", "-", 0),
            shell.dns(T0 - 30_000, "www.evil-c2.net", "-", 0),
            cradle.dns(T0, "evil-c2.net", "-", 0),
            chrome.dns(T0 + 1000, "evil-c2.net", "-", 0),
            ping.dns(T0 + 2000, "example.org", "-", 0),
        ];
        let findings = vec![cradle_finding(&cradle, "evil-c2.net")];
        check(&events, &findings, true, &["C:\\Windows\\System32\\PING.EXE", "powershell.exe"]);
        // A domain the fleet resolves widely implicates nothing.
        check(&events, &findings, false, &[]);
        // Low findings implicate nothing, nor does a process start that is no download cradle.
        let mut low = findings.clone();
        low[0].severity = Severity::Low;
        check(&events, &low, true, &[]);
        let mut encoded = findings.clone();
        encoded[0].details.remove("cradle");
        check(&events, &encoded, true, &[]);
    }

    #[test]
    fn unnamed_short_lived_processes_are_watched() {
        let cradle = Proc::new("WS1", "powershell.exe", 1);
        let mut unknown = Proc::new("WS1", "<unknown process>", 9);
        unknown.guid = dnshunt_core::Guid(0);
        let events = vec![unknown.dns(T0 + 5, "evil-c2.net", "-", 0)];
        check(&events, &[cradle_finding(&cradle, "evil-c2.net")], true, &["<unknown process>"]);
    }
}

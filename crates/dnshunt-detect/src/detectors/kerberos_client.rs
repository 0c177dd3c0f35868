//! # kerberos_client
//!
//! **What:** a program other than `lsass.exe` that opens a connection to port 88 (Kerberos) of
//! another machine (EID 3, initiated). Windows asks the KDC for tickets only through the Local
//! Security Authority; a program that speaks Kerberos itself brought its own Kerberos client.
//! A process Sysmon could not name (`<unknown process>`, a short-lived one) counts too.
//!
//! **Why:** Rubeus, Kekeo, Impacket and Mimikatz request, roast and forge tickets by talking to
//! the domain controller's port 88 directly (`asktgt`, `asktgs`, `kerberoast`, `asreproast`):
//! the network side of credential theft that no DNS lookup shows.
//!
//! **ATT&CK:** T1558 (Steal or Forge Kerberos Tickets), T1558.003 (Kerberoasting), T1558.004
//! (AS-REP Roasting), T1550.003 (Pass the Ticket).
//!
//! **False positives:** programs with a Kerberos library of their own: Java applications
//! (JGSS), MIT Kerberos for Windows and Heimdal clients, some VPN, backup and database tools,
//! and a domain controller's own services. Name them in `allowed_processes`. A program from a
//! user-writable folder is reported as high, every other as medium.

use dnshunt_core::{Detector, Event, Finding, Severity};
use serde::Deserialize;

use crate::detectors::{guid_key, who};
use crate::stats::is_local_only;

/// Settings of the `kerberos_client` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KerberosClientConfig {
    /// Programs (lower-case image names) that may speak Kerberos themselves. Default:
    /// `lsass.exe`, Windows' own client.
    pub allowed_processes: Vec<String>,
    /// The Kerberos port (default 88).
    pub port: u16,
}

impl Default for KerberosClientConfig {
    fn default() -> Self {
        KerberosClientConfig {
            allowed_processes: vec!["lsass.exe".into()],
            port: 88,
        }
    }
}

pub struct KerberosClient {
    config: KerberosClientConfig,
}

impl KerberosClient {
    pub const NAME: &'static str = "kerberos_client";

    pub fn new(mut config: KerberosClientConfig) -> KerberosClient {
        config.allowed_processes.iter_mut().for_each(|p| *p = p.to_lowercase());
        KerberosClient { config }
    }
}

impl Detector for KerberosClient {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<Finding>) {
        let Some(n) = event.network() else { return };
        let (Some(ip), Some(port)) = (n.destination_ip, n.destination_port) else { return };
        if port != self.config.port || n.initiated == Some(false) || is_local_only(ip) || ip.is_loopback() {
            return;
        }
        let image = who(event);
        if self.config.allowed_processes.contains(&image) {
            return;
        }
        let path = event.process().image.as_deref().unwrap_or("");
        let unknown = path.is_empty() || path == dnshunt_core::UNKNOWN_PROCESS;
        let folder = crate::stats::user_writable_folder(path);
        let (severity, score, why) = match (folder, unknown) {
            (Some(folder), _) => (Severity::High, 80, format!("; it runs from {folder}, where droppers put their tools")),
            (None, true) => (
                Severity::Medium,
                60,
                "; Sysmon could not name it (a short-lived process), as tools run for one request often are".to_owned(),
            ),
            (None, false) => (Severity::Medium, 60, String::new()),
        };
        let who_text = if unknown { "an unnamed process".to_owned() } else { image.clone() };
        let guid = guid_key(event);
        let explanation = format!(
            "{who_text} spoke Kerberos to {ip}:{port} itself, not through lsass.exe as Windows does: the way Rubeus, Impacket and Mimikatz request, roast or forge tickets{why}"
        );
        out.push(
            Finding::from_event(Self::NAME, severity, score, event, &[&guid, &ip.to_string()], explanation)
                .with_attack(&["T1558", "T1558.003", "T1558.004", "T1550.003"])
                .with_detail("address", ip.to_string())
                .with_detail("port", port),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{run, Proc, T0};

    /// The detector's findings merged by id, as the engine merges them.
    fn merged(config: KerberosClientConfig, events: &[Event]) -> Vec<Finding> {
        let mut by_id: Vec<Finding> = Vec::new();
        for f in run(&mut KerberosClient::new(config), events) {
            match by_id.iter_mut().find(|g| g.id == f.id) {
                Some(g) => g.merge(f, 5),
                None => by_id.push(f),
            }
        }
        by_id
    }

    #[track_caller]
    fn check(events: &[Event], expected: &[(&str, Severity)]) {
        let findings = merged(KerberosClientConfig::default(), events);
        let mut got: Vec<(String, Severity)> = findings.iter().map(|f| (f.process.image.clone().unwrap_or_default(), f.severity)).collect();
        got.sort();
        let want: Vec<(String, Severity)> = expected.iter().map(|(i, s)| ((*i).to_owned(), *s)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn tools_that_speak_kerberos_themselves_fire() {
        let rubeus = Proc::new("WS6", "C:\\Users\\sbeavers\\Desktop\\Rubeus.exe", 1);
        let java = Proc::new("WS6", "C:\\Program Files\\App\\jre\\bin\\java.exe", 2);
        let mut unnamed = Proc::new("WS6", "<unknown process>", 3);
        unnamed.guid = dnshunt_core::Guid(0);
        let events = vec![
            rubeus.net(T0, "tcp", "172.18.38.5", 88),
            rubeus.net(T0 + 1000, "tcp", "172.18.38.5", 88),
            java.net(T0, "tcp", "172.18.38.5", 88),
            unnamed.net(T0, "tcp", "172.18.38.5", 88),
        ];
        check(
            &events,
            &[
                ("<unknown process>", Severity::Medium),
                ("C:\\Program Files\\App\\jre\\bin\\java.exe", Severity::Medium),
                ("C:\\Users\\sbeavers\\Desktop\\Rubeus.exe", Severity::High),
            ],
        );
        let findings = merged(KerberosClientConfig::default(), &events);
        let rubeus = findings.iter().find(|f| f.severity == Severity::High).unwrap();
        assert_eq!(rubeus.count, 2);
        assert!(rubeus.explanation.contains("runs from Desktop"), "{}", rubeus.explanation);
    }

    #[test]
    fn lsass_other_ports_inbound_and_allowed_programs_do_not() {
        let lsass = Proc::new("WS6", "C:\\Windows\\System32\\lsass.exe", 1);
        let kdc = Proc::new("DC01", "C:\\Windows\\System32\\lsass.exe", 2);
        let java = Proc::new("WS6", "C:\\Program Files\\App\\jre\\bin\\java.exe", 3);
        let mut inbound = kdc.net(T0, "tcp", "172.18.39.6", 88);
        if let dnshunt_core::EventKind::NetworkConnect(n) = &mut inbound.kind {
            n.initiated = Some(false);
        }
        let events = vec![lsass.net(T0, "tcp", "172.18.38.5", 88), inbound, java.net(T0, "tcp", "172.18.38.5", 389)];
        check(&events, &[]);
        let config = KerberosClientConfig {
            allowed_processes: vec!["lsass.exe".into(), "Java.exe".into()],
            ..Default::default()
        };
        assert!(run(&mut KerberosClient::new(config), &[java.net(T0, "tcp", "172.18.38.5", 88)]).is_empty());
    }
}

//! # connection_without_lookup
//!
//! **What:** connections (EID 3) straight to an address that no lookup (EID 22) on that host
//! ever returned, by a program that normally resolves names (at least `min_lookups` lookups on
//! that host), by a shell or script host (`shells`: PowerShell, cmd, mshta, rundll32, regsvr32,
//! wscript, ...), or to a well-known C2 port (`c2_ports`: 4444, Metasploit's default,
//! 1337/31337, and 1389, where JNDI exploit servers answer Log4Shell callbacks). Link-local, multicast and broadcast traffic is ignored; private destinations
//! can be left out with `include_private = false`.
//!
//! A missing lookup alone proves little, so such a connection is **low** unless something
//! corroborates it, and the explanation says what did:
//! - a suspicious process context: a shell or script host, or a program in a user-writable
//!   folder (Downloads, Desktop, a Temp folder, `Users\Public`, the root of `ProgramData`);
//! - a C2-style port;
//! - a rare destination: only this host connected to it, among at least `rare_min_hosts` hosts
//!   in the data, and no lookup on any host returned it.
//!
//! One corroboration makes it **medium**, two or more **high**. Public destinations and
//! non-web ports add 5 to the score each.
//!
//! Lookups can be missing for innocent reasons, and both are accounted for:
//! - **the answer came from a cache filled earlier**: when a lookup on *another* host returned
//!   the address, the finding is **info** (the answers are shared fleet-wide, so a CDN or
//!   Microsoft address one host resolved is known); the process's own host resolving it drops
//!   the connection altogether;
//! - **the process or the cache predates the log**: when the process's EID 1 is not in the
//!   input (it started before the log did), or the connection falls in the first
//!   `warmup_minutes` of the host's log (or of a stretch after `log_gap_minutes` without
//!   events, where recordings were joined), its lookup may simply not be in the log: rarity
//!   does not count, and without other corroboration the finding is **info**.
//!
//! System processes and installers (`system_programs`: Defender, OneDrive, `msiexec.exe`,
//! `TiWorker.exe`, Windows Update, Office Click-to-Run, ...; and programs whose name says
//! setup, update or install) are never corroborated by rarity, and their user-writable folder
//! does not count when the address is in a CDN or Microsoft network (`cdn_networks`), where
//! installers unpacked to Temp fetch their payloads. Rarity does not count for CDN addresses
//! either: one address serves thousands of names and answers are cached for long.
//!
//! The set of resolved addresses is shared by all programs of a host (the DNS cache is shared,
//! so a program may connect to an address another one looked up). Everything is judged at the
//! end, so the order of events does not matter.
//!
//! **Why:** a browser or an Office program that normally names its servers, but downloads from
//! `http://10.0.5.13/` or connects to a bare address, is often following a link an attacker
//! planted (payload download by address, as in the Security-Datasets LSASS campaigns), or is
//! hosting injected code that talks to a hard-coded C2 address; shells and script hosts have no
//! business holding a connection to a bare address (reverse shells and download cradles do).
//!
//! **ATT&CK:** T1071 (Application Layer Protocol), T1105 (Ingress Tool Transfer) for web
//! ports, T1095 (Non-Application Layer Protocol) for other ports; T1059 (Command and Scripting
//! Interpreter) added for shells and script hosts, T1204.002 (User Execution: Malicious File)
//! for programs in user-writable folders.
//!
//! **False positives:** peer-to-peer updates (Delivery Optimization, in `svchost.exe`, ignored
//! by default), addresses typed by users or configured in software (proxies, NTP, license
//! servers), Sysmon configs that drop EID 22 of some programs; admin scripts that talk to
//! servers by address (medium: a shell); services that really listen on 4444 (some Java and
//! agent ports). Ignore programs in `ignored_processes`.

use std::collections::BTreeSet;
use std::net::IpAddr;

use dnshunt_core::{BoundReached, Detector, Event, EventKind, Finding, FindingSink, Guid, Severity, Timestamp};
use serde::Deserialize;

use crate::fast::{HashMap, HashSet};
use crate::stats::{hash64, host, image, image_into, is_local_only, is_public, keep_earliest, user_writable_folder, Network, PairCounts, StrPair};

/// Settings of the `connection_without_lookup` detector.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionWithoutLookupConfig {
    /// Lookups a program must have made on the host to count as one that resolves names. Default 5.
    pub min_lookups: u64,
    /// Also report private destinations. Default true.
    pub include_private: bool,
    /// Programs never reported (lower-case image names). Default: `svchost.exe`, `dns.exe`,
    /// `system` (services and the kernel connect by address by design).
    pub ignored_processes: Vec<String>,
    /// Destination ports never reported. Default 53 and 853 (`resolver_bypass` covers them).
    pub ignored_ports: Vec<u16>,
    /// Shells and script hosts (lower-case image names), judged even when they resolve nothing;
    /// their connections are corroborated.
    pub shells: Vec<String>,
    /// Ports of well-known C2 and exploit-server defaults, judged for every program; they
    /// corroborate. Default 4444 (Metasploit), 1337, 31337, and 1389 (the LDAP server of JNDI
    /// exploit kits such as marshalsec and JNDIExploit: a Java server calling it back is
    /// Log4Shell).
    pub c2_ports: Vec<u16>,
    /// System processes and installers (lower-case image names), never corroborated by rarity;
    /// programs whose name contains `setup`, `update` or `install` count as installers too.
    pub system_programs: Vec<String>,
    /// CDN and Microsoft networks (addresses or CIDRs) where one address serves many names:
    /// rarity does not count there, nor an installer's user-writable folder. Default: Microsoft,
    /// Akamai, Cloudflare, Fastly, Amazon CloudFront, Google, Edgecast.
    pub cdn_networks: Vec<String>,
    /// A destination only one host connected to is rare when the data holds at least this many
    /// hosts with connections. Default 3.
    pub rare_min_hosts: usize,
    /// Minutes at the start of a host's log in which a missing lookup is expected (answers
    /// cached before the log). Default 5.
    pub warmup_minutes: u32,
    /// Minutes without any event from a host after which its log counts as starting again
    /// (recordings joined together). Default 60.
    pub log_gap_minutes: u32,
    /// Resolved addresses remembered in all (per host and fleet-wide). Default 1 000 000.
    pub max_addresses: usize,
    /// (host, program, address) connection summaries remembered. Default 200 000.
    pub max_keys: usize,
    /// Processes remembered from EID 1, to tell those that started inside the log. Default 500 000.
    pub max_processes: usize,
    /// (host, minute) pairs with events remembered, to find where a host's log starts.
    /// Default 2 000 000.
    pub max_minutes: usize,
}

impl Default for ConnectionWithoutLookupConfig {
    fn default() -> Self {
        ConnectionWithoutLookupConfig {
            min_lookups: 5,
            include_private: true,
            ignored_processes: vec!["svchost.exe".into(), "dns.exe".into(), "system".into()],
            ignored_ports: vec![53, 853],
            shells: [
                "powershell.exe",
                "pwsh.exe",
                "powershell_ise.exe",
                "cmd.exe",
                "mshta.exe",
                "rundll32.exe",
                "regsvr32.exe",
                "wscript.exe",
                "cscript.exe",
                "msbuild.exe",
                "installutil.exe",
                "regasm.exe",
                "regsvcs.exe",
                "certutil.exe",
                "bitsadmin.exe",
            ]
            .map(str::to_owned)
            .to_vec(),
            c2_ports: vec![4444, 1337, 31337, 1389],
            system_programs: SYSTEM_PROGRAMS.iter().map(|s| (*s).to_owned()).collect(),
            cdn_networks: CDN_NETWORKS.iter().map(|s| (*s).to_owned()).collect(),
            rare_min_hosts: 3,
            warmup_minutes: 5,
            log_gap_minutes: 60,
            max_addresses: 1_000_000,
            max_keys: 200_000,
            max_processes: 500_000,
            max_minutes: 2_000_000,
        }
    }
}

/// System processes and installers that fetch from CDNs and Microsoft by design, the default
/// `system_programs`.
const SYSTEM_PROGRAMS: &[&str] = &[
    "lsass.exe",
    "services.exe",
    "spoolsv.exe",
    "msmpeng.exe",
    "mpcmdrun.exe",
    "mpdefendercoreservice.exe",
    "nissrv.exe",
    "mssense.exe",
    "senseir.exe",
    "sensendr.exe",
    "smartscreen.exe",
    "onedrive.exe",
    "onedrivesetup.exe",
    "onedrivestandaloneupdater.exe",
    "filecoauth.exe",
    "msiexec.exe",
    "tiworker.exe",
    "trustedinstaller.exe",
    "wuauclt.exe",
    "usoclient.exe",
    "mousocoreworker.exe",
    "musnotification.exe",
    "sihclient.exe",
    "wermgr.exe",
    "werfault.exe",
    "compattelrunner.exe",
    "devicecensus.exe",
    "backgroundtaskhost.exe",
    "backgroundtransferhost.exe",
    "taskhostw.exe",
    "searchapp.exe",
    "searchui.exe",
    "microsoftedgeupdate.exe",
    "googleupdate.exe",
    "officeclicktorun.exe",
    "officec2rclient.exe",
    "sdxhelper.exe",
];

/// CDN and Microsoft networks, the default `cdn_networks`.
const CDN_NETWORKS: &[&str] = &[
    // Microsoft (Azure, Microsoft 365, Windows Update)
    "13.64.0.0/11",
    "13.104.0.0/14",
    "20.33.0.0/16",
    "20.40.0.0/13",
    "20.64.0.0/10",
    "20.128.0.0/16",
    "20.184.0.0/13",
    "20.192.0.0/10",
    "40.64.0.0/10",
    "52.96.0.0/12",
    "52.112.0.0/14",
    "52.136.0.0/13",
    "104.40.0.0/13",
    "104.208.0.0/13",
    "131.253.0.0/16",
    "204.79.197.0/24",
    "2603:1000::/24",
    "2620:1ec::/36",
    "2a01:111::/32",
    // Akamai
    "2.16.0.0/13",
    "23.0.0.0/12",
    "23.32.0.0/11",
    "23.192.0.0/11",
    "95.100.0.0/15",
    "96.16.0.0/15",
    "104.64.0.0/10",
    "184.24.0.0/13",
    "184.50.0.0/15",
    "184.84.0.0/14",
    "2600:1400::/24",
    "2a02:26f0::/29",
    // Cloudflare
    "104.16.0.0/13",
    "104.24.0.0/14",
    "162.158.0.0/15",
    "172.64.0.0/13",
    "2606:4700::/32",
    "2803:f800::/32",
    "2a06:98c0::/29",
    // Fastly
    "151.101.0.0/16",
    "199.232.0.0/16",
    "146.75.0.0/17",
    "2a04:4e40::/32",
    "2a04:4e42::/32",
    // Amazon CloudFront
    "13.32.0.0/15",
    "13.224.0.0/14",
    "18.64.0.0/14",
    "54.192.0.0/16",
    "54.230.0.0/16",
    "99.84.0.0/16",
    "143.204.0.0/16",
    "2600:9000::/28",
    // Google
    "142.250.0.0/15",
    "172.217.0.0/16",
    "216.58.192.0/19",
    "2607:f8b0::/32",
    "2a00:1450::/32",
    // Edgecast
    "192.229.128.0/17",
    "2606:2800::/32",
];

#[derive(Debug, Default)]
struct Conn {
    count: u64,
    ports: BTreeSet<u16>,
    first: Option<Event>,
    last_time: Timestamp,
}

/// Hosts that connected to an address: the first (smallest hash) and whether there were more.
#[derive(Clone, Copy, Debug)]
struct Seen {
    host: u64,
    more: bool,
}

impl Seen {
    fn add(&mut self, host: u64) {
        if host != self.host {
            self.more = true;
            self.host = self.host.min(host);
        }
    }
}

pub struct ConnectionWithoutLookup {
    config: ConnectionWithoutLookupConfig,
    cdn: Vec<Network>,
    /// (host, address) pairs some lookup on that host returned.
    resolved: HashSet<(u64, IpAddr)>,
    /// Addresses some lookup returned, with the host that did (smallest hash: order-independent).
    resolved_by: HashMap<IpAddr, u64>,
    /// Host names by hash, for explanations.
    names: HashMap<u64, String>,
    /// Hosts with lookups, hosts with connections.
    dns_hosts: HashSet<u64>,
    net_hosts: HashSet<u64>,
    /// Every outbound destination and the hosts that connected to it.
    destinations: HashMap<IpAddr, Seen>,
    /// Processes whose EID 1 is in the input, by (host, ProcessGuid).
    started: HashSet<(u64, Guid)>,
    /// Minutes with any event, by host.
    minutes: HashMap<u64, HashSet<i64>>,
    n_minutes: usize,
    lookups: PairCounts,
    /// The image of the lookup at hand (reused, not allocated per event).
    image_buf: String,
    conns: HashMap<(String, String, IpAddr), Conn>,
    /// Events past each bound.
    over: Over,
}

/// Events not (fully) remembered, per bound.
#[derive(Debug, Default)]
struct Over {
    keys: u64,
    addresses: u64,
    minutes: u64,
    processes: u64,
}

/// What a missing lookup is up against.
#[derive(Debug)]
struct Context {
    /// Corroborations: (key, text for the explanation).
    corroboration: Vec<(&'static str, String)>,
    /// A lookup on another host returned the address.
    resolved_by: Option<String>,
    started_in_log: bool,
    early: bool,
    rare: bool,
    cdn: bool,
    system: bool,
}

impl ConnectionWithoutLookup {
    pub const NAME: &'static str = "connection_without_lookup";

    pub fn new(mut config: ConnectionWithoutLookupConfig) -> ConnectionWithoutLookup {
        for list in [&mut config.ignored_processes, &mut config.shells, &mut config.system_programs] {
            list.iter_mut().for_each(|s| *s = s.to_lowercase());
        }
        ConnectionWithoutLookup {
            cdn: Network::parse_list(&config.cdn_networks),
            config,
            resolved: HashSet::default(),
            resolved_by: HashMap::default(),
            names: HashMap::default(),
            dns_hosts: HashSet::default(),
            net_hosts: HashSet::default(),
            destinations: HashMap::default(),
            started: HashSet::default(),
            minutes: HashMap::default(),
            n_minutes: 0,
            lookups: PairCounts::default(),
            image_buf: String::new(),
            conns: HashMap::default(),
            over: Over::default(),
        }
    }

    /// Whether a program is a system process or an installer.
    fn is_system(&self, img: &str) -> bool {
        let stem = img.strip_suffix(".exe").unwrap_or(img);
        self.config.system_programs.iter().any(|s| s == img) || (!self.config.shells.iter().any(|s| s == img) && ["setup", "update", "install"].iter().any(|w| stem.contains(w)))
    }

    /// Whether `time` falls in the first `warmup_minutes` of the host's log, or of a stretch of
    /// it that follows `log_gap_minutes` without events.
    fn early_in_log(&self, host: u64, time: Timestamp) -> bool {
        let Some(minutes) = self.minutes.get(&host) else { return true };
        let (m, warmup, gap) = (time.0.div_euclid(60_000), self.config.warmup_minutes as i64, self.config.log_gap_minutes.max(1) as i64);
        let mut cur = m;
        loop {
            if cur <= m - warmup {
                return false;
            }
            match (1..=gap).map(|d| cur - d).find(|x| minutes.contains(x)) {
                Some(prev) => cur = prev,
                None => return true,
            }
        }
    }

    fn context(&self, h: u64, img: &str, ip: IpAddr, conn: &Conn, first: &Event) -> Context {
        let shell = self.config.shells.iter().any(|s| s == img);
        let system = self.is_system(img);
        let cdn = self.cdn.iter().any(|n| n.contains(ip));
        let folder = first.process().image.as_deref().and_then(user_writable_folder);
        let started_in_log = first.process().guid.is_some_and(|g| self.started.contains(&(h, g)));
        let early = self.early_in_log(h, first.time);
        let resolved_by = self.resolved_by.get(&ip).map(|other| self.names.get(other).cloned().unwrap_or_default());
        let single_host = self.destinations.get(&ip).is_none_or(|s| !s.more);
        let rare = single_host
            && self.net_hosts.len() >= self.config.rare_min_hosts.max(2)
            && self.dns_hosts.contains(&h)
            && resolved_by.is_none()
            && started_in_log
            && !early
            && !system
            && !cdn;
        let mut corroboration = Vec::new();
        if shell {
            corroboration.push((
                "shell",
                format!("{img} is a shell or script host, which has no business holding a connection to a bare address (reverse shells and download cradles do)"),
            ));
        }
        if let Some(folder) = folder {
            if !(system && cdn) {
                corroboration.push(("user_writable_folder", format!("{img} runs from {folder}, where users and droppers put programs")));
            }
        }
        if let Some(port) = conn.ports.iter().copied().find(|p| self.config.c2_ports.contains(p)) {
            let text = if port == 4444 {
                "port 4444 is Metasploit's default for its payloads".to_owned()
            } else if port == 1389 {
                "port 1389 is the default LDAP port of JNDI exploit servers (Log4Shell callbacks)".to_owned()
            } else {
                format!("port {port} is a well-known C2 default")
            };
            corroboration.push(("c2_port", text));
        }
        if rare {
            corroboration.push((
                "rare_destination",
                format!(
                    "the address is rare: only this host of the {} in the data connected to it, and no lookup on any host returned it",
                    self.net_hosts.len()
                ),
            ));
        }
        Context {
            corroboration,
            resolved_by,
            started_in_log,
            early,
            rare,
            cdn,
            system,
        }
    }
}

impl Detector for ConnectionWithoutLookup {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn bounds_reached(&self) -> Vec<BoundReached> {
        BoundReached::all([
            BoundReached::of(Self::NAME, "max_keys", self.config.max_keys, self.over.keys),
            BoundReached::of(Self::NAME, "max_addresses", self.config.max_addresses, self.over.addresses),
            BoundReached::of(Self::NAME, "max_minutes", self.config.max_minutes, self.over.minutes),
            BoundReached::of(Self::NAME, "max_processes", self.config.max_processes, self.over.processes),
        ])
    }

    fn observe(&mut self, event: &Event, _out: &mut Vec<Finding>) {
        let h_name = host(event);
        let h = hash64(h_name);
        self.names.entry(h).or_insert_with(|| h_name.to_owned());
        let minute = event.time.0.div_euclid(60_000);
        if self.n_minutes < self.config.max_minutes {
            if self.minutes.entry(h).or_default().insert(minute) {
                self.n_minutes += 1;
            }
        } else if !self.minutes.get(&h).is_some_and(|m| m.contains(&minute)) {
            self.over.minutes += 1;
        }
        match &event.kind {
            EventKind::ProcessCreate(p) => {
                if let Some(guid) = p.process.guid {
                    if self.started.len() < self.config.max_processes {
                        self.started.insert((h, guid));
                    } else {
                        self.over.processes += 1;
                    }
                }
            }
            EventKind::DnsQuery(q) => {
                self.dns_hosts.insert(h);
                image_into(event, &mut self.image_buf);
                if !self.lookups.add(StrPair(h_name, &self.image_buf), self.config.max_keys) {
                    self.over.keys += 1;
                }
                for ip in q.addresses() {
                    let ip = ip.to_canonical();
                    if self.resolved.len() < self.config.max_addresses {
                        self.resolved.insert((h, ip));
                    } else if !self.resolved.contains(&(h, ip)) {
                        self.over.addresses += 1;
                    }
                    if let Some(by) = self.resolved_by.get_mut(&ip) {
                        *by = (*by).min(h);
                    } else if self.resolved_by.len() < self.config.max_addresses {
                        self.resolved_by.insert(ip, h);
                    }
                }
            }
            EventKind::NetworkConnect(n) => {
                let (Some(ip), Some(port)) = (n.destination_ip, n.destination_port) else { return };
                let ip = ip.to_canonical();
                if n.initiated == Some(false) || is_local_only(ip) {
                    return;
                }
                self.net_hosts.insert(h);
                if let Some(seen) = self.destinations.get_mut(&ip) {
                    seen.add(h);
                } else if self.destinations.len() < self.config.max_addresses {
                    self.destinations.insert(ip, Seen { host: h, more: false });
                } else {
                    self.over.addresses += 1;
                }
                if self.config.ignored_ports.contains(&port) || (!self.config.include_private && !is_public(ip)) {
                    return;
                }
                let img = image(event);
                if self.config.ignored_processes.contains(&img) {
                    return;
                }
                let key = (h_name.to_owned(), img, ip);
                if !self.conns.contains_key(&key) && self.conns.len() >= self.config.max_keys {
                    self.over.keys += 1;
                    return;
                }
                let conn = self.conns.entry(key).or_default();
                conn.count += 1;
                if conn.ports.len() < 8 {
                    conn.ports.insert(port);
                }
                keep_earliest(&mut conn.first, event);
                conn.last_time = conn.last_time.max(event.time);
            }
            EventKind::ProcessTerminate(_) | EventKind::WireDns(_) | EventKind::WireFlow(_) => {}
        }
    }

    fn finish(&mut self, out: &mut dyn FindingSink) {
        let mut keys: Vec<&(String, String, IpAddr)> = self.conns.keys().collect();
        keys.sort();
        for key in keys {
            let (h_name, img, ip) = key;
            let h = hash64(h_name);
            let conn = &self.conns[key];
            if self.resolved.contains(&(h, *ip)) {
                continue;
            }
            let n_lookups = self.lookups.get(StrPair(h_name, img));
            let shell = self.config.shells.contains(img);
            let c2_port = conn.ports.iter().any(|p| self.config.c2_ports.contains(p));
            let Some(first) = &conn.first else { continue };
            // A program from a user-writable folder is judged without lookups too: dropped
            // tools (a C2 agent on the Desktop) often connect by address alone.
            let writable = first.process().image.as_deref().and_then(crate::stats::user_writable_folder).is_some();
            if n_lookups < self.config.min_lookups && !shell && !c2_port && !writable {
                continue;
            }
            let cx = self.context(h, img, *ip, conn, first);
            let public = is_public(*ip);
            let web = conn.ports.iter().all(|p| matches!(p, 80 | 443 | 8080 | 8443));
            let predates = !cx.started_in_log || cx.early;
            let (severity, base) = match (&cx.resolved_by, cx.corroboration.len()) {
                (Some(_), _) => (Severity::Info, 10),
                (None, 0) if predates => (Severity::Info, 10),
                (None, 0) => (Severity::Low, 30),
                // A dropped program that never resolves and may have started before the log:
                // its folder alone is not enough.
                (None, 1) if predates && writable && n_lookups < self.config.min_lookups && !shell && !c2_port => (Severity::Low, 35),
                (None, 1) => (Severity::Medium, 55),
                (None, _) => (Severity::High, 75),
            };
            let score = if severity == Severity::Info {
                base
            } else {
                base + if public { 5 } else { 0 } + if web { 0 } else { 5 }
            };
            let ports: Vec<String> = conn.ports.iter().map(u16::to_string).collect();
            let whose = if n_lookups >= self.config.min_lookups {
                format!("although it resolves names otherwise ({n_lookups} lookups)")
            } else {
                format!("from a program that resolved {n_lookups} name(s)")
            };
            let texts: Vec<&str> = cx.corroboration.iter().map(|(_, t)| t.as_str()).collect();
            let verdict = match (&cx.resolved_by, severity) {
                (Some(other), _) => {
                    let also = if texts.is_empty() {
                        String::new()
                    } else {
                        format!(" (it would otherwise have been raised by: {})", texts.join("; "))
                    };
                    format!("but a lookup on {other} returned it, so the answer was most likely in a cache filled before the log: info{also}")
                }
                (None, Severity::Info) => {
                    let why = if !cx.started_in_log {
                        "its process started before the log did (no EID 1 in the input)".to_owned()
                    } else {
                        format!("it came in the first {} minutes of this host's log", self.config.warmup_minutes)
                    };
                    format!("{why}, so its lookup may simply predate the log, and nothing else corroborates it: info")
                }
                (None, Severity::Low) => {
                    let mut note = String::new();
                    if cx.system || cx.cdn {
                        note = format!(
                            " ({}, where a lookup cached before the log is the usual story)",
                            match (cx.system, cx.cdn) {
                                (true, true) => "a system program or installer reaching a CDN or Microsoft address",
                                (true, false) => "a system program or installer",
                                _ => "a CDN or Microsoft address",
                            }
                        );
                    }
                    format!("nothing corroborates it (no shell or user-writable folder, no C2-style port, not a rare destination){note}, so it stays low: addresses configured in software and answers cached before the log look the same")
                }
                (None, severity) => format!("raised to {} by: {}", severity.as_str(), texts.join("; ")),
            };
            let explanation = format!(
                "{img} connected {} to {} address {ip} (port {}) that no lookup on this host returned, {whose}: a direct-to-address connection, as in payload downloads by address or hard-coded C2; {verdict}",
                crate::stats::counted(conn.count, "time", "times"),
                if public { "the public" } else { "the private" },
                ports.join(", ")
            );
            let mut attack: Vec<&str> = if web { vec!["T1071", "T1105"] } else { vec!["T1071", "T1095"] };
            if shell {
                attack.push("T1059");
            }
            if cx.corroboration.iter().any(|(k, _)| *k == "user_writable_folder") {
                attack.push("T1204.002");
            }
            let mut f = Finding::from_event(Self::NAME, severity, score, first, &[img, &ip.to_string()], explanation)
                .with_attack(&attack)
                .with_detail("address", ip.to_string())
                .with_detail("ports", conn.ports.iter().copied().collect::<Vec<u16>>())
                .with_detail("public", public)
                .with_detail("program_lookups", n_lookups)
                .with_detail("corroboration", cx.corroboration.iter().map(|(k, _)| *k).collect::<Vec<&str>>())
                .with_detail("resolved_on_other_host", cx.resolved_by.clone())
                .with_detail("process_started_in_log", cx.started_in_log)
                .with_detail("early_in_log", cx.early)
                .with_detail("rare", cx.rare)
                .with_detail("cdn", cx.cdn)
                .with_detail("system_program", cx.system);
            f.count = conn.count;
            f.time_last = conn.last_time.max(f.time);
            out.push(f);
        }
        self.conns.clear();
        self.resolved.clear();
        self.resolved_by.clear();
        self.destinations.clear();
        self.minutes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{run, short_image, Proc, Rng, T0};

    /// Ten minutes: past the warm-up of a log that starts at `T0`.
    const LATER: i64 = T0 + 10 * 60_000;

    #[track_caller]
    fn check(config: ConnectionWithoutLookupConfig, events: &[Event], expected: &[(&str, &str, Severity)]) {
        let mut events = events.to_vec();
        for seed in 1..3 {
            Rng::new(seed).shuffle(&mut events);
            let findings = run(&mut ConnectionWithoutLookup::new(config.clone()), &events);
            let got: Vec<(String, String, Severity)> = findings
                .iter()
                .map(|f| (short_image(f).to_owned(), f.details["address"].as_str().unwrap_or("").to_owned(), f.severity))
                .collect();
            let want: Vec<(String, String, Severity)> = expected.iter().map(|(i, a, s)| ((*i).to_owned(), (*a).to_owned(), *s)).collect();
            assert_eq!(got, want);
        }
    }

    /// The finding about `address`.
    #[track_caller]
    fn finding(events: &[Event], address: &str) -> Finding {
        let findings = run(&mut ConnectionWithoutLookup::new(ConnectionWithoutLookupConfig::default()), events);
        findings
            .into_iter()
            .find(|f| f.details["address"] == address)
            .unwrap_or_else(|| panic!("no finding for {address}"))
    }

    /// The process starts at `T0` (its EID 1 is in the log) and resolves six names.
    fn browsing(p: &Proc) -> Vec<Event> {
        let mut events = vec![p.create(T0, &p.image, None)];
        events.extend((0..6).flat_map(|i| {
            let ip = format!("93.184.216.{}", 30 + i);
            [
                p.dns(T0 + i * 1000, &format!("site{i}.example.com"), &format!("::ffff:{ip};"), 0),
                p.net(T0 + i * 1000 + 50, "tcp", &ip, 443),
            ]
        }));
        events
    }

    /// Two more hosts with ordinary traffic, so the data holds three hosts.
    fn fleet() -> Vec<Event> {
        ["WS-A", "WS-B"]
            .iter()
            .flat_map(|h| {
                let p = Proc::new(h, "C:\\Program Files\\App\\app.exe", 9);
                [p.dns(T0, "intranet.corp.example", "::ffff:10.0.5.13;", 0), p.net(T0 + 100, "tcp", "10.0.5.13", 443)]
            })
            .collect()
    }

    #[test]
    fn a_missing_lookup_alone_is_low_and_rarity_corroborates() {
        let edge = Proc::new("MKT01", "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe", 1);
        let mut events = browsing(&edge);
        events.push(edge.net(LATER, "tcp", "10.0.5.14", 80));
        events.push(edge.net(LATER + 500, "tcp", "10.0.5.14", 80));
        events.push(edge.net(LATER + 1000, "tcp", "45.33.32.156", 443));
        // One host in the data: nothing is rare, both stay low.
        check(
            ConnectionWithoutLookupConfig::default(),
            &events,
            &[("msedge.exe", "10.0.5.14", Severity::Low), ("msedge.exe", "45.33.32.156", Severity::Low)],
        );
        let low = finding(&events, "45.33.32.156");
        assert!(low.explanation.contains("nothing corroborates it"), "{}", low.explanation);
        let public_only = ConnectionWithoutLookupConfig {
            include_private: false,
            ..Default::default()
        };
        check(public_only, &events, &[("msedge.exe", "45.33.32.156", Severity::Low)]);

        // Three hosts: an address only MKT01 reached and nobody resolved is rare (medium); one
        // the other hosts reach too is not.
        events.extend(fleet());
        events.push(edge.net(LATER + 2000, "tcp", "10.0.5.13", 80));
        check(
            ConnectionWithoutLookupConfig::default(),
            &events,
            &[
                ("msedge.exe", "10.0.5.13", Severity::Info),
                ("msedge.exe", "10.0.5.14", Severity::Medium),
                ("msedge.exe", "45.33.32.156", Severity::Medium),
            ],
        );
        let rare = finding(&events, "45.33.32.156");
        assert!(
            rare.explanation.contains("raised to medium by: the address is rare: only this host of the 3"),
            "{}",
            rare.explanation
        );
        assert_eq!(rare.details["corroboration"], serde_json::json!(["rare_destination"]));
        assert_eq!(rare.score, 60);
    }

    #[test]
    fn answers_cached_before_the_log_are_info() {
        let edge = Proc::new("H", "C:\\x\\msedge.exe", 1);
        let other = Proc::new("H", "C:\\x\\updater.exe", 2);
        let elsewhere = Proc::new("H2", "C:\\x\\msedge.exe", 3);
        let mut events = browsing(&edge);
        // Resolved by another program on the same host: not reported.
        events.push(other.dns(T0, "cdn.example.net", "::ffff:151.101.1.1;", 0));
        events.push(edge.net(LATER, "tcp", "151.101.1.1", 443));
        // Resolved only on another host (the fleet's answers): info.
        events.push(elsewhere.dns(T0, "img.example.net", "2606:2800:220:1:248:1893:25c8:1946;", 0));
        events.push(edge.net(LATER, "tcp", "2606:2800:220:1:248:1893:25c8:1946", 443));
        check(
            ConnectionWithoutLookupConfig::default(),
            &events,
            &[("msedge.exe", "2606:2800:220:1:248:1893:25c8:1946", Severity::Info)],
        );
        let f = finding(&events, "2606:2800:220:1:248:1893:25c8:1946");
        assert!(f.explanation.contains("a lookup on H2 returned it"), "{}", f.explanation);
        assert_eq!(f.details["resolved_on_other_host"], "H2");
        // Even a shell's connection is info when another host resolved the address.
        let ps = Proc::new("H", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", 4);
        let shell = vec![
            ps.create(T0, "powershell", None),
            ps.net(LATER, "tcp", "2606:2800:220:1:248:1893:25c8:1946", 8081),
            events[events.len() - 2].clone(),
        ];
        check(
            ConnectionWithoutLookupConfig::default(),
            &shell,
            &[("powershell.exe", "2606:2800:220:1:248:1893:25c8:1946", Severity::Info)],
        );
    }

    #[test]
    fn lookups_that_predate_the_log_are_info() {
        let edge = Proc::new("H", "C:\\x\\msedge.exe", 1);
        let mut events = browsing(&edge);
        // In the first minutes of the host's log.
        events.push(edge.net(T0 + 2 * 60_000, "tcp", "45.33.32.156", 443));
        // Well after it: low.
        events.push(edge.net(LATER, "tcp", "45.33.32.157", 443));
        // After a two-hour gap (another recording joined on): the log starts again.
        let resumed = T0 + 3 * 3_600_000;
        events.push(edge.dns(resumed, "site.example.com", "::ffff:93.184.216.99;", 0));
        events.push(edge.net(resumed + 60_000, "tcp", "45.33.32.158", 443));
        check(
            ConnectionWithoutLookupConfig::default(),
            &events,
            &[
                ("msedge.exe", "45.33.32.156", Severity::Info),
                ("msedge.exe", "45.33.32.157", Severity::Low),
                ("msedge.exe", "45.33.32.158", Severity::Info),
            ],
        );
        assert!(finding(&events, "45.33.32.156").explanation.contains("first 5 minutes of this host's log"));

        // A process that started before the log (no EID 1): info, and never rare.
        let mut no_start: Vec<Event> = browsing(&edge).into_iter().skip(1).collect();
        no_start.extend(fleet());
        no_start.push(edge.net(LATER, "tcp", "45.33.32.156", 443));
        check(ConnectionWithoutLookupConfig::default(), &no_start, &[("msedge.exe", "45.33.32.156", Severity::Info)]);
        let f = finding(&no_start, "45.33.32.156");
        assert!(f.explanation.contains("started before the log did"), "{}", f.explanation);
        assert_eq!(f.details["rare"], false);
    }

    #[test]
    fn programs_that_never_resolve_and_ignored_traffic_are_quiet() {
        let edge = Proc::new("H", "C:\\x\\msedge.exe", 1);
        let agent = Proc::new("H", "C:\\Program Files\\Agent\\agent.exe", 3);
        let svchost = Proc::new("H", "C:\\Windows\\System32\\svchost.exe", 4);
        let mut events = browsing(&edge);
        // An installed program that never resolves names, on an ordinary port, is not this
        // detector's business.
        events.push(agent.net(LATER, "tcp", "10.0.5.13", 8443));
        // Multicast, DNS and services are ignored.
        events.push(edge.net(LATER, "udp", "239.255.255.250", 1900));
        events.push(edge.net(LATER, "udp", "10.0.0.53", 53));
        events.extend(browsing(&svchost));
        events.push(svchost.net(LATER, "tcp", "13.107.4.50", 80));
        check(ConnectionWithoutLookupConfig::default(), &events, &[]);
    }

    #[test]
    fn dropped_programs_are_judged_without_lookups() {
        let edge = Proc::new("H", "C:\\x\\msedge.exe", 1);
        let payload = Proc::new("H", "C:\\Users\\u\\Downloads\\winx64_payload.exe", 3);
        let mut events = browsing(&edge);
        events.push(payload.net(LATER, "tcp", "10.0.5.13", 8443));
        // Its EID 1 is not in the input: it may predate the log, so its folder alone makes it low.
        check(ConnectionWithoutLookupConfig::default(), &events, &[("winx64_payload.exe", "10.0.5.13", Severity::Low)]);
        // Started within the log: medium.
        events.push(payload.create(LATER - 60_000, "winx64_payload.exe", None));
        check(ConnectionWithoutLookupConfig::default(), &events, &[("winx64_payload.exe", "10.0.5.13", Severity::Medium)]);
    }

    #[test]
    fn user_writable_folders_corroborate() {
        let dropped = Proc::new("H1", "C:\\Users\\u\\AppData\\Local\\Temp\\upd\\helper.exe", 1);
        let installed = Proc::new("H2", "C:\\Program Files\\Helper\\helper.exe", 2);
        let mut events = browsing(&dropped);
        events.extend(browsing(&installed));
        events.push(dropped.net(LATER, "tcp", "45.33.32.156", 443));
        events.push(installed.net(LATER, "tcp", "45.33.32.156", 443));
        check(
            ConnectionWithoutLookupConfig::default(),
            &events,
            &[("helper.exe", "45.33.32.156", Severity::Medium), ("helper.exe", "45.33.32.156", Severity::Low)],
        );
        let findings = run(&mut ConnectionWithoutLookup::new(ConnectionWithoutLookupConfig::default()), &events);
        let medium = findings.iter().find(|f| f.severity == Severity::Medium).unwrap();
        assert!(
            medium.explanation.contains("raised to medium by: helper.exe runs from AppData\\Local\\Temp"),
            "{}",
            medium.explanation
        );
        assert!(medium.attack.contains(&"T1204.002".to_owned()));
    }

    #[test]
    fn system_programs_and_installers_reaching_cdns_stay_low() {
        // Three hosts; each program connects to a Microsoft or CDN IPv6 address only its host
        // reaches, well after its start, without a lookup.
        let onedrive = Proc::new("WS1", "C:\\Users\\u\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe", 1);
        let msiexec = Proc::new("WS1", "C:\\Windows\\System32\\msiexec.exe", 2);
        let updater = Proc::new("WS1", "C:\\Program Files\\Vendor\\VendorUpdater.exe", 3);
        let setup = Proc::new("WS1", "C:\\Users\\u\\AppData\\Local\\Temp\\{7B1E}\\setup.exe", 4);
        let mut events = fleet();
        for (p, ip) in [
            (&onedrive, "2603:1061:14:29::6"),
            (&msiexec, "2600:1406:3a00:21::173e:2e65"),
            (&updater, "2606:4700::6810:84e5"),
            (&setup, "2a04:4e42:600::729"),
        ] {
            events.extend(browsing(p));
            events.push(p.net(LATER, "tcp", ip, 443));
        }
        check(
            ConnectionWithoutLookupConfig::default(),
            &events,
            &[
                ("msiexec.exe", "2600:1406:3a00:21::173e:2e65", Severity::Low),
                ("OneDrive.exe", "2603:1061:14:29::6", Severity::Low),
                ("setup.exe", "2a04:4e42:600::729", Severity::Low),
                ("VendorUpdater.exe", "2606:4700::6810:84e5", Severity::Low),
            ],
        );
        let f = finding(&events, "2a04:4e42:600::729");
        assert!(
            f.explanation.contains("a system program or installer reaching a CDN or Microsoft address"),
            "{}",
            f.explanation
        );
        // Not fired the other way: the same installer from Temp reaching a non-CDN address
        // is corroborated by its folder, and an ordinary program reaching a rare non-CDN
        // address by rarity.
        let mut elsewhere = fleet();
        let app = Proc::new("WS1", "C:\\Program Files\\App\\client.exe", 5);
        elsewhere.extend(browsing(&setup));
        elsewhere.extend(browsing(&app));
        elsewhere.push(setup.net(LATER, "tcp", "45.33.32.156", 443));
        elsewhere.push(app.net(LATER, "tcp", "45.33.32.157", 443));
        elsewhere.push(app.net(LATER, "tcp", "2603:1061:14:29::6", 443));
        check(
            ConnectionWithoutLookupConfig::default(),
            &elsewhere,
            &[
                ("client.exe", "45.33.32.157", Severity::Medium),
                ("client.exe", "2603:1061:14:29::6", Severity::Low),
                ("setup.exe", "45.33.32.156", Severity::Medium),
            ],
        );
        // Installers are never rare, so only the folder counts for the setup.
        let setup_finding = finding(&elsewhere, "45.33.32.156");
        assert_eq!(setup_finding.details["corroboration"], serde_json::json!(["user_writable_folder"]));
    }

    #[test]
    fn a_java_server_calling_a_jndi_ldap_port_is_log4shell() {
        // Tomcat (running since before the log) calls the attacker's LDAP server on 1389; the
        // same server's calls to its database stay quiet.
        let tomcat = Proc::new("WS5", "C:\\ProgramData\\chocolatey\\lib\\Tomcat\\tools\\apache-tomcat-9.0.62\\bin\\tomcat9.exe", 1);
        let events = vec![tomcat.net(T0, "tcp", "192.168.3.5", 1389), tomcat.net(T0 + 1000, "tcp", "192.168.2.9", 5432)];
        check(ConnectionWithoutLookupConfig::default(), &events, &[("tomcat9.exe", "192.168.3.5", Severity::Medium)]);
        let f = finding(&events, "192.168.3.5");
        assert!(f.explanation.contains("JNDI exploit servers"), "{}", f.explanation);
    }

    #[test]
    fn reverse_shells_and_c2_ports_are_found_without_lookups() {
        // A forensics-exercise shape: an exploited mail server (running since before the log)
        // and 32-bit PowerShell connect back to the attacker's box on 4444 and 5555; neither
        // ever resolves a name.
        let mercury = Proc::new("DESKTOP", "C:\\MERCURY\\mercury.exe", 1);
        let ps = Proc::new("DESKTOP", "C:\\Windows\\SysWOW64\\WindowsPowerShell\\v1.0\\powershell.exe", 2);
        let cmd = Proc::new("DESKTOP", "C:\\Windows\\System32\\cmd.exe", 3);
        let events = vec![
            ps.create(T0, "powershell -nop -w hidden", None),
            cmd.create(T0, "cmd.exe", None),
            mercury.net(T0, "tcp", "192.168.47.145", 25),
            mercury.net(T0 + 1000, "tcp", "192.168.47.132", 4444),
            ps.net(T0 + 2000, "tcp", "192.168.47.132", 5555),
            cmd.net(T0 + 3000, "tcp", "45.33.32.156", 8081),
            ps.net(T0 + 4000, "tcp", "45.33.32.156", 4444),
        ];
        check(
            ConnectionWithoutLookupConfig::default(),
            &events,
            &[
                ("cmd.exe", "45.33.32.156", Severity::Medium),
                ("mercury.exe", "192.168.47.132", Severity::Medium),
                ("powershell.exe", "45.33.32.156", Severity::High),
                ("powershell.exe", "192.168.47.132", Severity::Medium),
            ],
        );
        let findings = run(&mut ConnectionWithoutLookup::new(ConnectionWithoutLookupConfig::default()), &events);
        let mercury_finding = findings.iter().find(|f| f.details["ports"][0] == 4444 && f.details["address"] == "192.168.47.132").unwrap();
        assert!(
            mercury_finding.explanation.contains("raised to medium by: port 4444 is Metasploit's default"),
            "{}",
            mercury_finding.explanation
        );
        assert_eq!(mercury_finding.details["process_started_in_log"], false);
        let ps_finding = findings.iter().find(|f| f.details["ports"][0] == 5555).unwrap();
        assert!(ps_finding.attack.contains(&"T1059".to_owned()));
        assert!(
            ps_finding.explanation.contains("raised to medium by: powershell.exe is a shell or script host"),
            "{}",
            ps_finding.explanation
        );
        let both = findings.iter().find(|f| f.severity == Severity::High).unwrap();
        assert_eq!(both.details["corroboration"], serde_json::json!(["shell", "c2_port"]));
        assert_eq!(both.score, 85);

        // Not fired: without the lists nothing corroborates (and nobody resolves names); a
        // shell whose address was resolved on the host is quiet.
        let quiet = ConnectionWithoutLookupConfig {
            shells: Vec::new(),
            c2_ports: Vec::new(),
            ..Default::default()
        };
        check(quiet, &events, &[]);
        let web = vec![ps.net(T0, "tcp", "10.1.1.1", 443)];
        check(ConnectionWithoutLookupConfig::default(), &web, &[("powershell.exe", "10.1.1.1", Severity::Medium)]);
        let resolved = vec![ps.dns(T0, "files.example.org", "::ffff:198.51.100.9;", 0), ps.net(T0 + 100, "tcp", "198.51.100.9", 4444)];
        check(ConnectionWithoutLookupConfig::default(), &resolved, &[]);
    }
}

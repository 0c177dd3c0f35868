//! The process join: every ProcessCreate (EID 1) remembered by host and `ProcessGuid`, so a
//! finding about a lookup (EID 22) or a connection (EID 3) can name not only its process but
//! the chain of parents that started it, as far as the data goes.
//!
//! The join is order-independent: EID 1 events are collected while the input is read and the
//! chains are built only when findings are final (the engine calls [`ProcessTree::annotate`] in
//! `finish`), so it does not matter whether a process's EID 1 came before or after its lookups,
//! or from another file.
//!
//! Joins without a ProcessGuid: Sysmon logs a lookup or a connection with the all-zero GUID and
//! `Image: <unknown process>` when it does not know the process (yet, or any more): a
//! short-lived process whose EID 1 it had not processed when the lookup came in, or one that had
//! already exited. Such an event is joined by host and `ProcessId` to the EID 1 of the process
//! that had that pid at the time ([`ProcessTree::resolve`]). Windows reuses pids, so every
//! process a pid had is kept with its start (EID 1) and end (EID 5), and the join picks the one
//! alive then. The engine holds such events until all input is read and then gives the
//! detectors the [repaired](ProcessTree::repair) copy, so finding ids and severities do not
//! depend on the order EID 1 and the lookup arrived in; [`ProcessTree::fill_finding`] joins
//! what is left and says so in `details.process_joined_by`.
//!
//! Memory: one small node per process (a GUID, a pid, a parent GUID and shared strings: the
//! image paths, command lines and users of a fleet repeat endlessly, so each distinct string is
//! stored once: images and users as the events share them, command lines interned here), a pid
//! index entry per process, the end time of each process seen ending and one
//! entry per event without a GUID. At most `max_processes` of each are kept; later ones are
//! counted and dropped.

use std::sync::Arc;

use dnshunt_core::{file_name_of, image_file_name, Event, EventKind, Finding, Guid, Timestamp, UNKNOWN_PROCESS};
use serde::Serialize;

use crate::fast::{HashMap, HashSet};
use crate::stats::{hash64, host};

/// Default cap on remembered processes (about 100 bytes each plus shared strings).
pub const DEFAULT_MAX_PROCESSES: usize = 2_000_000;

/// Longest chain reported (a loop in bad data must not run forever).
const MAX_DEPTH: usize = 16;

/// How long after its process's EID 5 an event may still be logged (Sysmon can write a lookup
/// slightly after the terminate).
const LATE_MS: i64 = 2_000;

/// How long before its process's EID 1 an event may be timestamped. This is the common case of
/// the zero GUID (Sysmon had not yet processed the EID 1: 0.15-0.8 s in the Security Datasets);
/// used only when no process with that pid was alive.
const EARLY_MS: i64 = 1_000;

/// True when a `ProcessGuid` names no process: missing, or all zeros
/// (`{00000000-0000-0000-0000-000000000000}`).
pub fn is_unknown(guid: Option<Guid>) -> bool {
    guid.is_none_or(Guid::is_nil)
}

/// True when an image names no program: missing or Sysmon's `<unknown process>` (normalisation
/// unescapes the `&lt;unknown process&gt;` of some exports).
fn is_unknown_image(image: Option<&str>) -> bool {
    image.is_none_or(|i| i.eq_ignore_ascii_case(UNKNOWN_PROCESS))
}

#[derive(Clone, Debug)]
struct Node {
    pid: Option<u32>,
    image: Option<Arc<str>>,
    command_line: Option<Arc<str>>,
    user: Option<Arc<str>>,
    started: Timestamp,
    parent: Option<Guid>,
    parent_pid: Option<u32>,
    parent_image: Option<Arc<str>>,
    parent_command_line: Option<Arc<str>>,
}

impl Node {
    /// The last link of a chain when only this child's EID 1 names the parent (its `Parent*`
    /// fields): no user and no start time.
    fn parent_link(&self, guid: Option<Guid>) -> Ancestor {
        Ancestor {
            guid,
            pid: self.parent_pid,
            image: self.parent_image.as_deref().map(str::to_owned),
            command_line: self.parent_command_line.as_deref().map(str::to_owned),
            user: None,
            started: None,
        }
    }
}

/// One ancestor of a process, nearest first in a chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ancestor {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guid: Option<Guid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_line: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// When it started (its EID 1); absent for the last link when only the child's EID 1 names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<Timestamp>,
}

/// ProcessGuid → what EID 1 said about the process, per host; and the processes each pid had.
#[derive(Debug)]
pub struct ProcessTree {
    nodes: HashMap<(u64, Guid), Node>,
    /// (host, pid) → the processes (their nodes) that had this pid, in arrival order.
    by_pid: HashMap<(u64, u32), Vec<Guid>>,
    /// (host, ProcessGuid) → when it ended: the earliest EID 5.
    ended: HashMap<(u64, Guid), Timestamp>,
    /// (host, pid, time) of the events that named no process, so a finding can tell that its
    /// evidence was joined by pid.
    unnamed: HashSet<(u64, u32, Timestamp)>,
    /// Command lines, each distinct one stored once.
    strings: HashSet<Arc<str>>,
    max_processes: usize,
    dropped: u64,
}

impl Default for ProcessTree {
    fn default() -> Self {
        ProcessTree::new(DEFAULT_MAX_PROCESSES)
    }
}

impl ProcessTree {
    pub fn new(max_processes: usize) -> ProcessTree {
        ProcessTree {
            nodes: HashMap::default(),
            by_pid: HashMap::default(),
            ended: HashMap::default(),
            unnamed: HashSet::default(),
            strings: HashSet::default(),
            max_processes,
            dropped: 0,
        }
    }

    /// Processes remembered, and entries (processes, ends, events without a GUID) dropped
    /// because the cap was reached.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn intern(&mut self, s: Option<&str>) -> Option<Arc<str>> {
        let s = s?;
        if let Some(existing) = self.strings.get(s) {
            return Some(existing.clone());
        }
        let arc: Arc<str> = Arc::from(s);
        self.strings.insert(arc.clone());
        Some(arc)
    }

    /// Remembers a ProcessCreate, the end of a process (EID 5), and where an event named no
    /// process. Give it the event as read, not [`ProcessTree::repair`]'s copy.
    pub fn observe(&mut self, event: &Event) {
        let host_key = hash64(host(event));
        match &event.kind {
            EventKind::ProcessCreate(pc) => self.observe_create(host_key, event.time, pc),
            EventKind::ProcessTerminate(pt) if !is_unknown(pt.process.guid) => {
                let Some(guid) = pt.process.guid else { return };
                let full = self.ended.len() >= self.max_processes;
                match self.ended.get_mut(&(host_key, guid)) {
                    Some(end) => *end = (*end).min(event.time),
                    None if full => self.dropped += 1,
                    None => {
                        self.ended.insert((host_key, guid), event.time);
                    }
                }
            }
            _ => {
                let process = event.process();
                let Some(pid) = process.pid.filter(|_| is_unknown(process.guid)) else { return };
                if self.unnamed.len() >= self.max_processes {
                    self.dropped += 1;
                } else {
                    self.unnamed.insert((host_key, pid, event.time));
                }
            }
        }
    }

    fn observe_create(&mut self, host_key: u64, time: Timestamp, pc: &dnshunt_core::ProcessCreate) {
        let Some(guid) = pc.process.guid.filter(|g| !g.is_nil()) else { return };
        let key = (host_key, guid);
        // A replayed or duplicated EID 1 keeps the earliest copy, whatever the arrival order.
        let indexed_pid = match self.nodes.get(&key) {
            Some(existing) if existing.started <= time => return,
            Some(existing) => existing.pid,
            None if self.nodes.len() >= self.max_processes => {
                self.dropped += 1;
                return;
            }
            None => None,
        };
        let node = Node {
            pid: pc.process.pid,
            // The image and user are already shared text (`dnshunt_core::shared`).
            image: pc.process.image.clone(),
            command_line: self.intern(pc.command_line.as_deref()),
            user: pc.process.user.clone(),
            started: time,
            parent: pc.parent.guid,
            parent_pid: pc.parent.pid,
            parent_image: pc.parent.image.clone(),
            parent_command_line: self.intern(pc.parent_command_line.as_deref()),
        };
        if node.pid != indexed_pid {
            if let Some(old) = indexed_pid {
                if let Some(guids) = self.by_pid.get_mut(&(host_key, old)) {
                    guids.retain(|g| *g != guid);
                    if guids.is_empty() {
                        self.by_pid.remove(&(host_key, old));
                    }
                }
            }
            if let Some(pid) = node.pid {
                self.by_pid.entry((host_key, pid)).or_default().push(guid);
            }
        }
        self.nodes.insert(key, node);
    }

    /// The process that had `pid` on the host at `time`: of those started by then and not ended
    /// more than 2 s before, the latest started; failing that, one that started at most 1 s
    /// later (the earliest). Ties go by GUID, so the answer does not depend on the order events
    /// came in.
    fn alive(&self, host_key: u64, pid: u32, time: Timestamp) -> Option<(Guid, &Node)> {
        let mut alive: Option<(Timestamp, Guid, &Node)> = None;
        let mut next: Option<(Timestamp, Guid, &Node)> = None;
        for &guid in self.by_pid.get(&(host_key, pid))? {
            let Some(node) = self.nodes.get(&(host_key, guid)) else { continue };
            if node.started <= time {
                if self.ended.get(&(host_key, guid)).is_some_and(|end| end.0 + LATE_MS < time.0) {
                    continue;
                }
                if alive.is_none_or(|(started, g, _)| (node.started, guid) > (started, g)) {
                    alive = Some((node.started, guid, node));
                }
            } else if node.started.0 - time.0 <= EARLY_MS && next.is_none_or(|(started, g, _)| (node.started, guid) < (started, g)) {
                next = Some((node.started, guid, node));
            }
        }
        alive.or(next).map(|(_, guid, node)| (guid, node))
    }

    /// The process (its GUID and image) that had `pid` on the host at `time`, by its EID 1 and
    /// EID 5: for an event that names no `ProcessGuid`.
    pub fn resolve(&self, host: Option<&str>, pid: u32, time: Timestamp) -> Option<(Guid, Option<&str>)> {
        self.alive(hash64(host.unwrap_or("")), pid, time).map(|(guid, node)| (guid, node.image.as_deref()))
    }

    /// A copy of a lookup, connection or terminate that names no process (a zero or missing
    /// GUID) with its process's GUID, and image and user when it lacks them, from the EID 1 of
    /// its pid alive at its time, as far as the events read so far tell. `None` when the event
    /// names its process or the join fails.
    pub fn repair(&self, event: &Event) -> Option<Event> {
        if matches!(event.kind, EventKind::ProcessCreate(_)) || !is_unknown(event.process().guid) {
            return None;
        }
        let (guid, node) = self.alive(hash64(host(event)), event.process().pid?, event.time)?;
        let mut out = event.clone();
        let process = out.process_mut();
        process.guid = Some(guid);
        if is_unknown_image(process.image.as_deref()) && node.image.is_some() {
            process.image = node.image.clone();
        }
        if process.user.is_none() {
            process.user = node.user.clone();
        }
        Some(out)
    }

    /// The parents of a process, nearest first, as far as EID 1 events go. The last link may
    /// come only from the `ParentImage` of its child's EID 1 (its own EID 1 was not seen).
    pub fn chain(&self, host: Option<&str>, guid: Guid) -> Vec<Ancestor> {
        let host_key = hash64(host.unwrap_or(""));
        let mut out = Vec::new();
        let mut seen = HashSet::default();
        let mut current = guid;
        seen.insert(current);
        while out.len() < MAX_DEPTH {
            let Some(node) = self.nodes.get(&(host_key, current)) else { break };
            let Some(parent) = node.parent.filter(|p| !seen.contains(p)) else {
                if node.parent.is_none() && node.parent_image.is_some() {
                    out.push(node.parent_link(None));
                }
                break;
            };
            seen.insert(parent);
            match self.nodes.get(&(host_key, parent)) {
                Some(p) => out.push(Ancestor {
                    guid: Some(parent),
                    pid: p.pid,
                    image: p.image.as_deref().map(str::to_owned),
                    command_line: p.command_line.as_deref().map(str::to_owned),
                    user: p.user.as_deref().map(str::to_owned),
                    started: Some(p.started),
                }),
                None => {
                    out.push(node.parent_link(Some(parent)));
                    break;
                }
            }
            current = parent;
        }
        out
    }

    /// Fills a finding's process context from the process's EID 1 (command line, parent, user),
    /// when the data has it. What the event itself said (image, user) is kept, unless the image
    /// was Sysmon's `<unknown process>`. A context without a GUID is left alone: that join needs
    /// the finding's time ([`ProcessTree::fill_finding`]).
    pub fn fill_context(&self, host: Option<&str>, ctx: &mut dnshunt_core::ProcessContext) {
        let Some(guid) = ctx.guid.filter(|g| !g.is_nil()) else { return };
        let Some(node) = self.nodes.get(&(hash64(host.unwrap_or("")), guid)) else { return };
        let owned = |s: &Option<Arc<str>>| s.as_deref().map(str::to_owned);
        if is_unknown_image(ctx.image.as_deref()) && node.image.is_some() {
            ctx.image = owned(&node.image);
        }
        if ctx.user.is_none() {
            ctx.user = owned(&node.user);
        }
        if ctx.pid.is_none() {
            ctx.pid = node.pid;
        }
        ctx.command_line = owned(&node.command_line);
        ctx.parent_image = owned(&node.parent_image);
        ctx.parent_command_line = owned(&node.parent_command_line);
    }

    /// [`ProcessTree::fill_context`] for a whole finding: a finding whose process has no GUID but
    /// a pid is first joined to the EID 1 of that pid alive at the finding's time (its earliest
    /// evidence), its explanation's `<unknown process>` becomes the program's name, and
    /// `details.process_joined_by` says `"pid"`; as it does when the evidence was
    /// [repaired](ProcessTree::repair) before detectors saw it. Doing it twice changes nothing.
    pub fn fill_finding(&self, finding: &mut Finding) {
        self.join_by_pid(finding);
        self.fill_context(finding.host.as_deref(), &mut finding.process);
        if !finding.details.contains_key("process_joined_by") && self.evidence_joined_by_pid(finding) {
            finding.details.insert("process_joined_by".into(), "pid".into());
        }
    }

    /// Joins a finding whose process has no GUID by host and pid at the finding's time: that of
    /// its earliest evidence with this pid (detectors key such findings by the zero GUID, so one
    /// may hold the lookups of several pids).
    fn join_by_pid(&self, finding: &mut Finding) {
        let ctx = &mut finding.process;
        if !is_unknown(ctx.guid) {
            return;
        }
        let Some(pid) = ctx.pid else { return };
        let time = finding.evidence.iter().find(|e| e.process().pid == Some(pid)).map_or(finding.time, |e| e.time);
        let Some((guid, node)) = self.alive(hash64(finding.host.as_deref().unwrap_or("")), pid, time) else {
            return;
        };
        ctx.guid = Some(guid);
        if let Some(image) = node.image.as_deref().filter(|_| is_unknown_image(ctx.image.as_deref())) {
            ctx.image = Some(image.to_owned());
        }
        // The detector named the process before the join.
        if let Some(image) = ctx.image.as_deref().filter(|i| !is_unknown_image(Some(i))) {
            if finding.explanation.contains(UNKNOWN_PROCESS) {
                finding.explanation = finding.explanation.replace(UNKNOWN_PROCESS, &image_file_name(image));
            }
        }
        finding.details.insert("process_joined_by".into(), "pid".into());
    }

    /// True when an evidence event of the finding named no process and was joined by pid to the
    /// finding's process before detectors saw it.
    fn evidence_joined_by_pid(&self, finding: &Finding) -> bool {
        let Some(guid) = finding.process.guid.filter(|g| !g.is_nil()) else { return false };
        finding.evidence.iter().any(|e| {
            let p = e.process();
            p.guid == Some(guid) && p.pid.is_some_and(|pid| self.unnamed.contains(&(hash64(host(e)), pid, e.time)))
        })
    }

    /// Adds `details.process_chain` (the parents, nearest first) and `details.process_tree`
    /// (`explorer.exe → outlook.exe → winword.exe`, oldest first, ending with the process
    /// itself) to a finding whose process has a known EID 1. A finding not yet
    /// [filled](ProcessTree::fill_finding) is filled first.
    pub fn annotate(&self, finding: &mut Finding) {
        self.fill_finding(finding);
        let Some(guid) = finding.process.guid.filter(|g| !g.is_nil()) else { return };
        let chain = self.chain(finding.host.as_deref(), guid);
        if chain.is_empty() {
            return;
        }
        let own = finding.process.image.as_deref().map_or("?", file_name_of).to_owned();
        let mut names: Vec<String> = chain.iter().rev().map(|a| a.image.as_deref().map_or("?", file_name_of).to_owned()).collect();
        names.push(own);
        finding.details.insert("process_tree".into(), names.join(" → ").into());
        if let Ok(value) = serde_json::to_value(&chain) {
            finding.details.insert("process_chain".into(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Proc, T0};
    use dnshunt_core::{DnsQuery, Severity};

    fn chain_images(tree: &ProcessTree, p: &Proc) -> Vec<String> {
        tree.chain(Some(&p.host), p.guid).into_iter().map(|a| a.image.unwrap_or_default()).collect()
    }

    #[track_caller]
    fn check(events: &[Event], target: &Proc, expected: &[&str]) {
        // Every arrival order gives the same chain.
        for rotation in 0..events.len().max(1) {
            let mut tree = ProcessTree::default();
            for e in events.iter().cycle().skip(rotation).take(events.len()) {
                tree.observe(e);
            }
            assert_eq!(chain_images(&tree, target), expected, "rotation {rotation}");
        }
    }

    #[test]
    fn chain_follows_parents_in_any_order() {
        let host = "WS-ACCT-07";
        let explorer = Proc::new(host, "C:\\Windows\\explorer.exe", 1);
        let outlook = Proc::new(host, "C:\\Program Files\\Microsoft Office\\OUTLOOK.EXE", 2);
        let word = Proc::new(host, "C:\\Program Files\\Microsoft Office\\WINWORD.EXE", 3);
        let ps = Proc::new(host, "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", 4);
        let rundll = Proc::new(host, "C:\\Windows\\System32\\rundll32.exe", 5);
        let userinit = Proc::new(host, "C:\\Windows\\System32\\userinit.exe", 0);
        let events = vec![
            rundll.create(T0 + 5000, "rundll32.exe wupd64.dll,Start", Some(&ps)),
            word.create(T0 + 3000, "WINWORD.EXE Invoice.docm", Some(&outlook)),
            ps.create(T0 + 4000, "powershell.exe -nop -w hidden -enc ...", Some(&word)),
            outlook.create(T0 + 2000, "OUTLOOK.EXE", Some(&explorer)),
            explorer.create(T0 + 1000, "explorer.exe", Some(&userinit)),
        ];
        check(
            &events,
            &rundll,
            &[&ps.image, &word.image, &outlook.image, &explorer.image, "C:\\Windows\\System32\\userinit.exe"],
        );
        // The same GUID on another host is another process.
        let mut tree = ProcessTree::default();
        events.iter().for_each(|e| tree.observe(e));
        assert!(tree.chain(Some("OTHER-HOST"), rundll.guid).is_empty());

        let mut f = Finding::from_event("test", Severity::Low, 10, &rundll.dns(T0 + 6000, "x.example.com", "-", 0), &[], String::new());
        tree.annotate(&mut f);
        assert_eq!(
            f.details["process_tree"],
            "userinit.exe → explorer.exe → OUTLOOK.EXE → WINWORD.EXE → powershell.exe → rundll32.exe"
        );
        assert_eq!(f.details["process_chain"].as_array().map(Vec::len), Some(5));
        tree.fill_context(f.host.as_deref(), &mut f.process);
        assert_eq!(f.process.command_line.as_deref(), Some("rundll32.exe wupd64.dll,Start"));
        assert_eq!(f.process.parent_image.as_deref(), Some(ps.image.as_str()));
    }

    #[test]
    fn no_chain_without_process_create_and_no_loop_on_bad_data() {
        let a = Proc::new("H", "a.exe", 1);
        let b = Proc::new("H", "b.exe", 2);
        check(&[], &a, &[]);
        // a's parent is b and b's parent is a: bad data must not loop.
        check(&[a.create(T0, "a", Some(&b)), b.create(T0, "b", Some(&a))], &a, &["b.exe"]);
        let mut capped = ProcessTree::new(1);
        capped.observe(&a.create(T0, "a", Some(&b)));
        capped.observe(&b.create(T0, "b", None));
        assert_eq!((capped.len(), capped.dropped()), (1, 1));
    }

    /// Every rotation of `events`, then the reverse: an arrival order for each.
    fn orders(events: &[Event]) -> Vec<Vec<Event>> {
        let mut out: Vec<Vec<Event>> = (0..events.len().max(1))
            .map(|r| events.iter().cycle().skip(r).take(events.len()).cloned().collect())
            .collect();
        out.push(events.iter().rev().cloned().collect());
        out
    }

    fn tree_of(events: &[Event]) -> ProcessTree {
        let mut tree = ProcessTree::default();
        events.iter().for_each(|e| tree.observe(e));
        tree
    }

    #[test]
    fn unknown_guids_are_missing_or_all_zeros() {
        assert!(is_unknown(None));
        assert!(is_unknown(Some(Guid(0))));
        assert_eq!(Guid::parse("{00000000-0000-0000-0000-000000000000}"), Some(Guid(0)));
        assert!(!is_unknown(Guid::parse("{9f85ce58-af6e-5f2b-1f04-000000000400}")));
    }

    #[test]
    fn events_without_a_guid_join_the_process_that_had_the_pid_then() {
        let host = "WS-ACCT-07";
        let ps = Proc::new(host, "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", 9);
        // pid 4242 is reused: cmd.exe has it first and ends at +10 s, PING.EXE has it from +60 s
        // to +60.4 s; on another host nslookup.exe has it from +20 s on.
        let mut cmd = Proc::new(host, "C:\\Windows\\System32\\cmd.exe", 1);
        let mut ping = Proc::new(host, "C:\\Windows\\System32\\PING.EXE", 2);
        let mut elsewhere = Proc::new("WS-HR-02", "C:\\Windows\\System32\\nslookup.exe", 3);
        for p in [&mut cmd, &mut ping, &mut elsewhere] {
            p.pid = 4242;
        }
        let events = vec![
            cmd.create(T0, "cmd.exe /c ping -n 1 files.example.net", Some(&ps)),
            cmd.terminate(T0 + 10_000),
            ping.create(T0 + 60_000, "ping -n 1 c2.example.net", Some(&ps)),
            ping.terminate(T0 + 60_400),
            elsewhere.create(T0 + 20_000, "nslookup c2.example.net", None),
        ];
        let expected: &[(&str, i64, Option<&Proc>)] = &[
            (host, 5_000, Some(&cmd)),
            // Logged 1.5 s after its EID 5: still cmd.exe; 2.5 s after: nobody.
            (host, 11_500, Some(&cmd)),
            (host, 12_500, None),
            (host, 30_000, None),
            // Timestamped 0.7 s before its EID 1: PING.EXE; 1.5 s before: nobody.
            (host, 59_300, Some(&ping)),
            (host, 58_500, None),
            (host, 60_200, Some(&ping)),
            (host, 62_000, Some(&ping)),
            (host, 63_000, None),
            // Never across hosts.
            ("WS-HR-02", 5_000, None),
            ("WS-HR-02", 30_000, Some(&elsewhere)),
            ("WS-OTHER", 5_000, None),
        ];
        for (n, order) in orders(&events).iter().enumerate() {
            let tree = tree_of(order);
            for &(h, ms, want) in expected {
                let got = tree.resolve(Some(h), 4242, Timestamp(T0 + ms));
                assert_eq!(got, want.map(|p| (p.guid, Some(p.image.as_str()))), "order {n}, {h} at +{ms} ms");
            }
            assert_eq!(tree.resolve(Some(host), 4243, Timestamp(T0 + 5_000)), None);
        }

        let tree = tree_of(&events);
        let lookup = ping.unnamed().dns(T0 + 60_100, "c2.example.net", "::ffff:203.0.113.7;", 0);
        let repaired = tree.repair(&lookup).expect("joined");
        assert_eq!(repaired.process().guid, Some(ping.guid));
        assert_eq!(repaired.process().image.as_deref(), Some(ping.image.as_str()));
        assert_eq!(
            repaired.dns(),
            Some(&DnsQuery {
                process: repaired.process().clone(),
                ..lookup.dns().unwrap().clone()
            })
        );
        // A missing GUID is as unknown as a zero one; a connection and a terminate join alike.
        let mut no_guid = lookup.clone();
        no_guid.process_mut().guid = None;
        no_guid.process_mut().user = None;
        let repaired = tree.repair(&no_guid).expect("joined");
        assert_eq!(repaired.process().guid, Some(ping.guid));
        assert_eq!(repaired.process().user.as_deref(), Some("CORP\\user"));
        let connect = cmd.unnamed().net(T0 + 9_000, "tcp", "203.0.113.7", 443);
        assert_eq!(tree.repair(&connect).and_then(|e| e.process().guid), Some(cmd.guid));
        assert_eq!(tree.repair(&cmd.unnamed().terminate(T0 + 10_000)).and_then(|e| e.process().guid), Some(cmd.guid));
        // Nothing to repair: a named process, an EID 1, no pid, nobody alive.
        assert_eq!(tree.repair(&ping.dns(T0 + 60_100, "c2.example.net", "-", 0)), None);
        assert_eq!(tree.repair(&events[0]), None);
        let mut no_pid = lookup.clone();
        no_pid.process_mut().pid = None;
        assert_eq!(tree.repair(&no_pid), None);
        assert_eq!(tree.repair(&ping.unnamed().dns(T0 + 30_000, "c2.example.net", "-", 0)), None);
    }

    #[test]
    fn an_early_start_counts_only_when_nobody_had_the_pid() {
        let host = "WS-ACCT-07";
        let mut old = Proc::new(host, "C:\\Windows\\System32\\svchost.exe", 1);
        let mut new = Proc::new(host, "C:\\Windows\\System32\\PING.EXE", 2);
        let mut newer = Proc::new(host, "C:\\Windows\\System32\\nslookup.exe", 3);
        for p in [&mut old, &mut new, &mut newer] {
            p.pid = 600;
        }
        // svchost.exe has no EID 5: it had the pid, so the lookup is its, not PING.EXE's.
        let events = vec![old.create(T0, "svchost.exe -k netsvcs", None), new.create(T0 + 10_300, "ping x", None)];
        for order in orders(&events) {
            assert_eq!(tree_of(&order).resolve(Some(host), 600, Timestamp(T0 + 10_000)).map(|j| j.0), Some(old.guid));
        }
        // Once it ended, the nearest start within 1 s wins.
        let events = vec![
            old.create(T0, "svchost.exe -k netsvcs", None),
            old.terminate(T0 + 5_000),
            newer.create(T0 + 10_600, "nslookup x", None),
            new.create(T0 + 10_300, "ping x", None),
        ];
        for order in orders(&events) {
            assert_eq!(tree_of(&order).resolve(Some(host), 600, Timestamp(T0 + 10_000)).map(|j| j.0), Some(new.guid));
        }
    }

    /// Modelled on the Security Datasets' lateral-movement recordings: a domain controller's
    /// scheduled `dsregcmd.exe` looks up and connects before Sysmon has its EID 1, so the lookup
    /// and the connections carry the zero GUID and `&lt;unknown process&gt;` (escaped as that
    /// pipeline wrote it); its pid had been a `conhost.exe` a few minutes before.
    const DSREGCMD: &str = r#"{"EventID":1,"Hostname":"DC02.corp.example.org","UtcTime":"2021-03-04 10:11:02.140","ProcessGuid":"{5c1a7e42-b3f6-6040-2a03-000000000500}","ProcessId":"6212","Image":"C:\\Windows\\System32\\conhost.exe","CommandLine":"\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1","User":"NT AUTHORITY\\SYSTEM","ParentProcessGuid":"{5c1a7e42-b3f6-6040-2903-000000000500}","ParentProcessId":"5120","ParentImage":"C:\\Windows\\System32\\cmd.exe"}
{"EventID":5,"Hostname":"DC02.corp.example.org","UtcTime":"2021-03-04 10:11:04.377","ProcessGuid":"{5c1a7e42-b3f6-6040-2a03-000000000500}","ProcessId":"6212","Image":"C:\\Windows\\System32\\conhost.exe"}
{"EventID":3,"Hostname":"DC02.corp.example.org","UtcTime":"2021-03-04 10:15:41.790","ProcessGuid":"{00000000-0000-0000-0000-000000000000}","ProcessId":"6212","Image":"&lt;unknown process&gt;","User":"-","Protocol":"tcp","Initiated":"true","SourceIp":"10.20.0.5","SourcePort":"61022","DestinationIp":"10.20.0.5","DestinationPort":"389"}
{"EventID":22,"Hostname":"DC02.corp.example.org","UtcTime":"2021-03-04 10:15:41.802","ProcessGuid":"{00000000-0000-0000-0000-000000000000}","ProcessId":"6212","QueryName":"DC02.corp.example.org","QueryStatus":"0","QueryResults":"fe80::1c4d:9e2a:77b1:3c05;::ffff:10.20.0.5;","Image":"&lt;unknown process&gt;"}
{"EventID":1,"Hostname":"DC02.corp.example.org","UtcTime":"2021-03-04 10:15:42.513","ProcessGuid":"{5c1a7e42-b4fe-6040-4e03-000000000500}","ProcessId":"6212","Image":"C:\\Windows\\System32\\dsregcmd.exe","CommandLine":"C:\\Windows\\System32\\dsregcmd.exe $(Arg0) $(Arg1) $(Arg2)","User":"NT AUTHORITY\\SYSTEM","ParentProcessGuid":"{5c1a7e42-b1a0-6040-2c00-000000000500}","ParentProcessId":"1948","ParentImage":"C:\\Windows\\System32\\svchost.exe","ParentCommandLine":"C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule"}
{"EventID":5,"Hostname":"DC02.corp.example.org","UtcTime":"2021-03-04 10:15:42.650","ProcessGuid":"{5c1a7e42-b4fe-6040-4e03-000000000500}","ProcessId":"6212","Image":"C:\\Windows\\System32\\dsregcmd.exe"}
{"EventID":22,"Hostname":"DC02.corp.example.org","UtcTime":"2021-03-04 10:19:55.031","ProcessGuid":"{00000000-0000-0000-0000-000000000000}","ProcessId":"6212","QueryName":"settings-win.data.microsoft.com","QueryStatus":"0","QueryResults":"-","Image":"<unknown process>","User":"NT AUTHORITY\\SYSTEM"}"#;

    #[test]
    fn security_datasets_shape_joins_after_normalisation() {
        let events = crate::testkit::flat_sysmon(DSREGCMD);
        assert_eq!(events.len(), 7);
        let dsregcmd = Guid::parse("{5c1a7e42-b4fe-6040-4e03-000000000500}");
        let unnamed: Vec<&Event> = events
            .iter()
            .filter(|e| !matches!(e.kind, EventKind::ProcessCreate(_) | EventKind::ProcessTerminate(_)))
            .collect();
        assert!(unnamed.iter().all(|e| e.process().guid == Some(Guid(0))), "the zero GUID normalises to Guid(0)");
        // Normalisation unescapes the `&lt;unknown process&gt;` of this export.
        assert_eq!(unnamed[0].process().image.as_deref(), Some("<unknown process>"));
        for order in orders(&events) {
            let tree = tree_of(&order);
            // The connection and the lookup, 0.7 s before dsregcmd.exe's EID 1: joined to it,
            // not to the conhost.exe that had pid 6212 until 10:11:04.
            for e in &unnamed[..2] {
                let repaired = tree.repair(e).expect("joined");
                assert_eq!(repaired.process().guid, dsregcmd);
                assert_eq!(repaired.process().image.as_deref(), Some("C:\\Windows\\System32\\dsregcmd.exe"));
                assert_eq!(repaired.process().user.as_deref(), Some("NT AUTHORITY\\SYSTEM"));
            }
            // Four minutes after dsregcmd.exe ended, pid 6212 belongs to nobody we know.
            assert_eq!(tree.repair(unnamed[2]), None);
        }
    }

    #[test]
    fn findings_without_a_guid_are_joined_when_final() {
        use crate::detectors::record_type::{RecordTypeConfig, RecordTypes};
        use crate::{Engine, EngineConfig};

        let host = "WS-ACCT-07";
        let ps = Proc::new(host, "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", 1);
        let nslookup = Proc::new(host, "C:\\Windows\\System32\\nslookup.exe", 2);
        let gone = Proc::new(host, "C:\\Windows\\System32\\nslookup.exe", 3);
        let events = vec![
            ps.create(T0, "powershell.exe -nop", None),
            // A TXT lookup logged 100 ms before its EID 1, with the zero GUID.
            nslookup.unnamed().dns(T0 + 900, "stage.t.example.net", "type:16 ", 0),
            nslookup.create(T0 + 1_000, "nslookup -q=txt stage.t.example.net", Some(&ps)),
            nslookup.terminate(T0 + 1_200),
            // One whose pid nobody had: left as it was.
            gone.unnamed().dns(T0 + 5_000, "other.t.example.org", "type:16 ", 0),
        ];
        for (n, order) in orders(&events).iter().enumerate() {
            let mut engine = Engine::new(EngineConfig::default(), vec![Box::new(RecordTypes::new(RecordTypeConfig::default()))]);
            order.iter().for_each(|e| engine.observe(e));
            let (findings, _) = engine.finish();
            assert_eq!(findings.len(), 2, "order {n}");
            let f = &findings[0];
            assert!(
                f.explanation.starts_with("nslookup.exe got a TXT answer for stage.t.example.net"),
                "order {n}: {}",
                f.explanation
            );
            assert_eq!(f.process.guid, Some(nslookup.guid));
            assert_eq!(f.process.image.as_deref(), Some(nslookup.image.as_str()));
            assert_eq!(f.process.command_line.as_deref(), Some("nslookup -q=txt stage.t.example.net"));
            assert_eq!(f.process.parent_image.as_deref(), Some(ps.image.as_str()));
            assert_eq!(f.details["process_joined_by"], "pid");
            assert_eq!(f.details["process_tree"], "powershell.exe → nslookup.exe");
            let f = &findings[1];
            assert!(f.explanation.starts_with("<unknown process> got a TXT answer"), "order {n}: {}", f.explanation);
            assert_eq!(f.process.guid, Some(Guid(0)));
            assert!(!f.details.contains_key("process_joined_by"));
        }

        // Evidence repaired before detectors saw it: the finding names the process already, and
        // still says how it was joined.
        let tree = tree_of(&events);
        let repaired = tree.repair(&events[1]).expect("joined");
        let mut f = Finding::from_event("test", Severity::Low, 10, &repaired, &[], "nslookup.exe got a TXT answer".into());
        tree.annotate(&mut f);
        assert_eq!(f.details["process_joined_by"], "pid");
        assert_eq!(f.process.command_line.as_deref(), Some("nslookup -q=txt stage.t.example.net"));
        let mut f = Finding::from_event("test", Severity::Low, 10, &nslookup.dns(T0 + 1_100, "x.example.net", "-", 0), &[], String::new());
        tree.annotate(&mut f);
        assert!(!f.details.contains_key("process_joined_by"));
        assert_eq!(f.details["process_tree"], "powershell.exe → nslookup.exe");

        // A finding keyed by the zero GUID can hold lookups of several pids: its process is
        // joined at the time of its own earliest lookup, not of the finding's.
        let mut f = Finding::from_event("test", Severity::Low, 10, &events[1], &[], String::new());
        f.merge(Finding::from_event("test", Severity::Low, 10, &events[4], &[], String::new()), 5);
        let mut other = events[4].clone();
        other.time = Timestamp(T0 - 60_000);
        f.merge(Finding::from_event("test", Severity::Low, 10, &other, &[], String::new()), 5);
        tree.annotate(&mut f);
        assert_eq!(f.process.guid, Some(nslookup.guid));
    }
}

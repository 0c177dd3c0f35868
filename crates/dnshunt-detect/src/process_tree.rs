//! The process join: every ProcessCreate (EID 1) remembered by host and `ProcessGuid`, so a
//! finding about a lookup (EID 22) or a connection (EID 3) can name not only its process but
//! the chain of parents that started it, as far as the data goes.
//!
//! The join is order-independent: EID 1 events are collected while the input is read and the
//! chains are built only when findings are final (the engine calls [`ProcessTree::annotate`] in
//! `finish`), so it does not matter whether a process's EID 1 came before or after its lookups,
//! or from another file.
//!
//! Memory: one small node per process (a GUID, a pid, a parent GUID and interned strings: the
//! image paths, command lines and users of a fleet repeat endlessly, so each distinct string is
//! stored once). At most `max_processes` nodes are kept; later ones are counted and dropped.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use dnshunt_core::{Event, EventKind, Finding, Guid, Timestamp};
use serde::Serialize;

use crate::stats::{hash64, host};

/// Default cap on remembered processes (about 100 bytes each plus shared strings).
pub const DEFAULT_MAX_PROCESSES: usize = 2_000_000;

/// Longest chain reported (a loop in bad data must not run forever).
const MAX_DEPTH: usize = 16;

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

/// ProcessGuid → what EID 1 said about the process, per host.
#[derive(Debug)]
pub struct ProcessTree {
    nodes: HashMap<(u64, Guid), Node>,
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
            nodes: HashMap::new(),
            strings: HashSet::new(),
            max_processes,
            dropped: 0,
        }
    }

    /// Processes remembered, and processes dropped because the cap was reached.
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

    /// Remembers a ProcessCreate; other events are ignored.
    pub fn observe(&mut self, event: &Event) {
        let EventKind::ProcessCreate(pc) = &event.kind else { return };
        let Some(guid) = pc.process.guid else { return };
        let key = (hash64(host(event)), guid);
        // A replayed or duplicated EID 1 keeps the earliest copy, whatever the arrival order.
        if let Some(existing) = self.nodes.get(&key) {
            if existing.started <= event.time {
                return;
            }
        } else if self.nodes.len() >= self.max_processes {
            self.dropped += 1;
            return;
        }
        let node = Node {
            pid: pc.process.pid,
            image: self.intern(pc.process.image.as_deref()),
            command_line: self.intern(pc.command_line.as_deref()),
            user: self.intern(pc.process.user.as_deref()),
            started: event.time,
            parent: pc.parent.guid,
            parent_pid: pc.parent.pid,
            parent_image: self.intern(pc.parent.image.as_deref()),
            parent_command_line: self.intern(pc.parent_command_line.as_deref()),
        };
        self.nodes.insert(key, node);
    }

    /// The parents of a process, nearest first, as far as EID 1 events go. The last link may
    /// come only from the `ParentImage` of its child's EID 1 (its own EID 1 was not seen).
    pub fn chain(&self, host: Option<&str>, guid: Guid) -> Vec<Ancestor> {
        let host_key = hash64(host.unwrap_or(""));
        let mut out = Vec::new();
        let mut seen = HashSet::new();
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
    /// when the data has it. What the event itself said (image, user) is kept.
    pub fn fill_context(&self, host: Option<&str>, ctx: &mut dnshunt_core::ProcessContext) {
        let Some(guid) = ctx.guid else { return };
        let Some(node) = self.nodes.get(&(hash64(host.unwrap_or("")), guid)) else { return };
        let owned = |s: &Option<Arc<str>>| s.as_deref().map(str::to_owned);
        if ctx.image.is_none() {
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

    /// Adds `details.process_chain` (the parents, nearest first) and `details.process_tree`
    /// (`explorer.exe → outlook.exe → winword.exe`, oldest first, ending with the process
    /// itself) to a finding whose process has a known EID 1.
    pub fn annotate(&self, finding: &mut Finding) {
        let Some(guid) = finding.process.guid else { return };
        let chain = self.chain(finding.host.as_deref(), guid);
        if chain.is_empty() {
            return;
        }
        let own = finding.process.image.as_deref().map(short_name).unwrap_or_else(|| "?".to_owned());
        let mut names: Vec<String> = chain.iter().rev().map(|a| a.image.as_deref().map(short_name).unwrap_or_else(|| "?".to_owned())).collect();
        names.push(own);
        finding.details.insert("process_tree".into(), names.join(" → ").into());
        if let Ok(value) = serde_json::to_value(&chain) {
            finding.details.insert("process_chain".into(), value);
        }
    }
}

fn short_name(path: &str) -> String {
    path.rsplit(['\\', '/']).next().unwrap_or(path).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Proc, T0};
    use dnshunt_core::Severity;

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
}

//! Incidents: the findings that belong together, ranked by how well they corroborate each other.
//!
//! An analyst reads an intrusion as one story: the document that started PowerShell, the
//! implant it dropped, its beacon and its DNS tunnel. dnshunt's detectors each see one side
//! of it; this crate puts the sides back together after a run:
//!
//! 1. **Process tree.** Each finding is anchored at a process: walking up its parents
//!    (`details.process_chain`, filled by the engine from EID 1), the anchor is the highest
//!    ancestor below a session or service root (`explorer.exe`, `services.exe`,
//!    `svchost.exe`, `userinit.exe`, ...), or the process itself when it is such a root or its
//!    parents are unknown. Findings of one host and anchor form one group; a group is split where
//!    its findings are more than `window_hours` apart.
//! 2. **Shared indicators.** Groups whose findings are about the same rare domain or address
//!    (from detectors whose findings are about that indicator: blocklist, lookalike,
//!    young_domain, encoded_name, tunnel_volume, beacon, dga, related_lookup) are joined, on one
//!    host or across hosts. "Rare" is decided by the caller (from prevalence over the fleet).
//! 3. **Risk.** The risk rises with independent kinds of evidence, not with the number of
//!    findings: `intel` (lists, domain age, geography), `dns` (what a name looks like),
//!    `behaviour` (beacons, NXDOMAIN bursts, tunnels by volume, first sightings), `process`
//!    (how the program was started), `connection` (what it connected to and how), `signature`
//!    (Sigma). The strongest kind counts fully; every other kind adds half its score as a
//!    noisy-or, every further detector a tenth, every further host (up to three) a share. A single
//!    kind of evidence on one host is at most 90 (high): critical needs corroboration, by
//!    another kind or another host. Findings at info severity do not corroborate, nor does a
//!    `related_lookup` (it exists because another finding implicated its domain).
//!
//! Incident ids are stable: a hash of the host and the anchor process (and of the window when a
//! long-lived anchor is split), so the same evidence gives the same ids on every run.
//!
//! Architecture invariant: no I/O; findings in, incidents out, every finding's `incident_id` set.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dnshunt_core::{file_name_of, image_file_name, Finding, Incident, IncidentProcess, Severity, StableHasher, TimelineEntry, Timestamp};
use serde::Deserialize;

/// Settings of incident building (`[incidents]` in the config file).
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentConfig {
    /// Findings of one process tree more than this far apart start a new incident (default 24).
    pub window_hours: f64,
    /// Images (file names, case-insensitive) that are session or service roots: a tree is
    /// anchored below them, so two programs the user started from Explorer are two incidents.
    pub roots: Vec<String>,
    /// Join incidents that share a rare indicator (default true).
    pub join_on_indicators: bool,
}

impl Default for IncidentConfig {
    fn default() -> Self {
        IncidentConfig {
            window_hours: 24.0,
            roots: [
                "explorer.exe",
                "services.exe",
                "svchost.exe",
                "userinit.exe",
                "winlogon.exe",
                "wininit.exe",
                "smss.exe",
                "csrss.exe",
                "system",
                "taskhostw.exe",
                "sihost.exe",
                "runtimebroker.exe",
                "lsass.exe",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
            join_on_indicators: true,
        }
    }
}

/// The detectors whose findings are about their domain or address, so a shared one joins incidents.
const JOIN_DETECTORS: [&str; 8] = ["blocklist", "lookalike", "young_domain", "encoded_name", "tunnel_volume", "beacon", "dga", "related_lookup"];

/// The kind of evidence a finding is.
pub fn evidence_kind(f: &Finding) -> &'static str {
    match f.detector.as_str() {
        "blocklist" | "young_domain" | "geo" => "intel",
        "dga" | "encoded_name" | "lookalike" | "record_type" | "special_name" | "doh_lookup" => "dns",
        "outlier" if matches!(f.details.get("measure").and_then(|v| v.as_str()), Some("name_length" | "answer_count")) => "dns",
        "beacon" | "nxdomain_storm" | "tunnel_volume" | "outlier" | "first_seen" | "lookup_without_connection" => "behaviour",
        "process_context" => "process",
        "related_lookup" => "dns",
        "connection_without_lookup" | "resolver_bypass" | "doh_connection" | "kerberos_client" => "connection",
        "sigma" => "signature",
        _ => "behaviour",
    }
}

/// The same host whether named short or fully qualified, in any case: the one notion of a host
/// that prevalence uses too.
pub use dnshunt_core::host_key;

/// One ancestor or the process itself, as the anchor walk sees it.
struct Link {
    guid: Option<String>,
    image: Option<String>,
    command_line: Option<String>,
}

fn chain_of(f: &Finding) -> Vec<Link> {
    let mut links = vec![Link {
        guid: f.process.guid.filter(|g| !g.is_nil()).map(|g| g.to_string()),
        image: f.process.image.clone(),
        command_line: f.process.command_line.clone(),
    }];
    if let Some(chain) = f.details.get("process_chain").and_then(|v| v.as_array()) {
        for a in chain {
            let s = |k: &str| a.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            links.push(Link {
                guid: s("guid"),
                image: s("image"),
                command_line: s("command_line"),
            });
        }
    }
    links
}

/// The anchor of a finding's process tree: its key and the anchor process.
fn anchor(f: &Finding, roots: &BTreeSet<String>) -> (String, IncidentProcess) {
    let is_root = |l: &Link| l.image.as_deref().is_some_and(|i| roots.contains(&image_file_name(i)));
    let links = chain_of(f);
    let mut at = 0;
    if !is_root(&links[0]) {
        for (i, link) in links.iter().enumerate().skip(1) {
            // An ancestor known only by the image its child names (no GUID) cannot anchor:
            // every `cmd.exe` of a host would become one tree.
            if is_root(link) || link.guid.is_none() {
                break;
            }
            at = i;
        }
    }
    let link = &links[at];
    let key = match &link.guid {
        Some(g) => format!("guid:{}", g.to_ascii_lowercase()),
        None => format!(
            "image:{}|{}",
            link.image.as_deref().unwrap_or("").to_lowercase(),
            if at == 0 { f.process.pid.unwrap_or(0) } else { 0 }
        ),
    };
    let process = IncidentProcess {
        host: f.host.clone(),
        guid: link.guid.clone(),
        image: link.image.clone(),
        command_line: link.command_line.clone(),
    };
    (key, process)
}

/// The domains and addresses a finding is about, for joining.
fn indicators(f: &Finding) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(d) = &f.registered_domain {
        out.push(d.to_ascii_lowercase());
    }
    for key in ["example_domains", "domains"] {
        if let Some(list) = f.details.get(key).and_then(|v| v.as_array()) {
            out.extend(list.iter().filter_map(|v| v.as_str()).map(str::to_ascii_lowercase));
        }
    }
    for key in ["address", "destination", "destination_ip"] {
        if let Some(a) = f.details.get(key).and_then(|v| v.as_str()) {
            out.push(a.to_owned());
        }
    }
    for e in &f.evidence {
        if let Some(ip) = e.network().and_then(|n| n.destination_ip) {
            out.push(ip.to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A short phrase of what a finding is, for headlines.
fn what(f: &Finding) -> String {
    let domain = f.registered_domain.as_deref().or(f.query_name.as_deref());
    let detail = |k: &str| f.details.get(k).and_then(|v| v.as_str().map(str::to_owned).or_else(|| v.as_u64().map(|n| n.to_string())));
    let on = |prefix: &str| match domain {
        Some(d) => format!("{prefix} {d}"),
        None => prefix.to_owned(),
    };
    match f.detector.as_str() {
        "beacon" => match domain {
            Some(d) => format!("beaconing to {d}"),
            None => "beaconing".into(),
        },
        "blocklist" => match detail("indicator") {
            Some(i) => format!("blocklisted {i}"),
            None => on("blocklisted"),
        },
        "dga" => match detail("distinct_names") {
            Some(n) if n != "1" => format!("{n} DGA-like names"),
            _ => on("DGA-like name"),
        },
        "encoded_name" => on("encoded names under"),
        "tunnel_volume" => on("DNS tunnel under"),
        "nxdomain_storm" => "NXDOMAIN burst".into(),
        "lookalike" => match f.query_name_unicode.as_deref().or(f.query_name.as_deref()) {
            Some(n) => format!("look-alike {n}"),
            None => "look-alike name".into(),
        },
        "record_type" => match detail("record_type") {
            Some(t) => on(&format!("{t} lookups of")),
            None => on("unusual record types for"),
        },
        "resolver_bypass" => "DNS sent past the resolver".into(),
        "doh_connection" | "doh_lookup" => "DNS over HTTPS".into(),
        "connection_without_lookup" => match f
            .evidence
            .iter()
            .find_map(|e| e.network().and_then(|n| n.destination_ip.map(|ip| (ip, n.destination_port))))
        {
            Some((ip, Some(port))) => format!("connection to {ip}:{port} without lookup"),
            Some((ip, None)) => format!("connection to {ip} without lookup"),
            None => "connection without lookup".into(),
        },
        "lookup_without_connection" => on("lookups without connection of"),
        "process_context" => "suspicious process start".into(),
        "kerberos_client" => match f.details.get("address").and_then(|v| v.as_str()) {
            Some(a) => format!("own Kerberos to {a}"),
            None => "own Kerberos".into(),
        },
        "related_lookup" => on("also looked up"),
        "young_domain" => on("young domain"),
        "first_seen" => on("first sighting of"),
        "outlier" => on("unusual lookups of"),
        "special_name" => on("special name"),
        "geo" => "unusual destination country".into(),
        "sigma" => match detail("title") {
            Some(t) => format!("Sigma: {t}"),
            None => "Sigma rule match".into(),
        },
        other => other.to_owned(),
    }
}

/// A group of findings on its way to become an incident.
struct Group {
    key: String,
    root: IncidentProcess,
    members: Vec<usize>,
}

/// Builds the incidents of a run and sets every finding's `incident_id`. `is_rare` says whether
/// a domain or address is rare enough in the fleet to join the incidents that share it.
/// Incidents come out ranked: highest risk first.
pub fn build(findings: &mut [Finding], config: &IncidentConfig, is_rare: &dyn Fn(&str) -> bool) -> Vec<Incident> {
    let roots: BTreeSet<String> = config.roots.iter().map(|r| r.to_ascii_lowercase()).collect();
    let window_ms = (config.window_hours.max(0.0) * 3_600_000.0) as i64;

    // 1. Per host and anchor, split by time.
    let mut by_anchor: BTreeMap<(String, String), (IncidentProcess, Vec<usize>)> = BTreeMap::new();
    for (i, f) in findings.iter().enumerate() {
        let (key, root) = anchor(f, &roots);
        let host = host_key(f.host.as_deref().unwrap_or(""));
        by_anchor.entry((host, key)).or_insert_with(|| (root, Vec::new())).1.push(i);
    }
    let mut groups: Vec<Group> = Vec::new();
    for ((host, key), (root, mut members)) in by_anchor {
        members.sort_by_key(|&i| (findings[i].time, findings[i].id.clone()));
        let mut current: Vec<usize> = Vec::new();
        let mut last_time: Option<Timestamp> = None;
        let mut part = 0;
        for i in members {
            if let Some(t) = last_time {
                if findings[i].time.0 - t.0 > window_ms && !current.is_empty() {
                    groups.push(Group {
                        key: group_key(&host, &key, part),
                        root: root.clone(),
                        members: std::mem::take(&mut current),
                    });
                    part += 1;
                }
            }
            last_time = Some(last_time.map_or(findings[i].time_last, |t| t.max(findings[i].time_last)));
            current.push(i);
        }
        if !current.is_empty() {
            groups.push(Group {
                key: group_key(&host, &key, part),
                root,
                members: current,
            });
        }
    }

    // 2. Join groups that share a rare indicator (union-find over group indices).
    let mut parent: Vec<usize> = (0..groups.len()).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    if config.join_on_indicators {
        let mut owner: HashMap<String, usize> = HashMap::new();
        for (g, group) in groups.iter().enumerate() {
            for &i in &group.members {
                let f = &findings[i];
                if !JOIN_DETECTORS.contains(&f.detector.as_str()) || f.severity < Severity::Low {
                    continue;
                }
                for indicator in indicators(f) {
                    if !is_rare(&indicator) {
                        continue;
                    }
                    match owner.get(&indicator) {
                        Some(&other) => {
                            let (a, b) = (find(&mut parent, g), find(&mut parent, other));
                            if a != b {
                                // The smaller index stays the root, so results do not depend on hashing.
                                parent[a.max(b)] = a.min(b);
                            }
                        }
                        None => {
                            owner.insert(indicator, g);
                        }
                    }
                }
            }
        }
    }
    let mut joined: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for g in 0..groups.len() {
        let r = find(&mut parent, g);
        joined.entry(r).or_default().push(g);
    }

    // 3. One incident per joined set.
    let mut incidents = Vec::with_capacity(joined.len());
    for (_, parts) in joined {
        let mut members: Vec<usize> = parts.iter().flat_map(|&g| groups[g].members.iter().copied()).collect();
        members.sort_by_key(|&i| (findings[i].time, findings[i].detector.clone(), findings[i].id.clone()));
        // The id of the earliest group's key, hashed; joined incidents take the smallest.
        let keys: BTreeSet<&str> = parts.iter().map(|&g| groups[g].key.as_str()).collect();
        let mut hasher = StableHasher::new();
        hasher.write("incident");
        hasher.write(keys.iter().next().copied().unwrap_or(""));
        let id = hasher.finish_hex();
        // The root of the group with the strongest finding leads.
        let lead = parts
            .iter()
            .copied()
            .max_by_key(|&g| (groups[g].members.iter().map(|&i| findings[i].score).max().unwrap_or(0), std::cmp::Reverse(g)))
            .unwrap_or(parts[0]);
        let root = groups[lead].root.clone();
        let incident = assemble(id, root, &members, findings);
        for &i in &members {
            findings[i].incident_id = Some(incident.id.clone());
        }
        incidents.push(incident);
    }
    incidents.sort_by(|a, b| {
        b.risk
            .cmp(&a.risk)
            .then(b.evidence_kinds.len().cmp(&a.evidence_kinds.len()))
            .then(b.timeline.len().cmp(&a.timeline.len()))
            .then(a.time.cmp(&b.time))
            .then(a.id.cmp(&b.id))
    });
    incidents
}

fn group_key(host: &str, anchor: &str, part: usize) -> String {
    if part == 0 {
        format!("{host}|{anchor}")
    } else {
        format!("{host}|{anchor}|{part}")
    }
}

/// The risk of a set of findings, with its reasons. See the crate docs.
pub fn risk(findings: &[&Finding]) -> (u8, Vec<String>, Vec<String>) {
    // Best score per kind and per detector, counting only findings of low severity or more.
    let mut per_kind: BTreeMap<&'static str, (f64, &str)> = BTreeMap::new();
    let mut per_detector: BTreeMap<&str, f64> = BTreeMap::new();
    let mut hosts: BTreeSet<String> = BTreeSet::new();
    // A `related_lookup` exists only because another finding implicated its domain: it joins an
    // incident but corroborates nothing, unless it is all there is.
    let independent = findings.iter().any(|f| f.severity >= Severity::Low && f.detector != "related_lookup");
    for f in findings {
        if f.severity < Severity::Low || (independent && f.detector == "related_lookup") {
            continue;
        }
        let s = f.score as f64 / 100.0;
        let kind = per_kind.entry(evidence_kind(f)).or_insert((0.0, f.detector.as_str()));
        if s > kind.0 {
            *kind = (s, f.detector.as_str());
        }
        let d = per_detector.entry(f.detector.as_str()).or_insert(0.0);
        *d = d.max(s);
        hosts.insert(host_key(f.host.as_deref().unwrap_or("")));
    }
    if per_kind.is_empty() {
        // Only info findings: the incident is as strong as its best one.
        let best = findings.iter().map(|f| f.score).max().unwrap_or(0).min(24);
        return (best, vec!["only informational findings".into()], Vec::new());
    }
    let mut kinds: Vec<(&str, f64, &str)> = per_kind.iter().map(|(k, (s, d))| (*k, *s, *d)).collect();
    kinds.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let top = kinds[0].1;
    let mut miss = 1.0 - top;
    let mut reasons = vec![format!("{} evidence: {} {:.0}", kinds[0].0, kinds[0].2, top * 100.0)];
    for (kind, s, detector) in &kinds[1..] {
        miss *= 1.0 - 0.5 * s;
        reasons.push(format!("corroborated by {kind} evidence: {detector} {:.0}", s * 100.0));
    }
    // Further detectors (beyond the best of each kind) add a little.
    let leaders: BTreeSet<&str> = kinds.iter().map(|k| k.2).collect();
    let extra: Vec<(&str, f64)> = per_detector.iter().filter(|(d, _)| !leaders.contains(*d)).map(|(d, s)| (*d, *s)).collect();
    for (_, s) in &extra {
        miss *= 1.0 - 0.1 * s;
    }
    if !extra.is_empty() {
        reasons.push(format!("also {}", extra.iter().map(|(d, _)| *d).collect::<Vec<_>>().join(", ")));
    }
    let n_hosts = hosts.len();
    for _ in 1..n_hosts.min(4) {
        miss *= 1.0 - 0.15 * top;
    }
    if n_hosts > 1 {
        reasons.push(format!("on {n_hosts} hosts"));
    }
    let mut risk = ((1.0 - miss) * 100.0).round().clamp(0.0, 100.0) as u8;
    if kinds.len() == 1 && n_hosts <= 1 {
        risk = risk.min(90);
        reasons.push("one kind of evidence only".into());
    }
    (risk, reasons, kinds.iter().map(|k| k.0.to_owned()).collect())
}

fn assemble(id: String, root: IncidentProcess, members: &[usize], findings: &[Finding]) -> Incident {
    let list: Vec<&Finding> = members.iter().map(|&i| &findings[i]).collect();
    let (risk, risk_reasons, mut evidence_kinds) = risk(&list);
    evidence_kinds.sort();
    let mut hosts: Vec<String> = Vec::new();
    let mut processes: Vec<String> = Vec::new();
    let mut detectors: BTreeSet<String> = BTreeSet::new();
    let mut attack: BTreeSet<String> = BTreeSet::new();
    let mut indicator_set: BTreeSet<String> = BTreeSet::new();
    let mut by_severity = [0u64; 5];
    let mut timeline = Vec::with_capacity(list.len());
    let mut host_keys: BTreeSet<String> = BTreeSet::new();
    for f in &list {
        if let Some(h) = &f.host {
            if host_keys.insert(host_key(h)) {
                hosts.push(h.clone());
            }
        }
        if let Some(image) = &f.process.image {
            let name = file_name_of(image);
            if !processes.iter().any(|p| p == name) {
                processes.push(name.to_owned());
            }
        }
        detectors.insert(f.detector.clone());
        attack.extend(f.attack.iter().cloned());
        if JOIN_DETECTORS.contains(&f.detector.as_str()) {
            indicator_set.extend(indicators(f));
        }
        by_severity[f.severity as usize] += 1;
        timeline.push(TimelineEntry::of(f));
    }
    let time = list.iter().map(|f| f.time).min().unwrap_or(Timestamp(0));
    let time_last = list.iter().map(|f| f.time_last).max().unwrap_or(time);
    let headline = headline(&root, &hosts, &processes, &list);
    Incident {
        id,
        risk,
        severity: Severity::for_score(risk),
        headline,
        risk_reasons,
        time,
        time_last,
        hosts,
        root,
        processes,
        detectors: detectors.into_iter().collect(),
        evidence_kinds,
        attack: attack.into_iter().collect(),
        indicators: indicator_set.into_iter().take(20).collect(),
        findings_by_severity: by_severity,
        timeline,
    }
}

fn headline(root: &IncidentProcess, hosts: &[String], processes: &[String], findings: &[&Finding]) -> String {
    let where_ = match hosts {
        [] => "unknown host".to_owned(),
        [one] => host_short(one),
        [first, rest @ ..] => format!("{} and {} more host{}", host_short(first), rest.len(), if rest.len() == 1 { "" } else { "s" }),
    };
    let root_name = root.image.as_deref().map(file_name_of);
    let mut tree = root_name.unwrap_or("unknown process").to_owned();
    let others: Vec<&String> = processes.iter().filter(|p| Some(p.as_str()) != root_name).collect();
    if !others.is_empty() {
        let shown: Vec<&str> = others.iter().take(3).map(|s| s.as_str()).collect();
        tree = format!("{tree} → {}", shown.join(", "));
        if others.len() > 3 {
            tree.push_str(&format!(" (+{})", others.len() - 3));
        }
    }
    // The strongest findings' phrases, without repeats.
    let mut ranked: Vec<&&Finding> = findings.iter().collect();
    ranked.sort_by(|a, b| b.score.cmp(&a.score).then(a.time.cmp(&b.time)));
    let mut phrases: Vec<String> = Vec::new();
    for f in ranked {
        let p = what(f);
        if !phrases.contains(&p) {
            phrases.push(p);
        }
    }
    let mut text = phrases.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if phrases.len() > 3 {
        text.push_str(&format!(" (+{} more)", phrases.len() - 3));
    }
    format!("{where_}: {tree}: {text}")
}

fn host_short(host: &str) -> String {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return host.to_owned();
    }
    host.split('.').next().unwrap_or(host).to_owned()
}

#[cfg(test)]
mod tests;

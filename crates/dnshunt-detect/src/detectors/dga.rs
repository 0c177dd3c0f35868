//! # dga
//!
//! **What:** lookups of a name whose registrable label (`qvtrokzlmwhe` of
//! `www.qvtrokzlmwhe.com`, the label left of the public suffix) looks machine-generated, by the
//! DGA model shipped with dnshunt: character trigram likelihoods under popular domains and under
//! DGA output, common 4-grams, entropy, vowel/consonant/digit structure, length and public
//! suffix, combined by boosted trees trained on 30 DGA families and calibrated so that a score
//! of 0.8 is reached by about 1 in 10,000 popular domains. NXDOMAIN answers raise the score a
//! little: a DGA walks through names most of which were never registered.
//!
//! **Bursts:** one odd name proves little, a process asking for many is the signal that
//! matters on an endpoint. The detector follows each process's distinct registrable names: each
//! scoring at least `burst_min_score` (about 1 in 10 popular names does) adds its surprise,
//! `5·ln(10)·score` nats capped at `burst_cap_score`, to the process's sum. At the end of the
//! run, a process whose sum is more than `burst_evidence` orders of magnitude beyond what as
//! many distinct popular names reach (a Chernoff bound, [`dnshunt_enrich::burst`]) is a burst:
//! its eight earliest names under `threshold` (less those reported on their own) are reported
//! too, each with the burst's facts (`burst_evidence`, `burst_names`, `burst_nxdomain`, `burst_lookups`, the
//! span of its lookups), and aggregation folds them and the names reported on their own into
//! one finding. Its score is the folded names' (a noisy-or), scaled by the NXDOMAIN share of
//! all the burst's names and by the rate; the evidence decides whether there is a burst, not
//! how high it scores. So ten names at 0.5 from one process are found, and outrank one name at
//! 1.0, while a browser that visits a thousand sites, a few of them odd, is not. What a burst
//! reports does not depend on the order events are read in, except for a process with more
//! than 512 odd names, which is judged when it reaches that many, and for which processes are
//! followed once `max_processes` is reached.
//!
//! **Why:** malware that generates its rendezvous domains from the date or a seed (Conficker,
//! Necurs, Qakbot, Zloader ...) cannot be stopped by blocking one name; the names themselves
//! give it away. Only the registrable label is scored, so the random-looking names services
//! make *under* their own domains (`3a7f9c.cloudfront.net`, `e1234.dscb.akamaiedge.net`,
//! hex labels under `footprintdns.com`) do not count, nor do single-label and internal names
//! (`wpad`, `dc01.corp.local`) and IDNs (`xn--...`), whose Punycode letters say nothing about how
//! the name was chosen. Under dynamic-DNS zones (`*.ddns.net`, `*.duckdns.org`), where anyone
//! claims a label, the label under the zone is scored.
//!
//! **ATT&CK:** T1568.002 (Dynamic Resolution: Domain Generation Algorithms).
//!
//! **False positives:** real domains with random-looking or abbreviated names (ad-tracking
//! and affiliate domains are often consonant strings), some CDN customer domains, and short
//! labels of consonant acronyms. A burst can be a process that talks to many ad-tracking
//! domains and few others (a small ad-serving agent); a popularity list (`--rank`) removes
//! those names from bursts. A DGA running inside a busy process (a browser) is diluted by its
//! ordinary names and may not reach a burst. The allowlist removes findings, not the names'
//! part in a burst: allowlisting the names a burst lists can hide the burst. Word-list DGAs (gozi, nymaim2, suppobox) look like
//! ordinary words and are *not* found by this detector. Raise `threshold` or `burst_evidence`,
//! or use the allowlist for known names.

use dnshunt_core::{Detector, Event, Finding, QueryStatus, Severity};
use dnshunt_enrich::dga::{is_idn, DgaModel};
use dnshunt_enrich::label::registrable_label;
use serde::Deserialize;

use dnshunt_enrich::burst::BurstModel;

use crate::detectors::{guid_key, who};
use crate::stats::{domain_of, host, key_hash};

/// Settings of the `dga` detector. Scores are in `[0, 1]`; a score of `s` is reached by about
/// `10^(-5·s)` of popular domains (0.6 ≈ 1 in 1,000; 0.8 ≈ 1 in 10,000).
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DgaConfig {
    /// Report a lookup when its registrable label scores at least this, after the NXDOMAIN
    /// bonus (default 0.8: about 1 in 10,000 popular domains scores as high).
    pub threshold: f64,
    /// From this score on, a finding is of medium severity, below it low (default 0.9).
    pub medium_at: f64,
    /// From this score on, a finding is of high severity (default 0.97).
    pub high_at: f64,
    /// Added to the score of a lookup that failed with NXDOMAIN, status 9003 (default 0.05).
    pub nxdomain_bonus: f64,
    /// A process's names count towards a burst from this score on (default 0.2: about 1 in 10
    /// popular names score as high; see [`dnshunt_enrich::burst`]).
    pub burst_min_score: f64,
    /// A name counts in a burst at most as a name of this score (default 0.7).
    pub burst_cap_score: f64,
    /// A process's names are reported as a burst when they are this surprising or more:
    /// `-log10` of a bound on the chance that as many popular names reach their sum (default 8).
    pub burst_evidence: f64,
    /// Processes whose names are followed for bursts at most (default 100,000; a process takes
    /// from 200 bytes to about 8 KB, 3 KB for a busy one); lookups of further processes are
    /// judged one at a time only.
    pub max_processes: usize,
}

impl Default for DgaConfig {
    fn default() -> Self {
        DgaConfig {
            threshold: 0.8,
            medium_at: 0.9,
            high_at: 0.97,
            nxdomain_bonus: 0.05,
            burst_min_score: 0.2,
            burst_cap_score: 0.7,
            burst_evidence: 8.0,
            max_processes: 100_000,
        }
    }
}

pub struct Dga {
    config: DgaConfig,
    model: &'static DgaModel,
    /// Popularity ranks (`--rank`): popular registrable domains are damped, unranked raised.
    rank: Option<std::sync::Arc<dnshunt_enrich::rank::RankTable>>,
    /// The model's score per (label, suffix) already worked out: a fleet asks for the same
    /// names again and again. At most [`MEMO`] entries; full, it starts over.
    /// Scores by the [`key_hash`] of (label, suffix).
    memo: std::cell::RefCell<crate::fast::Memo<f64, MEMO>>,
    /// How surprising each process's names are, for bursts ([`dnshunt_enrich::burst`]).
    burst: BurstModel,
    /// Per process (by the [`key_hash`] of host and process key): its names so far.
    processes: crate::fast::HashMap<u64, ProcessNames>,
    /// Events of processes not tracked because `max_processes` was reached.
    untracked: u64,
}

/// Scores remembered at most.
const MEMO: usize = 1 << 14;
/// Names of one process that are listed when it is a burst: the earliest ones, each with its
/// earliest lookup (whatever order the events are read in).
const HELD_PER_PROCESS: usize = 8;
/// Distinct candidate names remembered per process. A process that reaches it is judged at that
/// point (its evidence then is kept): by then a DGA's burst is beyond doubt, and a process with
/// that many odd names among ordinary ones has shown what it is.
const CANDIDATES_PER_PROCESS: usize = 512;
/// Distinct names counted exactly per process; past it a HyperLogLog sketch counts them.
const EXACT_DISTINCT: usize = 128;
/// Resolution of the sums of surprises: integers, so the sum does not depend on the order
/// names arrive in.
const NATS_QUANTUM: f64 = 1024.0;

/// What the detector knows of one process's names.
#[derive(Default)]
struct ProcessNames {
    /// How many distinct registrable names it asked for.
    distinct: DistinctCount,
    /// Distinct names scoring at least `burst_min_score`: the hash of label and suffix
    /// ([`name_hash`]) with its lowest bit set when a lookup of it failed with NXDOMAIN, sorted
    /// (8 bytes a name).
    candidates: Vec<u64>,
    /// The first and last lookup of a candidate, and how many lookups of candidates there were.
    first: Option<dnshunt_core::Timestamp>,
    last: Option<dnshunt_core::Timestamp>,
    lookups: u64,
    /// The sum of their contributions ([`BurstModel::contribution`]) in 1/1024 nat.
    sum: u64,
    /// The evidence when the process reached [`CANDIDATES_PER_PROCESS`].
    evidence_at_cap: Option<f64>,
    /// A lookup of the process, for its context (host, image, user) in findings.
    template: Option<std::sync::Arc<Event>>,
    /// The [`HELD_PER_PROCESS`] candidates under `threshold` with the earliest lookups.
    held: Vec<HeldName>,
}

/// A name listed if its process is a burst: what its finding needs, not the whole event.
struct HeldName {
    hash: u64,
    query: dnshunt_core::DnsName,
    /// The status of this lookup (whether any lookup of the name failed is in `candidates`).
    status: QueryStatus,
    time: dnshunt_core::Timestamp,
    origin: dnshunt_core::Origin,
    record_id: Option<u64>,
    score: f64,
    /// A lookup seen on the wire is kept whole: its exchange (addresses, record types, answers)
    /// is its evidence, and the process's template cannot stand for it.
    wire: Option<std::sync::Arc<Event>>,
}

/// The order of held lookups: time, where they were read, then what they were, so that ties
/// (one millisecond, one search index) are broken by the lookups themselves, not by read order.
type HeldOrder<'a> = (
    dnshunt_core::Timestamp,
    &'a str,
    Option<u64>,
    Option<u64>,
    Option<u64>,
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
);

/// The [`HeldOrder`] of a lookup.
fn held_order<'a>(time: dnshunt_core::Timestamp, origin: &'a dnshunt_core::Origin, record_id: Option<u64>, query: &'a str) -> HeldOrder<'a> {
    (time, &origin.file, origin.line, origin.record, record_id, origin.index(), origin.id(), query)
}

impl HeldName {
    fn order(&self) -> HeldOrder<'_> {
        held_order(self.time, &self.origin, self.record_id, self.query.as_str())
    }
}

/// Where the candidate `hash` is or would go in the sorted `candidates`, and whether a lookup
/// of it failed with NXDOMAIN (`None`: not a candidate).
fn candidate(candidates: &[u64], hash: u64) -> (usize, Option<bool>) {
    let key = hash & !1;
    let at = candidates.partition_point(|&c| c < key);
    (at, candidates.get(at).filter(|&&c| c & !1 == key).map(|&c| c & 1 == 1))
}

/// The hash a process's names are told apart by: fixed, so the distinct count (and so the
/// evidence) is the same from run to run and machine to machine.
fn name_hash(label: &str, suffix: &str) -> u64 {
    let mut h = dnshunt_core::StableHasher::new();
    h.write(label);
    h.write(suffix);
    // FNV's high bits are weak: mix them before the sketch takes its register from them.
    let mut x = h.finish();
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// A distinct count: exact up to [`EXACT_DISTINCT`] names, then a HyperLogLog sketch with 256
/// registers (about 6.5 % error), read high ([`DistinctCount::upper`]) so the evidence errs low.
enum DistinctCount {
    Exact(Vec<u64>),
    Sketch(Box<[u8; 256]>),
}

impl Default for DistinctCount {
    fn default() -> Self {
        DistinctCount::Exact(Vec::new())
    }
}

impl DistinctCount {
    fn add(&mut self, hash: u64) {
        match self {
            DistinctCount::Exact(v) => {
                if let Err(at) = v.binary_search(&hash) {
                    if v.len() < EXACT_DISTINCT {
                        v.insert(at, hash);
                    } else {
                        let mut registers = Box::new([0u8; 256]);
                        for &h in v.iter().chain(std::iter::once(&hash)) {
                            Self::put(&mut registers, h);
                        }
                        *self = DistinctCount::Sketch(registers);
                    }
                }
            }
            DistinctCount::Sketch(registers) => Self::put(registers, hash),
        }
    }

    fn put(registers: &mut [u8; 256], hash: u64) {
        let index = (hash >> 56) as usize;
        let rank = ((hash << 8) | 0x80).leading_zeros() as u8 + 1;
        registers[index] = registers[index].max(rank);
    }

    /// The count, or the sketch's estimate plus two standard errors.
    fn upper(&self) -> u64 {
        match self {
            DistinctCount::Exact(v) => v.len() as u64,
            DistinctCount::Sketch(registers) => {
                let m = 256.0f64;
                let zeros = registers.iter().filter(|&&r| r == 0).count();
                let raw = 0.7182 * m * m / registers.iter().map(|&r| 2f64.powi(-i32::from(r))).sum::<f64>();
                let estimate = if raw <= 2.5 * m && zeros > 0 { m * (m / zeros as f64).ln() } else { raw };
                (estimate * (1.0 + 2.0 * 1.04 / m.sqrt())).round().max(EXACT_DISTINCT as f64) as u64
            }
        }
    }
}

impl Dga {
    pub const NAME: &'static str = "dga";

    /// A detector with the model compiled into dnshunt.
    pub fn new(mut config: DgaConfig) -> Dga {
        // A setting that is no number (NaN, infinite) falls back to its default rather than
        // turning the detector off or making everything a finding.
        let defaults = DgaConfig::default();
        for (value, default) in [
            (&mut config.threshold, defaults.threshold),
            (&mut config.medium_at, defaults.medium_at),
            (&mut config.high_at, defaults.high_at),
            (&mut config.nxdomain_bonus, defaults.nxdomain_bonus),
            (&mut config.burst_min_score, defaults.burst_min_score),
            (&mut config.burst_cap_score, defaults.burst_cap_score),
            (&mut config.burst_evidence, defaults.burst_evidence),
        ] {
            if !value.is_finite() {
                *value = default;
            }
        }
        Dga {
            model: DgaModel::builtin(),
            rank: None,
            memo: Default::default(),
            burst: BurstModel::new(config.burst_min_score, config.burst_cap_score),
            processes: Default::default(),
            untracked: 0,
            config,
        }
    }

    /// Uses popularity ranks ([`dnshunt_enrich::rank::damp`]).
    pub fn with_rank(mut self, rank: Option<std::sync::Arc<dnshunt_enrich::rank::RankTable>>) -> Dga {
        self.rank = rank;
        self
    }

    /// The model's score of a registrable label, remembered.
    fn score(&self, label: &str, suffix: &str) -> f64 {
        *self
            .memo
            .borrow_mut()
            .get_or_insert_with(key_hash((label, suffix)), || self.model.score_label(label, suffix))
    }

    /// Judges one event on its own: a finding when its name scores at least `threshold`.
    pub fn judge(&self, event: &Event) -> Option<Finding> {
        let (label, suffix, model_score, score) = self.scored(event)?;
        (score >= self.config.threshold).then(|| self.finding(event, label, suffix, model_score, score, None))
    }

    /// The registrable label and suffix of a lookup, the model's score and the score with the
    /// NXDOMAIN bonus; `None` for other events and names without a scorable label.
    fn scored<'e>(&self, event: &'e Event) -> Option<(&'e str, &'e str, f64, f64)> {
        let q = event.lookup()?;
        let r = registrable_label(&q.query)?;
        if is_idn(r.label) {
            return None;
        }
        let bonus = if q.status == QueryStatus::NAME_ERROR { self.config.nxdomain_bonus } else { 0.0 };
        // Cheap check first: explanations allocate, scores do not.
        let model_score = self.score(r.label, r.suffix);
        Some((r.label, r.suffix, model_score, (model_score + bonus).min(1.0)))
    }

    /// The finding on one lookup; `burst` is set for a name reported as part of its process's
    /// burst rather than on its own.
    fn finding(&self, event: &Event, label: &str, suffix: &str, model_score: f64, score: f64, burst: Option<(&BurstFacts, bool)>) -> Finding {
        let q = event.lookup().expect("only lookups are scored");
        // A listed name failed if any of its lookups did.
        let nxdomain = burst.map_or(q.status == QueryStatus::NAME_ERROR, |(_, failed)| failed);
        let burst = burst.map(|(facts, _)| facts);
        let verdict = self.model.explain(label, suffix);
        let severity = if score >= self.config.high_at {
            Severity::High
        } else if score >= self.config.medium_at {
            Severity::Medium
        } else {
            Severity::Low
        };
        let rank = self.rank.as_ref().map(|t| t.rank_of(&q.query));
        let (severity, finding_score) = dnshunt_enrich::rank::damp(severity, (score * 100.0).round() as u8, rank);
        // A burst's names stand together: each is worth keeping until aggregation scores the
        // burst (the engine lets go of low findings first when it holds many).
        let severity = if burst.is_some() { severity.max(Severity::Medium) } else { severity };
        let reasons: Vec<String> = verdict.reasons.iter().map(ToString::to_string).collect();
        let why = if reasons.is_empty() { String::new() } else { format!(": {}", reasons.join(", ")) };
        let failed = if nxdomain {
            "; the name does not exist (NXDOMAIN), as most of a DGA's guesses do not"
        } else {
            ""
        };
        let looks = if burst.is_some() {
            "looks somewhat machine-generated"
        } else {
            "looks machine-generated"
        };
        let explanation = format!(
            "{} looked up {}, whose registrable label '{}' {looks} (DGA score {:.2}{why}){failed}",
            who(event),
            q.query,
            label,
            model_score
        );
        let guid = guid_key(event);
        let domain = domain_of(&q.query);
        // Apart from the same name's finding on its own, so neither absorbs the other's details.
        let key: &[&str] = if burst.is_some() { &[&guid, domain, "burst"] } else { &[&guid, domain] };
        let mut f = Finding::from_event(Self::NAME, severity, finding_score, event, key, explanation)
            .with_attack(&["T1568.002"])
            .with_detail("dga_label", label)
            .with_detail("dga_score", (model_score * 1000.0).round() / 1000.0)
            .with_detail("dga_reasons", reasons)
            .with_detail("nxdomain", nxdomain);
        if let Some(rank) = rank {
            f = f.with_detail("rank", rank);
        }
        if let Some(b) = burst {
            f = f
                .with_detail("burst_evidence", (b.evidence * 10.0).round() / 10.0)
                .with_detail("burst_names", b.candidates)
                .with_detail("burst_nxdomain", b.nxdomain)
                .with_detail("burst_distinct_names", b.distinct)
                .with_detail("burst_lookups", b.lookups);
            if let (Some(first), Some(last)) = (b.first, b.last) {
                f = f.with_detail("burst_first", first.0).with_detail("burst_last", last.0);
            }
        }
        f
    }

    /// Counts a lookup towards its process's burst.
    fn remember(&mut self, event: &Event, shared: Option<&std::sync::Arc<Event>>, label: &str, suffix: &str, model_score: f64) {
        let Some(q) = event.lookup() else { return };
        // Names a rank list calls popular count as ordinary names.
        let popular = self
            .rank
            .as_ref()
            .is_some_and(|t| t.rank_of(&q.query).is_some_and(|r| r <= dnshunt_enrich::rank::POPULAR_RANK));
        let name = name_hash(label, suffix);
        let p = event.process();
        let process = match p.guid {
            Some(g) if !g.is_nil() => key_hash((host(event), g)),
            _ => key_hash((host(event), p.pid, p.image.as_deref())),
        };
        let Some(state) = crate::fast::bounded_entry(&mut self.processes, process, self.config.max_processes, ProcessNames::default) else {
            self.untracked += 1;
            return;
        };
        state.distinct.add(name);
        let contribution = if popular { 0.0 } else { self.burst.contribution(model_score) };
        if contribution <= 0.0 {
            return;
        }
        let nxdomain = q.status == QueryStatus::NAME_ERROR;
        let (at, known) = candidate(&state.candidates, name);
        if known.is_some() {
            // A name asked for again: it may fail this time.
            state.candidates[at] |= u64::from(nxdomain);
        } else if state.evidence_at_cap.is_none() {
            state.candidates.insert(at, (name & !1) | u64::from(nxdomain));
            state.sum += (contribution * NATS_QUANTUM).round() as u64;
            if state.candidates.len() >= CANDIDATES_PER_PROCESS {
                state.evidence_at_cap = Some(self.burst.evidence(state.sum as f64 / NATS_QUANTUM, state.distinct.upper()));
            }
        }
        state.lookups += 1;
        state.first = Some(state.first.map_or(event.time, |t| t.min(event.time)));
        state.last = Some(state.last.map_or(event.time, |t| t.max(event.time)));
        if state.template.as_ref().is_none_or(|t| crate::stats::is_earlier(event, t)) {
            state.template = Some(crate::stats::to_keep(event, shared));
        }
        // Names reported on their own need no listing; the others are listed by their earliest
        // lookups, whatever order the lookups come in.
        if model_score >= self.config.threshold {
            return;
        }
        // Where this lookup would go, worked out on borrowed fields: most lookups are not kept.
        let order = held_order(event.time, &event.origin, event.record_id, q.query.as_str());
        let slot = if let Some(i) = state.held.iter().position(|h| h.hash == name) {
            (order < state.held[i].order()).then_some(i)
        } else if state.held.len() < HELD_PER_PROCESS {
            Some(state.held.len())
        } else {
            let latest = (0..state.held.len()).max_by(|&a, &b| state.held[a].order().cmp(&state.held[b].order()));
            latest.filter(|&l| order < state.held[l].order())
        };
        let Some(slot) = slot else { return };
        let held = HeldName {
            hash: name,
            query: q.query.clone(),
            status: q.status,
            time: event.time,
            origin: event.origin.clone(),
            record_id: event.record_id,
            score: model_score,
            wire: event.wire_dns().map(|_| crate::stats::to_keep(event, shared)),
        };
        if slot == state.held.len() {
            state.held.push(held);
        } else {
            state.held[slot] = held;
        }
    }
}

/// What a burst's findings say of it.
struct BurstFacts {
    evidence: f64,
    candidates: usize,
    /// How many of the candidates failed with NXDOMAIN.
    nxdomain: usize,
    /// The first and last lookup of a candidate (milliseconds since the epoch in details).
    first: Option<dnshunt_core::Timestamp>,
    last: Option<dnshunt_core::Timestamp>,
    /// Lookups of its names in all.
    lookups: u64,
    distinct: u64,
}

impl Detector for Dga {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    /// Names seen on the wire are judged like Sysmon's.
    fn sees_wire(&self) -> bool {
        true
    }

    fn observe(&mut self, event: &Event, out: &mut Vec<Finding>) {
        self.observe_with(event, None, out);
    }

    fn observe_shared(&mut self, event: &std::sync::Arc<Event>, out: &mut Vec<Finding>) {
        self.observe_with(event, Some(event), out);
    }

    /// The processes whose names together are a burst: their listed names (the earliest
    /// `HELD_PER_PROCESS` under `threshold`, less those reported on their own), each as a
    /// finding that says so; aggregation folds them with the names reported on their own.
    fn finish(&mut self, out: &mut dyn dnshunt_core::FindingSink) {
        let mut bursts: Vec<(BurstFacts, ProcessNames)> = Vec::new();
        for (_, p) in std::mem::take(&mut self.processes) {
            if p.template.is_none() {
                continue;
            }
            let distinct = p.distinct.upper().max(p.candidates.len() as u64);
            let evidence = p.evidence_at_cap.unwrap_or_else(|| self.burst.evidence(p.sum as f64 / NATS_QUANTUM, distinct));
            let reaches = evidence >= self.config.burst_evidence;
            if p.candidates.len() < 2 || !reaches {
                continue;
            }
            let facts = BurstFacts {
                evidence,
                candidates: p.candidates.len(),
                nxdomain: p.candidates.iter().filter(|&&c| c & 1 == 1).count(),
                distinct,
                first: p.first,
                last: p.last,
                lookups: p.lookups,
            };
            bursts.push((facts, p));
        }
        // In the order of their processes' earliest lookups, then by host and process, so the
        // output does not depend on hashing.
        bursts.sort_by(|(_, a), (_, b)| {
            let (a, b) = (a.template.as_deref().expect("kept above"), b.template.as_deref().expect("kept above"));
            fn key(t: &Event) -> (Option<&str>, Option<dnshunt_core::Guid>, Option<u32>, Option<&str>) {
                let process = t.process();
                (t.host.as_deref(), process.guid, process.pid, process.image.as_deref())
            }
            dnshunt_core::evidence_order(a).cmp(&dnshunt_core::evidence_order(b)).then_with(|| key(a).cmp(&key(b)))
        });
        for (facts, mut p) in bursts {
            let template = p.template.take().expect("kept above");
            p.held.sort_by(|a, b| a.order().cmp(&b.order()));
            for h in p.held {
                let failed = candidate(&p.candidates, h.hash).1.unwrap_or(h.status == QueryStatus::NAME_ERROR);
                // A name whose failed lookup pushed it over `threshold` was reported on its own.
                if failed && h.score + self.config.nxdomain_bonus >= self.config.threshold {
                    continue;
                }
                let event = match h.wire {
                    Some(wire) => wire,
                    // The lookup as read, with the process's context; its answers are not kept.
                    None => std::sync::Arc::new(Event {
                        time: h.time,
                        host: template.host.clone(),
                        record_id: h.record_id,
                        rule_name: None,
                        origin: h.origin,
                        kind: dnshunt_core::EventKind::DnsQuery(dnshunt_core::DnsQuery {
                            process: template.process().clone(),
                            ..dnshunt_core::DnsQuery::new(h.query, h.status)
                        }),
                    }),
                };
                if let Some((label, suffix, model_score, _)) = self.scored(&event) {
                    let bonus = if failed { self.config.nxdomain_bonus } else { 0.0 };
                    out.push(self.finding(&event, label, suffix, model_score, (model_score + bonus).min(1.0), Some((&facts, failed))));
                }
            }
        }
    }

    fn bounds_reached(&self) -> Vec<dnshunt_core::BoundReached> {
        dnshunt_core::BoundReached::all([dnshunt_core::BoundReached::of(Self::NAME, "max_processes", self.config.max_processes, self.untracked)])
    }
}

impl Dga {
    fn observe_with(&mut self, event: &Event, shared: Option<&std::sync::Arc<Event>>, out: &mut Vec<Finding>) {
        let Some((label, suffix, model_score, score)) = self.scored(event) else { return };
        if score >= self.config.threshold {
            out.push(self.finding(event, label, suffix, model_score, score, None));
        }
        self.remember(event, shared, label, suffix, model_score);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::tests::dns;

    /// The severity of the finding on a lookup of `name` (with `results` as Sysmon logs them),
    /// or `None` when the detector stays quiet.
    #[track_caller]
    fn check(name: &str, results: &str, expected: Option<Severity>) {
        let d = Dga::new(DgaConfig::default());
        let got = d.judge(&dns(name, results));
        assert_eq!(
            got.as_ref().map(|f| f.severity),
            expected,
            "{name}: {:?}",
            got.as_ref()
                .map(|f| &f.explanation)
                .or(Some(&format!("score {:?}", DgaModel::builtin().score_name(&dnshunt_core::DnsName::new(name)))))
        );
    }

    /// Made-up pronounceable names that score between the burst's floor and `threshold`.
    const ODD: [&str; 10] = [
        "qekyvoz.com",
        "zubyxaq.com",
        "hoqujyx.com",
        "vyzoqeb.com",
        "joqyzev.com",
        "xuvyqon.com",
        "fyqozeg.com",
        "byxiqum.net",
        "lyqavoz.com",
        "nyzeqip.com",
    ];

    /// A lookup of `name` by process number `process`, failed with NXDOMAIN when `nx`; each
    /// made a second after the one before, on the next line.
    fn lookup(name: &str, process: u32, nx: bool) -> Event {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut e = dns(name, "-");
        e.time = dnshunt_core::Timestamp(e.time.0 + n as i64 * 1_000);
        e.origin.line = Some(n);
        if let dnshunt_core::EventKind::DnsQuery(q) = &mut e.kind {
            q.process.guid = Some(dnshunt_core::Guid(0x1000 + u128::from(process)));
            if nx {
                q.status = QueryStatus::NAME_ERROR;
            }
        }
        e
    }

    /// What the detector reports on `events`, while reading and at the end.
    fn run(d: &mut Dga, events: &[Event]) -> (Vec<Finding>, Vec<Finding>) {
        let mut seen = Vec::new();
        for e in events {
            d.observe_shared(&std::sync::Arc::new(e.clone()), &mut seen);
        }
        let mut end = Vec::new();
        d.finish(&mut end);
        (seen, end)
    }

    #[test]
    fn the_odd_names_are_under_the_threshold_and_over_the_floor() {
        let config = DgaConfig::default();
        for name in ODD {
            let score = DgaModel::builtin().score_name(&dnshunt_core::DnsName::new(name)).unwrap();
            assert!(score >= config.burst_min_score && score < config.threshold, "{name}: {score}");
        }
    }

    #[test]
    fn a_burst_of_moderately_odd_names_from_one_process_is_reported() {
        let mut d = Dga::new(DgaConfig::default());
        let events: Vec<Event> = ODD.iter().map(|n| lookup(n, 1, false)).collect();
        let (seen, end) = run(&mut d, &events);
        assert!(seen.is_empty(), "none is reported on its own: {seen:?}");
        // The earliest names are listed, each saying what the burst is.
        assert_eq!(end.len(), HELD_PER_PROCESS);
        let listed: Vec<&str> = end.iter().map(|f| f.query_name.as_deref().unwrap()).collect();
        assert_eq!(listed, ODD[..HELD_PER_PROCESS]);
        for f in &end {
            assert_eq!(f.detector, "dga");
            assert!(f.details["burst_evidence"].as_f64().unwrap() >= 8.0, "{:?}", f.details);
            assert_eq!(f.details["burst_names"], ODD.len());
            assert_eq!(f.details["burst_nxdomain"], 0);
            assert!(f.severity >= Severity::Medium, "kept by the engine until folded");
            assert!(f.explanation.contains("looks somewhat machine-generated"), "{}", f.explanation);
        }
        // Folded, they are one finding that counts every name and outranks one name at the top
        // of the scale.
        let folded = crate::aggregate::aggregate(end, &crate::aggregate::AggregateConfig::default(), 5);
        assert_eq!(folded.len(), 1);
        let one = Dga::new(DgaConfig::default()).judge(&lookup("xkqvbzhtrwplmnfd.com", 2, true)).unwrap();
        let one = crate::aggregate::aggregate(vec![one], &crate::aggregate::AggregateConfig::default(), 5);
        assert!(folded[0].score > one[0].score, "{} vs {}", folded[0].score, one[0].score);
        assert_eq!(folded[0].details["distinct_names"], ODD.len());
        assert_eq!(folded[0].details["nxdomain_share"], 0.0);
        assert!(folded[0].explanation.contains("less than once in 10^"), "{}", folded[0].explanation);
    }

    #[test]
    fn the_nxdomain_share_is_of_names_whichever_lookup_failed() {
        // Every name resolves first and fails later: all of them count as failed.
        let mut d = Dga::new(DgaConfig::default());
        let mut events: Vec<Event> = ODD.iter().map(|n| lookup(n, 1, false)).collect();
        events.extend(ODD.iter().map(|n| lookup(n, 1, true)));
        let (seen, end) = run(&mut d, &events);
        assert_eq!(end[0].details["burst_nxdomain"], ODD.len());
        let mut all = seen;
        all.extend(end);
        let folded = crate::aggregate::aggregate(all, &crate::aggregate::AggregateConfig::default(), 5);
        assert_eq!(folded.len(), 1);
        assert_eq!(folded[0].details["nxdomain_share"], 1.0);
        assert_eq!(folded[0].details["distinct_names"], ODD.len());
    }

    #[test]
    fn what_a_burst_says_does_not_depend_on_read_order() {
        // Two lookups of each name, the second failing, in several orders.
        let mut events: Vec<Event> = Vec::new();
        for (i, n) in ODD.iter().enumerate() {
            for nx in [false, true] {
                let mut e = lookup(n, 1, nx);
                e.time = dnshunt_core::Timestamp(1_561_471_781_467 + (i as i64) * 1_000 + i64::from(nx) * 60_000);
                e.origin.line = Some(2 * i as u64 + u64::from(nx) + 1);
                events.push(e);
            }
        }
        let render = |events: &[Event]| {
            let mut d = Dga::new(DgaConfig::default());
            let (seen, end) = run(&mut d, events);
            let mut all = seen;
            all.extend(end);
            let folded = crate::aggregate::aggregate(all, &crate::aggregate::AggregateConfig::default(), 5);
            serde_json::to_string(&folded).unwrap()
        };
        let forward = render(&events);
        let mut backward = events.clone();
        backward.reverse();
        assert_eq!(render(&backward), forward);
        let mut interleaved: Vec<Event> = events.iter().skip(1).step_by(2).cloned().collect();
        interleaved.extend(events.iter().step_by(2).cloned());
        assert_eq!(render(&interleaved), forward);
    }

    #[test]
    fn a_burst_whose_first_names_are_strong_still_lists_the_others() {
        // Strong names are reported on their own; the listing is of the moderate ones, which
        // carry the burst's facts into the folded finding.
        let strong = ["xkqvbzhtrwplmnfd.com", "qzxvkjwmtrplbnhd.net", "jvhxqpwzkrtlmbnsfgd.biz"];
        let mut events: Vec<Event> = strong.iter().map(|n| lookup(n, 1, false)).collect();
        events.extend(ODD.iter().map(|n| lookup(n, 1, false)));
        let mut d = Dga::new(DgaConfig::default());
        let (seen, end) = run(&mut d, &events);
        assert_eq!(seen.len(), strong.len());
        assert!(end.iter().all(|f| !strong.contains(&f.query_name.as_deref().unwrap())));
        let mut all = seen;
        all.extend(end);
        let folded = crate::aggregate::aggregate(all, &crate::aggregate::AggregateConfig::default(), 5);
        assert_eq!(folded.len(), 1);
        assert_eq!(folded[0].details["distinct_names"], strong.len() + ODD.len());
        assert!(folded[0].details["burst_evidence"].as_f64().unwrap() >= 8.0);
        // The examples are the most generated-looking names.
        assert_eq!(folded[0].details["example_names"][0].as_str().map(|n| strong.contains(&n)), Some(true));
    }

    #[test]
    fn the_same_names_spread_over_processes_or_among_many_ordinary_ones_are_not_a_burst() {
        let mut d = Dga::new(DgaConfig::default());
        let spread: Vec<Event> = ODD.iter().enumerate().map(|(i, n)| lookup(n, i as u32, true)).collect();
        assert!(run(&mut d, &spread).1.is_empty());

        // A browser: three odd names among hundreds of ordinary ones.
        let words = [
            "news", "shop", "travel", "cloud", "photo", "music", "sport", "garden", "market", "health", "school", "money", "river", "story", "green", "light", "power", "smart",
            "world", "city",
        ];
        let mut browser: Vec<Event> = Vec::new();
        for a in words {
            for b in words {
                browser.push(lookup(&format!("www.{a}{b}.com"), 1, false));
            }
        }
        browser.extend(ODD[..3].iter().map(|n| lookup(n, 1, false)));
        let mut d = Dga::new(DgaConfig::default());
        let (_, end) = run(&mut d, &browser);
        assert!(end.is_empty(), "{end:?}");
        // The same three alone are a burst: the ordinary names are what speaks against it.
        let mut d = Dga::new(DgaConfig::default());
        let alone: Vec<Event> = ODD[..3].iter().map(|n| lookup(n, 1, false)).collect();
        assert!(!run(&mut d, &alone).1.is_empty());
    }

    #[test]
    fn names_asked_again_count_once_and_popular_ones_not_at_all() {
        // Two odd names asked for a hundred times each are two names (two alone are just short
        // of a burst; each counted again would be far past it).
        let mut d = Dga::new(DgaConfig::default());
        let again: Vec<Event> = (0..100).flat_map(|_| ODD[..2].iter().map(|n| lookup(n, 1, true))).collect();
        assert!(run(&mut d, &again).1.is_empty());

        // Names a rank list calls popular add nothing.
        let mut table = dnshunt_enrich::rank::RankTable::new();
        table.add_csv(&ODD.iter().enumerate().map(|(i, n)| format!("{},{n}\n", i + 1)).collect::<String>());
        let mut d = Dga::new(DgaConfig::default()).with_rank(Some(std::sync::Arc::new(table)));
        let events: Vec<Event> = ODD.iter().map(|n| lookup(n, 1, true)).collect();
        assert!(run(&mut d, &events).1.is_empty());
    }

    #[test]
    fn a_process_with_very_many_odd_names_is_judged_when_it_reaches_the_cap() {
        // Made-up labels from a pronounceable generator, more than the cap.
        let mut names = Vec::new();
        let (cons, vows) = (b"bcdfghjklmnpqrstvwxz", b"aeiouy");
        let mut x = 0x1234_5678u64;
        while names.len() < CANDIDATES_PER_PROCESS + 100 {
            let mut label = String::new();
            for i in 0..9 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let set: &[u8] = if i % 2 == 0 { cons } else { vows };
                label.push(set[(x % set.len() as u64) as usize] as char);
            }
            let name = format!("{label}.com");
            let score = DgaModel::builtin().score_name(&dnshunt_core::DnsName::new(&name)).unwrap();
            if (0.3..0.75).contains(&score) && !names.contains(&name) {
                names.push(name);
            }
        }
        let events: Vec<Event> = names.iter().map(|n| lookup(n, 1, true)).collect();
        let mut d = Dga::new(DgaConfig::default());
        let (_, end) = run(&mut d, &events);
        assert_eq!(end.len(), HELD_PER_PROCESS);
        assert_eq!(end[0].details["burst_names"], CANDIDATES_PER_PROCESS);
        assert!(end[0].details["burst_evidence"].as_f64().unwrap() > 100.0);
    }

    #[test]
    fn a_burst_seen_on_the_wire_keeps_its_exchanges_as_evidence() {
        let events: Vec<Event> = ODD.iter().map(|n| crate::detectors::tests::wire(n, 1, &[])).collect();
        let mut d = Dga::new(DgaConfig::default());
        let (_, end) = run(&mut d, &events);
        assert_eq!(end.len(), HELD_PER_PROCESS);
        for f in &end {
            assert!(f.evidence[0].wire_dns().is_some(), "{:?}", f.evidence[0].kind);
            assert_eq!(f.evidence[0].lookup().unwrap().query.as_str(), f.query_name.as_deref().unwrap());
        }
    }

    #[test]
    fn a_name_reported_on_its_own_is_not_listed_again() {
        // Names between 0.75 and 0.8 that failed reach the threshold with the NXDOMAIN bonus:
        // each is one finding, not two, in the folded one.
        let mut events: Vec<Event> = ODD.iter().map(|n| lookup(n, 1, false)).collect();
        events.extend(ODD.iter().map(|n| lookup(n, 1, true)));
        let mut d = Dga::new(DgaConfig::default());
        let (seen, end) = run(&mut d, &events);
        let own: Vec<&str> = seen.iter().filter_map(|f| f.query_name.as_deref()).collect();
        assert!(!own.is_empty(), "some ODD names reach the threshold when they fail");
        assert!(end.iter().all(|f| !own.contains(&f.query_name.as_deref().unwrap())), "{own:?}");
        let mut all = seen;
        all.extend(end);
        let folded = crate::aggregate::aggregate(all, &crate::aggregate::AggregateConfig::default(), 5);
        let names: Vec<&str> = folded[0].details["matches"].as_array().unwrap().iter().map(|m| m["query_name"].as_str().unwrap()).collect();
        let mut distinct = names.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(names.len(), distinct.len(), "{names:?}");
        assert_eq!(folded[0].details["aggregated_findings"], names.len());
    }

    #[test]
    fn listed_lookups_keep_their_own_status_and_the_burst_its_span() {
        // Each name resolves first (its listed lookup) and fails an hour later.
        let mut events: Vec<Event> = ODD.iter().map(|n| lookup(n, 1, false)).collect();
        for n in ODD {
            let mut e = lookup(n, 1, true);
            e.time = dnshunt_core::Timestamp(e.time.0 + 3_600_000);
            events.push(e);
        }
        let mut d = Dga::new(DgaConfig::default());
        let (seen, end) = run(&mut d, &events);
        for f in &end {
            assert_eq!(f.evidence[0].lookup().unwrap().status, QueryStatus::SUCCESS, "the lookup as read");
            assert_eq!(f.details["nxdomain"], true, "a later lookup of the name failed");
        }
        let mut all = seen;
        all.extend(end);
        let folded = crate::aggregate::aggregate(all, &crate::aggregate::AggregateConfig::default(), 5);
        assert!(folded[0].time_last.0 - folded[0].time.0 >= 3_600_000, "{:?} .. {:?}", folded[0].time, folded[0].time_last);
        assert_eq!(folded[0].count, 2 * ODD.len() as u64, "every lookup, listed or not");
    }

    #[test]
    fn a_process_seen_on_the_wire_and_by_sysmon_lists_both() {
        // Attribution gives wire lookups the process of Sysmon's: one process, two kinds.
        let mut events: Vec<Event> = Vec::new();
        for (i, n) in ODD.iter().enumerate() {
            let mut e = if i % 2 == 0 { crate::detectors::tests::wire(n, 1, &[]) } else { lookup(n, 1, false) };
            if let dnshunt_core::EventKind::WireDns(w) = &mut e.kind {
                w.lookup.process = lookup(n, 1, false).process().clone();
            }
            e.host = Some("WIN10-LAB".into());
            e.time = dnshunt_core::Timestamp(1_561_471_781_467 + i as i64 * 1_000);
            events.push(e);
        }
        let mut d = Dga::new(DgaConfig::default());
        let (_, end) = run(&mut d, &events);
        assert_eq!(end.len(), HELD_PER_PROCESS);
        assert!(end.iter().any(|f| f.evidence[0].wire_dns().is_some()));
        assert!(end.iter().any(|f| f.evidence[0].wire_dns().is_none()));
    }

    #[test]
    fn settings_that_are_no_number_fall_back_to_their_defaults() {
        let d = Dga::new(DgaConfig {
            nxdomain_bonus: f64::NAN,
            burst_evidence: f64::NAN,
            burst_min_score: f64::INFINITY,
            ..DgaConfig::default()
        });
        assert_eq!(d.config, DgaConfig::default());
    }

    #[test]
    fn processes_past_the_bound_are_counted() {
        let mut d = Dga::new(DgaConfig {
            max_processes: 2,
            ..DgaConfig::default()
        });
        let events: Vec<Event> = (0..5).map(|i| lookup(ODD[0], i, false)).collect();
        run(&mut d, &events);
        let bounds = d.bounds_reached();
        assert_eq!(bounds.len(), 1, "{bounds:?}");
        assert_eq!(bounds[0].setting, "max_processes");
    }

    #[test]
    fn distinct_counts_are_exact_then_close_and_read_high() {
        for n in [1u64, 10, 100, 128, 129, 300, 500, 700, 1_000, 5_000, 20_000] {
            let mut c = DistinctCount::default();
            for i in 0..n {
                c.add(name_hash(&format!("name{i}"), "com"));
                // Names counted again do not count.
                c.add(name_hash(&format!("name{}", i / 2), "com"));
            }
            let got = c.upper() as f64;
            if n <= EXACT_DISTINCT as u64 {
                assert_eq!(got, n as f64);
            } else {
                assert!(got >= n as f64 * 0.95 && got <= n as f64 * 1.35, "{n}: {got}");
            }
        }
    }

    #[test]
    fn the_builtin_model_loads() {
        let model = DgaModel::builtin();
        assert_ne!(model, &DgaModel::null());
    }

    #[test]
    fn generated_looking_names_fire() {
        // Made-up names in the styles of character DGAs: random letters, letters and digits,
        // long consonant-heavy labels.
        for name in [
            "xkqvbzhtrwplmnfd.com",
            "www.qzxvkjwmtrplbnhd.net",
            "pq7x2kz9w4vbn1mt8r.info",
            "jvhxqpwzkrtlmbnsfgd.biz",
            "mkxqwzvtbnplrhgdkjs.ru",
            "zt9qk3xw7vj2mb6pr4n.org",
        ] {
            let d = Dga::new(DgaConfig::default());
            let f = d.judge(&dns(name, "-")).unwrap_or_else(|| panic!("{name} did not fire"));
            assert!(f.severity >= Severity::Medium, "{name}: {:?}", f.severity);
            assert_eq!(f.attack, ["T1568.002"]);
            assert!(f.explanation.contains("looks machine-generated"), "{}", f.explanation);
        }
    }

    #[test]
    fn explanation_names_label_score_and_reasons() {
        let d = Dga::new(DgaConfig::default());
        let f = d.judge(&dns("www.xkqvbzhtrwplmnfd.com", "-")).unwrap();
        assert!(f.explanation.contains("'xkqvbzhtrwplmnfd'"), "{}", f.explanation);
        assert!(f.explanation.contains("DGA score"), "{}", f.explanation);
        assert_eq!(f.details["dga_label"], "xkqvbzhtrwplmnfd");
        assert!(!f.details["dga_reasons"].as_array().unwrap().is_empty(), "{}", f.explanation);
    }

    #[test]
    fn nxdomain_raises_the_score() {
        let mut nx = dns("pq7x2kz9w4vbn1mt8r.info", "-");
        if let dnshunt_core::EventKind::DnsQuery(q) = &mut nx.kind {
            q.status = QueryStatus::NAME_ERROR;
        }
        let d = Dga::new(DgaConfig::default());
        let plain = d.judge(&dns("pq7x2kz9w4vbn1mt8r.info", "-")).unwrap();
        let failed = d.judge(&nx).unwrap();
        assert!(failed.score >= plain.score);
        assert!(failed.explanation.contains("NXDOMAIN"));
        assert_eq!(failed.details["nxdomain"], true);
        // A label just under the threshold is pushed over it by NXDOMAIN.
        let strict = Dga::new(DgaConfig {
            threshold: 0.999,
            nxdomain_bonus: 1.0,
            ..DgaConfig::default()
        });
        assert!(strict.judge(&nx).is_some());
    }

    #[test]
    fn popular_and_seed_names_do_not_fire() {
        for name in [
            "www.youtube.com",
            "youtube-ui.l.google.com",
            "xn--wgv71a119e.jp",
            "static-ecst.licdn.com",
            "mozilla.cloudflare-dns.com",
            "www.microsoft.com",
            "login.microsoftonline.com",
            "settings-win.data.microsoft.com",
            "www.amazon.co.jp",
            "github.com",
            "stackoverflow.com",
            "wikipedia.org",
        ] {
            check(name, "-", None);
        }
    }

    #[test]
    fn service_made_subdomains_do_not_fire() {
        for name in [
            "3a7f9c0e1b2d4f6a.cloudfront.net",
            "d1x2y3z4q5w6e7.cloudfront.net",
            "4c5d6e7f8a9b0c1d2e3f.footprintdns.com",
            "a1b2c3d4e5f6a7b8c9d0-e1f2.footprintdns.com",
            "e1234.dscb.akamaiedge.net",
            "qxkzvbhtrw.blob.core.windows.net",
            "xkqvbzhtrwplmnfd.s3.amazonaws.com",
        ] {
            check(name, "-", None);
        }
    }

    #[test]
    fn internal_and_single_label_names_do_not_fire() {
        for name in ["wpad", "dc01.corp.local", "xkqvbzhtrwplmnfd", "xkqvbzhtrwplmnfd.corp.local", "isatap.lab.internal", ""] {
            check(name, "-", None);
        }
    }

    #[test]
    fn dynamic_dns_labels_are_scored() {
        let d = Dga::new(DgaConfig::default());
        let f = d.judge(&dns("xkqvbzhtrwplmnfd.ddns.net", "-")).expect("fires under ddns.net");
        assert_eq!(f.details["dga_label"], "xkqvbzhtrwplmnfd");
    }

    #[test]
    fn popularity_damps_ranked_and_raises_unranked_names() {
        let mut table = dnshunt_enrich::rank::RankTable::new();
        table.add_csv("500,xkqvbzhtrwplmnfd.com\n2,example.com\n");
        let ranked = Some(std::sync::Arc::new(table));
        let plain = Dga::new(DgaConfig::default());
        let with_rank = Dga::new(DgaConfig::default()).with_rank(ranked);

        // A popular name that looks generated: still reported, but low and with a lower score.
        let before = plain.judge(&dns("xkqvbzhtrwplmnfd.com", "-")).expect("fires without ranks");
        let after = with_rank.judge(&dns("www.xkqvbzhtrwplmnfd.com", "-")).expect("still reported");
        assert!(before.severity >= Severity::Medium);
        assert_eq!(after.severity, Severity::Low);
        assert!(after.score < before.score, "{} !< {}", after.score, before.score);
        assert_eq!(after.details["rank"], 500);

        // A never-ranked one rises (capped at 100) and says so.
        let unranked = with_rank.judge(&dns("jvhxqpwzkrtlmbnsfgd.biz", "-")).expect("fires");
        let base = plain.judge(&dns("jvhxqpwzkrtlmbnsfgd.biz", "-")).unwrap();
        assert!(unranked.score >= base.score && unranked.score <= 100);
        assert!(unranked.details["rank"].is_null());
    }

    #[test]
    fn other_events_do_not_fire() {
        let d = Dga::new(DgaConfig::default());
        assert!(d.judge(&crate::detectors::tests::net("203.0.113.7", 443)).is_none());
    }
}

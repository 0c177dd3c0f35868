//! What reading saw: counts per event type and per file, and the first problems.

use std::collections::BTreeMap;

use dnshunt_core::{Event, EventKind, Origin};
use serde::Serialize;

/// Whether a problem cost a record or only a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The record was skipped.
    BadRecord,
    /// The record was kept; a field was dropped.
    Warning,
    /// A whole file (or archive member) could not be read.
    File,
}

/// One problem, with where it happened.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub origin: Origin,
    pub message: String,
}

/// Event counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub dns_query: u64,
    pub process_create: u64,
    pub network_connect: u64,
    pub process_terminate: u64,
    /// DNS exchanges seen on the network (pcap, Zeek `dns.log`, Suricata `dns`).
    pub wire_dns: u64,
    /// Connections seen on the network (Zeek `conn.log`, Suricata `flow`/`tls`).
    pub wire_flow: u64,
    /// Packets or log records of the network that are not DNS exchanges or connections
    /// (counted and skipped).
    pub wire_other: u64,
    /// Packets of captures and records of Zeek and Suricata logs read (good ones; damaged ones
    /// are bad records).
    pub wire_records: u64,
    /// DNS questions and responses among them (a capture's messages, a log's records).
    pub wire_queries: u64,
    pub wire_responses: u64,
    /// Sysmon events of other ids, per id (counted and skipped).
    pub other_sysmon: BTreeMap<u32, u64>,
    /// Events of other channels or providers (counted and skipped).
    pub not_sysmon: u64,
    pub bad_records: u64,
    pub warnings: u64,
    /// Events outside `--since`/`--until`.
    pub filtered_out: u64,
}

impl Counts {
    pub fn count_event(&mut self, event: &Event) {
        match event.kind {
            EventKind::DnsQuery(_) => self.dns_query += 1,
            EventKind::ProcessCreate(_) => self.process_create += 1,
            EventKind::NetworkConnect(_) => self.network_connect += 1,
            EventKind::ProcessTerminate(_) => self.process_terminate += 1,
            EventKind::WireDns(_) => self.wire_dns += 1,
            EventKind::WireFlow(_) => self.wire_flow += 1,
        }
    }

    /// Events of the modelled types, Sysmon's and the network's.
    pub fn events(&self) -> u64 {
        self.dns_query + self.process_create + self.network_connect + self.process_terminate + self.wire_dns + self.wire_flow
    }

    /// Every record looked at: Sysmon's events and other records, and the packets and log
    /// records of wire inputs.
    pub fn records(&self) -> u64 {
        let sysmon = self.dns_query + self.process_create + self.network_connect + self.process_terminate;
        sysmon + self.other_sysmon.values().sum::<u64>() + self.not_sysmon + self.wire_records + self.bad_records + self.filtered_out
    }

    pub fn add(&mut self, other: &Counts) {
        self.dns_query += other.dns_query;
        self.process_create += other.process_create;
        self.network_connect += other.network_connect;
        self.process_terminate += other.process_terminate;
        self.wire_dns += other.wire_dns;
        self.wire_flow += other.wire_flow;
        self.wire_other += other.wire_other;
        self.wire_records += other.wire_records;
        self.wire_queries += other.wire_queries;
        self.wire_responses += other.wire_responses;
        for (id, n) in &other.other_sysmon {
            *self.other_sysmon.entry(*id).or_default() += n;
        }
        self.not_sysmon += other.not_sysmon;
        self.bad_records += other.bad_records;
        self.warnings += other.warnings;
        self.filtered_out += other.filtered_out;
    }
}

/// Per-file outcome.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FileReport {
    pub name: String,
    pub format: String,
    pub bytes: u64,
    pub counts: Counts,
    /// Set when the file could not be read at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Everything reading saw, summed as batches arrive.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReadReport {
    pub totals: Counts,
    pub files: Vec<FileReport>,
    /// The first problems of each kind (at most [`ReadReport::MAX_EXAMPLES`] each).
    pub examples: Vec<Problem>,
    pub file_errors: u64,
    /// Files met while walking directories that are not event data (notes, hashes ...).
    pub ignored_files: Vec<String>,
}

impl ReadReport {
    pub const MAX_EXAMPLES: usize = 10;

    pub fn file_mut(&mut self, id: u32) -> &mut FileReport {
        let id = id as usize;
        if self.files.len() <= id {
            self.files.resize_with(id + 1, FileReport::default);
        }
        &mut self.files[id]
    }

    pub fn add_problems(&mut self, problems: Vec<Problem>) {
        for p in problems {
            if p.kind == ProblemKind::File {
                self.file_errors += 1;
            }
            let same_kind = self.examples.iter().filter(|e| e.kind == p.kind).count();
            if same_kind < Self::MAX_EXAMPLES {
                self.examples.push(p);
            }
        }
    }

    /// True when anything was skipped or could not be read (`--strict` fails the run on this).
    pub fn has_problems(&self) -> bool {
        self.totals.bad_records > 0 || self.file_errors > 0
    }
}

//! dnshunt's core: the Sysmon event model, normalisation of raw records into it, the finding
//! contract and the detector interface.
//!
//! Architecture invariant: this crate does no I/O. Readers (`dnshunt-source`) produce
//! [`RawRecord`]s, [`normalize()`] types them into [`Event`]s, detectors (`dnshunt-detect`) turn
//! events into [`Finding`]s, and sinks (`dnshunt-sink`) write them.

mod answer;
mod detector;
mod event;
mod finding;
mod guid;
mod incident;
mod name;
pub mod normalize;
pub mod raw;
mod shared;
mod status;
mod time;
pub mod wire;

pub use answer::{parse_ip, parse_query_results, Answer, AnswerData, RecordType};
pub use detector::{BoundReached, Detector, FindingSink};
pub use event::*;
pub use finding::{evidence_order, EvidenceOrder, Finding, ProcessContext, Severity, StableHasher};
pub use guid::Guid;
pub use incident::{Incident, IncidentProcess, TimelineEntry};
pub use name::{in_zone, DnsName};
pub use normalize::{normalize, BadRecord, Outcome};
pub use raw::{Field, RawRecord, RawValue};
pub use shared::shared;
pub use status::QueryStatus;
pub use time::Timestamp;
pub use wire::{DnsFlags, Endpoint, Sensor, Transport, WireAnswer, WireDns, WireFlow};

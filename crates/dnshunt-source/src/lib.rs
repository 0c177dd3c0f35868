//! dnshunt's sources: find the inputs, recognise their format, read them in parallel, and hand
//! normalised events to the pipeline in batches.
//!
//! Formats: EVTX (via the `evtx` crate, chunks in parallel), JSON in every shape Sysmon events
//! are shipped in (see [`json_visit`]), one object per line or whole documents, and Sysmon XML.
//! `.gz` and `.zip` are opened transparently, directories are walked, `-` is standard input.
//!
//! Bad input is data: every record that cannot be read becomes a counted [`Problem`] with its
//! file and line or record number, and reading goes on.

pub mod elastic;
mod evtx_reader;
mod json_doc;
mod json_fast;
pub mod json_visit;
pub mod limits;
mod read;
mod report;
mod stream;
mod work;
mod xml_reader;

pub use limits::Limits;
pub use read::{spawn, Input, InputFormat, ReadOptions};
pub use report::{Counts, FileReport, Problem, ProblemKind, ReadReport};
pub use work::Message;

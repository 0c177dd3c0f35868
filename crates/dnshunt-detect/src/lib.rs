//! dnshunt's detectors and the engine that runs them over events.
//!
//! Architecture invariant: no I/O here. Lists and settings arrive as values (the binary reads
//! the files); detectors cannot fail; every detector lives in one file under `detectors/`.

pub mod aggregate;
pub mod allowlist;
pub mod detectors;
pub mod docs;
mod engine;
pub(crate) mod fast;
pub mod indicators;
mod lanes;
pub mod process_tree;
pub mod registry;
pub mod repeats;
pub mod stats;
#[cfg(test)]
mod testkit;

pub use engine::{Engine, EngineConfig, EngineReport};

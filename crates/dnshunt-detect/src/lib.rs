//! dnshunt's detectors and the engine that runs them over events.
//!
//! Architecture invariant: no I/O here. Lists and settings arrive as values (the binary reads
//! the files); detectors cannot fail; every detector lives in one file under `detectors/`.

pub mod detectors;
mod engine;
pub mod indicators;
pub mod registry;

pub use engine::{Engine, EngineConfig, EngineReport};

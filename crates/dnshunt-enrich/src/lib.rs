//! dnshunt's name enrichment: pure features of DNS names (entropy, character structure) and the
//! DGA model that scores the registrable label of a name.
//!
//! Architecture invariant: this crate does no I/O. The DGA model's weights are compiled into the
//! binary from the repository's `models/` folder.

pub mod age;
pub mod burst;
pub mod dga;
pub mod features;
pub mod geo;
pub mod label;
pub mod model_file;
pub mod ngram;
pub mod rank;
pub mod rdap;
pub mod scores;
pub mod train;
pub mod trees;

//! Sigma rules over dnshunt's events.
//!
//! Rules of the Windows `dns_query`, `network_connection` and `process_creation` categories run
//! over the normalised events of every input shape through [`fields::SysmonView`], which renders
//! each typed event with Sysmon's field names and value spellings. Matching and correlation are
//! done by `rsigma-eval`; [`load()`] reads the rule files and lists every rule it cannot use with
//! the reason; [`SigmaDetector`] turns matches into findings like those of any other detector.

pub mod detector;
pub mod fields;
pub mod load;

pub use detector::SigmaDetector;
pub use fields::SysmonView;
pub use load::{load, load_texts, LoadReport, RuleMeta, RuleSet, Skipped, CATEGORIES};

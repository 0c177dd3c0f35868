//! Times loading a threat-intel list into an `IndicatorSet` (and dropping it), best of 3.
//!
//! `cargo run --release -p dnshunt-detect --example intel_load FILE`

use std::time::Instant;

use dnshunt_detect::indicators::IndicatorSet;

fn main() {
    let path = std::env::args().nth(1).expect("usage: intel_load FILE");
    let text = std::fs::read_to_string(&path).expect("reading the list");
    let mut best = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        let started = Instant::now();
        let mut set = IndicatorSet::new();
        let report = set.add_list("list", &text);
        let load = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let n = set.len();
        drop(set);
        let dropped = started.elapsed().as_secs_f64();
        best = (best.0.min(load), best.1.min(dropped));
        eprintln!("{n} entries ({} rejected): load {load:.3} s, drop {dropped:.3} s", report.rejected);
    }
    println!("best of 3: load {:.3} s, drop {:.3} s", best.0, best.1);
}

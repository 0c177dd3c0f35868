//! Lookups per second of the GeoIP enrichment: cold (every address new, the databases are
//! walked and decoded) and from the cache (the same addresses again), as `hunt` sees them.
//!
//! `cargo run --release -p dnshunt-enrich --example geo_lookups -- DIR [DISTINCT] [ROUNDS]`
//! with DIR a folder of `.mmdb` files (files that do not open are skipped).

use std::net::IpAddr;
use std::time::Instant;

use dnshunt_enrich::geo::{DbBytes, GeoDb, GeoLookup};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: geo_lookups DIR [DISTINCT] [ROUNDS]");
    let distinct: u32 = args.next().map_or(50_000, |a| a.parse().expect("DISTINCT is a number"));
    let rounds: u32 = args.next().map_or(20, |a| a.parse().expect("ROUNDS is a number"));
    let mut dbs = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir).expect("reading DIR").filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries.iter().filter(|p| p.extension().is_some_and(|x| x == "mmdb")) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match GeoDb::new(&name, DbBytes::Owned(std::fs::read(path).expect("reading a database")), true) {
            Ok(db) => dbs.push(db),
            Err(e) => eprintln!("skipped {e}"),
        }
    }
    println!("databases: {}", dbs.iter().map(GeoDb::name).collect::<Vec<_>>().join(", "));
    let geo = GeoLookup::new(dbs, distinct as usize * 2);
    // Addresses spread over the whole IPv4 space (a multiplicative hash of the counter), so
    // the walk covers many search-tree paths.
    let addr = |i: u32| IpAddr::from(i.wrapping_mul(2_654_435_761).to_be_bytes());
    let started = Instant::now();
    let mut found = 0u64;
    for i in 0..distinct {
        found += u64::from(!geo.lookup(addr(i)).is_empty());
    }
    let cold = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for _ in 0..rounds {
        for i in 0..distinct {
            std::hint::black_box(geo.lookup(addr(i)));
        }
    }
    let warm = started.elapsed().as_secs_f64();
    let stats = geo.stats();
    println!(
        "cold lookups   : {distinct} distinct addresses in {cold:.3} s = {:.0} lookups/s ({found} with data)",
        distinct as f64 / cold
    );
    println!(
        "cached lookups : {} in {warm:.3} s = {:.0} lookups/s (cache hits {}, errors {})",
        distinct as u64 * rounds as u64,
        (distinct as u64 * rounds as u64) as f64 / warm,
        stats.cache_hits,
        stats.errors
    );
}

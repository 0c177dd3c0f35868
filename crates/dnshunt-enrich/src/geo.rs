//! GeoIP, ASN and anonymiser facts about an address, from MaxMind DB files (GeoLite2/GeoIP2
//! City, Country, ASN, ISP and Anonymous-IP).
//!
//! The binary opens (memory-maps) the files and hands their bytes here as [`DbBytes`]; this
//! module checks them ([`GeoDb::new`]) and answers lookups. Lookups cannot fail: an address a
//! database does not hold, or a record it cannot decode, gives an empty [`GeoInfo`], and the
//! failure is counted ([`GeoStats`]) so the run can report it. [`GeoLookup`] caches answers in a
//! bounded map, so a run looks each address up in the databases once (as long as the number of
//! distinct addresses stays below the cache size).

use std::collections::HashMap;
use std::net::IpAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use maxminddb::{MaxMindDbError, Reader};
use serde::{Deserialize, Serialize};

/// The bytes of a database: a memory map of the file (what the binary uses), or bytes in memory.
pub enum DbBytes {
    Mapped(maxminddb::Mmap),
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for DbBytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            DbBytes::Mapped(m) => m.as_ref(),
            DbBytes::Owned(v) => v.as_slice(),
        }
    }
}

/// What a database tells about an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GeoKind {
    /// City (country, city), also GeoIP2 Enterprise.
    City,
    /// Country only.
    Country,
    /// Autonomous system number and organisation (GeoLite2-ASN, GeoIP2-ISP).
    Asn,
    /// Anonymiser flags: VPN, hosting provider, public/residential proxy, Tor exit.
    AnonymousIp,
}

impl GeoKind {
    /// The kind of a database by the `database_type` in its metadata (`GeoLite2-City`, ...).
    pub fn from_database_type(database_type: &str) -> Option<GeoKind> {
        let t = database_type.to_ascii_lowercase();
        if t.contains("anonymous-ip") || t.contains("anonymous_ip") {
            Some(GeoKind::AnonymousIp)
        } else if t.contains("asn") || t.contains("-isp") {
            Some(GeoKind::Asn)
        } else if t.contains("city") || t.contains("enterprise") {
            Some(GeoKind::City)
        } else if t.contains("country") {
            Some(GeoKind::Country)
        } else {
            None
        }
    }
}

/// Why a database could not be used. Each variant names the database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GeoError {
    /// The bytes are not a MaxMind database, or its metadata is broken.
    #[error("{name}: not a usable MaxMind DB file: {source}")]
    Open {
        name: String,
        #[source]
        source: MaxMindDbError,
    },
    /// The file is a MaxMind database, but its search tree or data section is corrupt.
    #[error("{name}: corrupt MaxMind DB file: {source}")]
    Corrupt {
        name: String,
        #[source]
        source: MaxMindDbError,
    },
    /// A valid database of a type dnshunt does not read (e.g. Connection-Type, Domain).
    #[error("{name}: database type {database_type:?} is none of City, Country, ASN, ISP, Anonymous-IP")]
    UnknownType { name: String, database_type: String },
    /// Reading the database panicked (a bug in the reader); reported, never a crash.
    #[error("{name}: the MaxMind DB reader failed on this file")]
    Panicked { name: String },
}

/// One checked database.
pub struct GeoDb {
    name: String,
    kind: GeoKind,
    reader: Reader<DbBytes>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb").field("name", &self.name).field("kind", &self.kind).finish_non_exhaustive()
    }
}

/// The fields dnshunt reads from City/Country/Enterprise records.
#[derive(Deserialize)]
struct LocationRecord<'a> {
    #[serde(borrow)]
    country: Option<CountryRecord<'a>>,
    #[serde(borrow)]
    registered_country: Option<CountryRecord<'a>>,
    #[serde(borrow)]
    city: Option<CityRecord<'a>>,
}

#[derive(Deserialize)]
struct CountryRecord<'a> {
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct CityRecord<'a> {
    #[serde(borrow)]
    names: Option<EnglishName<'a>>,
}

#[derive(Deserialize)]
struct EnglishName<'a> {
    en: Option<&'a str>,
}

#[derive(Deserialize)]
struct AsnRecord<'a> {
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<&'a str>,
}

#[derive(Deserialize)]
struct AnonymousRecord {
    is_anonymous: Option<bool>,
    is_anonymous_vpn: Option<bool>,
    is_hosting_provider: Option<bool>,
    is_public_proxy: Option<bool>,
    is_residential_proxy: Option<bool>,
    is_tor_exit_node: Option<bool>,
}

/// Sample addresses decoded when a database is opened without a full check: a database whose
/// records cannot be decoded at all is refused at once, not after the hunt.
const PROBES: [&str; 4] = ["1.1.1.1", "8.8.8.8", "81.2.69.160", "2001:4860:4860::8888"];

impl GeoDb {
    /// Checks a database: its metadata, its type, and (with `verify`) every node of its search
    /// tree and every record, so a corrupt file is refused here rather than giving wrong
    /// answers during the hunt. `name` (the file name) appears in errors.
    pub fn new(name: &str, bytes: DbBytes, verify: bool) -> Result<GeoDb, GeoError> {
        let name = name.to_owned();
        let opened = catch_unwind(AssertUnwindSafe(|| Reader::from_source(bytes)));
        let reader = match opened {
            Ok(Ok(reader)) => reader,
            Ok(Err(source)) => return Err(GeoError::Open { name, source }),
            Err(_) => return Err(GeoError::Panicked { name }),
        };
        let database_type = reader.metadata().database_type.clone();
        // Corruption is looked for before the type is judged, so a broken file is reported as
        // broken whatever it claims to be. Probes decode whatever the records hold.
        let checked = catch_unwind(AssertUnwindSafe(|| -> Result<(), MaxMindDbError> {
            if verify {
                reader.verify()?;
            }
            for probe in PROBES {
                let result = reader.lookup(probe.parse().expect("static address"))?;
                result.decode::<serde::de::IgnoredAny>()?;
            }
            Ok(())
        }));
        match checked {
            Ok(Ok(())) => {}
            Ok(Err(source)) => return Err(GeoError::Corrupt { name, source }),
            Err(_) => return Err(GeoError::Panicked { name }),
        }
        let Some(kind) = GeoKind::from_database_type(&database_type) else {
            return Err(GeoError::UnknownType { name, database_type });
        };
        Ok(GeoDb { name, kind, reader })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> GeoKind {
        self.kind
    }

    /// `database_type` from the metadata (`GeoLite2-City`).
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// Adds what this database holds for `ip` to `info` (fields already set stay).
    fn lookup_into(&self, ip: IpAddr, info: &mut GeoInfo) -> Result<(), MaxMindDbError> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        // An IPv4-only database holds nothing for IPv6 addresses; that is no error.
        if ip.is_ipv6() && self.reader.metadata().ip_version == 4 {
            return Ok(());
        }
        let result = self.reader.lookup(ip)?;
        if !result.has_data() {
            return Ok(());
        }
        match self.kind {
            GeoKind::City | GeoKind::Country => {
                if let Some(rec) = result.decode::<LocationRecord>()? {
                    if info.country.is_none() {
                        info.country = rec.country.and_then(|c| c.iso_code).or(rec.registered_country.and_then(|c| c.iso_code)).map(str::to_owned);
                    }
                    if info.city.is_none() {
                        info.city = rec.city.and_then(|c| c.names).and_then(|n| n.en).map(str::to_owned);
                    }
                }
            }
            GeoKind::Asn => {
                if let Some(rec) = result.decode::<AsnRecord>()? {
                    info.asn = info.asn.or(rec.autonomous_system_number);
                    if info.as_org.is_none() {
                        info.as_org = rec.autonomous_system_organization.map(str::to_owned);
                    }
                }
            }
            GeoKind::AnonymousIp => {
                if let Some(rec) = result.decode::<AnonymousRecord>()? {
                    let t = |b: Option<bool>| b.unwrap_or(false);
                    info.anonymous |= t(rec.is_anonymous);
                    info.anonymous_vpn |= t(rec.is_anonymous_vpn);
                    info.hosting |= t(rec.is_hosting_provider);
                    info.public_proxy |= t(rec.is_public_proxy);
                    info.residential_proxy |= t(rec.is_residential_proxy);
                    info.tor_exit |= t(rec.is_tor_exit_node);
                }
            }
        }
        Ok(())
    }
}

/// What the databases say about one address. Empty when they hold nothing for it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GeoInfo {
    /// ISO 3166-1 alpha-2 country code (the registered country when the location is unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// City name in English.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Autonomous system number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    /// Autonomous system organisation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_org: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub anonymous: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub anonymous_vpn: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub hosting: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub public_proxy: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub residential_proxy: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tor_exit: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl GeoInfo {
    pub fn is_empty(&self) -> bool {
        *self == GeoInfo::default()
    }

    /// The anonymiser flags that are set, by name (`tor_exit`, `anonymous_vpn`, ...).
    pub fn flags(&self) -> Vec<&'static str> {
        [
            ("tor_exit", self.tor_exit),
            ("anonymous_vpn", self.anonymous_vpn),
            ("public_proxy", self.public_proxy),
            ("residential_proxy", self.residential_proxy),
            ("hosting", self.hosting),
            ("anonymous", self.anonymous),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }

    /// As a JSON object with the address, for findings' `details` and event output.
    pub fn to_json(&self, ip: IpAddr) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let serde_json::Value::Object(map) = &mut v {
            map.insert("ip".to_owned(), ip.to_string().into());
        }
        v
    }
}

/// Counts of a run's lookups, for the summary and the benchmark.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GeoStats {
    /// Lookups asked for.
    pub lookups: u64,
    /// Of those, answered from the cache.
    pub cache_hits: u64,
    /// Records that could not be read (corrupt data); the address gets what the other
    /// databases hold.
    pub errors: u64,
    /// The first such error, with the database and address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// Default number of addresses the cache holds (two generations of half of it each).
pub const DEFAULT_CACHE_SIZE: usize = 200_000;

/// The databases of a run with a bounded cache: what detectors, findings and event output ask.
///
/// Shared (`Arc`) between the `geo` detector and the binary, so each address is looked up in
/// the databases once per run. The cache keeps two generations: when the newer one is full it
/// becomes the older one and the oldest generation is dropped, so memory stays bounded and
/// addresses in use stay cached.
pub struct GeoLookup {
    dbs: Vec<GeoDb>,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for GeoLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoLookup").field("dbs", &self.dbs).finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Cache {
    young: HashMap<IpAddr, Arc<GeoInfo>>,
    old: HashMap<IpAddr, Arc<GeoInfo>>,
    generation_size: usize,
    stats: GeoStats,
}

impl GeoLookup {
    /// `cache_size` addresses at most are kept (at least 2).
    pub fn new(mut dbs: Vec<GeoDb>, cache_size: usize) -> GeoLookup {
        // City before Country: the more precise database answers first.
        dbs.sort_by_key(|d| d.kind);
        GeoLookup {
            dbs,
            cache: Mutex::new(Cache {
                generation_size: (cache_size / 2).max(1),
                ..Cache::default()
            }),
        }
    }

    pub fn databases(&self) -> &[GeoDb] {
        &self.dbs
    }

    /// Whether any database has anonymiser flags.
    pub fn has_kind(&self, kind: GeoKind) -> bool {
        self.dbs.iter().any(|d| d.kind == kind)
    }

    /// Everything the databases hold for `ip`.
    pub fn lookup(&self, ip: IpAddr) -> Arc<GeoInfo> {
        let mut guard = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let cache = &mut *guard;
        cache.stats.lookups += 1;
        if let Some(info) = cache.young.get(&ip) {
            cache.stats.cache_hits += 1;
            return info.clone();
        }
        if let Some(info) = cache.old.remove(&ip) {
            cache.stats.cache_hits += 1;
            cache.insert(ip, info.clone());
            return info;
        }
        let (info, error) = self.lookup_uncached(ip);
        if let Some(error) = error {
            cache.stats.errors += 1;
            cache.stats.first_error.get_or_insert(error);
        }
        let info = Arc::new(info);
        cache.insert(ip, info.clone());
        info
    }

    /// Asks every database, without the cache; the first decoding error is returned beside the
    /// answer (what the other databases hold).
    pub fn lookup_uncached(&self, ip: IpAddr) -> (GeoInfo, Option<String>) {
        let mut info = GeoInfo::default();
        let mut error = None;
        for db in &self.dbs {
            let outcome = catch_unwind(AssertUnwindSafe(|| db.lookup_into(ip, &mut info)));
            let problem = match outcome {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e.to_string(),
                Err(_) => "the reader panicked".to_owned(),
            };
            error.get_or_insert_with(|| format!("{} ({ip}): {problem}", db.name));
        }
        (info, error)
    }

    pub fn stats(&self) -> GeoStats {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).stats.clone()
    }
}

impl Cache {
    fn insert(&mut self, ip: IpAddr, info: Arc<GeoInfo>) {
        if self.young.len() >= self.generation_size {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(ip, info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/geoip");

    /// The bytes of a test database, or `None` (and a note) when the shared data is missing;
    /// under CI its absence fails the test.
    fn bytes(file: &str) -> Option<DbBytes> {
        let path = format!("{DATA}/{file}");
        match std::fs::read(&path) {
            Ok(b) => Some(DbBytes::Owned(b)),
            Err(e) => {
                assert!(std::env::var_os("CI").is_none(), "{path} missing under CI: {e}");
                eprintln!("skipped: {path} missing ({e})");
                None
            }
        }
    }

    fn open(file: &str) -> Option<Result<GeoDb, GeoError>> {
        bytes(file).map(|b| GeoDb::new(file, b, true))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn city_country_asn_and_anonymiser_answers() {
        let names = [
            "GeoLite2-City-Test.mmdb",
            "GeoLite2-Country-Test.mmdb",
            "GeoLite2-ASN-Test.mmdb",
            "GeoIP2-Anonymous-IP-Test.mmdb",
        ];
        let mut dbs = Vec::new();
        for name in names {
            let Some(db) = open(name) else { return };
            dbs.push(db.unwrap());
        }
        assert_eq!(
            dbs.iter().map(GeoDb::kind).collect::<Vec<_>>(),
            [GeoKind::City, GeoKind::Country, GeoKind::Asn, GeoKind::AnonymousIp]
        );
        let geo = GeoLookup::new(dbs, 16);
        // GeoLite2-City-Test.json: 2.125.160.216/29 is Boxford, GB.
        let boxford = geo.lookup(ip("2.125.160.218"));
        assert_eq!(boxford.country.as_deref(), Some("GB"));
        assert_eq!(boxford.city.as_deref(), Some("Boxford"));
        // GeoLite2-Country-Test.json / City: 81.2.69.160 is GB; the Anonymous-IP test data marks
        // 81.2.69.0/24 as every kind of anonymiser.
        let london = geo.lookup(ip("81.2.69.160"));
        assert_eq!(london.country.as_deref(), Some("GB"));
        assert!(london.tor_exit && london.anonymous_vpn && london.hosting && london.public_proxy);
        assert_eq!(london.flags()[0], "tor_exit");
        // GeoLite2-ASN-Test.json: 1.128.0.0/11 is AS1221 Telstra.
        let telstra = geo.lookup(ip("1.128.0.1"));
        assert_eq!(telstra.asn, Some(1221));
        assert_eq!(telstra.as_org.as_deref(), Some("Telstra Pty Ltd"));
        // 12.81.96.0/19: an ASN without an organisation.
        assert_eq!(geo.lookup(ip("12.81.96.1")).asn, Some(7018));
        assert_eq!(geo.lookup(ip("12.81.96.1")).as_org, None);
        // Anonymous-IP: 71.160.223.0/24 is a hosting provider; 65.0.0.0/13 Tor exits.
        assert!(geo.lookup(ip("71.160.223.5")).hosting);
        assert!(geo.lookup(ip("65.0.0.1")).tor_exit);
        // An address none of them hold.
        assert!(geo.lookup(ip("192.0.2.1")).is_empty());
        let json = london.to_json(ip("81.2.69.160"));
        assert_eq!(json["country"], "GB");
        assert_eq!(json["ip"], "81.2.69.160");
        assert_eq!(json["tor_exit"], true);
        assert!(json.get("asn").is_none());
        let stats = geo.stats();
        assert_eq!(stats.errors, 0);
        assert_eq!(stats.cache_hits, 1, "12.81.96.1 was asked twice");
    }

    #[test]
    fn cache_answers_repeats_and_stays_bounded() {
        let Some(db) = open("GeoLite2-Country-Test.mmdb") else { return };
        let geo = GeoLookup::new(vec![db.unwrap()], 4);
        for round in 0..3 {
            for last in 0..3u8 {
                geo.lookup(IpAddr::from([81, 2, 69, last]));
            }
            let stats = geo.stats();
            assert_eq!(stats.cache_hits, round * 3, "round {round}");
        }
        for last in 0..100u8 {
            geo.lookup(IpAddr::from([10, 0, 0, last]));
        }
        let cache = geo.cache.lock().unwrap();
        assert!(cache.young.len() + cache.old.len() <= 4);
    }

    #[test]
    fn broken_databases_are_refused_with_a_clear_error() {
        for (file, expect) in [
            ("GeoIP2-City-Test-Broken-Double-Format.mmdb", "corrupt MaxMind DB file: invalid database at offset"),
            (
                "GeoIP2-City-Test-Invalid-Node-Count.mmdb",
                "not a usable MaxMind DB file: invalid database: the MaxMind DB file's search tree extends",
            ),
            (
                "MaxMind-DB-test-broken-pointers-24.mmdb",
                "corrupt MaxMind DB file: invalid database: the MaxMind DB file's data pointer",
            ),
            (
                "MaxMind-DB-test-broken-search-tree-24.mmdb",
                "corrupt MaxMind DB file: invalid database: search tree appears to have a cycle",
            ),
        ] {
            let Some(result) = open(file) else { return };
            let err = result.expect_err(file).to_string();
            assert!(err.contains(expect) && err.contains(file), "{file}: {err}");
        }
        // Not a database at all, and empty bytes.
        for (name, junk) in [("junk.mmdb", b"this is not a database".to_vec()), ("empty.mmdb", Vec::new())] {
            let err = GeoDb::new(name, DbBytes::Owned(junk), true).unwrap_err();
            assert!(matches!(err, GeoError::Open { .. }), "{err}");
            assert!(err.to_string().starts_with(name), "{err}");
        }
    }

    /// Opened without the full check (as a user may choose for a large file), lookups in the
    /// broken databases return (empty or partial answers, errors counted), never hang or panic.
    #[test]
    fn lookups_in_broken_databases_do_not_hang_or_panic() {
        for file in [
            "GeoIP2-City-Test-Broken-Double-Format.mmdb",
            "GeoIP2-City-Test-Invalid-Node-Count.mmdb",
            "MaxMind-DB-test-broken-pointers-24.mmdb",
            "MaxMind-DB-test-broken-search-tree-24.mmdb",
        ] {
            let Some(b) = bytes(file) else { return };
            let Ok(reader) = Reader::from_source(b) else { continue };
            let kind = GeoKind::from_database_type(&reader.metadata().database_type).unwrap_or(GeoKind::City);
            let geo = GeoLookup::new(
                vec![GeoDb {
                    name: file.to_owned(),
                    kind,
                    reader,
                }],
                1024,
            );
            let started = std::time::Instant::now();
            let mut n = 0u32;
            for a in 0..=255u8 {
                for b in [0u8, 1, 2, 69, 160, 255] {
                    geo.lookup(IpAddr::from([a, b, b, a]));
                    geo.lookup(IpAddr::from([0x2001, 0xdb8, a as u16, 0, 0, 0, 0, b as u16]));
                    geo.lookup(IpAddr::from([1, 1, 1, a]));
                    n += 3;
                }
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(20), "{file}: {n} lookups took {:?}", started.elapsed());
            let stats = geo.stats();
            assert_eq!(stats.lookups, n as u64);
            // Bad records are counted (the broken search tree's cycles just end the walk).
            if file.contains("Double-Format") || file.contains("broken-pointers") {
                assert!(stats.errors > 0, "{file}: {stats:?}");
            }
            if stats.errors > 0 {
                assert!(stats.first_error.as_deref().unwrap().starts_with(file), "{stats:?}");
            }
        }
    }

    #[test]
    fn database_types_are_recognised() {
        assert_eq!(GeoKind::from_database_type("GeoLite2-City"), Some(GeoKind::City));
        assert_eq!(GeoKind::from_database_type("GeoIP2-Enterprise"), Some(GeoKind::City));
        assert_eq!(GeoKind::from_database_type("GeoLite2-Country"), Some(GeoKind::Country));
        assert_eq!(GeoKind::from_database_type("GeoLite2-ASN"), Some(GeoKind::Asn));
        assert_eq!(GeoKind::from_database_type("GeoIP2-ISP"), Some(GeoKind::Asn));
        assert_eq!(GeoKind::from_database_type("GeoIP2-Anonymous-IP"), Some(GeoKind::AnonymousIp));
        assert_eq!(GeoKind::from_database_type("GeoIP2-Connection-Type"), None);
    }
}

//! The RDAP answer cache: what a registry said about a registrable domain, so a domain is asked
//! about once, not on every run.
//!
//! A registration date does not change (a dropped and re-registered domain gets a new one, which
//! is why found entries still expire, after `found_ttl`); "not found" answers and answers
//! without a date expire sooner (`missing_ttl`), since the domain may be registered tomorrow.
//! Times here are the wall clock of the lookup (ms since the epoch), handed in by the caller.

use rusqlite::{params, OptionalExtension};

use crate::{StateError, StateStore};

/// One cached answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RdapAnswer {
    /// The registry's `registration` event (ms since the epoch).
    Registered(i64),
    /// The registry knows the domain but gives no registration date.
    NoDate,
    /// The registry does not know the domain (HTTP 404).
    NotFound,
}

/// The cache's table, created when the store is opened.
pub(crate) const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS rdap_cache (
         domain TEXT PRIMARY KEY,
         registered_ms INTEGER,
         not_found INTEGER NOT NULL,
         fetched_ms INTEGER NOT NULL
     ) WITHOUT ROWID;";

impl StateStore {
    /// The cached answer for `domain`, unless it is older than its time to live at `now_ms`.
    pub fn rdap_get(&self, domain: &str, now_ms: i64, found_ttl_ms: i64, missing_ttl_ms: i64) -> Result<Option<RdapAnswer>, StateError> {
        let row: Option<(Option<i64>, bool, i64)> = self
            .conn
            .query_row("SELECT registered_ms, not_found, fetched_ms FROM rdap_cache WHERE domain = ?1", params![domain], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
            .map_err(self.err())?;
        Ok(row.and_then(|(registered, not_found, fetched)| {
            let answer = match (registered, not_found) {
                (Some(ms), _) => RdapAnswer::Registered(ms),
                (None, true) => RdapAnswer::NotFound,
                (None, false) => RdapAnswer::NoDate,
            };
            let ttl = if matches!(answer, RdapAnswer::Registered(_)) { found_ttl_ms } else { missing_ttl_ms };
            (now_ms - fetched < ttl).then_some(answer)
        }))
    }

    /// Stores an answer fetched at `now_ms`.
    pub fn rdap_put(&self, domain: &str, answer: RdapAnswer, now_ms: i64) -> Result<(), StateError> {
        let (registered, not_found) = match answer {
            RdapAnswer::Registered(ms) => (Some(ms), false),
            RdapAnswer::NoDate => (None, false),
            RdapAnswer::NotFound => (None, true),
        };
        self.conn
            .execute(
                "INSERT OR REPLACE INTO rdap_cache (domain, registered_ms, not_found, fetched_ms) VALUES (?1, ?2, ?3, ?4)",
                params![domain, registered, not_found, now_ms],
            )
            .map_err(self.err())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip_and_expire() {
        let dir = std::env::temp_dir().join(format!("dnshunt-rdap-cache-{}", std::process::id()));
        let path = dir.join("state.sqlite");
        let _ = std::fs::remove_file(&path);
        let store = StateStore::open(&path).unwrap();
        let day = 86_400_000;
        assert_eq!(store.rdap_get("a.example", 0, day, day).unwrap(), None);
        store.rdap_put("a.example", RdapAnswer::Registered(1_700_000_000_000), 0).unwrap();
        store.rdap_put("b.example", RdapAnswer::NotFound, 0).unwrap();
        store.rdap_put("c.example", RdapAnswer::NoDate, 0).unwrap();
        drop(store);
        let store = StateStore::open(&path).unwrap();
        assert_eq!(
            store.rdap_get("a.example", day, 30 * day, 2 * day).unwrap(),
            Some(RdapAnswer::Registered(1_700_000_000_000))
        );
        assert_eq!(store.rdap_get("b.example", day, 30 * day, 2 * day).unwrap(), Some(RdapAnswer::NotFound));
        assert_eq!(store.rdap_get("c.example", day, 30 * day, 2 * day).unwrap(), Some(RdapAnswer::NoDate));
        assert_eq!(store.rdap_get("b.example", 3 * day, 30 * day, 2 * day).unwrap(), None, "missing answers expire first");
        assert_eq!(
            store.rdap_get("a.example", 3 * day, 30 * day, 2 * day).unwrap(),
            Some(RdapAnswer::Registered(1_700_000_000_000))
        );
        store.rdap_put("b.example", RdapAnswer::Registered(5), 3 * day).unwrap();
        assert_eq!(store.rdap_get("b.example", 3 * day, 30 * day, 2 * day).unwrap(), Some(RdapAnswer::Registered(5)));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

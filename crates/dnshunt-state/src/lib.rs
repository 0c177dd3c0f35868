//! dnshunt's memory across runs: which registered domains and which programs each host (and the
//! whole fleet) has been seen with, and when, in one SQLite file.
//!
//! A run reads the store once before the hunt ([`StateStore::load`]), hands what it read to the
//! `first_seen` detector, and after the hunt records what it saw ([`StateStore::record`]) and
//! forgets entries not seen for the retention period ([`StateStore::record`]). So the first run
//! over a fleet learns, and each later run reports only what is new.
//!
//! The store keeps one row per (kind, host, value) with the first and last time it was seen,
//! in event time (Sysmon `UtcTime`, milliseconds), never the wall clock: a hunt over old
//! evidence ages the store by the evidence's own dates. Its size is bounded by the number of
//! distinct (host, domain) and (host, program) pairs active within the retention period.
//!
//! Architecture invariant: this crate knows nothing of events or detectors; it stores strings.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

pub mod checkpoint;
pub mod rdap_cache;

/// Store errors, each with the file it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The folder for the store could not be created.
    #[error("creating the folder of state store {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// SQLite refused an operation (a corrupt or locked file, a full disk, ...).
    #[error("state store {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer dnshunt.
    #[error("state store {path} has schema version {found}; this dnshunt understands up to {supported}")]
    Version { path: PathBuf, found: i64, supported: i64 },
}

/// One remembered fact: `value` (a domain or a program) of `kind` was seen on `host` (`*` for
/// the whole fleet) between `first_seen` and `last_seen` (event time, ms since the epoch).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Entry {
    pub kind: String,
    pub host: String,
    pub value: String,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// What a run did to the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordReport {
    /// Entries seen for the first time.
    pub added: u64,
    /// Entries seen before, whose times were widened.
    pub updated: u64,
    /// Entries forgotten by the retention rule.
    pub pruned: u64,
    /// Entries in the store afterwards.
    pub total: u64,
}

const SCHEMA_VERSION: i64 = 1;

/// The store: one SQLite file.
#[derive(Debug)]
pub struct StateStore {
    path: PathBuf,
    conn: Connection,
    /// Whether [`StateStore::spill`] set entries aside for [`StateStore::record`].
    spilled: bool,
}

/// The default location: `$XDG_DATA_HOME/dnshunt/state.sqlite`, else
/// `$HOME/.local/share/dnshunt/state.sqlite`, else (Windows) `%LOCALAPPDATA%\dnshunt\state.sqlite`.
pub fn default_path() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let base = var("XDG_DATA_HOME")
        .or_else(|| var("HOME").map(|h| h.join(".local").join("share")))
        .or_else(|| var("LOCALAPPDATA"))?;
    Some(base.join("dnshunt").join("state.sqlite"))
}

impl StateStore {
    /// Opens (creating when missing) the store at `path`.
    pub fn open(path: &Path) -> Result<StateStore, StateError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::CreateDir { path: dir.to_owned(), source })?;
        }
        let err = |source| StateError::Sqlite { path: path.to_owned(), source };
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS seen (
                 kind TEXT NOT NULL,
                 host TEXT NOT NULL,
                 value TEXT NOT NULL,
                 first_seen INTEGER NOT NULL,
                 last_seen INTEGER NOT NULL,
                 PRIMARY KEY (kind, host, value)
             ) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS seen_last ON seen (last_seen);",
        )
        .map_err(err)?;
        let version: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
            .optional()
            .map_err(err)?;
        match version.and_then(|v| v.parse::<i64>().ok()) {
            Some(found) if found > SCHEMA_VERSION => {
                return Err(StateError::Version {
                    path: path.to_owned(),
                    found,
                    supported: SCHEMA_VERSION,
                })
            }
            Some(_) => {}
            None => {
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?1)",
                    params![SCHEMA_VERSION.to_string()],
                )
                .map_err(err)?;
            }
        }
        // The other modules' tables, once here rather than before each of their statements.
        conn.execute_batch(checkpoint::SCHEMA).map_err(err)?;
        conn.execute_batch(rdap_cache::SCHEMA).map_err(err)?;
        Ok(StateStore {
            path: path.to_owned(),
            conn,
            spilled: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StateError + '_ {
        move |source| StateError::Sqlite { path: self.path.clone(), source }
    }

    /// Every entry (the baseline a run compares with).
    pub fn load(&self) -> Result<Vec<Entry>, StateError> {
        let mut stmt = self
            .conn
            .prepare("SELECT kind, host, value, first_seen, last_seen FROM seen ORDER BY kind, host, value")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Entry {
                    kind: r.get(0)?,
                    host: r.get(1)?,
                    value: r.get(2)?,
                    first_seen: r.get(3)?,
                    last_seen: r.get(4)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Number of completed runs recorded.
    pub fn runs(&self) -> Result<u64, StateError> {
        runs_in(&self.conn).map_err(self.err())
    }

    /// Sets aside entries of the run so far (a run's memory stays bounded): they go to a
    /// temporary table of this connection, merged there (earliest first, latest last), and
    /// [`StateStore::record`] takes them with its own. Nothing reaches the store before it: a
    /// failed run leaves the store as it was.
    pub fn spill(&mut self, entries: &[Entry]) -> Result<(), StateError> {
        let path = self.path.clone();
        let err = |source| StateError::Sqlite { path: path.clone(), source };
        self.conn
            .execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS spill (kind TEXT NOT NULL, host TEXT NOT NULL, value TEXT NOT NULL, \
                 first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, PRIMARY KEY (kind, host, value))",
            )
            .map_err(err)?;
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut upsert = tx.prepare_cached(SPILL_UPSERT).map_err(err)?;
            for e in entries {
                upsert.execute(params![e.kind, e.host, e.value, e.first_seen, e.last_seen]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        self.spilled = true;
        Ok(())
    }

    /// Records what a run saw (widening first/last times of known entries), then forgets entries
    /// whose last sighting is older than `retention_ms` before the newest sighting in the store.
    /// One transaction: a failed run leaves the store as it was.
    pub fn record(&mut self, entries: &[Entry], retention_ms: Option<i64>) -> Result<RecordReport, StateError> {
        let path = self.path.clone();
        let err = |source| StateError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(err)?;
        let mut report = RecordReport::default();
        {
            let mut select = tx
                .prepare_cached("SELECT first_seen, last_seen FROM seen WHERE kind = ?1 AND host = ?2 AND value = ?3")
                .map_err(err)?;
            let mut insert = tx
                .prepare_cached("INSERT INTO seen (kind, host, value, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(err)?;
            let mut update = tx
                .prepare_cached("UPDATE seen SET first_seen = ?4, last_seen = ?5 WHERE kind = ?1 AND host = ?2 AND value = ?3")
                .map_err(err)?;
            let mut apply = |e: &Entry| -> Result<(), StateError> {
                let known: Option<(i64, i64)> = select.query_row(params![e.kind, e.host, e.value], |r| Ok((r.get(0)?, r.get(1)?))).optional().map_err(err)?;
                match known {
                    None => {
                        insert.execute(params![e.kind, e.host, e.value, e.first_seen, e.last_seen]).map_err(err)?;
                        report.added += 1;
                    }
                    Some((first, last)) => {
                        let (f, l) = (first.min(e.first_seen), last.max(e.last_seen));
                        if (f, l) != (first, last) {
                            update.execute(params![e.kind, e.host, e.value, f, l]).map_err(err)?;
                            report.updated += 1;
                        }
                    }
                }
                Ok(())
            };
            if self.spilled {
                // What was set aside, merged with this batch there, then all of it applied.
                let mut upsert = tx.prepare_cached(SPILL_UPSERT).map_err(err)?;
                for e in entries {
                    upsert.execute(params![e.kind, e.host, e.value, e.first_seen, e.last_seen]).map_err(err)?;
                }
                let mut rows = tx
                    .prepare_cached("SELECT kind, host, value, first_seen, last_seen FROM temp.spill ORDER BY kind, host, value")
                    .map_err(err)?;
                let mut rows = rows.query([]).map_err(err)?;
                while let Some(r) = rows.next().map_err(err)? {
                    let e = Entry {
                        kind: r.get(0).map_err(err)?,
                        host: r.get(1).map_err(err)?,
                        value: r.get(2).map_err(err)?,
                        first_seen: r.get(3).map_err(err)?,
                        last_seen: r.get(4).map_err(err)?,
                    };
                    apply(&e)?;
                }
            } else {
                for e in entries {
                    apply(e)?;
                }
            }
        }
        if let Some(retention) = retention_ms {
            let newest: Option<i64> = tx.query_row("SELECT MAX(last_seen) FROM seen", [], |r| r.get(0)).map_err(err)?;
            if let Some(newest) = newest {
                report.pruned = tx
                    .execute("DELETE FROM seen WHERE last_seen < ?1", params![newest.saturating_sub(retention)])
                    .map_err(err)? as u64;
            }
        }
        let runs = runs_in(&tx).map_err(err)?;
        tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('runs', ?1)", params![(runs + 1).to_string()])
            .map_err(err)?;
        report.total = tx.query_row("SELECT COUNT(*) FROM seen", [], |r| r.get::<_, i64>(0)).map_err(err)? as u64;
        tx.commit().map_err(err)?;
        if self.spilled {
            self.conn.execute_batch("DROP TABLE IF EXISTS temp.spill").map_err(err)?;
            self.spilled = false;
        }
        Ok(report)
    }
}

/// Adds an entry to the spill table, widening the times of one already there.
const SPILL_UPSERT: &str = "INSERT INTO temp.spill (kind, host, value, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5) \
     ON CONFLICT (kind, host, value) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen), \
     last_seen = max(last_seen, excluded.last_seen)";

/// The number of completed runs in `meta` (0 before the first).
fn runs_in(conn: &Connection) -> rusqlite::Result<u64> {
    let v: Option<String> = conn.query_row("SELECT value FROM meta WHERE key = 'runs'", [], |r| r.get(0)).optional()?;
    Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &str, host: &str, value: &str, first: i64, last: i64) -> Entry {
        Entry {
            kind: kind.into(),
            host: host.into(),
            value: value.into(),
            first_seen: first,
            last_seen: last,
        }
    }

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dnshunt-state-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("sub").join("state.sqlite")
    }

    #[test]
    fn entries_set_aside_are_recorded_with_the_rest_and_only_then() {
        let run = |spill: bool| {
            let path = temp_path(if spill { "spill" } else { "no-spill" });
            let mut store = StateStore::open(&path).unwrap();
            store.record(&[entry("domain", "H1", "old.example", 5, 6)], None).unwrap();
            let first = [entry("domain", "H1", "a.example", 10, 20), entry("domain", "H1", "old.example", 1, 7)];
            let second = [entry("domain", "H1", "a.example", 5, 15), entry("domain", "H2", "b.example", 30, 30)];
            let report = if spill {
                store.spill(&first).unwrap();
                // Nothing reaches the store before `record`: a run that fails here leaves it.
                let other = StateStore::open(&path).unwrap();
                assert_eq!(other.load().unwrap().len(), 1);
                store.spill(&second[..1]).unwrap();
                store.record(&second[1..], None).unwrap()
            } else {
                let mut all = first.to_vec();
                all.extend(second.iter().cloned());
                // Without spilling a run gives each (kind, host, value) once, merged.
                all.sort();
                all.dedup_by(|b, a| {
                    let same = (&a.kind, &a.host, &a.value) == (&b.kind, &b.host, &b.value);
                    if same {
                        a.first_seen = a.first_seen.min(b.first_seen);
                        a.last_seen = a.last_seen.max(b.last_seen);
                    }
                    same
                });
                store.record(&all, None).unwrap()
            };
            (report, store.load().unwrap(), store.runs().unwrap())
        };
        let (spilled, spilled_rows, spilled_runs) = run(true);
        let (plain, plain_rows, plain_runs) = run(false);
        assert_eq!(spilled, plain);
        assert_eq!((spilled.added, spilled.updated, spilled.total), (2, 1, 3));
        assert_eq!(spilled_rows, plain_rows);
        assert_eq!(spilled_runs, plain_runs);
        let a = spilled_rows.iter().find(|e| e.value == "a.example").unwrap();
        assert_eq!((a.first_seen, a.last_seen), (5, 20));
        let old = spilled_rows.iter().find(|e| e.value == "old.example").unwrap();
        assert_eq!((old.first_seen, old.last_seen), (1, 7));
    }

    #[test]
    fn two_runs_learn_then_widen_and_prune() {
        let path = temp_path("two-runs");
        let day = 86_400_000;
        {
            let mut store = StateStore::open(&path).unwrap();
            assert!(store.load().unwrap().is_empty());
            assert_eq!(store.runs().unwrap(), 0);
            let r = store
                .record(
                    &[
                        entry("domain", "H1", "example.com", 10 * day, 11 * day),
                        entry("process", "H1", "explorer.exe", 10 * day, 10 * day),
                    ],
                    Some(30 * day),
                )
                .unwrap();
            assert_eq!((r.added, r.updated, r.pruned, r.total), (2, 0, 0, 2));
        }
        // Reopened: the first run's entries are there; a later run widens one and adds one.
        let mut store = StateStore::open(&path).unwrap();
        assert_eq!(store.runs().unwrap(), 1);
        assert_eq!(store.load().unwrap().len(), 2);
        let r = store
            .record(
                &[
                    entry("domain", "H1", "example.com", 12 * day, 12 * day),
                    entry("domain", "H1", "new.example", 50 * day, 50 * day),
                ],
                Some(39 * day),
            )
            .unwrap();
        // explorer.exe (last seen day 10) is older than 39 days before day 50: forgotten;
        // example.com (last seen day 12) is kept.
        assert_eq!((r.added, r.updated, r.pruned, r.total), (1, 1, 1, 2));
        let all = store.load().unwrap();
        assert_eq!(
            all,
            vec![
                entry("domain", "H1", "example.com", 10 * day, 12 * day),
                entry("domain", "H1", "new.example", 50 * day, 50 * day)
            ]
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn newer_schema_and_garbage_files_are_errors_not_panics() {
        let path = temp_path("garbage");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"this is not a database, just text that is long enough to matter").unwrap();
        assert!(StateStore::open(&path).is_err());
        let path2 = temp_path("newer");
        {
            let store = StateStore::open(&path2).unwrap();
            store.conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'", []).unwrap();
        }
        match StateStore::open(&path2) {
            Err(StateError::Version { found: 99, .. }) => {}
            other => panic!("{other:?}"),
        }
        for p in [path, path2] {
            let _ = std::fs::remove_dir_all(p.parent().unwrap().parent().unwrap());
        }
    }

    #[test]
    fn default_path_follows_xdg_then_home() {
        // Only checks the shape; the environment is the caller's.
        if let Some(p) = default_path() {
            assert!(p.ends_with("dnshunt/state.sqlite") || p.ends_with("dnshunt\\state.sqlite"), "{}", p.display());
        }
    }
}

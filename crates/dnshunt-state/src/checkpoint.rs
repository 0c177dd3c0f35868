//! Incremental reading of Elasticsearch/OpenSearch indices: where the last successful run
//! stopped, per (cluster, index pattern, query).
//!
//! A checkpoint is the newest `@timestamp` (ms) a run read plus the documents (`_index`,
//! `_id`) at exactly that time; the next run asks for `@timestamp >= newest` minus those
//! documents, so nothing is read twice and nothing at the boundary is lost. `generation` counts
//! how often the checkpoint advanced: writers use it to tell a retry of the same increment
//! from the next increment. The caller advances the checkpoint only after the run's findings
//! were written; a failed run leaves it as it was.
//!
//! The key's cluster is the URL without credentials; the query is its canonical JSON text.

use rusqlite::{params, OptionalExtension};

use crate::{StateError, StateStore};

/// Which reading a checkpoint belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckpointKey {
    /// Cluster URL without credentials.
    pub cluster: String,
    pub index_pattern: String,
    /// The user's query clause as canonical JSON (`""` for none).
    pub query: String,
}

/// Where a reading stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Newest `@timestamp` read, ms since the epoch.
    pub newest_ms: i64,
    /// Documents at exactly `newest_ms`: (`_index`, `_id`), sorted.
    pub ids: Vec<(String, String)>,
    /// 1 for the first checkpoint of a key, +1 at every advance.
    pub generation: u64,
}

/// The checkpoint tables, created when the store is opened.
pub(crate) const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS es_checkpoint (
         cluster TEXT NOT NULL,
         index_pattern TEXT NOT NULL,
         query TEXT NOT NULL,
         newest_ms INTEGER NOT NULL,
         generation INTEGER NOT NULL,
         PRIMARY KEY (cluster, index_pattern, query)
     ) WITHOUT ROWID;
     CREATE TABLE IF NOT EXISTS es_checkpoint_id (
         cluster TEXT NOT NULL,
         index_pattern TEXT NOT NULL,
         query TEXT NOT NULL,
         es_index TEXT NOT NULL,
         es_id TEXT NOT NULL,
         PRIMARY KEY (cluster, index_pattern, query, es_index, es_id)
     ) WITHOUT ROWID;";

impl StateStore {
    /// The checkpoint of `key`, if a run has saved one.
    pub fn checkpoint(&self, key: &CheckpointKey) -> Result<Option<Checkpoint>, StateError> {
        let head: Option<(i64, i64)> = self
            .conn
            .query_row(
                "SELECT newest_ms, generation FROM es_checkpoint WHERE cluster = ?1 AND index_pattern = ?2 AND query = ?3",
                params![key.cluster, key.index_pattern, key.query],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;
        let Some((newest_ms, generation)) = head else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare("SELECT es_index, es_id FROM es_checkpoint_id WHERE cluster = ?1 AND index_pattern = ?2 AND query = ?3 ORDER BY es_index, es_id")
            .map_err(self.err())?;
        let ids = stmt
            .query_map(params![key.cluster, key.index_pattern, key.query], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.err())?
            .collect::<Result<Vec<(String, String)>, _>>()
            .map_err(self.err())?;
        Ok(Some(Checkpoint {
            newest_ms,
            ids,
            generation: generation.max(0) as u64,
        }))
    }

    /// Replaces the checkpoint of `key` (one transaction: all or nothing).
    pub fn save_checkpoint(&mut self, key: &CheckpointKey, checkpoint: &Checkpoint) -> Result<(), StateError> {
        let path = self.path.clone();
        let err = |source| StateError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(
            "INSERT OR REPLACE INTO es_checkpoint (cluster, index_pattern, query, newest_ms, generation) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![key.cluster, key.index_pattern, key.query, checkpoint.newest_ms, checkpoint.generation as i64],
        )
        .map_err(err)?;
        tx.execute(
            "DELETE FROM es_checkpoint_id WHERE cluster = ?1 AND index_pattern = ?2 AND query = ?3",
            params![key.cluster, key.index_pattern, key.query],
        )
        .map_err(err)?;
        {
            let mut insert = tx
                .prepare("INSERT OR IGNORE INTO es_checkpoint_id (cluster, index_pattern, query, es_index, es_id) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(err)?;
            for (index, id) in &checkpoint.ids {
                insert.execute(params![key.cluster, key.index_pattern, key.query, index, id]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Forgets the checkpoint of `key` (`--from-start` does not need this: it overwrites).
    pub fn delete_checkpoint(&mut self, key: &CheckpointKey) -> Result<(), StateError> {
        for table in ["es_checkpoint", "es_checkpoint_id"] {
            self.conn
                .execute(
                    &format!("DELETE FROM {table} WHERE cluster = ?1 AND index_pattern = ?2 AND query = ?3"),
                    params![key.cluster, key.index_pattern, key.query],
                )
                .map_err(self.err())?;
        }
        Ok(())
    }
}

impl Checkpoint {
    /// The checkpoint after a run that read documents up to `newest_ms` (with `ids` at that
    /// time), continuing from `previous`. A run that read nothing keeps the previous point
    /// (with a new generation, so the next increment is told apart).
    pub fn advance(previous: Option<&Checkpoint>, newest_ms: Option<i64>, ids: &[(String, String)]) -> Checkpoint {
        let generation = previous.map_or(1, |p| p.generation + 1);
        let (newest_ms, mut ids) = match (previous, newest_ms) {
            (None, None) => (i64::MIN, Vec::new()),
            (Some(p), None) => (p.newest_ms, p.ids.clone()),
            (None, Some(t)) => (t, ids.to_vec()),
            (Some(p), Some(t)) if t > p.newest_ms => (t, ids.to_vec()),
            (Some(p), Some(t)) if t == p.newest_ms => (t, p.ids.iter().chain(ids).cloned().collect()),
            // Older than the previous point: cannot happen with the range filter; keep the point.
            (Some(p), Some(_)) => (p.newest_ms, p.ids.clone()),
        };
        ids.sort();
        ids.dedup();
        Checkpoint { newest_ms, ids, generation }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(q: &str) -> CheckpointKey {
        CheckpointKey {
            cluster: "http://127.0.0.1:9200".into(),
            index_pattern: "winlogbeat-*".into(),
            query: q.into(),
        }
    }

    #[test]
    fn checkpoints_round_trip_per_key() {
        let dir = std::env::temp_dir().join(format!("dnshunt-checkpoint-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("state.sqlite");
        {
            let mut store = StateStore::open(&path).unwrap();
            assert_eq!(store.checkpoint(&key("")).unwrap(), None);
            let first = Checkpoint::advance(None, Some(100), &[("i1".into(), "b".into()), ("i1".into(), "a".into())]);
            assert_eq!(first.generation, 1);
            assert_eq!(first.ids, vec![("i1".into(), "a".into()), ("i1".into(), "b".into())]);
            store.save_checkpoint(&key(""), &first).unwrap();
            store.save_checkpoint(&key("{\"term\":{}}"), &Checkpoint::advance(None, Some(5), &[])).unwrap();
        }
        let mut store = StateStore::open(&path).unwrap();
        let first = store.checkpoint(&key("")).unwrap().unwrap();
        assert_eq!((first.newest_ms, first.ids.len(), first.generation), (100, 2, 1));
        // Same time again: the ids at that time are merged; a later time replaces them.
        let same = Checkpoint::advance(Some(&first), Some(100), &[("i2".into(), "c".into())]);
        assert_eq!((same.ids.len(), same.generation), (3, 2));
        let later = Checkpoint::advance(Some(&same), Some(200), &[("i2".into(), "d".into())]);
        store.save_checkpoint(&key(""), &later).unwrap();
        let read = store.checkpoint(&key("")).unwrap().unwrap();
        assert_eq!(read, later);
        assert_eq!(read.ids, vec![("i2".into(), "d".into())]);
        let nothing_new = Checkpoint::advance(Some(&read), None, &[]);
        assert_eq!((nothing_new.newest_ms, nothing_new.ids.len(), nothing_new.generation), (200, 1, 4));
        assert_eq!(store.checkpoint(&key("{\"term\":{}}")).unwrap().unwrap().newest_ms, 5);
        store.delete_checkpoint(&key("")).unwrap();
        assert_eq!(store.checkpoint(&key("")).unwrap(), None);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! Daemon run records.

use super::{Store, StoreError};
use rusqlite::params;

#[derive(Debug, Clone, Copy)]
pub struct RunStart {
    pub id: i64,
    /// The run before this one never recorded its stop.
    pub previous_unclean: bool,
}

impl Store {
    pub fn begin_run(&self, pid: u32, version: &str, now: u64) -> Result<RunStart, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let previous_unclean = tx
            .query_row(
                "SELECT stopped_at IS NULL FROM daemon_runs ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get::<_, bool>(0),
            )
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(false),
                e => Err(e),
            })?;
        tx.execute(
            "INSERT INTO daemon_runs (pid, version, started_at) VALUES (?1, ?2, ?3)",
            params![pid, version, now as i64],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(RunStart {
            id,
            previous_unclean,
        })
    }

    pub fn end_run(&self, id: i64, now: u64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE daemon_runs SET stopped_at = ?1 WHERE id = ?2",
            params![now as i64, id],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unrecorded_stop_is_noticed_by_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let first = store.begin_run(10, "0.1.0", 100).unwrap();
        assert!(!first.previous_unclean);
        store.end_run(first.id, 200).unwrap();
        let second = store.begin_run(11, "0.1.0", 300).unwrap();
        assert!(!second.previous_unclean);
        // second never ends: a crash.
        let third = store.begin_run(12, "0.1.0", 400).unwrap();
        assert!(third.previous_unclean);
    }
}

//! The daemon's state: SQLite (WAL) with versioned migrations.
//!
//! Every multi-step change is one transaction. Callers hold the connection
//! only for short statements; nothing slow (I/O on artifacts, VMM calls)
//! happens while it is locked.

mod builds;
mod images;
mod kernels;
mod migrations;
mod runs;
mod sessions;
mod vms;
mod workspaces;
pub use builds::BuildRow;

pub use runs::RunStart;
pub use vms::VmRow;
pub use workspaces::WorkspaceRow;

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("opening database {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "database {} has schema version {found}, newer than this banger knows ({known}); upgrade banger",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error("applying database migration {version}")]
    Migrate {
        version: u32,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database query")]
    Query(#[from] rusqlite::Error),
    #[error("an image named `{0}` already exists")]
    ImageExists(String),
    #[error("a kernel named `{0}` already exists")]
    KernelExists(String),
    #[error("a VM named `{0}` already exists")]
    VmExists(String),
    #[error(
        "no free guest address in {pool} ({used} in use by VMs); delete a VM or widen bridge_ipcidr"
    )]
    NoFreeAddress { pool: String, used: usize },
    #[error("image `{image}` is used by VM(s) {vms}; delete them first")]
    ImageInUse { image: String, vms: String },
    #[error("kernel `{kernel}` is used by image(s) {images}")]
    KernelInUse { kernel: String, images: String },
}

#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        // WAL + NORMAL is durable across process crashes (our concern) and fast.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        migrations::apply(&mut conn, path)?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction half-done
        // (rusqlite rolls back on drop), so the connection is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_in_wal_mode_at_the_latest_schema() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let store = Store::open(&db).unwrap();
        assert_eq!(store.schema_version().unwrap(), migrations::latest());
        let mode: String = store
            .conn()
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(store);
        // Reopening applies nothing twice.
        assert_eq!(
            Store::open(&db).unwrap().schema_version().unwrap(),
            migrations::latest()
        );
    }

    #[test]
    fn refuses_a_database_from_a_newer_banger() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        Connection::open(&db)
            .unwrap()
            .pragma_update(None, "user_version", 999)
            .unwrap();
        let err = Store::open(&db).unwrap_err();
        assert!(
            matches!(err, StoreError::TooNew { found: 999, .. }),
            "{err}"
        );
    }
}

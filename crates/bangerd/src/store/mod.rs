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
pub use vms::{VmRow, Warm};
pub use workspaces::WorkspaceRow;

use crate::events::{Events, Topic};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

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
    /// Set around writes that are bookkeeping, not news (a VM's last
    /// activity): they publish no event, so a page that reads cannot
    /// cause the events that make it read again.
    quiet: Arc<AtomicBool>,
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
            quiet: Arc::default(),
        })
    }

    /// Every later write publishes its table's topic on `events`.
    pub fn publish_to(&self, events: Events) {
        let quiet = self.quiet.clone();
        self.conn()
            .update_hook(Some(
                move |_: rusqlite::hooks::Action, _: &str, table: &str, _: i64| {
                    if !quiet.load(Ordering::Relaxed)
                        && let Some(topic) = Topic::of_table(table)
                    {
                        events.publish(topic);
                    }
                },
            ))
            .expect("an update hook is accepted on an open connection");
    }

    /// Runs `f` on the connection without publishing its writes.
    fn quietly<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        let conn = self.conn();
        self.quiet.store(true, Ordering::Relaxed);
        let out = f(&conn);
        self.quiet.store(false, Ordering::Relaxed);
        out
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
    fn writes_publish_their_topic_bookkeeping_and_unchanged_rows_do_not() {
        use banger_api::session::{Session, SessionState};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let events = Events::default();
        let mut rx = events.subscribe();
        store.publish_to(events);
        {
            let conn = store.conn();
            conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
            conn.execute(
                "INSERT INTO vms (id, name, image_id, state, backend, vcpus, memory_mib, guest_cid, created_at) \
                 VALUES ('v1', 'one', 'i1', 'stopped', 'qemu', 1, 128, 3, 0)",
                [],
            )
            .unwrap();
        }
        assert_eq!(rx.try_recv().unwrap(), Topic::Vms);
        store.touch_vm("v1", 5).unwrap();
        assert!(rx.try_recv().is_err(), "touch is bookkeeping");
        let s = Session {
            vm: "one".into(),
            name: "s".into(),
            argv: vec!["true".into()],
            cwd: None,
            stdin_mode: Default::default(),
            pid: 7,
            state: SessionState::Running,
            started_at: 1,
            ended_at: None,
            exit_code: None,
            exit_signal: None,
            ended_by: None,
        };
        store.put_session("v1", &s, 1).unwrap();
        assert_eq!(rx.try_recv().unwrap(), Topic::Sessions);
        store.put_session("v1", &s, 2).unwrap();
        assert!(rx.try_recv().is_err(), "an unchanged session is no news");
    }

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

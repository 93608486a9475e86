//! Schema migrations, applied in order; `PRAGMA user_version` records the
//! last one applied. Never edit a released migration: append a new one.

use super::StoreError;
use rusqlite::Connection;
use std::path::Path;

const MIGRATIONS: &[&str] = &[
    // 1: daemon runs, so a start can tell whether the previous run ended
    //    cleanly and report (and later recover) what a crash interrupted.
    "CREATE TABLE daemon_runs (
        id          INTEGER PRIMARY KEY,
        pid         INTEGER NOT NULL,
        version     TEXT    NOT NULL,
        started_at  INTEGER NOT NULL,
        stopped_at  INTEGER
    );",
    // 2: the kernel store and images. An image names either kernel files or
    //    a stored kernel; RESTRICT refuses deleting a kernel an image uses.
    "CREATE TABLE kernels (
        name        TEXT PRIMARY KEY,
        version     TEXT    NOT NULL,
        arch        TEXT    NOT NULL,
        source      TEXT    NOT NULL,
        files       TEXT    NOT NULL,  -- JSON [KernelFile]
        created_at  INTEGER NOT NULL
    );
    CREATE TABLE images (
        id          TEXT PRIMARY KEY,
        name        TEXT    NOT NULL UNIQUE,
        managed     INTEGER NOT NULL DEFAULT 0,
        rootfs      TEXT    NOT NULL,
        work_seed   TEXT,
        kernel      TEXT,
        initrd      TEXT,
        modules     TEXT,
        kernel_ref  TEXT REFERENCES kernels(name) ON DELETE RESTRICT,
        created_at  INTEGER NOT NULL,
        CHECK ((kernel IS NULL) <> (kernel_ref IS NULL))
    );",
    // 3: VMs. RESTRICT keeps an image from being deleted under a VM; the
    //    guest CID is unique so two VMs never share a vsock address.
    "CREATE TABLE vms (
        id            TEXT PRIMARY KEY,
        name          TEXT    NOT NULL UNIQUE,
        image_id      TEXT    NOT NULL REFERENCES images(id) ON DELETE RESTRICT,
        state         TEXT    NOT NULL,
        backend       TEXT    NOT NULL,
        vcpus         INTEGER NOT NULL,
        memory_mib    INTEGER NOT NULL,
        guest_cid     INTEGER NOT NULL UNIQUE,
        vmm_pid       INTEGER,
        helper_pid    INTEGER,
        last_error    TEXT,
        created_at    INTEGER NOT NULL,
        started_at    INTEGER
    );",
    // 4: networking. A VM keeps its address from create to delete (deleting
    //    the row frees it); its TAP only while it runs. Partial unique
    //    indexes: no two VMs share an address or a TAP. host_keys are the
    //    guest's SSH host keys (known_hosts lines without the host part).
    "ALTER TABLE vms ADD COLUMN ip TEXT;
    ALTER TABLE vms ADD COLUMN tap TEXT;
    ALTER TABLE vms ADD COLUMN host_keys TEXT;
    CREATE UNIQUE INDEX vms_ip ON vms(ip) WHERE ip IS NOT NULL;
    CREATE UNIQUE INDEX vms_tap ON vms(tap) WHERE tap IS NOT NULL;",
    // 5: when a VM was last used (ssh connection seen, agent used for the
    //    user), for auto_stop_stale_after; kept across daemon restarts.
    "ALTER TABLE vms ADD COLUMN last_activity INTEGER;",
    // 6: workspaces prepared in VMs: where from, and the host commit the
    //    guest checkout started at (what `workspace export` diffs against).
    "CREATE TABLE workspaces (
        vm_id       TEXT    NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
        guest_path  TEXT    NOT NULL,
        host_path   TEXT    NOT NULL,
        mode        TEXT    NOT NULL,
        base        TEXT    NOT NULL,
        readonly    INTEGER NOT NULL,
        prepared_at INTEGER NOT NULL,
        PRIMARY KEY (vm_id, guest_path)
    );",
    // 7: the catalogue of guest sessions, as last seen from the agent (which
    //    owns them); they go with their VM.
    "CREATE TABLE sessions (
        vm_id      TEXT    NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
        name       TEXT    NOT NULL,
        info       TEXT    NOT NULL,  -- JSON banger_api::session::Session
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (vm_id, name)
    );",
    // 8: where a pulled image came from (`REF@sha256:...`); NULL for
    //    registered images.
    "ALTER TABLE images ADD COLUMN source TEXT;",
    // 9: how a built image was made (JSON banger_api::image::BuildInfo),
    //    and the builds under way: what a daemon killed mid-build leaves
    //    behind (its build VM, its staging directory) is found here and
    //    removed at the next start.
    "ALTER TABLE images ADD COLUMN build TEXT;
    CREATE TABLE image_builds (
        name        TEXT PRIMARY KEY,
        vm_name     TEXT    NOT NULL,
        staging     TEXT    NOT NULL,
        started_at  INTEGER NOT NULL
    );",
    // 10: each VM's own password for its guest opencode service, made at
    //    create (a re-created VM gets a new one). Not one of the columns a
    //    VM is read with: only `Store::opencode_secret` reads it.
    "ALTER TABLE vms ADD COLUMN opencode_secret TEXT;",
    // 11: warm-pool VMs (vm/pool.rs): 'booting' or 'ready' until a create
    //    claims one (NULL from then on, as for every VM made for a user).
    "ALTER TABLE vms ADD COLUMN warm TEXT;",
];

pub fn latest() -> u32 {
    MIGRATIONS.len() as u32
}

pub fn apply(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let current: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > latest() {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: current,
            known: latest(),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as u32 + 1;
        let step = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", version)?;
            tx.commit()
        };
        step(conn).map_err(|source| StoreError::Migrate { version, source })?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}

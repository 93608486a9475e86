//! Workspace records (one per VM and guest path; they go with the VM).

use super::{Store, StoreError};
use rusqlite::{OptionalExtension, params};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceRow {
    pub vm_id: String,
    pub guest_path: String,
    pub host_path: String,
    pub mode: String,
    pub base: String,
    pub readonly: bool,
    pub prepared_at: u64,
}

impl Store {
    /// Records a workspace, replacing an earlier one at the same path.
    pub fn put_workspace(&self, w: &WorkspaceRow) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO workspaces (vm_id, guest_path, host_path, mode, base, readonly, prepared_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![w.vm_id, w.guest_path, w.host_path, w.mode, w.base, w.readonly, w.prepared_at as i64],
        )?;
        Ok(())
    }

    pub fn workspace(
        &self,
        vm_id: &str,
        guest_path: &str,
    ) -> Result<Option<WorkspaceRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM workspaces WHERE vm_id = ?1 AND guest_path = ?2"),
                params![vm_id, guest_path],
                from_row,
            )
            .optional()?)
    }

    /// A VM's workspaces, by guest path.
    pub fn workspaces(&self, vm_id: &str) -> Result<Vec<WorkspaceRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM workspaces WHERE vm_id = ?1 ORDER BY guest_path"
        ))?;
        let rows = stmt
            .query_map([vm_id], from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

const COLUMNS: &str = "vm_id, guest_path, host_path, mode, base, readonly, prepared_at";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<WorkspaceRow> {
    Ok(WorkspaceRow {
        vm_id: r.get(0)?,
        guest_path: r.get(1)?,
        host_path: r.get(2)?,
        mode: r.get(3)?,
        base: r.get(4)?,
        readonly: r.get(5)?,
        prepared_at: r.get::<_, i64>(6)? as u64,
    })
}

//! Kernel store records.

use super::{Store, StoreError};
use banger_api::kernel::{Kernel, KernelFile};
use rusqlite::{OptionalExtension, Row, params};

fn from_row(r: &Row<'_>, dir: &dyn Fn(&str) -> String) -> rusqlite::Result<Kernel> {
    let name: String = r.get(0)?;
    let files: String = r.get(4)?;
    Ok(Kernel {
        dir: dir(&name),
        version: r.get(1)?,
        arch: r.get(2)?,
        source: r.get(3)?,
        files: serde_json::from_str::<Vec<KernelFile>>(&files).unwrap_or_default(),
        created_at: r.get::<_, i64>(5)? as u64,
        name,
    })
}

impl Store {
    pub fn insert_kernel(&self, k: &Kernel) -> Result<(), StoreError> {
        let files = serde_json::to_string(&k.files).expect("kernel files serialize");
        self.conn()
            .execute(
                "INSERT INTO kernels (name, version, arch, source, files, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![k.name, k.version, k.arch, k.source, files, k.created_at as i64],
            )
            .map_err(|e| match &e {
                rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                    StoreError::KernelExists(k.name.clone())
                }
                _ => e.into(),
            })?;
        Ok(())
    }

    pub fn kernel(
        &self,
        name: &str,
        dir: &dyn Fn(&str) -> String,
    ) -> Result<Option<Kernel>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT name, version, arch, source, files, created_at FROM kernels WHERE name = ?1",
                [name],
                |r| from_row(r, dir),
            )
            .optional()?)
    }

    pub fn kernels(&self, dir: &dyn Fn(&str) -> String) -> Result<Vec<Kernel>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT name, version, arch, source, files, created_at FROM kernels ORDER BY name",
        )?;
        let rows = stmt
            .query_map([], |r| from_row(r, dir))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Deletes the record unless an image still references the kernel.
    pub fn delete_kernel(&self, name: &str) -> Result<(), StoreError> {
        let conn = self.conn();
        let users: Vec<String> = conn
            .prepare("SELECT name FROM images WHERE kernel_ref = ?1 ORDER BY name")?
            .query_map([name], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if !users.is_empty() {
            return Err(StoreError::KernelInUse {
                kernel: name.to_owned(),
                images: users.join(", "),
            });
        }
        conn.execute("DELETE FROM kernels WHERE name = ?1", [name])?;
        Ok(())
    }
}

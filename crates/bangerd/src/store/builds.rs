//! Image builds under way (see `build`): recorded before a build makes
//! anything, removed when it has cleaned up or published, so what a killed
//! daemon left is known at its next start.

use super::{Store, StoreError};
use rusqlite::params;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRow {
    /// The image being built.
    pub name: String,
    /// Its build VM.
    pub vm_name: String,
    /// Its staging directory (the image's files before they are published).
    pub staging: String,
    pub started_at: u64,
}

impl Store {
    /// Records a build; `ImageExists` when one of that name is under way.
    pub fn begin_build(&self, b: &BuildRow) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO image_builds (name, vm_name, staging, started_at) VALUES (?1, ?2, ?3, ?4)",
                params![b.name, b.vm_name, b.staging, b.started_at as i64],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    StoreError::ImageExists(b.name.clone())
                }
                e => e.into(),
            })?;
        Ok(())
    }

    pub fn end_build(&self, name: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM image_builds WHERE name = ?1", [name])?;
        Ok(())
    }

    pub fn builds(&self) -> Result<Vec<BuildRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT name, vm_name, staging, started_at FROM image_builds ORDER BY name")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(BuildRow {
                    name: r.get(0)?,
                    vm_name: r.get(1)?,
                    staging: r.get(2)?,
                    started_at: r.get::<_, i64>(3)? as u64,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

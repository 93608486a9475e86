//! Image records.

use super::{Store, StoreError};
use banger_api::image::Image;
use rusqlite::{OptionalExtension, Row, params};

const COLUMNS: &str = "id, name, managed, rootfs, work_seed, kernel, initrd, modules, kernel_ref, created_at, source, build";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Image> {
    Ok(Image {
        id: r.get(0)?,
        name: r.get(1)?,
        managed: r.get(2)?,
        rootfs: r.get(3)?,
        work_seed: r.get(4)?,
        kernel: r.get(5)?,
        initrd: r.get(6)?,
        modules: r.get(7)?,
        kernel_ref: r.get(8)?,
        created_at: r.get::<_, i64>(9)? as u64,
        source: r.get(10)?,
        build: r
            .get::<_, Option<String>>(11)?
            .and_then(|j| serde_json::from_str(&j).ok()),
        // Filled by the caller from the file system.
        rootfs_bytes: 0,
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

impl Store {
    pub fn insert_image(&self, i: &Image) -> Result<(), StoreError> {
        self.conn()
            .execute(
                &format!("INSERT INTO images ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
                params![
                    i.id, i.name, i.managed, i.rootfs, i.work_seed, i.kernel, i.initrd, i.modules, i.kernel_ref,
                    i.created_at as i64, i.source,
                    i.build.as_ref().map(|b| serde_json::to_string(b).expect("serializable"))
                ],
            )
            .map_err(|e| if is_unique_violation(&e) { StoreError::ImageExists(i.name.clone()) } else { e.into() })?;
        Ok(())
    }

    pub fn image(&self, name: &str) -> Result<Option<Image>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM images WHERE name = ?1"),
                [name],
                from_row,
            )
            .optional()?)
    }

    pub fn image_by_id(&self, id: &str) -> Result<Option<Image>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM images WHERE id = ?1"),
                [id],
                from_row,
            )
            .optional()?)
    }

    pub fn images(&self) -> Result<Vec<Image>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM images ORDER BY name"))?;
        let rows = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Points a record at its managed copies, in one statement: either the
    /// image is still exactly as it was, or wholly managed.
    pub fn mark_image_managed(&self, i: &Image) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE images SET managed = 1, rootfs = ?2, work_seed = ?3, kernel = ?4, initrd = ?5, modules = ?6
             WHERE id = ?1",
            params![i.id, i.rootfs, i.work_seed, i.kernel, i.initrd, i.modules],
        )?;
        Ok(())
    }

    /// Deletes the record unless a VM was made from the image.
    pub fn delete_image(&self, id: &str) -> Result<(), StoreError> {
        let conn = self.conn();
        let users: Vec<String> = conn
            .prepare("SELECT name FROM vms WHERE image_id = ?1 ORDER BY name")?
            .query_map([id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if !users.is_empty() {
            let image: String =
                conn.query_row("SELECT name FROM images WHERE id = ?1", [id], |r| r.get(0))?;
            return Err(StoreError::ImageInUse {
                image,
                vms: users.join(", "),
            });
        }
        conn.execute("DELETE FROM images WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Ids of managed images, for start-up cleanup of artifact directories.
    pub fn managed_image_ids(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id FROM images WHERE managed = 1")?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }
}

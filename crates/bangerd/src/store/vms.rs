//! VM records.

use super::{Store, StoreError};
use banger_api::vm::VmState;
use rusqlite::{OptionalExtension, Row, params};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmRow {
    pub id: String,
    pub name: String,
    pub image_id: String,
    pub state: VmState,
    pub backend: String,
    pub vcpus: u32,
    pub memory_mib: u32,
    pub guest_cid: u32,
    /// The VMM process (qemu or firecracker) while running.
    pub vmm_pid: Option<u32>,
    /// The helper process (vhost-device-vsock) while running.
    pub helper_pid: Option<u32>,
    pub last_error: Option<String>,
    pub created_at: u64,
    pub started_at: Option<u64>,
    /// The guest's address, held from create to delete.
    pub ip: Option<String>,
    /// The TAP device, while running.
    pub tap: Option<String>,
    /// The guest's SSH host public keys (`type base64` lines).
    pub host_keys: Option<String>,
    /// When the VM was last used (unix seconds).
    pub last_activity: Option<u64>,
    /// A warm-pool VM not yet claimed (`None`: a user's VM).
    pub warm: Option<Warm>,
}

/// Where a warm-pool VM is: booting, or ready to be claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warm {
    Booting,
    Ready,
}

impl Warm {
    pub fn as_str(self) -> &'static str {
        match self {
            Warm::Booting => "booting",
            Warm::Ready => "ready",
        }
    }

    fn parse(s: &str) -> Warm {
        // Anything else is treated as not ready: never claimed.
        if s == "ready" {
            Warm::Ready
        } else {
            Warm::Booting
        }
    }
}

const COLUMNS: &str = "id, name, image_id, state, backend, vcpus, memory_mib, guest_cid, vmm_pid, helper_pid, last_error, created_at, started_at, ip, tap, host_keys, last_activity, warm";

fn from_row(r: &Row<'_>) -> rusqlite::Result<VmRow> {
    let state: String = r.get(3)?;
    Ok(VmRow {
        id: r.get(0)?,
        name: r.get(1)?,
        image_id: r.get(2)?,
        state: VmState::parse(&state).unwrap_or(VmState::Crashed),
        backend: r.get(4)?,
        vcpus: r.get(5)?,
        memory_mib: r.get(6)?,
        guest_cid: r.get(7)?,
        vmm_pid: r.get(8)?,
        helper_pid: r.get(9)?,
        last_error: r.get(10)?,
        created_at: r.get::<_, i64>(11)? as u64,
        started_at: r.get::<_, Option<i64>>(12)?.map(|t| t as u64),
        ip: r.get(13)?,
        tap: r.get(14)?,
        host_keys: r.get(15)?,
        last_activity: r.get::<_, Option<i64>>(16)?.map(|t| t as u64),
        warm: r.get::<_, Option<String>>(17)?.map(|w| Warm::parse(&w)),
    })
}

impl Store {
    /// Records a new VM with the lowest free guest CID (3 and up; 0-2 are
    /// reserved by vsock) and the first free address of `addresses` (the
    /// pool described as `pool`), in one transaction so two creates cannot
    /// collide.
    pub fn insert_vm(
        &self,
        vm: &mut VmRow,
        addresses: impl IntoIterator<Item = String>,
        pool: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let used: Vec<u32> = tx
            .prepare("SELECT guest_cid FROM vms ORDER BY guest_cid")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        vm.guest_cid = (3..).find(|c| !used.contains(c)).expect("a free CID");
        let held: Vec<String> = tx
            .prepare("SELECT ip FROM vms WHERE ip IS NOT NULL")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        vm.ip = Some(
            addresses
                .into_iter()
                .find(|a| !held.contains(a))
                .ok_or_else(|| StoreError::NoFreeAddress {
                    pool: pool.to_owned(),
                    used: held.len(),
                })?,
        );
        tx.execute(
            &format!("INSERT INTO vms ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"),
            params![
                vm.id, vm.name, vm.image_id, vm.state.as_str(), vm.backend, vm.vcpus, vm.memory_mib, vm.guest_cid,
                vm.vmm_pid, vm.helper_pid, vm.last_error, vm.created_at as i64, vm.started_at.map(|t| t as i64),
                vm.ip, vm.tap, vm.host_keys, vm.last_activity.map(|t| t as i64), vm.warm.map(Warm::as_str)
            ],
        )
        .map_err(|e| match &e {
            rusqlite::Error::SqliteFailure(f, Some(msg)) if f.code == rusqlite::ErrorCode::ConstraintViolation && msg.contains("vms.name") => {
                StoreError::VmExists(vm.name.clone())
            }
            _ => e.into(),
        })?;
        tx.commit()?;
        Ok(())
    }

    pub fn vm(&self, name: &str) -> Result<Option<VmRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM vms WHERE name = ?1"),
                [name],
                from_row,
            )
            .optional()?)
    }

    pub fn vms(&self) -> Result<Vec<VmRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM vms ORDER BY name"))?;
        let rows = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Records the run state of a VM (state, processes, error, start time).
    pub fn update_vm_run(&self, vm: &VmRow) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE vms SET state = ?2, backend = ?3, vmm_pid = ?4, helper_pid = ?5, last_error = ?6, started_at = ?7, tap = ?8, host_keys = ?9 WHERE id = ?1",
            params![
                vm.id, vm.state.as_str(), vm.backend, vm.vmm_pid, vm.helper_pid, vm.last_error, vm.started_at.map(|t| t as i64),
                vm.tap, vm.host_keys
            ],
        )?;
        Ok(())
    }

    /// Records that a VM was used now.
    pub fn touch_vm(&self, id: &str, now: u64) -> Result<(), StoreError> {
        self.quietly(|conn| {
            conn.execute(
                "UPDATE vms SET last_activity = ?2 WHERE id = ?1",
                params![id, now as i64],
            )
        })?;
        Ok(())
    }

    /// TAP devices recorded against VMs (only running VMs hold one).
    pub fn taps_in_use(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT tap FROM vms WHERE tap IS NOT NULL")?;
        let rows = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Records the password of the VM's guest opencode service.
    pub fn set_opencode_secret(&self, id: &str, secret: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE vms SET opencode_secret = ?2 WHERE id = ?1",
            params![id, secret],
        )?;
        Ok(())
    }

    /// The VM's opencode password; `None` for a VM created before banger
    /// made one (its opencode serves without a password).
    pub fn opencode_secret(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT opencode_secret FROM vms WHERE id = ?1", [id], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()?
            .flatten())
    }

    /// Marks a warm-pool VM booting or ready.
    pub fn set_warm(&self, id: &str, warm: Warm) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE vms SET warm = ?2 WHERE id = ?1 AND warm IS NOT NULL",
            params![id, warm.as_str()],
        )?;
        Ok(())
    }

    /// Takes warm VM `id` out of the pool's hands for removal (ready ones
    /// only, or any): after this no claim can win it, and a VM a claim won
    /// first is not taken (`false`).
    pub fn take_warm(&self, id: &str, only_ready: bool) -> Result<bool, StoreError> {
        let sql = if only_ready {
            "UPDATE vms SET warm = 'booting' WHERE id = ?1 AND warm = 'ready'"
        } else {
            "UPDATE vms SET warm = 'booting' WHERE id = ?1 AND warm IS NOT NULL"
        };
        Ok(self.conn().execute(sql, params![id])? == 1)
    }

    /// Takes the ready warm VM `id` for a user under `name`: one statement,
    /// so of two claims of one VM a single one wins (`false` for the other,
    /// and for a VM that stopped being ready meanwhile).
    pub fn claim_warm(&self, id: &str, name: &str, now: u64) -> Result<bool, StoreError> {
        let changed = self
            .conn()
            .execute(
                "UPDATE vms SET name = ?2, warm = NULL, last_activity = ?3 WHERE id = ?1 AND warm = 'ready' AND state = 'running'",
                params![id, name, now as i64],
            )
            .map_err(|e| match &e {
                rusqlite::Error::SqliteFailure(f, Some(msg))
                    if f.code == rusqlite::ErrorCode::ConstraintViolation
                        && msg.contains("vms.name") =>
                {
                    StoreError::VmExists(name.to_owned())
                }
                _ => e.into(),
            })?;
        Ok(changed == 1)
    }

    pub fn delete_vm(&self, id: &str) -> Result<(), StoreError> {
        self.conn().execute("DELETE FROM vms WHERE id = ?1", [id])?;
        Ok(())
    }
}

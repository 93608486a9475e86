//! The session catalogue (the agent in the guest owns the sessions).

use super::{Store, StoreError};
use banger_api::session::{Session, SessionState};
use rusqlite::params;

impl Store {
    pub fn put_session(&self, vm_id: &str, s: &Session, now: u64) -> Result<(), StoreError> {
        self.conn().execute(
            // An unchanged session is not written: no event, no refetch.
            "INSERT INTO sessions (vm_id, name, info, updated_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (vm_id, name) DO UPDATE SET info = excluded.info, updated_at = excluded.updated_at \
             WHERE info IS NOT excluded.info",
            params![vm_id, s.name, serde_json::to_string(s).expect("serializable"), now as i64],
        )?;
        Ok(())
    }

    pub fn sessions(&self, vm_id: &str) -> Result<Vec<Session>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT info FROM sessions WHERE vm_id = ?1 ORDER BY name")?;
        let rows = stmt
            .query_map([vm_id], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|j| serde_json::from_str(&j).ok())
            .collect())
    }

    /// Sessions still recorded as running end with their VM.
    pub fn end_sessions(&self, vm_id: &str, now: u64) -> Result<(), StoreError> {
        for mut s in self.sessions(vm_id)? {
            if s.state == SessionState::Running {
                s.state = SessionState::VmStopped;
                s.ended_at = Some(now);
                self.put_session(vm_id, &s, now)?;
            }
        }
        Ok(())
    }
}

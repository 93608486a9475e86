//! The wall clock, in the one unit the store records (seconds since the
//! Unix epoch). A module of its own so domain code need not reach into
//! `server` for the time.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

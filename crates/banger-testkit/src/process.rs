//! Processes a test started or must see end.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// Running: existing, and not a finished zombie waiting for a slow init.
pub fn alive(pid: i32) -> bool {
    banger_config::process::is_running(pid as u32)
}

pub fn kill(pid: i32, signal: i32) {
    // SAFETY: plain kill(2) on a pid this test started.
    unsafe { libc::kill(pid, signal) };
}

pub fn wait_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(Instant::now() < deadline, "pid {pid} did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Child processes killed when the test ends, however it ends.
#[derive(Debug)]
pub struct Procs(pub Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits until `path` exists, or panics after `timeout`.
pub fn wait_for_file(path: &Path, timeout: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < timeout,
            "{} did not appear within {timeout:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

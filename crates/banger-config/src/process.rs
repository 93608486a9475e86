//! Whether a process is still running, as the CLI (waiting for a stopped
//! daemon) and the daemon (watching VMMs) must both judge it.
//!
//! A zombie has finished, but only once all its threads have: when a
//! multi-threaded process is killed, its main thread can be a zombie while
//! the others are still exiting, and until the last one is gone its file
//! descriptors (a listening socket, a disk image) are still open.

/// True while `pid` exists and has not completely finished.
pub fn is_running(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let state = field("State:");
    let threads: u32 = field("Threads:").parse().unwrap_or(1);
    let finished = (state.starts_with('Z') || state.starts_with('X')) && threads <= 1;
    !finished
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reaped_or_absent_process_is_not_running() {
        assert!(is_running(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Not yet reaped: a zombie, finished.
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(!is_running(pid));
        child.wait().unwrap();
        assert!(!is_running(pid));
    }
}

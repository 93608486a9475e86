//! VMM processes: started detached (their own session), so a daemon that
//! stops or dies does not take running VMs with it; recognised again after
//! a daemon restart by their command line naming the VM's directory (a
//! recycled pid belongs to some other program and does not match).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `program args`, output appended to `log`, in a new session.
pub fn spawn_detached(
    program: &Path,
    args: &[std::ffi::OsString],
    log: &Path,
) -> std::io::Result<u32> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    // rust-vmm helpers (vhost-device-vsock) log their warnings only when asked.
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "warn");
    }
    // SAFETY: setsid() is async-signal-safe and touches no parent memory.
    unsafe {
        cmd.pre_exec(|| rustix::process::setsid().map(drop).map_err(Into::into));
    }
    let mut child = cmd.spawn()?;
    let pid = child.id();
    // Reap it when it exits, so it does not linger as a zombie of the daemon.
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(pid)
}

/// Running (not a zombie) and started for this VM.
pub fn is_ours(pid: u32, vm_dir: &Path) -> bool {
    let running = banger_config::process::is_running(pid);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let needle = vm_dir.as_os_str().as_encoded_bytes();
    running && cmdline.windows(needle.len().max(1)).any(|w| w == needle)
}

/// Every process started for this VM, found by its command line: what a
/// boot cut off before its pids were recorded leaves running.
pub fn all_for(vm_dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != std::process::id() && is_ours(*pid, vm_dir))
        .collect()
}

/// SIGTERM, then SIGKILL after `grace`; returns once the process is gone.
pub fn terminate(pid: u32, vm_dir: &Path, grace: Duration) {
    if !is_ours(pid, vm_dir) {
        return;
    }
    signal(pid, rustix::process::Signal::TERM);
    if wait_gone(pid, vm_dir, grace) {
        return;
    }
    signal(pid, rustix::process::Signal::KILL);
    wait_gone(pid, vm_dir, Duration::from_secs(5));
}

pub fn wait_gone(pid: u32, vm_dir: &Path, timeout: Duration) -> bool {
    let start = Instant::now();
    while is_ours(pid, vm_dir) {
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

fn signal(pid: u32, sig: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detached_processes_are_recognised_and_terminated() {
        let dir = tempfile::tempdir().unwrap();
        let vm_dir = dir.path().join("vm-abc");
        std::fs::create_dir(&vm_dir).unwrap();
        let log = vm_dir.join("vmm.log");
        // The VM dir appears in the command line, as it does for qemu.
        let args: Vec<std::ffi::OsString> = vec![
            "-c".into(),
            "echo started; sleep 30".into(),
            vm_dir.clone().into(),
        ];
        let pid = spawn_detached(Path::new("/bin/sh"), &args, &log).unwrap();
        assert!(is_ours(pid, &vm_dir));
        assert!(
            !is_ours(pid, &dir.path().join("vm-other")),
            "another VM's dir does not match"
        );
        assert!(!is_ours(std::process::id(), &vm_dir));
        // Its output goes to the log (wait for it: the shell may not have run yet).
        let start = Instant::now();
        while !std::fs::read_to_string(&log).unwrap().contains("started") {
            assert!(start.elapsed() < Duration::from_secs(10), "nothing logged");
            std::thread::sleep(Duration::from_millis(10));
        }
        terminate(pid, &vm_dir, Duration::from_secs(5));
        assert!(!is_ours(pid, &vm_dir));
    }
}

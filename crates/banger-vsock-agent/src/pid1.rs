//! As the init of an image that has none (container images such as
//! `debian:bookworm` from Docker Hub, where `image pull` links `/sbin/init`
//! to this binary). Pid 1 stays small: it sets up the kernel filesystems,
//! remounts `/` read-write, mounts what `/etc/fstab` names (the work disk
//! on `/root`), starts the agent (`serve`, restarted if it dies) and the
//! boot services (sshd, or the first-boot sshd install) as child processes,
//! and reaps every process that ends. The agent and its commands are not
//! pid 1's children, so reaping with `waitpid(-1)` never steals an exit
//! status the agent waits for.

use crate::init::mount;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use banger_agent_proto::{INSTALL_SSHD, INSTALL_SSHD_LOG as INSTALL_LOG};

pub fn run() -> ! {
    // SAFETY: still single-threaded; nothing reads the environment concurrently.
    unsafe {
        std::env::set_var(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
        std::env::set_var("HOME", "/root");
    }
    say!("no init in this image: banger-vsock-agent is pid 1");
    filesystems();
    let exe = std::env::current_exe().unwrap_or_else(|_| "/sbin/init".into());
    let mut agent = spawn(&exe, "serve");
    spawn(&exe, "boot-services");
    loop {
        let mut status = 0;
        // SAFETY: waitpid(2) with a valid pointer to a local.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid < 0 {
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        if Some(pid as u32) == agent {
            say!("the agent exited; restarting it");
            std::thread::sleep(Duration::from_secs(1));
            agent = spawn(&exe, "serve");
        }
    }
}

fn spawn(exe: &Path, mode: &str) -> Option<u32> {
    match Command::new(exe).arg(mode).stdin(Stdio::null()).spawn() {
        // Reaped by the loop in run(), not through the handle.
        Ok(child) => Some(child.id()),
        Err(e) => {
            say!("starting {} {mode}: {e}", exe.display());
            None
        }
    }
}

fn filesystems() {
    let tries: [(&str, &str, &str, libc::c_ulong, Option<&str>); 6] = [
        ("proc", "/proc", "proc", 0, None),
        ("sysfs", "/sys", "sysfs", 0, None),
        ("devtmpfs", "/dev", "devtmpfs", 0, None),
        (
            "devpts",
            "/dev/pts",
            "devpts",
            0,
            Some("gid=5,mode=620,ptmxmode=666"),
        ),
        (
            "tmpfs",
            "/dev/shm",
            "tmpfs",
            libc::MS_NOSUID | libc::MS_NODEV,
            None,
        ),
        (
            "tmpfs",
            "/run",
            "tmpfs",
            libc::MS_NOSUID | libc::MS_NODEV,
            Some("mode=755"),
        ),
    ];
    for (src, dir, fstype, flags, data) in tries {
        let _ = std::fs::create_dir_all(dir);
        // EBUSY: the initrd moved /dev, /proc and /sys here already.
        if let Err(e) = mount(Some(src), dir, Some(fstype), flags, data)
            && e.raw_os_error() != Some(libc::EBUSY)
        {
            say!("mounting {dir}: {e}");
        }
    }
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ] {
        if std::fs::symlink_metadata(link).is_err() {
            let _ = std::os::unix::fs::symlink(target, link);
        }
    }
    if let Err(e) = mount(None, "/", None, libc::MS_REMOUNT, None) {
        say!("remounting / read-write: {e}");
    }
    let _ = std::fs::create_dir_all("/tmp");
    fstab();
}

/// Mounts the block-device lines of /etc/fstab (banger's own is the work
/// disk on /root); options beyond the common flags go to the filesystem.
fn fstab() {
    let Ok(text) = std::fs::read_to_string("/etc/fstab") else {
        return;
    };
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 3 || f[0].starts_with('#') || f[1] == "/" || !f[0].starts_with("/dev/") {
            continue;
        }
        let (dev, dir, fstype) = (f[0], f[1], f[2]);
        let opts: Vec<&str> = f.get(3).map_or(vec![], |o| o.split(',').collect());
        if opts.contains(&"noauto") {
            continue;
        }
        let mut flags = 0;
        let mut data = Vec::new();
        for o in &opts {
            match *o {
                "ro" => flags |= libc::MS_RDONLY,
                "noatime" => flags |= libc::MS_NOATIME,
                "nosuid" => flags |= libc::MS_NOSUID,
                "nodev" => flags |= libc::MS_NODEV,
                "noexec" => flags |= libc::MS_NOEXEC,
                "defaults" | "rw" | "nofail" | "auto" => {}
                other => data.push(other),
            }
        }
        // Disks appear in devtmpfs a moment after boot.
        for _ in 0..50 {
            if Path::new(dev).exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = std::fs::create_dir_all(dir);
        let data = data.join(",");
        let data = (!data.is_empty()).then_some(data.as_str());
        match mount(Some(dev), dir, Some(fstype), flags, data) {
            Ok(()) => say!("mounted {dev} on {dir}"),
            Err(e) => say!("mounting {dev} on {dir}: {e}"),
        }
    }
}

/// `boot-services`: sshd with this VM's host keys, or, in an image that
/// has no sshd, the first-boot install `image pull` put in.
pub fn boot_services() -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    if Path::new("/usr/sbin/sshd").exists() {
        let _ = std::fs::create_dir_all("/run/sshd");
        if let Err(e) = Command::new("ssh-keygen").arg("-A").status() {
            say!("ssh-keygen -A: {e}");
        }
        let e = Command::new("/usr/sbin/sshd").exec();
        return Err(format!("starting /usr/sbin/sshd: {e}"));
    }
    if Path::new(INSTALL_SSHD).exists() {
        let _ = std::fs::create_dir_all("/var/log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(INSTALL_LOG)
            .map_err(|e| format!("{INSTALL_LOG}: {e}"))?;
        say!("no sshd: installing it (log: {INSTALL_LOG})");
        let e = Command::new(INSTALL_SSHD)
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .exec();
        return Err(format!("running {INSTALL_SSHD}: {e}"));
    }
    Ok(())
}

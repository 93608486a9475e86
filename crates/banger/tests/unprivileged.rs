//! A daemon that is not root: banger installed as `make install` leaves it
//! (root-owned), run by `nobody`, with a `sudo` that allows banger's
//! network helper and nothing else (the rule the README advises). A VM is
//! created, used, stopped, started and deleted, and the daemon stopped;
//! every privileged step went through the helper, none was refused, and
//! the VMM ran as the user.

mod common;

use common::TestHome;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const NOBODY: u32 = 65534;

fn copy(from: &Path, to: &Path, mode: u32) {
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::copy(from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    fs::set_permissions(to, fs::Permissions::from_mode(mode)).unwrap();
}

/// The static guest agent the Makefile builds (`target/<triple>/debug`).
fn static_agent() -> PathBuf {
    common::bangerd_bin();
    let target = common::target_bin("x");
    let target = target.parent().unwrap().parent().unwrap();
    fs::read_dir(target)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("debug/banger-vsock-agent"))
        .find(|p| p.is_file())
        .expect("the static agent (make test builds it)")
}

fn on_path(program: &str) -> PathBuf {
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// An install under a root-owned directory anyone can read: `usr/bin`,
/// `usr/lib/banger`, the vsock helper (cargo put it under /root), and the
/// fake sudo (setuid root) with its allowlist.
struct Install {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Install {
    fn new() -> Install {
        let dir = tempfile::Builder::new().prefix("bgri").tempdir().unwrap();
        let root = dir.path().to_owned();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        copy(&common::banger_bin(), &root.join("usr/bin/banger"), 0o755);
        copy(&common::bangerd_bin(), &root.join("usr/bin/bangerd"), 0o755);
        copy(
            &common::target_bin("banger-net-helper"),
            &root.join("usr/lib/banger/banger-net-helper"),
            0o755,
        );
        copy(
            &static_agent(),
            &root.join("usr/lib/banger/banger-vsock-agent"),
            0o755,
        );
        copy(
            &on_path("vhost-device-vsock"),
            &root.join("bin/vhost-device-vsock"),
            0o755,
        );
        copy(
            &common::target_bin("banger-fake-sudo"),
            &root.join("sudo/sudo"),
            0o4755,
        );
        fs::write(
            root.join("sudo/allowed"),
            root.join("usr/lib/banger/banger-net-helper")
                .display()
                .to_string(),
        )
        .unwrap();
        Install { _dir: dir, root }
    }

    fn sudo_calls(&self) -> Vec<String> {
        fs::read_to_string(self.root.join("sudo/calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// /dev/net/tun open to every user while the test runs (Debian's own
/// mode, which some container runtimes narrow to 0600), as it was after.
struct TunOpenToAll(u32);

impl TunOpenToAll {
    fn new() -> TunOpenToAll {
        let tun = Path::new("/dev/net/tun");
        let mode = fs::metadata(tun).unwrap().permissions().mode() & 0o7777;
        fs::set_permissions(tun, fs::Permissions::from_mode(0o666)).unwrap();
        TunOpenToAll(mode)
    }
}

impl Drop for TunOpenToAll {
    fn drop(&mut self) {
        let _ = fs::set_permissions("/dev/net/tun", fs::Permissions::from_mode(self.0));
    }
}

fn uid_of(pid: u64) -> u32 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_daemon_that_is_not_root_runs_vms_through_the_helper_alone() {
    let _tun = TunOpenToAll::new();
    let install = Install::new();
    let mut home = TestHome::networked("web_listen_addr = \"127.0.0.1:0\"\n");
    home.cli = Some(install.root.join("usr/bin/banger"));
    home.path_var = Some(format!(
        "{}:{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        install.root.join("sudo").display(),
        install.root.join("bin").display()
    ));
    let home = home.as_user(NOBODY, NOBODY);
    home.with_busybox("busy");

    let status = home.status();
    assert_eq!(status["pid"].as_u64().map(uid_of), Some(NOBODY), "{status}");
    let vm = home
        .banger(&["vm", "create", "--image", "busy", "--name", "u1", "--json"])
        .ok()
        .json();
    assert_eq!(vm["state"], "running", "{vm}");
    assert_eq!(
        uid_of(vm["vmm_pid"].as_u64().unwrap()),
        NOBODY,
        "the VMM runs as the user"
    );
    let out = home
        .banger(&["vm", "exec", "u1", "--", "cat", "/proc/version"])
        .ok();
    assert!(out.stdout.contains("Linux version"), "{}", out.stdout);
    let (code, out) = home.ns().sh("busybox ping -c 1 -W 5 172.16.0.2");
    assert_eq!(code, 0, "the guest answers on its TAP: {out}");

    home.banger(&["vm", "stop", "u1"]).ok();
    home.banger(&["vm", "start", "u1"]).ok();
    home.banger(&["vm", "exec", "u1", "--", "true"]).ok();
    home.banger(&["vm", "delete", "u1", "--force"]).ok();
    home.banger(&["daemon", "stop"]).ok();

    let calls = install.sudo_calls();
    let helper = install.root.join("usr/lib/banger/banger-net-helper");
    let prefix = format!("ran -n -- {} ", helper.display());
    let ops: Vec<&str> = calls
        .iter()
        .map(|c| {
            c.strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("not the helper, or refused: {c}\nall: {calls:#?}"))
                .split(' ')
                .next()
                .unwrap()
        })
        .collect();
    for op in &ops {
        assert!(
            ["ensure", "tap-add", "tap-del", "teardown"].contains(op),
            "{op}: {calls:#?}"
        );
    }
    assert!(
        ops.contains(&"ensure") && ops.contains(&"tap-add"),
        "{calls:#?}"
    );
}

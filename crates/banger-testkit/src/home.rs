//! A banger installation in a temporary directory: its own HOME, XDG dirs,
//! config and daemon, torn down (daemon and VMs killed) even when a test
//! fails.

use crate::artifacts::{busybox_image, test_deb};
use crate::netns;
use crate::process::{alive, kill, wait_gone};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[derive(Debug)]
pub struct TestHome {
    pub dir: tempfile::TempDir,
    pub path_var: Option<String>,
    /// Where the daemon and every command run, for tests that boot VMs
    /// (they make bridges, TAPs and NAT rules). Dropped after the daemon.
    pub netns: Option<netns::NetNs>,
    /// The user (uid, gid) every command runs as (`as_user`); root when None.
    pub user: Option<(u32, u32)>,
    /// The `banger` CLI run by `banger()` and friends (an installed copy);
    /// the target directory's when None.
    pub cli: Option<PathBuf>,
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "command failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

/// A binary of this workspace, beside the running test binary's directory
/// (`target/<profile>/deps/..`): `cargo test` builds the package's own
/// binaries before its integration tests, `build_companions` the others.
pub fn target_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut dir = exe.parent().expect("a directory").to_owned();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(name)
}

pub fn banger_bin() -> PathBuf {
    let p = target_bin("banger");
    assert!(
        p.is_file(),
        "{} is missing (cargo build -p banger)",
        p.display()
    );
    p
}

/// Cargo builds only this package's binaries for its tests; the daemon and
/// the static guest agent the tests run are built here, once per test
/// binary, so a plain `cargo test` never runs a stale daemon.
fn build_companions() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let run = |cmd: &mut Command| {
            let out = cmd.output().expect("running cargo");
            assert!(
                out.status.success(),
                "{:?} failed:\n{}",
                cmd,
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(Command::new(&cargo).args(["build", "-p", "bangerd", "--bin", "bangerd"]));
        crate::artifacts::build_static_agent();
    });
}

pub fn bangerd_bin() -> PathBuf {
    build_companions();
    let p = target_bin("bangerd");
    assert!(p.is_file(), "{} is missing", p.display());
    p
}

impl Default for TestHome {
    fn default() -> TestHome {
        TestHome::new()
    }
}

impl TestHome {
    /// A fresh home whose web UI listens on an ephemeral port, so tests can
    /// run in parallel without fighting over 7777.
    pub fn new() -> TestHome {
        Self::with_config("web_listen_addr = \"127.0.0.1:0\"\n")
    }

    pub fn with_config(config: &str) -> TestHome {
        bangerd_bin();
        let dir = tempfile::Builder::new().prefix("bgr").tempdir().unwrap();
        let home = TestHome {
            dir,
            path_var: None,
            netns: None,
            user: None,
            cli: None,
        };
        for d in ["home", "config/banger", "data", "state", "run"] {
            fs::create_dir_all(home.root().join(d)).unwrap();
        }
        fs::set_permissions(home.root().join("run"), fs::Permissions::from_mode(0o700)).unwrap();
        home.write_config(config);
        home
    }

    /// A home whose daemon, CLI and VMs live in a network namespace of
    /// their own: what every test that boots a VM uses.
    pub fn networked(config: &str) -> TestHome {
        let mut home = Self::with_config(config);
        home.netns = Some(netns::NetNs::new("bgr"));
        home
    }

    /// This home from now on in a network namespace of its own (its daemon
    /// stopped first): for a test that downloads on the host's network and
    /// then boots VMs, which must be namespaced.
    pub fn into_network_namespace(mut self) -> TestHome {
        let _ = self.banger(&["daemon", "stop"]);
        self.netns = Some(netns::NetNs::new("bgr"));
        self
    }

    pub fn ns(&self) -> &netns::NetNs {
        self.netns.as_ref().expect("a networked TestHome")
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn write_config(&self, text: &str) {
        fs::write(self.config_file(), text).unwrap();
    }

    pub fn config_file(&self) -> PathBuf {
        self.root().join("config/banger/config.toml")
    }

    pub fn socket(&self) -> PathBuf {
        self.root().join("run/banger/bangerd.sock")
    }

    pub fn log_file(&self) -> PathBuf {
        self.root().join("state/banger/bangerd.log")
    }

    pub fn ssh_key(&self) -> PathBuf {
        self.root().join("config/banger/ssh/id_ed25519")
    }

    /// From now on every command runs as `uid`:`gid` (no supplementary
    /// groups), and the home is theirs.
    pub fn as_user(mut self, uid: u32, gid: u32) -> TestHome {
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(self.root())
            .status()
            .unwrap();
        assert!(status.success());
        self.user = Some((uid, gid));
        self
    }

    /// The `banger` CLI this home runs.
    pub fn cli(&self) -> PathBuf {
        self.cli.clone().unwrap_or_else(banger_bin)
    }

    /// `program` with this home's environment (and namespace, and user).
    pub fn command(&self, program: &Path) -> Command {
        let as_user = |c: &mut Command| {
            if let Some((uid, gid)) = self.user {
                c.args([
                    &format!("--reuid={uid}"),
                    &format!("--regid={gid}"),
                    "--clear-groups",
                    "--",
                ]);
            }
        };
        let mut cmd = match (&self.netns, self.user) {
            (Some(ns), Some(_)) => {
                let mut c = ns.command(Path::new("setpriv"));
                as_user(&mut c);
                c.arg(program);
                c
            }
            (None, Some(_)) => {
                let mut c = Command::new("setpriv");
                as_user(&mut c);
                c.arg(program);
                c
            }
            (Some(ns), None) => ns.command(program),
            (None, None) => Command::new(program),
        };
        cmd.env_remove("BANGER_CONFIG")
            .env_remove("BANGER_LOG")
            .env("HOME", self.root().join("home"))
            .env("XDG_CONFIG_HOME", self.root().join("config"))
            .env("XDG_DATA_HOME", self.root().join("data"))
            .env("XDG_STATE_HOME", self.root().join("state"))
            .env("XDG_RUNTIME_DIR", self.root().join("run"))
            .stdin(std::process::Stdio::null());
        if let Some(path) = &self.path_var {
            cmd.env("PATH", path);
        }
        cmd
    }

    /// Runs `banger ARGS...` to completion.
    pub fn banger(&self, args: &[&str]) -> Run {
        Run::from(self.command(&self.cli()).args(args).output().unwrap())
    }

    /// Runs `banger ARGS...` with `input` on its stdin.
    pub fn banger_with_input(&self, args: &[&str], input: &[u8]) -> Run {
        Run::from(self.banger_raw(args, input))
    }

    /// The same, with stdout and stderr as bytes.
    pub fn banger_raw(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self.spawn_piped(args);
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs `bangerd` in the foreground to completion (for refusal tests).
    pub fn bangerd(&self) -> Run {
        Run::from(self.command(&bangerd_bin()).output().unwrap())
    }

    pub fn daemon_pid(&self) -> Option<i32> {
        fs::read_to_string(self.root().join("run/banger/bangerd.lock"))
            .ok()?
            .trim()
            .parse()
            .ok()
            .filter(|pid| alive(*pid))
    }

    /// Starts the daemon and imports Debian's cloud kernel as `name`: the
    /// start of every test that boots a VM.
    pub fn with_test_kernel(&self, name: &str) {
        assert!(
            self.netns.is_some(),
            "tests that boot VMs run in a network namespace: use TestHome::networked"
        );
        self.banger(&["daemon", "start"]).ok();
        let deb = test_deb();
        self.banger(&["kernel", "import", name, "--deb", deb.to_str().unwrap()])
            .ok();
    }

    /// Starts the daemon, imports the test kernel as `debian` and registers
    /// banger's golden Debian image (built once, cached) as `name`; returns
    /// the image file (registered in place: never write to it).
    pub fn with_golden_image(&self, name: &str) -> PathBuf {
        self.with_test_kernel("debian");
        let image = crate::artifacts::golden_image();
        self.register_image(name, &image, "debian");
        image
    }

    /// `banger image register --name NAME --rootfs ROOTFS --kernel-ref KERNEL`,
    /// which must succeed.
    pub fn register_image(&self, name: &str, rootfs: &Path, kernel: &str) {
        self.banger(&[
            "image",
            "register",
            "--name",
            name,
            "--rootfs",
            rootfs.to_str().unwrap(),
            "--kernel-ref",
            kernel,
        ])
        .ok();
    }

    /// `args` run by a daemon that kills itself at the crash point `point`
    /// (`BANGER_FAULT`, debug builds): the command fails, the daemon log
    /// shows the point was reached, and no daemon is left.
    pub fn crash_at(&self, point: &str, args: &[&str]) {
        let _ = self.banger(&["daemon", "stop"]);
        let out = self
            .command(&self.cli())
            .env("BANGER_FAULT", point)
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{point}: {args:?} succeeded");
        let log = fs::read_to_string(self.log_file()).unwrap();
        assert!(
            log.contains(&format!("point=\"{point}\"")) || log.contains(&format!("point={point}")),
            "{point} was not reached: {stderr}\n{log}"
        );
        // The CLI sees the connection close while the daemon dies, a moment
        // before its process is gone: it must be gone soon, not at once.
        if let Some(pid) = self.daemon_pid() {
            wait_gone(pid);
        }
    }

    /// Starts the daemon, imports the test kernel as `debian` and registers
    /// the busybox image as `name`; returns the image file.
    pub fn with_busybox(&self, name: &str) -> PathBuf {
        self.with_test_kernel("debian");
        let image = busybox_image(self.root());
        self.register_image(name, &image, "debian");
        image
    }

    pub fn status(&self) -> serde_json::Value {
        self.banger(&["daemon", "status", "--json"]).json()
    }
}

impl Drop for TestHome {
    fn drop(&mut self) {
        // A failing test shows what the daemon said; the temp dir goes away.
        if std::thread::panicking() {
            let log = fs::read_to_string(self.log_file()).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "--- bangerd log (last 40 lines) ---\n{}",
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
            // What the VMM helpers said (the vsock device above all): a
            // guest that booted but never answered is theirs to explain.
            let vms = self.root().join("data/banger/vms");
            for dir in fs::read_dir(vms).into_iter().flatten().flatten() {
                for log in ["vhost.log", "vmm.log", "firecracker.log"] {
                    let text = fs::read_to_string(dir.path().join(log)).unwrap_or_default();
                    let lines: Vec<&str> = text.lines().collect();
                    if !lines.is_empty() {
                        eprintln!(
                            "--- {} (last 15 lines) ---\n{}",
                            dir.path().join(log).display(),
                            lines[lines.len().saturating_sub(15)..].join("\n")
                        );
                    }
                }
            }
        }
        if let Some(pid) = self.daemon_pid() {
            kill(pid, libc::SIGKILL);
            let _ = std::panic::catch_unwind(|| wait_gone(pid));
        }
        // VMs outlive their daemon by design; the test's must not outlive it.
        let root = self.root().as_os_str().as_encoded_bytes().to_vec();
        for p in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmdline = fs::read(p.path().join("cmdline")).unwrap_or_default();
            if cmdline.windows(root.len()).any(|w| w == root.as_slice()) {
                kill(pid, libc::SIGKILL);
            }
        }
        // Last, so the cleanup above saw the real directory.
        if std::thread::panicking() && std::env::var_os("BANGER_KEEP_TEST_DIRS").is_some() {
            let kept = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap()).keep();
            eprintln!("--- kept {} (BANGER_KEEP_TEST_DIRS) ---", kept.display());
        }
    }
}

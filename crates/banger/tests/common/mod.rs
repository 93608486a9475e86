//! A banger installation in a temporary directory: its own HOME, XDG dirs,
//! config and daemon, torn down (daemon killed) even when a test fails.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod netns;
pub mod registry;

use banger_agent_proto::{AGENT_PORT, Frame, FrameKind, Request, read_frame, write_frame};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub struct TestHome {
    pub dir: tempfile::TempDir,
    pub path_var: Option<String>,
    /// Where the daemon and every command run, for tests that boot VMs
    /// (they make bridges, TAPs and NAT rules). Dropped after the daemon.
    pub netns: Option<netns::NetNs>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
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

/// Debian's cloud kernel package, downloaded once into a cache (see the script).
pub fn test_deb() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fetch-test-kernel.sh");
    let out = Command::new(script)
        .output()
        .expect("running fetch-test-kernel.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// A real ext4 image made by mkfs.ext4, optionally filled from `tree`.
pub fn mkfs(image: &Path, size: &str, tree: Option<&Path>) -> PathBuf {
    let mut cmd = Command::new("mkfs.ext4");
    cmd.args(["-q", "-F"]);
    if let Some(tree) = tree {
        cmd.arg("-d").arg(tree);
    }
    let ok = cmd
        .arg(image)
        .arg(size)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "mkfs.ext4 {}", image.display());
    image.to_owned()
}

pub fn banger_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_banger"))
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
        let rustc = Command::new("rustc")
            .arg("-vV")
            .output()
            .expect("rustc -vV");
        let host = String::from_utf8_lossy(&rustc.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
            .expect("host triple");
        run(Command::new(&cargo)
            .args(["build", "-p", "banger-vsock-agent", "--target", &host])
            .env(
                "RUSTFLAGS",
                "-C target-feature=+crt-static -C relocation-model=static",
            ));
    });
}

pub fn bangerd_bin() -> PathBuf {
    build_companions();
    let p = banger_bin().with_file_name("bangerd");
    assert!(p.is_file(), "{} is missing", p.display());
    p
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

    /// `program` with this home's environment (and namespace).
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = match &self.netns {
            Some(ns) => ns.command(program),
            None => Command::new(program),
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
        Run::from(self.command(&banger_bin()).args(args).output().unwrap())
    }

    /// Runs `banger ARGS...` with `input` on its stdin.
    pub fn banger_with_input(&self, args: &[&str], input: &[u8]) -> Run {
        Run::from(self.banger_raw(args, input))
    }

    /// The same, with stdout and stderr as bytes.
    pub fn banger_raw(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .command(&banger_bin())
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
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
    /// the busybox image as `name`; returns the image file.
    pub fn with_busybox(&self, name: &str) -> PathBuf {
        self.with_test_kernel("debian");
        let image = busybox_image(self.root());
        self.banger(&[
            "image",
            "register",
            "--name",
            name,
            "--rootfs",
            image.to_str().unwrap(),
            "--kernel-ref",
            "debian",
        ])
        .ok();
        image
    }

    pub fn status(&self) -> serde_json::Value {
        self.banger(&["daemon", "status", "--json"]).json()
    }
}

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

/// Runs a command in the guest through the agent, as the daemon does
/// (retrying a connection reset before the request arrived, as it does).
pub fn guest(vm_dir: &str, argv: &[&str]) -> (i32, String) {
    let req = Request::Exec {
        argv: argv.iter().map(|a| a.to_string()).collect(),
        cwd: None,
        env: vec![],
        stdin: false,
    };
    let mut errors = Vec::new();
    let mut s = (0..8)
        .find_map(|attempt| {
            std::thread::sleep(std::time::Duration::from_millis(100 * attempt));
            let attempt = || -> Result<UnixStream, String> {
                let mut s = UnixStream::connect(Path::new(vm_dir).join("vm.vsock"))
                    .map_err(|e| format!("connect: {e}"))?;
                // One write: vhost-device-vsock drops a connection whose CONNECT line
                // arrives in pieces (see agent/client.rs).
                s.write_all(format!("CONNECT {AGENT_PORT}\n").as_bytes())
                    .map_err(|e| format!("CONNECT: {e}"))?;
                let mut line = String::new();
                BufReader::new(&s)
                    .read_line(&mut line)
                    .map_err(|e| format!("answer: {e}"))?;
                if !line.starts_with("OK ") {
                    return Err(format!("answer {line:?}"));
                }
                write_frame(&mut s, &Frame::request(&req)).map_err(|e| format!("request: {e}"))?;
                Ok(s)
            };
            attempt().map_err(|e| errors.push(e)).ok()
        })
        .unwrap_or_else(|| panic!("the agent accepted no connection: {errors:?}"));
    let mut out = Vec::new();
    loop {
        let f = read_frame(&mut s).unwrap().unwrap();
        match f.kind {
            FrameKind::Message => {
                return (
                    f.as_response().unwrap().exit_status().unwrap(),
                    String::from_utf8(out).unwrap(),
                );
            }
            _ => out.extend(f.payload),
        }
    }
}

/// A small busybox root filesystem whose init mounts /root from the fstab
/// banger injects, serves HTTP on 8080 and starts the agent banger injects.
const INIT: &str = "\
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox --install -s /bin
mount -a
httpd -p 8080 -h /tmp
/usr/local/lib/banger/banger-vsock-agent serve &
exec sleep 1000000";

pub fn busybox_image(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    for d in ["bin", "sbin", "dev", "proc", "sys", "tmp", "root", "etc"] {
        fs::create_dir_all(tree.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", tree.join("bin/busybox")).unwrap();
    fs::write(
        tree.join("sbin/init"),
        format!("#!/bin/busybox sh\n{INIT}\n"),
    )
    .unwrap();
    fs::set_permissions(tree.join("sbin/init"), fs::Permissions::from_mode(0o755)).unwrap();
    mkfs(&dir.join("busybox.ext4"), "64M", Some(&tree))
}

/// banger's golden Debian image (built once, cached by recipe hash).
pub fn golden_image() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-golden-image.sh");
    let out = std::process::Command::new(script)
        .output()
        .expect("running build-golden-image.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

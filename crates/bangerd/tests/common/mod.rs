//! Real guests for daemon tests: Debian's cloud kernel imported by banger,
//! a small busybox root filesystem, and QEMU microvm (TCG here).

#![allow(dead_code)] // each test binary uses part of this

use banger_api::kernel::{ImportKernel, Kernel};
use banger_config::Paths;
use bangerd::store::Store;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// The static agent, built as the Makefile does so `cargo test` alone works.
pub fn static_agent() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("host triple");
    let built = Command::new(cargo)
        .args(["build", "-p", "banger-vsock-agent", "--target", &host])
        .env(
            "RUSTFLAGS",
            "-C target-feature=+crt-static -C relocation-model=static",
        )
        .status()
        .expect("running cargo");
    assert!(built.success(), "building the static agent failed");
    let exe_dir = Path::new(env!("CARGO_BIN_EXE_bangerd"))
        .parent()
        .unwrap()
        .to_owned();
    let agent = bangerd::agent::locate_from(&exe_dir).expect("banger-vsock-agent not built");
    assert!(
        bangerd::disk::format::is_static_elf(&agent).unwrap(),
        "{} is not static",
        agent.display()
    );
    agent
}

/// A data dir in `root` with Debian's cloud kernel imported as `debian`.
pub fn kernel_store(root: &Path) -> (Paths, Kernel) {
    let paths = Paths {
        config_file: root.join("c/config.toml"),
        config_dir: root.join("c"),
        data_dir: root.join("data"),
        state_dir: root.join("s"),
        runtime_dir: root.join("r"),
        docker_config: None,
    };
    std::fs::create_dir_all(&paths.data_dir).unwrap();
    let store = Store::open(&paths.database()).unwrap();
    let req = ImportKernel {
        name: "debian".into(),
        deb: Some(test_deb().display().to_string()),
        ..Default::default()
    };
    let kernel =
        bangerd::kernel::import(&paths, &store, req, Some(&static_agent()), &mut |_| {}).unwrap();
    (paths, kernel)
}

/// An ext4 image holding busybox, optional extra files, and `/sbin/init`
/// running `init_script` (busybox sh).
pub fn busybox_rootfs(dir: &Path, init_script: &str, extra: &[(&str, &Path)]) -> PathBuf {
    let tree = dir.join("tree");
    for d in [
        "bin", "sbin", "usr/bin", "dev", "proc", "sys", "tmp", "root",
    ] {
        std::fs::create_dir_all(tree.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", tree.join("bin/busybox")).expect("busybox-static");
    for (dest, src) in extra {
        let to = tree.join(dest.trim_start_matches('/'));
        std::fs::copy(src, &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let init = tree.join("sbin/init");
    std::fs::write(&init, format!("#!/bin/busybox sh\n{init_script}\n")).unwrap();
    std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o755)).unwrap();
    let image = dir.join("rootfs.ext4");
    let ok = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(&tree)
        .arg(&image)
        .arg("64M")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    image
}

/// Child processes killed when the test ends, however it ends.
pub struct Procs(pub Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn wait_for_file(path: &Path, timeout: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < timeout,
            "{} did not appear",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn console_tail(console: &Path) -> String {
    let log = std::fs::read_to_string(console).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

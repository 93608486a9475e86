//! The initrd banger generates really boots: Debian's cloud kernel (virtio
//! drivers as modules) + the generated initrd (the real static agent as
//! /init) + a small ext4 rootfs, under QEMU microvm. The rootfs's own init
//! must run. TCG here (see docs/architecture.md); KVM where it works.

use banger_api::kernel::ImportKernel;
use banger_config::Paths;
use bangerd::store::Store;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MARKER: &str = "BANGER-ROOTFS-INIT-REACHED";

fn test_deb() -> PathBuf {
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

fn static_agent() -> PathBuf {
    // Build the static agent as the Makefile does, so `cargo test` alone works.
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

/// An ext4 image whose /sbin/init prints MARKER and powers off.
fn busybox_rootfs(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    for d in ["bin", "sbin", "dev", "proc", "sys"] {
        std::fs::create_dir_all(tree.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", tree.join("bin/busybox")).expect("busybox-static");
    let init = tree.join("sbin/init");
    std::fs::write(
        &init,
        format!("#!/bin/busybox sh\n/bin/busybox echo {MARKER}\n/bin/busybox poweroff -f\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
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

#[test]
fn debian_kernel_with_generated_initrd_reaches_the_rootfs_init() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let paths = Paths {
        config_file: root.join("c/config.toml"),
        config_dir: root.join("c"),
        data_dir: root.join("data"),
        state_dir: root.join("s"),
        runtime_dir: root.join("r"),
    };
    std::fs::create_dir_all(&paths.data_dir).unwrap();
    let store = Store::open(&paths.database()).unwrap();
    let req = ImportKernel {
        name: "debian".into(),
        deb: Some(test_deb().display().to_string()),
        ..Default::default()
    };
    bangerd::kernel::import(&paths, &store, req, Some(&static_agent()), &mut |_| {}).unwrap();
    let kdir = paths.kernel_dir("debian");
    let rootfs = busybox_rootfs(root);
    let console = root.join("console.log");

    let mut qemu = Command::new("qemu-system-x86_64")
        .args([
            "-M",
            "microvm,pit=on,pic=on,rtc=on",
            "-accel",
            "tcg",
            "-m",
            "512M",
            "-smp",
            "1",
        ])
        .args(["-nodefaults", "-no-user-config", "-nographic", "-no-reboot"])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .arg("-kernel")
        .arg(kdir.join("vmlinux"))
        .arg("-initrd")
        .arg(kdir.join("initrd.img"))
        .args([
            "-append",
            "console=ttyS0 reboot=t panic=-1 tsc_early_khz=1000000 root=/dev/vda rw",
        ])
        .arg("-drive")
        .arg(format!(
            "id=d0,file={},format=raw,if=none",
            rootfs.display()
        ))
        .args(["-device", "virtio-blk-device,drive=d0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64 (apt-get install qemu-system-x86)");
    let deadline = Instant::now() + Duration::from_secs(180);
    let log = || std::fs::read_to_string(&console).unwrap_or_default();
    while qemu.try_wait().unwrap().is_none() && !log().contains(MARKER) && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = qemu.kill();
    let _ = qemu.wait();
    let log = log();
    let lines: Vec<&str> = log.lines().collect();
    let tail = lines[lines.len().saturating_sub(40)..].join("\n");
    assert!(
        log.contains("banger-init: switching to /dev/vda"),
        "the initrd did not mount the root:\n{tail}"
    );
    assert!(
        log.contains(MARKER),
        "the rootfs's init did not run:\n{tail}"
    );
}

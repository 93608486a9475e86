//! The initrd banger generates really boots: Debian's cloud kernel (virtio
//! drivers as modules) + the generated initrd (the real static agent as
//! /init) + a small ext4 rootfs, under QEMU microvm. The rootfs's own init
//! must run. TCG here (see docs/architecture.md); KVM where it works.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MARKER: &str = "BANGER-ROOTFS-INIT-REACHED";

#[test]
fn debian_kernel_with_generated_initrd_reaches_the_rootfs_init() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (paths, _) = common::kernel_store(root);
    let kdir = paths.kernel_dir("debian");
    let rootfs = common::busybox_rootfs(
        root,
        &format!("/bin/busybox echo {MARKER}\n/bin/busybox poweroff -f"),
        &[],
    );
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
    let tail = common::console_tail(&console);
    assert!(
        log().contains("banger-init: switching to /dev/vda"),
        "the initrd did not mount the root:\n{tail}"
    );
    assert!(
        log().contains(MARKER),
        "the rootfs's init did not run:\n{tail}"
    );
}

//! Putting banger's guest parts into a VM's disks (`vm create`'s inject
//! step: the agent, its units, fstab, sshd settings, authorized_keys, each
//! read back), side by side with the floor for any debugfs-based injection:
//! one `debugfs -w` run per disk writing the same files, nothing read back.
//! The ratio is what checking costs; every debugfs process is a few
//! milliseconds `vm create` pays before boot.
//!
//! `cargo bench -p bangerd --bench inject`

use banger_testkit::mkfs;
use bangerd::vm::inject::{inject_rootfs, inject_work_disk};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 9;
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0 bench";

/// A Debian-like rootfs tree: /etc/fstab, /etc/ssh, systemd directories.
fn rootfs(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    for d in [
        "etc/ssh/sshd_config.d",
        "etc/systemd/system/multi-user.target.wants",
        "usr/local/lib",
        "usr/sbin",
        "root",
    ] {
        std::fs::create_dir_all(tree.join(d)).unwrap();
    }
    std::fs::write(tree.join("etc/fstab"), "proc /proc proc defaults 0 0\n").unwrap();
    std::fs::write(tree.join("etc/ssh/ssh_host_ed25519_key"), "old key").unwrap();
    std::fs::copy("/bin/busybox", tree.join("usr/sbin/sshd")).unwrap();
    mkfs(&dir.join("rootfs.ext4"), "256M", Some(&tree))
}

fn debugfs_write(image: &Path, script: &str) {
    let mut child = Command::new("debugfs")
        .args(["-w", "-f", "-"])
        .arg(image)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rootfs = rootfs(d);
    let work = mkfs(&d.join("work.ext4"), "64M", None);
    // The real static agent where `make build` made it, else any binary.
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../build/bin/banger-vsock-agent");
    let agent = d.join("agent");
    let source = if built.is_file() {
        built
    } else {
        std::env::current_exe().unwrap()
    };
    std::fs::copy(source, &agent).unwrap();
    println!(
        "agent: {} KiB",
        std::fs::metadata(&agent).unwrap().len() / 1024
    );
    let files = d.join("files");
    std::fs::create_dir_all(&files).unwrap();
    for f in ["unit", "fstab", "sshd", "keys"] {
        std::fs::write(files.join(f), format!("{f}\n")).unwrap();
    }
    let put = |name: &str, dest: &str| {
        format!(
            "rm {dest}\nwrite {} {dest}\nsif {dest} mode 0100644\n",
            files.join(name).display()
        )
    };
    let floor_root = format!(
        "mkdir /usr/local/lib/banger\nwrite {} /usr/local/lib/banger/banger-vsock-agent\n{}{}{}",
        agent.display(),
        put("unit", "/etc/systemd/system/banger-vsock-agent.service"),
        put("fstab", "/etc/fstab"),
        put("sshd", "/etc/ssh/sshd_config.d/banger.conf"),
    );
    let floor_work = format!("mkdir /.ssh\n{}", put("keys", "/.ssh/authorized_keys"));

    let (mut ours, mut floor) = (Vec::new(), Vec::new());
    for i in 0..RUNS {
        // Fresh copies each run (untimed), alternating who goes first.
        let fresh = |tag: &str| {
            let (r, w) = (d.join(format!("r{tag}{i}")), d.join(format!("w{tag}{i}")));
            std::fs::copy(&rootfs, &r).unwrap();
            std::fs::copy(&work, &w).unwrap();
            (r, w)
        };
        let (r1, w1) = fresh("a");
        let (r2, w2) = fresh("b");
        let mut run_ours = || {
            let t = Instant::now();
            inject_rootfs(&r1, &agent, "bench").unwrap();
            inject_work_disk(&w1, KEY).unwrap();
            ours.push(t.elapsed());
        };
        let mut run_floor = || {
            let t = Instant::now();
            debugfs_write(&r2, &floor_root);
            debugfs_write(&w2, &floor_work);
            floor.push(t.elapsed());
        };
        if i % 2 == 0 {
            run_ours();
            run_floor();
        } else {
            run_floor();
            run_ours();
        }
        for p in [r1, w1, r2, w2] {
            std::fs::remove_file(p).unwrap();
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (o, f) = (ms(median(ours)), ms(median(floor)));
    println!("median of {RUNS} (ms): banger inject {o:.1}, one debugfs write per disk {f:.1}");
    println!("ratio banger / floor: {:.2}", o / f);
}

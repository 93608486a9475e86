//! `banger doctor` against a host whose PATH the test controls.

mod common;

use common::TestHome;
use std::path::PathBuf;

/// A PATH holding links to the real tools, minus `without`.
fn controlled_path(home: &TestHome, without: &[&str]) -> String {
    let bin = home.root().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let real_path = std::env::var("PATH").unwrap();
    for tool in [
        "mkfs.ext4",
        "debugfs",
        "e2fsck",
        "ip",
        "ssh",
        "git",
        "nft",
        "depmod",
        "qemu-system-x86_64",
        "vhost-device-vsock",
    ] {
        if without.contains(&tool) {
            continue;
        }
        let found: Option<PathBuf> = std::env::split_paths(&real_path)
            .map(|d| d.join(tool))
            .find(|p| p.is_file());
        if let Some(real) = found {
            std::os::unix::fs::symlink(real, bin.join(tool)).unwrap();
        }
    }
    bin.display().to_string()
}

#[test]
fn missing_required_tool_is_a_fail_line_and_a_non_zero_exit() {
    let mut home = TestHome::new();
    home.path_var = Some(controlled_path(&home, &["debugfs"]));
    let out = home.banger(&["doctor"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("tool:debugfs"))
        .expect("a debugfs line");
    assert!(line.starts_with("fail "), "{line}");
    assert!(out.stdout.contains("hint: apt-get install e2fsprogs"));
    assert!(out.stdout.contains("check(s) failed"));
}

#[test]
fn json_report_lists_every_check() {
    let mut home = TestHome::new();
    home.path_var = Some(controlled_path(&home, &[]));
    let out = home.banger(&["doctor", "--json"]);
    let report = out.json();
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for want in [
        "kvm",
        "tool:firecracker",
        "tool:qemu-system-x86_64",
        "tool:vhost-device-vsock",
        "vmm",
        "tool:mkfs.ext4",
        "tool:debugfs",
        "tool:e2fsck",
        "tool:ip",
        "tool:nft",
        "tool:depmod",
        "tool:ssh",
        "tool:git",
        "sudo",
        "tun",
        "disk",
        "agent",
        "ssh-key",
    ] {
        assert!(names.contains(&want), "no {want} in {names:?}");
    }
    let debugfs = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "tool:debugfs")
        .unwrap();
    assert_eq!(debugfs["status"], "ok");
    // The exit code follows the worst check.
    let failed = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["status"] == "fail");
    assert_eq!(out.code, if failed { 1 } else { 0 }, "{}", out.stdout);
}

#[test]
fn the_daemon_finds_its_agent_in_the_build_layout() {
    let home = TestHome::new();
    let report = home.banger(&["doctor", "--json"]).json();
    let agent = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "agent")
        .unwrap();
    assert_eq!(agent["status"], "ok", "{agent}");
}

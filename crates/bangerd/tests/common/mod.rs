//! Real guests for daemon tests: Debian's cloud kernel imported by banger,
//! a small busybox root filesystem, and QEMU microvm (TCG here). The
//! shared pieces come from the workspace's test kit.

#![allow(dead_code, unused_imports)] // each test binary uses part of this

use banger_api::kernel::{ImportKernel, Kernel};
use banger_config::Paths;
use bangerd::store::Store;
use std::path::{Path, PathBuf};

pub use banger_testkit::{Procs, test_deb, wait_for_file};

/// busybox, `extra` files and an init running `init_script`: `rootfs.ext4` in `dir`.
pub fn busybox_rootfs(dir: &Path, init_script: &str, extra: &[(&str, &Path)]) -> PathBuf {
    banger_testkit::busybox_rootfs(dir, "rootfs.ext4", init_script, extra)
}

/// The static agent, built as the Makefile does so `cargo test` alone works.
pub fn static_agent() -> PathBuf {
    banger_testkit::artifacts::build_static_agent();
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
        home: None,
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

pub fn console_tail(console: &Path) -> String {
    let log = std::fs::read_to_string(console).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

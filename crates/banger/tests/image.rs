//! Image commands through the CLI and a real daemon.

mod common;

use common::TestHome;
use std::path::{Path, PathBuf};

fn ext4(home: &TestHome, name: &str) -> PathBuf {
    common::mkfs(&home.root().join(name), "32M", None)
}

#[test]
fn register_list_promote_show_delete() {
    let home = TestHome::new();
    let rootfs = ext4(&home, "root.ext4");
    let kernel = home.root().join("vmlinux");
    std::fs::copy(common::banger_bin(), &kernel).unwrap(); // any x86-64 ELF

    let out = home
        .banger(&[
            "image",
            "register",
            "--name",
            "base",
            "--rootfs",
            rootfs.to_str().unwrap(),
            "--kernel",
            kernel.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(out["managed"], false);
    assert_eq!(out["rootfs"], rootfs.display().to_string());

    let list = home.banger(&["image", "list", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let table = home.banger(&["image", "list"]).ok().stdout;
    assert!(
        table.contains("base") && table.contains("32.0 MiB"),
        "{table}"
    );

    let promote = home.banger(&["image", "promote", "base"]).ok();
    assert!(
        promote.stderr.contains("copy: rootfs (32.0 MiB)"),
        "plain progress lines off a TTY:\n{}",
        promote.stderr
    );
    let shown = home
        .banger(&["image", "show", "base", "--json"])
        .ok()
        .json();
    assert_eq!(shown["managed"], true);
    let managed_rootfs = shown["rootfs"].as_str().unwrap().to_owned();
    assert!(
        managed_rootfs.starts_with(&home.root().join("data/banger/images").display().to_string())
    );
    assert!(Path::new(&managed_rootfs).is_file());

    let deleted = home.banger(&["image", "delete", "base"]).ok();
    assert!(
        deleted.stdout.contains("deleted image base and "),
        "{}",
        deleted.stdout
    );
    assert!(!Path::new(&managed_rootfs).exists());
    assert!(rootfs.exists(), "the original stays");
    assert_eq!(
        home.banger(&["image", "list", "--json"]).ok().json(),
        serde_json::json!([])
    );
}

#[test]
fn errors_name_the_problem_and_record_nothing() {
    let home = TestHome::new();
    let not_ext4 = home.root().join("notes.txt");
    std::fs::write(&not_ext4, "hello").unwrap();
    home.banger(&["daemon", "start"]).ok();
    let out = home.banger(&[
        "image",
        "register",
        "--name",
        "base",
        "--rootfs",
        "notes.txt",
        "--kernel-ref",
        "k",
    ]);
    // Relative paths are resolved by the CLI against its working directory.
    assert_eq!(out.code, 1);
    assert!(out.stderr.starts_with("error: rootfs "), "{}", out.stderr);
    assert!(
        out.stderr.contains("caused by: No such file or directory"),
        "{}",
        out.stderr
    );

    let out = std::process::Command::new(common::banger_bin())
        .current_dir(home.root())
        .args([
            "image",
            "register",
            "--name",
            "base",
            "--rootfs",
            "notes.txt",
            "--kernel-ref",
            "k",
        ])
        .env("HOME", home.root().join("home"))
        .env("XDG_CONFIG_HOME", home.root().join("config"))
        .env("XDG_DATA_HOME", home.root().join("data"))
        .env("XDG_STATE_HOME", home.root().join("state"))
        .env("XDG_RUNTIME_DIR", home.root().join("run"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "error: rootfs {} is not an ext4 filesystem image (no ext2/3/4 superblock)",
            not_ext4.display()
        )
    );
    let out = home.banger(&["image", "show", "nope"]);
    assert_eq!(out.stderr.trim_end(), "error: no image named `nope`");
    assert_eq!(
        home.banger(&["image", "list", "--json"]).ok().json(),
        serde_json::json!([])
    );
}

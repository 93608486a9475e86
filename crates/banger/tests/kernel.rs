//! Kernel commands through the CLI and a real daemon.

mod common;

use common::TestHome;
use std::path::Path;
use std::process::Command;

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn import_a_debian_kernel_and_use_it_for_an_image() {
    let home = TestHome::new();
    home.banger(&["daemon", "start"]).ok();
    let deb = common::test_deb();
    let out = home
        .banger(&[
            "kernel",
            "import",
            "generic-6.1",
            "--deb",
            deb.to_str().unwrap(),
        ])
        .ok();
    assert!(
        out.stdout.contains("imported kernel generic-6.1 (6.1.0-"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(", with initrd"),
        "the cloud kernel's virtio drivers are modules: {}",
        out.stdout
    );
    for step in [
        "unpack: ",
        "depmod: ",
        "extract: ",
        "initrd: ",
        "store: generic-6.1",
    ] {
        assert!(
            out.stderr.contains(step),
            "no {step:?} progress line in:\n{}",
            out.stderr
        );
    }
    let list = home.banger(&["kernel", "list", "--json"]).ok().json();
    assert_eq!(list[0]["name"], "generic-6.1");

    let rootfs = common::mkfs(&home.root().join("root.ext4"), "16M", None);
    home.banger(&[
        "image",
        "register",
        "--name",
        "base",
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--kernel-ref",
        "generic-6.1",
    ])
    .ok();
    let refused = home.banger(&["kernel", "delete", "generic-6.1"]);
    assert_eq!(refused.code, 1);
    assert_eq!(
        refused.stderr.trim_end(),
        "error: kernel `generic-6.1` is used by image(s) base"
    );
    home.banger(&["image", "delete", "base"]).ok();
    home.banger(&["kernel", "delete", "generic-6.1"]).ok();
    assert_eq!(
        home.banger(&["kernel", "list", "--json"]).ok().json(),
        serde_json::json!([])
    );
}

#[test]
fn list_and_pull_from_a_catalog_file() {
    let home = TestHome::new();
    // A catalog next to its artifact, named by a relative URL.
    let dir = home.root().join("catalog");
    std::fs::create_dir_all(&dir).unwrap();
    let kernel = dir.join("vmlinux");
    std::fs::copy(common::banger_bin(), &kernel).unwrap(); // an x86-64 ELF
    let size = std::fs::metadata(&kernel).unwrap().len();
    let catalog = serde_json::json!({
        "schema": 1,
        "kernels": [{
            "name": "tiny", "version": "6.1.0-tiny", "arch": "x86_64", "description": "test kernel",
            "artifacts": { "kernel": { "url": "vmlinux", "size": size, "sha256": sha256(&kernel) } }
        }]
    });
    std::fs::write(dir.join("catalog.json"), catalog.to_string()).unwrap();
    home.write_config(&format!(
        "web_listen_addr = \"\"\nkernel_catalog = \"file://{}\"\n",
        dir.join("catalog.json").display()
    ));

    let available = home.banger(&["kernel", "list", "--available"]).ok().stdout;
    assert!(
        available.contains("tiny") && available.contains("no"),
        "{available}"
    );
    let out = home.banger(&["kernel", "pull", "tiny"]).ok();
    assert!(
        out.stdout.contains("pulled kernel tiny (6.1.0-tiny)"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("download: kernel"), "{}", out.stderr);
    let available = home
        .banger(&["kernel", "list", "--available", "--json"])
        .ok()
        .json();
    assert_eq!(available["kernels"][0]["pulled"], true);
    let shown = home
        .banger(&["kernel", "show", "tiny", "--json"])
        .ok()
        .json();
    assert_eq!(shown["files"][0]["sha256"], sha256(&kernel));

    let missing = home.banger(&["kernel", "pull", "huge"]);
    assert!(
        missing
            .stderr
            .contains("has no kernel `huge`; it offers: tiny"),
        "{}",
        missing.stderr
    );
    let again = home.banger(&["kernel", "pull", "tiny"]);
    assert!(
        again
            .stderr
            .contains("a kernel named `tiny` already exists"),
        "{}",
        again.stderr
    );
}

/// The maintenance script turns a Debian package into a catalog that a
/// fresh banger pulls from, regenerating the initrd locally.
#[test]
fn catalog_built_by_the_maintenance_script_can_be_pulled() {
    let home = TestHome::new();
    let out_dir = home.root().join("published");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kernel-catalog.sh");
    let out = Command::new(script)
        .arg(&out_dir)
        .arg(format!("generic-6.1={}", common::test_deb().display()))
        .env("BANGER", common::banger_bin())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let catalog = out_dir.join("catalog.json");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        catalog.display().to_string()
    );

    home.write_config(&format!(
        "web_listen_addr = \"\"\nkernel_catalog = \"{}\"\n",
        catalog.display()
    ));
    let pulled = home.banger(&["kernel", "pull", "generic-6.1"]).ok();
    assert!(
        pulled.stdout.contains("pulled kernel generic-6.1 (6.1.0-"),
        "{}",
        pulled.stdout
    );
    let k = home
        .banger(&["kernel", "show", "generic-6.1", "--json"])
        .ok()
        .json();
    let files: Vec<&str> = k["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        ["vmlinux", "initrd.img", "modules"],
        "initrd regenerated on pull"
    );
}

/// The spec's first run on a fresh host: the built-in catalog lists Debian's
/// cloud kernels, `kernel pull generic-6.12` takes Debian 13's from Debian's
/// archive (signature, index and package verified), and banger's golden
/// image boots on it under QEMU. Needs the Debian archive
/// (`debian_mirror`) to be reachable, as the test set-up does.
#[test]
fn the_built_in_catalog_pulls_debian_13_s_kernel_and_the_golden_image_boots_on_it() {
    let home = TestHome::new();
    let available = home.banger(&["kernel", "list", "--available"]).ok().stdout;
    for name in ["generic-6.1", "generic-6.12"] {
        assert!(available.contains(name), "{available}");
    }
    let pull = home.banger(&["kernel", "pull", "generic-6.12"]).ok();
    assert!(
        pull.stderr.contains("trixie"),
        "progress names the suite: {}",
        pull.stderr
    );
    let k = home
        .banger(&["kernel", "show", "generic-6.12", "--json"])
        .ok()
        .json();
    let version = k["version"].as_str().unwrap().to_owned();
    assert!(
        version.starts_with("6.12.") && version.ends_with("-cloud-amd64"),
        "{k}"
    );
    let source = k["source"].as_str().unwrap();
    assert!(
        source.starts_with("debian trixie") && source.contains("linux-image-6.12."),
        "{source}"
    );
    let again = home.banger(&["kernel", "pull", "generic-6.12"]);
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    let home = home.into_network_namespace();
    home.banger(&["daemon", "start"]).ok();
    home.register_image("golden", &common::golden_image(), "generic-6.12");
    let vm = home.vm("k612").image("golden").create();
    assert_eq!(vm.run(&["uname", "-r"]), version);
    assert_eq!(
        vm.run(&["systemctl", "is-active", "banger-vsock-agent"]),
        "active"
    );
    assert_eq!(vm.run(&["findmnt", "-no", "SOURCE", "/root"]), "/dev/vdb");
    vm.run(&["sh", "-c", "echo kept > /root/mark"]);
    home.banger(&["vm", "stop", "k612"]).ok();
    home.banger(&["vm", "start", "k612"]).ok();
    assert_eq!(vm.run(&["cat", "/root/mark"]), "kept");
}

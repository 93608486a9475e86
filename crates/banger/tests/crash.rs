//! Crash recovery, step by step: a daemon told by `BANGER_FAULT` to kill
//! itself (SIGKILL, no cleanup) at each named point of kernel pull, image
//! promote, image pull and vm create; the next daemon start leaves no
//! staging directory, no directory without its record and no record
//! without its files, and the interrupted operation then succeeds. Image
//! builds likewise up to their provisioning (a daemon killed during it:
//! tests/build.rs).

mod common;

use common::TestHome;
use common::registry::{Layout, Registry};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

fn names_in(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn listed(home: &TestHome, what: &str, key: &str) -> BTreeSet<String> {
    let all = home.banger(&[what, "list", "--json"]).ok().json();
    all.as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v[key].as_str().map(str::to_owned))
        .collect()
}

/// The next daemon start: nothing any interrupted step left.
fn recovered(home: &TestHome, point: &str) {
    home.banger(&["daemon", "start"]).ok();
    let data = home.root().join("data/banger");
    assert!(
        names_in(&data.join("tmp")).is_empty(),
        "{point}: staging left: {:?}",
        names_in(&data.join("tmp"))
    );
    assert_eq!(
        names_in(&data.join("kernels")),
        listed(home, "kernel", "name"),
        "{point}: kernel directories and records differ"
    );
    let images = home.banger(&["image", "list", "--json"]).ok().json();
    let managed: BTreeSet<String> = images
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["managed"] == true)
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names_in(&data.join("images")),
        managed,
        "{point}: image directories and managed images differ"
    );
    let vms = home.banger(&["vm", "list", "--json"]).ok().json();
    let ids: BTreeSet<String> = vms
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names_in(&data.join("vms")),
        ids,
        "{point}: VM directories and records differ"
    );
    for vm in vms.as_array().unwrap() {
        let dir = Path::new(vm["dir"].as_str().unwrap());
        assert!(!dir.join("creating").exists(), "{point}: {vm}");
    }
}

#[test]
fn every_step_of_every_operation_recovers_from_a_crash() {
    let home = common::tiny_catalog_home();

    // kernel pull (and import: the same install).
    for point in ["kernel-install:staged", "kernel-install:committed"] {
        home.crash_at(point, &["kernel", "pull", "tiny"]);
        recovered(&home, point);
        assert!(listed(&home, "kernel", "name").is_empty());
    }
    home.banger(&["kernel", "pull", "tiny"]).ok();

    // image promote.
    let rootfs = common::busybox_image(home.root());
    home.register_image("busy", &rootfs, "tiny");
    for point in ["image-promote:staged", "image-promote:committed"] {
        home.crash_at(point, &["image", "promote", "busy"]);
        recovered(&home, point);
        let shown = home
            .banger(&["image", "show", "busy", "--json"])
            .ok()
            .json();
        assert_eq!(shown["managed"], false, "{point}: {shown}");
    }
    home.banger(&["image", "promote", "busy"]).ok();

    // image pull.
    let work = tempfile::tempdir().unwrap();
    let layout = Layout::new(work.path());
    layout.new_image("v1");
    // No init of its own: banger's agent becomes it.
    layout.layer("v1", |root| {
        fs::write(root.join("hello"), "from a layer\n").unwrap();
    });
    let registry = Registry::start();
    let reference = registry.push(&layout, "v1", "test/crash:v1");
    let pull = [
        "image",
        "pull",
        &reference,
        "--name",
        "pulled",
        "--kernel-ref",
        "tiny",
    ];
    for point in ["image-pull:staged", "image-pull:committed"] {
        home.crash_at(point, &pull);
        recovered(&home, point);
        assert!(
            home.banger(&["image", "show", "pulled"]).code != 0,
            "{point}: a record of the interrupted pull"
        );
    }
    home.banger(&pull).ok();

    // vm create: each step before the boot (`--no-start`).
    let create = [
        "vm",
        "create",
        "--name",
        "v1",
        "--image",
        "busy",
        "--no-start",
    ];
    for point in [
        "vm-create:recorded",
        "vm-create:cloned",
        "vm-create:rootfs-injected",
    ] {
        home.crash_at(point, &create);
        recovered(&home, point);
        assert!(listed(&home, "vm", "name").is_empty(), "{point}");
    }
    home.banger(&create).ok();
    assert_eq!(
        listed(&home, "vm", "name"),
        BTreeSet::from(["v1".to_owned()])
    );
    recovered(&home, "a finished create");
}

/// `image build` killed at each step before provisioning: the next start
/// removes the build VM (its process, TAP, address, disks), the staging
/// directory and the build's record; no image is left.
#[test]
fn an_image_build_recovers_from_a_crash_at_each_step() {
    let cache = common::build_cache();
    let home = TestHome::networked(&format!(
        "web_listen_addr = \"127.0.0.1:0\"\nbuild_cache_dir = \"{}\"\n",
        cache.display()
    ));
    home.with_golden_image("bookworm");
    let build = [
        "image",
        "build",
        "--name",
        "box",
        "--from-image",
        "bookworm",
    ];
    for point in [
        "image-build:recorded",
        "image-build:vm-made",
        "image-build:booted",
    ] {
        home.crash_at(point, &build);
        recovered(&home, point);
        assert!(listed(&home, "vm", "name").is_empty(), "{point}");
        assert!(
            !listed(&home, "image", "name").contains("box"),
            "{point}: an image of the interrupted build"
        );
        let log = fs::read_to_string(home.log_file()).unwrap();
        assert!(
            log.contains("removed what an interrupted image build left"),
            "{point}: {log}"
        );
        assert_eq!(
            vmms_of(&home),
            Vec::<String>::new(),
            "{point}: the build VM's VMM outlived the recovery"
        );
    }
}

/// Command lines of the processes that run a VM of `home` (their VM
/// directory is under it).
fn vmms_of(home: &TestHome) -> Vec<String> {
    let root = home.root().display().to_string();
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.starts_with("qemu-system") || c.contains("/qemu-system"))
        .filter(|c| c.contains(&root))
        .collect()
}

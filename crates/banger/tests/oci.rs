//! `banger image pull` against a real registry (Debian's docker-registry on
//! 127.0.0.1) with images built by umoci and pushed by skopeo; the produced
//! ext4 images are checked with e2fsck and debugfs.

mod common;

use common::registry::{Layout, Registry, debugfs, e2fsck_clean};
use common::{Run, TestHome};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A daemon with a kernel `tiny` in its store, pulled from a catalog file
/// (any x86-64 ELF will do: these images are checked, not booted).
fn home() -> TestHome {
    let home = TestHome::new();
    let dir = home.root().join("catalog");
    fs::create_dir_all(&dir).unwrap();
    let kernel = dir.join("vmlinux");
    fs::copy(common::banger_bin(), &kernel).unwrap();
    let bytes = fs::read(&kernel).unwrap();
    let catalog = serde_json::json!({
        "schema": 1,
        "kernels": [{
            "name": "tiny", "version": "6.1.0-tiny", "arch": "x86_64", "description": "test",
            "artifacts": { "kernel": {
                "url": "vmlinux", "size": bytes.len(),
                "sha256": common::registry::sha256_hex(&bytes)
            } }
        }]
    });
    fs::write(dir.join("catalog.json"), catalog.to_string()).unwrap();
    home.write_config(&format!(
        "web_listen_addr = \"127.0.0.1:0\"\nkernel_catalog = \"{}\"\n",
        dir.join("catalog.json").display()
    ));
    home.banger(&["kernel", "pull", "tiny"]).ok();
    home
}

fn pull(home: &TestHome, reference: &str, extra: &[&str]) -> Run {
    let mut args = vec!["image", "pull", reference, "--kernel-ref", "tiny", "--json"];
    args.extend(extra);
    home.banger(&args)
}

/// The bones of a systemd image: its init, so banger knows how to start
/// the agent.
fn systemd_bones(root: &Path) {
    fs::create_dir_all(root.join("sbin")).unwrap();
    fs::create_dir_all(root.join("lib/systemd")).unwrap();
    fs::write(root.join("lib/systemd/systemd"), "#!/bin/sh\n").unwrap();
    std::os::unix::fs::symlink("/lib/systemd/systemd", root.join("sbin/init")).unwrap();
}

/// A tar layer written by hand (for what umoci never writes).
struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    fn new() -> Tar {
        Tar(tar::Builder::new(Vec::new()))
    }

    fn entry(mut self, kind: tar::EntryType, name: &[u8], data: &[u8]) -> Tar {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        // Raw name bytes: the builder would refuse `..`.
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    fn file(self, name: &str, data: &str) -> Tar {
        self.entry(tar::EntryType::Regular, name.as_bytes(), data.as_bytes())
    }

    fn xattr_file(mut self, name: &str, key: &str, value: &[u8]) -> Tar {
        let k = format!("SCHILY.xattr.{key}");
        self.0.append_pax_extensions([(k.as_str(), value)]).unwrap();
        self.file(name, "x")
    }

    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

fn image_dir(home: &TestHome, image: &serde_json::Value) -> PathBuf {
    let rootfs = PathBuf::from(image["rootfs"].as_str().unwrap());
    assert!(rootfs.starts_with(home.root().join("data/banger/images")));
    rootfs.parent().unwrap().to_owned()
}

fn staging_is_empty(home: &TestHome) {
    let tmp = home.root().join("data/banger/tmp");
    let left: Vec<_> = fs::read_dir(&tmp)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in staging: {left:?}");
}

fn no_images(home: &TestHome) {
    assert_eq!(
        home.banger(&["image", "list", "--json"]).ok().json(),
        serde_json::json!([])
    );
    let images = home.root().join("data/banger/images");
    let left = fs::read_dir(&images).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "artifacts left in {}", images.display());
    staging_is_empty(home);
}

#[test]
fn layers_whiteouts_opaque_dirs_links_owners_setuid_and_xattrs() {
    let work = tempfile::tempdir().unwrap();
    let layout = Layout::new(work.path());
    layout.new_image("v1");
    layout.layer("v1", |root| {
        systemd_bones(root);
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/hello"), "first\n").unwrap();
        fs::write(root.join("etc/gone"), "deleted in layer 2\n").unwrap();
        std::os::unix::fs::symlink("hello", root.join("etc/link")).unwrap();
        fs::create_dir_all(root.join("opt/data")).unwrap();
        fs::write(root.join("opt/data/a"), "a").unwrap();
        fs::write(root.join("opt/data/b"), "b").unwrap();
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        fs::write(root.join("usr/bin/tool"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(
            root.join("usr/bin/tool"),
            fs::Permissions::from_mode(0o4755),
        )
        .unwrap();
        fs::hard_link(root.join("usr/bin/tool"), root.join("usr/bin/tool2")).unwrap();
        fs::create_dir_all(root.join("home/dev")).unwrap();
        fs::write(root.join("home/dev/notes"), "mine").unwrap();
        std::os::unix::fs::chown(root.join("home/dev"), Some(1000), Some(1000)).unwrap();
        std::os::unix::fs::chown(root.join("home/dev/notes"), Some(1000), Some(1000)).unwrap();
        fs::create_dir_all(root.join("root")).unwrap();
        fs::write(root.join("root/.profile"), "export FROM_IMAGE=1\n").unwrap();
    });
    layout.layer("v1", |root| {
        fs::remove_file(root.join("etc/gone")).unwrap();
        fs::write(root.join("etc/hello"), "second\n").unwrap();
    });
    layout.raw_layer(
        "v1",
        &Tar::new()
            .entry(tar::EntryType::Directory, b"opt/data/", b"")
            .file("opt/data/.wh..wh..opq", "")
            .file("opt/data/c", "c")
            .xattr_file("usr/bin/noted", "user.banger", b"kept")
            .bytes(),
    );
    let registry = Registry::start();
    let reference = registry.push(&layout, "v1", "test/multi:v1");

    let home = home();
    let image = pull(&home, &reference, &["--name", "multi"]).ok().json();
    assert_eq!(image["name"], "multi");
    assert_eq!(image["managed"], true);
    assert_eq!(image["kernel_ref"], "tiny");
    let source = image["source"].as_str().unwrap();
    assert!(
        source.starts_with(&format!("{reference}@sha256:")),
        "{source}"
    );
    let dir = image_dir(&home, &image);
    let rootfs = dir.join("rootfs.ext4");
    e2fsck_clean(&rootfs);
    e2fsck_clean(&dir.join("work-seed.ext4"));

    assert_eq!(debugfs(&rootfs, "cat /etc/hello"), "second\n");
    assert!(debugfs(&rootfs, "stat /etc/gone").is_empty(), "whiteout");
    let data = debugfs(&rootfs, "ls /opt/data");
    assert!(data.contains(" c ") || data.contains("  c"), "{data}");
    for hidden in ["  a ", "  b "] {
        assert!(!data.contains(hidden), "opaque dir kept {hidden:?}: {data}");
    }
    assert!(!data.contains(".wh."), "{data}");
    let link = debugfs(&rootfs, "stat /etc/link");
    assert!(
        link.contains("Type: symlink") && link.contains("Fast link dest: \"hello\""),
        "{link}"
    );
    let tool = debugfs(&rootfs, "stat /usr/bin/tool");
    assert!(tool.contains("Mode:  04755"), "setuid: {tool}");
    assert!(tool.contains("Links: 2"), "hard link: {tool}");
    let inode = |s: &str| s.split_whitespace().nth(1).unwrap().to_owned();
    assert_eq!(
        inode(&tool),
        inode(&debugfs(&rootfs, "stat /usr/bin/tool2"))
    );
    for path in ["/home/dev", "/home/dev/notes"] {
        let st = debugfs(&rootfs, &format!("stat {path}"));
        assert!(st.contains("User:  1000   Group:  1000"), "{path}: {st}");
    }
    let ea = debugfs(&rootfs, "ea_list /usr/bin/noted");
    assert!(ea.contains("user.banger") && ea.contains("kept"), "{ea}");

    // banger's guest parts, root-owned.
    let agent = debugfs(&rootfs, "stat /usr/local/lib/banger/banger-vsock-agent");
    assert!(
        agent.contains("Mode:  0755") && agent.contains("User:     0"),
        "{agent}"
    );
    assert!(
        debugfs(&rootfs, "cat /etc/fstab").contains("/dev/vdb /root ext4"),
        "fstab"
    );
    assert!(
        debugfs(
            &rootfs,
            "stat /etc/systemd/system/multi-user.target.wants/banger-vsock-agent.service"
        )
        .contains("Type: symlink")
    );
    // No sshd in this image: the first boot installs it.
    assert!(
        debugfs(
            &rootfs,
            "cat /etc/systemd/system/banger-install-sshd.service"
        )
        .contains("ConditionPathExists=!/usr/sbin/sshd")
    );
    assert!(debugfs(&rootfs, "cat /usr/local/lib/banger/install-sshd").contains("apt-get"));
    // The image's /root is the work-seed (the work disk is mounted there).
    assert_eq!(
        debugfs(&dir.join("work-seed.ext4"), "cat /.profile"),
        "export FROM_IMAGE=1\n"
    );

    let show = home.banger(&["image", "show", "multi"]).ok().stdout;
    assert!(show.contains(source), "{show}");
    staging_is_empty(&home);

    // A second pull takes every layer from the cache: the registry no
    // longer has them.
    for layer in layout.manifest("v1")["layers"].as_array().unwrap() {
        fs::remove_file(registry.blob_file(layer["digest"].as_str().unwrap())).unwrap();
    }
    let again = pull(&home, &reference, &[]).ok().json();
    assert_eq!(again["name"], "multi-v1", "default name from the reference");
    let again_rootfs = PathBuf::from(again["rootfs"].as_str().unwrap());
    assert_eq!(debugfs(&again_rootfs, "cat /etc/hello"), "second\n");
    // The name is taken now.
    let dup = pull(&home, &reference, &[]);
    assert_ne!(dup.code, 0);
    assert!(
        dup.stderr
            .contains("an image named `multi-v1` exists already"),
        "{}",
        dup.stderr
    );
}

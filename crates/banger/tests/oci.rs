//! `banger image pull` against a real registry (Debian's docker-registry on
//! 127.0.0.1) with images built by umoci and pushed by skopeo; the produced
//! ext4 images are checked with e2fsck and debugfs.

mod common;

use base64::Engine;
use common::registry::{Layout, Registry, debugfs, e2fsck_clean};
use common::{Run, TestHome};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A daemon with a kernel `tiny` in its store, pulled from a catalog file
/// (any x86-64 ELF will do: these images are checked, not booted).
fn home() -> TestHome {
    let home = common::tiny_catalog_home();
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
    let rootfs = rootfs_of(image);
    assert!(rootfs.starts_with(home.root().join("data/banger/images")));
    rootfs.parent().unwrap().to_owned()
}

/// The rootfs file of an image as `--json` prints it.
fn rootfs_of(image: &serde_json::Value) -> PathBuf {
    PathBuf::from(image["rootfs"].as_str().unwrap())
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
    let again_rootfs = rootfs_of(&again);
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

/// A one-layer systemd image `tag` whose /etc/which says `which`.
fn small_image(layout: &Layout, tag: &str, which: &str) {
    layout.new_image(tag);
    layout.layer(tag, |root| {
        systemd_bones(root);
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/which"), which).unwrap();
    });
}

#[test]
fn zstd_layers_multi_arch_indexes_digests_and_docker_v2() {
    let work = tempfile::tempdir().unwrap();
    let layout = Layout::new(work.path());
    small_image(&layout, "amd", "amd64");
    small_image(&layout, "arm", "arm64");
    layout.set_arch("arm", "arm64");
    let multi_layout = Layout::named(work.path(), "multi");
    layout.zstd_copy("amd", &multi_layout, "amd-zstd");
    layout.copy("arm", &multi_layout, "arm");
    let zstd = multi_layout.manifest("amd-zstd");
    assert_eq!(
        zstd["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    multi_layout.index_of(
        "multi",
        &[
            ("arm", "linux", "arm64", Some("v8")),
            ("amd-zstd", "linux", "amd64", None),
        ],
    );
    let registry = Registry::start();
    let multi = registry.push(&multi_layout, "multi", "test/multi:1");
    let arm_only = registry.push(&layout, "arm", "test/arm:1");
    let docker = registry.push_docker_v2(&layout, "amd", "test/docker:1");
    // The same platforms as a Docker manifest list (skopeo converts the index).
    layout.index_of(
        "list",
        &[
            ("amd", "linux", "amd64", None),
            ("arm", "linux", "arm64", Some("v8")),
        ],
    );
    let list = registry.push_docker_v2(&layout, "list", "test/list:1");

    let home = home();
    // The index's amd64 entry (by default), whose layer is zstd.
    let image = pull(&home, &multi, &["--name", "amd"]).ok().json();
    let rootfs = rootfs_of(&image);
    assert_eq!(debugfs(&rootfs, "cat /etc/which"), "amd64");
    e2fsck_clean(&rootfs);
    let source = image["source"].as_str().unwrap();
    assert!(
        source.ends_with(
            multi_layout.descriptor("amd-zstd")["digest"]
                .as_str()
                .unwrap()
        ),
        "the platform's manifest: {source}"
    );
    // Another platform from the same index.
    let arm = pull(
        &home,
        &multi,
        &["--name", "arm", "--platform", "linux/arm64"],
    )
    .ok()
    .json();
    let rootfs = rootfs_of(&arm);
    assert_eq!(debugfs(&rootfs, "cat /etc/which"), "arm64");

    // A platform the index lacks is named, with what it has.
    let missing = pull(
        &home,
        &multi,
        &["--name", "s390", "--platform", "linux/s390x"],
    );
    assert_ne!(missing.code, 0);
    assert!(
        missing
            .stderr
            .contains("has no image for linux/s390x; it has: linux/arm64/v8, linux/amd64"),
        "{}",
        missing.stderr
    );
    // A single-platform image of another architecture, likewise.
    let wrong = pull(&home, &arm_only, &["--name", "armonly"]);
    assert!(
        wrong
            .stderr
            .contains("has no image for linux/amd64; it has: linux/arm64"),
        "{}",
        wrong.stderr
    );
    // By digest: the index's, which resolves as the tag did.
    let index_digest = multi_layout.descriptor("multi")["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_digest = format!("{}/test/multi@{index_digest}", registry.addr);
    let pinned = pull(&home, &by_digest, &[]).ok().json();
    assert_eq!(pinned["name"], format!("multi-{}", &index_digest[7..19]));
    let rootfs = rootfs_of(&pinned);
    assert_eq!(debugfs(&rootfs, "cat /etc/which"), "amd64");
    // Docker's v2 schema 2 media types (manifest and gzip layers).
    let v2 = pull(&home, &docker, &["--name", "docker-v2"]).ok().json();
    let rootfs = rootfs_of(&v2);
    assert_eq!(debugfs(&rootfs, "cat /etc/which"), "amd64");
    e2fsck_clean(&rootfs);

    let from_list = pull(
        &home,
        &list,
        &["--name", "from-list", "--platform", "linux/arm64"],
    )
    .ok()
    .json();
    let rootfs = rootfs_of(&from_list);
    assert_eq!(debugfs(&rootfs, "cat /etc/which"), "arm64");

    let small = pull(&home, &multi, &["--name", "small", "--size", "1M"]);
    assert!(
        small
            .stderr
            .contains("more than the --size of 1048576 bytes"),
        "{}",
        small.stderr
    );
    let bad = pull(&home, &multi, &["--platform", "linux"]);
    assert!(
        bad.stderr.contains("`linux` is not a platform"),
        "{}",
        bad.stderr
    );
    let names: Vec<String> = home
        .banger(&["image", "list", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect();
    let mut want = vec![
        "amd".to_owned(),
        "arm".to_owned(),
        "docker-v2".to_owned(),
        "from-list".to_owned(),
        format!("multi-{}", &index_digest[7..19]),
    ];
    want.sort();
    assert_eq!(names, want);
    staging_is_empty(&home);
}

#[test]
fn corrupt_blobs_escaping_entries_and_foreign_inits_leave_nothing() {
    let work = tempfile::tempdir().unwrap();
    let layout = Layout::new(work.path());
    small_image(&layout, "good", "good");
    small_image(&layout, "evil", "evil");
    layout.raw_layer(
        "evil",
        &Tar::new()
            .entry(tar::EntryType::Regular, b"../../escaped", b"pwned")
            .bytes(),
    );
    // sysvinit running its own rc: an init banger cannot start its agent
    // under.
    layout.new_image("sysv");
    layout.layer("sysv", |root| {
        fs::create_dir_all(root.join("sbin")).unwrap();
        fs::create_dir_all(root.join("etc/init.d")).unwrap();
        fs::write(root.join("sbin/init"), "ELF").unwrap();
        fs::write(root.join("etc/inittab"), "").unwrap();
        fs::write(root.join("etc/init.d/rc"), "").unwrap();
    });
    // Alpine's shape: busybox init running OpenRC, openssh installed but not
    // enabled; Void's: runit as init, no sshd.
    layout.new_image("openrc");
    layout.layer("openrc", |root| {
        fs::create_dir_all(root.join("sbin")).unwrap();
        fs::create_dir_all(root.join("etc/init.d")).unwrap();
        fs::create_dir_all(root.join("usr/sbin")).unwrap();
        std::os::unix::fs::symlink("/bin/busybox", root.join("sbin/init")).unwrap();
        fs::write(root.join("sbin/openrc"), "").unwrap();
        fs::write(root.join("etc/init.d/sshd"), "").unwrap();
        fs::write(root.join("usr/sbin/sshd"), "").unwrap();
    });
    layout.new_image("runit");
    layout.layer("runit", |root| {
        fs::create_dir_all(root.join("sbin")).unwrap();
        fs::create_dir_all(root.join("etc/runit")).unwrap();
        std::os::unix::fs::symlink("runit-init", root.join("sbin/init")).unwrap();
        fs::write(root.join("sbin/runit-init"), "").unwrap();
        fs::write(root.join("etc/runit/1"), "").unwrap();
    });
    // busybox init and nothing for it to run (alpine's container image):
    // the agent takes its place.
    layout.new_image("alpine");
    layout.layer("alpine", |root| {
        fs::create_dir_all(root.join("sbin")).unwrap();
        std::os::unix::fs::symlink("/bin/busybox", root.join("sbin/init")).unwrap();
    });
    let registry = Registry::start();
    let good = registry.push(&layout, "good", "test/good:1");
    let evil = registry.push(&layout, "evil", "test/evil:1");
    let sysv = registry.push(&layout, "sysv", "test/sysv:1");
    let openrc = registry.push(&layout, "openrc", "test/openrc:1");
    let runit = registry.push(&layout, "runit", "test/runit:1");
    let alpine = registry.push(&layout, "alpine", "test/alpine:1");
    let home = home();

    // The registry serves other bytes than the digest says (same size).
    let layer = layout.manifest("good")["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let blob = registry.blob_file(&layer);
    let mut bytes = fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&blob, &bytes).unwrap();
    let corrupt = pull(&home, &good, &[]);
    assert_ne!(corrupt.code, 0);
    assert!(
        corrupt.stderr.contains(&layer) && corrupt.stderr.to_lowercase().contains("digest"),
        "{}",
        corrupt.stderr
    );
    no_images(&home);
    let cached = home
        .root()
        .join("data/banger/cache/blobs/sha256")
        .join(&layer[7..]);
    assert!(!cached.exists(), "an unverified blob must not be cached");
    assert!(!cached.with_extension("partial").exists());

    let escape = pull(&home, &evil, &[]);
    assert_ne!(escape.code, 0);
    assert!(
        escape
            .stderr
            .contains("layer entry `../../escaped` escapes the root"),
        "{}",
        escape.stderr
    );
    no_images(&home);
    for dir in [
        home.root().to_owned(),
        home.root().join("data"),
        home.root().join("data/banger"),
    ] {
        assert!(!dir.join("escaped").exists(), "written outside the root");
    }

    let other_init = pull(&home, &sysv, &[]);
    assert_ne!(other_init.code, 0);
    assert!(
        other_init.stderr.contains(
            "the image's /sbin/init is /sbin/init, and neither systemd, OpenRC nor runit"
        ),
        "{}",
        other_init.stderr
    );
    no_images(&home);
    // OpenRC and runit images get the agent as their init's service.
    let rootfs = rootfs_of(&pull(&home, &openrc, &[]).ok().json());
    let stat = |path: &str| debugfs(&rootfs, &format!("stat {path}"));
    assert!(stat("/etc/init.d/banger-vsock-agent").contains("Mode:  0755"));
    assert!(
        stat("/etc/runlevels/default/banger-vsock-agent")
            .contains("Fast link dest: \"/etc/init.d/banger-vsock-agent\""),
    );
    assert!(stat("/etc/runlevels/default/sshd").contains("Fast link dest: \"/etc/init.d/sshd\""));
    assert!(
        stat("/sbin/init").contains("Fast link dest: \"/bin/busybox\""),
        "the image's own init stays"
    );
    e2fsck_clean(&rootfs);
    home.banger(&["image", "delete", "openrc-1"]).ok();
    let rootfs = rootfs_of(&pull(&home, &runit, &[]).ok().json());
    let run = debugfs(&rootfs, "cat /etc/sv/banger-vsock-agent/run");
    assert!(
        run.contains("exec /usr/local/lib/banger/banger-vsock-agent serve"),
        "{run}"
    );
    assert!(
        debugfs(
            &rootfs,
            "stat /etc/runit/runsvdir/default/banger-vsock-agent"
        )
        .contains("Fast link dest: \"/etc/sv/banger-vsock-agent\"")
    );
    // No sshd: its first-boot install, as a runit service.
    assert!(debugfs(&rootfs, "cat /etc/sv/banger-install-sshd/run").contains("install-sshd"));
    home.banger(&["image", "delete", "runit-1"]).ok();
    let bare = pull(&home, &alpine, &[]).ok().json();
    let rootfs = rootfs_of(&bare);
    let init = debugfs(&rootfs, "stat /sbin/init");
    assert!(
        init.contains("Fast link dest: \"/usr/local/lib/banger/banger-vsock-agent\""),
        "{init}"
    );
    home.banger(&["image", "delete", "alpine-1"]).ok();

    // Bad input is refused before anything is fetched.
    let r = pull(&home, "Not/A/Reference:", &[]);
    assert!(
        r.stderr.contains("is not an image reference"),
        "{}",
        r.stderr
    );
    let r = home.banger(&["image", "pull", &good, "--kernel-ref", "nope"]);
    assert!(r.stderr.contains("no kernel named `nope`"), "{}", r.stderr);
    let r = pull(&home, &good, &["--name", "../x"]);
    assert!(r.stderr.contains("invalid image name"), "{}", r.stderr);
    no_images(&home);
}

#[test]
fn registries_with_htpasswd_auth_take_docker_config_credentials() {
    let work = tempfile::tempdir().unwrap();
    let layout = Layout::new(work.path());
    small_image(&layout, "v1", "private");
    let registry = Registry::with_auth("alice", "wonderland");
    let reference = registry.push(&layout, "v1", "team/private:v1");
    let home = home();

    let anonymous = pull(&home, &reference, &[]);
    assert_ne!(anonymous.code, 0);
    let docker_config = home.root().join("home/.docker/config.json");
    assert!(
        anonymous.stderr.contains(&format!(
            "not authorized; banger pulled anonymously: {} has no credentials for {}",
            docker_config.display(),
            registry.addr
        )),
        "{}",
        anonymous.stderr
    );
    no_images(&home);

    // What `docker login` writes: base64 of user:password under the registry.
    let docker = home.root().join("home/.docker");
    fs::create_dir_all(&docker).unwrap();
    let login = |user_password: &str| {
        let auth = base64::engine::general_purpose::STANDARD.encode(user_password);
        let entry = serde_json::json!({ "auths": { registry.addr.clone(): { "auth": auth } } });
        fs::write(docker.join("config.json"), entry.to_string()).unwrap();
    };
    login("alice:wonderland");
    let image = pull(&home, &reference, &[]).ok().json();
    let rootfs = rootfs_of(&image);
    assert_eq!(debugfs(&rootfs, "cat /etc/which"), "private");

    // Wrong credentials are refused, not silently anonymous.
    login("alice:guess");
    let wrong = pull(&home, &reference, &["--name", "again"]);
    assert!(
        wrong.stderr.contains(&format!(
            "not authorized; the registry refused the credentials for {} in {}",
            registry.addr,
            docker_config.display()
        )),
        "{}",
        wrong.stderr
    );
}

/// An image `tag` with `mib` MiB of incompressible data in its layer, so
/// its blob arrives in many chunks.
fn big_image(layout: &Layout, tag: &str, mib: usize) {
    layout.new_image(tag);
    layout.layer(tag, |root| {
        systemd_bones(root);
        let mut data = vec![0u8; mib << 20];
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for b in data.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        fs::write(root.join("blob.bin"), &data).unwrap();
    });
}

#[test]
fn an_interrupted_download_resumes_from_what_it_left() {
    let work = tempfile::tempdir().unwrap();
    let layout = Layout::new(work.path());
    big_image(&layout, "big", 4);
    let registry = Registry::start();
    let reference = registry.push(&layout, "big", "test/resume:1");
    let home = home();
    let layer = layout.manifest("big")["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let blob = layout.blob(&layer);
    let cache = home.root().join("data/banger/cache/blobs/sha256");
    fs::create_dir_all(&cache).unwrap();
    let partial = cache.join(format!("{}.partial", &layer[7..]));
    let half = blob.len() / 2;

    // A prefix that is not the blob's: the pull used it (a fresh download
    // would have succeeded), could not unpack it, and dropped it, so the
    // next pull is not stuck on it.
    let mut wrong = blob[..half].to_vec();
    wrong[100] ^= 0xff;
    fs::write(&partial, &wrong).unwrap();
    let failed = pull(&home, &reference, &["--name", "first"]);
    assert!(
        failed.stderr.contains(
            "whose download resumed an earlier interrupted one: that partial download is now discarded"
        ),
        "{}",
        failed.stderr
    );
    assert!(
        !partial.exists(),
        "a partial that did not unpack is removed"
    );
    no_images(&home);
    // A prefix whose bytes still unpack (the last byte of a file's data
    // changed): caught by the digest, and dropped too.
    let mut subtle = blob[..half].to_vec();
    *subtle.last_mut().unwrap() ^= 0x01;
    fs::write(&partial, &subtle).unwrap();
    let failed = pull(&home, &reference, &["--name", "second"]);
    assert_ne!(failed.code, 0);
    assert!(!partial.exists(), "{}", failed.stderr);
    no_images(&home);

    // The first half of the real blob, as an interrupted pull leaves it:
    // the rest comes from the registry and the whole checks out.
    fs::write(&partial, &blob[..half]).unwrap();
    let image = pull(&home, &reference, &["--name", "resumed"]).ok().json();
    assert_eq!(fs::read(cache.join(&layer[7..])).unwrap(), blob);
    assert!(!partial.exists());
    e2fsck_clean(Path::new(image["rootfs"].as_str().unwrap()));
}

#[test]
fn parallel_pulls_of_one_layer_download_it_once() {
    let work = tempfile::tempdir().unwrap();
    let layout = Layout::new(work.path());
    big_image(&layout, "big", 32);
    let registry = Registry::start();
    let reference = registry.push(&layout, "big", "test/big:1");
    let home = home();
    let runs: Vec<Run> = std::thread::scope(|s| {
        let a = s.spawn(|| pull(&home, &reference, &["--name", "one"]));
        let b = s.spawn(|| pull(&home, &reference, &["--name", "two"]));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    for r in runs {
        r.ok();
    }
    let layer = layout.manifest("big")["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let cached = home
        .root()
        .join("data/banger/cache/blobs/sha256")
        .join(&layer[7..]);
    assert!(cached.is_file());
    staging_is_empty(&home);
}

/// Three pulls at once, two of the same image and one that shares its base
/// layer: each is whole (one blob cache, written by all of them), the
/// same-name pull is refused, nothing is left in staging.
#[test]
fn parallel_pulls_sharing_layers_each_get_a_whole_image() {
    let work = tempfile::tempdir().unwrap();
    let layout = Layout::new(work.path());
    layout.new_image("base");
    layout.layer("base", |root| {
        systemd_bones(root);
        fs::create_dir_all(root.join("usr/share/big")).unwrap();
        for i in 0..200 {
            fs::write(root.join(format!("usr/share/big/{i}")), vec![b'x'; 40_000]).unwrap();
        }
    });
    layout.copy("base", &layout, "app");
    layout.layer("app", |root| {
        fs::write(root.join("app"), "on top\n").unwrap();
    });
    let registry = Registry::start();
    let base = registry.push(&layout, "base", "test/base:1");
    let app = registry.push(&layout, "app", "test/app:1");

    let home = home();
    let runs: Vec<(&str, &str)> = vec![("b1", &base), ("a1", &app), ("b1", &base)];
    let outs: Vec<Run> = std::thread::scope(|s| {
        let running: Vec<_> = runs
            .iter()
            .map(|(name, reference)| s.spawn(|| pull(&home, reference, &["--name", name])))
            .collect();
        running.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let ok: Vec<&Run> = outs.iter().filter(|o| o.code == 0).collect();
    assert_eq!(ok.len(), 2, "{outs:?}");
    let refused: Vec<&Run> = outs.iter().filter(|o| o.code != 0).collect();
    assert!(
        refused[0].stderr.contains("b1") && refused[0].stderr.contains("exists"),
        "{}",
        refused[0].stderr
    );
    for name in ["b1", "a1"] {
        let image = home.banger(&["image", "show", name, "--json"]).ok().json();
        let rootfs = rootfs_of(&image);
        e2fsck_clean(&rootfs);
        assert_eq!(debugfs(&rootfs, "cat /usr/share/big/199").len(), 40_000);
    }
    let app_root = rootfs_of(&home.banger(&["image", "show", "a1", "--json"]).ok().json());
    assert_eq!(debugfs(&app_root, "cat /app"), "on top\n");
    staging_is_empty(&home);
}

use super::*;
use banger_api::image::RegisterImage;
use banger_config::Paths;
use std::fs;
use std::path::{Path, PathBuf};

pub(crate) struct Fixture {
    pub dir: tempfile::TempDir,
    pub paths: Paths,
    pub store: Store,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let paths = Paths {
            config_file: root.join("c/config.toml"),
            config_dir: root.join("c"),
            data_dir: root.join("data"),
            state_dir: root.join("s"),
            runtime_dir: root.join("r"),
            docker_config: None,
            home: None,
        };
        fs::create_dir_all(&paths.data_dir).unwrap();
        let store = Store::open(&paths.database()).unwrap();
        Fixture { dir, paths, store }
    }

    /// A real (small) ext4 image made by mkfs.ext4.
    pub fn ext4(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        let ok = std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F"])
            .arg(&p)
            .arg("16M")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success());
        p
    }

    /// Any x86-64 ELF passes the kernel check; this test binary is one.
    pub fn vmlinux(&self) -> PathBuf {
        let p = self.dir.path().join("vmlinux");
        fs::copy(std::env::current_exe().unwrap(), &p).unwrap();
        p
    }

    pub fn modules(&self) -> PathBuf {
        let p = self.dir.path().join("lib/modules/6.1.0-test");
        fs::create_dir_all(p.join("kernel/drivers/block")).unwrap();
        fs::write(p.join("kernel/drivers/block/virtio_blk.ko"), "ko").unwrap();
        fs::write(
            p.join("modules.order"),
            "kernel/drivers/block/virtio_blk.ko\n",
        )
        .unwrap();
        p
    }

    pub fn full_request(&self, name: &str) -> RegisterImage {
        RegisterImage {
            name: name.into(),
            rootfs: s(&self.ext4("root.ext4")),
            work_seed: Some(s(&self.ext4("seed.ext4"))),
            kernel: Some(s(&self.vmlinux())),
            initrd: Some(s(&self.file("initrd.img", "cpio"))),
            modules: Some(s(&self.modules())),
            kernel_ref: None,
        }
    }

    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        fs::write(&p, text).unwrap();
        p
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn err(f: &Fixture, req: RegisterImage) -> String {
    let e = register(&f.store, req, 1).unwrap_err().to_string();
    assert!(
        f.store.images().unwrap().is_empty(),
        "nothing recorded after: {e}"
    );
    e
}

#[test]
fn register_validates_every_artifact() {
    let f = Fixture::new();
    let good = f.full_request("base");
    let text = s(&f.file("notes.txt", "hello"));
    let cases: Vec<(RegisterImage, &str)> = vec![
        (
            RegisterImage {
                name: "bad name".into(),
                ..good.clone()
            },
            "invalid image name",
        ),
        (
            RegisterImage {
                rootfs: "rel/root.ext4".into(),
                ..good.clone()
            },
            "rootfs path `rel/root.ext4` is not absolute",
        ),
        (
            RegisterImage {
                rootfs: "/nonexistent/root.ext4".into(),
                ..good.clone()
            },
            "rootfs /nonexistent/root.ext4",
        ),
        (
            RegisterImage {
                rootfs: text.clone(),
                ..good.clone()
            },
            "is not an ext4 filesystem image",
        ),
        (
            RegisterImage {
                work_seed: Some(text.clone()),
                ..good.clone()
            },
            "work-seed",
        ),
        (
            RegisterImage {
                kernel: Some(text.clone()),
                ..good.clone()
            },
            "neither an x86-64 ELF vmlinux nor a bzImage",
        ),
        (
            RegisterImage {
                modules: Some(s(f.dir.path())),
                ..good.clone()
            },
            "does not look like a lib/modules/<version>",
        ),
        (
            RegisterImage {
                kernel: None,
                ..good.clone()
            },
            "--initrd and --modules go with --kernel",
        ),
        (
            RegisterImage {
                kernel: None,
                initrd: None,
                modules: None,
                ..good.clone()
            },
            "a kernel is required",
        ),
        (
            RegisterImage {
                kernel_ref: Some("generic-6.1".into()),
                ..good.clone()
            },
            "not both",
        ),
        (
            RegisterImage {
                kernel: None,
                initrd: None,
                modules: None,
                kernel_ref: Some("nope".into()),
                ..good.clone()
            },
            "no kernel named `nope`",
        ),
    ];
    for (req, want) in cases {
        let e = err(&f, req);
        assert!(e.contains(want), "want {want:?} in {e:?}");
    }
    let e = err(
        &f,
        RegisterImage {
            rootfs: "/nonexistent/root.ext4".into(),
            ..good
        },
    );
    assert_eq!(e, "rootfs /nonexistent/root.ext4");
}

#[test]
fn a_rootfs_whose_init_banger_cannot_serve_is_refused_naming_it() {
    let f = Fixture::new();
    let tree = |files: &[&str]| {
        let t = tempfile::tempdir().unwrap();
        for file in files {
            let p = t.path().join(file.trim_start_matches('/'));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, "elf").unwrap();
        }
        let img = f
            .dir
            .path()
            .join(format!("{}.ext4", files.join("_").replace('/', "-")));
        let ok = std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F", "-d"])
            .arg(t.path())
            .arg(&img)
            .arg("16M")
            .status()
            .unwrap()
            .success();
        assert!(ok);
        s(&img)
    };
    let req = RegisterImage {
        rootfs: tree(&["/sbin/init", "/etc/inittab", "/etc/init.d/rc"]),
        ..f.full_request("sysv")
    };
    let e = err(&f, req);
    assert!(e.contains("its init is SysV init"), "{e}");
    // OpenRC and runit are served.
    for (name, files) in [
        (
            "openrc",
            &["/sbin/openrc", "/etc/inittab", "/etc/init.d/rc"][..],
        ),
        ("runit", &["/sbin/runit-init", "/etc/runit/1"][..]),
    ] {
        let req = RegisterImage {
            rootfs: tree(files),
            ..f.full_request(name)
        };
        register(&f.store, req, 1).unwrap();
    }
    // systemd beside runit's service manager is served.
    let req = RegisterImage {
        rootfs: tree(&["/lib/systemd/systemd", "/sbin/runit"]),
        ..f.full_request("debian")
    };
    register(&f.store, req, 1).unwrap();
}

#[test]
fn names_are_unique() {
    let f = Fixture::new();
    register(&f.store, f.full_request("base"), 1).unwrap();
    let e = register(&f.store, f.full_request("base"), 2).unwrap_err();
    assert_eq!(e.to_string(), "an image named `base` already exists");
    assert_eq!(e.kind(), banger_api::ErrorKind::Conflict);
}

#[test]
fn register_promote_delete_round_trip() {
    let f = Fixture::new();
    let req = f.full_request("base");
    let image = register(&f.store, req.clone(), 1).unwrap();
    assert!(!image.managed);
    assert_eq!(image.rootfs, req.rootfs);
    assert_eq!(image.rootfs_bytes, 16 << 20);
    let source_before = fs::read(&req.rootfs).unwrap();

    let mut seen = Vec::new();
    let promoted = promote(&f.paths, &f.store, "base", &mut |what, _, _| {
        if seen.last() != Some(&what.to_owned()) {
            seen.push(what.to_owned())
        }
    })
    .unwrap();
    assert_eq!(seen, ["rootfs", "work-seed", "kernel", "initrd", "modules"]);
    let dir = f.paths.image_dir(&image.id);
    assert!(promoted.managed);
    assert_eq!(promoted.rootfs, s(&dir.join("rootfs.ext4")));
    assert_eq!(fs::read(dir.join("rootfs.ext4")).unwrap(), source_before);
    assert!(
        dir.join("work-seed.ext4").is_file()
            && dir.join("kernel").is_file()
            && dir.join("initrd.img").is_file()
    );
    assert!(
        dir.join("modules/kernel/drivers/block/virtio_blk.ko")
            .is_file()
    );
    assert_eq!(
        fs::read(&req.rootfs).unwrap(),
        source_before,
        "source untouched"
    );
    assert_eq!(get(&f.store, "base").unwrap(), promoted);
    assert_eq!(fs::read_dir(f.paths.staging_dir()).unwrap().count(), 0);
    let again = promote(&f.paths, &f.store, "base", &mut |_, _, _| {}).unwrap_err();
    assert!(matches!(again, ImageError::AlreadyManaged(_)));

    let deleted = delete(&f.paths, &f.store, "base").unwrap();
    assert_eq!(deleted.removed_dir, Some(s(&dir)));
    assert!(!dir.exists());
    assert!(
        Path::new(&req.rootfs).exists(),
        "the user's original is not the managed copy"
    );
    assert!(matches!(
        get(&f.store, "base"),
        Err(ImageError::NotFound(_))
    ));
}

#[test]
fn deleting_an_unmanaged_image_keeps_the_files() {
    let f = Fixture::new();
    let req = f.full_request("base");
    register(&f.store, req.clone(), 1).unwrap();
    let d = delete(&f.paths, &f.store, "base").unwrap();
    assert_eq!(d.removed_dir, None);
    assert!(Path::new(&req.rootfs).exists() && Path::new(req.kernel.as_deref().unwrap()).exists());
    assert!(matches!(
        delete(&f.paths, &f.store, "base"),
        Err(ImageError::NotFound(_))
    ));
}

#[test]
fn a_promote_that_fails_mid_copy_leaves_the_image_as_it_was() {
    let f = Fixture::new();
    let before = register(&f.store, f.full_request("base"), 1).unwrap();
    // Copies the rootfs, then fails like a full disk on the work-seed.
    let copier = |from: &Path, to: &Path, _: &mut dyn FnMut(u64, u64)| -> std::io::Result<()> {
        if to.ends_with("work-seed.ext4") {
            fs::write(to, "partial")?;
            return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
        }
        fs::copy(from, to).map(drop)
    };
    let e = promote_with(&f.paths, &f.store, "base", &mut |_, _, _| {}, &copier).unwrap_err();
    let chain = banger_api::ApiError::from_chain(banger_api::ErrorKind::Internal, &e)
        .chain
        .join(": ");
    assert!(
        chain.starts_with("copying work-seed from ") && chain.contains("No space left on device"),
        "{chain}"
    );
    assert_eq!(
        get(&f.store, "base").unwrap(),
        before,
        "still unmanaged, same paths"
    );
    assert!(!f.paths.image_dir(&before.id).exists());
    assert_eq!(
        fs::read_dir(f.paths.staging_dir()).unwrap().count(),
        0,
        "no staging left"
    );
    // And it is still usable: a real promote now works.
    assert!(
        promote(&f.paths, &f.store, "base", &mut |_, _, _| {})
            .unwrap()
            .managed
    );
}

#[test]
fn start_up_cleanup_removes_directories_no_image_owns() {
    let f = Fixture::new();
    let kept = register(&f.store, f.full_request("kept"), 1).unwrap();
    promote(&f.paths, &f.store, "kept", &mut |_, _, _| {}).unwrap();
    // A crash after the rename but before the record changed:
    let orphan = f.paths.image_dir("0123456789abcdef");
    fs::create_dir_all(&orphan).unwrap();
    fs::write(orphan.join("rootfs.ext4"), "x").unwrap();
    assert_eq!(clean_orphans(&f.paths, &f.store).unwrap(), 1);
    assert!(!orphan.exists());
    assert!(f.paths.image_dir(&kept.id).join("rootfs.ext4").exists());
}

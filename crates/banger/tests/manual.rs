//! The spec's manual helpers, `make alpine-*` and `make void-*`
//! (scripts/manual/), end to end against a mirror on 127.0.0.1 laid out as
//! Alpine's, Void's and the npm registry's are. Alpine's and Void's servers
//! are not reachable from here, so the artifacts are stand-ins this test
//! builds: the OpenRC and runit Debian images (images/openrc, images/runit)
//! packed as a "minirootfs" and a "ROOTFS" tarball, with a package manager
//! that records what it was asked to install, and Debian's cloud kernel
//! packed as Alpine's netboot bundle (bzImage + squashfs modloop) and as
//! the package Void's kernel comes in. What is real: the checked downloads,
//! the unpacking, the chroot, the service set-up, the ext4 images, the
//! kernel import and image register, and the boot under QEMU with banger's
//! agent as the init's service.

mod common;

use common::TestHome;
use common::registry::{debugfs, e2fsck_clean, sha256_hex};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

fn sh(script: &str) {
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sha_file(path: &Path) -> String {
    sha256_hex(&fs::read(path).unwrap())
}

/// The tree of an ext4 image, owners and modes kept.
fn unpack_image(image: &Path, dest: &Path) {
    fs::create_dir_all(dest).unwrap();
    sh(&format!(
        "debugfs -R 'rdump / {}' {} >/dev/null 2>&1; test -x {}/bin/sh",
        dest.display(),
        image.display(),
        dest.display()
    ));
}

/// Debian's cloud kernel: (bzImage, config, modules/<release>).
fn test_kernel(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let x = dir.join("deb");
    sh(&format!(
        "dpkg-deb -x {} {}",
        common::artifacts::test_deb().display(),
        x.display()
    ));
    let boot = fs::read_dir(x.join("boot")).unwrap();
    let mut vmlinuz = None;
    let mut config = None;
    for e in boot {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_owned();
        if name.starts_with("vmlinuz-") {
            vmlinuz = Some(p);
        } else if name.starts_with("config-") {
            config = Some(p);
        }
    }
    let modules = ["lib/modules", "usr/lib/modules"]
        .iter()
        .filter_map(|d| fs::read_dir(x.join(d)).ok())
        .flat_map(|r| r.map(|e| e.unwrap().path()))
        .next()
        .expect("the kernel package has lib/modules/<release>");
    (vmlinuz.unwrap(), config.unwrap(), modules)
}

fn write_exec(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A static file server on the loopback of the test's namespace.
struct Mirror {
    child: Child,
    url: String,
}

impl Drop for Mirror {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(home: &TestHome, root: &Path) -> Mirror {
    let port = 18000 + (std::process::id() % 2000) as u16;
    let child = home
        .ns()
        .command(Path::new("python3"))
        .args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
        .arg(root)
        .arg(port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let mirror = Mirror { child, url };
    for _ in 0..100 {
        let (rc, _) = home
            .ns()
            .sh(&format!("curl -fsS -o /dev/null {}/", mirror.url));
        if rc == 0 {
            return mirror;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the mirror did not start on {}", mirror.url);
}

/// `make TARGETS` in this checkout, in the test's home and namespace.
fn make(home: &TestHome, env: &[(&str, String)], targets: &[&str]) -> (bool, String) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut cmd = home.command(Path::new("make"));
    cmd.arg("-C")
        .arg(&repo)
        .arg("--no-print-directory")
        .args(targets);
    cmd.env("BANGER", home.cli());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The stand-in for Alpine 3.99.0 and opencode's musl build: the OpenRC
/// Debian system with an `apk` that records its arguments, its sshd service
/// under Alpine's name, and Debian's kernel as the netboot bundle.
fn alpine_mirror(work: &Path, web: &Path) -> Vec<(&'static str, String)> {
    let tree = work.join("alpine-tree");
    unpack_image(&common::artifacts::init_image("openrc"), &tree);
    write_exec(
        &tree.join("sbin/apk"),
        "#!/bin/sh\necho \"$*\" >> /var/log/stand-in-apk.log\n",
    );
    fs::create_dir_all(tree.join("etc/apk")).unwrap();
    // Alpine's sshd is an OpenRC script of its own (Debian's is LSB).
    write_exec(
        &tree.join("etc/init.d/sshd"),
        "#!/sbin/openrc-run\ncommand=/usr/sbin/sshd\ncommand_args=-D\nsupervisor=supervise-daemon\n\
         depend() { use localmount; after mountall; }\n\
         start_pre() { ssh-keygen -A; mkdir -p /run/sshd; }\n",
    );
    // Debian's LSB `ssh` also provides `sshd`: gone, as in Alpine.
    sh(&format!(
        "cd {} && rm -f etc/runlevels/default/ssh etc/init.d/ssh",
        tree.display()
    ));
    let rel = web.join("alpine/v3.99/releases/x86_64");
    fs::create_dir_all(&rel).unwrap();
    let mini = rel.join("alpine-minirootfs-3.99.0-x86_64.tar.gz");
    sh(&format!(
        "tar -C {} --numeric-owner -czf {} .",
        tree.display(),
        mini.display()
    ));

    let (vmlinuz, config, modules) = test_kernel(work);
    let bundle = work.join("netboot");
    let release = modules.file_name().unwrap().to_str().unwrap();
    sh(&format!(
        "mkdir -p {b}/boot {b}/loop/modules/firmware && cp {v} {b}/boot/vmlinuz-virt && cp {c} {b}/boot/config-virt \
         && cp -a {m} {b}/loop/modules/{release} && mksquashfs {b}/loop {b}/boot/modloop-virt -quiet -comp xz >/dev/null \
         && tar -C {b} -czf {rel}/alpine-netboot-3.99.0-x86_64.tar.gz boot",
        b = bundle.display(),
        v = vmlinuz.display(),
        c = config.display(),
        m = modules.display(),
        rel = rel.display(),
    ));

    let npm = web.join("npm/opencode-linux-x64-musl/-");
    let pkg = work.join("opencode/package/bin/opencode");
    write_exec(
        &pkg,
        "#!/bin/sh\ncase $1 in serve) exec sleep 1000000 ;; *) echo opencode stand-in ;; esac\n",
    );
    fs::create_dir_all(&npm).unwrap();
    let tgz = npm.join("opencode-linux-x64-musl-9.9.9.tgz");
    sh(&format!(
        "tar -C {} -czf {} package",
        work.join("opencode").display(),
        tgz.display()
    ));
    vec![
        ("ALPINE_RELEASE", "3.99.0".into()),
        ("ALPINE_MINIROOTFS_SHA256", sha_file(&mini)),
        (
            "ALPINE_NETBOOT_SHA256",
            sha_file(&rel.join("alpine-netboot-3.99.0-x86_64.tar.gz")),
        ),
        ("OPENCODE_MUSL_VERSION", "9.9.9".into()),
        ("OPENCODE_MUSL_SHA256", sha_file(&tgz)),
    ]
}

/// The stand-in for Void's ROOTFS of 20991231: the runit Debian system with
/// an `xbps-install` that records its arguments and installs the kernel
/// package from files it carries, an `xbps-query` that knows what it
/// installed, and its sshd service under Void's name.
fn void_mirror(work: &Path, web: &Path) -> Vec<(&'static str, String)> {
    let tree = work.join("void-tree");
    unpack_image(&common::artifacts::init_image("runit"), &tree);
    let (vmlinuz, config, modules) = test_kernel(work);
    let release = modules.file_name().unwrap().to_str().unwrap().to_owned();
    sh(&format!(
        "cd {t} && mkdir -p stand-in/modules && cp {v} stand-in/vmlinuz && cp {c} stand-in/config \
         && cp -a {m} stand-in/modules/ && rm -rf etc/sv/ssh etc/runit/runsvdir/default/ssh",
        t = tree.display(),
        v = vmlinuz.display(),
        c = config.display(),
        m = modules.display(),
    ));
    write_exec(
        &tree.join("usr/bin/xbps-install"),
        &format!(
            "#!/bin/sh\necho \"$*\" >> /var/log/stand-in-xbps.log\nmkdir -p /var/lib/stand-in-xbps\n\
             for p in \"$@\"; do case $p in -*) ;; *) touch /var/lib/stand-in-xbps/$p ;; esac; done\n\
             case \" $* \" in *' linux6.12 '*) mkdir -p /boot /usr/lib/modules && cp /stand-in/vmlinuz /boot/vmlinuz-{release} \
             && cp /stand-in/config /boot/config-{release} && cp -a /stand-in/modules/{release} /usr/lib/modules/ ;; esac\n"
        ),
    );
    // Void's sshd service, as Void's openssh package has it.
    write_exec(
        &tree.join("etc/sv/sshd/run"),
        "#!/bin/sh\nssh-keygen -A >/dev/null 2>&1\nmkdir -p /run/sshd\nexec /usr/sbin/sshd -D\n",
    );
    write_exec(
        &tree.join("usr/bin/xbps-query"),
        "#!/bin/sh\ntest -e /var/lib/stand-in-xbps/$1\n",
    );
    let live = web.join("void/live/20991231");
    fs::create_dir_all(&live).unwrap();
    let tarball = live.join("void-x86_64-ROOTFS-20991231.tar.xz");
    sh(&format!(
        "tar -C {} --numeric-owner -cf - . | xz -T0 -1 > {}",
        tree.display(),
        tarball.display()
    ));
    vec![
        ("VOID_ROOTFS_DATE", "20991231".into()),
        ("VOID_ROOTFS_SHA256", sha_file(&tarball)),
    ]
}

/// The tests that boot guests take turns: two emulated guests and a build
/// VM at once on two cores make every one of them slow.
fn one_guest_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn the_alpine_and_void_helpers_build_register_and_boot_their_images() {
    let work = tempfile::Builder::new().prefix("manual").tempdir().unwrap();
    let web = work.path().join("web");
    let (alpine_env, void_env) = std::thread::scope(|s| {
        let a = s.spawn(|| alpine_mirror(&work.path().join("a"), &web));
        let v = s.spawn(|| void_mirror(&work.path().join("v"), &web));
        (a.join().unwrap(), v.join().unwrap())
    });
    let _turn = one_guest_at_a_time();
    let home = TestHome::networked("web_listen_addr = \"\"\n");
    home.banger(&["daemon", "start"]).ok();
    let mirror = serve(&home, &web);
    let out = work.path().join("manual");
    let mut env: Vec<(&str, String)> = vec![
        ("MANUAL_DIR", out.to_str().unwrap().into()),
        ("ALPINE_MIRROR", format!("{}/alpine", mirror.url)),
        ("VOID_MIRROR", format!("{}/void", mirror.url)),
        ("NPM_REGISTRY", format!("{}/npm", mirror.url)),
    ];

    // A download whose sha256 is not the one given stops the helper,
    // naming both, and leaves nothing: no download, no kernel directory.
    let mut wrong = env.clone();
    wrong.extend(alpine_env.iter().cloned());
    wrong.retain(|(k, _)| *k != "ALPINE_NETBOOT_SHA256");
    wrong.push(("ALPINE_NETBOOT_SHA256", "0".repeat(64)));
    let (ok, text) = make(&home, &wrong, &["alpine-kernel"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!("expected {}", "0".repeat(64))),
        "{text}"
    );
    assert!(!out.join("alpine-kernel").exists());
    assert_eq!(fs::read_dir(out.join("downloads")).unwrap().count(), 0);
    // No pin for another release, and a mirror that is not HTTPS: the
    // published checksum is not trusted; the error names the remedy.
    let mut unpinned = env.clone();
    unpinned.push(("ALPINE_RELEASE", "3.99.0".into()));
    let (ok, text) = make(&home, &unpinned, &["alpine-kernel"]);
    assert!(
        !ok && text.contains("not HTTPS: set ALPINE_NETBOOT_SHA256"),
        "{text}"
    );

    env.extend(alpine_env);
    env.extend(void_env);
    let (ok, text) = make(
        &home,
        &env,
        &[
            "alpine-kernel",
            "rootfs-alpine",
            "alpine-register",
            "void-kernel",
            "rootfs-void",
            "void-register",
        ],
    );
    assert!(ok, "{text}");
    for f in [
        "alpine-kernel/vmlinuz",
        "alpine-kernel/release",
        "void-kernel/vmlinuz",
        "rootfs-alpine.ext4",
        "rootfs-alpine.work-seed.ext4",
        "rootfs-void.ext4",
        "rootfs-void.work-seed.ext4",
    ] {
        assert!(out.join(f).is_file(), "no build/manual/{f}:\n{text}");
    }
    for f in ["rootfs-alpine.ext4", "rootfs-void.ext4"] {
        e2fsck_clean(&out.join(f));
    }
    let alpine_rootfs = out.join("rootfs-alpine.ext4");
    let apk = debugfs(&alpine_rootfs, "cat /var/log/stand-in-apk.log");
    assert!(
        apk.contains("add --no-cache --quiet alpine-base openssh-server libstdc++ libgcc"),
        "{apk}"
    );
    let repos = debugfs(&alpine_rootfs, "cat /etc/apk/repositories");
    assert!(repos.contains("/alpine/v3.99/main"), "{repos}");
    let xbps = debugfs(
        &out.join("rootfs-void.ext4"),
        "cat /var/log/stand-in-xbps.log",
    );
    assert!(xbps.contains("-Suy xbps"), "{xbps}");
    assert!(xbps.contains("runit-void openssh iproute2"), "{xbps}");

    // The images are registered with their kernels, imported from the
    // staged files; a VM of each boots its own init with banger's agent.
    let kernels = home.banger(&["kernel", "list", "--json"]).ok().json();
    let names: Vec<&str> = kernels
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert!(names.iter().any(|n| n.starts_with("alpine-")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("void-")), "{names:?}");

    let alpine = home.vm("alpine-dev").image("alpine").create();
    assert_eq!(alpine.run(&["cat", "/proc/1/comm"]), "init");
    let status = alpine.run(&["rc-service", "banger-vsock-agent", "status"]);
    assert!(status.contains("started"), "{status}");
    assert_eq!(
        alpine.run(&["findmnt", "-no", "SOURCE", "/root"]),
        "/dev/vdb"
    );
    // opencode, its service given this VM's password by vm create.
    let oc = alpine.run(&["/usr/local/bin/opencode", "--version"]);
    assert_eq!(oc, "opencode stand-in");
    let env_mode = alpine.run(&["stat", "-c", "%a", "/etc/banger/opencode.env"]);
    assert_eq!(env_mode, "600");
    let status = alpine.run(&["rc-service", "opencode", "status"]);
    assert!(status.contains("started"), "{status}");
    let uname = home
        .banger(&["vm", "ssh", "alpine-dev", "--", "uname", "-r"])
        .ok();
    assert_eq!(uname.stdout.trim(), alpine.run(&["uname", "-r"]));

    let void = home.vm("void-dev").image("void").create();
    assert_eq!(void.run(&["cat", "/proc/1/comm"]), "runit");
    let status = void.run(&["sv", "status", "banger-vsock-agent"]);
    assert!(status.starts_with("run:"), "{status}");
    let status = void.run(&["sv", "status", "sshd"]);
    assert!(status.starts_with("run:"), "{status}");
    let uname = home
        .banger(&["vm", "ssh", "void-dev", "--", "uname", "-r"])
        .ok();
    assert_eq!(uname.stdout.trim(), void.run(&["uname", "-r"]));

    // Registering again names the image that is in the way.
    let (ok, text) = make(&home, &env, &["alpine-register"]);
    assert!(
        !ok && text.contains("an image named alpine exists"),
        "{text}"
    );
}

#[test]
fn make_rootfs_names_what_is_wrong_with_its_arguments_before_doing_anything() {
    let home = TestHome::new();
    let out = home.root().join("manual");
    let env = [("MANUAL_DIR", out.to_str().unwrap().to_owned())];
    let rootfs = |args: &str| {
        let mut env = env.to_vec();
        env.push(("ARGS", args.to_owned()));
        make(&home, &env, &["rootfs"])
    };
    for (args, says) in [
        ("", "--base-rootfs and --kernel are required"),
        (
            "--kernel /bin/true",
            "--base-rootfs and --kernel are required",
        ),
        (
            "--base-rootfs /nonexistent/rootfs.ext4 --kernel /bin/true",
            "/nonexistent/rootfs.ext4 does not exist",
        ),
        (
            "--base-rootfs /bin/true --kernel /bin/true --modules /bin/true",
            "/bin/true is not a directory",
        ),
        ("--base-rootfs", "--base-rootfs needs a value"),
        ("--docker yes", "unknown argument --docker"),
    ] {
        let (ok, text) = rootfs(args);
        assert!(!ok, "{args}: {text}");
        assert!(text.contains(says), "{args}: wanted {says:?} in {text}");
        assert!(!out.join("rootfs-docker.ext4").exists());
    }
}

/// `make rootfs` is `image build --docker` run on the base given as files:
/// the dev box with Docker comes out as two files, the temporary images it
/// made are gone, and the files boot as an image of their own. (The build
/// cache is filled once, outside the namespace; the build is offline.)
#[test]
fn make_rootfs_builds_a_docker_dev_box_from_the_files_given() {
    let cache = common::artifacts::build_cache();
    let golden = common::artifacts::golden_image();
    let _turn = one_guest_at_a_time();
    let home = TestHome::networked(&format!(
        "web_listen_addr = \"\"\nbuild_cache_dir = \"{}\"\n",
        cache.display()
    ));
    home.with_test_kernel("debian");
    let kernel = home
        .banger(&["kernel", "show", "debian", "--json"])
        .ok()
        .json();
    let kdir = PathBuf::from(kernel["dir"].as_str().unwrap());
    let out = home.root().join("manual");
    let args = format!(
        "--base-rootfs {} --kernel {} --initrd {} --modules {}",
        golden.display(),
        kdir.join("vmlinux").display(),
        kdir.join("initrd.img").display(),
        kdir.join("modules").display()
    );
    let golden_sum = sha_file(&golden);
    let (ok, text) = make(
        &home,
        &[("MANUAL_DIR", out.to_str().unwrap().into()), ("ARGS", args)],
        &["rootfs"],
    );
    assert!(ok, "{text}");
    assert!(
        text.contains("installing Docker Engine (docker.io)"),
        "{text}"
    );
    let rootfs = out.join("rootfs-docker.ext4");
    let seed = out.join("rootfs-docker.work-seed.ext4");
    e2fsck_clean(&rootfs);
    e2fsck_clean(&seed);
    let tools = debugfs(&rootfs, "cat /etc/banger/tools");
    assert!(tools.contains("docker\tDocker version"), "{tools}");
    assert!(tools.contains("opencode\t"), "{tools}");
    assert_eq!(sha_file(&golden), golden_sum, "the base is never written");
    let images = home.banger(&["image", "list", "--json"]).ok().json();
    assert_eq!(
        images.as_array().unwrap().len(),
        0,
        "temporary images left: {images}"
    );

    home.banger(&[
        "image",
        "register",
        "--name",
        "docker-dev",
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--work-seed",
        seed.to_str().unwrap(),
        "--kernel-ref",
        "debian",
    ])
    .ok();
    let vm = home.vm("d1").image("docker-dev").create();
    let docker = vm.run(&["docker", "--version"]);
    assert!(docker.starts_with("Docker version"), "{docker}");
}

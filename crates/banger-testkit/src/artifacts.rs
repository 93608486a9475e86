//! What real-guest tests boot: Debian's cloud kernel package, banger's
//! golden image, small busybox root filesystems, the static guest agent.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs one of the repository's `scripts/` (they build or fetch into the
/// test cache) and returns the path it prints.
fn from_script(name: &str) -> PathBuf {
    from_script_with(name, &[])
}

fn from_script_with(name: &str, args: &[&str]) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(name);
    let out = Command::new(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {name}: {e}"));
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Debian's cloud kernel package, downloaded once into a cache (see the script).
pub fn test_deb() -> PathBuf {
    from_script("fetch-test-kernel.sh")
}

/// A real ext4 image made by mkfs.ext4, optionally filled from `tree`.
pub fn mkfs(image: &Path, size: &str, tree: Option<&Path>) -> PathBuf {
    let mut cmd = Command::new("mkfs.ext4");
    cmd.args(["-q", "-F"]);
    if let Some(tree) = tree {
        cmd.arg("-d").arg(tree);
    }
    let ok = cmd
        .arg(image)
        .arg(size)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "mkfs.ext4 {}", image.display());
    image.to_owned()
}

/// An ext4 image `dir/name` holding busybox, optional `extra` files (guest
/// path, host file), and `/sbin/init` running `init_script` (busybox sh).
pub fn busybox_rootfs(
    dir: &Path,
    name: &str,
    init_script: &str,
    extra: &[(&str, &Path)],
) -> PathBuf {
    let tree = dir.join(format!("{name}.tree"));
    for d in [
        "bin", "sbin", "usr/bin", "dev", "proc", "sys", "tmp", "root", "etc",
    ] {
        fs::create_dir_all(tree.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", tree.join("bin/busybox")).expect("busybox-static");
    for (dest, src) in extra {
        let to = tree.join(dest.trim_start_matches('/'));
        fs::copy(src, &to).unwrap();
        fs::set_permissions(&to, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let init = tree.join("sbin/init");
    fs::write(&init, format!("#!/bin/busybox sh\n{init_script}\n")).unwrap();
    fs::set_permissions(&init, fs::Permissions::from_mode(0o755)).unwrap();
    mkfs(&dir.join(name), "64M", Some(&tree))
}

/// A small busybox root filesystem whose init mounts /root from the fstab
/// banger injects, serves HTTP on 8080 and starts the agent banger injects.
const INIT: &str = "\
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox --install -s /bin
mount -a
httpd -p 8080 -h /tmp
/usr/local/lib/banger/banger-vsock-agent serve &
exec sleep 1000000";

pub fn busybox_image(dir: &Path) -> PathBuf {
    busybox_rootfs(dir, "busybox.ext4", INIT, &[])
}

/// banger's golden Debian image (built once, cached by recipe hash).
pub fn golden_image() -> PathBuf {
    from_script("build-golden-image.sh")
}

/// The golden image's system with another init (`openrc`: sysvinit running
/// OpenRC; `runit`: runit-init), from images/<recipe>, built once, cached.
pub fn init_image(recipe: &str) -> PathBuf {
    from_script_with("build-golden-image.sh", &[recipe])
}

/// Builds the static guest agent as the Makefile does, so a plain `cargo
/// test` boots guests with the agent of this tree.
pub fn build_static_agent() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("host triple");
    let out = Command::new(cargo)
        .args(["build", "-p", "banger-vsock-agent", "--target", &host])
        .env(
            "RUSTFLAGS",
            "-C target-feature=+crt-static -C relocation-model=static",
        )
        .output()
        .expect("running cargo");
    assert!(
        out.status.success(),
        "building the static agent failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The build cache `image build` installs from, filled once (outside any
/// network namespace, so it can reach the npm registry and the Debian
/// archive) by a throwaway daemon's `image build --download-only`, with
/// the Docker packages for the golden image (`--docker`); kept in the test
/// cache, so networked tests build offline.
pub fn build_cache() -> PathBuf {
    // Once per test binary: its tests ask at the same time.
    static FILLED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FILLED.get_or_init(fill_build_cache).clone()
}

fn fill_build_cache() -> PathBuf {
    let root = std::env::var_os("BANGER_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/banger-test-cache"));
    let dir = root.join("build");
    let home = crate::TestHome::with_config(&format!(
        "web_listen_addr = \"\"\nbuild_cache_dir = \"{}\"\n",
        dir.display()
    ));
    // Registered only to be read (its release and packages); nothing boots.
    let deb = test_deb();
    home.banger(&["kernel", "import", "debian", "--deb", deb.to_str().unwrap()])
        .ok();
    let golden = golden_image();
    home.banger(&[
        "image",
        "register",
        "--name",
        "golden",
        "--rootfs",
        golden.to_str().unwrap(),
        "--kernel-ref",
        "debian",
    ])
    .ok();
    home.banger(&[
        "image",
        "build",
        "--download-only",
        "--docker",
        "--from-image",
        "golden",
    ])
    .ok();
    dir
}

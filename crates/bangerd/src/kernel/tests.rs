use super::catalog::Location;
use super::*;
use crate::image::tests::Fixture;
use banger_api::kernel::ImportKernel;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// busybox-static stands in for the static agent where only the initrd's
/// contents are checked (the boot test uses the real agent).
const STATIC_INIT: &str = "/bin/busybox";

fn test_deb() -> PathBuf {
    banger_testkit::test_deb()
}

fn nothing_left(f: &Fixture, name: &str) {
    assert!(!f.paths.kernel_dir(name).exists(), "kernel dir left behind");
    let staged = std::fs::read_dir(f.paths.staging_dir())
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(staged, 0, "staging left behind");
    assert!(
        list(&f.paths, &f.store).unwrap().is_empty(),
        "record left behind"
    );
}

#[test]
fn import_from_a_real_debian_kernel_package() {
    let f = Fixture::new();
    let deb = test_deb();
    let mut stages = Vec::new();
    let req = ImportKernel {
        name: "generic-6.1".into(),
        deb: Some(deb.display().to_string()),
        ..Default::default()
    };
    let k = import(
        &f.paths,
        &f.store,
        req,
        Some(Path::new(STATIC_INIT)),
        &mut |p| stages.push(p.stage.as_str()),
    )
    .unwrap();
    assert_eq!(stages, ["unpack", "depmod", "extract", "initrd", "store"]);
    assert!(k.version.ends_with("-cloud-amd64"), "{}", k.version);
    assert!(k.source.starts_with("deb linux-image-"), "{}", k.source);
    let dir = f.paths.kernel_dir("generic-6.1");

    // vmlinux is a valid x86-64 ELF, extracted from the (LZ4) bzImage.
    let vmlinux = std::fs::read(dir.join("vmlinux")).unwrap();
    assert!(vmlinux.starts_with(b"\x7fELF") && vmlinux[18] == 62);
    assert_eq!(
        crate::disk::format::kernel_release(&dir.join("vmlinux"))
            .unwrap()
            .as_deref(),
        Some(k.version.as_str())
    );
    assert!(dir.join("bzImage").is_file() && dir.join("config").is_file());

    // depmod produced modules.dep; virtio_blk's dependencies are listed.
    let dep = std::fs::read_to_string(dir.join("modules/modules.dep")).unwrap();
    let line = dep
        .lines()
        .find(|l| l.contains("/virtio_blk.ko:"))
        .expect("virtio_blk in modules.dep");
    assert!(
        line.contains("virtio.ko") && line.contains("virtio_ring.ko"),
        "{line}"
    );
    assert!(
        dir.join("modules/modules.alias").is_file(),
        "guests' udev needs modules.alias"
    );

    // The initrd is a newc cpio with /init and the modules in load order.
    let listing = std::process::Command::new("cpio")
        .args(["-t", "--quiet", "-F"])
        .arg(dir.join("initrd.img"))
        .output()
        .unwrap();
    assert!(listing.status.success());
    let names = String::from_utf8_lossy(&listing.stdout);
    for want in [
        "init",
        "dev/console",
        "banger/modules",
        &format!("lib/modules/{}/virtio_blk.ko", k.version),
    ] {
        assert!(
            names.lines().any(|l| l == want),
            "{want} missing from initrd:\n{names}"
        );
    }
    let extract = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("cpio")
        .args(["-i", "--quiet", "-d", "-F"])
        .arg(dir.join("initrd.img"))
        .current_dir(extract.path())
        .status()
        .unwrap();
    assert!(ok.success());
    let order: Vec<String> = std::fs::read_to_string(extract.path().join("banger/modules"))
        .unwrap()
        .lines()
        .map(|l| modules::module_name(Path::new(l)))
        .collect();
    let pos = |m: &str| {
        order
            .iter()
            .position(|x| x == m)
            .unwrap_or_else(|| panic!("{m} not in {order:?}"))
    };
    assert!(
        pos("virtio_ring") < pos("virtio")
            && pos("virtio") < pos("virtio_mmio")
            && pos("virtio_mmio") < pos("virtio_blk")
    );
    assert!(pos("vsock") < pos("vmw_vsock_virtio_transport_common"));
    assert!(
        !order.contains(&"ext4".to_string()),
        "ext4 is built into this kernel"
    );

    // Metadata: digests of what is on disk.
    let vm = k.files.iter().find(|f| f.name == "vmlinux").unwrap();
    assert_eq!(
        vm.sha256.as_deref(),
        Some(sha256_file(&dir.join("vmlinux")).unwrap().1.as_str())
    );
    assert!(dir.join("kernel.json").is_file());
    assert_eq!(get(&f.paths, &f.store, "generic-6.1").unwrap(), k);

    // A second import of the same name is refused and leaves the first alone.
    let again = ImportKernel {
        name: "generic-6.1".into(),
        deb: Some(deb.display().to_string()),
        ..Default::default()
    };
    let e = import(
        &f.paths,
        &f.store,
        again,
        Some(Path::new(STATIC_INIT)),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(e, KernelError::Exists(_)), "{e}");
    assert!(dir.join("vmlinux").is_file());
}

#[test]
fn import_needs_a_static_agent_for_the_initrd() {
    let f = Fixture::new();
    let req = ImportKernel {
        name: "k".into(),
        deb: Some(test_deb().display().to_string()),
        ..Default::default()
    };
    let dynamic = std::env::current_exe().unwrap();
    let e = import(&f.paths, &f.store, req, Some(&dynamic), &mut |_| {}).unwrap_err();
    assert!(matches!(e, KernelError::AgentNotStatic { .. }), "{e}");
    nothing_left(&f, "k");
}

#[test]
fn import_refuses_bad_input_and_leaves_nothing() {
    let f = Fixture::new();
    let text = f.file("notes.txt", "hello").display().to_string();
    let cases = [
        (
            ImportKernel {
                name: "k".into(),
                ..Default::default()
            },
            "give --deb FILE, or --vmlinux FILE",
        ),
        (
            ImportKernel {
                name: "k".into(),
                deb: Some(text.clone()),
                vmlinux: Some(text.clone()),
                ..Default::default()
            },
            "give it alone",
        ),
        (
            ImportKernel {
                name: "k".into(),
                deb: Some(text.clone()),
                ..Default::default()
            },
            "importing ",
        ),
        (
            ImportKernel {
                name: "k".into(),
                vmlinux: Some(text.clone()),
                ..Default::default()
            },
            "neither an x86-64 ELF",
        ),
        (
            ImportKernel {
                name: "k".into(),
                vmlinux: Some("rel/vmlinux".into()),
                ..Default::default()
            },
            "is not absolute",
        ),
        (
            ImportKernel {
                name: "../k".into(),
                vmlinux: Some(text),
                ..Default::default()
            },
            "invalid kernel name",
        ),
    ];
    for (req, want) in cases {
        let e = import(&f.paths, &f.store, req, None, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "want {want:?} in {e:?}");
        nothing_left(&f, "k");
    }
}

#[test]
fn a_kernel_in_use_cannot_be_deleted() {
    let f = Fixture::new();
    let vmlinux = f.vmlinux();
    let req = ImportKernel {
        name: "k".into(),
        vmlinux: Some(vmlinux.display().to_string()),
        ..Default::default()
    };
    // An ELF without a release string and no modules: the release is unknown.
    let e = import(&f.paths, &f.store, req, None, &mut |_| {}).unwrap_err();
    assert!(matches!(e, KernelError::NoRelease { .. }), "{e}");
    let modules = f.modules();
    std::fs::write(modules.join("modules.builtin"), "kernel/drivers/virtio/virtio_mmio.ko\nkernel/drivers/block/virtio_blk.ko\nkernel/drivers/net/virtio_net.ko\nkernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko\nkernel/fs/ext4/ext4.ko\n").unwrap();
    let req = ImportKernel {
        name: "k".into(),
        vmlinux: Some(vmlinux.display().to_string()),
        modules: Some(modules.display().to_string()),
        ..Default::default()
    };
    let k = import(&f.paths, &f.store, req, None, &mut |_| {}).unwrap();
    assert_eq!(k.version, "6.1.0-test");
    assert!(
        !f.paths.kernel_dir("k").join("initrd.img").exists(),
        "all drivers built in: no initrd"
    );

    let mut image = f.full_request("uses-k");
    (image.kernel, image.initrd, image.modules, image.kernel_ref) =
        (None, None, None, Some("k".into()));
    crate::image::register(&f.store, image, 1).unwrap();
    let e = delete(&f.paths, &f.store, "k").unwrap_err();
    assert_eq!(e.to_string(), "kernel `k` is used by image(s) uses-k");
    assert_eq!(e.kind(), banger_api::ErrorKind::Conflict);
    assert!(f.paths.kernel_dir("k").is_dir());
    crate::image::delete(&f.paths, &f.store, "uses-k").unwrap();
    delete(&f.paths, &f.store, "k").unwrap();
    nothing_left(&f, "k");
}

#[test]
fn orphan_kernel_directories_are_removed() {
    let f = Fixture::new();
    std::fs::create_dir_all(f.paths.kernel_dir("half-imported")).unwrap();
    assert_eq!(clean_orphans(&f.paths, &f.store).unwrap(), 1);
    assert!(!f.paths.kernel_dir("half-imported").exists());
}

/// A catalog server on 127.0.0.1: path -> (status, declared length, body).
struct Server {
    url: String,
    stop: Arc<AtomicBool>,
}

type Routes = Vec<(String, u16, Option<usize>, Vec<u8>)>;

impl Server {
    fn start(routes: Routes) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    continue;
                };
                conn.set_nonblocking(false).unwrap();
                let mut req = Vec::new();
                let mut byte = [0u8; 1];
                while !req.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                    req.push(byte[0]);
                }
                let line = String::from_utf8_lossy(&req);
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, len, body) = routes
                    .iter()
                    .find(|r| r.0 == path)
                    .map(|r| (r.1, r.2.unwrap_or(r.3.len()), r.3.clone()))
                    .unwrap_or((404, 9, b"not found".to_vec()));
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
                );
                let _ = conn.write_all(&body);
            }
        });
        Server { url, stop }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn sha(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// A modules tarball whose guest drivers are all built in (no initrd needed).
fn modules_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in [
        ("kernel/drivers/block/null_blk.ko", &b"ko"[..]),
        ("modules.order", b"kernel/drivers/block/null_blk.ko\n"),
        (
            "modules.builtin",
            b"kernel/drivers/virtio/virtio_mmio.ko\nkernel/drivers/block/virtio_blk.ko\nkernel/drivers/net/virtio_net.ko\nkernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko\nkernel/fs/ext4/ext4.ko\n",
        ),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, data).unwrap();
    }
    let raw = b.into_inner().unwrap();
    zstd::encode_all(&raw[..], 1).unwrap()
}

fn catalog(modules: &[u8], kernel_sha: &str, kernel_size: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schema": 1,
        "kernels": [{
            "name": "generic-test",
            "version": "6.1.0-test",
            "arch": "x86_64",
            "description": "a test kernel",
            "artifacts": {
                "kernel": { "url": "artifacts/vmlinux", "size": kernel_size, "sha256": kernel_sha },
                "modules": { "url": "artifacts/modules.tar.zst", "size": modules.len(), "sha256": sha(modules) }
            }
        }]
    }))
    .unwrap()
}

fn pull_from(f: &Fixture, routes: Routes, name: &str) -> Result<Kernel, KernelError> {
    let server = Server::start(routes);
    let location = Location::parse(Some(&format!("{}/catalog.json", server.url))).unwrap();
    pull(
        &f.paths,
        &f.store,
        &location,
        &no_archive(),
        name,
        None,
        &mut |_| {},
    )
}

fn no_archive() -> debian::Archive {
    debian::Archive {
        mirror: "http://127.0.0.1:9/debian".into(),
        keyring: "/nonexistent".into(),
    }
}

#[test]
fn catalog_pull_verifies_every_artifact() {
    let f = Fixture::new();
    let kernel = std::fs::read(f.vmlinux()).unwrap();
    let modules = modules_tar();
    let good_catalog = catalog(&modules, &sha(&kernel), kernel.len() as u64);
    let routes = |catalog: Vec<u8>, kernel_route: (u16, Option<usize>, Vec<u8>)| -> Routes {
        vec![
            ("/catalog.json".into(), 200, None, catalog),
            (
                "/artifacts/vmlinux".into(),
                kernel_route.0,
                kernel_route.1,
                kernel_route.2,
            ),
            (
                "/artifacts/modules.tar.zst".into(),
                200,
                None,
                modules.clone(),
            ),
        ]
    };
    let half = kernel[..kernel.len() / 2].to_vec();
    let failures: Vec<(Routes, &str, &str)> = vec![
        (
            routes(
                catalog(&modules, &"0".repeat(64), kernel.len() as u64),
                (200, None, kernel.clone()),
            ),
            "generic-test",
            "kernel artifact of `generic-test`: sha256 is ",
        ),
        (
            // The server promises the full length and closes half-way.
            routes(
                good_catalog.clone(),
                (200, Some(kernel.len()), half.clone()),
            ),
            "generic-test",
            "kernel artifact of `generic-test`",
        ),
        (
            routes(
                catalog(&modules, &sha(&half), kernel.len() as u64),
                (200, None, half),
            ),
            "generic-test",
            "the catalog says",
        ),
        (
            routes(good_catalog.clone(), (404, None, b"gone".to_vec())),
            "generic-test",
            "server answered 404",
        ),
        (
            routes(
                b"{\"schema\": 1, \"kernels\": [{\"nam".to_vec(),
                (200, None, kernel.clone()),
            ),
            "generic-test",
            "is not a valid catalog document",
        ),
        (
            routes(good_catalog.clone(), (200, None, kernel.clone())),
            "nope",
            "has no kernel `nope`; it offers: generic-test",
        ),
        (vec![], "generic-test", "server answered 404"),
    ];
    for (routes, name, want) in failures {
        let e = pull_from(&f, routes, name).unwrap_err();
        let chain = banger_api::ApiError::from_chain(banger_api::ErrorKind::Internal, &e)
            .chain
            .join(": ");
        assert!(chain.contains(want), "want {want:?} in {chain:?}");
        nothing_left(&f, name);
    }

    let k = pull_from(
        &f,
        routes(good_catalog, (200, None, kernel.clone())),
        "generic-test",
    )
    .unwrap();
    assert_eq!(k.version, "6.1.0-test");
    assert!(k.source.starts_with("catalog http://127.0.0.1:"));
    let dir = f.paths.kernel_dir("generic-test");
    assert_eq!(std::fs::read(dir.join("vmlinux")).unwrap(), kernel);
    assert!(
        dir.join("modules/modules.dep").is_file(),
        "depmod ran over the pulled modules"
    );
    assert!(
        dir.join("modules/kernel/drivers/block/null_blk.ko")
            .is_file()
    );
}

#[test]
fn catalog_locations() {
    assert!(matches!(Location::parse(None).unwrap(), Location::BuiltIn));
    assert!(matches!(
        Location::parse(Some("/srv/catalog.json")).unwrap(),
        Location::Path(_)
    ));
    assert!(matches!(
        Location::parse(Some("file:///srv/catalog.json")).unwrap(),
        Location::Path(_)
    ));
    assert!(Location::parse(Some("ftp://x/catalog.json")).is_err());
    let base = Location::parse(Some("https://example.org/k/catalog.json")).unwrap();
    assert_eq!(
        base.join("a/vmlinux").unwrap().to_string(),
        "https://example.org/k/a/vmlinux"
    );
    let local = Location::parse(Some("/srv/k/catalog.json")).unwrap();
    assert_eq!(local.join("vmlinux").unwrap().to_string(), "/srv/k/vmlinux");
    // The built-in catalog: Debian 12's and 13's cloud kernels, each from
    // the archive, and a clear answer for anything else.
    let doc = catalog::load(&Location::BuiltIn).unwrap();
    for (name, suite) in [("generic-6.1", "bookworm"), ("generic-6.12", "trixie")] {
        let e = catalog::find(&doc, &Location::BuiltIn, name).unwrap();
        let pkg = e.debian.as_ref().expect("from Debian's archive");
        assert_eq!(
            (pkg.suite.as_str(), pkg.package.as_str()),
            (suite, "linux-image-cloud-amd64")
        );
    }
    let e = catalog::find(&doc, &Location::BuiltIn, "generic-5.10")
        .unwrap_err()
        .to_string();
    assert!(e.contains("generic-6.1, generic-6.12"), "{e}");
}

/// A signing key in a fresh GnuPG home, and its public keyring.
struct Signer {
    home: tempfile::TempDir,
    keyring: PathBuf,
}

impl Signer {
    fn new() -> Signer {
        let home = tempfile::tempdir().unwrap();
        let gpg = |args: &[&str]| {
            let out = std::process::Command::new("gpg")
                .arg("--batch")
                .arg("--homedir")
                .arg(home.path())
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        };
        gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            "banger test <test@banger.invalid>",
            "ed25519",
            "sign",
            "never",
        ]);
        let keyring = home.path().join("keyring.gpg");
        std::fs::write(&keyring, gpg(&["--export"])).unwrap();
        Signer { home, keyring }
    }

    fn clearsign(&self, text: &str) -> Vec<u8> {
        let mut child = std::process::Command::new("gpg")
            .arg("--batch")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--clearsign", "--output", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        out.stdout
    }
}

/// A Debian archive's routes for `bookworm`: InRelease signed by `signer`,
/// the Packages index the Release vouches for, and `deb` served as `served`.
fn debian_routes(signer: &Signer, release_extra: &str, listed: &[u8], served: Vec<u8>) -> Routes {
    let real = "linux-image-6.1.0-90-cloud-amd64";
    let packages = format!(
        "Package: linux-image-cloud-amd64\nVersion: 6.1.999-1\nDepends: {real} (= 6.1.999-1)\n\
         Filename: pool/main/l/linux-signed-amd64/meta.deb\nSize: 1\nSHA256: {}\n\n\
         Package: {real}\nVersion: 6.1.999-1\nDepends: kmod, linux-base (>= 4.3~)\n\
         Filename: pool/main/l/linux-signed-amd64/{real}_6.1.999-1_amd64.deb\nSize: {}\nSHA256: {}\n",
        "00".repeat(32),
        listed.len(),
        sha(listed),
    );
    let mut xz = xz2::write::XzEncoder::new(Vec::new(), 6);
    xz.write_all(packages.as_bytes()).unwrap();
    let xz = xz.finish().unwrap();
    let release = format!(
        "Origin: Debian\nSuite: stable\nCodename: bookworm\n{release_extra}SHA256:\n {} {:>8} main/binary-amd64/Packages.xz\n",
        sha(&xz),
        xz.len()
    );
    vec![
        (
            "/debian/dists/bookworm/InRelease".into(),
            200,
            None,
            signer.clearsign(&release),
        ),
        (
            "/debian/dists/bookworm/main/binary-amd64/Packages.xz".into(),
            200,
            None,
            xz,
        ),
        (
            format!("/debian/pool/main/l/linux-signed-amd64/{real}_6.1.999-1_amd64.deb"),
            200,
            None,
            served,
        ),
    ]
}

fn pull_debian(f: &Fixture, routes: Routes, keyring: &Path) -> Result<Kernel, KernelError> {
    let server = Server::start(routes);
    let catalog = f.paths.data_dir.join("catalog.json");
    std::fs::write(
        &catalog,
        r#"{"schema": 1, "kernels": [{"name": "generic-6.1", "version": "6.1", "arch": "x86_64",
            "description": "test", "debian": {"suite": "bookworm", "package": "linux-image-cloud-amd64"}}]}"#,
    )
    .unwrap();
    let archive = debian::Archive {
        mirror: format!("{}/debian", server.url),
        keyring: keyring.to_owned(),
    };
    let location = Location::Path(catalog);
    pull(
        &f.paths,
        &f.store,
        &location,
        &archive,
        "generic-6.1",
        Some(Path::new(STATIC_INIT)),
        &mut |_| {},
    )
}

#[test]
fn a_debian_archive_kernel_is_verified_from_the_signature_down() {
    let f = Fixture::new();
    let signer = Signer::new();
    let stranger = Signer::new();
    let deb = std::fs::read(test_deb()).unwrap();
    let chain = |e: &KernelError| {
        let mut s = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(c) = src {
            s.push_str(": ");
            s.push_str(&c.to_string());
            src = c.source();
        }
        s
    };
    let refused = |routes: Routes, keyring: &Path, want: &str| {
        let err = pull_debian(&f, routes, keyring).unwrap_err();
        assert!(chain(&err).contains(want), "want {want:?}: {}", chain(&err));
        nothing_left(&f, "generic-6.1");
    };
    let good = || debian_routes(&signer, "", &deb, deb.clone());

    // Signed by a key that is not in the keyring.
    refused(
        debian_routes(&stranger, "", &deb, deb.clone()),
        &signer.keyring,
        "is not signed by a key of",
    );
    // Changed after signing.
    let mut tampered = good();
    let text = String::from_utf8(tampered[0].3.clone()).unwrap();
    tampered[0].3 = text
        .replace("Codename: bookworm", "Codename: bookwörm")
        .into_bytes();
    refused(tampered, &signer.keyring, "is not signed by a key of");
    // Signed, but another suite's (a replay).
    refused(
        {
            let mut r = debian_routes(&signer, "", &deb, deb.clone());
            let release = "Origin: Debian\nSuite: stable\nCodename: trixie\nSHA256:\n";
            r[0].3 = signer.clearsign(release);
            r
        },
        &signer.keyring,
        "describes suite `stable/trixie`, not `bookworm`",
    );
    // Expired.
    refused(
        debian_routes(
            &signer,
            "Valid-Until: Sat, 01 Jan 2022 00:00:00 UTC\n",
            &deb,
            deb.clone(),
        ),
        &signer.keyring,
        "expired on Sat, 01 Jan 2022",
    );
    // The package is not what the signed index says: other bytes, cut
    // short, or longer.
    let mut other = deb.clone();
    other[1000] ^= 1;
    refused(
        debian_routes(&signer, "", &deb, other),
        &signer.keyring,
        "sha256 is",
    );
    refused(
        debian_routes(&signer, "", &deb, deb[..deb.len() / 2].to_vec()),
        &signer.keyring,
        "bytes, the catalog says",
    );
    let mut longer = deb.clone();
    longer.extend_from_slice(&[0; 4096]);
    refused(
        debian_routes(&signer, "", &deb, longer),
        &signer.keyring,
        "bytes, the catalog says",
    );
    // No keyring: nothing is fetched at all.
    refused(
        good(),
        Path::new("/nonexistent/keyring.gpg"),
        "install `debian-archive-keyring`",
    );

    let k = pull_debian(&f, good(), &signer.keyring).unwrap();
    assert!(k.version.ends_with("-cloud-amd64"), "{}", k.version);
    assert!(
        k.source
            .starts_with("debian bookworm linux-image-6.1.0-90-cloud-amd64 6.1.999-1"),
        "{}",
        k.source
    );
    assert!(f.paths.kernel_dir("generic-6.1").vmlinux().is_file());
}

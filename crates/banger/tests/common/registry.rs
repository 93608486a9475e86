//! A real OCI registry for tests: Debian's `docker-registry` (distribution)
//! on 127.0.0.1, optionally behind htpasswd auth; images built with
//! `umoci` in an OCI layout and pushed with `skopeo`.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub struct Registry {
    pub addr: String,
    pub dir: tempfile::TempDir,
    child: Child,
    creds: Option<(String, String)>,
    /// The network namespace it listens in (its 127.0.0.1 is that one's).
    netns: Option<String>,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Registry {
    pub fn start() -> Registry {
        Self::start_with(None, None)
    }

    /// A registry on the loopback of `ns`, where a networked test's daemon runs.
    pub fn start_in(ns: &super::netns::NetNs) -> Registry {
        Self::start_with(None, Some(ns.path()))
    }

    fn command(&self, program: &str) -> Command {
        command_in(&self.netns, program)
    }

    /// A registry that wants `user`/`password` (bcrypt htpasswd, as
    /// distribution requires).
    pub fn with_auth(user: &str, password: &str) -> Registry {
        Self::start_with(Some((user.into(), password.into())), None)
    }

    fn start_with(creds: Option<(String, String)>, netns: Option<String>) -> Registry {
        let dir = tempfile::Builder::new().prefix("reg").tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = &creds {
            let htpasswd = dir.path().join("htpasswd");
            let line = run(Command::new("htpasswd").args(["-Bbn", user, password]));
            fs::write(&htpasswd, line).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: banger-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_file = dir.path().join("config.yml");
        fs::write(&config_file, config).unwrap();
        let log = fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = command_in(&netns, "docker-registry")
            .arg("serve")
            .arg(&config_file)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry (Debian package docker-registry)");
        let registry = Registry {
            addr,
            dir,
            child,
            creds,
            netns,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !registry.answers() {
            assert!(Instant::now() < deadline, "the registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    fn answers(&self) -> bool {
        if self.netns.is_some() {
            let port = self.addr.rsplit(':').next().unwrap();
            return self
                .command("bash")
                .args(["-c", &format!("exec 3<>/dev/tcp/127.0.0.1/{port}")])
                .status()
                .is_ok_and(|s| s.success());
        }
        let Ok(mut s) = TcpStream::connect(&self.addr) else {
            return false;
        };
        let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n");
        let mut head = [0u8; 12];
        s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
    }

    /// Where the registry stores a blob (to corrupt or remove it).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// `skopeo copy` of `layout:tag` to `repo` here (`--all` for indexes).
    pub fn push(&self, layout: &Layout, tag: &str, repo: &str) -> String {
        self.push_with(layout, tag, repo, &[])
    }

    /// The same, converted to Docker's v2 schema 2 media types.
    pub fn push_docker_v2(&self, layout: &Layout, tag: &str, repo: &str) -> String {
        self.push_with(layout, tag, repo, &["--format", "v2s2"])
    }

    fn push_with(&self, layout: &Layout, tag: &str, repo: &str, extra: &[&str]) -> String {
        let dest = format!("{}/{repo}", self.addr);
        let mut cmd = self.command("skopeo");
        cmd.args(["copy", "--quiet", "--all", "--dest-tls-verify=false"]);
        cmd.args(extra);
        if let Some((u, p)) = &self.creds {
            cmd.arg(format!("--dest-creds={u}:{p}"));
        }
        run(cmd
            .arg(format!("oci:{}:{tag}", layout.dir.display()))
            .arg(format!("docker://{dest}")));
        dest
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command_in(netns: &Option<String>, program: &str) -> Command {
    match netns {
        Some(path) => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net={path}")).arg("--").arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// An OCI image layout that umoci builds images in.
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        Self::named(dir, "layout")
    }

    /// The golden Debian image as an OCI layout (scripts/build-test-oci-image.sh),
    /// and its tag.
    pub fn golden() -> (Layout, String) {
        Self::recipe("golden")
    }

    /// Another recipe of images/ (`openrc`, `runit`) as an OCI layout, and
    /// its tag.
    pub fn recipe(name: &str) -> (Layout, String) {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-test-oci-image.sh");
        let out = run(Command::new(script).arg(name));
        let (dir, tag) = out.trim().rsplit_once(':').unwrap();
        (Layout { dir: dir.into() }, tag.to_owned())
    }

    pub fn named(dir: &Path, name: &str) -> Layout {
        let layout = Layout {
            dir: dir.join(name),
        };
        run(Command::new("umoci")
            .args(["init", "--layout"])
            .arg(&layout.dir));
        layout
    }

    fn image(&self, tag: &str) -> String {
        format!("{}:{tag}", self.dir.display())
    }

    /// A new empty image `tag` (linux/amd64).
    pub fn new_image(&self, tag: &str) {
        run(Command::new("umoci").args(["new", "--image", &self.image(tag)]));
    }

    /// One layer made by umoci: the image is unpacked, `edit` changes its
    /// root (deletions become whiteouts), and the difference is repacked.
    pub fn layer(&self, tag: &str, edit: impl FnOnce(&Path)) {
        let bundle = self.dir.with_file_name(format!("bundle-{tag}"));
        run(Command::new("umoci")
            .args(["unpack", "--image", &self.image(tag)])
            .arg(&bundle));
        edit(&bundle.join("rootfs"));
        run(Command::new("umoci")
            .args(["repack", "--image", &self.image(tag)])
            .arg(&bundle));
        fs::remove_dir_all(&bundle).unwrap();
    }

    /// A layer added verbatim (an uncompressed tar), for entries umoci would
    /// never write: opaque-dir markers, names that escape the root.
    pub fn raw_layer(&self, tag: &str, tar: &[u8]) {
        let file = self.dir.with_file_name(format!("raw-{tag}.tar"));
        fs::write(&file, tar).unwrap();
        run(Command::new("umoci")
            .args(["raw", "add-layer", "--image", &self.image(tag)])
            .arg(&file));
    }

    pub fn set_arch(&self, tag: &str, arch: &str) {
        run(Command::new("umoci").args([
            "config",
            "--image",
            &self.image(tag),
            "--architecture",
            arch,
        ]));
    }

    /// `tag` copied into `dest` as `new_tag`, its layers recompressed as
    /// zstd. (Into another layout: within one, skopeo would reuse the gzip
    /// blobs it already has there.)
    pub fn zstd_copy(&self, tag: &str, dest: &Layout, new_tag: &str) {
        run(Command::new("skopeo")
            .args([
                "copy",
                "--quiet",
                "--dest-compress",
                "--dest-compress-format",
                "zstd",
            ])
            .arg(format!("oci:{}", self.image(tag)))
            .arg(format!("oci:{}", dest.image(new_tag))));
    }

    /// `tag` copied into `dest` as `new_tag`, as it is.
    pub fn copy(&self, tag: &str, dest: &Layout, new_tag: &str) {
        run(Command::new("skopeo")
            .args(["copy", "--quiet"])
            .arg(format!("oci:{}", self.image(tag)))
            .arg(format!("oci:{}", dest.image(new_tag))));
    }

    fn index(&self) -> serde_json::Value {
        serde_json::from_slice(&fs::read(self.dir.join("index.json")).unwrap()).unwrap()
    }

    /// The manifest descriptor tagged `tag`.
    pub fn descriptor(&self, tag: &str) -> serde_json::Value {
        self.index()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .unwrap_or_else(|| panic!("no tag {tag}"))
            .clone()
    }

    pub fn blob(&self, digest: &str) -> Vec<u8> {
        fs::read(self.dir.join("blobs/sha256").join(&digest[7..])).unwrap()
    }

    pub fn manifest(&self, tag: &str) -> serde_json::Value {
        let d = self.descriptor(tag);
        serde_json::from_slice(&self.blob(d["digest"].as_str().unwrap())).unwrap()
    }

    /// An image index `tag` over the images `entries` (tag, os, arch, variant).
    pub fn index_of(&self, tag: &str, entries: &[(&str, &str, &str, Option<&str>)]) {
        let manifests: Vec<serde_json::Value> = entries
            .iter()
            .map(|(t, os, arch, variant)| {
                let d = self.descriptor(t);
                let mut platform = serde_json::json!({"os": os, "architecture": arch});
                if let Some(v) = variant {
                    platform["variant"] = serde_json::json!(v);
                }
                serde_json::json!({
                    "mediaType": d["mediaType"], "digest": d["digest"], "size": d["size"],
                    "platform": platform
                })
            })
            .collect();
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests
        }))
        .unwrap();
        let digest = format!("sha256:{}", sha256_hex(&index));
        fs::write(self.dir.join("blobs/sha256").join(&digest[7..]), &index).unwrap();
        let mut top = self.index();
        top["manifests"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": digest, "size": index.len(),
                "annotations": {"org.opencontainers.image.ref.name": tag}
            }));
        fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&top).unwrap(),
        )
        .unwrap();
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `debugfs -R CMD IMAGE`'s output.
pub fn debugfs(image: &Path, cmd: &str) -> String {
    let out = Command::new("debugfs")
        .args(["-R", cmd])
        .arg(image)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `e2fsck -fn` finds nothing wrong.
pub fn e2fsck_clean(image: &Path) {
    let out = Command::new("e2fsck")
        .arg("-fn")
        .arg(image)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "e2fsck -fn {}:\n{}",
        image.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

use super::*;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    fn new() -> Layer {
        Layer(tar::Builder::new(Vec::new()))
    }

    fn header(kind: tar::EntryType, mode: u32, uid: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_size(0);
        h
    }

    fn file(mut self, path: &str, data: &str) -> Layer {
        self.file_as(path, data, 0o644, 0);
        self
    }

    fn file_as(&mut self, path: &str, data: &str, mode: u32, uid: u64) {
        let mut h = Self::header(tar::EntryType::Regular, mode, uid);
        h.set_size(data.len() as u64);
        self.0.append_data(&mut h, path, data.as_bytes()).unwrap();
    }

    fn dir(mut self, path: &str) -> Layer {
        let mut h = Self::header(tar::EntryType::Directory, 0o755, 0);
        self.0.append_data(&mut h, path, std::io::empty()).unwrap();
        self
    }

    fn link(mut self, kind: tar::EntryType, path: &str, target: &str) -> Layer {
        let mut h = Self::header(kind, 0o777, 0);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    /// An entry whose name the builder would refuse (`..`, absolute).
    fn raw(mut self, name: &[u8]) -> Layer {
        let mut h = Self::header(tar::EntryType::Regular, 0o644, 0);
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        h.set_size(4);
        h.set_cksum();
        self.0.append(&h, &b"evil"[..]).unwrap();
        self
    }

    /// A file with pax extended-attribute records.
    fn file_with_xattrs(mut self, path: &str, xattrs: &[(&str, &[u8])]) -> Layer {
        let records: Vec<(String, &[u8])> = xattrs
            .iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), *v))
            .collect();
        self.0
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))
            .unwrap();
        self.file_as(path, "x", 0o755, 0);
        self
    }

    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

fn apply(f: &mut Flattener, root: &Path, layer: Layer) -> Result<(), FlattenError> {
    f.apply(root, layer.bytes().as_slice())
}

#[test]
fn whiteouts_delete_and_opaque_dirs_hide_lower_layers() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let mut f = Flattener::new(1 << 30);
    apply(
        &mut f,
        root,
        Layer::new()
            .file("etc/keep", "k")
            .file("etc/gone", "g")
            .file("opt/old/a", "a")
            .file("opt/old/b", "b"),
    )
    .unwrap();
    apply(
        &mut f,
        root,
        Layer::new()
            .file("etc/.wh.gone", "")
            .file("opt/old/new", "n")
            .file("opt/old/.wh..wh..opq", ""),
    )
    .unwrap();
    assert!(root.join("etc/keep").exists());
    assert!(!root.join("etc/gone").exists());
    assert!(!root.join("etc/.wh.gone").exists());
    let mut left: Vec<_> = std::fs::read_dir(root.join("opt/old"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["new"], "the same layer's entry stays");
    assert!(!f.ownership.contains_key(Path::new("etc/gone")));
}

#[test]
fn symlinked_parents_resolve_inside_the_root() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let mut f = Flattener::new(1 << 30);
    apply(
        &mut f,
        &root,
        Layer::new()
            .dir("usr/lib")
            .link(tar::EntryType::Symlink, "lib", "usr/lib")
            .link(tar::EntryType::Symlink, "etc/evil", "/outside")
            .link(tar::EntryType::Symlink, "up", "../../.."),
    )
    .unwrap();
    apply(
        &mut f,
        &root,
        Layer::new()
            .file("lib/libx.so", "x")
            .file("etc/evil/pwned", "p")
            .file("up/escaped", "e"),
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("usr/lib/libx.so")).unwrap(),
        "x"
    );
    assert!(
        root.join("outside/pwned").exists(),
        "an absolute link means the root's /"
    );
    assert!(root.join("escaped").exists(), "`..` stops at the root");
    assert!(!d.path().join("outside").exists() && !d.path().join("escaped").exists());
    assert_eq!(
        std::fs::read_link(root.join("lib")).unwrap(),
        Path::new("usr/lib")
    );
}

#[test]
fn escaping_names_are_refused() {
    for name in [&b"../evil"[..], &b"/abs/evil"[..], &b"a/../../evil"[..]] {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let e = apply(&mut Flattener::new(1 << 30), &root, Layer::new().raw(name)).unwrap_err();
        assert!(matches!(e, FlattenError::Escapes(_)), "{e}");
        assert!(!d.path().join("evil").exists());
    }
}

#[test]
fn hard_links_modes_owners_fifos_and_the_size_cap() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let mut f = Flattener::new(1 << 30);
    let mut l = Layer::new();
    l.file_as("usr/bin/sudo", "suid", 0o4755, 0);
    l.file_as("home/u/file", "mine", 0o640, 1000);
    l.file_as("tmp/.keep", "", 0o644, 0);
    let mut l = l.link(tar::EntryType::Link, "usr/bin/sudo-again", "usr/bin/sudo");
    let mut h = Layer::header(tar::EntryType::Fifo, 0o600, 0);
    l.0.append_data(&mut h, "run/fifo", std::io::empty())
        .unwrap();
    let mut h = Layer::header(tar::EntryType::Directory, 0o1777, 0);
    l.0.append_data(&mut h, "tmp", std::io::empty()).unwrap();
    apply(&mut f, root, l).unwrap();
    let sudo = std::fs::metadata(root.join("usr/bin/sudo")).unwrap();
    assert_eq!(sudo.permissions().mode() & 0o7777, 0o4755);
    assert_eq!(
        std::fs::metadata(root.join("tmp"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o1777
    );
    assert_eq!(
        std::fs::metadata(root.join("usr/bin/sudo-again"))
            .unwrap()
            .ino(),
        sudo.ino()
    );
    assert!(
        std::fs::symlink_metadata(root.join("run/fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(f.ownership[Path::new("home/u/file")], (1000, 1000));
    if rustix::process::geteuid().is_root() {
        assert_eq!(
            std::fs::metadata(root.join("home/u/file")).unwrap().uid(),
            1000
        );
    }

    let e = apply(
        &mut f,
        root,
        Layer::new().link(tar::EntryType::Link, "x", "no/such"),
    )
    .unwrap_err();
    assert!(matches!(e, FlattenError::BadHardLink { .. }), "{e}");

    let mut small = Flattener::new(10);
    let e = apply(
        &mut small,
        root,
        Layer::new().file("big", "more than ten bytes"),
    )
    .unwrap_err();
    assert!(matches!(e, FlattenError::TooLarge { limit: 10 }), "{e}");
}

#[test]
fn extended_attributes_are_set_after_the_owner() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let mut f = Flattener::new(1 << 20);
    // A file capability (cap_net_raw+ep, as ping has) and a user attribute.
    let cap: &[u8] = &[
        0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let layer = Layer::new().file_with_xattrs(
        "bin/ping",
        &[("security.capability", cap), ("user.banger", b"yes")],
    );
    apply(&mut f, root, layer).unwrap();
    let path = root.join("bin/ping");
    let mut buf = [0u8; 64];
    let n = rustix::fs::lgetxattr(&path, "user.banger", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"yes");
    if rustix::process::geteuid().is_root() {
        let n = rustix::fs::lgetxattr(&path, "security.capability", &mut buf).unwrap();
        assert_eq!(&buf[..n], cap, "the chown must not have cleared it");
    }
    assert_eq!(f.dropped_xattrs, 0);
}

#[test]
fn a_pax_header_declaring_gigabytes_is_refused_before_it_is_read() {
    let d = tempfile::tempdir().unwrap();
    let mut layer = Layer::new().file("etc/ok", "fine");
    let mut h = Layer::header(tar::EntryType::XHeader, 0o644, 0);
    h.set_size(4 << 30);
    h.set_cksum();
    layer
        .0
        .append(&h, &b"30 path=aaaaaaaaaaaaaaaaaaaaaa\n"[..])
        .unwrap();
    let e = apply(&mut Flattener::new(1 << 40), d.path(), layer).unwrap_err();
    let shown = format!("{:#}", anyhow::Error::from(e));
    assert!(
        shown.contains("tar `x` header declares 4294967296 bytes of metadata"),
        "{shown}"
    );
}

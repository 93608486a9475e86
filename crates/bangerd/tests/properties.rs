//! Property tests of everything that parses what banger did not make:
//! archives (OCI layers through the flattener, kernel archives, .deb
//! packages), the tar guard, kernel images, OCI references and platforms,
//! OCI manifests and indexes, the config file, agent frames and the
//! session stream (stdio_mux_v1).
//! Each property holds for every input: no panic, and nothing written
//! outside the destination. A bounded run is part of the test suite
//! (proptest's 256 cases a property); `scripts/fuzz.sh` runs many more.

use proptest::prelude::*;
use std::io::Read;
use std::path::Path;

use bangerd::image::oci;

/// An index entry's platform: real ones, odd ones, attestations.
fn index_platform() -> impl Strategy<Value = (String, String, Option<String>)> {
    (
        prop_oneof![Just("linux"), Just("windows"), Just("unknown"), Just("")],
        prop_oneof![
            Just("amd64"),
            Just("arm64"),
            Just("arm"),
            Just("unknown"),
            Just("x86_64")
        ],
        prop::option::of(prop_oneof![Just("v7"), Just("v8"), Just("")]),
    )
        .prop_map(|(o, a, v)| (o.to_owned(), a.to_owned(), v.map(str::to_owned)))
}

/// A digest: well-formed, or one of the shapes a hostile registry sends.
fn digest() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[0-9a-f]{64}".prop_map(|h| format!("sha256:{h}")),
        1 => "[0-9a-f]{63}".prop_map(|h| format!("sha256:{h}")),
        1 => Just("sha256:../../../etc/passwd".to_owned()),
        1 => "[0-9a-f]{64}".prop_map(|h| format!("sha512:{h}")),
        1 => "\\PC{0,70}",
    ]
}

/// One archive entry, its name made of the parts attackers use.
#[derive(Debug, Clone)]
enum Entry {
    File(String, Vec<u8>),
    Dir(String),
    Symlink(String, String),
    Hardlink(String, String),
}

fn part() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("a"),
        Just("b"),
        Just(".."),
        Just("."),
        Just("l"),
        Just("etc"),
        Just(""),
    ]
}

fn name() -> impl Strategy<Value = String> {
    (any::<bool>(), prop::collection::vec(part(), 1..5)).prop_map(|(abs, parts)| {
        let joined = parts.join("/");
        if abs { format!("/{joined}") } else { joined }
    })
}

/// Where links point when they mean harm: up, to the top, to the host.
fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        name(),
        prop::sample::select(vec![
            "..", "../..", "/", "/etc", "../etc", "a/../..", "l/.."
        ])
        .prop_map(str::to_owned),
    ]
}

/// Names that go through such links to the host's file.
fn through() -> impl Strategy<Value = String> {
    prop_oneof![
        name(),
        prop::sample::select(vec!["l/a", "l/etc/a", "a/l/etc/a", "l/l/etc/a", "l"])
            .prop_map(str::to_owned),
    ]
}

/// A link planted, then an entry through it: one or the other alone rarely
/// meets its partner among random entries.
fn attack() -> impl Strategy<Value = Vec<Entry>> {
    (
        prop::sample::select(vec!["l", "a/l"]),
        target(),
        through(),
        any::<bool>(),
    )
        .prop_map(|(link, to, via, hard)| {
            let second = if hard {
                Entry::Hardlink(via, "l/etc/a".into())
            } else {
                Entry::File(via, b"evil".to_vec())
            };
            vec![Entry::Symlink(link.to_owned(), to), second]
        })
}

/// An archive's entries: random ones and attacks, in any order.
fn entries() -> impl Strategy<Value = Vec<Entry>> {
    prop::collection::vec(
        prop_oneof![3 => entry().prop_map(|e| vec![e]), 2 => attack()],
        1..8,
    )
    .prop_map(|v| v.into_iter().flatten().collect())
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        (through(), prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(n, d)| Entry::File(n, d)),
        through().prop_map(Entry::Dir),
        (prop::sample::select(vec!["l", "a/l", "a", "l/l"]), target())
            .prop_map(|(n, t)| Entry::Symlink(n.to_owned(), t)),
        (name(), target()).prop_map(|(n, t)| Entry::Symlink(n, t)),
        (through(), target()).prop_map(|(n, t)| Entry::Hardlink(n, t)),
    ]
}

/// The archive as written by hand: raw names, so `..` and absolute ones
/// get in as an attacker would put them.
fn archive(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o755);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        let (kind, name, link, data): (_, &str, Option<&str>, &[u8]) = match e {
            Entry::File(n, d) => (tar::EntryType::Regular, n, None, d),
            Entry::Dir(n) => (tar::EntryType::Directory, n, None, &[]),
            Entry::Symlink(n, t) => (tar::EntryType::Symlink, n, Some(t), &[]),
            Entry::Hardlink(n, t) => (tar::EntryType::Link, n, Some(t), &[]),
        };
        h.set_entry_type(kind);
        let raw = name.as_bytes();
        h.as_gnu_mut().unwrap().name[..raw.len().min(100)]
            .copy_from_slice(&raw[..raw.len().min(100)]);
        if let Some(t) = link {
            let raw = t.as_bytes();
            h.as_gnu_mut().unwrap().linkname[..raw.len().min(100)]
                .copy_from_slice(&raw[..raw.len().min(100)]);
        }
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A destination `root` inside a directory that also holds a file of the
/// host's: after an unpack, nothing beside `root` may have changed.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/a"), "host\n").unwrap();
        Sandbox { dir }
    }

    fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("root")
    }

    fn untouched(&self) -> Result<(), TestCaseError> {
        let mut beside: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        beside.sort();
        prop_assert_eq!(beside, vec!["etc".to_owned(), "root".to_owned()]);
        let host: Vec<_> = std::fs::read_dir(self.dir.path().join("etc"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        prop_assert_eq!(host.len(), 1);
        prop_assert_eq!(
            std::fs::read_to_string(self.dir.path().join("etc/a")).unwrap(),
            "host\n"
        );
        Ok(())
    }
}

/// An entry as read: its path, its link, its bytes.
type Read3 = (Vec<u8>, Option<Vec<u8>>, Vec<u8>);

/// Every entry and its bytes, as the tar crate yields them from `r`.
fn read_all(r: impl Read) -> std::io::Result<Vec<Read3>> {
    let mut ar = tar::Archive::new(r);
    let mut out = Vec::new();
    for e in ar.entries()? {
        let mut e = e?;
        let path = e.path_bytes().into_owned();
        let link = e.link_name_bytes().map(|l| l.into_owned());
        let mut data = Vec::new();
        e.read_to_end(&mut data)?;
        out.push((path, link, data));
    }
    Ok(out)
}

proptest! {
    #[test]
    fn layers_never_write_outside_the_root(entries in entries()) {
        let sandbox = Sandbox::new();
        let mut f = bangerd::image::oci::flatten::Flattener::new(1 << 20);
        let _ = f.apply(&sandbox.root(), archive(&entries).as_slice());
        sandbox.untouched()?;
    }

    #[test]
    fn kernel_archives_never_write_outside_the_root(entries in entries()) {
        let sandbox = Sandbox::new();
        let _ = bangerd::kernel::archive::unpack_all(archive(&entries).as_slice(), &sandbox.root());
        sandbox.untouched()?;
    }

    /// The guard changes nothing of an archive it lets through, and for a
    /// damaged one either agrees with the tar crate or refuses a header.
    #[test]
    fn the_tar_guard_is_transparent(
        entries in prop::collection::vec(entry(), 0..8),
        long in prop::collection::vec("[a-z]{90,300}", 0..3),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
    ) {
        // Then builder-made long names (GNU `L` entries) and pax headers.
        let mut data = archive(&entries);
        data.truncate(data.len() - 1024);
        let mut b2 = tar::Builder::new(data);
        for n in &long {
            let mut h = tar::Header::new_gnu();
            h.set_size(3);
            b2.append_data(&mut h, n, &b"abc"[..]).unwrap();
            b2.append_pax_extensions([("comment", n.as_bytes())]).unwrap();
            let mut h = tar::Header::new_ustar();
            h.set_size(1);
            b2.append_data(&mut h, "after-pax", &b"z"[..]).unwrap();
        }
        let mut data = b2.into_inner().unwrap();
        let clean = data.clone();
        let plain = read_all(clean.as_slice()).unwrap();
        let guarded = read_all(bangerd::tar_guard::TarGuard::new(clean.as_slice())).unwrap();
        prop_assert_eq!(plain, guarded);
        for (at, byte) in flips {
            if !data.is_empty() {
                let i = at.index(data.len());
                data[i] = byte;
            }
        }
        let plain = read_all(data.as_slice());
        let guarded = read_all(bangerd::tar_guard::TarGuard::new(data.as_slice()));
        match (plain, guarded) {
            (Ok(p), Ok(g)) => prop_assert_eq!(p, g),
            (_, Err(e)) if e.to_string().contains("bytes of metadata") => {}
            (Err(_), Err(_)) => {}
            (p, g) => prop_assert!(false, "plain {:?} guarded {:?}", p.map(|v| v.len()), g.map(|v| v.len())),
        }
    }

    #[test]
    fn clean_names_never_climb(raw in "[a-z./]{0,40}") {
        if let Ok(p) = bangerd::beneath::clean(Path::new(&raw)) {
            prop_assert!(p.components().all(|c| matches!(c, std::path::Component::Normal(_))), "{:?}", p);
        }
    }

    #[test]
    fn kernel_images_and_debs_of_any_bytes_are_refused_not_panicked_on(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("k");
        std::fs::write(&f, &bytes).unwrap();
        let _ = bangerd::disk::format::kernel_format(&f);
        let _ = bangerd::disk::format::kernel_release(&f);
        let _ = bangerd::disk::format::is_static_elf(&f);
        let out = d.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let _ = bangerd::kernel::deb::extract(&f, &out);
    }

    #[test]
    fn references_and_platforms_parse_or_are_refused(text in "\\PC{0,80}") {
        let _ = bangerd::image::oci::reference::parse(&text);
        let _ = bangerd::image::oci::reference::Platform::parse(&text);
    }

    #[test]
    fn valid_references_keep_their_parts(
        registry in "[a-z]{1,8}\\.[a-z]{2,3}(:[1-9][0-9]{0,3})?",
        repo in "[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}",
        tag in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}",
    ) {
        let r = bangerd::image::oci::reference::parse(&format!("{registry}/{repo}:{tag}")).unwrap();
        prop_assert_eq!(r.registry(), registry.as_str());
        prop_assert_eq!(r.repository(), repo.as_str());
        prop_assert_eq!(r.tag(), Some(tag.as_str()));
    }

    #[test]
    fn manifests_and_indexes_of_any_bytes_are_refused_not_panicked_on(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = oci::manifest::top(&bytes, "r");
        let _ = oci::manifest::image_manifest(&bytes, "r");
    }

    #[test]
    fn an_index_gives_the_wanted_platform_s_digest_or_names_what_it_has(
        entries in prop::collection::vec((index_platform(), digest()), 0..6),
        wanted in index_platform(),
    ) {
        let json = serde_json::json!({
            "schemaVersion": 2,
            "manifests": entries.iter().map(|((os, arch, variant), digest)| {
                let mut p = serde_json::json!({"os": os, "architecture": arch});
                if let Some(v) = variant { p["variant"] = v.clone().into(); }
                serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 1, "platform": p})
            }).collect::<Vec<_>>(),
        });
        let bytes = serde_json::to_vec(&json).unwrap();
        let oci::manifest::Top::Index(index) = oci::manifest::top(&bytes, "r").unwrap() else {
            return Err(TestCaseError::fail("an index read as a manifest"));
        };
        let (os, arch, variant) = &wanted;
        let text = match variant { Some(v) => format!("{os}/{arch}/{v}"), None => format!("{os}/{arch}") };
        let Ok(platform) = oci::Platform::parse(&text) else { return Ok(()) };
        let first = entries.iter().find(|((o, a, v), _)| platform.matches(o, a, v.as_deref()));
        match (oci::manifest::choose(&index, &platform, "r"), first) {
            (Ok(d), Some((_, want))) => {
                prop_assert_eq!(&d, want);
                prop_assert!(oci::manifest::is_sha256_digest(&d));
            }
            (Err(e), Some((_, want))) => {
                prop_assert!(!oci::manifest::is_sha256_digest(want), "{}", e);
                prop_assert!(e.to_string().contains("is not a sha256 digest"), "{}", e);
            }
            (Err(e), None) => {
                let e = e.to_string();
                for ((o, a, _), _) in entries.iter().filter(|((o, _, _), _)| o != "unknown") {
                    prop_assert!(e.contains(&format!("{o}/{a}")), "{}", e);
                }
            }
            (Ok(d), None) => return Err(TestCaseError::fail(format!("chose {d} for {text}, which the index lacks"))),
        }
    }

    #[test]
    fn an_image_manifest_is_taken_only_with_sha256_digests(
        config in digest(),
        layers in prop::collection::vec((digest(), -2i64..1 << 40), 0..5),
    ) {
        let json = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 10},
            "layers": layers.iter().map(|(d, size)| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": size})).collect::<Vec<_>>(),
        });
        let bytes = serde_json::to_vec(&json).unwrap();
        let fine = oci::manifest::is_sha256_digest(&config)
            && layers.iter().all(|(d, size)| oci::manifest::is_sha256_digest(d) && *size >= 0);
        match oci::manifest::image_manifest(&bytes, "r") {
            Ok(m) => {
                prop_assert!(fine);
                prop_assert_eq!(m.layers.len(), layers.len());
            }
            Err(e) => prop_assert!(!fine, "{}", e),
        }
    }

    #[test]
    fn config_files_parse_or_are_refused(text in "\\PC{0,200}") {
        let _ = banger_config::Config::parse(&text, Path::new("/c.toml"), Some(Path::new("/home/u")));
    }

    #[test]
    fn config_like_files_parse_or_are_refused(
        lines in prop::collection::vec(
            (prop_oneof![Just("bridge_ipcidr"), Just("tap_pool_size"), Just("vmm"), Just("default_image_name"), Just("web_listen_addr"), Just("auto_stop_stale_after"), Just("bogus")],
             prop_oneof![Just("\"10.0.0.0/8\"".to_owned()), Just("-1".to_owned()), Just("\"\"".to_owned()), Just("99999999999999999999".to_owned()), "\"[ -~]{0,20}\""]),
            0..6)
    ) {
        let text: String = lines.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        let _ = banger_config::Config::parse(&text, Path::new("/c.toml"), Some(Path::new("/home/u")));
    }

    #[test]
    fn agent_frames_of_any_bytes_are_refused_not_panicked_on(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut r = bytes.as_slice();
        while let Ok(Some(frame)) = banger_agent_proto::read_frame(&mut r) {
            let _ = frame.as_request();
            let _ = frame.as_response();
        }
    }

    #[test]
    fn session_streams_of_any_bytes_are_refused_not_panicked_on(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let mut r = bytes.as_slice();
            while let Ok(Some(_)) = banger_api::mux::read(&mut r).await {}
        });
    }
}

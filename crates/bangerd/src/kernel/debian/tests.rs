use super::*;
use std::cmp::Ordering::{Equal, Greater, Less};

#[test]
fn versions_order_as_dpkg_orders_them() {
    for (a, b, want) in [
        ("6.1.158-1", "6.1.158-1", Equal),
        ("6.1.158-1", "6.1.99-1", Greater),
        ("6.1.158-1", "6.1.158-2", Less),
        ("1:1.0-1", "2.0-1", Greater),
        ("1.0~rc1-1", "1.0-1", Less),
        ("1.0a", "1.0", Greater),
        ("1.0+b1", "1.0", Greater),
        ("6.12.57-1~bpo12+1", "6.12.57-1", Less),
        ("6.1.0-10", "6.1.0-9", Greater),
        ("1.01", "1.1", Equal),
    ] {
        assert_eq!(version_cmp(a, b), want, "{a} vs {b}");
    }
}

#[test]
fn release_dates_read_as_unix_time() {
    assert_eq!(release_date("Thu, 01 Jan 1970 00:00:00 UTC"), Some(0));
    assert_eq!(
        release_date("Sat, 29 Nov 2025 10:22:33 UTC"),
        Some(1_764_411_753)
    );
    assert_eq!(release_date("Sat, 29 Nov 2025 10:22:33 +0100"), None);
    assert_eq!(release_date("yesterday"), None);
}

const RELEASE: &str = "Origin: Debian
Suite: stable-security
Codename: bookworm-security
Valid-Until: Sat, 06 Dec 2025 10:22:33 UTC
MD5Sum:
 0123456789abcdef0123456789abcdef   385496 main/binary-amd64/Packages.xz
SHA256:
 1bacaf872e6699fb21f408e35f828953d1d15464cb7f499bcc0b193a49f98601  2576677 main/binary-amd64/Packages
 84d8abeaf3b586eda3456716299c1d198db64a175f0e34791c9ec5678d3c4551   385496 main/binary-amd64/Packages.xz
";

#[test]
fn the_release_gives_sha256_sizes_and_suite_names() {
    let r = Release::parse(RELEASE);
    assert_eq!(
        r.sha256("main/binary-amd64/Packages.xz"),
        Some((
            "84d8abeaf3b586eda3456716299c1d198db64a175f0e34791c9ec5678d3c4551".into(),
            385496
        ))
    );
    assert_eq!(r.sha256("main/binary-i386/Packages.xz"), None);
    assert_eq!(r.suite_names(), ["stable-security", "bookworm-security"]);
    assert_eq!(r.get("valid-until"), Some("Sat, 06 Dec 2025 10:22:33 UTC"));
    // An MD5 section alone is not enough.
    let md5_only = RELEASE.split("SHA256:").next().unwrap();
    assert_eq!(
        Release::parse(md5_only).sha256("main/binary-amd64/Packages.xz"),
        None
    );
}

fn stanza(package: &str, version: &str, depends: &str, file: &str) -> String {
    format!(
        "Package: {package}\nVersion: {version}\nDepends: {depends}\nDescription: x\n more\n\
         Filename: {file}\nSize: 42\nSHA256: {}\n",
        "ab".repeat(32)
    )
}

#[test]
fn a_metapackage_leads_to_its_newest_kernel_package() {
    let index = [
        stanza(
            "linux-image-cloud-amd64",
            "6.1.150-1",
            "linux-image-6.1.0-39-cloud-amd64 (= 6.1.150-1)",
            "pool/main/l/m/old.deb",
        ),
        stanza(
            "linux-image-cloud-amd64",
            "6.1.158-1",
            "linux-image-6.1.0-40-cloud-amd64 (= 6.1.158-1)",
            "pool/main/l/m/new.deb",
        ),
        stanza(
            "linux-image-6.1.0-40-cloud-amd64",
            "6.1.158-1",
            "kmod, linux-base (>= 4.3~), initramfs-tools | linux-initramfs-tool",
            "pool/main/l/linux/k40.deb",
        ),
        stanza(
            "linux-image-6.1.0-39-cloud-amd64",
            "6.1.150-1",
            "kmod",
            "pool/main/l/linux/k39.deb",
        ),
    ]
    .join("\n");
    let found = resolve(
        &index,
        "linux-image-cloud-amd64",
        "http://m/debian-security",
        "bookworm-security",
    )
    .unwrap()
    .unwrap();
    assert_eq!(found.package, "linux-image-6.1.0-40-cloud-amd64");
    assert_eq!(found.version, "6.1.158-1");
    assert_eq!(
        found.deb.url,
        "http://m/debian-security/pool/main/l/linux/k40.deb"
    );
    assert_eq!(found.deb.size, 42);
    assert_eq!(resolve(&index, "absent", "r", "s").unwrap(), None);
}

#[test]
fn index_entries_that_could_lead_elsewhere_are_refused() {
    for file in [
        "../../etc/passwd.deb",
        "pool/../x.deb",
        "/pool/x.deb",
        "pool/x.tar",
        "pool//x.deb",
    ] {
        let index = stanza("linux-image-x", "1", "kmod", file);
        let err = resolve(&index, "linux-image-x", "r", "s").unwrap_err();
        assert!(matches!(err, DebianError::BadEntry { .. }), "{file}: {err}");
    }
    let dangling = stanza(
        "linux-image-cloud-amd64",
        "1",
        "linux-image-gone",
        "pool/a.deb",
    );
    assert!(resolve(&dangling, "linux-image-cloud-amd64", "r", "s").is_err());
}

#[test]
fn the_security_sibling_is_asked_first_on_a_debian_layout() {
    assert_eq!(
        suites("http://deb.debian.org/debian/", "trixie"),
        [
            (
                "http://deb.debian.org/debian-security".to_owned(),
                "trixie-security".to_owned()
            ),
            (
                "http://deb.debian.org/debian".to_owned(),
                "trixie".to_owned()
            ),
        ]
    );
    assert_eq!(
        suites("http://mirror.lan/archive", "trixie"),
        [("http://mirror.lan/archive".to_owned(), "trixie".to_owned())]
    );
}

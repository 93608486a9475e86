//! A pulled image boots as a banger VM: banger's golden Debian image, made
//! an OCI image and pushed to a registry in the test's network namespace,
//! is pulled, booted, and reached with `vm ssh`.

mod common;

use common::TestHome;
use common::registry::{Layout, Registry};

#[test]
fn a_pulled_debian_image_boots_and_answers_over_ssh() {
    let (layout, tag) = Layout::golden();
    let home = TestHome::networked("web_listen_addr = \"127.0.0.1:0\"\n");
    home.with_test_kernel("debian");
    let registry = Registry::start_in(home.ns());
    let reference = registry.push(&layout, &tag, "banger/debian:bookworm");

    let image = home
        .banger(&[
            "image",
            "pull",
            &reference,
            "--kernel-ref",
            "debian",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(image["name"], "debian-bookworm");
    home.banger(&[
        "vm",
        "create",
        "--image",
        "debian-bookworm",
        "--name",
        "pulled",
    ])
    .ok();
    let os = home
        .banger(&["vm", "ssh", "pulled", "--", "cat", "/etc/os-release"])
        .ok()
        .stdout;
    assert!(os.contains("Debian GNU/Linux 12 (bookworm)"), "{os}");
    // The work disk is /root, seeded from the image's own /root.
    let root = home
        .banger(&[
            "vm",
            "ssh",
            "pulled",
            "--",
            "findmnt -no SOURCE /root && test -f /root/.bashrc && echo seeded",
        ])
        .ok()
        .stdout;
    assert_eq!(root, "/dev/vdb\nseeded\n");
    home.banger(&["vm", "delete", "--force", "pulled"]).ok();
}

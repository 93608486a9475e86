//! The README's quick start, as written: `scripts/quickstart.sh` takes this
//! checkout to a command running in a VM, and a second run reuses what the
//! first made. Run in a network namespace with a throwaway home.

mod common;

use common::TestHome;
use std::path::Path;

#[test]
fn quickstart_runs_a_command_in_a_vm_and_is_idempotent() {
    let home = TestHome::networked("web_listen_addr = \"127.0.0.1:0\"\n");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/quickstart.sh");
    let run = |args: &[&str]| {
        let out = home.command(&script).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "quickstart failed:\n{stderr}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
    };
    let (out, err) = run(&[]);
    assert!(
        out.starts_with("Linux ") && out.contains("cloud-amd64"),
        "{out}\n{err}"
    );
    assert!(
        std::fs::read_to_string(home.config_file())
            .unwrap()
            .contains("default_image_name = \"debian-bookworm\""),
        "{err}"
    );
    let (out, err) = run(&["cat", "/etc/debian_version"]);
    assert!(out.starts_with("12."), "{out}");
    for reused in [
        "== kernel debian-cloud\npresent",
        "== image debian-bookworm\npresent",
        "default_image_name = \"debian-bookworm\"",
    ] {
        assert!(
            err.contains(reused),
            "second run did not reuse ({reused:?}):\n{err}"
        );
    }
    assert_eq!(
        home.banger(&["vm", "list", "--json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

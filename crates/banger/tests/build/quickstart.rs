//! The README's quick start, as written: `scripts/quickstart.sh` takes this
//! checkout to a command running in a VM, and a second run reuses what the
//! first made. Run in a network namespace with a throwaway home.
//!
//! A module of the `build` test binary: it builds a dev box too, and runs
//! beside the dev box test (test binaries run one after another; the tests
//! of one binary in parallel), after or before the failure cases.

use crate::common;
use common::TestHome;
use std::path::Path;

#[test]
fn quickstart_runs_a_command_in_a_vm_and_is_idempotent() {
    let _turn = crate::second_stream();
    // The dev box's tools come from the test cache (the namespace has no
    // route out; `build_cache` fills it from outside).
    let cache = common::build_cache();
    let home = TestHome::networked(&format!(
        "web_listen_addr = \"127.0.0.1:0\"\nbuild_cache_dir = \"{}\"\n",
        cache.display()
    ));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/quickstart.sh");
    let run = |args: &[&str]| {
        let mut cmd = home.command(&script);
        // As a user's shell runs it: without the variables cargo set for this
        // test crate (CARGO_MANIFEST_DIR, CARGO_PKG_NAME, ...). Build scripts
        // watch some of them (ring's), so the script's `make build` would
        // otherwise be rebuilt by every later `make build` (CI's included).
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("CARGO_") && name != "CARGO_HOME" {
                cmd.env_remove(name);
            }
        }
        let out = cmd.args(args).output().unwrap();
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
            .contains("default_image_name = \"devbox\""),
        "{err}"
    );
    let (out, err) = run(&["opencode", "--version"]);
    assert!(out.trim().starts_with("1."), "{out}\n{err}");
    for reused in [
        "== kernel debian-cloud\npresent",
        "== image debian-bookworm\npresent",
        "== image devbox\npresent",
        "default_image_name = \"devbox\"",
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

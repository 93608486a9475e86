//! `banger vm run` in command mode with a small busybox guest: the exit
//! status (and 128+N for a signal), stdout and stderr apart, stdin, and the
//! refusals that need no VM.

mod common;

use common::TestHome;

#[test]
fn vm_run_runs_a_command_and_keeps_its_status() {
    let home =
        TestHome::networked("web_listen_addr = \"127.0.0.1:0\"\ndefault_image_name = \"busy\"\n");
    home.with_busybox("busy");

    // Refusals before any VM is made.
    let e = home.banger(&["vm", "run", "--branch", "x", "--", "true"]);
    assert!(e.stderr.contains("they need a PATH"), "{}", e.stderr);
    let e = home.banger(&["vm", "run", "/no/such/repo", "--", "true"]);
    assert!(e.stderr.contains("/no/such/repo"), "{}", e.stderr);
    let plain = home.root().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let e = home.banger(&["vm", "run", plain.to_str().unwrap(), "--", "true"]);
    assert!(e.stderr.contains("is not a git checkout"), "{}", e.stderr);
    assert_eq!(
        home.banger(&["vm", "list", "--json"]).ok().json(),
        serde_json::json!([]),
        "no VM was made for a refused run"
    );

    let out = home.banger(&[
        "vm",
        "run",
        "--name",
        "r1",
        "--",
        "sh",
        "-c",
        "pwd; echo out; echo err >&2; exit 7",
    ]);
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert_eq!(out.stdout, "/root\nout\n");
    assert!(out.stderr.ends_with("err\n"), "{}", out.stderr);
    assert!(
        out.stderr.contains("banger: VM r1 is running"),
        "{}",
        out.stderr
    );
    // The VM stays.
    assert_eq!(
        home.banger(&["vm", "show", "r1", "--json"]).ok().json()["state"],
        "running"
    );

    let killed = home.banger(&["vm", "run", "--name", "r2", "--", "sh", "-c", "kill -9 $$"]);
    assert_eq!(killed.code, 137, "{}", killed.stderr);
    let fed = home.banger_with_input(
        &["vm", "run", "--name", "r3", "--", "tr", "a-z", "A-Z"],
        b"piped\n",
    );
    assert_eq!(
        (fed.code, fed.stdout.as_str()),
        (0, "PIPED\n"),
        "{}",
        fed.stderr
    );
    for vm in ["r1", "r2", "r3"] {
        home.banger(&["vm", "delete", "--force", vm]).ok();
    }
}

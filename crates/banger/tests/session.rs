//! Guest sessions through the CLI with a busybox guest: preflight, logs by
//! stream, stop by SIGTERM or SIGKILL, survival of a daemon `kill -9`, and
//! the end recorded when the VM stops.

mod common;

use common::{TestHome, kill};

#[test]
fn sessions_outlive_clients_and_the_daemon() {
    let home = TestHome::networked("web_listen_addr = \"127.0.0.1:0\"\n");
    home.with_busybox("busy");
    let vm_dir = home.vm("s1").image("busy").create().dir;

    let started = home
        .banger(&[
            "vm",
            "session",
            "start",
            "s1",
            "--name",
            "both",
            "--cwd",
            "/tmp",
            "--env",
            "GREETING=a b=c",
            "--env",
            "HOME=/tmp",
            "--json",
            "--",
            "sh",
            "-c",
            "for i in 1 2 3; do echo out$i; echo err$i >&2; done; echo \"$GREETING $HOME\"",
        ])
        .ok()
        .json();
    assert_eq!(started["stdin_mode"], "detached");
    let err_only = home
        .banger(&[
            "vm", "session", "logs", "s1", "both", "--stream", "stderr", "--follow",
        ])
        .ok();
    assert_eq!(
        (err_only.stdout.as_str(), err_only.stderr.as_str()),
        ("", "err1\nerr2\nerr3\n")
    );
    let tail = home
        .banger(&["vm", "session", "logs", "s1", "both", "--tail", "1"])
        .ok();
    assert_eq!(
        (tail.stdout.as_str(), tail.stderr.as_str()),
        ("a b=c /tmp\n", "err3\n"),
        "--env reaches the command and overrides HOME"
    );
    let shown = home
        .banger(&["vm", "session", "show", "s1", "both", "--json"])
        .ok()
        .json();
    assert_eq!(
        (shown["state"].as_str(), shown["exit_code"].as_i64()),
        (Some("exited"), Some(0))
    );

    // Preflight: everything missing named, nothing started.
    let refused = home.banger(&[
        "vm",
        "session",
        "start",
        "s1",
        "--name",
        "nope",
        "--cwd",
        "/no/dir",
        "--require-command",
        "not-a-tool",
        "--",
        "sh",
        "-c",
        "true",
    ]);
    assert!(
        refused
            .stderr
            .contains("missing directory /no/dir, command not-a-tool"),
        "{}",
        refused.stderr
    );
    let bad_env = home.banger(&[
        "vm", "session", "start", "s1", "--name", "e", "--env", "1X=y", "--", "true",
    ]);
    assert!(
        bad_env
            .stderr
            .contains("`1X` is not an environment variable name"),
        "{}",
        bad_env.stderr
    );
    let bad = home.banger(&[
        "vm", "session", "start", "s1", "--name", "bad name", "--", "true",
    ]);
    assert!(
        bad.stderr.contains("invalid session name"),
        "{}",
        bad.stderr
    );
    let list = home
        .banger(&["vm", "session", "list", "s1", "--json"])
        .ok()
        .json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");

    // A process that ignores SIGTERM ends by SIGKILL after the grace period.
    home.banger(&[
        "vm",
        "session",
        "start",
        "s1",
        "--name",
        "stubborn",
        "--",
        "sh",
        "-c",
        "trap '' TERM; while :; do sleep 1; done",
    ])
    .ok();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let stopped = home
        .banger(&["vm", "session", "stop", "s1", "stubborn", "--grace", "1"])
        .ok();
    assert!(
        stopped.stdout.contains("ended by SIGKILL (signal 9)"),
        "{}",
        stopped.stdout
    );

    // kill -9 of the daemon while a session writes: it goes on in the guest,
    // and its output meanwhile is in the logs afterwards.
    home.banger(&[
        "vm",
        "session",
        "start",
        "s1",
        "--name",
        "ticker",
        "--",
        "sh",
        "-c",
        "i=0; while :; do i=$((i+1)); echo tick$i; sleep 0.2; done",
    ])
    .ok();
    let daemon = home.daemon_pid().unwrap();
    kill(daemon, libc::SIGKILL);
    common::wait_gone(daemon);
    std::thread::sleep(std::time::Duration::from_secs(2));
    home.banger(&["daemon", "start"]).ok();
    let ticker = home
        .banger(&["vm", "session", "show", "s1", "ticker", "--json"])
        .ok()
        .json();
    assert_eq!(ticker["state"], "running");
    let logs = home
        .banger(&["vm", "session", "logs", "s1", "ticker"])
        .ok()
        .stdout;
    assert!(
        logs.lines().count() >= 8 && logs.starts_with("tick1\n"),
        "{logs}"
    );
    let killed = home
        .banger(&[
            "vm", "session", "kill", "s1", "ticker", "--signal", "TERM", "--json",
        ])
        .ok()
        .json();
    assert_eq!(killed["exit_signal"], 15);

    // Pipe sessions: attach, exchange lines, detach, re-attach; what was
    // written while nobody was attached arrives first; one attach at a time.
    home.banger(&[
        "vm",
        "session",
        "start",
        "s1",
        "--name",
        "cat",
        "--stdin-mode",
        "pipe",
        "--",
        "sh",
        "-c",
        "(while [ ! -e /tmp/go ]; do sleep 0.2; done; echo produced-while-away) & echo early; exec cat",
    ])
    .ok();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut a = home.piped(&["vm", "session", "attach", "s1", "cat"]);
    assert_eq!(a.line(), "early");
    a.send("hello");
    assert_eq!(a.line(), "hello");
    let refused = home.banger(&["vm", "session", "attach", "s1", "cat"]);
    assert!(
        refused.stderr.contains("is attached by pid")
            && refused.stderr.contains("only one attach at a time"),
        "{}",
        refused.stderr
    );
    // End of input from a pipe: output is still relayed until the session
    // has been quiet for --idle seconds.
    let (ok, said) = a.finish();
    assert!(
        ok && said.contains("detached from session cat after 5 s without output"),
        "{said}"
    );
    let mut b = home.piped(&["vm", "session", "attach", "s1", "cat"]);
    b.send("again");
    assert_eq!(b.line(), "again", "no replay of what was delivered");
    // kill -9 of the daemon while attached: the session lives on in the
    // guest, output meanwhile is logged, and a new daemon attaches again.
    let daemon = home.daemon_pid().unwrap();
    kill(daemon, libc::SIGKILL);
    common::wait_gone(daemon);
    drop(b);
    // The session writes while no daemon runs (triggered straight through
    // the agent): the new attach replays it, and it is in the logs.
    assert_eq!(common::guest(&vm_dir, &["touch", "/tmp/go"]).0, 0);
    std::thread::sleep(std::time::Duration::from_millis(800));
    home.banger(&["daemon", "start"]).ok();
    let mut c = home.piped(&["vm", "session", "attach", "s1", "cat"]);
    assert_eq!(c.line(), "produced-while-away");
    c.send("after restart");
    assert_eq!(c.line(), "after restart");
    assert!(c.finish().0);
    let logs = home
        .banger(&["vm", "session", "logs", "s1", "cat"])
        .ok()
        .stdout;
    assert_eq!(
        logs,
        "early\nhello\nagain\nproduced-while-away\nafter restart\n"
    );
    // A script drives a pipe session: what it sends is answered before
    // banger lets go (idle, or the session's exit and status), and
    // --detach-on-eof lets go at once.
    let fed = home.banger_with_input(
        &["vm", "session", "attach", "s1", "cat", "--idle", "2"],
        b"one\ntwo\n",
    );
    assert_eq!(
        (fed.code, fed.stdout.as_str()),
        (0, "one\ntwo\n"),
        "{}",
        fed.stderr
    );
    let quick = home.banger_with_input(
        &["vm", "session", "attach", "s1", "cat", "--detach-on-eof"],
        b"",
    );
    assert!(
        quick
            .stderr
            .contains("detached from session cat; it keeps running"),
        "{}",
        quick.stderr
    );
    home.banger(&[
        "vm",
        "session",
        "start",
        "s1",
        "--name",
        "answer",
        "--stdin-mode",
        "pipe",
        "--",
        "sh",
        "-c",
        "read q; sleep 3; echo \"answer to $q\"; exit 3",
    ])
    .ok();
    let answered = home.banger_with_input(
        &["vm", "session", "attach", "s1", "answer", "--idle", "0"],
        b"life\n",
    );
    assert_eq!(
        (answered.code, answered.stdout.as_str()),
        (3, "answer to life\n"),
        "{}",
        answered.stderr
    );
    let detached = home.banger(&["vm", "session", "attach", "s1", "both"]);
    assert!(
        detached
            .stderr
            .contains("only pipe sessions can be attached"),
        "{}",
        detached.stderr
    );

    // A VM stop ends its sessions, recorded.
    home.banger(&[
        "vm", "session", "start", "s1", "--name", "long", "--", "sleep", "1000",
    ])
    .ok();
    home.banger(&["vm", "stop", "s1"]).ok();
    let after = home
        .banger(&["vm", "session", "show", "s1", "long", "--json"])
        .ok()
        .json();
    assert_eq!(after["state"], "vm_stopped");
    let text = home.banger(&["vm", "session", "list", "s1"]).ok().stdout;
    assert!(text.contains("ended with the VM"), "{text}");
    home.banger(&["vm", "delete", "s1"]).ok();
}

//! The daemon's life as the CLI sees it: on-demand start, status, stop,
//! a second daemon refused, a stale socket recovered, errors over the API.

mod common;

use common::{TestHome, alive, kill, wait_gone};
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};

#[test]
fn any_daemon_command_starts_it_on_demand_and_stop_ends_it() {
    let home = TestHome::new();
    let off = home.banger(&["daemon", "status"]);
    assert_eq!(off.code, 3, "not running is exit 3: {}", off.stdout);
    assert!(off.stdout.contains("bangerd is not running"));
    assert!(home.daemon_pid().is_none());

    // doctor needs the daemon: it is started, detached, and keeps running.
    let doctor = home.banger(&["doctor", "--json"]);
    assert!(
        doctor.stderr.contains("started bangerd (pid "),
        "{}",
        doctor.stderr
    );
    let pid = home.daemon_pid().expect("daemon running after doctor");

    let status = home.status();
    assert_eq!(status["running"], true);
    assert_eq!(status["pid"], pid);
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["socket"], home.socket().display().to_string());
    assert!(
        status["web_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert!(status["uptime_secs"].is_u64());

    let text = home.banger(&["daemon", "status"]).ok();
    assert!(
        text.stdout.contains(&format!("pid       {pid}")),
        "{}",
        text.stdout
    );

    let again = home.banger(&["daemon", "start"]).ok();
    assert!(again.stdout.contains("already running"), "{}", again.stdout);
    assert_eq!(home.daemon_pid(), Some(pid));

    let stop = home.banger(&["daemon", "stop"]).ok();
    assert!(
        stop.stdout
            .contains(&format!("stopped bangerd (pid {pid})"))
    );
    assert!(!alive(pid), "stop returns only once the process is gone");
    assert!(!home.socket().exists(), "clean stop removes the socket");
    assert_eq!(home.banger(&["daemon", "status"]).code, 3);
    // Stopping a stopped daemon is not an error.
    assert!(
        home.banger(&["daemon", "stop"])
            .ok()
            .stdout
            .contains("not running")
    );
}

#[test]
fn socket_is_private() {
    let home = TestHome::new();
    home.banger(&["daemon", "start"]).ok();
    let meta = std::fs::metadata(home.socket()).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir = std::fs::metadata(home.socket().parent().unwrap()).unwrap();
    assert_eq!(dir.permissions().mode() & 0o777, 0o700);
}

#[test]
fn second_daemon_is_refused_naming_the_first() {
    let home = TestHome::new();
    home.banger(&["daemon", "start"]).ok();
    let pid = home.daemon_pid().unwrap();
    let second = home.bangerd();
    assert_ne!(second.code, 0);
    assert!(
        second
            .stderr
            .contains(&format!("another bangerd is already running as pid {pid}")),
        "{}",
        second.stderr
    );
    // The first one is unharmed and still answers.
    assert_eq!(home.status()["pid"], pid);
}

#[test]
fn stale_socket_of_a_killed_daemon_is_replaced() {
    let home = TestHome::new();
    home.banger(&["daemon", "start"]).ok();
    let first = home.daemon_pid().unwrap();
    assert_eq!(home.status()["previous_run_unclean"], false);
    kill(first, libc::SIGKILL);
    wait_gone(first);
    assert!(home.socket().exists(), "kill -9 leaves the socket behind");
    assert_eq!(
        home.banger(&["daemon", "status"]).code,
        3,
        "a dead socket is not a running daemon"
    );

    // Any command recovers: the new daemon takes over the socket path.
    home.banger(&["doctor", "--json"]);
    let second = home.daemon_pid().unwrap();
    assert_ne!(second, first);
    let status = home.status();
    assert_eq!(status["pid"], second);
    assert_eq!(status["previous_run_unclean"], true, "the crash is noticed");
    assert!(
        std::fs::read_to_string(home.log_file())
            .unwrap()
            .contains("removed stale socket")
    );
}

#[test]
fn ssh_key_is_created_once_with_private_modes() {
    let home = TestHome::new();
    home.banger(&["daemon", "start"]).ok();
    let key = home.ssh_key();
    let meta = std::fs::metadata(&key).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir = std::fs::metadata(key.parent().unwrap()).unwrap();
    assert_eq!(dir.permissions().mode() & 0o777, 0o700);
    let first = std::fs::read(&key).unwrap();
    assert!(String::from_utf8_lossy(&first).contains("BEGIN OPENSSH PRIVATE KEY"));

    home.banger(&["daemon", "stop"]).ok();
    home.banger(&["daemon", "start"]).ok();
    assert_eq!(
        std::fs::read(&key).unwrap(),
        first,
        "an existing key is never replaced"
    );
}

#[test]
fn configured_ssh_key_is_created_where_configured() {
    let home = TestHome::new();
    let key = home.root().join("keys/banger_id");
    home.write_config(&format!(
        "web_listen_addr = \"\"\nssh_key_path = \"{}\"\n",
        key.display()
    ));
    home.banger(&["daemon", "start"]).ok();
    assert!(key.exists() && !home.ssh_key().exists());
    assert!(
        home.status()["web_url"].is_null(),
        "\"\" disables the web UI"
    );
    let text = home.banger(&["daemon", "status"]).ok().stdout;
    assert!(text.contains("web UI    disabled"), "{text}");
}

#[test]
fn daemon_start_failure_shows_what_the_daemon_said() {
    let home = TestHome::new();
    // A data dir that cannot be created: its parent is a file.
    std::fs::write(home.root().join("blocker"), "").unwrap();
    let out = std::process::Command::new(common::banger_bin())
        .args(["daemon", "start"])
        .env("HOME", home.root().join("home"))
        .env("XDG_CONFIG_HOME", home.root().join("config"))
        .env("XDG_DATA_HOME", home.root().join("blocker/data"))
        .env("XDG_STATE_HOME", home.root().join("state"))
        .env("XDG_RUNTIME_DIR", home.root().join("run"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.starts_with("error: bangerd exited during start-up"),
        "{stderr}"
    );
    assert!(
        stderr.contains("caused by: creating") && stderr.contains("blocker/data/banger"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("error:").count(),
        2,
        "CLI error once, daemon's error once:\n{stderr}"
    );
}

/// Raw HTTP over the socket, as any client could send it.
fn raw_request(home: &TestHome, request: &str) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(home.socket()).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn unknown_fields_and_routes_get_json_errors() {
    let home = TestHome::new();
    home.banger(&["daemon", "start"]).ok();
    let body = r#"{"force":true}"#;
    let resp = raw_request(
        &home,
        &format!(
            "POST /v1/daemon/shutdown HTTP/1.1\r\nHost: bangerd\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains(r#""kind":"bad_request""#), "{resp}");
    assert!(resp.contains("unknown field `force`"), "{resp}");
    assert!(
        home.daemon_pid().is_some(),
        "a rejected request does nothing"
    );

    let resp = raw_request(
        &home,
        "GET /v2/nothing HTTP/1.1\r\nHost: bangerd\r\nConnection: close\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    assert!(
        resp.contains("bangerd has no API route /v2/nothing"),
        "{resp}"
    );
}

#[test]
fn web_ui_serves_the_status_page_to_local_hosts_only() {
    let home = TestHome::new();
    home.banger(&["daemon", "start"]).ok();
    let url = home.status()["web_url"].as_str().unwrap().to_owned();
    let addr = url.trim_start_matches("http://");
    let get = |host: &str, path: &str| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let page = get(addr, "/");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.contains("<h1>banger</h1>") && page.contains(&home.socket().display().to_string())
    );
    assert!(
        page.contains("<h2>VMs</h2>") && page.contains("no VMs"),
        "{page}"
    );
    let vms = get("127.0.0.1", "/v1/vms");
    assert!(
        vms.starts_with("HTTP/1.1 200") && vms.ends_with("[]"),
        "{vms}"
    );
    let json = get("localhost", "/v1/daemon/status");
    assert!(json.contains(r#""pid":"#), "{json}");
    // Nothing that changes state is reachable over TCP.
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "POST /v1/daemon/shutdown HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(!out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(home.daemon_pid().is_some());
    // DNS rebinding: a foreign Host header is refused.
    assert!(get("attacker.example", "/").starts_with("HTTP/1.1 403"));
}

/// A daemon killed between moving a kernel into the store and recording it
/// leaves a directory no record owns: the next daemon removes it at start,
/// so the same name imports again.
#[test]
fn a_kernel_directory_without_a_record_is_removed_at_start() {
    let home = TestHome::new();
    let ghost = home.root().join("data/banger/kernels/debian");
    std::fs::create_dir_all(&ghost).unwrap();
    std::fs::write(ghost.join("vmlinux"), "half made").unwrap();
    home.banger(&["daemon", "start"]).ok();
    assert!(!ghost.exists(), "the orphan directory is gone");
    let deb = common::test_deb();
    home.banger(&["kernel", "import", "debian", "--deb", deb.to_str().unwrap()])
        .ok();
    assert!(ghost.join("vmlinux").is_file());
}

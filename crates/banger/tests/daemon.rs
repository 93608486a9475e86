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
fn web_ui_answers_local_hosts_with_the_token_only() {
    let home = TestHome::new();
    home.banger(&["daemon", "start"]).ok();
    let url = home.status()["web_url"].as_str().unwrap().to_owned();
    let (addr, token) = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .split_once('/')
        .expect("http://ADDR/TOKEN/");
    assert_eq!(token.len(), 32, "{url}");
    let send = |host: &str, request_line: &str| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "{request_line} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let get = |host: &str, path: &str| send(host, &format!("GET {path}"));
    let page = get(addr, &format!("/{token}/"));
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("data-page=\"overview\""), "{page}");
    assert!(page.contains(&format!("/{token}/assets/app.js")), "{page}");
    let lower = page.to_ascii_lowercase();
    assert!(lower.contains("referrer-policy: no-referrer"), "{page}");
    assert!(
        lower.contains("content-security-policy: default-src 'self'"),
        "{page}"
    );
    assert!(get(addr, &format!("/{token}/assets/app.js")).contains("EventSource"));
    let overview = get("127.0.0.1", &format!("/{token}/ui/overview"));
    assert!(
        overview.starts_with("HTTP/1.1 200")
            && overview.contains(r#""vms":[]"#)
            && overview.contains(&home.socket().display().to_string()),
        "{overview}"
    );
    let vms = get("localhost", &format!("/{token}/v1/vms"));
    assert!(
        vms.starts_with("HTTP/1.1 200") && vms.ends_with("[]"),
        "{vms}"
    );

    // Without the token, or with another one, nothing is served.
    let wrong = format!("/{}/", "0".repeat(32));
    for path in [
        "/",
        "/v1/vms",
        "/v1/daemon/status",
        wrong.as_str(),
        "/assets/app.js",
    ] {
        let refused = get(addr, path);
        assert!(refused.starts_with("HTTP/1.1 403"), "{path}: {refused}");
        assert!(refused.contains("token"), "{refused}");
        assert!(!refused.contains(token), "{refused}");
    }
    // Nothing that changes state is reachable over TCP.
    let post = send(addr, &format!("POST /{token}/v1/daemon/shutdown"));
    assert!(!post.starts_with("HTTP/1.1 200"), "{post}");
    assert!(home.daemon_pid().is_some());
    // DNS rebinding: a foreign Host header is refused, token or not.
    assert!(get("attacker.example", &format!("/{token}/")).starts_with("HTTP/1.1 403"));

    // The live stream greets at once.
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(s, "GET /{token}/events HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("event: hello") {
        let n = s.read(&mut buf).expect("the event stream answers");
        assert!(n > 0, "{}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).contains("text/event-stream"));

    // The token is private and kept: an open page reconnects to the next
    // daemon (which stops although a stream is open).
    let file = home.root().join("data/banger/web-token");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    home.banger(&["daemon", "stop"]).ok();
    drop(s);
    home.banger(&["daemon", "start"]).ok();
    let again = home.status()["web_url"].as_str().unwrap().to_owned();
    assert!(
        again.ends_with(&format!("/{token}/")),
        "{again} after {url}"
    );
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

//! `image build` with the real tools (Node.js, npm, opencode, Claude Code,
//! pi, mise from the npm registry, cached in the test cache) on banger's
//! golden Debian image, offline in the test's network namespace; then a VM
//! of the dev box, with the tools on PATH and the opencode service.

mod common;
// The quick start builds a dev box as well: in this binary, it runs beside
// these tests instead of after them.
#[path = "build/quickstart.rs"]
mod quickstart;

/// Two streams of work, not three: the dev box build runs beside the
/// quick start and the failure cases, which take this lock in turn. Each
/// stream is CPU-bound (a guest under TCG, a release build), and three on
/// two cores took longer in all than two.
static SECOND_STREAM: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn second_stream() -> std::sync::MutexGuard<'static, ()> {
    // A failed test poisons the lock; the next one still runs.
    SECOND_STREAM.lock().unwrap_or_else(|e| e.into_inner())
}

use common::{TestHome, build_cache, golden_image};

fn sha(path: &str) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// The NDJSON events of `--json`: the progress steps and the final result.
fn events(stdout: &str) -> (Vec<String>, serde_json::Value) {
    let mut steps = Vec::new();
    let mut result = serde_json::Value::Null;
    for line in stdout.lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        match e["type"].as_str() {
            Some("progress") => {
                steps.push(e["progress"]["detail"].as_str().unwrap_or("").to_owned())
            }
            Some("result") => result = e["result"].clone(),
            other => panic!("unexpected event {other:?}: {line}"),
        }
    }
    (steps, result)
}

#[test]
fn a_dev_box_is_built_offline_and_boots_with_the_tools_and_the_opencode_service() {
    let golden = golden_image();
    let cache = build_cache();
    let home = TestHome::networked(&format!(
        "web_listen_addr = \"127.0.0.1:0\"\nbuild_cache_dir = \"{}\"\n",
        cache.display()
    ));
    // The busybox image comes with the test kernel, `debian`.
    home.with_busybox("busy");
    let golden = golden.to_str().unwrap();
    home.banger(&[
        "image",
        "register",
        "--name",
        "bookworm",
        "--rootfs",
        golden,
        "--kernel-ref",
        "debian",
    ])
    .ok();
    let base_sum = sha(golden);

    // A base it cannot provision is refused before anything boots.
    let refused = home.banger(&["image", "build", "--name", "nope", "--from-image", "busy"]);
    assert!(
        refused
            .stderr
            .contains("provisions Debian images that boot with systemd"),
        "{}",
        refused.stderr
    );

    let built = home
        .banger(&[
            "image",
            "build",
            "--name",
            "devbox",
            "--from-image",
            "bookworm",
            "--docker",
            "--json",
        ])
        .ok();
    let (steps, image) = events(&built.stdout);
    for want in [
        "booting the build VM",
        "provisioning",
        "installing Node.js 24.22.3",
        "installing Docker Engine (docker.io)",
    ] {
        assert!(
            steps.iter().any(|s| s.starts_with(want)),
            "no step {want}: {steps:?}"
        );
    }
    let tools = image["build"]["tools"].as_array().unwrap();
    let commands: Vec<&str> = tools
        .iter()
        .map(|t| t["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["opencode", "claude", "pi", "mise", "docker"]);
    for t in tools {
        assert!(
            t["version"]
                .as_str()
                .unwrap()
                .chars()
                .any(|c| c.is_ascii_digit()),
            "{t}"
        );
    }
    let log = std::fs::read_to_string(image["build"]["log"].as_str().unwrap()).unwrap();
    assert!(
        log.contains("::step:: recording the tool versions"),
        "{log}"
    );
    let rootfs = image["rootfs"].as_str().unwrap();
    let fsck = std::process::Command::new("e2fsck")
        .args(["-fn", rootfs])
        .output()
        .unwrap();
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stdout)
    );
    assert_eq!(sha(golden), base_sum, "the base image is untouched");
    let shown = home.banger(&["image", "show", "devbox"]).ok().stdout;
    assert!(
        shown.contains("build log") && shown.contains("opencode-ai@"),
        "{shown}"
    );
    // Nothing of the build is left: no VM, no staging.
    let vms = home.banger(&["vm", "list", "--json"]).ok().json();
    assert_eq!(vms.as_array().unwrap().len(), 0, "{vms}");

    // `vm run PATH` (interactive): the real mise bootstraps the checkout's
    // mise.toml (env and a task; nothing to download) in the background.
    let repo = home.root().join("proj");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join("mise.toml"),
        "[env]\nBANGER_MARK = \"mise-env-ok\"\n\n[tasks.hello]\nrun = \"echo hello-from-mise\"\n",
    )
    .unwrap();
    for args in [
        &["init", "-q"][..],
        &["add", "-A"],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "m",
        ],
    ] {
        let st = std::process::Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let log = "/root/.cache/banger/vm-run-tooling-proj.log";
    let typed = format!(
        "for i in $(seq 300); do grep -q 'tools are installed' {log} 2>/dev/null && break; sleep 1; done; \
         cat {log}; mise run hello; exit\n"
    );
    let shell = home.banger_in_terminal(
        &[
            "vm",
            "run",
            repo.to_str().unwrap(),
            "--image",
            "devbox",
            "--name",
            "dev1",
        ],
        typed.as_bytes(),
    );
    assert!(
        shell.contains("mise trusted ~/repo") && shell.contains("hello-from-mise"),
        "the mise bootstrap's log: {shell}"
    );
    let shown = home.banger(&["vm", "show", "dev1", "--json"]).ok().json();
    let dev = common::TestVm {
        home: &home,
        name: "dev1".into(),
        dir: shown["dir"].as_str().unwrap().into(),
        shown,
    };
    for (cmd, want) in [
        ("opencode", "1.18.33"),
        ("claude", "2.1.332"),
        ("pi", "0.73.1"),
        ("mise", "2026.9.15"),
    ] {
        let v = dev.run(&[cmd, "--version"]);
        assert!(v.contains(want), "{cmd} --version: {v}");
    }

    // The opencode service: enabled at boot, listening on 0.0.0.0:4096,
    // answering HTTP from the host at the guest's address.
    wait_for("opencode on :4096", || {
        let ports = home.banger(&["vm", "ports", "dev1", "--json"]).ok().json();
        ports["ports"].as_array().unwrap().iter().any(|p| {
            p["port"] == 4096
                && p["address"] == "0.0.0.0"
                && p["process"]
                    .as_str()
                    .is_some_and(|n| n.contains("opencode"))
        })
    });
    let ip = dev.shown["ip"].as_str().unwrap().to_owned();
    let access = home
        .banger(&["vm", "opencode", "dev1", "--show-secret", "--json"])
        .ok()
        .json();
    assert_eq!(access["url"], format!("http://{ip}:4096"));
    assert_eq!(access["username"], "opencode");
    let password = access["password"].as_str().unwrap().to_owned();
    assert!(password.len() >= 32, "{access}");
    // bash's /dev/tcp, inside the test's namespace where the guest is. A
    // new connection per try: opencode binds its port well before it
    // serves (minutes under TCG), and a connection made in between is
    // never answered.
    let http_get = |auth: &str| {
        let get = format!(
            "exec 3<>/dev/tcp/{ip}/4096 && printf 'GET /path HTTP/1.0\\r\\nHost: {ip}\\r\\n{auth}\\r\\n' >&3 && timeout 20 cat <&3"
        );
        let (mut code, mut http) = (-1, String::new());
        for _ in 0..40 {
            let out = home
                .ns()
                .command(std::path::Path::new("bash"))
                .args(["-c", &get])
                .output()
                .unwrap();
            (code, http) = (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            );
            if code == 0 && !http.is_empty() {
                break;
            }
        }
        (code, http)
    };
    // Without the VM's password: refused.
    let (code, http) = http_get("");
    assert!(
        code == 0 && http.starts_with("HTTP/1.1 401"),
        "opencode without the password: {http}"
    );
    let basic = std::process::Command::new("sh")
        .args([
            "-c",
            "printf 'opencode:%s' \"$1\" | base64 -w0",
            "-",
            &password,
        ])
        .output()
        .unwrap();
    let basic = String::from_utf8(basic.stdout).unwrap();
    let (code, http) = http_get(&format!("Authorization: Basic {basic}\\r\\n"));
    assert!(
        code == 0 && http.starts_with("HTTP/1.1 200") && http.contains("\"home\":\"/root\""),
        "opencode over HTTP from the host, with the password: {http}"
    );
    // `vm opencode`: this host's opencode (the one the dev box has) attached
    // with the password banger hands it: the TUI draws the guest's session
    // screen.
    let host_opencode = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("tools-")
        })
        .unwrap()
        .join("lib/node_modules/opencode-ai/node_modules/opencode-linux-x64/bin/opencode");
    let mut tui = home.terminal(&[
        "vm",
        "opencode",
        "dev1",
        "--opencode",
        host_opencode.to_str().unwrap(),
    ]);
    assert!(
        tui.wait_for("Ask anything", std::time::Duration::from_secs(300)),
        "opencode attach: {}",
        tui.screen()
    );
    assert!(!tui.screen().contains("401"), "{}", tui.screen());
    tui.send(b"\x03");
    drop(tui);
    // The password is in no log and no description of the VM.
    for (what, text) in [
        (
            "the daemon log",
            std::fs::read_to_string(home.log_file()).unwrap(),
        ),
        (
            "vm show",
            home.banger(&["vm", "show", "dev1", "--json"]).ok().stdout,
        ),
        (
            "vm list",
            home.banger(&["vm", "list", "--json"]).ok().stdout,
        ),
        (
            "vm ports",
            home.banger(&["vm", "ports", "dev1"]).ok().stdout,
        ),
    ] {
        assert!(!text.contains(&password), "the password is in {what}");
    }
    assert!(
        home.banger(&["vm", "ports", "dev1"])
            .ok()
            .stdout
            .contains("banger vm opencode dev1")
    );
    // Another VM on the bridge reaches neither the dev box's opencode nor
    // its sshd (the host does: above, and `vm run`'s ssh).
    let peer = home.vm("peer").image("busy").create();
    for port in ["4096", "22"] {
        let (_, out) = peer.guest(&[
            "sh",
            "-c",
            &format!("nc -w 5 {ip} {port} </dev/null && echo connected"),
        ]);
        assert!(!out.contains("connected"), "peer -> dev1:{port}: {out}");
    }
    drop(peer);

    // `vm acp`: an ACP `initialize` to the real `opencode acp`, its result back.
    let mut acp = home.piped(&["vm", "acp", "dev1"]);
    acp.send(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1,"clientCapabilities":{}}}"#);
    let answer: serde_json::Value =
        serde_json::from_str(&acp.line_where(|l| l.starts_with('{'))).unwrap();
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(
        answer["result"]["agentInfo"]["name"], "OpenCode",
        "{answer}"
    );
    drop(acp);

    // The spec's pi session in pipe mode, attached: an RPC that needs no model.
    home.banger(&[
        "vm",
        "session",
        "start",
        "dev1",
        "--name",
        "planner",
        "--cwd",
        "/root/repo",
        "--stdin-mode",
        "pipe",
        "--",
        "pi",
        "--mode",
        "rpc",
        "--no-session",
    ])
    .ok();
    let mut pi = home.piped(&["vm", "session", "attach", "dev1", "planner"]);
    pi.send(r#"{"id":"s1","type":"get_state"}"#);
    let state: serde_json::Value =
        serde_json::from_str(&pi.line_where(|l| l.contains(r#""id":"s1""#))).unwrap();
    assert_eq!(state["command"], "get_state", "{state}");
    assert_eq!(state["success"], true, "{state}");
    assert!(pi.finish().0);

    // Docker Engine, running since boot on banger's disk and kernel: an
    // image made here from the guest's own files (no registry) runs.
    let mut active = false;
    for _ in 0..120 {
        active = dev.guest(&["systemctl", "is-active", "docker"]).1.trim() == "active";
        if active {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    assert!(
        active,
        "docker is not running: {}",
        dev.guest(&["sh", "-c", "systemctl status docker containerd; journalctl -b -u docker -u containerd --no-pager | tail -40"]).1
    );
    let info = dev.run(&["docker", "info", "--format", "{{.Driver}}"]);
    assert_eq!(info, "overlay2");
    dev.run(&[
        "sh",
        "-c",
        "tar -chf /root/mini.tar /usr/bin/dash /lib/x86_64-linux-gnu/libc.so.6 /lib64/ld-linux-x86-64.so.2 2>/dev/null \
         && docker import /root/mini.tar local/mini",
    ]);
    let said = dev.run(&[
        "docker",
        "run",
        "--rm",
        "local/mini",
        "/usr/bin/dash",
        "-c",
        "echo hello from docker",
    ]);
    assert_eq!(said, "hello from docker");
}

/// A home with the golden image as `bookworm` and the filled build cache.
fn build_home() -> (TestHome, std::path::PathBuf) {
    let cache = build_cache();
    let home = TestHome::networked(&format!(
        "web_listen_addr = \"127.0.0.1:0\"\nbuild_cache_dir = \"{}\"\n",
        cache.display()
    ));
    let golden = home.with_golden_image("bookworm");
    (home, golden)
}

/// What a build must never leave: an image record, a VM (with its address
/// and TAP), a staging directory, a process of its VM.
fn nothing_left(home: &TestHome, image: &str) {
    let images = home.banger(&["image", "list", "--json"]).ok().json();
    assert!(
        !images
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == image),
        "{images}"
    );
    let vms = home.banger(&["vm", "list", "--json"]).ok().json();
    assert_eq!(vms.as_array().unwrap().len(), 0, "{vms}");
    let staging: Vec<_> = std::fs::read_dir(home.root().join("data/banger/tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(staging.is_empty(), "{staging:?}");
    let vm_dirs: Vec<_> = std::fs::read_dir(home.root().join("data/banger/vms"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(vm_dirs.is_empty(), "{vm_dirs:?}");
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    for _ in 0..600 {
        if ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!("timed out waiting for {what}");
}

/// The build VM's step, from its build log in the staging area.
fn build_log_has(home: &TestHome, text: &str) -> bool {
    std::fs::read_dir(home.root().join("data/banger/tmp"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            std::fs::read_to_string(e.path().join("build.log")).is_ok_and(|l| l.contains(text))
        })
}

/// A provisioning step that fails (here: /usr/local/lib/node_modules is a
/// file in the base), Ctrl-C, a guest that dies and a daemon killed mid-build: each
/// leaves nothing, and a failure names its step and the end of the log.
#[test]
fn a_failed_or_interrupted_build_leaves_nothing() {
    let _turn = second_stream();
    let (home, golden) = build_home();

    // A base whose provisioning fails: a file where npm's directory goes.
    let broken = home.root().join("broken.ext4");
    std::fs::copy(&golden, &broken).unwrap();
    let script = "write /dev/null /usr/local/lib/node_modules\n";
    let mut dbg = std::process::Command::new("debugfs")
        .args(["-w", "-f", "-"])
        .arg(&broken)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(dbg.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
    drop(dbg.stdin.take());
    assert!(dbg.wait().unwrap().success());
    home.banger(&[
        "image",
        "register",
        "--name",
        "broken",
        "--rootfs",
        broken.to_str().unwrap(),
        "--kernel-ref",
        "debian",
    ])
    .ok();
    let failed = home.banger(&["image", "build", "--name", "b1", "--from-image", "broken"]);
    assert_ne!(failed.code, 0);
    assert!(
        failed
            .stderr
            .contains("provisioning failed at step `installing npm")
            && failed.stderr.contains("last lines of the build log"),
        "{}",
        failed.stderr
    );
    nothing_left(&home, "b1");

    // Ctrl-C while the build VM boots.
    let mut cli = home
        .command(&common::banger_bin())
        .args(["image", "build", "--name", "c1", "--from-image", "bookworm"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the build VM", || {
        build_log_has(&home, "] booting the build VM")
    });
    common::kill(cli.id() as i32, libc::SIGINT);
    cli.wait().unwrap();
    wait_for("the cancelled build's cleanup", || {
        std::fs::read_to_string(home.log_file())
            .is_ok_and(|l| l.contains("image=c1") && l.contains("nothing kept"))
    });
    nothing_left(&home, "c1");

    // The guest dies while provisioning.
    let cli = home
        .command(&common::banger_bin())
        .args(["image", "build", "--name", "g1", "--from-image", "bookworm"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("provisioning", || build_log_has(&home, "::step::"));
    let vm = home
        .banger(&["vm", "show", "build-g1", "--json"])
        .ok()
        .json();
    common::kill(vm["vmm_pid"].as_i64().unwrap() as i32, libc::SIGKILL);
    let out = cli.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("the build VM's agent failed") || stderr.contains("provisioning failed"),
        "{stderr}"
    );
    nothing_left(&home, "g1");

    // The daemon killed mid-build: the next start removes what it left.
    let mut cli = home
        .command(&common::banger_bin())
        .args(["image", "build", "--name", "k1", "--from-image", "bookworm"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut vm = serde_json::Value::Null;
    wait_for("the build VM's VMM", || {
        vm = serde_json::from_str(&home.banger(&["vm", "show", "build-k1", "--json"]).stdout)
            .unwrap_or_default();
        vm["vmm_pid"].is_u64()
    });
    let daemon = home.daemon_pid().unwrap();
    common::kill(daemon, libc::SIGKILL);
    common::wait_gone(daemon);
    let _ = cli.wait();
    home.banger(&["daemon", "start"]).ok();
    let log = std::fs::read_to_string(home.log_file()).unwrap();
    assert!(
        log.contains("removed what an interrupted image build left"),
        "{log}"
    );
    nothing_left(&home, "k1");
    if let Some(pid) = vm["vmm_pid"].as_i64() {
        assert!(!common::alive(pid as i32), "the build VM's VMM is gone");
    }
}

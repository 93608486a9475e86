//! Workspaces and `vm run` with banger's golden Debian guest (it has git):
//! the host checkout's state as `git status` shows it, preserved file
//! kinds, read-only mode, the other modes, branches, and the refusals.

mod common;

use common::{TestHome, git, golden_image};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A checkout with every kind of change: edits, a deletion, new files, an
/// ignored file, an executable, a symlink, an empty file, odd names.
fn repo(root: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let r = root.join("my repo");
    std::fs::create_dir_all(r.join("dir with space")).unwrap();
    git(&r, &["init", "-q", "-b", "main"]);
    std::fs::write(r.join("tracked.txt"), "v1\n").unwrap();
    std::fs::write(r.join("to-delete.txt"), "bye\n").unwrap();
    std::fs::write(r.join("dir with space/ünïcode.txt"), "ü\n").unwrap();
    std::fs::write(r.join("run.sh"), "#!/bin/sh\necho ran\n").unwrap();
    std::fs::set_permissions(r.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(r.join("empty"), "").unwrap();
    std::os::unix::fs::symlink("run.sh", r.join("link")).unwrap();
    std::fs::write(r.join(".gitignore"), "*.log\n").unwrap();
    git(&r, &["add", "-A"]);
    git(&r, &["commit", "-q", "-m", "first"]);
    std::fs::write(r.join("second.txt"), "2\n").unwrap();
    git(&r, &["add", "-A"]);
    git(&r, &["commit", "-q", "-m", "second"]);
    git(
        &r,
        &[
            "remote",
            "add",
            "origin",
            "https://example.invalid/my-repo.git",
        ],
    );
    // Uncommitted state.
    std::fs::write(r.join("tracked.txt"), "v2 uncommitted\n").unwrap();
    std::fs::remove_file(r.join("to-delete.txt")).unwrap();
    std::fs::write(r.join("new.txt"), "untracked\n").unwrap();
    std::fs::write(r.join("build.log"), "ignored\n").unwrap();
    r
}

fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_owned).collect();
    v.sort();
    v
}

#[test]
fn workspaces_in_a_debian_guest() {
    let home = TestHome::networked(
        "web_listen_addr = \"127.0.0.1:0\"\ndefault_image_name = \"bookworm\"\n",
    );
    home.with_golden_image("bookworm");
    let r = repo(home.root());
    let rs = r.to_str().unwrap();

    // vm run PATH -- CMD: in /root/repo, the host's changes, exit status kept.
    let script = "git status --porcelain; echo ---; test -e build.log || echo no-ignored; \
                  stat -c %a run.sh; readlink link; wc -c < empty; cat 'dir with space/ünïcode.txt'; \
                  git remote get-url origin; git rev-parse --abbrev-ref HEAD; git rev-parse HEAD; \
                  git rev-list --count HEAD; pwd; echo to-stderr >&2; exit 7";
    let out = home.banger(&["vm", "run", rs, "--name", "w1", "--", "sh", "-c", script]);
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(out.stderr.contains("to-stderr") && !out.stdout.contains("to-stderr"));
    assert!(
        out.stderr.contains("banger: VM w1 is running"),
        "{}",
        out.stderr
    );
    let (status, rest) = out.stdout.split_once("---\n").unwrap();
    assert_eq!(
        sorted_lines(status),
        sorted_lines(&git(&r, &["status", "--porcelain"])),
        "the guest's git status is the host's"
    );
    let head = git(&r, &["rev-parse", "HEAD"]);
    let want = format!(
        "no-ignored\n755\nrun.sh\n0\nü\nhttps://example.invalid/my-repo.git\nmain\n{head}1\n/root/repo\n"
    );
    assert_eq!(rest, want);

    // A daemon that dies in the middle of a prepare (BANGER_FAULT): the
    // VM runs on, the next daemon adopts it, and the prepare done again
    // gives the whole workspace (the half-made one is cleared).
    let again = [
        "vm",
        "workspace",
        "prepare",
        "w1",
        rs,
        "--guest-path",
        "/root/again",
    ];
    home.crash_at("workspace-prepare:sent", &again);
    home.banger(&again).ok();
    let status = home
        .banger(&[
            "vm",
            "exec",
            "w1",
            "--cwd",
            "/root/again",
            "--",
            "git",
            "status",
            "--porcelain",
        ])
        .ok();
    assert_eq!(
        sorted_lines(&status.stdout),
        sorted_lines(&git(&r, &["status", "--porcelain"]))
    );

    // Export: the guest's work comes back as a host branch; the host's
    // working tree and current branch are untouched.
    let before = git(&r, &["status", "--porcelain"]);
    home.banger(&[
        "vm",
        "exec",
        "w1",
        "--cwd",
        "/root/repo",
        "--",
        "sh",
        "-c",
        "echo guest-edit >> tracked.txt; echo made-in-guest > guest.txt",
    ])
    .ok();
    let ex = home
        .banger(&["vm", "workspace", "export", "w1", "--json"])
        .ok()
        .json();
    assert_eq!(
        (ex["branch"].as_str(), ex["commits"].as_u64()),
        (Some("banger/w1"), Some(1))
    );
    let stat = ex["diffstat"].as_str().unwrap();
    assert!(
        stat.contains("guest.txt") && stat.contains("tracked.txt") && stat.contains("new.txt"),
        "{stat}"
    );
    assert_eq!(git(&r, &["show", "banger/w1:guest.txt"]), "made-in-guest\n");
    assert_eq!(
        git(&r, &["show", "banger/w1:tracked.txt"]),
        "v2 uncommitted\nguest-edit\n"
    );
    assert_eq!(
        git(&r, &["log", "-1", "--format=%s", "banger/w1"]),
        "banger: work from VM w1\n"
    );
    assert_eq!(git(&r, &["status", "--porcelain"]), before);
    assert_eq!(git(&r, &["rev-parse", "--abbrev-ref", "HEAD"]), "main\n");
    let again = home.banger(&["vm", "workspace", "export", "w1"]);
    assert!(
        again.stderr.contains("branch `banger/w1` already exists"),
        "{}",
        again.stderr
    );
    home.banger(&["vm", "workspace", "export", "w1", "--force"])
        .ok();
    let none = home.banger(&[
        "vm",
        "workspace",
        "export",
        "w1",
        "--guest-path",
        "/root/none",
    ]);
    assert!(
        none.stderr.contains("has no workspace at /root/none"),
        "{}",
        none.stderr
    );

    // vm acp: a clear error without opencode; with it, a byte-exact pipe
    // in /root/repo whose exit status is opencode's.
    let e = home.banger(&["vm", "acp", "w1"]);
    assert!(
        e.stderr.contains("opencode is not installed in VM `w1`"),
        "{}",
        e.stderr
    );
    home.banger(&[
        "vm", "exec", "w1", "--", "sh", "-c",
        "printf '#!/bin/sh\\npwd >&2\\necho \"$@\" >&2\\ncat\\nexit 5\\n' > /usr/local/bin/opencode && chmod 755 /usr/local/bin/opencode",
    ])
    .ok();
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let acp = home.banger_raw(&["vm", "acp", "w1"], &bytes);
    let err = String::from_utf8_lossy(&acp.stderr);
    assert_eq!(acp.status.code(), Some(5), "{err}");
    assert!(
        acp.stdout == bytes,
        "not byte-exact ({} bytes back)",
        acp.stdout.len()
    );
    assert!(err.contains("/root/repo") && err.contains("acp"), "{err}");
    let acp = home.banger_raw(&["vm", "acp", "w1", "--cwd", "/tmp"], b"");
    assert!(String::from_utf8_lossy(&acp.stderr).contains("/tmp"));

    // Read-only: the guest cannot change it.
    let prep = |args: &[&str]| {
        let mut all = vec!["vm", "workspace", "prepare", "w1", rs];
        all.extend(args);
        home.banger(&all)
    };
    let ro = prep(&["--guest-path", "/root/ro", "--readonly", "--json"])
        .ok()
        .json();
    assert_eq!(ro["readonly"], true);
    let touch = home.banger(&["vm", "exec", "w1", "--", "touch", "/root/ro/x"]);
    assert_ne!(touch.code, 0);
    assert!(
        touch.stderr.contains("Read-only file system"),
        "{}",
        touch.stderr
    );
    // Preparing again over it works (the mount goes first).
    prep(&["--guest-path", "/root/ro"]).ok();
    home.banger(&["vm", "exec", "w1", "--", "touch", "/root/ro/x"])
        .ok();

    // metadata_only: HEAD's files, no local changes.
    prep(&["--guest-path", "/root/meta", "--mode", "metadata-only"]).ok();
    let meta = home
        .banger(&[
            "vm",
            "exec",
            "w1",
            "--cwd",
            "/root/meta",
            "--",
            "sh",
            "-c",
            "git status --porcelain; cat tracked.txt",
        ])
        .ok();
    assert_eq!(meta.stdout, "v1\n");

    // full_copy: whole history, ignored files too.
    prep(&["--guest-path", "/root/full", "--mode", "full-copy"]).ok();
    let full = home
        .banger(&[
            "vm",
            "exec",
            "w1",
            "--cwd",
            "/root/full",
            "--",
            "sh",
            "-c",
            "git rev-list --count HEAD; cat build.log",
        ])
        .ok();
    assert_eq!(full.stdout, "2\nignored\n");

    // --branch/--from: a new branch at another commit, local edits carried.
    let first = git(&r, &["rev-parse", "HEAD~1"]);
    let br = prep(&[
        "--guest-path",
        "/root/br",
        "--branch",
        "feature",
        "--from",
        "HEAD~1",
        "--json",
    ])
    .ok()
    .json();
    assert_eq!(
        (br["branch"].as_str(), br["head"].as_str()),
        (Some("feature"), Some(first.trim()))
    );
    let carried = home
        .banger(&[
            "vm",
            "exec",
            "w1",
            "--cwd",
            "/root/br",
            "--",
            "sh",
            "-c",
            "cat tracked.txt; test -e second.txt || echo no-second",
        ])
        .ok();
    assert_eq!(carried.stdout, "v2 uncommitted\nno-second\n");

    // Refusals, each naming the problem.
    let plain = home.root().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let e = home.banger(&["vm", "workspace", "prepare", "w1", plain.to_str().unwrap()]);
    assert!(e.stderr.contains("is not a git checkout"), "{}", e.stderr);
    let e = home.banger(&["vm", "workspace", "prepare", "w1", "/no/such/repo"]);
    assert!(e.stderr.contains("/no/such/repo"), "{}", e.stderr);
    // A real submodule, carried by full_copy and by the default mode.
    let lib = home.root().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    git(&lib, &["init", "-q"]);
    std::fs::write(lib.join("lib.txt"), "from the submodule\n").unwrap();
    git(&lib, &["add", "-A"]);
    git(&lib, &["commit", "-q", "-m", "lib"]);
    let sub = home.root().join("with-sub");
    std::fs::create_dir_all(&sub).unwrap();
    git(&sub, &["init", "-q"]);
    git(
        &sub,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            lib.to_str().unwrap(),
            "lib",
        ],
    );
    git(&sub, &["commit", "-q", "-m", "s"]);
    // (Every mode carries it: tests/checkouts.rs has the layouts in full.)
    prep_sub_default(&home, &sub);
    home.banger(&[
        "vm",
        "workspace",
        "prepare",
        "w1",
        sub.to_str().unwrap(),
        "--mode",
        "full-copy",
        "--guest-path",
        "/root/sub",
    ])
    .ok();
    let inside = home
        .banger(&[
            "vm",
            "exec",
            "w1",
            "--cwd",
            "/root/sub",
            "--",
            "sh",
            "-c",
            "cat lib/lib.txt; git submodule status | wc -l",
        ])
        .ok();
    assert_eq!(inside.stdout, "from the submodule\n1\n");
    let e = home.banger(&["vm", "workspace", "prepare", "nope", rs]);
    assert!(e.stderr.contains("no VM named `nope`"), "{}", e.stderr);
    // A guest that wedges in the middle of a prepare (its git never
    // returns) cannot hold `vm stop`: the prepare is interrupted, says why.
    home.banger(&[
        "vm",
        "exec",
        "w1",
        "--",
        "sh",
        "-c",
        "printf '#!/bin/sh\\nexec sleep 100000\\n' >/usr/local/bin/git; chmod +x /usr/local/bin/git",
    ])
    .ok();
    let stuck = home
        .command(&common::banger_bin())
        .args([
            "vm",
            "workspace",
            "prepare",
            "w1",
            rs,
            "--guest-path",
            "/root/stuck",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        let waiting = home.banger(&["vm", "exec", "w1", "--", "pgrep", "-f", "sleep 100000"]);
        if waiting.code == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let mut stop = home
        .command(&common::banger_bin())
        .args(["vm", "stop", "w1"])
        .spawn()
        .unwrap();
    let stopped = (0..600).find_map(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        stop.try_wait().unwrap()
    });
    if stopped.is_none() {
        let _ = stop.kill();
        panic!("`vm stop` was held by the wedged prepare");
    }
    assert!(stopped.unwrap().success());
    let out = stuck.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr
            .contains("the workspace prepare was interrupted: VM `w1` is being stopped or deleted"),
        "{stderr}"
    );
    let e = prep(&[]);
    assert!(e.stderr.contains("VM `w1` is not running"), "{}", e.stderr);
    home.banger(&["vm", "delete", "w1"]).ok();
}

fn prep_sub_default(home: &TestHome, sub: &Path) {
    home.banger(&[
        "vm",
        "workspace",
        "prepare",
        "w1",
        sub.to_str().unwrap(),
        "--guest-path",
        "/root/sub-overlay",
    ])
    .ok();
    let inside = home
        .banger(&[
            "vm",
            "exec",
            "w1",
            "--cwd",
            "/root/sub-overlay",
            "--",
            "cat",
            "lib/lib.txt",
        ])
        .ok();
    assert_eq!(inside.stdout, "from the submodule\n");
}

/// Interactive `vm run PATH`: a login shell in /root/repo over ssh with a
/// terminal, and the mise tooling bootstrap started in the background
/// (the image here is the golden one plus a stand-in `mise`).
#[test]
fn interactive_vm_run_lands_in_the_repo_and_starts_tooling() {
    let golden = golden_image();
    let home = TestHome::networked("web_listen_addr = \"127.0.0.1:0\"\n");
    home.with_test_kernel("debian");
    let image = home.root().join("with-mise.ext4");
    let cp = Command::new("cp")
        .args(["--sparse=always"])
        .arg(&golden)
        .arg(&image)
        .status()
        .unwrap();
    assert!(cp.success());
    let fake = home.root().join("mise");
    std::fs::write(&fake, "#!/bin/sh\necho \"fake mise $*\"\n").unwrap();
    for req in [
        format!("write {} /usr/local/bin/mise", fake.display()),
        "sif /usr/local/bin/mise mode 0100755".to_owned(),
    ] {
        let out = Command::new("debugfs")
            .args(["-w", "-R", &req])
            .arg(&image)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    home.banger(&[
        "image",
        "register",
        "--name",
        "with-mise",
        "--rootfs",
        image.to_str().unwrap(),
        "--kernel-ref",
        "debian",
    ])
    .ok();
    let r = home.root().join("tooled");
    std::fs::create_dir_all(&r).unwrap();
    git(&r, &["init", "-q"]);
    std::fs::write(r.join("mise.toml"), "[tools]\n").unwrap();
    git(&r, &["add", "-A"]);
    git(&r, &["commit", "-q", "-m", "tools"]);

    let text = home.banger_in_terminal(
        &[
            "vm",
            "run",
            r.to_str().unwrap(),
            "--image",
            "with-mise",
            "--name",
            "i1",
        ],
        b"echo at-$(pwd); sleep 3; cat /root/.cache/banger/vm-run-tooling-tooled.log; exit\n",
    );
    assert!(text.contains("at-/root/repo"), "{text}");
    assert!(
        text.contains("fake mise install"),
        "tooling bootstrap ran: {text}"
    );
    assert_eq!(
        home.banger(&["vm", "show", "i1", "--json"]).ok().json()["state"],
        "running",
        "leaving the shell leaves the VM"
    );
    home.banger(&["vm", "delete", "--force", "i1"]).ok();
}

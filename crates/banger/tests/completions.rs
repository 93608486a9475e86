//! `banger completions SHELL` and the manual pages: bash, with the script
//! sourced as the README says, completes subcommands from the command tree
//! and VM, image, kernel and session names from the running daemon; with no daemon it
//! completes no names and starts none.

mod common;

use common::TestHome;

/// What bash offers for `words` (the last one being completed), with
/// `banger completions bash` sourced, in `home`'s environment.
fn bash_completes(home: &TestHome, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let script = format!(
        "source <(banger completions bash) || exit 9\n\
         COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_TYPE=9\n\
         _clap_complete_banger banger '{cur}' '{prev}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        words = quoted.join(" "),
        cword = words.len() - 1,
        cur = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    let bin = common::banger_bin();
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = home
        .command(std::path::Path::new("bash"))
        .args(["-c", &script])
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_commands_and_the_daemon_s_names() {
    let home = TestHome::networked("web_listen_addr = \"127.0.0.1:0\"\n");

    // No daemon: commands complete, names do not, and none is started.
    let subs = bash_completes(&home, &["banger", "vm", "s"]);
    for s in ["ssh", "start", "stop", "show", "session"] {
        assert!(subs.contains(&s.to_owned()), "{s}: {subs:?}");
    }
    let names = bash_completes(&home, &["banger", "vm", "ssh", ""]);
    assert!(
        names.iter().all(|n| n.starts_with('-')),
        "no VM names without a daemon: {names:?}"
    );
    assert!(
        home.daemon_pid().is_none(),
        "a completion started the daemon"
    );

    home.with_busybox("busy");
    home.banger(&["vm", "create", "--image", "busy", "--name", "otter"])
        .ok();
    home.banger(&[
        "vm",
        "create",
        "--image",
        "busy",
        "--name",
        "owl",
        "--no-start",
    ])
    .ok();
    let names = bash_completes(&home, &["banger", "vm", "ssh", ""]);
    assert!(names.contains(&"otter".to_owned()), "{names:?}");
    assert!(names.contains(&"owl".to_owned()), "{names:?}");
    let names = bash_completes(&home, &["banger", "vm", "ssh", "ot"]);
    assert_eq!(names, ["otter"], "only what the word starts");
    let images = bash_completes(&home, &["banger", "vm", "create", "--image", ""]);
    assert_eq!(images, ["busy"]);
    let kernels = bash_completes(&home, &["banger", "kernel", "show", ""]);
    assert!(kernels.contains(&"debian".to_owned()), "{kernels:?}");
    // Session names of the VM the line names.
    for name in ["planner", "builder"] {
        home.banger(&[
            "vm", "session", "start", "otter", "--name", name, "--", "sleep", "600",
        ])
        .ok();
    }
    let not_flags = |all: Vec<String>| -> Vec<String> {
        all.into_iter().filter(|w| !w.starts_with('-')).collect()
    };
    let sessions = not_flags(bash_completes(
        &home,
        &["banger", "vm", "session", "attach", "otter", ""],
    ));
    assert_eq!(sessions, ["builder", "planner"]);
    let sessions = bash_completes(
        &home,
        &[
            "banger", "vm", "session", "logs", "otter", "--tail", "3", "pl",
        ],
    );
    assert_eq!(sessions, ["planner"]);
    let none = not_flags(bash_completes(
        &home,
        &["banger", "vm", "session", "attach", "owl", ""],
    ));
    assert!(none.is_empty(), "a stopped VM has no sessions: {none:?}");
    home.banger(&["vm", "delete", "otter", "--force"]).ok();
    home.banger(&["vm", "delete", "owl"]).ok();
}

#[test]
fn zsh_and_fish_scripts_and_manual_pages_are_made() {
    let home = TestHome::new();
    for shell in ["zsh", "fish"] {
        let out = home.banger(&["completions", shell]).ok();
        assert!(out.stdout.contains("banger"), "{shell}: {}", out.stdout);
        assert!(out.stdout.contains("COMPLETE"), "{shell}: {}", out.stdout);
    }
    let bad = home.banger(&["completions", "tcsh"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("possible values: bash, zsh, fish"),
        "{}",
        bad.stderr
    );

    let dir = home.root().join("man");
    home.banger(&["man-pages", dir.to_str().unwrap()]).ok();
    let page = std::fs::read_to_string(dir.join("banger-vm-run.1")).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH banger-vm-run 1"),
        "{page}"
    );
    assert!(
        page.contains("guest\\-path") || page.contains("guest-path"),
        "{page}"
    );
    assert!(dir.join("banger.1").is_file());
    assert!(
        !dir.join("banger-help.1").exists() && !dir.join("banger-man-pages.1").exists(),
        "no pages for clap's help or hidden commands"
    );
}

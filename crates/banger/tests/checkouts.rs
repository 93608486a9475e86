//! Every checkout a developer has, as they have it, in banger's golden
//! Debian guest: staged and unstaged changes apart, submodules populated
//! and not (nested too), linked worktrees, shallow and borrowing clones,
//! sparse checkouts, a detached HEAD, a branch with no commit yet; and
//! `vm run` refusing what it cannot carry before it makes a VM.

mod common;

use common::{TestHome, git};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn repo(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    for (name, text) in files {
        write(&dir.join(name), text);
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "first"]);
    dir.to_owned()
}

/// What the guest and the host must agree on, asked of git itself.
const STATE: &str = "git status --porcelain --ignore-submodules=none; echo ==; \
     git submodule status --recursive | awk '{print $1, $2}'; echo ==; \
     git symbolic-ref -q --short HEAD || echo detached; echo ==; \
     git diff --cached --stat | tail -n1";

fn host_state(dir: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(STATE)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Guest<'a> {
    home: &'a TestHome,
    vm: &'a str,
}

impl Guest<'_> {
    fn prepare(&self, host: &Path, guest: &str, extra: &[&str]) -> serde_json::Value {
        let mut args = vec![
            "vm",
            "workspace",
            "prepare",
            self.vm,
            host.to_str().unwrap(),
            "--guest-path",
            guest,
            "--json",
        ];
        args.extend(extra);
        self.home.banger(&args).ok().json()
    }

    fn sh(&self, cwd: &str, script: &str) -> String {
        self.home
            .banger(&[
                "vm", "exec", self.vm, "--cwd", cwd, "--", "sh", "-c", script,
            ])
            .ok()
            .stdout
    }

    /// The guest's state at `guest` equals the host's at `host`.
    fn same_as_host(&self, host: &Path, guest: &str) {
        let want = host_state(host);
        assert_eq!(self.sh(guest, STATE), want, "{} vs {guest}", host.display());
    }
}

#[test]
fn every_checkout_arrives_as_the_developer_has_it() {
    let home = TestHome::networked("default_image_name = \"bookworm\"\n");
    home.with_golden_image("bookworm");
    let root = home.root().join("src");

    // Refused before any VM exists: nothing is made, nothing to clean up.
    let unborn = root.join("unborn");
    std::fs::create_dir_all(&unborn).unwrap();
    git(&unborn, &["init", "-q", "-b", "trunk"]);
    write(&unborn.join("staged.txt"), "s\n");
    git(&unborn, &["add", "staged.txt"]);
    write(&unborn.join("loose.txt"), "l\n");
    let main = repo(&root.join("main"), &[("a.txt", "a\n")]);
    let worktree = root.join("worktree");
    git(
        &main,
        &["worktree", "add", "-q", worktree.to_str().unwrap()],
    );
    for (path, mode, says) in [
        (&unborn, "metadata_only", "has no commits yet"),
        (&worktree, "full_copy", "outside the checkout"),
        (&root, "shallow-overlay", "is not a git checkout"),
    ] {
        let e = home.banger(&[
            "vm",
            "run",
            path.to_str().unwrap(),
            "--mode",
            mode,
            "--",
            "true",
        ]);
        assert_ne!(e.code, 0);
        assert!(e.stderr.contains(says), "{mode}: {}", e.stderr);
    }
    let e = home.banger(&["vm", "run", "--readonly", "--", "true"]);
    assert!(e.stderr.contains("need a PATH"), "{}", e.stderr);
    let listed = home.banger(&["vm", "list", "--json"]).ok().json();
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "no VM was made");

    // The index as it is: every kind of change, staged, unstaged, both.
    let r = repo(
        &root.join("index"),
        &[
            ("modify-staged", "1\n"),
            ("modify-unstaged", "1\n"),
            ("modify-both", "1\n"),
            ("delete-staged", "1\n"),
            ("delete-unstaged", "1\n"),
            ("rename-me", "a file long enough to be seen as renamed\n"),
            ("chmod-staged", "1\n"),
            ("chmod-unstaged", "1\n"),
            ("empty-dir/.gitkeep", ""),
            (
                ".gitattributes",
                "*.bin filter=lfs diff=lfs merge=lfs -text\n",
            ),
            (
                "big.bin",
                "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n",
            ),
        ],
    );
    use std::os::unix::fs::PermissionsExt;
    let exec = |p: &str| {
        std::fs::set_permissions(r.join(p), std::fs::Permissions::from_mode(0o755)).unwrap()
    };
    write(&r.join("modify-staged"), "2\n");
    write(&r.join("modify-both"), "2\n");
    git(&r, &["add", "modify-staged", "modify-both"]);
    write(&r.join("modify-both"), "3\n");
    write(&r.join("modify-unstaged"), "2\n");
    git(&r, &["rm", "-q", "delete-staged"]);
    std::fs::remove_file(r.join("delete-unstaged")).unwrap();
    git(&r, &["mv", "rename-me", "renamed"]);
    exec("chmod-staged");
    git(&r, &["add", "chmod-staged"]);
    exec("chmod-unstaged");
    write(&r.join("added"), "new\n");
    git(&r, &["add", "added"]);
    write(&r.join("untracked"), "u\n");
    let odd = std::ffi::OsStr::from_bytes(b"latin1-\xe9t\xe9");
    std::fs::write(r.join(odd), "not utf-8\n").unwrap();
    git(&r, &["add", "--", "latin1-*"]);
    std::os::unix::fs::symlink("renamed", r.join("link")).unwrap();

    // One VM for every layout (vm run proves the flags and the spelling).
    let out = home.banger(&[
        "vm",
        "run",
        r.to_str().unwrap(),
        "--name",
        "c1",
        "--mode",
        "shallow_overlay",
        "--guest-path",
        "/work/index",
        "--",
        "sh",
        "-c",
        "pwd",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "/work/index\n");
    let g = Guest {
        home: &home,
        vm: "c1",
    };
    g.same_as_host(&r, "/work/index");
    assert_eq!(
        g.sh(
            "/work/index",
            "head -n1 big.bin; stat -c %a chmod-unstaged; readlink link"
        ),
        "version https://git-lfs.github.com/spec/v1\n755\nrenamed\n"
    );

    // Submodules: one populated (with a submodule of its own, a commit of
    // its own beyond the recorded one, and uncommitted edits), one not.
    let inner = repo(&root.join("inner"), &[("inner.txt", "inner\n")]);
    let lib = repo(&root.join("lib"), &[("lib.txt", "lib\n")]);
    git(
        &lib,
        &["submodule", "add", "-q", inner.to_str().unwrap(), "inner"],
    );
    git(&lib, &["commit", "-q", "-m", "inner"]);
    let top = repo(&root.join("top"), &[("top.txt", "top\n")]);
    for name in ["populated", "uninit"] {
        git(
            &top,
            &["submodule", "add", "-q", lib.to_str().unwrap(), name],
        );
    }
    git(&top, &["commit", "-q", "-m", "submodules"]);
    git(
        &top,
        &["submodule", "update", "-q", "--init", "--recursive"],
    );
    git(&top, &["submodule", "deinit", "-q", "-f", "uninit"]);
    let populated = top.join("populated");
    write(&populated.join("more.txt"), "more\n");
    git(&populated, &["add", "more.txt"]);
    git(&populated, &["commit", "-q", "-m", "ahead of the gitlink"]);
    write(&populated.join("lib.txt"), "edited in the submodule\n");
    write(&populated.join("inner/inner.txt"), "edited deeper\n");
    write(&top.join("top.txt"), "edited on top\n");
    let ws = g.prepare(&top, "/work/top", &[]);
    assert_eq!(
        (
            ws["submodules"].as_u64(),
            ws["populated_submodules"].as_u64()
        ),
        (Some(3), Some(2)),
        "{ws}"
    );
    g.same_as_host(&top, "/work/top");
    g.same_as_host(&populated, "/work/top/populated");
    assert_eq!(
        g.sh("/work/top", "ls -A uninit | wc -l; cat populated/lib.txt populated/more.txt populated/inner/inner.txt"),
        "0\nedited in the submodule\nmore\nedited deeper\n"
    );
    // metadata_only: each repository at its HEAD, submodules included.
    g.prepare(&top, "/work/top-meta", &["--mode", "metadata-only"]);
    assert_eq!(
        g.sh("/work/top-meta", "git submodule status --recursive | awk '{print $1, $2}'; echo ==; cat populated/lib.txt populated/more.txt"),
        format!(
            "{}==\nlib\nmore\n",
            host_state(&top).split("==\n").nth(1).unwrap()
        )
    );
    // Export: the superproject's work comes back, the submodule's is named.
    g.sh("/work/top", "echo from-guest > guest.txt");
    let ex = home
        .banger(&[
            "vm",
            "workspace",
            "export",
            "c1",
            "--guest-path",
            "/work/top",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(
        ex["not_carried"],
        serde_json::json!(["populated", "populated/inner"]),
        "{ex}"
    );
    assert_eq!(git(&top, &["show", "banger/c1:guest.txt"]), "from-guest\n");

    // A linked worktree, a shallow clone, a clone borrowing objects, a
    // sparse checkout, a detached HEAD: each as it is on the host.
    write(&worktree.join("a.txt"), "changed in the worktree\n");
    let shallow = root.join("shallow");
    git(&main, &["commit", "-q", "--allow-empty", "-m", "second"]);
    git(
        &root,
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            &format!("file://{}", main.display()),
            shallow.to_str().unwrap(),
        ],
    );
    let borrower = root.join("borrower");
    git(
        &root,
        &[
            "clone",
            "-q",
            "--shared",
            main.to_str().unwrap(),
            borrower.to_str().unwrap(),
        ],
    );
    write(&borrower.join("b.txt"), "b\n");
    let sparse = repo(
        &root.join("sparse"),
        &[
            ("keep/k.txt", "k\n"),
            ("drop/d.txt", "d\n"),
            ("top.txt", "t\n"),
        ],
    );
    git(&sparse, &["sparse-checkout", "set", "keep"]);
    let detached = root.join("detached");
    git(
        &root,
        &[
            "clone",
            "-q",
            main.to_str().unwrap(),
            detached.to_str().unwrap(),
        ],
    );
    git(&detached, &["checkout", "-q", "--detach", "HEAD~1"]);
    for (host, guest) in [
        (&worktree, "/work/worktree"),
        (&shallow, "/work/shallow"),
        (&borrower, "/work/borrower"),
        (&sparse, "/work/sparse"),
        (&detached, "/work/detached"),
        (&unborn, "/work/unborn"),
    ] {
        g.prepare(host, guest, &[]);
        g.same_as_host(host, guest);
    }
    assert_eq!(g.sh("/work/shallow", "git rev-list --count HEAD"), "1\n");
    assert_eq!(
        g.sh("/work/sparse", "ls; git sparse-checkout list"),
        "keep\ntop.txt\nkeep\n"
    );
    let e = home.banger(&[
        "vm",
        "workspace",
        "prepare",
        "c1",
        borrower.to_str().unwrap(),
        "--mode",
        "full_copy",
    ]);
    assert!(e.stderr.contains("alternates"), "{}", e.stderr);

    // A branch with no commit: its files and index arrive, and its work
    // comes back as the branch's first commits.
    g.sh("/work/unborn", "echo guest > g.txt");
    let ex = home
        .banger(&[
            "vm",
            "workspace",
            "export",
            "c1",
            "--guest-path",
            "/work/unborn",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(
        (ex["base"].is_null(), ex["commits"].as_u64()),
        (true, Some(1)),
        "{ex}"
    );
    assert_eq!(
        git(&unborn, &["ls-tree", "--name-only", "banger/c1"]),
        "g.txt\nloose.txt\nstaged.txt\n"
    );

    home.banger(&["vm", "delete", "--force", "c1"]).ok();
}

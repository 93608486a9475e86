//! A `sudo` for tests of a daemon that is not root: installed setuid root
//! beside two files, `allowed` (the one program it runs) and `calls` (every
//! request, appended: `ran ...` or `refused ...`). It takes banger's shape
//! of call, `sudo -n -- PROGRAM ARGS...`, runs only `allowed`, as root, with
//! `SUDO_UID` and `SUDO_GID` naming the caller and nothing else of the
//! caller's environment; anything else is refused the way sudo refuses.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir: PathBuf = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|p| p.to_owned()))
        .unwrap_or_default();
    let allowed = std::fs::read_to_string(dir.join("allowed")).unwrap_or_default();
    let program = match args.as_slice() {
        [n, dash, program, ..] if n == "-n" && dash == "--" => Some(program.as_str()),
        _ => None,
    };
    let ok = program.is_some_and(|p| p == allowed.trim());
    let line = format!(
        "{} {}\n",
        if ok { "ran" } else { "refused" },
        args.join(" ")
    );
    if let Ok(mut log) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("calls"))
    {
        let _ = log.write_all(line.as_bytes());
    }
    if !ok {
        eprintln!("sudo: a password is required");
        std::process::exit(1);
    }
    // SAFETY: getuid and getgid cannot fail and touch no memory of ours.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    // SAFETY: setgroups with an empty list reads no memory; setgid and
    // setuid take plain integers. One thread: nothing runs meanwhile.
    let become_root = unsafe {
        libc::setgroups(0, std::ptr::null()) == 0 && libc::setgid(0) == 0 && libc::setuid(0) == 0
    };
    if !become_root {
        eprintln!("sudo: not installed setuid root");
        std::process::exit(1);
    }
    let err = std::process::Command::new(&args[2])
        .args(&args[3..])
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("SUDO_UID", uid.to_string())
        .env("SUDO_GID", gid.to_string())
        .exec();
    eprintln!("sudo: {}: {err}", args[2]);
    std::process::exit(1);
}

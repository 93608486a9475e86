//! Shell completion and manual pages, both from the clap command tree.
//!
//! `banger completions SHELL` prints a small script for the shell to
//! source; while completing, the shell runs banger itself
//! (`COMPLETE=SHELL banger -- WORDS...`, answered in `main` before
//! anything else), so subcommands and flags always match this binary, and
//! the names of VMs, images and kernels come from the running daemon. A
//! daemon that is not running is not started for a completion (no names
//! then), and one that does not answer within a second is not waited on.

use crate::context::Context;
use clap::ValueEnum;
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::EnvCompleter;
use std::path::Path;
use std::time::Duration;

/// The environment variable the completion scripts set.
pub const VAR: &str = "COMPLETE";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The script `shell` sources: it calls this very binary to complete.
pub fn script(shell: Shell, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let exe = std::env::current_exe()?;
    let completer = exe.to_string_lossy();
    let adapter: &dyn EnvCompleter = match shell {
        Shell::Bash => &clap_complete::env::Bash,
        Shell::Zsh => &clap_complete::env::Zsh,
        Shell::Fish => &clap_complete::env::Fish,
    };
    adapter.write_registration(VAR, "banger", "banger", &completer, out)
}

/// One manual page per command (`banger.1`, `banger-vm.1`,
/// `banger-vm-create.1`, ...) into `dir`.
pub fn man_pages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = <crate::commands::Cli as clap::CommandFactory>::command();
    // Built: each subcommand gets its display name (banger-vm-create).
    cmd.build();
    write_pages(&cmd, dir)
}

/// `cmd`'s page and its subcommands', leaving out hidden ones and clap's
/// own `help` subcommands.
fn write_pages(cmd: &clap::Command, dir: &Path) -> std::io::Result<()> {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name());
    let mut page = std::fs::File::create(dir.join(format!("{name}.1")))?;
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        write_pages(sub, dir)?;
    }
    Ok(())
}

/// The VMs' names, for arguments that take one.
pub fn vms() -> Vec<CompletionCandidate> {
    names(banger_api::routes::VMS)
}

/// The images' names.
pub fn images() -> Vec<CompletionCandidate> {
    names(banger_api::routes::IMAGES)
}

/// The kernels' names (those in the store).
pub fn kernels() -> Vec<CompletionCandidate> {
    names(banger_api::routes::KERNELS)
}

/// The sessions of the VM named earlier on the line being completed
/// (`banger vm session attach VM <TAB>`): a completer sees only its own
/// word, so the VM is read from the words the shell passed after `--`.
pub fn sessions() -> Vec<CompletionCandidate> {
    let words: Vec<String> = std::env::args().skip_while(|a| a != "--").skip(1).collect();
    match session_vm(&words) {
        Some(vm) => names(&format!("{}/{vm}/sessions", banger_api::routes::VMS)),
        None => Vec::new(),
    }
}

/// The VM of `... session VERB [FLAGS] VM NAME`: the first word after the
/// verb that is not a flag, if it can be a VM's name in a URL.
fn session_vm(words: &[String]) -> Option<&str> {
    // The session commands' flags that take a separate value.
    const VALUED: [&str; 8] = [
        "--tail", "--stream", "--grace", "--signal", "--name", "--cwd", "--env", "--idle",
    ];
    let at = words.iter().position(|w| w == "session")?;
    let mut rest = words.get(at + 2..)?.iter();
    let vm = loop {
        let w = rest.next()?;
        if VALUED.contains(&w.as_str()) {
            rest.next();
        } else if !w.starts_with('-') {
            break w;
        }
    };
    let fits = !vm.is_empty()
        && vm
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    fits.then_some(vm.as_str())
}

/// The `name` of each object a list route answers, from a daemon already
/// running; nothing on any failure (a completion never prints errors).
fn names(route: &str) -> Vec<CompletionCandidate> {
    let Ok(ctx) = Context::load() else {
        return Vec::new();
    };
    if !ctx.paths.socket().exists() {
        return Vec::new();
    }
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let client = ctx.client();
    let listed = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(1),
            client.get::<Vec<serde_json::Value>>(route),
        )
        .await
    });
    let Ok(Ok(items)) = listed else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|i| i["name"].as_str())
        .map(CompletionCandidate::new)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_vm_of_a_session_command_line() {
        let w = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let vm = |s: &str| super::session_vm(&w(s)).map(str::to_owned);
        assert_eq!(vm("banger vm session attach web1 "), Some("web1".into()));
        assert_eq!(
            vm("banger vm session logs --tail 3 web1 t"),
            Some("web1".into())
        );
        assert_eq!(vm("banger vm session stop box "), Some("box".into()));
        assert_eq!(vm("banger vm session attach "), None);
        assert_eq!(vm("banger vm session attach a/b "), None);
        assert_eq!(vm("banger vm ssh web1"), None);
    }
}

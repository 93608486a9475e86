//! `banger vm opencode`: this host's `opencode attach` against a dev box's
//! opencode service, with the VM's own password handed over in the
//! environment (never on a command line, where `ps` would show it).

use crate::context::Context;
use banger_api::routes;
use banger_api::vm::OpencodeAccess;
use clap::Args;
use clap_complete::ArgValueCandidates;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct OpencodeArgs {
    /// The VM (a running dev box)
    #[arg(add = ArgValueCandidates::new(crate::complete::vms))]
    vm: String,
    /// Print the URL, user and password instead of attaching (for other clients and scripts)
    #[arg(long)]
    show_secret: bool,
    /// With --show-secret: print JSON
    #[arg(long, requires = "show_secret")]
    json: bool,
    /// The opencode program to run (default: `opencode` in PATH)
    #[arg(long, value_name = "PROGRAM")]
    opencode: Option<PathBuf>,
    /// More arguments for `opencode attach` (after `--`), e.g. `-- --continue`
    #[arg(last = true)]
    args: Vec<String>,
}

pub async fn run(ctx: &Context, a: OpencodeArgs) -> anyhow::Result<ExitCode> {
    let client = ctx.daemon().await?;
    let access: OpencodeAccess = client.get(&routes::vm_action(&a.vm, "opencode")).await?;
    if a.show_secret {
        if a.json {
            crate::render::print_json(&access)?;
        } else {
            println!("url       {}", access.url);
            println!("username  {}", access.username);
            println!("password  {}", access.password);
        }
        return Ok(ExitCode::SUCCESS);
    }
    Err(attach(a.opencode, &access, &a.args))
}

/// Replaces this process with `opencode attach URL ARGS`; returns only on
/// failure.
fn attach(program: Option<PathBuf>, access: &OpencodeAccess, args: &[String]) -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    let named = program.is_some();
    let program = program.unwrap_or_else(|| "opencode".into());
    let err = std::process::Command::new(&program)
        .arg("attach")
        .arg(&access.url)
        .args(args)
        .env("OPENCODE_SERVER_USERNAME", &access.username)
        .env("OPENCODE_SERVER_PASSWORD", &access.password)
        .exec();
    if err.kind() == std::io::ErrorKind::NotFound && !named {
        return anyhow::anyhow!(
            "no `opencode` on this host's PATH: install it (`npm install -g opencode-ai`) or name it with --opencode; `banger vm opencode {} --show-secret` prints the URL and password for another client",
            access.vm
        );
    }
    anyhow::Error::new(err).context(format!("running {}", program.display()))
}

//! One file per command group; this file is the command tree.

mod config;
mod daemon;
mod doctor;
mod image;
mod kernel;
mod vm;

use crate::context::Context;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Throwaway development microVMs (Firecracker or QEMU), managed by a local daemon.
///
/// The daemon (bangerd) starts on demand and keeps running VMs, images and
/// network state between commands. Start with `banger doctor` to check the host.
#[derive(Debug, Parser)]
#[command(name = "banger", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check whether this host can run banger, and which VMM it would use
    Doctor(doctor::Args),
    /// Start, stop or inspect the banger daemon
    #[command(subcommand)]
    Daemon(daemon::Command),
    /// Create, start, stop, delete and inspect VMs
    #[command(subcommand)]
    Vm(vm::Command),
    /// Register, list, promote and delete images (rootfs + kernel)
    #[command(subcommand)]
    Image(image::Command),
    /// Manage the kernel store: pull from the catalog, import Debian kernels
    #[command(subcommand)]
    Kernel(kernel::Command),
    /// Inspect banger's configuration (~/.config/banger/config.toml)
    #[command(subcommand)]
    Config(config::Command),
    /// Print the shell completion script (subcommands, flags, and the names
    /// of VMs, images and kernels from the running daemon)
    ///
    /// bash: echo 'source <(banger completions bash)' >> ~/.bashrc
    /// zsh:  echo 'source <(banger completions zsh)' >> ~/.zshrc
    /// fish: banger completions fish > ~/.config/fish/completions/banger.fish
    ///
    /// The script calls this banger binary while completing; source it anew
    /// after an upgrade (the lines above do).
    Completions { shell: crate::complete::Shell },
    /// Write the manual pages (banger.1, banger-vm.1, ...) into DIR
    /// (`make build` puts them in build/man, `make install` installs them)
    #[command(hide = true)]
    ManPages { dir: std::path::PathBuf },
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Neither needs the config (a broken one must not break completion).
    match &cli.command {
        Command::Completions { shell } => {
            crate::complete::script(*shell, &mut std::io::stdout().lock())?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::ManPages { dir } => {
            crate::complete::man_pages(dir)
                .map_err(|e| anyhow::anyhow!("writing manual pages into {}: {e}", dir.display()))?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let ctx = Context::load()?;
    match cli.command {
        Command::Doctor(args) => doctor::run(&ctx, args).await,
        Command::Daemon(cmd) => daemon::run(&ctx, cmd).await,
        Command::Config(cmd) => config::run(&ctx, cmd),
        Command::Image(cmd) => image::run(&ctx, cmd).await,
        Command::Kernel(cmd) => kernel::run(&ctx, cmd).await,
        Command::Vm(cmd) => vm::run(&ctx, cmd).await,
        Command::Completions { .. } | Command::ManPages { .. } => unreachable!("answered above"),
    }
}

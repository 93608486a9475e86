//! `banger`: the command line. Thin by design: it parses, asks the daemon,
//! and renders. The daemon owns every VM, image and network resource.

mod commands;
mod complete;
mod context;
mod daemon_process;
mod exec;
mod progress;
mod render;
mod ssh;
mod workspace;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // A shell asking for completions (`COMPLETE=bash banger -- ...`, from
    // the script `banger completions` prints) is answered and exits here.
    clap_complete::CompleteEnv::with_factory(<commands::Cli as clap::CommandFactory>::command)
        .var(complete::VAR)
        .complete();
    let cli = commands::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return render::fail(&anyhow::Error::new(e).context("starting the async runtime"));
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => render::fail(&e),
    }
}

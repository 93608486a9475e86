//! `bangerd`: normally started on demand by `banger`, which detaches it and
//! sends its output to the log file; it can also run in a terminal.

use anyhow::Context;
use banger_config::{Config, Env, Paths};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// banger's daemon. Usually started by `banger` on demand; see `banger daemon --help`.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {}

fn main() -> std::process::ExitCode {
    let Args {} = Args::parse();
    match start() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The chain once, outermost first, same as the CLI.
            eprintln!("bangerd: error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn start() -> anyhow::Result<()> {
    let env = Env::from_process();
    let paths = Paths::resolve(&env).context("locating banger's directories")?;
    let config = Config::load(
        &paths.config_file,
        env.banger_config.is_some(),
        env.home.as_deref(),
    )?;
    // BANGER_LOG (an EnvFilter directive) wins over log_level, for debugging.
    let filter = std::env::var("BANGER_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(config.log_level.as_str()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(bangerd::server::run(paths, config))?;
    Ok(())
}

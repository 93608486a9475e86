//! `banger daemon start|stop|status`.

use crate::context::Context;
use crate::{daemon_process, render};
use anyhow::bail;
use banger_api::daemon::{DaemonStatus, ShutdownReply, ShutdownRequest};
use banger_api::routes;
use clap::{Args, Subcommand};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show whether bangerd runs: pid, socket, version, uptime, web UI address
    ///
    /// Exits 0 when the daemon runs, 3 when it does not (like `systemctl status`).
    Status(StatusArgs),
    /// Start bangerd in the background (other commands do this on demand)
    Start,
    /// Stop bangerd; running VMs are not touched and are re-adopted on the next start
    Stop,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

/// Exit code of `daemon status` when no daemon runs.
const NOT_RUNNING: u8 = 3;

pub async fn run(ctx: &Context, cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Status(args) => status(ctx, args).await,
        Command::Start => start(ctx).await,
        Command::Stop => stop(ctx).await,
    }
}

async fn status(ctx: &Context, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let status = match ctx
        .client()
        .get::<DaemonStatus>(routes::DAEMON_STATUS)
        .await
    {
        Ok(s) => s,
        Err(e) if e.is_not_running() => {
            if args.json {
                render::print_json(&serde_json::json!({
                    "running": false,
                    "socket": ctx.paths.socket(),
                }))?;
            } else {
                println!(
                    "bangerd is not running (socket {})",
                    ctx.paths.socket().display()
                );
            }
            return Ok(ExitCode::from(NOT_RUNNING));
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        let mut value = serde_json::to_value(&status)?;
        value["running"] = true.into();
        render::print_json(&value)?;
        return Ok(ExitCode::SUCCESS);
    }
    let web = match (&status.web_url, &status.web_error) {
        (Some(url), _) => url.clone(),
        (None, Some(why)) => format!("unavailable: {why}"),
        (None, None) => "disabled".into(),
    };
    println!("bangerd is running");
    for (k, v) in [
        ("pid", status.pid.to_string()),
        ("version", status.version),
        ("socket", status.socket),
        ("uptime", render::duration(status.uptime_secs)),
        ("web UI", web),
        ("data dir", status.data_dir),
        ("log file", status.log_file),
        (
            "agent",
            status
                .agent_path
                .unwrap_or_else(|| "not found (see banger doctor)".into()),
        ),
        ("warm pool", warm_pool(&status.warm_pool)),
    ] {
        println!("  {k:<9} {v}");
    }
    if let Some(why) = &status.warm_pool.last_error {
        println!("  warm pool short: {why}");
    }
    if status.previous_run_unclean {
        println!("  note: the previous daemon run did not stop cleanly (see the log file)");
    }
    Ok(ExitCode::SUCCESS)
}

/// `2 per image; debian 1 ready, 1 booting (2048 MiB held)`.
fn warm_pool(p: &banger_api::daemon::WarmPool) -> String {
    if p.size == 0 {
        return "off (warm_pool_size = 0)".into();
    }
    if p.images.is_empty() {
        return format!(
            "{} per image, but no image to keep warm (set default_image_name or warm_pool_images)",
            p.size
        );
    }
    let images: Vec<String> = p
        .images
        .iter()
        .map(|i| format!("{} {} ready, {} booting", i.image, i.ready, i.booting))
        .collect();
    format!(
        "{} per image; {} ({} MiB held)",
        p.size,
        images.join("; "),
        p.memory_mib
    )
}

async fn start(ctx: &Context) -> anyhow::Result<ExitCode> {
    match ctx
        .client()
        .get::<DaemonStatus>(routes::DAEMON_STATUS)
        .await
    {
        Ok(s) => println!("bangerd is already running (pid {})", s.pid),
        Err(e) if e.is_not_running() => {
            let s = daemon_process::start(&ctx.paths).await?;
            println!("started bangerd (pid {}, socket {})", s.pid, s.socket);
        }
        Err(e) => return Err(e.into()),
    }
    Ok(ExitCode::SUCCESS)
}

async fn stop(ctx: &Context) -> anyhow::Result<ExitCode> {
    let client = ctx.client();
    let reply: ShutdownReply = match client
        .post(routes::DAEMON_SHUTDOWN, &ShutdownRequest {})
        .await
    {
        Ok(r) => r,
        Err(e) if e.is_not_running() => {
            println!("bangerd is not running");
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e.into()),
    };
    // Done when the process is gone, so a following `start` cannot race it.
    let deadline = Instant::now() + Duration::from_secs(15);
    while process_exists(reply.pid) {
        if Instant::now() > deadline {
            bail!(
                "bangerd (pid {}) is still running 15s after it was asked to stop",
                reply.pid
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    println!("stopped bangerd (pid {})", reply.pid);
    Ok(ExitCode::SUCCESS)
}

fn process_exists(pid: u32) -> bool {
    banger_config::process::is_running(pid)
}

//! `banger doctor`.

use crate::context::Context;
use crate::render;
use banger_api::doctor::{Check, CheckStatus, DoctorReport, DoctorRequest};
use banger_api::routes;
use clap::Args as ClapArgs;
use std::io::Write;
use std::process::ExitCode;

/// Checks KVM (and whether it can really run guests), the VMMs, the tools
/// banger runs, privileges, /dev/net/tun, free disk and the guest agent.
/// One line per check: ok, warn or fail, with a hint to fix. Exits 1 when a
/// check fails, i.e. when banger cannot work on this host.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Print the whole report as JSON when done
    #[arg(long)]
    json: bool,
}

pub async fn run(ctx: &Context, args: Args) -> anyhow::Result<ExitCode> {
    let client = ctx.daemon().await?;
    let report: DoctorReport = client
        .stream(routes::DOCTOR, &DoctorRequest {}, |check: Check| {
            if !args.json {
                print_check(&check);
            }
        })
        .await?;
    if args.json {
        render::print_json(&report)?;
    } else {
        let failed = report
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Fail)
            .count();
        match (failed, &report.auto_vmm) {
            (0, Some(vmm)) => println!("\nbanger can run here; guests will use {vmm}"),
            (0, None) => println!("\nno failed checks"),
            (n, _) => println!(
                "\n{n} check(s) failed: banger cannot run VMs on this host until they are fixed"
            ),
        }
    }
    Ok(if report.overall() == CheckStatus::Fail {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_check(c: &Check) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{:<5} {:<24} {}", c.status.as_str(), c.name, c.detail);
    if let Some(hint) = &c.hint {
        let _ = writeln!(out, "{:<30} hint: {hint}", "");
    }
    let _ = out.flush();
}

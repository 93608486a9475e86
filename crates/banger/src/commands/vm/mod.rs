//! `banger vm create|start|stop|delete|list|show|ports|logs`.

mod acp;
mod opencode;
mod run;
mod session;
mod workspace;

use crate::context::Context;
use crate::progress::ProgressView;
use crate::render;
use crate::ssh::{ssh, with_host_keys};
use banger_api::progress::Progress;
use banger_api::routes;
use banger_api::text::{printable, printable_keeping_colours};
use banger_api::vm::{
    ConsoleChunk, CreateVm, ExecRequest, Vm, VmAction, VmDeleted, VmPorts, VmState,
};
use clap::{Args, Subcommand};
use clap_complete::ArgValueCandidates;
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a VM from an image and boot it (returns when its agent answers)
    ///
    /// The VM gets its own copy of the image's root filesystem (/dev/vda) and
    /// a work disk (/dev/vdb, mounted at /root; from the image's work-seed,
    /// or fresh), with banger's guest agent installed. Shows progress on a
    /// terminal, plain lines otherwise.
    Create(CreateArgs),
    /// Boot a stopped VM
    Start(NameArgs),
    /// Shut a VM down (cleanly through its agent; forced after a timeout)
    Stop(NameArgs),
    /// Delete a VM and its disks
    Delete(DeleteArgs),
    /// List VMs
    List(JsonArgs),
    /// Show one VM (a crashed VM shows the end of its console)
    Show(NameArgs),
    /// Listening TCP/UDP ports inside a running VM
    Ports(NameArgs),
    /// Open a shell in a running VM over SSH, or run CMD there
    ///
    /// Runs the system `ssh` as root@<guest IP> with banger's key and a
    /// known_hosts file holding the host keys banger learned from the guest
    /// through its agent; host keys are always checked. As with ssh, CMD is
    /// run by the guest's shell, and its exit status is ssh's.
    ///
    /// Example: banger vm ssh dev -- uname -r
    Ssh(SshArgs),
    /// Run a command in a running VM through its agent (no SSH needed)
    ///
    /// stdin is forwarded, stdout and stderr arrive separately, and banger
    /// exits with the command's status (128+N when a signal killed it).
    ///
    /// Example: banger vm exec dev --cwd /root -- make test
    Exec(ExecArgs),
    /// Prepare workspaces: host git checkouts in a VM
    #[command(subcommand)]
    Workspace(workspace::Command),
    /// Create a VM, prepare a workspace, then a shell or a command in it
    ///
    /// `banger vm run` lands in a shell in a fresh VM; `banger vm run PATH`
    /// first prepares the checkout at PATH at /root/repo and starts the shell
    /// there; `banger vm run [PATH] -- CMD...` runs CMD (in /root/repo, or
    /// /root) to completion with its stdout and stderr apart, and exits with
    /// its status (128+N when a signal killed it). The VM keeps running
    /// afterwards; its name is printed so you can `vm delete` it.
    ///
    /// Example: banger vm run ../repo -- make test
    Run(run::RunArgs),
    /// Bridge your stdio to `opencode acp` in the VM, over SSH
    ///
    /// For ACP-aware tools on the host: bytes pass unchanged (no TTY), the
    /// exit status is opencode's. The guest directory is /root/repo when it
    /// exists, else /root; --cwd chooses another.
    ///
    /// Example: banger vm acp dev --cwd /root/project
    Acp(acp::AcpArgs),
    /// Attach this host's opencode to the VM's opencode service (port 4096)
    ///
    /// A dev box's opencode answers only with the VM's own password (HTTP
    /// basic auth, user `opencode`), made by the daemon when the VM was
    /// created. This runs `opencode attach http://<guest-ip>:4096` with it
    /// in the environment; --show-secret prints the URL and password
    /// instead, for another client.
    ///
    /// Example: banger vm opencode dev -- --continue
    Opencode(opencode::OpencodeArgs),
    /// Long-lived commands owned by the guest agent (survive clients and daemon restarts)
    #[command(subcommand)]
    Session(session::Command),
    /// The VM's serial console
    Logs(LogsArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Image to boot (default: default_image_name from the config)
    #[arg(long, add = ArgValueCandidates::new(crate::complete::images))]
    image: Option<String>,
    /// VM name (default: generated, e.g. brisk-otter)
    #[arg(long)]
    name: Option<String>,
    /// Only provision the disks; boot later with `vm start`
    #[arg(long)]
    no_start: bool,
    /// Virtual CPUs (default: 2 with KVM, 1 under software emulation)
    #[arg(long)]
    vcpus: Option<u32>,
    /// Memory in MiB (default: 1024)
    #[arg(long)]
    memory: Option<u32>,
    /// Size in MiB of a fresh work disk when the image has no work-seed (default: 8192, sparse)
    #[arg(long)]
    disk_size: Option<u64>,
    /// Boot a new VM even when the warm pool (warm_pool_size) has a matching one ready
    #[arg(long)]
    cold: bool,
    /// Print the VM as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    #[arg(add = ArgValueCandidates::new(crate::complete::vms))]
    name: String,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[arg(add = ArgValueCandidates::new(crate::complete::vms))]
    name: String,
    /// Working directory in the guest (default: the agent's, /)
    #[arg(long)]
    cwd: Option<String>,
    /// Extra environment variable for the command (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = env_var)]
    env: Vec<(String, String)>,
    /// The command and its arguments (after `--`)
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SshArgs {
    #[arg(add = ArgValueCandidates::new(crate::complete::vms))]
    name: String,
    /// Command to run instead of a login shell (after `--`)
    #[arg(last = true)]
    command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[arg(add = ArgValueCandidates::new(crate::complete::vms))]
    name: String,
    /// Delete even if running (the VMM is terminated)
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[arg(add = ArgValueCandidates::new(crate::complete::vms))]
    name: String,
    /// Keep printing new console output until interrupted
    #[arg(long, short)]
    follow: bool,
}

pub async fn run(ctx: &Context, cmd: Command) -> anyhow::Result<ExitCode> {
    let cmd = match cmd {
        Command::Workspace(c) => return workspace::run(ctx, c).await,
        Command::Run(a) => return run::run(ctx, a).await,
        Command::Acp(a) => return acp::run(ctx, a).await,
        Command::Opencode(a) => return opencode::run(ctx, a).await,
        Command::Session(c) => return session::run(ctx, c).await,
        other => other,
    };
    let client = ctx.daemon().await?;
    match cmd {
        Command::Create(a) => {
            let req = CreateVm {
                image: a.image,
                name: a.name,
                no_start: a.no_start,
                vcpus: a.vcpus,
                memory_mib: a.memory,
                disk_size_mib: a.disk_size,
                cold: a.cold,
            };
            let mut view = ProgressView::new();
            let vm: Vm = client
                .stream(routes::VMS, &req, |p: Progress| view.update(p))
                .await?;
            drop(view);
            print_vm(
                &vm,
                a.json,
                if a.no_start {
                    "created (not started)"
                } else if vm.claimed_warm {
                    "is running (from the warm pool)"
                } else {
                    "is running"
                },
            )?;
        }
        Command::Start(a) => {
            let mut view = ProgressView::new();
            let vm: Vm = client
                .stream(
                    &routes::vm_action(&a.name, "start"),
                    &VmAction {},
                    |p: Progress| view.update(p),
                )
                .await?;
            drop(view);
            print_vm(&vm, a.json, "is running")?;
        }
        Command::Stop(a) => {
            let mut view = ProgressView::new();
            let vm: Vm = client
                .stream(
                    &routes::vm_action(&a.name, "stop"),
                    &VmAction {},
                    |p: Progress| view.update(p),
                )
                .await?;
            drop(view);
            print_vm(&vm, a.json, "is stopped")?;
        }
        Command::Delete(a) => {
            let path = if a.force {
                format!("{}?force=true", routes::vm(&a.name))
            } else {
                routes::vm(&a.name)
            };
            let d: VmDeleted = client.delete(&path).await?;
            println!("deleted VM {} and its disks", d.name);
        }
        Command::List(a) => {
            let vms: Vec<Vm> = client.get(routes::VMS).await?;
            if a.json {
                render::print_json(&vms)?;
            } else if vms.is_empty() {
                println!("no VMs; create one with `banger vm create --image NAME`");
            } else {
                println!(
                    "{:<20} {:<13} {:<16} {:<15} {:>5} {:>7} {:>6} {:>8}  {:<12} UPTIME",
                    "NAME", "STATE", "IMAGE", "IP", "VCPUS", "MEMORY", "CPU", "RSS", "VMM"
                );
                let now = now();
                for v in vms {
                    // Warm-pool VMs are no one's yet: marked, not hidden
                    // (they hold memory and an address).
                    let state = match v.warm {
                        Some(w) => format!("warm:{}", w.as_str()),
                        None => v.state.as_str().into(),
                    };
                    let uptime = match (v.state, v.started_at) {
                        (VmState::Running, Some(t)) => render::duration(now.saturating_sub(t)),
                        _ => "-".into(),
                    };
                    let cpu = v.cpu_percent.map_or("-".into(), |c| format!("{c:.0}%"));
                    let rss = v.rss_mib.map_or("-".into(), |r| format!("{r}M"));
                    println!(
                        "{:<20} {:<13} {:<16} {:<15} {:>5} {:>6}M {cpu:>6} {rss:>8}  {:<12} {uptime}",
                        v.name,
                        state,
                        v.image,
                        v.ip.as_deref().unwrap_or("-"),
                        v.vcpus,
                        v.memory_mib,
                        v.backend
                    );
                }
            }
        }
        Command::Show(a) => {
            let vm: Vm = client.get(&routes::vm(&a.name)).await?;
            render::output(a.json, &vm, show)?;
        }
        Command::Ports(a) => {
            let ports: VmPorts = client.get(&routes::vm_action(&a.name, "ports")).await?;
            if a.json {
                render::print_json(&ports)?;
            } else {
                if let Some(ip) = &ports.ip {
                    println!("guest address {ip}");
                }
                println!("{:<6} {:<24} {:>6}  PROCESS", "PROTO", "ADDRESS", "PORT");
                let mut opencode = false;
                for p in ports.ports {
                    opencode |= p.proto == "tcp"
                        && p.port == 4096
                        && p.process.as_deref().is_some_and(|n| n.contains("opencode"));
                    println!(
                        "{:<6} {:<24} {:>6}  {}",
                        p.proto,
                        p.address,
                        p.port,
                        printable(&p.process.unwrap_or_default())
                    );
                }
                if opencode {
                    println!(
                        "\nopencode on 4096 asks for this VM's password: `banger vm opencode {0}` attaches with it; `banger vm opencode {0} --show-secret` prints it",
                        a.name
                    );
                }
            }
        }
        Command::Ssh(a) => {
            let vm = with_host_keys(&client, client.get(&routes::vm(&a.name)).await?).await?;
            return Err(ssh(ctx, &vm, &[], &a.command));
        }
        Command::Exec(a) => {
            let req = ExecRequest {
                argv: a.command,
                cwd: a.cwd,
                env: a.env,
            };
            let status = crate::exec::run(&client, &a.name, &req, true).await?;
            return Ok(ExitCode::from(status.clamp(0, 255) as u8));
        }
        Command::Workspace(_)
        | Command::Run(_)
        | Command::Acp(_)
        | Command::Opencode(_)
        | Command::Session(_) => {
            unreachable!("handled above")
        }
        Command::Logs(a) => {
            let mut offset = 0;
            loop {
                let chunk: ConsoleChunk = client
                    .get(&format!(
                        "{}?offset={offset}",
                        routes::vm_action(&a.name, "console")
                    ))
                    .await?;
                let mut out = std::io::stdout().lock();
                // On a terminal, the guest's escape sequences (but colours)
                // are shown, not obeyed; piped, the console passes as it is.
                if std::io::IsTerminal::is_terminal(&out) {
                    out.write_all(printable_keeping_colours(&chunk.data).as_bytes())?;
                } else {
                    out.write_all(chunk.data.as_bytes())?;
                }
                out.flush()?;
                offset = chunk.next_offset;
                // The daemon answers in bounded chunks: an empty one is the end.
                if chunk.data.is_empty() {
                    if !a.follow {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn print_vm(vm: &Vm, json: bool, what: &str) -> anyhow::Result<()> {
    render::output(json, vm, |vm| {
        println!(
            "VM {} {what} ({}, {} vCPU, {} MiB, {})",
            vm.name,
            vm.backend,
            vm.vcpus,
            vm.memory_mib,
            vm.ip.as_deref().unwrap_or("no address")
        )
    })
}

fn show(v: &Vm) {
    let opt = |x: Option<String>| x.unwrap_or_else(|| "-".into());
    for (k, val) in [
        ("name", v.name.clone()),
        ("state", v.state.as_str().into()),
        ("image", v.image.clone()),
        ("vmm", v.backend.clone()),
        ("vcpus", v.vcpus.to_string()),
        ("memory", format!("{} MiB", v.memory_mib)),
        ("ip", opt(v.ip.clone())),
        ("tap", opt(v.tap.clone())),
        ("vsock cid", v.guest_cid.to_string()),
        ("vmm pid", opt(v.vmm_pid.map(|p| p.to_string()))),
        (
            "cpu",
            opt(v.cpu_percent.map(|c| format!("{c:.1}% of one CPU"))),
        ),
        ("rss", opt(v.rss_mib.map(|r| format!("{r} MiB")))),
        ("dir", v.dir.clone()),
        ("error", opt(v.last_error.clone())),
    ] {
        println!("{k:<10} {val}");
    }
    if let Some(tail) = &v.console_tail {
        println!("console (last lines):");
        for line in tail.lines() {
            println!("  {line}");
        }
    }
}

/// `--env KEY=VALUE`: a KEY a shell could name (letters, digits and `_`,
/// not starting with a digit); the value is anything after the first `=`.
pub(crate) fn env_var(kv: &str) -> Result<(String, String), String> {
    let Some((k, v)) = kv.split_once('=') else {
        return Err(format!("`{kv}` is not KEY=VALUE"));
    };
    banger_api::session::check_env_name(k)?;
    Ok((k.to_owned(), v.to_owned()))
}

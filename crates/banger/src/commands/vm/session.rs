//! `banger vm session start|list|show|logs|stop|kill`.

use crate::context::Context;
use crate::render;
use banger_api::routes;
use banger_api::session::{
    KillSession, Session, SessionLogs, SessionState, SessionStdin, StartSession, StopSession,
};
use clap::{Args, Subcommand, ValueEnum};
use clap_complete::ArgValueCandidates;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a long-lived command in a VM, owned by its guest agent
    ///
    /// Checked first in the guest: --cwd exists, CMD and every
    /// --require-command resolve in PATH; if anything is missing, all of it
    /// is named and nothing starts. stdout and stderr go to logs on the
    /// guest disk (`vm session logs`).
    ///
    /// Example: banger vm session start dev --name planner --cwd /root/repo -- make watch
    Start(StartArgs),
    /// Sessions of a VM: name, state, pid, stdin mode, start, exit status
    List(ListArgs),
    /// One session
    Show(NameArgs),
    /// A session's output (stdout and stderr, or one of them)
    Logs(LogsArgs),
    /// SIGTERM, then SIGKILL after the grace period; says which ended it
    Stop(StopArgs),
    /// Send a signal to a session's processes
    Kill(KillArgs),
    /// Attach your terminal, or a program, to a pipe session (exclusive)
    ///
    /// Your input goes to the session's stdin; its stdout and stderr come
    /// to yours, starting with what it wrote while nobody was attached. A
    /// line `~.` detaches at once; the session keeps running. A second
    /// attach meanwhile is refused, naming you.
    ///
    /// End of input: on a terminal (Ctrl-D) it detaches. From a pipe or a
    /// file, input stops but output keeps coming until the session exits
    /// (banger then exits with its status) or writes nothing for --idle
    /// seconds (then it detaches), so a script sees the answer to what it
    /// sent. --detach-on-eof detaches at end of input instead.
    ///
    /// A client that stops reading is let go when 4 MiB of output wait for
    /// it (an error says so); the session runs on, its logs keep
    /// everything, and the next attach replays what was not sent.
    ///
    /// Example: printf '{"type":"get_state"}\n' | banger vm session attach dev pi --idle 10
    Attach(AttachArgs),
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    #[arg(add = ArgValueCandidates::new(crate::complete::vms))]
    vm: String,
    #[arg(add = ArgValueCandidates::new(crate::complete::sessions))]
    name: String,
    /// Detach at end of input, even when it is not a terminal
    #[arg(long)]
    detach_on_eof: bool,
    /// After end of input (not a terminal): detach once the session has
    /// written nothing for this many seconds (0: wait until it exits)
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    idle: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Stdin {
    /// stdin is /dev/null (default)
    Detached,
    /// stdin is a pipe kept open by the guest agent
    Pipe,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    #[arg(add = ArgValueCandidates::new(crate::complete::vms))]
    vm: String,
    /// Session name, unique in the VM (a-z A-Z 0-9 . _ -)
    #[arg(long)]
    name: String,
    /// Working directory in the guest
    #[arg(long)]
    cwd: Option<String>,
    #[arg(long, value_enum, default_value = "detached")]
    stdin_mode: Stdin,
    /// A command that must exist in the guest (repeatable)
    #[arg(long = "require-command", value_name = "C")]
    require: Vec<String>,
    /// Environment variable for the command (repeatable; HOME=/root and the
    /// guest's PATH unless given)
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = super::env_var)]
    env: Vec<(String, String)>,
    /// Print the session as JSON
    #[arg(long)]
    json: bool,
    /// The command and its arguments (after `--`)
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(add = ArgValueCandidates::new(crate::complete::vms))]
    vm: String,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    #[arg(add = ArgValueCandidates::new(crate::complete::vms))]
    vm: String,
    #[arg(add = ArgValueCandidates::new(crate::complete::sessions))]
    name: String,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[arg(add = ArgValueCandidates::new(crate::complete::vms))]
    vm: String,
    #[arg(add = ArgValueCandidates::new(crate::complete::sessions))]
    name: String,
    /// Only this stream (default: both, each to its own)
    #[arg(long, value_enum)]
    stream: Option<Stream>,
    /// Only the last K lines of each stream
    #[arg(long, value_name = "K")]
    tail: Option<u64>,
    /// Keep printing until the session ends
    #[arg(long, short)]
    follow: bool,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    #[arg(add = ArgValueCandidates::new(crate::complete::vms))]
    vm: String,
    #[arg(add = ArgValueCandidates::new(crate::complete::sessions))]
    name: String,
    /// Seconds between SIGTERM and SIGKILL
    #[arg(long, default_value_t = 10)]
    grace: u64,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    #[arg(add = ArgValueCandidates::new(crate::complete::vms))]
    vm: String,
    #[arg(add = ArgValueCandidates::new(crate::complete::sessions))]
    name: String,
    /// Signal name or number (TERM, KILL, INT, HUP, USR1, ... or 9)
    #[arg(long, default_value = "KILL")]
    signal: String,
    #[arg(long)]
    json: bool,
}

fn signal_number(s: &str) -> anyhow::Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return Ok(n);
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    Ok(match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "KILL" => 9,
        "USR1" => 10,
        "USR2" => 12,
        "TERM" => 15,
        "CONT" => 18,
        "STOP" => 19,
        _ => anyhow::bail!("unknown signal `{s}` (use a name such as TERM or KILL, or a number)"),
    })
}

fn sessions_path(vm: &str) -> String {
    routes::vm_action(vm, "sessions")
}

fn status(s: &Session) -> String {
    match (s.state, s.exit_code, s.exit_signal) {
        (SessionState::Running, _, _) => "-".into(),
        (SessionState::VmStopped, _, _) => "ended with the VM".into(),
        (_, Some(c), _) => format!("exit {c}"),
        (_, _, Some(sig)) => format!("signal {sig}"),
        _ => "-".into(),
    }
}

fn show(s: &Session) {
    let opt = |x: Option<String>| x.unwrap_or_else(|| "-".into());
    for (k, v) in [
        ("vm", s.vm.clone()),
        ("name", s.name.clone()),
        ("command", s.argv.join(" ")),
        ("cwd", opt(s.cwd.clone())),
        ("stdin", format!("{:?}", s.stdin_mode).to_lowercase()),
        ("state", s.state.to_string()),
        ("pid", s.pid.to_string()),
        ("started", s.started_at.to_string()),
        ("ended", opt(s.ended_at.map(|t| t.to_string()))),
        ("status", status(s)),
        ("ended by", opt(s.ended_by.clone())),
    ] {
        println!("{k:<9} {v}");
    }
}

pub async fn run(ctx: &Context, cmd: Command) -> anyhow::Result<ExitCode> {
    let client = ctx.daemon().await?;
    match cmd {
        Command::Start(a) => {
            let req = StartSession {
                name: a.name,
                argv: a.command,
                cwd: a.cwd,
                stdin_mode: match a.stdin_mode {
                    Stdin::Detached => SessionStdin::Detached,
                    Stdin::Pipe => SessionStdin::Pipe,
                },
                require: a.require,
                env: a.env,
            };
            let s: Session = client.post(&sessions_path(&a.vm), &req).await?;
            render::output(a.json, &s, |s| {
                println!("session {} started in VM {} (pid {})", s.name, s.vm, s.pid)
            })?;
        }
        Command::List(a) => {
            let all: Vec<Session> = client.get(&sessions_path(&a.vm)).await?;
            if a.json {
                render::print_json(&all)?;
            } else if all.is_empty() {
                println!("no sessions in VM {}", a.vm);
            } else {
                println!(
                    "{:<20} {:<11} {:>7} {:<9} {:>11}  {:<18} COMMAND",
                    "NAME", "STATE", "PID", "STDIN", "STARTED", "STATUS"
                );
                for s in all {
                    println!(
                        "{:<20} {:<11} {:>7} {:<9} {:>11}  {:<18} {}",
                        s.name,
                        s.state,
                        s.pid,
                        format!("{:?}", s.stdin_mode).to_lowercase(),
                        s.started_at,
                        status(&s),
                        s.argv.join(" ")
                    );
                }
            }
        }
        Command::Show(a) => {
            let s: Session = client
                .get(&format!("{}/{}", sessions_path(&a.vm), a.name))
                .await?;
            render::output(a.json, &s, show)?;
        }
        Command::Stop(a) => {
            let s: Session = client
                .post(
                    &format!("{}/{}/stop", sessions_path(&a.vm), a.name),
                    &StopSession {
                        grace_secs: Some(a.grace),
                    },
                )
                .await?;
            render::output(a.json, &s, |s| {
                println!(
                    "session {} ended by {} ({})",
                    s.name,
                    s.ended_by.as_deref().unwrap_or("itself"),
                    status(s)
                )
            })?;
        }
        Command::Kill(a) => {
            let signal = signal_number(&a.signal)?;
            let s: Session = client
                .post(
                    &format!("{}/{}/kill", sessions_path(&a.vm), a.name),
                    &KillSession { signal },
                )
                .await?;
            render::output(a.json, &s, |s| {
                println!("sent signal {signal} to session {} ({})", s.name, s.state)
            })?;
        }
        Command::Attach(a) => return attach(&client, &a).await,
        Command::Logs(a) => {
            let req = SessionLogs {
                stream: a.stream.map(|s| match s {
                    Stream::Stdout => "stdout".into(),
                    Stream::Stderr => "stderr".into(),
                }),
                tail: a.tail,
                follow: a.follow,
            };
            let mut io = client
                .upgrade(
                    &format!("{}/{}/logs", sessions_path(&a.vm), a.name),
                    &req,
                    banger_api::mux::PROTOCOL,
                )
                .await?;
            if let crate::exec::Ending::Closed = crate::exec::pump(&mut io, true).await? {
                anyhow::bail!("the connection closed before the logs ended");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Bridges this terminal (or a program's pipes) to the daemon's
/// stdio_mux_v1 socket for the session.
async fn attach(client: &banger_api::client::Client, a: &AttachArgs) -> anyhow::Result<ExitCode> {
    use crate::exec::{Attached as Ended, Input};
    use banger_api::session::{AttachSession, Attached};
    use std::io::IsTerminal;
    let (vm, name) = (&a.vm, &a.name);
    let holder = format!(
        "pid {} ({})",
        std::process::id(),
        std::env::var("USER").unwrap_or_else(|_| "unknown user".into())
    );
    let at: Attached = client
        .post(
            &format!("{}/{}/attach", sessions_path(vm), name),
            &AttachSession { holder },
        )
        .await?;
    let sock = tokio::net::UnixStream::connect(&at.socket).await?;
    let terminal = std::io::stdin().is_terminal();
    let eof_detaches = terminal || a.detach_on_eof;
    if terminal {
        eprintln!("banger: attached to session {name} in VM {vm}; Ctrl-D or a line `~.` detaches");
    }
    let idle = (a.idle > 0).then(|| std::time::Duration::from_secs(a.idle));
    let input = Input {
        eof_detaches,
        idle_after_eof: idle,
    };
    match crate::exec::attach(sock, input).await? {
        Ended::Exit(st) => {
            let code = st.as_shell_status();
            eprintln!(
                "banger: session {name} ended ({})",
                match (st.code, st.signal) {
                    (Some(c), _) => format!("exit {c}"),
                    (_, Some(s)) => format!("signal {s}"),
                    _ => "unknown status".into(),
                }
            );
            Ok(ExitCode::from(code.clamp(0, 255) as u8))
        }
        Ended::Detached => {
            eprintln!("banger: detached from session {name}; it keeps running");
            Ok(ExitCode::SUCCESS)
        }
        Ended::Idle(d) => {
            eprintln!(
                "banger: detached from session {name} after {} s without output since the end of input; it keeps running",
                d.as_secs()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

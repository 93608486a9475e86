//! Starting `bangerd` on demand: detached in its own session, its output
//! appended to the log file, and waited for until it answers.

use anyhow::{Context as _, bail};
use banger_api::client::Client;
use banger_api::daemon::DaemonStatus;
use banger_api::routes;
use banger_config::Paths;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Generous: a first start creates the database and the SSH key.
const START_TIMEOUT: Duration = Duration::from_secs(20);

pub async fn ensure_running(paths: &Paths) -> anyhow::Result<Client> {
    let client = Client::new(paths.socket());
    match client.get::<DaemonStatus>(routes::DAEMON_STATUS).await {
        Ok(_) => Ok(client),
        Err(e) if e.is_not_running() => {
            let status = start(paths).await?;
            eprintln!(
                "started bangerd (pid {}, log {})",
                status.pid, status.log_file
            );
            Ok(client)
        }
        Err(e) => Err(e.into()),
    }
}

/// Spawns the daemon and waits until it answers; on failure the error
/// carries what the daemon wrote to its log.
pub async fn start(paths: &Paths) -> anyhow::Result<DaemonStatus> {
    let bangerd = locate_bangerd()?;
    banger_config::paths::create_dir(&paths.state_dir, 0o700)?;
    let log_path = paths.log_file();
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening daemon log {}", log_path.display()))?;
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let mut cmd = Command::new(&bangerd);
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid() is async-signal-safe and touches no memory of the
    // parent; it detaches the daemon from our terminal and its signals.
    unsafe {
        cmd.pre_exec(|| rustix::process::setsid().map(drop).map_err(Into::into));
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", bangerd.display()))?;

    let client = Client::new(paths.socket());
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match client.get::<DaemonStatus>(routes::DAEMON_STATUS).await {
            Ok(status) => return Ok(status),
            Err(e) if !e.is_not_running() => return Err(e.into()),
            Err(_) => {}
        }
        if let Some(exit) = child.try_wait()? {
            // Lost a race with another starting daemon? Then that one answers soon.
            if let Ok(status) = wait_briefly(&client).await {
                return Ok(status);
            }
            bail!(
                "bangerd exited during start-up ({exit}); it logged:\n{}",
                log_tail(&log_path, log_start)
            );
        }
        if Instant::now() > deadline {
            bail!(
                "bangerd (pid {}) did not answer on {} within {}s; it logged:\n{}",
                child.id(),
                paths.socket().display(),
                START_TIMEOUT.as_secs(),
                log_tail(&log_path, log_start)
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn wait_briefly(client: &Client) -> anyhow::Result<DaemonStatus> {
    for _ in 0..40 {
        if let Ok(s) = client.get::<DaemonStatus>(routes::DAEMON_STATUS).await {
            return Ok(s);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("no daemon answered")
}

/// `bangerd` beside this executable (build and install layouts alike), else PATH.
fn locate_bangerd() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the banger executable")?;
    let sibling = exe.with_file_name("bangerd");
    if sibling.is_file() {
        return Ok(sibling);
    }
    let in_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("bangerd"))
            .find(|p| p.is_file())
    });
    in_path.with_context(|| {
        format!(
            "cannot find bangerd beside {} or in PATH; reinstall banger (make install)",
            exe.display()
        )
    })
}

/// What the daemon wrote since `from`, at most the last 20 lines, indented.
fn log_tail(path: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.seek(SeekFrom::Start(from));
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(20)..];
    if tail.is_empty() {
        format!("    (nothing; see {})", path.display())
    } else {
        tail.iter()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

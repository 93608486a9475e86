//! The terminal side of `stdio_mux_v1`, the one stdio protocol the daemon
//! speaks: running a command in a VM (`vm exec`: this process's stdin goes
//! to the command, its stdout and stderr come back on ours, separately, and
//! its exit status, 128 + N for a signal as shells report it, becomes
//! ours), and reading a stream to its end (session logs, attach).

use banger_api::client::Client;
use banger_api::mux::{self, ErrorMessage, ExitStatus, Kind, PROTOCOL};
use banger_api::routes;
use banger_api::vm::ExecRequest;
use std::io::{Read, Write};
use tokio::io::AsyncRead;

/// How a stream from the daemon ended.
#[derive(Debug)]
pub enum Ending {
    /// The command's status (a stream that simply ended: code 0).
    Exit(ExitStatus),
    /// The connection closed with no last word (an attach detached).
    Closed,
}

/// Copies stdout and stderr frames to ours (or drops them, `show` false)
/// until the last frame; an `error` frame is the error returned.
pub async fn pump(rd: &mut (impl AsyncRead + Unpin), show: bool) -> anyhow::Result<Ending> {
    loop {
        match mux::read(rd).await? {
            None => return Ok(Ending::Closed),
            Some((Kind::Stdout, d)) if show => {
                let mut o = std::io::stdout().lock();
                o.write_all(&d)?;
                o.flush()?;
            }
            Some((Kind::Stderr, d)) if show => {
                let mut e = std::io::stderr().lock();
                e.write_all(&d)?;
                e.flush()?;
            }
            Some((Kind::Exit, d)) => return Ok(Ending::Exit(serde_json::from_slice(&d)?)),
            Some((Kind::Error, d)) => {
                let e: ErrorMessage = serde_json::from_slice(&d)?;
                anyhow::bail!("{}", e.message);
            }
            Some(_) => {}
        }
    }
}

/// Relays `req`; with `stdin` false the command gets EOF at once (for
/// helpers that must not take the user's typing).
pub async fn run(client: &Client, vm: &str, req: &ExecRequest, stdin: bool) -> anyhow::Result<i32> {
    let io = client
        .upgrade(&routes::vm_action(vm, "exec"), req, PROTOCOL)
        .await?;
    let (mut from_guest, mut to_guest) = tokio::io::split(io);

    // stdin is read on a plain thread: a blocked read must not keep the
    // process alive after the command ended (tokio's stdin would).
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    std::thread::spawn(move || {
        if !stdin {
            let _ = tx.blocking_send(Vec::new());
            return;
        }
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = stdin.read(&mut buf).unwrap_or(0);
            if tx.blocking_send(buf[..n].to_vec()).is_err() || n == 0 {
                break;
            }
        }
    });
    let feed = tokio::spawn(async move {
        while let Some(chunk) = rx.recv().await {
            let (kind, eof) = match chunk.is_empty() {
                true => (Kind::CloseStdin, true),
                false => (Kind::Stdin, false),
            };
            if mux::write(&mut to_guest, kind, &chunk).await.is_err() || eof {
                break;
            }
        }
        to_guest
    });
    let ended = pump(&mut from_guest, true).await;
    feed.abort();
    finished(ended?)
}

/// Runs `req` with no stdin and its output discarded; its status. For the
/// CLI's own probes of the guest.
pub async fn run_captured(client: &Client, vm: &str, req: &ExecRequest) -> anyhow::Result<i32> {
    let io = client
        .upgrade(&routes::vm_action(vm, "exec"), req, PROTOCOL)
        .await?;
    let (mut from_guest, mut to_guest) = tokio::io::split(io);
    mux::write(&mut to_guest, Kind::CloseStdin, b"").await?;
    finished(pump(&mut from_guest, false).await?)
}

fn finished(ended: Ending) -> anyhow::Result<i32> {
    match ended {
        Ending::Exit(status) => Ok(status.as_shell_status()),
        Ending::Closed => {
            anyhow::bail!("the connection to the VM closed before the command finished")
        }
    }
}

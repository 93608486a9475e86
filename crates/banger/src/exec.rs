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

/// How an attach behaves at the end of its input.
pub struct Input {
    /// Detach at once (a terminal's Ctrl-D, or --detach-on-eof).
    pub eof_detaches: bool,
    /// Otherwise keep relaying output, detaching after this long without
    /// any (None: until the session exits).
    pub idle_after_eof: Option<std::time::Duration>,
}

/// How an attach ended.
#[derive(Debug)]
pub enum Attached {
    Exit(ExitStatus),
    /// `~.`, end of input that detaches, or the other side let go.
    Detached,
    /// No output for this long after the end of input.
    Idle(std::time::Duration),
}

/// Relays stdin lines to an attached session and its output to ours.
pub async fn attach(sock: tokio::net::UnixStream, input: Input) -> anyhow::Result<Attached> {
    use std::io::BufRead;
    let (mut rd, mut wr) = sock.into_split();
    // Lines from a plain thread (see `run`): Err(true) means detach now,
    // Err(false) the end of input.
    let (tx, mut lines) = tokio::sync::mpsc::channel::<Result<Vec<u8>, bool>>(8);
    let eof_detaches = input.eof_detaches;
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut line = Vec::new();
            let n = stdin.read_until(b'\n', &mut line).unwrap_or(0);
            let msg = match (n, line.as_slice()) {
                (0, _) => Err(eof_detaches),
                (_, b"~.\n" | b"~.") => Err(true),
                _ => Ok(line),
            };
            let last = msg.is_err();
            if tx.blocking_send(msg).is_err() || last {
                break;
            }
        }
    });
    // Frames from a task of their own, so waiting for one can be cut short
    // by an idle timer without losing half a frame.
    let (ftx, mut frames) = tokio::sync::mpsc::channel(16);
    let reader = tokio::spawn(async move {
        loop {
            let f = mux::read(&mut rd).await;
            let end = !matches!(f, Ok(Some(_)));
            if ftx.send(f).await.is_err() || end {
                return;
            }
        }
    });
    let mut input_open = true;
    let ended = loop {
        let idle = match (input_open, input.idle_after_eof) {
            (false, Some(d)) => d,
            _ => std::time::Duration::from_secs(86_400),
        };
        tokio::select! {
            line = lines.recv(), if input_open => match line {
                Some(Ok(line)) => {
                    if mux::write(&mut wr, Kind::Stdin, &line).await.is_err() {
                        input_open = false;
                    }
                }
                Some(Err(true)) => {
                    let _ = mux::write(&mut wr, Kind::Detach, b"").await;
                    break Attached::Detached;
                }
                Some(Err(false)) | None => input_open = false,
            },
            frame = frames.recv() => match frame {
                None | Some(Ok(None)) => break Attached::Detached,
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Some((kind, d)))) => match kind {
                    Kind::Stdout => {
                        let mut o = std::io::stdout().lock();
                        o.write_all(&d)?;
                        o.flush()?;
                    }
                    Kind::Stderr => {
                        let mut e = std::io::stderr().lock();
                        e.write_all(&d)?;
                        e.flush()?;
                    }
                    Kind::Exit => break Attached::Exit(serde_json::from_slice(&d)?),
                    Kind::Error => {
                        let e: ErrorMessage = serde_json::from_slice(&d)?;
                        anyhow::bail!("{}", e.message);
                    }
                    _ => {}
                },
            },
            _ = tokio::time::sleep(idle), if !input_open && input.idle_after_eof.is_some() => {
                let _ = mux::write(&mut wr, Kind::Detach, b"").await;
                break Attached::Idle(idle);
            }
        }
    };
    reader.abort();
    Ok(ended)
}

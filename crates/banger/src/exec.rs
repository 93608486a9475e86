//! Running a command in a VM through the daemon's exec relay: this
//! process's stdin goes to the command, its stdout and stderr come back on
//! ours, separately, and its exit status (128 + N for a signal, as shells
//! report it) becomes ours.

use banger_agent_proto::{Frame, FrameKind, Response, read_frame_async, write_frame_async};
use banger_api::client::Client;
use banger_api::routes;
use banger_api::vm::{AGENT_FRAMES_PROTOCOL, ExecRequest};
use std::io::{Read, Write};

/// Relays `req`; with `stdin` false the command gets EOF at once (for
/// helpers that must not take the user's typing).
pub async fn run(client: &Client, vm: &str, req: &ExecRequest, stdin: bool) -> anyhow::Result<i32> {
    let io = client
        .upgrade(&routes::vm_action(vm, "exec"), req, AGENT_FRAMES_PROTOCOL)
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
            let eof = chunk.is_empty();
            if write_frame_async(&mut to_guest, &Frame::data(FrameKind::Stdin, &chunk))
                .await
                .is_err()
                || eof
            {
                break;
            }
        }
        to_guest
    });

    let status = loop {
        let Some(frame) = read_frame_async(&mut from_guest).await? else {
            anyhow::bail!("the connection to the VM closed before the command finished");
        };
        match frame.kind {
            FrameKind::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(&frame.payload)?;
                out.flush()?;
            }
            FrameKind::Stderr => {
                let mut err = std::io::stderr().lock();
                err.write_all(&frame.payload)?;
                err.flush()?;
            }
            FrameKind::Message => match frame.as_response()? {
                Response::Error { message } => anyhow::bail!("in the guest: {message}"),
                r => match r.exit_status() {
                    Some(status) => break status,
                    None => anyhow::bail!("unexpected answer from the guest agent: {r:?}"),
                },
            },
            FrameKind::Stdin => anyhow::bail!("unexpected stdin frame from the guest"),
        }
    };
    feed.abort();
    Ok(status)
}

/// Runs `req` with no stdin and its output discarded; its status. For the
/// CLI's own probes of the guest.
pub async fn run_captured(client: &Client, vm: &str, req: &ExecRequest) -> anyhow::Result<i32> {
    let io = client
        .upgrade(&routes::vm_action(vm, "exec"), req, AGENT_FRAMES_PROTOCOL)
        .await?;
    let (mut from_guest, mut to_guest) = tokio::io::split(io);
    write_frame_async(&mut to_guest, &Frame::data(FrameKind::Stdin, b"")).await?;
    loop {
        let Some(frame) = read_frame_async(&mut from_guest).await? else {
            anyhow::bail!("the connection to the VM closed before the command finished");
        };
        if frame.kind == FrameKind::Message {
            return match frame.as_response()? {
                Response::Error { message } => anyhow::bail!("in the guest: {message}"),
                r => r.exit_status().ok_or_else(|| {
                    anyhow::anyhow!("unexpected answer from the guest agent: {r:?}")
                }),
            };
        }
    }
}

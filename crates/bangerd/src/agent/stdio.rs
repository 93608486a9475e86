//! The one stdio protocol clients speak to the daemon (`stdio_mux_v1`,
//! banger-api's `mux`), translated to and from the guest agent's frames.
//! `vm exec`, session logs and session attach all stream through here, so
//! clients never see the guest protocol.

use banger_agent_proto::{Frame, FrameKind, Response, read_frame_async, write_frame_async};
use banger_api::mux::{self, ExitStatus, Kind};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;

/// Bridges `client` and an agent connection until either side ends: the
/// client's stdin (and its end) to the agent; the agent's stdout and stderr
/// to the client, then its last word as an `exit` frame (a command's
/// status; `code 0` where a stream simply ended) or an `error` frame.
pub async fn bridge<C>(client: C, agent: UnixStream) -> std::io::Result<()>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    bridge_until(client, agent, std::future::pending()).await
}

/// `bridge`, cut short when `stop` ends: the client gets its reason as the
/// last (`error`) frame (a guest that is stuck: vmm::stall).
pub async fn bridge_until<C, S>(client: C, agent: UnixStream, stop: S) -> std::io::Result<()>
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: std::future::Future<Output = String>,
{
    let (mut c_rd, mut c_wr) = tokio::io::split(client);
    let (mut a_rd, mut a_wr) = agent.into_split();
    let to_agent = async {
        while let Some((kind, payload)) = mux::read(&mut c_rd).await? {
            let frame = match kind {
                Kind::Stdin if !payload.is_empty() => Frame::data(FrameKind::Stdin, &payload),
                Kind::CloseStdin => Frame::data(FrameKind::Stdin, b""),
                Kind::Detach => break,
                _ => continue,
            };
            write_frame_async(&mut a_wr, &frame)
                .await
                .map_err(std::io::Error::other)?;
        }
        Ok::<(), std::io::Error>(())
    };
    let to_client = async {
        loop {
            let Some(f) = read_frame_async(&mut a_rd)
                .await
                .map_err(std::io::Error::other)?
            else {
                return Ok::<(), std::io::Error>(());
            };
            match f.kind {
                FrameKind::Stdout => mux::write(&mut c_wr, Kind::Stdout, &f.payload).await?,
                FrameKind::Stderr => mux::write(&mut c_wr, Kind::Stderr, &f.payload).await?,
                FrameKind::Message => {
                    let (kind, body) = last_word(f.as_response());
                    mux::write(&mut c_wr, kind, &body).await?;
                    return Ok(());
                }
                FrameKind::Stdin => {}
            }
        }
    };
    // Whichever side ends first ends the bridge (detach, or the end).
    let reason = tokio::select! {
        r = to_agent => return r,
        r = to_client => return r,
        reason = stop => reason,
    };
    let body = serde_json::to_vec(&mux::ErrorMessage { message: reason }).expect("serializable");
    mux::write(&mut c_wr, Kind::Error, &body).await
}

/// The agent's closing message as the client's last frame.
fn last_word(answer: Result<Response, banger_agent_proto::FrameError>) -> (Kind, Vec<u8>) {
    let exit = |code, signal| {
        (
            Kind::Exit,
            serde_json::to_vec(&ExitStatus { code, signal }).expect("serializable"),
        )
    };
    let error = |message: String| {
        (
            Kind::Error,
            serde_json::to_vec(&mux::ErrorMessage { message }).expect("serializable"),
        )
    };
    match answer {
        Ok(Response::Exit { code, signal }) => exit(code, signal),
        Ok(Response::Ok) => exit(Some(0), None),
        Ok(Response::Error { message }) => error(format!("in the guest: {message}")),
        Ok(other) => error(format!("unexpected answer from the guest agent: {other:?}")),
        Err(e) => error(format!("unreadable answer from the guest agent: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client and an agent on either side of the bridge.
    async fn bridged() -> (tokio::io::DuplexStream, UnixStream) {
        let (client, ours) = tokio::io::duplex(1 << 16);
        let (agent, theirs) = UnixStream::pair().unwrap();
        tokio::spawn(bridge(ours, theirs));
        (client, agent)
    }

    #[tokio::test]
    async fn stdin_output_and_the_exit_status_cross_in_both_directions() {
        let (mut client, mut agent) = bridged().await;
        mux::write(&mut client, Kind::Stdin, b"hello")
            .await
            .unwrap();
        mux::write(&mut client, Kind::Stdin, b"").await.unwrap();
        mux::write(&mut client, Kind::CloseStdin, b"")
            .await
            .unwrap();
        let f = read_frame_async(&mut agent).await.unwrap().unwrap();
        assert_eq!(
            (f.kind, f.payload.as_slice()),
            (FrameKind::Stdin, &b"hello"[..])
        );
        let f = read_frame_async(&mut agent).await.unwrap().unwrap();
        assert_eq!((f.kind, f.payload.len()), (FrameKind::Stdin, 0), "EOF");

        for frame in [
            Frame::data(FrameKind::Stdout, b"out"),
            Frame::data(FrameKind::Stderr, b"err"),
            Frame::response(&Response::Exit {
                code: None,
                signal: Some(9),
            }),
        ] {
            write_frame_async(&mut agent, &frame).await.unwrap();
        }
        let next = async |c: &mut tokio::io::DuplexStream| mux::read(c).await.unwrap().unwrap();
        assert_eq!(next(&mut client).await, (Kind::Stdout, b"out".to_vec()));
        assert_eq!(next(&mut client).await, (Kind::Stderr, b"err".to_vec()));
        let (kind, body) = next(&mut client).await;
        assert_eq!(kind, Kind::Exit);
        let status: ExitStatus = serde_json::from_slice(&body).unwrap();
        assert_eq!((status.code, status.signal), (None, Some(9)));
        assert!(
            mux::read(&mut client).await.unwrap().is_none(),
            "then the end"
        );
    }

    #[tokio::test]
    async fn a_guest_error_reaches_the_client_as_an_error_frame() {
        let (mut client, mut agent) = bridged().await;
        let refused = Response::Error {
            message: "no such program: nope".into(),
        };
        write_frame_async(&mut agent, &Frame::response(&refused))
            .await
            .unwrap();
        let (kind, body) = mux::read(&mut client).await.unwrap().unwrap();
        assert_eq!(kind, Kind::Error);
        let e: mux::ErrorMessage = serde_json::from_slice(&body).unwrap();
        assert_eq!(e.message, "in the guest: no such program: nope");
    }

    #[tokio::test]
    async fn a_finished_stream_ends_with_status_zero_and_detach_leaves() {
        let (mut client, mut agent) = bridged().await;
        write_frame_async(&mut agent, &Frame::response(&Response::Ok))
            .await
            .unwrap();
        let (kind, body) = mux::read(&mut client).await.unwrap().unwrap();
        assert_eq!(kind, Kind::Exit);
        assert_eq!(body, br#"{"code":0,"signal":null}"#);

        let (mut client, mut agent) = bridged().await;
        mux::write(&mut client, Kind::Detach, b"").await.unwrap();
        assert!(
            read_frame_async(&mut agent).await.unwrap().is_none(),
            "detach closes the agent connection"
        );
    }
}

//! `stdio_mux_v1`: the one stdio protocol between clients and the daemon:
//! `vm exec` and session logs over an upgraded API connection, session
//! attach over its per-attach Unix socket (see docs/stdio_mux_v1.md).
//!
//! A frame is `[u32 big-endian payload length][u8 type][payload]`:
//! 1 stdin (client to daemon), 2 stdout, 3 stderr (daemon to client),
//! 4 exit (daemon to client; JSON `{"code":N|null,"signal":N|null}`, last),
//! 5 detach (client to daemon; empty: leave, the session runs on),
//! 6 close-stdin (client to daemon; empty: EOF to the session's stdin),
//! 7 error (daemon to client; JSON `{"message":"..."}`, last).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const PROTOCOL: &str = "stdio_mux_v1";
pub const MAX_PAYLOAD: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Stdin = 1,
    Stdout = 2,
    Stderr = 3,
    Exit = 4,
    Detach = 5,
    CloseStdin = 6,
    Error = 7,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Stdin,
            2 => Kind::Stdout,
            3 => Kind::Stderr,
            4 => Kind::Exit,
            5 => Kind::Detach,
            6 => Kind::CloseStdin,
            7 => Kind::Error,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExitStatus {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl ExitStatus {
    /// As a shell reports it: the code, or 128 + the signal's number.
    pub fn as_shell_status(self) -> i32 {
        match (self.code, self.signal) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            (None, None) => 1,
        }
    }
}

/// The payload of an `error` frame: why the stream ended early.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorMessage {
    pub message: String,
}

pub async fn write<W: AsyncWrite + Unpin>(
    w: &mut W,
    kind: Kind,
    payload: &[u8],
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(5 + payload.len());
    buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    buf.push(kind as u8);
    buf.extend_from_slice(payload);
    w.write_all(&buf).await?;
    w.flush().await
}

/// The next frame, or None at a clean end of stream.
pub async fn read<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<(Kind, Vec<u8>)>> {
    let mut head = [0u8; 5];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(std::io::Error::other(format!(
            "{PROTOCOL}: frame of {len} bytes"
        )));
    }
    let kind = Kind::from_u8(head[4]).ok_or_else(|| {
        std::io::Error::other(format!("{PROTOCOL}: unknown frame type {}", head[4]))
    })?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok(Some((kind, payload)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_bad_types_are_refused() {
        let mut buf = Vec::new();
        write(&mut buf, Kind::Stdout, b"hi").await.unwrap();
        write(&mut buf, Kind::Detach, b"").await.unwrap();
        let mut r = buf.as_slice();
        assert_eq!(
            read(&mut r).await.unwrap(),
            Some((Kind::Stdout, b"hi".to_vec()))
        );
        assert_eq!(read(&mut r).await.unwrap(), Some((Kind::Detach, vec![])));
        assert_eq!(read(&mut r).await.unwrap(), None);
        let bad = [0u8, 0, 0, 0, 9];
        assert!(read(&mut &bad[..]).await.is_err());
    }
}

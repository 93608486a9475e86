use crate::{Request, Response};
use std::io::{self, Read, Write};

/// Output is chunked far below this; a larger length means a broken peer.
pub const MAX_FRAME: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    Message = 0,
    Stdin = 1,
    Stdout = 2,
    Stderr = 3,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: FrameKind,
    pub payload: Vec<u8>,
}

#[derive(Debug)]
pub enum FrameError {
    Io(io::Error),
    TooLarge(usize),
    UnknownKind(u8),
    BadMessage(serde_json::Error),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "agent connection: {e}"),
            FrameError::TooLarge(n) => write!(
                f,
                "agent frame of {n} bytes is over the {MAX_FRAME}-byte limit"
            ),
            FrameError::UnknownKind(k) => write!(f, "agent frame of unknown type {k}"),
            FrameError::BadMessage(e) => write!(f, "agent message is not valid: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

impl Frame {
    pub fn request(r: &Request) -> Frame {
        Frame {
            kind: FrameKind::Message,
            payload: serde_json::to_vec(r).expect("requests serialize"),
        }
    }

    pub fn response(r: &Response) -> Frame {
        Frame {
            kind: FrameKind::Message,
            payload: serde_json::to_vec(r).expect("responses serialize"),
        }
    }

    pub fn data(kind: FrameKind, payload: &[u8]) -> Frame {
        Frame {
            kind,
            payload: payload.to_vec(),
        }
    }

    pub fn as_request(&self) -> Result<Request, FrameError> {
        serde_json::from_slice(&self.payload).map_err(FrameError::BadMessage)
    }

    pub fn as_response(&self) -> Result<Response, FrameError> {
        serde_json::from_slice(&self.payload).map_err(FrameError::BadMessage)
    }

    fn header(&self) -> [u8; 5] {
        let len = (self.payload.len() as u32).to_be_bytes();
        [len[0], len[1], len[2], len[3], self.kind as u8]
    }
}

fn parse_header(h: [u8; 5]) -> Result<(usize, FrameKind), FrameError> {
    let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    let kind = match h[4] {
        0 => FrameKind::Message,
        1 => FrameKind::Stdin,
        2 => FrameKind::Stdout,
        3 => FrameKind::Stderr,
        k => return Err(FrameError::UnknownKind(k)),
    };
    Ok((len, kind))
}

pub fn write_frame(w: &mut impl Write, frame: &Frame) -> io::Result<()> {
    let mut buf = Vec::with_capacity(5 + frame.payload.len());
    buf.extend_from_slice(&frame.header());
    buf.extend_from_slice(&frame.payload);
    w.write_all(&buf)?;
    w.flush()
}

/// `Ok(None)` on a clean end of stream between frames.
pub fn read_frame(r: &mut impl Read) -> Result<Option<Frame>, FrameError> {
    let mut h = [0u8; 5];
    let mut got = 0;
    while got < 5 {
        match r.read(&mut h[got..])? {
            0 if got == 0 => return Ok(None),
            0 => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            n => got += n,
        }
    }
    let (len, kind) = parse_header(h)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok(Some(Frame { kind, payload }))
}

#[cfg(feature = "tokio")]
pub async fn write_frame_async(
    w: &mut (impl tokio::io::AsyncWrite + Unpin),
    frame: &Frame,
) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut buf = Vec::with_capacity(5 + frame.payload.len());
    buf.extend_from_slice(&frame.header());
    buf.extend_from_slice(&frame.payload);
    w.write_all(&buf).await?;
    w.flush().await
}

#[cfg(feature = "tokio")]
pub async fn read_frame_async(
    r: &mut (impl tokio::io::AsyncRead + Unpin),
) -> Result<Option<Frame>, FrameError> {
    use tokio::io::AsyncReadExt;
    let mut h = [0u8; 5];
    let mut got = 0;
    while got < 5 {
        match r.read(&mut h[got..]).await? {
            0 if got == 0 => return Ok(None),
            0 => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            n => got += n,
        }
    }
    let (len, kind) = parse_header(h)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok(Some(Frame { kind, payload }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        let req = Request::Exec {
            argv: vec!["uname".into(), "-r".into()],
            cwd: None,
            env: vec![],
            stdin: false,
        };
        write_frame(&mut buf, &Frame::request(&req)).unwrap();
        write_frame(&mut buf, &Frame::data(FrameKind::Stdout, b"6.1\n")).unwrap();
        let mut r = &buf[..];
        assert_eq!(
            read_frame(&mut r).unwrap().unwrap().as_request().unwrap(),
            req
        );
        let out = read_frame(&mut r).unwrap().unwrap();
        assert_eq!(
            (out.kind, out.payload.as_slice()),
            (FrameKind::Stdout, &b"6.1\n"[..])
        );
        assert!(read_frame(&mut r).unwrap().is_none());
    }

    #[test]
    fn broken_frames_are_errors() {
        assert!(matches!(
            read_frame(&mut &[0u8, 0, 0, 1, 9, 0][..]),
            Err(FrameError::UnknownKind(9))
        ));
        assert!(matches!(
            read_frame(&mut &[0xff, 0, 0, 0, 0][..]),
            Err(FrameError::TooLarge(_))
        ));
        assert!(matches!(
            read_frame(&mut &[0u8, 0, 0, 4, 2, b'a'][..]),
            Err(FrameError::Io(_))
        ));
        assert!(matches!(
            read_frame(&mut &[0u8, 0][..]),
            Err(FrameError::Io(_))
        ));
    }

    #[test]
    fn exit_status_follows_the_shell() {
        assert_eq!(
            Response::Exit {
                code: Some(3),
                signal: None
            }
            .exit_status(),
            Some(3)
        );
        assert_eq!(
            Response::Exit {
                code: None,
                signal: Some(9)
            }
            .exit_status(),
            Some(137)
        );
    }
}

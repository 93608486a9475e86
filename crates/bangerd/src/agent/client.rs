//! The daemon's side of the agent protocol (`banger-agent-proto`).
//!
//! Both VMMs expose the guest's vsock as a "hybrid" Unix socket: connect,
//! write `CONNECT <port>\n`, read `OK <n>\n`, then the stream is the guest
//! port. Firecracker does this itself; for QEMU, vhost-device-vsock does.

use banger_agent_proto::{
    AGENT_PORT, Frame, FrameError, FrameKind, Request, Response, read_frame_async,
    write_frame_async,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("connecting to the VM's vsock socket {}", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the guest did not accept vsock port {port} (agent not running yet?): {answer}")]
    Refused { port: u32, answer: String },
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("the agent closed the connection before answering")]
    Closed,
    #[error("the agent answered {0}")]
    Unexpected(String),
    #[error("in the guest: {0}")]
    Guest(String),
    #[error("the VM stopped after {}s, before its agent answered", waited.as_secs())]
    GuestStopped { waited: Duration },
    #[error("the agent did not answer within {}s; last error: {last}", waited.as_secs())]
    NotReady { waited: Duration, last: String },
    #[error("the agent did not answer {what} within {}s", after.as_secs())]
    Deadline { what: String, after: Duration },
    #[error("the guest sent more than {} MiB of {what}; stopped reading", cap >> 20)]
    OutputTooLarge { what: &'static str, cap: u64 },
    #[error(transparent)]
    Stalled(#[from] crate::vmm::stall::Stall),
}

/// How long a one-answer request may take (a guest that accepts and never
/// answers must not hold a daemon request forever).
pub const CALL_DEADLINE: Duration = Duration::from_secs(30);

/// The most output collected in memory from one command in the guest
/// (larger results stream to a file: `exec_to`).
pub const OUTPUT_CAP: u64 = 16 << 20;

/// Appends `data` to `buf` unless that makes it larger than OUTPUT_CAP.
fn collect(buf: &mut Vec<u8>, data: &[u8], what: &'static str) -> Result<(), AgentError> {
    crate::capped::append(buf, data, OUTPUT_CAP as usize).map_err(|_| AgentError::OutputTooLarge {
        what,
        cap: OUTPUT_CAP,
    })
}

/// A request as an error names it.
fn request_name(r: &Request) -> String {
    let debug = format!("{r:?}");
    let name = debug.split([' ', '{', '(']).next().unwrap_or("a request");
    format!("`{name}`")
}

/// The connection was dropped before the request got through.
fn is_dropped(e: &AgentError) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionReset, UnexpectedEof};
    match e {
        AgentError::Refused { answer, .. } => answer == "connection closed",
        AgentError::Frame(FrameError::Io(io)) => {
            matches!(io.kind(), BrokenPipe | ConnectionReset | UnexpectedEof)
        }
        _ => false,
    }
}

impl From<std::io::Error> for AgentError {
    fn from(e: std::io::Error) -> Self {
        AgentError::Frame(FrameError::Io(e))
    }
}

#[derive(Debug, Clone)]
pub struct AgentClient {
    socket: PathBuf,
    /// `Some(port)`: a hybrid vsock socket needing the CONNECT handshake;
    /// `None`: a plain Unix socket straight to the agent (tests).
    port: Option<u32>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The shell convention: exit code, or 128 + signal.
    pub status: i32,
}

impl AgentClient {
    pub fn hybrid_vsock(socket: &Path) -> AgentClient {
        AgentClient {
            socket: socket.to_owned(),
            port: Some(AGENT_PORT),
        }
    }

    pub fn unix(socket: &Path) -> AgentClient {
        AgentClient {
            socket: socket.to_owned(),
            port: None,
        }
    }

    /// Connects and sends `request`. vhost-device-vsock accepts and at once
    /// closes host connections while its device is not set up (during a
    /// guest's boot or a device reset), and a guest with no listener yet
    /// resets them. Either way the request never reached the agent, so it
    /// is sent again on a new connection, a few times, briefly.
    async fn open_with(&self, request: &Request) -> Result<UnixStream, AgentError> {
        self.open_tries(request, 8).await
    }

    async fn open_tries(&self, request: &Request, tries: u64) -> Result<UnixStream, AgentError> {
        let mut last = None;
        for attempt in 0..tries {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            let result = match self.connect().await {
                Ok(mut s) => write_frame_async(&mut s, &Frame::request(request))
                    .await
                    .map(|()| s)
                    .map_err(AgentError::from),
                Err(e) => Err(e),
            };
            match result {
                Ok(s) => return Ok(s),
                Err(e) if is_dropped(&e) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    async fn connect(&self) -> Result<UnixStream, AgentError> {
        let mut stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| AgentError::Connect {
                    path: self.socket.clone(),
                    source,
                })?;
        let Some(port) = self.port else {
            return Ok(stream);
        };
        // One write, never pieces: vhost-device-vsock reads the CONNECT line
        // with a non-blocking read_exact as soon as the socket is readable,
        // and drops the connection when the line has not arrived whole.
        stream
            .write_all(format!("CONNECT {port}\n").as_bytes())
            .await?;
        // Read the answer byte by byte: anything after the newline is the
        // guest's stream and must stay in the socket.
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut stream, &mut byte).await?;
            if n == 0 || byte[0] == b'\n' || answer.len() > 64 {
                break;
            }
            answer.push(byte[0]);
        }
        let answer = String::from_utf8_lossy(&answer).into_owned();
        if !answer.starts_with("OK ") {
            return Err(AgentError::Refused {
                port,
                answer: if answer.is_empty() {
                    "connection closed".into()
                } else {
                    answer
                },
            });
        }
        Ok(stream)
    }

    /// Sends `request` and returns the connection, for answers streamed as
    /// frames (relayed to a client as they are).
    pub async fn open_raw(&self, request: &Request) -> Result<UnixStream, AgentError> {
        self.open_with(request).await
    }

    /// One request, one answer within CALL_DEADLINE; an `Error` answer is
    /// `AgentError::Guest`.
    pub async fn request(&self, request: &Request) -> Result<Response, AgentError> {
        self.request_within(request, CALL_DEADLINE).await
    }

    /// The same with its own deadline (a session stop waits out its grace).
    pub async fn request_within(
        &self,
        request: &Request,
        deadline: Duration,
    ) -> Result<Response, AgentError> {
        match self.call_within(request, deadline).await? {
            Response::Error { message } => Err(AgentError::Guest(message)),
            r => Ok(r),
        }
    }

    async fn call(&self, request: &Request) -> Result<Response, AgentError> {
        self.call_within(request, CALL_DEADLINE).await
    }

    async fn call_within(
        &self,
        request: &Request,
        deadline: Duration,
    ) -> Result<Response, AgentError> {
        tokio::time::timeout(deadline, self.call_tries(request, 8))
            .await
            .map_err(|_| AgentError::Deadline {
                what: request_name(request),
                after: deadline,
            })?
    }

    async fn call_tries(&self, request: &Request, tries: u64) -> Result<Response, AgentError> {
        let mut s = self.open_tries(request, tries).await?;
        match read_frame_async(&mut s).await? {
            Some(f) if f.kind == FrameKind::Message => Ok(f.as_response()?),
            Some(f) => Err(AgentError::Unexpected(format!("a {:?} frame", f.kind))),
            None => Err(AgentError::Closed),
        }
    }

    pub async fn ping(&self) -> Result<Response, AgentError> {
        match self.call(&Request::Ping).await? {
            pong @ Response::Pong { .. } => Ok(pong),
            Response::Error { message } => Err(AgentError::Guest(message)),
            other => Err(AgentError::Unexpected(format!("{other:?}"))),
        }
    }

    /// The vsock handshake alone: `CONNECT`, then `OK` or a reset. For a
    /// caller that polls a booting guest itself, with its own time limit
    /// per try (see `vm::boot::wait_ready`).
    pub async fn handshake(&self) -> Result<UnixStream, AgentError> {
        self.connect().await
    }

    /// One ping on a connection `handshake` opened.
    pub async fn ping_on(mut s: UnixStream) -> Result<Response, AgentError> {
        write_frame_async(&mut s, &Frame::request(&Request::Ping)).await?;
        match read_frame_async(&mut s).await? {
            Some(f) if f.kind == FrameKind::Message => match f.as_response()? {
                pong @ Response::Pong { .. } => Ok(pong),
                Response::Error { message } => Err(AgentError::Guest(message)),
                other => Err(AgentError::Unexpected(format!("{other:?}"))),
            },
            Some(f) => Err(AgentError::Unexpected(format!("a {:?} frame", f.kind))),
            None => Err(AgentError::Closed),
        }
    }

    /// Pings until the agent answers or `timeout` passes.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<Response, AgentError> {
        let start = Instant::now();
        loop {
            match tokio::time::timeout(Duration::from_secs(5), self.ping()).await {
                Ok(Ok(pong)) => return Ok(pong),
                Ok(Err(e)) if start.elapsed() >= timeout => {
                    return Err(AgentError::NotReady {
                        waited: start.elapsed(),
                        last: e.to_string(),
                    });
                }
                Err(_) if start.elapsed() >= timeout => {
                    return Err(AgentError::NotReady {
                        waited: start.elapsed(),
                        last: "ping timed out".into(),
                    });
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Runs `argv` in the guest, calling `on_output(kind, bytes)` as output
    /// arrives (its error ends the call); returns the exit status (128 + N
    /// for a signal).
    pub async fn exec_streaming(
        &self,
        argv: &[String],
        cwd: Option<&str>,
        mut on_output: impl FnMut(FrameKind, &[u8]) -> Result<(), AgentError>,
    ) -> Result<i32, AgentError> {
        let mut s = self.connect().await?;
        let req = Request::Exec {
            argv: argv.to_vec(),
            cwd: cwd.map(Into::into),
            env: vec![],
            stdin: false,
        };
        write_frame_async(&mut s, &Frame::request(&req)).await?;
        loop {
            let Some(f) = read_frame_async(&mut s).await? else {
                return Err(AgentError::Closed);
            };
            match f.kind {
                FrameKind::Stdout | FrameKind::Stderr => on_output(f.kind, &f.payload)?,
                FrameKind::Message => {
                    let r = f.as_response()?;
                    return match (r.exit_status(), r) {
                        (Some(status), _) => Ok(status),
                        (None, Response::Error { message }) => Err(AgentError::Guest(message)),
                        (None, other) => Err(AgentError::Unexpected(format!("{other:?}"))),
                    };
                }
                FrameKind::Stdin => return Err(AgentError::Unexpected("a stdin frame".into())),
            }
        }
    }

    /// Starts `argv` with stdin from the caller and returns the connection,
    /// for a relay: the caller writes stdin frames and reads the output
    /// frames and the final `Exit` itself.
    pub async fn open_exec(
        &self,
        argv: Vec<String>,
        cwd: Option<String>,
        env: Vec<(String, String)>,
    ) -> Result<UnixStream, AgentError> {
        self.open_with(&Request::Exec {
            argv,
            cwd,
            env,
            stdin: true,
        })
        .await
    }

    /// Runs `argv` with `input` streamed to its stdin; collects its output.
    pub async fn exec_input(
        &self,
        argv: &[&str],
        cwd: Option<&str>,
        env: &[(&str, &str)],
        mut input: impl tokio::io::AsyncRead + Unpin,
    ) -> Result<ExecOutput, AgentError> {
        let mut s = self
            .open_exec(
                argv.iter().map(|a| a.to_string()).collect(),
                cwd.map(Into::into),
                env.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
            .await?;
        let (mut rd, mut wr) = s.split();
        let feed = async {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = tokio::io::AsyncReadExt::read(&mut input, &mut buf).await?;
                write_frame_async(&mut wr, &Frame::data(FrameKind::Stdin, &buf[..n])).await?;
                if n == 0 {
                    return Ok::<(), AgentError>(());
                }
            }
        };
        let collect = async {
            let mut out = ExecOutput::default();
            loop {
                let Some(f) = read_frame_async(&mut rd).await? else {
                    return Err(AgentError::Closed);
                };
                match f.kind {
                    FrameKind::Stdout => collect(&mut out.stdout, &f.payload, "output")?,
                    FrameKind::Stderr => collect(&mut out.stderr, &f.payload, "error output")?,
                    FrameKind::Message => {
                        let r = f.as_response()?;
                        return match (r.exit_status(), r) {
                            (Some(status), _) => Ok(ExecOutput { status, ..out }),
                            (None, Response::Error { message }) => Err(AgentError::Guest(message)),
                            (None, other) => Err(AgentError::Unexpected(format!("{other:?}"))),
                        };
                    }
                    FrameKind::Stdin => return Err(AgentError::Unexpected("a stdin frame".into())),
                }
            }
        };
        // The program may finish (or fail) before reading all its input:
        // its end, not the input's, ends the call.
        tokio::pin!(feed, collect);
        let mut fed = None;
        let out = loop {
            tokio::select! {
                r = &mut feed, if fed.is_none() => fed = Some(r),
                out = &mut collect => break out?,
            }
        };
        if out.status == 0
            && let Some(Err(e)) = fed
        {
            return Err(e);
        }
        Ok(out)
    }

    /// Runs `argv` and collects its output (each stream up to OUTPUT_CAP).
    pub async fn exec(&self, argv: &[&str], cwd: Option<&str>) -> Result<ExecOutput, AgentError> {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let mut out = ExecOutput::default();
        let status = self
            .exec_streaming(&argv, cwd, |kind, data| match kind {
                FrameKind::Stderr => collect(&mut out.stderr, data, "error output"),
                _ => collect(&mut out.stdout, data, "output"),
            })
            .await?;
        out.status = status;
        Ok(out)
    }

    /// Runs `argv` with no input, its stdout streamed into `out` (up to
    /// `cap` bytes: a result too large for memory, like an export bundle),
    /// its stderr collected; the status and stderr.
    pub async fn exec_to(
        &self,
        argv: &[&str],
        env: &[(&str, &str)],
        out: &mut (impl tokio::io::AsyncWrite + Unpin),
        cap: u64,
    ) -> Result<(i32, Vec<u8>), AgentError> {
        let mut s = self
            .open_exec(
                argv.iter().map(|a| a.to_string()).collect(),
                None,
                env.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
            .await?;
        write_frame_async(&mut s, &Frame::data(FrameKind::Stdin, b"")).await?;
        let (mut written, mut stderr) = (0u64, Vec::new());
        loop {
            let Some(f) = read_frame_async(&mut s).await? else {
                return Err(AgentError::Closed);
            };
            match f.kind {
                FrameKind::Stdout => {
                    written += f.payload.len() as u64;
                    if written > cap {
                        return Err(AgentError::OutputTooLarge {
                            what: "output",
                            cap,
                        });
                    }
                    out.write_all(&f.payload).await?;
                }
                FrameKind::Stderr => collect(&mut stderr, &f.payload, "error output")?,
                FrameKind::Message => {
                    out.flush().await?;
                    let r = f.as_response()?;
                    return match (r.exit_status(), r) {
                        (Some(status), _) => Ok((status, stderr)),
                        (None, Response::Error { message }) => Err(AgentError::Guest(message)),
                        (None, other) => Err(AgentError::Unexpected(format!("{other:?}"))),
                    };
                }
                FrameKind::Stdin => return Err(AgentError::Unexpected("a stdin frame".into())),
            }
        }
    }

    /// Streams a tar from `tar` into the guest directory `dest`: the agent
    /// unpacks while it arrives (nothing is staged on either side).
    pub async fn put_tar(
        &self,
        dest: &str,
        mut tar: impl tokio::io::AsyncRead + Unpin,
    ) -> Result<(), AgentError> {
        let mut s = self
            .open_with(&Request::PutTar { dest: dest.into() })
            .await?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut tar, &mut buf).await?;
            write_frame_async(&mut s, &Frame::data(FrameKind::Stdin, &buf[..n])).await?;
            if n == 0 {
                break;
            }
        }
        match read_frame_async(&mut s).await? {
            Some(f) if f.kind == FrameKind::Message => match f.as_response()? {
                Response::Ok => Ok(()),
                Response::Error { message } => Err(AgentError::Guest(message)),
                other => Err(AgentError::Unexpected(format!("{other:?}"))),
            },
            Some(f) => Err(AgentError::Unexpected(format!("a {:?} frame", f.kind))),
            None => Err(AgentError::Closed),
        }
    }

    /// Streams the guest's `path` (a directory's contents or one file) as a
    /// tar into `out`.
    pub async fn get_tar(
        &self,
        path: &str,
        mut out: impl tokio::io::AsyncWrite + Unpin,
    ) -> Result<(), AgentError> {
        let mut s = self
            .open_with(&Request::GetTar { path: path.into() })
            .await?;
        loop {
            let Some(f) = read_frame_async(&mut s).await? else {
                return Err(AgentError::Closed);
            };
            match f.kind {
                FrameKind::Stdout => out.write_all(&f.payload).await?,
                FrameKind::Message => {
                    return match f.as_response()? {
                        Response::Ok => Ok(out.flush().await?),
                        Response::Error { message } => Err(AgentError::Guest(message)),
                        other => Err(AgentError::Unexpected(format!("{other:?}"))),
                    };
                }
                k => return Err(AgentError::Unexpected(format!("a {k:?} frame"))),
            }
        }
    }

    pub async fn ports(&self) -> Result<Vec<banger_agent_proto::ListeningPort>, AgentError> {
        match self.call(&Request::Ports).await? {
            Response::Ports { ports } => Ok(ports),
            other => Err(AgentError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Asks the guest to stop; the VM then ends (the VMMs treat a guest
    /// reboot as the end of the VM).
    pub async fn shutdown(&self) -> Result<(), AgentError> {
        match self.call(&Request::Shutdown).await? {
            Response::Ok => Ok(()),
            other => Err(AgentError::Unexpected(format!("{other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    /// A guest agent that reads each request, then does `behave` with the
    /// connection.
    fn hostile_agent<F, Fut>(dir: &Path, behave: F) -> AgentClient
    where
        F: Fn(UnixStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let sock = dir.join("agent.sock");
        let l = UnixListener::bind(&sock).unwrap();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                let _ = read_frame_async(&mut c).await;
                tokio::spawn(behave(c));
            }
        });
        AgentClient::unix(&sock)
    }

    #[tokio::test(start_paused = true)]
    async fn a_guest_that_never_answers_meets_the_deadline() {
        let d = tempfile::tempdir().unwrap();
        let agent = hostile_agent(d.path(), |c| async move {
            // Holds the connection open, says nothing.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(c);
        });
        let e = agent.request(&Request::SessionList).await.unwrap_err();
        assert!(
            matches!(e, AgentError::Deadline { after, .. } if after == CALL_DEADLINE),
            "{e}"
        );
        assert!(e.to_string().contains("`SessionList`"), "{e}");
        let e = agent.ports().await.unwrap_err();
        assert!(matches!(e, AgentError::Deadline { .. }), "{e}");
    }

    #[tokio::test]
    async fn a_guest_that_streams_forever_is_cut_off_at_the_cap() {
        let d = tempfile::tempdir().unwrap();
        let agent = hostile_agent(d.path(), |mut c| async move {
            let chunk = vec![b'x'; 64 * 1024];
            while write_frame_async(&mut c, &Frame::data(FrameKind::Stdout, &chunk))
                .await
                .is_ok()
            {}
        });
        let e = agent.exec(&["yes"], None).await.unwrap_err();
        assert!(
            matches!(
                e,
                AgentError::OutputTooLarge {
                    cap: OUTPUT_CAP,
                    ..
                }
            ),
            "{e}"
        );
        let e = agent
            .exec_input(&["yes"], None, &[], tokio::io::empty())
            .await
            .unwrap_err();
        assert!(matches!(e, AgentError::OutputTooLarge { .. }), "{e}");
        let mut sink = tokio::io::sink();
        let e = agent
            .exec_to(&["yes"], &[], &mut sink, 1 << 20)
            .await
            .unwrap_err();
        assert!(
            matches!(e, AgentError::OutputTooLarge { cap, .. } if cap == 1 << 20),
            "{e}"
        );
    }
}

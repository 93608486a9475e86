//! The agent binary serving on a Unix socket, driven over the protocol.

use banger_agent_proto::{Frame, FrameKind, Request, Response, read_frame, write_frame};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

struct Agent {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    fn start() -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_banger-vsock-agent"))
            .args(["serve", "--unix"])
            .arg(&socket)
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if UnixStream::connect(&socket).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Agent {
            child,
            socket,
            _dir: dir,
        }
    }

    fn request(&self, r: &Request) -> UnixStream {
        let mut s = UnixStream::connect(&self.socket).unwrap();
        write_frame(&mut s, &Frame::request(r)).unwrap();
        s
    }

    /// Runs argv, feeding `input` (if any); returns (stdout, stderr, final response).
    fn exec(
        &self,
        argv: &[&str],
        cwd: Option<&str>,
        input: Option<&[u8]>,
    ) -> (String, String, Response) {
        let req = Request::Exec {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            cwd: cwd.map(Into::into),
            env: vec![("BANGER_TEST".into(), "yes".into())],
            stdin: input.is_some(),
        };
        let mut s = self.request(&req);
        if let Some(data) = input {
            write_frame(&mut s, &Frame::data(FrameKind::Stdin, data)).unwrap();
            write_frame(&mut s, &Frame::data(FrameKind::Stdin, b"")).unwrap();
        }
        let (mut out, mut err) = (Vec::new(), Vec::new());
        loop {
            let f = read_frame(&mut s)
                .unwrap()
                .expect("stream ended before the exit status");
            match f.kind {
                FrameKind::Stdout => out.extend(f.payload),
                FrameKind::Stderr => err.extend(f.payload),
                FrameKind::Message => {
                    return (
                        String::from_utf8(out).unwrap(),
                        String::from_utf8(err).unwrap(),
                        f.as_response().unwrap(),
                    );
                }
                FrameKind::Stdin => panic!("agent sent stdin"),
            }
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ping_answers_with_versions() {
    let a = Agent::start();
    let mut s = a.request(&Request::Ping);
    match read_frame(&mut s).unwrap().unwrap().as_response().unwrap() {
        Response::Pong {
            agent_version,
            protocol,
            ..
        } => {
            assert_eq!(agent_version, env!("CARGO_PKG_VERSION"));
            assert_eq!(protocol, banger_agent_proto::PROTOCOL_VERSION);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn exec_keeps_streams_apart_and_reports_the_exit_code() {
    let a = Agent::start();
    let (out, err, end) = a.exec(
        &[
            "sh",
            "-c",
            "echo out; echo err >&2; echo $BANGER_TEST; pwd; exit 3",
        ],
        Some("/tmp"),
        None,
    );
    assert_eq!(out, "out\nyes\n/tmp\n");
    assert_eq!(err, "err\n");
    assert_eq!(
        end,
        Response::Exit {
            code: Some(3),
            signal: None
        }
    );
}

#[test]
fn exec_feeds_stdin() {
    let a = Agent::start();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (out, _, end) = a.exec(&["sh", "-c", "wc -c"], None, Some(&big));
    assert_eq!(out.trim(), "300000");
    assert_eq!(end.exit_status(), Some(0));
}

#[test]
fn a_signal_is_reported_as_such() {
    let a = Agent::start();
    let (_, _, end) = a.exec(&["sh", "-c", "kill -9 $$"], None, None);
    assert_eq!(
        end,
        Response::Exit {
            code: None,
            signal: Some(9)
        }
    );
    assert_eq!(end.exit_status(), Some(137));
}

#[test]
fn missing_program_and_directory_are_named() {
    let a = Agent::start();
    let (_, _, end) = a.exec(&["no-such-program-banger"], None, None);
    assert!(
        matches!(&end, Response::Error { message } if message.starts_with("cannot run no-such-program-banger")),
        "{end:?}"
    );
    let (_, _, end) = a.exec(&["true"], Some("/no/such/dir"), None);
    assert_eq!(
        end,
        Response::Error {
            message: "working directory /no/such/dir does not exist".into()
        }
    );
}

#[test]
fn garbage_gets_an_error_not_a_crash() {
    let a = Agent::start();
    let mut s = UnixStream::connect(&a.socket).unwrap();
    write_frame(
        &mut s,
        &Frame {
            kind: FrameKind::Message,
            payload: b"{\"type\":\"reboot_everything\"}".to_vec(),
        },
    )
    .unwrap();
    assert!(matches!(
        read_frame(&mut s).unwrap().unwrap().as_response().unwrap(),
        Response::Error { .. }
    ));
    // Still serving.
    let mut s = a.request(&Request::Ping);
    assert!(matches!(
        read_frame(&mut s).unwrap().unwrap().as_response().unwrap(),
        Response::Pong { .. }
    ));
}

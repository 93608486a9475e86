//! The agent binary serving on a Unix socket, driven over the protocol.

use banger_agent_proto::{
    Frame, FrameKind, LogStream, Request, Response, StdinMode, read_frame, write_frame,
};
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
            .env("BANGER_AGENT_STATE", dir.path().join("sessions"))
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

impl Agent {
    /// Sends `tar` for unpacking into `dest`; returns the answer.
    fn put_tar(&self, dest: &std::path::Path, tar: &[u8]) -> Response {
        let mut s = self.request(&Request::PutTar {
            dest: dest.display().to_string(),
        });
        for chunk in tar.chunks(7000) {
            write_frame(&mut s, &Frame::data(FrameKind::Stdin, chunk)).unwrap();
        }
        write_frame(&mut s, &Frame::data(FrameKind::Stdin, b"")).unwrap();
        read_frame(&mut s).unwrap().unwrap().as_response().unwrap()
    }
}

/// A header as real archivers write it (owner included).
fn header() -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn sample_tree() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, mode: u32, data: &[u8]| {
        let mut h = header();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data).unwrap();
    };
    add("dir with space/ünïcode.txt", 0o644, b"hello\n");
    add("run.sh", 0o755, b"#!/bin/sh\necho hi\n");
    add("empty", 0o600, b"");
    let mut h = header();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "link", "run.sh").unwrap();
    b.into_inner().unwrap()
}

#[test]
fn put_tar_unpacks_a_tree_and_get_tar_returns_it() {
    use std::os::unix::fs::PermissionsExt;
    let agent = Agent::start();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("new/dest");
    assert_eq!(agent.put_tar(&dest, &sample_tree()), Response::Ok);
    assert_eq!(
        std::fs::read_to_string(dest.join("dir with space/ünïcode.txt")).unwrap(),
        "hello\n"
    );
    let mode = |p: &str| {
        std::fs::metadata(dest.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("run.sh"), 0o755);
    assert_eq!(mode("empty"), 0o600);
    assert_eq!(
        std::fs::read_link(dest.join("link")).unwrap(),
        std::path::Path::new("run.sh")
    );

    let mut s = agent.request(&Request::GetTar {
        path: dest.display().to_string(),
    });
    let mut bytes = Vec::new();
    let answer = loop {
        let f = read_frame(&mut s).unwrap().unwrap();
        match f.kind {
            FrameKind::Stdout => bytes.extend(f.payload),
            _ => break f.as_response().unwrap(),
        }
    };
    assert_eq!(answer, Response::Ok);
    let mut names: Vec<(String, Option<String>)> = tar::Archive::new(bytes.as_slice())
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().display().to_string(),
                e.link_name().unwrap().map(|l| l.display().to_string()),
            )
        })
        .filter(|(n, _)| n != "./" && n != ".")
        .collect();
    names.sort();
    assert!(
        names.contains(&("link".into(), Some("run.sh".into()))),
        "{names:?}"
    );
    assert!(
        names.iter().any(|(n, _)| n == "dir with space/ünïcode.txt"),
        "{names:?}"
    );
}

#[test]
fn put_tar_never_writes_outside_its_directory() {
    let agent = Agent::start();
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();

    // A name climbing out with `..` (written raw: tar's builder refuses it).
    let mut b = tar::Builder::new(Vec::new());
    let mut h = header();
    h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"../outside/ev");
    h.set_size(4);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append(&h, &b"evil"[..]).unwrap();
    let r = agent.put_tar(&dir.path().join("dest"), &b.into_inner().unwrap());
    assert!(matches!(r, Response::Error { .. }), "{r:?}");
    assert!(!outside.join("ev").exists());

    // A symlink out of the directory, then a file through it.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = header();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "out", &outside).unwrap();
    let mut h = header();
    h.set_size(4);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "out/pwned", &b"evil"[..]).unwrap();
    let r = agent.put_tar(&dir.path().join("dest2"), &b.into_inner().unwrap());
    assert!(
        matches!(&r, Response::Error { message } if message.contains("out/pwned")),
        "{r:?}"
    );
    assert!(!outside.join("pwned").exists());
}

#[test]
fn get_tar_of_a_missing_path_is_an_error() {
    let agent = Agent::start();
    let mut s = agent.request(&Request::GetTar {
        path: "/nonexistent/banger".into(),
    });
    let r = read_frame(&mut s).unwrap().unwrap().as_response().unwrap();
    assert!(
        matches!(&r, Response::Error { message } if message.contains("/nonexistent/banger")),
        "{r:?}"
    );
}

impl Agent {
    fn call(&self, r: &Request) -> Response {
        let mut s = self.request(r);
        read_frame(&mut s).unwrap().unwrap().as_response().unwrap()
    }

    /// (stdout, stderr, final answer) of a SessionLogs request.
    fn logs(
        &self,
        name: &str,
        stream: Option<LogStream>,
        tail: Option<u64>,
        follow: bool,
    ) -> (String, String, Response) {
        let mut s = self.request(&Request::SessionLogs {
            name: name.into(),
            stream,
            tail,
            follow,
        });
        let (mut out, mut err) = (Vec::new(), Vec::new());
        loop {
            let f = read_frame(&mut s).unwrap().unwrap();
            match f.kind {
                FrameKind::Stdout => out.extend(f.payload),
                FrameKind::Stderr => err.extend(f.payload),
                _ => {
                    return (
                        String::from_utf8(out).unwrap(),
                        String::from_utf8(err).unwrap(),
                        f.as_response().unwrap(),
                    );
                }
            }
        }
    }
}

fn start(name: &str, argv: &[&str], cwd: Option<&str>, require: &[&str]) -> Request {
    Request::SessionStart {
        name: name.into(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        cwd: cwd.map(Into::into),
        env: vec![],
        stdin_mode: StdinMode::Detached,
        require: require.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn sessions_run_log_and_stop() {
    let agent = Agent::start();
    let r = agent.call(&start(
        "both",
        &[
            "sh",
            "-c",
            "for i in 1 2 3; do echo out$i; echo err$i >&2; done",
        ],
        Some("/tmp"),
        &["sh"],
    ));
    assert!(
        matches!(&r, Response::Session { session } if matches!(session.state.as_str(), "running" | "exited")),
        "{r:?}"
    );
    // Follow until it ends: everything, streams apart.
    let (out, err, end) = agent.logs("both", None, None, true);
    assert_eq!(
        (out.as_str(), err.as_str(), end),
        ("out1\nout2\nout3\n", "err1\nerr2\nerr3\n", Response::Ok)
    );
    let (out, err, _) = agent.logs("both", Some(LogStream::Stderr), Some(1), false);
    assert_eq!((out.as_str(), err.as_str()), ("", "err3\n"));
    let Response::Sessions { sessions } = agent.call(&Request::SessionList) else {
        panic!()
    };
    assert_eq!(sessions[0].exit_code, Some(0));

    // Missing cwd and commands: all named, nothing started.
    let r = agent.call(&start(
        "bad",
        &["no-such-tool"],
        Some("/no/such/dir"),
        &["also-missing", "sh"],
    ));
    assert_eq!(
        r,
        Response::Error {
            message: "session `bad` not started: missing directory /no/such/dir, command no-such-tool, command also-missing".into()
        }
    );
    let Response::Sessions { sessions } = agent.call(&Request::SessionList) else {
        panic!()
    };
    assert_eq!(sessions.len(), 1);
    let r = agent.call(&start("bad name", &["true"], None, &[]));
    assert!(
        matches!(&r, Response::Error { message } if message.contains("not a valid session name")),
        "{r:?}"
    );

    // A process ignoring SIGTERM ends by SIGKILL after the grace period.
    agent.call(&start(
        "stubborn",
        &[
            "sh",
            "-c",
            "trap '' TERM; echo ready; while :; do sleep 1; done",
        ],
        None,
        &[],
    ));
    std::thread::sleep(Duration::from_millis(300));
    let r = agent.call(&Request::SessionStop {
        name: "stubborn".into(),
        grace_ms: 500,
    });
    let Response::Session { session } = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        (
            session.state.as_str(),
            session.ended_by.as_deref(),
            session.exit_signal
        ),
        ("exited", Some("SIGKILL"), Some(9))
    );
    // A polite one ends by SIGTERM.
    agent.call(&start("polite", &["sleep", "100"], None, &[]));
    let Response::Session { session } = agent.call(&Request::SessionStop {
        name: "polite".into(),
        grace_ms: 5000,
    }) else {
        panic!()
    };
    assert_eq!(
        (session.ended_by.as_deref(), session.exit_signal),
        (Some("SIGTERM"), Some(15))
    );
    // A running name is taken; an ended one may be reused.
    agent.call(&start("busy", &["sleep", "100"], None, &[]));
    let r = agent.call(&start("busy", &["true"], None, &[]));
    assert!(
        matches!(&r, Response::Error { message } if message.contains("is running")),
        "{r:?}"
    );
    assert_eq!(
        agent.call(&Request::SessionSignal {
            name: "busy".into(),
            signal: 9
        }),
        Response::Ok
    );
}

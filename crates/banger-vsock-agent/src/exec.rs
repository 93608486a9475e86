//! `Exec`: run a program, stream its stdout and stderr as separate frames
//! while they are produced, feed it stdin frames, and report how it ended.

use banger_agent_proto::{Frame, FrameKind, Response, read_frame, write_frame};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

pub fn run(
    conn: File,
    argv: Vec<String>,
    cwd: Option<String>,
    env: Vec<(String, String)>,
    stdin: bool,
) -> Result<(), String> {
    let out = Arc::new(Mutex::new(conn.try_clone().map_err(|e| e.to_string())?));
    let send = |out: &Arc<Mutex<File>>, frame: Frame| {
        let mut w = out.lock().unwrap_or_else(|p| p.into_inner());
        write_frame(&mut *w, &frame).map_err(|e| e.to_string())
    };
    let Some(program) = argv.first() else {
        return send(
            &out,
            Frame::response(&Response::Error {
                message: "exec: empty command".into(),
            }),
        );
    };
    let mut cmd = Command::new(program);
    cmd.args(&argv[1..])
        .envs(env)
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = &cwd {
        cmd.current_dir(dir);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let message = match &cwd {
                Some(dir) if !std::path::Path::new(dir).is_dir() => {
                    format!("working directory {dir} does not exist")
                }
                _ => format!("cannot run {program}: {e}"),
            };
            return send(&out, Frame::response(&Response::Error { message }));
        }
    };
    let pump = |mut from: Box<dyn Read + Send>, kind: FrameKind, out: Arc<Mutex<File>>| {
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 32 * 1024];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut w = out.lock().unwrap_or_else(|p| p.into_inner());
                if write_frame(&mut *w, &Frame::data(kind, &buf[..n])).is_err() {
                    break;
                }
            }
        })
    };
    let stdout = pump(
        Box::new(child.stdout.take().expect("piped")),
        FrameKind::Stdout,
        out.clone(),
    );
    let stderr = pump(
        Box::new(child.stderr.take().expect("piped")),
        FrameKind::Stderr,
        out.clone(),
    );
    if let Some(mut child_in) = child.stdin.take() {
        let mut conn = conn;
        std::thread::spawn(move || {
            while let Ok(Some(frame)) = read_frame(&mut conn) {
                if frame.kind != FrameKind::Stdin
                    || frame.payload.is_empty()
                    || child_in.write_all(&frame.payload).is_err()
                {
                    break;
                }
            }
            // Dropping child_in closes the program's stdin: EOF.
        });
    }
    let _ = stdout.join();
    let _ = stderr.join();
    let status = child.wait().map_err(|e| e.to_string())?;
    send(
        &out,
        Frame::response(&Response::Exit {
            code: status.code(),
            signal: status.signal(),
        }),
    )
}

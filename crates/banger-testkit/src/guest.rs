//! Commands run in a guest through its agent directly, as the daemon runs
//! them: what a test uses to look inside a VM without banger in the way.

use banger_agent_proto::{AGENT_PORT, Frame, FrameKind, Request, read_frame, write_frame};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Runs a command in the guest through the agent, as the daemon does
/// (retrying a connection reset before the request arrived, as it does).
pub fn guest(vm_dir: &str, argv: &[&str]) -> (i32, String) {
    let req = Request::Exec {
        argv: argv.iter().map(|a| a.to_string()).collect(),
        cwd: None,
        env: vec![],
        stdin: false,
    };
    let mut errors = Vec::new();
    let mut s = (0..8)
        .find_map(|attempt| {
            std::thread::sleep(std::time::Duration::from_millis(100 * attempt));
            let attempt = || -> Result<UnixStream, String> {
                let mut s = UnixStream::connect(Path::new(vm_dir).join("vm.vsock"))
                    .map_err(|e| format!("connect: {e}"))?;
                // One write: vhost-device-vsock drops a connection whose CONNECT line
                // arrives in pieces (see agent/client.rs).
                s.write_all(format!("CONNECT {AGENT_PORT}\n").as_bytes())
                    .map_err(|e| format!("CONNECT: {e}"))?;
                let mut line = String::new();
                BufReader::new(&s)
                    .read_line(&mut line)
                    .map_err(|e| format!("answer: {e}"))?;
                if !line.starts_with("OK ") {
                    return Err(format!("answer {line:?}"));
                }
                write_frame(&mut s, &Frame::request(&req)).map_err(|e| format!("request: {e}"))?;
                Ok(s)
            };
            attempt().map_err(|e| errors.push(e)).ok()
        })
        .unwrap_or_else(|| panic!("the agent accepted no connection: {errors:?}"));
    let mut out = Vec::new();
    loop {
        let f = read_frame(&mut s).unwrap().unwrap();
        match f.kind {
            FrameKind::Message => {
                return (
                    f.as_response().unwrap().exit_status().unwrap(),
                    String::from_utf8(out).unwrap(),
                );
            }
            _ => out.extend(f.payload),
        }
    }
}

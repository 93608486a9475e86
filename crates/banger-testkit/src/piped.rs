//! A banger command talked to by lines while it runs: `vm session attach`,
//! `vm acp`. Lines go to its stdin, its stdout is read a line at a time,
//! and it is killed if the test drops it.

use crate::home::TestHome;
use std::io::{BufRead, Read, Write};

/// `banger ARGS...` running, with a pipe each way.
#[derive(Debug)]
pub struct Piped {
    child: std::process::Child,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl Piped {
    /// Sends `line` and a newline.
    pub fn send(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin still open");
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// The next line of output, without its newline ("" at end of output).
    pub fn line(&mut self) -> String {
        let mut l = String::new();
        self.out.read_line(&mut l).unwrap();
        l.trim_end().to_owned()
    }

    /// The first line of output for which `wanted` holds; panics with
    /// what came before it when the output ends first.
    pub fn line_where(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        let mut seen = Vec::new();
        loop {
            let mut l = String::new();
            if self.out.read_line(&mut l).unwrap() == 0 {
                let err = self.finish().1;
                panic!("output ended before the line wanted; it was {seen:#?}, stderr: {err}");
            }
            let l = l.trim_end().to_owned();
            if wanted(&l) {
                return l;
            }
            seen.push(l);
        }
    }

    /// End of input: waits for it to exit; whether it succeeded and what
    /// it said on stderr.
    pub fn finish(&mut self) -> (bool, String) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut err).unwrap();
        }
        (status.success(), err)
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestHome {
    /// `banger ARGS...` started with all three of its stdio piped.
    pub fn spawn_piped(&self, args: &[&str]) -> std::process::Child {
        self.command(&self.cli())
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Starts `banger ARGS...` with its stdin and stdout piped to the test.
    pub fn piped(&self, args: &[&str]) -> Piped {
        let mut child = self.spawn_piped(args);
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        Piped { child, out }
    }
}

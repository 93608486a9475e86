//! banger in a terminal (`script` gives it a pseudo-terminal): typed input
//! all at once for an interactive shell (`banger_in_terminal`), or watched
//! while it runs (`Terminal`) for a full-screen program that must be seen
//! drawing before keys are sent to it.

use crate::home::{TestHome, banger_bin};
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `banger ARGS...` in a terminal; killed when dropped.
#[derive(Debug)]
pub struct Terminal {
    child: Child,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Terminal {
    /// Waits up to `timeout` for `text` on the screen (escape sequences
    /// left out); whether it came.
    pub fn wait_for(&self, text: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.screen().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        false
    }

    /// Everything printed so far, without escape sequences.
    pub fn screen(&self) -> String {
        strip_escapes(&String::from_utf8_lossy(&self.seen.lock().unwrap()))
    }

    /// Types `keys`.
    pub fn send(&mut self, keys: &[u8]) {
        let stdin = self.child.stdin.as_mut().expect("stdin open");
        stdin.write_all(keys).unwrap();
        stdin.flush().unwrap();
    }

    /// Waits up to `timeout` for the program to end; its exit status.
    pub fn exit_within(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Text without CSI (`ESC [ ... final`), OSC (`ESC ] ... BEL|ESC \`), DCS
/// and other two-byte escapes.
pub fn strip_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
            Some(']' | 'P' | '_') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

impl TestHome {
    /// `script` running `program ARGS...` in a terminal, in this home.
    fn script(&self, program: &std::path::Path, args: &[&str]) -> Command {
        let quoted: Vec<String> = args
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect();
        let cmd = format!("{} {}", program.display(), quoted.join(" "));
        let mut script = self.command(std::path::Path::new("script"));
        script
            .args(["-qec", &cmd, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        script
    }

    /// `banger ARGS...` in a terminal, with `typed` waiting in it until the
    /// program reads: for interactive `vm run`. Its output.
    pub fn banger_in_terminal(&self, args: &[&str], typed: &[u8]) -> String {
        let mut child = self.script(&banger_bin(), args).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(typed).unwrap();
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `banger ARGS...` started in a terminal, its screen read as it draws.
    pub fn terminal(&self, args: &[&str]) -> Terminal {
        // A full-screen program needs to know what it draws on.
        let mut child = self
            .script(&banger_bin(), args)
            .env("TERM", "xterm-256color")
            .spawn()
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut pipe = pipe;
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    seen.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        Terminal { child, seen }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_are_left_out() {
        let s = "\u{1b}[?1016$p\u{1b}]0;OpenCode\u{7}Ask\u{1b}[38;2;1;2;3m any\u{1b}]12;x\u{1b}\\thing\u{1b}=";
        assert_eq!(super::strip_escapes(s), "Ask anything");
    }
}

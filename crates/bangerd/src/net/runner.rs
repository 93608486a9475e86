//! Host commands behind a small trait: the real one runs `ip`, `nft` and
//! `sysctl`, or, when bangerd is not root, banger's network helper through
//! `sudo -n`; the recording one lets tests check the exact commands without
//! touching the host.

use super::NetError;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Mutex;

pub trait Runner: Send + Sync + std::fmt::Debug {
    /// Runs `argv` (a tool from PRIVILEGED_TOOLS) and returns its stdout.
    /// `privileged` commands change the host; the others only read it.
    fn run(&self, privileged: bool, argv: &[&str], stdin: Option<&str>)
    -> Result<String, NetError>;
}

#[derive(Debug)]
pub struct SystemRunner {
    /// `sudo`, when bangerd is not root.
    sudo: Option<std::path::PathBuf>,
}

impl SystemRunner {
    /// Root runs the tools itself; anyone else through `sudo -n`, which
    /// fails at once instead of prompting inside a daemon.
    pub fn new() -> SystemRunner {
        let root = rustix::process::geteuid().as_raw() == 0;
        SystemRunner {
            sudo: (!root).then(|| "sudo".into()),
        }
    }

    /// Privileged commands through this `sudo` program (tests use a fake).
    pub fn with_sudo(sudo: &std::path::Path) -> SystemRunner {
        SystemRunner {
            sudo: Some(sudo.to_owned()),
        }
    }
}

impl Default for SystemRunner {
    fn default() -> Self {
        Self::new()
    }
}

impl Runner for SystemRunner {
    fn run(
        &self,
        privileged: bool,
        argv: &[&str],
        stdin: Option<&str>,
    ) -> Result<String, NetError> {
        let command = argv.join(" ");
        let sudo = self.sudo.as_ref().filter(|_| privileged);
        let mut cmd = if let Some(sudo) = sudo {
            let mut c = Command::new(sudo);
            c.args(["-n", "--"]).args(argv);
            c
        } else {
            let mut c = Command::new(argv[0]);
            c.args(&argv[1..]);
            c
        };
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let spawn_err = |source| NetError::Spawn {
            command: command.clone(),
            source,
        };
        let mut child = cmd.spawn().map_err(spawn_err)?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes()).map_err(spawn_err)?;
        }
        let out = child.wait_with_output().map_err(spawn_err)?;
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        if sudo.is_some() && stderr.starts_with("sudo:") {
            return Err(NetError::Sudo {
                command,
                stderr,
                user: std::env::var("USER").unwrap_or_else(|_| "USER".into()),
                program: argv[0].to_owned(),
            });
        }
        Err(NetError::Command { command, stderr })
    }
}

/// A fake host: records every command and answers reads from a script.
#[derive(Debug, Default)]
pub struct RecordingRunner {
    pub calls: Mutex<Vec<String>>,
    /// (argv prefix, stdout) answers for commands, first match wins;
    /// unmatched commands succeed with empty output.
    pub answers: Mutex<Vec<(String, Result<String, String>)>>,
}

impl RecordingRunner {
    pub fn answer(&self, prefix: &str, out: Result<&str, &str>) {
        self.answers
            .lock()
            .unwrap()
            .push((prefix.into(), out.map(str::to_owned).map_err(str::to_owned)));
    }

    /// Privileged commands as `# cmd`, reads as `$ cmd`.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl Runner for RecordingRunner {
    fn run(
        &self,
        privileged: bool,
        argv: &[&str],
        stdin: Option<&str>,
    ) -> Result<String, NetError> {
        let command = argv.join(" ");
        let mut line = format!("{} {command}", if privileged { "#" } else { "$" });
        if let Some(s) = stdin {
            line.push_str(&format!(" <<{s}"));
        }
        self.calls.lock().unwrap().push(line);
        let answers = self.answers.lock().unwrap();
        match answers
            .iter()
            .find(|(p, _)| command.starts_with(p.as_str()))
        {
            Some((_, Ok(out))) => Ok(out.clone()),
            Some((_, Err(stderr))) => Err(NetError::Command {
                command,
                stderr: stderr.clone(),
            }),
            None => Ok(String::new()),
        }
    }
}

/// Shared runners: a test keeps one handle to read what was recorded.
impl<R: Runner> Runner for std::sync::Arc<R> {
    fn run(
        &self,
        privileged: bool,
        argv: &[&str],
        stdin: Option<&str>,
    ) -> Result<String, NetError> {
        (**self).run(privileged, argv, stdin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_refusing_sudo_is_an_error_that_says_what_to_allow() {
        let dir = tempfile::tempdir().unwrap();
        let sudo = dir.path().join("sudo");
        std::fs::write(
            &sudo,
            "#!/bin/sh\nprintf '%s ' \"$@\" > \"$(dirname \"$0\")/args\"\necho 'sudo: a password is required' >&2\nexit 1\n",
        )
        .unwrap();
        std::fs::set_permissions(&sudo, std::fs::Permissions::from_mode(0o755)).unwrap();
        let r = SystemRunner::with_sudo(&sudo);
        let e = r
            .run(
                true,
                &["/usr/local/lib/banger/banger-net-helper", "teardown", "b0"],
                None,
            )
            .unwrap_err();
        assert!(matches!(e, NetError::Sudo { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("`/usr/local/lib/banger/banger-net-helper teardown b0`")
                && text.contains("a password is required")
                && text.contains("NOPASSWD: /usr/local/lib/banger/banger-net-helper"),
            "{text}"
        );
        let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
        assert_eq!(
            args.trim(),
            "-n -- /usr/local/lib/banger/banger-net-helper teardown b0"
        );
        // Reads never go through sudo.
        assert_eq!(
            r.run(false, &["sysctl", "-n", "kernel.ostype"], None)
                .unwrap()
                .trim(),
            "Linux"
        );
    }
}

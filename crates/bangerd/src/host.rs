//! The parts of the host that `doctor` and VMM selection look at, with
//! injectable roots and PATH so tests can build any host they like in a temporary directory.

use banger_config::Config;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Host {
    /// Directories searched for programs, like PATH.
    pub path: Vec<PathBuf>,
    pub dev_root: PathBuf,
    pub sys_root: PathBuf,
    pub is_root: bool,
    /// banger's privileged network helper, when installed beside bangerd.
    pub net_helper: Option<PathBuf>,
}

impl Host {
    pub fn real(_config: &Config) -> Host {
        Host {
            path: std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect(),
            dev_root: "/dev".into(),
            sys_root: "/sys".into(),
            is_root: rustix::process::geteuid().is_root(),
            net_helper: crate::net::helper::locate(),
        }
    }

    /// A configured path (absolute, or a bare name to search) or the default
    /// name, resolved to an executable file.
    pub fn find(&self, configured: Option<&Path>, default: &str) -> Option<PathBuf> {
        let wanted = configured.unwrap_or(Path::new(default));
        if wanted.is_absolute() {
            return is_executable(wanted).then(|| wanted.to_owned());
        }
        self.path
            .iter()
            .map(|dir| dir.join(wanted))
            .find(|p| is_executable(p))
    }

    /// First non-empty output line of `program arg` (stdout, else stderr).
    pub async fn version(&self, program: &Path, arg: &str) -> Result<String, String> {
        let run = tokio::process::Command::new(program)
            .arg(arg)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = match tokio::time::timeout(Duration::from_secs(5), run).await {
            Err(_) => {
                return Err(format!(
                    "`{} {arg}` did not answer within 5s",
                    program.display()
                ));
            }
            Ok(Err(e)) => return Err(format!("cannot run {}: {e}", program.display())),
            Ok(Ok(out)) => out,
        };
        let first = |b: &[u8]| {
            String::from_utf8_lossy(b)
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_owned)
        };
        first(&out.stdout)
            .or_else(|| first(&out.stderr))
            .ok_or_else(|| {
                format!(
                    "`{} {arg}` printed nothing ({})",
                    program.display(),
                    out.status
                )
            })
    }

    /// Whether `sudo -n true` succeeds, i.e. sudo works without a password.
    /// Whether `sudo -n` lets this user run `program` (`sudo -n -l
    /// PROGRAM`: asks the policy, runs nothing, never prompts).
    pub async fn sudo_works(&self, sudo: &Path, program: &Path) -> bool {
        let run = tokio::process::Command::new(sudo)
            .args(["-n", "-l"])
            .arg(program)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .status();
        matches!(tokio::time::timeout(Duration::from_secs(5), run).await, Ok(Ok(s)) if s.success())
    }
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

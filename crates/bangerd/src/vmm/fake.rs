//! A VMM for unit tests. "Booting" spawns a small sleeping process whose
//! command line names the VM's directory, so process supervision sees it
//! exactly as it sees QEMU or Firecracker, and a task plays the guest agent
//! on the VM's hybrid vsock socket (`CONNECT`, ping, shutdown). Every
//! launch and every request to stop a guest is recorded.

use super::launch::{Launch, Launched, Vmm, VmmError};
use super::{Backend, Chosen, process};
use banger_agent_proto::{Frame, Request, Response, read_frame_async, write_frame_async};
use futures_util::future::BoxFuture;
use std::ffi::OsString;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// How the fake guest behaves once launched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guest {
    /// The agent answers; a shutdown request powers the guest down.
    Healthy,
    /// The VMM runs but nothing in the guest ever answers.
    Silent,
    /// The guest kernel panics at once: the console says so, the VMM exits.
    Panics,
    /// Booted and ready, then hostile: the agent takes every connection
    /// after the first and never answers on it.
    Mute,
}

#[derive(Debug)]
pub struct FakeVmm {
    pub guest: Mutex<Guest>,
    /// Launching fails as a VMM that cannot be started does.
    pub refuse_launch: Mutex<bool>,
    pub launches: Mutex<Vec<Launch>>,
    /// VM directories the backend's own stop was asked for.
    pub shutdown_requests: Mutex<Vec<std::path::PathBuf>>,
}

impl FakeVmm {
    pub fn new(guest: Guest) -> Arc<FakeVmm> {
        Arc::new(FakeVmm {
            guest: Mutex::new(guest),
            refuse_launch: Mutex::new(false),
            launches: Mutex::default(),
            shutdown_requests: Mutex::default(),
        })
    }

    /// As the daemon carries a chosen VMM.
    pub fn chosen(self: &Arc<Self>) -> Chosen {
        Chosen {
            vmm: self.clone(),
            reason: "a fake VMM for tests".into(),
            doubtful: false,
        }
    }

    pub fn set_guest(&self, g: Guest) {
        *self.guest.lock().unwrap() = g;
    }

    fn spawn(dir: &Path, script: &str, log: &Path) -> Result<u32, VmmError> {
        // The directory on the command line is how a VMM is recognised.
        let args: Vec<OsString> = vec!["-c".into(), script.into(), "fake-vmm".into(), dir.into()];
        process::spawn_detached(Path::new("/bin/sh"), &args, log).map_err(|source| {
            VmmError::Spawn {
                what: "fake-vmm",
                source,
            }
        })
    }
}

impl Vmm for FakeVmm {
    fn backend(&self) -> Backend {
        Backend::QemuTcg
    }

    fn launch<'a>(&'a self, l: &'a Launch) -> BoxFuture<'a, Result<Launched, VmmError>> {
        Box::pin(async move {
            self.launches.lock().unwrap().push(l.clone());
            if *self.refuse_launch.lock().unwrap() {
                return Err(VmmError::Spawn {
                    what: "fake-vmm",
                    source: std::io::Error::other("refused by the test"),
                });
            }
            let guest = *self.guest.lock().unwrap();
            let log = l.dir.join("fake-vmm.log");
            if guest == Guest::Panics {
                std::fs::write(&l.console_log, "Kernel panic - not syncing: fake\n").unwrap();
                let pid = Self::spawn(&l.dir, "exit 0", &log)?;
                return Ok(Launched {
                    vmm_pid: pid,
                    helper_pid: None,
                });
            }
            std::fs::write(&l.console_log, "fake guest booting\n").unwrap();
            let pid = Self::spawn(&l.dir, "while sleep 1; do :; done", &log)?;
            if matches!(guest, Guest::Healthy | Guest::Mute) {
                let listener = UnixListener::bind(&l.vsock).unwrap();
                tokio::spawn(agent(listener, pid, l.clone(), guest == Guest::Mute));
                // Listening, it says so, as the real agent does.
                let ready = format!("{}_{}", l.vsock.display(), banger_agent_proto::READY_PORT);
                tokio::spawn(async move {
                    if let Ok(mut s) = UnixStream::connect(ready).await {
                        let _ = tokio::io::AsyncWriteExt::write_all(&mut s, b"ready\n").await;
                    }
                });
            }
            Ok(Launched {
                vmm_pid: pid,
                helper_pid: None,
            })
        })
    }

    fn default_vcpus(&self) -> u32 {
        1
    }

    fn ready_limit(&self) -> Duration {
        Duration::from_secs(2)
    }

    fn request_shutdown<'a>(&'a self, dir: &'a Path) -> BoxFuture<'a, bool> {
        self.shutdown_requests.lock().unwrap().push(dir.to_owned());
        Box::pin(async { false })
    }

    fn failure_cause(&self, dir: &Path) -> Option<String> {
        dir.join("fake-vmm.log")
            .exists()
            .then(|| "the fake VMM gave up".to_owned())
    }
}

/// Where the fake agent records the commands it was asked to run.
pub const FAKE_EXECS: &str = "fake-execs";

/// The guest agent's side of the hybrid vsock socket.
async fn agent(listener: UnixListener, pid: u32, l: Launch, mute: bool) {
    let mut held = Vec::new();
    let mut served = 0;
    while let Ok((mut s, _)) = listener.accept().await {
        served += 1;
        if mute && served > 1 {
            // Connected, and then nothing, for as long as the caller waits.
            held.push(s);
            continue;
        }
        let Some(request) = handshake(&mut s).await else {
            continue;
        };
        let answer = match request {
            Request::Ping => Response::Pong {
                agent_version: "fake".into(),
                protocol: banger_agent_proto::PROTOCOL_VERSION,
                hostname: l.id.clone(),
                uptime_secs: 0,
            },
            Request::Shutdown => Response::Ok,
            // Recorded (argv, and how many bytes came on stdin) in the VM's
            // directory, for tests to read; every command succeeds.
            Request::Exec { argv, stdin, .. } => {
                let mut fed = 0;
                if stdin {
                    while let Ok(Some(f)) = read_frame_async(&mut s).await
                        && !f.payload.is_empty()
                    {
                        fed += f.payload.len();
                    }
                }
                let line = format!("{} <{fed}\n", serde_json::to_string(&argv).unwrap());
                let mut log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(l.dir.join(FAKE_EXECS))
                    .unwrap();
                std::io::Write::write_all(&mut log, line.as_bytes()).unwrap();
                Response::Exit {
                    code: Some(0),
                    signal: None,
                }
            }
            other => Response::Error {
                message: format!("the fake agent does not do {other:?}"),
            },
        };
        let _ = write_frame_async(&mut s, &Frame::response(&answer)).await;
        if answer == Response::Ok {
            // The guest powers down: the console says so, the VMM exits.
            let mut console = std::fs::OpenOptions::new()
                .append(true)
                .open(&l.console_log)
                .unwrap();
            std::io::Write::write_all(&mut console, b"reboot: Power down\n").unwrap();
            process::terminate(pid, &l.dir, Duration::from_secs(2));
            return;
        }
    }
}

async fn handshake(s: &mut UnixStream) -> Option<Request> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while s.read(&mut byte).await.ok()? == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    if !line.starts_with(b"CONNECT ") {
        return None;
    }
    s.write_all(b"OK 1\n").await.ok()?;
    read_frame_async(s).await.ok()??.as_request().ok()
}

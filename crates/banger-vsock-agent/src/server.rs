//! Accepts connections (vsock from the host only, or a Unix socket in
//! tests) and answers one request per connection, each in its own thread.

use banger_agent_proto::{
    Frame, HOST_CID, PROTOCOL_VERSION, Request, Response, read_frame, write_frame,
};
use std::fs::File;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::Instant;

pub enum Listen {
    Vsock(u32),
    Unix(PathBuf),
}

pub fn serve(listen: Listen) -> Result<(), String> {
    let started = Instant::now();
    match listen {
        Listen::Unix(path) => {
            let _ = std::fs::remove_file(&path);
            let listener = UnixListener::bind(&path)
                .map_err(|e| format!("listening on {}: {e}", path.display()))?;
            eprintln!("banger-vsock-agent: listening on {}", path.display());
            for conn in listener.incoming() {
                match conn {
                    Ok(c) => spawn(File::from(OwnedFd::from(c)), started),
                    Err(e) => eprintln!("banger-vsock-agent: accept: {e}"),
                }
            }
            Ok(())
        }
        Listen::Vsock(port) => {
            // Before listening: when bangerd sees the agent, the network is up.
            match crate::net::configure_from_cmdline() {
                Ok(Some(n)) => eprintln!(
                    "banger-vsock-agent: network {}/{} via {}",
                    n.address,
                    n.prefix,
                    n.gateway.map_or("-".into(), |g| g.to_string())
                ),
                Ok(None) => {}
                // A guest without network is still worth reaching over vsock.
                Err(e) => eprintln!("banger-vsock-agent: network: {e}"),
            }
            let listener = vsock_listen(port)?;
            eprintln!("banger-vsock-agent: listening on vsock port {port}");
            std::thread::spawn(announce);
            loop {
                match vsock_accept(&listener) {
                    Ok((conn, cid)) if cid == HOST_CID => spawn(conn, started),
                    // Only the host may drive the agent; other guests may not.
                    Ok((_, cid)) => {
                        eprintln!("banger-vsock-agent: refused connection from cid {cid}")
                    }
                    Err(e) => eprintln!("banger-vsock-agent: accept: {e}"),
                }
            }
        }
    }
}

fn spawn(conn: File, started: Instant) {
    std::thread::spawn(move || {
        if let Err(e) = handle(conn, started) {
            eprintln!("banger-vsock-agent: {e}");
        }
    });
}

fn handle(mut conn: File, started: Instant) -> Result<(), String> {
    let Some(frame) = read_frame(&mut conn).map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let reply = |conn: &mut File, r: Response| {
        write_frame(conn, &Frame::response(&r)).map_err(|e| e.to_string())
    };
    let request = match frame.as_request() {
        Ok(r) => r,
        Err(e) => {
            return reply(
                &mut conn,
                Response::Error {
                    message: e.to_string(),
                },
            );
        }
    };
    match request {
        Request::Ping => reply(
            &mut conn,
            Response::Pong {
                agent_version: env!("CARGO_PKG_VERSION").into(),
                protocol: PROTOCOL_VERSION,
                hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .unwrap_or_default()
                    .trim()
                    .into(),
                uptime_secs: started.elapsed().as_secs(),
            },
        ),
        Request::Exec {
            argv,
            cwd,
            env,
            stdin,
        } => crate::exec::run(conn, argv, cwd, env, stdin),
        Request::SessionStart {
            name,
            argv,
            cwd,
            env,
            stdin_mode,
            require,
        } => {
            let started = crate::sessions::start(crate::sessions::StartRequest {
                name,
                argv,
                cwd,
                env,
                stdin_mode,
                require,
            });
            reply(
                &mut conn,
                match started {
                    Ok(session) => Response::Session { session },
                    Err(message) => Response::Error { message },
                },
            )
        }
        Request::SessionList => reply(
            &mut conn,
            Response::Sessions {
                sessions: crate::sessions::list(),
            },
        ),
        Request::SessionLogs {
            name,
            stream,
            tail,
            follow,
        } => match crate::sessions::logs(&mut conn, &name, stream, tail, follow) {
            Ok(()) => Ok(()),
            Err(message) => reply(&mut conn, Response::Error { message }),
        },
        Request::SessionStop { name, grace_ms } => {
            let r = match crate::sessions::stop(&name, std::time::Duration::from_millis(grace_ms)) {
                Ok(session) => Response::Session { session },
                Err(message) => Response::Error { message },
            };
            reply(&mut conn, r)
        }
        Request::SessionAttach { name, holder } => {
            match crate::sessions::attach(
                conn.try_clone().map_err(|e| e.to_string())?,
                &name,
                &holder,
            ) {
                Ok(()) => Ok(()),
                Err(message) => reply(&mut conn, Response::Error { message }),
            }
        }
        Request::SessionSignal { name, signal } => {
            let r = match crate::sessions::signal(&name, signal) {
                Ok(()) => Response::Ok,
                Err(message) => Response::Error { message },
            };
            reply(&mut conn, r)
        }
        Request::PutTar { dest } => crate::transfer::put(conn, &dest),
        Request::GetTar { path } => crate::transfer::get(conn, &path),
        Request::Ports => reply(
            &mut conn,
            Response::Ports {
                ports: crate::ports::listening("/proc"),
            },
        ),
        Request::Shutdown => {
            reply(&mut conn, Response::Ok)?;
            shutdown();
            Ok(())
        }
    }
}

/// Stops the guest. VMMs run guests so that a reboot ends the VM (QEMU
/// `-no-reboot`, Firecracker exits on reboot), which is what the daemon
/// waits for. Under systemd, OpenRC and runit the services are stopped
/// properly first, by the init's own reboot (OpenRC's or runit's is given
/// a minute); where there is no such init (the agent is pid 1, an init
/// script of the image's own), the kernel reboots at once.
fn shutdown() {
    std::thread::sleep(std::time::Duration::from_millis(100));
    if std::path::Path::new("/run/systemd/system").exists() {
        // systemd takes it from here however long its services take.
        let _ = init_reboot("systemctl", &["reboot"]);
        return;
    }
    let asked = if std::path::Path::new("/run/openrc").exists() || pid1_is("runit") {
        // sysvinit's or runit's reboot: OpenRC's runlevel 6, runit's stage 3.
        init_reboot("/sbin/reboot", &[])
    } else {
        false
    };
    if asked {
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
    // SAFETY: sync() and reboot() take no pointers.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_AUTOBOOT);
    }
}

fn init_reboot(program: &str, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

fn pid1_is(name: &str) -> bool {
    std::fs::read_to_string("/proc/1/comm").is_ok_and(|c| c.trim() == name)
}

/// Tells the host the agent listens: one connection to the host's
/// `READY_PORT`, a line, closed. A host that does not listen (an older
/// banger, a restarted agent) resets it; a few tries, then the host's own
/// polling finds the agent anyway.
fn announce() {
    for attempt in 0..5 {
        match vsock_connect(HOST_CID, banger_agent_proto::READY_PORT) {
            Ok(mut conn) => {
                use std::io::Write;
                let _ = conn.write_all(b"ready\n");
                return;
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(200 << attempt)),
        }
    }
}

fn vsock_connect(cid: u32, port: u32) -> std::io::Result<File> {
    // SAFETY: plain socket(2); the fd is owned right after.
    let fd = unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by socket(2) and is not owned elsewhere.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_vm is plain data; zeroed is a valid value.
    let mut addr: libc::sockaddr_vm = unsafe { std::mem::zeroed() };
    addr.svm_family = libc::AF_VSOCK as libc::sa_family_t;
    addr.svm_port = port;
    addr.svm_cid = cid;
    use std::os::fd::AsRawFd;
    let len = std::mem::size_of::<libc::sockaddr_vm>() as libc::socklen_t;
    // SAFETY: addr is a valid sockaddr_vm of the length given.
    if unsafe { libc::connect(fd.as_raw_fd(), (&raw const addr).cast(), len) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(File::from(fd))
}

fn vsock_listen(port: u32) -> Result<OwnedFd, String> {
    // SAFETY: plain socket(2); the fd is owned right after.
    let fd = unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(format!(
            "vsock socket: {} (is the vsock driver loaded?)",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: fd was just returned by socket(2) and is not owned elsewhere.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_vm is plain data; zeroed is a valid value.
    let mut addr: libc::sockaddr_vm = unsafe { std::mem::zeroed() };
    addr.svm_family = libc::AF_VSOCK as libc::sa_family_t;
    addr.svm_port = port;
    addr.svm_cid = libc::VMADDR_CID_ANY;
    use std::os::fd::AsRawFd;
    let len = std::mem::size_of::<libc::sockaddr_vm>() as libc::socklen_t;
    // SAFETY: addr is a valid sockaddr_vm of the length given.
    if unsafe { libc::bind(fd.as_raw_fd(), (&raw const addr).cast(), len) } != 0 {
        return Err(format!(
            "vsock bind port {port}: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: listen on a bound socket.
    if unsafe { libc::listen(fd.as_raw_fd(), 16) } != 0 {
        return Err(format!("vsock listen: {}", std::io::Error::last_os_error()));
    }
    Ok(fd)
}

fn vsock_accept(listener: &OwnedFd) -> std::io::Result<(File, u32)> {
    use std::os::fd::AsRawFd;
    // SAFETY: zeroed sockaddr_vm is valid; accept fills it up to len.
    let mut addr: libc::sockaddr_vm = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_vm>() as libc::socklen_t;
    // SAFETY: addr/len describe a writable sockaddr_vm.
    let fd = unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            (&raw mut addr).cast(),
            &mut len,
            libc::SOCK_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by accept4 and is owned here.
    Ok((
        File::from(unsafe { OwnedFd::from_raw_fd(fd) }),
        addr.svm_cid,
    ))
}

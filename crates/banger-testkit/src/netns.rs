//! Network namespaces the tests create, so bridges, TAPs, NAT rules and
//! guest addresses never touch the host's own network. Removed on drop
//! (the kernel then deletes every interface and rule inside).

use std::process::Command;

#[derive(Debug)]
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    pub fn new(prefix: &str) -> NetNs {
        let name = format!("{prefix}-{}-{}", std::process::id(), rand_suffix());
        ip(&["netns", "add", &name]);
        let ns = NetNs { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// Moves the calling thread (only it) into this namespace: its sockets
    /// and the processes it starts from now on live there. For a test that
    /// talks to a daemon's TCP listener, as a browser does.
    pub fn enter_this_thread(&self) {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(self.path()).unwrap();
        // SAFETY: setns on a namespace file we hold open; it changes the
        // calling thread's network namespace and touches no memory.
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "setns {}: {}",
            self.path(),
            std::io::Error::last_os_error()
        );
    }

    /// `program ARGS...` inside this namespace.
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.path()))
            .arg("--")
            .arg(program);
        c
    }

    /// `ip ARGS...` inside this namespace; panics on failure.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend(args);
        ip(&all)
    }

    /// Runs a shell command inside the namespace, returning (status, output).
    pub fn sh(&self, script: &str) -> (i32, String) {
        let out = self
            .command(std::path::Path::new("sh"))
            .args(["-c", script])
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }

    /// A TCP service on `port` (all addresses) in this namespace, answering
    /// `open` to every connection, until the returned child is dropped.
    pub fn serve_open(&self, port: u16) -> Service {
        let child = self
            .command(std::path::Path::new("busybox"))
            .args(["nc", "-ll", "-p", &port.to_string(), "-e", "echo", "open"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Service(child)
    }

    /// Interfaces in the namespace.
    pub fn links(&self) -> Vec<String> {
        let out = self.ip(&["-j", "link", "show"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|l| l["ifname"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Connects `self` to a new namespace `upstream` over a veth pair:
    /// self is 10.200.0.1/30 with its default route to upstream's
    /// 10.200.0.2, and upstream has no route back to anything else, so
    /// only masqueraded traffic can get answers.
    pub fn with_upstream(&self) -> NetNs {
        let up = NetNs::new("bgr-up");
        let (a, b) = ("bgr-veth-a", "bgr-veth-b");
        self.ip(&["link", "add", a, "type", "veth", "peer", "name", b]);
        self.ip(&["link", "set", b, "netns", &up.name]);
        self.ip(&["addr", "add", "10.200.0.1/30", "dev", a]);
        self.ip(&["link", "set", a, "up"]);
        self.ip(&["route", "add", "default", "via", "10.200.0.2"]);
        up.ip(&["addr", "add", "10.200.0.2/30", "dev", b]);
        up.ip(&["link", "set", b, "up"]);
        up
    }
}

/// A process serving in a namespace; killed when dropped.
#[derive(Debug)]
pub struct Service(std::process::Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

//! The Firecracker backend: one `firecracker` process per VM, configured
//! through its API socket (machine, boot source, drives, NIC, vsock, logger,
//! metrics), then InstanceStart. Its vsock is the hybrid Unix socket the
//! agent client speaks, so nothing after launch differs from QEMU.

mod api;

use super::Backend;
use super::launch::{Launch, Launched, Vmm, VmmError, wait_for_socket};
use super::process;
pub use api::Api;
use futures_util::future::BoxFuture;
use serde_json::json;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

// Firecracker's files in a VM's directory (see docs/on-disk-layout.md).
pub const FC_API: &str = "firecracker.sock";
pub const FC_LOG: &str = "firecracker.log";
pub const FC_METRICS: &str = "firecracker.metrics";

#[derive(Debug, Clone)]
pub struct Firecracker {
    pub binary: PathBuf,
}

/// `reboot=k`: a guest reboot resets through the keyboard controller, which
/// ends Firecracker (as `-no-reboot` does for QEMU); `panic=1` turns a
/// panic into that too. `pci=off`: Firecracker has only virtio-mmio.
pub fn kernel_cmdline(banger: &str) -> String {
    format!("console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.dumbkbd {banger}")
}

pub fn args(l: &Launch) -> Vec<OsString> {
    vec![
        "--api-sock".into(),
        l.dir.join(FC_API).into(),
        "--id".into(),
        format!("banger-{}", l.id).into(),
    ]
}

/// The API calls that configure a VM, in order, before InstanceStart.
pub fn configuration(l: &Launch) -> Vec<(String, serde_json::Value)> {
    let mut calls = vec![
        (
            "/logger".to_owned(),
            json!({"log_path": l.dir.join(FC_LOG), "level": "Info", "show_level": true, "show_log_origin": false}),
        ),
        (
            "/metrics".into(),
            json!({"metrics_path": l.dir.join(FC_METRICS)}),
        ),
        (
            "/machine-config".into(),
            json!({"vcpu_count": l.vcpus, "mem_size_mib": l.memory_mib, "smt": false}),
        ),
    ];
    let mut boot = json!({"kernel_image_path": l.kernel, "boot_args": kernel_cmdline(&l.cmdline)});
    if let Some(initrd) = &l.initrd {
        boot["initrd_path"] = json!(initrd);
    }
    calls.push(("/boot-source".into(), boot));
    // Neither is "the root device": Firecracker would then add its own
    // root= and reorder the drives; banger's command line names /dev/vda.
    for (id, path) in ["rootfs", "work"].iter().zip(&l.drives) {
        calls.push((
            format!("/drives/{id}"),
            json!({"drive_id": id, "path_on_host": path, "is_root_device": false, "is_read_only": false}),
        ));
    }
    calls.push((
        "/network-interfaces/eth0".into(),
        json!({"iface_id": "eth0", "host_dev_name": l.tap, "guest_mac": l.mac}),
    ));
    calls.push((
        "/vsock".into(),
        json!({"guest_cid": l.guest_cid, "uds_path": l.vsock}),
    ));
    calls
}

impl Vmm for Firecracker {
    fn backend(&self) -> Backend {
        Backend::Firecracker
    }

    fn launch<'a>(&'a self, l: &'a Launch) -> BoxFuture<'a, Result<Launched, VmmError>> {
        Box::pin(self.start(l))
    }

    /// The keyboard controller's Ctrl+Alt+Del, which guests treat as a
    /// reboot (= the end of a Firecracker VM).
    fn request_shutdown<'a>(&'a self, dir: &'a Path) -> BoxFuture<'a, bool> {
        Box::pin(async move { send_ctrl_alt_del(dir).await.is_ok() })
    }

    /// Firecracker's first ERROR line: the cause (later ones are consequences).
    fn failure_cause(&self, dir: &Path) -> Option<String> {
        let log = log_end(dir);
        let line = log.lines().find(|l| l.contains(":ERROR] "))?;
        Some(line.split(":ERROR] ").nth(1)?.trim().to_owned())
    }

    /// Its own log's end, where a KVM failure is told.
    fn failure_log(&self, dir: &Path) -> Option<String> {
        let log = log_end(dir);
        let lines: Vec<&str> = log.lines().collect();
        Some(format!(
            "firecracker.log ended with:\n{}",
            lines[lines.len().saturating_sub(10)..].join("\n")
        ))
    }
}

/// The end of Firecracker's own log: read from the end, as the log may be
/// long (and punched: log_rotation).
fn log_end(dir: &Path) -> String {
    let (bytes, _) = crate::log_rotation::tail(&dir.join(FC_LOG), 256 << 10);
    String::from_utf8_lossy(&bytes)
        .trim_start_matches('\0')
        .to_owned()
}

impl Firecracker {
    async fn start(&self, l: &Launch) -> Result<Launched, VmmError> {
        let socket = l.dir.join(FC_API);
        let _ = std::fs::remove_file(&socket);
        // Its stdout is the guest's serial console; its own log goes to
        // FC_LOG once /logger is set (earlier messages land in the console).
        let pid =
            process::spawn_detached(&self.binary, &args(l), &l.console_log).map_err(|source| {
                VmmError::Spawn {
                    what: "firecracker",
                    source,
                }
            })?;
        wait_for_socket("firecracker", pid, &l.dir, &socket, &l.console_log).await?;
        let api = Api::new(&socket);
        let configured = async {
            for (path, body) in configuration(l) {
                api.put(&path, &body).await?;
            }
            api.put("/actions", &json!({"action_type": "InstanceStart"}))
                .await
        };
        if let Err(e) = configured.await {
            process::terminate(pid, &l.dir, Duration::from_secs(2));
            return Err(e);
        }
        Ok(Launched {
            vmm_pid: pid,
            helper_pid: None,
        })
    }
}

/// The fallback when the agent cannot shut the guest down.
async fn send_ctrl_alt_del(vm_dir: &Path) -> Result<(), VmmError> {
    Api::new(&vm_dir.join(FC_API))
        .put("/actions", &json!({"action_type": "SendCtrlAltDel"}))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch() -> Launch {
        Launch {
            dir: "/vm".into(),
            id: "abc".into(),
            kernel: "/k/vmlinux".into(),
            initrd: Some("/k/initrd.img".into()),
            cmdline: "root=/dev/vda rw ip=172.16.0.2::172.16.0.1:255.255.255.0:a:eth0:off".into(),
            drives: vec!["/vm/rootfs.ext4".into(), "/vm/work.ext4".into()],
            tap: "banger0t0".into(),
            mac: "06:00:ac:10:00:02".into(),
            vcpus: 2,
            memory_mib: 1024,
            guest_cid: 3,
            vsock: "/vm/vm.vsock".into(),
            console_log: "/vm/console.log".into(),
        }
    }

    #[test]
    fn configures_every_device_before_starting() {
        let calls = configuration(&launch());
        let paths: Vec<&str> = calls.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/logger",
                "/metrics",
                "/machine-config",
                "/boot-source",
                "/drives/rootfs",
                "/drives/work",
                "/network-interfaces/eth0",
                "/vsock"
            ]
        );
        let body = |p: &str| calls.iter().find(|(q, _)| q == p).unwrap().1.clone();
        assert_eq!(body("/machine-config")["vcpu_count"], 2);
        assert_eq!(body("/boot-source")["initrd_path"], "/k/initrd.img");
        assert!(
            body("/boot-source")["boot_args"]
                .as_str()
                .unwrap()
                .starts_with("console=ttyS0 reboot=k panic=1 pci=off")
        );
        assert_eq!(body("/drives/work")["path_on_host"], "/vm/work.ext4");
        assert_eq!(
            body("/network-interfaces/eth0")["host_dev_name"],
            "banger0t0"
        );
        assert_eq!(
            body("/vsock"),
            json!({"guest_cid": 3, "uds_path": "/vm/vm.vsock"})
        );
        let a: Vec<String> = args(&launch())
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            a,
            ["--api-sock", "/vm/firecracker.sock", "--id", "banger-abc"]
        );
    }

    #[test]
    fn a_boot_failure_is_told_from_firecrackers_own_log() {
        let dir = tempfile::tempdir().unwrap();
        let fc = Firecracker {
            binary: "/fc".into(),
        };
        assert_eq!(fc.failure_cause(dir.path()), None, "no log, no cause");
        std::fs::write(
            dir.path().join(FC_LOG),
            "[anonymous-instance:main] Running Firecracker\n\
             [banger-x:fc_vcpu 0:ERROR] Received KVM_EXIT_INTERNAL_ERROR signal\n\
             [banger-x:main:ERROR] Vcpu exited with an error\n",
        )
        .unwrap();
        assert_eq!(
            fc.failure_cause(dir.path()).as_deref(),
            Some("Received KVM_EXIT_INTERNAL_ERROR signal"),
            "the first error is the cause"
        );
        let log = fc.failure_log(dir.path()).unwrap();
        assert!(log.starts_with("firecracker.log ended with:\n"), "{log}");
        assert!(log.ends_with("Vcpu exited with an error"), "{log}");
        assert_eq!(fc.backend(), Backend::Firecracker);
    }

    #[tokio::test]
    async fn the_backends_own_stop_is_ctrl_alt_del_through_the_api() {
        use axum::{Json, http::StatusCode, routing::put};
        let dir = tempfile::tempdir().unwrap();
        let fc = Firecracker {
            binary: "/fc".into(),
        };
        assert!(!fc.request_shutdown(dir.path()).await, "no API socket");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let listener = tokio::net::UnixListener::bind(dir.path().join(FC_API)).unwrap();
        let app = axum::Router::new().route(
            "/actions",
            put(move |Json(body): Json<serde_json::Value>| async move {
                tx.send(body).unwrap();
                StatusCode::NO_CONTENT
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        assert!(fc.request_shutdown(dir.path()).await);
        assert_eq!(
            rx.recv().await.unwrap(),
            json!({"action_type": "SendCtrlAltDel"})
        );
    }
}

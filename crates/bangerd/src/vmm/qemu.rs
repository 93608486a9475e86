//! The QEMU backend's command lines: `qemu-system-x86_64 -M microvm` with
//! virtio-mmio devices, plus `vhost-device-vsock`, which gives the guest a
//! vsock whose host side is the same hybrid Unix socket Firecracker has.
//!
//! The TCG settings (PIT/PIC/RTC on, `tsc_early_khz`) are what boots
//! reliably under software emulation (see ../shared/docs/environment.md);
//! without them boots hang now and then at TSC calibration.

use super::Backend;
use super::launch::{Launch, Launched, Vmm, VmmError, wait_for_socket};
use super::process;
use futures_util::future::BoxFuture;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

// QEMU's files in a VM's directory (see docs/on-disk-layout.md).
/// vhost-device-vsock's vhost-user socket, which QEMU connects to.
pub const VHOST_SOCKET: &str = "vhost.sock";
pub const VHOST_LOG: &str = "vhost.log";
/// QEMU's own messages (its serial console goes to the VM's console log).
pub const VMM_LOG: &str = "vmm.log";

/// The QEMU backend: `qemu-system-x86_64` plus its `vhost-device-vsock`.
#[derive(Debug, Clone)]
pub struct Qemu {
    pub qemu: PathBuf,
    pub vhost: PathBuf,
    pub accel: Accel,
}

impl Vmm for Qemu {
    fn backend(&self) -> Backend {
        match self.accel {
            Accel::Kvm => Backend::QemuKvm,
            Accel::Tcg => Backend::QemuTcg,
        }
    }

    fn launch<'a>(&'a self, l: &'a Launch) -> BoxFuture<'a, Result<Launched, VmmError>> {
        Box::pin(self.start(l))
    }

    /// TCG guests are single-CPU by default: SMP under emulation is slower, not faster.
    fn default_vcpus(&self) -> u32 {
        match self.accel {
            Accel::Kvm => 2,
            Accel::Tcg => 1,
        }
    }

    fn ready_limit(&self) -> Duration {
        match self.accel {
            Accel::Kvm => Duration::from_secs(90),
            Accel::Tcg => Duration::from_secs(300),
        }
    }

    /// QEMU's own complaint (`qemu-system-x86_64: ...`), e.g. a TAP it
    /// could not open, from the end of its log.
    fn failure_cause(&self, dir: &Path) -> Option<String> {
        let log = log_end(dir);
        log.lines()
            .find_map(|l| l.strip_prefix("qemu-system-x86_64: "))
            .map(|c| banger_api::text::printable(c.trim()).into_owned())
    }

    fn failure_log(&self, dir: &Path) -> Option<String> {
        let log = log_end(dir);
        let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
        (!lines.is_empty()).then(|| {
            format!(
                "{VMM_LOG} ended with:\n{}",
                banger_api::text::printable(&lines[lines.len().saturating_sub(10)..].join("\n"))
            )
        })
    }
}

/// The end of QEMU's log (read from the end: it is rotated, not small).
fn log_end(dir: &Path) -> String {
    let (bytes, _) = crate::log_rotation::tail(&dir.join(VMM_LOG), 64 << 10);
    String::from_utf8_lossy(&bytes).into_owned()
}

impl Qemu {
    async fn start(&self, l: &Launch) -> Result<Launched, VmmError> {
        let spawn = |what, program: &Path, args: &[OsString], log: &str| {
            process::spawn_detached(program, args, &l.dir.join(log))
                .map_err(|source| VmmError::Spawn { what, source })
        };
        let vhost_sock = l.dir.join(VHOST_SOCKET);
        let log = l.dir.join(VHOST_LOG);
        let mut again = true;
        let helper = loop {
            // A previous run's socket would be taken for this one's.
            let _ = std::fs::remove_file(&vhost_sock);
            let helper = spawn(
                "vhost-device-vsock",
                &self.vhost,
                &vhost_vsock_args(l.guest_cid, &l.id, &vhost_sock, &l.vsock),
                VHOST_LOG,
            )?;
            match wait_for_socket("vhost-device-vsock", helper, &l.dir, &vhost_sock, &log).await {
                Ok(()) => break helper,
                // Gone at once without a word (seen once, on a loaded host,
                // cause unknown): started once more before the VM fails.
                Err(VmmError::NoSocket {
                    waited, log: said, ..
                }) if again
                    && waited < std::time::Duration::from_secs(1)
                    && said.trim().is_empty() =>
                {
                    tracing::warn!(vm = %l.id, "vhost-device-vsock exited at start without output; starting it again");
                    again = false;
                }
                Err(e) => return Err(e),
            }
        };
        let spec = QemuSpec {
            kernel: l.kernel.clone(),
            initrd: l.initrd.clone(),
            cmdline: l.cmdline.clone(),
            drives: l.drives.clone(),
            vhost_vsock_socket: vhost_sock,
            memory_mib: l.memory_mib,
            vcpus: l.vcpus,
            accel: self.accel,
            console_log: l.console_log.clone(),
            net: Some((l.tap.clone(), l.mac.clone())),
        };
        match spawn("qemu-system-x86_64", &self.qemu, &qemu_args(&spec), VMM_LOG) {
            Ok(vmm_pid) => Ok(Launched {
                vmm_pid,
                helper_pid: Some(helper),
            }),
            Err(e) => {
                process::terminate(helper, &l.dir, Duration::from_secs(2));
                Err(e)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

#[derive(Debug, Clone)]
pub struct QemuSpec {
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    /// Kernel command line without the console/reboot basics added here.
    pub cmdline: String,
    /// In order: /dev/vda, /dev/vdb, ...
    pub drives: Vec<PathBuf>,
    /// vhost-user socket of vhost-device-vsock (`--socket`).
    pub vhost_vsock_socket: PathBuf,
    pub memory_mib: u32,
    pub vcpus: u32,
    pub accel: Accel,
    pub console_log: PathBuf,
    /// TAP device and MAC address of the guest NIC.
    pub net: Option<(String, String)>,
}

/// The command line every banger guest boots with: serial console, and a
/// reboot (or panic) ends the VM instead of restarting it.
pub fn kernel_cmdline(spec: &QemuSpec) -> String {
    let mut c = format!("console=ttyS0 reboot=t panic=-1 {}", spec.cmdline);
    if spec.accel == Accel::Tcg {
        // TSC calibration under TCG can stall the boot; give the answer.
        c.push_str(" tsc_early_khz=1000000");
    }
    c
}

pub fn qemu_args(spec: &QemuSpec) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |parts: &[&str]| a.extend(parts.iter().map(OsString::from));
    let mem = format!("{}M", spec.memory_mib);
    push(&["-M", "microvm,pit=on,pic=on,rtc=on,memory-backend=mem"]);
    // vhost-user devices need guest memory the device process can map.
    push(&[
        "-object",
        &format!("memory-backend-memfd,id=mem,size={mem},share=on"),
    ]);
    match spec.accel {
        Accel::Kvm => push(&["-accel", "kvm", "-cpu", "host"]),
        // `max`: every instruction TCG can emulate (SSE4.2, POPCNT, AVX2 on
        // QEMU 7.2). The default qemu64 model lacks what today's prebuilt
        // binaries assume (opencode's and Claude Code's die at their first
        // SSE4.2 instruction).
        Accel::Tcg => push(&["-accel", "tcg", "-cpu", "max"]),
    }
    push(&["-m", &mem, "-smp", &spec.vcpus.to_string()]);
    push(&["-nodefaults", "-no-user-config", "-nographic", "-no-reboot"]);
    // Appended (O_APPEND), so the monitor can rotate the file under QEMU
    // (log_rotation). A comma in an option value is written twice.
    push(&[
        "-chardev",
        &format!(
            "file,id=console,append=on,path={}",
            spec.console_log.display().to_string().replace(',', ",,")
        ),
    ]);
    push(&["-serial", "chardev:console"]);
    push(&["-kernel", &spec.kernel.display().to_string()]);
    if let Some(initrd) = &spec.initrd {
        push(&["-initrd", &initrd.display().to_string()]);
    }
    push(&["-append", &kernel_cmdline(spec)]);
    for (i, drive) in spec.drives.iter().enumerate() {
        push(&[
            "-drive",
            &format!(
                "id=d{i},file={},format=raw,if=none,cache=writeback",
                drive.display()
            ),
        ]);
        push(&["-device", &format!("virtio-blk-device,drive=d{i}")]);
    }
    if let Some((tap, mac)) = &spec.net {
        push(&[
            "-netdev",
            &format!("tap,id=n0,ifname={tap},script=no,downscript=no"),
        ]);
        push(&["-device", &format!("virtio-net-device,netdev=n0,mac={mac}")]);
    }
    push(&[
        "-chardev",
        &format!("socket,id=vsock,path={}", spec.vhost_vsock_socket.display()),
    ]);
    push(&["-device", "vhost-user-vsock-device,chardev=vsock"]);
    a
}

/// `vhost-device-vsock` for one guest: `socket` is what QEMU connects to,
/// `uds` the hybrid socket the daemon's agent client uses. Each VM is its
/// own vsock group: guests never reach each other over vsock (isolation),
/// and VMs of other daemons with the same CID cannot interfere.
pub fn vhost_vsock_args(guest_cid: u32, group: &str, socket: &Path, uds: &Path) -> Vec<OsString> {
    vec![
        "--guest-cid".into(),
        guest_cid.to_string().into(),
        "--groups".into(),
        format!("banger-{group}").into(),
        "--socket".into(),
        socket.into(),
        "--uds-path".into(),
        uds.into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_boot_failure_is_told_from_qemus_own_log() {
        let dir = tempfile::tempdir().unwrap();
        let q = Qemu {
            qemu: "/q".into(),
            vhost: "/v".into(),
            accel: Accel::Tcg,
        };
        assert_eq!(q.failure_cause(dir.path()), None, "no log, no cause");
        assert_eq!(q.failure_log(dir.path()), None);
        std::fs::write(
            dir.path().join(VMM_LOG),
            "qemu-system-x86_64: -netdev tap,id=n0,ifname=b0t0,script=no,downscript=no: could not open /dev/net/tun: Permission denied\n",
        )
        .unwrap();
        assert_eq!(
            q.failure_cause(dir.path()).as_deref(),
            Some(
                "-netdev tap,id=n0,ifname=b0t0,script=no,downscript=no: could not open /dev/net/tun: Permission denied"
            )
        );
        assert!(
            q.failure_log(dir.path())
                .unwrap()
                .starts_with("vmm.log ended with:\nqemu-system-x86_64: -netdev")
        );
    }

    fn spec(accel: Accel) -> QemuSpec {
        QemuSpec {
            kernel: "/k/vmlinux".into(),
            initrd: Some("/k/initrd.img".into()),
            cmdline: "root=/dev/vda rw".into(),
            drives: vec!["/vm/rootfs.ext4".into(), "/vm/work.ext4".into()],
            vhost_vsock_socket: "/vm/vhost.sock".into(),
            memory_mib: 1024,
            vcpus: 2,
            accel,
            console_log: "/vm/console.log".into(),
            net: Some(("bgr-tap0".into(), "06:00:ac:10:00:02".into())),
        }
    }

    fn joined(a: &[OsString]) -> String {
        a.iter()
            .map(|s| s.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn tcg_uses_the_settings_that_boot_reliably() {
        let a = joined(&qemu_args(&spec(Accel::Tcg)));
        assert!(
            a.contains("-M microvm,pit=on,pic=on,rtc=on,memory-backend=mem"),
            "{a}"
        );
        assert!(
            a.contains("memory-backend-memfd,id=mem,size=1024M,share=on"),
            "{a}"
        );
        assert!(a.contains("-accel tcg") && !a.contains("-cpu host"), "{a}");
        assert!(
            a.contains(
                "-append console=ttyS0 reboot=t panic=-1 root=/dev/vda rw tsc_early_khz=1000000"
            ),
            "{a}"
        );
        assert!(
            a.contains("-no-reboot"),
            "a guest reboot must end the VM: {a}"
        );
        assert!(
            a.contains("id=d0,file=/vm/rootfs.ext4") && a.contains("id=d1,file=/vm/work.ext4"),
            "{a}"
        );
        assert!(
            a.contains("-netdev tap,id=n0,ifname=bgr-tap0,script=no,downscript=no"),
            "{a}"
        );
        assert!(a.contains("vhost-user-vsock-device,chardev=vsock"), "{a}");
        assert!(
            a.contains(
                "-chardev file,id=console,append=on,path=/vm/console.log -serial chardev:console"
            ),
            "the console is appended to, so it can be rotated: {a}"
        );
    }

    #[test]
    fn every_vm_is_its_own_vsock_group() {
        let a = joined(&vhost_vsock_args(
            5,
            "abc123",
            Path::new("/vm/vhost.sock"),
            Path::new("/vm/vm.vsock"),
        ));
        assert_eq!(
            a,
            "--guest-cid 5 --groups banger-abc123 --socket /vm/vhost.sock --uds-path /vm/vm.vsock"
        );
    }

    #[test]
    fn kvm_uses_the_host_cpu_and_no_tsc_hint() {
        let a = joined(&qemu_args(&spec(Accel::Kvm)));
        assert!(
            a.contains("-accel kvm -cpu host") && !a.contains("tsc_early_khz"),
            "{a}"
        );
    }
}

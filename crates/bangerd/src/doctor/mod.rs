//! `banger doctor`: can this host run banger, and what would it use?
//!
//! Checks only look; they never change the host. Each is reported as soon
//! as it is done (some run programs), and the report ends with the VMM that
//! `vmm = "auto"` would pick and why.

pub use crate::host::Host;

use crate::vmm::{self, HostVmms, KvmState};
use banger_api::doctor::{Check, CheckStatus, DoctorReport};
use banger_config::{Config, Paths, VmmChoice};
use std::future::Future;
use std::path::Path;

const GIB: u64 = 1 << 30;
/// Below this the data dir cannot hold one image and one VM.
const DISK_FAIL_BELOW: u64 = 2 * GIB;
const DISK_WARN_BELOW: u64 = 10 * GIB;

/// Programs banger runs, with the flag that prints their version, whether
/// banger cannot work without them, and what installs them.
const TOOLS: &[(&str, &str, bool, &str)] = &[
    ("mkfs.ext4", "-V", true, "apt-get install e2fsprogs"),
    ("debugfs", "-V", true, "apt-get install e2fsprogs"),
    ("e2fsck", "-V", true, "apt-get install e2fsprogs"),
    ("ip", "-V", true, "apt-get install iproute2"),
    ("ssh", "-V", true, "apt-get install openssh-client"),
    ("git", "--version", true, "apt-get install git"),
    (
        "nft",
        "--version",
        false,
        "apt-get install nftables (without it guests get no internet access)",
    ),
    (
        "depmod",
        "--version",
        false,
        "apt-get install kmod (kernel import and pull index modules with it)",
    ),
];

pub async fn run<F, Fut>(
    host: &Host,
    config: &Config,
    paths: &Paths,
    agent: Option<&Path>,
    mut report: F,
) -> DoctorReport
where
    F: FnMut(Check) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut checks = Vec::new();
    let mut emit = async |check: Check, checks: &mut Vec<Check>| {
        report(check.clone()).await;
        checks.push(check);
    };

    // The same probe VM boots choose with (vmm/select.rs), so the two agree.
    let host_vmms = HostVmms::probe(host, config);
    emit(kvm_check(&host_vmms.kvm, config.vmm), &mut checks).await;

    let (firecracker, qemu, vhost) = (
        &host_vmms.firecracker,
        &host_vmms.qemu,
        &host_vmms.vhost_vsock,
    );
    for (name, found, key, hint) in [
        (
            "firecracker",
            firecracker,
            "firecracker_bin",
            "install Firecracker (github.com/firecracker-microvm/firecracker releases) on PATH or set firecracker_bin",
        ),
        (
            "qemu-system-x86_64",
            qemu,
            "qemu_bin",
            "apt-get install qemu-system-x86",
        ),
        (
            "vhost-device-vsock",
            vhost,
            "vhost_vsock_bin",
            "cargo install vhost-device-vsock",
        ),
    ] {
        let check = match found {
            Some(path) => tool_found(host, name, path, "--version").await,
            // Whether a missing VMM matters is decided by the `vmm` check below.
            None => Check {
                name: format!("tool:{name}"),
                status: CheckStatus::Warn,
                detail: format!("not found (PATH, or `{key}` in the config)"),
                hint: Some(hint.into()),
            },
        };
        emit(check, &mut checks).await;
    }

    let (vmm_check, auto_vmm) = vmm_check(config.vmm, &host_vmms);
    emit(vmm_check, &mut checks).await;

    for (name, arg, required, install) in TOOLS {
        let check = match host.find(None, name) {
            Some(path) => tool_found(host, name, &path, arg).await,
            None => Check {
                name: format!("tool:{name}"),
                status: if *required {
                    CheckStatus::Fail
                } else {
                    CheckStatus::Warn
                },
                detail: "not found in PATH".into(),
                hint: Some((*install).into()),
            },
        };
        emit(check, &mut checks).await;
    }

    emit(sudo_check(host).await, &mut checks).await;
    emit(tun_check(&host.dev_root), &mut checks).await;
    emit(disk_check(&paths.data_dir), &mut checks).await;
    emit(agent_check(agent), &mut checks).await;
    emit(ssh_key_check(config, paths), &mut checks).await;

    DoctorReport { checks, auto_vmm }
}

fn ok(name: &str, detail: String) -> Check {
    Check {
        name: name.into(),
        status: CheckStatus::Ok,
        detail,
        hint: None,
    }
}

fn problem(name: &str, status: CheckStatus, detail: String, hint: &str) -> Check {
    Check {
        name: name.into(),
        status,
        detail,
        hint: Some(hint.into()),
    }
}

fn kvm_check(kvm: &KvmState, choice: VmmChoice) -> Check {
    // Without KVM banger still works through QEMU's TCG, unless the user
    // insists on Firecracker.
    let severity = if choice == VmmChoice::Firecracker {
        CheckStatus::Fail
    } else {
        CheckStatus::Warn
    };
    match kvm {
        KvmState::Usable(imp) => ok("kvm", format!("/dev/kvm usable ({imp}), can run guests")),
        KvmState::Missing => problem(
            "kvm",
            severity,
            "/dev/kvm does not exist".into(),
            "enable virtualisation in the firmware and load kvm_intel or kvm_amd; until then QEMU runs guests in software (slow)",
        ),
        KvmState::NoAccess(why) => problem(
            "kvm",
            severity,
            format!("no access: {why}"),
            "add your user to the kvm group (usermod -aG kvm $USER) and log in again",
        ),
        KvmState::Broken(why) => problem(
            "kvm",
            severity,
            why.clone(),
            "check the kvm kernel modules; QEMU runs guests in software meanwhile",
        ),
        KvmState::CannotRunGuests(why) => problem(
            "kvm",
            severity,
            format!("/dev/kvm opens, but {why}"),
            "run banger on a host with hardware virtualisation for speed; here QEMU runs guests in software (TCG)",
        ),
    }
}

fn vmm_check(choice: VmmChoice, host: &HostVmms) -> (Check, Option<String>) {
    let auto = vmm::select(VmmChoice::Auto, host)
        .ok()
        .map(|s| s.backend.as_str().to_owned());
    let check = match vmm::select(choice, host) {
        Ok(s) => ok(
            "vmm",
            format!("{} would run guests: {}", s.backend.as_str(), s.reason),
        ),
        Err(e) => problem(
            "vmm",
            CheckStatus::Fail,
            e.to_string(),
            "install qemu-system-x86 and vhost-device-vsock (works everywhere), or Firecracker on a host with KVM",
        ),
    };
    (check, auto)
}

async fn tool_found(host: &Host, name: &str, path: &Path, arg: &str) -> Check {
    let check_name = format!("tool:{name}");
    match host.version(path, arg).await {
        Ok(v) => ok(&check_name, format!("{} ({v})", path.display())),
        Err(why) => problem(
            &check_name,
            CheckStatus::Fail,
            format!("{} is broken: {why}", path.display()),
            "reinstall it, or point the config at a working binary",
        ),
    }
}

async fn sudo_check(host: &Host) -> Check {
    if host.is_root {
        return ok("sudo", "not needed: running as root".into());
    }
    let Some(helper) = host.net_helper.clone() else {
        return problem(
            "sudo",
            CheckStatus::Fail,
            "not root, and banger-net-helper is not installed beside bangerd".into(),
            "reinstall banger (`make install` puts it in <prefix>/lib/banger/)",
        );
    };
    let hint = format!(
        "banger makes bridge, TAPs and NAT through its helper, as root: allow it and nothing else, e.g. `{} ALL=(root) NOPASSWD: {}` in /etc/sudoers.d/banger (see docs/networking.md)",
        std::env::var("USER").unwrap_or_else(|_| "USER".into()),
        helper.display()
    );
    match host.find(None, "sudo") {
        None => problem(
            "sudo",
            CheckStatus::Fail,
            "not root and sudo not found".into(),
            &hint,
        ),
        Some(sudo) if host.sudo_works(&sudo, &helper).await => ok(
            "sudo",
            format!(
                "{} runs {} without a password",
                sudo.display(),
                helper.display()
            ),
        ),
        Some(sudo) => problem(
            "sudo",
            CheckStatus::Fail,
            format!(
                "{} does not let this user run {} without a password (`sudo -n -l` refused)",
                sudo.display(),
                helper.display()
            ),
            &hint,
        ),
    }
}

fn tun_check(dev_root: &Path) -> Check {
    let tun = dev_root.join("net/tun");
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&tun)
    {
        Ok(_) => ok("tun", format!("{} usable", tun.display())),
        // The VMM opens it as this user, even for a TAP this user owns.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => problem(
            "tun",
            CheckStatus::Fail,
            format!("{}: {e}", tun.display()),
            &format!(
                "the VMM opens it as this user: give it Debian's usual mode (as root: chmod 0666 {})",
                tun.display()
            ),
        ),
        Err(e) => problem(
            "tun",
            CheckStatus::Fail,
            format!("{}: {e}", tun.display()),
            "load the tun module (modprobe tun); VMs need TAP devices",
        ),
    }
}

fn disk_check(data_dir: &Path) -> Check {
    // The data dir may not exist yet: measure the filesystem it will live on.
    let existing = data_dir
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    match rustix::fs::statvfs(existing) {
        Err(e) => problem(
            "disk",
            CheckStatus::Warn,
            format!("cannot measure free space at {}: {e}", existing.display()),
            "check the data dir",
        ),
        Ok(st) => {
            let free = st.f_bavail * st.f_frsize;
            let detail = format!(
                "{:.1} GiB free for {}",
                free as f64 / GIB as f64,
                data_dir.display()
            );
            let hint = "images and VM disks live here: free space or set XDG_DATA_HOME elsewhere";
            if free < DISK_FAIL_BELOW {
                problem("disk", CheckStatus::Fail, detail, hint)
            } else if free < DISK_WARN_BELOW {
                problem("disk", CheckStatus::Warn, detail, hint)
            } else {
                ok("disk", detail)
            }
        }
    }
}

fn agent_check(agent: Option<&Path>) -> Check {
    match agent {
        Some(p) if !crate::disk::format::is_static_elf(p).unwrap_or(false) => problem(
            "agent",
            CheckStatus::Warn,
            format!("guest agent at {} is not statically linked", p.display()),
            "guests without glibc and generated initrds need the static build: `make build`",
        ),
        Some(p) => ok("agent", format!("guest agent at {} (static)", p.display())),
        None => problem(
            "agent",
            CheckStatus::Fail,
            "banger-vsock-agent not found beside bangerd or in ../lib/banger/".into(),
            "reinstall banger (make install) so the agent sits in <prefix>/lib/banger/",
        ),
    }
}

fn ssh_key_check(config: &Config, paths: &Paths) -> Check {
    let key = config.ssh_key(paths);
    if key.exists() {
        ok("ssh-key", format!("{}", key.display()))
    } else if config.ssh_key_path.is_some() {
        problem(
            "ssh-key",
            CheckStatus::Fail,
            format!("ssh_key_path {} does not exist", key.display()),
            "create the key or remove ssh_key_path to let banger manage its own",
        )
    } else {
        ok(
            "ssh-key",
            format!("{} (created when the daemon starts)", key.display()),
        )
    }
}

#[cfg(test)]
mod tests;

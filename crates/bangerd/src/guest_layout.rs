//! Where banger's parts live inside a guest, and what they say: the agent,
//! its systemd unit, the per-VM host key unit, the sshd drop-in, the work
//! disk's fstab line and the first-boot sshd install. Named once, for VM
//! injection (`vm/inject.rs`) and image pull (`image/oci/guest.rs`) alike;
//! the agent's own side of the install script comes from banger-agent-proto.

pub use banger_agent_proto::{INSTALL_SSHD, INSTALL_SSHD_LOG};

pub const AGENT_PATH: &str = "/usr/local/lib/banger/banger-vsock-agent";
pub const AGENT_UNIT: &str = "/etc/systemd/system/banger-vsock-agent.service";
pub const AGENT_UNIT_LINK: &str =
    "/etc/systemd/system/multi-user.target.wants/banger-vsock-agent.service";
pub const HOSTKEYS_UNIT: &str = "/etc/systemd/system/banger-ssh-hostkeys.service";
pub const HOSTKEYS_UNIT_LINK: &str =
    "/etc/systemd/system/multi-user.target.wants/banger-ssh-hostkeys.service";
pub const SSHD_DROPIN: &str = "/etc/ssh/sshd_config.d/banger.conf";
/// The work disk (/dev/vdb) is mounted at /root; `nofail` so a guest still
/// boots if it is missing.
pub const FSTAB_LINE: &str = "/dev/vdb /root ext4 defaults,nofail 0 2";

pub const AGENT_UNIT_TEXT: &str = "\
[Unit]
Description=banger guest agent (vsock)
DefaultDependencies=no
# The agent answering is what ready means, and /root (the work disk) must
# be there by then. Ordering only: a missing work disk (nofail) or an image
# without the fstab line still gets an agent.
After=local-fs.target root.mount

[Service]
ExecStart=/usr/local/lib/banger/banger-vsock-agent serve
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
";

/// The agent as an OpenRC service (sysvinit running OpenRC, Alpine): in
/// the default runlevel, after local filesystems (/root), before sshd,
/// making this VM's SSH host keys first.
pub const OPENRC_SCRIPT: &str = "/etc/init.d/banger-vsock-agent";
pub const OPENRC_LINK: &str = "/etc/runlevels/default/banger-vsock-agent";
pub const OPENRC_SCRIPT_TEXT: &str = "\
#!/sbin/openrc-run
# Written by banger: its guest agent (vsock).
description=\"banger guest agent (vsock)\"
command=/usr/local/lib/banger/banger-vsock-agent
command_args=serve
command_background=yes
pidfile=/run/banger-vsock-agent.pid

depend() {
\t# Local filesystems (/root) first: OpenRC's localmount, or the LSB
\t# mountall of a Debian system running OpenRC.
\tuse localmount
\tafter mountall mountall-bootclean
\tbefore ssh sshd
}

start_pre() {
\t# This VM's own SSH host keys (banger removed the image's).
\tif [ ! -e /etc/ssh/ssh_host_ed25519_key ] && command -v ssh-keygen >/dev/null; then
\t\tssh-keygen -A
\tfi
\treturn 0
}
";

/// Where an OpenRC or runit image keeps its services and its default
/// runlevel: (services, runlevel).
pub const OPENRC_SERVICES: (&str, &str) = ("/etc/init.d", "/etc/runlevels/default");
pub const RUNIT_SERVICES: (&str, &str) = ("/etc/sv", RUNIT_DEFAULT);
const RUNIT_DEFAULT: &str = "/etc/runit/runsvdir/default";

/// sshd's service names, Alpine's and Void's first, then Debian's.
const SSHD_SERVICES: [&str; 2] = ["sshd", "ssh"];

/// Every path `sshd_link` asks about, for `(services, runlevel)`.
pub fn sshd_paths((services, runlevel): (&str, &str)) -> Vec<String> {
    SSHD_SERVICES
        .iter()
        .flat_map(|n| [format!("{runlevel}/{n}"), format!("{services}/{n}")])
        .collect()
}

/// The link (path, target) that puts sshd in the default runlevel, when the
/// image has its service there and it is not enabled already: a VM with
/// sshd is ready only once it answers (Alpine's openssh installs disabled).
pub fn sshd_link(
    (services, runlevel): (&str, &str),
    exists: impl Fn(&str) -> bool,
) -> Option<(String, String)> {
    if SSHD_SERVICES
        .iter()
        .any(|n| exists(&format!("{runlevel}/{n}")))
    {
        return None;
    }
    SSHD_SERVICES.iter().find_map(|n| {
        let service = format!("{services}/{n}");
        exists(&service).then(|| (format!("{runlevel}/{n}"), service))
    })
}

/// The agent as a runit service (Debian's runit-init, Void): stage 2 runs
/// services after stage 1 mounted the filesystems.
pub const RUNIT_DIR: &str = "/etc/sv/banger-vsock-agent";
pub const RUNIT_RUN: &str = "/etc/sv/banger-vsock-agent/run";
pub const RUNIT_LINK: &str = "/etc/runit/runsvdir/default/banger-vsock-agent";
pub const RUNIT_RUN_TEXT: &str = "\
#!/bin/sh
# Written by banger: its guest agent (vsock), this VM's SSH host keys first.
# Debian's ssh service takes itself down when it starts before the keys
# exist (its config test fails), so it is brought up again once they do
# (under Debian's name or Void's).
if [ ! -e /etc/ssh/ssh_host_ed25519_key ] && command -v ssh-keygen >/dev/null; then
\tssh-keygen -A
\t(for i in 1 2 3 4 5; do sv up ssh; sv up sshd; sleep 2; done) >/dev/null 2>&1 &
fi
exec /usr/local/lib/banger/banger-vsock-agent serve
";

/// Each VM gets its own SSH host keys: the image's are removed from the
/// clone and new ones made on first boot, before sshd starts.
pub const HOSTKEYS_UNIT_TEXT: &str = "\
[Unit]
Description=banger: generate this VM's SSH host keys
Before=ssh.service sshd.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
";

pub const SSHD_TEXT: &str = "\
# Written by banger: key-only root login for this development VM.
PermitRootLogin yes
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
";

pub const INSTALL_UNIT: &str = "/etc/systemd/system/banger-install-sshd.service";
pub const INSTALL_UNIT_LINK: &str =
    "/etc/systemd/system/multi-user.target.wants/banger-install-sshd.service";

pub const INSTALL_UNIT_TEXT: &str = "\
[Unit]
Description=banger: install openssh-server (the image came without sshd)
ConditionPathExists=!/usr/sbin/sshd
Wants=network-online.target
After=network-online.target banger-vsock-agent.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/lib/banger/install-sshd

[Install]
WantedBy=multi-user.target
";

/// `fstab` with banger's work-disk line added, unless it mounts /dev/vdb
/// already.
pub fn with_work_disk(mut fstab: String) -> String {
    if !fstab
        .lines()
        .any(|l| l.split_whitespace().next() == Some("/dev/vdb"))
    {
        if !fstab.is_empty() && !fstab.ends_with('\n') {
            fstab.push('\n');
        }
        fstab.push_str(FSTAB_LINE);
        fstab.push('\n');
    }
    fstab
}

/// A dev box's opencode service (written by `image build`): where a VM's
/// copy gets the VM's own password.
pub const OPENCODE_UNIT: &str = "/etc/systemd/system/opencode.service";
/// The same service in an OpenRC image (the Alpine flow's, scripts/manual/).
pub const OPENCODE_OPENRC: &str = "/etc/init.d/opencode";
pub const OPENCODE_DROPIN_DIR: &str = "/etc/systemd/system/opencode.service.d";
pub const OPENCODE_DROPIN: &str = "/etc/systemd/system/opencode.service.d/banger-password.conf";
/// `OPENCODE_SERVER_PASSWORD=...`, root-only.
pub const OPENCODE_ENV: &str = "/etc/banger/opencode.env";

/// Without the password file the service does not start (no dash before
/// the path): an opencode that cannot be secured does not serve at all.
pub const OPENCODE_DROPIN_TEXT: &str = "\
# Written by banger: this VM's own opencode password (HTTP basic auth, user
# `opencode`); `banger vm opencode VM` attaches with it from the host.
[Service]
EnvironmentFile=/etc/banger/opencode.env
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sshd_is_linked_only_when_present_and_off() {
        let with = |paths: &'static [&'static str]| move |p: &str| paths.contains(&p);
        assert_eq!(
            sshd_link(OPENRC_SERVICES, with(&["/etc/init.d/sshd"])),
            Some((
                "/etc/runlevels/default/sshd".into(),
                "/etc/init.d/sshd".into()
            ))
        );
        assert_eq!(
            sshd_link(RUNIT_SERVICES, with(&["/etc/sv/ssh"])),
            Some((
                "/etc/runit/runsvdir/default/ssh".into(),
                "/etc/sv/ssh".into()
            ))
        );
        // On already (under either name), or no sshd: nothing.
        assert_eq!(
            sshd_link(
                OPENRC_SERVICES,
                with(&["/etc/init.d/sshd", "/etc/runlevels/default/ssh"])
            ),
            None
        );
        assert_eq!(sshd_link(RUNIT_SERVICES, with(&[])), None);
        assert_eq!(sshd_paths(RUNIT_SERVICES).len(), 4);
    }
}

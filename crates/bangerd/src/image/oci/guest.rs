//! banger's guest parts, written into a pulled image's flattened tree
//! before it becomes ext4 (no debugfs round trips, no mount): the vsock
//! agent and its unit (the agent also applies the guest network from the
//! kernel command line, so no DHCP is needed), the `/dev/vdb` -> `/root`
//! fstab line, banger's sshd settings, and a first-boot unit that installs
//! openssh-server with the guest's own package manager when the image has
//! no sshd. `vm create` injects the agent again into each VM's copy, so a
//! VM always runs the daemon's current agent.
//!
//! Every path is resolved inside the root (a symlink in the image can
//! never send a write outside it), and everything written is recorded as
//! root-owned for the ext4 build.

use super::flatten::{Ownership, resolve_in_root};
use crate::guest_layout::{
    AGENT_PATH, AGENT_UNIT, AGENT_UNIT_LINK, AGENT_UNIT_TEXT, INSTALL_SSHD, INSTALL_UNIT,
    INSTALL_UNIT_LINK, INSTALL_UNIT_TEXT, OPENRC_LINK, OPENRC_SCRIPT, OPENRC_SCRIPT_TEXT,
    RUNIT_DIR, RUNIT_LINK, RUNIT_RUN, RUNIT_RUN_TEXT, SSHD_DROPIN, SSHD_TEXT, with_work_disk,
};

/// The first-boot sshd install as an OpenRC service (after the agent, so
/// the network is up), run in the background: the boot does not wait for a
/// package manager.
const OPENRC_INSTALL: &str = "/etc/init.d/banger-install-sshd";
const OPENRC_INSTALL_LINK: &str = "/etc/runlevels/default/banger-install-sshd";
const OPENRC_INSTALL_TEXT: &str = "\
#!/sbin/openrc-run
# Written by banger at `image pull`: this image had no sshd.
description=\"banger: install and start sshd\"

depend() {
\tafter banger-vsock-agent
}

start() {
\t[ -x /usr/sbin/sshd ] && return 0
\t(/usr/local/lib/banger/install-sshd > /var/log/banger-install-sshd.log 2>&1 &)
\treturn 0
}
";

/// The same as a runit service: once (runit would restart a run script that
/// ends, so it then waits).
const RUNIT_INSTALL_DIR: &str = "/etc/sv/banger-install-sshd";
const RUNIT_INSTALL_RUN: &str = "/etc/sv/banger-install-sshd/run";
const RUNIT_INSTALL_LINK: &str = "/etc/runit/runsvdir/default/banger-install-sshd";
const RUNIT_INSTALL_TEXT: &str = "\
#!/bin/sh
# Written by banger at `image pull`: this image had no sshd.
[ -x /usr/sbin/sshd ] || /usr/local/lib/banger/install-sshd > /var/log/banger-install-sshd.log 2>&1
exec tail -f /dev/null
";
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// POSIX sh, so it runs on any distribution; retried because the guest's
/// network may come up a moment after the unit starts.
const INSTALL_SCRIPT: &str = r#"#!/bin/sh
# Written by banger at `image pull`: this image had no sshd. Installs
# openssh-server with the guest's own package manager, then starts it.
set -u
say() { echo "banger-install-sshd: $*"; }
try() {
  n=0
  until "$@"; do
    n=$((n + 1))
    if [ "$n" -ge 5 ]; then say "giving up: $*"; return 1; fi
    say "retrying in 5 s: $*"
    sleep 5
  done
}
[ -x /usr/sbin/sshd ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  try apt-get update -q && try apt-get install -y -q --no-install-recommends openssh-server
elif command -v dnf >/dev/null 2>&1; then
  try dnf install -y openssh-server
elif command -v yum >/dev/null 2>&1; then
  try yum install -y openssh-server
elif command -v apk >/dev/null 2>&1; then
  try apk add --no-cache openssh-server
elif command -v pacman >/dev/null 2>&1; then
  try pacman -Sy --noconfirm openssh
elif command -v xbps-install >/dev/null 2>&1; then
  try xbps-install -Sy openssh
elif command -v zypper >/dev/null 2>&1; then
  try zypper --non-interactive install openssh-server
else
  say "no known package manager (apt-get, dnf, yum, apk, pacman, xbps-install, zypper)"
  exit 1
fi || exit 1
ssh-keygen -A
mkdir -p /run/sshd
if [ -d /run/systemd/system ]; then
  systemctl enable --now ssh.service 2>/dev/null || systemctl enable --now sshd.service
else
  /usr/sbin/sshd
fi
say "sshd installed and started"
"#;

/// What the image's init is, which decides how the agent is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Init {
    Systemd,
    /// OpenRC (Alpine: busybox init running OpenRC; sysvinit running
    /// OpenRC): the agent as an OpenRC service in the default runlevel.
    OpenRc,
    /// runit as init (Void, Debian's runit-init): the agent as a runit
    /// service.
    Runit,
    /// Some other init (a plain SysV init running its own rc, or one banger
    /// does not know): refused, named in the error.
    Other(String),
    /// No `/sbin/init` at all (most container images): the agent becomes it.
    Missing,
    /// `/sbin/init` is busybox and there is no OpenRC to run: a container
    /// image (`alpine`), whose init would start nothing. The agent takes
    /// its place.
    BareBusybox,
}

/// What the image holds, as far as banger cares.
#[derive(Debug)]
pub struct Found {
    pub init: Init,
    pub sshd: bool,
}

pub fn inspect(root: &Path) -> io::Result<Found> {
    let init_path = resolve(root, "/sbin/init")?;
    let init = match std::fs::symlink_metadata(&init_path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Init::Missing,
        Err(e) => return Err(e),
        Ok(m) => {
            let shown = match m.file_type().is_symlink() {
                true => std::fs::read_link(&init_path)?.display().to_string(),
                false => "/sbin/init".into(),
            };
            // The same probes `vm create` reads from a VM's disk.
            let mut present = Vec::new();
            for probe in crate::guest_init::PROBES {
                present.push(std::fs::symlink_metadata(resolve(root, probe)?).is_ok());
            }
            match crate::guest_init::classify(&present) {
                _ if shown.contains("systemd") => Init::Systemd,
                crate::guest_init::Init::OpenRc => Init::OpenRc,
                crate::guest_init::Init::Runit => Init::Runit,
                _ if shown.ends_with("/busybox") => Init::BareBusybox,
                _ => Init::Other(shown),
            }
        }
    };
    let sshd = resolve(root, "/usr/sbin/sshd")?.exists();
    Ok(Found { init, sshd })
}

fn resolve(root: &Path, abs: &str) -> io::Result<PathBuf> {
    let rel = abs.trim_start_matches('/');
    resolve_in_root(root, Path::new(rel), abs).map_err(io::Error::other)
}

struct Writer<'a> {
    root: &'a Path,
    owners: &'a mut Ownership,
}

impl Writer<'_> {
    /// The host path for `abs`, its missing parents made root-owned 0755.
    fn place(&mut self, abs: &str) -> io::Result<PathBuf> {
        let path = resolve(self.root, abs)?;
        let parent = path.parent().expect("inside the root").to_owned();
        let mut missing = Vec::new();
        let mut at = parent.as_path();
        while !at.exists() && at != self.root {
            missing.push(at.to_owned());
            at = at.parent().expect("inside the root");
        }
        for dir in missing.iter().rev() {
            std::fs::create_dir(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
            self.own(dir);
        }
        // Never write through whatever stands there (a symlink could point anywhere).
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path)?,
            Ok(_) => std::fs::remove_file(&path)?,
            Err(_) => {}
        }
        Ok(path)
    }

    fn own(&mut self, path: &Path) {
        if let Ok(rel) = path.strip_prefix(self.root) {
            self.owners.insert(rel.to_owned(), (0, 0));
        }
    }

    fn file(&mut self, abs: &str, content: &[u8], mode: u32) -> io::Result<()> {
        let path = self.place(abs)?;
        std::fs::write(&path, content)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        self.own(&path);
        Ok(())
    }

    /// Links the first of `names` found in `from` into `into` (an init's
    /// enabled services), unless one of them is enabled already.
    /// sshd into the default runlevel, where the image has it and it is off.
    fn enable_sshd(&mut self, dirs: (&str, &str)) -> io::Result<()> {
        let exists =
            |p: &str| resolve(self.root, p).is_ok_and(|p| std::fs::symlink_metadata(p).is_ok());
        match crate::guest_layout::sshd_link(dirs, exists) {
            Some((link, target)) => self.symlink(&link, &target),
            None => Ok(()),
        }
    }

    fn symlink(&mut self, abs: &str, target: &str) -> io::Result<()> {
        let path = self.place(abs)?;
        std::os::unix::fs::symlink(target, &path)?;
        self.own(&path);
        Ok(())
    }

    /// A text file of the image (opened inside it by the kernel, a regular
    /// file of at most 1 MiB: never a link out, a FIFO or /dev/zero).
    fn read(&self, abs: &str) -> io::Result<Option<String>> {
        Ok(crate::beneath::read_capped(self.root, abs, 1 << 20)
            .map_err(io::Error::other)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }
}

/// Writes banger's guest parts into the image at `root`: systemd units in
/// a systemd image; in one without an init, `/sbin/init` linked to the
/// agent, which then runs as pid 1 and starts sshd (or its install) itself.
/// Returns the bytes written, which the image must have room for.
pub fn inject(root: &Path, agent: &Path, owners: &mut Ownership, found: &Found) -> io::Result<u64> {
    let mut w = Writer { root, owners };
    let agent_bytes = std::fs::read(agent)?;
    w.file(AGENT_PATH, &agent_bytes, 0o755)?;
    let systemd = found.init == Init::Systemd;
    match &found.init {
        Init::Systemd => {
            w.file(AGENT_UNIT, AGENT_UNIT_TEXT.as_bytes(), 0o644)?;
            w.symlink(AGENT_UNIT_LINK, "../banger-vsock-agent.service")?;
        }
        Init::OpenRc => {
            // As `vm create` writes it into each VM (and will again).
            w.file(OPENRC_SCRIPT, OPENRC_SCRIPT_TEXT.as_bytes(), 0o755)?;
            w.symlink(OPENRC_LINK, OPENRC_SCRIPT)?;
            w.enable_sshd(crate::guest_layout::OPENRC_SERVICES)?;
            if !found.sshd {
                w.file(OPENRC_INSTALL, OPENRC_INSTALL_TEXT.as_bytes(), 0o755)?;
                w.symlink(OPENRC_INSTALL_LINK, OPENRC_INSTALL)?;
            }
        }
        Init::Runit => {
            w.file(RUNIT_RUN, RUNIT_RUN_TEXT.as_bytes(), 0o755)?;
            w.symlink(RUNIT_LINK, RUNIT_DIR)?;
            w.enable_sshd(crate::guest_layout::RUNIT_SERVICES)?;
            if !found.sshd {
                w.file(RUNIT_INSTALL_RUN, RUNIT_INSTALL_TEXT.as_bytes(), 0o755)?;
                w.symlink(RUNIT_INSTALL_LINK, RUNIT_INSTALL_DIR)?;
            }
        }
        Init::Missing | Init::BareBusybox => w.symlink("/sbin/init", AGENT_PATH)?,
        Init::Other(init) => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("the image's init ({init}) is not one banger can start its agent under"),
            ));
        }
    }
    let fstab = with_work_disk(w.read("/etc/fstab")?.unwrap_or_default());
    w.file("/etc/fstab", fstab.as_bytes(), 0o644)?;
    // Also where sshd is still to come: the install then picks it up.
    w.file(SSHD_DROPIN, SSHD_TEXT.as_bytes(), 0o644)?;
    if !found.sshd {
        w.file(INSTALL_SSHD, INSTALL_SCRIPT.as_bytes(), 0o755)?;
        // Without systemd the agent, as pid 1, runs the script itself.
        if systemd {
            w.file(INSTALL_UNIT, INSTALL_UNIT_TEXT.as_bytes(), 0o644)?;
            w.symlink(INSTALL_UNIT_LINK, "../banger-install-sshd.service")?;
        }
    }
    // The agent dominates; the small files take a block or two each.
    Ok(agent_bytes.len() as u64 + (64 << 10))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest_layout::FSTAB_LINE;

    #[test]
    fn parts_land_inside_the_root_even_through_hostile_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        let outside = d.path().join("outside");
        std::fs::create_dir_all(root.join("sbin")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink("/lib/systemd/systemd", root.join("sbin/init")).unwrap();
        // /etc points at an absolute path: inside the root that is <root>/outside.
        std::os::unix::fs::symlink(&outside, root.join("etc")).unwrap();
        std::fs::write(root.join("agent"), b"\x7fELF agent").unwrap();
        let found = inspect(&root).unwrap();
        assert_eq!(found.init, Init::Systemd);
        assert!(!found.sshd);
        let mut owners = Ownership::new();
        inject(&root, &root.join("agent"), &mut owners, &found).unwrap();
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "nothing outside"
        );
        let inside = root.join(outside.strip_prefix("/").unwrap());
        let fstab = std::fs::read_to_string(inside.join("fstab")).unwrap();
        assert_eq!(fstab, format!("{FSTAB_LINE}\n"));
        assert!(
            inside
                .join("systemd/system/banger-install-sshd.service")
                .is_file()
        );
        let agent = root.join(AGENT_PATH.trim_start_matches('/'));
        assert_eq!(std::fs::read(&agent).unwrap(), b"\x7fELF agent");
        assert_eq!(
            std::fs::metadata(&agent).unwrap().permissions().mode() & 0o7777,
            0o755
        );
        assert_eq!(owners.get(Path::new("usr/local/lib/banger")), Some(&(0, 0)));
        assert_eq!(
            owners.get(Path::new("usr/local/lib/banger/banger-vsock-agent")),
            Some(&(0, 0))
        );
    }

    #[test]
    fn without_an_init_the_agent_becomes_it() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::write(root.join("agent"), b"agent").unwrap();
        let found = inspect(&root).unwrap();
        assert_eq!(found.init, Init::Missing);
        let mut owners = Ownership::new();
        inject(&root, &root.join("agent"), &mut owners, &found).unwrap();
        assert_eq!(
            std::fs::read_link(root.join("sbin/init")).unwrap(),
            Path::new(AGENT_PATH)
        );
        assert!(root.join(INSTALL_SSHD.trim_start_matches('/')).is_file());
        assert!(
            !root.join("etc/systemd").exists(),
            "no units without systemd"
        );
        let other = Found {
            init: Init::Other("/bin/busybox".into()),
            sshd: false,
        };
        assert!(inject(&root, &root.join("agent"), &mut owners, &other).is_err());
    }

    #[test]
    fn inits_are_told_apart() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        assert_eq!(inspect(root).unwrap().init, Init::Missing);
        std::fs::create_dir_all(root.join("sbin")).unwrap();
        std::os::unix::fs::symlink("/bin/busybox", root.join("sbin/init")).unwrap();
        assert_eq!(inspect(root).unwrap().init, Init::BareBusybox);
        // Alpine: busybox init running OpenRC.
        std::fs::write(root.join("sbin/openrc"), "").unwrap();
        assert_eq!(inspect(root).unwrap().init, Init::OpenRc);
        std::fs::create_dir_all(root.join("usr/sbin")).unwrap();
        std::fs::write(root.join("usr/sbin/sshd"), "").unwrap();
        assert!(inspect(root).unwrap().sshd);

        // Void: runit as init.
        let void = tempfile::tempdir().unwrap();
        let root = void.path();
        std::fs::create_dir_all(root.join("sbin")).unwrap();
        std::fs::create_dir_all(root.join("etc/runit")).unwrap();
        std::os::unix::fs::symlink("runit-init", root.join("sbin/init")).unwrap();
        std::fs::write(root.join("sbin/runit-init"), "").unwrap();
        std::fs::write(root.join("etc/runit/1"), "").unwrap();
        assert_eq!(inspect(root).unwrap().init, Init::Runit);

        // sysvinit running its own rc: refused, named.
        let sysv = tempfile::tempdir().unwrap();
        let root = sysv.path();
        std::fs::create_dir_all(root.join("sbin")).unwrap();
        std::fs::create_dir_all(root.join("etc/init.d")).unwrap();
        std::fs::write(root.join("sbin/init"), "ELF").unwrap();
        std::fs::write(root.join("etc/inittab"), "").unwrap();
        std::fs::write(root.join("etc/init.d/rc"), "").unwrap();
        assert_eq!(
            inspect(root).unwrap().init,
            Init::Other("/sbin/init".into())
        );
    }

    #[test]
    fn openrc_and_runit_images_get_the_agent_as_a_service_and_sshd_enabled() {
        let d = tempfile::tempdir().unwrap();
        let agent = d.path().join("agent");
        std::fs::write(&agent, b"agent").unwrap();
        let link = |root: &Path, p: &str| {
            std::fs::read_link(root.join(p.trim_start_matches('/'))).unwrap()
        };

        // Alpine-shaped, sshd installed but not enabled.
        let root = d.path().join("alpine");
        std::fs::create_dir_all(root.join("etc/init.d")).unwrap();
        std::fs::write(root.join("etc/init.d/sshd"), "").unwrap();
        let mut owners = Ownership::default();
        let found = Found {
            init: Init::OpenRc,
            sshd: true,
        };
        inject(&root, &agent, &mut owners, &found).unwrap();
        let script = std::fs::read_to_string(root.join("etc/init.d/banger-vsock-agent")).unwrap();
        assert_eq!(script, OPENRC_SCRIPT_TEXT);
        assert_eq!(link(&root, OPENRC_LINK), Path::new(OPENRC_SCRIPT));
        assert_eq!(
            link(&root, "/etc/runlevels/default/sshd"),
            Path::new("/etc/init.d/sshd")
        );
        assert!(!root.join("etc/systemd").exists() && !root.join("sbin/init").exists());
        assert!(!root.join("etc/init.d/banger-install-sshd").exists());

        // The same without sshd: its first-boot install as a service.
        let root = d.path().join("alpine-bare");
        std::fs::create_dir_all(&root).unwrap();
        let found = Found {
            init: Init::OpenRc,
            sshd: false,
        };
        inject(&root, &agent, &mut owners, &found).unwrap();
        assert!(root.join(INSTALL_SSHD.trim_start_matches('/')).is_file());
        assert_eq!(link(&root, OPENRC_INSTALL_LINK), Path::new(OPENRC_INSTALL));
        assert!(
            !root.join("etc/runlevels/default/sshd").exists(),
            "none to enable"
        );

        // Void-shaped, sshd enabled already: left as it is.
        let root = d.path().join("void");
        std::fs::create_dir_all(root.join("etc/sv/sshd")).unwrap();
        std::fs::create_dir_all(root.join("etc/runit/runsvdir/default")).unwrap();
        std::os::unix::fs::symlink("/etc/sv/sshd", root.join("etc/runit/runsvdir/default/sshd"))
            .unwrap();
        let found = Found {
            init: Init::Runit,
            sshd: true,
        };
        inject(&root, &agent, &mut owners, &found).unwrap();
        let run = std::fs::read_to_string(root.join("etc/sv/banger-vsock-agent/run")).unwrap();
        assert_eq!(run, RUNIT_RUN_TEXT);
        assert_eq!(link(&root, RUNIT_LINK), Path::new(RUNIT_DIR));
        assert_eq!(
            link(&root, "/etc/runit/runsvdir/default/sshd"),
            Path::new("/etc/sv/sshd")
        );
        assert!(!root.join("etc/sv/banger-install-sshd").exists());
        // Every part recorded as root's.
        assert!(owners.contains_key(Path::new("etc/sv/banger-vsock-agent/run")));
    }
}

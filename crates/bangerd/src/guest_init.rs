//! Which init an image boots, which decides how banger starts its guest
//! agent there: a systemd unit, an OpenRC service in the default runlevel,
//! a runit service; or the agent is the init itself or is started by the
//! image's own init script (pulled images without an init, test images).
//! A plain SysV init (sysvinit's own rc, no OpenRC) would boot without the
//! agent and leave `vm create` waiting for minutes, so it is refused before
//! anything boots, naming it.

use crate::disk::debugfs::{DebugfsError, stat_sizes};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    Systemd,
    OpenRc,
    Runit,
    /// sysvinit with its own rc scripts (`/etc/inittab`, `/etc/init.d/rc`, no OpenRC).
    SysV,
    /// No init banger recognises: none, banger's agent, or a script of the
    /// image's own (which may start the agent itself).
    Other,
}

impl Init {
    pub fn name(self) -> &'static str {
        match self {
            Init::Systemd => "systemd",
            Init::OpenRc => "OpenRC",
            Init::Runit => "runit",
            Init::SysV => "SysV init",
            Init::Other => "another init",
        }
    }

    /// Whether banger can start its agent under this init.
    pub fn served(self) -> bool {
        self != Init::SysV
    }
}

/// What is looked for, in one debugfs run (with whatever else the caller asks).
pub const PROBES: [&str; 9] = [
    "/lib/systemd/systemd",
    "/usr/lib/systemd/systemd",
    "/sbin/openrc",
    "/sbin/openrc-init",
    "/sbin/runit",
    "/sbin/runit-init",
    "/etc/runit/1",
    "/etc/inittab",
    "/etc/init.d/rc",
];

/// The init, from which of `PROBES` exist (in that order). systemd wins:
/// Debian's `runit` package installs runit as a mere service manager on a
/// systemd system.
pub fn classify(present: &[bool]) -> Init {
    let has = |i: usize| present.get(i).copied().unwrap_or(false);
    if has(0) || has(1) {
        Init::Systemd
    } else if has(2) || has(3) {
        Init::OpenRc
    } else if has(4) || has(5) || has(6) {
        Init::Runit
    } else if has(7) && has(8) {
        // sysvinit's own rc (Debian's sysv-rc); an inittab alone is also
        // busybox's, which a pulled image's agent replaces as init.
        Init::SysV
    } else {
        Init::Other
    }
}

/// The init of the ext4 image at `image`.
pub fn probe(image: &Path) -> Result<Init, DebugfsError> {
    let present: Vec<bool> = stat_sizes(image, &PROBES)?
        .iter()
        .map(Option::is_some)
        .collect();
    Ok(classify(&present))
}

/// Why an image's init is refused (shared by `image register` and `vm create`).
pub fn refusal(init: Init) -> String {
    format!(
        "its init is {}: banger starts its guest agent under systemd, OpenRC or runit, or \
         as the init of an image without one (`image pull`); {} without OpenRC is not \
         supported",
        init.name(),
        init.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inits_are_named_from_what_the_image_holds() {
        let with = |paths: &[&str]| classify(&PROBES.map(|p| paths.contains(&p)));
        assert_eq!(with(&["/lib/systemd/systemd"]), Init::Systemd);
        assert_eq!(
            with(&["/usr/lib/systemd/systemd", "/sbin/runit"]),
            Init::Systemd
        );
        assert_eq!(with(&["/sbin/openrc-init"]), Init::OpenRc);
        assert_eq!(with(&["/sbin/openrc"]), Init::OpenRc);
        assert_eq!(with(&["/sbin/runit-init", "/etc/runit/1"]), Init::Runit);
        assert_eq!(with(&["/etc/inittab", "/etc/init.d/rc"]), Init::SysV);
        assert_eq!(with(&["/etc/inittab"]), Init::Other);
        assert_eq!(with(&["/etc/inittab", "/sbin/openrc"]), Init::OpenRc);
        assert_eq!(with(&[]), Init::Other);
        assert!(!Init::SysV.served());
        assert!(
            [Init::Systemd, Init::OpenRc, Init::Runit, Init::Other]
                .iter()
                .all(|i| i.served())
        );
        assert!(refusal(Init::SysV).contains("its init is SysV init"));
    }
}

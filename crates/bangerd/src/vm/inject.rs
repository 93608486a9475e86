//! Putting banger's guest parts into a VM's own copy of the image, without
//! mounting it (no root needed): `debugfs -w` writes files, symlinks and
//! modes straight into the ext4 image.
//!
//! debugfs exits 0 even when a command fails, so everything written is read
//! back and checked.

use crate::disk::debugfs::{self, DebugfsError, cat, stat_sizes};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::guest_layout::{
    AGENT_PATH, AGENT_UNIT, AGENT_UNIT_LINK, AGENT_UNIT_TEXT, FSTAB_LINE, HOSTKEYS_UNIT,
    HOSTKEYS_UNIT_LINK, HOSTKEYS_UNIT_TEXT, OPENCODE_DROPIN, OPENCODE_DROPIN_DIR,
    OPENCODE_DROPIN_TEXT, OPENCODE_ENV, OPENCODE_OPENRC, OPENCODE_UNIT, OPENRC_LINK, OPENRC_SCRIPT,
    OPENRC_SCRIPT_TEXT, OPENRC_SERVICES, RUNIT_DIR, RUNIT_LINK, RUNIT_RUN, RUNIT_RUN_TEXT,
    RUNIT_SERVICES, SSHD_DROPIN, SSHD_TEXT, with_work_disk,
};

#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    #[error(transparent)]
    Debugfs(#[from] DebugfsError),
    #[error("running dumpe2fs (install e2fsprogs)")]
    Spawn(#[source] std::io::Error),
    #[error("debugfs could not write {what} into {}: {detail}", image.display())]
    Missing {
        what: String,
        image: PathBuf,
        detail: String,
    },
    #[error("preparing files to inject")]
    Io(#[source] std::io::Error),
    #[error("the image's rootfs: {}", crate::guest_init::refusal(*.0))]
    UnservedInit(crate::guest_init::Init),
    #[error("{} has {free} bytes free, too few for the {need}-byte guest agent; give the image more room", image.display())]
    NoRoom {
        image: PathBuf,
        free: u64,
        need: u64,
    },
}

/// Directories the OpenRC service (the first three) and the runit service
/// (the rest) go in, parents first.
const INIT_DIRS: [&str; 8] = [
    "/etc/init.d",
    "/etc/runlevels",
    "/etc/runlevels/default",
    "/etc/sv",
    RUNIT_DIR,
    "/etc/runit",
    "/etc/runit/runsvdir",
    "/etc/runit/runsvdir/default",
];

/// Injects the agent, its unit, the fstab entry, sshd settings and
/// per-VM host key generation into `rootfs`; where the image has an
/// opencode service (a dev box), also `opencode_password` as that
/// service's password. Returns whether it had one.
pub fn inject_rootfs(
    rootfs: &Path,
    agent: &Path,
    opencode_password: &str,
) -> Result<bool, InjectError> {
    let tmp = tempfile::tempdir().map_err(InjectError::Io)?;
    let put = |name: &str, text: &str| -> Result<PathBuf, InjectError> {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).map_err(InjectError::Io)?;
        Ok(p)
    };
    // One debugfs run answers every question about what is there.
    let mut dirs = vec![
        "/usr",
        "/usr/local",
        "/usr/local/lib",
        "/usr/local/lib/banger",
        "/etc",
        "/etc/systemd",
        "/etc/systemd/system",
        "/etc/systemd/system/multi-user.target.wants",
        "/root",
        "/etc/ssh/sshd_config.d",
    ];
    let optional_dirs = ["/etc/banger", OPENCODE_DROPIN_DIR];
    let mut asked = vec![
        "/etc/fstab",
        "/etc/ssh",
        AGENT_PATH,
        OPENCODE_UNIT,
        OPENCODE_OPENRC,
    ];
    asked.extend(&dirs);
    asked.extend(optional_dirs);
    asked.extend(crate::guest_init::PROBES);
    asked.extend(INIT_DIRS);
    // sshd's services and runlevel links, for OpenRC and runit alike.
    let sshd_asked: Vec<String> = [OPENRC_SERVICES, RUNIT_SERVICES]
        .into_iter()
        .flat_map(crate::guest_layout::sshd_paths)
        .collect();
    asked.extend(sshd_asked.iter().map(String::as_str));
    let mut sizes = stat_sizes(rootfs, &asked)?;
    let sshd_sizes = sizes.split_off(sizes.len() - sshd_asked.len());
    let sshd_exists = |p: &str| {
        sshd_asked
            .iter()
            .zip(&sshd_sizes)
            .any(|(a, s)| a == p && s.is_some())
    };
    let init_dirs = sizes.split_off(sizes.len() - INIT_DIRS.len());
    let probed = sizes.split_off(sizes.len() - crate::guest_init::PROBES.len());
    let init = crate::guest_init::classify(&probed.iter().map(Option::is_some).collect::<Vec<_>>());
    // Images registered before banger checked: refused here, still before boot.
    if !init.served() {
        return Err(InjectError::UnservedInit(init));
    }
    let (has_fstab, has_sshd, agent_size, has_opencode) = (
        sizes[0].is_some(),
        sizes[1].is_some(),
        sizes[2],
        sizes[3].is_some() || sizes[4].is_some(),
    );
    let mut there: Vec<&str> = dirs
        .iter()
        .chain(&optional_dirs)
        .zip(&sizes[5..])
        .filter(|(_, s)| s.is_some())
        .map(|(d, _)| *d)
        .collect();
    if !has_sshd {
        dirs.pop();
    }
    if has_opencode {
        dirs.extend(optional_dirs);
    }
    let old_fstab = if has_fstab {
        cat(rootfs, "/etc/fstab")?.unwrap_or_default()
    } else {
        String::new()
    };
    let fstab = with_work_disk(old_fstab);
    let fstab_file = put("fstab", &fstab)?;
    let unit = put("agent.service", AGENT_UNIT_TEXT)?;
    let hostkeys = put("hostkeys.service", HOSTKEYS_UNIT_TEXT)?;
    let sshd = put("sshd.conf", SSHD_TEXT)?;
    // In the daemon's private temporary directory only until debugfs has
    // copied it (0700, removed with `tmp`).
    let opencode_env = put(
        "opencode.env",
        &format!("OPENCODE_SERVER_PASSWORD={opencode_password}\n"),
    )?;
    let opencode_dropin = put("opencode.conf", OPENCODE_DROPIN_TEXT)?;
    let need = std::fs::metadata(agent).map_err(InjectError::Io)?.len();
    // An agent already there (a pulled image has one) is replaced: its
    // blocks count as free.
    let free = free_bytes(rootfs)? + agent_size.unwrap_or(0);
    // Headroom for the small files and directory blocks written with it.
    if free < need + (1 << 20) {
        return Err(InjectError::NoRoom {
            image: rootfs.to_owned(),
            free,
            need,
        });
    }

    let mut script = String::new();
    mkdir_missing(&mut script, &dirs, &mut there);
    // The agent's service in the form of the image's init (the systemd
    // unit below is written whatever the init: harmless where unused).
    there.extend(
        INIT_DIRS
            .iter()
            .zip(&init_dirs)
            .filter(|(_, s)| s.is_some())
            .map(|(d, _)| *d),
    );
    let init_service: &[&str] = match init {
        crate::guest_init::Init::OpenRc => {
            mkdir_missing(&mut script, &INIT_DIRS[..3], &mut there);
            let text = put("openrc", OPENRC_SCRIPT_TEXT)?;
            write_file(&mut script, &text, OPENRC_SCRIPT, 0o100755);
            script.push_str(&format!(
                "rm {OPENRC_LINK}\nsymlink {OPENRC_LINK} {OPENRC_SCRIPT}\n"
            ));
            enable_sshd(&mut script, OPENRC_SERVICES, sshd_exists);
            &[OPENRC_SCRIPT, OPENRC_LINK]
        }
        crate::guest_init::Init::Runit => {
            mkdir_missing(&mut script, &INIT_DIRS[3..], &mut there);
            let text = put("runit-run", RUNIT_RUN_TEXT)?;
            write_file(&mut script, &text, RUNIT_RUN, 0o100755);
            script.push_str(&format!(
                "rm {RUNIT_LINK}\nsymlink {RUNIT_LINK} {RUNIT_DIR}\n"
            ));
            enable_sshd(&mut script, RUNIT_SERVICES, sshd_exists);
            &[RUNIT_RUN, RUNIT_LINK]
        }
        _ => &[],
    };
    write_file(&mut script, agent, AGENT_PATH, 0o100755);
    write_file(&mut script, &unit, AGENT_UNIT, 0o100644);
    write_file(&mut script, &fstab_file, "/etc/fstab", 0o100644);
    script.push_str(&format!(
        "rm {AGENT_UNIT_LINK}\nsymlink {AGENT_UNIT_LINK} ../banger-vsock-agent.service\n"
    ));
    if has_sshd {
        write_file(&mut script, &sshd, SSHD_DROPIN, 0o100644);
        write_file(&mut script, &hostkeys, HOSTKEYS_UNIT, 0o100644);
        script.push_str(&format!(
            "rm {HOSTKEYS_UNIT_LINK}\nsymlink {HOSTKEYS_UNIT_LINK} ../banger-ssh-hostkeys.service\n"
        ));
        for kind in ["rsa", "ecdsa", "ed25519", "dsa"] {
            script.push_str(&format!(
                "rm /etc/ssh/ssh_host_{kind}_key\nrm /etc/ssh/ssh_host_{kind}_key.pub\n"
            ));
        }
    }
    if has_opencode {
        write_file(&mut script, &opencode_env, OPENCODE_ENV, 0o100600);
        write_file(&mut script, &opencode_dropin, OPENCODE_DROPIN, 0o100644);
    }
    debugfs::run(rootfs, &script, true)?;

    let mut written = vec![AGENT_PATH, AGENT_UNIT, AGENT_UNIT_LINK, "/etc/fstab"];
    written.extend(init_service);
    for (path, size) in written.iter().zip(stat_sizes(rootfs, &written)?) {
        if size.is_none() {
            return Err(missing(rootfs, path, "not present after writing"));
        }
    }
    let written = cat(rootfs, "/etc/fstab")?.unwrap_or_default();
    if !written.contains(FSTAB_LINE) {
        return Err(missing(
            rootfs,
            "/etc/fstab",
            "the /dev/vdb line is missing",
        ));
    }
    if has_opencode {
        let env = cat(rootfs, OPENCODE_ENV)?.unwrap_or_default();
        let dropin = cat(rootfs, OPENCODE_DROPIN)?.unwrap_or_default();
        // Never the password itself in an error.
        if !env.contains(opencode_password) || dropin != OPENCODE_DROPIN_TEXT {
            return Err(missing(
                rootfs,
                "the opencode password",
                "not present after writing",
            ));
        }
    }
    Ok(has_opencode)
}

/// sshd into an OpenRC or runit image's default runlevel where the image
/// has its service but left it off (registered images are used as they
/// are; a pulled one had this done at pull). `exists` answers from the
/// injection's one debugfs run.
fn enable_sshd(script: &mut String, dirs: (&str, &str), exists: impl Fn(&str) -> bool) {
    if let Some((link, target)) = crate::guest_layout::sshd_link(dirs, exists) {
        script.push_str(&format!("symlink {link} {target}\n"));
    }
}

/// The work disk (mounted at /root) gets `.ssh/authorized_keys`.
pub fn inject_work_disk(work: &Path, authorized_key: &str) -> Result<(), InjectError> {
    let tmp = tempfile::tempdir().map_err(InjectError::Io)?;
    let keys = tmp.path().join("authorized_keys");
    let mut existing = cat(work, "/.ssh/authorized_keys")?.unwrap_or_default();
    if !existing.contains(authorized_key) {
        if !existing.is_empty() && !existing.ends_with('\n') {
            existing.push('\n');
        }
        existing.push_str(authorized_key);
        existing.push('\n');
    }
    std::fs::File::create(&keys)
        .and_then(|mut f| f.write_all(existing.as_bytes()))
        .map_err(InjectError::Io)?;
    let mut script = String::new();
    let mut there = Vec::new();
    if stat_sizes(work, &["/.ssh"])?[0].is_some() {
        there.push("/.ssh");
    }
    mkdir_missing(&mut script, &["/.ssh"], &mut there);
    script.push_str("sif /.ssh mode 040700\n");
    write_file(&mut script, &keys, "/.ssh/authorized_keys", 0o100600);
    debugfs::run(work, &script, true)?;
    if !cat(work, "/.ssh/authorized_keys")?
        .unwrap_or_default()
        .contains(authorized_key)
    {
        return Err(missing(work, "/.ssh/authorized_keys", "the key is missing"));
    }
    Ok(())
}

/// debugfs 1.47's `mkdir` of a directory that already exists leaves a
/// half-made inode behind (e2fsck: "Unconnected directory inode"), so only
/// the directories not `there` are created (and then are).
fn mkdir_missing<'a>(script: &mut String, dirs: &[&'a str], there: &mut Vec<&'a str>) {
    for dir in dirs {
        if !there.contains(dir) {
            script.push_str(&format!("mkdir {dir}\n"));
            there.push(dir);
        }
    }
}

fn missing(image: &Path, what: &str, detail: &str) -> InjectError {
    InjectError::Missing {
        what: what.into(),
        image: image.to_owned(),
        detail: detail.into(),
    }
}

/// Replace-or-create `dest` with the host file `src`, root-owned, `mode`.
fn write_file(script: &mut String, src: &Path, dest: &str, mode: u32) {
    script.push_str(&format!(
        "rm {dest}\nwrite {} {dest}\nsif {dest} mode 0{mode:o}\nsif {dest} uid 0\nsif {dest} gid 0\n",
        src.display()
    ));
}

/// Free bytes in the filesystem, from its superblock (`dumpe2fs -h`).
fn free_bytes(image: &Path) -> Result<u64, InjectError> {
    let out = Command::new("dumpe2fs")
        .arg("-h")
        .arg(image)
        .output()
        .map_err(InjectError::Spawn)?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    match (field("Free blocks:"), field("Block size:")) {
        (Some(blocks), Some(size)) => Ok(blocks * size),
        _ => Err(missing(
            image,
            "the superblock",
            "dumpe2fs could not read it",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::debugfs::exists;
    use std::process::Stdio;

    fn image(dir: &Path, name: &str, tree: Option<&Path>) -> PathBuf {
        let p = dir.join(name);
        let mut cmd = Command::new("mkfs.ext4");
        cmd.args(["-q", "-F"]);
        if let Some(t) = tree {
            cmd.arg("-d").arg(t);
        }
        assert!(
            cmd.arg(&p)
                .arg("32M")
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success()
        );
        p
    }

    fn e2fsck_clean(p: &Path) {
        let out = Command::new("e2fsck")
            .args(["-fn"])
            .arg(p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "e2fsck: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    fn stat(image: &Path, path: &str) -> String {
        let out = Command::new("debugfs")
            .args(["-R", &format!("stat {path}")])
            .arg(image)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn rootfs_gets_agent_unit_fstab_and_sshd_settings() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("etc/ssh")).unwrap();
        std::fs::write(tree.join("etc/fstab"), "proc /proc proc defaults 0 0").unwrap();
        std::fs::write(tree.join("etc/ssh/ssh_host_ed25519_key"), "image's key").unwrap();
        let rootfs = image(dir.path(), "root.ext4", Some(&tree));
        let agent = PathBuf::from("/bin/busybox"); // a small static binary
        assert!(!inject_rootfs(&rootfs, &agent, "pw").unwrap());
        // Twice: idempotent, no duplicate fstab line.
        assert!(!inject_rootfs(&rootfs, &agent, "pw").unwrap());

        let fstab = cat(&rootfs, "/etc/fstab").unwrap().unwrap();
        assert_eq!(
            fstab,
            format!("proc /proc proc defaults 0 0\n{FSTAB_LINE}\n")
        );
        let st = stat(&rootfs, AGENT_PATH);
        assert!(
            st.contains("Mode:  0755") && st.contains("User:     0"),
            "{st}"
        );
        let size = st
            .split("Size: ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        assert_eq!(std::fs::metadata(&agent).unwrap().len().to_string(), size);
        assert!(
            cat(&rootfs, AGENT_UNIT)
                .unwrap()
                .unwrap()
                .contains("ExecStart=/usr/local/lib/banger/banger-vsock-agent serve")
        );
        assert!(
            exists(&rootfs, AGENT_UNIT_LINK).unwrap(),
            "enabled for multi-user.target"
        );
        assert!(
            cat(&rootfs, SSHD_DROPIN)
                .unwrap()
                .unwrap()
                .contains("PermitRootLogin yes")
        );
        assert!(
            !exists(&rootfs, "/etc/ssh/ssh_host_ed25519_key").unwrap(),
            "the image's host key must not be shared"
        );
        assert!(exists(&rootfs, HOSTKEYS_UNIT_LINK).unwrap());
        e2fsck_clean(&rootfs);
    }

    #[test]
    fn a_dev_box_opencode_service_gets_this_vms_password() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        let unit = tree.join(OPENCODE_UNIT.trim_start_matches('/'));
        std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
        std::fs::write(
            &unit,
            "[Service]\nExecStart=/usr/local/bin/opencode serve\n",
        )
        .unwrap();
        let rootfs = image(dir.path(), "devbox.ext4", Some(&tree));
        let agent = PathBuf::from("/bin/busybox");
        assert!(inject_rootfs(&rootfs, &agent, "first0secret").unwrap());
        // Again with another password (the dirs exist now): replaced.
        assert!(inject_rootfs(&rootfs, &agent, "second1secret").unwrap());
        assert_eq!(
            cat(&rootfs, OPENCODE_ENV).unwrap().unwrap(),
            "OPENCODE_SERVER_PASSWORD=second1secret\n"
        );
        let st = stat(&rootfs, OPENCODE_ENV);
        assert!(
            st.contains("Mode:  0600") && st.contains("User:     0"),
            "root-only: {st}"
        );
        let dropin = cat(&rootfs, OPENCODE_DROPIN).unwrap().unwrap();
        assert!(
            dropin.contains("EnvironmentFile=/etc/banger/opencode.env\n"),
            "{dropin}"
        );
        e2fsck_clean(&rootfs);
    }

    #[test]
    fn an_openrc_opencode_service_gets_this_vms_password_too() {
        // The Alpine flow's image (scripts/manual/alpine.sh): OpenRC, no
        // systemd unit; its service reads the same env file.
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        for (path, text) in [
            (OPENCODE_OPENRC, "#!/sbin/openrc-run\n"),
            ("/sbin/openrc", ""),
        ] {
            let file = tree.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, text).unwrap();
        }
        let rootfs = image(dir.path(), "alpine.ext4", Some(&tree));
        let agent = PathBuf::from("/bin/busybox");
        assert!(inject_rootfs(&rootfs, &agent, "third2secret").unwrap());
        assert_eq!(
            cat(&rootfs, OPENCODE_ENV).unwrap().unwrap(),
            "OPENCODE_SERVER_PASSWORD=third2secret\n"
        );
        assert!(exists(&rootfs, OPENRC_LINK).unwrap());
        e2fsck_clean(&rootfs);
    }

    #[test]
    fn images_without_etc_or_sshd_still_get_the_agent() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = image(dir.path(), "bare.ext4", None);
        let agent = PathBuf::from("/bin/busybox"); // a small static binary
        assert!(!inject_rootfs(&rootfs, &agent, "pw").unwrap());
        assert_eq!(
            cat(&rootfs, "/etc/fstab").unwrap().unwrap(),
            format!("{FSTAB_LINE}\n")
        );
        assert!(!exists(&rootfs, SSHD_DROPIN).unwrap());
        e2fsck_clean(&rootfs);
    }

    fn tree_image(dir: &Path, name: &str, files: &[&str]) -> PathBuf {
        let tree = dir.join(name);
        for f in files {
            let p = tree.join(f.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "elf").unwrap();
        }
        image(dir, &format!("{name}.ext4"), Some(&tree))
    }

    #[test]
    fn openrc_and_runit_images_get_the_agent_as_their_own_service() {
        let dir = tempfile::tempdir().unwrap();
        let agent = Path::new("/bin/busybox");
        let openrc = tree_image(
            dir.path(),
            "openrc",
            &[
                "/sbin/openrc",
                "/etc/inittab",
                "/etc/init.d/rc",
                "/etc/init.d/sshd",
            ],
        );
        inject_rootfs(&openrc, agent, "pw").unwrap();
        // sshd, which the image has but left off (Alpine's openssh), on.
        let link = stat(&openrc, "/etc/runlevels/default/sshd");
        assert!(link.contains("Type: symlink"), "{link}");
        assert_eq!(
            cat(&openrc, OPENRC_SCRIPT).unwrap().unwrap(),
            OPENRC_SCRIPT_TEXT
        );
        assert!(stat(&openrc, OPENRC_SCRIPT).contains("Mode:  0755"));
        assert!(stat(&openrc, OPENRC_LINK).contains("Type: symlink"));
        assert!(!exists(&openrc, RUNIT_RUN).unwrap());
        e2fsck_clean(&openrc);

        // Every directory of the runit service made, none there before.
        let runit = tree_image(
            dir.path(),
            "runit",
            &["/sbin/runit-init", "/etc/sv/ssh/run"],
        );
        inject_rootfs(&runit, agent, "pw").unwrap();
        let link = stat(&runit, "/etc/runit/runsvdir/default/ssh");
        assert!(link.contains("Type: symlink"), "{link}");
        // Already on: left as it is (a second run writes no second link).
        inject_rootfs(&runit, agent, "pw").unwrap();
        assert!(!exists(&runit, "/etc/runit/runsvdir/default/sshd").unwrap());
        assert_eq!(cat(&runit, RUNIT_RUN).unwrap().unwrap(), RUNIT_RUN_TEXT);
        assert!(stat(&runit, RUNIT_RUN).contains("Mode:  0755"));
        assert!(stat(&runit, RUNIT_LINK).contains("Type: symlink"));
        assert!(!exists(&runit, OPENRC_SCRIPT).unwrap());
        e2fsck_clean(&runit);
    }

    #[test]
    fn a_sysv_image_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let sysv = tree_image(
            dir.path(),
            "sysv",
            &["/sbin/init", "/etc/inittab", "/etc/init.d/rc"],
        );
        let err = inject_rootfs(&sysv, Path::new("/bin/busybox"), "pw").unwrap_err();
        assert!(err.to_string().contains("its init is SysV init"), "{err}");
        assert!(!exists(&sysv, AGENT_PATH).unwrap(), "nothing written");
    }

    #[test]
    fn an_agent_already_in_the_image_counts_as_room() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        let at = tree.join(AGENT_PATH.trim_start_matches('/'));
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        // An older agent taking most of a 32 MiB image.
        std::fs::write(&at, vec![1u8; 24 << 20]).unwrap();
        let rootfs = image(dir.path(), "full.ext4", Some(&tree));
        let agent = dir.path().join("new-agent");
        std::fs::write(&agent, vec![2u8; 22 << 20]).unwrap();
        assert!(!inject_rootfs(&rootfs, &agent, "pw").unwrap());
        let st = stat(&rootfs, AGENT_PATH);
        assert!(st.contains(&format!("Size: {}", 22 << 20)), "{st}");
        e2fsck_clean(&rootfs);
    }

    #[test]
    fn a_full_image_is_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = image(dir.path(), "small.ext4", None);
        let big = dir.path().join("big-agent");
        std::fs::write(&big, vec![0u8; 40 << 20]).unwrap();
        let e = inject_rootfs(&rootfs, &big, "pw").unwrap_err();
        assert!(matches!(e, InjectError::NoRoom { .. }), "{e}");
        assert!(!exists(&rootfs, AGENT_PATH).unwrap());
        e2fsck_clean(&rootfs);
    }

    #[test]
    fn work_disk_gets_the_authorized_key_privately() {
        let dir = tempfile::tempdir().unwrap();
        let work = image(dir.path(), "work.ext4", None);
        inject_work_disk(&work, "ssh-ed25519 AAAA banger").unwrap();
        inject_work_disk(&work, "ssh-ed25519 AAAA banger").unwrap();
        assert_eq!(
            cat(&work, "/.ssh/authorized_keys").unwrap().unwrap(),
            "ssh-ed25519 AAAA banger\n"
        );
        assert!(stat(&work, "/.ssh").contains("Mode:  0700"));
        assert!(stat(&work, "/.ssh/authorized_keys").contains("Mode:  0600"));
        e2fsck_clean(&work);
    }
}

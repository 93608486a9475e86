//! A flattened root directory into an ext4 image with the field's tools:
//! `mkfs.ext4 -d`, then `debugfs` fix-ups where the directory's owners are
//! not the image's (an unprivileged build cannot chown, so the owners from
//! the layers' tar headers are written into the inodes instead), then
//! `e2fsck -fn` to check the result.

use super::flatten::{Devices, Ownership};
use crate::disk::debugfs::{self, DebugfsError};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum Ext4Error {
    #[error("`{command}` failed: {output}")]
    Tool { command: String, output: String },
    #[error("running {what}")]
    Spawn {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Debugfs(#[from] DebugfsError),
    #[error("{path}: a name debugfs cannot address (quote or newline)")]
    Unaddressable { path: String },
    #[error("writing {}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn run(what: &'static str, cmd: &mut Command) -> Result<String, Ext4Error> {
    let out = cmd
        .output()
        .map_err(|source| Ext4Error::Spawn { what, source })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(Ext4Error::Tool {
            command: format!("{cmd:?}"),
            output: text.trim().to_owned(),
        });
    }
    Ok(text)
}

/// The size for a tree of `content` bytes: a quarter more plus 64 MiB, in
/// whole MiB, so inodes, journal and a first `apt-get` fit.
pub fn default_size(content: u64) -> u64 {
    let want = content + content / 4 + (64 << 20);
    want.div_ceil(1 << 20) << 20
}

/// Makes `image` (`size` bytes, sparse) from `root`, with `ownership`, and
/// the `devices` an unprivileged flattener left as placeholders.
pub fn build(
    root: &Path,
    ownership: &Ownership,
    devices: &Devices,
    image: &Path,
    size: u64,
) -> Result<(), Ext4Error> {
    let io = |source| Ext4Error::Io {
        path: image.to_owned(),
        source,
    };
    let f = std::fs::File::create(image).map_err(io)?;
    f.set_len(size).map_err(io)?;
    drop(f);
    run(
        "mkfs.ext4",
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-E", "root_owner=0:0", "-d"])
            .arg(root)
            .arg(image),
    )?;
    let addressable = |rel: &Path| {
        let p = rel.to_string_lossy().into_owned();
        if p.contains(['"', '\n']) {
            return Err(Ext4Error::Unaddressable { path: p });
        }
        Ok(p)
    };
    // Devices first (mknod needs root; debugfs does not), then the owners
    // the directory could not carry, written into the inodes.
    let mut script = String::new();
    for (rel, d) in devices {
        let p = addressable(rel)?;
        let kind = if d.kind == 'c' { 0o020000 } else { 0o060000 };
        let (uid, gid) = ownership.get(rel).copied().unwrap_or((0, 0));
        // debugfs mknod makes a name in its current directory, not a path.
        let parent = rel
            .parent()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        script.push_str(&format!(
            "rm \"/{p}\"\ncd \"/{parent}\"\nmknod \"{name}\" {} {} {}\ncd /\nsif \"/{p}\" mode 0{:o}\nsif \"/{p}\" uid {uid}\nsif \"/{p}\" gid {gid}\n",
            d.kind,
            d.major,
            d.minor,
            kind | d.mode
        ));
    }
    for (rel, (uid, gid)) in ownership {
        if devices.contains_key(rel) {
            continue;
        }
        let on_disk = std::fs::symlink_metadata(root.join(rel))
            .map(|m| (u64::from(m.uid()), u64::from(m.gid())))
            .ok();
        if on_disk == Some((*uid, *gid)) {
            continue;
        }
        let p = addressable(rel)?;
        script.push_str(&format!("sif \"/{p}\" uid {uid}\nsif \"/{p}\" gid {gid}\n"));
    }
    if !script.is_empty() {
        let out = debugfs::run(image, &script, true)?;
        // debugfs reports per-command failures on its output, not its status.
        if let Some(bad) = out
            .lines()
            .find(|l| l.contains("File not found") || l.contains("Invalid"))
        {
            return Err(Ext4Error::Tool {
                command: "debugfs sif".into(),
                output: bad.to_owned(),
            });
        }
    }
    // Every device made, asked in one run.
    let paths: Vec<String> = devices
        .keys()
        .map(|rel| format!("/{}", rel.to_string_lossy()))
        .collect();
    let asked: Vec<&str> = paths.iter().map(String::as_str).collect();
    let stats = debugfs::stats(image, &asked)?;
    for ((rel, d), stat) in devices.iter().zip(stats) {
        let want = if d.kind == 'c' {
            "Type: character special"
        } else {
            "Type: block special"
        };
        if !stat.is_some_and(|s| s.contains(want)) {
            return Err(Ext4Error::Tool {
                command: "debugfs mknod".into(),
                output: format!("/{} is not a device after mknod", rel.display()),
            });
        }
    }
    run("e2fsck", Command::new("e2fsck").args(["-fn"]).arg(image))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn stat_uid(image: &Path, path: &str) -> String {
        let out = Command::new("debugfs")
            .args(["-R", &format!("stat \"{path}\"")])
            .arg(image)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .find(|l| l.contains("User:"))
            .unwrap_or_default()
            .split_whitespace()
            .take(4)
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn owners_from_the_layers_end_up_in_the_inodes() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("home/user with space")).unwrap();
        std::fs::write(root.join("home/user with space/notes"), "hi").unwrap();
        std::fs::write(root.join("etc-file"), "x").unwrap();
        let mut owners = Ownership::new();
        owners.insert(PathBuf::from("home/user with space"), (1000, 1000));
        owners.insert(PathBuf::from("home/user with space/notes"), (1000, 100));
        owners.insert(PathBuf::from("etc-file"), (0, 0));
        let image = d.path().join("root.ext4");
        build(
            &root,
            &owners,
            &Devices::new(),
            &image,
            default_size(1 << 20),
        )
        .unwrap();
        assert_eq!(
            stat_uid(&image, "/home/user with space/notes"),
            "User: 1000 Group: 100"
        );
        assert_eq!(
            stat_uid(&image, "/home/user with space"),
            "User: 1000 Group: 1000"
        );
        assert_eq!(stat_uid(&image, "/etc-file"), "User: 0 Group: 0");
        assert_eq!(default_size(0), 64 << 20);
    }

    /// What an unprivileged pull does with a layer's devices: the flattener
    /// leaves placeholders, the ext4 build makes the nodes.
    #[test]
    fn unprivileged_devices_and_owners_end_up_in_the_image() {
        use super::super::flatten::Flattener;
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        let mut layer = tar::Builder::new(Vec::new());
        for (name, kind, major, minor) in [
            ("dev/console", tar::EntryType::Char, 5, 1),
            ("dev/vda", tar::EntryType::Block, 254, 0),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(0o620);
            h.set_uid(0);
            h.set_gid(5);
            h.set_device_major(major).unwrap();
            h.set_device_minor(minor).unwrap();
            h.set_size(0);
            layer.append_data(&mut h, name, std::io::empty()).unwrap();
        }
        let mut f = Flattener::new(1 << 20);
        f.privileged = false;
        f.apply(&root, layer.into_inner().unwrap().as_slice())
            .unwrap();
        assert!(root.join("dev/console").is_file(), "a placeholder");
        assert_eq!(f.devices.len(), 2);
        let image = d.path().join("dev.ext4");
        build(&root, &f.ownership, &f.devices, &image, 64 << 20).unwrap();
        let st = stat(&image, "/dev/console");
        assert!(st.contains("Type: character special"), "{st}");
        assert!(st.contains("Mode:  0620"), "{st}");
        assert!(st.contains("Group:     5"), "{st}");
        let full = Command::new("debugfs")
            .args(["-R", "stat /dev/console"])
            .arg(&image)
            .output()
            .unwrap();
        let full = String::from_utf8_lossy(&full.stdout);
        assert!(
            full.contains("major: 5") || full.contains("05:01") || full.contains("(5, 1)"),
            "{full}"
        );
        assert!(stat_type(&image, "/dev/vda").contains("block special"));
    }

    fn stat(image: &Path, path: &str) -> String {
        let out = Command::new("debugfs")
            .args(["-R", &format!("stat \"{path}\"")])
            .arg(image)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn stat_type(image: &Path, path: &str) -> String {
        stat(image, path)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn a_name_debugfs_cannot_address_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("a\"b"), "x").unwrap();
        let mut owners = Ownership::new();
        owners.insert(PathBuf::from("a\"b"), (5, 5));
        let e = build(
            &root,
            &owners,
            &Devices::new(),
            &d.path().join("i.ext4"),
            64 << 20,
        )
        .unwrap_err();
        assert!(matches!(e, Ext4Error::Unaddressable { .. }), "{e}");
    }
}

//! debugfs, the one way banger reads and writes ext4 images without
//! mounting them (no root needed): VM injection (`vm/inject.rs`) and the
//! image pull's owner and device fix-ups (`image/oci/ext4.rs`) both go
//! through here. Each call is one debugfs process; questions and edits are
//! batched into scripts because every process costs time `vm create` pays.
//!
//! debugfs exits 0 even when a command in a script fails, so callers read
//! back what they wrote.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum DebugfsError {
    #[error("running debugfs (install e2fsprogs)")]
    Spawn(#[source] std::io::Error),
    #[error("debugfs on {} exited with {status}: {output}", image.display())]
    Failed {
        image: PathBuf,
        status: std::process::ExitStatus,
        output: String,
    },
}

/// Runs `script` (one command a line) on `image`, writable when `write`;
/// returns what debugfs printed (stdout, then stderr).
pub fn run(image: &Path, script: &str, write: bool) -> Result<String, DebugfsError> {
    let mut cmd = Command::new("debugfs");
    if write {
        cmd.arg("-w");
    }
    let mut child = cmd
        .args(["-f", "-"])
        .arg(image)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(DebugfsError::Spawn)?;
    // Fed from a thread: a long script and a long answer must not wait on
    // each other through full pipes.
    let mut stdin = child.stdin.take().expect("piped");
    let script = script.to_owned();
    let feeder = std::thread::spawn(move || stdin.write_all(script.as_bytes()));
    let out = child.wait_with_output().map_err(DebugfsError::Spawn)?;
    let fed = feeder.join().expect("the feeding thread does not panic");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(DebugfsError::Failed {
            image: image.to_owned(),
            status: out.status,
            output: output.trim().to_owned(),
        });
    }
    fed.map_err(DebugfsError::Spawn)?;
    Ok(output)
}

/// `stat` of each of `paths` (quoted, so names may have spaces): the
/// answer's text, None where the path does not exist. One process for all.
pub fn stats(image: &Path, paths: &[&str]) -> Result<Vec<Option<String>>, DebugfsError> {
    let commands: Vec<String> = paths.iter().map(|p| format!("stat \"{p}\"")).collect();
    let script: String = commands.iter().map(|c| format!("{c}\n")).collect();
    let text = run(image, &script, false)?;
    // debugfs echoes each command read from -f as `debugfs: CMD`; a found
    // inode's answer starts with `Inode:`, a missing one has none.
    Ok(commands
        .iter()
        .map(|c| {
            let echo = format!("debugfs: {c}\n");
            let at = text.find(&echo)? + echo.len();
            let answer = &text[at..];
            let answer = &answer[..answer.find("debugfs: ").unwrap_or(answer.len())];
            answer.starts_with("Inode:").then(|| answer.to_owned())
        })
        .collect())
}

/// The size of each of `paths` (from its inode), None where it is absent.
pub fn stat_sizes(image: &Path, paths: &[&str]) -> Result<Vec<Option<u64>>, DebugfsError> {
    Ok(stats(image, paths)?
        .into_iter()
        .map(|s| {
            s.map(|text| {
                text.split("Size: ")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0)
            })
        })
        .collect())
}

pub fn exists(image: &Path, path: &str) -> Result<bool, DebugfsError> {
    Ok(stats(image, &[path])?[0].is_some())
}

/// A file's contents from the image, or None if it does not exist.
pub fn cat(image: &Path, path: &str) -> Result<Option<String>, DebugfsError> {
    let out = Command::new("debugfs")
        .args(["-R", &format!("cat \"{path}\"")])
        .arg(image)
        .output()
        .map_err(DebugfsError::Spawn)?;
    // debugfs exits 0 either way; a missing path is told on stderr.
    if String::from_utf8_lossy(&out.stderr).contains("File not found") {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(dir: &Path) -> PathBuf {
        let tree = dir.join("tree");
        std::fs::create_dir_all(tree.join("etc/a dir")).unwrap();
        std::fs::write(tree.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
        std::fs::write(tree.join("etc/a dir/empty"), "").unwrap();
        let img = dir.join("img.ext4");
        let ok = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-d"])
            .arg(&tree)
            .arg(&img)
            .arg("8M")
            .status()
            .unwrap();
        assert!(ok.success());
        img
    }

    #[test]
    fn one_run_answers_for_every_path() {
        let dir = tempfile::tempdir().unwrap();
        let img = image(dir.path());
        let sizes = stat_sizes(
            &img,
            &["/etc/hosts", "/nope", "/etc/a dir/empty", "/etc/a dir"],
        )
        .unwrap();
        assert_eq!(sizes[0], Some(20));
        assert_eq!(sizes[1], None);
        assert_eq!(sizes[2], Some(0), "an empty file exists");
        assert!(sizes[3].is_some());
        assert_eq!(
            cat(&img, "/etc/hosts").unwrap().as_deref(),
            Some("127.0.0.1 localhost\n")
        );
        assert_eq!(cat(&img, "/etc/a dir/empty").unwrap().as_deref(), Some(""));
        assert_eq!(cat(&img, "/etc/missing").unwrap(), None);
    }

    #[test]
    fn scripts_write_and_failures_name_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let img = image(dir.path());
        run(&img, "mkdir /made\nsif /made mode 040700\n", true).unwrap();
        let made = stats(&img, &["/made"]).unwrap().remove(0).unwrap();
        assert!(made.contains("Mode:  0700"), "{made}");
        let e = run(&dir.path().join("none.ext4"), "stat /", false);
        // A missing image: debugfs says so (its status or its output).
        match e {
            Err(DebugfsError::Failed { image, .. }) => assert!(image.ends_with("none.ext4")),
            Ok(out) => assert!(out.contains("No such file"), "{out}"),
            Err(e) => panic!("{e}"),
        }
    }
}

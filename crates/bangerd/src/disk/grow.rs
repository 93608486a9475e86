//! Growing an ext4 image file in place: the file is extended (sparse) and
//! resize2fs grows the filesystem into it, offline.

use std::path::Path;
use std::process::Command;

/// Grows `image` to `bytes` (a larger file is left as it is). The error is
/// resize2fs's own words.
pub fn grow_ext4(image: &Path, bytes: u64) -> Result<(), String> {
    let len = std::fs::metadata(image).map_err(|e| e.to_string())?.len();
    if len >= bytes {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(image)
        .and_then(|f| f.set_len(bytes))
        .map_err(|e| e.to_string())?;
    let out = Command::new("resize2fs")
        .arg(image)
        .output()
        .map_err(|e| format!("running resize2fs: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    Ok(())
}

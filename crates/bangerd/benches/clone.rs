//! VM disk clone time against image size: `disk::clone_file` (reflink, or
//! sparse copy of data extents) for a 512 MiB and a 4 GiB ext4 image with
//! the same content, side by side with `std::fs::copy` as the baseline.
//! Goal: the clone's 4 GiB / 512 MiB ratio stays near 1 (time does not
//! grow with image size).
//!
//! `cargo bench -p bangerd --bench clone` (BANGER_BENCH_DIR picks the
//! filesystem; default: the system temp dir).

use bangerd::disk::clone_file;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 5;

/// An ext4 image of `size` holding ~40 MiB of files, like a small rootfs.
fn image(dir: &Path, name: &str, size: &str) -> std::path::PathBuf {
    let tree = dir.join(format!("{name}-tree"));
    std::fs::create_dir_all(&tree).unwrap();
    for i in 0..40 {
        let data: Vec<u8> = (0..1 << 20).map(|j| ((i * 7 + j) % 251) as u8).collect();
        std::fs::write(tree.join(format!("f{i}")), data).unwrap();
    }
    let img = dir.join(format!("{name}.ext4"));
    let ok = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(&tree)
        .arg(&img)
        .arg(size)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    img
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut(usize)) -> Duration {
    median(
        (0..runs)
            .map(|i| {
                let t = Instant::now();
                f(i);
                t.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let base = std::env::var_os("BANGER_BENCH_DIR")
        .map(Into::into)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).unwrap();
    let small = image(dir.path(), "small", "512M");
    let large = image(dir.path(), "large", "4G");
    let out = dir.path().join("out");
    let mut method = None;
    let mut bench = |img: &Path, ours: bool| {
        time(RUNS, |i| {
            let dst = out.with_extension(format!("{i}"));
            let _ = std::fs::remove_file(&dst);
            if ours {
                method = Some(clone_file(img, &dst, &mut |_, _| {}).unwrap());
            } else {
                std::fs::copy(img, &dst).unwrap();
            }
            std::fs::File::open(&dst).unwrap().sync_all().unwrap();
            std::fs::remove_file(&dst).unwrap();
        })
    };
    let ours_small = bench(&small, true);
    let ours_large = bench(&large, true);
    let base_small = bench(&small, false);
    let base_large = bench(&large, false);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("clone method on this filesystem: {:?}", method.unwrap());
    println!(
        "{:<22} {:>10} {:>10} {:>12}",
        "median of 5 (ms)", "512 MiB", "4 GiB", "4G / 512M"
    );
    println!(
        "{:<22} {:>10.1} {:>10.1} {:>12.2}",
        "banger clone_file",
        ms(ours_small),
        ms(ours_large),
        ms(ours_large) / ms(ours_small)
    );
    println!(
        "{:<22} {:>10.1} {:>10.1} {:>12.2}",
        "std::fs::copy (base)",
        ms(base_small),
        ms(base_large),
        ms(base_large) / ms(base_small)
    );
    println!(
        "baseline / banger at 4 GiB: {:.1}x",
        ms(base_large) / ms(ours_large)
    );
}

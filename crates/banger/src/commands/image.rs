//! `banger image register|list|show|promote|delete`.

use crate::context::Context;
use crate::progress::{ProgressView, human_bytes};
use crate::render;
use anyhow::Context as _;
use banger_api::image::{
    BuildImage, BuildToolsCached, DownloadBuildTools, Image, ImageDeleted, PromoteImage, PullImage,
    RegisterImage,
};
use banger_api::progress::Progress;
use banger_api::routes;
use banger_api::text::printable;
use clap::{Args, Subcommand};
use clap_complete::ArgValueCandidates;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record an image made of files on this host (unmanaged: banger points at them)
    ///
    /// Give the kernel as files (--kernel, optional --initrd and --modules) or
    /// as a kernel from `banger kernel list` (--kernel-ref). Every file is
    /// checked first: the rootfs and work-seed must be ext4 images, the kernel
    /// an ELF vmlinux or a bzImage. Nothing is recorded when a check fails.
    Register(RegisterArgs),
    /// Pull an image from an OCI registry into a managed, bootable image
    ///
    /// Resolves REF (Docker Hub by default: `debian:bookworm` is
    /// docker.io/library/debian:bookworm) to the image for --platform,
    /// downloads its layers into banger's blob cache (verifying every
    /// digest and size; a re-pull or a shared base layer is not downloaded
    /// again, an interrupted download resumes), unpacks them in order with
    /// OCI whiteouts into an ext4 rootfs checked by e2fsck, and puts in
    /// banger's guest agent and units. The image's /root becomes its
    /// work-seed. Credentials come from ~/.docker/config.json ($DOCKER_CONFIG)
    /// when it has an entry for the registry. Plain HTTP is used only for
    /// loopback registries, `insecure_registries` in the config and --insecure.
    /// Images whose init is systemd boot with banger's units; images with no
    /// init at all (most container images) boot with the agent as pid 1;
    /// other inits are refused. Until the image is registered nothing is
    /// visible: a failure leaves no image and no partial files. See
    /// docs/oci-import.md.
    #[command(after_long_help = "Examples:
  banger image pull debian:bookworm --kernel-ref generic-6.1
  banger image pull localhost:5000/team/dev:1 --kernel-ref k --name dev --size 8G
  banger image pull example/multi:1 --kernel-ref k --platform linux/arm64")]
    Pull(PullArgs),
    /// Build a dev box: an image with mise, opencode, claude and pi, made
    /// from a registered Debian/systemd image
    ///
    /// The pinned tools (Node.js, npm and the agents, versions listed by
    /// `image show` afterwards) are downloaded once on this host from the
    /// npm registry (config `npm_registry`) into the build cache (config
    /// `build_cache_dir`). A build VM cloned from BASE boots with them on
    /// its work disk (it reaches no network), installs them, runs their
    /// install scripts, enables an opencode service on port 4096 and shuts
    /// down; its disk becomes
    /// image NAME, with BASE's kernel and work-seed. BASE is not touched.
    /// The whole log is kept with the image. A failure, Ctrl-C or a killed
    /// daemon leaves no image, no build VM and no staging files.
    ///
    /// --docker adds Docker Engine from Debian's docker.io package (resolved
    /// by apt on this host against BASE's release and installed packages,
    /// config `debian_mirror`), enabled at boot, and BASE's kernel modules
    /// (overlay, bridge, netfilter) under /lib/modules in the image.
    ///
    /// --download-only fills the build cache and stops: run it where the
    /// registries are reachable, then build without a network.
    #[command(after_help = "Examples:
  banger image build --name devbox --from-image debian-bookworm
  banger image build --name devbox --from-image base --size 8G --json
  banger image build --name dockerbox --from-image debian-bookworm --docker
  banger image build --download-only
  banger image build --download-only --docker --from-image debian-bookworm")]
    Build(BuildArgs),
    /// List images
    List(JsonArg),
    /// Show one image
    Show(NameArgs),
    /// Copy an image's files into banger's data dir, so banger owns them
    ///
    /// The originals are never touched. Until the copy is complete and
    /// synced, the image stays exactly as it was.
    Promote(NameOnly),
    /// Delete an image: a managed image's files go with it; an unmanaged
    /// image's files are left alone
    Delete(NameOnly),
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Image name (letters, digits, . _ -)
    #[arg(long)]
    name: String,
    /// ext4 root filesystem image (/dev/vda in the guest)
    #[arg(long)]
    rootfs: PathBuf,
    /// ext4 image that seeds each VM's work disk (/dev/vdb, mounted at /root)
    #[arg(long)]
    work_seed: Option<PathBuf>,
    /// Kernel: ELF vmlinux or bzImage
    #[arg(long, conflicts_with = "kernel_ref")]
    kernel: Option<PathBuf>,
    /// initrd for --kernel
    #[arg(long, requires = "kernel")]
    initrd: Option<PathBuf>,
    /// lib/modules/<version> directory for --kernel
    #[arg(long, requires = "kernel")]
    modules: Option<PathBuf>,
    /// A kernel from the kernel store (`banger kernel list`) instead of --kernel
    #[arg(long, required_unless_present = "kernel", add = ArgValueCandidates::new(crate::complete::kernels))]
    kernel_ref: Option<String>,
    /// Print the image as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Image reference: [REGISTRY/]REPOSITORY[:TAG|@DIGEST]
    reference: String,
    /// The kernel the image boots with (from `banger kernel list`)
    #[arg(long, add = ArgValueCandidates::new(crate::complete::kernels))]
    kernel_ref: String,
    /// Image name (default: from the reference, e.g. debian-bookworm)
    #[arg(long)]
    name: Option<String>,
    /// Size of the rootfs, e.g. 4G or 512M (default: the content plus a
    /// quarter and 64 MiB; the file is sparse)
    #[arg(long, value_parser = parse_size)]
    size: Option<u64>,
    /// Platform to pick from a multi-platform image: os/arch[/variant]
    #[arg(long, default_value = "linux/amd64")]
    platform: String,
    /// Allow plain HTTP to this image's registry (loopback registries always may)
    #[arg(long)]
    insecure: bool,
    /// Print the image as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name of the new image
    #[arg(long, required_unless_present = "download_only")]
    name: Option<String>,
    /// The registered image to start from (Debian with systemd)
    #[arg(long, value_name = "BASE", required_unless_present = "download_only", add = ArgValueCandidates::new(crate::complete::images))]
    from_image: Option<String>,
    /// Size of the new rootfs, e.g. 8G (default: BASE's plus 3 GiB; sparse)
    #[arg(long, value_parser = parse_size)]
    size: Option<u64>,
    /// Also Docker Engine (Debian's docker.io for BASE's release, fetched
    /// on this host by apt from config `debian_mirror`), running at boot,
    /// with BASE's kernel modules in the image
    #[arg(long, requires = "from_image")]
    docker: bool,
    /// Only download what a build installs into the build cache (with
    /// --docker --from-image BASE: the Docker packages for BASE too)
    #[arg(long, conflicts_with_all = ["name", "size"])]
    download_only: bool,
    /// Print NDJSON events (progress, then the result) on stdout
    #[arg(long)]
    json: bool,
}

/// `4G`, `512M`, `1.5G`, `4096K`, or bytes; binary units (`G` = GiB).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let shift = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("`{s}`: unknown unit (use K, M, G or T)")),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 4G, 512M)"))?;
    if n <= 0.0 {
        return Err(format!("`{s}`: a size must be positive"));
    }
    Ok((n * (1u64 << shift) as f64) as u64)
}

#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    #[arg(add = ArgValueCandidates::new(crate::complete::images))]
    name: String,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct NameOnly {
    #[arg(add = ArgValueCandidates::new(crate::complete::images))]
    name: String,
}

pub async fn run(ctx: &Context, cmd: Command) -> anyhow::Result<ExitCode> {
    let client = ctx.daemon().await?;
    match cmd {
        Command::Register(a) => {
            let req = RegisterImage {
                name: a.name,
                rootfs: absolute(&a.rootfs)?,
                work_seed: a.work_seed.as_deref().map(absolute).transpose()?,
                kernel: a.kernel.as_deref().map(absolute).transpose()?,
                initrd: a.initrd.as_deref().map(absolute).transpose()?,
                modules: a.modules.as_deref().map(absolute).transpose()?,
                kernel_ref: a.kernel_ref,
            };
            let image: Image = client.post(routes::IMAGES, &req).await?;
            if a.json {
                render::print_json(&image)?;
            } else {
                println!(
                    "registered image {} (unmanaged; `banger image promote {}` copies it into banger's data dir)",
                    image.name, image.name
                );
            }
        }
        Command::Pull(a) => {
            let req = PullImage {
                reference: a.reference,
                kernel_ref: a.kernel_ref,
                name: a.name,
                size_bytes: a.size,
                platform: Some(a.platform),
                insecure: a.insecure,
            };
            let mut view = ProgressView::new();
            let i: Image = client
                .stream(routes::IMAGE_PULL, &req, |p: Progress| view.update(p))
                .await?;
            drop(view);
            if a.json {
                render::print_json(&i)?;
            } else {
                println!(
                    "pulled image {} ({}, {}); `banger vm create --image {}` boots it",
                    i.name,
                    i.source.as_deref().unwrap_or("-"),
                    human_bytes(i.rootfs_bytes),
                    i.name
                );
            }
        }
        Command::Build(a) => build(&client, a).await?,
        Command::List(a) => {
            let images: Vec<Image> = client.get(routes::IMAGES).await?;
            if a.json {
                render::print_json(&images)?;
            } else if images.is_empty() {
                println!(
                    "no images; add one with `banger image pull` or `banger image register` (see --help)"
                );
            } else {
                println!(
                    "{:<20} {:<9} {:<24} {:>10}  ROOTFS",
                    "NAME", "MANAGED", "KERNEL", "SIZE"
                );
                for i in images {
                    println!(
                        "{:<20} {:<9} {:<24} {:>10}  {}",
                        i.name,
                        yes_no(i.managed),
                        kernel_of(&i),
                        human_bytes(i.rootfs_bytes),
                        i.rootfs
                    );
                }
            }
        }
        Command::Show(a) => {
            let i: Image = client.get(&routes::image(&a.name)).await?;
            render::output(a.json, &i, show)?;
        }
        Command::Promote(a) => {
            let mut view = ProgressView::new();
            let i: Image = client
                .stream(
                    &routes::image_promote(&a.name),
                    &PromoteImage {},
                    |p: Progress| view.update(p),
                )
                .await?;
            drop(view);
            println!(
                "image {} is managed; its files are in {}",
                i.name,
                Path::new(&i.rootfs)
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
        }
        Command::Delete(a) => {
            let d: ImageDeleted = client.delete(&routes::image(&a.name)).await?;
            match d.removed_dir {
                Some(dir) => println!("deleted image {} and {dir}", d.name),
                None => println!(
                    "deleted image {} (its files were not banger's and are untouched)",
                    d.name
                ),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn kernel_of(i: &Image) -> String {
    match (&i.kernel_ref, &i.kernel) {
        (Some(r), _) => format!("ref:{r}"),
        (None, Some(k)) => Path::new(k)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        (None, None) => "-".into(),
    }
}

fn show(i: &Image) {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    for (k, v) in [
        ("name", i.name.clone()),
        ("id", i.id.clone()),
        ("managed", yes_no(i.managed).into()),
        (
            "rootfs",
            format!("{} ({})", i.rootfs, human_bytes(i.rootfs_bytes)),
        ),
        ("work-seed", opt(&i.work_seed)),
        (
            "kernel",
            i.kernel_ref
                .as_ref()
                .map(|r| format!("{r} (kernel store)"))
                .unwrap_or_else(|| opt(&i.kernel)),
        ),
        ("initrd", opt(&i.initrd)),
        ("modules", opt(&i.modules)),
        ("source", opt(&i.source)),
    ] {
        println!("{k:<10} {v}");
    }
    if let Some(b) = &i.build {
        println!(
            "{:<10} from image {} in {}s",
            "built", b.from_image, b.seconds
        );
        println!("{:<10} {}", "build log", b.log);
        for t in &b.tools {
            println!(
                "{:<10} {:<9} {:<40} {}",
                "tool", t.command, t.package, t.version
            );
        }
    }
}

/// `image build`: progress as it comes (or NDJSON events with --json).
async fn build(client: &banger_api::client::Client, a: BuildArgs) -> anyhow::Result<()> {
    use banger_api::Event;
    let mut view = (!a.json).then(ProgressView::new);
    let mut show = |p: Progress| match &mut view {
        Some(v) => v.update(p),
        None => {
            let line = Event::<Progress, ()>::Progress { progress: p }.to_line();
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &line);
        }
    };
    if a.download_only {
        let done: BuildToolsCached = client
            .stream(
                routes::IMAGE_BUILD_DOWNLOAD,
                &DownloadBuildTools {
                    from_image: a.from_image.clone(),
                    docker: a.docker,
                },
                &mut show,
            )
            .await?;
        drop(view);
        if a.json {
            print_result(&done);
        } else {
            println!(
                "build cache {}: {} ({})",
                done.cache,
                done.packages.join(" "),
                if done.downloaded {
                    "downloaded"
                } else {
                    "already there"
                }
            );
        }
        return Ok(());
    }
    let req = BuildImage {
        name: a.name.expect("clap requires --name"),
        from_image: a.from_image.expect("clap requires --from-image"),
        size_bytes: a.size,
        docker: a.docker,
    };
    let i: Image = client.stream(routes::IMAGE_BUILD, &req, &mut show).await?;
    drop(view);
    if a.json {
        print_result(&i);
    } else {
        let b = i.build.as_ref();
        println!(
            "built image {} ({}) in {}s; log {}",
            i.name,
            human_bytes(i.rootfs_bytes),
            b.map_or(0, |b| b.seconds),
            b.map_or("-", |b| b.log.as_str())
        );
        for t in b.map(|b| b.tools.as_slice()).unwrap_or_default() {
            println!("  {:<9} {}", printable(&t.command), printable(&t.version));
        }
        println!("`banger vm create --image {}` boots it", i.name);
    }
    Ok(())
}

fn print_result<R: serde::Serialize>(result: &R) {
    let line = banger_api::Event::<(), &R>::Result { result }.to_line();
    let _ = std::io::Write::write_all(&mut std::io::stdout(), &line);
}

/// The daemon wants absolute paths; relative ones are taken from here.
pub fn absolute(p: &Path) -> anyhow::Result<String> {
    let abs = std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))?;
    Ok(abs.display().to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("4G").unwrap(), 4 << 30);
        assert_eq!(super::parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(super::parse_size("1.5g").unwrap(), 3 << 29);
        assert_eq!(super::parse_size("4096").unwrap(), 4096);
        assert!(super::parse_size("4X").is_err());
        assert!(super::parse_size("G").is_err());
        assert!(super::parse_size("0").is_err());
    }
}

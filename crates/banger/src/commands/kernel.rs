//! `banger kernel list|show|pull|import|delete`.

use super::image::absolute;
use crate::context::Context;
use crate::progress::{ProgressView, human_bytes};
use crate::render;
use banger_api::kernel::{Catalog, ImportKernel, Kernel, KernelDeleted, PullKernel};
use banger_api::progress::Progress;
use banger_api::routes;
use clap::{Args, Subcommand};
use clap_complete::ArgValueCandidates;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List kernels in the local store, or (--available) those the catalog offers
    List(ListArgs),
    /// Show one stored kernel: release, source, files and their sha256
    Show(ShowArgs),
    /// Download a kernel from the catalog into the local store
    ///
    /// Every artifact's size and sha256 are checked against the catalog; on
    /// any failure nothing is stored. The catalog is `kernel_catalog` in the
    /// config (see docs/kernel-catalog.md); the built-in one offers
    /// generic-6.1 and generic-6.12, Debian 12's and 13's cloud kernels,
    /// taken from Debian's archive (`debian_mirror`) and verified from its
    /// signature (`debian_keyring`) down to the package's sha256.
    ///
    /// Example: banger kernel pull generic-6.12
    Pull(NameOnly),
    /// Import a kernel from a Debian package or from loose files
    ///
    /// From `--deb linux-image-*.deb`: the bzImage (an ELF vmlinux is
    /// extracted from it), its config, and its modules (indexed with depmod).
    /// When the virtio disk, network and vsock drivers are modules, an initrd
    /// that loads them is generated. Images then use the kernel with
    /// `image register --kernel-ref NAME`.
    Import(ImportArgs),
    /// Delete a stored kernel (refused while an image uses it)
    Delete(NameOnly),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// List the catalog's kernels, marking those already pulled
    #[arg(long)]
    available: bool,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[arg(add = ArgValueCandidates::new(crate::complete::kernels))]
    name: String,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct NameOnly {
    #[arg(add = ArgValueCandidates::new(crate::complete::kernels))]
    name: String,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Name in the kernel store, e.g. generic-6.1
    name: String,
    /// A Debian kernel package (linux-image-*.deb)
    #[arg(long, conflicts_with_all = ["vmlinux", "initrd", "modules"], required_unless_present = "vmlinux")]
    deb: Option<PathBuf>,
    /// A kernel file: ELF vmlinux or bzImage
    #[arg(long)]
    vmlinux: Option<PathBuf>,
    /// An initrd to use instead of a generated one
    #[arg(long, requires = "vmlinux")]
    initrd: Option<PathBuf>,
    /// The kernel's lib/modules/<release> directory
    #[arg(long, requires = "vmlinux")]
    modules: Option<PathBuf>,
}

pub async fn run(ctx: &Context, cmd: Command) -> anyhow::Result<ExitCode> {
    let client = ctx.daemon().await?;
    match cmd {
        Command::List(a) if a.available => {
            let catalog: Catalog = client.get(routes::KERNEL_CATALOG).await?;
            if a.json {
                render::print_json(&catalog)?;
            } else if catalog.kernels.is_empty() {
                println!(
                    "the catalog ({}) lists no kernels; set kernel_catalog (docs/kernel-catalog.md) or use `banger kernel import`",
                    catalog.location
                );
            } else {
                println!(
                    "{:<18} {:<26} {:>10}  {:<7} DESCRIPTION",
                    "NAME", "VERSION", "DOWNLOAD", "PULLED"
                );
                for k in catalog.kernels {
                    let pulled = if k.pulled { "yes" } else { "no" };
                    println!(
                        "{:<18} {:<26} {:>10}  {:<7} {}",
                        k.name,
                        k.version,
                        k.download_bytes.map_or("-".into(), human_bytes),
                        pulled,
                        k.description
                    );
                }
            }
        }
        Command::List(a) => {
            let kernels: Vec<Kernel> = client.get(routes::KERNELS).await?;
            if a.json {
                render::print_json(&kernels)?;
            } else if kernels.is_empty() {
                println!(
                    "no kernels; `banger kernel pull NAME` or `banger kernel import NAME --deb FILE`"
                );
            } else {
                println!("{:<18} {:<26} {:<8} SOURCE", "NAME", "VERSION", "INITRD");
                for k in kernels {
                    let initrd = if k.files.iter().any(|f| f.name == "initrd.img") {
                        "yes"
                    } else {
                        "no"
                    };
                    println!(
                        "{:<18} {:<26} {:<8} {}",
                        k.name, k.version, initrd, k.source
                    );
                }
            }
        }
        Command::Show(a) => {
            let k: Kernel = client.get(&routes::kernel(&a.name)).await?;
            if a.json {
                render::print_json(&k)?;
            } else {
                println!(
                    "name     {}\nversion  {}\narch     {}\nsource   {}\ndir      {}",
                    k.name, k.version, k.arch, k.source, k.dir
                );
                for f in k.files {
                    println!(
                        "  {:<11} {:>10}  {}",
                        f.name,
                        human_bytes(f.bytes),
                        f.sha256.unwrap_or_default()
                    );
                }
            }
        }
        Command::Pull(a) => {
            let mut view = ProgressView::new();
            let k: Kernel = client
                .stream(
                    routes::KERNEL_PULL,
                    &PullKernel { name: a.name },
                    |p: Progress| view.update(p),
                )
                .await?;
            drop(view);
            println!("pulled kernel {} ({})", k.name, k.version);
        }
        Command::Import(a) => {
            let req = ImportKernel {
                name: a.name,
                deb: a.deb.as_deref().map(absolute).transpose()?,
                vmlinux: a.vmlinux.as_deref().map(absolute).transpose()?,
                initrd: a.initrd.as_deref().map(absolute).transpose()?,
                modules: a.modules.as_deref().map(absolute).transpose()?,
            };
            let mut view = ProgressView::new();
            let k: Kernel = client
                .stream(routes::KERNEL_IMPORT, &req, |p: Progress| view.update(p))
                .await?;
            drop(view);
            let initrd = if k.files.iter().any(|f| f.name == "initrd.img") {
                ", with initrd"
            } else {
                ""
            };
            println!(
                "imported kernel {} ({}{initrd}); use it with `banger image register --kernel-ref {}`",
                k.name, k.version, k.name
            );
        }
        Command::Delete(a) => {
            let d: KernelDeleted = client.delete(&routes::kernel(&a.name)).await?;
            println!("deleted kernel {}", d.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `image pull`: reference -> registry -> layers streamed into a staging
//! root -> guest parts -> ext4 rootfs and work-seed -> one rename and one
//! INSERT. Checks that need no network (name, kernel, platform) come first.

use super::blobs::{self, Stopped};
use super::flatten::{Devices, Flattener, Ownership};
use super::registry::Registry;
use super::{OciError, auth, ext4, guest, layer, reference};
use crate::staging::Staging;
use crate::store::Store;
use banger_api::image::{Image, PullImage};
use banger_api::progress::{Progress, Stage};
use banger_config::{ImageDir, Paths};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The most a pull may unpack: far beyond any development image, and the
/// cap that stops a decompression bomb from filling the disk.
pub const UNPACK_LIMIT: u64 = 64 << 30;

/// Room on the work-seed beyond the image's `/root`, for a first clone.
const WORK_SEED_MIN: u64 = 64 << 20;

/// What a pull needs from the daemon.
#[derive(Debug)]
pub struct PullEnv<'a> {
    pub paths: &'a Paths,
    pub store: &'a Store,
    pub agent: Option<&'a Path>,
    pub insecure_registries: &'a [String],
}

pub async fn pull(
    env: &PullEnv<'_>,
    req: PullImage,
    now: u64,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Image, OciError> {
    let reference = reference::parse(&req.reference)?;
    let name = req
        .name
        .clone()
        .unwrap_or_else(|| reference::default_name(&reference));
    banger_config::config::check_name(&name).map_err(OciError::Name)?;
    if env.store.image(&name)?.is_some() {
        return Err(OciError::Exists(name));
    }
    if env
        .store
        .kernel(&req.kernel_ref, &|n| n.to_owned())?
        .is_none()
    {
        return Err(OciError::UnknownKernel(req.kernel_ref));
    }
    let platform = match &req.platform {
        Some(p) => reference::Platform::parse(p)?,
        None => reference::Platform::default_guest(),
    };
    let agent = env.agent.ok_or(OciError::NoAgent)?.to_owned();
    let credentials = auth::for_registry(
        env.paths.docker_config.as_deref(),
        reference.resolve_registry(),
    )?;
    let mut insecure = env.insecure_registries.to_vec();
    if req.insecure {
        insecure.push(reference.resolve_registry().to_owned());
    }
    let registry = Arc::new(Registry::new(
        reference.clone(),
        credentials,
        env.paths.docker_config.as_deref(),
        &insecure,
    ));

    progress(Progress::step(
        Stage::Resolve,
        format!("{reference} for {platform}"),
    ));
    let resolved = registry.resolve(&platform).await?;
    let layers = resolved.manifest.layers.clone();
    // Every layer's type and size is checked before the first byte is
    // downloaded: a layer larger than the unpack cap could not fit anyway.
    let kinds = layers
        .iter()
        .map(|l| {
            if l.size < 0 || l.size as u64 > UNPACK_LIMIT {
                return Err(OciError::Manifest {
                    what: format!("layer {}", l.digest),
                    detail: format!(
                        "a size of {} bytes (the limit is {} bytes)",
                        l.size, UNPACK_LIMIT
                    ),
                });
            }
            layer::compression(&l.digest, &l.media_type)
        })
        .collect::<Result<Vec<_>, _>>()?;

    let id = crate::staging::random_hex(8);
    let io = |what: String| move |source| OciError::Io { what, source };
    let staging = Staging::new(env.paths, &format!("pull-{id}"))
        .map_err(io("creating a staging directory".into()))?;
    let root = staging.path().join("root");
    std::fs::create_dir(&root).map_err(io(format!("creating {}", root.display())))?;

    let mut flattener = Flattener::new(UNPACK_LIMIT);
    let total = layers.len();
    for (i, (desc, kind)) in layers.iter().zip(kinds).enumerate() {
        let detail = format!("{}/{total} {}", i + 1, short(&desc.digest));
        let size = u64::try_from(desc.size).ok();
        flattener = apply_layer(
            &registry,
            env.paths,
            desc,
            kind,
            &root,
            flattener,
            &mut |done| progress(Progress::bytes(Stage::Layer, detail.clone(), done, size)),
        )
        .await?;
    }

    progress(Progress::step(
        Stage::Inject,
        "guest agent, units, fstab, sshd",
    ));
    let staged = staging.path().to_owned();
    let content = flattener.bytes;
    let devices = std::mem::take(&mut flattener.devices);
    let mut owners = std::mem::take(&mut flattener.ownership);
    let size = req.size_bytes;
    let joined = |e: tokio::task::JoinError| OciError::Io {
        what: "building the image".into(),
        source: std::io::Error::other(e),
    };
    let (root, owners, injected) = tokio::task::spawn_blocking(move || {
        let found = guest::inspect(&root).map_err(OciError::Guest)?;
        if let guest::Init::Other(init) = &found.init {
            return Err(unsupported_init(init));
        }
        let injected =
            guest::inject(&root, &agent, &mut owners, &found).map_err(OciError::Guest)?;
        Ok((root, owners, injected))
    })
    .await
    .map_err(joined)??;
    progress(Progress::step(
        Stage::Ext4,
        "rootfs and work-seed, checked by e2fsck",
    ));
    // Room for the image and what banger put in, and as much again:
    // `vm create` replaces the agent with the daemon's current one, which a
    // later banger may have made larger.
    let (rootfs, seed) = tokio::task::spawn_blocking(move || {
        build_disks(
            &staged,
            &root,
            &owners,
            &devices,
            content + 2 * injected,
            size,
        )
    })
    .await
    .map_err(joined)??;

    let dest = env.paths.image_dir(&id);
    crate::fault::point("image-pull:staged");
    staging
        .commit(&dest)
        .map_err(io(format!("moving the image into {}", dest.display())))?;
    let mut image = Image {
        id,
        name,
        managed: true,
        rootfs: dest.join(rootfs).display().to_string(),
        work_seed: Some(dest.join(seed).display().to_string()),
        kernel: None,
        initrd: None,
        modules: None,
        kernel_ref: Some(req.kernel_ref),
        source: Some(format!(
            "{}@{}",
            req.reference.split('@').next().unwrap_or(&req.reference),
            resolved.digest
        )),
        rootfs_bytes: 0,
        created_at: now,
        build: None,
    };
    crate::fault::point("image-pull:committed");
    if let Err(e) = env.store.insert_image(&image) {
        let _ = crate::staging::remove_atomically(env.paths, &dest);
        return Err(e.into());
    }
    tracing::info!(image = %image.name, source = ?image.source, platform = %resolved.platform, "pulled image");
    crate::image::fill_sizes(&mut image);
    Ok(image)
}

fn short(digest: &str) -> &str {
    let end = digest.len().min("sha256:".len() + 12);
    &digest[..end]
}

fn unsupported_init(init: &str) -> OciError {
    OciError::Guest(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        format!(
            "the image's /sbin/init is {init}, and neither systemd, OpenRC nor runit: banger starts \
             its agent as a service of those, or as the init of images that have none; a plain \
             SysV init (sysvinit's own rc scripts) is not supported (see docs/oci-import.md)"
        ),
    ))
}

/// Streams one layer into the root; returns the flattener for the next.
async fn apply_layer(
    registry: &Arc<Registry>,
    paths: &Paths,
    desc: &oci_client::manifest::OciDescriptor,
    kind: layer::Compression,
    root: &Path,
    mut flattener: Flattener,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<Flattener, OciError> {
    let blob = blobs::open(registry, paths, desc).await?;
    let received = blob.received.clone();
    let root = root.to_owned();
    let digest = desc.digest.clone();
    let mut reader = blob.reader;
    let mut unpack = tokio::task::spawn_blocking(move || {
        let result = (|| {
            let mut tar =
                layer::decoder(kind, &mut reader).map_err(super::flatten::FlattenError::Tar)?;
            flattener.apply(&root, &mut tar)?;
            // The tar ends before its padding and the compressed stream
            // before the blob: read both out, so the download completes
            // (and is verified) and a trailing error is not missed.
            std::io::copy(&mut tar, &mut std::io::sink())
                .map_err(super::flatten::FlattenError::Tar)?;
            drop(tar);
            std::io::copy(&mut reader, &mut std::io::sink())
                .map_err(super::flatten::FlattenError::Tar)?;
            Ok(())
        })();
        (flattener, result)
    });
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let (flattener, unpacked) = loop {
        tokio::select! {
            done = &mut unpack => break done.map_err(|e| OciError::Io {
                what: "unpacking a layer".into(),
                source: std::io::Error::other(e),
            })?,
            _ = tick.tick() => progress(received.load(Ordering::Relaxed)),
        }
    };
    progress(received.load(Ordering::Relaxed));
    let downloaded = match blob.download {
        Some(task) => task.await.map_err(|e| OciError::Io {
            what: "downloading a layer".into(),
            source: std::io::Error::other(e),
        })?,
        None => Ok(()),
    };
    match (downloaded, unpacked) {
        // The registry's fault explains the unpacker's, not the reverse.
        (Err(Stopped::Failed(e)), _) => Err(e),
        (Err(Stopped::ReaderGone { resumed: true }), Err(source)) => {
            Err(OciError::FlattenResumed { digest, source })
        }
        (_, Err(source)) => Err(OciError::Flatten { digest, source }),
        (Err(Stopped::ReaderGone { .. }), Ok(())) => Err(OciError::Download {
            digest,
            source: std::io::Error::other("the unpacker stopped reading"),
        }),
        (Ok(()), Ok(())) => Ok(flattener),
    }
}

/// The rootfs (the whole tree) and the work-seed (the image's `/root`,
/// which the work disk is mounted over), both checked with e2fsck.
/// Returns their file names in the staging directory.
fn build_disks(
    staged: &Path,
    root: &Path,
    owners: &Ownership,
    devices: &Devices,
    content: u64,
    size: Option<u64>,
) -> Result<(&'static str, &'static str), OciError> {
    // Files plus what directories, links and inodes take, roughly.
    let entries = owners.len() as u64;
    let footprint = content + entries * 4096;
    let size = match size {
        Some(s) if s < footprint + (16 << 20) => {
            return Err(OciError::TooSmall {
                content: footprint,
                size: s,
            });
        }
        Some(s) => s,
        None => ext4::default_size(footprint),
    };
    let rootfs = staged.join(ImageDir::ROOTFS);
    ext4::build(root, owners, devices, &rootfs, size).map_err(|source| OciError::Ext4 {
        what: "rootfs",
        source,
    })?;
    let home = root.join("root");
    let seed_tree = if home.is_dir() && !home.is_symlink() {
        home
    } else {
        let empty = staged.join("empty-root");
        std::fs::create_dir(&empty).map_err(|source| OciError::Io {
            what: "creating the work-seed tree".into(),
            source,
        })?;
        empty
    };
    let seed_owners: Ownership = owners
        .iter()
        .filter_map(|(p, o)| Some((p.strip_prefix("root").ok()?.to_owned(), *o)))
        .filter(|(p, _)| !p.as_os_str().is_empty())
        .collect();
    let seed_devices: Devices = devices
        .iter()
        .filter_map(|(p, d)| Some((p.strip_prefix("root").ok()?.to_owned(), *d)))
        .collect();
    let seed_bytes = tree_bytes(&seed_tree);
    let seed = staged.join(ImageDir::WORK_SEED);
    ext4::build(
        &seed_tree,
        &seed_owners,
        &seed_devices,
        &seed,
        ext4::default_size(seed_bytes).max(WORK_SEED_MIN),
    )
    .map_err(|source| OciError::Ext4 {
        what: "work-seed",
        source,
    })?;
    // The tree has served; only the images are published.
    let _ = std::fs::remove_dir_all(root);
    let _ = std::fs::remove_dir_all(staged.join("empty-root"));
    Ok((ImageDir::ROOTFS, ImageDir::WORK_SEED))
}

fn tree_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut todo: Vec<PathBuf> = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => todo.push(e.path()),
                Ok(_) => total += e.metadata().map(|m| m.len()).unwrap_or(0) + 4096,
                Err(_) => {}
            }
        }
    }
    total
}

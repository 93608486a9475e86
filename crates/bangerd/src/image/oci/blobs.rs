//! Layer blobs: read from the content-addressed cache when a verified copy
//! is there, else streamed from the registry into the cache while the
//! unpacker reads the same bytes (one pass, no second copy). A download
//! lands as `<hex>.partial` and is renamed to `<hex>` only once its size
//! and sha256 check out; an interrupted one is resumed from its length by
//! the next pull (HTTP Range), and one that fails verification is removed.

use super::OciError;
use super::registry::Registry;
use banger_config::Paths;
use bytes::Bytes;
use futures_util::StreamExt;
use oci_client::manifest::OciDescriptor;
use sha2::{Digest as _, Sha256};
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// Chunks in flight between the download and the unpacker.
const IN_FLIGHT: usize = 32;

/// One download per blob at a time: two pulls sharing a base layer must not
/// append to the same `.partial`. The second waits, then finds the blob in
/// the cache. (One daemon owns the cache, so an in-process lock suffices.)
static DOWNLOADING: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
> = std::sync::LazyLock::new(Default::default);

fn download_lock(digest: &str) -> Arc<tokio::sync::Mutex<()>> {
    let mut all = DOWNLOADING.lock().unwrap_or_else(|p| p.into_inner());
    all.entry(digest.to_owned()).or_default().clone()
}

/// The cache paths of a `sha256:<hex>` digest (the only algorithm
/// registries use for images).
pub fn cache_paths(paths: &Paths, digest: &str) -> Result<(PathBuf, PathBuf), OciError> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|_| super::manifest::is_sha256_digest(digest))
        .ok_or_else(|| OciError::Manifest {
            what: "a layer descriptor".into(),
            detail: format!("`{digest}` is not a sha256 digest"),
        })?;
    Ok((paths.blob("sha256", hex), paths.blob_partial("sha256", hex)))
}

/// How a download ended when it did not complete.
#[derive(Debug)]
pub enum Stopped {
    /// The unpacker stopped reading (it failed; its error is the one to
    /// show). The partial download is dropped: bytes that do not unpack are
    /// not worth resuming, and a corrupt prefix would fail every later pull.
    /// `resumed`: the bytes began with an earlier pull's partial download.
    ReaderGone {
        resumed: bool,
    },
    Failed(OciError),
}

/// One layer's bytes for the unpacker, and the download behind them.
pub struct LayerBlob {
    pub reader: Box<dyn Read + Send>,
    /// Compressed bytes received so far (cache hits: the whole size).
    pub received: Arc<AtomicU64>,
    pub download: Option<tokio::task::JoinHandle<Result<(), Stopped>>>,
}

impl std::fmt::Debug for LayerBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerBlob")
            .field("cached", &self.download.is_none())
            .finish_non_exhaustive()
    }
}

fn cached(done: &std::path::Path, expected: u64) -> Option<LayerBlob> {
    let f = std::fs::File::open(done).ok()?;
    f.metadata().ok().filter(|m| m.len() == expected)?;
    Some(LayerBlob {
        reader: Box::new(f),
        received: Arc::new(AtomicU64::new(expected)),
        download: None,
    })
}

pub async fn open(
    registry: &Arc<Registry>,
    paths: &Paths,
    desc: &OciDescriptor,
) -> Result<LayerBlob, OciError> {
    let (done, partial) = cache_paths(paths, &desc.digest)?;
    let expected = u64::try_from(desc.size).unwrap_or(0);
    if let Some(hit) = cached(&done, expected) {
        return Ok(hit);
    }
    let guard = download_lock(&desc.digest).lock_owned().await;
    // Another pull may have fetched it while this one waited.
    if let Some(hit) = cached(&done, expected) {
        return Ok(hit);
    }
    if let Some(dir) = done.parent() {
        std::fs::create_dir_all(dir).map_err(|source| OciError::Io {
            what: format!("creating the blob cache {}", dir.display()),
            source,
        })?;
    }
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    let received = Arc::new(AtomicU64::new(0));
    let (registry, desc, progress) = (registry.clone(), desc.clone(), received.clone());
    let task = tokio::spawn(async move {
        let ended = download(registry, desc, partial, done, tx, progress).await;
        drop(guard);
        ended
    });
    Ok(LayerBlob {
        reader: Box::new(ChannelReader {
            rx,
            chunk: Bytes::new(),
        }),
        received,
        download: Some(task),
    })
}

async fn download(
    registry: Arc<Registry>,
    desc: OciDescriptor,
    partial: PathBuf,
    done: PathBuf,
    tx: mpsc::Sender<io::Result<Bytes>>,
    received: Arc<AtomicU64>,
) -> Result<(), Stopped> {
    let digest = desc.digest.clone();
    let expected = u64::try_from(desc.size).unwrap_or(0);
    let fail = |source: io::Error| {
        Stopped::Failed(OciError::Download {
            digest: digest.clone(),
            source,
        })
    };
    let mut hasher = Sha256::new();
    let mut have = 0u64;
    let gone = |resumed: bool| {
        let _ = std::fs::remove_file(&partial);
        Stopped::ReaderGone { resumed }
    };
    // Resume: what an interrupted pull left goes to the unpacker first.
    if let Ok(mut f) = std::fs::File::open(&partial) {
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(fail)?;
            if n == 0 {
                break;
            }
            if have + n as u64 > expected {
                break; // longer than the blob: start over below
            }
            hasher.update(&buf[..n]);
            have += n as u64;
            received.store(have, Ordering::Relaxed);
            if tx
                .send(Ok(Bytes::copy_from_slice(&buf[..n])))
                .await
                .is_err()
            {
                return Err(gone(true));
            }
        }
    }
    let resumed = have > 0;
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&partial)
        .await
        .map_err(fail)?;
    if file.metadata().await.map_err(fail)?.len() != have {
        file.set_len(have).await.map_err(fail)?;
    }
    let failed = |what: &str| {
        let to_error = registry.failed(format!("fetching {what}"));
        move |e| Stopped::Failed(to_error(e))
    };
    // A registry that ignores Range sends the whole blob again: the bytes
    // already passed on are skipped.
    let (mut stream, mut skip) = if have == 0 {
        let s = registry
            .client
            .pull_blob_stream(&registry.reference, &desc)
            .await
            .map_err(failed(&format!("layer {digest}")))?;
        (s, 0)
    } else if have == expected {
        (empty_stream(), 0)
    } else {
        tracing::info!(%digest, offset = have, "resuming an interrupted layer download");
        match registry
            .client
            .pull_blob_stream_partial(&registry.reference, &desc, have, None)
            .await
            .map_err(failed(&format!("layer {digest} from byte {have}")))?
        {
            oci_client::client::BlobResponse::Partial(s) => (s, 0),
            oci_client::client::BlobResponse::Full(s) => (s, have),
        }
    };
    while let Some(chunk) = stream.next().await {
        let mut chunk = match chunk {
            Ok(c) => c,
            // Every byte is here and the client's own check objects: the
            // verification below names the problem and drops the bytes.
            Err(_) if have == expected => break,
            // Cut off: what arrived stays for the next pull to resume.
            Err(e) => return Err(fail(e)),
        };
        if skip > 0 {
            let n = skip.min(chunk.len() as u64);
            skip -= n;
            chunk = chunk.slice(n as usize..);
            if chunk.is_empty() {
                continue;
            }
        }
        have += chunk.len() as u64;
        if have > expected {
            let _ = tx
                .send(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "layer larger than its descriptor",
                )))
                .await;
            drop(file);
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(Stopped::Failed(OciError::Size {
                what: "layer",
                digest,
                expected,
                actual: have,
            }));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(fail)?;
        received.store(have, Ordering::Relaxed);
        if tx.send(Ok(chunk)).await.is_err() {
            drop(file);
            return Err(gone(resumed));
        }
    }
    file.flush().await.map_err(fail)?;
    file.sync_data().await.map_err(fail)?;
    drop(file);
    let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
    let wrong = if have != expected {
        Some(OciError::Size {
            what: "layer",
            digest: digest.clone(),
            expected,
            actual: have,
        })
    } else if actual != digest {
        Some(OciError::Digest {
            what: "layer",
            digest: digest.clone(),
            actual,
        })
    } else {
        None
    };
    if let Some(e) = wrong {
        // The unpacker must not take a clean end of data for a good layer.
        let _ = tx
            .send(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "layer failed verification",
            )))
            .await;
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(Stopped::Failed(e));
    }
    tokio::fs::rename(&partial, &done).await.map_err(fail)?;
    Ok(())
}

fn empty_stream() -> oci_client::client::SizedStream {
    oci_client::client::SizedStream {
        content_length: Some(0),
        digest_header_value: None,
        stream: Box::pin(futures_util::stream::empty()),
    }
}

/// The unpacker's side of a download: a blocking `Read` over the chunks.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    chunk: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(c)) => self.chunk = c,
                Some(Err(e)) => return Err(e),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk = self.chunk.slice(n..);
        Ok(n)
    }
}

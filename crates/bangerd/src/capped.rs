//! Buffers that refuse to grow past a cap: whatever banger reads whole into
//! memory from someone else (a guest's command output, a registry's
//! manifest or image config) is capped as it is read, not as declared.

use std::pin::Pin;
use std::task::{Context, Poll};

/// `data` would take the buffer past its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("more than {cap} bytes")]
pub struct Full {
    pub cap: usize,
}

/// Appends `data` to `buf` unless that makes it longer than `cap`.
pub fn append(buf: &mut Vec<u8>, data: &[u8], cap: usize) -> Result<(), Full> {
    if buf.len().saturating_add(data.len()) > cap {
        return Err(Full { cap });
    }
    buf.extend_from_slice(data);
    Ok(())
}

/// An in-memory writer for APIs that write into one (oci-client's blob
/// pulls), refusing past `cap` with an I/O error naming it.
#[derive(Debug)]
pub struct CappedWriter {
    pub bytes: Vec<u8>,
    pub cap: usize,
}

impl CappedWriter {
    pub fn new(cap: usize) -> CappedWriter {
        CappedWriter {
            bytes: Vec::new(),
            cap,
        }
    }
}

impl tokio::io::AsyncWrite for CappedWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let cap = self.cap;
        Poll::Ready(
            append(&mut self.bytes, buf, cap)
                .map(|()| buf.len())
                .map_err(std::io::Error::other),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn appends_up_to_the_cap_and_not_past_it() {
        let mut b = Vec::new();
        append(&mut b, b"1234", 8).unwrap();
        append(&mut b, b"5678", 8).unwrap();
        assert_eq!(append(&mut b, b"9", 8), Err(Full { cap: 8 }));
        assert_eq!(b, b"12345678", "nothing of a refused piece is kept");
    }

    #[tokio::test]
    async fn the_writer_is_cut_off_as_written() {
        let mut c = CappedWriter::new(8);
        c.write_all(b"12345678").await.unwrap();
        let e = c.write_all(b"9").await.unwrap_err();
        assert!(e.to_string().contains("more than 8 bytes"), "{e}");
        assert_eq!(c.bytes.len(), 8);
    }
}

//! What an attached client has yet to receive: a bounded queue drained by a
//! thread of its own, so a client that stops reading never stalls the
//! session (its output pumps only append here, and to the logs).
//!
//! When live output would push the queue past its cap, the client is let
//! go: what is queued is still sent, then an error frame saying why, then
//! the connection closes. Nothing is lost: the logs have it all, and the
//! next attach replays what this client was not sent.

use banger_agent_proto::{Frame, Response, write_frame};
use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Live output queued for one client beyond what its socket holds.
pub const CAP: usize = 4 << 20;

/// A client that accepts nothing for this long is gone: its writer ends
/// (and with it the connection) instead of waiting forever.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// One frame to send, and (stream, bytes of it sent once this frame is)
/// for the session's delivery count.
struct Item {
    frame: Frame,
    mark: Option<(usize, u64)>,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    /// Live bytes queued (replay is not counted against the cap).
    bytes: usize,
    /// No more items: drain, then close.
    finished: bool,
    /// The writer has stopped (the client is gone).
    dead: bool,
}

#[derive(Clone)]
pub struct Outbox {
    q: Arc<(Mutex<Queue>, Condvar)>,
    conn: Arc<File>,
}

/// What `push` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// The client had fallen too far behind (or is gone) and is let go.
    Dropped,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Outbox {
    /// Starts the writer for `conn`; `delivered(stream, upto)` is called
    /// (from the writer thread) as marked frames reach the socket.
    pub fn start(
        conn: File,
        delivered: impl Fn(usize, u64) + Send + 'static,
    ) -> std::io::Result<Outbox> {
        set_send_timeout(&conn, SEND_TIMEOUT)?;
        let ob = Outbox {
            q: Arc::new((Mutex::new(Queue::default()), Condvar::new())),
            conn: Arc::new(conn),
        };
        let w = ob.clone();
        std::thread::spawn(move || w.drain(delivered));
        Ok(ob)
    }

    fn drain(&self, delivered: impl Fn(usize, u64)) {
        let (m, cv) = &*self.q;
        loop {
            let item = {
                let mut q = lock(m);
                loop {
                    if let Some(item) = q.items.pop_front() {
                        if item.mark.is_some() {
                            q.bytes = q.bytes.saturating_sub(item.frame.payload.len());
                        }
                        break Some(item);
                    }
                    if q.finished {
                        break None;
                    }
                    q = cv.wait(q).unwrap_or_else(|p| p.into_inner());
                }
            };
            let Some(item) = item else { break };
            let mut conn: &File = &self.conn;
            if write_frame(&mut conn, &item.frame).is_err() {
                break;
            }
            if let Some((stream, upto)) = item.mark {
                delivered(stream, upto);
            }
        }
        let _ = (&*self.conn).flush();
        let mut q = lock(m);
        q.dead = true;
        q.items.clear();
        drop(q);
        self.shutdown();
    }

    /// Replayed output: queued whatever its size (it comes from the logs,
    /// read once at attach).
    pub fn replay(&self, frame: Frame, stream: usize, upto: u64) {
        self.enqueue(Item {
            frame,
            mark: Some((stream, upto)),
        });
    }

    /// Live output; past the cap the client is let go with a last word.
    pub fn push(&self, frame: Frame, stream: usize, upto: u64) -> Pushed {
        let (m, cv) = &*self.q;
        let mut q = lock(m);
        if q.dead || q.finished {
            return Pushed::Dropped;
        }
        if q.bytes + frame.payload.len() > CAP {
            q.items.push_back(Item {
                frame: Frame::response(&Response::Error {
                    message: format!(
                        "detached: this client fell {} MiB behind the session's output (it kept running; its logs have everything, and the next attach replays what was not sent)",
                        CAP >> 20
                    ),
                }),
                mark: None,
            });
            q.finished = true;
            cv.notify_all();
            return Pushed::Dropped;
        }
        q.bytes += frame.payload.len();
        q.items.push_back(Item {
            frame,
            mark: Some((stream, upto)),
        });
        cv.notify_all();
        Pushed::Queued
    }

    /// A last frame (the session's exit), then the end.
    pub fn finish(&self, last: Option<Frame>) {
        let (m, cv) = &*self.q;
        let mut q = lock(m);
        if let Some(frame) = last {
            q.items.push_back(Item { frame, mark: None });
        }
        q.finished = true;
        cv.notify_all();
    }

    fn enqueue(&self, item: Item) {
        let (m, cv) = &*self.q;
        let mut q = lock(m);
        if !q.dead {
            q.items.push_back(item);
            cv.notify_all();
        }
    }

    /// Ends the connection both ways (the attach's reader sees it too).
    pub fn shutdown(&self) {
        // SAFETY: shutdown(2) on a socket this outbox owns.
        unsafe {
            libc::shutdown(
                std::os::fd::AsRawFd::as_raw_fd(&*self.conn),
                libc::SHUT_RDWR,
            )
        };
    }
}

fn set_send_timeout(conn: &File, t: Duration) -> std::io::Result<()> {
    let tv = libc::timeval {
        tv_sec: t.as_secs() as libc::time_t,
        tv_usec: 0,
    };
    // SAFETY: setsockopt(2) with a timeval of the right size. A conn that
    // is not a socket (ENOTSOCK) is a test's pipe: no timeout is needed.
    let r = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(conn),
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOTSOCK) {
            return Err(e);
        }
    }
    Ok(())
}

//! Server-sent events for the pages: the daemon's change stream (topics a
//! page refetches on), a VM's console as it grows, a session's output as
//! the guest writes it. Each stream ends when its client goes or the
//! daemon stops (a graceful stop waits for open responses).

use super::text::plain;
use crate::api::ApiFailure;
use crate::events::Topic;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use banger_agent_proto::{FrameKind, read_frame_async};
use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

type Stream = Sse<axum::response::sse::KeepAliveStream<ReceiverStream<Result<Event, Infallible>>>>;

/// How much of a console or a session's output a page starts with.
const START_WINDOW: u64 = 64 * 1024;
/// Changes that come together reach a page as one event.
const COALESCE: Duration = Duration::from_millis(250);
/// Lines of a session's output a page starts with.
const START_LINES: u64 = 500;
const CONSOLE_POLL: Duration = Duration::from_millis(500);

/// A stream fed by `feed` until it returns, the client goes, or the daemon stops.
fn stream<F, Fut>(state: &AppState, feed: F) -> Stream
where
    F: FnOnce(mpsc::Sender<Result<Event, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(16);
    let mut stopping = state.shutdown.subscribe();
    let closed = tx.clone();
    let fed = feed(tx);
    tokio::spawn(async move {
        tokio::select! {
            _ = fed => {}
            _ = closed.closed() => {}
            _ = stopping.wait_for(|s| *s) => {}
        }
    });
    Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::default())
}

/// `GET /events`: `hello` at once (a page that reconnects refetches all),
/// then `change` with the topics that changed, at most every `COALESCE`.
pub async fn events(State(state): State<Arc<AppState>>) -> Stream {
    let mut sub = state.events.subscribe();
    stream(&state, |tx| async move {
        let hello = Event::default().event("hello").data(banger_api::VERSION);
        if tx.send(Ok(hello)).await.is_err() {
            return;
        }
        loop {
            let mut topics = BTreeSet::new();
            if !take(&mut sub, &mut topics).await {
                return;
            }
            let window = tokio::time::sleep(COALESCE);
            tokio::pin!(window);
            loop {
                tokio::select! {
                    _ = &mut window => break,
                    more = take(&mut sub, &mut topics) => if !more { return },
                }
            }
            let names: Vec<&str> = topics.iter().map(|t| t.as_str()).collect();
            let change = Event::default()
                .event("change")
                .data(serde_json::to_string(&names).expect("serializable"));
            if tx.send(Ok(change)).await.is_err() {
                return;
            }
        }
    })
}

/// The next topic into `topics`; every topic when this subscriber fell
/// behind. `false` when the daemon's stream is gone.
async fn take(sub: &mut broadcast::Receiver<Topic>, topics: &mut BTreeSet<Topic>) -> bool {
    match sub.recv().await {
        Ok(t) => {
            topics.insert(t);
            true
        }
        Err(broadcast::error::RecvError::Lagged(_)) => {
            topics.extend([
                Topic::Vms,
                Topic::Images,
                Topic::Kernels,
                Topic::Sessions,
                Topic::Workspaces,
                Topic::Metrics,
            ]);
            true
        }
        Err(broadcast::error::RecvError::Closed) => false,
    }
}

/// `GET /vms/{name}/console/live`: `reset` with the console's last 64 KiB
/// (across a rotation), then `data` as the guest prints. Read from the
/// end: a 2 GiB console costs what 64 KiB does.
pub async fn console(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Stream, ApiFailure> {
    let row =
        crate::vm::row(&state.store, &name).map_err(|e| ApiFailure::from_error(e.kind(), &e))?;
    let path = state.paths.vm_dir(&row.id).console();
    Ok(stream(&state, |tx| async move {
        let start = tokio::task::spawn_blocking({
            let path = path.clone();
            move || {
                let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                let (bytes, _) = crate::log_rotation::tail(&path, START_WINDOW);
                (bytes, len)
            }
        })
        .await;
        let Ok((bytes, mut offset)) = start else {
            return;
        };
        let reset = Event::default()
            .event("reset")
            .data(plain(&String::from_utf8_lossy(&bytes)));
        if tx.send(Ok(reset)).await.is_err() {
            return;
        }
        loop {
            tokio::time::sleep(CONSOLE_POLL).await;
            let p = path.clone();
            let read = tokio::task::spawn_blocking(move || {
                crate::vm::console::read_at(&p, offset, crate::vm::console::CHUNK)
            })
            .await;
            let Ok((bytes, len)) = read else { return };
            // Rotated since: what the guest wrote since is at the start.
            let from = if offset > len { 0 } else { offset };
            offset = from + bytes.len() as u64;
            if bytes.is_empty() {
                continue;
            }
            let data = Event::default()
                .event("data")
                .data(plain(&String::from_utf8_lossy(&bytes)));
            if tx.send(Ok(data)).await.is_err() {
                return;
            }
        }
    }))
}

/// `GET /vms/{name}/sessions/{session}/live`: `stdout` and `stderr` as the
/// session writes (starting with its last `START_LINES` lines of each),
/// `end` when it exits.
pub async fn session(
    State(state): State<Arc<AppState>>,
    Path((vm, name)): Path<(String, String)>,
) -> Result<Stream, ApiFailure> {
    let req = banger_api::session::SessionLogs {
        stream: None,
        tail: Some(START_LINES),
        follow: true,
    };
    let agent = crate::session::logs(&state.vm_env(), &vm, &name, req)
        .await
        .map_err(|e| ApiFailure::from_error(e.kind(), &e))?;
    Ok(stream(&state, |tx| async move {
        let mut agent = agent;
        loop {
            let text = |f: &banger_agent_proto::Frame| plain(&String::from_utf8_lossy(&f.payload));
            let (event, end) = match read_frame_async(&mut agent).await {
                Ok(Some(f)) => match f.kind {
                    FrameKind::Stdout => (Event::default().event("stdout").data(text(&f)), false),
                    FrameKind::Stderr => (Event::default().event("stderr").data(text(&f)), false),
                    FrameKind::Message => (
                        Event::default().event("end").data("the session ended"),
                        true,
                    ),
                    FrameKind::Stdin => continue,
                },
                _ => (
                    Event::default()
                        .event("end")
                        .data("the guest closed the stream"),
                    true,
                ),
            };
            if tx.send(Ok(event)).await.is_err() || end {
                return;
            }
        }
    }))
}

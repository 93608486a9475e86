//! Long operations answer with an NDJSON stream of `banger_api::Event`s.
//!
//! The work runs in its own task: a client that disconnects stops receiving
//! progress but does not abort the work half-way.

use super::ApiFailure;
use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use banger_api::{Event, routes};
use futures_util::StreamExt;
use serde::Serialize;
use std::convert::Infallible;
use std::future::Future;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Handed to the work so it can report progress.
#[derive(Debug)]
pub struct Progress<P, R> {
    tx: mpsc::Sender<Event<P, R>>,
}

impl<P, R> Clone for Progress<P, R> {
    fn clone(&self) -> Self {
        Progress {
            tx: self.tx.clone(),
        }
    }
}

impl<P, R> Progress<P, R> {
    pub async fn send(&self, progress: P) {
        // A gone client is fine: the work goes on.
        let _ = self.tx.send(Event::Progress { progress }).await;
    }

    /// Whether the client stopped reading (its connection closed).
    pub fn is_gone(&self) -> bool {
        self.tx.is_closed()
    }

    /// From blocking code. Progress is advisory: when the client reads
    /// slower than we work, intermediate updates are dropped, never waited on.
    pub fn try_send(&self, progress: P) {
        let _ = self.tx.try_send(Event::Progress { progress });
    }
}

pub fn streamed<P, R, F, Fut>(work: F) -> Response
where
    P: Serialize + Send + 'static,
    R: Serialize + Send + 'static,
    F: FnOnce(Progress<P, R>) -> Fut,
    Fut: Future<Output = Result<R, ApiFailure>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(64);
    let fut = work(Progress { tx: tx.clone() });
    tokio::spawn(async move {
        let last = match fut.await {
            Ok(result) => Event::Result { result },
            Err(failure) => Event::Error {
                error: failure.error,
            },
        };
        let _ = tx.send(last).await;
    });
    let body = ReceiverStream::new(rx).map(|e| Ok::<_, Infallible>(e.to_line()));
    (
        [(header::CONTENT_TYPE, routes::NDJSON)],
        Body::from_stream(body),
    )
        .into_response()
}

//! The HTTP/1.1 accept loop: one task per connection, graceful drain on shutdown.
//!
//! `axum::serve` would work, but it is the largest memory cost of a rush: per
//! accepted socket it rebuilds the router's route table (`Router::with_state`,
//! ~4.6 KB) and drives the connection through hyper-util's HTTP/1-or-2
//! sniffing connection, a future several KB larger than a plain HTTP/1.1 one.
//! With 500 members' sockets open that was ~7 MB of a 35 MB peak. Here every
//! connection shares the finished application (the router is an `Arc`) and speaks
//! HTTP/1.1, which is what the app and browsers use against this server.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::BoxError;
use axum::http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// A client gets this long to send a request's headers (slow-loris guard).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for in-flight requests at shutdown before giving up on them.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);
/// Pause after an accept error that is not one client's problem (e.g. no file
/// descriptors left), so the loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting,
/// lets every connection finish the request it is on (keep-alive connections
/// close after it) and returns once all have ended or 30 s have passed.
pub async fn run<S, B>(listener: TcpListener, app: S, shutdown: impl Future<Output = ()>)
where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    let http = Arc::new(http);
    let (stop, stopped) = watch::channel(false);
    // Every connection task holds a sender; `recv` returns `None` once all are gone.
    let (alive, mut all_closed) = mpsc::channel::<Infallible>(1);

    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    if !is_client_error(&error) {
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers are written whole; do not hold the last segment back.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let mut stopped = stopped.clone();
        let alive = alive.clone();
        tokio::spawn(async move {
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = async { drop(stopped.wait_for(|stop| *stop).await) } => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                // Clients hanging up mid-request are routine, not worth a warning.
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(alive);
        });
    }

    drop(listener);
    stop.send_replace(true);
    drop(alive);
    if tokio::time::timeout(DRAIN_LIMIT, all_closed.recv()).await.is_err() {
        tracing::warn!(limit = ?DRAIN_LIMIT, "some connections were still busy at shutdown; closing them");
    }
}

/// Accept errors that concern one connection only (it went away before we
/// took it), as opposed to the listener's own trouble.
fn is_client_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
    )
}

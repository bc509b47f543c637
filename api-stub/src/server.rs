//! The HTTP/1.1 accept loop: one task per connection, a slow-client guard and
//! graceful drain on shutdown.
//!
//! `axum::serve` would work, but it is the largest memory cost of a rush: per
//! accepted socket it rebuilds the router's route table (`Router::with_state`,
//! ~4.6 KB) and drives the connection through hyper-util's HTTP/1-or-2
//! sniffing connection, a future several KB larger than a plain HTTP/1.1 one.
//! With 500 members' sockets open that was ~7 MB of a 35 MB peak. Here every
//! connection shares the finished application (the router is an `Arc`) and speaks
//! HTTP/1.1, which is what the app and browsers use against this server.
//!
//! **Slow clients.** A connection that waits longer than
//! [`Limits::header_read`] for a request's head (an idle keep-alive
//! connection, or a head trickling in byte by byte) is closed, as hyper's
//! `header_read_timeout` would. hyper arms a timer per request for that,
//! ~1,200 of a capacity read's 18,600 user-space instructions (callgrind);
//! here each connection instead
//! notes, with one atomic store, since when it has been waiting, and one
//! supervisor task looks at every connection once a second (Node's HTTP
//! server checks its header timeout the same way). A connection is waiting
//! from its accept, and again once an answer's body has been written, until
//! the next request's head is read; a streaming answer (SSE) is not waiting.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::BoxError;
use axum::http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

/// Longest wait for in-flight requests at shutdown before giving up on them.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);
/// Pause after an accept error that is not one client's problem (e.g. no file
/// descriptors left), so the loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long a connection may wait for a request head, and how often that is checked.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A connection waiting longer than this for a request head is closed.
    pub header_read: Duration,
    /// How often the supervisor checks. Waiting is measured in whole ticks, so
    /// a slow connection is closed between `header_read` and
    /// `header_read + 3 × tick` after it started waiting, never before.
    pub tick: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { header_read: Duration::from_secs(30), tick: Duration::from_secs(1) }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting,
/// lets every connection finish the request it is on (keep-alive connections
/// close after it) and returns once all have ended or 30 s have passed.
pub async fn run<S, B>(listener: TcpListener, app: S, shutdown: impl Future<Output = ()>)
where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Unpin + Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Unpin + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    run_with(listener, app, shutdown, Limits::default()).await;
}

/// [`run`] with other [`Limits`] (tests use short ones).
pub async fn run_with<S, B>(listener: TcpListener, app: S, shutdown: impl Future<Output = ()>, limits: Limits)
where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Unpin + Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Unpin + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let http = Arc::new(http1::Builder::new());
    let supervisor = Arc::new(Supervisor::new(limits));
    let sweeping = tokio::spawn(Arc::clone(&supervisor).sweep());
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
        let (id, watch) = supervisor.register();
        let service = Watched { inner: app.clone(), watch: Arc::clone(&watch) };
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let (supervisor, alive) = (Arc::clone(&supervisor), alive.clone());
        tokio::spawn(async move {
            tokio::pin!(connection);
            let result = loop {
                tokio::select! {
                    result = connection.as_mut() => break result,
                    () = watch.signal.notified() => {
                        if supervisor.stopping.load(Ordering::Acquire) {
                            connection.as_mut().graceful_shutdown();
                            break connection.await;
                        }
                        if watch.waiting_since.load(Ordering::Relaxed) == SERVING {
                            // A request arrived as the supervisor looked: serve it.
                            continue;
                        }
                        // Waited too long for a request head: dropping the
                        // connection closes the socket.
                        tracing::debug!("closing a connection that sent no request in time");
                        break Ok(());
                    }
                }
            };
            if let Err(error) = result {
                // Clients hanging up mid-request are routine, not worth a warning.
                tracing::debug!(%error, "connection ended with an error");
            }
            supervisor.unregister(id);
            drop(alive);
        });
    }

    drop(listener);
    supervisor.stop_all();
    drop(alive);
    if tokio::time::timeout(DRAIN_LIMIT, all_closed.recv()).await.is_err() {
        tracing::warn!(limit = ?DRAIN_LIMIT, "some connections were still busy at shutdown; closing them");
    }
    sweeping.abort();
}

/// Accept errors that concern one connection only (it went away before we
/// took it), as opposed to the listener's own trouble.
fn is_client_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
    )
}

/// What the supervisor knows of one connection.
struct ConnectionWatch {
    /// The supervisor tick since which the connection has been waiting for a
    /// request head; [`SERVING`] while a request or its answer is in progress.
    waiting_since: AtomicU64,
    /// The supervisor's clock, in ticks.
    clock: Arc<AtomicU64>,
    /// Told once: the server is stopping, or the connection waited too long.
    signal: Notify,
}

/// `waiting_since` of a connection that is serving a request.
const SERVING: u64 = u64::MAX;

/// Every open connection, a coarse clock, and the shutdown flag.
struct Supervisor {
    limits: Limits,
    started: Instant,
    /// Whole ticks since `started`, advanced by [`Supervisor::sweep`].
    ticks: Arc<AtomicU64>,
    stopping: AtomicBool,
    next_id: AtomicU64,
    connections: Mutex<HashMap<u64, Arc<ConnectionWatch>>>,
}

impl Supervisor {
    fn new(limits: Limits) -> Self {
        Self {
            limits: Limits { tick: limits.tick.max(Duration::from_millis(1)), ..limits },
            started: Instant::now(),
            ticks: Arc::new(AtomicU64::new(0)),
            stopping: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            connections: Mutex::new(HashMap::new()),
        }
    }

    fn now(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }

    fn connections(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<ConnectionWatch>>> {
        self.connections.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new connection, waiting for its first request from now on.
    fn register(&self) -> (u64, Arc<ConnectionWatch>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let watch = Arc::new(ConnectionWatch {
            waiting_since: AtomicU64::new(self.now()),
            clock: Arc::clone(&self.ticks),
            signal: Notify::new(),
        });
        self.connections().insert(id, Arc::clone(&watch));
        (id, watch)
    }

    fn unregister(&self, id: u64) {
        self.connections().remove(&id);
    }

    /// Tells every connection to finish the request it is on and close.
    fn stop_all(&self) {
        self.stopping.store(true, Ordering::Release);
        for watch in self.connections().values() {
            watch.signal.notify_one();
        }
    }

    /// Once a tick: advances the clock and closes connections that have
    /// waited longer than the limit for a request head.
    async fn sweep(self: Arc<Self>) {
        // Whole ticks, plus one for a connection that read a clock one tick
        // stale: a connection is never closed before `header_read`.
        let limit = self.limits.header_read.as_nanos().div_ceil(self.limits.tick.as_nanos()) + 1;
        let limit = u64::try_from(limit).unwrap_or(u64::MAX);
        let mut ticker = tokio::time::interval(self.limits.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let elapsed = self.started.elapsed().as_nanos() / self.limits.tick.as_nanos();
            let now = u64::try_from(elapsed).unwrap_or(u64::MAX - 1);
            self.ticks.store(now, Ordering::Relaxed);
            if self.stopping.load(Ordering::Acquire) {
                continue;
            }
            for watch in self.connections().values() {
                let since = watch.waiting_since.load(Ordering::Relaxed);
                if since != SERVING && now.saturating_sub(since) > limit {
                    watch.signal.notify_one();
                }
            }
        }
    }
}

/// The application, noting for the supervisor when a connection starts
/// serving a request and when its answer has been written.
#[derive(Clone)]
struct Watched<S> {
    inner: S,
    watch: Arc<ConnectionWatch>,
}

impl<S, B> tower::Service<Request<Incoming>> for Watched<S>
where
    S: tower::Service<Request<Incoming>, Response = Response<B>>,
    S::Future: Unpin,
{
    type Response = Response<WatchedBody<B>>;
    type Error = S::Error;
    type Future = WatchedAnswer<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        // The head has been read: not waiting any more.
        self.watch.waiting_since.store(SERVING, Ordering::Relaxed);
        WatchedAnswer { answer: self.inner.call(request), done: Some(AnswerDone(Arc::clone(&self.watch))) }
    }
}

/// Marks its connection as waiting for the next request head when dropped:
/// hyper drops an answer's body once it has written all of it (or the
/// connection has failed).
struct AnswerDone(Arc<ConnectionWatch>);

impl Drop for AnswerDone {
    fn drop(&mut self) {
        let now = self.0.clock.load(Ordering::Relaxed);
        self.0.waiting_since.store(now, Ordering::Relaxed);
    }
}

/// The application's answer future; its body is wrapped in a [`WatchedBody`].
struct WatchedAnswer<F> {
    answer: F,
    done: Option<AnswerDone>,
}

impl<F, B, E> Future for WatchedAnswer<F>
where
    F: Future<Output = Result<Response<B>, E>> + Unpin,
{
    type Output = Result<Response<WatchedBody<B>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let answered = std::task::ready!(Pin::new(&mut self.answer).poll(cx));
        let done = self.done.take();
        Poll::Ready(answered.map(|response| response.map(|body| WatchedBody { body, _done: done })))
    }
}

/// An answer's body; the connection counts as serving until it is dropped.
struct WatchedBody<B> {
    body: B,
    _done: Option<AnswerDone>,
}

impl<B: Body + Unpin> Body for WatchedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use axum::body::Body as AxumBody;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    const LIMITS: Limits =
        Limits { header_read: Duration::from_millis(300), tick: Duration::from_millis(50) };

    /// A server with a plain route and a streaming one, and its address.
    async fn serve() -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let address = listener.local_addr().expect("an address");
        let app = Router::new().route("/", get(|| async { "hello" })).route(
            "/stream",
            get(|| async {
                // Three chunks 200 ms apart: longer than the header limit in all.
                let chunks = futures::stream::unfold(0, |n| async move {
                    if n == 3 {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Some((Ok::<_, Infallible>(format!("chunk {n}\n")), n + 1))
                });
                AxumBody::from_stream(chunks)
            }),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = crate::edge::layer(app);
        tokio::spawn(run_with(listener, app, async { drop(stopped.await) }, LIMITS));
        (address, stop)
    }

    /// Reads until the server closes the connection; what it sent and how long that took.
    async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<(String, Duration)> {
        let started = Instant::now();
        let mut received = Vec::new();
        let read = tokio::time::timeout(limit, stream.read_to_end(&mut received)).await;
        read.ok().map(|_| (String::from_utf8_lossy(&received).into_owned(), started.elapsed()))
    }

    #[tokio::test]
    async fn a_connection_that_sends_nothing_is_closed_after_the_header_limit() {
        let (address, _stop) = serve().await;
        let mut idle = TcpStream::connect(address).await.expect("connects");
        let (sent, after) =
            read_until_closed(&mut idle, Duration::from_secs(5)).await.expect("closed by the server");
        assert!(sent.is_empty());
        assert!(after >= Duration::from_millis(300), "not before the limit: {after:?}");
    }

    #[tokio::test]
    async fn a_head_trickling_in_is_cut_off() {
        let (address, _stop) = serve().await;
        let mut slow = TcpStream::connect(address).await.expect("connects");
        let mut closed = false;
        for byte in b"GET / HTTP/1.1\r\nHost: x\r\n".iter().cycle().take(40) {
            if slow.write_all(&[*byte]).await.is_err() {
                closed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let closed = closed || read_until_closed(&mut slow, Duration::from_secs(5)).await.is_some();
        assert!(closed, "a head that never ends is not waited for forever");
    }

    #[tokio::test]
    async fn a_busy_keep_alive_connection_and_a_long_streaming_answer_are_left_alone() {
        let (address, _stop) = serve().await;
        let mut client = TcpStream::connect(address).await.expect("connects");
        // Eight requests 100 ms apart: 800 ms in all, each wait under the limit.
        for _ in 0..8 {
            client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("sent");
            let mut answer = [0_u8; 1024];
            let read = client.read(&mut answer).await.expect("an answer");
            assert!(String::from_utf8_lossy(&answer[..read]).ends_with("hello"));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // A 600 ms streaming answer on a connection of its own.
        let mut streaming = TcpStream::connect(address).await.expect("connects");
        streaming
            .write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("sent");
        let (body, _) =
            read_until_closed(&mut streaming, Duration::from_secs(5)).await.expect("the answer ends");
        assert!(body.contains("chunk 2"), "the whole stream arrived: {body}");
    }

    #[tokio::test]
    async fn shutdown_closes_idle_connections_at_once() {
        let (address, stop) = serve().await;
        let mut idle = TcpStream::connect(address).await.expect("connects");
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop.send(()).expect("the server is running");
        let (_, after) = read_until_closed(&mut idle, Duration::from_secs(5)).await.expect("closed");
        assert!(after < Duration::from_millis(250), "not left to the header limit: {after:?}");
    }
}

//! The edge every request passes: request id, tracing span, CORS, one error shape.
//!
//! One small hand-written layer instead of four `tower-http` layers and a
//! `map_response`: those cost about a quarter of a capacity read (measured:
//! ~50k reads/s on one core without them, ~35k with them), mostly in cloning
//! the stack per request, building header maps and nested futures. This does
//! only what the API needs:
//!
//! - **Request id:** `x-request-id` is taken from the request or generated
//!   (a per-process prefix and a counter), recorded in the request's log span
//!   and echoed on the response. A generated id is not added to the request's
//!   headers: no handler reads it, and the insert cost every request ~250
//!   instructions (callgrind).
//! - **Logs:** a `request` span with method, path and request id around the
//!   whole request; each answer at DEBUG, server errors at WARN.
//! - **CORS** for the web app, any origin (the API uses bearer tokens, never
//!   cookies): `OPTIONS` is answered here as a preflight; other answers to a
//!   request with an `Origin` get `Access-Control-Allow-Origin: *` and the
//!   headers the app reads exposed.
//! - **Errors:** any error answer that is not JSON yet (a framework default)
//!   gets the API's error shape, see [`error::normalize_errors`].

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::error;
use crate::routes::bookings::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};

/// The request id header: taken from the request or generated, echoed on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

const ALLOW_METHODS: HeaderValue = HeaderValue::from_static("GET, POST, PATCH, DELETE, OPTIONS");
/// How long browsers may cache a preflight answer, seconds.
const PREFLIGHT_MAX_AGE: HeaderValue = HeaderValue::from_static("3600");

/// Wraps a service (the router) in the edge.
pub fn layer<S>(inner: S) -> Edge<S> {
    let allow_headers = [header::AUTHORIZATION, header::CONTENT_TYPE, header::IF_NONE_MATCH, IDEMPOTENCY_KEY];
    let expose_headers = [header::ETAG, header::LOCATION, REQUEST_ID, IDEMPOTENT_REPLAYED];
    Edge {
        inner,
        shared: Arc::new(Shared {
            id_prefix: crate::store::new_id("").chars().take(8).collect(),
            next_id: AtomicU64::new(1),
            allow_headers: header_list(&allow_headers),
            expose_headers: header_list(&expose_headers),
        }),
    }
}

fn header_list(names: &[HeaderName]) -> HeaderValue {
    let joined = names.iter().map(HeaderName::as_str).collect::<Vec<_>>().join(", ");
    HeaderValue::from_str(&joined).expect("header names joined by commas form a valid header value")
}

/// The edge around a service; see the module documentation.
#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    shared: Arc<Shared>,
}

struct Shared {
    id_prefix: String,
    next_id: AtomicU64,
    allow_headers: HeaderValue,
    expose_headers: HeaderValue,
}

impl Shared {
    fn new_request_id(&self) -> HeaderValue {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        // Not `format!`: this runs on every request, and `fmt` plus a second
        // copy cost ~2% of a capacity read.
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(n);
        let mut id = Vec::with_capacity(self.id_prefix.len() + 1 + digits.len());
        id.extend_from_slice(self.id_prefix.as_bytes());
        id.push(b'-');
        id.extend_from_slice(digits.as_bytes());
        HeaderValue::from_maybe_shared(bytes::Bytes::from(id))
            .expect("an id of base32 letters, a dash and digits is a valid header value")
    }

    fn preflight(&self) -> Response {
        (
            StatusCode::OK,
            [
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
                (header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS),
                (header::ACCESS_CONTROL_ALLOW_HEADERS, self.allow_headers.clone()),
                (header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE),
            ],
        )
            .into_response()
    }
}

impl<S, B> tower::Service<Request<B>> for Edge<S>
where
    S: tower::Service<Request<B>, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let request_id = match request.headers().get(&REQUEST_ID) {
            Some(id) => id.clone(),
            None => self.shared.new_request_id(),
        };
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.uri().path(),
            request_id = request_id.to_str().unwrap_or("-"),
        );
        let shared = Arc::clone(&self.shared);
        let is_preflight = request.method() == Method::OPTIONS;
        let cross_origin = request.headers().contains_key(header::ORIGIN);
        let started = Instant::now();
        let answer = (!is_preflight).then(|| span.in_scope(|| self.inner.call(request)));
        Box::pin(
            async move {
                let mut response = match answer {
                    Some(answer) => {
                        let Ok(response) = answer.await;
                        error::normalize_errors(response)
                    }
                    None => shared.preflight(),
                };
                let status = response.status();
                let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
                if status.is_server_error() {
                    tracing::warn!(status = status.as_u16(), latency_ms, "request failed");
                } else {
                    tracing::debug!(status = status.as_u16(), latency_ms, "answered");
                }
                let headers = response.headers_mut();
                headers.insert(REQUEST_ID, request_id);
                if cross_origin || is_preflight {
                    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
                    if !is_preflight {
                        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, shared.expose_headers.clone());
                    }
                }
                Ok(response)
            }
            .instrument(span),
        )
    }
}

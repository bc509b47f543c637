//! The two hottest routes, dispatched before the router.
//!
//! axum's router costs every request route matching, a map of path
//! parameters in the request's extensions, a clone of the boxed route and two
//! boxed futures: about a third of a capacity read's user-space instructions
//! (callgrind). Two routes carry nearly all the traffic, so [`Hot`] takes
//! them first and everything else goes to the router unchanged:
//!
//! - `GET /v1/gyms/{gym_id}/capacity`, what every open app polls: when the
//!   store holds a current rendering of the gym's capacity (the embedded
//!   store keeps one per gym until a booking changes it or its earliest slot
//!   ends), it is answered from it at once. Without one (an unknown gym, the
//!   PostgreSQL store, the first read after a change), the router answers and
//!   renders for the next read.
//! - `POST /v1/slots/{slot_id}/bookings`: the same extractors, in the same
//!   order, and the same handler as the route, called directly.
//!
//! A path whose id is empty or percent-encoded goes to the router, which
//! decodes it. This sits inside the [`crate::edge`], so request ids, CORS,
//! logs and the error shape are the same either way.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{Method, Request, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use futures::future::{Either, Ready, ready};

use crate::auth::Caller;
use crate::error::{ApiError, ApiQuery};
use crate::routes::bookings::{BookQuery, IdempotencyKey, bookings_create};
use crate::routes::gyms::capacity_answer;
use crate::state::AppState;

/// Takes the hot routes and passes everything else to `inner` (the router).
#[derive(Clone)]
pub struct Hot<S> {
    inner: S,
    state: AppState,
}

impl<S> Hot<S> {
    /// Wraps the router.
    pub fn new(inner: S, state: AppState) -> Self {
        Self { inner, state }
    }
}

/// The id between `prefix` and `suffix` of `path`, if it needs no decoding.
fn path_id<'a>(path: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    let id = path.strip_prefix(prefix)?.strip_suffix(suffix)?;
    (!id.is_empty() && !id.contains(['/', '%'])).then_some(id)
}

/// A booking, extracted as the route's handler declares it.
async fn book(mut parts: Parts, state: AppState, slot_id: String) -> Response {
    let answer = async {
        let caller = Caller::from_request_parts(&mut parts, &state).await?;
        let query = ApiQuery::<BookQuery>::from_request_parts(&mut parts, &state).await?;
        let key = IdempotencyKey::from_request_parts(&mut parts, &state).await?;
        bookings_create(State(state), caller, Path(slot_id), query, key).await
    };
    answer.await.unwrap_or_else(ApiError::into_response)
}

type Boxed = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S, B> tower::Service<Request<B>> for Hot<S>
where
    S: tower::Service<Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Either<Ready<Result<Response, Infallible>>, Boxed>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let path = request.uri().path();
        if request.method() == Method::GET
            && let Some(gym_id) = path_id(path, "/v1/gyms/", "/capacity")
            && let Some(rendered) = self.state.store.capacity_cached(gym_id, Utc::now())
        {
            let answer = capacity_answer(rendered, request.headers().get(header::IF_NONE_MATCH));
            return Either::Left(Either::Left(ready(Ok(answer))));
        }
        if request.method() == Method::POST
            && let Some(slot_id) = path_id(path, "/v1/slots/", "/bookings")
        {
            let slot_id = slot_id.to_owned();
            // The booking route reads no body: it is dropped, as the router would.
            let (parts, _body) = request.into_parts();
            let state = self.state.clone();
            return Either::Left(Either::Right(Box::pin(
                async move { Ok(book(parts, state, slot_id).await) },
            )));
        }
        Either::Right(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::path_id;

    #[test]
    fn only_plain_ids_between_the_prefix_and_the_suffix_are_taken() {
        let capacity = |path| path_id(path, "/v1/gyms/", "/capacity");
        assert_eq!(capacity("/v1/gyms/gym_downtown/capacity"), Some("gym_downtown"));
        assert_eq!(capacity("/v1/gyms//capacity"), None);
        assert_eq!(capacity("/v1/gyms/a/b/capacity"), None);
        assert_eq!(capacity("/v1/gyms/gym%5Fdowntown/capacity"), None);
        assert_eq!(capacity("/v1/gyms/gym_downtown/capacity/"), None);
        assert_eq!(capacity("/v1/gyms/gym_downtown/slots"), None);
        assert_eq!(capacity("/v2/gyms/gym_downtown/capacity"), None);
        assert_eq!(path_id("/v1/slots/slot_a/bookings", "/v1/slots/", "/bookings"), Some("slot_a"));
        assert_eq!(path_id("/v1/slots/slot_a/bookings/x", "/v1/slots/", "/bookings"), None);
    }
}

//! `ApiError`: every failure a handler can return, and how it looks on the wire.
//!
//! All errors leave as `{"error":{"code","message"}}` with the status of their
//! code. Domain refusals carry their own message; store and unexpected
//! failures become an opaque 500 (or 503) whose cause is logged exactly once,
//! here, with its whole source chain.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gym_core::wire::{Booking, ErrorBody, ErrorDetail};
use gym_core::{DomainError, ErrorCode};
use serde::de::DeserializeOwned;

use crate::store::StoreError;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A booking rule refused it.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// Bad JSON, types, headers or query.
    #[error("{0}")]
    InvalidRequest(String),
    /// Missing or bad token.
    #[error("{0}")]
    Unauthorized(String),
    /// Wrong email or password.
    #[error("wrong email or password")]
    InvalidCredentials,
    /// Not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// No such route.
    #[error("no route {0}")]
    NotFound(String),
    /// Method not supported on this route.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Body too large.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// The store cannot take the request now.
    #[error("{0}")]
    StoreUnavailable(String),
    /// Anything else; details are logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Domain(error) => Self::Domain(error),
            StoreError::Unavailable(reason) => Self::StoreUnavailable(reason),
            StoreError::Internal(error) => Self::Internal(error),
        }
    }
}

impl ApiError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Domain(error) => error.code(),
            Self::InvalidRequest(_) => ErrorCode::InvalidRequest,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::StoreUnavailable(_) => ErrorCode::StoreUnavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }
}

/// Builds the JSON error response for a code and message.
pub fn error_response(code: ErrorCode, message: String, booking: Option<Booking>) -> Response {
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = ErrorBody { error: ErrorDetail { code, message, booking } };
    let mut response = (status, axum::Json(body)).into_response();
    if code == ErrorCode::Unauthorized {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        match self {
            Self::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error");
                error_response(code, "something went wrong on our side; please try again".into(), None)
            }
            Self::StoreUnavailable(reason) => {
                tracing::warn!(%reason, "store unavailable");
                error_response(
                    code,
                    "the booking store is unavailable right now; nothing was changed, please retry".into(),
                    None,
                )
            }
            Self::Domain(DomainError::AlreadyBooked(booking)) => {
                let message = DomainError::AlreadyBooked(booking.clone()).to_string();
                error_response(code, message, Some(*booking))
            }
            other => error_response(code, other.to_string(), None),
        }
    }
}

/// `Json<T>` that answers bad bodies in our error shape (400 or 413).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::PayloadTooLarge;
    }
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::InvalidRequest("expected a JSON body with `Content-Type: application/json`".into())
        }
        JsonRejection::JsonSyntaxError(error) => {
            ApiError::InvalidRequest(format!("malformed JSON: {}", error.body_text()))
        }
        JsonRejection::JsonDataError(error) => {
            ApiError::InvalidRequest(format!("invalid JSON data: {}", error.body_text()))
        }
        other => ApiError::InvalidRequest(other.body_text()),
    }
}

/// `Query<T>` that answers bad query strings in our error shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|rejection: QueryRejection| {
                ApiError::InvalidRequest(format!("bad query: {}", rejection.body_text()))
            })
    }
}

/// Fallback for paths no route matches.
pub async fn route_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(uri.path().chars().take(200).collect())
}

/// Fallback for known paths with an unsupported method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Gives any error response that is not already JSON (from a layer or a
/// framework default) our error shape, so clients only ever parse one shape.
pub fn normalize_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        return response;
    }
    let code = match status {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::StoreUnavailable,
        status if status.is_client_error() => ErrorCode::InvalidRequest,
        _ => ErrorCode::Internal,
    };
    let message = status.canonical_reason().unwrap_or("error").to_lowercase();
    let mut normalized = error_response(code, message, None);
    *normalized.status_mut() = status;
    if let Some(allow) = response.headers().get(header::ALLOW) {
        normalized.headers_mut().insert(header::ALLOW, allow.clone());
    }
    normalized
}

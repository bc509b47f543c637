//! `POST /v1/auth/login`: demo members sign in with email and password.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use gym_core::wire::{Claims, LoginRequest, LoginResponse};

use crate::auth::{decoy_hash, verify_password};
use crate::error::{ApiError, ApiJson};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/auth/login", post(auth_login))
}

/// Checks the password and returns a token. Unknown emails and wrong
/// passwords get the same answer after the same work.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, description = "invalid_credentials", body = gym_core::wire::ErrorBody),
        (status = 400, description = "invalid_request", body = gym_core::wire::ErrorBody)))]
pub async fn auth_login(
    State(state): State<AppState>,
    ApiJson(login): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let email = login.email.trim().to_owned();
    if email.is_empty() || email.len() > 254 || login.password.len() > 1024 {
        return Err(ApiError::InvalidCredentials);
    }
    let account = state.store.account_by_email(&email).await?;
    let stored_hash =
        account.as_ref().map_or_else(decoy_hash, |account| account.password_hash.as_str().into());
    let password = login.password;
    // Argon2 is deliberately slow: keep it off the async workers.
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &stored_hash))
        .await
        .map_err(|error| ApiError::Internal(error.into()))?;
    let Some(account) = account.filter(|_| matches) else {
        return Err(ApiError::InvalidCredentials);
    };
    let claims = Claims {
        sub: account.member.id.to_string(),
        exp: (Utc::now() + state.config.token_ttl).timestamp(),
        role: account.role,
        name: Some(account.member.name.clone()),
    };
    Ok(Json(LoginResponse { token: state.jwt.sign(&claims), member: account.member }))
}

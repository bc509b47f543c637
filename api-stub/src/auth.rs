//! Authentication: HS256 JWTs, the `Member`/`Operator` extractors, passwords.
//!
//! Tokens are checked by hand rather than with a general JWT library: we
//! accept exactly one algorithm (HS256), so the header check is a string
//! comparison, `alg: none` and algorithm confusion are impossible by
//! construction, and verification is one HMAC over the token (cheap on the
//! booking hot path).

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use gym_core::MemberId;
use gym_core::ids::MAX_ID_LEN;
use gym_core::wire::{Claims, Role};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::ApiError;
use crate::state::AppState;

type HmacSha256 = Hmac<Sha256>;

/// Tolerated clock difference between the issuer and us when checking `exp`.
const EXPIRY_LEEWAY_SECS: i64 = 30;
/// Longest token accepted, bytes; real ones are a few hundred.
const MAX_TOKEN_LEN: usize = 4096;

/// Signs and verifies tokens with the configured secret.
#[derive(Clone)]
pub struct JwtKeys {
    /// The keyed MAC, set up once; cloned per use (a copy of a few words).
    mac: HmacSha256,
}

/// Why a token was refused. Never shown in detail to clients beyond a short reason.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts, or unreadable JSON.
    #[error("malformed token")]
    Malformed,
    /// An algorithm other than HS256.
    #[error("unsupported token algorithm")]
    Algorithm,
    /// The signature does not match.
    #[error("bad token signature")]
    Signature,
    /// `exp` is in the past.
    #[error("token expired")]
    Expired,
    /// `sub` is empty or too long.
    #[error("token has no usable subject")]
    Subject,
}

/// `{"alg":"HS256","typ":"JWT"}`, base64url: the header of every token we sign.
const SIGNED_HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

#[derive(serde::Deserialize)]
struct Header<'a> {
    alg: &'a str,
}

impl JwtKeys {
    /// Keys for a secret.
    pub fn new(secret: &[u8]) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
        Self { mac }
    }

    /// Signs claims into a compact JWT.
    pub fn sign(&self, claims: &Claims) -> String {
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let mut token = String::with_capacity(256);
        token.push_str(SIGNED_HEADER);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(payload));
        let mut mac = self.mac.clone();
        mac.update(token.as_bytes());
        let signature = mac.finalize().into_bytes();
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        token
    }

    /// Verifies a compact JWT and returns its claims.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        // Tokens we signed carry exactly this header; anything else is decoded
        // and must still say HS256 (this check runs on every booking).
        if header != SIGNED_HEADER {
            let header_json = URL_SAFE_NO_PAD.decode(header).map_err(|_| TokenError::Malformed)?;
            let header_value: Header<'_> =
                serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;
            if header_value.alg != "HS256" {
                return Err(TokenError::Algorithm);
            }
        }
        let mut signature_bytes = [0_u8; 64];
        let signature_len = URL_SAFE_NO_PAD
            .decode_slice(signature, &mut signature_bytes)
            .map_err(|_| TokenError::Malformed)?;
        let signature = &signature_bytes[..signature_len];
        let mut mac = self.mac.clone();
        mac.update(header.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        // verify_slice compares in constant time.
        mac.verify_slice(signature).map_err(|_| TokenError::Signature)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if claims.exp + EXPIRY_LEEWAY_SECS <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        if claims.sub.is_empty() || claims.sub.len() > MAX_ID_LEN {
            return Err(TokenError::Subject);
        }
        Ok(claims)
    }
}

/// The caller of a member route, from a verified bearer token.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Member id (`sub`).
    pub member_id: MemberId,
    /// Role.
    pub role: Role,
}

impl Caller {
    /// Whether the caller has staff rights.
    pub fn is_operator(&self) -> bool {
        self.role == Role::Operator
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?;
        let header =
            header.to_str().map_err(|_| ApiError::Unauthorized("malformed Authorization header".into()))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::Unauthorized("expected `Authorization: Bearer <token>`".into()))?;
        let claims = state
            .jwt
            .verify(token.trim(), Utc::now())
            .map_err(|error| ApiError::Unauthorized(error.to_string()))?;
        Ok(Self { member_id: MemberId::new(claims.sub), role: claims.role })
    }
}

/// The caller of an operator route: a verified token with the operator role.
#[derive(Clone, Debug)]
pub struct Operator(pub Caller);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if !caller.is_operator() {
            return Err(ApiError::Forbidden("this needs an operator account".into()));
        }
        Ok(Self(caller))
    }
}

/// Argon2id with 7 MiB of memory and 5 passes: one of OWASP's recommended
/// settings, equivalent in strength to 19 MiB × 2 but with a third of the
/// memory per login, which keeps the server's footprint small.
fn argon2() -> Argon2<'static> {
    let params = argon2::Params::new(7 * 1024, 5, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// Hashes a password into a PHC string (argon2id, random salt).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let hash = argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|error| anyhow::anyhow!("hashing a password: {error}"))?;
    Ok(hash.to_string())
}

/// Checks a password against a stored PHC string, with the parameters the
/// string records. Unreadable hashes fail.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| argon2().verify_password(password.as_bytes(), &hash).is_ok())
        .unwrap_or(false)
}

/// A hash checked when the email is unknown, so a wrong email costs as much
/// time as a wrong password and does not reveal which accounts exist.
pub fn decoy_hash() -> Arc<str> {
    Arc::from(DECOY_HASH)
}

/// The hash of a random string nobody knows, with our parameters.
const DECOY_HASH: &str =
    "$argon2id$v=19$m=7168,t=5,p=1$GM65dvAQdYI1aCK1+jUNcA$VImhBwV9Y9gkkf659rKmUlRHnn+ml4BEJ6ocfGNOJus";

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims { sub: "mbr_alex".into(), exp, role: Role::Member, name: None }
    }

    #[test]
    fn the_signed_header_constant_is_the_encoded_standard_header() {
        assert_eq!(SIGNED_HEADER, URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#));
    }

    #[test]
    fn a_signed_token_verifies_and_keeps_its_claims() {
        let keys = JwtKeys::new(b"secret");
        let now = Utc::now();
        let token = keys.sign(&claims(now.timestamp() + 60));
        assert_eq!(keys.verify(&token, now).map(|c| c.sub), Ok("mbr_alex".into()));
    }

    #[test]
    fn tampered_foreign_expired_and_unsigned_tokens_are_refused() {
        let keys = JwtKeys::new(b"secret");
        let now = Utc::now();
        let good = keys.sign(&claims(now.timestamp() + 60));
        let foreign = JwtKeys::new(b"other").sign(&claims(now.timestamp() + 60));
        assert_eq!(keys.verify(&foreign, now), Err(TokenError::Signature));
        let expired = keys.sign(&claims(now.timestamp() - 120));
        assert_eq!(keys.verify(&expired, now), Err(TokenError::Expired));
        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let body = good.split('.').nth(1).unwrap_or_default();
        assert_eq!(keys.verify(&format!("{none_header}.{body}."), now), Err(TokenError::Algorithm));
        assert_eq!(keys.verify("not-a-token", now), Err(TokenError::Malformed));
        let mut tampered = good.clone();
        tampered.insert(good.len() / 2, 'x');
        assert!(keys.verify(&tampered, now).is_err());
    }

    #[test]
    fn the_decoy_hash_is_readable_and_matches_nothing_obvious() {
        assert!(PasswordHash::new(DECOY_HASH).is_ok());
        assert!(!verify_password("", DECOY_HASH));
        assert!(!verify_password("demo1234", DECOY_HASH));
    }

    #[test]
    fn passwords_verify_against_their_hash_only() {
        let hash = hash_password("demo1234").expect("hashing works");
        assert!(verify_password("demo1234", &hash));
        assert!(!verify_password("demo12345", &hash));
        assert!(!verify_password("demo1234", "not a hash"));
    }
}

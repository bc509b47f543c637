//! The signed-in member: token, profile, expiry; kept across restarts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gym_core::wire::{Claims, LoginResponse, Member};
use serde::{Deserialize, Serialize};

use crate::platform;

/// A signed-in member.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Bearer token.
    pub token: String,
    /// Who.
    pub member: Member,
    /// Token expiry, seconds since the epoch.
    pub expires_at: i64,
}

impl Session {
    /// A session from a login answer; the expiry is read from the token.
    pub fn from_login(login: LoginResponse) -> Self {
        let expires_at = token_expiry(&login.token).unwrap_or(i64::MAX);
        Self { token: login.token, member: login.member, expires_at }
    }

    /// Whether the token has expired at `now` (seconds since the epoch).
    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.expires_at
    }

    /// The member's first name, for greetings.
    pub fn first_name(&self) -> &str {
        self.member.name.split_whitespace().next().unwrap_or(&self.member.name)
    }
}

/// The `exp` claim of a JWT, read without verifying (the server verifies).
pub fn token_expiry(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Claims>(&bytes).ok().map(|claims| claims.exp)
}

const KEY: &str = "session.json";

/// The session saved by an earlier run, if any.
pub fn load() -> Option<Session> {
    serde_json::from_str(&platform::load(KEY)?).ok()
}

/// Saves (or with `None` forgets) the session.
pub fn save(session: Option<&Session>) {
    let json = session.and_then(|session| serde_json::to_string(session).ok());
    platform::store(KEY, json.as_deref());
}

#[cfg(test)]
mod tests {
    use gym_core::MemberId;

    use super::*;

    fn token_with_exp(exp: i64) -> String {
        let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"mbr_alex","exp":{exp},"role":"member"}}"#));
        format!("eyJhbGciOiJIUzI1NiJ9.{payload}.sig")
    }

    #[test]
    fn the_expiry_is_read_from_the_token() {
        let login = LoginResponse {
            token: token_with_exp(1_800_000_000),
            member: Member {
                id: MemberId::new("mbr_alex"),
                name: "Alex Rivera".into(),
                email: "alex@demo.gym".into(),
            },
        };
        let session = Session::from_login(login);
        assert_eq!(session.expires_at, 1_800_000_000);
        assert!(!session.is_expired(1_799_999_999));
        assert!(session.is_expired(1_800_000_000));
        assert_eq!(session.first_name(), "Alex");
        assert_eq!(token_expiry("garbage"), None);
    }
}

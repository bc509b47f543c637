//! `AppState`: the cheap handles every handler gets.

use std::sync::Arc;

use tokio::sync::watch;

use crate::auth::JwtKeys;
use crate::config::Config;
use crate::store::Store;

/// Shared state of the server; cloning copies a few pointers.
#[derive(Clone)]
pub struct AppState {
    /// The storage seam.
    pub store: Store,
    /// Token signing and verification.
    pub jwt: Arc<JwtKeys>,
    /// Settings the handlers need (token lifetime).
    pub config: Arc<Config>,
    /// Flips to `true` when the server starts shutting down, so long-lived
    /// responses (SSE streams) end and graceful shutdown can complete.
    pub shutdown: Arc<watch::Sender<bool>>,
}

impl AppState {
    /// State over an opened store.
    pub fn new(store: Store, jwt: JwtKeys, config: Config) -> Self {
        Self {
            store,
            jwt: Arc::new(jwt),
            config: Arc::new(config),
            shutdown: Arc::new(watch::channel(false).0),
        }
    }
}

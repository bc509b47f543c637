//! `AppState`: the cheap handle every handler gets.

use std::ops::Deref;
use std::sync::Arc;

use tokio::sync::watch;

use crate::auth::JwtKeys;
use crate::config::Config;
use crate::store::Store;

/// Shared state of the server, behind one reference count. axum clones the
/// state for every request (for the handler and for each `State` extractor):
/// a struct of four `Arc`s cost four increments and four decrements per
/// clone, this costs one of each. Fields are reached through `Deref`
/// (`state.store`).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] points to.
pub struct Shared {
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
        Self(Arc::new(Shared {
            store,
            jwt: Arc::new(jwt),
            config: Arc::new(config),
            shutdown: Arc::new(watch::channel(false).0),
        }))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

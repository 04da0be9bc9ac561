//! Canopy's HTTP server: a JSON REST API over a store's branches, live watches as server-sent
//! events, and per-branch access control by token. One process serves it all: the Git smart
//! HTTP endpoints (`/git`, issue 7) are meant to be added to the same [`router`].
//!
//! The library underneath is synchronous; every call into it runs on Tokio's blocking pool
//! ([`error::blocking`]), so a slow disk never stalls the reactor. Requests are bounded
//! ([`Limits`]): body size (413), time to send the headers and to finish a request, requests
//! in flight (503 beyond), connections, and watch streams (503 beyond), so a slow or greedy
//! client cannot starve the others.
//!
//! Start it from Rust:
//!
//! ```no_run
//! # async fn run() -> Result<(), canopy_server::ServeError> {
//! let repo = canopy::Repo::open("canopy-data")?;
//! let opts = canopy_server::ServeOptions::new(repo, "127.0.0.1:8080".parse().unwrap());
//! canopy_server::serve(opts).await
//! # }
//! ```
//!
//! or mount [`router`] in a test and drive it in-process.
//!
//! # Adding endpoints (the Git routes)
//!
//! Handlers take `State<AppState>`; [`AppState::repo`] is the store and [`AppState::auth`]
//! the policy. A Git handler authenticates with
//! `state.auth().authenticate(&headers, Challenge::Basic)` (401 with a Basic challenge, so
//! `git` asks for credentials), then asks [`auth::Identity::can`]`(branch, Access::Write)` for
//! each ref a push updates, refusing the refs it may not write. Take
//! [`AppState::lock_branch`] around a ref update so that it queues behind this server's other
//! writes to that branch instead of racing them, and call [`AppState::notify`] after moving a
//! branch so that watchers see the change at once (they would within the poll interval anyway). Add the routes in [`router`] inside
//! the `limited` group so they share the limits.

pub mod api;
pub mod auth;
pub mod error;
mod git;
pub mod limits;
pub mod openapi;
mod server;
pub mod tokens;
pub mod ui;
pub mod watch;

use std::collections::HashMap;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use canopy::Repo;

pub use error::ApiError;
pub use limits::Limits;
pub use server::{serve, serve_blocking, ServeError, ServeOptions, Server};

use auth::Auth;
use tokens::TokenStore;

/// What every handler shares: the store, the access policy, the limits and the watch hub.
/// Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    repo: Repo,
    auth: Auth,
    limits: Limits,
    requests: Arc<tokio::sync::Semaphore>,
    watches: Arc<tokio::sync::Semaphore>,
    hub: watch::Hub,
    writers: Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

/// Held while this server writes to one branch; see [`AppState::lock_branch`].
pub struct BranchLock {
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    name: String,
    writers: Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl Drop for BranchLock {
    fn drop(&mut self) {
        self.guard.take();
        // Forget the lock once nobody holds or waits for it, so the map stays small.
        let mut writers = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        if writers.get(&self.name).is_some_and(|m| Arc::strong_count(m) == 1) {
            writers.remove(&self.name);
        }
    }
}

impl AppState {
    /// State for serving `repo`. `anonymous`: whether to allow everything while no token is
    /// defined (only right when listening on loopback, or when the operator said so).
    pub fn new(repo: Repo, anonymous: bool, limits: Limits) -> AppState {
        let auth = Auth::new(TokenStore::for_repo(&repo), anonymous);
        AppState::with_auth(repo, auth, limits)
    }

    /// State for serving `repo` with the access policy `auth`.
    pub fn with_auth(repo: Repo, auth: Auth, limits: Limits) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                hub: watch::Hub::new(repo.clone(), limits.watch_poll_interval),
                writers: Arc::default(),
                requests: Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent_requests)),
                watches: Arc::new(tokio::sync::Semaphore::new(limits.max_watch_connections)),
                repo,
                auth,
                limits,
            }),
        }
    }

    pub fn repo(&self) -> &Repo {
        &self.inner.repo
    }

    pub fn auth(&self) -> &Auth {
        &self.inner.auth
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Tells watchers of `branch` that it may have moved (they re-read the head).
    pub fn notify(&self, branch: &str) {
        self.inner.hub.notify(branch);
    }

    /// Queues this request behind the server's other writes to `branch` (first come, first
    /// served), for operations that read, decide and then write (a queue pop, a merge), which
    /// the library's commit chaining cannot combine. Plain value writes go without it: the
    /// library chains concurrent commits to a branch and publishes them together.
    pub async fn lock_branch(&self, branch: &str) -> BranchLock {
        let mutex = {
            let mut writers = self.inner.writers.lock().unwrap_or_else(|p| p.into_inner());
            writers.entry(branch.to_string()).or_default().clone()
        };
        BranchLock {
            guard: Some(mutex.lock_owned().await),
            name: branch.to_string(),
            writers: self.inner.writers.clone(),
        }
    }

    pub(crate) fn hub(&self) -> &watch::Hub {
        &self.inner.hub
    }

    pub(crate) fn request_slots(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.inner.requests
    }

    pub(crate) fn watch_slots(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.inner.watches
    }
}

/// Paths of the JSON API served outside [`api::routes`].
const HEALTHZ: &str = "/healthz";
const OPENAPI: &str = "/api/v1/openapi.json";
const WATCH: &str = "/api/v1/branches/{branch}/watch";

/// Every path of the JSON API that [`router`] serves, as the OpenAPI document writes it (the
/// web UI and the Git endpoints are not part of it).
pub fn served_paths() -> Vec<&'static str> {
    let mut paths = api::paths();
    paths.extend([HEALTHZ, OPENAPI, WATCH]);
    paths
}

/// Every route of the server. Ordinary requests share the request limits (slots, time, body
/// size); watch streams are long-lived and have their own limit instead.
pub fn router(state: AppState) -> Router {
    let documented = api::routes()
        .route(OPENAPI, get(openapi::serve_document))
        .route_layer(axum::middleware::from_fn(api::known_query));
    let limited = documented
        .merge(ui::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::limit_requests,
        ));
    let streams = Router::new()
        .route(WATCH, get(watch::watch))
        .route_layer(axum::middleware::from_fn(api::known_query));
    // Health checks answer even when every request slot is taken.
    let health = Router::new()
        .route(HEALTHZ, get(healthz))
        .route_layer(axum::middleware::from_fn(api::known_query));
    Router::new()
        .merge(health)
        .merge(git::routes())
        .merge(limited)
        .merge(streams)
        .fallback(api::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(
            state.limits().max_body_bytes,
        ))
        .with_state(state)
}

/// 200 `{"status": "ok"}` when a write could proceed now, else 503 with the reason
/// (`Repo::check_writable`): a load balancer stops sending writes to a server whose disk is full
/// or whose branch is locked for good.
#[utoipa::path(get, path = "/healthz", operation_id = "health", tag = "meta", security(()),
    summary = "Whether writes can proceed: objects and references writable, disk not full, the default branch not locked for good (a stale lock is recovered on the way)",
    responses((status = 200, description = "The server is up and a write could proceed", body = canopy_wire::api::Health),
        (status = 503, description = "Writes cannot proceed", body = canopy_wire::api::Unhealthy)))]
async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let repo = state.repo().clone();
    let checked = tokio::task::spawn_blocking(move || repo.check_writable())
        .await
        .unwrap_or_else(|e| {
            Err(canopy::store::NotWritable {
                code: "internal",
                message: e.to_string(),
            })
        });
    match checked {
        Ok(()) => axum::Json(canopy_wire::api::Health { status: "ok".into() }).into_response(),
        Err(e) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(canopy_wire::api::Unhealthy {
                status: "unavailable".into(),
                error: canopy_wire::api::ErrorDetail {
                    code: e.code.to_string(),
                    message: without_store_path(state.repo(), &e.message),
                },
            }),
        )
            .into_response(),
    }
}

/// `message` with the store's own location left out (files are named relative to the store):
/// where the server keeps its data is not the caller's business.
fn without_store_path(repo: &canopy::Repo, message: &str) -> String {
    let Some(layout) = repo.layout() else {
        return message.to_string();
    };
    let mut out = message.to_string();
    let dirs = [Some(layout.git_dir.clone()), layout.git_dir.canonicalize().ok()];
    for dir in dirs.into_iter().flatten() {
        let mut prefix = dir.display().to_string();
        prefix.push('/');
        out = out.replace(&prefix, "");
        out = out.replace(&dir.display().to_string(), ".");
    }
    out
}

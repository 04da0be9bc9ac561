//! Listening: the accept loop, HTTP/1.1 connections with a header read timeout, a bound on
//! open connections, the loopback rule for anonymous access, and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::tokens::{TokenError, TokenStore};
use crate::{router, AppState, Limits};

/// How to serve a store.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub repo: canopy::Repo,
    pub addr: SocketAddr,
    /// Let everyone in while no token is defined, even on a non-loopback address.
    pub allow_anonymous: bool,
    pub limits: Limits,
}

impl ServeOptions {
    pub fn new(repo: canopy::Repo, addr: SocketAddr) -> ServeOptions {
        ServeOptions {
            repo,
            addr,
            allow_anonymous: false,
            limits: Limits::default(),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to listen on {0} without access tokens: create one with `canopy token create`, or pass --allow-anonymous"
    )]
    AnonymousRefused(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tokens(#[from] TokenError),
    #[error(transparent)]
    Store(#[from] canopy::store::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    state: AppState,
}

impl Server {
    /// Binds `opts.addr` (port 0 picks a free one). Refuses a non-loopback address while no
    /// token is defined, unless `allow_anonymous`.
    pub async fn bind(opts: ServeOptions) -> Result<Server, ServeError> {
        let loopback = opts.addr.ip().is_loopback();
        let no_tokens = TokenStore::for_repo(&opts.repo).is_empty()?;
        if !loopback && no_tokens && !opts.allow_anonymous {
            return Err(ServeError::AnonymousRefused(opts.addr));
        }
        let listener = TcpListener::bind(opts.addr)
            .await
            .map_err(|source| ServeError::Bind {
                addr: opts.addr,
                source,
            })?;
        // A loopback server without tokens serves only this machine's own clients; one opened
        // with --allow-anonymous serves anyone, whatever they call it.
        let auth = crate::auth::Auth::new(TokenStore::for_repo(&opts.repo), loopback || opts.allow_anonymous)
            .local_only(!opts.allow_anonymous);
        let state = AppState::with_auth(opts.repo, auth, opts.limits);
        Ok(Server { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until Ctrl-C (or SIGTERM).
    pub async fn run(self) -> Result<(), ServeError> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then stops accepting and gives open requests a few
    /// seconds to finish.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> Result<(), ServeError> {
        let limits = self.state.limits().clone();
        let app = router(self.state.clone());
        let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
        let graceful = GracefulShutdown::new();
        tokio::pin!(signal);
        loop {
            let Ok(slot) = connections.clone().acquire_owned().await else {
                break;
            };
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little, keep serving.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut signal => break,
            };
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(app.clone());
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(TokioIo::new(stream), service);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                drop(slot);
            });
        }
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
        Ok(())
    }
}

/// Binds and serves `opts` until Ctrl-C.
pub async fn serve(opts: ServeOptions) -> Result<(), ServeError> {
    Server::bind(opts).await?.run().await
}

/// Binds and serves `opts` on a Tokio runtime of its own until Ctrl-C or SIGTERM, for callers
/// that are not async (the CLI). `on_ready` is told the bound address once it accepts
/// connections.
pub fn serve_blocking(opts: ServeOptions, on_ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    limit_malloc_arenas();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let server = Server::bind(opts).await?;
        on_ready(server.local_addr()?);
        server.run().await
    })
}

/// Caps glibc's malloc arenas at the number of cores (its default allows eight per core),
/// unless `MALLOC_ARENA_MAX` is set. Threads spread their allocations over arenas, and memory
/// freed inside many half-used arenas is not given back to the system: after a burst of watch
/// streams the server kept 2–3× its idle memory with the default, a few hundred KiB more than
/// idle with this cap (see SECURITY.md). Called before the runtime starts its threads.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none_or(|v| v.is_empty()) {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only changes a malloc tunable; it is safe to call at any time.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

//! Synchronisation over Git's smart protocol, as server and as client.
//!
//! Everything here is sans-IO: functions take byte readers and return bytes (or write into a
//! `Write`), so the same code serves `canopy serve` (HTTP, in `canopy-server`), the CLI (local
//! paths and `file://` run the other repository's server code in-process; HTTP goes through
//! [`client::HttpTransport`] with the `http-client` feature) and, later, the browser.
//!
//! - [`pktline`]: pkt-line framing and side-band multiplexing, with Git's length limits.
//! - [`caps`]: capability lists.
//! - [`check`]: what `git fsck --strict` refuses in received objects (plus `verify_path`).
//! - [`ingest`]: receiving a pack into quarantine (hash, check, complete thin packs, index),
//!   installing it as `.pack` + `.idx` only once everything passed.
//! - [`pack`]: choosing objects (wants minus haves, shallow depth, `blob:none`) and writing a
//!   pack `git index-pack --strict` accepts; [`reuse`] copies stored entries (and deltas whose
//!   base is sent) instead of recompressing.
//! - [`upload`]: upload-pack, protocol v2 (`ls-refs`, `fetch`) and v0/v1.
//! - [`receive`]: receive-pack (report-status v1/v2, side-band-64k, delete-refs, atomic,
//!   push options, quiet); refs move by compare-and-swap after the pack is installed.
//! - [`http`]: the smart-HTTP endpoints as plain functions (status, content type, body).
//! - [`client`]: clone, fetch (v2), push (v0 receive-pack), remotes.

pub mod caps;
pub mod check;
pub mod client;
mod format;
pub mod http;
pub mod ingest;
pub mod pack;
pub mod pktline;
pub mod receive;
pub mod reuse;
pub mod shallow;
#[cfg(test)]
mod tests;
pub mod upload;

use crate::object::ObjectId;

/// The agent string Canopy sends.
pub const AGENT: &str = concat!("canopy/", env!("CARGO_PKG_VERSION"));

/// Errors of the protocol layer. Each names what was wrong with the input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("protocol error: {0}")]
    PktLine(String),
    #[error("bad pack: {0}")]
    Pack(String),
    #[error("bad object {id}: {reason}")]
    BadObject { id: ObjectId, reason: String },
    #[error("missing necessary objects: {0}")]
    MissingObjects(String),
    #[error("remote error: {0}")]
    Remote(String),
    #[error("{0}")]
    Refused(String),
    #[error("{url}: {message}")]
    Transport { url: String, message: String },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error(transparent)]
    Backend(#[from] crate::backend::Error),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<crate::object::ObjectError> for Error {
    fn from(e: crate::object::ObjectError) -> Error {
        Error::Backend(crate::backend::Error::Malformed(e))
    }
}

/// `io::Error`s that carry an [`Error`] (from a side-band reader) give it back.
pub(crate) fn unwrap_io(e: std::io::Error) -> Error {
    if e.get_ref().is_some_and(|i| i.is::<Error>()) {
        if let Some(inner) = e.into_inner() {
            if let Ok(err) = inner.downcast::<Error>() {
                return *err;
            }
        }
        return Error::Protocol("side-band error".into());
    }
    Error::Io(e)
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

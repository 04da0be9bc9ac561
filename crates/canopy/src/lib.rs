//! Canopy: persist and synchronise distributed data structures the way Git handles source code.
//!
//! The store is a Git repository: values are blobs, directories are trees, every write is a
//! commit on a branch, and branches move only by compare-and-swap. The layers, bottom up:
//!
//! - [`object`]: Git's object codec and ids (SHA-1 and SHA-256).
//! - [`backend`]: the content-addressable object store and the atomic reference store, in memory
//!   ([`backend::mem`]) or as a Git repository on disk ([`backend::git`]).
//! - [`tree`]: an immutable, lazily loaded tree with structural sharing.
//! - [`store`]: what users meet: [`Repo`], [`Branch`], transactions, views and history.
//! - [`contents`]: typed values with their own three-way merge ([`contents::Contents`]).
//! - [`data`]: ready-made mergeable structures kept as ordinary trees and blobs: counters,
//!   registers, sets, maps, queues, logs and ropes.

pub mod backend;
pub mod contents;
pub mod data;
pub mod merge;
pub mod object;
pub mod path;
pub mod platform;
pub mod retry;
pub mod store;
pub mod sync;
pub mod tree;

pub use object::{HashKind, ObjectId};
pub use path::Path;
pub use store::{Branch, Repo};

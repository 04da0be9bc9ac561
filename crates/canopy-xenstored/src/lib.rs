//! A xenstore daemon whose store is a Canopy branch.
//!
//! It speaks the xenstore wire protocol ([`wire`]) on a Unix socket, so the Xen tools
//! (`xenstore-read`, `xenstore-write`, …, `libxenstore`, `pyxs`) use it as they would
//! `xenstored`; every change is a commit on the branch (`write /local/domain/0/name`), so
//! `canopy log`, `diff`, `bisect` and `rollback` trace and undo the configuration, and two
//! daemons on replicas of one store converge with `canopy sync`.
//!
//! # Layout in the store
//!
//! Node `/a/b` is the directory `a/b/` of the branch's tree:
//!
//! ```text
//! .value                 the root node's value (often absent: empty)
//! .perms                 the root node's permissions, one entry a line (`n0`)
//! local/.value
//! local/.perms
//! local/domain/3/.value  node /local/domain/3
//! local/domain/3/.perms  `b3` then `r0`…: owner first
//! local/domain/3/name/…  its children, as subdirectories
//! ```
//!
//! Node names are `[A-Za-z0-9_@-]`, never with a `.`, so `.value` and `.perms` cannot collide
//! with children. A node exists when its directory does; every node the daemon creates gets
//! both files, so a node with an empty value still exists in Git (which stores no empty
//! directory). A directory made by other means is a node with an empty value and its parent's
//! permissions.
//!
//! # Modules
//!
//! - [`wire`]: message framing, types, errno names.
//! - [`path`]: xenstore paths and their place in the tree.
//! - [`perms`]: the permission format and access rules.
//! - [`nodes`]: the node tree over a Canopy tree, recording what each operation touched.
//! - [`ops`]: xenstore's rules per operation (permissions, creation, removal).
//! - [`watches`]: watch registry and events.
//! - [`daemon`]: socket, connections, transactions, commits, the branch follower.
//! - [`client`]: a blocking client of the protocol; [`stress`]: a load generator over it.

pub mod client;
pub mod daemon;
pub mod nodes;
pub mod ops;
pub mod path;
pub mod perms;
pub mod stress;
pub mod watches;
pub mod wire;

pub use daemon::{Config, Daemon, Running};

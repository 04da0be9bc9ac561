//! The xenstore node tree as a Canopy tree, with the record of what was looked at.
//!
//! [`Nodes`] starts at one commit and applies changes to an in-memory copy of its tree (values
//! are stored as blobs at once; trees only when committed). Every read and write notes what it
//! touched (a node's value, its permissions, its list of children), so that a transaction can
//! be checked against the commits that landed after it began: [`Nodes::unchanged_in`].
//!
//! A node exists when its directory does (the root always does). Its value is `.value` (empty
//! if absent: a directory made by hand in the store is a node with an empty value); its
//! permissions are `.perms`, or the nearest ancestor's, or `n0` at the root.

use std::collections::BTreeSet;

use canopy::object::ObjectKind;
use canopy::tree::{Entry, Tree};
use canopy::{ObjectId, Path, Repo};

use crate::path::XsPath;
use crate::perms::Perms;
use crate::wire::Errno;

/// Why an operation on nodes failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Refused by xenstore's rules; the client gets this errno.
    #[error("{0}")]
    Refused(Errno),
    /// The store failed (I/O, corruption); the client gets `EIO`.
    #[error(transparent)]
    Store(#[from] canopy::store::Error),
}

impl Error {
    pub fn errno(&self) -> Errno {
        match self {
            Error::Refused(e) => *e,
            Error::Store(_) => Errno::Io,
        }
    }
}

impl From<Errno> for Error {
    fn from(e: Errno) -> Error {
        Error::Refused(e)
    }
}

impl From<canopy::tree::Error> for Error {
    fn from(e: canopy::tree::Error) -> Error {
        Error::Store(e.into())
    }
}

impl From<canopy::backend::Error> for Error {
    fn from(e: canopy::backend::Error) -> Error {
        Error::Store(e.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One thing an operation depended on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Touched {
    /// Whether the node exists, and its value.
    Value(XsPath),
    Perms(XsPath),
    /// The names of the node's children.
    Children(XsPath),
}

/// What a [`Touched`] item was in one tree; equal fingerprints mean it did not change.
#[derive(PartialEq, Eq)]
enum Fingerprint {
    Value(bool, Option<ObjectId>),
    Perms(Option<ObjectId>),
    Children(Vec<Vec<u8>>),
}

/// The node tree at one commit plus the changes made to it since.
pub struct Nodes {
    repo: Repo,
    base: Option<ObjectId>,
    base_tree: Tree,
    tree: Tree,
    touched: BTreeSet<Touched>,
    /// The writes made, for the commit message (`write /a`).
    ops: Vec<String>,
}

impl Nodes {
    /// The nodes at `commit` (`None`: an unborn branch, just the root).
    pub fn at(repo: &Repo, commit: Option<ObjectId>) -> Result<Nodes> {
        let tree = match commit {
            Some(id) => repo.view_at(id)?.tree().clone(),
            None => Tree::empty(),
        };
        Ok(Nodes {
            repo: repo.clone(),
            base: commit,
            base_tree: tree.clone(),
            tree,
            touched: BTreeSet::new(),
            ops: Vec::new(),
        })
    }

    /// The commit these nodes started from.
    pub fn base(&self) -> Option<ObjectId> {
        self.base
    }

    /// The tree with every change applied.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// Whether a write was made (a write may still leave the tree as it was).
    pub fn is_written(&self) -> bool {
        !self.ops.is_empty()
    }

    /// Notes a write for the commit message.
    pub fn note(&mut self, op: String) {
        self.ops.push(op);
    }

    /// The commit message: the first write on the first line, every write below it.
    pub fn message(&self, label: Option<&str>) -> String {
        let first = self.ops.first().map_or("", String::as_str);
        let more = match self.ops.len() {
            0 | 1 => String::new(),
            n => format!(" (+{} more)", n - 1),
        };
        let mut msg = match label {
            Some(l) => format!("{l}: {first}{more}"),
            None => format!("{first}{more}"),
        };
        if self.ops.len() > 1 {
            msg.push_str("\n\n");
            for op in &self.ops {
                msg.push_str(op);
                msg.push('\n');
            }
        }
        msg
    }

    fn store(&self) -> &dyn canopy::backend::ContentAddressable {
        self.repo.objects()
    }

    pub fn exists(&mut self, node: &XsPath) -> Result<bool> {
        self.touched.insert(Touched::Value(node.clone()));
        Ok(node.is_root() || matches!(self.tree.find(self.store(), &node.dir())?, Some(Entry::Tree(_))))
    }

    /// The node's value; `None` if it does not exist.
    pub fn read(&mut self, node: &XsPath) -> Result<Option<Vec<u8>>> {
        if !self.exists(node)? {
            return Ok(None);
        }
        match self.tree.find(self.store(), &node.value_file())? {
            Some(Entry::Value { id, .. }) => Ok(Some(self.store().read_kind(&id, ObjectKind::Blob)?)),
            _ => Ok(Some(Vec::new())),
        }
    }

    /// The permissions of an existing node (its own, else the nearest ancestor's).
    pub fn perms(&mut self, node: &XsPath) -> Result<Perms> {
        let mut at = Some(node.clone());
        while let Some(p) = at {
            self.touched.insert(Touched::Perms(p.clone()));
            if let Some(Entry::Value { id, .. }) = self.tree.find(self.store(), &p.perms_file())? {
                let bytes = self.store().read_kind(&id, ObjectKind::Blob)?;
                // A damaged permissions file must not open the node to everyone: fall back to
                // dom0 only.
                return Ok(Perms::parse_stored(&bytes).unwrap_or_else(|_| Perms::dom0_only()));
            }
            at = p.parent();
        }
        Ok(Perms::dom0_only())
    }

    /// The names of the node's children, sorted.
    pub fn children(&mut self, node: &XsPath) -> Result<Vec<String>> {
        self.touched.insert(Touched::Children(node.clone()));
        Ok(child_names(&self.tree, &self.repo, node)?
            .into_iter()
            .filter_map(|n| String::from_utf8(n).ok())
            .collect())
    }

    /// Sets the node's value (creating its directory, not its parents' files).
    pub fn set_value(&mut self, node: &XsPath, value: &[u8]) -> Result<()> {
        self.touched.insert(Touched::Value(node.clone()));
        let id = self.store().write(ObjectKind::Blob, value)?;
        self.tree = self
            .tree
            .with(self.store(), &node.value_file(), Some(Entry::value(id)))?;
        Ok(())
    }

    pub fn set_perms(&mut self, node: &XsPath, perms: &Perms) -> Result<()> {
        self.touched.insert(Touched::Perms(node.clone()));
        let id = self.store().write(ObjectKind::Blob, &perms.to_stored())?;
        self.tree = self
            .tree
            .with(self.store(), &node.perms_file(), Some(Entry::value(id)))?;
        Ok(())
    }

    /// Removes the node and everything below it.
    pub fn remove(&mut self, node: &XsPath) -> Result<()> {
        self.touched.insert(Touched::Value(node.clone()));
        self.touched.insert(Touched::Children(node.clone()));
        self.tree = self.tree.with(self.store(), &node.dir(), None)?;
        Ok(())
    }

    /// Whether everything these nodes read or wrote is the same in `head` as it was at the
    /// base: then the changes can be merged onto `head` without anyone's write being lost or
    /// any read going stale.
    pub fn unchanged_in(&self, head: &Tree) -> Result<bool> {
        for t in &self.touched {
            if self.fingerprint(&self.base_tree, t)? != self.fingerprint(head, t)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn fingerprint(&self, tree: &Tree, t: &Touched) -> Result<Fingerprint> {
        let store = self.store();
        let value_id = |path: &Path| -> Result<Option<ObjectId>> {
            Ok(match tree.find(store, path)? {
                Some(Entry::Value { id, .. }) => Some(id),
                _ => None,
            })
        };
        Ok(match t {
            Touched::Value(p) => Fingerprint::Value(
                p.is_root() || matches!(tree.find(store, &p.dir())?, Some(Entry::Tree(_))),
                value_id(&p.value_file())?,
            ),
            Touched::Perms(p) => Fingerprint::Perms(value_id(&p.perms_file())?),
            Touched::Children(p) => Fingerprint::Children(child_names(tree, &self.repo, p)?),
        })
    }
}

/// The subdirectories of a node's directory (its children), sorted.
fn child_names(tree: &Tree, repo: &Repo, node: &XsPath) -> Result<Vec<Vec<u8>>> {
    let store = repo.objects();
    let dir = match tree.subtree(store, &node.dir())? {
        Some(t) => t,
        None => return Ok(Vec::new()),
    };
    Ok(dir
        .entries(store)?
        .iter()
        .filter(|(_, e)| matches!(e, Entry::Tree(_)))
        .map(|(name, _)| name.to_vec())
        .collect())
}

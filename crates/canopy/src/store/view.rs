//! Read-only snapshots of a tree at one commit.

use serde::de::DeserializeOwned;

use super::{Error, Repo, Result};
use crate::object::{Mode, ObjectId, ObjectKind};
use crate::path::Path;
use crate::tree::{Entry, EntryKind, Tree};

/// The tree of one commit (or the empty tree of an unborn branch). Reads never change; cheap
/// to clone.
#[derive(Clone, Debug)]
pub struct View {
    repo: Repo,
    commit: Option<ObjectId>,
    tree: Tree,
}

impl View {
    pub(super) fn new(repo: Repo, commit: Option<ObjectId>, tree: Tree) -> View {
        View { repo, commit, tree }
    }

    /// The commit this view shows (`None` for an unborn branch).
    pub fn commit(&self) -> Option<ObjectId> {
        self.commit
    }

    /// The root tree.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// What is at `path`, if anything.
    pub fn find(&self, path: &Path) -> Result<Option<Entry>> {
        Ok(self.tree.find(self.repo.objects(), path)?)
    }

    /// The value at `path`; `None` if nothing is there, an error if it is a directory or a
    /// submodule ([`Error::Submodule`], naming its commit).
    pub fn get(&self, path: &Path) -> Result<Option<Vec<u8>>> {
        match self.find(path)? {
            None => Ok(None),
            Some(Entry::Value { id, .. }) => Ok(Some(self.repo.objects().read_kind(&id, ObjectKind::Blob)?)),
            Some(Entry::Gitlink(commit)) => Err(Error::Submodule {
                path: path.clone(),
                commit,
            }),
            Some(Entry::Tree(_)) => Err(Error::NotAValue { path: path.clone() }),
        }
    }

    /// The value at `path` as a stream (its size, then its bytes), for values too large to hold
    /// in memory; `None` and errors as [`get`](Self::get). The bytes are checked against the
    /// value's id as they are read.
    pub fn open(&self, path: &Path) -> Result<Option<crate::backend::ObjectStream<'_>>> {
        match self.find(path)? {
            None => Ok(None),
            Some(Entry::Value { id, .. }) => {
                let stream = self
                    .repo
                    .objects()
                    .read_stream(&id)?
                    .ok_or(crate::backend::Error::MissingObject { id })?;
                if stream.kind != ObjectKind::Blob {
                    return Err(crate::backend::Error::WrongKind {
                        id,
                        expected: ObjectKind::Blob,
                        actual: stream.kind,
                    }
                    .into());
                }
                Ok(Some(stream))
            }
            Some(Entry::Gitlink(commit)) => Err(Error::Submodule {
                path: path.clone(),
                commit,
            }),
            Some(Entry::Tree(_)) => Err(Error::NotAValue { path: path.clone() }),
        }
    }

    /// The value at `path` as a [`Contents`](crate::contents::Contents) type.
    pub fn get_as<T: crate::contents::Contents>(&self, path: &Path) -> Result<Option<T>> {
        self.get(path)?.map(|bytes| decode_as(path, &bytes)).transpose()
    }

    /// The value at `path` decoded from JSON.
    pub fn get_json<T: DeserializeOwned>(&self, path: &Path) -> Result<Option<T>> {
        match self.get(path)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| Error::Decode {
                    path: path.clone(),
                    source,
                }),
        }
    }

    /// The id and mode of the value at `path`, without reading it.
    pub fn value_id(&self, path: &Path) -> Result<Option<(ObjectId, Mode)>> {
        match self.find(path)? {
            Some(Entry::Value { id, mode }) => Ok(Some((id, mode))),
            _ => Ok(None),
        }
    }

    /// Whether anything (a value or a directory) is at `path`.
    pub fn contains(&self, path: &Path) -> Result<bool> {
        Ok(self.find(path)?.is_some())
    }

    /// The directory at `path`.
    pub fn get_tree(&self, path: &Path) -> Result<Option<Tree>> {
        Ok(self.tree.subtree(self.repo.objects(), path)?)
    }

    /// The direct children of the directory at `path`, sorted by name. Empty when `path` is
    /// absent; an error when it is a value.
    pub fn list(&self, path: &Path) -> Result<Vec<(Vec<u8>, EntryKind)>> {
        match self.find(path)? {
            None => Ok(Vec::new()),
            Some(Entry::Tree(t)) => Ok(t
                .entries(self.repo.objects())?
                .iter()
                .map(|(name, e)| (name.to_vec(), e.kind()))
                .collect()),
            Some(_) => Err(Error::NotADirectory { path: path.clone() }),
        }
    }

    /// Every value path below `path` (the path itself if it is a value), in path order.
    pub fn paths(&self, path: &Path) -> Result<Vec<(Path, EntryKind)>> {
        let mut out = Vec::new();
        self.tree.walk(self.repo.objects(), path, &mut |p, e| {
            out.push((p.clone(), e.kind()));
            Ok(())
        })?;
        Ok(out)
    }
}

/// Decodes `bytes` read at `path` as `T`.
pub(crate) fn decode_as<T: crate::contents::Contents>(path: &Path, bytes: &[u8]) -> Result<T> {
    T::decode(bytes).map_err(|e| super::Error::InvalidValue {
        path: path.clone(),
        type_name: std::any::type_name::<T>(),
        reason: e.0,
    })
}

/// Encodes `value` for `path`.
pub(crate) fn encode_as<T: crate::contents::Contents>(path: &Path, value: &T) -> Result<Vec<u8>> {
    value.encode().map_err(|e| super::Error::InvalidValue {
        path: path.clone(),
        type_name: std::any::type_name::<T>(),
        reason: e.0,
    })
}

//! A set whose replicas merge by union of additions and removals.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::path::Path;
use crate::store::{Branch, CommitOptions, Error, Result, View};

/// A set of `T` at a directory of a branch. Each element is a blob holding its pretty JSON,
/// named by the hash of that JSON in a two-level fan-out (`dir/ab/cd/abcd…`), so a change
/// rewrites three small trees whatever the size of the set, and `git show` shows the element
/// added or removed. Merges need no driver: an element added on either side is present, one
/// removed on either side (and not re-added by the other) is gone, and adding the same element
/// on both sides adds it once.
///
/// ```
/// use canopy::{data::Set, HashKind, Path, Repo};
/// use canopy::store::CommitOptions;
///
/// let repo = Repo::in_memory(HashKind::Sha1);
/// let tags = Set::<String>::open(repo.branch("main")?, Path::parse("vm/tags")?)
///     .with_commit(CommitOptions::message("tag web"));
/// tags.insert(&"web".to_string())?;
/// assert!(tags.contains(&"web".to_string())?);
/// assert_eq!(tags.len()?, 1);
/// # Ok::<(), canopy::store::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Set<T> {
    branch: Branch,
    path: Path,
    commit: CommitOptions,
    _element: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> Set<T> {
    /// The set at directory `path` of `branch`.
    pub fn open(branch: Branch, path: Path) -> Set<T> {
        Set {
            branch,
            path,
            commit: CommitOptions::default(),
            _element: PhantomData,
        }
    }

    /// The same set, committing with `opts`' identities and message (an empty message gets the
    /// default, `set PATH: insert|remove`).
    pub fn with_commit(mut self, opts: CommitOptions) -> Set<T> {
        self.commit = opts;
        self
    }

    fn encode(&self, element: &T) -> Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(element).map_err(|source| Error::Encode {
            path: self.path.clone(),
            source,
        })?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    fn location(&self, element: &T) -> Result<(Path, Vec<u8>)> {
        super::anchored_pattern(&self.path)?;
        let bytes = self.encode(element)?;
        Ok((super::fanned_out(&self.path, &bytes)?, bytes))
    }

    /// Adds `element` (one commit; none if it is already there). Returns whether it was absent.
    pub fn insert(&self, element: &T) -> Result<bool> {
        let (at, bytes) = self.location(element)?;
        let view = self.branch.view()?;
        if view.contains(&at)? {
            return Ok(false);
        }
        let opts = super::commit_options(&self.commit, || format!("set {}: insert", self.path));
        self.branch
            .transaction_at(view.commit())
            .set(at, bytes)
            .commit(&opts)?;
        Ok(true)
    }

    /// Removes `element` (one commit; none if it is absent). Returns whether it was present.
    pub fn remove(&self, element: &T) -> Result<bool> {
        let (at, _) = self.location(element)?;
        let view = self.branch.view()?;
        if !view.contains(&at)? {
            return Ok(false);
        }
        let opts = super::commit_options(&self.commit, || format!("set {}: remove", self.path));
        self.branch
            .transaction_at(view.commit())
            .remove(at)
            .commit(&opts)?;
        Ok(true)
    }

    pub fn contains(&self, element: &T) -> Result<bool> {
        self.branch.view()?.contains(&self.location(element)?.0)
    }

    /// Every element, in the order of their hashes.
    pub fn elements(&self) -> Result<Vec<T>> {
        self.elements_in(&self.branch.view()?)
    }

    /// Every element in `view`.
    pub fn elements_in(&self, view: &View) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for path in super::values_below(view, &self.path)? {
            let bytes = view.get(&path)?.unwrap_or_default();
            out.push(serde_json::from_slice(&bytes).map_err(|source| Error::Decode { path, source })?);
        }
        Ok(out)
    }

    pub fn len(&self) -> Result<usize> {
        Ok(super::values_below(&self.branch.view()?, &self.path)?.len())
    }

    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

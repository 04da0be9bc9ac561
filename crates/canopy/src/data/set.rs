//! A set whose replicas merge as an observed-remove set: a removal takes away the additions it
//! saw, never one it did not.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::path::Path;
use crate::store::{Branch, CommitOptions, Error, Result, View};

/// A set of `T` at a directory of a branch. Each element has a directory named by the hash of
/// its JSON in a two-level fan-out (`dir/ab/cd/abcd…/`), so a change rewrites a few small trees
/// whatever the size of the set; in it, each addition is a blob holding the element's pretty
/// JSON (which `git show` shows), named by a tag unique to that addition
/// (`<time>-<replica>-<sequence>`). Merges need no driver, and they are those of an
/// observed-remove set: an element is present while any of its additions is; a removal takes
/// away the additions its replica had seen. So an element added on one replica and removed on
/// another that had seen that addition is gone, an element added again concurrently with a
/// removal stays, and the result does not depend on the order in which replicas merge.
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

    /// The element's directory, and its JSON.
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
        let tag = format!(
            "{:016}-{}-{}",
            super::now_micros(),
            super::replica_id(self.branch.repo()),
            super::next_sequence()
        );
        let opts = super::commit_options(&self.commit, || format!("set {}: insert", self.path));
        self.branch
            .transaction_at(view.commit())
            .set(at.join(tag.as_bytes())?, bytes)
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
        for path in self.first_additions(view)? {
            let bytes = view.get(&path)?.unwrap_or_default();
            out.push(serde_json::from_slice(&bytes).map_err(|source| Error::Decode { path, source })?);
        }
        Ok(out)
    }

    /// One addition per element present (the first by tag), in the order of the elements.
    fn first_additions(&self, view: &View) -> Result<Vec<Path>> {
        let mut firsts: Vec<Path> = Vec::new();
        for path in super::values_below(view, &self.path)? {
            let dir = path.split_last().map(|(d, _)| d);
            let seen = firsts.last().and_then(Path::split_last).map(|(d, _)| d);
            if dir.is_some() && dir != seen {
                firsts.push(path);
            }
        }
        Ok(firsts)
    }

    pub fn len(&self) -> Result<usize> {
        Ok(self.first_additions(&self.branch.view()?)?.len())
    }

    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

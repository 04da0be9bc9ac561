//! A last-writer-wins register: one value, the latest write winning on every replica alike.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::path::Path;
use crate::store::{Branch, CommitOptions, Error, Result, View};

/// What a [`Register`] stores: the value with the time and replica of its write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamped<T> {
    /// Milliseconds since the Unix epoch; never smaller than the replaced write's plus one, so
    /// a replica's later write wins over its earlier one even if its clock went back.
    pub written_at_ms: i64,
    /// The replica that wrote it ([`Repo::replica_id`](crate::Repo::replica_id)): the tie-break.
    pub replica: String,
    pub value: T,
}

/// A register at a path of a branch holding one `T`, stored as pretty JSON with its stamp
/// ([`Stamped`]) and merged by the `register` driver: when two replicas wrote it concurrently,
/// the write with the larger `(written_at_ms, replica)` wins everywhere.
///
/// ```
/// use canopy::{data::Register, HashKind, Path, Repo};
/// use canopy::store::CommitOptions;
///
/// let repo = Repo::in_memory(HashKind::Sha1);
/// let leader = Register::<String>::open(repo.branch("main")?, Path::parse("cluster/leader")?)
///     .with_commit(CommitOptions::message("elect node-1"));
/// leader.set(&"node-1".to_string())?;
/// assert_eq!(leader.get()?, Some("node-1".to_string()));
/// # Ok::<(), canopy::store::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Register<T> {
    branch: Branch,
    path: Path,
    commit: CommitOptions,
    _value: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> Register<T> {
    /// The register at `path` of `branch` (created by its first write).
    pub fn open(branch: Branch, path: Path) -> Register<T> {
        Register {
            branch,
            path,
            commit: CommitOptions::default(),
            _value: PhantomData,
        }
    }

    /// The same register, committing with `opts`' identities and message (an empty message
    /// gets the default, `register PATH: set`).
    pub fn with_commit(mut self, opts: CommitOptions) -> Register<T> {
        self.commit = opts;
        self
    }

    /// The value (`None` before the first write).
    pub fn get(&self) -> Result<Option<T>> {
        Ok(self.stamped(&self.branch.view()?)?.map(|s| s.value))
    }

    /// The value with its stamp.
    pub fn stamped(&self, view: &View) -> Result<Option<Stamped<T>>> {
        match view.get(&self.path)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| Error::Decode {
                    path: self.path.clone(),
                    source,
                }),
        }
    }

    /// Writes `value` in one commit; returns the new head.
    pub fn set(&self, value: &T) -> Result<crate::ObjectId> {
        let view = self.branch.view()?;
        let now = crate::platform::since_epoch().as_millis() as i64;
        let previous = self.stamp_of(&view)?;
        let stamped = Stamped {
            written_at_ms: previous.map_or(now, |p| now.max(p + 1)),
            replica: self.branch.repo().replica_id().to_string(),
            value,
        };
        let mut bytes = serde_json::to_vec_pretty(&stamped).map_err(|source| Error::Encode {
            path: self.path.clone(),
            source,
        })?;
        bytes.push(b'\n');
        let line = format!("{} merge=register", super::anchored_pattern(&self.path)?);
        let tx = super::with_attribute(self.branch.transaction_at(view.commit()), &view, &line)?;
        let opts = super::commit_options(&self.commit, || format!("register {}: set", self.path));
        tx.set(self.path.clone(), bytes).commit(&opts)
    }

    /// The stamp of the current write, whatever its value type.
    fn stamp_of(&self, view: &View) -> Result<Option<i64>> {
        let Some(bytes) = view.get(&self.path)? else {
            return Ok(None);
        };
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|source| Error::Decode {
            path: self.path.clone(),
            source,
        })?;
        Ok(value.get("written_at_ms").and_then(serde_json::Value::as_i64))
    }
}

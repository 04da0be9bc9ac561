//! A map whose values merge key by key with the value type's own merge.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::contents::{Contents, ContentsDriver};
use crate::merge::Drivers;
use crate::path::Path;
use crate::store::view::{decode_as, encode_as};
use crate::store::{Branch, CommitOptions, Error, Result, View};

/// The file of a key's directory holding the key, and the one holding the value.
const KEY: &[u8] = b"key";
const VALUE: &[u8] = b"value";

/// A map from `K` to `V` at a directory of a branch. Each key has a directory named by the hash
/// of its JSON in a two-level fan-out (`dir/ab/cd/abcd…/`), holding `key` (the key's JSON) and
/// `value` (`V`'s encoding): a write rewrites a few small trees whatever the number of keys,
/// and `git show` shows which key changed and how. The map binds `dir/**/value` to `V`'s driver
/// in `.gitattributes` (registering [`V::DRIVER`](Contents::DRIVER) on the store unless a
/// built-in driver has that name), so concurrent changes to one key merge with `V`'s merge,
/// and changes to different keys never meet.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use canopy::contents::Json;
/// use canopy::{data::Map, HashKind, Path, Repo};
/// use canopy::store::{CommitOptions, MergeOptions};
///
/// #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
/// struct Vm { memory_mb: u32, vcpus: u8 }
///
/// let repo = Repo::in_memory(HashKind::Sha1);
/// let main = repo.branch("main")?;
/// let vms = Map::<String, Json<Vm>>::open(main.clone(), Path::parse("vms")?);
/// vms.insert(&"web".into(), &Json(Vm { memory_mb: 512, vcpus: 1 }))?;
/// let other = repo.create_branch("other", main.head()?.unwrap())?;
/// vms.update(&"web".into(), |vm| vm.map(|Json(v)| Json(Vm { memory_mb: 1024, ..v })))?;
/// let there = Map::<String, Json<Vm>>::open(other.clone(), Path::parse("vms")?)
///     .with_commit(CommitOptions::message("more cpus for web"));
/// there.update(&"web".into(), |vm| vm.map(|Json(v)| Json(Vm { vcpus: 2, ..v })))?;
/// main.merge(other.head()?.unwrap(), &MergeOptions::default())?;
/// assert_eq!(vms.get(&"web".into())?, Some(Json(Vm { memory_mb: 1024, vcpus: 2 })));
/// # Ok::<(), canopy::store::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Map<K, V> {
    branch: Branch,
    path: Path,
    commit: CommitOptions,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: Serialize + DeserializeOwned, V: Contents> Map<K, V> {
    /// The map at directory `path` of `branch`.
    pub fn open(branch: Branch, path: Path) -> Map<K, V> {
        if Drivers::builtin().get(V::DRIVER).is_none() {
            branch.repo().register(V::DRIVER, ContentsDriver::<V>::default());
        }
        Map {
            branch,
            path,
            commit: CommitOptions::default(),
            _types: PhantomData,
        }
    }

    /// The same map, committing with `opts`' identities and message (an empty message gets the
    /// default, `map PATH: insert|remove|update`).
    pub fn with_commit(mut self, opts: CommitOptions) -> Map<K, V> {
        self.commit = opts;
        self
    }

    fn key_dir(&self, key: &K) -> Result<(Path, Vec<u8>)> {
        super::anchored_pattern(&self.path)?;
        let mut bytes = serde_json::to_vec_pretty(key).map_err(|source| Error::Encode {
            path: self.path.clone(),
            source,
        })?;
        bytes.push(b'\n');
        Ok((super::fanned_out(&self.path, &bytes)?, bytes))
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        self.get_in(&self.branch.view()?, key)
    }

    /// The value of `key` in `view`.
    pub fn get_in(&self, view: &View, key: &K) -> Result<Option<V>> {
        view.get_as(&self.key_dir(key)?.0.join(VALUE)?)
    }

    /// Sets `key` to `value` in one commit; returns the new head.
    pub fn insert(&self, key: &K, value: &V) -> Result<crate::ObjectId> {
        self.write_on(&self.branch.view()?, key, Some(value), "insert")
    }

    /// Removes `key` in one commit (none if it is absent); returns the head.
    pub fn remove(&self, key: &K) -> Result<crate::ObjectId> {
        self.write_on(&self.branch.view()?, key, None, "remove")
    }

    /// Replaces `key`'s value by `f(current)` (`None` removes it), in one commit made against the
    /// value read: a concurrent change to the same key is merged with `V`'s merge.
    pub fn update(&self, key: &K, f: impl FnOnce(Option<V>) -> Option<V>) -> Result<crate::ObjectId> {
        let view = self.branch.view()?;
        let new = f(self.get_in(&view, key)?);
        self.write_on(&view, key, new.as_ref(), "update")
    }

    fn write_on(&self, view: &View, key: &K, value: Option<&V>, op: &str) -> Result<crate::ObjectId> {
        let (dir, key_bytes) = self.key_dir(key)?;
        let opts = super::commit_options(&self.commit, || format!("map {}: {op}", self.path));
        let tx = self.branch.transaction_at(view.commit());
        let tx = match value {
            Some(v) => {
                let line = format!(
                    "{}/**/value merge={}",
                    super::anchored_pattern(&self.path)?,
                    V::DRIVER
                );
                let value_path = dir.join(VALUE)?;
                let bytes = encode_as(&value_path, v)?;
                super::with_attribute(tx, view, &line)?
                    .set(dir.join(KEY)?, key_bytes)
                    .set(value_path, bytes)
            }
            None => tx.remove(dir),
        };
        tx.commit(&opts)
    }

    /// Every entry, in the order of the keys' hashes.
    pub fn entries(&self) -> Result<Vec<(K, V)>> {
        let view = self.branch.view()?;
        let mut out = Vec::new();
        for path in super::values_below(&view, &self.path)? {
            let Some((dir, KEY)) = path.split_last() else {
                continue;
            };
            let bytes = view.get(&path)?.unwrap_or_default();
            let key: K = serde_json::from_slice(&bytes).map_err(|source| Error::Decode {
                path: path.clone(),
                source,
            })?;
            let value_path = dir.join(VALUE)?;
            if let Some(v) = view.get(&value_path)? {
                out.push((key, decode_as(&value_path, &v)?));
            }
        }
        Ok(out)
    }

    /// The number of keys.
    pub fn len(&self) -> Result<usize> {
        let view = self.branch.view()?;
        Ok(super::values_below(&view, &self.path)?
            .iter()
            .filter(|p| p.last_step().is_some_and(|s| s == KEY))
            .count())
    }

    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

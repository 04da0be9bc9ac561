//! Opening and creating stores; branches, revisions and commits at the repository level.

use std::path::Path as FsPath;
use std::sync::{Arc, RwLock};

use super::{Branch, CommitInfo, Error, History, Result, View};
use crate::backend::git::RepoLayout;
use crate::backend::mem::{MemObjects, MemRefs};
use crate::backend::{check_ref_name, AtomicWrite, ContentAddressable, Expected, RefLog, RefTarget};
use crate::merge::Drivers;
use crate::object::{Commit, HashKind, ObjectId, ObjectKind, Signature};
use crate::tree::Tree;

/// How to create a store.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub hash: HashKind,
    /// The branch `HEAD` names (default `main`).
    pub branch: String,
}

impl Default for InitOptions {
    fn default() -> InitOptions {
        InitOptions {
            hash: HashKind::Sha1,
            branch: "main".into(),
        }
    }
}

/// Message and identities of a commit. Unset identities are Git's ([`Repo::signature`]: the
/// `GIT_AUTHOR_*` / `GIT_COMMITTER_*` environment, the store's then the user's Git config, else
/// `canopy <canopy@localhost>`), dated now in the local time zone.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub message: String,
    pub author: Option<Signature>,
    pub committer: Option<Signature>,
}

impl CommitOptions {
    pub fn message(message: impl Into<String>) -> CommitOptions {
        CommitOptions {
            message: message.into(),
            ..CommitOptions::default()
        }
    }
}

pub(crate) struct RepoInner {
    pub(super) objects: Box<dyn ContentAddressable>,
    pub(super) refs: Box<dyn AtomicWrite>,
    pub(super) layout: Option<RepoLayout>,
    /// The merge drivers every merge of this store uses ([`Repo::register`]).
    pub(super) drivers: RwLock<Arc<Drivers>>,
    /// This replica's id ([`Repo::replica_id`]).
    replica: String,
    /// The user's global Git config, read when an identity is first needed.
    pub(super) global: std::sync::OnceLock<super::identity::GlobalConfig>,
    /// Each branch's pipeline of commits from this process.
    lanes: super::lane::Lanes,
    /// The shallow boundary of a store without files (a Git repository keeps it in
    /// `$GIT_DIR/shallow`; see [`crate::sync::shallow`]).
    pub(crate) shallow: std::sync::Mutex<std::collections::BTreeSet<ObjectId>>,
}

/// The config key holding a store's replica id.
const REPLICA_KEY: &str = "canopy.replica";

/// The commit header naming the replica that wrote a commit.
pub const REPLICA_HEADER: &str = "canopy-replica";

/// A new random replica id: 16 hex digits from the clock, the process and a counter, hashed.
fn new_replica_id() -> String {
    use sha2::{Digest, Sha256};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = crate::platform::since_epoch().as_nanos();
    let mut h = Sha256::new();
    h.update(now.to_le_bytes());
    h.update(crate::platform::process_id().to_le_bytes());
    h.update(
        COUNTER
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_le_bytes(),
    );
    h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// A store: an object store and a reference store. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Repo {
    pub(crate) inner: Arc<RepoInner>,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner.layout {
            Some(l) => write!(f, "Repo({})", l.git_dir.display()),
            None => write!(f, "Repo(<memory>)"),
        }
    }
}

impl Repo {
    /// Creates a store (a bare Git repository) at `path`, with `HEAD` on `main`.
    pub fn init(path: impl AsRef<FsPath>) -> Result<Repo> {
        Repo::init_with(path, &InitOptions::default())
    }

    pub fn init_with(path: impl AsRef<FsPath>, opts: &InitOptions) -> Result<Repo> {
        check_ref_name(&format!("refs/heads/{}", opts.branch))
            .map_err(|_| Error::InvalidBranchName(opts.branch.clone()))?;
        let mut layout = RepoLayout::init(path.as_ref(), opts.hash, &opts.branch)?;
        layout.config.set(REPLICA_KEY, &new_replica_id());
        layout.config.save(&layout.git_dir.join("config"), true)?;
        Repo::from_layout(layout)
    }

    /// Opens the store at `path`: a bare repository, or a Git checkout (its `.git` is used).
    pub fn open(path: impl AsRef<FsPath>) -> Result<Repo> {
        Repo::from_layout(RepoLayout::open(path.as_ref())?)
    }

    fn from_layout(layout: RepoLayout) -> Result<Repo> {
        let (objects, refs) = layout.stores()?;
        // A store made before replica ids existed gets one per process.
        let replica = layout
            .config
            .get(REPLICA_KEY)
            .map_or_else(new_replica_id, str::to_string);
        Ok(Repo {
            inner: Arc::new(RepoInner {
                objects: Box::new(objects),
                refs: Box::new(refs),
                layout: Some(layout),
                drivers: RwLock::new(Arc::new(Drivers::builtin())),
                replica,
                global: Default::default(),
                lanes: Default::default(),
                shallow: Default::default(),
            }),
        })
    }

    /// A store that lives in memory, with `HEAD` on `main`.
    pub fn in_memory(hash: HashKind) -> Repo {
        let refs = MemRefs::new();
        let _ = refs.set_symbolic("HEAD", "refs/heads/main");
        Repo::from_backends(Box::new(MemObjects::new(hash)), Box::new(refs))
    }

    /// A store over any pair of backends.
    pub fn from_backends(objects: Box<dyn ContentAddressable>, refs: Box<dyn AtomicWrite>) -> Repo {
        Repo::from_backends_as(objects, refs, new_replica_id())
    }

    /// [`from_backends`](Repo::from_backends) for a replica whose id is kept elsewhere (a
    /// store persisted by its embedder keeps its id across sessions; see [`Repo::replica_id`]).
    pub fn from_backends_as(
        objects: Box<dyn ContentAddressable>,
        refs: Box<dyn AtomicWrite>,
        replica: String,
    ) -> Repo {
        Repo {
            inner: Arc::new(RepoInner {
                objects,
                refs,
                layout: None,
                drivers: RwLock::new(Arc::new(Drivers::builtin())),
                replica,
                global: Default::default(),
                lanes: Default::default(),
                shallow: Default::default(),
            }),
        }
    }

    /// Stores a value of `size` bytes read from `data` and returns its id, without holding a
    /// large value in memory; [`Transaction::set_stored`](super::Transaction::set_stored) then
    /// puts it at a path. Stores nothing unless `data` gives exactly `size` bytes.
    pub fn write_value(&self, size: u64, data: &mut dyn std::io::Read) -> Result<ObjectId> {
        Ok(self.objects().write_stream(ObjectKind::Blob, size, data)?)
    }

    pub fn objects(&self) -> &dyn ContentAddressable {
        &*self.inner.objects
    }

    pub fn refs(&self) -> &dyn AtomicWrite {
        &*self.inner.refs
    }

    /// Makes `id` and what it reaches durable before a reference is moved to it — unless the
    /// reference store does that itself (a store opened from disk: its reference updates sync
    /// the objects while the lock file is synced).
    pub(crate) fn lane(&self, ref_name: &str) -> std::sync::Arc<super::lane::Lane> {
        self.inner.lanes.get(ref_name)
    }

    pub(crate) fn durable_before_ref(&self, id: &ObjectId) -> Result<()> {
        if self.inner.layout.is_none() {
            self.objects().flush_for(id)?;
        }
        Ok(())
    }

    pub fn hash_kind(&self) -> HashKind {
        self.inner.objects.hash_kind()
    }

    /// The on-disk layout, for a store backed by a Git repository.
    pub fn layout(&self) -> Option<&RepoLayout> {
        self.inner.layout.as_ref()
    }

    /// This replica's id: made when the store is created (`init`, `clone`) and kept in its config
    /// as `canopy.replica` (a store without one gets a new id per process; an in-memory store,
    /// per handle). Every commit the store writes names it in a `canopy-replica` header, so two
    /// replicas making the same change at the same second under the same identity still write
    /// different commits, and a merge sees both changes.
    pub fn replica_id(&self) -> &str {
        &self.inner.replica
    }

    /// A configuration value of the repository (`user.name`), if any.
    pub fn config_value(&self, key: &str) -> Option<String> {
        self.layout()?.config.get(key).map(str::to_string)
    }

    /// A handle on branch `name` (which need not exist yet).
    pub fn branch(&self, name: &str) -> Result<Branch> {
        Branch::new(self.clone(), name)
    }

    /// The branch `HEAD` names.
    pub fn head_branch(&self) -> Result<Branch> {
        match self.refs().read_ref("HEAD")? {
            Some(RefTarget::Symbolic(target)) => match target.strip_prefix("refs/heads/") {
                Some(name) => self.branch(name),
                None => Err(Error::InvalidRev {
                    rev: "HEAD".into(),
                    reason: format!("HEAD names '{target}', which is not a branch"),
                }),
            },
            Some(RefTarget::Direct(_)) => Err(Error::InvalidRev {
                rev: "HEAD".into(),
                reason: "HEAD is detached; name a branch".into(),
            }),
            None => self.branch("main"),
        }
    }

    /// Every branch with its head, sorted by name.
    pub fn branches(&self) -> Result<Vec<(String, ObjectId)>> {
        Ok(self
            .refs()
            .list("refs/heads/")?
            .into_iter()
            .filter_map(|(name, id)| Some((name.strip_prefix("refs/heads/")?.to_string(), id)))
            .collect())
    }

    /// Creates branch `name` at `commit`; fails if it exists.
    pub fn create_branch(&self, name: &str, commit: ObjectId) -> Result<Branch> {
        let branch = self.branch(name)?;
        self.commit_info(commit)?;
        let log = RefLog {
            who: self.default_signature(),
            message: format!("branch: Created from {commit}"),
        };
        if !self
            .refs()
            .update(branch.ref_name(), Expected::Absent, Some(commit), &log)?
        {
            return Err(Error::BranchExists(name.to_string()));
        }
        Ok(branch)
    }

    /// Resolves a revision (`main`, a tag, a full or abbreviated id, `REV~N`, `REV^`) to a commit.
    pub fn resolve(&self, rev: &str) -> Result<ObjectId> {
        super::rev::resolve(self, rev)
    }

    /// Parses the commit `id`.
    pub fn commit_info(&self, id: ObjectId) -> Result<CommitInfo> {
        let obj = self
            .objects()
            .read(&id)?
            .ok_or(crate::backend::Error::MissingObject { id })?;
        if obj.kind != ObjectKind::Commit {
            return Err(Error::NotACommit(id));
        }
        let commit = Commit::parse(self.hash_kind(), &obj.data).map_err(|e| e.with_id(id))?;
        Ok(CommitInfo { id, commit })
    }

    /// A read-only view of the tree at commit `id`.
    pub fn view_at(&self, id: ObjectId) -> Result<View> {
        let info = self.commit_info(id)?;
        Ok(View::new(self.clone(), Some(id), Tree::from_id(info.commit.tree)))
    }

    /// Commits reachable from `starts`, newest first (by committer date, as `git log`).
    pub fn history(&self, starts: &[ObjectId]) -> History {
        History::new(self.clone(), starts)
    }

    /// Stores a tree's new nodes (the git backend holds them for the next batch, with the
    /// commit that will name them).
    pub fn write_tree(&self, tree: &Tree) -> Result<ObjectId> {
        Ok(tree.write(self.objects())?)
    }

    /// Writes a commit object with `tree` and `parents`, filling in identities and naming this
    /// replica ([`Repo::replica_id`]). A commit is never the same object as one already stored:
    /// two branches of one store making the same change on the same parent in the same second
    /// (two identical counter increments, say) are two changes, so the second gets a sequence
    /// number after the replica id (`canopy-replica <id> 1`).
    pub fn write_commit(
        &self,
        tree: ObjectId,
        parents: Vec<ObjectId>,
        opts: &CommitOptions,
    ) -> Result<ObjectId> {
        let mut n = 0u32;
        loop {
            let mut value = self.replica_id().as_bytes().to_vec();
            if n > 0 {
                value.extend_from_slice(format!(" {n}").as_bytes());
            }
            let commit = self.commit_object(
                tree,
                parents.clone(),
                opts,
                vec![(REPLICA_HEADER.to_string(), value)],
            );
            let data = commit.serialize();
            let id = ObjectId::for_object(self.hash_kind(), ObjectKind::Commit, &data);
            // A commit made elsewhere with the same content (packed since this store looked)
            // is not worth a directory scan per commit: missing it repeats that commit.
            if n < 1000 && self.objects().contains_known(&id)? {
                n += 1;
                continue;
            }
            return Ok(self.objects().write(ObjectKind::Commit, &data)?);
        }
    }

    /// As [`Repo::write_commit`], with exactly `extra_headers` after the committer.
    pub(super) fn write_commit_with(
        &self,
        tree: ObjectId,
        parents: Vec<ObjectId>,
        opts: &CommitOptions,
        extra_headers: Vec<(String, Vec<u8>)>,
    ) -> Result<ObjectId> {
        let commit = self.commit_object(tree, parents, opts, extra_headers);
        Ok(self.objects().write(ObjectKind::Commit, &commit.serialize())?)
    }

    /// The commit object with identities filled in and the message ending in a newline.
    fn commit_object(
        &self,
        tree: ObjectId,
        parents: Vec<ObjectId>,
        opts: &CommitOptions,
        extra_headers: Vec<(String, Vec<u8>)>,
    ) -> Commit {
        let author = opts.author.clone().unwrap_or_else(|| {
            self.signature(super::Role::Author)
                .unwrap_or_else(|_| self.default_signature())
        });
        let committer = opts.committer.clone().unwrap_or_else(|| self.default_signature());
        let mut message = opts.message.clone();
        if !message.ends_with('\n') {
            message.push('\n');
        }
        Commit {
            tree,
            parents,
            author,
            committer,
            extra_headers,
            message: message.into_bytes(),
        }
    }
}

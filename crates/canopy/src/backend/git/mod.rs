//! The on-disk backend: a real Git repository, shared safely with `git` itself.
//!
//! Objects are read from loose files and pack files. New objects wait in memory until a flush
//! writes all of them — a transaction's, or several concurrent transactions' — as one pack
//! ([`queue`], [`pack_write`]); packs are rolled up geometrically so that their number stays
//! small ([`repack`]). References are loose files and `packed-refs`, updated under `<ref>.lock`
//! exactly as Git does, with reflogs. A store Canopy creates is a bare repository; an existing
//! checkout is opened through its `.git`. Repositories using an extension Canopy does not
//! understand (reftable, unknown v1 extensions) are refused rather than misread.

pub mod bloom;
pub mod commit_graph;
pub mod config;
mod delta_encode;
pub mod fsck;
pub mod gc;
#[cfg(target_os = "linux")]
pub mod journal;
#[cfg(not(target_os = "linux"))]
#[path = "journal_none.rs"]
pub mod journal;
mod loose;
pub mod pack;
pub mod pack_write;
mod queue;
pub mod refs;
mod repack;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

pub use config::{global_layers, Config};
use journal::Journal;
use loose::{io_err, LooseObjects};
use pack::PackSet;
pub use pack_write::{PackInfo, PackWriter};
use queue::WriteQueue;
pub use refs::GitRefs;

use super::{ContentAddressable, Error, ObjectStream, Result, WriteBatch};
use crate::object::{HashKind, ObjectId, ObjectKind, RawObject};

/// Where a repository lives and how it is configured.
#[derive(Debug, Clone)]
pub struct RepoLayout {
    /// The Git directory (a bare repository's root, or a checkout's `.git`).
    pub git_dir: PathBuf,
    pub hash: HashKind,
    /// Whether writes are fsynced before they are reported (`canopy.fsync`, default true).
    pub fsync: bool,
    pub config: Config,
}

impl RepoLayout {
    /// Finds the repository at `path`: a bare repository, a checkout (`path/.git`), or a
    /// `.git` file pointing elsewhere (`gitdir: …`).
    pub fn open(path: &Path) -> Result<RepoLayout> {
        let git_dir = find_git_dir(path)?;
        let config = Config::load(&git_dir.join("config"))?;
        let unsupported = |reason: String| Error::Unsupported {
            path: git_dir.clone(),
            reason,
        };
        let version = config.get_int("core.repositoryformatversion")?.unwrap_or(0);
        if !(0..=1).contains(&version) {
            return Err(unsupported(format!(
                "repository format version {version} is not supported"
            )));
        }
        let mut hash = HashKind::Sha1;
        if version == 1 {
            for key in config.keys_in_section("extensions") {
                let value = config.get(&format!("extensions.{key}")).unwrap_or("");
                match key.as_str() {
                    "objectformat" => {
                        hash = HashKind::from_name(value)
                            .ok_or_else(|| unsupported(format!("unknown object format '{value}'")))?
                    }
                    "refstorage" if value.eq_ignore_ascii_case("files") => {}
                    "refstorage" => {
                        return Err(unsupported(format!(
                            "reference storage '{value}' is not supported"
                        )))
                    }
                    "noop" | "preciousobjects" | "partialclone" | "worktreeconfig" => {}
                    other => return Err(unsupported(format!("unknown repository extension '{other}'"))),
                }
            }
        }
        let fsync = config.get_bool("canopy.fsync")?.unwrap_or(true);
        Ok(RepoLayout {
            git_dir,
            hash,
            fsync,
            config,
        })
    }

    /// Creates a bare repository at `path` (which may exist if it is empty) with `HEAD` naming
    /// `refs/heads/<branch>`.
    pub fn init(path: &Path, hash: HashKind, branch: &str) -> Result<RepoLayout> {
        if path.join("HEAD").exists() || path.join(".git").exists() {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                reason: "a repository already exists here".into(),
            });
        }
        for dir in ["objects/info", "objects/pack", "refs/heads", "refs/tags", "info"] {
            let d = path.join(dir);
            fs::create_dir_all(&d).map_err(io_err(&d))?;
        }
        let mut config = Config::default();
        config.set(
            "core.repositoryformatversion",
            if hash == HashKind::Sha1 { "0" } else { "1" },
        );
        config.set("core.filemode", "true");
        config.set("core.bare", "true");
        config.set("core.logallrefupdates", "true");
        if hash != HashKind::Sha1 {
            config.set("extensions.objectformat", hash.name());
        }
        config.save(&path.join("config"), true)?;
        let head = path.join("HEAD");
        fs::write(&head, format!("ref: refs/heads/{branch}\n")).map_err(io_err(&head))?;
        let desc = path.join("description");
        fs::write(&desc, "Canopy store\n").map_err(io_err(&desc))?;
        RepoLayout::open(path)
    }

    /// The object store of this repository.
    pub fn objects(&self) -> Result<GitObjects> {
        let objects = GitObjects::open(&self.git_dir.join("objects"), self.hash, self.fsync)?;
        // `canopy.autoPackLimit`: roll packs up when there are more than this many; 0: never.
        let limit = self.config.get_int("canopy.autopacklimit")?;
        Ok(match limit {
            Some(n) => objects.with_pack_limit(usize::try_from(n).unwrap_or(0)),
            None => objects,
        })
    }

    /// The reference store of this repository.
    pub fn refs(&self) -> GitRefs {
        GitRefs::new(self.git_dir.clone(), self.hash, self.fsync)
    }

    /// The object and reference stores of this repository, paired so that an update of a
    /// reference first makes the objects written through this object store durable. With
    /// `canopy.fsync`, both write through the store's [`journal`] (recovering what a writer
    /// that died left in it first).
    pub fn stores(&self) -> Result<(GitObjects, GitRefs)> {
        let objects = self.objects()?;
        let refs = self.refs().flushing(objects.clone());
        // `canopy.journal = false`: sync each file instead (for filesystems where `syncfs` or
        // advisory locks cannot be trusted).
        if !self.fsync || self.config.get_bool("canopy.journal")? == Some(false) {
            return Ok((objects, refs));
        }
        let journal = Journal::open(&self.git_dir, self.hash, &objects, &refs)?;
        let _ = objects.inner.journal.set(journal.clone());
        Ok((objects, refs.journaled(journal)))
    }
}

fn find_git_dir(path: &Path) -> Result<PathBuf> {
    let is_git_dir =
        |p: &Path| p.join("HEAD").is_file() && p.join("objects").is_dir() && p.join("refs").is_dir();
    let dot_git = path.join(".git");
    if dot_git.is_dir() && is_git_dir(&dot_git) {
        return Ok(dot_git);
    }
    if dot_git.is_file() {
        let text = fs::read_to_string(&dot_git).map_err(io_err(&dot_git))?;
        if let Some(target) = text.trim().strip_prefix("gitdir:") {
            let target = path.join(target.trim());
            if is_git_dir(&target) {
                return Ok(target);
            }
        }
    }
    if is_git_dir(path) {
        return Ok(path.to_path_buf());
    }
    Err(Error::NotARepository(path.to_path_buf()))
}

/// The object directory of a Git repository: loose objects and packs. New objects wait in
/// memory ([`queue`]) until a flush writes everything waiting as one pack; cloning shares the
/// same objects and queue.
#[derive(Clone)]
pub struct GitObjects {
    inner: Arc<ObjectsInner>,
}

struct ObjectsInner {
    hash: HashKind,
    objects_dir: PathBuf,
    fsync: bool,
    loose: LooseObjects,
    packs: Arc<PackSet>,
    queue: WriteQueue,
    /// Held while packs are being rolled up (one roll-up at a time in a process).
    rolling: Arc<Mutex<()>>,
    /// The thread rolling packs up, off the writers' path; joined when the store is dropped.
    roller: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Set when a batch asked for a roll-up while one was running: it runs once more.
    roll_again: Arc<std::sync::atomic::AtomicBool>,
    /// Packs are rolled up when there are more than this many (0: never).
    pack_limit: usize,
    /// Where durable batches are recorded instead of syncing their packs (see [`journal`]).
    journal: OnceLock<Arc<Journal>>,
    /// The commit-graph last read, with the size and mtime of the file it came from; re-read
    /// when the file changes (`gc` and `git commit-graph write` replace it).
    graph: Mutex<Option<(GraphStamp, Option<Arc<commit_graph::Graph>>)>>,
}

type GraphStamp = (u64, Option<SystemTime>);

/// Objects at least this large are written loose at once rather than held for a batch.
const LARGE_OBJECT: usize = 16 << 20;
/// A batch is written when this much is waiting, even before a flush.
const MAX_WAITING_BYTES: usize = 64 << 20;

impl GitObjects {
    pub fn open(objects_dir: &Path, hash: HashKind, fsync: bool) -> Result<GitObjects> {
        Ok(GitObjects {
            inner: Arc::new(ObjectsInner {
                hash,
                objects_dir: objects_dir.to_path_buf(),
                fsync,
                loose: LooseObjects::new(objects_dir.to_path_buf(), hash, fsync),
                packs: Arc::new(PackSet::open(objects_dir, hash)?),
                queue: WriteQueue::default(),
                rolling: Arc::new(Mutex::new(())),
                roller: Mutex::new(None),
                roll_again: Arc::new(std::sync::atomic::AtomicBool::new(false)),
                pack_limit: repack::ROLL_UP_ABOVE,
                journal: OnceLock::new(),
                graph: Mutex::new(None),
            }),
        })
    }

    /// The same store, rolling packs up when there are more than `limit` (0: never). Only for a
    /// store not yet shared.
    pub fn with_pack_limit(mut self, limit: usize) -> GitObjects {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.pack_limit = limit;
        }
        self
    }

    /// The `.pack` file holding `id`, if a pack does.
    pub fn pack_holding(&self, id: &ObjectId) -> Option<PathBuf> {
        self.inner.packs.pack_containing(id)
    }

    /// Starts a pack of new objects (see [`PackWriter`]); they become readable when it is
    /// finished.
    pub fn begin_pack(&self) -> Result<PackWriter<'_>> {
        self.inner.begin_pack()
    }

    /// How many packs the object directory holds (as this process last saw it).
    pub fn pack_count(&self) -> usize {
        self.inner.packs.len()
    }

    /// Looks at `objects/pack` again (packs installed or removed by others).
    pub(crate) fn rescan(&self) -> Result<()> {
        self.inner.packs.rescan().map(|_| ())
    }

    fn read_once(&self, id: &ObjectId) -> Result<Option<RawObject>> {
        let inner = &*self.inner;
        // Waiting objects first: one that leaves the queue is in a pack already.
        if let Some(obj) = inner.queue.get(id) {
            return Ok(Some(obj));
        }
        let external = |base: &ObjectId| inner.loose.read(base);
        if let Some(obj) = inner.packs.read(id, &external)? {
            return Ok(Some(obj));
        }
        inner.loose.read(id)
    }

    /// Whether `id` is waiting or packed already (freshening its pack for a concurrent `gc`).
    fn reuse(&self, id: &ObjectId) -> Result<bool> {
        let inner = &*self.inner;
        if inner.queue.contains(id) {
            return Ok(true);
        }
        if let Some(pack) = inner.packs.pack_containing(id) {
            // Reused: freshen the pack so a concurrent `gc` treats its objects as recent. If the
            // pack is gone (`gc` removed it), look again.
            if loose::freshen(&pack) {
                return Ok(true);
            }
            inner.packs.rescan()?;
            if let Some(pack) = inner.packs.pack_containing(id) {
                if loose::freshen(&pack) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Writes every waiting object as one pack (shared with concurrent flushers).
    fn flush_queue(&self) -> Result<()> {
        let inner = &*self.inner;
        let flushed = inner.queue.flush(|batch| inner.write_batch(batch))?;
        self.after_flush(flushed);
        Ok(())
    }

    /// After leading a batch: roll up small packs if there are too many — on a thread of its
    /// own, so that the writer that led the batch (and is waiting to move its reference) does
    /// not wait for it. The batch is durable whatever happens there; a roll-up that fails
    /// leaves every pack as it was, to be tried again after a later batch (or by `gc`).
    fn after_flush(&self, flushed: queue::Flushed) {
        use std::sync::atomic::Ordering;
        let inner = &*self.inner;
        let limit = inner.pack_limit;
        if !matches!(flushed, queue::Flushed::Led(_)) || limit == 0 || inner.packs.len() <= limit {
            return;
        }
        let mut roller = inner.roller.lock().unwrap_or_else(|e| e.into_inner());
        if roller.as_ref().is_some_and(|r| !r.is_finished()) {
            inner.roll_again.store(true, Ordering::Release);
            return;
        }
        if let Some(done) = roller.take() {
            let _ = done.join();
        }
        let (dir, packs, hash, fsync) = (
            inner.objects_dir.clone(),
            inner.packs.clone(),
            inner.hash,
            inner.fsync,
        );
        let (rolling, again, journal) = (
            inner.rolling.clone(),
            inner.roll_again.clone(),
            inner.journal.get().cloned(),
        );
        let roll = move || loop {
            again.store(false, Ordering::Release);
            if let Ok(_rolling) = rolling.try_lock() {
                let _ = repack::roll_up(&dir, &packs, hash, fsync, journal.as_deref());
            }
            if !again.load(Ordering::Acquire) {
                break;
            }
        };
        if cfg!(target_arch = "wasm32") {
            roll();
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("canopy-roll-up".into())
            .spawn(roll.clone());
        match spawned {
            Ok(thread) => *roller = Some(thread),
            Err(_) => roll(),
        }
    }
}

impl std::fmt::Debug for GitObjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitObjects")
            .field("objects_dir", &self.inner.objects_dir)
            .finish_non_exhaustive()
    }
}

impl ObjectsInner {
    fn begin_pack(&self) -> Result<PackWriter<'_>> {
        PackWriter::with_packs(
            &self.objects_dir.join("pack"),
            self.hash,
            self.fsync,
            Some(&self.packs),
        )
    }

    /// One batch of the queue as one pack, durable and readable when this returns.
    fn write_batch(&self, batch: &[queue::Waiting]) -> Result<()> {
        let mut pack = self
            .begin_pack()?
            .trees_uncompressed()
            .journaled(self.journal.get().map(|j| &**j));
        let objects: Vec<_> = batch.iter().map(|w| (w.id, w.kind, &w.data[..])).collect();
        pack.add_batch(&objects)?;
        pack.finish()?;
        Ok(())
    }
}

impl Drop for ObjectsInner {
    fn drop(&mut self) {
        // Objects nobody flushed are still worth keeping, as a loose write would have kept them.
        let _ = self.queue.flush(|batch| self.write_batch(batch));
        // A roll-up under way finishes (a process that exits right after its commit, like
        // `canopy set`, still keeps the pack count bounded).
        let roller = self.roller.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(roller) = roller {
            let _ = roller.join();
        }
    }
}

impl ContentAddressable for GitObjects {
    fn hash_kind(&self) -> HashKind {
        self.inner.hash
    }

    fn read(&self, id: &ObjectId) -> Result<Option<RawObject>> {
        if let Some(obj) = self.read_once(id)? {
            return Ok(Some(obj));
        }
        // A concurrent `git gc` may have moved the object from a loose file into a new pack.
        if self.inner.packs.rescan()? {
            if let Some(obj) = self.read_once(id)? {
                return Ok(Some(obj));
            }
        }
        // Not found, but a pack that could not be opened may hold it: say so.
        if let Some((path, reason)) = self.inner.packs.broken().into_iter().next() {
            return Err(Error::CorruptFile {
                path,
                reason: format!(
                    "{reason}; object {id} may be in it (`canopy fsck --repair` sets the pack aside)"
                ),
            });
        }
        Ok(None)
    }

    fn contains(&self, id: &ObjectId) -> Result<bool> {
        let inner = &*self.inner;
        if inner.queue.contains(id) || inner.packs.contains(id)? || inner.loose.contains(id) {
            return Ok(true);
        }
        Ok(inner.packs.rescan()? && inner.packs.contains(id)?)
    }

    /// Waiting and packed objects only: loose ones are Git's (or very large values), never a
    /// commit this store would make again.
    fn contains_known(&self, id: &ObjectId) -> Result<bool> {
        let inner = &*self.inner;
        Ok(inner.queue.contains(id) || inner.packs.contains(id)?)
    }

    fn write(&self, kind: ObjectKind, data: &[u8]) -> Result<ObjectId> {
        let inner = &*self.inner;
        let id = ObjectId::for_object(inner.hash, kind, data);
        if data.len() >= LARGE_OBJECT {
            if self.reuse(&id)? || inner.loose.reuse(&id) {
                return Ok(id);
            }
            return inner.loose.write(kind, data);
        }
        // A small object is not looked for among loose files (a lookup per object on the
        // commit path, nearly always in vain): if Git stored it loose, the pack holds a second
        // copy, which is as good a freshening as any and goes at the next `gc`.
        if self.reuse(&id)? {
            return Ok(id);
        }
        if inner.queue.push(id, kind, data) >= MAX_WAITING_BYTES {
            self.flush_queue()?;
        }
        Ok(id)
    }

    fn write_stream(&self, kind: ObjectKind, size: u64, data: &mut dyn std::io::Read) -> Result<ObjectId> {
        if size < LARGE_OBJECT as u64 {
            let bytes = crate::backend::read_exactly(data, size)?;
            return self.write(kind, &bytes);
        }
        // Large objects go loose, as `write` puts them, but streamed.
        self.inner.loose.write_stream(kind, size, data)
    }

    fn read_stream(&self, id: &ObjectId) -> Result<Option<ObjectStream<'_>>> {
        let inner = &*self.inner;
        // Loose objects (where large values are written) stream, and so do large packed ones
        // stored whole (git keeps files past `core.bigFileThreshold` out of deltas); the rest
        // are read whole.
        if !inner.queue.contains(id) {
            if let Some(stream) = inner.packs.read_stream(id, LARGE_OBJECT as u64)? {
                return Ok(Some(stream));
            }
            if !inner.packs.contains(id)? {
                if let Some(stream) = inner.loose.read_stream(id)? {
                    return Ok(Some(stream));
                }
            }
        }
        Ok(self.read(id)?.map(ObjectStream::whole))
    }

    fn flush(&self) -> Result<()> {
        self.flush_queue()?;
        // Batches the journal holds are synced by the reference update that follows them;
        // a flush on its own syncs them now.
        if let Some(journal) = self.inner.journal.get() {
            journal.sync()?;
        }
        self.inner.loose.flush()
    }

    fn flush_for(&self, id: &ObjectId) -> Result<()> {
        let inner = &*self.inner;
        let hash = inner.hash;
        let links = |kind, data: &[u8]| {
            crate::sync::check::check_object(hash, kind, data)
                .ok()
                .map(|links| links.into_iter().map(|(id, _)| id).collect())
        };
        let flushed = inner
            .queue
            .flush_reachable(id, links, |batch| inner.write_batch(batch))?;
        self.after_flush(flushed);
        inner.loose.flush()
    }

    fn begin_batch(&self) -> Result<Box<dyn WriteBatch + '_>> {
        Ok(Box::new(self.begin_pack()?.trees_uncompressed()))
    }

    fn commit_graph(&self) -> Option<Arc<commit_graph::Graph>> {
        let inner = &*self.inner;
        let meta = fs::metadata(inner.objects_dir.join("info").join("commit-graph")).ok()?;
        let stamp = (meta.len(), meta.modified().ok());
        let mut cache = inner.graph.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, graph)) = cache.as_ref() {
            if *seen == stamp {
                return graph.clone();
            }
        }
        let graph = commit_graph::Graph::open(&inner.objects_dir, inner.hash).map(Arc::new);
        *cache = Some((stamp, graph.clone()));
        graph
    }

    fn ids_with_prefix(&self, prefix: &str) -> Result<Vec<ObjectId>> {
        let inner = &*self.inner;
        inner.packs.rescan()?;
        let mut ids = inner.packs.ids_with_prefix(prefix)?;
        ids.extend(inner.loose.ids_with_prefix(prefix)?);
        ids.extend(inner.queue.ids_with_prefix(prefix));
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}

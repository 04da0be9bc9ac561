//! The on-disk backend: a real Git repository, shared safely with `git` itself.
//!
//! Objects are read from loose files and pack files and written as loose files (temporary file,
//! fsync, rename), or, for a batch, streamed into one pack file ([`pack_write`]). References are loose files and `packed-refs`, updated under `<ref>.lock`
//! exactly as Git does, with reflogs. A store Canopy creates is a bare repository; an existing
//! checkout is opened through its `.git`. Repositories using an extension Canopy does not
//! understand (reftable, unknown v1 extensions) are refused rather than misread.

pub mod commit_graph;
pub mod config;
mod delta_encode;
pub mod fsck;
pub mod gc;
mod loose;
pub mod pack;
pub mod pack_write;
pub mod refs;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

pub use config::{global_layers, Config};
use loose::{io_err, LooseObjects};
use pack::PackSet;
pub use pack_write::{PackInfo, PackWriter};
pub use refs::GitRefs;

use super::{ContentAddressable, Error, Result, WriteBatch};
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
        GitObjects::open(&self.git_dir.join("objects"), self.hash, self.fsync)
    }

    /// The reference store of this repository.
    pub fn refs(&self) -> GitRefs {
        GitRefs::new(self.git_dir.clone(), self.hash, self.fsync)
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

/// The object directory of a Git repository: loose objects and packs.
pub struct GitObjects {
    hash: HashKind,
    objects_dir: PathBuf,
    fsync: bool,
    loose: LooseObjects,
    packs: PackSet,
    /// The commit-graph last read, with the size and mtime of the file it came from; re-read
    /// when the file changes (`gc` and `git commit-graph write` replace it).
    graph: Mutex<Option<(GraphStamp, Option<Arc<commit_graph::Graph>>)>>,
}

type GraphStamp = (u64, Option<SystemTime>);

impl GitObjects {
    pub fn open(objects_dir: &Path, hash: HashKind, fsync: bool) -> Result<GitObjects> {
        Ok(GitObjects {
            hash,
            objects_dir: objects_dir.to_path_buf(),
            fsync,
            loose: LooseObjects::new(objects_dir.to_path_buf(), hash, fsync),
            packs: PackSet::open(objects_dir, hash)?,
            graph: Mutex::new(None),
        })
    }

    /// Starts a pack of new objects (see [`PackWriter`]); they become readable when it is
    /// finished.
    pub fn begin_pack(&self) -> Result<PackWriter<'_>> {
        PackWriter::with_packs(
            &self.objects_dir.join("pack"),
            self.hash,
            self.fsync,
            Some(&self.packs),
        )
    }

    fn read_once(&self, id: &ObjectId) -> Result<Option<RawObject>> {
        let external = |base: &ObjectId| self.loose.read(base);
        if let Some(obj) = self.packs.read(id, &external)? {
            return Ok(Some(obj));
        }
        self.loose.read(id)
    }
}

impl ContentAddressable for GitObjects {
    fn hash_kind(&self) -> HashKind {
        self.hash
    }

    fn read(&self, id: &ObjectId) -> Result<Option<RawObject>> {
        if let Some(obj) = self.read_once(id)? {
            return Ok(Some(obj));
        }
        // A concurrent `git gc` may have moved the object from a loose file into a new pack.
        if self.packs.rescan()? {
            return self.read_once(id);
        }
        Ok(None)
    }

    fn contains(&self, id: &ObjectId) -> Result<bool> {
        if self.packs.contains(id)? || self.loose.contains(id) {
            return Ok(true);
        }
        Ok(self.packs.rescan()? && self.packs.contains(id)?)
    }

    fn write(&self, kind: ObjectKind, data: &[u8]) -> Result<ObjectId> {
        let id = ObjectId::for_object(self.hash, kind, data);
        if let Some(pack) = self.packs.pack_containing(&id) {
            // Reused: freshen the pack so a concurrent `gc` treats its objects as recent. If the
            // pack is gone (`gc` removed it), look again, and write the object loose if need be.
            if loose::freshen(&pack) {
                return Ok(id);
            }
            self.packs.rescan()?;
            if let Some(pack) = self.packs.pack_containing(&id) {
                if loose::freshen(&pack) {
                    return Ok(id);
                }
            }
        }
        self.loose.write(kind, data)
    }

    fn flush(&self) -> Result<()> {
        self.loose.flush()
    }

    fn begin_batch(&self) -> Result<Box<dyn WriteBatch + '_>> {
        Ok(Box::new(self.begin_pack()?))
    }

    fn commit_graph(&self) -> Option<Arc<commit_graph::Graph>> {
        let meta = fs::metadata(self.objects_dir.join("info").join("commit-graph")).ok()?;
        let stamp = (meta.len(), meta.modified().ok());
        let mut cache = self.graph.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, graph)) = cache.as_ref() {
            if *seen == stamp {
                return graph.clone();
            }
        }
        let graph = commit_graph::Graph::open(&self.objects_dir, self.hash).map(Arc::new);
        *cache = Some((stamp, graph.clone()));
        graph
    }

    fn ids_with_prefix(&self, prefix: &str) -> Result<Vec<ObjectId>> {
        self.packs.rescan()?;
        let mut ids = self.packs.ids_with_prefix(prefix)?;
        ids.extend(self.loose.ids_with_prefix(prefix)?);
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}

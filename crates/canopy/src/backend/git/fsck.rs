//! Checking a repository as `git fsck --strict` does, and returning it to its last good state.
//!
//! [`fsck`] reads every object in the store (loose files and packs), checks that it inflates,
//! hashes to its id and passes the same object checks as a received pack
//! ([`crate::sync::check`]: tree modes, order, entry names, commit and tag syntax, identities);
//! verifies every pack's and index's checksums, offsets and CRC32s ([`super::pack::verify`]);
//! parses every reference, `packed-refs` and every reflog; and walks everything reachable from
//! the references, `HEAD` and the reflogs. Missing or damaged objects, broken links and bad
//! references are errors; unreachable objects nothing points at are reported as dangling (info),
//! as Git does. The result is a typed [`FsckReport`].
//!
//! With [`FsckOptions::repair`], damage is undone without touching good data: stale temporary
//! files go; a damaged loose object, and a damaged pack or one holding a malformed object (after
//! its intact, well-formed objects are copied out as loose objects), are moved into
//! `<git dir>/fsck-quarantine/`, never deleted; a reference that
//! is torn or whose history is no longer complete moves back to the newest entry of its reflog
//! whose commit is complete (every object reachable from it present and sound); reflog entries
//! naming incomplete history are dropped (Git's fsck would report them). What cannot be repaired
//! (a reference with no complete reflog entry, a corrupt `packed-refs`) is left as it is and reported again.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::loose::{self, io_err, LooseObjects};
use super::{pack, GitRefs, RepoLayout};
use crate::backend::{AtomicWrite, Error, Expected, RefLog, RefTarget, Result};
use crate::object::{Commit, HashKind, Mode, ObjectId, ObjectKind, RawObject, Signature, Tag, TreeEntry};
use crate::sync::check::{check_object, Links};

/// How a check runs.
#[derive(Debug, Clone)]
pub struct FsckOptions {
    /// Undo the damage found (see the module documentation).
    pub repair: bool,
    /// Temporary files younger than this may belong to a running writer: they are left alone.
    pub grace: Duration,
}

impl Default for FsckOptions {
    fn default() -> FsckOptions {
        FsckOptions {
            repair: false,
            grace: Duration::from_secs(24 * 3600),
        }
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

/// What a finding is about; displayed as Git's camel-case message ids are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FindingKind {
    /// A reachable object, or one named by a reference or reflog, is not in the store.
    MissingObject,
    /// A stored object does not inflate, has a bad header, or hashes to another id.
    CorruptObject,
    /// An object that is intact but malformed (`fsck --strict`'s object checks).
    BadObject,
    /// A link names an object of another kind (a tree entry naming a commit, …).
    WrongKind,
    /// A pack file whose checksum, entries or objects are damaged.
    BadPack,
    /// A pack index whose checksum, order, fan-out or offsets are damaged.
    BadIndex,
    /// A reference file that does not parse, or names a missing object or a non-commit branch.
    BadRef,
    /// `packed-refs` does not parse.
    BadPackedRefs,
    /// A reflog that does not parse or names a missing object.
    BadReflog,
    /// A temporary file older than the grace period, left by an interrupted writer.
    TempFile,
    /// A file in the object directory that is not an object, pack or known companion.
    GarbageFile,
    /// An unreachable object no other object points at.
    Dangling,
    /// `objects/info/commit-graph` fails its checksum or structure, or disagrees with the
    /// commits it describes (readers would walk a wrong history, or ignore the file).
    BadCommitGraph,
}

impl FindingKind {
    pub fn severity(self) -> Severity {
        match self {
            FindingKind::TempFile | FindingKind::GarbageFile => Severity::Warning,
            FindingKind::Dangling => Severity::Info,
            _ => Severity::Error,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FindingKind::MissingObject => "missingObject",
            FindingKind::CorruptObject => "corruptObject",
            FindingKind::BadObject => "badObject",
            FindingKind::WrongKind => "wrongKind",
            FindingKind::BadPack => "badPack",
            FindingKind::BadIndex => "badIndex",
            FindingKind::BadRef => "badRef",
            FindingKind::BadPackedRefs => "badPackedRefs",
            FindingKind::BadReflog => "badReflog",
            FindingKind::TempFile => "tempFile",
            FindingKind::GarbageFile => "garbageFile",
            FindingKind::Dangling => "dangling",
            FindingKind::BadCommitGraph => "badCommitGraph",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One thing found: its kind, the object id, reference or file (relative to the git directory)
/// it is about, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub kind: FindingKind,
    pub subject: String,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} {}: {}",
            self.severity, self.kind, self.subject, self.message
        )
    }
}

/// What a repair did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RepairAction {
    /// A stale temporary file was deleted.
    Removed,
    /// A damaged file was moved into the quarantine directory.
    Quarantined,
    /// Intact objects of a damaged pack were written as loose objects.
    Salvaged,
    /// A reference was moved back to a complete commit.
    MovedRef,
    /// Reflog entries naming incomplete history were dropped.
    PrunedReflog,
    /// Damage that repair leaves as it is.
    NotRepaired,
}

impl fmt::Display for RepairAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RepairAction::Removed => "removed",
            RepairAction::Quarantined => "quarantined",
            RepairAction::Salvaged => "salvaged",
            RepairAction::MovedRef => "moved-ref",
            RepairAction::PrunedReflog => "pruned-reflog",
            RepairAction::NotRepaired => "not-repaired",
        })
    }
}

/// One repair step.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Repair {
    pub action: RepairAction,
    pub subject: String,
    pub detail: String,
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "repair: {} {}: {}", self.action, self.subject, self.detail)
    }
}

/// The outcome of [`fsck`].
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FsckReport {
    /// Objects read and checked.
    pub objects: usize,
    /// What the check found (before any repair).
    pub findings: Vec<Finding>,
    /// What the repair did (empty without `repair`).
    pub repairs: Vec<Repair>,
    /// With `repair`: what a check after the repair still finds.
    pub after_repair: Option<Vec<Finding>>,
}

impl FsckReport {
    /// The findings describing the store as it is now (after the repair, if one ran).
    pub fn current(&self) -> &[Finding] {
        self.after_repair.as_deref().unwrap_or(&self.findings)
    }

    /// How many errors the store has now.
    pub fn errors(&self) -> usize {
        self.current()
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }

    pub fn is_clean(&self) -> bool {
        self.errors() == 0
    }
}

/// Checks the repository at `layout`, and repairs it when asked.
pub fn fsck(layout: &RepoLayout, opts: &FsckOptions) -> Result<FsckReport> {
    let scan = Scan::run(layout, opts.grace)?;
    let mut report = FsckReport {
        objects: scan.objects.len(),
        findings: scan.findings.clone(),
        ..FsckReport::default()
    };
    if opts.repair {
        report.repairs = repair(layout, opts, scan)?;
        report.after_repair = Some(Scan::run(layout, opts.grace)?.findings);
    }
    Ok(report)
}

/// Where an object was found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Loose(PathBuf),
    Pack(String),
}

/// An object present and intact (it hashes to its id).
struct Obj {
    kind: ObjectKind,
    links: Links,
    /// Whether it passed the object checks.
    valid: bool,
    source: Source,
}

/// A reference as found on disk.
struct RefState {
    name: String,
    /// `None`: the file is torn (or `HEAD` is broken).
    target: Option<ObjectId>,
}

/// Everything one pass over the repository learned.
struct Scan {
    hash: HashKind,
    git_dir: PathBuf,
    objects: HashMap<ObjectId, Obj>,
    findings: Vec<Finding>,
    /// Loose files that are damaged or hold a malformed object.
    bad_loose: Vec<PathBuf>,
    /// Malformed objects inside packs (not repairable in place).
    bad_packed: Vec<(ObjectId, String)>,
    /// Stems of damaged packs.
    bad_packs: Vec<String>,
    /// Temporary files older than the grace period.
    stale_temps: Vec<PathBuf>,
    /// Every direct or torn reference, `HEAD` included when it is not symbolic.
    refs: Vec<RefState>,
    /// Every name whose reflog was read.
    logged: Vec<String>,
    /// The commit-graph file, when it is damaged or wrong.
    bad_graph: Option<PathBuf>,
}

impl Scan {
    fn run(layout: &RepoLayout, grace: Duration) -> Result<Scan> {
        let mut scan = Scan {
            hash: layout.hash,
            git_dir: layout.git_dir.clone(),
            objects: HashMap::new(),
            findings: Vec::new(),
            bad_loose: Vec::new(),
            bad_packed: Vec::new(),
            bad_packs: Vec::new(),
            stale_temps: Vec::new(),
            refs: Vec::new(),
            logged: Vec::new(),
            bad_graph: None,
        };
        let cutoff = SystemTime::now()
            .checked_sub(grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let objects_dir = layout.git_dir.join("objects");
        scan.packs(&objects_dir.join("pack"), cutoff)?;
        scan.loose(&objects_dir, cutoff)?;
        let roots = scan.references(&layout.refs())?;
        scan.connectivity(&roots);
        scan.commit_graph(&objects_dir)?;
        Ok(scan)
    }

    /// Checks the commit-graph in full, whatever readers have recorded as checked: its
    /// trailing hash and structure, and every commit it lists against the commit object (tree
    /// and parents, in order; a commit missing from the store is an error, as `git
    /// commit-graph verify` has it).
    fn commit_graph(&mut self, objects_dir: &Path) -> Result<()> {
        let path = objects_dir.join("info").join("commit-graph");
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let subject = self.rel(&path);
        let mut wrong = Vec::new();
        match super::commit_graph::Graph::parse(self.hash, data) {
            Err(reason) => wrong.push(reason.to_string()),
            Ok(graph) => {
                for pos in 0..graph.len() {
                    let (Some(id), Some(c)) = (graph.id_at(pos), graph.commit_at(pos)) else {
                        wrong.push(format!("entry {pos} does not read"));
                        continue;
                    };
                    let listed: Vec<ObjectId> = std::iter::once(c.tree).chain(c.parents).collect();
                    match self.objects.get(&id) {
                        Some(obj) if obj.kind == ObjectKind::Commit => {
                            let stored: Vec<ObjectId> = obj.links.iter().map(|(l, _)| *l).collect();
                            if obj.valid && stored != listed {
                                wrong.push(format!(
                                    "commit {id}: the graph gives tree and parents {}, the commit {}",
                                    join_ids(&listed),
                                    join_ids(&stored)
                                ));
                            }
                        }
                        Some(_) => wrong.push(format!("{id} is not a commit")),
                        None => wrong.push(format!("commit {id} is not in the store")),
                    }
                }
            }
        }
        if !wrong.is_empty() {
            let more = wrong.len().saturating_sub(3);
            let mut message = wrong.into_iter().take(3).collect::<Vec<_>>().join("; ");
            if more > 0 {
                message.push_str(&format!("; and {more} more"));
            }
            self.find(FindingKind::BadCommitGraph, subject, message);
            self.bad_graph = Some(path);
        }
        Ok(())
    }

    fn rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.git_dir)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    fn find(&mut self, kind: FindingKind, subject: impl Into<String>, message: impl Into<String>) {
        self.findings.push(Finding {
            severity: kind.severity(),
            kind,
            subject: subject.into(),
            message: message.into(),
        });
    }

    /// Runs the object checks on an intact object and records it.
    fn add_object(&mut self, id: ObjectId, obj: &RawObject, source: Source) {
        if self.objects.contains_key(&id) {
            return;
        }
        let (valid, links) = match check_object(self.hash, obj.kind, &obj.data) {
            Ok(links) => (true, links),
            Err(reason) => {
                let place = match &source {
                    Source::Loose(path) => self.rel(path),
                    Source::Pack(stem) => format!("objects/pack/{stem}.pack"),
                };
                self.find(
                    FindingKind::BadObject,
                    id.to_hex(),
                    format!("{} in {place}: {reason}", obj.kind),
                );
                match &source {
                    Source::Loose(path) => self.bad_loose.push(path.clone()),
                    Source::Pack(stem) => self.bad_packed.push((id, stem.clone())),
                }
                (false, lenient_links(self.hash, obj))
            }
        };
        self.objects.insert(
            id,
            Obj {
                kind: obj.kind,
                links,
                valid,
                source,
            },
        );
    }

    fn packs(&mut self, dir: &Path, cutoff: SystemTime) -> Result<()> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(dir)(e)),
        };
        let mut stems = Vec::new();
        let mut names = HashSet::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
                continue;
            };
            if name.starts_with("tmp_") {
                self.temp(&path, cutoff);
            } else if let Some(stem) = name.strip_suffix(".idx") {
                stems.push(stem.to_string());
            }
            names.insert(name);
        }
        for name in &names {
            if let Some(stem) = name.strip_suffix(".pack") {
                if !names.contains(&format!("{stem}.idx")) && !name.starts_with("tmp_") {
                    self.find(
                        FindingKind::GarbageFile,
                        format!("objects/pack/{name}"),
                        "pack without an index (ignored by readers)",
                    );
                }
            }
        }
        stems.sort();
        let hash = self.hash;
        let loose = LooseObjects::new(dir.parent().unwrap_or(dir).to_path_buf(), hash, false);
        let external = |id: &ObjectId| loose.read(id);
        for stem in stems {
            let mut found: Vec<(ObjectId, RawObject)> = Vec::new();
            let mut broken: Vec<(ObjectId, String)> = Vec::new();
            let problems = pack::verify(dir, &stem, hash, &external, &mut |id, result| match result {
                Ok(obj) => found.push((id, obj)),
                Err(reason) => broken.push((id, reason)),
            });
            for (id, obj) in found {
                self.add_object(id, &obj, Source::Pack(stem.clone()));
            }
            for (id, reason) in broken {
                self.find(
                    FindingKind::CorruptObject,
                    id.to_hex(),
                    format!("in objects/pack/{stem}.pack: {reason}"),
                );
            }
            if !problems.is_empty() {
                self.bad_packs.push(stem.clone());
            }
            for p in problems {
                let is_idx = p.path.extension().is_some_and(|e| e == "idx");
                let kind = if is_idx {
                    FindingKind::BadIndex
                } else {
                    FindingKind::BadPack
                };
                let subject = self.rel(&p.path);
                self.find(kind, subject, p.reason);
            }
        }
        Ok(())
    }

    fn temp(&mut self, path: &Path, cutoff: SystemTime) {
        let old = fs::metadata(path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < cutoff);
        if old {
            let subject = self.rel(path);
            self.find(
                FindingKind::TempFile,
                subject,
                "temporary file left by an interrupted write",
            );
            self.stale_temps.push(path.to_path_buf());
        }
    }

    /// A loose object file that does not hold its object: reported, and set aside by a repair.
    fn corrupt_loose(&mut self, id: ObjectId, path: PathBuf, reason: &str) {
        let file = self.rel(&path);
        self.find(
            FindingKind::CorruptObject,
            id.to_hex(),
            format!("{file}: {reason}"),
        );
        self.bad_loose.push(path);
    }

    fn loose(&mut self, objects_dir: &Path, cutoff: SystemTime) -> Result<()> {
        let hash = self.hash;
        let store = LooseObjects::new(objects_dir.to_path_buf(), hash, false);
        for fan in 0..=255u8 {
            let dir = objects_dir.join(format!("{fan:02x}"));
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&dir)(e)),
            };
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if name.starts_with("tmp_") {
                    self.temp(&path, cutoff);
                    continue;
                }
                let id = ObjectId::from_hex(format!("{fan:02x}{name}").as_bytes())
                    .filter(|id| id.hash_kind() == hash);
                let Some(id) = id else {
                    let subject = self.rel(&path);
                    self.find(FindingKind::GarbageFile, subject, "not an object file");
                    continue;
                };
                let len = fs::metadata(&path).map_err(io_err(&path))?.len();
                if len >= STREAMED_CHECK && !self.objects.contains_key(&id) {
                    match streamed_blob(&store, &id) {
                        Some(Ok(())) => {
                            // A blob has no content to check beyond its hash, and the scan
                            // keeps only kinds and links: the bytes are not needed.
                            let empty = RawObject::new(ObjectKind::Blob, Vec::new());
                            self.add_object(id, &empty, Source::Loose(path));
                            continue;
                        }
                        Some(Err(reason)) => {
                            self.corrupt_loose(id, path, &reason);
                            continue;
                        }
                        None => {}
                    }
                }
                let bytes = fs::read(&path).map_err(io_err(&path))?;
                let decoded = loose::decode(&bytes).and_then(|obj| {
                    let actual = obj.id(hash);
                    if actual == id {
                        Ok(obj)
                    } else {
                        Err(format!("content hashes to {actual}"))
                    }
                });
                match decoded {
                    Ok(obj) => {
                        if let Some(existing) = self.objects.get(&id) {
                            // Also in a pack: that copy was checked already.
                            if !existing.valid {
                                self.bad_loose.push(path.clone());
                            }
                            continue;
                        }
                        self.add_object(id, &obj, Source::Loose(path));
                    }
                    Err(reason) => self.corrupt_loose(id, path, &reason),
                }
            }
        }
        Ok(())
    }

    /// Checks references, `packed-refs` and reflogs; returns the reachability roots.
    fn references(&mut self, refs: &GitRefs) -> Result<Vec<(ObjectId, String)>> {
        let mut roots = Vec::new();
        let mut names: Vec<String> = Vec::new();
        match refs.read_ref("HEAD") {
            Ok(Some(RefTarget::Direct(id))) => self.refs.push(RefState {
                name: "HEAD".into(),
                target: Some(id),
            }),
            Ok(_) => {}
            Err(Error::BadRef { reason, .. }) => {
                self.find(FindingKind::BadRef, "HEAD", reason);
                self.refs.push(RefState {
                    name: "HEAD".into(),
                    target: None,
                });
            }
            Err(e) => return Err(e),
        }
        names.push("HEAD".into());
        for name in refs.loose_names()? {
            match refs.read_ref(&name) {
                Ok(Some(RefTarget::Direct(id))) => self.refs.push(RefState {
                    name: name.clone(),
                    target: Some(id),
                }),
                Ok(_) => {}
                Err(Error::BadRef { reason, .. }) => {
                    self.find(FindingKind::BadRef, name.clone(), reason);
                    self.refs.push(RefState {
                        name: name.clone(),
                        target: None,
                    });
                }
                // A corrupt `packed-refs` is reported below.
                Err(Error::CorruptFile { .. }) => {}
                Err(e) => return Err(e),
            }
            names.push(name);
        }
        match refs.list("refs/") {
            Ok(listed) => {
                for (name, id) in listed {
                    if !names.contains(&name) {
                        self.refs.push(RefState {
                            name: name.clone(),
                            target: Some(id),
                        });
                        names.push(name);
                    }
                }
            }
            Err(Error::CorruptFile { reason, .. }) => {
                self.find(FindingKind::BadPackedRefs, "packed-refs", reason);
            }
            Err(e) => return Err(e),
        }
        for i in 0..self.refs.len() {
            let (name, Some(id)) = (self.refs[i].name.clone(), self.refs[i].target) else {
                continue;
            };
            match self.objects.get(&id).map(|o| o.kind) {
                None => self.find(
                    FindingKind::BadRef,
                    name.clone(),
                    format!("points at missing object {id}"),
                ),
                Some(kind) if name.starts_with("refs/heads/") && kind != ObjectKind::Commit => self.find(
                    FindingKind::BadRef,
                    name.clone(),
                    format!("branch points at {kind} {id}, not a commit"),
                ),
                Some(_) => {}
            }
            roots.push((id, name));
        }
        for name in names {
            match refs.reflog(&name) {
                Ok(entries) => {
                    for entry in entries {
                        for id in entry.old.into_iter().chain(entry.new) {
                            if self.objects.contains_key(&id) {
                                roots.push((id, format!("reflog of {name}")));
                            } else {
                                self.find(
                                    FindingKind::BadReflog,
                                    name.clone(),
                                    format!("entry names missing object {id}"),
                                );
                            }
                        }
                    }
                }
                Err(Error::CorruptFile { reason, .. }) => {
                    self.find(FindingKind::BadReflog, name.clone(), reason)
                }
                Err(Error::InvalidRefName(_)) => continue,
                Err(e) => return Err(e),
            }
            self.logged.push(name);
        }
        Ok(roots)
    }

    /// Walks from the roots: every link must name a present object of the right kind. Objects
    /// never reached that nothing points at are dangling.
    fn connectivity(&mut self, roots: &[(ObjectId, String)]) {
        let mut reached: HashSet<ObjectId> = HashSet::new();
        let mut missing: HashSet<ObjectId> = HashSet::new();
        let mut stack: Vec<ObjectId> = Vec::new();
        for (id, _) in roots {
            if self.objects.contains_key(id) && reached.insert(*id) {
                stack.push(*id);
            }
        }
        let mut found = Vec::new();
        while let Some(id) = stack.pop() {
            let Some(obj) = self.objects.get(&id) else {
                continue;
            };
            for &(target, expected) in &obj.links {
                match self.objects.get(&target) {
                    None => {
                        if missing.insert(target) {
                            found.push((
                                FindingKind::MissingObject,
                                target,
                                format!("missing {expected}, reached from {} {id}", obj.kind),
                            ));
                        }
                    }
                    Some(t) if t.kind != expected => found.push((
                        FindingKind::WrongKind,
                        target,
                        format!(
                            "{} {id} links to it as a {expected}, it is a {}",
                            obj.kind, t.kind
                        ),
                    )),
                    Some(_) => {
                        if reached.insert(target) {
                            stack.push(target);
                        }
                    }
                }
            }
        }
        for (kind, id, message) in found {
            self.find(kind, id.to_hex(), message);
        }
        let referenced: HashSet<ObjectId> = self
            .objects
            .values()
            .flat_map(|o| o.links.iter().map(|l| l.0))
            .collect();
        let mut dangling: Vec<(ObjectId, ObjectKind)> = self
            .objects
            .iter()
            .filter(|(id, _)| !reached.contains(id) && !referenced.contains(id))
            .map(|(id, o)| (*id, o.kind))
            .collect();
        dangling.sort();
        for (id, kind) in dangling {
            self.find(FindingKind::Dangling, id.to_hex(), format!("dangling {kind}"));
        }
    }

    /// Whether everything reachable from `id` is present and sound; `memo` holds ids already
    /// known complete.
    fn complete(&self, id: ObjectId, memo: &mut HashSet<ObjectId>) -> bool {
        let mut seen: HashSet<ObjectId> = HashSet::new();
        let mut stack = vec![(id, None)];
        while let Some((id, expected)) = stack.pop() {
            if memo.contains(&id) || !seen.insert(id) {
                continue;
            }
            let Some(obj) = self.objects.get(&id) else {
                return false;
            };
            if !obj.valid || expected.is_some_and(|k| k != obj.kind) {
                return false;
            }
            stack.extend(obj.links.iter().map(|&(t, k)| (t, Some(k))));
        }
        memo.extend(seen);
        true
    }
}

/// The links of a malformed object, as far as its syntax allows (for the connectivity walk).
fn lenient_links(hash: HashKind, obj: &RawObject) -> Links {
    match obj.kind {
        ObjectKind::Blob => Vec::new(),
        ObjectKind::Tree => TreeEntry::parse_all(hash, &obj.data)
            .map(|entries| {
                entries
                    .into_iter()
                    .filter(|e| e.mode != Mode::Gitlink)
                    .map(|e| {
                        let kind = if e.mode == Mode::Tree {
                            ObjectKind::Tree
                        } else {
                            ObjectKind::Blob
                        };
                        (e.id, kind)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        ObjectKind::Commit => Commit::parse(hash, &obj.data)
            .map(|c| {
                std::iter::once((c.tree, ObjectKind::Tree))
                    .chain(c.parents.iter().map(|p| (*p, ObjectKind::Commit)))
                    .collect()
            })
            .unwrap_or_default(),
        ObjectKind::Tag => Tag::parse(hash, &obj.data)
            .map(|t| vec![(t.object, t.target_kind)])
            .unwrap_or_default(),
    }
}

/// The quarantine directory of this repair: `<git dir>/fsck-quarantine/<time>-<pid>`.
fn join_ids(ids: &[ObjectId]) -> String {
    ids.iter().map(ObjectId::to_hex).collect::<Vec<_>>().join(" ")
}

struct Quarantine {
    git_dir: PathBuf,
    dir: PathBuf,
}

impl Quarantine {
    fn new(git_dir: &Path) -> Quarantine {
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Quarantine {
            git_dir: git_dir.to_path_buf(),
            dir: git_dir
                .join("fsck-quarantine")
                .join(format!("{secs}-{}", std::process::id())),
        }
    }

    /// Moves `path` (inside the git directory) to the same relative place in the quarantine.
    fn take(&self, path: &Path) -> Result<PathBuf> {
        let rel = path.strip_prefix(&self.git_dir).unwrap_or(path);
        let dest = self.dir.join(rel);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        fs::rename(path, &dest).map_err(io_err(path))?;
        Ok(dest)
    }
}

fn repair(layout: &RepoLayout, opts: &FsckOptions, scan: Scan) -> Result<Vec<Repair>> {
    let mut done = Vec::new();
    let mut note = |action, subject: String, detail: String| {
        done.push(Repair {
            action,
            subject,
            detail,
        })
    };
    let quarantine = Quarantine::new(&layout.git_dir);
    let objects_dir = layout.git_dir.join("objects");
    let pack_dir = objects_dir.join("pack");

    // A damaged or wrong commit-graph: set aside (readers then read the commits themselves;
    // `canopy gc` writes a new one), with the record of its checked hash.
    if let Some(path) = &scan.bad_graph {
        let dest = quarantine.take(path)?;
        let _ = fs::remove_file(path.with_file_name(super::commit_graph::CHECKED));
        note(
            RepairAction::Quarantined,
            scan.rel(path),
            format!("moved to {}", scan.rel(&dest)),
        );
    }

    for path in &scan.stale_temps {
        if fs::remove_file(path).is_ok() {
            note(
                RepairAction::Removed,
                scan.rel(path),
                "stale temporary file".into(),
            );
        }
    }

    // Damaged packs, and packs holding a malformed object: copy out what is intact and well
    // formed (unless held elsewhere), then move the files aside.
    let loose = LooseObjects::new(objects_dir.clone(), layout.hash, layout.fsync);
    let malformed: HashSet<ObjectId> = scan.bad_packed.iter().map(|(id, _)| *id).collect();
    let mut to_salvage = scan.bad_packs.clone();
    for (_, stem) in &scan.bad_packed {
        if !to_salvage.contains(stem) {
            to_salvage.push(stem.clone());
        }
    }
    for stem in &to_salvage {
        let mut salvaged = 0usize;
        let mut failed: Option<Error> = None;
        {
            let external = |id: &ObjectId| loose.read(id);
            let mut write = |id: ObjectId, result: std::result::Result<RawObject, String>| {
                let Ok(obj) = result else { return };
                if malformed.contains(&id) {
                    return;
                }
                let elsewhere = scan
                    .objects
                    .get(&id)
                    .is_some_and(|o| o.source != Source::Pack(stem.clone()));
                if elsewhere || failed.is_some() {
                    return;
                }
                match loose.write(obj.kind, &obj.data) {
                    Ok(_) => salvaged += 1,
                    Err(e) => failed = Some(e),
                }
            };
            pack::verify(&pack_dir, stem, layout.hash, &external, &mut write);
        }
        if let Some(e) = failed {
            return Err(e);
        }
        loose.flush()?;
        if salvaged > 0 {
            note(
                RepairAction::Salvaged,
                format!("objects/pack/{stem}.pack"),
                format!("{salvaged} intact objects written as loose objects"),
            );
        }
        for ext in ["keep", "promisor", "bitmap", "rev", "mtimes", "pack", "idx"] {
            let path = pack_dir.join(format!("{stem}.{ext}"));
            if path.exists() {
                let dest = quarantine.take(&path)?;
                note(
                    RepairAction::Quarantined,
                    scan.rel(&path),
                    format!("moved to {}", scan.rel(&dest)),
                );
            }
        }
    }
    if !to_salvage.is_empty() {
        // A multi-pack-index would name the packs moved away.
        let _ = fs::remove_file(pack_dir.join("multi-pack-index"));
    }

    for path in &scan.bad_loose {
        if path.exists() {
            let dest = quarantine.take(path)?;
            note(
                RepairAction::Quarantined,
                scan.rel(path),
                format!("moved to {}", scan.rel(&dest)),
            );
        }
    }

    // References: back to the newest complete commit of their reflog.
    let state = Scan::run(layout, opts.grace)?;
    let refs = layout.refs();
    let mut memo = HashSet::new();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let who =
        Signature::parse_name_email("canopy fsck <fsck@canopy>", now, 0).ok_or_else(|| Error::BadRef {
            name: "HEAD".into(),
            reason: "cannot build the repair identity".into(),
        })?;
    for r in &state.refs {
        if let Some(id) = r.target {
            if state.complete(id, &mut memo) {
                continue;
            }
        }
        let entries = refs.reflog(&r.name).unwrap_or_default();
        let good = entries
            .iter()
            .rev()
            .filter_map(|e| e.new)
            .find(|id| state.complete(*id, &mut memo));
        let Some(good) = good else {
            note(
                RepairAction::NotRepaired,
                r.name.clone(),
                "no reflog entry names a complete commit".into(),
            );
            continue;
        };
        let expected = match r.target {
            Some(id) => Expected::Value(id),
            None => Expected::Any,
        };
        let log = RefLog {
            who: who.clone(),
            message: "fsck: repaired to the newest complete commit".into(),
        };
        if refs.update(&r.name, expected, Some(good), &log)? {
            let from = r.target.map_or("a torn file".to_string(), |id| id.to_hex());
            note(
                RepairAction::MovedRef,
                r.name.clone(),
                format!("{from} -> {good}"),
            );
        } else {
            note(
                RepairAction::NotRepaired,
                r.name.clone(),
                "moved by another writer during the repair".into(),
            );
        }
    }

    // Reflogs: entries naming incomplete history would still be reported.
    let memo = std::cell::RefCell::new(memo);
    for name in &state.logged {
        let keep = |e: &crate::backend::ReflogEntry| {
            let mut memo = memo.borrow_mut();
            e.old
                .into_iter()
                .chain(e.new)
                .all(|id| state.complete(id, &mut memo))
        };
        let dropped = refs.retain_reflog(name, &keep)?;
        if dropped > 0 {
            note(
                RepairAction::PrunedReflog,
                name.clone(),
                format!("{dropped} entries naming incomplete history dropped"),
            );
        }
    }
    Ok(done)
}

/// Loose files from this size on are checked as a stream when they hold a blob, so that a
/// value larger than memory is checked in bounded memory.
const STREAMED_CHECK: u64 = 1 << 20;

/// Reads the loose blob `id` through, checking its hash at the end: `Some(Ok)` when intact,
/// `Some(Err(why))` when damaged, `None` when it is not a blob (checked whole instead).
fn streamed_blob(store: &LooseObjects, id: &ObjectId) -> Option<std::result::Result<(), String>> {
    let stream = match store.read_stream(id) {
        Ok(Some(stream)) => stream,
        Ok(None) => return Some(Err("vanished while being checked".into())),
        Err(Error::CorruptObject { reason, .. }) => return Some(Err(reason)),
        Err(e) => return Some(Err(e.to_string())),
    };
    if stream.kind != ObjectKind::Blob {
        return None;
    }
    let mut reader = stream.reader;
    Some(
        std::io::copy(&mut reader, &mut std::io::sink())
            .map(drop)
            .map_err(|e| e.to_string()),
    )
}

//! Bulk import and export: many values in one commit, written as one batch (one pack file in a
//! Git store), and every value of a tree streamed out in path order.
//!
//! An [`Importer`] takes `(path, value)` pairs one at a time: each path is validated as it
//! arrives and each value is written to the batch at once, so only the paths and ids stay in
//! memory. [`Importer::commit`] sorts them, builds the trees bottom-up (one serialisation per
//! directory, no per-key tree rebuild), writes trees and the commit into the same batch, finishes
//! it, and moves the branch by compare-and-swap. With [`ImportMode::Merge`] the imported values
//! are laid over the head's tree (directories the input does not touch are shared by id); with
//! [`ImportMode::Replace`] the commit's tree holds exactly the input. If another writer moves the
//! branch meanwhile, the trees are rebuilt on the new head and the swap retried. Dropping an
//! importer before `commit`, or any error, leaves the branch as it was.
//!
//! [`export`] walks raw tree objects with a stack (memory follows the depth, not the size) and
//! hands each value to a callback in path order (bytewise by step).

use std::cmp::Ordering;

use super::again_or_give_up;
use super::{Branch, CommitOptions, Error, Repo, Result};
use crate::backend::{ContentAddressable, Expected, RefLog, WriteBatch};
use crate::object::{escape_bytes, Commit, Mode, ObjectId, ObjectKind, TreeEntry};
use crate::path::{check_step, Path};
use crate::retry::{Retry, COMMIT_ATTEMPTS};
use crate::tree;

/// How imported values combine with what the branch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImportMode {
    /// Lay the values over the head's tree: other paths keep their values.
    #[default]
    Merge,
    /// The new tree holds exactly the imported values.
    Replace,
}

/// What an import committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    /// The new head (the old one when nothing changed).
    pub commit: ObjectId,
    /// Whether a commit was made (an import that changes nothing makes none).
    pub committed: bool,
    /// Distinct paths imported (a path given twice counts once: the last value wins).
    pub paths: usize,
    /// Tree objects written.
    pub trees: usize,
}

/// Streams values into one commit on a branch; see the module documentation.
pub struct Importer<'a> {
    branch: &'a Branch,
    batch: Option<Box<dyn WriteBatch + 'a>>,
    mode: ImportMode,
    /// Every path's bytes, back to back; `items` index into it.
    arena: Vec<u8>,
    items: Vec<Item>,
}

struct Item {
    start: usize,
    len: usize,
    id: ObjectId,
    /// Input order, so that a later value for the same path wins.
    seq: u64,
}

/// A directory being assembled: the imported entries, and the base's entries at that path.
struct Frame {
    name: Vec<u8>,
    entries: Vec<TreeEntry>,
    base: Option<Vec<TreeEntry>>,
}

impl<'a> Importer<'a> {
    /// Starts an import into `branch` (nothing is visible on the branch until `commit`).
    pub fn new(branch: &'a Branch, mode: ImportMode) -> Result<Importer<'a>> {
        let batch = branch.repo().objects().begin_batch()?;
        Ok(Importer {
            branch,
            batch: Some(batch),
            mode,
            arena: Vec::new(),
            items: Vec::new(),
        })
    }

    /// Paths added so far (a repeated path counts each time).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Adds the value at `path` (`a/b/c`, validated as [`Path::parse`] does; the root is
    /// refused).
    pub fn add(&mut self, path: &[u8], value: &[u8]) -> Result<()> {
        if path.is_empty() {
            return Err(Error::NotAValue { path: Path::root() });
        }
        if path.split(|&c| c == b'/').any(|step| check_step(step).is_err()) {
            // The slow path gives the precise message.
            Path::parse_bytes(path)?;
        }
        let batch = self.batch.as_mut().ok_or_else(finished)?;
        let id = batch.add(ObjectKind::Blob, value)?;
        let seq = self.items.len() as u64;
        self.items.push(Item {
            start: self.arena.len(),
            len: path.len(),
            id,
            seq,
        });
        self.arena.extend_from_slice(path);
        Ok(())
    }

    /// Writes the trees and the commit, finishes the batch and moves the branch.
    pub fn commit(mut self, opts: &CommitOptions) -> Result<ImportOutcome> {
        let mut batch = self.batch.take().ok_or_else(finished)?;
        let arena = std::mem::take(&mut self.arena);
        let mut items = std::mem::take(&mut self.items);
        // Step-wise order ('/' sorts before every byte a step may hold), then input order.
        items.sort_unstable_by(|a, b| {
            step_cmp(&arena[a.start..a.start + a.len], &arena[b.start..b.start + b.len])
                .then(a.seq.cmp(&b.seq))
        });
        // The last value given for a path wins.
        let mut deduped: Vec<Item> = Vec::with_capacity(items.len());
        for item in items {
            match deduped.last_mut() {
                Some(last)
                    if arena[last.start..last.start + last.len]
                        == arena[item.start..item.start + item.len] =>
                {
                    *last = item
                }
                _ => deduped.push(item),
            }
        }
        let items = deduped;
        check_no_value_is_a_directory(&arena, &items)?;

        let repo = self.branch.repo();
        let log_who = opts
            .committer
            .clone()
            .or_else(|| opts.author.clone())
            .unwrap_or_else(|| repo.default_signature());
        let mut retry = Retry::attempts(COMMIT_ATTEMPTS);
        loop {
            let head = self.branch.head()?;
            let base_root = match (head, self.mode) {
                (Some(id), ImportMode::Merge) => Some(repo.commit_info(id)?.commit.tree),
                _ => None,
            };
            let old_root = match head {
                Some(id) => Some(repo.commit_info(id)?.commit.tree),
                None => None,
            };
            let (root, trees) = build_trees(repo, batch.as_mut(), &arena, &items, base_root)?;
            if head.is_some() && old_root == Some(root) {
                batch.finish()?;
                return Ok(ImportOutcome {
                    commit: head.unwrap_or_else(|| repo.hash_kind().null_id()),
                    committed: false,
                    paths: items.len(),
                    trees,
                });
            }
            let commit = commit_object(repo, root, head, opts);
            let commit_id = batch.add(ObjectKind::Commit, &commit)?;
            batch.finish()?;
            let log = RefLog {
                who: log_who.clone(),
                message: format!("import: {}", opts.message.lines().next().unwrap_or("")),
            };
            if repo.refs().update(
                self.branch.ref_name(),
                Expected::from_option(head),
                Some(commit_id),
                &log,
            )? {
                return Ok(ImportOutcome {
                    commit: commit_id,
                    committed: true,
                    paths: items.len(),
                    trees,
                });
            }
            // Lost the race: rebuild the trees on the new head in a fresh (small) batch; the
            // blobs are already stored.
            again_or_give_up(&mut retry, self.branch.name())?;
            batch = repo.objects().begin_batch()?;
        }
    }
}

fn finished() -> Error {
    Error::Backend(crate::backend::Error::Io {
        path: "<import>".into(),
        source: std::io::Error::other("importer used after commit"),
    })
}

/// Compares two paths step by step, bytewise within a step ('/' sorts before every byte a
/// step may hold, so it compares as if it were 0).
fn step_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    match a[..n].iter().zip(&b[..n]).position(|(x, y)| x != y) {
        Some(i) => {
            let map = |c: u8| if c == b'/' { 0 } else { c };
            map(a[i]).cmp(&map(b[i]))
        }
        None => a.len().cmp(&b.len()),
    }
}

/// Refuses an input that puts a value at `a` and another below `a/` ("'a' is a value, not a
/// directory").
fn check_no_value_is_a_directory(arena: &[u8], items: &[Item]) -> Result<()> {
    for pair in items.windows(2) {
        let a = &arena[pair[0].start..pair[0].start + pair[0].len];
        let b = &arena[pair[1].start..pair[1].start + pair[1].len];
        // In step order, everything below `a/` directly follows `a`.
        if b.len() > a.len() && b.starts_with(a) && b[a.len()] == b'/' {
            // `a` passed the path check when it was added.
            return Err(Error::NotADirectory {
                path: Path::parse_bytes(a)?,
            });
        }
    }
    Ok(())
}

/// Builds every tree of the import bottom-up into `batch`, laid over `base_root` if given;
/// returns the root tree's id and how many trees were written.
fn build_trees(
    repo: &Repo,
    batch: &mut dyn WriteBatch,
    arena: &[u8],
    items: &[Item],
    base_root: Option<ObjectId>,
) -> Result<(ObjectId, usize)> {
    let store = repo.objects();
    let mut trees = 0usize;
    let mut stack = vec![Frame {
        name: Vec::new(),
        entries: Vec::new(),
        base: match base_root {
            Some(id) => Some(read_tree(store, &id)?),
            None => None,
        },
    }];
    // The directory steps of the previous path (the open frames below the root).
    let mut open: Vec<&[u8]> = Vec::new();
    let mut steps: Vec<&[u8]> = Vec::new();
    for item in items {
        let path = &arena[item.start..item.start + item.len];
        steps.clear();
        steps.extend(path.split(|&c| c == b'/'));
        let leaf = steps.pop().unwrap_or_default();
        let common = open.iter().zip(&steps).take_while(|(a, b)| a == b).count();
        while open.len() > common {
            close(batch, &mut stack, &mut trees)?;
            open.pop();
        }
        for step in &steps[common..] {
            let parent = stack.last().map(|f| f.base.as_deref());
            let base = match parent.flatten().and_then(|b| b.iter().find(|e| e.name == *step)) {
                Some(e) if e.mode == Mode::Tree => Some(read_tree(store, &e.id)?),
                _ => None,
            };
            stack.push(Frame {
                name: step.to_vec(),
                entries: Vec::new(),
                base,
            });
            open.push(step);
        }
        if let Some(frame) = stack.last_mut() {
            frame.entries.push(TreeEntry {
                mode: Mode::File,
                name: leaf.to_vec(),
                id: item.id,
            });
        }
    }
    while !open.is_empty() {
        close(batch, &mut stack, &mut trees)?;
        open.pop();
    }
    let root = stack.pop().ok_or_else(finished)?;
    let id = write_frame(batch, root, &mut trees)?;
    Ok((id, trees))
}

/// Closes the innermost directory: writes it and records it in its parent.
fn close(batch: &mut dyn WriteBatch, stack: &mut Vec<Frame>, trees: &mut usize) -> Result<()> {
    let frame = stack.pop().ok_or_else(finished)?;
    let name = frame.name.clone();
    let id = write_frame(batch, frame, trees)?;
    if let Some(parent) = stack.last_mut() {
        parent.entries.push(TreeEntry {
            mode: Mode::Tree,
            name,
            id,
        });
    }
    Ok(())
}

/// Serialises a directory: its imported entries, plus the base's entries under other names.
fn write_frame(batch: &mut dyn WriteBatch, mut frame: Frame, trees: &mut usize) -> Result<ObjectId> {
    if let Some(base) = frame.base.take() {
        if !base.is_empty() {
            frame.entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
            let kept: Vec<TreeEntry> = base
                .into_iter()
                .filter(|e| {
                    frame
                        .entries
                        .binary_search_by(|x| x.name.as_slice().cmp(&e.name))
                        .is_err()
                })
                .collect();
            frame.entries.extend(kept);
        }
    }
    *trees += 1;
    Ok(batch.add(ObjectKind::Tree, &TreeEntry::serialize(&mut frame.entries))?)
}

fn read_tree(store: &dyn ContentAddressable, id: &ObjectId) -> Result<Vec<TreeEntry>> {
    let data = store.read_kind(id, ObjectKind::Tree)?;
    Ok(TreeEntry::parse_all(store.hash_kind(), &data).map_err(|e| e.with_id(*id))?)
}

fn commit_object(repo: &Repo, tree: ObjectId, head: Option<ObjectId>, opts: &CommitOptions) -> Vec<u8> {
    let author = opts.author.clone().unwrap_or_else(|| repo.default_signature());
    let committer = opts.committer.clone().unwrap_or_else(|| author.clone());
    let mut message = opts.message.clone();
    if !message.ends_with('\n') {
        message.push('\n');
    }
    Commit {
        tree,
        parents: head.into_iter().collect(),
        author,
        committer,
        extra_headers: Vec::new(),
        message: message.into_bytes(),
    }
    .serialize()
}

/// One value met by [`export`].
pub struct Exported<'p> {
    /// The path, steps joined by `/`.
    pub path: &'p [u8],
    pub mode: Mode,
    pub value: Vec<u8>,
}

/// Calls `f` with every value of the tree `root` in path order (bytewise by step), reading
/// trees as raw objects so that memory follows the depth of the tree, not its size. Submodule
/// entries (gitlinks) are skipped. A tree entry Canopy refuses (`..`, `.git`, …) is an error.
pub fn export(repo: &Repo, root: ObjectId, f: &mut dyn FnMut(Exported<'_>) -> Result<()>) -> Result<()> {
    let store = repo.objects();
    // Each level: its entries (reversed, so `pop` yields them in order) and the path length
    // before its name.
    let mut stack: Vec<(Vec<TreeEntry>, usize)> = vec![(sorted_for_export(store, &root)?, 0)];
    let mut path: Vec<u8> = Vec::new();
    while let Some((entries, base_len)) = stack.last_mut() {
        let base_len = *base_len;
        let Some(entry) = entries.pop() else {
            stack.pop();
            continue;
        };
        if let Err(err) = check_step(&entry.name) {
            return Err(Error::Tree(tree::Error::InvalidEntry {
                tree: root,
                name: escape_bytes(&entry.name),
                reason: err.to_string(),
            }));
        }
        path.truncate(base_len);
        if base_len > 0 {
            path.push(b'/');
        }
        path.extend_from_slice(&entry.name);
        match entry.mode {
            Mode::Tree => {
                if stack.len() > tree::MAX_DEPTH {
                    return Err(Error::Tree(tree::Error::TooDeep));
                }
                let children = sorted_for_export(store, &entry.id)?;
                stack.push((children, path.len()));
            }
            Mode::Gitlink => {}
            mode => {
                let value = store.read_kind(&entry.id, ObjectKind::Blob)?;
                f(Exported {
                    path: &path,
                    mode,
                    value,
                })?;
            }
        }
    }
    Ok(())
}

fn sorted_for_export(store: &dyn ContentAddressable, id: &ObjectId) -> Result<Vec<TreeEntry>> {
    let mut entries = read_tree(store, id)?;
    entries.sort_unstable_by(|a, b| b.name.cmp(&a.name));
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::HashKind;

    fn p(s: &str) -> Path {
        Path::parse(s).unwrap()
    }

    fn all(repo: &Repo, commit: ObjectId) -> Vec<(String, String)> {
        let root = repo.commit_info(commit).unwrap().commit.tree;
        let mut out = Vec::new();
        export(repo, root, &mut |e| {
            out.push((
                String::from_utf8_lossy(e.path).into_owned(),
                String::from_utf8_lossy(&e.value).into_owned(),
            ));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn import_builds_the_same_tree_as_single_sets() {
        let repo = Repo::in_memory(HashKind::Sha1);
        let main = repo.branch("main").unwrap();
        let opts = CommitOptions::message("import");
        let keys = [
            "a",
            "a-b",
            "a.c",
            "b/c",
            "a0/x",
            "k/3f/3fa1",
            "k/3f/3fb2",
            "k/40/40aa",
            "z/y/x/w",
        ];
        let mut imp = Importer::new(&main, ImportMode::Merge).unwrap();
        for k in keys.iter().rev() {
            imp.add(k.as_bytes(), format!("v-{k}").as_bytes()).unwrap();
        }
        imp.add(b"a", b"last wins").unwrap();
        let out = imp.commit(&opts).unwrap();
        assert!(out.committed);
        assert_eq!(out.paths, keys.len());

        let other = Repo::in_memory(HashKind::Sha1);
        let b = other.branch("main").unwrap();
        for k in keys {
            let v = if k == "a" {
                "last wins".to_string()
            } else {
                format!("v-{k}")
            };
            b.set(&p(k), v, &opts).unwrap();
        }
        let tree_a = repo.commit_info(out.commit).unwrap().commit.tree;
        let tree_b = other.commit_info(b.head().unwrap().unwrap()).unwrap().commit.tree;
        assert_eq!(tree_a, tree_b);
        let listed = all(&repo, out.commit);
        let mut sorted = listed.clone();
        sorted.sort_by(|x, y| step_cmp(x.0.as_bytes(), y.0.as_bytes()));
        assert_eq!(listed, sorted, "export is in path order");
        assert_eq!(listed.len(), keys.len());
    }

    #[test]
    fn merge_keeps_other_paths_and_replace_drops_them() {
        let repo = Repo::in_memory(HashKind::Sha1);
        let main = repo.branch("main").unwrap();
        let opts = CommitOptions::message("m");
        main.set(&p("keep/me"), "1", &opts).unwrap();
        main.set(&p("d/old"), "2", &opts).unwrap();
        main.set(&p("x"), "value then dir", &opts).unwrap();
        let mut imp = Importer::new(&main, ImportMode::Merge).unwrap();
        imp.add(b"d/new", b"3").unwrap();
        imp.add(b"x/y", b"4").unwrap();
        let out = imp.commit(&opts).unwrap();
        assert_eq!(
            all(&repo, out.commit),
            [("d/new", "3"), ("d/old", "2"), ("keep/me", "1"), ("x/y", "4")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let parents = repo.commit_info(out.commit).unwrap().commit.parents;
        assert_eq!(parents.len(), 1);

        // The same import again changes nothing and makes no commit.
        let mut imp = Importer::new(&main, ImportMode::Merge).unwrap();
        imp.add(b"d/new", b"3").unwrap();
        let again = imp.commit(&opts).unwrap();
        assert!(!again.committed);
        assert_eq!(again.commit, out.commit);

        let mut imp = Importer::new(&main, ImportMode::Replace).unwrap();
        imp.add(b"only", b"5").unwrap();
        let out = imp.commit(&opts).unwrap();
        assert_eq!(all(&repo, out.commit), [("only".to_string(), "5".to_string())]);
    }

    #[test]
    fn bad_input_is_refused_and_the_branch_stays() {
        let repo = Repo::in_memory(HashKind::Sha1);
        let main = repo.branch("main").unwrap();
        let mut imp = Importer::new(&main, ImportMode::Merge).unwrap();
        for bad in [&b""[..], b"a/../b", b"/a", b"a//b", b".git/x", b"a/"] {
            assert!(imp.add(bad, b"v").is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        imp.add(b"a", b"v").unwrap();
        imp.add(b"a/b", b"w").unwrap();
        let err = imp.commit(&CommitOptions::message("x")).unwrap_err();
        assert!(err.to_string().contains("'a'"), "{err}");
        assert!(main.head().unwrap().is_none());
    }
}

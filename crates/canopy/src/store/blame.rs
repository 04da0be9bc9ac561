//! Who changed what: the commits that last changed a path (Irmin's `last_modified`), and, for a
//! text value, the commit that introduced each of its lines.
//!
//! Blame follows the first parent only (as `git blame --first-parent`): a line that came in
//! through a merge is the merge's. Like `git blame`, it follows the value through renames: where
//! a commit adds the path, Git's rename detection (see `rename.rs`) names the removed value it
//! came from, and blame goes on under that path. Lines are matched with the diff `git blame`
//! uses (xdiff's Myers with the indent heuristic). Commits where the value's id did not change
//! are passed over without reading the value, so the cost is one tree lookup per commit plus one
//! line diff per commit that changed the value (and one tree diff per commit that added it).
//! Parents and trees come from the commit-graph when it lists a commit, and a commit whose
//! changed-path filter says the path did not change against its first parent costs no tree
//! lookup at all.

use super::history::PathLookup;
use super::{CommitInfo, Error, Repo, Result};
use crate::backend::git::commit_graph::Graph;
use crate::object::{CommitHeader, Mode, ObjectId, ObjectKind};
use crate::path::Path;
use crate::tree::{Entry, Tree};

/// One line of a blamed value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlameLine {
    /// The commit that introduced the line.
    pub commit: ObjectId,
    /// The line's number (1-based) in that commit's version of the value.
    pub original_line: usize,
    /// Where the value was in that commit (differs from the blamed path across a rename).
    pub path: Path,
    /// The line, with its `\n` if it has one.
    pub text: Vec<u8>,
}

impl Repo {
    /// The commits reachable from `start` that changed `path` (its value, or anything below it),
    /// newest first, at most `limit` of them: what `git log -n LIMIT -- PATH` lists, with Git's
    /// history simplification ([`History::touching`](super::History::touching)).
    pub fn last_modified(&self, start: ObjectId, path: &Path, limit: usize) -> Result<Vec<CommitInfo>> {
        self.history(&[start])
            .touching(path.clone())
            .take(limit)
            .collect()
    }

    /// For each line of the value at `path` in commit `start`, the commit that introduced it.
    /// `None` when there is no value at `path`; an error when it is a directory.
    pub fn blame(&self, start: ObjectId, path: &Path) -> Result<Option<Vec<BlameLine>>> {
        let store = self.objects();
        let graph = store.commit_graph();
        // The value at the path in a commit's tree, found in the raw trees and remembered for
        // every directory on the way (consecutive commits share most of them).
        let value_at = |lookup: &mut PathLookup, tree: ObjectId| -> Result<Option<(ObjectId, Mode)>> {
            Ok(match lookup.entry(store, tree)? {
                Some((Mode::Tree | Mode::Gitlink, _)) | None => None,
                Some((mode, id)) => Some((id, mode)),
            })
        };
        let lookup_of = |p: &Path| PathLookup::new(self.hash_kind(), p.clone());
        let mut current = self.first_parent_step(graph.as_deref(), start)?;
        let (mut value, mut mode) = match Tree::from_id(current.tree).find(store, path)? {
            None => return Ok(None),
            Some(Entry::Value { id, mode }) => (id, mode),
            Some(Entry::Gitlink(commit)) => {
                return Err(Error::Submodule {
                    path: path.clone(),
                    commit,
                })
            }
            Some(Entry::Tree(_)) => return Err(Error::NotAValue { path: path.clone() }),
        };
        let mut here_path = path.clone();
        let mut lookup = lookup_of(&here_path);
        let keys_for = |p: &Path| graph.as_ref().and_then(|g| g.path_keys(&p.to_bytes()));
        let mut keys = keys_for(&here_path);
        let text = store.read_kind(&value, ObjectKind::Blob)?;
        let lines: Vec<Vec<u8>> = super::split_lines(&text)
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        let mut owner: Vec<Option<(ObjectId, usize, Path)>> = vec![None; lines.len()];
        // (line in the final value, line in `current`'s version) for lines not yet attributed.
        let mut pending: Vec<(usize, usize)> = (0..lines.len()).map(|i| (i, i)).collect();
        let mut current_text = text.clone();
        while !pending.is_empty() {
            let Some(parent_id) = current.parent else {
                for &(fin, here) in &pending {
                    owner[fin] = Some((current.id, here, here_path.clone()));
                }
                break;
            };
            let parent = self.first_parent_step(graph.as_deref(), parent_id)?;
            // The changed-path filter says the value did not change here: nothing to compare.
            if let (Some(g), Some(pos), Some(keys)) = (graph.as_deref(), current.graph_pos, &keys) {
                if g.maybe_changed(pos, keys) == Some(false) {
                    current = parent;
                    continue;
                }
            }
            let mut parent_value = value_at(&mut lookup, parent.tree)?.map(|(id, _)| (here_path.clone(), id));
            if parent_value.is_none() {
                // Added here: renamed from a path this commit removed?
                parent_value = super::rename::renamed_from(
                    store,
                    &Tree::from_id(parent.tree),
                    &Tree::from_id(current.tree),
                    &here_path,
                    value,
                    mode,
                )?;
            }
            match parent_value {
                None => {
                    for &(fin, here) in &pending {
                        owner[fin] = Some((current.id, here, here_path.clone()));
                    }
                    break;
                }
                Some((ref pp, pv)) if pv == value && *pp == here_path => {}
                Some((pp, pv)) => {
                    let parent_text = store.read_kind(&pv, ObjectKind::Blob)?;
                    let map = unchanged_lines(&parent_text, &current_text);
                    let mut still = Vec::with_capacity(pending.len());
                    for &(fin, here) in &pending {
                        match map.get(here).copied().flatten() {
                            Some(there) => still.push((fin, there)),
                            None => owner[fin] = Some((current.id, here, here_path.clone())),
                        }
                    }
                    pending = still;
                    current_text = parent_text;
                    value = pv;
                    if pp != here_path {
                        keys = keys_for(&pp);
                        lookup = lookup_of(&pp);
                    }
                    mode = value_at(&mut lookup, parent.tree)?.map_or(mode, |(_, m)| m);
                    here_path = pp;
                }
            }
            current = parent;
        }
        Ok(Some(
            lines
                .into_iter()
                .zip(owner)
                .map(|(text, o)| {
                    let (commit, line, path) = o.unwrap_or((start, 0, path.clone()));
                    BlameLine {
                        commit,
                        original_line: line + 1,
                        path,
                        text,
                    }
                })
                .collect(),
        ))
    }
}

/// What blame's first-parent walk needs of a commit: from the commit-graph when it lists the
/// commit (with its position, for the changed-path filter), else from the commit's headers.
struct Step {
    id: ObjectId,
    tree: ObjectId,
    parent: Option<ObjectId>,
    graph_pos: Option<usize>,
}

impl Repo {
    fn first_parent_step(&self, graph: Option<&Graph>, id: ObjectId) -> Result<Step> {
        if let Some(g) = graph {
            if let Some(pos) = g.position(&id) {
                if let Some(c) = g.commit_at(pos) {
                    return Ok(Step {
                        id,
                        tree: c.tree,
                        parent: c.parents.first().copied(),
                        graph_pos: Some(pos),
                    });
                }
            }
        }
        let data = self.objects().read_kind(&id, ObjectKind::Commit)?;
        let h = CommitHeader::parse(self.hash_kind(), &data).map_err(|e| e.with_id(id))?;
        Ok(Step {
            id,
            tree: h.tree,
            parent: h.parents.first().copied(),
            graph_pos: None,
        })
    }
}

/// For each line of `new`, the line of `old` it is an unchanged copy of.
fn unchanged_lines(old: &[u8], new: &[u8]) -> Vec<Option<usize>> {
    let n = super::split_lines(new).len();
    let mut map = Vec::with_capacity(n);
    let (mut a, mut b) = (0usize, 0usize);
    for h in super::line_hunks(old, new) {
        while b < h.after.start {
            map.push(Some(a));
            a += 1;
            b += 1;
        }
        map.extend(std::iter::repeat_n(None, h.after.len()));
        a = h.before.end;
        b = h.after.end;
    }
    while b < n {
        map.push(Some(a));
        a += 1;
        b += 1;
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{HashKind, Signature};
    use crate::store::CommitOptions;

    fn p(s: &str) -> Path {
        Path::parse(s).unwrap()
    }

    fn opts(msg: &str, t: i64) -> CommitOptions {
        let sig = Signature {
            name: "t".into(),
            email: "t@example.com".into(),
            time: t,
            offset_minutes: 0,
        };
        CommitOptions {
            message: msg.into(),
            author: Some(sig.clone()),
            committer: Some(sig),
        }
    }

    #[test]
    fn each_line_names_the_commit_that_introduced_it() {
        let repo = Repo::in_memory(HashKind::Sha1);
        let main = repo.branch("main").unwrap();
        let c1 = main.set(&p("doc"), "a\nb\nc\n", &opts("one", 1)).unwrap();
        let c2 = main.set(&p("other"), "x", &opts("unrelated", 2)).unwrap();
        let c3 = main.set(&p("doc"), "a\nB\nc\nd\n", &opts("three", 3)).unwrap();
        let c4 = main.set(&p("doc"), "z\na\nB\nc\nd\n", &opts("four", 4)).unwrap();
        let blame = repo.blame(c4, &p("doc")).unwrap().unwrap();
        let got: Vec<(ObjectId, usize, &[u8])> = blame
            .iter()
            .map(|l| (l.commit, l.original_line, l.text.as_slice()))
            .collect();
        assert_eq!(
            got,
            vec![
                (c4, 1, &b"z\n"[..]),
                (c1, 1, b"a\n"),
                (c3, 2, b"B\n"),
                (c1, 3, b"c\n"),
                (c3, 4, b"d\n"),
            ]
        );
        assert!(repo.blame(c2, &p("missing")).unwrap().is_none());
        assert!(repo.blame(c2, &p("")).is_err());
        // Removed and re-added: the re-adding commit owns everything.
        main.remove(&p("doc"), &opts("rm", 5)).unwrap();
        let c6 = main.set(&p("doc"), "a\n", &opts("again", 6)).unwrap();
        assert_eq!(repo.blame(c6, &p("doc")).unwrap().unwrap()[0].commit, c6);
    }

    #[test]
    fn last_modified_lists_the_changing_commits() {
        let repo = Repo::in_memory(HashKind::Sha1);
        let main = repo.branch("main").unwrap();
        let c1 = main.set(&p("k"), "1", &opts("one", 1)).unwrap();
        main.set(&p("other"), "x", &opts("unrelated", 2)).unwrap();
        let c3 = main.set(&p("k"), "2", &opts("two", 3)).unwrap();
        let c4 = main.set(&p("dir/a"), "2", &opts("dir", 4)).unwrap();
        let ids = |v: Vec<CommitInfo>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(repo.last_modified(c4, &p("k"), 10).unwrap()), vec![c3, c1]);
        assert_eq!(ids(repo.last_modified(c4, &p("k"), 1).unwrap()), vec![c3]);
        assert_eq!(ids(repo.last_modified(c4, &p("dir"), 10).unwrap()), vec![c4]);
        assert!(repo.last_modified(c4, &p("none"), 10).unwrap().is_empty());
    }

    #[test]
    fn unchanged_lines_map_through_hunks() {
        assert_eq!(
            unchanged_lines(b"a\nb\nc\n", b"a\nX\nc\nd\n"),
            vec![Some(0), None, Some(2), None]
        );
        assert_eq!(unchanged_lines(b"", b"a\n"), vec![None]);
        assert_eq!(unchanged_lines(b"a\n", b""), Vec::<Option<usize>>::new());
    }
}

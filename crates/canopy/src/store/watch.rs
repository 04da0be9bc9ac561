//! Watching a branch: an event for each move, whoever made it (this process, another `canopy`,
//! `git push` into the store).
//!
//! A [`Watch`] remembers the last head it reported. Whenever the branch's reference may have
//! changed, it reads the reference again and, if it moved, reports the diff from the last head
//! seen to the new one. Moves that happen faster than the watcher looks are coalesced into one
//! event, but no change is ever lost: the diff always starts where the previous event ended.
//!
//! Wake-ups come from file notifications on the repository's `refs/` and on `packed-refs` (the
//! `notify` crate), and from polling at a fixed interval in any case, which covers file systems
//! without notifications, in-memory stores and notifications that never arrive.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{Branch, PathChange, Result};
use crate::object::ObjectId;
use crate::path::Path;

/// One move of the branch as the watcher saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// The head reported by the previous event (or found when watching began).
    pub old: Option<ObjectId>,
    /// The head now (`None`: the branch was deleted).
    pub new: Option<ObjectId>,
    /// What changed from `old` to `new` below the watched path, in path order.
    pub changes: Vec<PathChange>,
}

/// How a [`Watch`] looks for moves.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// How often the reference is read when no notification arrives.
    pub poll_interval: Duration,
    /// Use file notifications (when the store is on disk and the platform has them).
    pub notify: bool,
}

impl Default for WatchOptions {
    fn default() -> WatchOptions {
        WatchOptions {
            poll_interval: Duration::from_millis(100),
            notify: true,
        }
    }
}

/// A stream of the moves of one branch. As an [`Iterator`] it blocks until the next move.
pub struct Watch {
    branch: Branch,
    prefix: Path,
    last: Option<ObjectId>,
    poll: Duration,
    wake: Option<mpsc::Receiver<()>>,
    // Kept alive for as long as the watch: dropping it stops the notifications.
    _watcher: Option<notify::RecommendedWatcher>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("branch", &self.branch.name())
            .field("prefix", &self.prefix)
            .field("last", &self.last)
            .field("notify", &self.wake.is_some())
            .finish()
    }
}

impl Branch {
    /// Watches this branch from its current head for changes below `prefix` (the root:
    /// everything). With a prefix, moves that change nothing below it are not reported.
    pub fn watch(&self, prefix: &Path) -> Result<Watch> {
        self.watch_with(prefix, &WatchOptions::default())
    }

    pub fn watch_with(&self, prefix: &Path, opts: &WatchOptions) -> Result<Watch> {
        let last = self.head()?;
        let (wake, watcher) = if opts.notify {
            self.notifications()
        } else {
            (None, None)
        };
        Ok(Watch {
            branch: self.clone(),
            prefix: prefix.clone(),
            last,
            poll: opts.poll_interval.max(Duration::from_millis(1)),
            wake,
            _watcher: watcher,
        })
    }

    /// A channel that receives a message when anything under `refs/` or the repository's top
    /// directory (where `packed-refs` lives) changes. `None` when that cannot be set up; the
    /// watch then only polls.
    fn notifications(&self) -> (Option<mpsc::Receiver<()>>, Option<notify::RecommendedWatcher>) {
        use notify::Watcher as _;
        let Some(layout) = self.repo().layout() else {
            return (None, None);
        };
        let (tx, rx) = mpsc::sync_channel(1);
        let handler = move |event: notify::Result<notify::Event>| {
            // The write-ahead journal's appends move no reference: they wake nobody.
            let journal_only = event.as_ref().is_ok_and(|e| {
                !e.paths.is_empty()
                    && e.paths.iter().all(|p| {
                        p.file_name() == Some(std::ffi::OsStr::new(crate::backend::git::journal::FILE_NAME))
                    })
            });
            if journal_only {
                return;
            }
            // A full channel already holds a wake-up: this one adds nothing.
            let _ = tx.try_send(());
        };
        let mut watcher = match notify::recommended_watcher(handler) {
            Ok(w) => w,
            Err(e) => {
                tracing::debug!("file notifications unavailable, polling: {e}");
                return (None, None);
            }
        };
        let refs = layout.git_dir.join("refs");
        let watched = watcher
            .watch(&refs, notify::RecursiveMode::Recursive)
            .and_then(|_| watcher.watch(&layout.git_dir, notify::RecursiveMode::NonRecursive));
        if let Err(e) = watched {
            tracing::debug!("cannot watch {}: {e}; polling", refs.display());
            return (None, None);
        }
        (Some(rx), Some(watcher))
    }
}

impl Watch {
    /// The head the last event ended at (where the next diff starts).
    pub fn last_seen(&self) -> Option<ObjectId> {
        self.last
    }

    /// Whether file notifications are in use (else only polling).
    pub fn uses_notifications(&self) -> bool {
        self.wake.is_some()
    }

    /// Looks once, without waiting: the move since the last event, if any.
    pub fn check(&mut self) -> Result<Option<WatchEvent>> {
        let head = self.branch.head()?;
        if head == self.last {
            return Ok(None);
        }
        let changes = self.branch.repo().diff_commits(self.last, head, &self.prefix)?;
        let old = std::mem::replace(&mut self.last, head);
        if changes.is_empty() && !self.prefix.is_root() {
            return Ok(None);
        }
        Ok(Some(WatchEvent {
            old,
            new: head,
            changes,
        }))
    }

    /// Waits up to `timeout` for the next move; `None` if there was none.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<WatchEvent>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.check()? {
                return Ok(Some(event));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let wait = self.poll.min(deadline - now);
            match &self.wake {
                Some(rx) => match rx.recv_timeout(wait) {
                    Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        self.wake = None;
                        self._watcher = None;
                    }
                },
                None => std::thread::sleep(wait),
            }
        }
    }
}

impl Iterator for Watch {
    type Item = Result<WatchEvent>;

    /// Blocks until the branch moves (never returns `None`).
    fn next(&mut self) -> Option<Result<WatchEvent>> {
        loop {
            match self.next_timeout(Duration::from_secs(3600)) {
                Ok(Some(event)) => return Some(Ok(event)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::HashKind;
    use crate::store::{ChangeKind, CommitOptions, Repo};

    fn p(s: &str) -> Path {
        Path::parse(s).unwrap()
    }

    fn changed(event: &WatchEvent) -> Vec<(String, ChangeKind)> {
        event
            .changes
            .iter()
            .map(|c| (c.path.to_string(), c.kind))
            .collect()
    }

    #[test]
    fn reports_each_move_and_coalesces_without_losing() {
        let repo = Repo::in_memory(HashKind::Sha1);
        let main = repo.branch("main").unwrap();
        let msg = CommitOptions::message("m");
        let mut watch = main.watch(&Path::root()).unwrap();
        assert!(!watch.uses_notifications());
        assert_eq!(watch.check().unwrap(), None);
        let c1 = main.set(&p("a"), "1", &msg).unwrap();
        let e = watch.next_timeout(Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!((e.old, e.new), (None, Some(c1)));
        assert_eq!(changed(&e), vec![("a".to_string(), ChangeKind::Added)]);
        // Two moves before the watcher looks: one event with both changes.
        main.set(&p("b"), "2", &msg).unwrap();
        let c3 = main.set(&p("a"), "3", &msg).unwrap();
        let e = watch.next_timeout(Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!((e.old, e.new), (Some(c1), Some(c3)));
        assert_eq!(
            changed(&e),
            vec![
                ("a".to_string(), ChangeKind::Changed),
                ("b".to_string(), ChangeKind::Added)
            ]
        );
        assert_eq!(watch.next_timeout(Duration::from_millis(20)).unwrap(), None);
    }

    #[test]
    fn a_prefix_hides_moves_elsewhere() {
        let repo = Repo::in_memory(HashKind::Sha1);
        let main = repo.branch("main").unwrap();
        let msg = CommitOptions::message("m");
        let mut watch = main
            .watch_with(
                &p("dir"),
                &WatchOptions {
                    poll_interval: Duration::from_millis(5),
                    notify: false,
                },
            )
            .unwrap();
        main.set(&p("other"), "x", &msg).unwrap();
        assert_eq!(watch.next_timeout(Duration::from_millis(30)).unwrap(), None);
        let before = watch.last_seen();
        assert_eq!(
            before,
            main.head().unwrap(),
            "the unreported move still counts as seen"
        );
        let c = main.set(&p("dir/k"), "v", &msg).unwrap();
        let e = watch.next_timeout(Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!((e.old, e.new), (before, Some(c)));
        assert_eq!(changed(&e), vec![("dir/k".to_string(), ChangeKind::Added)]);
    }

    #[test]
    fn sees_moves_made_through_another_handle_on_disk() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = Repo::init(tmp.path().join("s")).unwrap();
        let main = repo.branch("main").unwrap();
        let msg = CommitOptions::message("m");
        main.set(&p("a"), "1", &msg).unwrap();
        let mut watch = main.watch(&Path::root()).unwrap();
        // Another process's view of the store: a separate `Repo`.
        let other = Repo::open(tmp.path().join("s")).unwrap().branch("main").unwrap();
        let writer = std::thread::spawn(move || {
            let mut heads = Vec::new();
            for i in 0..20 {
                heads.push(other.set(&p(&format!("k{i:02}")), "v", &msg).unwrap());
            }
            heads
        });
        let mut seen = Vec::new();
        let mut last = None;
        while seen.len() < 20 {
            let e = watch
                .next_timeout(Duration::from_secs(10))
                .unwrap()
                .expect("a move within 10 s");
            seen.extend(e.changes.iter().map(|c| c.path.to_string()));
            last = e.new;
        }
        let heads = writer.join().unwrap();
        let want: Vec<String> = (0..20).map(|i| format!("k{i:02}")).collect();
        assert_eq!(seen, want);
        assert_eq!(last, heads.last().copied());
    }
}

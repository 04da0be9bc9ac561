//! History and tracing commands: `log`, `show`, `diff`, `revert`, `rollback`, `reset`, `reflog`,
//! `bisect`, `last-modified`, `blame`, `watch`. Each parses, calls the library and prints.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};

use canopy::object::ObjectId;
use canopy::store::{
    is_binary, parse_git_date, unified_diff, Bisect, BisectNext, BisectOutcome, CommitInfo, CommitOptions,
    PathChange, RevertOutcome, Verdict,
};
use canopy::{Path, Repo};
use canopy_wire::{local, Content};

use crate::commands::{commit_options, written, Ctx, Failure, Outcome};
use crate::output;
use crate::CommitArgs;

#[derive(clap::Args, Debug)]
pub struct LogArgs {
    /// Only commits that changed this path (a value or anything below a directory).
    path: Option<String>,
    #[arg(long, short = 'n', value_name = "N")]
    limit: Option<usize>,
    /// Only commits made at or after DATE (committer date; Git's date forms, or "N days ago").
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// Only commits whose author ("Name <email>") contains PAT.
    #[arg(long, value_name = "PAT")]
    author: Option<String>,
    /// Draw the commit graph on the left.
    #[arg(long)]
    graph: bool,
    /// Print only how many commits would be listed (`git rev-list --count`). Without --since
    /// or --author, no commit is read where the commit-graph lists it.
    #[arg(long, conflicts_with = "graph")]
    count: bool,
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// The commit (default: the branch head).
    rev: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The old commit.
    a: String,
    /// The new commit.
    b: String,
    /// Only changes at or below this path.
    path: Option<String>,
    /// A unified diff of each changed text value.
    #[arg(long)]
    patch: bool,
    /// Show a renamed value as removed and added (in text output, renames are detected as
    /// `git diff` does; `--json` always lists removals and additions).
    #[arg(long)]
    no_renames: bool,
}

#[derive(clap::Args, Debug)]
pub struct RevertArgs {
    /// The commit whose changes to undo.
    rev: String,
    #[command(flatten)]
    commit: CommitArgs,
}

#[derive(clap::Args, Debug)]
pub struct RollbackArgs {
    /// The commit whose tree the branch gets back.
    rev: String,
    #[command(flatten)]
    commit: CommitArgs,
}

#[derive(clap::Args, Debug)]
pub struct ResetArgs {
    /// Where the branch goes.
    rev: String,
    /// Required: the branch moves whatever it points at now (the old head stays in the reflog).
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args, Debug)]
pub struct ReflogArgs {
    #[arg(long, short = 'n', value_name = "N")]
    limit: Option<usize>,
}

#[derive(clap::Args, Debug)]
pub struct BisectArgs {
    /// A commit known to be good (repeatable).
    #[arg(long, value_name = "REV", required = true)]
    good: Vec<String>,
    /// The commit known to be bad (default: the branch head).
    #[arg(long, value_name = "REV")]
    bad: Option<String>,
    /// Only test commits that change this path.
    path: Option<String>,
    /// The test: exit 0 good, 125 skip, 1-127 bad, 128 or more stops the bisection.
    #[arg(last = true, required = true, value_name = "CMD")]
    cmd: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct LastModifiedArgs {
    path: String,
    /// How many commits to list (default 1: the last one).
    #[arg(long, short = 'n', value_name = "N", default_value_t = 1)]
    limit: usize,
    /// Start from this commit instead of the branch head.
    #[arg(long, value_name = "REV")]
    at: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct BlameArgs {
    path: String,
    /// Blame the value as it is at this commit instead of the branch head.
    #[arg(long, value_name = "REV")]
    at: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    /// Only report changes at or below this path.
    path: Option<String>,
    /// Run this shell command for each new head, with CANOPY_OLD and CANOPY_NEW set, instead of
    /// printing the changes.
    #[arg(long, value_name = "CMD")]
    exec: Option<String>,
}

fn opt_hex(id: Option<ObjectId>) -> Option<String> {
    id.map(|i| i.to_hex())
}

fn parse_path(path: Option<&str>) -> Result<Path, Failure> {
    Ok(path.map(Path::parse).transpose()?.unwrap_or_default())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Git's date forms, or `N <unit>s ago` (seconds to years), as `--since` takes them.
fn parse_since(s: &str) -> Result<i64, Failure> {
    if let Some((t, _)) = parse_git_date(s) {
        return Ok(t);
    }
    let words: Vec<&str> = s.split_whitespace().collect();
    if let [n, unit, "ago"] | [n, unit, "ago", ""] = words.as_slice() {
        if let Ok(n) = n.parse::<i64>() {
            let unit = unit.trim_end_matches('s');
            let secs = match unit {
                "second" => Some(1),
                "minute" => Some(60),
                "hour" => Some(3600),
                "day" => Some(86400),
                "week" => Some(7 * 86400),
                "month" => Some(30 * 86400),
                "year" => Some(365 * 86400),
                _ => None,
            };
            if let Some(secs) = secs {
                return Ok(now() - n * secs);
            }
        }
    }
    Err(Failure::usage(format!("invalid date '{s}'")))
}

pub fn log(ctx: &Ctx, args: &LogArgs) -> Outcome {
    let path = parse_path(args.path.as_deref())?;
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let repo = ctx.open()?;
    let branch = ctx.branch(&repo)?;
    let limit = args.limit.unwrap_or(usize::MAX);
    let shown = |info: &CommitInfo| -> bool {
        since.is_none_or(|t| info.commit.committer.time >= t)
            && args.author.as_deref().is_none_or(|pat| {
                let a = &info.commit.author;
                format!("{} <{}>", a.name, a.email).contains(pat)
            })
    };
    let mut items = Vec::new();
    let mut lines = Vec::new();
    if args.graph && !ctx.json {
        // The graph needs every commit to route its lanes; hidden ones pass through silently.
        let mut graph = Graph::default();
        let mut count = 0;
        for info in branch.history()? {
            if count >= limit {
                break;
            }
            let info = info?;
            let visible = shown(&info) && (path.is_root() || changes_path(&repo, &info, &path)?);
            let (prefix, after) = graph.next(info.id, &info.commit.parents);
            if visible {
                lines.push(format!("{prefix} {} {}", info.id, info.summary()));
                count += 1;
            }
            lines.extend(after);
        }
        output::lines(lines.into_iter().map(|l| l.trim_end().to_string()));
        return Ok(0);
    }
    let history = branch.history()?;
    let history = if path.is_root() {
        history
    } else {
        history.touching(path)
    };
    if args.count {
        let count = if since.is_none() && args.author.is_none() {
            history.ids().take(limit).try_fold(0, |n, id| id.map(|_| n + 1))?
        } else {
            let mut n = 0;
            for info in history {
                if n >= limit {
                    break;
                }
                n += usize::from(shown(&info?));
            }
            n
        };
        if ctx.json {
            output::json(&local::CommitCount { count });
        } else {
            output::lines([count.to_string()]);
        }
        return Ok(0);
    }
    let mut count = 0;
    for info in history {
        if count >= limit {
            break;
        }
        let info = info?;
        if !shown(&info) {
            continue;
        }
        count += 1;
        if ctx.json {
            items.push(local::Commit::from(&info));
        } else {
            lines.push(format!("{} {}", info.id, info.summary()));
        }
    }
    if ctx.json {
        output::json(&items);
    } else {
        output::lines(lines);
    }
    Ok(0)
}

/// Whether `info` changed `path` with respect to every parent (`git log -- PATH`).
fn changes_path(repo: &Repo, info: &CommitInfo, path: &Path) -> Result<bool, Failure> {
    let parents: Vec<Option<ObjectId>> = if info.commit.parents.is_empty() {
        vec![None]
    } else {
        info.commit.parents.iter().map(|p| Some(*p)).collect()
    };
    for p in parents {
        if repo.diff_commits(p, Some(info.id), path)?.is_empty() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Lanes of `--graph`: which commit each column waits for.
#[derive(Default)]
struct Graph {
    lanes: Vec<ObjectId>,
}

impl Graph {
    /// The prefix of `id`'s line, and the connector lines to print after it.
    fn next(&mut self, id: ObjectId, parents: &[ObjectId]) -> (String, Vec<String>) {
        let col = match self.lanes.iter().position(|l| *l == id) {
            Some(c) => c,
            None => {
                self.lanes.push(id);
                self.lanes.len() - 1
            }
        };
        let prefix: Vec<&str> = (0..self.lanes.len())
            .map(|i| if i == col { "*" } else { "|" })
            .collect();
        let prefix = prefix.join(" ");
        let mut after = Vec::new();
        match parents.split_first() {
            None => {
                self.lanes.remove(col);
                if col < self.lanes.len() {
                    let marks: Vec<&str> = (0..self.lanes.len())
                        .map(|i| if i < col { "|" } else { "/" })
                        .collect();
                    after.push(marks.join(" "));
                }
            }
            Some((first, rest)) => {
                self.lanes[col] = *first;
                let mut at = col + 1;
                let before = self.lanes.len();
                for p in rest {
                    if !self.lanes.contains(p) {
                        self.lanes.insert(at, *p);
                        at += 1;
                    }
                }
                if self.lanes.len() > before {
                    let marks: Vec<&str> = (0..self.lanes.len())
                        .map(|i| if i <= col { "|" } else { "\\" })
                        .collect();
                    after.push(marks.join(" "));
                }
            }
        }
        // Two lanes waiting for the same commit join.
        while let Some(j) = (1..self.lanes.len()).find(|&j| self.lanes[..j].contains(&self.lanes[j])) {
            self.lanes.remove(j);
            let marks: Vec<&str> = (0..=self.lanes.len())
                .map(|i| if i < j { "|" } else { "/" })
                .collect();
            after.push(marks.join(" "));
        }
        (prefix, after)
    }
}

pub fn show(ctx: &Ctx, args: &ShowArgs) -> Outcome {
    let repo = ctx.open()?;
    let id = match &args.rev {
        Some(rev) => repo.resolve(rev)?,
        None => {
            let branch = ctx.branch(&repo)?;
            branch
                .head()?
                .ok_or_else(|| Failure::no(format!("branch '{}' has no commits yet", branch.name())))?
        }
    };
    let info = repo.commit_info(id)?;
    let changes = repo.diff_commits(info.commit.parents.first().copied(), Some(id), &Path::root())?;
    if ctx.json {
        output::json(&local::CommitWithChanges {
            commit: local::Commit::from(&info),
            changes: changes.iter().map(local::Change::from).collect(),
        });
        return Ok(0);
    }
    let mut lines = vec![format!("commit {id}")];
    if info.commit.parents.len() > 1 {
        let short: Vec<String> = info.commit.parents.iter().map(|p| p.short(7)).collect();
        lines.push(format!("Merge: {}", short.join(" ")));
    }
    let a = &info.commit.author;
    lines.push(format!("Author: {} <{}>", a.name, a.email));
    lines.push(format!("Date:   {}", git_date(a.time, a.offset_minutes)));
    lines.push(String::new());
    for l in String::from_utf8_lossy(&info.commit.message).lines() {
        lines.push(format!("    {l}").trim_end().to_string());
    }
    if !changes.is_empty() {
        lines.push(String::new());
        lines.extend(
            changes
                .iter()
                .map(|c| format!("{}\t{}", c.status_letter(), c.path)),
        );
    }
    output::lines(lines);
    Ok(0)
}

pub fn diff(ctx: &Ctx, args: &DiffArgs) -> Outcome {
    let path = parse_path(args.path.as_deref())?;
    let repo = ctx.open()?;
    let a = repo.resolve(&args.a)?;
    let b = repo.resolve(&args.b)?;
    let changes = repo.diff_commits(Some(a), Some(b), &path)?;
    if ctx.json {
        let mut items = Vec::new();
        for c in &changes {
            let mut v = local::Change::from(c);
            if args.patch {
                v.patch = Some(patch_of(&repo, c)?);
            }
            items.push(v);
        }
        output::json(&items);
    } else {
        // Renamed values are shown where the new path sorts; their old paths are left out.
        let renames = if args.no_renames {
            Vec::new()
        } else {
            canopy::store::detect_renames(repo.objects(), &changes)?
        };
        let mut text = Vec::new();
        for (i, c) in changes.iter().enumerate() {
            if renames.iter().any(|r| r.from == i) {
                continue;
            }
            let rename = renames.iter().find(|r| r.to == i);
            let (old, from) = match rename {
                Some(r) => (changes[r.from].old, Some((&changes[r.from].path, r.percent()))),
                None => (c.old, None),
            };
            let shown = PathChange {
                path: c.path.clone(),
                kind: c.kind,
                old,
                new: c.new,
            };
            if args.patch {
                text.push(patch_header(&shown, from));
                let (a, b) = patch_names(&shown, from.map(|(p, _)| p));
                let same = shown.old.map(|s| s.id) == shown.new.map(|s| s.id);
                match patch_of(&repo, &shown)? {
                    _ if same => {}
                    // As git: no `---`/`+++` lines when there is no hunk (an empty value added
                    // or removed, a mode change or a rename alone).
                    Some(p) if p.is_empty() => {}
                    Some(p) => text.push(format!("--- {a}\n+++ {b}\n{p}")),
                    None => text.push(format!("Binary files {a} and {b} differ\n")),
                }
            } else {
                text.push(match from {
                    Some((old_path, percent)) => format!("R{percent:03}\t{old_path}\t{}\n", c.path),
                    None => format!("{}\t{}\n", c.status_letter(), c.path),
                });
            }
        }
        output::raw(text.concat().as_bytes());
    }
    Ok(0)
}

/// `diff --git` header lines as Git prints them; `from` is a renamed value's old path and
/// similarity.
fn patch_header(c: &PathChange, from: Option<(&Path, u64)>) -> String {
    let p = &c.path;
    let short = |s: Option<canopy::store::Side>| s.map_or_else(|| "0".repeat(7), |s| s.id.short(7));
    let old_path = from.map_or(p, |(f, _)| f);
    let mut h = format!("diff --git a/{old_path} b/{p}\n");
    match (c.old, c.new) {
        (None, Some(n)) => h.push_str(&format!("new file mode {}\n", n.mode.display())),
        (Some(o), None) => h.push_str(&format!("deleted file mode {}\n", o.mode.display())),
        (Some(o), Some(n)) if o.mode != n.mode => h.push_str(&format!(
            "old mode {}\nnew mode {}\n",
            o.mode.display(),
            n.mode.display()
        )),
        _ => {}
    }
    if let Some((f, percent)) = from {
        h.push_str(&format!(
            "similarity index {percent}%\nrename from {f}\nrename to {p}\n"
        ));
    }
    if c.old.map(|s| s.id) == c.new.map(|s| s.id) {
        return h; // a rename alone: no index line
    }
    h.push_str(&format!("index {}..{}", short(c.old), short(c.new)));
    match (c.old, c.new) {
        (Some(o), Some(n)) if o.mode == n.mode => h.push_str(&format!(" {}\n", o.mode.display())),
        _ => h.push('\n'),
    }
    h
}

/// The two sides' names in a patch: `a/PATH` (the old path of a rename) and `b/PATH`,
/// `/dev/null` for a side that is absent.
fn patch_names(c: &PathChange, from: Option<&Path>) -> (String, String) {
    let a = match c.old {
        Some(_) => format!("a/{}", from.unwrap_or(&c.path)),
        None => "/dev/null".into(),
    };
    let b = match c.new {
        Some(_) => format!("b/{}", c.path),
        None => "/dev/null".into(),
    };
    (a, b)
}

/// The `@@` hunks of a changed text value; `None` when either side is binary or not a blob.
fn patch_of(repo: &Repo, c: &PathChange) -> Result<Option<String>, Failure> {
    let read = |s: Option<canopy::store::Side>| -> Result<Option<Vec<u8>>, Failure> {
        match s {
            None => Ok(Some(Vec::new())),
            Some(s) if s.mode.is_blob() => Ok(Some(
                repo.objects()
                    .read_kind(&s.id, canopy::object::ObjectKind::Blob)
                    .map_err(canopy::store::Error::from)?,
            )),
            Some(_) => Ok(None),
        }
    };
    let (Some(old), Some(new)) = (read(c.old)?, read(c.new)?) else {
        return Ok(None);
    };
    if is_binary(&old) || is_binary(&new) {
        return Ok(None);
    }
    Ok(Some(unified_diff(&old, &new, 3)))
}

pub fn revert(ctx: &Ctx, args: &RevertArgs) -> Outcome {
    let repo = ctx.open()?;
    let branch = ctx.branch(&repo)?;
    let id = repo.resolve(&args.rev)?;
    let info = repo.commit_info(id)?;
    let message = format!("Revert \"{}\"\n\nThis reverts commit {id}.", info.summary());
    let opts = commit_options(&repo, &args.commit, message)?;
    match branch.revert(id, &opts)? {
        RevertOutcome::Committed(c) => {
            if ctx.json {
                output::json(&written(c));
            }
            Ok(0)
        }
        RevertOutcome::Unchanged(_) => Err(Failure::no(format!(
            "nothing to revert: branch '{}' already lacks the changes of {id}",
            branch.name()
        ))),
        RevertOutcome::Conflicts(conflicts) => {
            for c in &conflicts {
                eprintln!("canopy: conflict in {}: {}", c.path, c.reason);
            }
            Err(Failure::no(format!(
                "{} conflicting path(s); branch '{}' is unchanged",
                conflicts.len(),
                branch.name()
            )))
        }
    }
}

pub fn rollback(ctx: &Ctx, args: &RollbackArgs) -> Outcome {
    let repo = ctx.open()?;
    let branch = ctx.branch(&repo)?;
    let id = repo.resolve(&args.rev)?;
    let info = repo.commit_info(id)?;
    let message = format!("Roll back to {}: {}", id.short(7), info.summary());
    let opts = commit_options(&repo, &args.commit, message)?;
    let head = branch.rollback(id, &opts)?;
    if ctx.json {
        output::json(&written(head));
    }
    Ok(0)
}

pub fn reset(ctx: &Ctx, args: &ResetArgs) -> Outcome {
    let repo = ctx.open()?;
    let branch = ctx.branch(&repo)?;
    let id = repo.resolve(&args.rev)?;
    if !args.force {
        return Err(Failure::usage(format!(
            "reset moves branch '{}' to {id} whatever it holds now; say --force (the old head stays in \
             'canopy reflog'), or use 'canopy rollback' to keep history",
            branch.name()
        )));
    }
    let opts = CommitOptions {
        message: format!("reset: moving to {}", args.rev),
        ..CommitOptions::default()
    };
    let old = branch.reset(id, &opts)?;
    if ctx.json {
        output::json(&local::Reset {
            old: opt_hex(old),
            new: id.to_hex(),
        });
    }
    Ok(0)
}

pub fn reflog(ctx: &Ctx, args: &ReflogArgs) -> Outcome {
    let repo = ctx.open()?;
    let branch = ctx.branch(&repo)?;
    let entries = branch.reflog()?;
    let limit = args.limit.unwrap_or(usize::MAX);
    let null = repo.hash_kind().null_id();
    if ctx.json {
        let items: Vec<local::ReflogEntry> = entries
            .iter()
            .take(limit)
            .enumerate()
            .map(|(i, e)| local::ReflogEntry {
                index: i,
                old: opt_hex(e.old),
                new: opt_hex(e.new),
                who: local::Signature::from(&e.who),
                message: e.message.clone(),
            })
            .collect();
        output::json(&items);
    } else {
        output::lines(entries.iter().take(limit).enumerate().map(|(i, e)| {
            format!(
                "{} {}@{{{i}}}: {}",
                e.new.unwrap_or(null),
                branch.name(),
                e.message
            )
        }));
    }
    Ok(0)
}

/// Standard output's file descriptor duplicated onto standard error, so that a child's output
/// does not mix with what `canopy` prints for scripts.
fn stderr_stdio() -> Stdio {
    use std::os::fd::AsFd;
    match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => Stdio::from(fd),
        Err(_) => Stdio::inherit(),
    }
}

fn absolute_root(ctx: &Ctx) -> PathBuf {
    std::path::absolute(&ctx.root).unwrap_or_else(|_| ctx.root.clone())
}

pub fn bisect(ctx: &Ctx, args: &BisectArgs) -> Outcome {
    let path = parse_path(args.path.as_deref())?;
    let repo = ctx.open()?;
    let bad = match &args.bad {
        Some(rev) => repo.resolve(rev)?,
        None => {
            let branch = ctx.branch(&repo)?;
            branch
                .head()?
                .ok_or_else(|| Failure::usage(format!("branch '{}' has no commits yet", branch.name())))?
        }
    };
    let good = args
        .good
        .iter()
        .map(|g| repo.resolve(g))
        .collect::<Result<Vec<_>, _>>()?;
    let (program, program_args) = args
        .cmd
        .split_first()
        .ok_or_else(|| Failure::usage("give the test command after '--'"))?;
    let root = absolute_root(ctx);
    let mut bisection = Bisect::new(&repo, bad, &good, (!path.is_root()).then_some(path))?;
    let mut steps = Vec::new();
    let mut out = std::io::stdout().lock();
    let outcome = loop {
        let step = match bisection.next_step()? {
            BisectNext::Done(outcome) => break outcome,
            BisectNext::Test(step) => step,
        };
        let summary = repo.commit_info(step.commit)?.summary();
        if !ctx.json {
            if step.merge_base {
                let _ = writeln!(out, "Bisecting: a merge base must be tested");
            } else {
                let _ = writeln!(
                    out,
                    "Bisecting: {} revision{} left to test after this (roughly {} step{})",
                    step.remaining,
                    if step.remaining == 1 { "" } else { "s" },
                    step.steps,
                    if step.steps == 1 { "" } else { "s" }
                );
            }
            let _ = writeln!(out, "[{}] {summary}", step.commit);
            let _ = out.flush();
        }
        let status = Process::new(program)
            .args(program_args)
            .env("CANOPY_ROOT", &root)
            .env("CANOPY_REV", step.commit.to_hex())
            .stdin(Stdio::null())
            .stdout(stderr_stdio())
            .status()
            .map_err(|e| Failure::usage(format!("cannot run '{program}': {e}")))?;
        let verdict = Verdict::from_exit_code(status.code());
        let word = match verdict {
            Verdict::Good => "good",
            Verdict::Bad => "bad",
            Verdict::Skip => "skip",
            Verdict::Abort => "abort",
        };
        steps.push(local::BisectStep {
            commit: step.commit.to_hex(),
            verdict: word.to_string(),
            exit_code: status.code(),
        });
        if !ctx.json {
            let _ = writeln!(out, "{} is {word}", step.commit);
        }
        if verdict == Verdict::Abort {
            break BisectOutcome::Aborted(step.commit);
        }
        bisection.mark(step.commit, verdict);
    };
    drop(out);
    let runs = steps.len();
    let (code, first_bad, candidates, message) = match &outcome {
        BisectOutcome::FirstBad(id) => (0, Some(*id), vec![*id], None),
        BisectOutcome::OnlySkipped(c) => (1, None, c.clone(), None),
        BisectOutcome::MergeBaseBad(mb) => (
            1,
            None,
            Vec::new(),
            Some(format!(
                "the merge base {mb} is bad: the change was undone between it and a good commit"
            )),
        ),
        BisectOutcome::NoTestableCommit => {
            (1, None, Vec::new(), Some("no testable commit found".to_string()))
        }
        BisectOutcome::Aborted(at) => (
            1,
            None,
            Vec::new(),
            Some(format!(
                "bisect aborted: the test exited with 128 or more (or was killed) at {at}"
            )),
        ),
    };
    if ctx.json {
        output::json(&local::Bisected {
            first_bad: opt_hex(first_bad),
            candidates: candidates.iter().map(|c| c.to_hex()).collect(),
            runs,
            steps,
        });
    } else if let Some(id) = first_bad {
        let info = repo.commit_info(id)?;
        output::lines([
            format!("{id} is the first bad commit"),
            format!("    {}", info.summary()),
        ]);
    } else if !candidates.is_empty() {
        let mut lines = vec![
            "There are only 'skip'ped commits left to test.".to_string(),
            "The first bad commit could be any of:".to_string(),
        ];
        lines.extend(candidates.iter().map(|c| c.to_hex()));
        output::lines(lines);
    }
    match (code, message) {
        (0, _) => Ok(0),
        (_, Some(m)) => Err(Failure::no(m)),
        (c, None) => Ok(c),
    }
}

pub fn last_modified(ctx: &Ctx, args: &LastModifiedArgs) -> Outcome {
    let path = Path::parse(&args.path)?;
    let repo = ctx.open()?;
    let start = match &args.at {
        Some(rev) => repo.resolve(rev)?,
        None => {
            let branch = ctx.branch(&repo)?;
            branch
                .head()?
                .ok_or_else(|| Failure::no(format!("branch '{}' has no commits yet", branch.name())))?
        }
    };
    let commits = repo.last_modified(start, &path, args.limit)?;
    if commits.is_empty() {
        return Err(Failure::no(format!("no commit changed '{path}'")));
    }
    if ctx.json {
        output::json(&commits.iter().map(local::Commit::from).collect::<Vec<_>>());
    } else {
        output::lines(commits.iter().map(|c| format!("{} {}", c.id, c.summary())));
    }
    Ok(0)
}

pub fn blame(ctx: &Ctx, args: &BlameArgs) -> Outcome {
    let path = Path::parse(&args.path)?;
    let repo = ctx.open()?;
    let start = match &args.at {
        Some(rev) => repo.resolve(rev)?,
        None => {
            let branch = ctx.branch(&repo)?;
            branch
                .head()?
                .ok_or_else(|| Failure::no(format!("path '{path}' not found")))?
        }
    };
    let view = repo.view_at(start)?;
    if let Some(bytes) = view.get(&path)? {
        if is_binary(&bytes) {
            return Err(Failure::usage(format!(
                "'{path}' holds binary data; blame works on text values"
            )));
        }
    }
    let lines = repo
        .blame(start, &path)?
        .ok_or_else(|| Failure::no(format!("path '{path}' not found")))?;
    let mut infos = std::collections::HashMap::new();
    for l in &lines {
        if let std::collections::hash_map::Entry::Vacant(e) = infos.entry(l.commit) {
            e.insert(repo.commit_info(l.commit)?);
        }
    }
    if ctx.json {
        let items: Vec<local::BlameLine> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| local::BlameLine {
                line: i + 1,
                commit: l.commit.to_hex(),
                original_line: l.original_line,
                path: l.path.to_string(),
                author: infos
                    .get(&l.commit)
                    .map(|c| local::Signature::from(&c.commit.author)),
                content: Content::of(&l.text),
            })
            .collect();
        output::json(&items);
        return Ok(0);
    }
    let width = lines.len().to_string().len();
    // As `git blame`: when some lines come from before a rename, each line names its path.
    let path_width = lines.iter().any(|l| l.path != path).then(|| {
        lines
            .iter()
            .map(|l| l.path.to_string().chars().count())
            .max()
            .unwrap_or(0)
    });
    let name_width = infos
        .values()
        .map(|c| c.commit.author.name.chars().count())
        .max()
        .unwrap_or(0);
    output::lines(lines.iter().enumerate().map(|(i, l)| {
        let (name, date) = infos
            .get(&l.commit)
            .map(|c| {
                (
                    c.commit.author.name.clone(),
                    short_date(c.commit.author.time, c.commit.author.offset_minutes),
                )
            })
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&l.text);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let shown_path = match path_width {
            Some(w) => format!(" {:<w$}", l.path.to_string()),
            None => String::new(),
        };
        format!(
            "{}{shown_path} ({name:<name_width$} {date} {:>width$}) {text}",
            l.commit.short(8),
            i + 1
        )
    }));
    Ok(0)
}

pub fn watch(ctx: &Ctx, args: &WatchArgs) -> Outcome {
    let path = parse_path(args.path.as_deref())?;
    let repo = ctx.open()?;
    let branch = ctx.branch(&repo)?;
    let root = absolute_root(ctx);
    let null = repo.hash_kind().null_id();
    let watch = branch.watch(&path)?;
    for event in watch {
        let event = event?;
        if let Some(cmd) = &args.exec {
            let status = Process::new("sh")
                .arg("-c")
                .arg(cmd)
                .env("CANOPY_ROOT", &root)
                .env("CANOPY_BRANCH", branch.name())
                .env("CANOPY_OLD", event.old.map(|i| i.to_hex()).unwrap_or_default())
                .env("CANOPY_NEW", event.new.map(|i| i.to_hex()).unwrap_or_default())
                .stdin(Stdio::null())
                .status()
                .map_err(|e| Failure {
                    code: 3,
                    message: format!("cannot run 'sh -c {cmd}': {e}"),
                })?;
            if !status.success() {
                tracing::warn!("'{cmd}' exited with {status} for {}", event.new.unwrap_or(null));
            }
            continue;
        }
        let text = if ctx.json {
            let v = local::HeadMoved {
                old: opt_hex(event.old),
                new: opt_hex(event.new),
                changes: event.changes.iter().map(local::Change::from).collect(),
            };
            format!("{}\n", serde_json::to_string(&v).expect("wire shapes serialize"))
        } else {
            let new = event.new.unwrap_or(null);
            event
                .changes
                .iter()
                .map(|c| format!("{new} {} {}\n", c.kind.as_str(), c.path))
                .collect()
        };
        let mut out = std::io::stdout().lock();
        if out.write_all(text.as_bytes()).and_then(|_| out.flush()).is_err() {
            // Whoever read our output is gone: stop watching.
            return Ok(0);
        }
    }
    Ok(0)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn local(time: i64, offset_minutes: i32) -> (i64, u32, u32, i64, i64) {
    let t = time + i64::from(offset_minutes) * 60;
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    (y, m, d, days, secs)
}

fn zone(offset_minutes: i32) -> String {
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let m = offset_minutes.unsigned_abs();
    format!("{sign}{:02}{:02}", m / 60, m % 60)
}

/// Git's default date format: `Tue Nov 14 22:13:20 2023 +0000`.
fn git_date(time: i64, offset_minutes: i32) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d, days, secs) = local(time, offset_minutes);
    format!(
        "{} {} {d} {:02}:{:02}:{:02} {y} {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        zone(offset_minutes)
    )
}

/// `2023-11-14`, in the commit's own zone.
fn short_date(time: i64, offset_minutes: i32) -> String {
    let (y, m, d, _, _) = local(time, offset_minutes);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_as_git_prints_them() {
        assert_eq!(git_date(1_700_000_000, 0), "Tue Nov 14 22:13:20 2023 +0000");
        assert_eq!(git_date(1_700_000_000, 120), "Wed Nov 15 00:13:20 2023 +0200");
        assert_eq!(git_date(0, -60), "Wed Dec 31 23:00:00 1969 -0100");
        assert_eq!(short_date(1_700_000_000, 0), "2023-11-14");
        assert_eq!(short_date(951_782_400, 0), "2000-02-29");
    }

    #[test]
    fn graph_lanes_fork_and_join() {
        let id = |n: u8| ObjectId::from_hex(format!("{n:040x}").as_bytes()).unwrap();
        let mut g = Graph::default();
        // 4 merges 3 (side) into 2; 3 and 2 both come from 1.
        let (p, after) = g.next(id(4), &[id(2), id(3)]);
        assert_eq!((p.as_str(), after), ("*", vec!["| \\".to_string()]));
        assert_eq!(g.next(id(3), &[id(1)]).0, "| *");
        let (p, after) = g.next(id(2), &[id(1)]);
        assert_eq!((p.as_str(), after), ("* |", vec!["| /".to_string()]));
        assert_eq!(g.next(id(1), &[]).0, "*");
    }
}

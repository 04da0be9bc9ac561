//! One function per command. Each opens the store, calls the library and prints.

use std::io::Read;
use std::path::{Path as FsPath, PathBuf};

use canopy::object::{HashKind, Signature};
use canopy::store::{CommitOptions, Error as StoreError, InitOptions, Role, TestAndSet, View};
use canopy::tree::EntryKind;
use canopy::{Branch, Path, Repo};
use canopy_wire::{api, local, Content};

use crate::output;
use crate::{Cli, Command, CommitArgs};

/// A failure to report: a one-line message and the exit code.
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub(crate) fn no(message: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            message: message.into(),
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        if let StoreError::Conflicts { branch, conflicts } = &e {
            // Every conflicting path on its own line, then the summary.
            for c in conflicts {
                eprintln!("canopy: conflict in {}: {}", c.path, c.reason);
            }
            return Failure::no(format!(
                "{} conflicting path(s); branch '{branch}' is unchanged",
                conflicts.len()
            ));
        }
        let code = if e.is_user_error() { 2 } else { 3 };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

impl From<canopy::path::PathError> for Failure {
    fn from(e: canopy::path::PathError) -> Failure {
        Failure::usage(e.to_string())
    }
}

pub(crate) type Outcome = Result<u8, Failure>;

pub(crate) struct Ctx {
    pub(crate) root: PathBuf,
    pub(crate) branch: Option<String>,
    /// `--create`: a missing `--branch` is created rather than refused.
    pub(crate) create: bool,
    pub(crate) json: bool,
}

impl Ctx {
    pub(crate) fn open(&self) -> Result<Repo, Failure> {
        Ok(Repo::open(&self.root)?)
    }

    /// The branch `--branch` names (which must exist, be the one `HEAD` names, or be asked for
    /// with `--create`: a typo must not read as "absent" or start an unrelated history), else
    /// the one `HEAD` names.
    pub(crate) fn branch(&self, repo: &Repo) -> Result<Branch, Failure> {
        let Some(name) = &self.branch else {
            return Ok(repo.head_branch()?);
        };
        let branch = repo.branch(name)?;
        let is_head = || repo.head_branch().is_ok_and(|h| h.name() == name);
        if self.create || branch.head()?.is_some() || is_head() {
            Ok(branch)
        } else {
            Err(Failure::usage(format!(
                "no such branch '{name}' (create it with 'canopy branch {name}', or pass --create)"
            )))
        }
    }

    /// The view at `--at REV`, else at the branch head.
    pub(crate) fn view(&self, repo: &Repo, at: Option<&str>) -> Result<View, Failure> {
        Ok(match at {
            Some(rev) => repo.view_at(repo.resolve(rev)?)?,
            None => self.branch(repo)?.view()?,
        })
    }
}

pub fn run(cli: Cli) -> Outcome {
    if let Some(outcome) = crate::remote::dispatch(&cli) {
        return outcome;
    }
    // `serve` and `token` default to ./canopy-data rather than the current directory.
    let explicit_root = cli.root.clone();
    let root = match cli.root {
        Some(r) => r,
        None => std::env::current_dir()
            .map_err(|e| Failure::usage(format!("cannot find the current directory: {e}")))?,
    };
    let ctx = Ctx {
        root,
        branch: cli.branch,
        create: cli.create,
        json: cli.json,
    };
    match cli.command {
        Command::Init { dir, object_format } => init(&ctx, dir.as_deref(), &object_format),
        Command::Set {
            path,
            value,
            file,
            commit,
        } => set(&ctx, &path, value.as_deref(), file.as_deref(), &commit),
        Command::Get { path, at } => {
            crate::sync::prefetch_value(&ctx, &path, at.as_deref())?;
            get(&ctx, &path, at.as_deref())
        }
        Command::Rm { path, commit } => rm(&ctx, &path, &commit),
        Command::TestAndSet {
            path,
            value,
            expect,
            absent,
            remove,
            commit,
        } => test_and_set(
            &ctx,
            &path,
            value.as_deref(),
            expect.as_deref(),
            absent,
            remove,
            &commit,
        ),
        Command::List { path, at } => list(&ctx, path.as_deref().unwrap_or(""), at.as_deref()),
        Command::Tree { path, at } => tree(&ctx, path.as_deref().unwrap_or(""), at.as_deref()),
        Command::Log(args) => crate::history::log(&ctx, &args),
        Command::Show(args) => crate::history::show(&ctx, &args),
        Command::Diff(args) => crate::history::diff(&ctx, &args),
        Command::Revert(args) => crate::history::revert(&ctx, &args),
        Command::Rollback(args) => crate::history::rollback(&ctx, &args),
        Command::Reset(args) => crate::history::reset(&ctx, &args),
        Command::Reflog(args) => crate::history::reflog(&ctx, &args),
        Command::Bisect(args) => crate::history::bisect(&ctx, &args),
        Command::LastModified(args) => crate::history::last_modified(&ctx, &args),
        Command::Blame(args) => crate::history::blame(&ctx, &args),
        Command::Watch(args) => crate::history::watch(&ctx, &args),
        Command::Merge {
            from,
            no_ff,
            strategy_option,
            commit,
        } => crate::merging::merge(&ctx, &from, no_ff, strategy_option.as_deref(), &commit),
        Command::Squash { before, adopt } => {
            crate::maintenance::squash(&ctx, before.as_deref(), adopt.as_deref())
        }
        Command::Gc { grace } => crate::maintenance::gc(&ctx, &grace),
        Command::Fsck { repair, grace } => crate::maintenance::fsck(&ctx, repair, &grace),
        Command::MergeBase { a, b } => crate::merging::merge_base(&ctx, &a, &b),
        Command::Counter(cmd) => crate::structures::counter(&ctx, &cmd),
        Command::Queue(cmd) => crate::structures::queue(&ctx, &cmd),
        Command::Journal(cmd) => crate::structures::journal(&ctx, &cmd),
        Command::Rope(cmd) => crate::structures::rope(&ctx, &cmd),
        Command::Branch { name, from } => branch(&ctx, name.as_deref(), from.as_deref()),
        Command::Serve(args) => crate::serve::serve(explicit_root, &args),
        Command::Token(cmd) => crate::serve::token(explicit_root, ctx.json, cmd),
        Command::Clone(args) => crate::sync::clone(&ctx, &args),
        Command::Remote(cmd) => crate::sync::remote_cmd(&ctx, &cmd),
        Command::Fetch(args) => crate::sync::fetch(&ctx, &args),
        Command::Pull(args) => crate::sync::pull(&ctx, &args),
        Command::Push(args) => crate::sync::push(&ctx, &args),
        Command::Sync(args) => crate::sync::sync(&ctx, &args),
        Command::Import {
            file,
            format,
            replace,
            commit,
        } => crate::bulk::import(&ctx, &file, format, replace, &commit),
        Command::Export { path, format, at } => {
            crate::bulk::export(&ctx, path.as_deref(), at.as_deref(), format)
        }
    }
}

fn init(ctx: &Ctx, dir: Option<&FsPath>, format: &str) -> Outcome {
    let hash = HashKind::from_name(format).ok_or_else(|| {
        Failure::usage(format!(
            "unknown object format '{format}' (expected sha1 or sha256)"
        ))
    })?;
    let dir = dir.map_or_else(|| ctx.root.clone(), |d| ctx.root.join(d));
    let opts = InitOptions {
        hash,
        branch: ctx.branch.clone().unwrap_or_else(|| "main".into()),
    };
    let repo = Repo::init_with(&dir, &opts)?;
    if ctx.json {
        output::json(&local::Initialized {
            path: dir.display().to_string(),
            object_format: hash.name().to_string(),
        });
    } else {
        output::lines([format!("Initialized empty Canopy store in {}", dir.display())]);
    }
    identity_hint(&repo);
    Ok(0)
}

/// Says how to set an identity when none is configured, as Git does.
pub(crate) fn identity_hint(repo: &Repo) {
    if !repo.has_identity() {
        eprintln!(
            "hint: no identity is configured: commits will be signed {} <{}>. Set yours with\n\
             hint:   git config --global user.name \"Your Name\"\n\
             hint:   git config --global user.email you@example.com",
            canopy::store::FALLBACK_NAME,
            canopy::store::FALLBACK_EMAIL
        );
    }
}

pub(crate) fn read_value(value: &str) -> Result<Vec<u8>, Failure> {
    value_source(Some(value), None)?.into_bytes()
}

/// Standard input up to this size is read into memory; beyond it, it goes through a temporary
/// file, so that `canopy set` of a large value never holds it whole.
const SPOOL_BYTES: u64 = 16 << 20;

/// A value to store, as the command line gives it: in memory, or a file to stream from (with
/// the bytes left to read in it).
pub(crate) enum ValueSource {
    Bytes(Vec<u8>),
    File(std::fs::File, u64),
}

impl ValueSource {
    /// The whole value in memory (for commands that need it so).
    pub(crate) fn into_bytes(self) -> Result<Vec<u8>, Failure> {
        match self {
            ValueSource::Bytes(b) => Ok(b),
            ValueSource::File(mut f, size) => {
                let mut bytes = Vec::with_capacity(size as usize);
                f.read_to_end(&mut bytes).map_err(|e| Failure {
                    code: 3,
                    message: format!("cannot read the value: {e}"),
                })?;
                Ok(bytes)
            }
        }
    }
}

/// Where the value of `set` comes from: the argument itself, `-` for standard input (streamed
/// from where it stands when it is a file, spooled to a temporary file past [`SPOOL_BYTES`]
/// when it is a pipe), or `--file`.
pub(crate) fn value_source(value: Option<&str>, file: Option<&FsPath>) -> Result<ValueSource, Failure> {
    use std::io::Seek;
    let failed = |what: String| {
        move |e: std::io::Error| Failure {
            code: 3,
            message: format!("cannot read {what}: {e}"),
        }
    };
    if let Some(file) = file {
        let f = std::fs::File::open(file)
            .map_err(|e| Failure::usage(format!("cannot read '{}': {e}", file.display())))?;
        let size = f.metadata().map_err(failed(file.display().to_string()))?.len();
        return Ok(ValueSource::File(f, size));
    }
    match value {
        Some("-") => {}
        Some(v) => return Ok(ValueSource::Bytes(v.as_bytes().to_vec())),
        None => {
            return Err(Failure::usage(
                "give the VALUE, '-' for standard input, or --file FILE",
            ))
        }
    }
    let stdin = std::io::stdin();
    let input = || failed("standard input".into());
    // Redirected from a file: read it from where it stands, without copying it first.
    if let Ok(fd) = std::os::fd::AsFd::as_fd(&stdin).try_clone_to_owned() {
        let mut f = std::fs::File::from(fd);
        if f.metadata().is_ok_and(|m| m.is_file()) {
            let at = f.stream_position().map_err(input())?;
            let size = f.metadata().map_err(input())?.len().saturating_sub(at);
            return Ok(ValueSource::File(f, size));
        }
    }
    let mut lock = stdin.lock();
    let mut head = Vec::new();
    (&mut lock)
        .take(SPOOL_BYTES)
        .read_to_end(&mut head)
        .map_err(input())?;
    if (head.len() as u64) < SPOOL_BYTES {
        return Ok(ValueSource::Bytes(head));
    }
    let mut spool = tempfile::tempfile().map_err(failed("a temporary file".into()))?;
    std::io::Write::write_all(&mut spool, &head).map_err(failed("a temporary file".into()))?;
    drop(head);
    let rest = std::io::copy(&mut lock, &mut spool).map_err(input())?;
    spool.rewind().map_err(failed("a temporary file".into()))?;
    Ok(ValueSource::File(spool, SPOOL_BYTES + rest))
}

/// Identity and dates as Git decides them ([`Repo::signature`]: `GIT_AUTHOR_*` /
/// `GIT_COMMITTER_*`, the store's then the user's Git config, the local time zone), with the
/// author's name and email from `--author`, else `$CANOPY_AUTHOR`, when given.
pub(crate) fn commit_options(
    repo: &Repo,
    args: &CommitArgs,
    default_message: String,
) -> Result<CommitOptions, Failure> {
    let mut author = repo.signature(Role::Author)?;
    let committer = repo.signature(Role::Committer)?;
    let ident = args
        .author
        .clone()
        .or_else(|| std::env::var("CANOPY_AUTHOR").ok().filter(|s| !s.is_empty()));
    if let Some(s) = ident {
        author = Signature::parse_name_email(&s, author.time, author.offset_minutes)
            .ok_or_else(|| Failure::usage(format!("invalid author '{s}': expected 'Name <email>'")))?;
    }
    Ok(CommitOptions {
        message: args.message.clone().unwrap_or(default_message),
        author: Some(author),
        committer: Some(committer),
    })
}

fn set(ctx: &Ctx, path: &str, value: Option<&str>, file: Option<&FsPath>, args: &CommitArgs) -> Outcome {
    let p = Path::parse(path)?;
    if p.is_root() {
        return Err(Failure::usage("path '': the root cannot hold a value"));
    }
    let repo = ctx.open()?;
    let branch = ctx.branch(&repo)?;
    let source = value_source(value, file)?;
    let opts = commit_options(&repo, args, format!("set {p}"))?;
    let commit = match source {
        ValueSource::Bytes(bytes) => branch.set(&p, bytes, &opts)?,
        ValueSource::File(mut f, size) => branch.set_from(&p, size, &mut f, &opts)?,
    };
    if ctx.json {
        output::json(&written(commit));
    }
    Ok(0)
}

fn get(ctx: &Ctx, path: &str, at: Option<&str>) -> Outcome {
    let p = Path::parse(path)?;
    let repo = ctx.open()?;
    let view = ctx.view(&repo, at)?;
    if !ctx.json {
        // Streamed: a large value is never held whole.
        let Some(mut stream) = view.open(&p)? else {
            return Err(Failure::no(format!("path '{p}' not found")));
        };
        let failed = |e: std::io::Error| Failure {
            code: 3,
            message: format!("reading '{p}': {e}"),
        };
        if stream.size < SPOOL_BYTES {
            // A value of ordinary size is checked whole before any of it is printed.
            let mut bytes = Vec::with_capacity(stream.size as usize);
            stream.reader.read_to_end(&mut bytes).map_err(failed)?;
            output::raw(&bytes);
            return Ok(0);
        }
        let mut out = std::io::stdout().lock();
        return match std::io::copy(&mut stream.reader, &mut out).and_then(|_| std::io::Write::flush(&mut out))
        {
            Ok(()) => Ok(0),
            // A closed pipe (`canopy get big | head`) is no error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
            Err(e) => Err(failed(e)),
        };
    }
    match view.get(&p)? {
        None => Err(Failure::no(format!("path '{p}' not found"))),
        Some(bytes) => {
            output::json(&local::ValueAt {
                path: p.to_string(),
                content: Content::of(&bytes),
                commit: view.commit().map(|c| c.to_hex()),
            });
            Ok(0)
        }
    }
}

fn rm(ctx: &Ctx, path: &str, args: &CommitArgs) -> Outcome {
    let p = Path::parse(path)?;
    if p.is_root() {
        return Err(Failure::usage("path '': name what to remove"));
    }
    let repo = ctx.open()?;
    let branch = ctx.branch(&repo)?;
    if !branch.contains(&p)? {
        return Err(Failure::no(format!("path '{p}' not found")));
    }
    let opts = commit_options(&repo, args, format!("rm {p}"))?;
    let commit = branch.remove(&p, &opts)?;
    if ctx.json {
        output::json(&written(commit));
    }
    Ok(0)
}

fn test_and_set(
    ctx: &Ctx,
    path: &str,
    value: Option<&str>,
    expect: Option<&str>,
    absent: bool,
    remove: bool,
    args: &CommitArgs,
) -> Outcome {
    let p = Path::parse(path)?;
    if p.is_root() {
        return Err(Failure::usage("path '': the root cannot hold a value"));
    }
    if expect.is_none() && !absent {
        return Err(Failure::usage(
            "say what PATH must hold now: --expect VALUE or --absent",
        ));
    }
    let new = match (value, remove) {
        (Some(v), false) => Some(read_value(v)?),
        (None, true) => None,
        _ => return Err(Failure::usage("give the new VALUE, or --remove")),
    };
    let repo = ctx.open()?;
    let branch = ctx.branch(&repo)?;
    let default_message = if new.is_some() {
        format!("set {p}")
    } else {
        format!("rm {p}")
    };
    let opts = commit_options(&repo, args, default_message)?;
    let expected = expect.map(str::as_bytes);
    match branch.test_and_set(&p, expected, new.as_deref(), &opts)? {
        TestAndSet::Committed(commit) => {
            if ctx.json {
                output::json(&written(commit));
            }
            Ok(0)
        }
        TestAndSet::Failed(found) => {
            if ctx.json {
                let current = found.as_deref().map(Content::of);
                output::json(&local::TestAndSetLost {
                    committed: false,
                    current: current.and_then(|c| c.value.or(c.value_base64)),
                });
            }
            Err(Failure::no(format!(
                "test-and-set on '{p}' lost: the value is not the one expected"
            )))
        }
    }
}

/// A directory path as `list` and `tree` take it: `/` is the root, and a trailing `/` is allowed
/// (`config/`, as `git ls-tree` takes it).
/// A directory path as `list` and `tree` take it: `/` (or nothing) is the root, and one
/// trailing `/` is allowed; locally and with `--remote` alike.
pub(crate) fn dir_path(path: &str) -> Result<Path, Failure> {
    if path == "/" {
        return Ok(Path::root());
    }
    Ok(Path::parse(path.strip_suffix('/').unwrap_or(path))?)
}

/// The commit a gitlink (submodule entry) at `path` names, if that is what is there.
fn gitlink_at(view: &View, path: &Path) -> Result<Option<canopy::ObjectId>, Failure> {
    Ok(match view.find(path)? {
        Some(canopy::tree::Entry::Gitlink(commit)) => Some(commit),
        _ => None,
    })
}

/// A gitlink as `list` and `tree` print it: its name, then the submodule's commit (Git's
/// `ls-tree` shows it as a `commit` entry; it is no value that `get` can read).
fn gitlink_line(name: &str, commit: Option<&str>) -> String {
    match commit {
        Some(c) => format!("{name} (submodule at {c})"),
        None => format!("{name} (submodule)"),
    }
}

/// What `list` prints, locally and with `--remote`: JSON, or a line per entry with a `/` after
/// a directory and a submodule's commit after its name.
pub(crate) fn print_list(json: bool, entries: &[local::ListEntry]) {
    if json {
        output::json(entries);
        return;
    }
    output::lines(entries.iter().map(|e| match e.kind.as_str() {
        "tree" => format!("{}/", e.name),
        "gitlink" => gitlink_line(&e.name, e.commit.as_deref()),
        _ => e.name.clone(),
    }));
}

fn list(ctx: &Ctx, path: &str, at: Option<&str>) -> Outcome {
    let p = dir_path(path)?;
    let repo = ctx.open()?;
    let view = ctx.view(&repo, at)?;
    if p.is_root() || view.contains(&p)? {
        let entries = view.list(&p)?;
        let commit_of = |name: &[u8], kind: EntryKind| -> Result<Option<canopy::ObjectId>, Failure> {
            match kind {
                EntryKind::Gitlink => gitlink_at(&view, &p.join(name)?),
                _ => Ok(None),
            }
        };
        let mut items = Vec::with_capacity(entries.len());
        for (name, kind) in &entries {
            items.push(local::ListEntry {
                name: output::name(name),
                kind: api::EntryKind::name(*kind),
                commit: commit_of(name, *kind)?.map(|c| c.to_hex()),
            });
        }
        print_list(ctx.json, &items);
        Ok(0)
    } else {
        Err(Failure::no(format!("path '{p}' not found")))
    }
}

fn tree(ctx: &Ctx, path: &str, at: Option<&str>) -> Outcome {
    let p = dir_path(path)?;
    let repo = ctx.open()?;
    let view = ctx.view(&repo, at)?;
    if !p.is_root() && !view.contains(&p)? {
        return Err(Failure::no(format!("path '{p}' not found")));
    }
    let paths = view.paths(&p)?;
    if ctx.json {
        let mut items = Vec::with_capacity(paths.len());
        for (path, kind) in &paths {
            let commit = match kind {
                EntryKind::Gitlink => gitlink_at(&view, path)?,
                _ => None,
            };
            items.push(local::PathEntry {
                path: path.to_string(),
                kind: api::EntryKind::name(*kind),
                commit: commit.map(|c| c.to_hex()),
            });
        }
        output::json(&items);
    } else {
        let mut lines = Vec::with_capacity(paths.len());
        for (path, kind) in &paths {
            lines.push(match kind {
                EntryKind::Gitlink => gitlink_line(
                    &path.to_string(),
                    gitlink_at(&view, path)?.map(|c| c.to_hex()).as_deref(),
                ),
                _ => path.to_string(),
            });
        }
        output::lines(lines);
    }
    Ok(0)
}

fn branch(ctx: &Ctx, name: Option<&str>, from: Option<&str>) -> Outcome {
    let repo = ctx.open()?;
    match name {
        Some(name) => {
            let start = match from {
                Some(rev) => repo.resolve(rev)?,
                None => {
                    let current = ctx.branch(&repo)?;
                    current.head()?.ok_or_else(|| {
                        Failure::usage(format!(
                            "branch '{}' has no commits yet; use --from",
                            current.name()
                        ))
                    })?
                }
            };
            let b = repo.create_branch(name, start)?;
            if ctx.json {
                output::json(&local::BranchCreated {
                    name: b.name().to_string(),
                    head: start.to_hex(),
                });
            }
            Ok(0)
        }
        None => {
            let current = ctx.branch(&repo).ok().map(|b| b.name().to_string());
            let branches = repo.branches()?;
            if ctx.json {
                let items: Vec<local::BranchListed> = branches
                    .iter()
                    .map(|(n, id)| local::BranchListed {
                        name: n.clone(),
                        head: id.to_hex(),
                        current: Some(n) == current.as_ref(),
                    })
                    .collect();
                output::json(&items);
            } else {
                output::lines(branches.iter().map(|(n, _)| {
                    let mark = if Some(n) == current.as_ref() { '*' } else { ' ' };
                    format!("{mark} {n}")
                }));
            }
            Ok(0)
        }
    }
}

/// What a command that made one commit prints with `--json`.
pub(crate) fn written(commit: canopy::ObjectId) -> api::Written {
    api::Written {
        commit: commit.to_hex(),
    }
}

//! `canopy clone`, `remote`, `fetch`, `pull`, `push` and `sync`: replication over Git's smart
//! protocol ([`canopy::sync::client`]) with `http(s)://`, `ssh://`, scp-like `host:path`, `git://` and
//! `file://` URLs and local paths.
//!
//! Exit codes: 0 done; 1 a definite "no" (a merge conflict on pull/sync, a push the remote or the
//! fast-forward rule refused); 2 bad usage; 3 a store, network or protocol failure.

use std::io::IsTerminal;
use std::path::PathBuf;

use canopy::store::{CommitOptions, MergeOptions, MergeOutcome};
use canopy::sync::client::{self, remote, CloneOptions, FetchOptions, PushSpec, RefResult};
use canopy::sync::pack::Filter;
use canopy::sync::Error as SyncError;
use canopy::Repo;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::commands::{Ctx, Failure, Outcome};
use crate::output;

#[derive(Args, Debug)]
pub struct CloneArgs {
    /// Where to clone from: http(s)://…, ssh://…, host:path, git://…, file://…, or a path.
    url: String,
    /// The new store's directory (relative to --root, default the current directory).
    dir: PathBuf,
    /// Only the last N commits of history (a shallow replica).
    #[arg(long, value_name = "N")]
    depth: Option<u32>,
    /// Leave values out (`blob:none`); they are fetched when read.
    #[arg(long, value_name = "SPEC")]
    filter: Option<String>,
    #[command(flatten)]
    quiet: Quiet,
}

#[derive(Args, Debug)]
pub struct Quiet {
    /// No progress output.
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(Subcommand, Debug)]
pub enum RemoteCommand {
    /// Add remote NAME at URL (stored as remote.NAME.url in the Git config).
    Add { name: String, url: String },
    /// Remove remote NAME and its remote-tracking branches.
    Remove { name: String },
    /// List remotes with their URLs.
    List,
}

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// The remote (default: the branch's remote, else origin).
    remote: Option<String>,
    #[command(flatten)]
    quiet: Quiet,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// The remote (default: the branch's remote, else origin).
    remote: Option<String>,
    /// The branch to push (default: the current branch).
    branch: Option<String>,
    /// Allow a non-fast-forward update of the remote branch.
    #[arg(long, short = 'f')]
    force: bool,
    /// Ask the remote to merge a non-fast-forward update with its drivers (push option `merge`).
    #[arg(long)]
    merge: bool,
    #[command(flatten)]
    quiet: Quiet,
}

fn failure(e: SyncError) -> Failure {
    let code = match &e {
        SyncError::Refused(_) | SyncError::Unsupported(_) => 2,
        SyncError::Store(s) if s.is_user_error() => 2,
        _ => 3,
    };
    Failure {
        code,
        message: e.to_string(),
    }
}

/// Progress on stderr while it is a terminal (and not `--quiet`): a spinner showing the
/// remote's last message.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(quiet: &Quiet) -> Progress {
        let bar = (!quiet.quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Progress { bar }
    }

    fn callback(&self) -> Option<impl FnMut(&str) + '_> {
        let bar = self.bar.as_ref()?;
        Some(move |m: &str| {
            let line = m
                .split(['\r', '\n'])
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("");
            if !line.is_empty() {
                bar.set_message(line.trim().to_string());
            }
        })
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

fn parse_filter(spec: Option<&str>) -> Result<Option<Filter>, Failure> {
    spec.map(|s| Filter::parse(s).map_err(|e| Failure::usage(e.to_string())))
        .transpose()
}

pub fn clone(ctx: &Ctx, args: &CloneArgs) -> Outcome {
    // As `canopy init DIR`: relative to --root (which defaults to the current directory).
    let dir = ctx.root.join(&args.dir);
    let progress = Progress::new(&args.quiet);
    let mut cb = progress.callback();
    let mut opts = CloneOptions {
        fetch: FetchOptions {
            depth: args.depth,
            filter: parse_filter(args.filter.as_deref())?,
            progress: cb.as_mut().map(|f| f as &mut dyn FnMut(&str)),
            ..FetchOptions::default()
        },
        remote: None,
    };
    let repo = client::clone(&args.url, &dir, &mut opts).map_err(failure)?;
    drop(opts);
    drop(cb);
    drop(progress);
    let branch = repo.head_branch().map_err(Failure::from)?;
    let head = branch.head().map_err(Failure::from)?;
    if ctx.json {
        output::json(
            &json!({"dir": dir.display().to_string(), "branch": branch.name(), "head": head.map(|h| h.to_hex())}),
        );
    } else if !args.quiet.quiet {
        eprintln!("Cloned {} into {}", args.url, dir.display());
    }
    if !args.quiet.quiet {
        crate::commands::identity_hint(&repo);
    }
    Ok(0)
}

pub fn remote_cmd(ctx: &Ctx, cmd: &RemoteCommand) -> Outcome {
    let repo = ctx.open()?;
    match cmd {
        RemoteCommand::Add { name, url } => remote::add(&repo, name, url).map_err(failure)?,
        RemoteCommand::Remove { name } => remote::remove(&repo, name).map_err(failure)?,
        RemoteCommand::List => {
            let remotes = remote::list(&repo).map_err(failure)?;
            if ctx.json {
                output::json(&json!(remotes
                    .iter()
                    .map(|(n, u)| json!({"name": n, "url": u}))
                    .collect::<Vec<_>>()));
            } else {
                output::lines(remotes.iter().map(|(n, u)| format!("{n}\t{u}")));
            }
        }
    }
    Ok(0)
}

/// The remote to use: the argument, else `branch.<b>.remote`, else `origin`.
fn remote_name(repo: &Repo, branch: &str, given: Option<&str>) -> Result<String, Failure> {
    if let Some(g) = given {
        return Ok(g.to_string());
    }
    let config = remote::load_config(repo).map_err(failure)?;
    Ok(config
        .get(&format!("branch.{branch}.remote"))
        .unwrap_or("origin")
        .to_string())
}

fn do_fetch(repo: &Repo, name: &str, quiet: &Quiet) -> Result<client::FetchOutcome, Failure> {
    let progress = Progress::new(quiet);
    let mut cb = progress.callback();
    let mut opts = FetchOptions {
        progress: cb.as_mut().map(|f| f as &mut dyn FnMut(&str)),
        ..FetchOptions::default()
    };
    client::fetch(repo, name, &mut opts).map_err(failure)
}

pub fn fetch(ctx: &Ctx, args: &FetchArgs) -> Outcome {
    let repo = ctx.open()?;
    let branch = ctx.branch(&repo)?;
    let name = remote_name(&repo, branch.name(), args.remote.as_deref())?;
    let outcome = do_fetch(&repo, &name, &args.quiet)?;
    report_fetch(ctx, &outcome, args.quiet.quiet);
    Ok(0)
}

fn report_fetch(ctx: &Ctx, outcome: &client::FetchOutcome, quiet: bool) {
    if ctx.json {
        output::json(&json!({
            "objects": outcome.objects,
            "updated": outcome.updated.iter().map(|(r, old, new)| json!({
                "ref": r, "old": old.map(|o| o.to_hex()), "new": new.to_hex()
            })).collect::<Vec<_>>(),
        }));
    } else if !quiet {
        for (r, old, new) in &outcome.updated {
            match old {
                Some(o) => eprintln!("   {}..{}  {r}", o.short(7), new.short(7)),
                None => eprintln!(" * [new]  {r}"),
            }
        }
    }
}

/// Fetches, then merges the remote branch into the local one. `Ok(None)` = merged or up to
/// date; `Err` with code 1 on conflicts (branch unchanged).
fn pull_once(
    ctx: &Ctx,
    repo: &Repo,
    remote: Option<&str>,
    quiet: &Quiet,
) -> Result<(String, MergeOutcome), Failure> {
    let branch = ctx.branch(repo)?;
    let name = remote_name(repo, branch.name(), remote)?;
    let outcome = do_fetch(repo, &name, quiet)?;
    report_fetch(ctx, &outcome, quiet.quiet || ctx.json);
    // A remote that squashed its history: squash here at the same point first, so that this
    // branch continues on the same (identical) squashed history.
    if let Some(squash) = client::adopt_remote_squash(repo, &name).map_err(failure)? {
        if !(quiet.quiet || ctx.json) {
            eprintln!(
                "Adopted the remote's squash: history up to {} is now {}",
                squash.point, squash.root
            );
        }
    }
    let tracking = format!("refs/remotes/{name}/{}", branch.name());
    let Some(theirs) = repo
        .refs()
        .resolve(&tracking)
        .map_err(|e| Failure::from(canopy::store::Error::from(e)))?
    else {
        return Ok((
            name,
            MergeOutcome::UpToDate(branch.head()?.unwrap_or(repo.hash_kind().null_id())),
        ));
    };
    // A shallow replica cannot walk below its boundary: decide fast-forwards from the history
    // it has (the merge-base search of a real merge needs that history too).
    let shallow = canopy::sync::shallow::read(repo).map_err(failure)?;
    if !shallow.is_empty() {
        if let Some(head) = branch.head()? {
            let is_anc = |a, d| canopy::sync::shallow::is_ancestor(repo, a, d).map_err(failure);
            if head == theirs || is_anc(theirs, head)? {
                return Ok((name, MergeOutcome::UpToDate(head)));
            }
            if is_anc(head, theirs)? {
                let log = canopy::backend::RefLog {
                    who: repo.default_signature(),
                    message: format!("pull: fast-forward to {theirs}"),
                };
                let moved = repo
                    .refs()
                    .update(
                        branch.ref_name(),
                        canopy::backend::Expected::Value(head),
                        Some(theirs),
                        &log,
                    )
                    .map_err(|e| Failure::from(canopy::store::Error::from(e)))?;
                if moved {
                    return Ok((name, MergeOutcome::FastForward(theirs)));
                }
            }
        }
    }
    let opts = MergeOptions {
        commit: CommitOptions::message(format!("Merge remote-tracking branch '{name}/{}'", branch.name())),
        ..MergeOptions::default()
    };
    let outcome = lazily(repo, || branch.merge(theirs, &opts))?;
    if let MergeOutcome::Conflicts(conflicts) = &outcome {
        if ctx.json {
            output::json(&json!({"outcome": "conflict", "conflicts": conflicts}));
        }
        for c in conflicts {
            eprintln!("canopy: conflict in {}: {}", c.path, c.reason);
        }
        return Err(Failure::no(format!(
            "pull from '{name}' has {} conflicting path(s); branch '{}' is unchanged",
            conflicts.len(),
            branch.name()
        )));
    }
    Ok((name, outcome))
}

fn describe(outcome: &MergeOutcome) -> (&'static str, Option<String>) {
    match outcome {
        MergeOutcome::UpToDate(c) => ("up-to-date", Some(c.to_hex())),
        MergeOutcome::FastForward(c) => ("fast-forward", Some(c.to_hex())),
        MergeOutcome::Merged(c) => ("merged", Some(c.to_hex())),
        MergeOutcome::Conflicts(_) => ("conflict", None),
    }
}

pub fn pull(ctx: &Ctx, args: &FetchArgs) -> Outcome {
    let repo = ctx.open()?;
    let (_, outcome) = pull_once(ctx, &repo, args.remote.as_deref(), &args.quiet)?;
    let (kind, commit) = describe(&outcome);
    if ctx.json {
        output::json(&json!({"outcome": kind, "commit": commit}));
    } else if !args.quiet.quiet {
        match kind {
            "up-to-date" => eprintln!("Already up to date."),
            "fast-forward" => eprintln!("Fast-forward to {}", commit.unwrap_or_default()),
            _ => eprintln!("Merged as {}", commit.unwrap_or_default()),
        }
    }
    Ok(0)
}

/// Pushes one branch; returns the per-reference result.
fn push_once(ctx: &Ctx, repo: &Repo, args: &PushArgs) -> Result<(String, RefResult), Failure> {
    let branch = match &args.branch {
        Some(b) => repo.branch(b)?,
        None => ctx.branch(repo)?,
    };
    let name = remote_name(repo, branch.name(), args.remote.as_deref())?;
    let head = branch
        .head()?
        .ok_or_else(|| Failure::usage(format!("branch '{}' has no commits to push", branch.name())))?;
    let mut transport = client::open_remote(repo, &name, client::Direction::Push).map_err(failure)?;
    let progress = Progress::new(&args.quiet);
    let mut cb = progress.callback();
    let spec = PushSpec {
        new: Some(head),
        remote_ref: format!("refs/heads/{}", branch.name()),
        force: args.force,
    };
    let options: Vec<String> = if args.merge {
        vec!["merge".into()]
    } else {
        Vec::new()
    };
    let outcome = client::push(
        repo,
        transport.as_mut(),
        &[spec],
        &options,
        Some(&name),
        cb.as_mut().map(|f| f as &mut dyn FnMut(&str)),
    )
    .map_err(failure)?;
    let (r, result) = outcome
        .refs
        .into_iter()
        .next()
        .ok_or_else(|| Failure::usage("nothing to push"))?;
    Ok((r, result))
}

fn report_push(ctx: &Ctx, r: &str, result: &RefResult, quiet: bool) -> Outcome {
    let (status, reason) = match result {
        RefResult::Ok { .. } => ("ok", None),
        RefResult::UpToDate => ("up-to-date", None),
        RefResult::RejectedLocally(m) => ("rejected", Some(m.clone())),
        RefResult::Rejected(m) => ("remote-rejected", Some(m.clone())),
    };
    if ctx.json {
        output::json(&json!({"ref": r, "status": status, "reason": reason}));
    } else if !quiet {
        match result {
            RefResult::Ok { old, new } => eprintln!(
                "   {}..{}  {r}",
                old.map(|o| o.short(7)).unwrap_or_else(|| "[new]".into()),
                new.map(|n| n.short(7)).unwrap_or_else(|| "[deleted]".into())
            ),
            RefResult::UpToDate => eprintln!("Everything up-to-date"),
            _ => {}
        }
    }
    match result {
        RefResult::RejectedLocally(m) => Err(Failure::no(format!(
            "push of {r} rejected ({m}); pull first, or use --force"
        ))),
        RefResult::Rejected(m) => Err(Failure::no(format!("the remote rejected {r}: {m}"))),
        _ => Ok(0),
    }
}

pub fn push(ctx: &Ctx, args: &PushArgs) -> Outcome {
    let repo = ctx.open()?;
    let (r, result) = push_once(ctx, &repo, args)?;
    report_push(ctx, &r, &result, args.quiet.quiet)
}

/// Pull, then push; if another node pushed in between (the push is refused as stale), pull and
/// push again, a bounded number of times.
pub fn sync(ctx: &Ctx, args: &FetchArgs) -> Outcome {
    const ATTEMPTS: usize = 10;
    let repo = ctx.open()?;
    for attempt in 1..=ATTEMPTS {
        pull_once(ctx, &repo, args.remote.as_deref(), &args.quiet)?;
        let push_args = PushArgs {
            remote: args.remote.clone(),
            branch: None,
            force: false,
            merge: false,
            quiet: Quiet { quiet: true },
        };
        let (r, result) = push_once(ctx, &repo, &push_args)?;
        let stale = match &result {
            RefResult::RejectedLocally(m) => m == "fetch first" || m == "non-fast-forward",
            RefResult::Rejected(m) => {
                m.contains("incorrect old value")
                    || m.contains("non-fast-forward")
                    || m.contains("fetch first")
            }
            _ => false,
        };
        if stale && attempt < ATTEMPTS {
            std::thread::sleep(std::time::Duration::from_millis(20 * attempt as u64));
            continue;
        }
        let head = ctx.branch(&repo)?.head()?;
        if ctx.json {
            if !matches!(result, RefResult::Ok { .. } | RefResult::UpToDate) {
                return report_push(ctx, &r, &result, true);
            }
            output::json(&json!({"status": "synced", "head": head.map(|h| h.to_hex())}));
            return Ok(0);
        }
        report_push(ctx, &r, &result, true)?;
        if !args.quiet.quiet {
            eprintln!("In sync at {}", head.map(|h| h.to_hex()).unwrap_or_default());
        }
        return Ok(0);
    }
    Err(Failure::no("the remote kept moving; gave up syncing"))
}

/// Before `get PATH` in a partial clone (`clone --filter blob:none`): fetches the value from
/// the promisor remote if it was left out, so reads stay transparent. Anything else (not a
/// partial clone, a bad path, an absent value) is left for the command itself to report.
pub fn prefetch_value(ctx: &Ctx, path: &str, at: Option<&str>) -> Result<(), Failure> {
    let Ok(layout) = canopy::backend::git::RepoLayout::open(&ctx.root) else {
        return Ok(());
    };
    let promisor = layout.config.subsections("remote").iter().any(|r| {
        layout
            .config
            .get_bool(&format!("remote.{r}.promisor"))
            .ok()
            .flatten()
            == Some(true)
    });
    if !promisor {
        return Ok(());
    }
    let (Ok(p), Ok(repo)) = (canopy::Path::parse(path), ctx.open()) else {
        return Ok(());
    };
    let Ok(view) = ctx.view(&repo, at) else {
        return Ok(());
    };
    if let Ok(Some(canopy::tree::Entry::Value { id, .. })) = view.find(&p) {
        client::fetch_missing(&repo, &[id]).map_err(failure)?;
    }
    Ok(())
}

/// Runs `f`; in a partial clone, a value it needs that was left out is fetched from the
/// promisor remote and `f` runs again (a merge reads the base and both sides of each path both
/// changed). Nothing is committed by a failed attempt, so repeating is safe.
fn lazily<T>(repo: &Repo, mut f: impl FnMut() -> Result<T, canopy::store::Error>) -> Result<T, Failure> {
    use canopy::backend::Error::MissingObject;
    use canopy::store::Error as E;
    const MAX_FETCHES: usize = 10_000;
    let mut partial: Option<bool> = None;
    for _ in 0..MAX_FETCHES {
        let id = match f() {
            Err(E::Backend(MissingObject { id }))
            | Err(E::Tree(canopy::tree::Error::Backend(MissingObject { id }))) => id,
            other => return other.map_err(Failure::from),
        };
        let is_partial = *partial.get_or_insert_with(|| remote::promisor(repo).ok().flatten().is_some());
        if !is_partial || client::fetch_missing(repo, &[id]).map_err(failure)? == 0 {
            return Err(Failure::from(E::Backend(MissingObject { id })));
        }
    }
    Err(Failure::no(
        "too many values had to be fetched lazily; fetch them with a full clone",
    ))
}

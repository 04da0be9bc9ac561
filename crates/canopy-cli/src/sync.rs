//! `canopy clone`, `remote`, `fetch`, `pull`, `push` and `sync`: replication over Git's smart
//! protocol ([`canopy::sync::client`]) with `http(s)://`, `ssh://`, scp-like `host:path`, `git://` and
//! `file://` URLs and local paths.
//!
//! Exit codes: 0 done; 1 a definite "no" (a merge conflict on pull/sync, a push the remote or the
//! fast-forward rule refused); 2 bad usage; 3 a store, network or protocol failure.

use std::io::IsTerminal;
use std::path::PathBuf;

use canopy::store::MergeOutcome;
use canopy::sync::client::{self, remote, CloneOptions, FetchOptions, PullOptions, PullOutcome, RefResult};
use canopy::sync::pack::Filter;
use canopy::sync::Error as SyncError;
use canopy_wire::local;
use clap::{Args, Subcommand};

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
    #[arg(id = "push_branch", value_name = "BRANCH")]
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

/// Runs `f` with a progress callback (a spinner while stderr is a terminal), cleared when `f`
/// returns.
fn with_progress<T>(quiet: &Quiet, f: impl FnOnce(Option<&mut dyn FnMut(&str)>) -> T) -> T {
    let progress = Progress::new(quiet);
    let mut cb = progress.callback();
    f(cb.as_mut().map(|f| f as &mut dyn FnMut(&str)))
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
        output::json(&local::Cloned {
            dir: dir.display().to_string(),
            branch: branch.name().to_string(),
            head: head.map(|h| h.to_hex()),
        });
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
                output::json(
                    &remotes
                        .iter()
                        .map(|(n, u)| local::RemoteListed {
                            name: n.clone(),
                            url: u.clone(),
                        })
                        .collect::<Vec<_>>(),
                );
            } else {
                output::lines(remotes.iter().map(|(n, u)| format!("{n}\t{u}")));
            }
        }
    }
    Ok(0)
}

pub fn fetch(ctx: &Ctx, args: &FetchArgs) -> Outcome {
    let repo = ctx.open()?;
    let branch = ctx.branch(&repo)?;
    let name = client::remote_for(&repo, branch.name(), args.remote.as_deref()).map_err(failure)?;
    let outcome = with_progress(&args.quiet, |progress| {
        client::fetch(
            &repo,
            &name,
            &mut FetchOptions {
                progress,
                ..FetchOptions::default()
            },
        )
    })
    .map_err(failure)?;
    report_fetch(ctx, &outcome, args.quiet.quiet);
    Ok(0)
}

fn report_fetch(ctx: &Ctx, outcome: &client::FetchOutcome, quiet: bool) {
    if ctx.json {
        output::json(&local::Fetched {
            objects: outcome.objects,
            updated: outcome
                .updated
                .iter()
                .map(|(r, old, new)| local::RefUpdate {
                    reference: r.clone(),
                    old: old.map(|o| o.to_hex()),
                    new: new.to_hex(),
                })
                .collect(),
        });
    } else if !quiet {
        for (r, old, new) in &outcome.updated {
            match old {
                Some(o) => eprintln!("   {}..{}  {r}", o.short(7), new.short(7)),
                None => eprintln!(" * [new]  {r}"),
            }
        }
    }
}

/// Reports a pull's fetch and squash adoption; a conflict is printed and becomes exit 1.
fn report_pull(ctx: &Ctx, branch: &str, pulled: &PullOutcome, quiet: bool) -> Result<(), Failure> {
    report_fetch(ctx, &pulled.fetched, quiet || ctx.json);
    if let Some(squash) = &pulled.squash {
        if !(quiet || ctx.json) {
            eprintln!(
                "Adopted the remote's squash: history up to {} is now {}",
                squash.point, squash.root
            );
        }
    }
    if let MergeOutcome::Conflicts(conflicts) = &pulled.merge {
        if ctx.json {
            output::json(&local::MergeConflicts::of(conflicts));
        }
        for c in conflicts {
            eprintln!("canopy: conflict in {}: {}", c.path, c.reason);
        }
        return Err(Failure::no(format!(
            "pull from '{}' has {} conflicting path(s); branch '{branch}' is unchanged",
            pulled.remote,
            conflicts.len(),
        )));
    }
    Ok(())
}

pub fn pull(ctx: &Ctx, args: &FetchArgs) -> Outcome {
    let repo = ctx.open()?;
    let branch = ctx.branch(&repo)?;
    let pulled = with_progress(&args.quiet, |progress| {
        let remote = args.remote.clone();
        client::pull(&repo, &branch, &mut PullOptions { remote, progress })
    })
    .map_err(failure)?;
    report_pull(ctx, branch.name(), &pulled, args.quiet.quiet)?;
    // Conflicts were reported above.
    if let Some(done) = crate::merging::merged(&pulled.merge) {
        if ctx.json {
            output::json(&done);
        } else if !args.quiet.quiet {
            eprintln!("{}", crate::merging::merged_line(&done, None));
        }
    }
    Ok(0)
}

fn report_push(ctx: &Ctx, r: &str, result: &RefResult, quiet: bool) -> Outcome {
    let (status, reason) = match result {
        RefResult::Ok { .. } => ("ok", None),
        RefResult::UpToDate => ("up-to-date", None),
        RefResult::RejectedLocally(m) => ("rejected", Some(m.clone())),
        RefResult::Rejected(m) => ("remote-rejected", Some(m.clone())),
    };
    if ctx.json {
        output::json(&local::Pushed {
            reference: r.to_string(),
            status: status.to_string(),
            reason,
        });
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
    let branch = match &args.branch {
        Some(b) => repo.branch(b)?,
        None => ctx.branch(&repo)?,
    };
    let options: Vec<String> = if args.merge {
        vec!["merge".into()]
    } else {
        Vec::new()
    };
    let (r, result) = with_progress(&args.quiet, |progress| {
        client::push_branch(
            &repo,
            &branch,
            args.remote.as_deref(),
            args.force,
            &options,
            progress,
        )
    })
    .map_err(failure)?;
    report_push(ctx, &r, &result, args.quiet.quiet)
}

/// Pull, then push; again while the remote keeps moving ([`client::sync`]).
pub fn sync(ctx: &Ctx, args: &FetchArgs) -> Outcome {
    let repo = ctx.open()?;
    let branch = ctx.branch(&repo)?;
    let synced = with_progress(&args.quiet, |progress| {
        let remote = args.remote.clone();
        client::sync(&repo, &branch, &mut PullOptions { remote, progress })
    })
    .map_err(failure)?;
    for pulled in &synced.pulls {
        report_pull(ctx, branch.name(), pulled, args.quiet.quiet)?;
    }
    let Some((r, result)) = &synced.push else {
        return Err(Failure::no("the pull had conflicts; nothing was pushed"));
    };
    if !synced.in_sync() && synced.pulls.len() as u32 >= client::SYNC_ATTEMPTS {
        return Err(Failure::no("the remote kept moving; gave up syncing"));
    }
    let head = branch.head()?;
    if ctx.json {
        if !synced.in_sync() {
            return report_push(ctx, r, result, true);
        }
        output::json(&local::Synced {
            status: "synced".into(),
            head: head.map(|h| h.to_hex()),
        });
        return Ok(0);
    }
    report_push(ctx, r, result, true)?;
    if !args.quiet.quiet {
        eprintln!("In sync at {}", head.map(|h| h.to_hex()).unwrap_or_default());
    }
    Ok(0)
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

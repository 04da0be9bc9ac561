//! The `canopy` command line: parses arguments, calls the library, prints, maps errors to exit
//! codes (0 success, 1 a definite "no", 2 bad usage or input, 3 store error).

mod bulk;
mod commands;
mod history;
mod maintenance;
mod merging;
mod output;
mod remote;
mod serve;
mod structures;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Persist and synchronise data the way Git handles source code.
#[derive(Parser, Debug)]
#[command(name = "canopy", version, about, max_term_width = 100)]
pub struct Cli {
    /// The store's directory (default: $CANOPY_ROOT, else the current directory).
    #[arg(long, global = true, env = "CANOPY_ROOT", value_name = "DIR")]
    root: Option<PathBuf>,
    /// The branch to work on (default: the branch HEAD names). It must exist (or be the one
    /// HEAD names), unless --create is given.
    #[arg(long, global = true, value_name = "NAME")]
    branch: Option<String>,
    /// With --branch: a branch that does not exist yet is created by the first write (with no
    /// history), instead of refused.
    #[arg(long, global = true, requires = "branch")]
    create: bool,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    /// More logging on stderr (RUST_LOG also works).
    #[arg(long, short = 'v', global = true)]
    verbose: bool,
    /// Act on the Canopy server at URL instead of the local store (get, set, rm, list, log;
    /// --branch defaults to main).
    #[arg(long = "remote", global = true, env = "CANOPY_REMOTE", value_name = "URL")]
    remote_url: Option<String>,
    /// Access token for --remote (sent as Authorization: Bearer TOKEN).
    #[arg(long = "token", global = true, env = "CANOPY_TOKEN", value_name = "TOKEN")]
    #[arg(hide_env_values = true)]
    remote_token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum Command {
    /// Create a store (a bare Git repository) in DIR or the root.
    Init {
        dir: Option<PathBuf>,
        /// Object format of the new repository.
        #[arg(long, value_name = "sha1|sha256", default_value = "sha1")]
        object_format: String,
    },
    /// Set the value at PATH ('-' reads the value from standard input, binary-safe; --file
    /// from a file). Large values are streamed into the store, never held in memory whole.
    Set {
        path: String,
        #[arg(required_unless_present = "file")]
        value: Option<String>,
        /// Read the value from this file instead.
        #[arg(long, value_name = "FILE", conflicts_with = "value")]
        file: Option<PathBuf>,
        #[command(flatten)]
        commit: CommitArgs,
    },
    /// Print the raw value at PATH.
    Get {
        path: String,
        /// Read at this revision instead of the branch head.
        #[arg(long, value_name = "REV")]
        at: Option<String>,
    },
    /// Remove a value or a whole subtree.
    Rm {
        path: String,
        #[command(flatten)]
        commit: CommitArgs,
    },
    /// Set PATH to VALUE only if it currently holds the expected value (exit 1 if not).
    TestAndSet {
        path: String,
        /// The new value ('-' reads standard input); omit with --remove.
        value: Option<String>,
        /// The value PATH must hold now.
        #[arg(long, value_name = "VALUE", conflicts_with = "absent")]
        expect: Option<String>,
        /// PATH must not hold a value now.
        #[arg(long)]
        absent: bool,
        /// Remove PATH instead of setting it.
        #[arg(long, conflicts_with = "value")]
        remove: bool,
        #[command(flatten)]
        commit: CommitArgs,
    },
    /// List the direct children of PATH (directories end with '/', submodules show their
    /// commit).
    List {
        path: Option<String>,
        #[arg(long, value_name = "REV")]
        at: Option<String>,
    },
    /// List every value path below PATH (submodules show their commit).
    Tree {
        path: Option<String>,
        #[arg(long, value_name = "REV")]
        at: Option<String>,
    },
    /// Show history, newest first; with PATH, only commits that changed it.
    Log(history::LogArgs),
    /// Show a commit: who, when, why, and the paths it changed against its first parent.
    Show(history::ShowArgs),
    /// List the paths added (A), removed (D) and changed (M) from commit A to commit B.
    Diff(history::DiffArgs),
    /// Commit the undoing of REV's changes (exit 1 on conflict, branch unchanged).
    Revert(history::RevertArgs),
    /// Commit REV's tree on top of the branch: the state goes back, the history stays.
    Rollback(history::RollbackArgs),
    /// Move the branch itself to REV (needs --force; the old head stays in the reflog).
    Reset(history::ResetArgs),
    /// List where the branch has been, newest first.
    Reflog(history::ReflogArgs),
    /// Find the first bad commit by running CMD on candidates (nothing in the store changes).
    Bisect(history::BisectArgs),
    /// List the commits that last changed PATH, newest first.
    LastModified(history::LastModifiedArgs),
    /// Show, for each line of a text value, the commit that introduced it (as `git blame
    /// --first-parent`, following renames).
    Blame(history::BlameArgs),
    /// Report each move of the branch as it happens, whoever made it (runs until stopped).
    Watch(history::WatchArgs),
    /// Merge branch or commit FROM into the current branch (exit 1 on conflict, branch unchanged).
    Merge {
        from: String,
        /// Make a merge commit even when a fast-forward is possible.
        #[arg(long)]
        no_ff: bool,
        /// Resolve every conflict to one side, as Git's -X option does.
        #[arg(short = 'X', value_name = "ours|theirs")]
        strategy_option: Option<String>,
        #[command(flatten)]
        commit: CommitArgs,
    },
    /// Repack everything reachable into one pack with deltas, drop old unreachable objects,
    /// and write the commit-graph.
    Gc {
        /// Keep unreachable objects younger than this (e.g. 2w, 3d, 12h, 30m, 0 or now).
        #[arg(long, value_name = "AGE", default_value = "2w")]
        grace: String,
    },
    /// Check the store as `git fsck --strict` does: every object, pack, index, reference and
    /// reflog; one line per finding, exit 3 when there are errors.
    Fsck {
        /// Return the store to its last good state: stale temporary files go, damaged objects and
        /// packs move to fsck-quarantine/ (intact objects salvaged first), broken references go
        /// back to the newest complete commit of their reflog.
        #[arg(long)]
        repair: bool,
        /// Temporary files younger than this may belong to a running writer and are kept.
        #[arg(long, value_name = "AGE", default_value = "1d")]
        grace: String,
    },
    /// Squash all history up to REV into one root commit, deterministically, on every branch
    /// containing it (replicas squashing at the same commit get the same ids).
    Squash {
        /// The last commit of the history to squash.
        #[arg(long, value_name = "REV", required_unless_present = "adopt")]
        before: Option<String>,
        /// Adopt a squash made elsewhere, given its root commit (e.g. a fetched refs/canopy/squash).
        #[arg(long, value_name = "REV", conflicts_with = "before")]
        adopt: Option<String>,
    },
    /// Print the best common ancestors of A and B, one per line.
    MergeBase { a: String, b: String },
    /// Load many values in one commit from JSON lines or a tar archive ('-' reads standard input).
    Import {
        file: String,
        /// Input format (default: tar for a FILE ending in .tar, else jsonl).
        #[arg(long, value_enum)]
        format: Option<bulk::Format>,
        /// Make the branch hold exactly the imported values (default: lay them over its tree).
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        commit: CommitArgs,
    },
    /// Write every value below PATH to standard output as JSON lines or a tar archive.
    Export {
        path: Option<String>,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: bulk::Format,
        #[arg(long, value_name = "REV")]
        at: Option<String>,
    },
    /// Serve the store over HTTP: the REST API, watches, and (with the sync routes) Git.
    /// Without --root or $CANOPY_ROOT, serves ./canopy-data (created if missing).
    Serve(serve::ServeArgs),
    /// Manage the server's access tokens (in ./canopy-data without --root).
    #[command(subcommand)]
    Token(serve::TokenCommand),
    /// Create a store from a remote one (http(s)://, ssh://, host:path, git://, file:// or a path) in DIR.
    Clone(sync::CloneArgs),
    /// Add, remove or list remotes.
    #[command(subcommand)]
    Remote(sync::RemoteCommand),
    /// Fetch a remote's branches into refs/remotes/REMOTE/*.
    Fetch(sync::FetchArgs),
    /// Fetch, then merge the remote branch with the drivers (exit 1 on conflict, branch unchanged).
    Pull(sync::FetchArgs),
    /// Push a branch to a remote (refused unless a fast-forward, or --force / --merge).
    Push(sync::PushArgs),
    /// Pull then push, retrying while another node pushes in between.
    Sync(sync::FetchArgs),
    /// A counter that merges by adding: get, add N.
    #[command(subcommand)]
    Counter(structures::CounterCommand),
    /// A FIFO queue of JSON items: push, pop (exactly once per item on a branch), peek, list.
    #[command(subcommand)]
    Queue(structures::QueueCommand),
    /// An append-only log of JSON entries, merged by time, read newest first.
    #[command(subcommand)]
    Journal(structures::JournalCommand),
    /// A large text in chunks: an edit writes a few objects, edits in different places merge.
    #[command(subcommand)]
    Rope(structures::RopeCommand),
    /// Create branch NAME, or list branches ('*' marks the current one).
    Branch {
        name: Option<String>,
        /// Start the new branch here (default: the current branch's head).
        #[arg(long, value_name = "REV", requires = "name")]
        from: Option<String>,
    },
}

#[derive(clap::Args, Debug)]
pub struct CommitArgs {
    /// Commit message.
    #[arg(short = 'm', long = "message", value_name = "MSG")]
    pub message: Option<String>,
    /// Author as "Name <email>" (default: $CANOPY_AUTHOR, else user.name/user.email).
    #[arg(long, value_name = "NAME <EMAIL>")]
    pub author: Option<String>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let filter = if cli.verbose { "debug" } else { "warn" };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .try_init();
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("canopy: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every subcommand, its arguments built (they are deferred until a subcommand runs),
    /// passes clap's own checks: no argument of a subcommand may take the id or flag of a
    /// global one, which is added to it first.
    #[test]
    fn every_subcommand_is_well_formed() {
        fn paths(cmd: &mut clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
            cmd.build();
            for sub in cmd.get_subcommands_mut() {
                if sub.get_name() == "help" {
                    continue;
                }
                let mut path = prefix.to_vec();
                path.push(sub.get_name().to_string());
                paths(sub, &path, out);
                out.push(path);
            }
        }
        let mut cmd = Cli::command();
        cmd.clone().debug_assert();
        let mut all = Vec::new();
        paths(&mut cmd, &[], &mut all);
        assert!(all.len() > 40, "{all:?}");
        for path in all {
            // A parse builds the subcommands on its way, running their checks.
            let args = std::iter::once("canopy".to_string())
                .chain(path.iter().cloned())
                .chain(["--help".to_string()]);
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp, "{path:?}");
        }
    }
}

//! `--remote URL` (or `$CANOPY_REMOTE`): `get`, `set`, `rm`, `list` and `log` act on a Canopy
//! server through `canopy-client` instead of the local store, with the same output and exit
//! codes as the local commands: 0 done, 1 a definite "no" (absent path or branch), 2 bad usage
//! or input (a bad path, a server 400 or 409), 3 the server refused (401, 403) or failed, or
//! could not be reached. The token comes from `--token` or `$CANOPY_TOKEN`; the branch from
//! `--branch`, else `main`.

use canopy::Path;
use canopy_client::{Client, Error, LogOptions, TreeOptions, WriteOptions};
use canopy_wire::{api, local, Content};

use crate::commands::{Failure, Outcome, ValueSource};
use crate::output;
use crate::{Cli, Command, CommitArgs};

/// The branch acted on without `--branch`.
const DEFAULT_BRANCH: &str = "main";

/// Runs `cli` against the server when `--remote` is given: `None` when it is not, or for
/// `serve` and `token` (which act on a store of their own); a usage error for the commands
/// that have no remote form.
pub(crate) fn dispatch(cli: &Cli) -> Option<Outcome> {
    let url = cli.remote_url.as_deref()?;
    let remote = Remote {
        client: client(url, cli.remote_token.as_deref()),
        branch: cli.branch.clone().unwrap_or_else(|| DEFAULT_BRANCH.to_string()),
        json: cli.json,
    };
    Some(match &cli.command {
        Command::Get { path, at } => remote.get(path, at.as_deref()),
        Command::Set {
            path,
            value,
            file,
            commit,
        } => remote.set(path, value.as_deref(), file.as_deref(), commit),
        Command::Rm { path, commit } => remote.rm(path, commit),
        Command::List { path, at } => remote.list(path.as_deref().unwrap_or(""), at.as_deref()),
        Command::Log(_) => remote.log(),
        Command::Serve(_) | Command::Token(_) => return None,
        _ => Err(Failure::usage(
            "--remote works with get, set, rm, list and log only (unset CANOPY_REMOTE for local commands)",
        )),
    })
}

fn client(url: &str, token: Option<&str>) -> Client {
    let client = Client::new(url);
    match token.filter(|t| !t.is_empty()) {
        Some(t) => client.with_token(t),
        None => client,
    }
}

struct Remote {
    client: Client,
    branch: String,
    json: bool,
}

/// A client error as a CLI failure; `absent` words a 404 on a path the way the local
/// commands do.
fn failure(e: Error, absent: Option<&Path>) -> Failure {
    let code = match &e {
        // A revision naming nothing is bad input to the local commands (exit 2), though the
        // server answers it with a 404.
        Error::NotFound { code, .. } if code == "no_such_rev" => 2,
        Error::NotFound { .. } | Error::PreconditionFailed { .. } => 1,
        Error::BadRequest { .. } | Error::Conflict { .. } => 2,
        _ => 3,
    };
    let message = match (&e, absent) {
        (Error::NotFound { code, .. }, Some(p)) if code == "no_such_path" => {
            format!("path '{p}' not found")
        }
        _ => e.message(),
    };
    Failure { code, message }
}

fn parse(path: &str) -> Result<Path, Failure> {
    Ok(Path::parse(path)?)
}

/// `-m` (else `default_message`) and `--author`, else `$CANOPY_AUTHOR` (else the server's
/// identity).
fn write_options(args: &CommitArgs, default_message: String) -> WriteOptions {
    WriteOptions {
        message: Some(args.message.clone().unwrap_or(default_message)),
        author: args
            .author
            .clone()
            .or_else(|| std::env::var("CANOPY_AUTHOR").ok().filter(|s| !s.is_empty())),
        ..WriteOptions::default()
    }
}

impl Remote {
    fn get(&self, path: &str, at: Option<&str>) -> Outcome {
        let p = parse(path)?;
        if p.is_root() {
            return Err(Failure::usage("path '': the root is a directory, not a value"));
        }
        if !self.json {
            // Written out as it arrives: a large value is never held whole.
            let mut out = std::io::stdout().lock();
            self.client
                .get_to(&self.branch, path, at, &mut out)
                .map_err(|e| failure(e, Some(&p)))?;
            return Ok(0);
        }
        let v = self
            .client
            .get_at(&self.branch, path, at)
            .map_err(|e| failure(e, Some(&p)))?;
        output::json(&local::ValueAt {
            path: p.to_string(),
            content: Content::of(&v.bytes),
            commit: v.commit,
        });
        Ok(0)
    }

    fn set(
        &self,
        path: &str,
        value: Option<&str>,
        file: Option<&std::path::Path>,
        args: &CommitArgs,
    ) -> Outcome {
        let p = parse(path)?;
        if p.is_root() {
            return Err(Failure::usage("path '': the root cannot hold a value"));
        }
        let opts = write_options(args, format!("set {p}"));
        let commit = match crate::commands::value_source(value, file)? {
            ValueSource::Bytes(bytes) => self.client.put_with(&self.branch, path, bytes, &opts),
            // Sent as it is read: a large value is never held whole.
            ValueSource::File(mut f, size) => self.client.put_from(&self.branch, path, &mut f, size, &opts),
        }
        .map_err(|e| failure(e, None))?;
        if self.json {
            output::json(&api::Written { commit });
        }
        Ok(0)
    }

    fn rm(&self, path: &str, args: &CommitArgs) -> Outcome {
        let p = parse(path)?;
        if p.is_root() {
            return Err(Failure::usage("path '': name what to remove"));
        }
        let opts = write_options(args, format!("rm {p}"));
        let commit = self
            .client
            .delete_with(&self.branch, path, &opts)
            .map_err(|e| failure(e, Some(&p)))?;
        if self.json {
            output::json(&api::Written { commit });
        }
        Ok(0)
    }

    fn list(&self, path: &str, at: Option<&str>) -> Outcome {
        let p = crate::commands::dir_path(path)?;
        let opts = TreeOptions {
            recursive: false,
            at: at.map(str::to_string),
        };
        let tree = match self.client.tree(&self.branch, &p.to_string(), &opts) {
            Ok(t) => t,
            // An unborn default branch lists as empty, as it does locally.
            Err(Error::NotFound { code, .. }) if p.is_root() && code == "no_such_branch" => {
                return self.print_list(Vec::new());
            }
            Err(e) => return Err(failure(e, Some(&p))),
        };
        let entries = tree
            .entries
            .into_iter()
            .map(|e| local::ListEntry {
                commit: e.hash.filter(|_| e.kind == "gitlink"),
                name: e.name,
                kind: e.kind,
            })
            .collect();
        self.print_list(entries)
    }

    fn print_list(&self, entries: Vec<local::ListEntry>) -> Outcome {
        crate::commands::print_list(self.json, &entries);
        Ok(0)
    }

    fn log(&self) -> Outcome {
        let args = LogArgs::from_command_line();
        if args.graph {
            return Err(Failure::usage("--graph is not available with --remote"));
        }
        if args.since {
            return Err(Failure::usage("--since is not available with --remote"));
        }
        if args.count {
            return Err(Failure::usage("--count is not available with --remote"));
        }
        if let Some(p) = &args.path {
            parse(p)?;
        }
        // The server sends at most 10,000 commits at a time; filters apply here.
        let wanted = if args.author.is_some() { None } else { args.limit };
        let opts = LogOptions {
            limit: Some(wanted.unwrap_or(10_000)),
            path: args.path.clone().filter(|p| !p.is_empty()),
        };
        let commits = match self.client.log(&self.branch, &opts) {
            Ok(c) => c,
            // An unborn default branch has no history, as locally.
            Err(Error::NotFound { code, .. }) if code == "no_such_branch" => Vec::new(),
            Err(e) => return Err(failure(e, None)),
        };
        let shown = commits
            .into_iter()
            .filter(|c| {
                args.author
                    .as_deref()
                    .is_none_or(|pat| format!("{} <{}>", c.author.name, c.author.email).contains(pat))
            })
            .take(args.limit.unwrap_or(usize::MAX));
        if self.json {
            let items: Vec<local::Commit> = shown.map(|c| local::Commit::from(&c)).collect();
            output::json(&items);
        } else {
            output::lines(shown.map(|c| format!("{} {}", c.id, c.summary)));
        }
        Ok(0)
    }
}

/// The options of `canopy log`, read again from the command line (the parsed `LogArgs` keep
/// their fields to the history module).
struct LogArgs {
    path: Option<String>,
    limit: Option<usize>,
    since: bool,
    author: Option<String>,
    graph: bool,
    count: bool,
}

impl LogArgs {
    fn from_command_line() -> LogArgs {
        use clap::CommandFactory;
        let matches = Cli::command().try_get_matches_from(std::env::args_os()).ok();
        let log = matches.as_ref().and_then(|m| m.subcommand_matches("log"));
        let text = |id: &str| log.and_then(|m| m.get_one::<String>(id).cloned());
        LogArgs {
            path: text("path"),
            limit: log.and_then(|m| m.get_one::<usize>("limit").copied()),
            since: text("since").is_some(),
            author: text("author"),
            graph: log.is_some_and(|m| m.get_flag("graph")),
            count: log.is_some_and(|m| m.get_flag("count")),
        }
    }
}

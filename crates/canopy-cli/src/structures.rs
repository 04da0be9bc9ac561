//! The ready-made structures of `canopy::data` on the command line: `canopy counter`,
//! `canopy queue`, `canopy journal` (an append-only log; `canopy log` is the history) and
//! `canopy rope`. Each change is one commit that merges by the structure's rules; items and
//! entries are JSON.

use canopy::data::{Counter, Log, LogCursor, Queue, Rope};
use canopy::{Branch, Path};
use canopy_wire::api;
use serde_json::Value;

use crate::commands::{commit_options, read_value, Ctx, Failure, Outcome};
use crate::output;
use crate::CommitArgs;

/// `canopy counter`.
#[derive(clap::Subcommand, Debug)]
pub enum CounterCommand {
    /// Print the counter's value (0 when absent).
    Get { path: String },
    /// Add N (negative subtracts) in one commit; prints the new value. Concurrent additions on
    /// other replicas or writers all count when merged.
    Add {
        path: String,
        #[arg(allow_negative_numbers = true)]
        n: i64,
        #[command(flatten)]
        commit: CommitArgs,
    },
}

/// `canopy queue`.
#[derive(clap::Subcommand, Debug)]
pub enum QueueCommand {
    /// Append ITEM (JSON; text that is not JSON is taken as a string; '-' reads standard
    /// input); prints its key.
    Push {
        path: String,
        item: String,
        #[command(flatten)]
        commit: CommitArgs,
    },
    /// Take the first item (exit 1 when the queue is empty) and print it. On one branch every
    /// item goes to exactly one popper.
    Pop {
        path: String,
        #[command(flatten)]
        commit: CommitArgs,
    },
    /// Print the first item without taking it (exit 1 when empty).
    Peek { path: String },
    /// Print every item in queue order, one JSON line each (`{"key", "value"}`).
    List { path: String },
    /// Print the items delivered more than once by replicas that popped them while apart.
    Doubles { path: String },
}

/// `canopy journal`: an append-only log (`canopy::data::Log`).
#[derive(clap::Subcommand, Debug)]
pub enum JournalCommand {
    /// Append ENTRY (JSON; text that is not JSON is taken as a string; '-' reads standard
    /// input); prints its cursor.
    Append {
        path: String,
        entry: String,
        #[command(flatten)]
        commit: CommitArgs,
    },
    /// Print entries newest first, one JSON line each (`{"cursor", "time", "replica", "value"}`).
    Read {
        path: String,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only entries older than this cursor (the last one printed, to read the next page).
        #[arg(long)]
        before: Option<String>,
    },
}

/// `canopy rope`.
#[derive(clap::Subcommand, Debug)]
pub enum RopeCommand {
    /// Create a rope holding FILE's bytes ('-' reads standard input).
    Create {
        path: String,
        file: String,
        #[command(flatten)]
        commit: CommitArgs,
    },
    /// Print the rope's bytes, or LEN bytes from OFFSET.
    Read {
        path: String,
        #[arg(long, default_value_t = 0)]
        offset: usize,
        #[arg(long)]
        len: Option<usize>,
    },
    /// Replace DELETE bytes at OFFSET by TEXT ('-' reads standard input) in one commit.
    Splice {
        path: String,
        offset: usize,
        delete: usize,
        text: String,
        #[command(flatten)]
        commit: CommitArgs,
    },
}

fn structure_path(path: &str) -> Result<Path, Failure> {
    let p = Path::parse(path)?;
    if p.is_root() {
        return Err(Failure::usage("a structure needs a path below the root"));
    }
    Ok(p)
}

/// An item or entry given on the command line: JSON, else a string.
fn json_arg(arg: &str) -> Result<Value, Failure> {
    let bytes = read_value(arg)?;
    let text = String::from_utf8(bytes).map_err(|_| Failure::usage("an item must be UTF-8 text"))?;
    Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn open(ctx: &Ctx) -> Result<(canopy::Repo, Branch), Failure> {
    let repo = ctx.open()?;
    let branch = ctx.branch(&repo)?;
    Ok((repo, branch))
}

pub fn counter(ctx: &Ctx, cmd: &CounterCommand) -> Outcome {
    let (repo, branch) = open(ctx)?;
    let value = match cmd {
        CounterCommand::Get { path } => Counter::open(branch, structure_path(path)?).get()?,
        CounterCommand::Add { path, n, commit } => {
            let p = structure_path(path)?;
            let opts = commit_options(&repo, commit, String::new())?;
            Counter::open(branch, p).with_commit(opts).add(*n)?.value
        }
    };
    if ctx.json {
        output::json(&api::CounterValue { value });
    } else {
        output::lines([value.to_string()]);
    }
    Ok(0)
}

pub fn queue(ctx: &Ctx, cmd: &QueueCommand) -> Outcome {
    let (repo, branch) = open(ctx)?;
    let q = |path: &str| -> Result<Queue<Value>, Failure> {
        Ok(Queue::open(branch.clone(), structure_path(path)?))
    };
    match cmd {
        QueueCommand::Push { path, item, commit } => {
            let opts = commit_options(&repo, commit, String::new())?;
            let key = q(path)?.with_commit(opts).push(&json_arg(item)?)?;
            if ctx.json {
                output::json(&api::QueueKey { key });
            } else {
                output::lines([key]);
            }
        }
        QueueCommand::Pop { path, commit } => {
            let opts = commit_options(&repo, commit, String::new())?;
            match q(path)?.with_commit(opts).pop_item()? {
                Some(item) => output::json(&api::QueueItem::from(item)),
                None => return Err(Failure::no(format!("queue '{path}' is empty"))),
            }
        }
        QueueCommand::Peek { path } => match q(path)?.items()?.into_iter().next() {
            Some(item) => output::json(&api::QueueItem::from(item)),
            None => return Err(Failure::no(format!("queue '{path}' is empty"))),
        },
        QueueCommand::List { path } => {
            output::json_lines(q(path)?.items()?.into_iter().map(api::QueueItem::from));
        }
        QueueCommand::Doubles { path } => {
            output::json_lines(
                q(path)?
                    .double_deliveries()?
                    .into_iter()
                    .map(api::DoubleDelivery::from),
            );
        }
    }
    Ok(0)
}

pub fn journal(ctx: &Ctx, cmd: &JournalCommand) -> Outcome {
    let (repo, branch) = open(ctx)?;
    match cmd {
        JournalCommand::Append { path, entry, commit } => {
            let opts = commit_options(&repo, commit, String::new())?;
            let log = Log::<Value>::open(branch, structure_path(path)?).with_commit(opts);
            let cursor = log.append(&json_arg(entry)?)?;
            if ctx.json {
                output::json(&api::LogAppended {
                    cursor: cursor.as_str().to_string(),
                });
            } else {
                output::lines([cursor.to_string()]);
            }
        }
        JournalCommand::Read { path, limit, before } => {
            let before = match before {
                Some(c) => Some(
                    LogCursor::parse(c)
                        .ok_or_else(|| Failure::usage(format!("'{c}' is not a journal cursor")))?,
                ),
                None => None,
            };
            let log = Log::<Value>::open(branch, structure_path(path)?);
            let (entries, _) = log.page(before.as_ref(), *limit)?;
            output::json_lines(entries.into_iter().map(api::LogEntry::from));
        }
    }
    Ok(0)
}

pub fn rope(ctx: &Ctx, cmd: &RopeCommand) -> Outcome {
    let (repo, branch) = open(ctx)?;
    match cmd {
        RopeCommand::Create { path, file, commit } => {
            let bytes = if file == "-" {
                read_value("-")?
            } else {
                std::fs::read(file).map_err(|e| Failure::usage(format!("cannot read '{file}': {e}")))?
            };
            let opts = commit_options(&repo, commit, String::new())?;
            let rope = Rope::open(branch, structure_path(path)?).with_commit(opts);
            rope.write_new(&bytes)?;
            if ctx.json {
                output::json(&api::RopeCreated {
                    length: rope.len()? as u64,
                    chunks: rope.chunk_count()? as u64,
                });
            }
        }
        RopeCommand::Read { path, offset, len } => {
            let rope = Rope::open(branch, structure_path(path)?);
            let bytes = match len {
                Some(n) => rope.read_range(*offset, *n)?,
                None if *offset == 0 => rope.read()?,
                None => {
                    let total = rope.len()?;
                    rope.read_range(*offset, total.saturating_sub(*offset))?
                }
            };
            output::raw(&bytes);
        }
        RopeCommand::Splice {
            path,
            offset,
            delete,
            text,
            commit,
        } => {
            let opts = commit_options(&repo, commit, String::new())?;
            let rope = Rope::open(branch, structure_path(path)?).with_commit(opts);
            let stats = rope.splice(*offset, *delete, &read_value(text)?)?;
            if ctx.json {
                output::json(&api::Spliced {
                    commit: stats.commit.map(|c| c.to_hex()),
                    length: rope.len()? as u64,
                    chunks_written: stats.chunks_written as u64,
                    chunks_removed: stats.chunks_removed as u64,
                });
            }
        }
    }
    Ok(0)
}

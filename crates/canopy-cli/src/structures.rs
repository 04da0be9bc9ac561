//! The ready-made structures of `canopy::data` on the command line: `canopy counter`, each
//! operation one commit that merges by the structure's rules.

use canopy::data::Counter;
use canopy::Path;
use serde_json::json;

use crate::commands::{commit_options, Ctx, Failure, Outcome};
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

fn structure_path(path: &str) -> Result<Path, Failure> {
    let p = Path::parse(path)?;
    if p.is_root() {
        return Err(Failure::usage("a structure needs a path below the root"));
    }
    Ok(p)
}

pub fn counter(ctx: &Ctx, cmd: &CounterCommand) -> Outcome {
    let repo = ctx.open()?;
    let branch = ctx.branch(&repo)?;
    let value = match cmd {
        CounterCommand::Get { path } => Counter::open(branch, structure_path(path)?).get()?,
        CounterCommand::Add { path, n, commit } => {
            let p = structure_path(path)?;
            let opts = commit_options(&repo, commit, format!("counter {p} add {n}"))?;
            Counter::open(branch, p).with_commit(opts).add(*n)?.value
        }
    };
    if ctx.json {
        output::json(&json!({ "value": value }));
    } else {
        output::lines([value.to_string()]);
    }
    Ok(0)
}

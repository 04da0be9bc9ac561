//! `canopy merge` and `canopy merge-base`.

use canopy::store::{Favor, MergeOptions, MergeOutcome};
use serde_json::json;

use crate::commands::{commit_options, Ctx, Failure, Outcome};
use crate::output;
use crate::CommitArgs;

pub fn merge(ctx: &Ctx, from: &str, no_ff: bool, strategy: Option<&str>, args: &CommitArgs) -> Outcome {
    let favor = match strategy {
        None => None,
        Some("ours") => Some(Favor::Ours),
        Some("theirs") => Some(Favor::Theirs),
        Some(other) => {
            return Err(Failure::usage(format!(
                "unknown strategy option '{other}' (expected ours or theirs)"
            )))
        }
    };
    let repo = ctx.open()?;
    let branch = ctx.branch(&repo)?;
    let theirs = repo.resolve(from)?;
    // Git's default messages: "Merge branch 'x'" (plus " into y" off the main branches).
    let is_branch = repo
        .branch(from)
        .ok()
        .and_then(|b| b.head().ok().flatten())
        .is_some();
    let mut message = if is_branch {
        format!("Merge branch '{from}'")
    } else {
        format!("Merge commit '{from}'")
    };
    if !matches!(branch.name(), "main" | "master") {
        message.push_str(&format!(" into {}", branch.name()));
    }
    let opts = MergeOptions {
        commit: commit_options(&repo, args, message)?,
        no_ff,
        favor,
    };
    let (kind, commit) = match branch.merge(theirs, &opts)? {
        MergeOutcome::UpToDate(c) => ("up-to-date", c),
        MergeOutcome::FastForward(c) => ("fast-forward", c),
        MergeOutcome::Merged(c) => ("merged", c),
        MergeOutcome::Conflicts(conflicts) => {
            if ctx.json {
                output::json(&json!({"outcome": "conflict", "conflicts": conflicts}));
            }
            for c in &conflicts {
                eprintln!("canopy: conflict in {}: {}", c.path, c.reason);
            }
            return Err(Failure::no(format!(
                "merge of '{from}' has {} conflicting path(s); branch '{}' is unchanged",
                conflicts.len(),
                branch.name()
            )));
        }
    };
    if ctx.json {
        output::json(&json!({"outcome": kind, "commit": commit.to_hex()}));
    } else {
        let line = match kind {
            "up-to-date" => "Already up to date.".to_string(),
            "fast-forward" => format!("Fast-forward to {commit}"),
            _ => format!("Merged into {} as {commit}", branch.name()),
        };
        output::lines([line]);
    }
    Ok(0)
}

pub fn merge_base(ctx: &Ctx, a: &str, b: &str) -> Outcome {
    let repo = ctx.open()?;
    let (a, b) = (repo.resolve(a)?, repo.resolve(b)?);
    let bases = repo.merge_bases(a, b)?;
    if ctx.json {
        output::json(&json!(bases.iter().map(|c| c.to_hex()).collect::<Vec<_>>()));
    } else {
        output::lines(bases.iter().map(|c| c.to_hex()));
    }
    if bases.is_empty() {
        return Err(Failure::no("no common ancestor"));
    }
    Ok(0)
}

//! `canopy merge` and `canopy merge-base`.

use canopy::store::{Favor, MergeOptions, MergeOutcome};
use canopy_wire::local;

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
    let outcome = branch.merge(theirs, &opts)?;
    let Some(done) = merged(&outcome) else {
        let MergeOutcome::Conflicts(conflicts) = outcome else {
            unreachable!("only conflicts make no commit")
        };
        if ctx.json {
            output::json(&local::MergeConflicts::of(&conflicts));
        }
        for c in &conflicts {
            eprintln!("canopy: conflict in {}: {}", c.path, c.reason);
        }
        return Err(Failure::no(format!(
            "merge of '{from}' has {} conflicting path(s); branch '{}' is unchanged",
            conflicts.len(),
            branch.name()
        )));
    };
    if ctx.json {
        output::json(&done);
    } else {
        output::lines([merged_line(&done, Some(branch.name()))]);
    }
    Ok(0)
}

/// What a merge or a pull that made no conflict did (`None` for conflicts).
pub(crate) fn merged(outcome: &MergeOutcome) -> Option<local::Merged> {
    let (kind, commit) = match outcome {
        MergeOutcome::UpToDate(c) => ("up-to-date", c),
        MergeOutcome::FastForward(c) => ("fast-forward", c),
        MergeOutcome::Merged(c) => ("merged", c),
        MergeOutcome::Conflicts(_) => return None,
    };
    Some(local::Merged {
        outcome: kind.to_string(),
        commit: commit.to_hex(),
    })
}

/// The line that tells a person what `done` was; `into` names the branch merged into.
pub(crate) fn merged_line(done: &local::Merged, into: Option<&str>) -> String {
    match (done.outcome.as_str(), into) {
        ("up-to-date", _) => "Already up to date.".to_string(),
        ("fast-forward", _) => format!("Fast-forward to {}", done.commit),
        (_, Some(branch)) => format!("Merged into {branch} as {}", done.commit),
        (_, None) => format!("Merged as {}", done.commit),
    }
}

pub fn merge_base(ctx: &Ctx, a: &str, b: &str) -> Outcome {
    let repo = ctx.open()?;
    let (a, b) = (repo.resolve(a)?, repo.resolve(b)?);
    let bases = repo.merge_bases(a, b)?;
    if ctx.json {
        output::json(&bases.iter().map(|c| c.to_hex()).collect::<Vec<_>>());
    } else {
        output::lines(bases.iter().map(|c| c.to_hex()));
    }
    if bases.is_empty() {
        return Err(Failure::no("no common ancestor"));
    }
    Ok(0)
}

//! `canopy gc`, `canopy fsck` and `canopy squash`.

use std::time::Duration;

use canopy::backend::git::fsck::{fsck as check, FsckOptions, Severity};
use canopy::backend::git::gc::{gc as collect, GcOptions};
use canopy::backend::git::RepoLayout;

use crate::commands::{Ctx, Failure, Outcome};
use crate::output;

/// Parses `2w`, `3d`, `12h`, `30m`, `45s`, a plain number of seconds, or `now`.
fn parse_age(s: &str) -> Option<Duration> {
    if s == "now" {
        return Some(Duration::ZERO);
    }
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits.parse().ok()?;
    let secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(secs).map(Duration::from_secs)
}

pub fn gc(ctx: &Ctx, grace: &str) -> Outcome {
    let grace = parse_age(grace)
        .ok_or_else(|| Failure::usage(format!("invalid age '{grace}' (e.g. 2w, 3d, 12h, now)")))?;
    let repo = ctx.open()?;
    let layout = repo
        .layout()
        .ok_or_else(|| Failure::usage("gc needs a store on disk"))?;
    let report = collect(
        layout,
        &GcOptions {
            grace,
            ..GcOptions::default()
        },
    )
    .map_err(canopy::store::Error::from)?;
    if ctx.json {
        output::json(&report);
    } else {
        output::lines([format!(
            "{} objects packed ({} as deltas), {} packs and {} loose objects removed, {} leftovers of dead writers removed, {} commits in the commit-graph; {} → {} bytes",
            report.reachable_objects,
            report.deltas,
            report.packs_removed,
            report.loose_removed,
            report.leftovers_removed,
            report.commits_in_graph,
            report.bytes_before,
            report.bytes_after
        )]);
    }
    Ok(0)
}

/// Exit code when errors remain: the store is damaged.
const DAMAGED: u8 = 3;

pub fn fsck(ctx: &Ctx, repair: bool, grace: &str) -> Outcome {
    let grace = parse_age(grace)
        .ok_or_else(|| Failure::usage(format!("invalid age '{grace}' (e.g. 1d, 12h, now)")))?;
    // Not through `Repo::open`: a damaged pack must be reported, not refuse the open.
    let layout = RepoLayout::open(&ctx.root).map_err(canopy::store::Error::from)?;
    let report = check(&layout, &FsckOptions { repair, grace }).map_err(canopy::store::Error::from)?;
    if ctx.json {
        output::json(&report);
    } else {
        let shown = report.findings.iter().map(ToString::to_string);
        let repairs = report.repairs.iter().map(ToString::to_string);
        let remaining = report
            .after_repair
            .iter()
            .flatten()
            .filter(|f| f.severity != Severity::Info)
            .map(|f| format!("after repair: {f}"));
        output::lines(shown.chain(repairs).chain(remaining));
    }
    Ok(if report.is_clean() { 0 } else { DAMAGED })
}

pub fn squash(ctx: &Ctx, before: Option<&str>, adopt: Option<&str>) -> Outcome {
    let repo = ctx.open()?;
    let outcome = match (before, adopt) {
        (Some(rev), _) => Some(repo.squash(repo.resolve(rev)?)?),
        (None, Some(rev)) => repo.adopt_squash(repo.resolve(rev)?)?,
        (None, None) => return Err(Failure::usage("name the squash point with --before REV")),
    };
    if ctx.json {
        output::json(&outcome);
    } else {
        match outcome {
            None => output::lines(["Nothing to squash here.".to_string()]),
            Some(o) => output::lines(
                std::iter::once(format!("Squashed history up to {} into root {}", o.point, o.root)).chain(
                    o.rewritten
                        .iter()
                        .map(|(b, old, new)| format!("  {b}: {old} -> {new}")),
                ),
            ),
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages() {
        assert_eq!(super::parse_age("2w").unwrap().as_secs(), 14 * 86_400);
        assert_eq!(super::parse_age("now").unwrap().as_secs(), 0);
        assert_eq!(super::parse_age("90").unwrap().as_secs(), 90);
        assert!(super::parse_age("2x").is_none());
        assert!(super::parse_age("w").is_none());
    }
}

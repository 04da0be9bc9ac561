//! Revisions: `HEAD`, branch and tag names, full or abbreviated ids, and the `~N`, `^`, `^N`
//! suffixes, resolved the way `git rev-parse` resolves them (to a commit).

use super::{Error, Repo, Result};
use crate::object::{ObjectId, ObjectKind, Tag};

/// Git's shortest accepted abbreviation.
const MIN_ABBREV: usize = 4;

pub(super) fn resolve(repo: &Repo, rev: &str) -> Result<ObjectId> {
    let bad = |reason: &str| Error::InvalidRev {
        rev: rev.to_string(),
        reason: reason.to_string(),
    };
    // Split the base from a run of `~N` / `^N` suffixes.
    let split = rev.find(['~', '^']).unwrap_or(rev.len());
    let (base, mut suffixes) = rev.split_at(split);
    if base.is_empty() {
        return Err(bad("empty revision"));
    }
    let mut id = resolve_base(repo, base, rev)?;
    while !suffixes.is_empty() {
        let op = suffixes.as_bytes()[0];
        let rest = &suffixes[1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: usize = if digits == 0 {
            1
        } else {
            rest[..digits].parse().map_err(|_| bad("number too large"))?
        };
        suffixes = &rest[digits..];
        if op != b'~' && op != b'^' {
            return Err(bad("unexpected characters after a '~' or '^' suffix"));
        }
        if op == b'~' {
            for _ in 0..n {
                id = nth_parent(repo, id, 1).ok_or_else(|| bad("history is not that long"))??;
            }
        } else if n == 0 {
            continue;
        } else {
            id = nth_parent(repo, id, n).ok_or_else(|| bad("commit has no such parent"))??;
        }
    }
    Ok(id)
}

fn nth_parent(repo: &Repo, id: ObjectId, n: usize) -> Option<Result<ObjectId>> {
    match repo.commit_info(id) {
        Ok(info) => info.commit.parents.get(n - 1).copied().map(Ok),
        Err(e) => Some(Err(e)),
    }
}

fn resolve_base(repo: &Repo, base: &str, rev: &str) -> Result<ObjectId> {
    let bad = |reason: String| Error::InvalidRev {
        rev: rev.to_string(),
        reason,
    };
    let refs = repo.refs();
    let candidates = [
        base.to_string(),
        format!("refs/{base}"),
        format!("refs/tags/{base}"),
        format!("refs/heads/{base}"),
        format!("refs/remotes/{base}"),
    ];
    for name in candidates {
        if crate::backend::check_ref_name(&name).is_err() {
            continue;
        }
        if let Some(id) = refs.resolve(&name)? {
            return peel_to_commit(repo, id, rev);
        }
    }
    if base == "HEAD" {
        return Err(bad("HEAD names a branch with no commits yet".into()));
    }
    let hash = repo.hash_kind();
    let is_hex = base.len() >= MIN_ABBREV && base.bytes().all(|c| c.is_ascii_hexdigit());
    if !is_hex {
        return Err(bad("no such branch, tag or commit".into()));
    }
    let lower = base.to_ascii_lowercase();
    if lower.len() == hash.hex_len() {
        let id = ObjectId::from_hex(lower.as_bytes()).ok_or_else(|| bad("not an object id".into()))?;
        if !repo.objects().contains(&id)? {
            return Err(bad("no such commit".into()));
        }
        return peel_to_commit(repo, id, rev);
    }
    if lower.len() > hash.hex_len() {
        return Err(bad("id is too long".into()));
    }
    let mut found = Vec::new();
    for id in repo.objects().ids_with_prefix(&lower)? {
        // An abbreviation in a commit context prefers commits (and tags that lead to one).
        if peel_to_commit(repo, id, rev).is_ok() {
            found.push(id);
        }
    }
    match found.as_slice() {
        [] => Err(bad("no such commit".into())),
        [one] => peel_to_commit(repo, *one, rev),
        _ => Err(bad(format!("ambiguous: {} commits start with it", found.len()))),
    }
}

/// Follows annotated tags to the commit they name.
fn peel_to_commit(repo: &Repo, mut id: ObjectId, rev: &str) -> Result<ObjectId> {
    for _ in 0..16 {
        let obj = repo
            .objects()
            .read(&id)?
            .ok_or(crate::backend::Error::MissingObject { id })?;
        match obj.kind {
            ObjectKind::Commit => return Ok(id),
            ObjectKind::Tag => {
                id = Tag::parse(repo.hash_kind(), &obj.data)
                    .map_err(|e| e.with_id(id))?
                    .object;
            }
            kind => {
                return Err(Error::InvalidRev {
                    rev: rev.to_string(),
                    reason: format!("{id} is a {kind}, not a commit"),
                })
            }
        }
    }
    Err(Error::InvalidRev {
        rev: rev.to_string(),
        reason: "tag chain too long".into(),
    })
}

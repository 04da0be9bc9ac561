//! Checks of received objects, the union of what `git fsck --strict` and `verify_path` refuse,
//! and the links each object holds (for the connectivity check).
//!
//! Trees: each mode must be one Git writes (`100644`, `100755`, `120000`, `40000`, `160000`,
//! and the historical `100664`; a zero-padded mode is refused), each name must pass
//! [`crate::path::check_step`] (no `.`, `..`, `.git` in any case or NTFS/HFS form, no `/`, no
//! NUL), entries must be in Git's order without duplicates, and `.gitmodules` must not be a
//! symlink. Commits and tags must parse (headers in order, identities well formed).

use crate::object::{git_name_cmp, Commit, HashKind, Mode, ObjectId, ObjectKind, Tag};

/// Longest tree entry name accepted (`fsck`'s `largePathname`, an error under `--strict`).
const MAX_NAME_LEN: usize = 4096;

/// What an object points at, with the kind the target must have.
pub type Links = Vec<(ObjectId, ObjectKind)>;

/// Checks `data` as an object of `kind`; returns its links (gitlinks excluded: they name
/// commits of other repositories).
pub fn check_object(hash: HashKind, kind: ObjectKind, data: &[u8]) -> Result<Links, String> {
    match kind {
        ObjectKind::Blob => Ok(Vec::new()),
        ObjectKind::Tree => check_tree(hash, data),
        ObjectKind::Commit => {
            if data.contains(&0) {
                // A NUL in the header block is fatal for fsck; Canopy refuses NUL anywhere in a
                // commit's headers and accepts it only in the message.
                let header_end = data.windows(2).position(|w| w == b"\n\n").unwrap_or(data.len());
                if data[..header_end].contains(&0) {
                    return Err("nulInHeader: NUL byte in the commit header".into());
                }
            }
            let c = Commit::parse(hash, data).map_err(|e| e.to_string())?;
            check_ident_line(data, b"author ")?;
            check_ident_line(data, b"committer ")?;
            let mut links = vec![(c.tree, ObjectKind::Tree)];
            links.extend(c.parents.iter().map(|p| (*p, ObjectKind::Commit)));
            Ok(links)
        }
        ObjectKind::Tag => {
            let t = Tag::parse(hash, data).map_err(|e| e.to_string())?;
            Ok(vec![(t.object, t.target_kind)])
        }
    }
}

/// Git's ident checks (`fsck_ident`) on the first header line starting with `key`.
fn check_ident_line(data: &[u8], key: &[u8]) -> Result<(), String> {
    let Some(start) = data
        .split(|&c| c == b'\n')
        .take_while(|l| !l.is_empty())
        .find(|l| l.starts_with(key))
    else {
        return Err(format!("missing {} line", String::from_utf8_lossy(key).trim()));
    };
    let line = &start[key.len()..];
    let what = String::from_utf8_lossy(key).trim().to_string();
    let bad = |id: &str| Err(format!("{id}: invalid {what} line"));
    if line.first() == Some(&b'<') {
        return bad("missingNameBeforeEmail");
    }
    let Some(lt) = line.iter().position(|&c| c == b'<') else {
        return bad("missingEmail");
    };
    if line[..lt].contains(&b'>') {
        return bad("badName");
    }
    if lt == 0 || line[lt - 1] != b' ' {
        return bad("missingSpaceBeforeEmail");
    }
    let Some(gt) = line[lt + 1..].iter().position(|&c| c == b'>').map(|p| lt + 1 + p) else {
        return bad("badEmail");
    };
    if line[lt + 1..gt].contains(&b'<') {
        return bad("badEmail");
    }
    let rest = &line[gt + 1..];
    if rest.first() != Some(&b' ') {
        return bad("missingSpaceBeforeDate");
    }
    let rest = trim_start(rest);
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return bad("badDate");
    }
    if rest[0] == b'0' && digits > 1 {
        return bad("zeroPaddedDate");
    }
    if std::str::from_utf8(&rest[..digits])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .is_none()
    {
        return bad("badDateOverflow");
    }
    let zone = &rest[digits..];
    let ok_zone = zone.len() == 6
        && zone[0] == b' '
        && (zone[1] == b'+' || zone[1] == b'-')
        && zone[2..].iter().all(u8::is_ascii_digit);
    if !ok_zone {
        return bad("badTimezone");
    }
    Ok(())
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b' ' || c == b'\t').count();
    &s[n..]
}

fn check_tree(hash: HashKind, data: &[u8]) -> Result<Links, String> {
    let mut links = Vec::new();
    let mut pos = 0;
    let mut prev: Option<(&[u8], bool)> = None;
    while pos < data.len() {
        let rest = &data[pos..];
        let sp = rest
            .iter()
            .position(|&c| c == b' ')
            .ok_or_else(|| format!("badTree: entry at byte {pos} has no space after its mode"))?;
        let mode_bytes = &rest[..sp];
        let mode = match mode_bytes {
            b"100644" | b"100664" => Mode::File,
            b"100755" => Mode::Executable,
            b"120000" => Mode::Symlink,
            b"40000" => Mode::Tree,
            b"160000" => Mode::Gitlink,
            m if m.first() == Some(&b'0') => {
                return Err(format!(
                    "zeroPaddedFilemode: entry at byte {pos} has a zero-padded mode"
                ))
            }
            m => {
                return Err(format!(
                    "badFilemode: entry at byte {pos} has mode '{}'",
                    crate::object::escape_bytes(m)
                ))
            }
        };
        let name_start = pos + sp + 1;
        let nul = data[name_start..]
            .iter()
            .position(|&c| c == 0)
            .ok_or_else(|| format!("badTree: entry name at byte {name_start} is not NUL-terminated"))?;
        let name = &data[name_start..name_start + nul];
        crate::path::check_step(name)
            .map_err(|e| format!("tree entry '{}': {e}", crate::object::escape_bytes(name)))?;
        if name.len() > MAX_NAME_LEN {
            return Err(format!(
                "largePathname: entry at byte {pos} has a name of {} bytes (at most {MAX_NAME_LEN})",
                name.len()
            ));
        }
        if mode == Mode::Symlink && is_gitmodules(name) {
            return Err("gitmodulesSymlink: .gitmodules is a symbolic link".into());
        }
        let id_start = name_start + nul + 1;
        let id = data
            .get(id_start..id_start + hash.len())
            .and_then(|raw| ObjectId::from_raw(hash, raw))
            .ok_or_else(|| format!("badTree: truncated object id at byte {id_start}"))?;
        let is_tree = mode == Mode::Tree;
        if let Some((p, p_tree)) = prev {
            match git_name_cmp(p, p_tree, name, is_tree) {
                std::cmp::Ordering::Less => {}
                _ if p == name => {
                    return Err(format!(
                        "duplicateEntries: '{}' appears twice",
                        crate::object::escape_bytes(name)
                    ))
                }
                _ => {
                    return Err(format!(
                        "treeNotSorted: '{}' comes after '{}'",
                        crate::object::escape_bytes(name),
                        crate::object::escape_bytes(p)
                    ))
                }
            }
        }
        prev = Some((name, is_tree));
        match mode {
            Mode::Tree => links.push((id, ObjectKind::Tree)),
            Mode::Gitlink => {}
            _ => links.push((id, ObjectKind::Blob)),
        }
        pos = id_start + hash.len();
    }
    Ok(links)
}

/// `.gitmodules` in any case, or an NTFS short name of it.
fn is_gitmodules(name: &[u8]) -> bool {
    let lower = name.to_ascii_lowercase();
    let trimmed: &[u8] = {
        let end = lower
            .iter()
            .rposition(|&c| c != b' ' && c != b'.')
            .map_or(0, |p| p + 1);
        &lower[..end]
    };
    trimmed == b".gitmodules" || (trimmed.starts_with(b"gitmod~") && trimmed.len() == 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (mode, name) in entries {
            out.extend_from_slice(mode.as_bytes());
            out.push(b' ');
            out.extend_from_slice(name);
            out.push(0);
            out.extend_from_slice(&[7u8; 20]);
        }
        out
    }

    #[test]
    fn trees_with_hostile_names_or_modes_are_refused() {
        let h = HashKind::Sha1;
        assert_eq!(
            check_tree(h, &tree(&[("100644", b"a"), ("40000", b"b")]))
                .unwrap()
                .len(),
            2
        );
        for (entries, needle) in [
            (vec![("100644", &b".git"[..])], ".git"),
            (vec![("40000", b".GIT")], ".GIT"),
            (vec![("100644", b"..")], ".."),
            (vec![("100644", b".")], "'.'"),
            (vec![("100644", b"a/b")], "a/b"),
            (vec![("100644", b"git~1")], "git~1"),
            (vec![("040000", b"a")], "zeroPadded"),
            (vec![("100600", b"a")], "badFilemode"),
            (vec![("100644", b"b"), ("100644", b"a")], "treeNotSorted"),
            (vec![("100644", b"a"), ("100644", b"a")], "duplicate"),
            (vec![("120000", b".gitmodules")], "gitmodulesSymlink"),
        ] {
            let err = check_tree(h, &tree(&entries)).unwrap_err();
            assert!(err.contains(needle), "{entries:?}: {err}");
        }
        assert!(check_tree(h, b"100644 a\0short").is_err());
        let long = vec![b'n'; 4097];
        let err = check_tree(h, &tree(&[("100644", &long)])).unwrap_err();
        assert!(err.starts_with("largePathname"), "{err}");
        assert!(check_tree(h, &tree(&[("100644", &long[..4096])])).is_ok());
    }

    #[test]
    fn commits_need_good_identities() {
        let h = HashKind::Sha1;
        let ok = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@b> 1 +0000\ncommitter A <a@b> 1 +0000\n\nmsg\n";
        assert_eq!(check_object(h, ObjectKind::Commit, ok).unwrap().len(), 1);
        for bad in [
            &b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@b> 01 +0000\ncommitter A <a@b> 1 +0000\n\n"[..],
            b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A<a@b> 1 +0000\ncommitter A <a@b> 1 +0000\n\n",
            b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@b> 1 +000\ncommitter A <a@b> 1 +0000\n\n",
            b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\ncommitter A <a@b> 1 +0000\n\n",
            b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee490\nauthor A <a@b> 1 +0000\ncommitter A <a@b> 1 +0000\n\n",
        ] {
            assert!(check_object(h, ObjectKind::Commit, bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}

//! receive-pack, the serving side of push (protocol v0, as git always pushes).
//!
//! The request is a list of `<old> <new> <ref>` commands (capabilities after a NUL on the
//! first), optional push options, then a pack unless every command is a deletion. The pack goes
//! into quarantine ([`super::ingest`]) and is checked completely — hashes, object syntax, tree
//! entry names, then connectivity from every new tip — before anything becomes visible. Each
//! command is then checked: the name must be a valid `refs/…` name, a branch must point at a
//! commit, deletions may be refused (`receive.denyDeletes`) and so may non-fast-forward updates
//! of branches (`receive.denyNonFastForwards`). When no command survives, the pack is dropped
//! with its quarantine; otherwise it is installed (`.pack`, then `.idx`) and each reference
//! moves by compare-and-swap from the old id the client sent, so a push racing another one
//! fails cleanly (`ng <ref> incorrect old value provided`). `atomic` makes it all or nothing.
//!
//! **Policy on non-fast-forward updates** (as Git's defaults): the protocol cannot tell a forced
//! push from a plain one — `git push` refuses a non-fast-forward update itself unless
//! `--force` is given, and `canopy push` does the same. The server accepts a non-fast-forward
//! update of a branch unless the repository sets `receive.denyNonFastForwards = true`, in which
//! case it answers `ng <ref> non-fast-forward`.
//!
//! **Merge on push**: with the push option `merge` (`git push -o merge`), a non-fast-forward
//! update of a branch is merged into it with the per-path drivers (the code behind
//! `canopy merge`); the branch moves to the merge commit, or the command is refused with
//! `merge conflict: <paths>` and nothing moves.

use std::io::{Read, Write};

use super::caps::Capabilities;
use super::ingest::{Allowances, Limits, Quarantine};
use super::pktline::{write_flush, write_line, Pkt, PktReader, SidebandWriter};
use super::{Error, Result, AGENT};
use crate::backend::{check_ref_name, Expected, RefLog};
use crate::merge::lca::CommitGraph;
use crate::object::{ObjectId, ObjectKind};
use crate::store::CommitOptions;
use crate::Repo;

/// Most commands one push may carry (each is a reference update).
const MAX_COMMANDS: usize = 100_000;
/// Most push options one push may carry.
const MAX_PUSH_OPTIONS: usize = 100;

/// One `<old> <new> <ref>` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub old: ObjectId,
    pub new: ObjectId,
    pub name: String,
}

impl Command {
    pub fn is_delete(&self) -> bool {
        self.new.is_null()
    }
}

/// A parsed push request (everything before the pack).
#[derive(Debug, Clone, Default)]
pub struct PushRequest {
    pub commands: Vec<Command>,
    pub caps: Capabilities,
    pub shallow: Vec<ObjectId>,
    pub options: Vec<String>,
}

/// Decides whether the caller may update a reference: `None` allows it, `Some(reason)`
/// refuses that command (`ng <ref> <reason>`). Servers with per-branch rights install one.
pub type RefCheck = std::sync::Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What the server allows.
#[derive(Clone, Default)]
pub struct Policy {
    pub deny_non_fast_forwards: bool,
    pub deny_deletes: bool,
    pub limits: Limits,
    /// Per-reference authorization (checked before anything is installed).
    pub check_ref: Option<RefCheck>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("deny_non_fast_forwards", &self.deny_non_fast_forwards)
            .field("deny_deletes", &self.deny_deletes)
            .field("limits", &self.limits)
            .field("check_ref", &self.check_ref.is_some())
            .finish()
    }
}

impl Policy {
    /// `receive.denyNonFastForwards`, `receive.denyDeletes` and `receive.maxInputSize` from the
    /// repository's configuration.
    pub fn from_repo(repo: &Repo) -> Policy {
        let flag = |k: &str| {
            repo.config_value(k)
                .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1"))
        };
        let mut limits = Limits::default();
        if let Some(n) = repo
            .config_value("receive.maxinputsize")
            .and_then(|v| v.parse::<u64>().ok())
        {
            if n > 0 {
                limits.max_pack_bytes = n;
            }
        }
        Policy {
            deny_non_fast_forwards: flag("receive.denynonfastforwards"),
            deny_deletes: flag("receive.denydeletes"),
            limits,
            check_ref: None,
        }
    }
}

/// The capabilities receive-pack advertises.
pub fn capabilities(repo: &Repo) -> String {
    format!(
        "report-status report-status-v2 delete-refs side-band-64k quiet atomic ofs-delta push-options object-format={} agent={AGENT}",
        repo.hash_kind().name()
    )
}

/// The v0 advertisement of receive-pack (without the HTTP preamble): every reference under
/// `refs/`, capabilities on the first line.
pub fn advertise(repo: &Repo) -> Result<Vec<u8>> {
    let caps = capabilities(repo);
    let refs = repo.refs().list("refs/")?;
    let mut out = Vec::new();
    if refs.is_empty() {
        let zero = repo.hash_kind().null_id();
        write_line(&mut out, &format!("{zero} capabilities^{{}}\0{caps}"));
    }
    for (i, (name, id)) in refs.iter().enumerate() {
        if i == 0 {
            write_line(&mut out, &format!("{id} {name}\0{caps}"));
        } else {
            write_line(&mut out, &format!("{id} {name}"));
        }
    }
    write_flush(&mut out);
    Ok(out)
}

/// Reads the commands (and push options) of a push; `None` when there are none (git's probe
/// request `0000`, or an empty body).
pub fn parse_request<R: Read>(repo: &Repo, pkts: &mut PktReader<R>) -> Result<Option<PushRequest>> {
    let hash = repo.hash_kind();
    let mut req = PushRequest::default();
    let id = |s: &str| -> Result<ObjectId> {
        ObjectId::from_hex(s.as_bytes())
            .filter(|i| i.hash_kind() == hash)
            .ok_or_else(|| Error::Protocol(format!("invalid object id '{s}' in a push command")))
    };
    loop {
        let pkt = match pkts.read()? {
            None if req.commands.is_empty() && req.shallow.is_empty() => return Ok(None),
            None => {
                return Err(Error::Protocol(
                    "push request ends inside the command list".into(),
                ))
            }
            Some(p) => p,
        };
        let data = match pkt {
            Pkt::Flush => break,
            Pkt::Data(d) => d,
            _ => {
                return Err(Error::Protocol(
                    "unexpected special packet in the command list".into(),
                ))
            }
        };
        let (line, caps) = match data.iter().position(|&c| c == 0) {
            Some(nul) if req.commands.is_empty() => (&data[..nul], Some(&data[nul + 1..])),
            Some(_) => return Err(Error::Protocol("capabilities after the first command".into())),
            None => (data, None),
        };
        if let Some(c) = caps {
            req.caps = Capabilities::parse(c);
        }
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line =
            std::str::from_utf8(line).map_err(|_| Error::Protocol("push command is not UTF-8".into()))?;
        if let Some(s) = line.strip_prefix("shallow ") {
            req.shallow.push(id(s)?);
            continue;
        }
        let mut parts = line.splitn(3, ' ');
        let (Some(old), Some(new), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Error::Protocol(format!("malformed push command '{line}'")));
        };
        if req.commands.len() >= MAX_COMMANDS {
            return Err(Error::Protocol(format!(
                "more than {MAX_COMMANDS} commands in one push"
            )));
        }
        req.commands.push(Command {
            old: id(old)?,
            new: id(new)?,
            name: name.to_string(),
        });
    }
    if req.commands.is_empty() {
        return if req.shallow.is_empty() {
            Ok(None)
        } else {
            Err(Error::Protocol("shallow lines without commands".into()))
        };
    }
    if req.caps.has("push-options") {
        let mut lines = Vec::new();
        loop {
            match pkts.expect()? {
                Pkt::Flush => break,
                p @ Pkt::Data(_) => {
                    if lines.len() >= MAX_PUSH_OPTIONS {
                        return Err(Error::Protocol(format!(
                            "more than {MAX_PUSH_OPTIONS} push options"
                        )));
                    }
                    lines.push(p.line().unwrap_or_default().to_vec());
                }
                _ => {
                    return Err(Error::Protocol(
                        "unexpected special packet in the push options".into(),
                    ))
                }
            }
        }
        req.options = lines
            .into_iter()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .collect();
    }
    if let Some(fmt) = req.caps.get("object-format") {
        if fmt != hash.name() {
            return Err(Error::Protocol(format!("unsupported object format '{fmt}'")));
        }
    }
    Ok(Some(req))
}

/// The outcome of one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefStatus {
    pub name: String,
    /// `None` = ok; else the reason it was refused.
    pub error: Option<String>,
}

/// The result of a push: the unpack status and one status per command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub unpack: std::result::Result<(), String>,
    pub refs: Vec<RefStatus>,
}

impl Report {
    /// The report-status bytes (pkt-lines and a flush).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match &self.unpack {
            Ok(()) => write_line(&mut out, "unpack ok"),
            Err(e) => write_line(&mut out, &format!("unpack {}", one_line(e))),
        }
        for r in &self.refs {
            match &r.error {
                None => write_line(&mut out, &format!("ok {}", r.name)),
                Some(e) => write_line(&mut out, &format!("ng {} {}", r.name, one_line(e))),
            }
        }
        write_flush(&mut out);
        out
    }

    /// Parses report-status bytes (what [`encode`](Self::encode) writes).
    pub fn decode(data: &[u8]) -> Result<Report> {
        let mut pkts = PktReader::new(data);
        let (lines, _) = pkts.read_lines_until_flush(false)?;
        let mut lines = lines
            .into_iter()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let unpack = match lines.next() {
            Some(l) if l == "unpack ok" => Ok(()),
            Some(l) => match l.strip_prefix("unpack ") {
                Some(e) => Err(e.to_string()),
                None => return Err(Error::Protocol(format!("bad report line '{l}'"))),
            },
            None => return Err(Error::Protocol("empty push report".into())),
        };
        let mut refs = Vec::new();
        for l in lines {
            if let Some(name) = l.strip_prefix("ok ") {
                refs.push(RefStatus {
                    name: name.to_string(),
                    error: None,
                });
            } else if let Some(rest) = l.strip_prefix("ng ") {
                let (name, reason) = rest.split_once(' ').unwrap_or((rest, "rejected"));
                refs.push(RefStatus {
                    name: name.to_string(),
                    error: Some(reason.to_string()),
                });
            } else if l.starts_with("option ") {
                continue;
            } else {
                return Err(Error::Protocol(format!("bad report line '{l}'")));
            }
        }
        Ok(Report { unpack, refs })
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// Serves one push: reads the request from `input`, returns the response body (empty for a
/// probe, or when the client asked for no report). Malformed commands are an `Err` (answer
/// them with an HTTP error); a bad pack is reported as `unpack <error>` with every command
/// refused.
pub fn serve(repo: &Repo, input: &mut dyn Read, policy: &Policy) -> Result<Vec<u8>> {
    serve_report(repo, input, policy).map(|(body, _)| body)
}

/// [`serve`], also returning the report (to learn which references moved).
pub fn serve_report(repo: &Repo, input: &mut dyn Read, policy: &Policy) -> Result<(Vec<u8>, Option<Report>)> {
    let mut pkts = PktReader::new(input);
    let Some(req) = parse_request(repo, &mut pkts)? else {
        return Ok((Vec::new(), None));
    };
    let report = apply(repo, &req, pkts.get_mut(), policy);
    let wants_report = req.caps.has("report-status") || req.caps.has("report-status-v2");
    if !wants_report {
        return Ok((Vec::new(), Some(report)));
    }
    let body = report.encode();
    if req.caps.has("side-band-64k") || req.caps.has("side-band") {
        let mut band = SidebandWriter::new(Vec::new(), req.caps.has("side-band-64k"));
        band.write_all(&body)?;
        let mut out = band.into_inner();
        write_flush(&mut out);
        return Ok((out, Some(report)));
    }
    Ok((body, Some(report)))
}

/// Receives the pack (if any) and applies the commands.
pub fn apply(repo: &Repo, req: &PushRequest, pack: &mut dyn Read, policy: &Policy) -> Report {
    let refuse_all = |reason: &str| {
        req.commands
            .iter()
            .map(|c| RefStatus {
                name: c.name.clone(),
                error: Some(reason.to_string()),
            })
            .collect::<Vec<_>>()
    };
    let needs_pack = req.commands.iter().any(|c| !c.is_delete());
    let quarantine = if needs_pack {
        match Quarantine::receive(repo, pack, policy.limits, true) {
            Ok(q) => Some(q),
            Err(e) => {
                return Report {
                    unpack: Err(e.to_string()),
                    refs: refuse_all("unpacker error"),
                }
            }
        }
    } else {
        None
    };
    let mut errors: Vec<Option<String>> = vec![None; req.commands.len()];
    if !req.shallow.is_empty() {
        return Report {
            unpack: Ok(()),
            refs: refuse_all("shallow update not allowed"),
        };
    }
    let merge_option = req.options.iter().any(|o| o == "merge");
    // Connectivity of every new tip, against the quarantine and the store.
    if let Some(q) = &quarantine {
        for (i, c) in req.commands.iter().enumerate() {
            if c.is_delete() {
                continue;
            }
            if let Err(e) = q.check_connected(repo.objects(), &[c.new], &Allowances::default()) {
                errors[i] = Some(match e {
                    Error::MissingObjects(_) => "missing necessary objects".into(),
                    other => other.to_string(),
                });
            }
        }
    }
    let mut merges = vec![false; req.commands.len()];
    {
        let overlay_objects;
        let objects: &dyn crate::backend::ContentAddressable = match &quarantine {
            Some(q) => {
                overlay_objects = q.overlay(repo.objects());
                &overlay_objects
            }
            None => repo.objects(),
        };
        let mut graph = CommitGraph::new(objects);
        let mut seen_names = std::collections::HashSet::new();
        for (i, c) in req.commands.iter().enumerate() {
            if errors[i].is_some() {
                continue;
            }
            errors[i] = check_command(repo, objects, &mut graph, c, policy, merge_option, &mut merges[i]);
            if errors[i].is_none() && !seen_names.insert(c.name.clone()) {
                errors[i] = Some("duplicate ref update".into());
            }
        }
    }
    let atomic = req.caps.has("atomic");
    if atomic && errors.iter().any(Option::is_some) {
        for e in errors.iter_mut() {
            if e.is_none() {
                *e = Some("atomic push failure".into());
            }
        }
    }
    let any_ok = errors.iter().any(Option::is_none);
    // Held until the references are updated (see `install_kept`).
    let mut _keep = None;
    if any_ok {
        if let Some(q) = quarantine {
            match q.install_kept(repo) {
                Ok(k) => _keep = k,
                Err(e) => {
                    return Report {
                        unpack: Err(format!("could not install the pack: {e}")),
                        refs: refuse_all("unpacker error"),
                    };
                }
            }
        }
    } else {
        drop(quarantine);
    }
    let who = repo.default_signature();
    let log = |c: &Command| RefLog {
        who: who.clone(),
        message: if c.is_delete() {
            "push: delete".into()
        } else {
            "push".into()
        },
    };
    let mut applied: Vec<(usize, Option<ObjectId>)> = Vec::new();
    for (i, c) in req.commands.iter().enumerate() {
        if errors[i].is_some() {
            continue;
        }
        let expected = Expected::from_option((!c.old.is_null()).then_some(c.old));
        let new = (!c.is_delete()).then_some(c.new);
        let result = if merges[i] {
            merge_into(repo, c)
        } else {
            repo.refs()
                .update(&c.name, expected, new, &log(c))
                .map_err(|e| e.to_string())
                .and_then(|ok| {
                    if ok {
                        Ok(new)
                    } else {
                        Err("incorrect old value provided".to_string())
                    }
                })
        };
        match result {
            Ok(now) => applied.push((i, now)),
            Err(e) => {
                errors[i] = Some(e);
                if atomic {
                    break;
                }
            }
        }
    }
    if atomic && errors.iter().any(Option::is_some) {
        // Undo what moved (compare-and-swap back), then refuse everything.
        for (i, now) in applied.iter().rev() {
            let c = &req.commands[*i];
            let back = (!c.old.is_null()).then_some(c.old);
            let _ = repo
                .refs()
                .update(&c.name, Expected::from_option(*now), back, &log(c));
        }
        for e in errors.iter_mut() {
            if e.is_none() {
                *e = Some("atomic transaction failed".into());
            }
        }
    }
    Report {
        unpack: Ok(()),
        refs: req
            .commands
            .iter()
            .zip(errors)
            .map(|(c, error)| RefStatus {
                name: c.name.clone(),
                error,
            })
            .collect(),
    }
}

/// The reason to refuse one command before anything moves, if any.
fn check_command(
    repo: &Repo,
    objects: &dyn crate::backend::ContentAddressable,
    graph: &mut CommitGraph<'_>,
    c: &Command,
    policy: &Policy,
    merge_option: bool,
    merge: &mut bool,
) -> Option<String> {
    let funny = !c.name.starts_with("refs/")
        || check_ref_name(&c.name).is_err()
        || (!c.is_delete() && c.name.split('/').count() < 3);
    if funny {
        return Some("funny refname".into());
    }
    if let Some(check) = &policy.check_ref {
        if let Some(reason) = check(&c.name) {
            return Some(reason);
        }
    }
    if c.is_delete() {
        if policy.deny_deletes {
            return Some("deletion prohibited".into());
        }
        return None;
    }
    let kind = match objects.read(&c.new) {
        Ok(Some(o)) => o.kind,
        Ok(None) => return Some("missing necessary objects".into()),
        Err(e) => return Some(e.to_string()),
    };
    let is_branch = c.name.starts_with("refs/heads/");
    if is_branch && kind != ObjectKind::Commit {
        return Some(format!(
            "trying to write non-commit object {} to branch {}",
            c.new, c.name
        ));
    }
    let current = match repo.refs().resolve(&c.name) {
        Ok(v) => v,
        Err(e) => return Some(e.to_string()),
    };
    let old = (!c.old.is_null()).then_some(c.old);
    if current != old {
        // The client's view is stale. With `-o merge` the pushed commit is merged into
        // whatever the branch holds now.
        if is_branch && merge_option {
            if let Some(cur) = current {
                return match graph.is_ancestor(cur, c.new) {
                    Ok(true) => None,
                    Ok(false) => {
                        *merge = true;
                        None
                    }
                    Err(e) => Some(e.to_string()),
                };
            }
        }
        return Some("incorrect old value provided".into());
    }
    if let (Some(old), true) = (old, is_branch) {
        match graph.is_ancestor(old, c.new) {
            Ok(true) => {}
            Ok(false) if merge_option => *merge = true,
            Ok(false) if policy.deny_non_fast_forwards => return Some("non-fast-forward".into()),
            Ok(false) => {}
            Err(e) => return Some(e.to_string()),
        }
    }
    None
}

/// Merges the pushed commit into the branch with the drivers and moves the branch to the merge
/// (compare-and-swap, retried if the branch moves meanwhile).
fn merge_into(repo: &Repo, c: &Command) -> std::result::Result<Option<ObjectId>, String> {
    let branch_name = c
        .name
        .strip_prefix("refs/heads/")
        .ok_or("merge applies to branches only")?;
    let branch = repo.branch(branch_name).map_err(|e| e.to_string())?;
    let opts = crate::store::MergeOptions {
        commit: CommitOptions::message(format!("Merge pushed commit {} into {branch_name}", c.new)),
        ..Default::default()
    };
    match branch.merge(c.new, &opts).map_err(|e| e.to_string())? {
        crate::store::MergeOutcome::Conflicts(conflicts) => {
            let paths: Vec<String> = conflicts.iter().map(|c| c.path.to_string()).collect();
            Err(format!("merge conflict: {}", paths.join(", ")))
        }
        crate::store::MergeOutcome::UpToDate(id)
        | crate::store::MergeOutcome::FastForward(id)
        | crate::store::MergeOutcome::Merged(id) => Ok(Some(id)),
    }
}

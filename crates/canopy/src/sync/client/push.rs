//! Push over receive-pack (protocol v0, as git pushes): read the advertisement, refuse locally
//! what would not fast-forward (unless forced), send the commands and one pack of what the
//! remote lacks, read the report (through side-band-64k when offered).

use std::io::Read;

use super::{Progress, Service, Transport};
use crate::backend::{Expected, RefLog};
use crate::object::ObjectId;
use crate::sync::caps::Capabilities;
use crate::sync::pack::{plan, Request};
use crate::sync::pktline::{write_data, write_flush, Pkt, PktReader, SidebandReader};
use crate::sync::receive::Report;
use crate::sync::{unwrap_io, Error, Result, AGENT};
use crate::Repo;

/// One reference to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSpec {
    /// What to set it to; `None` deletes it.
    pub new: Option<ObjectId>,
    /// The remote reference (`refs/heads/main`).
    pub remote_ref: String,
    /// Allow a non-fast-forward update.
    pub force: bool,
}

/// What happened to one reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefResult {
    /// Updated from the old value to the new.
    Ok {
        old: Option<ObjectId>,
        new: Option<ObjectId>,
    },
    UpToDate,
    /// Refused before sending (`non-fast-forward`, `fetch first`).
    RejectedLocally(String),
    /// Refused by the remote, with its reason.
    Rejected(String),
}

/// The result of a push, per reference.
#[derive(Debug, Clone, Default)]
pub struct PushOutcome {
    pub refs: Vec<(String, RefResult)>,
    /// Objects sent.
    pub objects: usize,
}

impl PushOutcome {
    pub fn all_ok(&self) -> bool {
        self.refs
            .iter()
            .all(|(_, r)| matches!(r, RefResult::Ok { .. } | RefResult::UpToDate))
    }
}

/// The advertisement of receive-pack: references and capabilities.
fn read_advertisement(
    body: &[u8],
    hash_of_repo: crate::object::HashKind,
) -> Result<(Vec<(String, ObjectId)>, Capabilities)> {
    let mut pkts = PktReader::new(body);
    let mut refs = Vec::new();
    let mut caps = Capabilities::default();
    let mut first = true;
    while let Some(p) = pkts.read()? {
        let data = match p {
            Pkt::Flush if first => continue,
            Pkt::Flush => break,
            Pkt::Data(d) => d,
            _ => {
                return Err(Error::Protocol(
                    "unexpected packet in the receive-pack advertisement".into(),
                ))
            }
        };
        let data = data.strip_suffix(b"\n").unwrap_or(data);
        if data.starts_with(b"# service=") {
            continue;
        }
        if let Some(m) = data.strip_prefix(b"ERR ") {
            return Err(Error::Remote(String::from_utf8_lossy(m).into_owned()));
        }
        let (line, c) = match data.iter().position(|&b| b == 0) {
            Some(n) => (&data[..n], Some(&data[n + 1..])),
            None => (data, None),
        };
        if let Some(c) = c {
            caps = Capabilities::parse(c);
        }
        first = false;
        let line = String::from_utf8_lossy(line);
        let Some((id, name)) = line.split_once(' ') else {
            return Err(Error::Protocol(format!("bad advertisement line '{line}'")));
        };
        let id = ObjectId::from_hex(id.as_bytes())
            .ok_or_else(|| Error::Protocol(format!("bad advertisement line '{line}'")))?;
        if name == "capabilities^{}" || name.ends_with("^{}") {
            continue;
        }
        refs.push((name.to_string(), id));
    }
    let remote_hash = match caps.get("object-format") {
        Some(n) => crate::object::HashKind::from_name(n)
            .ok_or_else(|| Error::Unsupported(format!("object format '{n}'")))?,
        None => crate::object::HashKind::Sha1,
    };
    if remote_hash != hash_of_repo {
        return Err(Error::Protocol(format!(
            "mismatched algorithms: client {}; server {}",
            hash_of_repo.name(),
            remote_hash.name()
        )));
    }
    Ok((refs, caps))
}

/// Pushes `specs` with `options` (push options, e.g. `merge`); moves the remote-tracking
/// references of `remote_name` (if given) for what the remote accepted.
pub fn push(
    repo: &Repo,
    t: &mut dyn Transport,
    specs: &[PushSpec],
    options: &[String],
    remote_name: Option<&str>,
    mut progress: Option<Progress<'_>>,
) -> Result<PushOutcome> {
    let body = t.info_refs(Service::ReceivePack, false)?;
    let (remote_refs, caps) = read_advertisement(&body, repo.hash_kind())?;
    let remote_value = |name: &str| remote_refs.iter().find(|(n, _)| n == name).map(|(_, id)| *id);
    let mut outcome = PushOutcome::default();
    let mut commands: Vec<(String, Option<ObjectId>, Option<ObjectId>)> = Vec::new();
    for s in specs {
        let old = remote_value(&s.remote_ref);
        if old == s.new {
            outcome.refs.push((s.remote_ref.clone(), RefResult::UpToDate));
            continue;
        }
        if s.new.is_none() && !caps.has("delete-refs") {
            outcome.refs.push((
                s.remote_ref.clone(),
                RefResult::RejectedLocally("the remote does not allow deletions".into()),
            ));
            continue;
        }
        if let (Some(old), Some(new), false) = (
            old,
            s.new,
            s.force || !options.is_empty() && options.iter().any(|o| o == "merge"),
        ) {
            if !repo.objects().contains(&old)? {
                outcome.refs.push((
                    s.remote_ref.clone(),
                    RefResult::RejectedLocally("fetch first".into()),
                ));
                continue;
            }
            if !ancestor_here(repo, old, new)? {
                outcome.refs.push((
                    s.remote_ref.clone(),
                    RefResult::RejectedLocally("non-fast-forward".into()),
                ));
                continue;
            }
        }
        commands.push((s.remote_ref.clone(), old, s.new));
    }
    if commands.is_empty() {
        return Ok(outcome);
    }
    if !options.is_empty() && !caps.has("push-options") {
        return Err(Error::Unsupported(format!(
            "{} does not support push options",
            t.url()
        )));
    }
    let zero = repo.hash_kind().null_id();
    let mut request = Vec::new();
    let mut want_caps = vec!["report-status"];
    let sideband = caps.has("side-band-64k");
    if sideband {
        want_caps.push("side-band-64k");
    }
    if caps.has("quiet") && progress.is_none() {
        want_caps.push("quiet");
    }
    if !options.is_empty() {
        want_caps.push("push-options");
    }
    let mut cap_line = want_caps.join(" ");
    if caps.has("object-format") {
        cap_line.push_str(&format!(" object-format={}", repo.hash_kind().name()));
    }
    cap_line.push_str(&format!(" agent={AGENT}"));
    for (i, (name, old, new)) in commands.iter().enumerate() {
        let mut line = format!("{} {} {name}", old.unwrap_or(zero), new.unwrap_or(zero)).into_bytes();
        if i == 0 {
            line.push(0);
            line.extend_from_slice(cap_line.as_bytes());
        }
        write_data(&mut request, &line);
    }
    write_flush(&mut request);
    if !options.is_empty() {
        for o in options {
            if o.contains('\n') {
                return Err(Error::Refused("push options may not contain a line break".into()));
            }
            write_data(&mut request, o.as_bytes());
        }
        write_flush(&mut request);
    }
    if commands.iter().any(|(_, _, new)| new.is_some()) {
        let mut haves = Vec::new();
        for (_, id) in &remote_refs {
            if repo.objects().contains(id)? {
                haves.push(*id);
            }
        }
        let req = Request {
            wants: commands.iter().filter_map(|(_, _, n)| *n).collect(),
            haves,
            ..Request::default()
        };
        let p = plan(repo.objects(), None, &req)?;
        outcome.objects = p.objects.len();
        crate::sync::pack::write_pack_for(
            repo,
            &p.objects,
            caps.has("ofs-delta"),
            &mut request,
            &mut |_| {},
        )?;
    }
    let mut resp = t.post(Service::ReceivePack, false, request)?;
    let report_bytes = if sideband {
        let mut pkts = PktReader::new(resp);
        let mut sink = |m: &[u8]| {
            if let Some(p) = progress.as_mut() {
                p(&String::from_utf8_lossy(m));
            }
        };
        let mut band = SidebandReader::new(&mut pkts, &mut sink);
        let mut buf = Vec::new();
        band.read_to_end(&mut buf).map_err(unwrap_io)?;
        buf
    } else {
        let mut buf = Vec::new();
        resp.read_to_end(&mut buf)?;
        buf
    };
    if report_bytes.is_empty() {
        return Err(Error::Protocol(format!(
            "{}: the remote sent no push report",
            t.url()
        )));
    }
    let report = Report::decode(&report_bytes)?;
    if let Err(e) = &report.unpack {
        return Err(Error::Remote(format!("unpack failed: {e}")));
    }
    let log = RefLog {
        who: repo.default_signature(),
        message: format!("update by push to {}", t.url()),
    };
    for (name, old, new) in commands {
        let status = report.refs.iter().find(|r| r.name == name);
        let result = match status {
            Some(s) if s.error.is_none() => RefResult::Ok { old, new },
            Some(s) => RefResult::Rejected(s.error.clone().unwrap_or_default()),
            None => RefResult::Rejected("the remote did not report on this reference".into()),
        };
        if let (RefResult::Ok { .. }, Some(remote)) = (&result, remote_name) {
            if let Some(branch) = name.strip_prefix("refs/heads/") {
                let tracking = format!("refs/remotes/{remote}/{branch}");
                let _ = repo.refs().update(&tracking, Expected::Any, new, &log);
            }
        }
        outcome.refs.push((name, result));
    }
    Ok(outcome)
}

/// `repo.is_ancestor`, or for a shallow replica the walk that stops at its boundary.
fn ancestor_here(repo: &Repo, old: ObjectId, new: ObjectId) -> Result<bool> {
    if crate::sync::shallow::read(repo)?.is_empty() {
        return Ok(repo.is_ancestor(old, new)?);
    }
    crate::sync::shallow::is_ancestor(repo, old, new)
}

//! upload-pack, the serving side of fetch and clone: protocol v2 (`ls-refs`, `fetch` with
//! `shallow`/`deepen` and `filter`) and the v0/v1 protocol (ref advertisement, then stateless
//! `multi_ack_detailed` negotiation as Git runs it over HTTP).
//!
//! Wants may name any object the store holds (as Git's v2 upload-pack allows; a lazy fetch of a
//! partial clone asks for bare blob ids), so callers that restrict reads must check wants
//! themselves. Requests are parsed completely before anything is sent; a bad request gets an
//! `ERR` packet, which git prints as `fatal: remote error: …`.

use std::collections::HashSet;
use std::io::{Read, Write};

use super::caps::Capabilities;
use super::pack::{plan, Filter, Plan, Request};
use super::pktline::{write_data, write_delim, write_flush, write_line, Pkt, PktReader, SidebandWriter};
use super::{Error, Result, AGENT};
use crate::backend::RefTarget;
use crate::object::{ObjectId, ObjectKind, Tag};
use crate::Repo;

/// One advertised reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertisedRef {
    pub name: String,
    /// `None` for an unborn `HEAD`.
    pub id: Option<ObjectId>,
    pub symref_target: Option<String>,
    /// What an annotated tag finally points at.
    pub peeled: Option<ObjectId>,
}

/// `HEAD` (with its target, possibly unborn) and every reference under `refs/`, sorted.
pub fn list_refs(repo: &Repo) -> Result<Vec<AdvertisedRef>> {
    let mut out = Vec::new();
    let refs = repo.refs();
    match refs.read_ref("HEAD")? {
        Some(RefTarget::Symbolic(target)) => {
            let id = refs.resolve(&target)?;
            out.push(AdvertisedRef {
                name: "HEAD".into(),
                id,
                symref_target: Some(target),
                peeled: None,
            });
        }
        Some(RefTarget::Direct(id)) => out.push(AdvertisedRef {
            name: "HEAD".into(),
            id: Some(id),
            symref_target: None,
            peeled: None,
        }),
        None => {}
    }
    for (name, id) in refs.list("refs/")? {
        let peeled = if name.starts_with("refs/tags/") {
            peel_tag(repo, id)?
        } else {
            None
        };
        out.push(AdvertisedRef {
            name,
            id: Some(id),
            symref_target: None,
            peeled,
        });
    }
    Ok(out)
}

/// The final target of an annotated tag (`None` when `id` is not a tag).
fn peel_tag(repo: &Repo, id: ObjectId) -> Result<Option<ObjectId>> {
    let mut cur = id;
    let mut peeled = None;
    for _ in 0..64 {
        match repo.objects().read(&cur)? {
            Some(obj) if obj.kind == ObjectKind::Tag => {
                cur = Tag::parse(repo.hash_kind(), &obj.data)
                    .map_err(|e| e.with_id(cur))?
                    .object;
                peeled = Some(cur);
            }
            _ => return Ok(peeled),
        }
    }
    Ok(peeled)
}

/// The v2 capability advertisement (after `version 2`), ended by a flush.
pub fn advertise_v2(repo: &Repo) -> Vec<u8> {
    let mut out = Vec::new();
    write_line(&mut out, "version 2");
    write_line(&mut out, &format!("agent={AGENT}"));
    write_line(&mut out, "ls-refs=unborn");
    write_line(&mut out, "fetch=shallow filter");
    write_line(&mut out, "server-option");
    write_line(&mut out, &format!("object-format={}", repo.hash_kind().name()));
    write_flush(&mut out);
    out
}

/// The v0/v1 advertisement of upload-pack (without the HTTP `# service` preamble).
pub fn advertise_v0(repo: &Repo) -> Result<Vec<u8>> {
    let refs = list_refs(repo)?;
    let mut caps = String::from(
        "multi_ack_detailed no-done side-band-64k side-band thin-pack ofs-delta shallow deepen-relative no-progress include-tag allow-tip-sha1-in-want allow-reachable-sha1-in-want filter",
    );
    if let Some(head) = refs.iter().find(|r| r.name == "HEAD") {
        if let (Some(t), Some(_)) = (&head.symref_target, head.id) {
            caps.push_str(&format!(" symref=HEAD:{t}"));
        }
    }
    caps.push_str(&format!(
        " object-format={} agent={AGENT}",
        repo.hash_kind().name()
    ));
    let mut lines: Vec<String> = Vec::new();
    for r in &refs {
        let Some(id) = r.id else { continue };
        lines.push(format!("{id} {}", r.name));
        if let Some(p) = r.peeled {
            lines.push(format!("{p} {}^{{}}", r.name));
        }
    }
    let mut out = Vec::new();
    if lines.is_empty() {
        let zero = repo.hash_kind().null_id();
        write_line(&mut out, &format!("{zero} capabilities^{{}}\0{caps}"));
    }
    for (i, l) in lines.iter().enumerate() {
        if i == 0 {
            write_line(&mut out, &format!("{l}\0{caps}"));
        } else {
            write_line(&mut out, l);
        }
    }
    write_flush(&mut out);
    Ok(out)
}

/// A v2 request: `command=…`, capability lines, then arguments.
#[derive(Debug, Clone, Default)]
pub struct V2Request {
    pub command: String,
    pub caps: Capabilities,
    pub args: Vec<String>,
}

/// Parses one v2 request. `None` for an empty body or a lone flush (git's probe request).
pub fn parse_v2_request(input: &mut dyn Read) -> Result<Option<V2Request>> {
    let mut pkts = PktReader::new(input);
    let mut req = V2Request::default();
    let mut saw_delim = false;
    loop {
        match pkts.read()? {
            None if req.command.is_empty() => return Ok(None),
            None => return Err(Error::Protocol("request ends without a flush packet".into())),
            Some(Pkt::Flush) if req.command.is_empty() => return Ok(None),
            Some(Pkt::Flush) => break,
            Some(Pkt::Delim) if !saw_delim => saw_delim = true,
            Some(Pkt::Delim) | Some(Pkt::ResponseEnd) => {
                return Err(Error::Protocol("unexpected special packet in a request".into()))
            }
            Some(p) => {
                let line = p.line().unwrap_or_default();
                let line = std::str::from_utf8(line)
                    .map_err(|_| Error::Protocol("request line is not UTF-8".into()))?
                    .to_string();
                if saw_delim {
                    req.args.push(line);
                } else if let Some(c) = line.strip_prefix("command=") {
                    if !req.command.is_empty() {
                        return Err(Error::Protocol("two commands in one request".into()));
                    }
                    req.command = c.to_string();
                } else {
                    req.caps.push_word(&line);
                }
            }
        }
    }
    if req.command.is_empty() {
        return Err(Error::Protocol("request names no command".into()));
    }
    Ok(Some(req))
}

/// Answers `ls-refs`.
pub fn ls_refs(repo: &Repo, req: &V2Request) -> Result<Vec<u8>> {
    let mut symrefs = false;
    let mut peel = false;
    let mut unborn = false;
    let mut prefixes = Vec::new();
    for a in &req.args {
        match a.as_str() {
            "symrefs" => symrefs = true,
            "peel" => peel = true,
            "unborn" => unborn = true,
            other => match other.strip_prefix("ref-prefix ") {
                Some(p) => prefixes.push(p.to_string()),
                None => return Err(Error::Protocol(format!("unexpected ls-refs argument '{other}'"))),
            },
        }
    }
    let mut out = Vec::new();
    for r in list_refs(repo)? {
        if !prefixes.is_empty() && !prefixes.iter().any(|p| r.name.starts_with(p.as_str())) {
            continue;
        }
        let mut line = match r.id {
            Some(id) => format!("{id} {}", r.name),
            None if unborn => format!("unborn {}", r.name),
            None => continue,
        };
        if symrefs {
            if let Some(t) = &r.symref_target {
                line.push_str(&format!(" symref-target:{t}"));
            }
        }
        if peel {
            if let Some(p) = r.peeled {
                line.push_str(&format!(" peeled:{p}"));
            }
        }
        write_line(&mut out, &line);
    }
    write_flush(&mut out);
    Ok(out)
}

/// A parsed fetch request (v2 arguments, or v0 wants and haves).
#[derive(Debug, Clone, Default)]
pub struct FetchArgs {
    pub request: Request,
    pub done: bool,
    pub no_progress: bool,
    pub wait_for_done: bool,
    pub deepen_requested: bool,
    /// The client reads OFS_DELTA entries.
    pub ofs_delta: bool,
}

/// Parses the arguments of a v2 `fetch`.
pub fn parse_fetch_args(repo: &Repo, args: &[String]) -> Result<FetchArgs> {
    let hash = repo.hash_kind();
    let id = |s: &str, what: &str| -> Result<ObjectId> {
        ObjectId::from_hex(s.as_bytes())
            .filter(|i| i.hash_kind() == hash)
            .ok_or_else(|| Error::Protocol(format!("invalid {what} '{s}'")))
    };
    let mut f = FetchArgs::default();
    for a in args {
        let (word, rest) = a.split_once(' ').unwrap_or((a.as_str(), ""));
        match word {
            "want" => f.request.wants.push(id(rest, "want")?),
            "have" => f.request.haves.push(id(rest, "have")?),
            "shallow" => {
                f.request.client_shallow.insert(id(rest, "shallow")?);
            }
            "deepen" => {
                let n: u32 = rest
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| Error::Protocol(format!("invalid deepen '{rest}'")))?;
                f.request.depth = Some(n);
                f.deepen_requested = true;
            }
            "filter" => f.request.filter = Some(Filter::parse(rest)?),
            "done" => f.done = true,
            "no-progress" => f.no_progress = true,
            "include-tag" => f.request.include_tag = true,
            "wait-for-done" => f.wait_for_done = true,
            "ofs-delta" => f.ofs_delta = true,
            "thin-pack" => {}
            "deepen-relative" => f.request.deepen_relative = true,
            "deepen-since" | "deepen-not" | "want-ref" | "sideband-all" | "packfile-uris" => {
                return Err(Error::Unsupported(format!("fetch argument '{word}'")))
            }
            other => return Err(Error::Protocol(format!("unexpected fetch argument '{other}'"))),
        }
    }
    check_wants_reachable(repo, &f.request.wants)?;
    Ok(f)
}

/// Refuses any want that no advertised reference reaches (Git's `uploadpack.allowReachableSHA1InWant`
/// semantics, applied to trees and blobs too): an object that was reachable once (before a
/// `reset --force`, a deleted branch) is not served by id. Wants at a tip answer at once; others
/// are looked for by walking commits from the tips, then their trees, until all are found.
pub fn check_wants_reachable(repo: &Repo, wants: &[ObjectId]) -> Result<()> {
    let tips: HashSet<ObjectId> = list_refs(repo)?
        .into_iter()
        .flat_map(|r| [r.id, r.peeled])
        .flatten()
        .collect();
    let mut pending: HashSet<ObjectId> = wants.iter().copied().filter(|w| !tips.contains(w)).collect();
    if pending.is_empty() {
        return Ok(());
    }
    let store = repo.objects();
    let hash = repo.hash_kind();
    let not_ours = |id: &ObjectId| Error::Refused(format!("upload-pack: not our ref {id}"));
    // Commits (and what tags point at) first, newest references first; a missing object (a
    // shallow boundary, a partial store) ends that path.
    let mut commits: Vec<ObjectId> = Vec::new();
    let mut seen: HashSet<ObjectId> = HashSet::new();
    let mut stack: Vec<ObjectId> = tips.iter().copied().collect();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        pending.remove(&id);
        let Some(obj) = store.read(&id)? else { continue };
        match obj.kind {
            ObjectKind::Tag => stack.push(Tag::parse(hash, &obj.data)?.object),
            ObjectKind::Commit => {
                let header = crate::object::CommitHeader::parse(hash, &obj.data)?;
                stack.extend(header.parents);
                commits.push(header.tree);
            }
            ObjectKind::Tree => commits.push(id),
            ObjectKind::Blob => {}
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    // Then the trees of those commits, each tree once, the newest commits' first (a value a
    // partial clone asks for is most likely there).
    let mut trees = commits;
    trees.reverse();
    let mut seen_trees: HashSet<ObjectId> = HashSet::new();
    while let Some(id) = trees.pop() {
        if pending.is_empty() {
            return Ok(());
        }
        if !seen_trees.insert(id) {
            continue;
        }
        pending.remove(&id);
        let Some(obj) = store.read(&id)? else { continue };
        if obj.kind != ObjectKind::Tree {
            continue;
        }
        for entry in crate::object::TreeEntry::parse_all(hash, &obj.data)? {
            match entry.mode {
                crate::object::Mode::Gitlink => {}
                crate::object::Mode::Tree => trees.push(entry.id),
                _ => {
                    pending.remove(&entry.id);
                }
            }
        }
    }
    match pending.iter().next() {
        None => Ok(()),
        Some(id) => Err(not_ours(id)),
    }
}

/// The commons among `haves` (objects this store has).
fn commons(repo: &Repo, haves: &[ObjectId]) -> Result<Vec<ObjectId>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for h in haves {
        if seen.insert(*h) && repo.objects().contains(h)? {
            out.push(*h);
        }
    }
    Ok(out)
}

/// What a v2 fetch answers: either only acknowledgments, or a preamble followed by a pack.
pub enum FetchResponse {
    /// Negotiation continues: the complete response.
    Acks(Vec<u8>),
    /// The sections before the pack, and what goes into it.
    Pack {
        preamble: Vec<u8>,
        plan: Plan,
        progress: bool,
        ofs_delta: bool,
    },
}

/// Answers a v2 `fetch` (everything up to the pack data; see [`stream_pack`]).
pub fn fetch_v2(repo: &Repo, req: &V2Request) -> Result<FetchResponse> {
    let args = parse_fetch_args(repo, &req.args)?;
    let common = commons(repo, &args.request.haves)?;
    let mut out = Vec::new();
    if !args.done {
        write_line(&mut out, "acknowledgments");
        if common.is_empty() {
            write_line(&mut out, "NAK");
        }
        for c in &common {
            write_line(&mut out, &format!("ACK {c}"));
        }
        let ready = !common.is_empty() && !args.wait_for_done;
        if !ready {
            write_flush(&mut out);
            return Ok(FetchResponse::Acks(out));
        }
        write_line(&mut out, "ready");
        write_delim(&mut out);
    }
    let mut request = args.request.clone();
    request.haves = common;
    let plan = plan(repo.objects(), Some(repo.refs()), &request)?;
    if args.deepen_requested || !plan.shallow.is_empty() || !plan.unshallow.is_empty() {
        write_line(&mut out, "shallow-info");
        for s in &plan.shallow {
            write_line(&mut out, &format!("shallow {s}"));
        }
        for s in &plan.unshallow {
            write_line(&mut out, &format!("unshallow {s}"));
        }
        write_delim(&mut out);
    }
    write_line(&mut out, "packfile");
    Ok(FetchResponse::Pack {
        preamble: out,
        plan,
        progress: !args.no_progress,
        ofs_delta: args.ofs_delta,
    })
}

/// Writes the pack of `plan` as side-band data (band 2 for progress), then a flush. An error
/// while writing is sent on band 3, which the client prints and fails on.
pub fn stream_pack(
    repo: &Repo,
    plan: &Plan,
    progress: bool,
    large: bool,
    ofs_delta: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut band = SidebandWriter::new(out, large);
    if progress {
        band.progress(&format!("Enumerating objects: {}, done.\n", plan.objects.len()))?;
    }
    let mut messages: Vec<String> = Vec::new();
    let result = {
        let mut sink = |m: &str| {
            if progress {
                messages.push(m.to_string());
            }
        };
        super::pack::write_pack_for(repo, &plan.objects, ofs_delta, &mut band, &mut sink)
    };
    match result {
        Ok(_) => {
            for m in messages {
                band.progress(&m)?;
            }
        }
        Err(e) => {
            band.error(&format!("upload-pack: {e}\n"))?;
        }
    }
    let out = band.into_inner();
    out.write_all(b"0000")?;
    out.flush()
}

/// A v0 upload-pack request (stateless, as over HTTP).
#[derive(Debug, Clone, Default)]
pub struct V0Request {
    pub fetch: FetchArgs,
    pub caps: Capabilities,
    /// Whether the request had a wants section at all (an empty one is git's probe).
    pub empty: bool,
    /// The request ended right after the wants (git's first shallow request): no
    /// negotiation lines are answered, only the shallow list.
    pub wants_only: bool,
}

/// Parses a v0 upload-pack request: wants (capabilities on the first), shallow/deepen/filter
/// lines, a flush, then haves ending in `done` or a flush.
pub fn parse_v0_request(repo: &Repo, input: &mut dyn Read) -> Result<V0Request> {
    let mut pkts = PktReader::new(input);
    let mut req = V0Request::default();
    let mut args: Vec<String> = Vec::new();
    let mut first = true;
    loop {
        match pkts.read()? {
            None if first => {
                req.empty = true;
                return Ok(req);
            }
            None => return Err(Error::Protocol("request ends inside the want list".into())),
            Some(Pkt::Flush) => break,
            Some(Pkt::Data(d)) => {
                let line = d.strip_suffix(b"\n").unwrap_or(d);
                let line = std::str::from_utf8(line)
                    .map_err(|_| Error::Protocol("request line is not UTF-8".into()))?;
                if first {
                    if let Some(rest) = line.strip_prefix("want ") {
                        let (id, caps) = rest.split_once(' ').unwrap_or((rest, ""));
                        req.caps = Capabilities::parse(caps.as_bytes());
                        args.push(format!("want {id}"));
                        first = false;
                        continue;
                    }
                }
                first = false;
                args.push(line.to_string());
            }
            Some(_) => {
                return Err(Error::Protocol(
                    "unexpected special packet in the want list".into(),
                ))
            }
        }
    }
    if first {
        req.empty = true;
        return Ok(req);
    }
    let mut any_have_packet = false;
    loop {
        let pkt = pkts.read()?;
        if pkt.is_some() {
            any_have_packet = true;
        }
        match pkt {
            None | Some(Pkt::Flush) => break,
            Some(Pkt::Data(d)) => {
                let line = d.strip_suffix(b"\n").unwrap_or(d);
                let line = std::str::from_utf8(line)
                    .map_err(|_| Error::Protocol("request line is not UTF-8".into()))?;
                if line == "done" {
                    args.push("done".into());
                    break;
                }
                if !line.starts_with("have ") {
                    return Err(Error::Protocol(format!("expected a have line, got '{line}'")));
                }
                args.push(line.to_string());
            }
            Some(_) => {
                return Err(Error::Protocol(
                    "unexpected special packet in the have list".into(),
                ))
            }
        }
    }
    req.wants_only = !any_have_packet;
    req.fetch = parse_fetch_args(repo, &args)?;
    if req.caps.has("no-progress") {
        req.fetch.no_progress = true;
    }
    if req.caps.has("include-tag") {
        req.fetch.request.include_tag = true;
    }
    if req.caps.has("deepen-relative") {
        req.fetch.request.deepen_relative = true;
    }
    req.fetch.ofs_delta = req.caps.has("ofs-delta");
    Ok(req)
}

/// What a v0 request answers: the negotiation lines, and whether a pack follows.
pub fn fetch_v0(repo: &Repo, req: &V0Request) -> Result<(Vec<u8>, Option<Plan>)> {
    let mut out = Vec::new();
    let args = &req.fetch;
    let shallow_section = args.request.depth.is_some() || !args.request.client_shallow.is_empty();
    let common = commons(repo, &args.request.haves)?;
    let mut request = args.request.clone();
    request.haves = common.clone();
    let plan = plan(repo.objects(), Some(repo.refs()), &request)?;
    if shallow_section {
        if args.request.depth.is_some() {
            for s in &plan.shallow {
                write_line(&mut out, &format!("shallow {s}"));
            }
            for s in &plan.unshallow {
                write_line(&mut out, &format!("unshallow {s}"));
            }
        }
        write_flush(&mut out);
    }
    if req.wants_only {
        return Ok((out, None));
    }
    let detailed = req.caps.has("multi_ack_detailed");
    let no_done = req.caps.has("no-done");
    for c in &common {
        if detailed {
            write_line(&mut out, &format!("ACK {c} common"));
        }
    }
    let last = common.last().copied();
    if args.done {
        match last {
            Some(l) => write_line(&mut out, &format!("ACK {l}")),
            None => write_line(&mut out, "NAK"),
        }
        return Ok((out, Some(plan)));
    }
    let ready = detailed && last.is_some();
    if let (true, Some(l)) = (ready, last) {
        write_line(&mut out, &format!("ACK {l} ready"));
    }
    write_line(&mut out, "NAK");
    if let (true, true, Some(l)) = (no_done, ready, last) {
        write_line(&mut out, &format!("ACK {l}"));
        return Ok((out, Some(plan)));
    }
    Ok((out, None))
}

/// An `ERR` packet.
pub fn err_packet(message: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let text = format!("ERR {message}\n");
    let bytes = text.as_bytes();
    write_data(
        &mut out,
        &bytes[..bytes.len().min(super::pktline::MAX_PKT_PAYLOAD)],
    );
    out
}

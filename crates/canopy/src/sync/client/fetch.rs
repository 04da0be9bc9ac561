//! Fetch and clone over protocol v2: `ls-refs`, then `fetch` rounds (stateless, as over HTTP)
//! that send the wants and batches of local commits as haves until the server is ready, then
//! the pack, received into quarantine, completed if thin, checked (objects, then connectivity
//! from the wants, tolerating the shallow boundary and, for a partial clone, missing blobs) and
//! installed as `.pack` + `.idx`. Remote-tracking references move only after that.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use super::{remote, Progress, Service, Transport};
use crate::backend::{Expected, RefLog};
use crate::object::{Commit, HashKind, ObjectId, ObjectKind};
use crate::store::{InitOptions, SQUASH_REF};
use crate::sync::caps::Capabilities;
use crate::sync::ingest::{Allowances, Limits, Quarantine};
use crate::sync::pack::Filter;
use crate::sync::pktline::{write_delim, write_flush, write_line, Pkt, PktReader, SidebandReader};
use crate::sync::upload::AdvertisedRef;
use crate::sync::{shallow, unwrap_io, Error, Result, AGENT};
use crate::Repo;

/// What the remote advertised.
#[derive(Debug, Clone)]
pub struct RemoteInfo {
    pub caps: Capabilities,
    pub refs: Vec<AdvertisedRef>,
    pub hash: HashKind,
}

impl RemoteInfo {
    /// The branch the remote's `HEAD` names.
    pub fn head_target(&self) -> Option<&str> {
        self.refs
            .iter()
            .find(|r| r.name == "HEAD")
            .and_then(|r| r.symref_target.as_deref())
    }

    pub fn get(&self, name: &str) -> Option<ObjectId> {
        self.refs.iter().find(|r| r.name == name).and_then(|r| r.id)
    }
}

fn remote_err(line: &[u8]) -> Option<Error> {
    line.strip_prefix(b"ERR ")
        .map(|m| Error::Remote(String::from_utf8_lossy(m).trim_end().to_string()))
}

/// Reads the v2 capability advertisement.
fn read_v2_caps(body: &[u8], url: &str) -> Result<Capabilities> {
    let mut pkts = PktReader::new(body);
    let mut caps = Capabilities::default();
    let mut first = true;
    while let Some(p) = pkts.read()? {
        match p {
            Pkt::Flush => return Ok(caps),
            p @ Pkt::Data(_) => {
                let line = p.line().unwrap_or_default();
                if let Some(e) = remote_err(line) {
                    return Err(e);
                }
                if first {
                    first = false;
                    if line != b"version 2" {
                        return Err(Error::Unsupported(format!(
                            "{url} does not speak protocol version 2 (it answered '{}')",
                            String::from_utf8_lossy(line)
                        )));
                    }
                    continue;
                }
                caps.push_word(&String::from_utf8_lossy(line));
            }
            _ => {
                return Err(Error::Protocol(
                    "unexpected packet in the capability advertisement".into(),
                ))
            }
        }
    }
    Err(Error::Protocol(format!(
        "{url}: capability advertisement ends without a flush"
    )))
}

fn v2_request(info_caps: &Capabilities, hash: HashKind, command: &str, args: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    write_line(&mut out, &format!("command={command}"));
    write_line(&mut out, &format!("agent={AGENT}"));
    if info_caps.has("object-format") {
        write_line(&mut out, &format!("object-format={}", hash.name()));
    }
    write_delim(&mut out);
    for a in args {
        write_line(&mut out, a);
    }
    write_flush(&mut out);
    out
}

/// Asks the remote for its capabilities and references (`HEAD`, `refs/heads/`, `refs/tags/`).
pub fn ls_refs(t: &mut dyn Transport) -> Result<RemoteInfo> {
    let body = t.info_refs(Service::UploadPack, true)?;
    let caps = read_v2_caps(&body, t.url())?;
    let hash = match caps.get("object-format") {
        Some(name) => {
            HashKind::from_name(name).ok_or_else(|| Error::Unsupported(format!("object format '{name}'")))?
        }
        None => HashKind::Sha1,
    };
    let mut args = vec!["symrefs".to_string(), "peel".to_string()];
    if caps.has_feature("ls-refs", "unborn") {
        args.push("unborn".into());
    }
    for p in ["HEAD", "refs/heads/", "refs/tags/", SQUASH_REF] {
        args.push(format!("ref-prefix {p}"));
    }
    let request = v2_request(&caps, hash, "ls-refs", &args);
    let resp = t.post(Service::UploadPack, true, request)?;
    let mut pkts = PktReader::new(resp);
    let mut refs = Vec::new();
    loop {
        let p = pkts.expect()?;
        let line = match p {
            Pkt::Flush => break,
            p @ Pkt::Data(_) => p.line().unwrap_or_default().to_vec(),
            _ => return Err(Error::Protocol("unexpected packet in ls-refs output".into())),
        };
        if let Some(e) = remote_err(&line) {
            return Err(e);
        }
        let line = String::from_utf8_lossy(&line).into_owned();
        let mut words = line.split(' ');
        let (Some(oid), Some(name)) = (words.next(), words.next()) else {
            return Err(Error::Protocol(format!("bad ls-refs line '{line}'")));
        };
        let parse_id = |s: &str| {
            ObjectId::from_hex(s.as_bytes())
                .filter(|i| i.hash_kind() == hash)
                .ok_or_else(|| Error::Protocol(format!("bad object id in ls-refs line '{line}'")))
        };
        let id = if oid == "unborn" {
            None
        } else {
            Some(parse_id(oid)?)
        };
        let mut r = AdvertisedRef {
            name: name.to_string(),
            id,
            symref_target: None,
            peeled: None,
        };
        for attr in words {
            if let Some(t) = attr.strip_prefix("symref-target:") {
                r.symref_target = Some(t.to_string());
            } else if let Some(p) = attr.strip_prefix("peeled:") {
                r.peeled = Some(parse_id(p)?);
            }
        }
        refs.push(r);
    }
    Ok(RemoteInfo { caps, refs, hash })
}

/// How to fetch.
#[derive(Default)]
pub struct FetchOptions<'a> {
    /// `--depth N`: history cut N commits below the fetched tips.
    pub depth: Option<u32>,
    /// `--filter`: a partial clone (blobs fetched later, on read).
    pub filter: Option<Filter>,
    pub progress: Option<Progress<'a>>,
    pub limits: Limits,
    /// Send no haves (a lazy fetch of named objects: Git's `noop` negotiation).
    pub skip_negotiation: bool,
}

/// What a fetch did.
#[derive(Debug, Clone, Default)]
pub struct FetchOutcome {
    /// Objects received.
    pub objects: usize,
    pub shallow: Vec<ObjectId>,
    pub unshallow: Vec<ObjectId>,
    /// Remote-tracking and tag references that changed: (name, old, new).
    pub updated: Vec<(String, Option<ObjectId>, ObjectId)>,
}

/// Local commits newest first, as haves (not below commits the server acknowledged).
struct Haves<'a> {
    repo: &'a Repo,
    heap: BinaryHeap<(i64, Reverse<ObjectId>)>,
    seen: HashSet<ObjectId>,
    common: HashSet<ObjectId>,
    shallow: HashSet<ObjectId>,
}

impl<'a> Haves<'a> {
    fn new(repo: &'a Repo, shallow: HashSet<ObjectId>) -> Result<Haves<'a>> {
        let mut h = Haves {
            repo,
            heap: BinaryHeap::new(),
            seen: HashSet::new(),
            common: HashSet::new(),
            shallow,
        };
        for (_, id) in repo.refs().list("refs/")? {
            h.push(id);
        }
        if let Ok(Some(id)) = repo.refs().resolve("HEAD") {
            h.push(id);
        }
        Ok(h)
    }

    fn push(&mut self, id: ObjectId) {
        if !self.seen.insert(id) {
            return;
        }
        if let Ok(Some(obj)) = self.repo.objects().read(&id) {
            if obj.kind == ObjectKind::Commit {
                if let Ok(c) = Commit::parse(self.repo.hash_kind(), &obj.data) {
                    self.heap.push((c.committer.time, Reverse(id)));
                }
            }
        }
    }

    fn next(&mut self) -> Option<ObjectId> {
        while let Some((_, Reverse(id))) = self.heap.pop() {
            if self.common.contains(&id) {
                continue;
            }
            if !self.shallow.contains(&id) {
                if let Ok(info) = self.repo.commit_info(id) {
                    for p in info.commit.parents {
                        self.push(p);
                    }
                }
            }
            return Some(id);
        }
        None
    }
}

/// The sections of one fetch response, up to the pack.
struct Sections {
    acks: Vec<ObjectId>,
    ready: bool,
    /// Whether a packfile section follows.
    pack: bool,
    shallow: Vec<ObjectId>,
    unshallow: Vec<ObjectId>,
}

fn read_sections<R: std::io::Read>(pkts: &mut PktReader<R>, hash: HashKind) -> Result<Sections> {
    let mut s = Sections {
        acks: Vec::new(),
        ready: false,
        pack: false,
        shallow: Vec::new(),
        unshallow: Vec::new(),
    };
    let parse_id = |v: &str| {
        ObjectId::from_hex(v.as_bytes())
            .filter(|i| i.hash_kind() == hash)
            .ok_or_else(|| Error::Protocol(format!("bad object id '{v}' in fetch response")))
    };
    loop {
        let header = match pkts.expect()? {
            p @ Pkt::Data(_) => p.line().unwrap_or_default().to_vec(),
            Pkt::Flush => return Ok(s),
            _ => {
                return Err(Error::Protocol(
                    "unexpected packet instead of a section header".into(),
                ))
            }
        };
        if let Some(e) = remote_err(&header) {
            return Err(e);
        }
        let header = String::from_utf8_lossy(&header).into_owned();
        if header == "packfile" {
            s.pack = true;
            return Ok(s);
        }
        loop {
            let line = match pkts.expect()? {
                p @ Pkt::Data(_) => String::from_utf8_lossy(p.line().unwrap_or_default()).into_owned(),
                Pkt::Delim => break,
                Pkt::Flush => return Ok(s),
                Pkt::ResponseEnd => return Err(Error::Protocol("unexpected response end".into())),
            };
            if let Some(m) = line.strip_prefix("ERR ") {
                return Err(Error::Remote(m.to_string()));
            }
            match header.as_str() {
                "acknowledgments" => {
                    if line == "ready" {
                        s.ready = true;
                    } else if let Some(id) = line.strip_prefix("ACK ") {
                        s.acks.push(parse_id(id)?);
                    } else if line != "NAK" {
                        return Err(Error::Protocol(format!("unexpected acknowledgment '{line}'")));
                    }
                }
                "shallow-info" => {
                    if let Some(id) = line.strip_prefix("shallow ") {
                        s.shallow.push(parse_id(id)?);
                    } else if let Some(id) = line.strip_prefix("unshallow ") {
                        s.unshallow.push(parse_id(id)?);
                    } else {
                        return Err(Error::Protocol(format!("unexpected shallow-info line '{line}'")));
                    }
                }
                _ => {}
            }
        }
    }
}

/// Fetches `wants` (and what they reach) from the remote into `repo`; references are not
/// touched (see [`fetch`]).
pub fn fetch_pack(
    repo: &Repo,
    t: &mut dyn Transport,
    info: &RemoteInfo,
    wants: &[ObjectId],
    opts: &mut FetchOptions<'_>,
) -> Result<FetchOutcome> {
    if info.hash != repo.hash_kind() {
        return Err(Error::Protocol(format!(
            "mismatched algorithms: client {}; server {}",
            repo.hash_kind().name(),
            info.hash.name()
        )));
    }
    let mut outcome = FetchOutcome::default();
    let mut wants: Vec<ObjectId> = wants.to_vec();
    wants.sort();
    wants.dedup();
    if wants.is_empty() {
        return Ok(outcome);
    }
    if opts.filter.is_some() && !info.caps.has_feature("fetch", "filter") {
        return Err(Error::Unsupported(format!(
            "{} does not support filters",
            t.url()
        )));
    }
    if opts.depth.is_some() && !info.caps.has_feature("fetch", "shallow") {
        return Err(Error::Unsupported(format!(
            "{} does not support shallow fetches",
            t.url()
        )));
    }
    let local_shallow = shallow::read(repo)?;
    let mut haves = Haves::new(repo, local_shallow.iter().copied().collect())?;
    if opts.skip_negotiation {
        haves.heap.clear();
    }
    let mut common: Vec<ObjectId> = Vec::new();
    let mut batch_size = 16usize;
    let mut sent = 0usize;
    let mut in_vain = 0usize;
    let no_progress = opts.progress.is_none();
    loop {
        let mut batch = Vec::new();
        while batch.len() < batch_size {
            match haves.next() {
                Some(h) => batch.push(h),
                None => break,
            }
        }
        sent += batch.len();
        let done = batch.is_empty() || sent > 4096 || in_vain > 256;
        let mut args: Vec<String> = vec!["thin-pack".into(), "ofs-delta".into(), "include-tag".into()];
        if no_progress {
            args.push("no-progress".into());
        }
        args.extend(wants.iter().map(|w| format!("want {w}")));
        args.extend(local_shallow.iter().map(|s| format!("shallow {s}")));
        if let Some(d) = opts.depth {
            args.push(format!("deepen {d}"));
        }
        if let Some(f) = opts.filter {
            args.push(format!("filter {}", f.spec()));
        }
        args.extend(common.iter().chain(batch.iter()).map(|h| format!("have {h}")));
        if done {
            args.push("done".into());
        }
        let request = v2_request(&info.caps, info.hash, "fetch", &args);
        let resp = t.post(Service::UploadPack, true, request)?;
        let mut pkts = PktReader::new(resp);
        let sections = read_sections(&mut pkts, info.hash)?;
        let new_acks = sections.acks.iter().filter(|a| !common.contains(a)).count();
        if new_acks == 0 && !common.is_empty() {
            in_vain += batch.len();
        }
        for a in &sections.acks {
            if !common.contains(a) {
                common.push(*a);
                haves.common.insert(*a);
            }
        }
        if !sections.pack {
            if done {
                return Err(Error::Protocol("the server sent no pack after 'done'".into()));
            }
            batch_size = (batch_size * 2).min(256);
            continue;
        }
        outcome.shallow = sections.shallow;
        outcome.unshallow = sections.unshallow;
        let mut sink = |m: &[u8]| {
            if let Some(p) = opts.progress.as_mut() {
                p(&String::from_utf8_lossy(m));
            }
        };
        let mut band = SidebandReader::new(&mut pkts, &mut sink);
        let mut quarantine =
            Quarantine::receive(repo, &mut band, opts.limits, true).map_err(|e| match e {
                Error::Io(io) => unwrap_io(io),
                other => other,
            })?;
        // Drain whatever follows the pack on band 1 (nothing, normally) up to the flush.
        let mut rest = Vec::new();
        std::io::Read::read_to_end(&mut band, &mut rest).map_err(unwrap_io)?;
        let mut boundary: HashSet<ObjectId> = local_shallow.iter().copied().collect();
        boundary.extend(outcome.shallow.iter().copied());
        for u in &outcome.unshallow {
            boundary.remove(u);
        }
        let partial = opts.filter.is_some() || remote::promisor(repo).ok().flatten().is_some();
        let allow = Allowances {
            shallow: boundary,
            missing_blobs: partial,
        };
        quarantine.check_connected(repo.objects(), &wants, &allow)?;
        quarantine.promisor = partial;
        outcome.objects = quarantine.len();
        quarantine.install(repo)?;
        shallow::update(repo, &outcome.shallow, &outcome.unshallow)?;
        return Ok(outcome);
    }
}

/// Fetches every branch of remote `name` into `refs/remotes/<name>/*`, and the tags that point
/// into the history it then has into `refs/tags/*`, as `git fetch` follows tags by default
/// (existing tags are not moved; a tag on history fetched from nowhere else is left out).
pub fn fetch(repo: &Repo, name: &str, opts: &mut FetchOptions<'_>) -> Result<FetchOutcome> {
    let mut t = super::open_remote(repo, name, super::Direction::Fetch)?;
    fetch_with(repo, t.as_mut(), name, opts)
}

/// [`fetch`] over a given transport.
pub fn fetch_with(
    repo: &Repo,
    t: &mut dyn Transport,
    name: &str,
    opts: &mut FetchOptions<'_>,
) -> Result<FetchOutcome> {
    let info = ls_refs(t)?;
    let mut wants = Vec::new();
    let mut tips = HashSet::new();
    for r in &info.refs {
        let Some(id) = r.id else { continue };
        if r.name.starts_with("refs/heads/") || r.name == SQUASH_REF {
            tips.insert(id);
            if !repo.objects().contains(&id)? {
                wants.push(id);
            }
        }
    }
    // Tag auto-following, as `git fetch` without `--tags`/`--no-tags` (fetch.c
    // find_non_local_tags): a tag not yet here is taken when it, or the object it peels to, is
    // here or among the fetched tips. Tags pointing into history the pack brings arrive with it
    // (include-tag); those whose target was already here are asked for now, and any still
    // missing after the pack are fetched in a second round (git's backfill).
    let followed = |r: &AdvertisedRef, tips: &HashSet<ObjectId>| -> Result<Option<ObjectId>> {
        let Some(id) = r.id else { return Ok(None) };
        if !r.name.starts_with("refs/tags/") || repo.refs().resolve(&r.name)?.is_some() {
            return Ok(None);
        }
        let peeled = r.peeled.unwrap_or(id);
        let present = |o: &ObjectId| -> Result<bool> { Ok(tips.contains(o) || repo.objects().contains(o)?) };
        Ok((present(&id)? || present(&peeled)?).then_some(id))
    };
    for r in &info.refs {
        if let Some(id) = followed(r, &tips)? {
            if !repo.objects().contains(&id)? {
                wants.push(id);
            }
        }
    }
    let mut outcome = fetch_pack(repo, t, &info, &wants, opts)?;
    let mut backfill = Vec::new();
    for r in &info.refs {
        if let Some(id) = followed(r, &HashSet::new())? {
            if !repo.objects().contains(&id)? {
                backfill.push(id);
            }
        }
    }
    if !backfill.is_empty() {
        outcome.objects += fetch_pack(repo, t, &info, &backfill, opts)?.objects;
    }
    let log = RefLog {
        who: repo.default_signature(),
        message: format!("fetch: from {}", t.url()),
    };
    for r in &info.refs {
        let Some(id) = r.id else { continue };
        if let Some(branch) = r.name.strip_prefix("refs/heads/") {
            let local = format!("refs/remotes/{name}/{branch}");
            let old = repo.refs().resolve(&local)?;
            if old != Some(id) && repo.objects().contains(&id)? {
                repo.refs()
                    .update(&local, Expected::from_option(old), Some(id), &log)?;
                outcome.updated.push((local, old, id));
            }
        } else if r.name == SQUASH_REF {
            // The remote's latest squash, kept per remote; `adopt_remote_squash` acts on it.
            let local = remote_squash_ref(name);
            let old = repo.refs().resolve(&local)?;
            if old != Some(id) && repo.objects().contains(&id)? {
                repo.refs().update(&local, Expected::Any, Some(id), &log)?;
                outcome.updated.push((local, old, id));
            }
        } else if r.name.starts_with("refs/tags/")
            && repo.refs().resolve(&r.name)?.is_none()
            && repo.objects().contains(&id)?
        {
            repo.refs().update(&r.name, Expected::Absent, Some(id), &log)?;
            outcome.updated.push((r.name.clone(), None, id));
        }
    }
    if let Some(target) = info.head_target().and_then(|t| t.strip_prefix("refs/heads/")) {
        let _ = repo.refs().set_symbolic(
            &format!("refs/remotes/{name}/HEAD"),
            &format!("refs/remotes/{name}/{target}"),
        );
    }
    Ok(outcome)
}

/// Where the squash root last fetched from remote `name` is kept.
pub fn remote_squash_ref(name: &str) -> String {
    format!("refs/canopy/remotes/{name}/squash")
}

/// Adopts the squash last fetched from remote `name` (see [`crate::store::SQUASH_REF`]): if the
/// local history still holds that squash's point, squash there too, so that local branches (and
/// local commits on top of the old history) continue on the squashed history with the same ids
/// as the remote's. `None` when there is nothing to adopt.
pub fn adopt_remote_squash(repo: &Repo, name: &str) -> Result<Option<crate::store::SquashOutcome>> {
    let Some(root) = repo.refs().resolve(&remote_squash_ref(name))? else {
        return Ok(None);
    };
    if repo.refs().resolve(SQUASH_REF)? == Some(root) {
        return Ok(None);
    }
    Ok(repo.adopt_squash(root)?)
}

/// How to clone.
#[derive(Default)]
pub struct CloneOptions<'a> {
    pub fetch: FetchOptions<'a>,
    /// The remote's name (default `origin`).
    pub remote: Option<String>,
}

/// Creates a store at `dir` from the repository at `url`: remote `origin`, every branch in
/// `refs/remotes/origin/`, every tag in `refs/tags/` (with the history it points into), the remote's default branch checked out as a local branch (a Canopy
/// store is bare: its `HEAD` names that branch). `--depth` makes it shallow; a filter makes it
/// a partial clone whose missing values are fetched on read.
pub fn clone(url: &str, dir: &std::path::Path, opts: &mut CloneOptions<'_>) -> Result<Repo> {
    let mut t = super::open_transport(url)?;
    let info = ls_refs(t.as_mut())?;
    let branch = info
        .head_target()
        .and_then(|t| t.strip_prefix("refs/heads/"))
        .unwrap_or("main")
        .to_string();
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Error::Refused(format!(
            "destination '{}' exists and is not empty",
            dir.display()
        )));
    }
    let created = !dir.exists();
    let result = (|| -> Result<Repo> {
        let repo = Repo::init_with(
            dir,
            &InitOptions {
                hash: info.hash,
                branch: branch.clone(),
            },
        )?;
        let name = opts.remote.clone().unwrap_or_else(|| "origin".into());
        remote::add(&repo, &name, url)?;
        if let Some(f) = opts.fetch.filter {
            remote::set_promisor(&repo, &name, &f.spec())?;
        }
        // Reopen so the configuration written above is in effect.
        let repo = Repo::open(dir)?;
        // Every branch and every tag, as `git clone` (without `--single-branch`/`--no-tags`)
        // fetches `refs/tags/*` too: also tags of commits on no branch.
        let mut wants: Vec<ObjectId> = info
            .refs
            .iter()
            .filter(|r| {
                r.name.starts_with("refs/heads/")
                    || r.name.starts_with("refs/tags/")
                    || (r.name == "HEAD" && r.symref_target.is_none())
            })
            .filter_map(|r| r.id)
            .collect();
        wants.sort();
        wants.dedup();
        fetch_pack(&repo, t.as_mut(), &info, &wants, &mut opts.fetch)?;
        let log = RefLog {
            who: repo.default_signature(),
            message: format!("clone: from {url}"),
        };
        let mut tips: HashMap<String, ObjectId> = HashMap::new();
        for r in &info.refs {
            let Some(id) = r.id else { continue };
            if let Some(b) = r.name.strip_prefix("refs/heads/") {
                repo.refs().update(
                    &format!("refs/remotes/{name}/{b}"),
                    Expected::Absent,
                    Some(id),
                    &log,
                )?;
                tips.insert(b.to_string(), id);
            } else if r.name.starts_with("refs/tags/") && repo.objects().contains(&id)? {
                repo.refs().update(&r.name, Expected::Absent, Some(id), &log)?;
            }
        }
        if let Some(id) = tips.get(&branch) {
            repo.refs()
                .update(&format!("refs/heads/{branch}"), Expected::Absent, Some(*id), &log)?;
            repo.refs().set_symbolic(
                &format!("refs/remotes/{name}/HEAD"),
                &format!("refs/remotes/{name}/{branch}"),
            )?;
        }
        let mut config = remote::load_config(&repo)?;
        config.set(&format!("branch.{branch}.remote"), &name);
        config.set(&format!("branch.{branch}.merge"), &format!("refs/heads/{branch}"));
        config.save(&dir.join("config"), true)?;
        Ok(repo)
    })();
    if result.is_err() {
        if created {
            let _ = std::fs::remove_dir_all(dir);
        } else if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let _ = if e.path().is_dir() {
                    std::fs::remove_dir_all(e.path())
                } else {
                    std::fs::remove_file(e.path())
                };
            }
        }
    }
    result
}

/// Fetches objects this partial clone lacks (values left out by `--filter`) from its promisor
/// remote, as Git's lazy fetch does: `want <id>` lines, no negotiation, `done`. Returns how
/// many objects arrived; nothing happens (0) when none is missing or the store is no partial
/// clone.
pub fn fetch_missing(repo: &Repo, ids: &[ObjectId]) -> Result<usize> {
    let mut missing = Vec::new();
    for id in ids {
        if !repo.objects().contains(id)? {
            missing.push(*id);
        }
    }
    if missing.is_empty() {
        return Ok(0);
    }
    let Some(name) = remote::promisor(repo)? else {
        return Ok(0);
    };
    let mut t = super::open_remote(repo, &name, super::Direction::Fetch)?;
    let filter = remote::load_config(repo)?
        .get(&format!("remote.{name}.partialclonefilter"))
        .map(Filter::parse)
        .transpose()?;
    fetch_missing_with(repo, t.as_mut(), &missing, filter)
}

/// [`fetch_missing`] over a given transport, with the partial clone's filter: fetches `ids`
/// (which the store lacks) and returns how many objects arrived.
pub fn fetch_missing_with(
    repo: &Repo,
    t: &mut dyn Transport,
    ids: &[ObjectId],
    filter: Option<Filter>,
) -> Result<usize> {
    let body = t.info_refs(Service::UploadPack, true)?;
    let caps = read_v2_caps(&body, t.url())?;
    let info = RemoteInfo {
        caps,
        refs: Vec::new(),
        hash: repo.hash_kind(),
    };
    let mut opts = FetchOptions {
        filter,
        skip_negotiation: true,
        ..FetchOptions::default()
    };
    Ok(fetch_pack(repo, t, &info, ids, &mut opts)?.objects)
}

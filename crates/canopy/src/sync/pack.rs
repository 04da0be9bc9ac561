//! What to send and how: the objects reachable from the wants that the other side does not
//! have, cut at a shallow depth and filtered (`blob:none`, `blob:limit=N`), then written as a
//! version 2 pack with its trailer: stored entries reused where possible ([`super::reuse`]),
//! other objects deflated whole.
//!
//! The commit walk is Git's `rev-list wants --not haves`: commits are visited newest first
//! (committer date), "uninteresting" spreads from the haves to their ancestors, and the walk
//! stops once only uninteresting commits are queued. Trees and blobs reachable from the edge
//! (uninteresting parents of sent commits, and the haves) are not sent. Commits listed as
//! shallow (the client's boundary, or the new one a `deepen` computes) have their parents
//! hidden, as Git's shallow grafts do.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::io::Write;

use flate2::{Compress, Compression};

use super::format::{deflate_into, entry_header};
use super::reuse::{Entry as ReusedEntry, Reuse};
use super::{Error, Result};
use crate::backend::{AtomicWrite, ContentAddressable};
use crate::object::{Commit, HashKind, Mode, ObjectId, ObjectKind, Tag};

/// An object filter (`--filter=<spec>`), the ones Canopy implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// `blob:none`: no blobs (except those wanted by id).
    BlobNone,
    /// `blob:limit=<n>`: only blobs smaller than n bytes.
    BlobLimit(u64),
}

impl Filter {
    pub fn parse(spec: &str) -> Result<Filter> {
        if spec == "blob:none" {
            return Ok(Filter::BlobNone);
        }
        if let Some(n) = spec.strip_prefix("blob:limit=") {
            let (digits, mult) = match n.chars().last() {
                Some('k') => (&n[..n.len() - 1], 1024),
                Some('m') => (&n[..n.len() - 1], 1024 * 1024),
                Some('g') => (&n[..n.len() - 1], 1024 * 1024 * 1024),
                _ => (n, 1),
            };
            if let Ok(v) = digits.parse::<u64>() {
                return Ok(Filter::BlobLimit(v.saturating_mul(mult)));
            }
        }
        Err(Error::Unsupported(format!(
            "filter '{spec}' (supported: blob:none, blob:limit=<n>)"
        )))
    }

    pub fn spec(&self) -> String {
        match self {
            Filter::BlobNone => "blob:none".into(),
            Filter::BlobLimit(n) => format!("blob:limit={n}"),
        }
    }
}

/// What the other side asked for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub wants: Vec<ObjectId>,
    /// Objects the other side has (unknown ones are ignored).
    pub haves: Vec<ObjectId>,
    /// Commits the other side has without their parents.
    pub client_shallow: HashSet<ObjectId>,
    /// `deepen <n>`: history cut n commits below the wants.
    pub depth: Option<u32>,
    /// `deepen-relative`: the depth counts from the other side's shallow boundary.
    pub deepen_relative: bool,
    pub filter: Option<Filter>,
    /// Also send annotated tags (from `refs/tags/`) that point at sent objects.
    pub include_tag: bool,
}

/// The objects to send, in pack order, and the shallow boundary changes to announce.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub objects: Vec<ObjectId>,
    /// New boundary commits (`shallow <id>`), not already shallow on the other side.
    pub shallow: Vec<ObjectId>,
    /// Client-shallow commits whose parents are now sent (`unshallow <id>`).
    pub unshallow: Vec<ObjectId>,
}

struct CommitNode {
    time: i64,
    tree: ObjectId,
    parents: Vec<ObjectId>,
}

/// Reads and caches commits.
struct Commits<'a> {
    store: &'a dyn ContentAddressable,
    nodes: HashMap<ObjectId, CommitNode>,
}

impl<'a> Commits<'a> {
    fn get(&mut self, id: ObjectId) -> Result<&CommitNode> {
        if !self.nodes.contains_key(&id) {
            let data = self.store.read_kind(&id, ObjectKind::Commit)?;
            let hash = self.store.hash_kind();
            let node = match quick_commit(hash, &data) {
                Some(n) => n,
                None => {
                    // Unusual layout: the full parser says what is wrong, or copes.
                    let c = Commit::parse(hash, &data).map_err(|e| e.with_id(id))?;
                    CommitNode {
                        time: c.committer.time,
                        tree: c.tree,
                        parents: c.parents,
                    }
                }
            };
            self.nodes.insert(id, node);
        }
        self.nodes
            .get(&id)
            .ok_or_else(|| Error::Protocol("internal error: commit cache".into()))
    }
}

/// The tree, parents and committer time of a commit in the usual layout, without allocating
/// for the rest (the walk reads every commit it sends).
fn quick_commit(hash: HashKind, data: &[u8]) -> Option<CommitNode> {
    let hex = hash.hex_len();
    let mut lines = data.split(|&c| c == b'\n');
    let tree = ObjectId::from_hex(lines.next()?.strip_prefix(b"tree ")?).filter(|i| i.hash_kind() == hash)?;
    let mut parents = Vec::new();
    for line in lines {
        if let Some(p) = line.strip_prefix(b"parent ") {
            if p.len() != hex {
                return None;
            }
            parents.push(ObjectId::from_hex(p)?);
        } else if line.starts_with(b"author ") {
            continue;
        } else if let Some(c) = line.strip_prefix(b"committer ") {
            let gt = c.iter().rposition(|&b| b == b'>')?;
            let mut words = std::str::from_utf8(&c[gt + 1..]).ok()?.split_whitespace();
            let time = words.next()?.parse().ok()?;
            return Some(CommitNode { time, tree, parents });
        } else {
            return None;
        }
    }
    None
}

/// Follows tags to the object they finally name; returns the chain of tags and the target.
fn peel(store: &dyn ContentAddressable, id: ObjectId) -> Result<(Vec<ObjectId>, ObjectId, ObjectKind)> {
    let mut tags = Vec::new();
    let mut cur = id;
    for _ in 0..64 {
        let obj = store
            .read(&cur)?
            .ok_or_else(|| Error::Refused(format!("upload-pack: not our ref {cur}")))?;
        if obj.kind != ObjectKind::Tag {
            return Ok((tags, cur, obj.kind));
        }
        tags.push(cur);
        cur = Tag::parse(store.hash_kind(), &obj.data)
            .map_err(|e| e.with_id(cur))?
            .object;
    }
    Err(Error::Protocol(format!("tag chain from {id} is too long")))
}

/// Decides what to send for `req` (see the module documentation).
pub fn plan(store: &dyn ContentAddressable, refs: Option<&dyn AtomicWrite>, req: &Request) -> Result<Plan> {
    let mut commits = Commits {
        store,
        nodes: HashMap::new(),
    };
    let mut out = Plan::default();
    let mut sent: HashSet<ObjectId> = HashSet::new();
    let mut want_commits = Vec::new();
    let mut explicit_trees = Vec::new();
    let mut head_objects = Vec::new();
    for w in dedup(&req.wants) {
        let (tags, target, kind) = peel(store, w)?;
        head_objects.extend(tags);
        match kind {
            ObjectKind::Commit => want_commits.push(target),
            ObjectKind::Tree => explicit_trees.push(target),
            _ => head_objects.push(target),
        }
    }
    let mut have_commits = Vec::new();
    for h in dedup(&req.haves) {
        if !store.contains(&h)? {
            continue;
        }
        if let Ok((_, target, ObjectKind::Commit)) = peel(store, h) {
            have_commits.push(target);
        }
    }

    // Shallow boundary.
    let mut grafts: HashSet<ObjectId> = req.client_shallow.clone();
    if let Some(depth) = req.depth {
        let mut depth = depth.max(1);
        let mut seen: HashMap<ObjectId, u32> = HashMap::new();
        let mut queue: VecDeque<(ObjectId, u32)> = if req.deepen_relative {
            // N more generations below each client-shallow commit.
            depth = depth.saturating_add(1);
            let mut starts: Vec<ObjectId> = Vec::new();
            for s in &req.client_shallow {
                if store.contains(s)? {
                    starts.push(*s);
                }
            }
            starts.sort();
            starts.into_iter().map(|c| (c, 1)).collect()
        } else {
            want_commits.iter().map(|c| (*c, 1)).collect()
        };
        let mut boundary = Vec::new();
        while let Some((c, d)) = queue.pop_front() {
            if seen.contains_key(&c) {
                continue;
            }
            seen.insert(c, d);
            let parents = commits.get(c)?.parents.clone();
            if d < depth {
                for p in parents {
                    if !seen.contains_key(&p) {
                        queue.push_back((p, d + 1));
                    }
                }
            } else if !parents.is_empty() {
                boundary.push(c);
            }
        }
        for s in &req.client_shallow {
            if seen.get(s).is_some_and(|&d| d < depth) {
                // The other side keeps it as a have without parents (so it stays grafted
                // here), and gets its parents as new wants (what upload-pack does).
                out.unshallow.push(*s);
                for p in commits.get(*s)?.parents.clone() {
                    if !want_commits.contains(&p) {
                        want_commits.push(p);
                    }
                }
            }
        }
        for b in boundary {
            grafts.insert(b);
            if !req.client_shallow.contains(&b) {
                out.shallow.push(b);
            }
        }
        out.unshallow.sort();
        out.shallow.sort();
    }

    // Commits: wants minus what the haves reach, newest first.
    let mut uninteresting: HashSet<ObjectId> = HashSet::new();
    let mut queued: HashSet<ObjectId> = HashSet::new();
    let mut heap: BinaryHeap<(i64, Reverse<ObjectId>)> = BinaryHeap::new();
    // Queued commits not (yet) known to be uninteresting: the walk ends when there are none.
    let mut pending: HashSet<ObjectId> = HashSet::new();
    for &h in &have_commits {
        uninteresting.insert(h);
        if queued.insert(h) {
            heap.push((commits.get(h)?.time, Reverse(h)));
        }
    }
    for &w in &want_commits {
        if queued.insert(w) {
            heap.push((commits.get(w)?.time, Reverse(w)));
            if !uninteresting.contains(&w) {
                pending.insert(w);
            }
        }
    }
    let mut candidates = Vec::new();
    while let Some((_, Reverse(c))) = heap.pop() {
        pending.remove(&c);
        let is_uninteresting = uninteresting.contains(&c);
        let parents = if grafts.contains(&c) {
            Vec::new()
        } else {
            commits.get(c)?.parents.clone()
        };
        if is_uninteresting {
            for p in &parents {
                mark_uninteresting(&mut commits, &mut uninteresting, &mut pending, &grafts, *p);
            }
        } else {
            candidates.push(c);
        }
        for p in parents {
            if queued.insert(p) {
                if !store.contains(&p)? {
                    // History the server itself lacks (it is shallow): stop here.
                    continue;
                }
                heap.push((commits.get(p)?.time, Reverse(p)));
                if !uninteresting.contains(&p) {
                    pending.insert(p);
                }
            }
        }
        if pending.is_empty() {
            break;
        }
    }
    let send_commits: Vec<ObjectId> = candidates
        .into_iter()
        .filter(|c| !uninteresting.contains(c))
        .collect();

    // Trees and blobs the other side has: those of the edge commits.
    let mut excluded: HashSet<ObjectId> = HashSet::new();
    if !send_commits.is_empty() || !explicit_trees.is_empty() {
        let mut edges: Vec<ObjectId> = have_commits.clone();
        for c in &send_commits {
            if grafts.contains(c) {
                continue;
            }
            for p in &commits.get(*c)?.parents {
                if uninteresting.contains(p) {
                    edges.push(*p);
                }
            }
        }
        // Client-shallow commits the other side has: their trees too.
        for s in &req.client_shallow {
            if store.contains(s)? && !send_commits.contains(s) {
                edges.push(*s);
            }
        }
        edges.sort();
        edges.dedup();
        for e in edges {
            if let Ok(node) = commits.get(e) {
                let tree = node.tree;
                walk_tree(store, tree, &mut excluded, &mut |_, _| Ok(()), None)?;
            }
        }
    }

    for c in &send_commits {
        if sent.insert(*c) {
            out.objects.push(*c);
        }
    }
    for o in &head_objects {
        if sent.insert(*o) {
            out.objects.push(*o);
        }
    }
    let mut tree_objects = Vec::new();
    let mut seen_trees = excluded;
    let filter = req.filter;
    let roots: Vec<ObjectId> = send_commits
        .iter()
        .map(|c| commits.get(*c).map(|n| n.tree))
        .collect::<Result<_>>()?;
    for t in roots.into_iter().chain(explicit_trees) {
        walk_tree(
            store,
            t,
            &mut seen_trees,
            &mut |id, kind| {
                if kind == ObjectKind::Blob {
                    match filter {
                        Some(Filter::BlobNone) => return Ok(()),
                        Some(Filter::BlobLimit(n)) => {
                            let size = store.read(&id)?.map_or(0, |o| o.data.len() as u64);
                            if size >= n {
                                return Ok(());
                            }
                        }
                        None => {}
                    }
                }
                tree_objects.push(id);
                Ok(())
            },
            Some(&sent),
        )?;
    }
    for o in tree_objects {
        if sent.insert(o) {
            out.objects.push(o);
        }
    }

    if req.include_tag {
        if let Some(refs) = refs {
            for (_, id) in refs.list("refs/tags/")? {
                if sent.contains(&id) {
                    continue;
                }
                let Ok((tags, target, _)) = peel(store, id) else {
                    continue;
                };
                if !tags.is_empty() && sent.contains(&target) {
                    for t in tags {
                        if sent.insert(t) {
                            out.objects.push(t);
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

fn dedup(ids: &[ObjectId]) -> Vec<ObjectId> {
    let mut seen = HashSet::new();
    ids.iter().copied().filter(|i| seen.insert(*i)).collect()
}

/// Marks `start` and its (already loaded) ancestors uninteresting.
fn mark_uninteresting(
    commits: &mut Commits<'_>,
    uninteresting: &mut HashSet<ObjectId>,
    pending: &mut HashSet<ObjectId>,
    grafts: &HashSet<ObjectId>,
    start: ObjectId,
) {
    let mut stack = vec![start];
    while let Some(c) = stack.pop() {
        if !uninteresting.insert(c) {
            continue;
        }
        pending.remove(&c);
        if grafts.contains(&c) {
            continue;
        }
        // Only spread through commits already read; unread ones get the mark when reached.
        if let Some(node) = commits.nodes.get(&c) {
            stack.extend(node.parents.iter().copied());
        }
    }
}

/// Visits `root` and everything below it not yet in `seen` (trees first, then their entries);
/// `emit` gets each new object. Gitlinks are skipped. Objects in `skip` are not emitted.
fn walk_tree(
    store: &dyn ContentAddressable,
    root: ObjectId,
    seen: &mut HashSet<ObjectId>,
    emit: &mut dyn FnMut(ObjectId, ObjectKind) -> Result<()>,
    skip: Option<&HashSet<ObjectId>>,
) -> Result<()> {
    let hash = store.hash_kind();
    let mut stack = vec![root];
    while let Some(t) = stack.pop() {
        if !seen.insert(t) {
            continue;
        }
        if !skip.is_some_and(|s| s.contains(&t)) {
            emit(t, ObjectKind::Tree)?;
        }
        let data = store.read_kind(&t, ObjectKind::Tree)?;
        let mut subtrees = Vec::new();
        let mut pos = 0usize;
        while pos < data.len() {
            // `<mode> SP <name> NUL <raw id>`; only the mode and the id matter here.
            let bad = || Error::BadObject {
                id: t,
                reason: format!("malformed tree entry at byte {pos}"),
            };
            let sp = data[pos..].iter().position(|&c| c == b' ').ok_or_else(bad)?;
            let mode = Mode::parse(&data[pos..pos + sp]).ok_or_else(bad)?;
            let nul = data[pos + sp..].iter().position(|&c| c == 0).ok_or_else(bad)? + pos + sp;
            let id = data
                .get(nul + 1..nul + 1 + hash.len())
                .and_then(|raw| ObjectId::from_raw(hash, raw))
                .ok_or_else(bad)?;
            pos = nul + 1 + hash.len();
            match mode {
                Mode::Tree => subtrees.push(id),
                Mode::Gitlink => {}
                _ => {
                    if seen.insert(id) && !skip.is_some_and(|s| s.contains(&id)) {
                        emit(id, ObjectKind::Blob)?;
                    }
                }
            }
        }
        // Reversed so that the first subtree is walked first.
        stack.extend(subtrees.into_iter().rev());
    }
    Ok(())
}

/// Objects compressed together by one worker of [`write_pack`].
const BATCH: usize = 256;

/// One object's entry as a worker prepared it.
enum Piece<'a> {
    /// The complete entry (compressed here, or copied from a stored pack).
    Entry(std::borrow::Cow<'a, [u8]>),
    /// A stored delta: the writer encodes the header (OFS_DELTA when the base is already
    /// written, else REF_DELTA) in front of the zlib stream.
    Delta {
        base: ObjectId,
        size: u64,
        zlib: &'a [u8],
    },
}

/// Reads and compresses a run of objects into their pack entries, copying stored entries
/// where `reuse` allows (see [`super::reuse`]).
fn compress_batch<'a>(
    store: &dyn ContentAddressable,
    reuse: Option<&'a Reuse>,
    sent: &HashSet<ObjectId>,
    ids: &[ObjectId],
    z: &mut Compress,
) -> Result<Vec<(ObjectId, Piece<'a>)>> {
    let mut pieces = Vec::with_capacity(ids.len());
    let is_sent = |b: &ObjectId| sent.contains(b);
    for id in ids {
        if let Some(r) = reuse {
            match r.entry(id, &is_sent) {
                Some(ReusedEntry::Whole(bytes)) => {
                    pieces.push((*id, Piece::Entry(std::borrow::Cow::Borrowed(bytes))));
                    continue;
                }
                Some(ReusedEntry::Delta { base, size, zlib }) => {
                    pieces.push((*id, Piece::Delta { base, size, zlib }));
                    continue;
                }
                None => {}
            }
        }
        let obj = store
            .read(id)?
            .ok_or(crate::backend::Error::MissingObject { id: *id })?;
        let mut buf = Vec::with_capacity(obj.data.len() / 2 + 16);
        entry_header(obj.kind, obj.data.len() as u64, &mut buf);
        deflate_into(z, &obj.data, &mut buf)?;
        pieces.push((*id, Piece::Entry(std::borrow::Cow::Owned(buf))));
    }
    Ok(pieces)
}

/// Lays out prepared entries at `offset` onwards: records where each object starts and encodes
/// delta headers (OFS_DELTA against an entry already written when `ofs_delta`).
fn lay_out(
    pieces: Vec<(ObjectId, Piece<'_>)>,
    offset: u64,
    ofs_delta: bool,
    offsets: &mut HashMap<ObjectId, u64>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for (id, piece) in pieces {
        let at = offset + out.len() as u64;
        match piece {
            Piece::Entry(bytes) => out.extend_from_slice(&bytes),
            Piece::Delta { base, size, zlib } => match offsets.get(&base) {
                Some(&base_at) if ofs_delta => {
                    raw_entry_header(6, size, &mut out);
                    encode_ofs(at - base_at, &mut out);
                    out.extend_from_slice(zlib);
                }
                _ => {
                    raw_entry_header(7, size, &mut out);
                    out.extend_from_slice(base.as_bytes());
                    out.extend_from_slice(zlib);
                }
            },
        }
        offsets.insert(id, at);
    }
    out
}

/// The OFS_DELTA distance encoding (the inverse of what readers decode).
fn encode_ofs(mut off: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 10];
    let mut i = buf.len() - 1;
    buf[i] = (off & 0x7f) as u8;
    off >>= 7;
    while off != 0 {
        off -= 1;
        i -= 1;
        buf[i] = 0x80 | (off & 0x7f) as u8;
        off >>= 7;
    }
    out.extend_from_slice(&buf[i..]);
}

/// A pack entry header for a type code (7 = REF_DELTA) and size.
fn raw_entry_header(code: u8, size: u64, out: &mut Vec<u8>) {
    let mut c = (code << 4) | (size & 0x0f) as u8;
    let mut rest = size >> 4;
    while rest != 0 {
        out.push(c | 0x80);
        c = (rest & 0x7f) as u8;
        rest >>= 7;
    }
    out.push(c);
}

/// [`write_pack`] for a repository: entries of its packs are reused where possible, deltas as
/// OFS_DELTA when `ofs_delta` (the other side announced it) and their base came first.
pub fn write_pack_for(
    repo: &crate::Repo,
    ids: &[ObjectId],
    ofs_delta: bool,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(&str),
) -> Result<u64> {
    let reuse = repo
        .layout()
        .map(|l| Reuse::open(&l.git_dir.join("objects"), repo.hash_kind()))
        .filter(|r| !r.is_empty());
    write_pack_with(repo.objects(), reuse.as_ref(), ofs_delta, ids, out, progress)
}

/// Writes the objects as a version 2 pack (whole objects, each its own zlib stream) followed by
/// its trailer; returns the number of bytes written. Objects are read and compressed by up to
/// four threads in batches, and written in order. `progress` gets a line now and then.
pub fn write_pack(
    store: &dyn ContentAddressable,
    ids: &[ObjectId],
    out: &mut dyn Write,
    progress: &mut dyn FnMut(&str),
) -> Result<u64> {
    write_pack_with(store, None, false, ids, out, progress)
}

fn write_pack_with(
    store: &dyn ContentAddressable,
    reuse: Option<&Reuse>,
    ofs_delta: bool,
    ids: &[ObjectId],
    out: &mut dyn Write,
    progress: &mut dyn FnMut(&str),
) -> Result<u64> {
    let sent: HashSet<ObjectId> = if reuse.is_some() {
        ids.iter().copied().collect()
    } else {
        HashSet::new()
    };
    let reordered;
    let ids = match reuse {
        Some(r) if ofs_delta => {
            reordered = r.bases_first(ids, &|b| sent.contains(b));
            &reordered[..]
        }
        _ => ids,
    };
    let hash: HashKind = store.hash_kind();
    let count = u32::try_from(ids.len()).map_err(|_| Error::Unsupported("more than 2^32 objects".into()))?;
    let mut h = hash.hasher();
    let written = std::cell::Cell::new(0u64);
    let mut emit = |buf: &[u8], out: &mut dyn Write| -> Result<()> {
        h.update(buf);
        out.write_all(buf)?;
        written.set(written.get() + buf.len() as u64);
        Ok(())
    };
    let mut header = Vec::with_capacity(12);
    header.extend_from_slice(b"PACK");
    header.extend_from_slice(&2u32.to_be_bytes());
    header.extend_from_slice(&count.to_be_bytes());
    emit(&header, out)?;
    let mut offsets: HashMap<ObjectId, u64> = HashMap::new();
    let batches = ids.len().div_ceil(BATCH);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
        .min(batches.max(1));
    let report_every = (batches / 20).max(1);
    let mut report = |done_batches: usize| {
        if done_batches.is_multiple_of(report_every) && done_batches < batches {
            let n = (done_batches * BATCH).min(ids.len());
            progress(&format!(
                "Writing objects: {}% ({n}/{})\r",
                n * 100 / ids.len().max(1),
                ids.len()
            ));
        }
    };
    if workers <= 1 {
        let mut z = Compress::new(Compression::fast(), true);
        for (b, chunk) in ids.chunks(BATCH).enumerate() {
            let pieces = compress_batch(store, reuse, &sent, chunk, &mut z)?;
            let buf = lay_out(pieces, written.get(), ofs_delta, &mut offsets);
            emit(&buf, out)?;
            report(b + 1);
        }
    } else {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| -> Result<()> {
            let (tx, rx) =
                std::sync::mpsc::sync_channel::<(usize, Result<Vec<(ObjectId, Piece<'_>)>>)>(workers * 2);
            for _ in 0..workers {
                let tx = tx.clone();
                let (next, stop, sent) = (&next, &stop, &sent);
                scope.spawn(move || {
                    let mut z = Compress::new(Compression::fast(), true);
                    loop {
                        let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if b >= batches || stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        let chunk = &ids[b * BATCH..((b + 1) * BATCH).min(ids.len())];
                        if tx
                            .send((b, compress_batch(store, reuse, sent, chunk, &mut z)))
                            .is_err()
                        {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let mut pending: std::collections::BTreeMap<usize, Vec<(ObjectId, Piece<'_>)>> =
                std::collections::BTreeMap::new();
            let mut want = 0usize;
            let result = (|| -> Result<()> {
                for (b, r) in rx.iter() {
                    pending.insert(b, r?);
                    while let Some(pieces) = pending.remove(&want) {
                        let buf = lay_out(pieces, written.get(), ofs_delta, &mut offsets);
                        emit(&buf, out)?;
                        want += 1;
                        report(want);
                    }
                }
                Ok(())
            })();
            if result.is_err() {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            drop(rx);
            result?;
            if want != batches {
                return Err(Error::Protocol(
                    "internal error: a pack batch went missing".into(),
                ));
            }
            Ok(())
        })?;
    }
    let sum = h.finish();
    out.write_all(sum.as_bytes())?;
    if !ids.is_empty() {
        progress(&format!("Writing objects: 100% ({0}/{0}), done.\n", ids.len()));
    }
    Ok(written.get() + sum.as_bytes().len() as u64)
}

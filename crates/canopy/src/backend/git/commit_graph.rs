//! Git's commit-graph file (`objects/info/commit-graph`): every reachable commit's root tree,
//! parents, date and generation numbers in one sorted, memory-mappable table, so that history
//! walks (Canopy's and `git`'s) need not inflate commit objects.
//!
//! Git takes parents, tree and date from the graph instead of the object for every commit the
//! graph lists, so the graph is written only from commits read from the store, closed under
//! parents (a commit is listed only with all of its ancestors). Commits made later are simply
//! not in it; readers fall back to the objects for them.
//!
//! Chunks written: `OIDF`, `OIDL`, `CDAT`, `GDA2` (corrected commit dates), `GDO2` and `EDGE`
//! when needed, and the changed-path Bloom filters `BIDX`/`BDAT` (see `bloom.rs`). Split graph
//! chains are neither written nor read.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::bloom;
use super::loose::{create_temp, fsync_dir, io_err};
use super::pack::Bytes;
use super::Config;
use crate::backend::{ContentAddressable, Error, Result};
use crate::object::{Commit, HashKind, ObjectId, ObjectKind};

const NO_PARENT: u32 = 0x7000_0000;
const EXTRA_EDGES: u32 = 0x8000_0000;
const LAST_EDGE: u32 = 0x8000_0000;
const MAX_LEVEL: u32 = 0x3FFF_FFFF;

/// One commit as the graph records it.
struct Node {
    id: ObjectId,
    tree: ObjectId,
    parents: Vec<ObjectId>,
    time: i64,
}

/// The changed-path filter version to write, as Git chooses it: `commitGraph.changedPathsVersion`
/// when it is 1 or 2, else the version of the filters already there, else 1 (what Git writes by
/// default).
pub fn filter_version(config: &Config, objects_dir: &Path, hash: HashKind) -> u32 {
    match config.get_int("commitGraph.changedPathsVersion").ok().flatten() {
        Some(2) => 2,
        Some(1) => 1,
        _ => Graph::open(objects_dir, hash)
            .and_then(|g| g.filter_version())
            .unwrap_or(1),
    }
}

/// Reads every commit reachable from `tips` and writes the commit-graph of them to
/// `objects/info/commit-graph` (temporary file, fsync, rename), with changed-path filters of
/// version `filters` (1 or 2). Returns the number of commits.
pub fn write(
    objects: &dyn ContentAddressable,
    objects_dir: &Path,
    tips: &[ObjectId],
    fsync: bool,
    filters: u32,
) -> Result<usize> {
    let hash = objects.hash_kind();
    let mut nodes: HashMap<ObjectId, Node> = HashMap::new();
    let mut stack: Vec<ObjectId> = tips.to_vec();
    while let Some(id) = stack.pop() {
        if nodes.contains_key(&id) {
            continue;
        }
        let Some(obj) = objects.read(&id)? else {
            return Err(Error::MissingObject { id });
        };
        if obj.kind != ObjectKind::Commit {
            continue;
        }
        let c = Commit::parse(hash, &obj.data).map_err(|e| e.with_id(id))?;
        stack.extend(c.parents.iter().copied());
        nodes.insert(
            id,
            Node {
                id,
                tree: c.tree,
                parents: c.parents,
                time: c.committer.time.max(0),
            },
        );
    }
    let mut sorted: Vec<&Node> = nodes.values().collect();
    sorted.sort_by_key(|n| n.id);
    let position: HashMap<ObjectId, u32> = sorted.iter().enumerate().map(|(i, n)| (n.id, i as u32)).collect();

    // Generation numbers, parents first (iteratively: histories are deep).
    let mut level: HashMap<ObjectId, u32> = HashMap::with_capacity(sorted.len());
    let mut corrected: HashMap<ObjectId, i64> = HashMap::with_capacity(sorted.len());
    for node in &sorted {
        let mut work = vec![(node.id, false)];
        while let Some((id, expanded)) = work.pop() {
            if level.contains_key(&id) {
                continue;
            }
            let n = &nodes[&id];
            if !expanded {
                work.push((id, true));
                work.extend(
                    n.parents
                        .iter()
                        .filter(|p| !level.contains_key(p))
                        .map(|p| (*p, false)),
                );
                continue;
            }
            let l = n
                .parents
                .iter()
                .map(|p| level[p])
                .max()
                .map_or(1, |m| (m + 1).min(MAX_LEVEL));
            let c = n
                .parents
                .iter()
                .map(|p| corrected[p] + 1)
                .max()
                .map_or(n.time, |m| m.max(n.time));
            level.insert(id, l);
            corrected.insert(id, c);
        }
    }

    let n = sorted.len();
    let hl = hash.len();
    let mut oidf = Vec::with_capacity(1024);
    let mut counts = [0u32; 256];
    for node in &sorted {
        counts[node.id.as_bytes()[0] as usize] += 1;
    }
    let mut acc = 0u32;
    for c in counts {
        acc += c;
        oidf.extend_from_slice(&acc.to_be_bytes());
    }
    let mut oidl = Vec::with_capacity(n * hl);
    let mut cdat = Vec::with_capacity(n * (hl + 16));
    let mut gda2 = Vec::with_capacity(n * 4);
    let mut gdo2: Vec<u8> = Vec::new();
    let mut edge: Vec<u8> = Vec::new();
    for node in &sorted {
        oidl.extend_from_slice(node.id.as_bytes());
        cdat.extend_from_slice(node.tree.as_bytes());
        let pos = |p: &ObjectId| position[p];
        let p1 = node.parents.first().map_or(NO_PARENT, pos);
        let p2 = match node.parents.len() {
            0 | 1 => NO_PARENT,
            2 => pos(&node.parents[1]),
            _ => {
                let start = (edge.len() / 4) as u32;
                let rest = &node.parents[1..];
                for (i, p) in rest.iter().enumerate() {
                    let mut v = pos(p);
                    if i + 1 == rest.len() {
                        v |= LAST_EDGE;
                    }
                    edge.extend_from_slice(&v.to_be_bytes());
                }
                EXTRA_EDGES | start
            }
        };
        cdat.extend_from_slice(&p1.to_be_bytes());
        cdat.extend_from_slice(&p2.to_be_bytes());
        let time = node.time as u64;
        let hi = (level[&node.id] << 2) | ((time >> 32) as u32 & 3);
        cdat.extend_from_slice(&hi.to_be_bytes());
        cdat.extend_from_slice(&(time as u32).to_be_bytes());
        let offset = (corrected[&node.id] - node.time) as u64;
        if offset > 0x7FFF_FFFF {
            let idx = (gdo2.len() / 8) as u32;
            gda2.extend_from_slice(&(0x8000_0000 | idx).to_be_bytes());
            gdo2.extend_from_slice(&offset.to_be_bytes());
        } else {
            gda2.extend_from_slice(&(offset as u32).to_be_bytes());
        }
    }
    // Changed-path filters, each against the commit's first parent (the empty tree for a root).
    let mut bidx = Vec::with_capacity(n * 4);
    let mut bdat = Vec::with_capacity(12 + n * 8);
    for v in [filters, bloom::NUM_HASHES, bloom::BITS_PER_ENTRY] {
        bdat.extend_from_slice(&v.to_be_bytes());
    }
    for node in &sorted {
        let parent_tree = node.parents.first().map(|p| nodes[p].tree);
        let paths = bloom::changed_paths(objects, parent_tree, node.tree)?;
        bdat.extend_from_slice(&bloom::filter(filters, paths.as_ref()));
        let end = u32::try_from(bdat.len() - 12).map_err(|_| Error::CorruptFile {
            path: objects_dir.join("info/commit-graph"),
            reason: "changed-path filters exceed 4 GiB".into(),
        })?;
        bidx.extend_from_slice(&end.to_be_bytes());
    }
    let mut chunks: Vec<(&[u8; 4], Vec<u8>)> =
        vec![(b"OIDF", oidf), (b"OIDL", oidl), (b"CDAT", cdat), (b"GDA2", gda2)];
    if !gdo2.is_empty() {
        chunks.push((b"GDO2", gdo2));
    }
    if !edge.is_empty() {
        chunks.push((b"EDGE", edge));
    }
    chunks.push((b"BIDX", bidx));
    chunks.push((b"BDAT", bdat));
    let mut out = Vec::new();
    out.extend_from_slice(b"CGPH");
    out.push(1);
    out.push(match hash {
        HashKind::Sha1 => 1,
        HashKind::Sha256 => 2,
    });
    out.push(chunks.len() as u8);
    out.push(0);
    let mut offset = (8 + (chunks.len() + 1) * 12) as u64;
    for (id, data) in &chunks {
        out.extend_from_slice(*id);
        out.extend_from_slice(&offset.to_be_bytes());
        offset += data.len() as u64;
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&offset.to_be_bytes());
    for (_, data) in &chunks {
        out.extend_from_slice(data);
    }
    let mut h = hash.hasher();
    h.update(&out);
    out.extend_from_slice(h.finish().as_bytes());

    let info = objects_dir.join("info");
    fs::create_dir_all(&info).map_err(io_err(&info))?;
    let (tmp, mut file) = create_temp(&info, "tmp_graph_")?;
    let target: PathBuf = info.join("commit-graph");
    let result = (|| {
        file.write_all(&out)?;
        if fsync {
            file.sync_all()?;
        }
        fs::rename(&tmp, &target)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(&target)(e));
    }
    // A split chain would take precedence over the single file for newer commits; remove it so
    // that the graph just written is the one readers use.
    let chain = info.join("commit-graphs");
    if chain.exists() {
        let _ = fs::remove_dir_all(&chain);
    }
    if fsync {
        fsync_dir(&info)?;
    }
    Ok(n)
}

/// A commit as a graph file records it: what a history walk needs, without the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphCommit {
    pub tree: ObjectId,
    pub parents: Vec<ObjectId>,
    /// Committer date (seconds; Git stores 34 bits, never negative).
    pub time: i64,
    /// Corrected commit date when the file has `GDA2`, else the topological level.
    pub generation: u64,
}

/// Where the commit-graph file that last passed every check is recorded (see [`Graph::open`]).
pub(crate) const CHECKED: &str = "canopy-commit-graph-checked";

/// What identifies a graph file on disk: its trailer, length, modification time and, on
/// Unix, device and inode.
fn stamp(meta: &fs::Metadata, data: &[u8], hash: HashKind) -> String {
    let trailer = &data[data.len().saturating_sub(hash.len())..];
    let hex: String = trailer.iter().map(|b| format!("{b:02x}")).collect();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    #[cfg(unix)]
    let (dev, ino) = {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    };
    #[cfg(not(unix))]
    let (dev, ino) = (0, 0);
    format!(
        "{hex} {} {}.{:09} {dev} {ino}\n",
        meta.len(),
        mtime.as_secs(),
        mtime.subsec_nanos()
    )
}

/// Records a checked graph's stamp (a new file renamed into place).
fn write_record(objects_dir: &Path, record: &Path, stamp: &str) -> Result<()> {
    let (tmp, mut file) =
        super::loose::create_temp_with(&objects_dir.join("info"), "tmp_graph_checked_", false)?;
    let written = file
        .write_all(stamp.as_bytes())
        .and_then(|()| fs::rename(&tmp, record));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(io_err(record))
}

/// A commit-graph file read into memory and checked (trailing checksum, chunk table, sorted ids,
/// parent positions in range), or recorded as checked before (see [`Graph::open`]). A file that
/// fails any check is not used at all; lookups never go out of bounds, whatever the bytes.
pub struct Graph {
    hash: HashKind,
    data: Bytes,
    count: usize,
    oidf: usize,
    oidl: usize,
    cdat: usize,
    gda2: Option<usize>,
    gdo2: Option<(usize, usize)>,
    edge: Option<(usize, usize)>,
    filters: Option<Filters>,
}

/// Where the changed-path filters are, and how they were made (`BDAT`'s header).
struct Filters {
    bidx: usize,
    /// The first filter's offset (past the header) and the length of all of them.
    bdat: usize,
    len: usize,
    version: u32,
    num_hashes: u32,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Graph({} commits)", self.count)
    }
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn be64(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(data.get(at..at + 8)?.try_into().ok()?))
}

impl Graph {
    /// Reads `objects/info/commit-graph`; `None` when there is none or it fails a check (the
    /// reason is logged), so that callers read commit objects instead.
    ///
    /// Hashing the whole file to check its trailer, and the structural checks that read all of
    /// its ids and commit data, are most of the cost of a short query (they touch every page of
    /// a file of tens of megabytes), so a file that passed them is recorded in
    /// `objects/info/canopy-commit-graph-checked` with what identifies it on disk (trailer,
    /// length, modification time, device and inode); an open that finds the same file skips
    /// both. Git and Canopy replace a graph by renaming a new file over it, which changes all
    /// of those. Every accessor bounds-checks what it reads, so a file changed in place behind
    /// its stamp gives wrong answers or errors, never a panic or a read out of bounds.
    pub fn open(objects_dir: &Path, hash: HashKind) -> Option<Graph> {
        let path = objects_dir.join("info").join("commit-graph");
        let file = fs::File::open(&path).ok()?;
        // SAFETY: a commit-graph file is never rewritten in place: Git and Canopy write a new
        // one under a temporary name and rename it over the old, so the mapped bytes do not
        // change under the reader (the same reasoning as for pack files, see `pack`).
        let data = match unsafe { memmap2::Mmap::map(&file) } {
            Ok(m) => Bytes::Mapped(m),
            Err(_) => Bytes::Owned(fs::read(&path).ok()?),
        };
        let record = objects_dir.join("info").join(CHECKED);
        let meta = file.metadata().ok();
        let stamp = meta.as_ref().map(|meta| stamp(meta, &data, hash));
        let known = stamp
            .as_ref()
            .is_some_and(|s| fs::read(&record).is_ok_and(|r| r == s.as_bytes()));
        match Graph::parse_bytes(hash, data, known) {
            Ok(g) => {
                // Recorded only once the file is two seconds old: a file rewritten in place
                // within the clock's granularity of its last change would otherwise keep its
                // stamp (Git's "racy" entries). A cache: a store that cannot be written to
                // checks every time.
                let settled = meta
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= std::time::Duration::from_secs(2));
                if let (false, true, Some(stamp)) = (known, settled, stamp) {
                    let _ = write_record(objects_dir, &record, &stamp);
                }
                Some(g)
            }
            Err(reason) => {
                tracing::warn!(path = %path.display(), reason, "ignoring commit-graph");
                None
            }
        }
    }

    /// Checks a graph file's bytes.
    pub fn parse(hash: HashKind, data: Vec<u8>) -> std::result::Result<Graph, &'static str> {
        Graph::parse_bytes(hash, Bytes::Owned(data), false)
    }

    /// `known`: the same file passed every check before (see [`open`](Self::open)), so neither
    /// its trailer nor its structure is checked again; only what locating the chunks needs is.
    fn parse_bytes(hash: HashKind, data: Bytes, known: bool) -> std::result::Result<Graph, &'static str> {
        let hl = hash.len();
        if data.len() < 8 + 12 + hl || &data[..4] != b"CGPH" {
            return Err("not a commit-graph file");
        }
        if data[4] != 1 {
            return Err("unknown version");
        }
        let hash_version = match hash {
            HashKind::Sha1 => 1,
            HashKind::Sha256 => 2,
        };
        if data[5] != hash_version {
            return Err("wrong hash version");
        }
        if data[7] != 0 {
            return Err("depends on base graphs");
        }
        let body = data.len() - hl;
        if !known {
            let mut h = hash.hasher();
            h.update(&data[..body]);
            if h.finish().as_bytes() != &data[body..] {
                return Err("checksum mismatch");
            }
        }
        let chunk_count = data[6] as usize;
        let mut chunks: Vec<([u8; 4], usize, usize)> = Vec::with_capacity(chunk_count);
        for i in 0..chunk_count {
            let at = 8 + i * 12;
            let id: [u8; 4] = data
                .get(at..at + 4)
                .ok_or("truncated chunk table")?
                .try_into()
                .map_err(|_| "truncated chunk table")?;
            let start = be64(&data, at + 4).ok_or("truncated chunk table")?;
            let end = be64(&data, at + 16).ok_or("truncated chunk table")?;
            if start > end || end > body as u64 || start < (8 + (chunk_count + 1) * 12) as u64 {
                return Err("chunk offset out of range");
            }
            chunks.push((id, start as usize, end as usize));
        }
        let find = |name: &[u8; 4]| chunks.iter().find(|c| &c.0 == name).map(|c| (c.1, c.2 - c.1));
        if find(b"BASE").is_some() {
            return Err("depends on base graphs");
        }
        let (oidf, oidf_len) = find(b"OIDF").ok_or("no OIDF chunk")?;
        let (oidl, oidl_len) = find(b"OIDL").ok_or("no OIDL chunk")?;
        let (cdat, cdat_len) = find(b"CDAT").ok_or("no CDAT chunk")?;
        if oidf_len != 256 * 4 || oidl_len % hl != 0 {
            return Err("bad OIDF or OIDL size");
        }
        let count = oidl_len / hl;
        if cdat_len != count * (hl + 16) {
            return Err("bad CDAT size");
        }
        let gda2 = match find(b"GDA2") {
            Some((at, len)) if len == count * 4 => Some(at),
            Some(_) => return Err("bad GDA2 size"),
            None => None,
        };
        let gdo2 = find(b"GDO2");
        if gdo2.is_some_and(|(_, len)| len % 8 != 0) {
            return Err("bad GDO2 size");
        }
        let edge = find(b"EDGE");
        if edge.is_some_and(|(_, len)| len % 4 != 0) {
            return Err("bad EDGE size");
        }
        // Filters that are damaged or of an unknown kind are ignored, as Git ignores them: the
        // rest of the graph is still good.
        let filters = match (find(b"BIDX"), find(b"BDAT")) {
            (Some((bidx, bidx_len)), Some((bdat, bdat_len))) if bidx_len == count * 4 && bdat_len >= 12 => {
                let version = be32(&data, bdat).unwrap_or(0);
                let num_hashes = be32(&data, bdat + 4).unwrap_or(0);
                ((version == 1 || version == 2) && (1..=32).contains(&num_hashes)).then_some(Filters {
                    bidx,
                    bdat: bdat + 12,
                    len: bdat_len - 12,
                    version,
                    num_hashes,
                })
            }
            _ => None,
        };
        let g = Graph {
            hash,
            data,
            count,
            oidf,
            oidl,
            cdat,
            gda2,
            gdo2,
            edge,
            filters,
        };
        if !known {
            g.check()?;
        }
        Ok(g)
    }

    /// The structural checks that make every later lookup well-defined.
    fn check(&self) -> std::result::Result<(), &'static str> {
        let hl = self.hash.len();
        let mut previous = 0u32;
        for b in 0..256 {
            let v = be32(&self.data, self.oidf + b * 4).ok_or("truncated OIDF")?;
            if v < previous {
                return Err("OIDF is not monotonic");
            }
            previous = v;
        }
        if previous as usize != self.count {
            return Err("OIDF does not match OIDL");
        }
        let ids = &self.data[self.oidl..self.oidl + self.count * hl];
        let mut fan = [0u32; 256];
        for i in 0..self.count {
            let id = &ids[i * hl..(i + 1) * hl];
            if i > 0 && ids[(i - 1) * hl..i * hl] >= *id {
                return Err("OIDL is not sorted");
            }
            fan[id[0] as usize] += 1;
        }
        let mut acc = 0u32;
        for (b, n) in fan.iter().enumerate() {
            acc += n;
            if be32(&self.data, self.oidf + b * 4) != Some(acc) {
                return Err("OIDF does not match OIDL");
            }
        }
        let edges = self.edge.map_or(0, |(_, len)| len / 4);
        for pos in 0..self.count {
            let at = self.cdat + pos * (hl + 16) + hl;
            let p1 = be32(&self.data, at).ok_or("truncated CDAT")?;
            let p2 = be32(&self.data, at + 4).ok_or("truncated CDAT")?;
            if p1 != NO_PARENT && p1 as usize >= self.count {
                return Err("parent position out of range");
            }
            if p2 == NO_PARENT {
                continue;
            }
            if p2 & EXTRA_EDGES == 0 {
                if p2 as usize >= self.count {
                    return Err("parent position out of range");
                }
                continue;
            }
            let (edge_at, _) = self.edge.ok_or("octopus merge without EDGE chunk")?;
            let mut i = (p2 & !EXTRA_EDGES) as usize;
            loop {
                if i >= edges {
                    return Err("EDGE list not terminated");
                }
                let v = be32(&self.data, edge_at + i * 4).ok_or("truncated EDGE")?;
                if (v & !LAST_EDGE) as usize >= self.count {
                    return Err("parent position out of range");
                }
                if v & LAST_EDGE != 0 {
                    break;
                }
                i += 1;
            }
        }
        if let Some(at) = self.gda2 {
            let overflow = self.gdo2.map_or(0, |(_, len)| len / 8);
            for pos in 0..self.count {
                let v = be32(&self.data, at + pos * 4).ok_or("truncated GDA2")?;
                if v & 0x8000_0000 != 0 && (v & 0x7FFF_FFFF) as usize >= overflow {
                    return Err("GDA2 overflow index out of range");
                }
            }
        }
        Ok(())
    }

    /// How many commits the file lists.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The id of the commit at `pos`.
    pub fn id_at(&self, pos: usize) -> Option<ObjectId> {
        if pos >= self.count {
            return None;
        }
        let hl = self.hash.len();
        ObjectId::from_raw(
            self.hash,
            self.data.get(self.oidl + pos * hl..self.oidl + (pos + 1) * hl)?,
        )
    }

    /// The position of `id` in the file, if it is listed.
    pub fn position(&self, id: &ObjectId) -> Option<usize> {
        let hl = self.hash.len();
        let raw = id.as_bytes();
        if raw.len() != hl {
            return None;
        }
        let first = raw[0] as usize;
        let lo = if first == 0 {
            0
        } else {
            be32(&self.data, self.oidf + (first - 1) * 4)? as usize
        };
        let hi = be32(&self.data, self.oidf + first * 4)? as usize;
        if lo > hi || hi > self.count {
            return None;
        }
        let ids = self.data.get(self.oidl + lo * hl..self.oidl + hi * hl)?;
        let (mut a, mut b) = (0usize, hi - lo);
        while a < b {
            let mid = (a + b) / 2;
            match ids[mid * hl..(mid + 1) * hl].cmp(raw) {
                std::cmp::Ordering::Less => a = mid + 1,
                std::cmp::Ordering::Greater => b = mid,
                std::cmp::Ordering::Equal => return Some(lo + mid),
            }
        }
        None
    }

    /// The commit at `pos` (from [`position`](Self::position)).
    pub fn commit_at(&self, pos: usize) -> Option<GraphCommit> {
        let hl = self.hash.len();
        let at = self.cdat + pos.checked_mul(hl + 16)?;
        let tree = ObjectId::from_raw(self.hash, self.data.get(at..at + hl)?)?;
        let mut positions = Vec::new();
        self.parent_positions(pos, &mut positions)?;
        let parents = positions
            .iter()
            .map(|&p| self.id_at(p as usize))
            .collect::<Option<Vec<_>>>()?;
        Some(GraphCommit {
            tree,
            parents,
            time: self.time_at(pos)?,
            generation: self.generation_at(pos)?,
        })
    }

    /// The positions of the parents of the commit at `pos`, first parent first, appended to
    /// `out` (a walk that stays inside the graph need not look up ids); `None` when the data
    /// is truncated or names a position out of range.
    pub fn parent_positions(&self, pos: usize, out: &mut Vec<u32>) -> Option<()> {
        if pos >= self.count {
            return None;
        }
        let from = out.len();
        self.raw_parent_positions(pos, out)?;
        out[from..]
            .iter()
            .all(|&p| (p as usize) < self.count)
            .then_some(())
    }

    fn raw_parent_positions(&self, pos: usize, out: &mut Vec<u32>) -> Option<()> {
        let at = self.cdat + pos * (self.hash.len() + 16) + self.hash.len();
        let p1 = be32(&self.data, at)?;
        let p2 = be32(&self.data, at + 4)?;
        if p1 != NO_PARENT {
            out.push(p1);
        }
        if p2 != NO_PARENT && p2 & EXTRA_EDGES == 0 {
            out.push(p2);
        } else if p2 != NO_PARENT {
            let (edge_at, len) = self.edge?;
            let mut i = (p2 & !EXTRA_EDGES) as usize;
            loop {
                if i * 4 >= len {
                    return None;
                }
                let v = be32(&self.data, edge_at + i * 4)?;
                out.push(v & !LAST_EDGE);
                if v & LAST_EDGE != 0 {
                    break;
                }
                i += 1;
            }
        }
        Some(())
    }

    /// The committer date of the commit at `pos`.
    pub fn time_at(&self, pos: usize) -> Option<i64> {
        if pos >= self.count {
            return None;
        }
        let at = self.cdat + pos * (self.hash.len() + 16) + self.hash.len() + 8;
        let hi = be32(&self.data, at)?;
        let lo = be32(&self.data, at + 4)?;
        Some(((u64::from(hi & 3) << 32) | u64::from(lo)) as i64)
    }

    /// The generation number of the commit at `pos`: its corrected commit date when the file
    /// has `GDA2`, else its topological level.
    pub fn generation_at(&self, pos: usize) -> Option<u64> {
        if pos >= self.count {
            return None;
        }
        let at = self.cdat + pos * (self.hash.len() + 16) + self.hash.len() + 8;
        let hi = be32(&self.data, at)?;
        match self.gda2 {
            None => Some(u64::from(hi >> 2)),
            Some(gda2) => {
                let v = be32(&self.data, gda2 + pos * 4)?;
                let offset = if v & 0x8000_0000 == 0 {
                    u64::from(v)
                } else {
                    let (gdo2, _) = self.gdo2?;
                    be64(&self.data, gdo2 + (v & 0x7FFF_FFFF) as usize * 8)?
                };
                Some((self.time_at(pos)? as u64).saturating_add(offset))
            }
        }
    }

    /// The version of the changed-path filters the file holds (1 or 2), if it holds any.
    pub fn filter_version(&self) -> Option<u32> {
        self.filters.as_ref().map(|f| f.version)
    }

    /// The keys to test a path against this file's filters; `None` when it has none, or they
    /// cannot answer for this path (see `bloom::path_keys`).
    pub fn path_keys(&self, path: &[u8]) -> Option<Vec<bloom::Key>> {
        bloom::path_keys(self.filters.as_ref()?.version, path)
    }

    /// Whether the commit at `pos` may have changed the path of `keys` against its first parent:
    /// `Some(false)` when its filter says definitely not; `None` when it has no usable filter.
    pub fn maybe_changed(&self, pos: usize, keys: &[bloom::Key]) -> Option<bool> {
        bloom::contains(self.filter_at(pos)?, keys, self.filters.as_ref()?.num_hashes)
    }

    /// The changed-path filter of the commit at `pos`, as stored (`None`: no filters, or the
    /// index points outside the data).
    pub fn filter_at(&self, pos: usize) -> Option<&[u8]> {
        let f = self.filters.as_ref()?;
        if pos >= self.count {
            return None;
        }
        let end = be32(&self.data, f.bidx + pos * 4)? as usize;
        let start = match pos {
            0 => 0,
            _ => be32(&self.data, f.bidx + (pos - 1) * 4)? as usize,
        };
        if start > end || end > f.len {
            return None;
        }
        self.data.get(f.bdat + start..f.bdat + end)
    }

    /// The commit `id`, if the file lists it.
    pub fn commit(&self, id: &ObjectId) -> Option<GraphCommit> {
        self.commit_at(self.position(id)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Signature;
    use crate::store::{CommitOptions, Repo};

    fn opts(t: i64) -> CommitOptions {
        let sig = Signature {
            name: "t".into(),
            email: "t@example.com".into(),
            time: t,
            offset_minutes: 0,
        };
        CommitOptions {
            message: format!("at {t}"),
            author: Some(sig.clone()),
            committer: Some(sig),
        }
    }

    /// A history with a merge, an octopus and a date older than its parent's; its commits, and
    /// the graph file written from them.
    fn written() -> (Repo, Vec<ObjectId>, Vec<u8>) {
        let repo = Repo::in_memory(HashKind::Sha1);
        let tree = repo.objects().write(ObjectKind::Tree, b"").unwrap();
        let c = |parents: &[ObjectId], t: i64| repo.write_commit(tree, parents.to_vec(), &opts(t)).unwrap();
        let root = c(&[], 100);
        let a = c(&[root], 200);
        let b = c(&[root], 150);
        let m = c(&[a, b], 300);
        let skew = c(&[m], 50);
        let o = c(&[skew, a, b], 400);
        let dir = tempfile::tempdir().unwrap();
        write(repo.objects(), dir.path(), &[o], false, 2).unwrap();
        let bytes = fs::read(dir.path().join("info/commit-graph")).unwrap();
        (repo, vec![root, a, b, m, skew, o], bytes)
    }

    #[test]
    fn reads_back_what_was_written() {
        let (repo, ids, bytes) = written();
        let graph = Graph::parse(HashKind::Sha1, bytes).unwrap();
        assert_eq!(graph.len(), ids.len());
        let mut generation = HashMap::new();
        for id in &ids {
            let c = repo.commit_info(*id).unwrap().commit;
            let g = graph.commit(id).unwrap();
            assert_eq!(
                (g.tree, &g.parents, g.time),
                (c.tree, &c.parents, c.committer.time)
            );
            // Corrected commit dates: at least the date, and above every parent's.
            assert!(g.generation >= g.time as u64);
            for p in &g.parents {
                assert!(g.generation > generation[p]);
            }
            generation.insert(*id, g.generation);
        }
        assert_eq!(graph.commit(&ids[5]).unwrap().parents.len(), 3);
        assert!(graph.commit(&HashKind::Sha1.empty_tree()).is_none());
    }

    /// A graph whose trailer checked is recorded once it is two seconds old, and a later open
    /// of the same file skips the hash; a file changed since (another time) is hashed again.
    #[test]
    fn checked_files_are_recorded_once_settled_and_changed_ones_checked_again() {
        use std::time::{Duration, SystemTime};
        let (_, _, bytes) = written();
        let dir = tempfile::tempdir().unwrap();
        let info = dir.path().join("info");
        fs::create_dir_all(&info).unwrap();
        let path = info.join("commit-graph");
        let put = |b: &[u8], mtime: SystemTime| {
            fs::write(&path, b).unwrap();
            let f = fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(mtime).unwrap();
        };
        let open = || Graph::open(dir.path(), HashKind::Sha1);
        // Just written: checked, not recorded.
        put(&bytes, SystemTime::now());
        assert!(open().is_some());
        assert!(!info.join(CHECKED).exists());
        // Settled: checked and recorded, with its trailer.
        let old = SystemTime::now() - Duration::from_secs(3600);
        put(&bytes, old);
        assert!(open().is_some());
        let trailer: String = bytes[bytes.len() - 20..]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let record = fs::read_to_string(info.join(CHECKED)).unwrap();
        assert!(record.starts_with(&trailer), "{record}");
        // A tree id in the commit data damaged, the file's time moved: hashed again, refused.
        let cdat = Graph::parse(HashKind::Sha1, bytes.clone()).unwrap().cdat;
        let mut damaged = bytes.clone();
        damaged[cdat + 3] ^= 0x10;
        put(&damaged, old + Duration::from_secs(1));
        assert!(open().is_none());
        // The same damage behind the recorded stamp (same file, length, time and trailer) is
        // not hashed: why a graph is replaced by a new file, never edited in place.
        put(&damaged, old);
        assert!(open().is_some());
    }

    #[test]
    fn damaged_files_are_refused_without_panicking() {
        let (_, _, bytes) = written();
        let rehash = |mut b: Vec<u8>| {
            let body = b.len() - 20;
            let mut h = HashKind::Sha1.hasher();
            h.update(&b[..body]);
            b.truncate(body);
            b.extend_from_slice(h.finish().as_bytes());
            b
        };
        for n in 0..bytes.len() {
            assert!(Graph::parse(HashKind::Sha1, bytes[..n].to_vec()).is_err());
            if n >= 20 {
                assert!(Graph::parse(HashKind::Sha1, rehash(bytes[..n].to_vec())).is_err());
            }
        }
        let mut flipped = bytes.clone();
        flipped[100] ^= 1;
        assert_eq!(
            Graph::parse(HashKind::Sha1, flipped).err(),
            Some("checksum mismatch")
        );
        assert!(Graph::parse(HashKind::Sha256, bytes.clone()).is_err());
        // Checksums fine, content not: every byte of the chunks changed in turn must be caught
        // or give lookups that stay in bounds. A file recorded as checked and then changed in
        // place is read with no checks beyond the chunk table: its lookups must stay in bounds
        // too, and parent positions must be in range or refused.
        let graph = Graph::parse(HashKind::Sha1, bytes.clone()).unwrap();
        let ids: Vec<ObjectId> = (0..graph.len()).filter_map(|i| graph.id_at(i)).collect();
        let keys = graph.path_keys(b"a").unwrap();
        let exercise = |g: &Graph| {
            for id in &ids {
                let _ = g.commit(id);
            }
            for pos in 0..g.len() + 2 {
                let mut out = Vec::new();
                if g.parent_positions(pos, &mut out).is_some() {
                    assert!(out.iter().all(|&p| (p as usize) < g.len()));
                }
                let _ = (g.id_at(pos), g.commit_at(pos), g.generation_at(pos));
                let _ = g.maybe_changed(pos, &keys);
            }
        };
        for at in 8..bytes.len() - 20 {
            for bit in [0x01, 0x80] {
                let mut b = bytes.clone();
                b[at] ^= bit;
                if let Ok(g) = Graph::parse_bytes(HashKind::Sha1, Bytes::Owned(b.clone()), true) {
                    exercise(&g);
                }
                if let Ok(g) = Graph::parse(HashKind::Sha1, rehash(b)) {
                    exercise(&g);
                }
            }
        }
        // A parent position past the end, with a good checksum.
        let cdat = {
            let g = Graph::parse(HashKind::Sha1, bytes.clone()).unwrap();
            g.cdat
        };
        let mut b = bytes.clone();
        b[cdat + 20..cdat + 24].copy_from_slice(&(ids.len() as u32).to_be_bytes());
        assert_eq!(
            Graph::parse(HashKind::Sha1, rehash(b)).err(),
            Some("parent position out of range")
        );
    }
}

//! Git's commit-graph file (`objects/info/commit-graph`): every reachable commit's root tree,
//! parents, date and generation numbers in one sorted, memory-mappable table, so that history
//! walks (Canopy's and `git`'s) need not inflate commit objects.
//!
//! Git takes parents, tree and date from the graph instead of the object for every commit the
//! graph lists, so the graph is written only from commits read from the store, closed under
//! parents (a commit is listed only with all of its ancestors). Commits made later are simply
//! not in it; readers fall back to the objects for them.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::loose::{create_temp, fsync_dir, io_err};
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

/// Reads every commit reachable from `tips` and writes the commit-graph of them to
/// `objects/info/commit-graph` (temporary file, fsync, rename). Returns the number of commits.
pub fn write(
    objects: &dyn ContentAddressable,
    objects_dir: &Path,
    tips: &[ObjectId],
    fsync: bool,
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
    let mut chunks: Vec<(&[u8; 4], Vec<u8>)> =
        vec![(b"OIDF", oidf), (b"OIDL", oidl), (b"CDAT", cdat), (b"GDA2", gda2)];
    if !gdo2.is_empty() {
        chunks.push((b"GDO2", gdo2));
    }
    if !edge.is_empty() {
        chunks.push((b"EDGE", edge));
    }
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

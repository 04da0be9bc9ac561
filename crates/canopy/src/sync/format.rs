//! Pack format pieces shared by receiving and sending: entry headers, zlib streams, the
//! `.idx` v2 writer, delta application with every check `patch-delta.c` makes, and object
//! hashing with SHA-1 collision detection.

use std::io;

use flate2::{Compress, FlushCompress, Status};

use crate::object::{HashKind, ObjectId, ObjectKind};

/// Hashes an object as Git names it; SHA-1 with collision detection.
pub(crate) fn hash_object(hash: HashKind, kind: ObjectKind, data: &[u8]) -> Result<ObjectId, String> {
    let header = format!("{} {}\0", kind.as_str(), data.len());
    match hash {
        HashKind::Sha1 => {
            use sha1::digest::Update;
            let mut h = sha1_checked::Sha1::new();
            h.update(header.as_bytes());
            h.update(data);
            let result = h.try_finalize();
            if result.has_collision() {
                return Err(format!(
                    "SHA-1 collision attack detected in a {kind} of {} bytes",
                    data.len()
                ));
            }
            ObjectId::from_raw(hash, result.hash().as_slice()).ok_or_else(|| "bad hash length".to_string())
        }
        _ => Ok(ObjectId::for_object(hash, kind, data)),
    }
}

/// A pack entry header: type and size, 4 bits then 7 bits per byte.
pub(crate) fn entry_header(kind: ObjectKind, size: u64, out: &mut Vec<u8>) {
    let code: u8 = match kind {
        ObjectKind::Commit => 1,
        ObjectKind::Tree => 2,
        ObjectKind::Blob => 3,
        ObjectKind::Tag => 4,
    };
    let mut c = (code << 4) | (size & 0x0f) as u8;
    let mut rest = size >> 4;
    while rest != 0 {
        out.push(c | 0x80);
        c = (rest & 0x7f) as u8;
        rest >>= 7;
    }
    out.push(c);
}

/// Appends `data` as one complete zlib stream.
pub(crate) fn deflate_into(z: &mut Compress, data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    z.reset();
    out.reserve(data.len() / 2 + 64);
    loop {
        let consumed = z.total_in() as usize;
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(64));
        }
        let status = z
            .compress_vec(&data[consumed..], out, FlushCompress::Finish)
            .map_err(io::Error::other)?;
        if status == Status::StreamEnd {
            return Ok(());
        }
    }
}

/// The `.idx` v2 bytes for `entries` (id, offset, crc32), which get sorted by id.
pub(crate) fn write_idx(
    hash: HashKind,
    entries: &mut [(ObjectId, u64, u32)],
    pack_checksum: &ObjectId,
) -> Vec<u8> {
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let n = entries.len();
    let mut out = Vec::with_capacity(8 + 1024 + n * (hash.len() + 8) + 2 * hash.len());
    out.extend_from_slice(b"\xfftOc");
    out.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for (id, _, _) in entries.iter() {
        fanout[id.as_bytes()[0] as usize] += 1;
    }
    let mut total = 0u32;
    for f in fanout {
        total += f;
        out.extend_from_slice(&total.to_be_bytes());
    }
    for (id, _, _) in entries.iter() {
        out.extend_from_slice(id.as_bytes());
    }
    for (_, _, crc) in entries.iter() {
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut large = Vec::new();
    for (_, offset, _) in entries.iter() {
        if *offset < 0x8000_0000 {
            out.extend_from_slice(&(*offset as u32).to_be_bytes());
        } else {
            out.extend_from_slice(&(0x8000_0000 | large.len() as u32).to_be_bytes());
            large.push(*offset);
        }
    }
    for offset in large {
        out.extend_from_slice(&offset.to_be_bytes());
    }
    out.extend_from_slice(pack_checksum.as_bytes());
    let mut h = hash.hasher();
    h.update(&out);
    out.extend_from_slice(h.finish().as_bytes());
    out
}

/// Applies a Git delta to `base`, checking everything `patch-delta.c` checks (the pack
/// reader's own routine).
pub(crate) fn apply_delta(base: &[u8], delta: &[u8], max_size: u64) -> Result<Vec<u8>, String> {
    crate::backend::git::pack::delta::apply(base, delta, max_size)
}

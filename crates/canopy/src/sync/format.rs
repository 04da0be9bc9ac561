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

/// Applies a Git delta to `base`, checking everything `patch-delta.c` checks.
pub(crate) fn apply_delta(base: &[u8], delta: &[u8], max_size: u64) -> Result<Vec<u8>, String> {
    let mut pos = 0usize;
    let base_size = varint(delta, &mut pos)?;
    if base_size != base.len() as u64 {
        return Err(format!(
            "expects a base of {base_size} bytes, the base has {}",
            base.len()
        ));
    }
    let result_size = varint(delta, &mut pos)?;
    if result_size > max_size {
        return Err(format!(
            "result of {result_size} bytes exceeds the limit of {max_size}"
        ));
    }
    let plausible = ((delta.len() - pos) as u64).saturating_mul((base.len() as u64).clamp(1, 0x00ff_ffff));
    if result_size > plausible {
        return Err(format!(
            "declares {result_size} bytes, more than its instructions can produce"
        ));
    }
    let result_size = usize::try_from(result_size).map_err(|_| "result too large".to_string())?;
    let mut out = Vec::with_capacity(result_size);
    while pos < delta.len() {
        let at = pos;
        let op = delta[pos];
        pos += 1;
        if op & 0x80 != 0 {
            let (mut offset, mut size) = (0u64, 0u64);
            for i in 0..7 {
                if op & (1 << i) == 0 {
                    continue;
                }
                let b = *delta
                    .get(pos)
                    .ok_or_else(|| format!("copy instruction at byte {at} is truncated"))?;
                pos += 1;
                if i < 4 {
                    offset |= u64::from(b) << (8 * i);
                } else {
                    size |= u64::from(b) << (8 * (i - 4));
                }
            }
            if size == 0 {
                size = 0x10000;
            }
            let end = offset + size;
            if end > base.len() as u64 || out.len() as u64 + size > result_size as u64 {
                return Err(format!("copy instruction at byte {at} is out of bounds"));
            }
            out.extend_from_slice(&base[offset as usize..end as usize]);
        } else if op != 0 {
            let n = usize::from(op);
            let lit = delta
                .get(pos..pos + n)
                .ok_or_else(|| format!("insert instruction at byte {at} is truncated"))?;
            if out.len() + n > result_size {
                return Err(format!(
                    "insert instruction at byte {at} overruns the declared size"
                ));
            }
            out.extend_from_slice(lit);
            pos += n;
        } else {
            return Err(format!("unexpected delta opcode 0 at byte {at}"));
        }
    }
    if out.len() != result_size {
        return Err(format!("produced {} bytes, declares {result_size}", out.len()));
    }
    Ok(out)
}

fn varint(data: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        let b = *data.get(*pos).ok_or("size varint runs past the end")?;
        *pos += 1;
        if shift > 63 {
            return Err("size varint overflows".into());
        }
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
    }
}

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

pub(crate) use crate::backend::git::pack_write::{entry_header, index_bytes as write_idx};

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

/// Applies a Git delta to `base`, checking everything `patch-delta.c` checks (the pack
/// reader's own routine).
pub(crate) fn apply_delta(base: &[u8], delta: &[u8], max_size: u64) -> Result<Vec<u8>, String> {
    crate::backend::git::pack::delta::apply(base, delta, max_size)
}

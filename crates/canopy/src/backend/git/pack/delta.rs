//! Git's delta format (`patch-delta.c`): a base size and a result size as 7-bit little-endian
//! varints, then copy and insert instructions. [`apply`] checks everything Git checks (base size,
//! copy bounds, reserved opcode 0, a result that fills exactly the declared size) and refuses an
//! implausible declared size before allocating, so a hostile delta can neither panic nor make it
//! allocate more than its own length can justify.

/// Most bytes one instruction byte can produce: a copy with all three size bytes present.
const MAX_COPY: u64 = 0x00ff_ffff;

/// Reads a 7-bit little-endian varint at `*pos`, advancing it.
pub(super) fn varint(data: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = *data
            .get(*pos)
            .ok_or_else(|| format!("size varint at byte {} runs past the end", *pos))?;
        *pos += 1;
        let part = u64::from(byte & 0x7f);
        if shift >= 64 || (shift > 0 && part > u64::MAX >> shift) {
            return Err(format!("size varint ending at byte {} overflows", *pos));
        }
        value |= part << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
    }
}

/// Applies `delta` to `base`; the result may be at most `max_size` bytes. Errors name the byte
/// offset inside the (inflated) delta.
pub fn apply(base: &[u8], delta: &[u8], max_size: u64) -> Result<Vec<u8>, String> {
    let mut pos = 0usize;
    let base_size = varint(delta, &mut pos)?;
    if base_size != base.len() as u64 {
        return Err(format!(
            "delta expects a base of {base_size} bytes, the base has {}",
            base.len()
        ));
    }
    let result_size = varint(delta, &mut pos)?;
    if result_size > max_size {
        return Err(format!(
            "delta result of {result_size} bytes exceeds the limit of {max_size}"
        ));
    }
    // Each instruction byte yields at most one literal byte or one copy from the base.
    let per_byte = (base.len() as u64).clamp(1, MAX_COPY);
    let plausible = ((delta.len() - pos) as u64).saturating_mul(per_byte);
    if result_size > plausible {
        return Err(format!(
            "delta declares {result_size} bytes, more than its {} instruction bytes can produce",
            delta.len() - pos
        ));
    }
    let result_size = usize::try_from(result_size)
        .map_err(|_| format!("delta result of {result_size} bytes does not fit in memory"))?;
    let mut out = Vec::with_capacity(result_size);
    while pos < delta.len() {
        let at = pos;
        let op = delta[pos];
        pos += 1;
        if op & 0x80 != 0 {
            let mut offset = 0u64;
            let mut size = 0u64;
            for i in 0..7 {
                if op & (1 << i) == 0 {
                    continue;
                }
                let byte = *delta
                    .get(pos)
                    .ok_or_else(|| format!("copy instruction at byte {at} is truncated"))?;
                pos += 1;
                if i < 4 {
                    offset |= u64::from(byte) << (8 * i);
                } else {
                    size |= u64::from(byte) << (8 * (i - 4));
                }
            }
            if size == 0 {
                size = 0x10000;
            }
            let end = offset + size;
            if end > base.len() as u64 {
                return Err(format!(
                    "copy instruction at byte {at} reads {size} bytes at {offset}, outside the base of {} bytes",
                    base.len()
                ));
            }
            if (out.len() as u64) + size > result_size as u64 {
                return Err(format!(
                    "copy instruction at byte {at} overruns the declared size {result_size}"
                ));
            }
            // In bounds: end <= base.len(), which is a usize.
            out.extend_from_slice(&base[offset as usize..end as usize]);
        } else if op != 0 {
            let n = usize::from(op);
            let literal = delta
                .get(pos..pos + n)
                .ok_or_else(|| format!("insert instruction at byte {at} is truncated"))?;
            if out.len() + n > result_size {
                return Err(format!(
                    "insert instruction at byte {at} overruns the declared size {result_size}"
                ));
            }
            out.extend_from_slice(literal);
            pos += n;
        } else {
            return Err(format!("unexpected delta opcode 0 at byte {at}"));
        }
    }
    if out.len() != result_size {
        return Err(format!(
            "delta produced {} bytes, it declares {result_size}",
            out.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(base: u64, result: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for mut v in [base, result] {
            loop {
                let b = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    out.push(b);
                    break;
                }
                out.push(b | 0x80);
            }
        }
        out
    }

    #[test]
    fn copies_and_inserts() {
        let base = b"0123456789abcdef";
        let mut d = header(16, 9);
        d.extend_from_slice(&[0x91, 10, 3]); // copy offset 10, size 3: "abc"
        d.extend_from_slice(&[3, b'x', b'y', b'z']);
        d.extend_from_slice(&[0x90, 3]); // copy offset 0 (no bytes), size 3
        assert_eq!(apply(base, &d, 1 << 32).unwrap(), b"abcxyz012");
    }

    #[test]
    fn size_zero_means_64k() {
        let base = vec![7u8; 0x10000];
        let mut d = header(0x10000, 0x10000);
        d.push(0x80);
        assert_eq!(apply(&base, &d, 1 << 32).unwrap(), base);
    }

    #[test]
    fn rejects_malformed_deltas() {
        let base = b"0123456789";
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (header(9, 1), "expects a base of 9"),
            ([header(10, 1), vec![0]].concat(), "opcode 0"),
            ([header(10, 3), vec![0x91, 8, 3]].concat(), "outside the base"),
            ([header(10, 2), vec![0x90, 3]].concat(), "overruns"),
            ([header(10, 4), vec![0x90, 3]].concat(), "produced 3 bytes"),
            ([header(10, 3), vec![5, b'a']].concat(), "truncated"),
            ([header(10, 3), vec![0x93, 1]].concat(), "truncated"),
            ([header(10, 2), vec![2, b'a', b'b', 1, b'c']].concat(), "overruns"),
            (vec![0x80; 12], "overflows"),
            (vec![0x8a], "runs past the end"),
        ];
        for (delta, want) in cases {
            let err = apply(base, &delta, 1 << 32).unwrap_err();
            assert!(err.contains(want), "{delta:?}: {err}");
        }
    }

    #[test]
    fn refuses_huge_declared_sizes_before_allocating() {
        let base = b"0123456789";
        let err = apply(base, &header(10, (1 << 32) + 1), 1 << 32).unwrap_err();
        assert!(err.contains("exceeds the limit"), "{err}");
        // 4 GiB declared by a 3-byte instruction stream: implausible, refused up front.
        let d = [header(10, 1 << 31), vec![0x90, 10, 0x90]].concat();
        let err = apply(base, &d, 1 << 32).unwrap_err();
        assert!(err.contains("more than its 3 instruction bytes"), "{err}");
    }
}

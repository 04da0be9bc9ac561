//! Drivers for values merged whole: `binary`, `counter`, `lww`.

use super::{Driver, MergeContext};
use crate::merge::{trivial, trivial_with, Conflict, EqualChanges, MergeResult, Trivial};

/// The conflict of two different changes to an indivisible value.
pub(super) fn binary_rule(base: Option<&[u8]>) -> Conflict {
    Conflict::new(match base {
        Some(_) => "both sides changed the value differently",
        None => "add/add: both sides added different values",
    })
}

/// Values as opaque bytes: one side unchanged → the other; two different changes → conflict.
#[derive(Debug, Clone, Copy, Default)]
pub struct BinaryDriver;

impl Driver for BinaryDriver {
    fn merge(
        &self,
        _ctx: &MergeContext,
        base: Option<&[u8]>,
        ours: Option<&[u8]>,
        theirs: Option<&[u8]>,
    ) -> MergeResult<Option<Vec<u8>>> {
        match trivial(base, ours, theirs)? {
            Trivial::Resolved(v) => Ok(v.map(<[u8]>::to_vec)),
            Trivial::Diverged { base, .. } => Err(binary_rule(base)),
        }
    }
}

/// Decimal integer counters: `base + (ours − base) + (theirs − base)`, an absent base counting
/// as 0. Surrounding whitespace is ignored; the result ends with `\n` if either side's content
/// did. Content that is not an `i64`, and overflow, are conflicts. Equal changes count twice:
/// `10 → 11` on both sides is two increments, `12` (as Irmin's counter).
#[derive(Debug, Clone, Copy, Default)]
pub struct CounterDriver;

fn parse_counter(side: &str, bytes: &[u8]) -> Result<i64, Conflict> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .ok_or_else(|| {
            let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned();
            Conflict::new(format!("counter: {side} is not an integer: {shown:?}"))
        })
}

impl Driver for CounterDriver {
    fn merge(
        &self,
        _ctx: &MergeContext,
        base: Option<&[u8]>,
        ours: Option<&[u8]>,
        theirs: Option<&[u8]>,
    ) -> MergeResult<Option<Vec<u8>>> {
        let (base, ours, theirs) = match trivial_with(EqualChanges::Twice, base, ours, theirs)? {
            Trivial::Resolved(v) => return Ok(v.map(<[u8]>::to_vec)),
            Trivial::Diverged { base, ours, theirs } => (base, ours, theirs),
        };
        let b = base.map(|b| parse_counter("base", b)).transpose()?.unwrap_or(0);
        let o = parse_counter("ours", ours)?;
        let t = parse_counter("theirs", theirs)?;
        let sum = o
            .checked_add(t)
            .and_then(|s| s.checked_sub(b))
            .ok_or_else(|| Conflict::new(format!("counter overflow: {o} + {t} - {b}")))?;
        let mut out = sum.to_string().into_bytes();
        if ours.ends_with(b"\n") || theirs.ends_with(b"\n") {
            out.push(b'\n');
        }
        Ok(Some(out))
    }

    fn equal_changes(&self) -> EqualChanges {
        EqualChanges::Twice
    }
}

/// Last writer wins: when both sides changed the value, the side whose commit is later wins,
/// equal times going to the larger commit id, so every replica picks the same side. (Equal
/// stamps with different bytes — not possible for two real commits — go to the larger bytes.)
/// Deletions follow the shared rules: a deletion facing a modification is a conflict. Without
/// both sides' commits in the [`MergeContext`] the driver cannot decide and reports a conflict.
#[derive(Debug, Clone, Copy, Default)]
pub struct LwwDriver;

impl Driver for LwwDriver {
    fn merge(
        &self,
        ctx: &MergeContext,
        base: Option<&[u8]>,
        ours: Option<&[u8]>,
        theirs: Option<&[u8]>,
    ) -> MergeResult<Option<Vec<u8>>> {
        let (ours, theirs) = match trivial(base, ours, theirs)? {
            Trivial::Resolved(v) => return Ok(v.map(<[u8]>::to_vec)),
            Trivial::Diverged { ours, theirs, .. } => (ours, theirs),
        };
        let (Some((our_time, our_id)), Some((their_time, their_id))) = (&ctx.ours, &ctx.theirs) else {
            return Err(Conflict::new(
                "lww: the commits of both sides are needed to pick the last writer",
            ));
        };
        // Ids compare as lowercase hex, which orders them as their bytes do.
        let our_key = (our_time, our_id.to_ascii_lowercase(), ours);
        let their_key = (their_time, their_id.to_ascii_lowercase(), theirs);
        let winner = if our_key >= their_key { ours } else { theirs };
        Ok(Some(winner.to_vec()))
    }
}

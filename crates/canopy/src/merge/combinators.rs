//! Building blocks for typed merges: lift a merge of present values over presence, and compose
//! merges of parts into merges of wholes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{trivial, Conflict, Merge, MergeResult, Trivial};

/// A merge of present values lifted to optional ones; see [`option`].
#[derive(Clone, Copy)]
pub struct Lifted<F> {
    merge_values: F,
}

impl<F> fmt::Debug for Lifted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lifted")
    }
}

impl<T, F> Merge<T> for Lifted<F>
where
    T: PartialEq + Clone,
    F: Fn(Option<&T>, &T, &T) -> MergeResult<T>,
{
    fn merge(&self, base: Option<&T>, ours: Option<&T>, theirs: Option<&T>) -> MergeResult<Option<T>> {
        match trivial(base, ours, theirs)? {
            Trivial::Resolved(v) => Ok(v.cloned()),
            Trivial::Diverged { base, ours, theirs } => (self.merge_values)(base, ours, theirs).map(Some),
        }
    }
}

/// Lifts `merge_values`, which merges two present values given the base if there was one, to a
/// [`Merge`] over optional values: the shared rules of [`trivial`] decide presence (agreement,
/// one side unchanged, `modify/delete`), and `merge_values` is called only when both sides are
/// present and changed the value differently.
///
/// ```
/// use canopy::merge::{option, Merge};
///
/// // Keep the larger of two concurrent versions.
/// let max = option(|_base: Option<&u32>, ours: &u32, theirs: &u32| Ok(*ours.max(theirs)));
/// assert_eq!(max.merge(Some(&1), Some(&5), Some(&3)).unwrap(), Some(5));
/// assert_eq!(max.merge(Some(&1), None, Some(&1)).unwrap(), None);
/// assert!(max.merge(Some(&1), None, Some(&3)).is_err()); // modify/delete
/// ```
pub fn option<T, F>(merge_values: F) -> Lifted<F>
where
    T: PartialEq + Clone,
    F: Fn(Option<&T>, &T, &T) -> MergeResult<T>,
{
    Lifted { merge_values }
}

/// Values as indivisible wholes: a side that kept the base takes the other side's value; two
/// different changes conflict.
///
/// ```
/// use canopy::merge::{atomic, Merge};
///
/// let m = atomic::<String>();
/// let (a, b, c) = ("a".to_string(), "b".to_string(), "c".to_string());
/// assert_eq!(m.merge(Some(&a), Some(&a), Some(&b)).unwrap(), Some(b.clone()));
/// assert!(m.merge(Some(&a), Some(&b), Some(&c)).is_err());
/// ```
pub fn atomic<T: PartialEq + Clone>() -> impl Merge<T> {
    option(|base: Option<&T>, _: &T, _: &T| -> MergeResult<T> {
        Err(Conflict::new(match base {
            Some(_) => "both sides changed the value differently",
            None => "add/add: both sides added different values",
        }))
    })
}

/// Integer counters: `base + (ours − base) + (theirs − base)`, an absent base counting as 0.
/// Overflow is a conflict. Equal changes on both sides count once (the shared rules see equal
/// sides before any arithmetic).
///
/// ```
/// use canopy::merge::{counter, Merge};
///
/// assert_eq!(counter().merge(Some(&10), Some(&15), Some(&13)).unwrap(), Some(18));
/// assert_eq!(counter().merge(None, Some(&2), Some(&3)).unwrap(), Some(5));
/// ```
pub fn counter() -> impl Merge<i64> {
    option(|base: Option<&i64>, ours: &i64, theirs: &i64| {
        let base = base.copied().unwrap_or(0);
        ours.checked_add(*theirs)
            .and_then(|sum| sum.checked_sub(base))
            .ok_or_else(|| Conflict::new(format!("counter overflow: {ours} + {theirs} - {base}")))
    })
}

/// Sets: each element added by a side is in the result, each element removed by a side is not.
/// An element added by one side and removed by the other cannot happen (removal needs it in the
/// base, addition needs it absent), so set merges never conflict once both sides are present.
///
/// ```
/// use std::collections::BTreeSet;
/// use canopy::merge::{set, Merge};
///
/// let s = |v: &[u8]| v.iter().copied().collect::<BTreeSet<u8>>();
/// let merged = set().merge(Some(&s(&[1, 2, 3])), Some(&s(&[1, 2, 4])), Some(&s(&[2, 3, 5]))).unwrap();
/// assert_eq!(merged, Some(s(&[2, 4, 5])));
/// ```
pub fn set<T: Ord + Clone>() -> impl Merge<BTreeSet<T>> {
    option(
        |base: Option<&BTreeSet<T>>, ours: &BTreeSet<T>, theirs: &BTreeSet<T>| {
            Ok(merge_sets(base, ours, theirs))
        },
    )
}

pub(crate) fn merge_sets<T: Ord + Clone>(
    base: Option<&BTreeSet<T>>,
    ours: &BTreeSet<T>,
    theirs: &BTreeSet<T>,
) -> BTreeSet<T> {
    let in_base = |e: &T| base.is_some_and(|b| b.contains(e));
    let kept_by_both = ours.intersection(theirs);
    let added_by_ours = ours.iter().filter(|e| !theirs.contains(e) && !in_base(e));
    let added_by_theirs = theirs.iter().filter(|e| !ours.contains(e) && !in_base(e));
    kept_by_both
        .chain(added_by_ours)
        .chain(added_by_theirs)
        .cloned()
        .collect()
}

/// Pairs, component by component. A component merge that ends with the component absent is a
/// conflict (a pair has both components).
///
/// ```
/// use canopy::merge::{atomic, counter, pair, Merge};
///
/// let m = pair(atomic::<String>(), counter());
/// let base = ("draft".to_string(), 1);
/// let ours = ("final".to_string(), 1);
/// let theirs = ("draft".to_string(), 4);
/// assert_eq!(m.merge(Some(&base), Some(&ours), Some(&theirs)).unwrap(), Some(("final".to_string(), 4)));
/// ```
pub fn pair<A, B, MA, MB>(first: MA, second: MB) -> impl Merge<(A, B)>
where
    A: PartialEq + Clone,
    B: PartialEq + Clone,
    MA: Merge<A>,
    MB: Merge<B>,
{
    option(move |base: Option<&(A, B)>, ours: &(A, B), theirs: &(A, B)| {
        let a = first
            .merge(base.map(|b| &b.0), Some(&ours.0), Some(&theirs.0))
            .map_err(|c| c.within("first of pair"))?;
        let b = second
            .merge(base.map(|b| &b.1), Some(&ours.1), Some(&theirs.1))
            .map_err(|c| c.within("second of pair"))?;
        match (a, b) {
            (Some(a), Some(b)) => Ok((a, b)),
            _ => Err(Conflict::new("a component of the pair would be absent")),
        }
    })
}

/// Maps keyed by string, merged key by key with `inner` (which sees a key's absence as `None`,
/// so additions and removals on either side merge too). Every conflicting key is named in the
/// conflict.
///
/// ```
/// use std::collections::BTreeMap;
/// use canopy::merge::{atomic, map, Merge};
///
/// let m = map(atomic::<u8>());
/// let base = BTreeMap::from([("a".to_string(), 1), ("b".to_string(), 2)]);
/// let ours = BTreeMap::from([("a".to_string(), 9), ("b".to_string(), 2)]);
/// let theirs = BTreeMap::from([("a".to_string(), 1)]);
/// let merged = m.merge(Some(&base), Some(&ours), Some(&theirs)).unwrap();
/// assert_eq!(merged, Some(BTreeMap::from([("a".to_string(), 9)])));
/// ```
pub fn map<V, M>(inner: M) -> impl Merge<BTreeMap<String, V>>
where
    V: PartialEq + Clone,
    M: Merge<V>,
{
    option(
        move |base: Option<&BTreeMap<String, V>>,
              ours: &BTreeMap<String, V>,
              theirs: &BTreeMap<String, V>| {
            let keys: BTreeSet<&String> = ours
                .keys()
                .chain(theirs.keys())
                .chain(base.into_iter().flat_map(|b| b.keys()))
                .collect();
            let mut merged = BTreeMap::new();
            let mut conflicts = Vec::new();
            for key in keys {
                let b = base.and_then(|b| b.get(key));
                match inner.merge(b, ours.get(key), theirs.get(key)) {
                    Ok(Some(v)) => {
                        merged.insert(key.clone(), v);
                    }
                    Ok(None) => {}
                    Err(c) => conflicts.push(c.within(format_args!("key {key:?}"))),
                }
            }
            if conflicts.is_empty() {
                Ok(merged)
            } else {
                Err(Conflict::new(
                    conflicts
                        .iter()
                        .map(|c| c.reason.as_str())
                        .collect::<Vec<_>>()
                        .join("; "),
                ))
            }
        },
    )
}

/// Values of type `T` stored as JSON bytes (as [`Branch::set_json`](crate::Branch::set_json)
/// writes them), merged as `T` with `inner`; see [`typed_json`].
pub struct TypedJson<T, M> {
    inner: M,
    _type: PhantomData<fn() -> T>,
}

impl<T, M> fmt::Debug for TypedJson<T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TypedJson<{}>", std::any::type_name::<T>())
    }
}

/// Merges JSON bytes by decoding them as `T` with serde, merging the values with `inner`, and
/// encoding the result as pretty JSON with a final newline. Bytes that do not decode as `T` are
/// a conflict. When the shared rules decide the merge, the bytes are not decoded at all.
///
/// ```
/// use canopy::merge::{counter, typed_json, Merge};
///
/// let m = typed_json::<i64, _>(counter());
/// let merged = m.merge(Some(&b"10".to_vec()), Some(&b"15".to_vec()), Some(&b"13".to_vec())).unwrap();
/// assert_eq!(merged, Some(b"18\n".to_vec()));
/// ```
pub fn typed_json<T, M>(inner: M) -> TypedJson<T, M>
where
    T: Serialize + DeserializeOwned,
    M: Merge<T>,
{
    TypedJson {
        inner,
        _type: PhantomData,
    }
}

impl<T, M> Merge<Vec<u8>> for TypedJson<T, M>
where
    T: Serialize + DeserializeOwned,
    M: Merge<T>,
{
    fn merge(
        &self,
        base: Option<&Vec<u8>>,
        ours: Option<&Vec<u8>>,
        theirs: Option<&Vec<u8>>,
    ) -> MergeResult<Option<Vec<u8>>> {
        let (base, ours, theirs) = match trivial(base, ours, theirs)? {
            Trivial::Resolved(v) => return Ok(v.cloned()),
            Trivial::Diverged { base, ours, theirs } => (base, ours, theirs),
        };
        let decode = |side: &str, bytes: &[u8]| -> MergeResult<T> {
            serde_json::from_slice(bytes).map_err(|e| {
                Conflict::new(format!(
                    "{side} does not decode as {}: {e}",
                    std::any::type_name::<T>()
                ))
            })
        };
        let base = base.map(|b| decode("base", b)).transpose()?;
        let ours = decode("ours", ours)?;
        let theirs = decode("theirs", theirs)?;
        match self.inner.merge(base.as_ref(), Some(&ours), Some(&theirs))? {
            None => Ok(None),
            Some(v) => {
                let mut bytes = serde_json::to_vec_pretty(&v)
                    .map_err(|e| Conflict::new(format!("the merged value does not encode as JSON: {e}")))?;
                bytes.push(b'\n');
                Ok(Some(bytes))
            }
        }
    }
}

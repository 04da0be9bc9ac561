//! Three-way merge of values: the functions that let diverged branches reconcile by meaning.
//!
//! A merge function sees the common ancestor (`base`) and the two sides (`ours`, `theirs`), each
//! possibly absent (a value added on one side, removed on the other, …), and returns the merged
//! value or a [`Conflict`]. A conflict is an ordinary value, not an error: the caller reports it
//! with the path it came from, and nothing is lost silently.
//!
//! The store-level parts — [`lca`] (merge bases) and [`tree`] (path-by-path tree merge) — use
//! the store-independent ones:
//!
//! - [`Merge`], the merge of typed values, with combinators: [`option`] lifts a merge of present
//!   values to one over presence, [`atomic`], [`pair`], [`map`] (key by key), [`typed_json`]
//!   (serde values stored as JSON), [`counter`] and [`set`];
//! - [`drivers`]: merges of raw blob bytes chosen per path by name (`text`, `binary`, `json`,
//!   `counter`, `lww`, `set`, `log`, `union`, or one registered by the user);
//! - [`attributes`]: which driver name a `.gitattributes` file assigns to a path;
//! - [`text`]: the line-based three-way merge that gives the bytes `git merge-file` gives.
//!
//! Every merge here starts with the same rules ([`trivial`]): if one side kept the base, the
//! other side wins; if one side deleted what the other modified, that is a `modify/delete`
//! conflict. So every merge satisfies `merge(b, b, x) = x` and `merge(b, x, b) = x`.
//!
//! Whether both sides making the *same* change is one change or two depends on the type
//! ([`EqualChanges`]): for a state — a register, a set, a JSON document, text — setting it to `x`
//! twice is setting it to `x` once, so `merge(b, x, x) = x`; for an operation — a counter's
//! increment, a queue's push, a log's append — it happened twice: a counter at 10 taken to 11 on
//! both sides merges to 12. Drivers declare which they are, and the tree merge asks the driver
//! even for paths that both sides changed identically when the answer is "twice".
//!
//! ```
//! use std::collections::BTreeMap;
//! use canopy::merge::{counter, map, Merge};
//!
//! let hits = |a: i64, b: i64| BTreeMap::from([("home".to_string(), a), ("about".to_string(), b)]);
//! let base = hits(10, 1);
//! let ours = hits(15, 1); // five more visits to "home" here…
//! let theirs = hits(13, 4); // …three more there, and three to "about"
//! let merged = map(counter()).merge(Some(&base), Some(&ours), Some(&theirs)).unwrap();
//! assert_eq!(merged, Some(hits(18, 4)));
//! ```

pub mod attributes;
mod combinators;
pub mod drivers;
pub mod lca;
pub mod text;
pub mod tree;
mod wildmatch;
pub(crate) mod xdiff;

#[cfg(test)]
mod tests;

use std::fmt;

pub use attributes::{AttrValue, Attributes};
pub use combinators::{atomic, counter, map, option, pair, set, typed_json, Lifted, TypedJson};
pub use drivers::{Driver, Drivers, Favor, MergeContext};

/// Why two sides could not be reconciled. A value, returned in [`MergeResult`]'s `Err`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Conflict {
    /// One line a person can act on, e.g. `both sides changed lines 3-5`.
    pub reason: String,
}

impl Conflict {
    pub fn new(reason: impl Into<String>) -> Conflict {
        Conflict {
            reason: reason.into(),
        }
    }

    /// The same conflict with `context` in front of its reason (`key "a": …`).
    pub fn within(self, context: impl fmt::Display) -> Conflict {
        Conflict {
            reason: format!("{context}: {}", self.reason),
        }
    }
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Conflict {}

/// The merged value, or why there is none.
pub type MergeResult<T> = Result<T, Conflict>;

/// A three-way merge of optional values of type `T`.
///
/// `None` means absent: `base = None` and both sides present is an add/add, a side `None` where
/// the base is present is a deletion. The result is `Ok(None)` when the merged value is absent.
/// Closures of the right shape are merges too.
pub trait Merge<T> {
    fn merge(&self, base: Option<&T>, ours: Option<&T>, theirs: Option<&T>) -> MergeResult<Option<T>>;
}

impl<T, F> Merge<T> for F
where
    F: Fn(Option<&T>, Option<&T>, Option<&T>) -> MergeResult<Option<T>>,
{
    fn merge(&self, base: Option<&T>, ours: Option<&T>, theirs: Option<&T>) -> MergeResult<Option<T>> {
        self(base, ours, theirs)
    }
}

/// Whether the same change made on both sides of a merge is one change or two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EqualChanges {
    /// A state: both sides setting the same value set it once (`merge(b, x, x) = x`).
    #[default]
    Once,
    /// An operation: both sides doing the same thing did it twice (a counter's `10 → 11` on both
    /// sides is two increments, `12`); the merge function sees such changes.
    Twice,
}

/// The outcome of the rules every merge starts with; see [`trivial`].
#[derive(Debug, PartialEq, Eq)]
pub enum Trivial<'a, T: ?Sized> {
    /// Decided without looking inside the values: this is the result (`None`: absent).
    Resolved(Option<&'a T>),
    /// Both sides are present and changed the value differently; `base` is `None` when both
    /// added it. This is where a merge function does its work.
    Diverged {
        base: Option<&'a T>,
        ours: &'a T,
        theirs: &'a T,
    },
}

/// Applies the rules shared by every merge:
///
/// 1. both sides equal (including both absent) → that;
/// 2. one side equal to the base → the other side;
/// 3. one side absent and the other changed → `Err`, a `modify/delete` conflict;
/// 4. otherwise → [`Trivial::Diverged`].
///
/// ```
/// use canopy::merge::{trivial, Trivial};
///
/// assert_eq!(trivial(Some("a"), Some("a"), Some("b")).unwrap(), Trivial::Resolved(Some("b")));
/// assert_eq!(trivial(Some("a"), None, Some("a")).unwrap(), Trivial::Resolved(None));
/// assert!(trivial(Some("a"), None, Some("b")).is_err());
/// ```
pub fn trivial<'a, T: PartialEq + ?Sized>(
    base: Option<&'a T>,
    ours: Option<&'a T>,
    theirs: Option<&'a T>,
) -> MergeResult<Trivial<'a, T>> {
    trivial_with(EqualChanges::Once, base, ours, theirs)
}

/// [`trivial`] for a type whose equal changes count as `equal` says: with
/// [`EqualChanges::Twice`], rule 1 applies only to equal sides that are both absent (both deleted
/// the value), and two equal present sides that differ from the base are
/// [`Trivial::Diverged`].
///
/// ```
/// use canopy::merge::{trivial_with, EqualChanges, Trivial};
///
/// let (b, x) = (Some(&10), Some(&11));
/// assert_eq!(trivial_with(EqualChanges::Once, b, x, x).unwrap(), Trivial::Resolved(x));
/// assert!(matches!(trivial_with(EqualChanges::Twice, b, x, x).unwrap(), Trivial::Diverged { .. }));
/// ```
pub fn trivial_with<'a, T: PartialEq + ?Sized>(
    equal: EqualChanges,
    base: Option<&'a T>,
    ours: Option<&'a T>,
    theirs: Option<&'a T>,
) -> MergeResult<Trivial<'a, T>> {
    if ours == theirs && (equal == EqualChanges::Once || ours.is_none() || ours == base) {
        return Ok(Trivial::Resolved(ours));
    }
    if ours == base {
        return Ok(Trivial::Resolved(theirs));
    }
    if theirs == base {
        return Ok(Trivial::Resolved(ours));
    }
    match (ours, theirs) {
        (Some(ours), Some(theirs)) => Ok(Trivial::Diverged { base, ours, theirs }),
        (None, _) => Err(Conflict::new(
            "modify/delete: deleted in ours, modified in theirs",
        )),
        (_, None) => Err(Conflict::new(
            "modify/delete: modified in ours, deleted in theirs",
        )),
    }
}

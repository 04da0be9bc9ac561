//! Merge drivers: three-way merges of raw blob bytes, chosen per path by name.
//!
//! A tree merge calls a driver for each path that both sides changed:
//! `drivers.select(&attributes.merge_attr(path)).merge(&ctx, base, ours, theirs)`. Every built-in
//! driver starts with the shared rules of [`trivial`](super::trivial) — so a side that kept the
//! base takes the other side's bytes unchanged, and a deletion facing a modification is a
//! `modify/delete` conflict — and only then applies its own rule. When both sides added the path
//! (`base = None`), the rule runs with no base.
//!
//! | name | both sides changed | commutative |
//! |---|---|---|
//! | `text` | line-based three-way merge; clean exactly where `git merge` is, with the same bytes; content with a NUL in its first 8000 bytes is merged by the `binary` rule | no (as Git) |
//! | `binary` | conflict | yes |
//! | `json` | objects key by key, recursively; other values by the `binary` rule; output sorted-key pretty JSON + `\n`; invalid JSON is a conflict | yes |
//! | `counter` | `base + (ours − base) + (theirs − base)` of decimal integers (absent base = 0) | yes |
//! | `lww` | the side with the later commit time, ties broken by the larger commit id | yes |
//! | `set` | lines as set elements; both sides' additions and removals; sorted, no duplicates | yes |
//! | `log` | base lines, then both sides' appended lines ordered by leading timestamp, then bytes | yes |
//! | `union` | as `text`, conflicting lines resolved as ours then theirs | no (as Git) |
//! | `register` | JSON values stamped `written_at_ms` + `replica`: the larger stamp | yes |
//!
//! `counter` and `log` count equal changes on both sides twice ([`EqualChanges::Twice`]: two
//! increments, two appends); the others once.
//!
//! With `-X ours|theirs` ([`MergeContext::favor`]) a conflict of two present values resolves to
//! the favoured side: `text` (and `union`) keep the other side's clean hunks and take the favoured
//! side's lines where they conflict, as `git merge -X` does; a driver that still reports a
//! conflict gets the favoured side's whole value from [`Drivers::merge`]. A `modify/delete`
//! conflict stays a conflict, as with Git.
//!
//! Users register their own drivers under any name with [`Drivers::register`] (on a store:
//! [`Repo::register`](crate::Repo::register)); any
//! `Fn(&MergeContext, Option<&[u8]>, Option<&[u8]>, Option<&[u8]>) -> MergeResult<Option<Vec<u8>>>`
//! is a driver, and [`from_merge`] turns a typed [`Merge`](super::Merge) of bytes into one.

mod json;
mod lines;
mod scalar;
mod text;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

pub use json::{canonical_json, merge_json_values, JsonDriver, RegisterDriver};
pub use lines::{LogDriver, SetDriver};
pub use scalar::{BinaryDriver, CounterDriver, LwwDriver};
pub use text::{TextDriver, UnionDriver};

use super::attributes::AttrValue;
use super::{Conflict, EqualChanges, Merge, MergeResult};

/// Which side a conflict resolves to (`-X ours` / `-X theirs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Favor {
    Ours,
    Theirs,
}

/// What a driver knows besides the three versions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeContext {
    /// The path being merged, `/`-separated, relative to the root of the tree.
    pub path: String,
    /// Our side's commit as (commit time in seconds since the epoch, full hex id), when known;
    /// what `lww` decides by.
    pub ours: Option<(i64, String)>,
    /// Their side's commit, likewise.
    pub theirs: Option<(i64, String)>,
    /// The side a conflict should resolve to, when the user asked for one (`-X ours|theirs`).
    pub favor: Option<Favor>,
}

impl MergeContext {
    pub fn new(path: impl Into<String>) -> MergeContext {
        MergeContext {
            path: path.into(),
            ours: None,
            theirs: None,
            favor: None,
        }
    }

    /// The same context resolving conflicts to `favor`'s side.
    pub fn with_favor(mut self, favor: Option<Favor>) -> MergeContext {
        self.favor = favor;
        self
    }

    /// The same context with the two sides' commits, each as (commit time, hex id).
    pub fn with_commits(mut self, ours: (i64, String), theirs: (i64, String)) -> MergeContext {
        self.ours = Some(ours);
        self.theirs = Some(theirs);
        self
    }
}

/// A three-way merge of blob bytes. `None` is an absent value (see [`Merge`]).
pub trait Driver: Send + Sync {
    fn merge(
        &self,
        ctx: &MergeContext,
        base: Option<&[u8]>,
        ours: Option<&[u8]>,
        theirs: Option<&[u8]>,
    ) -> MergeResult<Option<Vec<u8>>>;

    /// Whether equal changes on both sides are one change or two. With
    /// [`EqualChanges::Twice`] the tree merge calls [`merge`](Driver::merge) for a path even when
    /// both sides hold the same new value.
    fn equal_changes(&self) -> EqualChanges {
        EqualChanges::Once
    }
}

impl<F> Driver for F
where
    F: Fn(&MergeContext, Option<&[u8]>, Option<&[u8]>, Option<&[u8]>) -> MergeResult<Option<Vec<u8>>>
        + Send
        + Sync,
{
    fn merge(
        &self,
        ctx: &MergeContext,
        base: Option<&[u8]>,
        ours: Option<&[u8]>,
        theirs: Option<&[u8]>,
    ) -> MergeResult<Option<Vec<u8>>> {
        self(ctx, base, ours, theirs)
    }
}

/// A driver made from a typed merge of bytes (for example [`typed_json`](super::typed_json));
/// see [`from_merge`].
pub struct FromMerge<M>(M);

impl<M> fmt::Debug for FromMerge<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FromMerge")
    }
}

/// Wraps a [`Merge`] of byte vectors as a [`Driver`] (the context is not used).
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use canopy::merge::{drivers::from_merge, option, typed_json, Drivers, MergeContext};
///
/// #[derive(Serialize, Deserialize, Clone, PartialEq)]
/// struct HighScore { name: String, points: u64 }
///
/// let best = option(|_: Option<&HighScore>, a: &HighScore, b: &HighScore| {
///     Ok(if a.points >= b.points { a.clone() } else { b.clone() })
/// });
/// let mut drivers = Drivers::builtin();
/// drivers.register("highscore", from_merge(typed_json::<HighScore, _>(best)));
///
/// let base = br#"{"name":"ann","points":10}"#;
/// let ours = br#"{"name":"bob","points":30}"#;
/// let theirs = br#"{"name":"cat","points":20}"#;
/// let merged = drivers.get("highscore").unwrap()
///     .merge(&MergeContext::new("scores/best"), Some(base), Some(ours), Some(theirs))
///     .unwrap().unwrap();
/// assert!(String::from_utf8(merged).unwrap().contains("bob"));
/// ```
pub fn from_merge<M: Merge<Vec<u8>> + Send + Sync>(merge: M) -> FromMerge<M> {
    FromMerge(merge)
}

/// A driver that counts equal changes twice (see [`EqualChanges`]): wraps another driver or a
/// closure.
///
/// ```
/// use canopy::merge::drivers::twice;
/// use canopy::merge::{Driver, EqualChanges, MergeContext};
///
/// let appends = twice(|_: &MergeContext, b: Option<&[u8]>, o: Option<&[u8]>, t: Option<&[u8]>| {
///     let b = b.unwrap_or_default();
///     let mut out = o.unwrap_or_default().to_vec();
///     out.extend_from_slice(&t.unwrap_or_default()[b.len()..]);
///     Ok(Some(out))
/// });
/// assert_eq!(appends.equal_changes(), EqualChanges::Twice);
/// let merged = appends.merge(&MergeContext::new("l"), Some(b"a"), Some(b"ab"), Some(b"ab")).unwrap();
/// assert_eq!(merged, Some(b"abb".to_vec()));
/// ```
pub fn twice<D: Driver>(driver: D) -> Twice<D> {
    Twice(driver)
}

/// See [`twice`].
#[derive(Debug, Clone)]
pub struct Twice<D>(pub D);

impl<D: Driver> Driver for Twice<D> {
    fn merge(
        &self,
        ctx: &MergeContext,
        base: Option<&[u8]>,
        ours: Option<&[u8]>,
        theirs: Option<&[u8]>,
    ) -> MergeResult<Option<Vec<u8>>> {
        self.0.merge(ctx, base, ours, theirs)
    }

    fn equal_changes(&self) -> EqualChanges {
        EqualChanges::Twice
    }
}

impl<M: Merge<Vec<u8>> + Send + Sync> Driver for FromMerge<M> {
    fn merge(
        &self,
        _ctx: &MergeContext,
        base: Option<&[u8]>,
        ours: Option<&[u8]>,
        theirs: Option<&[u8]>,
    ) -> MergeResult<Option<Vec<u8>>> {
        let owned = |v: Option<&[u8]>| v.map(<[u8]>::to_vec);
        self.0
            .merge(owned(base).as_ref(), owned(ours).as_ref(), owned(theirs).as_ref())
    }
}

/// Drivers by name, and the rule that picks one for a path's `merge` attribute. Cheap to clone
/// (drivers are shared).
#[derive(Clone)]
pub struct Drivers {
    by_name: BTreeMap<String, Arc<dyn Driver>>,
    default: String,
}

impl fmt::Debug for Drivers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drivers")
            .field("names", &self.by_name.keys().collect::<Vec<_>>())
            .field("default", &self.default)
            .finish()
    }
}

impl Default for Drivers {
    fn default() -> Drivers {
        Drivers::builtin()
    }
}

impl Drivers {
    /// No drivers at all (the default name is still `text`).
    pub fn empty() -> Drivers {
        Drivers {
            by_name: BTreeMap::new(),
            default: "text".to_string(),
        }
    }

    /// The built-in drivers: `text`, `binary`, `json`, `counter`, `lww`, `set`, `log`, `union`,
    /// `register`.
    pub fn builtin() -> Drivers {
        let mut d = Drivers::empty();
        d.register("text", TextDriver::default());
        d.register("binary", BinaryDriver);
        d.register("json", JsonDriver);
        d.register("counter", CounterDriver);
        d.register("lww", LwwDriver);
        d.register("set", SetDriver);
        d.register("log", LogDriver);
        d.register("union", UnionDriver::default());
        d.register("register", RegisterDriver);
        d
    }

    /// Registers `driver` under `name`, replacing (and returning) one of that name.
    pub fn register(
        &mut self,
        name: impl Into<String>,
        driver: impl Driver + 'static,
    ) -> Option<Arc<dyn Driver>> {
        self.by_name.insert(name.into(), Arc::new(driver))
    }

    /// The driver registered under `name`.
    pub fn get(&self, name: &str) -> Option<&dyn Driver> {
        self.by_name.get(name).map(|d| d.as_ref())
    }

    /// The registered names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// The name used for paths whose `merge` attribute is unspecified.
    pub fn default_name(&self) -> &str {
        &self.default
    }

    /// The name used for paths whose `merge` attribute is unspecified (Git's `merge.default`;
    /// `text` unless changed).
    pub fn set_default(&mut self, name: impl Into<String>) {
        self.default = name.into();
    }

    /// Merges with the driver registered as `name` (an unknown name falls back to `text`, as in
    /// Git). With no such driver and no `text` either, the result is a conflict saying so.
    ///
    /// With [`MergeContext::favor`] set, a conflict the driver still reports between two present
    /// values resolves to the favoured side's value (a `modify/delete` stays a conflict).
    pub fn merge(
        &self,
        name: &str,
        ctx: &MergeContext,
        base: Option<&[u8]>,
        ours: Option<&[u8]>,
        theirs: Option<&[u8]>,
    ) -> MergeResult<Option<Vec<u8>>> {
        let merged = match self.select(&AttrValue::Value(name.to_string())) {
            Some((_, driver)) => driver.merge(ctx, base, ours, theirs),
            None => Err(Conflict::new(format!("no merge driver named {name:?}"))),
        };
        match (merged, ctx.favor, ours, theirs) {
            (Err(_), Some(Favor::Ours), Some(o), Some(_)) => Ok(Some(o.to_vec())),
            (Err(_), Some(Favor::Theirs), Some(_), Some(t)) => Ok(Some(t.to_vec())),
            (other, ..) => other,
        }
    }

    /// How the driver `name` (after the same fallback as [`Drivers::merge`]) counts equal
    /// changes on both sides.
    pub fn equal_changes(&self, name: &str) -> EqualChanges {
        self.select(&AttrValue::Value(name.to_string()))
            .map_or(EqualChanges::Once, |(_, d)| d.equal_changes())
    }

    /// Picks the driver for a `merge` attribute as Git does: set → `text`, unset → `binary`,
    /// unspecified → the default, a name → that driver; a name nobody registered falls back to
    /// `text`. Returns the name actually used, or `None` if not even `text` is registered.
    pub fn select(&self, merge_attr: &AttrValue) -> Option<(&str, &dyn Driver)> {
        let wanted = merge_attr.merge_driver().unwrap_or(&self.default);
        [wanted, "text"]
            .into_iter()
            .find_map(|name| self.by_name.get_key_value(name))
            .map(|(name, driver)| (name.as_str(), driver.as_ref()))
    }
}

//! Typed values: a type with its encoding and its three-way merge, as Irmin's `Contents`.
//!
//! A [`Contents`] type says how it is stored (bytes that `git show` displays meaningfully), how
//! it is read back, and how three versions of it merge: `merge(base, ours, theirs)` returns the
//! merged value or a [`Conflict`]. [`Repo::register_contents`] binds the type to its driver name
//! ([`Contents::DRIVER`]), which `.gitattributes` lines use (`scores/* merge=highscore`), so every
//! merge the store makes — [`Branch::merge`](crate::Branch::merge), transactions on a moved
//! head, pulls, the server's merges, `git push -o merge` — decodes both sides, calls the type's
//! merge and stores its encoding. [`Branch::get_as`](crate::Branch::get_as) and
//! [`Branch::set_as`](crate::Branch::set_as) read and write typed values.
//!
//! Any `serde` type is a [`Contents`] through [`Json`]: pretty JSON on disk, merged field by
//! field (objects key by key, recursively; a field both sides changed differently is a
//! conflict), with the built-in `json` driver — no code to write.
//!
//! ```
//! use canopy::contents::{Contents, CodecError};
//! use canopy::merge::{EqualChanges, MergeContext, MergeResult};
//! use canopy::{HashKind, Path, Repo};
//! use canopy::store::{CommitOptions, MergeOptions};
//!
//! /// The highest score seen on any replica.
//! #[derive(Debug, PartialEq)]
//! struct MaxScore(u64);
//!
//! impl Contents for MaxScore {
//!     const DRIVER: &'static str = "max-score";
//!     fn encode(&self) -> Result<Vec<u8>, CodecError> {
//!         Ok(format!("{}\n", self.0).into_bytes())
//!     }
//!     fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
//!         let text = std::str::from_utf8(bytes).map_err(CodecError::new)?;
//!         text.trim().parse().map(MaxScore).map_err(CodecError::new)
//!     }
//!     fn merge(_: &MergeContext, _base: Option<&Self>, ours: &Self, theirs: &Self) -> MergeResult<Self> {
//!         Ok(MaxScore(ours.0.max(theirs.0)))
//!     }
//! }
//!
//! let repo = Repo::in_memory(HashKind::Sha1);
//! repo.register_contents::<MaxScore>();
//! let main = repo.branch("main")?;
//! let best = Path::parse("best")?;
//! let msg = CommitOptions::message;
//! main.set(&Path::parse(".gitattributes")?, "/best merge=max-score\n", &msg("bind"))?;
//! main.set_as(&best, &MaxScore(10), &msg("10"))?;
//! let other = repo.create_branch("other", main.head()?.unwrap())?;
//! main.set_as(&best, &MaxScore(30), &msg("30"))?;
//! other.set_as(&best, &MaxScore(20), &msg("20"))?;
//! main.merge(other.head()?.unwrap(), &MergeOptions::default())?;
//! assert_eq!(main.get_as::<MaxScore>(&best)?, Some(MaxScore(30)));
//! # Ok::<(), canopy::store::Error>(())
//! ```

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::merge::drivers::merge_json_values;
use crate::merge::{trivial_with, Conflict, Driver, EqualChanges, MergeContext, MergeResult, Trivial};
use crate::Repo;

/// Why a value cannot be encoded, or stored bytes are not a value of a type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

impl CodecError {
    pub fn new(reason: impl fmt::Display) -> CodecError {
        CodecError(reason.to_string())
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

/// A value type stored in a Canopy tree: its encoding and its three-way merge.
pub trait Contents: Sized + Send + Sync + 'static {
    /// The merge driver name that binds this type to paths in `.gitattributes`
    /// (`path merge=DRIVER`); see [`Repo::register_contents`].
    const DRIVER: &'static str;

    /// Whether both sides making the same change is one change (a state) or two (an operation).
    const EQUAL_CHANGES: EqualChanges = EqualChanges::Once;

    /// The bytes stored for the value; text that `git show` displays meaningfully is best.
    fn encode(&self) -> Result<Vec<u8>, CodecError>;

    /// The value stored as `bytes`.
    fn decode(bytes: &[u8]) -> Result<Self, CodecError>;

    /// Merges two present versions that changed differently (or, for
    /// [`EqualChanges::Twice`], equally); `base` is `None` when both sides added the value.
    /// The shared rules decide every other case first: a side that kept the base takes the
    /// other side, and a deletion facing a change is a `modify/delete` conflict.
    fn merge(ctx: &MergeContext, base: Option<&Self>, ours: &Self, theirs: &Self) -> MergeResult<Self>;
}

/// The merge driver of a [`Contents`] type: decode the three versions, merge, encode.
pub struct ContentsDriver<T>(PhantomData<fn() -> T>);

impl<T> Default for ContentsDriver<T> {
    fn default() -> ContentsDriver<T> {
        ContentsDriver(PhantomData)
    }
}

impl<T> fmt::Debug for ContentsDriver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentsDriver<{}>", std::any::type_name::<T>())
    }
}

impl<T: Contents> Driver for ContentsDriver<T> {
    fn merge(
        &self,
        ctx: &MergeContext,
        base: Option<&[u8]>,
        ours: Option<&[u8]>,
        theirs: Option<&[u8]>,
    ) -> MergeResult<Option<Vec<u8>>> {
        let (base, ours, theirs) = match trivial_with(T::EQUAL_CHANGES, base, ours, theirs)? {
            Trivial::Resolved(v) => return Ok(v.map(<[u8]>::to_vec)),
            Trivial::Diverged { base, ours, theirs } => (base, ours, theirs),
        };
        let decode = |side: &str, bytes: &[u8]| {
            T::decode(bytes).map_err(|e| Conflict::new(format!("{}: {side} cannot be read: {e}", T::DRIVER)))
        };
        let base = base.map(|b| decode("base", b)).transpose()?;
        let merged = T::merge(
            ctx,
            base.as_ref(),
            &decode("ours", ours)?,
            &decode("theirs", theirs)?,
        )?;
        let bytes = merged
            .encode()
            .map_err(|e| Conflict::new(format!("{}: the merged value cannot be stored: {e}", T::DRIVER)))?;
        Ok(Some(bytes))
    }

    fn equal_changes(&self) -> EqualChanges {
        T::EQUAL_CHANGES
    }
}

impl Repo {
    /// Registers `T`'s merge under [`T::DRIVER`](Contents::DRIVER) for every merge of this store.
    pub fn register_contents<T: Contents>(&self) {
        self.register(T::DRIVER, ContentsDriver::<T>::default());
    }
}

/// Any `serde` type as [`Contents`]: stored as pretty JSON (sorted as the type's fields are,
/// ending in a newline), merged field by field by the built-in `json` driver's rule (objects key
/// by key, recursively; other values that both sides changed differently conflict). The driver
/// name is `json`, already registered in every store.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use canopy::contents::{Contents, Json};
/// use canopy::merge::MergeContext;
///
/// #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
/// struct Vm { name: String, memory_mb: u32, vcpus: u8 }
///
/// let base = Json(Vm { name: "web".into(), memory_mb: 512, vcpus: 1 });
/// let ours = Json(Vm { memory_mb: 1024, ..base.0.clone() });
/// let theirs = Json(Vm { vcpus: 2, ..base.0.clone() });
/// let merged = Json::merge(&MergeContext::new("vm"), Some(&base), &ours, &theirs).unwrap();
/// assert_eq!(merged.0, Vm { name: "web".into(), memory_mb: 1024, vcpus: 2 });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Json<T>(pub T);

impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> Contents for Json<T> {
    const DRIVER: &'static str = "json";

    fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let mut out = serde_json::to_vec_pretty(&self.0).map_err(CodecError::new)?;
        out.push(b'\n');
        Ok(out)
    }

    fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        serde_json::from_slice(bytes).map(Json).map_err(CodecError::new)
    }

    fn merge(_: &MergeContext, base: Option<&Self>, ours: &Self, theirs: &Self) -> MergeResult<Self> {
        let value = |v: &T| serde_json::to_value(v).map_err(|e| Conflict::new(format!("json: {e}")));
        let base = base.map(|b| value(&b.0)).transpose()?;
        let merged = merge_json_values(base.as_ref(), &value(&ours.0)?, &value(&theirs.0)?)?;
        serde_json::from_value(merged)
            .map(Json)
            .map_err(|e| Conflict::new(format!("json: the merged fields do not make a value: {e}")))
    }
}

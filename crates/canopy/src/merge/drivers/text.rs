//! The `text` and `union` drivers: Git's line-based three-way merge.

use super::scalar::binary_rule;
use super::{Driver, MergeContext};
use crate::merge::text::{is_binary, merge_text, Favor, TextOptions};
use crate::merge::{trivial, Conflict, MergeResult, Trivial};

/// Line-based three-way merge (Git's default driver).
///
/// Clean where Git's merge is clean, with the same bytes; otherwise a conflict describing where
/// (`both sides changed lines 3-5`). Both sides adding different content is a conflict, as the
/// merge against an empty base always is. Content Git calls binary (a NUL in its first 8000
/// bytes) is merged by the `binary` rule.
///
/// The default options are those of `git merge` (histogram diff); [`TextDriver::merge_file`]
/// uses those of `git merge-file` (Myers diff). The two differ only where the diff algorithms
/// align lines differently.
#[derive(Debug, Clone, Default)]
pub struct TextDriver {
    pub options: TextOptions,
}

impl TextDriver {
    /// The driver with `git merge-file`'s defaults.
    pub fn merge_file() -> TextDriver {
        TextDriver {
            options: TextOptions::merge_file(),
        }
    }
}

impl Driver for TextDriver {
    fn merge(
        &self,
        ctx: &MergeContext,
        base: Option<&[u8]>,
        ours: Option<&[u8]>,
        theirs: Option<&[u8]>,
    ) -> MergeResult<Option<Vec<u8>>> {
        let favored;
        let options = match ctx.favor {
            None => &self.options,
            Some(side) => {
                favored = TextOptions {
                    favor: Some(match side {
                        super::Favor::Ours => Favor::Ours,
                        super::Favor::Theirs => Favor::Theirs,
                    }),
                    ..self.options.clone()
                };
                &favored
            }
        };
        line_merge(options, base, ours, theirs)
    }
}

/// Git's `union` driver: a line merge whose conflicting lines are kept from both sides, ours
/// first, without markers. It never conflicts on text; it can duplicate or reorder lines, which is
/// what it is for (lists where every line from both sides should stay).
#[derive(Debug, Clone)]
pub struct UnionDriver {
    pub options: TextOptions,
}

impl Default for UnionDriver {
    fn default() -> UnionDriver {
        UnionDriver {
            options: TextOptions {
                favor: Some(Favor::Union),
                ..TextOptions::default()
            },
        }
    }
}

impl Driver for UnionDriver {
    fn merge(
        &self,
        _ctx: &MergeContext,
        base: Option<&[u8]>,
        ours: Option<&[u8]>,
        theirs: Option<&[u8]>,
    ) -> MergeResult<Option<Vec<u8>>> {
        line_merge(&self.options, base, ours, theirs)
    }
}

fn line_merge(
    options: &TextOptions,
    base: Option<&[u8]>,
    ours: Option<&[u8]>,
    theirs: Option<&[u8]>,
) -> MergeResult<Option<Vec<u8>>> {
    let (base, ours, theirs) = match trivial(base, ours, theirs)? {
        Trivial::Resolved(v) => return Ok(v.map(<[u8]>::to_vec)),
        Trivial::Diverged { base, ours, theirs } => (base, ours, theirs),
    };
    if base.is_some_and(is_binary) || is_binary(ours) || is_binary(theirs) {
        return Err(binary_rule(base).within("binary content"));
    }
    let merged = merge_text(base.unwrap_or_default(), ours, theirs, options);
    if merged.is_clean() {
        Ok(Some(merged.content))
    } else {
        Err(Conflict::new(merged.describe_conflicts()))
    }
}

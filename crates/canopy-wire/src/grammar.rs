//! What the strings the API takes look like: each as a regular expression (ECMA-262, for the
//! OpenAPI document) beside the check the server applies, with tests that hold the two to the
//! same verdicts. The checks are the library's own (`canopy::Path::parse`,
//! `canopy::backend::check_ref_name`, revision resolution); a pattern only restates them.
//!
//! Each string type here is a schema of its own in the document (`BranchName`, `Rev`, …):
//! parameters and fields refer to it by `value_type`.

/// An object id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
pub const HASH: &str = "^([0-9a-f]{40}|[0-9a-f]{64})$";

/// Characters a ref name never holds (`git check-ref-format`), as a class body.
const REF_CHARS: &str = r"[^\x00-\x20\x7f~^:?*\[\\]";

/// What no ref name holds anywhere: `..`, `//`, `@{`, a component starting with `.` or
/// ending in `.lock`, a trailing `/` or `.`.
const REF_NEVER: &str = r"(?!.*(?:\.\.|//|@\{|/\.|\.lock/|\.lock$|/$|\.$))(?!\.)(?!/)";

/// The most bytes a branch name may have: a name is a file under `refs/heads/`, and a file
/// name (with `.lock` after it while it is written) longer than 255 bytes is refused by most
/// file systems.
pub const MAX_BRANCH_BYTES: usize = 240;

/// The most `~N`/`^N` digits the document promises (larger numbers parse, up to the machine's
/// word, but no history is that long).
const MAX_SUFFIX_DIGITS: usize = 9;

/// A branch name as the store accepts it (`main`, `feature/x`): a valid `refs/heads/NAME`, not
/// `HEAD`, not starting with `-`, at most [`MAX_BRANCH_BYTES`] bytes.
pub fn branch_pattern() -> String {
    format!("^(?!-)(?!HEAD$){REF_NEVER}{REF_CHARS}+$")
}

/// A revision: a branch, tag or other ref name, or a full or abbreviated commit id, then any
/// number of `~N` / `^N` steps (`main`, `main~2`, `v1.0^2`, `3f2a9c1`).
pub fn rev_pattern() -> String {
    format!(
        r"^(?!.*(?:\.\.|//|@\{{|/\.|\.lock/|\.lock(?:[~^]|$)|/(?:[~^]|$)|\.(?:[~^]|$)))(?!\.)(?!/){REF_CHARS}+(?:[~^][0-9]{{0,{MAX_SUFFIX_DIGITS}}})*$"
    )
}

/// Code points HFS+ ignores in names (so `.g\u{200c}it` is `.git` there).
const IGNORABLE: &str = r"[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]";

/// One step of a path: not empty, `.` or `..`; no `/` or NUL; no `\`-separated segment that
/// is `..` or a name Git treats as `.git` (any case, `git~1`, trailing dots or spaces, an
/// `:` stream); not `.git` with HFS+-ignorable code points in it.
fn step_pattern() -> String {
    let seg_bad = r"(?:\.\.|(?:\.[gG][iI][tT]|[gG][iI][tT]~1)[ .]*(?::[^/\\]*)?)(?:[/\\]|$)";
    let i = IGNORABLE;
    // One or more characters, each a plain one or a `\` not starting a bad segment: written as
    // a repetition of units rather than a lookahead for "not empty", so that a generator
    // working from the pattern (schemathesis) makes steps that are never empty.
    format!(
        r"(?!\.\.?(?:/|$))(?!{i}*\.{i}*[gG]{i}*[iI]{i}*[tT]{i}*(?:/|$))(?!{seg_bad})(?:[^/\\\x00]|\\(?!{seg_bad}))+"
    )
}

/// A path below the root (`a/b/c`): steps joined by `/`, at most
/// [`canopy::path::MAX_PATH_BYTES`] bytes.
pub fn path_pattern() -> String {
    let step = step_pattern();
    format!("^{step}(?:/{step})*$")
}

/// A path, or `""` for the root.
pub fn path_or_root_pattern() -> String {
    let step = step_pattern();
    format!("^(?:{step}(?:/{step})*)?$")
}

/// `Name <email>`: a name that is not blank, then one `<…>`, nothing but white space after;
/// no control character in the name or the email once the white space around them is trimmed
/// (the white space is Rust's `char::is_whitespace`, which `str::trim` removes).
pub const IDENTITY: &str = concat!(
    r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*",
    // The name: first and last characters neither white space nor control, none `<` or `>`.
    r"[^<>\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    r"(?:[^<>\x00-\x1f\x7f-\x9f]*[^<>\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?",
    r"[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*<",
    r"[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*",
    // The email, possibly empty, with the same rule.
    r"(?:[^<>\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    r"(?:[^<>\x00-\x1f\x7f-\x9f]*[^<>\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?)?",
    r"[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*>",
    r"[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
);

/// Standard, padded base64 with no stray bits in its last symbol (what the server decodes).
pub const BASE64: &str =
    "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$";

/// A log cursor: `20260514T103012.123456Z-<replica>-<sequence>`.
pub const LOG_CURSOR: &str = r"^[0-9]{8}T[0-9]{6}\.[0-9]{6}Z-[^/]+$";

/// An `If-Match` value: a commit id, quoted or not, optionally weak (`W/`).
pub const IF_MATCH: &str =
    r#"^(?:W/)?(?:"(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})"|(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64}))$"#;

/// Whether `name` is a branch name the store accepts ([`branch_pattern`]).
pub fn is_branch_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name != "HEAD"
        && name.len() <= MAX_BRANCH_BYTES
        && canopy::backend::check_ref_name(&format!("refs/heads/{name}")).is_ok()
}

/// Whether `rev` is shaped like a revision ([`rev_pattern`]): one that could name a commit,
/// so that failing to resolve it means "no such commit", not "malformed".
pub fn is_well_formed_rev(rev: &str) -> bool {
    let split = rev.find(['~', '^']).unwrap_or(rev.len());
    let (base, mut suffixes) = rev.split_at(split);
    if base.is_empty() || canopy::backend::check_ref_name(&format!("refs/heads/{base}")).is_err() {
        return false;
    }
    while let Some(rest) = suffixes.strip_prefix(['~', '^']) {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > MAX_SUFFIX_DIGITS {
            return false;
        }
        suffixes = &rest[digits..];
    }
    suffixes.is_empty()
}

/// Whether `path` is a path below the root ([`path_pattern`]).
pub fn is_path(path: &str) -> bool {
    canopy::Path::parse(path).is_ok_and(|p| !p.is_root())
}

/// Declares a string type's schema: its pattern, limits and meaning.
macro_rules! string_schema {
    ($(#[$doc:meta])* $name:ident, $pattern:expr, $max:expr, $description:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::{ObjectBuilder, Type};
                let max: Option<usize> = $max;
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some($pattern))
                    .max_length(max)
                    .description(Some($description))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

string_schema!(
    /// Schema of an object id.
    Hash,
    HASH,
    None,
    "An object id (hex)"
);
string_schema!(
    /// Schema of a branch name.
    BranchName,
    branch_pattern(),
    Some(MAX_BRANCH_BYTES),
    "A branch name, as `git check-ref-format --branch` accepts it (not `HEAD`, not starting \
     with '-', at most 240 bytes); '/' in it is percent-encoded in a URL segment (feature%2Fx)"
);
string_schema!(
    /// Schema of a revision.
    Rev,
    rev_pattern(),
    None,
    "A REV: a branch or tag name, or a full or abbreviated (4+ digits) commit id, then any \
     ~N and ^N steps (main~2). A well-formed REV that names no commit is a 404 no_such_rev"
);
string_schema!(
    /// Schema of a path below the root.
    PathName,
    path_pattern(),
    Some(canopy::path::MAX_PATH_BYTES),
    "A path: steps joined by '/' (a/b/c), at most 4096 bytes. A step is never empty, '.', \
     '..', '.git' (any case, or a name Git treats as it) and holds no NUL"
);
string_schema!(
    /// Schema of a path or the root (`""`).
    PathOrRoot,
    path_or_root_pattern(),
    Some(canopy::path::MAX_PATH_BYTES),
    "A path (a/b/c), or \"\" for the root"
);
string_schema!(
    /// Schema of `Name <email>`.
    Identity,
    IDENTITY,
    None,
    "An identity, 'Name <email>'"
);
string_schema!(
    /// Schema of base64 bytes.
    Base64,
    BASE64,
    None,
    "Bytes as standard, padded base64"
);
string_schema!(
    /// Schema of a log cursor.
    LogCursor,
    LOG_CURSOR,
    None,
    "Where an entry is in a log; cursors order as the log does"
);
string_schema!(
    /// Schema of an `If-Match` header.
    IfMatch,
    IF_MATCH,
    None,
    "\"<commit>\": write only if the branch head is this commit (412 otherwise, nothing written)"
);

string_schema!(
    /// Schema of a create-only `If-None-Match` header.
    CreateOnly,
    r"^\*$",
    None,
    "'*': write only if nothing is at the path (412 otherwise, nothing written)"
);

/// The most entries one page of a history or a log holds.
pub const MAX_PAGE: usize = 10_000;

/// Schema of a page size (`limit`): 0 to [`MAX_PAGE`].
#[derive(Debug, Clone, Copy)]
pub struct Limit;

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Limit {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(MAX_PAGE as f64))
            .description(Some("At most this many (default 100, at most 10000)"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Limit {}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, s: &str) -> bool {
        fancy_regex::Regex::new(pattern).unwrap().is_match(s).unwrap()
    }

    /// Names and paths near every rule, each side of it.
    const TRICKY: &[&str] = &[
        "",
        "a",
        "main",
        "feature/x",
        "HEAD",
        "HEADS",
        "-x",
        "x-",
        ".x",
        "x.",
        "a..b",
        "a/.b",
        "a/b.",
        "a//b",
        "/a",
        "a/",
        "a.lock",
        "a.lock/b",
        "a.lockx",
        "a@{b",
        "a@b",
        "@",
        "a b",
        "a~b",
        "a^b",
        "a:b",
        "a?b",
        "a*b",
        "a[b",
        "a\\b",
        "a\u{7f}",
        "a\tb",
        "é",
        "日本",
        ".",
        "..",
        "...",
        ".git",
        ".GIT",
        ".git.",
        ".git ",
        ".git:x",
        "git~1",
        "GIT~1 .",
        ".gitx",
        "x/.git",
        "a/./b",
        "a/../b",
        "a\\..\\b",
        "a\\.git",
        ".g\u{200c}it",
        "\u{feff}.git",
        "a\u{0}b",
        "a/b/c",
        "3f2a9c1",
    ];

    #[test]
    fn branch_names_match_the_store() {
        let p = branch_pattern();
        for s in TRICKY {
            assert_eq!(matches(&p, s), is_branch_name(s), "{s:?}");
        }
    }

    #[test]
    fn paths_match_the_library() {
        let p = path_pattern();
        let root = path_or_root_pattern();
        for s in TRICKY {
            assert_eq!(matches(&p, s), is_path(s), "{s:?}");
            assert_eq!(matches(&root, s), canopy::Path::parse(s).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn revisions_match_the_check() {
        let p = rev_pattern();
        let mut revs: Vec<String> = TRICKY.iter().map(|s| s.to_string()).collect();
        for s in TRICKY {
            for suffix in ["~", "^", "~2", "^0", "~1^2", "~x", "~1234567890", "^^", "~."] {
                revs.push(format!("{s}{suffix}"));
            }
        }
        for s in &revs {
            assert_eq!(matches(&p, s), is_well_formed_rev(s), "{s:?}");
        }
        assert!(is_well_formed_rev("main~2") && is_well_formed_rev("HEAD^2") && !is_well_formed_rev("~1"));
    }

    #[test]
    fn identities_match_the_library() {
        for s in [
            "A <a@b>",
            "A <>",
            " <a>",
            "A <a> ",
            "A <a> x",
            "A <a>>",
            "A<<a>",
            "<a>",
            "A\n <a>",
            "A b <c d>",
            "\t\r\u{c}A\u{a0}B\u{3000} <\u{2028}a\u{85}> \n",
            "A\u{0}B <a>",
            "A <a\u{1b}b>",
            "A\tB <a>",
            "A <a\u{85}b>",
            "\u{1}A <a>",
            "A\u{feff} <a>",
            "A <\u{0}>",
            "\u{a0} <a>",
            "A\u{9f} <a>",
            "A <a> \u{7f}",
        ] {
            let lib = canopy::object::Signature::parse_name_email(s, 0, 0).is_some();
            assert_eq!(matches(IDENTITY, s), lib, "{s:?}");
        }
    }

    #[test]
    fn base64_matches_the_decoder() {
        for s in [
            "", "AA==", "AB==", "AAA=", "AAE=", "AAAA", "A", "AA", "AA=", "Zg==", "Zh==", "Zm8=", "Zm9=",
            "a b=",
        ] {
            assert_eq!(matches(BASE64, s), crate::base64_decode(s).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn log_cursors_match_the_library() {
        for s in [
            "20260514T103012.123456Z-r-1",
            "20260514T103012.123456Z-",
            "20260514T103012.123456Z-a/b",
            "x",
        ] {
            let lib = canopy::data::LogCursor::parse(s).is_some();
            assert_eq!(matches(LOG_CURSOR, s), lib, "{s:?}");
        }
    }
}

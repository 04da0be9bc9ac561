//! Which merge driver a `.gitattributes` file assigns to a path, by Git's rules.
//!
//! Canopy reads one attributes file: the `.gitattributes` at the root of a tree. Which tree that
//! is during a merge is the caller's decision (the tree merge documents it); files in
//! subdirectories, `$GIT_DIR/info/attributes` and global or system files play no part.
//!
//! Lines are `pattern attr…`, as Git writes them:
//!
//! - `attr` sets an attribute, `-attr` unsets it, `attr=value` gives it a value, `!attr` makes it
//!   unspecified again; for `merge`: set → driver `text`, unset → `binary`, a value → the driver
//!   of that name ([`AttrValue::merge_driver`]);
//! - later lines win over earlier ones, attribute by attribute (and within a line, later
//!   attributes win);
//! - patterns follow `.gitignore` syntax: a pattern without `/` matches the file name at any
//!   depth; a leading or inner `/` anchors it at the root; `*` and `?` do not match `/`; `**/`,
//!   `/**` and `/**/` match across directories; `[a-z]` classes; `\` escapes; a pattern may be a
//!   C-style quoted string;
//! - a pattern ending in `/` matches directories only, so never a value (write `dir/**`);
//!   negative patterns (`!pattern`) are ignored, as are lines of 2048 bytes or more and lines
//!   with an invalid attribute name; a warning is kept for each ([`Attributes::warnings`]);
//! - `[attr]name attr…` defines a macro; `binary` is predefined as `-diff -merge -text`.
//!
//! ```
//! use canopy::merge::{AttrValue, Attributes};
//!
//! let attrs = Attributes::parse(b"counters/* merge=counter\n**/*.json merge=json\n*.png binary\n");
//! assert_eq!(attrs.merge_attr("counters/hits").merge_driver(), Some("counter"));
//! assert_eq!(attrs.merge_attr("a/b/c.json").merge_driver(), Some("json"));
//! assert_eq!(attrs.merge_attr("img/logo.png"), AttrValue::Unset);
//! assert_eq!(attrs.merge_attr("counters/x/deeper"), AttrValue::Unspecified);
//! ```

use std::collections::HashMap;

use super::wildmatch::wildmatch;

/// Git ignores attribute lines this long or longer.
const MAX_LINE_LENGTH: usize = 2048;

/// The state of one attribute for one path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum AttrValue {
    /// No line says anything (or the last one that did said `!attr`).
    #[default]
    Unspecified,
    /// `attr`
    Set,
    /// `-attr`
    Unset,
    /// `attr=value`
    Value(String),
}

impl AttrValue {
    /// The merge driver name this value of the `merge` attribute selects, as Git reads it: set →
    /// `text`, unset → `binary`, a value → that name, unspecified → `None` (the default driver).
    pub fn merge_driver(&self) -> Option<&str> {
        match self {
            AttrValue::Unspecified => None,
            AttrValue::Set => Some("text"),
            AttrValue::Unset => Some("binary"),
            AttrValue::Value(v) => Some(v),
        }
    }
}

/// `name` takes `value` (`Unspecified` for `!name`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Assignment {
    name: String,
    value: AttrValue,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// Without a leading `!` or a trailing `/`.
    text: Vec<u8>,
    /// No `/` in it: matched against the file name only.
    basename_only: bool,
    /// It ended in `/`: matches directories only.
    dirs_only: bool,
    /// Length of the leading part without glob characters.
    literal_prefix: usize,
    /// `*` followed by a literal: a suffix test.
    ends_with: bool,
}

#[derive(Debug, Clone)]
struct Rule {
    pattern: Pattern,
    assignments: Vec<Assignment>,
}

/// A parsed `.gitattributes` file. Parsing never fails; lines Git would ignore are ignored.
#[derive(Debug, Clone)]
pub struct Attributes {
    rules: Vec<Rule>,
    /// Macro definitions, the last definition of a name winning.
    macros: HashMap<String, Vec<Assignment>>,
    warnings: Vec<String>,
}

impl Default for Attributes {
    fn default() -> Attributes {
        Attributes::parse(b"")
    }
}

impl Attributes {
    /// Parses the content of a `.gitattributes` file. A NUL byte ends the file, as in Git.
    pub fn parse(data: &[u8]) -> Attributes {
        let mut attrs = Attributes {
            rules: Vec::new(),
            macros: HashMap::new(),
            warnings: Vec::new(),
        };
        let binary = [
            ("diff", AttrValue::Unset),
            ("merge", AttrValue::Unset),
            ("text", AttrValue::Unset),
        ];
        attrs.macros.insert(
            "binary".to_string(),
            binary
                .into_iter()
                .map(|(name, value)| Assignment {
                    name: name.to_string(),
                    value,
                })
                .collect(),
        );
        let data = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
        let data = &data[..data.iter().position(|&c| c == 0).unwrap_or(data.len())];
        for (n, line) in data.split(|&c| c == b'\n').enumerate() {
            attrs.parse_line(n + 1, line);
        }
        attrs
    }

    /// Problems met while parsing (lines that were ignored), one line each.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The value of attribute `name` for `path` (`/`-separated, relative to the root).
    pub fn get(&self, path: impl AsRef<[u8]>, name: &str) -> AttrValue {
        let path = path.as_ref();
        let mut known: HashMap<&str, AttrValue> = HashMap::new();
        for rule in self.rules.iter().rev() {
            if rule.pattern.matches(path) {
                self.fill(&rule.assignments, &mut known);
            }
        }
        known.remove(name).unwrap_or_default()
    }

    /// The value of the `merge` attribute for `path`.
    pub fn merge_attr(&self, path: impl AsRef<[u8]>) -> AttrValue {
        self.get(path, "merge")
    }

    /// The merge driver name the `merge` attribute gives `path`, or `None` when unspecified (the
    /// caller's default applies); see [`AttrValue::merge_driver`].
    pub fn merge_driver(&self, path: &[u8]) -> Option<String> {
        self.merge_attr(path).merge_driver().map(str::to_string)
    }

    /// Every merge driver name some line (or macro) assigns, whatever the path.
    pub fn merge_drivers_named(&self) -> std::collections::BTreeSet<String> {
        self.rules
            .iter()
            .flat_map(|r| r.assignments.iter())
            .chain(self.macros.values().flatten())
            .filter(|a| a.name == "merge")
            .filter_map(|a| a.value.merge_driver().map(str::to_string))
            .collect()
    }

    /// Records the assignments of one matching line, last first, for attributes no
    /// higher-precedence line decided; a macro that becomes set expands in place.
    fn fill<'a>(&'a self, assignments: &'a [Assignment], known: &mut HashMap<&'a str, AttrValue>) {
        for a in assignments.iter().rev() {
            if known.contains_key(a.name.as_str()) {
                continue;
            }
            known.insert(&a.name, a.value.clone());
            if a.value == AttrValue::Set {
                if let Some(expansion) = self.macros.get(&a.name) {
                    self.fill(expansion, known);
                }
            }
        }
    }

    fn parse_line(&mut self, n: usize, line: &[u8]) {
        let is_blank = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
        let start = line.iter().position(|c| !is_blank(c)).unwrap_or(line.len());
        let rest = &line[start..];
        if rest.is_empty() || rest[0] == b'#' {
            return;
        }
        if line.len() >= MAX_LINE_LENGTH {
            self.warnings.push(format!(
                "line {n}: ignoring an attributes line of {} bytes",
                line.len()
            ));
            return;
        }
        let (name, states): (Vec<u8>, &[u8]) = match unquote(rest) {
            Some((unquoted, after)) => (unquoted, &rest[after..]),
            None => {
                let end = rest.iter().position(is_blank).unwrap_or(rest.len());
                (rest[..end].to_vec(), &rest[end..])
            }
        };
        let macro_name = name.strip_prefix(b"[attr]").filter(|m| !m.is_empty());
        let macro_name = match macro_name {
            Some(m) => {
                let m = &m[m.iter().position(|c| !is_blank(c)).unwrap_or(m.len())..];
                let m = &m[..m.iter().position(is_blank).unwrap_or(m.len())];
                if !valid_attr_name(m) {
                    self.warnings.push(format!(
                        "line {n}: invalid macro name {:?}",
                        String::from_utf8_lossy(m)
                    ));
                    return;
                }
                Some(String::from_utf8_lossy(m).into_owned())
            }
            None => None,
        };
        let mut assignments = Vec::new();
        for token in states.split(is_blank).filter(|t| !t.is_empty()) {
            match parse_assignment(token) {
                Some(a) => assignments.push(a),
                None => {
                    self.warnings.push(format!(
                        "line {n}: {:?} is not a valid attribute name; line ignored",
                        String::from_utf8_lossy(token)
                    ));
                    return;
                }
            }
        }
        if let Some(m) = macro_name {
            self.macros.insert(m, assignments);
            return;
        }
        if name.first() == Some(&b'!') {
            self.warnings.push(format!(
                "line {n}: negative patterns are ignored in attributes (use '\\!' for a literal '!')"
            ));
            return;
        }
        self.rules.push(Rule {
            pattern: Pattern::parse(name),
            assignments,
        });
    }
}

/// Parses `attr`, `-attr`, `!attr` or `attr=value`; `None` for an invalid name.
fn parse_assignment(token: &[u8]) -> Option<Assignment> {
    let (name, value) = match token.iter().position(|&c| c == b'=') {
        Some(eq) => (&token[..eq], Some(&token[eq + 1..])),
        None => (token, None),
    };
    let (name, value) = match name.first() {
        Some(b'-') => (&name[1..], AttrValue::Unset),
        Some(b'!') => (&name[1..], AttrValue::Unspecified),
        _ => match value {
            Some(v) => (name, AttrValue::Value(String::from_utf8_lossy(v).into_owned())),
            None => (name, AttrValue::Set),
        },
    };
    if !valid_attr_name(name) || name.starts_with(b"builtin_") {
        return None;
    }
    Some(Assignment {
        name: String::from_utf8_lossy(name).into_owned(),
        value,
    })
}

fn valid_attr_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name[0] != b'-'
        && name
            .iter()
            .all(|&c| c == b'-' || c == b'.' || c == b'_' || c.is_ascii_alphanumeric())
}

/// Unquotes a C-style quoted string at the start of `s`: the bytes and the index after the
/// closing quote, or `None` if `s` does not start with a well-formed one.
fn unquote(s: &[u8]) -> Option<(Vec<u8>, usize)> {
    if s.first() != Some(&b'"') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 1;
    loop {
        let c = *s.get(i)?;
        i += 1;
        match c {
            b'"' => return Some((out, i)),
            b'\\' => {
                let e = *s.get(i)?;
                i += 1;
                out.push(match e {
                    b'a' => 7,
                    b'b' => 8,
                    b'f' => 12,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'v' => 11,
                    b'\\' | b'"' => e,
                    b'0'..=b'3' => {
                        let d1 = *s.get(i)?;
                        let d2 = *s.get(i + 1)?;
                        if !(b'0'..=b'7').contains(&d1) || !(b'0'..=b'7').contains(&d2) {
                            return None;
                        }
                        i += 2;
                        ((e - b'0') << 6) | ((d1 - b'0') << 3) | (d2 - b'0')
                    }
                    _ => return None,
                });
            }
            _ => out.push(c),
        }
    }
}

impl Pattern {
    fn parse(mut text: Vec<u8>) -> Pattern {
        let dirs_only = text.last() == Some(&b'/');
        if dirs_only {
            text.pop();
        }
        let basename_only = !text.contains(&b'/');
        let is_special = |c: &u8| matches!(c, b'*' | b'?' | b'[' | b'\\');
        let literal_prefix = text.iter().position(is_special).unwrap_or(text.len());
        let ends_with = text.first() == Some(&b'*') && !text[1..].iter().any(is_special);
        Pattern {
            text,
            basename_only,
            dirs_only,
            literal_prefix,
            ends_with,
        }
    }

    /// Whether the pattern matches the file at `path` (attributes apply to files here; a
    /// directory-only pattern never matches).
    fn matches(&self, path: &[u8]) -> bool {
        if self.dirs_only {
            return false;
        }
        let pat = &self.text[..];
        if self.basename_only {
            let name = &path[path.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1)..];
            return if self.literal_prefix == pat.len() {
                pat == name
            } else if self.ends_with {
                name.ends_with(&pat[1..])
            } else {
                wildmatch(pat, name, false)
            };
        }
        // Anchored at the root: a leading `/` only says so.
        let (pat, prefix) = match pat.strip_prefix(b"/") {
            Some(p) => (p, self.literal_prefix.saturating_sub(1)),
            None => (pat, self.literal_prefix),
        };
        if prefix > path.len() || pat[..prefix] != path[..prefix] {
            return false;
        }
        let (pat, name) = (&pat[prefix..], &path[prefix..]);
        if pat.is_empty() && name.is_empty() {
            return true;
        }
        wildmatch(pat, name, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn driver(attrs: &str, path: &str) -> Option<String> {
        Attributes::parse(attrs.as_bytes())
            .merge_attr(path)
            .merge_driver()
            .map(str::to_string)
    }

    #[test]
    fn later_lines_win() {
        let a = "*.txt merge=union\nnotes/*.txt merge=set\n";
        assert_eq!(driver(a, "notes/a.txt").as_deref(), Some("set"));
        assert_eq!(driver(a, "other/a.txt").as_deref(), Some("union"));
        assert_eq!(driver("*.txt merge\n*.txt !merge\n", "a.txt"), None);
        assert_eq!(
            driver("*.txt -merge\n*.txt merge\n", "a.txt").as_deref(),
            Some("text")
        );
    }

    #[test]
    fn macros_expand_where_they_stand() {
        assert_eq!(driver("*.bin binary\n", "x.bin").as_deref(), Some("binary"));
        assert_eq!(
            driver("*.bin merge=json binary\n", "x.bin").as_deref(),
            Some("binary")
        );
        assert_eq!(
            driver("*.bin binary merge=json\n", "x.bin").as_deref(),
            Some("json")
        );
        assert_eq!(driver("* binary\n*.txt -binary\n", "a.txt"), None);
        assert_eq!(
            driver("[attr]counted merge=counter\nhits/* counted\n", "hits/a").as_deref(),
            Some("counter")
        );
    }

    #[test]
    fn ignored_lines_warn() {
        let long = format!("{} merge=json\n", "a".repeat(MAX_LINE_LENGTH));
        let a = Attributes::parse(
            format!("!*.txt merge=json\n*.x m@rge=json\n{long}dir/ merge=json\n").as_bytes(),
        );
        assert_eq!(a.warnings().len(), 3);
        assert_eq!(a.merge_attr("a.txt"), AttrValue::Unspecified);
        assert_eq!(a.merge_attr("dir/a"), AttrValue::Unspecified);
    }

    #[test]
    fn anchoring() {
        assert_eq!(
            driver("/top.json merge=json\n", "top.json").as_deref(),
            Some("json")
        );
        assert_eq!(driver("/top.json merge=json\n", "d/top.json"), None);
        assert_eq!(
            driver("top.json merge=json\n", "d/top.json").as_deref(),
            Some("json")
        );
        assert_eq!(driver("d/*.json merge=json\n", "d/e/x.json"), None);
        assert_eq!(
            driver("d/**/*.json merge=json\n", "d/e/x.json").as_deref(),
            Some("json")
        );
        assert_eq!(
            driver("\"sp ace\" merge=json\n", "sp ace").as_deref(),
            Some("json")
        );
    }
}

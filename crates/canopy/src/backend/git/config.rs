//! Git configuration files (`$GIT_DIR/config` and the like), read and edited the way
//! `git config` does, following the "CONFIGURATION FILE" syntax of `man git-config`:
//! `[section]`, `[section "subsection"]` (with `\"` and `\\` escapes), the legacy
//! `[section.subsection]` form (subsection lowercased), `key = value` or a bare `key` (boolean
//! true), `#`/`;` comments, quoted values, the escapes `\n \t \b \" \\`, line continuation with a
//! trailing backslash, whitespace trimming, CRLF line ends and a leading UTF-8 BOM.
//!
//! Names compare as in Git: section and key case-insensitively, subsection case-sensitively.
//! Edits keep every other byte of the file (comments, layout, other entries) as it was, and
//! values are quoted and escaped as `git config` writes them, so that `git config --get` reads
//! back exactly the value that was set.
//!
//! Not supported: `include` and `includeIf` sections are kept as ordinary entries but the files
//! they name are not read; values are exposed as UTF-8 (invalid bytes are replaced, on read
//! only: the file's bytes are preserved); a NUL character cannot be stored in a value (Git
//! cannot either) and is dropped by [`Config::set`].

use std::borrow::Cow;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::refs::lock;
use crate::backend::{Error, Result};
use crate::retry::Retry;

/// How long [`Config::save`] waits for another writer's `<path>.lock`.
const LOCK_TIMEOUT: Duration = Duration::from_secs(1);

/// A parsed configuration file that remembers its exact text.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file this came from, for error messages.
    path: PathBuf,
    /// The file's bytes, cut into pieces; their concatenation is the file.
    items: Vec<Item>,
}

#[derive(Debug, Clone)]
struct Item {
    raw: Vec<u8>,
    kind: ItemKind,
}

#[derive(Debug, Clone)]
enum ItemKind {
    /// Blanks and comments (at most one line end, at the end).
    Other,
    /// `[section "sub"]`; `name` is Git's canonical form: `section` lowercased, then
    /// `.subsection` as written (lowercased for the legacy `[section.sub]` form).
    Section { name: String },
    /// `key = value` through its line end; `name` is the canonical `section.sub.key` (key
    /// lowercased), `value` is `None` for a bare `key`.
    Entry { name: String, value: Option<String> },
}

impl Config {
    /// Reads the file at `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Config> {
        match fs::read(path) {
            Ok(bytes) => Config::parse(&bytes, path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Config {
                path: path.to_path_buf(),
                items: Vec::new(),
            }),
            Err(source) => Err(Error::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parses configuration text; `path` names it in errors.
    pub fn parse(text: &[u8], path: &Path) -> Result<Config> {
        let items = Parser::new(text).parse().map_err(|line| Error::CorruptFile {
            path: path.to_path_buf(),
            reason: format!("bad config line {line}"),
        })?;
        Ok(Config {
            path: path.to_path_buf(),
            items,
        })
    }

    fn entries(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.items.iter().filter_map(|item| match &item.kind {
            ItemKind::Entry { name, value } => Some((name.as_str(), value.as_deref())),
            _ => None,
        })
    }

    fn raw_values<'a>(&'a self, key: &str) -> impl Iterator<Item = Option<&'a str>> + 'a {
        let wanted = canonical_key(key);
        self.entries()
            .filter(move |(name, _)| wanted.as_deref() == Some(*name))
            .map(|(_, value)| value)
    }

    fn raw_last(&self, key: &str) -> Option<Option<&str>> {
        self.raw_values(key).last()
    }

    /// The value of `key` (`section.key` or `section.subsection.key`; the subsection may contain
    /// dots). The last one wins; a bare `key` without `=` reads as `""`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.raw_last(key).map(|v| v.unwrap_or(""))
    }

    /// Every value of `key`, in file order.
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.raw_values(key).map(|v| v.unwrap_or("")).collect()
    }

    /// `key` as a boolean, by Git's rules: a bare `key`, `true`, `yes`, `on` or a non-zero
    /// integer is true; `false`, `no`, `off`, `""` or zero is false; anything else is an error.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>> {
        let Some(value) = self.raw_last(key) else {
            return Ok(None);
        };
        let Some(value) = value else {
            return Ok(Some(true));
        };
        match value.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => return Ok(Some(true)),
            "false" | "no" | "off" | "" => return Ok(Some(false)),
            _ => {}
        }
        parse_int(value)
            .map(|n| Some(n != 0))
            .ok_or_else(|| self.bad_value(key, value, "boolean"))
    }

    /// `key` as an integer, by Git's rules: decimal, `0x` hex or leading-zero octal, with an
    /// optional `k`, `m` or `g` suffix (powers of 1024).
    pub fn get_int(&self, key: &str) -> Result<Option<i64>> {
        match self.raw_last(key) {
            None => Ok(None),
            Some(value) => {
                let v = value.unwrap_or("");
                match value.and_then(parse_int) {
                    Some(n) => Ok(Some(n)),
                    None => Err(self.bad_value(key, v, "numeric")),
                }
            }
        }
    }

    fn bad_value(&self, key: &str, value: &str, what: &str) -> Error {
        Error::CorruptFile {
            path: self.path.clone(),
            reason: format!("bad {what} config value '{value}' for '{key}'"),
        }
    }

    /// Sets `key` to `value`: replaces the last occurrence's line, else adds the entry after the
    /// last one of the (last) matching section, else appends a new section. Everything else is
    /// kept as it was. A key Git would refuse (no section, a name that is not alphanumeric or
    /// `-` starting with a letter, a subsection with a line break) is ignored with a warning.
    pub fn set(&mut self, key: &str, value: &str) {
        let Some(parts) = KeyParts::split(key) else {
            tracing::warn!(key, "ignoring an invalid configuration key");
            return;
        };
        let canonical = parts.canonical();
        let line = format!("{} = {}\n", parts.key, quote_value(value));
        let entry_kind = || ItemKind::Entry {
            name: canonical.clone(),
            value: Some(value.replace('\0', "")),
        };

        // 1. Replace the last occurrence.
        let last = self
            .items
            .iter()
            .rposition(|item| matches!(&item.kind, ItemKind::Entry { name, .. } if *name == canonical));
        if let Some(i) = last {
            let mut raw = line.into_bytes();
            if !self.items[i].raw.ends_with(b"\n") {
                raw.pop(); // it was the last line of a file without a final newline
            }
            self.items[i] = Item {
                raw,
                kind: entry_kind(),
            };
            return;
        }

        // 2. Add to the last matching section.
        let section = parts.section_name();
        let header = self
            .items
            .iter()
            .rposition(|item| matches!(&item.kind, ItemKind::Section { name } if *name == section));
        if let Some(h) = header {
            let mut at = h + 1;
            // After the section's last entry, or after the header's line.
            let mut i = h + 1;
            let mut header_line_done = false;
            while i < self.items.len() {
                match &self.items[i].kind {
                    ItemKind::Section { .. } => break,
                    ItemKind::Entry { .. } => at = i + 1,
                    ItemKind::Other if !header_line_done => at = i + 1,
                    ItemKind::Other => {}
                }
                if self.items[i].raw.ends_with(b"\n") {
                    header_line_done = true;
                }
                i += 1;
            }
            self.insert_line(at, format!("\t{line}").into_bytes(), entry_kind());
            return;
        }

        // 3. A new section at the end.
        let at = self.items.len();
        let header_raw = parts.header();
        self.insert_line(
            at,
            format!("{header_raw}\n").into_bytes(),
            ItemKind::Section { name: section },
        );
        self.items.push(Item {
            raw: format!("\t{line}").into_bytes(),
            kind: entry_kind(),
        });
    }

    /// Inserts a line-ending item at `at`, first ending the previous line if it is unfinished.
    fn insert_line(&mut self, at: usize, raw: Vec<u8>, kind: ItemKind) {
        let unfinished = at > 0 && !self.items[at - 1].raw.ends_with(b"\n");
        self.items.insert(at, Item { raw, kind });
        if unfinished {
            self.items.insert(
                at,
                Item {
                    raw: b"\n".to_vec(),
                    kind: ItemKind::Other,
                },
            );
        }
    }

    /// Removes every entry of `key`; whether there was one. Section headers stay.
    pub fn unset_all(&mut self, key: &str) -> bool {
        let Some(wanted) = canonical_key(key) else {
            return false;
        };
        let mut removed = false;
        let mut i = 0;
        while i < self.items.len() {
            let hit = matches!(&self.items[i].kind, ItemKind::Entry { name, .. } if *name == wanted);
            if !hit {
                i += 1;
                continue;
            }
            removed = true;
            // Drop the indentation before the entry.
            if i > 0 && matches!(self.items[i - 1].kind, ItemKind::Other) {
                let prev = &mut self.items[i - 1].raw;
                while prev.last().is_some_and(|&c| c == b' ' || c == b'\t') {
                    prev.pop();
                }
                if prev.is_empty() {
                    self.items.remove(i - 1);
                    i -= 1;
                }
            }
            let ended_line = self.items[i].raw.ends_with(b"\n");
            let prev_open = i > 0 && !self.items[i - 1].raw.ends_with(b"\n");
            if ended_line && prev_open {
                // The entry shared a line with a header: keep that line's end.
                self.items[i] = Item {
                    raw: b"\n".to_vec(),
                    kind: ItemKind::Other,
                };
                i += 1;
            } else {
                self.items.remove(i);
            }
        }
        removed
    }

    /// Removes every `[section "sub"]` (given as `section.sub`, or just `section`) with all the
    /// lines up to the next section header; whether there was one.
    pub fn remove_section(&mut self, section_and_sub: &str) -> bool {
        let wanted = match section_and_sub.split_once('.') {
            Some((section, sub)) => format!("{}.{sub}", section.to_ascii_lowercase()),
            None => section_and_sub.to_ascii_lowercase(),
        };
        let mut removed = false;
        let mut inside = false;
        let mut kept = Vec::with_capacity(self.items.len());
        for item in self.items.drain(..) {
            if let ItemKind::Section { name } = &item.kind {
                inside = *name == wanted;
                removed |= inside;
            }
            if !inside {
                kept.push(item);
            }
        }
        // A removed section whose last line had no newline may leave the previous line open;
        // sections always start on a fresh line when written by us, so nothing to repair.
        self.items = kept;
        removed
    }

    /// The subsections of `section` that have a header, in file order, without repeats:
    /// `subsections("remote")` → `["origin"]`.
    pub fn subsections(&self, section: &str) -> Vec<String> {
        let prefix = format!("{}.", section.to_ascii_lowercase());
        let mut out: Vec<String> = Vec::new();
        for item in &self.items {
            if let ItemKind::Section { name } = &item.kind {
                if let Some(sub) = name.strip_prefix(&prefix) {
                    if !out.iter().any(|s| s == sub) {
                        out.push(sub.to_string());
                    }
                }
            }
        }
        out
    }

    /// The (lowercased) keys set directly in `section` (no subsection), in file order, without
    /// repeats: `keys_in_section("extensions")` → `["objectformat"]`.
    pub fn keys_in_section(&self, section: &str) -> Vec<String> {
        let prefix = format!("{}.", section.to_ascii_lowercase());
        let mut out: Vec<String> = Vec::new();
        for (name, _) in self.entries() {
            if let Some(key) = name.strip_prefix(&prefix) {
                if !key.contains('.') && !out.iter().any(|k| k == key) {
                    out.push(key.to_string());
                }
            }
        }
        out
    }

    /// The file's text, as read with the edits made since.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.items.iter().map(|i| i.raw.len()).sum());
        for item in &self.items {
            out.extend_from_slice(&item.raw);
        }
        out
    }

    /// Writes the file through `<path>.lock` (created exclusively, waiting briefly if another
    /// writer holds it), flushed to disk first with `fsync`, then renamed onto `path`.
    pub fn save(&self, path: &Path, fsync: bool) -> Result<()> {
        let mut lock_name: OsString = path.as_os_str().to_owned();
        lock_name.push(".lock");
        let lock = PathBuf::from(lock_name);
        let io_err = |path: &Path, source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut retry = Retry::until(LOCK_TIMEOUT);
        let mut file = loop {
            match lock::try_take(&lock) {
                Ok(lock::Attempt::Taken(f)) => break f,
                Ok(lock::Attempt::Busy(_)) if retry.again() => {}
                Ok(lock::Attempt::Busy(holder)) => {
                    return Err(io_err(
                        &lock,
                        io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            format!("lock file exists: {holder}"),
                        ),
                    ))
                }
                Err(e) => return Err(io_err(&lock, e)),
            }
        };
        // The file stays open (holding the advisory lock) until it is renamed or unlinked.
        let result = (|| {
            file.write_all(&self.to_bytes()).map_err(|e| io_err(&lock, e))?;
            if fsync {
                file.sync_all().map_err(|e| io_err(&lock, e))?;
            }
            fs::rename(&lock, path).map_err(|e| io_err(path, e))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&lock);
            drop(file);
            return result;
        }
        drop(file);
        #[cfg(unix)]
        if fsync {
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_err(dir, e))?;
        }
        Ok(())
    }
}

// ----- keys ---------------------------------------------------------------------------------

/// A key split as Git's `git_config_parse_key` does: at the first and the last dot.
struct KeyParts<'a> {
    section: &'a str,
    sub: Option<&'a str>,
    key: &'a str,
}

impl<'a> KeyParts<'a> {
    /// `None` unless Git would accept the key for writing.
    fn split(full: &'a str) -> Option<KeyParts<'a>> {
        let first = full.find('.')?;
        let last = full.rfind('.')?;
        let section = &full[..first];
        let key = &full[last + 1..];
        let sub = (first != last).then(|| &full[first + 1..last]);
        let name_ok = |s: &str| !s.is_empty() && s.bytes().all(is_key_char);
        if !name_ok(section) || !name_ok(key) || !key.as_bytes()[0].is_ascii_alphabetic() {
            return None;
        }
        if sub.is_some_and(|s| s.contains(['\n', '\0'])) {
            return None;
        }
        Some(KeyParts { section, sub, key })
    }

    /// The canonical name of the section: `section` lowercased, `.sub` as is.
    fn section_name(&self) -> String {
        let mut s = self.section.to_ascii_lowercase();
        if let Some(sub) = self.sub {
            s.push('.');
            s.push_str(sub);
        }
        s
    }

    fn canonical(&self) -> String {
        format!("{}.{}", self.section_name(), self.key.to_ascii_lowercase())
    }

    /// `[section]` or `[section "sub"]` with `"` and `\` escaped, as Git writes it.
    fn header(&self) -> String {
        match self.sub {
            None => format!("[{}]", self.section),
            Some(sub) => {
                let mut h = format!("[{} \"", self.section);
                for c in sub.chars() {
                    if c == '"' || c == '\\' {
                        h.push('\\');
                    }
                    h.push(c);
                }
                h.push_str("\"]");
                h
            }
        }
    }
}

/// The canonical form of a lookup key: lowercased up to the first dot and after the last one.
fn canonical_key(key: &str) -> Option<String> {
    let first = key.find('.')?;
    let last = key.rfind('.')?;
    Some(format!(
        "{}{}{}",
        key[..first].to_ascii_lowercase(),
        &key[first..=last],
        key[last + 1..].to_ascii_lowercase()
    ))
}

fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

/// A value as `git config` writes it: `"`-quoted when it starts or ends with whitespace or holds
/// a comment character, with `\n`, `\t`, `\b`, `"` and `\` escaped.
fn quote_value(value: &str) -> String {
    let needs_quotes = value.starts_with(char::is_whitespace)
        || value.ends_with(char::is_whitespace)
        || value.contains(['#', ';']);
    let mut out = String::with_capacity(value.len() + 2);
    if needs_quotes {
        out.push('"');
    }
    for c in value.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => {}
            c => out.push(c),
        }
    }
    if needs_quotes {
        out.push('"');
    }
    out
}

/// Git's `git_parse_signed`: optional blanks and sign, a number in base 0 (`0x` hex, leading `0`
/// octal, else decimal), then an optional `k`/`m`/`g` unit.
fn parse_int(value: &str) -> Option<i64> {
    let s = value.trim_start_matches([' ', '\t', '\n', '\r', '\u{b}', '\u{c}']);
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, hex)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
    if end == 0 && radix != 8 {
        return None;
    }
    let magnitude = if end == 0 {
        0 // "0" followed by a unit, e.g. "0k"
    } else {
        i128::from_str_radix(&digits[..end], radix).ok()?
    };
    let factor: i128 = match digits[end..].to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return None,
    };
    let n = if negative { -magnitude } else { magnitude };
    i64::try_from(n.checked_mul(factor)?).ok()
}

// ----- parsing ------------------------------------------------------------------------------

/// A port of Git's `git_parse_source`, which also records each item's bytes.
struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    line: usize,
    eof: bool,
    items: Vec<Item>,
    /// Where the bytes not yet given to an item start.
    start: usize,
}

impl<'a> Parser<'a> {
    fn new(buf: &'a [u8]) -> Parser<'a> {
        Parser {
            buf,
            pos: 0,
            line: 1,
            eof: false,
            items: Vec::new(),
            start: 0,
        }
    }

    /// Git's `get_next_char`: CRLF reads as LF, and the end of the file as a final LF.
    fn next(&mut self) -> u8 {
        let Some(&c) = self.buf.get(self.pos) else {
            self.eof = true;
            self.line += 1;
            return b'\n';
        };
        self.pos += 1;
        let mut c = c;
        if c == b'\r' && self.buf.get(self.pos) == Some(&b'\n') {
            self.pos += 1;
            c = b'\n';
        }
        if c == b'\n' {
            self.line += 1;
        }
        c
    }

    /// Ends the current item at the current position.
    fn emit(&mut self, end: usize, kind: ItemKind) {
        if end > self.start || !matches!(kind, ItemKind::Other) {
            self.items.push(Item {
                raw: self.buf[self.start..end].to_vec(),
                kind,
            });
        }
        self.start = end;
    }

    /// The items, or the number of the offending line.
    fn parse(mut self) -> std::result::Result<Vec<Item>, usize> {
        if self.buf.starts_with(b"\xef\xbb\xbf") {
            self.pos = 3;
        }
        let mut comment = false;
        let mut section = String::new();
        loop {
            let before = self.pos;
            let c = self.next();
            if c == b'\n' {
                let end = self.pos;
                self.emit(end, ItemKind::Other);
                if self.eof {
                    return Ok(self.items);
                }
                comment = false;
                continue;
            }
            if comment || is_space(c) {
                continue;
            }
            if c == b'#' || c == b';' {
                comment = true;
                continue;
            }
            if c == b'[' {
                self.emit(before, ItemKind::Other);
                section = self.section_header().ok_or(self.line)?;
                let end = self.pos;
                self.emit(
                    end,
                    ItemKind::Section {
                        name: section.clone(),
                    },
                );
                continue;
            }
            if !c.is_ascii_alphabetic() {
                return Err(self.line);
            }
            self.emit(before, ItemKind::Other);
            let (key, value) = self.entry(c).ok_or(self.line)?;
            let name = if section.is_empty() {
                key
            } else {
                format!("{section}.{key}")
            };
            let end = self.pos;
            self.emit(end, ItemKind::Entry { name, value });
            if self.eof {
                return Ok(self.items);
            }
        }
    }

    /// After `[`: `section]`, `section.legacy]` or `section "sub"]`; the canonical name.
    fn section_header(&mut self) -> Option<String> {
        let mut name = Vec::new();
        loop {
            let c = self.next();
            if self.eof {
                return None;
            }
            if c == b']' {
                break;
            }
            if is_space(c) {
                return self.extended_header(name, c);
            }
            if !is_key_char(c) && c != b'.' {
                return None;
            }
            name.push(c.to_ascii_lowercase());
        }
        if name.is_empty() {
            return None;
        }
        Some(String::from_utf8_lossy(&name).into_owned())
    }

    /// `"sub"]` after `[section` and the blank `c` (Git's `get_extended_base_var`).
    fn extended_header(&mut self, mut name: Vec<u8>, mut c: u8) -> Option<String> {
        loop {
            if c == b'\n' {
                return self.incomplete_line();
            }
            c = self.next();
            if !is_space(c) {
                break;
            }
        }
        if c != b'"' {
            return None;
        }
        name.push(b'.');
        loop {
            let mut c = self.next();
            if c == b'\n' {
                return self.incomplete_line();
            }
            if c == b'"' {
                break;
            }
            if c == b'\\' {
                c = self.next();
                if c == b'\n' {
                    return self.incomplete_line();
                }
            }
            name.push(c);
        }
        if self.next() != b']' {
            return None;
        }
        Some(String::from_utf8_lossy(&name).into_owned())
    }

    /// A line ended inside a header: the error is on the line before the line end.
    fn incomplete_line(&mut self) -> Option<String> {
        self.line = self.line.saturating_sub(1);
        None
    }

    /// A key starting with `first`, then `= value` or nothing, through the line end.
    fn entry(&mut self, first: u8) -> Option<(String, Option<String>)> {
        let mut key = vec![first.to_ascii_lowercase()];
        let mut c;
        loop {
            c = self.next();
            if self.eof || !is_key_char(c) {
                break;
            }
            key.push(c.to_ascii_lowercase());
        }
        while c == b' ' || c == b'\t' {
            c = self.next();
        }
        let key = String::from_utf8_lossy(&key).into_owned();
        if c == b'\n' {
            return Some((key, None));
        }
        if c != b'=' {
            return None;
        }
        let value = self.value()?;
        Some((key, Some(value)))
    }

    /// Git's `parse_value`, through the line end.
    fn value(&mut self) -> Option<String> {
        let mut value: Vec<u8> = Vec::new();
        let mut quote = false;
        let mut comment = false;
        let mut trim_len = 0;
        loop {
            let mut c = self.next();
            if c == b'\n' {
                if quote {
                    self.line = self.line.saturating_sub(1);
                    return None;
                }
                if trim_len > 0 {
                    value.truncate(trim_len);
                }
                return Some(match String::from_utf8_lossy(&value) {
                    Cow::Borrowed(s) => s.to_string(),
                    Cow::Owned(s) => s,
                });
            }
            if comment {
                continue;
            }
            if is_space(c) && !quote {
                if trim_len == 0 {
                    trim_len = value.len();
                }
                if !value.is_empty() {
                    value.push(c);
                }
                continue;
            }
            if !quote && (c == b';' || c == b'#') {
                comment = true;
                continue;
            }
            trim_len = 0;
            if c == b'\\' {
                c = self.next();
                c = match c {
                    b'\n' => continue,
                    b't' => b'\t',
                    b'b' => 8,
                    b'n' => b'\n',
                    b'\\' | b'"' => c,
                    _ => return None,
                };
                value.push(c);
                continue;
            }
            if c == b'"' {
                quote = !quote;
                continue;
            }
            value.push(c);
        }
    }
}

/// Git's `isspace` (`sane_ctype`): space, tab, LF, CR.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// The user's global Git configuration files, lowest precedence first: `$GIT_CONFIG_GLOBAL`,
/// or `$XDG_CONFIG_HOME/git/config` (`~/.config/git/config`) then `~/.gitconfig`, each followed
/// by the files its `[include] path = …` entries name (`~/` and relative paths resolved as Git
/// does, up to 10 levels). Files that cannot be read are left out; `includeIf` is not evaluated.
pub fn global_layers() -> Vec<Config> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let files: Vec<PathBuf> = match std::env::var_os("GIT_CONFIG_GLOBAL") {
        Some(p) => vec![PathBuf::from(p)],
        None => {
            let xdg = std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .or_else(|| home.as_ref().map(|h| h.join(".config")));
            xdg.map(|x| x.join("git").join("config"))
                .into_iter()
                .chain(home.as_ref().map(|h| h.join(".gitconfig")))
                .collect()
        }
    };
    let mut layers = Vec::new();
    for file in files {
        add_with_includes(&mut layers, &file, home.as_deref(), 0);
    }
    layers
}

fn add_with_includes(layers: &mut Vec<Config>, path: &Path, home: Option<&Path>, depth: usize) {
    if depth > 10 {
        return;
    }
    let Ok(config) = Config::load(path) else {
        return;
    };
    let includes: Vec<PathBuf> = config
        .get_all("include.path")
        .into_iter()
        .filter_map(|p| {
            if let Some(rest) = p.strip_prefix("~/") {
                return home.map(|h| h.join(rest));
            }
            let p = Path::new(p);
            Some(if p.is_absolute() {
                p.to_path_buf()
            } else {
                path.parent().unwrap_or(Path::new(".")).join(p)
            })
        })
        .collect();
    layers.push(config);
    for include in includes {
        add_with_includes(layers, &include, home, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn parse(text: &str) -> Config {
        Config::parse(text.as_bytes(), Path::new("test-config")).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `git config -f FILE <args>`, no user configuration; raw stdout or the failure.
    fn git_config(file: &Path, args: &[&str]) -> std::result::Result<Vec<u8>, String> {
        let out = Command::new("git")
            .arg("config")
            .arg("-f")
            .arg(file)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "A")
            .env("GIT_AUTHOR_EMAIL", "a@example.com")
            .env("GIT_COMMITTER_NAME", "C")
            .env("GIT_COMMITTER_EMAIL", "c@example.com")
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// What `git config -z --get key` prints, without the terminating NUL.
    fn git_get(file: &Path, key: &str) -> Option<String> {
        let mut out = git_config(file, &["-z", "--get", key]).ok()?;
        assert_eq!(out.pop(), Some(0));
        Some(String::from_utf8(out).unwrap())
    }

    const TRICKY: &[&str] = &[
        "plain",
        "",
        " leading",
        "trailing ",
        "  both  ",
        "in ner  spaces",
        "hash # inside",
        "semi;colon",
        "#start",
        "quote \" inside",
        "\"quoted\"",
        "back\\slash",
        "ends with backslash\\",
        "tab\there",
        "\ttab first",
        "new\nline",
        "trailing newline\n",
        "bell\u{8}back",
        "cr\rmiddle",
        "cr at end\r",
        "ünïcødé ✓",
        "true",
        "= equals =",
        "[not a section]",
        "\\n literal backslash-n",
    ];

    #[test]
    fn parses_the_documented_syntax() {
        let text = "\u{feff}# comment\n\
            ; another\n\
            top = level\n\
            [core]\n\
            \trepositoryformatversion = 0\n\
            \tbare = true ; trailing comment\n\
            \tFileMode=false\n\
            \tflag\n\
            \tempty =\n\
            [Remote \"Origin.Dotted\"]\n\
            \turl = \"https://example.com/x.git\"   # comment\n\
            \tfetch = +refs/heads/*:refs/remotes/origin/*\n\
            [weird \"with \\\"quote\\\" and \\\\ and \\x\"]\n\
            \tk = v\n\
            [Legacy.SubSection]\n\
            \tk = legacy\n\
            [values]\n\
            \tquoted = \"  spaced  \" tail  \n\
            \tescapes = a\\tb\\nc\\\\d\\\"e\\bf\n\
            \tcontinued = one \\\n\
            two\n\
            \tmixed = a\"#not comment;\"b # comment\n\
            \tcrlf = yes\r\n\
            [a] inline = 1\n\
            [b][c]\n\
            \tafter = both\n";
        let c = parse(text);
        assert_eq!(c.to_bytes(), text.as_bytes(), "the text is kept byte for byte");
        assert_eq!(c.get("core.repositoryformatversion"), Some("0"));
        assert_eq!(c.get("CORE.Bare"), Some("true"));
        assert_eq!(c.get("core.filemode"), Some("false"));
        assert_eq!(c.get("core.flag"), Some(""));
        assert_eq!(c.get_bool("core.flag").unwrap(), Some(true));
        assert_eq!(c.get("core.empty"), Some(""));
        assert_eq!(c.get_bool("core.empty").unwrap(), Some(false));
        assert_eq!(
            c.get("remote.Origin.Dotted.url"),
            Some("https://example.com/x.git")
        );
        assert_eq!(
            c.get("REMOTE.Origin.Dotted.URL"),
            Some("https://example.com/x.git")
        );
        assert_eq!(
            c.get("remote.origin.dotted.url"),
            None,
            "subsections are case-sensitive"
        );
        assert_eq!(c.get("weird.with \"quote\" and \\ and x.k"), Some("v"));
        assert_eq!(c.get("legacy.subsection.k"), Some("legacy"));
        assert_eq!(
            c.get("legacy.SubSection.k"),
            None,
            "legacy subsections are lowercased"
        );
        assert_eq!(c.get("values.quoted"), Some("  spaced   tail"));
        assert_eq!(c.get("values.escapes"), Some("a\tb\nc\\d\"e\u{8}f"));
        assert_eq!(c.get("values.continued"), Some("one two"));
        assert_eq!(c.get("values.mixed"), Some("a#not comment;b"));
        assert_eq!(c.get("values.crlf"), Some("yes"));
        assert_eq!(c.get("a.inline"), Some("1"));
        assert_eq!(c.get("c.after"), Some("both"));
        assert_eq!(c.get("b.after"), None);
        assert_eq!(c.get("nosuch.key"), None);
        assert_eq!(c.get("nodot"), None);
        assert_eq!(c.subsections("remote"), vec!["Origin.Dotted"]);
        assert_eq!(c.subsections("legacy"), vec!["subsection"]);
        assert_eq!(
            c.keys_in_section("CORE"),
            vec!["repositoryformatversion", "bare", "filemode", "flag", "empty"]
        );

        // The same file, as git reads it.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        fs::write(&file, text).unwrap();
        for key in [
            "core.bare",
            "remote.Origin.Dotted.url",
            "weird.with \"quote\" and \\ and x.k",
            "legacy.subsection.k",
            "values.quoted",
            "values.escapes",
            "values.continued",
            "values.mixed",
            "values.crlf",
            "a.inline",
            "c.after",
        ] {
            assert_eq!(c.get(key).map(str::to_string), git_get(&file, key), "{key}");
        }
    }

    #[test]
    fn last_value_wins_and_all_values_are_kept() {
        let c = parse(
            "[remote \"o\"]\n\tfetch = a\n[other]\n\tx = 1\n[remote \"o\"]\n\tfetch = b\n\tFETCH = c\n",
        );
        assert_eq!(c.get("remote.o.fetch"), Some("c"));
        assert_eq!(c.get_all("remote.o.fetch"), vec!["a", "b", "c"]);
        assert!(c.get_all("remote.x.fetch").is_empty());
        assert_eq!(c.subsections("remote"), vec!["o"]);
    }

    #[test]
    fn booleans_and_integers_follow_git() {
        let c = parse(
            "[t]\n a = true\n b = YES\n c = On\n d = 1\n e = 42\n f\n\
             [f]\n a = false\n b = no\n c = OFF\n d = 0\n e =\n f = 0x0\n\
             [i]\n a = 10\n b = -3\n c = 2k\n d = 1M\n e = 3g\n f = 0x1F\n g = 010\n h = +7\n\
             [bad]\n b = maybe\n i = 12q\n j = 99999999999g\n k\n l = 0x\n m = 08\n",
        );
        for k in "abcdef".chars() {
            assert_eq!(c.get_bool(&format!("t.{k}")).unwrap(), Some(true), "t.{k}");
            assert_eq!(c.get_bool(&format!("f.{k}")).unwrap(), Some(false), "f.{k}");
        }
        assert_eq!(c.get_bool("none.x").unwrap(), None);
        let ints = [
            ("a", 10),
            ("b", -3),
            ("c", 2048),
            ("d", 1 << 20),
            ("e", 3 << 30),
            ("f", 31),
            ("g", 8),
            ("h", 7),
        ];
        for (k, v) in ints {
            assert_eq!(c.get_int(&format!("i.{k}")).unwrap(), Some(v), "i.{k}");
        }
        assert_eq!(c.get_int("none.x").unwrap(), None);
        assert!(
            matches!(c.get_bool("bad.b"), Err(Error::CorruptFile { reason, .. }) if reason.contains("bad.b"))
        );
        for k in ["i", "j", "k", "l", "m"] {
            assert!(c.get_int(&format!("bad.{k}")).is_err(), "bad.{k}");
        }

        // Compare with git on the same file.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        fs::write(&file, c.to_bytes()).unwrap();
        for (k, v) in ints {
            let out = git_config(&file, &["--int", "--get", &format!("i.{k}")]).unwrap();
            assert_eq!(String::from_utf8(out).unwrap().trim(), v.to_string(), "i.{k}");
        }
        for k in ["i", "j", "k", "l", "m"] {
            assert!(
                git_config(&file, &["--int", "--get", &format!("bad.{k}")]).is_err(),
                "git accepts bad.{k}"
            );
        }
    }

    #[test]
    fn syntax_errors_name_the_line() {
        for (text, line) in [
            ("[core\n", 1),
            ("[core]\n\tx = \"open\n", 2),
            ("[core]\n\n\tx = bad\\escape\n", 3),
            ("[core]\n\t1x = 2\n", 2),
            ("[core]\n\tx y = 2\n", 2),
            ("[sec \"sub\" x]\n", 1),
            ("[sec \"unterminated]\n", 1),
            ("[]\n", 1),
            ("[a]\n\tk = v\n[b c]\n", 3),
            ("[core", 2),
            ("[a]\nx=\"open", 2),
            ("[a]\n\tk = v\n[b \"x\ny\"]\n", 3),
            ("[a]\n\tk = v\n[b \"x\\\ny\"]\n", 3),
        ] {
            match Config::parse(text.as_bytes(), Path::new("/x/config")) {
                Err(Error::CorruptFile { path, reason }) => {
                    assert_eq!(path, Path::new("/x/config"));
                    assert_eq!(reason, format!("bad config line {line}"), "{text:?}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("config");
            fs::write(&file, text).unwrap();
            let err = git_config(&file, &["--list"]).unwrap_err();
            assert!(
                err.contains(&format!("line {line}")),
                "git says {err} for {text:?}"
            );
        }
    }

    #[test]
    fn set_edits_in_place_and_keeps_everything_else() {
        let mut c = parse(
            "# top comment\n\
             [core]\n\
             \tbare = false ; old\n\
             \tbare = true\n\
             # between\n\
             [remote \"origin\"]\n\
             \turl = x\n\
             \n\
             ; trailing comment\n",
        );
        c.set("core.bare", "false");
        c.set("Core.NewKey", "v");
        c.set("remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*");
        c.set("remote.Other.url", "needs \"quotes\" ");
        c.set("fresh.key", "1");
        assert_eq!(
            String::from_utf8(c.to_bytes()).unwrap(),
            "# top comment\n\
             [core]\n\
             \tbare = false ; old\n\
             \tbare = false\n\
             \tNewKey = v\n\
             # between\n\
             [remote \"origin\"]\n\
             \turl = x\n\
             \tfetch = +refs/heads/*:refs/remotes/origin/*\n\
             \n\
             ; trailing comment\n\
             [remote \"Other\"]\n\
             \turl = \"needs \\\"quotes\\\" \"\n\
             [fresh]\n\
             \tkey = 1\n"
        );
        assert_eq!(c.get("core.newkey"), Some("v"));
        assert_eq!(c.get("remote.Other.url"), Some("needs \"quotes\" "));
        assert_eq!(c.subsections("remote"), vec!["origin", "Other"]);

        // Unfinished last lines and headers sharing a line with an entry.
        let mut c = parse("[a] x = 1\n[b]");
        c.set("b.k", "v");
        c.set("a.y", "2");
        c.set("a.x", "3");
        assert_eq!(
            String::from_utf8(c.to_bytes()).unwrap(),
            "[a] x = 3\n\ty = 2\n[b]\n\tk = v\n"
        );
        let mut c = parse("[a]\n\tx = 1");
        c.set("a.y", "2");
        c.set("a.x", "0");
        assert_eq!(
            String::from_utf8(c.to_bytes()).unwrap(),
            "[a]\n\tx = 0\n\ty = 2\n"
        );
        let mut c = Config::default();
        c.set("core.bare", "true");
        c.set("not valid", "x");
        c.set("sec.1bad", "x");
        c.set("sec.sub\nline.k", "x");
        assert_eq!(
            String::from_utf8(c.to_bytes()).unwrap(),
            "[core]\n\tbare = true\n"
        );
    }

    #[test]
    fn unset_and_remove_section() {
        let text = "[core]\n\tbare = true\n\tx = 1\n\tX = 2\n[remote \"origin\"]\n\turl = u\n\tfetch = f\n# about dup\n[remote \"dup\"]\n\turl = d\n[a] k = 1\n[remote \"origin\"]\n\tpushurl = p\n";
        let mut c = parse(text);
        assert!(c.unset_all("core.x"));
        assert!(!c.unset_all("core.x"));
        assert!(c.unset_all("a.k"));
        assert_eq!(c.get("core.x"), None);
        assert!(c.remove_section("remote.origin"));
        assert!(!c.remove_section("remote.origin"));
        assert!(!c.remove_section("remote.Dup"));
        assert_eq!(c.subsections("remote"), vec!["dup"]);
        assert_eq!(
            String::from_utf8(c.to_bytes()).unwrap(),
            "[core]\n\tbare = true\n[remote \"dup\"]\n\turl = d\n[a]\n"
        );
        assert!(c.remove_section("CORE"));
        assert_eq!(
            String::from_utf8(c.to_bytes()).unwrap(),
            "[remote \"dup\"]\n\turl = d\n[a]\n"
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        c.save(&file, true).unwrap();
        assert_eq!(git_get(&file, "remote.dup.url").as_deref(), Some("d"));
    }

    #[test]
    fn values_round_trip_through_git() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        let mut c = Config::load(&file).unwrap();
        assert!(c.to_bytes().is_empty(), "missing file is empty");
        for (i, value) in TRICKY.iter().enumerate() {
            c.set(&format!("section.key{i}"), value);
            c.set(&format!("sub.we\"ird\\ sub.{i}.key"), value);
        }
        c.save(&file, true).unwrap();
        assert!(!dir.path().join("config.lock").exists());
        let reread = Config::load(&file).unwrap();
        for (i, value) in TRICKY.iter().enumerate() {
            let key = format!("section.key{i}");
            assert_eq!(
                git_get(&file, &key).as_deref(),
                Some(*value),
                "git reads {key} = {value:?}"
            );
            assert_eq!(reread.get(&key), Some(*value), "we read {key} = {value:?}");
            let key = format!("sub.we\"ird\\ sub.{i}.key");
            assert_eq!(git_get(&file, &key).as_deref(), Some(*value), "git reads {key}");
        }
        // Replacing values keeps them readable too.
        let mut c = reread;
        for (i, value) in TRICKY.iter().rev().enumerate() {
            c.set(&format!("section.key{i}"), value);
        }
        c.save(&file, false).unwrap();
        for (i, value) in TRICKY.iter().rev().enumerate() {
            assert_eq!(
                git_get(&file, &format!("section.key{i}")).as_deref(),
                Some(*value)
            );
        }
    }

    #[test]
    fn reads_what_git_writes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        git_config(&file, &["a.b", "c"]).unwrap();
        git_config(&file, &["remote.origin.url", "x"]).unwrap();
        git_config(&file, &["--add", "remote.origin.fetch", "one"]).unwrap();
        git_config(&file, &["--add", "remote.origin.fetch", "two"]).unwrap();
        git_config(&file, &["Remote.CaseSub.URL", "y"]).unwrap();
        for (i, value) in TRICKY.iter().enumerate() {
            git_config(&file, &[&format!("git.key{i}"), value]).unwrap();
        }
        let c = Config::load(&file).unwrap();
        assert_eq!(c.get("a.b"), Some("c"));
        assert_eq!(c.get("remote.origin.url"), Some("x"));
        assert_eq!(c.get_all("remote.origin.fetch"), vec!["one", "two"]);
        assert_eq!(c.get("remote.CaseSub.url"), Some("y"));
        assert_eq!(c.subsections("remote"), vec!["origin", "CaseSub"]);
        for (i, value) in TRICKY.iter().enumerate() {
            assert_eq!(c.get(&format!("git.key{i}")), Some(*value), "{value:?}");
        }

        // Our edits leave a file git still reads, and git's edits of it we still read.
        let mut c = c;
        c.set("remote.origin.url", "z");
        assert!(c.unset_all("remote.origin.fetch"));
        assert!(c.remove_section("remote.CaseSub"));
        c.save(&file, true).unwrap();
        assert_eq!(git_get(&file, "remote.origin.url").as_deref(), Some("z"));
        assert!(git_get(&file, "remote.origin.fetch").is_none());
        assert!(git_get(&file, "remote.CaseSub.url").is_none());
        git_config(&file, &["--list"]).unwrap();
        git_config(&file, &["remote.origin.url", "w"]).unwrap();
        assert_eq!(Config::load(&file).unwrap().get("remote.origin.url"), Some("w"));
    }

    #[test]
    fn save_recovers_the_lock_of_a_dead_writer() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        let lock_path = dir.path().join("config.lock");
        // Taken and never released, as by a writer killed while holding it.
        let lock::Attempt::Taken(held) = lock::try_take(&lock_path).unwrap() else {
            panic!()
        };
        let mut c = Config::default();
        c.set("a.b", "c");
        let err = c.save(&file, false).unwrap_err();
        assert!(err.to_string().contains("a live process holds it"), "{err}");
        drop(held);
        assert!(lock_path.exists());
        c.save(&file, false).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "[a]\n\tb = c\n");
        assert!(!lock_path.exists());
    }

    #[test]
    fn save_respects_a_foreign_lock() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        let lock = dir.path().join("config.lock");
        fs::write(&lock, b"theirs").unwrap();
        let mut c = Config::default();
        c.set("a.b", "c");
        let err = c.save(&file, false).unwrap_err();
        assert!(matches!(&err, Error::Io { path, .. } if *path == lock), "{err}");
        assert_eq!(fs::read(&lock).unwrap(), b"theirs");
        assert!(!file.exists());
        fs::remove_file(&lock).unwrap();
        c.save(&file, false).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "[a]\n\tb = c\n");
        // Unreadable paths are I/O errors, a missing file is empty.
        assert!(Config::load(&dir.path().join("missing"))
            .unwrap()
            .to_bytes()
            .is_empty());
        assert!(matches!(Config::load(dir.path()), Err(Error::Io { .. })));
    }

    proptest::proptest! {
        #[test]
        fn any_value_round_trips(value in "[^\u{0}]{0,24}", sub in "[^\u{0}\n]{0,8}") {
            let mut c = Config::default();
            let key = format!("s.{sub}.k");
            c.set("s.first", "x");
            c.set(&key, &value);
            let parsed = Config::parse(&c.to_bytes(), Path::new("p")).unwrap();
            proptest::prop_assert_eq!(parsed.get(&key), Some(value.as_str()));
            proptest::prop_assert_eq!(parsed.get("s.first"), Some("x"));
        }
    }

    #[test]
    fn random_values_round_trip_through_git() {
        use proptest::strategy::{Strategy, ValueTree};
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = "[^\u{0}]{0,16}";
        let mut c = Config::default();
        let mut values = Vec::new();
        for i in 0..200 {
            let v = strategy.new_tree(&mut runner).unwrap().current();
            c.set(&format!("r.k{i}"), &v);
            values.push(v);
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        c.save(&file, false).unwrap();
        // One git call: `key\nvalue\0` records.
        let listed = git_config(&file, &["-z", "--list"]).unwrap();
        let records: Vec<&[u8]> = listed.split(|&b| b == 0).filter(|r| !r.is_empty()).collect();
        assert_eq!(records.len(), values.len());
        for (i, record) in records.iter().enumerate() {
            let nl = record.iter().position(|&b| b == b'\n').unwrap();
            assert_eq!(&record[..nl], format!("r.k{i}").as_bytes());
            assert_eq!(&record[nl + 1..], values[i].as_bytes(), "value {:?}", values[i]);
        }
    }
}

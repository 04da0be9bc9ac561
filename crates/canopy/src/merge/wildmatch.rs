//! Git's glob matching (`wildmatch`), as `.gitattributes` and `.gitignore` patterns use it.
//!
//! `?` and `*` never match `/` in path mode; `[...]` classes (with `!`/`^` negation, ranges,
//! `[:alpha:]`-style names and `\` escapes) never match `/` either; `**` matches across
//! directories only where it is a whole path component (`**/x`, `x/**`, `x/**/y`), and elsewhere
//! acts as `*`. A malformed pattern (an unclosed class, an unknown class name) matches nothing.
//! Failed (pattern, text) positions are remembered, so matching stays polynomial.

use std::collections::HashSet;

/// Whether `text` matches `pattern`; `pathname` gives `/` its special meaning.
pub(crate) fn wildmatch(pattern: &[u8], text: &[u8], pathname: bool) -> bool {
    Matcher {
        pattern,
        text,
        pathname,
        failed: HashSet::new(),
    }
    .at(0, 0)
}

struct Matcher<'a> {
    pattern: &'a [u8],
    text: &'a [u8],
    pathname: bool,
    failed: HashSet<(usize, usize)>,
}

impl Matcher<'_> {
    fn at(&mut self, p: usize, t: usize) -> bool {
        if self.failed.contains(&(p, t)) {
            return false;
        }
        let matched = self.walk(p, t);
        if !matched {
            self.failed.insert((p, t));
        }
        matched
    }

    fn walk(&mut self, mut p: usize, mut t: usize) -> bool {
        let (pat, text) = (self.pattern, self.text);
        loop {
            let Some(&pc) = pat.get(p) else {
                return t == text.len();
            };
            if pc == b'*' {
                return self.star(p, t);
            }
            let Some(&tc) = text.get(t) else {
                return false;
            };
            match pc {
                b'\\' => {
                    p += 1;
                    if pat.get(p) != Some(&tc) {
                        return false;
                    }
                }
                b'?' => {
                    if self.pathname && tc == b'/' {
                        return false;
                    }
                }
                b'[' => match class(pat, p, tc) {
                    Some((true, close)) if !(self.pathname && tc == b'/') => p = close,
                    _ => return false,
                },
                c => {
                    if c != tc {
                        return false;
                    }
                }
            }
            p += 1;
            t += 1;
        }
    }

    /// Matches a run of stars starting at `pattern[first]` and whatever follows it.
    fn star(&mut self, first: usize, t: usize) -> bool {
        let (pat, text) = (self.pattern, self.text);
        let mut p = first + 1;
        let mut match_slash = !self.pathname;
        if pat.get(p) == Some(&b'*') {
            while pat.get(p) == Some(&b'*') {
                p += 1;
            }
            let after_boundary = first == 0 || pat[first - 1] == b'/';
            let before_boundary =
                p == pat.len() || pat[p] == b'/' || (pat[p] == b'\\' && pat.get(p + 1) == Some(&b'/'));
            if !self.pathname {
                match_slash = true;
            } else if after_boundary && before_boundary {
                // `**/` may match no directory at all.
                if pat.get(p) == Some(&b'/') && self.at(p + 1, t) {
                    return true;
                }
                match_slash = true;
            } else {
                match_slash = false;
            }
        }
        if p == pat.len() {
            return match_slash || !text[t..].contains(&b'/');
        }
        if !match_slash && pat[p] == b'/' {
            // One star before a slash takes the rest of this path component.
            return match text[t..].iter().position(|&c| c == b'/') {
                Some(k) => self.at(p, t + k),
                None => false,
            };
        }
        for k in t..text.len() {
            if k > t && !match_slash && text[k - 1] == b'/' {
                break;
            }
            if self.at(p, k) {
                return true;
            }
        }
        false
    }
}

/// Matches `tc` against the class opening at `pat[open]`: `(matched, index of the closing ])`,
/// or `None` if the class is malformed.
fn class(pat: &[u8], open: usize, tc: u8) -> Option<(bool, usize)> {
    let get = |i: usize| pat.get(i).copied().unwrap_or(0);
    let mut p = open + 1;
    let mut pc = get(p);
    if pc == b'^' {
        pc = b'!';
    }
    let negated = pc == b'!';
    if negated {
        p += 1;
        pc = get(p);
    }
    let mut prev: u8 = 0;
    let mut matched = false;
    loop {
        if pc == 0 {
            return None;
        }
        if pc == b'\\' {
            p += 1;
            pc = get(p);
            if pc == 0 {
                return None;
            }
            if tc == pc {
                matched = true;
            }
        } else if pc == b'-' && prev != 0 && get(p + 1) != 0 && get(p + 1) != b']' {
            p += 1;
            pc = get(p);
            if pc == b'\\' {
                p += 1;
                pc = get(p);
                if pc == 0 {
                    return None;
                }
            }
            if prev <= tc && tc <= pc {
                matched = true;
            }
            pc = 0;
        } else if pc == b'[' && get(p + 1) == b':' {
            let start = p + 2;
            let mut q = start;
            while get(q) != 0 && get(q) != b']' {
                q += 1;
            }
            if get(q) == 0 {
                return None;
            }
            if q < start + 1 || get(q - 1) != b':' {
                // Not a `[:name:]`: the `[` is an ordinary member.
                pc = b'[';
                if tc == pc {
                    matched = true;
                }
            } else {
                let yes = match &pat[start..q - 1] {
                    b"alnum" => tc.is_ascii_alphanumeric(),
                    b"alpha" => tc.is_ascii_alphabetic(),
                    b"blank" => tc == b' ' || tc == b'\t',
                    b"cntrl" => tc.is_ascii_control(),
                    b"digit" => tc.is_ascii_digit(),
                    b"graph" => tc.is_ascii_graphic(),
                    b"lower" => tc.is_ascii_lowercase(),
                    b"print" => tc.is_ascii_graphic() || tc == b' ',
                    b"punct" => tc.is_ascii_punctuation(),
                    b"space" => matches!(tc, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c),
                    b"upper" => tc.is_ascii_uppercase(),
                    b"xdigit" => tc.is_ascii_hexdigit(),
                    _ => return None,
                };
                if yes {
                    matched = true;
                }
                p = q;
                pc = 0;
            }
        } else if tc == pc {
            matched = true;
        }
        prev = pc;
        p += 1;
        pc = get(p);
        if pc == b']' {
            break;
        }
    }
    Some((matched != negated, p))
}

#[cfg(test)]
mod tests {
    use super::wildmatch;

    fn m(p: &str, t: &str) -> bool {
        wildmatch(p.as_bytes(), t.as_bytes(), true)
    }

    #[test]
    fn stars_and_slashes() {
        assert!(m("*.json", "a.json"));
        assert!(!m("*.json", "d/a.json"));
        assert!(m("**/*.json", "a.json"));
        assert!(m("**/*.json", "d/e/a.json"));
        assert!(m("d/**", "d/e/a"));
        assert!(!m("d/**", "e/a"));
        assert!(m("a/**/b", "a/b"));
        assert!(m("a/**/b", "a/x/y/b"));
        assert!(!m("a/**/b", "a/xb"));
        assert!(m("a**b", "axxb"));
        assert!(!m("a**b", "ax/xb"));
        assert!(m("*/b", "a/b"));
        assert!(!m("*/b", "a/c/b"));
    }

    #[test]
    fn classes_and_escapes() {
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[!a-c]x", "bx"));
        assert!(m("[]]", "]"));
        assert!(m("[[:digit:]]", "7"));
        assert!(!m("[[:bogus:]]", "7"));
        assert!(!m("[abc", "a"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(!m("a[/]b", "a/b"));
        assert!(m("?", "a"));
        assert!(!m("?", "/"));
    }
}

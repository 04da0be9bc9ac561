//! Capability lists: `name` or `name=value` words separated by spaces (v0, after the NUL of the
//! first advertised ref or command) or one per line (v2).

/// A parsed capability list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    entries: Vec<(String, Option<String>)>,
}

impl Capabilities {
    /// Parses a space-separated list (leading and repeated spaces are ignored).
    pub fn parse(text: &[u8]) -> Capabilities {
        let text = String::from_utf8_lossy(text);
        let mut caps = Capabilities::default();
        for word in text.split(' ').filter(|w| !w.is_empty()) {
            caps.push_word(word);
        }
        caps
    }

    /// Adds one `name[=value]` word.
    pub fn push_word(&mut self, word: &str) {
        let word = word.trim_end_matches('\n');
        match word.split_once('=') {
            Some((k, v)) => self.entries.push((k.to_string(), Some(v.to_string()))),
            None => self.entries.push((word.to_string(), None)),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == name)
    }

    /// The value of the first `name=value` entry.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Every value given for `name` (`symref` may repeat).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(k, _)| k == name)
            .filter_map(|(_, v)| v.as_deref())
    }

    /// For a v2 command capability like `fetch=shallow filter`: whether `feature` is listed.
    pub fn has_feature(&self, name: &str, feature: &str) -> bool {
        self.get(name).is_some_and(|v| v.split(' ').any(|f| f == feature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_words_and_values() {
        let c = Capabilities::parse(
            b" report-status side-band-64k symref=HEAD:refs/heads/main agent=git/2.47.3 object-format=sha1",
        );
        assert!(c.has("report-status") && c.has("side-band-64k"));
        assert!(!c.has("atomic"));
        assert_eq!(c.get("symref"), Some("HEAD:refs/heads/main"));
        assert_eq!(c.get("object-format"), Some("sha1"));
        let mut v2 = Capabilities::default();
        v2.push_word("fetch=shallow wait-for-done filter");
        assert!(v2.has_feature("fetch", "filter"));
        assert!(!v2.has_feature("fetch", "sideband-all"));
    }
}

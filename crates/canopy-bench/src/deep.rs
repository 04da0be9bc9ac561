//! The `deep` workload: a synthetic history shaped like a large, long-lived project (issue 15,
//! item 6: 82,000 commits, a quarter of them merges, paths in nested directories, some changed
//! only long ago), and the history queries a user runs on it: `log PATH --limit 50`,
//! `last-modified`, `merge-base --all` of two branches with many merge bases, and `blame`.
//!
//! The history is one `git fast-import` stream made here (untimed): a `main` branch, a
//! `release` branch and `sides` long-lived side branches. Three commits in four change one to
//! three files (a few "hot" files often, the rest uniformly; the files under `lib/a7/b7/` only in
//! the first 3 % of the history); one in four is a merge: a side into `main` or `release`,
//! `main` back into a side or into `release`, or two sides into each other at once (criss-cross).
//! At the end every side gets a commit and is then merged into both `main` and `release`, one
//! merge each, so `merge-base --all main release` has about `sides` answers.
//!
//! A merge takes, path by path, the newer of the two versions: the trees are consistent, not
//! the result of a real three-way merge (nothing here depends on that).

use std::collections::HashMap;
use std::io::Write;

use crate::data::FIRST_DATE;

/// Lines per file: each change rewrites one of them.
const LINES: usize = 12;
/// Files changed often.
const HOT: usize = 40;

/// A fixed pseudo-random sequence (the same history on every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// File `i`'s path: four directory levels, 640 leaf directories.
pub fn path(i: usize) -> String {
    format!("lib/a{}/b{}/c{}/f{i}.txt", i % 8, (i / 8) % 8, (i / 64) % 10)
}

/// Whether file `i` lies under `lib/a7/b7/`, the directory changed only early on.
fn is_rare(i: usize) -> bool {
    i % 64 == 63
}

/// What the queries are run on.
pub struct Deep {
    pub stream: Vec<u8>,
    pub commits: u64,
    pub merges: u64,
    /// Every branch name (`main`, `release`, `side-NN`).
    pub branches: Vec<String>,
    /// A file changed often.
    pub hot: String,
    /// A file changed about as often as any other (a few times in the whole history).
    pub cold: String,
    /// A file changed only in the first 3 % of the history.
    pub rare: String,
    /// A directory changed often.
    pub hot_dir: String,
    /// A directory changed only in the first 3 % of the history.
    pub rare_dir: String,
}

struct Gen {
    out: Vec<u8>,
    rng: Rng,
    mark: u32,
    /// Line stamps of every blob written, by mark.
    blobs: HashMap<u32, [u32; LINES]>,
    /// Per branch: its head's mark and the blob mark of every file.
    heads: Vec<(u32, Vec<u32>)>,
    names: Vec<String>,
    commits: u64,
    merges: u64,
    stamp: u32,
}

impl Gen {
    fn next_mark(&mut self) -> u32 {
        self.mark += 1;
        self.mark
    }

    fn blob(&mut self, file: usize, lines: [u32; LINES]) -> u32 {
        let mark = self.next_mark();
        let mut text = String::new();
        for (k, s) in lines.iter().enumerate() {
            text.push_str(&format!("f{file} line {k} v{s}\n"));
        }
        let _ = write!(self.out, "blob\nmark :{mark}\ndata {}\n{text}\n", text.len());
        self.blobs.insert(mark, lines);
        mark
    }

    fn header(&mut self, branch: usize, message: &str) -> u32 {
        let mark = self.next_mark();
        let time = FIRST_DATE + self.commits as i64 * 60;
        let _ = write!(
            self.out,
            "commit refs/heads/{}\nmark :{mark}\ncommitter Bench <bench@example.com> {time} +0000\ndata {}\n{message}\n",
            self.names[branch],
            message.len()
        );
        self.commits += 1;
        mark
    }

    /// A commit on `branch` rewriting one line of each of `files`.
    fn change(&mut self, branch: usize, files: &[usize]) {
        let mut written = Vec::new();
        for &f in files {
            let mut lines = self.blobs[&self.heads[branch].1[f]];
            self.stamp += 1;
            lines[self.rng.below(LINES)] = self.stamp;
            written.push((f, self.blob(f, lines)));
        }
        let message = format!("change {}", path(files[0]));
        let parent = self.heads[branch].0;
        let mark = self.header(branch, &message);
        let _ = writeln!(self.out, "from :{parent}");
        for (f, blob) in written {
            let _ = writeln!(self.out, "M 100644 :{blob} {}", path(f));
            self.heads[branch].1[f] = blob;
        }
        self.heads[branch].0 = mark;
    }

    /// Merges `theirs` (as it is given, which may be an older head) into `ours`.
    fn merge(&mut self, ours: usize, theirs: (u32, Vec<u32>)) {
        let message = format!("Merge into {}", self.names[ours]);
        let parent = self.heads[ours].0;
        let mark = self.header(ours, &message);
        self.merges += 1;
        let _ = writeln!(self.out, "from :{parent}\nmerge :{}", theirs.0);
        for (f, &blob) in theirs.1.iter().enumerate() {
            let mine = self.heads[ours].1[f];
            if blob > mine {
                let _ = writeln!(self.out, "M 100644 :{blob} {}", path(f));
                self.heads[ours].1[f] = blob;
            }
        }
        self.heads[ours].0 = mark;
    }

    fn pick_files(&mut self, files: usize, early: bool) -> Vec<usize> {
        let n = 1 + self.rng.below(3);
        let mut picked = Vec::with_capacity(n);
        while picked.len() < n {
            let f = if self.rng.chance(30) {
                self.rng.below(HOT)
            } else {
                self.rng.below(files)
            };
            if (early || !is_rare(f)) && !picked.contains(&f) {
                picked.push(f);
            }
        }
        picked
    }
}

/// The history: about `commits` commits over `files` files and `sides` side branches.
pub fn generate(commits: u64, files: usize, sides: usize) -> Deep {
    let files = files.max(128);
    let sides = sides.max(2);
    let mut names = vec!["main".to_string(), "release".to_string()];
    names.extend((0..sides).map(|s| format!("side-{s:02}")));
    let mut g = Gen {
        out: Vec::with_capacity(commits as usize * 300),
        rng: Rng(0xdee9),
        mark: 0,
        blobs: HashMap::new(),
        heads: Vec::new(),
        names,
        commits: 0,
        merges: 0,
        stamp: 0,
    };
    // The root: every file.
    let mut blobs = Vec::with_capacity(files);
    for f in 0..files {
        blobs.push(g.blob(f, [0; LINES]));
    }
    let root = g.header(0, "import");
    for (f, b) in blobs.iter().enumerate() {
        let _ = writeln!(g.out, "M 100644 :{b} {}", path(f));
    }
    let branch_count = g.names.len();
    for b in 0..branch_count {
        g.heads.push((root, blobs.clone()));
        if b > 0 {
            // A new branch starts at the root.
            let _ = writeln!(g.out, "reset refs/heads/{}\nfrom :{root}\n", g.names[b]);
        }
    }
    let finale = 2 * sides as u64 + sides as u64;
    let body = commits.saturating_sub(1 + finale);
    let side = |rng: &mut Rng| 2 + rng.below(sides);
    while g.commits < 1 + body {
        let early = g.commits < body * 3 / 100;
        if g.rng.chance(25) {
            let kind = g.rng.below(100);
            if kind < 40 {
                let s = side(&mut g.rng);
                let theirs = g.heads[s].clone();
                g.merge(0, theirs);
            } else if kind < 60 {
                let s = side(&mut g.rng);
                let theirs = g.heads[0].clone();
                g.merge(s, theirs);
            } else if kind < 75 {
                let s = side(&mut g.rng);
                let theirs = g.heads[s].clone();
                g.merge(1, theirs);
            } else if kind < 85 {
                let theirs = g.heads[0].clone();
                g.merge(1, theirs);
            } else {
                let a = side(&mut g.rng);
                let b = side(&mut g.rng);
                if a != b {
                    let (old_a, old_b) = (g.heads[a].clone(), g.heads[b].clone());
                    g.merge(a, old_b);
                    g.merge(b, old_a);
                }
            }
        } else {
            let branch = match g.rng.below(100) {
                0..=24 => 0,
                25..=29 => 1,
                _ => side(&mut g.rng),
            };
            let picked = g.pick_files(files, early);
            g.change(branch, &picked);
        }
    }
    for s in 2..branch_count {
        let picked = g.pick_files(files, false);
        g.change(s, &picked);
    }
    for target in [0, 1] {
        for s in 2..branch_count {
            let theirs = g.heads[s].clone();
            g.merge(target, theirs);
        }
    }
    Deep {
        stream: g.out,
        commits: g.commits,
        merges: g.merges,
        branches: g.names,
        hot: path(0),
        cold: path(1001 % files),
        rare: path(63),
        hot_dir: "lib/a1".into(),
        rare_dir: "lib/a7/b7".into(),
    }
}

/// Lines of a command's output, trimmed, empty lines dropped.
pub fn lines(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The first word of every line (the commit ids of `canopy log` and `git log --format=%H`).
pub fn ids(out: &[u8]) -> Vec<String> {
    lines(out)
        .into_iter()
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

/// The commit of every line of `git blame --porcelain`, in order.
pub fn blame_owners(out: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(out);
    let mut owners = Vec::new();
    for line in text.lines() {
        if line.starts_with('\t') {
            continue;
        }
        let mut words = line.split(' ');
        let first = words.next().unwrap_or("");
        // A line's header: `<40 hex> <original line> <final line> [<group size>]`.
        if first.len() == 40 && first.bytes().all(|c| c.is_ascii_hexdigit()) && words.count() >= 2 {
            owners.push(first.to_string());
        }
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_is_as_documented() {
        let d = generate(2_000, 500, 6);
        assert!(d.commits >= 1_990 && d.commits <= 2_010, "{} commits", d.commits);
        let share = d.merges as f64 / d.commits as f64;
        assert!((0.2..0.35).contains(&share), "{share} merges");
        assert!(is_rare(63) && d.rare.starts_with(&d.rare_dir));
    }
}

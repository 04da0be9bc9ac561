//! Merges as a user meets them, with Git's `ort` strategy (`git merge-tree`) as the oracle.

mod common;

use common::Sandbox;
use std::path::Path;

/// A small deterministic generator, so a failing case can be replayed by its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Rewrites some files of the work tree at random: lines changed, inserted, deleted; files added
/// and removed.
fn mutate(rng: &mut Rng, dir: &Path, tag: &str) {
    for f in 0..4 {
        let path = dir.join(format!("f{f}.txt"));
        if rng.below(2) == 0 {
            continue;
        }
        if rng.below(10) == 0 {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        for _ in 0..1 + rng.below(2) {
            let at = rng.below(lines.len() as u64 + 1) as usize;
            match rng.below(3) {
                0 if at < lines.len() => lines[at] = format!("{tag} changed {}", rng.below(4)),
                1 => lines.insert(at, format!("{tag} inserted {}", rng.below(4))),
                _ if at < lines.len() => {
                    lines.remove(at);
                }
                _ => lines.push(format!("{tag} appended")),
            }
        }
        let mut out = lines.join("\n");
        out.push('\n');
        std::fs::write(&path, out).unwrap();
    }
}

fn commit_all(sb: &Sandbox, dir: &Path, msg: &str) {
    sb.git_ok(dir, &["add", "-A"]);
    sb.git_ok(dir, &["commit", "-q", "--allow-empty", "-m", msg]);
}

/// What `git merge-tree --write-tree` says: the tree, and the conflicting paths.
fn git_merge(sb: &Sandbox, dir: &Path, ours: &str, theirs: &str) -> (String, Vec<String>, bool) {
    let run = sb.git(
        dir,
        &[
            "merge-tree",
            "--write-tree",
            "--name-only",
            "--no-messages",
            ours,
            theirs,
        ],
    );
    assert!(run.code == 0 || run.code == 1, "{run:?}");
    let out = run.out();
    let mut lines = out.lines();
    let tree = lines.next().unwrap_or_default().to_string();
    let mut paths: Vec<String> = lines.filter(|l| !l.is_empty()).map(String::from).collect();
    paths.sort();
    paths.dedup();
    (tree, paths, run.code == 0)
}

/// Merges with canopy on a scratch branch; returns the merged tree id or the conflicting paths.
fn canopy_merge(sb: &Sandbox, dir: &Path, ours: &str, theirs: &str) -> Result<String, Vec<String>> {
    let scratch = format!("scratch-{ours}-{theirs}");
    sb.canopy_ok(dir, &["branch", &scratch, "--from", ours]);
    let run = sb.canopy(dir, &["--branch", &scratch, "--json", "merge", theirs, "--no-ff"]);
    run.assert_no_panic();
    if run.code == 0 {
        return Ok(sb.git_str(dir, &["rev-parse", &format!("{scratch}^{{tree}}")]));
    }
    assert_eq!(run.code, 1, "{run:?}");
    let v = run.json();
    let mut paths: Vec<String> = v["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap().to_string())
        .collect();
    paths.sort();
    paths.dedup();
    Err(paths)
}

#[test]
fn text_merges_agree_with_git_ort() {
    let sb = Sandbox::new();
    let mut disagreements = Vec::new();
    let (mut clean_cases, mut conflict_cases) = (0, 0);
    for seed in 1..=60u64 {
        let dir = sb.path(&format!("w{seed}"));
        sb.git_ok(
            sb.path("").as_path(),
            &["init", "-q", "-b", "main", dir.to_str().unwrap()],
        );
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for f in 0..4 {
            let lines: Vec<String> = (0..10 + rng.below(12))
                .map(|i| format!("line {i} of f{f}"))
                .collect();
            std::fs::write(dir.join(format!("f{f}.txt")), lines.join("\n") + "\n").unwrap();
        }
        commit_all(&sb, &dir, "base");
        sb.git_ok(&dir, &["branch", "other"]);
        mutate(&mut rng, &dir, "ours");
        commit_all(&sb, &dir, "ours");
        sb.git_ok(&dir, &["checkout", "-q", "other"]);
        mutate(&mut rng, &dir, "theirs");
        commit_all(&sb, &dir, "theirs");
        sb.git_ok(&dir, &["checkout", "-q", "main"]);

        let (git_tree, git_conflicts, git_clean) = git_merge(&sb, &dir, "main", "other");
        if git_clean {
            clean_cases += 1;
        } else {
            conflict_cases += 1;
        }
        match canopy_merge(&sb, &dir, "main", "other") {
            Ok(tree) if git_clean && tree == git_tree => {}
            Err(paths) if !git_clean && paths == git_conflicts => {}
            outcome => disagreements.push(format!(
                "seed {seed}: git clean={git_clean} tree={git_tree} conflicts={git_conflicts:?}; canopy {outcome:?}"
            )),
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    // The generator must exercise both outcomes for the comparison to mean something.
    assert!(
        clean_cases >= 8 && conflict_cases >= 8,
        "clean {clean_cases}, conflicts {conflict_cases}"
    );
}

#[test]
fn criss_cross_merges_like_ort() {
    let sb = Sandbox::new();
    let dir = sb.path("w");
    sb.git_ok(
        sb.path("").as_path(),
        &["init", "-q", "-b", "main", dir.to_str().unwrap()],
    );
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write("f.txt", "1\n2\n3\n4\n5\n6\n7\n8\n9\n");
    write("g.txt", "a\nb\nc\n");
    commit_all(&sb, &dir, "base");
    sb.git_ok(&dir, &["branch", "b"]);
    write("f.txt", "1 main\n2\n3\n4\n5\n6\n7\n8\n9\n");
    commit_all(&sb, &dir, "A1");
    sb.git_ok(&dir, &["checkout", "-q", "b"]);
    write("f.txt", "1\n2\n3\n4\n5\n6\n7\n8\n9 b\n");
    write("g.txt", "a\nb changed\nc\n");
    commit_all(&sb, &dir, "B1");
    // Criss-cross: each side merges the other's first commit.
    sb.git_ok(&dir, &["merge", "-q", "--no-edit", "main~0"]);
    sb.git_ok(&dir, &["checkout", "-q", "main"]);
    sb.git_ok(&dir, &["merge", "-q", "--no-edit", "b~1"]);
    write(
        "f.txt",
        &std::fs::read_to_string(dir.join("f.txt"))
            .unwrap()
            .replace("5\n", "5 main\n"),
    );
    commit_all(&sb, &dir, "A3");
    sb.git_ok(&dir, &["checkout", "-q", "b"]);
    write("g.txt", "a\nb changed\nc\nd\n");
    commit_all(&sb, &dir, "B3");
    sb.git_ok(&dir, &["checkout", "-q", "main"]);

    let bases = sb.git_str(&dir, &["merge-base", "--all", "main", "b"]);
    assert_eq!(bases.lines().count(), 2, "the history is criss-cross");
    let mut ours: Vec<String> = sb
        .canopy_ok(&dir, &["merge-base", "main", "b"])
        .lines()
        .map(String::from)
        .collect();
    let mut theirs: Vec<String> = bases.lines().map(String::from).collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs, "merge-base agrees with git merge-base --all");

    let (git_tree, _, clean) = git_merge(&sb, &dir, "main", "b");
    assert!(clean);
    assert_eq!(canopy_merge(&sb, &dir, "main", "b"), Ok(git_tree));
}

#[test]
fn counters_merge_by_meaning_and_conflicts_leave_the_branch_alone() {
    let sb = Sandbox::new();
    let store = sb.init_store("s", "sha1");
    sb.canopy_ok(&store, &["set", ".gitattributes", "counters/* merge=counter\n"]);
    sb.canopy_ok(&store, &["set", "counters/hits", "10"]);
    sb.canopy_ok(&store, &["set", "notes", "one\ntwo\nthree\n"]);
    sb.canopy_ok(&store, &["branch", "other"]);
    sb.canopy_ok(&store, &["set", "counters/hits", "15"]);
    sb.canopy_ok(&store, &["--branch", "other", "set", "counters/hits", "13"]);
    sb.canopy_ok(&store, &["merge", "other"]);
    assert_eq!(sb.canopy_ok(&store, &["get", "counters/hits"]).trim(), "18");
    let merges = sb.git_str(&store, &["log", "--merges", "--format=%P", "main"]);
    let parents: Vec<&str> = merges.split_whitespace().collect();
    assert_eq!(parents.len(), 2, "one merge commit with two parents: {merges}");
    assert_eq!(parents[1], sb.rev_parse(&store, "other"), "Git's parent order");
    sb.assert_fsck_clean(&store);

    // The same line changed differently on both sides: exit 1, the path named, head unchanged.
    sb.canopy_ok(&store, &["set", "notes", "one\nTWO main\nthree\n"]);
    sb.canopy_ok(
        &store,
        &["--branch", "other", "set", "notes", "one\nTWO other\nthree\n"],
    );
    let head = sb.rev_parse(&store, "main");
    let run = sb.canopy(&store, &["merge", "other"]).code(1);
    assert!(run.err().contains("notes"), "{run:?}");
    assert_eq!(sb.rev_parse(&store, "main"), head);
    // -X theirs resolves the conflicting lines to their side and, as Git does, keeps our
    // changes that do not conflict.
    sb.canopy_ok(
        &store,
        &["set", "notes", "one\nTWO main\nthree\nfour\nfive\nsix main\n"],
    );
    sb.canopy_ok(&store, &["merge", "other", "-X", "theirs"]);
    assert_eq!(
        sb.canopy_ok(&store, &["get", "notes"]),
        "one\nTWO other\nthree\nfour\nfive\nsix main\n"
    );
    sb.assert_fsck_clean(&store);
    // Fast-forward and up to date.
    sb.canopy_ok(&store, &["branch", "ff"]);
    sb.canopy_ok(&store, &["--branch", "ff", "set", "x", "1"]);
    let out = sb.canopy_ok(&store, &["--json", "merge", "ff"]);
    assert!(out.contains("fast-forward"), "{out}");
    assert_eq!(sb.rev_parse(&store, "main"), sb.rev_parse(&store, "ff"));
    assert!(sb
        .canopy_ok(&store, &["--json", "merge", "ff"])
        .contains("up-to-date"));
}

#[test]
fn concurrent_transactions_merge_instead_of_overwriting() {
    let sb = Sandbox::new();
    let store = sb.init_store("s", "sha1");
    sb.canopy_ok(&store, &["set", ".gitattributes", "n merge=counter\n"]);
    sb.canopy_ok(&store, &["set", "n", "0"]);
    // Library: a transaction made against an old head merges with the moved branch.
    let repo = canopy::Repo::open(&store).unwrap();
    let main = repo.branch("main").unwrap();
    let p = canopy::Path::parse("n").unwrap();
    let opts = canopy::store::CommitOptions::message("tx");
    let tx = main.transaction().set(p.clone(), "5");
    main.set(&p, "3", &opts).unwrap();
    tx.commit(&opts).unwrap();
    assert_eq!(main.get(&p).unwrap().unwrap(), b"8");
    let tx = main.transaction().set(canopy::Path::parse("t").unwrap(), "a\n");
    main.set(&canopy::Path::parse("t").unwrap(), "b\n", &opts)
        .unwrap();
    let err = tx.commit(&opts).unwrap_err();
    assert!(matches!(err, canopy::store::Error::Conflicts { .. }), "{err}");
    assert_eq!(
        main.get(&canopy::Path::parse("t").unwrap()).unwrap().unwrap(),
        b"b\n"
    );
}

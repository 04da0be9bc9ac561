//! Git interoperability, both ways, through the `canopy` binary:
//! - what a scripted `canopy` session writes, `git fsck --strict` accepts and `git log`, `git
//!   show` and `git clone` read back;
//! - what `git commit` writes (pushed into the store, then packed with deltas by `git gc
//!   --aggressive`), `canopy get/list/tree/log` read back exactly as `git` shows it, for SHA-1
//!   and SHA-256 repositories.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{base64_decode, files_below, lines_of, split_z, Sandbox};

/// A value that is not text: NUL bytes, 0xff, a lone CR, invalid UTF-8, no final newline.
fn binary_value() -> Vec<u8> {
    let mut v = vec![0u8, 0xff, 0xfe, b'\r', 0, b'\n', 0x80, b'x', 0];
    v.extend((0..=255u8).rev());
    v.extend_from_slice(b"\0tail\xff");
    v
}

#[test]
fn scripted_session_is_a_git_repository_git_reads() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    let bin = binary_value();

    // The session; each line is one commit.
    sb.canopy(&store, &["set", "a/b", "first value of a/b"]).ok();
    sb.canopy(&store, &["set", "a/c/d", "deep", "-m", "a custom message"])
        .ok();
    sb.canopy(&store, &["set", "x", "top level"]).ok();
    sb.canopy_in(&store, &["set", "bin", "-"], Some(&bin)).ok();
    // The value a/b becomes a directory...
    sb.canopy(&store, &["set", "a/b/c", "a/b is a directory now"])
        .ok();
    assert_eq!(sb.canopy_ok(&store, &["list", "a"]), "b/\nc/\n");
    assert_eq!(sb.canopy_ok(&store, &["get", "a/b/c"]), "a/b is a directory now");
    // ... and a value again.
    sb.canopy(&store, &["set", "a/b", "a/b is a value again"]).ok();
    sb.canopy(&store, &["rm", "x"]).ok();
    sb.canopy(&store, &["set", "y/z/w", "soon gone"]).ok();
    sb.canopy(&store, &["rm", "y", "-m", "drop the whole of y"]).ok();

    // git accepts every object and reference.
    sb.assert_fsck_clean(&store);

    // git log lists the messages, newest first (default messages `set PATH` / `rm PATH`).
    let subjects = lines_of(&sb.git_ok(&store, &["log", "--format=%s", "main"]));
    assert_eq!(
        subjects,
        [
            "drop the whole of y",
            "set y/z/w",
            "rm x",
            "set a/b",
            "set a/b/c",
            "set bin",
            "set x",
            "a custom message",
            "set a/b",
        ]
    );
    // One linear history: every commit but the first has exactly one parent.
    assert_eq!(sb.git_str(&store, &["rev-list", "--count", "main"]), "9");
    assert_eq!(
        sb.git_str(&store, &["rev-list", "--count", "--min-parents=2", "main"]),
        "0"
    );
    assert_eq!(
        sb.git_str(&store, &["rev-list", "--count", "--max-parents=0", "main"]),
        "1"
    );
    // HEAD names main, so git sees the same thing through HEAD.
    assert_eq!(sb.git_str(&store, &["symbolic-ref", "HEAD"]), "refs/heads/main");

    // git show prints the values.
    assert_eq!(sb.git_ok(&store, &["show", "main:a/b"]), b"a/b is a value again");
    assert_eq!(sb.git_ok(&store, &["show", "main:a/c/d"]), b"deep");
    assert_eq!(sb.git_ok(&store, &["show", "main:bin"]), bin);
    assert_eq!(
        sb.git_ok(&store, &["show", "main~4:a/b/c"]),
        b"a/b is a directory now"
    );
    assert_eq!(sb.git_ok(&store, &["show", "main~8:a/b"]), b"first value of a/b");
    // Values are plain files (mode 100644), directories trees.
    assert_eq!(
        lines_of(&sb.git_ok(
            &store,
            &["ls-tree", "--format=%(objectmode) %(objecttype) %(path)", "main"]
        )),
        ["040000 tree a", "100644 blob bin"]
    );
    assert_eq!(
        lines_of(&sb.git_ok(&store, &["ls-tree", "-r", "--name-only", "main"])),
        ["a/b", "a/c/d", "bin"]
    );

    // A clone checks the files out with the same contents, byte for byte.
    let clone = sb.path("clone");
    sb.git(
        &sb.path(""),
        &["clone", "--quiet", store.to_str().unwrap(), "clone"],
    )
    .ok();
    let files = files_below(&clone);
    assert_eq!(
        files,
        [
            ("a/b".to_string(), b"a/b is a value again".to_vec()),
            ("a/c/d".to_string(), b"deep".to_vec()),
            ("bin".to_string(), bin.clone()),
        ]
    );
    assert_eq!(sb.git_str(&clone, &["status", "--porcelain"]), "");

    // canopy reads back exactly what was set, binary values included.
    assert_eq!(sb.canopy(&store, &["get", "bin"]).ok().stdout, bin);
    assert_eq!(sb.canopy_ok(&store, &["get", "a/b"]), "a/b is a value again");
    assert_eq!(sb.canopy_ok(&store, &["get", "a/c/d"]), "deep");
    for gone in ["x", "y", "y/z/w", "a/b/c"] {
        let run = sb.canopy(&store, &["get", gone]).code(1);
        run.assert_one_line_error();
        assert!(
            run.stdout.is_empty(),
            "nothing on stdout for an absent path: {run:?}"
        );
    }

    // list: direct children, sorted, directories end with '/'; tree: every value path.
    assert_eq!(sb.canopy_ok(&store, &["list"]), "a/\nbin\n");
    assert_eq!(sb.canopy_ok(&store, &["list", "a"]), "b\nc/\n");
    assert_eq!(sb.canopy_ok(&store, &["list", "a/c"]), "d\n");
    assert_eq!(sb.canopy_ok(&store, &["tree"]), "a/b\na/c/d\nbin\n");
    assert_eq!(sb.canopy_ok(&store, &["tree", "a"]), "a/b\na/c/d\n");

    // log agrees with git log, and --limit keeps the newest.
    let git_log = lines_of(&sb.git_ok(&store, &["log", "--format=%H %s", "main"]));
    assert_eq!(sb.canopy(&store, &["log"]).ok().lines(), git_log);
    assert_eq!(
        sb.canopy(&store, &["log", "--limit", "2"]).ok().lines(),
        git_log[..2]
    );
    assert_eq!(
        sb.canopy(&store, &["log", "a/b"]).ok().lines(),
        lines_of(&sb.git_ok(&store, &["log", "--format=%H %s", "main", "--", "a/b"]))
    );

    // --json output parses, and says the same things.
    let get = sb.canopy(&store, &["--json", "get", "a/b"]).ok().json();
    assert_eq!(get["value"], "a/b is a value again", "{get}");
    let get = sb.canopy(&store, &["--json", "get", "bin"]).ok().json();
    let encoded = get["value_base64"]
        .as_str()
        .unwrap_or_else(|| panic!("binary value as base64: {get}"));
    assert_eq!(base64_decode(encoded), bin);
    let list = sb.canopy(&store, &["--json", "list"]).ok().json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap_or_else(|| panic!("list gives an array: {list}"))
        .iter()
        .map(|e| e["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["a", "bin"], "{list}");
    let tree = sb.canopy(&store, &["--json", "tree"]).ok().json();
    let paths: Vec<&str> = tree
        .as_array()
        .unwrap_or_else(|| panic!("tree gives an array: {tree}"))
        .iter()
        .map(|e| e["path"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(paths, ["a/b", "a/c/d", "bin"], "{tree}");
    let log = sb.canopy(&store, &["--json", "log"]).ok().json();
    let ids: Vec<String> = log
        .as_array()
        .unwrap_or_else(|| panic!("log gives an array: {log}"))
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["id"].as_str().unwrap_or_default(),
                e["summary"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(ids, git_log, "{log}");
    let branches = sb.canopy(&store, &["--json", "branch"]).ok().json();
    assert!(branches.is_array(), "branch gives an array: {branches}");
    let set = sb.canopy(&store, &["--json", "set", "j", "v"]).ok().json();
    assert_eq!(
        set["commit"].as_str(),
        Some(sb.rev_parse(&store, "main").as_str()),
        "{set}"
    );
}

/// One commit made with `git` in the work tree `work`: `script` is run by `sh` there, then
/// everything is committed with `message` at `time` (seconds since the epoch) in `zone`.
fn git_commit(sb: &Sandbox, work: &Path, script: &str, message: &str, time: i64, zone: &str) {
    let run = common::run(
        {
            let mut cmd = std::process::Command::new("sh");
            cmd.arg("-ec").arg(script).current_dir(work);
            cmd
        },
        format!("sh -c {script:?}"),
        None,
    );
    run.ok();
    sb.git(work, &["add", "--all"]).ok();
    let date = format!("{time} {zone}");
    sb.git_with(
        work,
        &["commit", "--quiet", "--no-verify", "-m", message],
        &[("GIT_AUTHOR_DATE", &date), ("GIT_COMMITTER_DATE", &date)],
        None,
    )
    .ok();
}

/// `count` lines of text, line `i` mentioning `tag`; big enough that packing makes deltas.
fn lines_file(count: usize, tag: &str) -> String {
    (0..count)
        .map(|i| format!("line {i} of a long file, version {tag}\n"))
        .collect()
}

/// The entries of the directory `dir` (`""` for the root) at `rev`, as `canopy list` prints
/// them: names, directories with a trailing '/', in Git's order.
fn git_list(sb: &Sandbox, store: &Path, rev: &str, dir: &str) -> Vec<u8> {
    let spec = if dir.is_empty() {
        rev.to_string()
    } else {
        format!("{rev}:{dir}")
    };
    let raw = sb.git_ok(store, &["ls-tree", "-z", &spec]);
    let mut out = Vec::new();
    for entry in split_z(&raw) {
        let tab = entry
            .iter()
            .position(|&b| b == b'\t')
            .expect("ls-tree line has a tab");
        let (meta, name) = (&entry[..tab], &entry[tab + 1..]);
        out.extend_from_slice(name);
        if meta.split(|&b| b == b' ').nth(1) == Some(b"tree") {
            out.push(b'/');
        }
        out.push(b'\n');
    }
    out
}

/// Every value path at `rev`, one per line, as `canopy tree` prints it.
fn git_tree(sb: &Sandbox, store: &Path, rev: &str) -> (Vec<Vec<u8>>, Vec<u8>) {
    let paths = split_z(&sb.git_ok(store, &["ls-tree", "-r", "-z", "--name-only", rev]));
    let mut text = Vec::new();
    for p in &paths {
        text.extend_from_slice(p);
        text.push(b'\n');
    }
    (paths, text)
}

/// Builds a history with `git` in a clone of a fresh `canopy` store, pushes it back, packs the
/// store with `git gc --aggressive` and checks that canopy reads every path and commit the way
/// git does.
fn git_made_history_reads_back(object_format: &str) {
    let sb = Sandbox::new();
    let store = sb.init_store("store", object_format);
    // The first commit is canopy's, so the history mixes both writers.
    sb.canopy(&store, &["set", "seed/by-canopy", "planted by canopy"])
        .ok();

    sb.git(
        &sb.path(""),
        &["clone", "--quiet", store.to_str().unwrap(), "work"],
    )
    .ok();
    let work = sb.path("work");
    assert_eq!(
        sb.git_str(&work, &["rev-parse", "--show-object-format"]),
        object_format
    );
    assert_eq!(
        sb.git_ok(&work, &["show", "HEAD:seed/by-canopy"]),
        b"planted by canopy"
    );

    let t = 1_710_000_000;
    git_commit(
        &sb,
        &work,
        &format!(
            "mkdir -p docs src/lib data
             printf '%s' '{big}' > data/numbers.txt
             printf 'readme\\nsecond line\\n' > docs/readme.txt
             printf 'pub mod lib;\\n' > src/main.rs
             printf 'pub fn f() {{}}\\n' > src/lib/mod.rs
             printf '#!/bin/sh\\necho run\\n' > run.sh && chmod 755 run.sh
             ln -s docs/readme.txt link
             printf 'a plain file\\n' > top.txt
             printf 'spaces\\n' > 'with space.txt'
             printf 'unicode\\n' > 'na\u{ef}ve-\u{65e5}\u{672c}.txt'",
            big = lines_file(400, "one")
        ),
        "Add the first files\n\nWith a body paragraph that log must not print.",
        t,
        "+0200",
    );
    git_commit(
        &sb,
        &work,
        &format!(
            "printf '%s' '{big}' > data/numbers.txt
             rm src/main.rs
             mkdir -p src/deep/er/still && printf 'deep\\n' > src/deep/er/still/file.txt",
            big = lines_file(401, "one")
        ),
        "Grow numbers, drop main.rs, add a deep file",
        t + 100,
        "-0500",
    );
    git_commit(
        &sb,
        &work,
        "rm top.txt && mkdir top.txt && printf 'inside\\n' > top.txt/inner
         printf 'readme v2\\n' >> docs/readme.txt",
        "Replace the file top.txt by a directory",
        t + 200,
        "+0000",
    );
    git_commit(
        &sb,
        &work,
        "printf '#!/bin/sh\\necho run twice\\n' > run.sh
         rm link && ln -s top.txt/inner link
         rm -r src/deep
         printf 'back\\n' > src/main.rs",
        "Change the script and the link, remove src/deep",
        t + 300,
        "+0530",
    );
    git_commit(
        &sb,
        &work,
        &format!(
            "printf '%s' '{big}' > data/numbers.txt
             printf 'more\\n' > data/more.txt",
            big = lines_file(402, "two")
        ),
        "Rewrite numbers again",
        t + 400,
        "+0100",
    );
    sb.git(&work, &["push", "--quiet", "origin", "HEAD:main"]).ok();

    // Pack everything, with deltas, and pack the references.
    sb.git(&store, &["gc", "--aggressive", "--prune=now", "--quiet"])
        .ok();
    sb.git(&store, &["pack-refs", "--all"]).ok();
    assert_eq!(
        sb.git_str(&store, &["count-objects"]),
        "0 objects, 0 kilobytes",
        "everything is packed"
    );
    assert!(
        std::fs::read_to_string(store.join("packed-refs"))
            .unwrap_or_default()
            .contains("refs/heads/main"),
        "main is a packed reference"
    );
    assert!(
        !store.join("refs/heads/main").exists(),
        "main is only in packed-refs"
    );
    let packs: Vec<_> = std::fs::read_dir(store.join("objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "idx"))
        .collect();
    assert_eq!(packs.len(), 1, "one pack");
    let verify =
        String::from_utf8(sb.git_ok(&store, &["verify-pack", "-v", packs[0].to_str().unwrap()])).unwrap();
    assert!(
        verify.contains("chain length ="),
        "the pack holds deltas:\n{verify}"
    );
    sb.assert_fsck_clean(&store);

    // Every value: canopy get == git show, byte for byte (symlink targets and executables too).
    let (paths, tree_text) = git_tree(&sb, &store, "main");
    assert!(paths.len() >= 10, "the fixture has many paths: {paths:?}");
    for p in &paths {
        let p = String::from_utf8(p.clone()).unwrap();
        let git = sb.git_ok(&store, &["show", &format!("main:{p}")]);
        assert_eq!(sb.canopy(&store, &["get", &p]).ok().stdout, git, "canopy get {p}");
    }
    assert_eq!(sb.canopy(&store, &["get", "link"]).ok().stdout, b"top.txt/inner");

    // canopy tree == git ls-tree -r, below the root and below a directory.
    assert_eq!(sb.canopy(&store, &["tree"]).ok().stdout, tree_text);
    let src: Vec<u8> = tree_text
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"src/"))
        .flatten()
        .copied()
        .collect();
    assert_eq!(sb.canopy(&store, &["tree", "src"]).ok().stdout, src);

    // canopy list == git ls-tree, for the root and every directory.
    let mut dirs = BTreeSet::from([String::new()]);
    for p in &paths {
        let p = String::from_utf8(p.clone()).unwrap();
        let mut prefix = String::new();
        for step in p.split('/').collect::<Vec<_>>().split_last().unwrap().1 {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(step);
            dirs.insert(prefix.clone());
        }
    }
    assert!(dirs.contains("top.txt") && dirs.contains("src/lib"), "{dirs:?}");
    for dir in &dirs {
        let args: Vec<&str> = if dir.is_empty() {
            vec!["list"]
        } else {
            vec!["list", dir]
        };
        assert_eq!(
            sb.canopy(&store, &args).ok().out(),
            String::from_utf8(git_list(&sb, &store, "main", dir)).unwrap(),
            "canopy list {dir}"
        );
    }

    // canopy log == git log, whole history and per path.
    let git_log = lines_of(&sb.git_ok(&store, &["log", "--format=%H %s", "main"]));
    assert_eq!(git_log.len(), 6);
    assert_eq!(sb.canopy(&store, &["log"]).ok().lines(), git_log);
    for path in [
        "data/numbers.txt",
        "src/main.rs",
        "src",
        "src/deep",
        "top.txt",
        "top.txt/inner",
        "link",
        "run.sh",
        "seed/by-canopy",
        "docs",
    ] {
        let git = lines_of(&sb.git_ok(&store, &["log", "--format=%H %s", "main", "--", path]));
        assert!(!git.is_empty(), "git log -- {path} is not empty");
        assert_eq!(
            sb.canopy(&store, &["log", path]).ok().lines(),
            git,
            "canopy log {path}"
        );
    }

    // Older commits: get, tree and list at main~2 agree with git.
    for rev in ["main~2", "main~4", "main^"] {
        let (paths, text) = git_tree(&sb, &store, rev);
        assert_eq!(
            sb.canopy(&store, &["tree", "--at", rev]).ok().stdout,
            text,
            "tree --at {rev}"
        );
        for p in &paths {
            let p = String::from_utf8(p.clone()).unwrap();
            let git = sb.git_ok(&store, &["show", &format!("{rev}:{p}")]);
            assert_eq!(
                sb.canopy(&store, &["get", "--at", rev, &p]).ok().stdout,
                git,
                "get --at {rev} {p}"
            );
        }
        assert_eq!(
            sb.canopy(&store, &["list", "--at", rev]).ok().stdout,
            git_list(&sb, &store, rev, ""),
            "list --at {rev}"
        );
    }
    // main~2 still has the file top.txt and src/deep; main has neither.
    assert_eq!(
        sb.canopy(&store, &["get", "--at", "main~3", "top.txt"])
            .ok()
            .stdout,
        b"a plain file\n"
    );
    assert_eq!(
        sb.canopy(&store, &["get", "--at", "main~2", "src/deep/er/still/file.txt"])
            .ok()
            .stdout,
        b"deep\n"
    );
    sb.canopy(&store, &["get", "src/deep/er/still/file.txt"]).code(1);

    // canopy can keep writing on top of git's packed history, and git still agrees.
    sb.canopy(&store, &["set", "data/numbers.txt", "replaced by canopy"])
        .ok();
    sb.canopy(&store, &["rm", "src"]).ok();
    sb.assert_fsck_clean(&store);
    assert_eq!(
        sb.git_ok(&store, &["show", "main:data/numbers.txt"]),
        b"replaced by canopy"
    );
    assert_eq!(
        sb.git_ok(&store, &["show", "main:run.sh"]),
        b"#!/bin/sh\necho run twice\n"
    );
    // Modes that git wrote survive a canopy commit that did not touch them.
    let modes = lines_of(&sb.git_ok(
        &store,
        &[
            "ls-tree",
            "--format=%(objectmode) %(path)",
            "main",
            "run.sh",
            "link",
            "top.txt",
        ],
    ));
    assert_eq!(modes, ["120000 link", "100755 run.sh", "040000 top.txt"]);
    // canopy's two commits sit on top of git's last one.
    assert_eq!(
        sb.git_str(&store, &["rev-parse", "main~2"]),
        git_log[0].split(' ').next().unwrap()
    );
}

#[test]
fn git_made_history_reads_back_sha1() {
    git_made_history_reads_back("sha1");
}

#[test]
fn git_made_history_reads_back_sha256() {
    git_made_history_reads_back("sha256");
}

/// A submodule entry (gitlink, mode 160000) made by `git`: `list` and `tree` show it as a
/// submodule at its commit (`--json` kind `gitlink`, with the commit), and `get` refuses it
/// with exit code 2 and one line naming the commit, as for any path that holds no value.
#[test]
fn a_gitlink_made_by_git_is_a_submodule_to_list_and_get() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    sb.canopy_ok(&store, &["set", "dir/a", "1"]);
    sb.git_ok(&sb.path(""), &["clone", "-q", store.to_str().unwrap(), "work"]);
    let work = sb.path("work");
    // Any commit id will do: git never looks inside a gitlink's commit.
    let sub = sb.git_str(&work, &["rev-parse", "HEAD"]);
    sb.git_ok(
        &work,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{sub},dir/sub"),
        ],
    );
    sb.git_ok(&work, &["commit", "-qm", "add a submodule"]);
    sb.git_ok(&work, &["push", "-q", "origin", "HEAD:main"]);
    assert_eq!(
        sb.git_str(&store, &["ls-tree", "main", "dir/sub"]),
        format!("160000 commit {sub}\tdir/sub")
    );

    let shown = format!("sub (submodule at {sub})");
    assert_eq!(sb.canopy_ok(&store, &["list", "dir"]), format!("a\n{shown}\n"));
    let json = sb.canopy(&store, &["--json", "list", "dir"]).ok().json();
    assert_eq!(json[1]["name"], "sub");
    assert_eq!(json[1]["kind"], "gitlink");
    assert_eq!(json[1]["commit"], sub.as_str());
    assert_eq!(sb.canopy_ok(&store, &["tree"]), format!("dir/a\ndir/{shown}\n"));
    let json = sb.canopy(&store, &["--json", "tree"]).ok().json();
    assert_eq!(json[1]["kind"], "gitlink");
    assert_eq!(json[1]["commit"], sub.as_str());

    for args in [&["get", "dir/sub"][..], &["--json", "get", "dir/sub"][..]] {
        let run = sb.canopy(&store, args).code(2);
        run.assert_one_line_error();
        assert!(
            run.err()
                .contains(&format!("'dir/sub' is a submodule (gitlink) at commit {sub}")),
            "{run:?}"
        );
        assert!(run.stdout.is_empty(), "{run:?}");
    }
    // The value beside it reads as before, and the store stays valid for git.
    assert_eq!(sb.canopy_ok(&store, &["get", "dir/a"]), "1");
    sb.assert_fsck_clean(&store);
}

//! Bad input and damaged stores: invalid paths and revisions are refused with exit code 2 and
//! change nothing; corruption is reported with exit code 3 and a message naming what is wrong;
//! hostile trees made with `git` plumbing are refused or shown escaped; nothing panics.

mod common;

use std::path::{Path, PathBuf};

use common::{split_z, Run, Sandbox};

/// A store with a few values on `main`.
fn store_with_values(sb: &Sandbox) -> PathBuf {
    let store = sb.init_store("store", "sha1");
    sb.canopy(&store, &["set", "a/b", "value of a/b"]).ok();
    sb.canopy(&store, &["set", "ok", "fine"]).ok();
    store
}

#[track_caller]
fn assert_refused(run: &Run, code: i32) {
    assert_eq!(run.code, code, "expected exit code {code}: {run:?}");
    run.assert_one_line_error();
}

const INVALID_PATHS: &[&str] = &[
    "a//b", "/a", "a/", ".", "..", "a/../b", "a/./b", "./a", "a/..", ".git", ".GIT/x", "x/.Git", "git~1",
    "GIT~1/x", "a\\.git", ".git.", ".git ", "a/.git/b", "",
];

#[test]
fn invalid_paths_exit_2_and_leave_the_branch_alone() {
    let sb = Sandbox::new();
    let store = store_with_values(&sb);
    let head = sb.rev_parse(&store, "main");
    for path in INVALID_PATHS {
        let run = sb.canopy(&store, &["set", path, "v"]);
        assert_refused(&run, 2);
        let run = sb.canopy_in(&store, &["set", path, "-"], Some(b"from stdin"));
        assert_refused(&run, 2);
        let run = sb.canopy(&store, &["rm", path]);
        assert_refused(&run, 2);
        let run = sb.canopy(&store, &["test-and-set", path, "v", "--absent"]);
        assert_refused(&run, 2);
        assert_eq!(
            sb.rev_parse(&store, "main"),
            head,
            "main moved after writing to {path:?}"
        );
    }
    // Reads refuse them too (the empty path is the root, and `a/` the directory `a`, for list
    // and tree).
    for path in INVALID_PATHS.iter().filter(|p| !p.is_empty()) {
        assert_refused(&sb.canopy(&store, &["get", path]), 2);
        if *path != "a/" {
            assert_refused(&sb.canopy(&store, &["list", path]), 2);
            assert_refused(&sb.canopy(&store, &["tree", path]), 2);
        }
    }
    // The message says which path and why.
    let run = sb.canopy(&store, &["set", "a/../b", "v"]);
    assert!(
        run.err().contains("a/../b"),
        "the message names the path: {run:?}"
    );
    // Nothing was written anywhere: one branch, two commits, git agrees.
    assert_eq!(sb.git_str(&store, &["rev-list", "--count", "--all"]), "2");
    assert_eq!(
        sb.git_str(&store, &["for-each-ref", "--format=%(refname)"]),
        "refs/heads/main"
    );
    sb.assert_fsck_clean(&store);
}

#[test]
fn invalid_revisions_exit_2() {
    let sb = Sandbox::new();
    let store = store_with_values(&sb);
    // A third commit, so that a misparsed `main~x` (read as `main~1^1`) would find a commit.
    sb.canopy(&store, &["set", "third", "3"]).ok();
    for rev in [
        "nosuch", "main~5", "main^2", "deadbeef", "main~x", "main^x", "main~1x", "", "~1", "main:a/b",
    ] {
        assert_refused(&sb.canopy(&store, &["get", "a/b", "--at", rev]), 2);
        assert_refused(&sb.canopy(&store, &["list", "--at", rev]), 2);
        assert_refused(&sb.canopy(&store, &["tree", "--at", rev]), 2);
    }
    let run = sb.canopy(&store, &["get", "a/b", "--at", "nosuch"]);
    assert!(
        run.err().contains("nosuch"),
        "the message names the revision: {run:?}"
    );
    // A tree id is not a commit.
    let tree = sb.git_str(&store, &["rev-parse", "main^{tree}"]);
    assert_refused(&sb.canopy(&store, &["get", "a/b", "--at", &tree]), 2);
    // A branch created from a bad revision is not created.
    assert_refused(&sb.canopy(&store, &["branch", "new", "--from", "nosuch"]), 2);
    assert_eq!(
        sb.git_str(&store, &["for-each-ref", "--format=%(refname)"]),
        "refs/heads/main"
    );
}

#[test]
fn a_directory_that_is_not_a_store_exits_2() {
    let sb = Sandbox::new();
    let plain = sb.path("plain");
    std::fs::create_dir(&plain).unwrap();
    std::fs::write(plain.join("file"), "not a store").unwrap();
    let missing = sb.path("missing");
    for root in [&plain, &missing] {
        assert_refused(&sb.canopy(root, &["get", "a"]), 2);
        assert_refused(&sb.canopy(root, &["list"]), 2);
        assert_refused(&sb.canopy(root, &["tree"]), 2);
        assert_refused(&sb.canopy(root, &["log"]), 2);
        assert_refused(&sb.canopy(root, &["set", "a", "v"]), 2);
    }
    // Nothing was created in the plain directory, and no store appeared where none was.
    assert_eq!(std::fs::read_dir(&plain).unwrap().count(), 1);
    assert!(!missing.join("objects").exists());
}

/// The file of a loose object.
fn loose_path(store: &Path, id: &str) -> PathBuf {
    store.join("objects").join(&id[..2]).join(&id[2..])
}

fn make_writable(path: &Path) {
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(path, perms).unwrap();
}

#[test]
fn a_flipped_byte_in_a_loose_object_exits_3_naming_the_object() {
    let sb = Sandbox::new();
    let store = store_with_values(&sb);
    let value: String = (0..200).map(|i| format!("{i} ")).collect();
    sb.canopy(&store, &["set", "victim", &value]).ok();
    sb.unpack_all(&store);
    let id = sb.git_str(&store, &["rev-parse", "main:victim"]);
    let file = loose_path(&store, &id);
    assert!(
        file.is_file(),
        "the value is a loose object at {}",
        file.display()
    );
    make_writable(&file);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    // git sees the damage too.
    assert_ne!(
        sb.git(&store, &["cat-file", "-p", &id]).code,
        0,
        "the object is corrupt for git"
    );

    let run = sb.canopy(&store, &["get", "victim"]);
    assert_refused(&run, 3);
    assert!(
        run.err().contains(&id),
        "the message names the object {id}: {run:?}"
    );
    assert!(run.stdout.is_empty(), "no partial value on stdout: {run:?}");
    // Other values stay readable.
    assert_eq!(sb.canopy_ok(&store, &["get", "a/b"]), "value of a/b");
}

#[test]
fn a_truncated_pack_is_a_clear_error_not_a_panic() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    // Many distinct values, so most of the pack is blobs, which git writes after commits and
    // trees: cutting the pack in half loses values.
    let mut expected = Vec::new();
    for i in 0..40 {
        let path = format!("d{}/v{i}", i % 4);
        let value: String = (0..150)
            .map(|j| format!("{i}:{j}:{} ", i * 7919 + j * 104_729))
            .collect();
        sb.canopy(&store, &["set", &path, &value]).ok();
        expected.push((path, value));
    }
    let log_before = sb.canopy(&store, &["log"]).ok().stdout;
    let tree_before = sb.canopy(&store, &["tree"]).ok().stdout;
    sb.git(&store, &["gc", "--quiet", "--prune=now"]).ok();
    assert_eq!(
        sb.git_str(&store, &["count-objects"]),
        "0 objects, 0 kilobytes",
        "all packed"
    );
    let pack = std::fs::read_dir(store.join("objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "pack"))
        .expect("a pack");
    make_writable(&pack);
    let len = std::fs::metadata(&pack).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&pack)
        .unwrap()
        .set_len(len / 2)
        .unwrap();

    // Each read either gives the right answer or fails with exit 3 and a one-line message that
    // names the pack; none panics and none gives a wrong answer.
    let check = |run: &Run, right: &[u8]| -> bool {
        run.assert_no_panic();
        if run.code == 0 {
            assert_eq!(
                run.stdout, right,
                "a read from a damaged pack gave a wrong answer: {run:?}"
            );
            false
        } else {
            assert_refused(run, 3);
            assert!(
                run.err().to_lowercase().contains("pack"),
                "the message says the pack is damaged: {run:?}"
            );
            true
        }
    };
    let mut failed = 0;
    for (path, value) in &expected {
        failed += usize::from(check(&sb.canopy(&store, &["get", path]), value.as_bytes()));
    }
    assert!(failed > 0, "half the pack is gone, yet every value was read");
    check(&sb.canopy(&store, &["log"]), &log_before);
    check(&sb.canopy(&store, &["tree"]), &tree_before);
    // A write needs the current tree; it must not commit on top of what it cannot read.
    let head = sb.git_str(&store, &["rev-parse", "main"]);
    let run = sb.canopy(&store, &["set", "d0/new", "v"]);
    run.assert_no_panic();
    if run.code != 0 {
        assert_refused(&run, 3);
        assert_eq!(sb.git_str(&store, &["rev-parse", "main"]), head);
    }
}

/// Raw bytes of an object id given in hex.
fn raw_id(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// Writes a tree object from raw entries (`mode`, `name`, hex id) without any check.
fn hash_tree_literally(sb: &Sandbox, store: &Path, entries: &[(&str, &[u8], &str)]) -> String {
    let mut raw = Vec::new();
    for (mode, name, id) in entries {
        raw.extend_from_slice(mode.as_bytes());
        raw.push(b' ');
        raw.extend_from_slice(name);
        raw.push(0);
        raw.extend_from_slice(&raw_id(id));
    }
    let run = sb
        .git_with(
            store,
            &["hash-object", "-t", "tree", "--literally", "-w", "--stdin"],
            &[],
            Some(&raw),
        )
        .ok();
    run.out().trim().to_string()
}

fn hash_blob(sb: &Sandbox, store: &Path, content: &[u8]) -> String {
    let run = sb
        .git_with(store, &["hash-object", "-w", "--stdin"], &[], Some(content))
        .ok();
    run.out().trim().to_string()
}

/// Points `refs/heads/NAME` at a new commit of `tree`.
fn branch_at_tree(sb: &Sandbox, store: &Path, name: &str, tree: &str) -> String {
    let commit = sb.git_str(store, &["commit-tree", tree, "-m", name]);
    sb.git(store, &["update-ref", &format!("refs/heads/{name}"), &commit])
        .ok();
    commit
}

#[test]
fn trees_with_dotdot_or_dotgit_entries_are_refused() {
    let sb = Sandbox::new();
    let store = store_with_values(&sb);
    // (branch, hostile entry name, whether the entry is a directory)
    let cases: [(&str, &[u8], bool); 5] = [
        ("dotdot", b"..", false),
        ("dot", b".", false),
        ("dotgit", b".git", true),
        ("dotgit-upper", b".GIT", true),
        ("ntfs-short-name", b"git~1", true),
    ];
    for (branch, bad_name, is_dir) in cases {
        let bad = String::from_utf8_lossy(bad_name).into_owned();
        let blob = hash_blob(
            &sb,
            &store,
            format!("[core]\n\tfsmonitor = evil {bad}\n").as_bytes(),
        );
        let good = hash_blob(&sb, &store, b"fine");
        let sub = if is_dir {
            // A directory that git would check out as a repository of its own.
            let inner = hash_tree_literally(&sb, &store, &[("100644", b"config", &blob)]);
            hash_tree_literally(
                &sb,
                &store,
                &[("40000", bad_name, &inner), ("100644", b"other", &good)],
            )
        } else {
            hash_tree_literally(
                &sb,
                &store,
                &[("100644", bad_name, &blob), ("100644", b"other", &good)],
            )
        };
        let root = hash_tree_literally(&sb, &store, &[("100644", b"ok", &good), ("40000", b"sub", &sub)]);
        let head = branch_at_tree(&sb, &store, branch, &root);
        // git itself flags such a tree.
        assert_ne!(
            sb.git(&store, &["fsck", "--strict", "--no-dangling"]).code,
            0,
            "git fsck flags '{bad}'"
        );

        // Reading through the hostile directory is refused, naming the entry.
        let named = [
            format!("'{bad}'"),
            format!("\"{bad}\""),
            format!("`{bad}`"),
            format!("/{bad}'"),
            format!("/{bad}\""),
        ];
        for args in [
            vec!["--branch", branch, "tree"],
            vec!["--branch", branch, "tree", "sub"],
            vec!["--branch", branch, "list", "sub"],
            vec!["--branch", branch, "get", "sub/other"],
        ] {
            let run = sb.canopy(&store, &args);
            assert!(
                run.code == 2 || run.code == 3,
                "reading through '{bad}' is refused: {run:?}"
            );
            run.assert_one_line_error();
            let err = run.err();
            assert!(
                named.iter().any(|n| err.contains(n.as_str())),
                "the message names the entry '{bad}': {run:?}"
            );
        }
        // The rest of the tree stays readable: only the nodes on the path read are loaded.
        assert_eq!(sb.canopy_ok(&store, &["--branch", branch, "get", "ok"]), "fine");
        assert_eq!(sb.canopy_ok(&store, &["--branch", branch, "list"]), "ok\nsub/\n");
        // Writing into the hostile directory is refused and moves nothing.
        let run = sb.canopy(&store, &["--branch", branch, "set", "sub/new", "v"]);
        assert!(
            run.code == 2 || run.code == 3,
            "writing through '{bad}' is refused: {run:?}"
        );
        run.assert_one_line_error();
        assert_eq!(sb.rev_parse(&store, branch), head);

        // Drop the branch and its objects so that the next case's fsck sees only its own.
        sb.git(&store, &["update-ref", "-d", &format!("refs/heads/{branch}")])
            .ok();
        sb.git(&store, &["reflog", "expire", "--expire=now", "--all"])
            .ok();
        sb.git(&store, &["prune", "--expire=now"]).ok();
        sb.assert_fsck_clean(&store);
    }
}

#[test]
fn non_utf8_names_made_by_git_are_listed_escaped() {
    let sb = Sandbox::new();
    let store = store_with_values(&sb);
    let blob = hash_blob(&sb, &store, b"bytes\n");
    let mktree = |entries: &[(&str, &str, &[u8])]| -> String {
        let mut input = Vec::new();
        for (mode_type, id, name) in entries {
            input.extend_from_slice(format!("{mode_type} {id}\t").as_bytes());
            input.extend_from_slice(name);
            input.push(b'\n');
        }
        let run = sb.git_with(&store, &["mktree"], &[], Some(&input)).ok();
        run.out().trim().to_string()
    };
    let inner = mktree(&[("100644 blob", &blob, b"in\xfe")]);
    let root = mktree(&[
        ("100644 blob", &blob, b"caf\xff"),
        ("100644 blob", &blob, b"plain"),
        ("100644 blob", &blob, b"latin1-\xe9t\xe9"),
        ("040000 tree", &inner, b"dir\xff"),
    ]);
    let head = branch_at_tree(&sb, &store, "bytes", &root);
    // git stores the names as given.
    let names = split_z(&sb.git_ok(&store, &["ls-tree", "-r", "-z", "--name-only", "bytes"]));
    assert!(names.contains(&b"dir\xff/in\xfe".to_vec()), "{names:?}");

    let list = sb.canopy(&store, &["--branch", "bytes", "list"]).ok();
    list.assert_no_panic();
    let mut lines = list.lines();
    lines.sort();
    assert_eq!(lines, ["caf\\xff", "dir\\xff/", "latin1-\\xe9t\\xe9", "plain"]);
    let tree = sb.canopy(&store, &["--branch", "bytes", "tree"]).ok();
    let mut lines = tree.lines();
    lines.sort();
    assert_eq!(
        lines,
        ["caf\\xff", "dir\\xff/in\\xfe", "latin1-\\xe9t\\xe9", "plain"]
    );
    let json = sb
        .canopy(&store, &["--branch", "bytes", "--json", "list"])
        .ok()
        .json();
    assert_eq!(json.as_array().map(Vec::len), Some(4), "{json}");
    assert_eq!(
        sb.canopy_ok(&store, &["--branch", "bytes", "get", "plain"]),
        "bytes\n"
    );
    assert_eq!(
        sb.canopy(&store, &["--branch", "bytes", "log"]).ok().lines(),
        [format!("{head} bytes")]
    );
    // Writing next to them keeps them byte for byte.
    sb.canopy(&store, &["--branch", "bytes", "set", "new", "v"]).ok();
    let after = split_z(&sb.git_ok(&store, &["ls-tree", "-r", "-z", "--name-only", "bytes"]));
    let mut want = names.clone();
    want.push(b"new".to_vec());
    want.sort();
    let mut got = after.clone();
    got.sort();
    assert_eq!(got, want);
    sb.assert_fsck_clean(&store);
}

#[test]
fn over_long_paths_and_head_as_a_branch_are_refused() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    sb.canopy_ok(&store, &["set", "k", "v"]);
    let before = sb.rev_parse(&store, "main");
    // Git's limit is 4,096 bytes for a path; 2,049 steps are over it too.
    let long = format!("a/{}", "b".repeat(4095));
    let deep = vec!["s"; 2049].join("/");
    for path in [long.as_str(), deep.as_str()] {
        let run = sb.canopy(&store, &["set", path, "x"]);
        assert_eq!(run.code, 2, "{run:?}");
        run.assert_one_line_error();
        assert!(run.err().contains("longer than 4096 bytes"), "{run:?}");
    }
    let ok = format!("a/{}", "b".repeat(4000));
    sb.canopy_ok(&store, &["set", &ok, "fits"]);
    sb.assert_fsck_clean(&store);
    for args in [
        &["--branch", "HEAD", "set", "k", "x"][..],
        &["branch", "HEAD"][..],
    ] {
        let run = sb.canopy(&store, args);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.err().contains("invalid branch name 'HEAD'"), "{run:?}");
    }
    assert!(!store.join("refs/heads/HEAD").exists());
    assert_ne!(sb.rev_parse(&store, "main"), before);
}

#[test]
fn list_and_tree_take_slash_for_the_root_but_not_empty_steps() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    sb.canopy_ok(&store, &["set", "config/db/host", "h"]);
    assert_eq!(sb.canopy_ok(&store, &["list", "/"]), "config/\n");
    assert_eq!(sb.canopy_ok(&store, &["list", ""]), "config/\n");
    assert_eq!(sb.canopy_ok(&store, &["list"]), "config/\n");
    assert_eq!(
        sb.canopy_ok(&store, &["--json", "list", "/"]),
        sb.canopy_ok(&store, &["--json", "list"])
    );
    assert_eq!(sb.canopy_ok(&store, &["list", "config/"]), "db/\n");
    assert_eq!(sb.canopy_ok(&store, &["tree", "/"]), "config/db/host\n");
    for bad in ["//", "config//db", "/config", "config//"] {
        let run = sb.canopy(&store, &["list", bad]);
        assert_eq!(run.code, 2, "{bad}: {run:?}");
    }
}

#[test]
fn an_unknown_branch_is_no_such_branch_unless_asked_to_create_it() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    // HEAD's own branch may be unborn: the first write creates it.
    sb.canopy_ok(&store, &["--branch", "main", "set", "k", "v"]);
    for args in [
        &["--branch", "mian", "get", "k"][..],
        &["--branch", "mian", "set", "k", "x"][..],
        &["--branch", "mian", "list"][..],
        &["--branch", "mian", "counter", "add", "hits", "1"][..],
    ] {
        let run = sb.canopy(&store, args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        run.assert_one_line_error();
        assert!(run.err().contains("no such branch 'mian'"), "{run:?}");
    }
    assert!(!store.join("refs/heads/mian").exists(), "a typo created nothing");
    sb.canopy_ok(&store, &["--branch", "scratch", "--create", "set", "k", "x"]);
    assert_eq!(sb.canopy_ok(&store, &["--branch", "scratch", "get", "k"]), "x");
    assert_eq!(sb.canopy_ok(&store, &["get", "k"]), "v");
}

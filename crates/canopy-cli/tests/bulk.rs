//! `canopy import` / `canopy export`, with the real `git` as the oracle: 10,000 keys in one
//! commit and one pack, `git fsck --strict` clean, `git show` agrees, export round-trips, and bad
//! or truncated input leaves the branch where it was.

mod common;

use std::path::Path;

use common::Sandbox;

/// `k/3f/3fa1…`-style keys with values that include non-UTF-8 bytes.
fn keys(n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let h = format!("{:08x}", (i as u32).wrapping_mul(2_654_435_761));
            let value = if i % 97 == 0 {
                vec![0xff, 0x00, i as u8, b'\n']
            } else {
                format!("value {i}\n").into_bytes()
            };
            (format!("k/{}/{h}", &h[..2]), value)
        })
        .collect()
}

fn jsonl(items: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (path, value) in items {
        let line = match std::str::from_utf8(value) {
            Ok(s) => serde_json::json!({"path": path, "value": s}),
            Err(_) => serde_json::json!({"path": path, "value_base64": base64(value)}),
        };
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                A[(n >> (18 - 6 * i)) as usize & 63] as char
            } else {
                '='
            });
        }
    }
    out
}

fn pack_count(store: &Path) -> usize {
    std::fs::read_dir(store.join("objects/pack"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".pack")
        })
        .count()
}

fn check_against_git(sb: &Sandbox, store: &Path, items: &[(String, Vec<u8>)]) {
    sb.assert_fsck_clean(store);
    let listed = sb.git_ok(store, &["ls-tree", "-r", "--name-only", "main"]);
    let mut want: Vec<&str> = items.iter().map(|(p, _)| p.as_str()).collect();
    want.sort();
    assert_eq!(common::lines_of(&listed), want);
    for (path, value) in items.iter().step_by(499) {
        assert_eq!(
            &sb.git_ok(store, &["show", &format!("main:{path}")]),
            value,
            "{path}"
        );
    }
    assert_eq!(sb.git_str(store, &["rev-list", "--count", "main"]), "1");
}

#[test]
fn jsonl_import_of_10000_keys_is_one_pack_git_accepts_and_exports_back() {
    let sb = Sandbox::new();
    let store = sb.init_store("s", "sha1");
    let items = keys(10_000);
    let input = sb.path("in.jsonl");
    std::fs::write(&input, jsonl(&items)).unwrap();
    let run = sb
        .canopy(
            &store,
            &["--json", "import", input.to_str().unwrap(), "-m", "bulk"],
        )
        .ok();
    assert_eq!(run.json()["paths"], 10_000);
    assert_eq!(pack_count(&store), 1);
    assert_eq!(sb.git_str(&store, &["count-objects"]), "0 objects, 0 kilobytes");
    check_against_git(&sb, &store, &items);
    assert_eq!(sb.git_str(&store, &["log", "-1", "--format=%s", "main"]), "bulk");

    // Export gives the same lines, in path order.
    let exported = sb.canopy(&store, &["export"]).ok().stdout;
    let mut sorted = items.clone();
    sorted.sort();
    assert_eq!(exported, jsonl(&sorted));

    // Importing the export into a fresh store gives the same tree.
    let other = sb.init_store("t", "sha256");
    sb.canopy_in(&other, &["import", "-"], Some(&exported)).ok();
    sb.assert_fsck_clean(&other);
    assert_eq!(sb.canopy(&other, &["export"]).ok().stdout, exported);

    // A prefix exports only what is below it.
    let some = sb.canopy(&store, &["export", "k/00"]).ok().out();
    assert!(
        some.lines().count() > 0 && some.lines().all(|l| l.contains("\"path\":\"k/00/")),
        "{some}"
    );
}

#[test]
fn tar_import_and_export_round_trip() {
    let sb = Sandbox::new();
    let store = sb.init_store("s", "sha1");
    let items = keys(10_000);
    // Build the archive with the tar the system has, from real files.
    let dir = sb.path("files");
    for (path, value) in &items {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, value).unwrap();
    }
    let archive = sb.path("in.tar");
    let out = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(&dir)
        .arg("k")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    sb.canopy(&store, &["import", archive.to_str().unwrap()]).ok();
    assert_eq!(pack_count(&store), 1);
    check_against_git(&sb, &store, &items);

    // Export as tar, unpack with the system's tar: the same files.
    let exported = sb.canopy(&store, &["export", "--format", "tar"]).ok().stdout;
    let back = sb.path("back");
    std::fs::create_dir(&back).unwrap();
    let tar_file = sb.path("out.tar");
    std::fs::write(&tar_file, &exported).unwrap();
    let out = std::process::Command::new("tar")
        .arg("-xf")
        .arg(&tar_file)
        .arg("-C")
        .arg(&back)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(common::files_below(&back), common::files_below(&dir));

    // The exported tar imports back (through stdin) to the same tree.
    let other = sb.init_store("t", "sha1");
    sb.canopy_in(&other, &["import", "--format", "tar", "-"], Some(&exported))
        .ok();
    assert_eq!(
        sb.git_str(&other, &["rev-parse", "main^{tree}"]),
        sb.git_str(&store, &["rev-parse", "main^{tree}"])
    );
}

#[test]
fn import_lays_values_over_the_branch_unless_replace() {
    let sb = Sandbox::new();
    let store = sb.init_store("s", "sha1");
    sb.canopy_ok(&store, &["set", "keep/me", "1"]);
    sb.canopy_ok(&store, &["set", "a/old", "2"]);
    let input = br#"{"path": "a/new", "value": "3"}
{"path": "a/old", "value": "changed"}
"#;
    sb.canopy_in(&store, &["import", "-"], Some(input)).ok();
    assert_eq!(sb.canopy_ok(&store, &["tree"]), "a/new\na/old\nkeep/me\n");
    assert_eq!(sb.canopy_ok(&store, &["get", "a/old"]), "changed");
    assert_eq!(sb.git_str(&store, &["rev-list", "--count", "main"]), "3");
    // The same import again changes nothing and makes no commit.
    sb.canopy_in(&store, &["import", "-"], Some(input)).ok();
    assert_eq!(sb.git_str(&store, &["rev-list", "--count", "main"]), "3");
    sb.canopy_in(&store, &["import", "--replace", "-"], Some(input))
        .ok();
    assert_eq!(sb.canopy_ok(&store, &["tree"]), "a/new\na/old\n");
    sb.assert_fsck_clean(&store);
}

#[test]
fn bad_input_is_refused_with_a_clear_message_and_the_branch_stays() {
    let sb = Sandbox::new();
    let store = sb.init_store("s", "sha1");
    sb.canopy_ok(&store, &["set", "x", "1"]);
    let head = sb.rev_parse(&store, "main");
    let good = r#"{"path": "a", "value": "1"}"#;
    let cases: &[(&str, &str)] = &[
        (
            r#"{"path": "a/../b", "value": "1"}"#,
            "line 2: path 'a/../b': '..' is not a valid step",
        ),
        (
            r#"{"path": "/abs", "value": "1"}"#,
            "line 2: path '/abs': empty step",
        ),
        (r#"{"path": ".git/config", "value": "1"}"#, "line 2"),
        (r#"{"path": "", "value": "1"}"#, "line 2: the empty path"),
        (r#"{"path": "b"}"#, "line 2: needs \"value\" or \"value_base64\""),
        (
            r#"{"path": "b", "value": "1", "value_base64": "MQ=="}"#,
            "line 2: has both",
        ),
        (
            r#"{"path": "b", "value_base64": "!!"}"#,
            "line 2: value_base64: invalid base64",
        ),
        (r#"{"path": "b", "value": 5}"#, "line 2: not a valid import line"),
        (
            r#"{"path": "b", "value": "1", "extra": 1}"#,
            "line 2: not a valid import line",
        ),
        (r#"not json"#, "line 2: not a valid import line"),
        (
            r#"{"path": "a/b", "value": "1"}"#,
            "'a' is given a value and also has values below it",
        ),
    ];
    for (line, expected) in cases {
        let input = format!("{good}\n{line}\n");
        let run = sb
            .canopy_in(&store, &["import", "-"], Some(input.as_bytes()))
            .code(2);
        run.assert_one_line_error();
        assert!(run.err().contains(expected), "for {line}: {run:?}");
        assert_eq!(sb.rev_parse(&store, "main"), head, "branch moved for {line}");
    }
    // Truncated in the middle of a line.
    let run = sb
        .canopy_in(
            &store,
            &["import", "-"],
            Some(format!("{good}\n{{\"path\": \"b\", \"va").as_bytes()),
        )
        .code(2);
    assert!(
        run.err().contains("line 2: input ends in the middle of a line"),
        "{run:?}"
    );
    // A missing file is an I/O failure.
    let run = sb
        .canopy(&store, &["import", sb.path("nope.jsonl").to_str().unwrap()])
        .code(3);
    run.assert_one_line_error();
    assert_eq!(sb.rev_parse(&store, "main"), head);
    // No temporary pack is left behind by the failed imports.
    let leftovers: Vec<_> = std::fs::read_dir(store.join("objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with("tmp_"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    sb.assert_fsck_clean(&store);
}

#[test]
fn truncated_or_hostile_tar_is_refused_and_the_branch_stays() {
    let sb = Sandbox::new();
    let store = sb.init_store("s", "sha1");
    sb.canopy_ok(&store, &["set", "x", "1"]);
    let head = sb.rev_parse(&store, "main");
    let dir = sb.path("files");
    std::fs::create_dir_all(dir.join("d")).unwrap();
    std::fs::write(dir.join("d/big"), vec![b'x'; 5000]).unwrap();
    std::fs::write(dir.join("d/small"), b"s").unwrap();
    let archive = sb.path("in.tar");
    let out = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(&dir)
        .arg("d")
        .output()
        .unwrap();
    assert!(out.status.success());
    let bytes = std::fs::read(&archive).unwrap();
    // Cut inside a file's data, and cut exactly at an entry boundary (no end marker).
    for cut in [512 + 1000, 512 * 3] {
        let run = sb
            .canopy_in(&store, &["import", "--format", "tar", "-"], Some(&bytes[..cut]))
            .code(2);
        run.assert_one_line_error();
        assert!(run.err().contains("truncated"), "cut at {cut}: {run:?}");
        assert_eq!(sb.rev_parse(&store, "main"), head);
    }
    // A symlink is refused by name.
    std::os::unix::fs::symlink("small", dir.join("d/link")).unwrap();
    let out = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(&dir)
        .arg("d")
        .output()
        .unwrap();
    assert!(out.status.success());
    let run = sb.canopy(&store, &["import", archive.to_str().unwrap()]).code(2);
    assert!(run.err().contains("d/link"), "{run:?}");
    assert_eq!(sb.rev_parse(&store, "main"), head);
    sb.assert_fsck_clean(&store);
}

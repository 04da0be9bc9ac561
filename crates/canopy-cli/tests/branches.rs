//! Branches and revisions: `canopy branch` creates and lists branches as `git branch` sees them,
//! and every REV form of the contract (hash, abbreviated hash, branch, tag, `REV~N`, `REV^`)
//! names the commit `git rev-parse` names.

mod common;

use common::{lines_of, split_z, Sandbox};

#[test]
fn branches_are_created_listed_and_written_separately() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    sb.canopy(&store, &["set", "a", "1"]).ok();
    sb.canopy(&store, &["set", "a", "2"]).ok();
    sb.canopy(&store, &["set", "b", "3"]).ok();
    let main = sb.rev_parse(&store, "main");

    sb.canopy(&store, &["branch", "feature", "--from", "main~1"]).ok();
    assert_eq!(sb.rev_parse(&store, "feature"), sb.rev_parse(&store, "main~1"));
    let set = sb
        .canopy(
            &store,
            &["--json", "--branch", "feature", "set", "f/x", "on feature"],
        )
        .ok()
        .json();
    let feature = sb.rev_parse(&store, "feature");
    assert_eq!(set["commit"].as_str(), Some(feature.as_str()), "{set}");
    assert_eq!(
        sb.git_str(&store, &["rev-parse", "feature^"]),
        sb.rev_parse(&store, "main~1")
    );
    // main did not move, and each branch sees its own values.
    assert_eq!(sb.rev_parse(&store, "main"), main);
    assert_eq!(sb.git_ok(&store, &["show", "feature:f/x"]), b"on feature");
    assert_eq!(
        sb.canopy_ok(&store, &["--branch", "feature", "get", "f/x"]),
        "on feature"
    );
    assert_eq!(sb.canopy_ok(&store, &["--branch", "feature", "tree"]), "a\nf/x\n");
    assert_eq!(sb.canopy_ok(&store, &["tree"]), "a\nb\n");
    sb.canopy(&store, &["get", "f/x"]).code(1);
    assert_eq!(
        sb.canopy(&store, &["--branch", "feature", "log"]).ok().lines(),
        lines_of(&sb.git_ok(&store, &["log", "--format=%H %s", "feature"]))
    );

    // A branch from the current head (no --from).
    sb.canopy(&store, &["branch", "copy"]).ok();
    assert_eq!(sb.rev_parse(&store, "copy"), main);

    // The listing marks the current branch, as git does.
    let listed = sb.canopy_ok(&store, &["branch"]);
    assert_eq!(
        listed,
        String::from_utf8(sb.git_ok(&store, &["branch", "--list"])).unwrap()
    );
    assert_eq!(listed, "  copy\n  feature\n* main\n");
    assert_eq!(
        sb.canopy_ok(&store, &["--branch", "feature", "branch"]),
        "  copy\n* feature\n  main\n"
    );
    let json = sb.canopy(&store, &["--json", "branch"]).ok().json();
    let current: Vec<&str> = json
        .as_array()
        .unwrap_or_else(|| panic!("an array: {json}"))
        .iter()
        .filter(|b| b["current"] == true)
        .map(|b| b["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(current, ["main"], "{json}");

    // An existing branch is not overwritten; a bad name is refused.
    let run = sb
        .canopy(&store, &["branch", "feature", "--from", "main"])
        .code(2);
    run.assert_one_line_error();
    assert_eq!(sb.rev_parse(&store, "feature"), feature);
    for bad in ["bad..name", "-x", "a b", "end.lock", "x/", "HEAD~1"] {
        let run = sb.canopy(&store, &["branch", bad]);
        assert_eq!(run.code, 2, "branch name {bad:?} is refused: {run:?}");
    }
    assert_eq!(
        lines_of(&sb.git_ok(&store, &["for-each-ref", "--format=%(refname)"])),
        ["refs/heads/copy", "refs/heads/feature", "refs/heads/main"]
    );
    sb.assert_fsck_clean(&store);
}

#[test]
fn every_revision_form_names_the_commit_git_names() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    for (i, v) in ["one", "two", "three", "four"].iter().enumerate() {
        sb.canopy(&store, &["set", "v", v]).ok();
        sb.canopy(&store, &["set", &format!("only/{i}"), v]).ok();
    }
    sb.git(&store, &["tag", "-a", "release", "-m", "annotated tag", "main~3"])
        .ok();
    sb.git(&store, &["tag", "light", "main~5"]).ok();
    sb.git(
        &store,
        &["tag", "-a", "nested", "-m", "a tag of a tag", "release"],
    )
    .ok();
    let full = sb.rev_parse(&store, "main~2");
    let short = &full[..7];

    for rev in [
        "main",
        "main~1",
        "main^",
        "main^^",
        "main~2",
        "main~1^",
        "main^1~2",
        "main~7",
        "HEAD",
        "HEAD~3",
        "refs/heads/main",
        full.as_str(),
        short,
        &full[..12],
        "release",
        "release~1",
        "refs/tags/release",
        "light",
        "nested",
    ] {
        let commit = sb.git_str(&store, &["rev-parse", "--verify", &format!("{rev}^{{commit}}")]);
        let got = sb
            .canopy(&store, &["--json", "get", "v", "--at", rev])
            .ok()
            .json();
        assert_eq!(got["commit"].as_str(), Some(commit.as_str()), "--at {rev}: {got}");
        assert_eq!(
            sb.canopy(&store, &["get", "v", "--at", rev]).ok().stdout,
            sb.git_ok(&store, &["show", &format!("{rev}:v")]),
            "get v --at {rev}"
        );
        let names = split_z(&sb.git_ok(&store, &["ls-tree", "-r", "-z", "--name-only", rev]));
        let text: Vec<String> = names
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        assert_eq!(
            sb.canopy(&store, &["tree", "--at", rev]).ok().lines(),
            text,
            "tree --at {rev}"
        );
        let only: Vec<String> = text
            .iter()
            .filter_map(|p| p.strip_prefix("only/"))
            .map(str::to_string)
            .collect();
        let listed = sb.canopy(&store, &["list", "only", "--at", rev]);
        if only.is_empty() {
            listed.code(1).assert_one_line_error();
        } else {
            assert_eq!(listed.ok().lines(), only, "list only --at {rev}");
        }
    }
    // A branch can start at any revision form.
    sb.canopy(&store, &["branch", "from-tag", "--from", "release"])
        .ok();
    assert_eq!(
        sb.rev_parse(&store, "from-tag"),
        sb.rev_parse(&store, "release^{commit}")
    );
    sb.canopy(&store, &["branch", "from-short", "--from", short]).ok();
    assert_eq!(sb.rev_parse(&store, "from-short"), full);
}

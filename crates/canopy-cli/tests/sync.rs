//! Sync as a user meets it, against a real `canopy serve` on an ephemeral loopback port:
//! stock `git` clones (full, shallow, blobless), pushes and pulls; `canopy clone/remote/fetch/
//! pull/push/sync` between replicas; hostile raw HTTP that the server refuses and survives.

mod common;

use common::{Sandbox, Served};

fn pkt(s: &str) -> String {
    format!("{:04x}{s}", s.len() + 4)
}

#[test]
fn git_clones_pushes_and_pulls_against_canopy_serve() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    for i in 0..3 {
        sb.canopy_ok(&store, &["set", &format!("items/{i}"), &format!("v{i}")]);
    }
    let served = Served::start(&sb, &store);
    assert_eq!(served.raw("GET", "/healthz", &[], b"").0, 200);
    let url = served.url();
    let top = sb.path("");

    sb.git_ok(&top, &["clone", "-q", &url, "full"]);
    sb.git_ok(&top, &["clone", "-q", "--depth", "1", &url, "shallow"]);
    sb.git_ok(&top, &["clone", "-q", "--filter=blob:none", &url, "blobless"]);
    let full = sb.path("full");
    assert_eq!(sb.git_str(&full, &["rev-list", "--count", "HEAD"]), "3");
    assert_eq!(
        sb.git_str(&sb.path("shallow"), &["rev-list", "--count", "HEAD"]),
        "1"
    );
    assert_eq!(
        sb.git_str(&sb.path("blobless"), &["show", "HEAD~2:items/0"]),
        "v0"
    );
    for c in ["full", "shallow", "blobless"] {
        sb.assert_fsck_clean(&sb.path(c));
    }

    // git push → canopy get on the server's store.
    std::fs::write(full.join("items/from-git"), "pushed").unwrap();
    sb.git_ok(&full, &["add", "."]);
    sb.git_ok(&full, &["commit", "-qm", "from git"]);
    sb.git_ok(&full, &["push", "-q", "origin", "HEAD:main"]);
    assert_eq!(sb.canopy_ok(&store, &["get", "items/from-git"]), "pushed");
    // canopy set on the server → git pull.
    sb.canopy_ok(&store, &["set", "items/0", "changed on the server"]);
    sb.git_ok(&full, &["pull", "-q", "--ff-only", "origin", "main"]);
    assert_eq!(
        std::fs::read_to_string(full.join("items/0")).unwrap(),
        "changed on the server"
    );
    sb.assert_fsck_clean(&full);
    sb.assert_fsck_clean(&store);

    // A push over 1 MiB: git probes with `0000`, then sends the pack chunked.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let big: Vec<u8> = (0..3_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(full.join("big.bin"), &big).unwrap();
    sb.git_ok(&full, &["add", "."]);
    sb.git_ok(&full, &["commit", "-qm", "big"]);
    sb.git_ok(&full, &["push", "-q", "origin", "HEAD:main"]);
    let got = sb.canopy(&store, &["get", "big.bin"]).ok().stdout;
    assert!(got == big, "big value differs ({} bytes)", got.len());

    // Non-fast-forward: refused unless forced, as with a Git server.
    sb.git_ok(&full, &["reset", "-q", "--hard", "HEAD~1"]);
    sb.git_ok(&full, &["commit", "-q", "--allow-empty", "-m", "diverge"]);
    let refused = sb.git(&full, &["push", "origin", "HEAD:main"]);
    assert_ne!(refused.code, 0);
    assert!(refused.err().contains("rejected"), "{refused:?}");
    sb.git_ok(&full, &["push", "-q", "--force", "origin", "HEAD:main"]);
    assert_eq!(
        sb.rev_parse(&store, "main"),
        sb.git_str(&full, &["rev-parse", "HEAD"])
    );
    sb.assert_fsck_clean(&store);
}

#[test]
fn canopy_replicas_sync_counters_and_sets_through_serve() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    sb.canopy_ok(
        &store,
        &[
            "set",
            ".gitattributes",
            "counter merge=counter\nmembers merge=set\n",
        ],
    );
    sb.canopy_ok(&store, &["set", "counter", "100\n"]);
    sb.canopy_ok(&store, &["set", "members", "ann\nbob\n"]);
    sb.canopy_ok(&store, &["set", "notes", "1\n2\n3\n4\n5\n6\n"]);
    let served = Served::start(&sb, &store);
    let url = served.url();
    let top = sb.path("");
    sb.canopy_ok(&top, &["clone", "-q", &url, "a"]);
    sb.canopy_ok(&top, &["clone", "-q", &url, "b"]);
    let (a, b) = (sb.path("a"), sb.path("b"));
    assert_eq!(sb.canopy_ok(&a, &["get", "counter"]), "100\n");
    assert!(sb.canopy_ok(&a, &["remote", "list"]).contains(&url));
    assert!(sb.git_str(&a, &["remote", "-v"]).contains(&url));

    sb.canopy_ok(&a, &["set", "counter", "101\n"]);
    sb.canopy_ok(&a, &["set", "members", "ann\nbob\ncid\n"]);
    sb.canopy_ok(&a, &["set", "notes", "one\n2\n3\n4\n5\n6\n"]);
    sb.canopy_ok(&b, &["set", "counter", "105\n"]);
    sb.canopy_ok(&b, &["set", "members", "bob\ndan\n"]);
    sb.canopy_ok(&b, &["set", "notes", "1\n2\n3\n4\n5\nsix\n"]);
    // b syncs first, then a, then b again (a's push came after b's).
    for r in [&b, &a, &b] {
        sb.canopy_ok(r, &["sync", "-q"]);
    }
    assert_eq!(sb.rev_parse(&a, "main"), sb.rev_parse(&b, "main"));
    assert_eq!(sb.rev_parse(&a, "main"), sb.rev_parse(&store, "main"));
    for r in [&a, &b, &store] {
        assert_eq!(sb.canopy_ok(r, &["get", "counter"]), "106\n");
        assert_eq!(sb.canopy_ok(r, &["get", "members"]), "bob\ncid\ndan\n");
        assert_eq!(sb.canopy_ok(r, &["get", "notes"]), "one\n2\n3\n4\n5\nsix\n");
        sb.assert_fsck_clean(r);
    }

    // A conflicting pull exits 1 and leaves the branch as it was.
    sb.canopy_ok(&a, &["set", "notes", "A\n"]);
    sb.canopy_ok(&a, &["push", "-q"]);
    sb.canopy_ok(&b, &["set", "notes", "B\n"]);
    let before = sb.rev_parse(&b, "main");
    let run = sb.canopy(&b, &["pull", "-q"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.err().contains("conflict in notes"), "{run:?}");
    assert_eq!(sb.rev_parse(&b, "main"), before);
    // Push refused as non-fast-forward; --force overwrites.
    let run = sb.canopy(&b, &["push"]);
    assert_eq!(run.code, 1, "{run:?}");
    sb.canopy_ok(&b, &["push", "-q", "--force"]);
    assert_eq!(sb.canopy_ok(&store, &["get", "notes"]), "B\n");

    // --merge: the server merges a non-fast-forward push with its drivers.
    sb.canopy_ok(&top, &["clone", "-q", &url, "c"]);
    let c = sb.path("c");
    sb.canopy_ok(&c, &["set", "counter", "110\n"]);
    sb.canopy_ok(&c, &["push", "-q"]);
    sb.canopy_ok(&b, &["set", "counter", "116\n"]);
    let run = sb.canopy(&b, &["push"]);
    assert_eq!(run.code, 1, "{run:?}");
    sb.canopy_ok(&b, &["push", "-q", "--merge"]);
    assert_eq!(sb.canopy_ok(&store, &["get", "counter"]), "120\n");
    sb.canopy_ok(&b, &["pull", "-q"]);
    assert_eq!(sb.rev_parse(&b, "main"), sb.rev_parse(&store, "main"));

    // Fetch updates remote-tracking branches; remotes can be added and removed.
    sb.canopy_ok(&a, &["fetch", "-q"]);
    assert_eq!(
        sb.rev_parse(&a, "refs/remotes/origin/main"),
        sb.rev_parse(&store, "main")
    );
    sb.canopy_ok(&a, &["remote", "add", "other", b.to_str().unwrap()]);
    sb.canopy_ok(&a, &["fetch", "-q", "other"]);
    assert_eq!(
        sb.rev_parse(&a, "refs/remotes/other/main"),
        sb.rev_parse(&b, "main")
    );
    sb.canopy_ok(&a, &["remote", "remove", "other"]);
    assert!(!sb.canopy_ok(&a, &["remote", "list"]).contains("other"));
}

#[test]
fn shallow_and_blobless_canopy_clones() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    for i in 0..4 {
        sb.canopy_ok(&store, &["set", "v", &format!("{i}")]);
    }
    let served = Served::start(&sb, &store);
    let top = sb.path("");
    sb.canopy_ok(&top, &["clone", "-q", "--depth", "1", &served.url(), "shallow"]);
    assert_eq!(
        sb.git_str(&sb.path("shallow"), &["rev-list", "--count", "main"]),
        "1"
    );
    assert_eq!(sb.canopy_ok(&sb.path("shallow"), &["get", "v"]), "3");
    // History ends at the shallow boundary, as `git log` does, instead of failing on the parent
    // it does not have.
    let log = sb.canopy_ok(&sb.path("shallow"), &["log", "--json"]);
    assert_eq!(log.matches("\"id\"").count(), 1, "{log}");

    // The shallow replica pulls new history without deepening.
    sb.canopy_ok(&store, &["set", "v", "4"]);
    sb.canopy_ok(&sb.path("shallow"), &["pull", "-q"]);
    assert_eq!(sb.canopy_ok(&sb.path("shallow"), &["get", "v"]), "4");
    assert_eq!(
        sb.git_str(&sb.path("shallow"), &["rev-list", "--count", "main"]),
        "2"
    );
    sb.assert_fsck_clean(&sb.path("shallow"));
    // …and pushes from it.
    sb.canopy_ok(&sb.path("shallow"), &["set", "w", "from shallow"]);
    sb.canopy_ok(&sb.path("shallow"), &["push", "-q"]);
    assert_eq!(sb.canopy_ok(&store, &["get", "w"]), "from shallow");
    sb.assert_fsck_clean(&store);

    sb.canopy_ok(&store, &["set", "u", "a\nb\nc\nd\ne\n"]);
    sb.canopy_ok(
        &top,
        &["clone", "-q", "--filter", "blob:none", &served.url(), "blobless"],
    );
    let blobless = sb.path("blobless");
    // The old value is not there until it is read (git itself must not fetch it).
    let no_lazy = [("GIT_NO_LAZY_FETCH", "1")];
    let old_blob = sb.git_str(&store, &["rev-parse", "main~6:v"]);
    assert_ne!(
        sb.git_with(&blobless, &["cat-file", "-e", &old_blob], &no_lazy, None)
            .code,
        0
    );
    assert_eq!(sb.canopy_ok(&blobless, &["get", "v", "--at", "main~6"]), "0");
    assert_eq!(
        sb.git_with(&blobless, &["cat-file", "-e", &old_blob], &no_lazy, None)
            .code,
        0
    );
    sb.assert_fsck_clean(&blobless);

    // A merge in the blobless replica fetches the merge base's value it lacks.
    let base_blob = sb.git_str(&store, &["rev-parse", "main:u"]);
    assert_ne!(
        sb.git_with(&blobless, &["cat-file", "-e", &base_blob], &no_lazy, None)
            .code,
        0
    );
    sb.canopy_ok(&store, &["set", "u", "A\nb\nc\nd\ne\n"]);
    sb.canopy_ok(&blobless, &["set", "u", "a\nb\nc\nd\nE\n"]);
    sb.canopy_ok(&blobless, &["sync", "-q"]);
    assert_eq!(sb.canopy_ok(&store, &["get", "u"]), "A\nb\nc\nd\nE\n");
    sb.assert_fsck_clean(&blobless);
    sb.assert_fsck_clean(&store);
}

#[test]
fn hostile_requests_are_refused_and_the_server_keeps_serving() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    sb.canopy_ok(&store, &["set", "a", "1"]);
    let served = Served::start(&sb, &store);
    let rp = [("Content-Type", "application/x-git-receive-pack-request")];
    let before = sb.rev_parse(&store, "main");

    // Malformed and oversized pkt-lines.
    let (status, body) = served.raw("POST", "/git/git-receive-pack", &rp, b"12");
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let (status, body) = served.raw("POST", "/git/git-receive-pack", &rp, b"ffffxxxx");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("exceeds the limit"));
    // A truncated pack.
    let zero = "0".repeat(40);
    let target = "1".repeat(40);
    let mut req = pkt(&format!("{zero} {target} refs/heads/evil\0report-status"));
    req.push_str("0000PACK\0\0\0\x02\0\0\0\x01\x35");
    let (status, body) = served.raw("POST", "/git/git-receive-pack", &rp, req.as_bytes());
    assert_eq!(status, 200);
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("unpack bad pack"), "{body}");
    assert!(body.contains("ng refs/heads/evil unpacker error"), "{body}");
    // A ref name git refuses (a deletion needs no pack).
    let req = format!(
        "{}0000",
        pkt(&format!(
            "{before} {zero} refs/heads/a..b\0report-status delete-refs"
        ))
    );
    let (_, body) = served.raw("POST", "/git/git-receive-pack", &rp, req.as_bytes());
    assert!(String::from_utf8_lossy(&body).contains("ng refs/heads/a..b funny refname"));
    // Unknown service.
    assert_eq!(
        served
            .raw("GET", "/git/info/refs?service=git-frobnicate", &[], b"")
            .0,
        403
    );

    // Nothing moved, nothing left behind, and the server still serves a clone.
    assert_eq!(sb.rev_parse(&store, "main"), before);
    assert!(sb
        .git_str(&store, &["for-each-ref", "--format=%(refname)"])
        .lines()
        .all(|r| r == "refs/heads/main"));
    let leftovers: Vec<_> = std::fs::read_dir(store.join("objects"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("tmp"))
        .collect();
    assert!(leftovers.is_empty());
    sb.git_ok(&sb.path(""), &["clone", "-q", &served.url(), "after"]);
    sb.assert_fsck_clean(&store);
}

#[test]
fn git_access_follows_tokens() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    sb.canopy_ok(&store, &["set", "a", "1"]);
    let dev = sb.canopy_ok(
        &store,
        &["token", "create", "dev", "--read", "*", "--write", "feature/*"],
    );
    let dev = dev.trim();
    let narrow = sb.canopy_ok(&store, &["token", "create", "narrow", "--read", "main"]);
    let narrow = narrow.trim();
    let served = Served::start(&sb, &store);
    let top = sb.path("");
    let with = |token: &str| served.url().replace("http://", &format!("http://git:{token}@"));

    // No credentials: 401, and git (which may not prompt here) gives up.
    let run = sb.git(&top, &["clone", "-q", &served.url(), "anon"]);
    assert_ne!(run.code, 0);
    // A token that cannot read every branch may not fetch.
    let run = sb.git(&top, &["clone", "-q", &with(narrow), "narrow"]);
    assert_ne!(run.code, 0);
    assert!(run.err().contains("403"), "{run:?}");

    sb.git_ok(&top, &["clone", "-q", &with(dev), "dev"]);
    let dev_dir = sb.path("dev");
    sb.git_ok(&dev_dir, &["commit", "-q", "--allow-empty", "-m", "x"]);
    let run = sb.git(&dev_dir, &["push", "origin", "HEAD:main"]);
    assert_ne!(run.code, 0);
    assert!(run.err().contains("permission denied"), "{run:?}");
    sb.git_ok(&dev_dir, &["push", "-q", "origin", "HEAD:refs/heads/feature/x"]);
    assert_eq!(
        sb.rev_parse(&store, "feature/x"),
        sb.git_str(&dev_dir, &["rev-parse", "HEAD"])
    );
    assert_ne!(
        sb.rev_parse(&store, "main"),
        sb.git_str(&dev_dir, &["rev-parse", "HEAD"])
    );
}

/// The tags of `repo` as `name commit tag-object` lines (`git tag -l` order).
fn tags_of(sb: &Sandbox, repo: &std::path::Path) -> Vec<String> {
    sb.git_str(repo, &["tag", "-l"])
        .lines()
        .map(|t| {
            format!(
                "{t} {} {}",
                sb.rev_parse(repo, &format!("refs/tags/{t}^{{commit}}")),
                sb.rev_parse(repo, &format!("refs/tags/{t}"))
            )
        })
        .collect()
}

/// `canopy clone` takes every tag, as `git clone` does, also tags of commits no branch
/// reaches; a later `canopy fetch` follows the tags that point into the history it has, as
/// `git fetch` does by default, and leaves the others.
#[test]
fn clone_takes_every_tag_and_fetch_follows_tags_as_git_does() {
    let sb = Sandbox::new();
    let top = sb.path("");
    let work = sb.path("work");
    sb.git_ok(&top, &["init", "-q", "-b", "main", "work"]);
    let commit = |file: &str, text: &str| {
        std::fs::write(work.join(file), text).unwrap();
        sb.git_ok(&work, &["add", "."]);
        sb.git_ok(&work, &["commit", "-qm", text]);
    };
    commit("a", "one");
    sb.git_ok(&work, &["tag", "on-main"]);
    commit("a", "two");
    // Two tags on a commit of a branch that is then deleted: no branch reaches them.
    sb.git_ok(&work, &["checkout", "-q", "-b", "gone"]);
    commit("b", "off branch");
    sb.git_ok(&work, &["tag", "light"]);
    sb.git_ok(&work, &["tag", "-a", "-m", "annotated", "annotated"]);
    sb.git_ok(&work, &["checkout", "-q", "main"]);
    sb.git_ok(&work, &["branch", "-q", "-D", "gone"]);
    sb.git_ok(&top, &["clone", "-q", "--bare", "work", "origin.git"]);
    let origin = sb.path("origin.git");
    assert_eq!(tags_of(&sb, &origin).len(), 3);

    let served = Served::start(&sb, &origin);
    let url = origin.display().to_string();
    sb.git_ok(&top, &["clone", "-q", "--no-local", &url, "by-git"]);
    let by_git = sb.path("by-git");
    let expected = tags_of(&sb, &by_git);
    assert_eq!(expected, tags_of(&sb, &origin));
    for (name, from) in [("by-path", url.clone()), ("by-http", served.url())] {
        sb.canopy_ok(&top, &["clone", "-q", &from, name]);
        let clone = sb.path(name);
        assert_eq!(tags_of(&sb, &clone), expected, "{name}");
        sb.assert_fsck_clean(&clone);
    }

    // New tags on the remote: one on a new commit of main, one annotated tag on a commit the
    // clones already have, one on a commit no branch reaches.
    commit("a", "three");
    sb.git_ok(&work, &["tag", "-a", "-m", "new", "on-new"]);
    sb.git_ok(&work, &["tag", "-a", "-m", "old", "on-old", "main~2"]);
    sb.git_ok(&work, &["checkout", "-q", "-b", "gone2"]);
    commit("c", "off branch again");
    sb.git_ok(&work, &["tag", "unreachable"]);
    sb.git_ok(&work, &["checkout", "-q", "main"]);
    sb.git_ok(&work, &["push", "-q", &url, "main", "--tags"]);
    sb.git_ok(&by_git, &["fetch", "-q"]);
    let expected = tags_of(&sb, &by_git);
    assert!(expected.iter().any(|t| t.starts_with("on-new ")), "{expected:?}");
    assert!(expected.iter().any(|t| t.starts_with("on-old ")), "{expected:?}");
    assert!(
        !expected.iter().any(|t| t.starts_with("unreachable ")),
        "{expected:?}"
    );
    for name in ["by-path", "by-http"] {
        let clone = sb.path(name);
        sb.canopy_ok(&clone, &["fetch", "-q"]);
        assert_eq!(tags_of(&sb, &clone), expected, "{name}");
        sb.assert_fsck_clean(&clone);
    }
}

/// Tokens never reach the server's log, even at the most verbose level: not from a git clone
/// with the token in its URL, a REST call with a good or a wrong bearer token, or a refused one.
#[test]
fn tokens_never_appear_in_the_server_log() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    sb.canopy_ok(&store, &["set", "a", "1"]);
    let token = sb.canopy_ok(&store, &["token", "create", "all", "--read", "*", "--write", "*"]);
    let token = token.trim().to_string();
    let wrong = format!("{}x", &token[..token.len() - 1]);
    let log = sb.path("serve.log");
    let file = std::fs::File::create(&log).unwrap();
    let served = Served::start_with(&sb, &store, |cmd| {
        cmd.env("RUST_LOG", "trace").stderr(file);
    });
    let top = sb.path("");
    let url = served.url().replace("http://", &format!("http://git:{token}@"));
    sb.git_ok(&top, &["clone", "-q", &url, "clone"]);
    let bad = served.url().replace("http://", &format!("http://git:{wrong}@"));
    assert_ne!(sb.git(&top, &["clone", "-q", &bad, "refused"]).code, 0);
    for (t, expected) in [(&token, 200), (&wrong, 401)] {
        let auth = format!("Bearer {t}");
        let (status, _) = served.raw(
            "GET",
            "/api/v1/branches/main/values/a",
            &[("Authorization", &auth)],
            b"",
        );
        assert_eq!(status, expected);
        let (status, _) = served.raw(
            "PUT",
            "/api/v1/branches/main/values/b",
            &[("Authorization", &auth)],
            b"2",
        );
        assert_eq!(status, if expected == 200 { 200 } else { 401 });
    }
    drop(served);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.len() > 100, "the server logged at trace level: {text}");
    assert!(
        !text.contains(&token) && !text.contains(&wrong),
        "a token is in the log:\n{text}"
    );
}

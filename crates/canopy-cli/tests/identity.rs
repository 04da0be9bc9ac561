//! Commits are signed as Git would sign them: `GIT_AUTHOR_*` / `GIT_COMMITTER_*`, the store's
//! config, the user's global Git config (with includes), and the local time zone.

mod common;

use common::Sandbox;

/// `canopy ARGS` with the sandbox's fixed dates removed (so the time zone shows), and `env`.
fn canopy_now(sb: &Sandbox, root: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> common::Run {
    let mut cmd = sb.canopy_command(root, args);
    cmd.env_remove("GIT_AUTHOR_DATE").env_remove("GIT_COMMITTER_DATE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    common::run(cmd, format!("canopy {}", args.join(" ")), None)
}

#[test]
fn global_gitconfig_and_the_local_time_zone_sign_commits() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    let home = sb.path("home");
    // ~/.gitconfig names the user and includes a file with the email.
    std::fs::write(home.join("identity.inc"), "[user]\n\temail = ada@example.com\n").unwrap();
    std::fs::write(
        home.join(".gitconfig"),
        "[user]\n\tname = Ada Lovelace\n[include]\n\tpath = ~/identity.inc\n",
    )
    .unwrap();
    canopy_now(&sb, &store, &["set", "k", "v"], &[("TZ", "Asia/Kolkata")]).ok();
    let line = sb.git_str(&store, &["log", "-1", "--format=%an <%ae> %ai | %cn <%ce> %ci"]);
    let (author, committer) = line.split_once(" | ").unwrap();
    assert!(author.starts_with("Ada Lovelace <ada@example.com> "), "{line}");
    assert!(author.ends_with(" +0530"), "{line}");
    assert!(committer.starts_with("Ada Lovelace <ada@example.com> "), "{line}");
    assert!(committer.ends_with(" +0530"), "{line}");
    // New York in winter.
    canopy_now(&sb, &store, &["set", "k", "w"], &[("TZ", "America/New_York")]).ok();
    let zone = sb.git_str(&store, &["log", "-1", "--format=%ai"]);
    assert!(zone.ends_with(" -0500") || zone.ends_with(" -0400"), "{zone}");

    // The environment wins over the config, the store's config over the global one.
    canopy_now(
        &sb,
        &store,
        &["set", "k", "x"],
        &[("GIT_AUTHOR_NAME", "Env Author"), ("TZ", "UTC")],
    )
    .ok();
    let line = sb.git_str(&store, &["log", "-1", "--format=%an <%ae> | %cn"]);
    assert_eq!(line, "Env Author <ada@example.com> | Ada Lovelace");
    sb.git_ok(&store, &["config", "user.name", "Store Owner"]);
    canopy_now(&sb, &store, &["set", "k", "y"], &[]).ok();
    assert_eq!(
        sb.git_str(&store, &["log", "-1", "--format=%an <%ae>"]),
        "Store Owner <ada@example.com>"
    );
    // --author names the author only; the committer is who ran the command.
    canopy_now(
        &sb,
        &store,
        &["set", "k", "z", "--author", "Guest <guest@example.com>"],
        &[],
    )
    .ok();
    assert_eq!(
        sb.git_str(&store, &["log", "-1", "--format=%an <%ae> | %cn <%ce>"]),
        "Guest <guest@example.com> | Store Owner <ada@example.com>"
    );
    sb.assert_fsck_clean(&store);
}

#[test]
fn xdg_config_is_read_and_init_says_how_to_set_an_identity() {
    let sb = Sandbox::new();
    let top = sb.path("");
    // No identity anywhere: init says how to set one, and commits still work.
    let run = sb.canopy(&top, &["init", "a"]).ok();
    assert!(run.err().contains("git config --global user.name"), "{run:?}");
    let a = sb.path("a");
    sb.canopy_ok(&a, &["set", "k", "v"]);
    assert_eq!(
        sb.git_str(&a, &["log", "-1", "--format=%an <%ae>"]),
        "canopy <canopy@localhost>"
    );
    // $XDG_CONFIG_HOME/git/config is the other global file Git reads.
    let xdg = sb.path("home/.config/git");
    std::fs::create_dir_all(&xdg).unwrap();
    std::fs::write(
        xdg.join("config"),
        "[user]\n\tname = Grace\n\temail = grace@example.com\n",
    )
    .unwrap();
    let run = sb.canopy(&top, &["init", "b"]).ok();
    assert!(!run.err().contains("hint"), "{run:?}");
    sb.canopy_ok(&a, &["set", "k", "w"]);
    assert_eq!(
        sb.git_str(&a, &["log", "-1", "--format=%an <%ae>"]),
        "Grace <grace@example.com>"
    );
    // A bad GIT_AUTHOR_DATE is refused before anything is written.
    let before = sb.rev_parse(&a, "main");
    let bad = canopy_now(
        &sb,
        &a,
        &["set", "k", "x"],
        &[("GIT_AUTHOR_DATE", "yesterday-ish")],
    );
    assert_eq!(bad.code, 2, "{bad:?}");
    bad.assert_one_line_error();
    assert_eq!(sb.rev_parse(&a, "main"), before);
}

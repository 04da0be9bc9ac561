//! The daemon driven over the wire protocol by the crate's own client: node operations,
//! transactions, permissions, watches, bad input, and two daemons converging with sync.

mod common;

use std::time::Duration;

use canopy::store::{CommitOptions, MergeOptions};
use canopy::Path;
use canopy_xenstored::client::Client;
use canopy_xenstored::wire::{op, Errno, Message};
use common::{git_log, wait_event, TestDaemon};

fn errno<T: std::fmt::Debug>(r: canopy_xenstored::client::Result<T>) -> Errno {
    match r {
        Err(e) => e.errno().unwrap_or_else(|| panic!("not an errno: {e}")),
        Ok(v) => panic!("succeeded with {v:?}"),
    }
}

#[test]
fn every_write_is_a_commit_laid_out_as_directories() {
    let d = TestDaemon::start();
    let mut c = d.client();
    c.write(0, "/local/domain/0/name", b"Domain-0").unwrap();
    c.write(0, "/local/domain/0", b"dom0 value").unwrap();
    c.mkdir(0, "/local/domain/0/empty").unwrap();
    assert_eq!(c.read(0, "/local/domain/0/name").unwrap(), b"Domain-0");
    assert_eq!(c.read(0, "/local/domain/0").unwrap(), b"dom0 value");
    assert_eq!(c.read(0, "/local").unwrap(), b"");
    assert_eq!(c.directory(0, "/local/domain/0").unwrap(), ["empty", "name"]);
    assert_eq!(
        c.directory(0, "/local/domain/0/empty").unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(errno(c.read(0, "/local/domain/1")), Errno::NoEnt);
    // A relative path is below the connection's domain path.
    assert_eq!(c.read(0, "name").unwrap(), b"Domain-0");

    // The layout: a directory per node, its value and permissions in reserved files.
    let main = d.repo().branch("main").unwrap();
    let get = |p: &str| main.get(&Path::parse(p).unwrap()).unwrap();
    assert_eq!(
        get("local/domain/0/name/.value").as_deref(),
        Some(&b"Domain-0"[..])
    );
    assert_eq!(get("local/domain/0/name/.perms").as_deref(), Some(&b"n0\n"[..]));
    assert_eq!(get("local/domain/0/empty/.value").as_deref(), Some(&b""[..]));

    c.rm(0, "/local/domain/0").unwrap();
    assert_eq!(errno(c.read(0, "/local/domain/0/name")), Errno::NoEnt);
    // Removing what is not there is fine when the parent exists, else ENOENT.
    c.rm(0, "/local/domain/0").unwrap();
    assert_eq!(errno(c.rm(0, "/nowhere/x")), Errno::NoEnt);
    assert_eq!(errno(c.rm(0, "/")), Errno::Inval);
    assert_eq!(
        git_log(&d.root()),
        [
            "rm /local/domain/0",
            "mkdir /local/domain/0/empty",
            "write /local/domain/0",
            "write /local/domain/0/name"
        ]
    );
}

#[test]
fn a_transaction_is_one_commit_seeing_its_snapshot_and_its_own_writes() {
    let d = TestDaemon::start();
    let (mut a, mut b) = (d.client(), d.client());
    a.write(0, "/t/x", b"1").unwrap();
    let tx = a.transaction_start().unwrap();
    a.write(tx, "/t/y", b"2").unwrap();
    a.write(tx, "/t/z", b"3").unwrap();
    assert_eq!(a.read(tx, "/t/y").unwrap(), b"2");
    assert_eq!(a.directory(tx, "/t").unwrap(), ["x", "y", "z"]);
    // Others do not see it yet; a write by another client on a disjoint node goes in.
    assert_eq!(errno(b.read(0, "/t/y")), Errno::NoEnt);
    b.write(0, "/other", b"o").unwrap();
    assert_eq!(a.read(tx, "/t/x").unwrap(), b"1");
    a.transaction_end(tx, true).unwrap();
    assert_eq!(b.read(0, "/t/z").unwrap(), b"3");

    assert_eq!(b.read(0, "/other").unwrap(), b"o");
    let log = git_log(&d.root());
    assert_eq!(log[0], format!("transaction {tx}: write /t/y (+1 more)"));
    assert_eq!(log.len(), 3);

    // Aborted: nothing.
    let tx = a.transaction_start().unwrap();
    a.write(tx, "/t/aborted", b"x").unwrap();
    a.transaction_end(tx, false).unwrap();
    assert_eq!(errno(b.read(0, "/t/aborted")), Errno::NoEnt);
    assert_eq!(errno(a.read(tx, "/t/x")), Errno::NoEnt, "the transaction is gone");
    assert_eq!(git_log(&d.root()).len(), 3);

    // Reads in a transaction come from its snapshot.
    let tx = a.transaction_start().unwrap();
    b.write(0, "/after", b"later").unwrap();
    assert_eq!(errno(a.read(tx, "/after")), Errno::NoEnt, "the snapshot moved");
    // ... and having read a node that changed since, it cannot commit.
    assert_eq!(errno(a.transaction_end(tx, true)), Errno::Again);
}

#[test]
fn a_transaction_that_read_or_wrote_a_node_changed_since_gets_eagain() {
    let d = TestDaemon::start();
    let (mut a, mut b) = (d.client(), d.client());
    a.write(0, "/k", b"0").unwrap();

    // Read /k, write elsewhere; /k changes meanwhile: the read is stale.
    let tx = a.transaction_start().unwrap();
    assert_eq!(a.read(tx, "/k").unwrap(), b"0");
    a.write(tx, "/derived", b"from 0").unwrap();
    b.write(0, "/k", b"1").unwrap();
    assert_eq!(errno(a.transaction_end(tx, true)), Errno::Again);
    assert_eq!(errno(b.read(0, "/derived")), Errno::NoEnt);

    // Two transactions writing the same node: the second to end loses.
    let t1 = a.transaction_start().unwrap();
    let t2 = b.transaction_start().unwrap();
    a.write(t1, "/k", b"a").unwrap();
    b.write(t2, "/k", b"b").unwrap();
    a.transaction_end(t1, true).unwrap();
    assert_eq!(errno(b.transaction_end(t2, true)), Errno::Again);
    assert_eq!(a.read(0, "/k").unwrap(), b"a");

    // A listing is a read too: a child added meanwhile fails the transaction.
    let tx = a.transaction_start().unwrap();
    a.directory(tx, "/").unwrap();
    b.write(0, "/new-child", b"").unwrap();
    assert_eq!(errno(a.transaction_end(tx, true)), Errno::Again);

    // Disjoint transactions both commit, merged. (Had both created `/d`, the second would
    // fail: each would have written a node the other wrote.)
    a.mkdir(0, "/d").unwrap();
    let t1 = a.transaction_start().unwrap();
    let t2 = b.transaction_start().unwrap();
    a.write(t1, "/d/one", b"1").unwrap();
    b.write(t2, "/d/two", b"2").unwrap();
    a.transaction_end(t1, true).unwrap();
    b.transaction_end(t2, true).unwrap();
    assert_eq!(a.directory(0, "/d").unwrap(), ["one", "two"]);
}

#[test]
fn permissions_are_checked_for_a_domain_and_inherited_by_new_nodes() {
    let d = TestDaemon::start();
    let mut dom0 = d.client();
    dom0.write(0, "/secret", b"s").unwrap();
    dom0.mkdir(0, "/local/domain/5").unwrap();
    dom0.set_perms(0, "/local/domain/5", &["n5"]).unwrap();
    dom0.write(0, "/local/domain/5/from-dom0", b"x").unwrap();
    // What dom0 creates in a guest's tree stays the guest's.
    assert_eq!(dom0.get_perms(0, "/local/domain/5/from-dom0").unwrap(), ["n5"]);

    let mut guest = d.client();
    guest.restrict(5).unwrap();
    assert_eq!(errno(guest.read(0, "/secret")), Errno::Acces);
    assert_eq!(errno(guest.write(0, "/secret", b"mine")), Errno::Acces);
    assert_eq!(errno(guest.write(0, "/new-top", b"x")), Errno::Acces);
    assert_eq!(errno(guest.restrict(0)), Errno::Acces);
    assert_eq!(
        errno(guest.request(op::INTRODUCE, 0, b"9\x001\x002\0".to_vec())),
        Errno::Acces
    );
    guest.write(0, "data/value", b"v").unwrap();
    assert_eq!(guest.read(0, "/local/domain/5/data/value").unwrap(), b"v");
    assert_eq!(guest.read(0, "from-dom0").unwrap(), b"x");

    // The guest lets domain 6 read one node; domain 7 still cannot.
    guest.set_perms(0, "data/value", &["n5", "r6"]).unwrap();
    assert_eq!(errno(guest.set_perms(0, "data/value", &["n7"])), Errno::Perm);
    let mut six = d.client();
    six.restrict(6).unwrap();
    assert_eq!(six.read(0, "/local/domain/5/data/value").unwrap(), b"v");
    assert_eq!(
        errno(six.write(0, "/local/domain/5/data/value", b"no")),
        Errno::Acces
    );
    assert_eq!(errno(six.read(0, "/local/domain/5/data")), Errno::Acces);
    // A domain made the target's device model acts with the target's rights.
    dom0.request(op::SET_TARGET, 0, b"7\x005\0".to_vec()).unwrap();
    let mut seven = d.client();
    seven.restrict(7).unwrap();
    seven.write(0, "/local/domain/5/data/value", b"by 7").unwrap();

    // A node a domain creates is its own, with its parent's other entries.
    dom0.set_perms(0, "/local/domain/5/data", &["n5", "r0", "w8"])
        .unwrap();
    guest.write(0, "data/child", b"c").unwrap();
    assert_eq!(
        dom0.get_perms(0, "/local/domain/5/data/child").unwrap(),
        ["n5", "r0", "w8"]
    );
    let mut eight = d.client();
    eight.restrict(8).unwrap();
    eight.write(0, "/local/domain/5/data/by-eight", b"8").unwrap();
    assert_eq!(
        dom0.get_perms(0, "/local/domain/5/data/by-eight").unwrap(),
        ["n8", "r0"]
    );
}

#[test]
fn watches_fire_for_the_node_and_below_with_an_initial_event() {
    let d = TestDaemon::start();
    let (mut w, mut c) = (d.client(), d.client());
    w.watch("/vm", "tok").unwrap();
    assert_eq!(
        wait_event(&mut w, "/vm").as_deref(),
        Some("tok"),
        "no initial event"
    );
    c.write(0, "/vm/1/name", b"guest").unwrap();
    assert_eq!(wait_event(&mut w, "/vm/1/name").as_deref(), Some("tok"));
    c.write(0, "/elsewhere", b"x").unwrap();
    c.rm(0, "/vm/1").unwrap();
    assert_eq!(wait_event(&mut w, "/vm/1").as_deref(), Some("tok"));
    assert_eq!(errno(w.watch("/vm", "tok")), Errno::Exist);
    w.unwatch("/vm", "tok").unwrap();
    assert_eq!(errno(w.unwatch("/vm", "tok")), Errno::NoEnt);

    // A relative watch hears relative paths.
    w.watch("device", "rel").unwrap();
    assert_eq!(wait_event(&mut w, "device").as_deref(), Some("rel"));
    c.write(0, "/local/domain/0/device/vif", b"1").unwrap();
    assert_eq!(wait_event(&mut w, "device/vif").as_deref(), Some("rel"));

    // Special paths.
    w.watch("@introduceDomain", "intro").unwrap();
    assert_eq!(wait_event(&mut w, "@introduceDomain").as_deref(), Some("intro"));
    c.request(op::INTRODUCE, 0, b"3\x00123\x004\0".to_vec()).unwrap();
    assert_eq!(wait_event(&mut w, "@introduceDomain").as_deref(), Some("intro"));
    assert_eq!(
        c.request(op::IS_DOMAIN_INTRODUCED, 0, b"3\0".to_vec()).unwrap(),
        b"T\0"
    );
    assert_eq!(
        c.request(op::IS_DOMAIN_INTRODUCED, 0, b"4\0".to_vec()).unwrap(),
        b"F\0"
    );
    assert_eq!(
        c.request(op::GET_DOMAIN_PATH, 0, b"3\0".to_vec()).unwrap(),
        b"/local/domain/3\0"
    );
}

#[test]
fn an_unprivileged_watcher_hears_only_of_nodes_it_may_read() {
    let d = TestDaemon::start();
    let mut dom0 = d.client();
    dom0.mkdir(0, "/shared").unwrap();
    dom0.set_perms(0, "/shared", &["n0", "r4"]).unwrap();
    let mut guest = d.client();
    guest.restrict(4).unwrap();
    guest.watch("/", "all").unwrap();
    assert_eq!(wait_event(&mut guest, "/").as_deref(), Some("all"));
    dom0.write(0, "/private", b"p").unwrap();
    dom0.write(0, "/shared/public", b"p").unwrap();
    assert_eq!(wait_event(&mut guest, "/shared/public").as_deref(), Some("all"));
    // The private write came first: had it been sent, it would have been seen by now.
    while let Some((path, _)) = guest.next_event(Duration::from_millis(300)).unwrap() {
        assert_ne!(path, "/private");
    }
}

#[test]
fn watches_fire_on_commits_made_outside_the_daemon() {
    let d = TestDaemon::start();
    let mut w = d.client();
    w.watch("/local", "t").unwrap();
    assert_eq!(wait_event(&mut w, "/local").as_deref(), Some("t"));
    // Another process (here: the library, as `canopy set` does) writes into the branch.
    let main = d.repo().branch("main").unwrap();
    main.set(
        &Path::parse("local/domain/9/name/.value").unwrap(),
        b"outside".to_vec(),
        &CommitOptions::message("set by hand"),
    )
    .unwrap();
    assert_eq!(wait_event(&mut w, "/local/domain/9/name").as_deref(), Some("t"));
    // The daemon reads what was written, and the directories on the way are nodes.
    assert_eq!(w.read(0, "/local/domain/9/name").unwrap(), b"outside");
    assert_eq!(w.read(0, "/local/domain/9").unwrap(), b"");
}

#[test]
fn bad_input_gets_an_error_and_the_connection_stays_usable() {
    let d = TestDaemon::start();
    let mut c = d.client();
    c.write(0, "/ok", b"fine").unwrap();
    for bad in ["/a/../b", "/a//b", "/a/", "", "/a b", "/.git", "/x/.value"] {
        assert_eq!(errno(c.read(0, bad)), Errno::Inval, "{bad:?}");
        assert_eq!(errno(c.write(0, bad, b"v")), Errno::Inval, "{bad:?}");
    }
    assert_eq!(
        errno(c.request(op::WRITE, 0, b"/no-separator".to_vec())),
        Errno::Inval
    );
    assert_eq!(errno(c.request(op::READ, 0, b"/a\0/b\0".to_vec())), Errno::Inval);
    assert_eq!(errno(c.request(999, 0, Vec::new())), Errno::Inval);
    assert_eq!(errno(c.request(op::WATCH_EVENT, 0, Vec::new())), Errno::Inval);
    assert_eq!(errno(c.read(12345, "/ok")), Errno::NoEnt, "unknown transaction");
    assert_eq!(errno(c.set_perms(0, "/ok", &["x1"])), Errno::Inval);
    assert_eq!(
        errno(c.request(op::TRANSACTION_END, 0, b"maybe\0".to_vec())),
        Errno::Inval
    );
    let long = format!("/{}", "a".repeat(3100));
    assert_eq!(errno(c.read(0, &long)), Errno::Inval);

    // A payload over 4096 bytes: E2BIG, and the stream stays in step.
    let mut header = Vec::new();
    for f in [op::WRITE, 77, 0, 5000] {
        header.extend_from_slice(&u32::to_le_bytes(f));
    }
    header.extend(std::iter::repeat_n(b'x', 5000));
    c.send_raw(&header).unwrap();
    let reply = c.read_reply().unwrap();
    assert_eq!(reply, Message::error(77, 0, Errno::TooBig));
    assert_eq!(c.read(0, "/ok").unwrap(), b"fine");

    // A client that sends half a header and goes away does not hurt the daemon.
    let mut cut = d.client();
    cut.send_raw(&[1, 0, 0]).unwrap();
    drop(cut);
    assert_eq!(d.client().read(0, "/ok").unwrap(), b"fine");
    assert_eq!(git_log(&d.root()), ["write /ok"]);
}

#[test]
fn a_client_gone_mid_transaction_leaves_nothing_behind() {
    let d = TestDaemon::start();
    let mut c = d.client();
    c.write(0, "/base", b"b").unwrap();
    let head = d.repo().branch("main").unwrap().head().unwrap();
    let mut doomed = d.client();
    let tx = doomed.transaction_start().unwrap();
    doomed.write(tx, "/half", b"done").unwrap();
    doomed.rm(tx, "/base").unwrap();
    drop(doomed);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(errno(c.read(0, "/half")), Errno::NoEnt);
    assert_eq!(c.read(0, "/base").unwrap(), b"b");
    assert_eq!(d.repo().branch("main").unwrap().head().unwrap(), head);
    // Its transaction id means nothing on another connection.
    assert_eq!(errno(c.transaction_end(tx, true)), Errno::NoEnt);
}

#[test]
fn two_daemons_converge_through_sync_and_the_second_one_fires_watches() {
    let a = TestDaemon::start();
    let mut ca = a.client();
    ca.write(0, "/local/domain/1/name", b"first").unwrap();

    // Replica B: a clone of A's store, served by its own daemon.
    let dir_b = tempfile::tempdir().unwrap();
    let root_b = dir_b.path().join("store");
    let url = a.root().display().to_string();
    canopy::sync::client::clone(&url, &root_b, &mut Default::default()).unwrap();
    let b = TestDaemon::at(root_b.clone(), dir_b.path().join("socket"));
    let mut cb = Client::connect(b.socket()).unwrap();
    assert_eq!(cb.read(0, "/local/domain/1/name").unwrap(), b"first");
    cb.watch("/local/domain/1", "sync").unwrap();
    assert_eq!(wait_event(&mut cb, "/local/domain/1").as_deref(), Some("sync"));

    // Both sides write; B pulls from A (fetch + merge, as `canopy pull` / `sync` do).
    ca.write(0, "/local/domain/1/name", b"renamed on A").unwrap();
    cb.write(0, "/local/domain/2/name", b"made on B").unwrap();
    let repo_b = canopy::Repo::open(&root_b).unwrap();
    canopy::sync::client::fetch(&repo_b, "origin", &mut Default::default()).unwrap();
    let theirs = repo_b
        .refs()
        .resolve("refs/remotes/origin/main")
        .unwrap()
        .unwrap();
    repo_b
        .branch("main")
        .unwrap()
        .merge(theirs, &MergeOptions::default())
        .unwrap();

    assert_eq!(
        wait_event(&mut cb, "/local/domain/1/name").as_deref(),
        Some("sync")
    );
    assert_eq!(cb.read(0, "/local/domain/1/name").unwrap(), b"renamed on A");
    assert_eq!(cb.read(0, "/local/domain/2/name").unwrap(), b"made on B");
}

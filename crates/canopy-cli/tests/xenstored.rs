//! The xenstore daemon's configuration as the toolstack's operators meet it with the `canopy`
//! command line: two daemons on two replicas synchronised by `canopy sync`, their history traced
//! with `canopy log` and `canopy diff`, and a bad change undone with `canopy rollback`, which the
//! daemon serves at once.

mod common;

use std::time::{Duration, Instant};

use canopy_xenstored::client::Client;
use canopy_xenstored::{Config, Daemon};
use common::Sandbox;

fn wait_event(c: &mut Client, path: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some((p, _))) = c.next_event(Duration::from_millis(200)) {
            if p == path {
                return true;
            }
        }
    }
    false
}

#[test]
fn two_xenstore_daemons_sync_with_canopy_sync_and_roll_back_with_canopy() {
    let sb = Sandbox::new();
    let a_root = sb.init_store("a", "sha1");
    let start = |root: &std::path::Path, name: &str| {
        Daemon::bind(&Config {
            root: root.to_path_buf(),
            branch: "main".into(),
            socket: sb.path(&format!("{name}.sock")),
        })
        .unwrap()
        .spawn()
    };
    let daemon_a = start(&a_root, "a");
    let mut ca = Client::connect(daemon_a.socket()).unwrap();
    ca.write(0, "/local/domain/1/name", b"web").unwrap();
    ca.write(0, "/local/domain/1/memory/target", b"524288").unwrap();

    let top = sb.path("");
    sb.canopy_ok(&top, &["clone", "-q", a_root.to_str().unwrap(), "b"]);
    let b_root = sb.path("b");
    let daemon_b = start(&b_root, "b");
    let mut cb = Client::connect(daemon_b.socket()).unwrap();
    assert_eq!(cb.read(0, "/local/domain/1/name").unwrap(), b"web");
    cb.watch("/local/domain/1/memory", "mem").unwrap();
    assert!(wait_event(&mut cb, "/local/domain/1/memory"), "initial event");

    // A changes the memory target, B names a second domain; B syncs (pull, then push to A).
    ca.write(0, "/local/domain/1/memory/target", b"1048576").unwrap();
    cb.write(0, "/local/domain/2/name", b"db").unwrap();
    sb.canopy_ok(&b_root, &["sync", "-q"]);
    assert!(
        wait_event(&mut cb, "/local/domain/1/memory/target"),
        "B's watch fires for A's change"
    );
    assert_eq!(cb.read(0, "/local/domain/1/memory/target").unwrap(), b"1048576");
    // A's daemon sees B's node once the push has landed in its store.
    let deadline = Instant::now() + Duration::from_secs(10);
    while ca.read(0, "/local/domain/2/name").ok().as_deref() != Some(&b"db"[..]) {
        assert!(Instant::now() < deadline, "A never saw B's write");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Every write is a commit: the history names each operation.
    let log = sb.canopy_ok(&a_root, &["log", "--limit", "20"]);
    assert!(log.contains("write /local/domain/1/memory/target"), "{log}");
    assert!(log.contains("write /local/domain/2/name"), "{log}");
    let diff = sb.canopy_ok(&a_root, &["diff", "main~1", "main"]);
    assert!(!diff.trim().is_empty());

    // A bad change, undone with rollback; the daemon serves the old value at once.
    let good = sb.rev_parse(&a_root, "main");
    ca.write(0, "/local/domain/1/memory/target", b"1").unwrap();
    assert_eq!(ca.read(0, "/local/domain/1/memory/target").unwrap(), b"1");
    sb.canopy_ok(&a_root, &["rollback", &good]);
    assert_eq!(ca.read(0, "/local/domain/1/memory/target").unwrap(), b"1048576");
    sb.assert_fsck_clean(&a_root);
    sb.assert_fsck_clean(&b_root);
    daemon_a.stop();
    daemon_b.stop();
}

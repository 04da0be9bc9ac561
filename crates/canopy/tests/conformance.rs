//! One conformance suite for every backend: each test runs against the in-memory backend and the
//! on-disk Git backend, and both must behave the same.

use std::sync::Arc;

use canopy::backend::git::RepoLayout;
use canopy::backend::mem::{MemObjects, MemRefs};
use canopy::backend::{AtomicWrite, ContentAddressable, Expected, RefLog, RefTarget};
use canopy::object::{HashKind, ObjectId, ObjectKind, Signature};

struct Backend {
    objects: Arc<dyn ContentAddressable>,
    refs: Arc<dyn AtomicWrite>,
    _dir: Option<tempfile::TempDir>,
}

fn mem(hash: HashKind) -> Backend {
    Backend {
        objects: Arc::new(MemObjects::new(hash)),
        refs: Arc::new(MemRefs::new()),
        _dir: None,
    }
}

fn git(hash: HashKind) -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let layout = RepoLayout::init(dir.path(), hash, "main").unwrap();
    Backend {
        objects: Arc::new(layout.objects().unwrap()),
        refs: Arc::new(layout.refs()),
        _dir: Some(dir),
    }
}

fn log(msg: &str) -> RefLog {
    RefLog {
        who: Signature {
            name: "T".into(),
            email: "t@example.com".into(),
            time: 1_700_000_000,
            offset_minutes: 0,
        },
        message: msg.into(),
    }
}

/// Runs `check` on every backend, for both object formats.
fn each_backend(check: impl Fn(&Backend, HashKind)) {
    for hash in [HashKind::Sha1, HashKind::Sha256] {
        check(&mem(hash), hash);
        check(&git(hash), hash);
    }
}

#[test]
fn objects_round_trip_with_git_ids() {
    each_backend(|b, hash| {
        let id = b.objects.write(ObjectKind::Blob, b"hello\n").unwrap();
        if hash == HashKind::Sha1 {
            assert_eq!(id.to_hex(), "ce013625030ba8dba906f756967f9e9ca394464a");
        }
        assert_eq!(id.hash_kind(), hash);
        // Idempotent.
        assert_eq!(b.objects.write(ObjectKind::Blob, b"hello\n").unwrap(), id);
        let obj = b.objects.read(&id).unwrap().unwrap();
        assert_eq!(
            (obj.kind, obj.data.as_slice()),
            (ObjectKind::Blob, &b"hello\n"[..])
        );
        assert!(b.objects.contains(&id).unwrap());
        let empty = b.objects.write(ObjectKind::Tree, b"").unwrap();
        assert_eq!(empty, hash.empty_tree());
        let missing = ObjectId::for_object(hash, ObjectKind::Blob, b"absent");
        assert!(b.objects.read(&missing).unwrap().is_none());
        assert!(!b.objects.contains(&missing).unwrap());
        let found = b.objects.ids_with_prefix(&id.to_hex()[..6]).unwrap();
        assert_eq!(found, vec![id]);
        assert!(b.objects.read_kind(&id, ObjectKind::Tree).is_err());
    });
}

#[test]
fn refs_compare_and_swap() {
    each_backend(|b, hash| {
        let a = b.objects.write(ObjectKind::Blob, b"a").unwrap();
        let c = b.objects.write(ObjectKind::Blob, b"c").unwrap();
        let name = "refs/heads/main";
        assert_eq!(b.refs.resolve(name).unwrap(), None);
        assert!(!b
            .refs
            .update(name, Expected::Value(a), Some(c), &log("x"))
            .unwrap());
        assert!(b
            .refs
            .update(name, Expected::Absent, Some(a), &log("create"))
            .unwrap());
        assert!(!b.refs.update(name, Expected::Absent, Some(c), &log("x")).unwrap());
        assert_eq!(b.refs.resolve(name).unwrap(), Some(a));
        assert!(!b
            .refs
            .update(name, Expected::Value(c), Some(c), &log("x"))
            .unwrap());
        assert_eq!(
            b.refs.resolve(name).unwrap(),
            Some(a),
            "a lost swap changes nothing"
        );
        assert!(b
            .refs
            .update(name, Expected::Value(a), Some(c), &log("move"))
            .unwrap());
        assert!(b
            .refs
            .update(name, Expected::Any, Some(a), &log("force"))
            .unwrap());
        // The reflog keeps every head the branch ever had.
        let logged: Vec<_> = b
            .refs
            .reflog(name)
            .unwrap()
            .iter()
            .map(|e| (e.old, e.new))
            .collect();
        assert_eq!(
            logged,
            vec![(None, Some(a)), (Some(a), Some(c)), (Some(c), Some(a))]
        );
        let _ = hash;
        // Listing and deleting.
        assert!(b
            .refs
            .update("refs/heads/other", Expected::Absent, Some(c), &log("b"))
            .unwrap());
        assert!(b
            .refs
            .update("refs/tags/t", Expected::Absent, Some(c), &log("t"))
            .unwrap());
        let heads: Vec<String> = b
            .refs
            .list("refs/heads/")
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(heads, ["refs/heads/main", "refs/heads/other"]);
        assert!(b
            .refs
            .update("refs/heads/other", Expected::Value(c), None, &log("rm"))
            .unwrap());
        assert_eq!(b.refs.resolve("refs/heads/other").unwrap(), None);
        assert!(b
            .refs
            .update("refs/heads/x/../y", Expected::Any, Some(c), &log("bad"))
            .is_err());
    });
}

#[test]
fn symbolic_head_follows_its_branch() {
    each_backend(|b, _| {
        let a = b.objects.write(ObjectKind::Blob, b"a").unwrap();
        b.refs.set_symbolic("HEAD", "refs/heads/dev").unwrap();
        assert_eq!(
            b.refs.read_ref("HEAD").unwrap(),
            Some(RefTarget::Symbolic("refs/heads/dev".into()))
        );
        assert_eq!(b.refs.resolve("HEAD").unwrap(), None);
        assert!(b
            .refs
            .update("HEAD", Expected::Absent, Some(a), &log("via head"))
            .unwrap());
        assert_eq!(b.refs.resolve("refs/heads/dev").unwrap(), Some(a));
        assert_eq!(
            b.refs.resolve_name("HEAD").unwrap(),
            ("refs/heads/dev".to_string(), Some(a))
        );
    });
}

#[test]
fn concurrent_swaps_never_lose_an_update() {
    each_backend(|b, hash| {
        // Each counter value is a distinct blob; threads race to advance the ref by one.
        let ids: Vec<ObjectId> = (0..=80)
            .map(|i| {
                b.objects
                    .write(ObjectKind::Blob, format!("{i}").as_bytes())
                    .unwrap()
            })
            .collect();
        let index_of = |id: ObjectId| ids.iter().position(|&x| x == id).unwrap();
        let name = "refs/heads/counter";
        assert!(b
            .refs
            .update(name, Expected::Absent, Some(ids[0]), &log("0"))
            .unwrap());
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let mut done = 0;
                    while done < 20 {
                        let cur = b.refs.resolve(name).unwrap().unwrap();
                        let next = ids[index_of(cur) + 1];
                        if b.refs
                            .update(name, Expected::Value(cur), Some(next), &log("inc"))
                            .unwrap()
                        {
                            done += 1;
                        }
                    }
                });
            }
        });
        assert_eq!(b.refs.resolve(name).unwrap(), Some(ids[80]), "{hash:?}");
        assert_eq!(b.refs.reflog(name).unwrap().len(), 81);
    });
}

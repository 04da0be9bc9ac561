//! A user-defined mergeable type reaches every merge the library makes: `Branch::merge`, a
//! transaction that finds its branch moved, `revert`, a pull (fetch + merge) between two stores
//! on disk, and `-X ours|theirs` through the merge context. The type is a max-register that
//! records how many times its merge ran, so each test proves the user's function decided.

use std::sync::atomic::{AtomicUsize, Ordering};

use canopy::contents::{CodecError, Contents};
use canopy::merge::{EqualChanges, Favor, MergeContext, MergeResult};
use canopy::store::{CommitOptions, MergeOptions, MergeOutcome, RevertOutcome};
use canopy::sync::client::{self, CloneOptions, FetchOptions};
use canopy::{HashKind, Path, Repo};

thread_local! {
    /// Merges run on the calling thread, so each test counts only its own.
    static MERGES: AtomicUsize = const { AtomicUsize::new(0) };
}

/// The largest number written on any replica.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Max(u64);

impl Contents for Max {
    const DRIVER: &'static str = "max";

    fn encode(&self) -> Result<Vec<u8>, CodecError> {
        Ok(format!("max {}\n", self.0).into_bytes())
    }

    fn decode(bytes: &[u8]) -> Result<Max, CodecError> {
        let text = std::str::from_utf8(bytes).map_err(CodecError::new)?;
        let n = text
            .trim()
            .strip_prefix("max ")
            .ok_or_else(|| CodecError::new("expected 'max N'"))?;
        n.parse().map(Max).map_err(CodecError::new)
    }

    fn merge(ctx: &MergeContext, _base: Option<&Max>, ours: &Max, theirs: &Max) -> MergeResult<Max> {
        MERGES.with(|m| m.fetch_add(1, Ordering::SeqCst));
        Ok(match ctx.favor {
            Some(Favor::Ours) => *ours,
            Some(Favor::Theirs) => *theirs,
            None => Max(ours.0.max(theirs.0)),
        })
    }
}

fn p(s: &str) -> Path {
    Path::parse(s).unwrap()
}

fn msg(m: &str) -> CommitOptions {
    CommitOptions::message(m)
}

/// A store with `.gitattributes` binding `best` to the user's type, `best` = 10, and branch
/// `other` forked there.
fn seeded(repo: &Repo) {
    repo.register_contents::<Max>();
    let main = repo.branch("main").unwrap();
    main.set(&p(".gitattributes"), "/best merge=max\n", &msg("bind best"))
        .unwrap();
    main.set_as(&p("best"), &Max(10), &msg("10")).unwrap();
    repo.create_branch("other", main.head().unwrap().unwrap())
        .unwrap();
}

/// Runs `f` and returns how many times the user's merge ran meanwhile.
fn merges_during(f: impl FnOnce()) -> usize {
    let count = || MERGES.with(|m| m.load(Ordering::SeqCst));
    let before = count();
    f();
    count() - before
}

#[test]
fn branch_merge_runs_the_users_merge() {
    let repo = Repo::in_memory(HashKind::Sha1);
    seeded(&repo);
    let (main, other) = (repo.branch("main").unwrap(), repo.branch("other").unwrap());
    main.set_as(&p("best"), &Max(30), &msg("30")).unwrap();
    other.set_as(&p("best"), &Max(20), &msg("20")).unwrap();
    let ran = merges_during(|| {
        let out = main
            .merge(other.head().unwrap().unwrap(), &MergeOptions::default())
            .unwrap();
        assert!(matches!(out, MergeOutcome::Merged(_)), "{out:?}");
    });
    assert!(ran >= 1);
    assert_eq!(main.get_as::<Max>(&p("best")).unwrap(), Some(Max(30)));
    // The other way round gives the same value: the merge is the user's, not "ours wins".
    other
        .merge(main.head().unwrap().unwrap(), &MergeOptions::default())
        .unwrap();
    assert_eq!(other.get_as::<Max>(&p("best")).unwrap(), Some(Max(30)));
}

#[test]
fn favor_reaches_the_users_merge() {
    let repo = Repo::in_memory(HashKind::Sha1);
    seeded(&repo);
    let (main, other) = (repo.branch("main").unwrap(), repo.branch("other").unwrap());
    main.set_as(&p("best"), &Max(20), &msg("20")).unwrap();
    other.set_as(&p("best"), &Max(30), &msg("30")).unwrap();
    let opts = MergeOptions {
        favor: Some(Favor::Ours),
        ..MergeOptions::default()
    };
    main.merge(other.head().unwrap().unwrap(), &opts).unwrap();
    assert_eq!(main.get_as::<Max>(&p("best")).unwrap(), Some(Max(20)));
}

#[test]
fn a_transaction_on_a_moved_head_merges_with_the_users_type() {
    let repo = Repo::in_memory(HashKind::Sha1);
    seeded(&repo);
    let main = repo.branch("main").unwrap();
    let start = main.head().unwrap();
    // Another writer moves the branch first…
    main.set_as(&p("best"), &Max(40), &msg("40")).unwrap();
    // …then a transaction made against the old head commits 25: merged, 40 stays.
    let ran = merges_during(|| {
        main.transaction_at(start)
            .set_as(p("best"), &Max(25))
            .unwrap()
            .commit(&msg("25"))
            .unwrap();
    });
    assert_eq!(ran, 1);
    assert_eq!(main.get_as::<Max>(&p("best")).unwrap(), Some(Max(40)));
}

#[test]
fn revert_merges_with_the_users_type() {
    let repo = Repo::in_memory(HashKind::Sha1);
    seeded(&repo);
    let main = repo.branch("main").unwrap();
    main.set_as(&p("best"), &Max(50), &msg("50")).unwrap();
    let fifty = main.head().unwrap().unwrap();
    main.set_as(&p("best"), &Max(60), &msg("60")).unwrap();
    // Reverting "50" (10 → 50) on a head at 60 is a three-way merge of 50 (base), 60 (ours)
    // and 10 (theirs): the user's max keeps 60, so there is nothing to commit.
    let ran = merges_during(|| {
        let out = main.revert(fifty, &msg("revert 50")).unwrap();
        assert!(matches!(out, RevertOutcome::Unchanged(_)), "{out:?}");
    });
    assert_eq!(ran, 1);
    assert_eq!(main.get_as::<Max>(&p("best")).unwrap(), Some(Max(60)));
}

#[test]
fn pull_between_stores_on_disk_runs_the_users_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let origin = Repo::init(tmp.path().join("origin")).unwrap();
    seeded(&origin);
    let url = tmp.path().join("origin").display().to_string();
    let replica = client::clone(&url, &tmp.path().join("replica"), &mut CloneOptions::default()).unwrap();
    replica.register_contents::<Max>();
    assert_ne!(origin.replica_id(), replica.replica_id());
    origin
        .branch("main")
        .unwrap()
        .set_as(&p("best"), &Max(70), &msg("70"))
        .unwrap();
    let here = replica.branch("main").unwrap();
    here.set_as(&p("best"), &Max(35), &msg("35")).unwrap();
    client::fetch(&replica, "origin", &mut FetchOptions::default()).unwrap();
    let theirs = replica
        .refs()
        .resolve("refs/remotes/origin/main")
        .unwrap()
        .unwrap();
    let ran = merges_during(|| {
        here.merge(theirs, &MergeOptions::default()).unwrap();
    });
    assert_eq!(ran, 1);
    assert_eq!(here.get_as::<Max>(&p("best")).unwrap(), Some(Max(70)));
    let fsck = std::process::Command::new("git")
        .args(["--git-dir"])
        .arg(tmp.path().join("replica"))
        .args(["fsck", "--strict"])
        .output()
        .unwrap();
    assert!(fsck.status.success(), "{}", String::from_utf8_lossy(&fsck.stderr));
}

#[test]
fn a_bad_value_is_a_conflict_naming_the_type_not_a_crash() {
    let repo = Repo::in_memory(HashKind::Sha1);
    seeded(&repo);
    let (main, other) = (repo.branch("main").unwrap(), repo.branch("other").unwrap());
    main.set(&p("best"), "not a number", &msg("oops")).unwrap();
    other.set_as(&p("best"), &Max(20), &msg("20")).unwrap();
    let out = main
        .merge(other.head().unwrap().unwrap(), &MergeOptions::default())
        .unwrap();
    let MergeOutcome::Conflicts(conflicts) = out else {
        panic!("expected a conflict, got {out:?}")
    };
    assert_eq!(conflicts[0].path, "best");
    assert!(
        conflicts[0].reason.contains("max: ours cannot be read"),
        "{}",
        conflicts[0].reason
    );
    assert!(matches!(
        main.get_as::<Max>(&p("best")),
        Err(canopy::store::Error::InvalidValue { .. })
    ));
}

/// An operation-like type: equal changes on both sides count twice.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Visits(u64);

impl Contents for Visits {
    const DRIVER: &'static str = "visits";
    const EQUAL_CHANGES: EqualChanges = EqualChanges::Twice;

    fn encode(&self) -> Result<Vec<u8>, CodecError> {
        Ok(format!("{}\n", self.0).into_bytes())
    }

    fn decode(bytes: &[u8]) -> Result<Visits, CodecError> {
        let text = std::str::from_utf8(bytes).map_err(CodecError::new)?;
        text.trim().parse().map(Visits).map_err(CodecError::new)
    }

    fn merge(_: &MergeContext, base: Option<&Visits>, ours: &Visits, theirs: &Visits) -> MergeResult<Visits> {
        let b = base.map_or(0, |b| b.0);
        Ok(Visits(ours.0 + theirs.0 - b))
    }
}

#[test]
fn equal_changes_of_a_user_type_count_twice_when_it_says_so() {
    let repo = Repo::in_memory(HashKind::Sha1);
    repo.register_contents::<Visits>();
    let main = repo.branch("main").unwrap();
    main.set(&p(".gitattributes"), "pages/** merge=visits\n", &msg("bind"))
        .unwrap();
    main.set_as(&p("pages/home"), &Visits(10), &msg("10")).unwrap();
    let other = repo
        .create_branch("other", main.head().unwrap().unwrap())
        .unwrap();
    // Both branches count one visit: the same bytes, the same tree.
    main.set_as(&p("pages/home"), &Visits(11), &msg("visit here"))
        .unwrap();
    other
        .set_as(&p("pages/home"), &Visits(11), &msg("visit there"))
        .unwrap();
    main.merge(other.head().unwrap().unwrap(), &MergeOptions::default())
        .unwrap();
    assert_eq!(main.get_as::<Visits>(&p("pages/home")).unwrap(), Some(Visits(12)));
}

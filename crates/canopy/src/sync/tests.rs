//! Property tests: the protocol parsers never panic on arbitrary or damaged input, and a
//! damaged pack is always refused without leaving anything behind.

use proptest::prelude::*;

use super::ingest::{Limits, Quarantine};
use super::pktline::{Pkt, PktReader};
use super::{receive, upload};
use crate::object::{HashKind, ObjectKind};
use crate::store::CommitOptions;
use crate::{Path, Repo};

/// A small valid pack (a commit, its trees and blobs) and a repository to receive it in.
fn fixture() -> (tempfile::TempDir, Repo, Vec<u8>) {
    let src = Repo::in_memory(HashKind::Sha1);
    let b = src.branch("main").unwrap();
    b.set(
        &Path::parse("a/b").unwrap(),
        "hello\n",
        &CommitOptions::message("one"),
    )
    .unwrap();
    b.set(
        &Path::parse("a/c").unwrap(),
        "world\n",
        &CommitOptions::message("two"),
    )
    .unwrap();
    let head = b.head().unwrap().unwrap();
    let req = super::pack::Request {
        wants: vec![head],
        ..Default::default()
    };
    let plan = super::pack::plan(src.objects(), None, &req).unwrap();
    let mut pack = Vec::new();
    super::pack::write_pack(src.objects(), &plan.objects, &mut pack, &mut |_| {}).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::init(tmp.path().join("r")).unwrap();
    (tmp, repo, pack)
}

#[test]
fn the_fixture_pack_is_accepted() {
    let (_tmp, repo, pack) = fixture();
    let q = Quarantine::receive(&repo, &mut &pack[..], Limits::default(), false).unwrap();
    assert_eq!(q.len(), 8);
    q.install(&repo).unwrap();
    assert_eq!(
        std::fs::read_dir(repo.layout().unwrap().git_dir.join("objects/pack"))
            .unwrap()
            .count(),
        2
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn damaged_packs_never_panic_and_leave_nothing(at in 0usize..400, byte in any::<u8>(), cut in 0usize..400) {
        let (_tmp, repo, mut pack) = fixture();
        let i = at % pack.len();
        let flipped = pack[i] != byte;
        pack[i] = byte;
        pack.truncate(pack.len() - cut % 8);
        let result = Quarantine::receive(&repo, &mut &pack[..], Limits::default(), true);
        if flipped || cut % 8 != 0 {
            prop_assert!(result.is_err());
        }
        drop(result);
        let objects = repo.layout().unwrap().git_dir.join("objects");
        let left: Vec<_> = std::fs::read_dir(&objects).unwrap().flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("tmp")).collect();
        prop_assert!(left.is_empty());
    }

    #[test]
    fn pkt_reader_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut r = PktReader::new(&data[..]);
        for _ in 0..100 {
            match r.read() {
                Ok(Some(Pkt::Data(_))) | Ok(Some(_)) => {}
                _ => break,
            }
        }
    }

    #[test]
    fn request_parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300), prefix in 0usize..4) {
        let repo = Repo::in_memory(HashKind::Sha1);
        let mut input = match prefix {
            0 => b"0014command=fetch\n0001".to_vec(),
            1 => b"0032want 0000000000000000000000000000000000000000\n".to_vec(),
            _ => Vec::new(),
        };
        input.extend_from_slice(&data);
        let _ = upload::parse_v2_request(&mut &input[..]);
        let _ = upload::parse_v0_request(&repo, &mut &input[..]);
        let mut pkts = PktReader::new(&input[..]);
        let _ = receive::parse_request(&repo, &mut pkts);
        let _ = receive::Report::decode(&input);
        let _ = super::check::check_object(HashKind::Sha1, ObjectKind::Tree, &data);
        let _ = super::check::check_object(HashKind::Sha1, ObjectKind::Commit, &data);
        let _ = super::check::check_object(HashKind::Sha1, ObjectKind::Tag, &data);
    }
}

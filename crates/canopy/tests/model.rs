//! Model-based test of the store: random sequences of set, remove, batch and read run against a
//! `BTreeMap` model and against the store, on both backends; every read must agree.

use std::collections::BTreeMap;

use canopy::store::{CommitOptions, Transaction};
use canopy::tree::EntryKind;
use canopy::{Branch, HashKind, Path, Repo};
use proptest::prelude::*;

type Model = BTreeMap<Vec<String>, Vec<u8>>;

#[derive(Debug, Clone)]
enum Op {
    Set(Vec<String>, Vec<u8>),
    Remove(Vec<String>),
    Batch(Vec<(Vec<String>, Option<Vec<u8>>)>),
    Read(Vec<String>),
}

fn path_strategy() -> impl Strategy<Value = Vec<String>> {
    // A small alphabet so that paths collide, nest, and replace each other often.
    prop::collection::vec(prop::sample::select(vec!["a", "b", "c.d", "e-f"]), 1..4)
        .prop_map(|v| v.into_iter().map(String::from).collect())
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let value = prop::collection::vec(any::<u8>(), 0..8);
    prop_oneof![
        4 => (path_strategy(), value.clone()).prop_map(|(p, v)| Op::Set(p, v)),
        2 => path_strategy().prop_map(Op::Remove),
        1 => prop::collection::vec((path_strategy(), prop::option::of(value)), 1..5).prop_map(Op::Batch),
        2 => path_strategy().prop_map(Op::Read),
    ]
}

fn model_set(m: &mut Model, p: &[String], v: Option<Vec<u8>>) {
    // Whatever was at or below the path goes; on a set, values on the way become directories.
    m.retain(|k, _| !k.starts_with(p));
    if let Some(v) = v {
        for i in 1..p.len() {
            m.remove(&p[..i]);
        }
        m.insert(p.to_vec(), v);
    }
}

fn path(p: &[String]) -> Path {
    Path::parse(&p.join("/")).unwrap()
}

fn check(branch: &Branch, model: &Model) {
    let view = branch.view().unwrap();
    let paths: Vec<Vec<String>> = view
        .paths(&Path::root())
        .unwrap()
        .into_iter()
        .map(|(p, kind)| {
            assert_eq!(kind, EntryKind::Value);
            p.steps()
                .map(|s| String::from_utf8(s.to_vec()).unwrap())
                .collect()
        })
        .collect();
    let expected: Vec<Vec<String>> = model.keys().cloned().collect();
    assert_eq!(paths, expected);
    for (k, v) in model {
        assert_eq!(view.get(&path(k)).unwrap().as_ref(), Some(v));
    }
}

fn run(repo: Repo, ops: Vec<Op>) {
    let branch = repo.branch("main").unwrap();
    let opts = CommitOptions::message("model");
    let mut model = Model::new();
    for op in ops {
        match op {
            Op::Set(p, v) => {
                branch.set(&path(&p), v.clone(), &opts).unwrap();
                model_set(&mut model, &p, Some(v));
            }
            Op::Remove(p) => {
                branch.remove(&path(&p), &opts).unwrap();
                model_set(&mut model, &p, None);
            }
            Op::Batch(changes) => {
                let mut tx: Transaction = branch.transaction();
                for (p, v) in changes {
                    tx = match &v {
                        Some(v) => tx.set(path(&p), v.clone()),
                        None => tx.remove(path(&p)),
                    };
                    model_set(&mut model, &p, v);
                }
                tx.commit(&opts).unwrap();
            }
            Op::Read(p) => {
                let got = branch.view().unwrap().find(&path(&p)).unwrap();
                let is_dir = model.keys().any(|k| k.len() > p.len() && k.starts_with(&p));
                match (model.get(&p), got) {
                    (Some(v), Some(_)) => assert_eq!(branch.get(&path(&p)).unwrap().as_ref(), Some(v)),
                    (None, Some(_)) => assert!(is_dir, "{p:?} present in store only"),
                    (None, None) => assert!(!is_dir),
                    (Some(_), None) => panic!("{p:?} missing from store"),
                }
            }
        }
        check(&branch, &model);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn memory_store_matches_model(ops in prop::collection::vec(op_strategy(), 1..30)) {
        run(Repo::in_memory(HashKind::Sha1), ops);
    }

    #[test]
    fn git_store_matches_model(ops in prop::collection::vec(op_strategy(), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::init(dir.path()).unwrap();
        run(repo, ops);
    }
}

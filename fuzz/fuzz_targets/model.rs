//! Model fuzzer: random transactions on two branches of an in-memory store, and merges between
//! them, against a `BTreeMap` model. Every read must agree with the model; a merge the model
//! predicts to be clean (each path changed on at most one side, or identically on both) must
//! give exactly the predicted tree.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use canopy::store::{CommitOptions, MergeOptions, MergeOutcome};
use canopy::tree::EntryKind;
use canopy::{Branch, HashKind, Path, Repo};
use libfuzzer_sys::fuzz_target;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

const NAMES: [&str; 4] = ["a", "b", "c.d", "e-f"];

fn key(bytes: &mut impl Iterator<Item = u8>) -> Vec<u8> {
    let b = bytes.next().unwrap_or(0);
    let depth = 1 + (b & 1) as usize;
    let mut steps = vec![NAMES[((b >> 1) & 3) as usize]];
    if depth == 2 {
        steps.push(NAMES[((b >> 3) & 3) as usize]);
    }
    steps.join("/").into_bytes()
}

fn set(m: &mut Model, k: &[u8], v: Option<Vec<u8>>) {
    let mut below = k.to_vec();
    below.push(b'/');
    m.retain(|p, _| p != k && !p.starts_with(&below));
    if let Some(v) = v {
        // Values on the way become directories.
        for (i, &c) in k.iter().enumerate() {
            if c == b'/' {
                m.remove(&k[..i]);
            }
        }
        m.insert(k.to_vec(), v);
    }
}

fn read(branch: &Branch) -> Model {
    let view = branch.view().unwrap();
    view.paths(&Path::root())
        .unwrap()
        .into_iter()
        .map(|(p, kind)| {
            assert_eq!(kind, EntryKind::Value);
            let v = view.get(&p).unwrap().unwrap();
            (p.to_bytes(), v)
        })
        .collect()
}

/// The clean three-way merge of the models, or `None` if some path changed differently on
/// both sides (then the drivers decide, and the model takes the store's answer).
fn merge3(base: &Model, ours: &Model, theirs: &Model) -> Option<Model> {
    // A name that is a value in one version and a directory in another: the tree merge decides
    // per name, not per path, and may report a value/directory conflict where a path-by-path
    // merge (and Git's ort) is clean, e.g. base `a/{a,b}`, ours drops `a/b`, theirs replaces
    // `a/` by the value `a`. The model does not predict those.
    let all = || base.keys().chain(ours.keys()).chain(theirs.keys());
    let dirs: BTreeSet<&[u8]> = all()
        .flat_map(|k| {
            k.iter()
                .enumerate()
                .filter(|(_, &c)| c == b'/')
                .map(|(i, _)| &k[..i])
        })
        .collect();
    if all().any(|k| dirs.contains(&k[..])) {
        return None;
    }
    let paths: BTreeSet<&Vec<u8>> = base.keys().chain(ours.keys()).chain(theirs.keys()).collect();
    let mut out = Model::new();
    for p in paths {
        let (b, o, t) = (base.get(p), ours.get(p), theirs.get(p));
        let v = if o == b {
            t
        } else if t == b || o == t {
            o
        } else {
            return None;
        };
        if let Some(v) = v {
            out.insert(p.clone(), v.clone());
        }
    }
    // A value and a directory at the same place is a conflict in the store.
    let keys: Vec<&Vec<u8>> = out.keys().collect();
    for k in &keys {
        let mut dir = (*k).clone();
        dir.push(b'/');
        if keys.iter().any(|o| o.starts_with(&dir)) {
            return None;
        }
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let repo = Repo::in_memory(HashKind::Sha1);
    let opts = CommitOptions::message("model");
    let main = repo.branch("main").unwrap();
    main.set(&Path::parse("a").unwrap(), b"0".to_vec(), &opts)
        .unwrap();
    let mut models = [read(&main), Model::new()];
    let mut side: Option<(Branch, Model)> = None; // the side branch and its fork-point model
    let mut bytes = data.iter().copied().take(256);
    while let Some(op) = bytes.next() {
        let on_side = op & 0x80 != 0 && side.is_some();
        let which = usize::from(on_side);
        let branch = if on_side {
            side.as_ref().unwrap().0.clone()
        } else {
            main.clone()
        };
        match op & 7 {
            0..=2 => {
                let k = key(&mut bytes);
                let v = vec![bytes.next().unwrap_or(0) % 4 + b'0'];
                branch
                    .set(&Path::parse_bytes(&k).unwrap(), v.clone(), &opts)
                    .unwrap();
                set(&mut models[which], &k, Some(v));
            }
            3 => {
                let k = key(&mut bytes);
                branch.remove(&Path::parse_bytes(&k).unwrap(), &opts).unwrap();
                set(&mut models[which], &k, None);
            }
            4 => {
                let n = bytes.next().unwrap_or(0) % 4;
                let mut tx = branch.transaction();
                for _ in 0..n {
                    let k = key(&mut bytes);
                    let path = Path::parse_bytes(&k).unwrap();
                    if bytes.next().unwrap_or(0) & 1 == 0 {
                        let v = vec![bytes.next().unwrap_or(0) % 4 + b'0'];
                        tx = tx.set(path, v.clone());
                        set(&mut models[which], &k, Some(v));
                    } else {
                        tx = tx.remove(path);
                        set(&mut models[which], &k, None);
                    }
                }
                let _ = tx.commit(&opts).unwrap();
            }
            5 if side.is_none() => {
                let head = main.head().unwrap().unwrap();
                let name = format!("side{}", bytes.next().unwrap_or(0));
                let Ok(b) = repo.create_branch(&name, head) else {
                    continue;
                };
                models[1] = models[0].clone();
                side = Some((b, models[0].clone()));
            }
            5 | 6 => {
                let Some((side_branch, base)) = side.take() else {
                    continue;
                };
                let from = side_branch.head().unwrap().unwrap();
                assert_eq!(read(&main), models[0], "main before the merge");
                assert_eq!(read(&side_branch), models[1], "side before the merge");
                let expected = merge3(&base, &models[0], &models[1]);
                let outcome = main.merge(from, &MergeOptions::default()).unwrap();
                match (outcome, expected) {
                    (MergeOutcome::Conflicts(c), Some(e)) => {
                        panic!("merge of base {base:?}, ours {:?}, theirs {:?} predicted clean ({e:?}) conflicted: {c:?}", models[0], models[1])
                    }
                    (MergeOutcome::Conflicts(_), None) => {
                        assert_eq!(read(&main), models[0], "a conflicted merge leaves the branch");
                    }
                    (_, Some(e)) => {
                        assert_eq!(read(&main), e, "merged tree");
                        models[0] = e;
                    }
                    (_, None) => models[0] = read(&main),
                }
            }
            _ => {
                assert_eq!(read(&branch), models[which]);
            }
        }
    }
    assert_eq!(read(&main), models[0]);
    if let Some((b, _)) = side {
        assert_eq!(read(&b), models[1]);
    }
});

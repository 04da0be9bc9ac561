//! `data::Map`: values merge key by key with the value type's own merge, changes to different
//! keys never meet, and a write to a map of many keys writes a handful of objects.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use canopy::backend::mem::{MemObjects, MemRefs};
use canopy::backend::{AtomicWrite, ContentAddressable, Result};
use canopy::contents::{CodecError, Contents};
use canopy::data::Map;
use canopy::merge::{EqualChanges, MergeContext, MergeResult};
use canopy::object::{ObjectKind, RawObject};
use canopy::store::{MergeOptions, MergeOutcome};
use canopy::{HashKind, ObjectId, Path, Repo};

/// An object store that counts the objects written to it.
struct Counting {
    inner: MemObjects,
    writes: Arc<AtomicUsize>,
}

impl ContentAddressable for Counting {
    fn hash_kind(&self) -> HashKind {
        self.inner.hash_kind()
    }
    fn read(&self, id: &ObjectId) -> Result<Option<RawObject>> {
        self.inner.read(id)
    }
    fn contains(&self, id: &ObjectId) -> Result<bool> {
        self.inner.contains(id)
    }
    fn write(&self, kind: ObjectKind, data: &[u8]) -> Result<ObjectId> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.write(kind, data)
    }
    fn ids_with_prefix(&self, prefix: &str) -> Result<Vec<ObjectId>> {
        self.inner.ids_with_prefix(prefix)
    }
}

/// Visits per page: increments on both sides all count.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Visits(u64);

impl Contents for Visits {
    const DRIVER: &'static str = "visits";
    const EQUAL_CHANGES: EqualChanges = EqualChanges::Twice;
    fn encode(&self) -> std::result::Result<Vec<u8>, CodecError> {
        Ok(format!("{}\n", self.0).into_bytes())
    }
    fn decode(bytes: &[u8]) -> std::result::Result<Visits, CodecError> {
        let text = std::str::from_utf8(bytes).map_err(CodecError::new)?;
        text.trim().parse().map(Visits).map_err(CodecError::new)
    }
    fn merge(_: &MergeContext, base: Option<&Visits>, o: &Visits, t: &Visits) -> MergeResult<Visits> {
        Ok(Visits(o.0 + t.0 - base.map_or(0, |b| b.0)))
    }
}

#[test]
fn per_key_merges_use_the_value_type_and_writes_stay_small() {
    let writes = Arc::new(AtomicUsize::new(0));
    let objects = Counting {
        inner: MemObjects::new(HashKind::Sha1),
        writes: writes.clone(),
    };
    let refs = MemRefs::new();
    refs.set_symbolic("HEAD", "refs/heads/main").unwrap();
    let repo = Repo::from_backends(Box::new(objects), Box::new(refs));
    let main = repo.branch("main").unwrap();
    let pages = Map::<String, Visits>::open(main.clone(), Path::parse("pages").unwrap());
    for i in 0..2000 {
        pages.insert(&format!("page-{i}"), &Visits(i)).unwrap();
    }
    assert_eq!(pages.len().unwrap(), 2000);
    let before = writes.load(Ordering::SeqCst);
    pages.insert(&"page-7".to_string(), &Visits(8)).unwrap();
    let per_write = writes.load(Ordering::SeqCst) - before;
    // value blob, key directory, two fan-out levels, the map's directory, the root, the commit.
    assert!(
        per_write <= 8,
        "{per_write} objects for one write to a 2,000-key map"
    );

    let other = repo
        .create_branch("other", main.head().unwrap().unwrap())
        .unwrap();
    let there = Map::<String, Visits>::open(other.clone(), Path::parse("pages").unwrap());
    let bump = |v: Option<Visits>| v.map(|Visits(n)| Visits(n + 1));
    pages.update(&"page-7".into(), bump).unwrap();
    there.update(&"page-7".into(), bump).unwrap();
    there.update(&"page-9".into(), bump).unwrap();
    pages.remove(&"page-1".into()).unwrap();
    let out = main
        .merge(other.head().unwrap().unwrap(), &MergeOptions::default())
        .unwrap();
    assert!(matches!(out, MergeOutcome::Merged(_)), "{out:?}");
    assert_eq!(pages.get(&"page-7".into()).unwrap(), Some(Visits(10)));
    assert_eq!(pages.get(&"page-9".into()).unwrap(), Some(Visits(10)));
    assert_eq!(pages.get(&"page-1".into()).unwrap(), None);
    assert_eq!(pages.len().unwrap(), 1999);
    let entries = pages.entries().unwrap();
    assert_eq!(entries.len(), 1999);
    assert!(entries.contains(&("page-7".to_string(), Visits(10))));
}

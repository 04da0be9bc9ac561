//! The backend of a replica persisted by its embedder (IndexedDB in a web page): objects and
//! references live in memory, as in [`canopy::backend::mem`], and every new object and every
//! reference change is also written to a journal that the embedder drains after each operation
//! and stores durably before telling its caller "done". Opening replays what was stored with
//! [`JournalObjects::load`] and [`JournalRefs::load`], which do not journal.
//!
//! IndexedDB is asynchronous and the store's backend traits are not, so the durable copy is
//! written behind the memory one; an operation is acknowledged only once the embedder has
//! committed its journal (see `js/canopy.mjs`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use canopy::backend::mem::{MemObjects, MemRefs};
use canopy::backend::{AtomicWrite, ContentAddressable, Expected, RefLog, RefTarget, ReflogEntry, Result};
use canopy::object::{HashKind, ObjectId, ObjectKind, RawObject};

/// Objects in memory, with the ids of those written since the journal was last drained.
/// Clones share the same objects and journal.
#[derive(Clone)]
pub struct JournalObjects {
    inner: Arc<MemObjects>,
    fresh: Arc<Mutex<Vec<ObjectId>>>,
}

impl JournalObjects {
    pub fn new(hash: HashKind) -> JournalObjects {
        JournalObjects {
            inner: Arc::new(MemObjects::new(hash)),
            fresh: Arc::default(),
        }
    }

    /// Adds an object read back from durable storage (not journalled). The id is recomputed from
    /// the bytes, so a damaged record cannot hide under another object's name.
    pub fn load(&self, kind: ObjectKind, data: &[u8]) -> Result<ObjectId> {
        self.inner.write(kind, data)
    }

    /// The objects written since the last call, oldest first.
    pub fn drain(&self) -> Result<Vec<(ObjectId, RawObject)>> {
        let ids = std::mem::take(&mut *self.fresh.lock().unwrap_or_else(|p| p.into_inner()));
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(obj) = self.inner.read(&id)? {
                out.push((id, obj));
            }
        }
        Ok(out)
    }
}

impl ContentAddressable for JournalObjects {
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
        let id = ObjectId::for_object(self.hash_kind(), kind, data);
        if !self.inner.contains(&id)? {
            self.inner.write(kind, data)?;
            self.fresh.lock().unwrap_or_else(|p| p.into_inner()).push(id);
        }
        Ok(id)
    }

    fn ids_with_prefix(&self, prefix: &str) -> Result<Vec<ObjectId>> {
        self.inner.ids_with_prefix(prefix)
    }
}

/// What a reference is now, for the journal: its id, the name it points at, or gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefState {
    Direct(ObjectId),
    Symbolic(String),
    Deleted,
}

/// References in memory, with the names changed since the journal was last drained. Clones
/// share the same references and journal.
#[derive(Clone)]
pub struct JournalRefs {
    inner: Arc<MemRefs>,
    changed: Arc<Mutex<BTreeMap<String, Option<ObjectId>>>>,
}

impl Default for JournalRefs {
    fn default() -> Self {
        JournalRefs::new()
    }
}

impl JournalRefs {
    pub fn new() -> JournalRefs {
        JournalRefs {
            inner: Arc::new(MemRefs::new()),
            changed: Arc::default(),
        }
    }

    /// Restores a reference read back from durable storage (not journalled).
    pub fn load(&self, name: &str, state: &RefState) -> Result<()> {
        match state {
            RefState::Direct(id) => {
                let log = RefLog {
                    who: canopy::object::Signature {
                        name: "canopy".into(),
                        email: "canopy@localhost".into(),
                        time: 0,
                        offset_minutes: 0,
                    },
                    message: "restored".into(),
                };
                self.inner.update(name, Expected::Any, Some(*id), &log)?;
            }
            RefState::Symbolic(target) => self.inner.set_symbolic(name, target)?,
            RefState::Deleted => {}
        }
        Ok(())
    }

    /// The references changed since the last call, each with its state now and its value before
    /// the first change (for watchers), sorted by name.
    pub fn drain(&self) -> Result<Vec<(String, Option<ObjectId>, RefState)>> {
        let changed = std::mem::take(&mut *self.changed.lock().unwrap_or_else(|p| p.into_inner()));
        let mut out = Vec::with_capacity(changed.len());
        for (name, before) in changed {
            let now = match self.inner.read_ref(&name)? {
                Some(RefTarget::Direct(id)) => RefState::Direct(id),
                Some(RefTarget::Symbolic(t)) => RefState::Symbolic(t),
                None => RefState::Deleted,
            };
            out.push((name, before, now));
        }
        Ok(out)
    }

    fn note(&self, name: &str, before: Option<ObjectId>) {
        self.changed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.to_string())
            .or_insert(before);
    }
}

impl AtomicWrite for JournalRefs {
    fn read_ref(&self, name: &str) -> Result<Option<RefTarget>> {
        self.inner.read_ref(name)
    }

    fn update(&self, name: &str, expected: Expected, new: Option<ObjectId>, log: &RefLog) -> Result<bool> {
        // The journal names the reference actually written (a symbolic one is followed).
        let (target, before) = self.inner.resolve_name(name)?;
        let done = self.inner.update(name, expected, new, log)?;
        if done {
            self.note(&target, before);
        }
        Ok(done)
    }

    fn set_symbolic(&self, name: &str, target: &str) -> Result<()> {
        let before = self.inner.resolve(name).ok().flatten();
        self.inner.set_symbolic(name, target)?;
        self.note(name, before);
        Ok(())
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, ObjectId)>> {
        self.inner.list(prefix)
    }

    fn reflog(&self, name: &str) -> Result<Vec<ReflogEntry>> {
        self.inner.reflog(name)
    }

    fn expire_reflog(&self, name: &str) -> Result<()> {
        self.inner.expire_reflog(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy::object::Signature;

    fn log() -> RefLog {
        RefLog {
            who: Signature {
                name: "t".into(),
                email: "t@t".into(),
                time: 0,
                offset_minutes: 0,
            },
            message: "t".into(),
        }
    }

    #[test]
    fn the_journal_holds_new_objects_once_and_not_loaded_ones() {
        let o = JournalObjects::new(HashKind::Sha1);
        let loaded = o.load(ObjectKind::Blob, b"old").unwrap();
        let a = o.write(ObjectKind::Blob, b"a").unwrap();
        o.write(ObjectKind::Blob, b"a").unwrap();
        o.write(ObjectKind::Blob, b"old").unwrap();
        let drained = o.drain().unwrap();
        assert_eq!(drained.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![a]);
        assert_eq!(drained[0].1.data, b"a");
        assert!(o.drain().unwrap().is_empty());
        assert!(o.contains(&loaded).unwrap());
    }

    #[test]
    fn the_journal_names_each_changed_ref_once_with_its_first_value() {
        let r = JournalRefs::new();
        r.set_symbolic("HEAD", "refs/heads/main").unwrap();
        let x = ObjectId::for_object(HashKind::Sha1, ObjectKind::Blob, b"x");
        let y = ObjectId::for_object(HashKind::Sha1, ObjectKind::Blob, b"y");
        r.update("HEAD", Expected::Absent, Some(x), &log()).unwrap();
        r.update("refs/heads/main", Expected::Value(x), Some(y), &log())
            .unwrap();
        // A lost compare-and-swap changes nothing and is not journalled.
        assert!(!r
            .update("refs/heads/other", Expected::Value(x), Some(y), &log())
            .unwrap());
        let d = r.drain().unwrap();
        assert_eq!(
            d,
            vec![
                ("HEAD".into(), None, RefState::Symbolic("refs/heads/main".into())),
                ("refs/heads/main".into(), None, RefState::Direct(y)),
            ]
        );
        r.update("refs/heads/main", Expected::Value(y), None, &log())
            .unwrap();
        assert_eq!(
            r.drain().unwrap(),
            vec![("refs/heads/main".into(), Some(y), RefState::Deleted)]
        );
    }
}

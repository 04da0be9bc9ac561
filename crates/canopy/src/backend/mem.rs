//! The in-memory backend: objects in a hash map, references in a sorted map, both behind locks.
//! Same guarantees as the on-disk backend, minus durability; the embedded default for tests.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use super::{
    check_ref_name, AtomicWrite, ContentAddressable, Error, Expected, RefLog, RefTarget, ReflogEntry, Result,
};
use crate::object::{HashKind, ObjectId, ObjectKind, RawObject};

/// Objects kept in memory.
#[derive(Default)]
pub struct MemObjects {
    hash: HashKind,
    objects: RwLock<HashMap<ObjectId, Arc<RawObject>>>,
}

impl MemObjects {
    pub fn new(hash: HashKind) -> MemObjects {
        MemObjects {
            hash,
            objects: RwLock::default(),
        }
    }
}

fn poisoned() -> Error {
    Error::Io {
        path: "<memory>".into(),
        source: std::io::Error::other("a thread panicked while holding the store's lock"),
    }
}

impl ContentAddressable for MemObjects {
    fn hash_kind(&self) -> HashKind {
        self.hash
    }

    fn read(&self, id: &ObjectId) -> Result<Option<RawObject>> {
        let map = self.objects.read().map_err(|_| poisoned())?;
        Ok(map.get(id).map(|o| (**o).clone()))
    }

    fn contains(&self, id: &ObjectId) -> Result<bool> {
        Ok(self.objects.read().map_err(|_| poisoned())?.contains_key(id))
    }

    fn write(&self, kind: ObjectKind, data: &[u8]) -> Result<ObjectId> {
        let id = ObjectId::for_object(self.hash, kind, data);
        let mut map = self.objects.write().map_err(|_| poisoned())?;
        map.entry(id)
            .or_insert_with(|| Arc::new(RawObject::new(kind, data.to_vec())));
        Ok(id)
    }

    fn ids_with_prefix(&self, prefix: &str) -> Result<Vec<ObjectId>> {
        let map = self.objects.read().map_err(|_| poisoned())?;
        Ok(map
            .keys()
            .filter(|id| id.to_hex().starts_with(prefix))
            .copied()
            .collect())
    }
}

/// References kept in memory, with reflogs.
#[derive(Default)]
pub struct MemRefs {
    state: Mutex<RefState>,
}

#[derive(Default)]
struct RefState {
    refs: BTreeMap<String, RefTarget>,
    logs: HashMap<String, Vec<ReflogEntry>>,
}

impl MemRefs {
    pub fn new() -> MemRefs {
        MemRefs::default()
    }
}

impl AtomicWrite for MemRefs {
    fn read_ref(&self, name: &str) -> Result<Option<RefTarget>> {
        check_ref_name(name)?;
        Ok(self.state.lock().map_err(|_| poisoned())?.refs.get(name).cloned())
    }

    fn update(&self, name: &str, expected: Expected, new: Option<ObjectId>, log: &RefLog) -> Result<bool> {
        check_ref_name(name)?;
        let (target, _) = self.resolve_name(name)?;
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        let current = match state.refs.get(&target) {
            Some(RefTarget::Direct(id)) => Some(*id),
            Some(RefTarget::Symbolic(_)) | None => None,
        };
        if !expected.matches(current) {
            return Ok(false);
        }
        match new {
            Some(id) => {
                state.refs.insert(target.clone(), RefTarget::Direct(id));
                let entry = ReflogEntry {
                    old: current,
                    new: Some(id),
                    who: log.who.clone(),
                    message: log.message.clone(),
                };
                state.logs.entry(target).or_default().push(entry);
            }
            None => {
                state.refs.remove(&target);
                state.logs.remove(&target);
            }
        }
        Ok(true)
    }

    fn set_symbolic(&self, name: &str, target: &str) -> Result<()> {
        check_ref_name(name)?;
        check_ref_name(target)?;
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        state
            .refs
            .insert(name.to_string(), RefTarget::Symbolic(target.to_string()));
        Ok(())
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, ObjectId)>> {
        let state = self.state.lock().map_err(|_| poisoned())?;
        Ok(state
            .refs
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter_map(|(k, v)| match v {
                RefTarget::Direct(id) => Some((k.clone(), *id)),
                RefTarget::Symbolic(_) => None,
            })
            .collect())
    }

    fn expire_reflog(&self, name: &str) -> Result<()> {
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        state.logs.remove(name);
        Ok(())
    }

    fn reflog(&self, name: &str) -> Result<Vec<ReflogEntry>> {
        let state = self.state.lock().map_err(|_| poisoned())?;
        Ok(state.logs.get(name).cloned().unwrap_or_default())
    }
}

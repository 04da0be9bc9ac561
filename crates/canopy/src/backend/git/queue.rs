//! Group commit for new objects.
//!
//! A new object does not go to disk when it is written: it waits in memory (readable at once by
//! this process) until a [`WriteQueue::flush`], which every path calls before a reference names
//! the object. The first flusher becomes the *leader*: it takes every object waiting at that
//! moment — its own and other threads' — writes them as one pack with one round of syncs, and
//! then releases every writer whose objects that batch held. Writers that call `flush` while a
//! batch is being written wait for it to end and then form the next batch together, so under
//! load one pack and one round of syncs serve many commits; a single writer pays one round.
//!
//! Batches are written one at a time, in order, so durability is a prefix of the write
//! sequence. [`WriteQueue::flush`] waits until everything queued before it is durable;
//! [`WriteQueue::flush_reachable`] only until the objects a given object reaches through
//! waiting objects are (the commit a reference is about to name, its new trees and blobs): a
//! writer whose objects are already on disk does not wait for other writers' objects. A failed
//! batch puts its objects back, to be retried by the next flush; its leader reports the error.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::backend::Result;
use crate::object::{ObjectId, ObjectKind, RawObject};

/// An object waiting for its batch.
#[derive(Clone)]
pub(super) struct Waiting {
    pub id: ObjectId,
    pub kind: ObjectKind,
    pub data: Arc<[u8]>,
    /// Position in the write sequence.
    seq: u64,
}

#[derive(Default)]
pub(super) struct WriteQueue {
    state: Mutex<State>,
    batch_done: Condvar,
    /// How many objects are in memory (waiting or being written): reads skip the lock at 0.
    held: AtomicUsize,
}

#[derive(Default)]
struct State {
    /// Every object not yet installed in a pack: waiting, or in the batch being written.
    objects: HashMap<ObjectId, Waiting>,
    /// Objects in no batch yet, in the order they came.
    unclaimed: Vec<ObjectId>,
    /// Bytes of content in `unclaimed`.
    unclaimed_bytes: usize,
    /// Sequence number of the next object written.
    next_seq: u64,
    /// Every object with a smaller sequence number is durable.
    durable_below: u64,
    /// Whether a leader is writing a batch.
    writing: bool,
}

/// What a flush did, for statistics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flushed {
    /// Nothing of this caller's was waiting.
    Nothing,
    /// Another thread's batch carried this caller's objects.
    Joined,
    /// This caller led a batch of this many objects.
    Led(usize),
}

impl WriteQueue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_empty(&self) -> bool {
        self.held.load(Ordering::Acquire) == 0
    }

    pub fn get(&self, id: &ObjectId) -> Option<RawObject> {
        if self.is_empty() {
            return None;
        }
        let st = self.lock();
        st.objects
            .get(id)
            .map(|w| RawObject::new(w.kind, w.data.to_vec()))
    }

    pub fn contains(&self, id: &ObjectId) -> bool {
        !self.is_empty() && self.lock().objects.contains_key(id)
    }

    /// Queues an object (once); returns the bytes now waiting for a batch.
    pub fn push(&self, id: ObjectId, kind: ObjectKind, data: &[u8]) -> usize {
        let mut st = self.lock();
        if st.objects.contains_key(&id) {
            return st.unclaimed_bytes;
        }
        let data: Arc<[u8]> = Arc::from(data);
        st.unclaimed_bytes += data.len();
        let seq = st.next_seq;
        st.objects.insert(id, Waiting { id, kind, data, seq });
        st.unclaimed.push(id);
        st.next_seq += 1;
        self.held.store(st.objects.len(), Ordering::Release);
        st.unclaimed_bytes
    }

    /// Ids in memory whose hex form starts with `prefix`.
    pub fn ids_with_prefix(&self, prefix: &str) -> Vec<ObjectId> {
        if self.is_empty() {
            return Vec::new();
        }
        let st = self.lock();
        st.objects
            .keys()
            .filter(|id| id.to_hex().starts_with(prefix))
            .copied()
            .collect()
    }

    /// Returns once every object queued before this call is durable, leading a batch with
    /// `write` (which must make the objects durable and readable from disk) when no batch is
    /// being written.
    pub fn flush(&self, write: impl Fn(&[Waiting]) -> Result<()>) -> Result<Flushed> {
        let st = self.lock();
        let target = st.next_seq;
        self.flush_to(st, target, write)
    }

    /// Returns once `id` and every waiting object it reaches (`links` lists an object's links;
    /// `None` when it cannot tell, and then everything queued so far counts) are durable.
    pub fn flush_reachable(
        &self,
        id: &ObjectId,
        links: impl Fn(ObjectKind, &[u8]) -> Option<Vec<ObjectId>>,
        write: impl Fn(&[Waiting]) -> Result<()>,
    ) -> Result<Flushed> {
        if self.is_empty() {
            return Ok(Flushed::Nothing);
        }
        let st = self.lock();
        // One past the newest waiting object reached from `id`.
        let mut target = 0;
        let mut stack = vec![*id];
        let mut seen = std::collections::HashSet::new();
        while let Some(next) = stack.pop() {
            let Some(w) = st.objects.get(&next) else { continue };
            if !seen.insert(next) {
                continue;
            }
            target = target.max(w.seq + 1);
            if w.kind == ObjectKind::Blob {
                continue;
            }
            match links(w.kind, &w.data) {
                Some(found) => stack.extend(found),
                None => {
                    target = st.next_seq;
                    break;
                }
            }
        }
        self.flush_to(st, target, write)
    }

    fn flush_to(
        &self,
        mut st: MutexGuard<'_, State>,
        target: u64,
        write: impl Fn(&[Waiting]) -> Result<()>,
    ) -> Result<Flushed> {
        if st.durable_below >= target {
            return Ok(Flushed::Nothing);
        }
        loop {
            if st.durable_below >= target {
                return Ok(Flushed::Joined);
            }
            if st.writing {
                st = self.batch_done.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // Lead: take everything waiting now.
            let ids = std::mem::take(&mut st.unclaimed);
            let bytes = std::mem::take(&mut st.unclaimed_bytes);
            let end = st.next_seq;
            let batch: Vec<Waiting> = ids.iter().filter_map(|id| st.objects.get(id).cloned()).collect();
            st.writing = true;
            drop(st);
            let result = write(&batch);
            let mut st = self.lock();
            st.writing = false;
            match result {
                Ok(()) => {
                    for id in &ids {
                        st.objects.remove(id);
                    }
                    st.durable_below = end;
                    self.held.store(st.objects.len(), Ordering::Release);
                    self.batch_done.notify_all();
                    return Ok(Flushed::Led(batch.len()));
                }
                Err(e) => {
                    // Back to the front of the line, for the next flush to retry.
                    let later = std::mem::take(&mut st.unclaimed);
                    st.unclaimed = ids;
                    st.unclaimed.extend(later);
                    st.unclaimed_bytes += bytes;
                    self.batch_done.notify_all();
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::HashKind;
    use std::sync::atomic::AtomicU32;

    fn blob(n: u32) -> (ObjectId, Vec<u8>) {
        let data = n.to_string().into_bytes();
        (
            ObjectId::for_object(HashKind::Sha1, ObjectKind::Blob, &data),
            data,
        )
    }

    #[test]
    fn a_flush_covers_what_came_before_it_and_failures_retry() {
        let q = WriteQueue::default();
        assert_eq!(q.flush(|_| unreachable!()).unwrap(), Flushed::Nothing);
        let (a, da) = blob(1);
        q.push(a, ObjectKind::Blob, &da);
        assert_eq!(q.get(&a).unwrap().data, da);
        let err = q.flush(|_| Err(crate::backend::Error::MissingObject { id: a }));
        assert!(err.is_err());
        assert!(q.contains(&a), "a failed batch keeps its objects");
        let (b, db) = blob(2);
        q.push(b, ObjectKind::Blob, &db);
        let seen = Mutex::new(Vec::new());
        let led = q
            .flush(|batch| {
                seen.lock().unwrap().extend(batch.iter().map(|w| w.id));
                Ok(())
            })
            .unwrap();
        assert_eq!(led, Flushed::Led(2));
        assert_eq!(*seen.lock().unwrap(), vec![a, b]);
        assert!(!q.contains(&a) && q.get(&b).is_none());
        assert_eq!(q.flush(|_| unreachable!()).unwrap(), Flushed::Nothing);
    }

    #[test]
    fn a_flush_for_one_object_waits_only_for_what_it_reaches() {
        let q = WriteQueue::default();
        let (a, da) = blob(1);
        let (b, db) = blob(2);
        q.push(a, ObjectKind::Blob, &da);
        q.push(b, ObjectKind::Blob, &db);
        // A "tree" here is a list of the objects it links to.
        let tree = b"links to a".to_vec();
        let t = ObjectId::for_object(HashKind::Sha1, ObjectKind::Tree, &tree);
        q.push(t, ObjectKind::Tree, &tree);
        let links = |_: ObjectKind, _: &[u8]| Some(vec![a]);
        let written = Mutex::new(Vec::new());
        let write = |batch: &[Waiting]| {
            written.lock().unwrap().push(batch.len());
            Ok(())
        };
        // Batches are prefixes: `t` was queued last, so all three go.
        assert_eq!(q.flush_reachable(&t, links, write).unwrap(), Flushed::Led(3));
        let (c, dc) = blob(3);
        q.push(c, ObjectKind::Blob, &dc);
        // `a` and `t` are durable already: nothing to wait for, though `c` waits.
        assert_eq!(q.flush_reachable(&t, links, write).unwrap(), Flushed::Nothing);
        assert!(q.contains(&c));
        assert_eq!(q.flush_reachable(&c, links, write).unwrap(), Flushed::Led(1));
        assert_eq!(*written.lock().unwrap(), vec![3, 1]);
    }

    #[test]
    fn concurrent_flushes_share_batches() {
        let q = Arc::new(WriteQueue::default());
        let batches = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (q, batches) = (q.clone(), batches.clone());
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let (id, data) = blob(t * 1000 + i);
                        q.push(id, ObjectKind::Blob, &data);
                        q.flush(|_| {
                            batches.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(2));
                            Ok(())
                        })
                        .unwrap();
                        assert!(!q.contains(&id), "durable when flush returns");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n = batches.load(Ordering::SeqCst);
        assert!(n < 400, "{n} batches for 400 flushes: none were shared");
    }
}

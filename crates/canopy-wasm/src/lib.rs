//! Canopy as WebAssembly: a replica that lives in a web page (persisted in IndexedDB) or in
//! Node (in memory), with the same store, merges and Git sync as the native library.
//!
//! This crate is the Rust half: [`Store`] over the journalled in-memory backend
//! ([`journal`]), sync over the page's `fetch()` by replay ([`replay`]), and merge functions
//! written in JavaScript registered as drivers. The JavaScript half (`js/canopy.mjs`) opens a
//! store from IndexedDB, persists each operation's journal before resolving its promise, runs
//! sync operations to the end and calls watchers. Structured results cross the boundary as
//! JSON text; values as bytes (`Uint8Array`).

pub mod journal;
pub mod replay;

use std::time::Duration;

use canopy::backend::{self, Expected, RefLog};
use canopy::merge::drivers::{Driver, MergeContext};
use canopy::merge::{Conflict, MergeResult};
use canopy::object::{ObjectKind, Signature};
use canopy::store::{CommitOptions, MergeOptions, MergeOutcome, Transaction};
use canopy::sync::client::{
    self as client, fetch_missing_with, fetch_with, ls_refs, FetchOptions, PushSpec, RefResult,
};
use canopy::sync::pack::Filter;
use canopy::tree::{Entry, EntryKind};
use canopy::{HashKind, ObjectId, Path, Repo};
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;

use journal::{JournalObjects, JournalRefs, RefState};
use replay::Replay;

/// Installs the page's clock as the store's (the standard library has none on this target).
#[wasm_bindgen(start)]
pub fn start() {
    canopy::platform::install(canopy::platform::Platform {
        now: || Duration::from_secs_f64(js_sys::Date::now().max(0.0) / 1000.0),
        process_id: (js_sys::Math::random() * f64::from(u32::MAX)) as u32,
    });
}

fn err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

fn path(p: &str) -> Result<Path, JsError> {
    Path::parse(p.trim_start_matches('/')).map_err(err)
}

fn hash_kind(name: Option<String>) -> Result<HashKind, JsError> {
    match name.as_deref() {
        None | Some("sha1") => Ok(HashKind::Sha1),
        Some("sha256") => Ok(HashKind::Sha256),
        Some(other) => Err(err(format!("unknown object format '{other}' (sha1 or sha256)"))),
    }
}

fn kind_name(k: EntryKind) -> &'static str {
    match k {
        EntryKind::Value => "value",
        EntryKind::Tree => "tree",
        EntryKind::Gitlink => "gitlink",
    }
}

fn signature_json(s: &Signature) -> Value {
    json!({"name": s.name, "email": s.email, "time": s.time, "offset": s.offset_minutes})
}

/// The object a store error says is missing (a value left out of a blobless clone).
fn missing_object(e: &canopy::store::Error) -> Option<ObjectId> {
    use canopy::store::Error as E;
    match e {
        E::Backend(backend::Error::MissingObject { id })
        | E::Tree(canopy::tree::Error::Backend(backend::Error::MissingObject { id })) => Some(*id),
        _ => None,
    }
}

/// A merge function written in JavaScript: called with `{path, base, ours, theirs}` (each a
/// `Uint8Array`, or `null` when absent); returns the merged value (`Uint8Array` or string),
/// `null` to leave the path absent, or `{conflict: reason}`; a throw is a conflict too.
struct JsDriver(js_sys::Function);

// SAFETY: `wasm32-unknown-unknown` without the `atomics` feature (how this crate is built) has
// exactly one thread, so the function is never shared or sent between threads. On other targets
// a `js_sys::Function` cannot be made at all (there is no JavaScript to make it).
unsafe impl Send for JsDriver {}
// SAFETY: as for `Send`.
unsafe impl Sync for JsDriver {}

fn bytes_or_null(v: Option<&[u8]>) -> JsValue {
    v.map_or(JsValue::NULL, |b| js_sys::Uint8Array::from(b).into())
}

impl Driver for JsDriver {
    fn merge(
        &self,
        ctx: &MergeContext,
        base: Option<&[u8]>,
        ours: Option<&[u8]>,
        theirs: Option<&[u8]>,
    ) -> MergeResult<Option<Vec<u8>>> {
        let arg = js_sys::Object::new();
        let set = |k: &str, v: JsValue| js_sys::Reflect::set(&arg, &JsValue::from_str(k), &v);
        let built = set("path", JsValue::from_str(&ctx.path))
            .and_then(|_| set("base", bytes_or_null(base)))
            .and_then(|_| set("ours", bytes_or_null(ours)))
            .and_then(|_| set("theirs", bytes_or_null(theirs)));
        if built.is_err() {
            return Err(Conflict::new("the merge function's argument could not be made"));
        }
        let out = self.0.call1(&JsValue::NULL, &arg).map_err(|e| {
            let why = js_sys::Reflect::get(&e, &JsValue::from_str("message"))
                .ok()
                .and_then(|m| m.as_string())
                .or_else(|| e.as_string())
                .unwrap_or_else(|| "the merge function threw".into());
            Conflict::new(why)
        })?;
        if out.is_null() || out.is_undefined() {
            return Ok(None);
        }
        if let Some(s) = out.as_string() {
            return Ok(Some(s.into_bytes()));
        }
        if out.is_instance_of::<js_sys::Uint8Array>() {
            return Ok(Some(js_sys::Uint8Array::new(&out).to_vec()));
        }
        if let Ok(reason) = js_sys::Reflect::get(&out, &JsValue::from_str("conflict")) {
            if !reason.is_undefined() {
                return Err(Conflict::new(
                    reason.as_string().unwrap_or_else(|| "conflict".into()),
                ));
            }
        }
        Err(Conflict::new(
            "the merge function returned neither bytes, a string, null nor {conflict}",
        ))
    }
}

/// A sync operation being replayed (see [`replay`]).
struct Pending {
    op: Value,
    replay: Replay,
}

/// A replica: a store in memory whose changes are journalled for the embedder to persist.
#[wasm_bindgen]
pub struct Store {
    repo: Repo,
    objects: JournalObjects,
    refs: JournalRefs,
    identity: Option<(String, String)>,
    offset_minutes: i32,
    pending: Option<Pending>,
    missing: Option<ObjectId>,
}

#[wasm_bindgen]
impl Store {
    /// An empty store (`HEAD` on `main`). `hash`: `"sha1"` (default) or `"sha256"`; `replica`:
    /// the id of a replica being reopened (a new one is made when absent).
    #[wasm_bindgen(constructor)]
    pub fn new(hash: Option<String>, replica: Option<String>) -> Result<Store, JsError> {
        let hash = hash_kind(hash)?;
        let objects = JournalObjects::new(hash);
        let refs = JournalRefs::new();
        let repo = match replica {
            Some(id) => Repo::from_backends_as(Box::new(objects.clone()), Box::new(refs.clone()), id),
            None => Repo::from_backends(Box::new(objects.clone()), Box::new(refs.clone())),
        };
        Ok(Store {
            repo,
            objects,
            refs,
            identity: None,
            offset_minutes: 0,
            pending: None,
            missing: None,
        })
    }

    /// This replica's id (keep it to reopen the same replica).
    #[wasm_bindgen(js_name = replicaId)]
    pub fn replica_id(&self) -> String {
        self.repo.replica_id().to_string()
    }

    /// `"sha1"` or `"sha256"`.
    #[wasm_bindgen(js_name = hashKind)]
    pub fn hash_kind(&self) -> String {
        self.repo.hash_kind().name().to_string()
    }

    /// Who commits (name, email) and the local time zone's offset in minutes east of UTC.
    #[wasm_bindgen(js_name = setIdentity)]
    pub fn set_identity(&mut self, name: String, email: String, offset_minutes: i32) -> Result<(), JsError> {
        if name.contains(['<', '>', '\n']) || email.contains(['<', '>', '\n']) {
            return Err(err("a name or email may not hold '<', '>' or a line break"));
        }
        self.identity = Some((name, email));
        self.offset_minutes = offset_minutes;
        Ok(())
    }

    // ---- persistence -------------------------------------------------------------------------

    /// Restores an object read back from storage (`kind`: blob, tree, commit or tag); returns its
    /// id, recomputed from the bytes.
    #[wasm_bindgen(js_name = loadObject)]
    pub fn load_object(&self, kind: &str, data: &[u8]) -> Result<String, JsError> {
        let kind = ObjectKind::from_bytes(kind.as_bytes())
            .ok_or_else(|| err(format!("unknown object kind '{kind}'")))?;
        Ok(self.objects.load(kind, data).map_err(err)?.to_hex())
    }

    /// Restores a reference: `value` is an id, or `ref: <name>` for a symbolic one.
    #[wasm_bindgen(js_name = loadRef)]
    pub fn load_ref(&self, name: &str, value: &str) -> Result<(), JsError> {
        backend::check_ref_name(name).map_err(err)?;
        let state = match value.strip_prefix("ref: ") {
            Some(target) => RefState::Symbolic(target.to_string()),
            None => RefState::Direct(
                ObjectId::from_hex(value.as_bytes())
                    .filter(|id| id.hash_kind() == self.repo.hash_kind())
                    .ok_or_else(|| err(format!("bad id '{value}' for reference {name}")))?,
            ),
        };
        self.refs.load(name, &state).map_err(err)
    }

    /// What changed since the last call, for the embedder to store: `{objects: [{id, kind,
    /// data}], refs: [{name, before, value}]}` (`value`: an id, `ref: <name>`, or `null` when
    /// deleted; `before`: the id before the first change, or `null`).
    #[wasm_bindgen(js_name = drainJournal)]
    pub fn drain_journal(&self) -> Result<JsValue, JsError> {
        let objects = js_sys::Array::new();
        for (id, obj) in self.objects.drain().map_err(err)? {
            let o = js_sys::Object::new();
            set(&o, "id", &JsValue::from_str(&id.to_hex()))?;
            set(&o, "kind", &JsValue::from_str(obj.kind.as_str()))?;
            set(&o, "data", &js_sys::Uint8Array::from(&obj.data[..]).into())?;
            objects.push(&o);
        }
        let refs = js_sys::Array::new();
        for (name, before, now) in self.refs.drain().map_err(err)? {
            let o = js_sys::Object::new();
            set(&o, "name", &JsValue::from_str(&name))?;
            set(
                &o,
                "before",
                &before.map_or(JsValue::NULL, |b| JsValue::from_str(&b.to_hex())),
            )?;
            let value = match now {
                RefState::Direct(id) => JsValue::from_str(&id.to_hex()),
                RefState::Symbolic(t) => JsValue::from_str(&format!("ref: {t}")),
                RefState::Deleted => JsValue::NULL,
            };
            set(&o, "value", &value)?;
            refs.push(&o);
        }
        let out = js_sys::Object::new();
        set(&out, "objects", &objects)?;
        set(&out, "refs", &refs)?;
        Ok(out.into())
    }

    /// The shallow boundary (commits whose parents were not fetched): JSON `[hex…]`.
    pub fn shallow(&self) -> Result<String, JsError> {
        let ids: Vec<String> = canopy::sync::shallow::read(&self.repo)
            .map_err(err)?
            .iter()
            .map(|id| id.to_hex())
            .collect();
        serde_json::to_string(&ids).map_err(err)
    }

    /// Restores the shallow boundary saved from [`Store::shallow`].
    #[wasm_bindgen(js_name = loadShallow)]
    pub fn load_shallow(&self, ids: &str) -> Result<(), JsError> {
        let ids: Vec<String> = serde_json::from_str(ids).map_err(err)?;
        let ids = ids
            .iter()
            .map(|h| {
                ObjectId::from_hex(h.as_bytes())
                    .filter(|id| id.hash_kind() == self.repo.hash_kind())
                    .ok_or_else(|| err(format!("bad shallow id '{h}'")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        canopy::sync::shallow::update(&self.repo, &ids, &[]).map_err(err)
    }

    /// The object the last failed call needed and did not have (a value a blobless clone left
    /// out), as hex; the embedder fetches it (`fetchMissing`) and calls again.
    #[wasm_bindgen(js_name = lastMissing)]
    pub fn last_missing(&self) -> Option<String> {
        self.missing.map(|id| id.to_hex())
    }

    // ---- reading -----------------------------------------------------------------------------

    /// The commit a revision names: a branch, `HEAD`, a tag, an id or an abbreviation, with
    /// `~n`/`^n`.
    pub fn resolve(&mut self, rev: &str) -> Result<String, JsError> {
        let r = self.repo.resolve(rev);
        Ok(self.track(r)?.to_hex())
    }

    /// The head of `branch`, or `undefined` for an unborn branch.
    pub fn head(&self, branch: &str) -> Result<Option<String>, JsError> {
        let b = self.repo.branch(branch).map_err(err)?;
        Ok(b.head().map_err(err)?.map(|id| id.to_hex()))
    }

    /// The value at `path` in revision `rev` (a branch name, id…), or `undefined`.
    pub fn get(&mut self, rev: &str, path_text: &str) -> Result<Option<Vec<u8>>, JsError> {
        let p = path(path_text)?;
        let r = self.view(rev).and_then(|v| match v {
            Some(v) => v.get(&p),
            None => Ok(None),
        });
        self.track(r)
    }

    /// The entries under `path` in `rev`: JSON `[{name, kind}]` (`kind`: value, tree, gitlink).
    pub fn list(&mut self, rev: &str, path_text: &str) -> Result<String, JsError> {
        let p = if path_text.trim_matches('/').is_empty() {
            Path::root()
        } else {
            path(path_text)?
        };
        let r = self.view(rev).and_then(|v| match v {
            Some(v) => v.list(&p),
            None => Ok(Vec::new()),
        });
        let entries = self.track(r)?;
        let out: Vec<Value> = entries
            .into_iter()
            .map(|(name, kind)| json!({"name": String::from_utf8_lossy(&name), "kind": kind_name(kind)}))
            .collect();
        Ok(Value::Array(out).to_string())
    }

    /// Every value path under `path` in `rev`: JSON `[path]`.
    pub fn paths(&mut self, rev: &str, path_text: &str) -> Result<String, JsError> {
        let p = if path_text.trim_matches('/').is_empty() {
            Path::root()
        } else {
            path(path_text)?
        };
        let r = self.view(rev).and_then(|v| match v {
            Some(v) => v.paths(&p),
            None => Ok(Vec::new()),
        });
        let out: Vec<String> = self
            .track(r)?
            .into_iter()
            .filter(|(_, k)| *k == EntryKind::Value)
            .map(|(p, _)| p.to_string())
            .collect();
        serde_json::to_string(&out).map_err(err)
    }

    /// Branches and their heads: JSON `[{name, head}]`.
    pub fn branches(&self) -> Result<String, JsError> {
        let out: Vec<Value> = self
            .repo
            .branches()
            .map_err(err)?
            .into_iter()
            .map(|(name, head)| json!({"name": name, "head": head.to_hex()}))
            .collect();
        Ok(Value::Array(out).to_string())
    }

    /// References under `prefix` (e.g. `refs/remotes/`): JSON `[{name, id}]`.
    pub fn refs(&self, prefix: &str) -> Result<String, JsError> {
        let out: Vec<Value> = self
            .repo
            .refs()
            .list(prefix)
            .map_err(err)?
            .into_iter()
            .map(|(name, id)| json!({"name": name, "id": id.to_hex()}))
            .collect();
        Ok(Value::Array(out).to_string())
    }

    /// History from `rev`, newest first, at most `limit` commits: JSON `[{id, parents, message,
    /// author, committer}]`.
    pub fn log(&mut self, rev: &str, limit: u32) -> Result<String, JsError> {
        let start = match self.repo.resolve(rev) {
            Ok(id) => id,
            Err(e) => return Err(err(e)),
        };
        let mut out = Vec::new();
        for info in self.repo.history(&[start]).take(limit as usize) {
            let info = self.track(info)?;
            let c = &info.commit;
            out.push(json!({
                "id": info.id.to_hex(),
                "parents": c.parents.iter().map(|p| p.to_hex()).collect::<Vec<_>>(),
                "message": String::from_utf8_lossy(&c.message),
                "author": signature_json(&c.author),
                "committer": signature_json(&c.committer),
            }));
        }
        Ok(Value::Array(out).to_string())
    }

    /// The changes from `from` to `to` (revisions; `from` empty: the empty tree): JSON `[{path,
    /// kind, old, new}]` with `kind` added, removed or changed and value ids (or `null`).
    pub fn diff(&mut self, from: &str, to: &str) -> Result<String, JsError> {
        let old = if from.is_empty() {
            None
        } else {
            Some(self.repo.resolve(from).map_err(err)?)
        };
        let new = self.repo.resolve(to).map_err(err)?;
        let r = self.repo.diff_commits(old, Some(new), &Path::root());
        let changes = self.track(r)?;
        let out: Vec<Value> = changes
            .into_iter()
            .map(|c| {
                json!({
                    "path": c.path.to_string(),
                    "kind": c.kind.as_str(),
                    "old": c.old.map(|s| s.id.to_hex()),
                    "new": c.new.map(|s| s.id.to_hex()),
                })
            })
            .collect();
        Ok(Value::Array(out).to_string())
    }

    /// A unified line diff of two values (git's `diff` of the two texts; `context` lines).
    #[wasm_bindgen(js_name = lineDiff)]
    pub fn line_diff(old: &[u8], new: &[u8], context: u32) -> String {
        canopy::store::unified_diff(old, new, context as usize)
    }

    // ---- writing -----------------------------------------------------------------------------

    /// Sets `path` on `branch` to `value` in one commit; returns the new head.
    pub fn set(
        &mut self,
        branch: &str,
        path_text: &str,
        value: &[u8],
        message: Option<String>,
    ) -> Result<String, JsError> {
        let p = path(path_text)?;
        let opts = self.commit_options(message.unwrap_or_else(|| format!("set {p}")));
        let r = self.repo.branch(branch).and_then(|b| b.set(&p, value, &opts));
        Ok(self.track(r)?.to_hex())
    }

    /// Removes `path` (a value or a whole directory) from `branch` in one commit.
    pub fn remove(
        &mut self,
        branch: &str,
        path_text: &str,
        message: Option<String>,
    ) -> Result<String, JsError> {
        let p = path(path_text)?;
        let opts = self.commit_options(message.unwrap_or_else(|| format!("remove {p}")));
        let r = self.repo.branch(branch).and_then(|b| b.remove(&p, &opts));
        Ok(self.track(r)?.to_hex())
    }

    /// Starts a transaction on `branch`: reads see the head as it is now; the commit merges
    /// with whatever was committed meanwhile.
    pub fn transaction(&self, branch: &str) -> Result<Tx, JsError> {
        let b = self.repo.branch(branch).map_err(err)?;
        Ok(Tx {
            tx: Some(b.transaction()),
        })
    }

    /// Commits a transaction; returns the new head (the old one when nothing changed).
    #[wasm_bindgen(js_name = commitTransaction)]
    pub fn commit_transaction(&mut self, tx: &mut Tx, message: Option<String>) -> Result<String, JsError> {
        let t = tx
            .tx
            .take()
            .ok_or_else(|| err("this transaction was already committed"))?;
        let opts = self.commit_options(message.unwrap_or_else(|| "transaction".into()));
        let r = t.commit(&opts);
        Ok(self.track(r)?.to_hex())
    }

    /// Creates branch `name` at revision `rev`.
    #[wasm_bindgen(js_name = createBranch)]
    pub fn create_branch(&self, name: &str, rev: &str) -> Result<(), JsError> {
        let id = self.repo.resolve(rev).map_err(err)?;
        self.repo.create_branch(name, id).map_err(err)?;
        Ok(())
    }

    /// Deletes branch `name`.
    #[wasm_bindgen(js_name = deleteBranch)]
    pub fn delete_branch(&self, name: &str) -> Result<(), JsError> {
        let b = self.repo.branch(name).map_err(err)?;
        let Some(head) = b.head().map_err(err)? else {
            return Err(err(format!("branch '{name}' does not exist")));
        };
        let log = self.reflog(format!("branch: deleted {name}"));
        if !self
            .repo
            .refs()
            .update(b.ref_name(), Expected::Value(head), None, &log)
            .map_err(err)?
        {
            return Err(err(format!("branch '{name}' moved meanwhile; not deleted")));
        }
        Ok(())
    }

    // ---- merging -----------------------------------------------------------------------------

    /// Registers a merge function written in JavaScript under `name`, for paths whose
    /// `.gitattributes` say `merge=<name>` (see [`JsDriver`] for its contract).
    #[wasm_bindgen(js_name = registerMerge)]
    pub fn register_merge(&self, name: &str, f: js_sys::Function) -> Result<(), JsError> {
        if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '=') {
            return Err(err(format!("'{name}' cannot name a merge driver")));
        }
        self.repo.register(name, JsDriver(f));
        Ok(())
    }

    /// Merges revision `from` into `branch`: JSON `{outcome, commit}` with `outcome` one of
    /// up-to-date, fast-forward, merged, or `{outcome: "conflicts", conflicts: [{path, reason}]}`
    /// (the branch unchanged).
    pub fn merge(&mut self, branch: &str, from: &str, message: Option<String>) -> Result<String, JsError> {
        let from = self.repo.resolve(from).map_err(err)?;
        let opts = MergeOptions {
            commit: self.commit_options(message.unwrap_or_default()),
            ..MergeOptions::default()
        };
        let r = self.repo.branch(branch).and_then(|b| b.merge(from, &opts));
        Ok(outcome_json(self.track(r)?).to_string())
    }

    /// Merges `from` into `branch` with the conflicting paths resolved by the caller:
    /// `resolutions` is a `Map` from path to the chosen value (`Uint8Array`, or `null` to remove
    /// it). Every conflicting path must be resolved. Returns the merge commit.
    #[wasm_bindgen(js_name = mergeResolved)]
    pub fn merge_resolved(
        &mut self,
        branch: &str,
        from: &str,
        resolutions: &js_sys::Map,
        message: Option<String>,
    ) -> Result<String, JsError> {
        let from = self.repo.resolve(from).map_err(err)?;
        let mut chosen: Vec<(Path, Option<Vec<u8>>)> = Vec::new();
        let mut failure = None;
        resolutions.for_each(&mut |value, key| {
            let Some(p) = key.as_string() else {
                failure = Some(err("resolution keys must be paths"));
                return;
            };
            let v = if value.is_null() || value.is_undefined() {
                None
            } else if let Some(s) = value.as_string() {
                Some(s.into_bytes())
            } else {
                Some(js_sys::Uint8Array::new(&value).to_vec())
            };
            match path(&p) {
                Ok(p) => chosen.push((p, v)),
                Err(e) => failure = Some(e),
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        let b = self.repo.branch(branch).map_err(err)?;
        let head = b
            .head()
            .map_err(err)?
            .ok_or_else(|| err(format!("branch '{branch}' has no commits")))?;
        let r = self.repo.merge_commits(head, from, None);
        let merged = self.track(r)?;
        for c in &merged.conflicts {
            if !chosen.iter().any(|(p, _)| p.to_string() == c.path) {
                return Err(err(format!("conflict at '{}' is not resolved", c.path)));
            }
        }
        let store = self.repo.objects();
        let mut tree = merged.tree;
        for (p, v) in chosen {
            let entry = match v {
                Some(bytes) => Some(Entry::value(store.write(ObjectKind::Blob, &bytes).map_err(err)?)),
                None => None,
            };
            tree = tree.with(store, &p, entry).map_err(err)?;
        }
        let tree_id = self.repo.write_tree(&tree).map_err(err)?;
        let opts = self.commit_options(message.unwrap_or_else(|| format!("Merge commit '{from}'")));
        let commit = self
            .repo
            .write_commit(tree_id, vec![head, from], &opts)
            .map_err(err)?;
        let log = self.reflog(format!("merge {from}: resolved by hand"));
        if !self
            .repo
            .refs()
            .update(b.ref_name(), Expected::Value(head), Some(commit), &log)
            .map_err(err)?
        {
            return Err(err(format!(
                "branch '{branch}' moved during the merge; merge again"
            )));
        }
        Ok(commit.to_hex())
    }

    /// The base, ours and theirs values of one path for a merge of `from` into `branch` (to show
    /// a conflict): `{base, ours, theirs}`, each a `Uint8Array` or `null`.
    #[wasm_bindgen(js_name = mergeSides)]
    pub fn merge_sides(&mut self, branch: &str, from: &str, path_text: &str) -> Result<JsValue, JsError> {
        let p = path(path_text)?;
        let ours = self.repo.resolve(branch).map_err(err)?;
        let theirs = self.repo.resolve(from).map_err(err)?;
        let bases = self.repo.merge_bases(ours, theirs).map_err(err)?;
        let value_at = |id: Option<ObjectId>| -> Result<JsValue, JsError> {
            let Some(id) = id else { return Ok(JsValue::NULL) };
            let v = self.repo.view_at(id).and_then(|v| v.get(&p)).map_err(err)?;
            Ok(bytes_or_null(v.as_deref()))
        };
        let o = js_sys::Object::new();
        set(&o, "base", &value_at(bases.first().copied())?)?;
        set(&o, "ours", &value_at(Some(ours))?)?;
        set(&o, "theirs", &value_at(Some(theirs))?)?;
        Ok(o.into())
    }

    // ---- sync --------------------------------------------------------------------------------

    /// Starts a sync operation against the Git smart-HTTP repository at `url`; `op` is JSON:
    /// `{"op": "fetch", "remote": "origin", "depth"?: n, "filter"?: "blob:none"}`,
    /// `{"op": "push", "remote": "origin", "branch": "main", "force"?: bool}`,
    /// `{"op": "missing", "ids": [hex…], "filter"?: …}`. Then call [`Store::sync_run`] until it
    /// returns `{done}`, fetching each `{need}` and handing the response to
    /// [`Store::sync_provide`].
    #[wasm_bindgen(js_name = syncStart)]
    pub fn sync_start(&mut self, url: &str, op: &str) -> Result<(), JsError> {
        let op: Value = serde_json::from_str(op).map_err(err)?;
        self.pending = Some(Pending {
            op,
            replay: Replay::new(url).map_err(err)?,
        });
        Ok(())
    }

    /// Runs the started operation as far as the responses known so far allow: `{need: {key,
    /// method, url, headers, body}}` for the next request, or `{done: result}`.
    #[wasm_bindgen(js_name = syncRun)]
    pub fn sync_run(&mut self) -> Result<JsValue, JsError> {
        let mut pending = self
            .pending
            .take()
            .ok_or_else(|| err("no sync operation was started"))?;
        pending.replay.restart();
        let result = run_op(&self.repo, &pending.op, &mut pending.replay);
        if pending.replay.is_waiting(&result) {
            let need = pending
                .replay
                .take_needed()
                .ok_or_else(|| err("internal error: no request"))?;
            let o = js_sys::Object::new();
            set(&o, "key", &JsValue::from_str(&need.key))?;
            set(&o, "method", &JsValue::from_str(need.method))?;
            set(&o, "url", &JsValue::from_str(&need.url))?;
            let headers = js_sys::Object::new();
            for (k, v) in &need.headers {
                set(&headers, k, &JsValue::from_str(v))?;
            }
            set(&o, "headers", &headers)?;
            if need.method == "POST" {
                set(&o, "body", &js_sys::Uint8Array::from(&need.body[..]).into())?;
            }
            let out = js_sys::Object::new();
            set(&out, "need", &o)?;
            self.pending = Some(pending);
            return Ok(out.into());
        }
        let done = result.map_err(err)?;
        let out = js_sys::Object::new();
        set(&out, "done", &JsValue::from_str(&done.to_string()))?;
        Ok(out.into())
    }

    /// Hands over the response to the request named `key`.
    #[wasm_bindgen(js_name = syncProvide)]
    pub fn sync_provide(
        &mut self,
        key: &str,
        status: u16,
        content_type: Option<String>,
        body: Vec<u8>,
    ) -> Result<(), JsError> {
        let pending = self
            .pending
            .as_mut()
            .ok_or_else(|| err("no sync operation was started"))?;
        pending.replay.provide(key, status, content_type, body);
        Ok(())
    }

    /// Abandons the started sync operation (nothing of it was written).
    #[wasm_bindgen(js_name = syncCancel)]
    pub fn sync_cancel(&mut self) {
        self.pending = None;
    }
}

/// An open transaction (see [`Store::transaction`]).
#[wasm_bindgen]
pub struct Tx {
    tx: Option<Transaction>,
}

#[wasm_bindgen]
impl Tx {
    /// Sets `path` to `value` when the transaction commits.
    pub fn set(&mut self, path_text: &str, value: &[u8]) -> Result<(), JsError> {
        let p = path(path_text)?;
        let t = self
            .tx
            .take()
            .ok_or_else(|| err("this transaction was already committed"))?;
        self.tx = Some(t.set(p, value));
        Ok(())
    }

    /// Removes `path` when the transaction commits.
    pub fn remove(&mut self, path_text: &str) -> Result<(), JsError> {
        let p = path(path_text)?;
        let t = self
            .tx
            .take()
            .ok_or_else(|| err("this transaction was already committed"))?;
        self.tx = Some(t.remove(p));
        Ok(())
    }
}

impl Store {
    fn view(&self, rev: &str) -> canopy::store::Result<Option<canopy::store::View>> {
        if let Ok(b) = self.repo.branch(rev) {
            if self.repo.refs().resolve(b.ref_name())?.is_some() {
                return b.view().map(Some);
            }
        }
        let id = self.repo.resolve(rev)?;
        self.repo.view_at(id).map(Some)
    }

    /// Notes the object a failure says is missing, for [`Store::last_missing`].
    fn track<T>(&mut self, r: canopy::store::Result<T>) -> Result<T, JsError> {
        self.missing = None;
        r.map_err(|e| {
            self.missing = missing_object(&e);
            err(e)
        })
    }

    fn signature(&self) -> Signature {
        let now = canopy::platform::since_epoch().as_secs() as i64;
        match &self.identity {
            Some((name, email)) => Signature {
                name: name.clone(),
                email: email.clone(),
                time: now,
                offset_minutes: self.offset_minutes,
            },
            None => Signature {
                time: now,
                offset_minutes: self.offset_minutes,
                ..self.repo.default_signature()
            },
        }
    }

    fn commit_options(&self, message: String) -> CommitOptions {
        let who = self.signature();
        CommitOptions {
            message,
            author: Some(who.clone()),
            committer: Some(who),
        }
    }

    fn reflog(&self, message: String) -> RefLog {
        RefLog {
            who: self.signature(),
            message,
        }
    }
}

fn set(o: &js_sys::Object, k: &str, v: &JsValue) -> Result<(), JsError> {
    js_sys::Reflect::set(o, &JsValue::from_str(k), v)
        .map(drop)
        .map_err(|_| err("could not build the result"))
}

fn outcome_json(o: MergeOutcome) -> Value {
    match o {
        MergeOutcome::UpToDate(id) => json!({"outcome": "up-to-date", "commit": id.to_hex()}),
        MergeOutcome::FastForward(id) => json!({"outcome": "fast-forward", "commit": id.to_hex()}),
        MergeOutcome::Merged(id) => json!({"outcome": "merged", "commit": id.to_hex()}),
        MergeOutcome::Conflicts(c) => json!({
            "outcome": "conflicts",
            "conflicts": c.iter().map(|c| json!({"path": c.path, "reason": c.reason})).collect::<Vec<_>>(),
        }),
    }
}

fn str_field<'a>(op: &'a Value, k: &str) -> Option<&'a str> {
    op.get(k).and_then(Value::as_str)
}

/// Runs one sync operation over `t` (see [`Store::sync_start`]); the result as JSON.
fn run_op(repo: &Repo, op: &Value, t: &mut Replay) -> canopy::sync::Result<Value> {
    use canopy::sync::Error as E;
    let bad = |m: &str| E::Protocol(format!("bad sync operation: {m}"));
    let remote = str_field(op, "remote").unwrap_or("origin");
    client::remote::check_name(remote).map_err(|_| bad("bad remote name"))?;
    let filter = str_field(op, "filter").map(Filter::parse).transpose()?;
    let depth = op.get("depth").and_then(Value::as_u64).map(|d| d as u32);
    match str_field(op, "op") {
        Some("fetch") => {
            let mut opts = FetchOptions {
                depth,
                filter,
                ..FetchOptions::default()
            };
            let outcome = fetch_with(repo, t, remote, &mut opts)?;
            let head = repo
                .refs()
                .read_ref(&format!("refs/remotes/{remote}/HEAD"))
                .ok()
                .flatten()
                .and_then(|r| match r {
                    backend::RefTarget::Symbolic(s) => Some(s),
                    backend::RefTarget::Direct(_) => None,
                });
            Ok(json!({
                "objects": outcome.objects,
                "head": head,
                "updated": outcome.updated.iter().map(|(n, old, new)| json!({
                    "name": n, "old": old.map(|o| o.to_hex()), "new": new.to_hex()
                })).collect::<Vec<_>>(),
            }))
        }
        Some("push") => {
            let branch = str_field(op, "branch").ok_or_else(|| bad("no branch"))?;
            let name = format!("refs/heads/{branch}");
            let spec = PushSpec {
                new: Some(
                    repo.refs()
                        .resolve(&name)?
                        .ok_or_else(|| bad(&format!("branch '{branch}' has no commits")))?,
                ),
                remote_ref: name,
                force: op.get("force").and_then(Value::as_bool).unwrap_or(false),
            };
            let outcome = client::push(repo, t, &[spec], &[], Some(remote), None)?;
            let refs: Vec<Value> = outcome
                .refs
                .iter()
                .map(|(name, r)| {
                    let error = match r {
                        RefResult::Ok { .. } | RefResult::UpToDate => None,
                        RefResult::RejectedLocally(why) | RefResult::Rejected(why) => Some(why.clone()),
                    };
                    json!({"name": name, "error": error})
                })
                .collect();
            Ok(json!({"ok": outcome.all_ok(), "objects": outcome.objects, "refs": refs}))
        }
        Some("missing") => {
            let ids: Vec<ObjectId> = op
                .get("ids")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("no ids"))?
                .iter()
                .filter_map(|v| v.as_str())
                .filter_map(|h| ObjectId::from_hex(h.as_bytes()))
                .collect();
            let got = fetch_missing_with(repo, t, &ids, filter)?;
            Ok(json!({"objects": got}))
        }
        Some("ls-refs") => {
            let info = ls_refs(t)?;
            Ok(json!({
                "head": info.head_target(),
                "refs": info.refs.iter().filter_map(|r| r.id.map(|id| json!({"name": r.name, "id": id.to_hex()}))).collect::<Vec<_>>(),
            }))
        }
        _ => Err(bad("unknown op (fetch, push, missing, ls-refs)")),
    }
}
